//! The OpenADR 3.1 VTN's subscriptions (grid side): who asked to be called back about which
//! objects and operations, with the callback's bearer token (read only to deliver).

use chrono::{DateTime, Utc};

use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub id: i64,
    pub subscription_id: String,
    /// The owner's OpenADR client id (the public one).
    pub client_id: String,
    pub ven_ref: Option<String>,
    pub client_name: String,
    pub program_id: Option<String>,
    /// The objectOperations as received (JSON text).
    pub object_operations: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "s.id, s.subscription_id, c.client_id, s.ven_ref, s.client_name, s.program_id,
    s.object_operations, s.created_at, s.updated_at";

/// What a subscription says, as stored.
#[derive(Debug, Clone)]
pub struct SubscriptionWrite<'a> {
    pub client_name: &'a str,
    pub program_id: Option<&'a str>,
    pub object_operations: &'a str,
}

pub async fn insert_subscription(
    tx: &mut Tx,
    subscription_id: &str,
    client: i64,
    ven_ref: Option<&str>,
    w: &SubscriptionWrite<'_>,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    with_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO openadr_subscriptions (subscription_id, client_id, ven_ref, client_name,
                program_id, object_operations, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(subscription_id)
        .bind(client)
        .bind(ven_ref)
        .bind(w.client_name)
        .bind(w.program_id)
        .bind(w.object_operations)
        .bind(now)
        .execute(c)
        .await?
        .rows_affected()
    });
    Ok(())
}

/// Replaces what the subscription `subscription_id` says; false when there is none.
pub async fn update_subscription(
    tx: &mut Tx,
    subscription_id: &str,
    w: &SubscriptionWrite<'_>,
    now: DateTime<Utc>,
) -> Result<bool, DomainError> {
    let n = with_tx!(tx, |c| {
        sqlx::query(
            "UPDATE openadr_subscriptions SET client_name = $1, program_id = $2,
                object_operations = $3, updated_at = $4 WHERE subscription_id = $5",
        )
        .bind(w.client_name)
        .bind(w.program_id)
        .bind(w.object_operations)
        .bind(now)
        .bind(subscription_id)
        .execute(c)
        .await?
        .rows_affected()
    });
    Ok(n == 1)
}

pub async fn delete_subscription(tx: &mut Tx, subscription_id: &str) -> Result<bool, DomainError> {
    let n = with_tx!(tx, |c| {
        sqlx::query("DELETE FROM openadr_subscriptions WHERE subscription_id = $1")
            .bind(subscription_id)
            .execute(c)
            .await?
            .rows_affected()
    });
    Ok(n == 1)
}

/// Subscriptions, oldest first; `ven` limits them to one VEN's, `only` to one id.
pub async fn subscriptions(
    db: &Db,
    ven: Option<&str>,
    only: Option<&str>,
    skip: i64,
    limit: i64,
) -> Result<Vec<SubscriptionRow>, DomainError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM openadr_subscriptions s JOIN openadr_clients c ON c.id = s.client_id
         WHERE ($1 IS NULL OR s.ven_ref = $1) AND ($2 IS NULL OR s.subscription_id = $2)
         ORDER BY s.id LIMIT $3 OFFSET $4"
    );
    Ok(with_db!(db, |p| {
        sqlx::query_as::<_, SubscriptionRow>(&sql)
            .bind(ven)
            .bind(only)
            .bind(limit)
            .bind(skip)
            .fetch_all(p)
            .await?
    }))
}

/// The subscriptions that may hear of an object of `program` (every one when `None`),
/// inside the transaction that changes it: those of every program or of this one, whose
/// owner is not revoked. Which objects and operations they cover is read by the caller.
pub async fn candidates(
    tx: &mut Tx,
    program: Option<&str>,
) -> Result<Vec<SubscriptionRow>, DomainError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM openadr_subscriptions s JOIN openadr_clients c ON c.id = s.client_id
         WHERE NOT c.revoked AND ($1 IS NULL OR s.program_id IS NULL OR s.program_id = $1)
         ORDER BY s.id"
    );
    Ok(with_tx!(tx, |c| {
        sqlx::query_as::<_, SubscriptionRow>(&sql)
            .bind(program)
            .fetch_all(c)
            .await?
    }))
}

/// The stored objectOperations of one subscription, for the delivery of its notification.
pub async fn object_operations(
    db: &Db,
    subscription_id: &str,
) -> Result<Option<String>, DomainError> {
    Ok(with_db!(db, |p| {
        sqlx::query_scalar::<_, String>(
            "SELECT object_operations FROM openadr_subscriptions WHERE subscription_id = $1",
        )
        .bind(subscription_id)
        .fetch_optional(p)
        .await?
    }))
}
