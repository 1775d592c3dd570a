//! Interval meter data import: CSV and Green Button ESPI XML files are parsed and validated
//! whole, then the accepted readings, the import record and its audit row are written in one
//! transaction. The same file (same sha256) is imported once; a reading already stored with
//! another value is rejected, never overwritten.
//!
//! Rules (also in the README, section "Measurement"):
//! - A timestamp must carry an explicit UTC offset (`Z` or `±hh:mm`); one without is "in the
//!   wrong zone" and its row is rejected. A start must lie on the interval grid counted in UTC
//!   (a 15-minute reading starts at :00, :15, :30 or :45 UTC, an hourly one at :00 UTC), so an
//!   hourly reading stamped `+05:30` is off the grid and rejected.
//! - Interval length 15 or 60 minutes; kWh finite and not negative.
//! - Two readings of one service point with the same start, or overlapping, in one file: the
//!   first line (in time order) is kept, the later one rejected naming the first.
//! - Unknown service points, and readings that conflict with or overlap a stored reading of
//!   another value or length, are rejected. A reading identical to the stored one is
//!   "unchanged" (neither stored again nor rejected).
//! - Gaps (time between one reading's end and the next one's start for a service point inside
//!   the file) are only reported: the rows around a gap are good data.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use quick_xml::events::Event;
use quick_xml::Reader;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::calendar::Calendar;
use crate::db::audit::{append, NewAuditEntry};
use crate::db::meter::{self as meter_store, NewImport};
use crate::db::{Db, Tx};
use crate::error::DomainError;

/// At most this many rejections and gaps are listed in a report (all are counted).
pub const REPORT_LIST_LIMIT: usize = 1000;

/// One interval reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub service_point_id: String,
    pub start: DateTime<Utc>,
    pub minutes: i64,
    pub kwh: f64,
}

impl Reading {
    pub fn end(&self) -> DateTime<Utc> {
        self.start + chrono::Duration::minutes(self.minutes)
    }
}

/// A rejected row: its line in the file (1 = first line) and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    pub line: usize,
    pub reason: String,
}

/// Missing data between two readings of a service point in the file (reported only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Gap {
    #[serde(alias = "service_point_id")]
    pub service_point_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Espi,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Espi => "espi",
        }
    }
}

/// A file read row by row: the readings that parsed, with their line, and the rows that did not.
#[derive(Debug, Default)]
pub struct ParsedFile {
    pub rows: Vec<(usize, Reading)>,
    pub rejections: Vec<Rejection>,
}

/// What an import did.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    #[serde(alias = "import_id")]
    pub import_id: i64,
    #[serde(alias = "file_name")]
    pub file_name: String,
    pub sha256: String,
    pub format: Format,
    /// True when this content was imported before: nothing changed, this is that report.
    pub duplicate: bool,
    /// Readings stored by this import.
    #[serde(alias = "rows_accepted")]
    pub rows_accepted: usize,
    /// Readings identical to ones already stored (not stored again).
    #[serde(alias = "rows_unchanged")]
    pub rows_unchanged: usize,
    #[serde(alias = "rows_rejected")]
    pub rows_rejected: usize,
    /// The first rejections, in line order.
    pub rejections: Vec<Rejection>,
    #[serde(alias = "gaps_found")]
    pub gaps_found: usize,
    /// The first gaps, per service point in time order.
    pub gaps: Vec<Gap>,
    pub message: String,
}

fn reject(line: usize, reason: impl Into<String>) -> Rejection {
    Rejection {
        line,
        reason: reason.into(),
    }
}

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

