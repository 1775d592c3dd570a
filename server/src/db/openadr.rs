//! The OpenADR 3.1 VTN's store (grid side): its clients and tokens, the reports VENs send,
//! and the reads that show the grid side's approved stages as OpenADR events.

use chrono::{DateTime, Utc};

use crate::db::dialect::{list, Dialect, Elem};
use crate::db::{Arg, Db, Filter, Tx};
use crate::error::DomainError;
use crate::{bind_args, with_db, with_tx};

/// Event states whose stages are published to VENs (OpenADR has no approval state: a
/// cancelled or denied event is withdrawn, one not yet approved is not shown).
pub const PUBLISHED_STATES: &str = "('Approved', 'Scheduled', 'InProgress', 'Completed')";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientRow {
    pub id: i64,
    pub client_id: String,
    pub name: String,
    pub scopes: String,
    pub ven_ref: Option<String>,
    /// When the token the client was found by expires (`client_by_token` only).
    #[sqlx(default)]
    pub token_expires_at: Option<DateTime<Utc>>,
}

pub async fn insert_client(
    tx: &mut Tx,
    client_id: &str,
    name: &str,
    secret_hash: &str,
    scopes: &str,
    ven_ref: Option<&str>,
    now: DateTime<Utc>,
) -> Result<i64, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_scalar(
            "INSERT INTO openadr_clients (client_id, name, secret_hash, scopes, ven_ref, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(client_id)
        .bind(name)
        .bind(secret_hash)
        .bind(scopes)
        .bind(ven_ref)
        .bind(now)
        .fetch_one(c)
        .await
        .map_err(|e| match DomainError::from(e) {
            DomainError::Conflict(_) => {
                DomainError::Conflict(format!("an OpenADR client named {name} exists already"))
            }
            other => other,
        })?
    }))
}

/// The active client with this id and secret hash.
pub async fn client_by_secret(
    db: &Db,
    client_id: &str,
    secret_hash: &str,
) -> Result<Option<ClientRow>, DomainError> {
    Ok(with_db!(db, |p| {
        sqlx::query_as::<_, ClientRow>(
            "SELECT id, client_id, name, scopes, ven_ref FROM openadr_clients
             WHERE client_id = $1 AND secret_hash = $2 AND NOT revoked",
        )
        .bind(client_id)
        .bind(secret_hash)
        .fetch_optional(p)
        .await?
    }))
}

