//! The service behind the console's port (and the REST API): role checks, masking of
//! personal data, and the mapping from rows to the DTOs the pages show.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::Mutex;

use app::access::{may, Action};
use app::model::*;
use app::port::ConsolePort;
use app::query::*;
use app::AppError;

use crate::auth::{self, IpThrottle};
use crate::db::audit::{append, NewAuditEntry};
use crate::db::network::Figures;
use crate::db::{self, Db};
use crate::error::DomainError;
use crate::integration::message;
use crate::integration::wire::{self, Flow, Outbound};
use crate::programs::enrollment::{change_status, EnrollmentAction};
use crate::programs::{opt_out, rule, score, unavailability};

/// How personal data looks to a role that may not see it.
pub const MASK: &str = "••••••";

/// How long network roll-ups are served before a refresh is started (in the background:
/// on the large demo the roll-up reads a million rows).
const ROLLUP_TTL: Duration = Duration::from_secs(120);

/// Refuses (`Forbidden`, in the policy's words) unless the viewer's role may do `action`.
pub fn require(viewer: &Viewer, action: Action) -> Result<(), DomainError> {
    if may(viewer.role, action) {
        Ok(())
    } else {
        Err(DomainError::Forbidden(action.what().to_string()))
    }
}

pub fn mask_for(viewer: &Viewer, value: String) -> String {
    if viewer.role.sees_personal_data() {
        value
    } else {
        MASK.to_string()
    }
}

/// Per-feeder figures and when they were computed.
type RollupCache = Arc<Mutex<Option<(Instant, HashMap<i64, Figures>)>>>;

pub struct ConsoleService {
    pub db: Db,
    throttle: IpThrottle,
    rollup: RollupCache,
    refreshing: Arc<AtomicBool>,
}

