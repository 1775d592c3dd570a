//! The program side's view of the grid's events: each stage as a "program event" with its
//! lifecycle (flow 4), the devices reserved for it (flow 5) and their outcomes (flow 6).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::db::participation::{self as store, OutcomeFields, ProgramEventFields, Reservation};
use crate::db::Tx;
use crate::error::DomainError;
use crate::integration::handlers::{decode, reject};
use crate::integration::inbound::{HandlerError, Rejection};
use crate::integration::wire;

/// The program side's lifecycle order of a stage: a stage never moves back.
fn lifecycle_rank(code: &str) -> u8 {
    match code {
        "X1SD" => 0,
        "X1IP" => 1,
        _ => 2,
    }
}

/// Flow 4, program side: a stage was scheduled, started, completed or cancelled.
pub(crate) async fn stage_status(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let st: wire::ProgramEventStatus = decode(payload)?;
    let current = store::program_event_status(tx, &st.external_identifier).await?;
    if let Some(cur) = &current {
        let ended = matches!(cur.as_str(), "F1CO" | "F1CN");
        if ended || lifecycle_rank(st.action.as_str()) < lifecycle_rank(cur) {
            return Err(reject(format!(
                "action: stage `{}` is {cur}; it cannot become {}",
                st.external_identifier,
                st.action.as_str()
            )));
        }
    }
    let fields = ProgramEventFields {
        external_id: &st.external_identifier,
        event_external_id: &st.event_external_identifier,
        program_code: &st.program_code,
        category: st.event_category.as_str(),
        status: st.action.as_str(),
        reason: st.reason.as_deref(),
        starts_at: st.start_time,
        ends_at: st.end_time,
    };
    store::upsert_program_event(tx, &fields, now).await?;
    if st.action == wire::LifecycleAction::Cancel {
        store::cancel_open_devices(tx, &st.external_identifier, now).await?;
    }
    Ok(json!({"externalIdentifier": st.external_identifier, "status": st.action.as_str()}))
}

/// Flow 5, program side: the devices reserved for a stage (the list replaces any earlier one).
pub(crate) async fn device_reservation(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let r: wire::DeviceReservation = decode(payload)?;
    let status = store::program_event_status(tx, &r.external_identifier).await?;
    if matches!(status.as_deref(), Some("F1CO" | "F1CN")) {
        return Err(reject(format!(
            "externalIdentifier: stage `{}` has ended; it takes no reservation",
            r.external_identifier
        )));
    }
    let category = "X1EC";
    if status.is_none() {
        let fields = ProgramEventFields {
            external_id: &r.external_identifier,
            event_external_id: &r.event_external_identifier,
            program_code: &r.program_code,
            category,
            status: "X1SD",
            reason: None,
            starts_at: r.start_time,
            ends_at: r.end_time,
        };
        store::upsert_program_event(tx, &fields, now).await?;
    }
    let devices: Vec<Reservation> = r
        .device_list
        .iter()
        .map(|d| Reservation {
            head_end: &d.head_end_system,
            nic_id: &d.nic_id,
            enrollment_id: d.enrollment_id,
            expected_kw: d.expected_kw,
        })
        .collect();
    store::replace_reservations(tx, &r.external_identifier, &devices, now)
        .await
        .map_err(|e| match e {
            DomainError::Conflict(_) => reject("deviceList: a device is listed twice"),
            other => HandlerError::from(other),
        })?;
    Ok(json!({"externalIdentifier": r.external_identifier, "reserved": r.device_list.len()}))
}

/// Flow 6, program side: what each reserved device did.
pub(crate) async fn device_outcome(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let b: wire::DeviceOutcomeBatch = decode(payload)?;
    let mut unknown = Vec::new();
    for o in &b.post_outcome_list {
        let fields = OutcomeFields {
            head_end: &o.head_end_system,
            nic_id: &o.nic_id,
            outcome: o.outcome.as_str(),
            participation_start: o.participation_start,
            participation_end: o.participation_end,
        };
        let n = store::record_outcome(tx, &b.external_identifier, &fields, now).await?;
        if n == 0 {
            unknown.push(json!({"headEndSystem": o.head_end_system, "nicId": o.nic_id}));
        }
    }
    if !unknown.is_empty() {
        let mut rej = Rejection::new(format!(
            "postOutcomeList: {} device(s) were not reserved for stage `{}`",
            unknown.len(),
            b.external_identifier
        ));
        rej.extra = Some(json!(unknown));
        return Err(HandlerError::Rejected(rej));
    }
    Ok(json!({"externalIdentifier": b.external_identifier, "recorded": b.post_outcome_list.len()}))
}
