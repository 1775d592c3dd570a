//! The network page's and API's service on the grid side: the network roll-up and the
//! export of the network model to the program side (flow 11). The roll-up is the grid's model
//! and the service points it knows, with the program side's enrolment per node added by code
//! through [`EnrolledFiguresPort`] (neither side reads the other's tables). Both sides'
//! figures are maintained per transformer and feeder by their writers (migration 0024), so
//! the page reads a few rows and is always current.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use app::access::Action;
use app::model::*;
use app::port::{EnrolledFiguresPort, NetworkPort};
use app::query::NetworkQuery;
use app::AppError;

use crate::access::require;
use crate::clock::Clock;
use crate::db::network::Figures;
use crate::db::{self, Db};
use crate::dto::{node_ref, node_ref_p};
use crate::error::DomainError;
use crate::figures::{self, Enrolled};

pub struct NetworkService {
    pub db: Db,
    enrolled: Arc<dyn EnrolledFiguresPort>,
    clock: Arc<dyn Clock>,
}

impl NetworkService {
    pub fn new(db: Db, clock: Arc<dyn Clock>, enrolled: Arc<dyn EnrolledFiguresPort>) -> Arc<Self> {
        Arc::new(NetworkService {
            db,
            enrolled,
            clock,
        })
    }

    /// Per-feeder figures, current: read from both sides' maintained figures.
    pub async fn feeder_figures(&self) -> Result<HashMap<i64, Figures>, DomainError> {
        feeder_figures(&self.db, self.enrolled.as_ref()).await
    }
}

/// The grid's service points per feeder with the program side's enrolment added, matched by
/// feeder code.
async fn feeder_figures(
    db: &Db,
    enrolled: &dyn EnrolledFiguresPort,
) -> Result<HashMap<i64, Figures>, DomainError> {
    let mut figures = db::network::feeder_figures(db).await?;
    let by_code: HashMap<String, i64> = db::network::upper_nodes(db)
        .await?
        .into_iter()
        .filter(|n| n.kind == "feeder")
        .map(|n| (n.code, n.id))
        .collect();
    add_enrolled(&mut figures, &by_code, enrolled.enrolled_by_feeder().await)?;
    Ok(figures)
}

/// Adds the program side's enrolment to the nodes of `by_code`; codes the grid does not
/// know are left out.
fn add_enrolled(
    figures: &mut HashMap<i64, Figures>,
    by_code: &HashMap<String, i64>,
    enrolled: Result<Vec<app::port::EnrolledAt>, AppError>,
) -> Result<(), DomainError> {
    let enrolled = enrolled.map_err(|e| DomainError::Internal(e.to_string()))?;
    for e in enrolled {
        if let Some(id) = by_code.get(&e.code) {
            let f = figures.entry(*id).or_default();
            f.enrolled_devices += e.devices;
            f.enrolled_kw += e.kw;
        }
    }
    Ok(())
}

/// A node as the network page and its REST answer show it: the enrolled load as
/// [`figures::Enrolled::shown`].
fn rollup(
    node: NodeRef,
    service_points: i64,
    enrolled: Enrolled,
    children: Vec<NodeRollup>,
) -> NodeRollup {
    let enrolled = enrolled.shown();
    NodeRollup {
        node,
        service_points,
        enrolled_devices: enrolled.devices,
        enrolled_kw: enrolled.kw,
        children,
    }
}

fn enrolled_of(f: &Figures) -> Enrolled {
    Enrolled {
        devices: f.enrolled_devices,
        kw: f.enrolled_kw,
    }
}

/// The enrolled load of every substation and feeder (by grid node id) from the feeders'
/// figures: [`figures::roll_up`] over the grid's current model.
fn enrolled_by_node(
    nodes: &[crate::db::NodeWithParent],
    figures: &HashMap<i64, Figures>,
) -> HashMap<i64, Enrolled> {
    let feeders: HashMap<i64, Enrolled> = figures
        .iter()
        .map(|(id, f)| (*id, enrolled_of(f)))
        .collect();
    let parents: HashMap<i64, i64> = nodes
        .iter()
        .filter(|n| n.kind == "feeder")
        .filter_map(|n| n.parent_id.map(|p| (n.id, p)))
        .collect();
    figures::roll_up(&feeders, &parents)
}

