//! OpenADR 3.1 side-by-side benchmark (issue 13, "Speed"): the same three requests against
//! any OpenADR 3.1 VTN — GridFlex on PostgreSQL or SQLite, or openleadr-vtn 0.2.8 — with 32
//! concurrent clients. `benches/openadr-vtn/run.sh` sets both servers up and calls this
//! binary in its three modes (environment variable `OADR_BENCH_MODE`):
//!
//! - `drive` (default): gets a token for a VEN client and for a business-logic (BL) client from
//!   the token endpoint, then runs `OADR_BENCH_CLIENTS` (32) clients with no pause between
//!   requests for `OADR_BENCH_SECS` (20) seconds per kind and prints requests/s, p50 and p99 of
//!   `GET events?limit=50` as the VEN (first page), `GET programs?limit=50` as the BL client and
//!   `POST reports` as the VEN (a usage report on the first event of the VEN's first page, for
//!   the event's first resource target, or `meter-1` when the event names none). Any answer
//!   other than 2xx counts as an error; the run exits non-zero after errors.
//!   Settings: `OADR_BENCH_BASE` (the VTN's base URL, ending in `/`), `OADR_BENCH_TOKEN_URL`
//!   (default: `BASE` + `auth/token`), `OADR_BENCH_VEN_ID`, `OADR_BENCH_VEN_SECRET`,
//!   `OADR_BENCH_BL_ID`, `OADR_BENCH_BL_SECRET`; `OADR_BENCH_LABEL` names the server in the
//!   output and `OADR_BENCH_OUT` (optional) is a file each row is appended to (tab-separated).
//! - `seed-gridflex`: migrates the empty GridFlex database `GRIDFLEX_DATABASE_URL` and writes
//!   the benchmark's objects straight into the grid side's tables in one transaction, as the
//!   flows and an approved event would leave them (GridFlex's VTN publishes but has no
//!   endpoint to create programs, VENs or events): 1,000 linked programs, 2,000 aggregators
//!   (the VENs) with 4 devices each, 10,000 scheduled events of one 1-hour stage reserving 2
//!   devices of one aggregator in one program — half of them the benchmark VEN's (`AGG0000`),
//!   the rest spread over the other aggregators. Then it creates the two OpenADR clients with
//!   GridFlex's own `create_client` (audited) and writes their credentials as `KEY=VALUE`
//!   lines to `OADR_BENCH_CREDS`.
//! - `seed-openleadr`: creates the same numbers through openleadr-vtn's own API as its BL
//!   client: 2,000 VENs (`bench-ven`, owned by client `ven-client-client-id` of its test
//!   users, and `ven-1` … `ven-1999`), 1,000 programs and 10,000 events with 4 intervals each,
//!   even-numbered ones targeted at `bench-ven` and the others at one of the other VENs.
//!
//! cargo bench -p server --bench openadr   (with the variables above; see run.sh)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, DurationRound, NaiveDate, Utc};
use gridflex::db::{insert_rows, reserve_ids, Arg, Db, DbOptions};
use gridflex::with_tx;
use serde_json::{json, Value};

const PROGRAMS: usize = 1_000;
const VENS: usize = 2_000;
const EVENTS: usize = 10_000;
const DEVICES_PER_VEN: usize = 4;
const DEVICES_PER_EVENT: usize = 2;

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("set {name}"))
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match env_or("OADR_BENCH_MODE", "drive").as_str() {
        "drive" => drive().await,
        "seed-gridflex" => seed_gridflex().await,
        "seed-openleadr" => seed_openleadr().await,
        other => {
            bail!("OADR_BENCH_MODE: unknown mode `{other}` (drive, seed-gridflex, seed-openleadr)")
        }
    }
}

/// Where every event starts: well ahead, so GridFlex's scheduler leaves them alone.
fn first_start() -> DateTime<Utc> {
    (Utc::now() + chrono::Duration::days(60))
        .duration_trunc(chrono::Duration::hours(1))
        .expect("hour")
}

// ---------------------------------------------------------------------------------------
// Seeding GridFlex
// ---------------------------------------------------------------------------------------

