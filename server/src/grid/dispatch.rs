//! The event scheduler: moves approved events to Scheduled (reservations and stage program
//! events go out), starts and ends stages at their times through the head-end simulator,
//! records the actual load per interval, and completes events with their device outcomes.
//! `tick` does what is due at the clock's time and says what it did; the loop in `main`
//! calls it, tests call it directly.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::db::audit::{append, NewAuditEntry};
use crate::db::dispatch as store;
use crate::db::event::due_events;
use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::grid::event::{
    get_event_tx, program_event_id, send, send_stage_status, set_status, stages_tx, EventRow,
    StageRow,
};
use crate::grid::headend::HeadEndSim;
use crate::grid::lifecycle::{transition, Action, Actor, EventStatus, Step};
use crate::integration::wire::Flow;

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
        let devices = store::reserved_devices(tx, st.id).await?;
        let mut programs: Vec<&str> = devices.iter().map(|d| d.program_code.as_str()).collect();
        programs.dedup();
        for p in programs {
            let list: Vec<Value> = devices
                .iter()
                .filter(|d| d.program_code == p)
                .map(|d| {
                    json!({"headEndSystem": d.head_end, "nicId": d.nic_id, "enrollmentId": d.enrollment_id, "expectedKw": d.expected_kw})
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
    store::schedule_stages(tx, ev.id).await?;
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
    let open = store::open_stage_count(tx, ev.id).await?;
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
    store::set_stage_status(tx, st.id, "in_progress").await?;
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
    let rows = store::device_outcomes(tx, st.id).await?;
    let mut programs: Vec<&str> = rows.iter().map(|r| r.program_code.as_str()).collect();
    programs.dedup();
    for p in programs {
        let list: Vec<Value> = rows
            .iter()
            .filter(|r| r.program_code == p)
            .map(|r| {
                let mut o =
                    json!({"headEndSystem": r.head_end, "nicId": r.nic_id, "outcome": r.outcome});
                if let (Some(s), Some(e)) = (r.participation_start, r.participation_end) {
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
    store::set_stage_status(tx, st.id, "completed").await?;
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
    let rows = store::outcome_counts(tx, event_id).await?;
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
    let (delivered, expected) = store::delivered_and_expected(tx, ev.id).await?;
    let realized = match (delivered, expected) {
        (Some(d), Some(e)) if e > 0.0 => d / e,
        _ => 1.0,
    };
    let due = store::intervals_without_actuals(tx, ev.id, now - Duration::minutes(15)).await?;
    for (idx, baseline, planned) in due {
        let wobble = 1.0 + (((ev.id * 31 + idx as i64 * 17) % 9) as f64 - 4.0) / 400.0;
        let actual = baseline * wobble - (baseline - planned) * realized;
        store::set_interval_actual(tx, ev.id, idx, (actual * 10.0).round() / 10.0).await?;
    }
    Ok(())
}
