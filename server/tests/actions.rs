//! Actions that start integration flows, from the console (forms with CSRF) and the REST
//! API, on every backend: device replacement (flow 2, REPLACE_DEVICE) and the network
//! model export (flow 11).

mod common;

use common::*;
use gridflex::integration::peer::Peers;
use gridflex::integration::worker::{DeliveryWorker, RetryPolicy};
use gridflex::with_db;
use serde_json::{json, Value};

fn in_process_worker(t: &TestDb) -> DeliveryWorker {
    DeliveryWorker::new(
        t.db.clone(),
        Peers::in_process(&t.db, cal(), inbound_handlers()),
        test_clock(),
        RetryPolicy::default(),
        1,
    )
}

async fn api_token(t: &TestDb, role: &str) -> String {
    gridflex::auth::create_token(&t.db, "test", &format!("{role}-client"), role)
        .await
        .expect("token")
}

/// An ACTIVE enrollment with a current device, both registered on the grid side.
async fn active_enrollment(t: &TestDb) -> (i64, i64, String, String) {
    with_db!(&t.db, |p| {
        sqlx::query_as(
        "SELECT e.id, d.id, d.head_end, d.nic_id FROM enrollments e JOIN enrollment_devices ed ON ed.enrollment_id = e.id AND ed.left_at IS NULL
         JOIN devices d ON d.id = ed.device_id WHERE e.status = 'ACTIVE' ORDER BY e.id LIMIT 1"
    )
    .fetch_one(p)
    .await
    .unwrap()
    })
}

async fn grid_status(t: &TestDb, head_end: &str, nic: &str) -> Option<String> {
    scalar_opt(
        &t.db,
        "SELECT status FROM grid_devices WHERE head_end = $1 AND nic_id = $2",
        &[Arg::from(head_end), Arg::from(nic)],
    )
    .await
}

