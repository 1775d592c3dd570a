//! Settlement on every backend: baselines from stored interval data, kWh avoided, kW drop
//! and credits worked out by hand; other event days kept out of the baseline; opt-outs,
//! missing data and hourly data; recalculation recording what changed; season settlement.

mod common;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use common::*;
use gridflex::audit_digest::{verify_digests, DigestCheck};
use gridflex::db::audit::{self, ChainCheck};
use gridflex::db::{insert_rows, Arg, Db};
use gridflex::programs::meter::Reading;
use gridflex::programs::meter_days;
use gridflex::programs::settlement::{self, SettlementRow};
use gridflex::with_db;

/// The tests' fixed "now": the last evening of the 2026 season, local time (23:55 on
/// 30 December at UTC−6), so no outcome depends on the day the tests run. The demo is loaded
/// at it ([`with_demo_at`]), so its season is 2026.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 31, 5, 55, 0).unwrap()
}

/// Settles event `code` as the program manager at `at`.
async fn settle(
    db: &Db,
    code: &str,
    at: DateTime<Utc>,
) -> Result<Vec<settlement::RunSummary>, gridflex::error::DomainError> {
    settlement::settle_event(db, cal(), "pm", code, at).await
}

/// A Wednesday in July of the demo's season.
fn event_day() -> NaiveDate {
    let year = now().year();
    let mut d = NaiveDate::from_ymd_opt(year, 7, 8).unwrap();
    while d.weekday() != Weekday::Wed {
        d += Duration::days(1);
    }
    d
}

/// 16:00 local (UTC−6) on `day`.
fn four_pm(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(22, 0, 0).unwrap())
}

struct Enrolled {
    enrollment: i64,
    sp: String,
    head_end: String,
    nic: String,
}

/// Enrollments of a program with one current device each and distinct service points,
/// not among the demo's past events.
async fn enrolled(db: &Db, program: &str, n: usize) -> Vec<Enrolled> {
    let rows: Vec<(i64, String, String, String)> = with_db!(db, |c| sqlx::query_as(
        "SELECT e.id, l.service_point_id, d.head_end, d.nic_id
         FROM enrollments e JOIN programs p ON p.id = e.program_id
         JOIN device_locations l ON l.id = e.location_id
         JOIN enrollment_devices ed ON ed.enrollment_id = e.id AND ed.left_at IS NULL
         JOIN devices d ON d.id = ed.device_id
         WHERE p.code = $1
           AND NOT EXISTS (SELECT 1 FROM program_event_devices x WHERE x.enrollment_id = e.id)
         ORDER BY e.id"
    )
    .bind(program)
    .fetch_all(c)
    .await
    .unwrap());
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (enrollment, sp, head_end, nic) in rows {
        if seen.insert(sp.clone()) && out.len() < n {
            out.push(Enrolled {
                enrollment,
                sp,
                head_end,
                nic,
            });
        }
    }
    assert_eq!(out.len(), n, "the demo has {n} {program} enrollments");
    out
}

/// Pairs of enrollments of one customer at one premise meter (service point), the first in
/// `first`, the second in `second`, each with a current device, not among the demo's past
/// events.
async fn sharing_a_meter(
    db: &Db,
    first: &str,
    second: &str,
    n: usize,
) -> Vec<(Enrolled, Enrolled)> {
    type Row = (i64, String, String, String, i64, String, String);
    let rows: Vec<Row> = with_db!(db, |c| {
        sqlx::query_as(
        "WITH current AS (
             SELECT e.id, p.code, l.service_point_id AS sp, MIN(d.head_end) AS head_end, MIN(d.nic_id) AS nic
             FROM enrollments e JOIN programs p ON p.id = e.program_id
             JOIN device_locations l ON l.id = e.location_id
             JOIN enrollment_devices ed ON ed.enrollment_id = e.id AND ed.left_at IS NULL
             JOIN devices d ON d.id = ed.device_id
             WHERE NOT EXISTS (SELECT 1 FROM program_event_devices x WHERE x.enrollment_id = e.id)
             GROUP BY e.id, p.code, l.service_point_id)
         SELECT a.id, a.sp, a.head_end, a.nic, b.id, b.head_end, b.nic
         FROM current a JOIN current b ON b.sp = a.sp AND b.code = $2
         WHERE a.code = $1 ORDER BY a.id"
    )
    .bind(first)
    .bind(second)
    .fetch_all(c)
    .await
    .unwrap()
    });
    let mut seen = std::collections::HashSet::new();
    let pairs: Vec<(Enrolled, Enrolled)> = rows
        .into_iter()
        .filter(|r| seen.insert(r.1.clone()))
        .take(n)
        .map(|(a, sp, ah, an, b, bh, bn)| {
            let e = |enrollment, head_end, nic| Enrolled {
                enrollment,
                sp: sp.clone(),
                head_end,
                nic,
            };
            (e(a, ah, an), e(b, bh, bn))
        })
        .collect();
    assert_eq!(pairs.len(), n, "the demo has {n} {first} + {second} meters");
    pairs
}

/// A program-side event: one stage per program, completed, with the given devices, each
/// dispatched for 1 kW.
async fn program_event(
    db: &Db,
    code: &str,
    start: DateTime<Utc>,
    parts: &[(&str, &Enrolled, Option<&str>, bool)],
) {
    let with_kw: Vec<_> = parts
        .iter()
        .map(|&(p, e, o, out)| (p, e, o, out, 1.0))
        .collect();
    program_event_kw(db, code, start, &with_kw).await;
}

