//! Zone load forecasts: the baseline load per 15-minute interval from feeder load history and
//! the temperature forecast, and the expected reduction per device type from the editable table.
//!
//! # The baseline model
//!
//! Per feeder, from the metered load of the [`HISTORY_DAYS`] days before the forecast start:
//!
//! 1. Each history interval is put in a *slot* (its local quarter-hour of the day, 0..96) and
//!    a *day type* (weekday or weekend, by local date in the utility's
//!    [`Calendar`](crate::calendar::Calendar), daylight saving included). The *profile* is the mean
//!    load of every slot and day type, and the mean observed temperature at that slot and day
//!    type.
//! 2. The *temperature sensitivity* β (kW per °C) is fitted once per feeder by least squares
//!    of the load's deviation from its profile against the temperature's deviation from its
//!    mean, over every history interval with an observed temperature. Working on deviations
//!    keeps the daily shape (which also follows the sun) out of the slope.
//! 3. The forecast of an interval is `profile(slot, day type) + β × (T_forecast − T_mean(slot,
//!    day type))`, never below zero. An hour without a forecast temperature gets no
//!    adjustment (the profile alone). A day type with no history borrows the other's profile.
//!
//! A zone is any mix of substations, feeders and transformers. It is resolved to feeders with a
//! share each: a substation brings its feeders whole, a feeder itself whole, a transformer its
//! feeder's load in proportion to its rated kVA among the feeder's current transformers
//! (equal shares when a rating is missing). A feeder brought whole counts once however many
//! times the zone names it or its substation, and transformer shares of one feeder add up to
//! at most the whole feeder, so nothing is counted twice.
//!
//! A feeder of the zone without any load history in the window makes the forecast fail with
//! an error naming the feeder (no silent zero: a planner would see no load to shed).
//!
//! # Expected reduction
//!
//! `reduction_factors` looks up, per device type and interval, the first row (by id) of the
//! editable table whose local hour range `[hour_from, hour_to)` and temperature band
//! `[temp_from_c, temp_to_c)` contain the interval's local hour and temperature (forecast,
//! else observed, else [`MILD_C`]); no matching row means no reduction.

mod reduction;
mod weather;
mod zone;

pub use reduction::{
    delete_reduction, factor_for, list_reductions, put_reduction, reduction_factors,
    ReductionEntry, ReductionRow,
};
pub use weather::{parse_weather_csv, store_forecast, WeatherUpload, MAX_UPLOAD_HOURS};
pub use zone::{
    feeder_models, feeder_shares, fit_feeders, interval_temperatures, load_history,
    load_temperatures, transformer_shares, zone_baseline, zone_nodes, NodeInfo,
};

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use crate::calendar::Calendar;

/// Quarter-hours in a day.
pub const SLOTS_PER_DAY: usize = 96;
/// Days of load history the profile and the sensitivity are fitted on.
pub const HISTORY_DAYS: i64 = 28;
/// The temperature assumed for an hour with neither a forecast nor an observation.
pub const MILD_C: f64 = 20.0;
/// 48 hours of quarter hours: the horizon on days without a daylight-saving change.
pub const HORIZON_INTERVALS: usize = 48 * 4;

/// How far ahead the forecast page and the roll-up look from `start`: two whole local days, up
/// to the same local time two days on — 4 intervals fewer or more across a daylight-saving
/// change (the local days' own quarter hours, from [`Calendar::day_intervals`]).
pub fn horizon_intervals(cal: Calendar, start: DateTime<Utc>) -> usize {
    let today = cal.local_date(start);
    let end = cal.days_before(start, -2);
    (0..=2)
        .flat_map(|d| cal.day_intervals(today + Duration::days(d)))
        .filter(|t| *t >= start && *t < end)
        .count()
}

/// Local quarter-hour of the day, 0..96.
pub fn slot_of(cal: Calendar, t: DateTime<Utc>) -> usize {
    cal.quarter_of_day(t)
}

/// 1 for Saturday and Sunday (local), 0 otherwise.
pub fn day_type_of(cal: Calendar, t: DateTime<Utc>) -> usize {
    usize::from(cal.is_weekend(t))
}

fn hour_key(t: DateTime<Utc>) -> i64 {
    let s = t.timestamp();
    s - s.rem_euclid(3600)
}

