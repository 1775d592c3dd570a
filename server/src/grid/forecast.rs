//! Forecasts (placeholder until the forecast model lands): a flat zone baseline and flat
//! reduction shares, so planning can be exercised end to end.

use chrono::{DateTime, Utc};

use crate::db::Db;
use crate::error::DomainError;
use crate::grid::DEVICE_TYPES;
use crate::with_db;

pub async fn zone_baseline(
    db: &Db,
    zone: &[i64],
    _start: DateTime<Utc>,
    intervals: usize,
) -> Result<Vec<f64>, DomainError> {
    let kva: f64 = with_db!(db, |c| sqlx::query_scalar::<_, Option<f64>>(
        "SELECT SUM(rated_kva) FROM network_nodes WHERE kind = 'transformer'"
    )
    .fetch_one(c)
    .await?)
    .unwrap_or(0.0);
    let per_node = kva * 0.6 / zone.len().max(1) as f64;
    Ok(vec![per_node * zone.len() as f64; intervals])
}

pub async fn reduction_factors(
    _db: &Db,
    _start: DateTime<Utc>,
    intervals: usize,
) -> Result<Vec<Vec<f32>>, DomainError> {
    Ok(DEVICE_TYPES.iter().map(|_| vec![0.8; intervals]).collect())
}
