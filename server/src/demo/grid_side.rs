//! The grid side's copies as the flows would have left them, and the operator's strategies.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use crate::db::{insert_rows, Arg, Tx};
use crate::error::DomainError;
use crate::with_tx;

use super::past_events::DRILL_STRATEGY;

/// The grid side's copies as the flows would have left them (rule sync, score batch), and
/// three strategies so an operator can create an event straight away.
pub(super) async fn seed_grid_side(tx: &mut Tx, t0: DateTime<Utc>) -> Result<(), DomainError> {
    type RuleRow = (
        String,
        NaiveDate,
        String,
        i32,
        i32,
        i32,
        i32,
        i32,
        i32,
        i32,
        i32,
        i32,
        f64,
        f64,
        f64,
        bool,
    );
    let rules: Vec<RuleRow> = with_tx!(tx, |c| {
        sqlx::query_as(
        "SELECT p.code, r.effective_from, r.cycle, r.week_start, r.max_events_per_cycle, r.max_minutes_per_cycle,
                r.min_gap_minutes, r.min_event_minutes, r.max_event_minutes, r.max_overrides, r.window_start_minute,
                r.window_end_minute, r.activation_cost, r.burn_rate_factor, r.score_factor, r.overridable
         FROM program_rules r JOIN programs p ON p.id = r.program_id WHERE p.status = 'active'"
    )
    .fetch_all(c)
    .await?
    });
    let mut rows = Vec::new();
    let mut codes: Vec<String> = Vec::new();
    for r in rules {
        let rule = json!({"effectiveFrom": r.1, "cycle": r.2, "weekStart": r.3, "maxEventsPerCycle": r.4,
            "maxMinutesPerCycle": r.5, "minGapMinutes": r.6, "minEventMinutes": r.7, "maxEventMinutes": r.8,
            "maxOverrides": r.9, "windowStartMinute": r.10, "windowEndMinute": r.11, "activationCost": r.12,
            "burnRateFactor": r.13, "scoreFactor": r.14, "overridable": r.15});
        if !codes.contains(&r.0) {
            codes.push(r.0.clone());
        }
        rows.push(vec![
            Arg::Text(r.0),
            Arg::Date(r.1),
            Arg::Text(rule.to_string()),
            Arg::Bool(true),
            Arg::Time(t0),
        ]);
    }
    insert_rows(
        tx,
        "grid_program_rules",
        &[
            "program_code",
            "effective_from",
            "rule_json",
            "linked",
            "updated_at",
        ],
        &rows,
    )
    .await?;
    with_tx!(tx, |c| {
        sqlx::query(
        "UPDATE grid_devices SET control_score = (SELECT d.control_score FROM devices d
            WHERE d.head_end = grid_devices.head_end AND d.nic_id = grid_devices.nic_id), scored_on = $1"
    )
    .bind(t0.date_naive())
    .execute(c)
    .await?
    .rows_affected()
    });
    // The aggregators as flow 10 would have sent them, and which one talks to each
    // registered device (the OpenADR VTN targets the stage's devices at its VEN).
    type AggRow = (
        i64,
        String,
        String,
        String,
        NaiveDate,
        Option<NaiveDate>,
        String,
        String,
    );
    let aggregators: Vec<AggRow> = with_tx!(tx, |c| {
        sqlx::query_as(
            "SELECT id, external_ref, name, status, start_date, end_date, contact_name, contact_email
             FROM aggregators ORDER BY id",
        )
        .fetch_all(c)
        .await?
    });
    let offers: Vec<(i64, String)> = with_tx!(tx, |c| {
        sqlx::query_as(
            "SELECT o.aggregator_id, p.code FROM aggregator_programs o JOIN programs p ON p.id = o.program_id
             ORDER BY p.code",
        )
        .fetch_all(c)
        .await?
    });
    for a in &aggregators {
        let program_codes = offers
            .iter()
            .filter(|(id, _)| *id == a.0)
            .map(|(_, code)| code.as_str())
            .collect::<Vec<_>>()
            .join(",");
        crate::db::registry::upsert_aggregator(
            tx,
            &crate::db::registry::AggregatorFields {
                external_ref: &a.1,
                name: &a.2,
                status: &a.3,
                start_date: a.4,
                end_date: a.5,
                contact_name: &a.6,
                contact_email: &a.7,
                program_codes: &program_codes,
            },
            t0,
        )
        .await?;
    }
    with_tx!(tx, |c| {
        sqlx::query(
            "UPDATE grid_devices SET aggregator_ref = (SELECT a.external_ref FROM devices d
                JOIN aggregators a ON a.id = d.aggregator_id
                WHERE d.head_end = grid_devices.head_end AND d.nic_id = grid_devices.nic_id)",
        )
        .execute(c)
        .await?
        .rows_affected()
    });
    let programs = serde_json::to_string(&codes)?;
    // (name, description, zone, event type, balancing-authority check, objective, MW, max increase %)
    type DemoStrategy<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        bool,
        &'a str,
        Option<f64>,
        Option<f64>,
    );
    // Northgate's ceiling and Riverside's slice are sized to the substations once the load
    // history is in (`past_events::size_objectives`); these are the 5,000-device demo's. The
    // drill alone asks for more than its zone can give, on purpose.
    let strategies: [DemoStrategy; 4] = [
        (
            "Northgate heat wave",
            "Keep the Northgate substation under its summer rating.",
            "SUB-NORTH",
            "Reliability",
            true,
            "MaxDemandThreshold",
            Some(16.5),
            None,
        ),
        (
            "Riverside evening shave",
            "Take a fixed slice off Riverside's evening peak without a rebound spike.",
            "SUB-RIVER",
            "Economic",
            false,
            "LoadReduction",
            Some(0.4),
            Some(10.0),
        ),
        (
            "System emergency",
            "Shed everything the program rules allow, all substations.",
            "SUB-NORTH,SUB-RIVER,SUB-HARBOR",
            "Emergency",
            true,
            "MaximumReduction",
            None,
            None,
        ),
        (
            DRILL_STRATEGY,
            "A ceiling Harbor's devices cannot reach: its plan shows the shortfall warning on purpose.",
            "SUB-HARBOR",
            "DeviceTest",
            false,
            "MaxDemandThreshold",
            Some(1.0),
            None,
        ),
    ];
    for (name, desc, zone, etype, ba, objective, target, pct) in strategies {
        let mut ids = Vec::new();
        for code in zone.split(',') {
            let id: Option<i64> = with_tx!(tx, |c| sqlx::query_scalar(
                "SELECT id FROM network_nodes WHERE code = $1"
            )
            .bind(code)
            .fetch_optional(c)
            .await?);
            ids.extend(id);
        }
        let priority = match etype {
            "Emergency" => 4,
            "Reliability" => 3,
            "DeviceTest" => 1,
            _ => 2,
        };
        with_tx!(tx, |c| {
            sqlx::query(
            "INSERT INTO strategies (name, description, zone_node_ids, program_codes, device_groups, event_type, priority, ba_check,
                objective, target_mw, max_increase_pct, control_level, override_rules, created_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, '{\"deviceTypes\":[],\"feederIds\":[]}', $5, $6, $7, $8, $9, $10, 'full', FALSE, 'demo', $11, $11)"
        )
        .bind(name).bind(desc).bind(serde_json::to_string(&ids)?).bind(&programs).bind(etype).bind(priority)
        .bind(ba).bind(objective).bind(target).bind(pct).bind(t0)
        .execute(c)
        .await?
        .rows_affected()
        });
    }
    Ok(())
}
