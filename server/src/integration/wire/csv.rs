//! The file formats of flows 5 and 6: the reservation CSV and the outcome flat file, read all or nothing.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::device::device_key;
use super::{DeviceOutcome, OutcomeCode, ReservedDevice};

/// Header of the event device reservation CSV attachment (flow 5).
pub const RESERVATION_CSV_HEADER: [&str; 4] =
    ["headEndSystem", "nicId", "enrollmentId", "expectedKw"];
/// Fields of one line of the event device outcome flat file (flow 6), in order.
pub const OUTCOME_FLAT_FILE_FIELDS: [&str; 5] = [
    "headEndSystem",
    "nicId",
    "outcome",
    "participationStart",
    "participationEnd",
];
/// A file import lists at most this many row errors, then says how many more there were.
const MAX_ROW_ERRORS: usize = 100;

/// A broken row of a CSV or flat-file attachment. `line` is 1-based; 0 means the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct CsvRowError {
    pub line: u64,
    pub message: String,
}

/// Collects row errors of a file import, capped so a garbage file does not flood the report.
#[derive(Default)]
struct RowErrors {
    errors: Vec<CsvRowError>,
    not_listed: usize,
}

impl RowErrors {
    fn push(&mut self, line: u64, message: impl Into<String>) {
        if self.errors.len() < MAX_ROW_ERRORS {
            self.errors.push(CsvRowError {
                line,
                message: message.into(),
            });
        } else {
            self.not_listed += 1;
        }
    }

    fn push_read_error(&mut self, err: &csv::Error) {
        let line = err.position().map_or(0, csv::Position::line);
        match err.kind() {
            csv::ErrorKind::Utf8 { .. } => self.push(line, "is not valid UTF-8 text"),
            _ => self.push(line, format!("cannot be read: {err}")),
        }
    }

    fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    fn finish(mut self) -> Vec<CsvRowError> {
        if self.not_listed > 0 {
            self.errors.push(CsvRowError {
                line: 0,
                message: format!(
                    "{} more errors are not listed; fix the rows above first",
                    self.not_listed
                ),
            });
        }
        self.errors
    }
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

fn line_of(record: &csv::StringRecord) -> u64 {
    record.position().map_or(0, csv::Position::line)
}

fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(str::is_empty)
}

/// Parses the reservation CSV attachment (header [`RESERVATION_CSV_HEADER`], columns in any
/// order). All or nothing: any broken row refuses the file, and every broken row is reported
/// with its line number.
pub fn parse_reservation_csv(bytes: &[u8]) -> Result<Vec<ReservedDevice>, Vec<CsvRowError>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(strip_bom(bytes));
    let mut rows = reader.records();
    let expected_header = RESERVATION_CSV_HEADER.join(",");
    let header = match rows.next() {
        None => {
            return Err(vec![CsvRowError {
                line: 1,
                message: format!(
                    "the file is empty; it must start with the header {expected_header}"
                ),
            }])
        }
        Some(Err(err)) => {
            let mut errors = RowErrors::default();
            errors.push_read_error(&err);
            return Err(errors.finish());
        }
        Some(Ok(header)) => header,
    };
    let mut columns = [0usize; 4];
    for (slot, name) in columns.iter_mut().zip(RESERVATION_CSV_HEADER) {
        match header.iter().position(|column| column == name) {
            Some(position) => *slot = position,
            None => {
                return Err(vec![CsvRowError {
                    line: line_of(&header),
                    message: format!(
                        "the header lacks the column `{name}`; expected {expected_header}"
                    ),
                }])
            }
        }
    }

    let mut errors = RowErrors::default();
    let mut devices = Vec::new();
    let mut first_line: HashMap<(String, String), u64> = HashMap::new();
    for row in rows {
        let row = match row {
            Ok(row) => row,
            Err(err) => {
                errors.push_read_error(&err);
                continue;
            }
        };
        if is_blank(&row) {
            continue;
        }
        let line = line_of(&row);
        if row.len() != header.len() {
            errors.push(
                line,
                format!(
                    "has {} columns but the header has {}",
                    row.len(),
                    header.len()
                ),
            );
            continue;
        }
        let cell = |column: usize| row.get(columns[column]).unwrap_or_default();
        let mut problems = Vec::new();
        let enrollment_id = match cell(2) {
            "" => None,
            text => match text.parse::<i64>() {
                Ok(id) => Some(id),
                Err(_) => {
                    problems.push(format!("enrollmentId is not a whole number (got `{text}`)"));
                    None
                }
            },
        };
        let expected_kw = match cell(3).parse::<f64>() {
            Ok(kw) => kw,
            Err(_) => {
                problems.push(format!("expectedKw is not a number (got `{}`)", cell(3)));
                // Placeholder that passes the range check, so the problem is reported once.
                0.0
            }
        };
        let device = ReservedDevice {
            head_end_system: cell(0).to_owned(),
            nic_id: cell(1).to_owned(),
            enrollment_id,
            expected_kw,
        };
        problems.extend(
            device
                .problems("")
                .into_iter()
                .map(|problem| format!("{} {}", problem.field, problem.message)),
        );
        if problems.is_empty() {
            let key = device_key(&device.head_end_system, &device.nic_id);
            if let Some(first) = first_line.get(&key) {
                problems.push(format!(
                    "repeats the device {} {} of line {first}; list each device once",
                    key.0, key.1
                ));
            } else {
                first_line.insert(key, line);
            }
        }
        if problems.is_empty() {
            devices.push(device);
        }
        for problem in problems {
            errors.push(line, problem);
        }
    }
    if !errors.is_empty() {
        return Err(errors.finish());
    }
    if devices.is_empty() {
        return Err(vec![CsvRowError {
            line: line_of(&header),
            message: "the file has a header but no device rows".into(),
        }]);
    }
    Ok(devices)
}

