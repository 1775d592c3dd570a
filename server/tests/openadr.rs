//! OpenADR 3.1 (issue 13): GridFlex as the VTN, called by the `openleadr-client` crate as an
//! aggregator's VEN, on every backend: tokens, programs, the events of an approved GridFlex
//! event targeted at the aggregator's VEN only, reports that become device outcomes on the
//! grid side, scopes per endpoint, paging, and bad input answered with a Problem.

mod common;

use chrono::Duration;
use common::*;
use gridflex::openadr::auth::create_client;
use openleadr_client::{BusinessLogic, Client, ClientCredentials, Filter, VirtualEndNode};
use serde_json::{json, Value};

const BASE: &str = "/openadr/3.1/";

fn vtn_client<K: openleadr_client::ClientKind>(app: &TestApp, id: &str, secret: &str) -> Client<K> {
    let base: url::Url = app.url(BASE).parse().unwrap();
    let token_url = base.join("auth/token").unwrap();
    Client::with_details(
        base,
        token_url,
        reqwest13::Client::new(),
        Some(ClientCredentials::new(id.to_string(), secret.to_string())),
    )
}

async fn new_client(
    t: &TestDb,
    name: &str,
    scopes: &[&str],
    ven: Option<&str>,
) -> (String, String) {
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    let c = create_client(&t.db, "test", name, &scopes, ven)
        .await
        .expect("client");
    (c.client_id, c.secret)
}

