//! Flow 2, enrollment sync (programs → grid): enroll, unenroll or replace a device, and the per-device registration answer.

use serde::{Deserialize, Serialize};

use super::check::{
    check_enrollment_id, check_id, check_non_empty, check_optional_text, item, join, Seen,
    MAX_REASON_CHARS,
};
use super::code::wire_code;
use super::device::{check_device_key, check_nominal_kw, device_key, DeviceKey, DeviceType};
use super::{Flow, Outbound, RecordError, Validate};

wire_code! {
    /// What an enrollment sync asks the grid side to do (flow 2).
    pub enum SyncAction {
        Enroll = "ENROLL",
        Unenroll = "UNENROLL",
        ReplaceDevice = "REPLACE_DEVICE",
    }
}

wire_code! {
    /// Head-end registration of one device (flow 2 acknowledgement).
    pub enum RegistrationStatus {
        Registered = "REGISTERED",
        NotRegistered = "NOT_REGISTERED",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentSync {
    pub transaction_id: String,
    pub action: SyncAction,
    pub enrollment_id: i64,
    pub program_code: String,
    pub service_point_id: String,
    pub transformer_code: String,
    /// For `REPLACE_DEVICE`: the device(s) joining the subscription.
    pub device_list: Vec<SyncDevice>,
    /// For `REPLACE_DEVICE` only: the device leaving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_device: Option<DeviceKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncDevice {
    pub head_end_system: String,
    pub nic_id: String,
    pub device_type: DeviceType,
    pub nominal_kw: f64,
    /// The aggregator that controls the device (its `externalReference`, as flow 10 sends
    /// it); absent when no aggregator does. Its VEN receives the device's OpenADR events.
    #[serde(
        default,
        rename = "aggregatorExternalReference",
        skip_serializing_if = "Option::is_none"
    )]
    pub aggregator_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentSyncAck {
    pub transaction_id: String,
    pub enrollment_id: i64,
    pub device_list: Vec<DeviceRegistration>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceRegistration {
    pub head_end_system: String,
    pub nic_id: String,
    pub registration_status: RegistrationStatus,
    /// Required for `NOT_REGISTERED`: the program manager has to act on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Outbound for EnrollmentSync {
    const FLOW: Flow = Flow::EnrollmentSync;
}

impl Validate for EnrollmentSync {
    fn validate(&self) -> Result<(), RecordError> {
        self.check()
            .map_err(|err| err.identify(&self.transaction_id))
    }
}

impl EnrollmentSync {
    fn check(&self) -> Result<(), RecordError> {
        check_id("transactionId", &self.transaction_id)?;
        check_enrollment_id("enrollmentId", self.enrollment_id)?;
        check_id("programCode", &self.program_code)?;
        check_id("servicePointId", &self.service_point_id)?;
        check_id("transformerCode", &self.transformer_code)?;
        let mut seen = Seen::new();
        for (index, device) in self.device_list.iter().enumerate() {
            let prefix = item("deviceList", index);
            let key = check_device_key(&prefix, &device.head_end_system, &device.nic_id)?;
            check_nominal_kw(&join(&prefix, "nominalKw"), device.nominal_kw)?;
            if let Some(a) = &device.aggregator_ref {
                check_id(&join(&prefix, "aggregatorExternalReference"), a)?;
            }
            let what = format!("device {} {}", key.0, key.1);
            seen.check(key, index, "deviceList", join(&prefix, "nicId"), &what)?;
        }
        match (self.action, &self.replaced_device) {
            (SyncAction::Enroll, _) | (SyncAction::ReplaceDevice, _)
                if self.device_list.is_empty() =>
            {
                check_non_empty("deviceList", &self.device_list, "device")
            }
            (SyncAction::ReplaceDevice, None) => Err(RecordError::new(
                "replacedDevice",
                "is required when action is REPLACE_DEVICE; name the device leaving the enrollment",
            )),
            (SyncAction::ReplaceDevice, Some(old)) => {
                let old_key =
                    check_device_key("replacedDevice", &old.head_end_system, &old.nic_id)?;
                let rejoins = self
                    .device_list
                    .iter()
                    .any(|device| device_key(&device.head_end_system, &device.nic_id) == old_key);
                if rejoins {
                    Err(RecordError::new(
                        "replacedDevice",
                        "must not also be in deviceList; the replaced device leaves the enrollment",
                    ))
                } else {
                    Ok(())
                }
            }
            (SyncAction::Enroll | SyncAction::Unenroll, Some(_)) => Err(RecordError::new(
                "replacedDevice",
                format!(
                    "is only allowed when action is REPLACE_DEVICE (action is {})",
                    self.action
                ),
            )),
            (SyncAction::Enroll | SyncAction::Unenroll, None) => Ok(()),
        }
    }
}

impl Validate for EnrollmentSyncAck {
    fn validate(&self) -> Result<(), RecordError> {
        self.check()
            .map_err(|err| err.identify(&self.transaction_id))
    }
}

impl EnrollmentSyncAck {
    fn check(&self) -> Result<(), RecordError> {
        check_id("transactionId", &self.transaction_id)?;
        check_enrollment_id("enrollmentId", self.enrollment_id)?;
        let mut seen = Seen::new();
        for (index, device) in self.device_list.iter().enumerate() {
            let prefix = item("deviceList", index);
            let key = check_device_key(&prefix, &device.head_end_system, &device.nic_id)?;
            let reason = check_optional_text(
                &join(&prefix, "reason"),
                device.reason.as_deref(),
                MAX_REASON_CHARS,
            )?;
            if device.registration_status == RegistrationStatus::NotRegistered && reason.is_none() {
                return Err(RecordError::new(
                    join(&prefix, "reason"),
                    "is required when registrationStatus is NOT_REGISTERED; say why the head-end refused the device",
                ));
            }
            let what = format!("device {} {}", key.0, key.1);
            seen.check(key, index, "deviceList", join(&prefix, "nicId"), &what)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::wire::fixtures::*;
    use serde_json::{json, Value};

    fn enrollment_sync() -> Value {
        json!({
            "transactionId": "TX-2",
            "action": "REPLACE_DEVICE",
            "enrollmentId": 42,
            "programCode": "SUMMER-SAVER",
            "servicePointId": "SP-1",
            "transformerCode": "T-1",
            "deviceList": [
                { "headEndSystem": "ECOBEE", "nicId": "NEW1", "deviceType": "battery", "nominalKw": 5.0 }
            ],
            "replacedDevice": { "headEndSystem": "ECOBEE", "nicId": "OLD1" }
        })
    }

    #[test]
    fn enrollment_sync_json_keeps_the_public_field_names() {
        let sync: EnrollmentSync = assert_round_trips(&enrollment_sync());
        sync.validate().unwrap();
        let ack = json!({
            "transactionId": "TX-2",
            "enrollmentId": 42,
            "deviceList": [
                { "headEndSystem": "ECOBEE", "nicId": "NEW1", "registrationStatus": "REGISTERED" },
                { "headEndSystem": "ECOBEE", "nicId": "NEW2", "registrationStatus": "NOT_REGISTERED",
                  "reason": "unknown to the head-end" }
            ]
        });
        let ack: EnrollmentSyncAck = assert_round_trips(&ack);
        ack.validate().unwrap();
    }

    #[test]
    fn a_device_replacement_must_name_the_replaced_device() {
        let mut sync = enrollment_sync();
        sync.as_object_mut().unwrap().remove("replacedDevice");
        let err = invalid::<EnrollmentSync>(&sync);
        assert_eq!(err.field, "replacedDevice");
        assert_eq!(err.record_id.as_deref(), Some("TX-2"));
    }

    #[test]
    fn a_device_that_was_not_registered_must_say_why() {
        let ack = json!({
            "transactionId": "TX-2", "enrollmentId": 42,
            "deviceList": [{ "headEndSystem": "ECOBEE", "nicId": "N1", "registrationStatus": "NOT_REGISTERED" }]
        });
        assert_eq!(
            invalid::<EnrollmentSyncAck>(&ack).field,
            "deviceList[0].reason"
        );
    }
}
