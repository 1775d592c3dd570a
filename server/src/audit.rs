//! The audit trail's reading side: the audit page, the CSV export and the REST API read it
//! through this service (every write appends in its own transaction, `db::audit::append`).

use std::sync::Arc;

use async_trait::async_trait;

use app::access::Action;
use app::model::*;
use app::port::AuditPort;
use app::query::AuditQuery;
use app::AppError;

use crate::access::require;
use crate::calendar::Calendar;
use crate::db::{self, Db};

pub struct AuditService {
    pub db: Db,
    /// The filter's dates are the utility's local days.
    calendar: Calendar,
}

impl AuditService {
    pub fn new(db: Db, calendar: Calendar) -> Arc<Self> {
        Arc::new(AuditService { db, calendar })
    }
}

/// An entry as the pages that show an entity's history see it: without the client address,
/// which is personal data for the audit trail's readers only.
pub fn audit_dto(a: db::audit::AuditRow) -> AuditEntryDto {
    AuditEntryDto {
        id: a.id,
        occurred_at: a.occurred_at,
        actor: a.actor,
        action: a.action,
        entity_type: a.entity_type,
        entity_id: a.entity_id,
        before: a.before_json,
        after: a.after_json,
        client_address: None,
    }
}

#[async_trait]
impl AuditPort for AuditService {
    async fn list_audit(
        &self,
        viewer: &Viewer,
        q: &AuditQuery,
    ) -> Result<Page<AuditEntryDto>, AppError> {
        require(viewer, Action::ReadAudit)?;
        let filter = db::audit::AuditFilter {
            actor: q.actor.clone(),
            entity_type: q.entity_type.clone(),
            entity_id: q.entity_id.clone(),
            action: q.action.clone(),
            // The bounds are local days: from local midnight to the next local midnight.
            from: q.from.map(|d| self.calendar.day_start(d)),
            until: q
                .to
                .and_then(|d| d.succ_opt())
                .map(|d| self.calendar.day_start(d)),
            before_id: q.before,
            limit: q.limit as i64 + 1,
        };
        let (mut rows, total) = db::audit::list_audit(&self.db, &filter).await?;
        let limit = q.limit as usize;
        let next_after = db::next_cursor(&mut rows, limit, |r| r.id);
        Ok(Page {
            rows: rows
                .into_iter()
                .map(|r| {
                    // The audit trail's readers (checked above) see where a change came from.
                    let client_address = r.client_address.clone();
                    AuditEntryDto {
                        client_address,
                        ..audit_dto(r)
                    }
                })
                .collect(),
            total,
            next_after,
        })
    }
}
