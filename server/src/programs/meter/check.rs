//! Checking meter readings, without reading or writing anything: each reading's own values,
//! the file as a whole (duplicates, overlaps, gaps), the file against what is stored, and the
//! report that sums it up.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::{reject, Format, Gap, ImportReport, ParsedFile, Reading, Rejection, REPORT_LIST_LIMIT};
use crate::error::DomainError;

/// Stored readings of one service point: start → (minutes, kWh).
pub(super) type StoredReadings = BTreeMap<DateTime<Utc>, (i64, f64)>;

/// Checks one reading's own values (interval length, grid, kWh).
pub(super) fn check_values(r: &Reading) -> Result<(), String> {
    if r.minutes != 15 && r.minutes != 60 {
        return Err(format!(
            "interval_minutes must be 15 or 60, got {}",
            r.minutes
        ));
    }
    if r.start.timestamp().rem_euclid(r.minutes * 60) != 0 {
        return Err(format!(
            "interval start {} is not on the {}-minute grid (UTC)",
            r.start.to_rfc3339(),
            r.minutes
        ));
    }
    if !r.kwh.is_finite() {
        return Err("kwh is not a number".into());
    }
    if r.kwh < 0.0 {
        return Err(format!("kwh is negative ({})", r.kwh));
    }
    if r.service_point_id.is_empty() {
        return Err("service_point_id is empty".into());
    }
    Ok(())
}

/// Checks the file as a whole: duplicates and overlaps per service point are rejected (the
/// earlier-starting, then earlier-line, reading is kept); gaps are listed.
pub fn check_file(parsed: ParsedFile) -> (Vec<(usize, Reading)>, Vec<Rejection>, Vec<Gap>) {
    let ParsedFile {
        mut rows,
        mut rejections,
    } = parsed;
    rows.sort_by(|a, b| {
        (&a.1.service_point_id, a.1.start, a.0).cmp(&(&b.1.service_point_id, b.1.start, b.0))
    });
    let mut kept: Vec<(usize, Reading)> = Vec::with_capacity(rows.len());
    let mut gaps = Vec::new();
    for (line, r) in rows {
        if let Some((prev_line, prev)) = kept.last() {
            if prev.service_point_id == r.service_point_id {
                if prev.start == r.start {
                    rejections.push(reject(
                        line,
                        format!("duplicates the reading on line {prev_line}"),
                    ));
                    continue;
                }
                if r.start < prev.end() {
                    rejections.push(reject(
                        line,
                        format!("overlaps the reading on line {prev_line}"),
                    ));
                    continue;
                }
                if r.start > prev.end() {
                    gaps.push(Gap {
                        service_point_id: r.service_point_id.clone(),
                        from: prev.end(),
                        to: r.start,
                    });
                }
            }
        }
        kept.push((line, r));
    }
    rejections.sort_by_key(|r| r.line);
    (kept, rejections, gaps)
}

/// The name an import is recorded under: trimmed, `upload` when blank, at most 200 characters.
pub(super) fn file_name(given: &str) -> Result<&str, DomainError> {
    let file_name = given.trim();
    let file_name = if file_name.is_empty() {
        "upload"
    } else {
        file_name
    };
    if file_name.chars().count() > 200 {
        return Err(DomainError::Invalid(
            "the file name is longer than 200 characters".into(),
        ));
    }
    Ok(file_name)
}

/// The service points the rows name, each once.
pub(super) fn service_points(rows: &[(usize, Reading)]) -> Vec<String> {
    let set: HashSet<&str> = rows
        .iter()
        .map(|(_, r)| r.service_point_id.as_str())
        .collect();
    set.into_iter().map(String::from).collect()
}

/// Per service point, the time the rows span: (earliest start, latest end).
pub(super) fn spans(rows: &[(usize, Reading)]) -> HashMap<&str, (DateTime<Utc>, DateTime<Utc>)> {
    let mut range: HashMap<&str, (DateTime<Utc>, DateTime<Utc>)> = HashMap::new();
    for (_, r) in rows {
        let e = range
            .entry(r.service_point_id.as_str())
            .or_insert((r.start, r.end()));
        e.0 = e.0.min(r.start);
        e.1 = e.1.max(r.end());
    }
    range
}

/// The file's readings against what is stored.
#[derive(Debug, Default)]
pub(super) struct Checked {
    /// To store.
    pub accepted: Vec<Reading>,
    /// Identical to a stored reading: neither stored again nor rejected.
    pub unchanged: usize,
    /// Every rejection (the file's own and these), in line order.
    pub rejections: Vec<Rejection>,
}

