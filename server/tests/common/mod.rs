//! Test harness: a fresh database per test (SQLite file in a temp dir, or a PostgreSQL
//! schema when TEST_DATABASE_URL is set), and the real server on port 0.

#![allow(dead_code)]

pub mod published;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, TimeZone, Utc, Weekday};
use gridflex::calendar::Calendar;
use gridflex::clock::{Clock, ManualClock, OffsetClock};
pub use gridflex::db::Arg;
use gridflex::db::{Db, DbOptions};
use gridflex::demo::{self, DemoSize};
use gridflex::startup::{build_app, serve, WebSettings};

pub const DEMO_DEVICES: usize = 400;
pub const PASSWORD: &str = "gridflex-demo";

pub struct TestDb {
    pub db: Db,
    pub name: &'static str,
    pg_schema: Option<String>,
    admin_url: Option<String>,
    /// What the pool was opened with, for [`TestDb::second_pool`].
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let db = Db::connect(&DbOptions::new(&url))
            .await
            .expect("sqlite opens");
        gridflex::startup::migrate(&db)
            .await
            .expect("sqlite migrates");
        TestDb {
            db,
            name: "sqlite",
            pg_schema: None,
            admin_url: None,
            url,
            _dir: Some(dir),
        }
    }

    pub async fn postgres(url: &str) -> TestDb {
        use rand::Rng;
        let schema = format!("gftest_{:016x}", rand::thread_rng().gen::<u64>());
        let admin = sqlx::PgPool::connect(url)
            .await
            .expect("postgres reachable");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .expect("create schema");
        admin.close().await;
        let mut options = DbOptions::new(url);
        options.pg_schema = Some(schema.clone());
        options.max_connections = 4;
        let db = Db::connect(&options).await.expect("postgres opens");
        gridflex::startup::migrate(&db)
            .await
            .expect("postgres migrates");
        TestDb {
            db,
            name: "postgres",
            pg_schema: Some(schema),
            admin_url: Some(url.to_string()),
            url: url.to_string(),
            _dir: None,
        }
    }

    /// Another pool on the same database, as a second server process would open.
    #[allow(dead_code)]
    pub async fn second_pool(&self) -> Db {
        let mut options = DbOptions::new(&self.url);
        options.pg_schema = self.pg_schema.clone();
        options.max_connections = 4;
        Db::connect(&options).await.expect("a second pool opens")
    }

    /// Closes the pool and drops the PostgreSQL schema now (SQLite's temp dir goes with the
    /// value). A test that fails before calling this still has its schema dropped by `Drop`.
    pub async fn cleanup(mut self) {
        self.db.close().await;
        if let (Some(schema), Some(url)) = (self.pg_schema.take(), self.admin_url.clone()) {
            drop_schema(&url, &schema).await;
        }
    }

    /// The URL the database was opened with.
    pub fn database_url(&self) -> String {
        self.url.clone()
    }

    pub fn pg_schema(&self) -> Option<String> {
        self.pg_schema.clone()
    }
}

/// The PostgreSQL server to test against, when TEST_DATABASE_URL names one.
pub fn pg_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// Drops a test schema; waits at most ten seconds for locks (a pool of the failed test may
/// still hold one), so cleanup never hangs a run.
async fn drop_schema(url: &str, schema: &str) {
    if let Ok(admin) = sqlx::PgPool::connect(url).await {
        let _ = sqlx::query("SET lock_timeout = '10s'")
            .execute(&admin)
            .await;
        if let Err(e) = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&admin)
            .await
        {
            eprintln!("test schema {schema} was not dropped: {e}");
        }
        admin.close().await;
    }
}

impl Drop for TestDb {
    /// A test that panics (a failed assertion) never reaches `cleanup`; its PostgreSQL schema
    /// is dropped here, on a thread of its own because the test's runtime is unwinding.
    fn drop(&mut self) {
        if let (Some(schema), Some(url)) = (self.pg_schema.take(), self.admin_url.clone()) {
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(drop_schema(&url, &schema));
                }
            })
            .join();
        }
    }
}