/// [`program_event`] with each device's dispatched kW.
async fn program_event_kw(
    db: &Db,
    code: &str,
    start: DateTime<Utc>,
    parts: &[(&str, &Enrolled, Option<&str>, bool, f64)],
) {
    let programs: std::collections::BTreeSet<&str> = parts.iter().map(|p| p.0).collect();
    let mut tx = db.begin().await.unwrap();
    let stages: Vec<Vec<Arg>> = programs
        .iter()
        .map(|p| {
            vec![
                Arg::Text(format!("{code}-S1-{p}")),
                Arg::Text(code.into()),
                Arg::Text(p.to_string()),
                Arg::Text("Reliability".into()),
                Arg::Text("F1CO".into()),
                Arg::Time(start),
                Arg::Time(start + Duration::hours(2)),
                Arg::Time(start),
            ]
        })
        .collect();
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
        &stages,
    )
    .await
    .unwrap();
    let devices: Vec<Vec<Arg>> = parts
        .iter()
        .map(|(p, e, outcome, opted_out, kw)| {
            vec![
                Arg::Text(format!("{code}-S1-{p}")),
                Arg::Text(e.head_end.clone()),
                Arg::Text(e.nic.clone()),
                Arg::Int(e.enrollment),
                Arg::Float(*kw),
                Arg::OptText(outcome.map(String::from)),
                Arg::OptTime(opted_out.then_some(start - Duration::hours(2))),
                Arg::Time(start),
            ]
        })
        .collect();
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
        &devices,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// Readings of one service point: every day from 25 days before `day` through `day`, UTC
/// 18:00–24:00, 15-minute kWh from `kwh(date, quarter_start)`; or hourly when `hourly`.
async fn readings(
    db: &Db,
    sp: &str,
    day: NaiveDate,
    hourly: bool,
    kwh: impl Fn(NaiveDate, DateTime<Utc>) -> Option<f64>,
) {
    let step = if hourly { 60 } else { 15 };
    let mut rows = Vec::new();
    for back in 0..=25 {
        let d = day - Duration::days(back);
        let from = Utc.from_utc_datetime(&d.and_hms_opt(18, 0, 0).unwrap());
        for i in 0..(6 * 60 / step) {
            let t = from + Duration::minutes(step * i);
            if let Some(v) = kwh(d, t) {
                rows.push(Reading {
                    service_point_id: sp.into(),
                    start: t,
                    minutes: step,
                    kwh: v,
                });
            }
        }
    }
    let mut tx = db.begin().await.unwrap();
    meter_days::store(&mut tx, None, &rows).await.unwrap();
    tx.commit().await.unwrap();
}

async fn price(db: &Db, program: &str, t: DateTime<Utc>, p: f64) {
    with_db!(db, |c| sqlx::query(
        "INSERT INTO settlement_prices (program_id, interval_start, price_per_kwh)
         SELECT id, $2, $3 FROM programs WHERE code = $1"
    )
    .bind(program)
    .bind(t)
    .bind(p)
    .execute(c)
    .await
    .unwrap()
    .rows_affected());
}

async fn count(db: &Db, sql: &str) -> i64 {
    scalar::<i64>(db, sql, &[]).await
}