each_backend!(a_program_manager_replaces_a_device_and_the_grid_swaps_it);
async fn a_program_manager_replaces_a_device_and_the_grid_swaps_it(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let (enrollment, old_device, head_end, nic) = active_enrollment(&t).await;
    let page = format!("/enrollments/{enrollment}");
    let e = enrollment.to_string();
    let old = old_device.to_string();
    let manager = app.browser();
    app.login(&manager, "manager", PASSWORD).await;
    let (_, html) = app.page(&manager, &page).await;
    assert!(
        html.contains("id=\"replace-device\""),
        "{}: the form is shown",
        t.name
    );
    let form = |nic: &'static str, kw: &'static str, reason: &'static str| {
        vec![
            ("enrollment_id", e.clone()),
            ("replacement[old_device_id]", old.clone()),
            ("replacement[new_head_end]", "ecobee".to_string()),
            ("replacement[new_nic_id]", nic.to_string()),
            ("replacement[new_nominal_kw]", kw.to_string()),
            ("replacement[new_specification]", String::new()),
            ("replacement[reason]", reason.to_string()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>| {
        let app = &app;
        let manager = &manager;
        let page = page.clone();
        async move {
            let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_form(manager, &page, "/fn/replace_device", &f)
                .await
        }
    };
    let before = t.count("SELECT COUNT(*) FROM device_replacements").await;
    // A bad kW figure is refused naming the field; nothing is written.
    post(form("NEWNIC0001", "-3", "failed unit")).await;
    let (_, html) = app.page(&manager, &page).await;
    assert!(html.contains("new nominal kW"), "{}: error shown", t.name);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM device_replacements").await,
        before
    );

    let res = post(form("NEWNIC0001", "", "failed unit")).await;
    assert_eq!(res.status(), 302, "{}", t.name);
    let (_, html) = app.page(&manager, &page).await;
    assert!(
        html.contains("Device replaced by ECOBEE NEWNIC0001") && html.contains("failed unit"),
        "{}: flash and history shown",
        t.name
    );
    let left: Option<String> = scalar(&t.db, "SELECT CAST(left_at AS TEXT) FROM enrollment_devices WHERE enrollment_id = $1 AND device_id = $2", &[Arg::from(enrollment), Arg::from(old_device)]).await;
    assert!(left.is_some(), "{}: the old device left", t.name);
    let audit = t
        .count("SELECT COUNT(*) FROM audit_log WHERE action = 'enrollment.replace_device'")
        .await;
    assert_eq!(audit, 1, "{}", t.name);
    let payload: String = scalar(&t.db, "SELECT payload FROM integration_messages WHERE flow = 'enrollment_sync' AND direction = 'outbound' ORDER BY id DESC LIMIT 1", &[]).await;
    let payload: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["action"], "REPLACE_DEVICE");
    assert_eq!(payload["replacedDevice"]["nicId"], nic.as_str());
    // The grid registers the new device and lets the old one go; the ack comes back.
    let report = in_process_worker(&t).tick().await.unwrap();
    assert_eq!(report.delivered, 1, "{}: {report:?}", t.name);
    assert_eq!(
        grid_status(&t, "ECOBEE", "NEWNIC0001").await.as_deref(),
        Some("registered")
    );
    assert_eq!(
        grid_status(&t, &head_end, &nic)
            .await
            .as_deref()
            .unwrap_or("unregistered"),
        "unregistered"
    );
    let registered: bool = scalar(
        &t.db,
        "SELECT registered FROM devices WHERE head_end = 'ECOBEE' AND nic_id = 'NEWNIC0001'",
        &[],
    )
    .await;
    assert!(registered, "{}: the ack was applied", t.name);

    // The old device is gone from the enrollment: replacing it again is refused.
    post(form("NEWNIC0002", "", "again")).await;
    let (_, html) = app.page(&manager, &page).await;
    assert!(html.contains("is not in enrollment"), "{}", t.name);

    // REST: the program manager may, the operator may not; bad input is a 400.
    let c = reqwest::Client::new();
    let new_device: i64 = scalar(
        &t.db,
        "SELECT id FROM devices WHERE nic_id = 'NEWNIC0001'",
        &[],
    )
    .await;
    let body = json!({"oldDeviceId": new_device, "newHeadEnd": "ECOBEE", "newNicId": "NEWNIC0003",
        "newNominalKw": 3.5, "reason": "upgrade"});
    let url = app.url(&format!("/api/v1/enrollments/{enrollment}/replace-device"));
    let operator = api_token(&t, "operator").await;
    let res = c
        .post(&url)
        .bearer_auth(&operator)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "{}", t.name);
    let manager_token = api_token(&t, "program_manager").await;
    let mut bad = body.clone();
    bad["newNicId"] = json!("bad nic!");
    let res = c
        .post(&url)
        .bearer_auth(&manager_token)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "{}", t.name);
    assert!(res.text().await.unwrap().contains("new NIC id"));
    // The form's conventions are refused with the field named: a number as text, a
    // snake_case name.
    for (field, value, named) in [
        ("oldDeviceId", json!(new_device.to_string()), "oldDeviceId"),
        ("newNominalKw", json!("3.5"), "newNominalKw"),
        ("new_nic_id", json!("NEWNIC0003"), "new_nic_id"),
    ] {
        let mut typed = body.clone();
        typed[field] = value;
        let res = c
            .post(&url)
            .bearer_auth(&manager_token)
            .json(&typed)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{}: {field}", t.name);
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let problem: Value = res.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(named),
            "{problem}"
        );
    }
    let res = c
        .post(&url)
        .bearer_auth(&manager_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let answer: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{}: {answer}", t.name);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM device_replacements").await,
        before + 2,
        "{}",
        t.name
    );
    let kw: f64 = scalar(
        &t.db,
        "SELECT nominal_kw FROM devices WHERE nic_id = 'NEWNIC0003'",
        &[],
    )
    .await;
    assert_eq!(kw, 3.5);
    drop(app);
    t.cleanup().await;
}

