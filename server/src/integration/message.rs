//! Stored integration messages (outbox and inbox), their attempts, and the queries the
//! delivery worker and the integration monitor run.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::db::dialect::{list, Column, Elem};
use crate::db::{Arg, Db, Filter, Tx};
use crate::error::DomainError;
use crate::{bind_args, with_db, with_tx};

/// Tries before a message is parked: the retry policy every sender on either side writes into
/// its messages (the delivery worker's backoff spaces the tries out).
pub const DEFAULT_MAX_ATTEMPTS: i32 = 8;

pub const OUTBOUND: &str = "outbound";
pub const INBOUND: &str = "inbound";

/// A message to send, written in the same transaction as the change that causes it.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub message_id: String,
    pub flow: String,
    pub correlation_id: Option<String>,
    pub sender: String,
    pub recipient: String,
    pub payload: serde_json::Value,
    pub max_attempts: i32,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct MessageRow {
    pub id: i64,
    pub message_id: String,
    pub direction: String,
    pub flow: String,
    pub correlation_id: Option<String>,
    pub sender: String,
    pub recipient: String,
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub result: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, message_id, direction, flow, correlation_id, sender, recipient, payload, status, attempts, max_attempts, next_attempt_at, last_error, result, created_at, finished_at";

pub fn new_message_id() -> String {
    use rand::Rng;
    let b: [u8; 16] = rand::thread_rng().gen();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub async fn enqueue(tx: &mut Tx, m: &NewMessage, now: DateTime<Utc>) -> Result<i64, DomainError> {
    let payload = m.payload.to_string();
    Ok(with_tx!(tx, |c| {
        sqlx::query_scalar(
        "INSERT INTO integration_messages (message_id, direction, flow, correlation_id, sender, recipient, payload,
            status, attempts, max_attempts, next_attempt_at, created_at, updated_at)
         VALUES ($1, 'outbound', $2, $3, $4, $5, $6, 'queued', 0, $7, $8, $8, $8) RETURNING id"
    )
    .bind(&m.message_id)
    .bind(&m.flow)
    .bind(&m.correlation_id)
    .bind(&m.sender)
    .bind(&m.recipient)
    .bind(&payload)
    .bind(m.max_attempts)
    .bind(now)
    .fetch_one(c)
    .await?
    }))
}

/// Claims up to `limit` due outbound messages for `lease`: queued ones and retries whose
/// time has come, and deliveries whose lease ran out (a worker died mid-way). On PostgreSQL
/// rows locked by another process are skipped, so any number of workers cooperate.
pub async fn claim_due(
    db: &Db,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<MessageRow>, DomainError> {
    let pick = "SELECT id FROM integration_messages
        WHERE direction = 'outbound'
          AND ((status IN ('queued', 'technical_failure') AND next_attempt_at <= $1)
               OR (status = 'delivering' AND claimed_until < $1))
        ORDER BY next_attempt_at, id LIMIT $3";
    let sql = format!(
        "UPDATE integration_messages SET status = 'delivering', claimed_until = $2, attempts = attempts + 1, updated_at = $1
         WHERE id IN ({pick}{}) RETURNING {COLUMNS}",
        db.dialect().skip_locked()
    );
    let mut rows: Vec<MessageRow> = with_db!(db, |pool| sqlx::query_as::<_, MessageRow>(&sql)
        .bind(now)
        .bind(lease_until)
        .bind(limit)
        .fetch_all(pool)
        .await?);
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    Delivered {
        ack: serde_json::Value,
    },
    Business {
        error: String,
        ack: Option<serde_json::Value>,
    },
    /// Retry at `retry_at`, or park when `retry_at` is `None`.
    Technical {
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
}

/// Records many attempts: every message moved on in one set-based update, the attempts in
/// one multi-row insert.
pub async fn finish_attempts(
    tx: &mut Tx,
    attempts: &[(MessageRow, DateTime<Utc>, DateTime<Utc>, AttemptOutcome)],
) -> Result<(), DomainError> {
    let n = attempts.len();
    let mut rows = Vec::with_capacity(n);
    let (mut ids, mut statuses, mut errors, mut results) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut nexts, mut dones, mut updated) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (msg, started, finished, outcome) in attempts {
        let (status, error, result, next, done) = settle(outcome, *finished);
        rows.push(vec![
            Arg::Int(msg.id),
            Arg::Int(msg.attempts as i64),
            Arg::Time(*started),
            Arg::Int((*finished - *started).num_milliseconds().max(0)),
            Arg::Text(attempt_outcome(outcome).into()),
            Arg::OptText(error.clone()),
        ]);
        ids.push(msg.id);
        statuses.push(status.to_string());
        errors.push(error);
        // A failure without an answer keeps the result stored before.
        results.push(result.or_else(|| msg.result.clone()));
        nexts.push(next);
        dones.push(done);
        updated.push(*finished);
    }
    crate::db::dialect::update_columns(
        tx,
        "integration_messages",
        &[
            ("id", Column::Int(&ids)),
            ("status", Column::Text(&statuses)),
            ("last_error", Column::OptText(&errors)),
            ("result", Column::OptText(&results)),
            ("next_attempt_at", Column::Time(&nexts)),
            ("finished_at", Column::OptTime(&dones)),
            ("updated_at", Column::Time(&updated)),
        ],
        n,
        "claimed_until = NULL",
    )
    .await?;
    crate::db::insert_rows(
        tx,
        "integration_attempts",
        &[
            "message_pk",
            "attempt",
            "started_at",
            "latency_ms",
            "outcome",
            "error",
        ],
        &rows,
    )
    .await
}

type Settled = (
    &'static str,
    Option<String>,
    Option<String>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

/// (status, error, result, next attempt, finished) after an attempt.
fn settle(outcome: &AttemptOutcome, now: DateTime<Utc>) -> Settled {
    match outcome {
        AttemptOutcome::Delivered { ack } => {
            ("delivered", None, Some(ack.to_string()), now, Some(now))
        }
        AttemptOutcome::Business { error, ack } => (
            "business_error",
            Some(error.clone()),
            ack.as_ref().map(|a| a.to_string()),
            now,
            Some(now),
        ),
        AttemptOutcome::Technical {
            error,
            retry_at: Some(at),
        } => ("technical_failure", Some(error.clone()), None, *at, None),
        AttemptOutcome::Technical {
            error,
            retry_at: None,
        } => ("parked", Some(error.clone()), None, now, Some(now)),
    }
}

fn attempt_outcome(outcome: &AttemptOutcome) -> &'static str {
    match outcome {
        AttemptOutcome::Delivered { .. } => "delivered",
        AttemptOutcome::Business { .. } => "business_error",
        AttemptOutcome::Technical { .. } => "technical_failure",
    }
}

/// Puts a parked (or business-failed) message back in the queue for a fresh set of tries.
pub async fn resubmit(tx: &mut Tx, id: i64, now: DateTime<Utc>) -> Result<MessageRow, DomainError> {
    let sql = format!("SELECT {COLUMNS} FROM integration_messages WHERE id = $1");
    let row: MessageRow = with_tx!(tx, |c| sqlx::query_as::<_, MessageRow>(&sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await?)
    .ok_or_else(|| DomainError::not_found(format!("message {id}")))?;
    if row.direction != OUTBOUND || !matches!(row.status.as_str(), "parked" | "business_error") {
        return Err(DomainError::Conflict(format!(
            "only a parked or failed outbound message can be resubmitted; this one is {}",
            row.status
        )));
    }
    with_tx!(tx, |c| {
        sqlx::query(
        "UPDATE integration_messages SET status = 'queued', attempts = 0, next_attempt_at = $1, finished_at = NULL, updated_at = $1 WHERE id = $2"
    )
    .bind(now)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected()
    });
    Ok(row)
}

pub async fn get_message(db: &Db, id: i64) -> Result<Option<MessageRow>, DomainError> {
    let sql = format!("SELECT {COLUMNS} FROM integration_messages WHERE id = $1");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, MessageRow>(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await?))
}

/// Whether any of `ids` was received before.
pub async fn any_inbound(tx: &mut Tx, ids: &[String]) -> Result<bool, DomainError> {
    let sql = format!(
        "SELECT COUNT(*) FROM integration_messages WHERE direction = 'inbound' AND message_id IN ({})",
        tx.dialect().in_list(1, Elem::Text)
    );
    for chunk in ids.chunks(500) {
        let chunk = list(chunk)?;
        let n: i64 = with_tx!(tx, |c| sqlx::query_scalar::<_, i64>(&sql)
            .bind(&chunk)
            .fetch_one(c)
            .await?);
        if n > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

pub async fn find_inbound(
    tx: &mut Tx,
    message_id: &str,
) -> Result<Option<MessageRow>, DomainError> {
    let sql = format!("SELECT {COLUMNS} FROM integration_messages WHERE direction = 'inbound' AND message_id = $1");
    Ok(with_tx!(tx, |c| sqlx::query_as::<_, MessageRow>(&sql)
        .bind(message_id)
        .fetch_optional(c)
        .await?))
}

/// Stores a received message with the answer given, so a repeat gets the same answer.
#[allow(clippy::too_many_arguments)]
pub async fn record_inbound(
    tx: &mut Tx,
    message_id: &str,
    flow: &str,
    correlation_id: Option<&str>,
    sender: &str,
    recipient: &str,
    payload: &str,
    status: &str,
    result: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<i64, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_scalar(
        "INSERT INTO integration_messages (message_id, direction, flow, correlation_id, sender, recipient, payload,
            status, attempts, max_attempts, next_attempt_at, result, created_at, updated_at, finished_at)
         VALUES ($1, 'inbound', $2, $3, $4, $5, $6, $7, 1, 1, $8, $9, $8, $8, $8) RETURNING id"
    )
    .bind(message_id)
    .bind(flow)
    .bind(correlation_id)
    .bind(sender)
    .bind(recipient)
    .bind(payload)
    .bind(status)
    .bind(now)
    .bind(result.to_string())
    .fetch_one(c)
    .await?
    }))
}

