//! The stored results, as the console, the reports and the billing export read them: per
//! enrollment, per quarter hour, per run and per customer's season.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::compute::season_bounds;
use super::read::program_by_code;
use crate::calendar::Calendar;
use crate::db::Db;
use crate::error::DomainError;
use crate::with_db;

/// Results of one program part of an event, per enrollment.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct SettlementRow {
    pub program_code: String,
    pub event_code: String,
    pub enrollment_id: i64,
    pub customer_id: i64,
    pub account_id: String,
    pub service_point_id: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub devices: i32,
    /// `settled`, `opted_out`, `no_baseline` or `no_data`.
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
    /// Average price per kWh (consumption) or the rate per kW (demand).
    pub rate: f64,
    pub credit: f64,
    /// False while an end-of-season program's season is not settled.
    pub posted: bool,
    pub version: i32,
    pub settled_at: DateTime<Utc>,
    /// The enrollment's share of its premise meter's savings: 1 alone at the meter, 0 if it
    /// did not take part, else its part of the dispatched kW of those that did.
    pub meter_share: f64,
}

/// The settled enrollments of a program part of an event, summed per quarter hour.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct IntervalTotal {
    pub program_code: String,
    pub interval_start: DateTime<Utc>,
    pub baseline_kwh: f64,
    pub actual_kwh: f64,
    pub enrollments: i32,
}

/// One settlement run.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct RunRow {
    pub id: i64,
    pub program_code: String,
    /// `event` or `season`.
    pub kind: String,
    pub event_code: Option<String>,
    pub season_start: NaiveDate,
    pub season_end: NaiveDate,
    pub run_by: String,
    pub run_at: DateTime<Utc>,
    pub enrollments: i32,
    pub settled: i32,
    pub changed: i32,
    pub kwh_avoided: f64,
    pub credit: f64,
}

/// A customer's season in one program.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct CustomerSeason {
    pub program_code: String,
    pub customer_id: i64,
    pub account_id: String,
    /// Events the customer was reserved in.
    pub events: i64,
    /// Of those, events with a measured result.
    pub settled_events: i64,
    pub kwh_avoided: f64,
    pub credit: f64,
    /// The part of `credit` that is posted for billing.
    pub posted_credit: f64,
}

const ROW_COLUMNS: &str = "p.code AS program_code, s.event_code, s.enrollment_id, s.customer_id, c.account_id,
    s.service_point_id, s.window_start, s.window_end, s.devices, s.status, s.reason, s.baseline_method,
    s.baseline_days, s.adjustment, s.baseline_kwh, s.actual_kwh, s.kwh_avoided, s.kw_drop_max,
    s.kw_drop_min, s.kw_drop_avg, s.settlement_method, s.rate, s.credit, s.posted, s.version, s.settled_at, s.meter_share";

/// The stored results of an event, optionally for one program, by program and enrollment.
pub async fn event_results(
    db: &Db,
    event_code: &str,
    program_code: Option<&str>,
) -> Result<Vec<SettlementRow>, DomainError> {
    let sql = format!(
        "SELECT {ROW_COLUMNS} FROM settlements s JOIN programs p ON p.id = s.program_id
         JOIN customers c ON c.id = s.customer_id
         WHERE s.event_code = $1 AND ($2 IS NULL OR p.code = $2)
         ORDER BY p.code, s.enrollment_id"
    );
    Ok(with_db!(db, |c| sqlx::query_as::<_, SettlementRow>(&sql)
        .bind(event_code)
        .bind(program_code)
        .fetch_all(c)
        .await?))
}

/// A page of an event's results (all programs), and how many there are.
pub async fn event_results_page(
    db: &Db,
    event_code: &str,
    offset: i64,
    limit: i64,
) -> Result<(Vec<SettlementRow>, i64), DomainError> {
    let sql = format!(
        "SELECT {ROW_COLUMNS} FROM settlements s JOIN programs p ON p.id = s.program_id
         JOIN customers c ON c.id = s.customer_id
         WHERE s.event_code = $1 ORDER BY p.code, s.enrollment_id LIMIT $2 OFFSET $3"
    );
    let rows = with_db!(db, |c| sqlx::query_as::<_, SettlementRow>(&sql)
        .bind(event_code)
        .bind(limit)
        .bind(offset)
        .fetch_all(c)
        .await?);
    let total: i64 = with_db!(db, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM settlements WHERE event_code = $1"
    )
    .bind(event_code)
    .fetch_one(c)
    .await?);
    Ok((rows, total))
}

