//! Temperature forecast uploads: the CSV parsed and checked line by line, and stored over the
//! hours it covers.

use std::collections::BTreeMap;

use chrono::{DateTime, Timelike, Utc};

use crate::db::Tx;
use crate::error::DomainError;

/// A parsed temperature forecast upload: one temperature per whole hour, in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct WeatherUpload {
    pub hours: Vec<(DateTime<Utc>, f64)>,
}

/// Most lines an upload may have (a year of hours).
pub const MAX_UPLOAD_HOURS: usize = 24 * 366;

/// Parses `timestamp,temperature_c` CSV (a header line of those names is optional): RFC 3339
/// timestamps on the whole hour, temperatures from −60 to 60 °C, each hour once. The first
/// bad line is named with what is wrong.
pub fn parse_weather_csv(text: &str) -> Result<WeatherUpload, DomainError> {
    let bad = |line: usize, what: String| DomainError::invalid(format!("line {line}: {what}"));
    let mut hours: BTreeMap<DateTime<Utc>, f64> = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim().trim_start_matches('\u{feff}');
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if line_no == 1
            && fields
                .first()
                .is_some_and(|f| f.eq_ignore_ascii_case("timestamp"))
        {
            if fields.len() != 2 || !fields[1].eq_ignore_ascii_case("temperature_c") {
                return Err(bad(
                    line_no,
                    "the header must be `timestamp,temperature_c`".into(),
                ));
            }
            continue;
        }
        if fields.len() != 2 {
            return Err(bad(
                line_no,
                format!(
                    "expected 2 fields (timestamp,temperature_c), found {}",
                    fields.len()
                ),
            ));
        }
        let t = DateTime::parse_from_rfc3339(fields[0])
            .map_err(|_| {
                bad(
                    line_no,
                    format!(
                        "`{}` is not an RFC 3339 timestamp (e.g. 2026-07-01T15:00:00Z)",
                        fields[0]
                    ),
                )
            })?
            .with_timezone(&Utc);
        if t.minute() != 0 || t.second() != 0 || t.nanosecond() != 0 {
            return Err(bad(
                line_no,
                format!(
                    "`{}` is not on the whole hour (the forecast is hourly)",
                    fields[0]
                ),
            ));
        }
        let c: f64 = fields[1]
            .parse()
            .ok()
            .filter(|c: &f64| c.is_finite())
            .ok_or_else(|| {
                bad(
                    line_no,
                    format!("temperature `{}` is not a number", fields[1]),
                )
            })?;
        if !(-60.0..=60.0).contains(&c) {
            return Err(bad(
                line_no,
                format!("temperature {c} °C is outside −60 to 60 °C"),
            ));
        }
        if hours.insert(t, c).is_some() {
            return Err(bad(
                line_no,
                format!("the hour {} appears twice", t.to_rfc3339()),
            ));
        }
        if hours.len() > MAX_UPLOAD_HOURS {
            return Err(bad(
                line_no,
                format!("more than {MAX_UPLOAD_HOURS} hours in one upload"),
            ));
        }
    }
    if hours.is_empty() {
        return Err(DomainError::invalid(
            "the CSV holds no temperatures (expected lines `timestamp,temperature_c`)",
        ));
    }
    Ok(WeatherUpload {
        hours: hours.into_iter().collect(),
    })
}

/// Replaces the forecast from the first to the last uploaded hour, in the caller's transaction.
pub async fn store_forecast(
    tx: &mut Tx,
    upload: &WeatherUpload,
    now: DateTime<Utc>,
) -> Result<usize, DomainError> {
    crate::db::forecast::replace_forecast_temperatures(tx, &upload.hours, now).await?;
    Ok(upload.hours.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_weather_csv_parses_and_bad_lines_are_named() {
        let ok = parse_weather_csv(
            "timestamp,temperature_c\n2026-07-01T15:00:00Z,34.5\n2026-07-01T11:00:00-05:00,33\n",
        )
        .unwrap();
        assert_eq!(ok.hours.len(), 2);
        assert_eq!(
            ok.hours[1].0,
            Utc.with_ymd_and_hms(2026, 7, 1, 16, 0, 0).unwrap()
        );
        let err = |text: &str| parse_weather_csv(text).unwrap_err().to_string();
        assert!(
            err("timestamp,temperature_c\n2026-07-01T15:00:00Z,34\nyesterday,30\n")
                .starts_with("line 3: `yesterday` is not an RFC 3339 timestamp")
        );
        assert!(err("2026-07-01T15:30:00Z,30")
            .contains("line 1: `2026-07-01T15:30:00Z` is not on the whole hour"));
        assert!(
            err("2026-07-01T15:00:00Z,hot").contains("line 1: temperature `hot` is not a number")
        );
        assert!(err("2026-07-01T15:00:00Z,99").contains("outside"));
        assert!(
            err("2026-07-01T15:00:00Z,30\n2026-07-01T15:00:00Z,31").contains("line 2: the hour")
        );
        assert!(err("").contains("no temperatures"));
    }
}