impl ConsoleService {
    pub fn new(db: Db) -> Arc<Self> {
        Arc::new(ConsoleService {
            db,
            throttle: IpThrottle::default(),
            rollup: Arc::new(Mutex::new(None)),
            refreshing: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Recomputes the network roll-up now (at start-up, and when it goes stale).
    pub async fn refresh_rollup(&self) -> Result<HashMap<i64, Figures>, DomainError> {
        let figures = db::network::feeder_figures(&self.db).await?;
        *self.rollup.lock().await = Some((Instant::now(), figures.clone()));
        Ok(figures)
    }

    /// Starts a background refresh unless one is running.
    pub fn refresh_in_background(&self) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let (db, rollup, refreshing) = (
            self.db.clone(),
            self.rollup.clone(),
            self.refreshing.clone(),
        );
        tokio::spawn(async move {
            match db::network::feeder_figures(&db).await {
                Ok(figures) => *rollup.lock().await = Some((Instant::now(), figures)),
                Err(e) => tracing::warn!(error = %e, "network roll-up refresh failed"),
            }
            refreshing.store(false, Ordering::Release);
        });
    }

    /// The cached roll-up (a stale one is served while a fresh one is computed); computed
    /// in the request only the very first time.
    async fn feeder_figures(&self) -> Result<HashMap<i64, Figures>, DomainError> {
        let cached = self
            .rollup
            .lock()
            .await
            .as_ref()
            .map(|(at, f)| (at.elapsed(), f.clone()));
        match cached {
            Some((age, figures)) => {
                if age >= ROLLUP_TTL {
                    self.refresh_in_background();
                }
                Ok(figures)
            }
            None => self.refresh_rollup().await,
        }
    }

    /// The cached roll-up only; `None` (and a refresh starts) while none is ready.
    async fn cached_figures(&self) -> Option<HashMap<i64, Figures>> {
        let cached = self
            .rollup
            .lock()
            .await
            .as_ref()
            .map(|(at, f)| (at.elapsed(), f.clone()));
        match cached {
            Some((age, figures)) => {
                if age >= ROLLUP_TTL {
                    self.refresh_in_background();
                }
                Some(figures)
            }
            None => {
                self.refresh_in_background();
                None
            }
        }
    }

    async fn location_dto(
        &self,
        viewer: &Viewer,
        location_id: i64,
    ) -> Result<LocationDto, DomainError> {
        let l = db::device::get_location(&self.db, location_id)
            .await?
            .ok_or_else(|| DomainError::not_found("location"))?;
        let nodes =
            db::network::nodes_by_ids(&self.db, &[l.substation_id, l.feeder_id, l.transformer_id])
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

    pub async fn enrollments(
        &self,
        viewer: &Viewer,
        q: &EnrollmentQuery,
    ) -> Result<Page<EnrollmentRow>, DomainError> {
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

    pub async fn enrollment(
        &self,
        viewer: &Viewer,
        id: i64,
    ) -> Result<EnrollmentDetail, DomainError> {
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
        let location = self.location_dto(viewer, e.location_id).await?;
        let devices = db::enrollment::enrolled_devices(&self.db, id).await?;
        let history = db::enrollment::status_history(&self.db, id).await?;
        let replacements = db::enrollment::replacements_of_enrollment(&self.db, id).await?;
        let audit = db::audit::for_entity(&self.db, "enrollment", &id.to_string(), 50).await?;
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
        })
    }

    pub async fn devices(
        &self,
        viewer: &Viewer,
        q: &DeviceQuery,
    ) -> Result<Page<DeviceRow>, DomainError> {
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

    pub async fn device(&self, viewer: &Viewer, id: i64) -> Result<DeviceDetail, DomainError> {
        require(viewer, Action::ReadDevices)?;
        let d = db::device::get_device(&self.db, id)
            .await?
            .ok_or_else(|| DomainError::not_found(format!("device {id}")))?;
        let location = self.location_dto(viewer, d.location_id).await?;
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
                            at.format("%Y-%m-%d %H:%M UTC")
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

    pub async fn programs(&self, viewer: &Viewer) -> Result<Vec<ProgramSummary>, DomainError> {
        require(viewer, Action::ReadPrograms)?;
        let programs = db::program::list_programs(&self.db).await?;
        let counts = db::program::enrollment_counts(&self.db).await?;
        Ok(programs
            .into_iter()
            .map(|p| program_summary(p, &counts))
            .collect())
    }

    pub async fn program(&self, viewer: &Viewer, id: i64) -> Result<ProgramDetail, DomainError> {
        require(viewer, Action::ReadPrograms)?;
        let p = db::program::get_program(&self.db, id)
            .await?
            .ok_or_else(|| DomainError::not_found(format!("program {id}")))?;
        let counts = db::program::enrollment_counts(&self.db).await?;
        let rules = db::program::list_rules(&self.db, id).await?;
        let today = Utc::now().date_naive();
        let current = db::program::rule_in_force(&rules, today).map(|r| r.id);
        let aggregators = db::program::program_aggregators(&self.db, id).await?;
        Ok(ProgramDetail {
            settlement_method: p.settlement_method.clone(),
            settlement_timing: p.settlement_timing.clone(),
            baseline_method: p.baseline_method.clone(),
            credit_rate: p.credit_rate,
            opt_out_allowed: p.opt_out_allowed,
            opt_out_cutoff_minutes: p.opt_out_cutoff_minutes,
            unavailability_allowed: p.unavailability_allowed,
            rules: rules
                .into_iter()
                .map(|r| ProgramRuleDto {
                    current: Some(r.id) == current,
                    id: r.id,
                    effective_from: r.effective_from,
                    cycle: r.cycle,
                    week_start: r.week_start,
                    max_events_per_cycle: r.max_events_per_cycle,
                    max_minutes_per_cycle: r.max_minutes_per_cycle,
                    min_gap_minutes: r.min_gap_minutes,
                    min_event_minutes: r.min_event_minutes,
                    max_event_minutes: r.max_event_minutes,
                    max_overrides: r.max_overrides,
                    window_start_minute: r.window_start_minute,
                    window_end_minute: r.window_end_minute,
                    activation_cost: r.activation_cost,
                    burn_rate_factor: r.burn_rate_factor,
                    score_factor: r.score_factor,
                    overridable: r.overridable,
                })
                .collect(),
            aggregators,
            summary: program_summary(p, &counts),
        })
    }

    pub async fn network_view(
        &self,
        viewer: &Viewer,
        q: &NetworkQuery,
    ) -> Result<NetworkView, DomainError> {
        require(viewer, Action::ReadNetwork)?;
        let nodes = db::network::upper_nodes(&self.db).await?;
        let figures = self.feeder_figures().await?;
        let mut substations: Vec<NodeRollup> = nodes
            .iter()
            .filter(|n| n.kind == "substation")
            .map(|s| {
                let children: Vec<NodeRollup> = nodes
                    .iter()
                    .filter(|f| f.kind == "feeder" && f.parent_id == Some(s.id))
                    .map(|f| {
                        rollup(
                            node_ref_p(f),
                            figures.get(&f.id).copied().unwrap_or_default(),
                            Vec::new(),
                        )
                    })
                    .collect();
                let total = children.iter().fold(Figures::default(), |acc, c| Figures {
                    service_points: acc.service_points + c.service_points,
                    enrolled_devices: acc.enrolled_devices + c.enrolled_devices,
                    enrolled_kw: acc.enrolled_kw + c.enrolled_kw,
                });
                rollup(node_ref_p(s), total, children)
            })
            .collect();
        substations.sort_by(|a, b| a.node.code.cmp(&b.node.code));
        let feeder = match q.feeder {
            None => None,
            Some(fid) => {
                let f = db::network::get_node(&self.db, fid)
                    .await?
                    .filter(|n| n.kind == "feeder")
                    .ok_or_else(|| DomainError::not_found(format!("feeder {fid}")))?;
                let transformers = db::network::transformers_of(&self.db, fid).await?;
                let tf = db::network::transformer_figures(&self.db, fid).await?;
                let children = transformers
                    .iter()
                    .map(|t| {
                        rollup(
                            node_ref(t),
                            tf.get(&t.id).copied().unwrap_or_default(),
                            Vec::new(),
                        )
                    })
                    .collect();
                Some(rollup(
                    node_ref(&f),
                    figures.get(&fid).copied().unwrap_or_default(),
                    children,
                ))
            }
        };
        Ok(NetworkView {
            substations,
            feeder,
        })
    }

    pub async fn audit(
        &self,
        viewer: &Viewer,
        q: &AuditQuery,
    ) -> Result<Page<AuditEntryDto>, DomainError> {
        require(viewer, Action::ReadAudit)?;
        let filter = db::audit::AuditFilter {
            actor: q.actor.clone(),
            entity_type: q.entity_type.clone(),
            entity_id: q.entity_id.clone(),
            action: q.action.clone(),
            from: q
                .from
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc()),
            until: q
                .to
                .and_then(|d| d.succ_opt())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc()),
            before_id: q.before,
            limit: q.limit as i64 + 1,
        };
        let (mut rows, total) = db::audit::list_audit(&self.db, &filter).await?;
        let limit = q.limit as usize;
        let next_after = db::next_cursor(&mut rows, limit, |r| r.id);
        Ok(Page {
            rows: rows.into_iter().map(audit_dto).collect(),
            total,
            next_after,
        })
    }

    pub async fn options(&self, viewer: &Viewer) -> Result<FilterOptions, DomainError> {
        require(viewer, Action::ReadPrograms)?;
        let programs = db::program::list_programs(&self.db).await?;
        let nodes = db::network::upper_nodes(&self.db).await?;
        Ok(FilterOptions {
            programs: programs
                .into_iter()
                .map(|p| ProgramRef {
                    id: p.id,
                    code: p.code,
                    name: p.name,
                })
                .collect(),
            substations: nodes
                .iter()
                .filter(|n| n.kind == "substation")
                .map(node_ref_p)
                .collect(),
            feeders: nodes
                .iter()
                .filter(|n| n.kind == "feeder")
                .map(|f| FeederOption {
                    id: f.id,
                    code: f.code.clone(),
                    substation_id: f.parent_id.unwrap_or_default(),
                })
                .collect(),
        })
    }

    pub async fn home_data(&self, viewer: &Viewer) -> Result<HomeDto, DomainError> {
        let (customers, devices, enrollments) = db::device::totals(&self.db).await?;
        let enrolled_kw = self
            .cached_figures()
            .await
            .map(|f| f.values().map(|f| f.enrolled_kw).sum());
        let by_program = if may(viewer.role, Action::SeeEnrollmentCounts) {
            let programs = db::program::list_programs(&self.db).await?;
            db::program::enrollment_counts(&self.db)
                .await?
                .into_iter()
                .map(|(pid, status, count)| StatusCount {
                    program_code: programs
                        .iter()
                        .find(|p| p.id == pid)
                        .map(|p| p.code.clone())
                        .unwrap_or_default(),
                    status,
                    count,
                })
                .collect()
        } else {
            Vec::new()
        };
        let recent_audit = if may(viewer.role, Action::ReadAudit) {
            let f = db::audit::AuditFilter {
                limit: 10,
                ..Default::default()
            };
            db::audit::list_audit(&self.db, &f)
                .await?
                .0
                .into_iter()
                .map(audit_dto)
                .collect()
        } else {
            Vec::new()
        };
        let users = if may(viewer.role, Action::ManageUsers) {
            db::user::count_users(&self.db).await?
        } else {
            0
        };
        Ok(HomeDto {
            customers,
            devices,
            enrollments,
            enrolled_kw,
            by_program,
            recent_audit,
            users,
            backend: self.db.backend_name().to_string(),
        })
    }
}

fn message_dto(m: message::MessageRow) -> MessageDto {
    MessageDto {
        id: m.id,
        message_id: m.message_id,
        direction: m.direction,
        flow: m.flow,
        correlation_id: m.correlation_id,
        sender: m.sender,
        recipient: m.recipient,
        status: m.status,
        attempts: m.attempts,
        max_attempts: m.max_attempts,
        next_attempt_at: m.next_attempt_at,
        last_error: m.last_error,
        created_at: m.created_at,
        finished_at: m.finished_at,
    }
}

/// Keys whose values are personal data in the wire formats.
const PERSONAL_KEYS: [&str; 4] = ["phone", "email", "street", "address"];

/// Replaces personal data anywhere in a message with the mask.
pub fn mask_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if PERSONAL_KEYS.contains(&k.as_str()) && !val.is_null() {
                    *val = serde_json::Value::String(MASK.to_string());
                } else {
                    mask_json(val);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_json),
        _ => {}
    }
}

