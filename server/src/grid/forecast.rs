//! Zone load forecasts: the baseline load per 15-minute interval from feeder load history and
//! the temperature forecast, and the expected reduction per device type from the editable table.
//!
//! # The baseline model
//!
//! Per feeder, from the metered load of the [`HISTORY_DAYS`] days before the forecast start:
//!
//! 1. Each history interval is put in a *slot* (its local quarter-hour of the day, 0..96) and
//!    a *day type* (weekday or weekend, by local date; local time is UTC
//!    [`LOCAL_OFFSET_HOURS`](crate::calendar::LOCAL_OFFSET_HOURS)). The *profile* is the mean
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

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, Timelike, Utc, Weekday};

use crate::calendar::{local_hour, local_time};
/// Forecast intervals sit on the calendar's quarter-hour grid; re-exported for the console and
/// REST code that asks the forecast for its first interval.
pub use crate::calendar::align;
use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::grid::DEVICE_TYPES;
use crate::{with_db, with_tx};

/// Quarter-hours in a day.
pub const SLOTS_PER_DAY: usize = 96;
/// Days of load history the profile and the sensitivity are fitted on.
pub const HISTORY_DAYS: i64 = 28;
/// The temperature assumed for an hour with neither a forecast nor an observation.
pub const MILD_C: f64 = 20.0;
/// How far ahead the forecast page and the roll-up look.
pub const HORIZON_INTERVALS: usize = 48 * 4;


/// Local quarter-hour of the day, 0..96.
pub fn slot_of(t: DateTime<Utc>) -> usize {
    let l = local_time(t);
    (l.hour() * 4 + l.minute() / 15) as usize
}