async fn seed_gridflex() -> anyhow::Result<()> {
    let url = env("GRIDFLEX_DATABASE_URL")?;
    let creds = env("OADR_BENCH_CREDS")?;
    let db = Db::connect(&DbOptions::new(&url)).await?;
    gridflex::startup::migrate(&db).await?;
    let t0 = Instant::now();
    let now = Utc::now();
    let start = first_start();
    let mut tx = db.begin().await?;
    let existing: i64 = with_tx!(&mut tx, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM grid_aggregators"
    )
    .fetch_one(c)
    .await?);
    if existing > 0 {
        bail!("the database already holds aggregators: give seed-gridflex an empty one");
    }

    let strategy = reserve_ids(&mut tx, "strategies", 1).await?[0];
    insert_rows(
        &mut tx,
        "strategies",
        &[
            "id",
            "name",
            "description",
            "zone_node_ids",
            "program_codes",
            "device_groups",
            "event_type",
            "priority",
            "ba_check",
            "objective",
            "control_level",
            "override_rules",
            "created_by",
            "created_at",
            "updated_at",
        ],
        &[vec![
            strategy.into(),
            "OpenADR bench".into(),
            "benchmark events".into(),
            "[]".into(),
            "[]".into(),
            "{\"deviceTypes\":[],\"feederIds\":[]}".into(),
            "Economic".into(),
            2i64.into(),
            false.into(),
            "Manual".into(),
            "full".into(),
            false.into(),
            "bench".into(),
            now.into(),
            now.into(),
        ]],
    )
    .await?;

    let program = |i: usize| format!("P{i:04}");
    let effective = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
    let rows: Vec<Vec<Arg>> = (0..PROGRAMS)
        .map(|i| {
            vec![
                program(i).into(),
                effective.into(),
                "{}".into(),
                true.into(),
                now.into(),
            ]
        })
        .collect();
    insert_rows(
        &mut tx,
        "grid_program_rules",
        &[
            "program_code",
            "effective_from",
            "rule_json",
            "linked",
            "updated_at",
        ],
        &rows,
    )
    .await?;

    let aggregator = |i: usize| format!("AGG{i:04}");
    let rows: Vec<Vec<Arg>> = (0..VENS)
        .map(|i| {
            vec![
                aggregator(i).into(),
                format!("Aggregator {i}").into(),
                "ACTIVE".into(),
                effective.into(),
                "Bench contact".into(),
                format!("agg{i}@example.com").into(),
                program(i % PROGRAMS).into(),
                now.into(),
            ]
        })
        .collect();
    insert_rows(
        &mut tx,
        "grid_aggregators",
        &[
            "external_ref",
            "name",
            "status",
            "start_date",
            "contact_name",
            "contact_email",
            "program_codes",
            "updated_at",
        ],
        &rows,
    )
    .await?;

    let device_ids = reserve_ids(&mut tx, "grid_devices", VENS * DEVICES_PER_VEN).await?;
    let rows: Vec<Vec<Arg>> = device_ids
        .iter()
        .enumerate()
        .map(|(k, id)| {
            let (agg, n) = (k / DEVICES_PER_VEN, k % DEVICES_PER_VEN);
            vec![
                (*id).into(),
                "BENCHHE".into(),
                format!("{}-D{n}", aggregator(agg)).into(),
                (k as i64 + 1).into(),
                program(agg % PROGRAMS).into(),
                "thermostat".into(),
                1.5f64.into(),
                "registered".into(),
                now.into(),
                now.into(),
                Arg::OptText(Some(aggregator(agg))),
            ]
        })
        .collect();
    insert_rows(
        &mut tx,
        "grid_devices",
        &[
            "id",
            "head_end",
            "nic_id",
            "enrollment_id",
            "program_code",
            "device_type",
            "nominal_kw",
            "status",
            "registered_at",
            "updated_at",
            "aggregator_ref",
        ],
        &rows,
    )
    .await?;

    // Event i: aggregator 0 (the benchmark VEN) when i is even, else one of the others.
    let event_aggregator = |i: usize| {
        if i.is_multiple_of(2) {
            0
        } else {
            1 + (i / 2) % (VENS - 1)
        }
    };
    let event_ids = reserve_ids(&mut tx, "events", EVENTS).await?;
    let stage_ids = reserve_ids(&mut tx, "event_stages", EVENTS).await?;
    let mut events = Vec::with_capacity(EVENTS);
    let mut stages = Vec::with_capacity(EVENTS);
    let mut stage_devices = Vec::with_capacity(EVENTS * DEVICES_PER_EVENT);
    for i in 0..EVENTS {
        let (event, stage) = (event_ids[i], stage_ids[i]);
        let starts = start + chrono::Duration::minutes(15 * i as i64);
        let ends = starts + chrono::Duration::hours(1);
        let prog = program(i % PROGRAMS);
        events.push(vec![
            event.into(),
            format!("EV-{i:05}").into(),
            format!("Bench event {i}").into(),
            strategy.into(),
            "Scheduled".into(),
            starts.into(),
            ends.into(),
            "[]".into(),
            format!("[\"{prog}\"]").into(),
            "{\"deviceTypes\":[],\"feederIds\":[]}".into(),
            "Economic".into(),
            2i64.into(),
            false.into(),
            "Manual".into(),
            "full".into(),
            false.into(),
            "bench".into(),
            now.into(),
            now.into(),
        ]);
        stages.push(vec![
            stage.into(),
            event.into(),
            1i64.into(),
            format!("EV-{i:05}-S1").into(),
            starts.into(),
            ends.into(),
            3.0f64.into(),
            (DEVICES_PER_EVENT as i64).into(),
            "scheduled".into(),
        ]);
        let agg = event_aggregator(i);
        for n in 0..DEVICES_PER_EVENT {
            // Consecutive events of one aggregator take turns among its devices.
            let slot = (i / 2 * DEVICES_PER_EVENT + n) % DEVICES_PER_VEN;
            stage_devices.push(vec![
                stage.into(),
                event.into(),
                device_ids[agg * DEVICES_PER_VEN + slot].into(),
                prog.clone().into(),
                1.5f64.into(),
                "reserved".into(),
            ]);
        }
    }
    insert_rows(
        &mut tx,
        "events",
        &[
            "id",
            "code",
            "name",
            "strategy_id",
            "status",
            "starts_at",
            "ends_at",
            "zone_node_ids",
            "program_codes",
            "device_groups",
            "event_type",
            "priority",
            "ba_check",
            "objective",
            "control_level",
            "override_rules",
            "created_by",
            "created_at",
            "updated_at",
        ],
        &events,
    )
    .await?;
    insert_rows(
        &mut tx,
        "event_stages",
        &[
            "id",
            "event_id",
            "seq",
            "external_id",
            "starts_at",
            "ends_at",
            "expected_kw",
            "device_count",
            "status",
        ],
        &stages,
    )
    .await?;
    insert_rows(
        &mut tx,
        "event_stage_devices",
        &[
            "stage_id",
            "event_id",
            "grid_device_id",
            "program_code",
            "expected_kw",
            "status",
        ],
        &stage_devices,
    )
    .await?;
    // The events are written as approved: what they publish is kept as an approval keeps it.
    gridflex::db::openadr::rebuild_published(&mut tx).await?;
    tx.commit().await?;
    if let Db::Postgres(p) = &db {
        sqlx::query("ANALYZE").execute(p).await?;
    }
    let seeded = t0.elapsed();

    let ven_scopes: Vec<String> = ["read_targets", "read_ven_objects", "write_reports"]
        .map(String::from)
        .to_vec();
    let bl_scopes: Vec<String> = [
        "read_all",
        "write_programs",
        "write_events",
        "write_vens",
        "write_subscriptions",
    ]
    .map(String::from)
    .to_vec();
    let ven = gridflex::openadr::auth::create_client(
        &db,
        "bench",
        "bench-ven",
        &ven_scopes,
        Some(&aggregator(0)),
    )
    .await?;
    let bl =
        gridflex::openadr::auth::create_client(&db, "bench", "bench-bl", &bl_scopes, None).await?;
    std::fs::write(
        &creds,
        format!(
            "OADR_BENCH_VEN_ID={}\nOADR_BENCH_VEN_SECRET={}\nOADR_BENCH_BL_ID={}\nOADR_BENCH_BL_SECRET={}\n",
            ven.client_id, ven.secret, bl.client_id, bl.secret
        ),
    )?;
    println!(
        "seeded GridFlex ({}): {PROGRAMS} programs, {VENS} VENs, {} devices, {EVENTS} events ({} for {}) in {:.1} s; credentials in {creds}",
        db.backend_name(),
        VENS * DEVICES_PER_VEN,
        EVENTS / 2,
        aggregator(0),
        seeded.as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------------------

async fn token(
    http: &reqwest::Client,
    url: &str,
    id: &str,
    secret: &str,
) -> anyhow::Result<String> {
    let res = http
        .post(url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or_default();
    match body["access_token"].as_str() {
        Some(t) if status.is_success() => Ok(t.to_string()),
        _ => bail!("token for {id}: {status} {body}"),
    }
}

fn token_url(base: &str) -> String {
    std::env::var("OADR_BENCH_TOKEN_URL").unwrap_or_else(|_| format!("{base}auth/token"))
}

fn base_url() -> anyhow::Result<String> {
    let mut base = env("OADR_BENCH_BASE")?;
    if !base.ends_with('/') {
        base.push('/');
    }
    Ok(base)
}

async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<Value> {
    let res = http.get(url).bearer_auth(token).send().await?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!("GET {url}: {status} {body}");
    }
    Ok(body)
}

async fn post_json(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let res = http.post(url).bearer_auth(token).json(body).send().await?;
    let status = res.status();
    let answer: Value = res.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!("POST {url}: {status} {answer}\nsent: {body}");
    }
    Ok(answer)
}

