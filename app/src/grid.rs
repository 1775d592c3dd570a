//! The grid operator's pages (strategies, events): the DTOs they exchange and the port the
//! server implements for them. Every method checks the viewer's role itself.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::model::{AuditEntryDto, Viewer};

/// The strategy form as posted: text fields, checked by the server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StrategyInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Network node codes (substations, feeders, transformers), comma separated.
    pub zone: String,
    /// Program codes, comma separated.
    pub programs: String,
    /// Device types that take part, comma separated; empty: all.
    #[serde(default)]
    pub device_types: String,
    /// Feeder codes that take part, comma separated; empty: the whole zone.
    #[serde(default)]
    pub feeders: String,
    /// Emergency, Reliability, Economic or DeviceTest.
    pub event_type: String,
    /// Present (any value) when the balancing-authority check applies.
    #[serde(default)]
    pub ba_check: Option<String>,
    /// Manual, MaxDemandThreshold, LoadReduction or MaximumReduction.
    pub objective: String,
    /// The ceiling (MaxDemandThreshold) or the reduction (LoadReduction), in MW.
    #[serde(default)]
    pub target_mw: String,
    /// Rebound bound for every objective, percent over the baseline (empty: the default).
    #[serde(default)]
    pub max_increase_pct: String,
    /// full, cycle_75, cycle_50 or setback.
    pub control_level: String,
    /// Present (any value) when the strategy overrides overridable program rules.
    #[serde(default)]
    pub override_rules: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StrategyDto {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub zone: Vec<String>,
    pub programs: Vec<String>,
    pub device_types: Vec<String>,
    pub feeders: Vec<String>,
    pub event_type: String,
    pub priority: i32,
    pub ba_check: bool,
    pub objective: String,
    pub target_mw: Option<f64>,
    pub max_increase_pct: Option<f64>,
    pub control_level: String,
    pub override_rules: bool,
    pub archived: bool,
    pub updated_at: DateTime<Utc>,
}

impl StrategyDto {
    /// The form pre-filled with this strategy, for editing.
    pub fn to_input(&self) -> StrategyInput {
        let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        StrategyInput {
            name: self.name.clone(),
            description: self.description.clone(),
            zone: self.zone.join(", "),
            programs: self.programs.join(", "),
            device_types: self.device_types.join(", "),
            feeders: self.feeders.join(", "),
            event_type: self.event_type.clone(),
            ba_check: self.ba_check.then(|| "on".into()),
            objective: self.objective.clone(),
            target_mw: num(self.target_mw),
            max_increase_pct: num(self.max_increase_pct),
            control_level: self.control_level.clone(),
            override_rules: self.override_rules.then(|| "on".into()),
        }
    }
}

/// What the strategy form offers to choose from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StrategyOptions {
    /// (code, name, kind)
    pub nodes: Vec<(String, String, String)>,
    pub programs: Vec<String>,
    pub device_types: Vec<String>,
    pub event_types: Vec<String>,
    pub objectives: Vec<String>,
    pub control_levels: Vec<String>,
}

