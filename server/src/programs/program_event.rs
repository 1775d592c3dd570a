//! The program side's view of the grid's events: each stage as a "program event" with its
//! lifecycle (flow 4), the devices reserved for it (flow 5) and their outcomes (flow 6).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::db::Tx;
use crate::error::DomainError;
use crate::integration::handlers::{decode, reject};
use crate::integration::inbound::{HandlerError, Rejection};
use crate::integration::wire;
use crate::with_tx;

/// Upserts the program side's row for a stage ("program event").
#[allow(clippy::too_many_arguments)]
pub(crate) async fn upsert_program_event(
    tx: &mut Tx,
    event: &str,
    stage: &str,
    program: &str,
    category: &str,
    status: &str,
    reason: Option<&str>,
    window: (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    with_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO program_events (external_id, event_external_id, program_code, category, status, reason, starts_at, ends_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (external_id) DO UPDATE SET status = excluded.status, reason = COALESCE(excluded.reason, program_events.reason),
            starts_at = excluded.starts_at, ends_at = excluded.ends_at, updated_at = excluded.updated_at"
    )
    .bind(stage)
    .bind(event)
    .bind(program)
    .bind(category)
    .bind(status)
    .bind(reason)
    .bind(window.0)
    .bind(window.1)
    .bind(now)
    .execute(c)
    .await
    .map_err(DomainError::from)?
    .rows_affected()
    });
    Ok(())
}

/// The program side's lifecycle order of a stage: a stage never moves back.
fn lifecycle_rank(code: &str) -> u8 {
    match code {
        "X1SD" => 0,
        "X1IP" => 1,
        _ => 2,
    }
}

/// Flow 4, program side: a stage was scheduled, started, completed or cancelled.
pub(crate) async fn stage_status(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let st: wire::ProgramEventStatus = decode(payload)?;
    let current: Option<String> = with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT status FROM program_events WHERE external_id = $1"
    )
    .bind(&st.external_identifier)
    .fetch_optional(c)
    .await
    .map_err(DomainError::from)?);
    if let Some(cur) = &current {
        let ended = matches!(cur.as_str(), "F1CO" | "F1CN");
        if ended || lifecycle_rank(st.action.as_str()) < lifecycle_rank(cur) {
            return Err(reject(format!(
                "action: stage `{}` is {cur}; it cannot become {}",
                st.external_identifier,
                st.action.as_str()
            )));
        }
    }
    upsert_program_event(
        tx,
        &st.event_external_identifier,
        &st.external_identifier,
        &st.program_code,
        st.event_category.as_str(),
        st.action.as_str(),
        st.reason.as_deref(),
        (st.start_time, st.end_time),
        now,
    )
    .await?;
    if st.action == wire::LifecycleAction::Cancel {
        with_tx!(tx, |c| {
            sqlx::query("UPDATE program_event_devices SET outcome = 'D1CN', updated_at = $1 WHERE external_id = $2 AND outcome IS NULL")
            .bind(now)
            .bind(&st.external_identifier)
            .execute(c)
            .await
            .map_err(DomainError::from)?
            .rows_affected()
        });
    }
    Ok(json!({"externalIdentifier": st.external_identifier, "status": st.action.as_str()}))
}

/// Flow 5, program side: the devices reserved for a stage (the list replaces any earlier one).
pub(crate) async fn device_reservation(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let r: wire::DeviceReservation = decode(payload)?;
    let status: Option<String> = with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT status FROM program_events WHERE external_id = $1"
    )
    .bind(&r.external_identifier)
    .fetch_optional(c)
    .await
    .map_err(DomainError::from)?);
    if matches!(status.as_deref(), Some("F1CO" | "F1CN")) {
        return Err(reject(format!(
            "externalIdentifier: stage `{}` has ended; it takes no reservation",
            r.external_identifier
        )));
    }
    let category = "X1EC";
    if status.is_none() {
        upsert_program_event(
            tx,
            &r.event_external_identifier,
            &r.external_identifier,
            &r.program_code,
            category,
            "X1SD",
            None,
            (r.start_time, r.end_time),
            now,
        )
        .await?;
    }
    with_tx!(tx, |c| sqlx::query(
        "DELETE FROM program_event_devices WHERE external_id = $1 AND outcome IS NULL"
    )
    .bind(&r.external_identifier)
    .execute(c)
    .await
    .map_err(DomainError::from)?
    .rows_affected());
    let rows: Vec<Vec<crate::db::Arg>> = r
        .device_list
        .iter()
        .map(|d| {
            vec![
                crate::db::Arg::Text(r.external_identifier.clone()),
                crate::db::Arg::Text(d.head_end_system.clone()),
                crate::db::Arg::Text(d.nic_id.clone()),
                crate::db::Arg::OptInt(d.enrollment_id),
                crate::db::Arg::Float(d.expected_kw),
                crate::db::Arg::Time(now),
            ]
        })
        .collect();
    crate::db::insert_rows(
        tx,
        "program_event_devices",
        &[
            "external_id",
            "head_end",
            "nic_id",
            "enrollment_id",
            "expected_kw",
            "updated_at",
        ],
        &rows,
    )
    .await
    .map_err(|e| match e {
        DomainError::Conflict(_) => reject("deviceList: a device is listed twice"),
        other => HandlerError::from(other),
    })?;
    Ok(json!({"externalIdentifier": r.external_identifier, "reserved": r.device_list.len()}))
}

/// Flow 6, program side: what each reserved device did.
pub(crate) async fn device_outcome(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let b: wire::DeviceOutcomeBatch = decode(payload)?;
    let mut unknown = Vec::new();
    for o in &b.post_outcome_list {
        let n = with_tx!(tx, |c| {
            sqlx::query(
            "UPDATE program_event_devices SET outcome = $1, participation_start = $2, participation_end = $3, updated_at = $4
             WHERE external_id = $5 AND head_end = $6 AND nic_id = $7"
        )
        .bind(o.outcome.as_str())
        .bind(o.participation_start)
        .bind(o.participation_end)
        .bind(now)
        .bind(&b.external_identifier)
        .bind(&o.head_end_system)
        .bind(&o.nic_id)
        .execute(c)
        .await
        .map_err(DomainError::from)?
        .rows_affected()
        });
        if n == 0 {
            unknown.push(json!({"headEndSystem": o.head_end_system, "nicId": o.nic_id}));
        }
    }
    if !unknown.is_empty() {
        let mut rej = Rejection::new(format!(
            "postOutcomeList: {} device(s) were not reserved for stage `{}`",
            unknown.len(),
            b.external_identifier
        ));
        rej.extra = Some(json!(unknown));
        return Err(HandlerError::Rejected(rej));
    }
    Ok(json!({"externalIdentifier": b.external_identifier, "recorded": b.post_outcome_list.len()}))
}