fn row(rows: &[SettlementRow], enrollment: i64) -> &SettlementRow {
    rows.iter()
        .find(|r| r.enrollment_id == enrollment)
        .expect("a result for the enrollment")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

each_backend!(an_event_is_settled_by_hand_worked_numbers_and_a_recalculation_records_what_changed);
async fn an_event_is_settled_by_hand_worked_numbers_and_a_recalculation_records_what_changed(
    t: TestDb,
) {
    with_demo_at(&t, now()).await;
    let db = &t.db;
    let day = event_day();
    let start = four_pm(day);
    let end = start + Duration::hours(2);
    let in_event = move |d: NaiveDate, q: DateTime<Utc>| d == day && q >= start && q < end;

    let smt = enrolled(db, "SMT-BYOD", 5).await;
    let batt = enrolled(db, "BATT-VPP", 1).await;
    let (a, b, c, d, f) = (&smt[0], &smt[1], &smt[2], &smt[3], &smt[4]);
    let e = &batt[0];

    // An earlier event on the Monday before, in which A took part with a deep drop:
    // that day must not be one of A's baseline days.
    let monday = day - Duration::days(2);
    let earlier = four_pm(monday);
    program_event(
        db,
        "EV-T0001",
        earlier,
        &[("SMT-BYOD", a, Some("D1SP"), false)],
    )
    .await;

    // A: 0.5 kWh a quarter, 0.25 in the event (1 kW drop), 0.1 in the earlier event.
    readings(db, &a.sp, day, false, move |d, q| {
        Some(if in_event(d, q) {
            0.25
        } else if d == monday && q >= earlier && q < earlier + Duration::hours(2) {
            0.1
        } else {
            0.5
        })
    })
    .await;
    // B: no change in the event.
    readings(db, &b.sp, day, false, |_, _| Some(0.5)).await;
    // C: history only; the event day has no data yet.
    readings(db, &c.sp, day, false, move |d, _| (d != day).then_some(0.5)).await;
    // D opted out; its data would show a drop, but it earns nothing.
    readings(db, &d.sp, day, false, move |dd, q| {
        Some(if in_event(dd, q) { 0.0 } else { 0.5 })
    })
    .await;
    // F: hourly data, 2 kWh an hour, 1 kWh an hour in the event.
    readings(db, &f.sp, day, true, move |dd, q| {
        Some(if in_event(dd, q) { 1.0 } else { 2.0 })
    })
    .await;
    // E (battery, demand-based, 8.50 per kW): 0.5 kWh a quarter dropping to 0 (2 kW).
    readings(db, &e.sp, day, false, move |dd, q| {
        Some(if in_event(dd, q) { 0.0 } else { 0.5 })
    })
    .await;
    // Prices: the first hour at 0.40 per kWh; the second hour at the program's rate (0.25).
    for q in 0..4 {
        price(db, "SMT-BYOD", start + Duration::minutes(15 * q), 0.40).await;
    }

    program_event(
        db,
        "EV-T0002",
        start,
        &[
            ("SMT-BYOD", a, Some("D1SP"), false),
            ("SMT-BYOD", b, Some("D1ND"), false),
            ("SMT-BYOD", c, Some("D1SP"), false),
            ("SMT-BYOD", d, None, true),
            ("SMT-BYOD", f, Some("D1SP"), false),
            ("BATT-VPP", e, Some("D1SP"), false),
        ],
    )
    .await;
    let audit_before = count(db, "SELECT COUNT(*) FROM audit_log").await;
    let now = self::now();
    let runs = settle(db, "EV-T0002", now).await.unwrap();
    assert_eq!(runs.len(), 2, "{}: one run per program", t.name);
    let results = settlement::event_results(db, "EV-T0002", None)
        .await
        .unwrap();
    assert_eq!(results.len(), 6, "{}", t.name);

    let ra = row(&results, a.enrollment);
    assert_eq!(ra.status, "settled", "{}", t.name);
    assert_eq!(ra.baseline_days, 10, "{}", t.name);
    // Baseline 8 × 0.5 = 4 kWh (the Monday's 0.1 kept out), actual 8 × 0.25 = 2.
    assert!(
        close(ra.baseline_kwh, 4.0),
        "{}: {}",
        t.name,
        ra.baseline_kwh
    );
    assert!(close(ra.kwh_avoided, 2.0), "{}: {}", t.name, ra.kwh_avoided);
    assert!(close(ra.kw_drop_avg, 1.0) && close(ra.kw_drop_max, 1.0) && close(ra.kw_drop_min, 1.0));
    // 4 × 0.25 kWh × 0.40 + 4 × 0.25 kWh × 0.25 = 0.40 + 0.25.
    assert!(close(ra.credit, 0.65), "{}: {}", t.name, ra.credit);
    assert!(ra.posted, "per-event programs post at once");

    let rb = row(&results, b.enrollment);
    assert_eq!((rb.status.as_str(), rb.credit), ("settled", 0.0));
    assert!(close(rb.kwh_avoided, 0.0));

    let rc = row(&results, c.enrollment);
    assert_eq!(rc.status, "no_data", "{}", t.name);
    assert!(rc.reason.as_deref().unwrap().contains(&c.sp));

    let rd = row(&results, d.enrollment);
    assert_eq!((rd.status.as_str(), rd.credit), ("opted_out", 0.0));

    let rf = row(&results, f.enrollment);
    assert_eq!(
        rf.status, "settled",
        "{}: hourly data is settled: {:?}",
        t.name, rf.reason
    );
    assert!(close(rf.kwh_avoided, 2.0), "{}: {}", t.name, rf.kwh_avoided);

    let re = row(&results, e.enrollment);
    assert_eq!(re.settlement_method, "demand");
    assert!(close(re.kw_drop_avg, 2.0), "{}: {}", t.name, re.kw_drop_avg);
    assert!(close(re.credit, 17.0), "{}: {}", t.name, re.credit);
    assert!(
        !re.posted,
        "end-of-season programs hold credits until the season is settled"
    );

    // One audit entry per run, carrying the count and digest of the results it wrote.
    let written = count(db, "SELECT COUNT(*) FROM audit_log").await - audit_before;
    assert_eq!(written, 2, "{}", t.name);
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM audit_log a JOIN audit_digests d ON d.audit_id = a.id
             WHERE a.action = 'settlement.run' AND a.entity_id = 'EV-T0002'"
        )
        .await,
        2,
        "{}: each run's entry has its rows' prints",
        t.name
    );
    assert!(
        matches!(
            verify_digests(db).await.unwrap(),
            DigestCheck::Intact { .. }
        ),
        "{}",
        t.name
    );
    let sums = settlement::event_intervals(db, "EV-T0002").await.unwrap();
    let smt_sums: Vec<_> = sums
        .iter()
        .filter(|s| s.program_code == "SMT-BYOD")
        .collect();
    assert_eq!(smt_sums.len(), 8, "{}: eight quarter hours", t.name);
    // A, B and F settled: baselines 0.5 + 0.5 + 0.5 per quarter.
    assert!(
        close(smt_sums[0].baseline_kwh, 1.5),
        "{}: {:?}",
        t.name,
        smt_sums[0]
    );
    assert_eq!(smt_sums[0].enrollments, 3);

    // Settling again with nothing new changes nothing and says so.
    let again = settle(db, "EV-T0002", now).await.unwrap();
    assert!(
        again.iter().all(|r| r.changed == 0 && r.new == 0),
        "{}: {again:?}",
        t.name
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM audit_log").await - audit_before,
        2 + 2,
        "{}: only the two run rows",
        t.name
    );

    // C's event-day data arrives: a recalculation settles it and records before/after.
    readings(db, &c.sp, day, false, move |dd, q| {
        (dd == day).then_some(if in_event(dd, q) { 0.375 } else { 0.5 })
    })
    .await;
    let recalc = settle(db, "EV-T0002", now).await.unwrap();
    let smt_run = recalc
        .iter()
        .find(|r| r.program_code == "SMT-BYOD")
        .unwrap();
    assert_eq!((smt_run.changed, smt_run.unchanged), (1, 4), "{}", t.name);
    let results = settlement::event_results(db, "EV-T0002", Some("SMT-BYOD"))
        .await
        .unwrap();
    let rc = row(&results, c.enrollment);
    assert_eq!(
        (rc.status.as_str(), rc.version),
        ("settled", 2),
        "{}",
        t.name
    );
    assert!(close(rc.kwh_avoided, 1.0), "{}: {}", t.name, rc.kwh_avoided);
    let change: (Option<String>, Option<String>) = with_db!(db, |cn| {
        sqlx::query_as(
        "SELECT before_json, after_json FROM audit_log WHERE action = 'settlement.recalculate' AND entity_id = $1"
    )
    .bind(format!("EV-T0002/SMT-BYOD/{}", c.enrollment))
    .fetch_one(cn)
    .await
    .unwrap()
    });
    assert!(change.0.unwrap().contains("no_data"), "{}", t.name);
    assert!(change.1.unwrap().contains("\"settled\""), "{}", t.name);
    // The recalculation's run digest covers the part as it now stands.
    assert!(
        matches!(
            verify_digests(db).await.unwrap(),
            DigestCheck::Intact { .. }
        ),
        "{}",
        t.name
    );

    // The season summary and billing export per customer.
    let season = settlement::season_summary(db, cal(), "SMT-BYOD")
        .await
        .unwrap();
    let program = settlement::program_by_code(db, "SMT-BYOD").await.unwrap();
    let csv = settlement::billing_csv(&season, program.season_start, program.season_end).unwrap();
    assert_eq!(csv.lines().count(), 1 + season.len());
    let total: f64 = season.iter().map(|s| s.credit).sum();
    // Every result of the program in the season (the demo's past events are in it too).
    let expected: f64 = scalar::<f64>(db, "SELECT SUM(s.credit) FROM settlements s JOIN programs p ON p.id = s.program_id WHERE p.code = 'SMT-BYOD'", &[]).await;
    assert!(close(total, expected), "{}: {total} vs {expected}", t.name);

    // The season can be settled only after it ends; then the battery credit is posted.
    let early = settlement::settle_season(db, cal(), "pm", "BATT-VPP", now).await;
    assert!(
        early.unwrap_err().to_string().contains("season ends"),
        "{}",
        t.name
    );
    let after_season = Utc.from_utc_datetime(
        &(program.season_end + Duration::days(2))
            .and_hms_opt(12, 0, 0)
            .unwrap(),
    );
    let season_run = settlement::settle_season(db, cal(), "pm", "BATT-VPP", after_season)
        .await
        .unwrap();
    assert!(
        season_run.changed >= 1,
        "{}: the posting is a change",
        t.name
    );
    let re = settlement::event_results(db, "EV-T0002", Some("BATT-VPP"))
        .await
        .unwrap();
    assert!(
        re[0].posted && re[0].version == 2,
        "{}: {:?}",
        t.name,
        re[0]
    );
    let bill = settlement::season_summary(db, cal(), "BATT-VPP")
        .await
        .unwrap();
    let mine = bill
        .iter()
        .find(|b| b.customer_id == re[0].customer_id)
        .unwrap();
    assert!(close(mine.posted_credit, 17.0), "{}: {:?}", t.name, mine);
    assert!(
        bill.iter().all(|b| close(b.posted_credit, b.credit)),
        "{}: all posted",
        t.name
    );
    t.cleanup().await;
}