/// The new-event form: a strategy and a window (local `YYYY-MM-DD HH:MM`, or RFC 3339).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventInput {
    pub strategy_id: String,
    pub name: String,
    pub starts_at: String,
    pub ends_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventSummary {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub strategy: String,
    pub status: String,
    pub event_type: String,
    pub objective: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub stages: i64,
    pub devices: i64,
    /// Largest planned reduction over the event's intervals.
    pub peak_reduction_kw: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageDto {
    pub id: i64,
    pub seq: i32,
    pub external_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub expected_kw: f64,
    pub device_count: i64,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntervalDto {
    pub starts_at: DateTime<Utc>,
    pub baseline_kw: f64,
    pub planned_kw: f64,
    pub actual_kw: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Count {
    pub label: String,
    pub count: i64,
}

/// The rebound allowance when a strategy gives none: after the planned reduction, the zone
/// load may exceed its baseline forecast by at most this percent at any interval (the event
/// window and the tail after it), whatever the objective. The planner applies it; the
/// strategy form names it.
pub const DEFAULT_MAX_INCREASE_PCT: f64 = 10.0;

/// A run of consecutive event intervals where the plan misses its objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShortPeriod {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The same period in the utility's local time (`2026-07-14 16:00–17:15 CDT`).
    pub local: String,
    pub max_shortfall_kw: f64,
}

/// Whether the stored plan meets its objective and keeps its rebound below the zone's
/// pre-event peak; computed once when the plan is made and stored with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanFeasibility {
    /// The objective is met at every event interval.
    pub met: bool,
    pub max_shortfall_kw: f64,
    /// The intervals short of the objective, as runs of local time.
    pub short_periods: Vec<ShortPeriod>,
    /// MaxDemandThreshold's ceiling, kW.
    pub ceiling_kw: Option<f64>,
    /// LoadReduction's reduction per interval, kW.
    pub target_reduction_kw: Option<f64>,
    /// The rebound allowance the plan was made with (percent over the baseline).
    pub max_increase_pct: Option<f64>,
    /// The zone's peak forecast without the event (window and the tail after it), kW.
    pub before_peak_kw: f64,
    /// The highest planned ("after") load over the window and the tail, kW, and when.
    pub after_peak_kw: f64,
    pub after_peak_at: Option<DateTime<Utc>>,
    /// The "after" load rises above the pre-event peak (rebound makes a new peak).
    pub new_peak: bool,
    /// What the operator and the approver must read, in words; empty when all is well.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventDetail {
    pub summary: EventSummary,
    pub strategy_id: i64,
    pub zone: Vec<String>,
    pub programs: Vec<String>,
    pub priority: i32,
    pub target_mw: Option<f64>,
    pub max_increase_pct: Option<f64>,
    pub control_level: String,
    pub override_rules: bool,
    pub ba_check: bool,
    pub second_approval_required: bool,
    pub created_by: String,
    pub submitted_by: Option<String>,
    pub approved_by: Option<String>,
    pub second_approved_by: Option<String>,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
    pub planned_at: Option<DateTime<Utc>>,
    /// Feasibility of the plan (absent before the first plan, and for plans stored before
    /// GridFlex recorded it).
    pub feasibility: Option<PlanFeasibility>,
    pub eligible: i64,
    pub exclusions: Vec<Count>,
    pub stages: Vec<StageDto>,
    pub intervals: Vec<IntervalDto>,
    pub outcomes: Vec<Count>,
    /// What was published over OpenADR, to which aggregator's VEN (empty when nothing was).
    #[serde(default)]
    pub openadr: Vec<OpenAdrPublicationDto>,
    /// Before / After / Actual, SVG rendered on the server.
    #[schema(value_type = Option<String>)]
    pub chart_svg: Option<String>,
    pub timeline: Vec<AuditEntryDto>,
    /// Actions the viewer may take now: plan, submit, approve, deny, cancel.
    pub actions: Vec<String>,
    /// The page reloads itself every this many seconds while the event is live.
    pub refresh_secs: Option<u32>,
    pub now: DateTime<Utc>,
}

/// One OpenADR event a GridFlex event published: one stage's devices of one program that
/// one aggregator controls, targeted at that aggregator's VEN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpenAdrPublicationDto {
    /// The OpenADR event id a VEN reads it by.
    pub openadr_event_id: String,
    /// The aggregator's name (its VEN is its external reference).
    pub ven_name: String,
    pub ven: String,
    pub devices: i64,
    /// `active` while the event is published, `cancelled` once it was withdrawn.
    pub state: String,
    pub last_report_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageDeviceDto {
    pub id: i64,
    pub head_end: String,
    pub nic_id: String,
    pub program_code: String,
    pub device_type: String,
    pub expected_kw: f64,
    pub status: String,
    pub outcome: Option<String>,
    pub actual_kw: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageDevicesPage {
    pub stage: StageDto,
    pub devices: Vec<StageDeviceDto>,
    pub next: Option<i64>,
}

#[async_trait]
pub trait EventPort: Send + Sync + 'static {
    async fn strategy_options(&self, viewer: &Viewer) -> Result<StrategyOptions, AppError>;
    async fn list_strategies(
        &self,
        viewer: &Viewer,
        archived: bool,
    ) -> Result<Vec<StrategyDto>, AppError>;
    async fn get_strategy(&self, viewer: &Viewer, id: i64) -> Result<StrategyDto, AppError>;
    /// Creates (`id = None`) or edits a strategy; returns its id.
    async fn save_strategy(
        &self,
        viewer: &Viewer,
        id: Option<i64>,
        input: &StrategyInput,
    ) -> Result<i64, AppError>;
    async fn archive_strategy(&self, viewer: &Viewer, id: i64) -> Result<String, AppError>;

    async fn list_events(
        &self,
        viewer: &Viewer,
        status: Option<&str>,
    ) -> Result<Vec<EventSummary>, AppError>;
    /// Creates an event from a strategy for a window; returns its id.
    async fn create_event(&self, viewer: &Viewer, input: &EventInput) -> Result<i64, AppError>;
    async fn get_event(&self, viewer: &Viewer, id: i64) -> Result<EventDetail, AppError>;
    async fn stage_devices(
        &self,
        viewer: &Viewer,
        event_id: i64,
        seq: i32,
        after: Option<i64>,
    ) -> Result<StageDevicesPage, AppError>;
    /// plan | submit | approve | deny | cancel; returns what happened, in words.
    async fn event_action(
        &self,
        viewer: &Viewer,
        id: i64,
        action: &str,
        reason: &str,
    ) -> Result<String, AppError>;

    /// The simulated clock's time, when the server runs on one (demos and tests).
    async fn simulated_now(&self) -> Option<DateTime<Utc>>;
    /// Moves the simulated clock on and lets the scheduler catch up (admin).
    async fn advance_clock(&self, viewer: &Viewer, minutes: i64) -> Result<String, AppError>;
}

pub type Events = Arc<dyn EventPort>;
