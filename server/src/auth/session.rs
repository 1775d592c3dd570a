//! Sessions in the database, and the middleware that puts the signed-in viewer, the CSRF
//! token and the one-time message into each request, and refuses forged form posts.

use app::port::UserPort;
use std::net::SocketAddr;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions::Session;
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use app::access::{may_open, section_of};
use app::model::{
    ClientIp, CsrfToken, Flash, KeptForm, SESSION_CSRF, SESSION_FLASH, SESSION_KEPT_FORM,
    SESSION_USER_ID,
};

use crate::db::Db;
use crate::web::AppState;

/// Sessions live in the same database as everything else, so several server processes
/// behind a load balancer share them.
#[derive(Debug, Clone)]
pub enum DbSessionStore {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl DbSessionStore {
    pub async fn new(db: &Db, pg_schema: Option<&str>) -> anyhow::Result<Self> {
        let store = match db {
            Db::Sqlite(pool) => {
                let s = SqliteStore::new(pool.clone())
                    .with_table_name("sessions")
                    .map_err(anyhow::Error::msg)?;
                s.migrate().await?;
                DbSessionStore::Sqlite(s)
            }
            Db::Postgres(pool) => {
                let mut s = PostgresStore::new(pool.clone())
                    .with_table_name("sessions")
                    .map_err(anyhow::Error::msg)?;
                if let Some(schema) = pg_schema {
                    s = s.with_schema_name(schema).map_err(anyhow::Error::msg)?;
                }
                // Replicas starting together would race on CREATE SCHEMA / TABLE IF NOT EXISTS.
                db.exclusively(crate::db::STARTUP_LOCK, async { Ok(s.migrate().await?) })
                    .await?;
                DbSessionStore::Postgres(s)
            }
        };
        Ok(store)
    }
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            DbSessionStore::Sqlite(s) => s.create(record).await,
            DbSessionStore::Postgres(s) => s.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            DbSessionStore::Sqlite(s) => s.save(record).await,
            DbSessionStore::Postgres(s) => s.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            DbSessionStore::Sqlite(s) => s.load(id).await,
            DbSessionStore::Postgres(s) => s.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            DbSessionStore::Sqlite(s) => s.delete(id).await,
            DbSessionStore::Postgres(s) => s.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for DbSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            DbSessionStore::Sqlite(s) => s.delete_expired().await,
            DbSessionStore::Postgres(s) => s.delete_expired().await,
        }
    }
}

/// Largest form body the CSRF check will read.
const MAX_FORM_BYTES: usize = 64 * 1024;

fn new_csrf_token() -> String {
    use rand::Rng;
    hex::encode(rand::thread_rng().gen::<[u8; 32]>())
}

/// Compares without leaking where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn is_page_request(path: &str) -> bool {
    !(path.starts_with("/style/")
        || path.starts_with("/api/")
        || path.starts_with("/fn/")
        || path.starts_with("/integration/")
        || matches!(path, "/health" | "/ready" | "/metrics" | "/favicon.ico")
        || path.ends_with(".csv")
        || app::is_fragment_path(path))
}

fn forbidden(msg: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg.to_string(),
    )
        .into_response()
}

/// Whether a request for which no route exists is answered with a problem rather than the
/// console's not-found page: anything under `/api/`, anything but a GET, and bearer-token
/// clients (but for the report CSV files, which are answered before routing).
fn wants_a_problem(req: &Request, path: &str) -> bool {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("bearer "));
    path.starts_with("/api/")
        || !matches!(*req.method(), Method::GET | Method::HEAD)
        || (bearer && !path.ends_with(".csv"))
}

/// The client's address: the connection's peer, unless that peer is a trusted proxy; then
/// the right-most address of `X-Forwarded-For` that is not itself a trusted proxy (the left
/// part of the header is whatever the client wrote, and is not believed).
pub fn client_address(
    peer: std::net::IpAddr,
    forwarded_for: Option<&str>,
    trusted: &[ipnet::IpNet],
) -> std::net::IpAddr {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for.unwrap_or_default().rsplit(',') {
        match hop.trim().parse::<std::net::IpAddr>() {
            Ok(ip) if is_trusted(&ip) => client = ip,
            Ok(ip) => return ip,
            Err(_) => break,
        }
    }
    client
}

