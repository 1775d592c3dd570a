//! What the tests of the published contract share: the golden documents, an integration
//! token, posting a published request, and a grid side on its own database whose delivery
//! worker speaks the published dialect to a program side server.

use std::sync::Arc;

use gridflex::integration::inbound::Side;
use gridflex::integration::message::{enqueue, new_message_id, NewMessage};
use gridflex::integration::peer::{InProcessPeer, Peers, PublishedHttpPeer};
use gridflex::integration::worker::{DeliveryWorker, RetryPolicy};
use serde_json::Value;

use super::*;

pub fn golden(name: &str) -> Value {
    let path = format!(
        "{}/tests/golden/published/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub async fn integration_token(t: &TestDb) -> String {
    gridflex::auth::create_token(&t.db, "test", "grid-system", "integration")
        .await
        .expect("token")
}

pub async fn post(app: &TestApp, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let res = app.api_post(token, path, body).await;
    let status = res.status().as_u16();
    (status, res.json().await.expect("a JSON answer"))
}

/// Another fresh database on the same backend as `t`.
pub async fn sibling(t: &TestDb) -> TestDb {
    match (t.name, pg_url()) {
        ("postgres", Some(url)) => TestDb::postgres(&url).await,
        _ => TestDb::sqlite().await,
    }
}

/// A grid side on its own database whose delivery worker speaks the published dialect to
/// `app` (a program side on another database).
pub async fn published_grid(t: &TestDb, app: &TestApp) -> (TestDb, DeliveryWorker) {
    let grid = sibling(t).await;
    let token = integration_token(t).await;
    let peer = PublishedHttpPeer::new(&app.base, &token, std::time::Duration::from_secs(10))
        .expect("peer");
    let peers = Peers {
        programs: Arc::new(peer),
        grid: Arc::new(InProcessPeer {
            db: grid.db.clone(),
            side: Side::Grid,
            calendar: cal(),
            handlers: inbound_handlers(),
        }),
        grid_instances: Default::default(),
    };
    let worker = DeliveryWorker::new(
        grid.db.clone(),
        peers,
        test_clock(),
        RetryPolicy::default(),
        7,
    );
    (grid, worker)
}

/// A grid side's server configured for a program side that speaks the published dialect
/// (`GRIDFLEX_PROGRAMS_DIALECT=published`), so it takes published status checks.
pub async fn spawn_published_grid(grid: &TestDb) -> TestApp {
    spawn_app_configured(
        grid,
        gridflex::grid::console::GridSettings::default(),
        |s| s.programs_dialect = gridflex::config::ProgramsDialect::Published,
    )
    .await
}

/// Queues a grid → programs message in `grid`'s outbox and returns its id.
pub async fn queue(grid: &TestDb, flow: &str, payload: Value) -> String {
    let id = new_message_id();
    let mut tx = grid.db.begin().await.unwrap();
    enqueue(
        &mut tx,
        &NewMessage {
            message_id: id.clone(),
            flow: flow.into(),
            correlation_id: None,
            sender: "grid".into(),
            recipient: "programs".into(),
            payload,
            max_attempts: 3,
        },
        test_now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

pub async fn outbound_status(grid: &TestDb, id: &str) -> String {
    grid.scalar(
        "SELECT status FROM integration_messages WHERE message_id = $1 AND direction = 'outbound'",
        &[Arg::Text(id.into())],
    )
    .await
}
