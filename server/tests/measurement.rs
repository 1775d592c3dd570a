//! Interval meter data import on every backend, through the REST API: good files stored,
//! bad rows reported by line with nothing half-written, the same file imported once,
//! conflicting readings rejected, ESPI XML, and roles.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use gridflex::programs::meter_days;
use gridflex::with_db;
use serde_json::Value;

async fn token(t: &TestDb, role: &str) -> String {
    gridflex::auth::create_token(&t.db, "test", &format!("{role}-client"), role)
        .await
        .expect("token")
}

/// Two service points of the demo that have no readings in July 2025.
async fn service_points(t: &TestDb) -> (String, String) {
    let sps: Vec<String> = scalars(
        &t.db,
        "SELECT service_point_id FROM device_locations ORDER BY id LIMIT 2",
        &[],
    )
    .await;
    (sps[0].clone(), sps[1].clone())
}

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-07-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn csv(rows: &[(&str, i64, f64)]) -> String {
    let mut out = String::from("service_point_id,interval_start,interval_minutes,kwh\n");
    for (sp, quarter, kwh) in rows {
        let t = start() + Duration::minutes(15 * quarter);
        out.push_str(&format!("{sp},{},15,{kwh}\n", t.to_rfc3339()));
    }
    out
}

/// The days settlement reads ([`meter_days`]) hold exactly what the stored readings say.
async fn days_agree(t: &TestDb, sps: &[&str]) -> usize {
    let stored = meter_days::stored_days(&t.db, sps).await.unwrap();
    let expected = meter_days::days_from_readings(&t.db, sps).await.unwrap();
    assert!(!expected.is_empty(), "{}: readings", t.name);
    assert_eq!(
        stored, expected,
        "{}: interval days follow the readings",
        t.name
    );
    stored.len()
}

const READINGS_2025: &str =
    "SELECT COUNT(*) FROM interval_readings WHERE interval_start < '2026-01-01'";

async fn post(
    app: &TestApp,
    token: &str,
    content_type: &str,
    query: &str,
    body: String,
) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/meter-data{query}")))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