// ---------------------------------------------------------------------------------------
// Seeding openleadr-vtn through its API
// ---------------------------------------------------------------------------------------

/// Posts `bodies` to `url` with `workers` at a time; answers the created objects in order.
async fn post_all(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    bodies: Vec<Value>,
    workers: usize,
) -> anyhow::Result<Vec<Value>> {
    let bodies = Arc::new(bodies);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (http, url, token) = (http.clone(), url.to_string(), token.to_string());
        let (bodies, next) = (bodies.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                out.push((i, post_json(&http, &url, &token, body).await?));
            }
            anyhow::Ok(out)
        }));
    }
    let mut all = BTreeMap::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all.into_values().collect())
}

/// An event's four 15-minute intervals, each asking for a reduction and a SIMPLE level (the
/// shape GridFlex publishes for a 1-hour stage).
fn intervals(start: DateTime<Utc>) -> Value {
    let list: Vec<Value> = (0..4)
        .map(|k| {
            let t = start + chrono::Duration::minutes(15 * k);
            json!({
                "id": k,
                "intervalPeriod": {"start": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "duration": "PT15M"},
                "payloads": [
                    {"type": "IMPORT_CAPACITY_SUBSCRIPTION", "values": [3.0]},
                    {"type": "SIMPLE", "values": [3]}
                ]
            })
        })
        .collect();
    Value::Array(list)
}

