//! Replicas: several `gridflex serve` processes started at the same moment on one empty
//! PostgreSQL database all come up, and exactly one of them loads the demo or creates the
//! first admin (the others wait their turn on the startup lock and find the work done).

mod common;

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;

const REPLICAS: usize = 3;

struct Replica {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(url: &str, schema: &str, extra: &[&str]) -> Replica {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridflex"))
        .args(["--database-url", url, "--database-schema", schema, "serve"])
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .env("GRIDFLEX_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("server starts");
    let out = child.stdout.take().expect("stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Replica { child, lines }
}

/// What each replica printed until it said where it listens (and one more second of output).
fn wait_until_serving(replicas: &mut [Replica]) -> Vec<Vec<String>> {
    replicas
        .iter_mut()
        .enumerate()
        .map(|(i, r)| {
            let mut said = Vec::new();
            loop {
                match r.lines.recv_timeout(Duration::from_secs(300)) {
                    Ok(line) => {
                        let listening = line.contains("is listening on");
                        said.push(line);
                        if listening {
                            break;
                        }
                    }
                    Err(_) => panic!(
                        "replica {i} did not come up (exit: {:?}); it said: {said:?}",
                        r.child.try_wait()
                    ),
                }
            }
            while let Ok(line) = r.lines.recv_timeout(Duration::from_secs(1)) {
                said.push(line);
            }
            assert!(
                r.child.try_wait().expect("status").is_none(),
                "replica {i} is still running"
            );
            said
        })
        .collect()
}

/// A schema with nothing in it (the replicas migrate it themselves).
async fn empty_schema(url: &str) -> TestDb {
    let t = TestDb::postgres(url).await;
    let schema = t.pg_schema().expect("schema");
    let admin = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    t
}

#[tokio::test]
async fn replicas_started_together_on_an_empty_postgres_database_all_come_up() {
    let Some(url) = pg_url() else {
        eprintln!("TEST_DATABASE_URL is not set: the PostgreSQL run is left out");
        return;
    };

    // With the demo: one loads it, all serve it.
    let t = empty_schema(&url).await;
    let schema = t.pg_schema().unwrap();
    let mut replicas: Vec<Replica> = (0..REPLICAS)
        .map(|_| start(&url, &schema, &["--demo", "--demo-size", "200"]))
        .collect();
    let said = wait_until_serving(&mut replicas);
    for (i, lines) in said.iter().enumerate() {
        assert!(
            lines.iter().any(|l| l.starts_with("Demo logins")),
            "replica {i} shows the demo logins: {lines:?}"
        );
    }
    drop(replicas);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM users").await,
        5,
        "five demo users, once"
    );
    assert_eq!(
        t.count("SELECT COUNT(*) FROM programs").await,
        t.count("SELECT COUNT(DISTINCT code) FROM programs").await,
        "the demo's programs exist once"
    );
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_log WHERE action = 'user.create' AND actor = 'demo'")
            .await,
        5,
        "each demo user was created once"
    );
    t.cleanup().await;

    // Without the demo: exactly one creates the first admin and shows its password.
    let t = empty_schema(&url).await;
    let schema = t.pg_schema().unwrap();
    let mut replicas: Vec<Replica> = (0..REPLICAS).map(|_| start(&url, &schema, &[])).collect();
    let said = wait_until_serving(&mut replicas);
    drop(replicas);
    let first_admins = said
        .iter()
        .filter(|lines| lines.iter().any(|l| l.contains("created user `admin`")))
        .count();
    assert_eq!(first_admins, 1, "one replica created the admin: {said:?}");
    assert_eq!(t.count("SELECT COUNT(*) FROM users").await, 1, "one admin");
    t.cleanup().await;
}
