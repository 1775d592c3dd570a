//! The historical event report: the event, its strategy and stages, every lifecycle step
//! with who and when (from the audit log), device outcomes per stage, expected versus
//! measured reduction and the credits (from the settlement results), and the settlement
//! runs; plus its CSV (one line per settled enrollment).
//!
//! Expected reduction, peak reduction and credit are the figures of [`crate::figures`]
//! (one definition each, shared with the event page, the settlement pages and the API).
//! Measured reduction is the sum of the stored settlement results: kWh avoided, and the sum
//! of the settled enrollments' average kW drop.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use app::report::*;

use crate::audit::audit_dto;
use crate::calendar::Calendar;
use crate::db::dialect::{list, Elem};
use crate::db::{audit, Db};
use crate::error::DomainError;
use crate::figures;
use crate::grid::event::{self, EventRow, StageRow};
use crate::programs::baseline::{self, DayUse};
use crate::programs::settlement::{self, SettlementRow};
use crate::report::chart::{line_chart, Series, BLUE, GREEN, ORANGE};
use crate::with_db;

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// id, code, name, status, start, end, settled enrollments.
type IndexRow = (
    i64,
    String,
    String,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    i64,
);

/// The ended events (newest first) and the programs, for the reports index.
pub async fn index(db: &Db) -> Result<ReportIndex, DomainError> {
    let events: Vec<IndexRow> = with_db!(db, |c| {
        sqlx::query_as(
            "SELECT e.id, e.code, e.name, e.status, e.starts_at, e.ends_at,
                    (SELECT COUNT(*) FROM settlements s WHERE s.event_code = e.code AND s.status = 'settled')
             FROM events e WHERE e.status IN ('Completed', 'Canceled')
             ORDER BY e.starts_at DESC, e.id DESC LIMIT 500"
        )
        .fetch_all(c)
        .await?
    });
    let programs = crate::db::program::list_programs(db).await?;
    Ok(ReportIndex {
        events: events
            .into_iter()
            .map(
                |(id, code, name, status, starts_at, ends_at, settled)| ReportEventLink {
                    id,
                    code,
                    name,
                    status,
                    starts_at,
                    ends_at,
                    settled,
                },
            )
            .collect(),
        programs: programs
            .into_iter()
            .map(|p| ReportProgramLink {
                code: p.code,
                name: p.name,
                season_start: p.season_start,
                season_end: p.season_end,
            })
            .collect(),
    })
}

/// When each approval and lifecycle step happened (the event row keeps only the latest).
#[derive(sqlx::FromRow)]
struct Times {
    submitted_at: Option<DateTime<Utc>>,
    approved_at: Option<DateTime<Utc>>,
    second_approved_at: Option<DateTime<Utc>>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
}

/// The event and its settlement results, read once for the page, the API and the CSV.
pub struct EventData {
    pub event: EventRow,
    pub results: Vec<SettlementRow>,
}

pub async fn load(db: &Db, id: i64) -> Result<EventData, DomainError> {
    let event = event::get_event(db, id)
        .await?
        .ok_or_else(|| DomainError::not_found(format!("event {id}")))?;
    let results = settlement::event_results(db, &event.code, None).await?;
    Ok(EventData { event, results })
}

