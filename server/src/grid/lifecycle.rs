//! The event state machine: the only place an event's status changes, and who may change it.

use app::access::{may, Action as Permission};
use app::model::Role;

use crate::error::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventStatus {
    New,
    Submitted,
    Approved,
    Denied,
    Scheduled,
    InProgress,
    Completed,
    Canceled,
}

impl EventStatus {
    pub const ALL: [EventStatus; 8] = [
        EventStatus::New,
        EventStatus::Submitted,
        EventStatus::Approved,
        EventStatus::Denied,
        EventStatus::Scheduled,
        EventStatus::InProgress,
        EventStatus::Completed,
        EventStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::New => "New",
            EventStatus::Submitted => "Submitted",
            EventStatus::Approved => "Approved",
            EventStatus::Denied => "Denied",
            EventStatus::Scheduled => "Scheduled",
            EventStatus::InProgress => "InProgress",
            EventStatus::Completed => "Completed",
            EventStatus::Canceled => "Canceled",
        }
    }

    pub fn parse(s: &str) -> Option<EventStatus> {
        EventStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Open events still count against the balancing-authority threshold and conflicts.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            EventStatus::Submitted
                | EventStatus::Approved
                | EventStatus::Scheduled
                | EventStatus::InProgress
        )
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            EventStatus::Denied | EventStatus::Completed | EventStatus::Canceled
        )
    }
}

/// Who acts: a person with a role, or the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Person { username: String, role: Role },
    Scheduler,
}

impl Actor {
    pub fn name(&self) -> &str {
        match self {
            Actor::Person { username, .. } => username,
            Actor::Scheduler => "scheduler",
        }
    }

    fn role(&self) -> Option<Role> {
        match self {
            Actor::Person { role, .. } => Some(*role),
            Actor::Scheduler => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Generate (or regenerate) the stages; `stages` is the operator's manual stage list
    /// (used by the Manual objective only).
    Plan {
        stages: String,
    },
    Submit,
    Approve,
    Deny {
        reason: String,
    },
    /// The scheduler sends reservations and stage programme events.
    Schedule,
    Start,
    Complete,
    Cancel {
        reason: String,
    },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Plan { .. } => "plan",
            Action::Submit => "submit",
            Action::Approve => "approve",
            Action::Deny { .. } => "deny",
            Action::Schedule => "schedule",
            Action::Start => "start",
            Action::Complete => "complete",
            Action::Cancel { .. } => "cancel",
        }
    }
}

/// What the state machine needs to know about the event besides its status.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub submitted_by: Option<String>,
    pub approved_by: Option<String>,
    pub second_approval_required: bool,
    pub has_stages: bool,
}

/// The outcome of an allowed action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The status becomes this.
    To(EventStatus),
    /// A first approval is recorded; a second approver must still approve.
    FirstApproval,
    /// Stages are regenerated; the status stays `New`.
    Replan,
}

fn role_may(actor: &Actor, action: Permission) -> Result<(), DomainError> {
    match actor.role() {
        Some(r) if may(r, action) => Ok(()),
        Some(_) => Err(DomainError::Forbidden(action.what().to_string())),
        None => Err(DomainError::Forbidden(format!(
            "{} (scheduler)",
            action.what()
        ))),
    }
}

fn scheduler_only(actor: &Actor, what: &str) -> Result<(), DomainError> {
    match actor {
        Actor::Scheduler => Ok(()),
        Actor::Person { .. } => Err(DomainError::Forbidden(format!(
            "{what}: the scheduler does that at the event's times"
        ))),
    }
}

fn not_now(status: EventStatus, what: &str) -> DomainError {
    DomainError::Conflict(format!(
        "the event is {}; it cannot be {what} now",
        status.as_str()
    ))
}

