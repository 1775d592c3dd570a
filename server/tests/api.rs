//! The REST API and the operational probes, on every backend.

mod common;

use common::*;
use serde_json::{json, Value};

async fn token(t: &TestDb, role: &str) -> String {
    gridflex::auth::create_token(&t.db, "test", &format!("{role}-client"), role)
        .await
        .expect("token")
}

each_backend!(the_api_needs_a_valid_bearer_token);
async fn the_api_needs_a_valid_bearer_token(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let c = reqwest::Client::new();
    let res = c.get(app.url("/api/v1/programs")).send().await.unwrap();
    assert_eq!(res.status(), 401, "{}", t.name);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let res = c
        .get(app.url("/api/v1/programs"))
        .bearer_auth("gfx_not_a_token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let good = token(&t, "program_manager").await;
    let res = app.api_get(&good, "/api/v1/programs").await;
    assert_eq!(res.status(), 200);
    let programs: Vec<Value> = res.json().await.unwrap();
    assert_eq!(programs.len(), 4);
    // Revoked tokens stop working at once.
    let mut tx = t.db.begin().await.unwrap();
    assert!(
        gridflex::db::token::revoke_token(&mut tx, "program_manager-client")
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let res = app.api_get(&good, "/api/v1/programs").await;
    assert_eq!(res.status(), 401);
    drop(app);
    t.cleanup().await;
}

each_backend!(enrollments_filter_page_and_mask_by_role);
async fn enrollments_filter_page_and_mask_by_role(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let pm = token(&t, "program_manager").await;
    let body: Value = app
        .api_get(&pm, "/api/v1/enrollments?program=2&status=ACTIVE&limit=5")
        .await
        .json()
        .await
        .unwrap();
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 5, "{}", t.name);
    assert!(items
        .iter()
        .all(|e| e["programCode"] == "EV-MANAGED" && e["status"] == "ACTIVE"));
    let total = body["total"].as_i64().unwrap();
    // The program's code filters the same as its id.
    let by_code: Value = app
        .api_get(
            &pm,
            "/api/v1/enrollments?program=EV-MANAGED&status=ACTIVE&limit=5",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_code["total"], total, "{}: program code", t.name);
    assert_eq!(by_code["items"], body["items"], "{}", t.name);
    // Walking every page visits each enrollment exactly once.
    let mut seen = std::collections::HashSet::new();
    let mut after: Option<i64> = None;
    loop {
        let url = match after {
            Some(a) => {
                format!("/api/v1/enrollments?program=2&status=ACTIVE&limit=37&after={a}")
            }
            None => "/api/v1/enrollments?program=2&status=ACTIVE&limit=37".into(),
        };
        let page: Value = app.api_get(&pm, &url).await.json().await.unwrap();
        for e in page["items"].as_array().unwrap() {
            assert!(
                seen.insert(e["id"].as_i64().unwrap()),
                "no enrollment twice"
            );
        }
        match page["nextAfter"].as_i64() {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    assert_eq!(
        seen.len() as i64,
        total,
        "{}: pages add up to the total",
        t.name
    );

    // Sorting by customer keeps keyset paging consistent too.
    let sorted: Value = app
        .api_get(&pm, "/api/v1/enrollments?sort=customer&limit=10")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<String> = sorted["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["customerName"].as_str().unwrap().to_lowercase())
        .collect();
    let mut ordered = names.clone();
    ordered.sort();
    assert_eq!(names, ordered);
    // Every sort walks every page once, in order, under a filter (its own index).
    for (sort, key) in [("customer", "customerName"), ("start", "startDate")] {
        let mut seen = std::collections::HashSet::new();
        let mut keys: Vec<String> = Vec::new();
        let mut after: Option<i64> = None;
        loop {
            let mut url = format!("/api/v1/enrollments?program=2&sort={sort}&limit=61");
            if let Some(a) = after {
                url.push_str(&format!("&after={a}"));
            }
            let page: Value = app.api_get(&pm, &url).await.json().await.unwrap();
            for e in page["items"].as_array().unwrap() {
                assert!(seen.insert(e["id"].as_i64().unwrap()), "{sort}: once");
                keys.push(e[key].as_str().unwrap().to_lowercase());
            }
            match page["nextAfter"].as_i64() {
                Some(a) => after = Some(a),
                None => break,
            }
        }
        let total = t
            .count("SELECT COUNT(*) FROM enrollments WHERE program_id = 2")
            .await;
        assert_eq!(seen.len() as i64, total, "{}: {sort} pages add up", t.name);
        assert!(
            keys.windows(2).all(|w| w[0] <= w[1]),
            "{}: {sort} in order",
            t.name
        );
    }

    // Search by NIC id finds the device's enrollment.
    let nic: String = scalar(&t.db, "SELECT d.nic_id FROM devices d JOIN enrollment_devices ed ON ed.device_id = d.id ORDER BY d.id LIMIT 1", &[]).await;
    let found: Value = app
        .api_get(
            &pm,
            &format!("/api/v1/enrollments?q={}", nic.to_lowercase()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["total"], 1, "{}: NIC search", t.name);

    let first_id = items[0]["id"].as_i64().unwrap();
    let detail: Value = app
        .api_get(&pm, &format!("/api/v1/enrollments/{first_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(detail["customer"]["email"].as_str().unwrap().contains('@'));
    let auditor = token(&t, "auditor").await;
    let masked: Value = app
        .api_get(&auditor, &format!("/api/v1/enrollments/{first_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(masked["customer"]["email"], "••••••");
    assert_eq!(masked["customer"]["phone"], "••••••");
    assert_eq!(masked["location"]["address"], "••••••");

    // An operator token may read devices but not enrollments.
    let operator = token(&t, "operator").await;
    let res = app.api_get(&operator, "/api/v1/enrollments").await;
    assert_eq!(res.status(), 403);
    let res = app
        .api_get(&operator, "/api/v1/devices?deviceType=battery&limit=3")
        .await;
    assert_eq!(res.status(), 200);
    let devices: Value = res.json().await.unwrap();
    assert!(devices["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["deviceType"] == "battery"));
    // The console's snake_case query name is still read.
    let old_name: Value = app
        .api_get(&operator, "/api/v1/devices?device_type=battery&limit=3")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(old_name["total"], devices["total"], "{}", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(list_filters_take_codes_as_well_as_ids);
async fn list_filters_take_codes_as_well_as_ids(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let c = reqwest::Client::new();
    let pm = token(&t, "program_manager").await;
    let get = |path: String| {
        let req = c.get(app.url(&path)).bearer_auth(&pm);
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200, "{path}");
            res.json::<Value>().await.unwrap()
        }
    };
    let first = get("/api/v1/enrollments?limit=1".into()).await;
    let feeder = first["items"][0]["feederCode"]
        .as_str()
        .unwrap()
        .to_string();
    let substation = first["items"][0]["substationCode"]
        .as_str()
        .unwrap()
        .to_string();
    let (feeder_id, substation_id, program_id): (i64, i64, i64) = gridflex::with_db!(&t.db, |p| {
        sqlx::query_as(
            "SELECT (SELECT id FROM program_network_nodes WHERE code = $1), (SELECT id FROM program_network_nodes WHERE code = $2),
                    (SELECT id FROM programs WHERE code = 'SMT-BYOD')",
        )
        .bind(&feeder)
        .bind(&substation)
        .fetch_one(p)
        .await
        .unwrap()
    });

    for (by_code, by_id) in [
        (
            format!("/api/v1/enrollments?feeder={feeder}"),
            format!("/api/v1/enrollments?feeder={feeder_id}"),
        ),
        (
            format!("/api/v1/enrollments?substation={substation}"),
            format!("/api/v1/enrollments?substation={substation_id}"),
        ),
        (
            format!("/api/v1/devices?feeder={feeder}"),
            format!("/api/v1/devices?feeder={feeder_id}"),
        ),
        (
            format!("/api/v1/devices?substation={substation}"),
            format!("/api/v1/devices?substation={substation_id}"),
        ),
        (
            "/api/v1/devices?program=SMT-BYOD".into(),
            format!("/api/v1/devices?program={program_id}"),
        ),
    ] {
        let a = get(by_code.clone()).await;
        let b = get(by_id).await;
        assert!(a["total"].as_i64().unwrap() > 0, "{}: {by_code}", t.name);
        assert_eq!(a["total"], b["total"], "{}: {by_code}", t.name);
        assert_eq!(a["items"], b["items"], "{}: {by_code}", t.name);
    }
    let enrollments = get(format!("/api/v1/enrollments?feeder={feeder}&limit=500")).await;
    assert!(enrollments["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["feederCode"] == feeder.as_str()));
    let devices = get(format!("/api/v1/devices?feeder={feeder}&limit=500")).await;
    assert!(devices["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["feederCode"] == feeder.as_str()));
    // Devices of a program are the ones in its enrollments now.
    let in_program: i64 = scalar(&t.db, "SELECT COUNT(DISTINCT ed.device_id) FROM enrollment_devices ed JOIN enrollments e ON e.id = ed.enrollment_id
             JOIN programs p ON p.id = e.program_id WHERE p.code = 'SMT-BYOD' AND ed.left_at IS NULL", &[]).await;
    let smt = get("/api/v1/devices?program=SMT-BYOD".into()).await;
    assert_eq!(smt["total"], in_program, "{}", t.name);
    let network = get(format!("/api/v1/network?feeder={feeder}")).await;
    assert_eq!(network["feeder"]["node"]["code"], feeder.as_str());

    // An unknown code is a 400 problem naming the parameter and the code.
    for path in [
        "/api/v1/enrollments?program=NO-SUCH-PROGRAM".to_string(),
        "/api/v1/enrollments?feeder=FDR-NOPE".into(),
        "/api/v1/enrollments?substation=SUB-NOPE".into(),
        "/api/v1/devices?program=NO-SUCH-PROGRAM".into(),
        "/api/v1/devices?feeder=FDR-NOPE".into(),
        "/api/v1/network?feeder=FDR-NOPE".into(),
        // A feeder's code is not a substation's.
        format!("/api/v1/enrollments?substation={feeder}"),
    ] {
        let res = app.api_get(&pm, &path).await;
        assert_eq!(res.status(), 400, "{}: {path}", t.name);
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let body: Value = res.json().await.unwrap();
        let detail = body["detail"].as_str().unwrap();
        let (param, code) = path.rsplit_once('?').unwrap().1.split_once('=').unwrap();
        assert!(
            detail.contains(&format!("`{param}`")) && detail.contains(&format!("`{code}`")),
            "{path}: {body}"
        );
    }
    drop(app);
    t.cleanup().await;
}

each_backend!(bad_requests_get_problem_documents_never_500);
async fn bad_requests_get_problem_documents_never_500(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let pm = token(&t, "program_manager").await;
    for (path, status, needle) in [
        ("/api/v1/enrollments?program=abc", 400, "`program`"),
        ("/api/v1/enrollments?status=LIVE", 400, "`status`"),
        ("/api/v1/enrollments?sort=random", 400, "`sort`"),
        ("/api/v1/enrollments?limit=-1", 400, "`limit`"),
        ("/api/v1/enrollments?limit=", 400, "`limit`"),
        ("/api/v1/devices?after=", 400, "`after`"),
        ("/api/v1/enrollments?bogus=1", 400, "`bogus`"),
        (
            "/api/v1/enrollments?after=999999999&sort=customer",
            400,
            "`after`",
        ),
        ("/api/v1/enrollments/0", 400, "`id`"),
        ("/api/v1/enrollments/abc", 400, "`id`"),
        ("/api/v1/enrollments/99999999", 404, "not found"),
        ("/api/v1/devices/99999999", 404, "not found"),
        ("/api/v1/programs/99999999", 404, "not found"),
        ("/api/v1/network?feeder=99999999", 404, "not found"),
        ("/api/v1/devices?registered=perhaps", 400, "`registered`"),
        ("/api/v1/nothing-here", 404, "no such API resource"),
    ] {
        let res = app.api_get(&pm, path).await;
        assert_eq!(res.status().as_u16(), status, "{} {path}", t.name);
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["status"], status);
        assert!(
            body["detail"].as_str().unwrap().contains(needle),
            "{path}: {body}"
        );
    }
    let q = format!("/api/v1/enrollments?q={}", "x".repeat(300));
    assert_eq!(app.api_get(&pm, &q).await.status(), 400);
    drop(app);
    t.cleanup().await;
}

#[tokio::test]
async fn the_openapi_document_matches_the_routes_served() {
    let t = TestDb::sqlite().await;
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let c = reqwest::Client::new();
    let pm = token(&t, "admin").await;
    let doc: Value = c
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 48);
    // One casing: every documented body, answer and query parameter name is camelCase.
    let snake = |name: &str| name.contains('_');
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        for field in schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|p| p.0)
        {
            assert!(
                !snake(field),
                "schema {name}: field `{field}` is not camelCase"
            );
        }
    }
    for (path, item) in paths {
        for op in item.as_object().unwrap().values() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                assert!(!snake(name), "{path}: parameter `{name}` is not camelCase");
            }
        }
    }
    // The list filters are documented as codes (or ids).
    let enrollment_params = &paths["/api/v1/enrollments"]["get"]["parameters"];
    for name in ["program", "substation", "feeder"] {
        let p = enrollment_params
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap();
        assert_eq!(p["schema"]["type"], "string", "{name} takes a code");
    }
    // `/api/v1/events/1` must exist for the walk below: the operator creates it.
    let op = token(&t, "operator").await;
    let start = {
        use chrono::DurationRound;
        app.events
            .now()
            .duration_trunc(chrono::Duration::minutes(15))
            .unwrap()
            + chrono::Duration::hours(2)
    };
    let res = c
        .post(app.url("/api/v1/events"))
        .bearer_auth(&op)
        .json(
            &json!({"strategyId": 1, "name": "walk", "startsAt": start.to_rfc3339(),
            "endsAt": (start + chrono::Duration::hours(1)).to_rfc3339()}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    // A completed event on the program side, for the settlement paths.
    gridflex::with_db!(&t.db, |c| {
        sqlx::query(
        "INSERT INTO program_events (external_id, event_external_id, program_code, category, status, starts_at, ends_at, updated_at)
         VALUES ('EV-WALK-S1', 'EV-WALK', 'SMT-BYOD', 'Reliability', 'F1CO', $1, $2, $1)"
    )
    .bind(start - chrono::Duration::days(3))
    .bind(start - chrono::Duration::days(3) + chrono::Duration::hours(1))
    .execute(c)
    .await
    .unwrap()
    .rows_affected()
    });
    for (path, item) in paths {
        let concrete = path
            .replace("{id}", "1")
            .replace("{enrollmentId}", "1")
            .replace("{flow}", "enrollment_request")
            .replace("/events/{code}", "/events/EV-WALK")
            .replace("{code}", "SMT-BYOD");
        if item.get("post").is_some() {
            // Served (not 404/405) and answering an empty body with a problem, never a 500.
            let res = app.api_post(&pm, &concrete, &json!({})).await;
            let status = res.status().as_u16();
            assert!(
                ![404, 405, 500].contains(&status),
                "documented POST {path} is served: {status}"
            );
            assert!(
                item["post"]["responses"].get(status.to_string()).is_some(),
                "POST {path} answers {status}, which the document declares"
            );
            // A typed JSON body missing its required fields is a 422 naming the first one.
            let body_schema =
                &item["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"];
            if let Some(name) = body_schema.as_str().map(|r| r.rsplit('/').next().unwrap()) {
                let required = &doc["components"]["schemas"][name]["required"];
                if let Some(first) = required.as_array().and_then(|r| r.first()) {
                    assert_eq!(status, 422, "{path}: {{}} is not a {name}");
                    let problem: Value = res.json().await.unwrap();
                    let field = first.as_str().unwrap();
                    assert!(
                        problem["detail"].as_str().unwrap().contains(field),
                        "{path}: {problem} names `{field}`"
                    );
                }
            }
            continue;
        }
        if item.get("get").is_none() {
            // Only DELETE (an OpenADR client): an unknown id is the 404 declared.
            let concrete = concrete.replace("{clientID}", "oadr-nobody");
            let res = c
                .delete(app.url(&concrete))
                .bearer_auth(&pm)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            assert_eq!(status, 404, "documented DELETE {path} is served");
            assert!(item["delete"]["responses"].get("404").is_some());
            continue;
        }
        let res = app.api_get(&pm, &concrete).await;
        assert_eq!(res.status(), 200, "documented {path} is served");
        // Without a token: the 401 declared.
        let anonymous = c.get(app.url(&concrete)).send().await.unwrap().status();
        assert!(
            item["get"]["responses"]
                .get(anonymous.as_u16().to_string())
                .is_some(),
            "GET {path} answers {anonymous} without a token, which the document declares"
        );
        if concrete.ends_with(".csv") {
            let kind = res.headers()["content-type"].to_str().unwrap().to_string();
            assert!(kind.starts_with("text/csv"), "{path}: {kind}");
            continue;
        }
        let body: Value = res.json().await.unwrap();
        // Every documented query parameter is accepted empty (no filter), but for whole
        // numbers: an empty page size, cursor or offset is a 400 naming the parameter.
        for p in item["get"]["parameters"].as_array().into_iter().flatten() {
            if p["in"] == "query" {
                let name = p["name"].as_str().unwrap();
                let res = app.api_get(&pm, &format!("{concrete}?{name}=")).await;
                if p["schema"]["type"] == "integer" {
                    assert_eq!(res.status(), 400, "empty {name} of {path} is refused");
                    let problem: Value = res.json().await.unwrap();
                    assert!(
                        problem["detail"]
                            .as_str()
                            .unwrap()
                            .contains(&format!("`{name}`")),
                        "{path}: {problem} names `{name}`"
                    );
                } else {
                    assert_eq!(
                        res.status(),
                        200,
                        "documented parameter {name} of {path} is accepted"
                    );
                }
            }
        }
        let schema = &item["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.rsplit('/').next().unwrap();
            let component = &doc["components"]["schemas"][name];
            for field in component["required"].as_array().into_iter().flatten() {
                assert!(
                    body.get(field.as_str().unwrap()).is_some(),
                    "{path}: field {field} documented and present"
                );
            }
        }
    }
    drop(app);
    t.cleanup().await;
}

each_backend!(probes_report_health_readiness_and_metrics);
async fn probes_report_health_readiness_and_metrics(t: TestDb) {
    let app = spawn_app(&t).await;
    let c = reqwest::Client::new();
    assert_eq!(
        c.get(app.url("/health")).send().await.unwrap().status(),
        200
    );
    let ready: Value = c
        .get(app.url("/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["database"], true, "{}", t.name);
    assert_eq!(ready["migrations"], true);
    c.get(app.url("/login")).send().await.unwrap();
    // Metrics need a token (of any role).
    let res = c.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 401, "{}: metrics without a token", t.name);
    let token = gridflex::auth::create_token(&t.db, "test", "scraper", "auditor")
        .await
        .unwrap();
    let metrics = app.api_get(&token, "/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            "gridflex_http_requests_total{method=\"GET\",route=\"/login\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("gridflex_db_pool_connections"));
    drop(app);
    t.cleanup().await;
}

each_backend!(actions_through_the_api_follow_the_same_rules_as_the_console);
async fn actions_through_the_api_follow_the_same_rules_as_the_console(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let c = reqwest::Client::new();
    let pm = token(&t, "program_manager").await;
    let operator = token(&t, "operator").await;
    let pending: i64 = scalar(
        &t.db,
        "SELECT id FROM enrollments WHERE status = 'PENDING' ORDER BY id LIMIT 1",
        &[],
    )
    .await;
    let url = format!("/api/v1/enrollments/{pending}/activate");
    let res = app.api_post(&operator, &url, &json!({"reason": "x"})).await;
    assert_eq!(res.status(), 403, "{}", t.name);
    let res = c
        .post(app.url(&url))
        .bearer_auth(&pm)
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let res = app.api_post(&pm, &url, &json!({})).await;
    assert_eq!(res.status(), 422, "a missing field is named");
    assert!(res.text().await.unwrap().contains("reason"));
    let res = app
        .api_post(&pm, &url, &json!({"reason": "head-end confirmed"}))
        .await;
    assert_eq!(res.status(), 200, "{}", t.name);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ACTIVE");
    let again = app.api_post(&pm, &url, &json!({"reason": "again"})).await;
    assert_eq!(
        again.status(),
        409,
        "{}: an illegal transition is a conflict",
        t.name
    );
    let queued: i64 = t
        .count("SELECT COUNT(*) FROM integration_messages WHERE flow = 'enrollment_sync'")
        .await;
    assert_eq!(queued, 1);

    let device: i64 = scalar(
        &t.db,
        "SELECT id FROM devices WHERE status = 'active' ORDER BY id LIMIT 1",
        &[],
    )
    .await;
    let res = app.api_post(&pm, &format!("/api/v1/devices/{device}/unavailability"), &json!({"startsAt": "2030-07-01T12:00:00Z", "endsAt": "yesterday", "reason": "vacation"})).await;
    assert_eq!(res.status(), 422, "a time that is not RFC 3339 is named");
    assert!(res.text().await.unwrap().contains("endsAt"));
    // A time without an offset is a 400 naming the field and what is missing.
    let res = app.api_post(&pm, &format!("/api/v1/devices/{device}/unavailability"), &json!({"startsAt": "2030-07-01T12:00", "endsAt": "2030-07-01T16:00:00Z", "reason": "vacation"})).await;
    assert_eq!(res.status(), 400);
    let text = res.text().await.unwrap();
    assert!(
        text.contains("startsAt") && text.contains("no UTC offset"),
        "{text}"
    );
    let res = app.api_post(&pm, &format!("/api/v1/devices/{device}/unavailability"), &json!({"startsAt": "2030-07-01T12:00:00Z", "endsAt": "2030-07-01T11:00:00Z", "reason": "vacation"})).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("end:"));
    let res = app.api_post(&pm, &format!("/api/v1/devices/{device}/unavailability"), &json!({"startsAt": "2030-07-01T12:00:00Z", "endsAt": "2030-07-01T16:00:00Z", "reason": "vacation"})).await;
    assert_eq!(res.status(), 200, "{}", t.name);
    let res = c
        .post(app.url("/api/v1/scores/run"))
        .bearer_auth(&pm)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "only an admin runs the scores");
    let admin = token(&t, "admin").await;
    let res = c
        .post(app.url("/api/v1/scores/run"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    drop(app);
    t.cleanup().await;
}

#[tokio::test]
async fn the_openapi_document_declares_errors_as_problem_json() {
    let t = TestDb::sqlite().await;
    let app = spawn_app(&t).await;
    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut errors = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().into_iter().flatten() {
                if status.starts_with('4') || status.starts_with('5') {
                    if let Some(content) = response["content"].as_object() {
                        errors += 1;
                        let kinds: Vec<&String> = content.keys().collect();
                        assert_eq!(
                            kinds,
                            vec!["application/problem+json"],
                            "{method} {path} {status}"
                        );
                    }
                }
            }
        }
    }
    assert!(errors > 50, "error answers are documented ({errors})");
    drop(app);
    t.cleanup().await;
}

#[tokio::test]
async fn the_openapi_document_declares_bounds_enums_and_every_status_answered() {
    let t = TestDb::sqlite().await;
    let app = spawn_app(&t).await;
    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut integers = 0;
    let mut limits = 0;
    let mut statuses = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for p in &params {
                let name = p["name"].as_str().unwrap();
                let schema = &p["schema"];
                if schema["type"] == "integer" {
                    integers += 1;
                    let minimum = schema["minimum"].as_i64();
                    let expected = if name == "offset" { 0 } else { 1 };
                    assert_eq!(
                        minimum,
                        Some(expected),
                        "{method} {path}: integer `{name}` declares its minimum"
                    );
                    if name == "limit" {
                        limits += 1;
                        let maximum = schema["maximum"].as_i64();
                        let expected = if path.starts_with("/api/v1/settlements/") {
                            5000
                        } else {
                            500
                        };
                        assert_eq!(maximum, Some(expected), "{method} {path}: `limit`");
                    }
                }
                if name == "status" {
                    statuses += 1;
                    let codes: Vec<&str> = schema["enum"]
                        .as_array()
                        .unwrap_or_else(|| panic!("{method} {path}: `status` has an enum"))
                        .iter()
                        .map(|v| v.as_str().unwrap())
                        .collect();
                    let expected: &[&str] = match path.as_str() {
                        "/api/v1/enrollments" => &["PENDING", "ACTIVE", "INACTIVE"],
                        "/api/v1/devices" => &["active", "inactive"],
                        "/api/v1/events" => &[
                            "New",
                            "Submitted",
                            "Approved",
                            "Denied",
                            "Scheduled",
                            "InProgress",
                            "Completed",
                            "Canceled",
                        ],
                        other => panic!("a status filter on {other} to check"),
                    };
                    assert_eq!(codes, expected, "{method} {path}");
                }
            }
            // The statuses the server answers, declared where they can happen.
            let responses = op["responses"].as_object().unwrap();
            let declared = |status: u16| responses.contains_key(&status.to_string());
            let mut expected = vec![500, 503];
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                expected.extend([401, 403]);
            }
            if !params.is_empty() || op.get("requestBody").is_some() {
                expected.push(400);
            }
            if params.iter().any(|p| p["in"] == "path") {
                expected.push(404);
            }
            if op["requestBody"]["content"]["application/json"]["schema"]["$ref"].is_string() {
                expected.extend([413, 415, 422]);
            }
            for status in expected {
                assert!(declared(status), "{method} {path} declares {status}");
            }
        }
    }
    assert!(integers > 20, "integer parameters walked ({integers})");
    assert_eq!(limits, 4, "enrollments, devices and two settlement pages");
    assert_eq!(
        statuses, 3,
        "enrollments, devices and events filter by status"
    );

    // What the document declares for a JSON body is what the server answers.
    let token = token(&t, "admin").await;
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/enrollments/1/activate"))
        .bearer_auth(&token)
        .body("{\"reason\": \"x\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415, "a JSON body without its content type");
    drop(app);
    t.cleanup().await;
}

each_backend!(expired_and_rotated_tokens_are_refused);
async fn expired_and_rotated_tokens_are_refused(t: TestDb) {
    let app = spawn_app(&t).await;
    let c = reqwest::Client::new();
    let status = |token: String| {
        let c = c.clone();
        let url = app.url("/api/v1/programs");
        async move {
            c.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Wall clock: token expiry is access control and checked against real time.
    let soon = chrono::Utc::now() + chrono::Duration::days(90);
    let fresh =
        gridflex::auth::create_expiring_token(&t.db, "test", "fresh", "auditor", Some(soon), None)
            .await
            .unwrap();
    assert_eq!(status(fresh.clone()).await, 200, "{}", t.name);
    let past = chrono::Utc::now() - chrono::Duration::minutes(1);
    let expired = gridflex::auth::create_expiring_token(
        &t.db,
        "test",
        "expired",
        "auditor",
        Some(past),
        None,
    )
    .await
    .unwrap();
    assert_eq!(status(expired).await, 401, "{}: an expired token", t.name);

    // Rotation: the new value works, the old one no longer does; the rotation is audited.
    let rotated = gridflex::auth::rotate_token(&t.db, "test", "fresh")
        .await
        .unwrap();
    assert_eq!(status(rotated).await, 200);
    assert_eq!(status(fresh).await, 401, "{}: the old value", t.name);
    let audited: i64 = t
        .count("SELECT COUNT(*) FROM audit_log WHERE action = 'token.rotate'")
        .await;
    assert_eq!(audited, 1);
    assert!(gridflex::auth::rotate_token(&t.db, "test", "no-such-token")
        .await
        .is_err());
    drop(app);
    t.cleanup().await;
}

/// Per node code: (code, service points, enrolled devices, enrolled kW to 0.1).
type NodeFigures = Vec<(String, i64, i64, i64)>;

fn shown(nodes: &[Value]) -> NodeFigures {
    let mut out: NodeFigures = nodes
        .iter()
        .map(|n| {
            (
                n["node"]["code"].as_str().unwrap().to_string(),
                n["servicePoints"].as_i64().unwrap(),
                n["enrolledDevices"].as_i64().unwrap(),
                (n["enrolledKw"].as_f64().unwrap() * 10.0).round() as i64,
            )
        })
        .collect();
    out.sort();
    out
}

each_backend!(the_network_roll_up_shows_the_same_figures_from_each_sides_own_tables);
async fn the_network_roll_up_shows_the_same_figures_from_each_sides_own_tables(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let pm = token(&t, "program_manager").await;
    // What the page showed when the grid read the program side's tables: service points and
    // active enrolled devices by their cached feeder (or transformer).
    let expected = |level: &'static str, feeder: Option<String>| {
        let db = t.db.clone();
        async move {
            let (node, filter) = match level {
                "feeder" => ("l.feeder_id", "TRUE"),
                _ => (
                    "l.transformer_id",
                    "l.feeder_id = (SELECT id FROM program_network_nodes WHERE code = $1)",
                ),
            };
            let sql = format!(
                "SELECT n.code, COUNT(DISTINCT l.id),
                    (SELECT COUNT(*) FROM enrollments e JOIN device_locations el ON el.id = e.location_id
                     JOIN enrollment_devices ed ON ed.enrollment_id = e.id AND ed.left_at IS NULL
                     JOIN devices d ON d.id = ed.device_id
                     WHERE e.status = 'ACTIVE' AND d.status = 'active' AND el.{col} = n.id),
                    (SELECT COALESCE(SUM(d.nominal_kw), 0.0) FROM enrollments e JOIN device_locations el ON el.id = e.location_id
                     JOIN enrollment_devices ed ON ed.enrollment_id = e.id AND ed.left_at IS NULL
                     JOIN devices d ON d.id = ed.device_id
                     WHERE e.status = 'ACTIVE' AND d.status = 'active' AND el.{col} = n.id)
                 FROM device_locations l JOIN program_network_nodes n ON n.id = {node}
                 WHERE {filter} GROUP BY n.id, n.code",
                col = node.trim_start_matches("l."),
            );
            let code = feeder.unwrap_or_default();
            let rows: Vec<(String, i64, i64, f64)> = gridflex::with_db!(&db, |p| {
                let q = sqlx::query_as(&sql);
                let q = if level == "feeder" {
                    q
                } else {
                    q.bind(code.clone())
                };
                q.fetch_all(p).await.unwrap()
            });
            let mut rows: NodeFigures = rows
                .into_iter()
                .map(|(c, sp, n, kw)| (c, sp, n, (kw * 10.0).round() as i64))
                .collect();
            rows.sort();
            rows
        }
    };
    let res = app.api_get(&pm, "/api/v1/network").await;
    assert_eq!(res.status(), 200, "{}", t.name);
    let view: Value = res.json().await.unwrap();
    let feeders: Vec<Value> = view["substations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["children"].as_array().unwrap().clone())
        .collect();
    let by_feeder = expected("feeder", None).await;
    assert!(by_feeder.len() > 3, "{}", t.name);
    assert_eq!(shown(&feeders), by_feeder, "{}", t.name);
    // One feeder's transformers.
    let busiest = by_feeder.iter().max_by_key(|f| f.1).unwrap().0.clone();
    let res = app
        .api_get(&pm, &format!("/api/v1/network?feeder={busiest}"))
        .await;
    assert_eq!(res.status(), 200, "{}", t.name);
    let view: Value = res.json().await.unwrap();
    let transformers = view["feeder"]["children"].as_array().unwrap();
    let with_service_points: Vec<Value> = transformers
        .iter()
        .filter(|x| x["servicePoints"].as_i64() > Some(0))
        .cloned()
        .collect();
    assert_eq!(
        shown(&with_service_points),
        expected("transformer", Some(busiest)).await,
        "{}",
        t.name
    );
    drop(app);
    t.cleanup().await;
}
