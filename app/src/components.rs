//! Pieces every page uses: the layout with role-aware navigation, the guard, the CSRF field,
//! the one-time message, error panels and small formatters.

use leptos::prelude::*;

use crate::access::{may, may_open, SECTIONS};
use crate::api::Logout;
use crate::error::AppError;
use crate::model::{CsrfToken, Flash, KeptForm, Viewer};

fn request_extension<T: Clone + Send + Sync + 'static>() -> Option<T> {
    use_context::<http::request::Parts>().and_then(|p| p.extensions.get::<T>().cloned())
}

pub fn current_viewer() -> Option<Viewer> {
    request_extension::<Viewer>()
}

/// Whether the signed-in viewer may do `action` (the page shows its form only then).
pub fn viewer_may(action: crate::access::Action) -> bool {
    current_viewer().is_some_and(|v| may(v.role, action))
}

pub fn current_path() -> String {
    use_context::<http::request::Parts>()
        .map(|p| p.uri.path().to_string())
        .unwrap_or_default()
}

/// A real 302 for every client (leptos_axum's redirect only sets it for `Accept: text/html`).
pub fn page_redirect(path: &str) {
    if let (Some(opts), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(path),
    ) {
        opts.insert_header(http::header::LOCATION, value);
        opts.set_status(http::StatusCode::FOUND);
    }
}

pub fn set_status(code: u16) {
    if let (Some(opts), Ok(status)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::StatusCode::from_u16(code),
    ) {
        opts.set_status(status);
    }
}

/// The hidden anti-forgery field every form carries; the server refuses a post without it.
#[component]
pub fn CsrfField() -> impl IntoView {
    let token = request_extension::<CsrfToken>()
        .map(|t| t.0)
        .unwrap_or_default();
    view! { <input type="hidden" name="csrf" value=token/> }
}

#[component]
pub fn FlashBanner() -> impl IntoView {
    request_extension::<Flash>().map(|f| {
        let class = if f.is_error {
            "flash flash-error"
        } else {
            "flash flash-ok"
        };
        let role = if f.is_error { "alert" } else { "status" };
        view! { <p class=class role=role>{f.message}</p> }
    })
}

/// The line at the top of a refused form that was filled in again (`shown`): the error is in
/// the summary above, what was typed is back in the fields.
pub fn kept_note(shown: bool) -> impl IntoView {
    shown.then(|| {
        view! {
            <p class="kept-note" id="kept-note">
                "This form was refused (the reason is at the top of the page); what you typed is kept below. Correct it and send it again."
            </p>
        }
    })
}

/// [`kept_note`] for a form posted to `F`.
pub fn kept_note_for<F: leptos::server_fn::ServerFn>() -> impl IntoView {
    kept_note(kept_form::<F>().is_some())
}

/// The form the server refused just before this page, if it was posted to `F`.
pub fn kept_form<F: leptos::server_fn::ServerFn>() -> Option<KeptForm> {
    request_extension::<KeptForm>().filter(|k| k.action == F::PATH)
}

/// What was typed in field `name` of a refused form posted to `F`, else `default`: the value
/// a form field shows.
pub fn kept_or<F: leptos::server_fn::ServerFn>(name: &str, default: impl Into<String>) -> String {
    kept_form::<F>()
        .and_then(|k| k.get(name).map(str::to_string))
        .unwrap_or_else(|| default.into())
}

#[component]
fn Nav(viewer: Viewer) -> impl IntoView {
    let here = current_path();
    let items = SECTIONS
        .iter()
        .filter(|s| s.in_nav && may(viewer.role, s.action))
        .map(|s| {
            let href = if s.path == "/admin" {
                "/admin/users"
            } else {
                s.path
            };
            let current = crate::access::section_of(&here).is_some_and(|c| c.path == s.path);
            view! {
                <li>
                    <a href=href aria-current=current.then_some("page")>{s.label}</a>
                </li>
            }
        })
        .collect_view();
    let logout = ServerAction::<Logout>::new();
    view! {
        <header class="topbar">
            <a class="brand" href="/home">"GridFlex"</a>
            <nav aria-label="Main">
                <ul>{items}</ul>
            </nav>
            <div class="who">
                <span class="user" data-role=viewer.role.as_str()>
                    {viewer.display_name.clone()} " · " {viewer.role.label()}
                </span>
                <ActionForm action=logout attr:class="inline">
                    <CsrfField/>
                    <button type="submit" class="link">"Sign out"</button>
                </ActionForm>
            </div>
        </header>
    }
}

/// Renders `children` only for a signed-in viewer whose role may open this page: others are
/// sent to sign in, or shown 403.
#[component]
pub fn Guard(children: ChildrenFn) -> impl IntoView {
    let path = current_path();
    match current_viewer() {
        None => {
            let next = crate::query::encode(&path);
            page_redirect(&format!("/login?next={next}"));
            view! { <p>"Please sign in."</p> }.into_any()
        }
        Some(viewer) if !may_open(&path, viewer.role) => {
            set_status(403);
            view! {
                <Nav viewer=viewer.clone()/>
                <main class="page">
                    <ErrorPanel err=AppError::Forbidden("open this page".into())/>
                </main>
            }
            .into_any()
        }
        Some(viewer) => view! {
            <Nav viewer=viewer/>
            <main class="page">
                <FlashBanner/>
                {children()}
            </main>
        }
        .into_any(),
    }
}

/// Shows an error and sets the matching HTTP status.
#[component]
pub fn ErrorPanel(err: AppError) -> impl IntoView {
    set_status(err.status());
    view! {
        <section class="error-panel" role="alert" data-status=err.status()>
            <h1>{err.title()}</h1>
            <p>{err.to_string()}</p>
        </section>
    }
}

