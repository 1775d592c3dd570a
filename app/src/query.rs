//! Filters, sort and page of the console's tables, parsed from and written to the URL so a
//! view is shareable and the back button works. The REST API and CSV export parse the same.

use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::model::{DeviceType, EnrollmentStatus};

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 500;
const MAX_TEXT: usize = 200;

fn bad(param: &str, msg: impl std::fmt::Display) -> AppError {
    AppError::BadRequest(format!("query parameter `{param}`: {msg}"))
}

fn parse_id(param: &str, value: &str) -> Result<i64, AppError> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| {
            bad(
                param,
                format!("expected a positive whole number, got `{value}`"),
            )
        })
}

fn parse_limit(value: &str) -> Result<u32, AppError> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|v| (1..=MAX_PAGE_SIZE).contains(v))
        .ok_or_else(|| {
            bad(
                "limit",
                format!("expected a number from 1 to {MAX_PAGE_SIZE}, got `{value}`"),
            )
        })
}

fn parse_text(param: &str, value: &str) -> Result<Option<String>, AppError> {
    let value = value.trim();
    if value.chars().count() > MAX_TEXT {
        return Err(bad(param, format!("at most {MAX_TEXT} characters")));
    }
    Ok((!value.is_empty()).then(|| value.to_string()))
}

/// Page sizes, cursors and windows are numbers that no form leaves blank: an empty one is a
/// mistake worth naming (an empty filter, by contrast, means "no filter").
const NUMBERS_NEVER_BLANK: [&str; 4] = ["limit", "after", "before", "hours"];

/// Whether an empty `key=` is skipped as "no filter"; a blank number is refused instead.
fn skip_blank(key: &str, value: &str) -> Result<bool, AppError> {
    if !value.trim().is_empty() {
        return Ok(false);
    }
    if NUMBERS_NEVER_BLANK.contains(&key) {
        return Err(bad(key, "expected a number, got nothing"));
    }
    Ok(true)
}

fn unknown(param: &str) -> AppError {
    bad(param, "unknown parameter")
}

