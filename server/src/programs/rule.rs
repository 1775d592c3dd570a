//! Program rules edited by a program manager: a new effective-dated rule (or a change to one
//! not yet in force), audited, and synced to the grid side (flow 9) when the program is active.

use chrono::{DateTime, NaiveDate, Utc};

use crate::db::audit::{append, NewAuditEntry};
use crate::db::program::{self as store, NewProgramRule};
use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::integration::message::{enqueue, new_message_id, NewMessage, DEFAULT_MAX_ATTEMPTS};
use crate::integration::wire::{Outbound, ProgramRule, ProgramRuleSync, RuleAction, RuleCycle};
use app::model::RuleInput;

fn num<T: std::str::FromStr>(field: &str, v: &str) -> Result<T, DomainError> {
    v.trim().parse::<T>().map_err(|_| {
        DomainError::invalid(format!(
            "{field}: `{}` is not a valid number here",
            v.trim()
        ))
    })
}

fn minute_of_day(field: &str, v: &str) -> Result<u16, DomainError> {
    let bad = || {
        DomainError::invalid(format!(
            "{field}: expected a time like 16:00, got `{}`",
            v.trim()
        ))
    };
    let (h, m) = v.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if (h == 24 && m == 0) || (h < 24 && m < 60) {
        Ok(h * 60 + m)
    } else {
        Err(bad())
    }
}

/// Parses and checks the console's rule form; every problem names its field.
pub fn parse_rule(form: &RuleInput, today: NaiveDate) -> Result<ProgramRule, DomainError> {
    let effective_from = NaiveDate::parse_from_str(form.effective_from.trim(), "%Y-%m-%d")
        .map_err(|_| {
            DomainError::invalid(format!(
                "effective from: expected a date like 2026-06-01, got `{}`",
                form.effective_from.trim()
            ))
        })?;
    if effective_from < today {
        return Err(DomainError::invalid(
            "effective from: a rule takes effect today or later; past rules stay as they were",
        ));
    }
    let cycle = match form.cycle.as_str() {
        "weekly" => RuleCycle::Weekly,
        "monthly" => RuleCycle::Monthly,
        other => {
            return Err(DomainError::invalid(format!(
                "cycle: expected weekly or monthly, got `{other}`"
            )))
        }
    };
    let rule = ProgramRule {
        effective_from,
        cycle,
        week_start: num("week start", &form.week_start)?,
        max_events_per_cycle: num("events per cycle", &form.max_events_per_cycle)?,
        max_minutes_per_cycle: num("minutes per cycle", &form.max_minutes_per_cycle)?,
        min_gap_minutes: num("minimum gap", &form.min_gap_minutes)?,
        min_event_minutes: num("shortest event", &form.min_event_minutes)?,
        max_event_minutes: num("longest event", &form.max_event_minutes)?,
        max_overrides: num("overrides", &form.max_overrides)?,
        window_start_minute: minute_of_day("window start", &form.window_start)?,
        window_end_minute: minute_of_day("window end", &form.window_end)?,
        activation_cost: num("activation cost", &form.activation_cost)?,
        burn_rate_factor: num("burn-rate factor", &form.burn_rate_factor)?,
        score_factor: num("score factor", &form.score_factor)?,
        overridable: form.overridable.as_deref() == Some("on"),
    };
    rule.check()
        .map_err(|e| DomainError::invalid(format!("{}: {}", e.field, e.message)))?;
    Ok(rule)
}

