//! The walk over the role policy (`app::access::POLICY`): every action, for every role,
//! through the console (server functions posted with the session's CSRF token, or the page
//! that shows what the action reads) and through the REST API (a Bearer token with the role),
//! on every backend. Each answer must be what the table says: refused with exactly 403, or
//! let through (anything but 401, 403 or a server error; a 404 or a 422 on the probe's
//! deliberately harmless input means the role check was passed). Two actions do not refuse
//! but hide: personal data is masked and enrollment counts are left out for the roles that
//! may not see them.
//!
//! The probes come from exhaustive `match`es on `Action`, so a new action does not compile
//! until it says how the console and the REST API reach it.

mod common;

use app::access::{may, Action};
use app::model::Role;
use common::*;
use gridflex::access::MASK;
use gridflex::with_db;

/// How one interface is asked to do an action.
enum Request {
    /// A server function, posted the way a program calls it (CSRF, JSON accepted), so a
    /// refusal answers with its status rather than a redirect.
    Fn(&'static str, Vec<(&'static str, String)>),
    /// A console page (the reading actions' sections).
    Page(String),
    /// A REST call with the role's Bearer token: method, path, body and its content type.
    Api(&'static str, String, Option<(&'static str, String)>),
}

/// How an answer is read.
#[derive(Clone, Copy)]
enum Verdict {
    /// Refused is exactly 403.
    Status,
    /// Refused is a 403 or an answer with the personal-data mask in it.
    Masked,
    /// Refused is an answer without enrollment counts in it (the home overview).
    Counts,
}

struct Probe {
    request: Request,
    verdict: Verdict,
}

fn status(request: Request) -> Option<Probe> {
    Some(Probe {
        request,
        verdict: Verdict::Status,
    })
}

fn fun(name: &'static str, fields: &[(&'static str, &str)]) -> Option<Probe> {
    status(Request::Fn(
        name,
        fields.iter().map(|(k, v)| (*k, v.to_string())).collect(),
    ))
}

fn page(path: &str) -> Option<Probe> {
    status(Request::Page(path.to_string()))
}

fn get(path: &str) -> Option<Probe> {
    status(Request::Api("GET", path.to_string(), None))
}

fn post(path: &str, json: serde_json::Value) -> Option<Probe> {
    status(Request::Api(
        "POST",
        path.to_string(),
        Some(("application/json", json.to_string())),
    ))
}

/// What the probes point at: rows of the demo that every backend has.
struct Fixture {
    enrollment: i64,
    device: i64,
    program: i64,
    /// A completed event: every lifecycle action on it passes the role check and then stops
    /// at the state (409), so the walk changes nothing.
    event: i64,
}

/// Ids that exist nowhere: an action allowed to a role gets past the role check and then
/// finds nothing (404), so the walk changes nothing.
const NONE: &str = "999999";

