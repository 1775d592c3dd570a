//! The integration flows end to end, on every backend: enrollment requests (flow 1),
//! enrollment sync and its acknowledgement (flow 2), idempotency, retries, parking,
//! resubmission, and two processes talking over HTTP.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use common::*;
use gridflex::clock::ManualClock;
use gridflex::integration::peer::{HttpPeer, Peers};
use gridflex::integration::worker::{DeliveryWorker, RetryPolicy};
use gridflex::with_db;
use serde_json::{json, Value};

/// A delivery worker that hands messages to the other side in this process.
fn in_process_worker(t: &TestDb) -> DeliveryWorker {
    DeliveryWorker::new(
        t.db.clone(),
        Peers::in_process(&t.db, cal(), inbound_handlers()),
        test_clock(),
        RetryPolicy::default(),
        1,
    )
}

async fn integration_token(t: &TestDb, name: &str) -> String {
    gridflex::auth::create_token(&t.db, "test", name, "integration")
        .await
        .expect("token")
}

async fn a_transformer(t: &TestDb) -> String {
    scalar(
        &t.db,
        "SELECT code FROM network_nodes WHERE kind = 'transformer' ORDER BY id LIMIT 1",
        &[],
    )
    .await
}

fn record(id: &str, person: &str, program: &str, transformer: &str, nic: &str) -> Value {
    json!({
        "recordId": id,
        "customerInfo": {"personId": person, "accountId": format!("ACC-{person}"), "name": "Lena Test", "phone": "+1 555 000 1111", "email": "lena@example.com"},
        "programInfo": {"programCode": program},
        "locationInfo": {"servicePointId": format!("SP-{person}"), "premiseId": format!("PR-{person}"),
                          "address": {"street": "1 Test St", "city": "Riverside", "postalCode": "60100"},
                          "timeZone": "America/Chicago", "transformerCode": transformer},
        "enrollmentSource": "X1BY", "ownership": "owned", "startDate": "2026-06-01",
        "assetInfo": {"assetList": [{"headEndSystem": "ECOBEE", "nicId": nic, "deviceType": "thermostat",
                                      "specification": "ecobee3 lite", "nominalKw": 2.5}]}
    })
}

fn envelope(message_id: &str, flow: &str, payload: Value) -> Value {
    json!({"messageId": message_id, "flow": flow, "correlationId": null, "sentAt": test_now(), "payload": payload})
}

