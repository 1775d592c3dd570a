//! The enrollment lifecycle: `PENDING` → `ACTIVE` → `INACTIVE`, changed only through
//! [`EnrollmentStatus::transition`], written with its history and audit record in one transaction.

use app::model::EnrollmentStatus;
use chrono::Utc;
use serde_json::json;

use crate::db::audit::{append, NewAuditEntry};
use crate::db::{enrollment as store, Db};
use crate::error::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollmentAction {
    /// The head-end registered the devices: the subscription takes part in events.
    Activate,
    /// The customer leaves the program (or the request is withdrawn while pending).
    Unenroll,
}

pub trait Transition: Sized {
    fn transition(self, action: EnrollmentAction) -> Result<Self, DomainError>;
}

impl Transition for EnrollmentStatus {
    fn transition(self, action: EnrollmentAction) -> Result<Self, DomainError> {
        use EnrollmentAction::*;
        use EnrollmentStatus::*;
        match (self, action) {
            (Pending, Activate) => Ok(Active),
            (Pending | Active, Unenroll) => Ok(Inactive),
            (from, action) => Err(DomainError::Conflict(format!(
                "an enrollment that is {} cannot be {}",
                from.as_str(),
                match action {
                    Activate => "activated",
                    Unenroll => "unenrolled",
                }
            ))),
        }
    }
}

/// Applies `action` to enrollment `id`: status, history row and audit record commit together.
pub async fn change_status(
    db: &Db,
    id: i64,
    action: EnrollmentAction,
    actor: &str,
    reason: &str,
) -> Result<EnrollmentStatus, DomainError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(DomainError::invalid("give a reason of 1 to 500 characters"));
    }
    let current = store::get_enrollment(db, id)
        .await?
        .ok_or_else(|| DomainError::not_found(format!("enrollment {id}")))?;
    let from = EnrollmentStatus::parse(&current.status).ok_or_else(|| {
        DomainError::Internal(format!("enrollment {id} has status {}", current.status))
    })?;
    let to = from.transition(action)?;
    let end_date = (to == EnrollmentStatus::Inactive).then(|| Utc::now().date_naive());
    let mut tx = db.begin().await?;
    store::set_status(
        &mut tx,
        id,
        from.as_str(),
        to.as_str(),
        actor,
        reason,
        end_date,
    )
    .await?;
    append(
        &mut tx,
        NewAuditEntry::new(actor, "enrollment.status", "enrollment", id)
            .before(json!({"status": from.as_str()}))
            .after(json!({"status": to.as_str(), "reason": reason})),
    )
    .await?;
    tx.commit().await?;
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use EnrollmentAction::*;
    use EnrollmentStatus::*;

    #[test]
    fn a_pending_enrollment_can_be_activated() {
        assert_eq!(Pending.transition(Activate).unwrap(), Active);
    }

    #[test]
    fn an_active_enrollment_cannot_be_activated_again() {
        assert!(matches!(
            Active.transition(Activate),
            Err(DomainError::Conflict(_))
        ));
    }

    #[test]
    fn pending_and_active_enrollments_can_be_unenrolled() {
        assert_eq!(Pending.transition(Unenroll).unwrap(), Inactive);
        assert_eq!(Active.transition(Unenroll).unwrap(), Inactive);
    }

    #[test]
    fn an_inactive_enrollment_stays_inactive() {
        assert!(Inactive.transition(Activate).is_err());
        assert!(Inactive.transition(Unenroll).is_err());
    }
}
