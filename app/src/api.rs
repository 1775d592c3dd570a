//! Server functions: the console's only way to the server. Each one is thin: who is asking,
//! what they asked, one call through the port. Mutations end in a redirect (no double
//! submit) with a one-time message in the session.

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::*;
use crate::port::*;
use crate::query::*;

pub(crate) fn parts() -> Result<http::request::Parts, AppError> {
    use_context::<http::request::Parts>()
        .ok_or_else(|| AppError::Internal("no request in context".into()))
}

/// An area's port (`Enrollments`, `Events`, …), provided as context by the server.
pub(crate) fn port<P: Clone + Send + Sync + 'static>() -> Result<P, AppError> {
    use_context::<P>().ok_or_else(|| {
        AppError::Internal(format!("no port {} in context", std::any::type_name::<P>()))
    })
}

/// The signed-in viewer, or `Unauthenticated`.
pub(crate) fn viewer() -> Result<Viewer, AppError> {
    parts()?
        .extensions
        .get::<Viewer>()
        .cloned()
        .ok_or(AppError::Unauthenticated)
}

/// The area's port and the signed-in viewer, or `Unauthenticated`.
pub(crate) fn signed_in<P: Clone + Send + Sync + 'static>() -> Result<(P, Viewer), AppError> {
    let viewer = viewer()?;
    Ok((port::<P>()?, viewer))
}

pub(crate) fn session() -> Result<tower_sessions::Session, AppError> {
    parts()?
        .extensions
        .get::<tower_sessions::Session>()
        .cloned()
        .ok_or_else(|| AppError::Internal("no session layer".into()))
}

pub(crate) async fn flash_and_redirect(
    is_error: bool,
    message: String,
    to: &str,
) -> Result<(), AppError> {
    session()?
        .insert(SESSION_FLASH, Flash { is_error, message })
        .await
        .map_err(|e| AppError::Internal(format!("session: {e}")))?;
    leptos_axum::redirect(to);
    Ok(())
}

/// Reports the outcome of a form: success or a clear error, both shown on `to`.
pub(crate) async fn finish<T>(
    result: Result<T, AppError>,
    ok: impl FnOnce(T) -> String,
    to: &str,
) -> Result<(), AppError> {
    match result {
        Ok(v) => flash_and_redirect(false, ok(v), to).await,
        Err(e) => fail(e, to).await,
    }
}

/// Reports a form's error: shown on `to` to a browser. A program calling the function (not a
/// browser's form) gets the error itself, with its status (403, 400, …), rather than a
/// message stored for a page it never loads; an internal error is never a message.
pub(crate) async fn fail(error: AppError, to: &str) -> Result<(), AppError> {
    match error {
        AppError::Internal(r) => Err(AppError::Internal(r)),
        e if !from_a_browser() => Err(e),
        e => flash_and_redirect(true, e.to_string(), to).await,
    }
}

/// Whether the request came from a browser's form (it accepts HTML).
fn from_a_browser() -> bool {
    parts().is_ok_and(|p| {
        p.headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
    })
}

#[server(prefix = "/fn", endpoint = "login")]
pub async fn login(
    username: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    let users = port::<Users>()?;
    let ip = parts()?
        .extensions
        .get::<ClientIp>()
        .map(|c| c.0.clone())
        .unwrap_or_default();
    match users.authenticate(username.trim(), &password, &ip).await {
        Ok(viewer) => {
            let session = session()?;
            let err =
                |e: tower_sessions::session::Error| AppError::Internal(format!("session: {e}"));
            // A new id at sign-in defeats session fixation; a new CSRF token goes with it.
            session.cycle_id().await.map_err(err)?;
            session
                .insert(SESSION_USER_ID, viewer.user_id)
                .await
                .map_err(err)?;
            session.remove::<String>(SESSION_CSRF).await.map_err(err)?;
            let to = crate::access::safe_next(next.as_deref())
                .unwrap_or_else(|| crate::access::home_of(viewer.role).to_string());
            leptos_axum::redirect(&to);
            Ok(())
        }
        Err(e @ (AppError::Unauthenticated | AppError::TooManyRequests(_))) => {
            let message = match e {
                AppError::TooManyRequests(m) => m,
                _ => "Wrong username or password.".to_string(),
            };
            flash_and_redirect(true, message, "/login").await
        }
        Err(e) => Err(e),
    }
}

