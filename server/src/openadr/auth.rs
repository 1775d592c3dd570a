//! OpenADR clients and OAuth 2.0 client credentials: `auth/token` issues a bearer token for
//! a client id and secret (HTTP Basic, or `client_id`/`client_secret` in the form), and every
//! other request is made as the [`Caller`] its token stands for.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use chrono::{Duration, Utc};
use serde_json::json;

use super::{Problem, Scope};
use crate::auth::{generate_token, token_hash};
use crate::db::audit::{append, NewAuditEntry};
use crate::db::openadr::ClientRow;
use crate::db::{openadr as store, Db};
use crate::error::DomainError;
use crate::web::AppState;

/// How long an issued token is valid.
pub const TOKEN_SECONDS: i64 = 3600;

/// A client as created: its id and the secret, shown this once.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub client_id: String,
    pub secret: String,
}

/// Creates an OpenADR client with `scopes`; with `ven` (an aggregator's external
/// reference, which the grid side must know) it is that aggregator's VEN client. Audited.
pub async fn create_client(
    db: &Db,
    actor: &str,
    name: &str,
    scopes: &[String],
    ven: Option<&str>,
) -> Result<NewClient, DomainError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(DomainError::invalid(
            "name: an OpenADR client's name has 1 to 64 characters",
        ));
    }
    if scopes.is_empty() {
        return Err(DomainError::invalid(
            "scope: give at least one (read_all, read_targets, read_ven_objects, write_programs, write_events, write_reports, write_subscriptions, write_vens)",
        ));
    }
    let mut parsed: Vec<Scope> = Vec::new();
    for s in scopes {
        let scope = Scope::parse(s.trim())
            .ok_or_else(|| DomainError::invalid(format!("scope: unknown scope `{s}`")))?;
        if !parsed.contains(&scope) {
            parsed.push(scope);
        }
    }
    if let Some(v) = ven {
        if store::ven(db, v).await?.is_none() {
            return Err(DomainError::invalid(format!(
                "ven: no aggregator with the external reference `{v}` is known to the grid side"
            )));
        }
    }
    let scopes_text = parsed
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let client_id = format!("oadr-{}", &generate_token()[4..28]);
    let secret = generate_token();
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let id = store::insert_client(
        &mut tx,
        &client_id,
        name,
        &token_hash(&secret),
        &scopes_text,
        ven,
        now,
    )
    .await?;
    append(
        &mut tx,
        NewAuditEntry::new(actor, "openadr_client.create", "openadr_client", id)
            .after(json!({"name": name, "clientId": client_id, "scopes": scopes_text, "ven": ven})),
    )
    .await?;
    tx.commit().await?;
    Ok(NewClient { client_id, secret })
}

/// Revokes the client `client_id`: its secret no longer gets a token and its tokens are
/// deleted, so it is refused at once. Audited in the same transaction; an unknown id is
/// not found. Revoking a revoked client again is harmless (and audited again).
pub async fn revoke_client(db: &Db, actor: &str, client_id: &str) -> Result<(), DomainError> {
    let client_id = client_id.trim();
    let mut tx = db.begin().await?;
    let before = store::revoke_client(&mut tx, client_id)
        .await?
        .ok_or_else(|| DomainError::not_found(format!("OpenADR client {client_id}")))?;
    append(
        &mut tx,
        NewAuditEntry::new(actor, "openadr_client.revoke", "openadr_client", before.id)
            .before(json!({"clientId": before.client_id, "revoked": before.revoked}))
            .after(json!({"clientId": before.client_id, "revoked": true})),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut res = (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("header"));
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"openadr\"".parse().expect("header"),
        );
    }
    res
}

/// `POST auth/token`: the client credentials grant (form-encoded).
pub async fn token(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: Vec<(String, String)> = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body must be application/x-www-form-urlencoded",
            )
        }
    };
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    match field("grant_type").as_deref() {
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only grant_type=client_credentials is supported",
            )
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
            )
        }
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(i, p)| (i.to_string(), p.to_string()))
        });
    let credentials = basic.or_else(|| Some((field("client_id")?, field("client_secret")?)));
    let Some((id, secret)) = credentials else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "send the client id and secret with HTTP Basic or as client_id and client_secret",
        );
    };
    let client = match store::client_by_secret(&state.db, &id, &token_hash(&secret)).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "unknown client id or wrong secret",
            )
        }
        Err(e) => return Problem::from(e).into_response(),
    };
    let access = generate_token();
    // Token lifetimes follow the wall clock, as the integration tokens' do.
    let now = Utc::now();
    let expires = now + Duration::seconds(TOKEN_SECONDS);
    if let Err(e) =
        store::insert_token(&state.db, &token_hash(&access), client.id, now, expires).await
    {
        return Problem::from(e).into_response();
    }
    let mut res = Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": TOKEN_SECONDS,
        "scope": client.scopes.replace(',', " "),
    }))
    .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("header"));
    res
}

