//! The program season report: the program's events in its season, the time used per rule
//! cycle against the rule's limits, participation per event, and the season's credits
//! (from the settlement results); plus its CSV (one line per event).
//!
//! Counting choices: an event counts in a cycle when at least one of the program's stages
//! was not cancelled; its minutes are the time those stages cover together (stages of rotating
//! cohorts overlap, so their lengths are not summed). The cycle and its limits
//! come from the rule in force on the event's local day.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// A stage's window.
type Span = (DateTime<Utc>, DateTime<Utc>);

use app::report::*;

use crate::calendar::{cycle_start, Calendar};
use crate::db::program::{list_rules, rule_in_force};
use crate::db::Db;
use crate::error::DomainError;
use crate::figures;
use crate::programs::settlement;
use crate::report::chart::{bar_chart, GREEN};
use crate::with_db;

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[derive(sqlx::FromRow)]
struct ProgramInfo {
    id: i64,
    code: String,
    name: String,
    status: String,
    season_start: NaiveDate,
    season_end: NaiveDate,
    settlement_method: String,
    settlement_timing: String,
    baseline_method: String,
}

#[derive(sqlx::FromRow)]
struct StageRow {
    event_external_id: String,
    status: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
}

pub async fn season_report(
    db: &Db,
    cal: Calendar,
    code: &str,
) -> Result<SeasonReport, DomainError> {
    let p: ProgramInfo = with_db!(db, |c| sqlx::query_as(
        "SELECT id, code, name, status, season_start, season_end, settlement_method, settlement_timing, baseline_method
         FROM programs WHERE code = $1"
    )
    .bind(code)
    .fetch_optional(c)
    .await?)
    .ok_or_else(|| DomainError::not_found(format!("program `{code}`")))?;
    let (from, to) = cal.season_bounds(p.season_start, p.season_end);

    let stages: Vec<StageRow> = with_db!(db, |c| sqlx::query_as(
        "SELECT event_external_id, status, starts_at, ends_at FROM program_events
         WHERE program_code = $1 AND starts_at >= $2 AND starts_at < $3
         ORDER BY starts_at, external_id"
    )
    .bind(&p.code)
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await?);
    let devices: Vec<(String, Option<String>, bool, i64)> = with_db!(db, |c| {
        sqlx::query_as(
        "SELECT pe.event_external_id, d.outcome, (d.opted_out_at IS NOT NULL) AS opted_out, COUNT(*)
         FROM program_events pe JOIN program_event_devices d ON d.external_id = pe.external_id
         WHERE pe.program_code = $1 AND pe.starts_at >= $2 AND pe.starts_at < $3
         GROUP BY pe.event_external_id, d.outcome, (d.opted_out_at IS NOT NULL)"
    )
    .bind(&p.code)
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await?
    });
    let settled: Vec<(String, f64)> = with_db!(db, |c| sqlx::query_as(
        "SELECT event_code, COALESCE(SUM(kwh_avoided), 0.0)
         FROM settlements WHERE program_id = $1 GROUP BY event_code"
    )
    .bind(p.id)
    .fetch_all(c)
    .await?);
    let settled: HashMap<String, f64> = settled.into_iter().collect();
    let credits: HashMap<String, f64> = figures::credits(db, None, Some(&p.code))
        .await?
        .into_iter()
        .map(|c| (c.event_code, c.credit.total))
        .collect();
    let grid_ids: HashMap<String, i64> = with_db!(db, |c| sqlx::query_as::<_, (String, i64)>(
        "SELECT code, id FROM events WHERE starts_at >= $1 AND starts_at < $2"
    )
    .bind(from - Duration::days(1))
    .bind(to + Duration::days(1))
    .fetch_all(c)
    .await?)
    .into_iter()
    .collect();
    let (active_enrollments, enrolled_devices): (i64, i64) = with_db!(db, |c| sqlx::query_as(
        "SELECT COUNT(DISTINCT e.id), COUNT(d.id) FROM enrollments e
         LEFT JOIN enrollment_devices d ON d.enrollment_id = e.id AND d.left_at IS NULL
         WHERE e.program_id = $1 AND e.status = 'ACTIVE'"
    )
    .bind(p.id)
    .fetch_one(c)
    .await?);

    // Events in order of their first stage.
    let mut order: Vec<String> = Vec::new();
    let mut events: HashMap<String, SeasonEvent> = HashMap::new();
    let mut called: HashMap<String, Vec<Span>> = HashMap::new();
    for s in &stages {
        let e = events
            .entry(s.event_external_id.clone())
            .or_insert_with(|| {
                order.push(s.event_external_id.clone());
                SeasonEvent {
                    event_code: s.event_external_id.clone(),
                    event_id: grid_ids.get(&s.event_external_id).copied(),
                    starts_at: s.starts_at,
                    ends_at: s.ends_at,
                    status: "cancelled".into(),
                    minutes: 0,
                    reserved: 0,
                    participated: 0,
                    opted_out: 0,
                    participation_pct: 0.0,
                    kwh_avoided: 0.0,
                    credit: 0.0,
                }
            });
        e.starts_at = e.starts_at.min(s.starts_at);
        e.ends_at = e.ends_at.max(s.ends_at);
        match s.status.as_str() {
            "F1CN" => {}
            "F1CO" => {
                if e.status != "open" {
                    e.status = "completed".into();
                }
            }
            _ => e.status = "open".into(),
        }
        if s.status != "F1CN" {
            called
                .entry(s.event_external_id.clone())
                .or_default()
                .push((s.starts_at, s.ends_at));
        }
    }
    // The minutes an event used: the union of its stages' windows.
    for (code, mut spans) in called {
        spans.sort();
        let mut minutes = 0;
        let mut reach: Option<DateTime<Utc>> = None;
        for (from, to) in spans {
            let from = reach.map_or(from, |r| from.max(r));
            if to > from {
                minutes += (to - from).num_minutes();
            }
            reach = Some(reach.map_or(to, |r| r.max(to)));
        }
        if let Some(e) = events.get_mut(&code) {
            e.minutes = minutes;
        }
    }
    for (code, outcome, opted_out, n) in devices {
        if let Some(e) = events.get_mut(&code) {
            e.reserved += n;
            if outcome.as_deref() == Some("D1SP") {
                e.participated += n;
            }
            if opted_out {
                e.opted_out += n;
            }
        }
    }
    let mut season_events: Vec<SeasonEvent> = order
        .into_iter()
        .filter_map(|code| events.remove(&code))
        .map(|mut e| {
            if e.reserved > 0 {
                e.participation_pct =
                    (e.participated as f64 * 1000.0 / e.reserved as f64).round() / 10.0;
            }
            if let Some(k) = settled.get(&e.event_code) {
                e.kwh_avoided = round3(*k);
            }
            if let Some(c) = credits.get(&e.event_code) {
                e.credit = *c;
            }
            e
        })
        .collect();
    season_events.sort_by_key(|e| e.starts_at);

    // Use per rule cycle against the rule in force on the event's day.
    let rules = list_rules(db, p.id).await?;
    let mut cycles: BTreeMap<NaiveDate, CycleUse> = BTreeMap::new();
    for e in season_events.iter().filter(|e| e.status != "cancelled") {
        let day = cal.local_date(e.starts_at);
        let rule = rule_in_force(&rules, day);
        let start = rule
            .map(|r| cycle_start(&r.cycle, r.week_start, day))
            .unwrap_or(day);
        let c = cycles.entry(start).or_insert_with(|| CycleUse {
            cycle_start: start,
            events: 0,
            minutes: 0,
            max_events: rule.map(|r| r.max_events_per_cycle),
            max_minutes: rule.map(|r| r.max_minutes_per_cycle),
            over: false,
        });
        c.events += 1;
        c.minutes += e.minutes;
    }
    let cycles: Vec<CycleUse> = cycles
        .into_values()
        .map(|mut c| {
            c.over = c.max_events.is_some_and(|m| c.events > m as i64)
                || c.max_minutes.is_some_and(|m| c.minutes > m as i64);
            c
        })
        .collect();
    let cycle = rule_in_force(&rules, p.season_start)
        .or_else(|| rules.first())
        .map(|r| r.cycle.clone());

    let summary = settlement::season_summary(db, cal, &p.code).await?;
    let credit = figures::season_credit(&summary);
    let kwh: f64 = summary.iter().map(|c| c.kwh_avoided).sum();
    let customers = summary
        .into_iter()
        .map(|c| {
            let credit = figures::customer_credit(&c);
            SeasonCustomer {
                account_id: c.account_id,
                events: c.events,
                settled_events: c.settled_events,
                kwh_avoided: round3(c.kwh_avoided),
                credit: credit.total,
                posted_credit: credit.posted,
            }
        })
        .collect();
    let chart_svg = (!season_events.is_empty()).then(|| {
        let labels: Vec<String> = season_events.iter().map(|e| e.event_code.clone()).collect();
        let values: Vec<f64> = season_events.iter().map(|e| e.kwh_avoided).collect();
        bar_chart(
            &format!("{}: kWh avoided per event", p.code),
            &labels,
            "kWh avoided",
            &values,
            GREEN,
        )
    });
    Ok(SeasonReport {
        program_code: p.code,
        program_name: p.name,
        status: p.status,
        season_start: p.season_start,
        season_end: p.season_end,
        settlement_method: p.settlement_method,
        settlement_timing: p.settlement_timing,
        baseline_method: p.baseline_method,
        active_enrollments,
        enrolled_devices,
        cycle,
        cycles,
        events: season_events,
        customers,
        kwh_avoided: round3(kwh),
        credit_total: credit.total,
        credit_posted: credit.posted,
        credit_provisional: credit.provisional,
        chart_svg,
    })
}

/// One line per event of the season (header first).
pub fn season_csv(r: &SeasonReport) -> Result<Vec<u8>, DomainError> {
    let io = |e: csv::Error| DomainError::Internal(format!("CSV: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(crate::csv_out::safe([
        "program_code",
        "event_code",
        "starts_at",
        "ends_at",
        "status",
        "minutes",
        "reserved",
        "participated",
        "opted_out",
        "participation_pct",
        "kwh_avoided",
        "credit",
    ]))
    .map_err(io)?;
    for e in &r.events {
        w.write_record(crate::csv_out::safe([
            r.program_code.clone(),
            e.event_code.clone(),
            e.starts_at.to_rfc3339(),
            e.ends_at.to_rfc3339(),
            e.status.clone(),
            e.minutes.to_string(),
            e.reserved.to_string(),
            e.participated.to_string(),
            e.opted_out.to_string(),
            format!("{:.1}", e.participation_pct),
            format!("{:.3}", e.kwh_avoided),
            format!("{:.2}", e.credit),
        ]))
        .map_err(io)?;
    }
    w.into_inner()
        .map_err(|e| DomainError::Internal(format!("CSV: {e}")))
}