/// Stores a new token of `client`, and drops that client's tokens that have expired by
/// `now`, so a client asking for a token every few minutes leaves no trail.
pub async fn insert_token(
    db: &Db,
    token_hash: &str,
    client: i64,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), DomainError> {
    let mut tx = db.begin().await?;
    with_tx!(&mut tx, |c| {
        sqlx::query("DELETE FROM openadr_tokens WHERE client_id = $1 AND expires_at <= $2")
            .bind(client)
            .bind(now)
            .execute(&mut *c)
            .await?;
        sqlx::query(
            "INSERT INTO openadr_tokens (token_hash, client_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(client)
        .bind(expires_at)
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    tx.commit().await?;
    Ok(())
}

/// The client a token stands for, while the token is unexpired and the client not revoked.
pub async fn client_by_token(
    db: &Db,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<ClientRow>, DomainError> {
    Ok(with_db!(db, |p| {
        sqlx::query_as::<_, ClientRow>(
            "SELECT c.id, c.client_id, c.name, c.scopes, c.ven_ref, t.expires_at AS token_expires_at
             FROM openadr_tokens t
             JOIN openadr_clients c ON c.id = t.client_id
             WHERE t.token_hash = $1 AND t.expires_at > $2 AND NOT c.revoked",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(p)
        .await?
    }))
}

/// A client as the admin sees it (never its secret).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientInfo {
    pub id: i64,
    pub client_id: String,
    pub name: String,
    pub scopes: String,
    pub ven_ref: Option<String>,
    pub revoked: bool,
    pub created_at: DateTime<Utc>,
}

/// Every client, oldest first.
pub async fn clients(db: &Db) -> Result<Vec<ClientInfo>, DomainError> {
    Ok(with_db!(db, |p| {
        sqlx::query_as::<_, ClientInfo>(
            "SELECT id, client_id, name, scopes, ven_ref, revoked, created_at
             FROM openadr_clients ORDER BY id",
        )
        .fetch_all(p)
        .await?
    }))
}

/// Revokes the client with this id (its secret stops working) and deletes its tokens (they
/// stop at once); answers the client as it was, or `None` for an unknown id.
pub async fn revoke_client(
    tx: &mut Tx,
    client_id: &str,
) -> Result<Option<ClientInfo>, DomainError> {
    Ok(with_tx!(tx, |c| {
        let before = sqlx::query_as::<_, ClientInfo>(
            "SELECT id, client_id, name, scopes, ven_ref, revoked, created_at
             FROM openadr_clients WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(&mut *c)
        .await?;
        if let Some(b) = &before {
            sqlx::query("UPDATE openadr_clients SET revoked = TRUE WHERE id = $1")
                .bind(b.id)
                .execute(&mut *c)
                .await?;
            sqlx::query("DELETE FROM openadr_tokens WHERE client_id = $1")
                .bind(b.id)
                .execute(&mut *c)
                .await?;
        }
        before
    }))
}

/// An aggregator the grid side knows (a VEN).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VenRow {
    pub id: i64,
    pub external_ref: String,
    pub name: String,
    pub updated_at: DateTime<Utc>,
}

pub async fn vens(
    db: &Db,
    only: Option<&str>,
    skip: i64,
    limit: i64,
) -> Result<Vec<VenRow>, DomainError> {
    Ok(with_db!(db, |p| {
        sqlx::query_as::<_, VenRow>(
            "SELECT id, external_ref, name, updated_at FROM grid_aggregators
             WHERE ($1 IS NULL OR external_ref = $1) ORDER BY id LIMIT $2 OFFSET $3",
        )
        .bind(only)
        .bind(limit)
        .bind(skip)
        .fetch_all(p)
        .await?
    }))
}

pub async fn ven(db: &Db, external_ref: &str) -> Result<Option<VenRow>, DomainError> {
    Ok(vens(db, Some(external_ref), 0, 1).await?.pop())
}

/// A program the grid side knows (its rules arrived by flow 9 and are linked).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProgramRow {
    pub program_code: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn programs(
    db: &Db,
    only: Option<&str>,
    skip: i64,
    limit: i64,
) -> Result<Vec<ProgramRow>, DomainError> {
    Ok(with_db!(db, |p| {
        sqlx::query_as::<_, ProgramRow>(
            "SELECT program_code, MIN(updated_at) AS created_at, MAX(updated_at) AS updated_at
             FROM grid_program_rules WHERE linked AND ($1 IS NULL OR program_code = $1)
             GROUP BY program_code ORDER BY program_code LIMIT $2 OFFSET $3",
        )
        .bind(only)
        .bind(limit)
        .bind(skip)
        .fetch_all(p)
        .await?
    }))
}

/// The program `code` read in `tx` (the transaction of a rule change): from its linked
/// rules (`linked_only`, what `programs` shows), or from every rule stored of it (what it
/// was, once the last one is unlinked). `None` when there is none such.
pub async fn program_in(
    tx: &mut Tx,
    code: &str,
    linked_only: bool,
) -> Result<Option<ProgramRow>, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_as::<_, ProgramRow>(
            "SELECT program_code, MIN(updated_at) AS created_at, MAX(updated_at) AS updated_at
             FROM grid_program_rules WHERE program_code = $1 AND (linked OR NOT $2)
             GROUP BY program_code",
        )
        .bind(code)
        .bind(linked_only)
        .fetch_optional(c)
        .await?
    }))
}

/// One published OpenADR event: the devices of one program, in one stage, that one
/// aggregator controls.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub stage_id: i64,
    pub aggregator_id: i64,
    pub aggregator_ref: String,
    pub program_code: String,
    pub event_code: String,
    pub event_name: String,
    pub priority: i32,
    pub control_level: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expected_kw: f64,
}

/// Which published events to read.
#[derive(Debug, Clone, Default)]
pub struct EventFilter<'a> {
    pub ven: Option<&'a str>,
    pub program: Option<&'a str>,
    /// One event: (stage, aggregator row, program).
    pub key: Option<(i64, i64, &'a str)>,
}

/// Event states whose stages are not published: the complement of [`PUBLISHED_STATES`]. The
/// event query excludes these (a short list of few events).
pub const UNPUBLISHED_STATES: &str = "('New', 'Submitted', 'Denied', 'Canceled')";

