//! Customer baselines for settlement: pure, deterministic functions over interval energy.
//!
//! Documented choices (also in the README, section "Measurement"):
//! - Candidate days are the days before the event date: Monday to Friday, not a holiday, not
//!   an event day for that customer, with complete data (every interval of the event window
//!   and of the adjustment window, all finite). The 10 most recent such days within
//!   [`LOOKBACK_DAYS`] calendar days are used.
//! - At least [`MIN_DAYS`] (5) eligible days are needed; with 5 to 9 the baseline is taken over
//!   those days; with fewer, [`BaselineError::NotEnoughDays`].
//! - 10-in-10 (`programs.baseline_method = '10in10'`): per interval of the event window, the
//!   average over those days, times the day-of adjustment: actual load ÷ baseline load over the
//!   adjustment window, [`ADJUSTMENT_HOURS`] (2) hours ending [`ADJUSTMENT_GAP_HOURS`] (1) hour
//!   before the event starts, capped to 0.8–1.2 (±20 %). A zero baseline there means factor 1.
//! - High-5-of-10 (`'high5of10'`): among the same days, the 5 with the highest total energy
//!   over the event window, averaged per interval; no day-of adjustment.
//! - kWh avoided = Σ (baseline − actual) over the event; the kW drop of an interval is its
//!   avoided kWh × 60 ÷ interval minutes; max, min and average over the event's intervals.

use chrono::{Datelike, NaiveDate, Weekday};

/// Eligible days averaged by either method.
pub const DAYS: usize = 10;
/// Fewest eligible days a baseline is computed from.
pub const MIN_DAYS: usize = 5;
/// Days ranked highest by High-5-of-10.
pub const HIGH_DAYS: usize = 5;
/// How far back eligible days are looked for.
pub const LOOKBACK_DAYS: i64 = 45;
/// Length of the day-of adjustment window.
pub const ADJUSTMENT_HOURS: i64 = 2;
/// Hours between the end of the adjustment window and the event start.
pub const ADJUSTMENT_GAP_HOURS: i64 = 1;
/// The day-of adjustment factor is kept within 1 ± this.
pub const ADJUSTMENT_CAP: f64 = 0.2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    TenInTen,
    HighFiveOfTen,
}

impl Method {
    /// The value stored in `programs.baseline_method`.
    pub fn parse(s: &str) -> Option<Method> {
        match s {
            "10in10" => Some(Method::TenInTen),
            "high5of10" => Some(Method::HighFiveOfTen),
            _ => None,
        }
    }
}

/// One past day of a customer: kWh per interval at the event's times of day, and over the
/// adjustment window.
#[derive(Debug, Clone, PartialEq)]
pub struct DayProfile {
    pub date: NaiveDate,
    pub event: Vec<f64>,
    pub adjustment: Vec<f64>,
}

/// What the baseline calculation needs besides the history.
#[derive(Debug, Clone)]
pub struct EventInput<'a> {
    pub date: NaiveDate,
    /// Intervals in the event window (e.g. 8 for two hours of 15-minute data).
    pub event_intervals: usize,
    /// Intervals in the adjustment window.
    pub adjustment_intervals: usize,
    /// The event day's actual kWh over the adjustment window (10-in-10 only).
    pub actual_adjustment: &'a [f64],
    /// The customer's other event days: never baseline days.
    pub excluded: &'a [NaiveDate],
    /// The utility's holidays (date, name): never baseline days.
    pub holidays: &'a [(NaiveDate, String)],
}

#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// kWh per interval of the event window, adjusted.
    pub kwh: Vec<f64>,
    /// Before the day-of adjustment.
    pub unadjusted: Vec<f64>,
    /// The capped adjustment factor (1 for High-5-of-10).
    pub factor: f64,
    /// The days averaged, most recent first.
    pub days: Vec<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BaselineError {
    #[error("only {found} eligible day(s) in the {LOOKBACK_DAYS} days before {date}; a baseline needs at least {needed}")]
    NotEnoughDays {
        date: NaiveDate,
        found: usize,
        needed: usize,
    },
    #[error("the event day's adjustment window has {found} interval(s), expected {expected}")]
    IncompleteAdjustment { found: usize, expected: usize },
    #[error("actual load has {actual} interval(s) but the baseline {baseline}")]
    LengthMismatch { baseline: usize, actual: usize },
    #[error("the event window has no intervals")]
    EmptyWindow,
}

