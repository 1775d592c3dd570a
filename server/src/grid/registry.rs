//! The grid side's registry of what the program side tells it: devices and their
//! registration (flow 2), connection status (3), unavailability windows (8), program rules
//! (9), aggregators (10), control scores (12) and opt-outs (7).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::db::registry::{
    self as store, AggregatorFields, RegisteredDevice, UnavailabilityWindow,
};
use crate::db::Tx;
use crate::integration::handlers::{decode, reject};
use crate::integration::inbound::HandlerError;
use crate::integration::wire::{self, Validate};

/// One device's registration status as flow 2 acknowledges it: registered, or not and why.
fn registration(d: &wire::SyncDevice, outcome: Result<(), String>) -> Value {
    match outcome {
        Ok(()) => {
            json!({"headEndSystem": d.head_end_system, "nicId": d.nic_id, "registrationStatus": "REGISTERED", "reason": null})
        }
        Err(reason) => {
            json!({"headEndSystem": d.head_end_system, "nicId": d.nic_id, "registrationStatus": "NOT_REGISTERED", "reason": reason})
        }
    }
}

fn unknown_transformer(sync: &wire::EnrollmentSync) -> String {
    format!(
        "transformer `{}` is not in the grid's network model",
        sync.transformer_code
    )
}

/// Flow 2, grid side: registers, unregisters or swaps devices in the grid's registry and
/// acknowledges each device's registration status.
pub(crate) async fn enrollment_sync(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let sync = wire::EnrollmentSync::deserialize(payload)
        .map_err(|e| reject(format!("the enrollment sync could not be read: {e}")))?;
    sync.validate()
        .map_err(|e| reject(format!("{}: {}", e.field, e.message)))?;
    let transformer = store::transformer_id(tx, &sync.transformer_code).await?;
    if let Some(old) = &sync.replaced_device {
        store::unregister_device(tx, &old.head_end_system, &old.nic_id, now).await?;
    }
    // Every device of the message in one statement, however many there are.
    let unenroll = sync.action == wire::SyncAction::Unenroll;
    let devices = &sync.device_list;
    let mut acks = Vec::with_capacity(devices.len());
    if devices.is_empty() {
        // Nothing to register or release.
    } else if unenroll {
        let keys: Vec<[&str; 2]> = devices
            .iter()
            .map(|d| [d.head_end_system.as_str(), d.nic_id.as_str()])
            .collect();
        store::unregister_devices(tx, &keys, now).await?;
        for d in devices {
            acks.push(registration(d, Err("unenrolled".into())));
        }
    } else if let Some(t) = transformer {
        // The grid keeps its own record of where the service point is (for flow 11).
        crate::db::network::record_service_point(tx, &sync.service_point_id, t, now).await?;
        let rows: Vec<RegisteredDevice> = devices
            .iter()
            .map(|d| RegisteredDevice {
                head_end: &d.head_end_system,
                nic_id: &d.nic_id,
                device_type: d.device_type.as_str(),
                nominal_kw: d.nominal_kw,
                aggregator_ref: d.aggregator_ref.as_deref(),
            })
            .collect();
        let moved =
            store::register_devices(tx, sync.enrollment_id, &sync.program_code, t, &rows, now)
                .await?;
        // Devices now with another aggregator: their published OpenADR events change hands.
        crate::openadr::notify::devices_moved(tx, &moved, now).await?;
        for d in devices {
            acks.push(registration(d, Ok(())));
        }
    } else {
        for d in devices {
            acks.push(registration(d, Err(unknown_transformer(&sync))));
        }
    }
    Ok(
        json!({"transactionId": sync.transaction_id, "enrollmentId": sync.enrollment_id, "deviceList": acks}),
    )
}

