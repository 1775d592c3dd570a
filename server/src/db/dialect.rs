//! Where SQLite and PostgreSQL differ, in one place: list binding, date arithmetic, scalar
//! functions, row locks and advisory locks. Stores write their SQL once and ask the
//! [`Dialect`] for the few fragments that differ; no other module matches on the backend.
//!
//! Lists are bound one way everywhere: as one parameter holding a JSON array ([`list`]),
//! read back by [`Dialect::in_list`] or [`Dialect::list_table`]. A list of any length is then
//! one statement text (prepared once) and one parameter (no backend's bind cap applies).
//! Upserts need nothing here: `INSERT … ON CONFLICT (…) DO UPDATE SET c = excluded.c` is the
//! same text on both.

use serde::Serialize;

use super::{Db, Tx};
use crate::error::DomainError;

/// The SQL dialect of the configured store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Db {
    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }
}

impl Tx {
    pub fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(_) => Dialect::Sqlite,
            Tx::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// The SQL type a bound list's elements are read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    Text,
    Int,
    Date,
}

/// A list bound as one parameter: its JSON array text, for [`Dialect::in_list`] and
/// [`Dialect::list_table`].
pub fn list<T: Serialize>(items: &[T]) -> Result<String, DomainError> {
    Ok(serde_json::to_string(items)?)
}

/// A statement whose fast form differs by backend beyond a fragment (a different shape of
/// query): both texts sit side by side in the store, [`Dialect::pick`] takes the right one.
#[derive(Clone, Copy, Debug)]
pub struct PerBackend<'a> {
    pub sqlite: &'a str,
    pub postgres: &'a str,
}

impl Dialect {
    /// The elements of the list bound as `$n` (see [`list`]) as a one-column subquery, for
    /// `x IN (…)`.
    pub fn in_list(self, n: usize, elem: Elem) -> String {
        format!("SELECT value FROM {}", self.list_table(n, elem, "j"))
    }

    /// The elements of the list bound as `$n` (see [`list`]) as a table `alias` with one
    /// column, `value`: to join with when the list should drive the query.
    pub fn list_table(self, n: usize, elem: Elem, alias: &str) -> String {
        match (self, elem) {
            // json_each hands numbers back as integers and strings (dates) as text.
            (Dialect::Sqlite, _) => format!("json_each(${n}) AS {alias}"),
            (Dialect::Postgres, Elem::Text) => {
                format!("json_array_elements_text(${n}::json) AS {alias}(value)")
            }
            (Dialect::Postgres, Elem::Int) => format!(
                "(SELECT CAST(value AS BIGINT) AS value FROM json_array_elements_text(${n}::json) AS e(value)) AS {alias}"
            ),
            (Dialect::Postgres, Elem::Date) => format!(
                "(SELECT CAST(value AS DATE) AS value FROM json_array_elements_text(${n}::json) AS e(value)) AS {alias}"
            ),
        }
    }

