//! A synthetic utility for demos, tests and benchmarks, deterministic from a seed: the
//! network, four programs with rules, two aggregators, customers with 1–3 devices each and
//! enrollments in every status.
//!
//! This module loads it in one transaction ([`load_demo_at`]); the parts are what it is made of
//! (`catalog`), who lives in it (`population`), what the grid side holds (`grid_side`), its
//! recorded past (`history`, `past_events`) and who signs in to it (`users`).

mod catalog;
mod grid_side;
mod history;
mod past_events;
mod population;
mod users;

pub use history::{meter_sample, DEFAULT_REDUCTIONS, DEMO_HISTORY_DAYS, DEMO_METER_DAYS};
pub use past_events::{
    afternoon_price, past_events, PastEvent, PastEventsSummary, DRILL_EVENT, DRILL_STRATEGY,
    NORTHGATE_MAX_DEVICES, PAST_EVENT_HOURS,
};
pub use users::{ensure_demo_users, DEMO_PASSWORD, DEMO_USERS};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use catalog::{FEEDERS_PER_SUBSTATION, LOCATIONS_PER_TRANSFORMER, PROGRAMS, SUBSTATIONS};
use grid_side::seed_grid_side;
use history::{load_forecast_inputs, load_meter_readings};
use population::{secondary_indexes, PeopleGen};

use crate::calendar::Calendar;
use crate::db::audit::{append, NewAuditEntry};
use crate::db::{insert_rows, settings, Arg, Db, Tx};
use crate::error::DomainError;
use crate::with_db;

pub const DEFAULT_SEED: u64 = 20_260_601;

/// How many devices to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoSize(pub usize);

impl std::str::FromStr for DemoSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "small" => Ok(DemoSize(5_000)),
            "large" => Ok(DemoSize(1_000_000)),
            other => other
                .parse::<usize>()
                .ok()
                .filter(|n| (10..=5_000_000).contains(n))
                .map(DemoSize)
                .ok_or_else(|| {
                    format!(
                        "expected small, large or a device count from 10 to 5000000, got `{other}`"
                    )
                }),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoSummary {
    pub substations: usize,
    pub feeders: usize,
    pub transformers: usize,
    pub customers: usize,
    pub devices: usize,
    pub enrollments: usize,
    /// Codes of the completed, settled past events.
    pub past_events: Vec<String>,
    /// Service points whose meter data follows the past events' outcomes.
    pub participant_service_points: usize,
}

/// Whether the database holds no utility yet (no programs and no network).
pub async fn is_empty(db: &Db) -> Result<bool, DomainError> {
    let n: i64 = with_db!(db, |pool| sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM programs) + (SELECT COUNT(*) FROM network_nodes)"
    )
    .fetch_one(pool)
    .await?);
    Ok(n == 0)
}

fn anchor() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0)
        .single()
        .expect("valid anchor")
}

