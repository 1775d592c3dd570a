//! Flow 6, event device outcome (grid → programs): what each device did; the flat-file form is in `csv.rs`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::check::{check_after, check_id, check_non_empty, item, join};
use super::code::wire_code;
use super::device::{check_device_keys, check_nic_id};
use super::{Flow, Outbound, RecordError, Validate};

wire_code! {
    /// What a device did during an event (flow 6).
    pub enum OutcomeCode {
        /// Needs the participation window.
        Participated = "D1SP",
        NonResponsive = "D1ND",
        InFlightOverride = "D1IO",
        Error = "D1ER",
        Cancelled = "D1CN",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceOutcomeBatch {
    pub event_external_identifier: String,
    pub external_identifier: String,
    pub post_outcome_list: Vec<DeviceOutcome>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceOutcome {
    pub head_end_system: String,
    pub nic_id: String,
    pub outcome: OutcomeCode,
    /// Required (with `participationEnd`) for `D1SP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participation_start: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participation_end: Option<DateTime<Utc>>,
}

impl DeviceOutcome {
    /// Every problem of the outcome, so a file import can list them all.
    pub(super) fn problems(&self, prefix: &str) -> Vec<RecordError> {
        let mut problems = Vec::new();
        problems.extend(check_id(&join(prefix, "headEndSystem"), &self.head_end_system).err());
        problems.extend(check_nic_id(&join(prefix, "nicId"), &self.nic_id).err());
        match (&self.participation_start, &self.participation_end) {
            (Some(start), Some(end)) => problems.extend(
                check_after(
                    &join(prefix, "participationStart"),
                    start,
                    &join(prefix, "participationEnd"),
                    end,
                )
                .err(),
            ),
            (start, end) if self.outcome == OutcomeCode::Participated => {
                for (field, time) in [
                    ("participationStart", start.is_some()),
                    ("participationEnd", end.is_some()),
                ] {
                    if !time {
                        problems.push(RecordError::new(
                            join(prefix, field),
                            "is required when outcome is D1SP (participated)",
                        ));
                    }
                }
            }
            _ => {}
        }
        problems
    }
}

impl Outbound for DeviceOutcomeBatch {
    const FLOW: Flow = Flow::DeviceOutcome;
}

impl Validate for DeviceOutcomeBatch {
    fn validate(&self) -> Result<(), RecordError> {
        self.check()
            .map_err(|err| err.identify(&self.external_identifier))
    }
}

impl DeviceOutcomeBatch {
    fn check(&self) -> Result<(), RecordError> {
        check_id("eventExternalIdentifier", &self.event_external_identifier)?;
        check_id("externalIdentifier", &self.external_identifier)?;
        check_non_empty("postOutcomeList", &self.post_outcome_list, "device outcome")?;
        for (index, outcome) in self.post_outcome_list.iter().enumerate() {
            if let Some(problem) = outcome
                .problems(&item("postOutcomeList", index))
                .into_iter()
                .next()
            {
                return Err(problem);
            }
        }
        check_device_keys(
            "postOutcomeList",
            self.post_outcome_list
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

    fn outcomes() -> Value {
        json!({
            "eventExternalIdentifier": "EV-1",
            "externalIdentifier": "EV-1-S1",
            "postOutcomeList": [
                { "headEndSystem": "ECOBEE", "nicId": "N1", "outcome": "D1SP",
                  "participationStart": "2024-07-01T15:00:00Z", "participationEnd": "2024-07-01T17:00:00Z" },
                { "headEndSystem": "ECOBEE", "nicId": "N2", "outcome": "D1ND" }
            ]
        })
    }

    #[test]
    fn device_outcome_json_keeps_the_public_field_names() {
        let parsed: DeviceOutcomeBatch = assert_round_trips(&outcomes());
        parsed.validate().unwrap();
        let back = serde_json::to_value(&parsed).unwrap();
        assert_eq!(
            back.pointer("/postOutcomeList/0/outcome"),
            Some(&json!("D1SP"))
        );
        assert_eq!(
            back.pointer("/postOutcomeList/0/participationStart"),
            Some(&json!("2024-07-01T15:00:00Z"))
        );
    }

    #[test]
    fn an_unknown_outcome_code_names_the_field_and_the_value() {
        let mut value = outcomes();
        value["postOutcomeList"][1]["outcome"] = json!("D1XX");
        let err = invalid::<DeviceOutcomeBatch>(&value);
        assert_eq!(err.field, "postOutcomeList[1].outcome");
        assert!(
            err.message.contains("D1XX") && err.message.contains("D1SP"),
            "{}",
            err.message
        );
        assert!(
            err.to_string()
                .contains("postOutcomeList[1].outcome has unknown code `D1XX`"),
            "{err}"
        );
    }

    #[test]
    fn a_participated_outcome_needs_its_participation_window() {
        let mut value = outcomes();
        value["postOutcomeList"][0]
            .as_object_mut()
            .unwrap()
            .remove("participationEnd");
        let err = invalid::<DeviceOutcomeBatch>(&value);
        assert_eq!(
            (err.index, err.field.as_str()),
            (0, "postOutcomeList[0].participationEnd")
        );

        let mut value = outcomes();
        value["postOutcomeList"][0]["participationEnd"] = json!("2024-07-01T14:00:00Z");
        assert_eq!(
            invalid::<DeviceOutcomeBatch>(&value).field,
            "postOutcomeList[0].participationEnd"
        );
    }
}
