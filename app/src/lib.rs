//! The GridFlex console: server-rendered Leptos pages, their server functions, the DTOs they
//! exchange and the port the server implements. Works without JavaScript or WebAssembly.
// The event page's view is one deep type; its layout needs more than the default 128.
#![recursion_limit = "256"]

pub mod access;
pub mod api;
pub mod components;
pub mod confirm;
pub mod error;
pub mod event_api;
pub mod format;
pub mod grid;
pub mod history;
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

/// The path of an event's live figures (served alone, without the document around them).
pub const LIVE_FIGURES_PATH: &str = "/events/{id}/live";

/// Whether `path` is a fragment of a page (an event's live figures): signed out it is
/// refused (401) rather than sent to the sign-in page, and it never takes a page's flash.
pub fn is_fragment_path(path: &str) -> bool {
    path.strip_prefix("/events/")
        .and_then(|rest| rest.strip_suffix("/live"))
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// What `/events/{id}/live` renders: the event's live figures alone, for `/style/live.js`.
pub fn live_fragment() -> impl IntoView {
    view! {
        <Router>
            <Routes fallback=|| "Not found">
                <Route path=path!("/events/:id/live") view=EventLiveFragment ssr=SsrMode::Async/>
            </Routes>
        </Router>
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
        // Each route names its page ("Events · GridFlex"); detail pages name their object.
        <Title formatter=|text: String| {
            if text == "GridFlex" { text } else { format!("{text} · GridFlex") }
        }/>
        <Router>
            <Routes fallback=|| view! { <Title text="Not found"/><NotFoundPage/> }>
                <Route path=path!("/") view=|| view! { <Title text="GridFlex"/><RootPage/> } ssr=ssr.clone()/>
                <Route path=path!("/login") view=|| view! { <Title text="Sign in"/><LoginPage/> } ssr=ssr.clone()/>
                <Route path=path!("/home") view=|| view! { <Title text="Home"/><HomePage/> } ssr=ssr.clone()/>
                <Route path=path!("/enrollments") view=|| view! { <Title text="Enrollments"/><EnrollmentListPage/> } ssr=ssr.clone()/>
                <Route path=path!("/enrollments/:id") view=|| view! { <Title text="Enrollment"/><EnrollmentDetailPage/> } ssr=ssr.clone()/>
                <Route path=path!("/devices") view=|| view! { <Title text="Devices"/><DeviceListPage/> } ssr=ssr.clone()/>
                <Route path=path!("/devices/:id") view=|| view! { <Title text="Device"/><DeviceDetailPage/> } ssr=ssr.clone()/>
                <Route path=path!("/programs") view=|| view! { <Title text="Programs"/><ProgramListPage/> } ssr=ssr.clone()/>
                <Route path=path!("/programs/:id") view=|| view! { <Title text="Program"/><ProgramDetailPage/> } ssr=ssr.clone()/>
                <Route path=path!("/network") view=|| view! { <Title text="Network"/><NetworkPage/> } ssr=ssr.clone()/>
                <Route path=path!("/strategies") view=|| view! { <Title text="Strategies"/><StrategyListPage/> } ssr=ssr.clone()/>
                <Route path=path!("/strategies/:id") view=|| view! { <Title text="Strategy"/><StrategyDetailPage/> } ssr=ssr.clone()/>
                <Route path=path!("/events") view=|| view! { <Title text="Events"/><EventListPage/> } ssr=ssr.clone()/>
                <Route path=path!("/events/:id") view=|| view! { <Title text="Event"/><EventDetailPage/> } ssr=ssr.clone()/>
                <Route path=path!("/forecast") view=|| view! { <Title text="Forecast"/><ForecastPage/> } ssr=ssr.clone()/>
                <Route path=path!("/reductions") view=|| view! { <Title text="Expected reductions"/><ReductionPage/> } ssr=ssr.clone()/>
                <Route path=path!("/aggregators") view=|| view! { <Title text="Aggregators"/><AggregatorPage/> } ssr=ssr.clone()/>
                <Route path=path!("/meter-data") view=|| view! { <Title text="Meter data"/><MeterDataPage/> } ssr=ssr.clone()/>
                <Route path=path!("/settlements") view=|| view! { <Title text="Settlement"/><SettlementPage/> } ssr=ssr.clone()/>
                <Route path=path!("/settlements/events/:code") view=|| view! { <Title text="Event settlement"/><SettlementEventPage/> } ssr=ssr.clone()/>
                <Route path=path!("/settlements/programs/:code") view=|| view! { <Title text="Season settlement"/><SeasonPage/> } ssr=ssr.clone()/>
                <Route path=path!("/reports") view=|| view! { <Title text="Reports"/><ReportIndexPage/> } ssr=ssr.clone()/>
                <Route path=path!("/reports/events/:id") view=|| view! { <Title text="Event report"/><EventReportPage/> } ssr=ssr.clone()/>
                <Route path=path!("/reports/programs/:code") view=|| view! { <Title text="Season report"/><SeasonReportPage/> } ssr=ssr.clone()/>
                <Route path=path!("/audit") view=|| view! { <Title text="Audit trail"/><AuditPage/> } ssr=ssr.clone()/>
                <Route path=path!("/monitor") view=|| view! { <Title text="Integration monitor"/><MonitorPage/> } ssr=ssr.clone()/>
                <Route path=path!("/monitor/value-maps") view=|| view! { <Title text="Value maps"/><ValueMapPage/> } ssr=ssr.clone()/>
                <Route path=path!("/monitor/:id") view=|| view! { <Title text="Integration message"/><MessageDetailPage/> } ssr=ssr.clone()/>
                <Route path=path!("/admin/users") view=|| view! { <Title text="Users"/><UserAdminPage/> } ssr=ssr.clone()/>
                <Route path=path!("/admin/value-maps") view=|| view! { <Title text="Value maps"/><ValueMapPage/> } ssr=ssr.clone()/>
                <Route path=path!("/admin/holidays") view=|| view! { <Title text="Holidays"/><HolidayPage/> } ssr=ssr.clone()/>
                <Route path=path!("/confirm") view=|| view! { <Title text="Confirm"/><ConfirmPage/> } ssr=ssr/>
            </Routes>
        </Router>
    }
}