#[server(prefix = "/fn", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    session()?
        .flush()
        .await
        .map_err(|e| AppError::Internal(format!("session: {e}")))?;
    leptos_axum::redirect("/login");
    Ok(())
}

#[server(prefix = "/fn", endpoint = "home")]
pub async fn home() -> Result<HomeDto, AppError> {
    let (c, v) = signed_in::<Overview>()?;
    c.home(&v).await
}

#[server(prefix = "/fn", endpoint = "filter_options")]
pub async fn load_filter_options() -> Result<FilterOptions, AppError> {
    let (c, v) = signed_in::<Programs>()?;
    c.filter_options(&v).await
}

#[server(prefix = "/fn", endpoint = "list_enrollments")]
pub async fn list_enrollments(query: EnrollmentQuery) -> Result<Page<EnrollmentRow>, AppError> {
    let (c, v) = signed_in::<Enrollments>()?;
    c.list_enrollments(&v, &query).await
}

#[server(prefix = "/fn", endpoint = "get_enrollment")]
pub async fn get_enrollment(id: i64) -> Result<EnrollmentDetail, AppError> {
    let (c, v) = signed_in::<Enrollments>()?;
    c.get_enrollment(&v, id).await
}

#[server(prefix = "/fn", endpoint = "list_devices")]
pub async fn list_devices(query: DeviceQuery) -> Result<Page<DeviceRow>, AppError> {
    let (c, v) = signed_in::<Devices>()?;
    c.list_devices(&v, &query).await
}

#[server(prefix = "/fn", endpoint = "get_device")]
pub async fn get_device(id: i64) -> Result<DeviceDetail, AppError> {
    let (c, v) = signed_in::<Devices>()?;
    c.get_device(&v, id).await
}

#[server(prefix = "/fn", endpoint = "list_programs")]
pub async fn list_programs() -> Result<Vec<ProgramSummary>, AppError> {
    let (c, v) = signed_in::<Programs>()?;
    c.list_programs(&v).await
}

#[server(prefix = "/fn", endpoint = "get_program")]
pub async fn get_program(id: i64) -> Result<ProgramDetail, AppError> {
    let (c, v) = signed_in::<Programs>()?;
    c.get_program(&v, id).await
}

#[server(prefix = "/fn", endpoint = "network")]
pub async fn network(query: NetworkQuery) -> Result<NetworkView, AppError> {
    let (c, v) = signed_in::<NetworkModel>()?;
    c.network(&v, &query).await
}

#[server(prefix = "/fn", endpoint = "list_audit")]
pub async fn list_audit(query: AuditQuery) -> Result<Page<AuditEntryDto>, AppError> {
    let (c, v) = signed_in::<Audit>()?;
    c.list_audit(&v, &query).await
}

#[server(prefix = "/fn", endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserDto>, AppError> {
    let (c, v) = signed_in::<Users>()?;
    c.list_users(&v).await
}

const USERS_PAGE: &str = "/admin/users";

#[server(prefix = "/fn", endpoint = "create_user")]
pub async fn create_user(
    username: String,
    display_name: String,
    role: String,
    password: String,
) -> Result<(), AppError> {
    let (c, v) = signed_in::<Users>()?;
    let result = c
        .create_user(&v, username.trim(), display_name.trim(), &role, &password)
        .await;
    finish(
        result,
        |u| format!("User {} created.", u.username),
        USERS_PAGE,
    )
    .await
}

