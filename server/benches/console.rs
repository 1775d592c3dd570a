//! Console benchmark on SQLite: loads the demo utility (1,000,000 devices unless
//! GRIDFLEX_BENCH_DEVICES says otherwise) into a fresh file, then prints the median and p95
//! server time of the console's hot queries and the memory of a `gridflex serve` at rest.
//!
//! cargo bench -p server --bench console

use std::time::{Duration, Instant};

use app::model::{Role, Viewer};
use app::port::{DevicePort, EnrollmentPort, NetworkPort};
use app::query::{DeviceQuery, EnrollmentQuery, EnrollmentSort, NetworkQuery};
use gridflex::db::{Db, DbOptions};
use gridflex::demo::{self, DemoSize};
use gridflex::grid::network_service::NetworkService;
use gridflex::programs::device_service::DeviceService;
use gridflex::programs::enrollment_service::EnrollmentService;
use gridflex::with_db;

const RUNS: usize = 41;

fn stats(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 95 / 100]),
    )
}

fn report(name: &str, samples: Vec<Duration>) {
    let (median, p95) = stats(samples);
    println!("{name:<58} median {median:>8.2} ms   p95 {p95:>8.2} ms");
}

fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes --bench; nothing else is expected.
    let devices: usize = std::env::var("GRIDFLEX_BENCH_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("bench.db");
    let url = format!("sqlite://{}", file.display());
    let db = Db::connect(&DbOptions::new(&url)).await?;
    gridflex::startup::migrate(&db).await?;

    println!("GridFlex console benchmark — SQLite, {devices} devices\n");
    let t = Instant::now();
    let summary = demo::load_demo(
        &db,
        gridflex::calendar::Calendar::default(),
        DemoSize(devices),
        demo::DEFAULT_SEED,
    )
    .await?;
    let load = t.elapsed();
    println!(
        "{:<58} {:>8.1} s   ({} customers, {} devices, {} enrollments)",
        "load the demo utility",
        load.as_secs_f64(),
        summary.customers,
        summary.devices,
        summary.enrollments
    );
    with_db!(&db, |p| sqlx::query("PRAGMA optimize")
        .execute(p)
        .await
        .map(|_| ()))?;

    let clock: std::sync::Arc<dyn gridflex::clock::Clock> =
        std::sync::Arc::new(gridflex::clock::SystemClock);
    let enrollments = EnrollmentService::new(db.clone(), clock.clone(), Default::default());
    let devices = DeviceService::new(db.clone(), clock.clone(), Default::default());
    let programs = gridflex::programs::program_service::ProgramService::new(
        db.clone(),
        clock.clone(),
        Default::default(),
    );
    let network = NetworkService::new(db.clone(), clock, programs);
    let viewer = Viewer {
        user_id: 0,
        username: "bench".into(),
        display_name: "Bench".into(),
        role: Role::ProgramManager,
    };
    let (program, feeder): (i64, i64) = with_db!(&db, |p| {
        sqlx::query_as(
        "SELECT program_id, feeder_id FROM enrollments GROUP BY program_id, feeder_id ORDER BY COUNT(*) DESC LIMIT 1"
    )
    .fetch_one(p)
    .await
    })?;
    let nics: Vec<String> = with_db!(&db, |p| sqlx::query_scalar(
        "SELECT nic_id FROM devices WHERE id % 24989 = 7 ORDER BY id LIMIT 41"
    )
    .fetch_all(p)
    .await)?;

    // Warm the cache the way a running server would be.
    let q = EnrollmentQuery {
        program: Some(program),
        feeder: Some(feeder),
        limit: 50,
        ..Default::default()
    };
    enrollments.list_enrollments(&viewer, &q).await?;

    let mut s = Vec::new();
    let mut total = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let page = enrollments.list_enrollments(&viewer, &q).await?;
        s.push(t.elapsed());
        total = page.total;
    }
    report(
        &format!("enrollments, program + feeder, first page ({total} match)"),
        s,
    );

    let mut s = Vec::new();
    for nic in &nics {
        let q = EnrollmentQuery {
            q: Some(nic.clone()),
            limit: 50,
            ..Default::default()
        };
        let t = Instant::now();
        let page = enrollments.list_enrollments(&viewer, &q).await?;
        s.push(t.elapsed());
        assert!(page.total >= 1, "NIC {nic} found");
    }
    report("enrollments, search by NIC id", s);

    let mut s = Vec::new();
    for nic in &nics {
        let q = DeviceQuery {
            q: Some(nic.clone()),
            limit: 50,
            ..Default::default()
        };
        let t = Instant::now();
        devices.list_devices(&viewer, &q).await?;
        s.push(t.elapsed());
    }
    report("devices, search by NIC id", s);

    let mut s = Vec::new();
    for i in 0..RUNS {
        let q = EnrollmentQuery {
            program: Some(program),
            feeder: Some(feeder),
            limit: 50,
            after: Some(1 + i as i64 * 997),
            ..Default::default()
        };
        let t = Instant::now();
        enrollments.list_enrollments(&viewer, &q).await?;
        s.push(t.elapsed());
    }
    report("enrollments, program + feeder, a later page (keyset)", s);

    // Every sort the console offers, under the filters it offers: the first page and the
    // eleventh (reached by following the keyset cursor), median of RUNS each.
    let filters: [(&str, EnrollmentQuery); 4] = [
        ("no filter", EnrollmentQuery::default()),
        (
            "program",
            EnrollmentQuery {
                program: Some(program),
                ..Default::default()
            },
        ),
        (
            "program + feeder",
            EnrollmentQuery {
                program: Some(program),
                feeder: Some(feeder),
                ..Default::default()
            },
        ),
        (
            "program + status",
            EnrollmentQuery {
                program: Some(program),
                status: Some(app::model::EnrollmentStatus::Active),
                ..Default::default()
            },
        ),
    ];
    for (label, base) in &filters {
        for sort in EnrollmentSort::ALL {
            let mut q = EnrollmentQuery {
                sort,
                limit: 50,
                ..base.clone()
            };
            let mut first = Vec::new();
            for _ in 0..RUNS {
                let t = Instant::now();
                enrollments.list_enrollments(&viewer, &q).await?;
                first.push(t.elapsed());
            }
            for _ in 0..10 {
                q.after = enrollments.list_enrollments(&viewer, &q).await?.next_after;
            }
            let mut later = Vec::new();
            for _ in 0..RUNS {
                let t = Instant::now();
                enrollments.list_enrollments(&viewer, &q).await?;
                later.push(t.elapsed());
            }
            let (f, _) = stats(first);
            let (l, _) = stats(later);
            println!(
                "{:<58} median {f:>8.2} ms   page 11 {l:>8.2} ms",
                format!("enrollments, {label}, sorted by {}", sort.label())
            );
        }
    }

    let mut s = Vec::new();
    for i in 0..RUNS {
        let t = Instant::now();
        enrollments
            .get_enrollment(&viewer, 1 + (i as i64 * 7919) % summary.enrollments as i64)
            .await?;
        s.push(t.elapsed());
    }
    report("enrollment detail", s);

    let mut s = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        network
            .network(&viewer, &NetworkQuery { feeder: None })
            .await?;
        s.push(t.elapsed());
    }
    report("network page (maintained figures, always current)", s);
    db.close().await;

    // Memory of a real server at rest on the loaded database.
    let bin = env!("CARGO_BIN_EXE_gridflex");
    let mut child = std::process::Command::new(bin)
        .args(["--database-url", &url, "serve", "--listen", "127.0.0.1:0"])
        .env("GRIDFLEX_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut line = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    std::io::BufRead::read_line(&mut out, &mut line)?;
    let base = line.trim().rsplit(' ').next().unwrap_or("").to_string();
    let client = reqwest::Client::new();
    for path in ["/health", "/ready", "/login", "/metrics"] {
        let _ = client.get(format!("{base}{path}")).send().await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    match rss_mb(pid) {
        Some(mb) => println!(
            "{:<58} {:>8.1} MB",
            "gridflex serve, resident memory at rest", mb
        ),
        None => println!("gridflex serve, resident memory at rest: not measurable here"),
    }
    let _ = child.kill();
    let _ = child.wait();
    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    println!("{:<58} {:>8.1} MB", "database file", size as f64 / 1e6);
    Ok(())
}
