//! The grid's acknowledgements in the published shape, posted to the program side on their
//! own: flow 2's (`…/programEnrollments/postAcknowledgement`: the message-level ack and,
//! per device, the head-end registration `Registered` / `De-registered`) and flow 3's
//! (`…/controllableDeviceStatus/response`: per device `Online` / `Offline`, answering the
//! request's `dacsMessageId`). Each becomes the acknowledgement GridFlex's own flow carries.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::common::{device_id, RecordAckItem, MAX_HEAD_END_CHARS, MAX_NIC_ID_CHARS};
use super::enroll::{Fields, ACK_ERROR, ACK_FAILURE, ACK_SUCCESS, MAX_TRANSACTION_ID_CHARS};
use crate::integration::wire::check::{item, join};
use crate::integration::wire::RecordErrorWire;

/// The published registration statuses and whether each means registered.
pub const REGISTRATION_STATUSES: [(&str, bool); 2] =
    [("Registered", true), ("De-registered", false)];
/// The published communication statuses and GridFlex's code for each.
pub const COMMUNICATION_STATUSES: [(&str, &str); 2] =
    [("Online", "ONLINE"), ("Offline", "OFFLINE")];
/// The longest message an acknowledgement may carry.
pub const MAX_ACK_MESSAGE_CHARS: usize = 254;

/// The root a device's own checks start from (each device is a record of its own).
static NO_ROOT: Value = Value::Null;

fn ack_types() -> [&'static str; 3] {
    [ACK_SUCCESS, ACK_ERROR, ACK_FAILURE]
}

/// The device list of an acknowledgement, each entry read by `read` on its own.
fn devices<T>(
    f: &mut Fields<'_>,
    root: &Value,
    mut read: impl FnMut(&Value, &str) -> Result<T, RecordAckItem>,
) -> Vec<Result<T, RecordAckItem>> {
    match root.get("deviceList") {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(index, entry)| read(entry, &item("deviceList", index)))
            .collect(),
        None | Some(Value::Null) => {
            f.bad("deviceList", "is required");
            Vec::new()
        }
        Some(_) => {
            f.bad("deviceList", "must be a list");
            Vec::new()
        }
    }
}

/// A device entry's fields: its head-end key and status code (each `None` when bad, the
/// reason in the returned checker, which the caller goes on filling).
type DeviceFields = (
    Option<String>,
    Option<String>,
    Option<String>,
    Fields<'static>,
);

fn device_status(
    entry: &Value,
    path: &str,
    key: &str,
    allowed: &[&str],
) -> Result<DeviceFields, RecordAckItem> {
    let mut f = Fields::new(&NO_ROOT);
    if !entry.is_object() {
        f.bad(path, "must be an object");
        return Err(RecordAckItem::error(path, f.errors));
    }
    let one = Some(entry);
    let head_end = f.text(one, path, "headEndSystem", MAX_HEAD_END_CHARS, true);
    let nic_id = f
        .text(one, path, "nicId", MAX_NIC_ID_CHARS, true)
        .map(|n| n.to_uppercase());
    let status = f.code(one, path, key, allowed);
    Ok((head_end, nic_id, status, f))
}

/// The device's key and status when every field of it was good, else its answer naming
/// every bad field.
fn checked(
    entry: &Value,
    path: &str,
    fields: DeviceFields,
) -> Result<(String, String, String), RecordAckItem> {
    match fields {
        (Some(h), Some(n), Some(s), f) if f.errors.is_empty() => Ok((h, n, s)),
        (_, _, _, f) => {
            let id = match (entry["headEndSystem"].as_str(), entry["nicId"].as_str()) {
                (Some(h), Some(n)) => device_id(h, &n.trim().to_uppercase()),
                _ => path.to_owned(),
            };
            Err(RecordAckItem::error(id, f.errors))
        }
    }
}

/// One device's registration as the grid reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedRegistration {
    pub head_end_system: String,
    pub nic_id: String,
    pub registered: bool,
    pub message: Option<String>,
}

/// `POST …/programEnrollments/postAcknowledgement`.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationAckDocument {
    /// The enrollment sync acknowledged.
    pub transaction_id: String,
    pub ack_type: String,
    pub when: Option<DateTime<Utc>>,
    pub message: Option<String>,
    pub devices: Vec<Result<PublishedRegistration, RecordAckItem>>,
}

