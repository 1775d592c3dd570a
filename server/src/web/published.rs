//! The published program-side REST surface (issue 12), served by GridFlex's program side:
//! `POST /rest/apis/cross/digitalAssets/programEnrollments/enroll` and its read-back. A
//! published document is checked under its published field names, translated into
//! GridFlex's own flow 1 message and received through the same inbox and handler
//! (idempotent by `transactionId`); the answer is the published acknowledgement.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::integration::inbound::{receive, recipient_of};
use crate::integration::wire::published::{published_ack, EnrollAck, EnrollDocument};
use crate::integration::wire::{Flow, RecordErrorWire};
use crate::web::api::problem as api_problem;
use crate::web::integration::{integration_client, Posting};
use crate::web::AppState;

pub const ENROLL_PATH: &str = "/rest/apis/cross/digitalAssets/programEnrollments/enroll";

fn answer(status: StatusCode, ack: &EnrollAck) -> Response {
    (status, Json(ack)).into_response()
}

/// The inbox's message id for a published transaction: the transaction id may be longer
/// than a message id, so it is hashed, with the sender (two clients may pick the same
/// transaction id); the prefix keeps it apart from GridFlex's own ids.
fn message_id(sender: &str, transaction_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(sender.as_bytes());
    h.update([0]);
    h.update(transaction_id.as_bytes());
    format!("published-enroll-{}", hex::encode(h.finalize()))
}

/// Enroll (published flow 1). `SUCCESS` (200) with the enrollment id, also when the
/// enrollment already exists (message number `10589`); `ERROR` (422) naming every bad field
/// by its published path; `FAILURE` (400 unreadable, 500 GridFlex's fault).
#[utoipa::path(post, path = "/rest/apis/cross/digitalAssets/programEnrollments/enroll",
    request_body(content = Object, content_type = "application/json", description = "the published enrollment document"),
    security(("bearer" = [])),
    responses((status = 200, description = "ackType SUCCESS"),
              (status = 400, description = "ackType FAILURE: not JSON"),
              (status = 401, body = crate::web::api::Problem), (status = 403, body = crate::web::api::Problem),
              (status = 422, description = "ackType ERROR: the collection names every bad field")))]
pub async fn enroll(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let flow = Flow::EnrollmentRequest;
    let sender = match integration_client(&state, &headers, Some(Posting::Message(flow))).await {
        Ok(name) => name,
        Err(res) => return res,
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return answer(
                StatusCode::BAD_REQUEST,
                &EnrollAck::failure(None, format!("the body is not JSON: {e}")),
            )
        }
    };
    let given_id = value["transactionId"].as_str().map(str::to_owned);
    let document = match EnrollDocument::parse(&value) {
        Ok(d) => d,
        Err(errors) => {
            return answer(
                StatusCode::UNPROCESSABLE_ENTITY,
                &EnrollAck::errors(given_id, errors),
            )
        }
    };
    let transaction_id = document.transaction_id.clone();
    let service_point = &document.location_info.cis_service_point_id;
    let place = match crate::db::place::get_place(&state.db, service_point).await {
        Ok(p) => p,
        Err(e) => return failure(&transaction_id, e),
    };
    let Some(place) = place else {
        let error = RecordErrorWire {
            field: "locationInfo.cisServicePointId".into(),
            message: format!(
                "service point `{service_point}` is not in the network model the program side holds (flow 11)"
            ),
        };
        return answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            &EnrollAck::errors(Some(transaction_id), vec![error]),
        );
    };
    let envelope = json!({
        "messageId": message_id(&sender, &transaction_id),
        "flow": flow.as_str(),
        "sentAt": state.clock.now(),
        "payload": document.to_enrollment_batch(&place.transformer_code),
    });
    match receive(
        &state.db,
        &state.handlers,
        recipient_of(flow),
        &sender,
        envelope.to_string().as_bytes(),
        state.calendar,
        state.clock.now(),
    )
    .await
    {
        Ok(got) => {
            let ack = published_ack(&transaction_id, got.accepted, &got.body);
            let status = if ack.ack_type == "SUCCESS" {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            answer(status, &ack)
        }
        Err(e) if e.is_client_error() => answer(
            StatusCode::BAD_REQUEST,
            &EnrollAck::failure(Some(transaction_id), e.to_string()),
        ),
        Err(e) => failure(&transaction_id, e),
    }
}

/// A technical failure: the cause goes to the log under a reference the answer names.
fn failure(transaction_id: &str, e: crate::error::DomainError) -> Response {
    let reference = format!("{:016x}", rand::random::<u64>());
    tracing::error!(reference, transaction = transaction_id, error = %e, "published enroll failed");
    answer(
        StatusCode::INTERNAL_SERVER_ERROR,
        &EnrollAck::failure(
            Some(transaction_id.to_owned()),
            format!("GridFlex could not process the enrollment (reference {reference})"),
        ),
    )
}

/// Read back an enrollment in the published shape: `enrollmentId`, `status`,
/// `enrollmentSource`, `customerInfo`, `programInfo`, `locationInfo`, `assetInfo` — as
/// received for one enrolled through the published path, otherwise from GridFlex's record.
#[utoipa::path(get, path = "/rest/apis/cross/digitalAssets/programEnrollments/enroll/{enrollmentId}",
    params(("enrollmentId" = String, Path, description = "the id the enroll acknowledgement gave (any enrollment id)")),
    security(("bearer" = [])),
    responses((status = 200, description = "the enrollment in the published shape"),
              (status = 400, body = crate::web::api::Problem), (status = 401, body = crate::web::api::Problem),
              (status = 403, body = crate::web::api::Problem), (status = 404, body = crate::web::api::Problem)))]
pub async fn read_enrollment(
    State(state): State<AppState>,
    Path(enrollment_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(res) = integration_client(&state, &headers, None).await {
        return res;
    }
    let Some(id) = enrollment_id
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
    else {
        return api_problem(
            400,
            "Bad request",
            format!("enrollmentId must be a positive whole number (got `{enrollment_id}`)"),
        );
    };
    match crate::programs::published::read_back(&state.db, id).await {
        Ok(Some(doc)) => Json(doc).into_response(),
        Ok(None) => api_problem(404, "Not found", format!("no enrollment {id}")),
        Err(e) => crate::web::api::ApiError::from(e).into_response(),
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route(ENROLL_PATH, post(enroll)).route(
        &format!("{ENROLL_PATH}/{{enrollment_id}}"),
        get(read_enrollment),
    )
}
