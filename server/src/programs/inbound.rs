//! The flows the program side receives, registered with integration's handler registry:
//! enrollment requests (flow 1, handled here), program events, reservations and outcomes
//! (flows 4–6, `program_event`) and network location transfers (flow 11, `network_transfer`).

use serde_json::{json, Value};

use crate::db::Tx;
use crate::integration::handlers::{reject, HandlerCtx, Handlers};
use crate::integration::inbound::HandlerError;
use crate::integration::wire::{self, Flow};
use crate::programs::{enrollment_request, network_transfer, program_event};

/// The largest enrollment-request batch accepted in one message.
pub const MAX_BATCH: usize = 50_000;

/// Registers the program side's inbound handlers.
pub fn register(handlers: &mut Handlers) {
    handlers
        .on(Flow::EnrollmentRequest, |tx, p, c| {
            Box::pin(enrollment_request(tx, p, c))
        })
        .on(Flow::StageStatus, |tx, p, c| {
            Box::pin(program_event::stage_status(tx, p, c.now))
        })
        .on(Flow::DeviceReservation, |tx, p, c| {
            Box::pin(program_event::device_reservation(tx, p, c.now))
        })
        .on(Flow::DeviceOutcome, |tx, p, c| {
            Box::pin(program_event::device_outcome(tx, p, c.now))
        })
        .on(Flow::NetworkLocationTransfer, |tx, p, c| {
            Box::pin(network_transfer::network_location_transfer(
                tx, p, c.cal, c.now,
            ))
        });
}

/// Flow 1, program side: one PENDING enrollment per valid record; a bad record fails alone;
/// a record whose devices are already enrolled in the program is reported as existing.
async fn enrollment_request(
    tx: &mut Tx,
    payload: &Value,
    ctx: &HandlerCtx,
) -> Result<Value, HandlerError> {
    let (transaction_id, records) = wire::parse_enrollment_batch_value(payload, MAX_BATCH)
        .map_err(|e| reject(e.to_string()))?;
    let results = enrollment_request::ingest(tx, &transaction_id, records, ctx.now).await?;
    let count = |s: &str| results.iter().filter(|r| r["status"] == s).count();
    tracing::info!(transaction = %transaction_id, created = count("CREATED"), existing = count("ALREADY_EXISTS"), rejected = count("REJECTED"), "enrollment request processed");
    Ok(json!({"transactionId": transaction_id, "results": results}))
}
