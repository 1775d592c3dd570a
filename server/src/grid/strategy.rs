//! Strategies: the reusable templates events are created from (zone, programs, device
//! groups, event type, objective, control level, override-rules flag).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use app::grid::StrategyInput;

use crate::db::audit::{append, NewAuditEntry};
use crate::db::strategy::{self as store, StrategyFields};
use crate::db::Db;
use crate::error::DomainError;
use crate::grid::DEVICE_TYPES;

/// Event types, highest priority first: Emergency outranks Economic.
pub const EVENT_TYPES: [(&str, i32); 4] = [
    ("Emergency", 4),
    ("Reliability", 3),
    ("Economic", 2),
    ("DeviceTest", 1),
];
pub const OBJECTIVES: [&str; 4] = [
    "Manual",
    "MaxDemandThreshold",
    "LoadReduction",
    "MaximumReduction",
];
pub const CONTROL_LEVELS: [&str; 4] = ["full", "cycle_75", "cycle_50", "setback"];

/// Which devices of the zone and programs take part; an empty list means "all".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceGroups {
    pub device_types: Vec<String>,
    pub feeder_ids: Vec<i64>,
}

/// A checked strategy, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewStrategy {
    pub name: String,
    pub description: String,
    pub zone_node_ids: Vec<i64>,
    pub program_codes: Vec<String>,
    pub groups: DeviceGroups,
    pub event_type: String,
    pub priority: i32,
    pub ba_check: bool,
    pub objective: String,
    pub target_mw: Option<f64>,
    pub max_increase_pct: Option<f64>,
    pub control_level: String,
    pub override_rules: bool,
}

pub use crate::db::strategy::{
    get_strategy, get_strategy_tx, known_programs, list_strategies, StrategyRow,
};

impl StrategyRow {
    pub fn zone(&self) -> Vec<i64> {
        serde_json::from_str(&self.zone_node_ids).unwrap_or_default()
    }
    pub fn programs(&self) -> Vec<String> {
        serde_json::from_str(&self.program_codes).unwrap_or_default()
    }
    pub fn groups(&self) -> DeviceGroups {
        serde_json::from_str(&self.device_groups).unwrap_or_default()
    }
}

/// Splits a comma- or whitespace-separated list, dropping blanks and repeats.
pub fn split_list(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in s.split([',', ' ', '\n', '\r', '\t']) {
        let p = part.trim();
        if !p.is_empty() && !out.iter().any(|o| o == p) {
            out.push(p.to_string());
        }
    }
    out
}

fn parse_number(field: &str, raw: &str, min: f64, max: f64) -> Result<Option<f64>, DomainError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let v: f64 = raw
        .parse()
        .map_err(|_| DomainError::invalid(format!("{field}: `{raw}` is not a number")))?;
    if !v.is_finite() || v < min || v > max {
        return Err(DomainError::invalid(format!(
            "{field}: must be between {min} and {max} (got {v})"
        )));
    }
    Ok(Some(v))
}

/// The network nodes named by code, or an error naming the codes that do not exist.
async fn node_ids(
    db: &Db,
    codes: &[String],
    kinds: &[&str],
    field: &str,
) -> Result<Vec<i64>, DomainError> {
    let rows = store::node_codes(db).await?;
    let mut ids = Vec::new();
    let mut unknown = Vec::new();
    for code in codes {
        match rows
            .iter()
            .find(|(_, c, k)| c == code && kinds.contains(&k.as_str()))
        {
            Some((id, _, _)) => ids.push(*id),
            None => unknown.push(code.as_str()),
        }
    }
    if !unknown.is_empty() {
        return Err(DomainError::invalid(format!(
            "{field}: no {} with code {}",
            kinds.join(" or "),
            unknown.join(", ")
        )));
    }
    Ok(ids)
}