/// The single place that decides whether `action` may happen to an event in `status`.
pub fn transition(
    status: EventStatus,
    action: &Action,
    actor: &Actor,
    facts: &Facts,
) -> Result<Step, DomainError> {
    use EventStatus::*;
    match action {
        Action::Plan { .. } => {
            role_may(actor, Permission::GenerateStages)?;
            if status != New {
                return Err(not_now(status, "re-planned"));
            }
            Ok(Step::Replan)
        }
        Action::Submit => {
            role_may(actor, Permission::SubmitEvents)?;
            if status != New {
                return Err(not_now(status, "submitted"));
            }
            if !facts.has_stages {
                return Err(DomainError::invalid(
                    "the event has no stages yet; generate stages before submitting",
                ));
            }
            Ok(Step::To(Submitted))
        }
        Action::Approve => {
            role_may(actor, Permission::ApproveEvents)?;
            if status != Submitted {
                return Err(not_now(status, "approved"));
            }
            if facts.submitted_by.as_deref() == Some(actor.name()) {
                return Err(DomainError::Forbidden(
                    "approve an event they submitted themselves (four eyes)".into(),
                ));
            }
            match (&facts.approved_by, facts.second_approval_required) {
                (None, true) => Ok(Step::FirstApproval),
                (Some(first), true) if first == actor.name() => Err(DomainError::Forbidden(
                    "give both approvals of the same event; a second approver is needed".into(),
                )),
                _ => Ok(Step::To(Approved)),
            }
        }
        Action::Deny { reason } => {
            role_may(actor, Permission::DenyEvents)?;
            if status != Submitted {
                return Err(not_now(status, "denied"));
            }
            if facts.submitted_by.as_deref() == Some(actor.name()) {
                return Err(DomainError::Forbidden(
                    "decide on an event they submitted themselves (four eyes)".into(),
                ));
            }
            require_reason(reason, "denying")?;
            Ok(Step::To(Denied))
        }
        Action::Schedule => {
            scheduler_only(actor, "schedule events")?;
            if status != Approved {
                return Err(not_now(status, "scheduled"));
            }
            Ok(Step::To(Scheduled))
        }
        Action::Start => {
            scheduler_only(actor, "start events")?;
            if status != Scheduled {
                return Err(not_now(status, "started"));
            }
            Ok(Step::To(InProgress))
        }
        Action::Complete => {
            scheduler_only(actor, "complete events")?;
            if status != InProgress {
                return Err(not_now(status, "completed"));
            }
            Ok(Step::To(Completed))
        }
        Action::Cancel { reason } => {
            if *actor != Actor::Scheduler {
                role_may(actor, Permission::CancelEvents)?;
            }
            if status.is_final() {
                return Err(not_now(status, "cancelled"));
            }
            require_reason(reason, "cancelling")?;
            Ok(Step::To(Canceled))
        }
    }
}

