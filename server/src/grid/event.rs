//! Events: created from a strategy for a window, planned into stages, and moved through
//! their lifecycle. Each transition is one transaction with its audit row and its outgoing
//! integration messages.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{json, Value};

use crate::calendar::Calendar;
use crate::db::audit::{append, NewAuditEntry};
use crate::db::event::{self as store, NewEventRow, StatusWrite};
use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::grid::lifecycle::{transition, Action, Actor, EventStatus, Facts, Step};
use crate::grid::strategy::get_strategy_tx;
use crate::integration::message::{enqueue, new_message_id, NewMessage, DEFAULT_MAX_ATTEMPTS};
use crate::integration::wire::Flow;

/// Longest event window accepted.
pub const MAX_EVENT_HOURS: i64 = 24;
pub use crate::db::event::{EventRow, StageRow};

impl EventRow {
    pub fn status(&self) -> EventStatus {
        EventStatus::parse(&self.status).unwrap_or(EventStatus::New)
    }
    pub fn zone(&self) -> Vec<i64> {
        serde_json::from_str(&self.zone_node_ids).unwrap_or_default()
    }
    pub fn programs(&self) -> Vec<String> {
        serde_json::from_str(&self.program_codes).unwrap_or_default()
    }
    pub fn facts(&self, has_stages: bool) -> Facts {
        Facts {
            submitted_by: self.submitted_by.clone(),
            approved_by: self.approved_by.clone(),
            second_approval_required: self.second_approval_required,
            has_stages,
        }
    }
    /// The program side's category for this event type.
    pub fn category(&self) -> &'static str {
        match self.event_type.as_str() {
            "Emergency" => "X1EM",
            "Reliability" => "X1RE",
            "DeviceTest" => "X1DT",
            _ => "X1EC",
        }
    }
}

/// A checked event window: starts before it ends, on the 15-minute grid, at most a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventWindow {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl EventWindow {
    pub fn new(
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        if ends_at <= starts_at {
            return Err(DomainError::invalid(
                "ends at: the window must end after it starts",
            ));
        }
        if ends_at - starts_at > Duration::hours(MAX_EVENT_HOURS) {
            return Err(DomainError::invalid(format!(
                "ends at: an event lasts at most {MAX_EVENT_HOURS} hours"
            )));
        }
        if starts_at <= now {
            return Err(DomainError::invalid(
                "starts at: the window must start in the future",
            ));
        }
        let quarter = Duration::minutes(15);
        let aligned = |t: DateTime<Utc>| t.duration_trunc(quarter).map(|a| a == t).unwrap_or(false);
        if !aligned(starts_at) || !aligned(ends_at) {
            return Err(DomainError::invalid(
                "starts at / ends at: events run on whole quarter hours (:00, :15, :30, :45)",
            ));
        }
        Ok(EventWindow { starts_at, ends_at })
    }

    pub fn intervals(&self) -> usize {
        ((self.ends_at - self.starts_at).num_minutes() / 15) as usize
    }
}

/// Parses a time typed into the console: local wall time in the utility's zone (with the
/// zone's abbreviation or an offset to choose in a fold), or RFC 3339 with any offset.
pub fn parse_time(cal: Calendar, field: &str, raw: &str) -> Result<DateTime<Utc>, DomainError> {
    cal.parse_input(field, raw)
}

pub async fn get_event(db: &Db, id: i64) -> Result<Option<EventRow>, DomainError> {
    store::get_event(db, id).await
}

pub async fn get_event_tx(tx: &mut Tx, id: i64) -> Result<EventRow, DomainError> {
    store::get_event_tx(tx, id)
        .await?
        .ok_or_else(|| DomainError::not_found(format!("event {id}")))
}

pub async fn list_events(
    db: &Db,
    status: Option<EventStatus>,
) -> Result<Vec<EventRow>, DomainError> {
    store::list_events(db, status.map(|s| s.as_str()).unwrap_or("")).await
}

