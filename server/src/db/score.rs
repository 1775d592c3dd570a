//! Devices' control scores: the set-based update of a program's scores and the scores the
//! grid side is sent.

use chrono::{DateTime, Utc};

use crate::db::Tx;
use crate::error::DomainError;
use crate::with_tx;

/// What one program's rule in force puts into its devices' scores.
#[derive(Debug, Clone)]
pub struct ScoreRule<'a> {
    pub program_id: i64,
    pub program_code: &'a str,
    /// Activation cost × score factor.
    pub base: f64,
    pub burn_rate_factor: f64,
    /// The start of the rule cycle: outcomes from then on count as used.
    pub since: DateTime<Utc>,
    /// The cycle's allowed event minutes (at least 1).
    pub max_minutes_per_cycle: f64,
}

/// Scores every device in an active enrollment of the program (with a nominal kW) in one
/// statement; returns how many.
pub async fn update_scores(
    tx: &mut Tx,
    rule: &ScoreRule<'_>,
    now: DateTime<Utc>,
) -> Result<u64, DomainError> {
    let dialect = tx.dialect();
    // The share of the cycle's allowed event minutes each device has used, from the
    // outcomes the grid side reported (participated, or overridden part-way).
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
    Ok(with_tx!(tx, |c| sqlx::query(&sql)
        .bind(rule.base)
        .bind(now)
        .bind(rule.program_id)
        .bind(rule.burn_rate_factor)
        .bind(rule.program_code)
        .bind(rule.since)
        .bind(rule.max_minutes_per_cycle)
        .execute(c)
        .await?
        .rows_affected()))
}

/// (head-end, NIC id, score) of the program's scored devices, in device order.
pub async fn program_scores(
    tx: &mut Tx,
    program_id: i64,
) -> Result<Vec<(String, String, f64)>, DomainError> {
    Ok(with_tx!(tx, |c| sqlx::query_as(
        "SELECT d.head_end, d.nic_id, d.control_score FROM devices d
         JOIN enrollment_devices ed ON ed.device_id = d.id AND ed.left_at IS NULL
         JOIN enrollments e ON e.id = ed.enrollment_id
         WHERE e.program_id = $1 AND e.status = 'ACTIVE' AND d.nominal_kw > 0 ORDER BY d.id"
    )
    .bind(program_id)
    .fetch_all(c)
    .await?))
}