/// Checks one reading's own values (interval length, grid, kWh).
fn check_values(r: &Reading) -> Result<(), String> {
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

/// Which kind of file an import reads.
#[derive(Debug, Clone)]
pub enum FileKind {
    Csv,
    /// ESPI XML; the service point given by the caller, if any.
    Espi {
        service_point: Option<String>,
    },
}

pub fn sha256_hex(content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Validates and stores a file (see the module documentation).
pub async fn import(
    db: &Db,
    actor: &str,
    file_name: &str,
    content: &str,
    kind: FileKind,
    now: DateTime<Utc>,
) -> Result<ImportReport, DomainError> {
    let file_name = file_name.trim();
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
    let (format, parsed) = match &kind {
        FileKind::Csv => (Format::Csv, parse_csv(content)?),
        FileKind::Espi { service_point } => {
            (Format::Espi, parse_espi(content, service_point.as_deref())?)
        }
    };
    let sha = sha256_hex(content);
    let (rows, mut rejections, gaps) = check_file(parsed);

    let mut tx = db.begin().await?;
    if let Some(previous) = previous_import(&mut tx, &sha).await? {
        drop(tx);
        return Ok(previous);
    }
    // Unknown service points.
    let sps: Vec<String> = {
        let set: HashSet<&str> = rows
            .iter()
            .map(|(_, r)| r.service_point_id.as_str())
            .collect();
        set.into_iter().map(String::from).collect()
    };
    let known = known_service_points(&mut tx, &sps).await?;
    // Stored readings around the file's range, per known service point.
    let mut range: HashMap<&str, (DateTime<Utc>, DateTime<Utc>)> = HashMap::new();
    for (_, r) in &rows {
        let e = range
            .entry(r.service_point_id.as_str())
            .or_insert((r.start, r.end()));
        e.0 = e.0.min(r.start);
        e.1 = e.1.max(r.end());
    }
    let mut stored: HashMap<String, BTreeMap<DateTime<Utc>, (i64, f64)>> = HashMap::new();
    for (sp, (from, to)) in &range {
        if !known.contains(*sp) {
            continue;
        }
        let found =
            stored_readings(&mut tx, sp, *from - chrono::Duration::minutes(60), *to).await?;
        if !found.is_empty() {
            stored.insert(sp.to_string(), found);
        }
    }
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

    let rows_rejected = rejections.len();
    let gaps_found = gaps.len();
    let message = format!(
        "{file_name}: {} reading(s) stored, {unchanged} already stored, {rows_rejected} rejected, {gaps_found} gap(s).",
        accepted.len()
    );
    let mut report = ImportReport {
        import_id: 0,
        file_name: file_name.to_string(),
        sha256: sha.clone(),
        format,
        duplicate: false,
        rows_accepted: accepted.len(),
        rows_unchanged: unchanged,
        rows_rejected,
        rejections: rejections.into_iter().take(REPORT_LIST_LIMIT).collect(),
        gaps_found,
        gaps: gaps.into_iter().take(REPORT_LIST_LIMIT).collect(),
        message,
    };
    let report_json = serde_json::to_string(&report)
        .map_err(|e| DomainError::Internal(format!("report: {e}")))?;
    let import_id = meter_store::insert_import(
        &mut tx,
        &NewImport {
            file_name,
            sha256: &sha,
            format: format.as_str(),
            imported_by: actor,
            rows_accepted: report.rows_accepted as i32,
            rows_rejected: report.rows_rejected as i32,
            report_json: &report_json,
        },
        now,
    )
    .await?;
    report.import_id = import_id;
    super::meter_days::store(&mut tx, Some(import_id), &accepted).await?;
    append(
        &mut tx,
        NewAuditEntry::new(actor, "meter_data.import", "meter_import", import_id).after(json!({
            "file_name": file_name,
            "sha256": sha,
            "format": format.as_str(),
            "rows_accepted": report.rows_accepted,
            "rows_unchanged": report.rows_unchanged,
            "rows_rejected": report.rows_rejected,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

/// The 50 most recent imports and the report of `selected` (for the console).
pub async fn imports_view(
    db: &Db,
    cal: Calendar,
    selected: Option<i64>,
) -> Result<app::model::MeterImportView, DomainError> {
    use app::model::{MeterImportDetail, MeterImportRow, MeterImportView, MeterRejectionDto};
    let imports = meter_store::recent_imports(db)
        .await?
        .into_iter()
        .map(|r| MeterImportRow {
            id: r.id,
            file_name: r.file_name,
            format: r.format,
            imported_by: r.imported_by,
            imported_at: r.imported_at,
            rows_accepted: r.rows_accepted.into(),
            rows_rejected: r.rows_rejected.into(),
        })
        .collect();
    let selected = match selected {
        None => None,
        Some(id) => {
            let json = meter_store::import_report(db, id).await?;
            let json = json.ok_or_else(|| DomainError::NotFound(format!("import {id}")))?;
            let r: ImportReport = serde_json::from_str(&json)
                .map_err(|e| DomainError::Internal(format!("stored import report {id}: {e}")))?;
            Some(MeterImportDetail {
                id,
                file_name: r.file_name,
                message: r.message,
                rejections: r
                    .rejections
                    .into_iter()
                    .map(|x| MeterRejectionDto {
                        line: x.line as i64,
                        reason: x.reason,
                    })
                    .collect(),
                gaps: r
                    .gaps
                    .iter()
                    .map(|g| {
                        format!(
                            "{}: no data from {} to {}",
                            g.service_point_id,
                            cal.show(g.from),
                            cal.show(g.to)
                        )
                    })
                    .collect(),
            })
        }
    };
    Ok(MeterImportView { imports, selected })
}

async fn previous_import(tx: &mut Tx, sha: &str) -> Result<Option<ImportReport>, DomainError> {
    let row = meter_store::import_by_sha(tx, sha).await?;
    let Some((id, json)) = row else {
        return Ok(None);
    };
    let mut report: ImportReport = serde_json::from_str(&json)
        .map_err(|e| DomainError::Internal(format!("stored import report {id}: {e}")))?;
    report.import_id = id;
    report.duplicate = true;
    report.message = format!(
        "This file was already imported (import #{id}, same sha256): nothing changed. {}",
        report.message
    );
    Ok(Some(report))
}

async fn known_service_points(tx: &mut Tx, sps: &[String]) -> Result<HashSet<String>, DomainError> {
    Ok(meter_store::known_service_points(tx, sps)
        .await?
        .into_iter()
        .collect())
}

async fn stored_readings(
    tx: &mut Tx,
    sp: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<BTreeMap<DateTime<Utc>, (i64, f64)>, DomainError> {
    let rows = meter_store::readings_between(tx, sp, from, to).await?;
    Ok(rows
        .into_iter()
        .map(|(s, m, k)| (s, (m as i64, k)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn an_import_report_stored_before_camel_case_still_reads() {
        let old = r#"{"import_id":3,"file_name":"a.csv","sha256":"ab","format":"csv","duplicate":false,
            "rows_accepted":2,"rows_unchanged":0,"rows_rejected":1,
            "rejections":[{"line":4,"reason":"bad kWh"}],"gaps_found":1,
            "gaps":[{"service_point_id":"SP-1","from":"2026-07-01T10:00:00Z","to":"2026-07-01T11:00:00Z"}],
            "message":"ok"}"#;
        let r: ImportReport = serde_json::from_str(old).unwrap();
        assert_eq!((r.import_id, r.rows_accepted, r.gaps_found), (3, 2, 1));
        assert_eq!(r.gaps[0].service_point_id, "SP-1");
        let now = serde_json::to_value(&r).unwrap();
        assert_eq!(now["rowsAccepted"], 2);
        assert_eq!(now["gaps"][0]["servicePointId"], "SP-1");
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

    pub(crate) fn espi(
        title: &str,
        multiplier: i32,
        uom: i32,
        readings: &[(i64, i64, i64)],
    ) -> String {
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

    #[test]
    fn the_sha256_is_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
