//! The utility's calendar: the one place the local time of the service territory lives — its
//! offset from UTC, the local date and hour of an instant, the quarter-hour grid every interval
//! sits on, and the start of a program rule's cycle. Both sides (programs and grid) read it;
//! neither owns it. (A configured time zone will replace the fixed offset here.)

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Timelike, Utc};

/// Local time of the service territory: UTC minus six hours (the demo utility's standard
/// time). Forecast slots and day types, the reduction table's hours, baseline days and
/// settlement days are local.
pub const LOCAL_OFFSET_HOURS: i64 = -6;

/// The start of the 15-minute interval `t` falls in.
pub fn align(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp();
    let floored = secs - secs.rem_euclid(15 * 60);
    DateTime::from_timestamp(floored, 0).unwrap_or(t)
}

/// The service territory's local wall-clock time of an instant.
pub fn local_time(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc() + Duration::hours(LOCAL_OFFSET_HOURS)
}

/// The service territory's local date of an instant.
pub fn local_date(t: DateTime<Utc>) -> NaiveDate {
    local_time(t).date()
}

/// Local hour of the day, 0..24.
pub fn local_hour(t: DateTime<Utc>) -> u32 {
    local_time(t).hour()
}

/// The first day of the rule cycle (`weekly` from `week_start`, 0 = Sunday; or `monthly`)
/// that contains `day`.
pub fn cycle_start(cycle: &str, week_start: i32, day: NaiveDate) -> NaiveDate {
    if cycle == "weekly" {
        let back = (day.weekday().num_days_from_sunday() as i64 - week_start as i64).rem_euclid(7);
        day - Duration::days(back)
    } else {
        day.with_day(1).unwrap_or(day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn intervals_align_to_the_quarter_hour() {
        let t = Utc.with_ymd_and_hms(2026, 7, 1, 6, 7, 31).unwrap();
        assert_eq!(align(t), Utc.with_ymd_and_hms(2026, 7, 1, 6, 0, 0).unwrap());
    }

    #[test]
    fn the_local_day_starts_at_six_utc() {
        // 05:59 UTC is still the evening before locally (UTC−6).
        let before = Utc.with_ymd_and_hms(2026, 7, 2, 5, 59, 0).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 7, 2, 6, 0, 0).unwrap();
        assert_eq!(
            local_date(before),
            NaiveDate::from_ymd_opt(2026, 7, 1).unwrap()
        );
        assert_eq!(
            local_date(after),
            NaiveDate::from_ymd_opt(2026, 7, 2).unwrap()
        );
        assert_eq!(local_hour(after), 0);
    }

    #[test]
    fn a_cycle_starts_on_its_week_start_day_or_the_first_of_the_month() {
        // 2026-07-15 is a Wednesday; a Monday (1) start goes back two days.
        let day = NaiveDate::from_ymd_opt(2026, 7, 15).unwrap();
        assert_eq!(
            cycle_start("weekly", 1, day),
            NaiveDate::from_ymd_opt(2026, 7, 13).unwrap()
        );
        assert_eq!(
            cycle_start("monthly", 0, day),
            NaiveDate::from_ymd_opt(2026, 7, 1).unwrap()
        );
    }
}