impl RegistrationAckDocument {
    /// `Err` when the message-level fields are bad: nothing is applied.
    pub fn parse(root: &Value) -> Result<Self, Vec<RecordErrorWire>> {
        let (mut f, transaction_id) = Fields::open_root(root)?;
        let top = Some(root);
        let transaction_id = f.required(transaction_id, "transactionId");
        let ack_type = f.code(top, "", "ackType", &ack_types());
        let when = f.instant(top, "", "whenISO", false);
        let message = f.text(top, "", "message", MAX_ACK_MESSAGE_CHARS, false);
        let codes: Vec<&str> = REGISTRATION_STATUSES.iter().map(|(c, _)| *c).collect();
        let devices = devices(&mut f, root, |entry, path| {
            let mut fields = device_status(entry, path, "registrationStatus", &codes)?;
            let message = fields
                .3
                .text(Some(entry), path, "message", MAX_ACK_MESSAGE_CHARS, false);
            let (h, n, s) = checked(entry, path, fields)?;
            Ok(PublishedRegistration {
                registered: REGISTRATION_STATUSES.iter().any(|(c, r)| *c == s && *r),
                head_end_system: h,
                nic_id: n,
                message,
            })
        });
        match (transaction_id, ack_type) {
            (Some(transaction_id), Some(ack_type)) if f.errors.is_empty() => {
                Ok(RegistrationAckDocument {
                    transaction_id,
                    ack_type,
                    when,
                    message,
                    devices,
                })
            }
            _ => Err(f.errors),
        }
    }

    /// GridFlex's flow 2 acknowledgement of the readable devices.
    pub fn to_gridflex_ack(&self) -> Value {
        let list: Vec<Value> = self
            .devices
            .iter()
            .flatten()
            .map(|d| {
                json!({
                    "headEndSystem": d.head_end_system,
                    "nicId": d.nic_id,
                    "registrationStatus": if d.registered { "REGISTERED" } else { "NOT_REGISTERED" },
                    "reason": d.message,
                })
            })
            .collect();
        json!({"transactionId": self.transaction_id, "ackType": self.ack_type, "deviceList": list})
    }
}

/// One device's communication status as the grid reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedCommunication {
    pub head_end_system: String,
    pub nic_id: String,
    /// GridFlex's code: `ONLINE` or `OFFLINE`.
    pub status: String,
    pub last_communication: Option<DateTime<Utc>>,
}

/// `POST …/controllableDeviceStatus/response`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceStatusResponseDocument {
    /// The device status check answered.
    pub dacs_message_id: String,
    pub ack_type: Option<String>,
    pub devices: Vec<Result<PublishedCommunication, RecordAckItem>>,
}

impl DeviceStatusResponseDocument {
    pub fn parse(root: &Value) -> Result<Self, Vec<RecordErrorWire>> {
        // The answer names the request by its `dacsMessageId`, not a `transactionId`.
        let mut f = Fields::open(root)?;
        let top = Some(root);
        let dacs_message_id = f.text(top, "", "dacsMessageId", MAX_TRANSACTION_ID_CHARS, true);
        let ack_type = if root.get("ackType").is_some_and(|v| !v.is_null()) {
            f.code(top, "", "ackType", &ack_types())
        } else {
            None
        };
        f.instant(top, "", "whenISO", false);
        let codes: Vec<&str> = COMMUNICATION_STATUSES.iter().map(|(c, _)| *c).collect();
        let devices = devices(&mut f, root, |entry, path| {
            let mut fields = device_status(entry, path, "communicationStatus", &codes)?;
            let last = fields
                .3
                .instant(Some(entry), path, "lastCommunicationDateTime", false);
            let (h, n, s) = checked(entry, path, fields)?;
            let status = COMMUNICATION_STATUSES
                .iter()
                .find(|(c, _)| *c == s)
                .map_or("OFFLINE", |(_, g)| *g);
            Ok(PublishedCommunication {
                head_end_system: h,
                nic_id: n,
                status: status.to_owned(),
                last_communication: last,
            })
        });
        match dacs_message_id {
            Some(dacs_message_id) if f.errors.is_empty() => Ok(DeviceStatusResponseDocument {
                dacs_message_id,
                ack_type,
                devices,
            }),
            _ => Err(f.errors),
        }
    }

