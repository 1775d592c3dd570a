//! Programs, their effective-dated rules (read and stored) and aggregators (program side).

use chrono::{DateTime, NaiveDate, Utc};

use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProgramRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub category: String,
    pub device_type: String,
    pub status: String,
    pub season_start: NaiveDate,
    pub season_end: NaiveDate,
    pub settlement_method: String,
    pub settlement_timing: String,
    pub baseline_method: String,
    pub credit_rate: f64,
    pub opt_out_allowed: bool,
    pub opt_out_cutoff_minutes: i32,
    pub unavailability_allowed: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProgramRuleRow {
    pub id: i64,
    pub program_id: i64,
    pub effective_from: NaiveDate,
    pub cycle: String,
    pub week_start: i32,
    pub max_events_per_cycle: i32,
    pub max_minutes_per_cycle: i32,
    pub min_gap_minutes: i32,
    pub min_event_minutes: i32,
    pub max_event_minutes: i32,
    pub max_overrides: i32,
    pub window_start_minute: i32,
    pub window_end_minute: i32,
    pub activation_cost: f64,
    pub burn_rate_factor: f64,
    pub score_factor: f64,
    pub overridable: bool,
}

const PROGRAM_COLUMNS: &str = "id, code, name, category, device_type, status, season_start, season_end, settlement_method, settlement_timing, baseline_method, credit_rate, opt_out_allowed, opt_out_cutoff_minutes, unavailability_allowed, created_at";

pub async fn list_programs(db: &Db) -> Result<Vec<ProgramRow>, DomainError> {
    let sql = format!("SELECT {PROGRAM_COLUMNS} FROM programs ORDER BY code");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, ProgramRow>(&sql)
        .fetch_all(pool)
        .await?))
}

pub async fn get_program(db: &Db, id: i64) -> Result<Option<ProgramRow>, DomainError> {
    let sql = format!("SELECT {PROGRAM_COLUMNS} FROM programs WHERE id = $1");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, ProgramRow>(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await?))
}

pub async fn program_id_by_code(db: &Db, code: &str) -> Result<Option<i64>, DomainError> {
    Ok(with_db!(db, |pool| sqlx::query_scalar::<_, i64>(
        "SELECT id FROM programs WHERE code = $1"
    )
    .bind(code)
    .fetch_optional(pool)
    .await?))
}

/// All rules of a program, newest effective date first.
pub async fn list_rules(db: &Db, program_id: i64) -> Result<Vec<ProgramRuleRow>, DomainError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, ProgramRuleRow>(
        "SELECT id, program_id, effective_from, cycle, week_start, max_events_per_cycle, max_minutes_per_cycle,
                min_gap_minutes, min_event_minutes, max_event_minutes, max_overrides, window_start_minute,
                window_end_minute, activation_cost, burn_rate_factor, score_factor, overridable
         FROM program_rules WHERE program_id = $1 ORDER BY effective_from DESC"
    )
    .bind(program_id)
    .fetch_all(pool)
    .await?
    }))
}

/// The rule in force on `day`: the latest whose effective date is on or before it.
pub fn rule_in_force(rules: &[ProgramRuleRow], day: NaiveDate) -> Option<&ProgramRuleRow> {
    rules
        .iter()
        .filter(|r| r.effective_from <= day)
        .max_by_key(|r| r.effective_from)
}

pub async fn program_aggregators(db: &Db, program_id: i64) -> Result<Vec<String>, DomainError> {
    Ok(with_db!(db, |pool| sqlx::query_scalar(
        "SELECT a.name FROM aggregators a JOIN aggregator_programs ap ON ap.aggregator_id = a.id
         WHERE ap.program_id = $1 ORDER BY a.name"
    )
    .bind(program_id)
    .fetch_all(pool)
    .await?))
}

/// (program id, status, count) for every program and status that has enrollments.
pub async fn enrollment_counts(db: &Db) -> Result<Vec<(i64, String, i64)>, DomainError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, (i64, String, i64)>(
        "SELECT program_id, status, COUNT(*) FROM enrollments GROUP BY program_id, status ORDER BY program_id, status"
    )
    .fetch_all(pool)
    .await?
    }))
}

/// (code, status) of the program.
pub async fn program_code_status(
    db: &Db,
    program_id: i64,
) -> Result<Option<(String, String)>, DomainError> {
    Ok(with_db!(db, |p| sqlx::query_as(
        "SELECT code, status FROM programs WHERE id = $1"
    )
    .bind(program_id)
    .fetch_optional(p)
    .await?))
}