fn complete(v: &[f64], n: usize) -> bool {
    v.len() == n && v.iter().all(|x| x.is_finite())
}

/// The eligible days, most recent first, at most [`DAYS`].
pub fn eligible_days<'h>(input: &EventInput<'_>, history: &'h [DayProfile]) -> Vec<&'h DayProfile> {
    let earliest = input.date - chrono::Duration::days(LOOKBACK_DAYS);
    let mut days: Vec<&DayProfile> = history
        .iter()
        .filter(|d| d.date < input.date && d.date >= earliest)
        .filter(|d| !matches!(d.date.weekday(), Weekday::Sat | Weekday::Sun))
        .filter(|d| !input.excluded.contains(&d.date))
        .filter(|d| !input.holidays.iter().any(|(h, _)| *h == d.date))
        .filter(|d| complete(&d.event, input.event_intervals))
        .filter(|d| complete(&d.adjustment, input.adjustment_intervals))
        .collect();
    days.sort_by_key(|d| std::cmp::Reverse(d.date));
    days.dedup_by_key(|d| d.date);
    days.truncate(DAYS);
    days
}

/// Whether a candidate day was a baseline day and, if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayUse {
    Used,
    /// Eligible, but High-5-of-10 kept five days with more energy.
    NotHighest,
    /// Eligible, but too few days were eligible for a baseline.
    TooFew,
    /// A holiday of the utility's calendar, with its name.
    Holiday(String),
    Weekend,
    /// Another event day of the customer.
    EventDay,
    /// Some interval of the event or adjustment window is missing.
    NoData,
}

impl DayUse {
    /// Written for the report: "used", or why the day was skipped.
    pub fn describe(&self) -> String {
        match self {
            DayUse::Used => "used".into(),
            DayUse::NotHighest => "eligible, not among the 5 highest".into(),
            DayUse::TooFew => format!("eligible, but fewer than {MIN_DAYS} eligible days"),
            DayUse::Holiday(name) => format!("holiday: {name}"),
            DayUse::Weekend => "weekend".into(),
            DayUse::EventDay => "event day".into(),
            DayUse::NoData => "no complete data".into(),
        }
    }
}

/// One day before the event and what the baseline made of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateDay {
    pub date: NaiveDate,
    pub used: DayUse,
}

/// The days the baseline looked at, most recent first: every day from the day before the
/// event back to the oldest eligible day it kept (the whole look-back when it found fewer
/// than [`DAYS`]), each used or skipped with the reason. A holiday is named even on a
/// weekend; an event day that is also a weekend day is a weekend.
pub fn candidate_days(
    method: Method,
    input: &EventInput<'_>,
    history: &[DayProfile],
) -> Vec<CandidateDay> {
    let eligible = eligible_days(input, history);
    // Without a baseline (too few days) nothing was used.
    let used: Vec<NaiveDate> = baseline(method, input, history)
        .map(|b| b.days)
        .unwrap_or_default();
    let oldest = if eligible.len() == DAYS {
        eligible.last().map(|d| d.date)
    } else {
        None
    }
    .unwrap_or(input.date - chrono::Duration::days(LOOKBACK_DAYS));
    let mut out = Vec::new();
    let mut day = input.date.pred_opt();
    while let Some(date) = day.filter(|d| *d >= oldest) {
        let used = if let Some((_, name)) = input.holidays.iter().find(|(h, _)| *h == date) {
            DayUse::Holiday(name.clone())
        } else if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            DayUse::Weekend
        } else if input.excluded.contains(&date) {
            DayUse::EventDay
        } else if used.contains(&date) {
            DayUse::Used
        } else if eligible.iter().any(|d| d.date == date) {
            if used.is_empty() {
                DayUse::TooFew
            } else {
                DayUse::NotHighest
            }
        } else {
            DayUse::NoData
        };
        out.push(CandidateDay { date, used });
        day = date.pred_opt();
    }
    out
}

