//! The OpenAPI document of `/api/v1`, generated from the handlers' own types and then
//! completed with what the handlers check: parameter bounds, status enums, every status a
//! path can answer, and problem bodies as `application/problem+json`.

use axum::response::IntoResponse;
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use app::model::*;

use crate::web::api;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "GridFlex API", description = "Programs, enrollments, devices and the network model of a demand-response operation. Create a token with `gridflex token create --name N --role R`."),
    paths(api::list_enrollments, api::get_enrollment, api::list_devices, api::get_device, api::list_programs, api::get_program, api::set_program_status, api::network,
          api::activate_enrollment, api::unenroll_enrollment, api::add_unavailability, api::opt_out, api::run_scores,
          api::get_weather, api::put_weather,
          api::replace_device, api::export_network, api::list_aggregators, api::add_aggregator, api::edit_aggregator,
          crate::web::integration::inbound, crate::web::integration::reservation_csv, crate::web::integration::outcome_flat_file,
          crate::web::published::enroll, crate::web::published::read_enrollment,
          crate::web::published_flows::program_event, crate::web::published_flows::lifecycle,
          crate::web::published_flows::reserve_device, crate::web::published_flows::post_event_outcome,
          crate::web::published_flows::enrollment_ack, crate::web::published_flows::device_status_response,
          crate::web::published_check::device_status_check,
          api::post_meter_data),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

pub(crate) async fn openapi_json() -> impl IntoResponse {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::web::event_api::EventApiDoc::openapi());
    doc.merge(crate::web::settlement_api::SettlementApiDoc::openapi());
    doc.merge(crate::web::report_api::ReportApiDoc::openapi());
    let mut doc = serde_json::to_value(doc).unwrap_or_default();
    openadr_clients(&mut doc);
    parameters_as_checked(&mut doc);
    statuses_as_answered(&mut doc);
    problems_as_served(&mut doc);
    Json(doc)
}

/// The admin's OpenADR client routes (their bodies are checked by hand, so they are written
/// here rather than derived). The VTN itself has its own document, `<base>openapi.json`.
fn openadr_clients(doc: &mut serde_json::Value) {
    use serde_json::json;
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    let security = json!([{"bearer": []}]);
    let scopes: Vec<&str> = crate::openadr::Scope::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    let client = json!({"type": "object", "required": ["clientID", "name", "scopes", "revoked", "createdAt"],
        "properties": {
            "clientID": {"type": "string"}, "name": {"type": "string"},
            "scopes": {"type": "array", "items": {"type": "string", "enum": scopes}},
            "ven": {"type": ["string", "null"], "description": "the aggregator's external reference, for a VEN client"},
            "revoked": {"type": "boolean"}, "createdAt": {"type": "string", "format": "date-time"}}});
    paths.insert(
        "/api/v1/openadr/clients".into(),
        json!({
            "get": {
                "tags": ["openadr"], "operationId": "list_openadr_clients",
                "summary": "Every OpenADR client, never its secret (admin).",
                "security": security,
                "responses": {"200": {"description": "The clients, oldest first",
                    "content": {"application/json": {"schema": {"type": "array", "items": client}}}}}
            },
            "post": {
                "tags": ["openadr"], "operationId": "create_openadr_client",
                "summary": "Create an OpenADR client; the answer carries its secret, this once (admin).",
                "security": security,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["name", "scopes"], "additionalProperties": false,
                    "properties": {
                        "name": {"type": "string"},
                        "scopes": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": scopes}},
                        "ven": {"type": "string", "description": "an aggregator's external reference (flow 10): the client is its VEN"}}}}}},
                "responses": {"201": {"description": "Created (Cache-Control: no-store)",
                    "content": {"application/json": {"schema": {"type": "object",
                        "properties": {"clientID": {"type": "string"}, "clientSecret": {"type": "string"}}}}}},
                    "409": {"description": "a client with this name exists",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}
            }
        }),
    );
    paths.insert(
        "/api/v1/openadr/clients/{clientID}".into(),
        json!({
            "delete": {
                "tags": ["openadr"], "operationId": "revoke_openadr_client",
                "summary": "Revoke a client: its tokens stop at once, its secret gets no new one (admin).",
                "security": security,
                "parameters": [{"name": "clientID", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"204": {"description": "Revoked"}}
            }
        }),
    );
}