/// A bijection on 48 bits: unique, scrambled NIC ids from sequential numbers.
fn nic_for(n: u64) -> String {
    const MASK: u64 = (1 << 48) - 1;
    let x = (n.wrapping_mul(0x9E37_79B9_7F4B) ^ 0x5A5A_5A5A_5A5A) & MASK;
    format!("{x:012X}")
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

/// Loads the demo utility into an empty database in one transaction; its load history and
/// weather end, and its temperature forecast starts, at the system clock's time (the `demo`
/// command and benches; a server loads it at its own clock with [`load_demo_at`]).
pub async fn load_demo(
    db: &Db,
    cal: Calendar,
    size: DemoSize,
    seed: u64,
) -> Result<DemoSummary, DomainError> {
    load_demo_at(db, cal, size, seed, Utc::now()).await
}

/// [`load_demo`] with the clock given: the same seed and `now` give the same utility.
pub async fn load_demo_at(
    db: &Db,
    cal: Calendar,
    size: DemoSize,
    seed: u64,
    now: DateTime<Utc>,
) -> Result<DemoSummary, DomainError> {
    if !is_empty(db).await? {
        return Err(DomainError::Conflict(
            "the database already holds a utility; the demo loads only into an empty one".into(),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut tx = db.begin().await?;
    if let Tx::Sqlite(t) = &mut tx {
        // Random-order index inserts (NIC ids, names) thrash a small page cache; give the
        // loading connection a large one while it works.
        sqlx::query("PRAGMA cache_size = -262144")
            .execute(&mut **t)
            .await?;
    }
    let t0 = anchor();
    let mut summary = DemoSummary::default();

    // Network: substations, feeders, transformers, with a few historical transfers.
    let devices_wanted = size.0;
    let locations_estimate = devices_wanted * 100 / 165 + 1;
    let feeders_total = SUBSTATIONS.len() * FEEDERS_PER_SUBSTATION;
    let per_feeder = (locations_estimate / feeders_total / LOCATIONS_PER_TRANSFORMER).max(4);
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    let mut next_node = 1i64;
    let mut transformers: Vec<(i64, i64, i64, usize)> = Vec::new(); // (transformer, feeder, substation, city idx)
    for (si, (code, name, _)) in SUBSTATIONS.iter().enumerate() {
        let sid = next_node;
        next_node += 1;
        nodes.push(vec![
            Arg::Int(sid),
            Arg::Text("substation".into()),
            Arg::Text(code.to_string()),
            Arg::Text(name.to_string()),
            Arg::Float(60_000.0),
            Arg::Time(t0),
        ]);
        for fi in 0..FEEDERS_PER_SUBSTATION {
            let fid = next_node;
            next_node += 1;
            let fcode = format!("FDR-{}{:02}", &code[4..5], fi + 1);
            nodes.push(vec![
                Arg::Int(fid),
                Arg::Text("feeder".into()),
                Arg::Text(fcode.clone()),
                Arg::Text(format!("Feeder {fcode}")),
                Arg::Float(12_000.0),
                Arg::Time(t0),
            ]);
            edges.push(vec![
                Arg::Int(fid),
                Arg::Int(sid),
                Arg::Time(t0),
                Arg::OptTime(None),
            ]);
            for ti in 0..per_feeder {
                let tid = next_node;
                next_node += 1;
                let tcode = format!("XF-{}{:02}-{:04}", &code[4..5], fi + 1, ti + 1);
                nodes.push(vec![
                    Arg::Int(tid),
                    Arg::Text("transformer".into()),
                    Arg::Text(tcode),
                    Arg::Text(format!("Pole-top {}", ti + 1)),
                    Arg::Float(50.0),
                    Arg::Time(t0),
                ]);
                transformers.push((tid, fid, sid, si));
            }
        }
        summary.substations += 1;
    }
    summary.feeders = feeders_total;
    summary.transformers = transformers.len();
    // Every transformer's link; one in fifty moved feeders once (history kept).
    for (i, (tid, fid, _, _)) in transformers.iter().enumerate() {
        if i % 50 == 7 {
            let other = transformers[(i + per_feeder) % transformers.len()].1;
            let moved = t0 - Duration::days(400);
            edges.push(vec![
                Arg::Int(*tid),
                Arg::Int(other),
                Arg::Time(moved - Duration::days(3000)),
                Arg::OptTime(Some(moved)),
            ]);
            edges.push(vec![
                Arg::Int(*tid),
                Arg::Int(*fid),
                Arg::Time(moved),
                Arg::OptTime(None),
            ]);
        } else {
            edges.push(vec![
                Arg::Int(*tid),
                Arg::Int(*fid),
                Arg::Time(t0 - Duration::days(3000)),
                Arg::OptTime(None),
            ]);
        }
    }
    insert_rows(
        &mut tx,
        "network_nodes",
        &["id", "kind", "code", "name", "rated_kva", "created_at"],
        &nodes,
    )
    .await?;
    insert_rows(
        &mut tx,
        "network_edges",
        &["child_id", "parent_id", "valid_from", "valid_to"],
        &edges,
    )
    .await?;
    // The program side learns the same model (as flow 11 would tell it) into its own copy;
    // its service points and enrollments below hang off these nodes.
    let program_nodes: Vec<Vec<Arg>> = nodes
        .iter()
        .map(|n| {
            vec![
                n[0].clone(),
                n[1].clone(),
                n[2].clone(),
                n[3].clone(),
                n[5].clone(),
            ]
        })
        .collect();
    insert_rows(
        &mut tx,
        "program_network_nodes",
        &["id", "kind", "code", "name", "created_at"],
        &program_nodes,
    )
    .await?;
    insert_rows(
        &mut tx,
        "program_network_edges",
        &["child_id", "parent_id", "valid_from", "valid_to"],
        &edges,
    )
    .await?;

    // Programs, rules, aggregators. The season is the current calendar year, so the demo's
    // recent events fall in it whenever the demo is loaded.
    let season_start = NaiveDate::from_ymd_opt(now.year(), 1, 1).expect("date");
    let season_end = NaiveDate::from_ymd_opt(now.year(), 12, 31).expect("date");
    let mut programs = Vec::new();
    let mut rules = Vec::new();
    for (i, p) in PROGRAMS.iter().enumerate() {
        let pid = i as i64 + 1;
        programs.push(vec![
            Arg::Int(pid),
            Arg::Text(p.code.into()),
            Arg::Text(p.name.into()),
            Arg::Text(p.category.into()),
            Arg::Text(p.device_type.into()),
            Arg::Text("active".into()),
            Arg::Date(season_start),
            Arg::Date(season_end),
            Arg::Text(p.settlement.into()),
            Arg::Text(p.timing.into()),
            Arg::Text(p.baseline.into()),
            Arg::Float(p.rate),
            Arg::Bool(p.opt_out),
            Arg::Int(if p.opt_out { 60 } else { 0 }),
            Arg::Bool(true),
            Arg::Time(t0),
            Arg::Time(t0),
        ]);
        // Last season's rule and this season's (the latest effective one applies).
        for (k, from) in [NaiveDate::from_ymd_opt(2025, 5, 1), Some(season_start)]
            .into_iter()
            .flatten()
            .enumerate()
        {
            let tighter = k == 0;
            rules.push(vec![
                Arg::Int(pid),
                Arg::Date(from),
                Arg::Text(if i == 2 { "weekly" } else { "monthly" }.into()),
                Arg::Int(0),
                Arg::Int(if tighter { 4 } else { 6 }),
                Arg::Int(if tighter { 480 } else { 720 }),
                Arg::Int(if i == 1 { 360 } else { 720 }),
                Arg::Int(15),
                Arg::Int(if i == 2 { 120 } else { 240 }),
                Arg::Int(if p.opt_out { 2 } else { 0 }),
                Arg::Int(if i == 1 { 16 * 60 } else { 12 * 60 }),
                Arg::Int(if i == 1 { 22 * 60 } else { 20 * 60 }),
                Arg::Float(1.0 + i as f64 * 0.5),
                Arg::Float(if tighter { 1.5 } else { 1.2 }),
                Arg::Float(1.0),
                Arg::Bool(i == 2),
                Arg::Time(t0),
            ]);
        }
    }
    insert_rows(
        &mut tx,
        "programs",
        &[
            "id",
            "code",
            "name",
            "category",
            "device_type",
            "status",
            "season_start",
            "season_end",
            "settlement_method",
            "settlement_timing",
            "baseline_method",
            "credit_rate",
            "opt_out_allowed",
            "opt_out_cutoff_minutes",
            "unavailability_allowed",
            "created_at",
            "updated_at",
        ],
        &programs,
    )
    .await?;
    insert_rows(
        &mut tx,
        "program_rules",
        &[
            "program_id",
            "effective_from",
            "cycle",
            "week_start",
            "max_events_per_cycle",
            "max_minutes_per_cycle",
            "min_gap_minutes",
            "min_event_minutes",
            "max_event_minutes",
            "max_overrides",
            "window_start_minute",
            "window_end_minute",
            "activation_cost",
            "burn_rate_factor",
            "score_factor",
            "overridable",
            "created_at",
        ],
        &rules,
    )
    .await?;
    let aggregators = vec![
        vec![
            Arg::Int(1),
            Arg::Text("VoltShift Aggregation".into()),
            Arg::Text("active".into()),
            Arg::Date(NaiveDate::from_ymd_opt(2024, 1, 1).expect("date")),
            Arg::OptDate(None),
            Arg::Text("Priya Raman".into()),
            Arg::Text("ops@voltshift.example".into()),
            Arg::Text("AGG-VOLTSHIFT".into()),
            Arg::Time(t0),
            Arg::Time(t0),
        ],
        vec![
            Arg::Int(2),
            Arg::Text("GridEdge Partners".into()),
            Arg::Text("active".into()),
            Arg::Date(NaiveDate::from_ymd_opt(2025, 3, 1).expect("date")),
            Arg::OptDate(None),
            Arg::Text("Tom Becker".into()),
            Arg::Text("dispatch@gridedge.example".into()),
            Arg::Text("AGG-GRIDEDGE".into()),
            Arg::Time(t0),
            Arg::Time(t0),
        ],
    ];
    insert_rows(
        &mut tx,
        "aggregators",
        &[
            "id",
            "name",
            "status",
            "start_date",
            "end_date",
            "contact_name",
            "contact_email",
            "external_ref",
            "created_at",
            "updated_at",
        ],
        &aggregators,
    )
    .await?;
    let offers = vec![
        vec![Arg::Int(1), Arg::Int(1)],
        vec![Arg::Int(1), Arg::Int(2)],
        vec![Arg::Int(2), Arg::Int(3)],
        vec![Arg::Int(2), Arg::Int(4)],
    ];
    insert_rows(
        &mut tx,
        "aggregator_programs",
        &["aggregator_id", "program_id"],
        &offers,
    )
    .await?;

    // Customers, locations, devices, enrollments: generated and written in chunks, with the
    // secondary indexes of those tables dropped and rebuilt afterwards (one sort per index
    // instead of millions of random-order inserts), inside the same transaction.
    let indexes = secondary_indexes(&mut tx).await?;
    for (name, _) in &indexes {
        let sql = format!("DROP INDEX {name}");
        crate::with_tx!(&mut tx, |c| sqlx::query(&sql)
            .execute(c)
            .await?
            .rows_affected());
    }
    let mut gen = PeopleGen {
        next_customer: 1,
        next_device: 1,
        next_enrollment: 1,
        devices_left: devices_wanted,
    };
    while gen.devices_left > 0 {
        let chunk = gen.chunk(&mut rng, &transformers, 5_000, t0);
        summary.customers += chunk.customers.len();
        summary.devices += chunk.devices.len();
        summary.enrollments += chunk.enrollments.len();
        chunk.write(&mut tx).await?;
    }
    for (_, create) in &indexes {
        crate::with_tx!(&mut tx, |c| sqlx::query(create)
            .execute(c)
            .await?
            .rows_affected());
    }
    // Each side records the service points it knows in its own table: the grid its
    // service point → transformer (exported by flow 11), the program side its places.
    for record in [
        // The two sides share codes, not ids: the grid's transformer is found by code.
        "INSERT INTO grid_service_points (service_point_id, transformer_id, updated_at)
         SELECT l.service_point_id, g.id, l.created_at FROM device_locations l
         JOIN program_network_nodes t ON t.id = l.transformer_id JOIN network_nodes g ON g.code = t.code",
        "INSERT INTO program_network_places
            (service_point_id, transformer_code, feeder_code, substation_code, transaction_id, updated_at)
         SELECT l.service_point_id, t.code, f.code, s.code, NULL, l.created_at FROM device_locations l
         JOIN program_network_nodes t ON t.id = l.transformer_id
         JOIN program_network_nodes f ON f.id = l.feeder_id
         JOIN program_network_nodes s ON s.id = l.substation_id",
    ] {
        crate::with_tx!(&mut tx, |c| sqlx::query(record)
            .execute(c)
            .await?
            .rows_affected());
    }
    for table in [
        "network_nodes",
        "program_network_nodes",
        "programs",
        "aggregators",
        "customers",
        "device_locations",
        "devices",
        "enrollments",
    ] {
        crate::db::dialect::sync_id_sequence(&mut tx, table).await?;
    }
    load_forecast_inputs(&mut tx, cal, seed, now).await?;
    load_meter_readings(&mut tx, cal, seed, now, meter_sample(summary.devices)).await?;
    // The demo utility is American: the US federal holidays of the year before, this one and
    // the next (the past events' look-back and the season), never baseline days.
    let (first, last) = (
        NaiveDate::from_ymd_opt(now.year() - 1, 1, 1).expect("date"),
        NaiveDate::from_ymd_opt(now.year() + 1, 12, 31).expect("date"),
    );
    let holidays = crate::calendar::holidays::us_federal_between(first, last);
    let added = crate::db::holiday::add_missing_holidays(&mut tx, &holidays, now).await?;
    append(
        &mut tx,
        NewAuditEntry::new("demo", "holiday.defaults", "holiday", "us-federal")
            .after(json!({"from": first, "to": last, "added": added})),
    )
    .await?;
    let value = json!({"seed": seed, "devices": summary.devices, "customers": summary.customers, "enrollments": summary.enrollments}).to_string();
    let before = settings::put_setting(&mut tx, "demo", &value).await?;
    append(
        &mut tx,
        NewAuditEntry::new("demo", "demo.load", "setting", "demo")
            .after(serde_json::from_str(&value)?)
            .before(
                before
                    .map(serde_json::Value::String)
                    .unwrap_or(serde_json::Value::Null),
            ),
    )
    .await?;
    crate::db::enrollment::recount_tallies(&mut tx).await?;
    seed_grid_side(&mut tx, t0).await?;
    // Each side's network figures (migration 0024), counted once over everything loaded.
    crate::db::network::recount_node_figures(&mut tx, crate::db::network::Recount::All).await?;
    crate::db::program_network::recount_enrolled_figures(
        &mut tx,
        crate::db::network::Recount::All,
        &[],
    )
    .await?;
    if let Tx::Sqlite(t) = &mut tx {
        sqlx::query("PRAGMA cache_size = -16000")
            .execute(&mut **t)
            .await?;
    }
    tx.commit().await?;
    // The past events run through the real lifecycle, each step in its own transaction.
    let past = past_events::load_past_events(db, cal, seed, summary.devices, now).await?;
    summary.past_events = past.events;
    summary.participant_service_points = past.service_points;
    past_events::plan_drill(db, cal, now).await?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nic_ids_are_unique_and_twelve_hex_digits() {
        let ids: std::collections::HashSet<String> = (1..100_000u64).map(nic_for).collect();
        assert_eq!(ids.len(), 99_999);
        assert!(ids
            .iter()
            .all(|s| s.len() == 12 && s.chars().all(|c| c.is_ascii_hexdigit())));
    }

    #[test]
    fn demo_sizes_parse() {
        assert_eq!("small".parse::<DemoSize>(), Ok(DemoSize(5_000)));
        assert_eq!("large".parse::<DemoSize>(), Ok(DemoSize(1_000_000)));
        assert_eq!("1200".parse::<DemoSize>(), Ok(DemoSize(1_200)));
        assert!("huge".parse::<DemoSize>().is_err());
        assert!("0".parse::<DemoSize>().is_err());
    }
}