/// Flow 2, grid side, for many messages at once (the delivery worker's batch): what
/// [`enrollment_sync`] does message by message, in a statement per kind of change — service
/// points, devices, and one recount of every transformer touched. Enrollments only; a batch
/// with an unenrollment or a device replacement is left to the one-by-one handler.
pub(crate) async fn enrollment_sync_all(
    tx: &mut Tx,
    payloads: &[Value],
    now: DateTime<Utc>,
) -> Result<Option<Vec<Value>>, HandlerError> {
    let mut syncs = Vec::with_capacity(payloads.len());
    for payload in payloads {
        let sync = wire::EnrollmentSync::deserialize(payload)
            .map_err(|e| reject(format!("the enrollment sync could not be read: {e}")))?;
        sync.validate()
            .map_err(|e| reject(format!("{}: {}", e.field, e.message)))?;
        if sync.action != wire::SyncAction::Enroll || sync.replaced_device.is_some() {
            return Ok(None);
        }
        syncs.push(sync);
    }
    let codes: Vec<&str> = syncs.iter().map(|s| s.transformer_code.as_str()).collect();
    let transformers = store::transformer_ids(tx, &codes).await?;
    let mut points = Vec::new();
    let mut registrations = Vec::new();
    let mut acks = Vec::with_capacity(syncs.len());
    for sync in &syncs {
        let transformer = transformers.get(&sync.transformer_code).copied();
        let mut devices = Vec::with_capacity(sync.device_list.len());
        for d in &sync.device_list {
            devices.push(match transformer {
                Some(_) => registration(d, Ok(())),
                None => registration(d, Err(unknown_transformer(sync))),
            });
        }
        acks.push(json!({"transactionId": sync.transaction_id, "enrollmentId": sync.enrollment_id, "deviceList": devices}));
        let Some(t) = transformer else { continue };
        points.push((sync.service_point_id.as_str(), t));
        registrations.extend(sync.device_list.iter().map(|d| store::Registration {
            enrollment_id: sync.enrollment_id,
            program_code: &sync.program_code,
            transformer_id: t,
            device: RegisteredDevice {
                head_end: &d.head_end_system,
                nic_id: &d.nic_id,
                device_type: d.device_type.as_str(),
                nominal_kw: d.nominal_kw,
                aggregator_ref: d.aggregator_ref.as_deref(),
            },
        }));
    }
    let mut touched = std::collections::BTreeSet::new();
    touched.extend(crate::db::network::record_service_points(tx, &points, now).await?);
    let (registered, moved) = store::register_devices_of_many(tx, &registrations, now).await?;
    touched.extend(registered);
    store::recount(tx, touched).await?;
    // Devices now with another aggregator: their published OpenADR events change hands.
    crate::openadr::notify::devices_moved(tx, &moved, now).await?;
    Ok(Some(acks))
}

/// Flow 3, grid side: what the grid knows of each device's connection. Until the head-end
/// simulator reports telemetry, a registered device counts as online.
pub(crate) async fn device_status_check(
    tx: &mut Tx,
    payload: &Value,
) -> Result<Value, HandlerError> {
    let check: wire::DeviceStatusCheck = decode(payload)?;
    // What the grid knows of the listed devices, one query per chunk.
    let keys: Vec<[&str; 2]> = check
        .device_list
        .iter()
        .map(|d| [d.head_end_system.as_str(), d.nic_id.as_str()])
        .collect();
    let known: std::collections::HashMap<(String, String), (String, DateTime<Utc>)> =
        store::device_states(tx, &keys)
            .await?
            .into_iter()
            .map(|(h, n, s, at)| ((h, n), (s, at)))
            .collect();
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
        wire::UnavailabilityAction::Add | wire::UnavailabilityAction::Change => {
            let w = UnavailabilityWindow {
                window_id: &u.window_id,
                head_end: &u.head_end_system,
                nic_id: &u.nic_id,
                starts_at: u.start_time,
                ends_at: u.end_time,
                reason: &u.reason,
            };
            store::upsert_unavailability(tx, &w, now).await?
        }
        wire::UnavailabilityAction::Cancel => {
            store::cancel_unavailability(tx, &u.window_id, now).await?
        }
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
    let was_published = crate::db::openadr::program_in(tx, &sync.program_code, true)
        .await?
        .is_some();
    store::upsert_program_rule(
        tx,
        &sync.program_code,
        sync.rule.effective_from,
        &rule,
        linked,
        now,
    )
    .await?;
    // The program as OpenADR shows it changed too: its subscribers hear of it in this
    // transaction, so a rule that is rolled back notifies nobody.
    crate::openadr::notify::program_changed(tx, &sync.program_code, was_published, now).await?;
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
    let programs = a.program_codes.join(",");
    let fields = AggregatorFields {
        external_ref: &a.external_reference,
        name: &a.name,
        status: a.status.as_str(),
        start_date: a.start_date,
        end_date: a.end_date,
        contact_name: &a.contact_name,
        contact_email: &a.contact_email,
        program_codes: &programs,
    };
    store::upsert_aggregator(tx, &fields, now).await?;
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
        let n = store::set_device_score(
            tx,
            &s.head_end_system,
            &s.nic_id,
            s.control_score,
            batch.scored_on,
            now,
        )
        .await?;
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
    store::insert_opt_out(
        tx,
        &o.event_external_identifier,
        &o.head_end_system,
        &o.nic_id,
        o.requested_at,
        now,
    )
    .await?;
    // The event's expected reduction is re-evaluated without the device.
    let removed = crate::grid::event::apply_opt_out(
        tx,
        &o.event_external_identifier,
        &o.head_end_system,
        &o.nic_id,
        now,
    )
    .await?;
    Ok(
        json!({"transactionId": o.transaction_id, "status": "ACCEPTED", "expectedKwRemoved": removed}),
    )
}
