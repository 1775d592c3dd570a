//! Enrollments received in the published program-side shape: what that shape adds to an
//! enrollment (`published_enrollments`), and the document the read-back returns.

use chrono::{DateTime, Utc};

use crate::db::{insert_rows, Arg, Db, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

/// What the published shape adds to one enrollment, in stored form.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PublishedEnrollmentRow {
    pub enrollment_id: i64,
    pub transaction_id: String,
    pub location_ref: Option<String>,
    pub division: Option<String>,
    pub county: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub premise_id: String,
    pub service_agreement_id: Option<String>,
    pub installation_method: Option<String>,
    pub business_phone: Option<String>,
    /// JSON list of `{sequence, assetId, headEndSystem, nicId}`.
    pub assets: String,
    /// The published document as checked (JSON).
    pub document: String,
}

const COLUMNS: [&str; 14] = [
    "enrollment_id",
    "transaction_id",
    "location_ref",
    "division",
    "county",
    "state",
    "country",
    "premise_id",
    "service_agreement_id",
    "installation_method",
    "business_phone",
    "assets",
    "document",
    "created_at",
];

/// Stores the published fields of enrollments being created, in the caller's transaction.
pub async fn insert_published_enrollments(
    tx: &mut Tx,
    rows: &[PublishedEnrollmentRow],
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let rows: Vec<Vec<Arg>> = rows
        .iter()
        .map(|r| {
            vec![
                Arg::Int(r.enrollment_id),
                Arg::Text(r.transaction_id.clone()),
                Arg::OptText(r.location_ref.clone()),
                Arg::OptText(r.division.clone()),
                Arg::OptText(r.county.clone()),
                Arg::OptText(r.state.clone()),
                Arg::OptText(r.country.clone()),
                Arg::Text(r.premise_id.clone()),
                Arg::OptText(r.service_agreement_id.clone()),
                Arg::OptText(r.installation_method.clone()),
                Arg::OptText(r.business_phone.clone()),
                Arg::Text(r.assets.clone()),
                Arg::Text(r.document.clone()),
                Arg::Time(now),
            ]
        })
        .collect();
    insert_rows(tx, "published_enrollments", &COLUMNS, &rows).await
}

/// The published fields of one enrollment; `None` when it was not received in that shape.
pub async fn get_published_enrollment(
    db: &Db,
    enrollment_id: i64,
) -> Result<Option<PublishedEnrollmentRow>, DomainError> {
    Ok(with_db!(db, |p| {
        sqlx::query_as(
        "SELECT enrollment_id, transaction_id, location_ref, division, county, state, country,
                premise_id, service_agreement_id, installation_method, business_phone, assets, document
         FROM published_enrollments WHERE enrollment_id = $1"
    )
    .bind(enrollment_id)
    .fetch_optional(p)
    .await?
    }))
}

/// The division of an enrollment received in the published shape, if it named one.
pub async fn division_of(tx: &mut Tx, enrollment_id: i64) -> Result<Option<String>, DomainError> {
    let division: Option<Option<String>> = with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT division FROM published_enrollments WHERE enrollment_id = $1"
    )
    .bind(enrollment_id)
    .fetch_optional(c)
    .await?);
    Ok(division.flatten())
}

/// A program event (stage) the program side holds, as the published flows look it up.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PublishedStageRow {
    pub external_id: String,
    pub event_external_id: String,
    pub program_code: String,
    pub category: String,
    pub status: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// The program events of an event (by the event's external id), or the one program event
/// of that id, in time order.
pub async fn stages_of_event(
    db: &Db,
    event_or_stage: &str,
) -> Result<Vec<PublishedStageRow>, DomainError> {
    Ok(with_db!(db, |p| {
        sqlx::query_as(
            "SELECT external_id, event_external_id, program_code, category, status, starts_at, ends_at
             FROM program_events WHERE event_external_id = $1 OR external_id = $1
             ORDER BY starts_at, external_id",
        )
        .bind(event_or_stage)
        .fetch_all(p)
        .await?
    }))
}

/// The devices reserved for the program events of an event: `(program event, head-end, NIC)`.
pub async fn reserved_devices_of_event(
    db: &Db,
    event_external_id: &str,
) -> Result<Vec<(String, String, String)>, DomainError> {
    Ok(with_db!(db, |p| {
        sqlx::query_as(
            "SELECT d.external_id, d.head_end, d.nic_id
             FROM program_event_devices d JOIN program_events e ON e.external_id = d.external_id
             WHERE e.event_external_id = $1 OR e.external_id = $1
             ORDER BY e.starts_at, d.external_id, d.head_end, d.nic_id",
        )
        .bind(event_external_id)
        .fetch_all(p)
        .await?
    }))
}
