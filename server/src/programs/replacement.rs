//! Device replacement on an enrollment: the old device leaves, the new one joins, the
//! history row, the audit row and the grid's enrollment sync (`REPLACE_DEVICE`, flow 2)
//! commit together.

use chrono::{DateTime, Utc};
use serde_json::json;

use app::model::ReplacementInput;

use crate::db::audit::{append, NewAuditEntry};
use crate::db::Db;
use crate::error::DomainError;
use crate::integration::message::{enqueue, new_message_id, NewMessage, DEFAULT_MAX_ATTEMPTS};
use crate::integration::wire::{self, DeviceKey, Outbound, SyncAction, SyncDevice, Validate};
use crate::with_tx;

/// A checked replacement request.
#[derive(Debug, Clone, PartialEq)]
pub struct Replacement {
    pub old_device_id: i64,
    pub old_head_end: String,
    pub old_nic_id: String,
    pub new_head_end: String,
    pub new_nic_id: String,
    pub new_nominal_kw: Option<f64>,
    pub new_specification: Option<String>,
    pub reason: String,
}

const MAX_KEY_CHARS: usize = 64;

fn key_part(field: &str, value: &str) -> Result<String, DomainError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > MAX_KEY_CHARS {
        return Err(DomainError::invalid(format!(
            "{field}: give 1 to {MAX_KEY_CHARS} characters"
        )));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == ':')
    {
        return Err(DomainError::invalid(format!(
            "{field}: use letters, digits, `-`, `_` or `:` only, got `{v}`"
        )));
    }
    Ok(v.to_string())
}

/// Checks the form field by field (the old device's key is filled in later from the database).
pub fn parse(input: &ReplacementInput) -> Result<Replacement, DomainError> {
    let old_device_id = input
        .old_device_id
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| DomainError::invalid("old device: choose the device that leaves"))?;
    let new_head_end = key_part("new head-end system", &input.new_head_end)?.to_uppercase();
    let new_nic_id = key_part("new NIC id", &input.new_nic_id)?.to_uppercase();
    let new_nominal_kw = match input.new_nominal_kw.trim() {
        "" => None,
        v => Some(
            v.parse::<f64>()
                .ok()
                .filter(|kw| kw.is_finite() && (0.0..=1000.0).contains(kw))
                .ok_or_else(|| {
                    DomainError::invalid(format!(
                        "new nominal kW: expected a number from 0 to 1000, got `{v}`"
                    ))
                })?,
        ),
    };
    let new_specification = match input.new_specification.trim() {
        "" => None,
        v if v.chars().count() > 100 => {
            return Err(DomainError::invalid(
                "new specification: at most 100 characters",
            ))
        }
        v => Some(v.to_string()),
    };
    let reason = input.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(DomainError::invalid("reason: give 1 to 500 characters"));
    }
    Ok(Replacement {
        old_device_id,
        old_head_end: String::new(),
        old_nic_id: String::new(),
        new_head_end,
        new_nic_id,
        new_nominal_kw,
        new_specification,
        reason: reason.to_string(),
    })
}

type OldDevice = (String, String, String, String, f64, i64);

