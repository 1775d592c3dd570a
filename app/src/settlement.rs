//! Settlement as the console sees it: the port the server implements, its DTOs, and the
//! server functions of the settlement pages.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::model::Viewer;

/// A completed event on the program side and how far it is settled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettlementEventDto {
    pub event_code: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub programs: Vec<String>,
    /// When it was last settled; None if never.
    pub settled_at: Option<DateTime<Utc>>,
    pub enrollments: i64,
    pub settled: i64,
    pub kwh_avoided: f64,
    pub credit: f64,
    /// Credit held until the season is settled (end-of-season programs).
    pub provisional_credit: f64,
}

/// A program's settlement terms and season totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProgramSeasonDto {
    pub code: String,
    pub name: String,
    pub settlement_method: String,
    pub settlement_timing: String,
    pub baseline_method: String,
    pub credit_rate: f64,
    pub season_start: NaiveDate,
    pub season_end: NaiveDate,
    pub customers: i64,
    pub credit: f64,
    pub posted_credit: f64,
    /// When the season was last settled.
    pub season_settled_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettlementOverview {
    pub events: Vec<SettlementEventDto>,
    pub programs: Vec<ProgramSeasonDto>,
    /// Whether the viewer may run settlements.
    pub can_settle: bool,
}

/// One enrollment's result in one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettlementResultDto {
    pub program_code: String,
    pub enrollment_id: i64,
    pub account_id: String,
    pub service_point_id: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub devices: i32,
    pub status: String,
    pub reason: Option<String>,
    pub baseline_method: String,
    pub baseline_days: i32,
    pub adjustment: f64,
    pub baseline_kwh: f64,
    pub actual_kwh: f64,
    pub kwh_avoided: f64,
    pub kw_drop_max: f64,
    pub kw_drop_min: f64,
    pub kw_drop_avg: f64,
    pub settlement_method: String,
    pub rate: f64,
    pub credit: f64,
    pub posted: bool,
    pub version: i32,
    pub settled_at: DateTime<Utc>,
    /// The enrollment's share (0–1) of its premise meter's savings, which `kwhAvoided`,
    /// the kW drops and `credit` are: 1 alone at the meter, 0 if it did not take part.
    pub meter_share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettlementRunDto {
    pub id: i64,
    pub program_code: String,
    pub kind: String,
    pub event_code: Option<String>,
    pub run_by: String,
    pub run_at: DateTime<Utc>,
    pub enrollments: i32,
    pub settled: i32,
    pub changed: i32,
    pub kwh_avoided: f64,
    pub credit: f64,
}

/// An event's settlement: its runs and a page of results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettlementEventDetail {
    pub event: SettlementEventDto,
    pub runs: Vec<SettlementRunDto>,
    pub results: Vec<SettlementResultDto>,
    /// All results, of which `results` starts at `offset`.
    pub total: i64,
    pub offset: i64,
    pub can_settle: bool,
}

/// A customer's season in a program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerSeasonDto {
    pub account_id: String,
    pub events: i64,
    pub settled_events: i64,
    pub kwh_avoided: f64,
    pub credit: f64,
    pub posted_credit: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeasonDetail {
    pub program: ProgramSeasonDto,
    pub customers: Vec<CustomerSeasonDto>,
    pub total: i64,
    pub offset: i64,
    pub runs: Vec<SettlementRunDto>,
    pub can_settle: bool,
    /// True once the season's last day is past (the season can be settled).
    pub season_over: bool,
}

/// Rows per page of results on the console and the REST API.
pub const PAGE_ROWS: i64 = 200;

#[async_trait]
pub trait SettlementPort: Send + Sync + 'static {
    async fn overview(&self, viewer: &Viewer) -> Result<SettlementOverview, AppError>;
    async fn event_settlement(
        &self,
        viewer: &Viewer,
        event_code: &str,
        offset: i64,
        limit: i64,
    ) -> Result<SettlementEventDetail, AppError>;
    async fn season(
        &self,
        viewer: &Viewer,
        program_code: &str,
        offset: i64,
        limit: i64,
    ) -> Result<SeasonDetail, AppError>;
    /// Settles (or recalculates) an event; returns what happened, in words.
    async fn settle_event(&self, viewer: &Viewer, event_code: &str) -> Result<String, AppError>;
    /// Settles a program's season; returns what happened, in words.
    async fn settle_season(&self, viewer: &Viewer, program_code: &str) -> Result<String, AppError>;
}

pub type Settlements = Arc<dyn SettlementPort>;

fn port() -> Result<(Settlements, Viewer), AppError> {
    let viewer = crate::api::viewer()?;
    let port = use_context::<Settlements>()
        .ok_or_else(|| AppError::Internal("no settlement port".into()))?;
    Ok((port, viewer))
}

#[server(prefix = "/fn", endpoint = "settlement_overview")]
pub async fn load_settlement_overview() -> Result<SettlementOverview, AppError> {
    let (p, v) = port()?;
    p.overview(&v).await
}

#[server(prefix = "/fn", endpoint = "event_settlement")]
pub async fn load_event_settlement(
    code: String,
    offset: i64,
) -> Result<SettlementEventDetail, AppError> {
    let (p, v) = port()?;
    p.event_settlement(&v, &code, offset, PAGE_ROWS).await
}

#[server(prefix = "/fn", endpoint = "season_settlement")]
pub async fn load_season(code: String, offset: i64) -> Result<SeasonDetail, AppError> {
    let (p, v) = port()?;
    p.season(&v, &code, offset, PAGE_ROWS).await
}

#[server(prefix = "/fn", endpoint = "settle_event")]
pub async fn run_event_settlement(code: String) -> Result<(), AppError> {
    let (p, v) = port()?;
    let result = p.settle_event(&v, &code).await;
    crate::api::finish(result, |m| m, &format!("/settlements/events/{code}")).await
}

#[server(prefix = "/fn", endpoint = "settle_season")]
pub async fn run_season_settlement(code: String) -> Result<(), AppError> {
    let (p, v) = port()?;
    let result = p.settle_season(&v, &code).await;
    crate::api::finish(result, |m| m, &format!("/settlements/programs/{code}")).await
}
