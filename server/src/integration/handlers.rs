//! What each side does with a received message. Program side: enrollment requests (flow 1).
//! Grid side: enrollment sync (flow 2), registering devices under their transformers.
//! Flows whose handlers are not written yet are refused with a clear business error.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::db::audit::{append, NewAuditEntry};
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

/// Programs and transformers looked up once per batch.
#[derive(Default)]
struct Lookups {
    programs: HashMap<String, (i64, String)>,
    transformers: HashMap<String, Option<(i64, i64, i64)>>,
}

async fn transformer_path(
    tx: &mut Tx,
    cache: &mut Lookups,
    code: &str,
) -> Result<Option<(i64, i64, i64)>, DomainError> {
    if let Some(hit) = cache.transformers.get(code) {
        return Ok(*hit);
    }
    let found: Option<(i64, i64, i64)> = with_tx!(tx, |c| sqlx::query_as(
        "SELECT t.id, f.parent_id AS feeder, s.parent_id AS substation
         FROM network_nodes t
         JOIN network_edges f ON f.child_id = t.id AND f.valid_to IS NULL
         JOIN network_edges s ON s.child_id = f.parent_id AND s.valid_to IS NULL
         WHERE t.code = $1 AND t.kind = 'transformer'"
    )
    .bind(code)
    .fetch_optional(c)
    .await?);
    cache.transformers.insert(code.to_string(), found);
    Ok(found)
}

/// Flow 1, program side: one PENDING enrollment per valid record; a bad record fails alone
/// (its writes are undone by a savepoint); a record whose devices are already enrolled in
/// the program is reported as existing, not as an error.
async fn enrollment_request(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let (transaction_id, records) = wire::parse_enrollment_batch_value(payload, MAX_BATCH)
        .map_err(|e| reject(e.to_string()))?;
    let mut lookups = Lookups::default();
    let programs: Vec<(i64, String, String)> = with_tx!(tx, |c| sqlx::query_as(
        "SELECT id, code, status FROM programs"
    )
    .fetch_all(c)
    .await
    .map_err(DomainError::from)?);
    for (id, code, status) in programs {
        lookups.programs.insert(code, (id, status));
    }
    let mut results = Vec::with_capacity(records.len());
    let (mut created, mut existing, mut rejected) = (0, 0, 0);
    for record in records {
        let result = match record {
            Err(e) => {
                rejected += 1;
                json!({"recordId": e.record_id, "status": "REJECTED", "enrollmentId": null,
                       "errors": [{"field": e.field, "message": e.message}]})
            }
            Ok(r) => {
                tx.savepoint("record").await?;
                match enroll_record(tx, &mut lookups, &r, &transaction_id, now).await {
                    Ok((id, true)) => {
                        tx.release("record").await?;
                        created += 1;
                        json!({"recordId": r.record_id, "status": "CREATED", "enrollmentId": id, "errors": []})
                    }
                    Ok((id, false)) => {
                        tx.release("record").await?;
                        existing += 1;
                        json!({"recordId": r.record_id, "status": "ALREADY_EXISTS", "enrollmentId": id, "errors": []})
                    }
                    Err(HandlerError::Rejected(rej)) => {
                        tx.rollback_to("record").await?;
                        rejected += 1;
                        let (field, message) = rej
                            .detail
                            .split_once(": ")
                            .map(|(f, m)| (f.to_string(), m.to_string()))
                            .unwrap_or_default();
                        let (field, message) = if message.is_empty() {
                            ("record".to_string(), rej.detail.clone())
                        } else {
                            (field, message)
                        };
                        json!({"recordId": r.record_id, "status": "REJECTED", "enrollmentId": null,
                               "errors": [{"field": field, "message": message}]})
                    }
                    Err(fault) => return Err(fault),
                }
            }
        };
        results.push(result);
    }
    tracing::info!(transaction = %transaction_id, created, existing, rejected, "enrollment request processed");
    Ok(json!({"transactionId": transaction_id, "results": results}))
}