pub async fn event_report(db: &Db, cal: Calendar, id: i64) -> Result<EventReport, DomainError> {
    let EventData { event: ev, results } = load(db, id).await?;
    let times: Times = with_db!(db, |c| {
        sqlx::query_as(
        "SELECT submitted_at, approved_at, second_approved_at, started_at, completed_at FROM events WHERE id = $1"
    )
    .bind(id)
    .fetch_one(c)
    .await?
    });
    let strategy: Option<String> = with_db!(db, |c| sqlx::query_scalar(
        "SELECT name FROM strategies WHERE id = $1"
    )
    .bind(ev.strategy_id)
    .fetch_optional(c)
    .await?);
    let zone_ids = ev.zone();
    let zone: Vec<String> = if zone_ids.is_empty() {
        Vec::new()
    } else {
        let sql = format!(
            "SELECT code FROM network_nodes WHERE id IN ({}) ORDER BY code",
            db.dialect().in_list(1, Elem::Int)
        );
        let ids = list(&zone_ids)?;
        with_db!(db, |c| sqlx::query_scalar(&sql)
            .bind(&ids)
            .fetch_all(c)
            .await?)
    };

    let stages = event::stages(db, id).await?;
    // Devices per stage by outcome and reservation status, and expected kW per program.
    let outcome_rows: Vec<(i64, Option<String>, String, i64)> = with_db!(db, |c| {
        sqlx::query_as(
        "SELECT stage_id, outcome, status, COUNT(*) FROM event_stage_devices WHERE event_id = $1
         GROUP BY stage_id, outcome, status"
    )
    .bind(id)
    .fetch_all(c)
    .await?
    });
    let program_kw: Vec<(i64, String, f64)> = with_db!(db, |c| sqlx::query_as(
        "SELECT stage_id, program_code, SUM(expected_kw) FROM event_stage_devices
         WHERE event_id = $1 AND status = 'reserved' GROUP BY stage_id, program_code"
    )
    .bind(id)
    .fetch_all(c)
    .await?);

    let mut outcomes = OutcomeCounts::default();
    let report_stages: Vec<ReportStage> = stages
        .iter()
        .map(|s| {
            let mut o = OutcomeCounts::default();
            for (_, outcome, status, n) in outcome_rows.iter().filter(|r| r.0 == s.id) {
                o.add(outcome.as_deref(), status == "opted_out", *n);
            }
            outcomes.merge(&o);
            ReportStage {
                seq: s.seq,
                external_id: s.external_id.clone(),
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                status: s.status.clone(),
                expected_kw: figures::stage_expected_kw(s),
                expected_kwh: figures::stage_expected_kwh(s),
                outcomes: o,
            }
        })
        .collect();
    let expected_kwh = figures::event_expected_kwh(&stages);
    // The event's peak reduction, as the events list, the event page and the API give it:
    // the largest planned reduction of any interval of the window (one definition, one query).
    let expected_peak_kw = crate::db::event::event_counts(db, &[id])
        .await?
        .first()
        .map(|c| c.3)
        .unwrap_or(0.0);

    // Per program: the plan's expected kWh and the settlement results.
    let mut by: BTreeMap<String, ProgramResult> = BTreeMap::new();
    let blank = |code: &str| ProgramResult {
        program_code: code.to_string(),
        settlement_method: String::new(),
        expected_kwh: 0.0,
        enrollments: 0,
        settled: 0,
        kwh_avoided: 0.0,
        kw_drop_avg: 0.0,
        credit: 0.0,
        posted_credit: 0.0,
        provisional_credit: 0.0,
    };
    for code in ev.programs() {
        by.entry(code.clone()).or_insert_with(|| blank(&code));
    }
    for (stage_id, code, kw) in &program_kw {
        if let Some(s) = stages.iter().find(|s| s.id == *stage_id) {
            by.entry(code.clone())
                .or_insert_with(|| blank(code))
                .expected_kwh += figures::expected_kwh_in(s, *kw);
        }
    }
    for part in figures::credits(db, Some(&ev.code), None).await? {
        let p = by
            .entry(part.program_code.clone())
            .or_insert_with(|| blank(&part.program_code));
        p.credit = part.credit.total;
        p.posted_credit = part.credit.posted;
        p.provisional_credit = part.credit.provisional;
    }
    for r in &results {
        let p = by
            .entry(r.program_code.clone())
            .or_insert_with(|| blank(&r.program_code));
        p.settlement_method = r.settlement_method.clone();
        p.enrollments += 1;
        if r.status == "settled" {
            p.settled += 1;
            p.kw_drop_avg += r.kw_drop_avg;
        }
        p.kwh_avoided += r.kwh_avoided;
    }
    let by_program: Vec<ProgramResult> = by
        .into_values()
        .map(|mut p| {
            p.expected_kwh = figures::kwh(p.expected_kwh);
            p.kwh_avoided = round3(p.kwh_avoided);
            p.kw_drop_avg = round3(p.kw_drop_avg);
            p
        })
        .collect();
    let settled: Vec<&SettlementRow> = results.iter().filter(|r| r.status == "settled").collect();
    let credit = figures::Credit::sum(
        by_program
            .iter()
            .map(|p| figures::Credit::from_sums(p.credit, p.posted_credit)),
    );

    let runs = settlement::runs(db, Some(&ev.code), None, 100)
        .await?
        .into_iter()
        .map(|r| ReportRun {
            id: r.id,
            program_code: r.program_code,
            kind: r.kind,
            run_by: r.run_by,
            run_at: r.run_at,
            enrollments: r.enrollments,
            settled: r.settled,
            changed: r.changed,
            kwh_avoided: r.kwh_avoided,
            credit: r.credit,
        })
        .collect();
    let lifecycle = audit::for_entity(db, "event", &ev.code, 1000)
        .await?
        .into_iter()
        .rev()
        .map(audit_dto)
        .collect();
    let (chart_svg, chart_rows) = chart(db, cal, &ev.code, &stages).await?;
    let baseline_days = baseline_days(db, cal, &ev).await?;

    Ok(EventReport {
        id: ev.id,
        code: ev.code.clone(),
        name: ev.name.clone(),
        status: ev.status.clone(),
        event_type: ev.event_type.clone(),
        objective: ev.objective.clone(),
        target_mw: ev.target_mw,
        starts_at: ev.starts_at,
        ends_at: ev.ends_at,
        strategy: strategy.unwrap_or_default(),
        zone,
        programs: ev.programs(),
        control_level: ev.control_level.clone(),
        second_approval_required: ev.second_approval_required,
        created_by: ev.created_by.clone(),
        submitted_by: ev.submitted_by.clone(),
        submitted_at: times.submitted_at,
        approved_by: ev.approved_by.clone(),
        approved_at: times.approved_at,
        second_approved_by: ev.second_approved_by.clone(),
        second_approved_at: times.second_approved_at,
        decided_by: ev.denied_by.clone().or(ev.canceled_by.clone()),
        decision_reason: ev.decision_reason.clone(),
        started_at: times.started_at,
        completed_at: times.completed_at,
        stages: report_stages,
        outcomes,
        lifecycle,
        expected_kwh,
        expected_peak_kw: figures::peak_reduction_kw(expected_peak_kw),
        measured_kwh_avoided: round3(results.iter().map(|r| r.kwh_avoided).sum()),
        measured_kw_drop_avg: round3(settled.iter().map(|r| r.kw_drop_avg).sum()),
        credit_total: credit.total,
        credit_posted: credit.posted,
        credit_provisional: credit.provisional,
        by_program,
        runs,
        chart_svg,
        chart_rows,
        baseline_days,
    })
}

