//! Flow 3, device status check (programs → grid): which devices to look at, and whether each is online.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::check::{check_id, check_non_empty};
use super::code::wire_code;
use super::device::{check_device_keys, DeviceKey};
use super::{Flow, Outbound, RecordError, Validate};

wire_code! {
    /// Whether the head-end can reach a device (flow 3 acknowledgement).
    pub enum ConnectionStatus {
        Online = "ONLINE",
        Offline = "OFFLINE",
        Unknown = "UNKNOWN",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceStatusCheck {
    pub transaction_id: String,
    pub device_list: Vec<DeviceKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceStatusAck {
    pub transaction_id: String,
    pub device_list: Vec<DeviceConnection>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceConnection {
    pub head_end_system: String,
    pub nic_id: String,
    pub status: ConnectionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
}

impl Outbound for DeviceStatusCheck {
    const FLOW: Flow = Flow::DeviceStatusCheck;
}

impl Validate for DeviceStatusCheck {
    fn validate(&self) -> Result<(), RecordError> {
        check_id("transactionId", &self.transaction_id)
            .and_then(|_| check_non_empty("deviceList", &self.device_list, "device"))
            .and_then(|()| {
                check_device_keys(
                    "deviceList",
                    self.device_list
                        .iter()
                        .map(|d| (d.head_end_system.as_str(), d.nic_id.as_str())),
                )
            })
            .map_err(|err| err.identify(&self.transaction_id))
    }
}

impl Validate for DeviceStatusAck {
    fn validate(&self) -> Result<(), RecordError> {
        check_id("transactionId", &self.transaction_id)
            .and_then(|_| {
                check_device_keys(
                    "deviceList",
                    self.device_list
                        .iter()
                        .map(|d| (d.head_end_system.as_str(), d.nic_id.as_str())),
                )
            })
            .map_err(|err| err.identify(&self.transaction_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::wire::fixtures::*;
    use serde_json::json;

    #[test]
    fn device_status_json_keeps_the_public_field_names() {
        let check = json!({ "transactionId": "TX-3", "deviceList": [{ "headEndSystem": "ECOBEE", "nicId": "N1" }] });
        assert_round_trips::<DeviceStatusCheck>(&check)
            .validate()
            .unwrap();
        let ack = json!({
            "transactionId": "TX-3",
            "deviceList": [
                { "headEndSystem": "ECOBEE", "nicId": "N1", "status": "ONLINE", "lastSeen": "2024-07-01T15:00:00Z" },
                { "headEndSystem": "ECOBEE", "nicId": "N2", "status": "UNKNOWN" }
            ]
        });
        let ack: DeviceStatusAck = assert_round_trips(&ack);
        assert_eq!(
            ack.device_list[0].last_seen,
            Some(time("2024-07-01T15:00:00Z"))
        );
    }

    #[test]
    fn a_status_check_listing_a_device_twice_is_refused() {
        let check = json!({ "transactionId": "TX-3", "deviceList": [
            { "headEndSystem": "ECOBEE", "nicId": "n1" }, { "headEndSystem": "ECOBEE", "nicId": "N1" }
        ] });
        assert_eq!(
            invalid::<DeviceStatusCheck>(&check).field,
            "deviceList[1].nicId"
        );
    }
}