/// 1 for Saturday and Sunday (local), 0 otherwise.
pub fn day_type_of(t: DateTime<Utc>) -> usize {
    usize::from(matches!(local_time(t).weekday(), Weekday::Sat | Weekday::Sun))
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
pub fn fit(history: &[(DateTime<Utc>, f64)], observed: &Temperatures) -> Option<FeederModel> {
    if history.is_empty() {
        return None;
    }
    let mut kw_sum = [[0.0f64; SLOTS_PER_DAY]; 2];
    let mut kw_n = [[0u32; SLOTS_PER_DAY]; 2];
    let mut t_sum = [[0.0f64; SLOTS_PER_DAY]; 2];
    let mut t_n = [[0u32; SLOTS_PER_DAY]; 2];
    let mut points = Vec::with_capacity(history.len());
    for &(t, kw) in history {
        let (d, s) = (day_type_of(t), slot_of(t));
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
    model: &FeederModel,
    start: DateTime<Utc>,
    intervals: usize,
    forecast: &Temperatures,
) -> Vec<f64> {
    (0..intervals)
        .map(|i| {
            let t = start + Duration::minutes(15 * i as i64);
            let (d, s) = (day_type_of(t), slot_of(t));
            let adjust = forecast
                .at(t)
                .map(|c| model.beta_kw_per_c * (c - model.mean_temp_c[d][s]))
                .unwrap_or(0.0);
            (model.profile_kw[d][s] + adjust).max(0.0)
        })
        .collect()
}

/// A network node as the zone resolution needs it (current parent).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct NodeInfo {
    pub id: i64,
    pub kind: String,
    pub code: String,
    pub parent_id: Option<i64>,
    pub rated_kva: Option<f64>,
}

/// Each transformer's share of its feeder's load: rated kVA over the feeder's total (equal
/// shares when any rating is missing or zero).
pub fn transformer_shares(nodes: &[NodeInfo]) -> HashMap<i64, f64> {
    let mut by_feeder: HashMap<i64, Vec<&NodeInfo>> = HashMap::new();
    for n in nodes.iter().filter(|n| n.kind == "transformer") {
        if let Some(p) = n.parent_id {
            by_feeder.entry(p).or_default().push(n);
        }
    }
    let mut out = HashMap::new();
    for list in by_feeder.values() {
        let rated = list.iter().all(|n| n.rated_kva.is_some_and(|k| k > 0.0));
        let total: f64 = list.iter().filter_map(|n| n.rated_kva).sum();
        for n in list {
            let share = if rated && total > 0.0 {
                n.rated_kva.unwrap_or(0.0) / total
            } else {
                1.0 / list.len() as f64
            };
            out.insert(n.id, share);
        }
    }
    out
}

/// Resolves a zone to `(feeder id, share of that feeder)`, each feeder once, sorted by id.
/// `nodes` must hold the zone's nodes, the feeders of its substations, and the transformers
/// of the feeders of its transformers.
pub fn feeder_shares(nodes: &[NodeInfo], zone: &[i64]) -> Result<Vec<(i64, f64)>, DomainError> {
    if zone.is_empty() {
        return Err(DomainError::invalid("the zone names no network node"));
    }
    let by_id: HashMap<i64, &NodeInfo> = nodes.iter().map(|n| (n.id, n)).collect();
    let shares = transformer_shares(nodes);
    let mut whole: HashSet<i64> = HashSet::new();
    let mut partial: HashMap<i64, HashSet<i64>> = HashMap::new();
    for id in zone {
        let n = by_id
            .get(id)
            .ok_or_else(|| DomainError::not_found(format!("network node {id}")))?;
        match n.kind.as_str() {
            "substation" => whole.extend(
                nodes
                    .iter()
                    .filter(|f| f.kind == "feeder" && f.parent_id == Some(n.id))
                    .map(|f| f.id),
            ),
            "feeder" => {
                whole.insert(n.id);
            }
            _ => {
                let feeder = n.parent_id.ok_or_else(|| {
                    DomainError::invalid(format!("transformer {} hangs under no feeder", n.code))
                })?;
                partial.entry(feeder).or_default().insert(n.id);
            }
        }
    }
    let mut out: BTreeMap<i64, f64> = whole.iter().map(|f| (*f, 1.0)).collect();
    for (feeder, transformers) in partial {
        if whole.contains(&feeder) {
            continue;
        }
        let share: f64 = transformers
            .iter()
            .map(|t| shares.get(t).copied().unwrap_or(0.0))
            .sum();
        out.insert(feeder, share.min(1.0));
    }
    Ok(out.into_iter().collect())
}

/// The nodes `feeder_shares` needs for `zone`, in three indexed queries.
pub async fn zone_nodes(db: &Db, zone: &[i64]) -> Result<Vec<NodeInfo>, DomainError> {
    let select = "SELECT n.id, n.kind, n.code, e.parent_id, n.rated_kva FROM network_nodes n
                  LEFT JOIN network_edges e ON e.child_id = n.id AND e.valid_to IS NULL";
    let list = |ids: &[i64]| {
        ids.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    if zone.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("{select} WHERE n.id IN ({})", list(zone));
    let mut nodes: Vec<NodeInfo> = with_db!(db, |p| sqlx::query_as::<_, NodeInfo>(&sql)
        .fetch_all(p)
        .await?);
    let substations: Vec<i64> = nodes
        .iter()
        .filter(|n| n.kind == "substation")
        .map(|n| n.id)
        .collect();
    if !substations.is_empty() {
        let sql = format!(
            "{select} WHERE n.kind = 'feeder' AND e.parent_id IN ({})",
            list(&substations)
        );
        let feeders: Vec<NodeInfo> = with_db!(db, |p| sqlx::query_as::<_, NodeInfo>(&sql)
            .fetch_all(p)
            .await?);
        nodes.extend(feeders);
    }
    let mut feeders_of_transformers: Vec<i64> = nodes
        .iter()
        .filter(|n| n.kind == "transformer")
        .filter_map(|n| n.parent_id)
        .collect();
    feeders_of_transformers.sort_unstable();
    feeders_of_transformers.dedup();
    if !feeders_of_transformers.is_empty() {
        let sql = format!(
            "{select} WHERE n.kind = 'transformer' AND e.parent_id IN ({})",
            list(&feeders_of_transformers)
        );
        let siblings: Vec<NodeInfo> = with_db!(db, |p| sqlx::query_as::<_, NodeInfo>(&sql)
            .fetch_all(p)
            .await?);
        let known: HashSet<i64> = nodes.iter().map(|n| n.id).collect();
        nodes.extend(siblings.into_iter().filter(|n| !known.contains(&n.id)));
    }
    Ok(nodes)
}

/// Metered load of `feeders` in `[from, to)`, per feeder.
pub async fn load_history(
    db: &Db,
    feeders: &[i64],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<HashMap<i64, Vec<(DateTime<Utc>, f64)>>, DomainError> {
    let mut out: HashMap<i64, Vec<(DateTime<Utc>, f64)>> = HashMap::new();
    if feeders.is_empty() {
        return Ok(out);
    }
    let list = feeders
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let sql = format!(
        "SELECT feeder_id, interval_start, kw FROM feeder_load_history
         WHERE feeder_id IN ({list}) AND interval_start >= $1 AND interval_start < $2"
    );
    let rows: Vec<(i64, DateTime<Utc>, f64)> = with_db!(db, |p| sqlx::query_as(&sql)
        .bind(from)
        .bind(to)
        .fetch_all(p)
        .await?);
    for (f, t, kw) in rows {
        out.entry(f).or_default().push((t, kw));
    }
    Ok(out)
}

/// Hourly temperatures of `kind` (`observed` or `forecast`) in `[from, to)`.
pub async fn load_temperatures(
    db: &Db,
    kind: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Temperatures, DomainError> {
    let rows: Vec<(DateTime<Utc>, f64)> = with_db!(db, |p| sqlx::query_as(
        "SELECT hour_start, temperature_c FROM temperatures
         WHERE kind = $1 AND hour_start >= $2 AND hour_start < $3"
    )
    .bind(kind)
    .bind(hour_floor(from))
    .bind(to)
    .fetch_all(p)
    .await?);
    Ok(Temperatures::from_pairs(rows))
}

fn hour_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(hour_key(t), 0).unwrap_or(t)
}

/// Fitted models of `feeders` for a forecast from `start` (two queries for all of them), and
/// the codes of the feeders without any history in the window.
pub async fn fit_feeders(
    db: &Db,
    feeders: &[NodeInfo],
    start: DateTime<Utc>,
) -> Result<(HashMap<i64, FeederModel>, Vec<String>), DomainError> {
    let from = start - Duration::days(HISTORY_DAYS);
    let ids: Vec<i64> = feeders.iter().map(|f| f.id).collect();
    let history = load_history(db, &ids, from, start).await?;
    let observed = load_temperatures(db, "observed", from, start).await?;
    let mut out = HashMap::new();
    let mut missing = Vec::new();
    for f in feeders {
        match history.get(&f.id).and_then(|h| fit(h, &observed)) {
            Some(m) => {
                out.insert(f.id, m);
            }
            None => missing.push(f.code.clone()),
        }
    }
    missing.sort();
    Ok((out, missing))
}

/// Fitted models of `feeders` for a forecast from `start`; a feeder without history is an
/// error naming it.
pub async fn feeder_models(
    db: &Db,
    feeders: &[NodeInfo],
    start: DateTime<Utc>,
) -> Result<HashMap<i64, FeederModel>, DomainError> {
    let (models, missing) = fit_feeders(db, feeders, start).await?;
    if !missing.is_empty() {
        return Err(DomainError::invalid(format!(
            "no load history in the {HISTORY_DAYS} days before {} for feeder(s) {}; the forecast needs metered load",
            start.format("%Y-%m-%d %H:%M UTC"),
            missing.join(", ")
        )));
    }
    Ok(models)
}

/// The forecast temperature per interval (forecast, else observed), `None` where neither exists.
pub async fn interval_temperatures(
    db: &Db,
    start: DateTime<Utc>,
    intervals: usize,
) -> Result<Vec<Option<f64>>, DomainError> {
    let start = align(start);
    let end = start + Duration::minutes(15 * intervals as i64);
    let forecast = load_temperatures(db, "forecast", start, end).await?;
    let observed = load_temperatures(db, "observed", start, end).await?;
    Ok((0..intervals)
        .map(|i| {
            let t = start + Duration::minutes(15 * i as i64);
            forecast.at(t).or_else(|| observed.at(t))
        })
        .collect())
}

/// Baseline forecast of a control zone (any mix of substation/feeder/transformer node ids):
/// kW per 15-minute interval, `intervals` of them starting at `start` (aligned to 15 min;
/// an unaligned start is floored).
pub async fn zone_baseline(
    db: &Db,
    zone: &[i64],
    start: DateTime<Utc>,
    intervals: usize,
) -> Result<Vec<f64>, DomainError> {
    let start = align(start);
    let nodes = zone_nodes(db, zone).await?;
    let shares = feeder_shares(&nodes, zone)?;
    let feeders: Vec<NodeInfo> = shares
        .iter()
        .filter_map(|(f, _)| nodes.iter().find(|n| n.id == *f).cloned())
        .collect();
    let models = feeder_models(db, &feeders, start).await?;
    let end = start + Duration::minutes(15 * intervals as i64);
    let forecast = load_temperatures(db, "forecast", start, end).await?;
    let mut total = vec![0.0; intervals];
    for (feeder, share) in shares {
        if let Some(model) = models.get(&feeder) {
            for (sum, kw) in total
                .iter_mut()
                .zip(predict(model, start, intervals, &forecast))
            {
                *sum += share * kw;
            }
        }
    }
    Ok(total)
}

/// One row of the editable expected-reduction table.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ReductionRow {
    pub id: i64,
    pub device_type: String,
    pub hour_from: i32,
    pub hour_to: i32,
    pub temp_from_c: f64,
    pub temp_to_c: f64,
    pub share: f64,
    pub updated_at: DateTime<Utc>,
}

/// A validated row to store: hours within 0..=24 and ordered, the band ordered, share 0..=1.
#[derive(Debug, Clone, PartialEq)]
pub struct ReductionEntry {
    pub device_type: String,
    pub hour_from: i32,
    pub hour_to: i32,
    pub temp_from_c: f64,
    pub temp_to_c: f64,
    pub share: f64,
}

impl ReductionEntry {
    pub fn new(
        device_type: &str,
        hour_from: i32,
        hour_to: i32,
        temp_from_c: f64,
        temp_to_c: f64,
        share: f64,
    ) -> Result<Self, DomainError> {
        if !DEVICE_TYPES.contains(&device_type) {
            return Err(DomainError::invalid(format!(
                "device type: expected one of {}, got `{device_type}`",
                DEVICE_TYPES.join(", ")
            )));
        }
        if !(0..=23).contains(&hour_from) || !(1..=24).contains(&hour_to) || hour_from >= hour_to {
            return Err(DomainError::invalid(format!(
                "hours: expected 0 ≤ from < until ≤ 24, got {hour_from} to {hour_to}"
            )));
        }
        let band_ok = temp_from_c.is_finite()
            && temp_to_c.is_finite()
            && (-60.0..=60.0).contains(&temp_from_c)
            && (-60.0..=60.0).contains(&temp_to_c)
            && temp_from_c < temp_to_c;
        if !band_ok {
            return Err(DomainError::invalid(format!(
                "temperature band: expected −60 ≤ from < until ≤ 60 °C, got {temp_from_c} to {temp_to_c}"
            )));
        }
        if !share.is_finite() || !(0.0..=1.0).contains(&share) {
            return Err(DomainError::invalid(format!(
                "share: expected a fraction of nominal kW from 0 to 1, got {share}"
            )));
        }
        Ok(ReductionEntry {
            device_type: device_type.to_string(),
            hour_from,
            hour_to,
            temp_from_c,
            temp_to_c,
            share,
        })
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "device_type": self.device_type, "hour_from": self.hour_from, "hour_to": self.hour_to,
            "temp_from_c": self.temp_from_c, "temp_to_c": self.temp_to_c, "share": self.share,
        })
    }
}

