//! Value maps: codes translated at the integration boundary, edited by admins.

use chrono::{DateTime, Utc};

use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

pub const MAPS: [&str; 5] = [
    "event_type",
    "device_specification",
    "instance_routing",
    "id_mapping",
    "division_routing",
];

/// The map naming, per division (`locationInfo.division`), the grid instance that serves it.
pub const DIVISION_MAP: &str = "division_routing";

/// The published names of the maps (issue 12): the published integration guide's value
/// maps are GridFlex's, under another name, and either name may be used to edit them.
pub const ALIASES: [(&str, &str); 4] = [
    ("OUTL-BRT-DACS-DRMS_AssetSpec", "device_specification"),
    ("OUTL-BRT-DRMSID-TO-DACSID", "division_routing"),
    ("OUTL-BRT-DACS_DRMS_Routing", "instance_routing"),
    ("OUTL-BRT-DACS_DRMS_EventyType", "event_type"),
];

/// The map a name (GridFlex's or a published alias) means; `None` for an unknown name.
pub fn canonical_map(name: &str) -> Option<&'static str> {
    MAPS.iter()
        .find(|m| **m == name)
        .copied()
        .or_else(|| ALIASES.iter().find(|(a, _)| *a == name).map(|(_, m)| *m))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ValueMapRow {
    pub id: i64,
    pub map: String,
    pub source_value: String,
    pub target_value: String,
    pub updated_at: DateTime<Utc>,
}

pub async fn list_entries(db: &Db) -> Result<Vec<ValueMapRow>, DomainError> {
    Ok(with_db!(db, |p| {
        sqlx::query_as::<_, ValueMapRow>(
        "SELECT id, map, source_value, target_value, updated_at FROM value_maps ORDER BY map, source_value"
    )
    .fetch_all(p)
    .await?
    }))
}

/// Adds or changes an entry; returns the previous target, if any.
pub async fn put_entry(
    tx: &mut Tx,
    map: &str,
    source: &str,
    target: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, DomainError> {
    let before: Option<String> = with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT target_value FROM value_maps WHERE map = $1 AND source_value = $2"
    )
    .bind(map)
    .bind(source)
    .fetch_optional(&mut *c)
    .await?);
    with_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO value_maps (map, source_value, target_value, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (map, source_value) DO UPDATE SET target_value = excluded.target_value, updated_at = excluded.updated_at"
    )
    .bind(map)
    .bind(source)
    .bind(target)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected()
    });
    Ok(before)
}

/// Removes an entry; returns what it was.
pub async fn delete_entry(tx: &mut Tx, id: i64) -> Result<ValueMapRow, DomainError> {
    let row: ValueMapRow = with_tx!(tx, |c| sqlx::query_as::<_, ValueMapRow>(
        "SELECT id, map, source_value, target_value, updated_at FROM value_maps WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await?)
    .ok_or_else(|| DomainError::not_found(format!("value map entry {id}")))?;
    with_tx!(tx, |c| sqlx::query("DELETE FROM value_maps WHERE id = $1")
        .bind(id)
        .execute(c)
        .await?
        .rows_affected());
    Ok(row)
}

/// One map's entries (source → target), read inside a transaction.
pub async fn load_map(
    tx: &mut Tx,
    map: &str,
) -> Result<std::collections::HashMap<String, String>, DomainError> {
    let rows: Vec<(String, String)> = with_tx!(tx, |c| sqlx::query_as(
        "SELECT source_value, target_value FROM value_maps WHERE map = $1"
    )
    .bind(map)
    .fetch_all(c)
    .await?);
    Ok(rows.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_map_name_means_the_gridflex_map() {
        assert_eq!(
            canonical_map("OUTL-BRT-DACS-DRMS_AssetSpec"),
            Some("device_specification")
        );
        assert_eq!(
            canonical_map("OUTL-BRT-DRMSID-TO-DACSID"),
            Some("division_routing")
        );
        assert_eq!(canonical_map("event_type"), Some("event_type"));
        assert_eq!(canonical_map("OUTL-NOTHING"), None);
    }
}
