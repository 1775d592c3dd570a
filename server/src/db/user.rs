//! Users of the console: stored with argon2 hashes, never with passwords.

use chrono::{DateTime, Utc};

use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub password_hash: String,
    pub disabled: bool,
    pub failed_logins: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const USER_COLUMNS: &str =
    "id, username, display_name, role, password_hash, disabled, failed_logins, locked_until, created_at";

pub async fn get_user_by_name(db: &Db, username: &str) -> Result<Option<UserRow>, DomainError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, UserRow>(&sql)
        .bind(username)
        .fetch_optional(pool)
        .await?))
}

pub async fn get_user(db: &Db, id: i64) -> Result<Option<UserRow>, DomainError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, UserRow>(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await?))
}

pub async fn list_users(db: &Db) -> Result<Vec<UserRow>, DomainError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, UserRow>(&sql)
        .fetch_all(pool)
        .await?))
}

pub async fn count_users(db: &Db) -> Result<i64, DomainError> {
    Ok(with_db!(db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM users"
    )
    .fetch_one(pool)
    .await?))
}

pub async fn insert_user(
    tx: &mut Tx,
    username: &str,
    display_name: &str,
    role: &str,
    password_hash: &str,
) -> Result<i64, DomainError> {
    // Users and their timestamps are access control, on the wall clock (not the utility's).
    let now = Utc::now();
    let id = with_tx!(tx, |c| {
        sqlx::query_scalar(
        "INSERT INTO users (username, display_name, role, password_hash, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id"
    )
    .bind(username)
    .bind(display_name)
    .bind(role)
    .bind(password_hash)
    .bind(now)
    .fetch_one(c)
    .await
    .map_err(|e| match DomainError::from(e) {
        DomainError::Conflict(_) =>
            DomainError::Conflict(format!("the username {username} is taken")),
        other => other,
    })?
    });
    Ok(id)
}

pub async fn set_disabled(tx: &mut Tx, id: i64, disabled: bool) -> Result<bool, DomainError> {
    let done = with_tx!(tx, |c| sqlx::query(
        "UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3"
    )
    .bind(disabled)
    .bind(Utc::now())
    .bind(id)
    .execute(c)
    .await?
    .rows_affected());
    Ok(done == 1)
}

pub async fn set_password_hash(tx: &mut Tx, id: i64, hash: &str) -> Result<bool, DomainError> {
    let done = with_tx!(tx, |c| {
        sqlx::query(
        "UPDATE users SET password_hash = $1, failed_logins = 0, locked_until = NULL, updated_at = $2 WHERE id = $3"
    )
    .bind(hash)
    .bind(Utc::now())
    .bind(id)
    .execute(c)
    .await?
    .rows_affected()
    });
    Ok(done == 1)
}

/// Records a failed sign-in; returns the new count of consecutive failures.
pub async fn record_failure(
    db: &Db,
    id: i64,
    locked_until: Option<DateTime<Utc>>,
) -> Result<(), DomainError> {
    with_db!(db, |pool| sqlx::query(
        "UPDATE users SET failed_logins = failed_logins + 1, locked_until = $1 WHERE id = $2"
    )
    .bind(locked_until)
    .bind(id)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(())
}

pub async fn record_success(db: &Db, id: i64) -> Result<(), DomainError> {
    with_db!(db, |pool| {
        sqlx::query(
        "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1 AND (failed_logins <> 0 OR locked_until IS NOT NULL)"
    )
    .bind(id)
    .execute(pool)
    .await?
    .rows_affected()
    });
    Ok(())
}
