//! The device pages' and API's service on the program side: reading devices (with personal
//! data masked by role), unavailability windows, connection checks and opt-outs.

use std::sync::Arc;

use async_trait::async_trait;

use app::access::Action;
use app::model::*;
use app::port::DevicePort;
use app::query::DeviceQuery;
use app::AppError;

use crate::access::{mask_for, require};
use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::db::{self, Db};
use crate::dto::node_ref;
use crate::error::DomainError;
use crate::integration::message;
use crate::integration::wire::{self, Outbound};
use crate::programs::{opt_out, unavailability};

pub struct DeviceService {
    pub db: Db,
    clock: Arc<dyn Clock>,
    /// The utility's calendar: the console's unavailability times are local.
    calendar: Calendar,
}

impl DeviceService {
    pub fn new(db: Db, clock: Arc<dyn Clock>, calendar: Calendar) -> Arc<Self> {
        Arc::new(DeviceService {
            db,
            clock,
            calendar,
        })
    }
}

/// Where a customer's device is: its address (masked by role) and its place in the network.
pub(crate) async fn location_dto(
    db: &Db,
    viewer: &Viewer,
    location_id: i64,
) -> Result<LocationDto, DomainError> {
    let l = db::device::get_location(db, location_id)
        .await?
        .ok_or_else(|| DomainError::not_found("location"))?;
    let nodes =
        db::program_network::nodes_by_ids(db, &[l.substation_id, l.feeder_id, l.transformer_id])
            .await?;
    let path = [l.substation_id, l.feeder_id, l.transformer_id]
        .iter()
        .filter_map(|id| nodes.iter().find(|n| n.id == *id))
        .map(node_ref)
        .collect();
    Ok(LocationDto {
        id: l.id,
        service_point_id: l.service_point_id,
        premise_id: l.premise_id,
        address: mask_for(
            viewer,
            format!("{}, {} {}", l.street, l.postal_code, l.city),
        ),
        time_zone: l.time_zone,
        path,
    })
}

pub(crate) fn replacement_dto(r: db::enrollment::ReplacementRow) -> ReplacementDto {
    ReplacementDto {
        enrollment_id: r.enrollment_id,
        old_device_id: r.old_device_id,
        old_nic_id: r.old_nic_id,
        new_device_id: r.new_device_id,
        new_nic_id: r.new_nic_id,
        replaced_at: r.replaced_at,
        actor: r.actor,
        reason: r.reason,
    }
}

#[async_trait]
impl DevicePort for DeviceService {
    async fn list_devices(
        &self,
        viewer: &Viewer,
        q: &DeviceQuery,
    ) -> Result<Page<DeviceRow>, AppError> {
        require(viewer, Action::ReadDevices)?;
        let (rows, total, next_after) = db::device::list_devices(&self.db, q).await?;
        Ok(Page {
            rows: rows
                .into_iter()
                .map(|d| DeviceRow {
                    id: d.id,
                    head_end: d.head_end,
                    nic_id: d.nic_id,
                    device_type: d.device_type,
                    specification: d.specification,
                    status: d.status,
                    registered: d.registered,
                    nominal_kw: d.nominal_kw,
                    control_score: d.control_score,
                    service_point_id: d.service_point_id,
                    feeder_code: d.feeder_code,
                })
                .collect(),
            total,
            next_after,
        })
    }