each_backend!(only_completed_events_are_settled);
async fn only_completed_events_are_settled(t: TestDb) {
    with_demo_at(&t, now()).await;
    let db = &t.db;
    let err = settle(db, "EV-99999", now()).await.unwrap_err();
    assert!(err.to_string().contains("not found"), "{}: {err}", t.name);
    let smt = enrolled(db, "SMT-BYOD", 1).await;
    program_event(
        db,
        "EV-T0003",
        four_pm(event_day()),
        &[("SMT-BYOD", &smt[0], None, false)],
    )
    .await;
    with_db!(db, |c| sqlx::query(
        "UPDATE program_events SET status = 'X1IP' WHERE event_external_id = 'EV-T0003'"
    )
    .execute(c)
    .await
    .unwrap()
    .rows_affected());
    let err = settle(db, "EV-T0003", now()).await.unwrap_err();
    assert!(
        err.to_string().contains("has not ended"),
        "{}: {err}",
        t.name
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM settlement_runs WHERE event_code = 'EV-T0003'"
        )
        .await,
        0
    );
    t.cleanup().await;
}

each_backend!(
    servers_settling_the_same_event_at_once_all_succeed_and_store_it_once,
    flavor = "multi_thread",
    worker_threads = 4
);
async fn servers_settling_the_same_event_at_once_all_succeed_and_store_it_once(t: TestDb) {
    with_demo_at(&t, now()).await;
    let db = &t.db;
    let day = event_day();
    let start = four_pm(day);
    let smt = enrolled(db, "SMT-BYOD", 3).await;
    for e in &smt {
        readings(db, &e.sp, day, false, move |d, q| {
            Some(if d == day && q >= start { 0.2 } else { 0.5 })
        })
        .await;
    }
    let parts: Vec<_> = smt.iter().map(|e| ("SMT-BYOD", e, None, false)).collect();
    program_event(db, "EV-T0005", start, &parts).await;
    // Four pools on the same database, as four server processes would have, each
    // settling on its own worker thread.
    let now = self::now();
    let mut runs = Vec::new();
    let mut pools = Vec::new();
    for _ in 0..4 {
        let pool = t.second_pool().await;
        pools.push(pool.clone());
        runs.push(tokio::spawn(
            async move { settle(&pool, "EV-T0005", now).await },
        ));
    }
    let mut summaries = Vec::new();
    for run in runs {
        summaries.extend(run.await.unwrap().expect("every settle succeeds"));
    }
    let new: usize = summaries.iter().map(|r| r.new).sum();
    let unchanged: usize = summaries.iter().map(|r| r.unchanged).sum();
    assert_eq!(new, 3, "{}: stored once", t.name);
    assert_eq!(unchanged, 9, "{}: the others found them stored", t.name);
    // Four runs, four entries; only one of them wrote the three results.
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'settlement.run' AND entity_id = 'EV-T0005'"
        )
        .await,
        4,
        "{}",
        t.name
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'settlement.run' AND entity_id = 'EV-T0005' AND after_json LIKE '%\"new\":3,%'"
        )
        .await,
        1,
        "{}",
        t.name
    );
    assert!(
        matches!(
            verify_digests(db).await.unwrap(),
            DigestCheck::Intact { .. }
        ),
        "{}",
        t.name
    );
    for pool in pools {
        pool.close().await;
    }
    t.cleanup().await;
}

