//! The confirmation step of destructive actions (cancel an event, unenroll, disable a user,
//! settle again): the action's form posts here first; the step checks the role, says what
//! will happen and keeps it in the session; the confirmation page then posts the real action.
//! No JavaScript involved.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::access::{may, Action};
use crate::api::{fail, parts, session, signed_in, viewer};
use crate::error::AppError;
use crate::model::Viewer;

/// Where the action waiting for confirmation is kept between the step and the page.
pub const SESSION_CONFIRM: &str = "confirm";

/// The destructive actions that are confirmed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfirmKind {
    CancelEvent,
    Unenroll,
    DisableUser,
    SettleAgain,
    SuspendProgram,
    CloseProgram,
}

impl ConfirmKind {
    pub fn parse(kind: &str) -> Result<Self, AppError> {
        Ok(match kind {
            "cancel_event" => Self::CancelEvent,
            "unenroll" => Self::Unenroll,
            "disable_user" => Self::DisableUser,
            "settle_again" => Self::SettleAgain,
            "suspend_program" => Self::SuspendProgram,
            "close_program" => Self::CloseProgram,
            other => {
                return Err(AppError::BadRequest(format!(
                    "kind: `{other}` is not an action that is confirmed \
                     (cancel_event, unenroll, disable_user, settle_again, suspend_program, close_program)"
                )))
            }
        })
    }

    /// The policy's action: the step, the page and the action itself all check it.
    pub fn action(self) -> Action {
        match self {
            Self::CancelEvent => Action::CancelEvents,
            Self::Unenroll => Action::ChangeEnrollments,
            Self::DisableUser => Action::ManageUsers,
            Self::SettleAgain => Action::SettleEvents,
            Self::SuspendProgram | Self::CloseProgram => Action::ChangeProgramStatus,
        }
    }

    /// The button of the confirmation page.
    pub fn verb(self) -> &'static str {
        match self {
            Self::CancelEvent => "Cancel the event",
            Self::Unenroll => "Unenroll",
            Self::DisableUser => "Disable the user",
            Self::SettleAgain => "Settle again",
            Self::SuspendProgram => "Suspend the program",
            Self::CloseProgram => "Close the program",
        }
    }
}

/// An action waiting for the person's confirmation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingConfirm {
    pub kind: ConfirmKind,
    /// "Cancel event EV-0012 — Called off".
    pub title: String,
    /// What will happen, one sentence each.
    pub consequences: Vec<String>,
    pub reason: Option<String>,
    /// The server function that does it, and its fields (the CSRF field is added).
    pub post_to: String,
    pub fields: Vec<(String, String)>,
    /// Where "Go back" leads: the page the action was asked from.
    pub back: String,
}

/// The reason typed for a confirmed action the server just refused (the same action on the
/// same object), so its form shows it again.
pub fn refused_reason(kind: &str, target: &str) -> String {
    crate::components::kept_form::<AskConfirmation>()
        .filter(|k| k.get("kind") == Some(kind) && k.get("target") == Some(target))
        .and_then(|k| k.get("reason").map(str::to_string))
        .unwrap_or_default()
}

fn require(viewer: &Viewer, action: Action) -> Result<(), AppError> {
    if may(viewer.role, action) {
        Ok(())
    } else {
        Err(AppError::Forbidden(action.what().to_string()))
    }
}

fn id_of(target: &str, what: &str) -> Result<i64, AppError> {
    target
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| {
            AppError::BadRequest(format!(
                "target: expected the {what}'s number, got `{}`",
                target.trim()
            ))
        })
}

fn required_reason(reason: Option<String>, why: &str) -> Result<String, AppError> {
    match reason.map(|r| r.trim().to_string()) {
        Some(r) if !r.is_empty() && r.chars().count() <= 500 => Ok(r),
        Some(r) if !r.is_empty() => Err(AppError::BadRequest(
            "reason: at most 500 characters".into(),
        )),
        _ => Err(AppError::BadRequest(format!("reason: {why}"))),
    }
}