/// `GET auth/server`: where tokens are issued (this VTN's own `auth/token`). Behind a
/// trusted proxy (`--trusted-proxy`) the proxy's `X-Forwarded-Proto` and `X-Forwarded-Host`
/// name the public address, so a VEN is sent to `https://…` when TLS ends at the proxy; from
/// anyone else those headers are ignored.
pub async fn server(
    axum::extract::State(state): axum::extract::State<AppState>,
    OriginalUri(uri): OriginalUri,
    req: axum::extract::Request,
) -> Response {
    let via_proxy = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .is_some_and(|c| state.trusted_proxies.iter().any(|n| n.contains(&c.0.ip())));
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let scheme = match via_proxy.then(|| header("x-forwarded-proto")).flatten() {
        Some("https") => "https",
        _ => "http",
    };
    let host = via_proxy
        .then(|| header("x-forwarded-host"))
        .flatten()
        .or_else(|| header(header::HOST.as_str()))
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("localhost");
    let path = uri.path();
    let base = path.strip_suffix("auth/server").unwrap_or("/");
    Json(json!({"tokenURL": format!("{scheme}://{host}{base}auth/token")})).into_response()
}

/// The client a request is made by, from its bearer token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: i64,
    pub client_id: String,
    pub scopes: Vec<Scope>,
    /// For a VEN client: its aggregator's external reference (also the VEN's id and name).
    pub ven: Option<String>,
}

impl Caller {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Refused (403) unless the caller holds one of `scopes`.
    pub fn require(&self, scopes: &[Scope], what: &str) -> Result<(), Problem> {
        if scopes.iter().any(|s| self.has(*s)) {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "{what} needs the scope {}",
                scopes
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )))
        }
    }
}

/// Tokens found valid within the last [`TokenCache::FRESH`], per process: a VEN's burst of
/// requests reads its token from the database about once a second instead of once per
/// request. A token is never used past its expiry. A client revoked through this process is
/// forgotten at once; one revoked elsewhere (another process, the CLI) is refused by every
/// process within [`TokenCache::FRESH`] (a JWT, as openleadr-vtn issues, stays valid until
/// it expires).
#[derive(Debug, Default)]
pub struct TokenCache {
    seen: std::sync::Mutex<std::collections::HashMap<String, (ClientRow, std::time::Instant)>>,
}

impl TokenCache {
    /// How long a token found valid is taken as valid without asking the database again.
    pub const FRESH: std::time::Duration = std::time::Duration::from_secs(1);
    /// Most tokens kept; past it the stale ones are dropped (all, if none is stale).
    const MAX: usize = 10_000;

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, (ClientRow, std::time::Instant)>>
    {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The client of a token found valid a moment ago, if it is still unexpired at `now`.
    pub fn get(&self, hash: &str, now: chrono::DateTime<Utc>) -> Option<ClientRow> {
        let seen = self.lock();
        let (client, checked) = seen.get(hash)?;
        let unexpired = client.token_expires_at.is_some_and(|t| t > now);
        (unexpired && checked.elapsed() < Self::FRESH).then(|| client.clone())
    }

    /// Keeps a token just found valid in the database.
    pub fn keep(&self, hash: String, client: &ClientRow) {
        let mut seen = self.lock();
        if seen.len() >= Self::MAX {
            seen.retain(|_, (_, checked)| checked.elapsed() < Self::FRESH);
            if seen.len() >= Self::MAX {
                seen.clear();
            }
        }
        seen.insert(hash, (client.clone(), std::time::Instant::now()));
    }

    /// Forgets every token of a client (it was revoked).
    pub fn forget_client(&self, client_id: &str) {
        self.lock().retain(|_, (c, _)| c.client_id != client_id);
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Problem::unauthorized("send a bearer token from auth/token"))?;
        let hash = token_hash(token);
        let now = Utc::now();
        let client = match state.openadr_tokens.get(&hash, now) {
            Some(client) => client,
            None => {
                let client = store::client_by_token(&state.db, &hash, now)
                    .await?
                    .ok_or_else(|| Problem::unauthorized("the token is unknown or has expired"))?;
                state.openadr_tokens.keep(hash, &client);
                client
            }
        };
        Ok(Caller {
            id: client.id,
            client_id: client.client_id,
            scopes: client.scopes.split(',').filter_map(Scope::parse).collect(),
            ven: client.ven_ref,
        })
    }
}

