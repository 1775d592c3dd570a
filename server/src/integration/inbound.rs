//! Receiving a message: the envelope is checked, a message id seen before gets the answer it
//! got the first time (nothing changes), and otherwise the flow's handler runs in the same
//! transaction that stores the message and its answer.

use chrono::{DateTime, Datelike, Utc};
use serde_json::{json, Value};

use crate::calendar::Calendar;
use crate::db::{insert_rows, Arg, Db};
use crate::error::DomainError;
use crate::integration::handlers::{HandlerCtx, Handlers};
use crate::integration::message::MessageRow;
use crate::integration::message::{find_inbound, record_inbound};
use crate::integration::wire::Flow;

/// Which half of GridFlex receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Programs,
    Grid,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Programs => "programs",
            Side::Grid => "grid",
        }
    }
}

/// The answer to a received message: an acknowledgement, or a problem document.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundAnswer {
    pub accepted: bool,
    pub status: u16,
    pub body: Value,
    /// True when this message id had been received before.
    pub duplicate: bool,
}

/// What a handler returns when the message itself is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub detail: String,
    /// Per-record results, when the flow has records.
    pub extra: Option<Value>,
}

impl Rejection {
    pub fn new(detail: impl Into<String>) -> Self {
        Rejection {
            detail: detail.into(),
            extra: None,
        }
    }
}

pub fn problem(status: u16, detail: &str) -> Value {
    json!({"type": "about:blank", "title": if status == 422 { "Unprocessable message" } else { "Bad request" }, "status": status, "detail": detail})
}

/// The side a flow is addressed to.
pub fn recipient_of(flow: Flow) -> Side {
    match flow.direction() {
        crate::integration::wire::Direction::GridToPrograms => Side::Programs,
        crate::integration::wire::Direction::ProgramsToGrid => Side::Grid,
    }
}

/// The side a flow is sent by.
pub fn sender_of(flow: Flow) -> Side {
    match recipient_of(flow) {
        Side::Programs => Side::Grid,
        Side::Grid => Side::Programs,
    }
}

pub const MAX_MESSAGE_ID: usize = 100;

/// The envelope's `sentAt`: an RFC 3339 time in a plausible range (not `"not a date"`, `null`
/// or `12`). It is not compared with this server's clock: a sender on a simulated clock, or
/// a message redelivered days later, is still a good message.
fn sent_at(value: &Value) -> Result<DateTime<Utc>, DomainError> {
    let parsed = value
        .as_str()
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| (2000..=2100).contains(&t.year()));
    parsed.ok_or_else(|| {
        DomainError::invalid(format!(
            "`sentAt` must be an RFC 3339 time between the years 2000 and 2100, such as 2024-07-01T15:00:00Z (got {})",
            crate::integration::wire::shorten(&value.to_string(), 40)
        ))
    })
}

pub async fn receive(
    db: &Db,
    handlers: &Handlers,
    side: Side,
    sender: &str,
    body: &[u8],
    cal: Calendar,
    now: DateTime<Utc>,
) -> Result<InboundAnswer, DomainError> {
    let mut envelope: Value = serde_json::from_slice(body)
        .map_err(|e| DomainError::invalid(format!("the message is not valid JSON: {e}")))?;
    let message_id = envelope["messageId"]
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= MAX_MESSAGE_ID)
        .ok_or_else(|| {
            DomainError::invalid(format!(
                "`messageId` must be a string of 1 to {MAX_MESSAGE_ID} characters"
            ))
        })?
        .to_string();
    sent_at(&envelope["sentAt"])?;
    let flow_name = envelope["flow"].as_str().unwrap_or_default();
    let flow = Flow::parse(flow_name)
        .ok_or_else(|| DomainError::invalid(format!("`flow`: unknown flow `{flow_name}`")))?;
    if recipient_of(flow) != side {
        return Err(DomainError::invalid(format!(
            "flow `{}` is addressed to the {} side, not the {} side",
            flow.as_str(),
            recipient_of(flow).as_str(),
            side.as_str()
        )));
    }
    let correlation = envelope["correlationId"].as_str().map(str::to_string);
    // Taken out of the envelope rather than copied: a batch's payload is most of it.
    let payload = envelope
        .get_mut("payload")
        .map(Value::take)
        .unwrap_or(Value::Null);
    let payload_text = payload.to_string();

    let mut tx = db.begin().await?;
    if let Some(seen) = find_inbound(&mut tx, &message_id).await? {
        return Ok(stored_answer(&seen.status, seen.result.as_deref()));
    }
    tx.savepoint("handler").await?;
    let outcome = handlers
        .handle(&mut tx, flow, &payload, &HandlerCtx { cal, now })
        .await;
    let (status, body, accepted) = match outcome {
        Ok(ack) => {
            tx.release("handler").await?;
            ("processed", ack, true)
        }
        Err(HandlerError::Rejected(r)) => {
            tx.rollback_to("handler").await?;
            let mut body = problem(422, &r.detail);
            if let Some(extra) = r.extra {
                body["results"] = extra;
            }
            ("business_error", body, false)
        }
        Err(HandlerError::Fault(e)) => return Err(e),
    };
    match record_inbound(
        &mut tx,
        &message_id,
        flow.as_str(),
        correlation.as_deref(),
        sender,
        side.as_str(),
        &payload_text,
        status,
        &body,
        now,
    )
    .await
    {
        Ok(_) => {}
        // Another request stored the same message id first: answer as it was answered.
        Err(DomainError::Conflict(_)) => {
            drop(tx);
            let mut tx = db.begin().await?;
            if let Some(seen) = find_inbound(&mut tx, &message_id).await? {
                return Ok(stored_answer(&seen.status, seen.result.as_deref()));
            }
            return Err(DomainError::Internal("duplicate message vanished".into()));
        }
        Err(e) => return Err(e),
    }
    tx.commit().await?;
    tracing::info!(flow = flow.as_str(), message = %message_id, status, "message received");
    Ok(InboundAnswer {
        accepted,
        status: if accepted { 200 } else { 422 },
        body,
        duplicate: false,
    })
}

