//! What each side does with a received message. Program side: enrollment requests (flow 1).
//! Grid side: enrollment sync (flow 2), registering devices under their transformers.
//! Flows whose handlers are not written yet are refused with a clear business error.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::db::Tx;
use crate::error::DomainError;
use crate::integration::inbound::{HandlerError, Rejection};
use crate::integration::wire::{self, Flow, Validate};
use crate::with_tx;

/// The largest enrollment-request batch accepted in one message.
pub const MAX_BATCH: usize = 50_000;

pub async fn handle(
    tx: &mut Tx,
    flow: Flow,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    match flow {
        Flow::EnrollmentRequest => enrollment_request(tx, payload, now).await,
        Flow::EnrollmentSync => enrollment_sync(tx, payload, now).await,
        other => Err(HandlerError::Rejected(Rejection::new(format!(
            "flow `{}` is not handled by this version of GridFlex yet",
            other.as_str()
        )))),
    }
}

fn reject(msg: impl Into<String>) -> HandlerError {
    HandlerError::Rejected(Rejection::new(msg))
}

/// Flow 1, program side: one PENDING enrollment per valid record; a bad record fails alone;
/// a record whose devices are already enrolled in the program is reported as existing.
async fn enrollment_request(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let (transaction_id, records) = wire::parse_enrollment_batch_value(payload, MAX_BATCH)
        .map_err(|e| reject(e.to_string()))?;
    let results =
        crate::programs::enrollment_request::ingest(tx, &transaction_id, records, now).await?;
    let count = |s: &str| results.iter().filter(|r| r["status"] == s).count();
    tracing::info!(transaction = %transaction_id, created = count("CREATED"), existing = count("ALREADY_EXISTS"), rejected = count("REJECTED"), "enrollment request processed");
    Ok(json!({"transactionId": transaction_id, "results": results}))
}

/// Flow 2, grid side: registers, unregisters or swaps devices in the grid's registry and
/// acknowledges each device's registration status.
async fn enrollment_sync(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let sync: wire::EnrollmentSync = serde_json::from_value(payload.clone())
        .map_err(|e| reject(format!("the enrollment sync could not be read: {e}")))?;
    sync.validate()
        .map_err(|e| reject(format!("{}: {}", e.field, e.message)))?;
    let transformer: Option<i64> = with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT id FROM network_nodes WHERE code = $1 AND kind = 'transformer'"
    )
    .bind(&sync.transformer_code)
    .fetch_optional(c)
    .await
    .map_err(DomainError::from)?);
    if let Some(old) = &sync.replaced_device {
        with_tx!(tx, |c| {
            sqlx::query("UPDATE grid_devices SET status = 'unregistered', updated_at = $1 WHERE head_end = $2 AND nic_id = $3")
            .bind(now)
            .bind(&old.head_end_system)
            .bind(&old.nic_id)
            .execute(c)
            .await
            .map_err(DomainError::from)?
            .rows_affected()
        });
    }
    let unenroll = sync.action == wire::SyncAction::Unenroll;
    let mut acks = Vec::with_capacity(sync.device_list.len());
    for d in &sync.device_list {
        if unenroll {
            with_tx!(tx, |c| {
                sqlx::query("UPDATE grid_devices SET status = 'unregistered', updated_at = $1 WHERE head_end = $2 AND nic_id = $3")
                .bind(now)
                .bind(&d.head_end_system)
                .bind(&d.nic_id)
                .execute(c)
                .await
                .map_err(DomainError::from)?
                .rows_affected()
            });
            acks.push(json!({"headEndSystem": d.head_end_system, "nicId": d.nic_id, "registrationStatus": "NOT_REGISTERED", "reason": "unenrolled"}));
            continue;
        }
        match transformer {
            Some(t) => {
                with_tx!(tx, |c| sqlx::query(
                    "INSERT INTO grid_devices (head_end, nic_id, enrollment_id, program_code, device_type, nominal_kw, transformer_id, status, registered_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'registered', $8, $8)
                     ON CONFLICT (head_end, nic_id) DO UPDATE SET enrollment_id = excluded.enrollment_id, program_code = excluded.program_code,
                        device_type = excluded.device_type, nominal_kw = excluded.nominal_kw, transformer_id = excluded.transformer_id,
                        status = 'registered', updated_at = excluded.updated_at"
                )
                .bind(&d.head_end_system)
                .bind(&d.nic_id)
                .bind(sync.enrollment_id)
                .bind(&sync.program_code)
                .bind(d.device_type.as_str())
                .bind(d.nominal_kw)
                .bind(t)
                .bind(now)
                .execute(c)
                .await
                .map_err(DomainError::from)?
                .rows_affected());
                acks.push(json!({"headEndSystem": d.head_end_system, "nicId": d.nic_id, "registrationStatus": "REGISTERED", "reason": null}));
            }
            None => acks.push(json!({"headEndSystem": d.head_end_system, "nicId": d.nic_id, "registrationStatus": "NOT_REGISTERED",
                                     "reason": format!("transformer `{}` is not in the grid's network model", sync.transformer_code)})),
        }
    }
    Ok(
        json!({"transactionId": sync.transaction_id, "enrollmentId": sync.enrollment_id, "deviceList": acks}),
    )
}
