//! The demo's recorded past: feeder load history and observed temperatures, a hot forecast
//! ahead, the default expected-reduction table, and a sample of customers' interval meter data.

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::calendar::Calendar;
use crate::db::{insert_rows, Arg, Tx};
use crate::error::DomainError;
use crate::programs::meter::Reading;
use crate::programs::meter_days;

/// Days of 15-minute feeder load history (and hourly observed temperatures) in the demo.
pub const DEMO_HISTORY_DAYS: i64 = 35;

/// A summer day's temperature at local hour `h`: coolest before dawn, hottest mid-afternoon.
fn demo_temperature(day_mean: f64, h: f64) -> f64 {
    day_mean + 7.0 * ((h - 15.5) / 24.0 * std::f64::consts::TAU).cos()
}

fn bump(h: f64, centre: f64, width: f64) -> f64 {
    (-(h - centre).powi(2) / (2.0 * width * width)).exp()
}

/// One household's kW at local hour `h`: morning and evening peaks (later and flatter at
/// weekends) and air conditioning above 21 °C, which makes the late afternoon the peak.
fn demo_home_kw(h: f64, weekend: bool, temp_c: f64) -> f64 {
    let shape = if weekend {
        0.45 * bump(h, 9.5, 1.5) + 0.25 * bump(h, 13.0, 2.0) + 0.85 * bump(h, 18.5, 2.5)
    } else {
        0.55 * bump(h, 7.0, 1.0) + 0.95 * bump(h, 18.5, 2.0)
    };
    0.45 + shape + 0.11 * (temp_c - 21.0).max(0.0)
}

/// A default reduction row: device type, local hours `[from, until)`, temperature band
/// `[from, until)` in °C, share of nominal kW.
type DefaultReduction = (&'static str, (i32, i32), (f64, f64), f64);

/// The default expected-reduction table.
pub const DEFAULT_REDUCTIONS: &[DefaultReduction] = &[
    ("thermostat", (0, 12), (-60.0, 60.0), 0.15),
    ("thermostat", (12, 20), (-60.0, 24.0), 0.15),
    ("thermostat", (12, 20), (24.0, 30.0), 0.40),
    ("thermostat", (12, 20), (30.0, 60.0), 0.65),
    ("thermostat", (20, 24), (-60.0, 60.0), 0.25),
    ("water_heater", (0, 6), (-60.0, 60.0), 0.30),
    ("water_heater", (6, 9), (-60.0, 60.0), 0.80),
    ("water_heater", (9, 17), (-60.0, 60.0), 0.40),
    ("water_heater", (17, 21), (-60.0, 60.0), 0.80),
    ("water_heater", (21, 24), (-60.0, 60.0), 0.30),
    ("ev_charger", (0, 7), (-60.0, 60.0), 0.50),
    ("ev_charger", (7, 17), (-60.0, 60.0), 0.20),
    ("ev_charger", (17, 23), (-60.0, 60.0), 0.90),
    ("ev_charger", (23, 24), (-60.0, 60.0), 0.50),
    ("battery", (0, 24), (-60.0, 60.0), 0.90),
    ("pool_pump", (0, 10), (-60.0, 60.0), 0.20),
    ("pool_pump", (10, 20), (-60.0, 60.0), 0.90),
    ("pool_pump", (20, 24), (-60.0, 60.0), 0.20),
    ("smart_inverter", (8, 18), (-60.0, 60.0), 0.30),
];

/// Days of 15-minute meter data the demo holds, ending at the current interval.
pub const DEMO_METER_DAYS: i64 = 21;

/// Service points with demo meter data: one per 100 devices, at most 500 (the first by id).
pub fn meter_sample(devices: usize) -> usize {
    (devices / 100).clamp(1, 500)
}

/// Interval readings for the first `sample` service points over the last
/// [`DEMO_METER_DAYS`] days: an afternoon-peaking household load, lighter at weekends,
/// deterministic from the seed and `now`, so the baselines have data out of the box.
pub(super) async fn load_meter_readings(
    tx: &mut Tx,
    cal: Calendar,
    seed: u64,
    now: DateTime<Utc>,
    sample: usize,
) -> Result<(), DomainError> {
    use crate::calendar::align;
    let sps: Vec<String> = crate::with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT service_point_id FROM device_locations ORDER BY id LIMIT $1"
    )
    .bind(sample as i64)
    .fetch_all(c)
    .await?);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x3E7E_5EED);
    let end = align(now);
    let first = end - Duration::days(DEMO_METER_DAYS);
    let intervals = (DEMO_METER_DAYS * 96) as usize;
    let mut rows: Vec<Reading> = Vec::with_capacity(sps.len().min(50) * intervals);
    for sp in sps {
        let base_kw = rng.gen_range(0.4..1.5f64);
        let peak_kw = rng.gen_range(1.0..4.0f64);
        for i in 0..intervals {
            let t = first + Duration::minutes(15 * i as i64);
            let local = cal.local_time(t);
            let h = f64::from(local.hour()) + f64::from(local.minute()) / 60.0;
            // A bump centred on 17:00 local, about six hours wide.
            let shape = (-((h - 17.0) / 3.0).powi(2)).exp();
            let weekend = matches!(local.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
            let kw = (base_kw + peak_kw * shape)
                * if weekend { 0.8 } else { 1.0 }
                * rng.gen_range(0.9..1.1f64);
            rows.push(Reading {
                service_point_id: sp.clone(),
                start: t,
                minutes: 15,
                kwh: (kw / 4.0 * 1000.0).round() / 1000.0,
            });
        }
        if rows.len() >= 200_000 {
            meter_days::store(tx, None, &rows).await?;
            rows.clear();
        }
    }
    meter_days::store(tx, None, &rows).await
}

