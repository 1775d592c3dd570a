//! Times in REST bodies: RFC 3339 with any offset, read as UTC (answers carry `Z`). A time
//! without an offset is refused naming the field: the API answers 400 for it (`json_problem`).

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer};

/// In the message of a time without an offset; `json_problem` makes that a 400.
pub const NO_OFFSET: &str = "has no UTC offset";

/// `#[serde(deserialize_with = "time_field::deserialize")]` on a `DateTime<Utc>` field.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let raw = String::deserialize(d)?;
    parse(&raw).map_err(serde::de::Error::custom)
}

/// An RFC 3339 time with its offset, as UTC; says what is wrong otherwise.
pub fn parse(raw: &str) -> Result<DateTime<Utc>, String> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .any(|f| NaiveDateTime::parse_from_str(raw, f).is_ok());
    if naive {
        return Err(format!(
            "`{raw}` {NO_OFFSET}: RFC 3339 needs one, e.g. `Z` or `-05:00` at the end"
        ));
    }
    Err(format!(
        "`{raw}` is not an RFC 3339 time (e.g. 2026-07-14T17:00:00-05:00)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_offset_is_read_as_the_same_instant_in_utc() {
        let a = parse("2026-07-14T17:00:00-05:00").unwrap();
        let b = parse("2026-07-15T00:00:00+02:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "2026-07-14T22:00:00Z"
        );
    }

    #[test]
    fn a_time_without_an_offset_is_refused_as_such() {
        let err = parse("2026-07-14T17:00").unwrap_err();
        assert!(err.contains(NO_OFFSET), "{err}");
        let err = parse("yesterday").unwrap_err();
        assert!(
            !err.contains(NO_OFFSET) && err.contains("not an RFC 3339"),
            "{err}"
        );
    }
}
