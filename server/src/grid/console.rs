//! The event port, implemented on the grid side and called by the event pages' server
//! functions and the REST API alike: role checks, parsing the forms into domain types, and
//! turning stored rows into the DTOs the pages show.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use app::access::Action as Permission;
use app::grid::*;
use app::model::Viewer;
use app::AppError;

use crate::access::require;
use crate::audit::audit_dto;
use crate::calendar::Calendar;
use crate::clock::{Clock, OffsetClock};
use crate::db::{audit, event as event_store, strategy as strategy_store, Db};
use crate::error::DomainError;
use crate::grid::chart::{event_chart, EventChart};
use crate::grid::event::{self, parse_time, EventRow, EventWindow};
use crate::grid::headend::HeadEndSim;
use crate::grid::lifecycle::{transition, Action, Actor, EventStatus};
use crate::grid::strategy::{self, StrategyRow};
use crate::grid::{dispatch, DEVICE_TYPES};

/// How the grid side runs events in this process (the clock is the process's one clock,
/// handed to [`EventService::new`] with the other services').
#[derive(Clone)]
pub struct GridSettings {
    pub headend: HeadEndSim,
    /// Balancing-authority threshold: open events' reductions above it need two approvals.
    pub ba_threshold_kw: f64,
}

impl Default for GridSettings {
    fn default() -> Self {
        GridSettings {
            headend: HeadEndSim::default(),
            ba_threshold_kw: 50_000.0,
        }
    }
}

pub struct EventService {
    pub db: Db,
    pub settings: GridSettings,
    clock: Arc<dyn Clock>,
    /// Set when the server runs on a simulated clock an admin may move on (it is `clock`).
    simulated: Option<Arc<OffsetClock>>,
    /// The utility's calendar: the planner's local day and rule cycles.
    pub calendar: Calendar,
}

