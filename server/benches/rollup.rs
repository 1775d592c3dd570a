//! Grid roll-up benchmark on SQLite: loads the demo utility (1,000,000 devices unless
//! GRIDFLEX_BENCH_DEVICES says otherwise) into a fresh file, then prints the median and p95
//! time of rolling the forecast and the enrolled kW up the network, and of one zone forecast.
//!
//! cargo bench -p server --bench rollup

use std::time::{Duration, Instant};

use chrono::Utc;
use gridflex::calendar::align;
use gridflex::db::{Db, DbOptions};
use gridflex::demo::{self, DemoSize};
use gridflex::grid::forecast::{reduction_factors, zone_baseline, HORIZON_INTERVALS};
use gridflex::grid::rollup::network_rollup;
use gridflex::with_db;

const RUNS: usize = 21;

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<58} median {:>8.2} ms   p95 {:>8.2} ms   max {:>8.2} ms",
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 95 / 100]),
        ms(samples[samples.len() - 1])
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let devices: usize = std::env::var("GRIDFLEX_BENCH_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let db = Db::connect(&DbOptions::new(&url)).await?;
    gridflex::startup::migrate(&db).await?;

    println!("GridFlex grid roll-up benchmark — SQLite, {devices} devices\n");
    let now = Utc::now();
    let t = Instant::now();
    let summary = demo::load_demo_at(
        &db,
        gridflex::calendar::Calendar::default(),
        DemoSize(devices),
        demo::DEFAULT_SEED,
        now,
    )
    .await?;
    println!(
        "{:<58} {:>8.1} s   ({} devices)",
        "load the demo utility (with load history and weather)",
        t.elapsed().as_secs_f64(),
        summary.devices
    );
    with_db!(&db, |p| sqlx::query("PRAGMA optimize")
        .execute(p)
        .await
        .map(|_| ()))?;
    let registered: i64 = with_db!(&db, |p| sqlx::query_scalar(
        "SELECT COUNT(*) FROM grid_devices WHERE status = 'registered'"
    )
    .fetch_one(p)
    .await)?;

    let mut samples = Vec::new();
    let mut nodes = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let r = network_rollup(&db, gridflex::calendar::Calendar::default(), now).await?;
        samples.push(t.elapsed());
        nodes = r.nodes.len();
    }
    report(
        &format!("network roll-up ({nodes} nodes, {registered} registered devices)"),
        samples,
    );

    let sub: i64 = with_db!(&db, |p| sqlx::query_scalar(
        "SELECT id FROM network_nodes WHERE kind = 'substation' ORDER BY code LIMIT 1"
    )
    .fetch_one(p)
    .await)?;
    let start = align(now);
    let mut samples = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        zone_baseline(
            &db,
            gridflex::calendar::Calendar::default(),
            &[sub],
            start,
            HORIZON_INTERVALS,
        )
        .await?;
        samples.push(t.elapsed());
    }
    report("48-hour baseline of one substation", samples);
    let mut samples = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        reduction_factors(
            &db,
            gridflex::calendar::Calendar::default(),
            start,
            HORIZON_INTERVALS,
        )
        .await?;
        samples.push(t.elapsed());
    }
    report("48-hour reduction factors (all device types)", samples);
    db.close().await;
    Ok(())
}