/// The console's way to do `action`; `None` only where the console has none.
fn console_probe(action: Action, f: &Fixture) -> Option<Probe> {
    let e = f.enrollment.to_string();
    let d = f.device.to_string();
    let ev = f.event.to_string();
    let act = |name: &'static str| {
        fun(
            "event_action",
            &[("id", &ev), ("action", name), ("reason", "policy walk")],
        )
    };
    match action {
        Action::OpenHome => page("/home"),
        Action::SeePersonalData => Some(Probe {
            request: Request::Fn("get_enrollment", vec![("id", e)]),
            verdict: Verdict::Masked,
        }),
        Action::SeeEnrollmentCounts => Some(Probe {
            request: Request::Fn("home", vec![]),
            verdict: Verdict::Counts,
        }),
        Action::ReadEnrollments => fun("get_enrollment", &[("id", &e)]),
        Action::ChangeEnrollments => fun(
            "change_enrollment_status",
            &[
                ("enrollment_id", &e),
                ("change", "activate"),
                ("reason", "policy walk"),
            ],
        ),
        Action::ReplaceDevices => fun(
            "replace_device",
            &[
                ("enrollment_id", &e),
                ("replacement[old_device_id]", &d),
                ("replacement[new_head_end]", "ECOBEE"),
                ("replacement[new_nic_id]", "bad nic!"),
                ("replacement[reason]", "policy walk"),
            ],
        ),
        Action::ReadDevices => fun("get_device", &[("id", &d)]),
        Action::CheckDevices => fun("check_device", &[("device_id", NONE)]),
        Action::RecordUnavailability => fun(
            "add_unavailability",
            &[
                ("device_id", &d),
                ("starts_at", "not a time"),
                ("ends_at", "not a time"),
                ("reason", "policy walk"),
            ],
        ),
        Action::CancelUnavailability => fun(
            "cancel_unavailability",
            &[("window_id", NONE), ("device_id", &d)],
        ),
        Action::OptOut => fun("opt_out", &[("stage", "NO-SUCH-STAGE"), ("device_id", &d)]),
        Action::ReadPrograms => fun("get_program", &[("id", &f.program.to_string())]),
        Action::EditRules => fun(
            "save_rule",
            &[
                ("program_id", &f.program.to_string()),
                ("rule[effective_from]", "not a date"),
                ("rule[cycle]", ""),
                ("rule[week_start]", ""),
                ("rule[max_events_per_cycle]", ""),
                ("rule[max_minutes_per_cycle]", ""),
                ("rule[min_gap_minutes]", ""),
                ("rule[min_event_minutes]", ""),
                ("rule[max_event_minutes]", ""),
                ("rule[max_overrides]", ""),
                ("rule[window_start]", ""),
                ("rule[window_end]", ""),
                ("rule[activation_cost]", ""),
                ("rule[burn_rate_factor]", ""),
                ("rule[score_factor]", ""),
            ],
        ),
        Action::ChangeProgramStatus => fun(
            "change_program_status",
            &[("program_id", NONE), ("status", "active")],
        ),
        Action::RunScores => fun("run_scores", &[]),
        Action::ReadNetwork => page("/network"),
        Action::ExportNetwork => fun("export_network", &[]),
        Action::ReadAggregators => fun("list_aggregators", &[]),
        Action::EditAggregators => fun(
            "save_aggregator",
            &[
                ("aggregator[name]", ""),
                ("aggregator[status]", "NOPE"),
                ("aggregator[start_date]", "not a date"),
                ("aggregator[contact_name]", ""),
                ("aggregator[contact_email]", "not an address"),
                ("aggregator[external_ref]", ""),
            ],
        ),
        Action::ReadMeterImports => page("/meter-data"),
        Action::ImportMeterData => fun(
            "import_meter_data",
            &[
                ("file_name", "walk.csv"),
                ("format", "csv"),
                ("service_point", ""),
                ("content", "not,a,meter,file"),
            ],
        ),
        Action::ReadForecasts => page("/forecast"),
        Action::UploadForecasts => fun("upload_weather", &[("csv", "not a forecast")]),
        Action::ReadReductions => fun("reductions", &[]),
        Action::EditReductions => fun("delete_reduction", &[("id", NONE)]),
        Action::ReadEvents => fun("load_event", &[("id", &ev)]),
        Action::CreateEvents => fun(
            "create_event",
            &[
                ("event[strategy_id]", NONE),
                ("event[name]", "policy walk"),
                ("event[starts_at]", "not a time"),
                ("event[ends_at]", "not a time"),
            ],
        ),
        Action::GenerateStages => act("plan"),
        Action::SubmitEvents => act("submit"),
        Action::ApproveEvents => act("approve"),
        Action::DenyEvents => act("deny"),
        Action::CancelEvents => act("cancel"),
        Action::MoveClock => fun("advance_clock", &[("minutes", "0")]),
        Action::ReadStrategies => fun("list_strategies", &[("archived", "false")]),
        Action::EditStrategies => fun(
            "save_strategy",
            &[
                ("strategy[name]", ""),
                ("strategy[zone]", "NO-SUCH-NODE"),
                ("strategy[programs]", "NO-SUCH-PROGRAM"),
                ("strategy[event_type]", "Nope"),
                ("strategy[objective]", "Nope"),
                ("strategy[control_level]", "nope"),
            ],
        ),
        Action::ArchiveStrategies => fun("archive_strategy", &[("id", NONE)]),
        Action::ReadSettlements => fun("settlement_overview", &[]),
        Action::SettleEvents => fun("settle_event", &[("code", "EV-NOPE")]),
        Action::SettleSeasons => fun("settle_season", &[("code", "NO-SUCH-PROGRAM")]),
        Action::ExportBilling => page("/settlements/programs/SMT-BYOD/billing.csv"),
        Action::ReadReports => fun("load_report_index", &[]),
        Action::ReadAudit => page("/audit"),
        Action::ReadMonitor => page("/monitor"),
        Action::ResubmitMessages => fun("resubmit_message", &[("id", NONE)]),
        Action::EditValueMaps => fun("delete_value_map", &[("id", NONE)]),
        // Integration messages come from machines, never from a person's form.
        Action::SendIntegrationMessages => None,
        Action::ManageUsers => fun(
            "set_user_disabled",
            &[("user_id", NONE), ("disabled", "true")],
        ),
        // A date with no holiday: past the role check it is not found (404).
        Action::EditHolidays => fun("delete_holiday", &[("day", "1900-01-02")]),
        // OpenADR clients are created with the CLI or the REST API; the console has no page yet.
        Action::ManageOpenAdrClients => None,
    }
}

