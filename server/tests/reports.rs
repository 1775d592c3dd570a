//! The auditor's reports end to end: an event is run to completion through the console and
//! the in-process integration, meter data with a visible drop is stored, the event is
//! settled, and the event and season reports (page, CSV, REST) must agree with the stored
//! settlement results. Every backend.

mod common;

use chrono::{DateTime, Duration, DurationRound, Utc};
use common::*;
use gridflex::integration::peer::Peers;
use gridflex::integration::worker::{DeliveryWorker, RetryPolicy};
use gridflex::programs::meter::Reading;
use gridflex::programs::meter_days;
use gridflex::programs::settlement;
use gridflex::with_db;
use serde_json::Value;

/// Readings before and in the event window: 0.5 kWh per quarter hour, 0.2 in the event.
const NORMAL_KWH: f64 = 0.5;
const EVENT_KWH: f64 = 0.2;
/// Service points given meter data; the others settle as `no_data`.
const METERED: usize = 12;

/// A time as the console's form takes it: local wall time in the utility's zone.
async fn token(t: &TestDb, role: &str) -> String {
    gridflex::auth::create_token(&t.db, "test", &format!("{role}-client"), role)
        .await
        .expect("token")
}

async fn act(app: &TestApp, c: &reqwest::Client, id: i64, action: &str) {
    let page = format!("/events/{id}");
    let res = app
        .post_form(
            c,
            &page,
            "/fn/event_action",
            &[("id", &id.to_string()), ("action", action), ("reason", "")],
        )
        .await;
    assert_eq!(res.status(), 302, "{action}");
}

async fn deliver_all(w: &DeliveryWorker) {
    for _ in 0..50 {
        if w.tick().await.expect("delivery").claimed == 0 {
            return;
        }
    }
}

/// Runs a one-hour event from the "System emergency" strategy to completion; returns its
/// id, code and start.
async fn completed_event(t: &TestDb, app: &TestApp) -> (i64, String, DateTime<Utc>) {
    let start = app
        .events
        .now()
        .duration_trunc(Duration::minutes(15))
        .unwrap()
        + Duration::hours(1);
    let strategy: i64 = scalar(
        &t.db,
        "SELECT id FROM strategies WHERE name = 'System emergency'",
        &[],
    )
    .await;
    let op = app.browser();
    app.login(&op, "operator", PASSWORD).await;
    let id = app
        .create_event_in_console(&op, strategy, "Report afternoon", start, 1)
        .await;
    act(app, &op, id, "plan").await;
    act(app, &op, id, "submit").await;
    let ap = app.browser();
    app.login(&ap, "approver", PASSWORD).await;
    act(app, &ap, id, "approve").await;
    let w = DeliveryWorker::new(
        t.db.clone(),
        Peers::in_process(&t.db, cal(), inbound_handlers()),
        app.clock.clone(),
        RetryPolicy::default(),
        1,
    );
    deliver_all(&w).await;
    let admin = app.browser();
    app.login(&admin, "admin", PASSWORD).await;
    let res = app
        .post_form(
            &admin,
            "/events",
            "/fn/advance_clock",
            &[("minutes", "180")],
        )
        .await;
    assert_eq!(res.status(), 302);
    app.events.tick().await.expect("scheduler");
    deliver_all(&w).await;
    let (code, status): (String, String) = with_db!(&t.db, |c| sqlx::query_as(
        "SELECT code, status FROM events WHERE id = $1"
    )
    .bind(id)
    .fetch_one(c)
    .await
    .unwrap());
    assert_eq!(status, "Completed", "{}", t.name);
    (id, code, start)
}

