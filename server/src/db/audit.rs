//! The append-only audit log with a hash chain: each row's hash covers its fields and the
//! previous row's hash in its *lane*, so editing or deleting any row breaks every hash after
//! it in that lane. The chain runs in [`LANES`] lanes so that concurrent writers on
//! PostgreSQL each take a free lane instead of queueing on one head (migration 0027); a lone
//! writer, and every SQLite writer, always writes lane 0, so a quiet log is one chain. A bulk
//! change (a settlement run, a plan) writes one entry carrying a [`RowDigest`] of the rows
//! it leaves, with the rows' short prints in `audit_digests` to name a row that differs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::db::dialect::Dialect;
use crate::db::{insert_rows, Arg, Db, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

tokio::task_local! {
    /// The client address of the request being served (set by the request middleware from
    /// the connection, or `X-Forwarded-For` behind a trusted proxy); every audit record
    /// written while serving the request carries it.
    pub static CLIENT_ADDRESS: String;
}

/// The address of the request this task serves, if it serves one.
pub fn current_client_address() -> Option<String> {
    CLIENT_ADDRESS.try_with(|a| a.clone()).ok()
}

/// An audit record to append.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub actor: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    /// Where the change came from; `None` takes the current request's address.
    pub client_address: Option<String>,
}

impl NewAuditEntry {
    pub fn new(actor: &str, action: &str, entity_type: &str, entity_id: impl ToString) -> Self {
        NewAuditEntry {
            actor: actor.to_string(),
            action: action.to_string(),
            entity_type: entity_type.to_string(),
            entity_id: entity_id.to_string(),
            before: None,
            after: None,
            client_address: None,
        }
    }

    pub fn before(mut self, v: serde_json::Value) -> Self {
        self.before = Some(v);
        self
    }

    pub fn after(mut self, v: serde_json::Value) -> Self {
        self.after = Some(v);
        self
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub prev_hash: String,
    pub hash: String,
    pub client_address: Option<String>,
    /// The lane of the chain the row links into (not hashed: see migration 0027).
    pub lane: i32,
}

/// What one row's chained hash covers.
#[derive(Debug, Clone, Copy)]
pub struct HashedRow<'a> {
    pub prev_hash: &'a str,
    pub occurred_at: &'a DateTime<Utc>,
    pub actor: &'a str,
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: &'a str,
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
    /// Hashed only when there is one, so rows written before addresses were recorded keep
    /// their hashes.
    pub client_address: Option<&'a str>,
}

impl AuditRow {
    /// This stored row as its hash sees it.
    pub fn hashed(&self) -> HashedRow<'_> {
        HashedRow {
            prev_hash: &self.prev_hash,
            occurred_at: &self.occurred_at,
            actor: &self.actor,
            action: &self.action,
            entity_type: &self.entity_type,
            entity_id: &self.entity_id,
            before: self.before_json.as_deref(),
            after: self.after_json.as_deref(),
            client_address: self.client_address.as_deref(),
        }
    }
}

