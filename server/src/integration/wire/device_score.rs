//! Flow 12, device score (programs → grid): each device's control score after the daily run.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::check::{check_id, check_non_negative, item, join, Seen};
use super::device::check_device_key;
use super::{Flow, Outbound, RecordError, Validate};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceScoreBatch {
    pub transaction_id: String,
    pub scored_on: NaiveDate,
    pub scores: Vec<DeviceScore>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceScore {
    pub head_end_system: String,
    pub nic_id: String,
    pub program_code: String,
    /// Lower is cheaper; finite and at least 0.
    pub control_score: f64,
}

impl Outbound for DeviceScoreBatch {
    const FLOW: Flow = Flow::DeviceScore;
}

impl Validate for DeviceScoreBatch {
    fn validate(&self) -> Result<(), RecordError> {
        self.check()
            .map_err(|err| err.identify(&self.transaction_id))
    }
}

impl DeviceScoreBatch {
    fn check(&self) -> Result<(), RecordError> {
        check_id("transactionId", &self.transaction_id)?;
        let mut seen = Seen::new();
        for (index, score) in self.scores.iter().enumerate() {
            let prefix = item("scores", index);
            let (head_end_system, nic_id) =
                check_device_key(&prefix, &score.head_end_system, &score.nic_id)?;
            let program = check_id(&join(&prefix, "programCode"), &score.program_code)?;
            check_non_negative(&join(&prefix, "controlScore"), score.control_score)?;
            let what = format!("device {head_end_system} {nic_id} in program {program}");
            seen.check(
                (head_end_system, nic_id, program),
                index,
                "scores",
                join(&prefix, "nicId"),
                &what,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::wire::fixtures::*;
    use serde_json::json;

    #[test]
    fn device_score_json_keeps_the_public_field_names() {
        let value = json!({
            "transactionId": "TX-12",
            "scoredOn": "2024-07-02",
            "scores": [{ "headEndSystem": "ECOBEE", "nicId": "N1", "programCode": "SUMMER-SAVER", "controlScore": 12.5 }]
        });
        let batch: DeviceScoreBatch = assert_round_trips(&value);
        batch.validate().unwrap();
        assert_eq!(
            batch.scored_on,
            NaiveDate::from_ymd_opt(2024, 7, 2).unwrap()
        );
    }

    #[test]
    fn a_negative_control_score_is_refused() {
        let value = json!({
            "transactionId": "TX-12", "scoredOn": "2024-07-02",
            "scores": [{ "headEndSystem": "ECOBEE", "nicId": "N1", "programCode": "P", "controlScore": -0.5 }]
        });
        assert_eq!(
            invalid::<DeviceScoreBatch>(&value).field,
            "scores[0].controlScore"
        );
    }
}
