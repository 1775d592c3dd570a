//! The VTN's own OpenAPI document (`<base>openapi.json`): the routes GridFlex serves under
//! the OpenADR base, with their scopes, paging parameters, schemas and Problem answers —
//! written from [`ROUTES`], the one table of what is served.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Map, Value};

use crate::web::AppState;

/// One operation the VTN serves: (path under the base, method, summary, scopes — empty for
/// no token —, request schema, answer schema, success status, a list with paging).
pub struct Route {
    pub path: &'static str,
    pub method: &'static str,
    pub summary: &'static str,
    pub scopes: &'static [&'static str],
    pub request: Option<&'static str>,
    pub answer: &'static str,
    pub status: u16,
    pub paged: bool,
}

#[allow(clippy::too_many_arguments)]
const fn route(
    path: &'static str,
    method: &'static str,
    summary: &'static str,
    scopes: &'static [&'static str],
    request: Option<&'static str>,
    answer: &'static str,
    status: u16,
    paged: bool,
) -> Route {
    Route {
        path,
        method,
        summary,
        scopes,
        request,
        answer,
        status,
        paged,
    }
}

const READ_TARGETS: &[&str] = &["read_all", "read_targets"];
const READ_VEN: &[&str] = &["read_all", "read_ven_objects"];
const READ_SUBS: &[&str] = &["read_all", "write_subscriptions"];
const WRITE_SUBS: &[&str] = &["write_subscriptions"];

/// Every route of `openadr::router`, in the order the document lists them.
pub const ROUTES: &[Route] = &[
    route(
        "/auth/token",
        "post",
        "OAuth 2.0 client credentials: a bearer token for an hour",
        &[],
        Some("TokenRequest"),
        "TokenAnswer",
        200,
        false,
    ),
    route(
        "/auth/server",
        "get",
        "Where to get a token",
        &[],
        None,
        "AuthServerInfo",
        200,
        false,
    ),
    route(
        "/programs",
        "get",
        "The programs the grid side knows",
        READ_TARGETS,
        None,
        "ProgramList",
        200,
        true,
    ),
    route(
        "/programs/{programID}",
        "get",
        "One program",
        READ_TARGETS,
        None,
        "Program",
        200,
        false,
    ),
    route(
        "/events",
        "get",
        "The published events (a VEN: those targeted at it)",
        READ_TARGETS,
        None,
        "EventList",
        200,
        true,
    ),
    route(
        "/events/{eventID}",
        "get",
        "One published event",
        READ_TARGETS,
        None,
        "Event",
        200,
        false,
    ),
    route(
        "/vens",
        "get",
        "The aggregators as VENs (a VEN: its own)",
        READ_VEN,
        None,
        "VenList",
        200,
        true,
    ),
    route(
        "/vens/{venID}",
        "get",
        "One VEN",
        READ_VEN,
        None,
        "Ven",
        200,
        false,
    ),
    route(
        "/reports",
        "get",
        "Reports (a VEN: its own)",
        READ_VEN,
        None,
        "ReportList",
        200,
        true,
    ),
    route(
        "/reports",
        "post",
        "A VEN's report on one of its events; its resources become device outcomes",
        &["write_reports"],
        Some("Report"),
        "Report",
        201,
        false,
    ),
    route(
        "/reports/{reportID}",
        "get",
        "One report",
        READ_VEN,
        None,
        "Report",
        200,
        false,
    ),
    route(
        "/subscriptions",
        "get",
        "Subscriptions (a VEN: its own)",
        READ_SUBS,
        None,
        "SubscriptionList",
        200,
        true,
    ),
    route(
        "/subscriptions",
        "post",
        "Subscribe a webhook to changes of events or programs",
        WRITE_SUBS,
        Some("Subscription"),
        "Subscription",
        201,
        false,
    ),
    route(
        "/subscriptions/{subscriptionID}",
        "get",
        "One subscription",
        READ_SUBS,
        None,
        "Subscription",
        200,
        false,
    ),
    route(
        "/subscriptions/{subscriptionID}",
        "put",
        "Replace a subscription",
        WRITE_SUBS,
        Some("Subscription"),
        "Subscription",
        200,
        false,
    ),
    route(
        "/subscriptions/{subscriptionID}",
        "delete",
        "Delete a subscription",
        WRITE_SUBS,
        None,
        "Subscription",
        200,
        false,
    ),
    route(
        "/openapi.json",
        "get",
        "This document",
        &[],
        None,
        "OpenApiDocument",
        200,
        false,
    ),
];

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn problem(description: &str) -> Value {
    json!({"description": description,
           "content": {"application/problem+json": {"schema": schema_ref("Problem")}}})
}