impl EventService {
    /// What `ev` published over OpenADR: nothing before approval (OpenADR has no approval
    /// state), `active` while published, `cancelled` once an approved event was withdrawn.
    async fn openadr_publications(
        &self,
        ev: &EventRow,
    ) -> Result<Vec<OpenAdrPublicationDto>, DomainError> {
        let state = match ev.status() {
            EventStatus::Approved
            | EventStatus::Scheduled
            | EventStatus::InProgress
            | EventStatus::Completed => "active",
            EventStatus::Canceled if ev.approved_by.is_some() => "cancelled",
            _ => return Ok(Vec::new()),
        };
        let (rows, reports) = crate::db::openadr::publications(&self.db, ev.id).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let id =
                    crate::db::openadr::event_key(r.stage_id, r.aggregator_id, &r.program_code);
                let last_report_at = reports.iter().find(|(e, _)| *e == id).map(|(_, t)| *t);
                OpenAdrPublicationDto {
                    openadr_event_id: id,
                    ven_name: r.aggregator_name,
                    ven: r.aggregator_ref,
                    devices: r.devices,
                    state: state.to_string(),
                    last_report_at,
                }
            })
            .collect())
    }

    pub fn new(
        db: Db,
        settings: GridSettings,
        clock: Arc<dyn Clock>,
        simulated: Option<Arc<OffsetClock>>,
        calendar: Calendar,
    ) -> Arc<Self> {
        Arc::new(EventService {
            db,
            settings,
            clock,
            simulated,
            calendar,
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn actor(viewer: &Viewer) -> Actor {
        Actor::Person {
            username: viewer.username.clone(),
            role: viewer.role,
        }
    }

    /// One scheduler step at the service's clock.
    pub async fn tick(&self) -> Result<dispatch::TickReport, DomainError> {
        dispatch::tick(&self.db, &self.settings.headend, self.now()).await
    }

    async fn node_codes(&self) -> Result<Vec<(i64, String, String, String)>, DomainError> {
        strategy_store::nodes(&self.db).await
    }

    fn strategy_dto(s: StrategyRow, nodes: &[(i64, String, String, String)]) -> StrategyDto {
        let code = |id: &i64| {
            nodes
                .iter()
                .find(|n| n.0 == *id)
                .map(|n| n.1.clone())
                .unwrap_or_else(|| id.to_string())
        };
        let groups = s.groups();
        StrategyDto {
            id: s.id,
            name: s.name.clone(),
            description: s.description.clone(),
            zone: s.zone().iter().map(code).collect(),
            programs: s.programs(),
            device_types: groups.device_types.clone(),
            feeders: groups.feeder_ids.iter().map(code).collect(),
            event_type: s.event_type.clone(),
            priority: s.priority,
            ba_check: s.ba_check,
            objective: s.objective.clone(),
            target_mw: s.target_mw,
            max_increase_pct: s.max_increase_pct,
            control_level: s.control_level.clone(),
            override_rules: s.override_rules,
            archived: s.archived_at.is_some(),
            updated_at: s.updated_at,
        }
    }

    /// Events with their stage and device counts and peak planned reduction, one query.
    async fn summaries(&self, rows: Vec<EventRow>) -> Result<Vec<EventSummary>, DomainError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = rows.iter().map(|e| e.id).collect();
        let counts = event_store::event_counts(&self.db, &ids).await?;
        let names = strategy_store::strategy_names(&self.db).await?;
        Ok(rows
            .into_iter()
            .map(|e| {
                let (stages, devices, peak) = counts
                    .iter()
                    .find(|c| c.0 == e.id)
                    .map(|c| (c.1, c.2, c.3))
                    .unwrap_or((0, 0, 0.0));
                EventSummary {
                    id: e.id,
                    code: e.code.clone(),
                    name: e.name.clone(),
                    strategy: names
                        .iter()
                        .find(|n| n.0 == e.strategy_id)
                        .map(|n| n.1.clone())
                        .unwrap_or_default(),
                    status: e.status.clone(),
                    event_type: e.event_type.clone(),
                    objective: e.objective.clone(),
                    starts_at: e.starts_at,
                    ends_at: e.ends_at,
                    stages,
                    devices,
                    peak_reduction_kw: crate::figures::peak_reduction_kw(peak),
                }
            })
            .collect())
    }
}

#[async_trait]
impl EventPort for EventService {
    async fn strategy_options(&self, viewer: &Viewer) -> Result<StrategyOptions, AppError> {
        require(viewer, Permission::ReadStrategies)?;
        Ok(StrategyOptions {
            nodes: self
                .node_codes()
                .await?
                .into_iter()
                .map(|(_, code, name, kind)| (code, name, kind))
                .collect(),
            programs: strategy::known_programs(&self.db).await?,
            device_types: DEVICE_TYPES.iter().map(|s| s.to_string()).collect(),
            event_types: strategy::EVENT_TYPES
                .iter()
                .map(|t| t.0.to_string())
                .collect(),
            objectives: strategy::OBJECTIVES.iter().map(|s| s.to_string()).collect(),
            control_levels: strategy::CONTROL_LEVELS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        })
    }

    async fn list_strategies(
        &self,
        viewer: &Viewer,
        archived: bool,
    ) -> Result<Vec<StrategyDto>, AppError> {
        require(viewer, Permission::ReadStrategies)?;
        let nodes = self.node_codes().await?;
        Ok(strategy::list_strategies(&self.db, archived)
            .await?
            .into_iter()
            .map(|s| Self::strategy_dto(s, &nodes))
            .collect())
    }

    async fn get_strategy(&self, viewer: &Viewer, id: i64) -> Result<StrategyDto, AppError> {
        require(viewer, Permission::ReadStrategies)?;
        let s = strategy::get_strategy(&self.db, id)
            .await?
            .ok_or_else(|| DomainError::not_found(format!("strategy {id}")))?;
        Ok(Self::strategy_dto(s, &self.node_codes().await?))
    }

    async fn save_strategy(
        &self,
        viewer: &Viewer,
        id: Option<i64>,
        input: &StrategyInput,
    ) -> Result<i64, AppError> {
        require(viewer, Permission::EditStrategies)?;
        let parsed = strategy::parse_strategy(&self.db, input).await?;
        Ok(strategy::save_strategy(&self.db, &viewer.username, id, &parsed, self.now()).await?)
    }

    async fn archive_strategy(&self, viewer: &Viewer, id: i64) -> Result<String, AppError> {
        require(viewer, Permission::ArchiveStrategies)?;
        Ok(strategy::archive_strategy(&self.db, &viewer.username, id, self.now()).await?)
    }

    async fn list_events(
        &self,
        viewer: &Viewer,
        status: Option<&str>,
    ) -> Result<Vec<EventSummary>, AppError> {
        require(viewer, Permission::ReadEvents)?;
        let status = match status.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(EventStatus::parse(s).ok_or_else(|| {
                DomainError::invalid(format!(
                    "status: `{s}` is not one of {}",
                    EventStatus::ALL.map(|s| s.as_str()).join(", ")
                ))
            })?),
        };
        let rows = event::list_events(&self.db, status).await?;
        Ok(self.summaries(rows).await?)
    }
    async fn create_event(&self, viewer: &Viewer, input: &EventInput) -> Result<i64, AppError> {
        require(viewer, Permission::CreateEvents)?;
        let strategy_id: i64 = input.strategy_id.trim().parse().map_err(|_| {
            DomainError::invalid("strategy: choose the strategy the event is created from")
        })?;
        let window = EventWindow::new(
            parse_time(self.calendar, "starts at", &input.starts_at)?,
            parse_time(self.calendar, "ends at", &input.ends_at)?,
            self.now(),
        )?;
        let ev = event::create_event(
            &self.db,
            self.calendar,
            &Self::actor(viewer),
            strategy_id,
            &input.name,
            window,
            self.now(),
        )
        .await?;
        Ok(ev.id)
    }

    async fn get_event(&self, viewer: &Viewer, id: i64) -> Result<EventDetail, AppError> {
        require(viewer, Permission::ReadEvents)?;
        let ev = event::get_event(&self.db, id)
            .await?
            .ok_or_else(|| DomainError::not_found(format!("event {id}")))?;
        let summary = self
            .summaries(vec![ev.clone()])
            .await?
            .pop()
            .ok_or_else(|| DomainError::Internal("summary".into()))?;
        let stages: Vec<StageDto> = event::stages(&self.db, id)
            .await?
            .into_iter()
            .map(|s| StageDto {
                expected_kw: crate::figures::stage_expected_kw(&s),
                id: s.id,
                seq: s.seq,
                external_id: s.external_id,
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                device_count: s.device_count,
                status: s.status,
            })
            .collect();
        let intervals: Vec<IntervalDto> = event_store::intervals(&self.db, id)
            .await?
            .into_iter()
            .map(|(t, b, p, a)| IntervalDto {
                starts_at: t,
                baseline_kw: (b * 10.0).round() / 10.0,
                planned_kw: (p * 10.0).round() / 10.0,
                actual_kw: a,
            })
            .collect();
        let outcomes: Vec<Count> = event_store::reported_outcomes(&self.db, id)
            .await?
            .into_iter()
            .map(|(o, n)| Count { label: o, count: n })
            .collect();
        let plan: serde_json::Value = ev
            .plan_summary
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        let feasibility = crate::grid::feasibility::from_summary(self.calendar, &plan);
        let points: Vec<_> = intervals
            .iter()
            .map(|i| (i.starts_at, i.baseline_kw, i.planned_kw, i.actual_kw))
            .collect();
        let window = (ev.starts_at, ev.ends_at);
        let line = feasibility
            .as_ref()
            .map(|f| {
                let base: Vec<_> = intervals
                    .iter()
                    .map(|i| (i.starts_at, i.baseline_kw))
                    .collect();
                crate::grid::feasibility::objective_line(f, &base, window)
            })
            .unwrap_or_default();
        let label = if ev.objective == "MaxDemandThreshold" {
            "Ceiling (objective)"
        } else {
            "Target (baseline − reduction)"
        };
        let live = matches!(
            ev.status(),
            EventStatus::Approved | EventStatus::Scheduled | EventStatus::InProgress
        );
        let chart_svg = event_chart(
            self.calendar,
            &EventChart {
                points: &points,
                window,
                now: live.then(|| self.now()),
                objective: Some((label, &line)),
            },
        );
        let exclusions = plan["exclusions"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| Count {
                        label: k.clone(),
                        count: v.as_i64().unwrap_or(0),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let timeline = audit::for_entity(&self.db, "event", &ev.code, 200)
            .await?
            .into_iter()
            .rev()
            .map(audit_dto)
            .collect();
        let actor = Self::actor(viewer);
        let facts = ev.facts(!stages.is_empty());
        let candidates = [
            Action::Plan {
                stages: String::new(),
            },
            Action::Submit,
            Action::Approve,
            Action::Deny { reason: "x".into() },
            Action::Cancel { reason: "x".into() },
        ];
        let actions = candidates
            .iter()
            .filter(|a| transition(ev.status(), a, &actor, &facts).is_ok())
            .map(|a| a.name().to_string())
            .collect();
        let openadr = self.openadr_publications(&ev).await?;
        let refresh_secs = matches!(
            ev.status(),
            EventStatus::Approved | EventStatus::Scheduled | EventStatus::InProgress
        )
        .then_some(15);
        Ok(EventDetail {
            summary,
            strategy_id: ev.strategy_id,
            zone: self
                .node_codes()
                .await?
                .into_iter()
                .filter(|n| ev.zone().contains(&n.0))
                .map(|n| n.1)
                .collect(),
            programs: ev.programs(),
            priority: ev.priority,
            target_mw: ev.target_mw,
            max_increase_pct: ev.max_increase_pct,
            control_level: ev.control_level.clone(),
            override_rules: ev.override_rules,
            ba_check: ev.ba_check,
            second_approval_required: ev.second_approval_required,
            created_by: ev.created_by.clone(),
            submitted_by: ev.submitted_by.clone(),
            approved_by: ev.approved_by.clone(),
            second_approved_by: ev.second_approved_by.clone(),
            decided_by: ev.denied_by.clone().or(ev.canceled_by.clone()),
            decision_reason: ev.decision_reason.clone(),
            planned_at: ev.planned_at,
            feasibility,
            eligible: plan["eligible"].as_i64().unwrap_or(0),
            exclusions,
            stages,
            intervals,
            outcomes,
            openadr,
            chart_svg,
            timeline,
            actions,
            refresh_secs,
            now: self.now(),
        })
    }

    async fn stage_devices(
        &self,
        viewer: &Viewer,
        event_id: i64,
        seq: i32,
        after: Option<i64>,
    ) -> Result<StageDevicesPage, AppError> {
        require(viewer, Permission::ReadEvents)?;
        let stage = event::stages(&self.db, event_id)
            .await?
            .into_iter()
            .find(|s| s.seq == seq)
            .ok_or_else(|| DomainError::not_found(format!("stage {seq} of event {event_id}")))?;
        let mut rows =
            event_store::stage_devices(&self.db, stage.id, after.unwrap_or(0), 101).await?;
        let next = crate::db::next_cursor(&mut rows, 100, |r| r.id);
        Ok(StageDevicesPage {
            stage: StageDto {
                expected_kw: crate::figures::stage_expected_kw(&stage),
                id: stage.id,
                seq: stage.seq,
                external_id: stage.external_id,
                starts_at: stage.starts_at,
                ends_at: stage.ends_at,
                device_count: stage.device_count,
                status: stage.status,
            },
            devices: rows
                .into_iter()
                .map(|r| StageDeviceDto {
                    id: r.id,
                    head_end: r.head_end,
                    nic_id: r.nic_id,
                    program_code: r.program_code,
                    device_type: r.device_type,
                    expected_kw: r.expected_kw,
                    status: r.status,
                    outcome: r.outcome,
                    actual_kw: r.actual_kw.map(|a| (a * 1000.0).round() / 1000.0),
                })
                .collect(),
            next,
        })
    }

    async fn event_action(
        &self,
        viewer: &Viewer,
        id: i64,
        action: &str,
        reason: &str,
    ) -> Result<String, AppError> {
        let action = match action {
            "plan" => Action::Plan {
                stages: reason.to_string(),
            },
            "submit" => Action::Submit,
            "approve" => Action::Approve,
            "deny" => Action::Deny {
                reason: reason.to_string(),
            },
            "cancel" => Action::Cancel {
                reason: reason.to_string(),
            },
            other => {
                return Err(DomainError::invalid(format!(
                    "action: `{other}` is not one of plan, submit, approve, deny, cancel"
                ))
                .into())
            }
        };
        let msg = event::act(
            &self.db,
            self.calendar,
            &Self::actor(viewer),
            id,
            action,
            self.settings.ba_threshold_kw,
            self.now(),
        )
        .await?;
        // An approval is scheduled right away rather than at the next background tick.
        if let Err(e) = self.tick().await {
            tracing::warn!(error = %e, "scheduler step after an event action failed");
        }
        Ok(msg)
    }

    async fn simulated_now(&self) -> Option<DateTime<Utc>> {
        self.simulated.as_ref().map(|c| c.now())
    }

    async fn advance_clock(&self, viewer: &Viewer, minutes: i64) -> Result<String, AppError> {
        require(viewer, Permission::MoveClock)?;
        let clock = self.simulated.as_ref().ok_or_else(|| {
            DomainError::invalid(
                "the server runs on the real clock; start it with --simulated-clock",
            )
        })?;
        if !(1..=24 * 60).contains(&minutes) {
            return Err(DomainError::invalid("minutes: between 1 and 1440").into());
        }
        clock.advance(Duration::minutes(minutes));
        // Catch up step by step so every stage start and end happens at its own time.
        let mut steps = 0;
        loop {
            let r = self.tick().await?;
            steps += 1;
            if r.is_idle() || steps > 50 {
                break;
            }
        }
        let mut tx = self.db.begin().await?;
        audit::append(
            &mut tx,
            audit::NewAuditEntry::new(
                &viewer.username,
                "clock.advance",
                "setting",
                "simulated_clock",
            )
            .after(serde_json::json!({"minutes": minutes, "now": clock.now()})),
        )
        .await?;
        tx.commit().await?;
        Ok(format!(
            "The simulated clock is now {}.",
            self.calendar.show(clock.now())
        ))
    }
}
