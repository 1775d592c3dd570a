//! API tokens for machine clients: only a SHA-256 of the token is stored.

use chrono::{DateTime, Utc};

use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub revoked: bool,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// For integration tokens: the side the token speaks for (`programs` or `grid`).
    pub scope: Option<String>,
}

pub async fn insert_token(
    tx: &mut Tx,
    name: &str,
    role: &str,
    token_hash: &str,
    expires_at: Option<DateTime<Utc>>,
    scope: Option<&str>,
) -> Result<i64, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_scalar(
        "INSERT INTO api_tokens (name, role, token_hash, created_at, expires_at, scope) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"
    )
    .bind(name)
    .bind(role)
    .bind(token_hash)
    .bind(Utc::now())
    .bind(expires_at)
    .bind(scope)
    .fetch_one(c)
    .await
    .map_err(|e| match DomainError::from(e) {
        DomainError::Conflict(_) => DomainError::Conflict(format!("a token named {name} exists already")),
        other => other,
    })?
    }))
}

pub async fn get_token_by_hash(db: &Db, token_hash: &str) -> Result<Option<TokenRow>, DomainError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, TokenRow>(
        "SELECT id, name, role, revoked, created_at, last_used_at, expires_at, scope FROM api_tokens WHERE token_hash = $1"
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await?
    }))
}

pub async fn list_tokens(db: &Db) -> Result<Vec<TokenRow>, DomainError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, TokenRow>(
        "SELECT id, name, role, revoked, created_at, last_used_at, expires_at, scope FROM api_tokens ORDER BY name"
    )
    .fetch_all(pool)
    .await?
    }))
}

/// Gives the active token `name` a new value (the old one stops working at once); returns
/// the token's id, or `None` when there is no active token of that name.
pub async fn rotate_token(
    tx: &mut Tx,
    name: &str,
    token_hash: &str,
) -> Result<Option<i64>, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_scalar(
        "UPDATE api_tokens SET token_hash = $1, last_used_at = NULL WHERE name = $2 AND NOT revoked RETURNING id"
    )
    .bind(token_hash)
    .bind(name)
    .fetch_optional(c)
    .await?
    }))
}

pub async fn revoke_token(tx: &mut Tx, name: &str) -> Result<bool, DomainError> {
    let done = with_tx!(tx, |c| sqlx::query(
        "UPDATE api_tokens SET revoked = TRUE WHERE name = $1 AND NOT revoked"
    )
    .bind(name)
    .execute(c)
    .await?
    .rows_affected());
    Ok(done == 1)
}

/// Notes the use at most once a minute per token, so busy clients do not write every call.
pub async fn touch_token(db: &Db, id: i64) -> Result<(), DomainError> {
    // Tokens live on the wall clock (expiry, last use), never on a simulated one.
    let now = Utc::now();
    let stale = now - chrono::Duration::minutes(1);
    with_db!(db, |pool| {
        sqlx::query(
        "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)"
    )
    .bind(now)
    .bind(id)
    .bind(stale)
    .execute(pool)
    .await?
    .rows_affected()
    });
    Ok(())
}
