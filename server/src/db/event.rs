//! Events and their stages (grid side): reading, creating and the status writes of the
//! lifecycle, the checks that approving needs (open load, device conflicts), cancelling and
//! what an opt-out takes out of a stage.

use chrono::{DateTime, Utc};

use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

/// A stored event. What its fields mean to the lifecycle is in `grid::event`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub strategy_id: i64,
    pub status: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub zone_node_ids: String,
    pub program_codes: String,
    pub device_groups: String,
    pub event_type: String,
    pub priority: i32,
    pub ba_check: bool,
    pub objective: String,
    pub target_mw: Option<f64>,
    pub max_increase_pct: Option<f64>,
    pub control_level: String,
    pub override_rules: bool,
    pub plan_summary: Option<String>,
    pub planned_at: Option<DateTime<Utc>>,
    pub second_approval_required: bool,
    pub created_by: String,
    pub submitted_by: Option<String>,
    pub approved_by: Option<String>,
    pub second_approved_by: Option<String>,
    pub denied_by: Option<String>,
    pub canceled_by: Option<String>,
    pub decision_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const EVENT_COLUMNS: &str = "id, code, name, strategy_id, status, starts_at, ends_at, zone_node_ids, program_codes, device_groups, event_type, priority, ba_check, objective, target_mw, max_increase_pct, control_level, override_rules, plan_summary, planned_at, second_approval_required, created_by, submitted_by, approved_by, second_approved_by, denied_by, canceled_by, decision_reason, created_at, updated_at";

/// A stored stage of an event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StageRow {
    pub id: i64,
    pub seq: i32,
    pub external_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub expected_kw: f64,
    pub device_count: i64,
    pub status: String,
}

/// What a new event copies from its strategy.
#[derive(Debug, Clone)]
pub struct NewEventRow<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub strategy_id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub zone_node_ids: &'a str,
    pub program_codes: &'a str,
    pub device_groups: &'a str,
    pub event_type: &'a str,
    pub priority: i32,
    pub ba_check: bool,
    pub objective: &'a str,
    pub target_mw: Option<f64>,
    pub max_increase_pct: Option<f64>,
    pub control_level: &'a str,
    pub override_rules: bool,
    pub created_by: &'a str,
}

pub async fn get_event(db: &Db, id: i64) -> Result<Option<EventRow>, DomainError> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1");
    Ok(with_db!(db, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await?))
}

pub async fn get_event_tx(tx: &mut Tx, id: i64) -> Result<Option<EventRow>, DomainError> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1");
    Ok(with_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await?))
}

/// The newest 500 events, of one status when `status` is not empty.
pub async fn list_events(db: &Db, status: &str) -> Result<Vec<EventRow>, DomainError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE ($1 = '' OR status = $1) ORDER BY starts_at DESC, id DESC LIMIT 500"
    );
    Ok(with_db!(db, |c| sqlx::query_as(&sql)
        .bind(status)
        .fetch_all(c)
        .await?))
}

/// Approved events, and scheduled or running ones whose window has begun, oldest first.
pub async fn due_events(db: &Db, now: DateTime<Utc>) -> Result<Vec<EventRow>, DomainError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events
         WHERE status = 'Approved' OR (status IN ('Scheduled', 'InProgress') AND starts_at <= $1)
         ORDER BY starts_at, id"
    );
    Ok(with_db!(db, |c| sqlx::query_as(&sql)
        .bind(now)
        .fetch_all(c)
        .await?))
}

/// A new event in status `New`; returns its id.
pub async fn insert_event(
    tx: &mut Tx,
    e: &NewEventRow<'_>,
    now: DateTime<Utc>,
) -> Result<i64, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_scalar(
        "INSERT INTO events (code, name, strategy_id, status, starts_at, ends_at, zone_node_ids, program_codes, device_groups,
            event_type, priority, ba_check, objective, target_mw, max_increase_pct, control_level, override_rules,
            created_by, created_at, updated_at)
         VALUES ($1, $2, $3, 'New', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18) RETURNING id"
    )
    .bind(e.code).bind(e.name).bind(e.strategy_id).bind(e.starts_at).bind(e.ends_at)
    .bind(e.zone_node_ids).bind(e.program_codes).bind(e.device_groups).bind(e.event_type)
    .bind(e.priority).bind(e.ba_check).bind(e.objective).bind(e.target_mw).bind(e.max_increase_pct)
    .bind(e.control_level).bind(e.override_rules).bind(e.created_by).bind(now)
    .fetch_one(c)
    .await?
    }))
}