pub async fn parse_strategy(db: &Db, input: &StrategyInput) -> Result<NewStrategy, DomainError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(DomainError::invalid(
            "name: give the strategy a name of 1 to 80 characters",
        ));
    }
    let description = input.description.trim();
    if description.chars().count() > 500 {
        return Err(DomainError::invalid("description: at most 500 characters"));
    }
    let zone_codes = split_list(&input.zone);
    if zone_codes.is_empty() {
        return Err(DomainError::invalid(
            "zone: name at least one substation, feeder or transformer code",
        ));
    }
    let zone_node_ids = node_ids(
        db,
        &zone_codes,
        &["substation", "feeder", "transformer"],
        "zone",
    )
    .await?;
    let program_codes = split_list(&input.programs);
    if program_codes.is_empty() {
        return Err(DomainError::invalid("programs: name at least one program"));
    }
    let known = known_programs(db).await?;
    let unknown: Vec<&str> = program_codes
        .iter()
        .filter(|p| !known.contains(p))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(DomainError::invalid(format!(
            "programs: {} {} not active on the grid side (known: {})",
            unknown.join(", "),
            if unknown.len() == 1 { "is" } else { "are" },
            known.join(", ")
        )));
    }
    let device_types = split_list(&input.device_types);
    if let Some(bad) = device_types
        .iter()
        .find(|t| !DEVICE_TYPES.contains(&t.as_str()))
    {
        return Err(DomainError::invalid(format!(
            "device types: `{bad}` is not one of {}",
            DEVICE_TYPES.join(", ")
        )));
    }
    let feeder_ids = node_ids(db, &split_list(&input.feeders), &["feeder"], "feeders").await?;
    let (event_type, priority) = EVENT_TYPES
        .iter()
        .find(|(t, _)| *t == input.event_type.trim())
        .copied()
        .ok_or_else(|| {
            DomainError::invalid(format!(
                "event type: `{}` is not one of Emergency, Reliability, Economic, DeviceTest",
                input.event_type
            ))
        })?;
    let objective = input.objective.trim();
    if !OBJECTIVES.contains(&objective) {
        return Err(DomainError::invalid(format!(
            "objective: `{objective}` is not one of {}",
            OBJECTIVES.join(", ")
        )));
    }
    let target_mw = parse_number("target MW", &input.target_mw, 0.0, 100_000.0)?;
    // The rebound bound applies to every objective; blank keeps the planner's default
    // (`planner::DEFAULT_MAX_INCREASE_PCT`), stored as NULL so a change of default reaches it.
    let max_increase_pct = parse_number("max increase %", &input.max_increase_pct, 0.0, 100.0)?;
    let target_mw = match objective {
        "MaxDemandThreshold" => Some(target_mw.ok_or_else(|| {
            DomainError::invalid("target MW: MaxDemandThreshold needs the ceiling in MW")
        })?),
        "LoadReduction" => {
            let t = target_mw.ok_or_else(|| {
                DomainError::invalid("target MW: LoadReduction needs the reduction in MW")
            })?;
            if t <= 0.0 {
                return Err(DomainError::invalid(
                    "target MW: the reduction must be more than 0",
                ));
            }
            Some(t)
        }
        _ => None,
    };
    let control_level = input.control_level.trim();
    if !CONTROL_LEVELS.contains(&control_level) {
        return Err(DomainError::invalid(format!(
            "control level: `{control_level}` is not one of {}",
            CONTROL_LEVELS.join(", ")
        )));
    }
    Ok(NewStrategy {
        name: name.to_string(),
        description: description.to_string(),
        zone_node_ids,
        program_codes,
        groups: DeviceGroups {
            device_types,
            feeder_ids,
        },
        event_type: event_type.to_string(),
        priority,
        ba_check: input.ba_check.is_some(),
        objective: objective.to_string(),
        target_mw,
        max_increase_pct,
        control_level: control_level.to_string(),
        override_rules: input.override_rules.is_some(),
    })
}

fn audit_view(s: &NewStrategy) -> serde_json::Value {
    json!({"name": s.name, "zone": s.zone_node_ids, "programs": s.program_codes, "groups": s.groups,
        "eventType": s.event_type, "baCheck": s.ba_check, "objective": s.objective, "targetMw": s.target_mw,
        "maxIncreasePct": s.max_increase_pct, "controlLevel": s.control_level, "overrideRules": s.override_rules})
}