/// The newest outbound message of `flow` with `correlation`: (status, result, updated).
pub async fn last_answer(
    db: &Db,
    flow: &str,
    correlation: &str,
) -> Result<Option<(String, Option<String>, DateTime<Utc>)>, DomainError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as(
        "SELECT status, result, updated_at FROM integration_messages
         WHERE direction = 'outbound' AND flow = $1 AND correlation_id = $2 ORDER BY id DESC LIMIT 1"
    )
    .bind(flow)
    .bind(correlation)
    .fetch_optional(pool)
    .await?
    }))
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct AttemptRow {
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub latency_ms: i64,
    pub outcome: String,
    pub error: Option<String>,
}

pub async fn attempts_of(db: &Db, message_pk: i64) -> Result<Vec<AttemptRow>, DomainError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, AttemptRow>(
        "SELECT attempt, started_at, latency_ms, outcome, error FROM integration_attempts WHERE message_pk = $1 ORDER BY id"
    )
    .bind(message_pk)
    .fetch_all(pool)
    .await?
    }))
}

/// Filters of the integration monitor (all in the URL).
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub flow: Option<String>,
    pub status: Option<String>,
    pub direction: Option<String>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

pub async fn list_messages(db: &Db, f: &MessageFilter) -> Result<Vec<MessageRow>, DomainError> {
    let mut filter = Filter::default();
    if let Some(v) = &f.flow {
        filter.add("flow = ?", [Arg::Text(v.clone())]);
    }
    if let Some(v) = &f.status {
        filter.add("status = ?", [Arg::Text(v.clone())]);
    }
    if let Some(v) = &f.direction {
        filter.add("direction = ?", [Arg::Text(v.clone())]);
    }
    if let Some(v) = f.before_id {
        filter.add("id < ?", [Arg::Int(v)]);
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM integration_messages{} ORDER BY id DESC LIMIT {}",
        filter.sql(),
        f.limit.clamp(1, 500)
    );
    Ok(with_db!(db, |pool| bind_args!(
        sqlx::query_as::<_, MessageRow>(&sql),
        &filter.args
    )
    .fetch_all(pool)
    .await?))
}

/// (flow, direction, status, count)
pub async fn counts(db: &Db) -> Result<Vec<(String, String, String, i64)>, DomainError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as(
        "SELECT flow, direction, status, COUNT(*) FROM integration_messages GROUP BY flow, direction, status ORDER BY flow, direction, status"
    )
    .fetch_all(pool)
    .await?
    }))
}

/// Latencies (ms) of the most recent successful deliveries, for percentiles.
pub async fn recent_latencies(db: &Db, limit: i64) -> Result<Vec<i64>, DomainError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_scalar(
        "SELECT latency_ms FROM integration_attempts WHERE outcome = 'delivered' ORDER BY id DESC LIMIT $1"
    )
    .bind(limit)
    .fetch_all(pool)
    .await?
    }))
}

/// The p-th percentile (0..=100) of `values` (nearest rank).
pub fn percentile(values: &[i64], p: f64) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v.get(rank.min(v.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 95.0), Some(95));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7], 99.0), Some(7));
    }

    #[test]
    fn message_ids_are_uuid_shaped_and_distinct() {
        let a = new_message_id();
        assert_eq!(a.len(), 36);
        assert_ne!(a, new_message_id());
    }
}
