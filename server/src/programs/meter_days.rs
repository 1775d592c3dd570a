//! Interval data by service point and UTC day, for reading many service points at once.
//!
//! `interval_readings` is the record: one row per reading, as imported. Settling an event
//! for 100,000 customers reads each one's event day and ten baseline days; a row per reading
//! made that a million range reads of twenty rows each. `interval_days` holds the same energy
//! as one row per service point and UTC day: 96 quarter-hour slots of whole watt-hours
//! (little-endian `i32`), [`MISSING`] where no reading covers the quarter. An hourly reading
//! is spread evenly over its four quarters, as the baseline does
//! ([`load_profiles`](super::baseline::load_profiles)).
//!
//! Every write to `interval_readings` goes through this module ([`store`], [`add`],
//! [`forget`]) in the writer's transaction, so the two tables never disagree; [`rebuild`]
//! fills the table from the readings when its migration is first applied.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};

use super::meter::Reading;
use crate::db::meter::{self as meter_store, NewReading};
use crate::db::{Db, Tx};
use crate::error::DomainError;

/// Quarter hours in a UTC day.
pub const QUARTERS: usize = 96;
/// A slot no reading covers.
pub const MISSING: i32 = -1;

/// One day's slots.
pub type Slots = [i32; QUARTERS];

/// The quarter hour of the UTC day `t` falls in.
pub fn slot_of(t: DateTime<Utc>) -> usize {
    (t.hour() * 4 + t.minute() / 15) as usize
}

/// Whole watt-hours, as settlement reads energy.
pub fn to_wh(kwh: f64) -> i32 {
    (kwh * 1000.0).round() as i32
}

