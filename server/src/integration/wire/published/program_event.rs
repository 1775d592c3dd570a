//! Published flow 4, program event: `POST …/service/programEvent/` creates a program event
//! (a stage) as Scheduled, `POST …/service/programEvent/lifecycle` moves it on. Each is
//! checked under its published names and becomes GridFlex's flow 4 stage status message.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::common::MAX_EXTERNAL_ID_CHARS;
use super::enroll::Fields;
use crate::integration::wire::{EventCategory, LifecycleAction, RecordErrorWire, MAX_ID_CHARS};

/// The published limit of `cancelReason`.
pub const MAX_CANCEL_REASON_CHARS: usize = 254;
/// The reason a cancellation without `cancelReason` is kept with: the published shape makes
/// the reason optional, GridFlex keeps one for every cancelled stage.
pub const NO_CANCEL_REASON: &str = "cancelled by the grid system (no reason given)";

fn codes<T: Copy>(all: &[T], code: impl Fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|c| code(*c)).collect()
}

/// A program event the program side already holds, as a lifecycle step needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownStage {
    pub external_id: String,
    pub event_external_id: String,
    pub program_code: String,
    pub category: String,
    pub status: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// `POST …/programEvent/`: a program event (one stage of the grid's event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramEventDocument {
    pub transaction_id: Option<String>,
    pub event_external_identifier: String,
    pub external_identifier: String,
    pub program_external_identifier: String,
    pub program_event_category: EventCategory,
    pub start_date_time: DateTime<Utc>,
    pub end_date_time: DateTime<Utc>,
}

impl ProgramEventDocument {
    /// Every bad field is named by its published name.
    pub fn parse(root: &Value) -> Result<Self, Vec<RecordErrorWire>> {
        let (mut f, transaction_id) = Fields::open_root(root)?;
        let top = Some(root);
        let event = f.text(
            top,
            "",
            "eventExternalIdentifier",
            MAX_EXTERNAL_ID_CHARS,
            true,
        );
        let stage = f.text(top, "", "externalIdentifier", MAX_EXTERNAL_ID_CHARS, true);
        let program = f.text(top, "", "programExternalIdentifier", MAX_ID_CHARS, true);
        let category = f.code(
            top,
            "",
            "programEventCategory",
            &codes(EventCategory::ALL, EventCategory::as_str),
        );
        let start = f.instant(top, "", "startDateTime", true);
        let end = f.instant(top, "", "endDateTime", true);
        f.after(start, "startDateTime", end, "endDateTime");
        match (event, stage, program, category, start, end) {
            (Some(e), Some(s), Some(p), Some(c), Some(start), Some(end)) if f.errors.is_empty() => {
                Ok(ProgramEventDocument {
                    transaction_id,
                    event_external_identifier: e,
                    external_identifier: s,
                    program_external_identifier: p,
                    program_event_category: EventCategory::parse(&c)
                        .unwrap_or(EventCategory::Economic),
                    start_date_time: start,
                    end_date_time: end,
                })
            }
            _ => Err(f.errors),
        }
    }

    /// GridFlex's flow 4 message: the stage, created as Scheduled (`X1SD`).
    pub fn to_stage_status(&self) -> Value {
        json!({
            "eventExternalIdentifier": self.event_external_identifier,
            "externalIdentifier": self.external_identifier,
            "programCode": self.program_external_identifier,
            "eventCategory": self.program_event_category.as_str(),
            "action": LifecycleAction::Scheduled.as_str(),
            "startTime": self.start_date_time,
            "endTime": self.end_date_time,
        })
    }
}

/// `POST …/programEvent/lifecycle`: a step of a program event's lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleDocument {
    pub transaction_id: Option<String>,
    pub action: LifecycleAction,
    pub cancel_reason: Option<String>,
    /// The event (every program event of it) or one program event.
    pub event_external_identifier: String,
}

