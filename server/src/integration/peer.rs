//! The peers a message can be delivered to: the other side in this process, or a remote
//! system over HTTP. Both answer with the acknowledgement, or say whether a failure is the
//! message's fault (business) or the wire's (technical, retried).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::calendar::Calendar;
use crate::db::Db;
use crate::integration::handlers::Handlers;
use crate::integration::inbound::{self, Side};
use crate::integration::message::MessageRow;

#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryError {
    /// The peer refused the message itself; retrying the same message will not help.
    Business {
        error: String,
        ack: Option<serde_json::Value>,
    },
    /// The peer could not be reached or failed; try again later.
    Technical(String),
    /// The message may not be sent as things are configured (say, its destination is no
    /// longer allowed): parked at once, for an operator to resubmit once that is fixed.
    Park(String),
}

/// `now` is the sender's clock: a peer in this process handles the message at that time (so
/// both sides agree on "now", simulated or not); a remote peer keeps its own clock.
#[async_trait]
pub trait Peer: Send + Sync + 'static {
    async fn deliver(
        &self,
        msg: &MessageRow,
        now: DateTime<Utc>,
    ) -> Result<serde_json::Value, DeliveryError>;

    /// Delivers several messages; answers line up with `msgs`. One by one unless the peer
    /// can do better.
    async fn deliver_all(
        &self,
        msgs: &[MessageRow],
        now: DateTime<Utc>,
    ) -> Vec<Result<serde_json::Value, DeliveryError>> {
        let mut out = Vec::with_capacity(msgs.len());
        for m in msgs {
            out.push(self.deliver(m, now).await);
        }
        out
    }
}

/// Maps what the receiving side answered to a delivery result.
fn from_answer(
    answer: Result<inbound::InboundAnswer, crate::error::DomainError>,
) -> Result<serde_json::Value, DeliveryError> {
    match answer {
        Ok(a) if a.accepted => Ok(a.body),
        Ok(a) => Err(DeliveryError::Business {
            error: a.body["detail"].as_str().unwrap_or("refused").to_string(),
            ack: Some(a.body),
        }),
        Err(e) if e.is_client_error() => Err(DeliveryError::Business {
            error: e.to_string(),
            ack: None,
        }),
        Err(e) => Err(DeliveryError::Technical(e.to_string())),
    }
}

/// The JSON envelope a message travels in.
pub fn envelope(msg: &MessageRow) -> serde_json::Value {
    let payload: serde_json::Value =
        serde_json::from_str(&msg.payload).unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "messageId": msg.message_id,
        "flow": msg.flow,
        "correlationId": msg.correlation_id,
        "sentAt": msg.created_at,
        "payload": payload,
    })
}

/// The other side, running in this process against the same database.
pub struct InProcessPeer {
    pub db: Db,
    pub side: Side,
    /// The utility's calendar, for handlers that read local dates (flow 11's `validFrom`).
    pub calendar: Calendar,
    /// Each side's inbound handlers, composed once at startup.
    pub handlers: Arc<Handlers>,
}

#[async_trait]
impl Peer for InProcessPeer {
    async fn deliver(
        &self,
        msg: &MessageRow,
        now: DateTime<Utc>,
    ) -> Result<serde_json::Value, DeliveryError> {
        let body = envelope(msg).to_string();
        from_answer(
            inbound::receive(
                &self.db,
                &self.handlers,
                self.side,
                &msg.sender,
                body.as_bytes(),
                self.calendar,
                now,
            )
            .await,
        )
    }

    async fn deliver_all(
        &self,
        msgs: &[MessageRow],
        now: DateTime<Utc>,
    ) -> Vec<Result<serde_json::Value, DeliveryError>> {
        // One batch per sender; answers keep the order of `msgs`.
        let sender = msgs.first().map(|m| m.sender.clone()).unwrap_or_default();
        if msgs.iter().any(|m| m.sender != sender) {
            let mut out = Vec::with_capacity(msgs.len());
            for m in msgs {
                out.push(self.deliver(m, now).await);
            }
            return out;
        }
        inbound::receive_batch(
            &self.db,
            &self.handlers,
            self.side,
            &sender,
            msgs,
            self.calendar,
            now,
        )
        .await
        .into_iter()
        .map(from_answer)
        .collect()
    }
}

