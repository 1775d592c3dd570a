//! The integration monitor's service: messages with their attempts (personal data masked by
//! role), resubmission, and the value maps that translate codes between the sides.

use std::sync::Arc;

use async_trait::async_trait;

use app::access::Action;
use app::model::*;
use app::port::MonitorPort;
use app::query::MessageQuery;
use app::AppError;

use crate::access::{mask_json, require};
use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::db::audit::{append, NewAuditEntry};
use crate::db::{self, Db};
use crate::error::DomainError;
use crate::integration::message;
use crate::integration::wire::Flow;

pub struct MonitorService {
    pub db: Db,
    clock: Arc<dyn Clock>,
    /// The chart's axis and days are local.
    calendar: Calendar,
}

impl MonitorService {
    pub fn new(db: Db, clock: Arc<dyn Clock>, calendar: Calendar) -> Arc<Self> {
        Arc::new(MonitorService {
            db,
            clock,
            calendar,
        })
    }
}

fn message_dto(m: message::MessageRow) -> MessageDto {
    MessageDto {
        id: m.id,
        message_id: m.message_id,
        direction: m.direction,
        flow: m.flow,
        correlation_id: m.correlation_id,
        sender: m.sender,
        recipient: m.recipient,
        status: m.status,
        attempts: m.attempts,
        max_attempts: m.max_attempts,
        next_attempt_at: m.next_attempt_at,
        last_error: m.last_error,
        created_at: m.created_at,
        finished_at: m.finished_at,
    }
}

#[async_trait]
impl MonitorPort for MonitorService {
    async fn monitor(
        &self,
        viewer: &Viewer,
        query: &MessageQuery,
    ) -> Result<MonitorView, AppError> {
        require(viewer, Action::ReadMonitor)?;
        let filter = message::MessageFilter {
            flow: query.flow.clone(),
            status: query.status.clone(),
            direction: query.direction.clone(),
            before_id: query.before,
            limit: query.limit as i64 + 1,
        };
        let mut rows = message::list_messages(&self.db, &filter).await?;
        let limit = query.limit as usize;
        let next_before = db::next_cursor(&mut rows, limit, |r| r.id);
        let latencies = message::recent_latencies(&self.db, 10_000).await?;
        let hours = query.chart_hours();
        let series = crate::integration::monitor_chart::series(
            &self.db,
            self.calendar,
            &filter,
            hours,
            self.clock.now(),
        )
        .await?;
        let title = match &query.flow {
            Some(flow) => format!("{flow}: messages per status, last {hours} h"),
            None => format!("Messages per flow, last {hours} h"),
        };
        let chart_svg = crate::integration::monitor_chart::render(self.calendar, &series, &title);
        Ok(MonitorView {
            chart_svg,
            counts: message::counts(&self.db)
                .await?
                .into_iter()
                .map(|(flow, direction, status, count)| FlowCount {
                    flow,
                    direction,
                    status,
                    count,
                })
                .collect(),
            p50_ms: message::percentile(&latencies, 50.0),
            p95_ms: message::percentile(&latencies, 95.0),
            p99_ms: message::percentile(&latencies, 99.0),
            messages: rows.into_iter().map(message_dto).collect(),
            next_before,
            flows: Flow::ALL.iter().map(|f| f.as_str().to_string()).collect(),
        })
    }

    async fn get_message(&self, viewer: &Viewer, id: i64) -> Result<MessageDetail, AppError> {
        require(viewer, Action::ReadMonitor)?;
        let m = message::get_message(&self.db, id)
            .await?
            .ok_or_else(|| DomainError::not_found(format!("message {id}")))?;
        let attempts = message::attempts_of(&self.db, id).await?;
        let show = |text: &str| {
            let mut v: serde_json::Value =
                serde_json::from_str(text).unwrap_or(serde_json::Value::String(text.to_string()));
            if !viewer.role.sees_personal_data() {
                mask_json(&mut v);
            }
            serde_json::to_string_pretty(&v).unwrap_or_default()
        };
        Ok(MessageDetail {
            payload: show(&m.payload),
            result: m.result.as_deref().map(show),
            attempts: attempts
                .into_iter()
                .map(|a| AttemptDto {
                    attempt: a.attempt,
                    started_at: a.started_at,
                    latency_ms: a.latency_ms,
                    outcome: a.outcome,
                    error: a.error,
                })
                .collect(),
            message: message_dto(m),
        })
    }

    async fn resubmit_message(&self, viewer: &Viewer, id: i64) -> Result<(), AppError> {
        require(viewer, Action::ResubmitMessages)?;
        let mut tx = self.db.begin().await?;
        let before = message::resubmit(&mut tx, id, self.clock.now()).await?;
        append(
            &mut tx,
            NewAuditEntry::new(
                &viewer.username,
                "message.resubmit",
                "integration_message",
                id,
            )
            .before(serde_json::json!({"status": before.status, "attempts": before.attempts}))
            .after(serde_json::json!({"status": "queued"})),
        )
        .await
        .map_err(AppError::from)?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_value_maps(&self, viewer: &Viewer) -> Result<Vec<ValueMapEntry>, AppError> {
        require(viewer, Action::EditValueMaps)?;
        Ok(db::value_map::list_entries(&self.db)
            .await?
            .into_iter()
            .map(|e| ValueMapEntry {
                id: e.id,
                map: e.map,
                source_value: e.source_value,
                target_value: e.target_value,
                updated_at: e.updated_at,
            })
            .collect())
    }

    async fn put_value_map(
        &self,
        viewer: &Viewer,
        map: &str,
        source: &str,
        target: &str,
    ) -> Result<(), AppError> {
        require(viewer, Action::EditValueMaps)?;
        let (source, target) = (source.trim(), target.trim());
        let Some(map) = db::value_map::canonical_map(map) else {
            let aliases: Vec<&str> = db::value_map::ALIASES.iter().map(|(a, _)| *a).collect();
            return Err(AppError::BadRequest(format!(
                "unknown value map `{map}`; known: {}, or the published names {}",
                db::value_map::MAPS.join(", "),
                aliases.join(", ")
            )));
        };
        for (field, v) in [("code", source), ("translation", target)] {
            if v.is_empty() || v.chars().count() > 100 {
                return Err(AppError::BadRequest(format!(
                    "the {field} must have 1 to 100 characters"
                )));
            }
        }
        let mut tx = self.db.begin().await?;
        let before =
            db::value_map::put_entry(&mut tx, map, source, target, self.clock.now()).await?;
        append(
            &mut tx,
            NewAuditEntry::new(
                &viewer.username,
                "value_map.put",
                "value_map",
                format!("{map}:{source}"),
            )
            .before(serde_json::json!({"target": before}))
            .after(serde_json::json!({"target": target})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_value_map(&self, viewer: &Viewer, id: i64) -> Result<(), AppError> {
        require(viewer, Action::EditValueMaps)?;
        let mut tx = self.db.begin().await?;
        let row = db::value_map::delete_entry(&mut tx, id).await?;
        append(
            &mut tx,
            NewAuditEntry::new(
                &viewer.username,
                "value_map.delete",
                "value_map",
                format!("{}:{}", row.map, row.source_value),
            )
            .before(serde_json::json!({"target": row.target_value})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
