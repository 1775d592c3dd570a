//! The daily control-score run ("control cost"; lower is cheaper, the planner prefers it).
//!
//! score = activation cost × score factor × (1 + burn-rate factor × share of the cycle's
//! event minutes already used) ÷ nominal kW — the per-kW cost of calling on the device again.
//! The used share comes from the device outcomes the grid side reports after each event (flow 6).
//! Scores are written set-based (one statement per program), audited as one settings change,
//! and sent to the grid side (flow 12) in batches, all in one transaction.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use crate::db::audit::{append, NewAuditEntry};
use crate::db::program::{list_programs, list_rules, rule_in_force};
use crate::db::{settings, Db};
use crate::error::DomainError;
use crate::integration::message::{enqueue, new_message_id, NewMessage};
use crate::integration::wire::{DeviceScore, DeviceScoreBatch, Outbound};
use crate::programs::enrollment::DEFAULT_MAX_ATTEMPTS;
use crate::with_tx;

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

/// The first day of the rule cycle (`weekly` from `week_start`, 0 = Sunday; or `monthly`)
/// that contains `day`.
pub fn cycle_start(cycle: &str, week_start: i32, day: NaiveDate) -> NaiveDate {
    use chrono::Datelike;
    if cycle == "weekly" {
        let back = (day.weekday().num_days_from_sunday() as i64 - week_start as i64).rem_euclid(7);
        day - chrono::Duration::days(back)
    } else {
        day.with_day(1).unwrap_or(day)
    }
}

/// Runs the calculation for `day`. With `only_once`, a day already scored is skipped (the
/// schedule in every server process calls it; the first one wins).
pub async fn run_scores(
    db: &Db,
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
    let last: Option<String> = with_tx!(&mut tx, |c| sqlx::query_scalar(
        "SELECT value FROM settings WHERE key = $1"
    )
    .bind(LAST_RUN_KEY)
    .fetch_optional(c)
    .await?);
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
        let base = r.activation_cost * r.score_factor;
        // The share of the cycle's allowed event minutes each device has used, from the
        // outcomes the grid side reported (participated, or overridden part-way).
        let dialect = tx.dialect();
        let minutes = dialect.minutes_between("r.participation_start", "r.participation_end");
        let used = format!(
            "COALESCE((
                SELECT SUM({minutes}) FROM program_event_devices r JOIN program_events pe ON pe.external_id = r.external_id
                WHERE r.head_end = devices.head_end AND r.nic_id = devices.nic_id AND pe.program_code = $5
                  AND r.outcome IN ('D1SP', 'D1IO') AND r.participation_start >= $6), 0) / $7"
        );
        let share = dialect.least("1.0", &used);
        let sql = format!(
            "UPDATE devices SET control_score = ROUND(CAST($1 * (1 + $4 * {share}) / nominal_kw AS NUMERIC), 3),
                updated_at = $2
             WHERE nominal_kw > 0 AND id IN (
                SELECT ed.device_id FROM enrollment_devices ed JOIN enrollments e ON e.id = ed.enrollment_id
                WHERE e.program_id = $3 AND e.status = 'ACTIVE' AND ed.left_at IS NULL)"
        );
        let since = cycle_start(&r.cycle, r.week_start, day)
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or(now);
        let n = with_tx!(&mut tx, |c| {
            sqlx::query(&sql)
                .bind(base)
                .bind(now)
                .bind(program_id)
                .bind(r.burn_rate_factor)
                .bind(code)
                .bind(since)
                .bind(f64::from(r.max_minutes_per_cycle.max(1)))
                .execute(c)
                .await?
                .rows_affected()
        }) as usize;
        scored += n;
        per_program.insert(code.clone(), json!(n));
        // Tell the grid side, in batches.
        let rows: Vec<(String, String, f64)> = with_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT d.head_end, d.nic_id, d.control_score FROM devices d
             JOIN enrollment_devices ed ON ed.device_id = d.id AND ed.left_at IS NULL
             JOIN enrollments e ON e.id = ed.enrollment_id
             WHERE e.program_id = $1 AND e.status = 'ACTIVE' AND d.nominal_kw > 0 ORDER BY d.id"
        )
        .bind(program_id)
        .fetch_all(c)
        .await?);
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
