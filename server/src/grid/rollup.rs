//! The grid roll-up: per substation, feeder and transformer, the registered grid devices,
//! their registered (nominal) kW and the forecast peak of the next 48 hours.
//!
//! Fast on a million devices because the device figures are maintained per transformer and
//! feeder by the writers that change them (`grid_node_figures`, migration 0024): the roll-up
//! reads the substations and feeders, and the transformers of only the feeders asked for. It
//! forecasts only the feeders (a dozen series) and derives transformers and substations from
//! them: a transformer's forecast is its kVA share of its feeder's, a substation's is the sum
//! of its feeders' series (its peak is the peak of that sum, not the sum of the peaks).

use std::collections::{BTreeSet, HashMap};

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

/// The roll-up of the substations and feeders for a forecast starting at `now` (aligned
/// down), with the transformers of the feeders among `expand` and of the feeders of the
/// transformers among it (the zone a page shows); unknown ids are left out.
pub async fn network_rollup(
    db: &Db,
    cal: Calendar,
    now: DateTime<Utc>,
    expand: &[i64],
) -> Result<Rollup, DomainError> {
    let start = align(now);
    let mut nodes = crate::db::forecast::upper_nodes(db).await?;
    let asked = if expand.is_empty() {
        Vec::new()
    } else {
        crate::db::forecast::nodes_by_id(db, expand).await?
    };
    let expanded: BTreeSet<i64> = asked
        .iter()
        .filter_map(|n| match n.kind.as_str() {
            "feeder" => Some(n.id),
            "transformer" => n.parent_id,
            _ => None,
        })
        .collect();
    if !expanded.is_empty() {
        let ids: Vec<i64> = expanded.into_iter().collect();
        nodes.extend(crate::db::forecast::children_of(db, "transformer", &ids).await?);
    }
    let ids: Vec<i64> = nodes
        .iter()
        .filter(|n| n.kind != "substation")
        .map(|n| n.id)
        .collect();
    let figures: HashMap<i64, (i64, f64)> = crate::db::forecast::node_devices(db, &ids)
        .await?
        .into_iter()
        .map(|(id, n, kw)| (id, (n, kw)))
        .collect();
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
        nodes: combine(&nodes, &figures, &series),
        start: Some(start),
    })
}

/// Puts the feeders' and transformers' device figures and the feeder forecasts together up
/// and down the tree: a substation's devices are its feeders' (pure).
pub fn combine(
    nodes: &[NodeInfo],
    figures: &HashMap<i64, (i64, f64)>,
    feeder_series: &HashMap<i64, Vec<f64>>,
) -> Vec<NodeFigures> {
    let shares = transformer_shares(nodes);
    let mut count: HashMap<i64, (i64, f64)> = HashMap::new();
    for n in nodes.iter().filter(|n| n.kind != "substation") {
        let (devices, kw) = figures.get(&n.id).copied().unwrap_or_default();
        let c = count.entry(n.id).or_default();
        c.0 += devices;
        c.1 += kw;
        if let (Some(sub), "feeder") = (n.parent_id, n.kind.as_str()) {
            let c = count.entry(sub).or_default();
            c.0 += devices;
            c.1 += kw;
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
        let devices = HashMap::from([
            (2, (4, 11.0)),
            (3, (2, 4.0)),
            (10, (3, 9.0)),
            (11, (1, 2.0)),
            (12, (2, 4.0)),
        ]);
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