impl ReductionRow {
    pub fn entry(&self) -> ReductionEntry {
        ReductionEntry {
            device_type: self.device_type.clone(),
            hour_from: self.hour_from,
            hour_to: self.hour_to,
            temp_from_c: self.temp_from_c,
            temp_to_c: self.temp_to_c,
            share: self.share,
        }
    }
}

pub async fn list_reductions(db: &Db) -> Result<Vec<ReductionRow>, DomainError> {
    Ok(with_db!(db, |p| sqlx::query_as::<_, ReductionRow>(
        "SELECT id, device_type, hour_from, hour_to, temp_from_c, temp_to_c, share, updated_at
         FROM reduction_factors ORDER BY device_type, hour_from, temp_from_c, id"
    )
    .fetch_all(p)
    .await?))
}

/// Adds a row (`id` None) or changes one; returns the id and the row as it was before.
pub async fn put_reduction(
    tx: &mut Tx,
    id: Option<i64>,
    e: &ReductionEntry,
    now: DateTime<Utc>,
) -> Result<(i64, Option<ReductionEntry>), DomainError> {
    match id {
        None => {
            let id: i64 = with_tx!(tx, |c| {
                sqlx::query_scalar(
                "INSERT INTO reduction_factors (device_type, hour_from, hour_to, temp_from_c, temp_to_c, share, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
            )
            .bind(&e.device_type)
            .bind(e.hour_from)
            .bind(e.hour_to)
            .bind(e.temp_from_c)
            .bind(e.temp_to_c)
            .bind(e.share)
            .bind(now)
            .fetch_one(&mut *c)
            .await?
            });
            Ok((id, None))
        }
        Some(id) => {
            let before: Option<ReductionRow> = with_tx!(tx, |c| {
                sqlx::query_as::<_, ReductionRow>(
                "SELECT id, device_type, hour_from, hour_to, temp_from_c, temp_to_c, share, updated_at
                 FROM reduction_factors WHERE id = $1"
            )
            .bind(id)
            .fetch_optional(&mut *c)
            .await?
            });
            let before =
                before.ok_or_else(|| DomainError::not_found(format!("reduction row {id}")))?;
            with_tx!(tx, |c| sqlx::query(
                "UPDATE reduction_factors SET device_type = $1, hour_from = $2, hour_to = $3,
                 temp_from_c = $4, temp_to_c = $5, share = $6, updated_at = $7 WHERE id = $8"
            )
            .bind(&e.device_type)
            .bind(e.hour_from)
            .bind(e.hour_to)
            .bind(e.temp_from_c)
            .bind(e.temp_to_c)
            .bind(e.share)
            .bind(now)
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
            Ok((id, Some(before.entry())))
        }
    }
}

/// Removes a row; returns it as it was.
pub async fn delete_reduction(tx: &mut Tx, id: i64) -> Result<ReductionEntry, DomainError> {
    let before: Option<ReductionRow> = with_tx!(tx, |c| sqlx::query_as::<_, ReductionRow>(
        "SELECT id, device_type, hour_from, hour_to, temp_from_c, temp_to_c, share, updated_at
         FROM reduction_factors WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await?);
    let before = before.ok_or_else(|| DomainError::not_found(format!("reduction row {id}")))?;
    with_tx!(tx, |c| sqlx::query(
        "DELETE FROM reduction_factors WHERE id = $1"
    )
    .bind(id)
    .execute(&mut *c)
    .await?
    .rows_affected());
    Ok(before.entry())
}

/// The share of nominal kW a device of `device_type` sheds at local `hour` and `temp_c`:
/// the first matching row by id, else 0.
pub fn factor_for(rows: &[ReductionRow], device_type: &str, hour: u32, temp_c: f64) -> f64 {
    let hour = hour as i32;
    rows.iter()
        .filter(|r| r.device_type == device_type)
        .filter(|r| r.hour_from <= hour && hour < r.hour_to)
        .filter(|r| r.temp_from_c <= temp_c && temp_c < r.temp_to_c)
        .min_by_key(|r| r.id)
        .map(|r| r.share)
        .unwrap_or(0.0)
}

/// Expected reduction as a share of a device's nominal kW, `[device type index per
/// grid::DEVICE_TYPES][interval]`, from the editable table and the temperature forecast.
pub async fn reduction_factors(
    db: &Db,
    start: DateTime<Utc>,
    intervals: usize,
) -> Result<Vec<Vec<f32>>, DomainError> {
    let start = align(start);
    let rows = list_reductions(db).await?;
    let temps = interval_temperatures(db, start, intervals).await?;
    Ok(DEVICE_TYPES
        .iter()
        .map(|ty| {
            temps
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let t = start + Duration::minutes(15 * i as i64);
                    factor_for(&rows, ty, local_hour(t), c.unwrap_or(MILD_C)) as f32
                })
                .collect()
        })
        .collect())
}