/// A kW figure as every page shows it (see [`crate::format::kw`]).
pub fn fmt_kw(kw: f64) -> String {
    crate::format::kw(kw)
}

pub fn fmt_count(n: i64) -> String {
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// The utility's time zone. The server provides it as context (from its settings); every time
/// the console shows or prefills is local in it, with the zone's abbreviation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalZone(pub chrono_tz::Tz);

/// The zone times are shown in: the server's, or UTC where none is provided.
pub fn local_zone() -> chrono_tz::Tz {
    use_context::<LocalZone>()
        .map(|z| z.0)
        .unwrap_or(chrono_tz::UTC)
}

/// An instant as local date and time with the zone's abbreviation: `2026-07-14 17:00 CDT`.
pub fn fmt_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    fmt_time_in(local_zone(), t)
}

pub fn fmt_time_in(zone: chrono_tz::Tz, t: &chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// The local clock time alone with the abbreviation (`19:00 CDT`), for the end of a window.
pub fn fmt_clock(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&local_zone())
        .format("%H:%M %Z")
        .to_string()
}

/// A local time as the console's time fields take it (`2026-07-14 17:00`), for prefilling; a
/// time the clocks pass twice keeps its abbreviation (`2026-11-01 01:30 CST`) so it reads back
/// as the same instant.
pub fn fmt_input(t: &chrono::DateTime<chrono::Utc>) -> String {
    use chrono::TimeZone;
    let zone = local_zone();
    let local = t.with_timezone(&zone);
    let twice = matches!(
        zone.from_local_datetime(&local.naive_local()),
        chrono::LocalResult::Ambiguous(..)
    );
    let format = if twice {
        "%Y-%m-%d %H:%M %Z"
    } else {
        "%Y-%m-%d %H:%M"
    };
    local.format(format).to_string()
}

/// A status as people say it: `InProgress` → "In progress", `ACTIVE` → "Active",
/// `technical_failure` → "Technical failure", `INACTIVE` → "Inactive (unenrolled)".
pub fn status_name(status: &str) -> String {
    match status {
        "INACTIVE" => return "Inactive (unenrolled)".into(),
        "Canceled" => return "Cancelled".into(),
        _ => {}
    }
    let mut words = String::new();
    let shouting = status.chars().all(|c| !c.is_ascii_lowercase());
    let mut prev_lower = false;
    for ch in status.chars() {
        if ch == '_' || ch == '-' {
            words.push(' ');
            prev_lower = false;
            continue;
        }
        if ch.is_ascii_uppercase() && prev_lower {
            words.push(' ');
        }
        prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        words.push(if shouting {
            ch
        } else {
            ch.to_ascii_lowercase()
        });
    }
    let words = words.to_lowercase();
    let mut out = String::with_capacity(words.len());
    let mut chars = words.chars();
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
        out.extend(chars);
    }
    out
}

/// The colour family of a status: good, under way, waiting, stopped or failed, or neutral.
pub fn status_tone(status: &str) -> &'static str {
    match status.to_ascii_lowercase().as_str() {
        "active" | "approved" | "completed" | "delivered" | "processed" | "registered"
        | "online" | "settled" | "succeeded" | "ok" | "f1co" => "ok",
        "scheduled" | "inprogress" | "queued" | "delivering" | "submitted" | "running" | "x1sd"
        | "x1ip" => "info",
        "pending" | "new" | "technical_failure" | "draft" | "offline" | "suspended" => "warn",
        "denied" | "canceled" | "cancelled" | "business_error" | "parked" | "failed" | "error"
        | "f1cn" => "danger",
        _ => "neutral",
    }
}

/// A colour-coded badge with the status's human name; the code stays in `data-status`
/// (and the tooltip) for those who know it.
pub fn status_badge(status: &str) -> impl IntoView {
    let class = format!(
        "badge badge-{} tone-{}",
        status.to_ascii_lowercase(),
        status_tone(status)
    );
    view! {
        <span class=class data-status=status.to_string() title=status.to_string()>
            {status_name(status)}
        </span>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_local_with_the_zones_abbreviation_in_summer_and_winter() {
        use chrono::TimeZone;
        let chicago = chrono_tz::America::Chicago;
        let july = chrono::Utc.with_ymd_and_hms(2026, 7, 14, 22, 0, 0).unwrap();
        let january = chrono::Utc.with_ymd_and_hms(2026, 1, 14, 23, 0, 0).unwrap();
        assert_eq!(fmt_time_in(chicago, &july), "2026-07-14 17:00 CDT");
        assert_eq!(fmt_time_in(chicago, &january), "2026-01-14 17:00 CST");
        assert_eq!(fmt_time_in(chrono_tz::UTC, &july), "2026-07-14 22:00 UTC");
    }

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(fmt_count(1_000_000), "1,000,000");
        assert_eq!(fmt_count(999), "999");
        assert_eq!(fmt_count(-12_345), "-12,345");
    }

    #[test]
    fn statuses_have_human_names_and_a_tone() {
        assert_eq!(status_name("InProgress"), "In progress");
        assert_eq!(status_name("ACTIVE"), "Active");
        assert_eq!(status_name("INACTIVE"), "Inactive (unenrolled)");
        assert_eq!(status_name("technical_failure"), "Technical failure");
        assert_eq!(status_name("Canceled"), "Cancelled");
        assert_eq!(status_tone("Denied"), "danger");
        assert_eq!(status_tone("InProgress"), "info");
        assert_eq!(status_tone("ACTIVE"), "ok");
        assert_eq!(status_tone("PENDING"), "warn");
    }

    #[test]
    fn large_loads_are_shown_in_megawatts() {
        assert_eq!(fmt_kw(2500.0), "2.50 MW");
        assert_eq!(fmt_kw(3.25), "3.2 kW");
    }
}
