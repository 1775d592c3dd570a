//! Event operations end to end, through the console as people use it: the operator plans
//! and submits, the approver approves (never their own), the simulated clock runs the event
//! through the head-end simulator, outcomes reach the program side, and the auditor reads
//! the trail. Every backend.

mod common;

use chrono::{DateTime, Duration, DurationRound, Utc};
use common::*;
use gridflex::audit_digest::{verify_digests, DigestCheck};
use gridflex::integration::peer::Peers;
use gridflex::integration::worker::{DeliveryWorker, RetryPolicy};
use gridflex::with_db;

/// A time as the console's form takes it: local wall time in the utility's zone.
async fn scalar_i64(t: &TestDb, sql: &str, id: i64) -> i64 {
    scalar(&t.db, sql, &[Arg::from(id)]).await
}

async fn status_of(t: &TestDb, id: i64) -> String {
    scalar::<String>(
        &t.db,
        "SELECT status FROM events WHERE id = $1",
        &[Arg::from(id)],
    )
    .await
}

async fn strategy_id(t: &TestDb, name: &str) -> i64 {
    scalar::<i64>(
        &t.db,
        "SELECT id FROM strategies WHERE name = $1",
        &[Arg::from(name)],
    )
    .await
}

async fn act(app: &TestApp, c: &reqwest::Client, id: i64, action: &str, reason: &str) -> String {
    let page = format!("/events/{id}");
    let res = app
        .post_form(
            c,
            &page,
            "/fn/event_action",
            &[
                ("id", &id.to_string()),
                ("action", action),
                ("reason", reason),
            ],
        )
        .await;
    assert_eq!(res.status(), 302, "{action}");
    // The flash message is on the next page view.
    app.page(c, &page).await.1
}

/// HTML without its comments (the renderer's markers), to see which element comes first.
fn without_comments(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find("<!--") {
        out.push_str(&rest[..at]);
        rest = rest[at..]
            .find("-->")
            .map_or("", |end| &rest[at + end + 3..]);
    }
    out.push_str(rest);
    out
}

fn worker(t: &TestDb, app: &TestApp) -> DeliveryWorker {
    DeliveryWorker::new(
        t.db.clone(),
        Peers::in_process(&t.db, cal(), inbound_handlers()),
        app.clock.clone(),
        RetryPolicy::default(),
        1,
    )
}

async fn deliver_all(w: &DeliveryWorker) {
    for _ in 0..50 {
        let r = w.tick().await.expect("delivery");
        if r.claimed == 0 {
            return;
        }
    }
}

