//! The grid side's published device status check (flow 3 request, issue 12): a program
//! side speaking the published contract asks after devices by `dacsMessageId` and is
//! answered at once with a published `MsgAck`; the check is received through the same inbox
//! and handler as GridFlex's own flow 3 message, and the statuses the grid found are queued
//! for the program side, to be posted to its `…/controllableDeviceStatus/response`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::config::ProgramsDialect;
use crate::error::DomainError;
use crate::integration::inbound::{receive, Side};
use crate::integration::message::{enqueue, NewMessage, DEFAULT_MAX_ATTEMPTS};
use crate::integration::wire::published::{
    message_id, MsgAck, RecordAckItem, StatusCheckDocument, ACK_FAILURE, ACK_SUCCESS,
    DEVICE_STATUS_PATH, STATUS_CHECK_PATH,
};
use crate::integration::wire::{Flow, RecordErrorWire};
use crate::web::integration::{integration_client, Posting};
use crate::web::AppState;

/// `SUCCESS` 200; `ERROR` 200 when some device was taken, 422 when none was; `FAILURE` 400
/// (unreadable), 409 (no published program side to answer) or 500 (GridFlex's fault).
fn answer(ack: &MsgAck, failure_status: StatusCode) -> Response {
    let status = match ack.ack_type.as_str() {
        ACK_SUCCESS => StatusCode::OK,
        ACK_FAILURE => failure_status,
        _ if ack.any_taken() => StatusCode::OK,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    (status, Json(ack)).into_response()
}

fn failure(
    state: &AppState,
    dacs: Option<String>,
    status: StatusCode,
    message: String,
) -> Response {
    let item = RecordAckItem {
        id: "request".into(),
        response_code: ACK_FAILURE.into(),
        message,
        errors: Vec::new(),
    };
    answer(&MsgAck::of(dacs, state.clock.now(), vec![item]), status)
}

/// Queues the grid's answer for the program side once: a repeat of the check finds it queued.
async fn queue_answer(
    state: &AppState,
    id: String,
    dacs: &str,
    mut ack: Value,
) -> Result<(), DomainError> {
    ack["answeredAt"] = json!(state.clock.now());
    let msg = NewMessage {
        message_id: id,
        flow: Flow::DeviceStatusCheck.as_str().into(),
        correlation_id: Some(dacs.to_owned()),
        sender: Side::Grid.as_str().into(),
        recipient: Side::Programs.as_str().into(),
        payload: ack,
        max_attempts: DEFAULT_MAX_ATTEMPTS,
    };
    let mut tx = state.db.begin().await?;
    match enqueue(&mut tx, &msg, state.clock.now()).await {
        Ok(_) => tx.commit().await,
        Err(DomainError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The grid side's device status check (published flow 3 request).
#[utoipa::path(post, path = "/rest/apis/dacs/controllableDeviceStatus/request",
    request_body(content = Object, content_type = "application/json", description = "dacsMessageId, deviceInfo{division, deviceType, specification, headEndSystem, nicid} (or a list of them)"),
    security(("bearer" = [])),
    responses((status = 200, description = "MsgAck: ackType SUCCESS, or ERROR with some device taken"), (status = 400, description = "ackType FAILURE: not JSON"),
              (status = 409, description = "ackType FAILURE: the program side does not speak the published contract (GRIDFLEX_PROGRAMS_DIALECT), nothing received"),
              (status = 401, body = crate::web::api::Problem), (status = 403, body = crate::web::api::Problem),
              (status = 422, description = "ackType ERROR: no device taken, every bad field named")))]
pub async fn device_status_check(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let flow = Flow::DeviceStatusCheck;
    let sender = match integration_client(&state, &headers, Some(Posting::Message(flow))).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    if state.programs_dialect != ProgramsDialect::Published {
        // The statuses would be posted to a program side that cannot take them.
        let dacs = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["dacsMessageId"].as_str().map(str::to_owned));
        let why = "this grid side answers status checks only to a program side speaking the \
                   published contract (GRIDFLEX_PROGRAMS_URL with GRIDFLEX_PROGRAMS_DIALECT=published); \
                   nothing was received"
            .to_owned();
        return failure(&state, dacs, StatusCode::CONFLICT, why);
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            let why = format!("the body is not JSON: {e}");
            return failure(&state, None, StatusCode::BAD_REQUEST, why);
        }
    };
    let doc = match StatusCheckDocument::parse(&value) {
        Ok(d) => d,
        Err(errors) => {
            let dacs = value["dacsMessageId"].as_str().map(str::to_owned);
            let items = vec![RecordAckItem::error("request", errors)];
            return answer(&MsgAck::of(dacs, state.clock.now(), items), StatusCode::OK);
        }
    };
    let dacs = doc.dacs_message_id.clone();
    let Some(check) = doc.to_gridflex_check() else {
        let ack = MsgAck::of(Some(dacs), state.clock.now(), doc.answers("", None));
        return answer(&ack, StatusCode::OK);
    };
    let key = format!("dacs:{dacs}");
    let envelope = json!({
        "messageId": message_id(&sender, "deviceStatusCheck", &key, ""),
        "flow": flow.as_str(),
        "sentAt": state.clock.now(),
        "payload": check,
    });
    let got = receive(
        &state.db,
        &state.handlers,
        Side::Grid,
        &sender,
        envelope.to_string().as_bytes(),
        state.calendar,
        state.clock.now(),
    )
    .await;
    let refused = match got {
        Ok(a) if a.accepted => {
            let id = message_id(&sender, "deviceStatusResponse", &key, "");
            if let Err(e) = queue_answer(&state, id, &dacs, a.body).await {
                return internal(&state, dacs, e);
            }
            None
        }
        Ok(a) => Some(a.body["detail"].as_str().unwrap_or("refused").to_owned()),
        Err(e) if e.is_client_error() => Some(e.to_string()),
        Err(e) => return internal(&state, dacs, e),
    };
    let refused = refused.map(|detail| RecordErrorWire {
        field: "deviceInfo".into(),
        message: detail,
    });
    let done = format!("status check taken; the status follows on {DEVICE_STATUS_PATH}");
    let items = doc.answers(&done, refused.as_ref());
    answer(
        &MsgAck::of(Some(dacs), state.clock.now(), items),
        StatusCode::OK,
    )
}

/// A technical failure: the cause goes to the log under a reference the answer names.
fn internal(state: &AppState, dacs: String, e: DomainError) -> Response {
    let reference = format!("{:016x}", rand::random::<u64>());
    tracing::error!(reference, error = %e, "published device status check failed");
    let why = format!("GridFlex could not process the check (reference {reference})");
    failure(state, Some(dacs), StatusCode::INTERNAL_SERVER_ERROR, why)
}

pub fn router() -> Router<AppState> {
    Router::new().route(STATUS_CHECK_PATH, post(device_status_check))
}