/// The columns of an [`EventRow`] read from the kept OpenADR events (`k`) with their
/// aggregator's row (`a`), stage (`s`) and event (`e`), joined by [`KEPT_EVENT_FROM`].
const KEPT_EVENT_COLUMNS: &str =
    "k.stage_id, a.id AS aggregator_id, k.aggregator_ref, k.program_code,
     e.code AS event_code, e.name AS event_name, e.priority, e.control_level,
     s.starts_at, s.ends_at, e.created_at, e.updated_at, k.expected_kw";
const KEPT_EVENT_FROM: &str = "FROM openadr_events k
     JOIN grid_aggregators a ON a.external_ref = k.aggregator_ref
     JOIN event_stages s ON s.id = k.stage_id
     JOIN events e ON e.id = k.event_id";

/// The OpenADR events of the stages `which` selects (SQL over `event_stage_devices d` with
/// its placeholders), grouped from their reserved devices: what `openadr_events` keeps.
fn published_source(which: &str) -> String {
    format!(
        "SELECT d.stage_id, g.aggregator_ref, d.program_code, d.event_id, SUM(d.expected_kw)
         FROM event_stage_devices d
         JOIN grid_devices g ON g.id = d.grid_device_id
         WHERE {which} AND d.status = 'reserved' AND g.aggregator_ref IS NOT NULL
         GROUP BY d.stage_id, g.aggregator_ref, d.program_code, d.event_id"
    )
}

/// Replaces the kept OpenADR events that `kept` selects (SQL over `openadr_events`) with
/// those `source` selects (SQL over `event_stage_devices d`), both with the argument `arg`.
async fn recompute(
    tx: &mut Tx,
    kept: &str,
    source: &str,
    arg: Option<&Arg>,
) -> Result<(), DomainError> {
    let args: Vec<&Arg> = arg.into_iter().collect();
    let delete = format!("DELETE FROM openadr_events WHERE {kept}");
    with_tx!(tx, |c| bind_args!(
        sqlx::query(&delete),
        args.iter().copied()
    )
    .execute(&mut *c)
    .await?
    .rows_affected());
    let insert = format!(
        "INSERT INTO openadr_events (stage_id, aggregator_ref, program_code, event_id, expected_kw) {}",
        published_source(source)
    );
    with_tx!(tx, |c| bind_args!(
        sqlx::query(&insert),
        args.iter().copied()
    )
    .execute(&mut *c)
    .await?
    .rows_affected());
    Ok(())
}

/// Computes the OpenADR events of event `event_id` afresh (migration 0029): when the event is
/// first published, in the transaction that publishes it.
pub async fn refresh_event(tx: &mut Tx, event_id: i64) -> Result<(), DomainError> {
    recompute(
        tx,
        "event_id = $1",
        "d.event_id = $1",
        Some(&Arg::Int(event_id)),
    )
    .await
}

/// Computes the OpenADR events of these stages afresh: a device of theirs was released or
/// moved to another aggregator.
pub async fn refresh_stages(tx: &mut Tx, stage_ids: &[i64]) -> Result<(), DomainError> {
    let stages = format!("stage_id IN ({})", tx.dialect().in_list(1, Elem::Int));
    for chunk in stage_ids.chunks(500) {
        let chunk = Arg::Text(list(chunk)?);
        recompute(tx, &stages, &format!("d.{stages}"), Some(&chunk)).await?;
    }
    Ok(())
}

/// The stages these grid devices are reserved in (or were, and released). No index leads
/// from a device to its stages — the stage store is kept lean for planning — so this reads
/// every stage device once; it serves devices moving to another aggregator, which is rare.
pub async fn stages_of_devices(
    tx: &mut Tx,
    grid_device_ids: &[i64],
) -> Result<Vec<i64>, DomainError> {
    let sql = format!(
        "SELECT DISTINCT stage_id FROM event_stage_devices WHERE grid_device_id IN ({})",
        tx.dialect().in_list(1, Elem::Int)
    );
    let mut stages = Vec::new();
    for chunk in grid_device_ids.chunks(500) {
        let chunk = list(chunk)?;
        let found: Vec<i64> = with_tx!(tx, |c| sqlx::query_scalar(&sql)
            .bind(&chunk)
            .fetch_all(&mut *c)
            .await?);
        stages.extend(found);
    }
    stages.sort_unstable();
    stages.dedup();
    Ok(stages)
}

