//! The published program-side paths after enroll (issue 12): program events and their
//! lifecycle (flow 4), device reservations (flow 5) and outcomes (flow 6), and the grid's
//! acknowledgements of flows 2 and 3. Each request is checked under its published names,
//! becomes GridFlex's own flow messages and is received through the same inbox (a resend is
//! the same message) and handlers; the answer is the published acknowledgement, one entry
//! per record.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::DomainError;
use crate::integration::inbound::{receive, recipient_of};
use crate::integration::wire::published::{
    device_answers, message_id, DeviceStatusResponseDocument, KnownStage, LifecycleDocument,
    OutcomeDocument, ProgramEventDocument, RecordAck, RecordAckItem, RegistrationAckDocument,
    ReserveDocument, StagePart, ACK_FAILURE, ACK_SUCCESS,
};
use crate::integration::wire::{Flow, RecordErrorWire};
use crate::web::integration::{integration_client, Posting};
use crate::web::AppState;

pub use crate::integration::wire::published::{
    DEVICE_STATUS_PATH, ENROLLMENT_ACK_PATH, LIFECYCLE_PATH, OUTCOME_PATH, PROGRAM_EVENT_PATH,
    RESERVE_PATH,
};

/// `SUCCESS` 200; `ERROR` 200 when some record was applied, 422 when none was;
/// `FAILURE` 400 (unreadable) or 500 (GridFlex's fault).
fn answer(ack: &RecordAck) -> Response {
    let status = match ack.ack_type.as_str() {
        ACK_SUCCESS => StatusCode::OK,
        ACK_FAILURE => StatusCode::BAD_REQUEST,
        _ if ack.any_applied() => StatusCode::OK,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    (status, Json(ack)).into_response()
}

/// A technical failure: the cause goes to the log under a reference the answer names.
fn failure(state: &AppState, transaction_id: Option<String>, e: DomainError) -> Response {
    let reference = format!("{:016x}", rand::random::<u64>());
    tracing::error!(reference, error = %e, "published request failed");
    let ack = RecordAck::failure(
        transaction_id,
        state.clock.now(),
        format!("GridFlex could not process the request (reference {reference})"),
    );
    (StatusCode::INTERNAL_SERVER_ERROR, Json(ack)).into_response()
}

/// The request refused as a whole: nothing of it is applied.
fn refused(state: &AppState, value: &Value, id: &str, errors: Vec<RecordErrorWire>) -> Response {
    let tx = value["transactionId"].as_str().map(str::to_owned);
    answer(&RecordAck::of(
        tx,
        state.clock.now(),
        vec![RecordAckItem::error(id, errors)],
    ))
}

/// Authenticates and reads the body; `Err` is the answer already.
async fn open(
    state: &AppState,
    headers: &HeaderMap,
    posting: Posting,
    body: &Bytes,
) -> Result<(String, Value), Response> {
    let sender = integration_client(state, headers, Some(posting)).await?;
    serde_json::from_slice(body)
        .map(|v| (sender, v))
        .map_err(|e| {
            answer(&RecordAck::failure(
                None,
                state.clock.now(),
                format!("the body is not JSON: {e}"),
            ))
        })
}

/// What identifies a request for the inbox: its `transactionId`, else its body.
fn request_key(value: &Value) -> String {
    match value["transactionId"].as_str() {
        Some(tx) => format!("tx:{tx}"),
        None => format!("body:{value}"),
    }
}

/// GridFlex's flow 4–6 field names in a refusal, in the published ones.
const FIELD_NAMES: [(&str, &str); 7] = [
    ("programCode", "programExternalIdentifier"),
    ("eventCategory", "programEventCategory"),
    ("reason", "cancelReason"),
    ("startTime", "startDateTime"),
    ("endTime", "endDateTime"),
    ("participationStart", "participationStartDateTime"),
    ("participationEnd", "participationEndDateTime"),
];

/// The field a GridFlex refusal names — `field: why` (a handler), or `record `id`: field why`
/// (a wire check) — in its published name; else `fallback`.
fn refusal(detail: &str, fallback: &str) -> RecordErrorWire {
    let rest = match detail.strip_prefix("record ") {
        Some(r) => r.split_once(": ").map_or(detail, |(_, why)| why),
        None => detail,
    };
    let named = rest
        .split_once(": ")
        .map(|(f, _)| f)
        .filter(|f| !f.is_empty() && !f.contains(' '))
        .or_else(|| {
            rest.split_once(' ')
                .map(|(f, _)| f)
                .filter(|f| f.chars().any(|c| c.is_ascii_uppercase() || c == '['))
        });
    let field = match named {
        Some(f) => {
            let (head, last) = f.rsplit_once('.').map_or(("", f), |(h, l)| (h, l));
            let last = FIELD_NAMES
                .iter()
                .find(|(ours, _)| *ours == last)
                .map_or(last, |(_, theirs)| theirs);
            if head.is_empty() {
                last.to_owned()
            } else {
                format!("{head}.{last}")
            }
        }
        None => fallback.to_owned(),
    };
    RecordErrorWire {
        field,
        message: detail.to_owned(),
    }
}

/// Receives each part as one GridFlex message of `flow` through the inbox and answers each
/// of its records; a part the handler refuses answers its records with the reason.
async fn deliver(
    state: &AppState,
    sender: &str,
    flow: Flow,
    kind: &str,
    key: &str,
    parts: Vec<StagePart>,
    done: &str,
) -> Result<Vec<RecordAckItem>, DomainError> {
    let mut items = Vec::new();
    for part in parts {
        let envelope = json!({
            "messageId": message_id(sender, kind, key, &part.stage),
            "flow": flow.as_str(),
            "sentAt": state.clock.now(),
            "payload": part.payload,
        });
        let got = receive(
            &state.db,
            &state.handlers,
            recipient_of(flow),
            sender,
            envelope.to_string().as_bytes(),
            state.calendar,
            state.clock.now(),
        )
        .await;
        let refused = match got {
            Ok(a) if a.accepted => None,
            Ok(a) => Some(a.body["detail"].as_str().unwrap_or("refused").to_owned()),
            Err(e) if e.is_client_error() => Some(e.to_string()),
            Err(e) => return Err(e),
        };
        for record in part.records {
            items.push(match &refused {
                None => {
                    RecordAckItem::success(record, format!("{done} (program event {})", part.stage))
                }
                Some(detail) => {
                    RecordAckItem::error(record, vec![refusal(detail, "eventExternalIdentifier")])
                }
            });
        }
    }
    Ok(items)
}

fn known(rows: Vec<crate::db::published::PublishedStageRow>) -> Vec<KnownStage> {
    rows.into_iter()
        .map(|r| KnownStage {
            external_id: r.external_id,
            event_external_id: r.event_external_id,
            program_code: r.program_code,
            category: r.category,
            status: r.status,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
        })
        .collect()
}

fn no_program_event(event: &str) -> RecordErrorWire {
    RecordErrorWire {
        field: "eventExternalIdentifier".into(),
        message: format!(
            "the program side holds no program event of `{event}`; create it first (POST {PROGRAM_EVENT_PATH})"
        ),
    }
}

/// What a published route looks up before it can split its request into GridFlex messages.
enum Lookup {
    /// Nothing: the request carries all it needs.
    Nothing,
    /// The program events of the request's event; none is a refusal.
    Stages,
    /// The devices reserved for the request's event's program events.
    Reserved,
}

/// What was looked up, for [`PublishedDoc::parts`].
enum Known {
    Nothing,
    Stages(Vec<KnownStage>),
    Reserved(Vec<(String, String, String)>),
}

/// What every published document after enroll states the same way: it is read by its own
/// parser and names its transaction and its event (`eventExternalIdentifier`).
trait DocHeader: Sized {
    fn parse(value: &Value) -> Result<Self, Vec<RecordErrorWire>>;
    fn transaction_id(&self) -> Option<String>;
    /// The event (or program event) the request is about.
    fn event(&self) -> &str;
}

macro_rules! doc_header {
    ($($doc:ty),+) => {$(
        impl DocHeader for $doc {
            fn parse(value: &Value) -> Result<Self, Vec<RecordErrorWire>> {
                <$doc>::parse(value)
            }
            fn transaction_id(&self) -> Option<String> {
                self.transaction_id.clone()
            }
            fn event(&self) -> &str {
                &self.event_external_identifier
            }
        }
    )+};
}

doc_header!(
    ProgramEventDocument,
    LifecycleDocument,
    ReserveDocument,
    OutcomeDocument
);

/// A published request after enroll (flows 4–6): how it is read, what it needs to know,
/// and how it becomes GridFlex messages, one per program event.
trait PublishedDoc: DocHeader {
    const FLOW: Flow;
    /// Names the request in its inbox message ids.
    const KIND: &'static str;
    const LOOKUP: Lookup;
    /// What an applied record's answer says.
    fn done(&self) -> String;
    /// The GridFlex messages and the answers of the records none of them carries.
    fn parts(&self, known: Known) -> (Vec<StagePart>, Vec<RecordAckItem>);
    /// The answers in the request's order.
    fn answers(
        &self,
        delivered: Vec<RecordAckItem>,
        unplaced: Vec<RecordAckItem>,
    ) -> Vec<RecordAckItem> {
        delivered.into_iter().chain(unplaced).collect()
    }
}

impl PublishedDoc for ProgramEventDocument {
    const FLOW: Flow = Flow::StageStatus;
    const KIND: &'static str = "programEvent";
    const LOOKUP: Lookup = Lookup::Nothing;
    fn done(&self) -> String {
        "created as scheduled".into()
    }
    fn parts(&self, _: Known) -> (Vec<StagePart>, Vec<RecordAckItem>) {
        let part = StagePart {
            stage: self.external_identifier.clone(),
            payload: self.to_stage_status(),
            records: vec![self.external_identifier.clone()],
        };
        (vec![part], Vec::new())
    }
}

impl PublishedDoc for LifecycleDocument {
    const FLOW: Flow = Flow::StageStatus;
    const KIND: &'static str = "lifecycle";
    const LOOKUP: Lookup = Lookup::Stages;
    fn done(&self) -> String {
        format!("moved to {}", self.action.as_str())
    }
    fn parts(&self, known: Known) -> (Vec<StagePart>, Vec<RecordAckItem>) {
        let Known::Stages(stages) = known else {
            return (Vec::new(), Vec::new());
        };
        let parts = stages
            .iter()
            .map(|s| StagePart {
                stage: s.external_id.clone(),
                payload: self.to_stage_status(s),
                records: vec![s.external_id.clone()],
            })
            .collect();
        (parts, Vec::new())
    }
}

impl PublishedDoc for ReserveDocument {
    const FLOW: Flow = Flow::DeviceReservation;
    const KIND: &'static str = "reserveDevice";
    const LOOKUP: Lookup = Lookup::Stages;
    fn done(&self) -> String {
        "reserved".into()
    }
    fn parts(&self, known: Known) -> (Vec<StagePart>, Vec<RecordAckItem>) {
        match known {
            Known::Stages(stages) => self.to_reservations(&stages),
            _ => (Vec::new(), Vec::new()),
        }
    }
    fn answers(
        &self,
        delivered: Vec<RecordAckItem>,
        unplaced: Vec<RecordAckItem>,
    ) -> Vec<RecordAckItem> {
        in_list_order(&self.devices, delivered, unplaced)
    }
}

impl PublishedDoc for OutcomeDocument {
    const FLOW: Flow = Flow::DeviceOutcome;
    const KIND: &'static str = "postEventOutcome";
    const LOOKUP: Lookup = Lookup::Reserved;
    fn done(&self) -> String {
        "outcome recorded".into()
    }
    fn parts(&self, known: Known) -> (Vec<StagePart>, Vec<RecordAckItem>) {
        match known {
            Known::Reserved(reserved) => self.to_outcome_batches(&reserved),
            _ => (Vec::new(), Vec::new()),
        }
    }
    fn answers(
        &self,
        delivered: Vec<RecordAckItem>,
        unplaced: Vec<RecordAckItem>,
    ) -> Vec<RecordAckItem> {
        in_list_order(&self.outcomes, delivered, unplaced)
    }
}

/// Serves one published request after enroll: authenticate and read it, check it under
/// its published names, look up what it needs, deliver each of its GridFlex messages
/// through the inbox and answer each record.
async fn serve<D: PublishedDoc>(state: AppState, headers: HeaderMap, body: Bytes) -> Response {
    let (sender, value) = match open(&state, &headers, Posting::Message(D::FLOW), &body).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let doc = match D::parse(&value) {
        Ok(d) => d,
        Err(errors) => return refused(&state, &value, "request", errors),
    };
    let known = match D::LOOKUP {
        Lookup::Nothing => Ok(Known::Nothing),
        Lookup::Stages => crate::db::published::stages_of_event(&state.db, doc.event())
            .await
            .map(|rows| Known::Stages(known(rows))),
        Lookup::Reserved => crate::db::published::reserved_devices_of_event(&state.db, doc.event())
            .await
            .map(Known::Reserved),
    };
    let known = match known {
        Ok(Known::Stages(stages)) if stages.is_empty() => {
            let id = doc.event().to_owned();
            return refused(&state, &value, &id, vec![no_program_event(&id)]);
        }
        Ok(k) => k,
        Err(e) => return failure(&state, doc.transaction_id(), e),
    };
    let (parts, unplaced) = doc.parts(known);
    let key = request_key(&value);
    match deliver(&state, &sender, D::FLOW, D::KIND, &key, parts, &doc.done()).await {
        Ok(items) => {
            let items = doc.answers(items, unplaced);
            answer(&RecordAck::of(
                doc.transaction_id(),
                state.clock.now(),
                items,
            ))
        }
        Err(e) => failure(&state, doc.transaction_id(), e),
    }
}

/// Create a program event (published flow 4): the stage, created as Scheduled.
#[utoipa::path(post, path = "/rest/apis/cross/service/programEvent/",
    request_body(content = Object, content_type = "application/json", description = "eventExternalIdentifier, externalIdentifier, programExternalIdentifier, programEventCategory, startDateTime, endDateTime"),
    security(("bearer" = [])),
    responses((status = 200, description = "ackType SUCCESS"), (status = 400, description = "ackType FAILURE: not JSON"),
              (status = 401, body = crate::web::api::Problem), (status = 403, body = crate::web::api::Problem),
              (status = 422, description = "ackType ERROR: every bad field named")))]
