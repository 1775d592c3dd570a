//! The grid roll-up: per substation, feeder and transformer, the registered grid devices,
//! their registered (nominal) kW and the forecast peak of the next 48 hours.
//!
//! Fast on a million devices because it reads `grid_devices` through a covering index
//! (`transformer_id, status, nominal_kw`) in one grouped scan, forecasts only the feeders
//! (a dozen series), and derives transformers and substations from them in memory:
//! a transformer's forecast is its kVA share of its feeder's, a substation's is the sum of
//! its feeders' series (its peak is the peak of that sum, not the sum of the peaks).

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use crate::calendar::{align, Calendar};
use crate::db::Db;
use crate::error::DomainError;
use crate::grid::forecast::{
    fit_feeders, horizon_intervals, load_temperatures, predict, transformer_shares, NodeInfo,
};

/// One node's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFigures {
    pub id: i64,
    pub kind: String,
    pub code: String,
    pub parent_id: Option<i64>,
    /// Grid devices registered below the node.
    pub registered_devices: i64,
    /// Their nominal controllable kW (the grid's registrations; the enrolled load the pages
    /// show is [`crate::figures::Enrolled`]).
    pub registered_kw: f64,
    /// Peak of the baseline forecast over the horizon; `None` without load history.
    pub forecast_peak_kw: Option<f64>,
}

#[derive(Debug, Clone, Default)]
pub struct Rollup {
    /// Substations, then feeders, then transformers, each by code.
    pub nodes: Vec<NodeFigures>,
    pub start: Option<DateTime<Utc>>,
}

impl Rollup {
    pub fn get(&self, id: i64) -> Option<&NodeFigures> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

/// Registered devices and their kW per transformer (covering-index scan).
pub async fn transformer_devices(db: &Db) -> Result<HashMap<i64, (i64, f64)>, DomainError> {
    let rows = crate::db::forecast::transformer_devices(db).await?;
    Ok(rows.into_iter().map(|(t, n, kw)| (t, (n, kw))).collect())
}

pub use crate::db::forecast::all_nodes;

/// The roll-up of the whole network for a forecast starting at `now` (aligned down).
pub async fn network_rollup(
    db: &Db,
    cal: Calendar,
    now: DateTime<Utc>,
) -> Result<Rollup, DomainError> {
    let start = align(now);
    let nodes = all_nodes(db).await?;
    let devices = transformer_devices(db).await?;
    let feeders: Vec<NodeInfo> = nodes
        .iter()
        .filter(|n| n.kind == "feeder")
        .cloned()
        .collect();
    // Forecast each feeder that has history; those without are shown without a forecast.
    let mut series: HashMap<i64, Vec<f64>> = HashMap::new();
    let horizon = horizon_intervals(cal, start);
    let end = start + Duration::minutes(15 * horizon as i64);
    let temps = load_temperatures(db, "forecast", start, end).await?;
    let (models, _without_history) = fit_feeders(db, cal, &feeders, start).await?;
    for (id, m) in &models {
        series.insert(*id, predict(cal, m, start, horizon, &temps));
    }
    Ok(Rollup {
        nodes: combine(&nodes, &devices, &series),
        start: Some(start),
    })
}

/// Puts device figures and feeder forecasts together up and down the tree (pure).
pub fn combine(
    nodes: &[NodeInfo],
    devices: &HashMap<i64, (i64, f64)>,
    feeder_series: &HashMap<i64, Vec<f64>>,
) -> Vec<NodeFigures> {
    let shares = transformer_shares(nodes);
    let parent: HashMap<i64, Option<i64>> = nodes.iter().map(|n| (n.id, n.parent_id)).collect();
    let mut count: HashMap<i64, (i64, f64)> = HashMap::new();
    for (t, (n, kw)) in devices {
        // Transformer, its feeder, the feeder's substation.
        let mut at = Some(*t);
        let mut depth = 0;
        while let Some(id) = at {
            let c = count.entry(id).or_default();
            c.0 += n;
            c.1 += kw;
            at = parent.get(&id).copied().flatten();
            depth += 1;
            if depth > 3 {
                break;
            }
        }
    }
    let peak = |s: &[f64]| s.iter().copied().fold(f64::NAN, f64::max);
    let mut substation_series: HashMap<i64, Vec<f64>> = HashMap::new();
    for n in nodes.iter().filter(|n| n.kind == "feeder") {
        if let (Some(s), Some(sub)) = (feeder_series.get(&n.id), n.parent_id) {
            let sum = substation_series
                .entry(sub)
                .or_insert_with(|| vec![0.0; s.len()]);
            for (a, b) in sum.iter_mut().zip(s) {
                *a += b;
            }
        }
    }
    let rank = |k: &str| match k {
        "substation" => 0,
        "feeder" => 1,
        _ => 2,
    };
    let mut out: Vec<NodeFigures> = nodes
        .iter()
        .map(|n| {
            let (registered_devices, registered_kw) = count.get(&n.id).copied().unwrap_or_default();
            let forecast_peak_kw = match n.kind.as_str() {
                "substation" => substation_series.get(&n.id).map(|s| peak(s)),
                "feeder" => feeder_series.get(&n.id).map(|s| peak(s)),
                _ => n
                    .parent_id
                    .and_then(|f| feeder_series.get(&f))
                    .map(|s| peak(s) * shares.get(&n.id).copied().unwrap_or(0.0)),
            }
            .filter(|v| v.is_finite());
            NodeFigures {
                id: n.id,
                kind: n.kind.clone(),
                code: n.code.clone(),
                parent_id: n.parent_id,
                registered_devices,
                registered_kw,
                forecast_peak_kw,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        rank(&a.kind)
            .cmp(&rank(&b.kind))
            .then_with(|| a.code.cmp(&b.code))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: i64, kind: &str, parent: Option<i64>) -> NodeInfo {
        NodeInfo {
            id,
            kind: kind.into(),
            code: format!("{kind}-{id}"),
            parent_id: parent,
            rated_kva: Some(50.0),
        }
    }

    #[test]
    fn devices_and_forecasts_roll_up_the_tree() {
        let nodes = vec![
            node(1, "substation", None),
            node(2, "feeder", Some(1)),
            node(3, "feeder", Some(1)),
            node(10, "transformer", Some(2)),
            node(11, "transformer", Some(2)),
            node(12, "transformer", Some(3)),
        ];
        let devices = HashMap::from([(10, (3, 9.0)), (11, (1, 2.0)), (12, (2, 4.0))]);
        let series = HashMap::from([(2, vec![100.0, 300.0]), (3, vec![250.0, 50.0])]);
        let out = combine(&nodes, &devices, &series);
        let get = |id: i64| out.iter().find(|n| n.id == id).unwrap();
        assert_eq!(get(1).registered_devices, 6);
        assert_eq!(get(1).registered_kw, 15.0);
        assert_eq!(get(2).registered_devices, 4);
        // The substation's peak is the peak of the summed series (350), not 300 + 250.
        assert_eq!(get(1).forecast_peak_kw, Some(350.0));
        assert_eq!(get(10).forecast_peak_kw, Some(150.0));
        assert_eq!(get(12).forecast_peak_kw, Some(250.0));
        assert_eq!(out[0].kind, "substation");
    }
}
