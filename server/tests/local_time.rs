//! The console speaks the utility's local time (America/Chicago by default): times are shown
//! with the zone's abbreviation, typed times are local, a time the clocks skip or pass twice
//! is refused naming the choices, and the REST API reads any offset and answers in UTC (`Z`).
//! Every backend.

mod common;

use chrono::{DateTime, TimeZone, Utc};
use common::*;
use gridflex::db::Arg;

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

async fn a_strategy(t: &TestDb) -> i64 {
    t.scalar(
        "SELECT MIN(id) FROM strategies WHERE archived_at IS NULL",
        &[],
    )
    .await
}

async fn token(t: &TestDb, role: &str) -> String {
    gridflex::auth::create_token(&t.db, "test", &format!("{role}-local-client"), role)
        .await
        .expect("token")
}

/// Posts the new-event form; the page it lands on (the event, or the list with the error).
async fn create_event(
    app: &TestApp,
    c: &reqwest::Client,
    strategy: i64,
    name: &str,
    starts: &str,
    ends: &str,
) -> (String, String) {
    let res = app.post_event_form(c, strategy, name, starts, ends).await;
    let to = res.headers()["location"].to_str().unwrap().to_string();
    let (status, html) = app.page(c, &to).await;
    assert_eq!(status, 200, "{to}");
    (to, html)
}

fn event_id(location: &str) -> i64 {
    location
        .trim_start_matches("/events/")
        .parse()
        .unwrap_or_else(|_| panic!("redirect to the new event, got {location}"))
}