pub fn encode(slots: &Slots) -> Vec<u8> {
    slots.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The value of slot `i` of a stored day; [`MISSING`] for a malformed blob.
pub fn slot(blob: &[u8], i: usize) -> i32 {
    blob.get(i * 4..i * 4 + 4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_le_bytes)
        .unwrap_or(MISSING)
}

pub fn decode(blob: &[u8]) -> Slots {
    let mut s = [MISSING; QUARTERS];
    for (i, v) in s.iter_mut().enumerate() {
        *v = slot(blob, i);
    }
    s
}

/// Sets the slots a reading covers (its energy spread evenly over its quarter hours).
fn apply(days: &mut BTreeMap<(String, NaiveDate), Slots>, sp: &str, r: (DateTime<Utc>, i64, f64)) {
    let (start, minutes, kwh) = r;
    let parts = (minutes / 15).max(1);
    for p in 0..parts {
        let t = start + Duration::minutes(15 * p);
        let day = days
            .entry((sp.to_string(), t.date_naive()))
            .or_insert([MISSING; QUARTERS]);
        day[slot_of(t)] = to_wh(kwh / parts as f64);
    }
}

/// Writes readings to `interval_readings` (with their import, if any) and their days.
pub async fn store(
    tx: &mut Tx,
    import_id: Option<i64>,
    readings: &[Reading],
) -> Result<(), DomainError> {
    let rows: Vec<NewReading> = readings
        .iter()
        .map(|r| NewReading {
            service_point_id: &r.service_point_id,
            interval_start: r.start,
            interval_minutes: r.minutes,
            kwh: r.kwh,
        })
        .collect();
    meter_store::insert_readings(tx, import_id, &rows).await?;
    add(
        tx,
        readings
            .iter()
            .map(|r| (r.service_point_id.as_str(), r.start, r.minutes, r.kwh)),
    )
    .await
}

/// Adds readings already written to `interval_readings` to their days: slots they cover
/// are set, the day's other slots are kept.
pub async fn add<'a>(
    tx: &mut Tx,
    readings: impl IntoIterator<Item = (&'a str, DateTime<Utc>, i64, f64)>,
) -> Result<(), DomainError> {
    let mut fresh: BTreeMap<(String, NaiveDate), Slots> = BTreeMap::new();
    for (sp, start, minutes, kwh) in readings {
        apply(&mut fresh, sp, (start, minutes, kwh));
    }
    if fresh.is_empty() {
        return Ok(());
    }
    let sps: Vec<String> = {
        let set: BTreeSet<&String> = fresh.keys().map(|(sp, _)| sp).collect();
        set.into_iter().cloned().collect()
    };
    let first = fresh.keys().map(|k| k.1).min().expect("not empty");
    let last = fresh.keys().map(|k| k.1).max().expect("not empty");
    for chunk in sps.chunks(2000) {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for (sp, day, blob) in meter_store::days_between(tx, &chunk, first, last).await? {
            if let Some(slots) = fresh.get_mut(&(sp, day)) {
                for (i, old) in decode(&blob).into_iter().enumerate() {
                    if slots[i] == MISSING {
                        slots[i] = old;
                    }
                }
            }
        }
    }
    write(tx, fresh).await
}

async fn write(tx: &mut Tx, days: BTreeMap<(String, NaiveDate), Slots>) -> Result<(), DomainError> {
    meter_store::write_days(
        tx,
        days.into_iter()
            .map(|((sp, day), slots)| (sp, day, encode(&slots))),
    )
    .await
}

/// Stored days of some service points on the given days, only the given slots of each:
/// per service point one value, its days packed back to back (the day as `YYYY-MM-DD`, then
/// the slots; see [`DayIndex::unpack`]), None when it has none of them. One row per service
/// point, not per day: handing over rows costs more than reading them.
pub async fn read_days(
    db: &Db,
    sps: &[&str],
    days: &[NaiveDate],
    slots: std::ops::Range<usize>,
) -> Result<Vec<(String, Option<Vec<u8>>)>, DomainError> {
    let (from, len) = (slots.start as i32 * 4, slots.len() as i32 * 4);
    meter_store::packed_days(db, sps, days, from, len).await
}

/// The days asked of [`read_days`], to find them in what it packed.
pub struct DayIndex {
    labels: Vec<[u8; 10]>,
    /// Bytes of one packed day: its date, then the slots asked for.
    packed_day: usize,
}

impl DayIndex {
    /// `slots`: how many slots were asked of each day.
    pub fn new(days: &[NaiveDate], slots: usize) -> Self {
        let labels = days
            .iter()
            .map(|d| {
                let mut l = [0u8; 10];
                l.copy_from_slice(d.format("%Y-%m-%d").to_string().as_bytes());
                l
            })
            .collect();
        DayIndex {
            labels,
            packed_day: 10 + 4 * slots,
        }
    }

    /// One service point's packed days, in the order of the days asked (None where it has
    /// no data that day); slot `i` of a day is the `i`-th slot asked for.
    pub fn unpack<'a>(&self, packed: &'a [u8]) -> Result<Vec<Option<&'a [u8]>>, DomainError> {
        if !packed.len().is_multiple_of(self.packed_day) {
            return Err(DomainError::Internal(format!(
                "interval days of {} bytes are not whole days",
                packed.len()
            )));
        }
        let mut out = vec![None; self.labels.len()];
        for d in packed.chunks(self.packed_day) {
            let i = self
                .labels
                .iter()
                .position(|l| l[..] == d[..10])
                .ok_or_else(|| {
                    DomainError::Internal(format!(
                        "interval day `{}` was not asked for",
                        String::from_utf8_lossy(&d[..10])
                    ))
                })?;
            out[i] = Some(&d[10..]);
        }
        Ok(out)
    }
}

/// Drops the days of service points whose readings were deleted.
pub async fn forget(tx: &mut Tx, sps: &[&str]) -> Result<(), DomainError> {
    meter_store::delete_days(tx, sps).await
}

