//! The database handle: one code path over SQLite and PostgreSQL, migrations, error mapping;
//! where the backends differ (`dialect`); and the stores, one per area, each of one side
//! (a test checks which tables each names). Program side: `aggregator`, `device` (`devices`,
//! `customers`, `device_locations`), `enrollment`, `meter`, `participation`, `place`
//! (`program_network_places`), `program_network` (its copy of the network model), `published` (`published_enrollments`), `program` (`programs`, `program_rules`, `aggregators`), `score`,
//! `settlement`, `unavailability`. Grid side: `dispatch`, `event`, `forecast`, `network` (the
//! model and `grid_service_points`), `openadr` (the OpenADR VTN's clients, tokens and reports), `plan`, `registry`, `strategy`. Neither: `audit`
//! (`audit_log`), `holiday` (the utility's calendar), `settings`, `token` (`api_tokens`),
//! `user`, `value_map`, and `backup` (SQLite files). Migrations are in `migrations/{sqlite,postgres}`.

pub mod aggregator;
pub mod audit;
pub mod backup;
pub mod device;
pub mod dialect;
pub mod dispatch;
pub mod enrollment;
pub mod event;
pub mod forecast;
pub mod holiday;
pub mod meter;
pub mod network;
pub mod openadr;
pub mod openadr_subscription;
pub mod participation;
pub mod place;
pub mod plan;
pub mod program;
pub mod program_network;
pub mod published;
pub mod recount;
pub mod registry;
pub mod score;
pub mod settings;
pub mod settlement;
pub mod strategy;
pub mod token;
pub mod unavailability;
pub mod user;
pub mod value_map;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, PgPool, SqlitePool};

use crate::error::DomainError;

/// A network node as either side's store reads it (each from its own tables).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NodeRow {
    pub id: i64,
    pub kind: String,
    pub code: String,
    pub name: String,
}

/// A node with its current parent (none for substations).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NodeWithParent {
    pub id: i64,
    pub kind: String,
    pub code: String,
    pub name: String,
    pub parent_id: Option<i64>,
}

pub use dialect::reserve_ids;
pub use recount::Recount;

/// How long a SQLite writer waits for the write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The configured store. Queries are written once in portable SQL (`$1` placeholders) and
/// run on whichever pool this holds through [`with_db!`] / [`with_tx!`].
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same expression against whichever pool is configured: `$c` is bound to the
/// typed pool, so the body compiles once per backend with native types.
#[macro_export]
macro_rules! with_db {
    ($db:expr, |$c:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($c) => $body,
            $crate::db::Db::Postgres($c) => $body,
        }
    };
}

/// Like [`with_db!`] for an open transaction: `$c` is the transaction's connection.
#[macro_export]
macro_rules! with_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::db::Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

