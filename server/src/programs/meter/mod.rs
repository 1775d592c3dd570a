//! Interval meter data import: CSV and Green Button ESPI XML files are parsed (`parse`,
//! `espi`) and checked whole (`check`), then the accepted readings, the import record and its
//! audit row are written in one transaction (`import`; the SQL is in `db/meter.rs`); `view`
//! reads the imports back for the console. This module holds the types they share. The same file (same sha256) is imported once; a reading already stored with
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

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod check;
mod espi;
mod import;
mod parse;
mod view;

pub use check::check_file;
pub use espi::parse_espi;
pub use import::{import, sha256_hex};
pub use parse::{parse_csv, parse_timestamp};
pub use view::imports_view;

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

pub(crate) fn reject(line: usize, reason: impl Into<String>) -> Rejection {
    Rejection {
        line,
        reason: reason.into(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