fn field(k: &str, v: impl ToString) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// Works out what the action will do, after checking the role and the input.
async fn prepare(
    viewer: &Viewer,
    kind: ConfirmKind,
    target: &str,
    reason: Option<String>,
) -> Result<PendingConfirm, AppError> {
    require(viewer, kind.action())?;
    match kind {
        ConfirmKind::CancelEvent => {
            let id = id_of(target, "event")?;
            let reason = required_reason(reason, "say why the event is cancelled")?;
            let (events, v) = signed_in::<crate::grid::Events>()?;
            let d = events.get_event(&v, id).await?;
            if !d.actions.iter().any(|a| a == "cancel") {
                return Err(AppError::Conflict(format!(
                    "event {} is {} and can no longer be cancelled",
                    d.summary.code,
                    crate::components::status_name(&d.summary.status)
                )));
            }
            let s = &d.summary;
            Ok(PendingConfirm {
                kind,
                title: format!("Cancel event {} — {}", s.code, s.name),
                consequences: vec![
                    format!(
                        "The event becomes Cancelled (it is now {}); this cannot be undone.",
                        crate::components::status_name(&s.status)
                    ),
                    format!(
                        "Its {} stage(s) are withdrawn and {} reserved device(s) released; the program side is told.",
                        crate::components::fmt_count(s.stages),
                        crate::components::fmt_count(s.devices)
                    ),
                    "The reason is kept on the event and in the audit trail.".into(),
                ],
                post_to: "/fn/event_action".into(),
                fields: vec![
                    field("id", id),
                    field("action", "cancel"),
                    field("reason", &reason),
                ],
                reason: Some(reason),
                back: format!("/events/{id}"),
            })
        }
        ConfirmKind::Unenroll => {
            let id = id_of(target, "enrollment")?;
            let reason = required_reason(reason, "say why the customer is unenrolled")?;
            let (enrollments, v) = signed_in::<crate::port::Enrollments>()?;
            let e = enrollments.get_enrollment(&v, id).await?;
            if !matches!(e.status.as_str(), "PENDING" | "ACTIVE") {
                return Err(AppError::Conflict(format!(
                    "enrollment {id} is already {}",
                    crate::components::status_name(&e.status)
                )));
            }
            let devices = e.devices.iter().filter(|d| d.left_at.is_none()).count();
            Ok(PendingConfirm {
                kind,
                title: format!(
                    "Unenroll enrollment {id} — {} from {}",
                    e.customer.name, e.program.code
                ),
                consequences: vec![
                    format!(
                        "The enrollment becomes Inactive (unenrolled) (it is now {}).",
                        crate::components::status_name(&e.status)
                    ),
                    format!("Its {devices} device(s) take part in no further events of {}.", e.program.code),
                    "The grid side is told (enrollment sync); the reason is kept in the status history and the audit trail.".into(),
                ],
                post_to: "/fn/change_enrollment_status".into(),
                fields: vec![
                    field("enrollment_id", id),
                    field("change", "unenroll"),
                    field("reason", &reason),
                ],
                reason: Some(reason),
                back: format!("/enrollments/{id}"),
            })
        }
        ConfirmKind::DisableUser => {
            let id = id_of(target, "user")?;
            if id == viewer.user_id {
                return Err(AppError::BadRequest(
                    "target: you cannot disable yourself".into(),
                ));
            }
            let (users, v) = signed_in::<crate::port::Users>()?;
            let user = users
                .list_users(&v)
                .await?
                .into_iter()
                .find(|u| u.id == id)
                .ok_or_else(|| AppError::NotFound(format!("user {id}")))?;
            if user.disabled {
                return Err(AppError::Conflict(format!(
                    "{} is already disabled",
                    user.username
                )));
            }
            Ok(PendingConfirm {
                kind,
                title: format!("Disable user {} ({})", user.username, user.display_name),
                consequences: vec![
                    format!(
                        "{} can no longer sign in; their open sessions end at their next request.",
                        user.username
                    ),
                    "Nothing they did is removed; an admin can enable the account again.".into(),
                ],
                post_to: "/fn/set_user_disabled".into(),
                fields: vec![field("user_id", id), field("disabled", "true")],
                reason: None,
                back: "/admin/users".into(),
            })
        }
        ConfirmKind::SettleAgain => {
            let code = target.trim();
            if code.is_empty() || code.len() > 100 {
                return Err(AppError::BadRequest("target: the event's code".into()));
            }
            Ok(PendingConfirm {
                kind,
                title: format!("Settle event {code} again"),
                consequences: vec![
                    "Baselines and credits are recalculated from the meter data stored now and replace the earlier results.".into(),
                    "Credits already exported for billing may change; every changed result is in the audit trail.".into(),
                ],
                post_to: "/fn/settle_event".into(),
                fields: vec![field("code", code)],
                reason: None,
                back: format!("/settlements/events/{code}"),
            })
        }
        ConfirmKind::SuspendProgram | ConfirmKind::CloseProgram => {
            let id = id_of(target, "program")?;
            let close = kind == ConfirmKind::CloseProgram;
            let to = if close { "closed" } else { "suspended" };
            let reason = required_reason(reason, &format!("say why the program is {to}"))?;
            let (programs, v) = signed_in::<crate::port::Programs>()?;
            let p = programs.get_program(&v, id).await?;
            let s = &p.summary;
            let possible = if close {
                s.status != "closed"
            } else {
                s.status == "active"
            };
            if !possible {
                return Err(AppError::Conflict(format!(
                    "program {} is {} and cannot become {to}",
                    s.code, s.status
                )));
            }
            let mut consequences = vec![format!(
                "{} becomes {to} (it is now {}){}",
                s.code,
                s.status,
                if close {
                    "; this cannot be undone."
                } else {
                    "; a program manager can make it active again."
                }
            )];
            if s.status == "active" {
                consequences.push(format!(
                    "The grid side is told to drop its {} rule(s): no new event is planned in it, and OpenADR aggregators no longer see it as a program.",
                    p.rules.len()
                ));
            }
            consequences.push(format!(
                "It takes no new enrollments and no control scores are run for it; its {} pending and {} active enrollment(s) are kept.",
                crate::components::fmt_count(s.pending),
                crate::components::fmt_count(s.active)
            ));
            consequences.push("The reason is kept in the audit trail.".into());
            Ok(PendingConfirm {
                kind,
                title: format!(
                    "{} program {} — {}",
                    if close { "Close" } else { "Suspend" },
                    s.code,
                    s.name
                ),
                consequences,
                post_to: "/fn/change_program_status".into(),
                fields: vec![
                    field("program_id", id),
                    field("status", to),
                    field("reason", &reason),
                ],
                reason: Some(reason),
                back: format!("/programs/{id}"),
            })
        }
    }
}