/// A parsed temperature forecast upload: one temperature per whole hour, in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct WeatherUpload {
    pub hours: Vec<(DateTime<Utc>, f64)>,
}

/// Most lines an upload may have (a year of hours).
pub const MAX_UPLOAD_HOURS: usize = 24 * 366;

/// Parses `timestamp,temperature_c` CSV (a header line of those names is optional): RFC 3339
/// timestamps on the whole hour, temperatures from −60 to 60 °C, each hour once. The first
/// bad line is named with what is wrong.
pub fn parse_weather_csv(text: &str) -> Result<WeatherUpload, DomainError> {
    let bad = |line: usize, what: String| DomainError::invalid(format!("line {line}: {what}"));
    let mut hours: BTreeMap<DateTime<Utc>, f64> = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim().trim_start_matches('\u{feff}');
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if line_no == 1
            && fields
                .first()
                .is_some_and(|f| f.eq_ignore_ascii_case("timestamp"))
        {
            if fields.len() != 2 || !fields[1].eq_ignore_ascii_case("temperature_c") {
                return Err(bad(
                    line_no,
                    "the header must be `timestamp,temperature_c`".into(),
                ));
            }
            continue;
        }
        if fields.len() != 2 {
            return Err(bad(
                line_no,
                format!(
                    "expected 2 fields (timestamp,temperature_c), found {}",
                    fields.len()
                ),
            ));
        }
        let t = DateTime::parse_from_rfc3339(fields[0])
            .map_err(|_| {
                bad(
                    line_no,
                    format!(
                        "`{}` is not an RFC 3339 timestamp (e.g. 2026-07-01T15:00:00Z)",
                        fields[0]
                    ),
                )
            })?
            .with_timezone(&Utc);
        if t.minute() != 0 || t.second() != 0 || t.nanosecond() != 0 {
            return Err(bad(
                line_no,
                format!(
                    "`{}` is not on the whole hour (the forecast is hourly)",
                    fields[0]
                ),
            ));
        }
        let c: f64 = fields[1]
            .parse()
            .ok()
            .filter(|c: &f64| c.is_finite())
            .ok_or_else(|| {
                bad(
                    line_no,
                    format!("temperature `{}` is not a number", fields[1]),
                )
            })?;
        if !(-60.0..=60.0).contains(&c) {
            return Err(bad(
                line_no,
                format!("temperature {c} °C is outside −60 to 60 °C"),
            ));
        }
        if hours.insert(t, c).is_some() {
            return Err(bad(
                line_no,
                format!("the hour {} appears twice", t.to_rfc3339()),
            ));
        }
        if hours.len() > MAX_UPLOAD_HOURS {
            return Err(bad(
                line_no,
                format!("more than {MAX_UPLOAD_HOURS} hours in one upload"),
            ));
        }
    }
    if hours.is_empty() {
        return Err(DomainError::invalid(
            "the CSV holds no temperatures (expected lines `timestamp,temperature_c`)",
        ));
    }
    Ok(WeatherUpload {
        hours: hours.into_iter().collect(),
    })
}

