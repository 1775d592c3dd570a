//! Integration benchmark: enrollment-request ingestion (batches of 1,000 records, each batch
//! one committed transaction), in-process delivery of queued messages and the network model
//! export (flow 11) with its application, on SQLite and, when
//! GRIDFLEX_BENCH_PG names a server, on PostgreSQL too.
//!
//! Each figure is printed with its floor, measured in the same run on the same database: a
//! raw multi-row insert of as many rows as the path writes (ingestion: an enrollment and a
//! device row per record; delivery: a message row per message) into an unindexed scratch
//! table, in the same transactions (one per batch). The ratio holds on a noisy machine.
//!
//! cargo bench -p server --bench integration --profile dev

mod common;

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use gridflex::clock::SystemClock;
use gridflex::db::{Db, DbOptions};
use gridflex::demo::{self, DemoSize};
use gridflex::integration::inbound::{receive, Side};
use gridflex::integration::message::{enqueue, new_message_id, NewMessage};
use gridflex::integration::peer::Peers;
use gridflex::integration::worker::{DeliveryWorker, RetryPolicy};
use gridflex::with_db;
use serde_json::json;

const BATCHES: usize = 10;
const BATCH: usize = 1_000;
const MESSAGES: usize = 10_000;
const DELIVERY_BATCH: usize = 500;

/// The floor: `rows` rows inserted raw into an unindexed scratch table, `per_tx` rows a
/// transaction in multi-row statements; seconds taken.
async fn floor(db: &Db, rows: usize, per_tx: usize) -> anyhow::Result<f64> {
    use gridflex::db::{insert_rows, Arg};
    with_db!(db, |p| sqlx::query("DROP TABLE IF EXISTS bench_floor")
        .execute(p)
        .await
        .map(|_| ()))?;
    with_db!(db, |p| sqlx::query(
        "CREATE TABLE bench_floor (n BIGINT, a TEXT, b TEXT, c TEXT, kw DOUBLE PRECISION, at TEXT)"
    )
    .execute(p)
    .await
    .map(|_| ()))?;
    let now = Utc::now().to_rfc3339();
    let started = Instant::now();
    for from in (0..rows).step_by(per_tx) {
        let batch: Vec<Vec<Arg>> = (from..(from + per_tx).min(rows))
            .map(|n| {
                vec![
                    Arg::Int(n as i64),
                    Arg::Text(format!("BP{n:08}")),
                    Arg::Text(format!("BE{n:010X}")),
                    Arg::Text("thermostat".into()),
                    Arg::Float(2.5),
                    Arg::Text(now.clone()),
                ]
            })
            .collect();
        let mut tx = db.begin().await?;
        insert_rows(
            &mut tx,
            "bench_floor",
            &["n", "a", "b", "c", "kw", "at"],
            &batch,
        )
        .await?;
        tx.commit().await?;
    }
    let secs = started.elapsed().as_secs_f64();
    with_db!(db, |p| sqlx::query("DROP TABLE bench_floor")
        .execute(p)
        .await
        .map(|_| ()))?;
    Ok(secs)
}

/// Prints a figure (units per second) next to its floor and their ratio.
fn report(name: &str, what: &str, units: usize, unit: &str, secs: f64, floor_secs: f64) {
    let rate = units as f64 / secs;
    let floor_rate = units as f64 / floor_secs;
    println!(
        "{name:<10} {what:<29} {units} {unit} in {secs:.2} s = {rate:>8.0} {unit}/s; floor {floor_rate:>8.0} {unit}/s; ratio {:.2}",
        rate / floor_rate
    );
}

