//! Inbound integration endpoints: `POST /integration/{flow}` with a message envelope, for
//! API clients whose token has the `integration` (or `admin`) role.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use app::model::Role;

use crate::auth::client_for_token;
use crate::error::DomainError;
use crate::integration::inbound::{problem, receive, recipient_of};
use crate::integration::wire::Flow;
use crate::startup::AppState;
use crate::web::api::problem as api_problem;

/// Largest message accepted (a 50,000-record enrollment batch fits).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

async fn inbound(
    State(state): State<AppState>,
    Path(flow): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let client = match client_for_token(&state.db, token.trim()).await {
        Ok(c) => c,
        Err(DomainError::Unauthenticated) => {
            return api_problem(
                401,
                "Sign-in required",
                "an integration token is required".into(),
            )
        }
        Err(e) => return crate::web::api::ApiError::from(e).into_response(),
    };
    if !(client.role.is_none() || client.role == Some(Role::Admin)) {
        return api_problem(
            403,
            "Not allowed",
            "this token's role may not send integration messages".into(),
        );
    }
    let Some(flow) = Flow::parse(&flow) else {
        return api_problem(404, "Not found", format!("no integration flow `{flow}`"));
    };
    // The path names the flow; the envelope must agree.
    let declared = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["flow"].as_str().map(str::to_string));
    if declared.as_deref().is_some_and(|d| d != flow.as_str()) {
        return (
            StatusCode::BAD_REQUEST,
            Json(problem(
                400,
                &format!("the envelope's flow is not `{}`", flow.as_str()),
            )),
        )
            .into_response();
    }
    match receive(&state.db, recipient_of(flow), &client.name, &body).await {
        Ok(answer) => {
            let code = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
            let mut res = (code, Json(answer.body)).into_response();
            if !answer.accepted {
                res.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/problem+json"),
                );
            }
            if answer.duplicate {
                res.headers_mut().insert(
                    "x-gridflex-duplicate",
                    header::HeaderValue::from_static("true"),
                );
            }
            res
        }
        Err(e) if e.is_client_error() => {
            let mut res =
                (StatusCode::BAD_REQUEST, Json(problem(400, &e.to_string()))).into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/problem+json"),
            );
            res
        }
        Err(e) => crate::web::api::ApiError::from(e).into_response(),
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/integration/{flow}", post(inbound))
        .layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES))
}