each_backend!(an_event_is_planned_approved_run_and_completed_with_outcomes);
async fn an_event_is_planned_approved_run_and_completed_with_outcomes(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let now = app.events.now();
    let start = now.duration_trunc(Duration::minutes(15)).unwrap() + Duration::hours(1);
    let strategy = strategy_id(&t, "System emergency").await;

    let op = app.browser();
    app.login(&op, "operator", PASSWORD).await;
    let (status, html) = app.page(&op, "/strategies").await;
    assert_eq!(status, 200);
    assert!(html.contains("Northgate heat wave"), "{}", t.name);
    let id = app
        .create_event_in_console(&op, strategy, "Hot afternoon", start, 3)
        .await;
    assert_eq!(status_of(&t, id).await, "New");

    let html = act(&app, &op, id, "plan", "").await;
    let stages = scalar_i64(
        &t,
        "SELECT COUNT(*) FROM event_stages WHERE event_id = $1",
        id,
    )
    .await;
    let devices = scalar_i64(
        &t,
        "SELECT COUNT(*) FROM event_stage_devices WHERE event_id = $1",
        id,
    )
    .await;
    assert!(
        stages >= 1 && devices >= 1,
        "{}: {stages} stages, {devices} devices",
        t.name
    );
    assert!(
        html.contains("id=\"event-chart\"") && html.contains("<svg"),
        "{}: chart",
        t.name
    );
    assert!(html.contains("Before (baseline)"), "{}", t.name);
    // The plan's one audit entry carries the count and digest of the planned devices.
    let digested: String = scalar(
        &t.db,
        "SELECT a.after_json FROM audit_log a JOIN audit_digests d ON d.audit_id = a.id
         JOIN events e ON e.code = a.entity_id WHERE a.action = 'event.plan' AND e.id = $1",
        &[Arg::from(id)],
    )
    .await;
    let digested: serde_json::Value = serde_json::from_str(&digested).unwrap();
    assert_eq!(
        digested["digest"]["rows"].as_i64(),
        Some(devices),
        "{}",
        t.name
    );
    assert!(
        matches!(
            verify_digests(&t.db).await.unwrap(),
            DigestCheck::Intact { .. }
        ),
        "{}",
        t.name
    );

    act(&app, &op, id, "submit", "").await;
    assert_eq!(status_of(&t, id).await, "Submitted");
    // The operator has no approve button, and posting the action anyway is refused.
    let html = act(&app, &op, id, "approve", "").await;
    assert!(
        html.contains("may not approve"),
        "{}: operator refused",
        t.name
    );
    assert_eq!(status_of(&t, id).await, "Submitted");

    let ap = app.browser();
    app.login(&ap, "approver", PASSWORD).await;
    let (_, page) = app.page(&ap, &format!("/events/{id}")).await;
    assert!(
        page.contains("id=\"event-approve\""),
        "{}: approve button",
        t.name
    );
    act(&app, &ap, id, "approve", "").await;
    // Approval schedules at once: stage program events and reservations are queued.
    assert_eq!(status_of(&t, id).await, "Scheduled", "{}", t.name);
    let reservations = scalar_i64(
        &t,
        "SELECT COUNT(*) FROM integration_messages m JOIN events e ON e.code = m.correlation_id
         WHERE e.id = $1 AND m.flow = 'device_reservation'",
        id,
    )
    .await;
    assert!(reservations >= 1, "{}", t.name);
    let w = worker(&t, &app);
    deliver_all(&w).await;
    let reserved = scalar_i64(
        &t,
        "SELECT COUNT(*) FROM program_event_devices d JOIN program_events p ON p.external_id = d.external_id
         JOIN events e ON e.code = p.event_external_id WHERE e.id = $1",
        id,
    )
    .await;
    assert_eq!(
        reserved, devices,
        "{}: the program side holds every reservation",
        t.name
    );

    // While the event is live only its figures refresh: no meta refresh that would wipe a
    // reason being typed, the script from our own origin, and a link for JavaScript off.
    let (_, live) = app.page(&ap, &format!("/events/{id}")).await;
    assert!(
        !live.contains("http-equiv=\"refresh\""),
        "{}: no meta refresh",
        t.name
    );
    assert!(
        live.contains("id=\"live-figures\" data-refresh-secs=\"15\"")
            && live.contains("src=\"/style/live.js\"")
            && live.contains("id=\"refresh-figures\""),
        "{}: live figures",
        t.name
    );
    // The cancel form sits outside the block that is swapped.
    let figures = live.split("id=\"live-figures\"").nth(1).unwrap_or("");
    let figures = figures.split("id=\"timeline\"").next().unwrap_or("");
    assert!(
        !figures.contains("name=\"reason\""),
        "{}: no form in the figures",
        t.name
    );
    let script = ap
        .get(format!("{}/style/live.js", app.base))
        .send()
        .await
        .expect("script");
    assert_eq!(script.status(), 200);
    let csp = script
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{}: {csp}", t.name);
    assert!(script
        .text()
        .await
        .unwrap_or_default()
        .contains("data-live-src"));
    // The script fetches the figures alone: no document, navigation or form around them,
    // never cached, behind the same role check as the page.
    let fragment_path = format!("/events/{id}/live");
    assert!(
        live.contains(&format!("data-live-src=\"{fragment_path}\"")),
        "{}: the page names its fragment",
        t.name
    );
    let res = ap
        .get(app.url(&fragment_path))
        .header("accept", "text/html")
        .send()
        .await
        .expect("fragment");
    assert_eq!(res.status(), 200, "{}", t.name);
    assert_eq!(
        res.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "{}",
        t.name
    );
    let fragment = without_comments(&res.text().await.expect("body"));
    assert!(
        fragment
            .trim_start()
            .starts_with("<div id=\"live-figures\" data-refresh-secs=\"15\"")
            && fragment.contains("id=\"figures-as-of\"")
            && fragment.contains("id=\"event-chart\""),
        "{}: the figures alone: {}",
        t.name,
        fragment.chars().take(300).collect::<String>()
    );
    for absent in [
        "<html",
        "<nav",
        "<header",
        "name=\"reason\"",
        "id=\"timeline\"",
    ] {
        assert!(
            !fragment.contains(absent),
            "{}: the fragment holds no {absent}",
            t.name
        );
    }
    let (status, body) = app.page(&app.browser(), &fragment_path).await;
    assert_eq!(status, 401, "{}: signed out", t.name);
    assert!(!body.contains("live-figures"), "{}", t.name);
    let manager = app.browser();
    app.login(&manager, "manager", PASSWORD).await;
    let (status, body) = app.page(&manager, &fragment_path).await;
    assert_eq!(
        status, 403,
        "{}: a program manager may not open events",
        t.name
    );
    assert!(!body.contains("live-figures"), "{}", t.name);
    let (status, _) = app.page(&ap, "/events/0/live").await;
    assert_eq!(status, 404, "{}: no such event", t.name);
    let (status, _) = app.page(&ap, "/events/99999/live").await;
    assert_eq!(status, 404, "{}: an unknown event", t.name);

    // The admin moves the simulated clock past the event; the scheduler runs it.
    let admin = app.browser();
    app.login(&admin, "admin", PASSWORD).await;
    let res = app
        .post_form(
            &admin,
            "/events",
            "/fn/advance_clock",
            &[("minutes", "300")],
        )
        .await;
    assert_eq!(res.status(), 302);
    let loc = res.headers()["location"].to_str().unwrap_or("").to_string();
    app.events
        .tick()
        .await
        .expect("the scheduler steps cleanly");
    assert_eq!(status_of(&t, id).await, "Completed", "{}: {loc}", t.name);
    let pending = scalar_i64(
        &t,
        "SELECT COUNT(*) FROM event_stage_devices WHERE event_id = $1 AND outcome IS NULL",
        id,
    )
    .await;
    assert_eq!(pending, 0, "{}: every device has an outcome", t.name);
    let actual = scalar_i64(
        &t,
        "SELECT COUNT(*) FROM event_intervals WHERE event_id = $1 AND actual_kw IS NOT NULL",
        id,
    )
    .await;
    assert!(actual >= 12, "{}: actual load recorded ({actual})", t.name);
    deliver_all(&w).await;
    let with_outcome = scalar_i64(
        &t,
        "SELECT COUNT(*) FROM program_event_devices d JOIN program_events p ON p.external_id = d.external_id
         JOIN events e ON e.code = p.event_external_id WHERE e.id = $1 AND d.outcome IS NOT NULL",
        id,
    )
    .await;
    assert_eq!(
        with_outcome, devices,
        "{}: outcomes reached the program side",
        t.name
    );
    let complete = scalar_i64(
        &t,
        "SELECT COUNT(*) FROM program_events p JOIN events e ON e.code = p.event_external_id
         WHERE e.id = $1 AND p.status <> 'F1CO'",
        id,
    )
    .await;
    assert_eq!(complete, 0, "{}: every program event is complete", t.name);

    // The daily score run counts the participation: a device that took part costs more.
    let (he, nic): (String, String) = with_db!(&t.db, |c| {
        sqlx::query_as(
        "SELECT g.head_end, g.nic_id FROM event_stage_devices d JOIN grid_devices g ON g.id = d.grid_device_id
         WHERE d.event_id = $1 AND d.outcome = 'D1SP' ORDER BY d.id LIMIT 1"
    )
    .bind(id)
    .fetch_one(c)
    .await
    .unwrap()
    });
    let score = |t: &TestDb, he: String, nic: String| {
        let db = t.db.clone();
        async move {
            scalar::<f64>(
                &db,
                "SELECT control_score FROM devices WHERE head_end = $1 AND nic_id = $2",
                &[Arg::from(he), Arg::from(nic)],
            )
            .await
        }
    };
    // Scored on the event's day: its cycle is the one the participation counts in.
    let later = app.events.now();

    let rescore = || {
        gridflex::programs::score::run_scores(
            &t.db,
            cal(),
            "test",
            cal().local_date(start),
            later,
            false,
        )
    };
    rescore().await.unwrap();
    let with_history = score(&t, he.clone(), nic.clone()).await;
    with_db!(&t.db, |c| sqlx::query(
        "UPDATE program_event_devices SET outcome = 'D1ND' WHERE head_end = $1 AND nic_id = $2"
    )
    .bind(&he)
    .bind(&nic)
    .execute(c)
    .await
    .map(|_| ())
    .unwrap());
    rescore().await.unwrap();
    let without = score(&t, he, nic).await;
    assert!(
        with_history > without,
        "{}: {with_history} > {without}",
        t.name
    );

    // The auditor reads the whole trail on the event page.
    let au = app.browser();
    app.login(&au, "auditor", PASSWORD).await;
    let (status, html) = app.page(&au, &format!("/events/{id}")).await;
    assert_eq!(status, 200);
    for action in [
        "event.create",
        "event.plan",
        "event.submit",
        "event.approve",
        "event.schedule",
        "event.start",
        "event.complete",
    ] {
        assert!(html.contains(action), "{}: timeline shows {action}", t.name);
    }
    assert!(
        !html.contains("id=\"event-cancel\""),
        "{}: auditor has no actions",
        t.name
    );
    assert!(html.contains("D1SP"), "{}: outcome summary", t.name);
    // The timeline reads in words: actions, fields and plan keys, not raw JSON; and it links
    // to the event's audit trail.
    assert!(
        html.contains("Event approved") && html.contains("Event planned"),
        "{}: actions in words",
        t.name
    );
    let timeline = html.split("id=\"timeline\"").nth(1).unwrap_or("");
    let timeline = timeline.split("</section>").next().unwrap_or("");
    assert!(
        timeline.contains("Max shortfall kW")
            && !timeline.contains("maxShortfallKw")
            && !timeline.contains("{&quot;"),
        "{}: the timeline in words, no raw JSON: {timeline}",
        t.name
    );
    assert!(
        html.contains("id=\"event-audit-link\"") && html.contains("/audit?entity_type=event"),
        "{}: link to the audit trail",
        t.name
    );
    // The audit page filters by entity, action and time, and exports what it shows.
    let code: String = scalar::<String>(
        &t.db,
        "SELECT code FROM events WHERE id = $1",
        &[Arg::from(id)],
    )
    .await;
    // Audit rows carry the wall-clock time they were written: a window around today
    // (the event itself may start after midnight).
    let today = cal().local_date(chrono::Utc::now());
    let (from, to) = (today - Duration::days(1), today + Duration::days(1));
    let (status, html) = app
        .page(
            &au,
            &format!("/audit?entity_type=event&entity_id={code}&from={from}&to={to}"),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        html.contains("event.approve") && html.contains("id=\"audit-csv\""),
        "{}",
        t.name
    );
    // The filters match codes and names whatever their case.
    let (status, html) = app
        .page(
            &au,
            &format!(
                "/audit?entity_type=EVENT&entity_id={}&action=Event.Approve&actor=APPROVER",
                code.to_lowercase()
            ),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Event approved") && html.contains("event.approve"),
        "{}: case-insensitive filter finds the approval",
        t.name
    );
    assert!(
        !html.contains("event.plan"),
        "{}: only the approval",
        t.name
    );
    let csv = au
        .get(app.url(&format!(
            "/audit.csv?entity_type=event&entity_id={code}&action=event.cancel"
        )))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        csv.lines().count(),
        1,
        "{}: header only, no cancel: {csv}",
        t.name
    );
    let res = au
        .get(app.url(&format!("/audit.csv?entity_type=event&entity_id={code}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let csv = res.text().await.unwrap();
    assert!(csv.starts_with("id,occurred_at,actor,action"), "{csv}");
    assert!(
        csv.contains("event.complete") && csv.contains("event.submit"),
        "{}",
        t.name
    );
    let tomorrow = today + chrono::Duration::days(2);
    let none = au
        .get(app.url(&format!("/audit.csv?entity_id={code}&from={tomorrow}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        none.lines().count(),
        1,
        "{}: nothing after the event",
        t.name
    );
    let bad = au
        .get(app.url("/audit.csv?from=yesterday"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let refused = op.get(app.url("/audit.csv")).send().await.unwrap();
    assert_eq!(
        refused.status(),
        403,
        "{}: operators do not read the audit trail",
        t.name
    );
    // Running the event (statuses, outcomes) changed nothing the plan's digest covers.
    assert!(
        matches!(
            verify_digests(&t.db).await.unwrap(),
            DigestCheck::Intact { .. }
        ),
        "{}",
        t.name
    );
}

each_backend!(an_event_is_cancelled_with_a_reason_and_bad_input_is_refused);
async fn an_event_is_cancelled_with_a_reason_and_bad_input_is_refused(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let now = app.events.now();
    let start = now.duration_trunc(Duration::minutes(15)).unwrap() + Duration::hours(2);
    let strategy = strategy_id(&t, "Northgate heat wave").await;
    let op = app.browser();
    app.login(&op, "operator", PASSWORD).await;

    // A window that ends before it starts: a clear error, no event.
    let before = scalar_i64(&t, "SELECT COUNT(*) FROM events WHERE id > $1", 0).await;
    app.post_event_form(
        &op,
        strategy,
        "backwards",
        &form_time(start),
        &form_time(start - Duration::hours(1)),
    )
    .await;
    let (_, html) = app.page(&op, "/events").await;
    assert!(html.contains("must end after it starts"), "{}", t.name);
    assert_eq!(
        scalar_i64(&t, "SELECT COUNT(*) FROM events WHERE id > $1", 0).await,
        before
    );

    // A target that is not a number: the strategy form says which field.
    let res = app
        .post_form(
            &op,
            "/strategies",
            "/fn/save_strategy",
            &[
                ("strategy[name]", "Bad target"),
                ("strategy[zone]", "SUB-NORTH"),
                ("strategy[programs]", "SMT-BYOD"),
                ("strategy[event_type]", "Economic"),
                ("strategy[objective]", "MaxDemandThreshold"),
                ("strategy[target_mw]", "lots"),
                ("strategy[control_level]", "full"),
            ],
        )
        .await;
    assert_eq!(res.status(), 302);
    let (_, html) = app.page(&op, "/strategies").await;
    assert!(
        html.contains("target MW: `lots` is not a number"),
        "{}",
        t.name
    );
    assert!(!html.contains(">Bad target<"), "{}", t.name);

    let id = app
        .create_event_in_console(&op, strategy, "Hot afternoon", start, 2)
        .await;
    act(&app, &op, id, "plan", "").await;
    // Cancelling without a reason is refused; the event is unchanged.
    let html = act(&app, &op, id, "cancel", "").await;
    assert!(html.contains("a reason is required"), "{}", t.name);
    assert_eq!(status_of(&t, id).await, "New");
    act(&app, &op, id, "cancel", "Cooler weather than forecast").await;
    assert_eq!(status_of(&t, id).await, "Canceled");
    let reason: Option<String> = scalar(
        &t.db,
        "SELECT decision_reason FROM events WHERE id = $1",
        &[Arg::from(id)],
    )
    .await;
    assert_eq!(reason.as_deref(), Some("Cooler weather than forecast"));
    // A cancelled event cannot be submitted.
    let html = act(&app, &op, id, "submit", "").await;
    assert!(html.contains("is Canceled"), "{}", t.name);
    let audit = scalar_i64(
        &t,
        "SELECT COUNT(*) FROM audit_log a JOIN events e ON e.code = a.entity_id WHERE e.id = $1 AND a.action = 'event.cancel'",
        id,
    )
    .await;
    assert_eq!(audit, 1, "{}", t.name);
}

each_backend!(the_rest_api_runs_the_lifecycle_with_the_same_role_rules);
async fn the_rest_api_runs_the_lifecycle_with_the_same_role_rules(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let c = reqwest::Client::new();
    let tok = |role: &'static str| {
        let db = t.db.clone();
        async move {
            gridflex::auth::create_token(&db, "test", &format!("{role}-client"), role)
                .await
                .expect("token")
        }
    };
    let (op, ap) = (tok("operator").await, tok("approver").await);
    let strategy = strategy_id(&t, "Riverside evening shave").await;
    let start = app
        .events
        .now()
        .duration_trunc(Duration::minutes(15))
        .unwrap()
        + Duration::hours(3);
    let post = |path: String, token: String, body: serde_json::Value| {
        let c = c.clone();
        let url = app.url(&path);
        async move {
            let res = c
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (
                status,
                res.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    // Bad input: a negative target and a window that ends before it starts.
    let (status, body) = post(
        "/api/v1/strategies".into(),
        op.clone(),
        serde_json::json!({"name": "neg", "zone": ["SUB-RIVER"], "programs": ["SMT-BYOD"], "eventType": "Economic",
            "objective": "LoadReduction", "targetMw": -2, "controlLevel": "full"}),
    )
    .await;
    assert_eq!(status, 400, "{}: {body}", t.name);
    assert!(
        body["detail"].as_str().unwrap().contains("target MW"),
        "{body}"
    );
    let (status, body) = post(
        "/api/v1/events".into(),
        op.clone(),
        serde_json::json!({"strategyId": strategy, "name": "x",
            "startsAt": start.to_rfc3339(), "endsAt": (start - Duration::hours(1)).to_rfc3339()}),
    )
    .await;
    assert_eq!(status, 400, "{}: {body}", t.name);
    // The form's conventions are refused with the field named (422 problem documents): a
    // number as text, a flag as "on", a list as text, a time without an offset, a
    // snake_case name.
    let strategy_body = serde_json::json!({"name": "typed", "zone": ["SUB-RIVER"], "programs": ["SMT-BYOD"],
        "eventType": "Economic", "objective": "LoadReduction", "targetMw": 2, "controlLevel": "full"});
    let event_body = serde_json::json!({"strategyId": strategy, "name": "x",
        "startsAt": start.to_rfc3339(), "endsAt": (start + Duration::hours(1)).to_rfc3339()});
    for (path, base, field, value) in [
        (
            "/api/v1/strategies",
            &strategy_body,
            "targetMw",
            serde_json::json!("2"),
        ),
        (
            "/api/v1/strategies",
            &strategy_body,
            "baCheck",
            serde_json::json!("on"),
        ),
        (
            "/api/v1/strategies",
            &strategy_body,
            "zone",
            serde_json::json!("SUB-RIVER"),
        ),
        (
            "/api/v1/strategies",
            &strategy_body,
            "control_level",
            serde_json::json!("full"),
        ),
        (
            "/api/v1/events",
            &event_body,
            "strategyId",
            serde_json::json!(strategy.to_string()),
        ),
        (
            "/api/v1/events",
            &event_body,
            "startsAt",
            serde_json::json!("tomorrow at three"),
        ),
        (
            "/api/v1/events",
            &event_body,
            "strategy_id",
            serde_json::json!(strategy),
        ),
    ] {
        let mut typed = base.clone();
        typed[field] = value;
        let (status, body) = post(path.into(), op.clone(), typed).await;
        assert_eq!(status, 422, "{}: {path} {field}: {body}", t.name);
        assert!(
            body["detail"].as_str().unwrap().contains(field),
            "{path} names {field}: {body}"
        );
    }
    // A time without an offset is a 400 naming the field (the API never guesses a zone).
    let mut naive = event_body.clone();
    naive["endsAt"] = serde_json::json!("2026-07-01T15:00");
    let (status, body) = post("/api/v1/events".into(), op.clone(), naive).await;
    assert_eq!(status, 400, "{}: {body}", t.name);
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("endsAt") && detail.contains("no UTC offset"),
        "{body}"
    );
    // A strategy in the API's shape reads back the same way.
    let (status, body) = post(
        "/api/v1/strategies".into(),
        op.clone(),
        strategy_body.clone(),
    )
    .await;
    assert_eq!(status, 200, "{}: {body}", t.name);
    let typed: serde_json::Value = c
        .get(app.url(&format!("/api/v1/strategies/{}", body["id"])))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(typed["zone"], serde_json::json!(["SUB-RIVER"]), "{typed}");
    assert_eq!(typed["targetMw"], 2.0, "{typed}");
    assert_eq!(typed["baCheck"], false, "{typed}");

    let (status, body) = post(
        "/api/v1/events".into(),
        op.clone(),
        serde_json::json!({"strategyId": strategy, "name": "API event",
            "startsAt": start.to_rfc3339(), "endsAt": (start + Duration::hours(2)).to_rfc3339()}),
    )
    .await;
    assert_eq!(status, 200, "{}: {body}", t.name);
    let id = body["id"].as_i64().unwrap();
    let (status, _) = post(
        format!("/api/v1/events/{id}/submit"),
        op.clone(),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 400, "{}: no stages yet", t.name);
    let (status, body) = post(
        format!("/api/v1/events/{id}/plan"),
        op.clone(),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 200, "{}: {body}", t.name);
    let (status, _) = post(
        format!("/api/v1/events/{id}/submit"),
        op.clone(),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 200, "{}", t.name);
    let (status, _) = post(
        format!("/api/v1/events/{id}/approve"),
        op.clone(),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 403, "{}: the operator may not approve", t.name);
    let (status, body) = post(
        format!("/api/v1/events/{id}/deny"),
        ap.clone(),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 400, "{}: denying needs a reason: {body}", t.name);
    let (status, _) = post(
        format!("/api/v1/events/{id}/approve"),
        ap.clone(),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 200, "{}", t.name);
    let (status, _) = post(
        format!("/api/v1/events/{id}/approve"),
        ap.clone(),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 409, "{}: approving twice is a conflict", t.name);
    let detail: serde_json::Value = c
        .get(app.url(&format!("/api/v1/events/{id}")))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["summary"]["status"], "Scheduled", "{}", t.name);
    assert!(detail["stages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["status"] == "scheduled"));
    let (status, _) = post(
        format!("/api/v1/events/{id}/cancel"),
        op.clone(),
        serde_json::json!({"reason": "Feeder work moved"}),
    )
    .await;
    assert_eq!(status, 200, "{}", t.name);
    // Cancelling a scheduled event tells the program side every stage is cancelled.
    let cancels = scalar_i64(
        &t,
        "SELECT COUNT(*) FROM integration_messages m JOIN events e ON e.code = m.correlation_id
         WHERE e.id = $1 AND m.flow = 'stage_status' AND m.payload LIKE '%F1CN%'",
        id,
    )
    .await;
    assert!(cancels >= 1, "{}", t.name);
}

each_backend!(
    an_opt_out_before_the_cutoff_releases_the_reservation_and_lowers_the_expected_reduction
);
async fn an_opt_out_before_the_cutoff_releases_the_reservation_and_lowers_the_expected_reduction(
    t: TestDb,
) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let start = app
        .events
        .now()
        .duration_trunc(Duration::minutes(15))
        .unwrap()
        + Duration::hours(4);
    let strategy = strategy_id(&t, "System emergency").await;
    let op = app.browser();
    app.login(&op, "operator", PASSWORD).await;
    let id = app
        .create_event_in_console(&op, strategy, "Hot afternoon", start, 2)
        .await;
    act(&app, &op, id, "plan", "").await;
    act(&app, &op, id, "submit", "").await;
    let ap = app.browser();
    app.login(&ap, "approver", PASSWORD).await;
    act(&app, &ap, id, "approve", "").await;
    assert_eq!(status_of(&t, id).await, "Scheduled");
    deliver_all(&worker(&t, &app)).await;

    // A reserved device of a program that allows opting out (60 minutes' cut-off).
    let (device, stage, kw): (i64, String, f64) = with_db!(&t.db, |c| {
        sqlx::query_as(
        "SELECT dv.id, r.external_id, r.expected_kw FROM program_event_devices r
         JOIN program_events p ON p.external_id = r.external_id
         JOIN devices dv ON dv.head_end = r.head_end AND dv.nic_id = r.nic_id
         JOIN events e ON e.code = p.event_external_id
         WHERE e.id = $1 AND p.program_code = 'SMT-BYOD' AND r.expected_kw > 0 ORDER BY r.id LIMIT 1"
    )
    .bind(id)
    .fetch_one(c)
    .await
    .expect("a reserved thermostat")
    });
    let planned_before: f64 = scalar(
        &t.db,
        "SELECT SUM(expected_kw) FROM event_stages WHERE event_id = $1",
        &[Arg::from(id)],
    )
    .await;
    let manager = gridflex::auth::create_token(&t.db, "test", "pm", "program_manager")
        .await
        .unwrap();
    let res = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/devices/{device}/opt-out")))
        .bearer_auth(&manager)
        .json(&serde_json::json!({"stage": stage}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "{}: {}",
        t.name,
        res.text().await.unwrap()
    );
    deliver_all(&worker(&t, &app)).await;
    let planned_after: f64 = scalar(
        &t.db,
        "SELECT SUM(expected_kw) FROM event_stages WHERE event_id = $1",
        &[Arg::from(id)],
    )
    .await;
    assert!(
        (planned_before - planned_after - kw).abs() < 0.01,
        "{}: {planned_before} - {planned_after} should be {kw}",
        t.name
    );
    let opted = scalar_i64(
        &t,
        "SELECT COUNT(*) FROM event_stage_devices WHERE event_id = $1 AND status = 'opted_out'",
        id,
    )
    .await;
    assert_eq!(opted, 1, "{}", t.name);
    // The operator sees it on the event's timeline.
    let (_, html) = app.page(&op, &format!("/events/{id}")).await;
    assert!(html.contains("event.opt_out"), "{}", t.name);
}

async fn api_post(
    app: &TestApp,
    token: &str,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let res = reqwest::Client::new()
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

/// Creates, plans and submits an event through the API; returns its id.
async fn submitted_event(app: &TestApp, op: &str, strategy: i64, start: DateTime<Utc>) -> i64 {
    let (status, body) = api_post(
        app,
        op,
        "/api/v1/events",
        serde_json::json!({"strategyId": strategy, "name": "e",
            "startsAt": start.to_rfc3339(), "endsAt": (start + Duration::hours(2)).to_rfc3339()}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_i64().unwrap();
    assert_eq!(
        api_post(
            app,
            op,
            &format!("/api/v1/events/{id}/plan"),
            serde_json::json!({})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api_post(
            app,
            op,
            &format!("/api/v1/events/{id}/submit"),
            serde_json::json!({})
        )
        .await
        .0,
        200
    );
    id
}

each_backend!(over_the_balancing_threshold_two_approvers_are_needed_and_priority_wins_conflicts);
async fn over_the_balancing_threshold_two_approvers_are_needed_and_priority_wins_conflicts(
    t: TestDb,
) {
    with_demo(&t).await;
    // The demo sizes Northgate's ceiling to its afternoon peak; this test's events run at
    // night and must shed, so the ceiling goes under any load.
    with_db!(&t.db, |p| sqlx::query(
        "UPDATE strategies SET target_mw = 1.0 WHERE name = 'Northgate heat wave'"
    )
    .execute(p)
    .await
    .unwrap()
    .rows_affected());
    let grid = gridflex::grid::console::GridSettings {
        ba_threshold_kw: 1.0,
        ..Default::default()
    };
    let app = spawn_app_with(&t, grid).await;
    gridflex::auth::create_user(
        &t.db,
        "setup",
        "approver2",
        "Second Approver",
        "approver",
        "a-long-password-2",
    )
    .await
    .unwrap();
    let tok = |name: &'static str, role: &'static str| {
        let db = t.db.clone();
        async move {
            gridflex::auth::create_token(&db, "test", name, role)
                .await
                .unwrap()
        }
    };
    let op = tok("op", "operator").await;
    let ap1 = tok("ap1", "approver").await;
    let start = app
        .events
        .now()
        .duration_trunc(Duration::minutes(15))
        .unwrap()
        + Duration::hours(2);

    // Lower priority (Reliability) first: over the threshold, so two approvals.
    let low = submitted_event(
        &app,
        &op,
        strategy_id(&t, "Northgate heat wave").await,
        start,
    )
    .await;
    let second: bool = scalar(
        &t.db,
        "SELECT second_approval_required FROM events WHERE id = $1",
        &[Arg::from(low)],
    )
    .await;
    assert!(second, "{}", t.name);
    assert_eq!(
        api_post(
            &app,
            &ap1,
            &format!("/api/v1/events/{low}/approve"),
            serde_json::json!({})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        status_of(&t, low).await,
        "Submitted",
        "{}: one approval is not enough",
        t.name
    );
    let (status, body) = api_post(
        &app,
        &ap1,
        &format!("/api/v1/events/{low}/approve"),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 403, "{}: the same approver twice: {body}", t.name);
    // A second approver, signed in through the console.
    let c = app.browser();
    app.login(&c, "approver2", "a-long-password-2").await;
    act(&app, &c, low, "approve", "").await;
    assert_eq!(status_of(&t, low).await, "Scheduled", "{}", t.name);

    // A higher-priority (Emergency) event over the same devices and window: approving it
    // cancels the lower one, with the reason recorded.
    let high = submitted_event(&app, &op, strategy_id(&t, "System emergency").await, start).await;
    act(&app, &c, high, "approve", "").await;
    let ap2 = tok("ap2", "approver").await;
    let _ = api_post(
        &app,
        &ap2,
        &format!("/api/v1/events/{high}/approve"),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status_of(&t, high).await, "Scheduled", "{}", t.name);
    assert_eq!(status_of(&t, low).await, "Canceled", "{}", t.name);
    let reason: Option<String> = scalar(
        &t.db,
        "SELECT decision_reason FROM events WHERE id = $1",
        &[Arg::from(low)],
    )
    .await;
    assert!(
        reason
            .as_deref()
            .unwrap_or("")
            .contains("superseded by higher-priority event"),
        "{}: {reason:?}",
        t.name
    );

    // A lower-priority event that conflicts with the scheduled emergency cannot be approved.
    let later = submitted_event(
        &app,
        &op,
        strategy_id(&t, "Northgate heat wave").await,
        start,
    )
    .await;
    let (status, body) = api_post(
        &app,
        &ap1,
        &format!("/api/v1/events/{later}/approve"),
        serde_json::json!({}),
    )
    .await;
    assert!(status == 409 || status == 200, "{}: {body}", t.name);
    if status == 200 {
        // First of two approvals recorded; the second is refused for the conflict.
        let (status, body) = api_post(
            &app,
            &ap2,
            &format!("/api/v1/events/{later}/approve"),
            serde_json::json!({}),
        )
        .await;
        assert_eq!(status, 409, "{}: {body}", t.name);
        assert!(
            body["detail"].as_str().unwrap().contains("outranks"),
            "{body}"
        );
    }
    assert_eq!(status_of(&t, later).await, "Submitted", "{}", t.name);
}

each_backend!(a_feeder_zone_plans_only_that_feeders_devices);
async fn a_feeder_zone_plans_only_that_feeders_devices(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let op = gridflex::auth::create_token(&t.db, "test", "op", "operator")
        .await
        .unwrap();
    let (status, body) = api_post(
        &app,
        &op,
        "/api/v1/strategies",
        serde_json::json!({"name": "One feeder", "zone": ["FDR-N01"], "programs": ["SMT-BYOD", "EV-MANAGED", "BATT-VPP", "WH-CONTROL"],
            "eventType": "Economic", "objective": "MaximumReduction", "controlLevel": "full"}),
    )
    .await;
    assert_eq!(status, 200, "{}: {body}", t.name);
    let strategy = body["id"].as_i64().unwrap();
    let start = app
        .events
        .now()
        .duration_trunc(Duration::minutes(15))
        .unwrap()
        + Duration::hours(2);
    let id = submitted_event(&app, &op, strategy, start).await;
    let (inside, outside): (i64, i64) = with_db!(&t.db, |c| sqlx::query_as(
        "SELECT
            SUM(CASE WHEN f.code = 'FDR-N01' THEN 1 ELSE 0 END),
            SUM(CASE WHEN f.code = 'FDR-N01' THEN 0 ELSE 1 END)
         FROM event_stage_devices d JOIN grid_devices g ON g.id = d.grid_device_id
         JOIN network_edges e ON e.child_id = g.transformer_id AND e.valid_to IS NULL
         JOIN network_nodes f ON f.id = e.parent_id
         WHERE d.event_id = $1"
    )
    .bind(id)
    .fetch_one(c)
    .await
    .unwrap());
    assert!(inside > 0, "{}: the feeder's devices are planned", t.name);
    assert_eq!(outside, 0, "{}: nothing from other feeders", t.name);

    // A planned device's expected kW changed with SQL afterwards is named by the audit check.
    assert!(
        matches!(
            verify_digests(&t.db).await.unwrap(),
            DigestCheck::Intact { .. }
        ),
        "{}",
        t.name
    );
    let (row, device, stage): (i64, i64, String) = with_db!(&t.db, |c| sqlx::query_as(
        "SELECT d.id, d.grid_device_id, s.external_id FROM event_stage_devices d
         JOIN event_stages s ON s.id = d.stage_id WHERE d.event_id = $1
         ORDER BY s.seq DESC, d.grid_device_id DESC LIMIT 1"
    )
    .bind(id)
    .fetch_one(c)
    .await
    .unwrap());
    with_db!(&t.db, |c| sqlx::query(
        "UPDATE event_stage_devices SET expected_kw = expected_kw * 2 WHERE id = $1"
    )
    .bind(row)
    .execute(c)
    .await
    .unwrap()
    .rows_affected());
    match verify_digests(&t.db).await.unwrap() {
        DigestCheck::Differs { reason, .. } => assert!(
            reason.contains(&format!("stage {stage} device {device} ")),
            "{}: {reason}",
            t.name
        ),
        other => panic!("{}: the change goes unnoticed: {other:?}", t.name),
    }
}

each_backend!(a_stored_strategy_or_rule_that_cannot_be_read_stops_planning_and_names_it);
async fn a_stored_strategy_or_rule_that_cannot_be_read_stops_planning_and_names_it(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let now = app.events.now();
    let start = now.duration_trunc(Duration::minutes(15)).unwrap() + Duration::hours(2);
    let strategy = strategy_id(&t, "Northgate heat wave").await;
    let op = app.browser();
    app.login(&op, "operator", PASSWORD).await;
    let id = app
        .create_event_in_console(&op, strategy, "Hot afternoon", start, 2)
        .await;
    let stages = |t: &TestDb| {
        let db = t.db.clone();
        async move {
            scalar::<i64>(
                &db,
                "SELECT COUNT(*) FROM event_stages WHERE event_id = $1",
                &[Arg::from(id)],
            )
            .await
        }
    };

    // Device groups that cannot be read: planning stops (it used to plan with every device).
    gridflex::with_db!(&t.db, |c| sqlx::query(
        "UPDATE events SET device_groups = 'not json' WHERE id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .unwrap()
    .rows_affected());
    let html = act(&app, &op, id, "plan", "").await;
    assert!(
        html.contains("device groups cannot be read"),
        "{}: the error names what cannot be read",
        t.name
    );
    assert_eq!(stages(&t).await, 0, "{}: nothing planned", t.name);

    // A program rule in force that cannot be read: planning stops (it used to be skipped).
    gridflex::with_db!(&t.db, |c| sqlx::query(
        "UPDATE events SET device_groups = '{\"deviceTypes\":[],\"feederIds\":[]}' WHERE id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .unwrap()
    .rows_affected());
    let program: String = scalar(
        &t.db,
        "SELECT program_codes FROM events WHERE id = $1",
        &[Arg::from(id)],
    )
    .await;
    let program: Vec<String> = serde_json::from_str(&program).unwrap();
    let changed = gridflex::with_db!(&t.db, |c| sqlx::query(
        "UPDATE grid_program_rules SET rule_json = '{broken' WHERE program_code = $1"
    )
    .bind(&program[0])
    .execute(c)
    .await
    .unwrap()
    .rows_affected());
    assert!(
        changed > 0,
        "{}: the demo syncs a rule for {}",
        t.name,
        program[0]
    );
    let html = act(&app, &op, id, "plan", "").await;
    assert!(
        html.contains(&format!("program {}", program[0])) && html.contains("cannot be read"),
        "{}: the error names the program's rule",
        t.name
    );
    assert_eq!(stages(&t).await, 0, "{}: nothing planned", t.name);
    drop(app);
    t.cleanup().await;
}
