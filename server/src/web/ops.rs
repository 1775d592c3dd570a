//! Liveness, readiness and Prometheus metrics.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{from_fn, Next};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

use crate::web::api::problem;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::web::AppState;

const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Request counts and latency histograms, by method, route and status.
#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut map = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let s = map
            .entry((method.to_string(), route.to_string(), status))
            .or_default();
        s.count += 1;
        s.sum += seconds;
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                s.buckets[i] += 1;
            }
        }
    }

    pub fn render(&self, extra: &str) -> String {
        let map = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        out.push_str("# HELP gridflex_http_requests_total HTTP requests answered.\n# TYPE gridflex_http_requests_total counter\n");
        for ((m, r, s), v) in map.iter() {
            out.push_str(&format!(
                "gridflex_http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{s}\"}} {}\n",
                v.count
            ));
        }
        out.push_str("# HELP gridflex_http_request_duration_seconds Time to answer.\n# TYPE gridflex_http_request_duration_seconds histogram\n");
        for ((m, r, s), v) in map.iter() {
            let labels = format!("method=\"{m}\",route=\"{r}\",status=\"{s}\"");
            for (i, b) in BUCKETS.iter().enumerate() {
                out.push_str(&format!(
                    "gridflex_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}\n",
                    v.buckets[i]
                ));
            }
            out.push_str(&format!(
                "gridflex_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n",
                v.count
            ));
            out.push_str(&format!(
                "gridflex_http_request_duration_seconds_sum{{{labels}}} {}\n",
                v.sum
            ));
            out.push_str(&format!(
                "gridflex_http_request_duration_seconds_count{{{labels}}} {}\n",
                v.count
            ));
        }
        out.push_str(extra);
        out
    }
}

/// A low-cardinality name for the route: the matched pattern, or the path with numbers
/// replaced by `:id`.
fn route_label(req: &Request) -> String {
    if let Some(m) = req.extensions().get::<MatchedPath>() {
        if !m.as_str().contains('*') {
            return m.as_str().to_string();
        }
    }
    let path = req.uri().path();
    if path.starts_with("/style/") {
        return "/style/*".into();
    }
    path.split('/')
        .take(5)
        .map(|seg| {
            if !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit()) {
                ":id"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = route_label(&req);
    let res = next.run(req).await;
    state.metrics.observe(
        &method,
        &route,
        res.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    res
}

/// The guards every request passes: a time limit (a request still unanswered after `limit`
/// is answered 503 and its route logged, so no client waits forever) and a panic guard (a
/// handler that panics answers 500 with a reference to the log line, and the server keeps
/// serving).
pub fn guarded<S: Clone + Send + Sync + 'static>(router: Router<S>, limit: Duration) -> Router<S> {
    router
        .layer(from_fn(move |req: Request, next: Next| {
            time_limit(limit, req, next)
        }))
        .layer(CatchPanicLayer::custom(panicked))
}

async fn time_limit(limit: Duration, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let route = route_label(&req);
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(%method, %route, seconds = limit.as_secs(), "request timed out");
            problem(
                503,
                "Request timed out",
                format!(
                    "the server did not answer within {} s; nothing was lost, try again",
                    limit.as_secs()
                ),
            )
        }
    }
}

fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let reference = format!("{:016x}", rand::random::<u64>());
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    // A short prefix only: a panic message may quote input.
    let message: String = message.chars().take(200).collect();
    tracing::error!(%reference, %message, "a request handler panicked");
    problem(
        500,
        "Internal error",
        format!("something went wrong on the server; reference {reference} in its log"),
    )
}

pub async fn health() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

pub async fn ready(State(state): State<AppState>) -> Response {
    let db_ok = state.db.ping().await.is_ok();
    let migrated = db_ok && state.db.migrations_applied().await.unwrap_or(false);
    let status = if db_ok && migrated {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(
            json!({"database": db_ok, "migrations": migrated, "backend": state.db.backend_name()}),
        ),
    )
        .into_response()
}

/// Prometheus metrics; a scraper signs in with an API token of any role, unless the server
/// runs with `--public-metrics`.
pub async fn metrics(
    State(state): State<AppState>,
    caller: Result<crate::web::api::ApiViewer, crate::web::api::ApiError>,
) -> Response {
    if let (false, Err(refused)) = (state.public_metrics, caller) {
        return refused.into_response();
    }
    let (size, idle) = crate::with_db!(&state.db, |pool| (pool.size(), pool.num_idle()));
    let extra = format!(
        "# HELP gridflex_db_pool_connections Open database connections.\n# TYPE gridflex_db_pool_connections gauge\ngridflex_db_pool_connections {size}\n# HELP gridflex_db_pool_idle Idle database connections.\n# TYPE gridflex_db_pool_idle gauge\ngridflex_db_pool_idle {idle}\n# HELP gridflex_uptime_seconds Seconds since start.\n# TYPE gridflex_uptime_seconds gauge\ngridflex_uptime_seconds {}\n{}",
        state.started.elapsed().as_secs(),
        state.openadr_reports.metrics()
    );
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(&extra),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    async fn status_and_body(router: &Router, path: &str) -> (u16, String) {
        use tower::ServiceExt;
        let res = router
            .clone()
            .oneshot(Request::get(path).body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_panic_answers_500_with_a_reference_and_the_server_keeps_serving() {
        async fn boom() -> &'static str {
            panic!("a bug in a handler")
        }
        let router = guarded(
            Router::new()
                .route("/boom", get(boom))
                .route("/fine", get(|| async { "fine" })),
            Duration::from_secs(5),
        );
        let (status, body) = status_and_body(&router, "/boom").await;
        assert_eq!(status, 500);
        assert!(body.contains("reference"), "{body}");
        assert!(
            !body.contains("a bug in a handler"),
            "the panic stays in the log: {body}"
        );
        assert_eq!(
            status_and_body(&router, "/fine").await,
            (200, "fine".into())
        );
    }

    #[tokio::test]
    async fn a_request_that_never_finishes_answers_503() {
        let router = guarded(
            Router::new()
                .route("/stuck", get(std::future::pending::<&'static str>))
                .route("/fine", get(|| async { "fine" })),
            Duration::from_secs(1),
        );
        let (status, body) = status_and_body(&router, "/stuck").await;
        assert_eq!(status, 503);
        assert!(body.contains("within 1 s"), "{body}");
        assert_eq!(status_and_body(&router, "/fine").await.0, 200);
    }

    #[test]
    fn a_request_lands_in_its_buckets() {
        let m = Metrics::default();
        m.observe("GET", "/home", 200, 0.02);
        let text = m.render("");
        assert!(text.contains(
            "gridflex_http_requests_total{method=\"GET\",route=\"/home\",status=\"200\"} 1"
        ));
        assert!(text.contains("le=\"0.01\"} 0"));
        assert!(text.contains("le=\"0.025\"} 1"));
    }
}
