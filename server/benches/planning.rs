//! Stage planning end to end: loads the demo utility (1,000,000 devices unless
//! GRIDFLEX_BENCH_DEVICES says otherwise), creates an event over every substation from the
//! "System emergency" strategy (MaximumReduction: every eligible device is a candidate), and
//! prints the median time to load the candidates and forecasts and to plan, then the time to
//! store the plan (stages, reserved devices, the audit entry with its digest) and, as the
//! floor, a raw batched insert of the same number of rows into an unindexed scratch table on
//! the same database in the same run, with the ratio. SQLite, then PostgreSQL too when
//! GRIDFLEX_BENCH_PG is set (a schema of its own, dropped afterwards).
//!
//! GRIDFLEX_BENCH_SQLITE_FILE=/tmp/planning.db keeps the SQLite database in that file, so a
//! later run plans on it without loading the utility again.
//!
//! cargo bench -p server --bench planning
//! GRIDFLEX_BENCH_PG=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p server --bench planning

mod common;

use std::time::{Duration, Instant};

use chrono::{DurationRound, Utc};

use app::model::Role;
use gridflex::db::dialect::{insert_columns, Column};
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
    if std::env::var("GRIDFLEX_BENCH_SQLITE").as_deref() != Ok("0") {
        // GRIDFLEX_BENCH_SQLITE_FILE keeps the SQLite database in that file and, when it
        // already holds the demo utility, plans on it without loading it again (the load
        // takes minutes; the figures measured are the same).
        let dir = tempfile::tempdir()?;
        let path = std::env::var("GRIDFLEX_BENCH_SQLITE_FILE")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| dir.path().join("bench.db"));
        let loaded = path.exists();
        let url = format!("sqlite://{}", path.display());
        let db = Db::connect(&DbOptions::new(&url)).await?;
        gridflex::startup::migrate(&db).await?;
        run("SQLite", &db, devices, !loaded).await?;
    }
    if let Ok(pg) = std::env::var("GRIDFLEX_BENCH_PG") {
        common::on_scratch_schema(&pg, "gfplanning", |db| async move {
            run("PostgreSQL", &db, devices, true).await
        })
        .await?;
    }
    Ok(())
}

async fn run(name: &str, db: &Db, devices: usize, load: bool) -> anyhow::Result<()> {
    println!("GridFlex planning benchmark — {name}, {devices} devices\n");
    let cal = gridflex::calendar::Calendar::default();
    if load {
        let t = Instant::now();
        demo::load_demo(db, cal, DemoSize(devices), demo::DEFAULT_SEED).await?;
        println!(
            "{:<44} {:>9.1} s",
            "load the demo utility",
            t.elapsed().as_secs_f64()
        );
    } else {
        println!("{:<44} {:>9}", "load the demo utility", "kept");
    }

    let strategy: i64 = with_db!(db, |c| sqlx::query_scalar(
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
        db,
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
        let loaded = plan::load(db, cal, &ev, "").await?;
        loads.push(t.elapsed());
        let t = Instant::now();
        let p = planner::plan(&loaded.input).map_err(|e| anyhow::anyhow!("{e}"))?;
        plans.push(t.elapsed());
        last = Some((loaded, p));
    }
    let (loaded, p) = last.expect("runs");
    let (load_ms, plan_ms) = (median(loads), median(plans));
    println!(
        "{:<44} {:>9}",
        "candidates in the zone",
        loaded.input.candidates.len()
    );
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

    // Storing: the first time, then replacing it (what planning again does).
    let t = Instant::now();
    plan::store(db, &operator, &ev, &loaded, &p, Utc::now()).await?;
    let store_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    plan::store(db, &operator, &ev, &loaded, &p, Utc::now()).await?;
    let restore_s = t.elapsed().as_secs_f64();

    // The floor: the same number of rows, raw, into a table without keys or indexes.
    let rows = p.assigned;
    with_db!(db, |c| sqlx::query(
        "CREATE TABLE bench_scratch (stage_id BIGINT, event_id BIGINT, grid_device_id BIGINT,
             program_code TEXT, expected_kw DOUBLE PRECISION, status TEXT)"
    )
    .execute(c)
    .await?
    .rows_affected());
    let ids: Vec<i64> = (0..rows as i64).collect();
    let stage: Vec<i64> = ids.iter().map(|i| i % 16).collect();
    let programs: Vec<String> = ids.iter().map(|i| format!("PRG-{}", i % 4)).collect();
    let kw: Vec<f64> = ids.iter().map(|i| (*i % 1000) as f64 / 997.0).collect();
    let t = Instant::now();
    let mut tx = db.begin().await?;
    insert_columns(
        &mut tx,
        "bench_scratch",
        &[
            ("stage_id", Column::Int(&stage)),
            ("event_id", Column::SameInt(ev.id)),
            ("grid_device_id", Column::Int(&ids)),
            ("program_code", Column::Text(&programs)),
            ("expected_kw", Column::Float(&kw)),
            ("status", Column::SameText("reserved")),
        ],
        rows,
    )
    .await?;
    tx.commit().await?;
    let floor_s = t.elapsed().as_secs_f64();
    with_db!(db, |c| sqlx::query("DROP TABLE bench_scratch")
        .execute(c)
        .await?
        .rows_affected());

    println!(
        "{:<44} {:>9.2} s   ({:.0} rows/s)",
        format!("store the plan ({rows} reserved devices)"),
        store_s,
        rows as f64 / store_s
    );
    println!(
        "{:<44} {:>9.2} s",
        "store it again (replacing the first)", restore_s
    );
    println!(
        "{:<44} {:>9.2} s   ({:.0} rows/s)",
        "floor: raw insert, same rows, scratch table",
        floor_s,
        rows as f64 / floor_s
    );
    println!(
        "{:<44} {:>9.1} ×",
        "store / floor",
        store_s / floor_s.max(1e-9)
    );

    let t = Instant::now();
    plan::plan_event(db, cal, &operator, &ev, "", Utc::now()).await?;
    println!(
        "{:<44} {:>9.1} s\n",
        "load + plan + store (one run)",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