/// The published OpenADR events of these stages as kept now, read in `tx`.
pub async fn published_of_stages(
    tx: &mut Tx,
    stage_ids: &[i64],
) -> Result<Vec<EventRow>, DomainError> {
    let sql = format!(
        "SELECT {KEPT_EVENT_COLUMNS} {KEPT_EVENT_FROM}
         WHERE k.stage_id IN ({}) AND e.status NOT IN {UNPUBLISHED_STATES}
         ORDER BY k.stage_id, a.id, k.program_code",
        tx.dialect().in_list(1, Elem::Int)
    );
    let mut rows = Vec::new();
    for chunk in stage_ids.chunks(500) {
        let chunk = list(chunk)?;
        let found: Vec<EventRow> = with_tx!(tx, |c| sqlx::query_as(&sql)
            .bind(&chunk)
            .fetch_all(&mut *c)
            .await?);
        rows.extend(found);
    }
    Ok(rows)
}

/// Computes every OpenADR event afresh: after a loader wrote stages and devices straight into
/// the tables (the demo's past events, a benchmark's seed).
pub async fn rebuild_published(tx: &mut Tx) -> Result<(), DomainError> {
    recompute(tx, "1 = 1", "1 = 1", None).await
}

/// Where `openadr_events` differs from what the reserved devices say now (a row missing,
/// extra, or with another expected kW), for the published events: empty when the writers
/// kept it. A check for tests and operators.
pub async fn published_drift(db: &Db) -> Result<Vec<String>, DomainError> {
    let source = published_source(&format!(
        "d.event_id NOT IN (SELECT id FROM events WHERE status IN {UNPUBLISHED_STATES})"
    ));
    let want: Vec<(i64, String, String, i64, f64)> =
        with_db!(db, |p| sqlx::query_as(&source).fetch_all(p).await?);
    let kept: Vec<(i64, String, String, i64, f64)> = with_db!(db, |p| {
        let sql = format!(
            "SELECT stage_id, aggregator_ref, program_code, event_id, expected_kw FROM openadr_events
             WHERE event_id NOT IN (SELECT id FROM events WHERE status IN {UNPUBLISHED_STATES})"
        );
        sqlx::query_as(&sql).fetch_all(p).await?
    });
    let key = |r: &(i64, String, String, i64, f64)| (r.0, r.1.clone(), r.2.clone());
    let want: std::collections::BTreeMap<_, _> = want.iter().map(|r| (key(r), r)).collect();
    let kept: std::collections::BTreeMap<_, _> = kept.iter().map(|r| (key(r), r)).collect();
    let mut drift = Vec::new();
    for (k, w) in &want {
        match kept.get(k) {
            None => drift.push(format!("missing {k:?}")),
            Some(r) if r.3 != w.3 || (r.4 - w.4).abs() > 1e-6 => {
                drift.push(format!("{k:?}: kept {r:?}, now {w:?}"))
            }
            Some(_) => {}
        }
    }
    drift.extend(
        kept.keys()
            .filter(|k| !want.contains_key(*k))
            .map(|k| format!("extra {k:?}")),
    );
    Ok(drift)
}

/// A page of published events, ordered by (stage, aggregator row, program), read from the
/// kept `openadr_events` (migration 0029) with only the filters given: a VEN's page walks its
/// aggregator's rows in stage order and stops at `limit`.
pub async fn events(
    db: &Db,
    f: &EventFilter<'_>,
    skip: i64,
    limit: i64,
) -> Result<Vec<EventRow>, DomainError> {
    let mut filter = Filter::default();
    filter.add(&format!("e.status NOT IN {UNPUBLISHED_STATES}"), []);
    if let Some(ven) = f.ven {
        filter.add("k.aggregator_ref = ?", [Arg::from(ven)]);
    }
    if let Some(program) = f.program {
        filter.add("k.program_code = ?", [Arg::from(program)]);
    }
    if let Some((stage, aggregator, program)) = f.key {
        filter.add(
            "k.stage_id = ? AND a.id = ? AND k.program_code = ?",
            [Arg::from(stage), Arg::from(aggregator), Arg::from(program)],
        );
    }
    let n = filter.args.len();
    let sql = format!(
        "SELECT {KEPT_EVENT_COLUMNS} {KEPT_EVENT_FROM}{}
         ORDER BY k.stage_id, a.id, k.program_code LIMIT ${} OFFSET ${}",
        filter.sql(),
        n + 1,
        n + 2
    );
    let mut args = filter.args;
    args.push(Arg::from(limit));
    args.push(Arg::from(skip));
    Ok(with_db!(db, |p| {
        bind_args!(sqlx::query_as::<_, EventRow>(&sql), &args)
            .fetch_all(p)
            .await?
    }))
}