/// Applies the replacement; returns the new device's id. `r.old_head_end`/`old_nic_id` are
/// filled in from the database.
pub async fn replace_device(
    db: &Db,
    actor: &str,
    enrollment_id: i64,
    r: &Replacement,
    now: DateTime<Utc>,
) -> Result<i64, DomainError> {
    let mut tx = db.begin().await?;
    let enrollment = crate::db::enrollment::enrollment_subject(&mut tx, enrollment_id)
        .await?
        .map(|e| {
            (
                e.status,
                e.program_id,
                e.program_code,
                e.service_point_id,
                e.transformer_code,
            )
        });
    let (status, program_id, program_code, service_point, transformer) =
        enrollment.ok_or_else(|| DomainError::not_found(format!("enrollment {enrollment_id}")))?;
    if status == "INACTIVE" {
        return Err(DomainError::Conflict(format!(
            "enrollment {enrollment_id} is INACTIVE; only a PENDING or ACTIVE enrollment changes devices"
        )));
    }
    // The old device must be in the subscription now.
    let old: Option<OldDevice> = with_tx!(&mut tx, |c| {
        sqlx::query_as(
        "SELECT d.head_end, d.nic_id, d.device_type, d.specification, d.nominal_kw, d.location_id
         FROM enrollment_devices ed JOIN devices d ON d.id = ed.device_id
         WHERE ed.enrollment_id = $1 AND ed.device_id = $2 AND ed.left_at IS NULL"
    )
    .bind(enrollment_id)
    .bind(r.old_device_id)
    .fetch_optional(c)
    .await?
    });
    let (old_head_end, old_nic, device_type, spec, old_kw, location) = old.ok_or_else(|| {
        DomainError::invalid(format!(
            "old device: device {} is not in enrollment {enrollment_id}",
            r.old_device_id
        ))
    })?;
    if old_head_end == r.new_head_end && old_nic == r.new_nic_id {
        return Err(DomainError::invalid(
            "new NIC id: the new device must differ from the one it replaces",
        ));
    }
    let nominal_kw = r.new_nominal_kw.unwrap_or(old_kw);
    let specification = r.new_specification.clone().unwrap_or(spec);
    let existing: Option<(i64, String)> = with_tx!(&mut tx, |c| sqlx::query_as(
        "SELECT id, status FROM devices WHERE head_end = $1 AND nic_id = $2"
    )
    .bind(&r.new_head_end)
    .bind(&r.new_nic_id)
    .fetch_optional(c)
    .await?);
    let new_id = match existing {
        Some((id, status)) => {
            if status != "active" {
                return Err(DomainError::invalid(format!(
                    "new NIC id: device {} {} is {status}; only an active device can join",
                    r.new_head_end, r.new_nic_id
                )));
            }
            let busy: i64 = with_tx!(&mut tx, |c| {
                sqlx::query_scalar(
                "SELECT COUNT(*) FROM enrollment_devices ed JOIN enrollments e ON e.id = ed.enrollment_id
                 WHERE ed.device_id = $1 AND ed.left_at IS NULL AND e.program_id = $2 AND e.status <> 'INACTIVE'"
            )
            .bind(id)
            .bind(program_id)
            .fetch_one(c)
            .await?
            });
            if busy > 0 {
                return Err(DomainError::Conflict(format!(
                    "device {} {} is already enrolled in {program_code}",
                    r.new_head_end, r.new_nic_id
                )));
            }
            id
        }
        None => with_tx!(&mut tx, |c| {
            sqlx::query_scalar(
            "INSERT INTO devices (head_end, nic_id, device_type, specification, serial_number, badge, status, registered,
                nominal_kw, control_score, location_id, aggregator_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, '', 'active', FALSE, $6, 0, $7, NULL, $8, $8) RETURNING id"
        )
        .bind(&r.new_head_end)
        .bind(&r.new_nic_id)
        .bind(&device_type)
        .bind(&specification)
        .bind(format!("{}-{}", r.new_head_end, r.new_nic_id))
        .bind(nominal_kw)
        .bind(location)
        .bind(now)
        .fetch_one(c)
        .await?
        }),
    };
    with_tx!(&mut tx, |c| {
        sqlx::query(
        "UPDATE enrollment_devices SET left_at = $1 WHERE enrollment_id = $2 AND device_id = $3 AND left_at IS NULL"
    )
    .bind(now)
    .bind(enrollment_id)
    .bind(r.old_device_id)
    .execute(c)
    .await?
    .rows_affected()
    });
    with_tx!(&mut tx, |c| {
        sqlx::query(
        "INSERT INTO enrollment_devices (enrollment_id, device_id, joined_at, left_at) VALUES ($1, $2, $3, NULL)"
    )
    .bind(enrollment_id)
    .bind(new_id)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected()
    });
    // The enrolled kW at the enrollment's transformer changes with the device's.
    let at_transformer: i64 = with_tx!(&mut tx, |c| {
        sqlx::query_scalar(
        "SELECT l.transformer_id FROM enrollments e JOIN device_locations l ON l.id = e.location_id
         WHERE e.id = $1"
    )
    .bind(enrollment_id)
    .fetch_one(c)
    .await?
    });
    crate::db::program_network::recount_enrolled_figures(
        &mut tx,
        crate::db::Recount::Transformers(&[at_transformer]),
        &[],
    )
    .await?;
    with_tx!(&mut tx, |c| {
        sqlx::query(
        "INSERT INTO device_replacements (enrollment_id, old_device_id, new_device_id, replaced_at, actor, reason)
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(enrollment_id)
    .bind(r.old_device_id)
    .bind(new_id)
    .bind(now)
    .bind(actor)
    .bind(&r.reason)
    .execute(c)
    .await?
    .rows_affected()
    });
    append(
        &mut tx,
        NewAuditEntry::new(actor, "enrollment.replace_device", "enrollment", enrollment_id)
            .before(json!({"device": {"headEndSystem": old_head_end, "nicId": old_nic}}))
            .after(json!({"device": {"headEndSystem": r.new_head_end, "nicId": r.new_nic_id, "id": new_id}, "reason": r.reason})),
    )
    .await?;
    // The grid only knows ACTIVE enrollments' devices; a PENDING one is synced on activation.
    if status == "ACTIVE" {
        let aggregator_ref: Option<String> = with_tx!(&mut tx, |c| sqlx::query_scalar(
            "SELECT a.external_ref FROM devices d JOIN aggregators a ON a.id = d.aggregator_id
             WHERE d.id = $1"
        )
        .bind(new_id)
        .fetch_optional(c)
        .await?);
        let device_type = wire::DeviceType::parse(&device_type)
            .ok_or_else(|| DomainError::Internal(format!("device type {device_type}")))?;
        let sync = wire::EnrollmentSync {
            transaction_id: format!("replace-{enrollment_id}-{}", now.timestamp_millis()),
            action: SyncAction::ReplaceDevice,
            enrollment_id,
            program_code,
            service_point_id: service_point,
            transformer_code: transformer,
            device_list: vec![SyncDevice {
                head_end_system: r.new_head_end.clone(),
                nic_id: r.new_nic_id.clone(),
                device_type,
                nominal_kw,
                aggregator_ref,
            }],
            replaced_device: Some(DeviceKey {
                head_end_system: old_head_end,
                nic_id: old_nic,
            }),
        };
        sync.validate().map_err(|e| {
            DomainError::invalid(format!(
                "the replacement cannot be synced: {}: {}",
                e.field, e.message
            ))
        })?;
        let recipient = crate::programs::enrollment::grid_recipient(&mut tx, enrollment_id).await?;
        enqueue(
            &mut tx,
            &NewMessage {
                message_id: new_message_id(),
                flow: wire::EnrollmentSync::FLOW.as_str().into(),
                correlation_id: Some(format!("enrollment-{enrollment_id}")),
                sender: "programs".into(),
                recipient,
                payload: sync.to_payload(),
                max_attempts: DEFAULT_MAX_ATTEMPTS,
            },
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(new_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ReplacementInput {
        ReplacementInput {
            old_device_id: "7".into(),
            new_head_end: "ecobee".into(),
            new_nic_id: "a1b2c3".into(),
            new_nominal_kw: "".into(),
            new_specification: "".into(),
            reason: "broken".into(),
        }
    }

    #[test]
    fn a_replacement_keys_the_new_device_in_upper_case() {
        let r = parse(&input()).unwrap();
        assert_eq!(
            (r.new_head_end.as_str(), r.new_nic_id.as_str()),
            ("ECOBEE", "A1B2C3")
        );
        assert_eq!(r.new_nominal_kw, None);
    }

    #[test]
    fn a_replacement_without_a_reason_is_refused_naming_the_field() {
        let mut i = input();
        i.reason = "  ".into();
        assert!(parse(&i).unwrap_err().to_string().contains("reason"));
    }

    #[test]
    fn a_negative_nominal_kw_is_refused_naming_the_field() {
        let mut i = input();
        i.new_nominal_kw = "-2".into();
        assert!(parse(&i)
            .unwrap_err()
            .to_string()
            .contains("new nominal kW"));
    }
}
