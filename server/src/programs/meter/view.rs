//! The console's view of the meter data imports: the recent ones and one's report.

use super::ImportReport;
use crate::calendar::Calendar;
use crate::db::meter as meter_store;
use crate::db::Db;
use crate::error::DomainError;

/// The 50 most recent imports and the report of `selected` (for the console).
pub async fn imports_view(
    db: &Db,
    cal: Calendar,
    selected: Option<i64>,
) -> Result<app::model::MeterImportView, DomainError> {
    use app::model::{MeterImportDetail, MeterImportRow, MeterImportView, MeterRejectionDto};
    let imports = meter_store::recent_imports(db)
        .await?
        .into_iter()
        .map(|r| MeterImportRow {
            id: r.id,
            file_name: r.file_name,
            format: r.format,
            imported_by: r.imported_by,
            imported_at: r.imported_at,
            rows_accepted: r.rows_accepted.into(),
            rows_rejected: r.rows_rejected.into(),
        })
        .collect();
    let selected = match selected {
        None => None,
        Some(id) => {
            let json = meter_store::import_report(db, id).await?;
            let json = json.ok_or_else(|| DomainError::NotFound(format!("import {id}")))?;
            let r: ImportReport = serde_json::from_str(&json)
                .map_err(|e| DomainError::Internal(format!("stored import report {id}: {e}")))?;
            Some(MeterImportDetail {
                id,
                file_name: r.file_name,
                message: r.message,
                rejections: r
                    .rejections
                    .into_iter()
                    .map(|x| MeterRejectionDto {
                        line: x.line as i64,
                        reason: x.reason,
                    })
                    .collect(),
                gaps: r
                    .gaps
                    .iter()
                    .map(|g| {
                        format!(
                            "{}: no data from {} to {}",
                            g.service_point_id,
                            cal.show(g.from),
                            cal.show(g.to)
                        )
                    })
                    .collect(),
            })
        }
    };
    Ok(MeterImportView { imports, selected })
}
