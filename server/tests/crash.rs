//! Crash safety: a server killed with SIGKILL in the middle of a 50,000-record enrollment
//! batch loses nothing and doubles nothing. The batch commits whole or not at all; the sender
//! sends the same message again after the restart and every record is acknowledged once.

mod common;

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const RECORDS: usize = 50_000;

fn start(url: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridflex"))
        .args(["--database-url", url, "serve", "--listen", "127.0.0.1:0"])
        .env("GRIDFLEX_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("server starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("address line");
    let base = line.trim().rsplit(' ').next().expect("url").to_string();
    (child, base)
}

fn batch(transformer: &str) -> Value {
    let records: Vec<Value> = (0..RECORDS)
        .map(|n| {
            json!({
                "recordId": format!("r{n}"),
                "customerInfo": {"personId": format!("CP{n:08}"), "accountId": format!("CA{n:08}"), "name": format!("Crash Customer {n}")},
                "programInfo": {"programCode": "WH-CONTROL"},
                "locationInfo": {"servicePointId": format!("CSP{n:08}"), "premiseId": format!("CPR{n:08}"),
                    "address": {"street": "9 Crash Ave", "city": "Harbor City", "postalCode": "60200"},
                    "timeZone": "America/Chicago", "transformerCode": transformer},
                "enrollmentSource": "X1CC", "ownership": "owned", "startDate": "2026-06-01",
                "assetInfo": {"assetList": [{"headEndSystem": "RHEEM", "nicId": format!("CR{n:010X}"), "deviceType": "water_heater",
                    "specification": "ProTerra 50 gal", "nominalKw": 4.5}]}
            })
        })
        .collect();
    json!({"messageId": "crash-batch-1", "flow": "enrollment_request", "sentAt": test_now(),
           "payload": {"transactionId": "CRASH-1", "records": records}})
}

async fn batch_enrollments(db: &gridflex::db::Db) -> i64 {
    scalar(db, "SELECT COUNT(*) FROM customers c JOIN enrollments e ON e.customer_id = c.id WHERE c.person_id LIKE 'CP%'", &[]).await
}

#[tokio::test]
async fn a_server_killed_mid_batch_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    let db = gridflex::db::Db::connect(&gridflex::db::DbOptions::new(&url))
        .await
        .unwrap();
    gridflex::startup::migrate(&db).await.unwrap();
    // Real time on purpose: the server under test is a process of its own on the system
    // clock, so its demo is loaded at the time that process sees.
    gridflex::demo::load_demo(
        &db,
        cal(),
        gridflex::demo::DemoSize(DEMO_DEVICES),
        gridflex::demo::DEFAULT_SEED,
    )
    .await
    .unwrap();
    let token = gridflex::auth::create_token(&db, "test", "head-end", "integration")
        .await
        .unwrap();
    let transformer: String = scalar(
        &db,
        "SELECT code FROM network_nodes WHERE kind = 'transformer' LIMIT 1",
        &[],
    )
    .await;
    let body = batch(&transformer).to_string();

    let (mut server, base) = start(&url);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let send = {
        let (client, base, token, body) =
            (client.clone(), base.clone(), token.clone(), body.clone());
        tokio::spawn(async move {
            client
                .post(format!("{base}/integration/enrollment_request"))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
        })
    };
    // Kill it while the batch is being worked on.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        server.try_wait().unwrap().is_none(),
        "the server is still working when it is killed"
    );
    server.kill().expect("SIGKILL");
    server.wait().unwrap();
    match send.await.unwrap() {
        // The sender saw the connection die, so it still holds the message.
        Err(_) => {}
        Ok(res) => panic!(
            "the batch was answered before the kill: {} {}",
            res.status(),
            res.text()
                .await
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect::<String>()
        ),
    }

    // Whole or nothing: the interrupted batch left no record behind.
    let after_crash = batch_enrollments(&db).await;
    let stored: i64 = scalar(
        &db,
        "SELECT COUNT(*) FROM integration_messages WHERE message_id = 'crash-batch-1'",
        &[],
    )
    .await;
    assert!(
        (after_crash == 0 && stored == 0) || (after_crash == RECORDS as i64 && stored == 1),
        "half a batch: {after_crash} enrollments, message stored {stored}"
    );

    // Restart; the sender sends the same message again.
    let (mut server, base) = start(&url);
    let res = client
        .post(format!("{base}/integration/enrollment_request"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let ack: Value = res.json().await.unwrap();
    let results = ack["results"].as_array().unwrap();
    assert_eq!(results.len(), RECORDS, "every record acknowledged");
    assert!(results
        .iter()
        .all(|r| r["status"] == "CREATED" || r["status"] == "ALREADY_EXISTS"));
    assert_eq!(
        batch_enrollments(&db).await,
        RECORDS as i64,
        "none lost, none doubled"
    );
    // And once more: the same answer, nothing new.
    let again = client
        .post(format!("{base}/integration/enrollment_request"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.headers()["x-gridflex-duplicate"], "true");
    assert_eq!(batch_enrollments(&db).await, RECORDS as i64);
    assert!(matches!(
        gridflex::db::audit::verify(&db).await.unwrap(),
        gridflex::db::audit::ChainCheck::Intact { .. }
    ));
    server.kill().unwrap();
    server.wait().unwrap();
    db.close().await;
}

/// An unknown time zone stops the server before it opens anything, naming the bad value
/// (in the flag or in `GRIDFLEX_TIME_ZONE`).
#[test]
fn an_unknown_time_zone_stops_the_server_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("tz.db").display());
    let by_flag = Command::new(env!("CARGO_BIN_EXE_gridflex"))
        .args(["--database-url", &url, "serve", "--listen", "127.0.0.1:0"])
        .args(["--time-zone", "America/Chicgo"])
        .env_remove("GRIDFLEX_TIME_ZONE")
        .output()
        .expect("the command runs");
    let by_env = Command::new(env!("CARGO_BIN_EXE_gridflex"))
        .args(["--database-url", &url, "serve", "--listen", "127.0.0.1:0"])
        .env("GRIDFLEX_TIME_ZONE", "Mars/Olympus_Mons")
        .output()
        .expect("the command runs");
    for (out, bad) in [(by_flag, "America/Chicgo"), (by_env, "Mars/Olympus_Mons")] {
        assert!(!out.status.success(), "{bad}: the server must not start");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(bad), "the message names {bad}: {stderr}");
        assert!(stderr.contains("IANA time zone"), "{stderr}");
        assert!(
            out.stdout.is_empty(),
            "nothing served: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert!(
        !dir.path().join("tz.db").exists(),
        "no database is created before the settings are checked"
    );
}