    /// GridFlex's flow 3 acknowledgement of the readable devices.
    pub fn to_gridflex_ack(&self) -> Value {
        let list: Vec<Value> = self
            .devices
            .iter()
            .flatten()
            .map(|d| {
                json!({
                    "headEndSystem": d.head_end_system,
                    "nicId": d.nic_id,
                    "status": d.status,
                    "lastSeen": d.last_communication,
                })
            })
            .collect();
        json!({"transactionId": self.dacs_message_id, "deviceList": list})
    }
}

/// The answers of a posted acknowledgement: per device, in the request's order — a
/// readable device the program side does not know is an error naming its `nicId`.
pub fn device_answers<T>(
    devices: &[Result<T, RecordAckItem>],
    key: impl Fn(&T) -> (String, String),
    known: &[bool],
    done: &str,
) -> Vec<RecordAckItem> {
    let mut known = known.iter();
    devices
        .iter()
        .enumerate()
        .map(|(index, d)| match d {
            Err(item) => item.clone(),
            Ok(d) => {
                let (h, n) = key(d);
                if *known.next().unwrap_or(&true) {
                    RecordAckItem::success(device_id(&h, &n), done)
                } else {
                    RecordAckItem::error(
                        device_id(&h, &n),
                        vec![RecordErrorWire {
                            field: join(&item("deviceList", index), "nicId"),
                            message: format!(
                                "the program side has no device {}",
                                device_id(&h, &n)
                            ),
                        }],
                    )
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::wire::{decode_value, DeviceStatusAck, EnrollmentSyncAck};

    #[test]
    fn a_registration_ack_becomes_gridflex_s_flow_2_acknowledgement() {
        let doc = RegistrationAckDocument::parse(&json!({
            "transactionId": "SYNC-1", "ackType": "SUCCESS", "whenISO": "2026-07-01T14:00:00-05:00",
            "deviceList": [
                {"headEndSystem": "ECOBEE", "nicId": "N1", "registrationStatus": "Registered"},
                {"headEndSystem": "ECOBEE", "nicId": "N2", "registrationStatus": "De-registered", "message": "unenrolled"},
                {"headEndSystem": "ECOBEE", "nicId": "N3", "registrationStatus": "REGISTERED"}
            ]
        }))
        .unwrap();
        let bad = doc.devices[2].as_ref().unwrap_err();
        assert_eq!(bad.errors[0].field, "deviceList[2].registrationStatus");
        assert!(bad.errors[0].message.contains("Registered, De-registered"));
        let ack = doc.to_gridflex_ack();
        assert_eq!(ack["deviceList"].as_array().unwrap().len(), 2);
        assert_eq!(ack["deviceList"][1]["registrationStatus"], "NOT_REGISTERED");
        let mut gridflex = ack.clone();
        gridflex.as_object_mut().unwrap().remove("ackType");
        gridflex["enrollmentId"] = json!(1);
        let _: EnrollmentSyncAck = serde_json::from_value(gridflex).unwrap();
    }

    #[test]
    fn message_level_fields_are_named_every_one() {
        let errors = RegistrationAckDocument::parse(
            &json!({"ackType": "OK", "whenISO": "2026-07-01T14:00"}),
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["transactionId", "ackType", "whenISO", "deviceList"]
        );
    }

    #[test]
    fn a_device_status_response_answers_the_request_s_dacs_message_id() {
        let doc = DeviceStatusResponseDocument::parse(&json!({
            "dacsMessageId": "CHECK-1",
            "deviceList": [
                {"headEndSystem": "ECOBEE", "nicId": "N1", "communicationStatus": "Online",
                 "lastCommunicationDateTime": "2026-07-01T14:00:00-05:00"},
                {"headEndSystem": "ECOBEE", "nicId": "N2", "communicationStatus": "Offline"},
                {"headEndSystem": "ECOBEE", "nicId": "N3", "communicationStatus": "Asleep"}
            ]
        }))
        .unwrap();
        let ack: DeviceStatusAck = decode_value(&doc.to_gridflex_ack()).unwrap();
        assert_eq!(ack.transaction_id, "CHECK-1");
        assert_eq!(ack.device_list.len(), 2);
        assert!(doc.devices[2].is_err());
    }
}
