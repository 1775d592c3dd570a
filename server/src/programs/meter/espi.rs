//! Reading a Green Button ESPI Atom feed into readings, row by row.

use chrono::DateTime;
use quick_xml::events::Event;
use quick_xml::Reader;

use super::check::check_values;
use super::{reject, ParsedFile, Reading};
use crate::error::DomainError;

/// An ESPI `IntervalReading` as read: its line, `start`, `duration` and `value` texts.
type RawReading = (usize, Option<String>, Option<String>, Option<String>);

/// Parses a Green Button ESPI Atom feed. The service point is `service_point` when given
/// (the REST query parameter), otherwise the `title` of the feed entry holding the
/// `UsagePoint`; one usage point per file. Readings are `value × 10^powerOfTenMultiplier`
/// in the `ReadingType`'s unit, which must be Wh (`uom` 72).
pub fn parse_espi(text: &str, service_point: Option<&str>) -> Result<ParsedFile, DomainError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let line_of = |pos: usize| {
        text.as_bytes()[..pos.min(text.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    };
    let bad =
        |pos: usize, what: String| DomainError::Invalid(format!("line {}: {what}", line_of(pos)));
    let mut path: Vec<String> = Vec::new();
    let mut entry_title: Option<String> = None;
    let mut entry_is_usage_point = false;
    let mut usage_points: Vec<String> = Vec::new();
    let mut multiplier: Option<i32> = None;
    let mut uom: Option<i64> = None;
    // (line, start, duration, value) as read, before the ReadingType is applied.
    let mut raw: Vec<RawReading> = Vec::new();
    let mut saw_feed = false;
    loop {
        let pos = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|e| bad(pos, format!("the XML cannot be read: {e}")))?;
        match event {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                match name.as_str() {
                    "feed" => saw_feed = true,
                    "entry" => {
                        entry_title = None;
                        entry_is_usage_point = false;
                    }
                    "UsagePoint" => entry_is_usage_point = true,
                    "IntervalReading" => {
                        // `pos` is before any skipped whitespace: count to the tag itself.
                        let at = pos + text[pos..].find('<').unwrap_or(0);
                        raw.push((line_of(at), None, None, None))
                    }
                    _ => {}
                }
                path.push(name);
            }
            Event::Empty(e) if e.local_name().as_ref() == b"UsagePoint" => {
                entry_is_usage_point = true;
            }
            Event::End(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if name == "entry" && entry_is_usage_point {
                    usage_points.push(entry_title.clone().unwrap_or_default());
                }
                path.pop();
            }
            Event::Text(t) => {
                let value = t
                    .unescape()
                    .map_err(|e| bad(pos, format!("the XML cannot be read: {e}")))?
                    .trim()
                    .to_string();
                let here = path.last().map(String::as_str).unwrap_or("");
                let parent = path
                    .len()
                    .checked_sub(2)
                    .map(|i| path[i].as_str())
                    .unwrap_or("");
                match (parent, here) {
                    ("entry", "title") => entry_title = Some(value),
                    ("ReadingType", "powerOfTenMultiplier") => {
                        multiplier = Some(value.parse().map_err(|_| {
                            bad(
                                pos,
                                format!("powerOfTenMultiplier `{value}` is not a whole number"),
                            )
                        })?)
                    }
                    ("ReadingType", "uom") => {
                        uom = Some(value.parse().map_err(|_| {
                            bad(pos, format!("uom `{value}` is not a whole number"))
                        })?)
                    }
                    ("timePeriod", "start") if path.iter().any(|p| p == "IntervalReading") => {
                        if let Some(r) = raw.last_mut() {
                            r.1 = Some(value)
                        }
                    }
                    ("timePeriod", "duration") if path.iter().any(|p| p == "IntervalReading") => {
                        if let Some(r) = raw.last_mut() {
                            r.2 = Some(value)
                        }
                    }
                    ("IntervalReading", "value") => {
                        if let Some(r) = raw.last_mut() {
                            r.3 = Some(value)
                        }
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_feed {
        return Err(DomainError::Invalid(
            "not a Green Button ESPI feed: no Atom <feed> element".into(),
        ));
    }
    let sp = match service_point.map(str::trim).filter(|s| !s.is_empty()) {
        Some(sp) => sp.to_string(),
        None => {
            usage_points.dedup();
            match usage_points.as_slice() {
                [one] if !one.is_empty() => one.clone(),
                [] | [_] => return Err(DomainError::Invalid(
                    "no service point: give the UsagePoint entry a title or pass ?service_point="
                        .into(),
                )),
                _ => {
                    return Err(DomainError::Invalid(
                        "more than one UsagePoint: import one service point per file".into(),
                    ))
                }
            }
        }
    };
    match uom {
        Some(72) => {}
        Some(other) => {
            return Err(DomainError::Invalid(format!(
                "ReadingType uom {other} is not supported: expected 72 (Wh)"
            )))
        }
        None => {
            return Err(DomainError::Invalid(
                "no ReadingType with uom 72 (Wh) in the feed".into(),
            ))
        }
    }
    let scale = 10f64.powi(multiplier.unwrap_or(0)) / 1000.0;
    let mut out = ParsedFile::default();
    for (line, start, duration, value) in raw {
        let parsed = (|| {
            let start: i64 = start
                .ok_or("IntervalReading without timePeriod/start")?
                .parse()
                .map_err(|_| "timePeriod/start is not whole epoch seconds".to_string())?;
            let duration: i64 = duration
                .ok_or("IntervalReading without timePeriod/duration")?
                .parse()
                .map_err(|_| "timePeriod/duration is not whole seconds".to_string())?;
            let value: f64 = value
                .ok_or("IntervalReading without value")?
                .parse()
                .map_err(|_| "value is not a number".to_string())?;
            if duration % 60 != 0 {
                return Err(format!("duration {duration} s is not whole minutes"));
            }
            let start = DateTime::from_timestamp(start, 0)
                .ok_or_else(|| format!("start {start} is out of range"))?;
            let r = Reading {
                service_point_id: sp.clone(),
                start,
                minutes: duration / 60,
                kwh: value * scale,
            };
            check_values(&r)?;
            Ok::<_, String>(r)
        })();
        match parsed {
            Ok(r) => out.rows.push((line, r)),
            Err(reason) => out.rejections.push(reject(line, reason)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn espi(title: &str, multiplier: i32, uom: i32, readings: &[(i64, i64, i64)]) -> String {
        let mut s = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
             <entry><title>{title}</title><content><UsagePoint xmlns=\"http://naesb.org/espi\"><ServiceCategory><kind>0</kind></ServiceCategory></UsagePoint></content></entry>\n\
             <entry><title>Energy</title><content><ReadingType xmlns=\"http://naesb.org/espi\"><powerOfTenMultiplier>{multiplier}</powerOfTenMultiplier><uom>{uom}</uom></ReadingType></content></entry>\n\
             <entry><content><IntervalBlock xmlns=\"http://naesb.org/espi\">\n"
        );
        for (start, duration, value) in readings {
            s.push_str(&format!(
                "<IntervalReading><timePeriod><duration>{duration}</duration><start>{start}</start></timePeriod><value>{value}</value></IntervalReading>\n"
            ));
        }
        s.push_str("</IntervalBlock></content></entry>\n</feed>\n");
        s
    }

    #[test]
    fn an_espi_feed_gives_kwh_from_wh_and_the_multiplier() {
        let start = t("2026-07-01T10:00:00Z").timestamp();
        let xml = espi(
            "SP-9",
            0,
            72,
            &[
                (start, 900, 1250),
                (start + 900, 900, -5),
                (start + 1800, 900, 500),
            ],
        );
        let p = parse_espi(&xml, None).unwrap();
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.rows[0].1.service_point_id, "SP-9");
        assert_eq!(p.rows[0].1.kwh, 1.25);
        assert_eq!(p.rows[0].1.minutes, 15);
        assert_eq!(p.rows[0].0, 6, "line of the first IntervalReading");
        assert_eq!(p.rejections.len(), 1);
        assert_eq!(p.rejections[0].line, 7);
        assert!(p.rejections[0].reason.contains("negative"));
        // ×10³ Wh = kWh; the query parameter names the service point.
        let xml = espi("SP-9", 3, 72, &[(start, 3600, 2)]);
        let p = parse_espi(&xml, Some("SP-7")).unwrap();
        assert_eq!(p.rows[0].1.kwh, 2.0);
        assert_eq!(p.rows[0].1.service_point_id, "SP-7");
        assert_eq!(p.rows[0].1.minutes, 60);
        let e = parse_espi(&espi("SP-9", 0, 38, &[(start, 900, 1)]), None).unwrap_err();
        assert!(e.to_string().contains("uom 38"), "{e}");
        assert!(parse_espi("<feed><entry>", None).is_err());
        // An empty `<UsagePoint/>` element names its entry too.
        let xml = espi("SP-9", 0, 72, &[(start, 900, 1)]).replace(
            "<UsagePoint xmlns=\"http://naesb.org/espi\"><ServiceCategory><kind>0</kind></ServiceCategory></UsagePoint>",
            "<UsagePoint/>",
        );
        assert!(xml.contains("<UsagePoint/>"));
        assert_eq!(
            parse_espi(&xml, None).unwrap().rows[0].1.service_point_id,
            "SP-9"
        );
        assert!(parse_espi("not xml at all", None).is_err());
    }
}
