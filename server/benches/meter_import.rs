//! Meter data import benchmark on SQLite: imports 10,000,000 interval readings (unless
//! GRIDFLEX_BENCH_METER_ROWS says otherwise) as CSV files of 1,000,000 rows (100 service
//! points × 10,000 quarter hours each) through the same path as the API — parse, validate,
//! look up service points and stored readings, one transaction per file — and prints rows/s.
//! Target: at least 200,000 rows/s.
//!
//! cargo bench -p server --bench meter_import

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gridflex::db::{Db, DbOptions};
use gridflex::demo::{self, DemoSize};
use gridflex::programs::meter::{import, FileKind};
use gridflex::with_db;

const ROWS_PER_FILE: usize = 1_000_000;
const SPS_PER_FILE: usize = 100;

fn file(sps: &[String], first: DateTime<Utc>) -> String {
    let per_sp = ROWS_PER_FILE / SPS_PER_FILE;
    let mut out = String::with_capacity(ROWS_PER_FILE * 50);
    out.push_str("service_point_id,interval_start,interval_minutes,kwh\n");
    for (k, sp) in sps.iter().enumerate() {
        for i in 0..per_sp {
            let t = first + chrono::Duration::minutes(15 * i as i64);
            let kwh = ((i * 7 + k * 13) % 400) as f64 / 1000.0;
            out.push_str(&format!(
                "{sp},{},15,{kwh}\n",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
    }
    out
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rows: usize = std::env::var("GRIDFLEX_BENCH_METER_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let files = rows.div_ceil(ROWS_PER_FILE);
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let db = Db::connect(&DbOptions::new(&url)).await?;
    gridflex::startup::migrate(&db).await?;
    // Enough service points for every file (about 0.8 per device).
    demo::load_demo(
        &db,
        gridflex::calendar::Calendar::default(),
        DemoSize(files * SPS_PER_FILE * 2),
        demo::DEFAULT_SEED,
    )
    .await?;
    let sps: Vec<String> = with_db!(&db, |p| sqlx::query_scalar(
        "SELECT service_point_id FROM device_locations ORDER BY id LIMIT $1"
    )
    .bind((files * SPS_PER_FILE) as i64)
    .fetch_all(p)
    .await?);
    anyhow::ensure!(
        sps.len() == files * SPS_PER_FILE,
        "not enough service points"
    );
    let first = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")?.with_timezone(&Utc);

    println!("GridFlex meter import benchmark — SQLite, {files} file(s) of {ROWS_PER_FILE} rows\n");
    let mut spent = Duration::ZERO;
    let mut stored = 0usize;
    for f in 0..files {
        let text = file(&sps[f * SPS_PER_FILE..(f + 1) * SPS_PER_FILE], first);
        let t = Instant::now();
        let report = import(
            &db,
            "bench",
            &format!("file-{f}.csv"),
            &text,
            FileKind::Csv,
            Utc::now(),
        )
        .await?;
        let took = t.elapsed();
        anyhow::ensure!(
            report.rows_rejected == 0,
            "rejections: {:?}",
            &report.rejections[..1]
        );
        stored += report.rows_accepted;
        spent += took;
        println!(
            "file {f:>2}: {} rows in {:>6.2} s ({:>9.0} rows/s)",
            report.rows_accepted,
            took.as_secs_f64(),
            report.rows_accepted as f64 / took.as_secs_f64()
        );
    }
    let rate = stored as f64 / spent.as_secs_f64();
    println!(
        "\nimported {stored} rows in {:.1} s: {rate:.0} rows/s (target ≥ 200,000) {}",
        spent.as_secs_f64(),
        if rate >= 200_000.0 {
            "OK"
        } else {
            "BELOW TARGET"
        }
    );
    db.close().await;
    Ok(())
}