#[server(prefix = "/fn", endpoint = "set_user_disabled")]
pub async fn set_user_disabled(user_id: i64, disabled: bool) -> Result<(), AppError> {
    let (c, v) = signed_in::<Users>()?;
    let result = c.set_user_disabled(&v, user_id, disabled).await;
    let verb = if disabled { "disabled" } else { "enabled" };
    finish(result, |_| format!("User {verb}."), USERS_PAGE).await
}

#[server(prefix = "/fn", endpoint = "reset_password")]
pub async fn reset_password(user_id: i64, password: String) -> Result<(), AppError> {
    let (c, v) = signed_in::<Users>()?;
    let result = c.reset_password(&v, user_id, &password).await;
    finish(
        result,
        |_| "Password reset; the user's sessions now need the new password.".to_string(),
        USERS_PAGE,
    )
    .await
}

#[server(prefix = "/fn", endpoint = "list_tokens")]
pub async fn list_tokens() -> Result<Vec<TokenDto>, AppError> {
    let (c, v) = signed_in::<Users>()?;
    c.list_tokens(&v).await
}

#[server(prefix = "/fn", endpoint = "revoke_token")]
pub async fn revoke_token(name: String) -> Result<(), AppError> {
    let (c, v) = signed_in::<Users>()?;
    let result = c.revoke_token(&v, name.trim()).await;
    finish(
        result,
        |_| format!("Token {} revoked; it no longer works.", name.trim()),
        USERS_PAGE,
    )
    .await
}

#[server(prefix = "/fn", endpoint = "change_enrollment_status")]
pub async fn change_enrollment_status(
    enrollment_id: i64,
    change: String,
    reason: String,
) -> Result<(), AppError> {
    let (c, v) = signed_in::<Enrollments>()?;
    let back = format!("/enrollments/{enrollment_id}");
    let result = c
        .change_enrollment_status(&v, enrollment_id, &change, &reason)
        .await;
    finish(
        result,
        |status| {
            format!("Enrollment {enrollment_id} is now {status}; the grid side is being told.")
        },
        &back,
    )
    .await
}

#[server(prefix = "/fn", endpoint = "monitor")]
pub async fn monitor(query: MessageQuery) -> Result<MonitorView, AppError> {
    let (c, v) = signed_in::<Integration>()?;
    c.monitor(&v, &query).await
}

#[server(prefix = "/fn", endpoint = "get_message")]
pub async fn get_message(id: i64) -> Result<MessageDetail, AppError> {
    let (c, v) = signed_in::<Integration>()?;
    c.get_message(&v, id).await
}

#[server(prefix = "/fn", endpoint = "resubmit_message")]
pub async fn resubmit_message(id: i64) -> Result<(), AppError> {
    let (c, v) = signed_in::<Integration>()?;
    let result = c.resubmit_message(&v, id).await;
    finish(
        result,
        |_| format!("Message {id} is queued again."),
        &format!("/monitor/{id}"),
    )
    .await
}

#[server(prefix = "/fn", endpoint = "add_unavailability")]
pub async fn add_unavailability(
    device_id: i64,
    starts_at: String,
    ends_at: String,
    reason: String,
) -> Result<(), AppError> {
    let (c, v) = signed_in::<Devices>()?;
    let result = c
        .add_unavailability(&v, device_id, &starts_at, &ends_at, &reason)
        .await;
    finish(
        result,
        |_| "Unavailability recorded; the grid side is being told.".to_string(),
        &format!("/devices/{device_id}"),
    )
    .await
}

#[server(prefix = "/fn", endpoint = "cancel_unavailability")]
pub async fn cancel_unavailability(window_id: i64, device_id: i64) -> Result<(), AppError> {
    let (c, v) = signed_in::<Devices>()?;
    let result = c.cancel_unavailability(&v, window_id).await;
    finish(
        result,
        |_| "Unavailability window cancelled.".to_string(),
        &format!("/devices/{device_id}"),
    )
    .await
}

#[server(prefix = "/fn", endpoint = "run_scores")]
pub async fn run_scores() -> Result<(), AppError> {
    let (c, v) = signed_in::<Programs>()?;
    let result = c.run_scores(&v).await;
    finish(result, |summary| summary, "/programs").await
}

