//! The state every route shares: the database, one service per area behind the console and
//! the REST API, and the settings the middleware reads. `startup` builds it; routes only read it.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::FromRef;
use leptos::prelude::*;

use app::grid::Events;
use app::port::*;
use app::report::Reports;
use app::settlement::Settlements;

use crate::audit::AuditService;
use crate::auth::user_service::UserService;
use crate::calendar::holiday_service::HolidayService;
use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::db::Db;
use crate::grid::console::EventService;
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

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub users: Arc<UserService>,
    pub home: Arc<HomeService>,
    pub enrollments: Arc<EnrollmentService>,
    pub devices: Arc<DeviceService>,
    pub programs: Arc<ProgramService>,
    pub network: Arc<NetworkService>,
    pub aggregators: Arc<AggregatorService>,
    pub meter_data: Arc<MeterDataService>,
    pub forecasts: Arc<ForecastService>,
    pub monitor: Arc<MonitorService>,
    pub audit: Arc<AuditService>,
    pub events: Arc<EventService>,
    pub settlements: Arc<SettlementService>,
    pub reports: Arc<ReportService>,
    pub holidays: Arc<HolidayService>,
    /// The process's one clock (see `WebSettings::clock`); handlers read "now" here.
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub started: Instant,
    pub leptos_options: LeptosOptions,
    /// `/metrics` without a token.
    pub public_metrics: bool,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// The utility's calendar (time zone).
    pub calendar: Calendar,
    /// Each side's inbound handlers (`startup::inbound_handlers`), for the receiving routes.
    pub handlers: Arc<Handlers>,
    /// Where the OpenADR 3.1 VTN is served (its OpenAPI document names it).
    pub openadr_base: Arc<str>,
    /// Hosts besides loopback that OpenADR subscriptions may call back.
    pub openadr_callback_hosts: Arc<Vec<String>>,
    /// Writes OpenADR reports in groups (one task per process).
    pub openadr_reports: Arc<crate::openadr::report_writer::ReportWriter>,
    /// OpenADR tokens found valid a moment ago.
    pub openadr_tokens: Arc<crate::openadr::auth::TokenCache>,
    /// The dialect the program side speaks (`WebSettings::programs_dialect`).
    pub programs_dialect: crate::config::ProgramsDialect,
}

impl AppState {
    /// Every area's port, where the pages and server functions look for it (context).
    pub(crate) fn provide_ports(&self) {
        provide_context::<Users>(self.users.clone());
        provide_context::<Overview>(self.home.clone());
        provide_context::<Enrollments>(self.enrollments.clone());
        provide_context::<Devices>(self.devices.clone());
        provide_context::<Programs>(self.programs.clone());
        provide_context::<NetworkModel>(self.network.clone());
        provide_context::<Aggregators>(self.aggregators.clone());
        provide_context::<MeterData>(self.meter_data.clone());
        provide_context::<Forecasts>(self.forecasts.clone());
        provide_context::<Integration>(self.monitor.clone());
        provide_context::<Audit>(self.audit.clone());
        provide_context::<Events>(self.events.clone());
        provide_context::<Settlements>(self.settlements.clone());
        provide_context::<Reports>(self.reports.clone());
        provide_context::<Holidays>(self.holidays.clone());
        provide_context(app::components::LocalZone(self.calendar.zone()));
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