/// A remote system: `POST {base_url}/integration/{flow}` with a bearer token.
pub struct HttpPeer {
    client: reqwest::Client,
    base_url: String,
    token: String,
}

impl HttpPeer {
    pub fn new(base_url: &str, token: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(HttpPeer {
            client: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .build()?,
            base_url: base_url.trim_end_matches('/').to_string(),
            token: token.to_string(),
        })
    }
}

#[async_trait]
impl Peer for HttpPeer {
    async fn deliver(
        &self,
        msg: &MessageRow,
        _now: DateTime<Utc>,
    ) -> Result<serde_json::Value, DeliveryError> {
        let url = format!("{}/integration/{}", self.base_url, msg.flow);
        let res = self
            .client
            .post(&url)
            .bearer_auth(&self.token)
            .json(&envelope(msg))
            .send()
            .await
            .map_err(|e| DeliveryError::Technical(format!("{url}: {e}")))?;
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or(serde_json::Value::Null);
        if status.is_success() {
            Ok(body)
        } else if status.as_u16() == 422 || status.as_u16() == 400 || status.as_u16() == 409 {
            Err(DeliveryError::Business {
                error: body["detail"]
                    .as_str()
                    .unwrap_or("refused by the peer")
                    .to_string(),
                ack: Some(body),
            })
        } else {
            // 401/403 (credentials), 404 (wrong URL), 429 and 5xx: fix the wire, then retry.
            Err(DeliveryError::Technical(format!("{url} answered {status}")))
        }
    }
}

/// A remote program side that speaks the published contract
/// (`GRIDFLEX_PROGRAMS_DIALECT=published`): flows 1 and 4–6 go to the published paths with
/// the published bodies and their answers are read in the published error model — `SUCCESS`
/// delivered, `ERROR` a business error (the records' `responseCode`s kept, no retry),
/// `FAILURE` or no answer a technical fault (retried). Flow 1 is one enroll call per record,
/// as the published middleware sends it, and its answers are collected into GridFlex's own
/// flow 1 acknowledgement (see [`PublishedHttpPeer::deliver_enrollments`]). Flows without a
/// published path travel in GridFlex's own envelope.
pub struct PublishedHttpPeer {
    http: HttpPeer,
}

impl PublishedHttpPeer {
    pub fn new(base_url: &str, token: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(PublishedHttpPeer {
            http: HttpPeer::new(base_url, token, timeout)?,
        })
    }

    /// Posts `body` to `path`; the answer's status and JSON (`Null` when it is not JSON).
    async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(reqwest::StatusCode, serde_json::Value), DeliveryError> {
        let url = format!("{}{path}", self.http.base_url);
        let res = self
            .http
            .client
            .post(&url)
            .bearer_auth(&self.http.token)
            .json(body)
            .send()
            .await
            .map_err(|e| DeliveryError::Technical(format!("{url}: {e}")))?;
        let status = res.status();
        Ok((status, res.json().await.unwrap_or(serde_json::Value::Null)))
    }

    /// Flow 1: one published enroll call per record, in order. Each answer becomes the
    /// record's result — created, already there (`10589`), or refused with its errors
    /// (`ERROR`, not retried) — and the results together are the acknowledgement the grid
    /// side records, in the shape GridFlex's own envelope answers. A technical fault on any
    /// call (`FAILURE`, a 5xx, no answer) fails the whole message, to be retried: the records
    /// keep their transaction ids, so the ones already sent are answered as before.
    async fn deliver_enrollments(
        &self,
        msg: &MessageRow,
        payload: &serde_json::Value,
    ) -> Result<serde_json::Value, DeliveryError> {
        use crate::integration::wire::published::{
            enrollment_result, published_enrollments, rejected_result, ENROLL_PATH,
        };
        let mut results = Vec::new();
        for (record_id, document) in published_enrollments(&msg.message_id, payload) {
            let document = match document {
                Ok(d) => d,
                Err(error) => {
                    results.push(rejected_result(&record_id, vec![error]));
                    continue;
                }
            };
            let (status, answer) = self.post(ENROLL_PATH, &document).await?;
            let result = if status.is_server_error() {
                Err(format!("answered {status}"))
            } else {
                enrollment_result(&record_id, &answer)
            };
            match result {
                Ok(r) => results.push(r),
                Err(why) => {
                    return Err(DeliveryError::Technical(format!(
                        "{}{ENROLL_PATH} ({}): {why} ({status})",
                        self.http.base_url, document["transactionId"]
                    )))
                }
            }
        }
        Ok(serde_json::json!({
            "transactionId": payload["transactionId"],
            "results": results,
        }))
    }
}

