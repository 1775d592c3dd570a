//! Backup and restore of the embedded SQLite database.
//!
//! A backup is a consistent copy taken while the server runs (`VACUUM INTO`: one read
//! transaction, so writers carry on and the copy holds exactly the committed state at its
//! start). A restore checks the copy before it replaces anything: it must be an SQLite
//! database that passes `PRAGMA integrity_check` and whose audit chain is intact. PostgreSQL
//! has its own tools (`pg_dump` / `pg_restore`, see the README).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::{audit, Db};

/// The file behind an `sqlite://FILE` URL (`sqlite:FILE` too), without its query.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let file = rest.split('?').next().unwrap_or_default();
    (!file.is_empty() && file != ":memory:").then(|| PathBuf::from(file))
}

/// Writes a consistent copy of the running database to `to`, which must not exist yet.
/// Returns the copy's size in bytes.
pub async fn backup(db: &Db, to: &Path) -> anyhow::Result<u64> {
    let Db::Sqlite(pool) = db else {
        bail!("`gridflex backup` copies the embedded SQLite database; for PostgreSQL use pg_dump (see the README's Backup section)");
    };
    if to.exists() {
        bail!(
            "{} already exists; a backup never overwrites a file",
            to.display()
        );
    }
    let target = to
        .to_str()
        .context("the backup file's path must be valid UTF-8")?;
    sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(pool)
        .await
        .with_context(|| format!("cannot write the backup to {}", to.display()))?;
    Ok(std::fs::metadata(to)?.len())
}

/// What a checked backup holds.
#[derive(Debug)]
pub struct Checked {
    pub audit_rows: i64,
}

/// Opens `file` read-only and checks it is a whole GridFlex database.
pub async fn check(file: &Path) -> anyhow::Result<Checked> {
    if !file.is_file() {
        bail!("{} is not a file", file.display());
    }
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(file)
                .read_only(true),
        )
        .await
        .with_context(|| format!("{} cannot be opened as a database", file.display()))?;
    let db = Db::Sqlite(pool.clone());
    let outcome = async {
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&pool)
            .await
            .with_context(|| format!("{} is not an SQLite database", file.display()))?;
        if integrity != "ok" {
            bail!("{} is damaged: {integrity}", file.display());
        }
        match audit::verify(&db)
            .await
            .with_context(|| format!("{} is not a GridFlex database", file.display()))?
        {
            audit::ChainCheck::Intact { rows } => Ok(Checked { audit_rows: rows }),
            audit::ChainCheck::Broken { id, reason } => {
                bail!("the backup's audit chain is broken at row {id}: {reason}")
            }
        }
    }
    .await;
    db.close().await;
    outcome
}

/// Replaces the database at `database_url` with the checked backup `from`. The server must
/// be stopped. The old database is kept beside it as `FILE.before-restore`.
pub async fn restore(database_url: &str, from: &Path) -> anyhow::Result<Checked> {
    let Some(target) = sqlite_file(database_url) else {
        bail!("`gridflex restore` restores the embedded SQLite database; for PostgreSQL use pg_restore (see the README's Backup section)");
    };
    let checked = check(from).await?;
    let staged = target.with_extension("restoring");
    std::fs::copy(from, &staged)
        .with_context(|| format!("cannot copy the backup next to {}", target.display()))?;
    if target.exists() {
        let kept = PathBuf::from(format!("{}.before-restore", target.display()));
        std::fs::rename(&target, &kept)
            .with_context(|| format!("cannot move {} aside", target.display()))?;
    }
    // The old database's write-ahead log belongs to the old file, not to the restored one.
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", target.display()));
        if side.exists() {
            std::fs::remove_file(&side)
                .with_context(|| format!("cannot remove {}", side.display()))?;
        }
    }
    std::fs::rename(&staged, &target)
        .with_context(|| format!("cannot put the backup in place at {}", target.display()))?;
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_of_an_sqlite_url() {
        assert_eq!(
            sqlite_file("sqlite://data/gridflex.db?mode=rwc"),
            Some(PathBuf::from("data/gridflex.db"))
        );
        assert_eq!(sqlite_file("sqlite:x.db"), Some(PathBuf::from("x.db")));
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
        assert_eq!(sqlite_file("sqlite::memory:"), None);
    }
}
