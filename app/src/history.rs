//! History in words: audit and timeline entries as field-by-field changes (before → after),
//! wire codes with their meaning, plan exclusion reasons and field names as people say them.

use serde_json::Value;

/// What a wire code means (the codes of DOMAIN.md and `integration/wire`); `None` for a
/// string that is no code.
pub fn code_meaning(code: &str) -> Option<&'static str> {
    Some(match code {
        // Device outcomes.
        "D1SP" => "participated",
        "D1ND" => "non-responsive",
        "D1IO" => "in-flight override",
        "D1ER" => "error",
        "D1CN" => "cancelled",
        // Enrollment sources.
        "X1BY" => "bring your own device",
        "X1CC" => "contact centre",
        "X1SS" => "self-service",
        // Program-side event categories.
        "X1DT" => "device test",
        "X1EC" => "economic",
        "X1EM" => "emergency",
        "X1RE" => "reliability",
        // Program-event lifecycle actions.
        "X1SD" => "scheduled",
        "X1IP" => "in progress",
        "F1CO" => "complete",
        "F1CN" => "cancel",
        _ => return None,
    })
}

/// A code followed by its meaning (`D1SP (participated)`); anything else unchanged.
pub fn with_meaning(text: &str) -> String {
    match code_meaning(text) {
        Some(m) => format!("{text} ({m})"),
        None => text.to_string(),
    }
}

/// Why the planner left devices out, in words (the plan summary's keys).
pub fn exclusion_reason(key: &str) -> String {
    match key {
        "inactive" => "device not active".into(),
        "unregistered" => "not registered with the head-end".into(),
        "unavailable" => "customer declared it unavailable".into(),
        "optedOut" | "opted_out" => "customer opted out of this event".into(),
        "participationLimit" | "participation_limit" => {
            "participation limit of the cycle reached".into()
        }
        "cumulativeDuration" | "cumulative_duration" => {
            "maximum time in events this cycle reached".into()
        }
        "minimumGap" | "minimum_gap" => "too soon after its last event (minimum gap)".into(),
        "eventDuration" | "event_duration" => "event longer than its program allows".into(),
        other => field_words(other),
    }
}

/// A field name as words: `maxShortfallKw` → "Max shortfall kW", `starts_at` → "Starts at".
pub fn field_words(key: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for ch in key.chars() {
        if ch == '_' || ch == '-' || ch == ' ' || ch == '.' {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            prev_lower = false;
            continue;
        }
        if ch.is_ascii_uppercase() && prev_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        current.push(ch);
    }
    if !current.is_empty() {
        words.push(current);
    }
    let words: Vec<String> = words
        .into_iter()
        .map(|w| match w.to_ascii_lowercase().as_str() {
            "kw" => "kW".to_string(),
            "mw" => "MW".to_string(),
            "kwh" => "kWh".to_string(),
            "pct" => "%".to_string(),
            "id" => "id".to_string(),
            "nic" => "NIC".to_string(),
            "ba" => "BA".to_string(),
            l => l.to_string(),
        })
        .collect();
    let text = words.join(" ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

/// An audit action in words: `event.approve` → "Event approved".
pub fn action_words(action: &str) -> String {
    let (entity, verb) = action.split_once('.').unwrap_or(("", action));
    let done = match verb {
        "create" => "created",
        "update" | "edit" | "put" => "changed",
        "delete" => "deleted",
        "plan" => "planned",
        "submit" => "submitted",
        "approve" => "approved",
        "deny" => "denied",
        "cancel" => "cancelled",
        "schedule" => "scheduled",
        "start" => "started",
        "complete" => "completed",
        "status" => "status changed",
        "activate" => "activated",
        "unenroll" => "unenrolled",
        "revoke" => "revoked",
        "rotate" => "rotated",
        "disable" => "disabled",
        "enable" => "enabled",
        "settle" => "settled",
        "resubmit" => "resubmitted",
        "login" => "signed in",
        "logout" => "signed out",
        other => return field_words(&format!("{entity} {other}")),
    };
    if entity.is_empty() {
        field_words(done)
    } else {
        format!("{} {done}", field_words(entity))
    }
}

/// One changed field of an audit entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The field in words (nested fields as "Exclusions › opted out").
    pub field: String,
    /// What it was (`None`: it was not there).
    pub before: Option<String>,
    /// What it became (`None`: it is gone).
    pub after: Option<String>,
}

/// The field-by-field changes between an entry's before and after (JSON objects as stored);
/// a side that is not JSON is shown as written.
pub fn changes(before: Option<&str>, after: Option<&str>) -> Vec<Change> {
    let parse = |s: Option<&str>| -> Option<Value> {
        let s = s?.trim();
        if s.is_empty() {
            return None;
        }
        Some(serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string())))
    };
    let (b, a) = (parse(before), parse(after));
    let mut fb = Vec::new();
    let mut fa = Vec::new();
    if let Some(v) = &b {
        flatten("", v, &mut fb);
    }
    if let Some(v) = &a {
        flatten("", v, &mut fa);
    }
    let mut out = Vec::new();
    let mut keys: Vec<&String> = Vec::new();
    for (k, _) in fb.iter().chain(fa.iter()) {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    for key in keys {
        let old = fb.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let new = fa.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        if old == new && b.is_some() && a.is_some() {
            continue;
        }
        out.push(Change {
            field: key
                .split('\u{1f}')
                .filter(|p| !p.is_empty())
                .enumerate()
                .map(|(i, p)| {
                    if i == 0 {
                        field_words(p)
                    } else {
                        exclusion_or_field(p)
                    }
                })
                .collect::<Vec<_>>()
                .join(" › "),
            before: old,
            after: new,
        });
    }
    out
}

