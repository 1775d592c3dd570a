//! The REST API `/api/v1`: the console's reads for machine clients (Bearer tokens), errors
//! as `application/problem+json`; the OpenAPI document generated from the same types is in
//! [`crate::web::openapi`].

use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use app::model::*;
use app::port::{
    AggregatorPort, DevicePort, EnrollmentPort, ForecastPort, NetworkPort, ProgramPort,
};
use app::query::{DeviceQuery, EnrollmentQuery, NetworkQuery};
use app::AppError;

use crate::auth::client_for_token;
use crate::error::DomainError;
use crate::web::AppState;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
}

pub struct ApiError(pub AppError);

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        ApiError(e.into())
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

pub fn problem(status: u16, title: &str, detail: String) -> Response {
    let body = Problem {
        kind: "about:blank".into(),
        title: title.into(),
        status,
        detail,
    };
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = (code, Json(body)).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/problem+json"),
    );
    if status == 401 {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        problem(e.status(), e.title(), e.to_string())
    }
}

/// The caller, from `Authorization: Bearer <token>`, acting with the token's role.
pub struct ApiViewer(pub Viewer);

impl FromRequestParts<AppState> for ApiViewer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError(AppError::Unauthenticated))?;
        let client = client_for_token(&state.db, token)
            .await
            .map_err(|e| match e {
                DomainError::Unauthenticated => ApiError(AppError::Unauthenticated),
                other => ApiError::from(other),
            })?;
        let role = client.role.ok_or_else(|| {
            ApiError(AppError::Forbidden(
                "use the console API (integration clients use /integration)".into(),
            ))
        })?;
        Ok(ApiViewer(Viewer {
            user_id: 0,
            username: format!("token:{}", client.name),
            display_name: client.name,
            role,
        }))
    }
}

pub(crate) fn query_pairs(raw: Option<String>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw.as_deref().unwrap_or("")).map_err(|e| {
        ApiError(AppError::BadRequest(format!(
            "the query string could not be read: {e}"
        )))
    })
}

/// List filters take the codes people know as well as ids: `program=SMT-BYOD`,
/// `substation=…`, `feeder=FDR-N03` become the ids the queries filter on (a number stays an
/// id), and an unknown code is a 400 naming it. `deviceType` is read as `device_type`.
/// Node codes are looked up in the network of the side that serves the list: each side
/// has its own node ids.
pub(crate) async fn resolve_codes(
    state: &AppState,
    raw: Vec<(String, String)>,
    nodes: NodeIds,
) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::with_capacity(raw.len());
    for (key, value) in raw {
        let key = if key == "deviceType" {
            "device_type".to_string()
        } else {
            key
        };
        let code = value.trim();
        let is_code_filter = matches!(key.as_str(), "program" | "substation" | "feeder");
        if !is_code_filter || code.is_empty() || code.bytes().all(|b| b.is_ascii_digit()) {
            out.push((key, value));
            continue;
        }
        if code.chars().count() > 100 {
            return Err(ApiError(AppError::BadRequest(format!(
                "query parameter `{key}`: a code has at most 100 characters"
            ))));
        }
        let id = match key.as_str() {
            "program" => crate::db::program::program_id_by_code(&state.db, code).await?,
            kind => match nodes {
                NodeIds::Program => {
                    crate::db::program_network::node_id_by_code(&state.db, kind, code).await?
                }
                NodeIds::Grid => crate::db::network::node_id_by_code(&state.db, kind, code).await?,
            },
        };
        let id = id.ok_or_else(|| {
            ApiError(AppError::BadRequest(format!(
                "query parameter `{key}`: no {key} with code `{code}`"
            )))
        })?;
        out.push((key, id.to_string()));
    }
    Ok(out)
}

/// Whose node ids a list filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeIds {
    /// The program side's copy of the network (enrollments, devices).
    Program,
    /// The grid's network model (the network page).
    Grid,
}

