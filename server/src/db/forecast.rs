//! What forecasting reads and writes (grid side): network nodes with their current parent,
//! feeders' metered load history, temperatures, the expected-reduction table and the grid
//! devices registered per transformer.

use chrono::{DateTime, Utc};

use crate::db::{insert_rows, Arg, Db, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

/// A network node as the zone resolution needs it (current parent).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct NodeInfo {
    pub id: i64,
    pub kind: String,
    pub code: String,
    pub parent_id: Option<i64>,
    pub rated_kva: Option<f64>,
}

/// Ids joined for an `IN (…)`: integers, so they go into the statement as they are.
fn id_list(ids: &[i64]) -> String {
    ids.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

const NODE_SELECT: &str =
    "SELECT n.id, n.kind, n.code, e.parent_id, n.rated_kva FROM network_nodes n
                  LEFT JOIN network_edges e ON e.child_id = n.id AND e.valid_to IS NULL";

/// The nodes with these ids.
pub async fn nodes_by_id(db: &Db, ids: &[i64]) -> Result<Vec<NodeInfo>, DomainError> {
    let sql = format!("{NODE_SELECT} WHERE n.id IN ({})", id_list(ids));
    Ok(with_db!(db, |p| sqlx::query_as::<_, NodeInfo>(&sql)
        .fetch_all(p)
        .await?))
}

/// The nodes of `kind` whose current parent is one of `parents`.
pub async fn children_of(
    db: &Db,
    kind: &str,
    parents: &[i64],
) -> Result<Vec<NodeInfo>, DomainError> {
    let sql = format!(
        "{NODE_SELECT} WHERE n.kind = $1 AND e.parent_id IN ({})",
        id_list(parents)
    );
    Ok(with_db!(db, |p| sqlx::query_as::<_, NodeInfo>(&sql)
        .bind(kind)
        .fetch_all(p)
        .await?))
}

/// Every node with its current parent.
pub async fn all_nodes(db: &Db) -> Result<Vec<NodeInfo>, DomainError> {
    Ok(with_db!(db, |p| sqlx::query_as::<_, NodeInfo>(
        "SELECT id, kind, code, parent_id, rated_kva FROM network_current"
    )
    .fetch_all(p)
    .await?))
}

/// (node, devices, nominal kW) of the registered grid devices below these feeders and
/// transformers, from the maintained figures (migration 0024).
pub async fn node_devices(db: &Db, ids: &[i64]) -> Result<Vec<(i64, i64, f64)>, DomainError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT node_id, registered_devices, registered_kw FROM grid_node_figures
         WHERE node_id IN ({})",
        id_list(ids)
    );
    Ok(with_db!(db, |p| sqlx::query_as(&sql).fetch_all(p).await?))
}

/// The substations and feeders with their current parents.
pub async fn upper_nodes(db: &Db) -> Result<Vec<NodeInfo>, DomainError> {
    let sql = format!("{NODE_SELECT} WHERE n.kind IN ('substation', 'feeder')");
    Ok(with_db!(db, |p| sqlx::query_as::<_, NodeInfo>(&sql)
        .fetch_all(p)
        .await?))
}

