//! Flow 8, customer unavailability (programs → grid): a window in which a device must not be reserved.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::check::{check_after, check_id, check_optional_text, MAX_REASON_CHARS};
use super::code::wire_code;
use super::device::check_device_key;
use super::{Flow, Outbound, RecordError, Validate};

wire_code! {
    /// Change to an unavailability window (flow 8).
    pub enum UnavailabilityAction {
        Add = "ADD",
        Change = "CHANGE",
        Cancel = "CANCEL",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerUnavailability {
    pub transaction_id: String,
    pub action: UnavailabilityAction,
    /// The program side's id of the window; `CHANGE` and `CANCEL` refer to it.
    pub window_id: String,
    pub head_end_system: String,
    pub nic_id: String,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    /// Required for `ADD` and `CHANGE`.
    #[serde(default)]
    pub reason: String,
}

impl Outbound for CustomerUnavailability {
    const FLOW: Flow = Flow::CustomerUnavailability;
}

impl Validate for CustomerUnavailability {
    fn validate(&self) -> Result<(), RecordError> {
        self.check()
            .map_err(|err| err.identify(&self.transaction_id))
    }
}

impl CustomerUnavailability {
    fn check(&self) -> Result<(), RecordError> {
        check_id("transactionId", &self.transaction_id)?;
        check_id("windowId", &self.window_id)?;
        check_device_key("", &self.head_end_system, &self.nic_id)?;
        let reason = check_optional_text("reason", Some(&self.reason), MAX_REASON_CHARS)?;
        match self.action {
            UnavailabilityAction::Add | UnavailabilityAction::Change => {
                check_after("startTime", &self.start_time, "endTime", &self.end_time)?;
                if reason.is_none() {
                    return Err(RecordError::new(
                        "reason",
                        format!(
                            "is required when action is {}; say why the device is unavailable",
                            self.action
                        ),
                    ));
                }
                Ok(())
            }
            // A cancelled window is identified by windowId; its times are not looked at.
            UnavailabilityAction::Cancel => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::wire::fixtures::*;
    use serde_json::{json, Value};

    fn unavailability() -> Value {
        json!({
            "transactionId": "TX-8",
            "action": "ADD",
            "windowId": "W-1",
            "headEndSystem": "ECOBEE",
            "nicId": "N1",
            "startTime": "2024-07-10T00:00:00Z",
            "endTime": "2024-07-20T00:00:00Z",
            "reason": "on holiday, house empty"
        })
    }

    #[test]
    fn customer_unavailability_json_keeps_the_public_field_names() {
        assert_round_trips::<CustomerUnavailability>(&unavailability())
            .validate()
            .unwrap();
    }

    #[test]
    fn an_unavailability_window_must_end_after_it_starts_unless_cancelled() {
        let mut value = unavailability();
        value["endTime"] = json!("2024-07-01T00:00:00Z");
        assert_eq!(invalid::<CustomerUnavailability>(&value).field, "endTime");
        value["action"] = json!("CANCEL");
        decode_json::<CustomerUnavailability>(&value).unwrap();
    }
}