impl NetworkService {
    /// The enrolled load ([`figures::Enrolled`]) of every substation and feeder, and of the
    /// transformers under `feeders`, by grid node id: the very figures the network page
    /// shows (its cached roll-up), for the forecast page's roll-up.
    pub async fn enrolled_load(
        &self,
        feeders: &[i64],
    ) -> Result<HashMap<i64, Enrolled>, DomainError> {
        let nodes = db::network::upper_nodes(&self.db).await?;
        let figures = self.feeder_figures().await?;
        let mut out = enrolled_by_node(&nodes, &figures);
        for fid in feeders {
            let Some(f) = nodes.iter().find(|n| n.id == *fid && n.kind == "feeder") else {
                continue;
            };
            let transformers = db::network::transformers_of(&self.db, *fid).await?;
            out.extend(self.transformer_load(&transformers, &f.code).await?);
        }
        Ok(out)
    }

    /// Enrolled load of the transformers under one feeder.
    async fn transformer_load(
        &self,
        transformers: &[db::network::NodeRow],
        feeder_code: &str,
    ) -> Result<HashMap<i64, Enrolled>, DomainError> {
        let by_code: HashMap<String, i64> = transformers
            .iter()
            .map(|t| (t.code.clone(), t.id))
            .collect();
        let mut tf: HashMap<i64, Figures> = HashMap::new();
        add_enrolled(
            &mut tf,
            &by_code,
            self.enrolled.enrolled_by_transformer(feeder_code).await,
        )?;
        Ok(tf.iter().map(|(id, f)| (*id, enrolled_of(f))).collect())
    }
}

#[async_trait]
impl NetworkPort for NetworkService {
    async fn network(&self, viewer: &Viewer, q: &NetworkQuery) -> Result<NetworkView, AppError> {
        require(viewer, Action::ReadNetwork)?;
        let nodes = db::network::upper_nodes(&self.db).await?;
        let figures = self.feeder_figures().await?;
        let enrolled = enrolled_by_node(&nodes, &figures);
        let load = |id: i64| enrolled.get(&id).copied().unwrap_or_default();
        let mut substations: Vec<NodeRollup> = nodes
            .iter()
            .filter(|n| n.kind == "substation")
            .map(|s| {
                let children: Vec<NodeRollup> = nodes
                    .iter()
                    .filter(|f| f.kind == "feeder" && f.parent_id == Some(s.id))
                    .map(|f| {
                        let sp = figures.get(&f.id).map_or(0, |f| f.service_points);
                        rollup(node_ref_p(f), sp, load(f.id), Vec::new())
                    })
                    .collect();
                let sp = children.iter().map(|c| c.service_points).sum();
                rollup(node_ref_p(s), sp, load(s.id), children)
            })
            .collect();
        substations.sort_by(|a, b| a.node.code.cmp(&b.node.code));
        let feeder = match q.feeder {
            None => None,
            Some(fid) => {
                let f = db::network::get_node(&self.db, fid)
                    .await?
                    .filter(|n| n.kind == "feeder")
                    .ok_or_else(|| DomainError::not_found(format!("feeder {fid}")))?;
                let transformers = db::network::transformers_of(&self.db, fid).await?;
                let sps = db::network::transformer_figures(&self.db, fid).await?;
                let tload = self.transformer_load(&transformers, &f.code).await?;
                let children = transformers
                    .iter()
                    .map(|t| {
                        rollup(
                            node_ref(t),
                            sps.get(&t.id).map_or(0, |f| f.service_points),
                            tload.get(&t.id).copied().unwrap_or_default(),
                            Vec::new(),
                        )
                    })
                    .collect();
                Some(rollup(
                    node_ref(&f),
                    figures.get(&fid).map_or(0, |f| f.service_points),
                    load(fid),
                    children,
                ))
            }
        };
        Ok(NetworkView {
            substations,
            feeder,
        })
    }

    async fn export_network(&self, viewer: &Viewer) -> Result<String, AppError> {
        require(viewer, Action::ExportNetwork)?;
        let s = crate::grid::network_export::export_network(
            &self.db,
            &viewer.username,
            self.clock.now(),
        )
        .await?;
        Ok(format!(
            "Network model exported: {} nodes and {} service points queued for the program side.",
            s.nodes, s.service_points
        ))
    }
}