/// Works out the client's address once per request (honouring `--trusted-proxy`), hands it
/// to sign-in throttling as a request extension and to the audit log as a task-local, so
/// every audit record written while serving the request says where it came from.
pub async fn client_scope(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(peer) = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    else {
        return next.run(req).await;
    };
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let ip = client_address(peer, forwarded, &state.trusted_proxies).to_string();
    req.extensions_mut().insert(ClientIp(ip.clone()));
    crate::db::audit::CLIENT_ADDRESS
        .scope(ip, next.run(req))
        .await
}

struct TooLarge;

/// Reads the body up to `limit` bytes. A larger one is read on to its end (up to the
/// request's own limit) so the browser sees the answer, and is refused.
async fn read_at_most(body: Body, limit: usize) -> Result<axum::body::Bytes, TooLarge> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut kept = Vec::new();
    let mut over = false;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(TooLarge);
        };
        if let Ok(data) = frame.into_data() {
            if over || kept.len() + data.len() > limit {
                over = true;
                kept = Vec::new();
            } else {
                kept.extend_from_slice(&data);
            }
        }
    }
    if over {
        Err(TooLarge)
    } else {
        Ok(kept.into())
    }
}

/// The `csrf` field of a multipart form, if it has one.
async fn multipart_csrf(
    parts: &axum::http::request::Parts,
    bytes: axum::body::Bytes,
) -> Option<String> {
    let mut form = crate::web::meter_upload::multipart_form(&parts.headers, bytes)?;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some("csrf") {
            return field.text().await.ok();
        }
    }
    None
}

/// The console middleware. Runs inside the session layer.
pub async fn console_context(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    if req.extensions().get::<MatchedPath>().is_none() && wants_a_problem(&req, &path) {
        // No route: API clients and form posts get a 404 problem (not a CSRF refusal);
        // browsers asking for a page get the console's not-found page below.
        let shown: String = path.chars().take(100).collect();
        return crate::web::api::problem(
            404,
            "Not found",
            format!("there is no {} {shown}", req.method()),
        );
    }
    // The REST API, probes and the stylesheet do not use the console session.
    if path.starts_with("/api/")
        || path.starts_with("/style/")
        || matches!(path.as_str(), "/health" | "/ready" | "/metrics")
    {
        return next.run(req).await;
    }
    let Some(session) = req.extensions().get::<Session>().cloned() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "session layer missing").into_response();
    };

    if req.extensions().get::<ClientIp>().is_none() {
        req.extensions_mut().insert(ClientIp("unknown".into()));
    }

    let csrf = match session.get::<String>(SESSION_CSRF).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            let t = new_csrf_token();
            if let Err(e) = session.insert(SESSION_CSRF, &t).await {
                tracing::error!(error = %e, "cannot store the CSRF token");
                return (StatusCode::SERVICE_UNAVAILABLE, "session store unavailable")
                    .into_response();
            }
            t
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read the session");
            return (StatusCode::SERVICE_UNAVAILABLE, "session store unavailable").into_response();
        }
    };

    // A browser's form posted to a server function, kept in case the server refuses it.
    let mut posted: Option<Vec<(String, String)>> = None;
    // Every state-changing request to a server function must carry the session's token.
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let (parts, body) = req.into_parts();
        // A file upload (multipart) may be larger than a form; its token is one of its fields.
        let multipart = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
        let limit = if multipart {
            crate::web::meter_upload::MAX_FORM_BYTES
        } else {
            MAX_FORM_BYTES
        };
        let read = if multipart {
            read_at_most(body, limit).await
        } else {
            axum::body::to_bytes(body, limit)
                .await
                .map_err(|_| TooLarge)
        };
        let bytes = match read {
            Ok(b) => b,
            Err(TooLarge) if multipart => {
                let referer = parts.headers.get(header::REFERER);
                let back = app::access::referer_path(referer.and_then(|r| r.to_str().ok()))
                    .unwrap_or_else(|| "/home".into());
                let message = crate::web::meter_upload::too_large_message();
                return crate::web::meter_upload::to_page(&session, true, message, &back).await;
            }
            Err(TooLarge) => {
                return (StatusCode::PAYLOAD_TOO_LARGE, "the form is too large").into_response()
            }
        };
        let header_token = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let form_token = if multipart {
            multipart_csrf(&parts, bytes.clone()).await
        } else {
            let pairs = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes).ok();
            let token = pairs
                .as_ref()
                .and_then(|p| p.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.clone()));
            if path.starts_with("/fn/") && accepts_html(&parts.headers) {
                posted = pairs;
            }
            token
        };
        let presented = header_token.or(form_token).unwrap_or_default();
        if !constant_time_eq(presented.as_bytes(), csrf.as_bytes()) {
            tracing::warn!(path = %parts.uri.path(), "form post refused: missing or wrong CSRF token");
            return forbidden("This form has expired or was not sent by GridFlex (CSRF token missing or wrong). Reload the page and try again.");
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }
    req.extensions_mut().insert(CsrfToken(csrf));

    let viewer = match session.get::<i64>(SESSION_USER_ID).await {
        Ok(Some(user_id)) => match state.users.viewer(user_id).await {
            Ok(Some(v)) => Some(v),
            Ok(None) => {
                // Disabled or deleted since sign-in: end the session.
                let _ = session.flush().await;
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot load the signed-in user");
                return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response();
            }
        },
        _ => None,
    };

    if req.method() == Method::GET {
        if let Some(section) = section_of(&path) {
            match &viewer {
                None if !is_page_request(&path) => {
                    return (StatusCode::UNAUTHORIZED, "please sign in").into_response()
                }
                None => {
                    let next_url = match req.uri().query() {
                        Some(q) => format!("{path}?{q}"),
                        None => path.clone(),
                    };
                    let to = format!("/login?next={}", app::query::encode(&next_url));
                    return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
                }
                // Pages render their own 403 inside the layout; everything else is refused here.
                Some(v) if !may_open(&path, v.role) && !is_page_request(&path) => {
                    return forbidden(&format!("Your role may not open {}", section.label));
                }
                _ => {}
            }
        }
        if is_page_request(&path) {
            if let Ok(Some(flash)) = session.remove::<Flash>(SESSION_FLASH).await {
                req.extensions_mut().insert(flash);
            }
            if let Ok(Some(kept)) = session.remove::<KeptForm>(SESSION_KEPT_FORM).await {
                req.extensions_mut().insert(kept);
            }
        }
    }
    if let Some(v) = viewer {
        req.extensions_mut().insert(v);
    }
    let res = next.run(req).await;
    // A refused form (an error to show and a redirect back): what was typed goes back with it.
    if let Some(kept) = posted.and_then(|p| KeptForm::new(&path, p)) {
        let refused = res.status().is_redirection()
            && matches!(session.get::<Flash>(SESSION_FLASH).await, Ok(Some(f)) if f.is_error);
        if refused {
            if let Err(e) = session.insert(SESSION_KEPT_FORM, &kept).await {
                tracing::warn!(error = %e, "cannot keep a refused form");
            }
        }
    }
    res
}

