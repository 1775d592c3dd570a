//! The holiday calendar's service behind the console (`HolidayPort`): listing for admins,
//! adding, renaming and removing, each change audited in its transaction.

use std::sync::Arc;

use async_trait::async_trait;

use app::access::Action;
use app::model::{HolidayEntry, Viewer};
use app::port::HolidayPort;
use app::AppError;

use crate::access::require;
use crate::calendar::holidays::{parse_day, parse_entry};
use crate::clock::Clock;
use crate::db::audit::{append, NewAuditEntry};
use crate::db::{holiday, Db};

pub struct HolidayService {
    pub db: Db,
    clock: Arc<dyn Clock>,
}

impl HolidayService {
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(HolidayService { db, clock })
    }
}

#[async_trait]
impl HolidayPort for HolidayService {
    async fn list_holidays(&self, viewer: &Viewer) -> Result<Vec<HolidayEntry>, AppError> {
        require(viewer, Action::EditHolidays)?;
        Ok(holiday::list_holidays(&self.db)
            .await?
            .into_iter()
            .map(|h| HolidayEntry {
                day: h.day,
                name: h.name,
                updated_at: h.updated_at,
            })
            .collect())
    }

    async fn put_holiday(&self, viewer: &Viewer, day: &str, name: &str) -> Result<(), AppError> {
        require(viewer, Action::EditHolidays)?;
        let (day, name) = parse_entry(day, name)?;
        let mut tx = self.db.begin().await?;
        let before = holiday::put_holiday(&mut tx, day, &name, self.clock.now()).await?;
        append(
            &mut tx,
            NewAuditEntry::new(&viewer.username, "holiday.put", "holiday", day.to_string())
                .before(serde_json::json!({ "name": before }))
                .after(serde_json::json!({ "name": name })),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_holiday(&self, viewer: &Viewer, day: &str) -> Result<(), AppError> {
        require(viewer, Action::EditHolidays)?;
        let day = parse_day(day)?;
        let mut tx = self.db.begin().await?;
        let row = holiday::delete_holiday(&mut tx, day).await?;
        append(
            &mut tx,
            NewAuditEntry::new(
                &viewer.username,
                "holiday.delete",
                "holiday",
                day.to_string(),
            )
            .before(serde_json::json!({ "name": row.name })),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
