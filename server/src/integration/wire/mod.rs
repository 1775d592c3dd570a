//! Wire types of the twelve CPM ↔ DERMS integration flows, and the parse layer that checks them
//! record by record. This file holds the envelope every message travels in and the decoding all
//! flows share; each flow has its own module, named by its [`Flow`] code:
//!
//! | # | flow | module |
//! |---|---|---|
//! | 1 | enrollment request (+ acknowledgement) | `enrollment_request.rs` |
//! | 2 | enrollment sync (+ acknowledgement) | `enrollment_sync.rs` |
//! | 3 | device status check (+ acknowledgement) | `device_status_check.rs` |
//! | 4 | program event (stage) status update | `stage_status.rs` |
//! | 5 | event device reservation | `device_reservation.rs` (its CSV form in `csv.rs`) |
//! | 6 | event device outcome | `device_outcome.rs` (its flat file in `csv.rs`) |
//! | 7 | customer opt-out | `customer_opt_out.rs` |
//! | 8 | customer unavailability | `customer_unavailability.rs` |
//! | 9 | program rule sync | `program_rule_sync.rs` |
//! | 10 | aggregator sync | `aggregator_sync.rs` |
//! | 11 | network location transfer | `network_location_transfer.rs` |
//! | 12 | device score | `device_score.rs` |
//!
//! Shared by the flows: `flow.rs` (the flows and their directions), `code.rs` (wire codes),
//! `check.rs` (field checks), `device.rs` (device type and key), `error.rs` (why a message or
//! record was refused), `csv.rs` (the file formats of flows 5 and 6). Everything public is
//! re-exported here, so callers write `wire::EnrollmentSync`.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_path_to_error::Segment;

mod check;
mod code;
mod csv;
mod device;
mod error;
#[cfg(test)]
mod fixtures;
mod flow;

mod aggregator_sync;
mod customer_opt_out;
mod customer_unavailability;
mod device_outcome;
mod device_reservation;
mod device_score;
mod device_status_check;
mod enrollment_request;
mod enrollment_sync;
mod network_location_transfer;
mod program_rule_sync;
pub mod published;
mod stage_status;

pub use check::{MAX_ID_CHARS, MAX_MESSAGE_ID_CHARS, MAX_REASON_CHARS, MAX_TEXT_CHARS};
pub use csv::{
    parse_outcome_flat_file, parse_reservation_csv, CsvRowError, OUTCOME_FLAT_FILE_FIELDS,
    RESERVATION_CSV_HEADER,
};
pub use device::{DeviceKey, DeviceType, MAX_DEVICE_KW};
pub use error::{shorten, MessageError, RecordError, RecordErrorWire, RequestError};
pub use flow::{Direction, Flow};

pub use aggregator_sync::{AggregatorStatus, AggregatorSync};
pub use customer_opt_out::CustomerOptOut;
pub use customer_unavailability::{CustomerUnavailability, UnavailabilityAction};
pub use device_outcome::{DeviceOutcome, DeviceOutcomeBatch, OutcomeCode};
pub use device_reservation::{DeviceReservation, ReservedDevice};
pub use device_score::{DeviceScore, DeviceScoreBatch};
pub use device_status_check::{
    ConnectionStatus, DeviceConnection, DeviceStatusAck, DeviceStatusCheck,
};
pub use enrollment_request::{
    parse_enrollment_batch, parse_enrollment_batch_value, Address, Asset, AssetInfo, CheckedAsset,
    CheckedCustomer, CheckedEnrollmentRecord, CheckedLocation, CustomerInfo, EnrollmentRecord,
    EnrollmentRequestAck, EnrollmentRequestBatch, EnrollmentSource, LocationInfo, Ownership,
    ProgramInfo, RecordResult, RecordStatus,
};
pub use enrollment_sync::{
    DeviceRegistration, EnrollmentSync, EnrollmentSyncAck, RegistrationStatus, SyncAction,
    SyncDevice,
};
pub use network_location_transfer::{
    NetworkLocationTransfer, NetworkNode, NodeKind, ServicePointLink,
};
pub use program_rule_sync::{ProgramRule, ProgramRuleSync, RuleAction, RuleCycle};
pub use stage_status::{EventCategory, LifecycleAction, ProgramEventStatus};

use check::{check_text, item, join};

/// Every message travels in an envelope; `messageId` makes redelivery idempotent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    pub message_id: String,
    /// A [`Flow`] code; kept as text so an unknown flow is reported, not a parse failure.
    pub flow: String,
    /// For an acknowledgement: the `messageId` it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    pub sent_at: DateTime<Utc>,
    pub payload: T,
}