each_backend!(a_good_csv_is_stored_once_and_a_conflicting_reading_is_rejected);
async fn a_good_csv_is_stored_once_and_a_conflicting_reading_is_rejected(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let pm = token(&t, "program_manager").await;
    let (a, b) = service_points(&t).await;
    let before = t.count(READINGS_2025).await;
    let file = csv(&[(&a, 0, 1.0), (&a, 1, 1.25), (&b, 0, 0.5), (&b, 2, 0.75)]);
    let (status, report) = post(&app, &pm, "text/csv", "?fileName=july.csv", file.clone()).await;
    assert_eq!(status, 200, "{}: {report}", t.name);
    assert_eq!(report["rowsAccepted"], 4, "{}: {report}", t.name);
    assert_eq!(report["rowsRejected"], 0, "{}", t.name);
    assert_eq!(report["gapsFound"], 1, "{}: b misses 00:15", t.name);
    assert_eq!(report["duplicate"], false);
    assert_eq!(t.count(READINGS_2025).await, before + 4, "{}", t.name);
    let audits = "SELECT COUNT(*) FROM audit_log WHERE action = 'meter_data.import'";
    assert_eq!(t.count(audits).await, 1, "{}", t.name);

    // The same file again: nothing changes, and the answer says so.
    let (status, again) = post(&app, &pm, "text/csv", "?file_name=copy.csv", file).await;
    assert_eq!(status, 200, "{}", t.name);
    assert_eq!(again["duplicate"], true, "{}: {again}", t.name);
    assert_eq!(again["importId"], report["importId"], "{}", t.name);
    assert!(again["message"]
        .as_str()
        .unwrap()
        .contains("already imported"));
    assert_eq!(t.count(READINGS_2025).await, before + 4, "{}", t.name);
    assert_eq!(t.count(audits).await, 1, "{}", t.name);
    assert_eq!(t.count("SELECT COUNT(*) FROM meter_imports").await, 1);

    // Another file: an identical reading is unchanged, another value for a stored
    // interval is a conflict, never an overwrite; the new interval is stored.
    let file = csv(&[(&a, 0, 1.0), (&a, 1, 9.0), (&a, 2, 2.0)]);
    let (status, report) = post(&app, &pm, "text/csv", "", file).await;
    assert_eq!(status, 200, "{}", t.name);
    assert_eq!(report["rowsAccepted"], 1, "{}: {report}", t.name);
    assert_eq!(report["rowsUnchanged"], 1, "{}: {report}", t.name);
    assert_eq!(report["rowsRejected"], 1, "{}: {report}", t.name);
    assert_eq!(report["rejections"][0]["line"], 3, "{}", t.name);
    assert!(report["rejections"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("conflicts with stored reading"));
    let kwh: f64 = scalar(
        &t.db,
        "SELECT kwh FROM interval_readings WHERE service_point_id = $1 AND interval_start = $2",
        &[Arg::from(&a), Arg::from(start() + Duration::minutes(15))],
    )
    .await;
    assert_eq!(kwh, 1.25, "{}: the stored reading is kept", t.name);
    assert_eq!(t.count(READINGS_2025).await, before + 5, "{}", t.name);
    // The second file added a quarter hour to a day the first one began.
    days_agree(&t, &[&a, &b]).await;
    let day =
        meter_days::stored_days(&t.db, &[&a]).await.unwrap()[&(a.clone(), start().date_naive())];
    assert_eq!(&day[..4], &[1000, 1250, 2000, meter_days::MISSING]);
    drop(app);
    t.cleanup().await;
}

each_backend!(a_bad_file_is_reported_by_line_and_nothing_is_stored);
async fn a_bad_file_is_reported_by_line_and_nothing_is_stored(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let admin = token(&t, "admin").await;
    let (a, _) = service_points(&t).await;
    let before = t.count(READINGS_2025).await;
    let file = format!(
        "service_point_id,interval_start,interval_minutes,kwh\n\
         {a},2025-07-01T00:00:00,15,1\n\
         {a},2025-07-01T00:15:00Z,15,-2\n\
         NO-SUCH-SP,2025-07-01T00:30:00Z,15,1\n\
         {a},2025-07-01T00:40:00Z,15,1\n\
         {a},2025-07-01T01:00:00Z,15,x\n"
    );
    let (status, report) = post(&app, &admin, "text/csv", "", file).await;
    assert_eq!(status, 200, "{}: {report}", t.name);
    assert_eq!(report["rowsAccepted"], 0, "{}: {report}", t.name);
    let lines: Vec<i64> = report["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, vec![2, 3, 4, 5, 6], "{}: {report}", t.name);
    let text = report["rejections"].to_string();
    for reason in [
        "no UTC offset",
        "negative",
        "unknown service point",
        "grid",
        "not a number",
    ] {
        assert!(text.contains(reason), "{}: {reason} in {text}", t.name);
    }
    assert_eq!(t.count(READINGS_2025).await, before, "{}", t.name);

    // An unreadable header is a 400 naming it, and leaves no import record.
    let imports = t.count("SELECT COUNT(*) FROM meter_imports").await;
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/meter-data"))
        .bearer_auth(&admin)
        .header("content-type", "text/csv")
        .body("sp,when,kwh\nx,y,z\n")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "{}", t.name);
    assert!(res.text().await.unwrap().contains("unknown column `sp`"));
    assert_eq!(t.count("SELECT COUNT(*) FROM meter_imports").await, imports);
    // JSON is not a meter data format.
    let (status, _) = post(&app, &admin, "application/json", "", "{}".into()).await;
    assert_eq!(status, 415, "{}", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(an_espi_feed_is_imported_and_other_roles_are_refused);
async fn an_espi_feed_is_imported_and_other_roles_are_refused(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let pm = token(&t, "program_manager").await;
    let (a, _) = service_points(&t).await;
    let before = t.count(READINGS_2025).await;
    let s = start().timestamp();
    let mut xml = format!(
        "<?xml version=\"1.0\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <entry><title>{a}</title><content><UsagePoint xmlns=\"http://naesb.org/espi\"/></content></entry>\n"
    );
    // An empty UsagePoint element gives no Start event: the title is named by the query.
    xml.push_str(
        "<entry><content><ReadingType xmlns=\"http://naesb.org/espi\"><powerOfTenMultiplier>0</powerOfTenMultiplier><uom>72</uom></ReadingType></content></entry>\n\
         <entry><content><IntervalBlock xmlns=\"http://naesb.org/espi\">\n",
    );
    for i in 0..4 {
        xml.push_str(&format!(
            "<IntervalReading><timePeriod><duration>3600</duration><start>{}</start></timePeriod><value>{}</value></IntervalReading>\n",
            s + 86_400 + i * 3600,
            1500 + i * 10
        ));
    }
    xml.push_str("</IntervalBlock></content></entry>\n</feed>\n");
    let query = format!("?servicePoint={a}&fileName=greenbutton.xml");
    let (status, report) = post(&app, &pm, "application/xml", &query, xml.clone()).await;
    assert_eq!(status, 200, "{}: {report}", t.name);
    assert_eq!(report["format"], "espi", "{}", t.name);
    assert_eq!(report["rowsAccepted"], 4, "{}: {report}", t.name);
    let kwh: f64 = scalar(&t.db, "SELECT SUM(kwh) FROM interval_readings WHERE service_point_id = $1 AND interval_minutes = 60", &[Arg::from(&a)]).await;
    assert!((kwh - 6.06).abs() < 1e-9, "{}: {kwh}", t.name);
    // Hourly energy is spread over its quarter hours.
    days_agree(&t, &[&a]).await;
    let day = meter_days::stored_days(&t.db, &[&a]).await.unwrap()
        [&(a.clone(), start().date_naive() + Duration::days(1))];
    assert_eq!(&day[..5], &[375, 375, 375, 375, 378]);
    assert_eq!(t.count(READINGS_2025).await, before + 4, "{}", t.name);

    for role in ["operator", "auditor", "approver"] {
        let tok = token(&t, role).await;
        let (status, _) = post(&app, &tok, "application/xml", &query, xml.clone()).await;
        assert_eq!(status, 403, "{}: {role}", t.name);
    }
    let (status, _) = post(&app, "not-a-token", "text/csv", "", csv(&[])).await;
    assert_eq!(status, 401, "{}", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(the_demo_holds_three_weeks_of_quarter_hours_for_a_sample_of_service_points);
async fn the_demo_holds_three_weeks_of_quarter_hours_for_a_sample_of_service_points(t: TestDb) {
    with_demo(&t).await;
    let sample = gridflex::demo::meter_sample(DEMO_DEVICES) as i64;
    let per_sp = gridflex::demo::DEMO_METER_DAYS * 96;
    // The sample (the first service points by id) and every service point of a device
    // reserved in a past event.
    let sampled = t.count(
        &format!(
            "SELECT COUNT(DISTINCT r.service_point_id) FROM interval_readings r
             WHERE r.service_point_id IN (SELECT service_point_id FROM device_locations ORDER BY id LIMIT {sample})"
        ),
    )
    .await;
    assert_eq!(sampled, sample, "{}", t.name);
    // Devices of events that ran (the demo's drill event is only planned).
    let participants = "SELECT COUNT(DISTINCT l.service_point_id) FROM event_stage_devices d
         JOIN events e ON e.id = d.event_id
         JOIN grid_devices g ON g.id = d.grid_device_id JOIN enrollments n ON n.id = g.enrollment_id
         JOIN device_locations l ON l.id = n.location_id
         WHERE e.status <> 'New' AND l.service_point_id NOT IN (SELECT r.service_point_id FROM interval_readings r)";
    assert_eq!(
        t.count(participants).await,
        0,
        "{}: every reserved device's service point has data",
        t.name
    );
    let sps = t
        .count("SELECT COUNT(DISTINCT service_point_id) FROM interval_readings")
        .await;
    assert!(sps > sample, "{}: {sps}", t.name);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM interval_readings").await,
        sps * per_sp,
        "{}",
        t.name
    );
    let negative =
        "SELECT COUNT(*) FROM interval_readings WHERE kwh <= 0 OR interval_minutes <> 15";
    assert_eq!(t.count(negative).await, 0, "{}", t.name);
    // Settlement's days agree with the demo's readings, and filling them again from the
    // readings (as the migration that adds them does) gives the same days.
    let all: Vec<String> = scalars(
        &t.db,
        "SELECT DISTINCT service_point_id FROM interval_readings ORDER BY service_point_id",
        &[],
    )
    .await;
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let days = days_agree(&t, &all).await;
    assert_eq!(
        days as i64,
        t.count("SELECT COUNT(*) FROM interval_days").await
    );
    let before = meter_days::stored_days(&t.db, &all).await.unwrap();
    with_db!(&t.db, |p| sqlx::query("DELETE FROM interval_days")
        .execute(p)
        .await
        .unwrap()
        .rows_affected());
    assert_eq!(
        meter_days::rebuild(&t.db).await.unwrap(),
        days,
        "{}",
        t.name
    );
    assert_eq!(meter_days::stored_days(&t.db, &all).await.unwrap(), before);
    t.cleanup().await;
}

each_backend!(the_console_imports_a_paste_and_shows_the_report_to_program_managers_only);
async fn the_console_imports_a_paste_and_shows_the_report_to_program_managers_only(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let (a, _) = service_points(&t).await;
    let before = t.count(READINGS_2025).await;
    let m = app.browser();
    app.login(&m, "manager", PASSWORD).await;
    let (status, html) = app.page(&m, "/meter-data").await;
    assert_eq!(status, 200, "{}", t.name);
    assert!(html.contains("meter-import"), "{}: the form", t.name);
    let file = format!(
        "{}{a},2025-07-01T02:00:00,15,1\n",
        csv(&[(&a, 0, 1.0), (&a, 1, 2.0)])
    );
    let res = app
        .post_form(
            &m,
            "/meter-data",
            "/fn/import_meter_data",
            &[
                ("file_name", "paste.csv"),
                ("format", "csv"),
                ("service_point", ""),
                ("content", &file),
            ],
        )
        .await;
    assert_eq!(res.status(), 302, "{}", t.name);
    let to = res.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with("/meter-data?import="), "{}: {to}", t.name);
    let (_, html) = app.page(&m, &to).await;
    assert!(
        html.contains("paste.csv: 2 reading(s) stored, 0 already stored, 1 rejected"),
        "{}: {html}",
        t.name
    );
    assert!(html.contains("meter-rejections"), "{}", t.name);
    assert!(html.contains("no UTC offset"), "{}", t.name);
    assert_eq!(t.count(READINGS_2025).await, before + 2, "{}", t.name);

    // An unreadable paste is named in the flash and stores nothing.
    app.post_form(
        &m,
        "/meter-data",
        "/fn/import_meter_data",
        &[
            ("file_name", "x.csv"),
            ("format", "csv"),
            ("service_point", ""),
            ("content", "kwh\n1\n"),
        ],
    )
    .await;
    let (_, html) = app.page(&m, "/meter-data").await;
    assert!(html.contains("missing column"), "{}", t.name);

    // The operator may neither open the page nor import.
    let op = app.browser();
    app.login(&op, "operator", PASSWORD).await;
    let (status, _) = app.page(&op, "/meter-data").await;
    assert_eq!(status, 403, "{}", t.name);
    let file = csv(&[(&a, 8, 1.0)]);
    app.post_form(
        &op,
        "/home",
        "/fn/import_meter_data",
        &[
            ("file_name", "op.csv"),
            ("format", "csv"),
            ("service_point", ""),
            ("content", &file),
        ],
    )
    .await;
    assert_eq!(t.count(READINGS_2025).await, before + 2, "{}", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(baselines_come_out_of_the_demo_data);
async fn baselines_come_out_of_the_demo_data(t: TestDb) {
    use gridflex::programs::baseline::{
        baseline, load_profiles, performance, BaselineError, Method,
    };
    with_demo(&t).await;
    let (a, _) = service_points(&t).await;
    // A two-hour event yesterday afternoon: 20 days of demo data lie before it.
    let now = gridflex::calendar::align(test_now());
    let day = now - Duration::days(1);
    let start = day - Duration::seconds(day.timestamp().rem_euclid(3600));
    let end = start + Duration::hours(2);
    let loaded = load_profiles(&t.db, cal(), &a, start, end).await.unwrap();
    assert_eq!(loaded.actual_event.len(), 8, "{}", t.name);
    assert!(
        loaded.actual_event.iter().all(|k| k.is_finite()),
        "{}",
        t.name
    );
    let ten = baseline(Method::TenInTen, &loaded.input(&[], &[]), &loaded.history).unwrap();
    assert_eq!(ten.days.len(), 10, "{}: ten eligible weekdays", t.name);
    assert!((0.8..=1.2).contains(&ten.factor), "{}", t.name);
    assert!(ten.kwh.iter().all(|k| *k > 0.0), "{}", t.name);
    let high = baseline(
        Method::HighFiveOfTen,
        &loaded.input(&[], &[]),
        &loaded.history,
    )
    .unwrap();
    assert_eq!(high.days.len(), 5, "{}", t.name);
    let sum = |v: &[f64]| v.iter().sum::<f64>();
    assert!(sum(&high.kwh) >= sum(&ten.unadjusted), "{}", t.name);
    let p = performance(&ten.kwh, &loaded.actual_event, 15).unwrap();
    assert!(p.kw_drop_max >= p.kw_drop_avg && p.kw_drop_avg >= p.kw_drop_min);
    // Excluding the days used leaves too few (20 days of data hold at most 15 weekdays).
    let e = baseline(
        Method::TenInTen,
        &loaded.input(&ten.days, &[]),
        &loaded.history,
    );
    assert!(
        matches!(e, Err(BaselineError::NotEnoughDays { needed: 5, .. }))
            || e.as_ref().is_ok_and(|b| b.days.len() < 10),
        "{}: {e:?}",
        t.name
    );
    // An event right after the demo data starts has too few days before it.
    let early = now - Duration::days(18);
    let early = early - Duration::seconds(early.timestamp().rem_euclid(3600));
    let loaded = load_profiles(&t.db, cal(), &a, early, early + Duration::hours(1))
        .await
        .unwrap();
    let e = baseline(
        Method::HighFiveOfTen,
        &loaded.input(&[], &[]),
        &loaded.history,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("needs at least 5"),
        "{}: {e}",
        t.name
    );
    t.cleanup().await;
}

each_backend!(the_demo_opens_with_settled_past_events_whose_meter_data_matches_the_outcomes);
async fn the_demo_opens_with_settled_past_events_whose_meter_data_matches_the_outcomes(t: TestDb) {
    use gridflex::programs::settlement::event_results;
    use std::collections::BTreeMap;
    type Device = (
        i64,
        String,
        Option<String>,
        Option<f64>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        String,
    );
    with_demo(&t).await;
    let events: Vec<(String, String)> = with_db!(&t.db, |p| sqlx::query_as(
        "SELECT code, status FROM events WHERE status <> 'New' ORDER BY id"
    )
    .fetch_all(p)
    .await
    .unwrap());
    assert!(!events.is_empty(), "{}: past events", t.name);
    let (mut with_sp, mut without) = (Vec::new(), Vec::new());
    // Non-responders at a meter where a device of another enrollment shed.
    let mut beside_a_shed = 0;
    let (mut measured, mut expected) = (0.0, 0.0);
    for (code, status) in &events {
        assert_eq!(status, "Completed", "{}: {code}", t.name);
        let rows = event_results(&t.db, code, None).await.unwrap();
        assert!(!rows.is_empty(), "{}: {code} is settled", t.name);
        // Every reserved enrollment has a baseline and data: nothing is missing.
        let bad: Vec<_> = rows
            .iter()
            .filter(|r| r.status != "settled" && r.status != "opted_out")
            .map(|r| (r.enrollment_id, r.status.clone(), r.reason.clone()))
            .collect();
        assert!(bad.is_empty(), "{}: {code}: {bad:?}", t.name);
        for r in &rows {
            let per_event = r.program_code == "SMT-BYOD" || r.program_code == "EV-MANAGED";
            assert_eq!(r.posted, per_event, "{}: {}", t.name, r.program_code);
        }
        // What the head-end reported per enrollment: outcomes and shed kWh.
        let devices: Vec<Device> = with_db!(&t.db, |p| {
            sqlx::query_as(
            "SELECT g.enrollment_id, d.program_code, d.outcome, d.actual_kw, d.participation_start, d.participation_end,
                    l.service_point_id
             FROM event_stage_devices d JOIN events e ON e.id = d.event_id
             JOIN grid_devices g ON g.id = d.grid_device_id
             JOIN enrollments n ON n.id = g.enrollment_id
             JOIN device_locations l ON l.id = n.location_id WHERE e.code = $1"
        )
        .bind(code)
        .fetch_all(p)
        .await
        .unwrap()
        });
        let mut by: BTreeMap<(i64, String), (bool, bool, f64)> = BTreeMap::new();
        // The meters where some device shed, whichever enrollment the device is in.
        let shed_meters: std::collections::HashSet<String> = devices
            .iter()
            .filter(|d| d.2.as_deref() == Some("D1SP"))
            .map(|d| d.6.clone())
            .collect();
        let mut meter_of: BTreeMap<i64, String> = BTreeMap::new();
        for (enrollment, program, outcome, kw, from, until, sp) in devices {
            meter_of.insert(enrollment, sp);
            let e = by.entry((enrollment, program)).or_insert((true, true, 0.0));
            let sp = outcome.as_deref() == Some("D1SP");
            e.0 &= sp;
            e.1 &= matches!(outcome.as_deref(), Some("D1ND" | "D1ER"));
            if let (true, Some(kw), Some(a), Some(b)) = (sp, kw, from, until) {
                e.2 += kw * (b - a).num_minutes() as f64 / 60.0;
            }
        }
        for r in &rows {
            match by.get(&(r.enrollment_id, r.program_code.clone())) {
                Some((true, _, kwh)) => {
                    with_sp.push((r.kwh_avoided, r.credit));
                    measured += r.kwh_avoided;
                    expected += kwh;
                }
                Some((_, true, _)) => {
                    // A premise meter cannot tell devices apart: beside a device that shed,
                    // the meter shows that shed, and it is the sibling's share, not this one's.
                    if meter_of
                        .get(&r.enrollment_id)
                        .is_some_and(|sp| shed_meters.contains(sp))
                    {
                        beside_a_shed += 1;
                    }
                    without.push((r.enrollment_id, r.kwh_avoided, r.credit, r.meter_share));
                }
                _ => {}
            }
        }
    }
    assert!(
        with_sp.len() >= 10,
        "{}: {} D1SP enrollments",
        t.name,
        with_sp.len()
    );
    let n = with_sp.len() as f64;
    let avg = with_sp.iter().map(|r| r.0).sum::<f64>() / n;
    assert!(avg > 0.5, "{}: average kWh avoided {avg}", t.name);
    let credited = with_sp.iter().filter(|r| r.1 > 0.0).count();
    assert!(
        credited as f64 >= 0.9 * n,
        "{}: {credited} of {n} credited",
        t.name
    );
    let ratio = measured / expected;
    assert!(
        (0.4..=1.6).contains(&ratio),
        "{}: measured {measured:.1} kWh against {expected:.1} expected",
        t.name
    );
    // Every enrollment whose devices did not respond gets no share of its meter's savings
    // and no credit, wherever it is; the demo has such enrollments beside a device that shed.
    assert!(
        !without.is_empty() && beside_a_shed > 0,
        "{}: {} non-responders, {beside_a_shed} beside a shed",
        t.name,
        without.len()
    );
    let credited: Vec<_> = without
        .iter()
        .filter(|(_, kwh, credit, share)| *kwh != 0.0 || *credit != 0.0 || *share != 0.0)
        .collect();
    assert!(
        credited.is_empty(),
        "{}: non-responders credited: {credited:?}",
        t.name
    );
    t.cleanup().await;
}