pub async fn program_event(State(s): State<AppState>, h: HeaderMap, b: Bytes) -> Response {
    serve::<ProgramEventDocument>(s, h, b).await
}

/// A program event's lifecycle step (published flow 4): applied to every program event of
/// the event `eventExternalIdentifier` (or to the one program event of that id).
#[utoipa::path(post, path = "/rest/apis/cross/service/programEvent/lifecycle",
    request_body(content = Object, content_type = "application/json", description = "action (X1SD, X1IP, F1CO, F1CN), cancelReason, eventExternalIdentifier"),
    security(("bearer" = [])),
    responses((status = 200, description = "ackType SUCCESS, or ERROR with some program event moved"), (status = 400, description = "ackType FAILURE: not JSON"),
              (status = 401, body = crate::web::api::Problem), (status = 403, body = crate::web::api::Problem),
              (status = 422, description = "ackType ERROR: nothing moved")))]
pub async fn lifecycle(State(s): State<AppState>, h: HeaderMap, b: Bytes) -> Response {
    serve::<LifecycleDocument>(s, h, b).await
}

/// Reserve devices for an event (published flow 5): each device for the event's program
/// events its window overlaps; one answer per device.
#[utoipa::path(post, path = "/rest/apis/cross/service/programEventParticipation/reserveDevice",
    request_body(content = Object, content_type = "application/json", description = "eventExternalIdentifier, eventStartDateTime, eventEndDateTime, deviceList[]{headEndSystem, nicId, reservationStartDateTime, reservationEndDateTime}"),
    security(("bearer" = [])),
    responses((status = 200, description = "ackType SUCCESS, or ERROR with some device reserved"), (status = 400, description = "ackType FAILURE: not JSON"),
              (status = 401, body = crate::web::api::Problem), (status = 403, body = crate::web::api::Problem),
              (status = 422, description = "ackType ERROR: no device reserved")))]
