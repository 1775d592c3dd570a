//! Flow 9, program rule sync (programs → grid): a program's participation limits and score factors.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::check::{check_after, check_id, check_non_negative};
use super::code::wire_code;
use super::{Flow, Outbound, RecordError, Validate};

wire_code! {
    /// Change to a program's rule (flow 9).
    pub enum RuleAction {
        Link = "LINK",
        Unlink = "UNLINK",
        Change = "CHANGE",
    }
}

wire_code! {
    /// Length of a program rule's participation cycle (flow 9).
    pub enum RuleCycle {
        Weekly = "weekly",
        Monthly = "monthly",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgramRuleSync {
    pub transaction_id: String,
    pub action: RuleAction,
    pub program_code: String,
    pub rule: ProgramRule,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgramRule {
    /// The latest rule effective on a day applies; `UNLINK` names the rule by this date.
    pub effective_from: NaiveDate,
    pub cycle: RuleCycle,
    /// Day of the week a weekly cycle starts, 0..=6.
    pub week_start: u8,
    pub max_events_per_cycle: u32,
    pub max_minutes_per_cycle: u32,
    pub min_gap_minutes: u32,
    pub min_event_minutes: u32,
    pub max_event_minutes: u32,
    pub max_overrides: u32,
    /// Minutes after local midnight, 0..=1440.
    pub window_start_minute: u16,
    pub window_end_minute: u16,
    pub activation_cost: f64,
    pub burn_rate_factor: f64,
    pub score_factor: f64,
    pub overridable: bool,
}

impl Outbound for ProgramRuleSync {
    const FLOW: Flow = Flow::ProgramRuleSync;
}

impl Validate for ProgramRuleSync {
    fn validate(&self) -> Result<(), RecordError> {
        check_id("transactionId", &self.transaction_id)
            .and_then(|_| check_id("programCode", &self.program_code))
            .and_then(|_| self.rule.check().map_err(|err| err.under("rule")))
            .map_err(|err| err.identify(&self.transaction_id))
    }
}

impl ProgramRule {
    /// Checks the rule's limits (used for rule sync messages and for rules edited in the console).
    pub fn check(&self) -> Result<(), RecordError> {
        if self.week_start > 6 {
            return Err(RecordError::new(
                "weekStart",
                format!(
                    "must be a day of the week from 0 to 6 (got {})",
                    self.week_start
                ),
            ));
        }
        for (field, value) in [
            ("maxEventsPerCycle", self.max_events_per_cycle),
            ("maxMinutesPerCycle", self.max_minutes_per_cycle),
            ("minEventMinutes", self.min_event_minutes),
            ("maxEventMinutes", self.max_event_minutes),
        ] {
            if value == 0 {
                return Err(RecordError::new(field, "must be at least 1"));
            }
        }
        if self.min_event_minutes > self.max_event_minutes {
            return Err(RecordError::new(
                "minEventMinutes",
                format!(
                    "must not exceed maxEventMinutes (got minEventMinutes {} > maxEventMinutes {})",
                    self.min_event_minutes, self.max_event_minutes
                ),
            ));
        }
        if self.max_event_minutes > self.max_minutes_per_cycle {
            return Err(RecordError::new(
                "maxEventMinutes",
                format!(
                    "must not exceed maxMinutesPerCycle (got maxEventMinutes {} > maxMinutesPerCycle {})",
                    self.max_event_minutes, self.max_minutes_per_cycle
                ),
            ));
        }
        for (field, minute) in [
            ("windowStartMinute", self.window_start_minute),
            ("windowEndMinute", self.window_end_minute),
        ] {
            if minute > 1440 {
                return Err(RecordError::new(
                    field,
                    format!("must be a minute of the day from 0 to 1440 (got {minute})"),
                ));
            }
        }
        check_after(
            "windowStartMinute",
            &self.window_start_minute,
            "windowEndMinute",
            &self.window_end_minute,
        )?;
        check_non_negative("activationCost", self.activation_cost)?;
        check_non_negative("burnRateFactor", self.burn_rate_factor)?;
        check_non_negative("scoreFactor", self.score_factor)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::wire::fixtures::*;
    use serde_json::{json, Value};

    fn rule_sync() -> Value {
        json!({
            "transactionId": "TX-9",
            "action": "LINK",
            "programCode": "SUMMER-SAVER",
            "rule": {
                "effectiveFrom": "2024-06-01",
                "cycle": "weekly",
                "weekStart": 1,
                "maxEventsPerCycle": 3,
                "maxMinutesPerCycle": 480,
                "minGapMinutes": 720,
                "minEventMinutes": 30,
                "maxEventMinutes": 240,
                "maxOverrides": 2,
                "windowStartMinute": 600,
                "windowEndMinute": 1260,
                "activationCost": 1.25,
                "burnRateFactor": 0.5,
                "scoreFactor": 2.0,
                "overridable": true
            }
        })
    }

    #[test]
    fn program_rule_sync_json_keeps_the_public_field_names() {
        let sync: ProgramRuleSync = assert_round_trips(&rule_sync());
        sync.validate().unwrap();
        assert_eq!(sync.rule.cycle, RuleCycle::Weekly);
    }

    #[test]
    fn a_rule_with_min_event_minutes_above_max_event_minutes_is_refused() {
        let mut value = rule_sync();
        value["rule"]["minEventMinutes"] = json!(300);
        let err = invalid::<ProgramRuleSync>(&value);
        assert_eq!(err.field, "rule.minEventMinutes");
        assert!(err.message.contains("maxEventMinutes"), "{}", err.message);
    }

    #[test]
    fn a_rule_window_and_week_start_must_be_in_range() {
        let mut value = rule_sync();
        value["rule"]["windowEndMinute"] = json!(1500);
        assert_eq!(
            invalid::<ProgramRuleSync>(&value).field,
            "rule.windowEndMinute"
        );
        let mut value = rule_sync();
        value["rule"]["windowEndMinute"] = json!(600);
        assert_eq!(
            invalid::<ProgramRuleSync>(&value).field,
            "rule.windowEndMinute"
        );
        let mut value = rule_sync();
        value["rule"]["weekStart"] = json!(7);
        assert_eq!(invalid::<ProgramRuleSync>(&value).field, "rule.weekStart");
        let mut value = rule_sync();
        value["rule"]["maxOverrides"] = json!(-1);
        assert_eq!(
            invalid::<ProgramRuleSync>(&value).field,
            "rule.maxOverrides"
        );
    }
}
