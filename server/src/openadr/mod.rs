//! OpenADR 3.1: GridFlex as the VTN that aggregators call as VENs (issue 13).
//!
//! An adapter at the grid side's edge, mounted under a configurable base path (default
//! `/openadr/3.1/`): `auth/token` (OAuth 2.0 client credentials) and `auth/server`,
//! `programs` (the programs the grid side knows, from flow 9), `vens` (the aggregators, from
//! flow 10), `events` (each approved stage's devices of one program that one aggregator
//! controls, targeted at that aggregator's VEN; a cancelled event is withdrawn) and
//! `reports` (a VEN's report becomes device outcomes of the stage). Its SQL is the grid
//! side's store `db::openadr`; it imports neither side's code.
//!
//! Errors are Problem documents (`application/problem+json`, numeric `status`); ids match
//! `[A-Za-z0-9_-]{1,128}`; lists take `skip` ≥ 0 and `limit` 1–50.

pub mod auth;
pub mod notify;
pub mod objects;
pub mod openapi;
pub mod report;
pub mod report_writer;
pub mod subscription;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use crate::error::DomainError;
use crate::web::AppState;

/// The default base path of the VTN.
pub const DEFAULT_BASE: &str = "/openadr/3.1/";

/// Largest page a list answers.
pub const MAX_LIMIT: i64 = 50;

/// The scopes a client may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    ReadAll,
    ReadTargets,
    ReadVenObjects,
    WritePrograms,
    WriteEvents,
    WriteReports,
    WriteSubscriptions,
    WriteVens,
}

impl Scope {
    pub const ALL: [Scope; 8] = [
        Scope::ReadAll,
        Scope::ReadTargets,
        Scope::ReadVenObjects,
        Scope::WritePrograms,
        Scope::WriteEvents,
        Scope::WriteReports,
        Scope::WriteSubscriptions,
        Scope::WriteVens,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ReadAll => "read_all",
            Scope::ReadTargets => "read_targets",
            Scope::ReadVenObjects => "read_ven_objects",
            Scope::WritePrograms => "write_programs",
            Scope::WriteEvents => "write_events",
            Scope::WriteReports => "write_reports",
            Scope::WriteSubscriptions => "write_subscriptions",
            Scope::WriteVens => "write_vens",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A Problem answer (RFC 9457) as OpenADR 3.1 defines it: `status` is a number.
#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub title: &'static str,
    pub detail: String,
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
}

impl Problem {
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem {
            status: StatusCode::BAD_REQUEST,
            title: "Bad Request",
            detail: detail.into(),
        }
    }

    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem {
            status: StatusCode::FORBIDDEN,
            title: "Forbidden",
            detail: detail.into(),
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem {
            status: StatusCode::NOT_FOUND,
            title: "Not Found",
            detail: detail.into(),
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem {
            status: StatusCode::UNAUTHORIZED,
            title: "Unauthorized",
            detail: detail.into(),
        }
    }
}

impl From<DomainError> for Problem {
    fn from(e: DomainError) -> Problem {
        let status = match &e {
            DomainError::Invalid(_) => StatusCode::BAD_REQUEST,
            DomainError::NotFound(_) => StatusCode::NOT_FOUND,
            DomainError::Conflict(_) => StatusCode::CONFLICT,
            DomainError::Unauthenticated => StatusCode::UNAUTHORIZED,
            DomainError::Forbidden(_) => StatusCode::FORBIDDEN,
            DomainError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            DomainError::Database(_) | DomainError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let detail = if e.is_client_error() {
            e.to_string()
        } else {
            tracing::error!(error = %e, "OpenADR request failed");
            "something went wrong on our side".to_string()
        };
        Problem {
            status,
            title: status.canonical_reason().unwrap_or("Error"),
            detail,
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = ProblemBody {
            kind: "about:blank",
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
        };
        let mut res = (self.status, Json(body)).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}

/// Whether `s` is an OpenADR identifier: `[A-Za-z0-9_-]{1,128}`.
pub fn is_identifier(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A list request's paging and filters, read from the query string.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub skip: i64,
    pub limit: i64,
    pub program_id: Option<String>,
    pub event_id: Option<String>,
}

impl ListQuery {
    /// Reads `skip` (≥ 0, default 0), `limit` (1–50, default 50), `programID`, `eventID`;
    /// `targets` and the other filters of the specification are accepted and ignored (a VEN
    /// sees only what is targeted at it anyway).
    pub fn parse(raw: Option<&str>) -> Result<ListQuery, Problem> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|e| {
                Problem::bad_request(format!("the query string could not be read: {e}"))
            })?;
        let mut q = ListQuery {
            skip: 0,
            limit: MAX_LIMIT,
            ..ListQuery::default()
        };
        for (k, v) in pairs {
            match k.as_str() {
                "skip" => {
                    q.skip = v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                        Problem::bad_request(format!("skip must be a whole number ≥ 0, not `{v}`"))
                    })?
                }
                "limit" => {
                    q.limit = v
                        .parse::<i64>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            Problem::bad_request(format!(
                                "limit must be a whole number from 1 to {MAX_LIMIT}, not `{v}`"
                            ))
                        })?
                }
                "programID" => q.program_id = Some(checked_id("programID", v)?),
                "eventID" => q.event_id = Some(checked_id("eventID", v)?),
                _ => {}
            }
        }
        Ok(q)
    }
}

