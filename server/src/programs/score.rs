//! The daily control-score run ("control cost"; lower is cheaper, the planner prefers it).
//!
//! score = activation cost × score factor × (1 + burn-rate factor × share of the cycle's
//! event minutes already used) ÷ nominal kW — the per-kW cost of calling on the device again.
//! The used share comes from the device outcomes the grid side reports after each event (flow 6).
//! Scores are written set-based (one statement per program), audited as one settings change,
//! and sent to the grid side (flow 12) in batches, all in one transaction.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use crate::calendar::Calendar;
use crate::db::audit::{append, NewAuditEntry};
use crate::db::program::{list_programs, list_rules, rule_in_force};
use crate::db::score::{program_scores, update_scores, ScoreRule};
use crate::db::{settings, Db};
use crate::error::DomainError;
use crate::integration::message::{enqueue, new_message_id, NewMessage, DEFAULT_MAX_ATTEMPTS};
use crate::integration::wire::{DeviceScore, DeviceScoreBatch, Outbound};

/// Scores per flow-12 message.
pub const SCORES_PER_MESSAGE: usize = 5_000;
const LAST_RUN_KEY: &str = "scores.last_run";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreRun {
    pub day: NaiveDate,
    pub devices: usize,
    pub messages: usize,
    /// False when the scheduled run found today's run done already.
    pub ran: bool,
}

/// Runs the calculation for the local date `day`. With `only_once`, a day already scored is
/// skipped (the schedule in every server process calls it; the first one wins).
pub async fn run_scores(
    db: &Db,
    cal: Calendar,
    actor: &str,
    day: NaiveDate,
    now: DateTime<Utc>,
    only_once: bool,
) -> Result<ScoreRun, DomainError> {
    let programs = list_programs(db).await?;
    let mut rules = Vec::new();
    for p in programs.iter().filter(|p| p.status == "active") {
        if let Some(r) = rule_in_force(&list_rules(db, p.id).await?, day).cloned() {
            rules.push((p.id, p.code.clone(), r));
        }
    }
    let mut tx = db.begin().await?;
    let last = settings::get_setting_tx(&mut tx, LAST_RUN_KEY).await?;
    if only_once && last.as_deref() == Some(day.to_string().as_str()) {
        return Ok(ScoreRun {
            day,
            devices: 0,
            messages: 0,
            ran: false,
        });
    }
    let mut scored = 0usize;
    let mut per_program = serde_json::Map::new();
    let mut messages = 0usize;
    for (program_id, code, r) in &rules {
        let since = cal.cycle_start(&r.cycle, r.week_start, day);
        let rule = ScoreRule {
            program_id: *program_id,
            program_code: code,
            base: r.activation_cost * r.score_factor,
            burn_rate_factor: r.burn_rate_factor,
            since,
            max_minutes_per_cycle: f64::from(r.max_minutes_per_cycle.max(1)),
        };
        let n = update_scores(&mut tx, &rule, now).await? as usize;
        scored += n;
        per_program.insert(code.clone(), json!(n));
        // Tell the grid side, in batches.
        let rows = program_scores(&mut tx, *program_id).await?;
        for (i, chunk) in rows.chunks(SCORES_PER_MESSAGE).enumerate() {
            let batch = DeviceScoreBatch {
                transaction_id: format!("SC-{day}-{code}-{i}"),
                scored_on: day,
                scores: chunk
                    .iter()
                    .map(|(head_end, nic_id, score)| DeviceScore {
                        head_end_system: head_end.clone(),
                        nic_id: nic_id.clone(),
                        program_code: code.clone(),
                        control_score: *score,
                    })
                    .collect(),
            };
            let msg = NewMessage {
                message_id: new_message_id(),
                flow: DeviceScoreBatch::FLOW.as_str().into(),
                correlation_id: Some(format!("scores-{day}")),
                sender: "programs".into(),
                recipient: "grid".into(),
                payload: batch.to_payload(),
                max_attempts: DEFAULT_MAX_ATTEMPTS,
            };
            enqueue(&mut tx, &msg, now).await?;
            messages += 1;
        }
    }
    let before = settings::put_setting(&mut tx, LAST_RUN_KEY, &day.to_string()).await?;
    append(
        &mut tx,
        NewAuditEntry::new(actor, "scores.run", "setting", LAST_RUN_KEY)
            .before(json!({"lastRun": before}))
            .after(json!({"lastRun": day, "devices": scored, "perProgram": per_program, "messages": messages})),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(%day, devices = scored, messages, "control scores computed");
    Ok(ScoreRun {
        day,
        devices: scored,
        messages,
        ran: true,
    })
}
