//! Settlement: what each customer delivered in an event, and the credit it earns.
//!
//! One *settlement* is one program's part of one event for one enrollment (a customer's
//! service point in a program). Documented choices (also in the README, "Settlement"):
//! - Only events the program side has seen complete (`F1CO`) are settled. An enrollment's
//!   window runs from the earliest start to the latest end of the stages its devices were
//!   reserved in, on the quarter-hour grid.
//! - An enrollment whose devices all opted out, or were all released (`D1CN`), is recorded as
//!   `opted_out` with no credit.
//! - The baseline is the program's method ([`baseline`](super::baseline)); the days excluded
//!   from it are the enrollment's other event days. Energy is read at watt-hour resolution.
//!   Too few baseline days is `no_baseline`; a missing event-day interval is `no_data`. Both
//!   carry the reason and no credit; settling again once data arrives is a recalculation.
//! - Consumption-based credit: Σ over the window's quarter hours of kWh avoided × that
//!   interval's price (`settlement_prices`, else the program's `credit_rate` per kWh).
//!   Demand-based credit: average kW drop × `credit_rate` per kW. Never below zero; rounded
//!   to the cent.
//! - Programs settled per event post their credits when settled; end-of-season programs hold
//!   them as provisional until the season is settled ([`settle_season`]).
//! - A run writes, in one transaction: the run, the results that are new or changed, the
//!   summed quarter hours, an audit row per new result (`settlement.settle`), an audit row
//!   per changed result with before and after (`settlement.recalculate`), and one for the run
//!   (`settlement.run`). An unchanged result is not rewritten.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc, Weekday};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;

use super::baseline::{self, DayProfile, Method, ADJUSTMENT_GAP_HOURS, ADJUSTMENT_HOURS};
use super::meter_days;
use crate::calendar::align as floor_quarter;
use crate::db::audit::{append_many, NewAuditEntry};
use crate::db::{insert_rows, Arg, Db, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

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
    s.kw_drop_min, s.kw_drop_avg, s.settlement_method, s.rate, s.credit, s.posted, s.version, s.settled_at";

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
    program_code: &str,
) -> Result<Vec<CustomerSeason>, DomainError> {
    let program = program_by_code(db, program_code).await?;
    let (from, to) = season_bounds(&program);
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
        w.write_record(crate::csv_out::safe([
            r.account_id.clone(),
            r.program_code.clone(),
            season_start.to_string(),
            season_end.to_string(),
            r.events.to_string(),
            r.settled_events.to_string(),
            format!("{:.3}", r.kwh_avoided),
            format!("{:.2}", r.credit),
            format!("{:.2}", r.posted_credit),
        ]))
        .map_err(fail)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| DomainError::Internal(format!("billing CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| DomainError::Internal(format!("billing CSV: {e}")))
}

/// The program fields settlement needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProgramTerms {
    pub id: i64,
    pub code: String,
    pub settlement_method: String,
    pub settlement_timing: String,
    pub baseline_method: String,
    pub credit_rate: f64,
    pub season_start: NaiveDate,
    pub season_end: NaiveDate,
}

pub async fn program_by_code(db: &Db, code: &str) -> Result<ProgramTerms, DomainError> {
    let found: Option<ProgramTerms> = with_db!(db, |c| {
        sqlx::query_as(
        "SELECT id, code, settlement_method, settlement_timing, baseline_method, credit_rate, season_start, season_end
         FROM programs WHERE code = $1"
    )
    .bind(code)
    .fetch_optional(c)
    .await?
    });
    found.ok_or_else(|| DomainError::not_found(format!("program `{code}`")))
}

/// The season as a UTC range of window starts: from the first local day to the day after
/// the last.
fn season_bounds(p: &ProgramTerms) -> (DateTime<Utc>, DateTime<Utc>) {
    let at = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0).expect("midnight").and_utc() - Duration::hours(LOCAL_OFFSET_HOURS)
    };
    (at(p.season_start), at(p.season_end + Duration::days(1)))
}

use crate::calendar::LOCAL_OFFSET_HOURS;

/// The service territory's local date of an instant.
pub fn local_date(t: DateTime<Utc>) -> NaiveDate {
    (t.naive_utc() + Duration::hours(LOCAL_OFFSET_HOURS)).date()
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub run_id: i64,
    pub program_code: String,
    pub event_code: Option<String>,
    pub enrollments: usize,
    pub settled: usize,
    pub unchanged: usize,
    pub new: usize,
    pub changed: usize,
    pub kwh_avoided: f64,
    pub credit: f64,
}

// ---------------------------------------------------------------------------------------
// Settling
// ---------------------------------------------------------------------------------------

/// A stage of the event on the program side.
#[derive(Debug, Clone, sqlx::FromRow)]
struct StagePart {
    external_id: String,
    program_code: String,
    status: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
}

/// A reserved device with its enrollment.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Participant {
    external_id: String,
    enrollment_id: i64,
    customer_id: i64,
    service_point_id: String,
    outcome: Option<String>,
    opted_out: bool,
}

/// An enrollment's part in the event.
#[derive(Debug, Clone)]
struct Part {
    enrollment_id: i64,
    customer_id: i64,
    service_point_id: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    devices: i32,
    opted_out: bool,
}