    /// The pairs of texts in the list of two-element arrays bound as `$n` (see [`list`]) as
    /// a two-column subquery, for `(a, b) IN (…)`.
    pub fn in_pairs(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!(
                "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(${n}) AS j"
            ),
            Dialect::Postgres => format!(
                "SELECT value ->> 0, value ->> 1 FROM json_array_elements(${n}::json) AS j(value)"
            ),
        }
    }

    /// Minutes from the timestamp `start` to the timestamp `end` (a float).
    pub fn minutes_between(self, start: &str, end: &str) -> String {
        match self {
            Dialect::Sqlite => format!("(julianday({end}) - julianday({start})) * 1440.0"),
            Dialect::Postgres => format!("EXTRACT(EPOCH FROM ({end} - {start})) / 60.0"),
        }
    }

    /// The smaller of two values.
    pub fn least(self, a: &str, b: &str) -> String {
        match self {
            Dialect::Sqlite => format!("MIN({a}, {b})"),
            Dialect::Postgres => format!("LEAST({a}, {b})"),
        }
    }

    /// The text values of `expr` in a group, joined by `separator` (an SQL string literal).
    pub fn string_agg(self, expr: &str, separator: &str) -> String {
        match self {
            Dialect::Sqlite => format!("group_concat({expr}, {separator})"),
            Dialect::Postgres => format!("string_agg({expr}, {separator})"),
        }
    }

    /// The UTC hour (`YYYY-MM-DDTHH`) of the timestamp column `column`, as text.
    pub fn utc_hour(self, column: &str) -> String {
        match self {
            Dialect::Postgres => {
                format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24')")
            }
            // Timestamps are stored as RFC 3339 text in UTC.
            Dialect::Sqlite => format!("substr({column}, 1, 13)"),
        }
    }

    /// The timestamp in the RFC 3339 text bound as `$n`, comparable with a timestamp column
    /// (SQLite keeps RFC 3339 text, which sorts as time; PostgreSQL casts).
    pub fn timestamp_text(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("${n}"),
            Dialect::Postgres => format!("CAST(${n} AS TIMESTAMPTZ)"),
        }
    }

    /// What follows a `SELECT` that claims rows for this transaction, so concurrent claimers
    /// skip them. SQLite has one writer at a time (`BEGIN IMMEDIATE`): nothing to add.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// Appends the `n`-th (from 1) placeholder of a bulk insert. SQLite looks up a numbered
    /// parameter's name by a linear scan, so `$n` binding is quadratic in the parameters of a
    /// statement; anonymous `?` parameters are not.
    pub fn push_bulk_placeholder(self, sql: &mut String, n: usize) {
        match self {
            Dialect::Sqlite => sql.push('?'),
            Dialect::Postgres => {
                sql.push('$');
                sql.push_str(&n.to_string());
            }
        }
    }

    /// This backend's text of a statement written per backend.
    pub fn pick<'a>(self, statement: &PerBackend<'a>) -> &'a str {
        match self {
            Dialect::Sqlite => statement.sqlite,
            Dialect::Postgres => statement.postgres,
        }
    }
}