fn average(days: &[&DayProfile], pick: impl Fn(&DayProfile) -> &[f64], n: usize) -> Vec<f64> {
    let mut sum = vec![0.0; n];
    for d in days {
        for (s, v) in sum.iter_mut().zip(pick(d)) {
            *s += v;
        }
    }
    sum.iter().map(|s| s / days.len() as f64).collect()
}

/// The baseline of one customer for one event (see the module documentation).
pub fn baseline(
    method: Method,
    input: &EventInput<'_>,
    history: &[DayProfile],
) -> Result<Baseline, BaselineError> {
    if input.event_intervals == 0 {
        return Err(BaselineError::EmptyWindow);
    }
    let mut days = eligible_days(input, history);
    if days.len() < MIN_DAYS {
        return Err(BaselineError::NotEnoughDays {
            date: input.date,
            found: days.len(),
            needed: MIN_DAYS,
        });
    }
    match method {
        Method::TenInTen => {
            if !complete(input.actual_adjustment, input.adjustment_intervals) {
                return Err(BaselineError::IncompleteAdjustment {
                    found: input.actual_adjustment.len(),
                    expected: input.adjustment_intervals,
                });
            }
            let unadjusted = average(&days, |d| &d.event, input.event_intervals);
            let base_adj: f64 = average(&days, |d| &d.adjustment, input.adjustment_intervals)
                .iter()
                .sum();
            let actual_adj: f64 = input.actual_adjustment.iter().sum();
            let factor = if base_adj > 0.0 {
                (actual_adj / base_adj).clamp(1.0 - ADJUSTMENT_CAP, 1.0 + ADJUSTMENT_CAP)
            } else {
                1.0
            };
            Ok(Baseline {
                kwh: unadjusted.iter().map(|v| v * factor).collect(),
                unadjusted,
                factor,
                days: days.iter().map(|d| d.date).collect(),
            })
        }
        Method::HighFiveOfTen => {
            // Highest total first; on a tie the more recent day (the sort is stable).
            days.sort_by(|a, b| {
                let (ta, tb): (f64, f64) = (a.event.iter().sum(), b.event.iter().sum());
                tb.total_cmp(&ta)
            });
            days.truncate(HIGH_DAYS);
            let unadjusted = average(&days, |d| &d.event, input.event_intervals);
            Ok(Baseline {
                kwh: unadjusted.clone(),
                unadjusted,
                factor: 1.0,
                days: days.iter().map(|d| d.date).collect(),
            })
        }
    }
}

/// What the customer delivered against the baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Performance {
    pub kwh_avoided: f64,
    pub kw_drop_max: f64,
    pub kw_drop_min: f64,
    pub kw_drop_avg: f64,
}

/// kWh avoided and kW drop over the event (see the module documentation).
pub fn performance(
    baseline_kwh: &[f64],
    actual_kwh: &[f64],
    interval_minutes: i64,
) -> Result<Performance, BaselineError> {
    if baseline_kwh.len() != actual_kwh.len() {
        return Err(BaselineError::LengthMismatch {
            baseline: baseline_kwh.len(),
            actual: actual_kwh.len(),
        });
    }
    if baseline_kwh.is_empty() {
        return Err(BaselineError::EmptyWindow);
    }
    let avoided: Vec<f64> = baseline_kwh
        .iter()
        .zip(actual_kwh)
        .map(|(b, a)| b - a)
        .collect();
    let kw: Vec<f64> = avoided
        .iter()
        .map(|k| k * 60.0 / interval_minutes as f64)
        .collect();
    Ok(Performance {
        kwh_avoided: avoided.iter().sum(),
        kw_drop_max: kw.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        kw_drop_min: kw.iter().cloned().fold(f64::INFINITY, f64::min),
        kw_drop_avg: kw.iter().sum::<f64>() / kw.len() as f64,
    })
}

