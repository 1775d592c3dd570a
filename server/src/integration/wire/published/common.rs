//! What the published flows after enroll share: times with an offset, the published
//! acknowledgement with one answer per record, and the inbox id of a published request.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::enroll::{Fields, ACK_ERROR, ACK_FAILURE, ACK_SUCCESS, MAX_TRANSACTION_ID_CHARS};
use crate::integration::wire::check::join;
use crate::integration::wire::RecordErrorWire;

pub const ENROLL_PATH: &str = "/rest/apis/cross/digitalAssets/programEnrollments/enroll";
pub const ENROLLMENT_ACK_PATH: &str =
    "/rest/apis/cross/digitalAssets/programEnrollments/postAcknowledgement";
pub const DEVICE_STATUS_PATH: &str =
    "/rest/apis/cross/digitalAssets/controllableDeviceStatus/response";
pub const PROGRAM_EVENT_PATH: &str = "/rest/apis/cross/service/programEvent/";
pub const LIFECYCLE_PATH: &str = "/rest/apis/cross/service/programEvent/lifecycle";
pub const RESERVE_PATH: &str = "/rest/apis/cross/service/programEventParticipation/reserveDevice";
pub const OUTCOME_PATH: &str =
    "/rest/apis/cross/service/programEventParticipation/postEventOutcome";
/// The grid side's device status check (flow 3 request). The published guides name no path
/// for it; GridFlex serves it here.
pub const STATUS_CHECK_PATH: &str = "/rest/apis/dacs/controllableDeviceStatus/request";

/// The published limit of an event's or a program event's external identifier.
pub const MAX_EXTERNAL_ID_CHARS: usize = 120;
/// The published limit of `headEndSystem`.
pub const MAX_HEAD_END_CHARS: usize = 50;
/// The published limit of `nicId`.
pub const MAX_NIC_ID_CHARS: usize = 100;

/// Reads an RFC 3339 date-time with an offset as its UTC instant; one without an offset
/// is refused naming the field, as GridFlex's own envelope does.
pub fn instant(field: &str, text: &str) -> Result<DateTime<Utc>, RecordErrorWire> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .any(|f| chrono::NaiveDateTime::parse_from_str(text, f).is_ok());
    let message = if local {
        format!("has no offset (`{text}`); give the time with its offset, such as 2026-07-01T15:00:00-05:00")
    } else {
        format!("must be an RFC 3339 date-time with an offset, such as 2026-07-01T15:00:00-05:00 (got `{text}`)")
    };
    Err(RecordErrorWire {
        field: field.to_owned(),
        message,
    })
}