each_backend!(a_result_changed_after_its_run_fails_the_audit_check_naming_it);
async fn a_result_changed_after_its_run_fails_the_audit_check_naming_it(t: TestDb) {
    with_demo_at(&t, now()).await;
    let db = &t.db;
    let day = event_day();
    let start = four_pm(day);
    let smt = enrolled(db, "SMT-BYOD", 3).await;
    for e in &smt {
        readings(db, &e.sp, day, false, move |d, q| {
            Some(if d == day && q >= start { 0.2 } else { 0.5 })
        })
        .await;
    }
    let parts: Vec<_> = smt.iter().map(|e| ("SMT-BYOD", e, None, false)).collect();
    program_event(db, "EV-T0006", start, &parts).await;
    settle(db, "EV-T0006", now()).await.unwrap();
    let DigestCheck::Intact { entries, rows } = verify_digests(db).await.unwrap() else {
        panic!("{}: the fresh run verifies", t.name)
    };
    assert!(entries >= 1 && rows >= 3, "{}: {entries} {rows}", t.name);

    // Someone with SQL access raises one credit: the chain is untouched, the digest is not.
    let victim = smt[1].enrollment;
    let credit: f64 = with_db!(db, |c| sqlx::query_scalar(
        "SELECT credit FROM settlements WHERE event_code = 'EV-T0006' AND enrollment_id = $1"
    )
    .bind(victim)
    .fetch_one(c)
    .await
    .unwrap());
    with_db!(db, |c| {
        sqlx::query(
        "UPDATE settlements SET credit = credit + 100 WHERE event_code = 'EV-T0006' AND enrollment_id = $1"
    )
    .bind(victim)
    .execute(c)
    .await
    .unwrap()
    .rows_affected()
    });
    assert!(
        matches!(audit::verify(db).await.unwrap(), ChainCheck::Intact { .. }),
        "{}",
        t.name
    );
    match verify_digests(db).await.unwrap() {
        DigestCheck::Differs { reason, scope, .. } => {
            assert!(
                reason.contains(&format!("settlement EV-T0006/SMT-BYOD/{victim} differs")),
                "{}: {reason}",
                t.name
            );
            assert!(scope.contains("EV-T0006"), "{}: {scope}", t.name);
        }
        other => panic!("{}: the changed credit goes unnoticed: {other:?}", t.name),
    }

    // Put back exactly, it verifies again; a removed result is a count mismatch.
    with_db!(db, |c| sqlx::query(
        "UPDATE settlements SET credit = $2 WHERE event_code = 'EV-T0006' AND enrollment_id = $1"
    )
    .bind(victim)
    .bind(credit)
    .execute(c)
    .await
    .unwrap()
    .rows_affected());
    assert!(
        matches!(
            verify_digests(db).await.unwrap(),
            DigestCheck::Intact { .. }
        ),
        "{}: put back, it verifies again",
        t.name
    );
    let last = smt.iter().map(|e| e.enrollment).max().unwrap();
    with_db!(db, |c| sqlx::query(
        "DELETE FROM settlements WHERE event_code = 'EV-T0006' AND enrollment_id = $1"
    )
    .bind(last)
    .execute(c)
    .await
    .unwrap()
    .rows_affected());
    match verify_digests(db).await.unwrap() {
        DigestCheck::Differs { reason, .. } => assert!(
            reason.contains("covers 3 rows, 2 are stored"),
            "{}: {reason}",
            t.name
        ),
        other => panic!("{}: a removed result goes unnoticed: {other:?}", t.name),
    }
    t.cleanup().await;
}