/// A rule to store (a `ProgramRuleRow` without its id).
#[derive(Debug, Clone)]
pub struct NewProgramRule<'a> {
    pub effective_from: NaiveDate,
    pub cycle: &'a str,
    pub week_start: i32,
    pub max_events_per_cycle: i32,
    pub max_minutes_per_cycle: i32,
    pub min_gap_minutes: i32,
    pub min_event_minutes: i32,
    pub max_event_minutes: i32,
    pub max_overrides: i32,
    pub window_start_minute: i32,
    pub window_end_minute: i32,
    pub activation_cost: f64,
    pub burn_rate_factor: f64,
    pub score_factor: f64,
    pub overridable: bool,
}

/// Stores the program's rule for its effective date, replacing one of the same date;
/// returns whether it replaced one.
pub async fn put_rule(
    tx: &mut Tx,
    program_id: i64,
    rule: &NewProgramRule<'_>,
    now: DateTime<Utc>,
) -> Result<bool, DomainError> {
    let existing: Option<i64> = with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT id FROM program_rules WHERE program_id = $1 AND effective_from = $2"
    )
    .bind(program_id)
    .bind(rule.effective_from)
    .fetch_optional(c)
    .await?);
    if let Some(id) = existing {
        with_tx!(tx, |c| sqlx::query(
            "DELETE FROM program_rules WHERE id = $1"
        )
        .bind(id)
        .execute(c)
        .await?
        .rows_affected());
    }
    with_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO program_rules (program_id, effective_from, cycle, week_start, max_events_per_cycle, max_minutes_per_cycle, min_gap_minutes,
            min_event_minutes, max_event_minutes, max_overrides, window_start_minute, window_end_minute, activation_cost, burn_rate_factor,
            score_factor, overridable, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    )
    .bind(program_id)
    .bind(rule.effective_from)
    .bind(rule.cycle)
    .bind(rule.week_start)
    .bind(rule.max_events_per_cycle)
    .bind(rule.max_minutes_per_cycle)
    .bind(rule.min_gap_minutes)
    .bind(rule.min_event_minutes)
    .bind(rule.max_event_minutes)
    .bind(rule.max_overrides)
    .bind(rule.window_start_minute)
    .bind(rule.window_end_minute)
    .bind(rule.activation_cost)
    .bind(rule.burn_rate_factor)
    .bind(rule.score_factor)
    .bind(rule.overridable)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected()
    });
    Ok(existing.is_some())
}

/// Moves program `id` from status `from` to `to` in `tx`; false when it is no longer `from`
/// (someone changed it meanwhile), so the caller can refuse rather than overwrite.
pub async fn set_status(tx: &mut Tx, id: i64, from: &str, to: &str) -> Result<bool, DomainError> {
    let n = with_tx!(tx, |c| sqlx::query(
        "UPDATE programs SET status = $1 WHERE id = $2 AND status = $3"
    )
    .bind(to)
    .bind(id)
    .bind(from)
    .execute(c)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// Every rule of program `id` read in `tx`, oldest effective date first (the order flow 9
/// links them in).
pub async fn rules_in(tx: &mut Tx, program_id: i64) -> Result<Vec<ProgramRuleRow>, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_as::<_, ProgramRuleRow>(
        "SELECT id, program_id, effective_from, cycle, week_start, max_events_per_cycle, max_minutes_per_cycle,
                min_gap_minutes, min_event_minutes, max_event_minutes, max_overrides, window_start_minute,
                window_end_minute, activation_cost, burn_rate_factor, score_factor, overridable
         FROM program_rules WHERE program_id = $1 ORDER BY effective_from"
    )
    .bind(program_id)
    .fetch_all(c)
    .await?
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: i64, from: &str) -> ProgramRuleRow {
        ProgramRuleRow {
            id,
            program_id: 1,
            effective_from: from.parse().unwrap(),
            cycle: "monthly".into(),
            week_start: 0,
            max_events_per_cycle: 4,
            max_minutes_per_cycle: 480,
            min_gap_minutes: 720,
            min_event_minutes: 30,
            max_event_minutes: 240,
            max_overrides: 2,
            window_start_minute: 600,
            window_end_minute: 1200,
            activation_cost: 1.0,
            burn_rate_factor: 1.0,
            score_factor: 1.0,
            overridable: false,
        }
    }

    #[test]
    fn the_latest_effective_rule_applies() {
        let rules = vec![
            rule(1, "2026-01-01"),
            rule(2, "2026-06-01"),
            rule(3, "2027-01-01"),
        ];
        let day: NaiveDate = "2026-07-15".parse().unwrap();
        assert_eq!(rule_in_force(&rules, day).map(|r| r.id), Some(2));
        let before: NaiveDate = "2025-12-31".parse().unwrap();
        assert!(rule_in_force(&rules, before).is_none());
    }
}