/// Quarter-hour readings for the first [`METERED`] participating service points: 20 days of
/// history around the event's time of day, and the event day with a drop in the window.
async fn store_readings(t: &TestDb, code: &str, start: DateTime<Utc>) -> Vec<String> {
    let sps: Vec<String> = scalars(
        &t.db,
        "SELECT DISTINCT l.service_point_id FROM program_event_devices d
         JOIN program_events p ON p.external_id = d.external_id
         JOIN enrollments e ON e.id = d.enrollment_id
         JOIN device_locations l ON l.id = e.location_id
         WHERE p.event_external_id = $1 ORDER BY l.service_point_id",
        &[Arg::from(code)],
    )
    .await;
    assert!(!sps.is_empty(), "{}: the event reserved devices", t.name);
    let sps: Vec<String> = sps.into_iter().take(METERED).collect();
    let end = start + Duration::hours(1);
    let mut rows = Vec::new();
    for sp in &sps {
        with_db!(&t.db, |c| sqlx::query(
            "DELETE FROM interval_readings WHERE service_point_id = $1"
        )
        .bind(sp)
        .execute(c)
        .await
        .map(|_| ())
        .unwrap());
        for day in 0..=20i64 {
            let mut q = start - Duration::hours(5) - Duration::days(day);
            while q < end + Duration::hours(1) - Duration::days(day) {
                let in_event = day == 0 && q >= start && q < end;
                rows.push(Reading {
                    service_point_id: sp.clone(),
                    start: q,
                    minutes: 15,
                    kwh: if in_event { EVENT_KWH } else { NORMAL_KWH },
                });
                q += Duration::minutes(15);
            }
        }
    }
    let mut tx = t.db.begin().await.unwrap();
    let refs: Vec<&str> = sps.iter().map(String::as_str).collect();
    meter_days::forget(&mut tx, &refs).await.unwrap();
    meter_days::store(&mut tx, None, &rows).await.unwrap();
    tx.commit().await.unwrap();
    sps
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.011
}