pub async fn set_event_code(tx: &mut Tx, id: i64, code: &str) -> Result<(), DomainError> {
    with_tx!(tx, |c| sqlx::query(
        "UPDATE events SET code = $1 WHERE id = $2"
    )
    .bind(code)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected());
    Ok(())
}

pub async fn stage_count(tx: &mut Tx, event_id: i64) -> Result<i64, DomainError> {
    Ok(with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM event_stages WHERE event_id = $1"
    )
    .bind(event_id)
    .fetch_one(c)
    .await?))
}

/// A status change as the lifecycle decided it: which time column and which actor column
/// (if any) it stamps.
#[derive(Debug, Clone)]
pub struct StatusWrite<'a> {
    pub id: i64,
    /// The status the event must still have (the write is refused otherwise).
    pub from: &'a str,
    pub to: &'a str,
    pub reason: Option<&'a str>,
    /// `submitted_at`, `started_at`, `completed_at`: set to `now`.
    pub time_column: Option<&'static str>,
    /// `submitted_by`, `denied_by`, `canceled_by`, with who did it.
    pub actor_column: Option<(&'static str, &'a str)>,
}

/// Writes the new status; returns how many rows changed (0 when the event moved on meanwhile).
pub async fn update_status(
    tx: &mut Tx,
    w: &StatusWrite<'_>,
    now: DateTime<Utc>,
) -> Result<u64, DomainError> {
    let mut sql = String::from(
        "UPDATE events SET status = $1, updated_at = $2, decision_reason = COALESCE($3, decision_reason)",
    );
    if let Some(col) = w.time_column {
        sql.push_str(&format!(", {col} = $2"));
    }
    if let Some((col, _)) = w.actor_column {
        sql.push_str(&format!(", {col} = $6"));
    }
    sql.push_str(" WHERE id = $4 AND status = $5");
    Ok(with_tx!(tx, |c| {
        let q = sqlx::query(&sql)
            .bind(w.to)
            .bind(now)
            .bind(w.reason)
            .bind(w.id)
            .bind(w.from);
        let q = match w.actor_column {
            Some((_, who)) => q.bind(who),
            None => q,
        };
        q.execute(c).await?.rows_affected()
    }))
}

const STAGE_SQL: &str = "SELECT id, seq, external_id, starts_at, ends_at, expected_kw, CAST(device_count AS BIGINT) AS device_count, status
     FROM event_stages WHERE event_id = $1 ORDER BY seq";

pub async fn stages_tx(tx: &mut Tx, event_id: i64) -> Result<Vec<StageRow>, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_as(STAGE_SQL)
            .bind(event_id)
            .fetch_all(c)
            .await?
    }))
}

pub async fn stages(db: &Db, event_id: i64) -> Result<Vec<StageRow>, DomainError> {
    Ok(with_db!(db, |c| {
        sqlx::query_as(STAGE_SQL)
            .bind(event_id)
            .fetch_all(c)
            .await?
    }))
}

/// The programs that have devices in a stage.
pub async fn stage_programs(tx: &mut Tx, stage_id: i64) -> Result<Vec<String>, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_scalar(
        "SELECT DISTINCT program_code FROM event_stage_devices WHERE stage_id = $1 ORDER BY program_code"
    )
    .bind(stage_id)
    .fetch_all(c)
    .await?
    }))
}

/// The interval time with the largest planned reduction of the open events plus `event_id`
/// together, and that reduction in kW.
pub async fn peak_open_reduction(
    tx: &mut Tx,
    event_id: i64,
) -> Result<Option<(DateTime<Utc>, f64)>, DomainError> {
    Ok(with_tx!(tx, |c| sqlx::query_as(
        "SELECT i.starts_at, SUM(i.baseline_kw - i.planned_kw) AS kw
         FROM event_intervals i JOIN events e ON e.id = i.event_id
         WHERE (e.id = $1 OR e.status IN ('Submitted', 'Approved', 'Scheduled', 'InProgress'))
           AND i.starts_at >= e.starts_at AND i.starts_at < e.ends_at
         GROUP BY i.starts_at
         ORDER BY kw DESC LIMIT 1"
    )
    .bind(event_id)
    .fetch_optional(c)
    .await?))
}

