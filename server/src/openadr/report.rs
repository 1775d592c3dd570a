//! `reports`: a VEN reports on an event it received, per resource (device): a participation
//! status, or usage (kWh) / demand (kW) intervals. The report is kept as received and its
//! outcomes are written to the stage's devices on the grid side, audited, in one transaction
//! (with other reports waiting then: `report_writer`).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::objects::{parse_event_id, resource_name, rfc3339, visible_event};
use super::report_writer::PendingReport;
use super::{is_identifier, ListQuery, Problem, Scope};
use crate::auth::generate_token;
use crate::db::audit::{current_client_address, NewAuditEntry};
use crate::db::openadr::{self as store, DeviceOutcome, NewReport};
use crate::web::AppState;

/// The largest demand or usage one device may report, in kW (or kWh per hour).
const MAX_DEVICE_KW: f64 = 1000.0;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReportRequest {
    #[serde(rename = "objectType")]
    object_type: Option<String>,
    #[serde(rename = "programID")]
    program_id: Option<String>,
    #[serde(rename = "eventID")]
    event_id: String,
    client_name: String,
    #[allow(dead_code)]
    report_name: Option<String>,
    resources: Vec<ReportResource>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReportResource {
    resource_name: String,
    interval_period: Option<IntervalPeriod>,
    intervals: Vec<Interval>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Interval {
    #[allow(dead_code)]
    id: i64,
    interval_period: Option<IntervalPeriod>,
    payloads: Vec<Payload>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IntervalPeriod {
    start: DateTime<Utc>,
    duration: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    values: Vec<Value>,
}

/// Reads an ISO 8601 duration (`PT15M`, `P1DT2H`, `P0Y0M0DT0H15M0S`, decimals allowed; a
/// year is taken as 365 days and a month as 30).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let rest = s.strip_prefix('P')?;
    let (date, time) = rest.split_once('T').unwrap_or((rest, ""));
    if rest.is_empty() || (rest.contains('T') && time.is_empty()) {
        return None;
    }
    let mut seconds = 0.0f64;
    let mut read = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
            } else {
                let unit = units.iter().find(|(u, _)| *u == c)?.1;
                seconds += num.parse::<f64>().ok()? * unit;
                num.clear();
            }
        }
        num.is_empty().then_some(())
    };
    read(
        date,
        &[
            ('Y', 31_536_000.0),
            ('M', 2_592_000.0),
            ('W', 604_800.0),
            ('D', 86_400.0),
        ],
    )?;
    read(time, &[('H', 3_600.0), ('M', 60.0), ('S', 1.0)])?;
    (seconds.is_finite() && seconds < 1e11)
        .then(|| Duration::milliseconds((seconds * 1000.0) as i64))
}

/// A participation status as a device outcome code.
fn outcome_code(v: &str) -> Option<&'static str> {
    Some(match v {
        "D1SP" | "PARTICIPATED" => "D1SP",
        "D1ND" | "NON_RESPONSIVE" => "D1ND",
        "D1IO" | "OVERRIDE" => "D1IO",
        "D1ER" | "ERROR" => "D1ER",
        "D1CN" | "CANCELLED" => "D1CN",
        _ => return None,
    })
}

fn bad(path: String, what: &str) -> Problem {
    Problem::bad_request(format!("{path}: {what}"))
}

