//! A plan's feasibility as stored with the event and shown to the operator and the approver:
//! the planner's verdict (`planner::feasibility`) turned into instants when the plan is made,
//! and into the DTO with its warnings in words (local time, one formatter) when it is read.
//! The event page, the submit and approve answers and `/api/v1/events/{id}` all read it here.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use app::format::kw;
use app::grid::{PlanFeasibility, ShortPeriod};

use crate::calendar::Calendar;
use crate::grid::planner::{Feasibility, INTERVAL_MINUTES};

fn at(start: DateTime<Utc>, i: usize) -> DateTime<Utc> {
    start + Duration::minutes(i as i64 * INTERVAL_MINUTES as i64)
}

/// The verdict as stored in the plan summary (`plan_summary.feasibility`): runs of short
/// intervals as UTC instants, kW figures rounded to 0.1 kW.
pub fn to_json(
    f: &Feasibility,
    shortfall_kw: &[f64],
    starts_at: DateTime<Utc>,
    max_increase_pct: Option<f64>,
) -> Value {
    let round = |v: f64| (v * 10.0).round() / 10.0;
    let mut periods: Vec<Value> = Vec::new();
    let mut run: Option<(usize, usize, f64)> = None;
    let close = |r: (usize, usize, f64), periods: &mut Vec<Value>| {
        periods.push(json!({
            "startsAt": at(starts_at, r.0),
            "endsAt": at(starts_at, r.1),
            "maxShortfallKw": round(r.2),
        }))
    };
    for &i in &f.short_intervals {
        let s = shortfall_kw.get(i).copied().unwrap_or(0.0);
        run = match run {
            Some((a, b, m)) if b == i => Some((a, i + 1, m.max(s))),
            Some(r) => {
                close(r, &mut periods);
                Some((i, i + 1, s))
            }
            None => Some((i, i + 1, s)),
        };
    }
    if let Some(r) = run {
        close(r, &mut periods);
    }
    json!({
        "met": f.met,
        "maxShortfallKw": round(f.max_shortfall_kw),
        "shortPeriods": periods,
        "ceilingKw": f.ceiling_kw.map(round),
        "targetReductionKw": f.target_reduction_kw.map(round),
        "maxIncreasePct": max_increase_pct,
        "beforePeakKw": round(f.before_peak_kw),
        "afterPeakKw": round(f.after_peak_kw),
        "afterPeakAt": at(starts_at, f.after_peak_interval),
        "newPeak": f.new_peak,
    })
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// A local period `2026-07-14 16:00–17:15 CDT` (the end's date when it is another day).
fn local_period(cal: Calendar, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let (a, b) = (cal.local_time(from), cal.local_time(to));
    let zone = to.with_timezone(&cal.zone()).format("%Z");
    if a.date() == b.date() {
        format!(
            "{} {}–{} {zone}",
            a.date(),
            a.format("%H:%M"),
            b.format("%H:%M")
        )
    } else {
        format!(
            "{}–{} {zone}",
            a.format("%Y-%m-%d %H:%M"),
            b.format("%Y-%m-%d %H:%M")
        )
    }
}

/// Reads the stored verdict back (None for a plan stored without one).
pub fn from_summary(cal: Calendar, summary: &Value) -> Option<PlanFeasibility> {
    let f = summary.get("feasibility")?;
    let num = |k: &str| f[k].as_f64();
    let short_periods: Vec<ShortPeriod> = f["shortPeriods"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    let (s, e) = (time(&p["startsAt"])?, time(&p["endsAt"])?);
                    Some(ShortPeriod {
                        starts_at: s,
                        ends_at: e,
                        local: local_period(cal, s, e),
                        max_shortfall_kw: p["maxShortfallKw"].as_f64().unwrap_or(0.0),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = PlanFeasibility {
        met: f["met"].as_bool()?,
        max_shortfall_kw: num("maxShortfallKw").unwrap_or(0.0),
        short_periods,
        ceiling_kw: num("ceilingKw"),
        target_reduction_kw: num("targetReductionKw"),
        max_increase_pct: num("maxIncreasePct"),
        before_peak_kw: num("beforePeakKw").unwrap_or(0.0),
        after_peak_kw: num("afterPeakKw").unwrap_or(0.0),
        after_peak_at: time(&f["afterPeakAt"]),
        new_peak: f["newPeak"].as_bool().unwrap_or(false),
        warnings: Vec::new(),
    };
    out.warnings = warnings(cal, &out);
    Some(out)
}

/// The warnings in words, the same on the page, in the action's answer and in the API.
pub fn warnings(cal: Calendar, f: &PlanFeasibility) -> Vec<String> {
    let mut out = Vec::new();
    if !f.met {
        let goal = match (f.ceiling_kw, f.target_reduction_kw) {
            (Some(c), _) => format!("keep the zone under {}", kw(c)),
            (_, Some(t)) => format!("shed {} in every interval", kw(t)),
            _ => "meet its stage targets".to_string(),
        };
        let when: Vec<&str> = f.short_periods.iter().map(|p| p.local.as_str()).collect();
        out.push(format!(
            "The plan does not {goal}: it falls up to {} short in {}.",
            kw(f.max_shortfall_kw),
            if when.is_empty() {
                "some intervals".to_string()
            } else {
                when.join(", ")
            }
        ));
    }
    if f.new_peak {
        let when = f
            .after_peak_at
            .map(|t| format!(" at {}", cal.show(t)))
            .unwrap_or_default();
        out.push(format!(
            "Rebound makes a new peak: the load after the event reaches {}{when}, above the zone's pre-event peak of {}.",
            kw(f.after_peak_kw),
            kw(f.before_peak_kw)
        ));
    }
    out
}

/// The objective's line for the chart, per interval of the window: the ceiling, or the
/// baseline less the reduction asked for. Empty for objectives without a figure.
pub fn objective_line(
    f: &PlanFeasibility,
    intervals: &[(DateTime<Utc>, f64)],
    window: (DateTime<Utc>, DateTime<Utc>),
) -> Vec<(DateTime<Utc>, f64)> {
    let inside = intervals
        .iter()
        .filter(|(t, _)| *t >= window.0 && *t < window.1);
    match (f.ceiling_kw, f.target_reduction_kw) {
        (Some(c), _) => inside.map(|(t, _)| (*t, c)).collect(),
        (_, Some(r)) => inside.map(|(t, b)| (*t, b - r)).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn verdict() -> Feasibility {
        Feasibility {
            met: false,
            max_shortfall_kw: 10_812.34,
            short_intervals: vec![0, 1, 2, 5],
            ceiling_kw: Some(1000.0),
            target_reduction_kw: None,
            before_peak_kw: 15_200.0,
            after_peak_kw: 16_240.0,
            after_peak_interval: 8,
            new_peak: true,
        }
    }

    #[test]
    fn short_intervals_become_local_runs_and_the_warnings_name_them() {
        let cal = Calendar::default();
        // 21:00 UTC in July is 16:00 CDT.
        let t0 = Utc.with_ymd_and_hms(2026, 7, 15, 21, 0, 0).unwrap();
        let shortfall = [10_812.34, 9000.0, 500.0, 0.0, 0.0, 42.0, 0.0, 0.0];
        let stored = to_json(&verdict(), &shortfall, t0, Some(10.0));
        let f = from_summary(cal, &json!({ "feasibility": stored })).unwrap();
        assert!(!f.met);
        assert_eq!(f.short_periods.len(), 2);
        assert_eq!(f.short_periods[0].local, "2026-07-15 16:00–16:45 CDT");
        assert_eq!(f.short_periods[0].max_shortfall_kw, 10_812.3);
        assert_eq!(f.short_periods[1].local, "2026-07-15 17:15–17:30 CDT");
        assert_eq!(f.max_increase_pct, Some(10.0));
        assert_eq!(
            f.warnings[0],
            "The plan does not keep the zone under 1.00 MW: it falls up to 10.81 MW short in \
             2026-07-15 16:00–16:45 CDT, 2026-07-15 17:15–17:30 CDT."
        );
        assert_eq!(
            f.warnings[1],
            "Rebound makes a new peak: the load after the event reaches 16.24 MW at \
             2026-07-15 18:00 CDT, above the zone's pre-event peak of 15.20 MW."
        );
        let line = objective_line(
            &f,
            &[(t0, 14_000.0), (t0 + Duration::hours(3), 12_000.0)],
            (t0, t0 + Duration::hours(2)),
        );
        assert_eq!(line, vec![(t0, 1000.0)]);
    }

    #[test]
    fn a_met_plan_without_new_peak_has_no_warning() {
        let mut v = verdict();
        v.met = true;
        v.short_intervals.clear();
        v.new_peak = false;
        let t0 = Utc.with_ymd_and_hms(2026, 7, 15, 21, 0, 0).unwrap();
        let f = from_summary(
            Calendar::default(),
            &json!({ "feasibility": to_json(&v, &[], t0, None) }),
        )
        .unwrap();
        assert!(f.warnings.is_empty());
        assert!(f.short_periods.is_empty());
        assert!(from_summary(Calendar::default(), &json!({"eligible": 3})).is_none());
    }
}
