//! Importing a meter data file: parse and check it, read what the checks need from the store,
//! and write the accepted readings, the import record and its audit row in one transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::check::{self, StoredReadings};
use super::{parse_csv, parse_espi, FileKind, Format, ImportReport};
use crate::db::audit::{append, NewAuditEntry};
use crate::db::meter::{self as meter_store, NewImport};
use crate::db::{Db, Tx};
use crate::error::DomainError;

pub fn sha256_hex(content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Validates and stores a file (see the module documentation).
pub async fn import(
    db: &Db,
    actor: &str,
    file_name: &str,
    content: &str,
    kind: FileKind,
    now: DateTime<Utc>,
) -> Result<ImportReport, DomainError> {
    let file_name = check::file_name(file_name)?;
    let (format, parsed) = match &kind {
        FileKind::Csv => (Format::Csv, parse_csv(content)?),
        FileKind::Espi { service_point } => {
            (Format::Espi, parse_espi(content, service_point.as_deref())?)
        }
    };
    let sha = sha256_hex(content);
    let (rows, rejections, gaps) = check::check_file(parsed);

    let mut tx = db.begin().await?;
    if let Some(previous) = previous_import(&mut tx, &sha).await? {
        drop(tx);
        return Ok(previous);
    }
    let known = known_service_points(&mut tx, &check::service_points(&rows)).await?;
    // Stored readings around the file's range, per known service point.
    let mut stored: HashMap<String, StoredReadings> = HashMap::new();
    for (sp, (from, to)) in &check::spans(&rows) {
        if !known.contains(*sp) {
            continue;
        }
        let found =
            stored_readings(&mut tx, sp, *from - chrono::Duration::minutes(60), *to).await?;
        if !found.is_empty() {
            stored.insert(sp.to_string(), found);
        }
    }
    let check::Checked {
        accepted,
        unchanged,
        rejections,
    } = check::against_stored(rows, &known, &stored, rejections);
    let mut report = check::report(
        file_name,
        &sha,
        format,
        accepted.len(),
        unchanged,
        rejections,
        gaps,
    );

    let report_json = serde_json::to_string(&report)
        .map_err(|e| DomainError::Internal(format!("report: {e}")))?;
    let import_id = meter_store::insert_import(
        &mut tx,
        &NewImport {
            file_name,
            sha256: &sha,
            format: format.as_str(),
            imported_by: actor,
            rows_accepted: report.rows_accepted as i32,
            rows_rejected: report.rows_rejected as i32,
            report_json: &report_json,
        },
        now,
    )
    .await?;
    report.import_id = import_id;
    crate::programs::meter_days::store(&mut tx, Some(import_id), &accepted).await?;
    append(
        &mut tx,
        NewAuditEntry::new(actor, "meter_data.import", "meter_import", import_id).after(json!({
            "file_name": file_name,
            "sha256": sha,
            "format": format.as_str(),
            "rows_accepted": report.rows_accepted,
            "rows_unchanged": report.rows_unchanged,
            "rows_rejected": report.rows_rejected,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

async fn previous_import(tx: &mut Tx, sha: &str) -> Result<Option<ImportReport>, DomainError> {
    let row = meter_store::import_by_sha(tx, sha).await?;
    let Some((id, json)) = row else {
        return Ok(None);
    };
    let mut report: ImportReport = serde_json::from_str(&json)
        .map_err(|e| DomainError::Internal(format!("stored import report {id}: {e}")))?;
    report.import_id = id;
    report.duplicate = true;
    report.message = format!(
        "This file was already imported (import #{id}, same sha256): nothing changed. {}",
        report.message
    );
    Ok(Some(report))
}

async fn known_service_points(tx: &mut Tx, sps: &[String]) -> Result<HashSet<String>, DomainError> {
    Ok(meter_store::known_service_points(tx, sps)
        .await?
        .into_iter()
        .collect())
}

async fn stored_readings(
    tx: &mut Tx,
    sp: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<StoredReadings, DomainError> {
    let rows = meter_store::readings_between(tx, sp, from, to).await?;
    Ok(rows
        .into_iter()
        .map(|(s, m, k)| (s, (m as i64, k)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sha256_is_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