/// One database test, run once per backend as two tests of its own: `name::sqlite`, and
/// `name::postgres` against TEST_DATABASE_URL (it says so and passes when that is unset, so
/// the README's plain `cargo test` needs no PostgreSQL; CI runs `-- postgres` with it set).
/// A failure on one backend does not hide the other, and each cleans up after itself.
/// Extra arguments go to `#[tokio::test(..)]`.
#[macro_export]
macro_rules! each_backend {
    ($name:ident $(, $($arg:tt)*)?) => {
        mod $name {
            #[tokio::test$(($($arg)*))?]
            async fn sqlite() {
                super::$name($crate::common::TestDb::sqlite().await).await;
            }

            #[tokio::test$(($($arg)*))?]
            async fn postgres() {
                let Some(url) = $crate::common::pg_url() else {
                    eprintln!("TEST_DATABASE_URL is not set: the PostgreSQL run is left out");
                    return;
                };
                super::$name($crate::common::TestDb::postgres(&url).await).await;
            }
        }
    };
}

/// Where every test's clock stands unless the test pins its own: Monday 7 December 2026 at
/// 22:30 in Chicago, already Tuesday in UTC, so a test (or code) that takes the UTC date or
/// weekday for the local one fails on every run, not only on evening runs. No test reads
/// the wall clock for its "now"; the few that need real time passing say so.
pub fn test_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 8, 4, 30, 0).unwrap()
}

/// The utility's calendar the demo and the tests use (the default zone).
pub fn cal() -> Calendar {
    Calendar::default()
}

/// Cells of the maintained enrollment tallies that differ from a count of the enrollments
/// themselves (program, status, substation, feeder, tallied, counted); empty when in step.
pub async fn tallies_out_of_step(t: &TestDb) -> Vec<(i64, String, i64, i64, i64, i64)> {
    gridflex::with_db!(&t.db, |p| {
        sqlx::query_as(
        "SELECT k.program_id, k.status, k.substation_id, k.feeder_id,
                COALESCE(MAX(y.n), 0), COALESCE(MAX(x.n), 0)
         FROM (SELECT program_id, status, substation_id, feeder_id FROM enrollment_tallies WHERE n <> 0
               UNION SELECT program_id, status, substation_id, feeder_id FROM enrollments) k
         LEFT JOIN enrollment_tallies y ON y.program_id = k.program_id AND y.status = k.status
              AND y.substation_id = k.substation_id AND y.feeder_id = k.feeder_id
         LEFT JOIN (SELECT program_id, status, substation_id, feeder_id, COUNT(*) AS n FROM enrollments
                    GROUP BY program_id, status, substation_id, feeder_id) x
              ON x.program_id = k.program_id AND x.status = k.status
              AND x.substation_id = k.substation_id AND x.feeder_id = k.feeder_id
         GROUP BY k.program_id, k.status, k.substation_id, k.feeder_id
         HAVING COALESCE(MAX(y.n), 0) <> COALESCE(MAX(x.n), 0)"
    )
    .fetch_all(p)
    .await
    .unwrap()
    })
}

