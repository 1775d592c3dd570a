//! Unavailability windows: stored windows and what deciding on one needs of the device.

use chrono::{DateTime, Utc};

use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

/// (head-end, NIC id, status) of a device.
pub async fn device_key(
    db: &Db,
    device_id: i64,
) -> Result<Option<(String, String, String)>, DomainError> {
    Ok(with_db!(db, |p| sqlx::query_as(
        "SELECT head_end, nic_id, status FROM devices WHERE id = $1"
    )
    .bind(device_id)
    .fetch_optional(p)
    .await?))
}

/// How many of the device's open enrollments are in programs that do not allow
/// unavailability windows.
pub async fn refusing_enrollments(db: &Db, device_id: i64) -> Result<i64, DomainError> {
    Ok(with_db!(db, |p| {
        sqlx::query_scalar(
        "SELECT COUNT(*) FROM enrollment_devices ed JOIN enrollments e ON e.id = ed.enrollment_id JOIN programs pr ON pr.id = e.program_id
         WHERE ed.device_id = $1 AND ed.left_at IS NULL AND e.status IN ('PENDING', 'ACTIVE') AND NOT pr.unavailability_allowed"
    )
    .bind(device_id)
    .fetch_one(p)
    .await?
    }))
}

/// A new active window; returns its id.
pub async fn insert_window(
    tx: &mut Tx,
    device_id: i64,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<i64, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_scalar(
        "INSERT INTO unavailability_windows (device_id, starts_at, ends_at, reason, status, created_at)
         VALUES ($1, $2, $3, $4, 'active', $5) RETURNING id"
    )
    .bind(device_id)
    .bind(starts_at)
    .bind(ends_at)
    .bind(reason)
    .bind(now)
    .fetch_one(c)
    .await?
    }))
}

/// A stored window with its device's keys.
#[derive(sqlx::FromRow)]
pub struct WindowRow {
    pub device_id: i64,
    pub head_end: String,
    pub nic_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: String,
    pub status: String,
}

pub async fn get_window(db: &Db, window_id: i64) -> Result<Option<WindowRow>, DomainError> {
    Ok(with_db!(db, |p| sqlx::query_as(
        "SELECT w.device_id, d.head_end, d.nic_id, w.starts_at, w.ends_at, w.reason, w.status
         FROM unavailability_windows w JOIN devices d ON d.id = w.device_id WHERE w.id = $1"
    )
    .bind(window_id)
    .fetch_optional(p)
    .await?))
}

/// Cancels the window if it is still active.
pub async fn cancel_window(tx: &mut Tx, window_id: i64) -> Result<(), DomainError> {
    with_tx!(tx, |c| {
        sqlx::query("UPDATE unavailability_windows SET status = 'cancelled' WHERE id = $1 AND status = 'active'")
        .bind(window_id)
        .execute(c)
        .await?
        .rows_affected()
    });
    Ok(())
}