/// The REST API's way to do `action`; `None` where the REST API has no such call.
fn rest_probe(action: Action, f: &Fixture) -> Option<Probe> {
    let e = f.enrollment;
    let d = f.device;
    let ev = f.event;
    let act = |name: &str| {
        post(
            &format!("/api/v1/events/{ev}/{name}"),
            serde_json::json!({"reason": "policy walk"}),
        )
    };
    match action {
        Action::OpenHome => None,
        Action::SeePersonalData => Some(Probe {
            request: Request::Api("GET", format!("/api/v1/enrollments/{e}"), None),
            verdict: Verdict::Masked,
        }),
        Action::SeeEnrollmentCounts => None,
        Action::ReadEnrollments => get("/api/v1/enrollments"),
        Action::ChangeEnrollments => post(
            &format!("/api/v1/enrollments/{e}/activate"),
            serde_json::json!({"reason": "policy walk"}),
        ),
        Action::ReplaceDevices => post(
            &format!("/api/v1/enrollments/{e}/replace-device"),
            serde_json::json!({"oldDeviceId": d, "newHeadEnd": "ECOBEE",
                "newNicId": "bad nic!", "reason": "policy walk"}),
        ),
        Action::ReadDevices => get(&format!("/api/v1/devices/{d}")),
        Action::CheckDevices => None,
        Action::RecordUnavailability => post(
            &format!("/api/v1/devices/{d}/unavailability"),
            // Ends before it starts: refused as input once the role may record it.
            serde_json::json!({"startsAt": "2030-07-01T18:00:00Z",
                "endsAt": "2030-07-01T17:00:00Z", "reason": "policy walk"}),
        ),
        Action::CancelUnavailability => None,
        Action::OptOut => post(
            &format!("/api/v1/devices/{d}/opt-out"),
            serde_json::json!({"stage": "NO-SUCH-STAGE"}),
        ),
        Action::ReadPrograms => get("/api/v1/programs"),
        Action::EditRules => None,
        Action::ChangeProgramStatus => post(
            &format!("/api/v1/programs/{NONE}/status"),
            serde_json::json!({"status": "active"}),
        ),
        Action::RunScores => post("/api/v1/scores/run", serde_json::json!({})),
        Action::ReadNetwork => get("/api/v1/network"),
        Action::ExportNetwork => post("/api/v1/network/export", serde_json::json!({})),
        Action::ReadAggregators => get("/api/v1/aggregators"),
        Action::EditAggregators => post(
            "/api/v1/aggregators",
            serde_json::json!({"name": "", "status": "NOPE", "startDate": "2026-01-01",
                "contactName": "", "contactEmail": "not an address", "externalRef": ""}),
        ),
        Action::ReadMeterImports => None,
        Action::ImportMeterData => status(Request::Api(
            "POST",
            "/api/v1/meter-data?fileName=walk.csv".into(),
            Some(("text/csv", "not,a,meter,file\n".into())),
        )),
        Action::ReadForecasts => get("/api/v1/weather"),
        Action::UploadForecasts => status(Request::Api(
            "PUT",
            "/api/v1/weather".into(),
            Some(("text/csv", "not a forecast\n".into())),
        )),
        Action::ReadReductions => None,
        Action::EditReductions => None,
        Action::ReadEvents => get(&format!("/api/v1/events/{ev}")),
        Action::CreateEvents => post(
            "/api/v1/events",
            // Ends before it starts.
            serde_json::json!({"strategyId": 999999, "name": "policy walk",
                "startsAt": "2030-07-01T18:00:00Z", "endsAt": "2030-07-01T17:00:00Z"}),
        ),
        Action::GenerateStages => post(&format!("/api/v1/events/{ev}/plan"), serde_json::json!({})),
        Action::SubmitEvents => act("submit"),
        Action::ApproveEvents => act("approve"),
        Action::DenyEvents => act("deny"),
        Action::CancelEvents => act("cancel"),
        Action::MoveClock => None,
        Action::ReadStrategies => get("/api/v1/strategies"),
        Action::EditStrategies => post(
            "/api/v1/strategies",
            serde_json::json!({"name": "", "zone": ["NO-SUCH-NODE"],
                "programs": ["NO-SUCH-PROGRAM"], "eventType": "Nope", "objective": "Nope",
                "controlLevel": "nope"}),
        ),
        Action::ArchiveStrategies => None,
        Action::ReadSettlements => get("/api/v1/settlements"),
        Action::SettleEvents => post("/api/v1/settlements/events/EV-NOPE", serde_json::json!({})),
        Action::SettleSeasons => post(
            "/api/v1/settlements/programs/NO-SUCH-PROGRAM",
            serde_json::json!({}),
        ),
        Action::ExportBilling => get("/api/v1/settlements/programs/SMT-BYOD/billing.csv"),
        Action::ReadReports => get("/api/v1/reports/programs/SMT-BYOD"),
        Action::ReadAudit => None,
        Action::ReadMonitor => None,
        Action::ResubmitMessages => None,
        Action::EditValueMaps => None,
        Action::SendIntegrationMessages => status(Request::Api(
            "POST",
            "/integration/enrollment_request".into(),
            Some(("application/json", "{}".into())),
        )),
        Action::ManageUsers => None,
        Action::EditHolidays => None,
        // No name and no scope: refused as input (400) once the role may create clients.
        Action::ManageOpenAdrClients => post(
            "/api/v1/openadr/clients",
            serde_json::json!({"name": "", "scopes": []}),
        ),
    }
}