/// Rows of both sides' maintained network figures (migration 0024) that differ from a count
/// from scratch (side, node, maintained, counted); empty when in step. Counted independently of
/// the maintenance: a grid feeder over its transformers' devices, a program feeder over the
/// enrollments that name it.
pub async fn node_figures_out_of_step(
    t: &TestDb,
) -> Vec<(&'static str, i64, (i64, i64, f64), (i64, i64, f64))> {
    type Rows = Vec<(i64, i64, i64, f64)>;
    let fetch = |sql: &'static str| async move {
        gridflex::with_db!(&t.db, |p| sqlx::query_as::<_, (i64, i64, i64, f64)>(sql)
            .fetch_all(p)
            .await
            .unwrap())
    };
    let grid_kept: Rows = fetch(
        "SELECT node_id, service_points, registered_devices, registered_kw FROM grid_node_figures",
    )
    .await;
    let grid_counted: Rows = fetch(
        "SELECT n.node, COALESCE(s.n, 0), COALESCE(d.n, 0), COALESCE(d.kw, 0.0)
         FROM (SELECT id AS node FROM network_nodes WHERE kind IN ('transformer', 'feeder')) n
         LEFT JOIN (SELECT x.node, COUNT(*) AS n FROM grid_service_points g
                    JOIN (SELECT id AS node, id AS t FROM network_nodes WHERE kind = 'transformer'
                          UNION ALL SELECT parent_id, id FROM network_current
                          WHERE kind = 'transformer' AND parent_id IS NOT NULL) x ON x.t = g.transformer_id
                    GROUP BY x.node) s ON s.node = n.node
         LEFT JOIN (SELECT x.node, COUNT(*) AS n, SUM(g.nominal_kw) AS kw FROM grid_devices g
                    JOIN (SELECT id AS node, id AS t FROM network_nodes WHERE kind = 'transformer'
                          UNION ALL SELECT parent_id, id FROM network_current
                          WHERE kind = 'transformer' AND parent_id IS NOT NULL) x ON x.t = g.transformer_id
                    WHERE g.status = 'registered'
                    GROUP BY x.node) d ON d.node = n.node",
    )
    .await;
    let program_kept: Rows =
        fetch("SELECT node_id, CAST(0 AS BIGINT), devices, kw FROM enrolled_node_figures").await;
    let program_counted: Rows = fetch(
        "SELECT n.id, CAST(0 AS BIGINT), COALESCE(x.n, 0), COALESCE(x.kw, 0.0)
         FROM program_network_nodes n
         LEFT JOIN (SELECT CASE WHEN k.kind = 'transformer' THEN l.transformer_id ELSE e.feeder_id END AS node,
                           COUNT(*) AS n, SUM(d.nominal_kw) AS kw
                    FROM enrollments e
                    JOIN device_locations l ON l.id = e.location_id
                    JOIN enrollment_devices ed ON ed.enrollment_id = e.id AND ed.left_at IS NULL
                    JOIN devices d ON d.id = ed.device_id
                    CROSS JOIN (SELECT 'transformer' AS kind UNION ALL SELECT 'feeder') k
                    WHERE e.status = 'ACTIVE' AND d.status = 'active'
                    GROUP BY CASE WHEN k.kind = 'transformer' THEN l.transformer_id ELSE e.feeder_id END) x
              ON x.node = n.id
         WHERE n.kind IN ('transformer', 'feeder')",
    )
    .await;
    let mut out = Vec::new();
    for (side, kept, counted) in [
        ("grid", grid_kept, grid_counted),
        ("program", program_kept, program_counted),
    ] {
        let kept: HashMap<i64, (i64, i64, f64)> = kept
            .into_iter()
            .map(|(n, a, b, c)| (n, (a, b, c)))
            .collect();
        for (node, a, b, c) in counted {
            let k = kept.get(&node).copied().unwrap_or((0, 0, 0.0));
            if k.0 != a || k.1 != b || (k.2 - c).abs() > 1e-6 * c.abs().max(1.0) {
                out.push((side, node, k, (a, b, c)));
            }
        }
    }
    out
}

/// An instant as a person types it into a console form: local time in the utility's zone.
pub fn form_time(t: DateTime<Utc>) -> String {
    cal().local_time(t).format("%Y-%m-%dT%H:%M").to_string()
}

/// Each side's inbound handlers, as the server composes them (for in-process peers).
pub fn inbound_handlers() -> Arc<gridflex::integration::handlers::Handlers> {
    gridflex::startup::inbound_handlers()
}

/// The demo utility as loaded at [`test_now`], the time [`spawn_app`]'s clock stands at.
pub async fn with_demo(t: &TestDb) {
    with_demo_at(t, test_now()).await;
}

/// The demo utility as loaded at `now` (its season is `now`'s year, its load history ends
/// and its forecast starts at `now`): pair it with [`spawn_app_at`] on a clock at `now`.
pub async fn with_demo_at(t: &TestDb, now: DateTime<Utc>) {
    demo::load_demo_at(
        &t.db,
        cal(),
        DemoSize(DEMO_DEVICES),
        demo::DEFAULT_SEED,
        now,
    )
    .await
    .expect("demo loads");
    demo::ensure_demo_users(&t.db).await.expect("demo users");
}

/// A manual clock at `t`, shared by the test and the app it spawns.
pub fn clock_at(t: DateTime<Utc>) -> Arc<ManualClock> {
    Arc::new(ManualClock::new(t))
}

/// A manual clock at [`test_now`], for delivery workers and services a test builds itself.
pub fn test_clock() -> Arc<ManualClock> {
    clock_at(test_now())
}

/// The first instant after `from` that is `weekday` `h`:`m` in the utility's local time (from
/// the calendar module, whatever its zone), to the minute.
pub fn next_local_after(from: DateTime<Utc>, weekday: Weekday, h: u32, m: u32) -> DateTime<Utc> {
    use chrono::Datelike;
    let cal = cal();
    let today = cal.local_date(from);
    (0..=8)
        .map(|days| today + Duration::days(days))
        .filter(|day| day.weekday() == weekday)
        .filter_map(|day| day.and_hms_opt(h, m, 0))
        .filter_map(|wanted| cal.from_local(wanted).ok())
        .find(|t| *t > from)
        .expect("a week has every weekday")
}