/// Creates an event from a strategy: the strategy's settings are copied, so later edits
/// to the strategy leave the event as it was planned.
pub async fn create_event(
    db: &Db,
    cal: Calendar,
    actor: &Actor,
    strategy_id: i64,
    name: &str,
    window: EventWindow,
    now: DateTime<Utc>,
) -> Result<EventRow, DomainError> {
    if !matches!(
        actor,
        Actor::Person {
            role: app::model::Role::Operator,
            ..
        }
    ) {
        return Err(DomainError::Forbidden("create events".into()));
    }
    let name = name.trim();
    if name.chars().count() > 120 {
        return Err(DomainError::invalid("name: at most 120 characters"));
    }
    let mut tx = db.begin().await?;
    let s = get_strategy_tx(&mut tx, strategy_id)
        .await?
        .ok_or_else(|| {
            DomainError::invalid(format!("strategy: there is no strategy {strategy_id}"))
        })?;
    if s.archived_at.is_some() {
        return Err(DomainError::invalid(format!(
            "strategy: `{}` is archived; events are created from active strategies",
            s.name
        )));
    }
    let name = if name.is_empty() {
        format!("{} {}", s.name, cal.show(window.starts_at))
    } else {
        name.to_string()
    };
    let temp_code = format!("new-{}", new_message_id());
    let id = store::insert_event(
        &mut tx,
        &NewEventRow {
            code: &temp_code,
            name: &name,
            strategy_id: s.id,
            starts_at: window.starts_at,
            ends_at: window.ends_at,
            zone_node_ids: &s.zone_node_ids,
            program_codes: &s.program_codes,
            device_groups: &s.device_groups,
            event_type: &s.event_type,
            priority: s.priority,
            ba_check: s.ba_check,
            objective: &s.objective,
            target_mw: s.target_mw,
            max_increase_pct: s.max_increase_pct,
            control_level: &s.control_level,
            override_rules: s.override_rules,
            created_by: actor.name(),
        },
        now,
    )
    .await?;
    let code = format!("EV-{id:05}");
    store::set_event_code(&mut tx, id, &code).await?;
    append(
        &mut tx,
        NewAuditEntry::new(actor.name(), "event.create", "event", &code).after(json!({
            "name": name, "strategy": s.name, "startsAt": window.starts_at, "endsAt": window.ends_at,
            "objective": s.objective, "eventType": s.event_type})),
    )
    .await?;
    let row = get_event_tx(&mut tx, id).await?;
    tx.commit().await?;
    Ok(row)
}

pub(crate) async fn stage_count(tx: &mut Tx, event_id: i64) -> Result<i64, DomainError> {
    store::stage_count(tx, event_id).await
}

/// Writes the new status (and who did it) and the audit row.
pub(crate) async fn set_status(
    tx: &mut Tx,
    ev: &EventRow,
    to: EventStatus,
    actor: &Actor,
    action: &str,
    extra: Value,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let who = actor.name();
    let (col, reason): (Option<&'static str>, Option<&str>) = match to {
        EventStatus::Submitted => (Some("submitted_by"), None),
        EventStatus::Denied => (Some("denied_by"), extra["reason"].as_str()),
        EventStatus::Canceled => (Some("canceled_by"), extra["reason"].as_str()),
        _ => (None, None),
    };
    let time_column = match to {
        EventStatus::Submitted => Some("submitted_at"),
        EventStatus::InProgress => Some("started_at"),
        EventStatus::Completed => Some("completed_at"),
        _ => None,
    };
    let write = StatusWrite {
        id: ev.id,
        from: &ev.status,
        to: to.as_str(),
        reason,
        time_column,
        actor_column: col.map(|c| (c, who)),
    };
    let n = store::update_status(tx, &write, now).await?;
    if n != 1 {
        return Err(DomainError::Conflict(format!(
            "event {} changed while you were looking at it; reload and try again",
            ev.code
        )));
    }
    let mut after = json!({"status": to.as_str()});
    if let (Some(obj), Some(extra)) = (after.as_object_mut(), extra.as_object()) {
        obj.extend(extra.clone());
    }
    append(
        tx,
        NewAuditEntry::new(who, &format!("event.{action}"), "event", &ev.code)
            .before(json!({"status": ev.status}))
            .after(after),
    )
    .await?;
    // OpenADR subscribers hear of the event's publication, withdrawal or change.
    crate::openadr::notify::event_status_changed(tx, ev.id, &ev.status, to.as_str(), now).await?;
    Ok(())
}

