//! Checking the digests of bulk changes: a settlement run's and a plan's audit entry carries
//! the count and SHA-256 of the rows it left (`db::audit::RowDigest`); this recomputes them
//! from the stored rows and names the first row that differs.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::db::audit::{self, RowDigest, PRINT_BYTES};
use crate::db::{self, Db};
use crate::error::DomainError;

/// What checking the digests found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestCheck {
    /// Every current digest matches: how many entries and rows were checked.
    Intact { entries: usize, rows: i64 },
    /// Entry `audit_id` (a bulk change of `scope`) no longer matches the stored rows.
    Differs {
        audit_id: i64,
        scope: String,
        reason: String,
    },
}

/// The rows a digest covers, as (name of the row, canonical fields).
type Rows = Vec<(String, Vec<Option<String>>)>;

/// What one entry's digest names: the table and the part of it.
fn scope_of(d: &Value) -> Option<(String, String)> {
    let table = d["table"].as_str()?;
    match table {
        "settlements" => Some((
            table.to_string(),
            format!("{}/{}", d["event"].as_str()?, d["program_id"].as_i64()?),
        )),
        "event_stage_devices" => Some((table.to_string(), d["event_id"].as_i64()?.to_string())),
        _ => None,
    }
}

async fn stored_rows(db: &Db, d: &Value) -> Result<Rows, DomainError> {
    let bad = || DomainError::Internal(format!("an audit digest names an unknown part: {d}"));
    match d["table"].as_str() {
        Some("settlements") => {
            let program_id = d["program_id"].as_i64().ok_or_else(bad)?;
            let event = d["event"].as_str().ok_or_else(bad)?;
            let program = d["program"].as_str().unwrap_or("?");
            Ok(db::settlement::result_rows(db, program_id, event)
                .await?
                .into_iter()
                .map(|r| {
                    (
                        format!("settlement {event}/{program}/{}", r.enrollment_id),
                        r.digest_fields(),
                    )
                })
                .collect())
        }
        Some("event_stage_devices") => {
            let event_id = d["event_id"].as_i64().ok_or_else(bad)?;
            Ok(db::plan::planned_rows(db, event_id)
                .await?
                .into_iter()
                .map(|r| {
                    let fields = r.digest_fields(event_id).map(Some).to_vec();
                    (
                        format!(
                            "stage {} device {} (event_stage_devices)",
                            r.external_id, r.grid_device_id
                        ),
                        fields,
                    )
                })
                .collect())
        }
        _ => Err(bad()),
    }
}

/// Recomputes the newest digest of every part (a later run or plan of the same part replaces
/// the rows an earlier one covered, and is itself in the chain) and compares it, its count
/// and each row's print with the stored rows.
pub async fn verify_digests(db: &Db) -> Result<DigestCheck, DomainError> {
    let mut newest: BTreeMap<(String, String), (i64, Value)> = BTreeMap::new();
    for (id, action, after) in audit::digest_entries(db).await? {
        let after: Value = serde_json::from_str(&after).map_err(|e| {
            DomainError::Internal(format!("audit entry {id} ({action}) cannot be read: {e}"))
        })?;
        let d = after["digest"].clone();
        let Some(scope) = scope_of(&d) else {
            return Ok(DigestCheck::Differs {
                audit_id: id,
                scope: action,
                reason: format!("its digest names no known part: {d}"),
            });
        };
        newest.insert(scope, (id, d));
    }
    let mut checked = 0i64;
    let mut by_id: Vec<_> = newest.into_iter().collect();
    by_id.sort_by_key(|(_, (id, _))| *id);
    let entries = by_id.len();
    for ((table, part), (id, d)) in by_id {
        let scope = format!("{table} {part}");
        let rows = stored_rows(db, &d).await?;
        let prints = audit::row_prints(db, id).await?;
        let mut digest = RowDigest::new();
        let mut first_differing: Option<String> = None;
        for (k, (name, fields)) in rows.iter().enumerate() {
            let fields: Vec<Option<&str>> = fields.iter().map(|f| f.as_deref()).collect();
            let print = digest.row(&fields);
            let kept = prints.get(k * PRINT_BYTES..(k + 1) * PRINT_BYTES);
            if first_differing.is_none() && kept != Some(&print[..]) {
                first_differing = Some(name.clone());
            }
        }
        let got = digest.finish();
        let want_rows = d["rows"].as_i64().unwrap_or(-1);
        let want_sha = d["sha256"].as_str().unwrap_or("");
        if got.rows == want_rows && got.sha256 == want_sha {
            checked += got.rows;
            continue;
        }
        let reason = match (got.rows == want_rows, first_differing) {
            (true, Some(name)) => format!("{name} differs from what the entry's digest covers"),
            (true, None) => "the rows' digest differs although every row matches its kept print (the prints were altered)".to_string(),
            (false, Some(name)) => format!(
                "the entry covers {want_rows} rows, {} are stored; the first that differs is {name}",
                got.rows
            ),
            (false, None) => format!(
                "the entry covers {want_rows} rows, {} are stored (rows were removed at the end)",
                got.rows
            ),
        };
        return Ok(DigestCheck::Differs {
            audit_id: id,
            scope,
            reason,
        });
    }
    Ok(DigestCheck::Intact {
        entries,
        rows: checked,
    })
}