/// The next `weekday` `h`:`m` local time after [`test_now`]: a fixed time of the week (and
/// of the day), near enough to the demo's data.
pub fn next_local(weekday: Weekday, h: u32, m: u32) -> DateTime<Utc> {
    next_local_after(test_now(), weekday, h, m)
}

/// A value a test's query may answer: one both backends decode.
pub trait Scalar:
    Send
    + Unpin
    + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
    + sqlx::Type<sqlx::Sqlite>
    + for<'r> sqlx::Decode<'r, sqlx::Postgres>
    + sqlx::Type<sqlx::Postgres>
{
}

impl<T> Scalar for T where
    T: Send
        + Unpin
        + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>
        + for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
{
}

/// One value from `sql` with `args` bound in order (`$1`, `$2`, ...), on either backend.
pub async fn scalar<T: Scalar>(db: &Db, sql: &str, args: &[Arg]) -> T {
    gridflex::with_db!(db, |p| gridflex::bind_args!(
        sqlx::query_scalar::<_, T>(sql),
        args
    )
    .fetch_one(p)
    .await
    .unwrap_or_else(|e| panic!("{sql}: {e}")))
}

/// The value of the row `sql` finds, if it finds one (like [`scalar`]).
pub async fn scalar_opt<T: Scalar>(db: &Db, sql: &str, args: &[Arg]) -> Option<T> {
    gridflex::with_db!(db, |p| gridflex::bind_args!(
        sqlx::query_scalar::<_, T>(sql),
        args
    )
    .fetch_optional(p)
    .await
    .unwrap_or_else(|e| panic!("{sql}: {e}")))
}

/// The values of every row `sql` answers, in its order (like [`scalar`]).
pub async fn scalars<T: Scalar>(db: &Db, sql: &str, args: &[Arg]) -> Vec<T> {
    gridflex::with_db!(db, |p| gridflex::bind_args!(
        sqlx::query_scalar::<_, T>(sql),
        args
    )
    .fetch_all(p)
    .await
    .unwrap_or_else(|e| panic!("{sql}: {e}")))
}

impl TestDb {
    /// [`scalar`] on this database.
    pub async fn scalar<T: Scalar>(&self, sql: &str, args: &[Arg]) -> T {
        scalar(&self.db, sql, args).await
    }

