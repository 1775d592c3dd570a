//! The utility's calendar: the one place that converts between UTC and the service territory's
//! local time — its configured IANA time zone with daylight saving, the local date and hour of
//! an instant, local midnight, the quarter-hour grid of a local day, weekday or weekend, the
//! start of a program rule's cycle and a season's bounds. Both sides (programs and grid) read
//! it; neither owns it. Storage and the wire stay in UTC.

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Tz;

use crate::error::DomainError;

pub mod holiday_service;
pub mod holidays;

/// The demo utility's zone, used when none is configured.
pub const DEFAULT_TIME_ZONE: &str = "America/Chicago";

/// Minutes in one interval of the grid.
const QUARTER: i64 = 15;

/// The start of the 15-minute interval `t` falls in. Every zone in use has offsets that are
/// whole quarter hours, so the UTC grid is the local grid too.
pub fn align(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp();
    let floored = secs - secs.rem_euclid(QUARTER * 60);
    DateTime::from_timestamp(floored, 0).unwrap_or(t)
}

/// The first day of the rule cycle (`weekly` from `week_start`, 0 = Sunday; or `monthly`)
/// that contains the local date `day`. Dates only: no time zone is involved.
pub fn cycle_start(cycle: &str, week_start: i32, day: NaiveDate) -> NaiveDate {
    if cycle == "weekly" {
        let back = (day.weekday().num_days_from_sunday() as i64 - week_start as i64).rem_euclid(7);
        day - Duration::days(back)
    } else {
        day.with_day(1).unwrap_or(day)
    }
}

/// True for Saturday and Sunday.
pub fn is_weekend_date(day: NaiveDate) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Which of the two instants of a local time the clocks pass twice (daylight saving ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// The first pass, still on daylight time.
    Earlier,
    /// The second pass, back on standard time.
    Later,
}

/// Why a zone name or a local time was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("`{0}` is not a known IANA time zone name (such as America/Chicago or Europe/Berlin)")]
    UnknownZone(String),
    #[error("{local} does not exist in {zone}: the clocks skip it (daylight saving starts); choose a time before {gap_start} or from {gap_end}")]
    Nonexistent {
        local: NaiveDateTime,
        zone: &'static str,
        gap_start: NaiveTime,
        gap_end: NaiveTime,
    },
    #[error("{local} happens twice in {zone} (daylight saving ends): choose {first} or {second}")]
    Ambiguous {
        local: NaiveDateTime,
        zone: &'static str,
        /// The earlier instant, written with its offset (e.g. `2026-11-01T01:30:00-05:00`).
        first: String,
        /// The later instant, with its offset (e.g. `2026-11-01T01:30:00-06:00`).
        second: String,
    },
}

impl From<CalendarError> for DomainError {
    fn from(err: CalendarError) -> Self {
        DomainError::Invalid(err.to_string())
    }
}

/// The utility's calendar: its time zone. Cheap to copy; built once from the settings and
/// handed to whatever needs local time.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    zone: Tz,
}

impl fmt::Debug for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Calendar({})", self.zone.name())
    }
}

impl fmt::Display for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.zone.name())
    }
}

impl Default for Calendar {
    /// The demo utility's calendar ([`DEFAULT_TIME_ZONE`]).
    fn default() -> Self {
        Calendar::new(chrono_tz::America::Chicago)
    }
}

impl FromStr for Calendar {
    type Err = CalendarError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Calendar::parse(s)
    }
}

impl Calendar {
    pub fn new(zone: Tz) -> Self {
        Calendar { zone }
    }

    /// The calendar of an IANA zone name (`America/Chicago`); an unknown name is refused.
    pub fn parse(name: &str) -> Result<Self, CalendarError> {
        name.trim()
            .parse::<Tz>()
            .map(Calendar::new)
            .map_err(|_| CalendarError::UnknownZone(name.to_string()))
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The zone's IANA name.
    pub fn name(&self) -> &'static str {
        self.zone.name()
    }

    /// The local wall-clock time of an instant.
    pub fn local_time(&self, t: DateTime<Utc>) -> NaiveDateTime {
        t.with_timezone(&self.zone).naive_local()
    }

