//! Events: created from a strategy for a window, planned into stages, and moved through
//! their lifecycle. Each transition is one transaction with its audit row and its outgoing
//! integration messages.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{json, Value};

use crate::calendar::Calendar;
use crate::db::audit::{append, NewAuditEntry};
use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::grid::lifecycle::{transition, Action, Actor, EventStatus, Facts, Step};
use crate::grid::strategy::get_strategy_tx;
use crate::integration::message::{enqueue, new_message_id, NewMessage, DEFAULT_MAX_ATTEMPTS};
use crate::integration::wire::Flow;
use crate::{with_db, with_tx};

/// Longest event window accepted.
pub const MAX_EVENT_HOURS: i64 = 24;
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub strategy_id: i64,
    pub status: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub zone_node_ids: String,
    pub program_codes: String,
    pub device_groups: String,
    pub event_type: String,
    pub priority: i32,
    pub ba_check: bool,
    pub objective: String,
    pub target_mw: Option<f64>,
    pub max_increase_pct: Option<f64>,
    pub control_level: String,
    pub override_rules: bool,
    pub plan_summary: Option<String>,
    pub planned_at: Option<DateTime<Utc>>,
    pub second_approval_required: bool,
    pub created_by: String,
    pub submitted_by: Option<String>,
    pub approved_by: Option<String>,
    pub second_approved_by: Option<String>,
    pub denied_by: Option<String>,
    pub canceled_by: Option<String>,
    pub decision_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const EVENT_COLUMNS: &str = "id, code, name, strategy_id, status, starts_at, ends_at, zone_node_ids, program_codes, device_groups, event_type, priority, ba_check, objective, target_mw, max_increase_pct, control_level, override_rules, plan_summary, planned_at, second_approval_required, created_by, submitted_by, approved_by, second_approved_by, denied_by, canceled_by, decision_reason, created_at, updated_at";

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
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1");
    Ok(with_db!(db, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await?))
}

pub async fn get_event_tx(tx: &mut Tx, id: i64) -> Result<EventRow, DomainError> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1");
    let row: Option<EventRow> = with_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await?);
    row.ok_or_else(|| DomainError::not_found(format!("event {id}")))
}

pub async fn list_events(
    db: &Db,
    status: Option<EventStatus>,
) -> Result<Vec<EventRow>, DomainError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE ($1 = '' OR status = $1) ORDER BY starts_at DESC, id DESC LIMIT 500"
    );
    let s = status.map(|s| s.as_str()).unwrap_or("");
    Ok(with_db!(db, |c| sqlx::query_as(&sql)
        .bind(s)
        .fetch_all(c)
        .await?))
}

/// Creates an event from a strategy: the strategy's settings are copied, so later edits
/// to the strategy leave the event as it was planned.
pub async fn create_event(
    db: &Db,
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
        format!("{} {}", s.name, window.starts_at.format("%Y-%m-%d %H:%M"))
    } else {
        name.to_string()
    };
    let temp_code = format!("new-{}", new_message_id());
    let id: i64 = with_tx!(&mut tx, |c| {
        sqlx::query_scalar(
        "INSERT INTO events (code, name, strategy_id, status, starts_at, ends_at, zone_node_ids, program_codes, device_groups,
            event_type, priority, ba_check, objective, target_mw, max_increase_pct, control_level, override_rules,
            created_by, created_at, updated_at)
         VALUES ($1, $2, $3, 'New', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18) RETURNING id"
    )
    .bind(&temp_code).bind(&name).bind(s.id).bind(window.starts_at).bind(window.ends_at)
    .bind(&s.zone_node_ids).bind(&s.program_codes).bind(&s.device_groups).bind(&s.event_type)
    .bind(s.priority).bind(s.ba_check).bind(&s.objective).bind(s.target_mw).bind(s.max_increase_pct)
    .bind(&s.control_level).bind(s.override_rules).bind(actor.name()).bind(now)
    .fetch_one(c)
    .await?
    });
    let code = format!("EV-{id:05}");
    with_tx!(&mut tx, |c| sqlx::query(
        "UPDATE events SET code = $1 WHERE id = $2"
    )
    .bind(&code)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected());
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
    Ok(with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM event_stages WHERE event_id = $1"
    )
    .bind(event_id)
    .fetch_one(c)
    .await?))
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
    let (col, reason): (Option<&str>, Option<&str>) = match to {
        EventStatus::Submitted => (Some("submitted_by"), None),
        EventStatus::Denied => (Some("denied_by"), extra["reason"].as_str()),
        EventStatus::Canceled => (Some("canceled_by"), extra["reason"].as_str()),
        _ => (None, None),
    };
    let mut sql = String::from(
        "UPDATE events SET status = $1, updated_at = $2, decision_reason = COALESCE($3, decision_reason)",
    );
    match to {
        EventStatus::Submitted => sql.push_str(", submitted_at = $2"),
        EventStatus::InProgress => sql.push_str(", started_at = $2"),
        EventStatus::Completed => sql.push_str(", completed_at = $2"),
        _ => {}
    }
    if let Some(col) = col {
        sql.push_str(&format!(", {col} = $6"));
    }
    sql.push_str(" WHERE id = $4 AND status = $5");
    let n = with_tx!(tx, |c| {
        let q = sqlx::query(&sql)
            .bind(to.as_str())
            .bind(now)
            .bind(reason)
            .bind(ev.id)
            .bind(&ev.status);
        let q = if col.is_some() { q.bind(who) } else { q };
        q.execute(c).await?.rows_affected()
    });
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

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StageRow {
    pub id: i64,
    pub seq: i32,
    pub external_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub expected_kw: f64,
    pub device_count: i64,
    pub status: String,
}