/// The chained hash of one row. Timestamps are hashed as RFC 3339 with microseconds so
/// both backends (which store different precisions) hash the same text.
pub fn row_hash(row: &HashedRow) -> String {
    let mut h = Sha256::new();
    for part in [
        row.prev_hash,
        &row.occurred_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        row.actor,
        row.action,
        row.entity_type,
        row.entity_id,
        row.before.unwrap_or("\u{0}"),
        row.after.unwrap_or("\u{0}"),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    if let Some(address) = row.client_address {
        h.update((address.len() as u64).to_be_bytes());
        h.update(address.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Truncates to whole microseconds, the precision both backends keep.
///
/// Wall clock on purpose: the audit trail records when a person or process really acted,
/// even on a simulated clock (whose time the entry's own data carries where it matters).
pub fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// The columns of an audit row as [`chained`] gives them.
const CHAIN_COLUMNS: [&str; 11] = [
    "occurred_at",
    "actor",
    "action",
    "entity_type",
    "entity_id",
    "before_json",
    "after_json",
    "prev_hash",
    "hash",
    "client_address",
    "lane",
];

/// The rows of `entries` in `lane`, each linked to the one before it, the first to `prev`
/// (the lane's head), all at one time: one chain computation for [`append`] and
/// [`append_many`].
fn chained(entries: &[&NewAuditEntry], lane: i32, mut prev: String) -> Vec<Vec<Arg>> {
    let at = now_micros();
    let request_client = current_client_address();
    let mut rows = Vec::with_capacity(entries.len());
    for e in entries {
        let before = e.before.as_ref().map(|v| v.to_string());
        let after = e.after.as_ref().map(|v| v.to_string());
        let client = e.client_address.clone().or_else(|| request_client.clone());
        let hash = row_hash(&HashedRow {
            prev_hash: &prev,
            occurred_at: &at,
            actor: &e.actor,
            action: &e.action,
            entity_type: &e.entity_type,
            entity_id: &e.entity_id,
            before: before.as_deref(),
            after: after.as_deref(),
            client_address: client.as_deref(),
        });
        rows.push(vec![
            Arg::Time(at),
            Arg::Text(e.actor.clone()),
            Arg::Text(e.action.clone()),
            Arg::Text(e.entity_type.clone()),
            Arg::Text(e.entity_id.clone()),
            Arg::OptText(before),
            Arg::OptText(after),
            Arg::Text(std::mem::take(&mut prev)),
            Arg::Text(hash.clone()),
            Arg::OptText(client),
            Arg::Int(lane.into()),
        ]);
        prev = hash;
    }
    rows
}

/// Appends one entry inside the caller's transaction, so the change and its audit record
/// commit together; answers its id.
pub async fn append(tx: &mut Tx, entry: NewAuditEntry) -> Result<i64, DomainError> {
    let (lane, prev) = take_lane(tx).await?;
    static APPEND: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let placeholders: Vec<String> =
            (1..=CHAIN_COLUMNS.len()).map(|i| format!("${i}")).collect();
        format!(
            "INSERT INTO audit_log ({}) VALUES ({}) RETURNING id",
            CHAIN_COLUMNS.join(", "),
            placeholders.join(", ")
        )
    });
    let row = chained(&[&entry], lane, prev);
    let id: i64 = with_tx!(tx, |c| crate::bind_args!(
        sqlx::query_scalar(APPEND.as_str()),
        &row[0]
    )
    .fetch_one(c)
    .await?);
    Ok(id)
}

/// Appends many entries at once (bulk imports): the chain is computed here and written in
/// multi-row statements, in the caller's transaction.
/// The entries may be owned or borrowed (a writer of many reports holds them in its jobs).
pub async fn append_many<E: std::borrow::Borrow<NewAuditEntry>>(
    tx: &mut Tx,
    entries: &[E],
) -> Result<(), DomainError> {
    if entries.is_empty() {
        return Ok(());
    }
    let (lane, prev) = take_lane(tx).await?;
    let entries: Vec<&NewAuditEntry> = entries.iter().map(|e| e.borrow()).collect();
    let rows = chained(&entries, lane, prev);
    insert_rows(tx, "audit_log", &CHAIN_COLUMNS, &rows).await
}

/// Filters for reading the log; newest first, keyset by id.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub action: Option<String>,
    /// Occurred at or after.
    pub from: Option<DateTime<Utc>>,
    /// Occurred before.
    pub until: Option<DateTime<Utc>>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// How many lanes the chain runs in (PostgreSQL; SQLite writes lane 0 only).
pub const LANES: i32 = 8;

/// The advisory lock of a lane (PostgreSQL) is the pair (a key naming the schema, the lane),
/// so stores that share a database (tests do, one schema each) do not wait on each other's
/// lanes. SQLite writers queue anyway, by BEGIN IMMEDIATE. The first free lane, lowest first:
const TRY_FREE_LANE: &str = "SELECT lane FROM generate_series(0, $1 - 1) AS lane
     WHERE pg_try_advisory_xact_lock(hashtext('gridflex.audit_log.' || current_schema()), lane)
     LIMIT 1";
/// Waits for lane `$1`.
const WAIT_FOR_LANE: &str =
    "SELECT pg_advisory_xact_lock(hashtext('gridflex.audit_log.' || current_schema()), $1)";

/// Takes a lane of the chain for the rest of the caller's transaction and answers it with the
/// hash of its last row. On PostgreSQL the first free lane is taken, lowest first, so a lone
/// writer keeps to lane 0; when all are taken the writer queues on one, in turn. A lane's head
/// is read after its lock is held, so no two transactions link to the same row.
async fn take_lane(tx: &mut Tx) -> Result<(i32, String), DomainError> {
    let lane = match tx {
        Tx::Sqlite(_) => 0,
        Tx::Postgres(c) => {
            let free: Option<i32> = sqlx::query_scalar(TRY_FREE_LANE)
                .bind(LANES)
                .fetch_optional(&mut **c)
                .await?;
            match free {
                Some(lane) => lane,
                None => {
                    static NEXT: AtomicI32 = AtomicI32::new(0);
                    let lane = NEXT.fetch_add(1, Ordering::Relaxed).rem_euclid(LANES);
                    sqlx::query(WAIT_FOR_LANE)
                        .bind(lane)
                        .execute(&mut **c)
                        .await?;
                    lane
                }
            }
        }
    };
    let prev: Option<String> = with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT hash FROM audit_log WHERE lane = $1 ORDER BY id DESC LIMIT 1"
    )
    .bind(lane)
    .fetch_optional(c)
    .await?);
    Ok((lane, prev.unwrap_or_else(|| GENESIS_HASH.to_string())))
}

