//! Builds the application state and the router, and serves until a shutdown signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, handle_server_fns_with_context, LeptosRoutes};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use app::{shell, App};

use crate::audit::AuditService;
use crate::auth::session::{client_scope, console_context, DbSessionStore};
use crate::auth::user_service::UserService;
use crate::calendar::holiday_service::HolidayService;
use crate::calendar::Calendar;
use crate::clock::{Clock, OffsetClock, SystemClock};
use crate::db::Db;
use crate::grid::console::{EventService, GridSettings};
use crate::grid::forecast_service::ForecastService;
use crate::grid::network_service::NetworkService;
use crate::home::HomeService;
use crate::integration::handlers::Handlers;
use crate::integration::monitor_service::MonitorService;
use crate::programs::aggregator_service::AggregatorService;
use crate::programs::device_service::DeviceService;
use crate::programs::enrollment_service::EnrollmentService;
use crate::programs::meter_service::MeterDataService;
use crate::programs::program_service::ProgramService;
use crate::programs::settlement_console::SettlementService;
use crate::report::ReportService;
use crate::web::ops::Metrics;
use crate::web::{self, api, export, ops, AppState};

/// Largest request body accepted anywhere (forms and API).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct WebSettings {
    pub listen: SocketAddr,
    pub secure_cookies: bool,
    pub session_hours: i64,
    /// PostgreSQL schema of the session table (tests isolate themselves by schema).
    pub pg_schema: Option<String>,
    /// The process's one clock: every service, background task and handler reads "now" here.
    pub clock: Arc<dyn Clock>,
    /// Set with `--simulated-clock`: the same clock as `clock`, which an admin may move on.
    pub simulated_clock: Option<Arc<OffsetClock>>,
    /// Head-end simulator and thresholds of the grid side.
    pub grid: GridSettings,
    /// How long a request may take before it is answered 503.
    pub request_timeout: std::time::Duration,
    /// `/metrics` without a token.
    pub public_metrics: bool,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The utility's calendar (time zone): local days, hours, cycles and seasons.
    pub calendar: Calendar,
    /// Where the OpenADR 3.1 VTN is served (default `/openadr/3.1/`).
    pub openadr_base: String,
    /// Hosts besides loopback that OpenADR subscriptions may call back.
    pub openadr_callback_hosts: Vec<String>,
    /// The dialect the program side speaks (`--programs-dialect`): the published status
    /// check is taken only when its answer can be posted back in that dialect.
    pub programs_dialect: crate::config::ProgramsDialect,
}

impl WebSettings {
    /// Runs on a simulated clock (starting at real time) that admins may move on.
    pub fn with_simulated_clock(mut self) -> Self {
        let clock = Arc::new(OffsetClock::default());
        self.clock = clock.clone();
        self.simulated_clock = Some(clock);
        self
    }

    /// Runs on `clock` (a test's manual clock, say); nobody can move it from the console.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self.simulated_clock = None;
        self
    }

    /// The system clock, the default.
    pub fn system_clock() -> Arc<dyn Clock> {
        Arc::new(SystemClock)
    }
}

const STYLESHEET: &str = include_str!("../../style/gridflex.css");
/// The live event page's progressive enhancement (the only script the console serves).
const LIVE_SCRIPT: &str = include_str!("../../style/live.js");

async fn live_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        LIVE_SCRIPT,
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        STYLESHEET,
    )
}

