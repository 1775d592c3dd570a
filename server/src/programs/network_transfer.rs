//! The program side's part of a network location transfer (flow 11) that scales with the
//! utility: service points following their transformer. Looked up in chunks and moved with
//! one update per chunk and target transformer, so a full export of a million service
//! points costs thousands of statements, not millions.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::calendar::Calendar;
use crate::db::dialect::{list, Elem};
use crate::db::{program_network, Db, Tx};
use crate::error::DomainError;
use crate::integration::handlers::{decode, reject};
use crate::integration::inbound::HandlerError;
use crate::integration::wire::{self, ServicePointLink};
use crate::with_tx;

const CHUNK: usize = 500;

/// Where a transformer hangs: (feeder, substation).
pub type Placement = HashMap<i64, (i64, i64)>;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ServicePointMoves {
    pub moved: usize,
    pub unknown: usize,
    /// The listed service points the program side knows, in the order listed.
    pub known: Vec<String>,
    /// Transformers that lost or gained locations, and feeders that lost or gained
    /// enrollments: whose maintained figures and tallies the move changed.
    pub transformers: BTreeSet<i64>,
    pub feeders: BTreeSet<i64>,
}

/// Re-points every listed service point whose transformer changed, and the enrollments at
/// those locations (their cached feeder and substation). `transformers` maps a transformer
/// code to its id; `placement` gives each transformer's feeder and substation.
pub async fn move_service_points(
    tx: &mut Tx,
    links: &[ServicePointLink],
    transformers: &HashMap<String, i64>,
    placement: &Placement,
) -> Result<ServicePointMoves, DomainError> {
    let mut out = ServicePointMoves::default();
    // Target transformer → locations to move there.
    let mut moves: HashMap<i64, Vec<i64>> = HashMap::new();
    let dialect = tx.dialect();
    let sql = format!(
        "SELECT service_point_id, id, transformer_id, feeder_id FROM device_locations WHERE service_point_id IN ({})",
        dialect.in_list(1, Elem::Text)
    );
    for chunk in links.chunks(CHUNK) {
        let sps: Vec<&str> = chunk.iter().map(|l| l.service_point_id.as_str()).collect();
        let sps = list(&sps)?;
        let rows: Vec<(String, i64, i64, i64)> =
            with_tx!(tx, |c| sqlx::query_as(&sql).bind(&sps).fetch_all(c).await?);
        let found: HashMap<&str, (i64, i64, i64)> = rows
            .iter()
            .map(|(sp, id, t, f)| (sp.as_str(), (*id, *t, *f)))
            .collect();
        for l in chunk {
            let target = *transformers.get(&l.transformer_code).ok_or_else(|| {
                DomainError::invalid(format!(
                    "servicePoints: transformer `{}` is unknown",
                    l.transformer_code
                ))
            })?;
            match found.get(l.service_point_id.as_str()) {
                None => out.unknown += 1,
                Some((_, current, _)) if *current == target => {
                    out.known.push(l.service_point_id.clone())
                }
                Some((location, current, feeder)) => {
                    out.known.push(l.service_point_id.clone());
                    out.transformers.extend([*current, target]);
                    out.feeders.insert(*feeder);
                    moves.entry(target).or_default().push(*location)
                }
            }
        }
    }
    let move_locations = format!(
        "UPDATE device_locations SET transformer_id = $1, feeder_id = $2, substation_id = $3 WHERE id IN ({})",
        dialect.in_list(4, Elem::Int)
    );
    let move_enrollments = format!(
        "UPDATE enrollments SET feeder_id = $1, substation_id = $2 WHERE location_id IN ({})",
        dialect.in_list(3, Elem::Int)
    );
    for (transformer, locations) in moves {
        let &(feeder, substation) = placement.get(&transformer).ok_or_else(|| {
            DomainError::invalid(format!(
                "servicePoints: transformer {transformer} hangs off no feeder"
            ))
        })?;
        out.feeders.insert(feeder);
        for chunk in locations.chunks(CHUNK) {
            let ids = list(chunk)?;
            with_tx!(tx, |c| sqlx::query(&move_locations)
                .bind(transformer)
                .bind(feeder)
                .bind(substation)
                .bind(&ids)
                .execute(c)
                .await?
                .rows_affected());
            with_tx!(tx, |c| sqlx::query(&move_enrollments)
                .bind(feeder)
                .bind(substation)
                .bind(&ids)
                .execute(c)
                .await?
                .rows_affected());
            out.moved += chunk.len();
        }
    }
    Ok(out)
}

