//! What each side does with a received message. Program side: enrollment requests (flow 1).
//! Grid side: enrollment sync (flow 2), registering devices under their transformers, and
//! the other flows each side receives.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::db::Tx;
use crate::error::DomainError;
use crate::integration::inbound::{HandlerError, Rejection};
use crate::integration::value_maps::{self, ValueMaps};
use crate::integration::wire::{self, Flow, Validate};
use crate::with_tx;

/// The largest enrollment-request batch accepted in one message.
pub const MAX_BATCH: usize = 50_000;

/// Applies `flow`'s message: value maps first (reading them), then the flow's handler.
pub async fn handle(
    tx: &mut Tx,
    flow: Flow,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let maps = ValueMaps::load(tx).await?;
    handle_with(tx, flow, payload, &maps, now).await
}

/// Like [`handle`], with the value maps already read (a batch reads them once).
pub async fn handle_with(
    tx: &mut Tx,
    flow: Flow,
    payload: &Value,
    maps: &ValueMaps,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let (payload, applied) = value_maps::translate(maps, flow, payload).map_err(reject)?;
    let mut ack = dispatch(tx, flow, &payload, now).await?;
    applied.restore(&mut ack);
    Ok(ack)
}

async fn dispatch(
    tx: &mut Tx,
    flow: Flow,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    match flow {
        Flow::EnrollmentRequest => enrollment_request(tx, payload, now).await,
        Flow::EnrollmentSync => enrollment_sync(tx, payload, now).await,
        Flow::DeviceStatusCheck => device_status_check(tx, payload).await,
        Flow::CustomerUnavailability => customer_unavailability(tx, payload, now).await,
        Flow::ProgramRuleSync => program_rule_sync(tx, payload, now).await,
        Flow::AggregatorSync => aggregator_sync(tx, payload, now).await,
        Flow::DeviceScore => device_score(tx, payload, now).await,
        Flow::StageStatus => stage_status(tx, payload, now).await,
        Flow::DeviceReservation => device_reservation(tx, payload, now).await,
        Flow::DeviceOutcome => device_outcome(tx, payload, now).await,
        Flow::CustomerOptOut => customer_opt_out(tx, payload, now).await,
        Flow::NetworkLocationTransfer => network_location_transfer(tx, payload, now).await,
    }
}

fn reject(msg: impl Into<String>) -> HandlerError {
    HandlerError::Rejected(Rejection::new(msg))
}

/// Reads and checks a flow's payload; what is wrong is named field by field.
fn decode<T: serde::de::DeserializeOwned + Validate>(payload: &Value) -> Result<T, HandlerError> {
    wire::decode_value::<T>(payload).map_err(|e| reject(e.to_string()))
}

/// Flow 1, program side: one PENDING enrollment per valid record; a bad record fails alone;
/// a record whose devices are already enrolled in the program is reported as existing.
async fn enrollment_request(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let (transaction_id, records) = wire::parse_enrollment_batch_value(payload, MAX_BATCH)
        .map_err(|e| reject(e.to_string()))?;
    let results =
        crate::programs::enrollment_request::ingest(tx, &transaction_id, records, now).await?;
    let count = |s: &str| results.iter().filter(|r| r["status"] == s).count();
    tracing::info!(transaction = %transaction_id, created = count("CREATED"), existing = count("ALREADY_EXISTS"), rejected = count("REJECTED"), "enrollment request processed");
    Ok(json!({"transactionId": transaction_id, "results": results}))
}

