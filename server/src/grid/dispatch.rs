//! The event scheduler: moves approved events to Scheduled (reservations and stage program
//! events go out), starts and ends stages at their times through the head-end simulator,
//! records the actual load per interval, and completes events with their device outcomes.
//! `tick` does what is due at the clock's time and says what it did; the loop in `main`
//! calls it, tests call it directly.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::db::audit::{append, NewAuditEntry};
use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::grid::event::{
    get_event_tx, program_event_id, send, send_stage_status, set_status, stages_tx, EventRow,
    StageRow, EVENT_COLUMNS,
};
use crate::grid::headend::HeadEndSim;
use crate::grid::lifecycle::{transition, Action, Actor, EventStatus, Step};
use crate::integration::wire::Flow;
use crate::{with_db, with_tx};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    pub scheduled: usize,
    pub started: usize,
    pub stages_started: usize,
    pub stages_completed: usize,
    pub completed: usize,
}

impl TickReport {
    pub fn is_idle(&self) -> bool {
        *self == TickReport::default()
    }
}

async fn due_events(db: &Db, now: DateTime<Utc>) -> Result<Vec<EventRow>, DomainError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events
         WHERE status = 'Approved' OR (status IN ('Scheduled', 'InProgress') AND starts_at <= $1)
         ORDER BY starts_at, id"
    );
    Ok(with_db!(db, |c| sqlx::query_as(&sql)
        .bind(now)
        .fetch_all(c)
        .await?))
}

/// Does everything due at `now`, one transaction per event step.
pub async fn tick(
    db: &Db,
    sim: &HeadEndSim,
    now: DateTime<Utc>,
) -> Result<TickReport, DomainError> {
    let mut report = TickReport::default();
    for ev in due_events(db, now).await? {
        let mut tx = db.begin().await?;
        // Re-read under the transaction: another process may have moved it.
        let ev = get_event_tx(&mut tx, ev.id).await?;
        match ev.status() {
            EventStatus::Approved => {
                schedule(&mut tx, &ev, now).await?;
                report.scheduled += 1;
            }
            EventStatus::Scheduled if ev.starts_at <= now => {
                step(&mut tx, &ev, Action::Start, "start", json!({}), now).await?;
                report.started += 1;
                let ev = get_event_tx(&mut tx, ev.id).await?;
                run_stages(&mut tx, &ev, sim, now, &mut report).await?;
            }
            EventStatus::InProgress => {
                run_stages(&mut tx, &ev, sim, now, &mut report).await?;
            }
            _ => {}
        }
        tx.commit().await?;
    }
    Ok(report)
}

async fn step(
    tx: &mut Tx,
    ev: &EventRow,
    action: Action,
    name: &str,
    extra: Value,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let to = match transition(ev.status(), &action, &Actor::Scheduler, &ev.facts(true))? {
        Step::To(to) => to,
        other => return Err(DomainError::Internal(format!("scheduler step {other:?}"))),
    };
    set_status(tx, ev, to, &Actor::Scheduler, name, extra, now).await
}