/// A write transaction on either backend.
pub enum Tx {
    Sqlite(SqliteTx),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// A SQLite write transaction with its process's turn at the database file.
///
/// SQLite has one writer at a time. Writers that meet a held write lock wait in SQLite's busy
/// handler, which sleeps 1, 2, 5, 10 … up to 100 ms between tries, so under load the lock sits
/// free while they sleep (a p99 of hundreds of milliseconds). The writers of one process take
/// turns on an async mutex per file instead, each starting the moment the last one ends; the
/// busy handler is left for writers in other processes.
pub struct SqliteTx {
    // Dropped first (fields drop in order): the transaction rolls back before the turn passes.
    tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for SqliteTx {
    type Target = sqlx::SqliteConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for SqliteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// Waits for this process's turn to write the pool's file. A writer that waits longer than
/// the busy timeout (a transaction left open by the same task, say) goes on without a turn and
/// meets SQLite's own lock and its timeout error, as before turns.
async fn sqlite_writer_turn(pool: &SqlitePool) -> Option<tokio::sync::OwnedMutexGuard<()>> {
    type Turns = HashMap<std::path::PathBuf, Arc<tokio::sync::Mutex<()>>>;
    static TURNS: std::sync::LazyLock<std::sync::Mutex<Turns>> =
        std::sync::LazyLock::new(Default::default);
    let file = pool.connect_options().get_filename().to_path_buf();
    let turn = TURNS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(file)
        .or_default()
        .clone();
    tokio::time::timeout(SQLITE_BUSY_TIMEOUT, turn.lock_owned())
        .await
        .ok()
}

impl Tx {
    pub async fn commit(self) -> Result<(), DomainError> {
        match self {
            Tx::Sqlite(t) => t.tx.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    /// Starts a savepoint: a part of the transaction that can be undone alone.
    pub async fn savepoint(&mut self, name: &str) -> Result<(), DomainError> {
        let sql = format!("SAVEPOINT {name}");
        with_tx!(self, |c| sqlx::query(&sql)
            .execute(c)
            .await?
            .rows_affected());
        Ok(())
    }

    pub async fn rollback_to(&mut self, name: &str) -> Result<(), DomainError> {
        let sql = format!("ROLLBACK TO SAVEPOINT {name}");
        with_tx!(self, |c| sqlx::query(&sql)
            .execute(c)
            .await?
            .rows_affected());
        self.release(name).await
    }

    pub async fn release(&mut self, name: &str) -> Result<(), DomainError> {
        let sql = format!("RELEASE SAVEPOINT {name}");
        with_tx!(self, |c| sqlx::query(&sql)
            .execute(c)
            .await?
            .rows_affected());
        Ok(())
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Tx::Postgres(_))
    }
}

/// The lock replicas take turns on while they migrate and do first-start work.
pub const STARTUP_LOCK: &str = "gridflex startup";

/// What applying the migrations left for the domain to do.
#[must_use = "a derived table may need filling: `startup::migrate` does it"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// The migration creating `interval_days` was applied just now: it must be filled from the
    /// stored readings (`programs::meter_days::rebuild`).
    pub meter_days_need_rebuild: bool,
}

/// Options that matter when opening the store.
#[derive(Clone, Debug)]
pub struct DbOptions {
    pub url: String,
    pub max_connections: u32,
    /// PostgreSQL only: run everything inside this schema (tests use one schema each).
    pub pg_schema: Option<String>,
}

impl DbOptions {
    pub fn new(url: impl Into<String>) -> Self {
        DbOptions {
            url: url.into(),
            max_connections: 8,
            pg_schema: None,
        }
    }
}

impl Db {
    /// Opens (and for SQLite creates) the database. Does not migrate.
    pub async fn connect(options: &DbOptions) -> anyhow::Result<Db> {
        let url = options.url.as_str();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut connect = PgConnectOptions::from_str(url)?;
            connect = connect.log_slow_statements(log::LevelFilter::Off, Duration::from_secs(1));
            if let Some(schema) = &options.pg_schema {
                connect = connect.options([("search_path", schema.as_str())]);
            }
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(connect)
                .await?;
            Ok(Db::Postgres(pool))
        } else if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .log_slow_statements(log::LevelFilter::Off, Duration::from_secs(1))
                .pragma("cache_size", "-16000")
                // Reads of large tables (settlement reads 100,000 service points' days) go
                // through the memory map instead of a system call per page.
                .pragma("mmap_size", "1073741824");
            // A local file needs no liveness ping before each use (a round trip per transaction).
            let pool = SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(options.max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(connect)
                .await?;
            Ok(Db::Sqlite(pool))
        } else {
            anyhow::bail!(
                "unsupported database URL (expected sqlite:… or postgres://…): {}",
                redact_url(url)
            )
        }
    }

    /// Runs `work` while no other server on this database runs work under the same `name`
    /// (see [`dialect::exclusively`]).
    pub async fn exclusively<T, F>(&self, name: &str, work: F) -> anyhow::Result<T>
    where
        F: std::future::Future<Output = anyhow::Result<T>>,
    {
        dialect::exclusively(self, name, work).await
    }

    /// Applies the embedded migrations and says which derived tables the domain must now fill
    /// (the schema has no SQL way to). `startup::migrate` is the entry point that does both;
    /// `db` itself calls no domain code.
    pub async fn apply_migrations(&self) -> anyhow::Result<Migrated> {
        // Readings stored before `interval_days` existed are copied into it once, when the
        // migration that creates it is applied.
        const INTERVAL_DAYS: i64 = 7;
        let had_days = self.migration_applied(INTERVAL_DAYS).await;
        match self {
            Db::Sqlite(pool) => sqlx::migrate!("../migrations/sqlite").run(pool).await?,
            Db::Postgres(pool) => sqlx::migrate!("../migrations/postgres").run(pool).await?,
        }
        Ok(Migrated {
            meter_days_need_rebuild: !had_days,
        })
    }

    /// Whether migration `version` was applied (false on a database with none).
    async fn migration_applied(&self, version: i64) -> bool {
        let applied: Result<Option<i64>, sqlx::Error> = with_db!(self, |pool| {
            sqlx::query_scalar(
                "SELECT version FROM _sqlx_migrations WHERE version = $1 AND success",
            )
            .bind(version)
            .fetch_optional(pool)
            .await
        });
        matches!(applied, Ok(Some(_)))
    }

    /// Whether every embedded migration has been applied (for `/ready`).
    pub async fn migrations_applied(&self) -> Result<bool, DomainError> {
        let expected = match self {
            Db::Sqlite(_) => sqlx::migrate!("../migrations/sqlite").iter().count(),
            Db::Postgres(_) => sqlx::migrate!("../migrations/postgres").iter().count(),
        } as i64;
        let applied: i64 = with_db!(self, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM _sqlx_migrations WHERE success"
        )
        .fetch_one(pool)
        .await?);
        Ok(applied >= expected)
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`, so two writers queue on
    /// the busy timeout instead of failing when a read lock cannot be upgraded.
    pub async fn begin(&self) -> Result<Tx, DomainError> {
        Ok(match self {
            Db::Sqlite(pool) => {
                // The turn first, then a connection: a writer waiting for its turn holds no
                // connection the readers could use.
                let turn = sqlite_writer_turn(pool).await;
                Tx::Sqlite(SqliteTx {
                    tx: pool.begin_with("BEGIN IMMEDIATE").await?,
                    _turn: turn,
                })
            }
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    pub async fn ping(&self) -> Result<(), DomainError> {
        let _: i32 = with_db!(self, |pool| sqlx::query_scalar("SELECT 1")
            .fetch_one(pool)
            .await?);
        Ok(())
    }

    pub async fn close(&self) {
        with_db!(self, |pool| pool.close().await)
    }
}

/// Hides the password part of a connection URL before it is shown anywhere.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// `LIKE`-free prefix search: the half-open range [prefix, prefix⁺) uses a plain b-tree
/// index on both backends.
pub fn prefix_upper_bound(prefix: &str) -> String {
    let mut s = prefix.to_string();
    s.push('\u{10FFFF}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_database_url_is_never_shown() {
        assert_eq!(
            redact_url("postgres://gf:s3cret@db:5432/gridflex"),
            "postgres://gf:***@db:5432/gridflex"
        );
        assert_eq!(redact_url("sqlite:gridflex.db"), "sqlite:gridflex.db");
    }
}

/// A bind value for queries whose shape is built at run time (filters).
#[derive(Debug, Clone)]
pub enum Arg {
    Int(i64),
    Text(String),
    Date(chrono::NaiveDate),
    Float(f64),
    Bool(bool),
    Time(chrono::DateTime<chrono::Utc>),
    OptInt(Option<i64>),
    OptText(Option<String>),
    OptDate(Option<chrono::NaiveDate>),
    OptTime(Option<chrono::DateTime<chrono::Utc>>),
    Bytes(Vec<u8>),
}

/// `Arg::from(value)` for the plain types, so a list of binds reads like `.bind(..)` calls.
macro_rules! arg_from {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {
        $(impl From<$t> for Arg {
            fn from($v: $t) -> Arg {
                $e
            }
        })*
    };
}

arg_from! {
    i64 => |v| Arg::Int(v),
    i32 => |v| Arg::Int(v.into()),
    f64 => |v| Arg::Float(v),
    bool => |v| Arg::Bool(v),
    String => |v| Arg::Text(v),
    &str => |v| Arg::Text(v.to_string()),
    &String => |v| Arg::Text(v.clone()),
    chrono::NaiveDate => |v| Arg::Date(v),
    chrono::DateTime<chrono::Utc> => |v| Arg::Time(v),
    Option<i64> => |v| Arg::OptInt(v),
    Option<String> => |v| Arg::OptText(v),
    Option<chrono::DateTime<chrono::Utc>> => |v| Arg::OptTime(v),
}

/// Binds every [`Arg`] in order to a query built with `sqlx::query*`.
#[macro_export]
macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                $crate::db::Arg::Int(v) => q.bind(*v),
                $crate::db::Arg::Text(v) => q.bind(v.as_str()),
                $crate::db::Arg::Date(v) => q.bind(*v),
                $crate::db::Arg::Float(v) => q.bind(*v),
                $crate::db::Arg::Bool(v) => q.bind(*v),
                $crate::db::Arg::Time(v) => q.bind(*v),
                $crate::db::Arg::OptInt(v) => q.bind(*v),
                $crate::db::Arg::OptText(v) => q.bind(v.as_deref()),
                $crate::db::Arg::OptDate(v) => q.bind(*v),
                $crate::db::Arg::OptTime(v) => q.bind(*v),
                $crate::db::Arg::Bytes(v) => q.bind(v.as_slice()),
            };
        }
        q
    }};
}

/// Collects `WHERE` clauses and their binds, numbering placeholders as it goes.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    clauses: Vec<String>,
    pub args: Vec<Arg>,
}

impl Filter {
    /// Adds a clause; each `?` in it becomes the next `$n` placeholder, bound to the next arg.
    pub fn add(&mut self, clause: &str, args: impl IntoIterator<Item = Arg>) {
        let mut out = String::with_capacity(clause.len() + 8);
        let mut args = args.into_iter();
        for ch in clause.chars() {
            if ch == '?' {
                self.args
                    .push(args.next().expect("one arg per placeholder"));
                out.push_str(&format!("${}", self.args.len()));
            } else {
                out.push(ch);
            }
        }
        self.clauses.push(out);
    }

    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

/// Inserts rows in multi-row statements (the same SQL for every full batch, so it is
/// prepared once). Used by bulk loaders; ids are supplied by the caller.
const ROWS_PARAMS_PER_STATEMENT: usize = 30_000;

pub async fn insert_rows(
    tx: &mut Tx,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Arg>],
) -> Result<(), DomainError> {
    insert_rows_then(tx, table, columns, rows, "").await
}

/// [`insert_rows`] with a clause after the values, such as `ON CONFLICT … DO UPDATE …`
/// (the same text on both backends).
pub async fn insert_rows_then(
    tx: &mut Tx,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Arg>],
    then: &str,
) -> Result<(), DomainError> {
    insert_rows_counted(tx, table, columns, rows, then)
        .await
        .map(|_| ())
}

/// [`insert_rows_then`] answering how many rows the statements inserted or updated (with
/// `ON CONFLICT … DO NOTHING`: how many were new).
pub async fn insert_rows_counted(
    tx: &mut Tx,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Arg>],
    then: &str,
) -> Result<u64, DomainError> {
    let mut affected = 0;
    // Both backends cap bind parameters (SQLite 32766, PostgreSQL 65535).
    let per_batch = (ROWS_PARAMS_PER_STATEMENT / columns.len()).max(1);
    let dialect = tx.dialect();
    for chunk in rows.chunks(per_batch) {
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut n = 0;
        for (i, row) in chunk.iter().enumerate() {
            debug_assert_eq!(row.len(), columns.len());
            sql.push_str(if i == 0 { "(" } else { ", (" });
            for j in 0..row.len() {
                n += 1;
                if j > 0 {
                    sql.push_str(", ");
                }
                dialect.push_bulk_placeholder(&mut sql, n);
            }
            sql.push(')');
        }
        if !then.is_empty() {
            sql.push(' ');
            sql.push_str(then);
        }
        affected += with_tx!(tx, |c| bind_args!(
            sqlx::query(&sql),
            chunk.iter().flatten()
        )
        .execute(c)
        .await?
        .rows_affected());
    }
    Ok(affected)
}

/// Keyset paging: the query fetched one row more than `limit`; if it came, drop it and
/// return the id of the last row shown as the next page's cursor.
pub fn next_cursor<T>(rows: &mut Vec<T>, limit: usize, id_of: impl Fn(&T) -> i64) -> Option<i64> {
    if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(id_of)
    } else {
        None
    }
}

/// Column lists shared by the bulk loaders (demo, enrollment requests).
pub const CUSTOMER_COLUMNS: [&str; 8] = [
    "id",
    "person_id",
    "account_id",
    "name",
    "name_key",
    "phone",
    "email",
    "created_at",
];
pub const LOCATION_COLUMNS: [&str; 11] = [
    "id",
    "service_point_id",
    "premise_id",
    "street",
    "city",
    "postal_code",
    "time_zone",
    "transformer_id",
    "feeder_id",
    "substation_id",
    "created_at",
];
pub const DEVICE_COLUMNS: [&str; 15] = [
    "id",
    "head_end",
    "nic_id",
    "device_type",
    "specification",
    "serial_number",
    "badge",
    "status",
    "registered",
    "nominal_kw",
    "control_score",
    "location_id",
    "aggregator_id",
    "created_at",
    "updated_at",
];
