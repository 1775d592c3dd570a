//! Stage planning end to end on SQLite: loads the demo utility (1,000,000 devices unless
//! GRIDFLEX_BENCH_DEVICES says otherwise), creates an event over every substation from the
//! "System emergency" strategy (MaximumReduction: every eligible device is a candidate), and
//! prints the median time to load the candidates and forecasts, to plan, and to store the
//! plan. The budget is load + plan ≤ 2 s.
//!
//! cargo bench -p server --bench planning

use std::time::{Duration, Instant};

use chrono::{DurationRound, Utc};

use app::model::Role;
use gridflex::db::{Db, DbOptions};
use gridflex::demo::{self, DemoSize};
use gridflex::grid::event::{create_event, EventWindow};
use gridflex::grid::lifecycle::Actor;
use gridflex::grid::{plan, planner};
use gridflex::with_db;

const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
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
    println!("GridFlex planning benchmark — SQLite, {devices} devices\n");
    let t = Instant::now();
    demo::load_demo(
        &db,
        gridflex::calendar::Calendar::default(),
        DemoSize(devices),
        demo::DEFAULT_SEED,
    )
    .await?;
    println!(
        "{:<44} {:>9.1} s",
        "load the demo utility",
        t.elapsed().as_secs_f64()
    );

    let strategy: i64 = with_db!(&db, |c| sqlx::query_scalar(
        "SELECT id FROM strategies WHERE name = 'System emergency'"
    )
    .fetch_one(c)
    .await?);
    let now = Utc::now();
    let start = now.duration_trunc(chrono::Duration::minutes(15))? + chrono::Duration::hours(1);
    let window = EventWindow::new(start, start + chrono::Duration::hours(4), now)?;
    let operator = Actor::Person {
        username: "bench".into(),
        role: Role::Operator,
    };
    let ev = create_event(
        &db,
        Default::default(),
        &operator,
        strategy,
        "bench",
        window,
        now,
    )
    .await?;

    let (mut loads, mut plans) = (Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..RUNS {
        let t = Instant::now();
        let loaded = plan::load(&db, gridflex::calendar::Calendar::default(), &ev, "").await?;
        loads.push(t.elapsed());
        let t = Instant::now();
        let p = planner::plan(&loaded.input).map_err(|e| anyhow::anyhow!("{e}"))?;
        plans.push(t.elapsed());
        last = Some((loaded.input.candidates.len(), p));
    }
    let (candidates, p) = last.expect("runs");
    let (load_ms, plan_ms) = (median(loads), median(plans));
    println!("{:<44} {:>9}", "candidates in the zone", candidates);
    println!(
        "{:<44} {:>9}",
        "eligible / assigned",
        format!("{} / {}", p.eligible, p.assigned)
    );
    println!("{:<44} {:>9}", "stages", p.stages.len());
    println!(
        "{:<44} {:>9.1} ms",
        "load candidates, rules, history, forecast", load_ms
    );
    println!("{:<44} {:>9.1} ms", "plan", plan_ms);
    println!(
        "{:<44} {:>9.1} ms   (budget 2000 ms)",
        "load + plan",
        load_ms + plan_ms
    );

    let t = Instant::now();
    plan::plan_event(
        &db,
        gridflex::calendar::Calendar::default(),
        &operator,
        &ev,
        "",
        Utc::now(),
    )
    .await?;
    println!(
        "{:<44} {:>9.1} s",
        "load + plan + store (one run)",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