/// Flow 2, grid side: registers, unregisters or swaps devices in the grid's registry and
/// acknowledges each device's registration status.
async fn enrollment_sync(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let sync: wire::EnrollmentSync = serde_json::from_value(payload.clone())
        .map_err(|e| reject(format!("the enrollment sync could not be read: {e}")))?;
    sync.validate()
        .map_err(|e| reject(format!("{}: {}", e.field, e.message)))?;
    let transformer: Option<i64> = with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT id FROM network_nodes WHERE code = $1 AND kind = 'transformer'"
    )
    .bind(&sync.transformer_code)
    .fetch_optional(c)
    .await
    .map_err(DomainError::from)?);
    if let Some(old) = &sync.replaced_device {
        with_tx!(tx, |c| {
            sqlx::query("UPDATE grid_devices SET status = 'unregistered', updated_at = $1 WHERE head_end = $2 AND nic_id = $3")
            .bind(now)
            .bind(&old.head_end_system)
            .bind(&old.nic_id)
            .execute(c)
            .await
            .map_err(DomainError::from)?
            .rows_affected()
        });
    }
    let unenroll = sync.action == wire::SyncAction::Unenroll;
    let mut acks = Vec::with_capacity(sync.device_list.len());
    for d in &sync.device_list {
        if unenroll {
            with_tx!(tx, |c| {
                sqlx::query("UPDATE grid_devices SET status = 'unregistered', updated_at = $1 WHERE head_end = $2 AND nic_id = $3")
                .bind(now)
                .bind(&d.head_end_system)
                .bind(&d.nic_id)
                .execute(c)
                .await
                .map_err(DomainError::from)?
                .rows_affected()
            });
            acks.push(json!({"headEndSystem": d.head_end_system, "nicId": d.nic_id, "registrationStatus": "NOT_REGISTERED", "reason": "unenrolled"}));
            continue;
        }
        match transformer {
            Some(t) => {
                with_tx!(tx, |c| sqlx::query(
                    "INSERT INTO grid_devices (head_end, nic_id, enrollment_id, program_code, device_type, nominal_kw, transformer_id, status, registered_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'registered', $8, $8)
                     ON CONFLICT (head_end, nic_id) DO UPDATE SET enrollment_id = excluded.enrollment_id, program_code = excluded.program_code,
                        device_type = excluded.device_type, nominal_kw = excluded.nominal_kw, transformer_id = excluded.transformer_id,
                        status = 'registered', updated_at = excluded.updated_at"
                )
                .bind(&d.head_end_system)
                .bind(&d.nic_id)
                .bind(sync.enrollment_id)
                .bind(&sync.program_code)
                .bind(d.device_type.as_str())
                .bind(d.nominal_kw)
                .bind(t)
                .bind(now)
                .execute(c)
                .await
                .map_err(DomainError::from)?
                .rows_affected());
                acks.push(json!({"headEndSystem": d.head_end_system, "nicId": d.nic_id, "registrationStatus": "REGISTERED", "reason": null}));
            }
            None => acks.push(json!({"headEndSystem": d.head_end_system, "nicId": d.nic_id, "registrationStatus": "NOT_REGISTERED",
                                     "reason": format!("transformer `{}` is not in the grid's network model", sync.transformer_code)})),
        }
    }
    Ok(
        json!({"transactionId": sync.transaction_id, "enrollmentId": sync.enrollment_id, "deviceList": acks}),
    )
}

/// Flow 3, grid side: what the grid knows of each device's connection. Until the head-end
/// simulator reports telemetry, a registered device counts as online.
async fn device_status_check(tx: &mut Tx, payload: &Value) -> Result<Value, HandlerError> {
    let check: wire::DeviceStatusCheck = decode(payload)?;
    let mut out = Vec::with_capacity(check.device_list.len());
    for d in &check.device_list {
        let row: Option<(String, DateTime<Utc>)> = with_tx!(tx, |c| sqlx::query_as(
            "SELECT status, updated_at FROM grid_devices WHERE head_end = $1 AND nic_id = $2"
        )
        .bind(&d.head_end_system)
        .bind(&d.nic_id)
        .fetch_optional(c)
        .await
        .map_err(DomainError::from)?);
        let (status, seen) = match row {
            Some((s, at)) if s == "registered" => ("ONLINE", Some(at)),
            Some((_, at)) => ("OFFLINE", Some(at)),
            None => ("UNKNOWN", None),
        };
        out.push(json!({"headEndSystem": d.head_end_system, "nicId": d.nic_id, "status": status, "lastSeen": seen}));
    }
    Ok(json!({"transactionId": check.transaction_id, "deviceList": out}))
}

/// Flow 8, grid side: a window in which a device must not be reserved (added, changed or
/// cancelled).
async fn customer_unavailability(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let u: wire::CustomerUnavailability = decode(payload)?;
    let done = match u.action {
        wire::UnavailabilityAction::Add | wire::UnavailabilityAction::Change => with_tx!(tx, |c| {
            sqlx::query(
            "INSERT INTO grid_unavailability (window_id, head_end, nic_id, starts_at, ends_at, reason, status, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'active', $7)
             ON CONFLICT (window_id) DO UPDATE SET head_end = excluded.head_end, nic_id = excluded.nic_id, starts_at = excluded.starts_at,
                ends_at = excluded.ends_at, reason = excluded.reason, status = 'active', updated_at = excluded.updated_at"
        )
        .bind(&u.window_id)
        .bind(&u.head_end_system)
        .bind(&u.nic_id)
        .bind(u.start_time)
        .bind(u.end_time)
        .bind(&u.reason)
        .bind(now)
        .execute(c)
        .await
        .map_err(DomainError::from)?
        .rows_affected()
        }),
        wire::UnavailabilityAction::Cancel => with_tx!(tx, |c| {
            sqlx::query(
            "UPDATE grid_unavailability SET status = 'cancelled', updated_at = $1 WHERE window_id = $2"
        )
        .bind(now)
        .bind(&u.window_id)
        .execute(c)
        .await
        .map_err(DomainError::from)?
        .rows_affected()
        }),
    };
    if done == 0 {
        return Err(reject(format!(
            "windowId: no window `{}` to cancel",
            u.window_id
        )));
    }
    Ok(json!({"transactionId": u.transaction_id, "windowId": u.window_id, "status": "ACCEPTED"}))
}

