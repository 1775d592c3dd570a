//! The published program-side paths after enroll (issue 12), on every backend: program
//! events and their lifecycle (flow 4), device reservations (flow 5), outcomes (flow 6) and
//! the grid's acknowledgements of flows 2 and 3. The golden documents in
//! tests/golden/published are posted unchanged and the answers checked field by field; a
//! bad record is answered alone naming every bad field, the rest of the request applied.
//! A grid side speaking the published dialect drives a program side through flows 1 and 4–6.

mod common;

use std::sync::Arc;

use common::published::*;
use common::*;
use gridflex::db::place::{record_places, NetworkPlace};
use gridflex::integration::inbound::Side;
use gridflex::integration::peer::{InProcessPeer, Peers, PublishedHttpPeer};
use gridflex::integration::worker::{DeliveryWorker, RetryPolicy};
use serde_json::{json, Value};

const PROGRAM_EVENT: &str = "/rest/apis/cross/service/programEvent/";
const LIFECYCLE: &str = "/rest/apis/cross/service/programEvent/lifecycle";
const RESERVE: &str = "/rest/apis/cross/service/programEventParticipation/reserveDevice";
const OUTCOME: &str = "/rest/apis/cross/service/programEventParticipation/postEventOutcome";
const ENROLL: &str = "/rest/apis/cross/digitalAssets/programEnrollments/enroll";
const ENROLLMENT_ACK: &str =
    "/rest/apis/cross/digitalAssets/programEnrollments/postAcknowledgement";
const DEVICE_STATUS: &str = "/rest/apis/cross/digitalAssets/controllableDeviceStatus/response";