    /// The local date of an instant.
    pub fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        self.local_time(t).date()
    }

    /// The local hour of the day of an instant, 0..24.
    pub fn local_hour(&self, t: DateTime<Utc>) -> u32 {
        self.local_time(t).hour()
    }

    /// The local wall-clock quarter hour of an instant, 0..96 (on the fall-back day two
    /// intervals share a quarter hour; on the spring-forward day four are skipped).
    pub fn quarter_of_day(&self, t: DateTime<Utc>) -> usize {
        let l = self.local_time(t);
        (l.hour() * 4 + l.minute() / 15) as usize
    }

    /// True when the instant falls on a local Saturday or Sunday.
    pub fn is_weekend(&self, t: DateTime<Utc>) -> bool {
        is_weekend_date(self.local_date(t))
    }

    /// Local midnight: the first instant of the local day `day`. Where a zone skips midnight
    /// itself, the day starts when the clocks resume.
    pub fn day_start(&self, day: NaiveDate) -> DateTime<Utc> {
        self.lenient(day.and_time(NaiveTime::MIN))
    }

    /// The local day `day` as a UTC range `[start, end)`: 23, 24 or 25 hours long.
    pub fn day_bounds(&self, day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        (self.day_start(day), self.day_start(day + Duration::days(1)))
    }

    /// The starts of the quarter-hour intervals of the local day `day`, in order: 96 on an
    /// ordinary day, 92 on the spring-forward day and 100 on the fall-back day.
    pub fn day_intervals(&self, day: NaiveDate) -> Vec<DateTime<Utc>> {
        let (start, end) = self.day_bounds(day);
        let mut out = Vec::with_capacity(100);
        let mut t = start;
        while t < end {
            out.push(t);
            t += Duration::minutes(QUARTER);
        }
        out
    }

    /// The first instant of the rule cycle (see [`cycle_start`]) containing the local date `day`.
    pub fn cycle_start(&self, cycle: &str, week_start: i32, day: NaiveDate) -> DateTime<Utc> {
        self.day_start(cycle_start(cycle, week_start, day))
    }

    /// A season from its first to its last local date (both included) as a UTC range
    /// `[first's midnight, midnight after the last)`.
    pub fn season_bounds(
        &self,
        first: NaiveDate,
        last: NaiveDate,
    ) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            self.day_start(first),
            self.day_start(last + Duration::days(1)),
        )
    }

    /// The instant of a local date and time. A time the clocks skip, or one they pass twice,
    /// is refused with the choices named: never a silent guess.
    pub fn at(&self, date: NaiveDate, time: NaiveTime) -> Result<DateTime<Utc>, CalendarError> {
        self.from_local(date.and_time(time))
    }

    /// The instant of a local wall-clock time (see [`Calendar::at`]).
    pub fn from_local(&self, local: NaiveDateTime) -> Result<DateTime<Utc>, CalendarError> {
        self.resolve(local, None)
    }

    /// The instant of a local wall-clock time, taking `fold` when the clocks pass it twice
    /// (the person's answer to [`CalendarError::Ambiguous`]). A skipped time is still refused.
    pub fn from_local_with(
        &self,
        local: NaiveDateTime,
        fold: Fold,
    ) -> Result<DateTime<Utc>, CalendarError> {
        self.resolve(local, Some(fold))
    }

    fn resolve(
        &self,
        local: NaiveDateTime,
        fold: Option<Fold>,
    ) -> Result<DateTime<Utc>, CalendarError> {
        match self.zone.from_local_datetime(&local) {
            LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(a, b) => {
                let (a, b) = if a <= b { (a, b) } else { (b, a) };
                match fold {
                    Some(Fold::Earlier) => return Ok(a.with_timezone(&Utc)),
                    Some(Fold::Later) => return Ok(b.with_timezone(&Utc)),
                    None => {}
                }
                Err(CalendarError::Ambiguous {
                    local,
                    zone: self.name(),
                    first: with_offset(&a),
                    second: with_offset(&b),
                })
            }
            LocalResult::None => {
                let resumed = self.lenient(local);
                // The gap ends where the clocks resume and is as long as the offset change.
                let before = self
                    .zone
                    .offset_from_utc_datetime(&(resumed - Duration::seconds(1)).naive_utc());
                let after = self.zone.offset_from_utc_datetime(&resumed.naive_utc());
                let jump =
                    i64::from(after.fix().local_minus_utc() - before.fix().local_minus_utc());
                let gap_end = self.local_time(resumed);
                Err(CalendarError::Nonexistent {
                    local,
                    zone: self.name(),
                    gap_start: (gap_end - Duration::seconds(jump)).time(),
                    gap_end: gap_end.time(),
                })
            }
        }
    }

    /// An instant as people read it here: local date and time with the zone's abbreviation
    /// (`2026-07-14 17:00 CDT`).
    pub fn show(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.zone)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    /// A time typed into a console form: local `YYYY-MM-DD HH:MM` (a `T` between date and time
    /// is fine, as a `datetime-local` input sends it), optionally followed by the zone's
    /// abbreviation or a UTC offset (`01:30 CDT`, `01:30 -05:00`) to say which of a time the
    /// clocks pass twice is meant. RFC 3339 with an offset is taken as is. A time the clocks
    /// skip, or one they pass twice without a choice, is refused naming `field` and the choices.
    pub fn parse_input(&self, field: &str, raw: &str) -> Result<DateTime<Utc>, DomainError> {
        let raw = raw.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
            return Ok(t.with_timezone(&Utc));
        }
        let (wall, suffix) = split_suffix(raw);
        let local = [
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d %H:%M:%S",
        ]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(wall, f).ok())
        .ok_or_else(|| {
            DomainError::invalid(format!(
                "{field}: `{raw}` is not a time; use YYYY-MM-DD HH:MM, local time in {}",
                self.name()
            ))
        })?;
        let candidates: Vec<DateTime<Tz>> = match self.zone.from_local_datetime(&local) {
            LocalResult::Single(t) => vec![t],
            LocalResult::Ambiguous(a, b) => vec![a.min(b), a.max(b)],
            LocalResult::None => {
                let err = self.from_local(local).err().map(|e| e.to_string());
                return Err(DomainError::invalid(format!(
                    "{field}: {}",
                    err.unwrap_or_else(|| format!("{local} does not exist in {}", self.name()))
                )));
            }
        };
        let label = |t: &DateTime<Tz>| t.format("%Z").to_string();
        let offset = |t: &DateTime<Tz>| t.format("%:z").to_string();
        let shown = local.format("%Y-%m-%d %H:%M");
        match (suffix, candidates.as_slice()) {
            (None, [one]) => Ok(one.with_timezone(&Utc)),
            (None, [first, second, ..]) => Err(DomainError::invalid(format!(
                "{field}: {shown} happens twice in {} (daylight saving ends); say which: \
                 `{shown} {}` (the first, UTC{}) or `{shown} {}` (the second, UTC{})",
                self.name(),
                label(first),
                offset(first),
                label(second),
                offset(second),
            ))),
            (Some(s), _) => candidates
                .iter()
                .find(|t| label(t).eq_ignore_ascii_case(s) || offset(t) == s)
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| {
                    let known: Vec<String> = candidates
                        .iter()
                        .map(|t| format!("{} (UTC{})", label(t), offset(t)))
                        .collect();
                    DomainError::invalid(format!(
                        "{field}: `{s}` is not the offset of {shown} in {}; it is {}",
                        self.name(),
                        known.join(" or ")
                    ))
                }),
            (None, []) => Err(DomainError::invalid(format!(
                "{field}: `{raw}` is not a time"
            ))),
        }
    }

    /// The first instant after `now` at `hour`:00 local time (a daily schedule). On the day
    /// the clocks skip that hour, it comes when they resume.
    pub fn next_local_hour(&self, now: DateTime<Utc>, hour: u32) -> DateTime<Utc> {
        let at = NaiveTime::from_hms_opt(hour.min(23), 0, 0).unwrap_or(NaiveTime::MIN);
        let today = self.local_date(now);
        (0..3)
            .map(|d| self.lenient((today + Duration::days(d)).and_time(at)))
            .find(|t| *t > now)
            .unwrap_or(now + Duration::days(1))
    }

    /// The same local wall-clock time `days` days earlier (a baseline's "same hours on an
    /// earlier day"): across a daylight-saving change this is 23 or 25 hours per day, not 24.
    /// A time that does not exist that day moves to when the clocks resume; one that happens
    /// twice takes the first.
    pub fn days_before(&self, t: DateTime<Utc>, days: i64) -> DateTime<Utc> {
        self.lenient(self.local_time(t) - Duration::days(days))
    }

    /// A local time resolved without refusing: the earlier of two, or for a skipped time the
    /// first instant after the gap.
    fn lenient(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let mut probe = local;
        // Gaps are at most a few hours; step over them a quarter hour at a time.
        for _ in 0..=4 * 24 {
            match self.zone.from_local_datetime(&probe) {
                LocalResult::Single(t) => {
                    return self.gap_start_after(local, t.with_timezone(&Utc))
                }
                LocalResult::Ambiguous(a, b) => {
                    return self.gap_start_after(local, a.min(b).with_timezone(&Utc))
                }
                LocalResult::None => probe += Duration::minutes(QUARTER),
            }
        }
        // Not reached for any real zone; read the wall time as UTC rather than fail.
        local.and_utc()
    }

    /// When `local` was skipped and `found` is the first resolvable probe after it, the
    /// clocks may have resumed earlier than the probe (gaps end on any minute in history):
    /// walk back minute by minute to the first instant after the gap.
    fn gap_start_after(&self, local: NaiveDateTime, found: DateTime<Utc>) -> DateTime<Utc> {
        if self.local_time(found) == local {
            return found;
        }
        let mut t = found;
        for _ in 0..QUARTER {
            let prev = t - Duration::minutes(1);
            if self.local_time(prev) < local {
                break;
            }
            t = prev;
        }
        t
    }
}

/// Splits `2026-11-01 01:30 CDT` or `2026-11-01T01:30-05:00` into the wall time and what
/// says which offset is meant.
fn split_suffix(raw: &str) -> (&str, Option<&str>) {
    if let Some((wall, last)) = raw.rsplit_once(' ') {
        if last.chars().all(|c| c.is_ascii_alphabetic()) || last.starts_with(['+', '-']) {
            return (wall.trim_end(), Some(last));
        }
    }
    // An offset written straight after the time: `…T01:30-05:00` or `…T01:30+01:00`.
    if let Some(t) = raw.find('T').or_else(|| raw.find(' ')) {
        if let Some(i) = raw[t..].find(['+', '-']) {
            return (&raw[..t + i], Some(&raw[t + i..]));
        }
    }
    (raw, None)
}

fn with_offset(t: &DateTime<Tz>) -> String {
    t.fixed_offset().format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

#[cfg(test)]
mod tests;