/// A bearer token for a client, straight from `auth/token` (client_id/client_secret form).
async fn bearer(app: &TestApp, id: &str, secret: &str) -> String {
    let res = reqwest::Client::new()
        .post(app.url(&format!("{BASE}auth/token")))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    body["access_token"].as_str().unwrap().to_string()
}

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let res = reqwest::Client::new()
        .get(app.url(&format!("{BASE}{path}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

async fn post_raw(app: &TestApp, token: &str, path: &str, body: String) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(app.url(&format!("{BASE}{path}")))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

async fn api_post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let res = app.api_post(token, path, &body).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

each_backend!(an_aggregator_reads_its_events_with_openleadr_and_its_report_becomes_outcomes);
async fn an_aggregator_reads_its_events_with_openleadr_and_its_report_becomes_outcomes(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let ven_scopes = ["read_targets", "read_ven_objects", "write_reports"];
    let (volt_id, volt_secret) =
        new_client(&t, "voltshift", &ven_scopes, Some("AGG-VOLTSHIFT")).await;
    let (edge_id, edge_secret) =
        new_client(&t, "gridedge", &ven_scopes, Some("AGG-GRIDEDGE")).await;
    let volt: Client<VirtualEndNode> = vtn_client(&app, &volt_id, &volt_secret);
    let edge: Client<VirtualEndNode> = vtn_client(&app, &edge_id, &edge_secret);

    // Programs: each program the grid side knows.
    let programs = volt
        .get_program_list(Filter::none())
        .await
        .expect("programs");
    assert!(!programs.is_empty(), "{}", t.name);

    // Not approved yet: nothing of it is published (the demo's past events are).
    let ids = |events: &[openleadr_client::EventClient<VirtualEndNode>]| {
        events
            .iter()
            .map(|e| e.id().as_str().to_string())
            .collect::<std::collections::BTreeSet<String>>()
    };
    let before = ids(&volt.get_event_list(None, Filter::none()).await.unwrap());
    let id = app.submitted_event(&t.db, "oadr").await;
    assert_eq!(
        ids(&volt.get_event_list(None, Filter::none()).await.unwrap()),
        before,
        "{}",
        t.name
    );
    let (status, body) = api_post(
        &app,
        &gridflex::auth::create_token(&t.db, "test", "ap2", "approver")
            .await
            .unwrap(),
        &format!("/api/v1/events/{id}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let events: Vec<_> = volt
        .get_event_list(None, Filter::none())
        .await
        .expect("events")
        .into_iter()
        .filter(|e| !before.contains(e.id().as_str()))
        .collect();
    assert!(!events.is_empty(), "{}: the VEN sees its events", t.name);
    let edge_events = edge
        .get_event_list(None, Filter::none())
        .await
        .expect("events");
    for e in &events {
        let content = e.content();
        assert!(
            content
                .targets
                .iter()
                .any(|x| x.as_str() == "AGG-VOLTSHIFT"),
            "{}: targeted at the VEN",
            t.name
        );
        assert!(
            edge_events.iter().all(|o| o.id() != e.id()),
            "{}: another aggregator sees nothing targeted at VoltShift",
            t.name
        );
        let intervals = content.intervals.as_ref().unwrap();
        assert!(!intervals.is_empty());
    }
    for e in &edge_events {
        assert!(e
            .content()
            .targets
            .iter()
            .any(|x| x.as_str() == "AGG-GRIDEDGE"));
    }
    // The other VEN asking for VoltShift's event by id finds nothing.
    let edge_token = bearer(&app, &edge_id, &edge_secret).await;
    let (status, _) = get(&app, &edge_token, &format!("events/{}", events[0].id())).await;
    assert_eq!(status, 404, "{}", t.name);

    // A report: the first device took part (demand intervals), the second overrode.
    let event = &events[0];
    let resources: Vec<String> = event
        .content()
        .targets
        .iter()
        .map(|x| x.as_str().to_string())
        .filter(|x| x != "AGG-VOLTSHIFT")
        .collect();
    assert!(
        resources.len() >= 2,
        "{}: devices as resource targets",
        t.name
    );
    let start = event.content().interval_period.as_ref().unwrap().start;
    let report: openleadr_wire::report::ReportRequest = serde_json::from_value(json!({
        "objectType": "REPORT",
        "eventID": event.id().as_str(),
        "clientName": "voltshift-ven",
        "resources": [
            {"resourceName": resources[0], "intervals": [
                {"id": 0, "intervalPeriod": {"start": start.to_rfc3339(), "duration": "PT15M"},
                 "payloads": [{"type": "DEMAND", "values": [1.5]}]},
                {"id": 1, "intervalPeriod": {"start": (start + Duration::minutes(15)).to_rfc3339(), "duration": "PT15M"},
                 "payloads": [{"type": "DEMAND", "values": [2.5]}]}
            ]},
            {"resourceName": resources[1], "intervals": [
                {"id": 0, "payloads": [{"type": "PARTICIPATION", "values": ["OVERRIDE"]}]}
            ]}
        ]
    }))
    .unwrap();
    let created = event.create_report(report).await.expect("report");
    let report_id = created.id().as_str().to_string();

    // The grid side has the outcomes.
    let (stage, _, _) = gridflex::openadr::objects::parse_event_id(event.id().as_str()).unwrap();
    let outcome = |resource: String| {
        let db = t.db.clone();
        async move {
            let row: (Option<String>, Option<f64>) = gridflex::with_db!(&db, |p| {
                sqlx::query_as(
                "SELECT d.outcome, d.actual_kw FROM event_stage_devices d JOIN grid_devices g ON g.id = d.grid_device_id
                 WHERE d.stage_id = $1 AND g.head_end || '_' || g.nic_id = $2"
            )
            .bind(stage)
            .bind(resource)
            .fetch_one(p)
            .await
            .unwrap()
            });
            row
        }
    };
    assert_eq!(
        outcome(resources[0].clone()).await,
        (Some("D1SP".into()), Some(2.0)),
        "{}",
        t.name
    );
    assert_eq!(
        outcome(resources[1].clone()).await.0.as_deref(),
        Some("D1IO"),
        "{}",
        t.name
    );
    let audited: i64 = t
        .scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'event.openadr_report'",
            &[],
        )
        .await;
    assert_eq!(audited, 1, "{}", t.name);

    // VoltShift reads its report back; GridEdge may not read it and does not list it.
    let volt_token = bearer(&app, &volt_id, &volt_secret).await;
    let (status, body) = get(&app, &volt_token, &format!("reports/{report_id}")).await;
    assert_eq!(status, 200, "{}: {body}", t.name);
    assert_eq!(body["eventID"], event.id().as_str());
    let (status, body) = get(&app, &edge_token, &format!("reports/{report_id}")).await;
    assert_eq!(status, 403, "{}: {body}", t.name);
    assert_eq!(body["status"], 403, "a Problem with a numeric status");
    let (status, body) = get(&app, &edge_token, "reports").await;
    assert_eq!((status, body), (200, json!([])), "{}", t.name);

    // Cancelling the GridFlex event withdraws its OpenADR events.
    let op = gridflex::auth::create_token(&t.db, "test", "op2", "operator")
        .await
        .unwrap();
    let (status, body) = api_post(
        &app,
        &op,
        &format!("/api/v1/events/{id}/cancel"),
        json!({"reason": "feeder work"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        ids(&volt.get_event_list(None, Filter::none()).await.unwrap()),
        before,
        "{}: withdrawn",
        t.name
    );
    t.cleanup().await;
}

each_backend!(every_endpoint_answers_each_scope_as_the_table_says);
async fn every_endpoint_answers_each_scope_as_the_table_says(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    // (endpoint, the scopes that may use it)
    let table: [(&str, &str, &[&str]); 7] = [
        ("GET", "programs", &["read_all", "read_targets"]),
        ("GET", "events", &["read_all", "read_targets"]),
        ("GET", "vens", &["read_all", "read_ven_objects"]),
        ("GET", "reports", &["read_all", "read_ven_objects"]),
        ("POST", "reports", &["write_reports"]),
        ("GET", "subscriptions", &["read_all", "write_subscriptions"]),
        ("POST", "subscriptions", &["write_subscriptions"]),
    ];
    for scope in gridflex::openadr::Scope::ALL {
        let scope = scope.as_str();
        let (id, secret) =
            new_client(&t, &format!("c-{scope}"), &[scope], Some("AGG-VOLTSHIFT")).await;
        let token = bearer(&app, &id, &secret).await;
        for (method, path, allowed) in table {
            let (status, body) = if method == "GET" {
                get(&app, &token, path).await
            } else {
                // Past the scope check, this empty body is bad input (400).
                post_raw(&app, &token, path, "{}".into()).await
            };
            let expected = if allowed.contains(&scope) {
                if method == "GET" {
                    200
                } else {
                    400
                }
            } else {
                403
            };
            assert_eq!(
                status, expected,
                "{}: {method} {path} with {scope}: {body}",
                t.name
            );
            if status == 403 {
                assert_eq!(body["status"], 403);
            }
        }
    }
    // Without a token, or with a made-up one: 401.
    let (status, body) = get(&app, "nope", "programs").await;
    assert_eq!(
        (status, body["status"].clone()),
        (401, json!(401)),
        "{}",
        t.name
    );
    // A business-logic client (no VEN) may not post reports even with the scope.
    let (id, secret) = new_client(&t, "bl", &["write_reports", "read_all"], None).await;
    let token = bearer(&app, &id, &secret).await;
    let (status, _) = post_raw(&app, &token, "reports", "{}".into()).await;
    assert_eq!(status, 403, "{}", t.name);
    let bl: Client<BusinessLogic> = vtn_client(&app, &id, &secret);
    assert!(!bl
        .get_program_list(Filter::none())
        .await
        .unwrap()
        .is_empty());
    t.cleanup().await;
}

each_backend!(paging_tokens_and_bad_input_are_answered_with_problems_and_store_nothing);
async fn paging_tokens_and_bad_input_are_answered_with_problems_and_store_nothing(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let (id, secret) = new_client(
        &t,
        "ven",
        &["read_targets", "read_ven_objects", "write_reports"],
        Some("AGG-VOLTSHIFT"),
    )
    .await;

    // The token endpoint: HTTP Basic works too; a wrong secret and another grant are refused.
    let c = reqwest::Client::new();
    let token_url = app.url(&format!("{BASE}auth/token"));
    let res = c
        .post(&token_url)
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", t.name);
    let res = c
        .post(&token_url)
        .basic_auth(&id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let res = c
        .post(&token_url)
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    let server: Value = c
        .get(app.url(&format!("{BASE}auth/server")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(server["tokenURL"]
        .as_str()
        .unwrap()
        .ends_with("/openadr/3.1/auth/token"));

    // Paging.
    let token = bearer(&app, &id, &secret).await;
    for q in ["limit=0", "limit=51", "skip=-1"] {
        let (status, body) = get(&app, &token, &format!("programs?{q}")).await;
        assert_eq!(
            (status, body["status"].clone()),
            (400, json!(400)),
            "{}: {q}",
            t.name
        );
    }
    let (status, body) = get(&app, &token, "programs?skip=1000&limit=50").await;
    assert_eq!((status, body), (200, json!([])), "{}", t.name);
    let (status, body) = get(&app, &token, "programs?limit=1").await;
    assert_eq!((status, body.as_array().unwrap().len()), (200, 1));

    // Bad reports: each a 400 Problem naming the field; nothing stored.
    let _event = app.approved_event(&t.db, "oadr").await;
    let (_, events) = get(&app, &token, "events").await;
    let event = &events[0];
    let event_id = event["id"].as_str().unwrap();
    let resource = event["targets"][1].as_str().unwrap();
    let report = |resources: Value| {
        json!({"objectType": "REPORT", "eventID": event_id, "clientName": "ven", "resources": resources})
            .to_string()
    };
    let one = |payload: Value| {
        report(json!([{"resourceName": resource, "intervals": [{"id": 0, "payloads": [payload]}]}]))
    };
    let cases: Vec<(String, &str)> = vec![
        ("{\"eventID\": ".into(), "JSON"),
        (
            json!({"objectType": "REPORT", "eventID": "999-1-SMT-BYOD", "clientName": "ven",
                "resources": [{"resourceName": resource, "intervals": []}]})
            .to_string(),
            "eventID",
        ),
        (report(json!([{"resourceName": resource, "intervals": []}])), "intervals"),
        (one(json!({"type": "SIMPLE_LEVEL", "values": ["high"]})), "integer"),
        // openleadr-vtn 0.2.8 takes this one; a SIMPLE level is an integer.
        (one(json!({"type": "SIMPLE", "values": ["high"]})), "integer"),
        (one(json!({"type": "SIMPLE", "values": [1.5]})), "integer"),
        (one(json!({"type": "NOT_A_TYPE", "values": [1]})), "NOT_A_TYPE"),
        (one(json!({"type": "DEMAND", "values": ["lots"]})), "values[0]"),
        (one(json!({"type": "DEMAND", "values": [1e300]})), "values[0]"),
        (
            report(json!([{"resourceName": resource, "intervals": [{"id": 0,
                "intervalPeriod": {"start": "2026-12-08T00:00:00Z", "duration": "PT0.5S"},
                "payloads": [{"type": "USAGE", "values": [1]}]}]}])),
            "duration",
        ),
        (
            report(json!([{"resourceName": "NOBODY_X", "intervals": [{"id": 0, "payloads": [{"type": "DEMAND", "values": [1]}]}]}])),
            "resourceName",
        ),
        (
            json!({"objectType": "REPORT", "programID": "NO-SUCH-PROGRAM", "eventID": event_id, "clientName": "ven",
                "resources": [{"resourceName": resource, "intervals": [{"id": 0, "payloads": [{"type": "DEMAND", "values": [1]}]}]}]})
            .to_string(),
            "programID",
        ),
    ];
    for (body, named) in cases {
        let (status, problem) = post_raw(&app, &token, "reports", body.clone()).await;
        assert_eq!(status, 400, "{}: {body}: {problem}", t.name);
        assert_eq!(problem["status"], 400);
        assert!(
            problem["detail"].as_str().unwrap().contains(named),
            "{}: {problem} names {named}",
            t.name
        );
    }
    // A token without write_reports, with a good report: 403, a Problem, nothing stored.
    let good = one(json!({"type": "PARTICIPATION", "values": ["PARTICIPATED"]}));
    let (reader_id, reader_secret) =
        new_client(&t, "reader", &["read_targets"], Some("AGG-VOLTSHIFT")).await;
    let reader = bearer(&app, &reader_id, &reader_secret).await;
    let (status, problem) = post_raw(&app, &reader, "reports", good.clone()).await;
    assert_eq!(
        (status, problem["status"].clone()),
        (403, json!(403)),
        "{}: {problem}",
        t.name
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("write_reports"),
        "{}: {problem}",
        t.name
    );
    assert_eq!(t.count("openadr_reports").await, 0, "{}", t.name);
    let outcomes: i64 = t
        .scalar("SELECT COUNT(*) FROM event_stage_devices WHERE outcome IS NOT NULL AND event_id = (SELECT MAX(id) FROM events)", &[])
        .await;
    assert_eq!(outcomes, 0, "{}", t.name);
    let audited = t
        .count("SELECT COUNT(*) FROM audit_log WHERE action = 'event.openadr_report'")
        .await;
    assert_eq!(audited, 0, "{}", t.name);
    // The same report with the scope is taken: what was refused above was the input.
    let (status, body) = post_raw(&app, &token, "reports", good).await;
    assert_eq!(status, 201, "{}: {body}", t.name);
    assert_eq!(t.count("openadr_reports").await, 1, "{}", t.name);

    // The admin creates clients over REST; bad input names the field; others are refused.
    let admin = gridflex::auth::create_token(&t.db, "test", "adm", "admin")
        .await
        .unwrap();
    let (status, body) = api_post(
        &app,
        &admin,
        "/api/v1/openadr/clients",
        json!({"name": "x", "scopes": ["read_everything"]}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("scope"));
    let (status, body) = api_post(
        &app,
        &admin,
        "/api/v1/openadr/clients",
        json!({"name": "x", "scopes": ["read_all"], "ven": "AGG-NOBODY"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = api_post(
        &app,
        &admin,
        "/api/v1/openadr/clients",
        json!({"name": "bl-admin", "scopes": ["read_all"]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    bearer(
        &app,
        body["clientID"].as_str().unwrap(),
        body["clientSecret"].as_str().unwrap(),
    )
    .await;
    t.cleanup().await;
}

/// The text of each body row's cells of the table `id` on `html` (tags and markers dropped).
fn table_rows(html: &str, id: &str) -> Vec<Vec<String>> {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table {id}"));
    let table = &html[start..];
    let table = &table[..table.find("</table>").expect("table ends")];
    let body = &table[table.find("<tbody").expect("tbody")..];
    body.split("<tr")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let cell = &cell[cell.find('>').unwrap() + 1..];
                    let cell = &cell[..cell.find("</td>").unwrap()];
                    let mut text = String::new();
                    let mut in_tag = false;
                    for c in cell.chars() {
                        match c {
                            '<' => in_tag = true,
                            '>' => in_tag = false,
                            c if !in_tag => text.push(c),
                            _ => {}
                        }
                    }
                    text.trim().to_string()
                })
                .collect()
        })
        .collect()
}

each_backend!(the_event_page_lists_what_was_published_over_openadr_and_the_last_report);
async fn the_event_page_lists_what_was_published_over_openadr_and_the_last_report(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let op = app.browser();
    app.login(&op, "operator", PASSWORD).await;
    let id = app.submitted_event(&t.db, "page").await;
    // Submitted, not approved: nothing is published, and the page shows no such table.
    let (status, html) = app.page(&op, &format!("/events/{id}")).await;
    assert_eq!(status, 200, "{}", t.name);
    assert!(!html.contains("Published over OpenADR"), "{}", t.name);
    let ap = gridflex::auth::create_token(&t.db, "test", "ap-page", "approver")
        .await
        .unwrap();
    let res = app
        .api_post(&ap, &format!("/api/v1/events/{id}/approve"), &json!({}))
        .await;
    assert_eq!(res.status(), 200, "{}", t.name);

    // What the VTN publishes of it, read as a business-logic client: the expected rows.
    let (bl_id, bl_secret) = new_client(&t, "bl", &["read_all"], None).await;
    let bl = bearer(&app, &bl_id, &bl_secret).await;
    let code: String = t
        .scalar("SELECT code FROM events WHERE id = $1", &[Arg::from(id)])
        .await;
    let mut events: Vec<Value> = Vec::new();
    loop {
        let (status, page) =
            get(&app, &bl, &format!("events?skip={}&limit=50", events.len())).await;
        assert_eq!(status, 200, "{}: {page}", t.name);
        let page = page.as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        events.extend(page);
    }
    let mut expected: Vec<(String, String, String)> = events
        .iter()
        .filter(|e| {
            e["eventName"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{code} "))
        })
        .map(|e| {
            let targets = e["targets"].as_array().unwrap();
            (
                e["id"].as_str().unwrap().to_string(),
                targets[0].as_str().unwrap().to_string(),
                (targets.len() - 1).to_string(),
            )
        })
        .collect();
    expected.sort();
    assert!(
        expected.iter().any(|(_, ven, _)| ven == "AGG-VOLTSHIFT"),
        "{}: {expected:?}",
        t.name
    );

    let (status, html) = app.page(&op, &format!("/events/{id}")).await;
    assert_eq!(status, 200, "{}", t.name);
    assert!(html.contains("Published over OpenADR"), "{}", t.name);
    let rows = table_rows(&html, "openadr-publications");
    let mut listed: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            assert_eq!(r.len(), 5, "{}: {r:?}", t.name);
            assert_eq!(
                (r[3].as_str(), r[4].as_str()),
                ("active", "no report yet"),
                "{}",
                t.name
            );
            let ven = r[1]
                .rsplit_once('(')
                .unwrap()
                .1
                .trim_end_matches(')')
                .to_string();
            (r[0].clone(), ven, r[2].clone())
        })
        .collect();
    listed.sort();
    assert_eq!(listed, expected, "{}", t.name);

    // VoltShift reports on one of its events: that row shows when (local time), no other.
    let (volt_id, volt_secret) = new_client(
        &t,
        "volt",
        &["read_targets", "write_reports"],
        Some("AGG-VOLTSHIFT"),
    )
    .await;
    let volt = bearer(&app, &volt_id, &volt_secret).await;
    let (oadr_id, _, _) = expected
        .iter()
        .find(|(_, ven, _)| ven == "AGG-VOLTSHIFT")
        .unwrap()
        .clone();
    let (_, event) = get(&app, &volt, &format!("events/{oadr_id}")).await;
    let resource = event["targets"][1].as_str().unwrap();
    let report = json!({"objectType": "REPORT", "eventID": oadr_id, "clientName": "volt",
        "resources": [{"resourceName": resource, "intervals": [
            {"id": 0, "payloads": [{"type": "PARTICIPATION", "values": ["PARTICIPATED"]}]}]}]});
    let (status, body) = post_raw(&app, &volt, "reports", report.to_string()).await;
    assert_eq!(status, 201, "{}: {body}", t.name);
    let reported: chrono::DateTime<chrono::Utc> = t
        .scalar(
            "SELECT created_at FROM openadr_reports WHERE event_id = $1",
            &[Arg::from(oadr_id.clone())],
        )
        .await;
    let local = reported
        .with_timezone(&cal().zone())
        .format("%Y-%m-%d %H:%M %Z")
        .to_string();
    let (_, html) = app.page(&op, &format!("/events/{id}")).await;
    for r in table_rows(&html, "openadr-publications") {
        let want = if r[0] == oadr_id {
            local.as_str()
        } else {
            "no report yet"
        };
        assert_eq!(r[4], want, "{}: {r:?}", t.name);
    }
    t.cleanup().await;
}

async fn api_delete(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let res = reqwest::Client::new()
        .delete(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

async fn api_list(app: &TestApp, token: &str) -> (u16, String) {
    let res = app.api_get(token, "/api/v1/openadr/clients").await;
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

each_backend!(a_revoked_client_is_refused_at_once_and_gets_no_new_token);
async fn a_revoked_client_is_refused_at_once_and_gets_no_new_token(t: TestDb) {
    let app = spawn_app(&t).await;
    let admin = gridflex::auth::create_token(&t.db, "test", "adm", "admin")
        .await
        .unwrap();
    let op = gridflex::auth::create_token(&t.db, "test", "op", "operator")
        .await
        .unwrap();
    let (id, secret) = new_client(&t, "dashboard", &["read_all"], None).await;
    let (other_id, other_secret) = new_client(&t, "other", &["read_all"], None).await;
    let token = bearer(&app, &id, &secret).await;
    let other_token = bearer(&app, &other_id, &other_secret).await;
    assert_eq!(get(&app, &token, "programs").await.0, 200, "{}", t.name);

    // The admin lists the clients: names, scopes, no secret.
    let (status, text) = api_list(&app, &admin).await;
    assert_eq!(status, 200, "{}: {text}", t.name);
    assert!(!text.contains(&secret) && !text.to_lowercase().contains("secret"));
    let list: Value = serde_json::from_str(&text).unwrap();
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["clientID"] == id.as_str())
        .expect("listed");
    assert_eq!(listed["name"], "dashboard");
    assert_eq!(listed["scopes"], json!(["read_all"]));
    assert_eq!(listed["revoked"], false);
    assert!(listed["ven"].is_null());

    // Others may neither list nor revoke; the client keeps working.
    assert_eq!(api_list(&app, &op).await.0, 403, "{}", t.name);
    let path = format!("/api/v1/openadr/clients/{id}");
    let (status, body) = api_delete(&app, &op, &path).await;
    assert_eq!(status, 403, "{}: {body}", t.name);
    assert_eq!(get(&app, &token, "programs").await.0, 200, "{}", t.name);

    // An unknown id is not found, and nothing is audited for it.
    let (status, body) = api_delete(&app, &admin, "/api/v1/openadr/clients/oadr-nobody").await;
    assert_eq!(status, 404, "{}: {body}", t.name);
    let revokes = "SELECT COUNT(*) FROM audit_log WHERE action = 'openadr_client.revoke'";
    assert_eq!(t.scalar::<i64>(revokes, &[]).await, 0, "{}", t.name);

    // Revoked: the token is refused at once, the secret gets no new one, the tokens are gone.
    let (status, body) = api_delete(&app, &admin, &path).await;
    assert_eq!(status, 204, "{}: {body}", t.name);
    let (status, body) = get(&app, &token, "programs").await;
    assert_eq!(status, 401, "{}: {body}", t.name);
    let res = reqwest::Client::new()
        .post(app.url(&format!("{BASE}auth/token")))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "{}", t.name);
    let tokens: i64 = t
        .scalar(
            "SELECT COUNT(*) FROM openadr_tokens t JOIN openadr_clients c ON c.id = t.client_id
             WHERE c.client_id = $1",
            &[Arg::from(id.as_str())],
        )
        .await;
    assert_eq!(tokens, 0, "{}", t.name);
    let actor: String = t
        .scalar(
            "SELECT actor FROM audit_log WHERE action = 'openadr_client.revoke'",
            &[],
        )
        .await;
    assert_eq!(actor, "token:adm", "{}", t.name);
    let (_, text) = api_list(&app, &admin).await;
    let list: Value = serde_json::from_str(&text).unwrap();
    let revoked = |cid: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|c| c["clientID"] == cid)
            .unwrap()["revoked"]
            .clone()
    };
    assert_eq!(revoked(&id), true, "{}", t.name);
    assert_eq!(revoked(&other_id), false, "{}", t.name);

    // Another client is untouched; the CLI's revoke (the same call, from another process)
    // takes it too: every process refuses its tokens within `TokenCache::FRESH`.
    assert_eq!(
        get(&app, &other_token, "programs").await.0,
        200,
        "{}",
        t.name
    );
    let err = gridflex::openadr::auth::revoke_client(&t.db, "cli", "oadr-nobody")
        .await
        .unwrap_err();
    assert!(
        matches!(err, gridflex::error::DomainError::NotFound(_)),
        "{err:?}"
    );
    gridflex::openadr::auth::revoke_client(&t.db, "cli", &other_id)
        .await
        .unwrap();
    tokio::time::sleep(
        gridflex::openadr::auth::TokenCache::FRESH + std::time::Duration::from_millis(100),
    )
    .await;
    assert_eq!(
        get(&app, &other_token, "programs").await.0,
        401,
        "{}",
        t.name
    );
    assert_eq!(t.scalar::<i64>(revokes, &[]).await, 2, "{}", t.name);
    t.cleanup().await;
}

/// The VTN's OpenAPI document walked against the real router: every documented operation is
/// served (neither 404 nor 405), and every path of the 3.1 specification that GridFlex
/// answers is documented.
#[tokio::test]
async fn the_vtn_openapi_document_matches_the_routes_served() {
    let t = TestDb::sqlite().await;
    let app = spawn_app(&t).await;
    let c = reqwest::Client::new();
    let res = c
        .get(app.url(&format!("{BASE}openapi.json")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["servers"][0]["url"], "/openadr/3.1");
    let paths = doc["paths"].as_object().unwrap();
    let call = |method: &str, path: &str| {
        let url = app.url(&format!("{BASE}{}", path.trim_start_matches('/')));
        let req = match method {
            "get" => c.get(url),
            "post" => c.post(url),
            "put" => c.put(url),
            _ => c.delete(url),
        };
        req.header("content-type", "application/json")
            .body("{}")
            .send()
    };
    let mut documented = std::collections::BTreeSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            documented.insert((method.clone(), path.clone()));
            let concrete = path.replace(['{', '}'], "");
            let status = call(method, &concrete).await.unwrap().status().as_u16();
            assert!(
                ![404, 405].contains(&status),
                "documented {method} {path} is served: {status}"
            );
            assert!(
                op["responses"].get(status.to_string()).is_some(),
                "{method} {path} answers {status}, which the document declares"
            );
            // Lists say how they page; protected operations name their scopes.
            if op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "limit")
            {
                let limit = op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["name"] == "limit")
                    .unwrap();
                assert_eq!(limit["schema"]["maximum"], 50, "{path}");
            }
            if status == 401 {
                let scopes = op["security"][0]["oAuth2ClientCredentials"]
                    .as_array()
                    .unwrap();
                assert!(!scopes.is_empty(), "{method} {path} names its scopes");
                for s in scopes {
                    assert!(
                        gridflex::openadr::Scope::parse(s.as_str().unwrap()).is_some(),
                        "{s}"
                    );
                }
            }
        }
    }
    // Every path of the specification's API (and this document) that answers is documented.
    let spec_paths = [
        "/programs",
        "/programs/p1",
        "/events",
        "/events/e1",
        "/reports",
        "/reports/r1",
        "/subscriptions",
        "/subscriptions/s1",
        "/vens",
        "/vens/v1",
        "/vens/v1/resources",
        "/vens/v1/resources/r1",
        "/resources",
        "/resources/r1",
        "/notifiers",
        "/auth/token",
        "/auth/server",
        "/openapi.json",
    ];
    for path in spec_paths {
        for method in ["get", "post", "put", "delete"] {
            let status = call(method, path).await.unwrap().status().as_u16();
            if [404, 405].contains(&status) {
                continue;
            }
            let templated = documented.iter().any(|(m, p)| {
                m == method
                    && p.split('/').count() == path.split('/').count()
                    && p.split('/')
                        .zip(path.split('/'))
                        .all(|(a, b)| a == b || a.starts_with('{'))
            });
            assert!(
                templated,
                "{method} {path} answers {status} but is not documented"
            );
        }
    }
    t.cleanup().await;
}

each_backend!(a_vens_event_pages_hold_exactly_its_published_stages_and_their_sums);
/// The VTN reads its events from the kept `openadr_events`; compared here with the plain
/// reading (every reserved device joined to its stage, event and aggregator, grouped), for
/// every VEN and none, with and without a program, a page at a time — after the approval that
/// publishes them, after an opt-out releases a device and after a device moves to another
/// aggregator (flow 2).
async fn a_vens_event_pages_hold_exactly_its_published_stages_and_their_sums(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let approved = app.approved_event(&t.db, "pages-a").await;
    // A submitted event reserves devices too, and must not be published.
    app.submitted_event(&t.db, "pages-s").await;
    pages_match_the_reserved_devices(&t, "approved").await;

    // A reserved device of an aggregator opts out: its event expects less.
    let (code, head_end, nic): (String, String, String) = gridflex::with_db!(&t.db, |p| {
        sqlx::query_as(
            "SELECT e.code, g.head_end, g.nic_id FROM event_stage_devices d
             JOIN events e ON e.id = d.event_id JOIN grid_devices g ON g.id = d.grid_device_id
             WHERE e.id = $1 AND d.status = 'reserved' AND g.aggregator_ref IS NOT NULL
             ORDER BY d.id LIMIT 1",
        )
        .bind(approved)
        .fetch_one(p)
        .await
    })
    .unwrap();
    let mut tx = t.db.begin().await.unwrap();
    let released =
        gridflex::grid::event::apply_opt_out(&mut tx, &code, &head_end, &nic, chrono::Utc::now())
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert!(released.is_some(), "{}: the device was reserved", t.name);
    pages_match_the_reserved_devices(&t, "after an opt-out").await;

    // A reserved device is registered again under another aggregator: its share of the
    // event goes to that aggregator's VEN.
    let (device, from): (i64, String) = gridflex::with_db!(&t.db, |p| {
        sqlx::query_as(
            "SELECT g.id, g.aggregator_ref
             FROM event_stage_devices d JOIN grid_devices g ON g.id = d.grid_device_id
             WHERE d.event_id = $1 AND d.status = 'reserved' AND g.aggregator_ref IS NOT NULL
             ORDER BY d.id LIMIT 1",
        )
        .bind(approved)
        .fetch_one(p)
        .await
    })
    .unwrap();
    let to: String = t
        .scalar(
            "SELECT external_ref FROM grid_aggregators WHERE external_ref <> $1 ORDER BY id LIMIT 1",
            &[Arg::from(from.as_str())],
        )
        .await;
    let (moved, _) = move_device(&t.db, device, &to, false, chrono::Utc::now()).await;
    assert_eq!(moved, 1, "{}: one device changed aggregator", t.name);
    pages_match_the_reserved_devices(&t, "after a device moved to another aggregator").await;
    // And back, through the batch path of flow 2.
    let (moved, _) = move_device(&t.db, device, &from, true, chrono::Utc::now()).await;
    assert_eq!(moved, 1, "{}: and back", t.name);
    pages_match_the_reserved_devices(&t, "after it moved back").await;
    assert!(
        gridflex::db::openadr::published_drift(&t.db)
            .await
            .unwrap()
            .is_empty(),
        "{}",
        t.name
    );
}

/// Every page of `events` (every VEN and none, with and without a program, two at a time)
/// equals the plain reading of the reserved devices; `when` names the moment.
async fn pages_match_the_reserved_devices(t: &TestDb, when: &str) {
    use gridflex::db::openadr::{events, EventFilter, PUBLISHED_STATES};
    let drift = gridflex::db::openadr::published_drift(&t.db).await.unwrap();
    assert!(drift.is_empty(), "{} {when}: {drift:?}", t.name);
    let sql = format!(
        "SELECT s.id, a.id, a.external_ref, d.program_code, SUM(d.expected_kw)
         FROM event_stage_devices d
         JOIN grid_devices g ON g.id = d.grid_device_id
         JOIN grid_aggregators a ON a.external_ref = g.aggregator_ref
         JOIN event_stages s ON s.id = d.stage_id
         JOIN events e ON e.id = s.event_id
         WHERE e.status IN {PUBLISHED_STATES} AND d.status = 'reserved'
         GROUP BY s.id, a.id, a.external_ref, d.program_code
         ORDER BY s.id, a.id, d.program_code"
    );
    let all: Vec<(i64, i64, String, String, f64)> =
        gridflex::with_db!(&t.db, |p| { sqlx::query_as(&sql).fetch_all(p).await }).unwrap();
    assert!(
        all.len() >= 2,
        "{} {when}: published events to compare",
        t.name
    );
    let unpublished: i64 = gridflex::with_db!(&t.db, |p| {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM event_stage_devices d JOIN events e ON e.id = d.event_id
             WHERE e.status = 'Submitted' AND d.status = 'reserved'",
        )
        .fetch_one(p)
        .await
    })
    .unwrap();
    assert!(
        unpublished > 0,
        "{}: the submitted event reserves devices",
        t.name
    );
    let mut vens: Vec<Option<String>> = all.iter().map(|r| Some(r.2.clone())).collect();
    vens.sort();
    vens.dedup();
    vens.push(None);
    let mut programs: Vec<Option<String>> = all.iter().map(|r| Some(r.3.clone())).collect();
    programs.sort();
    programs.dedup();
    programs.truncate(1);
    programs.push(None);
    for ven in &vens {
        for program in &programs {
            let filter = EventFilter {
                ven: ven.as_deref(),
                program: program.as_deref(),
                key: None,
            };
            let mut got = Vec::new();
            loop {
                let page = events(&t.db, &filter, got.len() as i64, 2).await.unwrap();
                assert!(page.len() <= 2);
                let done = page.len() < 2;
                got.extend(page);
                if done {
                    break;
                }
            }
            let want: Vec<_> = all
                .iter()
                .filter(|r| ven.as_ref().is_none_or(|v| *v == r.2))
                .filter(|r| program.as_ref().is_none_or(|p| *p == r.3))
                .collect();
            assert_eq!(
                got.len(),
                want.len(),
                "{} {when}: {ven:?} {program:?}",
                t.name
            );
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(
                    (
                        g.stage_id,
                        g.aggregator_id,
                        &g.aggregator_ref,
                        &g.program_code
                    ),
                    (w.0, w.1, &w.2, &w.3),
                    "{}",
                    t.name
                );
                assert!((g.expected_kw - w.4).abs() < 1e-6, "{}: {g:?}", t.name);
                // One event read by its key is the same row.
                let one = events(
                    &t.db,
                    &EventFilter {
                        ven: ven.as_deref(),
                        program: None,
                        key: Some((g.stage_id, g.aggregator_id, &g.program_code)),
                    },
                    0,
                    1,
                )
                .await
                .unwrap();
                assert_eq!(one.len(), 1, "{}", t.name);
                assert_eq!(one[0].event_code, g.event_code);
            }
        }
    }
}

each_backend!(reports_sent_at_once_are_each_stored_audited_and_applied_in_order);
/// Many reports at once are written in groups (`report_writer`): each is answered 201 only
/// once stored, each has its own audit entry in an intact chain, and a report sent after
/// another was answered replaces its outcome. Within a group the later report wins; a group
/// with a bad report writes the others.
async fn reports_sent_at_once_are_each_stored_audited_and_applied_in_order(t: TestDb) {
    use gridflex::db::openadr::{DeviceOutcome, NewReport};
    use gridflex::openadr::report_writer::{write_group, PendingReport};

    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let ven_scopes = ["read_targets", "read_ven_objects", "write_reports"];
    let (volt_id, volt_secret) =
        new_client(&t, "voltshift", &ven_scopes, Some("AGG-VOLTSHIFT")).await;
    let volt: Client<VirtualEndNode> = vtn_client(&app, &volt_id, &volt_secret);
    let token = bearer(&app, &volt_id, &volt_secret).await;
    let before: std::collections::BTreeSet<String> = volt
        .get_event_list(None, Filter::none())
        .await
        .unwrap()
        .iter()
        .map(|e| e.id().as_str().to_string())
        .collect();
    let id = app.submitted_event(&t.db, "oadr-many").await;
    let approver = gridflex::auth::create_token(&t.db, "test", "ap3", "approver")
        .await
        .unwrap();
    let (status, body) = api_post(
        &app,
        &approver,
        &format!("/api/v1/events/{id}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let event = volt
        .get_event_list(None, Filter::none())
        .await
        .unwrap()
        .into_iter()
        .find(|e| !before.contains(e.id().as_str()))
        .expect("an event for VoltShift");
    let event_id = event.id().as_str().to_string();
    let resource = event
        .content()
        .targets
        .iter()
        .map(|x| x.as_str().to_string())
        .find(|x| x != "AGG-VOLTSHIFT")
        .expect("a resource");
    let (stage, _, _) = gridflex::openadr::objects::parse_event_id(&event_id).unwrap();

    // 40 reports on the same device at once, each with its own demand.
    const N: usize = 40;
    let report = |kw: usize| {
        json!({
            "objectType": "REPORT", "eventID": event_id, "clientName": format!("ven-{kw}"),
            "resources": [{"resourceName": resource, "intervals": [
                {"id": 0, "payloads": [{"type": "DEMAND", "values": [kw as f64]}]}]}]
        })
        .to_string()
    };
    let posts = (1..=N).map(|i| post_raw(&app, &token, "reports", report(i)));
    let answers = futures_util::future::join_all(posts).await;
    let mut ids = std::collections::BTreeSet::new();
    for (status, body) in &answers {
        assert_eq!(*status, 201, "{}: {body}", t.name);
        ids.insert(body["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), N, "{}: one id each", t.name);
    let stored = |t: &TestDb| {
        let db = t.db.clone();
        let event_id = event_id.clone();
        async move {
            scalar::<i64>(
                &db,
                "SELECT COUNT(*) FROM openadr_reports WHERE event_id = $1",
                &[Arg::Text(event_id)],
            )
            .await
        }
    };
    let audited = |t: &TestDb| {
        let db = t.db.clone();
        async move {
            scalar::<i64>(
                &db,
                "SELECT COUNT(*) FROM audit_log WHERE action = 'event.openadr_report' AND entity_id = $1",
                &[Arg::Text(stage.to_string())],
            )
            .await
        }
    };
    assert_eq!(stored(&t).await, N as i64, "{}", t.name);
    assert_eq!(audited(&t).await, N as i64, "{}", t.name);
    // The device holds the demand of the report audited last.
    let device_kw = |t: &TestDb| {
        let db = t.db.clone();
        let resource = resource.clone();
        async move {
            gridflex::with_db!(&db, |p| sqlx::query_as::<_, (i64, Option<f64>)>(
                "SELECT d.grid_device_id, d.actual_kw FROM event_stage_devices d
                 JOIN grid_devices g ON g.id = d.grid_device_id
                 WHERE d.stage_id = $1 AND g.head_end || '_' || g.nic_id = $2"
            )
            .bind(stage)
            .bind(resource)
            .fetch_one(p)
            .await
            .unwrap())
        }
    };
    let last_audited = |t: &TestDb| {
        let db = t.db.clone();
        async move {
            let after: String = scalar(
                &db,
                "SELECT after_json FROM audit_log WHERE action = 'event.openadr_report' AND entity_id = $1
                 ORDER BY id DESC LIMIT 1",
                &[Arg::Text(stage.to_string())],
            )
            .await;
            serde_json::from_str::<Value>(&after).unwrap()["outcomes"][0]["actualKw"]
                .as_f64()
                .unwrap()
        }
    };
    // Reports in flight together have no order between them (on PostgreSQL several groups
    // are written at once): the device holds one of them.
    let (device, kw) = device_kw(&t).await;
    assert!(
        kw.is_some_and(|kw| (1..=N).any(|i| i as f64 == kw)),
        "{}: {kw:?}",
        t.name
    );
    // A report sent after another was answered is applied after it, and audited after it.
    for kw in [N + 1, N + 2, N + 3] {
        let (status, body) = post_raw(&app, &token, "reports", report(kw)).await;
        assert_eq!(status, 201, "{}: {body}", t.name);
    }
    assert_eq!(device_kw(&t).await.1, Some((N + 3) as f64), "{}", t.name);
    assert_eq!(last_audited(&t).await, (N + 3) as f64, "{}", t.name);
    let n = N as i64 + 3;
    assert_eq!(stored(&t).await, n, "{}", t.name);
    assert_eq!(audited(&t).await, n, "{}", t.name);
    // The writers' counts on /metrics: every report written, none failed, none waiting, in
    // at most one transaction each.
    let scraper = gridflex::auth::create_token(&t.db, "test", "scraper", "auditor")
        .await
        .unwrap();
    let metrics = app
        .api_get(&scraper, "/metrics")
        .await
        .text()
        .await
        .unwrap();
    let figure = |name: &str| -> i64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
    };
    assert_eq!(
        figure("gridflex_openadr_reports_written_total"),
        n,
        "{}",
        t.name
    );
    assert_eq!(figure("gridflex_openadr_reports_failed_total"), 0);
    assert_eq!(figure("gridflex_openadr_reports_waiting"), 0);
    let groups = figure("gridflex_openadr_report_groups_total");
    assert!((1..=n).contains(&groups), "{}: {groups}", t.name);
    let intact = |t: &TestDb| {
        let db = t.db.clone();
        async move {
            matches!(
                gridflex::db::audit::verify(&db).await.unwrap(),
                gridflex::db::audit::ChainCheck::Intact { .. }
            )
        }
    };
    assert!(intact(&t).await, "{}: the chain verifies", t.name);

    // A group whose second report reuses a stored id: the first and the third are written,
    // in order; the second fails alone and leaves nothing behind.
    let client: i64 = scalar(
        &t.db,
        "SELECT id FROM openadr_clients WHERE client_id = $1",
        &[Arg::Text(volt_id.clone())],
    )
    .await;
    let pending = |report_id: &str, kw: f64| PendingReport {
        row: NewReport {
            report_id: report_id.to_string(),
            client,
            ven_ref: Some("AGG-VOLTSHIFT".into()),
            event_id: event_id.clone(),
            client_name: "direct".into(),
            body: "{}".into(),
            created_at: chrono::Utc::now(),
        },
        stage_id: stage,
        outcomes: vec![DeviceOutcome {
            grid_device_id: device,
            outcome: "D1SP",
            actual_kw: Some(kw),
            start: None,
            end: None,
        }],
        audit: gridflex::db::audit::NewAuditEntry::new(
            "test",
            "event.openadr_report",
            "event_stage",
            stage,
        )
        .after(json!({"outcomes": [{"actualKw": kw}]})),
    };
    let taken = ids.iter().next().unwrap().clone();
    let group = [
        pending("rpt-direct-1", 101.0),
        pending(&taken, 102.0),
        pending("rpt-direct-3", 103.0),
    ];
    let results = write_group(&t.db, &group.iter().collect::<Vec<_>>()).await;
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(
        matches!(results[1], Err(gridflex::error::DomainError::Conflict(_))),
        "{}: {results:?}",
        t.name
    );
    assert_eq!(stored(&t).await, n + 2, "{}", t.name);
    assert_eq!(audited(&t).await, n + 2, "{}", t.name);
    assert_eq!(device_kw(&t).await.1, Some(103.0), "{}", t.name);
    assert_eq!(last_audited(&t).await, 103.0, "{}", t.name);
    assert!(intact(&t).await, "{}: the chain still verifies", t.name);
    // Two good reports on the device in one group: one transaction, the later one's outcome.
    let group = [
        pending("rpt-direct-4", 104.0),
        pending("rpt-direct-5", 105.0),
    ];
    let results = write_group(&t.db, &group.iter().collect::<Vec<_>>()).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(device_kw(&t).await.1, Some(105.0), "{}", t.name);
    assert_eq!(last_audited(&t).await, 105.0, "{}", t.name);
    assert_eq!(stored(&t).await, n + 4, "{}", t.name);
    drop(app);
    t.cleanup().await;
}

/// `gridflex audit verify` also checks the OpenADR events kept for VENs against the reserved
/// devices they are kept from, and names the first difference.
#[tokio::test]
async fn audit_verify_checks_the_kept_openadr_events() {
    let t = TestDb::sqlite().await;
    with_demo(&t).await;
    let verify = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_gridflex"))
            .args(["--database-url", &t.database_url(), "audit", "verify"])
            .env("GRIDFLEX_LOG", "warn")
            .output()
            .expect("gridflex runs")
    };
    let out = verify();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("OpenADR events kept as published match"),
        "{stdout}"
    );
    // The demo's past events were published to its aggregators; one kept row goes missing.
    let kept = t.count("openadr_events").await;
    assert!(kept > 0, "the demo publishes events");
    gridflex::with_db!(&t.db, |p| sqlx::query(
        "DELETE FROM openadr_events WHERE stage_id = (SELECT MIN(stage_id) FROM openadr_events)"
    )
    .execute(p)
    .await
    .map(|_| ()))
    .unwrap();
    let out = verify();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("DIFFER") && stderr.contains("missing"),
        "{stderr}"
    );
    t.cleanup().await;
}