each_backend!(the_event_and_season_reports_agree_with_the_settlement);
async fn the_event_and_season_reports_agree_with_the_settlement(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let (id, code, start) = completed_event(&t, &app).await;
    // The demo's season is over by the test's clock: move it around the event.
    with_db!(&t.db, |c| sqlx::query(
        "UPDATE programs SET season_start = $1, season_end = $2"
    )
    .bind(start.date_naive() - Duration::days(60))
    .bind(start.date_naive() + Duration::days(60))
    .execute(c)
    .await
    .map(|_| ())
    .unwrap());
    let metered = store_readings(&t, &code, start).await;
    let now = app.events.now();
    settlement::settle_event(&t.db, cal(), "pm", &code, now)
        .await
        .expect("settles");
    let results = settlement::event_results(&t.db, &code, None).await.unwrap();
    let settled: Vec<_> = results.iter().filter(|r| r.status == "settled").collect();
    assert!(!settled.is_empty(), "{}: some enrollments settled", t.name);
    // Metered service points dropped 0.3 kWh in each quarter hour of their window (a
    // staged strategy may reserve a device for part of the event only), shared among the
    // enrollments at the meter.
    let measured: Vec<_> = results
        .iter()
        .filter(|r| metered.contains(&r.service_point_id))
        .collect();
    assert!(!measured.is_empty(), "{}", t.name);
    for r in &measured {
        assert_eq!(r.status, "settled", "{}: {:?}", t.name, r.reason);
        let end = start + Duration::hours(1);
        let quarters = (r.window_end.min(end) - r.window_start.max(start)).num_minutes() / 15;
        assert!(quarters >= 1, "{}: {r:?} inside the event", t.name);
        // A meter shared by enrollments that took part is split among them by dispatched kW.
        assert!(
            close(r.kwh_avoided, 0.3 * quarters as f64 * r.meter_share),
            "{}: {r:?}, event from {start}",
            t.name
        );
    }
    let kwh: f64 = results.iter().map(|r| r.kwh_avoided).sum();
    let credit: f64 = results.iter().map(|r| r.credit).sum();
    let posted: f64 = results.iter().filter(|r| r.posted).map(|r| r.credit).sum();
    assert!(credit > 0.0, "{}: credits earned", t.name);

    // The service's report.
    let report = gridflex::report::event_report::event_report(&t.db, cal(), id)
        .await
        .unwrap();
    assert!(
        close(report.measured_kwh_avoided, kwh),
        "{}: {} vs {kwh}",
        t.name,
        report.measured_kwh_avoided
    );
    assert!(close(report.credit_total, credit), "{}", t.name);
    assert!(close(report.credit_posted, posted), "{}", t.name);
    assert!(
        close(report.credit_provisional, credit - posted),
        "{}",
        t.name
    );
    let per_program: f64 = report.by_program.iter().map(|p| p.kwh_avoided).sum();
    assert!(close(per_program, kwh), "{}: programs add up", t.name);
    assert_eq!(
        report.by_program.iter().map(|p| p.enrollments).sum::<i64>(),
        results.len() as i64,
        "{}",
        t.name
    );
    assert!(
        report.expected_kwh > 0.0,
        "{}: the plan's expectation",
        t.name
    );
    let reserved: i64 = scalar(
        &t.db,
        "SELECT COUNT(*) FROM event_stage_devices WHERE event_id = $1",
        &[Arg::from(id)],
    )
    .await;
    assert_eq!(report.outcomes.reserved, reserved, "{}", t.name);
    assert_eq!(
        report.outcomes.pending, 0,
        "{}: every device has an outcome",
        t.name
    );
    assert!(report.outcomes.participated > 0, "{}", t.name);
    assert!(
        report
            .chart_svg
            .as_deref()
            .is_some_and(|s| s.contains("Measured")),
        "{}",
        t.name
    );
    assert!(
        !report.runs.is_empty(),
        "{}: the settlement run is listed",
        t.name
    );
    for action in [
        "event.create",
        "event.submit",
        "event.approve",
        "event.complete",
    ] {
        assert!(
            report.lifecycle.iter().any(|a| a.action == action),
            "{}: lifecycle has {action}",
            t.name
        );
    }
    assert!(
        report.approved_at.is_some() && report.approved_by.as_deref() == Some("approver"),
        "{}",
        t.name
    );

    // The baseline days: ten used, from the day before the event back; every skipped day
    // says why. A holiday on the most recent weekday before the event is skipped by name.
    let zone = cal();
    let event_date = zone.local_date(start);
    let used = |r: &app::report::EventReport| r.baseline_days.iter().filter(|d| d.used).count();
    assert_eq!(used(&report), 10, "{}: {:?}", t.name, report.baseline_days);
    assert_eq!(report.baseline_days[0].date, event_date - Duration::days(1));
    for d in &report.baseline_days {
        assert!(d.date < event_date, "{}: {d:?}", t.name);
        assert_eq!(d.used, d.reason == "used", "{}: {d:?}", t.name);
        if gridflex::calendar::is_weekend_date(d.date) {
            assert!(!d.used, "{}: {d:?}", t.name);
        }
    }
    let weekday = report
        .baseline_days
        .iter()
        .find(|d| d.used)
        .expect("a used day")
        .date;
    let mut tx = t.db.begin().await.unwrap();
    gridflex::db::holiday::put_holiday(&mut tx, weekday, "Founders' Day", now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let report = gridflex::report::event_report::event_report(&t.db, zone, id)
        .await
        .unwrap();
    let day = report
        .baseline_days
        .iter()
        .find(|d| d.date == weekday)
        .expect("the holiday is listed");
    assert!(
        !day.used && day.reason == "holiday: Founders' Day",
        "{day:?}"
    );
    assert_eq!(used(&report), 10, "{}: another day takes its place", t.name);

    // The REST API says the same, to an auditor; not to an operator; 404 for no event.
    let c = reqwest::Client::new();
    let auditor = token(&t, "auditor").await;
    let json: Value = c
        .get(app.url(&format!("/api/v1/reports/events/{id}")))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["code"], code.as_str(), "{}", t.name);
    assert!(
        close(json["measuredKwhAvoided"].as_f64().unwrap(), kwh),
        "{}",
        t.name
    );
    assert!(
        close(json["creditTotal"].as_f64().unwrap(), credit),
        "{}",
        t.name
    );
    assert_eq!(
        json["byProgram"].as_array().unwrap().len(),
        report.by_program.len()
    );
    let holiday = json["baselineDays"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["date"] == weekday.to_string().as_str())
        .cloned()
        .unwrap_or_default();
    assert_eq!(holiday["used"], false, "{}: {holiday}", t.name);
    assert_eq!(holiday["reason"], "holiday: Founders' Day", "{}", t.name);
    // Nested entries are camelCase too, with RFC 3339 times.
    let step = &json["lifecycle"][0];
    assert_eq!(step["entityType"], "event", "{}: {step}", t.name);
    assert!(
        chrono::DateTime::parse_from_rfc3339(step["occurredAt"].as_str().unwrap()).is_ok(),
        "{step}"
    );
    let operator = token(&t, "operator").await;
    let res = c
        .get(app.url(&format!("/api/v1/reports/events/{id}")))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "{}", t.name);
    for (path, status) in [
        ("/api/v1/reports/events/999999", 404),
        ("/api/v1/reports/events/abc", 400),
        ("/api/v1/reports/programs/NOPE", 404),
    ] {
        let res = c
            .get(app.url(path))
            .bearer_auth(&auditor)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{}: {path}", t.name);
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }

    // The page for the auditor: measured reduction, credits, the CSV link, the chart.
    let au = app.browser();
    app.login(&au, "auditor", PASSWORD).await;
    let (status, html) = app.page(&au, &format!("/reports/events/{id}")).await;
    assert_eq!(status, 200, "{}", t.name);
    assert!(
        html.contains(&format!(
            "id=\"measured-reduction\">{}",
            app::format::kwh(report.measured_kwh_avoided)
        )),
        "{}: measured reduction shown",
        t.name
    );
    assert!(
        html.contains(&format!(
            "id=\"credits-total\">{}",
            app::format::money(report.credit_total)
        )),
        "{}: credits shown",
        t.name
    );
    assert!(
        html.contains("Download CSV") && html.contains(&format!("/reports/events/{id}.csv")),
        "{}",
        t.name
    );
    assert!(
        html.contains("id=\"report-chart\"") && html.contains("<svg"),
        "{}",
        t.name
    );
    assert!(
        html.contains("event.approve"),
        "{}: approvals in the lifecycle",
        t.name
    );
    assert!(
        html.contains("id=\"report-baseline-days\"")
            && html.contains(&format!("data-date=\"{weekday}\""))
            && html.contains("holiday: Founders"),
        "{}: the baseline days with the holiday",
        t.name
    );
    let (_, detail) = app.page(&au, &format!("/events/{id}")).await;
    assert!(
        detail.contains("id=\"event-report-link\""),
        "{}: linked from the event",
        t.name
    );
    let (status, index) = app.page(&au, "/reports").await;
    assert_eq!(status, 200);
    assert!(
        index.contains(&format!("/reports/events/{id}"))
            && index.contains("/reports/programs/SMT-BYOD"),
        "{}",
        t.name
    );
    let (status, _) = app.page(&au, "/reports/events/999999").await;
    assert_eq!(status, 404, "{}: unknown event page", t.name);

    // The CSV: a header and one line per enrollment, no personal data.
    let res = au
        .get(app.url(&format!("/reports/events/{id}.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", t.name);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines.len(),
        results.len() + 1,
        "{}: one line per enrollment",
        t.name
    );
    assert!(lines[0].starts_with("event_code,program_code,account_id,service_point_id"));
    // Each line ends with the enrollment's share of its meter's savings, as stored.
    assert!(
        lines[0].ends_with(",meter_share"),
        "{}: {}",
        t.name,
        lines[0]
    );
    for (line, r) in lines[1..].iter().zip(&results) {
        let share: f64 = line.rsplit(',').next().unwrap().parse().unwrap();
        assert!(
            (share - r.meter_share).abs() < 5e-4,
            "{}: {line} vs {r:?}",
            t.name
        );
    }
    let first = &settled[0];
    assert!(
        csv.contains(&first.account_id) && csv.contains(&first.service_point_id),
        "{}",
        t.name
    );
    let name: String = scalar(
        &t.db,
        "SELECT name FROM customers WHERE id = $1",
        &[Arg::from(first.customer_id)],
    )
    .await;
    assert!(
        !csv.contains(&name) && !html.contains(&name),
        "{}: no customer names",
        t.name
    );
    let res = au
        .get(app.url("/reports/events/999999.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "{}", t.name);
    let res = au
        .get(app.url("/reports/events/x.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "{}", t.name);

    // Refused to an operator: the page answers 403, the CSV too.
    let op = app.browser();
    app.login(&op, "operator", PASSWORD).await;
    let (status, html) = app.page(&op, &format!("/reports/events/{id}")).await;
    assert_eq!(status, 403, "{}", t.name);
    assert!(!html.contains("measured-reduction"), "{}", t.name);
    let res = op
        .get(app.url(&format!("/reports/events/{id}.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "{}", t.name);
    // Not signed in: sent to sign in.
    let anon = app.browser();
    let res = anon
        .get(app.url(&format!("/reports/events/{id}")))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302, "{}", t.name);

    // The season report of a program in the event: the event, participation, credits.
    let program = first.program_code.clone();
    let summary = settlement::season_summary(&t.db, cal(), &program)
        .await
        .unwrap();
    let season_credit: f64 = summary.iter().map(|c| c.credit).sum();
    let pm = token(&t, "program_manager").await;
    let res = c
        .get(app.url(&format!("/api/v1/reports/programs/{program}")))
        .bearer_auth(&pm)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", t.name);
    let season: Value = res.json().await.unwrap();
    assert!(
        close(season["creditTotal"].as_f64().unwrap(), season_credit),
        "{}",
        t.name
    );
    let events = season["events"].as_array().unwrap();
    let ev = events
        .iter()
        .find(|e| e["eventCode"] == code.as_str())
        .unwrap_or_else(|| panic!("{}: the event is in the season: {season}", t.name));
    let (reserved, participated): (i64, i64) = with_db!(&t.db, |c| sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN d.outcome = 'D1SP' THEN 1 ELSE 0 END), 0)
         FROM program_event_devices d JOIN program_events p ON p.external_id = d.external_id
         WHERE p.event_external_id = $1 AND p.program_code = $2"
    )
    .bind(&code)
    .bind(&program)
    .fetch_one(c)
    .await
    .unwrap());
    assert_eq!(ev["reserved"].as_i64(), Some(reserved), "{}", t.name);
    assert_eq!(
        ev["participated"].as_i64(),
        Some(participated),
        "{}",
        t.name
    );
    assert_eq!(
        ev["minutes"].as_i64(),
        Some(60),
        "{}: a one-hour event",
        t.name
    );
    assert_eq!(ev["eventId"].as_i64(), Some(id), "{}", t.name);
    let cycles = season["cycles"].as_array().unwrap();
    // The demo's past events share the season: every event is counted in one cycle.
    assert!(!cycles.is_empty(), "{}", t.name);
    let counted: i64 = cycles.iter().map(|c| c["events"].as_i64().unwrap()).sum();
    assert_eq!(counted, events.len() as i64, "{}: {season}", t.name);
    assert!(
        cycles[0]["maxEvents"].as_i64().is_some(),
        "{}: the rule's limit",
        t.name
    );
    let res = c
        .get(app.url(&format!("/api/v1/reports/programs/{program}")))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "{}", t.name);
    let (status, html) = app.page(&au, &format!("/reports/programs/{program}")).await;
    assert_eq!(status, 200, "{}", t.name);
    assert!(
        html.contains("id=\"season-chart\"") && html.contains(&code),
        "{}",
        t.name
    );
    assert!(
        html.contains(&format!(
            "id=\"credits-total\">{}",
            app::format::money(season["creditTotal"].as_f64().unwrap())
        )),
        "{}",
        t.name
    );
    let res = au
        .get(app.url(&format!("/reports/programs/{program}.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let csv = res.text().await.unwrap();
    assert_eq!(csv.lines().count(), events.len() + 1, "{}", t.name);
    let (status, _) = app.page(&au, "/reports/programs/NOPE").await;
    assert_eq!(status, 404, "{}", t.name);

    drop(app);
    t.cleanup().await;
}

each_backend!(a_cancelled_event_has_a_report_with_who_cancelled_it_and_nothing_measured);
async fn a_cancelled_event_has_a_report_with_who_cancelled_it_and_nothing_measured(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let start = app
        .events
        .now()
        .duration_trunc(Duration::minutes(15))
        .unwrap()
        + Duration::hours(2);
    let strategy: i64 = scalar(
        &t.db,
        "SELECT id FROM strategies WHERE name = 'System emergency'",
        &[],
    )
    .await;
    let op = app.browser();
    app.login(&op, "operator", PASSWORD).await;
    let id = app
        .create_event_in_console(&op, strategy, "Called off", start, 1)
        .await;
    act(&app, &op, id, "plan").await;
    let res = app
        .post_form(
            &op,
            &format!("/events/{id}"),
            "/fn/event_action",
            &[
                ("id", &id.to_string()),
                ("action", "cancel"),
                ("reason", "storm passed"),
            ],
        )
        .await;
    assert_eq!(res.status(), 302);

    let c = reqwest::Client::new();
    let admin = token(&t, "admin").await;
    let json: Value = c
        .get(app.url(&format!("/api/v1/reports/events/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["status"], "Canceled", "{}", t.name);
    assert_eq!(json["decidedBy"], "operator", "{}", t.name);
    assert_eq!(json["decisionReason"], "storm passed", "{}", t.name);
    assert_eq!(json["measuredKwhAvoided"].as_f64(), Some(0.0));
    assert_eq!(json["runs"].as_array().map(Vec::len), Some(0));
    assert!(json["chartSvg"].is_null(), "{}: no measured chart", t.name);
    let actions: Vec<&str> = json["lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert!(actions.contains(&"event.cancel"), "{}: {actions:?}", t.name);

    let au = app.browser();
    app.login(&au, "auditor", PASSWORD).await;
    let (status, html) = app.page(&au, &format!("/reports/events/{id}")).await;
    assert_eq!(status, 200, "{}", t.name);
    assert!(html.contains("id=\"not-settled\""), "{}", t.name);
    assert!(html.contains("storm passed"), "{}", t.name);
    let (_, index) = app.page(&au, "/reports").await;
    assert!(
        index.contains(&format!("/reports/events/{id}\"")),
        "{}",
        t.name
    );
    let csv = au
        .get(app.url(&format!("/reports/events/{id}.csv")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 1, "{}: only the header", t.name);

    drop(app);
    t.cleanup().await;
}