pub async fn reserve_device(State(s): State<AppState>, h: HeaderMap, b: Bytes) -> Response {
    serve::<ReserveDocument>(s, h, b).await
}

/// Post what each device did (published flow 6): each outcome to the program events the
/// device was reserved for; one answer per device.
#[utoipa::path(post, path = "/rest/apis/cross/service/programEventParticipation/postEventOutcome",
    request_body(content = Object, content_type = "application/json", description = "eventExternalIdentifier, postOutcomeList[]{headEndSystem, nicId, outcome (D1SP, D1ND, D1IO, D1ER, D1CN), errorMessage, participationStartDateTime, participationEndDateTime}"),
    security(("bearer" = [])),
    responses((status = 200, description = "ackType SUCCESS, or ERROR with some outcome recorded"), (status = 400, description = "ackType FAILURE: not JSON"),
              (status = 401, body = crate::web::api::Problem), (status = 403, body = crate::web::api::Problem),
              (status = 422, description = "ackType ERROR: no outcome recorded")))]
pub async fn post_event_outcome(State(s): State<AppState>, h: HeaderMap, b: Bytes) -> Response {
    serve::<OutcomeDocument>(s, h, b).await
}

/// One answer per listed device, in the request's order: a device in several program
/// events is answered once (an error in any of them wins).
fn in_list_order<T>(
    records: &[Result<T, RecordAckItem>],
    delivered: Vec<RecordAckItem>,
    unplaced: Vec<RecordAckItem>,
) -> Vec<RecordAckItem>
where
    T: DeviceRecord,
{
    let mut out = Vec::with_capacity(records.len());
    let mut pool: Vec<RecordAckItem> = delivered.into_iter().chain(unplaced).collect();
    for record in records {
        match record {
            Err(item) => out.push(item.clone()),
            Ok(r) => {
                let id = r.record_id();
                let mine: Vec<RecordAckItem> =
                    pool.iter().filter(|i| i.id == id).cloned().collect();
                pool.retain(|i| i.id != id);
                let pick = mine
                    .iter()
                    .find(|i| i.response_code != ACK_SUCCESS)
                    .or(mine.first())
                    .cloned();
                if let Some(item) = pick {
                    out.push(item);
                }
            }
        }
    }
    out
}