/// Flow 9, grid side: the rules the planner must respect, per program and effective date.
async fn program_rule_sync(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let sync: wire::ProgramRuleSync = decode(payload)?;
    let linked = sync.action != wire::RuleAction::Unlink;
    let rule = serde_json::to_string(&sync.rule).map_err(|e| HandlerError::Fault(e.into()))?;
    with_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO grid_program_rules (program_code, effective_from, rule_json, linked, updated_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (program_code, effective_from) DO UPDATE SET rule_json = excluded.rule_json, linked = excluded.linked,
            updated_at = excluded.updated_at"
    )
    .bind(&sync.program_code)
    .bind(sync.rule.effective_from)
    .bind(&rule)
    .bind(linked)
    .bind(now)
    .execute(c)
    .await
    .map_err(DomainError::from)?
    .rows_affected()
    });
    Ok(
        json!({"transactionId": sync.transaction_id, "programCode": sync.program_code, "status": "ACCEPTED"}),
    )
}

/// Flow 10, grid side: aggregators created or updated (deletions are not synchronized).
async fn aggregator_sync(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let a: wire::AggregatorSync = decode(payload)?;
    with_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO grid_aggregators (external_ref, name, status, start_date, end_date, contact_name, contact_email, program_codes, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (external_ref) DO UPDATE SET name = excluded.name, status = excluded.status, start_date = excluded.start_date,
            end_date = excluded.end_date, contact_name = excluded.contact_name, contact_email = excluded.contact_email,
            program_codes = excluded.program_codes, updated_at = excluded.updated_at"
    )
    .bind(&a.external_reference)
    .bind(&a.name)
    .bind(a.status.as_str())
    .bind(a.start_date)
    .bind(a.end_date)
    .bind(&a.contact_name)
    .bind(&a.contact_email)
    .bind(a.program_codes.join(","))
    .bind(now)
    .execute(c)
    .await
    .map_err(DomainError::from)?
    .rows_affected()
    });
    Ok(
        json!({"transactionId": a.transaction_id, "externalReference": a.external_reference, "status": "ACCEPTED"}),
    )
}

/// Flow 12, grid side: the daily control scores the planner ranks devices by. Devices the
/// grid does not know are reported back, not fatal.
async fn device_score(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let batch: wire::DeviceScoreBatch = decode(payload)?;
    let mut unknown = Vec::new();
    for s in &batch.scores {
        let n = with_tx!(tx, |c| {
            sqlx::query(
            "UPDATE grid_devices SET control_score = $1, scored_on = $2, updated_at = $3 WHERE head_end = $4 AND nic_id = $5"
        )
        .bind(s.control_score)
        .bind(batch.scored_on)
        .bind(now)
        .bind(&s.head_end_system)
        .bind(&s.nic_id)
        .execute(c)
        .await
        .map_err(DomainError::from)?
        .rows_affected()
        });
        if n == 0 {
            unknown.push(json!({"headEndSystem": s.head_end_system, "nicId": s.nic_id}));
        }
    }
    Ok(
        json!({"transactionId": batch.transaction_id, "accepted": batch.scores.len() - unknown.len(), "unknownDevices": unknown}),
    )
}

