//! REST for settlement (`/api/v1/settlements/…`): results per event, seasons, the billing
//! export, and the runs that settle them; the console's role rules, in the OpenAPI document.

use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use app::settlement::{SeasonDetail, SettlementEventDetail, SettlementOverview, SettlementPort};
use app::AppError;

use crate::web::api::{query_pairs, ApiError, ApiViewer, Problem};
use crate::web::AppState;

/// Rows per page unless `?limit=` says otherwise (at most 5,000).
const DEFAULT_LIMIT: i64 = 1_000;
/// The largest page of settlement results one call returns.
pub(crate) const MAX_LIMIT: i64 = 5_000;

#[derive(Debug, Serialize, ToSchema)]
pub struct SettleResult {
    /// What happened, in words.
    pub message: String,
}

/// `offset` and `limit` from the query string; anything else is refused.
fn paging(raw: Option<String>) -> Result<(i64, i64), ApiError> {
    let mut offset = 0;
    let mut limit = DEFAULT_LIMIT;
    for (k, v) in query_pairs(raw)? {
        let n = v.parse::<i64>().ok().filter(|n| *n >= 0);
        match (k.as_str(), n) {
            ("offset", Some(n)) => offset = n,
            ("limit", Some(n)) if (1..=MAX_LIMIT).contains(&n) => limit = n,
            ("offset" | "limit", _) => {
                return Err(ApiError(AppError::BadRequest(format!(
                    "query parameter `{k}`: expected a number (limit 1 to {MAX_LIMIT}), got `{v}`"
                ))))
            }
            (other, _) => {
                return Err(ApiError(AppError::BadRequest(format!(
                    "unknown query parameter `{other}`"
                ))))
            }
        }
    }
    Ok((offset, limit))
}

/// Completed events with their settlement totals, and each program's season totals
/// (program manager, auditor, admin).
#[utoipa::path(get, path = "/api/v1/settlements", security(("bearer" = [])),
    responses((status = 200, body = SettlementOverview), (status = 403, body = Problem)))]
async fn overview(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
) -> Result<Json<SettlementOverview>, ApiError> {
    Ok(Json(state.settlements.overview(&viewer).await?))
}

/// An event's settlement runs and a page of results per enrollment.
#[utoipa::path(get, path = "/api/v1/settlements/events/{code}",
    params(("code" = String, Path, description = "event code, e.g. EV-00001"), ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    security(("bearer" = [])),
    responses((status = 200, body = SettlementEventDetail), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn event_settlement(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path(code): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<SettlementEventDetail>, ApiError> {
    let (offset, limit) = paging(raw)?;
    Ok(Json(
        state
            .settlements
            .event_settlement(&viewer, &code, offset, limit)
            .await?,
    ))
}

/// Settle a completed event, or recalculate it: new or changed results are audited with
/// what changed (program manager, admin).
#[utoipa::path(post, path = "/api/v1/settlements/events/{code}",
    params(("code" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = SettleResult), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn settle_event(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path(code): Path<String>,
) -> Result<Json<SettleResult>, ApiError> {
    let message = state.settlements.settle_event(&viewer, &code).await?;
    Ok(Json(SettleResult { message }))
}

/// A program's season: totals, a page of customers, runs.
#[utoipa::path(get, path = "/api/v1/settlements/programs/{code}",
    params(("code" = String, Path, description = "program code"), ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    security(("bearer" = [])),
    responses((status = 200, body = SeasonDetail), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn season(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path(code): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<SeasonDetail>, ApiError> {
    let (offset, limit) = paging(raw)?;
    Ok(Json(
        state
            .settlements
            .season(&viewer, &code, offset, limit)
            .await?,
    ))
}

/// Settle a program's season after its last day: every event settled again, credits posted
/// (program manager, admin).
#[utoipa::path(post, path = "/api/v1/settlements/programs/{code}",
    params(("code" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = SettleResult), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn settle_season(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path(code): Path<String>,
) -> Result<Json<SettleResult>, ApiError> {
    let message = state.settlements.settle_season(&viewer, &code).await?;
    Ok(Json(SettleResult { message }))
}

/// The season's credits per customer as CSV, for billing.
#[utoipa::path(get, path = "/api/v1/settlements/programs/{code}/billing.csv",
    params(("code" = String, Path)), security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn billing(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let csv = crate::programs::settlement_console::billing_export(
        &state.db,
        state.calendar,
        &viewer,
        &code,
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"billing-{code}.csv\""),
            ),
        ],
        csv,
    )
        .into_response())
}

#[derive(OpenApi)]
#[openapi(paths(
    overview,
    event_settlement,
    settle_event,
    season,
    settle_season,
    billing
))]
pub struct SettlementApiDoc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/settlements", get(overview))
        .route(
            "/api/v1/settlements/events/{code}",
            get(event_settlement).post(settle_event),
        )
        .route(
            "/api/v1/settlements/programs/{code}",
            get(season).post(settle_season),
        )
        .route(
            "/api/v1/settlements/programs/{code}/billing.csv",
            get(billing),
        )
}