/// The collection's `(id, responseCode)` pairs, in order.
fn codes(ack: &Value) -> Vec<(String, String)> {
    ack["collection"]
        .as_array()
        .unwrap_or_else(|| panic!("no collection: {ack}"))
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap_or_default().to_owned(),
                i["responseCode"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The fields an answer's record names, in order.
fn fields_of(item: &Value) -> Vec<String> {
    item["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// One row of a table of requests: a golden document (or an inline body) posted to `path`,
/// the answer expected — HTTP status, `ackType`, the collection's `(id, responseCode)`
/// pairs, the fields each refused item names and what their messages say — and what the
/// database holds afterwards.
struct Case {
    path: &'static str,
    body: Value,
    status: u16,
    ack_type: &'static str,
    codes: Option<Vec<(String, String)>>,
    fields: Vec<(usize, Vec<&'static str>)>,
    says: Vec<(usize, usize, &'static str)>,
    then: Vec<(String, Vec<&'static str>)>,
}

/// A request expected to be answered 200 `SUCCESS`.
fn case(path: &'static str, body: Value) -> Case {
    Case {
        path,
        body,
        status: 200,
        ack_type: "SUCCESS",
        codes: None,
        fields: Vec::new(),
        says: Vec::new(),
        then: Vec::new(),
    }
}

impl Case {
    fn answers(mut self, status: u16, ack_type: &'static str) -> Self {
        (self.status, self.ack_type) = (status, ack_type);
        self
    }
    fn codes(mut self, expected: &[(&str, &str)]) -> Self {
        self.codes = Some(pairs(expected));
        self
    }
    /// Item `item` of the collection names exactly `fields`, in order.
    fn fields(mut self, item: usize, fields: &[&'static str]) -> Self {
        self.fields.push((item, fields.to_vec()));
        self
    }
    /// The message of error `error` of item `item` contains `text`.
    fn says(mut self, item: usize, error: usize, text: &'static str) -> Self {
        self.says.push((item, error, text));
        self
    }
    /// Afterwards `sql` gives exactly `rows`.
    fn then(mut self, sql: impl Into<String>, rows: &[&'static str]) -> Self {
        self.then.push((sql.into(), rows.to_vec()));
        self
    }
}

/// Posts each case in order and checks its answer and what it left; the answers, in order.
async fn walk(t: &TestDb, app: &TestApp, token: &str, cases: Vec<Case>) -> Vec<Value> {
    let mut answers = Vec::with_capacity(cases.len());
    for c in cases {
        let (status, ack) = post(app, token, c.path, &c.body).await;
        let at = format!("{}: {} {}: {ack}", t.name, c.path, c.body);
        assert_eq!(status, c.status, "{at}");
        assert_eq!(ack["ackType"], c.ack_type, "{at}");
        if let Some(expected) = &c.codes {
            assert_eq!(&codes(&ack), expected, "{at}");
        }
        for (item, fields) in &c.fields {
            assert_eq!(fields_of(&ack["collection"][*item]), *fields, "{at}");
        }
        for (item, error, text) in &c.says {
            let message = ack["collection"][*item]["errors"][*error]["message"]
                .as_str()
                .unwrap_or_default();
            assert!(message.contains(text), "{text:?} not in {message:?}: {at}");
        }
        for (sql, rows) in &c.then {
            let got: Vec<String> = scalars(&t.db, sql, &[]).await;
            assert_eq!(got, *rows, "{sql}: {at}");
        }
        answers.push(ack);
    }
    answers
}

/// SQL giving a program event's lifecycle status.
fn status_of(stage: &str) -> String {
    format!("SELECT status FROM program_events WHERE external_id = '{stage}'")
}

/// SQL giving the devices reserved for a program event.
fn reserved_for(stage: &str) -> String {
    format!(
        "SELECT nic_id FROM program_event_devices WHERE external_id = '{stage}' ORDER BY nic_id"
    )
}

async fn stage_status(t: &TestDb, stage: &str) -> String {
    t.scalar(
        "SELECT status FROM program_events WHERE external_id = $1",
        &[Arg::Text(stage.into())],
    )
    .await
}

async fn reserved(t: &TestDb, stage: &str) -> Vec<String> {
    scalars(
        &t.db,
        "SELECT nic_id FROM program_event_devices WHERE external_id = $1 ORDER BY nic_id",
        &[Arg::Text(stage.into())],
    )
    .await
}

async fn inbound(t: &TestDb) -> i64 {
    t.count("SELECT COUNT(*) FROM integration_messages WHERE direction = 'inbound'")
        .await
}

/// Both golden program events of PUB-EV-0001, created through the published path.
async fn create_program_events(t: &TestDb, app: &TestApp, token: &str) {
    for name in ["program-event.json", "program-event-2.json"] {
        let (status, ack) = post(app, token, PROGRAM_EVENT, &golden(name)).await;
        assert_eq!(status, 200, "{}: {name}: {ack}", t.name);
        assert_eq!(ack["ackType"], "SUCCESS", "{ack}");
    }
}

each_backend!(program_events_are_created_scheduled_and_moved_through_their_lifecycle);
async fn program_events_are_created_scheduled_and_moved_through_their_lifecycle(t: TestDb) {
    let app = spawn_app(&t).await;
    let token = integration_token(&t).await;
    let doc = golden("program-event.json");
    const S1: &str = "PUB-EV-0001-S1";
    const S2: &str = "PUB-EV-0001-S2";

    let created = walk(
        &t,
        &app,
        &token,
        vec![case(PROGRAM_EVENT, doc.clone())
            .codes(&[(S1, "SUCCESS")])
            .then(status_of(S1), &["X1SD"])
            .then(
                format!("SELECT event_external_id || ':' || program_code || ':' || category FROM program_events WHERE external_id = '{S1}'"),
                &["PUB-EV-0001:SUMMER-SAVER:X1EM"],
            )],
    )
    .await;
    let ack = &created[0];
    assert_eq!(ack["whenISO"], "2026-12-08T04:30:00Z", "{ack}");

    // A resend is the same message: the same answer, one inbox entry.
    let messages = inbound(&t).await;
    let (again_status, again) = post(&app, &token, PROGRAM_EVENT, &doc).await;
    assert_eq!(
        (again_status, &again["collection"]),
        (200, &ack["collection"])
    );
    assert_eq!(inbound(&t).await, messages, "{}", t.name);

    walk(
        &t,
        &app,
        &token,
        vec![
            case(PROGRAM_EVENT, golden("program-event-2.json")),
            // The lifecycle names the event: every program event of it moves.
            case(LIFECYCLE, golden("lifecycle-in-progress.json"))
                .codes(&[(S1, "SUCCESS"), (S2, "SUCCESS")])
                .then(status_of(S1), &["X1IP"])
                .then(status_of(S2), &["X1IP"]),
            // A stage's own id moves that one alone; a cancel keeps its reason.
            case(
                LIFECYCLE,
                json!({"action": "F1CO", "eventExternalIdentifier": S1}),
            )
            .codes(&[(S1, "SUCCESS")]),
            // S1 is complete and cannot be cancelled; S2 is: the rest of the request is applied.
            case(LIFECYCLE, golden("lifecycle-cancel.json"))
                .answers(200, "ERROR")
                .codes(&[(S1, "ERROR"), (S2, "SUCCESS")])
                .fields(0, &["action"])
                .then(status_of(S1), &["F1CO"])
                .then(status_of(S2), &["F1CN"])
                .then(
                    format!("SELECT reason FROM program_events WHERE external_id = '{S2}'"),
                    &["Feeder restored before the event window"],
                ),
        ],
    )
    .await;
    t.cleanup().await;
}

each_backend!(a_bad_program_event_names_every_bad_field_and_stores_nothing);
async fn a_bad_program_event_names_every_bad_field_and_stores_nothing(t: TestDb) {
    let app = spawn_app(&t).await;
    let token = integration_token(&t).await;
    const NONE: &str = "SELECT external_id FROM program_events";
    walk(
        &t,
        &app,
        &token,
        vec![
            case(PROGRAM_EVENT, golden("program-event-bad-fields.json"))
                .answers(422, "ERROR")
                .codes(&[("request", "ERROR")])
                .fields(
                    0,
                    &[
                        "programExternalIdentifier",
                        "programEventCategory",
                        "startDateTime",
                        "endDateTime",
                    ],
                )
                .says(0, 1, "X1DT, X1EC, X1EM, X1RE")
                .says(0, 2, "no offset")
                .then(NONE, &[]),
            // A lifecycle step: an unknown action and an over-long reason are both named; an
            // unknown event is an error naming it; nothing is stored.
            case(
                LIFECYCLE,
                json!({"action": "X1ZZ", "cancelReason": "r".repeat(255), "eventExternalIdentifier": "E".repeat(121)}),
            )
            .answers(422, "ERROR")
            .fields(0, &["action", "cancelReason", "eventExternalIdentifier"])
            .says(0, 0, "X1SD, X1IP, F1CO, F1CN"),
            case(
                LIFECYCLE,
                json!({"action": "X1IP", "eventExternalIdentifier": "NO-SUCH-EVENT"}),
            )
            .answers(422, "ERROR")
            .fields(0, &["eventExternalIdentifier"]),
        ],
    )
    .await;
    // Not JSON: a technical failure, never a 500.
    let res = reqwest::Client::new()
        .post(app.url(RESERVE))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["ackType"], "FAILURE");
    assert_eq!(t.count("program_events").await, 0);
    assert_eq!(inbound(&t).await, 0);
    t.cleanup().await;
}

each_backend!(
    devices_are_reserved_for_the_program_events_their_windows_overlap_and_their_outcomes_recorded
);
async fn devices_are_reserved_for_the_program_events_their_windows_overlap_and_their_outcomes_recorded(
    t: TestDb,
) {
    let app = spawn_app(&t).await;
    let token = integration_token(&t).await;
    create_program_events(&t, &app, &token).await;
    let all = [
        ("ECOBEE/PUBRES01", "SUCCESS"),
        ("ECOBEE/PUBRES02", "SUCCESS"),
        ("ECOBEE/PUBRES03", "SUCCESS"),
    ];

    let reserved = walk(
        &t,
        &app,
        &token,
        vec![case(RESERVE, golden("reserve-device.json"))
            .codes(&all)
            // PUBRES03 has no reservation end: the event's end, so it covers the second hour only.
            .then(reserved_for("PUB-EV-0001-S1"), &["PUBRES01", "PUBRES02"])
            .then(reserved_for("PUB-EV-0001-S2"), &["PUBRES01", "PUBRES03"])],
    )
    .await;
    let messages = inbound(&t).await;
    let (_, again) = post(&app, &token, RESERVE, &golden("reserve-device.json")).await;
    assert_eq!(again["collection"], reserved[0]["collection"]);
    assert_eq!(inbound(&t).await, messages, "a resend is the same message");

    walk(
        &t,
        &app,
        &token,
        vec![case(OUTCOME, golden("post-event-outcome.json"))
            .codes(&all)
            .then(
                "SELECT external_id || ':' || nic_id || ':' || outcome FROM program_event_devices ORDER BY external_id, nic_id",
                &[
                    "PUB-EV-0001-S1:PUBRES01:D1SP",
                    "PUB-EV-0001-S1:PUBRES02:D1ER",
                    "PUB-EV-0001-S2:PUBRES01:D1SP",
                    "PUB-EV-0001-S2:PUBRES03:D1IO",
                ],
            )],
    )
    .await;
    t.cleanup().await;
}

each_backend!(a_bad_device_is_answered_alone_naming_every_bad_field_and_the_rest_is_applied);
async fn a_bad_device_is_answered_alone_naming_every_bad_field_and_the_rest_is_applied(t: TestDb) {
    let app = spawn_app(&t).await;
    let token = integration_token(&t).await;

    // No program event of the event yet: the request is refused naming the event.
    walk(
        &t,
        &app,
        &token,
        vec![case(RESERVE, golden("reserve-device.json"))
            .answers(422, "ERROR")
            .fields(0, &["eventExternalIdentifier"])
            .then("SELECT nic_id FROM program_event_devices", &[])],
    )
    .await;

    create_program_events(&t, &app, &token).await;
    walk(
        &t,
        &app,
        &token,
        vec![
            case(RESERVE, golden("reserve-device-bad-fields.json"))
                .answers(200, "ERROR")
                .codes(&[
                    ("ECOBEE/PUBRES04", "SUCCESS"),
                    (
                        "A-HEAD-END-SYSTEM-NAME-THAT-IS-LONGER-THAN-FIFTY-CHARS/PUBRES05",
                        "ERROR",
                    ),
                    ("ECOBEE/PUBRES06", "ERROR"),
                ])
                .fields(
                    1,
                    &[
                        "deviceList[1].headEndSystem",
                        "deviceList[1].reservationStartDateTime",
                    ],
                )
                .says(1, 0, "at most 50")
                .fields(2, &["deviceList[2].reservationStartDateTime"])
                .says(2, 0, "overlaps no program event")
                .then(reserved_for("PUB-EV-0001-S1"), &["PUBRES04"])
                .then(reserved_for("PUB-EV-0001-S2"), &["PUBRES04"]),
            case(RESERVE, golden("reserve-device.json")),
            case(OUTCOME, golden("post-event-outcome-bad-fields.json"))
                .answers(200, "ERROR")
                .codes(&[
                    ("ECOBEE/PUBRES01", "SUCCESS"),
                    ("ECOBEE/PUBRES02", "ERROR"),
                    ("ECOBEE/PUBRES03", "ERROR"),
                    ("ECOBEE/NOTRESERVED", "ERROR"),
                ])
                .fields(
                    1,
                    &[
                        "postOutcomeList[1].outcome",
                        "postOutcomeList[1].errorMessage",
                    ],
                )
                .says(1, 0, "D1SP, D1ND, D1IO, D1ER, D1CN")
                .fields(
                    2,
                    &[
                        "postOutcomeList[2].participationStartDateTime",
                        "postOutcomeList[2].participationEndDateTime",
                    ],
                )
                .fields(3, &["postOutcomeList[3].nicId"])
                .then(
                    "SELECT nic_id || ':' || outcome FROM program_event_devices WHERE outcome IS NOT NULL ORDER BY external_id, nic_id",
                    &["PUBRES01:D1ND", "PUBRES01:D1ND"],
                ),
        ],
    )
    .await;
    t.cleanup().await;
}

each_backend!(the_grid_s_acknowledgements_record_registration_and_answer_per_device);
async fn the_grid_s_acknowledgements_record_registration_and_answer_per_device(t: TestDb) {
    with_demo(&t).await;
    let transformer: String = t
        .scalar(
            "SELECT code FROM network_nodes WHERE kind = 'transformer' ORDER BY id LIMIT 1",
            &[],
        )
        .await;
    let mut tx = t.db.begin().await.unwrap();
    let place = gridflex::db::place::NetworkPlace {
        service_point_id: "SP-PUB-1".into(),
        transformer_code: transformer,
        feeder_code: None,
        substation_code: None,
    };
    gridflex::db::place::record_places(&mut tx, &[place], None, test_now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let app = spawn_app(&t).await;
    let token = integration_token(&t).await;
    let (status, ack) = post(&app, &token, ENROLL, &golden("enroll-full.json")).await;
    assert_eq!(status, 200, "{}: {ack}", t.name);
    let registered = |nic: &'static str| {
        let db = t.db.clone();
        async move {
            scalar::<bool>(
                &db,
                "SELECT registered FROM devices WHERE head_end = 'ECOBEE' AND nic_id = $1",
                &[Arg::Text(nic.into())],
            )
            .await
        }
    };
    // Mark PUB0002 registered so the de-registration is seen.
    let mut tx = t.db.begin().await.unwrap();
    gridflex::db::device::set_registered(&mut tx, "ECOBEE", "PUB0002", true, test_now())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let doc = golden("post-acknowledgement.json");
    let acks = walk(
        &t,
        &app,
        &token,
        vec![case(ENROLLMENT_ACK, doc.clone())
            .answers(200, "ERROR")
            .codes(&[
                ("ECOBEE/PUB0001", "SUCCESS"),
                ("ECOBEE/PUB0002", "SUCCESS"),
                ("ECOBEE/PUB9999", "ERROR"),
                ("ECOBEE/PUB0003", "ERROR"),
            ])
            .fields(2, &["deviceList[2].nicId"])
            .fields(3, &["deviceList[3].registrationStatus"])
            .says(3, 0, "Registered, De-registered")],
    )
    .await;
    let ack = &acks[0];
    assert_eq!(ack["transactionId"], "PUB-SYNC-0001");
    assert!(registered("PUB0001").await, "{}", t.name);
    assert!(!registered("PUB0002").await, "{}", t.name);
    // A resend changes nothing and answers the same.
    let messages = inbound(&t).await;
    let (again_status, again) = post(&app, &token, ENROLLMENT_ACK, &doc).await;
    assert_eq!((again_status, &again), (200, ack));
    assert_eq!(inbound(&t).await, messages);
    // Another client that happens to use the same transaction id is not taken for a resend:
    // its acknowledgement is received as its own message.
    let other = gridflex::auth::create_token(&t.db, "test", "second-grid-system", "integration")
        .await
        .expect("token");
    let (other_status, _) = post(&app, &other, ENROLLMENT_ACK, &doc).await;
    assert_eq!(other_status, 200, "{}", t.name);
    assert_eq!(inbound(&t).await, messages + 1, "{}", t.name);

    walk(
        &t,
        &app,
        &token,
        vec![
            case(DEVICE_STATUS, golden("device-status-response.json"))
                .answers(200, "ERROR")
                .codes(&[
                    ("ECOBEE/PUB0001", "SUCCESS"),
                    ("ECOBEE/PUB0002", "SUCCESS"),
                    ("ECOBEE/PUB0003", "ERROR"),
                ])
                .fields(
                    2,
                    &[
                        "deviceList[2].communicationStatus",
                        "deviceList[2].lastCommunicationDateTime",
                    ],
                )
                // Kept in the inbox as the answer to the request's dacsMessageId.
                .then(
                    "SELECT CAST(COUNT(*) AS TEXT) FROM integration_messages WHERE direction = 'inbound' \
                     AND flow = 'device_status_check' AND correlation_id = 'PUB-CHECK-0001'",
                    &["1"],
                ),
            // Message-level fields are named every one, nothing recorded.
            case(ENROLLMENT_ACK, json!({"ackType": "FINE"}))
                .answers(422, "ERROR")
                .fields(0, &["transactionId", "ackType", "deviceList"]),
        ],
    )
    .await;
    t.cleanup().await;
}

each_backend!(the_published_flows_need_an_integration_token_of_the_grid_side);
async fn the_published_flows_need_an_integration_token_of_the_grid_side(t: TestDb) {
    let app = spawn_app(&t).await;
    for path in [
        PROGRAM_EVENT,
        LIFECYCLE,
        RESERVE,
        OUTCOME,
        ENROLLMENT_ACK,
        DEVICE_STATUS,
    ] {
        let res = app.api_post("not-a-token", path, &json!({})).await;
        assert_eq!(res.status(), 401, "{}: {path}", t.name);
    }
    let programs = gridflex::auth::create_expiring_token(
        &t.db,
        "test",
        "program-system",
        "integration",
        None,
        Some("programs"),
    )
    .await
    .expect("token");
    let res = app
        .api_post(&programs, PROGRAM_EVENT, &golden("program-event.json"))
        .await;
    assert_eq!(res.status(), 403, "{}", t.name);
    assert_eq!(t.count("program_events").await, 0);
    // The acknowledgements travel back from the grid side: a program-side token may not
    // post them either, and nothing reaches the inbox.
    for (path, doc) in [
        (ENROLLMENT_ACK, "post-acknowledgement.json"),
        (DEVICE_STATUS, "device-status-response.json"),
    ] {
        let res = app.api_post(&programs, path, &golden(doc)).await;
        assert_eq!(res.status(), 403, "{}: {path}", t.name);
    }
    assert_eq!(inbound(&t).await, 0, "{}", t.name);
    t.cleanup().await;
}

each_backend!(
    a_grid_side_speaking_the_published_dialect_drives_a_program_side_through_flows_4_to_6
);
async fn a_grid_side_speaking_the_published_dialect_drives_a_program_side_through_flows_4_to_6(
    t: TestDb,
) {
    let app = spawn_app(&t).await;
    let (grid, worker) = published_grid(&t, &app).await;
    let stage = |action: &str| {
        json!({"eventExternalIdentifier": "EV-DIALECT", "externalIdentifier": "EV-DIALECT-S1",
               "programCode": "SUMMER-SAVER", "eventCategory": "X1RE", "action": action,
               "startTime": "2026-12-09T20:00:00Z", "endTime": "2026-12-09T21:00:00Z"})
    };
    let scheduled = queue(&grid, "stage_status", stage("X1SD")).await;
    let reservation = queue(
        &grid,
        "device_reservation",
        json!({"eventExternalIdentifier": "EV-DIALECT", "externalIdentifier": "EV-DIALECT-S1",
               "programCode": "SUMMER-SAVER", "startTime": "2026-12-09T20:00:00Z", "endTime": "2026-12-09T21:00:00Z",
               "deviceList": [{"headEndSystem": "ECOBEE", "nicId": "DIA1", "expectedKw": 1.5},
                              {"headEndSystem": "ECOBEE", "nicId": "DIA2", "expectedKw": 1.0}]}),
    )
    .await;
    let report = worker.tick().await.unwrap();
    assert_eq!(report.delivered, 2, "{}: {report:?}", t.name);
    assert_eq!(outbound_status(&grid, &scheduled).await, "delivered");
    assert_eq!(outbound_status(&grid, &reservation).await, "delivered");
    assert_eq!(stage_status(&t, "EV-DIALECT-S1").await, "X1SD");
    assert_eq!(reserved(&t, "EV-DIALECT-S1").await, ["DIA1", "DIA2"]);

    let started = queue(&grid, "stage_status", stage("X1IP")).await;
    let outcome = queue(
        &grid,
        "device_outcome",
        json!({"eventExternalIdentifier": "EV-DIALECT", "externalIdentifier": "EV-DIALECT-S1",
               "postOutcomeList": [
                 {"headEndSystem": "ECOBEE", "nicId": "DIA1", "outcome": "D1SP",
                  "participationStart": "2026-12-09T20:00:00Z", "participationEnd": "2026-12-09T21:00:00Z"},
                 {"headEndSystem": "ECOBEE", "nicId": "DIA2", "outcome": "D1ND"}]}),
    )
    .await;
    let report = worker.tick().await.unwrap();
    assert_eq!(report.delivered, 2, "{}: {report:?}", t.name);
    assert_eq!(outbound_status(&grid, &started).await, "delivered");
    assert_eq!(outbound_status(&grid, &outcome).await, "delivered");
    assert_eq!(stage_status(&t, "EV-DIALECT-S1").await, "X1IP");
    let outcomes: Vec<String> = scalars(
        &t.db,
        "SELECT nic_id || ':' || outcome FROM program_event_devices WHERE external_id = 'EV-DIALECT-S1' ORDER BY nic_id",
        &[],
    )
    .await;
    assert_eq!(outcomes, ["DIA1:D1SP", "DIA2:D1ND"]);

    // A business error in the published model (ERROR) is kept with the records' answers and
    // not retried: a reservation for a stage the program side does not hold.
    let unknown = queue(
        &grid,
        "device_reservation",
        json!({"eventExternalIdentifier": "EV-X", "externalIdentifier": "EV-X-S1",
               "programCode": "SUMMER-SAVER", "startTime": "2026-12-09T20:00:00Z", "endTime": "2026-12-09T21:00:00Z",
               "deviceList": [{"headEndSystem": "ECOBEE", "nicId": "DIA1", "expectedKw": 1.5}]}),
    )
    .await;
    let report = worker.tick().await.unwrap();
    assert_eq!(
        (report.business_errors, report.retries),
        (1, 0),
        "{}: {report:?}",
        t.name
    );
    assert_ne!(outbound_status(&grid, &unknown).await, "delivered");
    let error: String = grid
        .scalar(
            "SELECT last_error FROM integration_messages WHERE message_id = $1 AND direction = 'outbound'",
            &[Arg::Text(unknown.clone())],
        )
        .await;
    assert!(error.contains("EV-X-S1"), "{error}");
    drop(app);
    grid.cleanup().await;
    t.cleanup().await;
}

/// The program side learns where `SP-PUB-1` (the golden enrollment's service point) is.
async fn place_golden_service_point(t: &TestDb) {
    let transformer: String = t
        .scalar(
            "SELECT code FROM network_nodes WHERE kind = 'transformer' ORDER BY id LIMIT 1",
            &[],
        )
        .await;
    let mut tx = t.db.begin().await.unwrap();
    let place = NetworkPlace {
        service_point_id: "SP-PUB-1".into(),
        transformer_code: transformer,
        feeder_code: None,
        substation_code: None,
    };
    record_places(&mut tx, &[place], None, test_now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// A GridFlex flow 1 record at the golden service point enrolling `nics` in SMT-BYOD.
fn enrollment_record(record_id: &str, person: &str, email: &str, nics: &[&str]) -> Value {
    let assets: Vec<Value> = nics
        .iter()
        .map(|nic| {
            json!({"headEndSystem": "ECOBEE", "nicId": nic, "deviceType": "thermostat",
                   "specification": "ecobee3 lite", "serialNumber": format!("SN-{nic}"), "nominalKw": 3.0})
        })
        .collect();
    json!({"recordId": record_id,
        "customerInfo": {"personId": person, "accountId": format!("{person}-ACC"), "name": "Dialect Customer",
                         "email": email},
        "programInfo": {"programCode": "SMT-BYOD"},
        "locationInfo": {"servicePointId": "SP-PUB-1", "premiseId": "PREM-4410", "timeZone": "America/Chicago",
                         "transformerCode": "unused",
                         "address": {"street": "12 Lake Shore Dr", "city": "Riverside", "postalCode": "60546"}},
        "enrollmentSource": "X1BY", "ownership": "owned", "startDate": "2026-12-10",
        "assetInfo": {"assetList": assets}})
}

each_backend!(a_grid_side_speaking_the_published_dialect_enrolls_one_record_per_call);
async fn a_grid_side_speaking_the_published_dialect_enrolls_one_record_per_call(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let (grid, worker) = published_grid(&t, &app).await;
    place_golden_service_point(&t).await;
    // PUB0001 and PUB0002 are already enrolled in SMT-BYOD.
    let token = gridflex::auth::create_token(&t.db, "test", "golden-sender", "integration")
        .await
        .expect("token");
    let (status, ack) = post(&app, &token, ENROLL, &golden("enroll-full.json")).await;
    assert_eq!(status, 200, "{}: {ack}", t.name);
    let existing = ack["collection"][0]["enrollmentId"]
        .as_i64()
        .expect("an id");
    let enrollments_before = t.count("enrollments").await;

    let batch = queue(
        &grid,
        "enrollment_request",
        json!({"transactionId": "DIALECT-B1", "records": [
            enrollment_record("R-NEW", "DIA-P-1", "new@example.com", &["DIA10"]),
            enrollment_record("R-THERE", "PUB-P-1", "grace@example.com", &["PUB0001", "PUB0002"]),
            enrollment_record("R-BAD", "DIA-P-3", "not an email", &["DIA30"]),
        ]}),
    )
    .await;
    let report = worker.tick().await.unwrap();
    assert_eq!(
        (report.delivered, report.business_errors, report.retries),
        (1, 0, 0),
        "{}: {report:?}",
        t.name
    );
    assert_eq!(outbound_status(&grid, &batch).await, "delivered");

    // The program side: one published enrollment per record, the new one stored alone.
    assert_eq!(
        t.count("enrollments").await,
        enrollments_before + 1,
        "{}",
        t.name
    );
    let enrolled: Vec<String> = scalars(
        &t.db,
        "SELECT d.nic_id FROM enrollments e JOIN enrollment_devices ed ON ed.enrollment_id = e.id \
         JOIN devices d ON d.id = ed.device_id JOIN customers c ON c.id = e.customer_id \
         WHERE c.person_id = 'DIA-P-1' ORDER BY d.nic_id",
        &[],
    )
    .await;
    assert_eq!(enrolled, ["DIA10"], "{}", t.name);
    let sent: i64 = t
        .count(
            "SELECT COUNT(*) FROM integration_messages WHERE direction = 'inbound' \
             AND flow = 'enrollment_request'",
        )
        .await;
    // The golden one and one per good record; the bad one is refused before the inbox.
    assert_eq!(sent, 3, "{}", t.name);

    // The grid side recorded the acknowledgement in GridFlex's own shape, per record.
    let recorded: String = grid
        .scalar(
            "SELECT result FROM integration_messages WHERE message_id = $1 AND direction = 'outbound'",
            &[Arg::Text(batch.clone())],
        )
        .await;
    let recorded: Value = serde_json::from_str(&recorded).unwrap();
    assert_eq!(recorded["transactionId"], "DIALECT-B1");
    let results = recorded["results"].as_array().expect("results");
    let statuses: Vec<(&str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["recordId"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("R-NEW", "CREATED"),
            ("R-THERE", "ALREADY_EXISTS"),
            ("R-BAD", "REJECTED")
        ],
        "{}: {recorded}",
        t.name
    );
    assert!(results[0]["enrollmentId"].as_i64().is_some());
    assert_eq!(results[1]["enrollmentId"].as_i64(), Some(existing));
    assert_eq!(fields_of(&results[2]), ["customerInfo.email"], "{recorded}");
    let ack: gridflex::integration::wire::EnrollmentRequestAck =
        serde_json::from_value(recorded.clone()).expect("GridFlex's flow 1 acknowledgement");
    assert_eq!(ack.results.len(), 3);

    // The same record sent again in a new message is there now: nothing new is stored.
    let resent = queue(
        &grid,
        "enrollment_request",
        json!({"transactionId": "DIALECT-B2", "records": [
            enrollment_record("R-NEW", "DIA-P-1", "new@example.com", &["DIA10"]),
        ]}),
    )
    .await;
    let report = worker.tick().await.unwrap();
    assert_eq!(report.delivered, 1, "{}: {report:?}", t.name);
    let recorded: String = grid
        .scalar(
            "SELECT result FROM integration_messages WHERE message_id = $1 AND direction = 'outbound'",
            &[Arg::Text(resent)],
        )
        .await;
    let recorded: Value = serde_json::from_str(&recorded).unwrap();
    assert_eq!(
        recorded["results"][0]["status"], "ALREADY_EXISTS",
        "{recorded}"
    );
    assert_eq!(
        recorded["results"][0]["enrollmentId"],
        results[0]["enrollmentId"]
    );
    assert_eq!(
        t.count("enrollments").await,
        enrollments_before + 1,
        "{}",
        t.name
    );

    // No answer (nothing listens there) is a technical fault: the message is retried.
    let unreachable = PublishedHttpPeer::new(
        "http://127.0.0.1:1",
        "token",
        std::time::Duration::from_secs(2),
    )
    .expect("peer");
    let offline = DeliveryWorker::new(
        grid.db.clone(),
        Peers {
            programs: Arc::new(unreachable),
            grid: Arc::new(InProcessPeer {
                db: grid.db.clone(),
                side: Side::Grid,
                calendar: cal(),
                handlers: inbound_handlers(),
            }),
            grid_instances: Default::default(),
        },
        test_clock(),
        RetryPolicy::default(),
        7,
    );
    let retried = queue(
        &grid,
        "enrollment_request",
        json!({"transactionId": "DIALECT-B3", "records": [
            enrollment_record("R-LATER", "DIA-P-4", "later@example.com", &["DIA40"]),
        ]}),
    )
    .await;
    let report = offline.tick().await.unwrap();
    assert_eq!(
        (report.delivered, report.business_errors, report.retries),
        (0, 0, 1),
        "{}: {report:?}",
        t.name
    );
    assert_ne!(outbound_status(&grid, &retried).await, "delivered");
    drop(app);
    grid.cleanup().await;
    t.cleanup().await;
}
