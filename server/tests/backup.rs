//! Backup and restore of the embedded database: a backup taken while writes go on holds a
//! consistent state (audit chain intact), a restore puts it in place, and a file that is not
//! a sound GridFlex database is refused without touching the current one.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use gridflex::db::audit::{self, ChainCheck, NewAuditEntry};
use gridflex::db::{Db, DbOptions};

fn gridflex(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gridflex"))
        .args(["--database-url", url])
        .args(args)
        .env("GRIDFLEX_LOG", "warn")
        .output()
        .expect("gridflex runs")
}

async fn audit_rows(db: &Db) -> i64 {
    match audit::verify(db).await.unwrap() {
        ChainCheck::Intact { rows } => rows,
        ChainCheck::Broken { id, reason } => panic!("chain broken at {id}: {reason}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_write_load_restores_with_its_audit_chain_intact() {
    let t = TestDb::sqlite().await;
    with_demo(&t).await;
    let dir = tempfile::tempdir().unwrap();
    let url = t.database_url();

    // Writers append audited changes while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let db = t.db.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let mut tx = db.begin().await.unwrap();
                audit::append(
                    &mut tx,
                    NewAuditEntry::new("load", "setting.change", "setting", n),
                )
                .await
                .unwrap();
                tx.commit().await.unwrap();
                n += 1;
            }
            n
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let copy = dir.path().join("copy.db");
    let out = gridflex(&url, &["backup", copy.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Backup written"));
    stop.store(true, Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert!(written > 0, "writes went on during the backup");

    // A second backup to the same file is refused: nothing is overwritten.
    let out = gridflex(&url, &["backup", copy.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    // Restored into a fresh place: the chain is intact and the data is there.
    let restored = dir.path().join("restored.db");
    let restored_url = format!("sqlite://{}", restored.display());
    let out = gridflex(&restored_url, &["restore", copy.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = Db::connect(&DbOptions::new(&restored_url)).await.unwrap();
    let rows = audit_rows(&db).await;
    let live_rows = audit_rows(&t.db).await;
    assert!(
        rows > 0 && rows <= live_rows,
        "{rows} of {live_rows} audit rows"
    );
    let users: i64 = scalar(&db, "SELECT COUNT(*) FROM users", &[]).await;
    assert_eq!(users, 5, "the demo users came back");
    db.close().await;

    // A file that is not a database is refused, and the current database stays as it was.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, "not a database at all").unwrap();
    let before = std::fs::read(&restored).unwrap();
    let out = gridflex(&restored_url, &["restore", junk.to_str().unwrap()]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("junk.db"), "the error names the file: {said}");
    assert_eq!(
        std::fs::read(&restored).unwrap(),
        before,
        "nothing was replaced"
    );
    t.cleanup().await;
}