fn exclusion_or_field(p: &str) -> String {
    let w = exclusion_reason(p);
    if w == field_words(p) {
        w.to_lowercase()
    } else {
        w
    }
}

/// Leaves of a JSON value as (path, words); the path's parts are joined by U+001F.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                flatten(&format!("{prefix}\u{1f}{k}"), x, out);
            }
        }
        other => out.push((prefix.to_string(), value_words(other))),
    }
}

/// A JSON value in words: codes explained, numbers with separators, yes/no, lists joined.
pub fn value_words(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => group(i),
            None => {
                let f = n.as_f64().unwrap_or(0.0);
                let text = format!("{f:.3}");
                let text = text.trim_end_matches('0').trim_end_matches('.');
                text.to_string()
            }
        },
        Value::String(s) => with_meaning(s),
        Value::Array(items) if items.is_empty() => "none".into(),
        Value::Array(items) => items.iter().map(value_words).collect::<Vec<_>>().join(", "),
        Value::Object(m) if m.is_empty() => "none".into(),
        Value::Object(m) => m
            .iter()
            .map(|(k, x)| format!("{}: {}", field_words(k), value_words(x)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

fn group(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_change_reads_field_by_field_with_codes_explained() {
        let c = changes(
            Some(r#"{"status":"Submitted","source":"X1CC","kw":12.5}"#),
            Some(r#"{"status":"Approved","source":"X1CC","kw":12.5}"#),
        );
        assert_eq!(
            c,
            [Change {
                field: "Status".into(),
                before: Some("Submitted".into()),
                after: Some("Approved".into()),
            }]
        );
        let c = changes(
            None,
            Some(r#"{"source":"X1CC","outcome":"D1SP","count":12000}"#),
        );
        let mut words: Vec<String> = c
            .iter()
            .map(|c| format!("{}: {}", c.field, c.after.clone().unwrap_or_default()))
            .collect();
        words.sort();
        assert_eq!(
            words,
            [
                "Count: 12,000",
                "Outcome: D1SP (participated)",
                "Source: X1CC (contact centre)",
            ]
        );
    }

    #[test]
    fn plan_summaries_name_their_exclusions_in_words() {
        let c = changes(
            None,
            Some(r#"{"maxShortfallKw":10800.5,"exclusions":{"optedOut":3}}"#),
        );
        let mut fields: Vec<&str> = c.iter().map(|c| c.field.as_str()).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "Exclusions › customer opted out of this event",
                "Max shortfall kW"
            ]
        );
        assert_eq!(
            exclusion_reason("participationLimit"),
            "participation limit of the cycle reached"
        );
        assert_eq!(exclusion_reason("someNewReason"), "Some new reason");
    }

    #[test]
    fn text_that_is_not_json_is_shown_as_written() {
        let c = changes(None, Some("plain words"));
        assert_eq!(c[0].after.as_deref(), Some("plain words"));
        assert_eq!(action_words("event.approve"), "Event approved");
        assert_eq!(
            action_words("enrollment.status"),
            "Enrollment status changed"
        );
    }
}
