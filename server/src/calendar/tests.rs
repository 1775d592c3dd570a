use super::*;
use proptest::prelude::*;

fn chicago() -> Calendar {
    Calendar::default()
}

fn zone(name: &str) -> Calendar {
    Calendar::parse(name).expect("a known zone")
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn time(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

#[test]
fn intervals_align_to_the_quarter_hour() {
    let t = Utc.with_ymd_and_hms(2026, 7, 1, 6, 7, 31).unwrap();
    assert_eq!(align(t), utc(2026, 7, 1, 6, 0));
}

#[test]
fn the_default_calendar_is_the_demo_utilitys_chicago() {
    assert_eq!(chicago().name(), DEFAULT_TIME_ZONE);
    assert_eq!(Calendar::parse("America/Chicago"), Ok(chicago()));
}

#[test]
fn an_unknown_zone_name_is_refused_naming_it() {
    let err = Calendar::parse("America/Chicgo").unwrap_err();
    assert_eq!(err, CalendarError::UnknownZone("America/Chicgo".into()));
    assert!(err.to_string().contains("`America/Chicgo`"), "{err}");
    assert!(Calendar::parse("").is_err());
    assert!(Calendar::parse("UTC-6").is_err());
}

#[test]
fn the_local_day_starts_at_five_utc_in_summer_and_six_in_winter() {
    // 04:59 UTC in July is still the evening before locally (CDT, UTC−5).
    let cal = chicago();
    assert_eq!(cal.local_date(utc(2026, 7, 2, 4, 59)), date(2026, 7, 1));
    assert_eq!(cal.local_date(utc(2026, 7, 2, 5, 0)), date(2026, 7, 2));
    assert_eq!(cal.local_hour(utc(2026, 7, 2, 5, 0)), 0);
    assert_eq!(cal.day_start(date(2026, 7, 2)), utc(2026, 7, 2, 5, 0));
    // In January it is CST, UTC−6.
    assert_eq!(cal.day_start(date(2026, 1, 15)), utc(2026, 1, 15, 6, 0));
    assert_eq!(cal.local_date(utc(2026, 1, 15, 5, 59)), date(2026, 1, 14));
    assert_eq!(cal.quarter_of_day(utc(2026, 1, 15, 6, 0)), 0);
    assert_eq!(cal.quarter_of_day(utc(2026, 7, 15, 22, 0)), 17 * 4);
}

#[test]
fn a_cycle_starts_on_its_week_start_day_or_the_first_of_the_month() {
    // 2026-07-15 is a Wednesday; a Monday (1) start goes back two days.
    let day = date(2026, 7, 15);
    assert_eq!(cycle_start("weekly", 1, day), date(2026, 7, 13));
    assert_eq!(cycle_start("monthly", 0, day), date(2026, 7, 1));
    // As an instant: local midnight of that day (CDT).
    assert_eq!(
        chicago().cycle_start("weekly", 1, day),
        utc(2026, 7, 13, 5, 0)
    );
}

#[test]
fn weekends_are_local_saturdays_and_sundays() {
    let cal = chicago();
    // Friday 2026-07-17 at 20:00 CDT is already Saturday in UTC.
    assert!(!cal.is_weekend(utc(2026, 7, 18, 1, 0)));
    assert!(cal.is_weekend(utc(2026, 7, 18, 5, 0)));
}

#[test]
fn a_season_runs_from_local_midnight_to_local_midnight() {
    // June to September: CDT at both ends.
    let (from, to) = chicago().season_bounds(date(2026, 6, 1), date(2026, 9, 30));
    assert_eq!(from, utc(2026, 6, 1, 5, 0));
    assert_eq!(to, utc(2026, 10, 1, 5, 0));
    // A winter season ends after the fall-back, on CST.
    let (from, to) = chicago().season_bounds(date(2026, 10, 1), date(2026, 11, 30));
    assert_eq!(from, utc(2026, 10, 1, 5, 0));
    assert_eq!(to, utc(2026, 12, 1, 6, 0));
}

#[test]
fn an_ordinary_day_has_96_quarter_hours() {
    let day = chicago().day_intervals(date(2026, 7, 15));
    assert_eq!(day.len(), 96);
    assert_eq!(day[0], utc(2026, 7, 15, 5, 0));
    assert_eq!(day[95], utc(2026, 7, 16, 4, 45));
}

#[test]
fn the_spring_forward_day_has_92_quarter_hours() {
    let cal = chicago();
    let day = cal.day_intervals(date(2026, 3, 8));
    assert_eq!(day.len(), 92);
    assert_eq!(day[0], utc(2026, 3, 8, 6, 0));
    // 01:45 CST is followed by 03:00 CDT.
    assert_eq!(cal.local_time(day[7]).time(), time(1, 45));
    assert_eq!(cal.local_time(day[8]).time(), time(3, 0));
    assert_eq!(day[8] - day[7], Duration::minutes(15));
    assert_eq!(*day.last().unwrap(), utc(2026, 3, 9, 4, 45));
}

#[test]
fn the_fall_back_day_has_100_quarter_hours() {
    let cal = chicago();
    let day = cal.day_intervals(date(2026, 11, 1));
    assert_eq!(day.len(), 100);
    assert_eq!(day[0], utc(2026, 11, 1, 5, 0));
    // 01:00 to 01:45 twice: first CDT, then CST.
    let hours: Vec<u32> = day.iter().map(|t| cal.local_hour(*t)).collect();
    assert_eq!(hours.iter().filter(|h| **h == 1).count(), 8);
    assert_eq!(*day.last().unwrap(), utc(2026, 11, 2, 5, 45));
}

#[test]
fn an_event_from_one_to_three_local_on_the_fall_back_day_lasts_three_hours() {
    let cal = chicago();
    let day = date(2026, 11, 1);
    // 01:00 happens twice: the operator must say which; the first pass is still CDT.
    let err = cal.at(day, time(1, 0)).unwrap_err();
    assert!(matches!(err, CalendarError::Ambiguous { .. }), "{err}");
    let start = cal
        .from_local_with(day.and_time(time(1, 0)), Fold::Earlier)
        .unwrap();
    let end = cal.at(day, time(3, 0)).unwrap();
    assert_eq!(start, utc(2026, 11, 1, 6, 0));
    assert_eq!(end, utc(2026, 11, 1, 9, 0));
    assert_eq!(end - start, Duration::hours(3));
    let intervals: Vec<_> = cal
        .day_intervals(day)
        .into_iter()
        .filter(|t| *t >= start && *t < end)
        .collect();
    assert_eq!(intervals.len(), 12);
    assert!(intervals.iter().all(|t| cal.local_date(*t) == day));
    // Taking the second 01:00 (CST) makes it a two-hour event.
    let later = cal
        .from_local_with(day.and_time(time(1, 0)), Fold::Later)
        .unwrap();
    assert_eq!(end - later, Duration::hours(2));
}

#[test]
fn a_time_the_clocks_skip_is_refused_naming_the_gap() {
    let err = chicago().at(date(2026, 3, 8), time(2, 30)).unwrap_err();
    assert_eq!(
        err,
        CalendarError::Nonexistent {
            local: date(2026, 3, 8).and_time(time(2, 30)),
            zone: "America/Chicago",
            gap_start: time(2, 0),
            gap_end: time(3, 0),
        }
    );
    let msg = err.to_string();
    assert!(msg.contains("does not exist"), "{msg}");
    assert!(msg.contains("02:00") && msg.contains("03:00"), "{msg}");
    // The choice of fold does not make it exist.
    assert!(chicago()
        .from_local_with(date(2026, 3, 8).and_time(time(2, 30)), Fold::Earlier)
        .is_err());
    // A bad local time is the caller's mistake (a 4xx), not ours.
    assert!(DomainError::from(err).is_client_error());
}

#[test]
fn a_time_the_clocks_pass_twice_is_refused_naming_both_offsets() {
    let err = chicago().at(date(2026, 11, 1), time(1, 30)).unwrap_err();
    let CalendarError::Ambiguous { first, second, .. } = &err else {
        panic!("ambiguous expected, got {err}");
    };
    assert_eq!(first, "2026-11-01T01:30:00-05:00");
    assert_eq!(second, "2026-11-01T01:30:00-06:00");
    let msg = err.to_string();
    assert!(msg.contains("-05:00") && msg.contains("-06:00"), "{msg}");
    let local = date(2026, 11, 1).and_time(time(1, 30));
    assert_eq!(
        chicago().from_local_with(local, Fold::Earlier),
        Ok(utc(2026, 11, 1, 6, 30))
    );
    assert_eq!(
        chicago().from_local_with(local, Fold::Later),
        Ok(utc(2026, 11, 1, 7, 30))
    );
}

#[test]
fn a_daily_local_hour_comes_at_the_next_local_occurrence() {
    let cal = chicago();
    // 02:00 local: 07:00 UTC in summer.
    assert_eq!(
        cal.next_local_hour(utc(2026, 7, 15, 6, 0), 2),
        utc(2026, 7, 15, 7, 0)
    );
    assert_eq!(
        cal.next_local_hour(utc(2026, 7, 15, 7, 0), 2),
        utc(2026, 7, 16, 7, 0)
    );
    // On the spring-forward day 02:00 does not exist: the run comes at 03:00 CDT.
    assert_eq!(
        cal.next_local_hour(utc(2026, 3, 8, 5, 0), 2),
        utc(2026, 3, 8, 8, 0)
    );
    // After the fall-back it is 08:00 UTC.
    assert_eq!(
        cal.next_local_hour(utc(2026, 11, 2, 0, 0), 2),
        utc(2026, 11, 2, 8, 0)
    );
}

#[test]
fn the_same_local_hours_on_an_earlier_day_cross_a_daylight_saving_change() {
    let cal = chicago();
    // 17:00 CST on Monday 2026-11-02 ↔ 17:00 CDT on Friday 2026-10-30: 24 h × 3 + 1 h apart.
    let event = cal.at(date(2026, 11, 2), time(17, 0)).unwrap();
    let earlier = cal.days_before(event, 3);
    assert_eq!(
        cal.local_time(earlier),
        date(2026, 10, 30).and_time(time(17, 0))
    );
    assert_eq!(event - earlier, Duration::hours(73));
    // A time skipped on the earlier day moves to when the clocks resume.
    let after_spring = cal.at(date(2026, 3, 9), time(2, 30)).unwrap();
    assert_eq!(
        cal.local_time(cal.days_before(after_spring, 1)),
        date(2026, 3, 8).and_time(time(3, 0))
    );
}

#[test]
fn a_local_evening_and_the_half_hour_after_midnight_land_on_their_local_dates() {
    // (zone, local day, local time, the UTC instant worked out by hand)
    let cases = [
        // AEDT (UTC+11): Tuesday 18:00 is 07:00 UTC the same day; 00:30 on Wednesday is
        // still Tuesday in UTC.
        (
            "Australia/Sydney",
            date(2026, 1, 13),
            time(18, 0),
            utc(2026, 1, 13, 7, 0),
        ),
        (
            "Australia/Sydney",
            date(2026, 1, 14),
            time(0, 30),
            utc(2026, 1, 13, 13, 30),
        ),
        // CEST (UTC+2): Wednesday 23:00 is 21:00 UTC; 00:30 on Thursday is still Wednesday.
        (
            "Europe/Berlin",
            date(2026, 7, 15),
            time(23, 0),
            utc(2026, 7, 15, 21, 0),
        ),
        (
            "Europe/Berlin",
            date(2026, 7, 16),
            time(0, 30),
            utc(2026, 7, 15, 22, 30),
        ),
        // CST (UTC−6): Monday 22:30 is already Tuesday in UTC (the server tests' clock).
        (
            "America/Chicago",
            date(2026, 12, 7),
            time(22, 30),
            utc(2026, 12, 8, 4, 30),
        ),
    ];
    for (name, day, at, instant) in cases {
        let cal = zone(name);
        let t = cal.at(day, at).unwrap();
        assert_eq!(t, instant, "{name} {day} {at}");
        assert_eq!(cal.local_date(t), day, "{name} {day} {at}");
    }
}

#[test]
fn sydney_and_berlin_keep_their_own_seasons_and_weeks() {
    // (zone, day, its quarter-hours): a short day where daylight saving starts, a long one
    // where it ends (Sydney: first Sunday of October and of April).
    for (name, day, quarters) in [
        ("Australia/Sydney", date(2026, 10, 4), 92),
        ("Australia/Sydney", date(2026, 4, 5), 100),
        ("Europe/Berlin", date(2026, 3, 29), 92),
        ("Europe/Berlin", date(2026, 10, 25), 100),
    ] {
        assert_eq!(
            zone(name).day_intervals(day).len(),
            quarters,
            "{name} {day}"
        );
    }
    // In July Sydney is on standard time (AEST, UTC+10): the southern winter.
    let sydney = zone("Australia/Sydney");
    assert_eq!(sydney.day_start(date(2026, 7, 15)), utc(2026, 7, 14, 14, 0));
    // A weekly cycle starting Monday: Monday 00:30 in Berlin counts in the new week.
    let berlin = zone("Europe/Berlin");
    let monday = berlin.at(date(2026, 7, 20), time(0, 30)).unwrap();
    assert_eq!(
        berlin.cycle_start("weekly", 1, berlin.local_date(monday)),
        utc(2026, 7, 19, 22, 0)
    );
}

const ZONES: [&str; 3] = ["America/Chicago", "Australia/Sydney", "Europe/Berlin"];

proptest! {
    #[test]
    fn converting_an_instant_to_local_and_back_is_the_identity(
        zone_index in 0usize..3,
        secs in 0i64..4_102_444_800, // 1970 to 2100
    ) {
        let cal = zone(ZONES[zone_index]);
        let t = DateTime::from_timestamp(secs, 0).unwrap();
        let local = cal.local_time(t);
        let back = match cal.from_local(local) {
            Ok(u) => u,
            Err(CalendarError::Ambiguous { .. }) => {
                let a = cal.from_local_with(local, Fold::Earlier).unwrap();
                let b = cal.from_local_with(local, Fold::Later).unwrap();
                prop_assert!(a < b);
                if a == t { a } else { b }
            }
            Err(e) => return Err(TestCaseError::fail(format!("{t}: {e}"))),
        };
        prop_assert_eq!(back, t);
    }

    #[test]
    fn every_local_days_intervals_tile_it_without_gaps_or_overlaps(
        zone_index in 0usize..3,
        day_number in 0i64..47_482, // 1970 to 2099
    ) {
        let cal = zone(ZONES[zone_index]);
        let day = date(1970, 1, 1) + Duration::days(day_number);
        let intervals = cal.day_intervals(day);
        let (start, end) = cal.day_bounds(day);
        prop_assert!([92, 96, 100].contains(&intervals.len()), "{} intervals on {}", intervals.len(), day);
        prop_assert_eq!(intervals[0], start);
        prop_assert_eq!(*intervals.last().unwrap() + Duration::minutes(15), end);
        prop_assert_eq!(end, cal.day_start(day + Duration::days(1)));
        for pair in intervals.windows(2) {
            prop_assert_eq!(pair[1] - pair[0], Duration::minutes(15));
        }
        for t in &intervals {
            prop_assert_eq!(align(*t), *t);
            prop_assert_eq!(cal.local_date(*t), day);
            prop_assert_eq!(cal.local_date(*t + Duration::minutes(15) - Duration::seconds(1)), day);
        }
        prop_assert_eq!(cal.local_date(start - Duration::seconds(1)), day - Duration::days(1));
    }
}

#[test]
fn a_typed_local_time_reads_in_the_zone_and_names_its_problems() {
    let cal = chicago();
    // Plain local time, with a `T` or a space.
    assert_eq!(
        cal.parse_input("starts at", "2026-07-14T17:00").ok(),
        Some(utc(2026, 7, 14, 22, 0))
    );
    assert_eq!(
        cal.parse_input("starts at", " 2026-12-15 17:00 ").ok(),
        Some(utc(2026, 12, 15, 23, 0))
    );
    // RFC 3339 keeps its own offset.
    assert_eq!(
        cal.parse_input("starts at", "2026-07-14T17:00:00Z").ok(),
        Some(utc(2026, 7, 14, 17, 0))
    );
    // The fold: refused, naming both choices; the abbreviation or the offset picks one.
    let err = cal
        .parse_input("starts at", "2026-11-01 01:30")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("starts at: 2026-11-01 01:30 happens twice"),
        "{err}"
    );
    assert!(
        err.contains("`2026-11-01 01:30 CDT`") && err.contains("`2026-11-01 01:30 CST`"),
        "{err}"
    );
    assert_eq!(
        cal.parse_input("starts at", "2026-11-01 01:30 CDT").ok(),
        Some(utc(2026, 11, 1, 6, 30))
    );
    assert_eq!(
        cal.parse_input("starts at", "2026-11-01T01:30 cst").ok(),
        Some(utc(2026, 11, 1, 7, 30))
    );
    assert_eq!(
        cal.parse_input("starts at", "2026-11-01T01:30-06:00").ok(),
        Some(utc(2026, 11, 1, 7, 30))
    );
    // An abbreviation that is not the time's is named, with what it is.
    let err = cal
        .parse_input("ends at", "2026-07-14 17:00 CST")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`CST` is not the offset") && err.contains("CDT (UTC-05:00)"),
        "{err}"
    );
    // The gap: refused naming it.
    let err = cal
        .parse_input("starts at", "2026-03-08T02:30")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("starts at: ") && err.contains("does not exist"),
        "{err}"
    );
    assert!(err.contains("02:00") && err.contains("03:00"), "{err}");
    // Not a time at all.
    let err = cal.parse_input("starts at", "tomorrow").unwrap_err();
    assert!(err.is_client_error());
    assert!(
        err.to_string().contains("`tomorrow` is not a time"),
        "{err}"
    );
}

#[test]
fn an_instant_is_shown_local_with_the_abbreviation() {
    assert_eq!(
        chicago().show(utc(2026, 7, 14, 22, 0)),
        "2026-07-14 17:00 CDT"
    );
    assert_eq!(
        chicago().show(utc(2026, 1, 14, 23, 0)),
        "2026-01-14 17:00 CST"
    );
}