async fn rest_event(app: &TestApp, token: &str, id: i64) -> serde_json::Value {
    reqwest::Client::new()
        .get(app.url(&format!("/api/v1/events/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

each_backend!(the_console_shows_and_takes_local_time_with_the_zones_abbreviation);
async fn the_console_shows_and_takes_local_time_with_the_zones_abbreviation(t: TestDb) {
    // Monday 2026-07-13, 10:00 CDT.
    let now = utc(2026, 7, 13, 15, 0);
    with_demo_at(&t, now).await;
    let app = spawn_app_at(&t, clock_at(now)).await;
    let strategy = a_strategy(&t).await;
    let op = app.browser();
    app.login(&op, "operator", PASSWORD).await;
    let token = token(&t, "operator").await;

    // The form's prefilled window is local too: about an hour from the wall clock's now
    // (the console's prefill reads the real clock unless the server runs a simulated one).
    let (_, list) = app.page(&op, "/events").await;
    let field = list
        .find("name=\"event[starts_at]\"")
        .expect("the start field");
    let marker = "placeholder=\"YYYY-MM-DD HH:MM\" value=\"";
    let at = field + list[field..].find(marker).expect("its prefilled value") + marker.len();
    let prefilled = &list[at..at + list[at..].find('"').unwrap()];
    let read = gridflex::calendar::Calendar::default()
        .parse_input("starts at", prefilled)
        .expect("the prefill reads back");
    let ahead = read - Utc::now();
    assert!(
        ahead > chrono::Duration::zero() && ahead <= chrono::Duration::hours(2),
        "{}: the prefilled start `{prefilled}` is local",
        t.name
    );

    // Summer: 17:00–19:00 local is CDT, 22:00–00:00 UTC.
    let (to, html) = create_event(
        &app,
        &op,
        strategy,
        "Local time",
        "2026-07-14T17:00",
        "2026-07-14 19:00",
    )
    .await;
    let id = event_id(&to);
    assert!(
        html.contains("2026-07-14 17:00 CDT") && html.contains("2026-07-14 19:00 CDT"),
        "{}: the event page shows local time with the abbreviation",
        t.name
    );
    assert!(html.contains("Window (local)"), "{}", t.name);
    assert!(
        !html.contains(" UTC<"),
        "{}: no UTC time on the page",
        t.name
    );
    let stored: DateTime<Utc> = t
        .scalar(
            "SELECT starts_at FROM events WHERE id = $1",
            &[Arg::Int(id)],
        )
        .await;
    assert_eq!(stored, utc(2026, 7, 14, 22, 0), "{}", t.name);
    let detail = rest_event(&app, &token, id).await;
    assert_eq!(
        detail["summary"]["startsAt"], "2026-07-14T22:00:00Z",
        "{detail}"
    );
    assert_eq!(
        detail["summary"]["endsAt"], "2026-07-15T00:00:00Z",
        "{detail}"
    );

    // Winter: the same local hours are CST, 23:00–01:00 UTC.
    let (to, html) = create_event(
        &app,
        &op,
        strategy,
        "",
        "2026-12-15 17:00",
        "2026-12-15 19:00",
    )
    .await;
    let id = event_id(&to);
    assert!(
        html.contains("2026-12-15 17:00 CST"),
        "{}: winter shows CST",
        t.name
    );
    let detail = rest_event(&app, &token, id).await;
    assert_eq!(
        detail["summary"]["startsAt"], "2026-12-15T23:00:00Z",
        "{detail}"
    );
    // An event given no name is named after its strategy and its local start.
    let name: String = t
        .scalar("SELECT name FROM events WHERE id = $1", &[Arg::Int(id)])
        .await;
    assert!(
        name.ends_with(" 2026-12-15 17:00 CST"),
        "{}: {name}",
        t.name
    );
    drop(app);
    t.cleanup().await;
}

each_backend!(a_time_the_clocks_skip_or_pass_twice_is_refused_naming_the_choices);
async fn a_time_the_clocks_skip_or_pass_twice_is_refused_naming_the_choices(t: TestDb) {
    // Friday 2026-10-30: the clocks go back on Sunday 2026-11-01 at 02:00 CDT.
    let now = utc(2026, 10, 30, 15, 0);
    with_demo_at(&t, now).await;
    let app = spawn_app_at(&t, clock_at(now)).await;
    let strategy = a_strategy(&t).await;
    let op = app.browser();
    app.login(&op, "operator", PASSWORD).await;
    let before = t.count("events").await;

    // 01:30 happens twice: refused, offering both.
    let (to, html) = create_event(
        &app,
        &op,
        strategy,
        "Local time",
        "2026-11-01T01:30",
        "2026-11-01T03:00",
    )
    .await;
    assert!(
        to.starts_with("/events?") || to == "/events",
        "{}: {to}",
        t.name
    );
    assert!(
        html.contains("starts at: 2026-11-01 01:30 happens twice"),
        "{}",
        t.name
    );
    assert!(
        html.contains("`2026-11-01 01:30 CDT`") && html.contains("`2026-11-01 01:30 CST`"),
        "{}: both choices are named",
        t.name
    );
    assert_eq!(
        t.count("events").await,
        before,
        "{}: nothing stored",
        t.name
    );

    // 02:30 on the spring-forward day does not exist.
    let (_, html) = create_event(
        &app,
        &op,
        strategy,
        "Local time",
        "2027-03-14T02:30",
        "2027-03-14T04:00",
    )
    .await;
    assert!(html.contains("does not exist"), "{}", t.name);
    assert!(
        html.contains("02:00") && html.contains("03:00"),
        "{}",
        t.name
    );
    // An abbreviation that is not one of the time's offsets is named too.
    let (_, html) = create_event(
        &app,
        &op,
        strategy,
        "Local time",
        "2026-11-01 01:30 EST",
        "2026-11-01 03:00",
    )
    .await;
    assert!(html.contains("`EST` is not the offset"), "{}", t.name);
    assert_eq!(
        t.count("events").await,
        before,
        "{}: nothing stored",
        t.name
    );

    // Saying which: the second 01:30 (CST) is 07:30 UTC, the first (CDT) 06:30 UTC.
    let (to, html) = create_event(
        &app,
        &op,
        strategy,
        "Local time",
        "2026-11-01 01:30 CST",
        "2026-11-01 03:00",
    )
    .await;
    let id = event_id(&to);
    assert!(html.contains("2026-11-01 01:30 CST"), "{}", t.name);
    let stored: DateTime<Utc> = t
        .scalar(
            "SELECT starts_at FROM events WHERE id = $1",
            &[Arg::Int(id)],
        )
        .await;
    assert_eq!(stored, utc(2026, 11, 1, 7, 30), "{}", t.name);
    let (to, _) = create_event(
        &app,
        &op,
        strategy,
        "Local time",
        "2026-11-01 01:30 CDT",
        "2026-11-01 03:00",
    )
    .await;
    let stored: DateTime<Utc> = t
        .scalar(
            "SELECT starts_at FROM events WHERE id = $1",
            &[Arg::Int(event_id(&to))],
        )
        .await;
    assert_eq!(stored, utc(2026, 11, 1, 6, 30), "{}", t.name);

    // The unavailability form reads local time the same way.
    let device: i64 = t.scalar("SELECT MIN(id) FROM devices", &[]).await;
    let pm = app.browser();
    app.login(&pm, "manager", PASSWORD).await;
    let page = format!("/devices/{device}");
    let windows = t.count("unavailability_windows").await;
    let res = app
        .post_form(
            &pm,
            &page,
            "/fn/add_unavailability",
            &[
                ("device_id", &device.to_string()),
                ("starts_at", "2026-11-01T01:15"),
                ("ends_at", "2026-11-01T06:00"),
                ("reason", "away"),
            ],
        )
        .await;
    assert_eq!(res.status(), 302);
    let to = res.headers()["location"].to_str().unwrap().to_string();
    let (_, html) = app.page(&pm, &to).await;
    assert!(
        html.contains("start: 2026-11-01 01:15 happens twice") && html.contains("01:15 CST"),
        "{}: the unavailability form names the choices",
        t.name
    );
    assert_eq!(
        t.count("unavailability_windows").await,
        windows,
        "{}",
        t.name
    );
    drop(app);
    t.cleanup().await;
}

each_backend!(the_rest_api_reads_any_offset_and_answers_in_utc);
async fn the_rest_api_reads_any_offset_and_answers_in_utc(t: TestDb) {
    let now = utc(2026, 7, 13, 15, 0);
    with_demo_at(&t, now).await;
    let app = spawn_app_at(&t, clock_at(now)).await;
    let strategy = a_strategy(&t).await;
    let token = token(&t, "operator").await;
    // 17:00 CDT written with its offset, and the end written in Central European time.
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/events"))
        .bearer_auth(&token)
        .json(
            &serde_json::json!({"strategyId": strategy, "name": "offsets",
            "startsAt": "2026-07-14T17:00:00-05:00", "endsAt": "2026-07-15T02:00:00+02:00"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", t.name);
    let body: serde_json::Value = res.json().await.unwrap();
    let id = body["id"].as_i64().expect("the new event's id");
    let detail = rest_event(&app, &token, id).await;
    assert_eq!(
        detail["summary"]["startsAt"], "2026-07-14T22:00:00Z",
        "{detail}"
    );
    assert_eq!(
        detail["summary"]["endsAt"], "2026-07-15T00:00:00Z",
        "{detail}"
    );
    // Without an offset: a 400 naming the field; nothing stored.
    let before = t.count("events").await;
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/events"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"strategyId": strategy, "name": "naive",
            "startsAt": "2026-07-14T17:00:00", "endsAt": "2026-07-14T19:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "{}", t.name);
    let problem: serde_json::Value = res.json().await.unwrap();
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("startsAt") && detail.contains("no UTC offset"),
        "{problem}"
    );
    assert_eq!(t.count("events").await, before, "{}", t.name);
    drop(app);
    t.cleanup().await;
}