/// The values a `status` filter of `path` takes, from the codes the server parses it with.
fn status_codes(path: &str) -> Option<Vec<&'static str>> {
    match path {
        "/api/v1/enrollments" => Some(EnrollmentStatus::ALL.map(|s| s.as_str()).to_vec()),
        "/api/v1/devices" => Some(app::query::DEVICE_STATUSES.to_vec()),
        "/api/v1/events" => Some(
            crate::grid::lifecycle::EventStatus::ALL
                .map(|s| s.as_str())
                .to_vec(),
        ),
        _ => None,
    }
}

/// Parameters declare the bounds the handlers check: every whole number its minimum (ids,
/// cursors and page sizes start at 1, an offset at 0), page sizes their maximum, and
/// `status` and `deviceType` filters the codes they accept.
fn parameters_as_checked(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for op in item.values_mut() {
            let Some(params) = op.get_mut("parameters").and_then(|p| p.as_array_mut()) else {
                continue;
            };
            for p in params {
                let name = p["name"].as_str().unwrap_or_default().to_string();
                let Some(schema) = p.get_mut("schema").and_then(|s| s.as_object_mut()) else {
                    continue;
                };
                let integer = match &schema.get("type") {
                    Some(serde_json::Value::String(t)) => t == "integer",
                    Some(serde_json::Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
                    _ => false,
                };
                if integer {
                    let minimum = if name == "offset" { 0 } else { 1 };
                    schema.insert("minimum".into(), minimum.into());
                    if name == "limit" {
                        let maximum = if path.starts_with("/api/v1/settlements/") {
                            crate::web::settlement_api::MAX_LIMIT
                        } else {
                            i64::from(app::query::MAX_PAGE_SIZE)
                        };
                        schema.insert("maximum".into(), maximum.into());
                    }
                }
                let codes = match name.as_str() {
                    "status" => status_codes(path),
                    "deviceType" => Some(DeviceType::ALL.map(|t| t.as_str()).to_vec()),
                    _ => None,
                };
                if let Some(codes) = codes {
                    schema.insert("enum".into(), codes.into());
                }
            }
        }
    }
}

/// Declares every status the server answers an operation with, where the operation's own
/// list leaves one out: 401 and 403 wherever a token is needed, 400 for parameters that do
/// not parse, 404 for a path naming nothing, 413 for a body over the limit, 415 and 422 for
/// a JSON body without its content type or with a wrong field, 500 (with a reference id) for
/// a failure and 503 for the request timeout or an unreachable database.
fn statuses_as_answered(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for item in paths.values_mut().filter_map(|i| i.as_object_mut()) {
        for op in item.values_mut() {
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let in_path = params.iter().any(|p| p["in"] == "path");
            let body = op.get("requestBody").cloned();
            let typed_json = body
                .as_ref()
                .is_some_and(|b| b["content"]["application/json"]["schema"]["$ref"].is_string());
            let mut answers: Vec<(u16, &str)> = Vec::new();
            if secured {
                answers.push((401, "no valid token (missing, unknown, expired or revoked)"));
                answers.push((403, "the token's role or scope may not do this"));
            }
            if !params.is_empty() || body.is_some() {
                answers.push((400, "a parameter or the body could not be read"));
            }
            if in_path {
                answers.push((404, "the path names nothing that exists"));
            }
            if body.is_some() {
                answers.push((413, "the body is larger than the server accepts"));
            }
            if typed_json {
                answers.push((415, "the body is not sent as application/json"));
                answers.push((422, "a field is missing, unknown or of the wrong type"));
            }
            answers.push((
                500,
                "an unexpected failure; the detail carries a reference id",
            ));
            answers.push((
                503,
                "the request took longer than the server's limit, or the database is unavailable",
            ));
            let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) else {
                continue;
            };
            for (status, description) in answers {
                responses
                    .entry(status.to_string())
                    .or_insert_with(|| {
                        serde_json::json!({
                            "description": description,
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
                        })
                    });
            }
        }
    }
}

/// Error answers are served as `application/problem+json` (RFC 9457); the document says so
/// for every 4xx and 5xx response, rather than utoipa's default `application/json`.
fn problems_as_served(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for operation in paths.values_mut().filter_map(|item| item.as_object_mut()) {
        for op in operation.values_mut() {
            let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) else {
                continue;
            };
            for (status, response) in responses.iter_mut() {
                if !(status.starts_with('4') || status.starts_with('5')) {
                    continue;
                }
                let Some(content) = response.get_mut("content").and_then(|c| c.as_object_mut())
                else {
                    continue;
                };
                if let Some(schema) = content.remove("application/json") {
                    content.insert("application/problem+json".into(), schema);
                }
            }
        }
    }
}
