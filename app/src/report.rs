//! The auditor's reports (historical event report, program season report): the DTOs the
//! pages and the REST API show, and the port the server implements. No personal data: an
//! enrollment is named by its account id and service point only.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::model::{AuditEntryDto, Viewer};

/// An ended (completed or cancelled) event, for the reports index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportEventLink {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub status: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Enrollments with a stored settlement result.
    pub settled: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportProgramLink {
    pub code: String,
    pub name: String,
    pub season_start: NaiveDate,
    pub season_end: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportIndex {
    pub events: Vec<ReportEventLink>,
    pub programs: Vec<ReportProgramLink>,
}

/// Device reservations by outcome (`D1SP` … `D1CN`); `pending` has no outcome yet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeCounts {
    pub reserved: i64,
    pub opted_out: i64,
    pub participated: i64,
    pub non_responsive: i64,
    pub in_flight_override: i64,
    pub error: i64,
    pub cancelled: i64,
    pub pending: i64,
}

impl OutcomeCounts {
    /// Adds `n` devices with `outcome` (None: not reported yet) and reservation status.
    pub fn add(&mut self, outcome: Option<&str>, opted_out: bool, n: i64) {
        self.reserved += n;
        if opted_out {
            self.opted_out += n;
        }
        match outcome {
            Some("D1SP") => self.participated += n,
            Some("D1ND") => self.non_responsive += n,
            Some("D1IO") => self.in_flight_override += n,
            Some("D1ER") => self.error += n,
            Some("D1CN") => self.cancelled += n,
            _ => self.pending += n,
        }
    }

    pub fn merge(&mut self, o: &OutcomeCounts) {
        self.reserved += o.reserved;
        self.opted_out += o.opted_out;
        self.participated += o.participated;
        self.non_responsive += o.non_responsive;
        self.in_flight_override += o.in_flight_override;
        self.error += o.error;
        self.cancelled += o.cancelled;
        self.pending += o.pending;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportStage {
    pub seq: i32,
    pub external_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: String,
    pub expected_kw: f64,
    pub expected_kwh: f64,
    pub outcomes: OutcomeCounts,
}

/// One program's part of the event: expected versus measured, and its credits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProgramResult {
    pub program_code: String,
    pub settlement_method: String,
    /// Planned reduction of the devices reserved for this program, kWh over their stages.
    pub expected_kwh: f64,
    pub enrollments: i64,
    /// Enrollments with a measured (`settled`) result.
    pub settled: i64,
    pub kwh_avoided: f64,
    /// Sum of the settled enrollments' average kW drop.
    pub kw_drop_avg: f64,
    pub credit: f64,
    pub posted_credit: f64,
    pub provisional_credit: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportRun {
    pub id: i64,
    pub program_code: String,
    pub kind: String,
    pub run_by: String,
    pub run_at: DateTime<Utc>,
    pub enrollments: i32,
    pub settled: i32,
    pub changed: i32,
    pub kwh_avoided: f64,
    pub credit: f64,
}

/// One quarter hour of the report's chart, summed over the settled enrollments: the chart's
/// text alternative.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportChartRow {
    pub interval_start: DateTime<Utc>,
    pub baseline_kwh: f64,
    pub measured_kwh: f64,
    /// The baseline less the plan's expected reduction over the quarter hour.
    pub expected_kwh: f64,
}

/// The historical event report: everything an auditor needs to reconstruct an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventReport {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub status: String,
    pub event_type: String,
    pub objective: String,
    pub target_mw: Option<f64>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub strategy: String,
    pub zone: Vec<String>,
    pub programs: Vec<String>,
    pub control_level: String,
    pub second_approval_required: bool,
    pub created_by: String,
    pub submitted_by: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub second_approved_by: Option<String>,
    pub second_approved_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub stages: Vec<ReportStage>,
    pub outcomes: OutcomeCounts,
    /// Every lifecycle step from the audit log, oldest first.
    pub lifecycle: Vec<AuditEntryDto>,
    pub expected_kwh: f64,
    pub expected_peak_kw: f64,
    pub measured_kwh_avoided: f64,
    pub measured_kw_drop_avg: f64,
    pub credit_total: f64,
    pub credit_posted: f64,
    pub credit_provisional: f64,
    pub by_program: Vec<ProgramResult>,
    pub runs: Vec<ReportRun>,
    /// Baseline, measured and expected kWh per quarter hour; SVG rendered on the server.
    #[schema(value_type = Option<String>)]
    pub chart_svg: Option<String>,
    /// The chart's values, one row per quarter hour (empty before settlement).
    pub chart_rows: Vec<ReportChartRow>,
    /// The days before the event a baseline looks at, most recent first: used, or skipped
    /// and why (weekend, holiday, another event of the event's programs).
    pub baseline_days: Vec<BaselineDay>,
}

/// A day before the event and whether a customer's baseline uses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaselineDay {
    /// The utility's local date.
    pub date: NaiveDate,
    pub used: bool,
    /// "used", or why the day is skipped (e.g. "holiday: Independence Day (observed)").
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CycleUse {
    pub cycle_start: NaiveDate,
    pub events: i64,
    pub minutes: i64,
    pub max_events: Option<i32>,
    pub max_minutes: Option<i32>,
    /// True when either limit was exceeded.
    pub over: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeasonEvent {
    pub event_code: String,
    /// The grid-side event, when it is stored here.
    pub event_id: Option<i64>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// `completed`, `cancelled` or `open`.
    pub status: String,
    /// Minutes of the program's stages that were not cancelled.
    pub minutes: i64,
    pub reserved: i64,
    pub participated: i64,
    pub opted_out: i64,
    /// Participated over reserved, percent.
    pub participation_pct: f64,
    pub kwh_avoided: f64,
    pub credit: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeasonCustomer {
    pub account_id: String,
    pub events: i64,
    pub settled_events: i64,
    pub kwh_avoided: f64,
    pub credit: f64,
    pub posted_credit: f64,
}

/// The program season report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeasonReport {
    pub program_code: String,
    pub program_name: String,
    pub status: String,
    pub season_start: NaiveDate,
    pub season_end: NaiveDate,
    pub settlement_method: String,
    pub settlement_timing: String,
    pub baseline_method: String,
    pub active_enrollments: i64,
    pub enrolled_devices: i64,
    /// `weekly` or `monthly`, from the rule in force at the season start (or today's).
    pub cycle: Option<String>,
    pub cycles: Vec<CycleUse>,
    pub events: Vec<SeasonEvent>,
    pub customers: Vec<SeasonCustomer>,
    pub kwh_avoided: f64,
    pub credit_total: f64,
    pub credit_posted: f64,
    pub credit_provisional: f64,
    /// kWh avoided and participation per event; SVG rendered on the server.
    #[schema(value_type = Option<String>)]
    pub chart_svg: Option<String>,
}

#[async_trait]
pub trait ReportPort: Send + Sync + 'static {
    async fn report_index(&self, viewer: &Viewer) -> Result<ReportIndex, AppError>;
    async fn event_report(&self, viewer: &Viewer, id: i64) -> Result<EventReport, AppError>;
    async fn season_report(&self, viewer: &Viewer, code: &str) -> Result<SeasonReport, AppError>;
}

pub type Reports = Arc<dyn ReportPort>;
