//! Aggregators (program side): the stored aggregators and the programs each offers.

use chrono::{DateTime, NaiveDate, Utc};

use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AggregatorRow {
    pub id: i64,
    pub name: String,
    pub status: String,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub contact_name: String,
    pub contact_email: String,
    pub external_ref: String,
}

/// An aggregator's settings as stored.
#[derive(Debug, Clone)]
pub struct AggregatorFields<'a> {
    pub name: &'a str,
    pub status: &'a str,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub contact_name: &'a str,
    pub contact_email: &'a str,
    pub external_ref: &'a str,
}

/// Every aggregator, by name.
pub async fn list_aggregators(db: &Db) -> Result<Vec<AggregatorRow>, DomainError> {
    Ok(with_db!(db, |p| {
        sqlx::query_as(
        "SELECT id, name, status, start_date, end_date, contact_name, contact_email, external_ref FROM aggregators ORDER BY name"
    )
    .fetch_all(p)
    .await?
    }))
}

/// (aggregator, program code) of every link, by program code.
pub async fn program_links(db: &Db) -> Result<Vec<(i64, String)>, DomainError> {
    Ok(with_db!(db, |p| {
        sqlx::query_as(
        "SELECT ap.aggregator_id, p.code FROM aggregator_programs ap JOIN programs p ON p.id = ap.program_id ORDER BY p.code"
    )
    .fetch_all(p)
    .await?
    }))
}

/// (id, code) of every program.
pub async fn program_codes(tx: &mut Tx) -> Result<Vec<(i64, String)>, DomainError> {
    Ok(with_tx!(tx, |c| sqlx::query_as(
        "SELECT id, code FROM programs"
    )
    .fetch_all(c)
    .await?))
}

/// A new aggregator; returns its id. A taken name or reference is a `Conflict`.
pub async fn insert_aggregator(
    tx: &mut Tx,
    a: &AggregatorFields<'_>,
    now: DateTime<Utc>,
) -> Result<i64, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_scalar(
        "INSERT INTO aggregators (name, status, start_date, end_date, contact_name, contact_email, external_ref, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id"
    )
    .bind(a.name)
    .bind(a.status)
    .bind(a.start_date)
    .bind(a.end_date)
    .bind(a.contact_name)
    .bind(a.contact_email)
    .bind(a.external_ref)
    .bind(now)
    .fetch_one(c)
    .await?
    }))
}

/// (name, status, external reference) of the aggregator.
pub async fn aggregator_key(
    tx: &mut Tx,
    id: i64,
) -> Result<Option<(String, String, String)>, DomainError> {
    Ok(with_tx!(tx, |c| sqlx::query_as(
        "SELECT name, status, external_ref FROM aggregators WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await?))
}

/// Changes the aggregator's settings (not its external reference). A taken name is a
/// `Conflict`.
pub async fn update_aggregator(
    tx: &mut Tx,
    id: i64,
    a: &AggregatorFields<'_>,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    with_tx!(tx, |c| {
        sqlx::query(
        "UPDATE aggregators SET name = $1, status = $2, start_date = $3, end_date = $4, contact_name = $5, contact_email = $6,
            updated_at = $7 WHERE id = $8"
    )
    .bind(a.name)
    .bind(a.status)
    .bind(a.start_date)
    .bind(a.end_date)
    .bind(a.contact_name)
    .bind(a.contact_email)
    .bind(now)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected()
    });
    Ok(())
}

/// Replaces the programs the aggregator offers.
pub async fn set_programs(
    tx: &mut Tx,
    aggregator_id: i64,
    program_ids: &[i64],
) -> Result<(), DomainError> {
    with_tx!(tx, |c| sqlx::query(
        "DELETE FROM aggregator_programs WHERE aggregator_id = $1"
    )
    .bind(aggregator_id)
    .execute(c)
    .await?
    .rows_affected());
    for program in program_ids {
        with_tx!(tx, |c| sqlx::query(
            "INSERT INTO aggregator_programs (aggregator_id, program_id) VALUES ($1, $2)"
        )
        .bind(aggregator_id)
        .bind(program)
        .execute(c)
        .await?
        .rows_affected());
    }
    Ok(())
}