/// The quarter-hour sums of an event's settled enrollments, by program and time.
pub async fn event_intervals(db: &Db, event_code: &str) -> Result<Vec<IntervalTotal>, DomainError> {
    Ok(with_db!(db, |c| {
        sqlx::query_as::<_, IntervalTotal>(
        "SELECT p.code AS program_code, i.interval_start, i.baseline_kwh, i.actual_kwh, i.enrollments
         FROM settlement_intervals i JOIN programs p ON p.id = i.program_id
         WHERE i.event_code = $1 ORDER BY p.code, i.interval_start"
    )
    .bind(event_code)
    .fetch_all(c)
    .await?
    }))
}

/// Settlement runs, newest first, for an event and/or a program (both optional).
pub async fn runs(
    db: &Db,
    event_code: Option<&str>,
    program_code: Option<&str>,
    limit: i64,
) -> Result<Vec<RunRow>, DomainError> {
    Ok(with_db!(db, |c| sqlx::query_as::<_, RunRow>(
        "SELECT r.id, p.code AS program_code, r.kind, r.event_code, r.season_start, r.season_end,
                r.run_by, r.run_at, r.enrollments, r.settled, r.changed, r.kwh_avoided, r.credit
         FROM settlement_runs r JOIN programs p ON p.id = r.program_id
         WHERE ($1 IS NULL OR r.event_code = $1) AND ($2 IS NULL OR p.code = $2)
         ORDER BY r.id DESC LIMIT $3"
    )
    .bind(event_code)
    .bind(program_code)
    .bind(limit)
    .fetch_all(c)
    .await?))
}

/// Per customer, the program's season so far: events whose window lies in the season.
pub async fn season_summary(
    db: &Db,
    cal: Calendar,
    program_code: &str,
) -> Result<Vec<CustomerSeason>, DomainError> {
    let program = program_by_code(db, program_code).await?;
    let (from, to) = season_bounds(cal, &program);
    Ok(with_db!(db, |c| {
        sqlx::query_as::<_, CustomerSeason>(
        "SELECT p.code AS program_code, s.customer_id, c.account_id,
                COUNT(DISTINCT s.event_code) AS events,
                COUNT(DISTINCT CASE WHEN s.status = 'settled' THEN s.event_code END) AS settled_events,
                COALESCE(SUM(s.kwh_avoided), 0.0) AS kwh_avoided,
                COALESCE(SUM(s.credit), 0.0) AS credit,
                COALESCE(SUM(CASE WHEN s.posted THEN s.credit ELSE 0.0 END), 0.0) AS posted_credit
         FROM settlements s JOIN programs p ON p.id = s.program_id
         JOIN customers c ON c.id = s.customer_id
         WHERE p.id = $1 AND s.window_start >= $2 AND s.window_start < $3
         GROUP BY p.code, s.customer_id, c.account_id
         ORDER BY c.account_id"
    )
    .bind(program.id)
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await?
    }))
}

/// The billing export: a header, then one line per customer of the season.
pub fn billing_csv(
    rows: &[CustomerSeason],
    season_start: NaiveDate,
    season_end: NaiveDate,
) -> Result<String, DomainError> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(64 + rows.len() * 80));
    let fail = |e: csv::Error| DomainError::Internal(format!("billing CSV: {e}"));
    w.write_record(crate::csv_out::safe([
        "account_id",
        "program_code",
        "season_start",
        "season_end",
        "events",
        "settled_events",
        "kwh_avoided",
        "credit",
        "posted_credit",
    ]))
    .map_err(fail)?;
    for r in rows {
        let credit = crate::figures::customer_credit(r);
        w.write_record(crate::csv_out::safe([
            r.account_id.clone(),
            r.program_code.clone(),
            season_start.to_string(),
            season_end.to_string(),
            r.events.to_string(),
            r.settled_events.to_string(),
            format!("{:.3}", r.kwh_avoided),
            format!("{:.2}", credit.total),
            format!("{:.2}", credit.posted),
        ]))
        .map_err(fail)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| DomainError::Internal(format!("billing CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| DomainError::Internal(format!("billing CSV: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_csv_quotes_fields_and_rounds_money() {
        let rows = vec![CustomerSeason {
            program_code: "SMT-BYOD".into(),
            customer_id: 1,
            account_id: "ACC,1".into(),
            events: 2,
            settled_events: 1,
            kwh_avoided: 1.23456,
            credit: 0.305,
            posted_credit: 0.305,
        }];
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let csv = billing_csv(&rows, d("2026-06-01"), d("2026-09-30")).unwrap();
        let line = csv.lines().nth(1).unwrap();
        assert!(line.starts_with("\"ACC,1\",SMT-BYOD,2026-06-01,2026-09-30,2,1,1.235,"));
    }
}