async fn run(name: &str, db: Db) -> anyhow::Result<()> {
    demo::load_demo(
        &db,
        gridflex::calendar::Calendar::default(),
        DemoSize(2_000),
        demo::DEFAULT_SEED,
    )
    .await?;
    let transformers: Vec<String> = with_db!(&db, |p| sqlx::query_scalar(
        "SELECT code FROM network_nodes WHERE kind = 'transformer' ORDER BY id"
    )
    .fetch_all(p)
    .await)?;

    // Ingestion. The requests are written before the clock starts: the figure is the
    // receiving side's.
    let mut n = 0usize;
    let mut bodies = Vec::with_capacity(BATCHES);
    for b in 0..BATCHES {
        let records: Vec<_> = (0..BATCH)
            .map(|i| {
                n += 1;
                json!({
                    "recordId": format!("r{n}"),
                    "customerInfo": {"personId": format!("BP{n:08}"), "accountId": format!("BA{n:08}"), "name": format!("Bench Customer {n}")},
                    "programInfo": {"programCode": "SMT-BYOD"},
                    "locationInfo": {"servicePointId": format!("BSP{n:08}"), "premiseId": format!("BPR{n:08}"),
                        "address": {"street": "1 Bench St", "city": "Riverside", "postalCode": "60100"},
                        "timeZone": "America/Chicago", "transformerCode": transformers[(b * BATCH + i) % transformers.len()]},
                    "enrollmentSource": "X1BY", "ownership": "owned", "startDate": "2026-06-01",
                    "assetInfo": {"assetList": [{"headEndSystem": "ECOBEE", "nicId": format!("BE{n:010X}"), "deviceType": "thermostat",
                        "specification": "ecobee3 lite", "nominalKw": 2.5}]}
                })
            })
            .collect();
        let body = json!({"messageId": format!("bench-{b}"), "flow": "enrollment_request", "sentAt": Utc::now(),
                          "payload": {"transactionId": format!("B-{b}"), "records": records}})
        .to_string();
        bodies.push(body);
    }
    let started = Instant::now();
    for body in &bodies {
        let answer = receive(
            &db,
            &gridflex::startup::inbound_handlers(),
            Side::Programs,
            "bench",
            body.as_bytes(),
            Default::default(),
            chrono::Utc::now(),
        )
        .await?;
        assert!(answer.accepted);
    }
    let secs = started.elapsed().as_secs_f64();
    // Floor: an enrollment and a device row per record, one transaction a batch.
    let floor_secs = floor(&db, 2 * BATCHES * BATCH, 2 * BATCH).await?;
    report(
        name,
        "enrollment-request ingestion:",
        BATCHES * BATCH,
        "records",
        secs,
        floor_secs,
    );

    // Delivery: enrollment syncs for the new enrollments, to the grid side in this process.
    let ids: Vec<(i64, String)> = with_db!(&db, |p| {
        sqlx::query_as(
        "SELECT e.id, d.nic_id FROM enrollments e JOIN enrollment_devices ed ON ed.enrollment_id = e.id JOIN devices d ON d.id = ed.device_id
         JOIN customers c ON c.id = e.customer_id WHERE c.person_id LIKE 'BP%' ORDER BY e.id LIMIT 10000"
    )
    .fetch_all(p)
    .await
    })?;
    let mut tx = db.begin().await?;
    for i in 0..MESSAGES {
        let (id, nic) = &ids[i % ids.len()];
        let msg = NewMessage {
            message_id: new_message_id(),
            flow: "enrollment_sync".into(),
            correlation_id: None,
            sender: "programs".into(),
            recipient: "grid".into(),
            payload: json!({"transactionId": format!("S{i}"), "action": "ENROLL", "enrollmentId": id, "programCode": "SMT-BYOD",
                "servicePointId": "x", "transformerCode": transformers[i % transformers.len()],
                "deviceList": [{"headEndSystem": "ECOBEE", "nicId": nic, "deviceType": "thermostat", "nominalKw": 2.5}]}),
            max_attempts: 8,
        };
        enqueue(&mut tx, &msg, Utc::now()).await?;
    }
    tx.commit().await?;
    let worker = DeliveryWorker::new(
        db.clone(),
        Peers::in_process(
            &db,
            Default::default(),
            gridflex::startup::inbound_handlers(),
        ),
        Arc::new(SystemClock),
        RetryPolicy {
            batch: DELIVERY_BATCH as i64,
            ..Default::default()
        },
        1,
    );
    let started = Instant::now();
    let mut delivered = 0;
    loop {
        let r = worker.tick().await?;
        delivered += r.delivered;
        if r.claimed == 0 {
            break;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(delivered, MESSAGES);
    // Floor: a message row per message, one transaction a worker batch.
    let floor_secs = floor(&db, MESSAGES, DELIVERY_BATCH).await?;
    report(
        name,
        "in-process delivery:",
        delivered,
        "messages",
        secs,
        floor_secs,
    );

    // Network model export (flow 11): the whole model in one message, then applied by the
    // program side (every service point looked up; none moves).
    let started = Instant::now();
    let export = gridflex::grid::network_export::export_network(&db, "bench", Utc::now()).await?;
    let queued = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let r = worker.tick().await?;
    assert_eq!(r.delivered, 1, "{r:?}");
    let applied = started.elapsed().as_secs_f64();
    println!(
        "{name:<10} network export:               {} nodes, {} service points: queued in {:.2} s, applied in {:.2} s",
        export.nodes, export.service_points, queued, applied
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let db = Db::connect(&DbOptions::new(&url)).await?;
    gridflex::startup::migrate(&db).await?;
    run("sqlite", db).await?;
    if let Ok(pg) = std::env::var("GRIDFLEX_BENCH_PG") {
        common::on_scratch_schema(&pg, "gfbench", |db| run("postgres", db)).await?;
    }
    Ok(())
}