fn ceil_quarter(t: DateTime<Utc>) -> DateTime<Utc> {
    let f = floor_quarter(t);
    if f == t && t.nanosecond() == 0 {
        t
    } else {
        f + Duration::minutes(15)
    }
}

/// Settles every program part of a completed event (see the module documentation).
pub async fn settle_event(
    db: &Db,
    actor: &str,
    event_code: &str,
    now: DateTime<Utc>,
) -> Result<Vec<RunSummary>, DomainError> {
    let stages = stage_parts(db, event_code).await?;
    if stages.is_empty() {
        return Err(DomainError::not_found(format!(
            "event `{event_code}` on the program side"
        )));
    }
    if let Some(open) = stages
        .iter()
        .find(|s| s.status != "F1CO" && s.status != "F1CN")
    {
        return Err(DomainError::Conflict(format!(
            "event {event_code} has not ended (stage {} is {}); it is settled once it is completed",
            open.external_id, open.status
        )));
    }
    let programs: BTreeSet<&str> = stages
        .iter()
        .filter(|s| s.status == "F1CO")
        .map(|s| s.program_code.as_str())
        .collect();
    if programs.is_empty() {
        return Err(DomainError::Conflict(format!(
            "event {event_code} was cancelled; there is nothing to settle"
        )));
    }
    let mut out = Vec::new();
    for code in programs {
        let program = program_by_code(db, code).await?;
        let posted = program.settlement_timing == "per_event";
        let mine: Vec<&StagePart> = stages
            .iter()
            .filter(|s| s.status == "F1CO" && s.program_code == code)
            .collect();
        let computed = compute(db, &program, event_code, &mine).await?;
        let mut tx = db.begin().await?;
        let summary = store(
            &mut tx, &program, event_code, "event", computed, posted, actor, now,
        )
        .await?;
        tx.commit().await?;
        out.push(summary);
    }
    Ok(out)
}

/// Settles a program's season: every completed event in it is settled again with its
/// credits posted, and a season run records the totals. Only after the season's last day.
pub async fn settle_season(
    db: &Db,
    actor: &str,
    program_code: &str,
    now: DateTime<Utc>,
) -> Result<RunSummary, DomainError> {
    let program = program_by_code(db, program_code).await?;
    if local_date(now) <= program.season_end {
        return Err(DomainError::Conflict(format!(
            "the {} season ends on {}; it can be settled from the day after (events can be settled one by one before that)",
            program.code, program.season_end
        )));
    }
    let (from, to) = season_bounds(&program);
    let events: Vec<String> = with_db!(db, |c| sqlx::query_scalar(
        "SELECT DISTINCT event_external_id FROM program_events
         WHERE program_code = $1 AND status = 'F1CO' AND starts_at >= $2 AND starts_at < $3
         ORDER BY event_external_id"
    )
    .bind(&program.code)
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await?);
    let mut total = RunSummary {
        run_id: 0,
        program_code: program.code.clone(),
        event_code: None,
        enrollments: 0,
        settled: 0,
        unchanged: 0,
        new: 0,
        changed: 0,
        kwh_avoided: 0.0,
        credit: 0.0,
    };
    let mut tx = db.begin().await?;
    for ev in &events {
        let stages = stage_parts(db, ev).await?;
        let mine: Vec<&StagePart> = stages
            .iter()
            .filter(|s| s.status == "F1CO" && s.program_code == program.code)
            .collect();
        let computed = compute(db, &program, ev, &mine).await?;
        let s = store(&mut tx, &program, ev, "event", computed, true, actor, now).await?;
        total.enrollments += s.enrollments;
        total.settled += s.settled;
        total.unchanged += s.unchanged;
        total.new += s.new;
        total.changed += s.changed;
        total.kwh_avoided += s.kwh_avoided;
        total.credit += s.credit;
    }
    total.credit = round_cents(total.credit);
    let run_id = insert_run(&mut tx, &program, "season", None, actor, now, &total).await?;
    append_many(
        &mut tx,
        &[
            NewAuditEntry::new(actor, "settlement.season", "program", &program.code).after(json!({
                "run": run_id,
                "season": [program.season_start, program.season_end],
                "events": events,
                "enrollments": total.enrollments,
                "settled": total.settled,
                "changed": total.changed,
                "kwh_avoided": round3(total.kwh_avoided),
                "credit": total.credit,
            })),
        ],
    )
    .await?;
    tx.commit().await?;
    total.run_id = run_id;
    Ok(total)
}

async fn stage_parts(db: &Db, event_code: &str) -> Result<Vec<StagePart>, DomainError> {
    Ok(with_db!(db, |c| sqlx::query_as::<_, StagePart>(
        "SELECT external_id, program_code, status, starts_at, ends_at FROM program_events
         WHERE event_external_id = $1 ORDER BY external_id"
    )
    .bind(event_code)
    .fetch_all(c)
    .await?))
}

/// One computed result, before it is compared with what is stored.
#[derive(Debug, Clone)]
struct Computed {
    part: Part,
    status: &'static str,
    reason: Option<String>,
    baseline_days: i32,
    adjustment: f64,
    baseline_kwh: f64,
    actual_kwh: f64,
    kwh_avoided: f64,
    kw_drop: [f64; 3],
    rate: f64,
    credit: f64,
    /// Eligible baseline days found (at most ten; the method may average fewer).
    eligible: usize,
    /// Per quarter hour from `part.start`: baseline and actual (settled results only).
    series: Option<(Vec<f64>, Vec<f64>)>,
}

