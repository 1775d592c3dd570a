//! Subscription notifications: when a published event or a program changes, one message per
//! covering subscription entry is queued in the integration outbox (in the transaction of
//! the change), and [`WebhookPeer`] delivers it to the entry's `callbackUrl` — retried,
//! parked and shown in the integration monitor like every other message. The stored
//! message holds no bearer token: the peer reads it from the subscription when it calls.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::objects::{event_json, program_json, resource_names, resources_in};
use super::subscription::{check_callback, ObjectOperation, Operation};
use crate::db::openadr::{self as store, PUBLISHED_STATES};
use crate::db::openadr_subscription as subscriptions;
use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::integration::message::{
    enqueue, new_message_id, MessageRow, NewMessage, DEFAULT_MAX_ATTEMPTS,
};
use crate::integration::peer::{DeliveryError, Peer};

/// The recipient of notification messages (the delivery worker's webhook peer).
pub const RECIPIENT: &str = "openadr";
/// The flow notification messages are filed under in the integration monitor.
pub const FLOW: &str = "openadr_notification";

/// Queues a notification of `op` on `object` (of type `object_type`, in `program`, targeted
/// at the VEN `ven` or at nobody in particular) for every subscription entry that covers
/// it. A VEN's subscription hears only of objects it may read. Returns the messages queued.
#[allow(clippy::too_many_arguments)]
pub async fn notify(
    tx: &mut Tx,
    object_type: &str,
    program: Option<&str>,
    ven: Option<&str>,
    op: Operation,
    object: &Value,
    now: DateTime<Utc>,
) -> Result<usize, DomainError> {
    let mut queued = 0;
    for sub in subscriptions::candidates(tx, program).await? {
        if let (Some(mine), Some(target)) = (sub.ven_ref.as_deref(), ven) {
            if mine != target {
                continue;
            }
        }
        let entries: Vec<ObjectOperation> =
            serde_json::from_str(&sub.object_operations).unwrap_or_default();
        for (i, entry) in entries.iter().enumerate() {
            let (Some(word), Some(url)) = (entry.covers(object_type, op), &entry.callback_url)
            else {
                continue;
            };
            let message_id = new_message_id();
            let payload = json!({
                "subscriptionID": sub.subscription_id,
                "entry": i,
                "callbackUrl": url,
                "notification": {
                    "id": message_id,
                    "objectType": object_type,
                    "operation": word,
                    "object": object,
                },
            });
            enqueue(
                tx,
                &NewMessage {
                    message_id,
                    flow: FLOW.into(),
                    correlation_id: Some(sub.subscription_id.clone()),
                    sender: "grid".into(),
                    recipient: RECIPIENT.into(),
                    payload,
                    max_attempts: DEFAULT_MAX_ATTEMPTS,
                },
                now,
            )
            .await?;
            queued += 1;
        }
    }
    Ok(queued)
}

/// Queues the notification of `op` on the published OpenADR event `row` (with its
/// `resources`) to the subscriptions covering it.
async fn notify_event(
    tx: &mut Tx,
    row: &store::EventRow,
    resources: &[String],
    op: Operation,
    now: DateTime<Utc>,
) -> Result<usize, DomainError> {
    let object = event_json(row, resources);
    notify(
        tx,
        "EVENT",
        Some(&row.program_code),
        Some(&row.aggregator_ref),
        op,
        &object,
        now,
    )
    .await
}

/// Whether an event in `status` is published over OpenADR.
pub fn published(status: &str) -> bool {
    PUBLISHED_STATES.contains(&format!("'{status}'"))
}

