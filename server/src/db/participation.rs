//! Participation (program side): each stage as a "program event" with its status, the
//! devices reserved for it and what each did.

use chrono::{DateTime, Utc};

use crate::db::{insert_rows, Arg, Tx};
use crate::error::DomainError;
use crate::with_tx;

/// A program event as a stage status message sets it.
#[derive(Debug, Clone)]
pub struct ProgramEventFields<'a> {
    /// The stage's id for this program.
    pub external_id: &'a str,
    pub event_external_id: &'a str,
    pub program_code: &'a str,
    pub category: &'a str,
    pub status: &'a str,
    pub reason: Option<&'a str>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// Adds the program event or moves it on (an earlier reason is kept when none is given).
pub async fn upsert_program_event(
    tx: &mut Tx,
    e: &ProgramEventFields<'_>,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    with_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO program_events (external_id, event_external_id, program_code, category, status, reason, starts_at, ends_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (external_id) DO UPDATE SET status = excluded.status, reason = COALESCE(excluded.reason, program_events.reason),
            starts_at = excluded.starts_at, ends_at = excluded.ends_at, updated_at = excluded.updated_at"
    )
    .bind(e.external_id)
    .bind(e.event_external_id)
    .bind(e.program_code)
    .bind(e.category)
    .bind(e.status)
    .bind(e.reason)
    .bind(e.starts_at)
    .bind(e.ends_at)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected()
    });
    Ok(())
}

/// The status of the program event, if the program side has it.
pub async fn program_event_status(
    tx: &mut Tx,
    external_id: &str,
) -> Result<Option<String>, DomainError> {
    Ok(with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT status FROM program_events WHERE external_id = $1"
    )
    .bind(external_id)
    .fetch_optional(c)
    .await?))
}

/// Devices of the program event without an outcome get `D1CN`.
pub async fn cancel_open_devices(
    tx: &mut Tx,
    external_id: &str,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    with_tx!(tx, |c| {
        sqlx::query("UPDATE program_event_devices SET outcome = 'D1CN', updated_at = $1 WHERE external_id = $2 AND outcome IS NULL")
        .bind(now)
        .bind(external_id)
        .execute(c)
        .await?
        .rows_affected()
    });
    Ok(())
}

/// A device reserved for a program event.
#[derive(Debug, Clone)]
pub struct Reservation<'a> {
    pub head_end: &'a str,
    pub nic_id: &'a str,
    pub enrollment_id: Option<i64>,
    pub expected_kw: f64,
}

/// Replaces the program event's reservations that have no outcome yet. A device listed
/// twice is a `Conflict`.
pub async fn replace_reservations(
    tx: &mut Tx,
    external_id: &str,
    devices: &[Reservation<'_>],
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    with_tx!(tx, |c| sqlx::query(
        "DELETE FROM program_event_devices WHERE external_id = $1 AND outcome IS NULL"
    )
    .bind(external_id)
    .execute(c)
    .await?
    .rows_affected());
    let rows: Vec<Vec<Arg>> = devices
        .iter()
        .map(|d| {
            vec![
                Arg::Text(external_id.to_string()),
                Arg::Text(d.head_end.to_string()),
                Arg::Text(d.nic_id.to_string()),
                Arg::OptInt(d.enrollment_id),
                Arg::Float(d.expected_kw),
                Arg::Time(now),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "program_event_devices",
        &[
            "external_id",
            "head_end",
            "nic_id",
            "enrollment_id",
            "expected_kw",
            "updated_at",
        ],
        &rows,
    )
    .await
}

/// A device's outcome in a program event.
#[derive(Debug, Clone)]
pub struct OutcomeFields<'a> {
    pub head_end: &'a str,
    pub nic_id: &'a str,
    pub outcome: &'a str,
    pub participation_start: Option<DateTime<Utc>>,
    pub participation_end: Option<DateTime<Utc>>,
}

/// Records a device's outcome; returns 0 when the device was not reserved for the event.
pub async fn record_outcome(
    tx: &mut Tx,
    external_id: &str,
    o: &OutcomeFields<'_>,
    now: DateTime<Utc>,
) -> Result<u64, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query(
        "UPDATE program_event_devices SET outcome = $1, participation_start = $2, participation_end = $3, updated_at = $4
         WHERE external_id = $5 AND head_end = $6 AND nic_id = $7"
    )
    .bind(o.outcome)
    .bind(o.participation_start)
    .bind(o.participation_end)
    .bind(now)
    .bind(external_id)
    .bind(o.head_end)
    .bind(o.nic_id)
    .execute(c)
    .await?
    .rows_affected()
    }))
}

/// A device's reservation for a program event, with what opting out of it depends on.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OptOutRow {
    pub event_external_id: String,
    pub status: String,
    pub starts_at: DateTime<Utc>,
    pub head_end: String,
    pub nic_id: String,
    pub opted_out_at: Option<DateTime<Utc>>,
    pub opt_out_allowed: Option<bool>,
    pub opt_out_cutoff_minutes: Option<i32>,
}

/// The reservation of the device `device_id` for the program event `stage`.
pub async fn reservation_of_device(
    tx: &mut Tx,
    stage: &str,
    device_id: i64,
) -> Result<Option<OptOutRow>, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_as(
        "SELECT pe.event_external_id, pe.status, pe.starts_at, r.head_end, r.nic_id, r.opted_out_at,
                p.opt_out_allowed, p.opt_out_cutoff_minutes
         FROM program_event_devices r
         JOIN program_events pe ON pe.external_id = r.external_id
         JOIN devices d ON d.head_end = r.head_end AND d.nic_id = r.nic_id
         LEFT JOIN programs p ON p.code = pe.program_code
         WHERE r.external_id = $1 AND d.id = $2"
    )
    .bind(stage)
    .bind(device_id)
    .fetch_optional(c)
    .await?
    }))
}

pub async fn record_opt_out(
    tx: &mut Tx,
    stage: &str,
    head_end: &str,
    nic_id: &str,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    with_tx!(tx, |c| {
        sqlx::query(
        "UPDATE program_event_devices SET opted_out_at = $1, updated_at = $1 WHERE external_id = $2 AND head_end = $3 AND nic_id = $4"
    )
    .bind(now)
    .bind(stage)
    .bind(head_end)
    .bind(nic_id)
    .execute(c)
    .await?
    .rows_affected()
    });
    Ok(())
}