/// (feeder, interval start, kW) of the feeders' metered load in `[from, to)`.
pub async fn load_history(
    db: &Db,
    feeders: &[i64],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(i64, DateTime<Utc>, f64)>, DomainError> {
    let sql = format!(
        "SELECT feeder_id, interval_start, kw FROM feeder_load_history
         WHERE feeder_id IN ({}) AND interval_start >= $1 AND interval_start < $2",
        id_list(feeders)
    );
    Ok(with_db!(db, |p| sqlx::query_as(&sql)
        .bind(from)
        .bind(to)
        .fetch_all(p)
        .await?))
}

/// (hour start, °C) of temperatures of `kind` (`observed` or `forecast`) in `[from, to)`.
pub async fn temperatures(
    db: &Db,
    kind: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, f64)>, DomainError> {
    Ok(with_db!(db, |p| sqlx::query_as(
        "SELECT hour_start, temperature_c FROM temperatures
         WHERE kind = $1 AND hour_start >= $2 AND hour_start < $3"
    )
    .bind(kind)
    .bind(from)
    .bind(to)
    .fetch_all(p)
    .await?))
}

/// Marks the forecast's inputs (feeder load history, observed temperatures) changed, in the writer's
/// transaction `tx`: models fitted on the old ones, kept by any process, are fitted again.
pub async fn inputs_changed(tx: &mut Tx) -> Result<(), DomainError> {
    with_tx!(tx, |c| {
        sqlx::query("UPDATE forecast_inputs SET version = version + 1")
            .execute(c)
            .await?
            .rows_affected()
    });
    Ok(())
}

/// (this database's id, the version of its forecast inputs).
pub async fn inputs_version(db: &Db) -> Result<(String, i64), DomainError> {
    Ok(with_db!(db, |p| sqlx::query_as(
        "SELECT store_id, version FROM forecast_inputs WHERE id = 1"
    )
    .fetch_one(p)
    .await?))
}

/// Replaces the forecast temperatures from the first to the last of `hours`. The feeders'
/// fitted models read only observed temperatures, so this leaves [`inputs_changed`] alone: a
/// page after an upload applies the new forecast to the kept models instead of refitting.
pub async fn replace_forecast_temperatures(
    tx: &mut Tx,
    hours: &[(DateTime<Utc>, f64)],
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let (Some(first), Some(last)) = (hours.first(), hours.last()) else {
        return Ok(());
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
    let rows: Vec<Vec<Arg>> = hours
        .iter()
        .map(|(t, c)| {
            vec![
                Arg::Text("forecast".into()),
                Arg::Time(*t),
                Arg::Float(*c),
                Arg::Time(now),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "temperatures",
        &["kind", "hour_start", "temperature_c", "updated_at"],
        &rows,
    )
    .await
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

/// A reduction row's settings.
#[derive(Debug, Clone)]
pub struct ReductionFields<'a> {
    pub device_type: &'a str,
    pub hour_from: i32,
    pub hour_to: i32,
    pub temp_from_c: f64,
    pub temp_to_c: f64,
    pub share: f64,
}

pub async fn list_reductions(db: &Db) -> Result<Vec<ReductionRow>, DomainError> {
    Ok(with_db!(db, |p| sqlx::query_as::<_, ReductionRow>(
        "SELECT id, device_type, hour_from, hour_to, temp_from_c, temp_to_c, share, updated_at
         FROM reduction_factors ORDER BY device_type, hour_from, temp_from_c, id"
    )
    .fetch_all(p)
    .await?))
}

pub async fn get_reduction(tx: &mut Tx, id: i64) -> Result<Option<ReductionRow>, DomainError> {
    Ok(with_tx!(tx, |c| sqlx::query_as::<_, ReductionRow>(
        "SELECT id, device_type, hour_from, hour_to, temp_from_c, temp_to_c, share, updated_at
         FROM reduction_factors WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await?))
}

/// A new row; returns its id.
pub async fn insert_reduction(
    tx: &mut Tx,
    e: &ReductionFields<'_>,
    now: DateTime<Utc>,
) -> Result<i64, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_scalar(
        "INSERT INTO reduction_factors (device_type, hour_from, hour_to, temp_from_c, temp_to_c, share, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
    )
    .bind(e.device_type)
    .bind(e.hour_from)
    .bind(e.hour_to)
    .bind(e.temp_from_c)
    .bind(e.temp_to_c)
    .bind(e.share)
    .bind(now)
    .fetch_one(&mut *c)
    .await?
    }))
}

pub async fn update_reduction(
    tx: &mut Tx,
    id: i64,
    e: &ReductionFields<'_>,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    with_tx!(tx, |c| sqlx::query(
        "UPDATE reduction_factors SET device_type = $1, hour_from = $2, hour_to = $3,
         temp_from_c = $4, temp_to_c = $5, share = $6, updated_at = $7 WHERE id = $8"
    )
    .bind(e.device_type)
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
    Ok(())
}

pub async fn delete_reduction(tx: &mut Tx, id: i64) -> Result<(), DomainError> {
    with_tx!(tx, |c| sqlx::query(
        "DELETE FROM reduction_factors WHERE id = $1"
    )
    .bind(id)
    .execute(&mut *c)
    .await?
    .rows_affected());
    Ok(())
}