impl LifecycleDocument {
    pub fn parse(root: &Value) -> Result<Self, Vec<RecordErrorWire>> {
        let (mut f, transaction_id) = Fields::open_root(root)?;
        let top = Some(root);
        let action = f.code(
            top,
            "",
            "action",
            &codes(LifecycleAction::ALL, LifecycleAction::as_str),
        );
        let cancel_reason = f.text(top, "", "cancelReason", MAX_CANCEL_REASON_CHARS, false);
        let event = f.text(
            top,
            "",
            "eventExternalIdentifier",
            MAX_EXTERNAL_ID_CHARS,
            true,
        );
        match (action.as_deref().and_then(LifecycleAction::parse), event) {
            (Some(action), Some(event)) if f.errors.is_empty() => Ok(LifecycleDocument {
                transaction_id,
                action,
                cancel_reason,
                event_external_identifier: event,
            }),
            _ => Err(f.errors),
        }
    }

    /// GridFlex's flow 4 message moving `stage` on.
    pub fn to_stage_status(&self, stage: &KnownStage) -> Value {
        let reason = match self.action {
            LifecycleAction::Cancel => Some(
                self.cancel_reason
                    .clone()
                    .unwrap_or_else(|| NO_CANCEL_REASON.to_owned()),
            ),
            _ => self.cancel_reason.clone(),
        };
        json!({
            "eventExternalIdentifier": stage.event_external_id,
            "externalIdentifier": stage.external_id,
            "programCode": stage.program_code,
            "eventCategory": stage.category,
            "action": self.action.as_str(),
            "reason": reason,
            "startTime": stage.starts_at,
            "endTime": stage.ends_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::wire::{decode_value, ProgramEventStatus};

    fn fields(errors: &[RecordErrorWire]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_program_event_becomes_a_scheduled_gridflex_stage() {
        let doc = ProgramEventDocument::parse(&json!({
            "eventExternalIdentifier": "EV-9", "externalIdentifier": "EV-9-S1",
            "programExternalIdentifier": "SUMMER-SAVER", "programEventCategory": "X1EM",
            "startDateTime": "2026-07-01T14:00:00-05:00", "endDateTime": "2026-07-01T16:00:00-05:00"
        }))
        .unwrap();
        let status: ProgramEventStatus = decode_value(&doc.to_stage_status()).unwrap();
        assert_eq!(status.action, LifecycleAction::Scheduled);
        assert_eq!(status.event_category, EventCategory::Emergency);
        assert_eq!(status.start_time.to_rfc3339(), "2026-07-01T19:00:00+00:00");
    }

    #[test]
    fn every_bad_field_of_a_program_event_is_named() {
        let errors = ProgramEventDocument::parse(&json!({
            "eventExternalIdentifier": "E".repeat(121), "externalIdentifier": "S",
            "programEventCategory": "X1ZZ",
            "startDateTime": "2026-07-01T14:00:00", "endDateTime": "01/07/2026"
        }))
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "eventExternalIdentifier",
                "programExternalIdentifier",
                "programEventCategory",
                "startDateTime",
                "endDateTime"
            ]
        );
        assert!(
            errors[2].message.contains("X1DT, X1EC, X1EM, X1RE"),
            "{errors:?}"
        );
        assert!(errors[3].message.contains("no offset"), "{errors:?}");
    }

    #[test]
    fn a_cancel_without_a_reason_is_kept_with_one() {
        let doc =
            LifecycleDocument::parse(&json!({"action": "F1CN", "eventExternalIdentifier": "EV-9"}))
                .unwrap();
        let stage = KnownStage {
            external_id: "EV-9-S1".into(),
            event_external_id: "EV-9".into(),
            program_code: "P".into(),
            category: "X1EC".into(),
            status: "X1SD".into(),
            starts_at: "2026-07-01T19:00:00Z".parse().unwrap(),
            ends_at: "2026-07-01T21:00:00Z".parse().unwrap(),
        };
        let status: ProgramEventStatus = decode_value(&doc.to_stage_status(&stage)).unwrap();
        assert_eq!(status.reason.as_deref(), Some(NO_CANCEL_REASON));
        let errors =
            LifecycleDocument::parse(&json!({"action": "X9", "cancelReason": "x".repeat(255)}))
                .unwrap_err();
        assert_eq!(
            fields(&errors),
            ["action", "cancelReason", "eventExternalIdentifier"]
        );
    }
}
