//! A synthetic utility for demos, tests and benchmarks, deterministic from a seed: the
//! network, four programs with rules, two aggregators, customers with 1–3 devices each and
//! enrollments in every status.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::auth::hash_password;
use crate::db::audit::{append, NewAuditEntry};
use crate::db::{insert_rows, settings, user, Arg, Db, Tx};
use crate::error::DomainError;
use crate::programs::meter::Reading;
use crate::programs::meter_days;
use crate::with_db;
use crate::with_tx;

mod past_events;
pub use past_events::{
    afternoon_price, past_events, PastEvent, PastEventsSummary, NORTHGATE_MAX_DEVICES,
    PAST_EVENT_HOURS,
};

pub const DEMO_PASSWORD: &str = "gridflex-demo";
pub const DEMO_USERS: [(&str, &str, &str); 5] = [
    ("manager", "Maria Manager", "program_manager"),
    ("operator", "Omar Operator", "operator"),
    ("approver", "Ada Approver", "approver"),
    ("auditor", "Aude Auditor", "auditor"),
    ("admin", "Alex Admin", "admin"),
];
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

/// Creates the five demo users (password [`DEMO_PASSWORD`]) that do not exist yet.
pub async fn ensure_demo_users(db: &Db) -> Result<(), DomainError> {
    for (username, name, role) in DEMO_USERS {
        if user::get_user_by_name(db, username).await?.is_some() {
            continue;
        }
        let hash = tokio::task::spawn_blocking(|| hash_password(DEMO_PASSWORD))
            .await
            .map_err(|e| DomainError::Internal(e.to_string()))??;
        let mut tx = db.begin().await?;
        let id = user::insert_user(&mut tx, username, name, role, &hash).await?;
        append(
            &mut tx,
            NewAuditEntry::new("demo", "user.create", "user", id)
                .after(json!({"username": username, "role": role})),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

const SUBSTATIONS: [(&str, &str, &str); 3] = [
    ("SUB-NORTH", "Northgate substation", "Northgate"),
    ("SUB-RIVER", "Riverside substation", "Riverside"),
    ("SUB-HARBOR", "Harbor substation", "Harbor City"),
];
const FEEDERS_PER_SUBSTATION: usize = 4;
const LOCATIONS_PER_TRANSFORMER: usize = 8;

struct ProgramSpec {
    code: &'static str,
    name: &'static str,
    category: &'static str,
    device_type: &'static str,
    settlement: &'static str,
    timing: &'static str,
    baseline: &'static str,
    rate: f64,
    opt_out: bool,
}

const PROGRAMS: [ProgramSpec; 4] = [
    ProgramSpec {
        code: "SMT-BYOD",
        name: "Summer Thermostat Rewards (BYOD)",
        category: "Residential HVAC",
        device_type: "thermostat",
        settlement: "consumption",
        timing: "per_event",
        baseline: "10in10",
        rate: 0.25,
        opt_out: true,
    },
    ProgramSpec {
        code: "EV-MANAGED",
        name: "Managed EV Charging",
        category: "Residential EV",
        device_type: "ev_charger",
        settlement: "consumption",
        timing: "per_event",
        baseline: "high5of10",
        rate: 0.18,
        opt_out: true,
    },
    ProgramSpec {
        code: "BATT-VPP",
        name: "Home Battery Virtual Power Plant",
        category: "Residential storage",
        device_type: "battery",
        settlement: "demand",
        timing: "end_of_season",
        baseline: "10in10",
        rate: 8.50,
        opt_out: false,
    },
    ProgramSpec {
        code: "WH-CONTROL",
        name: "Water Heater Load Control",
        category: "Residential water heating",
        device_type: "water_heater",
        settlement: "demand",
        timing: "end_of_season",
        baseline: "10in10",
        rate: 4.00,
        opt_out: true,
    },
];

struct DeviceKind {
    device_type: &'static str,
    program: usize,
    weight: u32,
    head_ends: &'static [(&'static str, &'static str)],
    kw: (f64, f64),
}

const KINDS: [DeviceKind; 4] = [
    DeviceKind {
        device_type: "thermostat",
        program: 0,
        weight: 45,
        head_ends: &[
            ("ECOBEE", "ecobee3 lite"),
            ("NEST", "Nest Learning Thermostat 3"),
            ("HONEYWELL", "Honeywell T6 Pro"),
        ],
        kw: (1.2, 3.5),
    },
    DeviceKind {
        device_type: "ev_charger",
        program: 1,
        weight: 20,
        head_ends: &[
            ("CHARGEPOINT", "ChargePoint Home Flex 48A"),
            ("ENELX", "JuiceBox 40"),
        ],
        kw: (6.6, 11.5),
    },
    DeviceKind {
        device_type: "battery",
        program: 2,
        weight: 15,
        head_ends: &[("TESLA", "Powerwall 2"), ("ENPHASE", "IQ Battery 10T")],
        kw: (3.8, 7.6),
    },
    DeviceKind {
        device_type: "water_heater",
        program: 3,
        weight: 20,
        head_ends: &[
            ("RHEEM", "ProTerra 50 gal"),
            ("AOSMITH", "Signature 40 gal"),
        ],
        kw: (3.8, 5.5),
    },
];

const FIRST: [&str; 24] = [
    "Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jamal", "Kira",
    "Liam", "Mona", "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera",
    "Wen", "Yara",
];
const LAST: [&str; 24] = [
    "Smith",
    "Okafor",
    "Nguyen",
    "Garcia",
    "Muller",
    "Rossi",
    "Kowalski",
    "Haddad",
    "Tanaka",
    "Johansson",
    "Silva",
    "Brown",
    "Patel",
    "Dubois",
    "Novak",
    "Kim",
    "Cohen",
    "Ivanova",
    "Moreau",
    "Lopez",
    "Schmidt",
    "Ahmed",
    "Walker",
    "Costa",
];
const STREETS: [&str; 12] = [
    "Oak St",
    "Maple Ave",
    "Cedar Ln",
    "Pine Rd",
    "Elm St",
    "Birch Way",
    "Willow Dr",
    "Aspen Ct",
    "Spruce St",
    "Hickory Ln",
    "Juniper Rd",
    "Laurel Ave",
];

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
/// weather end, and its temperature forecast starts, at the current time.
pub async fn load_demo(db: &Db, size: DemoSize, seed: u64) -> Result<DemoSummary, DomainError> {
    load_demo_at(db, size, seed, Utc::now()).await
}

/// [`load_demo`] with the clock given: the same seed and `now` give the same utility.
pub async fn load_demo_at(
    db: &Db,
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
    if tx.is_postgres() {
        for table in [
            "network_nodes",
            "programs",
            "aggregators",
            "customers",
            "device_locations",
            "devices",
            "enrollments",
        ] {
            let sql = format!("SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))");
            crate::with_tx!(&mut tx, |c| sqlx::query(&sql)
                .execute(c)
                .await?
                .rows_affected());
        }
    }
    load_forecast_inputs(&mut tx, seed, now).await?;
    load_meter_readings(&mut tx, seed, now, meter_sample(summary.devices)).await?;
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
    seed_grid_side(&mut tx, t0).await?;
    if let Tx::Sqlite(t) = &mut tx {
        sqlx::query("PRAGMA cache_size = -16000")
            .execute(&mut **t)
            .await?;
    }
    tx.commit().await?;
    // The past events run through the real lifecycle, each step in its own transaction.
    let past = past_events::load_past_events(db, seed, summary.devices, now).await?;
    summary.past_events = past.events;
    summary.participant_service_points = past.service_points;
    Ok(summary)
}

/// The grid side's copies as the flows would have left them (rule sync, score batch), and
/// three strategies so an operator can create an event straight away.
async fn seed_grid_side(tx: &mut Tx, t0: DateTime<Utc>) -> Result<(), DomainError> {
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
    let strategies: [DemoStrategy; 3] = [
        (
            "Northgate heat wave",
            "Keep the Northgate substation under its summer rating.",
            "SUB-NORTH",
            "Reliability",
            true,
            "MaxDemandThreshold",
            Some(1.0),
            None,
        ),
        (
            "Riverside evening shave",
            "Take a fixed slice off Riverside's evening peak without a rebound spike.",
            "SUB-RIVER",
            "Economic",
            false,
            "LoadReduction",
            Some(0.3),
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

/// Tables the bulk loader fills.
const BULK_TABLES: &str = "'customers', 'device_locations', 'devices', 'enrollments', 'enrollment_devices', 'enrollment_status_history', 'grid_devices'";

/// (name, CREATE statement) of the non-unique secondary indexes of the bulk-loaded tables.
async fn secondary_indexes(tx: &mut Tx) -> Result<Vec<(String, String)>, DomainError> {
    let sql = match tx {
        Tx::Sqlite(_) => format!(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL
             AND sql NOT LIKE 'CREATE UNIQUE%' AND tbl_name IN ({BULK_TABLES}) ORDER BY name"
        ),
        Tx::Postgres(_) => format!(
            "SELECT indexname::text, indexdef::text FROM pg_indexes WHERE schemaname = current_schema()
             AND indexdef NOT LIKE 'CREATE UNIQUE%' AND tablename IN ({BULK_TABLES}) ORDER BY indexname"
        ),
    };
    Ok(crate::with_tx!(tx, |c| {
        sqlx::query_as::<_, (String, String)>(&sql)
            .fetch_all(c)
            .await?
    }))
}

struct PeopleGen {
    next_customer: i64,
    next_device: i64,
    next_enrollment: i64,
    devices_left: usize,
}

#[derive(Default)]
struct Chunk {
    customers: Vec<Vec<Arg>>,
    locations: Vec<Vec<Arg>>,
    devices: Vec<Vec<Arg>>,
    enrollments: Vec<Vec<Arg>>,
    members: Vec<Vec<Arg>>,
    history: Vec<Vec<Arg>>,
    replacements: Vec<Vec<Arg>>,
    windows: Vec<Vec<Arg>>,
    grid: Vec<Vec<Arg>>,
}

impl PeopleGen {
    fn chunk(
        &mut self,
        rng: &mut ChaCha8Rng,
        transformers: &[(i64, i64, i64, usize)],
        customers: usize,
        t0: DateTime<Utc>,
    ) -> Chunk {
        let mut c = Chunk::default();
        let total_weight: u32 = KINDS.iter().map(|k| k.weight).sum();
        for _ in 0..customers {
            if self.devices_left == 0 {
                break;
            }
            let cid = self.next_customer;
            self.next_customer += 1;
            let first = pick(rng, &FIRST);
            let last = pick(rng, &LAST);
            let name = format!("{first} {last}");
            c.customers.push(vec![
                Arg::Int(cid),
                Arg::Text(format!("P{cid:08}")),
                Arg::Text(format!("A{:09}", 100_000_000 + cid)),
                Arg::Text(name.clone()),
                Arg::Text(name.to_lowercase()),
                Arg::Text(format!(
                    "+1 555 {:03} {:04}",
                    rng.gen_range(200..999),
                    rng.gen_range(0..10_000)
                )),
                Arg::Text(format!(
                    "{}.{}{}@example.com",
                    first.to_lowercase(),
                    last.to_lowercase(),
                    cid
                )),
                Arg::Time(t0),
            ]);
            // One service point per customer, on a transformer of the utility.
            let (tid, fid, sid, city) =
                transformers[(cid as usize * 7919 + rng.gen_range(0..7)) % transformers.len()];
            c.locations.push(vec![
                Arg::Int(cid),
                Arg::Text(format!("SP{cid:09}")),
                Arg::Text(format!("PR{cid:09}")),
                Arg::Text(format!(
                    "{} {}",
                    rng.gen_range(1..9999),
                    pick(rng, &STREETS)
                )),
                Arg::Text(SUBSTATIONS[city].2.to_string()),
                Arg::Text(format!("{:05}", 60_000 + city * 100 + (cid as usize % 97))),
                Arg::Text("America/Chicago".into()),
                Arg::Int(tid),
                Arg::Int(fid),
                Arg::Int(sid),
                Arg::Time(t0),
            ]);
            let n_devices = match rng.gen_range(0..100) {
                0..=49 => 1,
                50..=84 => 2,
                _ => 3,
            }
            .min(self.devices_left);
            // Devices grouped by the program their type belongs to: one enrollment each.
            let mut by_program: [Vec<(i64, f64)>; 4] = Default::default();
            for _ in 0..n_devices {
                let mut roll = rng.gen_range(0..total_weight);
                let kind = KINDS
                    .iter()
                    .find(|k| {
                        if roll < k.weight {
                            true
                        } else {
                            roll -= k.weight;
                            false
                        }
                    })
                    .unwrap_or(&KINDS[0]);
                let did = self.next_device;
                self.next_device += 1;
                let (head_end, spec) = pick(rng, kind.head_ends);
                let kw = (rng.gen_range(kind.kw.0..kind.kw.1) * 10.0).round() / 10.0;
                by_program[kind.program].push((did, kw));
                c.devices.push(vec![
                    Arg::Int(did),
                    Arg::Text(head_end.to_string()),
                    Arg::Text(nic_for(did as u64)),
                    Arg::Text(kind.device_type.into()),
                    Arg::Text(spec.to_string()),
                    Arg::Text(format!("SN{:010}", did * 37 % 10_000_000_000)),
                    Arg::Text(format!("B{:07}", did)),
                    Arg::Text(
                        if rng.gen_range(0..100) < 97 {
                            "active"
                        } else {
                            "inactive"
                        }
                        .into(),
                    ),
                    Arg::Bool(false),
                    Arg::Float(kw),
                    Arg::Float((rng.gen_range(0.5..5.0f64) * 100.0).round() / 100.0),
                    Arg::Int(cid),
                    Arg::OptInt(if kind.program < 2 { Some(1) } else { Some(2) }),
                    Arg::Time(t0),
                    Arg::Time(t0),
                ]);
                if rng.gen_range(0..200) == 0 {
                    let start = t0
                        + Duration::days(rng.gen_range(30..200))
                        + Duration::hours(rng.gen_range(0..24));
                    c.windows.push(vec![
                        Arg::Int(did),
                        Arg::Time(start),
                        Arg::Time(start + Duration::hours(rng.gen_range(4..72))),
                        Arg::Text(
                            pick(rng, &["vacation", "medical", "maintenance", "guests"])
                                .to_string(),
                        ),
                        Arg::Text(
                            if rng.gen_bool(0.9) {
                                "active"
                            } else {
                                "cancelled"
                            }
                            .into(),
                        ),
                        Arg::Time(t0),
                    ]);
                }
            }
            self.devices_left -= n_devices;
            for (program, devices) in by_program.iter().enumerate() {
                if devices.is_empty() {
                    continue;
                }
                let eid = self.next_enrollment;
                self.next_enrollment += 1;
                let status = match rng.gen_range(0..100) {
                    0..=69 => "ACTIVE",
                    70..=89 => "PENDING",
                    _ => "INACTIVE",
                };
                let source = match rng.gen_range(0..100) {
                    0..=59 => "X1BY",
                    60..=84 => "X1SS",
                    _ => "X1CC",
                };
                let ownership = match rng.gen_range(0..100) {
                    0..=84 => "owned",
                    85..=94 => "leased",
                    _ => "utility",
                };
                let created = t0 - Duration::days(rng.gen_range(0..700))
                    + Duration::minutes(rng.gen_range(0..600));
                let start = created.date_naive();
                let activated = created + Duration::days(rng.gen_range(1..14));
                let ended = activated + Duration::days(rng.gen_range(30..300));
                let end_date = (status == "INACTIVE").then(|| ended.date_naive());
                c.enrollments.push(vec![
                    Arg::Int(eid),
                    Arg::Int(cid),
                    Arg::Int(program as i64 + 1),
                    Arg::Int(cid),
                    Arg::Int(fid),
                    Arg::Int(sid),
                    Arg::Text(source.into()),
                    Arg::Text(ownership.into()),
                    Arg::Text(status.into()),
                    Arg::Date(start),
                    Arg::OptDate(end_date),
                    Arg::Time(created),
                    Arg::Time(if status == "PENDING" {
                        created
                    } else {
                        activated
                    }),
                ]);
                let via = if source == "X1BY" {
                    "head-end"
                } else if source == "X1SS" {
                    "self-service"
                } else {
                    "contact-centre"
                };
                c.history.push(vec![
                    Arg::Int(eid),
                    Arg::OptText(None),
                    Arg::Text("PENDING".into()),
                    Arg::Time(created),
                    Arg::Text(via.into()),
                    Arg::Text("enrollment request received".into()),
                ]);
                if status != "PENDING" {
                    c.history.push(vec![
                        Arg::Int(eid),
                        Arg::OptText(Some("PENDING".into())),
                        Arg::Text("ACTIVE".into()),
                        Arg::Time(activated),
                        Arg::Text("manager".into()),
                        Arg::Text("devices registered with the head-end".into()),
                    ]);
                }
                if status == "INACTIVE" {
                    c.history.push(vec![
                        Arg::Int(eid),
                        Arg::OptText(Some("ACTIVE".into())),
                        Arg::Text("INACTIVE".into()),
                        Arg::Time(ended),
                        Arg::Text("manager".into()),
                        Arg::Text(
                            pick(
                                rng,
                                &["customer moved", "customer request", "device removed"],
                            )
                            .to_string(),
                        ),
                    ]);
                }
                let left = (status == "INACTIVE").then_some(ended);
                for (did, _) in devices {
                    c.members.push(vec![
                        Arg::Int(eid),
                        Arg::Int(*did),
                        Arg::Time(created),
                        Arg::OptTime(left),
                    ]);
                }
                // Registered with the head-end once active.
                if status == "ACTIVE" {
                    for (did, _) in devices {
                        if let Some(row) = c
                            .devices
                            .iter_mut()
                            .rev()
                            .find(|r| matches!(r[0], Arg::Int(d) if d == *did))
                        {
                            let registered = rng.gen_range(0..100) < 96;
                            row[8] = Arg::Bool(registered);
                            // The grid side's registry holds what flow 2 registered.
                            if registered {
                                c.grid.push(vec![
                                    row[1].clone(),
                                    row[2].clone(),
                                    Arg::Int(eid),
                                    Arg::Text(PROGRAMS[program].code.to_string()),
                                    row[3].clone(),
                                    row[9].clone(),
                                    Arg::Int(tid),
                                    Arg::Text("registered".into()),
                                    Arg::Time(activated),
                                    Arg::Time(activated),
                                ]);
                            }
                        }
                    }
                }
                // One active enrollment in a hundred had a device replaced (history kept).
                if status == "ACTIVE" && rng.gen_range(0..100) == 0 {
                    let (old, kw) = devices[0];
                    let new_id = self.next_device;
                    self.next_device += 1;
                    let old_row = c
                        .devices
                        .iter()
                        .rev()
                        .find(|r| matches!(r[0], Arg::Int(d) if d == old))
                        .cloned();
                    if let Some(mut row) = old_row {
                        row[0] = Arg::Int(new_id);
                        row[2] = Arg::Text(nic_for(new_id as u64));
                        row[5] = Arg::Text(format!("SN{:010}", new_id * 37 % 10_000_000_000));
                        row[6] = Arg::Text(format!("B{new_id:07}"));
                        row[9] = Arg::Float(kw);
                        c.devices.push(row);
                        if let Some(old_row) = c
                            .devices
                            .iter_mut()
                            .find(|r| matches!(r[0], Arg::Int(d) if d == old))
                        {
                            old_row[7] = Arg::Text("inactive".into());
                        }
                        let when = activated + Duration::days(rng.gen_range(10..200));
                        if let Some(m) = c
                            .members
                            .iter_mut()
                            .rev()
                            .find(|m| matches!(m[1], Arg::Int(d) if d == old))
                        {
                            m[3] = Arg::OptTime(Some(when));
                        }
                        c.members.push(vec![
                            Arg::Int(eid),
                            Arg::Int(new_id),
                            Arg::Time(when),
                            Arg::OptTime(None),
                        ]);
                        c.replacements.push(vec![
                            Arg::Int(eid),
                            Arg::Int(old),
                            Arg::Int(new_id),
                            Arg::Time(when),
                            Arg::Text("manager".into()),
                            Arg::Text("faulty unit replaced under warranty".into()),
                        ]);
                    }
                }
            }
        }
        c
    }
}

impl Chunk {
    async fn write(self, tx: &mut Tx) -> Result<(), DomainError> {
        insert_rows(
            tx,
            "customers",
            &crate::db::CUSTOMER_COLUMNS,
            &self.customers,
        )
        .await?;
        insert_rows(
            tx,
            "device_locations",
            &crate::db::LOCATION_COLUMNS,
            &self.locations,
        )
        .await?;
        insert_rows(tx, "devices", &crate::db::DEVICE_COLUMNS, &self.devices).await?;
        insert_rows(
            tx,
            "enrollments",
            &[
                "id",
                "customer_id",
                "program_id",
                "location_id",
                "feeder_id",
                "substation_id",
                "source",
                "ownership",
                "status",
                "start_date",
                "end_date",
                "created_at",
                "updated_at",
            ],
            &self.enrollments,
        )
        .await?;
        insert_rows(
            tx,
            "enrollment_devices",
            &["enrollment_id", "device_id", "joined_at", "left_at"],
            &self.members,
        )
        .await?;
        insert_rows(
            tx,
            "enrollment_status_history",
            &[
                "enrollment_id",
                "from_status",
                "to_status",
                "changed_at",
                "actor",
                "reason",
            ],
            &self.history,
        )
        .await?;
        insert_rows(
            tx,
            "device_replacements",
            &[
                "enrollment_id",
                "old_device_id",
                "new_device_id",
                "replaced_at",
                "actor",
                "reason",
            ],
            &self.replacements,
        )
        .await?;
        insert_rows(
            tx,
            "unavailability_windows",
            &[
                "device_id",
                "starts_at",
                "ends_at",
                "reason",
                "status",
                "created_at",
            ],
            &self.windows,
        )
        .await?;
        insert_rows(
            tx,
            "grid_devices",
            &[
                "head_end",
                "nic_id",
                "enrollment_id",
                "program_code",
                "device_type",
                "nominal_kw",
                "transformer_id",
                "status",
                "registered_at",
                "updated_at",
            ],
            &self.grid,
        )
        .await?;
        Ok(())
    }
}

/// Days of 15-minute feeder load history (and hourly observed temperatures) in the demo.
pub const DEMO_HISTORY_DAYS: i64 = 35;

/// A summer day's temperature at local hour `h`: coolest before dawn, hottest mid-afternoon.
fn demo_temperature(day_mean: f64, h: f64) -> f64 {
    day_mean + 7.0 * ((h - 15.5) / 24.0 * std::f64::consts::TAU).cos()
}

fn bump(h: f64, centre: f64, width: f64) -> f64 {
    (-(h - centre).powi(2) / (2.0 * width * width)).exp()
}

/// One household's kW at local hour `h`: morning and evening peaks (later and flatter at
/// weekends) and air conditioning above 21 °C, which makes the late afternoon the peak.
fn demo_home_kw(h: f64, weekend: bool, temp_c: f64) -> f64 {
    let shape = if weekend {
        0.45 * bump(h, 9.5, 1.5) + 0.25 * bump(h, 13.0, 2.0) + 0.85 * bump(h, 18.5, 2.5)
    } else {
        0.55 * bump(h, 7.0, 1.0) + 0.95 * bump(h, 18.5, 2.0)
    };
    0.45 + shape + 0.11 * (temp_c - 21.0).max(0.0)
}

/// A default reduction row: device type, local hours `[from, until)`, temperature band
/// `[from, until)` in °C, share of nominal kW.
type DefaultReduction = (&'static str, (i32, i32), (f64, f64), f64);

/// The default expected-reduction table.
pub const DEFAULT_REDUCTIONS: &[DefaultReduction] = &[
    ("thermostat", (0, 12), (-60.0, 60.0), 0.15),
    ("thermostat", (12, 20), (-60.0, 24.0), 0.15),
    ("thermostat", (12, 20), (24.0, 30.0), 0.40),
    ("thermostat", (12, 20), (30.0, 60.0), 0.65),
    ("thermostat", (20, 24), (-60.0, 60.0), 0.25),
    ("water_heater", (0, 6), (-60.0, 60.0), 0.30),
    ("water_heater", (6, 9), (-60.0, 60.0), 0.80),
    ("water_heater", (9, 17), (-60.0, 60.0), 0.40),
    ("water_heater", (17, 21), (-60.0, 60.0), 0.80),
    ("water_heater", (21, 24), (-60.0, 60.0), 0.30),
    ("ev_charger", (0, 7), (-60.0, 60.0), 0.50),
    ("ev_charger", (7, 17), (-60.0, 60.0), 0.20),
    ("ev_charger", (17, 23), (-60.0, 60.0), 0.90),
    ("ev_charger", (23, 24), (-60.0, 60.0), 0.50),
    ("battery", (0, 24), (-60.0, 60.0), 0.90),
    ("pool_pump", (0, 10), (-60.0, 60.0), 0.20),
    ("pool_pump", (10, 20), (-60.0, 60.0), 0.90),
    ("pool_pump", (20, 24), (-60.0, 60.0), 0.20),
    ("smart_inverter", (8, 18), (-60.0, 60.0), 0.30),
];

/// Load history per feeder, observed temperatures for the same days, a hot 48-hour forecast
/// from `now`, and the default reduction table. Its own RNG stream (from the seed), so the
/// rest of the demo does not change with it.
/// Days of 15-minute meter data the demo holds, ending at the current interval.
pub const DEMO_METER_DAYS: i64 = 21;

/// Service points with demo meter data: one per 100 devices, at most 500 (the first by id).
pub fn meter_sample(devices: usize) -> usize {
    (devices / 100).clamp(1, 500)
}

/// Interval readings for the first `sample` service points over the last
/// [`DEMO_METER_DAYS`] days: an afternoon-peaking household load, lighter at weekends,
/// deterministic from the seed and `now`, so the baselines have data out of the box.
async fn load_meter_readings(
    tx: &mut Tx,
    seed: u64,
    now: DateTime<Utc>,
    sample: usize,
) -> Result<(), DomainError> {
    use crate::calendar::{align, LOCAL_OFFSET_HOURS};
    let sps: Vec<String> = crate::with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT service_point_id FROM device_locations ORDER BY id LIMIT $1"
    )
    .bind(sample as i64)
    .fetch_all(c)
    .await?);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x3E7E_5EED);
    let end = align(now);
    let first = end - Duration::days(DEMO_METER_DAYS);
    let intervals = (DEMO_METER_DAYS * 96) as usize;
    let mut rows: Vec<Reading> = Vec::with_capacity(sps.len().min(50) * intervals);
    for sp in sps {
        let base_kw = rng.gen_range(0.4..1.5f64);
        let peak_kw = rng.gen_range(1.0..4.0f64);
        for i in 0..intervals {
            let t = first + Duration::minutes(15 * i as i64);
            let local = t.naive_utc() + Duration::hours(LOCAL_OFFSET_HOURS);
            let h = f64::from(local.hour()) + f64::from(local.minute()) / 60.0;
            // A bump centred on 17:00 local, about six hours wide.
            let shape = (-((h - 17.0) / 3.0).powi(2)).exp();
            let weekend = matches!(local.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
            let kw = (base_kw + peak_kw * shape)
                * if weekend { 0.8 } else { 1.0 }
                * rng.gen_range(0.9..1.1f64);
            rows.push(Reading {
                service_point_id: sp.clone(),
                start: t,
                minutes: 15,
                kwh: (kw / 4.0 * 1000.0).round() / 1000.0,
            });
        }
        if rows.len() >= 200_000 {
            meter_days::store(tx, None, &rows).await?;
            rows.clear();
        }
    }
    meter_days::store(tx, None, &rows).await
}

async fn load_forecast_inputs(
    tx: &mut Tx,
    seed: u64,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    use crate::calendar::{align, LOCAL_OFFSET_HOURS};
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x00F0_7ECA_57ED);
    let start = align(now);
    let first_hour = {
        let s = (start - Duration::days(DEMO_HISTORY_DAYS)).timestamp();
        DateTime::from_timestamp(s - s.rem_euclid(3600), 0).unwrap_or(start)
    };
    let hours_total = (DEMO_HISTORY_DAYS * 24 + 50) as usize;
    // Hourly temperatures: a daily mean that wanders between 22 and 31 °C, then two hot days.
    let forecast_from = {
        let s = start.timestamp();
        s - s.rem_euclid(3600)
    };
    let mut day_mean = 26.0;
    let mut last_day = None;
    let mut temps: Vec<(DateTime<Utc>, f64, bool)> = Vec::with_capacity(hours_total);
    for i in 0..hours_total {
        let t = first_hour + Duration::hours(i as i64);
        let local = t.naive_utc() + Duration::hours(LOCAL_OFFSET_HOURS);
        let is_forecast = t.timestamp() >= forecast_from;
        let day = local.date();
        if last_day != Some(day) {
            last_day = Some(day);
            day_mean = (day_mean + rng.gen_range(-2.0..2.0f64)).clamp(22.0, 31.0);
        }
        let mean = if is_forecast { 31.0 } else { day_mean };
        let h = f64::from(local.hour());
        let noise = if is_forecast {
            0.0
        } else {
            rng.gen_range(-0.6..0.6)
        };
        temps.push((t, demo_temperature(mean, h) + noise, is_forecast));
    }
    let temp_rows: Vec<Vec<Arg>> = temps
        .iter()
        .filter(|(t, _, f)| *f || *t < start)
        .map(|(t, c, f)| {
            vec![
                Arg::Text(if *f { "forecast" } else { "observed" }.into()),
                Arg::Time(*t),
                Arg::Float((c * 10.0).round() / 10.0),
                Arg::Time(now),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "temperatures",
        &["kind", "hour_start", "temperature_c", "updated_at"],
        &temp_rows,
    )
    .await?;

    // Service points per feeder: the demo's customers plus the many the programs never see.
    let feeders: Vec<(i64, i64)> = crate::with_tx!(tx, |c| {
        sqlx::query_as(
        "SELECT n.id, COUNT(l.id) FROM network_nodes n LEFT JOIN device_locations l ON l.feeder_id = n.id
         WHERE n.kind = 'feeder' GROUP BY n.id ORDER BY n.id"
    )
    .fetch_all(&mut *c)
    .await?
    });
    let temp_at = |t: DateTime<Utc>| {
        let i = ((t - first_hour).num_hours()).clamp(0, temps.len() as i64 - 1) as usize;
        temps[i].1
    };
    let intervals = (start - first_hour).num_minutes() / 15;
    let mut rows = Vec::with_capacity(feeders.len() * intervals as usize);
    for (feeder, service_points) in feeders {
        let homes = service_points as f64 * 4.0 + 300.0;
        let commercial = 250.0 + rng.gen_range(0.0..250.0);
        for i in 0..intervals {
            let t = first_hour + Duration::minutes(15 * i);
            let local = t.naive_utc() + Duration::hours(LOCAL_OFFSET_HOURS);
            let h = f64::from(local.hour()) + f64::from(local.minute()) / 60.0;
            let weekend = matches!(local.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
            let business = if !weekend && (8.0..18.0).contains(&h) {
                1.6
            } else {
                1.0
            };
            let kw = homes * demo_home_kw(h, weekend, temp_at(t)) + commercial * business;
            let kw = kw * (1.0 + rng.gen_range(-0.03..0.03));
            rows.push(vec![Arg::Int(feeder), Arg::Time(t), Arg::Float(kw.round())]);
        }
    }
    insert_rows(
        tx,
        "feeder_load_history",
        &["feeder_id", "interval_start", "kw"],
        &rows,
    )
    .await?;

    let reductions: Vec<Vec<Arg>> = DEFAULT_REDUCTIONS
        .iter()
        .map(|(ty, (h0, h1), (c0, c1), share)| {
            vec![
                Arg::Text(ty.to_string()),
                Arg::Int(i64::from(*h0)),
                Arg::Int(i64::from(*h1)),
                Arg::Float(*c0),
                Arg::Float(*c1),
                Arg::Float(*share),
                Arg::Time(now),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "reduction_factors",
        &[
            "device_type",
            "hour_from",
            "hour_to",
            "temp_from_c",
            "temp_to_c",
            "share",
            "updated_at",
        ],
        &reductions,
    )
    .await?;
    Ok(())
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