/// A published event's row joined with one of its reserved devices.
#[derive(sqlx::FromRow)]
struct EventDeviceJoined {
    #[sqlx(flatten)]
    event: EventRow,
    #[sqlx(flatten)]
    device: EventDeviceRow,
}

/// One published OpenADR event (the first three placeholders and `key` choose it) with its
/// reserved devices, one row per device.
fn event_with_devices_sql(key: &str) -> String {
    format!(
        "SELECT {KEPT_EVENT_COLUMNS}, g.id AS grid_device_id, g.head_end, g.nic_id
         {KEPT_EVENT_FROM}
         JOIN event_stage_devices d ON d.stage_id = k.stage_id AND d.program_code = k.program_code
         JOIN grid_devices g ON g.id = d.grid_device_id AND g.aggregator_ref = k.aggregator_ref
         WHERE {key} AND d.status = 'reserved' AND e.status NOT IN {UNPUBLISHED_STATES}
         ORDER BY g.id"
    )
}

fn event_and_devices(rows: Vec<EventDeviceJoined>) -> Option<(EventRow, Vec<EventDeviceRow>)> {
    let mut rows = rows.into_iter();
    let first = rows.next()?;
    let mut devices = vec![first.device];
    devices.extend(rows.map(|r| r.device));
    Some((first.event, devices))
}

/// One published event read by its key with its reserved devices, in one query: what
/// `GET events/{id}` shows and what a report is checked against. `ven` limits it to the
/// events targeted at that VEN. `None` when no such event is published (to it).
pub async fn event_with_devices(
    db: &Db,
    ven: Option<&str>,
    key: (i64, i64, &str),
) -> Result<Option<(EventRow, Vec<EventDeviceRow>)>, DomainError> {
    let (stage, aggregator, program) = key;
    let sql = event_with_devices_sql(
        "k.stage_id = $1 AND a.id = $2 AND k.program_code = $3 AND ($4 IS NULL OR k.aggregator_ref = $4)",
    );
    let rows = with_db!(db, |p| {
        sqlx::query_as::<_, EventDeviceJoined>(&sql)
            .bind(stage)
            .bind(aggregator)
            .bind(program)
            .bind(ven)
            .fetch_all(p)
            .await?
    });
    Ok(event_and_devices(rows))
}

/// The published OpenADR event of stage `stage_id` for aggregator `aggregator_ref` and
/// program `program`, with its reserved devices, read in `tx` (before and after a change to
/// it, for its subscribers).
pub async fn published_in(
    tx: &mut Tx,
    stage_id: i64,
    aggregator_ref: &str,
    program: &str,
) -> Result<Option<(EventRow, Vec<EventDeviceRow>)>, DomainError> {
    let sql =
        event_with_devices_sql("k.stage_id = $1 AND k.aggregator_ref = $2 AND k.program_code = $3");
    let rows = with_tx!(tx, |c| {
        sqlx::query_as::<_, EventDeviceJoined>(&sql)
            .bind(stage_id)
            .bind(aggregator_ref)
            .bind(program)
            .fetch_all(c)
            .await?
    });
    Ok(event_and_devices(rows))
}

/// A device in a published event: its grid id and OpenADR resource name parts.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventDeviceRow {
    pub grid_device_id: i64,
    pub head_end: String,
    pub nic_id: String,
}

/// A device of one of a page's published events, with the event's key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PageDeviceRow {
    pub stage_id: i64,
    pub aggregator_ref: String,
    pub program_code: String,
    pub head_end: String,
    pub nic_id: String,
}