/// A listed device's answer id.
trait DeviceRecord {
    fn record_id(&self) -> String;
}

impl DeviceRecord for crate::integration::wire::published::PublishedReservation {
    fn record_id(&self) -> String {
        crate::integration::wire::published::device_id(&self.head_end_system, &self.nic_id)
    }
}

impl DeviceRecord for crate::integration::wire::published::PublishedOutcome {
    fn record_id(&self) -> String {
        crate::integration::wire::published::device_id(&self.head_end_system, &self.nic_id)
    }
}

/// The grid's acknowledgement of an enrollment sync (published flow 2): per device, the
/// head-end registration (`Registered` / `De-registered`) the program side records.
#[utoipa::path(post, path = "/rest/apis/cross/digitalAssets/programEnrollments/postAcknowledgement",
    request_body(content = Object, content_type = "application/json", description = "transactionId, ackType (SUCCESS, ERROR, FAILURE), whenISO, message, deviceList[]{headEndSystem, nicId, registrationStatus (Registered, De-registered), message}"),
    security(("bearer" = [])),
    responses((status = 200, description = "ackType SUCCESS, or ERROR with some device recorded"), (status = 400, description = "ackType FAILURE: not JSON"),
              (status = 401, body = crate::web::api::Problem), (status = 403, body = crate::web::api::Problem),
              (status = 422, description = "ackType ERROR: nothing recorded")))]