each_backend!(settlement_through_rest_and_console_follows_the_roles);
async fn settlement_through_rest_and_console_follows_the_roles(t: TestDb) {
    with_demo_at(&t, now()).await;
    let db = &t.db;
    let day = event_day();
    let start = four_pm(day);
    let end = start + Duration::hours(2);
    let smt = enrolled(db, "SMT-BYOD", 2).await;
    for e in &smt {
        readings(db, &e.sp, day, false, move |d, q| {
            Some(if d == day && q >= start && q < end {
                0.2
            } else {
                0.5
            })
        })
        .await;
    }
    program_event(
        db,
        "EV-T0004",
        start,
        &[
            ("SMT-BYOD", &smt[0], Some("D1SP"), false),
            ("SMT-BYOD", &smt[1], Some("D1SP"), false),
        ],
    )
    .await;
    let app = spawn_app_at(&t, clock_at(now())).await;
    let c = reqwest::Client::new();
    let token = |role: &'static str| {
        let db = db.clone();
        async move {
            gridflex::auth::create_token(&db, "test", &format!("{role}-client"), role)
                .await
                .unwrap()
        }
    };
    let (pm, aud, op) = (
        token("program_manager").await,
        token("auditor").await,
        token("operator").await,
    );
    let url = app.url("/api/v1/settlements/events/EV-T0004");
    // Only program managers and admins settle; operators may not even read.
    assert_eq!(
        c.post(&url)
            .bearer_auth(&aud)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        c.get(&url).bearer_auth(&op).send().await.unwrap().status(),
        403
    );
    let res = c.post(&url).bearer_auth(&pm).send().await.unwrap();
    assert_eq!(res.status(), 200, "{}", t.name);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("2 of 2 settled"),
        "{body}"
    );
    let detail: serde_json::Value = c
        .get(&url)
        .bearer_auth(&aud)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["total"], 2, "{}: {detail}", t.name);
    // 8 quarters × 0.3 kWh avoided each, at the program's 0.25 a kWh.
    assert!(close(
        detail["results"][0]["kwhAvoided"].as_f64().unwrap(),
        2.4
    ));
    assert!(close(detail["results"][0]["credit"].as_f64().unwrap(), 0.6));
    assert!(
        close(detail["event"]["credit"].as_f64().unwrap(), 1.2),
        "{detail}"
    );
    let bad = c
        .get(format!("{url}?limit=lots"))
        .bearer_auth(&aud)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let missing = c
        .get(app.url("/api/v1/settlements/events/EV-NOPE"))
        .bearer_auth(&aud)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let bill = c
        .get(app.url("/api/v1/settlements/programs/SMT-BYOD/billing.csv"))
        .bearer_auth(&aud)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The two customers of this event, each on one line (the demo's customers too).
    let accounts: Vec<String> = detail["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["accountId"].as_str().unwrap().to_string())
        .collect();
    assert!(
        bill.starts_with("account_id,program_code,season_start"),
        "{bill}"
    );
    for a in &accounts {
        let lines: Vec<&str> = bill
            .lines()
            .filter(|l| l.starts_with(&format!("{a},")))
            .collect();
        assert_eq!(lines.len(), 1, "{}: {a} once: {bill}", t.name);
        assert!(
            lines[0].ends_with(",1,1,2.400,0.60,0.60"),
            "{}: {}",
            t.name,
            lines[0]
        );
    }
    let season = c
        .post(app.url("/api/v1/settlements/programs/SMT-BYOD"))
        .bearer_auth(&pm)
        .send()
        .await
        .unwrap();
    assert_eq!(season.status(), 409, "{}: the season is not over", t.name);

    // The console: the program manager sees the event and its settle button; the
    // auditor reads the results without it; the operator is refused.
    let browser = app.browser();
    app.login(&browser, "manager", PASSWORD).await;
    let (status, html) = app.page(&browser, "/settlements").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("EV-T0004") && html.contains("settle-EV-T0004"),
        "{}",
        t.name
    );
    let auditor = app.browser();
    app.login(&auditor, "auditor", PASSWORD).await;
    let (status, html) = app.page(&auditor, "/settlements/events/EV-T0004").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("$1.20") && !html.contains("settle-EV-T0004"),
        "{}",
        t.name
    );
    let operator = app.browser();
    app.login(&operator, "operator", PASSWORD).await;
    let (status, _) = app.page(&operator, "/settlements").await;
    assert_ne!(status, 200, "{}", t.name);
    drop(app);
    t.cleanup().await;
}

