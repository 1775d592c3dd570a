//! REST for strategies and events (`/api/v1/strategies`, `/api/v1/events`): the same role
//! rules and the same service as the console, documented in the OpenAPI document.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use app::grid::{EventDetail, EventInput, EventPort, EventSummary, StrategyDto, StrategyInput};
use app::AppError;
use chrono::{DateTime, Utc};

use crate::web::api::{
    json_problem, path_id, query_pairs, ApiError, ApiViewer, Done, JsonBody, Problem,
};
use crate::web::AppState;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    pub id: i64,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionBody {
    /// Why (required to deny or cancel).
    #[serde(default)]
    pub reason: String,
    /// Manual objective only: `HH:MM-HH:MM[@kW]`, comma separated.
    #[serde(default)]
    pub stages: String,
}

/// A strategy sent to the REST API: numbers as numbers, flags as booleans, lists as arrays.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StrategyBody {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Network node codes (substations, feeders, transformers).
    pub zone: Vec<String>,
    /// Program codes.
    pub programs: Vec<String>,
    /// Device types that take part; empty: all.
    #[serde(default)]
    pub device_types: Vec<String>,
    /// Feeder codes that take part; empty: the whole zone.
    #[serde(default)]
    pub feeders: Vec<String>,
    /// Emergency, Reliability, Economic or DeviceTest.
    pub event_type: String,
    /// The balancing-authority check applies.
    #[serde(default)]
    pub ba_check: bool,
    /// Manual, MaxDemandThreshold, LoadReduction or MaximumReduction.
    pub objective: String,
    /// The ceiling (MaxDemandThreshold) or the reduction (LoadReduction), in MW.
    #[serde(default)]
    pub target_mw: Option<f64>,
    /// Rebound bound for every objective, percent over the baseline (empty: the default).
    #[serde(default)]
    pub max_increase_pct: Option<f64>,
    /// full, cycle_75, cycle_50 or setback.
    pub control_level: String,
    /// The strategy overrides overridable program rules.
    #[serde(default)]
    pub override_rules: bool,
}

impl From<StrategyBody> for StrategyInput {
    fn from(b: StrategyBody) -> Self {
        let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        let flag = |v: bool| v.then(|| "on".to_string());
        StrategyInput {
            name: b.name,
            description: b.description,
            zone: b.zone.join(","),
            programs: b.programs.join(","),
            device_types: b.device_types.join(","),
            feeders: b.feeders.join(","),
            event_type: b.event_type,
            ba_check: flag(b.ba_check),
            objective: b.objective,
            target_mw: num(b.target_mw),
            max_increase_pct: num(b.max_increase_pct),
            control_level: b.control_level,
            override_rules: flag(b.override_rules),
        }
    }
}

/// A new event sent to the REST API: a strategy and a window in RFC 3339.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventBody {
    pub strategy_id: i64,
    pub name: String,
    /// On a quarter hour, RFC 3339 with any offset, e.g. `2026-07-01T15:00:00Z` or
    /// `2026-07-01T10:00:00-05:00`; without an offset it is a 400.
    #[serde(deserialize_with = "crate::web::time_field::deserialize")]
    pub starts_at: DateTime<Utc>,
    /// On a quarter hour, after `startsAt`.
    #[serde(deserialize_with = "crate::web::time_field::deserialize")]
    pub ends_at: DateTime<Utc>,
}

impl From<EventBody> for EventInput {
    fn from(b: EventBody) -> Self {
        EventInput {
            strategy_id: b.strategy_id.to_string(),
            name: b.name,
            starts_at: b.starts_at.to_rfc3339(),
            ends_at: b.ends_at.to_rfc3339(),
        }
    }
}

/// An action's body: optional; when given, JSON with `reason` and/or `stages`.
fn action_body(raw: &[u8]) -> Result<ActionBody, JsonRejection> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(ActionBody::default());
    }
    Json::<ActionBody>::from_bytes(raw).map(|Json(body)| body)
}

