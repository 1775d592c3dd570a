//! Reports rendered on the server: charts as SVG strings the console embeds, and the
//! auditor's reports (historical event report, program season report) with their CSV.

pub mod axis;
pub mod chart;
pub mod event_report;
pub mod season_report;

use std::sync::Arc;

use async_trait::async_trait;

use app::access::Action;
use app::model::Viewer;
use app::report::{EventReport, ReportIndex, ReportPort, SeasonReport};
use app::AppError;

use crate::access::require;
use crate::calendar::Calendar;
use crate::db::Db;
use crate::error::DomainError;

pub struct ReportService {
    pub db: Db,
    /// Season bounds and event days are local.
    pub calendar: Calendar,
}

impl ReportService {
    pub fn new(db: Db, calendar: Calendar) -> Arc<Self> {
        Arc::new(ReportService { db, calendar })
    }

    pub fn check(viewer: &Viewer) -> Result<(), DomainError> {
        require(viewer, Action::ReadReports)
    }

    /// The event report's CSV and its file name.
    pub async fn event_csv(
        &self,
        viewer: &Viewer,
        id: i64,
    ) -> Result<(String, Vec<u8>), DomainError> {
        Self::check(viewer)?;
        let data = event_report::load(&self.db, id).await?;
        let body = event_report::event_csv(&data)?;
        Ok((format!("{}-report.csv", data.event.code), body))
    }

    /// The season report's CSV and its file name.
    pub async fn season_csv(
        &self,
        viewer: &Viewer,
        code: &str,
    ) -> Result<(String, Vec<u8>), DomainError> {
        Self::check(viewer)?;
        let r = season_report::season_report(&self.db, self.calendar, code).await?;
        let body = season_report::season_csv(&r)?;
        Ok((format!("{}-season.csv", r.program_code), body))
    }
}

#[async_trait]
impl ReportPort for ReportService {
    async fn report_index(&self, viewer: &Viewer) -> Result<ReportIndex, AppError> {
        Self::check(viewer)?;
        Ok(event_report::index(&self.db).await?)
    }

    async fn event_report(&self, viewer: &Viewer, id: i64) -> Result<EventReport, AppError> {
        Self::check(viewer)?;
        Ok(event_report::event_report(&self.db, self.calendar, id).await?)
    }

    async fn season_report(&self, viewer: &Viewer, code: &str) -> Result<SeasonReport, AppError> {
        Self::check(viewer)?;
        Ok(season_report::season_report(&self.db, self.calendar, code).await?)
    }
}