/// One column of rows inserted by [`insert_columns`]: its values in row order, or one value
/// for every row.
#[derive(Clone, Copy, Debug)]
pub enum Column<'a> {
    Int(&'a [i64]),
    Float(&'a [f64]),
    Text(&'a [String]),
    OptText(&'a [Option<String>]),
    Time(&'a [chrono::DateTime<chrono::Utc>]),
    OptTime(&'a [Option<chrono::DateTime<chrono::Utc>>]),
    SameInt(i64),
    SameText(&'a str),
}

impl Column<'_> {
    /// How many values the column holds (`None` for one value for every row).
    fn len(&self) -> Option<usize> {
        match self {
            Column::Int(v) => Some(v.len()),
            Column::Float(v) => Some(v.len()),
            Column::Text(v) => Some(v.len()),
            Column::OptText(v) => Some(v.len()),
            Column::Time(v) => Some(v.len()),
            Column::OptTime(v) => Some(v.len()),
            Column::SameInt(_) | Column::SameText(_) => None,
        }
    }

    /// PostgreSQL's array type for a column of values, its scalar type for a single value.
    fn pg_type(&self) -> &'static str {
        match self {
            Column::Int(_) => "bigint[]",
            Column::Float(_) => "float8[]",
            Column::Text(_) | Column::OptText(_) => "text[]",
            Column::Time(_) | Column::OptTime(_) => "timestamptz[]",
            Column::SameInt(_) => "bigint",
            Column::SameText(_) => "text",
        }
    }
}

/// Binds a column's values `from..to` as one PostgreSQL array (or its single value).
fn bind_pg_column<'q>(
    q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    col: &Column<'q>,
    from: usize,
    to: usize,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    match *col {
        Column::Int(v) => q.bind(&v[from..to]),
        Column::Float(v) => q.bind(&v[from..to]),
        Column::Text(v) => q.bind(&v[from..to]),
        Column::OptText(v) => q.bind(&v[from..to]),
        Column::Time(v) => q.bind(&v[from..to]),
        Column::OptTime(v) => q.bind(&v[from..to]),
        Column::SameInt(v) => q.bind(v),
        Column::SameText(v) => q.bind(v),
    }
}

/// Binds row `r`'s value of a column to a SQLite statement.
fn bind_sqlite_value<'q>(
    q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    col: &Column<'q>,
    r: usize,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    match *col {
        Column::Int(v) => q.bind(v[r]),
        Column::Float(v) => q.bind(v[r]),
        Column::Text(v) => q.bind(v[r].as_str()),
        Column::OptText(v) => q.bind(v[r].as_deref()),
        Column::Time(v) => q.bind(v[r]),
        Column::OptTime(v) => q.bind(v[r]),
        Column::SameInt(v) => q.bind(v),
        Column::SameText(v) => q.bind(v),
    }
}

/// Updates `rows` rows given column by column, matched on the first column (the key), in
/// the caller's transaction: on PostgreSQL one `UPDATE … FROM UNNEST(typed arrays)` per
/// [`UNNEST_ROWS`] rows; on SQLite `UPDATE … FROM` a `VALUES` table, as many rows a
/// statement as the parameter cap allows. `then` is further `SET` assignments the same for
/// every row (binding nothing), such as `claimed_until = NULL`. Answers the rows updated.
pub async fn update_columns(
    tx: &mut Tx,
    table: &str,
    columns: &[(&str, Column<'_>)],
    rows: usize,
    then: &str,
) -> Result<u64, DomainError> {
    check_lengths(table, columns, rows)?;
    if rows == 0 || columns.len() < 2 {
        return Ok(0);
    }
    let key = columns[0].0;
    let sets = |prefix: &str| {
        let mut s: Vec<String> = columns[1..]
            .iter()
            .map(|(n, _)| format!("{n} = {prefix}{n}"))
            .collect();
        if !then.is_empty() {
            s.push(then.to_string());
        }
        s.join(", ")
    };
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    let mut affected = 0;
    match tx {
        Tx::Postgres(c) => {
            let arrays: Vec<String> = columns
                .iter()
                .enumerate()
                .map(|(i, (_, col))| match col {
                    Column::SameInt(_) | Column::SameText(_) => format!(
                        "array_fill(${}::{}, ARRAY[cardinality($1::{})])",
                        i + 1,
                        col.pg_type(),
                        columns[0].1.pg_type()
                    ),
                    _ => format!("${}::{}", i + 1, col.pg_type()),
                })
                .collect();
            let sql = format!(
                "UPDATE {table} AS t SET {} FROM UNNEST({}) AS u({}) WHERE t.{key} = u.{key}",
                sets("u."),
                arrays.join(", "),
                names.join(", ")
            );
            for from in (0..rows).step_by(UNNEST_ROWS) {
                let to = (from + UNNEST_ROWS).min(rows);
                let mut q = sqlx::query(&sql);
                for (_, col) in columns {
                    q = bind_pg_column(q, col, from, to);
                }
                affected += q.execute(&mut **c).await?.rows_affected();
            }
        }
        Tx::Sqlite(c) => {
            let per = (SQLITE_PARAMS / columns.len()).max(1);
            let one = format!("({})", vec!["?"; columns.len()].join(", "));
            for from in (0..rows).step_by(per) {
                let to = (from + per).min(rows);
                let sql = format!(
                    "WITH u({}) AS (VALUES {}) UPDATE {table} SET {} FROM u WHERE {table}.{key} = u.{key}",
                    names.join(", "),
                    vec![one.as_str(); to - from].join(", "),
                    sets("u.")
                );
                let mut q = sqlx::query(&sql);
                for r in from..to {
                    for (_, col) in columns {
                        q = bind_sqlite_value(q, col, r);
                    }
                }
                affected += q.execute(&mut **c).await?.rows_affected();
            }
        }
    }
    Ok(affected)
}

fn check_lengths(
    table: &str,
    columns: &[(&str, Column<'_>)],
    rows: usize,
) -> Result<(), DomainError> {
    for (name, c) in columns {
        let len = c.len().unwrap_or(rows);
        if len != rows {
            return Err(DomainError::Internal(format!(
                "bulk write to {table}: column {name} has {len} values for {rows} rows"
            )));
        }
    }
    Ok(())
}

/// Rows of one PostgreSQL `UNNEST` statement: large enough that a statement's round trip
/// does not count, small enough to keep one message a few megabytes.
const UNNEST_ROWS: usize = 50_000;

/// SQLite caps a statement's bind parameters at 32,766.
const SQLITE_PARAMS: usize = 32_000;

/// Inserts `rows` rows given column by column, in the caller's transaction: on PostgreSQL
/// one `INSERT … SELECT … FROM UNNEST(typed arrays)` per [`UNNEST_ROWS`] rows (a handful of
/// parameters, whatever the row count); on SQLite multi-row `VALUES` with anonymous
/// parameters bound straight from the slices, as many rows a statement as the parameter cap
/// allows (one statement text for every full chunk, prepared once). Bulk writers whose rows
/// are many and narrow (a plan's reserved devices) use it instead of [`insert_rows`](super::insert_rows).
pub async fn insert_columns(
    tx: &mut Tx,
    table: &str,
    columns: &[(&str, Column<'_>)],
    rows: usize,
) -> Result<(), DomainError> {
    check_lengths(table, columns, rows)?;
    if rows == 0 {
        return Ok(());
    }
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    match tx {
        Tx::Postgres(c) => {
            for from in (0..rows).step_by(UNNEST_ROWS) {
                let to = (from + UNNEST_ROWS).min(rows);
                let (mut select, mut arrays, mut n) = (Vec::new(), Vec::new(), 0);
                for (i, (_, col)) in columns.iter().enumerate() {
                    n += 1;
                    if col.len().is_none() {
                        select.push(format!("${n}::{}", col.pg_type()));
                        continue;
                    }
                    arrays.push(format!("${n}::{}", col.pg_type()));
                    select.push(format!("u.c{i}"));
                }
                let aliases: Vec<String> = columns
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, c))| c.len().is_some())
                    .map(|(i, _)| format!("c{i}"))
                    .collect();
                let sql = format!(
                    "INSERT INTO {table} ({}) SELECT {} FROM UNNEST({}) AS u({})",
                    names.join(", "),
                    select.join(", "),
                    arrays.join(", "),
                    aliases.join(", ")
                );
                let mut q = sqlx::query(&sql);
                for (_, col) in columns {
                    q = bind_pg_column(q, col, from, to);
                }
                q.execute(&mut **c).await?;
            }
        }
        Tx::Sqlite(c) => {
            let per = (SQLITE_PARAMS / columns.len()).max(1);
            let values = |n: usize| {
                let one = format!("({})", vec!["?"; columns.len()].join(", "));
                vec![one; n].join(", ")
            };
            let full = format!(
                "INSERT INTO {table} ({}) VALUES {}",
                names.join(", "),
                values(per.min(rows))
            );
            for from in (0..rows).step_by(per) {
                let to = (from + per).min(rows);
                let sql;
                let text = if to - from == per.min(rows) {
                    full.as_str()
                } else {
                    sql = format!(
                        "INSERT INTO {table} ({}) VALUES {}",
                        names.join(", "),
                        values(to - from)
                    );
                    sql.as_str()
                };
                let mut q = sqlx::query(text);
                for r in from..to {
                    for (_, col) in columns {
                        q = bind_sqlite_value(q, col, r);
                    }
                }
                q.execute(&mut **c).await?;
            }
        }
    }
    Ok(())
}

/// Holds, until the transaction ends, the lock named `name`: another transaction asking for
/// the same name waits. On PostgreSQL a transaction-scoped advisory lock on the name's hash;
/// SQLite transactions take the write lock when they begin (`BEGIN IMMEDIATE`), so they
/// already take turns.
pub async fn lock_for_transaction(tx: &mut Tx, name: &str) -> Result<(), DomainError> {
    if let Tx::Postgres(c) = tx {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(name)
            .execute(&mut **c)
            .await?;
    }
    Ok(())
}

/// [`lock_for_transaction`] with a numeric key (locks taken before names were used).
pub async fn lock_key_for_transaction(tx: &mut Tx, key: i64) -> Result<(), DomainError> {
    if let Tx::Postgres(c) = tx {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(key)
            .execute(&mut **c)
            .await?;
    }
    Ok(())
}

/// Reserves `n` new ids of `table` for rows the caller inserts with explicit ids (bulk
/// imports that must link rows before inserting them). SQLite has one writer at a time
/// (`BEGIN IMMEDIATE`), so the next ids are free; PostgreSQL draws them from the sequence.
pub async fn reserve_ids(tx: &mut Tx, table: &str, n: usize) -> Result<Vec<i64>, DomainError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    match tx {
        Tx::Sqlite(t) => {
            let sql = format!("SELECT COALESCE(MAX(id), 0) FROM {table}");
            let max: i64 = sqlx::query_scalar(&sql).fetch_one(&mut **t).await?;
            // AUTOINCREMENT never reuses an id, even one whose row was deleted.
            let seq: Option<i64> =
                sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = $1")
                    .bind(table)
                    .fetch_optional(&mut **t)
                    .await?;
            let start = max.max(seq.unwrap_or(0)) + 1;
            Ok((start..start + n as i64).collect())
        }
        Tx::Postgres(t) => {
            let sql = format!("SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, $1)");
            Ok(sqlx::query_scalar(&sql)
                .bind(n as i64)
                .fetch_all(&mut **t)
                .await?)
        }
    }
}

/// After rows were inserted with explicit ids: `table`'s id sequence continues after its
/// largest id (PostgreSQL; SQLite's AUTOINCREMENT follows explicit ids by itself).
pub async fn sync_id_sequence(tx: &mut Tx, table: &str) -> Result<(), DomainError> {
    if let Tx::Postgres(c) = tx {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
        );
        sqlx::query(&sql).execute(&mut **c).await?;
    }
    Ok(())
}

/// Sets this connection's page cache to `kib` KiB (SQLite; PostgreSQL's buffers are the
/// server's to size).
pub async fn set_page_cache(tx: &mut Tx, kib: i64) -> Result<(), DomainError> {
    if let Tx::Sqlite(c) = tx {
        sqlx::query(&format!("PRAGMA cache_size = -{kib}"))
            .execute(&mut **c)
            .await?;
    }
    Ok(())
}

/// Runs `work` while no other server on this database runs work under the same `name`.
///
/// On PostgreSQL a session advisory lock on a connection of its own: replicas started at
/// the same moment take turns (the first migrates and loads, the others then find the work
/// done), and a process that dies releases the lock with its connection. SQLite is one
/// machine's file served by one process: a lock within this process is enough.
pub async fn exclusively<T, F>(db: &Db, name: &str, work: F) -> anyhow::Result<T>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    match db {
        Db::Postgres(pool) => {
            let mut conn = pool.acquire().await?;
            sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
                .bind(name)
                .execute(&mut *conn)
                .await?;
            let out = work.await;
            let unlocked = sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
                .bind(name)
                .execute(&mut *conn)
                .await;
            if unlocked.is_err() {
                // Closing the session releases its locks.
                let _ = conn.close().await;
            }
            out
        }
        Db::Sqlite(_) => {
            static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
            let _held = LOCK.lock().await;
            work.await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_list_reads_as_one_column_named_value_on_both_backends() {
        assert_eq!(
            Dialect::Sqlite.in_list(2, Elem::Int),
            "SELECT value FROM json_each($2) AS j"
        );
        assert_eq!(
            Dialect::Postgres.in_list(1, Elem::Text),
            "SELECT value FROM json_array_elements_text($1::json) AS j(value)"
        );
        assert!(Dialect::Postgres
            .list_table(3, Elem::Int, "ids")
            .ends_with(") AS ids"));
        assert_eq!(list(&["a", "b"]).unwrap(), r#"["a","b"]"#);
    }
}
