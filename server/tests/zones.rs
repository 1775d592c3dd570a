//! The same scenario in a southern-hemisphere zone (Australia/Sydney) and a zone east of UTC
//! (Europe/Berlin), on every backend: an evening event lands on the right local date in the
//! planner (its rule cycle), the settlement (its baseline days, on local dates and at the
//! same local hours across a daylight-saving change) and the season report (its cycle).
//!
//! Times are picked so that a date taken in the wrong zone shows: Sydney's 16:00 on Tuesday
//! 1 December 2026 is still Monday 30 November in Chicago (the default zone), a month and a
//! weekday apart; Berlin's baseline days straddle the start of summer time (29 March 2026),
//! and its earlier event, at 00:30 on 1 April, is still 31 March in UTC and in Chicago.

mod common;

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Timelike, Utc, Weekday};
use common::*;
use gridflex::calendar::{cycle_start, Calendar};
use gridflex::db::{insert_rows, Arg, Db};
use gridflex::demo::{self, DemoSize};
use gridflex::programs::meter::Reading;
use gridflex::programs::meter_days;
use gridflex::programs::settlement;
use gridflex::report::season_report;
use gridflex::with_db;

/// What differs between the two zones.
struct Case {
    zone: &'static str,
    /// When the demo is loaded and the app's clock stands (local).
    now: (i32, u32, u32, u32),
    /// The earlier event (local start, minutes) and the evening event (local start).
    prior: (i32, u32, u32, u32, u32),
    evening: (i32, u32, u32, u32),
}

const SYDNEY: Case = Case {
    zone: "Australia/Sydney",
    now: (2026, 11, 29, 18),
    prior: (2026, 11, 30, 16, 0),
    evening: (2026, 12, 1, 16),
};

const BERLIN: Case = Case {
    zone: "Europe/Berlin",
    now: (2026, 3, 31, 8),
    prior: (2026, 4, 1, 0, 30),
    evening: (2026, 4, 1, 19),
};

fn local(cal: Calendar, y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    let day = NaiveDate::from_ymd_opt(y, m, d).unwrap();
    cal.from_local(day.and_hms_opt(h, min, 0).unwrap())
        .expect("a local time that exists")
}

async fn token(t: &TestDb, role: &str) -> String {
    gridflex::auth::create_token(&t.db, "test", &format!("{role}-client"), role)
        .await
        .expect("token")
}