/// Returns (enrollment id, created?).
async fn enroll_record(
    tx: &mut Tx,
    lookups: &mut Lookups,
    r: &wire::CheckedEnrollmentRecord,
    transaction_id: &str,
    now: DateTime<Utc>,
) -> Result<(i64, bool), HandlerError> {
    let (program_id, status) = lookups
        .programs
        .get(&r.program_code)
        .cloned()
        .ok_or_else(|| {
            reject(format!(
                "programInfo.programCode: unknown program `{}`",
                r.program_code
            ))
        })?;
    if status != "active" {
        return Err(reject(format!(
            "programInfo.programCode: program `{}` is {status} and takes no enrollments",
            r.program_code
        )));
    }
    let (transformer, feeder, substation) =
        transformer_path(tx, lookups, &r.location.transformer_code)
            .await?
            .ok_or_else(|| {
                reject(format!(
                    "locationInfo.transformerCode: unknown transformer `{}`",
                    r.location.transformer_code
                ))
            })?;

    // Already enrolled? Every asset in an open (PENDING or ACTIVE) enrollment of this program.
    let mut open_enrollment = None;
    let mut known_devices = Vec::with_capacity(r.assets.len());
    for a in &r.assets {
        let row: Option<(i64, i64)> = with_tx!(tx, |c| sqlx::query_as(
            "SELECT id, location_id FROM devices WHERE head_end = $1 AND nic_id = $2"
        )
        .bind(&a.head_end_system)
        .bind(&a.nic_id)
        .fetch_optional(c)
        .await
        .map_err(DomainError::from)?);
        if let Some((device_id, _)) = row {
            let e: Option<i64> = with_tx!(tx, |c| {
                sqlx::query_scalar(
                "SELECT e.id FROM enrollment_devices ed JOIN enrollments e ON e.id = ed.enrollment_id
                 WHERE ed.device_id = $1 AND ed.left_at IS NULL AND e.program_id = $2 AND e.status IN ('PENDING', 'ACTIVE')"
            )
            .bind(device_id)
            .bind(program_id)
            .fetch_optional(c)
            .await
            .map_err(DomainError::from)?
            });
            open_enrollment = open_enrollment.or(e);
            known_devices.push((a, Some(device_id), e));
        } else {
            known_devices.push((a, None, None));
        }
    }
    if let Some(id) = open_enrollment {
        if known_devices.iter().all(|(_, _, e)| *e == Some(id)) {
            return Ok((id, false));
        }
        return Err(reject(format!(
            "assetInfo.assetList: some devices are already enrolled in `{}` (enrollment {id}) and others are not",
            r.program_code
        )));
    }

    // Customer (by person id) and location (by service point), created when new.
    let customer: Option<(i64, String)> = with_tx!(tx, |c| sqlx::query_as(
        "SELECT id, account_id FROM customers WHERE person_id = $1"
    )
    .bind(&r.customer.person_id)
    .fetch_optional(c)
    .await
    .map_err(DomainError::from)?);
    let customer_id = match customer {
        Some((id, account)) if account == r.customer.account_id => id,
        Some(_) => {
            return Err(reject(
                "customerInfo.accountId: this person is known under another account",
            ))
        }
        None => with_tx!(tx, |c| {
            sqlx::query_scalar(
            "INSERT INTO customers (person_id, account_id, name, name_key, phone, email, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
        )
        .bind(&r.customer.person_id)
        .bind(&r.customer.account_id)
        .bind(&r.customer.name)
        .bind(r.customer.name.to_lowercase())
        .bind(r.customer.phone.clone().unwrap_or_default())
        .bind(r.customer.email.clone().unwrap_or_default())
        .bind(now)
        .fetch_one(c)
        .await
        .map_err(|e| match DomainError::from(e) {
            DomainError::Conflict(_) => DomainError::invalid("customerInfo.accountId: the account belongs to another person"),
            other => other,
        })?
        }),
    };
    let location: Option<i64> = with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT id FROM device_locations WHERE service_point_id = $1"
    )
    .bind(&r.location.service_point_id)
    .fetch_optional(c)
    .await
    .map_err(DomainError::from)?);
    let location_id = match location {
        Some(id) => id,
        None => with_tx!(tx, |c| {
            sqlx::query_scalar(
            "INSERT INTO device_locations (service_point_id, premise_id, street, city, postal_code, time_zone, transformer_id, feeder_id, substation_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id"
        )
        .bind(&r.location.service_point_id)
        .bind(&r.location.premise_id)
        .bind(&r.location.street)
        .bind(&r.location.city)
        .bind(&r.location.postal_code)
        .bind(&r.location.time_zone)
        .bind(transformer)
        .bind(feeder)
        .bind(substation)
        .bind(now)
        .fetch_one(c)
        .await
        .map_err(DomainError::from)?
        }),
    };

    let enrollment_id: i64 = with_tx!(tx, |c| {
        sqlx::query_scalar(
        "INSERT INTO enrollments (customer_id, program_id, location_id, feeder_id, substation_id, source, ownership, status, start_date, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'PENDING', $8, $9, $9) RETURNING id"
    )
    .bind(customer_id)
    .bind(program_id)
    .bind(location_id)
    .bind(feeder)
    .bind(substation)
    .bind(r.source.as_str())
    .bind(r.ownership.as_str())
    .bind(r.start_date)
    .bind(now)
    .fetch_one(c)
    .await
    .map_err(DomainError::from)?
    });
    for (a, known, _) in known_devices {
        let device_id = match known {
            Some(id) => id,
            None => with_tx!(tx, |c| {
                sqlx::query_scalar(
                "INSERT INTO devices (head_end, nic_id, device_type, specification, serial_number, badge, status, registered,
                    nominal_kw, control_score, location_id, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 'active', FALSE, $7, 1.0, $8, $9, $9) RETURNING id"
            )
            .bind(&a.head_end_system)
            .bind(&a.nic_id)
            .bind(a.device_type.as_str())
            .bind(&a.specification)
            .bind(a.serial_number.clone().unwrap_or_default())
            .bind(a.badge.clone().unwrap_or_default())
            .bind(a.nominal_kw)
            .bind(location_id)
            .bind(now)
            .fetch_one(c)
            .await
            .map_err(DomainError::from)?
            }),
        };
        with_tx!(tx, |c| {
            sqlx::query("INSERT INTO enrollment_devices (enrollment_id, device_id, joined_at) VALUES ($1, $2, $3)")
            .bind(enrollment_id)
            .bind(device_id)
            .bind(now)
            .execute(c)
            .await
            .map_err(DomainError::from)?
            .rows_affected()
        });
    }
    with_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO enrollment_status_history (enrollment_id, from_status, to_status, changed_at, actor, reason)
         VALUES ($1, NULL, 'PENDING', $2, 'integration', $3)"
    )
    .bind(enrollment_id)
    .bind(now)
    .bind(format!("enrollment request {transaction_id}, record {}", r.record_id))
    .execute(c)
    .await
    .map_err(DomainError::from)?
    .rows_affected()
    });
    append(
        tx,
        NewAuditEntry::new("integration", "enrollment.create", "enrollment", enrollment_id)
            .after(json!({"status": "PENDING", "program": r.program_code, "transactionId": transaction_id, "recordId": r.record_id})),
    )
    .await?;
    Ok((enrollment_id, true))
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