/// Approved → Scheduled: every stage is announced (flow 4, `X1SD`) and its devices are
/// reserved on the program side (flow 5), one message per stage and program.
async fn schedule(tx: &mut Tx, ev: &EventRow, now: DateTime<Utc>) -> Result<(), DomainError> {
    let stages = stages_tx(tx, ev.id).await?;
    let mut messages = 0;
    for st in &stages {
        messages += send_stage_status(tx, ev, st, "X1SD", None, now).await?;
        let devices: Vec<(String, String, String, i64, f64)> = with_tx!(tx, |c| sqlx::query_as(
            "SELECT d.program_code, g.head_end, g.nic_id, g.enrollment_id, d.expected_kw
             FROM event_stage_devices d JOIN grid_devices g ON g.id = d.grid_device_id
             WHERE d.stage_id = $1 AND d.status = 'reserved' ORDER BY d.program_code, d.id"
        )
        .bind(st.id)
        .fetch_all(c)
        .await?);
        let mut programs: Vec<&str> = devices.iter().map(|d| d.0.as_str()).collect();
        programs.dedup();
        for p in programs {
            let list: Vec<Value> = devices
                .iter()
                .filter(|d| d.0 == p)
                .map(|(_, he, nic, enr, kw)| {
                    json!({"headEndSystem": he, "nicId": nic, "enrollmentId": enr, "expectedKw": kw})
                })
                .collect();
            send(
                tx,
                Flow::DeviceReservation,
                &ev.code,
                json!({"eventExternalIdentifier": ev.code, "externalIdentifier": program_event_id(&st.external_id, p),
                    "programCode": p, "startTime": st.starts_at, "endTime": st.ends_at, "deviceList": list}),
                now,
            )
            .await?;
            messages += 1;
        }
    }
    with_tx!(tx, |c| sqlx::query(
        "UPDATE event_stages SET status = 'scheduled' WHERE event_id = $1 AND status = 'planned'"
    )
    .bind(ev.id)
    .execute(c)
    .await?
    .rows_affected());
    step(
        tx,
        ev,
        Action::Schedule,
        "schedule",
        json!({"messages": messages}),
        now,
    )
    .await
}

/// Starts and ends the stages that are due, fills in the actual load of finished intervals,
/// and completes the event once its window is over.
async fn run_stages(
    tx: &mut Tx,
    ev: &EventRow,
    sim: &HeadEndSim,
    now: DateTime<Utc>,
    report: &mut TickReport,
) -> Result<(), DomainError> {
    let stages = stages_tx(tx, ev.id).await?;
    for st in &stages {
        if st.status == "scheduled" && st.starts_at <= now {
            start_stage(tx, ev, st, sim, now).await?;
            report.stages_started += 1;
        }
    }
    let stages = stages_tx(tx, ev.id).await?;
    for st in &stages {
        if st.status == "in_progress" && st.ends_at <= now {
            complete_stage(tx, ev, st, now).await?;
            report.stages_completed += 1;
        }
    }
    record_actuals(tx, ev, now).await?;
    let open: i64 = with_tx!(tx, |c| {
        sqlx::query_scalar(
        "SELECT COUNT(*) FROM event_stages WHERE event_id = $1 AND status IN ('planned', 'scheduled', 'in_progress')"
    )
    .bind(ev.id)
    .fetch_one(c)
    .await?
    });
    if ev.ends_at <= now && open == 0 {
        let outcomes = outcome_counts(tx, ev.id).await?;
        step(
            tx,
            ev,
            Action::Complete,
            "complete",
            json!({"outcomes": outcomes}),
            now,
        )
        .await?;
        report.completed += 1;
    }
    Ok(())
}

async fn start_stage(
    tx: &mut Tx,
    ev: &EventRow,
    st: &StageRow,
    sim: &HeadEndSim,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    send_stage_status(tx, ev, st, "X1IP", None, now).await?;
    let answered = sim
        .dispatch_stage(tx, st.id, st.starts_at, st.ends_at)
        .await?;
    with_tx!(tx, |c| sqlx::query(
        "UPDATE event_stages SET status = 'in_progress' WHERE id = $1"
    )
    .bind(st.id)
    .execute(c)
    .await?
    .rows_affected());
    append(
        tx,
        NewAuditEntry::new("scheduler", "event.stage_start", "event", &ev.code)
            .after(json!({"stage": st.external_id, "dispatched": answered})),
    )
    .await?;
    Ok(())
}