const AUDIT_COLUMNS: &str = "id, occurred_at, actor, action, entity_type, entity_id, before_json, after_json, prev_hash, hash, client_address, lane";

fn filter_sql(f: &AuditFilter, with_cursor: bool, dialect: Dialect) -> (String, Vec<String>) {
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    for (col, val) in [
        ("actor", &f.actor),
        ("entity_type", &f.entity_type),
        ("entity_id", &f.entity_id),
        ("action", &f.action),
    ] {
        // Case-insensitive: `ev-00001`, `Operator` and `EVENT.APPROVE` find what they name.
        if let Some(v) = val {
            binds.push(v.trim().to_lowercase());
            clauses.push(format!("LOWER({col}) = ${}", binds.len()));
        }
    }
    for (op, val) in [(">=", &f.from), ("<", &f.until)] {
        if let Some(t) = val {
            binds.push(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false));
            clauses.push(format!(
                "occurred_at {op} {}",
                dialect.timestamp_text(binds.len())
            ));
        }
    }
    if with_cursor {
        if let Some(b) = f.before_id {
            binds.push(b.to_string());
            clauses.push(format!("id < CAST(${} AS BIGINT)", binds.len()));
        }
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (sql, binds)
}

pub async fn list_audit(db: &Db, f: &AuditFilter) -> Result<(Vec<AuditRow>, i64), DomainError> {
    let (where_page, binds_page) = filter_sql(f, true, db.dialect());
    let (where_all, binds_all) = filter_sql(f, false, db.dialect());
    let page_sql = format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_log{where_page} ORDER BY id DESC LIMIT {}",
        f.limit.clamp(1, 1000)
    );
    let count_sql = format!("SELECT COUNT(*) FROM audit_log{where_all}");
    with_db!(db, |pool| {
        let mut q = sqlx::query_as::<_, AuditRow>(&page_sql);
        for b in &binds_page {
            q = q.bind(b);
        }
        let rows = q.fetch_all(pool).await?;
        let mut c = sqlx::query_scalar::<_, i64>(&count_sql);
        for b in &binds_all {
            c = c.bind(b);
        }
        let total = c.fetch_one(pool).await?;
        Ok((rows, total))
    })
}

pub async fn for_entity(
    db: &Db,
    entity_type: &str,
    entity_id: &str,
    limit: i64,
) -> Result<Vec<AuditRow>, DomainError> {
    let sql = format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE entity_type = $1 AND entity_id = $2 ORDER BY id DESC LIMIT $3"
    );
    Ok(with_db!(db, |pool| sqlx::query_as::<_, AuditRow>(&sql)
        .bind(entity_type)
        .bind(entity_id)
        .bind(limit)
        .fetch_all(pool)
        .await?))
}

/// The outcome of walking the chain.
#[derive(Debug, PartialEq, Eq)]
pub enum ChainCheck {
    Intact { rows: i64 },
    Broken { id: i64, reason: String },
}

/// Walks the whole chain in id order, in pages, each row against the row before it in its
/// lane, and names the first row that does not fit.
pub async fn verify(db: &Db) -> Result<ChainCheck, DomainError> {
    let mut heads: HashMap<i32, String> = HashMap::new();
    let mut after = 0i64;
    let mut rows = 0i64;
    let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE id > $1 ORDER BY id LIMIT 5000");
    loop {
        let page: Vec<AuditRow> = with_db!(db, |pool| sqlx::query_as::<_, AuditRow>(&sql)
            .bind(after)
            .fetch_all(pool)
            .await?);
        if page.is_empty() {
            return Ok(ChainCheck::Intact { rows });
        }
        for r in page {
            if !(0..LANES).contains(&r.lane) {
                return Ok(ChainCheck::Broken {
                    id: r.id,
                    reason: format!("its lane {} is not one of the chain's lanes", r.lane),
                });
            }
            let prev = heads.get(&r.lane).map_or(GENESIS_HASH, String::as_str);
            if r.prev_hash != prev {
                return Ok(ChainCheck::Broken {
                    id: r.id,
                    reason: "its previous-hash does not match the row before it in its lane (a row was removed or altered)".into(),
                });
            }
            let expect = row_hash(&r.hashed());
            if expect != r.hash {
                return Ok(ChainCheck::Broken {
                    id: r.id,
                    reason: "its contents do not match its hash (the row was altered)".into(),
                });
            }
            after = r.id;
            heads.insert(r.lane, r.hash);
            rows += 1;
        }
    }
}

