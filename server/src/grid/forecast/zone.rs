//! Zones resolved to feeders with a share each, and the baseline of a zone from the feeders'
//! metered load history and the temperatures (the queries and the fitting per feeder).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{LazyLock, Mutex};

use chrono::{DateTime, Duration, Utc};

use super::{fit, hour_key, predict, FeederModel, Temperatures, HISTORY_DAYS};
use crate::calendar::{align, Calendar};
use crate::db::forecast as store;
use crate::db::Db;
use crate::error::DomainError;

pub use crate::db::forecast::NodeInfo;

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
    if zone.is_empty() {
        return Ok(Vec::new());
    }
    let mut nodes = store::nodes_by_id(db, zone).await?;
    let substations: Vec<i64> = nodes
        .iter()
        .filter(|n| n.kind == "substation")
        .map(|n| n.id)
        .collect();
    if !substations.is_empty() {
        let feeders = store::children_of(db, "feeder", &substations).await?;
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
        let siblings = store::children_of(db, "transformer", &feeders_of_transformers).await?;
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
    let rows = store::load_history(db, feeders, from, to).await?;
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
    let rows = store::temperatures(db, kind, hour_floor(from), to).await?;
    Ok(Temperatures::from_pairs(rows))
}

fn hour_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(hour_key(t), 0).unwrap_or(t)
}

/// Fitted feeder models kept between requests, per database (its `store_id`), for one version
/// of the forecast inputs, per forecast start and feeder (`None`: no history to fit on).
struct Kept {
    version: i64,
    by_start: HashMap<DateTime<Utc>, HashMap<i64, Option<FeederModel>>>,
}

static KEPT: LazyLock<Mutex<HashMap<String, Kept>>> = LazyLock::new(Default::default);

/// Databases whose models are kept at once (a test run opens many), and forecast starts per
/// database (the pages' current start, and events being planned).
const KEPT_STORES: usize = 8;
const KEPT_STARTS: usize = 8;

fn kept() -> std::sync::MutexGuard<'static, HashMap<String, Kept>> {
    KEPT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Fitted models of `feeders` for a forecast from `start`, and the codes of the feeders
/// without any history in the window. A model is fitted once per forecast start and version
/// of the inputs ([`store::inputs_changed`]) and then kept: every writer of the history or the
/// observed temperatures changes the version, so a kept model is never one of superseded inputs. The
/// feeders not kept are fitted together (two queries for all of them).
pub async fn fit_feeders(
    db: &Db,
    cal: Calendar,
    feeders: &[NodeInfo],
    start: DateTime<Utc>,
) -> Result<(HashMap<i64, FeederModel>, Vec<String>), DomainError> {
    let (store_id, version) = store::inputs_version(db).await?;
    let mut out = HashMap::new();
    let mut missing = Vec::new();
    let mut to_fit: Vec<&NodeInfo> = Vec::new();
    {
        let kept = kept();
        let current = kept
            .get(&store_id)
            .filter(|k| k.version == version)
            .and_then(|k| k.by_start.get(&start));
        for f in feeders {
            match current.and_then(|models| models.get(&f.id)) {
                Some(Some(m)) => {
                    out.insert(f.id, m.clone());
                }
                Some(None) => missing.push(f.code.clone()),
                None => to_fit.push(f),
            }
        }
    }
    if !to_fit.is_empty() {
        let from = start - Duration::days(HISTORY_DAYS);
        let ids: Vec<i64> = to_fit.iter().map(|f| f.id).collect();
        let history = load_history(db, &ids, from, start).await?;
        let observed = load_temperatures(db, "observed", from, start).await?;
        let mut fitted = HashMap::with_capacity(to_fit.len());
        for f in to_fit {
            let model = history.get(&f.id).and_then(|h| fit(cal, h, &observed));
            match &model {
                Some(m) => {
                    out.insert(f.id, m.clone());
                }
                None => missing.push(f.code.clone()),
            }
            fitted.insert(f.id, model);
        }
        let mut kept = kept();
        if !kept.contains_key(&store_id) && kept.len() >= KEPT_STORES {
            kept.clear();
        }
        let entry = kept.entry(store_id).or_insert_with(|| Kept {
            version,
            by_start: HashMap::new(),
        });
        if entry.version != version {
            *entry = Kept {
                version,
                by_start: HashMap::new(),
            };
        }
        if !entry.by_start.contains_key(&start) && entry.by_start.len() >= KEPT_STARTS {
            if let Some(oldest) = entry.by_start.keys().min().copied() {
                entry.by_start.remove(&oldest);
            }
        }
        entry.by_start.entry(start).or_default().extend(fitted);
    }
    missing.sort();
    Ok((out, missing))
}

/// Fitted models of `feeders` for a forecast from `start`; a feeder without history is an
/// error naming it.
pub async fn feeder_models(
    db: &Db,
    cal: Calendar,
    feeders: &[NodeInfo],
    start: DateTime<Utc>,
) -> Result<HashMap<i64, FeederModel>, DomainError> {
    let (models, missing) = fit_feeders(db, cal, feeders, start).await?;
    if !missing.is_empty() {
        return Err(DomainError::invalid(format!(
            "no load history in the {HISTORY_DAYS} days before {} for feeder(s) {}; the forecast needs metered load",
            cal.show(start),
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
    cal: Calendar,
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
    let models = feeder_models(db, cal, &feeders, start).await?;
    let end = start + Duration::minutes(15 * intervals as i64);
    let forecast = load_temperatures(db, "forecast", start, end).await?;
    let mut total = vec![0.0; intervals];
    for (feeder, share) in shares {
        if let Some(model) = models.get(&feeder) {
            for (sum, kw) in total
                .iter_mut()
                .zip(predict(cal, model, start, intervals, &forecast))
            {
                *sum += share * kw;
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