/// A grid → programs message, queued in the caller's transaction.
pub(crate) async fn send(
    tx: &mut Tx,
    flow: Flow,
    correlation: &str,
    payload: Value,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    enqueue(
        tx,
        &NewMessage {
            message_id: new_message_id(),
            flow: flow.as_str().into(),
            correlation_id: Some(correlation.into()),
            sender: "grid".into(),
            recipient: "programs".into(),
            payload,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        },
        now,
    )
    .await?;
    Ok(())
}

pub async fn stages_tx(tx: &mut Tx, event_id: i64) -> Result<Vec<StageRow>, DomainError> {
    store::stages_tx(tx, event_id).await
}

pub async fn stages(db: &Db, event_id: i64) -> Result<Vec<StageRow>, DomainError> {
    store::stages(db, event_id).await
}

/// The program side's id for one program's part of a stage.
pub fn program_event_id(stage_external_id: &str, program: &str) -> String {
    format!("{stage_external_id}-{program}")
}

/// Flow 4 for every program part of a stage.
pub(crate) async fn send_stage_status(
    tx: &mut Tx,
    ev: &EventRow,
    stage: &StageRow,
    action: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<usize, DomainError> {
    let programs = store::stage_programs(tx, stage.id).await?;
    for p in &programs {
        let mut payload = json!({
            "eventExternalIdentifier": ev.code,
            "externalIdentifier": program_event_id(&stage.external_id, p),
            "programCode": p,
            "eventCategory": ev.category(),
            "action": action,
            "startTime": stage.starts_at,
            "endTime": stage.ends_at,
        });
        if let Some(r) = reason {
            payload["reason"] = json!(r);
        }
        send(tx, Flow::StageStatus, &ev.code, payload, now).await?;
    }
    Ok(programs.len())
}

/// Sums, per interval time, the planned reduction of the open events plus `event_id`, and
/// says whether any interval goes over the balancing-authority threshold.
async fn exceeds_ba_threshold(
    tx: &mut Tx,
    event_id: i64,
    threshold_kw: f64,
) -> Result<Option<(DateTime<Utc>, f64)>, DomainError> {
    let row = store::peak_open_reduction(tx, event_id).await?;
    Ok(row.filter(|(_, kw)| *kw > threshold_kw))
}

/// Open events of lower priority that share devices with `ev` in an overlapping window.
async fn conflicting(tx: &mut Tx, ev: &EventRow, lower: bool) -> Result<Vec<i64>, DomainError> {
    store::conflicting_events(tx, ev.id, ev.priority, ev.starts_at, ev.ends_at, lower).await
}

/// What an operator or approver asks of an event, in words for the flash message.
pub async fn act(
    db: &Db,
    cal: Calendar,
    actor: &Actor,
    id: i64,
    action: Action,
    ba_threshold_kw: f64,
    now: DateTime<Utc>,
) -> Result<String, DomainError> {
    if let Action::Plan { stages } = &action {
        let ev = get_event(db, id)
            .await?
            .ok_or_else(|| DomainError::not_found(format!("event {id}")))?;
        transition(ev.status(), &action, actor, &ev.facts(false))?;
        return crate::grid::plan::plan_event(db, cal, actor, &ev, stages, now).await;
    }
    let mut tx = db.begin().await?;
    let ev = get_event_tx(&mut tx, id).await?;
    let has_stages = stage_count(&mut tx, id).await? > 0;
    let step = transition(ev.status(), &action, actor, &ev.facts(has_stages))?;
    // The plan's warnings go with the submit and the approval: in the answer the person
    // reads and in the audit record of what they decided on.
    let warnings = plan_warnings(cal, &ev);
    let message = match (&action, step) {
        (Action::Submit, Step::To(to)) => {
            let over = if ev.ba_check {
                exceeds_ba_threshold(&mut tx, ev.id, ba_threshold_kw).await?
            } else {
                None
            };
            if let Some((at, _)) = over {
                store::require_second_approval(&mut tx, ev.id).await?;
                set_status(
                    &mut tx,
                    &ev,
                    to,
                    actor,
                    "submit",
                    json!({"secondApprovalRequired": true, "overThresholdAt": at, "warnings": warnings}),
                    now,
                )
                .await?;
                format!(
                    "{} submitted. Open events together exceed the balancing-authority threshold at {}: two approvals are needed.",
                    ev.code,
                    cal.show(at)
                )
            } else {
                set_status(
                    &mut tx,
                    &ev,
                    to,
                    actor,
                    "submit",
                    json!({"warnings": warnings}),
                    now,
                )
                .await?;
                format!("{} submitted for approval.", ev.code)
            }
        }
        (Action::Approve, Step::FirstApproval) => {
            let n = store::record_first_approval(&mut tx, ev.id, actor.name(), now).await?;
            if n != 1 {
                return Err(DomainError::Conflict(
                    "the event was approved meanwhile; reload".into(),
                ));
            }
            append(
                &mut tx,
                NewAuditEntry::new(actor.name(), "event.approve_first", "event", &ev.code)
                    .after(json!({"status": ev.status, "awaiting": "second approval"})),
            )
            .await?;
            format!(
                "{}: first approval recorded; a second approver must approve.",
                ev.code
            )
        }
        (Action::Approve, Step::To(to)) => {
            let higher = conflicting(&mut tx, &ev, false).await?;
            if let Some(h) = higher.first() {
                let other = get_event_tx(&mut tx, *h).await?;
                return Err(DomainError::Conflict(format!(
                    "{} shares devices with {} ({}, priority {}), which outranks it; cancel one of them first",
                    ev.code, other.code, other.event_type, other.priority
                )));
            }
            store::record_approval(
                &mut tx,
                ev.id,
                ev.second_approval_required,
                actor.name(),
                now,
            )
            .await?;
            set_status(
                &mut tx,
                &ev,
                to,
                actor,
                "approve",
                json!({"warnings": warnings}),
                now,
            )
            .await?;
            let mut msg = format!("{} approved; it will be scheduled now.", ev.code);
            for lower in conflicting(&mut tx, &ev, true).await? {
                let other = get_event_tx(&mut tx, lower).await?;
                let reason = format!(
                    "superseded by higher-priority event {} ({})",
                    ev.code, ev.event_type
                );
                cancel_in_tx(&mut tx, &other, actor, &reason, now).await?;
                msg.push_str(&format!(" {} was cancelled: {reason}.", other.code));
            }
            msg
        }
        (Action::Deny { reason }, Step::To(to)) => {
            set_status(
                &mut tx,
                &ev,
                to,
                actor,
                "deny",
                json!({"reason": reason.trim()}),
                now,
            )
            .await?;
            format!("{} denied.", ev.code)
        }
        (Action::Cancel { reason }, Step::To(_)) => {
            cancel_in_tx(&mut tx, &ev, actor, reason.trim(), now).await?;
            format!("{} cancelled.", ev.code)
        }
        (a, s) => {
            return Err(DomainError::Internal(format!(
                "no handling for {} leading to {s:?}",
                a.name()
            )))
        }
    };
    tx.commit().await?;
    let mut message = message;
    if matches!(action, Action::Submit | Action::Approve) {
        for w in &warnings {
            message.push_str(" Warning: ");
            message.push_str(w);
        }
    }
    Ok(message)
}

/// The stored plan's warnings in words (none before a plan, or for a plan without a verdict).
fn plan_warnings(cal: Calendar, ev: &EventRow) -> Vec<String> {
    ev.plan_summary
        .as_deref()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .and_then(|v| crate::grid::feasibility::from_summary(cal, &v))
        .map(|f| f.warnings)
        .unwrap_or_default()
}

/// Cancels an event: its stages end, the program side hears F1CN for every stage it knew
/// of, and reserved devices that had not finished get `D1CN`.
pub(crate) async fn cancel_in_tx(
    tx: &mut Tx,
    ev: &EventRow,
    actor: &Actor,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let was_sent = matches!(
        ev.status(),
        EventStatus::Scheduled | EventStatus::InProgress
    );
    let stages = stages_tx(tx, ev.id).await?;
    for st in stages.iter().filter(|s| s.status != "completed") {
        if was_sent {
            send_stage_status(tx, ev, st, "F1CN", Some(reason), now).await?;
        }
    }
    store::cancel_stages(tx, ev.id).await?;
    set_status(
        tx,
        ev,
        EventStatus::Canceled,
        actor,
        "cancel",
        json!({"reason": reason}),
        now,
    )
    .await
}

/// A customer opted out of `event_code` on the program side (flow 7): the device's
/// reservation is released and the event's expected reduction re-evaluated — the stage's
/// expected kW and the planned load of the stage's intervals — with an audit row, in the
/// caller's transaction. When the device's aggregator has the event over OpenADR, that
/// OpenADR event is updated (or deleted, with its last device) and its subscribers hear of
/// it. Returns the kW taken out, if the device was reserved.
pub async fn apply_opt_out(
    tx: &mut Tx,
    event_code: &str,
    head_end: &str,
    nic_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<f64>, DomainError> {
    let Some(r) = store::open_reservation(tx, event_code, head_end, nic_id).await? else {
        return Ok(None);
    };
    let openadr = r
        .aggregator_ref
        .as_deref()
        .filter(|_| crate::openadr::notify::published(&r.event_status));
    let before = match openadr {
        Some(ven) => crate::db::openadr::published_in(tx, r.stage_id, ven, &r.program_code).await?,
        None => None,
    };
    store::release_reservation(tx, &r).await?;
    // The stage's OpenADR event expects less, or is gone with its aggregator's last device.
    crate::db::openadr::refresh_stages(tx, &[r.stage_id]).await?;
    if let Some(ven) = openadr {
        let after = crate::db::openadr::published_in(tx, r.stage_id, ven, &r.program_code).await?;
        crate::openadr::notify::published_event_changed(tx, before, after, now).await?;
    }
    let (kw, stage) = (r.expected_kw, r.external_id);
    append(
        tx,
        NewAuditEntry::new("integration", "event.opt_out", "event", event_code).after(json!({
            "stage": stage, "headEndSystem": head_end, "nicId": nic_id, "expectedKwRemoved": kw})),
    )
    .await?;
    Ok(Some(kw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 7, 15, h, m, 0).unwrap()
    }

    #[test]
    fn a_window_that_ends_before_it_starts_is_refused() {
        let err = EventWindow::new(t(16, 0), t(15, 0), t(9, 0)).unwrap_err();
        assert!(err.to_string().contains("end after it starts"), "{err}");
    }

    #[test]
    fn a_window_off_the_quarter_hour_is_refused() {
        assert!(EventWindow::new(t(16, 5), t(18, 0), t(9, 0)).is_err());
    }

    #[test]
    fn a_window_in_the_past_is_refused() {
        assert!(EventWindow::new(t(8, 0), t(10, 0), t(9, 0)).is_err());
    }

    #[test]
    fn a_four_hour_window_has_sixteen_intervals() {
        let w = EventWindow::new(t(16, 0), t(20, 0), t(9, 0)).unwrap();
        assert_eq!(w.intervals(), 16);
    }

    #[test]
    fn times_parse_from_the_form_and_rfc3339() {
        let cal = Calendar::default();
        // The form's time is local: 16:00 CDT is 21:00 UTC.
        assert_eq!(parse_time(cal, "x", "2026-07-15T16:00").unwrap(), t(21, 0));
        assert_eq!(
            parse_time(cal, "x", "2026-07-15T16:00:00Z").unwrap(),
            t(16, 0)
        );
        assert_eq!(
            parse_time(cal, "x", "2026-07-15T16:00:00-04:00").unwrap(),
            t(20, 0)
        );
        let err = parse_time(cal, "starts at", "tomorrow").unwrap_err();
        assert!(err.to_string().starts_with("starts at:"), "{err}");
    }
}