/// Where to send an error of the step: the page the form was on (same site only).
fn referer_path() -> String {
    let headers = parts().ok().map(|p| p.headers);
    let referer = headers
        .as_ref()
        .and_then(|h| h.get(http::header::REFERER))
        .and_then(|r| r.to_str().ok());
    crate::access::referer_path(referer).unwrap_or_else(|| "/home".into())
}

/// The step: checks the role and the input, keeps the pending action in the session and
/// sends the browser to the confirmation page. Nothing is changed here.
#[server(prefix = "/fn", endpoint = "ask_confirmation")]
pub async fn ask_confirmation(
    kind: String,
    target: String,
    reason: Option<String>,
) -> Result<(), AppError> {
    let viewer = viewer()?;
    let prepared = match ConfirmKind::parse(kind.trim()) {
        Ok(kind) => prepare(&viewer, kind, &target, reason).await,
        Err(e) => Err(e),
    };
    match prepared {
        Ok(pending) => {
            session()?
                .insert(SESSION_CONFIRM, &pending)
                .await
                .map_err(|e| AppError::Internal(format!("session: {e}")))?;
            leptos_axum::redirect("/confirm");
            Ok(())
        }
        Err(e) => fail(e, &referer_path()).await,
    }
}

/// The action waiting for confirmation, if the viewer may still do it.
#[server(prefix = "/fn", endpoint = "pending_confirmation")]
pub async fn pending_confirmation() -> Result<PendingConfirm, AppError> {
    let viewer = viewer()?;
    let pending = session()?
        .get::<PendingConfirm>(SESSION_CONFIRM)
        .await
        .map_err(|e| AppError::Internal(format!("session: {e}")))?
        .ok_or_else(|| {
            AppError::NotFound("an action waiting for confirmation (start from its button)".into())
        })?;
    require(&viewer, pending.kind.action())?;
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_confirmed_kind_is_a_policy_action() {
        for (name, action) in [
            ("cancel_event", Action::CancelEvents),
            ("unenroll", Action::ChangeEnrollments),
            ("disable_user", Action::ManageUsers),
            ("settle_again", Action::SettleEvents),
            ("suspend_program", Action::ChangeProgramStatus),
            ("close_program", Action::ChangeProgramStatus),
        ] {
            assert_eq!(ConfirmKind::parse(name).unwrap().action(), action);
        }
        assert!(matches!(
            ConfirmKind::parse("drop_tables"),
            Err(AppError::BadRequest(m)) if m.starts_with("kind:")
        ));
    }

    #[test]
    fn a_missing_or_long_reason_is_refused_by_name() {
        assert!(required_reason(None, "why").is_err());
        assert!(required_reason(Some("  ".into()), "why").is_err());
        assert!(required_reason(Some("x".repeat(501)), "why").is_err());
        assert_eq!(
            required_reason(Some(" storm ".into()), "why").unwrap(),
            "storm"
        );
    }
}
