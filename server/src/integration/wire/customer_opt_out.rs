//! Flow 7, customer opt-out (programs → grid): a device leaves one upcoming event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::check::check_id;
use super::device::check_device_key;
use super::{Flow, Outbound, RecordError, Validate};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerOptOut {
    pub transaction_id: String,
    pub event_external_identifier: String,
    pub head_end_system: String,
    pub nic_id: String,
    pub requested_at: DateTime<Utc>,
}

impl Outbound for CustomerOptOut {
    const FLOW: Flow = Flow::CustomerOptOut;
}

impl Validate for CustomerOptOut {
    fn validate(&self) -> Result<(), RecordError> {
        check_id("transactionId", &self.transaction_id)
            .and_then(|_| check_id("eventExternalIdentifier", &self.event_external_identifier))
            .and_then(|_| check_device_key("", &self.head_end_system, &self.nic_id))
            .map(drop)
            .map_err(|err| err.identify(&self.transaction_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::wire::fixtures::*;
    use serde_json::json;

    #[test]
    fn customer_opt_out_json_keeps_the_public_field_names() {
        let value = json!({
            "transactionId": "TX-7",
            "eventExternalIdentifier": "EV-1",
            "headEndSystem": "ECOBEE",
            "nicId": "N1",
            "requestedAt": "2024-07-01T12:00:00Z"
        });
        let opt_out: CustomerOptOut = assert_round_trips(&value);
        opt_out.validate().unwrap();
        let decoded: CustomerOptOut = decode_json(&value).unwrap();
        assert_eq!(decoded, opt_out);
    }
}
