//! What the settlement overview reads (program side): program events' stages, settlement
//! totals per event, programs' settlement settings, and a part's stored results as the
//! audit digest of a run covers them.

use chrono::{DateTime, NaiveDate, Utc};

use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

/// (event, program, status, starts, ends) of every program event, or of one event's.
pub async fn program_event_stages(
    db: &Db,
    only: Option<&str>,
) -> Result<Vec<(String, String, String, DateTime<Utc>, DateTime<Utc>)>, DomainError> {
    Ok(with_db!(db, |c| sqlx::query_as(
        "SELECT event_external_id, program_code, status, starts_at, ends_at FROM program_events
             WHERE $1 IS NULL OR event_external_id = $1"
    )
    .bind(only)
    .fetch_all(c)
    .await?))
}

/// Settlement totals of one event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventTotalsRow {
    pub event_code: String,
    pub enrollments: i64,
    pub settled: i64,
    pub kwh_avoided: f64,
    pub settled_at: Option<DateTime<Utc>>,
}

/// Settlement totals per event, or of one event.
pub async fn event_totals(db: &Db, only: Option<&str>) -> Result<Vec<EventTotalsRow>, DomainError> {
    Ok(with_db!(db, |c| {
        sqlx::query_as(
        "SELECT event_code, COUNT(*) AS enrollments, SUM(CASE WHEN status = 'settled' THEN 1 ELSE 0 END) AS settled,
                    COALESCE(SUM(kwh_avoided), 0.0) AS kwh_avoided, MAX(settled_at) AS settled_at
             FROM settlements WHERE $1 IS NULL OR event_code = $1 GROUP BY event_code"
    )
    .bind(only)
    .fetch_all(c)
    .await?
    }))
}

/// (event, program, Σ credit, Σ posted credit) of the stored settlement results, per event
/// and program, optionally of one event and/or one program: the one read behind every
/// credit figure (see [`crate::figures::Credit`]).
pub async fn credit_sums(
    db: &Db,
    event_code: Option<&str>,
    program_code: Option<&str>,
) -> Result<Vec<(String, String, f64, f64)>, DomainError> {
    Ok(with_db!(db, |c| {
        sqlx::query_as(
            "SELECT s.event_code, p.code, COALESCE(SUM(s.credit), 0.0),
                COALESCE(SUM(CASE WHEN s.posted THEN s.credit ELSE 0.0 END), 0.0)
             FROM settlements s JOIN programs p ON p.id = s.program_id
             WHERE ($1 IS NULL OR s.event_code = $1) AND ($2 IS NULL OR p.code = $2)
             GROUP BY s.event_code, p.code ORDER BY s.event_code, p.code",
        )
        .bind(event_code)
        .bind(program_code)
        .fetch_all(c)
        .await?
    }))
}

/// A program's settlement settings.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProgramSettlementRow {
    pub code: String,
    pub name: String,
    pub settlement_method: String,
    pub settlement_timing: String,
    pub baseline_method: String,
    pub credit_rate: f64,
    pub season_start: NaiveDate,
    pub season_end: NaiveDate,
}

/// Every program's settlement settings, or one program's, by code.
pub async fn program_settlements(
    db: &Db,
    only: Option<&str>,
) -> Result<Vec<ProgramSettlementRow>, DomainError> {
    Ok(with_db!(db, |c| {
        sqlx::query_as(
        "SELECT code, name, settlement_method, settlement_timing, baseline_method, credit_rate, season_start, season_end
         FROM programs WHERE $1 IS NULL OR code = $1 ORDER BY code"
    )
    .bind(only)
    .fetch_all(c)
    .await?
    }))
}

/// A stored settlement result, every column, as the audit digest of a run covers it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ResultRow {
    pub program_id: i64,
    pub event_code: String,
    pub enrollment_id: i64,
    pub customer_id: i64,
    pub service_point_id: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub devices: i32,
    pub status: String,
    pub reason: Option<String>,
    pub baseline_method: String,
    pub baseline_days: i32,
    pub adjustment: f64,
    pub baseline_kwh: f64,
    pub actual_kwh: f64,
    pub kwh_avoided: f64,
    pub kw_drop_max: f64,
    pub kw_drop_min: f64,
    pub kw_drop_avg: f64,
    pub settlement_method: String,
    pub rate: f64,
    pub credit: f64,
    pub posted: bool,
    pub version: i32,
    pub run_id: i64,
    pub settled_at: DateTime<Utc>,
    /// The enrollment's share of its premise meter's savings (1 when alone at it).
    pub meter_share: f64,
}

/// The results of a program's part of an event, in enrollment order (the digest's order).
const RESULT_ROWS: &str = "SELECT program_id, event_code, enrollment_id, customer_id, service_point_id,
        window_start, window_end, devices, status, reason, baseline_method, baseline_days, adjustment,
        baseline_kwh, actual_kwh, kwh_avoided, kw_drop_max, kw_drop_min, kw_drop_avg, settlement_method,
        rate, credit, posted, version, run_id, settled_at, meter_share
     FROM settlements WHERE program_id = $1 AND event_code = $2 ORDER BY enrollment_id";

/// Every stored result of `program_id`'s part of `event_code`, in enrollment order, read in
/// the writer's transaction.
pub async fn result_rows_tx(
    tx: &mut Tx,
    program_id: i64,
    event_code: &str,
) -> Result<Vec<ResultRow>, DomainError> {
    Ok(with_tx!(tx, |c| sqlx::query_as(RESULT_ROWS)
        .bind(program_id)
        .bind(event_code)
        .fetch_all(c)
        .await?))
}

/// [`result_rows_tx`] outside a transaction (the audit check).
pub async fn result_rows(
    db: &Db,
    program_id: i64,
    event_code: &str,
) -> Result<Vec<ResultRow>, DomainError> {
    Ok(with_db!(db, |c| sqlx::query_as(RESULT_ROWS)
        .bind(program_id)
        .bind(event_code)
        .fetch_all(c)
        .await?))
}

impl ResultRow {
    /// The canonical fields the digest hashes, in column order. The meter share is hashed
    /// unless it is 1 (every result stored before meters were shared), so the digests of
    /// those runs still verify and any other share, or a change to or from 1, is covered.
    pub fn digest_fields(&self) -> Vec<Option<String>> {
        use crate::db::audit::{float_field, time_field};
        let mut fields = vec![
            Some(self.program_id.to_string()),
            Some(self.event_code.clone()),
            Some(self.enrollment_id.to_string()),
            Some(self.customer_id.to_string()),
            Some(self.service_point_id.clone()),
            Some(time_field(&self.window_start)),
            Some(time_field(&self.window_end)),
            Some(self.devices.to_string()),
            Some(self.status.clone()),
            self.reason.clone(),
            Some(self.baseline_method.clone()),
            Some(self.baseline_days.to_string()),
            Some(float_field(self.adjustment)),
            Some(float_field(self.baseline_kwh)),
            Some(float_field(self.actual_kwh)),
            Some(float_field(self.kwh_avoided)),
            Some(float_field(self.kw_drop_max)),
            Some(float_field(self.kw_drop_min)),
            Some(float_field(self.kw_drop_avg)),
            Some(self.settlement_method.clone()),
            Some(float_field(self.rate)),
            Some(float_field(self.credit)),
            Some(self.posted.to_string()),
            Some(self.version.to_string()),
            Some(self.run_id.to_string()),
            Some(time_field(&self.settled_at)),
        ];
        if self.meter_share != 1.0 {
            fields.push(Some(float_field(self.meter_share)));
        }
        fields
    }
}
