//! Grid roll-up benchmark: loads the demo utility (1,000,000 devices unless
//! GRIDFLEX_BENCH_DEVICES says otherwise) into a fresh SQLite file, and into a fresh
//! PostgreSQL schema when GRIDFLEX_BENCH_PG is set (dropped afterwards;
//! GRIDFLEX_BENCH_SQLITE=0 skips SQLite), then prints the median and p95 server time of the
//! network page and the forecast page (both read the figures maintained per transformer and
//! feeder, migration 0024), each beside a floor measured in the same run: the plain read of
//! the rows that page cannot do without.
//!
//! cargo bench -p server --bench rollup
//! GRIDFLEX_BENCH_PG=postgres://postgres@127.0.0.1:5432/postgres GRIDFLEX_BENCH_SQLITE=0 cargo bench -p server --bench rollup

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::model::{Role, Viewer};
use app::port::{ForecastPort, NetworkPort};
use app::query::{ForecastQuery, NetworkQuery};
use chrono::{Duration as Span, Utc};
use gridflex::calendar::{align, Calendar};
use gridflex::clock::{Clock, ManualClock};
use gridflex::db::{Db, DbOptions};
use gridflex::demo::{self, DemoSize};
use gridflex::grid::forecast::{reduction_factors, zone_baseline, HISTORY_DAYS, HORIZON_INTERVALS};
use gridflex::grid::forecast_service::ForecastService;
use gridflex::grid::network_service::NetworkService;
use gridflex::programs::program_service::ProgramService;
use gridflex::with_db;

const RUNS: usize = 41;

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<62} median {:>8.2} ms   p95 {:>8.2} ms",
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 95 / 100]),
    );
}

/// Runs `f` [`RUNS`] times and reports its times.
macro_rules! measure {
    ($name:expr, $body:expr) => {{
        let mut samples = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let t = Instant::now();
            $body;
            samples.push(t.elapsed());
        }
        report(&$name, samples);
    }};
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let devices: usize = std::env::var("GRIDFLEX_BENCH_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    if std::env::var("GRIDFLEX_BENCH_SQLITE").as_deref() != Ok("0") {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let db = Db::connect(&DbOptions::new(&url)).await?;
        gridflex::startup::migrate(&db).await?;
        run("SQLite", &db, devices).await?;
        db.close().await;
    }
    if let Ok(pg) = std::env::var("GRIDFLEX_BENCH_PG") {
        common::on_scratch_schema(&pg, "gfrollup", |db| async move {
            run("PostgreSQL", &db, devices).await
        })
        .await?;
    }
    Ok(())
}

