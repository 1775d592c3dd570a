//! Meter data (program side): imports and their reports, the readings as imported
//! (`interval_readings`) and the same energy by service point and UTC day (`interval_days`).
//! What the day blobs hold is `programs::meter_days`' business; here they are bytes.

use chrono::{DateTime, NaiveDate, Utc};

use crate::db::dialect::{list, Elem, PerBackend};
use crate::db::{insert_rows, insert_rows_then, Arg, Db, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

/// (id, report JSON) of the import of the file with this sha256, if there was one.
pub async fn import_by_sha(tx: &mut Tx, sha: &str) -> Result<Option<(i64, String)>, DomainError> {
    Ok(with_tx!(tx, |c| sqlx::query_as(
        "SELECT id, report_json FROM meter_imports WHERE sha256 = $1"
    )
    .bind(sha)
    .fetch_optional(c)
    .await?))
}

/// Which of these service points have a device location, 500 per statement.
pub async fn known_service_points(tx: &mut Tx, sps: &[String]) -> Result<Vec<String>, DomainError> {
    let mut known = Vec::new();
    let sql = format!(
        "SELECT service_point_id FROM device_locations WHERE service_point_id IN ({})",
        tx.dialect().in_list(1, Elem::Text)
    );
    for chunk in sps.chunks(500) {
        let chunk = list(chunk)?;
        let found: Vec<String> = with_tx!(tx, |c| sqlx::query_scalar(&sql)
            .bind(&chunk)
            .fetch_all(c)
            .await?);
        known.extend(found);
    }
    Ok(known)
}

/// (start, minutes, kWh) of the service point's readings starting in `[from, to)`.
pub async fn readings_between(
    tx: &mut Tx,
    sp: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, i32, f64)>, DomainError> {
    Ok(with_tx!(tx, |c| sqlx::query_as(
        "SELECT interval_start, interval_minutes, kwh FROM interval_readings
         WHERE service_point_id = $1 AND interval_start >= $2 AND interval_start < $3"
    )
    .bind(sp)
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await?))
}

/// An import as stored, with its report.
#[derive(Debug, Clone)]
pub struct NewImport<'a> {
    pub file_name: &'a str,
    pub sha256: &'a str,
    pub format: &'a str,
    pub imported_by: &'a str,
    pub rows_accepted: i32,
    pub rows_rejected: i32,
    pub report_json: &'a str,
}

/// Records an import; returns its id.
pub async fn insert_import(
    tx: &mut Tx,
    i: &NewImport<'_>,
    now: DateTime<Utc>,
) -> Result<i64, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_scalar(
        "INSERT INTO meter_imports (file_name, sha256, format, imported_by, imported_at, rows_accepted, rows_rejected, report_json)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"
    )
    .bind(i.file_name)
    .bind(i.sha256)
    .bind(i.format)
    .bind(i.imported_by)
    .bind(now)
    .bind(i.rows_accepted)
    .bind(i.rows_rejected)
    .bind(i.report_json)
    .fetch_one(c)
    .await?
    }))
}

/// A stored import, as the console lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ImportRow {
    pub id: i64,
    pub file_name: String,
    pub format: String,
    pub imported_by: String,
    pub imported_at: DateTime<Utc>,
    pub rows_accepted: i32,
    pub rows_rejected: i32,
}

/// The 50 most recent imports, newest first.
pub async fn recent_imports(db: &Db) -> Result<Vec<ImportRow>, DomainError> {
    Ok(with_db!(db, |c| sqlx::query_as(
        "SELECT id, file_name, format, imported_by, imported_at, rows_accepted, rows_rejected
         FROM meter_imports ORDER BY id DESC LIMIT 50"
    )
    .fetch_all(c)
    .await?))
}