/// Server functions called without a form (JSON clients) answer an error with its own
/// status: leptos answers every server-function error 500, which made a refusal look like
/// a server failure (and an alert). The body is the `AppError` as JSON; its status is used.
async fn server_fn_status(req: Request<Body>, next: axum::middleware::Next) -> Response {
    if !req.uri().path().starts_with("/fn/") {
        return next.run(req).await;
    }
    let res = next.run(req).await;
    if res.status() != axum::http::StatusCode::INTERNAL_SERVER_ERROR {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return (parts.status, "the server function failed").into_response();
    };
    if let Ok(error) = serde_json::from_slice::<app::AppError>(&bytes) {
        if let Ok(status) = axum::http::StatusCode::from_u16(error.status()) {
            parts.status = status;
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

async fn server_fn_handler(State(state): State<AppState>, req: Request<Body>) -> impl IntoResponse {
    handle_server_fns_with_context(move || state.provide_ports(), req).await
}

/// The console's routes, generated once per process.
///
/// `generate_route_list` renders the whole app once with resource loading switched off, and
/// that switch is process-wide in leptos (leptos #4773): a page rendered on another thread
/// while a second router is being built saw its resources never load and hung for good. It
/// happened when tests (or a server hosting several routers) built a router while another
/// one was serving; building the list once and reusing it keeps the switch from ever being
/// flipped while pages are served.
pub fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> =
        std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// Each side's inbound handlers in one registry, composed once per process: the in-process
/// peers, the integration routes and the published enroll route all receive through it.
/// `integration` names neither side; this is where the two meet.
pub fn inbound_handlers() -> Arc<Handlers> {
    static HANDLERS: std::sync::OnceLock<Arc<Handlers>> = std::sync::OnceLock::new();
    HANDLERS
        .get_or_init(|| {
            let mut handlers = Handlers::new();
            crate::programs::inbound::register(&mut handlers);
            crate::grid::inbound::register(&mut handlers);
            Arc::new(handlers)
        })
        .clone()
}

/// The state and the full router, ready to serve. Also used by the API tests.
pub async fn build_app(
    db: Db,
    settings: &WebSettings,
) -> anyhow::Result<(Router, AppState, DbSessionStore)> {
    let clock = settings.clock.clone();
    let calendar = settings.calendar;
    let programs = ProgramService::new(db.clone(), clock.clone(), calendar);
    // The network page adds the program side's enrolment to the grid's model by code.
    let network = NetworkService::new(db.clone(), clock.clone(), programs.clone());
    // site_root points at an empty folder: nothing is served from disk by Leptos.
    let leptos_options = LeptosOptions::builder()
        .output_name("gridflex")
        .site_root("target/site")
        .site_pkg_dir("pkg")
        .site_addr(settings.listen)
        .build();
    let events = EventService::new(
        db.clone(),
        settings.grid.clone(),
        clock.clone(),
        settings.simulated_clock.clone(),
        calendar,
    );
    let state = AppState {
        db: db.clone(),
        users: UserService::new(db.clone()),
        home: HomeService::new(db.clone(), network.clone()),
        enrollments: EnrollmentService::new(db.clone(), clock.clone(), calendar),
        devices: DeviceService::new(db.clone(), clock.clone(), calendar),
        programs,
        network: network.clone(),
        aggregators: AggregatorService::new(db.clone(), clock.clone()),
        meter_data: MeterDataService::new(db.clone(), clock.clone(), calendar),
        forecasts: ForecastService::new(db.clone(), clock.clone(), calendar, network.clone()),
        monitor: MonitorService::new(db.clone(), clock.clone(), calendar),
        audit: AuditService::new(db.clone(), calendar),
        events: events.clone(),
        settlements: SettlementService::new(db.clone(), clock.clone(), calendar),
        reports: ReportService::new(db.clone(), calendar),
        holidays: HolidayService::new(db.clone(), clock.clone()),
        clock,
        metrics: Arc::new(Metrics::default()),
        started: Instant::now(),
        leptos_options: leptos_options.clone(),
        public_metrics: settings.public_metrics,
        trusted_proxies: Arc::new(settings.trusted_proxies.clone()),
        calendar,
        handlers: inbound_handlers(),
        openadr_base: Arc::from(settings.openadr_base.as_str()),
        openadr_callback_hosts: Arc::new(settings.openadr_callback_hosts.clone()),
        openadr_reports: crate::openadr::report_writer::ReportWriter::start(db.clone()),
        openadr_tokens: Arc::default(),
        programs_dialect: settings.programs_dialect,
    };

    let store = DbSessionStore::new(&db, settings.pg_schema.as_deref()).await?;
    let sessions = SessionManagerLayer::new(store.clone())
        .with_name("gridflex_session")
        .with_secure(settings.secure_cookies)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(
            settings.session_hours.max(1),
        )));

    let routes = route_list();
    let page_context = {
        let ports = state.clone();
        move || ports.provide_ports()
    };
    let not_found = leptos_axum::render_app_async_with_context(page_context.clone(), {
        let options = leptos_options.clone();
        move || shell(options.clone())
    });
    // The live script's fragment: the figures alone, never cached (they change every tick).
    let live_figures =
        leptos_axum::render_app_async_with_context(page_context.clone(), app::live_fragment);
    let live_figures = move |req: Request<Body>| {
        let render = live_figures.clone();
        async move {
            let mut res = render(req).await;
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
    };
    let console_router = Router::new()
        .leptos_routes_with_context(&state, routes, page_context, {
            let options = leptos_options.clone();
            move || shell(options.clone())
        })
        .route("/fn/{*fn_name}", post(server_fn_handler))
        .route(app::LIVE_FIGURES_PATH, get(live_figures))
        .route(
            web::meter_upload::UPLOAD_PATH,
            post(web::meter_upload::upload_meter_data),
        )
        .route("/enrollments.csv", get(export::enrollments_csv))
        .route("/audit.csv", get(export::audit_csv))
        .route(
            "/settlements/programs/{code}/billing.csv",
            get(export::billing_csv),
        )
        .fallback(move |req: Request<Body>| not_found(req))
        .layer(from_fn_with_state(
            state.clone(),
            web::report_api::report_files,
        ))
        .layer(axum::middleware::from_fn(server_fn_status))
        .layer(from_fn_with_state(state.clone(), console_context))
        .layer(sessions);

    let integration_router = web::integration::router().layer(RequestBodyLimitLayer::new(
        web::integration::MAX_MESSAGE_BYTES,
    ));
    let router = Router::new()
        .merge(api::router())
        .route(
            "/api/v1/openadr/clients",
            post(crate::openadr::auth::create_client_api)
                .get(crate::openadr::auth::list_clients_api),
        )
        .route(
            "/api/v1/openadr/clients/{client_id}",
            axum::routing::delete(crate::openadr::auth::revoke_client_api),
        )
        .nest(
            &crate::openadr::nest_path(&settings.openadr_base),
            crate::openadr::router(),
        )
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route("/style/gridflex.css", get(stylesheet))
        .route("/style/live.js", get(live_script))
        .merge(console_router)
        // MAX_BODY_BYTES everywhere but the meter data upload, which has its own limit.
        .layer(axum::middleware::from_fn(|req, next| {
            web::meter_upload::body_limit(req, next, MAX_BODY_BYTES)
        }))
        .merge(integration_router)
        .layer(from_fn_with_state(state.clone(), ops::track))
        .layer(from_fn_with_state(state.clone(), client_scope));
    let router = ops::guarded(router, settings.request_timeout)
        .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'self'"),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state.clone());
    Ok((router, state, store))
}

/// Applies the migrations, then fills what they created but cannot fill in SQL (the meter-day
/// table, from the stored readings, once). Every process and test migrates through here, so
/// `db` needs no domain code.
pub async fn migrate(db: &Db) -> anyhow::Result<()> {
    let migrated = db.apply_migrations().await?;
    if migrated.meter_days_need_rebuild {
        crate::programs::meter_days::rebuild(db).await?;
    }
    Ok(())
}

/// Serves until Ctrl-C or SIGTERM, then finishes the requests in flight.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> anyhow::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    Ok(())
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested; finishing requests in flight");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::inbound::{recipient_of, Side};
    use crate::integration::wire::Flow;

    type Register = fn(&mut Handlers);

    fn codes(flows: impl Iterator<Item = Flow>) -> Vec<&'static str> {
        let mut codes: Vec<&str> = flows.map(Flow::as_str).collect();
        codes.sort();
        codes
    }

    #[test]
    fn each_side_registers_exactly_the_flows_addressed_to_it() {
        let sides: [(Side, Register); 2] = [
            (Side::Programs, crate::programs::inbound::register),
            (Side::Grid, crate::grid::inbound::register),
        ];
        for (side, register) in sides {
            let mut handlers = Handlers::new();
            register(&mut handlers);
            let addressed = Flow::ALL.into_iter().filter(|f| recipient_of(*f) == side);
            assert_eq!(codes(handlers.flows()), codes(addressed), "{side:?}");
        }
        assert_eq!(
            codes(inbound_handlers().flows()),
            codes(Flow::ALL.into_iter())
        );
    }
}