/// Appends `key=value` (URL-encoded) to a query string under construction.
fn push(out: &mut Vec<String>, key: &str, value: impl std::fmt::Display) {
    out.push(format!("{key}={}", encode(&value.to_string())));
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass through).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn join(parts: Vec<String>) -> String {
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum EnrollmentSort {
    /// Oldest first (by id): the natural keyset order.
    #[default]
    Id,
    /// Newest first.
    IdDesc,
    Customer,
    StartDate,
}

impl EnrollmentSort {
    pub const ALL: [EnrollmentSort; 4] = [
        EnrollmentSort::Id,
        EnrollmentSort::IdDesc,
        EnrollmentSort::Customer,
        EnrollmentSort::StartDate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EnrollmentSort::Id => "id",
            EnrollmentSort::IdDesc => "-id",
            EnrollmentSort::Customer => "customer",
            EnrollmentSort::StartDate => "start",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            EnrollmentSort::Id => "Oldest first",
            EnrollmentSort::IdDesc => "Newest first",
            EnrollmentSort::Customer => "Customer name",
            EnrollmentSort::StartDate => "Start date",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EnrollmentQuery {
    pub program: Option<i64>,
    pub status: Option<EnrollmentStatus>,
    pub substation: Option<i64>,
    pub feeder: Option<i64>,
    pub device_type: Option<DeviceType>,
    /// Customer name prefix, or exact account, person, service point or NIC id.
    pub q: Option<String>,
    pub sort: EnrollmentSort,
    /// Keyset cursor: the id of the last row of the previous page.
    pub after: Option<i64>,
    pub limit: u32,
}

impl EnrollmentQuery {
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, AppError> {
        let mut q = EnrollmentQuery {
            limit: DEFAULT_PAGE_SIZE,
            ..Default::default()
        };
        for (key, value) in pairs {
            if skip_blank(key, value)? {
                continue;
            }
            match key {
                "program" => q.program = Some(parse_id(key, value)?),
                "substation" => q.substation = Some(parse_id(key, value)?),
                "feeder" => q.feeder = Some(parse_id(key, value)?),
                "after" => q.after = Some(parse_id(key, value)?),
                "limit" => q.limit = parse_limit(value)?,
                "q" => q.q = parse_text(key, value)?,
                "status" => {
                    q.status = Some(EnrollmentStatus::parse(value).ok_or_else(|| {
                        bad(
                            key,
                            format!("expected PENDING, ACTIVE or INACTIVE, got `{value}`"),
                        )
                    })?)
                }
                "device_type" => {
                    q.device_type = Some(
                        DeviceType::parse(value)
                            .ok_or_else(|| bad(key, format!("unknown device type `{value}`")))?,
                    )
                }
                "sort" => {
                    q.sort = EnrollmentSort::ALL
                        .into_iter()
                        .find(|s| s.as_str() == value)
                        .ok_or_else(|| {
                            bad(
                                key,
                                format!("expected id, -id, customer or start, got `{value}`"),
                            )
                        })?
                }
                _ => return Err(unknown(key)),
            }
        }
        Ok(q)
    }

    /// The URL query for these filters (without the cursor unless `with_after`).
    pub fn to_query(&self, with_after: bool) -> String {
        let mut out = Vec::new();
        if let Some(v) = self.program {
            push(&mut out, "program", v);
        }
        if let Some(v) = self.status {
            push(&mut out, "status", v.as_str());
        }
        if let Some(v) = self.substation {
            push(&mut out, "substation", v);
        }
        if let Some(v) = self.feeder {
            push(&mut out, "feeder", v);
        }
        if let Some(v) = self.device_type {
            push(&mut out, "device_type", v.as_str());
        }
        if let Some(v) = &self.q {
            push(&mut out, "q", v);
        }
        if self.sort != EnrollmentSort::Id {
            push(&mut out, "sort", self.sort.as_str());
        }
        if self.limit != DEFAULT_PAGE_SIZE {
            push(&mut out, "limit", self.limit);
        }
        if with_after {
            if let Some(v) = self.after {
                push(&mut out, "after", v);
            }
        }
        join(out)
    }

    pub fn next_page(&self, after: i64) -> String {
        let mut next = self.clone();
        next.after = Some(after);
        next.to_query(true)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DeviceQuery {
    pub device_type: Option<DeviceType>,
    pub status: Option<String>,
    pub registered: Option<bool>,
    /// Devices in one of this program's enrollments now.
    pub program: Option<i64>,
    pub substation: Option<i64>,
    pub feeder: Option<i64>,
    /// NIC id or serial number (exact), or NIC id prefix.
    pub q: Option<String>,
    pub after: Option<i64>,
    pub limit: u32,
}

impl DeviceQuery {
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, AppError> {
        let mut q = DeviceQuery {
            limit: DEFAULT_PAGE_SIZE,
            ..Default::default()
        };
        for (key, value) in pairs {
            if skip_blank(key, value)? {
                continue;
            }
            match key {
                "program" => q.program = Some(parse_id(key, value)?),
                "substation" => q.substation = Some(parse_id(key, value)?),
                "feeder" => q.feeder = Some(parse_id(key, value)?),
                "after" => q.after = Some(parse_id(key, value)?),
                "limit" => q.limit = parse_limit(value)?,
                "q" => q.q = parse_text(key, value)?,
                "device_type" => {
                    q.device_type = Some(
                        DeviceType::parse(value)
                            .ok_or_else(|| bad(key, format!("unknown device type `{value}`")))?,
                    )
                }
                "status" => match value {
                    v if DEVICE_STATUSES.contains(&v) => q.status = Some(value.to_string()),
                    _ => {
                        return Err(bad(
                            key,
                            format!("expected active or inactive, got `{value}`"),
                        ))
                    }
                },
                "registered" => match value {
                    "yes" | "true" => q.registered = Some(true),
                    "no" | "false" => q.registered = Some(false),
                    _ => return Err(bad(key, format!("expected yes or no, got `{value}`"))),
                },
                _ => return Err(unknown(key)),
            }
        }
        Ok(q)
    }

    pub fn to_query(&self, with_after: bool) -> String {
        let mut out = Vec::new();
        if let Some(v) = self.device_type {
            push(&mut out, "device_type", v.as_str());
        }
        if let Some(v) = &self.status {
            push(&mut out, "status", v);
        }
        if let Some(v) = self.registered {
            push(&mut out, "registered", if v { "yes" } else { "no" });
        }
        if let Some(v) = self.program {
            push(&mut out, "program", v);
        }
        if let Some(v) = self.substation {
            push(&mut out, "substation", v);
        }
        if let Some(v) = self.feeder {
            push(&mut out, "feeder", v);
        }
        if let Some(v) = &self.q {
            push(&mut out, "q", v);
        }
        if self.limit != DEFAULT_PAGE_SIZE {
            push(&mut out, "limit", self.limit);
        }
        if with_after {
            if let Some(v) = self.after {
                push(&mut out, "after", v);
            }
        }
        join(out)
    }

    pub fn next_page(&self, after: i64) -> String {
        let mut next = self.clone();
        next.after = Some(after);
        next.to_query(true)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub action: Option<String>,
    /// From this local day (inclusive), `YYYY-MM-DD`.
    pub from: Option<chrono::NaiveDate>,
    /// Up to this local day (inclusive), `YYYY-MM-DD`.
    pub to: Option<chrono::NaiveDate>,
    /// Newest first; the cursor is the id of the last row shown.
    pub before: Option<i64>,
    pub limit: u32,
}

impl AuditQuery {
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, AppError> {
        let mut q = AuditQuery {
            limit: DEFAULT_PAGE_SIZE,
            ..Default::default()
        };
        for (key, value) in pairs {
            if skip_blank(key, value)? {
                continue;
            }
            match key {
                "actor" => q.actor = parse_text(key, value)?,
                "entity_type" => q.entity_type = parse_text(key, value)?,
                "entity_id" => q.entity_id = parse_text(key, value)?,
                "action" => q.action = parse_text(key, value)?,
                "from" | "to" => {
                    let day = chrono::NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(
                        |_| {
                            AppError::BadRequest(format!(
                                "query parameter `{key}`: expected a date YYYY-MM-DD, got `{}`",
                                value.trim()
                            ))
                        },
                    )?;
                    if key == "from" {
                        q.from = Some(day)
                    } else {
                        q.to = Some(day)
                    }
                }
                "before" => q.before = Some(parse_id(key, value)?),
                "limit" => q.limit = parse_limit(value)?,
                _ => return Err(unknown(key)),
            }
        }
        Ok(q)
    }

    pub fn next_page(&self, before: i64) -> String {
        let mut out = Vec::new();
        for (k, v) in [
            ("actor", &self.actor),
            ("entity_type", &self.entity_type),
            ("entity_id", &self.entity_id),
            ("action", &self.action),
        ] {
            if let Some(v) = v {
                push(&mut out, k, v);
            }
        }
        for (k, v) in [("from", &self.from), ("to", &self.to)] {
            if let Some(v) = v {
                push(&mut out, k, v);
            }
        }
        push(&mut out, "before", before);
        join(out)
    }

    /// The same filters without the page cursor (for the CSV export link).
    pub fn filters_only(&self) -> String {
        let mut q = self.clone();
        q.before = None;
        let s = q.next_page(0);
        s.replace("before=0", "")
            .trim_end_matches(['&', '?'])
            .to_string()
    }
}

/// The device statuses a device list filters on.
pub const DEVICE_STATUSES: [&str; 2] = ["active", "inactive"];

pub const MESSAGE_STATUSES: [&str; 7] = [
    "queued",
    "delivering",
    "delivered",
    "business_error",
    "technical_failure",
    "parked",
    "processed",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MessageQuery {
    pub flow: Option<String>,
    pub status: Option<String>,
    pub direction: Option<String>,
    pub before: Option<i64>,
    pub limit: u32,
    /// How many hours back the chart over time reaches (1 to 720; default 24).
    pub hours: Option<u32>,
}

/// The longest chart window: 30 days.
pub const MAX_CHART_HOURS: u32 = 720;

impl MessageQuery {
    pub fn chart_hours(&self) -> u32 {
        self.hours.unwrap_or(24)
    }

    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, AppError> {
        let mut q = MessageQuery {
            limit: DEFAULT_PAGE_SIZE,
            ..Default::default()
        };
        for (key, value) in pairs {
            if skip_blank(key, value)? {
                continue;
            }
            match key {
                "flow" => {
                    if value.len() > 40
                        || !value.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    {
                        return Err(bad(key, format!("unknown flow `{value}`")));
                    }
                    q.flow = Some(value.to_string());
                }
                "status" => {
                    if !MESSAGE_STATUSES.contains(&value) {
                        return Err(bad(
                            key,
                            format!(
                                "expected one of {}, got `{value}`",
                                MESSAGE_STATUSES.join(", ")
                            ),
                        ));
                    }
                    q.status = Some(value.to_string());
                }
                "direction" => match value {
                    "outbound" | "inbound" => q.direction = Some(value.to_string()),
                    _ => {
                        return Err(bad(
                            key,
                            format!("expected outbound or inbound, got `{value}`"),
                        ))
                    }
                },
                "before" => q.before = Some(parse_id(key, value)?),
                "limit" => q.limit = parse_limit(value)?,
                "hours" => {
                    q.hours = Some(
                        value
                            .trim()
                            .parse::<u32>()
                            .ok()
                            .filter(|h| (1..=MAX_CHART_HOURS).contains(h))
                            .ok_or_else(|| {
                                bad(
                                    key,
                                    format!("expected 1 to {MAX_CHART_HOURS}, got `{value}`"),
                                )
                            })?,
                    )
                }
                _ => return Err(unknown(key)),
            }
        }
        Ok(q)
    }

    /// The same filters (and chart window) without the page cursor: a pager's base.
    pub fn filters_only(&self) -> String {
        self.next_page(0)
            .replace("before=0", "")
            .replace("&&", "&")
            .trim_end_matches(['&', '?'])
            .to_string()
    }

    pub fn next_page(&self, before: i64) -> String {
        let mut out = Vec::new();
        for (k, v) in [
            ("flow", &self.flow),
            ("status", &self.status),
            ("direction", &self.direction),
        ] {
            if let Some(v) = v {
                push(&mut out, k, v);
            }
        }
        if let Some(h) = self.hours {
            push(&mut out, "hours", h);
        }
        push(&mut out, "before", before);
        join(out)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NetworkQuery {
    pub feeder: Option<i64>,
}

impl NetworkQuery {
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, AppError> {
        let mut q = NetworkQuery::default();
        for (key, value) in pairs {
            if skip_blank(key, value)? {
                continue;
            }
            match key {
                "feeder" => q.feeder = Some(parse_id(key, value)?),
                _ => return Err(unknown(key)),
            }
        }
        Ok(q)
    }
}

/// The forecast page's zone: `?node=12&node=13` (substations, feeders, transformers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ForecastQuery {
    pub nodes: Vec<i64>,
}

/// Most nodes one zone may name in the URL.
pub const MAX_ZONE_NODES: usize = 200;

impl ForecastQuery {
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, AppError> {
        let mut q = ForecastQuery::default();
        for (key, value) in pairs {
            if skip_blank(key, value)? {
                continue;
            }
            match key {
                "node" => {
                    let id = parse_id(key, value)?;
                    if !q.nodes.contains(&id) {
                        q.nodes.push(id);
                    }
                }
                _ => return Err(unknown(key)),
            }
        }
        if q.nodes.len() > MAX_ZONE_NODES {
            return Err(AppError::BadRequest(format!(
                "query parameter `node`: at most {MAX_ZONE_NODES} nodes in one zone"
            )));
        }
        Ok(q)
    }

    pub fn to_query(&self) -> String {
        let mut out = Vec::new();
        for n in &self.nodes {
            push(&mut out, "node", n);
        }
        join(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_number_names_the_parameter() {
        let err = EnrollmentQuery::parse([("program", "abc")]).unwrap_err();
        assert_eq!(
            err,
            AppError::BadRequest(
                "query parameter `program`: expected a positive whole number, got `abc`".into()
            )
        );
    }

    #[test]
    fn an_unknown_parameter_is_refused() {
        let err = DeviceQuery::parse([("colour", "red")]).unwrap_err();
        assert!(err.to_string().contains("`colour`"));
    }

    #[test]
    fn empty_values_mean_no_filter() {
        let q = EnrollmentQuery::parse([("program", ""), ("status", "active")]).unwrap();
        assert_eq!(q.program, None);
        assert_eq!(q.status, Some(EnrollmentStatus::Active));
    }

    #[test]
    fn filters_survive_a_round_trip_through_the_url() {
        let q = EnrollmentQuery::parse([
            ("program", "2"),
            ("feeder", "7"),
            ("q", "Ada Smith & co"),
            ("sort", "customer"),
            ("after", "99"),
        ])
        .unwrap();
        let url = q.to_query(true);
        assert_eq!(
            url,
            "?program=2&feeder=7&q=Ada+Smith+%26+co&sort=customer&after=99"
        );
        let pairs: Vec<(String, String)> = url[1..]
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_string(), decode(v))
            })
            .collect();
        let again =
            EnrollmentQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap();
        assert_eq!(again, q);
    }

    fn decode(v: &str) -> String {
        let bytes = v.replace('+', " ");
        let mut out = Vec::new();
        let b = bytes.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&bytes[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_forecast_zone_is_a_list_of_nodes_in_the_url() {
        let q = ForecastQuery::parse([("node", "12"), ("node", "13"), ("node", "12")]).unwrap();
        assert_eq!(q.nodes, vec![12, 13]);
        assert_eq!(q.to_query(), "?node=12&node=13");
        assert!(ForecastQuery::parse([("node", "x")]).is_err());
    }

    #[test]
    fn a_blank_page_size_or_cursor_is_refused_by_name() {
        for key in ["limit", "after"] {
            let err = EnrollmentQuery::parse([(key, "")]).unwrap_err();
            assert!(err.to_string().contains(&format!("`{key}`")), "{err}");
        }
        assert!(AuditQuery::parse([("before", " ")]).is_err());
        assert!(MessageQuery::parse([("hours", "")]).is_err());
        // A blank filter still means no filter.
        assert!(DeviceQuery::parse([("status", ""), ("feeder", "")]).is_ok());
    }

    #[test]
    fn a_page_size_outside_the_limits_is_refused() {
        assert!(EnrollmentQuery::parse([("limit", "0")]).is_err());
        assert!(EnrollmentQuery::parse([("limit", "501")]).is_err());
        assert_eq!(EnrollmentQuery::parse([("limit", "10")]).unwrap().limit, 10);
    }
}