/// Upserts the program side's row for a stage ("program event").
#[allow(clippy::too_many_arguments)]
async fn upsert_program_event(
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
async fn stage_status(
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
async fn device_reservation(
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
async fn device_outcome(
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

/// Flow 7, grid side: a customer cancelled a device's reservation for one event (the program
/// side enforces the cut-off before it sends this).
async fn customer_opt_out(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let o: wire::CustomerOptOut = decode(payload)?;
    with_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO grid_opt_outs (event_external_id, head_end, nic_id, requested_at, recorded_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (event_external_id, head_end, nic_id) DO NOTHING"
    )
    .bind(&o.event_external_identifier)
    .bind(&o.head_end_system)
    .bind(&o.nic_id)
    .bind(o.requested_at)
    .bind(now)
    .execute(c)
    .await
    .map_err(DomainError::from)?
    .rows_affected()
    });
    Ok(json!({"transactionId": o.transaction_id, "status": "ACCEPTED"}))
}

/// Flow 11, program side: the grid's network model. New nodes are added; a node whose parent
/// changed is moved effective from the transfer's date (history kept); service points follow
/// their transformer. Service points the program side does not know are reported, not added.
async fn network_location_transfer(
    tx: &mut Tx,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let t: wire::NetworkLocationTransfer = decode(payload)?;
    let existing: Vec<(String, i64, String, Option<i64>)> = with_tx!(tx, |c| {
        sqlx::query_as(
        "SELECT n.code, n.id, n.kind, e.parent_id FROM network_nodes n LEFT JOIN network_edges e ON e.child_id = n.id AND e.valid_to IS NULL"
    )
    .fetch_all(c)
    .await
    .map_err(DomainError::from)?
    });
    let mut nodes: std::collections::HashMap<String, (i64, String, Option<i64>)> = existing
        .into_iter()
        .map(|(code, id, kind, parent)| (code, (id, kind, parent)))
        .collect();
    let (mut created, mut moved) = (0, 0);
    // Parents before children: substations, then feeders, then transformers.
    let mut ordered: Vec<&wire::NetworkNode> = t.nodes.iter().collect();
    ordered.sort_by_key(|n| match n.kind.as_str() {
        "substation" => 0,
        "feeder" => 1,
        _ => 2,
    });
    for n in ordered {
        let from = n
            .valid_from
            .and_hms_opt(0, 0, 0)
            .map(|d| d.and_utc())
            .unwrap_or(now);
        let parent = match &n.parent_code {
            Some(code) => Some(nodes.get(code).map(|(id, _, _)| *id).ok_or_else(|| {
                reject(format!("nodes: parent `{code}` of `{}` is unknown", n.code))
            })?),
            None => None,
        };
        match nodes.get(&n.code).cloned() {
            Some((id, kind, current)) => {
                if kind != n.kind.as_str() {
                    return Err(reject(format!(
                        "nodes: `{}` is a {kind} here, not a {}",
                        n.code,
                        n.kind.as_str()
                    )));
                }
                if let (Some(p), true) = (parent, parent != current) {
                    crate::db::network::transfer_node(tx, id, p, from).await?;
                    nodes.insert(n.code.clone(), (id, kind, Some(p)));
                    moved += 1;
                }
            }
            None => {
                let id: i64 = with_tx!(tx, |c| {
                    sqlx::query_scalar(
                    "INSERT INTO network_nodes (kind, code, name, created_at) VALUES ($1, $2, $3, $4) RETURNING id"
                )
                .bind(n.kind.as_str())
                .bind(&n.code)
                .bind(&n.name)
                .bind(now)
                .fetch_one(c)
                .await
                .map_err(DomainError::from)?
                });
                if let Some(p) = parent {
                    with_tx!(tx, |c| {
                        sqlx::query("INSERT INTO network_edges (child_id, parent_id, valid_from) VALUES ($1, $2, $3)")
                        .bind(id)
                        .bind(p)
                        .bind(from)
                        .execute(c)
                        .await
                        .map_err(DomainError::from)?
                        .rows_affected()
                    });
                }
                nodes.insert(n.code.clone(), (id, n.kind.as_str().to_string(), parent));
                created += 1;
            }
        }
    }
    // Service points follow their transformer: looked up and moved in chunks.
    let transformers: std::collections::HashMap<String, i64> = nodes
        .iter()
        .filter(|(_, (_, kind, _))| kind == "transformer")
        .map(|(code, (id, _, _))| (code.clone(), *id))
        .collect();
    let parent_of: std::collections::HashMap<i64, Option<i64>> =
        nodes.values().map(|(id, _, p)| (*id, *p)).collect();
    let placement: crate::programs::network_transfer::Placement = transformers
        .values()
        .filter_map(|t| {
            let feeder = parent_of.get(t).copied().flatten()?;
            let substation = parent_of
                .get(&feeder)
                .copied()
                .flatten()
                .unwrap_or_default();
            Some((*t, (feeder, substation)))
        })
        .collect();
    let sp = crate::programs::network_transfer::move_service_points(
        tx,
        &t.service_points,
        &transformers,
        &placement,
    )
    .await
    .map_err(|e| match e {
        DomainError::Invalid(m) => reject(m),
        other => HandlerError::Fault(other),
    })?;
    let (sp_moved, unknown) = (sp.moved, sp.unknown);
    Ok(
        json!({"transactionId": t.transaction_id, "nodesCreated": created, "nodesMoved": moved,
              "servicePointsMoved": sp_moved, "unknownServicePoints": unknown}),
    )
}