fn operation(r: &Route) -> Value {
    let mut params = Vec::new();
    if let Some(start) = r.path.find('{') {
        let name = &r.path[start + 1..r.path.len() - 1];
        params.push(json!({"name": name, "in": "path", "required": true,
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"}}));
    }
    if r.paged {
        params.push(json!({"name": "skip", "in": "query", "required": false,
            "description": "Objects to skip (past the end: an empty page).",
            "schema": {"type": "integer", "minimum": 0, "default": 0}}));
        params.push(json!({"name": "limit", "in": "query", "required": false,
            "description": "Largest page (0 or 51 is a 400).",
            "schema": {"type": "integer", "minimum": 1, "maximum": super::MAX_LIMIT, "default": super::MAX_LIMIT}}));
        if matches!(r.path, "/events" | "/reports") {
            params.push(
                json!({"name": "programID", "in": "query", "required": false,
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"}}),
            );
        }
        if r.path == "/reports" {
            params.push(json!({"name": "eventID", "in": "query", "required": false,
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"}}));
        }
    }
    let mut responses = Map::new();
    responses.insert(
        r.status.to_string(),
        json!({"description": "OK", "content": {"application/json": {"schema": schema_ref(r.answer)}}}),
    );
    if r.path == "/auth/token" {
        responses.insert(
            "400".into(),
            json!({"description": "Not client credentials, or a missing id or secret",
                   "content": {"application/json": {"schema": schema_ref("OAuthError")}}}),
        );
        responses.insert(
            "401".into(),
            json!({"description": "Unknown client or wrong secret",
                   "content": {"application/json": {"schema": schema_ref("OAuthError")}}}),
        );
    } else if !r.scopes.is_empty() {
        responses.insert(
            "400".into(),
            problem("Bad input, naming the field; nothing is stored"),
        );
        responses.insert("401".into(), problem("No valid bearer token"));
        responses.insert(
            "403".into(),
            problem("The token lacks the scope, or the object is another VEN's"),
        );
        if r.path.contains('{') {
            responses.insert(
                "404".into(),
                problem("No such object visible to the caller"),
            );
        }
        responses.insert("500".into(), problem("Something went wrong on our side"));
    }
    let mut op = json!({
        "summary": r.summary,
        "operationId": format!("{}{}", r.method, r.path.replace(['/', '{', '}', '.'], "_")),
        "parameters": params,
        "responses": responses,
    });
    if r.scopes.is_empty() {
        op["security"] = json!([]);
    } else {
        op["security"] = json!([{"oAuth2ClientCredentials": r.scopes}]);
        op["description"] = json!(format!("Scopes: {} (any one).", r.scopes.join(", ")));
    }
    if let Some(req) = r.request {
        let content_type = if r.path == "/auth/token" {
            "application/x-www-form-urlencoded"
        } else {
            "application/json"
        };
        op["requestBody"] =
            json!({"required": true, "content": {content_type: {"schema": schema_ref(req)}}});
    }
    op
}

fn schemas() -> Value {
    let id = json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"});
    let time = json!({"type": "string", "format": "date-time", "description": "RFC 3339"});
    let duration = json!({"type": "string", "description": "ISO 8601 duration, e.g. PT15M"});
    let object_ops = json!({"type": "array", "minItems": 1, "maxItems": 15, "items": {
    "type": "object", "required": ["objects", "operations", "callbackUrl"],
    "properties": {
        "objects": {"type": "array", "minItems": 1, "items": {"type": "string",
            "enum": super::subscription::OBJECT_TYPES}},
        "operations": {"type": "array", "minItems": 1, "items": {"type": "string",
            "enum": ["CREATE", "UPDATE", "DELETE", "POST", "PUT", "GET"]}},
        "mechanism": {"type": "string", "enum": ["WEBHOOK"]},
        "callbackUrl": {"type": "string", "format": "uri",
            "description": "http(s) on a loopback host or one of --openadr-callback-hosts"},
        "bearerToken": {"type": "string", "maxLength": 4096,
            "description": "Sent as the callback's bearer token; never logged"}
    }}});
    let interval = json!({"type": "object", "required": ["id", "payloads"], "properties": {
        "id": {"type": "integer"},
        "intervalPeriod": {"$ref": "#/components/schemas/IntervalPeriod"},
        "payloads": {"type": "array", "minItems": 1, "items": {"type": "object",
            "required": ["type", "values"],
            "properties": {"type": {"type": "string"}, "values": {"type": "array", "items": {}}}}}
    }});
    let list = |item: &str| json!({"type": "array", "maxItems": super::MAX_LIMIT, "items": schema_ref(item)});
    json!({
        "Problem": {"type": "object", "required": ["status"], "properties": {
            "type": {"type": "string"}, "title": {"type": "string"},
            "status": {"type": "integer"}, "detail": {"type": "string"}}},
        "OAuthError": {"type": "object", "properties": {
            "error": {"type": "string"}, "error_description": {"type": "string"}}},
        "TokenRequest": {"type": "object", "required": ["grant_type"], "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "client_id": {"type": "string"}, "client_secret": {"type": "string"},
            "scope": {"type": "string"}},
            "description": "The id and secret may come by HTTP Basic instead"},
        "TokenAnswer": {"type": "object", "properties": {
            "access_token": {"type": "string"}, "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": {"type": "integer"}, "scope": {"type": "string"}}},
        "AuthServerInfo": {"type": "object", "properties": {"tokenURL": {"type": "string", "format": "uri"}}},
        "IntervalPeriod": {"type": "object", "required": ["start"], "properties": {
            "start": time, "duration": duration}},
        "Program": {"type": "object", "required": ["id", "programName"], "properties": {
            "id": id, "createdDateTime": time, "modificationDateTime": time,
            "objectType": {"type": "string", "enum": ["PROGRAM"]},
            "programName": {"type": "string"},
            "payloadDescriptors": {"type": "array", "items": {"type": "object"}},
            "targets": {"type": "array", "items": {"type": "string"}}}},
        "ProgramList": list("Program"),
        "Event": {"type": "object", "required": ["id", "programID", "intervals"], "properties": {
            "id": id, "createdDateTime": time, "modificationDateTime": time,
            "objectType": {"type": "string", "enum": ["EVENT"]},
            "programID": id, "eventName": {"type": "string"},
            "priority": {"type": "integer", "minimum": 0},
            "targets": {"type": "array", "items": {"type": "string"},
                "description": "The VEN, then each device as a resource HEADEND_NICID"},
            "payloadDescriptors": {"type": "array", "items": {"type": "object"}},
            "reportDescriptors": {"type": "array", "items": {"type": "object"}},
            "intervalPeriod": {"$ref": "#/components/schemas/IntervalPeriod"},
            "intervals": {"type": "array", "minItems": 1, "items": interval.clone()}}},
        "EventList": list("Event"),
        "Ven": {"type": "object", "required": ["id", "venName"], "properties": {
            "id": id, "createdDateTime": time, "modificationDateTime": time,
            "objectType": {"type": "string", "enum": ["VEN"]},
            "clientID": {"type": "string"}, "venName": {"type": "string"},
            "attributes": {"type": "array", "items": {"type": "object"}},
            "targets": {"type": "array", "items": {"type": "string"}}}},
        "VenList": list("Ven"),
        "Report": {"type": "object", "required": ["eventID", "clientName", "resources"], "properties": {
            "id": id, "createdDateTime": time, "modificationDateTime": time,
            "objectType": {"type": "string", "enum": ["REPORT"]},
            "programID": id, "eventID": id, "clientID": {"type": "string"},
            "clientName": {"type": "string", "minLength": 1, "maxLength": 128},
            "resources": {"type": "array", "minItems": 1, "items": {"type": "object",
                "required": ["resourceName", "intervals"], "properties": {
                    "resourceName": {"type": "string"},
                    "intervalPeriod": {"$ref": "#/components/schemas/IntervalPeriod"},
                    "intervals": {"type": "array", "minItems": 1, "items": interval}}}}}},
        "ReportList": list("Report"),
        "Subscription": {"type": "object", "required": ["clientName", "objectOperations"], "properties": {
            "id": id, "createdDateTime": time, "modificationDateTime": time,
            "objectType": {"type": "string", "enum": ["SUBSCRIPTION"]},
            "clientID": {"type": "string"},
            "clientName": {"type": "string", "minLength": 1, "maxLength": 128},
            "programID": id, "objectOperations": object_ops,
            "targets": {"type": "array", "items": {"type": "string"}}}},
        "SubscriptionList": list("Subscription"),
        "Notification": {"type": "object", "required": ["objectType", "operation", "object"],
            "description": "What a webhook receives (POST to callbackUrl)",
            "properties": {"id": {"type": "string"}, "objectType": {"type": "string"},
                "operation": {"type": "string"}, "object": {"type": "object"}}},
        "OpenApiDocument": {"type": "object"},
    })
}

/// The document for a VTN served under `base`.
pub fn document(base: &str) -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let item = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        item[r.method] = operation(r);
    }
    let scopes: Map<String, Value> = super::Scope::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), json!(s.as_str())))
        .collect();
    let server = super::nest_path(base);
    json!({
        "openapi": "3.0.3",
        "info": {"title": "GridFlex OpenADR 3.1 VTN", "version": env!("CARGO_PKG_VERSION"),
            "description": "The OpenADR 3.1 routes GridFlex serves. Errors are Problem documents with a numeric status."},
        "servers": [{"url": server}],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"oAuth2ClientCredentials": {"type": "oauth2", "flows": {
                "clientCredentials": {"tokenUrl": format!("{server}/auth/token"), "scopes": scopes}}}}
        }
    })
}

/// `GET <base>openapi.json`.
pub async fn openapi_json(State(state): State<AppState>) -> Json<Value> {
    Json(document(&state.openadr_base))
}