/// What one resource's report says, checked.
fn resource_outcome(
    i: usize,
    r: &ReportResource,
    stage: (DateTime<Utc>, DateTime<Utc>),
    grid_device_id: i64,
) -> Result<DeviceOutcome, Problem> {
    let at = format!("resources[{i}]");
    if r.intervals.is_empty() {
        return Err(bad(format!("{at}.intervals"), "give at least one interval"));
    }
    let mut status: Option<&'static str> = None;
    let mut kw: Vec<f64> = Vec::new();
    let (mut first, mut last): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = (None, None);
    for (j, iv) in r.intervals.iter().enumerate() {
        let at = format!("{at}.intervals[{j}]");
        if iv.payloads.is_empty() {
            return Err(bad(format!("{at}.payloads"), "give at least one payload"));
        }
        let period = iv.interval_period.as_ref().or(r.interval_period.as_ref());
        let length = match period.and_then(|p| p.duration.as_deref()) {
            Some(d) => Some(
                // Readings come at least a minute apart (meters report 5, 15 or 60).
                parse_duration(d)
                    .filter(|d| *d >= Duration::minutes(1) && *d <= Duration::days(1))
                    .ok_or_else(|| {
                        bad(
                            format!("{at}.intervalPeriod.duration"),
                            "an ISO 8601 duration from PT1M to P1D, such as PT15M",
                        )
                    })?,
            ),
            None => None,
        };
        if let Some(p) = period {
            first = Some(first.map_or(p.start, |f| f.min(p.start)));
            let end = p.start + length.unwrap_or(Duration::minutes(15));
            last = Some(last.map_or(end, |l| l.max(end)));
        }
        for (k, p) in iv.payloads.iter().enumerate() {
            let at = format!("{at}.payloads[{k}]");
            if p.values.is_empty() {
                return Err(bad(format!("{at}.values"), "give at least one value"));
            }
            let v = &p.values[0];
            match p.kind.as_str() {
                "PARTICIPATION" | "OPERATING_STATE" => {
                    let code = v.as_str().and_then(outcome_code).ok_or_else(|| {
                        bad(
                            format!("{at}.values[0]"),
                            "a participation status: PARTICIPATED, NON_RESPONSIVE, OVERRIDE, ERROR, CANCELLED (or D1SP, D1ND, D1IO, D1ER, D1CN)",
                        )
                    })?;
                    status = Some(code);
                }
                "DEMAND" | "USAGE" => {
                    // No single device draws a megawatt: a larger value is a unit mistake.
                    let n = v
                        .as_f64()
                        .filter(|n| n.is_finite() && (0.0..=MAX_DEVICE_KW).contains(n))
                        .ok_or_else(|| {
                            bad(
                                format!("{at}.values[0]"),
                                &format!("a number from 0 to {MAX_DEVICE_KW} (kW or kWh)"),
                            )
                        })?;
                    if p.kind == "DEMAND" {
                        kw.push(n);
                    } else {
                        let hours = length.unwrap_or(Duration::minutes(15)).num_seconds() as f64
                            / 3600.0;
                        kw.push(n / hours);
                    }
                }
                "SIMPLE_LEVEL" | "SIMPLE" => {
                    if !v.is_i64() {
                        return Err(bad(format!("{at}.values[0]"), "a SIMPLE level is an integer"));
                    }
                }
                other => {
                    return Err(bad(
                        format!("{at}.type"),
                        &format!("unknown payload type `{other}` (PARTICIPATION, USAGE, DEMAND or SIMPLE_LEVEL)"),
                    ))
                }
            }
        }
    }
    let outcome = status.unwrap_or("D1SP");
    let took_part = matches!(outcome, "D1SP" | "D1IO");
    let actual_kw = (!kw.is_empty()).then(|| kw.iter().sum::<f64>() / kw.len() as f64);
    Ok(DeviceOutcome {
        grid_device_id,
        outcome,
        actual_kw,
        start: took_part.then(|| first.unwrap_or(stage.0)),
        end: took_part.then(|| last.unwrap_or(stage.1)),
    })
}

fn report_json(row: &store::ReportRow) -> Value {
    let body: Value = serde_json::from_str(&row.body).unwrap_or_else(|_| json!({}));
    as_report(body, &row.report_id, &row.client_id, row.created_at)
}

/// A report as received, with the fields the VTN gives it.
fn as_report(mut body: Value, id: &str, client_id: &str, created_at: DateTime<Utc>) -> Value {
    if let Some(map) = body.as_object_mut() {
        map.insert("id".into(), json!(id));
        map.insert("createdDateTime".into(), json!(rfc3339(created_at)));
        map.insert("modificationDateTime".into(), json!(rfc3339(created_at)));
        map.insert("objectType".into(), json!("REPORT"));
        map.insert("clientID".into(), json!(client_id));
    }
    body
}