fn pairs(v: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

pub(crate) fn path_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| {
        ApiError(AppError::BadRequest(format!(
            "path parameter `id`: expected a positive whole number, got `{raw}`"
        )))
    })
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentList {
    pub items: Vec<EnrollmentRow>,
    /// Enrollments matching the filters, all pages together.
    pub total: i64,
    /// Pass as `after` to get the next page; null on the last page.
    pub next_after: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceList {
    pub items: Vec<DeviceRow>,
    pub total: i64,
    pub next_after: Option<i64>,
}

/// Query parameters of `GET /api/v1/enrollments` (the console's URL uses the same).
#[allow(dead_code)]
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
struct EnrollmentParams {
    /// Program code (`SMT-BYOD`) or id; an unknown code is a 400.
    program: Option<String>,
    /// PENDING, ACTIVE or INACTIVE.
    status: Option<String>,
    /// Substation code (`SUB-N`) or node id.
    substation: Option<String>,
    /// Feeder code (`FDR-N03`) or node id.
    feeder: Option<String>,
    /// thermostat, ev_charger, battery, water_heater, pool_pump or smart_inverter
    /// (`device_type` is read too).
    #[param(rename = "deviceType")]
    device_type: Option<String>,
    /// Customer name prefix, or an exact account, person, service point or NIC id.
    q: Option<String>,
    /// id (default), -id, customer or start.
    sort: Option<String>,
    /// Keyset cursor: `nextAfter` of the previous page.
    after: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<u32>,
}

#[allow(dead_code)]
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
struct DeviceParams {
    /// As for enrollments (`device_type` is read too).
    #[param(rename = "deviceType")]
    device_type: Option<String>,
    /// active or inactive.
    status: Option<String>,
    /// true or false (yes or no are read too).
    registered: Option<bool>,
    /// Program code or id: devices in one of its enrollments now.
    program: Option<String>,
    /// Substation code or node id.
    substation: Option<String>,
    /// Feeder code or node id.
    feeder: Option<String>,
    /// NIC id (prefix) or serial number.
    q: Option<String>,
    after: Option<i64>,
    limit: Option<u32>,
}

#[allow(dead_code)]
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
struct NetworkParams {
    /// A feeder code or id: its transformers are returned too.
    feeder: Option<String>,
}

/// List enrollments with filters and keyset paging.
#[utoipa::path(get, path = "/api/v1/enrollments", params(EnrollmentParams), security(("bearer" = [])),
    responses((status = 200, body = EnrollmentList), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_enrollments(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    RawQuery(raw): RawQuery,
) -> Result<Json<EnrollmentList>, ApiError> {
    let p = resolve_codes(&state, query_pairs(raw)?, NodeIds::Program).await?;
    let q = EnrollmentQuery::parse(pairs(&p))?;
    let page = state.enrollments.list_enrollments(&viewer, &q).await?;
    Ok(Json(EnrollmentList {
        items: page.rows,
        total: page.total,
        next_after: page.next_after,
    }))
}

/// One enrollment with its customer, location, devices, history and audit entries.
#[utoipa::path(get, path = "/api/v1/enrollments/{id}", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = EnrollmentDetail), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_enrollment(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path(id): Path<String>,
) -> Result<Json<EnrollmentDetail>, ApiError> {
    Ok(Json(
        state
            .enrollments
            .get_enrollment(&viewer, path_id(&id)?)
            .await?,
    ))
}

/// List devices with filters and keyset paging.
#[utoipa::path(get, path = "/api/v1/devices", params(DeviceParams), security(("bearer" = [])),
    responses((status = 200, body = DeviceList), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_devices(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    RawQuery(raw): RawQuery,
) -> Result<Json<DeviceList>, ApiError> {
    let p = resolve_codes(&state, query_pairs(raw)?, NodeIds::Program).await?;
    let q = DeviceQuery::parse(pairs(&p))?;
    let page = state.devices.list_devices(&viewer, &q).await?;
    Ok(Json(DeviceList {
        items: page.rows,
        total: page.total,
        next_after: page.next_after,
    }))
}

/// One device with its location, enrollments, unavailability and replacements.
#[utoipa::path(get, path = "/api/v1/devices/{id}", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = DeviceDetail), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_device(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path(id): Path<String>,
) -> Result<Json<DeviceDetail>, ApiError> {
    Ok(Json(
        state.devices.get_device(&viewer, path_id(&id)?).await?,
    ))
}

/// All programs with enrollment counts per status.
#[utoipa::path(get, path = "/api/v1/programs", security(("bearer" = [])),
    responses((status = 200, body = Vec<ProgramSummary>), (status = 401, body = Problem)))]