/// Open events of lower (or, with `lower` false, higher) priority than `priority` that share
/// devices with event `id` in a window overlapping `starts_at`..`ends_at`.
pub async fn conflicting_events(
    tx: &mut Tx,
    id: i64,
    priority: i32,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    lower: bool,
) -> Result<Vec<i64>, DomainError> {
    let cmp = if lower { "<" } else { ">" };
    let sql = format!(
        "SELECT e.id FROM events e
         WHERE e.id <> $1 AND e.status IN ('Submitted', 'Approved', 'Scheduled', 'InProgress')
           AND e.priority {cmp} $2 AND e.starts_at < $3 AND e.ends_at > $4
           AND EXISTS (SELECT 1 FROM event_stage_devices o
                       WHERE o.event_id = e.id AND o.grid_device_id IN
                           (SELECT m.grid_device_id FROM event_stage_devices m WHERE m.event_id = $1))
         ORDER BY e.id"
    );
    Ok(with_tx!(tx, |c| sqlx::query_scalar(&sql)
        .bind(id)
        .bind(priority)
        .bind(ends_at)
        .bind(starts_at)
        .fetch_all(c)
        .await?))
}

pub async fn require_second_approval(tx: &mut Tx, id: i64) -> Result<(), DomainError> {
    with_tx!(tx, |c| sqlx::query(
        "UPDATE events SET second_approval_required = TRUE WHERE id = $1"
    )
    .bind(id)
    .execute(c)
    .await?
    .rows_affected());
    Ok(())
}

/// Records the first of two approvals unless one is recorded already; returns rows changed.
pub async fn record_first_approval(
    tx: &mut Tx,
    id: i64,
    who: &str,
    now: DateTime<Utc>,
) -> Result<u64, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query(
        "UPDATE events SET approved_by = $1, approved_at = $2, updated_at = $2 WHERE id = $3 AND approved_by IS NULL"
    )
    .bind(who)
    .bind(now)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected()
    }))
}

/// Records the approval that lets the event go ahead: the second one when `second`.
pub async fn record_approval(
    tx: &mut Tx,
    id: i64,
    second: bool,
    who: &str,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let col = if second {
        "second_approved"
    } else {
        "approved"
    };
    let sql = format!("UPDATE events SET {col}_by = $1, {col}_at = $2 WHERE id = $3");
    with_tx!(tx, |c| sqlx::query(&sql)
        .bind(who)
        .bind(now)
        .bind(id)
        .execute(c)
        .await?
        .rows_affected());
    Ok(())
}

/// Cancels the event's stages that had not completed, and marks its devices without an
/// outcome `D1CN`.
pub async fn cancel_stages(tx: &mut Tx, event_id: i64) -> Result<(), DomainError> {
    with_tx!(tx, |c| sqlx::query(
        "UPDATE event_stages SET status = 'canceled' WHERE event_id = $1 AND status <> 'completed'"
    )
    .bind(event_id)
    .execute(c)
    .await?
    .rows_affected());
    with_tx!(tx, |c| sqlx::query(
        "UPDATE event_stage_devices SET outcome = 'D1CN' WHERE event_id = $1 AND outcome IS NULL"
    )
    .bind(event_id)
    .execute(c)
    .await?
    .rows_affected());
    Ok(())
}

/// A device reserved in an event, not yet finished, with its stage.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReservationRow {
    pub id: i64,
    pub event_id: i64,
    pub stage_id: i64,
    pub expected_kw: f64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub external_id: String,
    /// What the reservation is published under over OpenADR (when the device has an
    /// aggregator and the event is published): its program, aggregator and event status.
    pub program_code: String,
    pub aggregator_ref: Option<String>,
    pub event_status: String,
}

/// The open reservation of a device (by head-end and NIC id) in the event `event_code`.
pub async fn open_reservation(
    tx: &mut Tx,
    event_code: &str,
    head_end: &str,
    nic_id: &str,
) -> Result<Option<ReservationRow>, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_as(
        "SELECT d.id, d.event_id, d.stage_id, d.expected_kw, s.starts_at, s.ends_at, s.external_id,
                d.program_code, g.aggregator_ref, e.status AS event_status
         FROM event_stage_devices d JOIN events e ON e.id = d.event_id JOIN event_stages s ON s.id = d.stage_id
         JOIN grid_devices g ON g.id = d.grid_device_id
         WHERE e.code = $1 AND g.head_end = $2 AND g.nic_id = $3 AND d.status = 'reserved' AND d.outcome IS NULL"
    )
    .bind(event_code)
    .bind(head_end)
    .bind(nic_id)
    .fetch_optional(c)
    .await?
    }))
}