async fn seed_openleadr() -> anyhow::Result<()> {
    let base = base_url()?;
    let http = reqwest::Client::new();
    let bl = token(
        &http,
        &token_url(&base),
        &env("OADR_BENCH_BL_ID")?,
        &env("OADR_BENCH_BL_SECRET")?,
    )
    .await?;
    let ven_client = env_or("OADR_BENCH_VEN_CLIENT", "ven-client-client-id");
    let t0 = Instant::now();
    let vens: Vec<Value> = (0..VENS)
        .map(|i| {
            let (client, name) = if i == 0 {
                (ven_client.clone(), "bench-ven".to_string())
            } else {
                (format!("ven-{i}-client"), format!("ven-{i}"))
            };
            json!({"objectType": "BL_VEN_REQUEST", "clientID": client, "venName": name, "targets": [name]})
        })
        .collect();
    post_all(&http, &format!("{base}vens"), &bl, vens, 8).await?;
    let programs: Vec<Value> = (0..PROGRAMS)
        .map(|i| {
            json!({
                "objectType": "PROGRAM",
                "programName": format!("P{i:04}"),
                "payloadDescriptors": [
                    {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "IMPORT_CAPACITY_SUBSCRIPTION", "units": "KW"},
                    {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "SIMPLE"}
                ]
            })
        })
        .collect();
    let created = post_all(&http, &format!("{base}programs"), &bl, programs, 8).await?;
    let program_ids: Vec<String> = created
        .iter()
        .map(|p| {
            p["id"]
                .as_str()
                .map(String::from)
                .context("program without id")
        })
        .collect::<anyhow::Result<_>>()?;
    let start = first_start();
    let events: Vec<Value> = (0..EVENTS)
        .map(|i| {
            let target = if i % 2 == 0 {
                "bench-ven".to_string()
            } else {
                format!("ven-{}", 1 + (i / 2) % (VENS - 1))
            };
            let starts = start + chrono::Duration::minutes(15 * i as i64);
            json!({
                "objectType": "EVENT",
                "programID": program_ids[i % PROGRAMS],
                "eventName": format!("EV-{i:05} Bench event {i}"),
                "priority": 2,
                "targets": [target],
                "payloadDescriptors": [
                    {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "IMPORT_CAPACITY_SUBSCRIPTION", "units": "KW"},
                    {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "SIMPLE"}
                ],
                "intervalPeriod": {"start": starts.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "duration": "PT1H"},
                "intervals": intervals(starts),
            })
        })
        .collect();
    post_all(&http, &format!("{base}events"), &bl, events, 8).await?;
    println!(
        "seeded openleadr-vtn through its API: {PROGRAMS} programs, {VENS} VENs, {EVENTS} events ({} for bench-ven) in {:.1} s",
        EVENTS / 2,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The load driver
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Kind {
    VenEvents,
    BlPrograms,
    VenReport,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::VenEvents => "GET events?limit=50 (VEN)",
            Kind::BlPrograms => "GET programs?limit=50 (BL)",
            Kind::VenReport => "POST reports (VEN)",
        }
    }
}

