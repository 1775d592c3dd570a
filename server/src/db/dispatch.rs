//! What the event scheduler reads and writes (grid side): the devices of a stage with their
//! head-end keys, stage status steps, device outcomes and the actual load of intervals.

use chrono::{DateTime, Utc};

use crate::db::Tx;
use crate::error::DomainError;
use crate::with_tx;

/// A device reserved in a stage, for the reservation message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReservedDeviceRow {
    pub program_code: String,
    pub head_end: String,
    pub nic_id: String,
    pub enrollment_id: i64,
    pub expected_kw: f64,
}

/// The stage's reserved devices, by program.
pub async fn reserved_devices(
    tx: &mut Tx,
    stage_id: i64,
) -> Result<Vec<ReservedDeviceRow>, DomainError> {
    Ok(with_tx!(tx, |c| sqlx::query_as(
        "SELECT d.program_code, g.head_end, g.nic_id, g.enrollment_id, d.expected_kw
             FROM event_stage_devices d JOIN grid_devices g ON g.id = d.grid_device_id
             WHERE d.stage_id = $1 AND d.status = 'reserved' ORDER BY d.program_code, d.id"
    )
    .bind(stage_id)
    .fetch_all(c)
    .await?))
}

/// A device's outcome in a stage (`D1ER` when none was reported).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeviceOutcomeRow {
    pub program_code: String,
    pub head_end: String,
    pub nic_id: String,
    pub outcome: String,
    pub participation_start: Option<DateTime<Utc>>,
    pub participation_end: Option<DateTime<Utc>>,
}

/// Every device of the stage with its outcome, by program.
pub async fn device_outcomes(
    tx: &mut Tx,
    stage_id: i64,
) -> Result<Vec<DeviceOutcomeRow>, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_as(
        "SELECT d.program_code, g.head_end, g.nic_id, COALESCE(d.outcome, 'D1ER') AS outcome, d.participation_start, d.participation_end
         FROM event_stage_devices d JOIN grid_devices g ON g.id = d.grid_device_id
         WHERE d.stage_id = $1 ORDER BY d.program_code, d.id"
    )
    .bind(stage_id)
    .fetch_all(c)
    .await?
    }))
}

/// The event's planned stages become scheduled.
pub async fn schedule_stages(tx: &mut Tx, event_id: i64) -> Result<(), DomainError> {
    with_tx!(tx, |c| sqlx::query(
        "UPDATE event_stages SET status = 'scheduled' WHERE event_id = $1 AND status = 'planned'"
    )
    .bind(event_id)
    .execute(c)
    .await?
    .rows_affected());
    Ok(())
}

/// Sets one stage's status (`in_progress`, `completed`).
pub async fn set_stage_status(tx: &mut Tx, stage_id: i64, status: &str) -> Result<(), DomainError> {
    with_tx!(tx, |c| sqlx::query(
        "UPDATE event_stages SET status = $2 WHERE id = $1"
    )
    .bind(stage_id)
    .bind(status)
    .execute(c)
    .await?
    .rows_affected());
    Ok(())
}

/// How many of the event's stages are planned, scheduled or running.
pub async fn open_stage_count(tx: &mut Tx, event_id: i64) -> Result<i64, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_scalar(
        "SELECT COUNT(*) FROM event_stages WHERE event_id = $1 AND status IN ('planned', 'scheduled', 'in_progress')"
    )
    .bind(event_id)
    .fetch_one(c)
    .await?
    }))
}

/// (outcome, devices) of the event; `None` for devices without an outcome yet.
pub async fn outcome_counts(
    tx: &mut Tx,
    event_id: i64,
) -> Result<Vec<(Option<String>, i64)>, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_as(
        "SELECT outcome, COUNT(*) FROM event_stage_devices WHERE event_id = $1 GROUP BY outcome ORDER BY outcome"
    )
    .bind(event_id)
    .fetch_all(c)
    .await?
    }))
}