/// Whether a request comes from a browser (it accepts HTML), whose refused form comes back.
fn accepts_html(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forwarded_address_counts_only_behind_a_trusted_proxy() {
        let proxy = "10.0.0.5".parse().unwrap();
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let client = "203.0.113.7".parse::<std::net::IpAddr>().unwrap();
        // Behind the proxy: the address the proxy appended.
        assert_eq!(client_address(proxy, Some("203.0.113.7"), &trusted), client);
        // A client writing its own header first cannot choose its address.
        assert_eq!(
            client_address(proxy, Some("198.51.100.1, 203.0.113.7"), &trusted),
            client
        );
        // Two trusted proxies in a row.
        assert_eq!(
            client_address(proxy, Some("203.0.113.7, 10.0.0.9"), &trusted),
            client
        );
        // Without a trusted peer, the header is ignored.
        let direct = "198.51.100.20".parse().unwrap();
        assert_eq!(
            client_address(direct, Some("203.0.113.7"), &trusted),
            direct
        );
        assert_eq!(client_address(proxy, Some("203.0.113.7"), &[]), proxy);
        // A header that is not addresses leaves the proxy's own.
        assert_eq!(client_address(proxy, Some("garbage"), &trusted), proxy);
    }

    #[test]
    fn tokens_compare_by_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn exports_and_probes_are_not_pages() {
        assert!(is_page_request("/enrollments"));
        assert!(!is_page_request("/enrollments.csv"));
        assert!(!is_page_request("/fn/login"));
        assert!(!is_page_request("/health"));
    }
}
