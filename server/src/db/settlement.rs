//! What the settlement overview reads (program side): program events' stages, settlement
//! totals per event and programs' settlement settings.

use chrono::{DateTime, NaiveDate, Utc};

use crate::db::Db;
use crate::error::DomainError;
use crate::with_db;

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
    pub credit: f64,
    pub provisional_credit: f64,
    pub settled_at: Option<DateTime<Utc>>,
}

/// Settlement totals per event, or of one event.
pub async fn event_totals(db: &Db, only: Option<&str>) -> Result<Vec<EventTotalsRow>, DomainError> {
    Ok(with_db!(db, |c| {
        sqlx::query_as(
        "SELECT event_code, COUNT(*) AS enrollments, SUM(CASE WHEN status = 'settled' THEN 1 ELSE 0 END) AS settled,
                    COALESCE(SUM(kwh_avoided), 0.0) AS kwh_avoided, COALESCE(SUM(credit), 0.0) AS credit,
                    COALESCE(SUM(CASE WHEN posted THEN 0.0 ELSE credit END), 0.0) AS provisional_credit, MAX(settled_at) AS settled_at
             FROM settlements WHERE $1 IS NULL OR event_code = $1 GROUP BY event_code"
    )
    .bind(only)
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
