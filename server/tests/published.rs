//! The published program-side REST surface (issue 12), on every backend: the golden
//! documents in tests/golden/published are posted unchanged and the answers checked field
//! by field; bad input is a business error naming the field, and nothing is stored. An
//! enrollment syncs to the grid instance that serves its division, and the grid side takes
//! the published device status check and posts the statuses back.

mod common;

use common::*;
use gridflex::db::place::{record_places, NetworkPlace};
use serde_json::{json, Value};

const ENROLL: &str = "/rest/apis/cross/digitalAssets/programEnrollments/enroll";

fn golden(name: &str) -> Value {
    let path = format!(
        "{}/tests/golden/published/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn integration_token(t: &TestDb) -> String {
    gridflex::auth::create_token(&t.db, "test", "grid-system", "integration")
        .await
        .expect("token")
}

/// The program side learns where the golden service point is, as flow 11 would tell it.
async fn place_golden_service_point(t: &TestDb) -> String {
    let transformer: String = t
        .scalar(
            "SELECT code FROM network_nodes WHERE kind = 'transformer' ORDER BY id LIMIT 1",
            &[],
        )
        .await;
    let mut tx = t.db.begin().await.unwrap();
    let place = NetworkPlace {
        service_point_id: "SP-PUB-1".into(),
        transformer_code: transformer.clone(),
        feeder_code: None,
        substation_code: None,
    };
    record_places(&mut tx, &[place], None, test_now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    transformer
}

async fn post(app: &TestApp, token: &str, body: &Value) -> (u16, Value) {
    let res = app.api_post(token, ENROLL, body).await;
    let status = res.status().as_u16();
    (status, res.json().await.expect("a JSON answer"))
}

async fn enrollments(t: &TestDb) -> i64 {
    t.count("enrollments").await
}

each_backend!(a_published_enrollment_is_created_kept_and_read_back_in_the_published_shape);
async fn a_published_enrollment_is_created_kept_and_read_back_in_the_published_shape(t: TestDb) {
    with_demo(&t).await;
    place_golden_service_point(&t).await;
    let app = spawn_app(&t).await;
    let token = integration_token(&t).await;
    let full = golden("enroll-full.json");
    let before = enrollments(&t).await;

    let (status, ack) = post(&app, &token, &full).await;
    assert_eq!(status, 200, "{}: {ack}", t.name);
    assert_eq!(ack["transactionId"], "PUB-ENROLL-0001", "{}", t.name);
    assert_eq!(ack["ackType"], "SUCCESS", "{}", t.name);
    let item = &ack["collection"][0];
    assert_eq!(item["responseCode"], "SUCCESS");
    assert!(item.get("messageNbr").is_none(), "{ack}");
    let id = item["enrollmentId"].as_i64().expect("an enrollment id");
    assert_eq!(enrollments(&t).await, before + 1);

    // GridFlex's own record: PENDING, customer-owned, the date part of the start, both devices.
    let (state, ownership, start): (String, String, String) = (
        t.scalar(
            "SELECT status FROM enrollments WHERE id = $1",
            &[Arg::Int(id)],
        )
        .await,
        t.scalar(
            "SELECT ownership FROM enrollments WHERE id = $1",
            &[Arg::Int(id)],
        )
        .await,
        t.scalar(
            "SELECT CAST(start_date AS TEXT) FROM enrollments WHERE id = $1",
            &[Arg::Int(id)],
        )
        .await,
    );
    assert_eq!((state.as_str(), ownership.as_str()), ("PENDING", "owned"));
    assert_eq!(start, "2026-06-01", "{}", t.name);
    let devices = t
        .count(&format!(
            "SELECT COUNT(*) FROM enrollment_devices ed JOIN devices d ON d.id = ed.device_id
             WHERE ed.enrollment_id = {id} AND d.nic_id IN ('PUB0001', 'PUB0002') AND d.device_type = 'thermostat'"
        ))
        .await;
    assert_eq!(devices, 2, "{}", t.name);
    // The published fields GridFlex had no place for are kept, and the creation is audited.
    let division: String = t
        .scalar(
            "SELECT division FROM published_enrollments WHERE enrollment_id = $1",
            &[Arg::Int(id)],
        )
        .await;
    let agreement: String = t
        .scalar(
            "SELECT service_agreement_id FROM published_enrollments WHERE enrollment_id = $1",
            &[Arg::Int(id)],
        )
        .await;
    assert_eq!(
        (division.as_str(), agreement.as_str()),
        ("NORTH", "SA-778899")
    );
    let audited = t
        .count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE entity_id = '{id}' AND action = 'enrollment.create'"
        ))
        .await;
    assert_eq!(audited, 1, "{}", t.name);

    // The read-back returns every published field as sent, with the id and the status.
    let res = app.api_get(&token, &format!("{ENROLL}/{id}")).await;
    assert_eq!(res.status(), 200, "{}", t.name);
    let back: Value = res.json().await.unwrap();
    assert_eq!(back["enrollmentId"], id);
    assert_eq!(back["status"], "PENDING");
    assert_eq!(back["enrollmentSource"], full["enrollmentSource"]);
    for section in ["customerInfo", "programInfo", "locationInfo"] {
        assert_eq!(back[section], full[section], "{}: {section}", t.name);
    }
    assert_eq!(back["assetInfo"]["assetOwnership"], "W1OW");
    assert_eq!(back["assetInfo"]["installationMethod"], "SELF");
    let sent = &full["assetInfo"]["assetList"][1];
    let got = &back["assetInfo"]["assetList"][1];
    for field in [
        "sequence",
        "assetId",
        "specification",
        "assetType",
        "badgeNo",
        "serialNo",
        "headEndSystem",
    ] {
        assert_eq!(got[field], sent[field], "{}: assetList[1].{field}", t.name);
    }
    // NIC ids are stored upper case, as GridFlex stores them.
    assert_eq!(got["nicId"], "PUB0002");

    // The same transaction again answers the same acknowledgement and changes nothing.
    let (again_status, again) = post(&app, &token, &full).await;
    assert_eq!((again_status, &again), (200, &ack), "{}", t.name);
    assert_eq!(enrollments(&t).await, before + 1);

    // The same enrollment under a new transaction: it already exists (10589), not an error.
    let (status, resend) = post(&app, &token, &golden("enroll-resend.json")).await;
    assert_eq!(status, 200, "{}: {resend}", t.name);
    assert_eq!(resend["transactionId"], "PUB-ENROLL-0002");
    assert_eq!(resend["ackType"], "SUCCESS");
    assert_eq!(resend["collection"][0]["responseCode"], "SUCCESS");
    assert_eq!(resend["collection"][0]["messageNbr"], "10589");
    assert_eq!(resend["collection"][0]["enrollmentId"], id);
    assert_eq!(enrollments(&t).await, before + 1);
    t.cleanup().await;
}