fn stored_answer(status: &str, result: Option<&str>) -> InboundAnswer {
    let body = result
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(Value::Null);
    let accepted = status == "processed";
    InboundAnswer {
        accepted,
        status: if accepted { 200 } else { 422 },
        body,
        duplicate: true,
    }
}

/// A handler's failure: the message's fault, or ours.
#[derive(Debug)]
pub enum HandlerError {
    Rejected(Rejection),
    Fault(DomainError),
}

impl From<DomainError> for HandlerError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(m) | DomainError::NotFound(m) | DomainError::Conflict(m) => {
                HandlerError::Rejected(Rejection::new(m))
            }
            other => HandlerError::Fault(other),
        }
    }
}

/// Receives several messages from one sender in one transaction — the in-process delivery
/// path, where per-message transactions cost more than the work. If any message is refused
/// or a repeat, or any handler fails, nothing of the batch is kept and each message is
/// received on its own instead, so the answers are exactly those `receive` would give.
pub async fn receive_batch(
    db: &Db,
    handlers: &Handlers,
    side: Side,
    sender: &str,
    msgs: &[MessageRow],
    cal: Calendar,
    now: DateTime<Utc>,
) -> Vec<Result<InboundAnswer, DomainError>> {
    match try_batch(db, handlers, side, sender, msgs, cal, now).await {
        Ok(Some(answers)) => answers.into_iter().map(Ok).collect(),
        Ok(None) | Err(_) => {
            let mut out = Vec::with_capacity(msgs.len());
            for m in msgs {
                let body = crate::integration::peer::envelope(m).to_string();
                out.push(receive(db, handlers, side, sender, body.as_bytes(), cal, now).await);
            }
            out
        }
    }
}

/// The all-accepted fast path; `None` when the batch needs the one-by-one path.
async fn try_batch(
    db: &Db,
    handlers: &Handlers,
    side: Side,
    sender: &str,
    msgs: &[MessageRow],
    cal: Calendar,
    now: DateTime<Utc>,
) -> Result<Option<Vec<InboundAnswer>>, DomainError> {
    if msgs.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let mut tx = db.begin().await?;
    let ids: Vec<String> = msgs.iter().map(|m| m.message_id.clone()).collect();
    if crate::integration::message::any_inbound(&mut tx, &ids).await? {
        return Ok(None);
    }
    let maps = crate::integration::value_maps::ValueMaps::load(&mut tx).await?;
    let ctx = HandlerCtx { cal, now };
    // Consecutive messages of one flow are handled together (set-based where the flow's
    // handler can be); the order of the messages is kept.
    let mut acks = Vec::with_capacity(msgs.len());
    for run in msgs.chunk_by(|a, b| a.flow == b.flow) {
        let Some(flow) = Flow::parse(&run[0].flow).filter(|f| recipient_of(*f) == side) else {
            return Ok(None);
        };
        let payloads: Vec<Value> = run
            .iter()
            .map(|m| serde_json::from_str(&m.payload).unwrap_or(Value::Null))
            .collect();
        match handlers
            .handle_all_with(&mut tx, flow, &payloads, &maps, &ctx)
            .await
        {
            Ok(run_acks) => acks.extend(run_acks),
            Err(_) => return Ok(None),
        }
    }
    let mut answers = Vec::with_capacity(msgs.len());
    let mut rows = Vec::with_capacity(msgs.len());
    for (m, ack) in msgs.iter().zip(acks) {
        rows.push(vec![
            Arg::Text(m.message_id.clone()),
            Arg::Text("inbound".into()),
            Arg::Text(m.flow.clone()),
            Arg::OptText(m.correlation_id.clone()),
            Arg::Text(sender.to_string()),
            Arg::Text(side.as_str().into()),
            Arg::Text(m.payload.clone()),
            Arg::Text("processed".into()),
            Arg::Int(1),
            Arg::Int(1),
            Arg::Time(now),
            Arg::OptText(Some(ack.to_string())),
            Arg::Time(now),
            Arg::Time(now),
            Arg::OptTime(Some(now)),
        ]);
        answers.push(InboundAnswer {
            accepted: true,
            status: 200,
            body: ack,
            duplicate: false,
        });
    }
    insert_rows(
        &mut tx,
        "integration_messages",
        &[
            "message_id",
            "direction",
            "flow",
            "correlation_id",
            "sender",
            "recipient",
            "payload",
            "status",
            "attempts",
            "max_attempts",
            "next_attempt_at",
            "result",
            "created_at",
            "updated_at",
            "finished_at",
        ],
        &rows,
    )
    .await?;
    tx.commit().await?;
    Ok(Some(answers))
}