/// Strategies, active ones (or archived with `?archived=true`).
#[utoipa::path(get, path = "/api/v1/strategies", params(("archived" = Option<bool>, Query)), security(("bearer" = [])),
    responses((status = 200, body = Vec<StrategyDto>), (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn list_strategies(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<StrategyDto>>, ApiError> {
    let pairs = query_pairs(raw)?;
    let mut archived = false;
    for (k, v) in pairs {
        match (k.as_str(), v.as_str()) {
            ("archived", "" | "false") => archived = false,
            ("archived", "true") => archived = true,
            ("archived", other) => {
                return Err(ApiError(AppError::BadRequest(format!(
                    "query parameter `archived`: expected true or false, got `{other}`"
                ))))
            }
            (other, _) => {
                return Err(ApiError(AppError::BadRequest(format!(
                    "unknown query parameter `{other}`"
                ))))
            }
        }
    }
    Ok(Json(state.events.list_strategies(&viewer, archived).await?))
}

/// One strategy.
#[utoipa::path(get, path = "/api/v1/strategies/{id}", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = StrategyDto), (status = 404, body = Problem)))]
async fn get_strategy(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path(id): Path<String>,
) -> Result<Json<StrategyDto>, ApiError> {
    Ok(Json(
        state.events.get_strategy(&viewer, path_id(&id)?).await?,
    ))
}

/// Create a strategy (operator, admin).
#[utoipa::path(post, path = "/api/v1/strategies", request_body = StrategyBody, security(("bearer" = [])),
    responses((status = 200, body = Created), (status = 400, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_strategy(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    JsonBody(body): JsonBody<StrategyBody>,
) -> Result<Json<Created>, ApiError> {
    let id = state
        .events
        .save_strategy(&viewer, None, &body.into())
        .await?;
    Ok(Json(Created { id }))
}

/// Events, newest first; `?status=` filters by lifecycle status.
#[utoipa::path(get, path = "/api/v1/events", params(("status" = Option<String>, Query)), security(("bearer" = [])),
    responses((status = 200, body = Vec<EventSummary>), (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn list_events(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<EventSummary>>, ApiError> {
    let pairs = query_pairs(raw)?;
    let mut status = None;
    for (k, v) in pairs {
        if k == "status" {
            status = Some(v);
        } else {
            return Err(ApiError(AppError::BadRequest(format!(
                "unknown query parameter `{k}`"
            ))));
        }
    }
    Ok(Json(
        state.events.list_events(&viewer, status.as_deref()).await?,
    ))
}

/// Create an event from a strategy for a window (operator). Times are RFC 3339 with an
/// offset, on quarter hours.
#[utoipa::path(post, path = "/api/v1/events", request_body = EventBody, security(("bearer" = [])),
    responses((status = 200, body = Created), (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_event(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    JsonBody(body): JsonBody<EventBody>,
) -> Result<Json<Created>, ApiError> {
    let id = state.events.create_event(&viewer, &body.into()).await?;
    Ok(Json(Created { id }))
}

/// One event: its plan, stages, intervals (before / after / actual), outcomes and timeline.
#[utoipa::path(get, path = "/api/v1/events/{id}", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = EventDetail), (status = 404, body = Problem)))]
async fn get_event(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path(id): Path<String>,
) -> Result<Json<EventDetail>, ApiError> {
    Ok(Json(state.events.get_event(&viewer, path_id(&id)?).await?))
}

async fn act(
    state: &AppState,
    viewer: &app::model::Viewer,
    id: &str,
    action: &str,
    body: &ActionBody,
) -> Result<Json<Done>, ApiError> {
    let note = if action == "plan" {
        &body.stages
    } else {
        &body.reason
    };
    let message = state
        .events
        .event_action(viewer, path_id(id)?, action, note)
        .await?;
    Ok(Json(Done { message }))
}

macro_rules! action_route {
    ($name:ident, $path:literal, $action:literal, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, params(("id" = i64, Path)), request_body = ActionBody, security(("bearer" = [])),
            responses((status = 200, body = Done), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
        async fn $name(
            State(state): State<AppState>,
            ApiViewer(viewer): ApiViewer,
            Path(id): Path<String>,
            body: axum::body::Bytes,
        ) -> Result<Json<Done>, Response> {
            let body = action_body(&body).map_err(json_problem)?;
            act(&state, &viewer, &id, $action, &body)
                .await
                .map_err(IntoResponse::into_response)
        }
    };
}

action_route!(
    plan_event,
    "/api/v1/events/{id}/plan",
    "plan",
    "Generate (or regenerate) the stages of a New event (operator)."
);
action_route!(
    submit_event,
    "/api/v1/events/{id}/submit",
    "submit",
    "Submit a planned event for approval (operator)."
);
action_route!(
    approve_event,
    "/api/v1/events/{id}/approve",
    "approve",
    "Approve a submitted event (approver; never its submitter)."
);
action_route!(
    deny_event,
    "/api/v1/events/{id}/deny",
    "deny",
    "Deny a submitted event with a reason (approver)."
);
action_route!(
    cancel_event,
    "/api/v1/events/{id}/cancel",
    "cancel",
    "Cancel an event before it completes, with a reason (operator, approver)."
);

#[derive(OpenApi)]
#[openapi(paths(
    list_strategies,
    get_strategy,
    create_strategy,
    list_events,
    create_event,
    get_event,
    plan_event,
    submit_event,
    approve_event,
    deny_event,
    cancel_event
))]
pub struct EventApiDoc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/strategies",
            get(list_strategies).post(create_strategy),
        )
        .route("/api/v1/strategies/{id}", get(get_strategy))
        .route("/api/v1/events", get(list_events).post(create_event))
        .route("/api/v1/events/{id}", get(get_event))
        .route("/api/v1/events/{id}/plan", post(plan_event))
        .route("/api/v1/events/{id}/submit", post(submit_event))
        .route("/api/v1/events/{id}/approve", post(approve_event))
        .route("/api/v1/events/{id}/deny", post(deny_event))
        .route("/api/v1/events/{id}/cancel", post(cancel_event))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strategy_body_becomes_the_form_the_console_posts() {
        let body: StrategyBody = serde_json::from_value(serde_json::json!({
            "name": "Peak", "zone": ["FDR-N03", "FDR-N04"], "programs": ["SMT-BYOD"],
            "eventType": "Reliability", "baCheck": true, "objective": "LoadReduction",
            "targetMw": 2.5, "controlLevel": "full"
        }))
        .unwrap();
        let input = StrategyInput::from(body);
        assert_eq!(input.zone, "FDR-N03,FDR-N04");
        assert_eq!(input.target_mw, "2.5");
        assert_eq!(input.max_increase_pct, "");
        assert_eq!(input.ba_check.as_deref(), Some("on"));
        assert_eq!(input.override_rules, None);
    }

    #[test]
    fn an_event_body_in_form_names_or_text_numbers_is_refused_naming_the_field() {
        let e = Json::<EventBody>::from_bytes(
            br#"{"strategyId": "1", "name": "x", "startsAt": "2026-07-01T15:00:00Z", "endsAt": "2026-07-01T16:00:00Z"}"#,
        )
        .unwrap_err();
        assert_eq!(e.status(), 422);
        assert!(e.body_text().contains("strategyId"), "{}", e.body_text());
        let e = Json::<EventBody>::from_bytes(br#"{"strategy_id": 1}"#).unwrap_err();
        assert!(e.body_text().contains("strategy_id"), "{}", e.body_text());
        let e = Json::<EventBody>::from_bytes(
            br#"{"strategyId": 1, "name": "x", "startsAt": "2026-07-01T15:00", "endsAt": "2026-07-01T16:00:00Z"}"#,
        )
        .unwrap_err();
        assert!(e.body_text().contains("startsAt"), "{}", e.body_text());
    }

    #[test]
    fn an_event_body_converts_times_to_utc() {
        let Json(body) = Json::<EventBody>::from_bytes(
            br#"{"strategyId": 7, "name": "x", "startsAt": "2026-07-01T17:00:00+02:00", "endsAt": "2026-07-01T16:00:00Z"}"#,
        )
        .unwrap();
        let input = EventInput::from(body);
        assert_eq!(input.strategy_id, "7");
        assert_eq!(input.starts_at, "2026-07-01T15:00:00+00:00");
    }
}
