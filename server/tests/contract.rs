//! The contract suite: every one of the twelve flows, sent by its owning side and applied by
//! the other, once per transport — both sides in one process over one database, and two
//! servers on loopback, each with its own database, talking HTTP with integration tokens.
//! Per flow it asserts that the receiver applied the message and that the acknowledgement
//! came back to the sender.

mod common;

use std::sync::Arc;

use common::published::sibling;
use common::*;
use gridflex::db::Db;
use gridflex::integration::inbound::Side;
use gridflex::integration::message::{enqueue, new_message_id, NewMessage};
use gridflex::integration::peer::{HttpPeer, InProcessPeer, Peers};
use gridflex::integration::worker::{DeliveryWorker, RetryPolicy};
use gridflex::with_db;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Transport {
    /// Both sides in this process, one database, messages handed over in memory.
    InProcess,
    /// Two routers on 127.0.0.1:0, separate databases, `HttpPeer`s pointing at each other.
    Loopback,
    /// As `Loopback`, but the grid side speaks the published dialect to the program side
    /// (`PublishedHttpPeer`): flows 1 and 4–6 on the published paths.
    Published,
}

/// The flows the grid side sends on published paths in the published dialect: their inbox
/// ids on the program side are the published requests', not the grid's message ids.
const PUBLISHED_FLOWS: [&str; 4] = [
    "enrollment_request",
    "stage_status",
    "device_reservation",
    "device_outcome",
];

/// A program side and a grid side, and a delivery worker for each side's outbox.
struct World {
    transport: Transport,
    backend: &'static str,
    programs: Db,
    grid: Db,
    programs_worker: DeliveryWorker,
    grid_worker: DeliveryWorker,
    _apps: Vec<TestApp>,
    dbs: Vec<TestDb>,
}

fn worker(db: &Db, peers: Peers, seed: u64) -> DeliveryWorker {
    DeliveryWorker::new(
        db.clone(),
        peers,
        test_clock(),
        RetryPolicy::default(),
        seed,
    )
}

async fn http_peer(app: &TestApp, receiver: &TestDb, caller: &str) -> Arc<HttpPeer> {
    let token = gridflex::auth::create_token(&receiver.db, "test", caller, "integration")
        .await
        .expect("token");
    Arc::new(HttpPeer::new(&app.base, &token, std::time::Duration::from_secs(10)).expect("peer"))
}

impl World {
    async fn build(transport: Transport, t: TestDb) -> World {
        with_demo(&t).await;
        match transport {
            Transport::InProcess => {
                let w = worker(
                    &t.db,
                    Peers::in_process(&t.db, cal(), inbound_handlers()),
                    1,
                );
                World {
                    transport,
                    backend: t.name,
                    programs: t.db.clone(),
                    grid: t.db.clone(),
                    programs_worker: w,
                    grid_worker: worker(
                        &t.db,
                        Peers::in_process(&t.db, cal(), inbound_handlers()),
                        2,
                    ),
                    _apps: vec![],
                    dbs: vec![t],
                }
            }
            Transport::Loopback | Transport::Published => {
                let grid = sibling(&t).await;
                with_demo(&grid).await;
                let programs = t;
                let programs_app = spawn_app(&programs).await;
                // A grid side facing a published program side says so (its status check
                // answers in that dialect).
                let grid_app = if transport == Transport::Published {
                    common::published::spawn_published_grid(&grid).await
                } else {
                    spawn_app(&grid).await
                };
                // The program side's outbox goes to the grid server, and back.
                let programs_peers = Peers {
                    grid: http_peer(&grid_app, &grid, "program-side").await,
                    programs: Arc::new(InProcessPeer {
                        db: programs.db.clone(),
                        side: Side::Programs,
                        calendar: cal(),
                        handlers: inbound_handlers(),
                    }),
                    grid_instances: Default::default(),
                };
                let programs_peer: Arc<dyn gridflex::integration::peer::Peer> =
                    if transport == Transport::Published {
                        let token = gridflex::auth::create_token(
                            &programs.db,
                            "test",
                            "grid-side",
                            "integration",
                        )
                        .await
                        .expect("token");
                        Arc::new(
                            gridflex::integration::peer::PublishedHttpPeer::new(
                                &programs_app.base,
                                &token,
                                std::time::Duration::from_secs(10),
                            )
                            .expect("peer"),
                        )
                    } else {
                        http_peer(&programs_app, &programs, "grid-side").await
                    };
                let grid_peers = Peers {
                    programs: programs_peer,
                    grid: Arc::new(InProcessPeer {
                        db: grid.db.clone(),
                        side: Side::Grid,
                        calendar: cal(),
                        handlers: inbound_handlers(),
                    }),
                    grid_instances: Default::default(),
                };
                World {
                    transport,
                    backend: programs.name,
                    programs: programs.db.clone(),
                    grid: grid.db.clone(),
                    programs_worker: worker(&programs.db, programs_peers, 1),
                    grid_worker: worker(&grid.db, grid_peers, 2),
                    _apps: vec![programs_app, grid_app],
                    dbs: vec![programs, grid],
                }
            }
        }
    }