/// (delivered kW, expected kW) of the event's devices that have an outcome.
pub async fn delivered_and_expected(
    tx: &mut Tx,
    event_id: i64,
) -> Result<(Option<f64>, Option<f64>), DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_as(
        "SELECT SUM(actual_kw), SUM(expected_kw) FROM event_stage_devices WHERE event_id = $1 AND outcome IS NOT NULL"
    )
    .bind(event_id)
    .fetch_one(c)
    .await?
    }))
}

/// (index, baseline kW, planned kW) of the event's intervals starting at or before `until`
/// that have no actual load yet.
pub async fn intervals_without_actuals(
    tx: &mut Tx,
    event_id: i64,
    until: DateTime<Utc>,
) -> Result<Vec<(i32, f64, f64)>, DomainError> {
    Ok(with_tx!(tx, |c| sqlx::query_as(
        "SELECT idx, baseline_kw, planned_kw FROM event_intervals
         WHERE event_id = $1 AND actual_kw IS NULL AND starts_at <= $2 ORDER BY idx"
    )
    .bind(event_id)
    .bind(until)
    .fetch_all(c)
    .await?))
}

pub async fn set_interval_actual(
    tx: &mut Tx,
    event_id: i64,
    idx: i32,
    actual_kw: f64,
) -> Result<(), DomainError> {
    with_tx!(tx, |c| sqlx::query(
        "UPDATE event_intervals SET actual_kw = $1 WHERE event_id = $2 AND idx = $3"
    )
    .bind(actual_kw)
    .bind(event_id)
    .bind(idx)
    .execute(c)
    .await?
    .rows_affected());
    Ok(())
}

/// How the simulated head-end answers: cumulative thresholds out of 10,000 on a hash of the
/// device row and the seed (below `success`: success; then non-response; then override;
/// the rest are errors).
#[derive(Debug, Clone, Copy)]
pub struct SimulatedAnswers {
    pub seed: i64,
    pub success: i64,
    pub non_responsive: i64,
    pub override_: i64,
}

/// Answers a stage's dispatch for every device still without an outcome: its outcome,
/// actual kW and participation times (overridden devices leave at `midpoint`). Returns
/// how many devices were answered.
pub async fn answer_stage(
    tx: &mut Tx,
    stage_id: i64,
    a: SimulatedAnswers,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    midpoint: DateTime<Utc>,
) -> Result<u64, DomainError> {
    let h = "((id * 2654435761 + $1) % 10000)";
    let sql = format!(
        "UPDATE event_stage_devices SET
           outcome = CASE WHEN status = 'opted_out' THEN 'D1CN' WHEN {h} < $2 THEN 'D1SP'
                          WHEN {h} < $3 THEN 'D1ND' WHEN {h} < $4 THEN 'D1IO' ELSE 'D1ER' END,
           actual_kw = CASE WHEN status = 'opted_out' THEN 0.0
                            WHEN {h} < $2 THEN expected_kw * (0.85 + ({h} % 31) / 100.0)
                            WHEN {h} < $3 THEN 0.0 WHEN {h} < $4 THEN expected_kw * 0.5 ELSE 0.0 END,
           participation_start = CASE WHEN status = 'reserved' AND ({h} < $2 OR ({h} >= $3 AND {h} < $4)) THEN $5 ELSE NULL END,
           participation_end = CASE WHEN status = 'reserved' AND {h} < $2 THEN $6
                                    WHEN status = 'reserved' AND {h} >= $3 AND {h} < $4 THEN $7 ELSE NULL END
         WHERE stage_id = $8 AND outcome IS NULL"
    );
    Ok(with_tx!(tx, |c| sqlx::query(&sql)
        .bind(a.seed)
        .bind(a.success)
        .bind(a.success + a.non_responsive)
        .bind(a.success + a.non_responsive + a.override_)
        .bind(starts_at)
        .bind(ends_at)
        .bind(midpoint)
        .bind(stage_id)
        .execute(c)
        .await?
        .rows_affected()))
}