pub async fn enrollment_ack(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // An acknowledgement travels against its flow: the grid side posts it.
    let (sender, value) = match open(
        &state,
        &headers,
        Posting::AckOf(Flow::EnrollmentSync),
        &body,
    )
    .await
    {
        Ok(v) => v,
        Err(res) => return res,
    };
    let doc = match RegistrationAckDocument::parse(&value) {
        Ok(d) => d,
        Err(errors) => return refused(&state, &value, "request", errors),
    };
    let tx = Some(doc.transaction_id.clone());
    let ack = doc.to_gridflex_ack();
    let now = state.clock.now();
    let build = |known: &[bool]| {
        let items = device_answers(
            &doc.devices,
            |d| (d.head_end_system.clone(), d.nic_id.clone()),
            known,
            "registration recorded",
        );
        json!(RecordAck::of(tx.clone(), now, items))
    };
    let id = message_id(
        &sender,
        "postAcknowledgement",
        &request_key_of_body(&value),
        "",
    );
    posted(
        &state,
        Flow::EnrollmentSync,
        &sender,
        &id,
        Some(&doc.transaction_id),
        &ack,
        build,
        tx.clone(),
    )
    .await
}

/// The grid's answer to a device status check (published flow 3): per device `Online` /
/// `Offline`, kept in the inbox as the answer to the request's `dacsMessageId`.
#[utoipa::path(post, path = "/rest/apis/cross/digitalAssets/controllableDeviceStatus/response",
    request_body(content = Object, content_type = "application/json", description = "dacsMessageId, ackType, whenISO, deviceList[]{headEndSystem, nicId, communicationStatus (Online, Offline), lastCommunicationDateTime}"),
    security(("bearer" = [])),
    responses((status = 200, description = "ackType SUCCESS, or ERROR with some device recorded"), (status = 400, description = "ackType FAILURE: not JSON"),
              (status = 401, body = crate::web::api::Problem), (status = 403, body = crate::web::api::Problem),
              (status = 422, description = "ackType ERROR: nothing recorded")))]