each_backend!(an_enrollment_request_batch_creates_pending_enrollments_and_fails_bad_records_alone);
async fn an_enrollment_request_batch_creates_pending_enrollments_and_fails_bad_records_alone(
    t: TestDb,
) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let token = integration_token(&t, "head-end").await;
    let xf = a_transformer(&t).await;
    let mut wrong_type = record("r3", "P-3", "SMT-BYOD", &xf, "ABC003");
    wrong_type["assetInfo"]["assetList"][0]["nominalKw"] = json!("lots");
    let batch = json!({"transactionId": "T-1", "records": [
        record("r1", "P-1", "SMT-BYOD", &xf, "abc001"),
        record("r2", "P-2", "NO-SUCH-PROGRAM", &xf, "ABC002"),
        wrong_type,
        record("r4", "P-1", "SMT-BYOD", &xf, "ABC001"),
        record("r5", "P-5", "SMT-BYOD", "XF-NOWHERE", "ABC005"),
    ]});
    let c = reqwest::Client::new();
    let send = |id: &str| {
        c.post(app.url("/integration/enrollment_request"))
            .bearer_auth(&token)
            .json(&envelope(id, "enrollment_request", batch.clone()))
            .send()
    };
    let res = send("m-1").await.unwrap();
    assert_eq!(res.status(), 200, "{}", t.name);
    let ack: Value = res.json().await.unwrap();
    let statuses: Vec<&str> = ack["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "CREATED",
            "REJECTED",
            "REJECTED",
            "ALREADY_EXISTS",
            "REJECTED"
        ],
        "{}: {ack}",
        t.name
    );
    assert!(ack["results"][1]["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("NO-SUCH-PROGRAM"));
    assert!(ack["results"][2]["errors"][0]["field"]
        .as_str()
        .unwrap()
        .contains("nominalKw"));
    assert!(ack["results"][4]["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("XF-NOWHERE"));
    let created = ack["results"][0]["enrollmentId"].as_i64().unwrap();
    assert_eq!(ack["results"][3]["enrollmentId"].as_i64().unwrap(), created);
    let (status, nic): (String, String) = with_db!(&t.db, |p| {
        sqlx::query_as(
        "SELECT e.status, d.nic_id FROM enrollments e JOIN enrollment_devices ed ON ed.enrollment_id = e.id JOIN devices d ON d.id = ed.device_id WHERE e.id = $1"
    )
    .bind(created)
    .fetch_one(p)
    .await
    .unwrap()
    });
    assert_eq!((status.as_str(), nic.as_str()), ("PENDING", "ABC001"));
    let unkeyed = t
        .count(
            "SELECT COUNT(*) FROM enrollments e JOIN customers c ON c.id = e.customer_id
             WHERE e.customer_key <> c.name_key",
        )
        .await;
    assert_eq!(
        unkeyed, 0,
        "{}: every enrollment carries its customer's sort key",
        t.name
    );
    assert_eq!(
        tallies_out_of_step(&t).await,
        vec![],
        "{}: the new enrollment is tallied",
        t.name
    );
    let rejected_customer: i64 = t
        .count("SELECT COUNT(*) FROM customers WHERE person_id IN ('P-2', 'P-3', 'P-5')")
        .await;
    assert_eq!(
        rejected_customer, 0,
        "{}: a rejected record leaves nothing behind",
        t.name
    );

    // The same message again changes nothing and gets the same answer.
    let count = |db: gridflex::db::Db| async move {
        scalar::<i64>(&db, "SELECT COUNT(*) FROM enrollments", &[]).await
    };
    let before = count(t.db.clone()).await;
    let again = send("m-1").await.unwrap();
    assert_eq!(again.headers()["x-gridflex-duplicate"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), ack);
    assert_eq!(count(t.db.clone()).await, before);
    // A new message with the same record reports it as existing.
    let third: Value = send("m-2").await.unwrap().json().await.unwrap();
    assert_eq!(third["results"][0]["status"], "ALREADY_EXISTS");
    assert_eq!(count(t.db.clone()).await, before);
    drop(app);
    t.cleanup().await;
}

each_backend!(bad_integration_input_gets_clear_errors_never_500);
async fn bad_integration_input_gets_clear_errors_never_500(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let token = integration_token(&t, "head-end").await;
    let manager = gridflex::auth::create_token(&t.db, "test", "pm", "program_manager")
        .await
        .unwrap();
    let c = reqwest::Client::new();
    let post = |flow: &str, body: String, tok: &str| {
        c.post(app.url(&format!("/integration/{flow}")))
            .bearer_auth(tok.to_string())
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let cases: Vec<(&str, String, &str, u16, &str)> = vec![
        (
            "enrollment_request",
            "{not json".into(),
            &token,
            400,
            "not valid JSON",
        ),
        (
            "enrollment_request",
            json!({"flow": "enrollment_request", "payload": {}}).to_string(),
            &token,
            400,
            "messageId",
        ),
        (
            "enrollment_request",
            json!({"messageId": "s1", "flow": "enrollment_request", "sentAt": "not a date", "payload": {}}).to_string(),
            &token,
            400,
            "`sentAt` must be an RFC 3339 time",
        ),
        (
            "enrollment_request",
            json!({"messageId": "s2", "flow": "enrollment_request", "sentAt": 12, "payload": {}}).to_string(),
            &token,
            400,
            "`sentAt`",
        ),
        (
            "enrollment_request",
            json!({"messageId": "s3", "flow": "enrollment_request", "payload": {}}).to_string(),
            &token,
            400,
            "`sentAt`",
        ),
        (
            "enrollment_request",
            json!({"messageId": "s4", "flow": "enrollment_request", "sentAt": "0000-01-01T00:00:00Z", "payload": {}}).to_string(),
            &token,
            400,
            "`sentAt`",
        ),
        (
            "enrollment_request",
            envelope("x1", "enrollment_request", json!({"records": []})).to_string(),
            &token,
            422,
            "transactionId",
        ),
        (
            "enrollment_request",
            envelope(
                "x2",
                "enrollment_request",
                json!({"transactionId": "T", "records": "no"}),
            )
            .to_string(),
            &token,
            422,
            "records",
        ),
        (
            "enrollment_request",
            envelope("x3", "enrollment_sync", json!({})).to_string(),
            &token,
            400,
            "flow",
        ),
        (
            "device_score",
            envelope("x4", "device_score", json!({"transactionId": "T"})).to_string(),
            &token,
            422,
            "scoredOn is required",
        ),
        (
            "stage_status",
            envelope(
                "x7",
                "stage_status",
                json!({"eventExternalIdentifier": "E"}),
            )
            .to_string(),
            &token,
            422,
            "externalIdentifier is required",
        ),
        (
            "network_location_transfer",
            envelope(
                "x8",
                "network_location_transfer",
                json!({"transactionId": "N"}),
            )
            .to_string(),
            &token,
            422,
            "exportedAt",
        ),
        ("no_such_flow", "{}".into(), &token, 404, "no_such_flow"),
        (
            "enrollment_request",
            envelope("x5", "enrollment_request", json!({})).to_string(),
            "gfx_wrong",
            401,
            "token",
        ),
        (
            "enrollment_request",
            envelope("x6", "enrollment_request", json!({})).to_string(),
            &manager,
            403,
            "may not",
        ),
    ];
    for (flow, body, tok, status, needle) in cases {
        let res = post(flow, body, tok).await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{} {flow} {needle}", t.name);
        let text = res.text().await.unwrap();
        assert!(text.contains(needle), "{flow}: {text}");
    }
    drop(app);
    t.cleanup().await;
}

async fn pending_enrollment(t: &TestDb) -> (i64, Vec<(String, String)>) {
    let id: i64 = scalar(&t.db, "SELECT e.id FROM enrollments e WHERE e.status = 'PENDING' AND EXISTS (SELECT 1 FROM enrollment_devices ed WHERE ed.enrollment_id = e.id AND ed.left_at IS NULL) ORDER BY e.id LIMIT 1", &[]).await;
    let devices: Vec<(String, String)> = with_db!(&t.db, |p| {
        sqlx::query_as(
        "SELECT d.head_end, d.nic_id FROM enrollment_devices ed JOIN devices d ON d.id = ed.device_id WHERE ed.enrollment_id = $1 AND ed.left_at IS NULL"
    )
    .bind(id)
    .fetch_all(p)
    .await
    .unwrap()
    });
    (id, devices)
}

async fn registered(t: &TestDb, head_end: &str, nic: &str) -> (bool, Option<String>) {
    let program: bool = scalar(
        &t.db,
        "SELECT registered FROM devices WHERE head_end = $1 AND nic_id = $2",
        &[Arg::from(head_end), Arg::from(nic)],
    )
    .await;
    let grid: Option<String> = scalar_opt(
        &t.db,
        "SELECT status FROM grid_devices WHERE head_end = $1 AND nic_id = $2",
        &[Arg::from(head_end), Arg::from(nic)],
    )
    .await;
    (program, grid)
}

each_backend!(
    activating_an_enrollment_syncs_it_to_the_grid_and_the_ack_marks_its_devices_registered
);
async fn activating_an_enrollment_syncs_it_to_the_grid_and_the_ack_marks_its_devices_registered(
    t: TestDb,
) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let (id, devices) = pending_enrollment(&t).await;
    with_db!(&t.db, |p| {
        sqlx::query("UPDATE devices SET registered = FALSE WHERE id IN (SELECT device_id FROM enrollment_devices WHERE enrollment_id = $1)")
        .bind(id)
        .execute(p)
        .await
        .unwrap()
        .rows_affected()
    });
    let manager = app.browser();
    app.login(&manager, "manager", PASSWORD).await;
    let page = format!("/enrollments/{id}");
    let id_s = id.to_string();
    let res = app
        .post_form(
            &manager,
            &page,
            "/fn/change_enrollment_status",
            &[
                ("enrollment_id", &id_s),
                ("change", "activate"),
                ("reason", "head-end confirmed"),
            ],
        )
        .await;
    assert_eq!(res.status(), 302, "{}", t.name);
    let (_, html) = app.page(&manager, &page).await;
    assert!(
        html.contains("is now ACTIVE"),
        "{}: confirmation shown",
        t.name
    );

    let queued: i64 = t.count("SELECT COUNT(*) FROM integration_messages WHERE flow = 'enrollment_sync' AND status = 'queued'").await;
    assert_eq!(queued, 1, "{}: the sync is queued with the change", t.name);
    let worker = in_process_worker(&t);
    let report = worker.tick().await.unwrap();
    assert_eq!(report.delivered, 1, "{}: {report:?}", t.name);
    for (h, n) in &devices {
        assert_eq!(
            registered(&t, h, n).await,
            (true, Some("registered".into())),
            "{} {h} {n}",
            t.name
        );
    }
    // Delivered once: another tick has nothing to do.
    assert_eq!(worker.tick().await.unwrap().claimed, 0);

    // Unenrolling tells the grid too.
    app.post_form(
        &manager,
        &page,
        "/fn/change_enrollment_status",
        &[
            ("enrollment_id", &id_s),
            ("change", "unenroll"),
            ("reason", "customer moved"),
        ],
    )
    .await;
    assert_eq!(worker.tick().await.unwrap().delivered, 1);
    let (h, n) = &devices[0];
    assert_eq!(
        registered(&t, h, n).await,
        (false, Some("unregistered".into())),
        "{}",
        t.name
    );

    // The monitor shows both messages to the admin; the auditor may look but not resubmit.
    let admin = app.browser();
    app.login(&admin, "admin", PASSWORD).await;
    let (status, html) = app.page(&admin, "/monitor?flow=enrollment_sync").await;
    assert_eq!(status, 200);
    assert!(html.contains("enrollment_sync"));
    // The counts table also lists the flows of the demo's past events.
    let demo_counts: i64 = t
        .count(
            "SELECT COUNT(*) FROM (SELECT DISTINCT flow, direction FROM integration_messages
         WHERE status = 'delivered' AND flow <> 'enrollment_sync') x",
        )
        .await;
    assert_eq!(
        html.matches("badge-delivered").count() as i64 - demo_counts,
        3,
        "{}: two rows and one count",
        t.name
    );
    let operator = app.browser();
    app.login(&operator, "operator", PASSWORD).await;
    assert_eq!(app.page(&operator, "/monitor").await.0, 403);
    drop(app);
    t.cleanup().await;
}

each_backend!(a_peer_that_is_down_is_retried_then_parked_and_an_admin_resubmits);
async fn a_peer_that_is_down_is_retried_then_parked_and_an_admin_resubmits(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let (id, devices) = pending_enrollment(&t).await;
    gridflex::programs::enrollment::change_status(
        &t.db,
        cal(),
        id,
        gridflex::programs::enrollment::EnrollmentAction::Activate,
        "manager",
        "ok",
        test_now(),
    )
    .await
    .unwrap();
    let clock = Arc::new(ManualClock::new(test_now()));
    let mut down = Peers::in_process(&t.db, cal(), inbound_handlers());
    down.grid = Arc::new(
        HttpPeer::new(
            "http://127.0.0.1:9",
            "token",
            std::time::Duration::from_millis(500),
        )
        .unwrap(),
    );
    let policy = RetryPolicy {
        jitter: 0.0,
        ..Default::default()
    };
    let worker = DeliveryWorker::new(t.db.clone(), down, clock.clone(), policy, 7);
    let first = worker.tick().await.unwrap();
    assert_eq!((first.claimed, first.retries), (1, 1), "{}", t.name);
    // Not due yet: nothing is claimed before its backoff has passed.
    assert_eq!(worker.tick().await.unwrap().claimed, 0);
    let mut parked = 0;
    for _ in 0..20 {
        clock.advance(Duration::minutes(11));
        let r = worker.tick().await.unwrap();
        parked += r.parked;
        if parked == 1 {
            break;
        }
    }
    assert_eq!(parked, 1, "{}: parked after the last try", t.name);
    let (msg_id, attempts, status): (i64, i32, String) = with_db!(&t.db, |p| {
        sqlx::query_as(
            "SELECT id, attempts, status FROM integration_messages WHERE flow = 'enrollment_sync'",
        )
        .fetch_one(p)
        .await
        .unwrap()
    });
    assert_eq!((attempts, status.as_str()), (8, "parked"));
    let tries: i64 = scalar(&t.db, "SELECT COUNT(*) FROM integration_attempts WHERE message_pk = $1 AND outcome = 'technical_failure'", &[Arg::from(msg_id)]).await;
    assert_eq!(tries, 8);

    let admin = app.browser();
    app.login(&admin, "admin", PASSWORD).await;
    let page = format!("/monitor/{msg_id}");
    let (_, html) = app.page(&admin, &page).await;
    assert!(
        html.contains("Resubmit") && html.contains("127.0.0.1:9"),
        "{}: the failure and the button are shown",
        t.name
    );
    let res = app
        .post_form(
            &admin,
            &page,
            "/fn/resubmit_message",
            &[("id", &msg_id.to_string())],
        )
        .await;
    assert_eq!(res.status(), 302);
    // The peer is back.
    let healthy = DeliveryWorker::new(
        t.db.clone(),
        Peers::in_process(&t.db, cal(), inbound_handlers()),
        clock.clone(),
        RetryPolicy::default(),
        7,
    );
    assert_eq!(healthy.tick().await.unwrap().delivered, 1, "{}", t.name);
    let (h, n) = &devices[0];
    assert!(registered(&t, h, n).await.0);
    let audit: i64 = t
        .count("SELECT COUNT(*) FROM audit_log WHERE action = 'message.resubmit'")
        .await;
    assert_eq!(audit, 1);
    drop(app);
    t.cleanup().await;
}

#[tokio::test]
async fn the_auditor_sees_integration_payloads_with_personal_data_masked() {
    let t = TestDb::sqlite().await;
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let token = integration_token(&t, "head-end").await;
    let xf = a_transformer(&t).await;
    reqwest::Client::new()
        .post(app.url("/integration/enrollment_request"))
        .bearer_auth(&token)
        .json(&envelope("pii-1", "enrollment_request", json!({"transactionId": "T-9", "records": [record("r1", "P-9", "SMT-BYOD", &xf, "ABC009")]})))
        .send()
        .await
        .unwrap();
    let id: i64 = scalar(
        &t.db,
        "SELECT id FROM integration_messages WHERE message_id = 'pii-1'",
        &[],
    )
    .await;
    let auditor = app.browser();
    app.login(&auditor, "auditor", PASSWORD).await;
    let (status, html) = app.page(&auditor, &format!("/monitor/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("••••••")
            && !html.contains("lena@example.com")
            && !html.contains("1 Test St")
    );
    assert!(!html.contains("Resubmit"));
    let admin = app.browser();
    app.login(&admin, "admin", PASSWORD).await;
    let (_, html) = app.page(&admin, &format!("/monitor/{id}")).await;
    assert!(html.contains("lena@example.com"));
    drop(app);
    t.cleanup().await;
}

#[tokio::test]
async fn two_gridflex_processes_exchange_the_enrollment_sync_over_http() {
    // The program side and the grid side each with their own database, on loopback.
    let programs = TestDb::sqlite().await;
    let grid = TestDb::sqlite().await;
    with_demo(&programs).await;
    with_demo(&grid).await;
    let grid_app = spawn_app(&grid).await;
    let grid_token = integration_token(&grid, "program-side").await;
    let (id, devices) = pending_enrollment(&programs).await;
    gridflex::programs::enrollment::change_status(
        &programs.db,
        cal(),
        id,
        gridflex::programs::enrollment::EnrollmentAction::Activate,
        "manager",
        "ok",
        test_now(),
    )
    .await
    .unwrap();
    let mut peers = Peers::in_process(&programs.db, cal(), inbound_handlers());
    peers.grid = Arc::new(
        HttpPeer::new(
            &grid_app.base,
            &grid_token,
            std::time::Duration::from_secs(5),
        )
        .unwrap(),
    );
    let worker = DeliveryWorker::new(
        programs.db.clone(),
        peers,
        test_clock(),
        RetryPolicy::default(),
        3,
    );
    let report = worker.tick().await.unwrap();
    assert_eq!(report.delivered, 1, "{report:?}");
    let (h, n) = &devices[0];
    // The grid process registered the device; the program process recorded the ack.
    assert_eq!(registered(&grid, h, n).await.1, Some("registered".into()));
    assert!(registered(&programs, h, n).await.0);
    // (The demo's past events left in-process messages, dated days ago.)
    let inbound: String = scalar(&grid.db, "SELECT sender FROM integration_messages WHERE direction = 'inbound' AND flow = 'enrollment_sync'", &[]).await;
    assert_eq!(inbound, "program-side");
    drop(grid_app);
    programs.cleanup().await;
    grid.cleanup().await;
}

each_backend!(the_grid_side_keeps_what_the_program_side_tells_it);
async fn the_grid_side_keeps_what_the_program_side_tells_it(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let token = integration_token(&t, "cpm").await;
    let xf = a_transformer(&t).await;
    let c = reqwest::Client::new();
    let mut n = 0;
    let mut send = |flow: &'static str, payload: Value| {
        n += 1;
        c.post(app.url(&format!("/integration/{flow}")))
            .bearer_auth(&token)
            .json(&envelope(&format!("g-{n}"), flow, payload))
            .send()
    };
    let sync = json!({"transactionId": "S-1", "action": "ENROLL", "enrollmentId": 1, "programCode": "SMT-BYOD", "servicePointId": "SP000000001",
        "transformerCode": xf, "deviceList": [{"headEndSystem": "NEST", "nicId": "AA11BB22CC33", "deviceType": "thermostat", "nominalKw": 2.0}]});
    let ack: Value = send("enrollment_sync", sync)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ack["deviceList"][0]["registrationStatus"], "REGISTERED",
        "{}",
        t.name
    );

    // Flow 3: connection status as the grid knows it.
    let status: Value = send("device_status_check", json!({"transactionId": "C-1", "deviceList": [
        {"headEndSystem": "NEST", "nicId": "AA11BB22CC33"}, {"headEndSystem": "NEST", "nicId": "FFFFFFFFFFFF"}]}))
    .await.unwrap().json().await.unwrap();
    assert_eq!(status["deviceList"][0]["status"], "ONLINE");
    assert_eq!(status["deviceList"][1]["status"], "UNKNOWN");

    // Flow 8: a window added, then cancelled; a bad one is refused naming the field.
    let window = |action: &str| {
        json!({"transactionId": "U-1", "action": action, "windowId": "W-1", "headEndSystem": "NEST", "nicId": "AA11BB22CC33",
        "startTime": "2026-07-01T12:00:00Z", "endTime": "2026-07-01T18:00:00Z", "reason": "vacation"})
    };
    assert_eq!(
        send("customer_unavailability", window("ADD"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        send("customer_unavailability", window("CANCEL"))
            .await
            .unwrap()
            .status(),
        200
    );
    let state: String = scalar(
        &t.db,
        "SELECT status FROM grid_unavailability WHERE window_id = 'W-1'",
        &[],
    )
    .await;
    assert_eq!(state, "cancelled", "{}", t.name);
    let mut backwards = window("ADD");
    backwards["endTime"] = json!("2026-07-01T10:00:00Z");
    let res = send("customer_unavailability", backwards).await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("endTime"));
    let mut missing = window("CANCEL");
    missing["windowId"] = json!("W-404");
    assert_eq!(
        send("customer_unavailability", missing)
            .await
            .unwrap()
            .status(),
        422
    );

    // Flow 9: a rule linked; an impossible one refused.
    let rule = json!({"effectiveFrom": "2026-05-01", "cycle": "monthly", "weekStart": 0, "maxEventsPerCycle": 4, "maxMinutesPerCycle": 480,
        "minGapMinutes": 720, "minEventMinutes": 30, "maxEventMinutes": 240, "maxOverrides": 2, "windowStartMinute": 600,
        "windowEndMinute": 1200, "activationCost": 1.0, "burnRateFactor": 1.2, "scoreFactor": 1.0, "overridable": false});
    assert_eq!(send("program_rule_sync", json!({"transactionId": "R-1", "action": "LINK", "programCode": "SMT-BYOD", "rule": rule.clone()})).await.unwrap().status(), 200);
    let mut bad = rule.clone();
    bad["minEventMinutes"] = json!(300);
    let res = send(
        "program_rule_sync",
        json!({"transactionId": "R-2", "action": "CHANGE", "programCode": "SMT-BYOD", "rule": bad}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422, "{}", t.name);
    let rules: i64 = scalar(&t.db, "SELECT COUNT(*) FROM grid_program_rules WHERE program_code = 'SMT-BYOD' AND linked AND rule_json LIKE '%\"maxEventsPerCycle\":4,%' AND updated_at > $1", &[Arg::from(test_now() - chrono::Duration::hours(1))]).await;
    // The demo's own copies were written at its anchor date; the synced rule is new.
    assert_eq!(rules, 1);

    // Flow 10: created, then updated in place.
    for name in ["VoltShift", "VoltShift Aggregation LLC"] {
        let res = send("aggregator_sync", json!({"transactionId": "A-1", "externalReference": "AGG-VS", "name": name, "status": "active",
            "startDate": "2024-01-01", "contactName": "Priya", "contactEmail": "ops@voltshift.example", "programCodes": ["SMT-BYOD"]})).await.unwrap();
        assert_eq!(res.status(), 200);
    }
    // (The demo's own aggregators are there too, as flow 10 would have left them.)
    let names: Vec<String> = scalars(
        &t.db,
        "SELECT name FROM grid_aggregators WHERE external_ref = 'AGG-VS'",
        &[],
    )
    .await;
    assert_eq!(names, ["VoltShift Aggregation LLC"], "{}", t.name);

    // Flow 12: scores land on known devices; unknown ones are reported back.
    let ack: Value = send("device_score", json!({"transactionId": "D-1", "scoredOn": "2026-07-02", "scores": [
        {"headEndSystem": "NEST", "nicId": "AA11BB22CC33", "programCode": "SMT-BYOD", "controlScore": 2.75},
        {"headEndSystem": "NEST", "nicId": "000000000000", "programCode": "SMT-BYOD", "controlScore": 1.0}]}))
    .await.unwrap().json().await.unwrap();
    assert_eq!(ack["accepted"], 1);
    assert_eq!(ack["unknownDevices"][0]["nicId"], "000000000000");
    let score: f64 = scalar(
        &t.db,
        "SELECT control_score FROM grid_devices WHERE nic_id = 'AA11BB22CC33'",
        &[],
    )
    .await;
    assert_eq!(score, 2.75);
    drop(app);
    t.cleanup().await;
}

each_backend!(several_workers_share_the_queue_and_deliver_each_message_once);
async fn several_workers_share_the_queue_and_deliver_each_message_once(t: TestDb) {
    with_demo(&t).await;
    // 300 activations, each queueing an enrollment sync.
    let ids: Vec<i64> = scalars(
        &t.db,
        "SELECT e.id FROM enrollments e WHERE e.status = 'PENDING' ORDER BY e.id LIMIT 300",
        &[],
    )
    .await;
    for id in &ids {
        gridflex::programs::enrollment::change_status(
            &t.db,
            cal(),
            *id,
            gridflex::programs::enrollment::EnrollmentAction::Activate,
            "manager",
            "batch",
            test_now(),
        )
        .await
        .unwrap();
    }
    // Four workers (as four server processes would) tick concurrently until the queue is empty.
    let mut handles = Vec::new();
    for seed in 0..4u64 {
        let db = t.db.clone();
        handles.push(tokio::spawn(async move {
            let policy = RetryPolicy {
                batch: 25,
                ..Default::default()
            };
            let w = DeliveryWorker::new(
                db.clone(),
                Peers::in_process(&db, cal(), inbound_handlers()),
                test_clock(),
                policy,
                seed,
            );
            let mut delivered = 0;
            loop {
                let r = w.tick().await.unwrap();
                delivered += r.delivered;
                if r.claimed == 0 {
                    break delivered;
                }
            }
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    assert_eq!(
        total,
        ids.len(),
        "{}: every message delivered exactly once",
        t.name
    );
    let (inbound, attempts): (i64, i64) = with_db!(&t.db, |p| {
        sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM integration_messages WHERE direction = 'inbound' AND flow = 'enrollment_sync'),
                (SELECT COUNT(*) FROM integration_attempts a JOIN integration_messages m ON m.id = a.message_pk
                 WHERE m.flow = 'enrollment_sync')"
    )
    .fetch_one(p)
    .await
    .unwrap()
    });
    assert_eq!(
        (inbound, attempts),
        (ids.len() as i64, ids.len() as i64),
        "{}",
        t.name
    );
    t.cleanup().await;
}

each_backend!(a_program_manager_records_unavailability_and_the_grid_learns_of_it);
async fn a_program_manager_records_unavailability_and_the_grid_learns_of_it(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let device: i64 = scalar(
        &t.db,
        "SELECT id FROM devices WHERE status = 'active' ORDER BY id LIMIT 1",
        &[],
    )
    .await;
    let page = format!("/devices/{device}");
    let d = device.to_string();
    let manager = app.browser();
    app.login(&manager, "manager", PASSWORD).await;
    // A window that ends before it starts is refused with the reason; nothing is stored.
    app.post_form(
        &manager,
        &page,
        "/fn/add_unavailability",
        &[
            ("device_id", &d),
            ("starts_at", "2030-07-01T18:00"),
            ("ends_at", "2030-07-01T12:00"),
            ("reason", "vacation"),
        ],
    )
    .await;
    let (_, html) = app.page(&manager, &page).await;
    assert!(
        html.contains("the window must end after it starts"),
        "{}",
        t.name
    );
    let res = app
        .post_form(
            &manager,
            &page,
            "/fn/add_unavailability",
            &[
                ("device_id", &d),
                ("starts_at", "2030-07-01T12:00"),
                ("ends_at", "2030-07-01T18:00"),
                ("reason", "vacation"),
            ],
        )
        .await;
    assert_eq!(res.status(), 302);
    let (_, html) = app.page(&manager, &page).await;
    assert!(
        // The form's times are local: shown back with the zone's abbreviation.
        html.contains("Unavailability recorded") && html.contains("2030-07-01 12:00 CDT"),
        "{}",
        t.name
    );
    let window: i64 = scalar(&t.db, "SELECT id FROM unavailability_windows WHERE device_id = $1 AND reason = 'vacation' AND starts_at > $2", &[Arg::from(device), Arg::from(test_now())]).await;
    let worker = in_process_worker(&t);
    assert_eq!(worker.tick().await.unwrap().delivered, 1, "{}", t.name);
    let grid = |db: gridflex::db::Db, id: String| async move {
        scalar::<String>(
            &db,
            "SELECT status FROM grid_unavailability WHERE window_id = $1",
            &[Arg::from(id)],
        )
        .await
    };
    assert_eq!(grid(t.db.clone(), format!("UW-{window}")).await, "active");
    app.post_form(
        &manager,
        &page,
        "/fn/cancel_unavailability",
        &[("window_id", &window.to_string()), ("device_id", &d)],
    )
    .await;
    assert_eq!(worker.tick().await.unwrap().delivered, 1);
    assert_eq!(
        grid(t.db.clone(), format!("UW-{window}")).await,
        "cancelled",
        "{}",
        t.name
    );
    let audit: Vec<String> = scalars(
        &t.db,
        "SELECT action FROM audit_log WHERE entity_type = 'device' AND entity_id = $1 ORDER BY id",
        &[Arg::from(&d)],
    )
    .await;
    assert_eq!(audit, ["unavailability.add", "unavailability.cancel"]);
    // The auditor may look, not record.
    let auditor = app.browser();
    app.login(&auditor, "auditor", PASSWORD).await;
    let (_, html) = app.page(&auditor, &page).await;
    assert!(!html.contains("add-unavailability"));
    app.post_form(
        &auditor,
        &page,
        "/fn/add_unavailability",
        &[
            ("device_id", &d),
            ("starts_at", "2030-08-01T12:00"),
            ("ends_at", "2030-08-01T18:00"),
            ("reason", "sneaky"),
        ],
    )
    .await;
    let sneaky: i64 = t
        .count("SELECT COUNT(*) FROM unavailability_windows WHERE reason = 'sneaky'")
        .await;
    assert_eq!(sneaky, 0, "{}", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(an_admin_runs_the_score_calculation_and_the_grid_gets_the_scores);
async fn an_admin_runs_the_score_calculation_and_the_grid_gets_the_scores(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let admin = app.browser();
    app.login(&admin, "admin", PASSWORD).await;
    let res = app
        .post_form(&admin, "/programs", "/fn/run_scores", &[])
        .await;
    assert_eq!(res.status(), 302, "{}", t.name);
    let (_, html) = app.page(&admin, "/programs").await;
    assert!(html.contains("Control scores computed for"), "{}", t.name);
    // A thermostat in an active SMT-BYOD enrollment: activation 1.0 × score factor 1.0 ÷ kW.
    let (kw, score, nic): (f64, f64, String) = with_db!(&t.db, |p| {
        sqlx::query_as(
        "SELECT d.nominal_kw, d.control_score, d.nic_id FROM devices d JOIN enrollment_devices ed ON ed.device_id = d.id AND ed.left_at IS NULL
         JOIN enrollments e ON e.id = ed.enrollment_id WHERE e.program_id = 1 AND e.status = 'ACTIVE' ORDER BY d.id LIMIT 1"
    )
    .fetch_one(p)
    .await
    .unwrap()
    });
    assert!(
        (score - (1.0 / kw * 1000.0).round() / 1000.0).abs() < 1e-9,
        "{}: {score} for {kw} kW",
        t.name
    );
    let queued: i64 = t.count("SELECT COUNT(*) FROM integration_messages WHERE flow = 'device_score' AND status = 'queued'").await;
    assert_eq!(queued, 4, "one message per active program");
    let worker = in_process_worker(&t);
    assert_eq!(worker.tick().await.unwrap().delivered, 4, "{}", t.name);
    let grid_score: Option<f64> = scalar_opt(
        &t.db,
        "SELECT control_score FROM grid_devices WHERE nic_id = $1",
        &[Arg::from(&nic)],
    )
    .await
    .flatten();
    if let Some(g) = grid_score {
        assert!((g - score).abs() < 1e-9);
    }
    let with_scores: i64 = t
        .count("SELECT COUNT(*) FROM grid_devices WHERE control_score IS NOT NULL")
        .await;
    assert!(
        with_scores > 0,
        "{}: the grid ranks by the new scores",
        t.name
    );
    // The schedule's run for the same (local) day does nothing more; a non-admin cannot run
    // it. At the tests' clock the UTC date is already tomorrow.
    let now = test_now();
    let again = gridflex::programs::score::run_scores(
        &t.db,
        cal(),
        "schedule",
        cal().local_date(now),
        now,
        true,
    )
    .await
    .unwrap();
    assert!(!again.ran);
    let manager = app.browser();
    app.login(&manager, "manager", PASSWORD).await;
    app.post_form(&manager, "/programs", "/fn/run_scores", &[])
        .await;
    let runs: i64 = t
        .count("SELECT COUNT(*) FROM audit_log WHERE action = 'scores.run'")
        .await;
    assert_eq!(runs, 1, "{}", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(value_maps_translate_codes_and_refuse_unknown_ones);
async fn value_maps_translate_codes_and_refuse_unknown_ones(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let admin = app.browser();
    app.login(&admin, "admin", PASSWORD).await;
    let res = app
        .post_form(
            &admin,
            "/admin/value-maps",
            "/fn/put_value_map",
            &[
                ("map", "device_specification"),
                ("source_value", "ecobee3 lite"),
                ("target_value", "ECB-3L"),
            ],
        )
        .await;
    assert_eq!(res.status(), 302);
    let (_, html) = app.page(&admin, "/admin/value-maps").await;
    assert!(
        html.contains("ECB-3L") && html.contains("now maps to"),
        "{}",
        t.name
    );
    app.post_form(
        &admin,
        "/admin/value-maps",
        "/fn/put_value_map",
        &[
            ("map", "no_such_map"),
            ("source_value", "a"),
            ("target_value", "b"),
        ],
    )
    .await;
    let (_, html) = app.page(&admin, "/admin/value-maps").await;
    assert!(html.contains("unknown value map `no_such_map`"));

    let token = integration_token(&t, "head-end").await;
    let xf = a_transformer(&t).await;
    let mut unknown = record("r2", "VM-2", "SMT-BYOD", &xf, "VM0002");
    unknown["assetInfo"]["assetList"][0]["specification"] = json!("Mystery Stat 9000");
    let ack: Value = reqwest::Client::new()
        .post(app.url("/integration/enrollment_request"))
        .bearer_auth(&token)
        .json(&envelope("vm-1", "enrollment_request", json!({"transactionId": "VM", "records": [record("r1", "VM-1", "SMT-BYOD", &xf, "VM0001"), unknown]})))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ack["results"][0]["status"], "CREATED", "{}: {ack}", t.name);
    assert_eq!(ack["results"][1]["status"], "REJECTED");
    let msg = ack["results"][1]["errors"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("device_specification") && msg.contains("Mystery Stat 9000"),
        "{msg}"
    );
    let spec: String = scalar(
        &t.db,
        "SELECT specification FROM devices WHERE nic_id = 'VM0001'",
        &[],
    )
    .await;
    assert_eq!(spec, "ECB-3L", "{}: translated at the boundary", t.name);
    let audits: i64 = t
        .count("SELECT COUNT(*) FROM audit_log WHERE action = 'value_map.put'")
        .await;
    assert_eq!(audits, 1);
    drop(app);
    t.cleanup().await;
}

each_backend!(the_program_side_follows_stages_reservations_and_outcomes);
async fn the_program_side_follows_stages_reservations_and_outcomes(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let token = integration_token(&t, "derms").await;
    let c = reqwest::Client::new();
    let mut n = 0;
    let mut send = |flow: &'static str, payload: Value| {
        n += 1;
        c.post(app.url(&format!("/integration/{flow}")))
            .bearer_auth(&token)
            .json(&envelope(&format!("p-{n}"), flow, payload))
            .send()
    };
    let window = json!({"startTime": "2030-07-01T18:00:00Z", "endTime": "2030-07-01T20:00:00Z"});
    let status = |action: &str| {
        let mut v = json!({"eventExternalIdentifier": "EV-1", "externalIdentifier": "EV-1-S1", "programCode": "SMT-BYOD", "eventCategory": "X1EC", "action": action});
        v["startTime"] = window["startTime"].clone();
        v["endTime"] = window["endTime"].clone();
        v
    };
    assert_eq!(
        send("stage_status", status("X1SD")).await.unwrap().status(),
        200,
        "{}",
        t.name
    );
    let mut reservation = json!({"eventExternalIdentifier": "EV-1", "externalIdentifier": "EV-1-S1", "programCode": "SMT-BYOD",
        "deviceList": [{"headEndSystem": "NEST", "nicId": "AAA000000001", "enrollmentId": null, "expectedKw": 1.5},
                       {"headEndSystem": "NEST", "nicId": "AAA000000002", "enrollmentId": null, "expectedKw": 2.0}]});
    reservation["startTime"] = window["startTime"].clone();
    reservation["endTime"] = window["endTime"].clone();
    let ack: Value = send("device_reservation", reservation)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ack["reserved"], 2, "{}", t.name);
    assert_eq!(
        send("stage_status", status("X1IP")).await.unwrap().status(),
        200
    );
    // Outcomes: one participated, one overrode; a device that was not reserved is refused.
    let outcome = json!({"eventExternalIdentifier": "EV-1", "externalIdentifier": "EV-1-S1", "postOutcomeList": [
        {"headEndSystem": "NEST", "nicId": "AAA000000001", "outcome": "D1SP", "participationStart": "2030-07-01T18:00:00Z", "participationEnd": "2030-07-01T20:00:00Z"},
        {"headEndSystem": "NEST", "nicId": "AAA000000002", "outcome": "D1IO", "participationStart": "2030-07-01T18:00:00Z", "participationEnd": "2030-07-01T18:40:00Z"}]});
    assert_eq!(send("device_outcome", outcome).await.unwrap().status(), 200);
    let stray = json!({"eventExternalIdentifier": "EV-1", "externalIdentifier": "EV-1-S1", "postOutcomeList": [
        {"headEndSystem": "NEST", "nicId": "FFF000000009", "outcome": "D1ND"}]});
    let res = send("device_outcome", stray).await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("not reserved"));
    assert_eq!(
        send("stage_status", status("F1CO")).await.unwrap().status(),
        200
    );
    // A completed stage does not go back, and a cancel needs a reason.
    let res = send("stage_status", status("X1IP")).await.unwrap();
    assert_eq!(res.status(), 422, "{}", t.name);
    let res = send("stage_status", status("F1CN")).await.unwrap();
    assert_eq!(res.status(), 422);
    let outcomes: Vec<(String, String)> = with_db!(&t.db, |p| {
        sqlx::query_as("SELECT nic_id, outcome FROM program_event_devices WHERE external_id = 'EV-1-S1' ORDER BY nic_id").fetch_all(p).await.unwrap()
    });
    assert_eq!(
        outcomes,
        [
            ("AAA000000001".to_string(), "D1SP".to_string()),
            ("AAA000000002".to_string(), "D1IO".to_string())
        ],
        "{}",
        t.name
    );
    let stage: String = scalar(
        &t.db,
        "SELECT status FROM program_events WHERE external_id = 'EV-1-S1'",
        &[],
    )
    .await;
    assert_eq!(stage, "F1CO");

    // Flow 7 on the grid side: an opt-out is recorded once.
    for id in ["o-1", "o-2"] {
        let res = c
            .post(app.url("/integration/customer_opt_out"))
            .bearer_auth(&token)
            .json(&envelope(id, "customer_opt_out", json!({"transactionId": "OPT-1", "eventExternalIdentifier": "EV-2", "headEndSystem": "NEST", "nicId": "AAA000000001", "requestedAt": "2030-07-02T10:00:00Z"})))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let opt_outs: i64 = t.count("SELECT COUNT(*) FROM grid_opt_outs").await;
    assert_eq!(opt_outs, 1, "{}", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(a_network_transfer_adds_moves_and_keeps_history);
async fn a_network_transfer_adds_moves_and_keeps_history(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let token = integration_token(&t, "derms").await;
    // The whole model as the grid exports it, with one transformer moved to another feeder
    // and one new transformer that takes over a service point.
    let nodes: Vec<(String, String, String, Option<String>)> = with_db!(&t.db, |p| {
        sqlx::query_as(
        "SELECT n.code, n.kind, n.name, pn.code FROM network_nodes n
         LEFT JOIN network_edges e ON e.child_id = n.id AND e.valid_to IS NULL LEFT JOIN network_nodes pn ON pn.id = e.parent_id ORDER BY n.id"
    )
    .fetch_all(p)
    .await
    .unwrap()
    });
    let (sp, moved_xf, old_feeder): (String, String, String) = with_db!(&t.db, |p| {
        sqlx::query_as(
        "SELECT l.service_point_id, t.code, f.code FROM device_locations l JOIN program_network_nodes t ON t.id = l.transformer_id
         JOIN program_network_nodes f ON f.id = l.feeder_id JOIN enrollments e ON e.location_id = l.id ORDER BY l.id LIMIT 1"
    )
    .fetch_one(p)
    .await
    .unwrap()
    });
    let new_feeder = nodes
        .iter()
        .find(|n| n.1 == "feeder" && n.0 != old_feeder)
        .unwrap()
        .0
        .clone();
    let mut list: Vec<Value> = nodes
        .iter()
        .map(|(code, kind, name, parent)| {
            let parent = if *code == moved_xf { Some(new_feeder.clone()) } else { parent.clone() };
            json!({"code": code, "kind": kind, "name": name, "parentCode": parent, "validFrom": "2030-01-01"})
        })
        .collect();
    list.push(json!({"code": "XF-NEW-0001", "kind": "transformer", "name": "New pad-mount", "parentCode": old_feeder, "validFrom": "2030-01-01"}));
    let transfer = json!({"transactionId": "NX-1", "exportedAt": "2030-01-01T00:00:00Z", "nodes": list,
        "servicePoints": [{"servicePointId": sp, "transformerCode": "XF-NEW-0001"}, {"servicePointId": "SP-NOT-HERE", "transformerCode": "XF-NEW-0001"}]});
    let grid_model = "SELECT (SELECT COUNT(*) FROM network_nodes) * 100000 + (SELECT COUNT(*) FROM network_edges)";
    let grid_before = t.count(grid_model).await;
    let res = reqwest::Client::new()
        .post(app.url("/integration/network_location_transfer"))
        .bearer_auth(&token)
        .json(&envelope("nx-1", "network_location_transfer", transfer))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let ack: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{}: {ack}", t.name);
    assert_eq!(
        (
            ack["nodesCreated"].as_i64(),
            ack["nodesMoved"].as_i64(),
            ack["servicePointsMoved"].as_i64(),
            ack["unknownServicePoints"].as_i64()
        ),
        (Some(1), Some(1), Some(1), Some(1)),
        "{}: {ack}",
        t.name
    );
    // The program side's flow 11 writes nothing of the grid's model.
    assert_eq!(t.count(grid_model).await, grid_before, "{}", t.name);
    // The program side records the move in its own copy of the network, history kept.
    let xf_id: i64 = scalar(
        &t.db,
        "SELECT id FROM program_network_nodes WHERE code = $1",
        &[Arg::from(&moved_xf)],
    )
    .await;
    let history: i64 = scalar(
        &t.db,
        "SELECT COUNT(*) FROM program_network_edges WHERE child_id = $1 AND valid_to IS NOT NULL",
        &[Arg::from(xf_id)],
    )
    .await;
    assert!(history >= 1, "{}: the old link is kept, ended", t.name);
    // `validFrom` is the utility's day: the move starts at local midnight (CST, 06:00 UTC).
    let moved_from: DateTime<Utc> = scalar(
        &t.db,
        "SELECT valid_from FROM program_network_edges WHERE child_id = $1 AND valid_to IS NULL",
        &[Arg::from(xf_id)],
    )
    .await;
    assert_eq!(
        moved_from,
        "2030-01-01T06:00:00Z".parse::<DateTime<Utc>>().unwrap(),
        "{}",
        t.name
    );
    let (xf, feeder): (String, String) = with_db!(&t.db, |p| {
        sqlx::query_as(
        "SELECT t.code, f.code FROM device_locations l JOIN program_network_nodes t ON t.id = l.transformer_id JOIN program_network_nodes f ON f.id = l.feeder_id
         WHERE l.service_point_id = $1"
    )
    .bind(&sp)
    .fetch_one(p)
    .await
    .unwrap()
    });
    assert_eq!(
        (xf.as_str(), feeder.as_str()),
        ("XF-NEW-0001", old_feeder.as_str()),
        "{}",
        t.name
    );
    // The program side answers the service point's place from its own copy (flow 11).
    let place = gridflex::programs::network_transfer::network_place(&t.db, &sp)
        .await
        .unwrap()
        .expect("the transfer placed the service point");
    assert_eq!(
        (
            place.transformer_code.as_str(),
            place.feeder_code.as_deref()
        ),
        ("XF-NEW-0001", Some(old_feeder.as_str())),
        "{}",
        t.name
    );
    let unknown = gridflex::programs::network_transfer::network_place(&t.db, "SP-NOT-HERE")
        .await
        .unwrap();
    assert_eq!(
        unknown, None,
        "{}: unknown service points are not added",
        t.name
    );
    assert_eq!(
        tallies_out_of_step(&t).await,
        vec![],
        "{}: the enrollment tallies follow the move",
        t.name
    );
    assert_eq!(
        node_figures_out_of_step(&t).await,
        vec![],
        "{}: the enrolled figures follow the move",
        t.name
    );
    drop(app);
    t.cleanup().await;
}

each_backend!(each_side_records_a_new_service_point_in_its_own_table);
async fn each_side_records_a_new_service_point_in_its_own_table(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let token = integration_token(&t, "head-end").await;
    let xf = a_transformer(&t).await;
    let (feeder, substation): (String, String) = with_db!(&t.db, |p| {
        sqlx::query_as(
        "SELECT f.code, s.code FROM network_current x JOIN network_current f ON f.id = x.parent_id
         JOIN network_current s ON s.id = f.parent_id WHERE x.code = $1"
    )
    .bind(&xf)
    .fetch_one(p)
    .await
    .unwrap()
    });
    let batch = json!({"transactionId": "T-OWN", "records": [record("r1", "OWN-1", "SMT-BYOD", &xf, "OWN00001")]});
    let res = reqwest::Client::new()
        .post(app.url("/integration/enrollment_request"))
        .bearer_auth(&token)
        .json(&envelope("m-own", "enrollment_request", batch))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", t.name);
    let ack: Value = res.json().await.unwrap();
    assert_eq!(ack["results"][0]["status"], "CREATED", "{}: {ack}", t.name);
    let id = ack["results"][0]["enrollmentId"].as_i64().unwrap();
    // The program side knows the new service point's place from the request alone.
    let place = gridflex::programs::network_transfer::network_place(&t.db, "SP-OWN-1")
        .await
        .unwrap()
        .expect("the enrollment request placed the service point");
    assert_eq!(
        (
            place.transformer_code.as_str(),
            place.feeder_code.as_deref(),
            place.substation_code.as_deref()
        ),
        (
            xf.as_str(),
            Some(feeder.as_str()),
            Some(substation.as_str())
        ),
        "{}",
        t.name
    );
    // The grid has not heard of it until the enrollment sync (flow 2) arrives.
    let on_grid = "SELECT COUNT(*) FROM grid_service_points WHERE service_point_id = 'SP-OWN-1'";
    assert_eq!(t.count(on_grid).await, 0, "{}", t.name);
    let manager = app.browser();
    app.login(&manager, "manager", PASSWORD).await;
    let id_s = id.to_string();
    let res = app
        .post_form(
            &manager,
            &format!("/enrollments/{id}"),
            "/fn/change_enrollment_status",
            &[
                ("enrollment_id", &id_s),
                ("change", "activate"),
                ("reason", "head-end confirmed"),
            ],
        )
        .await;
    assert_eq!(res.status(), 302, "{}", t.name);
    let report = in_process_worker(&t).tick().await.unwrap();
    assert_eq!(report.delivered, 1, "{}: {report:?}", t.name);
    assert_eq!(t.count(on_grid).await, 1, "{}", t.name);
    // The grid's export (flow 11) states it from the grid's own record.
    gridflex::grid::network_export::export_network(&t.db, "operator", test_now())
        .await
        .unwrap();
    let payload: String = with_db!(&t.db, |p| sqlx::query_scalar(
        "SELECT payload FROM integration_messages WHERE flow = 'network_location_transfer'"
    )
    .fetch_one(p)
    .await
    .unwrap());
    let payload: Value = serde_json::from_str(&payload).unwrap();
    let link = payload["servicePoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["servicePointId"] == "SP-OWN-1")
        .cloned();
    assert_eq!(
        link.map(|l| l["transformerCode"].clone()),
        Some(json!(xf)),
        "{}",
        t.name
    );
    drop(app);
    t.cleanup().await;
}

each_backend!(an_opt_out_before_the_cutoff_reaches_the_grid_and_one_after_is_refused);
async fn an_opt_out_before_the_cutoff_reaches_the_grid_and_one_after_is_refused(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let token = integration_token(&t, "derms").await;
    // An active thermostat (SMT-BYOD: opt-out allowed until 60 min before an event).
    let (device, head_end, nic): (i64, String, String) = with_db!(&t.db, |p| {
        sqlx::query_as(
        "SELECT d.id, d.head_end, d.nic_id FROM devices d JOIN enrollment_devices ed ON ed.device_id = d.id AND ed.left_at IS NULL
         JOIN enrollments e ON e.id = ed.enrollment_id WHERE e.program_id = 1 AND e.status = 'ACTIVE' ORDER BY d.id LIMIT 1"
    )
    .fetch_one(p)
    .await
    .unwrap()
    });
    let c = reqwest::Client::new();
    for (stage, starts) in [
        ("LATER-S1", test_now() + Duration::hours(5)),
        ("SOON-S1", test_now() + Duration::minutes(30)),
    ] {
        let reservation = json!({"eventExternalIdentifier": stage.replace("-S1", ""), "externalIdentifier": stage, "programCode": "SMT-BYOD",
            "startTime": starts, "endTime": starts + Duration::hours(2),
            "deviceList": [{"headEndSystem": head_end, "nicId": nic, "enrollmentId": null, "expectedKw": 1.5}]});
        let res = c
            .post(app.url("/integration/device_reservation"))
            .bearer_auth(&token)
            .json(&envelope(stage, "device_reservation", reservation))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", t.name);
    }
    let manager = app.browser();
    app.login(&manager, "manager", PASSWORD).await;
    let page = format!("/devices/{device}");
    let (_, html) = app.page(&manager, &page).await;
    assert!(
        html.contains("LATER-S1") && html.contains("Opt out"),
        "{}: reservations shown",
        t.name
    );
    let d = device.to_string();
    app.post_form(
        &manager,
        &page,
        "/fn/opt_out",
        &[("stage", "LATER-S1"), ("device_id", &d)],
    )
    .await;
    let (_, html) = app.page(&manager, &page).await;
    assert!(html.contains("Opted out of the event"), "{}", t.name);
    app.post_form(
        &manager,
        &page,
        "/fn/opt_out",
        &[("stage", "SOON-S1"), ("device_id", &d)],
    )
    .await;
    let (_, html) = app.page(&manager, &page).await;
    assert!(
        html.contains("opt-out cut-off for this event passed"),
        "{}",
        t.name
    );
    let worker = in_process_worker(&t);
    assert_eq!(
        worker.tick().await.unwrap().delivered,
        1,
        "{}: only the first opt-out is sent",
        t.name
    );
    let events: Vec<String> =
        scalars(&t.db, "SELECT event_external_id FROM grid_opt_outs", &[]).await;
    assert_eq!(events, ["LATER"], "{}", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(one_refused_message_in_a_delivery_batch_does_not_hold_back_the_others);
async fn one_refused_message_in_a_delivery_batch_does_not_hold_back_the_others(t: TestDb) {
    with_demo(&t).await;
    let scores = |score: f64| {
        json!({"transactionId": "SC", "scoredOn": "2026-07-02", "scores": [
        {"headEndSystem": "NEST", "nicId": "000000000000", "programCode": "SMT-BYOD", "controlScore": score}]})
    };
    let mut tx = t.db.begin().await.unwrap();
    for s in [1.0, -5.0, 2.0] {
        let msg = gridflex::integration::message::NewMessage {
            message_id: gridflex::integration::message::new_message_id(),
            flow: "device_score".into(),
            correlation_id: None,
            sender: "programs".into(),
            recipient: "grid".into(),
            payload: scores(s),
            max_attempts: 8,
        };
        gridflex::integration::message::enqueue(&mut tx, &msg, test_now())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let worker = in_process_worker(&t);
    let r = worker.tick().await.unwrap();
    assert_eq!(
        (r.delivered, r.business_errors),
        (2, 1),
        "{}: {r:?}",
        t.name
    );
    let error: String = scalar(&t.db, "SELECT last_error FROM integration_messages WHERE direction = 'outbound' AND status = 'business_error'", &[]).await;
    assert!(error.contains("controlScore"), "{}: {error}", t.name);
    let inbound: i64 = t.count("SELECT COUNT(*) FROM integration_messages WHERE direction = 'inbound' AND flow = 'device_score'").await;
    assert_eq!(inbound, 3, "{}: every message answered once", t.name);
    t.cleanup().await;
}

each_backend!(a_program_manager_adds_a_rule_and_the_grid_gets_it);
async fn a_program_manager_adds_a_rule_and_the_grid_gets_it(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let manager = app.browser();
    app.login(&manager, "manager", PASSWORD).await;
    let fields = |end: &'static str| {
        vec![
            ("program_id", "1"),
            ("rule[effective_from]", "2030-06-01"),
            ("rule[cycle]", "weekly"),
            ("rule[week_start]", "0"),
            ("rule[max_events_per_cycle]", "3"),
            ("rule[max_minutes_per_cycle]", "360"),
            ("rule[min_gap_minutes]", "720"),
            ("rule[min_event_minutes]", "30"),
            ("rule[max_event_minutes]", "180"),
            ("rule[max_overrides]", "1"),
            ("rule[window_start]", "13:00"),
            ("rule[window_end]", end),
            ("rule[activation_cost]", "1.5"),
            ("rule[burn_rate_factor]", "1.1"),
            ("rule[score_factor]", "1.0"),
        ]
    };
    let (_, html) = app.page(&manager, "/programs/1").await;
    assert!(
        html.contains("rule-form"),
        "{}: the editor is offered",
        t.name
    );
    app.post_form(&manager, "/programs/1", "/fn/save_rule", &fields("25:00"))
        .await;
    let (_, html) = app.page(&manager, "/programs/1").await;
    assert!(html.contains("window end: expected a time"), "{}", t.name);
    let res = app
        .post_form(&manager, "/programs/1", "/fn/save_rule", &fields("19:00"))
        .await;
    assert_eq!(res.status(), 302);
    let (_, html) = app.page(&manager, "/programs/1").await;
    assert!(
        html.contains("Rule effective 2030-06-01 added"),
        "{}",
        t.name
    );
    let rules: i64 = scalar(
        &t.db,
        "SELECT COUNT(*) FROM program_rules WHERE program_id = 1 AND effective_from = $1",
        &[Arg::from(
            chrono::NaiveDate::from_ymd_opt(2030, 6, 1).unwrap(),
        )],
    )
    .await;
    assert_eq!(rules, 1);
    let worker = in_process_worker(&t);
    assert_eq!(worker.tick().await.unwrap().delivered, 1, "{}", t.name);
    let synced: String = scalar(&t.db, "SELECT rule_json FROM grid_program_rules WHERE program_code = 'SMT-BYOD' AND effective_from = $1", &[Arg::from(chrono::NaiveDate::from_ymd_opt(2030, 6, 1).unwrap())]).await;
    assert!(
        synced.contains("\"maxEventsPerCycle\":3"),
        "{}: {synced}",
        t.name
    );
    let auditor = app.browser();
    app.login(&auditor, "auditor", PASSWORD).await;
    let (_, html) = app.page(&auditor, "/programs/1").await;
    assert!(!html.contains("rule-form"));
    drop(app);
    t.cleanup().await;
}

each_backend!(an_operator_checks_a_device_connection_through_the_grid);
async fn an_operator_checks_a_device_connection_through_the_grid(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let device: i64 = scalar(&t.db, "SELECT d.id FROM devices d JOIN grid_devices g ON g.head_end = d.head_end AND g.nic_id = d.nic_id WHERE g.status = 'registered' ORDER BY d.id LIMIT 1", &[]).await;
    let page = format!("/devices/{device}");
    let operator = app.browser();
    app.login(&operator, "operator", PASSWORD).await;
    let (_, html) = app.page(&operator, &page).await;
    assert!(
        html.contains("not checked") && html.contains("Check now"),
        "{}",
        t.name
    );
    app.post_form(
        &operator,
        &page,
        "/fn/check_device",
        &[("device_id", &device.to_string())],
    )
    .await;
    let (_, html) = app.page(&operator, &page).await;
    assert!(html.contains("check on its way"), "{}", t.name);
    let worker = in_process_worker(&t);
    assert_eq!(worker.tick().await.unwrap().delivered, 1);
    let (_, html) = app.page(&operator, &page).await;
    assert!(html.contains("ONLINE (grid answer of"), "{}", t.name);
    let auditor = app.browser();
    app.login(&auditor, "auditor", PASSWORD).await;
    app.post_form(
        &auditor,
        &page,
        "/fn/check_device",
        &[("device_id", &device.to_string())],
    )
    .await;
    let checks: i64 = t.count("SELECT COUNT(*) FROM integration_messages WHERE flow = 'device_status_check' AND direction = 'outbound'").await;
    assert_eq!(checks, 1, "{}: the auditor's attempt sent nothing", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(a_reservation_csv_and_an_outcome_flat_file_are_applied_whole_or_not_at_all);
async fn a_reservation_csv_and_an_outcome_flat_file_are_applied_whole_or_not_at_all(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let token = integration_token(&t, "derms-files").await;
    let c = reqwest::Client::new();
    let reserved = || async {
        t.count("SELECT COUNT(*) FROM program_event_devices WHERE external_id = 'CSV-S1'")
            .await
    };
    let query = "?messageId=csv-1&eventExternalIdentifier=CSV&externalIdentifier=CSV-S1&programCode=SMT-BYOD&startTime=2030-07-01T18:00:00Z&endTime=2030-07-01T20:00:00Z";
    let post_csv = |q: &str, body: &'static str| {
        c.post(app.url(&format!("/integration/device_reservation/csv{q}")))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };
    // Two broken rows: both reported with their lines, nothing applied.
    let broken = "headEndSystem,nicId,enrollmentId,expectedKw\nNEST,AAA000000001,,1.5\nNEST,,,2.0\nNEST,AAA000000003,,lots\n";
    let res = post_csv(query, broken).await.unwrap();
    assert_eq!(res.status(), 422, "{}", t.name);
    let problem: Value = res.json().await.unwrap();
    let lines: Vec<i64> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4], "{}: {problem}", t.name);
    assert_eq!(reserved().await, 0, "{}", t.name);
    // Missing header fields are a 400 naming the parameter.
    let res = post_csv(
        "?messageId=csv-0",
        "headEndSystem,nicId,enrollmentId,expectedKw\n",
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("eventExternalIdentifier"));
    // A good file: every row reserved; the same message id again changes nothing.
    let good = "headEndSystem,nicId,enrollmentId,expectedKw\nNEST,AAA000000001,,1.5\nNEST,AAA000000002,,2.0\n";
    let res = post_csv(query, good).await.unwrap();
    assert_eq!(res.status(), 200, "{}", t.name);
    let ack: Value = res.json().await.unwrap();
    assert_eq!(ack["reserved"], 2, "{}: {ack}", t.name);
    let res = post_csv(query, good).await.unwrap();
    assert_eq!(
        res.headers()
            .get("x-gridflex-duplicate")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    assert_eq!(reserved().await, 2, "{}", t.name);

    // Outcomes as a flat file: a broken line refuses the file; a good one is applied.
    let post_flat = |id: &str, body: &'static str| {
        c.post(app.url(&format!(
            "/integration/device_outcome/flat?messageId={id}&eventExternalIdentifier=CSV&externalIdentifier=CSV-S1"
        )))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(body)
        .send()
    };
    let res = post_flat(
        "flat-1",
        "NEST|AAA000000001|D1SP|2030-07-01T18:00:00Z|2030-07-01T20:00:00Z\nNEST|AAA000000002|D9XX||\n",
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422, "{}", t.name);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["errors"][0]["line"], 2, "{problem}");
    let outcomes = || async {
        t.count("SELECT COUNT(*) FROM program_event_devices WHERE external_id = 'CSV-S1' AND outcome IS NOT NULL").await
    };
    assert_eq!(outcomes().await, 0, "{}", t.name);
    let res = post_flat(
        "flat-2",
        "NEST|AAA000000001|D1SP|2030-07-01T18:00:00Z|2030-07-01T20:00:00Z\nNEST|AAA000000002|D1ND||\n",
    )
    .await
    .unwrap();
    let status = res.status();
    let body = res.text().await.unwrap();
    assert_eq!(status, 200, "{}: {body}", t.name);
    assert_eq!(outcomes().await, 2, "{}", t.name);
    // A token of another role may not send files.
    let auditor = gridflex::auth::create_token(&t.db, "test", "reader", "auditor")
        .await
        .unwrap();
    let res = c
        .post(app.url("/integration/device_outcome/flat?messageId=x&eventExternalIdentifier=CSV&externalIdentifier=CSV-S1"))
        .bearer_auth(&auditor)
        .body("NEST|AAA000000001|D1ND||\n")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    drop(app);
    t.cleanup().await;
}

each_backend!(event_types_instances_and_external_ids_are_translated_at_the_boundary);
async fn event_types_instances_and_external_ids_are_translated_at_the_boundary(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let admin = app.browser();
    app.login(&admin, "admin", PASSWORD).await;
    for (map, from, to) in [
        ("instance_routing", "ECOBEE", "ECOBEE-EAST"),
        ("id_mapping", "EXT-SMT", "SMT-BYOD"),
        ("event_type", "Heatwave", "X1RE"),
    ] {
        let res = app
            .post_form(
                &admin,
                "/admin/value-maps",
                "/fn/put_value_map",
                &[("map", map), ("source_value", from), ("target_value", to)],
            )
            .await;
        assert_eq!(res.status(), 302);
    }
    let token = integration_token(&t, "peer").await;
    let c = reqwest::Client::new();
    let mut n = 0;
    let mut send = |flow: &'static str, payload: Value| {
        n += 1;
        c.post(app.url(&format!("/integration/{flow}")))
            .bearer_auth(&token)
            .json(&envelope(&format!("vm-{n}"), flow, payload))
            .send()
    };
    // event_type (built-in Emergency, the admin's Heatwave) and id_mapping on flow 4.
    let stage = |id: &str, event_type: &str, program: &str| {
        json!({"eventExternalIdentifier": "EV-VM", "externalIdentifier": id, "programCode": program, "eventType": event_type,
               "action": "X1SD", "startTime": "2030-07-01T18:00:00Z", "endTime": "2030-07-01T20:00:00Z"})
    };
    let res = send("stage_status", stage("VM-S1", "Emergency", "EXT-SMT"))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "{}: {}",
        t.name,
        res.text().await.unwrap()
    );
    let res = send("stage_status", stage("VM-S2", "Heatwave", "EXT-SMT"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", t.name);
    let stored: Vec<(String, String)> = with_db!(&t.db, |p| {
        sqlx::query_as(
        "SELECT category, program_code FROM program_events WHERE event_external_id = 'EV-VM' ORDER BY external_id"
    )
    .fetch_all(p)
    .await
    .unwrap()
    });
    assert_eq!(
        stored,
        [
            ("X1EM".to_string(), "SMT-BYOD".to_string()),
            ("X1RE".to_string(), "SMT-BYOD".to_string())
        ],
        "{}",
        t.name
    );
    for (payload, map, value) in [
        (
            stage("VM-S3", "Blizzard", "EXT-SMT"),
            "event_type",
            "Blizzard",
        ),
        (
            stage("VM-S4", "Emergency", "SMT-BYOD"),
            "id_mapping",
            "SMT-BYOD",
        ),
    ] {
        let res = send("stage_status", payload).await.unwrap();
        assert_eq!(res.status(), 422, "{}", t.name);
        let body = res.text().await.unwrap();
        assert!(
            body.contains(&format!("value map `{map}` has no entry for `{value}`")),
            "{}: {body}",
            t.name
        );
    }
    // id_mapping on flow 1: a record with an unmapped program fails alone.
    let xf = a_transformer(&t).await;
    let ack: Value = send(
        "enrollment_request",
        json!({"transactionId": "VM-T1", "records": [
            record("R-1", "PVM-1", "EXT-SMT", &xf, "0ABC00000001"),
            record("R-2", "PVM-2", "SMT-BYOD", &xf, "0ABC00000002")]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(ack["results"][0]["status"], "CREATED", "{}: {ack}", t.name);
    assert_eq!(ack["results"][1]["status"], "REJECTED");
    assert!(ack["results"][1]["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("value map `id_mapping` has no entry for `SMT-BYOD`"));
    // instance_routing on flow 2: the grid keeps the device under its instance, and the
    // acknowledgement names the head-end the sender knows.
    let sync = |head_end: &str| {
        json!({"transactionId": "VM-S", "action": "ENROLL", "enrollmentId": 1, "programCode": "SMT-BYOD", "servicePointId": "SP000000001",
               "transformerCode": xf, "deviceList": [{"headEndSystem": head_end, "nicId": "0ABC00000009", "deviceType": "thermostat", "nominalKw": 2.0}]})
    };
    let ack: Value = send("enrollment_sync", sync("ECOBEE"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ack["deviceList"][0]["headEndSystem"], "ECOBEE",
        "{}: {ack}",
        t.name
    );
    assert_eq!(ack["deviceList"][0]["registrationStatus"], "REGISTERED");
    let head_end: String = scalar(
        &t.db,
        "SELECT head_end FROM grid_devices WHERE nic_id = '0ABC00000009'",
        &[],
    )
    .await;
    assert_eq!(head_end, "ECOBEE-EAST", "{}", t.name);
    let res = send("enrollment_sync", sync("NEST")).await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("value map `instance_routing` has no entry for `NEST`"));
    drop(app);
    t.cleanup().await;
}

each_backend!(the_monitor_charts_messages_over_time_with_the_filters_of_the_url);
async fn the_monitor_charts_messages_over_time_with_the_filters_of_the_url(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let (id, _) = pending_enrollment(&t).await;
    gridflex::programs::enrollment::change_status(
        &t.db,
        cal(),
        id,
        gridflex::programs::enrollment::EnrollmentAction::Activate,
        "manager",
        "chart",
        test_now(),
    )
    .await
    .unwrap();
    assert_eq!(in_process_worker(&t).tick().await.unwrap().delivered, 1);
    let admin = app.browser();
    app.login(&admin, "admin", PASSWORD).await;
    let (status, html) = app.page(&admin, "/monitor").await;
    assert_eq!(status, 200);
    let chart = html
        .split("id=\"monitor-chart\"")
        .nth(1)
        .expect("the chart is on the page");
    let chart = &chart[..chart.find("</figure>").unwrap()];
    assert!(
        chart.contains("<svg") && chart.contains("Messages per flow, last 24 h"),
        "{}",
        t.name
    );
    assert!(
        chart.contains("enrollment_sync"),
        "{}: the flow's line",
        t.name
    );
    // One flow chosen: one line per status, over the window the URL asks for.
    let (_, html) = app
        .page(&admin, "/monitor?flow=enrollment_sync&hours=6")
        .await;
    let chart = html.split("id=\"monitor-chart\"").nth(1).unwrap();
    let chart = &chart[..chart.find("</figure>").unwrap()];
    assert!(
        chart.contains("enrollment_sync: messages per status, last 6 h")
            && chart.contains("delivered")
            && chart.contains("processed"),
        "{}",
        t.name
    );
    assert!(html.contains("<option value=\"6\" selected"), "{}", t.name);
    let (status, _) = app.page(&admin, "/monitor?hours=0").await;
    assert_eq!(status, 400, "{}", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(an_integration_token_scoped_to_a_side_posts_only_that_sides_flows);
async fn an_integration_token_scoped_to_a_side_posts_only_that_sides_flows(t: TestDb) {
    use gridflex::integration::inbound::{recipient_of, sender_of};
    use gridflex::integration::wire::Flow;
    let app = spawn_app(&t).await;
    // Flow 1 is received by one side, so it is sent by the other.
    let receiver = recipient_of(Flow::EnrollmentRequest).as_str();
    let sender = sender_of(Flow::EnrollmentRequest).as_str();
    let token = |name: &'static str, scope: &'static str| {
        let db = t.db.clone();
        async move {
            gridflex::auth::create_expiring_token(
                &db,
                "test",
                name,
                "integration",
                None,
                Some(scope),
            )
            .await
            .unwrap()
        }
    };
    let wrong = token("wrong-side", receiver).await;
    let right = token("right-side", sender).await;
    let c = reqwest::Client::new();
    let post = |token: String| {
        let c = c.clone();
        let url = app.url("/integration/enrollment_request");
        async move {
            let body = envelope(
                "scoped-1",
                "enrollment_request",
                json!({"transactionId": "T-SCOPE", "records": []}),
            );
            let res = c
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    let (status, body) = post(wrong).await;
    assert_eq!(status, 403, "{}: {body}", t.name);
    assert!(
        body.contains(&format!("speaks for the {receiver} side")),
        "{body}"
    );
    let (status, body) = post(right).await;
    assert_ne!(
        status, 403,
        "{}: the sending side's token is let in: {body}",
        t.name
    );
    // A scope on a token that is not an integration token is refused.
    assert!(gridflex::auth::create_expiring_token(
        &t.db,
        "test",
        "odd",
        "auditor",
        None,
        Some("grid")
    )
    .await
    .is_err());
    drop(app);
    t.cleanup().await;
}

each_backend!(integration_times_take_any_offset_and_a_time_without_one_is_named);
async fn integration_times_take_any_offset_and_a_time_without_one_is_named(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let token = integration_token(&t, "derms").await;
    let c = reqwest::Client::new();
    let stage = |id: &str, start: &str| {
        json!({"eventExternalIdentifier": "EV-Z", "externalIdentifier": id, "programCode": "SMT-BYOD",
               "eventCategory": "X1EC", "action": "X1SD", "startTime": start, "endTime": "2030-07-01T20:00:00Z"})
    };
    let post = |id: &str, payload: Value| {
        c.post(app.url("/integration/stage_status"))
            .bearer_auth(&token)
            .json(&envelope(id, "stage_status", payload))
            .send()
    };
    // 13:00 at UTC−05:00 is 18:00 UTC, and that is what is kept.
    let res = post("z-1", stage("EV-Z-S1", "2030-07-01T13:00:00-05:00"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", t.name);
    let kept: DateTime<Utc> = t
        .scalar(
            "SELECT starts_at FROM program_events WHERE external_id = 'EV-Z-S1'",
            &[],
        )
        .await;
    assert_eq!(
        kept,
        "2030-07-01T18:00:00Z".parse::<DateTime<Utc>>().unwrap(),
        "{}",
        t.name
    );
    // Without an offset the time is refused, naming the field; nothing is stored.
    let res = post("z-2", stage("EV-Z-S2", "2030-07-01T18:00:00"))
        .await
        .unwrap();
    assert!(
        res.status().is_client_error(),
        "{}: {}",
        t.name,
        res.status()
    );
    let text = res.text().await.unwrap();
    assert!(text.contains("startTime"), "{}: {text}", t.name);
    let stored = t
        .count("SELECT COUNT(*) FROM program_events WHERE external_id = 'EV-Z-S2'")
        .await;
    assert_eq!(stored, 0, "{}", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(
    a_delivery_batch_of_enrollment_syncs_registers_the_good_ones_and_refuses_the_bad_one_alone
);
async fn a_delivery_batch_of_enrollment_syncs_registers_the_good_ones_and_refuses_the_bad_one_alone(
    t: TestDb,
) {
    with_demo(&t).await;
    let transformer = a_transformer(&t).await;
    let nics: Vec<String> = scalars(
        &t.db,
        "SELECT nic_id FROM devices WHERE head_end = 'ECOBEE' ORDER BY id LIMIT 3",
        &[],
    )
    .await;
    assert_eq!(nics.len(), 3, "{}", t.name);
    let sync = |i: usize, transformer: &str, devices: Value| {
        json!({"transactionId": format!("SYNC-{i}"), "action": "ENROLL", "enrollmentId": 1, "programCode": "SMT-BYOD",
               "servicePointId": format!("SP-BATCH-{i}"), "transformerCode": transformer, "deviceList": devices})
    };
    let device = |nic: &str| json!([{"headEndSystem": "ECOBEE", "nicId": nic, "deviceType": "thermostat", "nominalKw": 2.5}]);
    let payloads = [
        sync(0, &transformer, device(&nics[0])),
        sync(1, &transformer, device(&nics[1])),
        // Refused: an enrollment lists at least one device.
        sync(2, &transformer, json!([])),
        // Accepted, but the grid does not know the transformer: not registered.
        sync(3, "NO-SUCH-TRANSFORMER", device(&nics[2])),
    ];
    let mut tx = t.db.begin().await.unwrap();
    for p in payloads {
        let msg = gridflex::integration::message::NewMessage {
            message_id: gridflex::integration::message::new_message_id(),
            flow: "enrollment_sync".into(),
            correlation_id: None,
            sender: "programs".into(),
            recipient: "grid".into(),
            payload: p,
            max_attempts: 8,
        };
        gridflex::integration::message::enqueue(&mut tx, &msg, test_now())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let r = in_process_worker(&t).tick().await.unwrap();
    assert_eq!(
        (r.claimed, r.delivered, r.business_errors),
        (4, 3, 1),
        "{}: {r:?}",
        t.name
    );
    let error: String = scalar(&t.db, "SELECT last_error FROM integration_messages WHERE direction = 'outbound' AND status = 'business_error'", &[]).await;
    assert!(error.contains("deviceList"), "{}: {error}", t.name);
    for nic in &nics[..2] {
        let status: String = scalar(
            &t.db,
            "SELECT status FROM grid_devices WHERE head_end = 'ECOBEE' AND nic_id = $1",
            &[Arg::Text(nic.clone())],
        )
        .await;
        assert_eq!(status, "registered", "{}: {nic}", t.name);
        assert!(
            registered(&t, "ECOBEE", nic).await.0,
            "{}: the acknowledgement marks {nic} registered on the program side",
            t.name
        );
    }
    let result: String = scalar(&t.db, "SELECT result FROM integration_messages WHERE direction = 'outbound' AND payload LIKE '%NO-SUCH-TRANSFORMER%'", &[]).await;
    assert!(result.contains("NOT_REGISTERED"), "{}: {result}", t.name);
    let points: i64 = t
        .count("SELECT COUNT(*) FROM grid_service_points WHERE service_point_id LIKE 'SP-BATCH-%'")
        .await;
    assert_eq!(
        points, 2,
        "{}: the refused and the unplaced ones record no service point",
        t.name
    );
    // The transformer's figures are counted afresh from what it now has.
    let (counted, figure): (i64, i64) = (
        scalar(&t.db, "SELECT COUNT(*) FROM grid_devices d JOIN network_nodes n ON n.id = d.transformer_id WHERE n.code = $1 AND d.status = 'registered'", &[Arg::Text(transformer.clone())]).await,
        scalar(&t.db, "SELECT f.registered_devices FROM grid_node_figures f JOIN network_nodes n ON n.id = f.node_id WHERE n.code = $1", &[Arg::Text(transformer.clone())]).await,
    );
    assert_eq!(counted, figure, "{}", t.name);
    let inbound: i64 = t.count("SELECT COUNT(*) FROM integration_messages WHERE direction = 'inbound' AND flow = 'enrollment_sync'").await;
    assert_eq!(inbound, 4, "{}: every message answered once", t.name);
    t.cleanup().await;
}