/// Creates (`id = None`) or changes a strategy; the audit row goes in the same transaction.
pub async fn save_strategy(
    db: &Db,
    actor: &str,
    id: Option<i64>,
    s: &NewStrategy,
    now: DateTime<Utc>,
) -> Result<i64, DomainError> {
    let mut tx = db.begin().await?;
    let zone = serde_json::to_string(&s.zone_node_ids)?;
    let programs = serde_json::to_string(&s.program_codes)?;
    let groups = serde_json::to_string(&s.groups)?;
    let fields = StrategyFields {
        name: &s.name,
        description: &s.description,
        zone_node_ids: &zone,
        program_codes: &programs,
        device_groups: &groups,
        event_type: &s.event_type,
        priority: s.priority,
        ba_check: s.ba_check,
        objective: &s.objective,
        target_mw: s.target_mw,
        max_increase_pct: s.max_increase_pct,
        control_level: &s.control_level,
        override_rules: s.override_rules,
    };
    let taken = |e: DomainError| match e {
        DomainError::Conflict(_) => DomainError::Conflict(format!(
            "name: a strategy called `{}` already exists",
            s.name
        )),
        other => other,
    };
    let saved_id = match id {
        None => {
            let new_id = store::insert_strategy(&mut tx, &fields, actor, now)
                .await
                .map_err(taken)?;
            append(
                &mut tx,
                NewAuditEntry::new(actor, "strategy.create", "strategy", new_id)
                    .after(audit_view(s)),
            )
            .await?;
            new_id
        }
        Some(id) => {
            let before = get_strategy_tx(&mut tx, id)
                .await?
                .ok_or_else(|| DomainError::not_found(format!("strategy {id}")))?;
            if before.archived_at.is_some() {
                return Err(DomainError::Conflict(
                    "the strategy is archived; archived strategies are kept as they were".into(),
                ));
            }
            store::update_strategy(&mut tx, id, &fields, now)
                .await
                .map_err(taken)?;
            append(
                &mut tx,
                NewAuditEntry::new(actor, "strategy.update", "strategy", id)
                    .before(json!({"name": before.name, "objective": before.objective, "targetMw": before.target_mw,
                        "eventType": before.event_type, "zone": before.zone(), "programs": before.programs()}))
                    .after(audit_view(s)),
            )
            .await?;
            id
        }
    };
    tx.commit().await?;
    Ok(saved_id)
}

pub async fn archive_strategy(
    db: &Db,
    actor: &str,
    id: i64,
    now: DateTime<Utc>,
) -> Result<String, DomainError> {
    let mut tx = db.begin().await?;
    let s = get_strategy_tx(&mut tx, id)
        .await?
        .ok_or_else(|| DomainError::not_found(format!("strategy {id}")))?;
    if s.archived_at.is_some() {
        return Err(DomainError::Conflict(format!(
            "strategy `{}` is already archived",
            s.name
        )));
    }
    store::archive_strategy(&mut tx, id, now).await?;
    append(
        &mut tx,
        NewAuditEntry::new(actor, "strategy.archive", "strategy", id)
            .after(json!({"name": s.name})),
    )
    .await?;
    tx.commit().await?;
    Ok(s.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_on_commas_and_spaces_without_repeats() {
        assert_eq!(split_list(" A, B  C,,A "), vec!["A", "B", "C"]);
        assert!(split_list(" , ").is_empty());
    }

    #[test]
    fn numbers_name_the_field_when_they_are_not_numbers() {
        let err = parse_number("target MW", "abc", 0.0, 10.0).unwrap_err();
        assert_eq!(err.to_string(), "target MW: `abc` is not a number");
        assert!(parse_number("target MW", "-1", 0.0, 10.0).is_err());
        assert_eq!(parse_number("x", " ", 0.0, 1.0).unwrap(), None);
    }
}
