//! OpenADR 3.1 subscriptions (issue 13 item 5), on every backend: a VEN's webhook hears of
//! the events published to it through the outbox — the receiver down, then up, and every
//! notification arrives exactly once with the subscription's bearer token, which is stored
//! nowhere else; a VEN sees only its own subscriptions; a callback host that is neither
//! loopback nor configured is refused naming `callbackUrl`, and nothing is stored.

mod common;

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use common::*;
use gridflex::clock::{Clock, ManualClock};
use gridflex::grid::console::GridSettings;
use gridflex::integration::message::{enqueue, new_message_id, NewMessage, DEFAULT_MAX_ATTEMPTS};
use gridflex::integration::peer::Peers;
use gridflex::integration::wire::{Outbound, ProgramRule, ProgramRuleSync, RuleAction, RuleCycle};
use gridflex::integration::worker::{DeliveryWorker, RetryPolicy};
use gridflex::openadr::auth::create_client;
use gridflex::openadr::notify::{WebhookPeer, FLOW, RECIPIENT};
use serde_json::{json, Value};

const BASE: &str = "/openadr/3.1/";
const HOOK_TOKEN: &str = "hook-s3cret-7f1e";

async fn token_for(
    t: &TestDb,
    app: &TestApp,
    name: &str,
    scopes: &[&str],
    ven: Option<&str>,
) -> String {
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    let c = create_client(&t.db, "test", name, &scopes, ven)
        .await
        .expect("client");
    let res = reqwest::Client::new()
        .post(app.url(&format!("{BASE}auth/token")))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

async fn call(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = app.url(&format!("{BASE}{path}"));
    let req = match method {
        "GET" => client.get(url),
        "POST" => client.post(url),
        "PUT" => client.put(url),
        _ => client.delete(url),
    };
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let res = req.bearer_auth(token).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

async fn api_post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let res = app.api_post(token, path, &body).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

/// What the webhook receiver got: (Authorization header, body).
type Received = Arc<Mutex<Vec<(Option<String>, Value)>>>;

async fn start_receiver(
    listener: tokio::net::TcpListener,
    got: Received,
) -> tokio::task::JoinHandle<()> {
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, Json(body): Json<Value>| {
            let got = got.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                got.lock().unwrap().push((auth, body));
                Json(json!({"ok": true}))
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

async fn drain(w: &DeliveryWorker) -> usize {
    let mut claimed = 0;
    for _ in 0..50 {
        let r = w.tick().await.expect("delivery");
        if r.claimed == 0 {
            break;
        }
        claimed += r.claimed;
    }
    claimed
}

/// A delivery worker for both sides in this process and the webhooks, on `clock`, whose
/// webhook peer may call back loopback hosts and `callback_hosts`.
fn worker_for(t: &TestDb, clock: Arc<ManualClock>, callback_hosts: &[&str]) -> DeliveryWorker {
    let hosts = callback_hosts.iter().map(|h| h.to_string()).collect();
    let webhooks = WebhookPeer::new(t.db.clone(), std::time::Duration::from_secs(5), hosts);
    DeliveryWorker::new(
        t.db.clone(),
        Peers::in_process(&t.db, cal(), inbound_handlers()),
        clock,
        RetryPolicy::default(),
        7,
    )
    .with_peer(RECIPIENT, Arc::new(webhooks.unwrap()))
}

async fn notifications(t: &TestDb, status: &str) -> i64 {
    t.scalar(
        "SELECT COUNT(*) FROM integration_messages WHERE flow = $1 AND status = $2",
        &[Arg::from(FLOW), Arg::from(status)],
    )
    .await
}

each_backend!(a_webhook_that_is_down_then_up_gets_every_notification_once);
async fn a_webhook_that_is_down_then_up_gets_every_notification_once(t: TestDb) {
    with_demo(&t).await;
    let clock = test_clock();
    let app = spawn_app_at(&t, clock.clone()).await;
    let volt = token_for(
        &t,
        &app,
        "volt",
        &["read_targets", "write_subscriptions"],
        Some("AGG-VOLTSHIFT"),
    )
    .await;
    let edge = token_for(
        &t,
        &app,
        "edge",
        &["read_targets", "write_subscriptions"],
        Some("AGG-GRIDEDGE"),
    )
    .await;

    // A port nobody listens on yet: the receiver is down.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let hook = format!("http://127.0.0.1:{port}/hook");
    let request = |url: &str| {
        json!({"clientName": "volt hooks", "objectOperations": [
            {"objects": ["EVENT"], "operations": ["POST", "PUT", "DELETE"], "callbackUrl": url,
             "bearerToken": HOOK_TOKEN}]})
    };

    // A host that is neither loopback nor configured is refused, naming the field.
    let (status, body) = call(
        &app,
        &volt,
        "POST",
        "subscriptions",
        Some(request("http://hooks.example.com/x")),
    )
    .await;
    assert_eq!(status, 400, "{}: {body}", t.name);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("objectOperations[0].callbackUrl"),
        "{body}"
    );
    assert_eq!(t.count("openadr_subscriptions").await, 0, "{}", t.name);
    // Bad input: malformed JSON, a list where an object belongs, an unknown object type,
    // an empty list, a programID nobody has.
    let res = reqwest::Client::new()
        .post(app.url(&format!("{BASE}subscriptions")))
        .bearer_auth(&volt)
        .header("content-type", "application/json")
        .body("{\"clientName\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "{}", t.name);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], 400);
    for bad in [
        json!({"clientName": "x", "objectOperations": {"objects": ["EVENT"]}}),
        json!({"clientName": "x", "objectOperations": [{"objects": ["THING"], "operations": ["POST"], "callbackUrl": hook}]}),
        json!({"clientName": "x", "objectOperations": []}),
        json!({"clientName": "x", "programID": "NOPE", "objectOperations": [{"objects": ["EVENT"], "operations": ["POST"], "callbackUrl": hook}]}),
    ] {
        let (status, body) = call(&app, &volt, "POST", "subscriptions", Some(bad.clone())).await;
        assert_eq!(
            (status, body["status"].clone()),
            (400, json!(400)),
            "{}: {bad} → {body}",
            t.name
        );
    }
    // A token without write_subscriptions: 403, whatever the body.
    let reader = token_for(&t, &app, "reader", &["read_targets"], Some("AGG-VOLTSHIFT")).await;
    let (status, body) = call(&app, &reader, "POST", "subscriptions", Some(request(&hook))).await;
    assert_eq!(
        (status, body["status"].clone()),
        (403, json!(403)),
        "{}: {body}",
        t.name
    );
    assert_eq!(t.count("openadr_subscriptions").await, 0, "{}", t.name);
    let audited = t
        .count("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'openadr.subscription%'")
        .await;
    assert_eq!(audited, 0, "{}", t.name);

    let (status, sub) = call(&app, &volt, "POST", "subscriptions", Some(request(&hook))).await;
    assert_eq!(status, 201, "{}: {sub}", t.name);
    let sub_id = sub["id"].as_str().unwrap().to_string();
    assert_eq!(sub["objectType"], "SUBSCRIPTION");

    // A VEN sees only its own subscriptions.
    let (status, list) = call(&app, &edge, "GET", "subscriptions", None).await;
    assert_eq!(
        (status, list.as_array().unwrap().len()),
        (200, 0),
        "{}",
        t.name
    );
    let (status, _) = call(&app, &edge, "GET", &format!("subscriptions/{sub_id}"), None).await;
    assert_eq!(status, 403, "{}", t.name);
    let (status, _) = call(
        &app,
        &edge,
        "DELETE",
        &format!("subscriptions/{sub_id}"),
        None,
    )
    .await;
    assert_eq!(status, 403, "{}", t.name);
    let (status, list) = call(&app, &volt, "GET", "subscriptions?skip=0&limit=5", None).await;
    assert_eq!(
        (status, list.as_array().unwrap().len()),
        (200, 1),
        "{}",
        t.name
    );

    // Approving publishes the event: one notification per OpenADR event of volt's.
    let id = app.approved_event(&t.db, "hooks").await;
    let (_, events) = call(&app, &volt, "GET", "events?limit=50", None).await;
    let code: String = t
        .scalar("SELECT code FROM events WHERE id = $1", &[Arg::from(id)])
        .await;
    let published: Vec<String> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["eventName"].as_str().unwrap().starts_with(&code))
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !published.is_empty(),
        "{}: the event is published to volt",
        t.name
    );
    // Approval may move the event on at once (Approved, then Scheduled): a CREATE per
    // OpenADR event, then an UPDATE per transition after it.
    let queued = notifications(&t, "queued").await;
    assert!(queued >= published.len() as i64, "{}: {queued}", t.name);
    assert_eq!(queued % published.len() as i64, 0, "{}: {queued}", t.name);

    let worker = worker_for(&t, clock.clone(), &[]);
    drain(&worker).await;
    assert_eq!(
        notifications(&t, "technical_failure").await,
        queued,
        "{}: down, to be retried",
        t.name
    );

    // The receiver comes up; the retries fall due.
    let got: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let server = start_receiver(listener, got.clone()).await;
    clock.advance(Duration::minutes(30));
    drain(&worker).await;
    clock.advance(Duration::minutes(30));
    drain(&worker).await;
    assert_eq!(notifications(&t, "delivered").await, queued, "{}", t.name);
    {
        let got = got.lock().unwrap();
        assert_eq!(
            got.len() as i64,
            queued,
            "{}: each notification once",
            t.name
        );
        let mut ids: Vec<&str> = got.iter().map(|(_, b)| b["id"].as_str().unwrap()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), got.len(), "{}: no notification twice", t.name);
        let mut created: Vec<String> = Vec::new();
        for (auth, body) in got.iter() {
            assert_eq!(
                auth.as_deref(),
                Some(format!("Bearer {HOOK_TOKEN}").as_str())
            );
            assert_eq!(body["objectType"], "EVENT", "{body}");
            assert!(
                body["object"]["targets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x == "AGG-VOLTSHIFT"),
                "{body}"
            );
            let id = body["object"]["id"].as_str().unwrap().to_string();
            assert!(published.contains(&id), "{}: only volt's: {id}", t.name);
            // The subscription said POST and PUT (3.0's words): it hears them back.
            match body["operation"].as_str() {
                Some("POST") => created.push(id),
                Some("PUT") => {}
                other => panic!("{}: {other:?}", t.name),
            }
        }
        created.sort();
        let mut expected = published.clone();
        expected.sort();
        assert_eq!(created, expected, "{}: one POST per OpenADR event", t.name);
    }

    // A customer of volt's opts out (flow 7's grid side) of an OpenADR event that keeps other
    // devices: that event is updated (a PUT), without the device among its targets.
    let (stage, program, head_end, nic): (i64, String, String, String) =
        gridflex::with_db!(&t.db, |p| {
            sqlx::query_as(
                "SELECT d.stage_id, d.program_code, g.head_end, g.nic_id
                 FROM event_stage_devices d JOIN grid_devices g ON g.id = d.grid_device_id
                 WHERE d.event_id = $1 AND d.status = 'reserved' AND g.aggregator_ref = 'AGG-VOLTSHIFT'
                   AND (SELECT COUNT(*) FROM event_stage_devices o JOIN grid_devices og ON og.id = o.grid_device_id
                        WHERE o.stage_id = d.stage_id AND o.program_code = d.program_code
                          AND o.status = 'reserved' AND og.aggregator_ref = 'AGG-VOLTSHIFT') >= 2
                 ORDER BY d.id LIMIT 1",
            )
            .bind(id)
            .fetch_one(p)
            .await
        })
        .unwrap();
    let volt_row: i64 = t
        .scalar(
            "SELECT id FROM grid_aggregators WHERE external_ref = 'AGG-VOLTSHIFT'",
            &[],
        )
        .await;
    let changed = gridflex::db::openadr::event_key(stage, volt_row, &program);
    assert!(published.contains(&changed), "{}: {changed}", t.name);
    let mut tx = t.db.begin().await.unwrap();
    let removed =
        gridflex::grid::event::apply_opt_out(&mut tx, &code, &head_end, &nic, clock.now())
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert!(removed.is_some(), "{}", t.name);
    drain(&worker).await;
    let opted = gridflex::openadr::objects::resource_name(&head_end, &nic);
    {
        let got = got.lock().unwrap();
        assert_eq!(
            got.len() as i64,
            queued + 1,
            "{}: one notification more",
            t.name
        );
        let (_, last) = got.last().unwrap();
        assert_eq!(
            (last["operation"].as_str(), last["object"]["id"].as_str()),
            (Some("PUT"), Some(changed.as_str())),
            "{}: {last}",
            t.name
        );
        let targets: Vec<&str> = last["object"]["targets"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|x| x.as_str())
            .collect();
        assert!(
            targets.contains(&"AGG-VOLTSHIFT") && !targets.contains(&opted.as_str()),
            "{}: {targets:?} without {opted}",
            t.name
        );
    }
    let queued = queued + 1;

    // Flow 2 registers another of that event's devices under Grid Edge: volt's OpenADR event
    // is updated again (a PUT, without the device); Grid Edge's is not volt's to hear of.
    let (device, head_end, nic): (i64, String, String) = gridflex::with_db!(&t.db, |p| {
        sqlx::query_as(
            "SELECT g.id, g.head_end, g.nic_id
             FROM event_stage_devices d JOIN grid_devices g ON g.id = d.grid_device_id
             WHERE d.stage_id = $1 AND d.program_code = $2 AND d.status = 'reserved'
               AND g.aggregator_ref = 'AGG-VOLTSHIFT'
             ORDER BY d.id LIMIT 1",
        )
        .bind(stage)
        .bind(&program)
        .fetch_one(p)
        .await
    })
    .unwrap();
    let (_, heard) = move_device(&t.db, device, "AGG-GRIDEDGE", false, clock.now()).await;
    assert!(heard >= 1, "{}: {heard}", t.name);
    drain(&worker).await;
    let went = gridflex::openadr::objects::resource_name(&head_end, &nic);
    let queued = {
        // The device's other events that volt published (the demo's past ones) change hands
        // too; each is an update or a withdrawal, and this event's is an update without it.
        let got = got.lock().unwrap();
        let new: Vec<&Value> = got[queued as usize..].iter().map(|(_, b)| b).collect();
        assert!(!new.is_empty(), "{}: volt hears of it", t.name);
        assert!(
            new.iter()
                .all(|b| matches!(b["operation"].as_str(), Some("PUT" | "DELETE"))),
            "{}: {new:?}",
            t.name
        );
        let this = new
            .iter()
            .find(|b| b["object"]["id"].as_str() == Some(changed.as_str()))
            .unwrap_or_else(|| panic!("{}: {changed} in {new:?}", t.name));
        assert_eq!(this["operation"], "PUT", "{}: {this}", t.name);
        assert!(
            !this["object"]["targets"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x.as_str() == Some(went.as_str())),
            "{}: {this}",
            t.name
        );
        got.len() as i64
    };

    // Cancelling withdraws them: a DELETE each, and still nothing twice.
    let op = gridflex::auth::create_token(&t.db, "test", "op2", "operator")
        .await
        .unwrap();
    let (status, body) = api_post(
        &app,
        &op,
        &format!("/api/v1/events/{id}/cancel"),
        json!({"reason": "storm passed"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    drain(&worker).await;
    drain(&worker).await;
    let got_now = got.lock().unwrap().clone();
    let deletes: Vec<&Value> = got_now
        .iter()
        .map(|(_, b)| b)
        .filter(|b| b["operation"] == "DELETE")
        .collect();
    assert_eq!(deletes.len(), published.len(), "{}", t.name);
    assert_eq!(
        got_now.len() as i64,
        queued + published.len() as i64,
        "{}",
        t.name
    );
    let mut ids: Vec<&str> = got_now
        .iter()
        .map(|(_, b)| b["id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        got_now.len(),
        "{}: no notification twice",
        t.name
    );

    // The hook's token is in no message, attempt or audit row.
    let like = format!("%{HOOK_TOKEN}%");
    for sql in [
        "SELECT COUNT(*) FROM integration_messages WHERE payload LIKE $1 OR COALESCE(last_error, '') LIKE $1 OR COALESCE(result, '') LIKE $1",
        "SELECT COUNT(*) FROM integration_attempts WHERE COALESCE(error, '') LIKE $1",
    ] {
        let n: i64 = t.scalar(sql, &[Arg::from(like.clone())]).await;
        assert_eq!(n, 0, "{}: {sql}", t.name);
    }
    let audit = t
        .count("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'openadr.subscription%'")
        .await;
    assert_eq!(audit, 1, "{}", t.name);

    // Deleted, it hears of nothing more.
    let (status, _) = call(
        &app,
        &volt,
        "DELETE",
        &format!("subscriptions/{sub_id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{}", t.name);
    let (status, _) = call(&app, &volt, "GET", &format!("subscriptions/{sub_id}"), None).await;
    assert_eq!(status, 404, "{}", t.name);
    server.abort();
    t.cleanup().await;
}

/// A rule of `program` as flow 9 carries it, in force from `effective_from`.
fn rule_from(effective_from: chrono::NaiveDate) -> ProgramRule {
    ProgramRule {
        effective_from,
        cycle: RuleCycle::Monthly,
        week_start: 0,
        max_events_per_cycle: 4,
        max_minutes_per_cycle: 480,
        min_gap_minutes: 720,
        min_event_minutes: 30,
        max_event_minutes: 240,
        max_overrides: 2,
        window_start_minute: 720,
        window_end_minute: 1200,
        activation_cost: 1.5,
        burn_rate_factor: 1.2,
        score_factor: 1.0,
        overridable: true,
    }
}

/// Queues flow 9 from a program side to the grid side, as a remote program system would
/// send it.
async fn send_rule(
    t: &TestDb,
    action: RuleAction,
    program: &str,
    rule: ProgramRule,
    now: DateTime<Utc>,
) {
    let sync = ProgramRuleSync {
        transaction_id: format!("RULE-{program}-{}", new_message_id()),
        action,
        program_code: program.into(),
        rule,
    };
    let mut tx = t.db.begin().await.unwrap();
    enqueue(
        &mut tx,
        &NewMessage {
            message_id: new_message_id(),
            flow: ProgramRuleSync::FLOW.as_str().into(),
            correlation_id: None,
            sender: "programs".into(),
            recipient: "grid".into(),
            payload: sync.to_payload(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        },
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

each_backend!(each_change_of_a_program_is_notified_once_to_the_subscriptions_covering_it);
async fn each_change_of_a_program_is_notified_once_to_the_subscriptions_covering_it(t: TestDb) {
    with_demo(&t).await;
    let clock = test_clock();
    let app = spawn_app_at(&t, clock.clone()).await;
    let worker = worker_for(&t, clock.clone(), &[]);
    // Whatever the demo left in the outbox goes first: it is not what this test counts.
    drain(&worker).await;
    let bl = token_for(&t, &app, "bl", &["read_all", "write_subscriptions"], None).await;
    let volt = token_for(
        &t,
        &app,
        "volt",
        &["read_targets", "write_subscriptions"],
        Some("AGG-VOLTSHIFT"),
    )
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let got: Received = Arc::default();
    let server = start_receiver(listener, got.clone()).await;
    // The business-logic client hears of every program in 3.1's words; VoltShift's VEN of
    // SMT-BYOD only, in 3.0's; and an EVENT subscription of nothing here.
    for (token, body) in [
        (
            &bl,
            json!({"clientName": "all programs", "objectOperations": [{"objects": ["PROGRAM"],
            "operations": ["CREATE", "UPDATE", "DELETE"], "callbackUrl": hook, "bearerToken": "bl-hook"}]}),
        ),
        (
            &volt,
            json!({"clientName": "smt", "programID": "SMT-BYOD", "objectOperations": [{"objects": ["PROGRAM"],
            "operations": ["POST", "PUT", "DELETE"], "callbackUrl": hook, "bearerToken": "volt-hook"}]}),
        ),
        (
            &volt,
            json!({"clientName": "events", "objectOperations": [{"objects": ["EVENT"],
            "operations": ["POST", "PUT", "DELETE"], "callbackUrl": hook, "bearerToken": "event-hook"}]}),
        ),
    ] {
        let (status, sub) = call(&app, token, "POST", "subscriptions", Some(body)).await;
        assert_eq!(status, 201, "{}: {sub}", t.name);
    }
    let today = clock.now().date_naive();

    // A program manager adds a rule to SMT-BYOD (active): flow 9 takes it to the grid side,
    // where the OpenADR program SMT-BYOD is updated.
    let smt: i64 = t
        .scalar("SELECT id FROM programs WHERE code = 'SMT-BYOD'", &[])
        .await;
    gridflex::programs::rule::save_rule(
        &t.db,
        "pm",
        smt,
        &rule_from(today + chrono::Days::new(30)),
        clock.now(),
    )
    .await
    .unwrap();
    drain(&worker).await;
    // A program side links a program the grid side did not know (created), changes its rule
    // (updated), then unlinks it (deleted: it was its only rule).
    let from = today + chrono::Days::new(7);
    for action in [RuleAction::Link, RuleAction::Change, RuleAction::Unlink] {
        send_rule(&t, action, "HP-FLEX", rule_from(from), clock.now()).await;
        drain(&worker).await;
        clock.advance(Duration::minutes(1));
    }
    assert_eq!(notifications(&t, "queued").await, 0, "{}", t.name);
    assert_eq!(notifications(&t, "delivered").await, 5, "{}", t.name);
    let heard = |token: &str| -> Vec<(String, String)> {
        got.lock()
            .unwrap()
            .iter()
            .filter(|(auth, _)| auth.as_deref() == Some(format!("Bearer {token}").as_str()))
            .map(|(_, b)| {
                assert_eq!(b["objectType"], "PROGRAM", "{b}");
                assert_eq!(b["object"]["objectType"], "PROGRAM", "{b}");
                (
                    b["object"]["id"].as_str().unwrap().to_string(),
                    b["operation"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let pair = |p: &str, o: &str| (p.to_string(), o.to_string());
    assert_eq!(
        heard("bl-hook"),
        vec![
            pair("SMT-BYOD", "UPDATE"),
            pair("HP-FLEX", "CREATE"),
            pair("HP-FLEX", "UPDATE"),
            pair("HP-FLEX", "DELETE"),
        ],
        "{}",
        t.name
    );
    assert_eq!(
        heard("volt-hook"),
        vec![pair("SMT-BYOD", "PUT")],
        "{}",
        t.name
    );
    assert!(heard("event-hook").is_empty(), "{}", t.name);
    {
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 5, "{}: each notification once", t.name);
        let mut ids: Vec<&str> = got.iter().map(|(_, b)| b["id"].as_str().unwrap()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 5, "{}: no notification twice", t.name);
    }
    // The deleted program is gone from the VTN; SMT-BYOD is still there.
    let (status, _) = call(&app, &bl, "GET", "programs/HP-FLEX", None).await;
    assert_eq!(status, 404, "{}", t.name);
    let (status, _) = call(&app, &bl, "GET", "programs/SMT-BYOD", None).await;
    assert_eq!(status, 200, "{}", t.name);
    server.abort();
    t.cleanup().await;
}

each_backend!(a_callback_host_no_longer_allowed_is_not_called_and_its_message_is_parked);
async fn a_callback_host_no_longer_allowed_is_not_called_and_its_message_is_parked(t: TestDb) {
    with_demo(&t).await;
    let clock = test_clock();
    let app_clock: Arc<dyn Clock> = clock.clone();
    let app = spawn_app_configured(&t, GridSettings::default(), |s| {
        s.clock = app_clock;
        s.simulated_clock = None;
        s.openadr_callback_hosts = vec!["hooks.example.net".into()];
    })
    .await;
    // Configured when it subscribed…
    let volt = token_for(
        &t,
        &app,
        "volt",
        &["read_targets", "write_subscriptions"],
        Some("AGG-VOLTSHIFT"),
    )
    .await;
    let (status, sub) = call(
        &app,
        &volt,
        "POST",
        "subscriptions",
        Some(json!({"clientName": "volt", "objectOperations": [{"objects": ["EVENT"],
            "operations": ["POST", "PUT", "DELETE"], "callbackUrl": "http://hooks.example.net/openadr"}]})),
    )
    .await;
    assert_eq!(status, 201, "{}: {sub}", t.name);
    app.approved_event(&t.db, "moved").await;
    let queued = notifications(&t, "queued").await;
    assert!(queued > 0, "{}", t.name);

    // …and no longer when the notifications go out (the process restarted without it).
    let worker = worker_for(&t, clock.clone(), &[]);
    drain(&worker).await;
    assert_eq!(notifications(&t, "parked").await, queued, "{}", t.name);
    let errors: Vec<String> = scalars(
        &t.db,
        "SELECT last_error FROM integration_messages WHERE flow = $1 AND attempts = 1",
        &[Arg::from(FLOW)],
    )
    .await;
    assert_eq!(errors.len() as i64, queued, "{}: one attempt each", t.name);
    for e in &errors {
        assert!(
            e.contains("hooks.example.net") && e.contains("--openadr-callback-hosts"),
            "{}: {e}",
            t.name
        );
    }
    // Parked, not retried: time passing sends nothing.
    clock.advance(Duration::hours(2));
    drain(&worker).await;
    let attempts: i64 = t
        .scalar(
            "SELECT COUNT(*) FROM integration_attempts a JOIN integration_messages m ON m.id = a.message_pk
             WHERE m.flow = $1",
            &[Arg::from(FLOW)],
        )
        .await;
    assert_eq!(attempts, queued, "{}", t.name);
    // The monitor shows why.
    let id: i64 = t
        .scalar(
            "SELECT MIN(id) FROM integration_messages WHERE flow = $1",
            &[Arg::from(FLOW)],
        )
        .await;
    let admin = app.browser();
    app.login(&admin, "admin", PASSWORD).await;
    let (status, html) = app.page(&admin, &format!("/monitor/{id}")).await;
    assert_eq!(status, 200, "{}", t.name);
    assert!(
        html.contains("hooks.example.net") && html.contains("--openadr-callback-hosts"),
        "{}",
        t.name
    );
    t.cleanup().await;
}

each_backend!(flow_2_carries_each_devices_aggregator_to_the_grid_registry);
async fn flow_2_carries_each_devices_aggregator_to_the_grid_registry(t: TestDb) {
    with_demo(&t).await;
    let clock = test_clock();
    let app = spawn_app_at(&t, clock.clone()).await;
    // A pending enrollment with two devices or more: the first gets an aggregator on the
    // program side, the others none.
    let pending: i64 = t
        .scalar(
            "SELECT e.id FROM enrollments e JOIN enrollment_devices ed ON ed.enrollment_id = e.id
             WHERE e.status = 'PENDING' AND ed.left_at IS NULL
             GROUP BY e.id HAVING COUNT(*) >= 2 ORDER BY e.id LIMIT 1",
            &[],
        )
        .await;
    let devices: Vec<i64> = scalars(
        &t.db,
        "SELECT device_id FROM enrollment_devices WHERE enrollment_id = $1 AND left_at IS NULL ORDER BY device_id",
        &[Arg::from(pending)],
    )
    .await;
    gridflex::with_db!(&t.db, |c| {
        sqlx::query("UPDATE devices SET aggregator_id = NULL WHERE id IN (SELECT device_id FROM enrollment_devices WHERE enrollment_id = $1)")
            .bind(pending)
            .execute(c)
            .await
            .unwrap();
        sqlx::query("UPDATE devices SET aggregator_id = (SELECT id FROM aggregators WHERE external_ref = 'AGG-VOLTSHIFT') WHERE id = $1")
            .bind(devices[0])
            .execute(c)
            .await
            .unwrap()
            .rows_affected()
    });
    let pm = gridflex::auth::create_token(&t.db, "test", "pm", "program_manager")
        .await
        .unwrap();
    let (status, body) = api_post(
        &app,
        &pm,
        &format!("/api/v1/enrollments/{pending}/activate"),
        json!({"reason": "head-end confirmed"}),
    )
    .await;
    assert_eq!(status, 200, "{}: {body}", t.name);
    let worker = DeliveryWorker::new(
        t.db.clone(),
        Peers::in_process(&t.db, cal(), inbound_handlers()),
        clock.clone(),
        RetryPolicy::default(),
        3,
    );
    drain(&worker).await;
    // The message on the wire names the aggregator of the one device.
    let payload: String = t
        .scalar(
            "SELECT payload FROM integration_messages WHERE flow = 'enrollment_sync'
             AND direction = 'outbound' ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await;
    let payload: Value = serde_json::from_str(&payload).unwrap();
    let listed: Vec<Option<&str>> = payload["deviceList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["aggregatorExternalReference"].as_str())
        .collect();
    assert_eq!(
        listed.iter().filter(|a| a.is_some()).count(),
        1,
        "{}: {payload}",
        t.name
    );
    // The grid registry has it, and no aggregator for the others.
    for (i, device) in devices.iter().enumerate() {
        let agg: Option<String> = scalar(
            &t.db,
            "SELECT g.aggregator_ref FROM grid_devices g JOIN devices d
               ON d.head_end = g.head_end AND d.nic_id = g.nic_id WHERE d.id = $1",
            &[Arg::from(*device)],
        )
        .await;
        let expected = (i == 0).then(|| "AGG-VOLTSHIFT".to_string());
        assert_eq!(agg, expected, "{}: device {device}", t.name);
    }
    t.cleanup().await;
}
