//! The settlement computation: plain inputs read beforehand → each enrollment's result and
//! the run's totals. No database, no clock, no I/O.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};

use super::super::baseline::{self, DayProfile, Method};
use crate::calendar::align as floor_quarter;
use crate::calendar::Calendar;
use crate::error::DomainError;

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

impl ProgramTerms {
    /// The program's baseline method; an unknown one is a broken program row.
    pub(super) fn method(&self) -> Result<Method, DomainError> {
        Method::parse(&self.baseline_method).ok_or_else(|| {
            DomainError::Internal(format!(
                "program {} has an unknown baseline method `{}`",
                self.code, self.baseline_method
            ))
        })
    }
}

/// The season as a UTC range of window starts: from the first local day to the day after
/// the last.
pub(super) fn season_bounds(cal: Calendar, p: &ProgramTerms) -> (DateTime<Utc>, DateTime<Utc>) {
    cal.season_bounds(p.season_start, p.season_end)
}

pub(super) fn ceil_quarter(t: DateTime<Utc>) -> DateTime<Utc> {
    let f = floor_quarter(t);
    if f == t && t.nanosecond() == 0 {
        t
    } else {
        f + Duration::minutes(15)
    }
}

pub(super) fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

pub(super) fn round_cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// A stage of the event on the program side.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct StagePart {
    pub external_id: String,
    pub program_code: String,
    pub status: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// A reserved device with its enrollment.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct Participant {
    pub external_id: String,
    pub enrollment_id: i64,
    pub customer_id: i64,
    pub service_point_id: String,
    pub outcome: Option<String>,
    pub opted_out: bool,
}

/// An enrollment's part in the event.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Part {
    pub enrollment_id: i64,
    pub customer_id: i64,
    pub service_point_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub devices: i32,
    pub opted_out: bool,
}

/// The enrollments' parts, grouped from the reserved devices, by enrollment.
pub(super) fn parts(stages: &[&StagePart], devices: Vec<Participant>) -> Vec<Part> {
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

/// What an enrollment's data looks like around the event.
#[derive(Debug, Clone)]
pub(super) struct Data {
    pub history: Vec<DayProfile>,
    pub actual_event: Vec<f64>,
    pub actual_adjustment: Vec<f64>,
}

/// What the bulk read found for a program part of an event.
#[derive(Debug, Clone, Default)]
pub(super) struct EventData {
    /// Per enrollment, its other event days in the look-back: never baseline days.
    pub excluded: HashMap<i64, Vec<NaiveDate>>,
    /// The utility's holidays in the look-back (date, name): never baseline days.
    pub holidays: Vec<(NaiveDate, String)>,
    /// Prices per quarter hour where the program sets one (consumption only).
    pub prices: HashMap<DateTime<Utc>, f64>,
    /// Per enrollment, its data when the event-day window was complete in the bulk read.
    pub bulk: HashMap<i64, Data>,
    /// Service points with any reading in the event-day window.
    pub seen: HashSet<String>,
}

impl EventData {
    /// The enrollment's days that are never baseline days (besides weekends).
    pub(super) fn excluded(&self, enrollment_id: i64) -> Excluded<'_> {
        Excluded {
            event_days: self
                .excluded
                .get(&enrollment_id)
                .map(Vec::as_slice)
                .unwrap_or(&[]),
            holidays: &self.holidays,
        }
    }
}

/// The days that are never an enrollment's baseline days besides weekends.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Excluded<'a> {
    /// The enrollment's other event days.
    pub event_days: &'a [NaiveDate],
    /// The utility's holidays.
    pub holidays: &'a [(NaiveDate, String)],
}

/// One computed result, before it is compared with what is stored.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Computed {
    pub part: Part,
    pub status: &'static str,
    pub reason: Option<String>,
    pub baseline_days: i32,
    pub adjustment: f64,
    pub baseline_kwh: f64,
    pub actual_kwh: f64,
    pub kwh_avoided: f64,
    pub kw_drop: [f64; 3],
    pub rate: f64,
    pub credit: f64,
    /// Eligible baseline days found (at most ten; the method may average fewer).
    pub eligible: usize,
    /// Per quarter hour from `part.start`: baseline and actual (settled results only).
    pub series: Option<(Vec<f64>, Vec<f64>)>,
}

