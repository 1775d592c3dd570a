//! The delivery worker: `tick()` claims due outbound messages, delivers each through its
//! peer, and records the attempt — delivered, a business error, or a technical failure
//! retried with exponential backoff and jitter until it is parked.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::clock::Clock;
use crate::db::Db;
use crate::error::DomainError;
use crate::integration::ack;
use crate::integration::message::{self, AttemptOutcome, MessageRow};
use crate::integration::peer::{DeliveryError, Peer, Peers};

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max_delay: Duration,
    /// ± this fraction of the delay, at random, so retries of many messages spread out.
    pub jitter: f64,
    /// How long a claimed message stays claimed before another worker may take it.
    pub lease: Duration,
    pub batch: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::seconds(2),
            max_delay: Duration::minutes(10),
            jitter: 0.2,
            lease: Duration::seconds(60),
            batch: 200,
        }
    }
}

/// The delay before attempt `attempt + 1`, given `attempt` failed (attempts count from 1).
pub fn backoff(policy: &RetryPolicy, attempt: i32, unit_random: f64) -> Duration {
    let exp = (attempt.max(1) - 1).min(20) as u32;
    let raw = policy
        .base
        .num_milliseconds()
        .saturating_mul(1i64 << exp.min(30));
    let capped = raw.min(policy.max_delay.num_milliseconds()) as f64;
    let jittered = capped * (1.0 + policy.jitter * (2.0 * unit_random - 1.0));
    Duration::milliseconds(jittered.max(0.0) as i64)
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    pub claimed: usize,
    pub delivered: usize,
    pub business_errors: usize,
    pub retries: usize,
    pub parked: usize,
}

pub struct DeliveryWorker {
    db: Db,
    peers: Peers,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
    rng: Mutex<StdRng>,
    /// Recipients beyond the two sides (OpenADR webhooks), added with [`Self::with_peer`].
    extra: Vec<(String, Arc<dyn Peer>)>,
}

impl DeliveryWorker {
    pub fn new(
        db: Db,
        peers: Peers,
        clock: Arc<dyn Clock>,
        policy: RetryPolicy,
        seed: u64,
    ) -> Self {
        DeliveryWorker {
            db,
            peers,
            clock,
            policy,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            extra: Vec::new(),
        }
    }

    /// Also delivers the messages addressed to `recipient`, through `peer`.
    pub fn with_peer(mut self, recipient: &str, peer: Arc<dyn Peer>) -> Self {
        self.extra.push((recipient.to_string(), peer));
        self
    }

    fn peer_for(&self, recipient: &str) -> Option<&Arc<dyn Peer>> {
        self.peers.for_recipient(recipient).or_else(|| {
            self.extra
                .iter()
                .find(|(r, _)| r == recipient)
                .map(|(_, p)| p)
        })
    }

    fn unit_random(&self) -> f64 {
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .gen::<f64>()
    }

    /// One step: claims a batch of due messages, delivers them (a peer may take them all at
    /// once), and records every attempt in one transaction.
    pub async fn tick(&self) -> Result<TickReport, DomainError> {
        let now = self.clock.now();
        let claimed =
            message::claim_due(&self.db, now, now + self.policy.lease, self.policy.batch).await?;
        let mut report = TickReport {
            claimed: claimed.len(),
            ..Default::default()
        };
        if claimed.is_empty() {
            return Ok(report);
        }
        // Group by recipient, keeping the claim order within each group.
        let mut groups: Vec<(String, Vec<MessageRow>)> = Vec::new();
        for m in claimed {
            match groups.iter_mut().find(|(r, _)| *r == m.recipient) {
                Some((_, g)) => g.push(m),
                None => groups.push((m.recipient.clone(), vec![m])),
            }
        }
        let mut attempts = Vec::new();
        for (recipient, msgs) in groups {
            let started = self.clock.now();
            let results = match self.peer_for(&recipient) {
                Some(peer) => peer.deliver_all(&msgs, started).await,
                None => msgs
                    .iter()
                    .map(|_| {
                        Err(DeliveryError::Business {
                            error: format!("no peer is configured for `{recipient}`"),
                            ack: None,
                        })
                    })
                    .collect(),
            };
            let finished: DateTime<Utc> = self.clock.now();
            for (msg, result) in msgs.into_iter().zip(results) {
                let outcome = match result {
                    Ok(ack) => AttemptOutcome::Delivered { ack },
                    Err(DeliveryError::Business { error, ack }) => {
                        AttemptOutcome::Business { error, ack }
                    }
                    Err(DeliveryError::Technical(error)) => {
                        let retry_at = (msg.attempts < msg.max_attempts).then(|| {
                            finished + backoff(&self.policy, msg.attempts, self.unit_random())
                        });
                        AttemptOutcome::Technical { error, retry_at }
                    }
                    Err(DeliveryError::Park(error)) => AttemptOutcome::Technical {
                        error,
                        retry_at: None,
                    },
                };
                match &outcome {
                    AttemptOutcome::Delivered { .. } => report.delivered += 1,
                    AttemptOutcome::Business { .. } => report.business_errors += 1,
                    AttemptOutcome::Technical {
                        retry_at: Some(_), ..
                    } => report.retries += 1,
                    AttemptOutcome::Technical { retry_at: None, .. } => report.parked += 1,
                }
                attempts.push((msg, started, finished, outcome));
            }
        }
        // The sender acts on each acknowledgement in the transaction that marks it delivered.
        let mut tx = self.db.begin().await?;
        message::finish_attempts(&mut tx, &attempts).await?;
        let acks: Vec<(&MessageRow, &serde_json::Value)> = attempts
            .iter()
            .filter_map(|(msg, _, _, outcome)| match outcome {
                AttemptOutcome::Delivered { ack } => Some((msg, ack)),
                _ => None,
            })
            .collect();
        let finished = attempts.last().map(|(_, _, f, _)| *f).unwrap_or(now);
        ack::apply_all(&mut tx, &acks, finished).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// Runs `tick()` until `stop` fires, sleeping only when there was nothing to do.
    pub async fn run(
        self: Arc<Self>,
        idle: StdDuration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let report = match self.tick().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "delivery tick failed");
                    TickReport::default()
                }
            };
            if report.claimed == 0 {
                tokio::select! {
                    _ = tokio::time::sleep(idle) => {},
                    _ = stop.changed() => {},
                }
            }
            if *stop.borrow() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            jitter: 0.0,
            ..Default::default()
        };
        assert_eq!(backoff(&p, 1, 0.5), Duration::seconds(2));
        assert_eq!(backoff(&p, 2, 0.5), Duration::seconds(4));
        assert_eq!(backoff(&p, 5, 0.5), Duration::seconds(32));
        assert_eq!(backoff(&p, 40, 0.5), Duration::minutes(10));
    }

    #[test]
    fn jitter_stays_within_its_band() {
        let p = RetryPolicy::default();
        let low = backoff(&p, 3, 0.0).num_milliseconds();
        let high = backoff(&p, 3, 1.0).num_milliseconds();
        assert_eq!(low, 6_400);
        assert_eq!(high, 9_600);
    }
}