struct Outcome {
    ok: usize,
    errors: usize,
    first_error: Option<String>,
    micros: Vec<u64>,
    elapsed: Duration,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

async fn run_kind(
    http: &reqwest::Client,
    clients: usize,
    secs: Duration,
    request: Arc<dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync>,
) -> Outcome {
    let t0 = Instant::now();
    let deadline = t0 + secs;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, request) = (http.clone(), request.clone());
        tasks.push(tokio::spawn(async move {
            let (mut micros, mut errors, mut first_error) = (Vec::new(), 0usize, None);
            while Instant::now() < deadline {
                let t = Instant::now();
                let res = request(&http).send().await;
                let outcome = match res {
                    Ok(r) => {
                        let status = r.status();
                        let body = r.bytes().await;
                        match body {
                            Ok(_) if status.is_success() => Ok(()),
                            Ok(b) => Err(format!("{status} {}", String::from_utf8_lossy(&b))),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    Err(e) => Err(e.to_string()),
                };
                match outcome {
                    Ok(()) => micros.push(t.elapsed().as_micros() as u64),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (micros, errors, first_error)
        }));
    }
    let mut out = Outcome {
        ok: 0,
        errors: 0,
        first_error: None,
        micros: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (micros, errors, first) = t.await.expect("client task");
        out.errors += errors;
        if out.first_error.is_none() {
            out.first_error = first;
        }
        out.micros.extend(micros);
    }
    out.elapsed = t0.elapsed();
    out.ok = out.micros.len();
    out.micros.sort_unstable();
    out
}

async fn drive() -> anyhow::Result<()> {
    let base = base_url()?;
    let label = env_or("OADR_BENCH_LABEL", &base);
    let clients: usize = env_or("OADR_BENCH_CLIENTS", "32").parse()?;
    let secs = Duration::from_secs(env_or("OADR_BENCH_SECS", "20").parse()?);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let tokens = token_url(&base);
    let ven = token(
        &http,
        &tokens,
        &env("OADR_BENCH_VEN_ID")?,
        &env("OADR_BENCH_VEN_SECRET")?,
    )
    .await?;
    let bl = token(
        &http,
        &tokens,
        &env("OADR_BENCH_BL_ID")?,
        &env("OADR_BENCH_BL_SECRET")?,
    )
    .await?;

    // What the VEN sees decides the report it posts.
    let events_url = format!("{base}events?limit=50");
    let page = get_json(&http, &events_url, &ven).await?;
    let page = page.as_array().context("events: not a list")?;
    if page.len() != 50 {
        bail!(
            "the VEN's first page of events holds {} events, not 50: is the VTN seeded?",
            page.len()
        );
    }
    let first = &page[0];
    let event_id = first["id"]
        .as_str()
        .context("event without id")?
        .to_string();
    let resource = first["targets"]
        .as_array()
        .and_then(|t| t.get(1))
        .and_then(Value::as_str)
        .unwrap_or("meter-1")
        .to_string();
    let start = first["intervals"][0]["intervalPeriod"]["start"]
        .as_str()
        .or(first["intervalPeriod"]["start"].as_str())
        .context("event without a start")?
        .to_string();
    let report = json!({
        "objectType": "REPORT",
        "eventID": event_id,
        "clientName": "bench-ven",
        "resources": [{
            "resourceName": resource,
            "intervalPeriod": {"start": start, "duration": "PT15M"},
            "intervals": [{"id": 0, "payloads": [{"type": "USAGE", "values": [0.5]}]}]
        }]
    });
    let programs_url = format!("{base}programs?limit=50");
    let programs = get_json(&http, &programs_url, &bl).await?;
    if programs.as_array().map_or(0, Vec::len) != 50 {
        bail!("the first page of programs does not hold 50 programs: is the VTN seeded?");
    }
    let reports_url = format!("{base}reports");
    post_json(&http, &reports_url, &ven, &report).await?;

    let kinds = [Kind::VenEvents, Kind::BlPrograms, Kind::VenReport];
    let report = Arc::new(report.to_string());
    let mut failed = false;
    println!(
        "{label}: {clients} clients, {} s per kind (after a 2 s warm-up)",
        secs.as_secs()
    );
    for kind in kinds {
        let request: Arc<dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync> =
            match kind {
                Kind::VenEvents => {
                    let (u, t) = (events_url.clone(), ven.clone());
                    Arc::new(move |h| h.get(&u).bearer_auth(&t))
                }
                Kind::BlPrograms => {
                    let (u, t) = (programs_url.clone(), bl.clone());
                    Arc::new(move |h| h.get(&u).bearer_auth(&t))
                }
                Kind::VenReport => {
                    let (u, t, b) = (reports_url.clone(), ven.clone(), report.clone());
                    Arc::new(move |h| {
                        h.post(&u)
                            .bearer_auth(&t)
                            .header("content-type", "application/json")
                            .body(b.as_str().to_string())
                    })
                }
            };
        run_kind(&http, clients, Duration::from_secs(2), request.clone()).await;
        let o = run_kind(&http, clients, secs, request).await;
        let rps = o.ok as f64 / o.elapsed.as_secs_f64();
        let (p50, p99) = (percentile(&o.micros, 0.50), percentile(&o.micros, 0.99));
        println!(
            "  {:<28} {:>9.1} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   {} requests, {} errors",
            kind.name(),
            rps,
            p50,
            p99,
            o.ok,
            o.errors
        );
        if let Some(e) = &o.first_error {
            println!("    first error: {e}");
            failed = true;
        }
        if let Ok(path) = std::env::var("OADR_BENCH_OUT") {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            writeln!(
                f,
                "{label}\t{}\t{rps:.0}\t{p50:.2}\t{p99:.2}\t{}",
                kind.name(),
                o.errors
            )?;
        }
    }
    if failed {
        bail!("some requests failed");
    }
    Ok(())
}