pub async fn device_status_response(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (sender, value) = match open(
        &state,
        &headers,
        Posting::AckOf(Flow::DeviceStatusCheck),
        &body,
    )
    .await
    {
        Ok(v) => v,
        Err(res) => return res,
    };
    let doc = match DeviceStatusResponseDocument::parse(&value) {
        Ok(d) => d,
        Err(errors) => return refused(&state, &value, "request", errors),
    };
    let ack = doc.to_gridflex_ack();
    let now = state.clock.now();
    let build = |known: &[bool]| {
        let items = device_answers(
            &doc.devices,
            |d| (d.head_end_system.clone(), d.nic_id.clone()),
            known,
            "communication status recorded",
        );
        json!(RecordAck::of(None, now, items))
    };
    let id = message_id(
        &sender,
        "deviceStatusResponse",
        &request_key_of_body(&value),
        "",
    );
    posted(
        &state,
        Flow::DeviceStatusCheck,
        &sender,
        &id,
        Some(&doc.dacs_message_id),
        &ack,
        build,
        None,
    )
    .await
}

/// A posted acknowledgement is the same message when its whole body is the same.
fn request_key_of_body(value: &Value) -> String {
    format!("body:{value}")
}

#[allow(clippy::too_many_arguments)]
async fn posted(
    state: &AppState,
    flow: Flow,
    sender: &str,
    message_id: &str,
    correlation: Option<&str>,
    ack: &Value,
    build: impl FnOnce(&[bool]) -> Value,
    transaction_id: Option<String>,
) -> Response {
    let got = crate::integration::ack::receive_posted(
        &state.db,
        flow,
        sender,
        message_id,
        correlation,
        ack,
        build,
        state.clock.now(),
    )
    .await;
    match got.map(|(body, _)| serde_json::from_value::<RecordAck>(body)) {
        Ok(Ok(answered)) => answer(&answered),
        Ok(Err(e)) => failure(
            state,
            transaction_id,
            DomainError::Internal(format!("stored answer: {e}")),
        ),
        Err(e) => failure(state, transaction_id, e),
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(ENROLLMENT_ACK_PATH, post(enrollment_ack))
        .route(DEVICE_STATUS_PATH, post(device_status_response))
        .route(PROGRAM_EVENT_PATH, post(program_event))
        .route(LIFECYCLE_PATH, post(lifecycle))
        .route(RESERVE_PATH, post(reserve_device))
        .route(OUTCOME_PATH, post(post_event_outcome))
}