/// Stores the rule for `program_id`; returns whether it replaced one of the same date.
pub async fn save_rule(
    db: &Db,
    actor: &str,
    program_id: i64,
    rule: &ProgramRule,
    now: DateTime<Utc>,
) -> Result<bool, DomainError> {
    let (code, status) = store::program_code_status(db, program_id)
        .await?
        .ok_or_else(|| DomainError::not_found(format!("program {program_id}")))?;
    let mut tx = db.begin().await?;
    let row = NewProgramRule {
        effective_from: rule.effective_from,
        cycle: rule.cycle.as_str(),
        week_start: rule.week_start as i32,
        max_events_per_cycle: rule.max_events_per_cycle as i32,
        max_minutes_per_cycle: rule.max_minutes_per_cycle as i32,
        min_gap_minutes: rule.min_gap_minutes as i32,
        min_event_minutes: rule.min_event_minutes as i32,
        max_event_minutes: rule.max_event_minutes as i32,
        max_overrides: rule.max_overrides as i32,
        window_start_minute: rule.window_start_minute as i32,
        window_end_minute: rule.window_end_minute as i32,
        activation_cost: rule.activation_cost,
        burn_rate_factor: rule.burn_rate_factor,
        score_factor: rule.score_factor,
        overridable: rule.overridable,
    };
    let replaced = store::put_rule(&mut tx, program_id, &row, now).await?;
    let rule_json = serde_json::to_value(rule)?;
    append(
        &mut tx,
        NewAuditEntry::new(
            actor,
            if replaced {
                "program_rule.change"
            } else {
                "program_rule.add"
            },
            "program",
            program_id,
        )
        .after(rule_json.clone()),
    )
    .await?;
    if status == "active" {
        let sync = ProgramRuleSync {
            transaction_id: format!(
                "RULE-{code}-{}-{}",
                rule.effective_from,
                now.timestamp_millis()
            ),
            action: if replaced {
                RuleAction::Change
            } else {
                RuleAction::Link
            },
            program_code: code,
            rule: rule.clone(),
        };
        queue_rule_sync(&mut tx, program_id, &sync, now).await?;
    }
    tx.commit().await?;
    Ok(replaced)
}

/// Queues flow 9 for a rule of program `program_id` in `tx`, in the program's order (one
/// correlation id per program).
pub(crate) async fn queue_rule_sync(
    tx: &mut Tx,
    program_id: i64,
    sync: &ProgramRuleSync,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let msg = NewMessage {
        message_id: new_message_id(),
        flow: ProgramRuleSync::FLOW.as_str().into(),
        correlation_id: Some(format!("program-{program_id}")),
        sender: "programs".into(),
        recipient: "grid".into(),
        payload: sync.to_payload(),
        max_attempts: DEFAULT_MAX_ATTEMPTS,
    };
    enqueue(tx, &msg, now).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> RuleInput {
        RuleInput {
            effective_from: "2030-06-01".into(),
            cycle: "monthly".into(),
            week_start: "0".into(),
            max_events_per_cycle: "4".into(),
            max_minutes_per_cycle: "480".into(),
            min_gap_minutes: "720".into(),
            min_event_minutes: "30".into(),
            max_event_minutes: "240".into(),
            max_overrides: "2".into(),
            window_start: "12:00".into(),
            window_end: "20:00".into(),
            activation_cost: "1.5".into(),
            burn_rate_factor: "1.2".into(),
            score_factor: "1".into(),
            overridable: None,
        }
    }

    fn today() -> NaiveDate {
        "2026-11-28".parse().unwrap()
    }

    #[test]
    fn a_complete_form_becomes_a_rule() {
        let r = parse_rule(&form(), today()).unwrap();
        assert_eq!(
            (
                r.window_start_minute,
                r.window_end_minute,
                r.max_events_per_cycle
            ),
            (720, 1200, 4)
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut f = form();
        f.window_end = "25:00".into();
        assert!(parse_rule(&f, today())
            .unwrap_err()
            .to_string()
            .starts_with("window end:"));
        let mut f = form();
        f.max_events_per_cycle = "many".into();
        assert!(parse_rule(&f, today())
            .unwrap_err()
            .to_string()
            .starts_with("events per cycle:"));
        let mut f = form();
        f.min_event_minutes = "300".into();
        assert!(parse_rule(&f, today())
            .unwrap_err()
            .to_string()
            .contains("minEventMinutes"));
        let mut f = form();
        f.effective_from = "2020-01-01".into();
        assert!(parse_rule(&f, today())
            .unwrap_err()
            .to_string()
            .contains("today or later"));
    }
}
