//! A program's status, changed by a program manager: draft → active, active ⇄ suspended, and
//! any of them → closed (final). Only an active program takes enrollments, has its control
//! scores run and is known to the grid side: the change links or unlinks every rule of the
//! program there (flow 9), so planning and OpenADR (where it is a program, and its
//! subscribers hear of it) follow. The status, its audit entry and the messages are written
//! in one transaction.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::db::audit::{append, NewAuditEntry};
use crate::db::program::{self as store, ProgramRuleRow};
use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::integration::wire::{ProgramRule, ProgramRuleSync, RuleAction, RuleCycle};
use crate::programs::rule::queue_rule_sync;

/// The statuses a program may take, as stored.
pub const STATUSES: [&str; 4] = ["draft", "active", "suspended", "closed"];

/// Whether a program may go from `from` to `to`.
pub fn allowed(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("draft", "active")
            | ("active", "suspended")
            | ("suspended", "active")
            | ("draft" | "active" | "suspended", "closed")
    )
}

/// The statuses a program in `from` may move to, in the order the console offers them.
pub fn next_statuses(from: &str) -> Vec<&'static str> {
    STATUSES
        .iter()
        .copied()
        .filter(|to| allowed(from, to))
        .collect()
}

/// What a status change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub code: String,
    pub from: String,
    pub to: String,
    /// Flow 9 messages queued (one per rule linked or unlinked on the grid side).
    pub messages: usize,
}

fn wire_rule(r: &ProgramRuleRow) -> Result<ProgramRule, DomainError> {
    let bad = |field: &str| {
        DomainError::Internal(format!(
            "program rule {} has a stored {field} out of range",
            r.id
        ))
    };
    let small = |v: i32, field: &str| u32::try_from(v).map_err(|_| bad(field));
    Ok(ProgramRule {
        effective_from: r.effective_from,
        cycle: RuleCycle::parse(&r.cycle).ok_or_else(|| bad("cycle"))?,
        week_start: u8::try_from(r.week_start).map_err(|_| bad("week start"))?,
        max_events_per_cycle: small(r.max_events_per_cycle, "events per cycle")?,
        max_minutes_per_cycle: small(r.max_minutes_per_cycle, "minutes per cycle")?,
        min_gap_minutes: small(r.min_gap_minutes, "minimum gap")?,
        min_event_minutes: small(r.min_event_minutes, "shortest event")?,
        max_event_minutes: small(r.max_event_minutes, "longest event")?,
        max_overrides: small(r.max_overrides, "overrides")?,
        window_start_minute: u16::try_from(r.window_start_minute)
            .map_err(|_| bad("window start"))?,
        window_end_minute: u16::try_from(r.window_end_minute).map_err(|_| bad("window end"))?,
        activation_cost: r.activation_cost,
        burn_rate_factor: r.burn_rate_factor,
        score_factor: r.score_factor,
        overridable: r.overridable,
    })
}

/// Queues one flow 9 message per rule of the program: `action` is LINK or UNLINK.
async fn sync_rules(
    tx: &mut Tx,
    program_id: i64,
    code: &str,
    action: RuleAction,
    now: DateTime<Utc>,
) -> Result<usize, DomainError> {
    let rules = store::rules_in(tx, program_id).await?;
    for r in &rules {
        let sync = ProgramRuleSync {
            transaction_id: format!(
                "STATUS-{code}-{}-{}",
                r.effective_from,
                now.timestamp_millis()
            ),
            action,
            program_code: code.to_string(),
            rule: wire_rule(r)?,
        };
        queue_rule_sync(tx, program_id, &sync, now).await?;
    }
    Ok(rules.len())
}

/// Moves program `program_id` to status `to`, with the reason given (required when the
/// program stops taking part: suspended or closed).
pub async fn set_status(
    db: &Db,
    actor: &str,
    program_id: i64,
    to: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<StatusChange, DomainError> {
    let to = to.trim();
    if !STATUSES.contains(&to) {
        return Err(DomainError::invalid(format!(
            "status: `{to}` is not a program status ({})",
            STATUSES.join(", ")
        )));
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > 500) {
        return Err(DomainError::invalid("reason: at most 500 characters"));
    }
    if to != "active" && reason.is_none() {
        return Err(DomainError::invalid(format!(
            "reason: say why the program is {to}"
        )));
    }
    let (code, from) = store::program_code_status(db, program_id)
        .await?
        .ok_or_else(|| DomainError::not_found(format!("program {program_id}")))?;
    if from == to {
        return Err(DomainError::Conflict(format!(
            "program {code} is already {to}"
        )));
    }
    if !allowed(&from, to) {
        return Err(DomainError::Conflict(format!(
            "program {code} is {from} and cannot become {to}{}",
            if from == "closed" {
                " (closing a program is final)"
            } else {
                ""
            }
        )));
    }
    let mut tx = db.begin().await?;
    if !store::set_status(&mut tx, program_id, &from, to).await? {
        return Err(DomainError::Conflict(format!(
            "program {code} changed status meanwhile; reload the page and try again"
        )));
    }
    // The grid side knows the program's rules while it is active, and only then.
    let messages = match (from.as_str(), to) {
        ("active", _) => sync_rules(&mut tx, program_id, &code, RuleAction::Unlink, now).await?,
        (_, "active") => sync_rules(&mut tx, program_id, &code, RuleAction::Link, now).await?,
        _ => 0,
    };
    append(
        &mut tx,
        NewAuditEntry::new(actor, "program.status", "program", program_id)
            .before(json!({"status": from}))
            .after(
                json!({"status": to, "reason": reason, "program": code, "ruleMessages": messages}),
            ),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusChange {
        code,
        from,
        to: to.to_string(),
        messages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_moves_forward_and_closing_is_final() {
        assert_eq!(next_statuses("draft"), ["active", "closed"]);
        assert_eq!(next_statuses("active"), ["suspended", "closed"]);
        assert_eq!(next_statuses("suspended"), ["active", "closed"]);
        assert!(next_statuses("closed").is_empty());
        assert!(!allowed("active", "draft"));
        assert!(!allowed("active", "active"));
    }
}