/// The days of some service points as their stored readings make them.
pub async fn days_from_readings(
    db: &Db,
    sps: &[&str],
) -> Result<BTreeMap<(String, NaiveDate), Slots>, DomainError> {
    let rows = meter_store::readings_of(db, sps).await?;
    let mut days = BTreeMap::new();
    for (sp, start, minutes, kwh) in rows {
        apply(&mut days, &sp, (start, minutes, kwh));
    }
    Ok(days)
}

/// The stored days of some service points.
pub async fn stored_days(
    db: &Db,
    sps: &[&str],
) -> Result<BTreeMap<(String, NaiveDate), Slots>, DomainError> {
    let rows = meter_store::days_of(db, sps).await?;
    Ok(rows
        .into_iter()
        .map(|(sp, day, blob)| ((sp, day), decode(&blob)))
        .collect())
}

/// Fills `interval_days` from every stored reading, a thousand service points at a time.
/// Returns the days written.
pub async fn rebuild(db: &Db) -> Result<usize, DomainError> {
    let sps = meter_store::service_points_with_readings(db).await?;
    let mut written = 0;
    for chunk in sps.chunks(1000) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let days = days_from_readings(db, &refs).await?;
        written += days.len();
        let mut tx = db.begin().await?;
        forget(&mut tx, &refs).await?;
        write(&mut tx, days).await?;
        tx.commit().await?;
    }
    if written > 0 {
        tracing::info!(days = written, "interval days filled from stored readings");
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn quarters_and_hours_fill_their_slots_in_watt_hours() {
        let mut days = BTreeMap::new();
        apply(&mut days, "SP1", (t("2026-07-08T23:45:00Z"), 15, 0.2504));
        apply(&mut days, "SP1", (t("2026-07-08T10:00:00Z"), 60, 1.0));
        apply(&mut days, "SP1", (t("2026-07-09T00:00:00Z"), 15, 0.3));
        let d8 = days[&(
            "SP1".to_string(),
            NaiveDate::from_ymd_opt(2026, 7, 8).unwrap(),
        )];
        assert_eq!(d8[95], 250);
        assert_eq!(&d8[40..44], &[250, 250, 250, 250]);
        assert_eq!(d8[39], MISSING);
        assert_eq!(d8[44], MISSING);
        let d9 = days[&(
            "SP1".to_string(),
            NaiveDate::from_ymd_opt(2026, 7, 9).unwrap(),
        )];
        assert_eq!(d9[0], 300);
        assert_eq!(d9.iter().filter(|v| **v != MISSING).count(), 1);
    }

    #[test]
    fn a_day_survives_encoding_and_a_short_blob_reads_as_missing() {
        let mut s = [MISSING; QUARTERS];
        s[0] = 0;
        s[17] = 1234;
        s[95] = i32::MAX;
        let blob = encode(&s);
        assert_eq!(blob.len(), 384);
        assert_eq!(decode(&blob), s);
        assert_eq!(slot(&blob[..8], 0), 0);
        assert_eq!(slot(&blob[..8], 17), MISSING);
    }

    #[test]
    fn packed_days_unpack_by_date_and_a_torn_value_is_an_error() {
        let mut s = [MISSING; QUARTERS];
        s[3] = 42;
        let mut packed = b"2026-07-08".to_vec();
        packed.extend(encode(&s));
        packed.extend(b"2026-07-09");
        packed.extend(encode(&[7; QUARTERS]));
        let d = |day| NaiveDate::from_ymd_opt(2026, 7, day).unwrap();
        let index = DayIndex::new(&[d(7), d(8), d(9)], QUARTERS);
        let days = index.unpack(&packed).unwrap();
        assert_eq!(days.len(), 3);
        assert!(days[0].is_none());
        assert_eq!(slot(days[1].unwrap(), 3), 42);
        assert_eq!(slot(days[2].unwrap(), 95), 7);
        assert!(index.unpack(&packed[..500]).is_err());
        packed[0] = b'x';
        assert!(index.unpack(&packed).is_err());
    }
}