/// Replaces the forecast from the first to the last uploaded hour, in the caller's transaction.
pub async fn store_forecast(
    tx: &mut Tx,
    upload: &WeatherUpload,
    now: DateTime<Utc>,
) -> Result<usize, DomainError> {
    let (Some(first), Some(last)) = (upload.hours.first(), upload.hours.last()) else {
        return Ok(0);
    };
    with_tx!(tx, |c| {
        sqlx::query(
        "DELETE FROM temperatures WHERE kind = 'forecast' AND hour_start >= $1 AND hour_start <= $2"
    )
    .bind(first.0)
    .bind(last.0)
    .execute(&mut *c)
    .await?
    .rows_affected()
    });
    let rows: Vec<Vec<crate::db::Arg>> = upload
        .hours
        .iter()
        .map(|(t, c)| {
            vec![
                crate::db::Arg::Text("forecast".into()),
                crate::db::Arg::Time(*t),
                crate::db::Arg::Float(*c),
                crate::db::Arg::Time(now),
            ]
        })
        .collect();
    crate::db::insert_rows(
        tx,
        "temperatures",
        &["kind", "hour_start", "temperature_c", "updated_at"],
        &rows,
    )
    .await?;
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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
        let model = fit(&h, &observed).expect("history fits");
        assert!(
            (model.beta_kw_per_c - 50.0).abs() < 1.0,
            "sensitivity recovered: {}",
            model.beta_kw_per_c
        );
        let hours =
            |c: f64| Temperatures::from_pairs((0..48).map(|i| (t0() + Duration::hours(i), c)));
        let mild = predict(&model, t0(), 192, &hours(24.0));
        let hot = predict(&model, t0(), 192, &hours(34.0));
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
        assert_eq!(fit(&[], &Temperatures::default()), None);
    }

    #[test]
    fn without_temperatures_the_forecast_is_the_profile() {
        let (h, _) = history();
        let model = fit(&h, &Temperatures::default()).unwrap();
        assert_eq!(model.beta_kw_per_c, 0.0);
        let p = predict(&model, t0(), 4, &Temperatures::default());
        let (d, s) = (day_type_of(t0()), slot_of(t0()));
        assert!((p[0] - model.profile_kw[d][s]).abs() < 1e-9);
    }

    fn node(id: i64, kind: &str, parent: Option<i64>, kva: Option<f64>) -> NodeInfo {
        NodeInfo {
            id,
            kind: kind.into(),
            code: format!("N{id}"),
            parent_id: parent,
            rated_kva: kva,
        }
    }

    fn network() -> Vec<NodeInfo> {
        vec![
            node(1, "substation", None, None),
            node(2, "feeder", Some(1), None),
            node(3, "feeder", Some(1), None),
            node(10, "transformer", Some(2), Some(50.0)),
            node(11, "transformer", Some(2), Some(150.0)),
            node(12, "transformer", Some(3), None),
            node(13, "transformer", Some(3), Some(25.0)),
        ]
    }

    #[test]
    fn a_substation_and_its_feeder_are_counted_once() {
        let shares = feeder_shares(&network(), &[1, 2, 10]).unwrap();
        assert_eq!(shares, vec![(2, 1.0), (3, 1.0)]);
    }

    #[test]
    fn transformers_take_their_feeders_load_by_rated_kva() {
        let shares = feeder_shares(&network(), &[10]).unwrap();
        assert_eq!(shares, vec![(2, 0.25)]);
        // A missing rating falls back to equal shares; naming a transformer twice counts once.
        let shares = feeder_shares(&network(), &[12, 12, 13]).unwrap();
        assert_eq!(shares, vec![(3, 1.0)]);
        let shares = feeder_shares(&network(), &[12]).unwrap();
        assert_eq!(shares, vec![(3, 0.5)]);
    }

    #[test]
    fn unknown_nodes_and_empty_zones_are_refused() {
        assert!(matches!(
            feeder_shares(&network(), &[99]),
            Err(DomainError::NotFound(_))
        ));
        assert!(matches!(
            feeder_shares(&network(), &[]),
            Err(DomainError::Invalid(_))
        ));
    }

    fn row(id: i64, ty: &str, h: (i32, i32), c: (f64, f64), share: f64) -> ReductionRow {
        ReductionRow {
            id,
            device_type: ty.into(),
            hour_from: h.0,
            hour_to: h.1,
            temp_from_c: c.0,
            temp_to_c: c.1,
            share,
            updated_at: t0(),
        }
    }

    #[test]
    fn the_first_matching_reduction_row_applies() {
        let rows = vec![
            row(2, "thermostat", (12, 20), (30.0, 60.0), 0.8),
            row(1, "thermostat", (0, 24), (-60.0, 60.0), 0.2),
            row(3, "battery", (0, 24), (-60.0, 60.0), 0.9),
        ];
        assert_eq!(factor_for(&rows, "thermostat", 15, 35.0), 0.2);
        let rows = vec![
            row(1, "thermostat", (12, 20), (30.0, 60.0), 0.8),
            row(2, "thermostat", (0, 24), (-60.0, 60.0), 0.2),
        ];
        assert_eq!(factor_for(&rows, "thermostat", 15, 35.0), 0.8);
        assert_eq!(factor_for(&rows, "thermostat", 20, 35.0), 0.2);
        assert_eq!(factor_for(&rows, "ev_charger", 20, 35.0), 0.0);
    }

    #[test]
    fn reduction_entries_are_validated() {
        assert!(ReductionEntry::new("thermostat", 12, 18, 25.0, 60.0, 0.7).is_ok());
        for (ty, h0, h1, c0, c1, s) in [
            ("toaster", 0, 24, 0.0, 10.0, 0.5),
            ("thermostat", 18, 12, 0.0, 10.0, 0.5),
            ("thermostat", 0, 25, 0.0, 10.0, 0.5),
            ("thermostat", 0, 24, 10.0, 0.0, 0.5),
            ("thermostat", 0, 24, 0.0, 10.0, 1.5),
            ("thermostat", 0, 24, 0.0, 10.0, -0.1),
        ] {
            assert!(
                ReductionEntry::new(ty, h0, h1, c0, c1, s).is_err(),
                "{ty} {h0}-{h1} {c0}-{c1} {s}"
            );
        }
    }

    #[test]
    fn a_weather_csv_parses_and_bad_lines_are_named() {
        let ok = parse_weather_csv(
            "timestamp,temperature_c\n2026-07-01T15:00:00Z,34.5\n2026-07-01T11:00:00-05:00,33\n",
        )
        .unwrap();
        assert_eq!(ok.hours.len(), 2);
        assert_eq!(
            ok.hours[1].0,
            Utc.with_ymd_and_hms(2026, 7, 1, 16, 0, 0).unwrap()
        );
        let err = |text: &str| parse_weather_csv(text).unwrap_err().to_string();
        assert!(
            err("timestamp,temperature_c\n2026-07-01T15:00:00Z,34\nyesterday,30\n")
                .starts_with("line 3: `yesterday` is not an RFC 3339 timestamp")
        );
        assert!(err("2026-07-01T15:30:00Z,30")
            .contains("line 1: `2026-07-01T15:30:00Z` is not on the whole hour"));
        assert!(
            err("2026-07-01T15:00:00Z,hot").contains("line 1: temperature `hot` is not a number")
        );
        assert!(err("2026-07-01T15:00:00Z,99").contains("outside"));
        assert!(
            err("2026-07-01T15:00:00Z,30\n2026-07-01T15:00:00Z,31").contains("line 2: the hour")
        );
        assert!(err("").contains("no temperatures"));
    }

    #[test]
    fn intervals_align_to_the_quarter_hour() {
        let t = Utc.with_ymd_and_hms(2026, 7, 1, 6, 7, 31).unwrap();
        assert_eq!(align(t), Utc.with_ymd_and_hms(2026, 7, 1, 6, 0, 0).unwrap());
        // 06:00 UTC is midnight local (UTC−6).
        assert_eq!(slot_of(align(t)), 0);
    }
}