each_backend!(a_published_enrollment_with_several_bad_fields_names_every_one_and_stores_nothing);
async fn a_published_enrollment_with_several_bad_fields_names_every_one_and_stores_nothing(
    t: TestDb,
) {
    with_demo(&t).await;
    place_golden_service_point(&t).await;
    let app = spawn_app(&t).await;
    let token = integration_token(&t).await;
    let before = enrollments(&t).await;

    let (status, ack) = post(&app, &token, &golden("enroll-bad-fields.json")).await;

    assert_eq!(status, 422, "{}: {ack}", t.name);
    assert_eq!(ack["ackType"], "ERROR");
    assert_eq!(ack["transactionId"], "PUB-ENROLL-0003");
    let item = &ack["collection"][0];
    assert_eq!(item["responseCode"], "ERROR");
    let errors = item["errors"].as_array().unwrap();
    let fields: Vec<&str> = errors
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    let expected = [
        "customerInfo.email",
        "programInfo.startDateTimeISO",
        "locationInfo.cisServicePointId",
        "assetInfo.assetOwnership",
        "assetInfo.assetList[0].serialNo",
        "assetInfo.assetList[1].nicId",
    ];
    assert_eq!(fields, expected, "{}: {ack}", t.name);
    let message = item["message"].as_str().unwrap();
    for field in expected {
        assert!(message.contains(field), "{message}");
    }
    let about = |field: &str| {
        errors
            .iter()
            .find(|e| e["field"] == field)
            .and_then(|e| e["message"].as_str())
            .unwrap()
            .to_owned()
    };
    assert_eq!(about("locationInfo.cisServicePointId"), "is required");
    assert!(about("assetInfo.assetOwnership").contains("W1CO, W1OW"));
    assert!(about("programInfo.startDateTimeISO").contains("06/01/2026"));
    assert_eq!(enrollments(&t).await, before, "{}", t.name);
    assert_eq!(t.count("published_enrollments").await, 0);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM customers WHERE person_id = 'PUB-P-1'")
            .await,
        0
    );
    t.cleanup().await;
}

