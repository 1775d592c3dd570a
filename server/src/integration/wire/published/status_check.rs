//! The grid side's published device status check (flow 3 request): the program side asks
//! by `dacsMessageId` after the devices in `deviceInfo` and is answered at once with a
//! published `MsgAck` (one response per device); the statuses follow later on the program
//! side's `…/controllableDeviceStatus/response`.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::common::{device_id, RecordAckItem, MAX_HEAD_END_CHARS, MAX_NIC_ID_CHARS};
use super::enroll::{Fields, ACK_ERROR, ACK_SUCCESS, MAX_TRANSACTION_ID_CHARS};
use crate::integration::wire::check::{item, join, MAX_ID_CHARS};
use crate::integration::wire::device::check_nic_id;
use crate::integration::wire::RecordErrorWire;

/// One device the program side asks after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedDevice {
    pub head_end_system: String,
    pub nic_id: String,
    pub division: Option<String>,
    pub device_type: Option<String>,
    pub specification: Option<String>,
}

/// `POST` [`super::STATUS_CHECK_PATH`]: `dacsMessageId` and `deviceInfo` — one device (an
/// object) or several (a list of them).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusCheckDocument {
    pub dacs_message_id: String,
    /// One per device, in order: the device or its answer naming every bad field.
    pub devices: Vec<Result<CheckedDevice, RecordAckItem>>,
}

impl StatusCheckDocument {
    /// `Err` when the request itself is bad (`dacsMessageId`, no `deviceInfo`).
    pub fn parse(root: &Value) -> Result<Self, Vec<RecordErrorWire>> {
        let mut f = Fields::open(root)?;
        let top = Some(root);
        let dacs = f.text(top, "", "dacsMessageId", MAX_TRANSACTION_ID_CHARS, true);
        let entries: Vec<(String, &Value)> = match root.get("deviceInfo") {
            Some(Value::Array(list)) if !list.is_empty() => list
                .iter()
                .enumerate()
                .map(|(i, e)| (item("deviceInfo", i), e))
                .collect(),
            Some(Value::Array(_)) => {
                f.bad("deviceInfo", "lists no device");
                Vec::new()
            }
            Some(v @ Value::Object(_)) => vec![("deviceInfo".to_owned(), v)],
            None | Some(Value::Null) => {
                f.bad("deviceInfo", "is required");
                Vec::new()
            }
            Some(_) => {
                f.bad("deviceInfo", "must be an object (or a list of them)");
                Vec::new()
            }
        };
        let Some(dacs_message_id) = dacs.filter(|_| f.errors.is_empty()) else {
            return Err(f.errors);
        };
        let mut seen = HashSet::new();
        let devices = entries
            .into_iter()
            .map(|(path, entry)| {
                let device = device(entry, &path)?;
                if !seen.insert((device.head_end_system.clone(), device.nic_id.clone())) {
                    return Err(RecordAckItem::error(
                        device_id(&device.head_end_system, &device.nic_id),
                        vec![RecordErrorWire {
                            field: join(&path, "nicid"),
                            message: "this device is already listed".into(),
                        }],
                    ));
                }
                Ok(device)
            })
            .collect();
        Ok(StatusCheckDocument {
            dacs_message_id,
            devices,
        })
    }

    /// GridFlex's own flow 3 message for the readable devices (`None` when there is none).
    pub fn to_gridflex_check(&self) -> Option<Value> {
        let list: Vec<Value> = self
            .devices
            .iter()
            .flatten()
            .map(|d| json!({"headEndSystem": d.head_end_system, "nicId": d.nic_id}))
            .collect();
        (!list.is_empty())
            .then(|| json!({"transactionId": self.dacs_message_id, "deviceList": list}))
    }

    /// One answer per device, in order: a readable device gets `done` (or `refused`, the
    /// reason the whole check was refused for), a bad one its errors.
    pub fn answers(&self, done: &str, refused: Option<&RecordErrorWire>) -> Vec<RecordAckItem> {
        self.devices
            .iter()
            .map(|d| match (d, refused) {
                (Err(item), _) => item.clone(),
                (Ok(d), None) => {
                    RecordAckItem::success(device_id(&d.head_end_system, &d.nic_id), done)
                }
                (Ok(d), Some(why)) => RecordAckItem::error(
                    device_id(&d.head_end_system, &d.nic_id),
                    vec![why.clone()],
                ),
            })
            .collect()
    }
}