/// The devices of every event in `rows` (a page of [`events`]), in one query: the reserved
/// devices of the page's stages whose aggregator is one of the page's; a device comes back
/// only under its own event's key (stage, aggregator, program).
pub async fn page_devices(db: &Db, rows: &[EventRow]) -> Result<Vec<PageDeviceRow>, DomainError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut stages: Vec<i64> = rows.iter().map(|r| r.stage_id).collect();
    stages.sort_unstable();
    stages.dedup();
    let mut aggregators: Vec<&str> = rows.iter().map(|r| r.aggregator_ref.as_str()).collect();
    aggregators.sort_unstable();
    aggregators.dedup();
    let dialect = db.dialect();
    let sql = format!(
        "SELECT d.stage_id, g.aggregator_ref, d.program_code, g.head_end, g.nic_id
         FROM event_stage_devices d
         JOIN grid_devices g ON g.id = d.grid_device_id
         WHERE d.stage_id IN ({}) AND g.aggregator_ref IN ({}) AND d.status = 'reserved'
         ORDER BY d.stage_id, g.id",
        dialect.in_list(1, Elem::Int),
        dialect.in_list(2, Elem::Text),
    );
    let stages = list(&stages)?;
    let aggregators = list(&aggregators)?;
    let found = with_db!(db, |p| {
        sqlx::query_as::<_, PageDeviceRow>(&sql)
            .bind(&stages)
            .bind(&aggregators)
            .fetch_all(p)
            .await?
    });
    // The two lists select a cross product; keep the devices of the page's own keys.
    Ok(found
        .into_iter()
        .filter(|d| {
            rows.iter().any(|r| {
                r.stage_id == d.stage_id
                    && r.aggregator_ref == d.aggregator_ref
                    && r.program_code == d.program_code
            })
        })
        .collect())
}

/// What a report says of one device in a stage.
#[derive(Debug, Clone)]
pub struct DeviceOutcome {
    pub grid_device_id: i64,
    pub outcome: &'static str,
    pub actual_kw: Option<f64>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// Applies reports' outcomes to their stages' devices in one statement: the outcomes travel
/// as one JSON list of (stage, outcome) and the UPDATE joins it. A device named twice in the
/// list takes its last outcome (a later report replaces an earlier one).
pub async fn record_outcomes(
    tx: &mut Tx,
    outcomes: &[(i64, &DeviceOutcome)],
) -> Result<(), DomainError> {
    if outcomes.is_empty() {
        return Ok(());
    }
    // Times as the SQLite driver writes them (RFC 3339, `+00:00`), which PostgreSQL reads too.
    let text = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false))
    };
    // The last outcome of each (stage, device), in (stage, device) order: an UPDATE that joins
    // a row twice may keep either, and rows locked in one order keep two batches from
    // deadlocking.
    let mut last: std::collections::BTreeMap<(i64, i64), &DeviceOutcome> = Default::default();
    for (stage, o) in outcomes {
        last.insert((*stage, o.grid_device_id), o);
    }
    let items: Vec<serde_json::Value> = last
        .iter()
        .map(|((stage, _), o)| {
            serde_json::json!({
                "t": stage,
                "d": o.grid_device_id,
                "o": o.outcome,
                "k": o.actual_kw,
                "s": text(o.start),
                "e": text(o.end),
            })
        })
        .collect();
    let items = list(&items)?;
    let source = match tx.dialect() {
        Dialect::Sqlite => {
            "SELECT json_extract(value, '$.t') AS stage, json_extract(value, '$.d') AS device,
                    json_extract(value, '$.o') AS outcome, json_extract(value, '$.k') AS actual_kw,
                    json_extract(value, '$.s') AS pstart, json_extract(value, '$.e') AS pend
             FROM json_each($1)"
        }
        Dialect::Postgres => {
            "SELECT CAST(value ->> 't' AS BIGINT) AS stage, CAST(value ->> 'd' AS BIGINT) AS device,
                    value ->> 'o' AS outcome,
                    CAST(value ->> 'k' AS DOUBLE PRECISION) AS actual_kw,
                    CAST(value ->> 's' AS TIMESTAMPTZ) AS pstart,
                    CAST(value ->> 'e' AS TIMESTAMPTZ) AS pend
             FROM json_array_elements(CAST($1 AS JSON)) AS j(value)"
        }
    };
    // Each reported device is looked up by its stage's event and its id, on the (event,
    // device) index (reserved devices have no index by device alone, migration 0025); the
    // outcomes are materialized with their stages' events first so SQLite walks them, not
    // whole stages once per outcome. The stage's event is a subquery per outcome: as a join,
    // PostgreSQL (guessing 100 list items) hashed every stage for each group.
    let sql = format!(
        "WITH o AS MATERIALIZED (
             SELECT r.stage, r.device, r.outcome, r.actual_kw, r.pstart, r.pend,
                    (SELECT s.event_id FROM event_stages s WHERE s.id = r.stage) AS event
             FROM ({source}) AS r)
         UPDATE event_stage_devices SET outcome = o.outcome, actual_kw = o.actual_kw,
            participation_start = o.pstart, participation_end = o.pend
         FROM o
         WHERE event_stage_devices.event_id = o.event
           AND event_stage_devices.stage_id = o.stage AND event_stage_devices.grid_device_id = o.device"
    );
    with_tx!(tx, |c| {
        sqlx::query(&sql)
            .bind(&items)
            .execute(c)
            .await?
            .rows_affected()
    });
    Ok(())
}

