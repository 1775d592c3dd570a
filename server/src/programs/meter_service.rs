//! The meter data page's service on the program side: recent imports and pasted files.

use std::sync::Arc;

use async_trait::async_trait;

use app::access::Action;
use app::model::*;
use app::port::MeterDataPort;
use app::AppError;

use crate::access::require;
use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::db::Db;

pub struct MeterDataService {
    pub db: Db,
    clock: Arc<dyn Clock>,
    /// Gaps in an import are reported in local time.
    calendar: Calendar,
}

impl MeterDataService {
    pub fn new(db: Db, clock: Arc<dyn Clock>, calendar: Calendar) -> Arc<Self> {
        Arc::new(MeterDataService {
            db,
            clock,
            calendar,
        })
    }
}

#[async_trait]
impl MeterDataPort for MeterDataService {
    async fn meter_imports(
        &self,
        viewer: &Viewer,
        selected: Option<i64>,
    ) -> Result<MeterImportView, AppError> {
        require(viewer, Action::ReadMeterImports)?;
        Ok(crate::programs::meter::imports_view(&self.db, self.calendar, selected).await?)
    }

    async fn import_meter_data(
        &self,
        viewer: &Viewer,
        file_name: &str,
        format: &str,
        service_point: &str,
        content: &str,
    ) -> Result<(i64, String), AppError> {
        use crate::programs::meter::{import, FileKind};
        require(viewer, Action::ImportMeterData)?;
        let kind = match format {
            "csv" => FileKind::Csv,
            "espi" => FileKind::Espi {
                service_point: Some(service_point.to_string()).filter(|s| !s.trim().is_empty()),
            },
            other => {
                return Err(AppError::BadRequest(format!(
                    "format must be csv or espi, not `{other}`"
                )))
            }
        };
        let report = import(
            &self.db,
            &viewer.username,
            file_name,
            content,
            kind,
            self.clock.now(),
        )
        .await?;
        Ok((report.import_id, report.message))
    }
}