#[server(prefix = "/fn", endpoint = "list_value_maps")]
pub async fn list_value_maps() -> Result<Vec<ValueMapEntry>, AppError> {
    let (c, v) = signed_in::<Integration>()?;
    c.list_value_maps(&v).await
}

const VALUE_MAPS_PAGE: &str = "/monitor/value-maps";

#[server(prefix = "/fn", endpoint = "put_value_map")]
pub async fn put_value_map(
    map: String,
    source_value: String,
    target_value: String,
) -> Result<(), AppError> {
    let (c, v) = signed_in::<Integration>()?;
    let result = c
        .put_value_map(&v, &map, &source_value, &target_value)
        .await;
    finish(
        result,
        |_| {
            format!(
                "`{}` now maps to `{}` in {map}.",
                source_value.trim(),
                target_value.trim()
            )
        },
        VALUE_MAPS_PAGE,
    )
    .await
}

#[server(prefix = "/fn", endpoint = "delete_value_map")]
pub async fn delete_value_map(id: i64) -> Result<(), AppError> {
    let (c, v) = signed_in::<Integration>()?;
    let result = c.delete_value_map(&v, id).await;
    finish(result, |_| "Entry removed.".to_string(), VALUE_MAPS_PAGE).await
}

#[server(prefix = "/fn", endpoint = "list_holidays")]
pub async fn list_holidays() -> Result<Vec<HolidayEntry>, AppError> {
    let (c, v) = signed_in::<Holidays>()?;
    c.list_holidays(&v).await
}

const HOLIDAYS_PAGE: &str = "/admin/holidays";

#[server(prefix = "/fn", endpoint = "put_holiday")]
pub async fn put_holiday(day: String, name: String) -> Result<(), AppError> {
    let (c, v) = signed_in::<Holidays>()?;
    let result = c.put_holiday(&v, &day, &name).await;
    finish(
        result,
        |_| format!("{} is now a holiday: {}.", day.trim(), name.trim()),
        HOLIDAYS_PAGE,
    )
    .await
}

#[server(prefix = "/fn", endpoint = "delete_holiday")]
pub async fn delete_holiday(day: String) -> Result<(), AppError> {
    let (c, v) = signed_in::<Holidays>()?;
    let result = c.delete_holiday(&v, &day).await;
    finish(
        result,
        |_| format!("{} is no longer a holiday.", day.trim()),
        HOLIDAYS_PAGE,
    )
    .await
}

#[server(prefix = "/fn", endpoint = "opt_out")]
pub async fn opt_out(stage: String, device_id: i64) -> Result<(), AppError> {
    let (c, v) = signed_in::<Devices>()?;
    let result = c.opt_out(&v, &stage, device_id).await;
    finish(
        result,
        |_| "Opted out of the event; the grid side is being told.".to_string(),
        &format!("/devices/{device_id}"),
    )
    .await
}

#[server(prefix = "/fn", endpoint = "save_rule")]
pub async fn save_rule(program_id: i64, rule: RuleInput) -> Result<(), AppError> {
    let (c, v) = signed_in::<Programs>()?;
    let result = c.save_rule(&v, program_id, &rule).await;
    finish(result, |m| m, &format!("/programs/{program_id}")).await
}

#[server(prefix = "/fn", endpoint = "change_program_status")]
pub async fn change_program_status(
    program_id: i64,
    status: String,
    reason: Option<String>,
) -> Result<(), AppError> {
    let (c, v) = signed_in::<Programs>()?;
    let result = c
        .set_program_status(&v, program_id, &status, reason.as_deref())
        .await;
    finish(result, |m| m, &format!("/programs/{program_id}")).await
}

#[server(prefix = "/fn", endpoint = "check_device")]
pub async fn check_device(device_id: i64) -> Result<(), AppError> {
    let (c, v) = signed_in::<Devices>()?;
    let result = c.check_device(&v, device_id).await;
    finish(
        result,
        |_| "Connection check sent to the grid side.".to_string(),
        &format!("/devices/{device_id}"),
    )
    .await
}

