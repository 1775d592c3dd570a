//! Inbound integration endpoints: `POST /integration/{flow}` with a message envelope, and
//! the file forms of flows 5 and 6 (a reservation's devices as CSV, outcomes as a flat
//! file), for API clients whose token has the `integration` (or `admin`) role.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use app::access::{may, Action};

use crate::auth::client_for_token;
use crate::error::DomainError;
use crate::integration::inbound::{problem, receive, recipient_of, sender_of};
use crate::integration::wire::{parse_outcome_flat_file, parse_reservation_csv, Flow};
use crate::web::api::problem as api_problem;
use crate::web::AppState;
use serde::Deserialize;
use utoipa::IntoParams;

/// Largest message accepted (a 50,000-record enrollment batch fits).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// What a request posts, so a token scoped to one side may post only what that side sends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Posting {
    /// A flow's message: sent by the flow's sender.
    Message(Flow),
    /// An acknowledgement of a flow: sent back by the flow's recipient.
    AckOf(Flow),
}

impl Posting {
    fn sent_by(self) -> &'static str {
        match self {
            Posting::Message(flow) => sender_of(flow).as_str(),
            Posting::AckOf(flow) => recipient_of(flow).as_str(),
        }
    }

    fn describe(self) -> String {
        match self {
            Posting::Message(flow) => format!("flow `{}`", flow.as_str()),
            Posting::AckOf(flow) => format!("an acknowledgement of flow `{}`", flow.as_str()),
        }
    }
}

/// The integration client calling, by its token's name; or the problem to answer.
///
/// A token scoped to one side may post only what that side sends (`posting`, when known).
pub(crate) async fn integration_client(
    state: &AppState,
    headers: &HeaderMap,
    posting: Option<Posting>,
) -> Result<String, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let client = match client_for_token(&state.db, token.trim()).await {
        Ok(c) => c,
        Err(DomainError::Unauthenticated) => {
            return Err(api_problem(
                401,
                "Sign-in required",
                "an integration token is required".into(),
            ))
        }
        Err(e) => return Err(crate::web::api::ApiError::from(e).into_response()),
    };
    if !client
        .role
        .is_none_or(|r| may(r, Action::SendIntegrationMessages))
    {
        return Err(api_problem(
            403,
            "Not allowed",
            "this token's role may not send integration messages".into(),
        ));
    }
    if let (Some(scope), Some(posting)) = (client.scope.as_deref(), posting) {
        let sender = posting.sent_by();
        if scope != sender {
            return Err(api_problem(
                403,
                "Not allowed",
                format!(
                    "this token speaks for the {scope} side; {} is sent by the {sender} side",
                    posting.describe()
                ),
            ));
        }
    }
    Ok(client.name)
}

fn problem_response(status: StatusCode, body: serde_json::Value) -> Response {
    let mut res = (status, Json(body)).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/problem+json"),
    );
    res
}

/// Hands an envelope to the receiving side and answers with what it said.
async fn deliver(state: &AppState, flow: Flow, sender: &str, body: &[u8]) -> Response {
    match receive(
        &state.db,
        &state.handlers,
        recipient_of(flow),
        sender,
        body,
        state.calendar,
        state.clock.now(),
    )
    .await
    {
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
            problem_response(StatusCode::BAD_REQUEST, problem(400, &e.to_string()))
        }
        Err(e) => crate::web::api::ApiError::from(e).into_response(),
    }
}

/// Receive one message of `flow` (an envelope with `messageId`, `flow`, `sender`, `payload`;
/// the payload uses the flow's public field names). Integration clients only. Receiving the
/// same `messageId` twice answers the first answer again and changes nothing.
#[utoipa::path(post, path = "/integration/{flow}",
    params(("flow" = String, Path, description = "enrollment_request, enrollment_sync, device_status_check, stage_status, device_reservation, device_outcome, customer_opt_out, customer_unavailability, program_rule_sync, aggregator_sync, network_location_transfer or device_score")),
    request_body(content = Object, content_type = "application/json", description = "the message envelope"),
    security(("bearer" = [])),
    responses((status = 200, description = "the receiving side's answer (per-record results where the flow has them)"),
              (status = 400, body = crate::web::api::Problem), (status = 401, body = crate::web::api::Problem),
              (status = 403, body = crate::web::api::Problem), (status = 404, body = crate::web::api::Problem),
              (status = 413, description = "larger than 64 MiB"),
              (status = 422, description = "a business error: the message was read and refused")))]
pub async fn inbound(
    State(state): State<AppState>,
    Path(flow): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let known = Flow::parse(&flow);
    let sender = match integration_client(&state, &headers, known.map(Posting::Message)).await {
        Ok(name) => name,
        Err(res) => return res,
    };
    let Some(flow) = known else {
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
    deliver(&state, flow, &sender, &body).await
}

/// The envelope fields and the reservation header, as query parameters of the CSV route.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ReservationCsvParams {
    /// The message id; the same id twice gets the first answer again.
    pub message_id: String,
    pub correlation_id: Option<String>,
    pub event_external_identifier: String,
    pub external_identifier: String,
    pub program_code: String,
    /// RFC 3339.
    pub start_time: String,
    /// RFC 3339.
    pub end_time: String,
}

/// The envelope fields and the outcome header, as query parameters of the flat-file route.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct OutcomeFileParams {
    /// The message id; the same id twice gets the first answer again.
    pub message_id: String,
    pub correlation_id: Option<String>,
    pub event_external_identifier: String,
    pub external_identifier: String,
}