impl<'a> Fields<'a> {
    /// A date-time at `parent.key` (see [`instant`]).
    pub(super) fn instant(
        &mut self,
        parent: Option<&Value>,
        path: &str,
        key: &str,
        required: bool,
    ) -> Option<DateTime<Utc>> {
        let text = self.text(parent, path, key, 40, required)?;
        match instant(&join(path, key), &text) {
            Ok(t) => Some(t),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    /// `end` must come after `start`; the end field is named.
    pub(super) fn after(
        &mut self,
        start: Option<DateTime<Utc>>,
        start_field: &str,
        end: Option<DateTime<Utc>>,
        end_field: &str,
    ) {
        if let (Some(s), Some(e)) = (start, end) {
            if e <= s {
                self.bad(end_field, format!("must be after {start_field}"));
            }
        }
    }

    /// Opens a published request's body: it must be a JSON object, else the request is
    /// refused as a whole.
    pub(super) fn open(root: &'a Value) -> Result<Self, Vec<RecordErrorWire>> {
        if root.is_object() {
            Ok(Fields::new(root))
        } else {
            Err(vec![RecordErrorWire {
                field: "body".into(),
                message: "must be a JSON object".into(),
            }])
        }
    }

    /// [`Fields::open`] and the optional `transactionId` every published request may carry
    /// (≤ 120); a bad one is already among the errors.
    pub(super) fn open_root(
        root: &'a Value,
    ) -> Result<(Self, Option<String>), Vec<RecordErrorWire>> {
        let mut f = Fields::open(root)?;
        let top = Some(root);
        let transaction_id = f.text(top, "", "transactionId", MAX_TRANSACTION_ID_CHARS, false);
        Ok((f, transaction_id))
    }

    /// `value` read from `field`, which the document requires: a missing one is named
    /// (one already refused for its form is not named twice).
    pub(super) fn required(&mut self, value: Option<String>, field: &str) -> Option<String> {
        if value.is_none() && !self.errors.iter().any(|e| e.field == field) {
            self.bad(field, "is required");
        }
        value
    }
}

/// The inbox message id of one GridFlex message a published request becomes: the
/// request's `transactionId` when it has one, otherwise its body, hashed with the sender
/// (two clients may pick the same transaction id), the path and the part (a program event)
/// the message is for. A resend is the same message.
pub fn message_id(sender: &str, kind: &str, request_key: &str, part: &str) -> String {
    let mut h = Sha256::new();
    h.update(sender.as_bytes());
    h.update([0]);
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(request_key.as_bytes());
    h.update([0]);
    h.update(part.as_bytes());
    format!("published-{kind}-{}", hex::encode(h.finalize()))
}

/// The published acknowledgement of a request with records: one answer per record
/// (`id` names it: a device `headEndSystem/nicId`, a program event), `ackType` `SUCCESS`
/// when every record was applied, `ERROR` when one was refused, `FAILURE` when GridFlex
/// could not read the request or failed itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordAck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    pub ack_type: String,
    #[serde(rename = "whenISO")]
    pub when_iso: DateTime<Utc>,
    pub collection: Vec<RecordAckItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordAckItem {
    pub id: String,
    /// `SUCCESS`, `ERROR` or `FAILURE`.
    pub response_code: String,
    pub message: String,
    #[serde(default)]
    pub errors: Vec<RecordErrorWire>,
}

impl RecordAckItem {
    pub fn success(id: impl Into<String>, message: impl Into<String>) -> Self {
        RecordAckItem {
            id: id.into(),
            response_code: ACK_SUCCESS.into(),
            message: message.into(),
            errors: Vec::new(),
        }
    }

    /// A refused record; its message lists every bad field.
    pub fn error(id: impl Into<String>, errors: Vec<RecordErrorWire>) -> Self {
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        RecordAckItem {
            id: id.into(),
            response_code: ACK_ERROR.into(),
            message: format!("bad fields: {}", fields.join(", ")),
            errors,
        }
    }
}

impl RecordAck {
    /// `SUCCESS` when every item succeeded, else `ERROR`.
    pub fn of(
        transaction_id: Option<String>,
        now: DateTime<Utc>,
        items: Vec<RecordAckItem>,
    ) -> Self {
        let ok = items.iter().all(|i| i.response_code == ACK_SUCCESS);
        RecordAck {
            transaction_id,
            ack_type: if ok { ACK_SUCCESS } else { ACK_ERROR }.into(),
            when_iso: now,
            collection: items,
        }
    }

    pub fn failure(transaction_id: Option<String>, now: DateTime<Utc>, message: String) -> Self {
        RecordAck {
            transaction_id,
            ack_type: ACK_FAILURE.into(),
            when_iso: now,
            collection: vec![RecordAckItem {
                id: "request".into(),
                response_code: ACK_FAILURE.into(),
                message,
                errors: Vec::new(),
            }],
        }
    }

    /// True when at least one record was applied.
    pub fn any_applied(&self) -> bool {
        self.collection
            .iter()
            .any(|i| i.response_code == ACK_SUCCESS)
    }
}

/// The id a device record is answered under.
pub fn device_id(head_end: &str, nic_id: &str) -> String {
    format!("{head_end}/{nic_id}")
}