fn node_ref(n: &db::network::NodeRow) -> NodeRef {
    NodeRef {
        id: n.id,
        kind: n.kind.clone(),
        code: n.code.clone(),
        name: n.name.clone(),
    }
}

fn node_ref_p(n: &db::network::NodeWithParent) -> NodeRef {
    NodeRef {
        id: n.id,
        kind: n.kind.clone(),
        code: n.code.clone(),
        name: n.name.clone(),
    }
}

fn rollup(node: NodeRef, f: Figures, children: Vec<NodeRollup>) -> NodeRollup {
    NodeRollup {
        node,
        service_points: f.service_points,
        enrolled_devices: f.enrolled_devices,
        enrolled_kw: (f.enrolled_kw * 10.0).round() / 10.0,
        children,
    }
}

fn replacement_dto(r: db::enrollment::ReplacementRow) -> ReplacementDto {
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

pub fn audit_dto(a: db::audit::AuditRow) -> AuditEntryDto {
    AuditEntryDto {
        id: a.id,
        occurred_at: a.occurred_at,
        actor: a.actor,
        action: a.action,
        entity_type: a.entity_type,
        entity_id: a.entity_id,
        before: a.before_json,
        after: a.after_json,
    }
}

fn program_summary(p: db::program::ProgramRow, counts: &[(i64, String, i64)]) -> ProgramSummary {
    let count = |status: &str| {
        counts
            .iter()
            .find(|(pid, s, _)| *pid == p.id && s == status)
            .map(|(_, _, n)| *n)
            .unwrap_or(0)
    };
    ProgramSummary {
        pending: count("PENDING"),
        active: count("ACTIVE"),
        inactive: count("INACTIVE"),
        id: p.id,
        code: p.code,
        name: p.name,
        category: p.category,
        device_type: p.device_type,
        status: p.status,
        season_start: p.season_start,
        season_end: p.season_end,
    }
}

#[async_trait]
impl ConsolePort for ConsoleService {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
        client_ip: &str,
    ) -> Result<Viewer, AppError> {
        Ok(auth::authenticate(&self.db, &self.throttle, username, password, client_ip).await?)
    }

    async fn viewer(&self, user_id: i64) -> Result<Option<Viewer>, AppError> {
        match db::user::get_user(&self.db, user_id).await? {
            Some(row) if !row.disabled => Ok(Some(auth::viewer_of(&row)?)),
            _ => Ok(None),
        }
    }

    async fn home(&self, viewer: &Viewer) -> Result<HomeDto, AppError> {
        Ok(self.home_data(viewer).await?)
    }

    async fn filter_options(&self, viewer: &Viewer) -> Result<FilterOptions, AppError> {
        Ok(self.options(viewer).await?)
    }

    async fn list_enrollments(
        &self,
        viewer: &Viewer,
        query: &EnrollmentQuery,
    ) -> Result<Page<EnrollmentRow>, AppError> {
        Ok(self.enrollments(viewer, query).await?)
    }

    async fn get_enrollment(&self, viewer: &Viewer, id: i64) -> Result<EnrollmentDetail, AppError> {
        Ok(self.enrollment(viewer, id).await?)
    }

    async fn list_devices(
        &self,
        viewer: &Viewer,
        query: &DeviceQuery,
    ) -> Result<Page<DeviceRow>, AppError> {
        Ok(self.devices(viewer, query).await?)
    }

    async fn get_device(&self, viewer: &Viewer, id: i64) -> Result<DeviceDetail, AppError> {
        Ok(self.device(viewer, id).await?)
    }

    async fn list_programs(&self, viewer: &Viewer) -> Result<Vec<ProgramSummary>, AppError> {
        Ok(self.programs(viewer).await?)
    }

    async fn get_program(&self, viewer: &Viewer, id: i64) -> Result<ProgramDetail, AppError> {
        Ok(self.program(viewer, id).await?)
    }

    async fn network(
        &self,
        viewer: &Viewer,
        query: &NetworkQuery,
    ) -> Result<NetworkView, AppError> {
        Ok(self.network_view(viewer, query).await?)
    }

    async fn list_audit(
        &self,
        viewer: &Viewer,
        query: &AuditQuery,
    ) -> Result<Page<AuditEntryDto>, AppError> {
        Ok(self.audit(viewer, query).await?)
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
        let to = change_status(&self.db, enrollment_id, action, &viewer.username, reason).await?;
        Ok(to.as_str().to_string())
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
        let starts = unavailability::parse_instant("start", starts_at)?;
        let ends = unavailability::parse_instant("end", ends_at)?;
        unavailability::add_window(
            &self.db,
            &viewer.username,
            device_id,
            starts,
            ends,
            reason,
            Utc::now(),
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
            unavailability::cancel_window(&self.db, &viewer.username, window_id, Utc::now())
                .await?,
        )
    }

    async fn check_device(&self, viewer: &Viewer, device_id: i64) -> Result<(), AppError> {
        require(viewer, Action::CheckDevices)?;
        let d = db::device::get_device(&self.db, device_id)
            .await?
            .ok_or_else(|| DomainError::not_found(format!("device {device_id}")))?;
        let check = wire::DeviceStatusCheck {
            transaction_id: format!("CHK-{device_id}-{}", Utc::now().timestamp_millis()),
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
            max_attempts: crate::programs::enrollment::DEFAULT_MAX_ATTEMPTS,
        };
        let mut tx = self.db.begin().await?;
        message::enqueue(&mut tx, &msg, Utc::now()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn opt_out(&self, viewer: &Viewer, stage: &str, device_id: i64) -> Result<(), AppError> {
        require(viewer, Action::OptOut)?;
        Ok(opt_out::opt_out(&self.db, &viewer.username, stage, device_id, Utc::now()).await?)
    }

    async fn save_rule(
        &self,
        viewer: &Viewer,
        program_id: i64,
        rule: &RuleInput,
    ) -> Result<String, AppError> {
        require(viewer, Action::EditRules)?;
        let now = Utc::now();
        let parsed = rule::parse_rule(rule, now.date_naive())?;
        let replaced =
            rule::save_rule(&self.db, &viewer.username, program_id, &parsed, now).await?;
        Ok(format!(
            "Rule effective {} {}; the grid side is being told.",
            parsed.effective_from,
            if replaced { "changed" } else { "added" }
        ))
    }

    async fn export_network(&self, viewer: &Viewer) -> Result<String, AppError> {
        require(viewer, Action::ExportNetwork)?;
        let s = crate::grid::network_export::export_network(&self.db, &viewer.username, Utc::now())
            .await?;
        Ok(format!(
            "Network model exported: {} nodes and {} service points queued for the program side.",
            s.nodes, s.service_points
        ))
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
            Utc::now(),
        )
        .await?;
        Ok(format!(
            "Device replaced by {} {} (device {new_device}); the grid side is being told.",
            r.new_head_end, r.new_nic_id
        ))
    }

    async fn list_aggregators(&self, viewer: &Viewer) -> Result<Vec<AggregatorDto>, AppError> {
        require(viewer, Action::ReadAggregators)?;
        let mut list = crate::programs::aggregator::list_aggregators(&self.db).await?;
        for a in &mut list {
            a.contact_email = mask_for(viewer, std::mem::take(&mut a.contact_email));
        }
        Ok(list)
    }

    async fn save_aggregator(
        &self,
        viewer: &Viewer,
        input: &AggregatorInput,
    ) -> Result<String, AppError> {
        require(viewer, Action::EditAggregators)?;
        let a = crate::programs::aggregator::parse(input)?;
        let (id, created) = crate::programs::aggregator::save_aggregator(
            &self.db,
            &viewer.username,
            &a,
            Utc::now(),
        )
        .await?;
        Ok(format!(
            "Aggregator {} {} (id {id}); the grid side is being told.",
            a.name,
            if created { "added" } else { "saved" }
        ))
    }

    async fn run_scores(&self, viewer: &Viewer) -> Result<String, AppError> {
        require(viewer, Action::RunScores)?;
        let now = Utc::now();
        let run =
            score::run_scores(&self.db, &viewer.username, now.date_naive(), now, false).await?;
        Ok(format!(
            "Control scores computed for {} devices; {} message(s) queued for the grid side.",
            run.devices, run.messages
        ))
    }

    async fn monitor(
        &self,
        viewer: &Viewer,
        query: &MessageQuery,
    ) -> Result<MonitorView, AppError> {
        require(viewer, Action::ReadMonitor)?;
        let filter = message::MessageFilter {
            flow: query.flow.clone(),
            status: query.status.clone(),
            direction: query.direction.clone(),
            before_id: query.before,
            limit: query.limit as i64 + 1,
        };
        let mut rows = message::list_messages(&self.db, &filter).await?;
        let limit = query.limit as usize;
        let next_before = db::next_cursor(&mut rows, limit, |r| r.id);
        let latencies = message::recent_latencies(&self.db, 10_000).await?;
        let hours = query.chart_hours();
        let series =
            crate::integration::monitor_chart::series(&self.db, &filter, hours, Utc::now()).await?;
        let title = match &query.flow {
            Some(flow) => format!("{flow}: messages per status, last {hours} h"),
            None => format!("Messages per flow, last {hours} h"),
        };
        let chart_svg = crate::integration::monitor_chart::render(&series, &title);
        Ok(MonitorView {
            chart_svg,
            counts: message::counts(&self.db)
                .await?
                .into_iter()
                .map(|(flow, direction, status, count)| FlowCount {
                    flow,
                    direction,
                    status,
                    count,
                })
                .collect(),
            p50_ms: message::percentile(&latencies, 50.0),
            p95_ms: message::percentile(&latencies, 95.0),
            p99_ms: message::percentile(&latencies, 99.0),
            messages: rows.into_iter().map(message_dto).collect(),
            next_before,
            flows: Flow::ALL.iter().map(|f| f.as_str().to_string()).collect(),
        })
    }

    async fn get_message(&self, viewer: &Viewer, id: i64) -> Result<MessageDetail, AppError> {
        require(viewer, Action::ReadMonitor)?;
        let m = message::get_message(&self.db, id)
            .await?
            .ok_or_else(|| DomainError::not_found(format!("message {id}")))?;
        let attempts = message::attempts_of(&self.db, id).await?;
        let show = |text: &str| {
            let mut v: serde_json::Value =
                serde_json::from_str(text).unwrap_or(serde_json::Value::String(text.to_string()));
            if !viewer.role.sees_personal_data() {
                mask_json(&mut v);
            }
            serde_json::to_string_pretty(&v).unwrap_or_default()
        };
        Ok(MessageDetail {
            payload: show(&m.payload),
            result: m.result.as_deref().map(show),
            attempts: attempts
                .into_iter()
                .map(|a| AttemptDto {
                    attempt: a.attempt,
                    started_at: a.started_at,
                    latency_ms: a.latency_ms,
                    outcome: a.outcome,
                    error: a.error,
                })
                .collect(),
            message: message_dto(m),
        })
    }

    async fn resubmit_message(&self, viewer: &Viewer, id: i64) -> Result<(), AppError> {
        require(viewer, Action::ResubmitMessages)?;
        let mut tx = self.db.begin().await?;
        let before = message::resubmit(&mut tx, id, Utc::now()).await?;
        append(
            &mut tx,
            NewAuditEntry::new(
                &viewer.username,
                "message.resubmit",
                "integration_message",
                id,
            )
            .before(serde_json::json!({"status": before.status, "attempts": before.attempts}))
            .after(serde_json::json!({"status": "queued"})),
        )
        .await
        .map_err(AppError::from)?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_value_maps(&self, viewer: &Viewer) -> Result<Vec<ValueMapEntry>, AppError> {
        require(viewer, Action::EditValueMaps)?;
        Ok(db::value_map::list_entries(&self.db)
            .await?
            .into_iter()
            .map(|e| ValueMapEntry {
                id: e.id,
                map: e.map,
                source_value: e.source_value,
                target_value: e.target_value,
                updated_at: e.updated_at,
            })
            .collect())
    }

    async fn put_value_map(
        &self,
        viewer: &Viewer,
        map: &str,
        source: &str,
        target: &str,
    ) -> Result<(), AppError> {
        require(viewer, Action::EditValueMaps)?;
        let (source, target) = (source.trim(), target.trim());
        if !db::value_map::MAPS.contains(&map) {
            return Err(AppError::BadRequest(format!("unknown value map `{map}`")));
        }
        for (field, v) in [("code", source), ("translation", target)] {
            if v.is_empty() || v.chars().count() > 100 {
                return Err(AppError::BadRequest(format!(
                    "the {field} must have 1 to 100 characters"
                )));
            }
        }
        let mut tx = self.db.begin().await?;
        let before = db::value_map::put_entry(&mut tx, map, source, target, Utc::now()).await?;
        append(
            &mut tx,
            NewAuditEntry::new(
                &viewer.username,
                "value_map.put",
                "value_map",
                format!("{map}:{source}"),
            )
            .before(serde_json::json!({"target": before}))
            .after(serde_json::json!({"target": target})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_value_map(&self, viewer: &Viewer, id: i64) -> Result<(), AppError> {
        require(viewer, Action::EditValueMaps)?;
        let mut tx = self.db.begin().await?;
        let row = db::value_map::delete_entry(&mut tx, id).await?;
        append(
            &mut tx,
            NewAuditEntry::new(
                &viewer.username,
                "value_map.delete",
                "value_map",
                format!("{}:{}", row.map, row.source_value),
            )
            .before(serde_json::json!({"target": row.target_value})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn forecast(
        &self,
        viewer: &Viewer,
        query: &ForecastQuery,
    ) -> Result<ForecastView, AppError> {
        Ok(self.forecast_view(viewer, query, Utc::now()).await?)
    }

    async fn upload_weather(&self, viewer: &Viewer, csv: &str) -> Result<String, AppError> {
        Ok(self.store_weather(viewer, csv, Utc::now()).await?)
    }

    async fn meter_imports(
        &self,
        viewer: &Viewer,
        selected: Option<i64>,
    ) -> Result<MeterImportView, AppError> {
        require(viewer, Action::ReadMeterImports)?;
        Ok(crate::programs::meter::imports_view(&self.db, selected).await?)
    }

    async fn import_meter_data(
        &self,
        viewer: &Viewer,
        file_name: &str,
        format: &str,
        service_point: &str,
        content: &str,
    ) -> Result<(i64, String), AppError> {
        use crate::programs::meter::{import, FileKind};
        require(viewer, Action::ImportMeterData)?;
        let kind = match format {
            "csv" => FileKind::Csv,
            "espi" => FileKind::Espi {
                service_point: Some(service_point.to_string()).filter(|s| !s.trim().is_empty()),
            },
            other => {
                return Err(AppError::BadRequest(format!(
                    "format must be csv or espi, not `{other}`"
                )))
            }
        };
        let report = import(
            &self.db,
            &viewer.username,
            file_name,
            content,
            kind,
            Utc::now(),
        )
        .await?;
        Ok((report.import_id, report.message))
    }

    async fn reductions(&self, viewer: &Viewer) -> Result<ReductionTableView, AppError> {
        Ok(self.reduction_table(viewer).await?)
    }

    async fn save_reduction(
        &self,
        viewer: &Viewer,
        input: &ReductionInput,
    ) -> Result<String, AppError> {
        Ok(self.put_reduction(viewer, input).await?)
    }

    async fn delete_reduction(&self, viewer: &Viewer, id: i64) -> Result<(), AppError> {
        Ok(self.remove_reduction(viewer, id).await?)
    }

    async fn list_users(&self, viewer: &Viewer) -> Result<Vec<UserDto>, AppError> {
        require(viewer, Action::ManageUsers)?;
        let now = Utc::now();
        Ok(db::user::list_users(&self.db)
            .await?
            .into_iter()
            .filter_map(|u| {
                Some(UserDto {
                    role: Role::parse(&u.role)?,
                    locked: u.locked_until.is_some_and(|t| t > now),
                    id: u.id,
                    username: u.username,
                    display_name: u.display_name,
                    disabled: u.disabled,
                    created_at: u.created_at,
                })
            })
            .collect())
    }

    async fn create_user(
        &self,
        viewer: &Viewer,
        username: &str,
        display_name: &str,
        role: &str,
        password: &str,
    ) -> Result<UserDto, AppError> {
        require(viewer, Action::ManageUsers)?;
        let id = auth::create_user(
            &self.db,
            &viewer.username,
            username,
            display_name,
            role,
            password,
        )
        .await?;
        let row = db::user::get_user(&self.db, id)
            .await?
            .ok_or_else(|| DomainError::not_found("user"))?;
        Ok(UserDto {
            id,
            username: row.username,
            display_name: row.display_name,
            role: Role::parse(&row.role).unwrap_or(Role::Auditor),
            disabled: row.disabled,
            locked: false,
            created_at: row.created_at,
        })
    }

    async fn set_user_disabled(
        &self,
        viewer: &Viewer,
        user_id: i64,
        disabled: bool,
    ) -> Result<(), AppError> {
        require(viewer, Action::ManageUsers)?;
        Ok(auth::set_user_disabled(&self.db, viewer, user_id, disabled).await?)
    }

    async fn reset_password(
        &self,
        viewer: &Viewer,
        user_id: i64,
        password: &str,
    ) -> Result<(), AppError> {
        require(viewer, Action::ManageUsers)?;
        Ok(auth::reset_password(&self.db, &viewer.username, user_id, password).await?)
    }
}
