//! The effective-dated network model: nodes, parent links, and roll-ups of what hangs below.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::db::dialect::{list, Elem};
use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

pub use crate::db::{NodeRow, NodeWithParent};

/// Substations and feeders with their current parents.
pub async fn upper_nodes(db: &Db) -> Result<Vec<NodeWithParent>, DomainError> {
    Ok(with_db!(db, |pool| sqlx::query_as::<_, NodeWithParent>(
        "SELECT id, kind, code, name, parent_id FROM network_current
         WHERE kind IN ('substation', 'feeder') ORDER BY code"
    )
    .fetch_all(pool)
    .await?))
}

pub async fn get_node(db: &Db, id: i64) -> Result<Option<NodeRow>, DomainError> {
    Ok(with_db!(db, |pool| sqlx::query_as::<_, NodeRow>(
        "SELECT id, kind, code, name FROM network_nodes WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(pool)
    .await?))
}

/// The id of the node of this kind (`substation`, `feeder`, `transformer`) with this code.
pub async fn node_id_by_code(db: &Db, kind: &str, code: &str) -> Result<Option<i64>, DomainError> {
    Ok(with_db!(db, |pool| sqlx::query_scalar::<_, i64>(
        "SELECT id FROM network_nodes WHERE kind = $1 AND code = $2"
    )
    .bind(kind)
    .bind(code)
    .fetch_optional(pool)
    .await?))
}

pub async fn nodes_by_ids(db: &Db, ids: &[i64]) -> Result<Vec<NodeRow>, DomainError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, kind, code, name FROM network_nodes WHERE id IN ({})",
        db.dialect().in_list(1, Elem::Int)
    );
    let ids = list(ids)?;
    Ok(with_db!(db, |pool| sqlx::query_as::<_, NodeRow>(&sql)
        .bind(&ids)
        .fetch_all(pool)
        .await?))
}

/// Transformers currently under a feeder.
pub async fn transformers_of(db: &Db, feeder_id: i64) -> Result<Vec<NodeRow>, DomainError> {
    Ok(with_db!(db, |pool| sqlx::query_as::<_, NodeRow>(
        "SELECT id, kind, code, name FROM network_current
         WHERE parent_id = $1 AND kind = 'transformer' ORDER BY code"
    )
    .bind(feeder_id)
    .fetch_all(pool)
    .await?))
}

/// Per-node figures: service points, devices in active enrollments, their nominal kW. The
/// grid counts the service points it knows (`grid_service_points`); the enrolled devices
/// and kW are the program side's, added by the network service.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    pub service_points: i64,
    pub enrolled_devices: i64,
    pub enrolled_kw: f64,
}

/// Service points per feeder: each under its transformer's current feeder.
pub async fn feeder_figures(db: &Db) -> Result<HashMap<i64, Figures>, DomainError> {
    let sps: Vec<(i64, i64)> = with_db!(db, |pool| sqlx::query_as(
        "SELECT t.parent_id, COUNT(*) FROM grid_service_points g
         JOIN network_current t ON t.id = g.transformer_id
         WHERE t.parent_id IS NOT NULL GROUP BY t.parent_id"
    )
    .fetch_all(pool)
    .await?);
    Ok(sps
        .into_iter()
        .map(|(feeder, n)| {
            (
                feeder,
                Figures {
                    service_points: n,
                    ..Figures::default()
                },
            )
        })
        .collect())
}

/// Service points per transformer under one feeder.
pub async fn transformer_figures(
    db: &Db,
    feeder_id: i64,
) -> Result<HashMap<i64, Figures>, DomainError> {
    let sps: Vec<(i64, i64)> = with_db!(db, |pool| sqlx::query_as(
        "SELECT g.transformer_id, COUNT(*) FROM grid_service_points g
         JOIN network_current t ON t.id = g.transformer_id
         WHERE t.parent_id = $1 GROUP BY g.transformer_id"
    )
    .bind(feeder_id)
    .fetch_all(pool)
    .await?);
    Ok(sps
        .into_iter()
        .map(|(t, n)| {
            (
                t,
                Figures {
                    service_points: n,
                    ..Figures::default()
                },
            )
        })
        .collect())
}

/// A node as the network export (flow 11) states it: code, kind, name, parent's code and
/// since when it hangs there.
pub type ExportNodeRow = (String, String, String, Option<String>, DateTime<Utc>);

/// Every node with its current parent, in id order (parents were created first).
pub async fn export_nodes(tx: &mut Tx) -> Result<Vec<ExportNodeRow>, DomainError> {
    Ok(with_tx!(tx, |c| sqlx::query_as(
        "SELECT n.code, n.kind, n.name, p.code, COALESCE(n.linked_from, n.created_at)
         FROM network_current n LEFT JOIN network_nodes p ON p.id = n.parent_id ORDER BY n.id"
    )
    .fetch_all(c)
    .await?))
}

/// Every service point the grid knows of with its transformer's code.
pub async fn service_point_links(tx: &mut Tx) -> Result<Vec<(String, String)>, DomainError> {
    Ok(with_tx!(tx, |c| sqlx::query_as(
        "SELECT g.service_point_id, t.code FROM grid_service_points g
         JOIN network_nodes t ON t.id = g.transformer_id ORDER BY g.service_point_id"
    )
    .fetch_all(c)
    .await?))
}

/// Records (or re-points) a service point under a transformer in the grid's own table.
pub async fn record_service_point(
    tx: &mut Tx,
    service_point_id: &str,
    transformer_id: i64,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    with_tx!(tx, |c| sqlx::query(
        "INSERT INTO grid_service_points (service_point_id, transformer_id, updated_at)
         VALUES ($1, $2, $3)
         ON CONFLICT (service_point_id) DO UPDATE SET transformer_id = excluded.transformer_id,
            updated_at = excluded.updated_at"
    )
    .bind(service_point_id)
    .bind(transformer_id)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected());
    Ok(())
}