#[async_trait]
impl Peer for PublishedHttpPeer {
    async fn deliver(
        &self,
        msg: &MessageRow,
        now: DateTime<Utc>,
    ) -> Result<serde_json::Value, DeliveryError> {
        let payload: serde_json::Value =
            serde_json::from_str(&msg.payload).unwrap_or(serde_json::Value::Null);
        if msg.flow == "enrollment_request" {
            return self.deliver_enrollments(msg, &payload).await;
        }
        let Some((path, body)) = crate::integration::wire::published::published_request(
            &msg.flow,
            &msg.message_id,
            &payload,
        ) else {
            return self.http.deliver(msg, now).await;
        };
        let url = format!("{}{path}", self.http.base_url);
        let (status, answer) = self.post(path, &body).await?;
        match answer["ackType"].as_str() {
            Some("SUCCESS") if status.is_success() => Ok(answer),
            Some("ERROR") => {
                let refused: Vec<String> = answer["collection"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|i| i["responseCode"] != "SUCCESS")
                    .map(|i| {
                        format!(
                            "{}: {}",
                            i["id"].as_str().unwrap_or("record"),
                            i["message"].as_str().unwrap_or("refused")
                        )
                    })
                    .collect();
                Err(DeliveryError::Business {
                    error: refused.join("; "),
                    ack: Some(answer),
                })
            }
            _ => Err(DeliveryError::Technical(format!(
                "{url} answered {status} ({})",
                answer["ackType"].as_str().unwrap_or("no acknowledgement")
            ))),
        }
    }
}

/// The recipient of messages for the grid instance `name` (division routing).
pub fn grid_instance(name: &str) -> String {
    format!("{GRID_INSTANCE_PREFIX}{name}")
}

const GRID_INSTANCE_PREFIX: &str = "grid:";

/// Where each recipient's messages go: the program side, the grid side, and the named grid
/// instances that serve divisions (recipient `grid:{name}`, see [`grid_instance`]).
#[derive(Clone)]
pub struct Peers {
    pub programs: Arc<dyn Peer>,
    pub grid: Arc<dyn Peer>,
    pub grid_instances: std::collections::HashMap<String, Arc<dyn Peer>>,
}

impl Peers {
    /// Both sides in this process, receiving through `handlers` (see `startup::inbound_handlers`).
    pub fn in_process(db: &Db, calendar: Calendar, handlers: Arc<Handlers>) -> Peers {
        Peers {
            programs: Arc::new(InProcessPeer {
                db: db.clone(),
                side: Side::Programs,
                calendar,
                handlers: handlers.clone(),
            }),
            grid: Arc::new(InProcessPeer {
                db: db.clone(),
                side: Side::Grid,
                calendar,
                handlers,
            }),
            grid_instances: Default::default(),
        }
    }

    /// Both sides as given, no grid instance.
    pub fn new(programs: Arc<dyn Peer>, grid: Arc<dyn Peer>) -> Peers {
        Peers {
            programs,
            grid,
            grid_instances: Default::default(),
        }
    }

    /// Adds (or replaces) the grid instance `name`.
    pub fn with_grid_instance(mut self, name: &str, peer: Arc<dyn Peer>) -> Peers {
        self.grid_instances.insert(name.to_owned(), peer);
        self
    }

    pub fn for_recipient(&self, recipient: &str) -> Option<&Arc<dyn Peer>> {
        match recipient {
            "programs" => Some(&self.programs),
            "grid" => Some(&self.grid),
            other => other
                .strip_prefix(GRID_INSTANCE_PREFIX)
                .and_then(|name| self.grid_instances.get(name)),
        }
    }
}