/// A report as received, to store.
#[derive(Debug, Clone)]
pub struct NewReport {
    pub report_id: String,
    /// The OpenADR client's row.
    pub client: i64,
    pub ven_ref: Option<String>,
    pub event_id: String,
    pub client_name: String,
    /// The report's JSON as received.
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// Stores reports, in multi-row statements.
pub async fn insert_reports(tx: &mut Tx, reports: &[&NewReport]) -> Result<(), DomainError> {
    const COLUMNS: [&str; 7] = [
        "report_id",
        "client_id",
        "ven_ref",
        "event_id",
        "client_name",
        "body",
        "created_at",
    ];
    let rows: Vec<Vec<Arg>> = reports
        .iter()
        .map(|r| {
            vec![
                Arg::Text(r.report_id.clone()),
                Arg::Int(r.client),
                Arg::OptText(r.ven_ref.clone()),
                Arg::Text(r.event_id.clone()),
                Arg::Text(r.client_name.clone()),
                Arg::Text(r.body.clone()),
                Arg::Time(r.created_at),
            ]
        })
        .collect();
    crate::db::insert_rows(tx, "openadr_reports", &COLUMNS, &rows).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReportRow {
    pub report_id: String,
    pub client_id: String,
    pub ven_ref: Option<String>,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// Reports, oldest first; `ven` limits them to one VEN's, `report` to one id.
pub async fn reports(
    db: &Db,
    ven: Option<&str>,
    report: Option<&str>,
    event: Option<&str>,
    skip: i64,
    limit: i64,
) -> Result<Vec<ReportRow>, DomainError> {
    Ok(with_db!(db, |p| {
        sqlx::query_as::<_, ReportRow>(
            "SELECT r.report_id, c.client_id, r.ven_ref, r.body, r.created_at FROM openadr_reports r
             JOIN openadr_clients c ON c.id = r.client_id
             WHERE ($1 IS NULL OR r.ven_ref = $1) AND ($2 IS NULL OR r.report_id = $2)
               AND ($3 IS NULL OR r.event_id = $3)
             ORDER BY r.id LIMIT $4 OFFSET $5",
        )
        .bind(ven)
        .bind(report)
        .bind(event)
        .bind(limit)
        .bind(skip)
        .fetch_all(p)
        .await?
    }))
}

/// What event `event_id` publishes, read inside the transaction that changes it: its
/// OpenADR events (one per stage, aggregator and program) and their devices. With
/// `released`, devices no longer reserved count too (an event being withdrawn).
pub async fn event_publication(
    tx: &mut Tx,
    event_id: i64,
    released: bool,
) -> Result<(Vec<EventRow>, Vec<PageDeviceRow>), DomainError> {
    // What it publishes is kept (`openadr_events`); what it published before a withdrawal
    // counts the released devices too, so it is grouped from them.
    let kept = (!released).then(|| {
        format!(
            "SELECT {KEPT_EVENT_COLUMNS} {KEPT_EVENT_FROM}
             WHERE k.event_id = $1
             ORDER BY k.stage_id, a.id, k.program_code"
        )
    });
    let rows = with_tx!(tx, |c| {
        sqlx::query_as::<_, EventRow>(kept.as_deref().unwrap_or(
            "SELECT s.id AS stage_id, a.id AS aggregator_id, a.external_ref AS aggregator_ref,
                    d.program_code, e.code AS event_code, e.name AS event_name, e.priority,
                    e.control_level, s.starts_at, s.ends_at, e.created_at, e.updated_at,
                    SUM(d.expected_kw) AS expected_kw
             FROM event_stage_devices d
             JOIN grid_devices g ON g.id = d.grid_device_id
             JOIN grid_aggregators a ON a.external_ref = g.aggregator_ref
             JOIN event_stages s ON s.id = d.stage_id
             JOIN events e ON e.id = s.event_id
             WHERE e.id = $1
             GROUP BY s.id, a.id, a.external_ref, d.program_code, e.code, e.name, e.priority,
                      e.control_level, s.starts_at, s.ends_at, e.created_at, e.updated_at
             ORDER BY s.id, a.id, d.program_code",
        ))
        .bind(event_id)
        .fetch_all(&mut *c)
        .await?
    });
    let devices = with_tx!(tx, |c| {
        sqlx::query_as::<_, PageDeviceRow>(
            "SELECT d.stage_id, g.aggregator_ref, d.program_code, g.head_end, g.nic_id
             FROM event_stage_devices d
             JOIN grid_devices g ON g.id = d.grid_device_id
             JOIN event_stages s ON s.id = d.stage_id
             WHERE s.event_id = $1 AND g.aggregator_ref IS NOT NULL
               AND ($2 OR d.status = 'reserved')
             ORDER BY d.stage_id, g.id",
        )
        .bind(event_id)
        .bind(released)
        .fetch_all(&mut *c)
        .await?
    });
    Ok((rows, devices))
}

/// A published event's OpenADR id: `STAGE-AGGREGATOR-PROGRAM` (the first two are row
/// numbers, so the program code may hold dashes).
pub fn event_key(stage_id: i64, aggregator_id: i64, program_code: &str) -> String {
    format!("{stage_id}-{aggregator_id}-{program_code}")
}

/// One OpenADR event an event published, as its page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PublicationRow {
    pub stage_id: i64,
    pub aggregator_id: i64,
    pub aggregator_ref: String,
    pub aggregator_name: String,
    pub program_code: String,
    pub devices: i64,
}

/// What event `event_id` published (or would publish, once approved) over OpenADR, with the
/// time of the last report on each OpenADR event (keyed by its id) — two queries.
pub async fn publications(
    db: &Db,
    event_id: i64,
) -> Result<(Vec<PublicationRow>, Vec<(String, DateTime<Utc>)>), DomainError> {
    let rows = with_db!(db, |p| {
        sqlx::query_as::<_, PublicationRow>(
            "SELECT s.id AS stage_id, a.id AS aggregator_id, a.external_ref AS aggregator_ref,
                    a.name AS aggregator_name, d.program_code, COUNT(*) AS devices
             FROM event_stage_devices d
             JOIN grid_devices g ON g.id = d.grid_device_id
             JOIN grid_aggregators a ON a.external_ref = g.aggregator_ref
             JOIN event_stages s ON s.id = d.stage_id
             WHERE s.event_id = $1
             GROUP BY s.id, a.id, a.external_ref, a.name, d.program_code
             ORDER BY s.id, a.id, d.program_code",
        )
        .bind(event_id)
        .fetch_all(p)
        .await?
    });
    if rows.is_empty() {
        return Ok((rows, Vec::new()));
    }
    let ids: Vec<String> = rows
        .iter()
        .map(|r| event_key(r.stage_id, r.aggregator_id, &r.program_code))
        .collect();
    let sql = format!(
        "SELECT event_id, MAX(created_at) FROM openadr_reports WHERE event_id IN ({})
         GROUP BY event_id",
        db.dialect().in_list(1, Elem::Text)
    );
    let ids = list(&ids)?;
    let reports = with_db!(db, |p| {
        sqlx::query_as::<_, (String, DateTime<Utc>)>(&sql)
            .bind(&ids)
            .fetch_all(p)
            .await?
    });
    Ok((rows, reports))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::lifecycle::EventStatus;

    #[test]
    fn every_event_state_is_either_published_or_not() {
        for status in EventStatus::ALL {
            let quoted = format!("'{}'", status.as_str());
            assert_ne!(
                PUBLISHED_STATES.contains(&quoted),
                UNPUBLISHED_STATES.contains(&quoted),
                "{quoted} must be in exactly one of the two lists"
            );
        }
    }
}
