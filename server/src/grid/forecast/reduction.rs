//! The editable expected-reduction table: its rows, their checks and storage, and the share of
//! nominal kW each device type sheds per interval.

use chrono::{DateTime, Duration, Utc};

use super::{interval_temperatures, MILD_C};
use crate::calendar::align;
use crate::calendar::Calendar;
use crate::db::forecast::{self as store, ReductionFields};
use crate::db::{Db, Tx};
use crate::error::DomainError;
use crate::grid::DEVICE_TYPES;

pub use crate::db::forecast::{list_reductions, ReductionRow};

/// A validated row to store: hours within 0..=24 and ordered, the band ordered, share 0..=1.
#[derive(Debug, Clone, PartialEq)]
pub struct ReductionEntry {
    pub device_type: String,
    pub hour_from: i32,
    pub hour_to: i32,
    pub temp_from_c: f64,
    pub temp_to_c: f64,
    pub share: f64,
}

impl ReductionEntry {
    pub fn new(
        device_type: &str,
        hour_from: i32,
        hour_to: i32,
        temp_from_c: f64,
        temp_to_c: f64,
        share: f64,
    ) -> Result<Self, DomainError> {
        if !DEVICE_TYPES.contains(&device_type) {
            return Err(DomainError::invalid(format!(
                "device type: expected one of {}, got `{device_type}`",
                DEVICE_TYPES.join(", ")
            )));
        }
        if !(0..=23).contains(&hour_from) || !(1..=24).contains(&hour_to) || hour_from >= hour_to {
            return Err(DomainError::invalid(format!(
                "hours: expected 0 ≤ from < until ≤ 24, got {hour_from} to {hour_to}"
            )));
        }
        let band_ok = temp_from_c.is_finite()
            && temp_to_c.is_finite()
            && (-60.0..=60.0).contains(&temp_from_c)
            && (-60.0..=60.0).contains(&temp_to_c)
            && temp_from_c < temp_to_c;
        if !band_ok {
            return Err(DomainError::invalid(format!(
                "temperature band: expected −60 ≤ from < until ≤ 60 °C, got {temp_from_c} to {temp_to_c}"
            )));
        }
        if !share.is_finite() || !(0.0..=1.0).contains(&share) {
            return Err(DomainError::invalid(format!(
                "share: expected a fraction of nominal kW from 0 to 1, got {share}"
            )));
        }
        Ok(ReductionEntry {
            device_type: device_type.to_string(),
            hour_from,
            hour_to,
            temp_from_c,
            temp_to_c,
            share,
        })
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "device_type": self.device_type, "hour_from": self.hour_from, "hour_to": self.hour_to,
            "temp_from_c": self.temp_from_c, "temp_to_c": self.temp_to_c, "share": self.share,
        })
    }
}

impl ReductionRow {
    pub fn entry(&self) -> ReductionEntry {
        ReductionEntry {
            device_type: self.device_type.clone(),
            hour_from: self.hour_from,
            hour_to: self.hour_to,
            temp_from_c: self.temp_from_c,
            temp_to_c: self.temp_to_c,
            share: self.share,
        }
    }
}

/// Adds a row (`id` None) or changes one; returns the id and the row as it was before.
pub async fn put_reduction(
    tx: &mut Tx,
    id: Option<i64>,
    e: &ReductionEntry,
    now: DateTime<Utc>,
) -> Result<(i64, Option<ReductionEntry>), DomainError> {
    let fields = ReductionFields {
        device_type: &e.device_type,
        hour_from: e.hour_from,
        hour_to: e.hour_to,
        temp_from_c: e.temp_from_c,
        temp_to_c: e.temp_to_c,
        share: e.share,
    };
    match id {
        None => {
            let id = store::insert_reduction(tx, &fields, now).await?;
            Ok((id, None))
        }
        Some(id) => {
            let before = store::get_reduction(tx, id)
                .await?
                .ok_or_else(|| DomainError::not_found(format!("reduction row {id}")))?;
            store::update_reduction(tx, id, &fields, now).await?;
            Ok((id, Some(before.entry())))
        }
    }
}