const STAGE_SQL: &str = "SELECT id, seq, external_id, starts_at, ends_at, expected_kw, CAST(device_count AS BIGINT) AS device_count, status
     FROM event_stages WHERE event_id = $1 ORDER BY seq";

pub async fn stages_tx(tx: &mut Tx, event_id: i64) -> Result<Vec<StageRow>, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_as(STAGE_SQL)
            .bind(event_id)
            .fetch_all(c)
            .await?
    }))
}

pub async fn stages(db: &Db, event_id: i64) -> Result<Vec<StageRow>, DomainError> {
    Ok(with_db!(db, |c| {
        sqlx::query_as(STAGE_SQL)
            .bind(event_id)
            .fetch_all(c)
            .await?
    }))
}

/// The programs that have devices in a stage.
async fn stage_programs(tx: &mut Tx, stage_id: i64) -> Result<Vec<String>, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_scalar(
        "SELECT DISTINCT program_code FROM event_stage_devices WHERE stage_id = $1 ORDER BY program_code"
    )
    .bind(stage_id)
    .fetch_all(c)
    .await?
    }))
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
    let programs = stage_programs(tx, stage.id).await?;
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
    let row: Option<(DateTime<Utc>, f64)> = with_tx!(tx, |c| sqlx::query_as(
        "SELECT i.starts_at, SUM(i.baseline_kw - i.planned_kw) AS kw
         FROM event_intervals i JOIN events e ON e.id = i.event_id
         WHERE (e.id = $1 OR e.status IN ('Submitted', 'Approved', 'Scheduled', 'InProgress'))
           AND i.starts_at >= e.starts_at AND i.starts_at < e.ends_at
         GROUP BY i.starts_at
         ORDER BY kw DESC LIMIT 1"
    )
    .bind(event_id)
    .fetch_optional(c)
    .await?);
    Ok(row.filter(|(_, kw)| *kw > threshold_kw))
}