fn require_reason(reason: &str, doing: &str) -> Result<(), DomainError> {
    let r = reason.trim();
    if r.is_empty() {
        return Err(DomainError::invalid(format!(
            "reason: say why; a reason is required when {doing} an event"
        )));
    }
    if r.chars().count() > 500 {
        return Err(DomainError::invalid(
            "reason: at most 500 characters, please",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventStatus::*;

    fn person(name: &str, role: Role) -> Actor {
        Actor::Person {
            username: name.into(),
            role,
        }
    }

    fn submitted_by(name: &str) -> Facts {
        Facts {
            submitted_by: Some(name.into()),
            has_stages: true,
            ..Facts::default()
        }
    }

    #[test]
    fn an_operator_submits_a_planned_event() {
        let f = Facts {
            has_stages: true,
            ..Facts::default()
        };
        let step = transition(New, &Action::Submit, &person("olga", Role::Operator), &f);
        assert_eq!(step.unwrap(), Step::To(Submitted));
    }

    #[test]
    fn an_event_without_stages_cannot_be_submitted() {
        let err = transition(
            New,
            &Action::Submit,
            &person("olga", Role::Operator),
            &Facts::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("no stages"), "{err}");
    }

    #[test]
    fn an_operator_cannot_approve() {
        let err = transition(
            Submitted,
            &Action::Approve,
            &person("oscar", Role::Operator),
            &submitted_by("olga"),
        )
        .unwrap_err();
        assert!(matches!(err, DomainError::Forbidden(_)));
    }

    #[test]
    fn a_submitter_cannot_approve_their_own_event() {
        let err = transition(
            Submitted,
            &Action::Approve,
            &person("ann", Role::Approver),
            &submitted_by("ann"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("four eyes"), "{err}");
    }

    #[test]
    fn another_approver_approves() {
        let step = transition(
            Submitted,
            &Action::Approve,
            &person("ann", Role::Approver),
            &submitted_by("olga"),
        );
        assert_eq!(step.unwrap(), Step::To(Approved));
    }

    #[test]
    fn a_second_approval_needs_a_different_approver() {
        let mut f = submitted_by("olga");
        f.second_approval_required = true;
        let a = person("ann", Role::Approver);
        assert_eq!(
            transition(Submitted, &Action::Approve, &a, &f).unwrap(),
            Step::FirstApproval
        );
        f.approved_by = Some("ann".into());
        assert!(matches!(
            transition(Submitted, &Action::Approve, &a, &f),
            Err(DomainError::Forbidden(_))
        ));
        assert_eq!(
            transition(
                Submitted,
                &Action::Approve,
                &person("abe", Role::Approver),
                &f
            )
            .unwrap(),
            Step::To(Approved)
        );
    }

    #[test]
    fn denying_needs_a_reason() {
        let a = person("ann", Role::Approver);
        let f = submitted_by("olga");
        assert!(transition(
            Submitted,
            &Action::Deny {
                reason: "  ".into()
            },
            &a,
            &f
        )
        .is_err());
        assert_eq!(
            transition(
                Submitted,
                &Action::Deny {
                    reason: "not needed".into()
                },
                &a,
                &f
            )
            .unwrap(),
            Step::To(Denied)
        );
    }

    #[test]
    fn cancel_is_allowed_from_every_state_before_completed() {
        let op = person("olga", Role::Operator);
        let cancel = Action::Cancel {
            reason: "storm".into(),
        };
        for s in [New, Submitted, Approved, Scheduled, InProgress] {
            assert_eq!(
                transition(s, &cancel, &op, &Facts::default()).unwrap(),
                Step::To(Canceled),
                "{s:?}"
            );
        }
        for s in [Completed, Canceled, Denied] {
            assert!(
                transition(s, &cancel, &op, &Facts::default()).is_err(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn cancelling_needs_a_reason() {
        let err = transition(
            New,
            &Action::Cancel { reason: "".into() },
            &person("olga", Role::Operator),
            &Facts::default(),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("reason:"), "{err}");
    }

    #[test]
    fn only_the_scheduler_starts_and_completes() {
        let op = person("olga", Role::Operator);
        assert!(transition(Scheduled, &Action::Start, &op, &Facts::default()).is_err());
        assert_eq!(
            transition(
                Scheduled,
                &Action::Start,
                &Actor::Scheduler,
                &Facts::default()
            )
            .unwrap(),
            Step::To(InProgress)
        );
        assert_eq!(
            transition(
                InProgress,
                &Action::Complete,
                &Actor::Scheduler,
                &Facts::default()
            )
            .unwrap(),
            Step::To(Completed)
        );
        assert!(transition(
            Approved,
            &Action::Complete,
            &Actor::Scheduler,
            &Facts::default()
        )
        .is_err());
    }

    #[test]
    fn a_submitted_event_cannot_be_replanned() {
        let err = transition(
            Submitted,
            &Action::Plan {
                stages: String::new(),
            },
            &person("olga", Role::Operator),
            &Facts::default(),
        )
        .unwrap_err();
        assert!(matches!(err, DomainError::Conflict(_)));
    }

    #[test]
    fn an_auditor_cannot_act_on_events() {
        let aud = person("audrey", Role::Auditor);
        for a in [
            Action::Plan {
                stages: String::new(),
            },
            Action::Submit,
            Action::Approve,
            Action::Cancel { reason: "x".into() },
        ] {
            assert!(matches!(
                transition(New, &a, &aud, &submitted_by("olga")),
                Err(DomainError::Forbidden(_))
            ));
        }
    }
}