impl<T> Envelope<T> {
    pub fn new(
        flow: Flow,
        message_id: impl Into<String>,
        sent_at: DateTime<Utc>,
        payload: T,
    ) -> Self {
        Envelope {
            message_id: message_id.into(),
            flow: flow.as_str().to_owned(),
            correlation_id: None,
            sent_at,
            payload,
        }
    }

    pub fn answering(mut self, message_id: impl Into<String>) -> Self {
        self.correlation_id = Some(message_id.into());
        self
    }

    pub fn flow(&self) -> Option<Flow> {
        Flow::parse(&self.flow)
    }

    /// Checks the envelope's own fields (not the payload) and returns its flow.
    pub fn check_header(&self) -> Result<Flow, RecordError> {
        check_text("messageId", &self.message_id, MAX_MESSAGE_ID_CHARS)?;
        if let Some(correlation_id) = &self.correlation_id {
            check_text("correlationId", correlation_id, MAX_MESSAGE_ID_CHARS)?;
        }
        self.flow().ok_or_else(|| {
            let known: Vec<&str> = Flow::ALL.iter().map(|flow| flow.as_str()).collect();
            RecordError::new(
                "flow",
                format!(
                    "has unknown flow `{}`, expected one of {}",
                    self.flow,
                    known.join(", ")
                ),
            )
            .identify(&self.message_id)
        })
    }
}

/// The business rules of a message, checked once at the boundary.
pub trait Validate {
    fn validate(&self) -> Result<(), RecordError>;
}

impl<T: Validate> Validate for Envelope<T> {
    fn validate(&self) -> Result<(), RecordError> {
        self.check_header()?;
        self.payload.validate().map_err(|err| err.under("payload"))
    }
}

/// A message a side sends: its type names its flow, so a sender never spells the flow's code.
pub trait Outbound: Serialize {
    const FLOW: Flow;

    /// The message as an outbox payload.
    fn to_payload(&self) -> Value {
        // Wire types are structs, lists, text, numbers and times: nothing JSON cannot hold.
        serde_json::to_value(self).expect("a wire type serializes to JSON")
    }
}

/// Parses and validates a single (non-batch) message; errors name the field by its wire path.
pub fn decode<T: DeserializeOwned + Validate>(body: &[u8]) -> Result<T, MessageError> {
    let value: Value = serde_json::from_slice(body).map_err(RequestError::malformed)?;
    decode_value(&value)
}

/// [`decode`] for a body that is already JSON.
pub fn decode_value<T: DeserializeOwned + Validate>(value: &Value) -> Result<T, MessageError> {
    if !value.is_object() {
        return Err(RequestError::NotAnObject.into());
    }
    let message: T = from_json(value, "body").map_err(|err| err.identify(message_hint(value)))?;
    message.validate()?;
    Ok(message)
}

/// [`decode`] for an enveloped message that must belong to `expected`.
pub fn decode_envelope<T: DeserializeOwned + Validate>(
    body: &[u8],
    expected: Flow,
) -> Result<Envelope<T>, MessageError> {
    let envelope: Envelope<T> = decode(body)?;
    if envelope.flow != expected.as_str() {
        return Err(RecordError::new(
            "flow",
            format!(
                "is `{}` but this endpoint takes `{}`",
                envelope.flow, expected
            ),
        )
        .identify(&envelope.message_id)
        .into());
    }
    Ok(envelope)
}

/// The id a person would use to find a message that could not even be parsed.
fn message_hint(value: &Value) -> &str {
    ["transactionId", "externalIdentifier", "messageId"]
        .into_iter()
        .find_map(|key| value.get(key).and_then(Value::as_str))
        .unwrap_or_default()
}

/// Deserializes `value`, turning serde's message into a field path and an actionable message.
fn from_json<T: DeserializeOwned>(value: &Value, root: &str) -> Result<T, RecordError> {
    // Most records are good: read them straight, and track the path (which costs a wrapper
    // around every field) only to name what is wrong in one that is not.
    if let Ok(read) = T::deserialize(value) {
        return Ok(read);
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = wire_path(err.path());
        let mut message = err.inner().to_string();
        if let Some(Value::String(text)) = value_at(value, err.path()) {
            // chrono's parse errors do not repeat the input; a person needs to see it.
            if !message.contains(text.as_str()) {
                message = format!("{message} (got `{text}`)");
            }
        }
        if let Some(name) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            return RecordError::new(join(&path, name), "is required");
        }
        let field = if path.is_empty() {
            root.to_owned()
        } else {
            path
        };
        let message = match message.strip_prefix("unknown variant ") {
            Some(rest) => format!("has unknown code {rest}"),
            None => format!("is not valid: {message}"),
        };
        RecordError::new(field, message)
    })
}