async fn participants(db: &Db, stage_ids: &[String]) -> Result<Vec<Participant>, DomainError> {
    let ids = serde_json::to_string(stage_ids)?;
    let sql_sqlite =
        "SELECT d.external_id, d.enrollment_id, e.customer_id, l.service_point_id, d.outcome,
                (d.opted_out_at IS NOT NULL) AS opted_out
         FROM json_each($1) j JOIN program_event_devices d ON d.external_id = j.value
         JOIN enrollments e ON e.id = d.enrollment_id
         JOIN device_locations l ON l.id = e.location_id";
    let sql_pg = "SELECT d.external_id, d.enrollment_id, e.customer_id, l.service_point_id, d.outcome,
                (d.opted_out_at IS NOT NULL) AS opted_out
         FROM json_array_elements_text($1::json) j(value) JOIN program_event_devices d ON d.external_id = j.value
         JOIN enrollments e ON e.id = d.enrollment_id
         JOIN device_locations l ON l.id = e.location_id";
    Ok(match db {
        Db::Sqlite(c) => {
            sqlx::query_as::<_, Participant>(sql_sqlite)
                .bind(&ids)
                .fetch_all(c)
                .await?
        }
        Db::Postgres(c) => {
            sqlx::query_as::<_, Participant>(sql_pg)
                .bind(&ids)
                .fetch_all(c)
                .await?
        }
    })
}

/// The enrollments' parts, grouped from the reserved devices.
fn parts(stages: &[&StagePart], devices: Vec<Participant>) -> Vec<Part> {
    let windows: HashMap<&str, (DateTime<Utc>, DateTime<Utc>)> = stages
        .iter()
        .map(|s| (s.external_id.as_str(), (s.starts_at, s.ends_at)))
        .collect();
    let mut by: BTreeMap<i64, Part> = BTreeMap::new();
    for d in devices {
        let Some(&(s, e)) = windows.get(d.external_id.as_str()) else {
            continue;
        };
        let released = d.opted_out || d.outcome.as_deref() == Some("D1CN");
        let p = by.entry(d.enrollment_id).or_insert_with(|| Part {
            enrollment_id: d.enrollment_id,
            customer_id: d.customer_id,
            service_point_id: d.service_point_id.clone(),
            start: floor_quarter(s),
            end: ceil_quarter(e),
            devices: 0,
            opted_out: true,
        });
        p.start = p.start.min(floor_quarter(s));
        p.end = p.end.max(ceil_quarter(e));
        p.devices += 1;
        p.opted_out &= released;
    }
    by.into_values().collect()
}