    /// The rows of a table (a bare name), or the `COUNT(*)` a whole query answers.
    pub async fn count(&self, table_or_sql: &str) -> i64 {
        if table_or_sql.contains(char::is_whitespace) {
            scalar(&self.db, table_or_sql, &[]).await
        } else {
            let sql = format!("SELECT COUNT(*) FROM {table_or_sql}");
            scalar(&self.db, &sql, &[]).await
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    server: tokio::task::JoinHandle<()>,
    #[allow(dead_code)]
    pub events: std::sync::Arc<gridflex::grid::console::EventService>,
    /// The app's one clock (what every service and handler reads "now" from).
    pub clock: Arc<dyn Clock>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Starts the real router on 127.0.0.1:0 against `t`, on a simulated clock standing at
/// [`test_now`] (the console may move it on).
pub async fn spawn_app(t: &TestDb) -> TestApp {
    spawn_app_with(t, gridflex::grid::console::GridSettings::default()).await
}

/// Like [`spawn_app`] on `clock` (a test's [`ManualClock`], say): every service, handler and
/// the scheduler step see its time.
pub async fn spawn_app_at(t: &TestDb, clock: Arc<dyn Clock>) -> TestApp {
    spawn_app_configured(t, gridflex::grid::console::GridSettings::default(), |s| {
        s.clock = clock;
        s.simulated_clock = None;
    })
    .await
}

/// Like [`spawn_app`] with the grid side's settings chosen by the test.
#[allow(dead_code)]
pub async fn spawn_app_with(t: &TestDb, grid: gridflex::grid::console::GridSettings) -> TestApp {
    spawn_app_configured(t, grid, |_| {}).await
}

/// The web settings the tests serve with (plain-HTTP cookies, a two-minute request limit, a
/// simulated clock stopped at [`test_now`] until the console moves it on).
pub fn web_settings(
    listen: SocketAddr,
    pg_schema: Option<String>,
    grid: gridflex::grid::console::GridSettings,
) -> WebSettings {
    let clock = Arc::new(OffsetClock::stopped_at(test_now()));
    WebSettings {
        listen,
        secure_cookies: false,
        session_hours: 8,
        pg_schema,
        clock: clock.clone(),
        simulated_clock: Some(clock),
        grid,
        request_timeout: std::time::Duration::from_secs(120),
        public_metrics: false,
        trusted_proxies: Vec::new(),
        calendar: cal(),
        openadr_base: gridflex::openadr::DEFAULT_BASE.to_string(),
        openadr_callback_hosts: Vec::new(),
        programs_dialect: gridflex::config::ProgramsDialect::Gridflex,
    }
}

/// Like [`spawn_app_with`], with the web settings changed by `configure` first.
pub async fn spawn_app_configured(
    t: &TestDb,
    grid: gridflex::grid::console::GridSettings,
    configure: impl FnOnce(&mut WebSettings),
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut settings = web_settings(addr, t.pg_schema(), grid);
    configure(&mut settings);
    let (router, state, _store) = build_app(t.db.clone(), &settings)
        .await
        .expect("app builds");
    let server = tokio::spawn(async move {
        let _ = serve(listener, router).await;
    });
    TestApp {
        addr,
        base: format!("http://{addr}"),
        server,
        events: state.events.clone(),
        clock: state.clock.clone(),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A browser-like client: cookies kept, redirects not followed (tests look at them).
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// The CSRF token the page at `path` carries.
    pub async fn csrf(&self, client: &reqwest::Client, path: &str) -> String {
        let html = client
            .get(self.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("body");
        let marker = "name=\"csrf\" value=\"";
        let start = html
            .find(marker)
            .unwrap_or_else(|| panic!("no CSRF field on {path}"))
            + marker.len();
        html[start..start + 64].to_string()
    }

    /// Posts a console form the way a browser does (with the page's CSRF token).
    pub async fn post_form(
        &self,
        client: &reqwest::Client,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let token = self.csrf(client, page).await;
        let mut body: Vec<(&str, &str)> = vec![("csrf", token.as_str())];
        body.extend_from_slice(fields);
        let encoded = serde_urlencoded::to_string(&body).expect("form");
        client
            .post(self.url(action))
            .header("accept", "text/html")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("referer", self.url(page))
            .body(encoded)
            .send()
            .await
            .expect("post")
    }

    /// Posts the console's new-event form with the window as typed.
    pub async fn post_event_form(
        &self,
        client: &reqwest::Client,
        strategy: i64,
        name: &str,
        starts: &str,
        ends: &str,
    ) -> reqwest::Response {
        let res = self
            .post_form(
                client,
                "/events",
                "/fn/create_event",
                &[
                    ("event[strategy_id]", &strategy.to_string()),
                    ("event[name]", name),
                    ("event[starts_at]", starts),
                    ("event[ends_at]", ends),
                ],
            )
            .await;
        assert_eq!(res.status(), 302, "a form answers with a redirect");
        res
    }

    /// Creates an event through the console's form, `hours` long from `start`; its id, read
    /// from the redirect to the new event's page.
    pub async fn create_event_in_console(
        &self,
        client: &reqwest::Client,
        strategy: i64,
        name: &str,
        start: DateTime<Utc>,
        hours: i64,
    ) -> i64 {
        let end = start + Duration::hours(hours);
        let res = self
            .post_event_form(client, strategy, name, &form_time(start), &form_time(end))
            .await;
        let to = res.headers()["location"].to_str().unwrap().to_string();
        to.trim_start_matches("/events/")
            .parse()
            .unwrap_or_else(|_| panic!("redirect to the new event, got {to}"))
    }

    /// An event of the demo's "Riverside evening shave" strategy, two hours from three hours
    /// after the app's now (on a quarter hour), created, planned and submitted through the
    /// REST API by an operator token named after it; returns its id.
    pub async fn submitted_event(&self, db: &Db, name: &str) -> i64 {
        let op = gridflex::auth::create_token(db, "test", &format!("op-{name}"), "operator")
            .await
            .expect("operator token");
        let strategy: i64 = scalar(
            db,
            "SELECT id FROM strategies WHERE name = $1",
            &[Arg::from("Riverside evening shave")],
        )
        .await;
        let start = self
            .events
            .now()
            .duration_trunc(Duration::minutes(15))
            .expect("quarter hour")
            + Duration::hours(3);
        let body = serde_json::json!({"strategyId": strategy, "name": name,
            "startsAt": start.to_rfc3339(), "endsAt": (start + Duration::hours(2)).to_rfc3339()});
        let res = self.api_post(&op, "/api/v1/events", &body).await;
        assert_eq!(res.status(), 200, "create {name}");
        let body: serde_json::Value = res.json().await.expect("event");
        let id = body["id"].as_i64().expect("event id");
        for action in ["plan", "submit"] {
            let res = self
                .api_post(
                    &op,
                    &format!("/api/v1/events/{id}/{action}"),
                    &serde_json::json!({}),
                )
                .await;
            let status = res.status();
            assert_eq!(
                status,
                200,
                "{action} {name}: {}",
                res.text().await.unwrap_or_default()
            );
        }
        id
    }

    /// Like [`TestApp::submitted_event`], then approved by an approver token: its stages
    /// are published (OpenADR events for the aggregators' devices among them).
    pub async fn approved_event(&self, db: &Db, name: &str) -> i64 {
        let id = self.submitted_event(db, name).await;
        let ap = gridflex::auth::create_token(db, "test", &format!("ap-{name}"), "approver")
            .await
            .expect("approver token");
        let res = self
            .api_post(
                &ap,
                &format!("/api/v1/events/{id}/approve"),
                &serde_json::json!({}),
            )
            .await;
        let status = res.status();
        assert_eq!(
            status,
            200,
            "approve {name}: {}",
            res.text().await.unwrap_or_default()
        );
        id
    }

    /// Signs in through the login form; returns the redirect target.
    pub async fn login(&self, client: &reqwest::Client, username: &str, password: &str) -> String {
        let res = self
            .post_form(
                client,
                "/login",
                "/fn/login",
                &[("username", username), ("password", password), ("next", "")],
            )
            .await;
        assert_eq!(res.status(), 302, "sign-in answers with a redirect");
        res.headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }

    /// POSTs `body` as JSON to the API at `path` with the bearer `token`.
    pub async fn api_post(
        &self,
        token: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        reqwest::Client::new()
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("post")
    }

    /// GETs the API at `path` with the bearer `token`.
    pub async fn api_get(&self, token: &str, path: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("get")
    }

    pub async fn page(&self, client: &reqwest::Client, path: &str) -> (u16, String) {
        let res = client
            .get(self.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .expect("get");
        let status = res.status().as_u16();
        (status, res.text().await.expect("body"))
    }
}

/// Registers a grid device again under the aggregator `to` (flow 2's write, through the
/// single path or the batch path) and notifies the OpenADR subscribers of the events that
/// changed hands, in one transaction: how many devices changed aggregator, and how many
/// notifications were queued.
#[allow(dead_code)]
pub async fn move_device(
    db: &Db,
    grid_device_id: i64,
    to: &str,
    batch: bool,
    now: DateTime<Utc>,
) -> (usize, usize) {
    use gridflex::db::registry::{
        register_devices, register_devices_of_many, RegisteredDevice, Registration,
    };
    let (head_end, nic, enrollment, program, transformer, kind, kw): (
        String,
        String,
        i64,
        String,
        i64,
        String,
        f64,
    ) = gridflex::with_db!(db, |p| {
        sqlx::query_as(
            "SELECT head_end, nic_id, enrollment_id, program_code, transformer_id, device_type, nominal_kw
             FROM grid_devices WHERE id = $1",
        )
        .bind(grid_device_id)
        .fetch_one(p)
        .await
    })
    .unwrap();
    let device = RegisteredDevice {
        head_end: &head_end,
        nic_id: &nic,
        device_type: &kind,
        nominal_kw: kw,
        aggregator_ref: Some(to),
    };
    let mut tx = db.begin().await.unwrap();
    let moved = if batch {
        let registration = Registration {
            enrollment_id: enrollment,
            program_code: &program,
            transformer_id: transformer,
            device,
        };
        register_devices_of_many(&mut tx, &[registration], now)
            .await
            .unwrap()
            .1
    } else {
        register_devices(&mut tx, enrollment, &program, transformer, &[device], now)
            .await
            .unwrap()
    };
    let heard = gridflex::openadr::notify::devices_moved(&mut tx, &moved, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    (moved.len(), heard)
}
