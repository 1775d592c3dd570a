//! The enrollment pages' and API's service on the program side: reading enrollments (with
//! personal data masked by role), changing their status and replacing their devices.

use std::sync::Arc;

use async_trait::async_trait;

use app::access::Action;
use app::model::*;
use app::port::EnrollmentPort;
use app::query::EnrollmentQuery;
use app::AppError;

use crate::access::{mask_for, require};
use crate::audit::audit_dto;
use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::db::{self, Db};
use crate::error::DomainError;
use crate::programs::device_service::{location_dto, replacement_dto};
use crate::programs::enrollment::{change_status, EnrollmentAction};

pub struct EnrollmentService {
    pub db: Db,
    clock: Arc<dyn Clock>,
    /// The utility's calendar: an unenrollment ends on the local date.
    calendar: Calendar,
}

impl EnrollmentService {
    pub fn new(db: Db, clock: Arc<dyn Clock>, calendar: Calendar) -> Arc<Self> {
        Arc::new(EnrollmentService {
            db,
            clock,
            calendar,
        })
    }
}

#[async_trait]
impl EnrollmentPort for EnrollmentService {
    async fn list_enrollments(
        &self,
        viewer: &Viewer,
        q: &EnrollmentQuery,
    ) -> Result<Page<EnrollmentRow>, AppError> {
        require(viewer, Action::ReadEnrollments)?;
        let (rows, total, next_after) = db::enrollment::list_enrollments(&self.db, q).await?;
        Ok(Page {
            rows: rows
                .into_iter()
                .map(|r| EnrollmentRow {
                    id: r.id,
                    customer_name: r.customer_name,
                    account_id: r.account_id,
                    program_id: r.program_id,
                    program_code: r.program_code,
                    status: r.status,
                    source: r.source,
                    service_point_id: r.service_point_id,
                    substation_code: r.substation_code,
                    feeder_code: r.feeder_code,
                    device_count: r.device_count,
                    nominal_kw: r.nominal_kw,
                    start_date: r.start_date,
                })
                .collect(),
            total,
            next_after,
        })
    }

    async fn get_enrollment(&self, viewer: &Viewer, id: i64) -> Result<EnrollmentDetail, AppError> {
        require(viewer, Action::ReadEnrollments)?;
        let e = db::enrollment::get_enrollment(&self.db, id)
            .await?
            .ok_or_else(|| DomainError::not_found(format!("enrollment {id}")))?;
        let customer = db::device::get_customer(&self.db, e.customer_id)
            .await?
            .ok_or_else(|| DomainError::not_found("customer"))?;
        let program = db::program::get_program(&self.db, e.program_id)
            .await?
            .ok_or_else(|| DomainError::not_found("program"))?;
        let location = location_dto(&self.db, viewer, e.location_id).await?;
        let devices = db::enrollment::enrolled_devices(&self.db, id).await?;
        let history = db::enrollment::status_history(&self.db, id).await?;
        let replacements = db::enrollment::replacements_of_enrollment(&self.db, id).await?;
        let audit = db::audit::for_entity(&self.db, "enrollment", &id.to_string(), 50).await?;
        let published = if viewer.role.sees_personal_data() {
            db::published::get_published_enrollment(&self.db, id)
                .await?
                .map(published_dto)
        } else {
            None
        };
        Ok(EnrollmentDetail {
            id: e.id,
            status: e.status,
            source: e.source,
            ownership: e.ownership,
            start_date: e.start_date,
            end_date: e.end_date,
            program: ProgramRef {
                id: program.id,
                code: program.code,
                name: program.name,
            },
            customer: CustomerDto {
                id: customer.id,
                person_id: customer.person_id,
                account_id: customer.account_id,
                name: customer.name,
                phone: mask_for(viewer, customer.phone),
                email: mask_for(viewer, customer.email),
            },
            location,
            devices: devices
                .into_iter()
                .map(|d| EnrolledDevice {
                    device_id: d.device_id,
                    head_end: d.head_end,
                    nic_id: d.nic_id,
                    device_type: d.device_type,
                    registered: d.registered,
                    nominal_kw: d.nominal_kw,
                    joined_at: d.joined_at,
                    left_at: d.left_at,
                })
                .collect(),
            history: history
                .into_iter()
                .map(|h| StatusChange {
                    from_status: h.from_status,
                    to_status: h.to_status,
                    changed_at: h.changed_at,
                    actor: h.actor,
                    reason: h.reason,
                })
                .collect(),
            replacements: replacements.into_iter().map(replacement_dto).collect(),
            audit: audit.into_iter().map(audit_dto).collect(),
            published,
        })
    }

    async fn change_enrollment_status(
        &self,
        viewer: &Viewer,
        enrollment_id: i64,
        action: &str,
        reason: &str,
    ) -> Result<String, AppError> {
        require(viewer, Action::ChangeEnrollments)?;
        let action = match action {
            "activate" => EnrollmentAction::Activate,
            "unenroll" => EnrollmentAction::Unenroll,
            other => {
                return Err(AppError::BadRequest(format!(
                    "unknown enrollment action `{other}`"
                )))
            }
        };
        let to = change_status(
            &self.db,
            self.calendar,
            enrollment_id,
            action,
            &viewer.username,
            reason,
            self.clock.now(),
        )
        .await?;
        Ok(to.as_str().to_string())
    }

    async fn replace_device(
        &self,
        viewer: &Viewer,
        enrollment_id: i64,
        input: &ReplacementInput,
    ) -> Result<String, AppError> {
        require(viewer, Action::ReplaceDevices)?;
        let r = crate::programs::replacement::parse(input)?;
        let new_device = crate::programs::replacement::replace_device(
            &self.db,
            &viewer.username,
            enrollment_id,
            &r,
            self.clock.now(),
        )
        .await?;
        Ok(format!(
            "Device replaced by {} {} (device {new_device}); the grid side is being told.",
            r.new_head_end, r.new_nic_id
        ))
    }
}

fn published_dto(row: db::published::PublishedEnrollmentRow) -> PublishedFieldsDto {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let assets: Vec<serde_json::Value> = serde_json::from_str(&row.assets).unwrap_or_default();
    PublishedFieldsDto {
        transaction_id: row.transaction_id,
        location_id: row.location_ref,
        division: row.division,
        county: row.county,
        state: row.state,
        country: row.country,
        premise_id: row.premise_id,
        service_agreement_id: row.service_agreement_id,
        installation_method: row.installation_method,
        business_phone: row.business_phone,
        assets: assets
            .iter()
            .map(|a| PublishedAssetDto {
                sequence: text(&a["sequence"]),
                asset_id: text(&a["assetId"]),
                head_end_system: text(&a["headEndSystem"]).unwrap_or_default(),
                nic_id: text(&a["nicId"]).unwrap_or_default(),
            })
            .collect(),
    }
}
