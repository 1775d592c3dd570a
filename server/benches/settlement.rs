//! Settlement benchmark on SQLite: one completed event with 100,000 enrolled customers
//! (GRIDFLEX_BENCH_SETTLE_CUSTOMERS), each with its own service point and 15-minute interval
//! data on the event day and the 15 days before it (UTC 18:00–24:00 each day: the day-of
//! adjustment window, the event window 16:00–18:00 local and the hours around them), then
//! `settle_event` timed from nothing settled, and again with nothing changed.
//! Target: at most 10 s for the first run.
//!
//! cargo bench -p server --bench settlement

use std::collections::HashSet;
use std::time::Instant;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use gridflex::db::{insert_rows, Arg, Db, DbOptions};
use gridflex::demo::{self, DemoSize};
use gridflex::programs::meter::Reading;
use gridflex::programs::meter_days;
use gridflex::programs::settlement;
use gridflex::with_db;

const DAYS_BACK: i64 = 15;
const FIRST_HOUR_UTC: u32 = 18;
const QUARTERS_A_DAY: i64 = 24;

fn event_start() -> DateTime<Utc> {
    let mut d = NaiveDate::from_ymd_opt(Utc::now().year(), 7, 8).expect("date");
    while d.weekday() != Weekday::Wed {
        d += Duration::days(1);
    }
    Utc.from_utc_datetime(&d.and_hms_opt(22, 0, 0).expect("time"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let customers: usize = std::env::var("GRIDFLEX_BENCH_SETTLE_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    gridflex::init_tracing(false);
    // GRIDFLEX_BENCH_DIR keeps the database between runs (the setup takes minutes); its
    // settlement results are cleared before timing.
    let tmp = tempfile::tempdir()?;
    let dir = std::env::var("GRIDFLEX_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let file = dir.join(format!("settlement-{customers}.db"));
    let reuse = file.exists();
    let url = format!("sqlite://{}", file.display());
    let db = Db::connect(&DbOptions::new(&url)).await?;
    gridflex::startup::migrate(&db).await?;
    let code = "EV-BENCH";
    if reuse {
        for table in ["settlement_intervals", "settlements", "settlement_runs"] {
            with_db!(&db, |c| sqlx::query(&format!("DELETE FROM {table}"))
                .execute(c)
                .await?
                .rows_affected());
        }
        println!("reusing {}", file.display());
    } else {
        setup(&db, customers, code).await?;
    }
    settle(&db, code).await
}

async fn setup(db: &Db, customers: usize, code: &str) -> anyhow::Result<()> {
    let db = db.clone();
    let setup = Instant::now();
    demo::load_demo(
        &db,
        gridflex::calendar::Calendar::default(),
        DemoSize(customers * 19 / 10),
        demo::DEFAULT_SEED,
    )
    .await?;

    // One enrollment per service point, with its current device.
    let rows: Vec<(i64, String, String, String, String)> = with_db!(&db, |c| sqlx::query_as(
        "SELECT e.id, l.service_point_id, d.head_end, d.nic_id, p.code
         FROM enrollments e JOIN programs p ON p.id = e.program_id
         JOIN device_locations l ON l.id = e.location_id
         JOIN enrollment_devices ed ON ed.enrollment_id = e.id AND ed.left_at IS NULL
         JOIN devices d ON d.id = ed.device_id ORDER BY e.id"
    )
    .fetch_all(c)
    .await?);
    let mut seen = HashSet::new();
    let chosen: Vec<_> = rows
        .into_iter()
        .filter(|r| seen.insert(r.1.clone()))
        .take(customers)
        .collect();
    anyhow::ensure!(
        chosen.len() == customers,
        "the demo has only {} service points",
        chosen.len()
    );
    let programs: Vec<String> = {
        let mut p: Vec<String> = chosen.iter().map(|r| r.4.clone()).collect();
        p.sort();
        p.dedup();
        p
    };

    let start = event_start();
    let mut tx = db.begin().await?;
    let stages: Vec<Vec<Arg>> = programs
        .iter()
        .map(|p| {
            vec![
                Arg::Text(format!("{code}-S1-{p}")),
                Arg::Text(code.into()),
                Arg::Text(p.clone()),
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
    .await?;
    let devices: Vec<Vec<Arg>> = chosen
        .iter()
        .map(|(e, _, he, nic, p)| {
            vec![
                Arg::Text(format!("{code}-S1-{p}")),
                Arg::Text(he.clone()),
                Arg::Text(nic.clone()),
                Arg::Int(*e),
                Arg::Float(1.0),
                Arg::Text("D1SP".into()),
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
            "updated_at",
        ],
        &devices,
    )
    .await?;
    tx.commit().await?;

    // Interval data: a per-customer level, a daily wobble, and a drop in the event window.
    let event_day = start.date_naive();
    let mut batch: Vec<Reading> = Vec::with_capacity(500_000);
    let mut written = 0usize;
    let mut tx = db.begin().await?;
    for (k, (_, sp, _, _, _)) in chosen.iter().enumerate() {
        let level = 0.3 + (k % 17) as f64 * 0.02;
        for back in 0..=DAYS_BACK {
            let day = event_day - Duration::days(back);
            let from = Utc.from_utc_datetime(&day.and_hms_opt(FIRST_HOUR_UTC, 0, 0).expect("time"));
            for q in 0..QUARTERS_A_DAY {
                let t = from + Duration::minutes(15 * q);
                let wobble = ((k as i64 * 7 + back * 3 + q) % 11) as f64 * 0.01;
                let drop = if back == 0 && t >= start && k % 10 < 7 {
                    0.5
                } else {
                    1.0
                };
                batch.push(Reading {
                    service_point_id: sp.clone(),
                    start: t,
                    minutes: 15,
                    kwh: (level + wobble) * drop,
                });
            }
        }
        if batch.len() >= 400_000 {
            meter_days::store(&mut tx, None, &batch).await?;
            written += batch.len();
            batch.clear();
            if written % 4_000_000 < 400_000 {
                tx.commit().await?;
                tx = db.begin().await?;
            }
        }
    }
    meter_days::store(&mut tx, None, &batch).await?;
    written += batch.len();
    tx.commit().await?;
    println!(
        "setup: {customers} customers, {} programs, {written} interval readings in {:.1} s",
        programs.len(),
        setup.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn settle(db: &Db, code: &str) -> anyhow::Result<()> {
    let db = db.clone();
    let t0 = Instant::now();
    let runs = settlement::settle_event(
        &db,
        gridflex::calendar::Calendar::default(),
        "bench",
        code,
        Utc::now(),
    )
    .await?;
    let first = t0.elapsed();
    let settled: usize = runs.iter().map(|r| r.settled).sum();
    let credit: f64 = runs.iter().map(|r| r.credit).sum();
    println!(
        "settle_event, first run: {:.2} s for {} enrollments ({settled} settled, credit {credit:.2}) — target ≤ 10 s",
        first.as_secs_f64(),
        runs.iter().map(|r| r.enrollments).sum::<usize>()
    );
    floor(&db, code, first.as_secs_f64()).await?;
    let t1 = Instant::now();
    let again = settlement::settle_event(
        &db,
        gridflex::calendar::Calendar::default(),
        "bench",
        code,
        Utc::now(),
    )
    .await?;
    println!(
        "settle_event, again with nothing changed: {:.2} s ({} changed)",
        t1.elapsed().as_secs_f64(),
        again.iter().map(|r| r.changed).sum::<usize>()
    );
    Ok(())
}

/// The floor: the results just written, inserted again raw (the same batched insert, from
/// memory) into a scratch table without keys or indexes, on the same database.
async fn floor(db: &Db, code: &str, first_s: f64) -> anyhow::Result<()> {
    let programs: Vec<i64> = with_db!(db, |c| sqlx::query_scalar(
        "SELECT DISTINCT program_id FROM settlements WHERE event_code = $1"
    )
    .bind(code)
    .fetch_all(c)
    .await?);
    let mut rows: Vec<Vec<Arg>> = Vec::new();
    for p in programs {
        for r in gridflex::db::settlement::result_rows(db, p, code).await? {
            rows.push(vec![
                Arg::Int(r.program_id),
                Arg::Text(r.event_code),
                Arg::Int(r.enrollment_id),
                Arg::Int(r.customer_id),
                Arg::Text(r.service_point_id),
                Arg::Time(r.window_start),
                Arg::Time(r.window_end),
                Arg::Int(r.devices.into()),
                Arg::Text(r.status),
                Arg::OptText(r.reason),
                Arg::Text(r.baseline_method),
                Arg::Int(r.baseline_days.into()),
                Arg::Float(r.adjustment),
                Arg::Float(r.baseline_kwh),
                Arg::Float(r.actual_kwh),
                Arg::Float(r.kwh_avoided),
                Arg::Float(r.kw_drop_max),
                Arg::Float(r.kw_drop_min),
                Arg::Float(r.kw_drop_avg),
                Arg::Text(r.settlement_method),
                Arg::Float(r.rate),
                Arg::Float(r.credit),
                Arg::Bool(r.posted),
                Arg::Int(r.version.into()),
                Arg::Int(r.run_id),
                Arg::Time(r.settled_at),
                Arg::Float(r.meter_share),
            ]);
        }
    }
    with_db!(db, |c| sqlx::query(
        "CREATE TABLE IF NOT EXISTS bench_scratch AS SELECT * FROM settlements WHERE 1 = 0"
    )
    .execute(c)
    .await?
    .rows_affected());
    let t = Instant::now();
    let mut tx = db.begin().await?;
    insert_rows(
        &mut tx,
        "bench_scratch",
        &settlement::SETTLEMENT_COLUMNS,
        &rows,
    )
    .await?;
    tx.commit().await?;
    let floor_s = t.elapsed().as_secs_f64();
    with_db!(db, |c| sqlx::query("DROP TABLE bench_scratch")
        .execute(c)
        .await?
        .rows_affected());
    println!(
        "floor: the {} results inserted raw into a scratch table: {floor_s:.2} s ({:.0} rows/s); first run / floor = {:.1} ×",
        rows.len(),
        rows.len() as f64 / floor_s.max(1e-9),
        first_s / floor_s.max(1e-9)
    );
    Ok(())
}
