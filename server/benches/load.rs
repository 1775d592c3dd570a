//! Load and fault benchmark: real `gridflex serve` processes, real HTTP, many users at once.
//!
//! **Load.** One server with the demo utility; 60 console users (signed in, opening pages as a
//! program manager or a grid operator) and 40 API clients (reading lists with a token; one
//! request in ten a write that sends a flow: an unavailability window, flow 8) for
//! `GRIDFLEX_LOAD_SECS` (default 120) with no pause between requests. Prints throughput, p50,
//! p99 and the slowest answer per kind of request, the 5xx answers and the requests that got no
//! answer within 30 s (a hang). Afterwards every queued message must have been delivered.
//!
//! **Faults.** A program side and a grid side as two processes, each on its own database,
//! talking HTTP. Writers record unavailability windows on the program side while the grid side
//! is killed for `GRIDFLEX_FAULT_DOWN_SECS` (default 60) and started again, and then the program
//! side itself is killed (SIGKILL) and restarted. Afterwards: every write the program side
//! acknowledged is stored there, every stored window reached the grid side exactly once, and no
//! message was given up.
//!
//! Runs on SQLite (unless `GRIDFLEX_BENCH_SQLITE=0`), and on PostgreSQL too when `GRIDFLEX_BENCH_PG` names a server
//! (`postgres://postgres@127.0.0.1:5432/postgres`; each run uses its own schemas and drops them).
//! Exits non-zero when a 5xx, a hang, a lost or a doubled message was seen.
//!
//! cargo bench -p server --bench load

use std::collections::{BTreeMap, HashSet};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use gridflex::db::{Db, DbOptions};
use gridflex::with_db;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const CONSOLE_USERS: usize = 60;
const API_CLIENTS: usize = 40;
const FAULT_WRITERS: usize = 20;
/// A request without an answer after this long counts as a hang.
const NO_ANSWER: Duration = Duration::from_secs(30);
const PASSWORD: &str = "gridflex-demo";

const MANAGER_PAGES: &[&str] = &[
    "/home",
    "/enrollments",
    "/enrollments?status=ACTIVE",
    "/devices",
    "/programs",
    "/network",
    "/reductions",
];
const OPERATOR_PAGES: &[&str] = &[
    "/home",
    "/events",
    "/strategies",
    "/forecast",
    "/network",
    "/devices",
];
const API_READS: &[&str] = &[
    "/api/v1/enrollments?limit=50",
    "/api/v1/devices?limit=50",
    "/api/v1/events",
    "/api/v1/programs",
    "/api/v1/network",
];

fn env_secs(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// Where a server keeps its data: a SQLite file, or a schema of a PostgreSQL database.
#[derive(Clone)]
struct Store {
    url: String,
    schema: Option<String>,
}

impl Store {
    fn args(&self) -> Vec<String> {
        let mut a = vec!["--database-url".to_string(), self.url.clone()];
        if let Some(s) = &self.schema {
            a.extend(["--database-schema".to_string(), s.clone()]);
        }
        a
    }

    async fn open(&self) -> anyhow::Result<Db> {
        let mut options = DbOptions::new(&self.url);
        options.pg_schema = self.schema.clone();
        Db::connect(&options).await
    }
}

/// Where each backend's runs keep their data, and how to remove it afterwards.
struct Backend {
    name: &'static str,
    pg: Option<String>,
    dir: tempfile::TempDir,
    schemas: Mutex<Vec<String>>,
}

impl Backend {
    /// A fresh store for one process; on PostgreSQL its schema is created here (the server
    /// expects `--database-schema` to name an existing schema).
    async fn store(&self, label: &str) -> anyhow::Result<Store> {
        Ok(match &self.pg {
            None => Store {
                url: format!(
                    "sqlite://{}",
                    self.dir.path().join(format!("{label}.db")).display()
                ),
                schema: None,
            },
            Some(url) => {
                let schema = format!("load_{}_{label}", std::process::id());
                let pool = sqlx::PgPool::connect(url).await?;
                sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
                    .execute(&pool)
                    .await?;
                pool.close().await;
                self.schemas.lock().unwrap().push(schema.clone());
                Store {
                    url: url.clone(),
                    schema: Some(schema),
                }
            }
        })
    }

    async fn cleanup(&self) {
        let Some(url) = &self.pg else { return };
        let Ok(pool) = sqlx::PgPool::connect(url).await else {
            return;
        };
        let schemas: Vec<String> = self.schemas.lock().unwrap().drain(..).collect();
        for s in schemas {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{s}\" CASCADE"))
                .execute(&pool)
                .await;
        }
    }
}