/// The body of `POST /api/v1/openadr/clients` (admin).
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewClientBody {
    pub name: String,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub ven: Option<String>,
}

/// `POST /api/v1/openadr/clients`: the admin creates an OpenADR client; the answer carries
/// the secret, this once.
pub async fn create_client_api(
    axum::extract::State(state): axum::extract::State<AppState>,
    crate::web::api::ApiViewer(viewer): crate::web::api::ApiViewer,
    body: Bytes,
) -> Result<Response, crate::web::api::ApiError> {
    crate::access::require(&viewer, app::access::Action::ManageOpenAdrClients)?;
    let body: NewClientBody = serde_json::from_slice(&body).map_err(|e| {
        crate::web::api::ApiError(app::AppError::BadRequest(format!(
            "the body could not be read: {e}"
        )))
    })?;
    let client = create_client(
        &state.db,
        &viewer.username,
        &body.name,
        &body.scopes,
        body.ven.as_deref(),
    )
    .await?;
    // The secret is shown this once: no cache may keep it.
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({"clientID": client.client_id, "clientSecret": client.secret})),
    )
        .into_response())
}

/// `DELETE /api/v1/openadr/clients/{clientID}`: the admin revokes a client (204; 404 for an
/// unknown id).
pub async fn revoke_client_api(
    axum::extract::State(state): axum::extract::State<AppState>,
    crate::web::api::ApiViewer(viewer): crate::web::api::ApiViewer,
    axum::extract::Path(client_id): axum::extract::Path<String>,
) -> Result<Response, crate::web::api::ApiError> {
    crate::access::require(&viewer, app::access::Action::ManageOpenAdrClients)?;
    revoke_client(&state.db, &viewer.username, &client_id).await?;
    state.openadr_tokens.forget_client(client_id.trim());
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/openadr/clients`: the admin lists the clients (never a secret).
pub async fn list_clients_api(
    axum::extract::State(state): axum::extract::State<AppState>,
    crate::web::api::ApiViewer(viewer): crate::web::api::ApiViewer,
) -> Result<Response, crate::web::api::ApiError> {
    crate::access::require(&viewer, app::access::Action::ManageOpenAdrClients)?;
    let clients = store::clients(&state.db).await?;
    let items: Vec<serde_json::Value> = clients
        .into_iter()
        .map(|c| {
            json!({
                "clientID": c.client_id,
                "name": c.name,
                "scopes": c.scopes.split(',').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
                "ven": c.ven_ref,
                "revoked": c.revoked,
                "createdAt": c.created_at,
            })
        })
        .collect();
    Ok(Json(items).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: &str, expires_in: Duration) -> ClientRow {
        ClientRow {
            id: 1,
            client_id: id.into(),
            name: id.into(),
            scopes: "read_all".into(),
            ven_ref: None,
            token_expires_at: Some(Utc::now() + expires_in),
        }
    }

    #[test]
    fn a_kept_token_is_used_until_it_expires_goes_stale_or_its_client_is_revoked() {
        let cache = TokenCache::default();
        let now = Utc::now();
        assert!(cache.get("h1", now).is_none(), "nothing kept yet");
        cache.keep("h1".into(), &client("a", Duration::minutes(5)));
        cache.keep("h2".into(), &client("b", Duration::minutes(5)));
        assert_eq!(cache.get("h1", now).unwrap().client_id, "a");
        // Past the token's own expiry it is not used, however fresh.
        assert!(cache.get("h1", now + Duration::minutes(6)).is_none());
        // A revoked client's tokens are forgotten; others stay.
        cache.forget_client("a");
        assert!(cache.get("h1", now).is_none());
        assert_eq!(cache.get("h2", now).unwrap().client_id, "b");
        // A kept token without an expiry is never used.
        let mut open = client("c", Duration::minutes(5));
        open.token_expires_at = None;
        cache.keep("h3".into(), &open);
        assert!(cache.get("h3", now).is_none());
        // After FRESH the database is asked again.
        std::thread::sleep(TokenCache::FRESH + std::time::Duration::from_millis(50));
        assert!(cache.get("h2", Utc::now()).is_none());
    }
}
