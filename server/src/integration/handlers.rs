//! What each side does with a received message: value maps first, then the flow's handler —
//! enrollment requests (flow 1) here, the other program-side flows in `programs/`
//! (`program_event`, `network_transfer`), the grid side's in `grid/registry.rs`.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::calendar::Calendar;
use crate::db::Tx;
use crate::integration::inbound::{HandlerError, Rejection};
use crate::integration::value_maps::{self, ValueMaps};
use crate::integration::wire::{self, Flow, Validate};

/// The largest enrollment-request batch accepted in one message.
pub const MAX_BATCH: usize = 50_000;

/// Applies `flow`'s message: value maps first (reading them), then the flow's handler.
pub async fn handle(
    tx: &mut Tx,
    flow: Flow,
    payload: &Value,
    cal: Calendar,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let maps = ValueMaps::load(tx).await?;
    handle_with(tx, flow, payload, &maps, cal, now).await
}

/// Like [`handle`], with the value maps already read (a batch reads them once).
pub async fn handle_with(
    tx: &mut Tx,
    flow: Flow,
    payload: &Value,
    maps: &ValueMaps,
    cal: Calendar,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let (payload, applied) = value_maps::translate(maps, flow, payload).map_err(reject)?;
    let mut ack = dispatch(tx, flow, &payload, cal, now).await?;
    applied.restore(&mut ack);
    Ok(ack)
}

async fn dispatch(
    tx: &mut Tx,
    flow: Flow,
    payload: &Value,
    cal: Calendar,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    use crate::grid::registry::*;
    use crate::programs::network_transfer::network_location_transfer;
    use crate::programs::program_event::*;
    match flow {
        Flow::EnrollmentRequest => enrollment_request(tx, payload, now).await,
        Flow::EnrollmentSync => enrollment_sync(tx, payload, now).await,
        Flow::DeviceStatusCheck => device_status_check(tx, payload).await,
        Flow::CustomerUnavailability => customer_unavailability(tx, payload, now).await,
        Flow::ProgramRuleSync => program_rule_sync(tx, payload, now).await,
        Flow::AggregatorSync => aggregator_sync(tx, payload, now).await,
        Flow::DeviceScore => device_score(tx, payload, now).await,
        Flow::StageStatus => stage_status(tx, payload, now).await,
        Flow::DeviceReservation => device_reservation(tx, payload, now).await,
        Flow::DeviceOutcome => device_outcome(tx, payload, now).await,
        Flow::CustomerOptOut => customer_opt_out(tx, payload, now).await,
        Flow::NetworkLocationTransfer => network_location_transfer(tx, payload, cal, now).await,
    }
}

pub(crate) fn reject(msg: impl Into<String>) -> HandlerError {
    HandlerError::Rejected(Rejection::new(msg))
}

/// Reads and checks a flow's payload; what is wrong is named field by field.
pub(crate) fn decode<T: serde::de::DeserializeOwned + Validate>(
    payload: &Value,
) -> Result<T, HandlerError> {
    wire::decode_value::<T>(payload).map_err(|e| reject(e.to_string()))
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
