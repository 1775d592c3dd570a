//! The grid side's registry of what the program side tells it: devices and their
//! registration (flow 2), connection status (3), unavailability windows (8), program rules
//! (9), aggregators (10), control scores (12) and opt-outs (7).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::db::dialect::list;
use crate::db::Tx;
use crate::error::DomainError;
use crate::integration::handlers::{decode, reject};
use crate::integration::inbound::HandlerError;
use crate::integration::wire::{self, Validate};
use crate::with_tx;

/// Devices per statement (well under SQLite's limit of bound parameters).
const CHUNK: usize = 500;

/// Flow 2, grid side: registers, unregisters or swaps devices in the grid's registry and
/// acknowledges each device's registration status.
pub(crate) async fn enrollment_sync(
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
    // Every device of the message in one statement, however many there are.
    let unenroll = sync.action == wire::SyncAction::Unenroll;
    let devices = &sync.device_list;
    let mut acks = Vec::with_capacity(devices.len());
    if devices.is_empty() {
        // Nothing to register or release.
    } else if unenroll {
        let sql = format!(
            "UPDATE grid_devices SET status = 'unregistered', updated_at = $1 WHERE (head_end, nic_id) IN ({})",
            tx.dialect().in_pairs(2)
        );
        for chunk in devices.chunks(CHUNK) {
            let keys: Vec<[&str; 2]> = chunk
                .iter()
                .map(|d| [d.head_end_system.as_str(), d.nic_id.as_str()])
                .collect();
            let keys = list(&keys)?;
            with_tx!(tx, |c| sqlx::query(&sql)
                .bind(now)
                .bind(&keys)
                .execute(c)
                .await
                .map_err(DomainError::from)?
                .rows_affected());
        }
        for d in devices {
            acks.push(json!({"headEndSystem": d.head_end_system, "nicId": d.nic_id, "registrationStatus": "NOT_REGISTERED", "reason": "unenrolled"}));
        }
    } else if let Some(t) = transformer {
        // The grid keeps its own record of where the service point is (for flow 11).
        crate::db::network::record_service_point(tx, &sync.service_point_id, t, now).await?;
        for chunk in devices.chunks(CHUNK) {
            // $1 enrollment, $2 program, $3 transformer, $4 time; then four per device.
            let rows = (0..chunk.len())
                .map(|i| {
                    let b = 5 + 4 * i;
                    format!(
                        "(${b}, ${}, $1, $2, ${}, ${}, $3, 'registered', $4, $4)",
                        b + 1,
                        b + 2,
                        b + 3
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO grid_devices (head_end, nic_id, enrollment_id, program_code, device_type, nominal_kw, transformer_id, status, registered_at, updated_at)
                 VALUES {rows}
                 ON CONFLICT (head_end, nic_id) DO UPDATE SET enrollment_id = excluded.enrollment_id, program_code = excluded.program_code,
                    device_type = excluded.device_type, nominal_kw = excluded.nominal_kw, transformer_id = excluded.transformer_id,
                    status = 'registered', updated_at = excluded.updated_at"
            );
            with_tx!(tx, |c| {
                let mut q = sqlx::query(&sql)
                    .bind(sync.enrollment_id)
                    .bind(&sync.program_code)
                    .bind(t)
                    .bind(now);
                for d in chunk {
                    q = q
                        .bind(&d.head_end_system)
                        .bind(&d.nic_id)
                        .bind(d.device_type.as_str())
                        .bind(d.nominal_kw);
                }
                q.execute(c)
                    .await
                    .map_err(DomainError::from)?
                    .rows_affected()
            });
        }
        for d in devices {
            acks.push(json!({"headEndSystem": d.head_end_system, "nicId": d.nic_id, "registrationStatus": "REGISTERED", "reason": null}));
        }
    } else {
        for d in devices {
            acks.push(json!({"headEndSystem": d.head_end_system, "nicId": d.nic_id, "registrationStatus": "NOT_REGISTERED",
                             "reason": format!("transformer `{}` is not in the grid's network model", sync.transformer_code)}));
        }
    }
    Ok(
        json!({"transactionId": sync.transaction_id, "enrollmentId": sync.enrollment_id, "deviceList": acks}),
    )
}

/// Flow 3, grid side: what the grid knows of each device's connection. Until the head-end
/// simulator reports telemetry, a registered device counts as online.
pub(crate) async fn device_status_check(
    tx: &mut Tx,
    payload: &Value,
) -> Result<Value, HandlerError> {
    let check: wire::DeviceStatusCheck = decode(payload)?;
    // What the grid knows of the listed devices, one query per chunk.
    let mut known: std::collections::HashMap<(String, String), (String, DateTime<Utc>)> =
        std::collections::HashMap::new();
    let sql = format!(
        "SELECT head_end, nic_id, status, updated_at FROM grid_devices WHERE (head_end, nic_id) IN ({})",
        tx.dialect().in_pairs(1)
    );
    for chunk in check.device_list.chunks(CHUNK) {
        let keys: Vec<[&str; 2]> = chunk
            .iter()
            .map(|d| [d.head_end_system.as_str(), d.nic_id.as_str()])
            .collect();
        let keys = list(&keys)?;
        let rows: Vec<(String, String, String, DateTime<Utc>)> =
            with_tx!(tx, |c| sqlx::query_as(&sql)
                .bind(&keys)
                .fetch_all(c)
                .await
                .map_err(DomainError::from)?);
        known.extend(rows.into_iter().map(|(h, n, s, at)| ((h, n), (s, at))));
    }
    let mut out = Vec::with_capacity(check.device_list.len());
    for d in &check.device_list {
        let row = known.get(&(d.head_end_system.clone(), d.nic_id.clone()));
        let (status, seen) = match row {
            Some((s, at)) if s == "registered" => ("ONLINE", Some(*at)),
            Some((_, at)) => ("OFFLINE", Some(*at)),
            None => ("UNKNOWN", None),
        };
        out.push(json!({"headEndSystem": d.head_end_system, "nicId": d.nic_id, "status": status, "lastSeen": seen}));
    }
    Ok(json!({"transactionId": check.transaction_id, "deviceList": out}))
}

/// Flow 8, grid side: a window in which a device must not be reserved (added, changed or
/// cancelled).
pub(crate) async fn customer_unavailability(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let u: wire::CustomerUnavailability = decode(payload)?;
    let done = match u.action {
        wire::UnavailabilityAction::Add | wire::UnavailabilityAction::Change => with_tx!(tx, |c| {
            sqlx::query(
            "INSERT INTO grid_unavailability (window_id, head_end, nic_id, starts_at, ends_at, reason, status, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'active', $7)
             ON CONFLICT (window_id) DO UPDATE SET head_end = excluded.head_end, nic_id = excluded.nic_id, starts_at = excluded.starts_at,
                ends_at = excluded.ends_at, reason = excluded.reason, status = 'active', updated_at = excluded.updated_at"
        )
        .bind(&u.window_id)
        .bind(&u.head_end_system)
        .bind(&u.nic_id)
        .bind(u.start_time)
        .bind(u.end_time)
        .bind(&u.reason)
        .bind(now)
        .execute(c)
        .await
        .map_err(DomainError::from)?
        .rows_affected()
        }),
        wire::UnavailabilityAction::Cancel => with_tx!(tx, |c| {
            sqlx::query(
            "UPDATE grid_unavailability SET status = 'cancelled', updated_at = $1 WHERE window_id = $2"
        )
        .bind(now)
        .bind(&u.window_id)
        .execute(c)
        .await
        .map_err(DomainError::from)?
        .rows_affected()
        }),
    };
    if done == 0 {
        return Err(reject(format!(
            "windowId: no window `{}` to cancel",
            u.window_id
        )));
    }
    Ok(json!({"transactionId": u.transaction_id, "windowId": u.window_id, "status": "ACCEPTED"}))
}

/// Flow 9, grid side: the rules the planner must respect, per program and effective date.
pub(crate) async fn program_rule_sync(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let sync: wire::ProgramRuleSync = decode(payload)?;
    let linked = sync.action != wire::RuleAction::Unlink;
    let rule = serde_json::to_string(&sync.rule).map_err(|e| HandlerError::Fault(e.into()))?;
    with_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO grid_program_rules (program_code, effective_from, rule_json, linked, updated_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (program_code, effective_from) DO UPDATE SET rule_json = excluded.rule_json, linked = excluded.linked,
            updated_at = excluded.updated_at"
    )
    .bind(&sync.program_code)
    .bind(sync.rule.effective_from)
    .bind(&rule)
    .bind(linked)
    .bind(now)
    .execute(c)
    .await
    .map_err(DomainError::from)?
    .rows_affected()
    });
    Ok(
        json!({"transactionId": sync.transaction_id, "programCode": sync.program_code, "status": "ACCEPTED"}),
    )
}

