//! `subscriptions`: a client asks to be called back (a webhook) when an event or program it
//! covers is created, updated or deleted; the notifications go out through the outbox
//! (`openadr::notify`). Only loopback hosts and the configured callback hosts may be called.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::auth::Caller;
use super::objects::rfc3339;
use super::{is_identifier, ListQuery, Problem, Scope};
use crate::auth::generate_token;
use crate::db::audit::{append, NewAuditEntry};
use crate::db::openadr as programs_store;
use crate::db::openadr_subscription::{self as store, SubscriptionRow, SubscriptionWrite};
use crate::web::AppState;

/// The object types a subscription may name (3.1). Only `PROGRAM` and `EVENT` changes are
/// notified: the others are accepted and stored.
pub const OBJECT_TYPES: [&str; 7] = [
    "PROGRAM",
    "EVENT",
    "REPORT",
    "SUBSCRIPTION",
    "VEN",
    "RESOURCE",
    "RESOURCE_GROUP",
];

/// An operation of a notification, in the vocabulary of 3.1 (`CREATE`, `UPDATE`, `DELETE`);
/// 3.0's `POST` and `PUT` name the same ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    /// The operation a subscription's word names (`GET` names none: reads are not notified).
    pub fn parse(word: &str) -> Option<Operation> {
        match word {
            "CREATE" | "POST" => Some(Operation::Create),
            "UPDATE" | "PUT" => Some(Operation::Update),
            "DELETE" => Some(Operation::Delete),
            _ => None,
        }
    }
}

/// One `objectOperations[]` entry as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectOperation {
    pub objects: Vec<String>,
    pub operations: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<String>,
}

impl ObjectOperation {
    /// The word this entry uses for `op` (so a 3.0 subscriber hears `POST`, a 3.1 one
    /// `CREATE`), when it covers `object` and `op`.
    pub fn covers(&self, object: &str, op: Operation) -> Option<&str> {
        if !self.objects.iter().any(|o| o == object) {
            return None;
        }
        self.operations
            .iter()
            .find(|w| Operation::parse(w) == Some(op))
            .map(String::as_str)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionRequest {
    client_name: String,
    #[serde(rename = "programID", default)]
    program_id: Option<String>,
    object_operations: Vec<ObjectOperation>,
    #[serde(default)]
    object_type: Option<String>,
}

fn bad(path: &str, what: &str) -> Problem {
    Problem::bad_request(format!("{path}: {what}"))
}

/// Whether `host` may be called back: a loopback address or `localhost`, or one of
/// `allowed` (compared without case).
pub fn callback_host_allowed(host: &str, allowed: &[String]) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        if ip.is_loopback() {
            return true;
        }
    }
    allowed.iter().any(|a| a.eq_ignore_ascii_case(bare))
}

/// Checks a callback URL: http or https, with a host that may be called back.
pub fn check_callback(url: &str, allowed: &[String]) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must be an http or https URL".into());
    }
    let host = parsed.host_str().unwrap_or("");
    if !callback_host_allowed(host, allowed) {
        return Err(format!(
            "the host `{host}` may not be called back: only loopback hosts and the hosts in \
             --openadr-callback-hosts (GRIDFLEX_OPENADR_CALLBACK_HOSTS) are"
        ));
    }
    Ok(())
}

