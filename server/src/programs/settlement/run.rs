//! A settlement run: read ([`read`](super::read)), compute ([`compute`](super::compute)),
//! store ([`store`](super::store)), for one event or for a program's season.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::compute::{self, round3, round_cents, season_bounds, Computed};
use super::compute::{Part, ProgramTerms, StagePart};
use super::read::{self, program_by_code};
use super::store::{insert_run, store, RunSummary};
use crate::calendar::Calendar;
use crate::db::audit::{append_many, NewAuditEntry};
use crate::db::Db;
use crate::error::DomainError;

/// Settles every program part of a completed event (see [`settlement`](super)).
pub async fn settle_event(
    db: &Db,
    cal: Calendar,
    actor: &str,
    event_code: &str,
    now: DateTime<Utc>,
) -> Result<Vec<RunSummary>, DomainError> {
    let stages = read::stage_parts(db, event_code).await?;
    if stages.is_empty() {
        return Err(DomainError::not_found(format!(
            "event `{event_code}` on the program side"
        )));
    }
    if let Some(open) = stages
        .iter()
        .find(|s| s.status != "F1CO" && s.status != "F1CN")
    {
        return Err(DomainError::Conflict(format!(
            "event {event_code} has not ended (stage {} is {}); it is settled once it is completed",
            open.external_id, open.status
        )));
    }
    let programs: BTreeSet<&str> = stages
        .iter()
        .filter(|s| s.status == "F1CO")
        .map(|s| s.program_code.as_str())
        .collect();
    if programs.is_empty() {
        return Err(DomainError::Conflict(format!(
            "event {event_code} was cancelled; there is nothing to settle"
        )));
    }
    let everyone = event_parts(db, &stages).await?;
    let mut out = Vec::new();
    for code in programs {
        let program = program_by_code(db, code).await?;
        let posted = program.settlement_timing == "per_event";
        let computed = computed(db, cal, &program, event_code, &everyone).await?;
        let mut tx = db.begin().await?;
        let summary = store(
            &mut tx, &program, event_code, "event", computed, posted, actor, now,
        )
        .await?;
        tx.commit().await?;
        out.push(summary);
    }
    Ok(out)
}

/// Settles a program's season: every completed event in it is settled again with its
/// credits posted, and a season run records the totals. Only after the season's last day.
pub async fn settle_season(
    db: &Db,
    cal: Calendar,
    actor: &str,
    program_code: &str,
    now: DateTime<Utc>,
) -> Result<RunSummary, DomainError> {
    let program = program_by_code(db, program_code).await?;
    if cal.local_date(now) <= program.season_end {
        return Err(DomainError::Conflict(format!(
            "the {} season ends on {}; it can be settled from the day after (events can be settled one by one before that)",
            program.code, program.season_end
        )));
    }
    let (from, to) = season_bounds(cal, &program);
    let events = read::completed_events(db, &program.code, from, to).await?;
    let mut total = RunSummary {
        run_id: 0,
        program_code: program.code.clone(),
        event_code: None,
        enrollments: 0,
        settled: 0,
        unchanged: 0,
        new: 0,
        changed: 0,
        kwh_avoided: 0.0,
        credit: 0.0,
    };
    let mut tx = db.begin().await?;
    for ev in &events {
        let everyone = event_parts(db, &read::stage_parts(db, ev).await?).await?;
        let computed = computed(db, cal, &program, ev, &everyone).await?;
        let s = store(&mut tx, &program, ev, "event", computed, true, actor, now).await?;
        total.enrollments += s.enrollments;
        total.settled += s.settled;
        total.unchanged += s.unchanged;
        total.new += s.new;
        total.changed += s.changed;
        total.kwh_avoided += s.kwh_avoided;
        total.credit += s.credit;
    }
    total.credit = round_cents(total.credit);
    let run_id = insert_run(&mut tx, &program, "season", None, actor, now, &total).await?;
    append_many(
        &mut tx,
        &[
            NewAuditEntry::new(actor, "settlement.season", "program", &program.code).after(json!({
                "run": run_id,
                "season": [program.season_start, program.season_end],
                "events": events,
                "enrollments": total.enrollments,
                "settled": total.settled,
                "changed": total.changed,
                "kwh_avoided": round3(total.kwh_avoided),
                "credit": total.credit,
            })),
        ],
    )
    .await?;
    tx.commit().await?;
    total.run_id = run_id;
    Ok(total)
}

/// Every enrollment's part in the event's completed stages, of every program, with its
/// share of its meter (an enrollment of another program at the same meter takes its share).
async fn event_parts(db: &Db, stages: &[StagePart]) -> Result<Vec<Part>, DomainError> {
    let clock = std::time::Instant::now();
    let completed: Vec<&StagePart> = stages.iter().filter(|s| s.status == "F1CO").collect();
    let stage_ids: Vec<String> = completed.iter().map(|s| s.external_id.clone()).collect();
    let mut parts = compute::parts(&completed, read::participants(db, &stage_ids).await?);
    compute::share_meters(&mut parts);
    tracing::info!(
        enrollments = parts.len(),
        participants_ms = clock.elapsed().as_millis(),
        "settlement parts read"
    );
    Ok(parts)
}

/// The results of a program part of an event (its parts among `everyone`'s): the bulk read
/// settles most enrollments; the rest are read alone and computed from their own read.
async fn computed(
    db: &Db,
    cal: Calendar,
    program: &ProgramTerms,
    event_code: &str,
    everyone: &[Part],
) -> Result<Vec<Computed>, DomainError> {
    let method = program.method()?;
    let clock = std::time::Instant::now();
    let all: Vec<Part> = everyone
        .iter()
        .filter(|p| p.program_code == program.code)
        .cloned()
        .collect();
    if all.is_empty() {
        return Ok(Vec::new());
    }
    let data = read::event_data(db, cal, program, event_code, &all).await?;
    let read_ms = clock.elapsed().as_millis();
    let mut alone = 0usize;
    let mut out = Vec::with_capacity(all.len());
    for (part, first) in all
        .iter()
        .zip(compute::from_bulk(cal, program, method, &all, &data))
    {
        let result = match first {
            Some(r) => r,
            None => {
                alone += 1;
                let own = read::alone(db, cal, part).await?;
                let excluded = data.excluded(&part.service_point_id);
                compute::from_own_read(cal, program, method, part, &own, excluded, &data.prices)
            }
        };
        out.push(result);
    }
    tracing::info!(
        program = %program.code,
        event = event_code,
        enrollments = all.len(),
        read_alone = alone,
        bulk_read_ms = read_ms,
        computed_ms = clock.elapsed().as_millis() - read_ms,
        "settlement computed"
    );
    Ok(out)
}