/// Flow 10, grid side: aggregators created or updated (deletions are not synchronized).
pub(crate) async fn aggregator_sync(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let a: wire::AggregatorSync = decode(payload)?;
    with_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO grid_aggregators (external_ref, name, status, start_date, end_date, contact_name, contact_email, program_codes, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (external_ref) DO UPDATE SET name = excluded.name, status = excluded.status, start_date = excluded.start_date,
            end_date = excluded.end_date, contact_name = excluded.contact_name, contact_email = excluded.contact_email,
            program_codes = excluded.program_codes, updated_at = excluded.updated_at"
    )
    .bind(&a.external_reference)
    .bind(&a.name)
    .bind(a.status.as_str())
    .bind(a.start_date)
    .bind(a.end_date)
    .bind(&a.contact_name)
    .bind(&a.contact_email)
    .bind(a.program_codes.join(","))
    .bind(now)
    .execute(c)
    .await
    .map_err(DomainError::from)?
    .rows_affected()
    });
    Ok(
        json!({"transactionId": a.transaction_id, "externalReference": a.external_reference, "status": "ACCEPTED"}),
    )
}

/// Flow 12, grid side: the daily control scores the planner ranks devices by. Devices the
/// grid does not know are reported back, not fatal.
pub(crate) async fn device_score(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let batch: wire::DeviceScoreBatch = decode(payload)?;
    let mut unknown = Vec::new();
    for s in &batch.scores {
        let n = with_tx!(tx, |c| {
            sqlx::query(
            "UPDATE grid_devices SET control_score = $1, scored_on = $2, updated_at = $3 WHERE head_end = $4 AND nic_id = $5"
        )
        .bind(s.control_score)
        .bind(batch.scored_on)
        .bind(now)
        .bind(&s.head_end_system)
        .bind(&s.nic_id)
        .execute(c)
        .await
        .map_err(DomainError::from)?
        .rows_affected()
        });
        if n == 0 {
            unknown.push(json!({"headEndSystem": s.head_end_system, "nicId": s.nic_id}));
        }
    }
    Ok(
        json!({"transactionId": batch.transaction_id, "accepted": batch.scores.len() - unknown.len(), "unknownDevices": unknown}),
    )
}

/// Flow 7, grid side: a customer cancelled a device's reservation for one event (the program
/// side enforces the cut-off before it sends this).
pub(crate) async fn customer_opt_out(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let o: wire::CustomerOptOut = decode(payload)?;
    with_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO grid_opt_outs (event_external_id, head_end, nic_id, requested_at, recorded_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (event_external_id, head_end, nic_id) DO NOTHING"
    )
    .bind(&o.event_external_identifier)
    .bind(&o.head_end_system)
    .bind(&o.nic_id)
    .bind(o.requested_at)
    .bind(now)
    .execute(c)
    .await
    .map_err(DomainError::from)?
    .rows_affected()
    });
    // The event's expected reduction is re-evaluated without the device.
    let removed = crate::grid::event::apply_opt_out(
        tx,
        &o.event_external_identifier,
        &o.head_end_system,
        &o.nic_id,
    )
    .await?;
    Ok(
        json!({"transactionId": o.transaction_id, "status": "ACCEPTED", "expectedKwRemoved": removed}),
    )
}