fn gridflex() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gridflex"));
    c.env("GRIDFLEX_LOG", "error")
        .env_remove("GRIDFLEX_DATABASE_URL")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    c
}

/// Runs a one-shot CLI command against `store` and returns what it printed.
async fn cli(store: &Store, args: &[&str]) -> anyhow::Result<String> {
    let out = gridflex()
        .args(store.args())
        .args(args)
        .stdout(Stdio::piped())
        .output()
        .await?;
    if !out.status.success() {
        bail!("gridflex {args:?} failed");
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// Starts `gridflex serve` and waits until it says where it listens.
async fn serve(store: &Store, extra: &[String]) -> anyhow::Result<(Child, String)> {
    let mut child = gridflex()
        .args(store.args())
        .args(["serve", "--demo"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let base = loop {
        let line = tokio::time::timeout(Duration::from_secs(600), lines.next_line())
            .await
            .context("the server did not start within 10 minutes")??
            .context("the server exited before it listened")?;
        if let Some(url) = line.strip_prefix("GridFlex is listening on ") {
            break url.trim().to_string();
        }
    };
    // Keep reading what it prints so the pipe never fills.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, base))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    ConsolePage,
    ApiRead,
    ApiWrite,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::ConsolePage => "console page",
            Kind::ApiRead => "API read",
            Kind::ApiWrite => "API write (flow 8)",
        }
    }
}

/// What one request gave: its kind, how long it took and its status (0: no answer).
#[derive(Default)]
struct Samples(Mutex<Vec<(Kind, Duration, u16)>>);

impl Samples {
    fn add(&self, kind: Kind, took: Duration, status: u16) {
        self.0.lock().unwrap().push((kind, took, status));
    }
}

fn client(cookies: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(cookies)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(NO_ANSWER)
        .pool_max_idle_per_host(2)
        .build()
        .expect("client")
}

async fn sign_in(base: &str, username: &str) -> anyhow::Result<reqwest::Client> {
    let c = client(true);
    let html = c
        .get(format!("{base}/login"))
        .header("accept", "text/html")
        .send()
        .await?
        .text()
        .await?;
    let marker = "name=\"csrf\" value=\"";
    let at = html.find(marker).context("no CSRF field on /login")? + marker.len();
    let csrf = &html[at..at + 64];
    let body = serde_urlencoded::to_string([
        ("csrf", csrf),
        ("username", username),
        ("password", PASSWORD),
        ("next", ""),
    ])?;
    let res = c
        .post(format!("{base}/fn/login"))
        .header("accept", "text/html")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("referer", format!("{base}/login"))
        .body(body)
        .send()
        .await?;
    if res.status() != 302 {
        bail!("{username} could not sign in: {}", res.status());
    }
    Ok(c)
}

/// One window per write, each at its own hour so no two overlap.
struct Windows {
    next: AtomicU64,
    base: chrono::DateTime<chrono::Utc>,
}

impl Windows {
    fn new() -> Self {
        let tomorrow = chrono::Utc::now().date_naive() + chrono::Days::new(2);
        Windows {
            next: AtomicU64::new(0),
            base: tomorrow.and_hms_opt(0, 0, 0).unwrap().and_utc(),
        }
    }

    /// The next write's tag and body.
    fn next(&self) -> (u64, serde_json::Value) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let start = self.base + chrono::Duration::hours(2 * n as i64);
        let body = serde_json::json!({
            "startsAt": start.to_rfc3339(),
            "endsAt": (start + chrono::Duration::hours(1)).to_rfc3339(),
            "reason": format!("load w{n}"),
        });
        (n, body)
    }
}

async fn write_window(
    c: &reqwest::Client,
    base: &str,
    token: &str,
    device: i64,
    body: &serde_json::Value,
) -> Result<u16, reqwest::Error> {
    Ok(
        c.post(format!("{base}/api/v1/devices/{device}/unavailability"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await?
            .status()
            .as_u16(),
    )
}

/// Devices the demo's program side knows and can tell the grid about.
async fn devices(base: &str, token: &str) -> anyhow::Result<Vec<i64>> {
    let page: serde_json::Value = client(false)
        .get(format!("{base}/api/v1/devices?limit=100"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    let ids: Vec<i64> = page["items"]
        .as_array()
        .context("devices: no items in the answer")?
        .iter()
        .filter_map(|d| d["id"].as_i64())
        .collect();
    if ids.is_empty() {
        bail!("the demo has no devices");
    }
    Ok(ids)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Prints the table; returns the number of 5xx answers and of hangs.
fn report(samples: &[(Kind, Duration, u16)], secs: f64) -> (usize, usize) {
    let mut by_kind: BTreeMap<Kind, Vec<(Duration, u16)>> = BTreeMap::new();
    for (k, d, s) in samples {
        by_kind.entry(*k).or_default().push((*d, *s));
    }
    println!(
        "{:<20} {:>9} {:>8} {:>8} {:>8} {:>9} {:>5} {:>5} {:>6}",
        "kind", "requests", "per s", "p50 ms", "p99 ms", "max ms", "4xx", "5xx", "hangs"
    );
    let mut all: Vec<(Duration, u16)> = Vec::new();
    let line = |label: &str, rows: &[(Duration, u16)]| {
        let mut d: Vec<Duration> = rows.iter().map(|r| r.0).collect();
        d.sort();
        let count = |f: &dyn Fn(u16) -> bool| rows.iter().filter(|r| f(r.1)).count();
        println!(
            "{:<20} {:>9} {:>8.1} {:>8.1} {:>8.1} {:>9.1} {:>5} {:>5} {:>6}",
            label,
            rows.len(),
            rows.len() as f64 / secs,
            percentile(&d, 0.50),
            percentile(&d, 0.99),
            percentile(&d, 1.0),
            count(&|s| (400..500).contains(&s)),
            count(&|s| s >= 500),
            count(&|s| s == 0),
        );
    };
    for (k, rows) in &by_kind {
        line(k.label(), rows);
        all.extend(rows);
    }
    line("all", &all);
    (
        all.iter().filter(|r| r.1 >= 500).count(),
        all.iter().filter(|r| r.1 == 0).count(),
    )
}

/// Messages to the grid side by status, on one database.
async fn outbox(db: &Db) -> anyhow::Result<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = with_db!(db, |p| sqlx::query_as(
        "SELECT status, COUNT(*) FROM integration_messages \
         WHERE direction = 'outbound' AND recipient = 'grid' GROUP BY status"
    )
    .fetch_all(p)
    .await)?;
    Ok(rows.into_iter().collect())
}

fn pending(statuses: &BTreeMap<String, i64>) -> i64 {
    ["queued", "delivering", "technical_failure"]
        .iter()
        .filter_map(|s| statuses.get(*s))
        .sum()
}

/// Waits until nothing is left to deliver to the grid side (or `limit` passes).
async fn drained(db: &Db, limit: Duration) -> anyhow::Result<BTreeMap<String, i64>> {
    let until = Instant::now() + limit;
    loop {
        let statuses = outbox(db).await?;
        if pending(&statuses) == 0 || Instant::now() > until {
            return Ok(statuses);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn load_run(backend: &Backend, secs: Duration) -> anyhow::Result<bool> {
    let store = backend.store("load").await?;
    cli(&store, &["migrate"]).await?;
    let started = Instant::now();
    let (mut server, base) = serve(&store, &["--listen".into(), "127.0.0.1:0".into()]).await?;
    let loaded = started.elapsed();
    let reader = cli(
        &store,
        &[
            "token",
            "create",
            "--name",
            "load-reader",
            "--role",
            "admin",
        ],
    )
    .await?;
    let writer = cli(
        &store,
        &[
            "token",
            "create",
            "--name",
            "load-writer",
            "--role",
            "program_manager",
        ],
    )
    .await?;
    let devices = Arc::new(devices(&base, &writer).await?);
    println!(
        "\nLoad — {}: demo utility loaded and serving in {:.1} s; {CONSOLE_USERS} console users and {API_CLIENTS} API clients for {} s",
        backend.name,
        loaded.as_secs_f64(),
        secs.as_secs()
    );

    let mut consoles = Vec::new();
    for i in 0..CONSOLE_USERS {
        let user = if i % 2 == 0 { "manager" } else { "operator" };
        consoles.push((sign_in(&base, user).await?, user));
    }

    let samples = Arc::new(Samples::default());
    let windows = Arc::new(Windows::new());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (i, (c, user)) in consoles.into_iter().enumerate() {
        let (samples, stop, base) = (samples.clone(), stop.clone(), base.clone());
        let pages = if user == "manager" {
            MANAGER_PAGES
        } else {
            OPERATOR_PAGES
        };
        tasks.push(tokio::spawn(async move {
            let mut n = i;
            while !stop.load(Ordering::Relaxed) {
                let page = pages[n % pages.len()];
                n += 1;
                let t = Instant::now();
                let status = match c
                    .get(format!("{base}{page}"))
                    .header("accept", "text/html")
                    .send()
                    .await
                {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        match r.bytes().await {
                            Ok(_) => s,
                            Err(_) => 0,
                        }
                    }
                    Err(_) => 0,
                };
                samples.add(Kind::ConsolePage, t.elapsed(), status);
            }
        }));
    }
    for i in 0..API_CLIENTS {
        let (samples, stop, base) = (samples.clone(), stop.clone(), base.clone());
        let (reader, writer, devices, windows) = (
            reader.clone(),
            writer.clone(),
            devices.clone(),
            windows.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let c = client(false);
            let mut n = i;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let t = Instant::now();
                if n % 10 == 0 {
                    let (_, body) = windows.next();
                    let device = devices[n % devices.len()];
                    let status = write_window(&c, &base, &writer, device, &body)
                        .await
                        .unwrap_or(0);
                    samples.add(Kind::ApiWrite, t.elapsed(), status);
                } else {
                    let path = API_READS[n % API_READS.len()];
                    let status = match c
                        .get(format!("{base}{path}"))
                        .bearer_auth(&reader)
                        .send()
                        .await
                    {
                        Ok(r) => {
                            let s = r.status().as_u16();
                            r.bytes().await.map(|_| s).unwrap_or(0)
                        }
                        Err(_) => 0,
                    };
                    samples.add(Kind::ApiRead, t.elapsed(), status);
                }
            }
        }));
    }
    let t = Instant::now();
    tokio::time::sleep(secs).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await?;
    }
    let took = t.elapsed().as_secs_f64();
    let rows = std::mem::take(&mut *samples.0.lock().unwrap());
    let (errors, hangs) = report(&rows, took);

    let db = store.open().await?;
    let statuses = drained(&db, Duration::from_secs(120)).await?;
    let delivered = statuses.get("delivered").copied().unwrap_or(0);
    let parked = statuses.get("parked").copied().unwrap_or(0);
    println!(
        "messages to the grid side: {delivered} delivered, {} still pending 2 min after the load, {parked} given up",
        pending(&statuses)
    );
    db.close().await;
    server.kill().await?;
    Ok(errors == 0 && hangs == 0 && pending(&statuses) == 0 && parked == 0)
}

struct Side {
    store: Store,
    port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl Side {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn start(&mut self) -> anyhow::Result<()> {
        let mut args = vec!["--listen".to_string(), format!("127.0.0.1:{}", self.port)];
        args.extend(self.args.iter().cloned());
        let (child, _) = serve(&self.store, &args).await?;
        self.child = Some(child);
        Ok(())
    }

    async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill().await?;
        }
        Ok(())
    }
}

async fn fault_run(backend: &Backend, down: Duration) -> anyhow::Result<bool> {
    let (program_store, grid_store) = (
        backend.store("programs").await?,
        backend.store("grid").await?,
    );
    let (program_port, grid_port) = (free_port()?, free_port()?);
    for s in [&program_store, &grid_store] {
        cli(s, &["migrate"]).await?;
    }
    // Each side holds a token for the other, scoped to the flows the other sends.
    let to_grid = cli(
        &grid_store,
        &[
            "token",
            "create",
            "--name",
            "program-side",
            "--role",
            "integration",
            "--scope",
            "programs",
        ],
    )
    .await?;
    let to_programs = cli(
        &program_store,
        &[
            "token",
            "create",
            "--name",
            "grid-side",
            "--role",
            "integration",
            "--scope",
            "grid",
        ],
    )
    .await?;
    let writer = cli(
        &program_store,
        &[
            "token",
            "create",
            "--name",
            "fault-writer",
            "--role",
            "program_manager",
        ],
    )
    .await?;
    let mut grid = Side {
        store: grid_store.clone(),
        port: grid_port,
        args: vec![
            "--programs-url".into(),
            format!("http://127.0.0.1:{program_port}"),
            "--programs-token".into(),
            to_programs,
        ],
        child: None,
    };
    let mut programs = Side {
        store: program_store.clone(),
        port: program_port,
        args: vec![
            "--grid-url".into(),
            format!("http://127.0.0.1:{grid_port}"),
            "--grid-token".into(),
            to_grid,
            "--peer-timeout-secs".into(),
            "5".into(),
        ],
        child: None,
    };
    grid.start().await?;
    programs.start().await?;
    let base = programs.base();
    let devices = Arc::new(devices(&base, &writer).await?);

    println!(
        "\nFaults — {}: program side and grid side as two processes over HTTP, {FAULT_WRITERS} writers",
        backend.name
    );
    let windows = Arc::new(Windows::new());
    let acknowledged = Arc::new(Mutex::new(HashSet::new()));
    let refused = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..FAULT_WRITERS {
        let (windows, acknowledged, refused, stop, devices, writer, base) = (
            windows.clone(),
            acknowledged.clone(),
            refused.clone(),
            stop.clone(),
            devices.clone(),
            writer.clone(),
            base.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let c = client(false);
            let mut n = i;
            while !stop.load(Ordering::Relaxed) {
                n += FAULT_WRITERS;
                let (tag, body) = windows.next();
                match write_window(&c, &base, &writer, devices[n % devices.len()], &body).await {
                    Ok(s) if (200..300).contains(&s) => {
                        acknowledged.lock().unwrap().insert(tag);
                    }
                    // While the program side is down (or dies mid-request) nothing is promised.
                    _ => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    grid.kill().await?;
    println!("{:>6.1} s  grid side killed", t0.elapsed().as_secs_f64());
    tokio::time::sleep(down).await;
    grid.start().await?;
    println!(
        "{:>6.1} s  grid side started again",
        t0.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(20)).await;
    programs.kill().await?;
    println!(
        "{:>6.1} s  program side killed (SIGKILL)",
        t0.elapsed().as_secs_f64()
    );
    programs.start().await?;
    println!(
        "{:>6.1} s  program side started again",
        t0.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(20)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await?;
    }
    println!("{:>6.1} s  writes stopped", t0.elapsed().as_secs_f64());

    let pdb = program_store.open().await?;
    // A message claimed when the program side died waits out its lease (60 s) before it is sent again.
    let statuses = drained(&pdb, Duration::from_secs(300)).await?;
    println!(
        "{:>6.1} s  outbox drained: {statuses:?}",
        t0.elapsed().as_secs_f64()
    );
    let gdb = grid_store.open().await?;
    let stored: Vec<String> = with_db!(&pdb, |p| sqlx::query_scalar(
        "SELECT reason FROM unavailability_windows WHERE reason LIKE 'load w%'"
    )
    .fetch_all(p)
    .await)?;
    let on_grid: Vec<String> = with_db!(&gdb, |p| sqlx::query_scalar(
        "SELECT reason FROM grid_unavailability WHERE reason LIKE 'load w%'"
    )
    .fetch_all(p)
    .await)?;
    let sent: Vec<String> = with_db!(&pdb, |p| {
        sqlx::query_scalar(
        "SELECT message_id FROM integration_messages WHERE direction = 'outbound' AND recipient = 'grid'"
    )
    .fetch_all(p)
    .await
    })?;
    let received: Vec<String> = with_db!(&gdb, |p| sqlx::query_scalar(
        "SELECT message_id FROM integration_messages WHERE direction = 'inbound'"
    )
    .fetch_all(p)
    .await)?;
    let attempts: i64 = with_db!(&pdb, |p| {
        sqlx::query_scalar(
        "SELECT COUNT(*) FROM integration_attempts a JOIN integration_messages m ON m.id = a.message_pk \
         WHERE m.direction = 'outbound' AND m.recipient = 'grid'"
    )
    .fetch_one(p)
    .await
    })?;
    pdb.close().await;
    gdb.close().await;
    programs.kill().await?;
    grid.kill().await?;

    let acknowledged = acknowledged.lock().unwrap().clone();
    let stored_set: HashSet<&String> = stored.iter().collect();
    let lost = acknowledged
        .iter()
        .filter(|n| !stored_set.contains(&format!("load w{n}")))
        .count();
    let grid_set: HashSet<&String> = on_grid.iter().collect();
    let doubled_on_grid = on_grid.len() - grid_set.len();
    let missing_on_grid = stored_set.difference(&grid_set).count();
    let received_set: HashSet<&String> = received.iter().collect();
    let undelivered = sent.iter().filter(|m| !received_set.contains(m)).count();
    let parked = statuses.get("parked").copied().unwrap_or(0);
    println!(
        "writes acknowledged {}, not answered while the program side was down {}, stored {} (acknowledged but lost: {lost})",
        acknowledged.len(),
        refused.load(Ordering::Relaxed),
        stored.len()
    );
    println!(
        "messages to the grid {}, sending attempts {attempts} ({} retries), received by the grid {} (missing {undelivered}), given up {parked}",
        sent.len(),
        attempts - sent.len() as i64,
        received.len()
    );
    println!(
        "windows on the grid side {} (missing {missing_on_grid}, doubled {doubled_on_grid}) — {}",
        on_grid.len(),
        if lost + missing_on_grid + doubled_on_grid + undelivered == 0 && parked == 0 {
            "every one exactly once"
        } else {
            "NOT exactly once"
        }
    );
    Ok(lost + missing_on_grid + doubled_on_grid + undelivered == 0
        && parked == 0
        && pending(&statuses) == 0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secs = env_secs("GRIDFLEX_LOAD_SECS", 120);
    let down = env_secs("GRIDFLEX_FAULT_DOWN_SECS", 60);
    let mut backends = Vec::new();
    // `GRIDFLEX_BENCH_SQLITE=0` leaves SQLite out (a PostgreSQL-only run).
    if std::env::var("GRIDFLEX_BENCH_SQLITE").as_deref() != Ok("0") {
        backends.push(Backend {
            name: "SQLite",
            pg: None,
            dir: tempfile::tempdir()?,
            schemas: Mutex::default(),
        });
    }
    if let Ok(url) = std::env::var("GRIDFLEX_BENCH_PG") {
        backends.push(Backend {
            name: "PostgreSQL",
            pg: Some(url),
            dir: tempfile::tempdir()?,
            schemas: Mutex::default(),
        });
    }
    println!(
        "GridFlex load and fault benchmark ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut ok = true;
    for b in &backends {
        let load = load_run(b, secs).await;
        let faults = fault_run(b, down).await;
        b.cleanup().await;
        ok &= load? & faults?;
    }
    if !ok {
        bail!("a 5xx, a hang, or a lost, doubled or undelivered message was seen (see above)");
    }
    Ok(())
}