fn parse_flat_time(field: &str, text: &str) -> Result<Option<DateTime<Utc>>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|time| Some(time.with_timezone(&Utc)))
        .map_err(|_| {
            format!("{field} is not an RFC 3339 time such as 2024-07-01T15:00:00Z (got `{text}`)")
        })
}

/// Parses the outcome flat file: one device per line,
/// `headEndSystem|nicId|outcome|participationStart|participationEnd`, times in RFC 3339 or empty;
/// an optional first line naming those fields is skipped. All or nothing, like
/// [`parse_reservation_csv`].
pub fn parse_outcome_flat_file(bytes: &[u8]) -> Result<Vec<DeviceOutcome>, Vec<CsvRowError>> {
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(b'|')
        .quoting(false)
        .trim(csv::Trim::All)
        .from_reader(strip_bom(bytes));
    let mut errors = RowErrors::default();
    let mut outcomes = Vec::new();
    let mut first_line: HashMap<(String, String), u64> = HashMap::new();
    for (position, row) in reader.into_records().enumerate() {
        let row = match row {
            Ok(row) => row,
            Err(err) => {
                errors.push_read_error(&err);
                continue;
            }
        };
        let is_header = position == 0
            && row.len() == OUTCOME_FLAT_FILE_FIELDS.len()
            && row
                .iter()
                .zip(OUTCOME_FLAT_FILE_FIELDS)
                .all(|(cell, name)| cell.eq_ignore_ascii_case(name));
        if is_header || is_blank(&row) {
            continue;
        }
        let line = line_of(&row);
        if row.len() != OUTCOME_FLAT_FILE_FIELDS.len() {
            errors.push(
                line,
                format!(
                    "has {} fields; expected {} ({})",
                    row.len(),
                    OUTCOME_FLAT_FILE_FIELDS.len(),
                    OUTCOME_FLAT_FILE_FIELDS.join("|")
                ),
            );
            continue;
        }
        let cell = |index: usize| row.get(index).unwrap_or_default();
        let mut problems = Vec::new();
        // Fields that failed to parse: their follow-on checks would only repeat the problem.
        let mut unreadable = HashSet::new();
        let outcome = OutcomeCode::parse(cell(2));
        if outcome.is_none() {
            problems.push(format!(
                "outcome has unknown code `{}`, expected one of {}",
                cell(2),
                OutcomeCode::codes()
            ));
        }
        let mut time = |index: usize, field: &'static str| match parse_flat_time(field, cell(index))
        {
            Ok(time) => time,
            Err(problem) => {
                problems.push(problem);
                unreadable.insert(field);
                None
            }
        };
        let participation_start = time(3, "participationStart");
        let participation_end = time(4, "participationEnd");
        let record = DeviceOutcome {
            head_end_system: cell(0).to_owned(),
            nic_id: cell(1).to_owned(),
            // Placeholder without rules of its own, so the other fields are still checked; the
            // unknown code is already a problem, so this record is never kept.
            outcome: outcome.unwrap_or(OutcomeCode::NonResponsive),
            participation_start,
            participation_end,
        };
        problems.extend(
            record
                .problems("")
                .into_iter()
                .filter(|problem| !unreadable.contains(problem.field.as_str()))
                .map(|problem| format!("{} {}", problem.field, problem.message)),
        );
        if problems.is_empty() {
            let key = device_key(&record.head_end_system, &record.nic_id);
            if let Some(first) = first_line.get(&key) {
                problems.push(format!(
                    "repeats the device {} {} of line {first}; list each device once",
                    key.0, key.1
                ));
            } else {
                first_line.insert(key, line);
            }
        }
        if problems.is_empty() {
            outcomes.push(record);
        }
        for problem in problems {
            errors.push(line, problem);
        }
    }
    if !errors.is_empty() {
        return Err(errors.finish());
    }
    if outcomes.is_empty() {
        return Err(vec![CsvRowError {
            line: 1,
            message: "the file has no outcome lines".into(),
        }]);
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::wire::fixtures::*;

    #[test]
    fn reservation_csv_reads_every_row_in_any_column_order() {
        let csv = "expectedKw,headEndSystem,nicId,enrollmentId\n1.5,ECOBEE,N1,42\n 0.75 , ECOBEE , N2 ,\n";
        let devices = parse_reservation_csv(csv.as_bytes()).unwrap();
        assert_eq!(
            devices,
            vec![
                ReservedDevice {
                    head_end_system: "ECOBEE".into(),
                    nic_id: "N1".into(),
                    enrollment_id: Some(42),
                    expected_kw: 1.5
                },
                ReservedDevice {
                    head_end_system: "ECOBEE".into(),
                    nic_id: "N2".into(),
                    enrollment_id: None,
                    expected_kw: 0.75
                },
            ]
        );
    }

    #[test]
    fn reservation_csv_with_two_broken_rows_reports_both_line_numbers() {
        let csv = "headEndSystem,nicId,enrollmentId,expectedKw\n\
                   ECOBEE,N1,42,1.5\n\
                   ECOBEE,N2,abc,1.0\n\
                   ECOBEE,N3,43,2.0\n\
                   ,N4,44,lots\n";
        let errors = parse_reservation_csv(csv.as_bytes()).unwrap_err();
        let lines: Vec<u64> = errors.iter().map(|err| err.line).collect();
        assert_eq!(lines, [3, 5, 5], "{errors:?}");
        assert!(
            errors[0].message.starts_with("enrollmentId"),
            "{}",
            errors[0]
        );
        assert!(errors
            .iter()
            .any(|err| err.message.starts_with("headEndSystem")));
        assert!(errors.iter().any(|err| err.message.contains("lots")));
    }

    #[test]
    fn reservation_csv_without_the_expected_header_is_refused() {
        let errors = parse_reservation_csv(b"ECOBEE,N1,42,1.5\n").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 1);
        assert!(errors[0].message.contains("headEndSystem"), "{}", errors[0]);
        assert!(parse_reservation_csv(b"").is_err());
        assert!(parse_reservation_csv(b"headEndSystem,nicId,enrollmentId,expectedKw\n").is_err());
    }

    #[test]
    fn reservation_csv_listing_a_device_twice_is_refused_at_the_second_line() {
        let csv = "headEndSystem,nicId,enrollmentId,expectedKw\nECOBEE,n1,,1\nECOBEE,N1,,1\n";
        let errors = parse_reservation_csv(csv.as_bytes()).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 3);
        assert!(errors[0].message.contains("line 2"), "{}", errors[0]);
    }

    #[test]
    fn outcome_flat_file_reads_every_line_and_skips_a_header() {
        let file = "headEndSystem|nicId|outcome|participationStart|participationEnd\n\
                    ECOBEE|N1|D1SP|2024-07-01T15:00:00Z|2024-07-01T17:00:00Z\n\
                    ECOBEE|N2|D1IO|2024-07-01T15:00:00Z|2024-07-01T15:30:00-05:00\n\
                    \n\
                    ECOBEE|N3|D1ND||\n";
        let outcomes = parse_outcome_flat_file(file.as_bytes()).unwrap();
        assert_eq!(outcomes.len(), 3);
        assert_eq!(
            outcomes[1].participation_end,
            Some(time("2024-07-01T20:30:00Z"))
        );
        assert_eq!(outcomes[2].outcome, OutcomeCode::NonResponsive);
        assert_eq!(outcomes[2].participation_start, None);
    }

    #[test]
    fn outcome_flat_file_is_all_or_nothing() {
        let file = "ECOBEE|N1|D1SP|2024-07-01T15:00:00Z|2024-07-01T17:00:00Z\n\
                    ECOBEE|N2|D1XX||\n\
                    ECOBEE|N3|D1ND||\n\
                    ECOBEE|N4|D1SP|soon|\n\
                    ECOBEE|N5|D1ND\n";
        let errors = parse_outcome_flat_file(file.as_bytes()).unwrap_err();
        let lines: Vec<u64> = errors.iter().map(|err| err.line).collect();
        assert_eq!(lines, [2, 4, 4, 5], "{errors:?}");
        assert!(errors[0].message.contains("outcome") && errors[0].message.contains("D1XX"));
        assert!(
            errors[1].message.starts_with("participationStart")
                && errors[1].message.contains("soon")
        );
        assert!(
            errors[2]
                .message
                .starts_with("participationEnd is required"),
            "{}",
            errors[2]
        );
    }
}
