//! REST for strategies and events (`/api/v1/strategies`, `/api/v1/events`): the same role
//! rules and the same service as the console, documented in the OpenAPI document.

use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use app::grid::{EventDetail, EventInput, EventPort, EventSummary, StrategyDto, StrategyInput};
use app::AppError;

use crate::startup::AppState;
use crate::web::api::{path_id, query_pairs, ApiError, ApiViewer, Done, JsonBody, Problem};

#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    pub id: i64,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ActionBody {
    /// Why (required to deny or cancel).
    #[serde(default)]
    pub reason: String,
    /// Manual objective only: `HH:MM-HH:MM[@kW]`, comma separated.
    #[serde(default)]
    pub stages: String,
}

/// An action's body: optional; when given, JSON with `reason` and/or `stages`.
fn action_body(raw: &[u8]) -> Result<ActionBody, ApiError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(ActionBody::default());
    }
    serde_json::from_slice(raw).map_err(|e| {
        ApiError(AppError::BadRequest(format!(
            "the request body could not be read: {e}"
        )))
    })
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
#[utoipa::path(post, path = "/api/v1/strategies", request_body = StrategyInput, security(("bearer" = [])),
    responses((status = 200, body = Created), (status = 400, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
async fn create_strategy(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    JsonBody(body): JsonBody<StrategyInput>,
) -> Result<Json<Created>, ApiError> {
    let id = state.events.save_strategy(&viewer, None, &body).await?;
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

/// Create an event from a strategy for a window (operator). Times are RFC 3339 or
/// `YYYY-MM-DDTHH:MM` (UTC), on quarter hours.
#[utoipa::path(post, path = "/api/v1/events", request_body = EventInput, security(("bearer" = [])),
    responses((status = 200, body = Created), (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn create_event(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    JsonBody(body): JsonBody<EventInput>,
) -> Result<Json<Created>, ApiError> {
    let id = state.events.create_event(&viewer, &body).await?;
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
            responses((status = 200, body = Done), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
        async fn $name(
            State(state): State<AppState>,
            ApiViewer(viewer): ApiViewer,
            Path(id): Path<String>,
            body: axum::body::Bytes,
        ) -> Result<Json<Done>, ApiError> {
            act(&state, &viewer, &id, $action, &action_body(&body)?).await
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
