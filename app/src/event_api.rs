//! Server functions of the strategy and event pages: who asks, what they asked, one call
//! through the event port; mutations end in a redirect with a one-time message.

use leptos::prelude::*;

use crate::api::{fail, finish, flash_and_redirect, parts};
use crate::error::AppError;
use crate::grid::*;

fn events() -> Result<(Events, crate::model::Viewer), AppError> {
    let viewer = crate::api::viewer()?;
    let port = use_context::<Events>().ok_or_else(|| AppError::Internal("no event port".into()))?;
    Ok((port, viewer))
}

#[server(prefix = "/fn", endpoint = "strategy_options")]
pub async fn load_strategy_options() -> Result<StrategyOptions, AppError> {
    let (p, v) = events()?;
    p.strategy_options(&v).await
}

#[server(prefix = "/fn", endpoint = "list_strategies")]
pub async fn list_strategies(archived: bool) -> Result<Vec<StrategyDto>, AppError> {
    let (p, v) = events()?;
    p.list_strategies(&v, archived).await
}

#[server(prefix = "/fn", endpoint = "load_strategy")]
pub async fn load_strategy(id: i64) -> Result<StrategyDto, AppError> {
    let (p, v) = events()?;
    p.get_strategy(&v, id).await
}

#[server(prefix = "/fn", endpoint = "save_strategy")]
pub async fn save_strategy(id: Option<i64>, strategy: StrategyInput) -> Result<(), AppError> {
    let (p, v) = events()?;
    let back = id
        .map(|i| format!("/strategies/{i}"))
        .unwrap_or_else(|| "/strategies".into());
    match p.save_strategy(&v, id, &strategy).await {
        Ok(saved) => {
            flash_and_redirect(
                false,
                format!("Strategy `{}` saved.", strategy.name.trim()),
                &format!("/strategies/{saved}"),
            )
            .await
        }
        Err(e) => fail(e, &back).await,
    }
}

#[server(prefix = "/fn", endpoint = "archive_strategy")]
pub async fn archive_strategy(id: i64) -> Result<(), AppError> {
    let (p, v) = events()?;
    let result = p.archive_strategy(&v, id).await;
    finish(
        result,
        |name| format!("Strategy `{name}` archived."),
        "/strategies",
    )
    .await
}

#[server(prefix = "/fn", endpoint = "list_events")]
pub async fn list_events(status: Option<String>) -> Result<Vec<EventSummary>, AppError> {
    let (p, v) = events()?;
    p.list_events(&v, status.as_deref()).await
}

#[server(prefix = "/fn", endpoint = "create_event")]
pub async fn create_event(event: EventInput) -> Result<(), AppError> {
    let (p, v) = events()?;
    match p.create_event(&v, &event).await {
        Ok(id) => {
            flash_and_redirect(
                false,
                "Event created. Generate its stages next.".into(),
                &format!("/events/{id}"),
            )
            .await
        }
        Err(e) => {
            // What was typed comes back with the error: the form is filled in again.
            if !matches!(e, AppError::Internal(_)) {
                if let Ok(session) = crate::api::session() {
                    let draft = EventDraft {
                        input: event.clone(),
                        error: e.to_string(),
                    };
                    let _ = session.insert(SESSION_EVENT_DRAFT, &draft).await;
                }
            }
            let back = match event.strategy_id.trim() {
                "" => "/events".to_string(),
                id => format!("/events?strategy={}", crate::query::encode(id)),
            };
            fail(e, &back).await
        }
    }
}

/// The new-event form as it was sent, with the reason it was refused (shown once).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EventDraft {
    pub input: EventInput,
    pub error: String,
}

const SESSION_EVENT_DRAFT: &str = "event_draft";

/// The refused new-event form, once: the page fills the form in with it.
#[server(prefix = "/fn", endpoint = "take_event_draft")]
pub async fn take_event_draft() -> Result<Option<EventDraft>, AppError> {
    let _ = crate::api::viewer()?;
    crate::api::session()?
        .remove::<EventDraft>(SESSION_EVENT_DRAFT)
        .await
        .map_err(|e| AppError::Internal(format!("session: {e}")))
}

#[server(prefix = "/fn", endpoint = "load_event")]
pub async fn load_event(id: i64) -> Result<EventDetail, AppError> {
    let (p, v) = events()?;
    p.get_event(&v, id).await
}

#[server(prefix = "/fn", endpoint = "load_stage_devices")]
pub async fn load_stage_devices(
    event_id: i64,
    seq: i32,
    after: Option<i64>,
) -> Result<StageDevicesPage, AppError> {
    let (p, v) = events()?;
    p.stage_devices(&v, event_id, seq, after).await
}

#[server(prefix = "/fn", endpoint = "event_action")]
pub async fn event_action(id: i64, action: String, reason: Option<String>) -> Result<(), AppError> {
    let (p, v) = events()?;
    let result = p
        .event_action(&v, id, &action, reason.as_deref().unwrap_or(""))
        .await;
    finish(result, |m| m, &format!("/events/{id}")).await
}

#[server(prefix = "/fn", endpoint = "simulated_now")]
pub async fn simulated_now() -> Result<Option<chrono::DateTime<chrono::Utc>>, AppError> {
    let (p, _) = events()?;
    Ok(p.simulated_now().await)
}

#[server(prefix = "/fn", endpoint = "advance_clock")]
pub async fn advance_clock(minutes: String) -> Result<(), AppError> {
    let (p, v) = events()?;
    let back = parts()?
        .headers
        .get(http::header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.find("/events").map(|i| r[i..].to_string()))
        .unwrap_or_else(|| "/events".into());
    let result = match minutes.trim().parse::<i64>() {
        Ok(m) => p.advance_clock(&v, m).await,
        Err(_) => Err(AppError::BadRequest(format!(
            "minutes: `{}` is not a whole number",
            minutes.trim()
        ))),
    };
    finish(result, |m| m, &back).await
}