/// Hourly temperatures, keyed by the hour's start.
#[derive(Debug, Clone, Default)]
pub struct Temperatures(HashMap<i64, f64>);

impl Temperatures {
    pub fn from_pairs(pairs: impl IntoIterator<Item = (DateTime<Utc>, f64)>) -> Self {
        Temperatures(pairs.into_iter().map(|(t, c)| (hour_key(t), c)).collect())
    }

    /// The temperature of the hour `t` falls in.
    pub fn at(&self, t: DateTime<Utc>) -> Option<f64> {
        self.0.get(&hour_key(t)).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every (hour start, °C), in no particular order.
    pub fn hours(&self) -> impl Iterator<Item = (DateTime<Utc>, f64)> + '_ {
        self.0
            .iter()
            .filter_map(|(k, c)| DateTime::from_timestamp(*k, 0).map(|t| (t, *c)))
    }
}

/// A feeder's fitted profile and temperature sensitivity.
#[derive(Debug, Clone, PartialEq)]
pub struct FeederModel {
    /// Mean kW per `[day type][slot]`.
    pub profile_kw: Vec<[f64; SLOTS_PER_DAY]>,
    /// Mean observed °C per `[day type][slot]`.
    pub mean_temp_c: Vec<[f64; SLOTS_PER_DAY]>,
    /// kW per °C above the slot's mean temperature.
    pub beta_kw_per_c: f64,
}

/// Fits the model to a feeder's history; `None` when there is no history at all.
pub fn fit(
    cal: Calendar,
    history: &[(DateTime<Utc>, f64)],
    observed: &Temperatures,
) -> Option<FeederModel> {
    if history.is_empty() {
        return None;
    }
    let mut kw_sum = [[0.0f64; SLOTS_PER_DAY]; 2];
    let mut kw_n = [[0u32; SLOTS_PER_DAY]; 2];
    let mut t_sum = [[0.0f64; SLOTS_PER_DAY]; 2];
    let mut t_n = [[0u32; SLOTS_PER_DAY]; 2];
    let mut points = Vec::with_capacity(history.len());
    for &(t, kw) in history {
        let (d, s) = (day_type_of(cal, t), slot_of(cal, t));
        kw_sum[d][s] += kw;
        kw_n[d][s] += 1;
        let temp = observed.at(t);
        if let Some(c) = temp {
            t_sum[d][s] += c;
            t_n[d][s] += 1;
        }
        points.push((d, s, kw, temp));
    }
    let overall_kw = history.iter().map(|h| h.1).sum::<f64>() / history.len() as f64;
    let temps: Vec<f64> = points.iter().filter_map(|p| p.3).collect();
    let overall_t = if temps.is_empty() {
        MILD_C
    } else {
        temps.iter().sum::<f64>() / temps.len() as f64
    };
    let mean = |sum: &[[f64; SLOTS_PER_DAY]; 2], n: &[[u32; SLOTS_PER_DAY]; 2], fallback: f64| {
        let mut out = vec![[fallback; SLOTS_PER_DAY]; 2];
        for d in 0..2 {
            for s in 0..SLOTS_PER_DAY {
                // A day type without this slot borrows the other day type's.
                let (sum, n) = if n[d][s] > 0 {
                    (sum[d][s], n[d][s])
                } else {
                    (sum[1 - d][s], n[1 - d][s])
                };
                if n > 0 {
                    out[d][s] = sum / f64::from(n);
                }
            }
        }
        out
    };
    let profile_kw = mean(&kw_sum, &kw_n, overall_kw);
    let mean_temp_c = mean(&t_sum, &t_n, overall_t);
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (d, s, kw, temp) in points {
        if let Some(c) = temp {
            let dx = c - mean_temp_c[d][s];
            sxy += dx * (kw - profile_kw[d][s]);
            sxx += dx * dx;
        }
    }
    let beta_kw_per_c = if sxx > 1e-9 { sxy / sxx } else { 0.0 };
    Some(FeederModel {
        profile_kw,
        mean_temp_c,
        beta_kw_per_c,
    })
}