fn checked_id(field: &str, v: String) -> Result<String, Problem> {
    if is_identifier(&v) {
        Ok(v)
    } else {
        Err(Problem::bad_request(format!(
            "{field} must match [A-Za-z0-9_-]{{1,128}}"
        )))
    }
}

/// The VTN's routes, to be nested under the base path.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/token", post(auth::token))
        .route("/auth/server", get(auth::server))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/programs", get(objects::list_programs))
        .route("/programs/{id}", get(objects::get_program))
        .route("/vens", get(objects::list_vens))
        .route("/vens/{id}", get(objects::get_ven))
        .route("/events", get(objects::list_events))
        .route("/events/{id}", get(objects::get_event))
        .route(
            "/reports",
            get(report::list_reports).post(report::create_report),
        )
        .route("/reports/{id}", get(report::get_report))
        .route(
            "/subscriptions",
            get(subscription::list_subscriptions).post(subscription::create_subscription),
        )
        .route(
            "/subscriptions/{id}",
            get(subscription::get_subscription)
                .put(subscription::update_subscription)
                .delete(subscription::delete_subscription),
        )
        .fallback(|| async { Problem::not_found("no such OpenADR resource") })
}

/// The base path as axum nests it: leading slash, no trailing one.
/// First path segments the console, the REST API and the integration routes use: the VTN
/// may not be nested under one of them (nor at the root), or the routers would overlap.
const TAKEN_SEGMENTS: &[&str] = &[
    "admin",
    "aggregators",
    "api",
    "audit",
    "confirm",
    "devices",
    "enrollments",
    "events",
    "forecast",
    "fn",
    "health",
    "home",
    "integration",
    "login",
    "logout",
    "meter-data",
    "metrics",
    "monitor",
    "network",
    "pkg",
    "programs",
    "ready",
    "reductions",
    "reports",
    "rest",
    "settlements",
    "strategies",
    "style",
];

/// Checks a configured base path (`--openadr-base`): one or more segments of letters,
/// digits, `.`, `_` and `-`, the first not one the rest of GridFlex uses.
pub fn check_base(base: &str) -> Result<String, String> {
    let segments: Vec<&str> = base.trim().split('/').filter(|s| !s.is_empty()).collect();
    let Some(first) = segments.first() else {
        return Err("the OpenADR base path may not be the root; use e.g. /openadr/3.1/".into());
    };
    if let Some(bad) = segments.iter().find(|s| {
        matches!(**s, "." | "..")
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    }) {
        return Err(format!(
            "`{bad}`: a path segment has only letters, digits, `.`, `_` and `-` (and is not `.` or `..`)"
        ));
    }
    if TAKEN_SEGMENTS.contains(first) {
        return Err(format!(
            "`/{first}` is already used by GridFlex; choose another first segment"
        ));
    }
    Ok(base.trim().to_string())
}

pub fn nest_path(base: &str) -> String {
    let trimmed = base.trim().trim_end_matches('/');
    if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_letters_digits_underscores_and_dashes_up_to_128() {
        assert!(is_identifier("SMT-BYOD_1"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("a b"));
        assert!(!is_identifier(&"x".repeat(129)));
    }

    #[test]
    fn a_limit_of_0_or_51_and_a_negative_skip_are_refused() {
        for q in ["limit=0", "limit=51", "skip=-1", "limit=ten"] {
            let err = ListQuery::parse(Some(q)).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{q}");
        }
        let q = ListQuery::parse(Some("skip=5&limit=50&targets=x")).unwrap();
        assert_eq!((q.skip, q.limit), (5, 50));
    }

    #[test]
    fn a_base_at_the_root_or_under_a_taken_segment_is_refused() {
        for bad in [
            "/",
            "",
            " ",
            "/api/openadr",
            "events",
            "/open adr/",
            "/vtn/../api",
        ] {
            assert!(check_base(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_base("/openadr/3.1/").unwrap(), "/openadr/3.1/");
        assert_eq!(check_base("vtn").unwrap(), "vtn");
    }

    #[test]
    fn the_base_path_is_nested_without_its_trailing_slash() {
        assert_eq!(nest_path("/openadr/3.1/"), "/openadr/3.1");
        assert_eq!(nest_path("vtn"), "/vtn");
    }
}
