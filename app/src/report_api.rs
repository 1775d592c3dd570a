//! Server functions of the report pages: who asks, what they asked, one call through the
//! report port.

use leptos::prelude::*;

use crate::error::AppError;
use crate::report::*;

fn reports() -> Result<(Reports, crate::model::Viewer), AppError> {
    let viewer = crate::api::viewer()?;
    let port =
        use_context::<Reports>().ok_or_else(|| AppError::Internal("no report port".into()))?;
    Ok((port, viewer))
}

#[server(prefix = "/fn", endpoint = "load_report_index")]
pub async fn load_report_index() -> Result<ReportIndex, AppError> {
    let (p, v) = reports()?;
    p.report_index(&v).await
}

#[server(prefix = "/fn", endpoint = "load_event_report")]
pub async fn load_event_report(id: i64) -> Result<EventReport, AppError> {
    let (p, v) = reports()?;
    p.event_report(&v, id).await
}

#[server(prefix = "/fn", endpoint = "load_season_report")]
pub async fn load_season_report(code: String) -> Result<SeasonReport, AppError> {
    let (p, v) = reports()?;
    p.season_report(&v, &code).await
}