/// Reads and checks a subscription body; the objectOperations come back as JSON text.
async fn parse_request(
    state: &AppState,
    body: &[u8],
) -> Result<(SubscriptionRequest, String), Problem> {
    let raw: Value = serde_json::from_slice(body)
        .map_err(|e| Problem::bad_request(format!("the body is not JSON: {e}")))?;
    let req: SubscriptionRequest = serde_path_to_error::deserialize(&raw)
        .map_err(|e| Problem::bad_request(format!("{}: {}", e.path(), e.inner())))?;
    if req
        .object_type
        .as_deref()
        .is_some_and(|t| t != "SUBSCRIPTION")
    {
        return Err(bad("objectType", "must be SUBSCRIPTION"));
    }
    if req.client_name.is_empty() || req.client_name.chars().count() > 128 {
        return Err(bad("clientName", "1 to 128 characters"));
    }
    if let Some(p) = &req.program_id {
        if !is_identifier(p) {
            return Err(bad("programID", "must match [A-Za-z0-9_-]{1,128}"));
        }
        if programs_store::programs(&state.db, Some(p), 0, 1)
            .await?
            .is_empty()
        {
            return Err(bad("programID", &format!("there is no program {p}")));
        }
    }
    if req.object_operations.is_empty() || req.object_operations.len() > 15 {
        return Err(bad("objectOperations", "give 1 to 15 entries"));
    }
    for (i, o) in req.object_operations.iter().enumerate() {
        let at = |f: &str| format!("objectOperations[{i}].{f}");
        if o.objects.is_empty() {
            return Err(bad(&at("objects"), "name at least one object type"));
        }
        if let Some(x) = o
            .objects
            .iter()
            .find(|x| !OBJECT_TYPES.contains(&x.as_str()))
        {
            return Err(bad(
                &at("objects"),
                &format!("`{x}` is not one of {}", OBJECT_TYPES.join(", ")),
            ));
        }
        if o.operations.is_empty() {
            return Err(bad(&at("operations"), "name at least one operation"));
        }
        if let Some(x) = o
            .operations
            .iter()
            .find(|w| Operation::parse(w).is_none() && w.as_str() != "GET")
        {
            return Err(bad(
                &at("operations"),
                &format!("`{x}` is not one of CREATE, UPDATE, DELETE (or POST, PUT, GET)"),
            ));
        }
        if o.mechanism.as_deref().is_some_and(|m| m != "WEBHOOK") {
            return Err(bad(&at("mechanism"), "only WEBHOOK is offered by this VTN"));
        }
        let Some(url) = &o.callback_url else {
            return Err(bad(&at("callbackUrl"), "a webhook needs a callbackUrl"));
        };
        check_callback(url, &state.openadr_callback_hosts)
            .map_err(|e| bad(&at("callbackUrl"), &e))?;
        if o.bearer_token.as_ref().is_some_and(|t| t.len() > 4096) {
            return Err(bad(&at("bearerToken"), "at most 4096 characters"));
        }
    }
    let ops = serde_json::to_string(&req.object_operations)
        .map_err(|e| Problem::from(crate::error::DomainError::from(e)))?;
    Ok((req, ops))
}

fn subscription_json(row: &SubscriptionRow) -> Value {
    let ops: Value = serde_json::from_str(&row.object_operations).unwrap_or(json!([]));
    json!({
        "id": row.subscription_id,
        "createdDateTime": rfc3339(row.created_at),
        "modificationDateTime": rfc3339(row.updated_at),
        "objectType": "SUBSCRIPTION",
        // The specification names it clientID; openleadr-wire 0.2.8 reads clientId.
        "clientID": row.client_id,
        "clientId": row.client_id,
        "clientName": row.client_name,
        "programID": row.program_id,
        "objectOperations": ops,
        "targets": [],
    })
}

/// What the audit keeps of a subscription: never the bearer tokens.
fn audit_json(req: &SubscriptionRequest) -> Value {
    let ops: Vec<Value> = req
        .object_operations
        .iter()
        .map(|o| json!({"objects": o.objects, "operations": o.operations, "callbackUrl": o.callback_url}))
        .collect();
    json!({"clientName": req.client_name, "programID": req.program_id, "objectOperations": ops})
}

const READ: &[Scope] = &[Scope::ReadAll, Scope::WriteSubscriptions];

pub async fn list_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<Value>>, Problem> {
    caller.require(READ, "reading subscriptions")?;
    let q = ListQuery::parse(raw.as_deref())?;
    let rows =
        store::subscriptions(&state.db, caller.ven.as_deref(), None, q.skip, q.limit).await?;
    Ok(Json(rows.iter().map(subscription_json).collect()))
}