fn username(role: Role) -> &'static str {
    match role {
        Role::ProgramManager => "manager",
        Role::Operator => "operator",
        Role::Approver => "approver",
        Role::Auditor => "auditor",
        Role::Admin => "admin",
    }
}

/// A role's way in: a signed-in browser with its CSRF token, and an API token.
struct Caller {
    browser: reqwest::Client,
    csrf: String,
    token: String,
}

/// Whether an answer lets the action through (`Ok(true)`), refuses it (`Ok(false)`), or is
/// neither (`Err`: a server error, a missing sign-in).
fn read_answer(verdict: Verdict, status: u16, body: &str) -> Result<bool, String> {
    if status >= 500 || status == 401 {
        return Err(format!(
            "{status}: {}",
            body.chars().take(200).collect::<String>()
        ));
    }
    Ok(match verdict {
        Verdict::Status => status != 403,
        Verdict::Masked => status != 403 && !body.contains(MASK),
        Verdict::Counts => status != 403 && body.contains("program_code"),
    })
}

async fn send(app: &TestApp, caller: &Caller, request: &Request) -> (u16, String) {
    let http = reqwest::Client::new();
    let res = match request {
        Request::Fn(name, fields) => {
            let mut body = vec![("csrf", caller.csrf.clone())];
            body.extend(fields.iter().cloned());
            caller
                .browser
                .post(app.url(&format!("/fn/{name}")))
                .header("accept", "application/json")
                .form(&body)
                .send()
                .await
        }
        Request::Page(path) => {
            caller
                .browser
                .get(app.url(path))
                .header("accept", "text/html")
                .send()
                .await
        }
        Request::Api(method, path, body) => {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let mut req = http
                .request(method, app.url(path))
                .bearer_auth(&caller.token);
            if let Some((content_type, body)) = body {
                req = req.header("content-type", *content_type).body(body.clone());
            }
            req.send().await
        }
    }
    .expect("the server answers");
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

async fn fixture(t: &TestDb) -> Fixture {
    let (enrollment, device): (i64, i64) = with_db!(&t.db, |p| sqlx::query_as(
        "SELECT e.id, ed.device_id FROM enrollments e
         JOIN enrollment_devices ed ON ed.enrollment_id = e.id AND ed.left_at IS NULL
         WHERE e.status = 'ACTIVE' ORDER BY e.id LIMIT 1"
    )
    .fetch_one(p)
    .await
    .expect("an active enrollment"));
    let program: i64 = scalar(
        &t.db,
        "SELECT id FROM programs WHERE code = 'SMT-BYOD'",
        &[],
    )
    .await;
    let event: i64 = scalar(
        &t.db,
        "SELECT id FROM events WHERE status = 'Completed' ORDER BY id LIMIT 1",
        &[],
    )
    .await;
    Fixture {
        enrollment,
        device,
        program,
        event,
    }
}

each_backend!(every_action_answers_every_role_as_the_policy_says);
async fn every_action_answers_every_role_as_the_policy_says(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let f = fixture(&t).await;
    let mut callers = Vec::new();
    for role in Role::ALL {
        let browser = app.browser();
        app.login(&browser, username(role), PASSWORD).await;
        let csrf = app.csrf(&browser, "/home").await;
        let token = gridflex::auth::create_token(
            &t.db,
            "test",
            &format!("walk-{}", role.as_str()),
            role.as_str(),
        )
        .await
        .expect("token");
        callers.push((
            role,
            Caller {
                browser,
                csrf,
                token,
            },
        ));
    }

    let mut wrong = Vec::new();
    let mut walked = 0;
    for action in Action::ALL {
        let probes = [
            ("console", console_probe(action, &f)),
            ("REST", rest_probe(action, &f)),
        ];
        assert!(
            probes.iter().any(|(_, p)| p.is_some()),
            "{action:?} is reached neither from the console nor from the REST API"
        );
        for (interface, probe) in probes.iter() {
            let Some(probe) = probe else { continue };
            for (role, caller) in &callers {
                let (status, body) = send(&app, caller, &probe.request).await;
                walked += 1;
                let expected = may(*role, action);
                match read_answer(probe.verdict, status, &body) {
                    Ok(allowed) if allowed == expected => {}
                    Ok(allowed) => wrong.push(format!(
                        "{action:?} × {} via {interface}: {} (the policy says {}), answered {status}: {}",
                        role.as_str(),
                        if allowed { "let through" } else { "refused" },
                        if expected { "allowed" } else { "refused" },
                        body.chars().take(160).collect::<String>()
                    )),
                    Err(e) => wrong.push(format!(
                        "{action:?} × {} via {interface}: {e}",
                        role.as_str()
                    )),
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{}: {} of {walked} answers differ from the policy:\n{}",
        t.name,
        wrong.len(),
        wrong.join("\n")
    );
    drop(app);
    t.cleanup().await;
}