/// Days excluded from each enrollment's baseline: its other event days in the look-back.
async fn other_event_days(
    db: &Db,
    event_code: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<HashMap<i64, Vec<NaiveDate>>, DomainError> {
    let rows: Vec<(i64, DateTime<Utc>)> = with_db!(db, |c| sqlx::query_as(
        "SELECT DISTINCT d.enrollment_id, pe.starts_at
         FROM program_events pe JOIN program_event_devices d ON d.external_id = pe.external_id
         WHERE pe.starts_at >= $1 AND pe.starts_at < $2 AND pe.event_external_id <> $3
           AND pe.status <> 'F1CN' AND d.enrollment_id IS NOT NULL
           AND (d.outcome IS NULL OR d.outcome <> 'D1CN')"
    )
    .bind(from)
    .bind(to)
    .bind(event_code)
    .fetch_all(c)
    .await?);
    let mut out: HashMap<i64, Vec<NaiveDate>> = HashMap::new();
    for (e, t) in rows {
        out.entry(e).or_default().push(local_date(t));
    }
    Ok(out)
}

/// Prices per quarter hour over [from, to) for a program; None where none is set.
async fn prices(
    db: &Db,
    program_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<HashMap<DateTime<Utc>, f64>, DomainError> {
    let rows: Vec<(DateTime<Utc>, f64)> = with_db!(db, |c| sqlx::query_as(
        "SELECT interval_start, price_per_kwh FROM settlement_prices
         WHERE program_id = $1 AND interval_start >= $2 AND interval_start < $3"
    )
    .bind(program_id)
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await?);
    Ok(rows.into_iter().collect())
}

/// Service points read in one statement by [`window_values`].
const READ_SLICE: usize = 5_000;

/// Quarter-hour kWh of many service points over the same window on several days, read in
/// bulk from their stored days ([`meter_days`]). Per service point and window start: the
/// values when the window is complete (a service point with gaps is left out and read alone,
/// see [`baseline::load_profiles`]). Also returns every service point with any reading in
/// the first window.
async fn window_values(
    db: &Db,
    sps: &[&str],
    windows: &[DateTime<Utc>],
    quarters: usize,
) -> Result<WindowValues, DomainError> {
    let span = Duration::minutes(15 * quarters as i64 - 1);
    let days: Vec<NaiveDate> = windows
        .iter()
        .flat_map(|w| {
            let last = (*w + span).date_naive();
            w.date_naive().iter_days().take_while(move |d| *d <= last)
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // Where each window's quarter hours lie: (day of `days`, slot), the same for everyone;
    // only the slots some window uses are read.
    let positions: Vec<Vec<(usize, usize)>> = windows
        .iter()
        .map(|from| {
            (0..quarters)
                .map(|q| {
                    let t = *from + Duration::minutes(15 * q as i64);
                    let day = days
                        .binary_search(&t.date_naive())
                        .expect("every day of every window is asked for");
                    (day, meter_days::slot_of(t))
                })
                .collect()
        })
        .collect();
    let used = positions.iter().flatten().map(|p| p.1);
    let slots = used.clone().min().unwrap_or(0)..used.max().map_or(0, |s| s + 1);
    let index = meter_days::DayIndex::new(&days, slots.len());
    let mut out = WindowValues::default();
    for (sp, packed) in meter_days::read_days(db, sps, &days, slots.clone()).await? {
        let Some(packed) = packed else { continue };
        let by_day = index.unpack(&packed)?;
        let mut complete_windows = Vec::with_capacity(windows.len());
        for (w, at) in positions.iter().enumerate() {
            let mut values = Vec::with_capacity(quarters);
            let (mut any, mut complete) = (false, true);
            for &(day, q) in at {
                let v = by_day[day]
                    .map(|b| meter_days::slot(b, q - slots.start))
                    .unwrap_or(meter_days::MISSING);
                if v == meter_days::MISSING {
                    complete = false;
                    // On the event day, keep looking for any reading at all.
                    if w > 0 || any {
                        break;
                    }
                } else {
                    any = true;
                    values.push(f64::from(v) / 1000.0);
                }
            }
            if w == 0 && any {
                out.any.push(sp.clone());
            }
            complete_windows.push(complete.then_some(values));
        }
        out.values.insert(sp, complete_windows);
    }
    Ok(out)
}

/// What [`window_values`] read: per service point, each window's values when complete, and
/// the service points with any reading in the first window.
#[derive(Default)]
struct WindowValues {
    values: HashMap<String, Vec<Option<Vec<f64>>>>,
    any: Vec<String>,
}

/// Rounds a reading to watt-hours, as the bulk read does.
fn wh(v: f64) -> f64 {
    if v.is_finite() {
        (v * 1000.0).round() / 1000.0
    } else {
        v
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn round_cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// What an enrollment's data looks like around the event.
struct Data {
    history: Vec<DayProfile>,
    actual_event: Vec<f64>,
    actual_adjustment: Vec<f64>,
}

async fn compute(
    db: &Db,
    program: &ProgramTerms,
    event_code: &str,
    stages: &[&StagePart],
) -> Result<Vec<Computed>, DomainError> {
    let method = Method::parse(&program.baseline_method).ok_or_else(|| {
        DomainError::Internal(format!(
            "program {} has an unknown baseline method `{}`",
            program.code, program.baseline_method
        ))
    })?;
    let clock = std::time::Instant::now();
    let stage_ids: Vec<String> = stages.iter().map(|s| s.external_id.clone()).collect();
    let all = parts(stages, participants(db, &stage_ids).await?);
    let participants_ms = clock.elapsed().as_millis();
    if all.is_empty() {
        return Ok(Vec::new());
    }
    let earliest = all.iter().map(|p| p.start).min().expect("not empty");
    let latest = all.iter().map(|p| p.end).max().expect("not empty");
    let lookback = Duration::days(baseline::LOOKBACK_DAYS + 1);
    let excluded = other_event_days(db, event_code, earliest - lookback, latest).await?;
    let union: HashSet<NaiveDate> = excluded.values().flatten().copied().collect();
    let price = if program.settlement_method == "consumption" {
        prices(db, program.id, earliest, latest).await?
    } else {
        HashMap::new()
    };

    // Group enrollments by window and read each group's data in bulk.
    let mut groups: BTreeMap<(DateTime<Utc>, DateTime<Utc>), Vec<usize>> = BTreeMap::new();
    for (i, p) in all.iter().enumerate() {
        if !p.opted_out {
            groups.entry((p.start, p.end)).or_default().push(i);
        }
    }
    let adj_span = Duration::hours(ADJUSTMENT_HOURS + ADJUSTMENT_GAP_HOURS);
    let adj_n = (ADJUSTMENT_HOURS * 4) as usize;
    let mut data: HashMap<usize, Data> = HashMap::new();
    // Service points with any reading in the event-day window.
    let mut seen: HashSet<String> = HashSet::new();
    for ((start, end), members) in &groups {
        let event_n = ((*end - *start).num_minutes() / 15) as usize;
        let adj_from = *start - adj_span;
        let quarters = ((*end - adj_from).num_minutes() / 15) as usize;
        let mut sps: Vec<&str> = members
            .iter()
            .map(|&i| all[i].service_point_id.as_str())
            .collect();
        sps.sort_unstable();
        sps.dedup();
        // The days read: the event day, then days back until ten weekdays that are nobody's
        // event day (each member's own eligible days are then all among them).
        let mut shifts = vec![0i64];
        let mut weekdays = 0;
        for k in 1..=baseline::LOOKBACK_DAYS {
            let day = local_date(*start - Duration::days(k));
            if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) || union.contains(&day) {
                continue;
            }
            shifts.push(k);
            weekdays += 1;
            if weekdays == baseline::DAYS {
                break;
            }
        }
        // All days of a slice of the service points in one read, two slices at a time on
        // two connections (SQLite readers run in parallel).
        let windows: std::sync::Arc<Vec<DateTime<Utc>>> = std::sync::Arc::new(
            shifts
                .iter()
                .map(|k| adj_from - Duration::days(*k))
                .collect(),
        );
        let chunks: Vec<Vec<String>> = sps
            .chunks(READ_SLICE)
            .map(|c| c.iter().map(|s| s.to_string()).collect())
            .collect();
        let reads = futures_util::stream::iter(chunks.into_iter().map(|chunk| {
            let (db, windows) = (db.clone(), windows.clone());
            async move {
                let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
                window_values(&db, &refs, &windows, quarters).await
            }
        }))
        .buffered(2)
        .collect::<Vec<_>>()
        .await;
        let mut values: HashMap<String, Vec<Option<Vec<f64>>>> = HashMap::new();
        for read in reads {
            let read = read?;
            seen.extend(read.any);
            values.extend(read.values);
        }
        for &i in members {
            let Some(windows) = values.get(&all[i].service_point_id) else {
                continue;
            };
            let Some(today) = &windows[0] else {
                continue;
            };
            let history = (1..shifts.len())
                .filter_map(|w| {
                    windows[w].as_ref().map(|v| DayProfile {
                        date: local_date(*start - Duration::days(shifts[w])),
                        event: v[quarters - event_n..].to_vec(),
                        adjustment: v[..adj_n].to_vec(),
                    })
                })
                .collect();
            data.insert(
                i,
                Data {
                    history,
                    actual_event: today[quarters - event_n..].to_vec(),
                    actual_adjustment: today[..adj_n].to_vec(),
                },
            );
        }
    }

    let read_ms = clock.elapsed().as_millis() - participants_ms;
    let mut alone = 0usize;
    let mut out = Vec::with_capacity(all.len());
    for (i, part) in all.iter().enumerate() {
        let none = Vec::new();
        let excl = excluded.get(&part.enrollment_id).unwrap_or(&none);
        let mut result = if part.opted_out {
            unmeasured(
                part,
                "opted_out",
                "every device of the enrollment opted out or was released",
            )
        } else {
            // The bulk read holds the ten most recent eligible days unless some were incomplete.
            let bulk = data
                .get(&i)
                .and_then(|d| settle_one(program, method, part, d, excl, &price).ok())
                .filter(|r| r.eligible == baseline::DAYS);
            match bulk {
                Some(r) => r,
                None if !seen.contains(&part.service_point_id) => unmeasured(
                    part,
                    "no_data",
                    &format!(
                        "no meter data for {} on the event day",
                        part.service_point_id
                    ),
                ),
                None => {
                    // Gaps, hourly data or too few complete days in the bulk read: read this
                    // service point alone over the whole look-back.
                    alone += 1;
                    let loaded =
                        baseline::load_profiles(db, &part.service_point_id, part.start, part.end)
                            .await?;
                    let d = Data {
                        history: loaded
                            .history
                            .into_iter()
                            .map(|h| DayProfile {
                                date: h.date,
                                event: h.event.into_iter().map(wh).collect(),
                                adjustment: h.adjustment.into_iter().map(wh).collect(),
                            })
                            .collect(),
                        actual_event: loaded.actual_event.into_iter().map(wh).collect(),
                        actual_adjustment: loaded.actual_adjustment.into_iter().map(wh).collect(),
                    };
                    match settle_one(program, method, part, &d, excl, &price) {
                        Ok(r) => r,
                        Err((status, reason)) => unmeasured(part, status, &reason),
                    }
                }
            }
        };
        result.baseline_days = result.baseline_days.max(0);
        out.push(result);
    }
    tracing::info!(
        program = %program.code,
        event = event_code,
        enrollments = all.len(),
        read_alone = alone,
        participants_ms,
        bulk_read_ms = read_ms,
        computed_ms = clock.elapsed().as_millis() - read_ms - participants_ms,
        "settlement computed"
    );
    Ok(out)
}

fn unmeasured(part: &Part, status: &'static str, reason: &str) -> Computed {
    Computed {
        part: part.clone(),
        status,
        reason: Some(reason.to_string()),
        baseline_days: 0,
        adjustment: 1.0,
        baseline_kwh: 0.0,
        actual_kwh: 0.0,
        kwh_avoided: 0.0,
        kw_drop: [0.0; 3],
        rate: 0.0,
        credit: 0.0,
        eligible: 0,
        series: None,
    }
}

/// The baseline, performance and credit of one enrollment; the error is the status and
/// reason of an unmeasured result.
fn settle_one(
    program: &ProgramTerms,
    method: Method,
    part: &Part,
    d: &Data,
    excluded: &[NaiveDate],
    price: &HashMap<DateTime<Utc>, f64>,
) -> Result<Computed, (&'static str, String)> {
    let n = d.actual_event.len();
    if n == 0 || d.actual_event.iter().any(|v| !v.is_finite()) {
        return Err((
            "no_data",
            format!(
                "no complete meter data for {} over the event window",
                part.service_point_id
            ),
        ));
    }
    let input = baseline::EventInput {
        date: local_date(part.start),
        event_intervals: n,
        adjustment_intervals: d.actual_adjustment.len(),
        actual_adjustment: &d.actual_adjustment,
        excluded,
    };
    let eligible = baseline::eligible_days(&input, &d.history).len();
    let b = baseline::baseline(method, &input, &d.history).map_err(|e| match e {
        baseline::BaselineError::IncompleteAdjustment { .. } => ("no_data", e.to_string()),
        other => ("no_baseline", other.to_string()),
    })?;
    let perf = baseline::performance(&b.kwh, &d.actual_event, 15)
        .map_err(|e| ("no_data", e.to_string()))?;
    let (rate, credit) = if program.settlement_method == "consumption" {
        let mut sum = 0.0;
        let mut price_sum = 0.0;
        for (q, (bk, ak)) in b.kwh.iter().zip(&d.actual_event).enumerate() {
            let t = part.start + Duration::minutes(15 * q as i64);
            let p = price.get(&t).copied().unwrap_or(program.credit_rate);
            sum += (bk - ak) * p;
            price_sum += p;
        }
        (price_sum / n as f64, sum)
    } else {
        (program.credit_rate, perf.kw_drop_avg * program.credit_rate)
    };
    Ok(Computed {
        part: part.clone(),
        status: "settled",
        reason: None,
        baseline_days: b.days.len() as i32,
        adjustment: b.factor,
        baseline_kwh: b.kwh.iter().sum(),
        actual_kwh: d.actual_event.iter().sum(),
        kwh_avoided: perf.kwh_avoided,
        kw_drop: [perf.kw_drop_max, perf.kw_drop_min, perf.kw_drop_avg],
        rate,
        credit: round_cents(credit.max(0.0)),
        eligible,
        series: Some((b.kwh, d.actual_event.clone())),
    })
}

/// The stored fields a recalculation compares, rounded as shown.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
struct Stored {
    enrollment_id: i64,
    status: String,
    reason: Option<String>,
    baseline_kwh: f64,
    actual_kwh: f64,
    kwh_avoided: f64,
    kw_drop_avg: f64,
    rate: f64,
    credit: f64,
    posted: bool,
    version: i32,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
}

impl Stored {
    fn json(&self) -> serde_json::Value {
        json!({
            "status": self.status,
            "reason": self.reason,
            "window": [self.window_start, self.window_end],
            "baseline_kwh": round3(self.baseline_kwh),
            "actual_kwh": round3(self.actual_kwh),
            "kwh_avoided": round3(self.kwh_avoided),
            "kw_drop_avg": round3(self.kw_drop_avg),
            "rate": round3(self.rate),
            "credit": round_cents(self.credit),
            "posted": self.posted,
            "version": self.version,
        })
    }
}

fn stored_of(c: &Computed, posted: bool, version: i32) -> Stored {
    Stored {
        enrollment_id: c.part.enrollment_id,
        status: c.status.to_string(),
        reason: c.reason.clone(),
        baseline_kwh: c.baseline_kwh,
        actual_kwh: c.actual_kwh,
        kwh_avoided: c.kwh_avoided,
        kw_drop_avg: c.kw_drop[2],
        rate: c.rate,
        credit: c.credit,
        posted,
        version,
        window_start: c.part.start,
        window_end: c.part.end,
    }
}

async fn insert_run(
    tx: &mut Tx,
    program: &ProgramTerms,
    kind: &str,
    event_code: Option<&str>,
    actor: &str,
    now: DateTime<Utc>,
    s: &RunSummary,
) -> Result<i64, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_scalar::<_, i64>(
        "INSERT INTO settlement_runs (program_id, kind, event_code, season_start, season_end, run_by, run_at,
             enrollments, settled, changed, kwh_avoided, credit)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id"
    )
    .bind(program.id)
    .bind(kind)
    .bind(event_code)
    .bind(program.season_start)
    .bind(program.season_end)
    .bind(actor)
    .bind(now)
    .bind(s.enrollments as i32)
    .bind(s.settled as i32)
    .bind((s.new + s.changed) as i32)
    .bind(round3(s.kwh_avoided))
    .bind(round_cents(s.credit))
    .fetch_one(c)
    .await?
    }))
}

