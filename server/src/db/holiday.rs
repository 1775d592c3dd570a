//! The utility's holidays (table `holidays`): local dates that are never baseline days.

use chrono::{DateTime, NaiveDate, Utc};

use crate::db::{insert_rows_counted, Arg, Db, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct HolidayRow {
    pub day: NaiveDate,
    pub name: String,
    pub updated_at: DateTime<Utc>,
}

/// Every holiday, by date.
pub async fn list_holidays(db: &Db) -> Result<Vec<HolidayRow>, DomainError> {
    Ok(with_db!(db, |p| sqlx::query_as::<_, HolidayRow>(
        "SELECT day, name, updated_at FROM holidays ORDER BY day"
    )
    .fetch_all(p)
    .await?))
}

/// The holidays from `from` to `to` (both included), by date.
pub async fn holidays_between(
    db: &Db,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(NaiveDate, String)>, DomainError> {
    Ok(with_db!(db, |p| sqlx::query_as(
        "SELECT day, name FROM holidays WHERE day >= $1 AND day <= $2 ORDER BY day"
    )
    .bind(from)
    .bind(to)
    .fetch_all(p)
    .await?))
}

/// Adds a holiday or renames the one on that date; returns the previous name, if any.
/// The caller writes the audit record in the same transaction.
pub async fn put_holiday(
    tx: &mut Tx,
    day: NaiveDate,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, DomainError> {
    let before: Option<String> = with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT name FROM holidays WHERE day = $1"
    )
    .bind(day)
    .fetch_optional(&mut *c)
    .await?);
    with_tx!(tx, |c| sqlx::query(
        "INSERT INTO holidays (day, name, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (day) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at"
    )
    .bind(day)
    .bind(name)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected());
    Ok(before)
}

/// Adds the holidays whose dates have none yet (a default calendar never overwrites the
/// admin's names); returns how many were added.
pub async fn add_missing_holidays(
    tx: &mut Tx,
    holidays: &[(NaiveDate, String)],
    now: DateTime<Utc>,
) -> Result<u64, DomainError> {
    let rows: Vec<Vec<Arg>> = holidays
        .iter()
        .map(|(day, name)| vec![Arg::Date(*day), Arg::Text(name.clone()), Arg::Time(now)])
        .collect();
    insert_rows_counted(
        tx,
        "holidays",
        &["day", "name", "updated_at"],
        &rows,
        "ON CONFLICT (day) DO NOTHING",
    )
    .await
}

/// Removes the holiday on `day`; returns it.
pub async fn delete_holiday(tx: &mut Tx, day: NaiveDate) -> Result<HolidayRow, DomainError> {
    let row: HolidayRow = with_tx!(tx, |c| sqlx::query_as::<_, HolidayRow>(
        "SELECT day, name, updated_at FROM holidays WHERE day = $1"
    )
    .bind(day)
    .fetch_optional(&mut *c)
    .await?)
    .ok_or_else(|| DomainError::not_found(format!("holiday on {day}")))?;
    with_tx!(tx, |c| sqlx::query("DELETE FROM holidays WHERE day = $1")
        .bind(day)
        .execute(c)
        .await?
        .rows_affected());
    Ok(row)
}
