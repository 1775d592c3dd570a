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

/// Transformers currently under a feeder: from the feeder's open edges (a walk from every
/// transformer through `network_current` probed 75,000 edges on the large demo).
pub async fn transformers_of(db: &Db, feeder_id: i64) -> Result<Vec<NodeRow>, DomainError> {
    // The kind is checked here, not in SQL: with it in the WHERE clause SQLite walks the kind
    // index (every transformer) instead of the feeder's edges.
    let children = with_db!(db, |pool| sqlx::query_as::<_, NodeRow>(
        "SELECT n.id, n.kind, n.code, n.name FROM network_edges e
         JOIN network_nodes n ON n.id = e.child_id
         WHERE e.parent_id = $1 AND e.valid_to IS NULL
         ORDER BY n.code"
    )
    .bind(feeder_id)
    .fetch_all(pool)
    .await?);
    Ok(children
        .into_iter()
        .filter(|n| n.kind == "transformer")
        .collect())
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

/// Service points per feeder, from the maintained figures (migration 0024).
pub async fn feeder_figures(db: &Db) -> Result<HashMap<i64, Figures>, DomainError> {
    let rows: Vec<(i64, i64)> = with_db!(db, |pool| sqlx::query_as(
        "SELECT x.node_id, x.service_points FROM grid_node_figures x
         JOIN network_nodes f ON f.id = x.node_id WHERE f.kind = 'feeder'"
    )
    .fetch_all(pool)
    .await?);
    Ok(service_points(rows))
}

/// Service points per transformer under one feeder, from the maintained figures.
pub async fn transformer_figures(
    db: &Db,
    feeder_id: i64,
) -> Result<HashMap<i64, Figures>, DomainError> {
    let rows: Vec<(i64, i64)> = with_db!(db, |pool| sqlx::query_as(
        "SELECT x.node_id, x.service_points FROM network_edges e
         JOIN grid_node_figures x ON x.node_id = e.child_id
         WHERE e.parent_id = $1 AND e.valid_to IS NULL"
    )
    .bind(feeder_id)
    .fetch_all(pool)
    .await?);
    Ok(service_points(rows))
}

fn service_points(rows: Vec<(i64, i64)>) -> HashMap<i64, Figures> {
    rows.into_iter()
        .map(|(node, n)| {
            (
                node,
                Figures {
                    service_points: n,
                    ..Figures::default()
                },
            )
        })
        .collect()
}

pub use crate::db::recount::Recount;

/// Counts the grid's maintained figures (migration 0024) afresh for these transformers, then
/// for the feeders they hang under from their transformers' rows: two statements per batch,
/// in the writer's transaction, so the network and forecast pages are always current.
pub async fn recount_node_figures(tx: &mut Tx, which: Recount<'_>) -> Result<(), DomainError> {
    if which.is_empty() {
        return Ok(());
    }
    let (ids, transformers, _) = which.parts(tx, "")?;
    let transformers_sql = format!(
        "INSERT INTO grid_node_figures (node_id, service_points, registered_devices, registered_kw)
         SELECT t.id,
                (SELECT COUNT(*) FROM grid_service_points g WHERE g.transformer_id = t.id),
                (SELECT COUNT(*) FROM grid_devices d
                  WHERE d.transformer_id = t.id AND d.status = 'registered'),
                (SELECT COALESCE(SUM(d.nominal_kw), 0.0) FROM grid_devices d
                  WHERE d.transformer_id = t.id AND d.status = 'registered')
         FROM network_nodes t WHERE {transformers}
         ON CONFLICT (node_id) DO UPDATE SET service_points = excluded.service_points,
            registered_devices = excluded.registered_devices, registered_kw = excluded.registered_kw"
    );
    let feeders = match &ids {
        Some(_) => format!(
            "f.id IN (SELECT p.parent_id FROM network_edges p WHERE p.valid_to IS NULL AND p.child_id IN ({}))",
            tx.dialect().in_list(1, Elem::Int)
        ),
        None => "true".to_string(),
    };
    let feeders_sql = format!(
        "INSERT INTO grid_node_figures (node_id, service_points, registered_devices, registered_kw)
         SELECT f.id, CAST(COALESCE(SUM(x.service_points), 0) AS BIGINT),
                CAST(COALESCE(SUM(x.registered_devices), 0) AS BIGINT), COALESCE(SUM(x.registered_kw), 0.0)
         FROM network_nodes f
         LEFT JOIN network_edges e ON e.parent_id = f.id AND e.valid_to IS NULL
         LEFT JOIN grid_node_figures x ON x.node_id = e.child_id
         WHERE f.kind = 'feeder' AND {feeders}
         GROUP BY f.id
         ON CONFLICT (node_id) DO UPDATE SET service_points = excluded.service_points,
            registered_devices = excluded.registered_devices, registered_kw = excluded.registered_kw"
    );
    for sql in [transformers_sql, feeders_sql] {
        with_tx!(tx, |c| {
            let mut q = sqlx::query(&sql);
            if let Some(ids) = &ids {
                q = q.bind(ids);
            }
            q.execute(c).await?.rows_affected()
        });
    }
    Ok(())
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

/// Records where many service points are (the grid's own copy, for flow 11) in one
/// multi-row statement; a service point listed twice ends where its last entry puts it.
/// Answers the transformers touched (before and after) and leaves recounting them to the
/// caller, which counts once for everything it changed.
pub async fn record_service_points(
    tx: &mut Tx,
    points: &[(&str, i64)],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, DomainError> {
    let mut last: HashMap<&str, i64> = HashMap::new();
    let mut order = Vec::new();
    for (sp, t) in points {
        if last.insert(sp, *t).is_none() {
            order.push(*sp);
        }
    }
    let sql = format!(
        "SELECT DISTINCT transformer_id FROM grid_service_points WHERE service_point_id IN ({})",
        tx.dialect().in_list(1, Elem::Text)
    );
    let mut touched: Vec<i64> = last.values().copied().collect();
    for chunk in order.chunks(crate::db::registry::CHUNK) {
        let chunk = list(chunk)?;
        let before: Vec<i64> = with_tx!(tx, |c| sqlx::query_scalar(&sql)
            .bind(&chunk)
            .fetch_all(c)
            .await?);
        touched.extend(before);
    }
    let rows: Vec<Vec<crate::db::Arg>> = order
        .iter()
        .map(|sp| {
            vec![
                crate::db::Arg::Text(sp.to_string()),
                crate::db::Arg::Int(last[sp]),
                crate::db::Arg::Time(now),
            ]
        })
        .collect();
    crate::db::insert_rows_then(
        tx,
        "grid_service_points",
        &["service_point_id", "transformer_id", "updated_at"],
        &rows,
        "ON CONFLICT (service_point_id) DO UPDATE SET transformer_id = excluded.transformer_id,
            updated_at = excluded.updated_at",
    )
    .await?;
    touched.sort_unstable();
    touched.dedup();
    Ok(touched)
}

/// Records (or re-points) a service point under a transformer in the grid's own table.
pub async fn record_service_point(
    tx: &mut Tx,
    service_point_id: &str,
    transformer_id: i64,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let before: Option<i64> = with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT transformer_id FROM grid_service_points WHERE service_point_id = $1"
    )
    .bind(service_point_id)
    .fetch_optional(c)
    .await?);
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
    let touched: Vec<i64> = before.into_iter().chain([transformer_id]).collect();
    recount_node_figures(tx, Recount::Transformers(&touched)).await
}
