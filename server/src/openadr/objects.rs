//! `programs`, `vens` and `events`: the grid side's programs, aggregators and approved
//! stages in OpenADR 3.1's shapes.

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::auth::Caller;
use super::{is_identifier, ListQuery, Problem, Scope};
use crate::db::openadr::{self as store, EventFilter, EventRow};
use crate::web::AppState;

/// An OpenADR time: RFC 3339 in UTC.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An ISO 8601 duration of whole minutes (`PT15M`, `PT2H`).
pub fn iso_duration(d: Duration) -> String {
    let minutes = d.num_minutes().max(0);
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("PT{m}M"),
        (h, 0) => format!("PT{h}H"),
        (h, m) => format!("PT{h}H{m}M"),
    }
}

/// The SIMPLE level of a control level: 1 light (setback, 50 % cycling), 2 moderate
/// (75 % cycling), 3 high (full shed).
pub fn simple_level(control_level: &str) -> i64 {
    match control_level {
        "full" => 3,
        "cycle_75" => 2,
        _ => 1,
    }
}

/// A device's OpenADR resource name: `HEADEND_NICID`, with any character an identifier may
/// not hold replaced by `_`.
pub fn resource_name(head_end: &str, nic_id: &str) -> String {
    format!("{head_end}_{nic_id}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect()
}

/// A published event's id: `STAGE-AGGREGATOR-PROGRAM` (the first two are row numbers, so
/// the program code may hold dashes).
pub fn event_id(row: &EventRow) -> String {
    store::event_key(row.stage_id, row.aggregator_id, &row.program_code)
}

/// The parts of an event id, or `None` when it is not one of ours.
pub fn parse_event_id(id: &str) -> Option<(i64, i64, &str)> {
    let mut parts = id.splitn(3, '-');
    let stage = parts.next()?.parse().ok()?;
    let aggregator = parts.next()?.parse().ok()?;
    let program = parts.next().filter(|p| !p.is_empty())?;
    Some((stage, aggregator, program))
}

/// A program as OpenADR shows it (its code is its id and name).
pub fn program_json(row: &store::ProgramRow) -> Value {
    json!({
        "id": row.program_code,
        "createdDateTime": rfc3339(row.created_at),
        "modificationDateTime": rfc3339(row.updated_at),
        "objectType": "PROGRAM",
        "programName": row.program_code,
        "payloadDescriptors": [
            {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "IMPORT_CAPACITY_SUBSCRIPTION", "units": "KW"},
            {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "SIMPLE"}
        ],
        "targets": [],
    })
}

pub async fn list_programs(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<Value>>, Problem> {
    caller.require(&[Scope::ReadAll, Scope::ReadTargets], "reading programs")?;
    let q = ListQuery::parse(raw.as_deref())?;
    let rows = store::programs(&state.db, None, q.skip, q.limit).await?;
    Ok(Json(rows.iter().map(program_json).collect()))
}

pub async fn get_program(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require(&[Scope::ReadAll, Scope::ReadTargets], "reading programs")?;
    if !is_identifier(&id) {
        return Err(Problem::bad_request(
            "programID must match [A-Za-z0-9_-]{1,128}",
        ));
    }
    let row = store::programs(&state.db, Some(&id), 0, 1)
        .await?
        .pop()
        .ok_or_else(|| Problem::not_found(format!("program {id} not found")))?;
    Ok(Json(program_json(&row)))
}

fn ven_json(row: &store::VenRow) -> Value {
    json!({
        "id": row.external_ref,
        "createdDateTime": rfc3339(row.updated_at),
        "modificationDateTime": rfc3339(row.updated_at),
        "objectType": "VEN",
        "clientID": row.external_ref,
        "venName": row.external_ref,
        "attributes": [{"type": "DESCRIPTION", "values": [row.name]}],
        "targets": [row.external_ref],
    })
}

pub async fn list_vens(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<Value>>, Problem> {
    caller.require(&[Scope::ReadAll, Scope::ReadVenObjects], "reading VENs")?;
    let q = ListQuery::parse(raw.as_deref())?;
    let rows = store::vens(&state.db, caller.ven.as_deref(), q.skip, q.limit).await?;
    Ok(Json(rows.iter().map(ven_json).collect()))
}

pub async fn get_ven(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require(&[Scope::ReadAll, Scope::ReadVenObjects], "reading VENs")?;
    if caller.ven.as_deref().is_some_and(|v| v != id) {
        return Err(Problem::forbidden("a VEN reads only its own VEN object"));
    }
    let row = store::ven(&state.db, &id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("VEN {id} not found")))?;
    Ok(Json(ven_json(&row)))
}

/// The event as a VEN sees it: one interval per 15-minute block of the stage, each asking for
/// the stage's expected reduction of these devices (kW) at the control level's SIMPLE level.
pub fn event_json(row: &EventRow, resources: &[String]) -> Value {
    let block = Duration::minutes(15);
    let mut intervals = Vec::new();
    let mut start = row.starts_at;
    let level = simple_level(&row.control_level);
    let kw = (row.expected_kw * 1000.0).round() / 1000.0;
    while start < row.ends_at {
        let len = block.min(row.ends_at - start);
        intervals.push(json!({
            "id": intervals.len(),
            "intervalPeriod": {"start": rfc3339(start), "duration": iso_duration(len)},
            "payloads": [
                {"type": "IMPORT_CAPACITY_SUBSCRIPTION", "values": [kw]},
                {"type": "SIMPLE", "values": [level]}
            ],
        }));
        start += len;
    }
    let mut targets = vec![row.aggregator_ref.clone()];
    targets.extend(resources.iter().cloned());
    json!({
        "id": event_id(row),
        "createdDateTime": rfc3339(row.created_at),
        "modificationDateTime": rfc3339(row.updated_at),
        "objectType": "EVENT",
        "programID": row.program_code,
        "eventName": format!("{} {}", row.event_code, row.event_name),
        "priority": row.priority.max(0),
        "targets": targets,
        "payloadDescriptors": [
            {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "IMPORT_CAPACITY_SUBSCRIPTION", "units": "KW"},
            {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "SIMPLE"}
        ],
        "reportDescriptors": [
            {"payloadType": "USAGE", "units": "KWH", "targets": [row.aggregator_ref]},
            {"payloadType": "PARTICIPATION", "targets": [row.aggregator_ref]}
        ],
        "intervalPeriod": {"start": rfc3339(row.starts_at), "duration": iso_duration(row.ends_at - row.starts_at)},
        "intervals": intervals,
    })
}

pub async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<Value>>, Problem> {
    caller.require(&[Scope::ReadAll, Scope::ReadTargets], "reading events")?;
    let q = ListQuery::parse(raw.as_deref())?;
    let filter = EventFilter {
        ven: caller.ven.as_deref(),
        program: q.program_id.as_deref(),
        key: None,
    };
    let rows = store::events(&state.db, &filter, q.skip, q.limit).await?;
    let devices = store::page_devices(&state.db, &rows).await?;
    let out = rows
        .iter()
        .map(|row| event_json(row, &resources_in(row, &devices)))
        .collect();
    Ok(Json(out))
}

/// The resource names of the event `row` among the devices read for a page of events.
pub fn resources_in(row: &EventRow, devices: &[store::PageDeviceRow]) -> Vec<String> {
    devices
        .iter()
        .filter(|d| {
            d.stage_id == row.stage_id
                && d.aggregator_ref == row.aggregator_ref
                && d.program_code == row.program_code
        })
        .map(|d| resource_name(&d.head_end, &d.nic_id))
        .collect()
}

/// The OpenADR resource names of an event's devices.
pub fn resource_names(devices: &[store::EventDeviceRow]) -> Vec<String> {
    devices
        .iter()
        .map(|d| resource_name(&d.head_end, &d.nic_id))
        .collect()
}

/// The published event `id` as `caller` may see it, with its reserved devices, in one read
/// (404 when it is not published or is targeted at another VEN).
pub async fn visible_event(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(EventRow, Vec<store::EventDeviceRow>), Problem> {
    let not_found = || Problem::not_found(format!("event {id} not found"));
    if !is_identifier(id) {
        return Err(Problem::bad_request(
            "eventID must match [A-Za-z0-9_-]{1,128}",
        ));
    }
    let key = parse_event_id(id).ok_or_else(not_found)?;
    store::event_with_devices(&state.db, caller.ven.as_deref(), key)
        .await?
        .ok_or_else(not_found)
}

pub async fn get_event(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require(&[Scope::ReadAll, Scope::ReadTargets], "reading events")?;
    let (row, devices) = visible_event(&state, &caller, &id).await?;
    Ok(Json(event_json(&row, &resource_names(&devices))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_iso_8601() {
        assert_eq!(iso_duration(Duration::minutes(15)), "PT15M");
        assert_eq!(iso_duration(Duration::minutes(120)), "PT2H");
        assert_eq!(iso_duration(Duration::minutes(135)), "PT2H15M");
    }

    #[test]
    fn an_event_id_names_its_stage_aggregator_and_program() {
        assert_eq!(parse_event_id("12-2-SMT-BYOD"), Some((12, 2, "SMT-BYOD")));
        assert_eq!(parse_event_id("x-2-SMT"), None);
        assert_eq!(parse_event_id("12-2-"), None);
    }

    #[test]
    fn resource_names_are_identifiers() {
        assert_eq!(resource_name("ECOBEE", "A1:B2"), "ECOBEE_A1_B2");
        assert!(is_identifier(&resource_name("EV GO", "x.y")));
    }
}
