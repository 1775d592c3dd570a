//! Customer opt-outs taken on a customer's behalf: a device's reservation for one upcoming
//! event is cancelled, if the program allows it and its cut-off has not passed; the grid side
//! is told (flow 7) in the same transaction.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::calendar::Calendar;
use crate::db::audit::{append, NewAuditEntry};
use crate::db::participation as store;
use crate::db::Db;
use crate::error::DomainError;
use crate::integration::message::{enqueue, new_message_id, NewMessage, DEFAULT_MAX_ATTEMPTS};
use crate::integration::wire::{CustomerOptOut, Outbound};

/// When opting out of an event that starts at `starts_at` stops being possible.
pub fn cutoff(starts_at: DateTime<Utc>, cutoff_minutes: i32) -> DateTime<Utc> {
    starts_at - Duration::minutes(cutoff_minutes.max(0) as i64)
}

pub async fn opt_out(
    db: &Db,
    cal: Calendar,
    actor: &str,
    stage: &str,
    device_id: i64,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let mut tx = db.begin().await?;
    let row = store::reservation_of_device(&mut tx, stage, device_id).await?;
    let r = row.ok_or_else(|| {
        DomainError::not_found(format!(
            "a reservation of device {device_id} for event stage {stage}"
        ))
    })?;
    if r.opted_out_at.is_some() {
        return Err(DomainError::Conflict(
            "the customer has already opted out of this event".into(),
        ));
    }
    if r.status != "X1SD" {
        return Err(DomainError::invalid(
            "the event is no longer upcoming; opting out is only possible before it starts",
        ));
    }
    if r.opt_out_allowed != Some(true) {
        return Err(DomainError::invalid(
            "the program does not let customers opt out of events",
        ));
    }
    let until = cutoff(r.starts_at, r.opt_out_cutoff_minutes.unwrap_or(0));
    if now >= until {
        return Err(DomainError::invalid(format!(
            "the opt-out cut-off for this event passed at {}",
            cal.show(until)
        )));
    }
    store::record_opt_out(&mut tx, stage, &r.head_end, &r.nic_id, now).await?;
    append(
        &mut tx,
        NewAuditEntry::new(actor, "reservation.opt_out", "device", device_id)
            .after(json!({"stage": stage, "event": r.event_external_id})),
    )
    .await?;
    let msg = NewMessage {
        message_id: new_message_id(),
        flow: CustomerOptOut::FLOW.as_str().into(),
        correlation_id: Some(stage.to_string()),
        sender: "programs".into(),
        recipient: "grid".into(),
        payload: CustomerOptOut {
            transaction_id: format!("OPT-{stage}-{device_id}"),
            event_external_identifier: r.event_external_id,
            head_end_system: r.head_end,
            nic_id: r.nic_id,
            requested_at: now,
        }
        .to_payload(),
        max_attempts: DEFAULT_MAX_ATTEMPTS,
    };
    enqueue(&mut tx, &msg, now).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_counted_back_from_the_start() {
        let start = DateTime::parse_from_rfc3339("2030-07-01T18:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(cutoff(start, 60).to_rfc3339(), "2030-07-01T17:00:00+00:00");
        assert_eq!(cutoff(start, -5), start);
    }
}