/// Releases a reservation: the device is opted out, its stage expects `kw` less from one
/// device fewer, and the planned load of the stage's intervals rises by `kw`.
pub async fn release_reservation(tx: &mut Tx, r: &ReservationRow) -> Result<(), DomainError> {
    with_tx!(tx, |c| sqlx::query(
        "UPDATE event_stage_devices SET status = 'opted_out' WHERE id = $1"
    )
    .bind(r.id)
    .execute(c)
    .await?
    .rows_affected());
    with_tx!(tx, |c| {
        sqlx::query(
        "UPDATE event_stages SET expected_kw = expected_kw - $1, device_count = device_count - 1 WHERE id = $2"
    )
    .bind(r.expected_kw)
    .bind(r.stage_id)
    .execute(c)
    .await?
    .rows_affected()
    });
    with_tx!(tx, |c| {
        sqlx::query(
        "UPDATE event_intervals SET planned_kw = planned_kw + $1 WHERE event_id = $2 AND starts_at >= $3 AND starts_at < $4"
    )
    .bind(r.expected_kw)
    .bind(r.event_id)
    .bind(r.starts_at)
    .bind(r.ends_at)
    .execute(c)
    .await?
    .rows_affected()
    });
    Ok(())
}

/// (event, stages, devices, peak planned reduction in kW) of each of the events.
pub async fn event_counts(db: &Db, ids: &[i64]) -> Result<Vec<(i64, i64, i64, f64)>, DomainError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    // Ids are integers, so they go into the statement as they are.
    let sql = format!(
        "SELECT e.id,
                (SELECT COUNT(*) FROM event_stages s WHERE s.event_id = e.id),
                (SELECT COUNT(*) FROM event_stage_devices d WHERE d.event_id = e.id),
                COALESCE((SELECT MAX(i.baseline_kw - i.planned_kw) FROM event_intervals i
                          WHERE i.event_id = e.id AND i.starts_at < e.ends_at), 0.0)
         FROM events e WHERE e.id IN ({})",
        ids.join(", ")
    );
    Ok(with_db!(db, |c| sqlx::query_as(&sql).fetch_all(c).await?))
}

/// (start, baseline kW, planned kW, actual kW) of the event's intervals in order.
pub async fn intervals(
    db: &Db,
    event_id: i64,
) -> Result<Vec<(DateTime<Utc>, f64, f64, Option<f64>)>, DomainError> {
    Ok(with_db!(db, |c| {
        sqlx::query_as(
        "SELECT starts_at, baseline_kw, planned_kw, actual_kw FROM event_intervals WHERE event_id = $1 ORDER BY idx"
    )
    .bind(event_id)
    .fetch_all(c)
    .await?
    }))
}

/// (outcome, devices) of the event's devices that have an outcome.
pub async fn reported_outcomes(db: &Db, event_id: i64) -> Result<Vec<(String, i64)>, DomainError> {
    Ok(with_db!(db, |c| {
        sqlx::query_as(
        "SELECT outcome, COUNT(*) FROM event_stage_devices WHERE event_id = $1 AND outcome IS NOT NULL GROUP BY outcome ORDER BY outcome"
    )
    .bind(event_id)
    .fetch_all(c)
    .await?
    }))
}

/// A device of a stage, as the stage page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StageDeviceRow {
    pub id: i64,
    pub head_end: String,
    pub nic_id: String,
    pub program_code: String,
    pub device_type: String,
    pub expected_kw: f64,
    pub status: String,
    pub outcome: Option<String>,
    pub actual_kw: Option<f64>,
}

/// Up to `limit` devices of the stage after the row id `after` (keyset page).
pub async fn stage_devices(
    db: &Db,
    stage_id: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<StageDeviceRow>, DomainError> {
    Ok(with_db!(db, |c| {
        sqlx::query_as(
        "SELECT d.id, g.head_end, g.nic_id, d.program_code, g.device_type, d.expected_kw, d.status, d.outcome, d.actual_kw
         FROM event_stage_devices d JOIN grid_devices g ON g.id = d.grid_device_id
         WHERE d.stage_id = $1 AND d.id > $2 ORDER BY d.id LIMIT $3"
    )
    .bind(stage_id)
    .bind(after)
    .bind(limit)
    .fetch_all(c)
    .await?
    }))
}
