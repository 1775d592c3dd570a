//! The state every route shares: the database, the services behind the console and the REST
//! API, and the settings the middleware reads. `startup` builds it; routes only read it.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use app::port::Console;

use crate::console::ConsoleService;
use crate::db::Db;
use crate::grid::console::EventService;
use crate::programs::settlement_console::SettlementService;
use crate::report::ReportService;
use crate::web::ops::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub service: Arc<ConsoleService>,
    pub console: Console,
    pub events: Arc<EventService>,
    pub settlements: Arc<SettlementService>,
    pub reports: Arc<ReportService>,
    pub metrics: Arc<Metrics>,
    pub started: Instant,
    pub leptos_options: LeptosOptions,
    /// `/metrics` without a token.
    pub public_metrics: bool,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
