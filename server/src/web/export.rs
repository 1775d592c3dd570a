//! CSV export of the filtered enrollment list, streamed page by page (keyset) so a million
//! rows never sit in memory at once.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;

use app::model::Viewer;
use app::port::{AuditPort, EnrollmentPort};
use app::query::EnrollmentQuery;

use crate::web::api::{problem, query_pairs, ApiError};
use crate::web::AppState;

const CSV_PAGE: u32 = 500;

fn csv_chunk(rows: &[app::model::EnrollmentRow], header_row: bool) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 160));
    if header_row {
        w.write_record(crate::csv_out::safe([
            "enrollment_id",
            "customer_name",
            "account_id",
            "program_code",
            "status",
            "source",
            "service_point_id",
            "substation",
            "feeder",
            "devices",
            "nominal_kw",
            "start_date",
        ]))?;
    }
    for r in rows {
        w.write_record(crate::csv_out::safe([
            r.id.to_string(),
            r.customer_name.clone(),
            r.account_id.clone(),
            r.program_code.clone(),
            r.status.clone(),
            r.source.clone(),
            r.service_point_id.clone(),
            r.substation_code.clone(),
            r.feeder_code.clone(),
            r.device_count.to_string(),
            format!("{:.1}", r.nominal_kw),
            r.start_date.to_string(),
        ]))?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

pub async fn enrollments_csv(
    State(state): State<AppState>,
    viewer: Option<Extension<Viewer>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Some(Extension(viewer)) = viewer else {
        return problem(401, "Sign-in required", "please sign in".into());
    };
    let pairs = match query_pairs(raw) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    // The export takes the same filters as the REST list, codes included.
    let pairs = match crate::web::api::resolve_codes(
        &state,
        pairs,
        crate::web::api::NodeIds::Program,
    )
    .await
    {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let mut query =
        match EnrollmentQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            Ok(q) => q,
            Err(e) => return ApiError(e).into_response(),
        };
    query.limit = CSV_PAGE;
    query.after = None;
    // The first page is fetched before answering so a refusal is a real status code.
    let first = match state.enrollments.list_enrollments(&viewer, &query).await {
        Ok(p) => p,
        Err(e) => return ApiError::from(e).into_response(),
    };
    tracing::info!(user = %viewer.username, total = first.total, "enrollment CSV export");
    let stream = futures_util::stream::unfold(
        (Some(first), true, state, viewer, query),
        |(page, is_first, state, viewer, mut query)| async move {
            let page = page?;
            let bytes = csv_chunk(&page.rows, is_first).map_err(std::io::Error::other);
            let next = match page.next_after {
                Some(after) => {
                    query.after = Some(after);
                    match state.enrollments.list_enrollments(&viewer, &query).await {
                        Ok(p) => Some(p),
                        Err(e) => {
                            tracing::error!(error = %e, "CSV export stopped");
                            None
                        }
                    }
                }
                None => None,
            };
            Some((bytes, (next, false, state, viewer, query)))
        },
    );
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"enrollments.csv\"",
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Rows per query while exporting the audit trail; the export stops at `AUDIT_CSV_MAX`.
const AUDIT_CSV_PAGE: u32 = 2_000;
const AUDIT_CSV_MAX: usize = 500_000;

/// `GET /audit.csv`: the audit trail with the page's filters, newest first (auditor, admin).
pub async fn audit_csv(
    State(state): State<AppState>,
    viewer: Option<Extension<Viewer>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Some(Extension(viewer)) = viewer else {
        return problem(401, "Sign-in required", "please sign in".into());
    };
    let pairs = match query_pairs(raw) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let mut query =
        match app::query::AuditQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            Ok(q) => q,
            Err(e) => return ApiError(e).into_response(),
        };
    query.limit = AUDIT_CSV_PAGE;
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = [
        "id",
        "occurred_at",
        "actor",
        "action",
        "entity_type",
        "entity_id",
        "before",
        "after",
    ];
    if let Err(e) = out.write_record(crate::csv_out::safe(header)) {
        return ApiError(app::AppError::Internal(e.to_string())).into_response();
    }
    let mut written = 0usize;
    loop {
        let page = match state.audit.list_audit(&viewer, &query).await {
            Ok(p) => p,
            Err(e) => return ApiError::from(e).into_response(),
        };
        for r in &page.rows {
            let record = [
                r.id.to_string(),
                r.occurred_at.to_rfc3339(),
                r.actor.clone(),
                r.action.clone(),
                r.entity_type.clone(),
                r.entity_id.clone(),
                r.before.clone().unwrap_or_default(),
                r.after.clone().unwrap_or_default(),
            ];
            if let Err(e) = out.write_record(crate::csv_out::safe(&record)) {
                return ApiError(app::AppError::Internal(e.to_string())).into_response();
            }
        }
        written += page.rows.len();
        match page.next_after {
            Some(b) if written < AUDIT_CSV_MAX => query.before = Some(b),
            _ => break,
        }
    }
    tracing::info!(user = %viewer.username, rows = written, "audit CSV export");
    let body = match out.into_inner() {
        Ok(b) => b,
        Err(e) => return ApiError(app::AppError::Internal(e.to_string())).into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit.csv\"",
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /settlements/programs/{code}/billing.csv`: the season's credits per customer for
/// billing (program manager, auditor, admin).
pub async fn billing_csv(
    State(state): State<AppState>,
    viewer: Option<Extension<Viewer>>,
    axum::extract::Path(code): axum::extract::Path<String>,
) -> Response {
    let Some(Extension(viewer)) = viewer else {
        return problem(401, "Sign-in required", "please sign in".into());
    };
    match crate::programs::settlement_console::billing_export(
        &state.db,
        state.calendar,
        &viewer,
        &code,
    )
    .await
    {
        Ok(csv) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"billing-{code}.csv\""),
                ),
            ],
            csv,
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
