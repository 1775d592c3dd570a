//! Pages keep answering while other routers are being built in the same process.
//!
//! `generate_route_list` switches resource loading off process-wide while it renders the app
//! (leptos #4773). When every router built its own list, a page served on another thread at
//! that moment waited for resources that never loaded: the rare "hang" of the API tests,
//! which build many routers in one process. Routers now share one list built once
//! (`startup::route_list`). Without that, this test hangs on its first page. Every fifth
//! page is also the scenario the hang was first seen in (a form refused by validation, then
//! the page showing the error); the loop runs on both databases.

mod common;

use std::time::Duration;

use common::*;

/// How many pages to load while routers are built: a few hundred by default,
/// `GRIDFLEX_HANG_LOOPS` for a longer hunt.
fn loops() -> usize {
    std::env::var("GRIDFLEX_HANG_LOOPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

each_backend!(
    pages_answer_while_other_routers_are_built,
    flavor = "multi_thread",
    worker_threads = 4
);
async fn pages_answer_while_other_routers_are_built(t: TestDb) {
    with_demo(&t).await;
    let app = spawn_app(&t).await;
    let c = app.browser();
    app.login(&c, "manager", PASSWORD).await;
    let admin = app.browser();
    app.login(&admin, "admin", PASSWORD).await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let builder = {
        let db = t.db.clone();
        let schema = t.pg_schema();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut built = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let settings = web_settings(
                    listener.local_addr().unwrap(),
                    schema.clone(),
                    gridflex::grid::console::GridSettings::default(),
                );
                let built_app = gridflex::startup::build_app(db.clone(), &settings).await;
                assert!(built_app.is_ok(), "a second router builds");
                built += 1;
                tokio::task::yield_now().await;
            }
            built
        })
    };

    let pages = [
        "/home",
        "/programs",
        "/enrollments",
        "/aggregators",
        "/devices",
    ];
    for i in 0..loops() {
        let path = pages[i % pages.len()];
        let res = tokio::time::timeout(Duration::from_secs(20), app.page(&c, path)).await;
        let (status, _) = res.unwrap_or_else(|_| panic!("page {i} ({path}) hung"));
        assert_eq!(status, 200, "{path}");
        if i % 5 == 0 {
            // The scenario the hang was first seen in: a form refused by validation, then
            // the page that shows the error.
            let refused = async {
                app.post_form(
                    &admin,
                    "/admin/users",
                    "/fn/create_user",
                    &[
                        ("username", "weak"),
                        ("display_name", "Weak"),
                        ("role", "operator"),
                        ("password", "short"),
                    ],
                )
                .await;
                app.page(&admin, "/admin/users").await
            };
            let res = tokio::time::timeout(Duration::from_secs(20), refused).await;
            let (status, html) = res.unwrap_or_else(|_| panic!("refused form {i} hung"));
            assert_eq!(status, 200);
            assert!(
                html.contains("at least 12 characters"),
                "the error is shown"
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let built = builder.await.expect("the builder ran");
    assert!(built > 0, "routers were built while the pages were served");
    drop(app);
    t.cleanup().await;
}