    fn label(&self, flow: &str) -> String {
        format!("{flow} ({:?}, {})", self.transport, self.backend)
    }

    /// Writes a message to `from`'s outbox, delivers it, and returns the acknowledgement
    /// the sender stored with its delivered message.
    async fn send(&self, from: Side, flow: &str, payload: Value) -> Value {
        let (db, sender, recipient) = match from {
            Side::Programs => (&self.programs, "programs", "grid"),
            Side::Grid => (&self.grid, "grid", "programs"),
        };
        let message_id = new_message_id();
        let mut tx = db.begin().await.unwrap();
        enqueue(
            &mut tx,
            &NewMessage {
                message_id: message_id.clone(),
                flow: flow.into(),
                correlation_id: None,
                sender: sender.into(),
                recipient: recipient.into(),
                payload,
                max_attempts: 3,
            },
            test_now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        self.deliver(from, flow, &message_id).await
    }

    /// Runs `from`'s worker once and returns the stored acknowledgement of `message_id`.
    async fn deliver(&self, from: Side, flow: &str, message_id: &str) -> Value {
        let (db, worker) = match from {
            Side::Programs => (&self.programs, &self.programs_worker),
            Side::Grid => (&self.grid, &self.grid_worker),
        };
        let report = worker.tick().await.unwrap();
        let (status, result, error): (String, Option<String>, Option<String>) = with_db!(db, |p| {
            sqlx::query_as(
                "SELECT status, result, last_error FROM integration_messages WHERE message_id = $1 AND direction = 'outbound'"
            )
            .bind(message_id)
            .fetch_one(p)
            .await
            .unwrap()
        });
        assert_eq!(
            status,
            "delivered",
            "{}: {report:?} {error:?} {result:?}",
            self.label(flow)
        );
        // The receiver kept the message in its inbox, processed.
        let receiver = match from {
            Side::Programs => &self.grid,
            Side::Grid => &self.programs,
        };
        let published = self.transport == Transport::Published
            && from == Side::Grid
            && PUBLISHED_FLOWS.contains(&flow);
        let (sql, bind) = if published {
            ("SELECT status FROM integration_messages WHERE flow = $1 AND direction = 'inbound' ORDER BY id DESC LIMIT 1", flow)
        } else {
            ("SELECT status FROM integration_messages WHERE message_id = $1 AND direction = 'inbound'", message_id)
        };
        let inbound: String = scalar(receiver, sql, &[Arg::from(bind)]).await;
        assert_eq!(inbound, "processed", "{}", self.label(flow));
        serde_json::from_str(&result.expect("an acknowledgement")).unwrap()
    }

    async fn cleanup(self) {
        drop(self._apps);
        for t in self.dbs {
            t.cleanup().await;
        }
    }
}

async fn text(db: &Db, sql: &str, bind: &str) -> Option<String> {
    scalar_opt(db, sql, &[Arg::from(bind)]).await
}

async fn count(db: &Db, sql: &str, bind: &str) -> i64 {
    scalar(db, sql, &[Arg::from(bind)]).await
}

/// Every flow, in an order where each finds what it needs (the device flow 2 registers is
/// checked by flow 3 and scored by flow 12; the stage of flow 4 is reserved by 5, …).
async fn run_every_flow(w: &World) {
    let xf: String = scalar(
        &w.grid,
        "SELECT code FROM network_nodes WHERE kind = 'transformer' ORDER BY id LIMIT 1",
        &[],
    )
    .await;

    if w.transport == Transport::Published {
        // The published enrollment carries no transformer: the program side places the
        // service point itself (flow 11 would have told it).
        let mut tx = w.programs.begin().await.unwrap();
        let place = gridflex::db::place::NetworkPlace {
            service_point_id: "SP-PC-1".into(),
            transformer_code: xf.clone(),
            feeder_code: None,
            substation_code: None,
        };
        gridflex::db::place::record_places(&mut tx, &[place], None, test_now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    // Flow 1, grid → programs: a new PENDING enrollment; the ack has one result per record.
    let record = json!({
        "recordId": "R-1",
        "customerInfo": {"personId": "PC-1", "accountId": "ACC-PC-1", "name": "Contract Test", "phone": "+1 555 000 2222", "email": "ct@example.com"},
        "programInfo": {"programCode": "SMT-BYOD"},
        "locationInfo": {"servicePointId": "SP-PC-1", "premiseId": "PR-PC-1",
                          "address": {"street": "2 Test St", "city": "Riverside", "postalCode": "60100"},
                          "timeZone": "America/Chicago", "transformerCode": xf},
        "enrollmentSource": "X1BY", "ownership": "owned", "startDate": "2026-06-01",
        "assetInfo": {"assetList": [{"headEndSystem": "ECOBEE", "nicId": "C0FFEE000001", "deviceType": "thermostat",
                                      "specification": "ecobee3 lite", "nominalKw": 2.5}]}
    });
    let ack = w
        .send(
            Side::Grid,
            "enrollment_request",
            json!({"transactionId": "T-1", "records": [record]}),
        )
        .await;
    assert_eq!(
        ack["results"][0]["status"],
        "CREATED",
        "{}: {ack}",
        w.label("flow 1")
    );
    assert_eq!(
        text(&w.programs, "SELECT e.status FROM enrollments e JOIN customers c ON c.id = e.customer_id WHERE c.person_id = $1", "PC-1").await.as_deref(),
        Some("PENDING"),
        "{}",
        w.label("flow 1")
    );

    // Flow 2, programs → grid, from the real trigger: activating a pending enrollment.
    let (enrollment, head_end, nic): (i64, String, String) = with_db!(&w.programs, |p| {
        sqlx::query_as(
            "SELECT e.id, d.head_end, d.nic_id FROM enrollments e JOIN enrollment_devices ed ON ed.enrollment_id = e.id AND ed.left_at IS NULL
             JOIN devices d ON d.id = ed.device_id WHERE e.status = 'PENDING' AND e.program_id = 1 ORDER BY e.id LIMIT 1",
        )
        .fetch_one(p)
        .await
        .unwrap()
    });
    gridflex::programs::enrollment::change_status(
        &w.programs,
        cal(),
        enrollment,
        gridflex::programs::enrollment::EnrollmentAction::Activate,
        "manager",
        "contract",
        test_now(),
    )
    .await
    .unwrap();
    let message_id: String = scalar(&w.programs, "SELECT message_id FROM integration_messages WHERE flow = 'enrollment_sync' AND direction = 'outbound' ORDER BY id DESC LIMIT 1", &[]).await;
    let ack = w
        .deliver(Side::Programs, "enrollment_sync", &message_id)
        .await;
    assert!(
        ack["deviceList"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["nicId"] == nic.as_str() && d["registrationStatus"] == "REGISTERED"),
        "{}: {ack}",
        w.label("flow 2")
    );
    let grid_status = scalar_opt::<String>(
        &w.grid,
        "SELECT status FROM grid_devices WHERE head_end = $1 AND nic_id = $2",
        &[Arg::from(&head_end), Arg::from(&nic)],
    )
    .await;
    assert_eq!(
        grid_status.as_deref(),
        Some("registered"),
        "{}",
        w.label("flow 2")
    );
    let registered: bool = scalar(
        &w.programs,
        "SELECT registered FROM devices WHERE head_end = $1 AND nic_id = $2",
        &[Arg::from(&head_end), Arg::from(&nic)],
    )
    .await;
    assert!(
        registered,
        "{}: the ack was applied by the sender",
        w.label("flow 2")
    );

    // Flow 3, programs → grid: the device just registered is online.
    let ack = w
        .send(
            Side::Programs,
            "device_status_check",
            json!({"transactionId": "C-1", "deviceList": [{"headEndSystem": head_end, "nicId": nic}]}),
        )
        .await;
    assert_eq!(
        ack["deviceList"][0]["status"],
        "ONLINE",
        "{}: {ack}",
        w.label("flow 3")
    );

    if w.transport == Transport::Published {
        published_clients(w, &head_end, &nic, enrollment).await;
    }

    // Flow 4, grid → programs: a stage scheduled.
    let window = json!({"startTime": "2030-07-01T18:00:00Z", "endTime": "2030-07-01T20:00:00Z"});
    let mut stage = json!({"eventExternalIdentifier": "EV-C", "externalIdentifier": "EV-C-S1", "programCode": "SMT-BYOD",
        "eventCategory": "X1EC", "action": "X1SD"});
    stage["startTime"] = window["startTime"].clone();
    stage["endTime"] = window["endTime"].clone();
    let ack = w.send(Side::Grid, "stage_status", stage).await;
    assert!(ack.is_object(), "{}: {ack}", w.label("flow 4"));
    assert_eq!(
        text(
            &w.programs,
            "SELECT status FROM program_events WHERE external_id = $1",
            "EV-C-S1"
        )
        .await
        .as_deref(),
        Some("X1SD"),
        "{}",
        w.label("flow 4")
    );

    // Flow 5, grid → programs: the device reserved for the stage.
    let mut reservation = json!({"eventExternalIdentifier": "EV-C", "externalIdentifier": "EV-C-S1", "programCode": "SMT-BYOD",
        "deviceList": [{"headEndSystem": head_end, "nicId": nic, "enrollmentId": null, "expectedKw": 1.5}]});
    reservation["startTime"] = window["startTime"].clone();
    reservation["endTime"] = window["endTime"].clone();
    let ack = w.send(Side::Grid, "device_reservation", reservation).await;
    if w.transport == Transport::Published {
        assert_eq!(ack["ackType"], "SUCCESS", "{}: {ack}", w.label("flow 5"));
        assert_eq!(ack["collection"][0]["responseCode"], "SUCCESS", "{ack}");
    } else {
        assert_eq!(ack["reserved"], 1, "{}: {ack}", w.label("flow 5"));
    }
    assert_eq!(
        count(
            &w.programs,
            "SELECT COUNT(*) FROM program_event_devices WHERE external_id = $1",
            "EV-C-S1"
        )
        .await,
        1,
        "{}",
        w.label("flow 5")
    );

    // Flow 6, grid → programs: the device's outcome.
    let outcome = json!({"eventExternalIdentifier": "EV-C", "externalIdentifier": "EV-C-S1", "postOutcomeList": [
        {"headEndSystem": head_end, "nicId": nic, "outcome": "D1SP",
         "participationStart": "2030-07-01T18:00:00Z", "participationEnd": "2030-07-01T20:00:00Z"}]});
    let ack = w.send(Side::Grid, "device_outcome", outcome).await;
    assert!(ack.is_object(), "{}: {ack}", w.label("flow 6"));
    assert_eq!(
        text(
            &w.programs,
            "SELECT outcome FROM program_event_devices WHERE external_id = $1",
            "EV-C-S1"
        )
        .await
        .as_deref(),
        Some("D1SP"),
        "{}",
        w.label("flow 6")
    );

    // Flow 7, programs → grid: an opt-out of another event.
    let ack = w
        .send(
            Side::Programs,
            "customer_opt_out",
            json!({"transactionId": "OPT-C", "eventExternalIdentifier": "EV-D", "headEndSystem": head_end, "nicId": nic,
                   "requestedAt": "2030-07-02T10:00:00Z"}),
        )
        .await;
    assert!(ack.is_object(), "{}: {ack}", w.label("flow 7"));
    assert_eq!(
        count(
            &w.grid,
            "SELECT COUNT(*) FROM grid_opt_outs WHERE event_external_id = $1",
            "EV-D"
        )
        .await,
        1,
        "{}",
        w.label("flow 7")
    );

    // Flow 8, programs → grid: an unavailability window.
    let ack = w
        .send(
            Side::Programs,
            "customer_unavailability",
            json!({"transactionId": "U-C", "action": "ADD", "windowId": "W-C", "headEndSystem": head_end, "nicId": nic,
                   "startTime": "2030-08-01T12:00:00Z", "endTime": "2030-08-01T18:00:00Z", "reason": "vacation"}),
        )
        .await;
    assert!(ack.is_object(), "{}: {ack}", w.label("flow 8"));
    assert_eq!(
        count(&w.grid, "SELECT COUNT(*) FROM grid_unavailability WHERE window_id = $1 AND status <> 'cancelled'", "W-C").await,
        1,
        "{}",
        w.label("flow 8")
    );

    // Flow 9, programs → grid: a rule linked to a program.
    let rule = json!({"effectiveFrom": "2026-05-01", "cycle": "monthly", "weekStart": 0, "maxEventsPerCycle": 4, "maxMinutesPerCycle": 480,
        "minGapMinutes": 720, "minEventMinutes": 30, "maxEventMinutes": 240, "maxOverrides": 2, "windowStartMinute": 600,
        "windowEndMinute": 1200, "activationCost": 1.0, "burnRateFactor": 1.2, "scoreFactor": 1.0, "overridable": false});
    let ack = w
        .send(
            Side::Programs,
            "program_rule_sync",
            json!({"transactionId": "R-C", "action": "LINK", "programCode": "SMT-BYOD", "rule": rule}),
        )
        .await;
    assert!(ack.is_object(), "{}: {ack}", w.label("flow 9"));
    assert!(
        count(
            &w.grid,
            "SELECT COUNT(*) FROM grid_program_rules WHERE program_code = $1 AND linked",
            "SMT-BYOD"
        )
        .await
            >= 1,
        "{}",
        w.label("flow 9")
    );

    // Flow 10, programs → grid: an aggregator.
    let ack = w
        .send(
            Side::Programs,
            "aggregator_sync",
            json!({"transactionId": "A-C", "externalReference": "AGG-CT", "name": "Contract Aggregation", "status": "active",
                   "startDate": "2024-01-01", "contactName": "Priya", "contactEmail": "ops@ct.example", "programCodes": ["SMT-BYOD"]}),
        )
        .await;
    assert!(ack.is_object(), "{}: {ack}", w.label("flow 10"));
    assert_eq!(
        text(
            &w.grid,
            "SELECT name FROM grid_aggregators WHERE external_ref = $1",
            "AGG-CT"
        )
        .await
        .as_deref(),
        Some("Contract Aggregation"),
        "{}",
        w.label("flow 10")
    );

    // Flow 11, grid → programs: a new transformer under an existing feeder.
    let (feeder, substation): (String, String) = with_db!(&w.grid, |p| {
        sqlx::query_as(
        "SELECT f.code, s.code FROM network_nodes f JOIN network_edges e ON e.child_id = f.id AND e.valid_to IS NULL
         JOIN network_nodes s ON s.id = e.parent_id WHERE f.kind = 'feeder' ORDER BY f.id LIMIT 1"
    )
    .fetch_one(p)
    .await
    .unwrap()
    });
    let ack = w
        .send(
            Side::Grid,
            "network_location_transfer",
            json!({"transactionId": "NX-C", "exportedAt": "2030-01-01T00:00:00Z",
                   "nodes": [{"code": substation, "kind": "substation", "name": "Substation", "validFrom": "2020-01-01"},
                             {"code": feeder, "kind": "feeder", "name": "Feeder", "parentCode": substation, "validFrom": "2020-01-01"},
                             {"code": "XF-CONTRACT", "kind": "transformer", "name": "Contract pad-mount", "parentCode": feeder, "validFrom": "2030-01-01"}],
                   "servicePoints": []}),
        )
        .await;
    assert_eq!(ack["nodesCreated"], 1, "{}: {ack}", w.label("flow 11"));
    assert_eq!(
        count(
            &w.programs,
            "SELECT COUNT(*) FROM program_network_nodes WHERE code = $1",
            "XF-CONTRACT"
        )
        .await,
        1,
        "{}",
        w.label("flow 11")
    );

    // Flow 12, programs → grid: the registered device's score.
    let ack = w
        .send(
            Side::Programs,
            "device_score",
            json!({"transactionId": "D-C", "scoredOn": "2026-07-02", "scores": [
                {"headEndSystem": head_end, "nicId": nic, "programCode": "SMT-BYOD", "controlScore": 2.75}]}),
        )
        .await;
    assert_eq!(ack["accepted"], 1, "{}: {ack}", w.label("flow 12"));
    let score: f64 = scalar(
        &w.grid,
        "SELECT control_score FROM grid_devices WHERE head_end = $1 AND nic_id = $2",
        &[Arg::from(&head_end), Arg::from(&nic)],
    )
    .await;
    assert_eq!(score, 2.75, "{}", w.label("flow 12"));
}

/// A published client against each side: the program side's enroll read-back and the
/// grid's acknowledgements (flows 1, 2, 3), and the grid side's device status check, whose
/// statuses the grid then posts to the program side in the published dialect.
async fn published_clients(w: &World, head_end: &str, nic: &str, enrollment: i64) {
    let (programs_app, grid_app) = (&w._apps[0], &w._apps[1]);
    let grid_client = gridflex::auth::create_token(&w.programs, "test", "dacs", "integration")
        .await
        .expect("token");
    let res = programs_app
        .api_get(
            &grid_client,
            &format!("/rest/apis/cross/digitalAssets/programEnrollments/enroll/{enrollment}"),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", w.label("flow 1 read back"));
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["enrollmentId"], enrollment, "{doc}");
    assert_eq!(doc["status"], "ACTIVE", "{doc}");
    let res = programs_app
        .api_post(
            &grid_client,
            "/rest/apis/cross/digitalAssets/programEnrollments/postAcknowledgement",
            &json!({"transactionId": "SYNC-C", "ackType": "SUCCESS", "deviceList": [
                {"headEndSystem": head_end, "nicId": nic, "registrationStatus": "Registered"}]}),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", w.label("flow 2 ack"));
    let ack: Value = res.json().await.unwrap();
    assert_eq!(ack["ackType"], "SUCCESS", "{ack}");

    // The grid side's published device status check, from a program-side client.
    let cpm = gridflex::auth::create_expiring_token(
        &w.grid,
        "test",
        "cpm",
        "integration",
        None,
        Some("programs"),
    )
    .await
    .expect("token");
    let res = grid_app
        .api_post(
            &cpm,
            "/rest/apis/dacs/controllableDeviceStatus/request",
            &json!({"dacsMessageId": "DACS-C", "deviceInfo": {"division": "NORTH",
                    "deviceType": "THERMOSTAT", "specification": "ecobee3 lite",
                    "headEndSystem": head_end, "nicid": nic}}),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", w.label("flow 3 request"));
    let ack: Value = res.json().await.unwrap();
    assert_eq!(ack["ackType"], "SUCCESS", "{ack}");
    assert_eq!(ack["responses"][0]["dacsMessageId"], "DACS-C", "{ack}");
    // The statuses go back to the program side's published response path (flow 3 ack).
    let report = w.grid_worker.tick().await.unwrap();
    assert_eq!(report.delivered, 1, "{}: {report:?}", w.label("flow 3 ack"));
    let answered = text(
        &w.programs,
        "SELECT payload FROM integration_messages WHERE direction = 'inbound' AND correlation_id = $1",
        "DACS-C",
    )
    .await
    .expect("the statuses on the program side");
    let answered: Value = serde_json::from_str(&answered).unwrap();
    assert_eq!(
        answered["deviceList"][0]["status"],
        "ONLINE",
        "{}: {answered}",
        w.label("flow 3 ack")
    );
}

each_backend!(every_flow_is_applied_and_acknowledged_in_process);
async fn every_flow_is_applied_and_acknowledged_in_process(t: TestDb) {
    let w = World::build(Transport::InProcess, t).await;
    run_every_flow(&w).await;
    w.cleanup().await;
}

each_backend!(every_flow_is_applied_and_acknowledged_between_two_servers_on_loopback);
async fn every_flow_is_applied_and_acknowledged_between_two_servers_on_loopback(t: TestDb) {
    let w = World::build(Transport::Loopback, t).await;
    run_every_flow(&w).await;
    // Nothing crossed through a shared database: each side's inbox holds only what the
    // other side sent it (but for the demos' past events, which ran in process days ago).
    let since = test_now() - chrono::Duration::days(1);
    let grid_inbox: Vec<String> = scalars(&w.grid, "SELECT DISTINCT sender FROM integration_messages WHERE direction = 'inbound'
         AND (correlation_id IS NULL OR correlation_id NOT IN (SELECT code FROM events WHERE ends_at < $1))", &[Arg::from(since)]).await;
    assert_eq!(grid_inbox, ["program-side"], "{}", w.backend);
    let programs_inbox: Vec<String> = scalars(&w.programs, "SELECT DISTINCT sender FROM integration_messages WHERE direction = 'inbound'
         AND (correlation_id IS NULL OR correlation_id NOT IN (SELECT code FROM events WHERE ends_at < $1))", &[Arg::from(since)]).await;
    assert_eq!(programs_inbox, ["grid-side"], "{}", w.backend);
    w.cleanup().await;
}

// A server that holds only one side: a message for the side it lacks is refused as the
// message's fault, naming the flow and the side, and stored as such; nothing is applied.
each_backend!(every_flow_is_applied_with_the_grid_side_speaking_the_published_dialect);
async fn every_flow_is_applied_with_the_grid_side_speaking_the_published_dialect(t: TestDb) {
    let w = World::build(Transport::Published, t).await;
    run_every_flow(&w).await;
    w.cleanup().await;
}

each_backend!(a_flow_without_a_handler_on_its_side_is_refused_clearly_and_nothing_is_applied);
async fn a_flow_without_a_handler_on_its_side_is_refused_clearly_and_nothing_is_applied(t: TestDb) {
    use gridflex::integration::handlers::Handlers;
    use gridflex::integration::inbound::receive;
    let mut programs_only = Handlers::new();
    gridflex::programs::inbound::register(&mut programs_only);
    let envelope = |id: &str| {
        json!({"messageId": id, "flow": "aggregator_sync", "sentAt": test_now(), "payload": {
            "transactionId": "A-1", "externalReference": "AGG-VS", "name": "VoltShift", "status": "active",
            "startDate": "2024-01-01", "contactName": "Priya", "contactEmail": "ops@voltshift.example", "programCodes": []}})
        .to_string()
    };
    let answer = receive(
        &t.db,
        &programs_only,
        Side::Grid,
        "cpm",
        envelope("no-handler-1").as_bytes(),
        cal(),
        test_now(),
    )
    .await
    .unwrap();
    assert!(!answer.accepted, "{}", t.name);
    assert_eq!(answer.status, 422);
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("`aggregator_sync`") && detail.contains("grid side"),
        "{detail}"
    );
    let stored: String = scalar(
        &t.db,
        "SELECT status FROM integration_messages WHERE message_id = 'no-handler-1'",
        &[],
    )
    .await;
    assert_eq!(stored, "business_error");
    assert_eq!(t.count("grid_aggregators").await, 0);

    // The composed registry has the grid side's handler: the same message is applied.
    let answer = receive(
        &t.db,
        &inbound_handlers(),
        Side::Grid,
        "cpm",
        envelope("no-handler-2").as_bytes(),
        cal(),
        test_now(),
    )
    .await
    .unwrap();
    assert!(answer.accepted, "{}: {}", t.name, answer.body);
    assert_eq!(t.count("grid_aggregators").await, 1);
    t.cleanup().await;
}