/// The stored report (JSON) of an import.
pub async fn import_report(db: &Db, id: i64) -> Result<Option<String>, DomainError> {
    Ok(with_db!(db, |c| sqlx::query_scalar(
        "SELECT report_json FROM meter_imports WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await?))
}

/// A reading to store.
#[derive(Debug, Clone, Copy)]
pub struct NewReading<'a> {
    pub service_point_id: &'a str,
    pub interval_start: DateTime<Utc>,
    pub interval_minutes: i64,
    pub kwh: f64,
}

/// Writes readings to `interval_readings`, with their import if any.
pub async fn insert_readings(
    tx: &mut Tx,
    import_id: Option<i64>,
    readings: &[NewReading<'_>],
) -> Result<(), DomainError> {
    let rows: Vec<Vec<Arg>> = readings
        .iter()
        .map(|r| {
            vec![
                Arg::Text(r.service_point_id.to_string()),
                Arg::Time(r.interval_start),
                Arg::Int(r.interval_minutes),
                Arg::Float(r.kwh),
                Arg::OptInt(import_id),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "interval_readings",
        &[
            "service_point_id",
            "interval_start",
            "interval_minutes",
            "kwh",
            "import_id",
        ],
        &rows,
    )
    .await
}

/// Writes days (service point, day, slots blob), replacing stored ones.
pub async fn write_days(
    tx: &mut Tx,
    days: impl IntoIterator<Item = (String, NaiveDate, Vec<u8>)>,
) -> Result<(), DomainError> {
    let rows: Vec<Vec<Arg>> = days
        .into_iter()
        .map(|(sp, day, blob)| vec![Arg::Text(sp), Arg::Date(day), Arg::Bytes(blob)])
        .collect();
    insert_rows_then(
        tx,
        "interval_days",
        &["service_point_id", "day", "quarters"],
        &rows,
        "ON CONFLICT (service_point_id, day) DO UPDATE SET quarters = excluded.quarters",
    )
    .await
}

/// Stored days of some service points within [first, last], in a transaction.
pub async fn days_between(
    tx: &mut Tx,
    sps: &[&str],
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Vec<(String, NaiveDate, Vec<u8>)>, DomainError> {
    let sql = format!(
        "SELECT service_point_id, day, quarters FROM interval_days
         WHERE service_point_id IN ({}) AND day >= $2 AND day <= $3",
        tx.dialect().in_list(1, Elem::Text)
    );
    let sps = list(sps)?;
    Ok(with_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(&sps)
        .bind(first)
        .bind(last)
        .fetch_all(c)
        .await?))
}

/// [`packed_days`]' statement: `$1` the service points, `$2` the days (both [`list`]s), `$3`
/// the first byte and `$4` the bytes of each day wanted.
const READ_DAYS: PerBackend = PerBackend {
    // `||` and group_concat keep a blob's bytes as they are; the cast hands them back as a
    // blob. A scalar subquery per service point walks its key range in order.
    sqlite: "SELECT j.value, (SELECT CAST(group_concat(d.day || substr(d.quarters, $3 + 1, $4), '') AS BLOB)
               FROM interval_days d WHERE d.service_point_id = j.value
                AND d.day IN (SELECT value FROM json_each($2)))
             FROM json_each($1) j",
    postgres: "SELECT d.service_point_id,
                    string_agg(convert_to(to_char(d.day, 'YYYY-MM-DD'), 'UTF8')
                               || substring(d.quarters FROM $3::int + 1 FOR $4::int), ''::bytea)
             FROM interval_days d
             WHERE d.service_point_id IN (SELECT json_array_elements_text($1::json))
               AND d.day IN (SELECT json_array_elements_text($2::json)::date)
             GROUP BY d.service_point_id",
};

/// Per service point one value: its stored days among `days` back to back, each the day as
/// `YYYY-MM-DD` then `len` bytes of the blob from byte `from`; None when it has none of them.
pub async fn packed_days(
    db: &Db,
    sps: &[&str],
    days: &[NaiveDate],
    from: i32,
    len: i32,
) -> Result<Vec<(String, Option<Vec<u8>>)>, DomainError> {
    let sps = list(sps)?;
    let days = list(days)?;
    let sql = db.dialect().pick(&READ_DAYS);
    Ok(with_db!(db, |c| sqlx::query_as(sql)
        .bind(&sps)
        .bind(&days)
        .bind(from)
        .bind(len)
        .fetch_all(c)
        .await?))
}

/// Drops the stored days of some service points, 2,000 per statement.
pub async fn delete_days(tx: &mut Tx, sps: &[&str]) -> Result<(), DomainError> {
    for chunk in sps.chunks(2000) {
        let sql = format!(
            "DELETE FROM interval_days WHERE service_point_id IN ({})",
            tx.dialect().in_list(1, Elem::Text)
        );
        let chunk = list(chunk)?;
        with_tx!(tx, |c| sqlx::query(&sql)
            .bind(&chunk)
            .execute(c)
            .await?
            .rows_affected());
    }
    Ok(())
}

/// (service point, start, minutes, kWh) of every stored reading of some service points.
pub async fn readings_of(
    db: &Db,
    sps: &[&str],
) -> Result<Vec<(String, DateTime<Utc>, i64, f64)>, DomainError> {
    let sql = format!(
        "SELECT service_point_id, interval_start, CAST(interval_minutes AS BIGINT), kwh
         FROM interval_readings WHERE service_point_id IN ({})",
        db.dialect().in_list(1, Elem::Text)
    );
    let sps = list(sps)?;
    Ok(with_db!(db, |c| sqlx::query_as(&sql)
        .bind(&sps)
        .fetch_all(c)
        .await?))
}

/// (service point, day, slots blob) of every stored day of some service points.
pub async fn days_of(
    db: &Db,
    sps: &[&str],
) -> Result<Vec<(String, NaiveDate, Vec<u8>)>, DomainError> {
    let sql = format!(
        "SELECT service_point_id, day, quarters FROM interval_days WHERE service_point_id IN ({})",
        db.dialect().in_list(1, Elem::Text)
    );
    let sps = list(sps)?;
    Ok(with_db!(db, |c| sqlx::query_as(&sql)
        .bind(&sps)
        .fetch_all(c)
        .await?))
}

/// Every service point with stored readings, in order.
pub async fn service_points_with_readings(db: &Db) -> Result<Vec<String>, DomainError> {
    Ok(with_db!(db, |c| sqlx::query_scalar(
        "SELECT DISTINCT service_point_id FROM interval_readings ORDER BY service_point_id"
    )
    .fetch_all(c)
    .await?))
}