each_backend!(a_shared_meter_is_settled_once_and_apportioned_by_dispatched_kw);
async fn a_shared_meter_is_settled_once_and_apportioned_by_dispatched_kw(t: TestDb) {
    with_demo_at(&t, now()).await;
    let db = &t.db;
    let day = event_day();
    let start = four_pm(day);
    let end = start + Duration::hours(2);
    let pairs = sharing_a_meter(db, "SMT-BYOD", "EV-MANAGED", 2).await;
    // Each meter: 0.5 kWh a quarter, 0.25 in the event: 4 kWh baseline, 2 kWh saved.
    for (a, _) in &pairs {
        readings(db, &a.sp, day, false, move |d, q| {
            Some(if d == day && q >= start && q < end {
                0.25
            } else {
                0.5
            })
        })
        .await;
    }
    let ((t1, ev1), (t2, ev2)) = (&pairs[0], &pairs[1]);
    // Meter 1: the thermostat shed, the EV charger beside it did not respond.
    // Meter 2: both took part, dispatched for 1 kW and 4 kW.
    program_event_kw(
        db,
        "EV-T0101",
        start,
        &[
            ("SMT-BYOD", t1, Some("D1SP"), false, 1.0),
            ("EV-MANAGED", ev1, Some("D1ND"), false, 7.2),
            ("SMT-BYOD", t2, Some("D1SP"), false, 1.0),
            ("EV-MANAGED", ev2, Some("D1SP"), false, 4.0),
        ],
    )
    .await;
    settle(db, "EV-T0101", now()).await.unwrap();
    let results = settlement::event_results(db, "EV-T0101", None)
        .await
        .unwrap();
    assert_eq!(results.len(), 4, "{}", t.name);
    for r in &results {
        assert_eq!(r.status, "settled", "{}: {r:?}", t.name);
        // Baseline and actual are the meter's, the same for both enrollments at it.
        assert!(
            close(r.baseline_kwh, 4.0) && close(r.actual_kwh, 2.0),
            "{}: {r:?}",
            t.name
        );
    }
    // (share, kWh avoided, kW drop, credit at SMT-BYOD's 0.25 and EV-MANAGED's 0.18 a kWh).
    let expect = [
        (t1, 1.0, 2.0, 1.0, 0.50),
        (ev1, 0.0, 0.0, 0.0, 0.0),
        (t2, 0.2, 0.4, 0.2, 0.10),
        (ev2, 0.8, 1.6, 0.8, 0.29),
    ];
    for (e, share, kwh, kw, credit) in expect {
        let r = row(&results, e.enrollment);
        assert!(
            close(r.meter_share, share)
                && close(r.kwh_avoided, kwh)
                && close(r.kw_drop_avg, kw)
                && close(r.credit, credit),
            "{}: {} expected share {share}, {kwh} kWh, {kw} kW, {credit}: {r:?}",
            t.name,
            e.enrollment
        );
    }
    // The shares at each meter add up to the meter's savings, not twice them.
    for (a, b) in &pairs {
        let (ra, rb) = (row(&results, a.enrollment), row(&results, b.enrollment));
        assert!(
            close(
                ra.kwh_avoided + rb.kwh_avoided,
                ra.baseline_kwh - ra.actual_kwh
            ),
            "{}",
            t.name
        );
        assert!(close(ra.meter_share + rb.meter_share, 1.0), "{}", t.name);
    }
    // The quarter-hour sums count each meter once: 2 meters × 0.5 kWh baseline.
    let sums = settlement::event_intervals(db, "EV-T0101").await.unwrap();
    let first: f64 = sums
        .iter()
        .filter(|s| s.interval_start == start)
        .map(|s| s.baseline_kwh)
        .sum();
    assert!(close(first, 1.0), "{}: {sums:?}", t.name);
    // The digest covers the shares; altering one is caught.
    assert!(
        matches!(
            verify_digests(db).await.unwrap(),
            DigestCheck::Intact { .. }
        ),
        "{}",
        t.name
    );
    with_db!(db, |c| {
        sqlx::query(
        "UPDATE settlements SET meter_share = 1.0 WHERE event_code = 'EV-T0101' AND enrollment_id = $1"
    )
    .bind(ev2.enrollment)
    .execute(c)
    .await
    .unwrap()
    .rows_affected()
    });
    match verify_digests(db).await.unwrap() {
        DigestCheck::Differs { reason, .. } => assert!(
            reason.contains(&format!("EV-T0101/EV-MANAGED/{}", ev2.enrollment)),
            "{}: {reason}",
            t.name
        ),
        other => panic!("{}: a changed share is caught: {other:?}", t.name),
    }

    // The share in the REST answer and on the console's settlement page.
    let app = spawn_app_at(&t, clock_at(now())).await;
    let token = gridflex::auth::create_token(db, "test", "auditor-client", "auditor")
        .await
        .unwrap();
    let detail: serde_json::Value = reqwest::Client::new()
        .get(app.url("/api/v1/settlements/events/EV-T0101"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shares: Vec<(i64, f64)> = detail["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["enrollmentId"].as_i64().unwrap(),
                r["meterShare"].as_f64().unwrap(),
            )
        })
        .collect();
    assert!(
        shares.contains(&(t2.enrollment, 0.2)),
        "{}: {detail}",
        t.name
    );
    let auditor = app.browser();
    app.login(&auditor, "auditor", PASSWORD).await;
    let (status, html) = app.page(&auditor, "/settlements/events/EV-T0101").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Meter share") && html.contains(">20%<") && html.contains(">0%<"),
        "{}",
        t.name
    );
    drop(app);
    t.cleanup().await;
}

