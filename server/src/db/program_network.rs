//! The program side's own copy of the network model (`program_network_nodes`,
//! `program_network_edges`, the `program_network_current` view), learnt from the grid's
//! network export (flow 11), and the network path its service points and enrollments cache.
//! Ids here are the program side's own; the grid's nodes are known only by their codes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::db::dialect::{list, Elem};
use crate::db::Recount;
use crate::db::{Db, NodeRow, NodeWithParent, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

/// Substations and feeders with their current parents.
pub async fn upper_nodes(db: &Db) -> Result<Vec<NodeWithParent>, DomainError> {
    Ok(with_db!(db, |pool| sqlx::query_as::<_, NodeWithParent>(
        "SELECT id, kind, code, name, parent_id FROM program_network_current
         WHERE kind IN ('substation', 'feeder') ORDER BY code"
    )
    .fetch_all(pool)
    .await?))
}

/// The id of the node of this kind (`substation`, `feeder`, `transformer`) with this code.
pub async fn node_id_by_code(db: &Db, kind: &str, code: &str) -> Result<Option<i64>, DomainError> {
    Ok(with_db!(db, |pool| sqlx::query_scalar::<_, i64>(
        "SELECT id FROM program_network_nodes WHERE kind = $1 AND code = $2"
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
        "SELECT id, kind, code, name FROM program_network_nodes WHERE id IN ({})",
        db.dialect().in_list(1, Elem::Int)
    );
    let ids = list(ids)?;
    Ok(with_db!(db, |pool| sqlx::query_as::<_, NodeRow>(&sql)
        .bind(&ids)
        .fetch_all(pool)
        .await?))
}

/// A node of the program side's copy: id, kind and current parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownNode {
    pub id: i64,
    pub kind: String,
    pub parent_id: Option<i64>,
}

/// Every node of the copy by code.
pub async fn nodes_by_code(tx: &mut Tx) -> Result<HashMap<String, KnownNode>, DomainError> {
    let rows: Vec<(String, i64, String, Option<i64>)> = with_tx!(tx, |c| sqlx::query_as(
        "SELECT code, id, kind, parent_id FROM program_network_current"
    )
    .fetch_all(c)
    .await?);
    Ok(rows
        .into_iter()
        .map(|(code, id, kind, parent_id)| {
            (
                code,
                KnownNode {
                    id,
                    kind,
                    parent_id,
                },
            )
        })
        .collect())
}

/// Adds a node (and its link to `parent` from `from`, if any); returns its id.
pub async fn add_node(
    tx: &mut Tx,
    kind: &str,
    code: &str,
    name: &str,
    parent: Option<i64>,
    from: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<i64, DomainError> {
    let id: i64 = with_tx!(tx, |c| {
        sqlx::query_scalar(
        "INSERT INTO program_network_nodes (kind, code, name, created_at) VALUES ($1, $2, $3, $4)
         RETURNING id"
    )
    .bind(kind)
    .bind(code)
    .bind(name)
    .bind(now)
    .fetch_one(c)
    .await?
    });
    if let Some(p) = parent {
        with_tx!(tx, |c| {
            sqlx::query(
            "INSERT INTO program_network_edges (child_id, parent_id, valid_from) VALUES ($1, $2, $3)"
        )
        .bind(id)
        .bind(p)
        .bind(from)
        .execute(c)
        .await?
        .rows_affected()
        });
    }
    Ok(id)
}

/// Moves `child` under `new_parent` from `at` in the program side's copy: ends the open
/// link, starts a new one, and rewrites the cached path of every service point and
/// enrollment below it, all in the caller's transaction.
pub async fn transfer_node(
    tx: &mut Tx,
    child_id: i64,
    new_parent_id: i64,
    at: DateTime<Utc>,
) -> Result<(), DomainError> {
    let kinds: Vec<(i64, String)> = with_tx!(tx, |c| sqlx::query_as(
        "SELECT id, kind FROM program_network_nodes WHERE id = $1 OR id = $2"
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
    if !matches!(
        (child_kind.as_str(), parent_kind.as_str()),
        ("feeder", "substation") | ("transformer", "feeder")
    ) {
        return Err(DomainError::invalid(format!(
            "a {child_kind} cannot hang under a {parent_kind}"
        )));
    }
    with_tx!(tx, |c| sqlx::query(
        "UPDATE program_network_edges SET valid_to = $1 WHERE child_id = $2 AND valid_to IS NULL"
    )
    .bind(at)
    .bind(child_id)
    .execute(&mut *c)
    .await?
    .rows_affected());
    with_tx!(tx, |c| sqlx::query(
        "INSERT INTO program_network_edges (child_id, parent_id, valid_from) VALUES ($1, $2, $3)"
    )
    .bind(child_id)
    .bind(new_parent_id)
    .bind(at)
    .execute(&mut *c)
    .await?
    .rows_affected());
    if child_kind == "transformer" {
        let substation: Option<i64> = with_tx!(tx, |c| {
            sqlx::query_scalar(
            "SELECT parent_id FROM program_network_edges WHERE child_id = $1 AND valid_to IS NULL"
        )
        .bind(new_parent_id)
        .fetch_optional(&mut *c)
        .await?
        });
        let substation = substation.ok_or_else(|| {
            DomainError::invalid("the new feeder hangs off no substation".to_string())
        })?;
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

/// The parent of `child` in the program side's copy as it was at `at`.
pub async fn parent_at(
    db: &Db,
    child_id: i64,
    at: DateTime<Utc>,
) -> Result<Option<i64>, DomainError> {
    Ok(with_db!(db, |pool| sqlx::query_scalar(
        "SELECT parent_id FROM program_network_edges
         WHERE child_id = $1 AND valid_from <= $2 AND (valid_to IS NULL OR valid_to > $2)"
    )
    .bind(child_id)
    .bind(at)
    .fetch_optional(pool)
    .await?))
}

/// A transformer's place in the program side's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformerPath {
    pub transformer_id: i64,
    pub feeder_id: i64,
    pub substation_id: i64,
    pub feeder_code: String,
    pub substation_code: String,
}

/// The place of each of these transformer codes that hangs under a feeder and substation.
pub async fn transformer_paths(
    tx: &mut Tx,
    codes: &[String],
    chunk_size: usize,
) -> Result<HashMap<String, TransformerPath>, DomainError> {
    let q = format!(
        "SELECT t.code, t.id, t.parent_id, f.parent_id, f.code, s.code FROM program_network_current t
         JOIN program_network_current f ON f.id = t.parent_id
         JOIN program_network_current s ON s.id = f.parent_id
         WHERE t.kind = 'transformer' AND t.code IN ({})",
        tx.dialect().in_list(1, Elem::Text)
    );
    let mut out = HashMap::new();
    for chunk in codes.chunks(chunk_size.max(1)) {
        let chunk = list(chunk)?;
        let rows: Vec<(String, i64, i64, i64, String, String)> =
            with_tx!(tx, |c| sqlx::query_as(&q).bind(&chunk).fetch_all(c).await?);
        for (code, t, f, s, feeder_code, substation_code) in rows {
            out.insert(
                code,
                TransformerPath {
                    transformer_id: t,
                    feeder_id: f,
                    substation_id: s,
                    feeder_code,
                    substation_code,
                },
            );
        }
    }
    Ok(out)
}

/// Devices in active enrollments and their nominal kW, per feeder code, from the maintained
/// figures (migration 0024).
pub async fn enrolled_by_feeder(db: &Db) -> Result<Vec<(String, i64, f64)>, DomainError> {
    Ok(with_db!(db, |pool| sqlx::query_as(
        "SELECT f.code, x.devices, x.kw FROM enrolled_node_figures x
         JOIN program_network_nodes f ON f.id = x.node_id WHERE f.kind = 'feeder'"
    )
    .fetch_all(pool)
    .await?))
}

/// The same per transformer code, for the transformers under one feeder (by code).
pub async fn enrolled_by_transformer(
    db: &Db,
    feeder_code: &str,
) -> Result<Vec<(String, i64, f64)>, DomainError> {
    Ok(with_db!(db, |pool| sqlx::query_as(
        "SELECT t.code, x.devices, x.kw
         FROM program_network_nodes f
         JOIN program_network_edges e ON e.parent_id = f.id AND e.valid_to IS NULL
         JOIN program_network_nodes t ON t.id = e.child_id
         JOIN enrolled_node_figures x ON x.node_id = t.id
         WHERE f.code = $1 AND f.kind = 'feeder' AND x.devices > 0"
    )
    .bind(feeder_code)
    .fetch_all(pool)
    .await?))
}

/// Counts the program side's maintained figures (migration 0024) afresh for these
/// transformers (the enrollments at their locations), then for the feeders they hang under
/// and the `feeders` they left, from their transformers' rows: two statements per batch, in
/// the writer's transaction.
pub async fn recount_enrolled_figures(
    tx: &mut Tx,
    which: Recount<'_>,
    feeders: &[i64],
) -> Result<(), DomainError> {
    if which.is_empty() && feeders.is_empty() {
        return Ok(());
    }
    let dialect = tx.dialect();
    let (ids, transformers, locations) = which.parts(tx, "l.transformer_id")?;
    let transformers_sql = format!(
        "INSERT INTO enrolled_node_figures (node_id, devices, kw)
         SELECT t.id, COALESCE(s.n, 0), COALESCE(s.kw, 0.0)
         FROM program_network_nodes t
         LEFT JOIN (SELECT l.transformer_id AS id, COUNT(*) AS n, SUM(d.nominal_kw) AS kw
                    FROM device_locations l
                    JOIN enrollments e ON e.location_id = l.id
                    JOIN enrollment_devices ed ON ed.enrollment_id = e.id AND ed.left_at IS NULL
                    JOIN devices d ON d.id = ed.device_id
                    WHERE {locations} AND e.status = 'ACTIVE' AND d.status = 'active'
                    GROUP BY l.transformer_id) s ON s.id = t.id
         WHERE {transformers}
         ON CONFLICT (node_id) DO UPDATE SET devices = excluded.devices, kw = excluded.kw"
    );
    let feeder_filter = match &ids {
        Some(_) => format!(
            "(f.id IN ({}) OR f.id IN (SELECT p.parent_id FROM program_network_edges p
                                        WHERE p.valid_to IS NULL AND p.child_id IN ({})))",
            dialect.in_list(2, Elem::Int),
            dialect.in_list(1, Elem::Int)
        ),
        None => "true".to_string(),
    };
    let feeders_sql = format!(
        "INSERT INTO enrolled_node_figures (node_id, devices, kw)
         SELECT f.id, CAST(COALESCE(SUM(x.devices), 0) AS BIGINT), COALESCE(SUM(x.kw), 0.0)
         FROM program_network_nodes f
         LEFT JOIN program_network_edges e ON e.parent_id = f.id AND e.valid_to IS NULL
         LEFT JOIN enrolled_node_figures x ON x.node_id = e.child_id
         WHERE f.kind = 'feeder' AND {feeder_filter}
         GROUP BY f.id
         ON CONFLICT (node_id) DO UPDATE SET devices = excluded.devices, kw = excluded.kw"
    );
    let feeders = list(feeders)?;
    if !which.is_empty() {
        with_tx!(tx, |c| {
            let mut q = sqlx::query(&transformers_sql);
            if let Some(ids) = &ids {
                q = q.bind(ids);
            }
            q.execute(c).await?.rows_affected()
        });
    }
    with_tx!(tx, |c| {
        let mut q = sqlx::query(&feeders_sql);
        if let Some(ids) = &ids {
            q = q.bind(ids).bind(&feeders);
        }
        q.execute(c).await?.rows_affected()
    });
    Ok(())
}