/// Flow 11, program side: the grid's network model, recorded in the program side's own copy
/// (it writes nothing of the grid's). New nodes are added; a node whose parent changed is
/// moved effective from the transfer's date (history kept); service points follow their
/// transformer. Service points the program side does not know are reported, not added.
pub(crate) async fn network_location_transfer(
    tx: &mut Tx,
    payload: &Value,
    cal: Calendar,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let t: wire::NetworkLocationTransfer = decode(payload)?;
    // The program side's own copy of the network, by code (its ids are its own).
    let mut nodes: HashMap<String, (i64, String, Option<i64>)> = program_network::nodes_by_code(tx)
        .await?
        .into_iter()
        .map(|(code, n)| (code, (n.id, n.kind, n.parent_id)))
        .collect();
    let (mut created, mut moved) = (0, 0);
    // What the moves touch: transformers whose feeder changed, and the feeders whose
    // enrollments (or their substation) changed.
    let (mut touched_transformers, mut touched_feeders) = (BTreeSet::new(), BTreeSet::new());
    // Parents before children: substations, then feeders, then transformers.
    let mut ordered: Vec<&wire::NetworkNode> = t.nodes.iter().collect();
    ordered.sort_by_key(|n| match n.kind.as_str() {
        "substation" => 0,
        "feeder" => 1,
        _ => 2,
    });
    for n in ordered {
        // `validFrom` is a day of the utility's: the move takes effect at its local midnight.
        let from = cal.day_start(n.valid_from);
        let parent = match &n.parent_code {
            Some(code) => Some(nodes.get(code).map(|(id, _, _)| *id).ok_or_else(|| {
                reject(format!("nodes: parent `{code}` of `{}` is unknown", n.code))
            })?),
            None => None,
        };
        match nodes.get(&n.code).cloned() {
            Some((id, kind, current)) => {
                if kind != n.kind.as_str() {
                    return Err(reject(format!(
                        "nodes: `{}` is a {kind} here, not a {}",
                        n.code,
                        n.kind.as_str()
                    )));
                }
                if let (Some(p), true) = (parent, parent != current) {
                    program_network::transfer_node(tx, id, p, from).await?;
                    if kind == "transformer" {
                        touched_transformers.insert(id);
                        touched_feeders.extend(current.into_iter().chain([p]));
                    } else {
                        touched_feeders.insert(id);
                    }
                    nodes.insert(n.code.clone(), (id, kind, Some(p)));
                    moved += 1;
                }
            }
            None => {
                let id = program_network::add_node(
                    tx,
                    n.kind.as_str(),
                    &n.code,
                    &n.name,
                    parent,
                    from,
                    now,
                )
                .await?;
                nodes.insert(n.code.clone(), (id, n.kind.as_str().to_string(), parent));
                created += 1;
            }
        }
    }
    // Service points follow their transformer: looked up and moved in chunks.
    let transformers: std::collections::HashMap<String, i64> = nodes
        .iter()
        .filter(|(_, (_, kind, _))| kind == "transformer")
        .map(|(code, (id, _, _))| (code.clone(), *id))
        .collect();
    let parent_of: std::collections::HashMap<i64, Option<i64>> =
        nodes.values().map(|(id, _, p)| (*id, *p)).collect();
    let placement: crate::programs::network_transfer::Placement = transformers
        .values()
        .filter_map(|t| {
            let feeder = parent_of.get(t).copied().flatten()?;
            let substation = parent_of
                .get(&feeder)
                .copied()
                .flatten()
                .unwrap_or_default();
            Some((*t, (feeder, substation)))
        })
        .collect();
    let sp = crate::programs::network_transfer::move_service_points(
        tx,
        &t.service_points,
        &transformers,
        &placement,
    )
    .await
    .map_err(|e| match e {
        DomainError::Invalid(m) => reject(m),
        other => HandlerError::Fault(other),
    })?;
    // Enrollments followed their transformers and feeders: count again only where they
    // left or arrived.
    touched_transformers.extend(sp.transformers.iter().copied());
    touched_feeders.extend(sp.feeders.iter().copied());
    let touched_feeders: Vec<i64> = touched_feeders.into_iter().collect();
    let touched_transformers: Vec<i64> = touched_transformers.into_iter().collect();
    crate::db::enrollment::recount_feeder_tallies(tx, &touched_feeders).await?;
    program_network::recount_enrolled_figures(
        tx,
        crate::db::Recount::Transformers(&touched_transformers),
        &touched_feeders,
    )
    .await?;
    let places = places_from_transfer(&t, &sp.known);
    crate::db::place::record_places(tx, &places, Some(&t.transaction_id), now).await?;
    let (sp_moved, unknown) = (sp.moved, sp.unknown);
    Ok(
        json!({"transactionId": t.transaction_id, "nodesCreated": created, "nodesMoved": moved,
              "servicePointsMoved": sp_moved, "unknownServicePoints": unknown}),
    )
}

pub use crate::db::place::NetworkPlace;

/// The places of the `known` service points as the transfer states them: each transformer's
/// feeder and substation are read from the transfer's own nodes, so the program side needs
/// nothing of the grid's tables.
fn places_from_transfer(t: &wire::NetworkLocationTransfer, known: &[String]) -> Vec<NetworkPlace> {
    let parent: HashMap<&str, Option<&str>> = t
        .nodes
        .iter()
        .map(|n| (n.code.as_str(), n.parent_code.as_deref()))
        .collect();
    let known: std::collections::HashSet<&str> = known.iter().map(String::as_str).collect();
    t.service_points
        .iter()
        .filter(|l| known.contains(l.service_point_id.as_str()))
        .map(|l| {
            let feeder = parent.get(l.transformer_code.as_str()).copied().flatten();
            let substation = feeder.and_then(|f| parent.get(f).copied().flatten());
            NetworkPlace {
                service_point_id: l.service_point_id.clone(),
                transformer_code: l.transformer_code.clone(),
                feeder_code: feeder.map(str::to_string),
                substation_code: substation.map(str::to_string),
            }
        })
        .collect()
}

/// Where the program side places a service point, from its own copy; `None` for a service
/// point it has not placed yet.
pub async fn network_place(
    db: &Db,
    service_point_id: &str,
) -> Result<Option<NetworkPlace>, DomainError> {
    crate::db::place::get_place(db, service_point_id).await
}