async fn run(name: &str, db: &Db, devices: usize) -> anyhow::Result<()> {
    let db = db.clone();
    let cal = Calendar::default();
    println!("GridFlex grid roll-up benchmark — {name}, {devices} devices\n");
    let now = Utc::now();
    let t = Instant::now();
    let summary = demo::load_demo_at(&db, cal, DemoSize(devices), demo::DEFAULT_SEED, now).await?;
    println!(
        "{:<62} {:>8.1} s   ({} devices)",
        "load the demo utility (with load history and weather)",
        t.elapsed().as_secs_f64(),
        summary.devices
    );
    // Fresh statistics for the planner, as a long-running database would have.
    let analyze = match db.dialect() {
        gridflex::db::dialect::Dialect::Sqlite => "PRAGMA optimize",
        gridflex::db::dialect::Dialect::Postgres => "ANALYZE",
    };
    with_db!(&db, |p| sqlx::query(analyze).execute(p).await.map(|_| ()))?;
    let (registered, transformers): (i64, i64) = with_db!(&db, |p| sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM grid_devices WHERE status = 'registered'),
                (SELECT COUNT(*) FROM network_nodes WHERE kind = 'transformer')"
    )
    .fetch_one(p)
    .await)?;
    println!("{registered} registered grid devices under {transformers} transformers\n");

    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(now));
    let programs = ProgramService::new(db.clone(), clock.clone(), cal);
    let network = NetworkService::new(db.clone(), clock.clone(), programs);
    let forecasts = ForecastService::new(db.clone(), clock, cal, network.clone());
    let viewer = Viewer {
        user_id: 0,
        username: "bench".into(),
        display_name: "Bench".into(),
        role: Role::Admin,
    };
    let (sub, feeder): (i64, i64) = with_db!(&db, |p| sqlx::query_as(
        "SELECT s.id, f.id FROM network_current s JOIN network_current f ON f.parent_id = s.id
         WHERE s.kind = 'substation' ORDER BY s.code, f.code LIMIT 1"
    )
    .fetch_one(p)
    .await)?;

    // The network page: both sides' feeder rows and the nodes above them.
    measure!(
        "network page, all substations and feeders",
        network
            .network(&viewer, &NetworkQuery { feeder: None })
            .await?
    );
    measure!(
        "network page, one feeder with its transformers",
        network
            .network(
                &viewer,
                &NetworkQuery {
                    feeder: Some(feeder)
                }
            )
            .await?
    );
    measure!(
        "  floor: read both sides' feeder figures (one query each)",
        with_db!(&db, |p| {
            let grid: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT x.node_id, x.service_points FROM grid_node_figures x
                 JOIN network_nodes f ON f.id = x.node_id WHERE f.kind = 'feeder'",
            )
            .fetch_all(p)
            .await?;
            let program: Vec<(i64, i64, f64)> = sqlx::query_as(
                "SELECT x.node_id, x.devices, x.kw FROM enrolled_node_figures x
                 JOIN program_network_nodes f ON f.id = x.node_id WHERE f.kind = 'feeder'",
            )
            .fetch_all(p)
            .await?;
            Ok::<_, sqlx::Error>((grid, program))
        })?
    );

    // The forecast page: the roll-up of every substation and feeder, one substation's zone.
    measure!(
        "forecast page, one substation",
        forecasts
            .forecast(&viewer, &ForecastQuery { nodes: vec![sub] })
            .await?
    );
    measure!(
        "forecast page, nothing chosen (roll-up only)",
        forecasts
            .forecast(&viewer, &ForecastQuery { nodes: vec![] })
            .await?
    );
    // The first page after a writer changed the forecast's inputs fits every feeder again.
    measure!(
        "forecast page, one substation, just after its inputs changed (refit)",
        {
            let mut tx = db.begin().await?;
            gridflex::db::forecast::inputs_changed(&mut tx).await?;
            tx.commit().await?;
            forecasts
                .forecast(&viewer, &ForecastQuery { nodes: vec![sub] })
                .await?
        }
    );
    let start = align(now);
    let history_from = start - Span::days(HISTORY_DAYS);
    let rows: i64 = with_db!(&db, |p| {
        sqlx::query_scalar(
        "SELECT COUNT(*) FROM feeder_load_history WHERE interval_start >= $1 AND interval_start < $2"
    )
    .bind(history_from)
    .bind(start)
    .fetch_one(p)
    .await
    })?;
    measure!(
        format!(
            "  floor of a refit: read the feeders' {HISTORY_DAYS}-day load history ({rows} rows)"
        ),
        with_db!(&db, |p| sqlx::query_as::<
            _,
            (i64, chrono::DateTime<Utc>, f64),
        >(
            "SELECT feeder_id, interval_start, kw FROM feeder_load_history
             WHERE interval_start >= $1 AND interval_start < $2"
        )
        .bind(history_from)
        .bind(start)
        .fetch_all(p)
        .await)?
    );
    measure!(
        "48-hour baseline of one substation",
        zone_baseline(&db, cal, &[sub], start, HORIZON_INTERVALS).await?
    );
    measure!(
        "48-hour reduction factors (all device types)",
        reduction_factors(&db, cal, start, HORIZON_INTERVALS).await?
    );
    println!();
    Ok(())
}