each_backend!(the_scheduler_settles_events_once_their_meter_data_has_arrived);
async fn the_scheduler_settles_events_once_their_meter_data_has_arrived(t: TestDb) {
    with_demo_at(&t, now()).await;
    let db = &t.db;
    let day = event_day();
    let smt = enrolled(db, "SMT-BYOD", 2).await;
    program_event(
        db,
        "EV-T0006",
        four_pm(day),
        &[("SMT-BYOD", &smt[0], Some("D1SP"), false)],
    )
    .await;
    let other = day - Duration::days(7);
    program_event(
        db,
        "EV-T0007",
        four_pm(other),
        &[("SMT-BYOD", &smt[1], Some("D1SP"), false)],
    )
    .await;
    readings(db, &smt[0].sp, day, false, |_, _| Some(0.5)).await;
    let due = settlement::settle_due(db, cal(), now()).await.unwrap();
    assert_eq!(
        due.events,
        vec!["EV-T0006".to_string()],
        "{}: EV-T0007 has no data yet",
        t.name
    );
    assert!(due.seasons.is_empty(), "{}: the season is not over", t.name);
    let again = settlement::settle_due(db, cal(), now()).await.unwrap();
    assert!(again.events.is_empty(), "{}: settled once", t.name);
    let runs = settlement::runs(db, Some("EV-T0006"), None, 10)
        .await
        .unwrap();
    assert_eq!((runs.len(), runs[0].run_by.as_str()), (1, "scheduler"));
    t.cleanup().await;
}

each_backend!(a_holiday_is_no_baseline_day_until_the_admin_removes_it);
async fn a_holiday_is_no_baseline_day_until_the_admin_removes_it(t: TestDb) {
    use app::model::{Role, Viewer};
    use app::port::HolidayPort;
    with_demo_at(&t, now()).await;
    let db = &t.db;
    let day = event_day();
    let start = four_pm(day);
    let end = start + Duration::hours(2);
    // The demo's calendar holds the US federal holidays: 4 July 2026 is a Saturday, so the
    // holiday is observed on Friday 3 July, a weekday in the event's look-back.
    let holiday = NaiveDate::from_ymd_opt(2026, 7, 3).unwrap();
    assert!(holiday < day && day - holiday < Duration::days(10));
    let name: String = t
        .scalar(
            "SELECT name FROM holidays WHERE day = $1",
            &[Arg::Date(holiday)],
        )
        .await;
    assert_eq!(name, "Independence Day (observed)", "{}", t.name);

    let a = &enrolled(db, "SMT-BYOD", 1).await[0];
    // 0.5 kWh a quarter; 0.25 in the event; 2.0 at the event's hours on the holiday.
    let on_holiday = four_pm(holiday);
    readings(db, &a.sp, day, false, move |d, q| {
        Some(if d == day && q >= start && q < end {
            0.25
        } else if d == holiday && q >= on_holiday && q < on_holiday + Duration::hours(2) {
            2.0
        } else {
            0.5
        })
    })
    .await;
    program_event(
        db,
        "EV-H0001",
        start,
        &[("SMT-BYOD", a, Some("D1SP"), false)],
    )
    .await;
    let cal = gridflex::calendar::Calendar::default();
    settlement::settle_event(db, cal, "pm", "EV-H0001", now())
        .await
        .unwrap();
    let results = settlement::event_results(db, "EV-H0001", None)
        .await
        .unwrap();
    let r = row(&results, a.enrollment);
    // The holiday skipped: ten days of 0.5, baseline 8 × 0.5 = 4 kWh, avoided 4 − 2 = 2.
    assert_eq!((r.status.as_str(), r.baseline_days), ("settled", 10));
    assert!(close(r.baseline_kwh, 4.0), "{}: {}", t.name, r.baseline_kwh);
    assert!(close(r.kwh_avoided, 2.0), "{}: {}", t.name, r.kwh_avoided);

    // The admin removes the holiday (audited) and the event is settled again: 3 July is
    // now the third of the ten days, (9 × 0.5 + 2.0) / 10 = 0.65 a quarter, so the
    // baseline is 8 × 0.65 = 5.2 kWh (the adjustment windows are all 0.5: factor 1) and
    // 5.2 − 2 = 3.2 kWh avoided.
    let clock: std::sync::Arc<dyn gridflex::clock::Clock> = clock_at(now());
    let service = gridflex::calendar::holiday_service::HolidayService::new(db.clone(), clock);
    let admin = Viewer {
        user_id: 0,
        username: "admin".into(),
        display_name: "Admin".into(),
        role: Role::Admin,
    };
    let manager = Viewer {
        role: Role::ProgramManager,
        username: "manager".into(),
        ..admin.clone()
    };
    let refused = service.delete_holiday(&manager, "2026-07-03").await;
    assert!(
        matches!(refused, Err(app::AppError::Forbidden(_))),
        "{refused:?}"
    );
    service.delete_holiday(&admin, "2026-07-03").await.unwrap();
    let audited: i64 = t
        .scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'holiday.delete' AND entity_id = '2026-07-03' AND actor = 'admin'",
            &[],
        )
        .await;
    assert_eq!(audited, 1, "{}", t.name);
    settlement::settle_event(db, cal, "pm", "EV-H0001", now())
        .await
        .unwrap();
    let results = settlement::event_results(db, "EV-H0001", None)
        .await
        .unwrap();
    let r = row(&results, a.enrollment);
    assert_eq!(r.baseline_days, 10);
    assert!(close(r.baseline_kwh, 5.2), "{}: {}", t.name, r.baseline_kwh);
    assert!(close(r.kwh_avoided, 3.2), "{}: {}", t.name, r.kwh_avoided);
}