#[server(prefix = "/fn", endpoint = "forecast")]
pub async fn forecast(query: ForecastQuery) -> Result<ForecastView, AppError> {
    let (c, v) = signed_in::<Forecasts>()?;
    c.forecast(&v, &query).await
}

#[server(prefix = "/fn", endpoint = "upload_weather")]
pub async fn upload_weather(csv: String) -> Result<(), AppError> {
    let (c, v) = signed_in::<Forecasts>()?;
    let result = c.upload_weather(&v, &csv).await;
    finish(result, |m| m, "/forecast").await
}

#[server(prefix = "/fn", endpoint = "reductions")]
pub async fn reductions() -> Result<ReductionTableView, AppError> {
    let (c, v) = signed_in::<Forecasts>()?;
    c.reductions(&v).await
}

const REDUCTIONS_PAGE: &str = "/reductions";

#[server(prefix = "/fn", endpoint = "save_reduction")]
pub async fn save_reduction(row: ReductionInput) -> Result<(), AppError> {
    let (c, v) = signed_in::<Forecasts>()?;
    let result = c.save_reduction(&v, &row).await;
    finish(result, |m| m, REDUCTIONS_PAGE).await
}

#[server(prefix = "/fn", endpoint = "delete_reduction")]
pub async fn delete_reduction(id: i64) -> Result<(), AppError> {
    let (c, v) = signed_in::<Forecasts>()?;
    let result = c.delete_reduction(&v, id).await;
    finish(
        result,
        |_| format!("Reduction row {id} removed."),
        REDUCTIONS_PAGE,
    )
    .await
}

#[server(prefix = "/fn", endpoint = "export_network")]
pub async fn export_network() -> Result<(), AppError> {
    let (c, v) = signed_in::<NetworkModel>()?;
    let result = c.export_network(&v).await;
    finish(result, |m| m, "/network").await
}

#[server(prefix = "/fn", endpoint = "replace_device")]
pub async fn replace_device(
    enrollment_id: i64,
    replacement: ReplacementInput,
) -> Result<(), AppError> {
    let (c, v) = signed_in::<Enrollments>()?;
    let result = c.replace_device(&v, enrollment_id, &replacement).await;
    finish(result, |m| m, &format!("/enrollments/{enrollment_id}")).await
}

#[server(prefix = "/fn", endpoint = "list_aggregators")]
pub async fn list_aggregators() -> Result<Vec<AggregatorDto>, AppError> {
    let (c, v) = signed_in::<Aggregators>()?;
    c.list_aggregators(&v).await
}

#[server(prefix = "/fn", endpoint = "save_aggregator")]
pub async fn save_aggregator(aggregator: AggregatorInput) -> Result<(), AppError> {
    let (c, v) = signed_in::<Aggregators>()?;
    let result = c.save_aggregator(&v, &aggregator).await;
    let back = match aggregator.id.trim() {
        "" => "/aggregators".to_string(),
        id => format!("/aggregators?edit={id}"),
    };
    finish(result, |m| m, &back).await
}

#[server(prefix = "/fn", endpoint = "meter_imports")]
pub async fn meter_imports(selected: Option<i64>) -> Result<MeterImportView, AppError> {
    let (c, v) = signed_in::<MeterData>()?;
    c.meter_imports(&v, selected).await
}

#[server(prefix = "/fn", endpoint = "import_meter_data")]
pub async fn import_meter_data(
    file_name: String,
    format: String,
    service_point: String,
    content: String,
) -> Result<(), AppError> {
    let (c, v) = signed_in::<MeterData>()?;
    match c
        .import_meter_data(&v, &file_name, &format, &service_point, &content)
        .await
    {
        Ok((id, message)) => {
            flash_and_redirect(false, message, &format!("/meter-data?import={id}")).await
        }
        Err(e) => fail(e, "/meter-data").await,
    }
}