/// Compares with what is stored and writes the run (see the module documentation).
#[allow(clippy::too_many_arguments)]
async fn store(
    tx: &mut Tx,
    program: &ProgramTerms,
    event_code: &str,
    kind: &str,
    computed: Vec<Computed>,
    posted: bool,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<RunSummary, DomainError> {
    let clock = std::time::Instant::now();
    // Two servers sharing a PostgreSQL database may settle the same event at once: the
    // second waits here and then compares with what the first wrote (SQLite transactions
    // already take the write lock when they begin).
    if let Tx::Postgres(c) = tx {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('settlement ' || $1 || ' ' || $2))")
            .bind(program.id.to_string())
            .bind(event_code)
            .execute(&mut **c)
            .await?;
    }
    let before: Vec<Stored> = with_tx!(tx, |c| {
        sqlx::query_as(
        "SELECT enrollment_id, status, reason, baseline_kwh, actual_kwh, kwh_avoided, kw_drop_avg, rate, credit,
                posted, version, window_start, window_end
         FROM settlements WHERE program_id = $1 AND event_code = $2"
    )
    .bind(program.id)
    .bind(event_code)
    .fetch_all(c)
    .await?
    });
    let before: HashMap<i64, Stored> = before.into_iter().map(|s| (s.enrollment_id, s)).collect();

    let mut summary = RunSummary {
        run_id: 0,
        program_code: program.code.clone(),
        event_code: Some(event_code.to_string()),
        enrollments: computed.len(),
        settled: computed.iter().filter(|c| c.status == "settled").count(),
        unchanged: 0,
        new: 0,
        changed: 0,
        kwh_avoided: computed.iter().map(|c| c.kwh_avoided).sum(),
        credit: round_cents(computed.iter().map(|c| c.credit).sum()),
    };
    // Which results to write, with their audit rows.
    let mut writes: Vec<(&Computed, i32)> = Vec::new();
    let mut audit: Vec<NewAuditEntry> = Vec::new();
    let entity = |c: &Computed| format!("{event_code}/{}/{}", program.code, c.part.enrollment_id);
    for c in &computed {
        match before.get(&c.part.enrollment_id) {
            None => {
                summary.new += 1;
                let after = stored_of(c, posted, 1);
                audit.push(
                    NewAuditEntry::new(actor, "settlement.settle", "settlement", entity(c))
                        .after(after.json()),
                );
                writes.push((c, 1));
            }
            Some(old) => {
                let after = stored_of(c, posted || old.posted, old.version);
                if old.json() == after.json() {
                    summary.unchanged += 1;
                    continue;
                }
                summary.changed += 1;
                let after = Stored {
                    version: old.version + 1,
                    ..after
                };
                audit.push(
                    NewAuditEntry::new(actor, "settlement.recalculate", "settlement", entity(c))
                        .before(old.json())
                        .after(after.json()),
                );
                writes.push((c, old.version + 1));
            }
        }
    }
    let run_id = insert_run(tx, program, kind, Some(event_code), actor, now, &summary).await?;
    summary.run_id = run_id;

    // Replace the rows that changed, in chunks.
    let changed_ids: Vec<i64> = writes
        .iter()
        .filter(|(_, v)| *v > 1)
        .map(|(c, _)| c.part.enrollment_id)
        .collect();
    for chunk in changed_ids.chunks(500) {
        let ids = serde_json::to_string(chunk)?;
        let sql = if tx.is_postgres() {
            "DELETE FROM settlements WHERE program_id = $1 AND event_code = $2
             AND enrollment_id IN (SELECT CAST(value AS BIGINT) FROM json_array_elements_text($3::json))"
        } else {
            "DELETE FROM settlements WHERE program_id = $1 AND event_code = $2
             AND enrollment_id IN (SELECT value FROM json_each($3))"
        };
        with_tx!(tx, |c| sqlx::query(sql)
            .bind(program.id)
            .bind(event_code)
            .bind(&ids)
            .execute(c)
            .await?
            .rows_affected());
    }
    let rows: Vec<Vec<Arg>> = writes
        .iter()
        .map(|(c, version)| {
            let old_posted = before
                .get(&c.part.enrollment_id)
                .map(|o| o.posted)
                .unwrap_or(false);
            vec![
                Arg::Int(program.id),
                Arg::Text(event_code.to_string()),
                Arg::Int(c.part.enrollment_id),
                Arg::Int(c.part.customer_id),
                Arg::Text(c.part.service_point_id.clone()),
                Arg::Time(c.part.start),
                Arg::Time(c.part.end),
                Arg::Int(i64::from(c.part.devices)),
                Arg::Text(c.status.to_string()),
                Arg::OptText(c.reason.clone()),
                Arg::Text(program.baseline_method.clone()),
                Arg::Int(i64::from(c.baseline_days)),
                Arg::Float(c.adjustment),
                Arg::Float(c.baseline_kwh),
                Arg::Float(c.actual_kwh),
                Arg::Float(c.kwh_avoided),
                Arg::Float(c.kw_drop[0]),
                Arg::Float(c.kw_drop[1]),
                Arg::Float(c.kw_drop[2]),
                Arg::Text(program.settlement_method.clone()),
                Arg::Float(c.rate),
                Arg::Float(c.credit),
                Arg::Bool(posted || old_posted),
                Arg::Int(i64::from(*version)),
                Arg::Int(run_id),
                Arg::Time(now),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "settlements",
        &[
            "program_id",
            "event_code",
            "enrollment_id",
            "customer_id",
            "service_point_id",
            "window_start",
            "window_end",
            "devices",
            "status",
            "reason",
            "baseline_method",
            "baseline_days",
            "adjustment",
            "baseline_kwh",
            "actual_kwh",
            "kwh_avoided",
            "kw_drop_max",
            "kw_drop_min",
            "kw_drop_avg",
            "settlement_method",
            "rate",
            "credit",
            "posted",
            "version",
            "run_id",
            "settled_at",
        ],
        &rows,
    )
    .await?;

    // The quarter-hour sums, rewritten whole.
    let mut sums: BTreeMap<DateTime<Utc>, (f64, f64, i64)> = BTreeMap::new();
    for c in &computed {
        if let Some((b, a)) = &c.series {
            for (q, (bk, ak)) in b.iter().zip(a).enumerate() {
                let e = sums
                    .entry(c.part.start + Duration::minutes(15 * q as i64))
                    .or_insert((0.0, 0.0, 0));
                e.0 += bk;
                e.1 += ak;
                e.2 += 1;
            }
        }
    }
    with_tx!(tx, |c| sqlx::query(
        "DELETE FROM settlement_intervals WHERE program_id = $1 AND event_code = $2"
    )
    .bind(program.id)
    .bind(event_code)
    .execute(c)
    .await?
    .rows_affected());
    let interval_rows: Vec<Vec<Arg>> = sums
        .into_iter()
        .map(|(t, (b, a, n))| {
            vec![
                Arg::Int(program.id),
                Arg::Text(event_code.to_string()),
                Arg::Time(t),
                Arg::Float(b),
                Arg::Float(a),
                Arg::Int(n),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "settlement_intervals",
        &[
            "program_id",
            "event_code",
            "interval_start",
            "baseline_kwh",
            "actual_kwh",
            "enrollments",
        ],
        &interval_rows,
    )
    .await?;

    audit.push(
        NewAuditEntry::new(actor, "settlement.run", "event", event_code).after(json!({
            "run": run_id,
            "kind": kind,
            "program": program.code,
            "enrollments": summary.enrollments,
            "settled": summary.settled,
            "new": summary.new,
            "changed": summary.changed,
            "unchanged": summary.unchanged,
            "kwh_avoided": round3(summary.kwh_avoided),
            "credit": summary.credit,
        })),
    );
    append_many(tx, &audit).await?;
    tracing::info!(
        program = %program.code,
        event = event_code,
        new = summary.new,
        changed = summary.changed,
        written_ms = clock.elapsed().as_millis(),
        "settlement stored"
    );
    Ok(summary)
}

/// What the scheduler settled.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Due {
    pub events: Vec<String>,
    pub seasons: Vec<String>,
}

/// The scheduler's settlement: completed events never settled whose meter data has arrived
/// (a reading at or after the event's last quarter hour for one of its service points), and
/// the seasons of programs whose last day is past and that have no season run yet.
pub async fn settle_due(db: &Db, now: DateTime<Utc>) -> Result<Due, DomainError> {
    let stages: Vec<(String, String, DateTime<Utc>)> = with_db!(db, |c| {
        sqlx::query_as(
        "SELECT pe.event_external_id, pe.status, pe.ends_at FROM program_events pe
         WHERE NOT EXISTS (SELECT 1 FROM settlement_runs r WHERE r.event_code = pe.event_external_id)"
    )
    .fetch_all(c)
    .await?
    });
    let mut events: BTreeMap<String, (bool, bool, DateTime<Utc>)> = BTreeMap::new();
    for (ev, status, ends) in stages {
        let e = events.entry(ev).or_insert((true, false, ends));
        e.0 &= status == "F1CO" || status == "F1CN";
        e.1 |= status == "F1CO";
        e.2 = e.2.max(ends);
    }
    let mut due = Due::default();
    for (ev, (done, completed, ends)) in events {
        if !(done && completed && ends <= now) {
            continue;
        }
        let arrived: Option<i32> = with_db!(db, |c| sqlx::query_scalar(
            "SELECT 1 FROM program_events pe
             JOIN program_event_devices d ON d.external_id = pe.external_id
             JOIN enrollments e ON e.id = d.enrollment_id
             JOIN device_locations l ON l.id = e.location_id
             JOIN interval_readings r ON r.service_point_id = l.service_point_id
              AND r.interval_start >= $2 AND r.interval_start < $3
             WHERE pe.event_external_id = $1 LIMIT 1"
        )
        .bind(&ev)
        .bind(ends - Duration::minutes(15))
        .bind(ends + Duration::days(1))
        .fetch_optional(c)
        .await?);
        if arrived.is_some() {
            settle_event(db, "scheduler", &ev, now).await?;
            due.events.push(ev);
        }
    }
    let programs: Vec<(String, NaiveDate)> = with_db!(db, |c| {
        sqlx::query_as(
        "SELECT p.code, p.season_end FROM programs p
         WHERE NOT EXISTS (SELECT 1 FROM settlement_runs r WHERE r.program_id = p.id AND r.kind = 'season'
                             AND r.season_end = p.season_end)"
    )
    .fetch_all(c)
    .await?
    });
    for (code, season_end) in programs {
        if local_date(now) > season_end {
            settle_season(db, "scheduler", &code, now).await?;
            due.seasons.push(code);
        }
    }
    Ok(due)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn windows_snap_to_the_quarter_hour_grid() {
        assert_eq!(
            floor_quarter(t("2026-07-15T16:07:00Z")),
            t("2026-07-15T16:00:00Z")
        );
        assert_eq!(
            ceil_quarter(t("2026-07-15T16:07:00Z")),
            t("2026-07-15T16:15:00Z")
        );
        assert_eq!(
            ceil_quarter(t("2026-07-15T16:15:00Z")),
            t("2026-07-15T16:15:00Z")
        );
    }

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