/// Reads a service point's stored interval data into quarter-hour [`DayProfile`]s for an
/// event [`event_start`, `event_end`) (15-minute grid): candidate day k is the event window
/// at the same local hours k days earlier (k = 1 … [`LOOKBACK_DAYS`]; 23 or 25 hours a day
/// across a daylight-saving change), dated by the utility's local date. Hourly readings count a quarter of their kWh in each quarter hour. Also returns
/// the event day's actual quarter hours over the adjustment window and the event.
pub async fn load_profiles(
    db: &crate::db::Db,
    cal: crate::calendar::Calendar,
    service_point_id: &str,
    event_start: chrono::DateTime<chrono::Utc>,
    event_end: chrono::DateTime<chrono::Utc>,
) -> Result<Loaded, crate::error::DomainError> {
    use chrono::Duration;
    use std::collections::HashMap;
    let quarter = Duration::minutes(15);
    let event_n = ((event_end - event_start).num_minutes().max(0) / 15) as usize;
    let adj_span = Duration::hours(ADJUSTMENT_HOURS + ADJUSTMENT_GAP_HOURS);
    let adj_from = event_start - adj_span;
    let adj_n = (ADJUSTMENT_HOURS * 4) as usize;
    let from = cal.days_before(adj_from, LOOKBACK_DAYS) - Duration::hours(2);
    let rows: Vec<(chrono::DateTime<chrono::Utc>, i32, f64)> = crate::with_db!(db, |c| {
        sqlx::query_as(
            "SELECT interval_start, interval_minutes, kwh FROM interval_readings
             WHERE service_point_id = $1 AND interval_start >= $2 AND interval_start < $3",
        )
        .bind(service_point_id)
        .bind(from)
        .bind(event_end)
        .fetch_all(c)
        .await?
    });
    let mut quarters: HashMap<chrono::DateTime<chrono::Utc>, f64> = HashMap::new();
    for (start, minutes, kwh) in rows {
        let parts = (minutes / 15).max(1);
        for p in 0..parts {
            quarters.insert(start + quarter * p, kwh / f64::from(parts));
        }
    }
    // A missing quarter is NaN: the day is then incomplete and not eligible.
    let series = |from: chrono::DateTime<chrono::Utc>, n: usize| -> Vec<f64> {
        (0..n)
            .map(|i| {
                quarters
                    .get(&(from + quarter * i as i32))
                    .copied()
                    .unwrap_or(f64::NAN)
            })
            .collect()
    };
    let history = (1..=LOOKBACK_DAYS)
        .map(|k| {
            let start = cal.days_before(event_start, k);
            DayProfile {
                date: cal.local_date(start),
                event: series(start, event_n),
                adjustment: series(start - adj_span, adj_n),
            }
        })
        .collect();
    Ok(Loaded {
        date: cal.local_date(event_start),
        history,
        actual_event: series(event_start, event_n),
        actual_adjustment: series(adj_from, adj_n),
    })
}

/// A service point's data around one event, as [`load_profiles`] read it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub date: NaiveDate,
    pub history: Vec<DayProfile>,
    pub actual_event: Vec<f64>,
    pub actual_adjustment: Vec<f64>,
}