/// The subscription `id` if `caller` may see it: a VEN sees only its own.
async fn visible(state: &AppState, caller: &Caller, id: &str) -> Result<SubscriptionRow, Problem> {
    if !is_identifier(id) {
        return Err(Problem::bad_request(
            "subscriptionID must match [A-Za-z0-9_-]{1,128}",
        ));
    }
    let row = store::subscriptions(&state.db, None, Some(id), 0, 1)
        .await?
        .pop()
        .ok_or_else(|| Problem::not_found(format!("subscription {id} not found")))?;
    if caller.ven.is_some() && row.ven_ref != caller.ven {
        return Err(Problem::forbidden(
            "a VEN reads and changes only its own subscriptions",
        ));
    }
    Ok(row)
}

pub async fn get_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require(READ, "reading subscriptions")?;
    Ok(Json(subscription_json(
        &visible(&state, &caller, &id).await?,
    )))
}

pub async fn create_subscription(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, Problem> {
    caller.require(&[Scope::WriteSubscriptions], "creating a subscription")?;
    let (req, ops) = parse_request(&state, &body).await?;
    let id = format!("sub-{}", &generate_token()[4..28]);
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let write = SubscriptionWrite {
        client_name: &req.client_name,
        program_id: req.program_id.as_deref(),
        object_operations: &ops,
    };
    store::insert_subscription(&mut tx, &id, caller.id, caller.ven.as_deref(), &write, now).await?;
    append(
        &mut tx,
        NewAuditEntry::new(
            &format!("openadr:{}", caller.client_id),
            "openadr.subscription.create",
            "openadr_subscription",
            &id,
        )
        .after(audit_json(&req)),
    )
    .await?;
    tx.commit().await?;
    let row = visible(&state, &caller, &id).await?;
    Ok((StatusCode::CREATED, Json(subscription_json(&row))).into_response())
}

pub async fn update_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Problem> {
    caller.require(&[Scope::WriteSubscriptions], "changing a subscription")?;
    visible(&state, &caller, &id).await?;
    let (req, ops) = parse_request(&state, &body).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let write = SubscriptionWrite {
        client_name: &req.client_name,
        program_id: req.program_id.as_deref(),
        object_operations: &ops,
    };
    if !store::update_subscription(&mut tx, &id, &write, now).await? {
        return Err(Problem::not_found(format!("subscription {id} not found")));
    }
    append(
        &mut tx,
        NewAuditEntry::new(
            &format!("openadr:{}", caller.client_id),
            "openadr.subscription.update",
            "openadr_subscription",
            &id,
        )
        .after(audit_json(&req)),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(subscription_json(
        &visible(&state, &caller, &id).await?,
    )))
}

pub async fn delete_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require(&[Scope::WriteSubscriptions], "deleting a subscription")?;
    let row = visible(&state, &caller, &id).await?;
    let mut tx = state.db.begin().await?;
    if !store::delete_subscription(&mut tx, &id).await? {
        return Err(Problem::not_found(format!("subscription {id} not found")));
    }
    append(
        &mut tx,
        NewAuditEntry::new(
            &format!("openadr:{}", caller.client_id),
            "openadr.subscription.delete",
            "openadr_subscription",
            &id,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(subscription_json(&row)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_listed_hosts_may_be_called_back_and_no_other() {
        let allowed = vec!["hooks.example.net".to_string()];
        for ok in [
            "http://127.0.0.1:9000/cb",
            "http://localhost/cb",
            "http://[::1]:8080/",
            "https://HOOKS.example.net/x",
        ] {
            assert!(check_callback(ok, &allowed).is_ok(), "{ok}");
        }
        for no in [
            "http://10.0.0.5/cb",
            "https://evil.example.com/",
            "ftp://127.0.0.1/",
            "not a url",
        ] {
            assert!(check_callback(no, &allowed).is_err(), "{no}");
        }
    }

    #[test]
    fn an_entry_answers_in_its_own_vocabulary() {
        let o = ObjectOperation {
            objects: vec!["EVENT".into()],
            operations: vec!["POST".into(), "DELETE".into()],
            mechanism: None,
            callback_url: None,
            bearer_token: None,
        };
        assert_eq!(o.covers("EVENT", Operation::Create), Some("POST"));
        assert_eq!(o.covers("EVENT", Operation::Update), None);
        assert_eq!(o.covers("PROGRAM", Operation::Create), None);
    }
}
