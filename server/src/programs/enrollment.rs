//! The enrollment lifecycle: `PENDING` → `ACTIVE` → `INACTIVE`, changed only through
//! [`EnrollmentStatus::transition`], written with its history and audit record in one transaction.

use app::model::EnrollmentStatus;
use chrono::{DateTime, Utc};

use crate::calendar::Calendar;
use serde_json::json;

use crate::db::audit::{append, NewAuditEntry};
use crate::db::{enrollment as store, Db, Tx};
use crate::error::DomainError;
use crate::integration::message::{enqueue, new_message_id, NewMessage, DEFAULT_MAX_ATTEMPTS};
use crate::integration::wire::Flow;
use crate::with_tx;

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

/// Applies `action` to enrollment `id` at `now` (the clock's): status, history row and audit
/// record commit together; an unenrollment ends on `now`'s local date.
pub async fn change_status(
    db: &Db,
    cal: Calendar,
    id: i64,
    action: EnrollmentAction,
    actor: &str,
    reason: &str,
    now: DateTime<Utc>,
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
    let end_date = (to == EnrollmentStatus::Inactive).then(|| cal.local_date(now));
    let mut tx = db.begin().await?;
    let sync_action = match (from, to) {
        (EnrollmentStatus::Pending, EnrollmentStatus::Active) => Some("ENROLL"),
        (EnrollmentStatus::Active, EnrollmentStatus::Inactive) => Some("UNENROLL"),
        _ => None,
    };
    // Read before the change: on unenroll the devices leave the subscription.
    let sync = match sync_action {
        Some(action) => Some(sync_payload(&mut tx, id, action, now).await?),
        None => None,
    };
    store::set_status(
        &mut tx,
        id,
        from.as_str(),
        to.as_str(),
        actor,
        reason,
        end_date,
        now,
    )
    .await?;
    append(
        &mut tx,
        NewAuditEntry::new(actor, "enrollment.status", "enrollment", id)
            .before(json!({"status": from.as_str()}))
            .after(json!({"status": to.as_str(), "reason": reason})),
    )
    .await?;
    // The grid side learns of it through the enrollment sync flow, committed with the change.
    if let Some(payload) = sync {
        let msg = NewMessage {
            message_id: new_message_id(),
            flow: Flow::EnrollmentSync.as_str().into(),
            correlation_id: Some(format!("enrollment-{id}")),
            sender: "programs".into(),
            recipient: grid_recipient(&mut tx, id).await?,
            payload,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        };
        enqueue(&mut tx, &msg, now).await?;
    }
    tx.commit().await?;
    Ok(to)
}

/// Which grid side an enrollment's syncs go to: the grid instance the value map
/// `division_routing` names for its division (an enrollment received in the published
/// shape names one), else the one grid side.
pub(crate) async fn grid_recipient(tx: &mut Tx, enrollment_id: i64) -> Result<String, DomainError> {
    let Some(division) = crate::db::published::division_of(tx, enrollment_id).await? else {
        return Ok("grid".into());
    };
    let routes = crate::db::value_map::load_map(tx, crate::db::value_map::DIVISION_MAP).await?;
    Ok(routes.get(&division).map_or_else(
        || "grid".to_owned(),
        |i| crate::integration::peer::grid_instance(i),
    ))
}

/// The enrollment sync message for `id`, from what the program side holds.
async fn sync_payload(
    tx: &mut Tx,
    id: i64,
    action: &str,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, DomainError> {
    let subject = store::enrollment_subject(tx, id)
        .await?
        .ok_or_else(|| DomainError::not_found(format!("enrollment {id}")))?;
    let (program_code, service_point, transformer_code) = (
        subject.program_code,
        subject.service_point_id,
        subject.transformer_code,
    );
    let devices: Vec<(String, String, String, f64, Option<String>)> = with_tx!(tx, |c| {
        sqlx::query_as(
        "SELECT d.head_end, d.nic_id, d.device_type, d.nominal_kw, a.external_ref FROM enrollment_devices ed
         JOIN devices d ON d.id = ed.device_id LEFT JOIN aggregators a ON a.id = d.aggregator_id
         WHERE ed.enrollment_id = $1 AND ed.left_at IS NULL ORDER BY d.id"
    )
    .bind(id)
    .fetch_all(c)
    .await?
    });
    Ok(json!({
        "transactionId": format!("sync-{id}-{}", now.timestamp_millis()),
        "action": action,
        "enrollmentId": id,
        "programCode": program_code,
        "servicePointId": service_point,
        "transformerCode": transformer_code,
        "deviceList": devices
            .iter()
            .map(|(h, n, t, kw, agg)| {
                let mut d = json!({"headEndSystem": h, "nicId": n, "deviceType": t, "nominalKw": kw});
                if let Some(agg) = agg {
                    d["aggregatorExternalReference"] = json!(agg);
                }
                d
            })
            .collect::<Vec<_>>(),
    }))
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