/// The days a baseline for this event looks at, as a customer with complete meter data would
/// see them: the rule of [`baseline::candidate_days`] with the utility's holidays and the
/// other events of the event's programs (an event day is skipped by the customers who took
/// part in it). Per customer, a day without complete data is skipped too.
async fn baseline_days(
    db: &Db,
    cal: Calendar,
    ev: &EventRow,
) -> Result<Vec<BaselineDay>, DomainError> {
    let date = cal.local_date(ev.starts_at);
    let first = date - chrono::Duration::days(baseline::LOOKBACK_DAYS);
    let holidays = crate::db::holiday::holidays_between(db, first, date).await?;
    let programs = ev.programs();
    let others: Vec<(String, String, DateTime<Utc>)> = with_db!(db, |c| sqlx::query_as(
        "SELECT event_external_id, program_code, starts_at FROM program_events
         WHERE starts_at >= $1 AND starts_at < $2 AND event_external_id <> $3 AND status <> 'F1CN'"
    )
    .bind(cal.days_before(ev.starts_at, baseline::LOOKBACK_DAYS + 1))
    .bind(ev.starts_at)
    .bind(&ev.code)
    .fetch_all(c)
    .await?);
    let mut event_days: BTreeMap<chrono::NaiveDate, std::collections::BTreeSet<String>> =
        BTreeMap::new();
    for (code, program, starts_at) in others {
        if programs.contains(&program) {
            event_days
                .entry(cal.local_date(starts_at))
                .or_default()
                .insert(code);
        }
    }
    let excluded: Vec<chrono::NaiveDate> = event_days.keys().copied().collect();
    // Every day complete: what is left out is left out by the calendar alone.
    let history: Vec<baseline::DayProfile> = first
        .iter_days()
        .take_while(|d| *d < date)
        .map(|d| baseline::DayProfile {
            date: d,
            event: vec![1.0],
            adjustment: vec![1.0],
        })
        .collect();
    let input = baseline::EventInput {
        date,
        event_intervals: 1,
        adjustment_intervals: 1,
        actual_adjustment: &[1.0],
        excluded: &excluded,
        holidays: &holidays,
    };
    Ok(
        baseline::candidate_days(baseline::Method::TenInTen, &input, &history)
            .into_iter()
            .map(|c| BaselineDay {
                date: c.date,
                used: c.used == DayUse::Used,
                reason: match (&c.used, event_days.get(&c.date)) {
                    (DayUse::EventDay, Some(codes)) => format!(
                        "event day: {}",
                        codes.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                    (other, _) => other.describe(),
                },
            })
            .collect(),
    )
}

/// Baseline and measured kWh per quarter hour over every settled enrollment (all programs),
/// and the baseline less the plan's expected reduction, drawn and as rows. None and no rows
/// before settlement.
async fn chart(
    db: &Db,
    cal: Calendar,
    event_code: &str,
    stages: &[StageRow],
) -> Result<(Option<String>, Vec<ReportChartRow>), DomainError> {
    let intervals = settlement::event_intervals(db, event_code).await?;
    if intervals.is_empty() {
        return Ok((None, Vec::new()));
    }
    let mut sums: BTreeMap<DateTime<Utc>, (f64, f64)> = BTreeMap::new();
    for i in intervals {
        let e = sums.entry(i.interval_start).or_default();
        e.0 += i.baseline_kwh;
        e.1 += i.actual_kwh;
    }
    let times: Vec<DateTime<Utc>> = sums.keys().copied().collect();
    let baseline: Vec<f64> = sums.values().map(|v| v.0).collect();
    let actual: Vec<f64> = sums.values().map(|v| v.1).collect();
    let expected: Vec<f64> = times
        .iter()
        .zip(&baseline)
        .map(|(t, b)| (b - figures::expected_kw_at(stages, *t) * 0.25).max(0.0))
        .collect();
    let rows = times
        .iter()
        .zip(baseline.iter().zip(&actual).zip(&expected))
        .map(|(t, ((b, a), e))| ReportChartRow {
            interval_start: *t,
            baseline_kwh: round3(*b),
            measured_kwh: round3(*a),
            expected_kwh: round3(*e),
        })
        .collect();
    let svg = line_chart(
        cal,
        "Settled customers: baseline, measured and expected (kWh per quarter hour)",
        &times,
        "kWh per 15 min",
        &[
            Series::new("Baseline", &baseline, BLUE),
            Series::new("Measured", &actual, GREEN),
            Series::new("Baseline − expected reduction", &expected, ORANGE),
        ],
    );
    Ok((Some(svg), rows))
}

/// One line per enrollment with a settlement result (header first).
pub fn event_csv(data: &EventData) -> Result<Vec<u8>, DomainError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| DomainError::Internal(format!("CSV: {e}"));
    w.write_record(crate::csv_out::safe([
        "event_code",
        "program_code",
        "account_id",
        "service_point_id",
        "window_start",
        "window_end",
        "status",
        "reason",
        "baseline_kwh",
        "actual_kwh",
        "kwh_avoided",
        "kw_drop_max",
        "kw_drop_min",
        "kw_drop_avg",
        "rate",
        "credit",
        "posted",
        "version",
        "meter_share",
    ]))
    .map_err(io)?;
    for r in &data.results {
        w.write_record(crate::csv_out::safe([
            r.event_code.clone(),
            r.program_code.clone(),
            r.account_id.clone(),
            r.service_point_id.clone(),
            r.window_start.to_rfc3339(),
            r.window_end.to_rfc3339(),
            r.status.clone(),
            r.reason.clone().unwrap_or_default(),
            format!("{:.3}", r.baseline_kwh),
            format!("{:.3}", r.actual_kwh),
            format!("{:.3}", r.kwh_avoided),
            format!("{:.3}", r.kw_drop_max),
            format!("{:.3}", r.kw_drop_min),
            format!("{:.3}", r.kw_drop_avg),
            format!("{:.4}", r.rate),
            format!("{:.2}", r.credit),
            r.posted.to_string(),
            r.version.to_string(),
            format!("{:.3}", r.meter_share),
        ]))
        .map_err(io)?;
    }
    w.into_inner()
        .map_err(|e| DomainError::Internal(format!("CSV: {e}")))
}