/// Removes a row; returns it as it was.
pub async fn delete_reduction(tx: &mut Tx, id: i64) -> Result<ReductionEntry, DomainError> {
    let before = store::get_reduction(tx, id)
        .await?
        .ok_or_else(|| DomainError::not_found(format!("reduction row {id}")))?;
    store::delete_reduction(tx, id).await?;
    Ok(before.entry())
}

/// The share of nominal kW a device of `device_type` sheds at local `hour` and `temp_c`:
/// the first matching row by id, else 0.
pub fn factor_for(rows: &[ReductionRow], device_type: &str, hour: u32, temp_c: f64) -> f64 {
    let hour = hour as i32;
    rows.iter()
        .filter(|r| r.device_type == device_type)
        .filter(|r| r.hour_from <= hour && hour < r.hour_to)
        .filter(|r| r.temp_from_c <= temp_c && temp_c < r.temp_to_c)
        .min_by_key(|r| r.id)
        .map(|r| r.share)
        .unwrap_or(0.0)
}

/// Expected reduction as a share of a device's nominal kW, `[device type index per
/// grid::DEVICE_TYPES][interval]`, from the editable table and the temperature forecast.
pub async fn reduction_factors(
    db: &Db,
    cal: Calendar,
    start: DateTime<Utc>,
    intervals: usize,
) -> Result<Vec<Vec<f32>>, DomainError> {
    let start = align(start);
    let rows = list_reductions(db).await?;
    let temps = interval_temperatures(db, start, intervals).await?;
    Ok(DEVICE_TYPES
        .iter()
        .map(|ty| {
            temps
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let t = start + Duration::minutes(15 * i as i64);
                    factor_for(&rows, ty, cal.local_hour(t), c.unwrap_or(MILD_C)) as f32
                })
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn row(id: i64, ty: &str, h: (i32, i32), c: (f64, f64), share: f64) -> ReductionRow {
        ReductionRow {
            id,
            device_type: ty.into(),
            hour_from: h.0,
            hour_to: h.1,
            temp_from_c: c.0,
            temp_to_c: c.1,
            share,
            updated_at: Utc.with_ymd_and_hms(2026, 7, 1, 6, 0, 0).unwrap(),
        }
    }

    #[test]
    fn the_first_matching_reduction_row_applies() {
        let rows = vec![
            row(2, "thermostat", (12, 20), (30.0, 60.0), 0.8),
            row(1, "thermostat", (0, 24), (-60.0, 60.0), 0.2),
            row(3, "battery", (0, 24), (-60.0, 60.0), 0.9),
        ];
        assert_eq!(factor_for(&rows, "thermostat", 15, 35.0), 0.2);
        let rows = vec![
            row(1, "thermostat", (12, 20), (30.0, 60.0), 0.8),
            row(2, "thermostat", (0, 24), (-60.0, 60.0), 0.2),
        ];
        assert_eq!(factor_for(&rows, "thermostat", 15, 35.0), 0.8);
        assert_eq!(factor_for(&rows, "thermostat", 20, 35.0), 0.2);
        assert_eq!(factor_for(&rows, "ev_charger", 20, 35.0), 0.0);
    }

    #[test]
    fn reduction_entries_are_validated() {
        assert!(ReductionEntry::new("thermostat", 12, 18, 25.0, 60.0, 0.7).is_ok());
        for (ty, h0, h1, c0, c1, s) in [
            ("toaster", 0, 24, 0.0, 10.0, 0.5),
            ("thermostat", 18, 12, 0.0, 10.0, 0.5),
            ("thermostat", 0, 25, 0.0, 10.0, 0.5),
            ("thermostat", 0, 24, 10.0, 0.0, 0.5),
            ("thermostat", 0, 24, 0.0, 10.0, 1.5),
            ("thermostat", 0, 24, 0.0, 10.0, -0.1),
        ] {
            assert!(
                ReductionEntry::new(ty, h0, h1, c0, c1, s).is_err(),
                "{ty} {h0}-{h1} {c0}-{c1} {s}"
            );
        }
    }
}