fn read_params<T: serde::de::DeserializeOwned>(raw: Option<&str>) -> Result<T, Box<Response>> {
    serde_urlencoded::from_str::<T>(raw.unwrap_or("")).map_err(|e| {
        Box::new(problem_response(
            StatusCode::BAD_REQUEST,
            problem(400, &format!("the query string: {e}")),
        ))
    })
}

/// Every broken row of a file, with its line; nothing of the file is applied.
fn row_errors(errors: Vec<crate::integration::wire::CsvRowError>) -> Response {
    let detail = format!(
        "the file has {} broken row(s); nothing was applied",
        errors.len()
    );
    let mut body = problem(422, &detail);
    body["errors"] = serde_json::Value::Array(
        errors
            .iter()
            .map(|e| serde_json::json!({"line": e.line, "message": e.message}))
            .collect(),
    );
    problem_response(StatusCode::UNPROCESSABLE_ENTITY, body)
}

fn envelope(
    message_id: &str,
    flow: Flow,
    correlation: Option<String>,
    payload: serde_json::Value,
    sent_at: chrono::DateTime<chrono::Utc>,
) -> Vec<u8> {
    serde_json::json!({
        "messageId": message_id,
        "flow": flow.as_str(),
        "correlationId": correlation,
        "sentAt": sent_at,
        "payload": payload,
    })
    .to_string()
    .into_bytes()
}

/// Event device reservation (flow 5) whose device list is a CSV file: the body is `text/csv`
/// with the header `headEndSystem,nicId,enrollmentId,expectedKw`; the message's other fields
/// are query parameters. A file with broken rows is refused whole, every broken row listed.
#[utoipa::path(post, path = "/integration/device_reservation/csv", params(ReservationCsvParams),
    request_body(content = String, content_type = "text/csv", description = "headEndSystem,nicId,enrollmentId,expectedKw"),
    security(("bearer" = [])),
    responses((status = 200, description = "the program side's acknowledgement"), (status = 400, body = crate::web::api::Problem),
              (status = 401, body = crate::web::api::Problem), (status = 403, body = crate::web::api::Problem),
              (status = 422, description = "broken rows (`errors[]` with `line` and `message`) or a refused reservation")))]
pub async fn reservation_csv(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let sender = match integration_client(
        &state,
        &headers,
        Some(Posting::Message(Flow::DeviceReservation)),
    )
    .await
    {
        Ok(name) => name,
        Err(res) => return res,
    };
    let q: ReservationCsvParams = match read_params(query.as_deref()) {
        Ok(q) => q,
        Err(res) => return *res,
    };
    let devices = match parse_reservation_csv(&body) {
        Ok(d) => d,
        Err(errors) => return row_errors(errors),
    };
    let payload = serde_json::json!({
        "eventExternalIdentifier": q.event_external_identifier,
        "externalIdentifier": q.external_identifier,
        "programCode": q.program_code,
        "startTime": q.start_time,
        "endTime": q.end_time,
        "deviceList": devices,
    });
    let flow = Flow::DeviceReservation;
    deliver(
        &state,
        flow,
        &sender,
        &envelope(
            &q.message_id,
            flow,
            q.correlation_id,
            payload,
            state.clock.now(),
        ),
    )
    .await
}

/// Event device outcomes (flow 6) as a flat file: the body is `text/plain`, one device per
/// line, `headEndSystem|nicId|outcome|participationStart|participationEnd` (times RFC 3339
/// or empty; an optional first line naming the fields is skipped); the message's other
/// fields are query parameters. A file with broken rows is refused whole.
#[utoipa::path(post, path = "/integration/device_outcome/flat", params(OutcomeFileParams),
    request_body(content = String, content_type = "text/plain", description = "headEndSystem|nicId|outcome|participationStart|participationEnd"),
    security(("bearer" = [])),
    responses((status = 200, description = "the program side's acknowledgement"), (status = 400, body = crate::web::api::Problem),
              (status = 401, body = crate::web::api::Problem), (status = 403, body = crate::web::api::Problem),
              (status = 422, description = "broken rows (`errors[]` with `line` and `message`) or refused outcomes")))]
pub async fn outcome_flat_file(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let sender = match integration_client(
        &state,
        &headers,
        Some(Posting::Message(Flow::DeviceOutcome)),
    )
    .await
    {
        Ok(name) => name,
        Err(res) => return res,
    };
    let q: OutcomeFileParams = match read_params(query.as_deref()) {
        Ok(q) => q,
        Err(res) => return *res,
    };
    let outcomes = match parse_outcome_flat_file(&body) {
        Ok(o) => o,
        Err(errors) => return row_errors(errors),
    };
    let payload = serde_json::json!({
        "eventExternalIdentifier": q.event_external_identifier,
        "externalIdentifier": q.external_identifier,
        "postOutcomeList": outcomes,
    });
    let flow = Flow::DeviceOutcome;
    deliver(
        &state,
        flow,
        &sender,
        &envelope(
            &q.message_id,
            flow,
            q.correlation_id,
            payload,
            state.clock.now(),
        ),
    )
    .await
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/integration/{flow}", post(inbound))
        .route("/integration/device_reservation/csv", post(reservation_csv))
        .route("/integration/device_outcome/flat", post(outcome_flat_file))
        .merge(crate::web::published::router())
        .merge(crate::web::published_flows::router())
        .merge(crate::web::published_check::router())
        .layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES))
}
