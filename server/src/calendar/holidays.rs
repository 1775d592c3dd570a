//! Holiday rules: the default calendar (US federal holidays, 5 U.S.C. 6103, with the dates
//! they are observed on) and the checks on an admin's entry.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

use crate::error::DomainError;

/// Longest holiday name accepted.
pub const NAME_MAX: usize = 100;

/// The `n`th (1-based) `weekday` of a month.
fn nth(year: i32, month: u32, weekday: Weekday, n: u32) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n as u8)
        .expect("a valid nth weekday")
}

/// The last `weekday` of a month.
fn last(year: i32, month: u32, weekday: Weekday) -> NaiveDate {
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    }
    .expect("a valid month");
    let mut d = next - Duration::days(1);
    while d.weekday() != weekday {
        d -= Duration::days(1);
    }
    d
}

fn fixed(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("a valid fixed date")
}

/// A fixed-date holiday on a Saturday is observed the Friday before, on a Sunday the
/// Monday after.
fn observed(d: NaiveDate) -> (NaiveDate, bool) {
    match d.weekday() {
        Weekday::Sat => (d - Duration::days(1), true),
        Weekday::Sun => (d + Duration::days(1), true),
        _ => (d, false),
    }
}

/// The US federal holidays of `year` on the dates they are observed (New Year's Day of a
/// year that starts on a Saturday is observed on 31 December of the year before), by date.
pub fn us_federal(year: i32) -> Vec<(NaiveDate, String)> {
    let mut out: Vec<(NaiveDate, String)> = Vec::new();
    let fixed_days = [
        (1, 1, "New Year's Day"),
        (6, 19, "Juneteenth National Independence Day"),
        (7, 4, "Independence Day"),
        (11, 11, "Veterans Day"),
        (12, 25, "Christmas Day"),
    ];
    for (m, d, name) in fixed_days {
        let (day, moved) = observed(fixed(year, m, d));
        let name = if moved {
            format!("{name} (observed)")
        } else {
            name.to_string()
        };
        out.push((day, name));
    }
    let rules = [
        (
            nth(year, 1, Weekday::Mon, 3),
            "Birthday of Martin Luther King, Jr.",
        ),
        (nth(year, 2, Weekday::Mon, 3), "Washington's Birthday"),
        (last(year, 5, Weekday::Mon), "Memorial Day"),
        (nth(year, 9, Weekday::Mon, 1), "Labor Day"),
        (nth(year, 10, Weekday::Mon, 2), "Columbus Day"),
        (nth(year, 11, Weekday::Thu, 4), "Thanksgiving Day"),
    ];
    out.extend(rules.into_iter().map(|(d, n)| (d, n.to_string())));
    out.sort();
    out
}

/// The US federal holidays observed from `from` to `to` (both included).
pub fn us_federal_between(from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, String)> {
    (from.year()..=to.year() + 1)
        .flat_map(us_federal)
        .filter(|(d, _)| *d >= from && *d <= to)
        .collect()
}

/// An admin's entry: a `YYYY-MM-DD` date and a name of 1 to [`NAME_MAX`] characters.
pub fn parse_entry(day: &str, name: &str) -> Result<(NaiveDate, String), DomainError> {
    let day = parse_day(day)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX {
        return Err(DomainError::Invalid(format!(
            "the holiday's name must have 1 to {NAME_MAX} characters"
        )));
    }
    Ok((day, name.to_string()))
}

/// A holiday's date as `YYYY-MM-DD`.
pub fn parse_day(day: &str) -> Result<NaiveDate, DomainError> {
    NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d").map_err(|_| {
        DomainError::Invalid(format!(
            "the holiday's date `{}` is not a date written YYYY-MM-DD",
            day.trim()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn named(year: i32, name: &str) -> NaiveDate {
        us_federal(year)
            .into_iter()
            .find(|(_, n)| n.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {year}"))
            .0
    }

    #[test]
    fn the_weekday_rules_give_the_published_dates() {
        // 2026: MLK 19 Jan, Presidents 16 Feb, Memorial 25 May, Labor 7 Sep, Columbus 12 Oct,
        // Thanksgiving 26 Nov (the published OPM calendar).
        assert_eq!(named(2026, "Birthday of Martin"), d(2026, 1, 19));
        assert_eq!(named(2026, "Washington"), d(2026, 2, 16));
        assert_eq!(named(2026, "Memorial"), d(2026, 5, 25));
        assert_eq!(named(2026, "Labor"), d(2026, 9, 7));
        assert_eq!(named(2026, "Columbus"), d(2026, 10, 12));
        assert_eq!(named(2026, "Thanksgiving"), d(2026, 11, 26));
        // A month whose last Monday is the 31st.
        assert_eq!(named(2027, "Memorial"), d(2027, 5, 31));
        assert_eq!(us_federal(2026).len(), 11);
    }

    #[test]
    fn a_fixed_holiday_on_a_weekend_is_observed_on_the_nearest_weekday() {
        // 4 July 2026 is a Saturday: observed Friday 3 July.
        assert_eq!(named(2026, "Independence Day"), d(2026, 7, 3));
        assert!(us_federal(2026)
            .iter()
            .any(|(day, n)| *day == d(2026, 7, 3) && n == "Independence Day (observed)"));
        // Christmas 2022 was a Sunday: observed Monday 26 December.
        assert_eq!(named(2022, "Christmas"), d(2022, 12, 26));
        // 1 January 2028 is a Saturday: observed on Friday 31 December 2027.
        assert_eq!(named(2028, "New Year"), d(2027, 12, 31));
        assert!(us_federal_between(d(2027, 12, 1), d(2027, 12, 31))
            .iter()
            .any(|(day, _)| *day == d(2027, 12, 31)));
    }

    #[test]
    fn an_entry_needs_a_date_and_a_name() {
        assert_eq!(
            parse_entry(" 2026-12-24 ", " Christmas Eve ").unwrap(),
            (d(2026, 12, 24), "Christmas Eve".to_string())
        );
        let e = parse_entry("24/12/2026", "Christmas Eve").unwrap_err();
        assert!(e.to_string().contains("YYYY-MM-DD"), "{e}");
        let e = parse_entry("2026-12-24", "  ").unwrap_err();
        assert!(e.to_string().contains("name"), "{e}");
        assert!(parse_entry("2026-02-30", "x").is_err());
    }
}
