//! Reading a meter data CSV file row by row (and the RFC 3339 timestamps both file formats
//! share): a wrong header refuses the file, a bad row only that row.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::check::check_values;
use super::{reject, ParsedFile, Reading};
use crate::error::DomainError;

/// Reads an RFC 3339 timestamp with an explicit offset.
pub fn parse_timestamp(raw: &str) -> Result<DateTime<Utc>, String> {
    let raw = raw.trim();
    match DateTime::parse_from_rfc3339(raw) {
        Ok(t) => Ok(t.with_timezone(&Utc)),
        Err(_) => {
            let naive = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S")
                .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S"))
                .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M"));
            if naive.is_ok() {
                Err(format!(
                    "timestamp `{raw}` has no UTC offset (wrong zone): add Z or ±hh:mm"
                ))
            } else {
                Err(format!("timestamp `{raw}` is not RFC 3339"))
            }
        }
    }
}

const CSV_COLUMNS: [&str; 4] = [
    "service_point_id",
    "interval_start",
    "interval_minutes",
    "kwh",
];

/// Parses `service_point_id,interval_start,interval_minutes,kwh` (the header is required;
/// columns in any order). A wrong header rejects the file; a bad row only that row.
pub fn parse_csv(text: &str) -> Result<ParsedFile, DomainError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| DomainError::Invalid(format!("line 1: the header cannot be read: {e}")))?
        .clone();
    if headers.iter().all(|h| h.is_empty()) {
        return Err(DomainError::Invalid(
            "the file is empty: expected the header service_point_id,interval_start,interval_minutes,kwh".into(),
        ));
    }
    for h in headers.iter() {
        if !CSV_COLUMNS.contains(&h) {
            return Err(DomainError::Invalid(format!(
                "line 1: unknown column `{h}` (expected service_point_id,interval_start,interval_minutes,kwh)"
            )));
        }
    }
    let mut index = [0usize; 4];
    for (i, name) in CSV_COLUMNS.iter().enumerate() {
        index[i] = headers
            .iter()
            .position(|h| h == *name)
            .ok_or_else(|| DomainError::Invalid(format!("line 1: missing column `{name}`")))?;
    }
    if headers.len() != 4 {
        return Err(DomainError::Invalid(
            "line 1: a column is named twice".into(),
        ));
    }
    let mut out = ParsedFile::default();
    let mut record = csv::StringRecord::new();
    loop {
        let line_hint = reader.position().line() as usize;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                out.rejections
                    .push(reject(line_hint, format!("the row cannot be read: {e}")));
                continue;
            }
        }
        let line = record
            .position()
            .map(|p| p.line() as usize)
            .unwrap_or(line_hint);
        if record.iter().all(|f| f.is_empty()) {
            continue;
        }
        if record.len() != 4 {
            out.rejections.push(reject(
                line,
                format!("expected 4 fields, found {}", record.len()),
            ));
            continue;
        }
        match csv_row(&record, &index) {
            Ok(r) => out.rows.push((line, r)),
            Err(reason) => out.rejections.push(reject(line, reason)),
        }
    }
    Ok(out)
}

fn csv_row(record: &csv::StringRecord, index: &[usize; 4]) -> Result<Reading, String> {
    let sp = record[index[0]].to_string();
    let start = parse_timestamp(&record[index[1]])?;
    let minutes: i64 = record[index[2]].parse().map_err(|_| {
        format!(
            "interval_minutes `{}` is not a whole number",
            &record[index[2]]
        )
    })?;
    let kwh: f64 = record[index[3]]
        .parse()
        .map_err(|_| format!("kwh `{}` is not a number", &record[index[3]]))?;
    let r = Reading {
        service_point_id: sp,
        start,
        minutes,
        kwh,
    };
    check_values(&r)?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_good_csv_parses_with_line_numbers_and_offsets_become_utc() {
        let csv = "service_point_id,interval_start,interval_minutes,kwh\n\
                   SP-1,2026-07-01T10:00:00Z,15,1.5\n\
                   SP-1,2026-07-01T12:15:00+02:00,15,0.25\n";
        let p = parse_csv(csv).unwrap();
        assert!(p.rejections.is_empty(), "{:?}", p.rejections);
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.rows[0].0, 2);
        assert_eq!(p.rows[1].0, 3);
        assert_eq!(p.rows[1].1.start, t("2026-07-01T10:15:00Z"));
        assert_eq!(p.rows[1].1.kwh, 0.25);
    }

    #[test]
    fn bad_rows_are_rejected_with_their_line_and_reason() {
        let csv = "service_point_id,interval_start,interval_minutes,kwh\n\
                   SP-1,2026-07-01T10:00:00,15,1.5\n\
                   SP-1,2026-07-01T10:05:00Z,15,1.5\n\
                   SP-1,2026-07-01T10:15:00Z,30,1.5\n\
                   SP-1,2026-07-01T10:30:00Z,15,-1\n\
                   SP-1,2026-07-01T10:45:00Z,15,abc\n\
                   SP-1,2026-07-01T10:45:00Z,15\n\
                   SP-1,2026-07-01T11:00:00+05:30,60,1\n";
        let p = parse_csv(csv).unwrap();
        assert!(p.rows.is_empty());
        let lines: Vec<usize> = p.rejections.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 7, 8]);
        assert!(p.rejections[0].reason.contains("no UTC offset"));
        assert!(p.rejections[1].reason.contains("grid"));
        assert!(p.rejections[2].reason.contains("15 or 60"));
        assert!(p.rejections[3].reason.contains("negative"));
        assert!(p.rejections[4].reason.contains("not a number"));
        assert!(p.rejections[5].reason.contains("expected 4 fields"));
        assert!(p.rejections[6].reason.contains("grid"));
    }

    #[test]
    fn a_wrong_header_rejects_the_file() {
        let e = parse_csv("sp,start,minutes,kwh\nSP-1,2026-07-01T10:00:00Z,15,1\n").unwrap_err();
        assert!(e.to_string().contains("unknown column `sp`"), "{e}");
        let e = parse_csv("service_point_id,interval_start,kwh\n").unwrap_err();
        assert!(
            e.to_string().contains("missing column `interval_minutes`"),
            "{e}"
        );
        assert!(parse_csv("").is_err());
    }
}