/// A device entry at `path`, every bad field named by its published path.
fn device(entry: &Value, path: &str) -> Result<CheckedDevice, RecordAckItem> {
    let mut f = Fields::new(entry);
    if !entry.is_object() {
        f.bad(path, "must be an object");
        return Err(RecordAckItem::error(path, f.errors));
    }
    let one = Some(entry);
    let division = f.text(one, path, "division", MAX_ID_CHARS, false);
    let device_type = f.text(one, path, "deviceType", MAX_ID_CHARS, false);
    let specification = f.text(one, path, "specification", MAX_ID_CHARS, false);
    let head_end = f.text(one, path, "headEndSystem", MAX_HEAD_END_CHARS, true);
    let nic_field = join(path, "nicid");
    let nic = f.text(one, path, "nicid", MAX_NIC_ID_CHARS, true);
    // GridFlex keeps NIC ids up to 64 characters, upper case.
    let nic = f.then(nic, |n| check_nic_id(&nic_field, n));
    match (head_end, nic) {
        (Some(head_end_system), Some(nic_id)) if f.errors.is_empty() => Ok(CheckedDevice {
            head_end_system,
            nic_id,
            division,
            device_type,
            specification,
        }),
        _ => {
            let id = match (entry["headEndSystem"].as_str(), entry["nicid"].as_str()) {
                (Some(h), Some(n)) => device_id(h, &n.trim().to_uppercase()),
                _ => path.to_owned(),
            };
            Err(RecordAckItem::error(id, f.errors))
        }
    }
}

/// The published acknowledgement of a device status check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MsgAck {
    pub responses: Vec<MsgAckResponse>,
    /// `SUCCESS` (every device taken), `ERROR` (a device refused) or `FAILURE` (the request
    /// unreadable, or GridFlex's own fault).
    pub ack_type: String,
    #[serde(rename = "whenISO")]
    pub when_iso: DateTime<Utc>,
}

/// One device's answer: `id` the device (`headEndSystem/nicid`, or its place in the
/// request when unreadable), `value` what became of it — for an `ERROR`, every bad field by
/// its published path, also listed in `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MsgAckResponse {
    pub value: String,
    pub id: String,
    pub response_code: String,
    #[serde(rename = "responseTimeISO")]
    pub response_time_iso: DateTime<Utc>,
    pub dacs_message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<RecordErrorWire>,
}

impl MsgAck {
    /// `SUCCESS` when every item succeeded, else `ERROR` (or `FAILURE` when an item is one).
    pub fn of(
        dacs_message_id: Option<String>,
        now: DateTime<Utc>,
        items: Vec<RecordAckItem>,
    ) -> Self {
        let ack_type = if items.iter().all(|i| i.response_code == ACK_SUCCESS) {
            ACK_SUCCESS
        } else if items.iter().any(|i| i.response_code == ACK_ERROR) {
            ACK_ERROR
        } else {
            super::ACK_FAILURE
        };
        let responses = items
            .into_iter()
            .map(|i| MsgAckResponse {
                value: if i.errors.is_empty() {
                    i.message
                } else {
                    i.errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                },
                id: i.id,
                response_code: i.response_code,
                response_time_iso: now,
                dacs_message_id: dacs_message_id.clone(),
                errors: i.errors,
            })
            .collect();
        MsgAck {
            responses,
            ack_type: ack_type.into(),
            when_iso: now,
        }
    }

    /// True when at least one device was taken.
    pub fn any_taken(&self) -> bool {
        self.responses
            .iter()
            .any(|r| r.response_code == ACK_SUCCESS)
    }
}

