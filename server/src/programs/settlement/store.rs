//! Storing a run's results: compared with what is stored, only new or changed results are
//! written, with the quarter-hour sums, the run and its audit entry, in the caller's
//! transaction. The run's entry carries the count and digest of the part's stored results
//! (not an entry per result); a changed result also gets its own entry with before and after.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::compute::{self, round3, round_cents, Computed, ProgramTerms};
use crate::db::audit::{append_digest, append_many, NewAuditEntry, RowDigest};
use crate::db::dialect::Elem;
use crate::db::{insert_rows, Arg, Tx};
use crate::error::DomainError;
use crate::with_tx;

/// The columns of a stored result, in the order the run writes them (and the table has them).
pub const SETTLEMENT_COLUMNS: [&str; 27] = [
    "program_id",
    "event_code",
    "enrollment_id",
    "customer_id",
    "service_point_id",
    "window_start",
    "window_end",
    "devices",
    "status",
    "reason",
    "baseline_method",
    "baseline_days",
    "adjustment",
    "baseline_kwh",
    "actual_kwh",
    "kwh_avoided",
    "kw_drop_max",
    "kw_drop_min",
    "kw_drop_avg",
    "settlement_method",
    "rate",
    "credit",
    "posted",
    "version",
    "run_id",
    "settled_at",
    "meter_share",
];

/// What one run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub run_id: i64,
    pub program_code: String,
    pub event_code: Option<String>,
    pub enrollments: usize,
    pub settled: usize,
    pub unchanged: usize,
    pub new: usize,
    pub changed: usize,
    pub kwh_avoided: f64,
    pub credit: f64,
}

/// The stored fields a recalculation compares, rounded as shown.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
struct Stored {
    enrollment_id: i64,
    status: String,
    reason: Option<String>,
    baseline_kwh: f64,
    actual_kwh: f64,
    kwh_avoided: f64,
    kw_drop_avg: f64,
    rate: f64,
    credit: f64,
    posted: bool,
    version: i32,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    meter_share: f64,
}

impl Stored {
    fn json(&self) -> serde_json::Value {
        json!({
            "status": self.status,
            "reason": self.reason,
            "window": [self.window_start, self.window_end],
            "baseline_kwh": round3(self.baseline_kwh),
            "actual_kwh": round3(self.actual_kwh),
            "kwh_avoided": round3(self.kwh_avoided),
            "kw_drop_avg": round3(self.kw_drop_avg),
            "rate": round3(self.rate),
            "credit": round_cents(self.credit),
            "meter_share": round3(self.meter_share),
            "posted": self.posted,
            "version": self.version,
        })
    }
}

fn stored_of(c: &Computed, posted: bool, version: i32) -> Stored {
    Stored {
        enrollment_id: c.part.enrollment_id,
        status: c.status.to_string(),
        reason: c.reason.clone(),
        baseline_kwh: c.baseline_kwh,
        actual_kwh: c.actual_kwh,
        kwh_avoided: c.kwh_avoided,
        kw_drop_avg: c.kw_drop[2],
        rate: c.rate,
        credit: c.credit,
        posted,
        version,
        window_start: c.part.start,
        window_end: c.part.end,
        meter_share: c.part.share,
    }
}

pub(super) async fn insert_run(
    tx: &mut Tx,
    program: &ProgramTerms,
    kind: &str,
    event_code: Option<&str>,
    actor: &str,
    now: DateTime<Utc>,
    s: &RunSummary,
) -> Result<i64, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_scalar::<_, i64>(
        "INSERT INTO settlement_runs (program_id, kind, event_code, season_start, season_end, run_by, run_at,
             enrollments, settled, changed, kwh_avoided, credit)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id"
    )
    .bind(program.id)
    .bind(kind)
    .bind(event_code)
    .bind(program.season_start)
    .bind(program.season_end)
    .bind(actor)
    .bind(now)
    .bind(s.enrollments as i32)
    .bind(s.settled as i32)
    .bind((s.new + s.changed) as i32)
    .bind(round3(s.kwh_avoided))
    .bind(round_cents(s.credit))
    .fetch_one(c)
    .await?
    }))
}