/// Rejects rows of unknown service points and rows that conflict with or overlap a stored
/// reading; counts rows identical to a stored one as unchanged. `rejections` are the file's
/// own, to which these are added.
pub(super) fn against_stored(
    rows: Vec<(usize, Reading)>,
    known: &HashSet<String>,
    stored: &HashMap<String, StoredReadings>,
    mut rejections: Vec<Rejection>,
) -> Checked {
    let mut accepted: Vec<Reading> = Vec::with_capacity(rows.len());
    let mut unchanged = 0usize;
    for (line, r) in rows {
        if !known.contains(&r.service_point_id) {
            rejections.push(reject(
                line,
                format!("unknown service point `{}`", r.service_point_id),
            ));
            continue;
        }
        if let Some(map) = stored.get(&r.service_point_id) {
            if let Some((minutes, kwh)) = map.get(&r.start) {
                if *minutes == r.minutes && (kwh - r.kwh).abs() <= 1e-9 * kwh.abs().max(1.0) {
                    unchanged += 1;
                } else {
                    rejections.push(reject(
                        line,
                        format!(
                            "conflicts with stored reading ({kwh} kWh over {minutes} min at {})",
                            r.start.to_rfc3339()
                        ),
                    ));
                }
                continue;
            }
            let before = map.range(..r.start).next_back();
            let after = map.range(r.start..).next();
            let overlaps_before = before
                .map(|(s, (m, _))| *s + chrono::Duration::minutes(*m) > r.start)
                .unwrap_or(false);
            let overlaps_after = after.map(|(s, _)| *s < r.end()).unwrap_or(false);
            if overlaps_before || overlaps_after {
                let (s, _) = if overlaps_before {
                    before.unwrap()
                } else {
                    after.unwrap()
                };
                rejections.push(reject(
                    line,
                    format!("overlaps the stored reading starting {}", s.to_rfc3339()),
                ));
                continue;
            }
        }
        accepted.push(r);
    }
    rejections.sort_by_key(|r| r.line);
    Checked {
        accepted,
        unchanged,
        rejections,
    }
}

/// The report of an import not yet stored (its id is set once it is).
pub(super) fn report(
    file_name: &str,
    sha256: &str,
    format: Format,
    accepted: usize,
    unchanged: usize,
    rejections: Vec<Rejection>,
    gaps: Vec<Gap>,
) -> ImportReport {
    let rows_rejected = rejections.len();
    let gaps_found = gaps.len();
    let message = format!(
        "{file_name}: {accepted} reading(s) stored, {unchanged} already stored, {rows_rejected} rejected, {gaps_found} gap(s)."
    );
    ImportReport {
        import_id: 0,
        file_name: file_name.to_string(),
        sha256: sha256.to_string(),
        format,
        duplicate: false,
        rows_accepted: accepted,
        rows_unchanged: unchanged,
        rows_rejected,
        rejections: rejections.into_iter().take(REPORT_LIST_LIMIT).collect(),
        gaps_found,
        gaps: gaps.into_iter().take(REPORT_LIST_LIMIT).collect(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::programs::meter::parse_csv;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn duplicates_and_overlaps_in_a_file_are_rejected_and_gaps_reported() {
        let csv = "service_point_id,interval_start,interval_minutes,kwh\n\
                   SP-1,2026-07-01T10:00:00Z,15,1\n\
                   SP-1,2026-07-01T10:00:00Z,15,1\n\
                   SP-1,2026-07-01T11:00:00Z,60,1\n\
                   SP-1,2026-07-01T11:15:00Z,15,1\n\
                   SP-2,2026-07-01T10:00:00Z,15,1\n";
        let (rows, rej, gaps) = check_file(parse_csv(csv).unwrap());
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rej,
            vec![
                reject(3, "duplicates the reading on line 2"),
                reject(5, "overlaps the reading on line 4"),
            ]
        );
        assert_eq!(gaps.len(), 1);
        assert_eq!(gaps[0].from, t("2026-07-01T10:15:00Z"));
        assert_eq!(gaps[0].to, t("2026-07-01T11:00:00Z"));
    }

    fn reading(sp: &str, start: &str, minutes: i64, kwh: f64) -> Reading {
        Reading {
            service_point_id: sp.into(),
            start: t(start),
            minutes,
            kwh,
        }
    }

    #[test]
    fn readings_are_checked_against_the_stored_ones() {
        let rows = vec![
            (2, reading("SP-1", "2026-07-01T10:00:00Z", 15, 1.0)),
            (3, reading("SP-1", "2026-07-01T10:15:00Z", 15, 2.0)),
            (4, reading("SP-1", "2026-07-01T10:30:00Z", 15, 1.0)),
            (5, reading("SP-1", "2026-07-01T11:00:00Z", 15, 1.0)),
            (6, reading("SP-9", "2026-07-01T10:00:00Z", 15, 1.0)),
        ];
        let known: HashSet<String> = ["SP-1".to_string()].into();
        let mut stored_sp1 = StoredReadings::new();
        stored_sp1.insert(t("2026-07-01T10:00:00Z"), (15, 1.0));
        stored_sp1.insert(t("2026-07-01T10:15:00Z"), (15, 1.5));
        stored_sp1.insert(t("2026-07-01T10:45:00Z"), (60, 4.0));
        let stored = HashMap::from([("SP-1".to_string(), stored_sp1)]);
        let checked = against_stored(rows, &known, &stored, vec![reject(7, "from the file")]);
        assert_eq!(checked.unchanged, 1);
        assert_eq!(checked.accepted.len(), 1);
        assert_eq!(checked.accepted[0].start, t("2026-07-01T10:30:00Z"));
        let lines: Vec<usize> = checked.rejections.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 5, 6, 7]);
        assert!(checked.rejections[0]
            .reason
            .contains("conflicts with stored reading"));
        assert!(checked.rejections[1]
            .reason
            .contains("overlaps the stored reading"));
        assert!(checked.rejections[2]
            .reason
            .contains("unknown service point `SP-9`"));
    }

    #[test]
    fn a_blank_file_name_is_upload_and_a_long_one_is_refused() {
        assert_eq!(file_name("  a.csv ").unwrap(), "a.csv");
        assert_eq!(file_name(" ").unwrap(), "upload");
        assert!(file_name(&"x".repeat(201)).is_err());
    }
}