/// A digest over ordered rows, each row given as its canonical fields (see [`RowDigest::row`]).
///
/// Each row's hash is SHA-256 over its fields, each written as its length in bytes (8 bytes,
/// big-endian) and its UTF-8 text, a NULL as the length `u64::MAX` alone; the digest is
/// SHA-256 over the rows' hashes in order, hex. The first 8 bytes of each row's hash (its
/// *print*) are kept in `audit_digests` so a check can name the first row that differs.
#[derive(Default)]
pub struct RowDigest {
    all: Sha256,
    prints: Vec<u8>,
    rows: i64,
    scratch: Vec<u8>,
}

/// The shared first fields of some rows, written as a row's hash takes them (see
/// [`RowDigest::prefix`]).
#[derive(Clone, Default)]
pub struct RowPrefix(Vec<u8>);

/// Writes fields as a row's hash takes them: each as its byte length (8 bytes, big-endian)
/// and its text, a NULL as the length `u64::MAX` alone.
fn encode(out: &mut Vec<u8>, fields: &[Option<&str>]) {
    for f in fields {
        match f {
            Some(text) => {
                out.extend_from_slice(&(text.len() as u64).to_be_bytes());
                out.extend_from_slice(text.as_bytes());
            }
            None => out.extend_from_slice(&u64::MAX.to_be_bytes()),
        }
    }
}

/// What a [`RowDigest`] came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digested {
    pub rows: i64,
    pub sha256: String,
    pub prints: Vec<u8>,
}

/// Bytes of a row's hash kept as its print.
pub const PRINT_BYTES: usize = 8;

impl RowDigest {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next row; answers its print.
    pub fn row(&mut self, fields: &[Option<&str>]) -> [u8; PRINT_BYTES] {
        self.row_after(&RowPrefix::default(), fields)
    }

    /// The first fields of rows that share them (a stage's own fields open each of its
    /// devices' rows), written out once for all those rows.
    pub fn prefix(fields: &[Option<&str>]) -> RowPrefix {
        let mut bytes = Vec::new();
        encode(&mut bytes, fields);
        RowPrefix(bytes)
    }

    /// Adds the next row, made of `prefix`'s fields then `rest`: the same hash and print as
    /// [`RowDigest::row`] over all the fields. The row is written into one buffer kept from
    /// row to row and hashed in one call.
    pub fn row_after(&mut self, prefix: &RowPrefix, rest: &[Option<&str>]) -> [u8; PRINT_BYTES] {
        let mut bytes = std::mem::take(&mut self.scratch);
        bytes.clear();
        bytes.extend_from_slice(&prefix.0);
        encode(&mut bytes, rest);
        let hash = Sha256::digest(&bytes);
        self.scratch = bytes;
        self.all.update(hash);
        let mut print = [0u8; PRINT_BYTES];
        print.copy_from_slice(&hash[..PRINT_BYTES]);
        self.prints.extend_from_slice(&print);
        self.rows += 1;
        print
    }

    pub fn finish(self) -> Digested {
        Digested {
            rows: self.rows,
            sha256: hex::encode(self.all.finalize()),
            prints: self.prints,
        }
    }
}

/// A float as a digest field: the shortest text that reads back as the same value.
pub fn float_field(v: f64) -> String {
    let mut out = String::new();
    write_float_field(&mut out, v);
    out
}

/// [`float_field`] written into `out` (cleared first), for callers that digest many rows
/// and reuse one buffer.
pub fn write_float_field(out: &mut String, v: f64) {
    use std::fmt::Write;
    out.clear();
    // Writing into a String cannot fail.
    let _ = write!(out, "{v:?}");
}