async fn api_post(
    app: &TestApp,
    token: &str,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let res = reqwest::Client::new()
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// A grid event of the "System emergency" strategy through the REST API; planned and approved
/// when `approve` (its reservations then count against the rule cycle).
async fn grid_event(
    t: &TestDb,
    app: &TestApp,
    (op, ap): (&str, &str),
    start: DateTime<Utc>,
    minutes: i64,
    approve: bool,
) -> i64 {
    let strategy: i64 = t
        .scalar(
            "SELECT id FROM strategies WHERE name = $1",
            &[Arg::Text("System emergency".into())],
        )
        .await;
    let body = api_post(
        app,
        op,
        "/api/v1/events",
        serde_json::json!({"strategyId": strategy, "name": "Evening peak",
            "startsAt": start.to_rfc3339(),
            "endsAt": (start + Duration::minutes(minutes)).to_rfc3339()}),
    )
    .await;
    let id = body["id"].as_i64().expect("an event id");
    if approve {
        for step in ["plan", "submit"] {
            api_post(
                app,
                op,
                &format!("/api/v1/events/{id}/{step}"),
                serde_json::json!({}),
            )
            .await;
        }
        api_post(
            app,
            ap,
            &format!("/api/v1/events/{id}/approve"),
            serde_json::json!({}),
        )
        .await;
    }
    id
}

/// One enrollment of `program` with a current device, not in the demo's past events.
async fn enrollment(db: &Db, program: &str) -> (i64, String, String, String) {
    with_db!(db, |c| sqlx::query_as(
        "SELECT e.id, l.service_point_id, d.head_end, d.nic_id
         FROM enrollments e JOIN programs p ON p.id = e.program_id
         JOIN device_locations l ON l.id = e.location_id
         JOIN enrollment_devices ed ON ed.enrollment_id = e.id AND ed.left_at IS NULL
         JOIN devices d ON d.id = ed.device_id
         WHERE p.code = $1 AND e.status = 'ACTIVE'
           AND NOT EXISTS (SELECT 1 FROM program_event_devices x WHERE x.enrollment_id = e.id)
         ORDER BY e.id LIMIT 1"
    )
    .bind(program)
    .fetch_one(c)
    .await
    .unwrap())
}

/// A completed program-side event of one program with one enrolled device.
async fn program_event(
    db: &Db,
    code: &str,
    program: &str,
    start: DateTime<Utc>,
    minutes: i64,
    e: &(i64, String, String, String),
) {
    let external = format!("{code}-S1");
    let mut tx = db.begin().await.unwrap();
    insert_rows(
        &mut tx,
        "program_events",
        &[
            "external_id",
            "event_external_id",
            "program_code",
            "category",
            "status",
            "starts_at",
            "ends_at",
            "updated_at",
        ],
        &[vec![
            Arg::Text(external.clone()),
            Arg::Text(code.into()),
            Arg::Text(program.into()),
            Arg::Text("Reliability".into()),
            Arg::Text("F1CO".into()),
            Arg::Time(start),
            Arg::Time(start + Duration::minutes(minutes)),
            Arg::Time(start),
        ]],
    )
    .await
    .unwrap();
    insert_rows(
        &mut tx,
        "program_event_devices",
        &[
            "external_id",
            "head_end",
            "nic_id",
            "enrollment_id",
            "expected_kw",
            "outcome",
            "opted_out_at",
            "updated_at",
        ],
        &[vec![
            Arg::Text(external),
            Arg::Text(e.2.clone()),
            Arg::Text(e.3.clone()),
            Arg::Int(e.0),
            Arg::Float(1.0),
            Arg::OptText(Some("D1SP".into())),
            Arg::OptTime(None),
            Arg::Time(start),
        ]],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn scenario(t: TestDb, case: Case) {
    let cal = Calendar::parse(case.zone).unwrap();
    let (y, m, d, h) = case.now;
    let now = local(cal, y, m, d, h, 0);
    demo::load_demo_at(&t.db, cal, DemoSize(DEMO_DEVICES), demo::DEFAULT_SEED, now)
        .await
        .expect("demo loads");
    demo::ensure_demo_users(&t.db).await.expect("demo users");
    let db = &t.db;
    let (y, m, d, h, min) = case.prior;
    let prior = local(cal, y, m, d, h, min);
    let (y, m, d, h) = case.evening;
    let evening = local(cal, y, m, d, h, 0);
    let day = cal.local_date(evening);
    let prior_day = cal.local_date(prior);
    assert_eq!(day, NaiveDate::from_ymd_opt(y, m, d).unwrap());
    // The zone matters: in Chicago one of the two events falls on another date.
    let chicago = Calendar::default();
    assert!(
        chicago.local_date(evening) != day || chicago.local_date(prior) != prior_day,
        "{}: the case tells the zones apart",
        case.zone
    );

    // The planner: the earlier event's reservations count in the evening event's cycle only
    // when the two local dates share a cycle of the device's program.
    let clock: std::sync::Arc<dyn gridflex::clock::Clock> = clock_at(now);
    let app = spawn_app_configured(&t, Default::default(), |s| {
        s.clock = clock;
        s.simulated_clock = None;
        s.calendar = cal;
    })
    .await;
    let (op, ap) = (token(&t, "operator").await, token(&t, "approver").await);
    let first = grid_event(&t, &app, (&op, &ap), prior, 60, true).await;
    let second = grid_event(&t, &app, (&op, &ap), evening, 120, false).await;
    let reserved: Vec<i64> = with_db!(db, |c| {
        sqlx::query_scalar(
        "SELECT DISTINCT grid_device_id FROM event_stage_devices WHERE event_id = $1 AND status = 'reserved'"
    )
    .bind(first)
    .fetch_all(c)
    .await
    .unwrap()
    });
    assert!(
        !reserved.is_empty(),
        "{}: the earlier event reserved devices",
        t.name
    );
    let rules: Vec<(String, String, i32)> = with_db!(db, |c| {
        sqlx::query_as(
        "SELECT p.code, r.cycle, r.week_start FROM program_rules r JOIN programs p ON p.id = r.program_id
         WHERE r.effective_from <= $1 ORDER BY r.effective_from"
    )
    .bind(day)
    .fetch_all(c)
    .await
    .unwrap()
    });
    let rules: HashMap<String, (String, i32)> =
        rules.into_iter().map(|(p, c, w)| (p, (c, w))).collect();
    let ev = gridflex::grid::event::get_event(db, second)
        .await
        .unwrap()
        .expect("the evening event");
    let loaded = gridflex::grid::plan::load(db, cal, &ev, "").await.unwrap();
    let mut seen = HashMap::<bool, usize>::new();
    for c in loaded
        .input
        .candidates
        .iter()
        .filter(|c| reserved.contains(&c.device_id))
    {
        let program = &loaded.program_codes[c.program as usize];
        let (cycle, week_start) = &rules[program];
        let same =
            cycle_start(cycle, *week_start, prior_day) == cycle_start(cycle, *week_start, day);
        assert_eq!(
            c.events_in_cycle,
            u32::from(same),
            "{}: device {} of {program} ({cycle} cycle), earlier event on {prior_day}, this one on {day}",
            t.name,
            c.device_id
        );
        *seen.entry(same).or_default() += 1;
    }
    assert!(
        !seen.is_empty(),
        "{}: reserved devices are candidates again",
        t.name
    );

    // The settlement: one SMT-BYOD customer, whose load at the event's local hours is
    // 1 kWh a quarter on weekdays, 3 at weekends, 5 on holidays and 0.1 on the earlier event's
    // day, 0.5 in the evening event, and 0.5 at every other hour. Only weekdays that are
    // neither a holiday nor an event day, at the same local hours, give the baseline
    // 8 × 1 = 8 kWh; 8 × 0.5 = 4 kWh were avoided.
    let e = enrollment(db, "SMT-BYOD").await;
    let holidays: Vec<NaiveDate> =
        gridflex::db::holiday::holidays_between(db, day - Duration::days(40), day)
            .await
            .unwrap()
            .into_iter()
            .map(|(d, _)| d)
            .collect();
    let (from_h, to_h) = (
        cal.local_time(evening).hour(),
        cal.local_time(evening).hour() + 2,
    );
    let mut rows = Vec::new();
    for back in 0..=25 {
        let date = day - Duration::days(back);
        for q in 0..(12 * 4) {
            let at = NaiveTime::from_hms_opt(10 + q / 4, (q % 4) * 15, 0).unwrap();
            let Ok(start) = cal.from_local(date.and_time(at)) else {
                continue;
            };
            let in_window = (from_h..to_h).contains(&at.hour());
            // Outside the window, and in the evening event itself: 0.5.
            let kwh = if !in_window || date == day {
                0.5
            } else if date == prior_day {
                0.1
            } else if holidays.contains(&date) {
                5.0
            } else if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
                3.0
            } else {
                1.0
            };
            rows.push(Reading {
                service_point_id: e.1.clone(),
                start,
                minutes: 15,
                kwh,
            });
        }
    }
    // The demo may hold data of its own for this service point: replaced by the above.
    with_db!(db, |c| sqlx::query(
        "DELETE FROM interval_readings WHERE service_point_id = $1"
    )
    .bind(&e.1)
    .execute(c)
    .await
    .unwrap()
    .rows_affected());
    let mut tx = db.begin().await.unwrap();
    meter_days::forget(&mut tx, &[e.1.as_str()]).await.unwrap();
    meter_days::store(&mut tx, None, &rows).await.unwrap();
    tx.commit().await.unwrap();
    program_event(db, "EV-Z0001", "SMT-BYOD", prior, 60, &e).await;
    program_event(db, "EV-Z0002", "SMT-BYOD", evening, 120, &e).await;
    settlement::settle_event(db, cal, "pm", "EV-Z0002", now)
        .await
        .unwrap();
    let results = settlement::event_results(db, "EV-Z0002", None)
        .await
        .unwrap();
    let r = results
        .iter()
        .find(|r| r.enrollment_id == e.0)
        .expect("a result");
    assert_eq!(r.status, "settled", "{}: {:?}", t.name, r.reason);
    assert_eq!(r.baseline_days, 10, "{}", t.name);
    assert!(
        (r.baseline_kwh - 8.0).abs() < 1e-6,
        "{}: {}",
        t.name,
        r.baseline_kwh
    );
    assert!(
        (r.kwh_avoided - 4.0).abs() < 1e-6,
        "{}: {}",
        t.name,
        r.kwh_avoided
    );

    // The season report: the evening event is in the cycle of its local date, with the
    // earlier event when they share it.
    let report = season_report::season_report(db, cal, "SMT-BYOD")
        .await
        .unwrap();
    let (cycle, week_start) = &rules["SMT-BYOD"];
    let start = cycle_start(cycle, *week_start, day);
    let together = cycle_start(cycle, *week_start, prior_day) == start;
    let use_ = report
        .cycles
        .iter()
        .find(|c| c.cycle_start == start)
        .unwrap_or_else(|| panic!("{}: a cycle from {start}: {:?}", t.name, report.cycles));
    let others: i64 = t
        .scalar(
            "SELECT COUNT(DISTINCT event_external_id) FROM program_events
             WHERE program_code = 'SMT-BYOD' AND starts_at >= $1 AND starts_at < $2 AND event_external_id NOT LIKE 'EV-Z%'",
            &[Arg::Time(cal.day_start(start)), Arg::Time(cal.day_start(start + Duration::days(31)))],
        )
        .await;
    assert_eq!(
        use_.events,
        1 + i64::from(together) + others,
        "{}: {:?}",
        t.name,
        report.cycles
    );
    let listed = report
        .events
        .iter()
        .find(|x| x.event_code == "EV-Z0002")
        .expect("the evening event in the season");
    assert!((listed.kwh_avoided - 4.0).abs() < 1e-6, "{}", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(an_evening_event_in_sydney_lands_on_its_local_date_everywhere);
async fn an_evening_event_in_sydney_lands_on_its_local_date_everywhere(t: TestDb) {
    scenario(t, SYDNEY).await;
}

each_backend!(an_evening_event_in_berlin_lands_on_its_local_date_everywhere);
async fn an_evening_event_in_berlin_lands_on_its_local_date_everywhere(t: TestDb) {
    scenario(t, BERLIN).await;
}