/// The path in wire names, `records[3].assetInfo.assetList[0].nominalKw`; empty for the root.
fn wire_path(path: &serde_path_to_error::Path) -> String {
    path.iter()
        .fold(String::new(), |prefix, segment| match segment {
            Segment::Seq { index } => item(&prefix, *index),
            Segment::Map { key } | Segment::Enum { variant: key } => join(&prefix, key),
            Segment::Unknown => join(&prefix, "?"),
        })
}

/// The value an error path points at, when the path leads through objects and arrays only.
fn value_at<'a>(value: &'a Value, path: &serde_path_to_error::Path) -> Option<&'a Value> {
    path.iter().try_fold(value, |node, segment| match segment {
        Segment::Seq { index } => node.get(*index),
        Segment::Map { key } => node.get(key.as_str()),
        Segment::Enum { .. } | Segment::Unknown => None,
    })
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn an_envelope_keeps_the_public_field_names_and_its_payload_errors_are_rooted_at_payload() {
        let envelope = Envelope::new(
            Flow::CustomerOptOut,
            "M-1",
            time("2024-07-01T12:00:00Z"),
            CustomerOptOut {
                transaction_id: "TX-7".into(),
                event_external_identifier: "EV-1".into(),
                head_end_system: "ECOBEE".into(),
                nic_id: "".into(),
                requested_at: time("2024-07-01T11:59:00Z"),
            },
        )
        .answering("M-0");
        let value = serde_json::to_value(&envelope).unwrap();
        assert_eq!(value["messageId"], json!("M-1"));
        assert_eq!(value["flow"], json!("customer_opt_out"));
        assert_eq!(value["correlationId"], json!("M-0"));
        assert_eq!(value["sentAt"], json!("2024-07-01T12:00:00Z"));
        assert_eq!(
            value["payload"]["requestedAt"],
            json!("2024-07-01T11:59:00Z")
        );

        let body = serde_json::to_vec(&value).unwrap();
        match decode_envelope::<CustomerOptOut>(&body, Flow::CustomerOptOut) {
            Err(MessageError::Invalid(err)) => assert_eq!(err.field, "payload.nicId"),
            other => panic!("expected a record error, got {other:?}"),
        }
    }

    #[test]
    fn an_outbound_message_names_its_flow_and_travels_in_wire_names() {
        let opt_out = CustomerOptOut {
            transaction_id: "TX-7".into(),
            event_external_identifier: "EV-1".into(),
            head_end_system: "ECOBEE".into(),
            nic_id: "N1".into(),
            requested_at: time("2024-07-01T11:59:00Z"),
        };
        assert_eq!(CustomerOptOut::FLOW, Flow::CustomerOptOut);
        assert_eq!(
            opt_out.to_payload(),
            json!({
                "transactionId": "TX-7", "eventExternalIdentifier": "EV-1", "headEndSystem": "ECOBEE",
                "nicId": "N1", "requestedAt": "2024-07-01T11:59:00Z"
            })
        );
        assert_eq!(
            ProgramEventStatus::FLOW.direction(),
            Direction::GridToPrograms
        );
    }

    #[test]
    fn an_envelope_for_another_flow_is_refused() {
        let envelope = Envelope::new(
            Flow::DeviceStatusCheck,
            "M-1",
            time("2024-07-01T12:00:00Z"),
            serde_json::from_value::<DeviceStatusCheck>(json!({
                "transactionId": "TX-3", "deviceList": [{ "headEndSystem": "ECOBEE", "nicId": "N1" }]
            }))
            .unwrap(),
        );
        let body = serde_json::to_vec(&envelope).unwrap();
        decode_envelope::<DeviceStatusCheck>(&body, Flow::DeviceStatusCheck).unwrap();
        match decode_envelope::<DeviceStatusCheck>(&body, Flow::EnrollmentSync) {
            Err(MessageError::Invalid(err)) => {
                assert_eq!(err.field, "flow");
                assert_eq!(err.record_id.as_deref(), Some("M-1"));
            }
            other => panic!("expected a record error, got {other:?}"),
        }
        let mut unknown = serde_json::to_value(&envelope).unwrap();
        unknown["flow"] = json!("device_teleport");
        let err = invalid::<Envelope<DeviceStatusCheck>>(&unknown);
        assert!(err.message.contains("device_teleport"), "{}", err.message);
    }
}