/// Grid devices were registered again under another aggregator (flow 2) in `tx`: the
/// OpenADR events of every stage they are in are computed afresh, and each published one
/// that changed hands is notified — created (an aggregator's first device in the stage),
/// updated (its expected kW changed) or deleted (its last device left). Returns the
/// notifications queued.
pub async fn devices_moved(
    tx: &mut Tx,
    grid_device_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<usize, DomainError> {
    if grid_device_ids.is_empty() {
        return Ok(0);
    }
    let stages = store::stages_of_devices(tx, grid_device_ids).await?;
    let before = store::published_of_stages(tx, &stages).await?;
    store::refresh_stages(tx, &stages).await?;
    let after = store::published_of_stages(tx, &stages).await?;
    let key = |r: &store::EventRow| (r.stage_id, r.aggregator_ref.clone(), r.program_code.clone());
    let was: std::collections::HashMap<_, f64> =
        before.iter().map(|r| (key(r), r.expected_kw)).collect();
    let mut queued = 0;
    for row in &after {
        let op = match was.get(&key(row)) {
            None => Operation::Create,
            Some(kw) if (kw - row.expected_kw).abs() > 1e-9 => Operation::Update,
            Some(_) => continue,
        };
        let devices = store::published_in(tx, row.stage_id, &row.aggregator_ref, &row.program_code)
            .await?
            .map(|(_, d)| d)
            .unwrap_or_default();
        queued += notify_event(tx, row, &resource_names(&devices), op, now).await?;
    }
    let now_kept: std::collections::HashSet<_> = after.iter().map(key).collect();
    for row in before.iter().filter(|r| !now_kept.contains(&key(r))) {
        // Gone with the devices that moved away: shown as it was, without its resources.
        queued += notify_event(tx, row, &[], Operation::Delete, now).await?;
    }
    Ok(queued)
}

/// One published OpenADR event changed in `tx` while its GridFlex event stayed published (a
/// device of it opted out): it is updated, or deleted when none of its devices is left; its
/// subscribers hear of it. `before` and `after` are the event with its devices, read around
/// the change.
pub async fn published_event_changed(
    tx: &mut Tx,
    before: Option<(store::EventRow, Vec<store::EventDeviceRow>)>,
    after: Option<(store::EventRow, Vec<store::EventDeviceRow>)>,
    now: DateTime<Utc>,
) -> Result<usize, DomainError> {
    let (op, (row, devices)) = match (after, before) {
        (Some(now_is), _) => (Operation::Update, now_is),
        (None, Some(was)) => (Operation::Delete, was),
        (None, None) => return Ok(0),
    };
    notify_event(tx, &row, &resource_names(&devices), op, now).await
}

/// A GridFlex event moved from status `from` to `to` (in `tx`): its OpenADR events are
/// created (first published), updated (still published) or deleted (withdrawn), and every
/// subscription covering one hears of it.
pub async fn event_status_changed(
    tx: &mut Tx,
    event_id: i64,
    from: &str,
    to: &str,
    now: DateTime<Utc>,
) -> Result<usize, DomainError> {
    let op = match (published(from), published(to)) {
        (false, true) => Operation::Create,
        (true, true) => Operation::Update,
        (true, false) => Operation::Delete,
        (false, false) => return Ok(0),
    };
    // First published: its OpenADR events are computed now and kept from here on.
    if op == Operation::Create {
        store::refresh_event(tx, event_id).await?;
    }
    let (rows, devices) = store::event_publication(tx, event_id, op == Operation::Delete).await?;
    let mut queued = 0;
    for row in &rows {
        queued += notify_event(tx, row, &resources_in(row, &devices), op, now).await?;
    }
    Ok(queued)
}

/// The program `code` changed in `tx` (a rule of it linked, changed or unlinked by flow 9);
/// `was_published` says whether it was an OpenADR program before (had a linked rule). It
/// is created (its first linked rule), updated (still linked) or deleted (its last rule
/// unlinked), and every subscription covering it hears of it — programs target nobody, so
/// a VEN's subscriptions hear of them too.
pub async fn program_changed(
    tx: &mut Tx,
    code: &str,
    was_published: bool,
    now: DateTime<Utc>,
) -> Result<usize, DomainError> {
    let after = store::program_in(tx, code, true).await?;
    let (op, row) = match (was_published, after) {
        (false, Some(row)) => (Operation::Create, row),
        (true, Some(row)) => (Operation::Update, row),
        (true, None) => match store::program_in(tx, code, false).await? {
            Some(row) => (Operation::Delete, row),
            None => return Ok(0),
        },
        (false, None) => return Ok(0),
    };
    let object = program_json(&row);
    notify(tx, "PROGRAM", Some(code), None, op, &object, now).await
}

/// Delivers notifications: `POST callbackUrl` with the notification as the body and the
/// entry's bearer token, read from the subscription at the time of the call. A 2xx answer
/// is delivered; 400–499 but 408 and 429 is the receiver refusing it (not retried); no
/// answer, 408, 429 and 5xx are retried. A deleted subscription is not called. The callback
/// host is checked again before each call against the hosts allowed now (the configuration
/// may have changed since the subscription was accepted): one no longer allowed is not
/// called, and the message is parked naming the host and the setting.
pub struct WebhookPeer {
    db: Db,
    client: reqwest::Client,
    callback_hosts: Vec<String>,
}

impl WebhookPeer {
    /// `callback_hosts`: the hosts besides loopback that may be called back
    /// (`--openadr-callback-hosts`), as this process was configured.
    pub fn new(
        db: Db,
        timeout: Duration,
        callback_hosts: Vec<String>,
    ) -> Result<WebhookPeer, reqwest::Error> {
        Ok(WebhookPeer {
            db,
            client: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            callback_hosts,
        })
    }
}

#[async_trait]
impl Peer for WebhookPeer {
    async fn deliver(&self, msg: &MessageRow, _now: DateTime<Utc>) -> Result<Value, DeliveryError> {
        let payload: Value = serde_json::from_str(&msg.payload).unwrap_or(Value::Null);
        let (Some(sub), Some(entry), Some(url)) = (
            payload["subscriptionID"].as_str(),
            payload["entry"].as_u64(),
            payload["callbackUrl"].as_str(),
        ) else {
            return Err(DeliveryError::Business {
                error: "not a notification message".into(),
                ack: None,
            });
        };
        if let Err(why) = check_callback(url, &self.callback_hosts) {
            return Err(DeliveryError::Park(format!(
                "not sent to {url}: {why}; allow the host there and resubmit"
            )));
        }
        let stored = subscriptions::object_operations(&self.db, sub)
            .await
            .map_err(|e| DeliveryError::Technical(e.to_string()))?;
        let Some(stored) = stored else {
            return Err(DeliveryError::Business {
                error: format!("subscription {sub} was deleted; nobody to notify"),
                ack: None,
            });
        };
        let entries: Vec<ObjectOperation> = serde_json::from_str(&stored).unwrap_or_default();
        let token = entries
            .get(entry as usize)
            .filter(|e| e.callback_url.as_deref() == Some(url))
            .and_then(|e| e.bearer_token.clone());
        let mut req = self.client.post(url).json(&payload["notification"]);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let res = req
            .send()
            .await
            .map_err(|e| DeliveryError::Technical(format!("{url}: {}", e.without_url())))?;
        let status = res.status();
        if status.is_success() {
            Ok(json!({"status": status.as_u16()}))
        } else if status.is_client_error()
            && status != reqwest::StatusCode::REQUEST_TIMEOUT
            && status != reqwest::StatusCode::TOO_MANY_REQUESTS
        {
            Err(DeliveryError::Business {
                error: format!("{url} refused the notification ({status})"),
                ack: None,
            })
        } else {
            Err(DeliveryError::Technical(format!("{url} answered {status}")))
        }
    }
}
