//! Field checks shared by every flow: each returns the value in stored form or an error naming the field.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use chrono::NaiveDate;

use super::RecordError;

/// Longest identifier (record, person, account, program, service point, device, …) accepted.
pub const MAX_ID_CHARS: usize = 64;
/// Longest envelope `messageId` accepted.
pub const MAX_MESSAGE_ID_CHARS: usize = 128;
/// Longest free text (names, street, city, specification) accepted.
pub const MAX_TEXT_CHARS: usize = 200;
/// Longest reason (cancellation, unavailability, registration failure) accepted.
pub const MAX_REASON_CHARS: usize = 500;

pub(super) fn join(prefix: &str, name: &str) -> String {
    match (prefix.is_empty(), name.is_empty()) {
        (true, _) => name.to_owned(),
        (_, true) => prefix.to_owned(),
        _ => format!("{prefix}.{name}"),
    }
}

pub(super) fn item(list: &str, index: usize) -> String {
    format!("{list}[{index}]")
}

pub(super) fn check_text(
    field: &str,
    value: &str,
    max_chars: usize,
) -> Result<String, RecordError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(RecordError::new(field, "must not be empty"));
    }
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(RecordError::new(
            field,
            format!("must be at most {max_chars} characters (got {chars})"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(RecordError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

pub(super) fn check_id(field: &str, value: &str) -> Result<String, RecordError> {
    check_text(field, value, MAX_ID_CHARS)
}

/// Blank optional text means "not given".
pub(super) fn check_optional_text(
    field: &str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<Option<String>, RecordError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => check_text(field, value, max_chars).map(Some),
    }
}

pub(super) fn check_non_negative(field: &str, value: f64) -> Result<f64, RecordError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(RecordError::new(
            field,
            format!("must be a finite number of at least 0 (got {value})"),
        ))
    }
}

pub(super) fn check_enrollment_id(field: &str, id: i64) -> Result<i64, RecordError> {
    if id > 0 {
        Ok(id)
    } else {
        Err(RecordError::new(
            field,
            format!("must be a positive id (got {id})"),
        ))
    }
}

/// `end` must be strictly after `start`.
pub(super) fn check_after<T: PartialOrd + fmt::Display>(
    start_field: &str,
    start: &T,
    end_field: &str,
    end: &T,
) -> Result<(), RecordError> {
    if end > start {
        Ok(())
    } else {
        let start_name = start_field.rsplit('.').next().unwrap_or(start_field);
        let end_name = end_field.rsplit('.').next().unwrap_or(end_field);
        Err(RecordError::new(
            end_field,
            format!(
                "must be after {start_name} ({end_name} {end} is not after {start_name} {start})"
            ),
        ))
    }
}

/// Strictly `YYYY-MM-DD`: chrono alone would also take `2024-7-1` or a five-digit year.
pub(super) fn check_date(field: &str, value: &str) -> Result<NaiveDate, RecordError> {
    let text = value.trim();
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    let invalid = || {
        RecordError::new(
            field,
            format!("must be a calendar date YYYY-MM-DD such as 2024-07-01 (got `{value}`)"),
        )
    };
    if !shaped {
        return Err(invalid());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| invalid())
}

pub(super) fn check_email(field: &str, value: &str) -> Result<String, RecordError> {
    let email = check_text(field, value, 254)?;
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if valid {
        Ok(email)
    } else {
        Err(RecordError::new(
            field,
            format!("must be an email address such as name@example.com (got `{email}`)"),
        ))
    }
}

pub(super) fn check_phone(field: &str, value: &str) -> Result<String, RecordError> {
    let phone = check_text(field, value, 32)?;
    let allowed = phone
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '(' | ')' | ' ' | '.'));
    if allowed && phone.chars().filter(char::is_ascii_digit).count() >= 7 {
        Ok(phone)
    } else {
        Err(RecordError::new(
            field,
            format!("must be a phone number of digits, spaces and + - ( ) . (got `{phone}`)"),
        ))
    }
}

pub(super) fn check_time_zone(field: &str, value: &str) -> Result<String, RecordError> {
    let zone = check_id(field, value)?;
    if zone
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'))
    {
        Ok(zone)
    } else {
        Err(RecordError::new(
            field,
            format!("must be an IANA time zone name such as America/Chicago (got `{zone}`)"),
        ))
    }
}

pub(super) fn check_non_empty<T>(field: &str, list: &[T], what: &str) -> Result<(), RecordError> {
    if list.is_empty() {
        Err(RecordError::new(
            field,
            format!("must list at least one {what}"),
        ))
    } else {
        Ok(())
    }
}

/// Remembers where each key was first seen; the second sighting is an error at `field`.
pub(super) struct Seen<K> {
    first: HashMap<K, usize>,
}

impl<K: Eq + Hash> Seen<K> {
    pub(super) fn new() -> Self {
        Seen {
            first: HashMap::new(),
        }
    }

    pub(super) fn check(
        &mut self,
        key: K,
        index: usize,
        list: &str,
        field: String,
        what: &str,
    ) -> Result<(), RecordError> {
        match self.first.get(&key) {
            Some(first) => Err(RecordError::new(
                field,
                format!(
                    "repeats {} ({what}); list each one once",
                    item(list, *first)
                ),
            )),
            None => {
                self.first.insert(key, index);
                Ok(())
            }
        }
    }
}