impl Loaded {
    /// The inputs of [`baseline`] for this event, with the customer's other event days
    /// (`excluded`) and the utility's holidays.
    pub fn input<'a>(
        &'a self,
        excluded: &'a [NaiveDate],
        holidays: &'a [(NaiveDate, String)],
    ) -> EventInput<'a> {
        EventInput {
            date: self.date,
            event_intervals: self.actual_event.len(),
            adjustment_intervals: self.actual_adjustment.len(),
            actual_adjustment: &self.actual_adjustment,
            excluded,
            holidays,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
    }

    /// The event is on Wednesday 2026-07-15. Weekdays before it, most recent first:
    /// Jul 14, 13, 10 (excluded: an event day), 9, 8, 7, 6, 3 (a holiday), 2, 1, Jun 30, 29.
    /// The ten eligible, most recent first, are Jul 14, 13, 9, 8, 7, 6, 2, 1, Jun 30, 29 and
    /// get load i = 10 … 1 (the most recent 10): event intervals [i, 2i], adjustment [1, 1].
    /// Weekends, the event day, the holiday and an older day Jun 26 carry 1000 kWh: never used.
    fn history() -> Vec<DayProfile> {
        let eligible = [
            "2026-07-14",
            "2026-07-13",
            "2026-07-09",
            "2026-07-08",
            "2026-07-07",
            "2026-07-06",
            "2026-07-02",
            "2026-07-01",
            "2026-06-30",
            "2026-06-29",
        ];
        let mut out: Vec<DayProfile> = eligible
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let i = (10 - k) as f64;
                DayProfile {
                    date: d(s),
                    event: vec![i, 2.0 * i],
                    adjustment: vec![1.0, 1.0],
                }
            })
            .collect();
        for s in [
            "2026-07-12",
            "2026-07-11",
            "2026-07-10",
            "2026-07-03",
            "2026-06-26",
        ] {
            out.push(DayProfile {
                date: d(s),
                event: vec![1000.0, 1000.0],
                adjustment: vec![1000.0, 1000.0],
            });
        }
        // A day with a missing interval is not eligible either.
        out.push(DayProfile {
            date: d("2026-07-13"),
            event: vec![1000.0],
            adjustment: vec![1.0, 1.0],
        });
        out
    }

    fn input<'a>(actual_adjustment: &'a [f64], excluded: &'a [NaiveDate]) -> EventInput<'a> {
        EventInput {
            date: d("2026-07-15"),
            event_intervals: 2,
            adjustment_intervals: 2,
            actual_adjustment,
            excluded,
            holidays: &[],
        }
    }

    #[test]
    fn ten_in_ten_averages_the_ten_most_recent_eligible_days_with_a_capped_adjustment() {
        let excluded = [d("2026-07-10"), d("2026-07-03")];
        let h = history();
        // Average of i = 1..10 is 5.5, so the unadjusted baseline is [5.5, 11].
        // Adjustment: actual 1.1 + 1.1 = 2.2 over baseline 1 + 1 = 2 → factor 1.1 → [6.05, 12.1].
        let b = baseline(Method::TenInTen, &input(&[1.1, 1.1], &excluded), &h).unwrap();
        assert!(close(&b.unadjusted, &[5.5, 11.0]), "{b:?}");
        assert!((b.factor - 1.1).abs() < 1e-12);
        assert!(close(&b.kwh, &[6.05, 12.1]), "{b:?}");
        assert_eq!(b.days.len(), 10);
        assert_eq!(b.days[0], d("2026-07-14"));
        assert_eq!(b.days[9], d("2026-06-29"));
        // 4 / 2 = 2.0 is capped to 1.2 → [6.6, 13.2]; 0.5 / 2 = 0.25 to 0.8 → [4.4, 8.8].
        let b = baseline(Method::TenInTen, &input(&[2.0, 2.0], &excluded), &h).unwrap();
        assert!((b.factor - 1.2).abs() < 1e-12);
        assert!(close(&b.kwh, &[6.6, 13.2]), "{b:?}");
        let b = baseline(Method::TenInTen, &input(&[0.25, 0.25], &excluded), &h).unwrap();
        assert!((b.factor - 0.8).abs() < 1e-12);
        assert!(close(&b.kwh, &[4.4, 8.8]), "{b:?}");
        // The event day's own adjustment window must be complete.
        assert_eq!(
            baseline(Method::TenInTen, &input(&[1.0], &excluded), &h),
            Err(BaselineError::IncompleteAdjustment {
                found: 1,
                expected: 2
            })
        );
    }

    #[test]
    fn high_five_of_ten_averages_the_five_highest_days() {
        let excluded = [d("2026-07-10"), d("2026-07-03")];
        // Totals are 3i; the five highest are i = 10, 9, 8, 7, 6 (Jul 14 … Jul 6): their
        // average is 8 → [8, 16]. No adjustment, even with a high actual load before.
        let b = baseline(
            Method::HighFiveOfTen,
            &input(&[9.0, 9.0], &excluded),
            &history(),
        )
        .unwrap();
        assert!(close(&b.kwh, &[8.0, 16.0]), "{b:?}");
        assert_eq!(b.factor, 1.0);
        assert_eq!(
            b.days,
            vec![
                d("2026-07-14"),
                d("2026-07-13"),
                d("2026-07-09"),
                d("2026-07-08"),
                d("2026-07-07")
            ]
        );
    }

    #[test]
    fn a_holiday_or_event_day_that_is_not_excluded_counts_and_the_oldest_drops_out() {
        // Without exclusions Jul 10 and Jul 3 (1000 kWh) are eligible and push out the two
        // oldest days (i = 1, 2): the average of the event interval is
        // (3+4+…+10 + 2000) / 10 = (52 + 2000) / 10 = 205.2.
        let b = baseline(Method::TenInTen, &input(&[2.0, 2.0], &[]), &history()).unwrap();
        assert!((b.unadjusted[0] - 205.2).abs() < 1e-9, "{b:?}");
    }

    #[test]
    fn a_holiday_is_skipped_like_an_event_day_and_the_candidate_days_say_why() {
        // Jul 3 (1000 kWh) is a holiday, Jul 10 an event day: the ten days left are those of
        // the first test, whose event interval averages 5.5 (i = 1 … 10).
        let excluded = [d("2026-07-10")];
        let holidays = [(d("2026-07-03"), "Independence Day (observed)".to_string())];
        let with = EventInput {
            holidays: &holidays,
            ..input(&[2.0, 2.0], &excluded)
        };
        let h = history();
        let b = baseline(Method::TenInTen, &with, &h).unwrap();
        assert!(close(&b.unadjusted, &[5.5, 11.0]), "{b:?}");
        assert!(!b.days.contains(&d("2026-07-03")));
        // Not a holiday, Jul 3 counts and Jun 29 (i = 1) drops out:
        // (2 + 3 + … + 10 + 1000) / 10 = (54 + 1000) / 10 = 105.4.
        let b = baseline(Method::TenInTen, &input(&[2.0, 2.0], &excluded), &h).unwrap();
        assert!((b.unadjusted[0] - 105.4).abs() < 1e-9, "{b:?}");

        // From Jul 14 back to the oldest day used (Jun 29): 16 days, each used or skipped.
        let days = candidate_days(Method::TenInTen, &with, &h);
        let at = |s: &str| days.iter().find(|c| c.date == d(s)).map(|c| c.used.clone());
        assert_eq!(days.len(), 16, "{days:?}");
        assert_eq!(days[0].date, d("2026-07-14"));
        assert_eq!(days[15].date, d("2026-06-29"));
        assert_eq!(at("2026-07-14"), Some(DayUse::Used));
        assert_eq!(at("2026-07-11"), Some(DayUse::Weekend));
        assert_eq!(at("2026-07-10"), Some(DayUse::EventDay));
        assert_eq!(
            at("2026-07-03"),
            Some(DayUse::Holiday("Independence Day (observed)".into()))
        );
        assert_eq!(at("2026-06-26"), None, "older than the ten used");
        assert_eq!(days.iter().filter(|c| c.used == DayUse::Used).count(), DAYS);
        assert_eq!(
            DayUse::Holiday("Independence Day (observed)".into()).describe(),
            "holiday: Independence Day (observed)"
        );
        // High-5-of-10 uses the five highest (Jul 14 … Jul 7); Jul 6 and older are eligible
        // but not used.
        let days = candidate_days(Method::HighFiveOfTen, &with, &h);
        let at = |s: &str| days.iter().find(|c| c.date == d(s)).map(|c| c.used.clone());
        assert_eq!(at("2026-07-07"), Some(DayUse::Used));
        assert_eq!(at("2026-07-06"), Some(DayUse::NotHighest));
    }

    #[test]
    fn a_day_without_complete_data_is_listed_as_such() {
        // Jul 9 loses an interval: it is skipped for no data and Jun 26 is needed instead.
        let mut h: Vec<DayProfile> = history()
            .into_iter()
            .filter(|p| p.date != d("2026-06-26"))
            .collect();
        for p in h.iter_mut().filter(|p| p.date == d("2026-07-09")) {
            p.event = vec![f64::NAN, 1.0];
        }
        let excluded = [d("2026-07-10"), d("2026-07-03")];
        let days = candidate_days(Method::TenInTen, &input(&[1.0, 1.0], &excluded), &h);
        let at = |s: &str| days.iter().find(|c| c.date == d(s)).map(|c| c.used.clone());
        assert_eq!(at("2026-07-09"), Some(DayUse::NoData));
        // Nine eligible days: the whole look-back is listed, the days before Jun 29 have none.
        assert_eq!(days.len(), LOOKBACK_DAYS as usize);
        assert_eq!(at("2026-06-26"), Some(DayUse::NoData));
        assert_eq!(at("2026-06-29"), Some(DayUse::Used));
    }

    #[test]
    fn too_few_eligible_days_is_a_clear_error() {
        let h: Vec<DayProfile> = history()
            .into_iter()
            .filter(|p| p.date >= d("2026-07-08"))
            .collect();
        // Left: Jul 14, 13, 9, 8 eligible (Jul 10 excluded, weekends never) = 4 < 5.
        let excluded = [d("2026-07-10")];
        let e = baseline(Method::HighFiveOfTen, &input(&[1.0, 1.0], &excluded), &h).unwrap_err();
        assert_eq!(
            e,
            BaselineError::NotEnoughDays {
                date: d("2026-07-15"),
                found: 4,
                needed: 5
            }
        );
        assert!(e.to_string().contains("at least 5"), "{e}");
        // With Jul 7 back, five days are enough: the average of i = 10, 9, 8, 7, 6 is 8.
        let h: Vec<DayProfile> = history()
            .into_iter()
            .filter(|p| p.date >= d("2026-07-07"))
            .collect();
        let b = baseline(Method::TenInTen, &input(&[2.0, 2.0], &excluded), &h).unwrap();
        assert!(close(&b.unadjusted, &[8.0, 16.0]), "{b:?}");
    }

    #[test]
    fn performance_gives_kwh_avoided_and_kw_drops() {
        // Baseline [5.5, 11], actual [3.5, 10] over 15-minute intervals: avoided 2 + 1 = 3 kWh;
        // kW drop = kWh × 4 → [8, 4]: max 8, min 4, average 6.
        let p = performance(&[5.5, 11.0], &[3.5, 10.0], 15).unwrap();
        assert!((p.kwh_avoided - 3.0).abs() < 1e-12);
        assert_eq!(
            (p.kw_drop_max, p.kw_drop_min, p.kw_drop_avg),
            (8.0, 4.0, 6.0)
        );
        // Hourly: the kW drop equals the kWh; a load above the baseline is a negative drop.
        let p = performance(&[2.0, 2.0], &[3.0, 1.0], 60).unwrap();
        assert_eq!(
            (p.kwh_avoided, p.kw_drop_max, p.kw_drop_min),
            (0.0, 1.0, -1.0)
        );
        assert_eq!(
            performance(&[1.0], &[1.0, 2.0], 15),
            Err(BaselineError::LengthMismatch {
                baseline: 1,
                actual: 2
            })
        );
        assert_eq!(performance(&[], &[], 15), Err(BaselineError::EmptyWindow));
        assert_eq!(Method::parse("10in10"), Some(Method::TenInTen));
        assert_eq!(Method::parse("high5of10"), Some(Method::HighFiveOfTen));
        assert_eq!(Method::parse("other"), None);
    }
}
