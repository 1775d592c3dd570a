//! Unavailability windows recorded on a customer's behalf: a device must not be reserved
//! inside one. Each change is audited and told to the grid side (flow 8) in one transaction.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::calendar::Calendar;
use crate::db::audit::{append, NewAuditEntry};
use crate::db::unavailability::{self as store, WindowRow};
use crate::db::Db;
use crate::error::DomainError;
use crate::integration::message::{enqueue, new_message_id, NewMessage, DEFAULT_MAX_ATTEMPTS};
use crate::integration::wire::Flow;

/// The longest window one request may declare.
pub const MAX_WINDOW_DAYS: i64 = 31;

/// Parses a window bound: local wall time in the utility's zone as the console form sends it
/// (with the zone's abbreviation to choose in a fold), or RFC 3339 with any offset.
pub fn parse_instant(
    cal: Calendar,
    field: &str,
    value: &str,
) -> Result<DateTime<Utc>, DomainError> {
    cal.parse_input(field, value)
}

fn message(payload: serde_json::Value, device_id: i64) -> NewMessage {
    NewMessage {
        message_id: new_message_id(),
        flow: Flow::CustomerUnavailability.as_str().into(),
        correlation_id: Some(format!("device-{device_id}")),
        sender: "programs".into(),
        recipient: "grid".into(),
        payload,
        max_attempts: DEFAULT_MAX_ATTEMPTS,
    }
}

pub async fn add_window(
    db: &Db,
    actor: &str,
    device_id: i64,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<i64, DomainError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(DomainError::invalid("reason: give 1 to 200 characters"));
    }
    if ends_at <= starts_at {
        return Err(DomainError::invalid(
            "end: the window must end after it starts",
        ));
    }
    if ends_at <= now {
        return Err(DomainError::invalid("end: the window is already over"));
    }
    if ends_at - starts_at > chrono::Duration::days(MAX_WINDOW_DAYS) {
        return Err(DomainError::invalid(format!(
            "end: a window may last at most {MAX_WINDOW_DAYS} days"
        )));
    }
    let device = store::device_key(db, device_id).await?;
    let (head_end, nic_id, status) =
        device.ok_or_else(|| DomainError::not_found(format!("device {device_id}")))?;
    if status != "active" {
        return Err(DomainError::invalid(
            "the device is inactive; it takes part in no event anyway",
        ));
    }
    // The device's programs must let customers declare unavailability.
    let refused = store::refusing_enrollments(db, device_id).await?;
    if refused > 0 {
        return Err(DomainError::invalid(
            "the device's program does not allow unavailability windows",
        ));
    }
    let mut tx = db.begin().await?;
    let id = store::insert_window(&mut tx, device_id, starts_at, ends_at, reason, now).await?;
    append(
        &mut tx,
        NewAuditEntry::new(actor, "unavailability.add", "device", device_id).after(
            json!({"window": id, "startsAt": starts_at, "endsAt": ends_at, "reason": reason}),
        ),
    )
    .await?;
    let payload = json!({"transactionId": format!("UW-{id}-add"), "action": "ADD", "windowId": format!("UW-{id}"),
        "headEndSystem": head_end, "nicId": nic_id, "startTime": starts_at, "endTime": ends_at, "reason": reason});
    enqueue(&mut tx, &message(payload, device_id), now).await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn cancel_window(
    db: &Db,
    actor: &str,
    window_id: i64,
    now: DateTime<Utc>,
) -> Result<i64, DomainError> {
    let row = store::get_window(db, window_id).await?;
    let WindowRow {
        device_id,
        head_end,
        nic_id,
        starts_at,
        ends_at,
        reason,
        status,
    } = row.ok_or_else(|| DomainError::not_found(format!("unavailability window {window_id}")))?;
    if status != "active" {
        return Err(DomainError::Conflict(
            "the window is already cancelled".into(),
        ));
    }
    let mut tx = db.begin().await?;
    store::cancel_window(&mut tx, window_id).await?;
    append(
        &mut tx,
        NewAuditEntry::new(actor, "unavailability.cancel", "device", device_id)
            .before(json!({"window": window_id, "status": "active"}))
            .after(json!({"window": window_id, "status": "cancelled"})),
    )
    .await?;
    let payload = json!({"transactionId": format!("UW-{window_id}-cancel"), "action": "CANCEL", "windowId": format!("UW-{window_id}"),
        "headEndSystem": head_end, "nicId": nic_id, "startTime": starts_at, "endTime": ends_at, "reason": reason});
    enqueue(&mut tx, &message(payload, device_id), now).await?;
    tx.commit().await?;
    Ok(device_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_and_wire_times_both_parse() {
        let cal = Calendar::default();
        // The form's time is local: 14:00 CDT.
        assert_eq!(
            parse_instant(cal, "start", "2026-07-01T14:00")
                .unwrap()
                .to_rfc3339(),
            "2026-07-01T19:00:00+00:00"
        );
        assert_eq!(
            parse_instant(cal, "start", "2026-07-01T14:00:00-05:00")
                .unwrap()
                .to_rfc3339(),
            "2026-07-01T19:00:00+00:00"
        );
        let err = parse_instant(cal, "start", "tomorrow")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("start:"), "{err}");
    }
}
