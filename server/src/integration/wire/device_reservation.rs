//! Flow 5, event device reservation (grid → programs): the devices a stage counts on; the CSV form is in `csv.rs`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::check::{check_after, check_enrollment_id, check_id, check_non_empty, item, join};
use super::device::{check_device_keys, check_expected_kw, check_nic_id};
use super::{Flow, Outbound, RecordError, Validate};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceReservation {
    pub event_external_identifier: String,
    pub external_identifier: String,
    pub program_code: String,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub device_list: Vec<ReservedDevice>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservedDevice {
    pub head_end_system: String,
    pub nic_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_id: Option<i64>,
    pub expected_kw: f64,
}

impl ReservedDevice {
    /// Every problem of the device, so a file import can list them all.
    pub(super) fn problems(&self, prefix: &str) -> Vec<RecordError> {
        let mut problems = Vec::new();
        problems.extend(check_id(&join(prefix, "headEndSystem"), &self.head_end_system).err());
        problems.extend(check_nic_id(&join(prefix, "nicId"), &self.nic_id).err());
        if let Some(id) = self.enrollment_id {
            problems.extend(check_enrollment_id(&join(prefix, "enrollmentId"), id).err());
        }
        problems.extend(check_expected_kw(&join(prefix, "expectedKw"), self.expected_kw).err());
        problems
    }
}

impl Outbound for DeviceReservation {
    const FLOW: Flow = Flow::DeviceReservation;
}

impl Validate for DeviceReservation {
    fn validate(&self) -> Result<(), RecordError> {
        self.check()
            .map_err(|err| err.identify(&self.external_identifier))
    }
}

impl DeviceReservation {
    fn check(&self) -> Result<(), RecordError> {
        check_id("eventExternalIdentifier", &self.event_external_identifier)?;
        check_id("externalIdentifier", &self.external_identifier)?;
        check_id("programCode", &self.program_code)?;
        check_after("startTime", &self.start_time, "endTime", &self.end_time)?;
        check_non_empty("deviceList", &self.device_list, "device")?;
        for (index, device) in self.device_list.iter().enumerate() {
            if let Some(problem) = device
                .problems(&item("deviceList", index))
                .into_iter()
                .next()
            {
                return Err(problem);
            }
        }
        check_device_keys(
            "deviceList",
            self.device_list
                .iter()
                .map(|d| (d.head_end_system.as_str(), d.nic_id.as_str())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::wire::fixtures::*;
    use serde_json::{json, Value};

    fn reservation() -> Value {
        json!({
            "eventExternalIdentifier": "EV-1",
            "externalIdentifier": "EV-1-S1",
            "programCode": "SUMMER-SAVER",
            "startTime": "2024-07-01T15:00:00Z",
            "endTime": "2024-07-01T17:00:00Z",
            "deviceList": [
                { "headEndSystem": "ECOBEE", "nicId": "N1", "enrollmentId": 42, "expectedKw": 1.5 },
                { "headEndSystem": "ECOBEE", "nicId": "N2", "expectedKw": 0.75 }
            ]
        })
    }

    #[test]
    fn device_reservation_json_keeps_the_public_field_names() {
        let parsed: DeviceReservation = assert_round_trips(&reservation());
        parsed.validate().unwrap();
        let back = serde_json::to_value(&parsed).unwrap();
        assert_eq!(back.pointer("/deviceList/0/expectedKw"), Some(&json!(1.5)));
        assert_eq!(
            back.pointer("/eventExternalIdentifier"),
            Some(&json!("EV-1"))
        );
    }

    #[test]
    fn a_reservation_with_a_negative_expected_kw_is_refused() {
        let mut value = reservation();
        value["deviceList"][1]["expectedKw"] = json!(-2.0);
        assert_eq!(
            invalid::<DeviceReservation>(&value).field,
            "deviceList[1].expectedKw"
        );
    }
}
