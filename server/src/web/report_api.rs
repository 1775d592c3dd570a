//! REST for the auditor's reports (`/api/v1/reports/…`, in the OpenAPI document) and the
//! reports' CSV downloads (`/reports/events/{id}.csv`, `/reports/programs/{code}.csv`).
//!
//! The router cannot match a parameter followed by `.csv` inside one path segment, and the
//! report pages already own `/reports/events/{id}`; so the downloads are answered by a small
//! layer in front of the console's routes, after the session layer has named the viewer.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

use app::model::Viewer;
use app::report::{EventReport, ReportPort, SeasonReport};
use app::AppError;

use crate::web::api::{path_id, problem, ApiError, ApiViewer, Problem};
use crate::web::AppState;

/// The historical report of one event: stages, outcomes, approvals and lifecycle, expected
/// versus measured reduction, credits and settlement runs (auditor, admin, program manager).
#[utoipa::path(get, path = "/api/v1/reports/events/{id}", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = EventReport), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn event_report(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path(id): Path<String>,
) -> Result<Json<EventReport>, ApiError> {
    Ok(Json(
        state.reports.event_report(&viewer, path_id(&id)?).await?,
    ))
}

/// The season report of one program: events, use per rule cycle against the limits,
/// participation and credits (auditor, admin, program manager).
#[utoipa::path(get, path = "/api/v1/reports/programs/{code}", params(("code" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = SeasonReport), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn season_report(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path(code): Path<String>,
) -> Result<Json<SeasonReport>, ApiError> {
    Ok(Json(state.reports.season_report(&viewer, &code).await?))
}

#[derive(OpenApi)]
#[openapi(paths(event_report, season_report))]
pub struct ReportApiDoc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reports/events/{id}", get(event_report))
        .route("/api/v1/reports/programs/{code}", get(season_report))
}

/// Which report file a path names, if any.
#[derive(Debug, PartialEq)]
enum CsvFile<'a> {
    Event(&'a str),
    Program(&'a str),
}

fn csv_file(path: &str) -> Option<CsvFile<'_>> {
    let name = path.strip_suffix(".csv")?;
    if let Some(id) = name.strip_prefix("/reports/events/") {
        (!id.is_empty() && !id.contains('/')).then_some(CsvFile::Event(id))
    } else if let Some(code) = name.strip_prefix("/reports/programs/") {
        (!code.is_empty() && !code.contains('/')).then_some(CsvFile::Program(code))
    } else {
        None
    }
}

/// Answers the report CSV downloads; every other request goes on to the console.
pub async fn report_files(
    State(state): State<AppState>,
    req: Request<Body>,
    next: Next,
) -> Response {
    if req.method() != Method::GET {
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    let Some(file) = csv_file(&path) else {
        return next.run(req).await;
    };
    let Some(viewer) = req.extensions().get::<Viewer>().cloned() else {
        return problem(401, "Sign-in required", "please sign in".into());
    };
    let made = match file {
        CsvFile::Event(raw) => match path_id(raw) {
            Ok(id) => state.reports.event_csv(&viewer, id).await,
            Err(e) => return e.into_response(),
        },
        CsvFile::Program(code) => {
            let code = percent_decode(code);
            state.reports.season_csv(&viewer, &code).await
        }
    };
    match made {
        Ok((name, body)) => {
            tracing::info!(user = %viewer.username, file = %name, "report CSV export");
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{}\"", name.replace('"', "")),
                    ),
                ],
                body,
            )
                .into_response()
        }
        Err(e) => ApiError(AppError::from(e)).into_response(),
    }
}

/// Program codes are plain, but a browser may still escape characters in a link.
fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_report_csv_paths_are_files() {
        assert_eq!(
            csv_file("/reports/events/12.csv"),
            Some(CsvFile::Event("12"))
        );
        assert_eq!(
            csv_file("/reports/programs/SMT-BYOD.csv"),
            Some(CsvFile::Program("SMT-BYOD"))
        );
        assert_eq!(csv_file("/reports/events/12"), None);
        assert_eq!(csv_file("/reports/events/.csv"), None);
        assert_eq!(csv_file("/reports/events/1/2.csv"), None);
        assert_eq!(csv_file("/enrollments.csv"), None);
    }

    #[test]
    fn escaped_codes_are_decoded() {
        assert_eq!(percent_decode("SMT%2DBYOD"), "SMT-BYOD");
        assert_eq!(percent_decode("A%2"), "A%2");
        assert_eq!(percent_decode("%é"), "%é");
    }
}