/// `POST reports`: the VEN's report on one of its events.
pub async fn create_report(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, Problem> {
    caller.require(&[Scope::WriteReports], "posting a report")?;
    let Some(ven) = caller.ven.clone() else {
        return Err(Problem::forbidden(
            "only a VEN client reports on events (this client is not one)",
        ));
    };
    let raw: Value = serde_json::from_slice(&body)
        .map_err(|e| Problem::bad_request(format!("the body is not JSON: {e}")))?;
    let req: ReportRequest = serde_path_to_error::deserialize(&raw)
        .map_err(|e| Problem::bad_request(format!("{}: {}", e.path(), e.inner())))?;
    if req.object_type.as_deref().is_some_and(|t| t != "REPORT") {
        return Err(bad("objectType".into(), "must be REPORT"));
    }
    if req.client_name.is_empty() || req.client_name.chars().count() > 128 {
        return Err(bad("clientName".into(), "1 to 128 characters"));
    }
    if !is_identifier(&req.event_id) {
        return Err(bad("eventID".into(), "must match [A-Za-z0-9_-]{1,128}"));
    }
    if req.resources.is_empty() {
        return Err(bad("resources".into(), "give at least one resource"));
    }
    let (event, devices) = match parse_event_id(&req.event_id) {
        Some(_) => visible_event(&state, &caller, &req.event_id)
            .await
            .map_err(|p| match p.status {
                StatusCode::NOT_FOUND => bad(
                    "eventID".into(),
                    "no event with this id was published to this VEN",
                ),
                _ => p,
            })?,
        None => {
            return Err(bad(
                "eventID".into(),
                "no event with this id was published to this VEN",
            ))
        }
    };
    if let Some(p) = &req.program_id {
        if *p != event.program_code {
            return Err(bad(
                "programID".into(),
                &format!(
                    "the event belongs to program {}, not {p}",
                    event.program_code
                ),
            ));
        }
    }
    let mut outcomes = Vec::with_capacity(req.resources.len());
    for (i, r) in req.resources.iter().enumerate() {
        let device = devices
            .iter()
            .find(|d| resource_name(&d.head_end, &d.nic_id) == r.resource_name)
            .ok_or_else(|| {
                bad(
                    format!("resources[{i}].resourceName"),
                    &format!("`{}` is not a resource of this event", r.resource_name),
                )
            })?;
        if outcomes
            .iter()
            .any(|o: &DeviceOutcome| o.grid_device_id == device.grid_device_id)
        {
            return Err(bad(
                format!("resources[{i}].resourceName"),
                "the resource is reported twice",
            ));
        }
        outcomes.push(resource_outcome(
            i,
            r,
            (event.starts_at, event.ends_at),
            device.grid_device_id,
        )?);
    }
    let report_id = format!("rpt-{}", &generate_token()[4..28]);
    let now = state.clock.now();
    let stored = raw.to_string();
    let summary: Vec<Value> = outcomes
        .iter()
        .map(|o| json!({"gridDeviceId": o.grid_device_id, "outcome": o.outcome, "actualKw": o.actual_kw}))
        .collect();
    let mut audit = NewAuditEntry::new(
        &format!("openadr:{}", caller.client_id),
        "event.openadr_report",
        "event_stage",
        event.stage_id,
    )
    .after(
        json!({"reportID": report_id, "eventID": req.event_id, "ven": ven, "outcomes": summary}),
    );
    // Written by the report writer's task, where the request's address is not known.
    audit.client_address = current_client_address();
    state
        .openadr_reports
        .write(PendingReport {
            row: NewReport {
                report_id: report_id.clone(),
                client: caller.id,
                ven_ref: Some(ven.clone()),
                event_id: req.event_id.clone(),
                client_name: req.client_name.clone(),
                body: stored,
                created_at: now,
            },
            stage_id: event.stage_id,
            outcomes,
            audit,
        })
        .await?;
    // The answer is what was stored, built from the body already parsed rather than read
    // back (times go out in whole seconds, so the stored and the clock's `now` print alike).
    let answer = as_report(raw, &report_id, &caller.client_id, now);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

pub async fn list_reports(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<Value>>, Problem> {
    caller.require(&[Scope::ReadAll, Scope::ReadVenObjects], "reading reports")?;
    let q = ListQuery::parse(raw.as_deref())?;
    let rows = store::reports(
        &state.db,
        caller.ven.as_deref(),
        None,
        q.event_id.as_deref(),
        q.skip,
        q.limit,
    )
    .await?;
    Ok(Json(rows.iter().map(report_json).collect()))
}

pub async fn get_report(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require(&[Scope::ReadAll, Scope::ReadVenObjects], "reading reports")?;
    if !is_identifier(&id) {
        return Err(Problem::bad_request(
            "reportID must match [A-Za-z0-9_-]{1,128}",
        ));
    }
    let row = store::reports(&state.db, None, Some(&id), None, 0, 1)
        .await?
        .pop()
        .ok_or_else(|| Problem::not_found(format!("report {id} not found")))?;
    if caller.ven.is_some() && row.ven_ref != caller.ven {
        return Err(Problem::forbidden("a VEN reads only its own reports"));
    }
    Ok(Json(report_json(&row)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_durations_are_read() {
        assert_eq!(parse_duration("PT15M"), Some(Duration::minutes(15)));
        assert_eq!(parse_duration("P1DT2H"), Some(Duration::hours(26)));
        assert_eq!(parse_duration("PT"), None);
        assert_eq!(parse_duration("15M"), None);
        assert_eq!(parse_duration("PT5X"), None);
        assert_eq!(
            parse_duration("P0Y0M0DT0H15M0S"),
            Some(Duration::minutes(15))
        );
        assert_eq!(parse_duration("PT0.5H"), Some(Duration::minutes(30)));
    }

    #[test]
    fn participation_statuses_are_outcome_codes() {
        assert_eq!(outcome_code("PARTICIPATED"), Some("D1SP"));
        assert_eq!(outcome_code("D1IO"), Some("D1IO"));
        assert_eq!(outcome_code("maybe"), None);
    }
}
