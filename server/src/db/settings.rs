//! Key-value settings of the installation (e.g. which demo was loaded).

use chrono::Utc;

use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

pub async fn get_setting(db: &Db, key: &str) -> Result<Option<String>, DomainError> {
    Ok(with_db!(db, |pool| sqlx::query_scalar(
        "SELECT value FROM settings WHERE key = $1"
    )
    .bind(key)
    .fetch_optional(pool)
    .await?))
}

/// A setting as the transaction sees it.
pub async fn get_setting_tx(tx: &mut Tx, key: &str) -> Result<Option<String>, DomainError> {
    Ok(with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT value FROM settings WHERE key = $1"
    )
    .bind(key)
    .fetch_optional(c)
    .await?))
}

/// Writes a setting; the caller writes the audit record in the same transaction.
pub async fn put_setting(
    tx: &mut Tx,
    key: &str,
    value: &str,
) -> Result<Option<String>, DomainError> {
    let before: Option<String> = with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT value FROM settings WHERE key = $1"
    )
    .bind(key)
    .fetch_optional(&mut *c)
    .await?);
    with_tx!(tx, |c| sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
    )
    .bind(key)
    .bind(value)
    .bind(Utc::now()) // wall clock: bookkeeping of the edit, like the audit entry
    .execute(c)
    .await?
    .rows_affected());
    Ok(before)
}