/// A timestamp as a digest field: RFC 3339, UTC, microseconds (what both backends keep).
pub fn time_field(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Appends `entry` with `digest` under `after.digest` (its count and SHA-256, covered by the
/// chain) and keeps the rows' prints in `audit_digests`; answers the entry's id.
pub async fn append_digest(
    tx: &mut Tx,
    mut entry: NewAuditEntry,
    scope: serde_json::Value,
    digest: &Digested,
) -> Result<i64, DomainError> {
    let mut d = scope;
    d["rows"] = serde_json::json!(digest.rows);
    d["sha256"] = serde_json::json!(digest.sha256);
    let mut after = entry.after.take().unwrap_or_else(|| serde_json::json!({}));
    after["digest"] = d;
    let id = append(tx, entry.after(after)).await?;
    with_tx!(tx, |c| sqlx::query(
        "INSERT INTO audit_digests (audit_id, row_count, row_prints) VALUES ($1, $2, $3)"
    )
    .bind(id)
    .bind(digest.rows)
    .bind(digest.prints.as_slice())
    .execute(c)
    .await?
    .rows_affected());
    Ok(id)
}

/// (id, action, after JSON) of every entry that carries a digest, oldest first.
pub async fn digest_entries(db: &Db) -> Result<Vec<(i64, String, String)>, DomainError> {
    Ok(with_db!(db, |c| {
        sqlx::query_as(
        "SELECT a.id, a.action, a.after_json FROM audit_log a JOIN audit_digests d ON d.audit_id = a.id
         WHERE a.after_json IS NOT NULL ORDER BY a.id"
    )
    .fetch_all(c)
    .await?
    }))
}

/// The rows' prints kept with the digest of entry `audit_id`.
pub async fn row_prints(db: &Db, audit_id: i64) -> Result<Vec<u8>, DomainError> {
    let prints: Option<Vec<u8>> = with_db!(db, |c| sqlx::query_scalar(
        "SELECT row_prints FROM audit_digests WHERE audit_id = $1"
    )
    .bind(audit_id)
    .fetch_optional(c)
    .await?);
    Ok(prints.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(rows: &[&[Option<&str>]]) -> Digested {
        let mut d = RowDigest::new();
        for r in rows {
            d.row(r);
        }
        d.finish()
    }

    #[test]
    fn a_digest_depends_on_every_field_its_order_and_null_versus_empty() {
        let a = digest(&[&[Some("1"), Some("x")], &[Some("2"), None]]);
        assert_eq!(a.rows, 2);
        assert_eq!(a.prints.len(), 2 * PRINT_BYTES);
        assert_eq!(a.sha256.len(), 64);
        assert_eq!(a, digest(&[&[Some("1"), Some("x")], &[Some("2"), None]]));
        for other in [
            digest(&[&[Some("2"), None], &[Some("1"), Some("x")]]),
            digest(&[&[Some("1"), Some("x")], &[Some("2"), Some("")]]),
            digest(&[&[Some("1x")], &[Some("2"), None]]),
            digest(&[&[Some("1"), Some("x")]]),
        ] {
            assert_ne!(a.sha256, other.sha256);
        }
        // The first row's print is the same whatever follows.
        let b = digest(&[&[Some("1"), Some("x")], &[Some("3"), None]]);
        assert_eq!(a.prints[..PRINT_BYTES], b.prints[..PRINT_BYTES]);
        assert_ne!(a.prints[PRINT_BYTES..], b.prints[PRINT_BYTES..]);
    }

    #[test]
    fn a_row_after_a_shared_prefix_hashes_as_the_whole_row() {
        let whole = digest(&[
            &[Some("7"), Some("S01"), Some("1"), Some("x")],
            &[Some("7"), Some("S01"), Some("2"), None],
        ]);
        let prefix = RowDigest::prefix(&[Some("7"), Some("S01")]);
        let mut d = RowDigest::new();
        d.row_after(&prefix, &[Some("1"), Some("x")]);
        d.row_after(&prefix, &[Some("2"), None]);
        assert_eq!(d.finish(), whole);
        // The prefix's fields still count as fields, not as one longer text.
        let mut joined = RowDigest::new();
        joined.row_after(&RowDigest::prefix(&[Some("7S01")]), &[Some("1"), Some("x")]);
        joined.row_after(&RowDigest::prefix(&[Some("7S01")]), &[Some("2"), None]);
        assert_ne!(joined.finish().sha256, whole.sha256);
    }

    #[test]
    fn floats_and_times_are_written_so_they_read_back_the_same() {
        assert_eq!(float_field(0.65), "0.65");
        assert_eq!(float_field(17.0), "17.0");
        let mut buf = String::from("left over");
        write_float_field(&mut buf, 0.1 + 0.2);
        assert_eq!(buf, float_field(0.1 + 0.2));
        let t = DateTime::parse_from_rfc3339("2026-07-08T22:00:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(time_field(&t), "2026-07-08T22:00:00.123456Z");
    }
}
