//! The GridFlex console: server-rendered Leptos pages, their server functions, the DTOs they
//! exchange and the port the server implements. Works without JavaScript or WebAssembly.

pub mod access;
pub mod api;
pub mod components;
pub mod error;
pub mod event_api;
pub mod grid;
pub mod model;
pub mod pages;
pub mod port;
pub mod query;
pub mod report;
pub mod report_api;
pub mod settlement;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

pub use error::AppError;

use pages::*;

/// The HTML document around every page.
pub fn shell(_options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Async: the whole page is rendered before it is sent, so it works without JavaScript and
    // redirects are real 302s.
    let ssr = SsrMode::Async;
    view! {
        <Stylesheet href="/style/gridflex.css"/>
        <Title text="GridFlex"/>
        <Router>
            <Routes fallback=NotFoundPage>
                <Route path=path!("/") view=RootPage ssr=ssr.clone()/>
                <Route path=path!("/login") view=LoginPage ssr=ssr.clone()/>
                <Route path=path!("/home") view=HomePage ssr=ssr.clone()/>
                <Route path=path!("/enrollments") view=EnrollmentListPage ssr=ssr.clone()/>
                <Route path=path!("/enrollments/:id") view=EnrollmentDetailPage ssr=ssr.clone()/>
                <Route path=path!("/devices") view=DeviceListPage ssr=ssr.clone()/>
                <Route path=path!("/devices/:id") view=DeviceDetailPage ssr=ssr.clone()/>
                <Route path=path!("/programs") view=ProgramListPage ssr=ssr.clone()/>
                <Route path=path!("/programs/:id") view=ProgramDetailPage ssr=ssr.clone()/>
                <Route path=path!("/network") view=NetworkPage ssr=ssr.clone()/>
                <Route path=path!("/strategies") view=StrategyListPage ssr=ssr.clone()/>
                <Route path=path!("/strategies/:id") view=StrategyDetailPage ssr=ssr.clone()/>
                <Route path=path!("/events") view=EventListPage ssr=ssr.clone()/>
                <Route path=path!("/events/:id") view=EventDetailPage ssr=ssr.clone()/>
                <Route path=path!("/forecast") view=ForecastPage ssr=ssr.clone()/>
                <Route path=path!("/reductions") view=ReductionPage ssr=ssr.clone()/>
                <Route path=path!("/aggregators") view=AggregatorPage ssr=ssr.clone()/>
                <Route path=path!("/meter-data") view=MeterDataPage ssr=ssr.clone()/>
                <Route path=path!("/settlements") view=SettlementPage ssr=ssr.clone()/>
                <Route path=path!("/settlements/events/:code") view=SettlementEventPage ssr=ssr.clone()/>
                <Route path=path!("/settlements/programs/:code") view=SeasonPage ssr=ssr.clone()/>
                <Route path=path!("/reports") view=ReportIndexPage ssr=ssr.clone()/>
                <Route path=path!("/reports/events/:id") view=EventReportPage ssr=ssr.clone()/>
                <Route path=path!("/reports/programs/:code") view=SeasonReportPage ssr=ssr.clone()/>
                <Route path=path!("/audit") view=AuditPage ssr=ssr.clone()/>
                <Route path=path!("/monitor") view=MonitorPage ssr=ssr.clone()/>
                <Route path=path!("/monitor/:id") view=MessageDetailPage ssr=ssr.clone()/>
                <Route path=path!("/admin/users") view=UserAdminPage ssr=ssr.clone()/>
                <Route path=path!("/admin/value-maps") view=ValueMapPage ssr=ssr.clone()/>
                <Route path=path!("/admin/holidays") view=HolidayPage ssr=ssr/>
            </Routes>
        </Router>
    }
}