/// Ends a stage: the program side hears `F1CO` and every device's outcome (flow 6).
async fn complete_stage(
    tx: &mut Tx,
    ev: &EventRow,
    st: &StageRow,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    send_stage_status(tx, ev, st, "F1CO", None, now).await?;
    type Row = (
        String,
        String,
        String,
        String,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
    );
    let rows: Vec<Row> = with_tx!(tx, |c| {
        sqlx::query_as(
        "SELECT d.program_code, g.head_end, g.nic_id, COALESCE(d.outcome, 'D1ER'), d.participation_start, d.participation_end
         FROM event_stage_devices d JOIN grid_devices g ON g.id = d.grid_device_id
         WHERE d.stage_id = $1 ORDER BY d.program_code, d.id"
    )
    .bind(st.id)
    .fetch_all(c)
    .await?
    });
    let mut programs: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    programs.dedup();
    for p in programs {
        let list: Vec<Value> = rows
            .iter()
            .filter(|r| r.0 == p)
            .map(|(_, he, nic, outcome, s, e)| {
                let mut o = json!({"headEndSystem": he, "nicId": nic, "outcome": outcome});
                if let (Some(s), Some(e)) = (s, e) {
                    o["participationStart"] = json!(s);
                    o["participationEnd"] = json!(e);
                }
                o
            })
            .collect();
        send(
            tx,
            Flow::DeviceOutcome,
            &ev.code,
            json!({"eventExternalIdentifier": ev.code, "externalIdentifier": program_event_id(&st.external_id, p),
                "postOutcomeList": list}),
            now,
        )
        .await?;
    }
    with_tx!(tx, |c| sqlx::query(
        "UPDATE event_stages SET status = 'completed' WHERE id = $1"
    )
    .bind(st.id)
    .execute(c)
    .await?
    .rows_affected());
    append(
        tx,
        NewAuditEntry::new("scheduler", "event.stage_complete", "event", &ev.code)
            .after(json!({"stage": st.external_id})),
    )
    .await?;
    Ok(())
}

/// Devices per outcome code.
pub async fn outcome_counts(tx: &mut Tx, event_id: i64) -> Result<Value, DomainError> {
    let rows: Vec<(Option<String>, i64)> = with_tx!(tx, |c| {
        sqlx::query_as(
        "SELECT outcome, COUNT(*) FROM event_stage_devices WHERE event_id = $1 GROUP BY outcome ORDER BY outcome"
    )
    .bind(event_id)
    .fetch_all(c)
    .await?
    });
    let mut out = serde_json::Map::new();
    for (o, n) in rows {
        out.insert(o.unwrap_or_else(|| "pending".into()), json!(n));
    }
    Ok(Value::Object(out))
}

/// Actual load of each finished interval: the baseline, less the planned reduction scaled by
/// what the devices really delivered (their telemetry), with a small deterministic wobble
/// so the chart shows measurement rather than the plan.
async fn record_actuals(tx: &mut Tx, ev: &EventRow, now: DateTime<Utc>) -> Result<(), DomainError> {
    let (delivered, expected): (Option<f64>, Option<f64>) = with_tx!(tx, |c| {
        sqlx::query_as(
        "SELECT SUM(actual_kw), SUM(expected_kw) FROM event_stage_devices WHERE event_id = $1 AND outcome IS NOT NULL"
    )
    .bind(ev.id)
    .fetch_one(c)
    .await?
    });
    let realized = match (delivered, expected) {
        (Some(d), Some(e)) if e > 0.0 => d / e,
        _ => 1.0,
    };
    let due: Vec<(i32, f64, f64)> = with_tx!(tx, |c| sqlx::query_as(
        "SELECT idx, baseline_kw, planned_kw FROM event_intervals
         WHERE event_id = $1 AND actual_kw IS NULL AND starts_at <= $2 ORDER BY idx"
    )
    .bind(ev.id)
    .bind(now - Duration::minutes(15))
    .fetch_all(c)
    .await?);
    for (idx, baseline, planned) in due {
        let wobble = 1.0 + (((ev.id * 31 + idx as i64 * 17) % 9) as f64 - 4.0) / 400.0;
        let actual = baseline * wobble - (baseline - planned) * realized;
        with_tx!(tx, |c| sqlx::query(
            "UPDATE event_intervals SET actual_kw = $1 WHERE event_id = $2 AND idx = $3"
        )
        .bind((actual * 10.0).round() / 10.0)
        .bind(ev.id)
        .bind(idx)
        .execute(c)
        .await?
        .rows_affected());
    }
    Ok(())
}