/// Open events of lower priority that share devices with `ev` in an overlapping window.
async fn conflicting(tx: &mut Tx, ev: &EventRow, lower: bool) -> Result<Vec<i64>, DomainError> {
    let cmp = if lower { "<" } else { ">" };
    let sql = format!(
        "SELECT e.id FROM events e
         WHERE e.id <> $1 AND e.status IN ('Submitted', 'Approved', 'Scheduled', 'InProgress')
           AND e.priority {cmp} $2 AND e.starts_at < $3 AND e.ends_at > $4
           AND EXISTS (SELECT 1 FROM event_stage_devices o
                       WHERE o.event_id = e.id AND o.grid_device_id IN
                           (SELECT m.grid_device_id FROM event_stage_devices m WHERE m.event_id = $1))
         ORDER BY e.id"
    );
    Ok(with_tx!(tx, |c| sqlx::query_scalar(&sql)
        .bind(ev.id)
        .bind(ev.priority)
        .bind(ev.ends_at)
        .bind(ev.starts_at)
        .fetch_all(c)
        .await?))
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
    let message = match (&action, step) {
        (Action::Submit, Step::To(to)) => {
            let over = if ev.ba_check {
                exceeds_ba_threshold(&mut tx, ev.id, ba_threshold_kw).await?
            } else {
                None
            };
            if let Some((at, _)) = over {
                with_tx!(&mut tx, |c| sqlx::query(
                    "UPDATE events SET second_approval_required = TRUE WHERE id = $1"
                )
                .bind(ev.id)
                .execute(c)
                .await?
                .rows_affected());
                set_status(
                    &mut tx,
                    &ev,
                    to,
                    actor,
                    "submit",
                    json!({"secondApprovalRequired": true, "overThresholdAt": at}),
                    now,
                )
                .await?;
                format!(
                    "{} submitted. Open events together exceed the balancing-authority threshold at {}: two approvals are needed.",
                    ev.code,
                    cal.show(at)
                )
            } else {
                set_status(&mut tx, &ev, to, actor, "submit", json!({}), now).await?;
                format!("{} submitted for approval.", ev.code)
            }
        }
        (Action::Approve, Step::FirstApproval) => {
            let n = with_tx!(&mut tx, |c| {
                sqlx::query(
                "UPDATE events SET approved_by = $1, approved_at = $2, updated_at = $2 WHERE id = $3 AND approved_by IS NULL"
            )
            .bind(actor.name())
            .bind(now)
            .bind(ev.id)
            .execute(c)
            .await?
            .rows_affected()
            });
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
            let col = if ev.second_approval_required {
                "second_approved"
            } else {
                "approved"
            };
            let sql = format!("UPDATE events SET {col}_by = $1, {col}_at = $2 WHERE id = $3");
            with_tx!(&mut tx, |c| sqlx::query(&sql)
                .bind(actor.name())
                .bind(now)
                .bind(ev.id)
                .execute(c)
                .await?
                .rows_affected());
            set_status(&mut tx, &ev, to, actor, "approve", json!({}), now).await?;
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
    Ok(message)
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
    with_tx!(tx, |c| sqlx::query(
        "UPDATE event_stages SET status = 'canceled' WHERE event_id = $1 AND status <> 'completed'"
    )
    .bind(ev.id)
    .execute(c)
    .await?
    .rows_affected());
    with_tx!(tx, |c| sqlx::query(
        "UPDATE event_stage_devices SET outcome = 'D1CN' WHERE event_id = $1 AND outcome IS NULL"
    )
    .bind(ev.id)
    .execute(c)
    .await?
    .rows_affected());
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
/// caller's transaction. Returns the kW taken out, if the device was reserved.
pub async fn apply_opt_out(
    tx: &mut Tx,
    event_code: &str,
    head_end: &str,
    nic_id: &str,
) -> Result<Option<f64>, DomainError> {
    type Row = (i64, i64, i64, f64, DateTime<Utc>, DateTime<Utc>, String);
    let row: Option<Row> = with_tx!(tx, |c| {
        sqlx::query_as(
        "SELECT d.id, d.event_id, d.stage_id, d.expected_kw, s.starts_at, s.ends_at, s.external_id
         FROM event_stage_devices d JOIN events e ON e.id = d.event_id JOIN event_stages s ON s.id = d.stage_id
         JOIN grid_devices g ON g.id = d.grid_device_id
         WHERE e.code = $1 AND g.head_end = $2 AND g.nic_id = $3 AND d.status = 'reserved' AND d.outcome IS NULL"
    )
    .bind(event_code)
    .bind(head_end)
    .bind(nic_id)
    .fetch_optional(c)
    .await?
    });
    let Some((device_row, event_id, stage_id, kw, from, to, stage)) = row else {
        return Ok(None);
    };
    with_tx!(tx, |c| sqlx::query(
        "UPDATE event_stage_devices SET status = 'opted_out' WHERE id = $1"
    )
    .bind(device_row)
    .execute(c)
    .await?
    .rows_affected());
    with_tx!(tx, |c| {
        sqlx::query(
        "UPDATE event_stages SET expected_kw = expected_kw - $1, device_count = device_count - 1 WHERE id = $2"
    )
    .bind(kw)
    .bind(stage_id)
    .execute(c)
    .await?
    .rows_affected()
    });
    with_tx!(tx, |c| {
        sqlx::query(
        "UPDATE event_intervals SET planned_kw = planned_kw + $1 WHERE event_id = $2 AND starts_at >= $3 AND starts_at < $4"
    )
    .bind(kw)
    .bind(event_id)
    .bind(from)
    .bind(to)
    .execute(c)
    .await?
    .rows_affected()
    });
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