    async fn get_device(&self, viewer: &Viewer, id: i64) -> Result<DeviceDetail, AppError> {
        require(viewer, Action::ReadDevices)?;
        let d = db::device::get_device(&self.db, id)
            .await?
            .ok_or_else(|| DomainError::not_found(format!("device {id}")))?;
        let location = location_dto(&self.db, viewer, d.location_id).await?;
        let enrollments = db::device::device_enrollments(&self.db, id).await?;
        let windows = db::device::unavailability(&self.db, id).await?;
        let replacements = db::enrollment::replacements_of_device(&self.db, id).await?;
        let reservations = db::device::reservations(&self.db, &d.head_end, &d.nic_id).await?;
        let connection =
            message::last_answer(&self.db, "device_status_check", &format!("device-{id}"))
                .await?
                .map(|(status, result, at)| match (status.as_str(), result) {
                    ("delivered", Some(r)) => {
                        let v: serde_json::Value = serde_json::from_str(&r).unwrap_or_default();
                        format!(
                            "{} (grid answer of {})",
                            v["deviceList"][0]["status"].as_str().unwrap_or("UNKNOWN"),
                            self.calendar.show(at)
                        )
                    }
                    ("queued" | "delivering" | "technical_failure", _) => {
                        "check on its way to the grid side".to_string()
                    }
                    (other, _) => format!("check failed ({other})"),
                });
        Ok(DeviceDetail {
            id: d.id,
            head_end: d.head_end,
            nic_id: d.nic_id,
            device_type: d.device_type,
            specification: d.specification,
            serial_number: d.serial_number,
            badge: d.badge,
            status: d.status,
            registered: d.registered,
            nominal_kw: d.nominal_kw,
            control_score: d.control_score,
            aggregator: d.aggregator,
            location,
            enrollments: enrollments
                .into_iter()
                .map(|e| DeviceEnrollment {
                    enrollment_id: e.enrollment_id,
                    program_code: e.program_code,
                    program_name: e.program_name,
                    status: e.status,
                    joined_at: e.joined_at,
                    left_at: e.left_at,
                })
                .collect(),
            unavailability: windows
                .into_iter()
                .map(|u| UnavailabilityDto {
                    id: u.id,
                    starts_at: u.starts_at,
                    ends_at: u.ends_at,
                    reason: u.reason,
                    status: u.status,
                })
                .collect(),
            replacements: replacements.into_iter().map(replacement_dto).collect(),
            reservations: reservations
                .into_iter()
                .map(|r| ReservationDto {
                    stage: r.stage,
                    event: r.event,
                    program_code: r.program_code,
                    status: r.status,
                    starts_at: r.starts_at,
                    ends_at: r.ends_at,
                    expected_kw: r.expected_kw,
                    outcome: r.outcome,
                    opted_out_at: r.opted_out_at,
                })
                .collect(),
            connection,
        })
    }

    async fn add_unavailability(
        &self,
        viewer: &Viewer,
        device_id: i64,
        starts_at: &str,
        ends_at: &str,
        reason: &str,
    ) -> Result<(), AppError> {
        require(viewer, Action::RecordUnavailability)?;
        let starts = unavailability::parse_instant(self.calendar, "start", starts_at)?;
        let ends = unavailability::parse_instant(self.calendar, "end", ends_at)?;
        unavailability::add_window(
            &self.db,
            &viewer.username,
            device_id,
            starts,
            ends,
            reason,
            self.clock.now(),
        )
        .await?;
        Ok(())
    }

    async fn cancel_unavailability(
        &self,
        viewer: &Viewer,
        window_id: i64,
    ) -> Result<i64, AppError> {
        require(viewer, Action::CancelUnavailability)?;
        Ok(
            unavailability::cancel_window(&self.db, &viewer.username, window_id, self.clock.now())
                .await?,
        )
    }

    async fn check_device(&self, viewer: &Viewer, device_id: i64) -> Result<(), AppError> {
        require(viewer, Action::CheckDevices)?;
        let d = db::device::get_device(&self.db, device_id)
            .await?
            .ok_or_else(|| DomainError::not_found(format!("device {device_id}")))?;
        let check = wire::DeviceStatusCheck {
            transaction_id: format!("CHK-{device_id}-{}", self.clock.now().timestamp_millis()),
            device_list: vec![wire::DeviceKey {
                head_end_system: d.head_end,
                nic_id: d.nic_id,
            }],
        };
        let msg = message::NewMessage {
            message_id: message::new_message_id(),
            flow: wire::DeviceStatusCheck::FLOW.as_str().into(),
            correlation_id: Some(format!("device-{device_id}")),
            sender: "programs".into(),
            recipient: "grid".into(),
            payload: check.to_payload(),
            max_attempts: crate::integration::message::DEFAULT_MAX_ATTEMPTS,
        };
        let mut tx = self.db.begin().await?;
        message::enqueue(&mut tx, &msg, self.clock.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn opt_out(&self, viewer: &Viewer, stage: &str, device_id: i64) -> Result<(), AppError> {
        require(viewer, Action::OptOut)?;
        Ok(opt_out::opt_out(
            &self.db,
            self.calendar,
            &viewer.username,
            stage,
            device_id,
            self.clock.now(),
        )
        .await?)
    }
}