each_backend!(an_operator_exports_the_network_model_and_the_program_side_applies_it);
async fn an_operator_exports_the_network_model_and_the_program_side_applies_it(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let queued = "SELECT COUNT(*) FROM integration_messages WHERE flow = 'network_location_transfer' AND direction = 'outbound'";
    // The program manager sees no export button and cannot post one.
    let manager = app.browser();
    app.login(&manager, "manager", PASSWORD).await;
    let (_, html) = app.page(&manager, "/network").await;
    assert!(!html.contains("network-export"), "{}", t.name);
    app.post_form(&manager, "/network", "/fn/export_network", &[])
        .await;
    assert_eq!(t.count(queued).await, 0, "{}", t.name);

    let operator = app.browser();
    app.login(&operator, "operator", PASSWORD).await;
    let (_, html) = app.page(&operator, "/network").await;
    assert!(html.contains("network-export"), "{}", t.name);
    let res = app
        .post_form(&operator, "/network", "/fn/export_network", &[])
        .await;
    assert_eq!(res.status(), 302);
    let (_, html) = app.page(&operator, "/network").await;
    assert!(html.contains("Network model exported"), "{}", t.name);
    assert_eq!(t.count(queued).await, 1, "{}", t.name);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_log WHERE action = 'network.export'")
            .await,
        1
    );
    let nodes = t.count("SELECT COUNT(*) FROM network_nodes").await;
    let payload: String = scalar(
        &t.db,
        "SELECT payload FROM integration_messages WHERE flow = 'network_location_transfer'",
        &[],
    )
    .await;
    let payload: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["nodes"].as_array().unwrap().len() as i64, nodes);
    assert_eq!(
        payload["servicePoints"].as_array().unwrap().len() as i64,
        t.count("SELECT COUNT(*) FROM device_locations").await
    );
    // The program side (here, the same database) takes it: nothing new, nothing moved.
    let report = in_process_worker(&t).tick().await.unwrap();
    assert_eq!(report.delivered, 1, "{}: {report:?}", t.name);
    let ack: String = scalar(&t.db, "SELECT result FROM integration_messages WHERE flow = 'network_location_transfer' AND direction = 'outbound'", &[]).await;
    let ack: Value = serde_json::from_str(&ack).unwrap();
    assert_eq!(
        (ack["nodesCreated"].as_i64(), ack["nodesMoved"].as_i64()),
        (Some(0), Some(0)),
        "{ack}"
    );

    // REST: operator and admin may, the program manager may not.
    let c = reqwest::Client::new();
    let url = app.url("/api/v1/network/export");
    let res = c
        .post(&url)
        .bearer_auth(api_token(&t, "program_manager").await)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "{}", t.name);
    let res = c
        .post(&url)
        .bearer_auth(api_token(&t, "operator").await)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", t.name);
    assert_eq!(t.count(queued).await, 2, "{}", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(a_program_manager_adds_and_edits_an_aggregator_and_the_grid_keeps_it);
async fn a_program_manager_adds_and_edits_an_aggregator_and_the_grid_keeps_it(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let manager = app.browser();
    app.login(&manager, "manager", PASSWORD).await;
    let (status, html) = app.page(&manager, "/aggregators").await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"save-aggregator\""), "{}", t.name);
    let fields = |id: &'static str, name: &'static str, email: &'static str, end: &'static str| {
        vec![
            ("aggregator[id]", id),
            ("aggregator[name]", name),
            ("aggregator[status]", "active"),
            ("aggregator[start_date]", "2026-01-01"),
            ("aggregator[end_date]", end),
            ("aggregator[contact_name]", "Priya Raman"),
            ("aggregator[contact_email]", email),
            ("aggregator[external_ref]", "AGG-GRIDWISE"),
            ("aggregator[program_codes]", "smt-byod, BATT-VPP"),
        ]
    };
    let before = t.count("SELECT COUNT(*) FROM aggregators").await;
    // Refused with the field named; nothing written.
    app.post_form(
        &manager,
        "/aggregators",
        "/fn/save_aggregator",
        &fields("", "GridWise", "ops@", ""),
    )
    .await;
    let (_, html) = app.page(&manager, "/aggregators").await;
    assert!(html.contains("contact email"), "{}", t.name);
    app.post_form(
        &manager,
        "/aggregators",
        "/fn/save_aggregator",
        &fields("", "GridWise", "ops@gridwise.example", "2025-01-01"),
    )
    .await;
    let (_, html) = app.page(&manager, "/aggregators").await;
    assert!(html.contains("end date"), "{}", t.name);
    assert_eq!(t.count("SELECT COUNT(*) FROM aggregators").await, before);

    let res = app
        .post_form(
            &manager,
            "/aggregators",
            "/fn/save_aggregator",
            &fields("", "GridWise", "ops@gridwise.example", ""),
        )
        .await;
    assert_eq!(res.status(), 302);
    let (_, html) = app.page(&manager, "/aggregators").await;
    assert!(html.contains("Aggregator GridWise added"), "{}", t.name);
    let id: i64 = scalar(
        &t.db,
        "SELECT id FROM aggregators WHERE external_ref = 'AGG-GRIDWISE'",
        &[],
    )
    .await;
    let programs = t
        .count(&format!(
            "SELECT COUNT(*) FROM aggregator_programs WHERE aggregator_id = {id}"
        ))
        .await;
    assert_eq!(programs, 2, "{}", t.name);
    // Edit: the form comes filled in; the name changes.
    let edit_page = format!("/aggregators?edit={id}");
    let (_, html) = app.page(&manager, &edit_page).await;
    assert!(
        html.contains("Edit GridWise") && html.contains("value=\"ops@gridwise.example\""),
        "{}",
        t.name
    );
    let sid = id.to_string();
    let mut edit = fields("", "GridWise Energy", "ops@gridwise.example", "");
    edit[0].1 = &sid;
    app.post_form(&manager, &edit_page, "/fn/save_aggregator", &edit)
        .await;
    let (_, html) = app.page(&manager, &edit_page).await;
    assert!(
        html.contains("Aggregator GridWise Energy saved"),
        "{}",
        t.name
    );
    let audit: Vec<String> = scalars(&t.db, "SELECT action FROM audit_log WHERE entity_type = 'aggregator' AND entity_id = $1 ORDER BY id", &[Arg::from(&sid)]).await;
    assert_eq!(
        audit,
        ["aggregator.create", "aggregator.update"],
        "{}",
        t.name
    );
    // Both syncs reach the grid, which keeps the latest.
    let report = in_process_worker(&t).tick().await.unwrap();
    assert_eq!(report.delivered, 2, "{}: {report:?}", t.name);
    let name: String = scalar(
        &t.db,
        "SELECT name FROM grid_aggregators WHERE external_ref = 'AGG-GRIDWISE'",
        &[],
    )
    .await;
    assert_eq!(name, "GridWise Energy", "{}", t.name);

    // The auditor reads with the email masked and cannot save.
    let auditor = app.browser();
    app.login(&auditor, "auditor", PASSWORD).await;
    let (status, html) = app.page(&auditor, "/aggregators").await;
    assert_eq!(status, 200);
    assert!(
        !html.contains("ops@gridwise.example") && !html.contains("save-aggregator"),
        "{}",
        t.name
    );

    // REST: list, add, edit; the operator may not; a duplicate reference is a 409.
    let c = reqwest::Client::new();
    let token = api_token(&t, "program_manager").await;
    let list: Value = c
        .get(app.url("/api/v1/aggregators"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["externalRef"] == "AGG-GRIDWISE" && a["programCodes"].is_array()));
    let body = json!({"name": "Peak Partners", "status": "active", "startDate": "2026-02-01", "contactName": "Jo",
        "contactEmail": "jo@peak.example", "externalRef": "AGG-PEAK", "programCodes": ["SMT-BYOD"]});
    let res = c
        .post(app.url("/api/v1/aggregators"))
        .bearer_auth(api_token(&t, "operator").await)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = c
        .post(app.url("/api/v1/aggregators"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", t.name);
    let res = c
        .post(app.url("/api/v1/aggregators"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409, "{}", t.name);
    let added: Value = c
        .get(app.url("/api/v1/aggregators"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let peak = added
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["externalRef"] == "AGG-PEAK")
        .unwrap();
    assert_eq!(peak["programCodes"], json!(["SMT-BYOD"]), "{}", t.name);
    assert_eq!(peak["startDate"], "2026-02-01");
    assert!(peak["endDate"].is_null());
    let mut bad = body.clone();
    bad["programCodes"] = json!(["NOPE"]);
    let res = c
        .post(app.url(&format!("/api/v1/aggregators/{id}")))
        .bearer_auth(&token)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "{}", t.name);
    // A list as text, or a date that is not one, is refused naming the field.
    for (field, value) in [
        ("programCodes", json!("SMT-BYOD")),
        ("startDate", json!("2026-02-30")),
    ] {
        let mut typed = body.clone();
        typed[field] = value;
        let res = c
            .post(app.url(&format!("/api/v1/aggregators/{id}")))
            .bearer_auth(&token)
            .json(&typed)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{}: {field}", t.name);
        let problem: Value = res.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(field),
            "{problem}"
        );
    }
    let mut renamed = body.clone();
    renamed["externalRef"] = json!("AGG-GRIDWISE");
    renamed["name"] = json!("GridWise Co");
    let res = c
        .post(app.url(&format!("/api/v1/aggregators/{id}")))
        .bearer_auth(&token)
        .json(&renamed)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", t.name);
    drop(app);
    t.cleanup().await;
}

/// How many of program `code`'s rules the grid side holds linked (what it plans with and
/// what OpenADR publishes).
async fn linked_rules(t: &TestDb, code: &str) -> i64 {
    scalar(
        &t.db,
        "SELECT COUNT(*) FROM grid_program_rules WHERE program_code = $1 AND linked",
        &[Arg::from(code)],
    )
    .await
}

async fn drain(w: &DeliveryWorker) {
    for _ in 0..50 {
        if w.tick().await.expect("delivery").claimed == 0 {
            return;
        }
    }
    panic!("the outbox did not drain");
}

each_backend!(a_program_manager_suspends_resumes_and_closes_a_program_and_the_grid_follows);
async fn a_program_manager_suspends_resumes_and_closes_a_program_and_the_grid_follows(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let worker = in_process_worker(&t);
    drain(&worker).await;
    let id: i64 = t
        .scalar("SELECT id FROM programs WHERE code = 'SMT-BYOD'", &[])
        .await;
    let rules: i64 = t
        .scalar(
            "SELECT COUNT(*) FROM program_rules WHERE program_id = $1",
            &[Arg::from(id)],
        )
        .await;
    assert!(rules > 0, "{}: the demo program has rules", t.name);
    assert_eq!(linked_rules(&t, "SMT-BYOD").await, rules, "{}", t.name);
    let status = || async {
        t.scalar::<String>(
            "SELECT status FROM programs WHERE id = $1",
            &[Arg::from(id)],
        )
        .await
    };
    let page = format!("/programs/{id}");
    let manager = app.browser();
    app.login(&manager, "manager", PASSWORD).await;
    let (_, html) = app.page(&manager, &page).await;
    assert!(
        html.contains("id=\"program-suspend\"")
            && html.contains("id=\"program-close\"")
            && !html.contains("id=\"program-activate\""),
        "{}: an active program can be suspended or closed",
        t.name
    );

    // Suspending is confirmed first: the step changes nothing, the confirmation does.
    let res = app
        .post_form(
            &manager,
            &page,
            "/fn/ask_confirmation",
            &[
                ("kind", "suspend_program"),
                ("target", &id.to_string()),
                ("reason", "Thermostat vendor recall"),
            ],
        )
        .await;
    assert_eq!(res.status(), 302, "{}", t.name);
    assert_eq!(status().await, "active", "{}: not yet", t.name);
    let (_, html) = app.page(&manager, "/confirm").await;
    assert!(
        html.contains("Suspend program SMT-BYOD") && html.contains("Thermostat vendor recall"),
        "{}: {html}",
        t.name
    );
    let res = app
        .post_form(
            &manager,
            "/confirm",
            "/fn/change_program_status",
            &[
                ("program_id", &id.to_string()),
                ("status", "suspended"),
                ("reason", "Thermostat vendor recall"),
            ],
        )
        .await;
    assert_eq!(res.status(), 302, "{}", t.name);
    assert_eq!(status().await, "suspended", "{}", t.name);
    // One UNLINK per rule, in the transaction of the change, with its audit entry.
    let unlinks = t
        .count("SELECT COUNT(*) FROM integration_messages WHERE flow = 'program_rule_sync' AND direction = 'outbound' AND payload LIKE '%\"UNLINK\"%'")
        .await;
    assert_eq!(unlinks, rules, "{}", t.name);
    let audit: String = t
        .scalar(
            "SELECT after_json FROM audit_log WHERE action = 'program.status' ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await;
    let audit: Value = serde_json::from_str(&audit).unwrap();
    assert_eq!(audit["status"], "suspended", "{audit}");
    assert_eq!(audit["reason"], "Thermostat vendor recall", "{audit}");
    drain(&worker).await;
    assert_eq!(
        linked_rules(&t, "SMT-BYOD").await,
        0,
        "{}: the grid side no longer plans with it",
        t.name
    );
    assert!(
        gridflex::db::openadr::programs(&t.db, Some("SMT-BYOD"), 0, 1)
            .await
            .unwrap()
            .is_empty(),
        "{}: nor does OpenADR publish it",
        t.name
    );
    let (_, html) = app.page(&manager, &page).await;
    assert!(
        html.contains("id=\"program-activate\"") && !html.contains("id=\"program-suspend\""),
        "{}: a suspended program can be made active again",
        t.name
    );

    // REST: an operator may not; the program manager makes it active again and every rule
    // is linked on the grid side once more.
    let c = reqwest::Client::new();
    let url = app.url(&format!("/api/v1/programs/{id}/status"));
    let send = |token: String, body: Value| {
        let c = c.clone();
        let url = url.clone();
        async move {
            c.post(&url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let res = send(api_token(&t, "operator").await, json!({"status": "active"})).await;
    assert_eq!(res.status(), 403, "{}", t.name);
    let pm = api_token(&t, "program_manager").await;
    let res = send(pm.clone(), json!({"status": "active"})).await;
    assert_eq!(res.status(), 200, "{}", t.name);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"id": id, "status": "active"})
    );
    drain(&worker).await;
    assert_eq!(linked_rules(&t, "SMT-BYOD").await, rules, "{}", t.name);
    assert_eq!(
        gridflex::db::openadr::programs(&t.db, Some("SMT-BYOD"), 0, 1)
            .await
            .unwrap()
            .len(),
        1,
        "{}",
        t.name
    );

    // Bad input is refused by name and changes nothing: a status that does not exist, and
    // closing without a reason.
    let audits = t
        .count("SELECT COUNT(*) FROM audit_log WHERE action = 'program.status'")
        .await;
    for (body, code, named) in [
        (json!({"status": "paused"}), 400, "status: `paused`"),
        (json!({"status": "closed"}), 400, "reason:"),
        (json!({"status": "active"}), 409, "already active"),
        (json!({"state": "closed"}), 422, "state"),
    ] {
        let res = send(pm.clone(), body.clone()).await;
        assert_eq!(res.status(), code, "{}: {body}", t.name);
        let problem: Value = res.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(named),
            "{}: {problem}",
            t.name
        );
    }
    assert_eq!(status().await, "active", "{}", t.name);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_log WHERE action = 'program.status'")
            .await,
        audits
    );

    // Closing is final.
    let res = send(
        pm.clone(),
        json!({"status": "closed", "reason": "Season programme ended"}),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", t.name);
    drain(&worker).await;
    assert_eq!(linked_rules(&t, "SMT-BYOD").await, 0, "{}", t.name);
    let res = send(pm, json!({"status": "active"})).await;
    assert_eq!(res.status(), 409, "{}", t.name);
    assert!(res.text().await.unwrap().contains("final"));
    let (_, html) = app.page(&manager, &page).await;
    assert!(
        !html.contains("id=\"program-activate\"") && !html.contains("id=\"program-close\""),
        "{}: a closed program offers nothing",
        t.name
    );
    drop(app);
    t.cleanup().await;
}