each_backend!(bad_published_values_are_business_errors_naming_the_field_and_the_allowed_values);
async fn bad_published_values_are_business_errors_naming_the_field_and_the_allowed_values(
    t: TestDb,
) {
    with_demo(&t).await;
    place_golden_service_point(&t).await;
    let app = spawn_app(&t).await;
    let token = integration_token(&t).await;
    let before = enrollments(&t).await;
    let cases: [(&str, Value, &str, &str); 5] = [
        (
            "/assetInfo/assetOwnership",
            json!("W1LS"),
            "assetInfo.assetOwnership",
            "W1CO, W1OW",
        ),
        (
            "/transactionId",
            json!("T".repeat(121)),
            "transactionId",
            "at most 120",
        ),
        (
            "/programInfo/startDateTimeISO",
            json!("2026-06-01"),
            "programInfo.startDateTimeISO",
            "2024-07-01T00:00:00-05:00",
        ),
        (
            "/enrollmentSource",
            json!("X9ZZ"),
            "enrollmentSource",
            "X1BY, X1CC, X1SS",
        ),
        (
            "/assetInfo/assetList/0/assetType",
            json!("Toaster"),
            "assetInfo.assetList[0].assetType",
            "THERMOSTAT",
        ),
    ];
    for (pointer, value, field, allowed) in cases {
        let mut body = golden("enroll-full.json");
        *body.pointer_mut(pointer).unwrap() = value;
        let (status, ack) = post(&app, &token, &body).await;
        assert_eq!(status, 422, "{}: {field}: {ack}", t.name);
        assert_eq!(ack["ackType"], "ERROR", "{field}");
        let errors = ack["collection"][0]["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{field}: {ack}");
        assert_eq!(errors[0]["field"], field);
        let message = errors[0]["message"].as_str().unwrap();
        assert!(message.contains(allowed), "{field}: {message}");
    }
    // Not JSON is a technical failure, still not a 500.
    let res = reqwest::Client::new()
        .post(app.url(ENROLL))
        .bearer_auth(&token)
        .body("{\"transactionId\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let ack: Value = res.json().await.unwrap();
    assert_eq!(ack["ackType"], "FAILURE");
    assert_eq!(enrollments(&t).await, before, "{}", t.name);
    t.cleanup().await;
}

each_backend!(the_published_surface_needs_an_integration_token_and_knows_its_service_points);
async fn the_published_surface_needs_an_integration_token_and_knows_its_service_points(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let full = golden("enroll-full.json");
    let res = app.api_post("not-a-token", ENROLL, &full).await;
    assert_eq!(res.status(), 401);
    let manager = gridflex::auth::create_token(&t.db, "test", "pm", "program_manager")
        .await
        .unwrap();
    assert_eq!(app.api_post(&manager, ENROLL, &full).await.status(), 403);
    assert_eq!(
        app.api_get(&manager, &format!("{ENROLL}/1")).await.status(),
        403
    );

    // A service point the program side has not placed is named, not guessed.
    let token = integration_token(&t).await;
    let (status, ack) = post(&app, &token, &full).await;
    assert_eq!(status, 422, "{}: {ack}", t.name);
    assert_eq!(
        ack["collection"][0]["errors"][0]["field"],
        "locationInfo.cisServicePointId"
    );
    assert_eq!(t.count("published_enrollments").await, 0);
    // An enrollment GridFlex enrolled itself reads back in the published shape too.
    let own: i64 = t.scalar("SELECT MIN(id) FROM enrollments", &[]).await;
    let res = app.api_get(&token, &format!("{ENROLL}/{own}")).await;
    assert_eq!(res.status(), 200, "{}", t.name);
    let back: Value = res.json().await.unwrap();
    let person: String = t
        .scalar(
            "SELECT c.person_id FROM enrollments e JOIN customers c ON c.id = e.customer_id WHERE e.id = $1",
            &[Arg::Int(own)],
        )
        .await;
    assert_eq!(back["enrollmentId"], own);
    assert_eq!(back["customerInfo"]["cisPersonId"], person.as_str());
    assert!(back["locationInfo"]["cisServicePointId"].is_string());
    assert!(!back["assetInfo"]["assetList"]
        .as_array()
        .unwrap()
        .is_empty());
    // An unknown enrollment, or no number, is a 4xx.
    assert_eq!(
        app.api_get(&token, &format!("{ENROLL}/999999"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.api_get(&token, &format!("{ENROLL}/abc")).await.status(),
        400
    );
    // Both paths are in the OpenAPI document.
    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"][ENROLL]["post"].is_object(), "{}", t.name);
    let read_back = format!("{ENROLL}/{{enrollmentId}}");
    assert!(doc["paths"][read_back.as_str()]["get"].is_object());
    t.cleanup().await;
}

each_backend!(the_enrollment_page_shows_the_published_fields_to_roles_that_see_personal_data);
async fn the_enrollment_page_shows_the_published_fields_to_roles_that_see_personal_data(t: TestDb) {
    with_demo(&t).await;
    place_golden_service_point(&t).await;
    let app = spawn_app(&t).await;
    let token = integration_token(&t).await;
    let (status, ack) = post(&app, &token, &golden("enroll-full.json")).await;
    assert_eq!(status, 200, "{}: {ack}", t.name);
    let id = ack["collection"][0]["enrollmentId"].as_i64().unwrap();
    let page = format!("/enrollments/{id}");

    let manager = app.browser();
    app.login(&manager, "manager", PASSWORD).await;
    let (status, html) = app.page(&manager, &page).await;
    assert_eq!(status, 200, "{}", t.name);
    for shown in [
        "published-fields",
        "SA-778899",
        "NORTH",
        "Cook / IL / USA",
        "SELF",
        "+1 555 010 3000",
        "AST-9002",
    ] {
        assert!(html.contains(shown), "{}: the manager sees {shown}", t.name);
    }

    let auditor = app.browser();
    app.login(&auditor, "auditor", PASSWORD).await;
    let (status, html) = app.page(&auditor, &page).await;
    assert_eq!(status, 200, "{}", t.name);
    assert!(!html.contains("published-fields"), "{}", t.name);
    assert!(!html.contains("+1 555 010 3000"), "{}", t.name);
    t.cleanup().await;
}

each_backend!(a_record_the_program_side_refuses_is_an_error_in_the_published_field_names);
async fn a_record_the_program_side_refuses_is_an_error_in_the_published_field_names(t: TestDb) {
    with_demo(&t).await;
    place_golden_service_point(&t).await;
    let app = spawn_app(&t).await;
    let token = integration_token(&t).await;
    let before = enrollments(&t).await;

    let mut unknown_program = golden("enroll-full.json");
    unknown_program["transactionId"] = json!("PUB-ENROLL-0010");
    unknown_program["programInfo"]["programCode"] = json!("NO-SUCH-PROGRAM");
    let (status, ack) = post(&app, &token, &unknown_program).await;
    assert_eq!(status, 422, "{}: {ack}", t.name);
    assert_eq!(ack["ackType"], "ERROR");
    let error = &ack["collection"][0]["errors"][0];
    assert_eq!(error["field"], "programInfo.programCode");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("NO-SUCH-PROGRAM"));

    // An account already held by another person: named as the published `cisAccountId`.
    let taken: String = t
        .scalar("SELECT account_id FROM customers ORDER BY id LIMIT 1", &[])
        .await;
    let mut taken_account = golden("enroll-full.json");
    taken_account["transactionId"] = json!("PUB-ENROLL-0011");
    taken_account["customerInfo"]["cisAccountId"] = json!(taken);
    let (status, ack) = post(&app, &token, &taken_account).await;
    assert_eq!(status, 422, "{}: {ack}", t.name);
    assert_eq!(
        ack["collection"][0]["errors"][0]["field"],
        "customerInfo.cisAccountId"
    );
    assert_eq!(enrollments(&t).await, before, "{}", t.name);
    assert_eq!(t.count("published_enrollments").await, 0);
    t.cleanup().await;
}

/// The golden enrollment moved to `division` under another customer with other devices.
fn enrollment_in(division: &str, tag: &str) -> Value {
    let mut doc = golden("enroll-full.json");
    doc["transactionId"] = json!(format!("PUB-ENROLL-{tag}"));
    doc["locationInfo"]["division"] = json!(division);
    doc["customerInfo"]["cisPersonId"] = json!(format!("PUB-P-{tag}"));
    doc["customerInfo"]["cisAccountId"] = json!(format!("PUB-A-{tag}"));
    for (i, asset) in doc["assetInfo"]["assetList"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        asset["nicId"] = json!(format!("{tag}{i}"));
        asset["serialNo"] = json!(format!("SN-{tag}-{i}"));
    }
    doc
}

each_backend!(an_enrollment_syncs_to_the_grid_instance_that_serves_its_division);
async fn an_enrollment_syncs_to_the_grid_instance_that_serves_its_division(t: TestDb) {
    use gridflex::integration::inbound::Side;
    use gridflex::integration::peer::{InProcessPeer, Peers};
    use gridflex::programs::enrollment::{change_status, EnrollmentAction};
    use std::sync::Arc;

    with_demo(&t).await;
    place_golden_service_point(&t).await;
    let app = spawn_app(&t).await;
    let token = integration_token(&t).await;
    // Two grid instances, each on its own database: NORTH is EAST's, SOUTH is WEST's.
    let east = common::published::sibling(&t).await;
    let west = common::published::sibling(&t).await;
    with_demo(&east).await;
    with_demo(&west).await;
    let map = gridflex::db::value_map::canonical_map("OUTL-BRT-DRMSID-TO-DACSID").unwrap();
    let mut tx = t.db.begin().await.unwrap();
    for (division, instance) in [("NORTH", "EAST"), ("SOUTH", "WEST")] {
        gridflex::db::value_map::put_entry(&mut tx, map, division, instance, test_now())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    // An unmapped division: that record is refused naming the field and the known divisions.
    let (status, ack) = post(&app, &token, &enrollment_in("CENTRAL", "CENTRAL")).await;
    assert_eq!(status, 422, "{}: {ack}", t.name);
    let error = &ack["collection"][0]["errors"][0];
    assert_eq!(error["field"], "locationInfo.division", "{ack}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("`CENTRAL`") && message.contains("known divisions: NORTH, SOUTH"),
        "{message}"
    );

    let mut ids = Vec::new();
    for (division, tag) in [("NORTH", "NORTH"), ("SOUTH", "SOUTH")] {
        let (status, ack) = post(&app, &token, &enrollment_in(division, tag)).await;
        assert_eq!(status, 200, "{}: {ack}", t.name);
        ids.push(ack["collection"][0]["enrollmentId"].as_i64().unwrap());
    }
    for id in &ids {
        change_status(
            &t.db,
            cal(),
            *id,
            EnrollmentAction::Activate,
            "manager",
            "division routing",
            test_now(),
        )
        .await
        .unwrap();
    }
    let recipients: Vec<String> = scalars(
        &t.db,
        "SELECT recipient FROM integration_messages WHERE flow = 'enrollment_sync' \
         AND direction = 'outbound' ORDER BY id",
        &[],
    )
    .await;
    assert_eq!(recipients, ["grid:EAST", "grid:WEST"], "{}", t.name);

    let grid = |db: &TestDb| -> Arc<InProcessPeer> {
        Arc::new(InProcessPeer {
            db: db.db.clone(),
            side: Side::Grid,
            calendar: cal(),
            handlers: inbound_handlers(),
        })
    };
    let peers = Peers::new(
        Arc::new(InProcessPeer {
            db: t.db.clone(),
            side: Side::Programs,
            calendar: cal(),
            handlers: inbound_handlers(),
        }),
        grid(&t),
    )
    .with_grid_instance("EAST", grid(&east))
    .with_grid_instance("WEST", grid(&west));
    let worker = gridflex::integration::worker::DeliveryWorker::new(
        t.db.clone(),
        peers,
        test_clock(),
        gridflex::integration::worker::RetryPolicy::default(),
        5,
    );
    let report = worker.tick().await.unwrap();
    assert_eq!(report.delivered, 2, "{}: {report:?}", t.name);
    let held = |db: gridflex::db::Db| async move {
        scalars::<String>(
            &db,
            "SELECT nic_id FROM grid_devices WHERE nic_id LIKE 'NORTH%' OR nic_id LIKE 'SOUTH%' ORDER BY nic_id",
            &[],
        )
        .await
    };
    assert_eq!(
        held(east.db.clone()).await,
        ["NORTH0", "NORTH1"],
        "{}",
        t.name
    );
    assert_eq!(
        held(west.db.clone()).await,
        ["SOUTH0", "SOUTH1"],
        "{}",
        t.name
    );
    assert!(held(t.db.clone()).await.is_empty(), "{}", t.name);
    drop(app);
    east.cleanup().await;
    west.cleanup().await;
    t.cleanup().await;
}

/// The fields a published answer's record names, in order.
fn error_fields(item: &Value) -> Vec<String> {
    item["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
        .collect()
}

const STATUS_CHECK: &str = "/rest/apis/dacs/controllableDeviceStatus/request";

each_backend!(the_grid_side_takes_a_published_status_check_and_posts_the_statuses_back);
async fn the_grid_side_takes_a_published_status_check_and_posts_the_statuses_back(t: TestDb) {
    let app = spawn_app(&t).await;
    let (grid, worker) = common::published::published_grid(&t, &app).await;
    with_demo(&grid).await;
    let grid_app = common::published::spawn_published_grid(&grid).await;
    let (head_end, nic): (String, String) = (
        grid.scalar(
            "SELECT head_end FROM grid_devices WHERE status = 'registered' ORDER BY id LIMIT 1",
            &[],
        )
        .await,
        grid.scalar(
            "SELECT nic_id FROM grid_devices WHERE status = 'registered' ORDER BY id LIMIT 1",
            &[],
        )
        .await,
    );
    // The program side asks: a token of the program side (the check is its flow).
    let cpm = gridflex::auth::create_expiring_token(
        &grid.db,
        "test",
        "cpm",
        "integration",
        None,
        Some("programs"),
    )
    .await
    .expect("token");
    let check = json!({"dacsMessageId": "DACS-CHK-1", "deviceInfo": [
        {"division": "NORTH", "deviceType": "THERMOSTAT", "specification": "ecobee3 lite",
         "headEndSystem": head_end, "nicid": nic.to_lowercase()},
        {"division": "NORTH", "headEndSystem": "H".repeat(51), "nicid": ""}]});
    let (status, ack) = common::published::post(&grid_app, &cpm, STATUS_CHECK, &check).await;
    assert_eq!(status, 200, "{}: {ack}", t.name);
    assert_eq!(ack["ackType"], "ERROR", "{ack}");
    assert!(ack["whenISO"].is_string(), "{ack}");
    let responses = ack["responses"].as_array().expect("responses");
    let device = format!("{head_end}/{nic}");
    assert_eq!(responses[0]["id"], device.as_str(), "{ack}");
    assert_eq!(responses[0]["responseCode"], "SUCCESS");
    assert_eq!(responses[0]["dacsMessageId"], "DACS-CHK-1");
    assert!(responses[0]["responseTimeISO"].is_string());
    assert_eq!(responses[1]["responseCode"], "ERROR");
    assert_eq!(
        error_fields(&responses[1]),
        ["deviceInfo[1].headEndSystem", "deviceInfo[1].nicid"]
    );
    let value = responses[1]["value"].as_str().unwrap();
    assert!(
        value.contains("deviceInfo[1].nicid: is required"),
        "{value}"
    );

    // A resend is the same check: the same answer, one inbox entry, one queued answer.
    let (_, again) = common::published::post(&grid_app, &cpm, STATUS_CHECK, &check).await;
    assert_eq!(again["responses"], ack["responses"]);
    let queued = "SELECT COUNT(*) FROM integration_messages WHERE direction = 'outbound' \
                  AND flow = 'device_status_check' AND correlation_id = 'DACS-CHK-1'";
    assert_eq!(grid.count(queued).await, 1, "{}", t.name);
    assert_eq!(
        grid.count("SELECT COUNT(*) FROM integration_messages WHERE direction = 'inbound' AND flow = 'device_status_check'").await,
        1
    );

    // Later the grid posts the statuses to the program side's published response path.
    let report = worker.tick().await.unwrap();
    assert_eq!(report.delivered, 1, "{}: {report:?}", t.name);
    let answered: String = t
        .scalar(
            "SELECT payload FROM integration_messages WHERE direction = 'inbound' \
             AND flow = 'device_status_check' AND correlation_id = 'DACS-CHK-1'",
            &[],
        )
        .await;
    let answered: Value = serde_json::from_str(&answered).unwrap();
    assert_eq!(answered["deviceList"][0]["nicId"], nic.as_str());
    assert_eq!(answered["deviceList"][0]["status"], "ONLINE", "{answered}");

    // The request's own fields: every bad one named, nothing received.
    let (status, ack) =
        common::published::post(&grid_app, &cpm, STATUS_CHECK, &json!({"deviceInfo": 7})).await;
    assert_eq!(status, 422, "{ack}");
    assert_eq!(
        error_fields(&ack["responses"][0]),
        ["dacsMessageId", "deviceInfo"]
    );
    // A grid-side token may not ask: the check is the program side's flow.
    let grid_token = gridflex::auth::create_expiring_token(
        &grid.db,
        "test",
        "dacs",
        "integration",
        None,
        Some("grid"),
    )
    .await
    .expect("token");
    let res = grid_app.api_post(&grid_token, STATUS_CHECK, &check).await;
    assert_eq!(res.status(), 403, "{}", t.name);

    // A grid side whose program side speaks GridFlex's own dialect refuses the check
    // before receiving anything: its answer could not be posted back.
    let plain = spawn_app(&grid).await;
    let mut other = check.clone();
    other["dacsMessageId"] = json!("DACS-CHK-2");
    let (status, ack) = common::published::post(&plain, &cpm, STATUS_CHECK, &other).await;
    assert_eq!(status, 409, "{}: {ack}", t.name);
    assert_eq!(ack["ackType"], "FAILURE", "{ack}");
    let why = ack["responses"][0]["value"].as_str().unwrap_or_default();
    assert!(why.contains("GRIDFLEX_PROGRAMS_DIALECT=published"), "{ack}");
    assert_eq!(
        grid.count("SELECT COUNT(*) FROM integration_messages WHERE correlation_id = 'DACS-CHK-2'")
            .await,
        0,
        "{}",
        t.name
    );
    drop(plain);
    drop(grid_app);
    drop(app);
    grid.cleanup().await;
    t.cleanup().await;
}
