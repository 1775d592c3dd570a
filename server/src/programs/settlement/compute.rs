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
    /// The kW the device was dispatched for.
    pub expected_kw: f64,
}

impl Participant {
    /// Released before or during the event: opted out, or cancelled (`D1CN`).
    fn released(&self) -> bool {
        self.opted_out || self.outcome.as_deref() == Some("D1CN")
    }

    /// Took part: not released, and not reported non-responsive (`D1ND`) or failed (`D1ER`).
    /// A device without an outcome yet is taken at its dispatch.
    fn took_part(&self) -> bool {
        !self.released() && !matches!(self.outcome.as_deref(), Some("D1ND" | "D1ER"))
    }
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
    /// The program the enrollment is in (the stage's).
    pub program_code: String,
    /// Dispatched kW of the devices that took part (none: the enrollment did not take part).
    pub kw: f64,
    pub took_part: bool,
    /// The enrollment's share of its meter's savings, 0–1 ([`share_meters`]).
    pub share: f64,
    /// How much of the meter's quarter-hour kWh this part adds to the event's sums, so that
    /// a meter counts once however many enrollments share it ([`share_meters`]).
    pub weight: f64,
}

/// The enrollments' parts, grouped from the reserved devices, by enrollment.
pub(super) fn parts(stages: &[&StagePart], devices: Vec<Participant>) -> Vec<Part> {
    let windows: HashMap<&str, (DateTime<Utc>, DateTime<Utc>, &str)> = stages
        .iter()
        .map(|s| {
            let w = (s.starts_at, s.ends_at, s.program_code.as_str());
            (s.external_id.as_str(), w)
        })
        .collect();
    let mut by: BTreeMap<i64, Part> = BTreeMap::new();
    for d in devices {
        let Some(&(s, e, program)) = windows.get(d.external_id.as_str()) else {
            continue;
        };
        let p = by.entry(d.enrollment_id).or_insert_with(|| Part {
            enrollment_id: d.enrollment_id,
            customer_id: d.customer_id,
            service_point_id: d.service_point_id.clone(),
            start: floor_quarter(s),
            end: ceil_quarter(e),
            devices: 0,
            opted_out: true,
            program_code: program.to_string(),
            kw: 0.0,
            took_part: false,
            share: 1.0,
            weight: 1.0,
        });
        p.start = p.start.min(floor_quarter(s));
        p.end = p.end.max(ceil_quarter(e));
        p.devices += 1;
        p.opted_out &= d.released();
        if d.took_part() {
            p.took_part = true;
            p.kw += d.expected_kw;
        }
    }
    by.into_values().collect()
}

/// Apportions each meter's savings among the enrollments at it (parts of every program of
/// the event): an enrollment that took part gets its dispatched kW's share of what those
/// that took part in an overlapping window were dispatched for (equal shares if none was
/// dispatched for any kW); one that did not take part gets nothing. An enrollment alone at
/// its meter that took part keeps it all, as before meters were shared.
///
/// The weights make each meter count once in the event's quarter-hour sums: the share where
/// someone at the meter took part, else an equal part of the meter.
pub(super) fn share_meters(parts: &mut [Part]) {
    let mut at: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in parts.iter().enumerate() {
        at.entry(p.service_point_id.as_str()).or_default().push(i);
    }
    let mut shares = Vec::with_capacity(parts.len());
    for p in parts.iter() {
        let meter = &at[p.service_point_id.as_str()];
        let share = if !p.took_part {
            0.0
        } else {
            let with: Vec<&Part> = meter
                .iter()
                .map(|&j| &parts[j])
                .filter(|q| q.took_part && q.start < p.end && p.start < q.end)
                .collect();
            let total: f64 = with.iter().map(|q| q.kw).sum();
            if total > 0.0 {
                p.kw / total
            } else {
                1.0 / with.len() as f64
            }
        };
        let weight = if meter.iter().any(|&j| parts[j].took_part) {
            share
        } else {
            1.0 / meter.len() as f64
        };
        shares.push((share, weight));
    }
    for (p, (share, weight)) in parts.iter_mut().zip(shares) {
        p.share = share;
        p.weight = weight;
    }
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
    /// Per service point, the days in the look-back of other events any enrollment at it
    /// took part in: never its baseline days (a premise meter cannot tell devices apart).
    pub excluded: HashMap<String, Vec<NaiveDate>>,
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
    /// The meter's days that are never baseline days (besides weekends).
    pub(super) fn excluded(&self, service_point_id: &str) -> Excluded<'_> {
        Excluded {
            event_days: self
                .excluded
                .get(service_point_id)
                .map(Vec::as_slice)
                .unwrap_or(&[]),
            holidays: &self.holidays,
        }
    }
}

/// The days that are never a meter's baseline days besides weekends.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Excluded<'a> {
    /// The other event days of the enrollments at the meter.
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
            let excluded = data.excluded(&part.service_point_id);
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

/// The baseline and actual at the enrollment's meter, and the enrollment's share of the
/// meter's savings (kWh avoided, kW drop) and credit; the error is the status and reason of
/// an unmeasured result. Every enrollment at a meter is measured from the same data and the
/// same excluded days, so the meter's figures are one and the shares add up to them.
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
    let share = part.share;
    Ok(Computed {
        part: part.clone(),
        status: "settled",
        reason: None,
        baseline_days: b.days.len() as i32,
        adjustment: b.factor,
        baseline_kwh: b.kwh.iter().sum(),
        actual_kwh: d.actual_event.iter().sum(),
        kwh_avoided: perf.kwh_avoided * share,
        kw_drop: [
            perf.kw_drop_max * share,
            perf.kw_drop_min * share,
            perf.kw_drop_avg * share,
        ],
        rate,
        credit: round_cents((credit * share).max(0.0)),
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

/// The settled results summed per quarter hour, each meter once (by the parts' weights).
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
                e.baseline_kwh += bk * c.part.weight;
                e.actual_kwh += ak * c.part.weight;
                e.enrollments += 1;
            }
        }
    }
    sums
}

#[cfg(test)]
mod tests;