/// The results the bulk read settles, in the order of `parts`; None where the part must be
/// read alone (gaps, hourly data or too few complete days in the bulk read), see
/// [`from_own_read`].
pub(super) fn from_bulk(
    cal: Calendar,
    program: &ProgramTerms,
    method: Method,
    parts: &[Part],
    data: &EventData,
) -> Vec<Option<Computed>> {
    parts
        .iter()
        .map(|part| {
            if part.opted_out {
                return Some(unmeasured(
                    part,
                    "opted_out",
                    "every device of the enrollment opted out or was released",
                ));
            }
            // The bulk read holds the ten most recent eligible days unless some were incomplete.
            let excluded = data.excluded(part.enrollment_id);
            let bulk = data
                .bulk
                .get(&part.enrollment_id)
                .and_then(|d| measure(cal, program, method, part, d, excluded, &data.prices).ok())
                .filter(|r| r.eligible == baseline::DAYS);
            match bulk {
                Some(r) => Some(r),
                None if !data.seen.contains(&part.service_point_id) => Some(unmeasured(
                    part,
                    "no_data",
                    &format!(
                        "no meter data for {} on the event day",
                        part.service_point_id
                    ),
                )),
                None => None,
            }
        })
        .collect()
}

/// The result of a part from its service point's data read alone over the whole look-back.
pub(super) fn from_own_read(
    cal: Calendar,
    program: &ProgramTerms,
    method: Method,
    part: &Part,
    d: &Data,
    excluded: Excluded<'_>,
    price: &HashMap<DateTime<Utc>, f64>,
) -> Computed {
    match measure(cal, program, method, part, d, excluded, price) {
        Ok(r) => r,
        Err((status, reason)) => unmeasured(part, status, &reason),
    }
}

pub(super) fn unmeasured(part: &Part, status: &'static str, reason: &str) -> Computed {
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
pub(super) fn measure(
    cal: Calendar,
    program: &ProgramTerms,
    method: Method,
    part: &Part,
    d: &Data,
    excluded: Excluded<'_>,
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
        date: cal.local_date(part.start),
        event_intervals: n,
        adjustment_intervals: d.actual_adjustment.len(),
        actual_adjustment: &d.actual_adjustment,
        excluded: excluded.event_days,
        holidays: excluded.holidays,
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

/// A run's totals over its results.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Totals {
    pub enrollments: usize,
    pub settled: usize,
    pub kwh_avoided: f64,
    pub credit: f64,
}

pub(super) fn totals(computed: &[Computed]) -> Totals {
    Totals {
        enrollments: computed.len(),
        settled: computed.iter().filter(|c| c.status == "settled").count(),
        kwh_avoided: computed.iter().map(|c| c.kwh_avoided).sum(),
        credit: round_cents(computed.iter().map(|c| c.credit).sum()),
    }
}

/// The settled results summed per quarter hour.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct IntervalSum {
    pub baseline_kwh: f64,
    pub actual_kwh: f64,
    pub enrollments: i64,
}

pub(super) fn interval_sums(computed: &[Computed]) -> BTreeMap<DateTime<Utc>, IntervalSum> {
    let mut sums: BTreeMap<DateTime<Utc>, IntervalSum> = BTreeMap::new();
    for c in computed {
        if let Some((b, a)) = &c.series {
            for (q, (bk, ak)) in b.iter().zip(a).enumerate() {
                let e = sums
                    .entry(c.part.start + Duration::minutes(15 * q as i64))
                    .or_default();
                e.baseline_kwh += bk;
                e.actual_kwh += ak;
                e.enrollments += 1;
            }
        }
    }
    sums
}

#[cfg(test)]
mod tests;