async fn list_programs(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
) -> Result<Json<Vec<ProgramSummary>>, ApiError> {
    Ok(Json(state.programs.list_programs(&viewer).await?))
}

/// One program with its effective-dated rules.
#[utoipa::path(get, path = "/api/v1/programs/{id}", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = ProgramDetail), (status = 404, body = Problem), (status = 401, body = Problem)))]
async fn get_program(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path(id): Path<String>,
) -> Result<Json<ProgramDetail>, ApiError> {
    Ok(Json(
        state.programs.get_program(&viewer, path_id(&id)?).await?,
    ))
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgramStatusBody {
    /// `active`, `suspended` or `closed` (final); a draft program becomes active.
    pub status: String,
    /// Why, 1 to 500 characters; required unless the program becomes active.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Change a program's status (program manager, admin): draft → active ⇄ suspended, and any
/// of them → closed, which is final. The grid side links or unlinks the program's rules
/// (flow 9); OpenADR subscribers hear of the program created or deleted.
#[utoipa::path(post, path = "/api/v1/programs/{id}/status", params(("id" = i64, Path)), request_body = ProgramStatusBody, security(("bearer" = [])),
    responses((status = 200, body = StatusAnswer), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn set_program_status(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ProgramStatusBody>,
) -> Result<Json<StatusAnswer>, ApiError> {
    let id = path_id(&id)?;
    state
        .programs
        .set_program_status(&viewer, id, &body.status, body.reason.as_deref())
        .await?;
    Ok(Json(StatusAnswer {
        id,
        status: body.status.trim().to_string(),
    }))
}

/// The network hierarchy with enrolled devices and kW rolled up per node.
#[utoipa::path(get, path = "/api/v1/network", params(NetworkParams), security(("bearer" = [])),
    responses((status = 200, body = NetworkView), (status = 400, body = Problem), (status = 404, body = Problem), (status = 401, body = Problem)))]
async fn network(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    RawQuery(raw): RawQuery,
) -> Result<Json<NetworkView>, ApiError> {
    let p = resolve_codes(&state, query_pairs(raw)?, NodeIds::Grid).await?;
    let q = NetworkQuery::parse(pairs(&p))?;
    Ok(Json(state.network.network(&viewer, &q).await?))
}

/// A JSON body, or a problem document that says what is wrong with it.
pub struct JsonBody<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(e) => Err(json_problem(e)),
        }
    }
}

