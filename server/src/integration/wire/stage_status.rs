//! Flow 4, program event (stage) status update (grid → programs): a stage's lifecycle step.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::check::{check_after, check_id, check_optional_text, MAX_REASON_CHARS};
use super::code::wire_code;
use super::{Flow, Outbound, RecordError, Validate};

wire_code! {
    /// Category of a program event on the program side (flow 4).
    pub enum EventCategory {
        DeviceTest = "X1DT",
        Economic = "X1EC",
        Emergency = "X1EM",
        Reliability = "X1RE",
    }
}

wire_code! {
    /// Program-event lifecycle step reported by the grid side (flow 4).
    pub enum LifecycleAction {
        Scheduled = "X1SD",
        InProgress = "X1IP",
        Complete = "F1CO",
        /// Needs a reason.
        Cancel = "F1CN",
    }
}

/// One stage of an event, as the program side sees it: its own "program event".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgramEventStatus {
    /// The parent event.
    pub event_external_identifier: String,
    /// The stage.
    pub external_identifier: String,
    pub program_code: String,
    pub event_category: EventCategory,
    pub action: LifecycleAction,
    /// Required for `F1CN` (cancel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
}

impl Outbound for ProgramEventStatus {
    const FLOW: Flow = Flow::StageStatus;
}

impl Validate for ProgramEventStatus {
    fn validate(&self) -> Result<(), RecordError> {
        self.check()
            .map_err(|err| err.identify(&self.external_identifier))
    }
}

impl ProgramEventStatus {
    fn check(&self) -> Result<(), RecordError> {
        check_id("eventExternalIdentifier", &self.event_external_identifier)?;
        check_id("externalIdentifier", &self.external_identifier)?;
        check_id("programCode", &self.program_code)?;
        check_after("startTime", &self.start_time, "endTime", &self.end_time)?;
        let reason = check_optional_text("reason", self.reason.as_deref(), MAX_REASON_CHARS)?;
        if self.action == LifecycleAction::Cancel && reason.is_none() {
            return Err(RecordError::new(
                "reason",
                "is required when action is F1CN (cancel); say why the stage was cancelled",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::wire::fixtures::*;
    use serde_json::{json, Value};

    fn stage_status() -> Value {
        json!({
            "eventExternalIdentifier": "EV-1",
            "externalIdentifier": "EV-1-S1",
            "programCode": "SUMMER-SAVER",
            "eventCategory": "X1EM",
            "action": "F1CN",
            "reason": "feeder back to normal",
            "startTime": "2024-07-01T15:00:00Z",
            "endTime": "2024-07-01T17:00:00Z"
        })
    }

    #[test]
    fn stage_status_json_keeps_the_public_field_names() {
        let status: ProgramEventStatus = assert_round_trips(&stage_status());
        assert_eq!(status.action, LifecycleAction::Cancel);
        assert_eq!(status.event_category, EventCategory::Emergency);
        status.validate().unwrap();
    }

    #[test]
    fn a_cancel_without_a_reason_is_refused() {
        let mut status = stage_status();
        status.as_object_mut().unwrap().remove("reason");
        let err = invalid::<ProgramEventStatus>(&status);
        assert_eq!(err.field, "reason");
        assert!(err.message.contains("F1CN"), "{}", err.message);

        status["reason"] = json!("   ");
        assert_eq!(invalid::<ProgramEventStatus>(&status).field, "reason");
    }

    #[test]
    fn a_stage_that_ends_before_it_starts_is_refused() {
        let mut status = stage_status();
        status["endTime"] = json!("2024-07-01T15:00:00Z");
        let err = invalid::<ProgramEventStatus>(&status);
        assert_eq!(err.field, "endTime");
        assert!(
            err.to_string().contains("endTime must be after startTime"),
            "{err}"
        );
        assert_eq!(err.record_id.as_deref(), Some("EV-1-S1"));
    }

    #[test]
    fn an_unknown_event_category_names_the_field_and_the_value() {
        let mut status = stage_status();
        status["eventCategory"] = json!("X1ZZ");
        let err = invalid::<ProgramEventStatus>(&status);
        assert_eq!(err.field, "eventCategory");
        assert!(err.message.contains("X1ZZ"), "{}", err.message);
    }

    #[test]
    fn an_unreadable_time_names_the_field_and_the_value() {
        let mut status = stage_status();
        status["startTime"] = json!("yesterday");
        let err = invalid::<ProgramEventStatus>(&status);
        assert_eq!(err.field, "startTime");
        assert!(err.message.contains("yesterday"), "{}", err.message);
    }
}
