//! The effective-dated network model: nodes, parent links, and roll-ups of what hangs below.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::db::dialect::{list, Elem};
use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NodeRow {
    pub id: i64,
    pub kind: String,
    pub code: String,
    pub name: String,
}

/// A node with its current parent (none for substations).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NodeWithParent {
    pub id: i64,
    pub kind: String,
    pub code: String,
    pub name: String,
    pub parent_id: Option<i64>,
}

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

/// Per-node figures: service points, devices in active enrollments, their nominal kW.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    pub service_points: i64,
    pub enrolled_devices: i64,
    pub enrolled_kw: f64,
}

/// Figures per feeder, in two set-based queries over the cached current path.
pub async fn feeder_figures(db: &Db) -> Result<HashMap<i64, Figures>, DomainError> {
    let sps: Vec<(i64, i64)> = with_db!(db, |pool| sqlx::query_as(
        "SELECT feeder_id, COUNT(*) FROM device_locations GROUP BY feeder_id"
    )
    .fetch_all(pool)
    .await?);
    let enrolled: Vec<(i64, i64, f64)> = with_db!(db, |pool| sqlx::query_as(
        "SELECT e.feeder_id, COUNT(*), COALESCE(SUM(d.nominal_kw), 0.0)
         FROM enrollments e
         JOIN enrollment_devices ed ON ed.enrollment_id = e.id AND ed.left_at IS NULL
         JOIN devices d ON d.id = ed.device_id
         WHERE e.status = 'ACTIVE' AND d.status = 'active'
         GROUP BY e.feeder_id"
    )
    .fetch_all(pool)
    .await?);
    let mut out: HashMap<i64, Figures> = HashMap::new();
    for (feeder, n) in sps {
        out.entry(feeder).or_default().service_points = n;
    }
    for (feeder, n, kw) in enrolled {
        let f = out.entry(feeder).or_default();
        f.enrolled_devices = n;
        f.enrolled_kw = kw;
    }
    Ok(out)
}

/// Figures per transformer under one feeder.
pub async fn transformer_figures(
    db: &Db,
    feeder_id: i64,
) -> Result<HashMap<i64, Figures>, DomainError> {
    let sps: Vec<(i64, i64)> = with_db!(db, |pool| {
        sqlx::query_as(
        "SELECT transformer_id, COUNT(*) FROM device_locations WHERE feeder_id = $1 GROUP BY transformer_id"
    )
    .bind(feeder_id)
    .fetch_all(pool)
    .await?
    });
    let enrolled: Vec<(i64, i64, f64)> = with_db!(db, |pool| sqlx::query_as(
        "SELECT l.transformer_id, COUNT(*), COALESCE(SUM(d.nominal_kw), 0.0)
         FROM enrollments e
         JOIN device_locations l ON l.id = e.location_id
         JOIN enrollment_devices ed ON ed.enrollment_id = e.id AND ed.left_at IS NULL
         JOIN devices d ON d.id = ed.device_id
         WHERE e.feeder_id = $1 AND e.status = 'ACTIVE' AND d.status = 'active'
         GROUP BY l.transformer_id"
    )
    .bind(feeder_id)
    .fetch_all(pool)
    .await?);
    let mut out: HashMap<i64, Figures> = HashMap::new();
    for (t, n) in sps {
        out.entry(t).or_default().service_points = n;
    }
    for (t, n, kw) in enrolled {
        let f = out.entry(t).or_default();
        f.enrolled_devices = n;
        f.enrolled_kw = kw;
    }
    Ok(out)
}

/// Moves `child` under `new_parent` from `at`: ends the open link, starts a new one, and
/// rewrites the cached path of every service point below it, all in the caller's transaction.
pub async fn transfer_node(
    tx: &mut Tx,
    child_id: i64,
    new_parent_id: i64,
    at: DateTime<Utc>,
) -> Result<(), DomainError> {
    let kinds: Vec<(i64, String)> = with_tx!(tx, |c| sqlx::query_as(
        "SELECT id, kind FROM network_nodes WHERE id = $1 OR id = $2"
    )
    .bind(child_id)
    .bind(new_parent_id)
    .fetch_all(&mut *c)
    .await?);
    let kind_of = |id: i64| {
        kinds
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, k)| k.as_str())
    };
    let (child_kind, parent_kind) = match (kind_of(child_id), kind_of(new_parent_id)) {
        (Some(c), Some(p)) => (c.to_string(), p.to_string()),
        _ => return Err(DomainError::not_found("network node")),
    };
    let allowed = matches!(
        (child_kind.as_str(), parent_kind.as_str()),
        ("feeder", "substation") | ("transformer", "feeder")
    );
    if !allowed {
        return Err(DomainError::invalid(format!(
            "a {child_kind} cannot hang under a {parent_kind}"
        )));
    }
    with_tx!(tx, |c| sqlx::query(
        "UPDATE network_edges SET valid_to = $1 WHERE child_id = $2 AND valid_to IS NULL"
    )
    .bind(at)
    .bind(child_id)
    .execute(&mut *c)
    .await?
    .rows_affected());
    with_tx!(tx, |c| sqlx::query(
        "INSERT INTO network_edges (child_id, parent_id, valid_from) VALUES ($1, $2, $3)"
    )
    .bind(child_id)
    .bind(new_parent_id)
    .bind(at)
    .execute(&mut *c)
    .await?
    .rows_affected());
    // Rewrite the cached path below the moved node.
    if child_kind == "transformer" {
        let substation: i64 = with_tx!(tx, |c| sqlx::query_scalar(
            "SELECT parent_id FROM network_edges WHERE child_id = $1 AND valid_to IS NULL"
        )
        .bind(new_parent_id)
        .fetch_one(&mut *c)
        .await?);
        with_tx!(tx, |c| {
            sqlx::query(
            "UPDATE device_locations SET feeder_id = $1, substation_id = $2 WHERE transformer_id = $3"
        )
        .bind(new_parent_id)
        .bind(substation)
        .bind(child_id)
        .execute(&mut *c)
        .await?
        .rows_affected()
        });
        with_tx!(tx, |c| sqlx::query(
            "UPDATE enrollments SET feeder_id = $1, substation_id = $2
             WHERE location_id IN (SELECT id FROM device_locations WHERE transformer_id = $3)"
        )
        .bind(new_parent_id)
        .bind(substation)
        .bind(child_id)
        .execute(&mut *c)
        .await?
        .rows_affected());
    } else {
        with_tx!(tx, |c| sqlx::query(
            "UPDATE device_locations SET substation_id = $1 WHERE feeder_id = $2"
        )
        .bind(new_parent_id)
        .bind(child_id)
        .execute(&mut *c)
        .await?
        .rows_affected());
        with_tx!(tx, |c| sqlx::query(
            "UPDATE enrollments SET substation_id = $1 WHERE feeder_id = $2"
        )
        .bind(new_parent_id)
        .bind(child_id)
        .execute(&mut *c)
        .await?
        .rows_affected());
    }
    Ok(())
}

/// The parent of `child` as it was at `at` (effective-dated lookup).
pub async fn parent_at(
    db: &Db,
    child_id: i64,
    at: DateTime<Utc>,
) -> Result<Option<i64>, DomainError> {
    Ok(with_db!(db, |pool| sqlx::query_scalar(
        "SELECT parent_id FROM network_edges
         WHERE child_id = $1 AND valid_from <= $2 AND (valid_to IS NULL OR valid_to > $2)"
    )
    .bind(child_id)
    .bind(at)
    .fetch_optional(pool)
    .await?))
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