/// The forecast kW of `intervals` 15-minute intervals from `start` (aligned).
pub fn predict(
    cal: Calendar,
    model: &FeederModel,
    start: DateTime<Utc>,
    intervals: usize,
    forecast: &Temperatures,
) -> Vec<f64> {
    (0..intervals)
        .map(|i| {
            let t = start + Duration::minutes(15 * i as i64);
            let (d, s) = (day_type_of(cal, t), slot_of(cal, t));
            let adjust = forecast
                .at(t)
                .map(|c| model.beta_kw_per_c * (c - model.mean_temp_c[d][s]))
                .unwrap_or(0.0);
            (model.profile_kw[d][s] + adjust).max(0.0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_horizon_is_two_local_days_whatever_their_length() {
        use chrono::TimeZone;
        let cal = Calendar::default();
        let at = |y, m, d, h| Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap();
        // An ordinary July afternoon: 192 quarter hours.
        assert_eq!(
            horizon_intervals(cal, at(2026, 7, 14, 22)),
            HORIZON_INTERVALS
        );
        // Saturday 17:00 CDT before the fall-back: to Monday 17:00 CST is 49 hours.
        assert_eq!(horizon_intervals(cal, at(2026, 10, 31, 22)), 196);
        // Saturday 17:00 CST before the spring-forward: to Monday 17:00 CDT is 47 hours.
        assert_eq!(horizon_intervals(cal, at(2026, 3, 7, 23)), 188);
    }
    use crate::calendar::align;
    use chrono::TimeZone;

    fn cal() -> Calendar {
        Calendar::default()
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 7, 1, 6, 0, 0).unwrap()
    }

    /// 28 days of a feeder whose load is 1000 kW + 50 kW per °C, temperature swinging daily.
    fn history() -> (Vec<(DateTime<Utc>, f64)>, Temperatures) {
        let start = t0() - Duration::days(28);
        let mut h = Vec::new();
        let mut temps = Vec::new();
        for i in 0..28 * 96 {
            let t = start + Duration::minutes(15 * i);
            let hour = (i / 4) % 24;
            let day = i / 96;
            let c = 25.0
                + 6.0 * ((hour as f64 - 15.0) / 24.0 * std::f64::consts::TAU).cos()
                + (day % 5) as f64;
            if i % 4 == 0 {
                temps.push((t, c));
            }
            h.push((t, 1000.0 + 50.0 * c + 200.0 * (hour as f64 / 24.0)));
        }
        (h, Temperatures::from_pairs(temps))
    }

    #[test]
    fn a_hotter_forecast_gives_a_higher_baseline() {
        let (h, observed) = history();
        let model = fit(cal(), &h, &observed).expect("history fits");
        assert!(
            (model.beta_kw_per_c - 50.0).abs() < 1.0,
            "sensitivity recovered: {}",
            model.beta_kw_per_c
        );
        let hours =
            |c: f64| Temperatures::from_pairs((0..48).map(|i| (t0() + Duration::hours(i), c)));
        let mild = predict(cal(), &model, t0(), 192, &hours(24.0));
        let hot = predict(cal(), &model, t0(), 192, &hours(34.0));
        assert_eq!(mild.len(), 192);
        for (m, h) in mild.iter().zip(&hot) {
            assert!(
                (h - m - 500.0).abs() < 20.0,
                "10 °C hotter adds ≈ 500 kW: {m} → {h}"
            );
        }
    }

    #[test]
    fn no_history_gives_no_model() {
        assert_eq!(fit(cal(), &[], &Temperatures::default()), None);
    }

    #[test]
    fn without_temperatures_the_forecast_is_the_profile() {
        let (h, _) = history();
        let model = fit(cal(), &h, &Temperatures::default()).unwrap();
        assert_eq!(model.beta_kw_per_c, 0.0);
        let p = predict(cal(), &model, t0(), 4, &Temperatures::default());
        let (d, s) = (day_type_of(cal(), t0()), slot_of(cal(), t0()));
        assert!((p[0] - model.profile_kw[d][s]).abs() < 1e-9);
    }

    #[test]
    fn intervals_align_to_the_quarter_hour() {
        let t = Utc.with_ymd_and_hms(2026, 7, 1, 6, 7, 31).unwrap();
        assert_eq!(align(t), Utc.with_ymd_and_hms(2026, 7, 1, 6, 0, 0).unwrap());
        // 05:00 UTC is midnight local in July (CDT, UTC−5); 06:00 is 01:00.
        assert_eq!(slot_of(cal(), align(t)), 4);
        assert_eq!(slot_of(cal(), align(t) - Duration::hours(1)), 0);
    }
}