/// Load history per feeder, observed temperatures for the same days, a hot 48-hour forecast
/// from `now`, and the default reduction table. Its own RNG stream (from the seed), so the
/// rest of the demo does not change with it.
pub(super) async fn load_forecast_inputs(
    tx: &mut Tx,
    cal: Calendar,
    seed: u64,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    use crate::calendar::align;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x00F0_7ECA_57ED);
    let start = align(now);
    let first_hour = {
        let s = (start - Duration::days(DEMO_HISTORY_DAYS)).timestamp();
        DateTime::from_timestamp(s - s.rem_euclid(3600), 0).unwrap_or(start)
    };
    let hours_total = (DEMO_HISTORY_DAYS * 24 + 50) as usize;
    // Hourly temperatures: a daily mean that wanders between 22 and 31 °C, then two hot days.
    let forecast_from = {
        let s = start.timestamp();
        s - s.rem_euclid(3600)
    };
    let mut day_mean = 26.0;
    let mut last_day = None;
    let mut temps: Vec<(DateTime<Utc>, f64, bool)> = Vec::with_capacity(hours_total);
    for i in 0..hours_total {
        let t = first_hour + Duration::hours(i as i64);
        let local = cal.local_time(t);
        let is_forecast = t.timestamp() >= forecast_from;
        let day = local.date();
        if last_day != Some(day) {
            last_day = Some(day);
            day_mean = (day_mean + rng.gen_range(-2.0..2.0f64)).clamp(22.0, 31.0);
        }
        let mean = if is_forecast { 31.0 } else { day_mean };
        let h = f64::from(local.hour());
        let noise = if is_forecast {
            0.0
        } else {
            rng.gen_range(-0.6..0.6)
        };
        temps.push((t, demo_temperature(mean, h) + noise, is_forecast));
    }
    let temp_rows: Vec<Vec<Arg>> = temps
        .iter()
        .filter(|(t, _, f)| *f || *t < start)
        .map(|(t, c, f)| {
            vec![
                Arg::Text(if *f { "forecast" } else { "observed" }.into()),
                Arg::Time(*t),
                Arg::Float((c * 10.0).round() / 10.0),
                Arg::Time(now),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "temperatures",
        &["kind", "hour_start", "temperature_c", "updated_at"],
        &temp_rows,
    )
    .await?;

    // Service points per feeder (the grid's own record): the demo's customers plus the many
    // the programs never see.
    let feeders: Vec<(i64, i64)> = crate::with_tx!(tx, |c| {
        sqlx::query_as(
            "SELECT n.id, COUNT(g.service_point_id) FROM network_nodes n
         LEFT JOIN network_current t ON t.parent_id = n.id
         LEFT JOIN grid_service_points g ON g.transformer_id = t.id
         WHERE n.kind = 'feeder' GROUP BY n.id ORDER BY n.id",
        )
        .fetch_all(&mut *c)
        .await?
    });
    let temp_at = |t: DateTime<Utc>| {
        let i = ((t - first_hour).num_hours()).clamp(0, temps.len() as i64 - 1) as usize;
        temps[i].1
    };
    let intervals = (start - first_hour).num_minutes() / 15;
    let mut rows = Vec::with_capacity(feeders.len() * intervals as usize);
    for (feeder, service_points) in feeders {
        let homes = service_points as f64 * 4.0 + 300.0;
        let commercial = 250.0 + rng.gen_range(0.0..250.0);
        for i in 0..intervals {
            let t = first_hour + Duration::minutes(15 * i);
            let local = cal.local_time(t);
            let h = f64::from(local.hour()) + f64::from(local.minute()) / 60.0;
            let weekend = matches!(local.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
            let business = if !weekend && (8.0..18.0).contains(&h) {
                1.6
            } else {
                1.0
            };
            let kw = homes * demo_home_kw(h, weekend, temp_at(t)) + commercial * business;
            let kw = kw * (1.0 + rng.gen_range(-0.03..0.03));
            rows.push(vec![Arg::Int(feeder), Arg::Time(t), Arg::Float(kw.round())]);
        }
    }
    insert_rows(
        tx,
        "feeder_load_history",
        &["feeder_id", "interval_start", "kw"],
        &rows,
    )
    .await?;
    crate::db::forecast::inputs_changed(tx).await?;

    let reductions: Vec<Vec<Arg>> = DEFAULT_REDUCTIONS
        .iter()
        .map(|(ty, (h0, h1), (c0, c1), share)| {
            vec![
                Arg::Text(ty.to_string()),
                Arg::Int(i64::from(*h0)),
                Arg::Int(i64::from(*h1)),
                Arg::Float(*c0),
                Arg::Float(*c1),
                Arg::Float(*share),
                Arg::Time(now),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "reduction_factors",
        &[
            "device_type",
            "hour_from",
            "hour_to",
            "temp_from_c",
            "temp_to_c",
            "share",
            "updated_at",
        ],
        &reductions,
    )
    .await?;
    Ok(())
}
