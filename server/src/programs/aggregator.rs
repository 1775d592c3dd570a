//! Aggregators: added and edited by program managers; each change, its audit row and the
//! aggregator sync to the grid side (flow 10) commit together.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use app::model::{AggregatorDto, AggregatorInput};

use crate::db::aggregator::{self as store, AggregatorFields};
use crate::db::audit::{append, NewAuditEntry};
use crate::db::Db;
use crate::error::DomainError;
use crate::integration::message::{enqueue, new_message_id, NewMessage, DEFAULT_MAX_ATTEMPTS};
use crate::integration::wire::{AggregatorStatus, AggregatorSync, Outbound, Validate};

/// A checked aggregator.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAggregator {
    pub id: Option<i64>,
    pub name: String,
    pub status: AggregatorStatus,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub contact_name: String,
    pub contact_email: String,
    pub external_ref: String,
    pub program_codes: Vec<String>,
}

fn text(field: &str, value: &str, max: usize) -> Result<String, DomainError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(DomainError::invalid(format!(
            "{field}: give 1 to {max} characters"
        )));
    }
    Ok(v.to_string())
}

fn date(field: &str, value: &str) -> Result<NaiveDate, DomainError> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
        DomainError::invalid(format!(
            "{field}: expected a date like 2026-07-01, got `{}`",
            value.trim()
        ))
    })
}

/// Checks the form field by field.
pub fn parse(input: &AggregatorInput) -> Result<NewAggregator, DomainError> {
    let id = match input.id.trim() {
        "" => None,
        v => Some(v.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| {
            DomainError::invalid(format!("id: expected a positive whole number, got `{v}`"))
        })?),
    };
    let name = text("name", &input.name, 200)?;
    let status = AggregatorStatus::parse(input.status.trim()).ok_or_else(|| {
        DomainError::invalid(format!(
            "status: expected `active` or `inactive`, got `{}`",
            input.status.trim()
        ))
    })?;
    let start_date = date("start date", &input.start_date)?;
    let end_date = match input.end_date.trim() {
        "" => None,
        v => Some(date("end date", v)?),
    };
    if let Some(end) = end_date {
        if end < start_date {
            return Err(DomainError::invalid(format!(
                "end date: {end} is before the start date {start_date}"
            )));
        }
    }
    let contact_name = text("contact name", &input.contact_name, 200)?;
    let contact_email = text("contact email", &input.contact_email, 200)?;
    let at = contact_email.find('@');
    if !matches!(at, Some(i) if i > 0 && contact_email[i + 1..].contains('.'))
        || contact_email.contains(' ')
    {
        return Err(DomainError::invalid(format!(
            "contact email: `{contact_email}` is not an email address"
        )));
    }
    let external_ref = text("external reference", &input.external_ref, 64)?;
    if !external_ref
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(DomainError::invalid(format!(
            "external reference: use letters, digits, `-` or `_` only, got `{external_ref}`"
        )));
    }
    let mut program_codes: Vec<String> = Vec::new();
    for code in input
        .program_codes
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        let code = code.to_uppercase();
        if !program_codes.contains(&code) {
            program_codes.push(code);
        }
    }
    Ok(NewAggregator {
        id,
        name,
        status,
        start_date,
        end_date,
        contact_name,
        contact_email,
        external_ref,
        program_codes,
    })
}

/// Every aggregator with the programs it offers (two queries, whatever the count).
pub async fn list_aggregators(db: &Db) -> Result<Vec<AggregatorDto>, DomainError> {
    let rows = store::list_aggregators(db).await?;
    let links = store::program_links(db).await?;
    let mut codes: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, code) in links {
        codes.entry(id).or_default().push(code);
    }
    Ok(rows
        .into_iter()
        .map(|r| AggregatorDto {
            program_codes: codes.remove(&r.id).unwrap_or_default(),
            id: r.id,
            name: r.name,
            status: r.status,
            start_date: r.start_date,
            end_date: r.end_date,
            contact_name: r.contact_name,
            contact_email: r.contact_email,
            external_ref: r.external_ref,
        })
        .collect())
}

