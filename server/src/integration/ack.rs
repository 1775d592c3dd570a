//! What a sender does with the acknowledgement it got back, in the same transaction that
//! marks its message delivered — or, when the peer posts its acknowledgement on its own
//! (the published dialect's flows 2 and 3), in the transaction that receives it.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::integration::inbound::Side;
use crate::integration::message::{find_inbound, record_inbound, MessageRow};
use crate::integration::wire::Flow;

pub async fn apply(
    tx: &mut Tx,
    msg: &MessageRow,
    ack: &Value,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    if let Some(flow) = Flow::parse(&msg.flow) {
        apply_flow(tx, flow, ack, now).await?;
    }
    Ok(())
}

/// Applies the acknowledgements of many delivered messages, in order, with a statement per
/// kind of change rather than one per device: a device listed twice ends as the later
/// acknowledgement says, as if they were applied one by one.
pub async fn apply_all(
    tx: &mut Tx,
    acks: &[(&MessageRow, &Value)],
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let mut last: std::collections::HashMap<(&str, &str), bool> = Default::default();
    let mut order = Vec::new();
    for (msg, ack) in acks {
        if Flow::parse(&msg.flow) != Some(Flow::EnrollmentSync) {
            continue;
        }
        for d in ack["deviceList"].as_array().into_iter().flatten() {
            let (Some(head_end), Some(nic)) = (d["headEndSystem"].as_str(), d["nicId"].as_str())
            else {
                continue;
            };
            let registered = d["registrationStatus"] == "REGISTERED";
            if last.insert((head_end, nic), registered).is_none() {
                order.push((head_end, nic));
            }
        }
    }
    for registered in [true, false] {
        let keys: Vec<[&str; 2]> = order
            .iter()
            .filter(|k| last[*k] == registered)
            .map(|(h, n)| [*h, *n])
            .collect();
        if !keys.is_empty() {
            crate::db::device::set_registered_many(tx, &keys, registered, now).await?;
        }
    }
    Ok(())
}

/// Applies `flow`'s acknowledgement; per listed device (`deviceList`), whether the program
/// side knows it.
async fn apply_flow(
    tx: &mut Tx,
    flow: Flow,
    ack: &Value,
    now: DateTime<Utc>,
) -> Result<Vec<bool>, DomainError> {
    let devices = ack["deviceList"].as_array().cloned().unwrap_or_default();
    if flow != Flow::EnrollmentSync {
        return Ok(vec![true; devices.len()]);
    }
    // The program side records each device's head-end registration as the grid reports it.
    let mut known = Vec::with_capacity(devices.len());
    for d in &devices {
        let (Some(head_end), Some(nic)) = (d["headEndSystem"].as_str(), d["nicId"].as_str()) else {
            known.push(false);
            continue;
        };
        let registered = d["registrationStatus"] == "REGISTERED";
        let n = crate::db::device::set_registered(tx, head_end, nic, registered, now).await?;
        known.push(n > 0);
    }
    Ok(known)
}

/// An acknowledgement a peer posts on its own, received through the inbox: applied like
/// one that came back with the delivery, stored with the answer `answer` builds from which
/// listed devices the program side knows; a repeat of `message_id` gets the stored answer
/// and changes nothing. Returns the answer and whether it was a repeat.
#[allow(clippy::too_many_arguments)]
pub async fn receive_posted(
    db: &Db,
    flow: Flow,
    sender: &str,
    message_id: &str,
    correlation_id: Option<&str>,
    ack: &Value,
    answer: impl FnOnce(&[bool]) -> Value,
    now: DateTime<Utc>,
) -> Result<(Value, bool), DomainError> {
    let mut tx = db.begin().await?;
    if let Some(stored) = stored_result(&mut tx, message_id).await? {
        return Ok((stored, true));
    }
    let known = apply_flow(&mut tx, flow, ack, now).await?;
    let body = answer(&known);
    let recorded = record_inbound(
        &mut tx,
        message_id,
        flow.as_str(),
        correlation_id,
        sender,
        Side::Programs.as_str(),
        &ack.to_string(),
        "processed",
        &body,
        now,
    )
    .await;
    match recorded {
        Ok(_) => {}
        // The same acknowledgement posted twice at once: the other one stored it first, and
        // this one's changes roll back; answer as that one was answered.
        Err(DomainError::Conflict(_)) => {
            drop(tx);
            let mut tx = db.begin().await?;
            return match stored_result(&mut tx, message_id).await? {
                Some(stored) => Ok((stored, true)),
                None => Err(DomainError::Internal("duplicate message vanished".into())),
            };
        }
        Err(e) => return Err(e),
    }
    tx.commit().await?;
    tracing::info!(flow = flow.as_str(), message = %message_id, "posted acknowledgement received");
    Ok((body, false))
}

/// The stored answer of an inbound message already received, if it was.
async fn stored_result(tx: &mut Tx, message_id: &str) -> Result<Option<Value>, DomainError> {
    Ok(find_inbound(tx, message_id).await?.map(|seen| {
        seen.result
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or(Value::Null)
    }))
}
