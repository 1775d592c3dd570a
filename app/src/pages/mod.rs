//! The console's pages, one module per noun.

mod aggregator;
mod audit;
mod device;
mod enrollment;
mod event;
mod forecast;
mod home;
mod meter;
mod monitor;
mod network;
mod program;
mod report;
mod settlement;
mod strategy;
mod user;

pub use aggregator::AggregatorPage;
pub use audit::AuditPage;
pub use device::{DeviceDetailPage, DeviceListPage};
pub use enrollment::{EnrollmentDetailPage, EnrollmentListPage};
pub use event::{EventDetailPage, EventListPage};
pub use forecast::{ForecastPage, ReductionPage};
pub use home::{HomePage, LoginPage, NotFoundPage, RootPage};
pub use meter::MeterDataPage;
pub use monitor::{MessageDetailPage, MonitorPage};
pub use network::NetworkPage;
pub use program::{ProgramDetailPage, ProgramListPage};
pub use report::{EventReportPage, ReportIndexPage, SeasonReportPage};
pub use settlement::{SeasonPage, SettlementEventPage, SettlementPage};
pub use strategy::{StrategyDetailPage, StrategyListPage};
pub use user::{HolidayPage, UserAdminPage, ValueMapPage};

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{de::DeserializeOwned, Serialize};

use crate::components::ErrorPanel;
use crate::error::AppError;

/// Waits for `res` and renders it, or the error with its HTTP status.
pub(crate) fn show<T, V, F>(res: Resource<Result<T, AppError>>, render: F) -> impl IntoView
where
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    V: IntoView + 'static,
    F: Fn(T) -> V + Clone + Send + Sync + 'static,
{
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let render = render.clone();
                Suspend::new(async move {
                    match res.await {
                        Ok(v) => render(v).into_any(),
                        Err(e) => view! { <ErrorPanel err=e/> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

/// Parses the URL query with `parse`; a bad parameter becomes a 400 naming it.
pub(crate) fn query_with<Q>(
    parse: impl Fn(Vec<(String, String)>) -> Result<Q, AppError> + Send + Sync + 'static,
) -> impl Fn() -> Result<Q, AppError> + Send + Sync + 'static {
    let query = use_query_map();
    move || {
        let map = query.get();
        let pairs: Vec<(String, String)> = (&map)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(pairs)
    }
}

pub(crate) fn pairs(v: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

/// The `:id` of the route, or a 404 for anything that is not a positive number.
pub(crate) fn route_id(what: &'static str) -> impl Fn() -> Result<i64, AppError> + Send + Sync {
    let params = use_params_map();
    move || {
        params
            .get()
            .get("id")
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|v| *v > 0)
            .ok_or_else(|| AppError::NotFound(what.to_string()))
    }
}