/// Compares with what is stored and writes the run (see [`settlement`](super)).
#[allow(clippy::too_many_arguments)]
pub(super) async fn store(
    tx: &mut Tx,
    program: &ProgramTerms,
    event_code: &str,
    kind: &str,
    computed: Vec<Computed>,
    posted: bool,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<RunSummary, DomainError> {
    let clock = std::time::Instant::now();
    // Two servers sharing a PostgreSQL database may settle the same event at once: the
    // second waits here and then compares with what the first wrote (SQLite transactions
    // already take the write lock when they begin).
    if let Tx::Postgres(c) = tx {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('settlement ' || $1 || ' ' || $2))")
            .bind(program.id.to_string())
            .bind(event_code)
            .execute(&mut **c)
            .await?;
    }
    let before: Vec<Stored> = with_tx!(tx, |c| {
        sqlx::query_as(
        "SELECT enrollment_id, status, reason, baseline_kwh, actual_kwh, kwh_avoided, kw_drop_avg, rate, credit,
                posted, version, window_start, window_end, meter_share
         FROM settlements WHERE program_id = $1 AND event_code = $2"
    )
    .bind(program.id)
    .bind(event_code)
    .fetch_all(c)
    .await?
    });
    let before: HashMap<i64, Stored> = before.into_iter().map(|s| (s.enrollment_id, s)).collect();

    let totals = compute::totals(&computed);
    let mut summary = RunSummary {
        run_id: 0,
        program_code: program.code.clone(),
        event_code: Some(event_code.to_string()),
        enrollments: totals.enrollments,
        settled: totals.settled,
        unchanged: 0,
        new: 0,
        changed: 0,
        kwh_avoided: totals.kwh_avoided,
        credit: totals.credit,
    };
    // Which results to write; a changed one keeps its before and after in the trail.
    let mut writes: Vec<(&Computed, i32)> = Vec::new();
    let mut audit: Vec<NewAuditEntry> = Vec::new();
    let entity = |c: &Computed| format!("{event_code}/{}/{}", program.code, c.part.enrollment_id);
    for c in &computed {
        match before.get(&c.part.enrollment_id) {
            None => {
                summary.new += 1;
                writes.push((c, 1));
            }
            Some(old) => {
                let after = stored_of(c, posted || old.posted, old.version);
                if old.json() == after.json() {
                    summary.unchanged += 1;
                    continue;
                }
                summary.changed += 1;
                let after = Stored {
                    version: old.version + 1,
                    ..after
                };
                audit.push(
                    NewAuditEntry::new(actor, "settlement.recalculate", "settlement", entity(c))
                        .before(old.json())
                        .after(after.json()),
                );
                writes.push((c, old.version + 1));
            }
        }
    }
    let run_id = insert_run(tx, program, kind, Some(event_code), actor, now, &summary).await?;
    summary.run_id = run_id;

    // Replace the rows that changed, in chunks.
    let changed_ids: Vec<i64> = writes
        .iter()
        .filter(|(_, v)| *v > 1)
        .map(|(c, _)| c.part.enrollment_id)
        .collect();
    for chunk in changed_ids.chunks(500) {
        let ids = serde_json::to_string(chunk)?;
        let sql = format!(
            "DELETE FROM settlements WHERE program_id = $1 AND event_code = $2
             AND enrollment_id IN ({})",
            tx.dialect().in_list(3, Elem::Int)
        );
        with_tx!(tx, |c| sqlx::query(&sql)
            .bind(program.id)
            .bind(event_code)
            .bind(&ids)
            .execute(c)
            .await?
            .rows_affected());
    }
    let rows: Vec<Vec<Arg>> = writes
        .iter()
        .map(|(c, version)| {
            let old_posted = before
                .get(&c.part.enrollment_id)
                .map(|o| o.posted)
                .unwrap_or(false);
            vec![
                Arg::Int(program.id),
                Arg::Text(event_code.to_string()),
                Arg::Int(c.part.enrollment_id),
                Arg::Int(c.part.customer_id),
                Arg::Text(c.part.service_point_id.clone()),
                Arg::Time(c.part.start),
                Arg::Time(c.part.end),
                Arg::Int(i64::from(c.part.devices)),
                Arg::Text(c.status.to_string()),
                Arg::OptText(c.reason.clone()),
                Arg::Text(program.baseline_method.clone()),
                Arg::Int(i64::from(c.baseline_days)),
                Arg::Float(c.adjustment),
                Arg::Float(c.baseline_kwh),
                Arg::Float(c.actual_kwh),
                Arg::Float(c.kwh_avoided),
                Arg::Float(c.kw_drop[0]),
                Arg::Float(c.kw_drop[1]),
                Arg::Float(c.kw_drop[2]),
                Arg::Text(program.settlement_method.clone()),
                Arg::Float(c.rate),
                Arg::Float(c.credit),
                Arg::Bool(posted || old_posted),
                Arg::Int(i64::from(*version)),
                Arg::Int(run_id),
                Arg::Time(now),
                Arg::Float(c.part.share),
            ]
        })
        .collect();
    insert_rows(tx, "settlements", &SETTLEMENT_COLUMNS, &rows).await?;

    // The quarter-hour sums, rewritten whole.
    let sums = compute::interval_sums(&computed);
    with_tx!(tx, |c| sqlx::query(
        "DELETE FROM settlement_intervals WHERE program_id = $1 AND event_code = $2"
    )
    .bind(program.id)
    .bind(event_code)
    .execute(c)
    .await?
    .rows_affected());
    let interval_rows: Vec<Vec<Arg>> = sums
        .into_iter()
        .map(|(t, sum)| {
            vec![
                Arg::Int(program.id),
                Arg::Text(event_code.to_string()),
                Arg::Time(t),
                Arg::Float(sum.baseline_kwh),
                Arg::Float(sum.actual_kwh),
                Arg::Int(sum.enrollments),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "settlement_intervals",
        &[
            "program_id",
            "event_code",
            "interval_start",
            "baseline_kwh",
            "actual_kwh",
            "enrollments",
        ],
        &interval_rows,
    )
    .await?;

    append_many(tx, &audit).await?;
    // The part's results as they now stand, read back as the audit check will read them.
    let mut digest = RowDigest::new();
    for row in crate::db::settlement::result_rows_tx(tx, program.id, event_code).await? {
        let fields = row.digest_fields();
        let fields: Vec<Option<&str>> = fields.iter().map(|f| f.as_deref()).collect();
        digest.row(&fields);
    }
    let digest = digest.finish();
    let run_entry = NewAuditEntry::new(actor, "settlement.run", "event", event_code).after(json!({
        "run": run_id,
        "kind": kind,
        "program": program.code,
        "enrollments": summary.enrollments,
        "settled": summary.settled,
        "new": summary.new,
        "changed": summary.changed,
        "unchanged": summary.unchanged,
        "kwh_avoided": round3(summary.kwh_avoided),
        "credit": summary.credit,
    }));
    append_digest(
        tx,
        run_entry,
        json!({"table": "settlements", "program_id": program.id, "program": program.code, "event": event_code}),
        &digest,
    )
    .await?;
    tracing::info!(
        program = %program.code,
        event = event_code,
        new = summary.new,
        changed = summary.changed,
        written_ms = clock.elapsed().as_millis(),
        "settlement stored"
    );
    Ok(summary)
}
