//! Strategies (grid side): the stored templates events are created from, and what the grid
//! side knows that a strategy may name (network nodes, linked programs).

use chrono::{DateTime, Utc};

use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StrategyRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub zone_node_ids: String,
    pub program_codes: String,
    pub device_groups: String,
    pub event_type: String,
    pub priority: i32,
    pub ba_check: bool,
    pub objective: String,
    pub target_mw: Option<f64>,
    pub max_increase_pct: Option<f64>,
    pub control_level: String,
    pub override_rules: bool,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
}

/// A strategy's settings as stored: the lists are JSON text.
#[derive(Debug, Clone)]
pub struct StrategyFields<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub zone_node_ids: &'a str,
    pub program_codes: &'a str,
    pub device_groups: &'a str,
    pub event_type: &'a str,
    pub priority: i32,
    pub ba_check: bool,
    pub objective: &'a str,
    pub target_mw: Option<f64>,
    pub max_increase_pct: Option<f64>,
    pub control_level: &'a str,
    pub override_rules: bool,
}

const COLUMNS: &str = "id, name, description, zone_node_ids, program_codes, device_groups, event_type, priority, ba_check, objective, target_mw, max_increase_pct, control_level, override_rules, archived_at, created_by, updated_at";

/// (id, code, kind) of every network node.
pub async fn node_codes(db: &Db) -> Result<Vec<(i64, String, String)>, DomainError> {
    Ok(with_db!(db, |c| sqlx::query_as(
        "SELECT id, code, kind FROM network_nodes"
    )
    .fetch_all(c)
    .await?))
}

/// Programs the grid side knows (from rule sync).
pub async fn known_programs(db: &Db) -> Result<Vec<String>, DomainError> {
    Ok(with_db!(db, |c| sqlx::query_scalar(
        "SELECT DISTINCT program_code FROM grid_program_rules WHERE linked ORDER BY program_code"
    )
    .fetch_all(c)
    .await?))
}

/// A new strategy; returns its id. A taken name is a `Conflict`.
pub async fn insert_strategy(
    tx: &mut Tx,
    s: &StrategyFields<'_>,
    created_by: &str,
    now: DateTime<Utc>,
) -> Result<i64, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_scalar(
        "INSERT INTO strategies (name, description, zone_node_ids, program_codes, device_groups, event_type, priority,
            ba_check, objective, target_mw, max_increase_pct, control_level, override_rules, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) RETURNING id"
    )
    .bind(s.name).bind(s.description).bind(s.zone_node_ids).bind(s.program_codes).bind(s.device_groups)
    .bind(s.event_type).bind(s.priority).bind(s.ba_check).bind(s.objective).bind(s.target_mw)
    .bind(s.max_increase_pct).bind(s.control_level).bind(s.override_rules).bind(created_by).bind(now)
    .fetch_one(c)
    .await?
    }))
}

/// Overwrites a strategy's settings. A taken name is a `Conflict`.
pub async fn update_strategy(
    tx: &mut Tx,
    id: i64,
    s: &StrategyFields<'_>,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    with_tx!(tx, |c| {
        sqlx::query(
        "UPDATE strategies SET name = $1, description = $2, zone_node_ids = $3, program_codes = $4, device_groups = $5,
            event_type = $6, priority = $7, ba_check = $8, objective = $9, target_mw = $10, max_increase_pct = $11,
            control_level = $12, override_rules = $13, updated_at = $14 WHERE id = $15"
    )
    .bind(s.name).bind(s.description).bind(s.zone_node_ids).bind(s.program_codes).bind(s.device_groups)
    .bind(s.event_type).bind(s.priority).bind(s.ba_check).bind(s.objective).bind(s.target_mw)
    .bind(s.max_increase_pct).bind(s.control_level).bind(s.override_rules).bind(now).bind(id)
    .execute(c)
    .await?
    .rows_affected()
    });
    Ok(())
}

pub async fn archive_strategy(tx: &mut Tx, id: i64, now: DateTime<Utc>) -> Result<(), DomainError> {
    with_tx!(tx, |c| sqlx::query(
        "UPDATE strategies SET archived_at = $1, updated_at = $1 WHERE id = $2"
    )
    .bind(now)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected());
    Ok(())
}

pub async fn list_strategies(db: &Db, archived: bool) -> Result<Vec<StrategyRow>, DomainError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM strategies WHERE (archived_at IS NOT NULL) = $1 ORDER BY name"
    );
    Ok(with_db!(db, |c| sqlx::query_as(&sql)
        .bind(archived)
        .fetch_all(c)
        .await?))
}

pub async fn get_strategy(db: &Db, id: i64) -> Result<Option<StrategyRow>, DomainError> {
    let sql = format!("SELECT {COLUMNS} FROM strategies WHERE id = $1");
    Ok(with_db!(db, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await?))
}

pub async fn get_strategy_tx(tx: &mut Tx, id: i64) -> Result<Option<StrategyRow>, DomainError> {
    let sql = format!("SELECT {COLUMNS} FROM strategies WHERE id = $1");
    Ok(with_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await?))
}

/// (id, code, name, kind) of every network node, substations first.
pub async fn nodes(db: &Db) -> Result<Vec<(i64, String, String, String)>, DomainError> {
    Ok(with_db!(db, |c| sqlx::query_as(
        "SELECT id, code, name, kind FROM network_nodes ORDER BY kind DESC, code"
    )
    .fetch_all(c)
    .await?))
}

/// (id, name) of every strategy.
pub async fn strategy_names(db: &Db) -> Result<Vec<(i64, String)>, DomainError> {
    Ok(with_db!(db, |c| sqlx::query_as(
        "SELECT id, name FROM strategies"
    )
    .fetch_all(c)
    .await?))
}