/// The grid side's later answer in the published shape (`…/controllableDeviceStatus/response`),
/// from GridFlex's own flow 3 acknowledgement `ack` (`transactionId` = the `dacsMessageId`,
/// `answeredAt` when the grid looked): `ONLINE` is `Online`, anything else `Offline`.
pub fn status_response(ack: &Value) -> Value {
    let devices: Vec<Value> = ack["deviceList"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let mut one = json!({
                "headEndSystem": d["headEndSystem"],
                "nicId": d["nicId"],
                "communicationStatus": if d["status"] == "ONLINE" { "Online" } else { "Offline" },
            });
            if !d["lastSeen"].is_null() {
                one["lastCommunicationDateTime"] = d["lastSeen"].clone();
            }
            one
        })
        .collect();
    json!({
        "dacsMessageId": ack["transactionId"],
        "ackType": ACK_SUCCESS,
        "whenISO": ack["answeredAt"],
        "deviceList": devices,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::wire::published::DeviceStatusResponseDocument;

    fn fields(item: &RecordAckItem) -> Vec<&str> {
        item.errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn one_device_becomes_gridflex_s_flow_3_check() {
        let doc = StatusCheckDocument::parse(&json!({"dacsMessageId": "D-1",
            "deviceInfo": {"division": "NORTH", "deviceType": "THERMOSTAT", "specification": "ecobee3 lite",
                           "headEndSystem": "ECOBEE", "nicid": "a1b2"}}))
        .unwrap();
        let device = doc.devices[0].as_ref().unwrap();
        assert_eq!(device.division.as_deref(), Some("NORTH"));
        assert_eq!(
            doc.to_gridflex_check().unwrap(),
            json!({"transactionId": "D-1", "deviceList": [{"headEndSystem": "ECOBEE", "nicId": "A1B2"}]})
        );
    }

    #[test]
    fn every_bad_field_of_a_device_is_named_by_its_published_path_and_the_device_answered_alone() {
        let doc = StatusCheckDocument::parse(&json!({"dacsMessageId": "D-2", "deviceInfo": [
            {"headEndSystem": "ECOBEE", "nicid": "N1"},
            {"headEndSystem": "H".repeat(51), "division": 7, "specification": "s".repeat(65)},
            {"headEndSystem": "ECOBEE", "nicid": "n1"}]}))
        .unwrap();
        assert!(doc.devices[0].is_ok());
        let bad = doc.devices[1].as_ref().unwrap_err();
        assert_eq!(
            fields(bad),
            [
                "deviceInfo[1].specification",
                "deviceInfo[1].headEndSystem",
                "deviceInfo[1].nicid"
            ]
        );
        let again = doc.devices[2].as_ref().unwrap_err();
        assert_eq!(fields(again), ["deviceInfo[2].nicid"]);
        let ack = MsgAck::of(
            Some("D-2".into()),
            chrono::Utc::now(),
            doc.answers("taken", None),
        );
        assert_eq!(ack.ack_type, "ERROR");
        assert_eq!(ack.responses[0].response_code, "SUCCESS");
        assert_eq!(ack.responses[1].response_code, "ERROR");
        assert!(ack.responses[1]
            .value
            .contains("deviceInfo[1].nicid: is required"));
    }

    #[test]
    fn the_request_s_own_fields_are_named_every_one() {
        let errors = StatusCheckDocument::parse(&json!({"deviceInfo": "ECOBEE"})).unwrap_err();
        let named: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(named, ["dacsMessageId", "deviceInfo"]);
    }

    #[test]
    fn the_later_answer_is_a_response_the_published_program_side_accepts() {
        let body = status_response(
            &json!({"transactionId": "D-3", "answeredAt": "2026-07-01T19:00:00Z",
            "deviceList": [{"headEndSystem": "ECOBEE", "nicId": "N1", "status": "ONLINE", "lastSeen": "2026-07-01T18:00:00Z"},
                           {"headEndSystem": "ECOBEE", "nicId": "N2", "status": "UNKNOWN", "lastSeen": null}]}),
        );
        let doc = DeviceStatusResponseDocument::parse(&body).unwrap();
        assert_eq!(doc.dacs_message_id, "D-3");
        let statuses: Vec<&str> = doc
            .devices
            .iter()
            .map(|d| d.as_ref().unwrap().status.as_str())
            .collect();
        assert_eq!(statuses, ["ONLINE", "OFFLINE"]);
    }
}