/// Creates or updates the aggregator; returns its id and whether it was created.
pub async fn save_aggregator(
    db: &Db,
    actor: &str,
    a: &NewAggregator,
    now: DateTime<Utc>,
) -> Result<(i64, bool), DomainError> {
    let mut tx = db.begin().await?;
    let programs = store::program_codes(&mut tx).await?;
    let mut program_ids = Vec::with_capacity(a.program_codes.len());
    for code in &a.program_codes {
        let id = programs
            .iter()
            .find(|(_, c)| c == code)
            .map(|(id, _)| *id)
            .ok_or_else(|| DomainError::invalid(format!("programs: `{code}` is not a program")))?;
        program_ids.push(id);
    }
    let conflict = |e: DomainError| match e {
        DomainError::Conflict(_) => DomainError::Conflict(format!(
            "an aggregator named `{}` or with external reference `{}` already exists",
            a.name, a.external_ref
        )),
        other => other,
    };
    let fields = AggregatorFields {
        name: &a.name,
        status: a.status.as_str(),
        start_date: a.start_date,
        end_date: a.end_date,
        contact_name: &a.contact_name,
        contact_email: &a.contact_email,
        external_ref: &a.external_ref,
    };
    let (id, before) = match a.id {
        None => {
            let id = store::insert_aggregator(&mut tx, &fields, now)
                .await
                .map_err(conflict)?;
            (id, None)
        }
        Some(id) => {
            let (old_name, old_status, old_ref) = store::aggregator_key(&mut tx, id)
                .await?
                .ok_or_else(|| DomainError::not_found(format!("aggregator {id}")))?;
            if old_ref != a.external_ref {
                return Err(DomainError::invalid(format!(
                    "external reference: stays `{old_ref}` (the grid side knows the aggregator by it)"
                )));
            }
            store::update_aggregator(&mut tx, id, &fields, now)
                .await
                .map_err(conflict)?;
            (id, Some(json!({"name": old_name, "status": old_status})))
        }
    };
    store::set_programs(&mut tx, id, &program_ids).await?;
    let created = a.id.is_none();
    let mut entry = NewAuditEntry::new(
        actor,
        if created { "aggregator.create" } else { "aggregator.update" },
        "aggregator",
        id,
    )
    .after(json!({"name": a.name, "status": a.status.as_str(), "externalReference": a.external_ref, "programCodes": a.program_codes}));
    if let Some(b) = before {
        entry = entry.before(b);
    }
    append(&mut tx, entry).await?;
    let sync = AggregatorSync {
        transaction_id: format!("AGG-{id}-{}", now.timestamp_millis()),
        external_reference: a.external_ref.clone(),
        name: a.name.clone(),
        status: a.status,
        start_date: a.start_date,
        end_date: a.end_date,
        contact_name: a.contact_name.clone(),
        contact_email: a.contact_email.clone(),
        program_codes: a.program_codes.clone(),
    };
    sync.validate().map_err(|e| {
        DomainError::invalid(format!(
            "the aggregator cannot be synced: {}: {}",
            e.field, e.message
        ))
    })?;
    enqueue(
        &mut tx,
        &NewMessage {
            message_id: new_message_id(),
            flow: AggregatorSync::FLOW.as_str().into(),
            correlation_id: Some(format!("aggregator-{id}")),
            sender: "programs".into(),
            recipient: "grid".into(),
            payload: sync.to_payload(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((id, created))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> AggregatorInput {
        AggregatorInput {
            id: String::new(),
            name: "VoltShift".into(),
            status: "active".into(),
            start_date: "2026-01-01".into(),
            end_date: String::new(),
            contact_name: "Priya".into(),
            contact_email: "ops@voltshift.example".into(),
            external_ref: "AGG-VS".into(),
            program_codes: "smt-byod, BATT-VPP smt-byod".into(),
        }
    }

    #[test]
    fn program_codes_are_split_upper_cased_and_deduplicated() {
        assert_eq!(
            parse(&input()).unwrap().program_codes,
            ["SMT-BYOD", "BATT-VPP"]
        );
    }

    #[test]
    fn an_end_before_the_start_is_refused_naming_the_field() {
        let mut i = input();
        i.end_date = "2025-12-31".into();
        assert!(parse(&i).unwrap_err().to_string().contains("end date"));
    }

    #[test]
    fn a_contact_email_without_a_domain_is_refused() {
        let mut i = input();
        i.contact_email = "ops@".into();
        assert!(parse(&i).unwrap_err().to_string().contains("contact email"));
    }
}