/// A body that is not the JSON asked for: 400 when it is not JSON, 415 without the JSON
/// content type, 422 when a field is missing, unknown or of the wrong type (named in the detail),
/// and 400 for a time without a UTC offset (named too).
pub(crate) fn json_problem(e: axum::extract::rejection::JsonRejection) -> Response {
    let status = match e.status().as_u16() {
        422 if e.body_text().contains(crate::web::time_field::NO_OFFSET) => 400,
        s => s,
    };
    let title = match status {
        415 => "Unsupported media type",
        422 => "Unprocessable content",
        _ => "Bad request",
    };
    problem(status, title, e.body_text())
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// Why (kept in the status history), 1 to 500 characters.
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusAnswer {
    pub id: i64,
    pub status: String,
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnavailabilityBody {
    /// RFC 3339 with any offset (`2026-07-01T15:00:00Z`); without one it is a 400.
    #[serde(deserialize_with = "crate::web::time_field::deserialize")]
    pub starts_at: chrono::DateTime<chrono::Utc>,
    /// RFC 3339 with any offset, after `startsAt`.
    #[serde(deserialize_with = "crate::web::time_field::deserialize")]
    pub ends_at: chrono::DateTime<chrono::Utc>,
    pub reason: String,
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptOutBody {
    /// The event stage (`externalIdentifier`) to opt out of.
    pub stage: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    pub message: String,
}

async fn enrollment_action(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    action: &str,
    reason: &str,
) -> Result<Json<StatusAnswer>, ApiError> {
    let id = path_id(id)?;
    let status = state
        .enrollments
        .change_enrollment_status(viewer, id, action, reason)
        .await?;
    Ok(Json(StatusAnswer { id, status }))
}

/// Activate a PENDING enrollment (program manager, admin); the grid side is told (flow 2).
#[utoipa::path(post, path = "/api/v1/enrollments/{id}/activate", params(("id" = i64, Path)), request_body = ReasonBody, security(("bearer" = [])),
    responses((status = 200, body = StatusAnswer), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn activate_enrollment(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<StatusAnswer>, ApiError> {
    enrollment_action(&state, &viewer, &id, "activate", &body.reason).await
}

/// Unenroll a PENDING or ACTIVE enrollment (program manager, admin); the grid side is told.
#[utoipa::path(post, path = "/api/v1/enrollments/{id}/unenroll", params(("id" = i64, Path)), request_body = ReasonBody, security(("bearer" = [])),
    responses((status = 200, body = StatusAnswer), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn unenroll_enrollment(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<StatusAnswer>, ApiError> {
    enrollment_action(&state, &viewer, &id, "unenroll", &body.reason).await
}

/// Record an unavailability window for a device (program manager, admin); flow 8.
#[utoipa::path(post, path = "/api/v1/devices/{id}/unavailability", params(("id" = i64, Path)), request_body = UnavailabilityBody, security(("bearer" = [])),
    responses((status = 200, body = Done), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn add_unavailability(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UnavailabilityBody>,
) -> Result<Json<Done>, ApiError> {
    let id = path_id(&id)?;
    state
        .devices
        .add_unavailability(
            &viewer,
            id,
            &body.starts_at.to_rfc3339(),
            &body.ends_at.to_rfc3339(),
            &body.reason,
        )
        .await?;
    Ok(Json(Done {
        message: "unavailability recorded".into(),
    }))
}

/// Opt a device out of one upcoming event stage, before the program's cut-off; flow 7.
#[utoipa::path(post, path = "/api/v1/devices/{id}/opt-out", params(("id" = i64, Path)), request_body = OptOutBody, security(("bearer" = [])),
    responses((status = 200, body = Done), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn opt_out(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<OptOutBody>,
) -> Result<Json<Done>, ApiError> {
    let id = path_id(&id)?;
    state.devices.opt_out(&viewer, &body.stage, id).await?;
    Ok(Json(Done {
        message: "opted out".into(),
    }))
}

/// Run the control-score calculation now (admin); flow 12.
#[utoipa::path(post, path = "/api/v1/scores/run", security(("bearer" = [])),
    responses((status = 200, body = Done), (status = 403, body = Problem)))]
async fn run_scores(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
) -> Result<Json<Done>, ApiError> {
    let message = state.programs.run_scores(&viewer).await?;
    Ok(Json(Done { message }))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HourTemperature {
    /// Start of the hour (RFC 3339, UTC).
    pub timestamp: chrono::DateTime<chrono::Utc>,
    pub temperature_c: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WeatherForecast {
    /// Forecast temperatures from the current hour on, hourly.
    pub hours: Vec<HourTemperature>,
}

/// The temperature forecast from the current hour on (grid operator, auditor, admin).
#[utoipa::path(get, path = "/api/v1/weather", security(("bearer" = [])),
    responses((status = 200, body = WeatherForecast), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_weather(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
) -> Result<Json<WeatherForecast>, ApiError> {
    crate::access::require(&viewer, app::access::Action::ReadForecasts)?;
    let now = state.clock.now();
    let from = crate::calendar::align(now);
    let temps = crate::grid::forecast::load_temperatures(
        &state.db,
        "forecast",
        from,
        from + chrono::Duration::days(3660),
    )
    .await?;
    let mut hours: Vec<HourTemperature> = temps
        .hours()
        .map(|(timestamp, temperature_c)| HourTemperature {
            timestamp,
            temperature_c,
        })
        .collect();
    hours.sort_by_key(|h| h.timestamp);
    Ok(Json(WeatherForecast { hours }))
}

/// Upload a temperature forecast (grid operator, admin): a `text/csv` body of lines
/// `timestamp,temperature_c` (optional header; RFC 3339 timestamps on the whole hour;
/// −60 to 60 °C). The upload replaces the forecast from its first to its last hour. A bad line
/// rejects the whole upload with a 400 naming the line; the upload is audited.
#[utoipa::path(put, path = "/api/v1/weather", request_body(content = String, content_type = "text/csv",
        example = json!("timestamp,temperature_c\n2026-07-01T15:00:00Z,34.5\n")), security(("bearer" = [])),
    responses((status = 200, body = Done), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 415, body = Problem)))]
async fn put_weather(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/csv");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("text/csv") && !mime.eq_ignore_ascii_case("text/plain") {
        return Ok(problem(
            415,
            "Unsupported media type",
            format!("send the forecast as text/csv, not `{mime}`"),
        ));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError(AppError::BadRequest("the CSV is not UTF-8 text".into())))?;
    let message = state.forecasts.upload_weather(&viewer, text).await?;
    Ok(Json(Done { message }).into_response())
}

/// A device replacement sent to the REST API; blank optional fields take the old device's
/// values.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplacementBody {
    /// The device (id) that leaves the enrollment.
    pub old_device_id: i64,
    /// Head-end system of the new device, e.g. `ECOBEE`.
    pub new_head_end: String,
    /// NIC id of the new device; a device not known yet is created at the same location.
    pub new_nic_id: String,
    /// Nominal controllable kW of the new device; absent: the old device's.
    #[serde(default)]
    pub new_nominal_kw: Option<f64>,
    /// Specification of the new device; absent: the old device's.
    #[serde(default)]
    pub new_specification: Option<String>,
    /// Why (kept in the replacement history), 1 to 500 characters.
    pub reason: String,
}

impl From<ReplacementBody> for ReplacementInput {
    fn from(b: ReplacementBody) -> Self {
        ReplacementInput {
            old_device_id: b.old_device_id.to_string(),
            new_head_end: b.new_head_end,
            new_nic_id: b.new_nic_id,
            new_nominal_kw: b.new_nominal_kw.map(|v| v.to_string()).unwrap_or_default(),
            new_specification: b.new_specification.unwrap_or_default(),
            reason: b.reason,
        }
    }
}

/// Replace a device of a PENDING or ACTIVE enrollment (program manager, admin): the old one
/// leaves, the new one joins (created at the same location when unknown), history kept;
/// an ACTIVE enrollment's change is sent to the grid (flow 2, `REPLACE_DEVICE`).
#[utoipa::path(post, path = "/api/v1/enrollments/{id}/replace-device", params(("id" = i64, Path)), request_body = ReplacementBody, security(("bearer" = [])),
    responses((status = 200, body = Done), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn replace_device(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReplacementBody>,
) -> Result<Json<Done>, ApiError> {
    let id = path_id(&id)?;
    let message = state
        .enrollments
        .replace_device(&viewer, id, &body.into())
        .await?;
    Ok(Json(Done { message }))
}

/// Export the network model to the program side (operator, admin); flow 11.
#[utoipa::path(post, path = "/api/v1/network/export", security(("bearer" = [])),
    responses((status = 200, body = Done), (status = 403, body = Problem)))]
async fn export_network(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
) -> Result<Json<Done>, ApiError> {
    let message = state.network.export_network(&viewer).await?;
    Ok(Json(Done { message }))
}

/// Aggregators with the programs they offer (program manager, auditor, admin; the contact
/// email is masked for the auditor).
#[utoipa::path(get, path = "/api/v1/aggregators", security(("bearer" = [])),
    responses((status = 200, body = Vec<AggregatorDto>), (status = 403, body = Problem)))]
async fn list_aggregators(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
) -> Result<Json<Vec<AggregatorDto>>, ApiError> {
    Ok(Json(state.aggregators.list_aggregators(&viewer).await?))
}

/// An aggregator sent to the REST API (the path names the one to edit).
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AggregatorBody {
    pub name: String,
    /// `active` or `inactive`.
    pub status: String,
    pub start_date: chrono::NaiveDate,
    /// Absent or null: open-ended.
    #[serde(default)]
    pub end_date: Option<chrono::NaiveDate>,
    pub contact_name: String,
    pub contact_email: String,
    /// The aggregator's stable id across both sides; fixed once created.
    pub external_ref: String,
    /// Program codes offered.
    #[serde(default)]
    pub program_codes: Vec<String>,
}

impl AggregatorBody {
    /// The console's form for this body: `id` blank adds an aggregator.
    fn into_input(self, id: Option<i64>) -> AggregatorInput {
        AggregatorInput {
            id: id.map(|i| i.to_string()).unwrap_or_default(),
            name: self.name,
            status: self.status,
            start_date: self.start_date.to_string(),
            end_date: self.end_date.map(|d| d.to_string()).unwrap_or_default(),
            contact_name: self.contact_name,
            contact_email: self.contact_email,
            external_ref: self.external_ref,
            program_codes: self.program_codes.join(","),
        }
    }
}

/// Add an aggregator (program manager, admin); the grid side is told (flow 10).
#[utoipa::path(post, path = "/api/v1/aggregators", request_body = AggregatorBody, security(("bearer" = [])),
    responses((status = 200, body = Done), (status = 400, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn add_aggregator(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    JsonBody(body): JsonBody<AggregatorBody>,
) -> Result<Json<Done>, ApiError> {
    let message = state
        .aggregators
        .save_aggregator(&viewer, &body.into_input(None))
        .await?;
    Ok(Json(Done { message }))
}

/// Edit an aggregator (program manager, admin); the external reference stays; flow 10.
#[utoipa::path(post, path = "/api/v1/aggregators/{id}", params(("id" = i64, Path)), request_body = AggregatorBody, security(("bearer" = [])),
    responses((status = 200, body = Done), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn edit_aggregator(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AggregatorBody>,
) -> Result<Json<Done>, ApiError> {
    let input = body.into_input(Some(path_id(&id)?));
    let message = state.aggregators.save_aggregator(&viewer, &input).await?;
    Ok(Json(Done { message }))
}

#[allow(dead_code)]
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
struct MeterDataParams {
    /// The file's name, kept in the import record (default `upload`; `file_name` is read too).
    #[param(rename = "fileName")]
    file_name: Option<String>,
    /// ESPI XML only: the service point of the readings (default: the UsagePoint entry's
    /// title; `service_point` is read too).
    #[param(rename = "servicePoint")]
    service_point: Option<String>,
}

/// Import interval meter data (program manager, admin): a `text/csv` body
/// `service_point_id,interval_start,interval_minutes,kwh` (RFC 3339 with offset, 15 or 60
/// minutes on the UTC grid) or an `application/xml` Green Button ESPI feed. The file is
/// validated whole; the accepted readings are stored in one transaction and the report lists
/// rejected rows by line. The same file again changes nothing (`duplicate: true`). An
/// unreadable file (header, XML, ReadingType) is a 400 and stores nothing.
#[utoipa::path(post, path = "/api/v1/meter-data", params(MeterDataParams),
    request_body(content = String, content_type = "text/csv",
        example = json!("service_point_id,interval_start,interval_minutes,kwh\nSP-0000001,2026-07-01T15:00:00Z,15,0.42\n")),
    security(("bearer" = [])),
    responses((status = 200, body = crate::programs::meter::ImportReport), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 415, body = Problem)))]
async fn post_meter_data(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    RawQuery(raw): RawQuery,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    use crate::programs::meter::{import, FileKind};
    crate::access::require(&viewer, app::access::Action::ImportMeterData)?;
    let query = query_pairs(raw)?;
    let mut file_name = String::from("upload");
    let mut service_point = None;
    for (k, v) in pairs(&query) {
        match k {
            "fileName" | "file_name" => file_name = v.to_string(),
            "servicePoint" | "service_point" => service_point = Some(v.to_string()),
            other => {
                return Err(ApiError(AppError::BadRequest(format!(
                    "unknown query parameter `{other}` (fileName, servicePoint)"
                ))))
            }
        }
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let kind = match mime.as_str() {
        "text/csv" | "text/plain" => FileKind::Csv,
        "application/xml" | "text/xml" | "application/atom+xml" => FileKind::Espi { service_point },
        _ => {
            return Ok(problem(
                415,
                "Unsupported media type",
                format!("send meter data as text/csv or application/xml, not `{mime}`"),
            ))
        }
    };
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError(AppError::BadRequest("the file is not UTF-8 text".into())))?;
    let report = import(
        &state.db,
        &viewer.username,
        &file_name,
        text,
        kind,
        state.clock.now(),
    )
    .await?;
    Ok(Json(report).into_response())
}

async fn not_found() -> Response {
    problem(404, "Not found", "no such API resource".into())
}

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(crate::web::event_api::router())
        .merge(crate::web::settlement_api::router())
        .merge(crate::web::report_api::router())
        .route(
            "/api/v1/openapi.json",
            get(crate::web::openapi::openapi_json),
        )
        .route("/api/v1/enrollments", get(list_enrollments))
        .route("/api/v1/enrollments/{id}", get(get_enrollment))
        .route("/api/v1/devices", get(list_devices))
        .route("/api/v1/devices/{id}", get(get_device))
        .route("/api/v1/programs", get(list_programs))
        .route("/api/v1/programs/{id}", get(get_program))
        .route("/api/v1/programs/{id}/status", post(set_program_status))
        .route("/api/v1/network", get(network))
        .route(
            "/api/v1/enrollments/{id}/activate",
            post(activate_enrollment),
        )
        .route(
            "/api/v1/enrollments/{id}/unenroll",
            post(unenroll_enrollment),
        )
        .route(
            "/api/v1/devices/{id}/unavailability",
            post(add_unavailability),
        )
        .route("/api/v1/devices/{id}/opt-out", post(opt_out))
        .route("/api/v1/scores/run", post(run_scores))
        .route("/api/v1/weather", get(get_weather).put(put_weather))
        .route(
            "/api/v1/enrollments/{id}/replace-device",
            post(replace_device),
        )
        .route("/api/v1/network/export", post(export_network))
        .route(
            "/api/v1/aggregators",
            get(list_aggregators).post(add_aggregator),
        )
        .route("/api/v1/aggregators/{id}", post(edit_aggregator))
        .route("/api/v1/meter-data", post(post_meter_data))
        .route("/api/v1/{*rest}", get(not_found).post(not_found))
}
