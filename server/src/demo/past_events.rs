//! The demo's past events: run through the real lifecycle on a simulated clock (planned and
//! submitted by the demo operator, approved by the demo approver, dispatched by the scheduler
//! to the head-end simulator, flows 4/5/6 delivered in process to the program side), then
//! meter data that matches each device's outcome, afternoon prices, and settlement.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Timelike, Utc, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use app::model::Role;

use crate::calendar::{align, Calendar};
use crate::clock::{Clock, ManualClock};
use crate::db::{insert_rows, Arg, Db, Tx};
use crate::error::DomainError;
use crate::grid::console::GridSettings;
use crate::grid::dispatch;
use crate::grid::event::{self, EventWindow};
use crate::grid::headend::HeadEndSim;
use crate::grid::lifecycle::{Action, Actor};
use crate::integration::peer::Peers;
use crate::integration::worker::{DeliveryWorker, RetryPolicy};
use crate::programs::meter_days;
use crate::{with_db, with_tx};

use super::DEMO_METER_DAYS;

/// Local hours `[from, until)` of every past demo event.
pub const PAST_EVENT_HOURS: (u32, u32) = (16, 18);

/// Above this many devices the Northgate event (which keeps a substation under a ceiling and
/// so reserves devices in proportion to the zone) is left out: it would reserve tens of
/// thousands of devices, and their meter data would dwarf the rest of the demo. For the same
/// reason the objectives are sized to the substations only up to this size; above it the
/// Riverside event keeps its seeded fixed slice (0.4 MW), which every size can give.
pub const NORTHGATE_MAX_DEVICES: usize = 20_000;

/// Share of a device's shed kW that comes back in the first and second quarter hour after
/// it stops shedding (pre-cooling, catching up on charging).
const REBOUND: [f64; 2] = [0.3, 0.12];

/// Sizes the demo's two everyday objectives to its substations, whose load and controllable
/// kW grow with the demo's size: Northgate's ceiling is 96 % of its forecast peak over the
/// first past event's window (the plan shaves the top of the peak), Riverside's reduction
/// 2.5 % of its own (a slice every interval can give). Both plans then meet their objective.
async fn size_objectives(db: &Db, cal: Calendar, day: NaiveDate) -> Result<(), DomainError> {
    let start = at_local(cal, day, PAST_EVENT_HOURS.0);
    let n = ((PAST_EVENT_HOURS.1 - PAST_EVENT_HOURS.0) * 4) as usize;
    for (name, share, description) in [
        (
            "Northgate heat wave",
            0.96,
            "Keep the Northgate substation under its summer rating (96 % of its forecast afternoon peak).",
        ),
        (
            "Riverside evening shave",
            0.025,
            "Take a fixed slice (2.5 % of the afternoon peak) off Riverside's evening load without a rebound spike.",
        ),
    ] {
        let zone: String = with_db!(db, |c| sqlx::query_scalar(
            "SELECT zone_node_ids FROM strategies WHERE name = $1"
        )
        .bind(name)
        .fetch_one(c)
        .await?);
        let zone: Vec<i64> = serde_json::from_str(&zone)
            .map_err(|e| DomainError::Internal(format!("demo: {name}'s zone: {e}")))?;
        let base = crate::grid::forecast::zone_baseline(db, cal, &zone, start, n).await?;
        let peak = base.iter().cloned().fold(0.0, f64::max);
        // MW with two decimals.
        let target_mw = (peak * share / 10.0).round() / 100.0;
        with_db!(db, |c| sqlx::query(
            "UPDATE strategies SET target_mw = $1, description = $2 WHERE name = $3"
        )
        .bind(target_mw)
        .bind(description)
        .bind(name)
        .execute(c)
        .await?
        .rows_affected());
    }
    Ok(())
}

/// The demo's strategy whose objective its zone cannot meet.
pub const DRILL_STRATEGY: &str = "Harbor ceiling drill (infeasible on purpose)";
/// Its upcoming event, planned and left New: its page shows the shortfall warning on purpose.
pub const DRILL_EVENT: &str = "Harbor ceiling drill (warning on purpose)";

/// Creates the drill's event on the next weekday after `now`, 16:00–18:00 local, and plans
/// it as the demo operator; returns its code. It stays New for people to try submitting.
pub async fn plan_drill(db: &Db, cal: Calendar, now: DateTime<Utc>) -> Result<String, DomainError> {
    let mut day = cal.local_date(now) + Duration::days(1);
    while !is_weekday(day) {
        day += Duration::days(1);
    }
    let start = at_local(cal, day, PAST_EVENT_HOURS.0);
    let end = at_local(cal, day, PAST_EVENT_HOURS.1);
    let operator = person("operator", Role::Operator);
    let strategy: i64 = with_db!(db, |c| sqlx::query_scalar(
        "SELECT id FROM strategies WHERE name = $1"
    )
    .bind(DRILL_STRATEGY)
    .fetch_one(c)
    .await?);
    let window = EventWindow::new(start, end, now)?;
    let ev = event::create_event(db, cal, &operator, strategy, DRILL_EVENT, window, now).await?;
    let plan = Action::Plan {
        stages: String::new(),
    };
    let ba = GridSettings::default().ba_threshold_kw;
    event::act(db, cal, &operator, ev.id, plan, ba, now).await?;
    Ok(ev.code)
}

/// A past event of the demo: which strategy, what it is called, which local day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastEvent {
    pub strategy: &'static str,
    pub name: &'static str,
    pub day: NaiveDate,
}

fn is_weekday(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

fn weekday_on_or_before(mut d: NaiveDate) -> NaiveDate {
    while !is_weekday(d) {
        d -= Duration::days(1);
    }
    d
}

/// UTC instant of a local time of day on a local day (the demo's hours are never skipped or
/// doubled: they are afternoons on weekdays).
fn at_local(cal: Calendar, day: NaiveDate, hour: u32) -> DateTime<Utc> {
    let t = NaiveTime::from_hms_opt(hour, 0, 0).unwrap_or(NaiveTime::MIN);
    cal.at(day, t)
        .unwrap_or_else(|_| cal.day_start(day) + Duration::hours(i64::from(hour)))
}

/// The demo's past events for a demo of `devices` devices loaded at `now`: the Riverside
/// evening shave on the most recent weekday at least two days back, and (small demos) the
/// Northgate heat wave on the weekday before it; both 16:00–18:00 local.
pub fn past_events(cal: Calendar, devices: usize, now: DateTime<Utc>) -> Vec<PastEvent> {
    let last = weekday_on_or_before(cal.local_date(now) - Duration::days(2));
    let before = weekday_on_or_before(last - Duration::days(1));
    let mut out = Vec::new();
    if devices <= NORTHGATE_MAX_DEVICES {
        out.push(PastEvent {
            strategy: "Northgate heat wave",
            name: "Northgate heat wave (afternoon peak)",
            day: before,
        });
    }
    out.push(PastEvent {
        strategy: "Riverside evening shave",
        name: "Riverside evening shave",
        day: last,
    });
    out
}

fn person(username: &str, role: Role) -> Actor {
    Actor::Person {
        username: username.into(),
        role,
    }
}

fn move_to(clock: &ManualClock, t: DateTime<Utc>) {
    let d = t - clock.now();
    if d > Duration::zero() {
        clock.advance(d);
    }
}

async fn deliver_all(worker: &DeliveryWorker) -> Result<(), DomainError> {
    // Every reply a delivery provokes is delivered too; the bound only guards against a loop.
    for _ in 0..1_000 {
        if worker.tick().await?.claimed == 0 {
            return Ok(());
        }
    }
    Err(DomainError::Internal(
        "demo: integration messages kept coming".into(),
    ))
}

/// Runs one past event from creation to completion on its own simulated clock; returns its code.
async fn run_event(
    db: &Db,
    cal: Calendar,
    seed: u64,
    past: &PastEvent,
) -> Result<String, DomainError> {
    let start = at_local(cal, past.day, PAST_EVENT_HOURS.0);
    let end = at_local(cal, past.day, PAST_EVENT_HOURS.1);
    // The operator prepares the event in the early afternoon of the day.
    let clock = Arc::new(ManualClock::new(start - Duration::hours(3)));
    let operator = person("operator", Role::Operator);
    let approver = person("approver", Role::Approver);
    let ba = GridSettings::default().ba_threshold_kw;
    let strategy: i64 = with_db!(db, |c| sqlx::query_scalar(
        "SELECT id FROM strategies WHERE name = $1"
    )
    .bind(past.strategy)
    .fetch_one(c)
    .await?);
    let window = EventWindow::new(start, end, clock.now())?;
    let ev =
        event::create_event(db, cal, &operator, strategy, past.name, window, clock.now()).await?;
    clock.advance(Duration::minutes(5));
    let plan = Action::Plan {
        stages: String::new(),
    };
    event::act(db, cal, &operator, ev.id, plan, ba, clock.now()).await?;
    clock.advance(Duration::minutes(10));
    event::act(db, cal, &operator, ev.id, Action::Submit, ba, clock.now()).await?;
    clock.advance(Duration::minutes(25));
    event::act(db, cal, &approver, ev.id, Action::Approve, ba, clock.now()).await?;

    let worker = DeliveryWorker::new(
        db.clone(),
        Peers::in_process(db, cal, crate::startup::inbound_handlers()),
        clock.clone(),
        RetryPolicy::default(),
        seed,
    );
    let sim = HeadEndSim::default();
    // Scheduled: stage program events (flow 4) and reservations (flow 5) go out.
    dispatch::tick(db, &sim, clock.now()).await?;
    deliver_all(&worker).await?;
    // Quarter hour by quarter hour through the window, and one past it.
    let mut t = start;
    while t <= end + Duration::minutes(15) {
        move_to(&clock, t);
        dispatch::tick(db, &sim, clock.now()).await?;
        deliver_all(&worker).await?;
        t += Duration::minutes(15);
    }
    let status: String = with_db!(db, |c| sqlx::query_scalar(
        "SELECT status FROM events WHERE id = $1"
    )
    .bind(ev.id)
    .fetch_one(c)
    .await?);
    if status != "Completed" {
        return Err(DomainError::Internal(format!(
            "demo: past event {} ended as {status}, not Completed",
            ev.code
        )));
    }
    Ok(ev.code)
}

/// What a service point's meter saw of the events: how much controllable load it has, and
/// the kW it shed over which windows.
#[derive(Debug, Default)]
struct MeterEffect {
    controllable_kw: f64,
    sheds: Vec<(DateTime<Utc>, DateTime<Utc>, f64)>,
}

type DeviceRow = (
    String,
    i64,
    f64,
    Option<String>,
    Option<f64>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// Per service point of a reserved device: the devices' outcomes as the head-end reported
/// them. D1SP sheds its actual kW over its participation; D1IO sheds its expected kW until
/// the customer took control back; D1ND, D1ER and released devices shed nothing.
async fn meter_effects(
    db: &Db,
    codes: &[String],
) -> Result<BTreeMap<String, MeterEffect>, DomainError> {
    let mut out: BTreeMap<String, MeterEffect> = BTreeMap::new();
    for code in codes {
        let rows: Vec<DeviceRow> = with_db!(db, |c| sqlx::query_as(
            "SELECT l.service_point_id, d.stage_id, d.expected_kw, d.outcome, d.actual_kw,
                    d.participation_start, d.participation_end
             FROM event_stage_devices d JOIN events e ON e.id = d.event_id
             JOIN grid_devices g ON g.id = d.grid_device_id
             JOIN enrollments n ON n.id = g.enrollment_id
             JOIN device_locations l ON l.id = n.location_id
             WHERE e.code = $1 ORDER BY d.id"
        )
        .bind(code)
        .fetch_all(c)
        .await?);
        // A device in several stages counts once towards the household's controllable load.
        let mut expected: BTreeMap<String, f64> = BTreeMap::new();
        for (sp, _stage, kw, outcome, actual, from, until) in rows {
            let e = expected.entry(sp.clone()).or_default();
            *e = e.max(kw);
            let effect = out.entry(sp).or_default();
            let shed = match outcome.as_deref() {
                Some("D1SP") => actual.unwrap_or(kw),
                Some("D1IO") => kw,
                _ => continue,
            };
            if let (Some(from), Some(until)) = (from, until) {
                if until > from && shed > 0.0 {
                    effect.sheds.push((from, until, shed));
                }
            }
        }
        for (sp, kw) in expected {
            let effect = out.entry(sp).or_default();
            effect.controllable_kw = effect.controllable_kw.max(kw);
        }
    }
    Ok(out)
}

/// Minutes of `[a, b)` inside `[from, until)`, as a share of a quarter hour.
fn quarter_share(a: DateTime<Utc>, from: DateTime<Utc>, until: DateTime<Utc>) -> f64 {
    let b = a + Duration::minutes(15);
    let lo = a.max(from);
    let hi = b.min(until);
    if hi <= lo {
        0.0
    } else {
        (hi - lo).num_seconds() as f64 / 900.0
    }
}

/// A stable number from a service point id, so each one has its own random stream.
fn sp_hash(sp: &str) -> u64 {
    sp.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The shape of a day, per quarter hour from `first`: the household's afternoon peak, the
/// controllable load's plateau, and the weekend factor. The same for every service point,
/// so it is computed once.
struct DayShapes {
    first: DateTime<Utc>,
    household: Vec<f64>,
    afternoon: Vec<f64>,
    weekday: Vec<f64>,
}

impl DayShapes {
    fn new(cal: Calendar, first: DateTime<Utc>, intervals: usize) -> Self {
        let mut s = DayShapes {
            first,
            household: Vec::with_capacity(intervals),
            afternoon: Vec::with_capacity(intervals),
            weekday: Vec::with_capacity(intervals),
        };
        for i in 0..intervals {
            let t = first + Duration::minutes(15 * i as i64);
            let local = cal.local_time(t);
            let h = f64::from(local.hour()) + f64::from(local.minute()) / 60.0 + 0.125;
            let weekend = matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
            s.household.push((-((h - 17.0) / 3.0).powi(2)).exp());
            // A plateau from about 14:00 to 20:00 local (air conditioning, charging, hot water).
            s.afternoon.push((-((h - 17.0) / 3.5).powi(4)).exp());
            s.weekday.push(if weekend { 0.8 } else { 1.0 });
        }
        s
    }

    /// Index of the quarter hour that contains `t` (may lie outside the series).
    fn index(&self, t: DateTime<Utc>) -> i64 {
        (t - self.first).num_seconds().div_euclid(900)
    }
}

/// Quarter-hour kWh of one service point that took part: household load, plus its
/// controllable load in the afternoon (every day, so the baseline days look like the event
/// day until the event starts), minus what its devices shed, plus a small rebound after.
fn participant_readings(seed: u64, sp: &str, effect: &MeterEffect, shapes: &DayShapes) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9A57_E7E7 ^ sp_hash(sp));
    let base_kw = rng.gen_range(0.4..1.2f64);
    let peak_kw = rng.gen_range(0.8..2.5f64);
    // Enough controllable load in the event hours to shed the most any device delivered.
    let controllable = effect.controllable_kw * 1.3;
    let n = shapes.household.len();
    let mut kw: Vec<f64> = (0..n)
        .map(|i| {
            (base_kw + peak_kw * shapes.household[i] + controllable * shapes.afternoon[i])
                * shapes.weekday[i]
                * rng.gen_range(0.94..1.06f64)
        })
        .collect();
    let mut add = |t: DateTime<Utc>, from: DateTime<Utc>, until: DateTime<Utc>, delta: f64| {
        let i = shapes.index(t);
        if (0..n as i64).contains(&i) {
            kw[i as usize] += delta * quarter_share(t, from, until);
        }
    };
    for (from, until, shed) in &effect.sheds {
        let q0 = shapes.first + Duration::minutes(15 * shapes.index(*from));
        let mut q = q0;
        while q < *until {
            add(q, *from, *until, -shed);
            q += Duration::minutes(15);
        }
        for (k, share) in REBOUND.iter().enumerate() {
            let after = *until + Duration::minutes(15 * k as i64);
            let end = after + Duration::minutes(15);
            let q = shapes.first + Duration::minutes(15 * shapes.index(after));
            add(q, after, end, shed * share);
            add(q + Duration::minutes(15), after, end, shed * share);
        }
    }
    kw.into_iter()
        .map(|v| (v.max(0.05) / 4.0 * 1000.0).round() / 1000.0)
        .collect()
}

/// Writes one service point's consecutive quarter hours from `first` in one statement: the
/// values travel as one JSON array and the database expands them (binding two thousand
/// rows of five parameters each costs far more than the insert itself).
async fn write_series(
    tx: &mut Tx,
    sp: &str,
    first: DateTime<Utc>,
    kwh: &[f64],
) -> Result<(), DomainError> {
    let values = serde_json::to_string(kwh)?;
    let sql = match tx {
        Tx::Sqlite(_) => {
            "INSERT INTO interval_readings (service_point_id, interval_start, interval_minutes, kwh)
             SELECT $1, strftime('%Y-%m-%dT%H:%M:%S+00:00', $2 + 900 * j.key, 'unixepoch'), 15, j.value
             FROM json_each($3) j"
        }
        Tx::Postgres(_) => {
            "INSERT INTO interval_readings (service_point_id, interval_start, interval_minutes, kwh)
             SELECT $1, to_timestamp(($2 + 900 * (j.ord - 1))::float8), 15, j.v::float8
             FROM json_array_elements_text($3::json) WITH ORDINALITY AS j(v, ord)"
        }
    };
    with_tx!(tx, |c| sqlx::query(sql)
        .bind(sp)
        .bind(first.timestamp())
        .bind(&values)
        .execute(c)
        .await?
        .rows_affected());
    meter_days::add(
        tx,
        kwh.iter()
            .enumerate()
            .map(|(i, v)| (sp, first + Duration::minutes(15 * i as i64), 15, *v)),
    )
    .await
}

/// Replaces the meter data of every service point that took part in `codes` with readings
/// consistent with its devices' outcomes, over the demo's meter-data days.
async fn load_participant_readings(
    db: &Db,
    cal: Calendar,
    seed: u64,
    now: DateTime<Utc>,
    codes: &[String],
) -> Result<usize, DomainError> {
    let effects = meter_effects(db, codes).await?;
    let end = align(now);
    let first = end - Duration::days(DEMO_METER_DAYS);
    let intervals = (DEMO_METER_DAYS * 96) as usize;
    let sps: Vec<&String> = effects.keys().collect();
    let mut tx = db.begin().await?;
    // Sampled service points that took part lose their plain profile.
    for chunk in sps.chunks(500) {
        let list = serde_json::to_string(chunk)?;
        let sql = match &tx {
            Tx::Sqlite(_) => {
                "DELETE FROM interval_readings WHERE service_point_id IN (SELECT value FROM json_each($1))"
            }
            Tx::Postgres(_) => {
                "DELETE FROM interval_readings WHERE service_point_id IN (SELECT json_array_elements_text($1::json))"
            }
        };
        with_tx!(&mut tx, |c| sqlx::query(sql)
            .bind(&list)
            .execute(c)
            .await?
            .rows_affected());
    }
    let refs: Vec<&str> = sps.iter().map(|s| s.as_str()).collect();
    meter_days::forget(&mut tx, &refs).await?;
    let shapes = DayShapes::new(cal, first, intervals);
    for (sp, effect) in &effects {
        let kwh = participant_readings(seed, sp, effect, &shapes);
        write_series(&mut tx, sp, first, &kwh).await?;
    }
    tx.commit().await?;
    Ok(effects.len())
}

/// Price of a quarter hour starting at local hour `h` on an event day: $0.30/kWh, rising to
/// $0.45 at 17:00.
pub fn afternoon_price(h: f64) -> f64 {
    let p = 0.30 + 0.15 * (-((h - 17.0) / 2.0).powi(2)).exp();
    (p * 10_000.0).round() / 10_000.0
}

/// Quarter-hour prices for the consumption-settled programs over each event day's
/// afternoon, 12:00 to 21:00 local.
async fn load_prices(db: &Db, cal: Calendar, events: &[PastEvent]) -> Result<(), DomainError> {
    let programs: Vec<i64> = with_db!(db, |c| sqlx::query_scalar(
        "SELECT id FROM programs WHERE settlement_method = 'consumption' ORDER BY id"
    )
    .fetch_all(c)
    .await?);
    let mut rows = Vec::new();
    for p in &programs {
        for ev in events {
            let from = at_local(cal, ev.day, 12);
            for q in 0..36 {
                let t = from + Duration::minutes(15 * q);
                let h = 12.0 + q as f64 / 4.0 + 0.125;
                rows.push(vec![
                    Arg::Int(*p),
                    Arg::Time(t),
                    Arg::Float(afternoon_price(h)),
                ]);
            }
        }
    }
    let mut tx = db.begin().await?;
    insert_rows(
        &mut tx,
        "settlement_prices",
        &["program_id", "interval_start", "price_per_kwh"],
        &rows,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What the past events left in the demo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PastEventsSummary {
    pub events: Vec<String>,
    pub service_points: usize,
}

/// Runs the past events, writes their meter data and prices, and settles them at `now`.
pub async fn load_past_events(
    db: &Db,
    cal: Calendar,
    seed: u64,
    devices: usize,
    now: DateTime<Utc>,
) -> Result<PastEventsSummary, DomainError> {
    let events = past_events(cal, devices, now);
    // A slice in proportion to a 1M-device substation would dispatch tens of thousands of
    // devices and write their meter data for sixteen days (the large demo's file grew from
    // 1.75 GB to 4.67 GB when it did).
    if let Some(first) = events.first().filter(|_| devices <= NORTHGATE_MAX_DEVICES) {
        size_objectives(db, cal, first.day).await?;
    }
    let mut codes = Vec::new();
    let started = std::time::Instant::now();
    for past in &events {
        codes.push(run_event(db, cal, seed, past).await?);
    }
    let ran = started.elapsed();
    let service_points = load_participant_readings(db, cal, seed, now, &codes).await?;
    load_prices(db, cal, &events).await?;
    let metered = started.elapsed();
    for code in &codes {
        crate::programs::settlement::settle_event(db, cal, "demo", code, now).await?;
    }
    tracing::info!(
        events = %codes.join(", "),
        service_points,
        run_s = ran.as_secs_f64(),
        meter_data_s = (metered - ran).as_secs_f64(),
        settle_s = (started.elapsed() - metered).as_secs_f64(),
        "demo past events loaded"
    );
    Ok(PastEventsSummary {
        events: codes,
        service_points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn past_events_fall_on_weekdays_at_least_two_days_back() {
        // Saturday 28 Nov 2026, 22:00 UTC (16:00 local).
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 22, 0, 0).unwrap();
        let evs = past_events(Calendar::default(), 5_000, now);
        let days: Vec<NaiveDate> = evs.iter().map(|e| e.day).collect();
        assert_eq!(
            days,
            [
                NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
                NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()
            ]
        );
        // Monday: the most recent weekday two days back is the Friday, then the Thursday.
        let monday = Utc.with_ymd_and_hms(2026, 11, 30, 15, 0, 0).unwrap();
        let days: Vec<NaiveDate> = past_events(Calendar::default(), 5_000, monday)
            .iter()
            .map(|e| e.day)
            .collect();
        assert_eq!(
            days,
            [
                NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
                NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
            ]
        );
        assert_eq!(
            past_events(Calendar::default(), 1_000_000, now).len(),
            1,
            "large demos: Riverside only"
        );
    }

    #[test]
    fn events_run_from_four_to_six_in_the_afternoon_local_time() {
        // July in Chicago is daylight time (CDT, UTC−5): 16:00 local is 21:00 UTC (it was
        // 22:00 while the calendar assumed a fixed UTC−6 all year).
        let cal = Calendar::default();
        let day = NaiveDate::from_ymd_opt(2026, 7, 14).unwrap();
        assert_eq!(
            at_local(cal, day, 16),
            Utc.with_ymd_and_hms(2026, 7, 14, 21, 0, 0).unwrap()
        );
        assert_eq!(
            at_local(cal, day, 18),
            Utc.with_ymd_and_hms(2026, 7, 14, 23, 0, 0).unwrap()
        );
        // In January it is standard time (CST, UTC−6).
        let winter = NaiveDate::from_ymd_opt(2026, 1, 14).unwrap();
        assert_eq!(
            at_local(cal, winter, 16),
            Utc.with_ymd_and_hms(2026, 1, 14, 22, 0, 0).unwrap()
        );
        assert_eq!(
            at_local(cal, winter, 18),
            Utc.with_ymd_and_hms(2026, 1, 15, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn a_shed_window_covers_whole_and_partial_quarter_hours() {
        let t = Utc.with_ymd_and_hms(2026, 7, 14, 22, 0, 0).unwrap();
        let from = t;
        let until = t + Duration::minutes(22) + Duration::seconds(30);
        assert_eq!(quarter_share(t, from, until), 1.0);
        assert_eq!(quarter_share(t + Duration::minutes(15), from, until), 0.5);
        assert_eq!(quarter_share(t + Duration::minutes(30), from, until), 0.0);
        assert_eq!(quarter_share(t - Duration::minutes(15), from, until), 0.0);
    }

    #[test]
    fn a_device_that_shed_lowers_the_meter_by_about_its_kw_and_rebounds_after() {
        let first = Utc.with_ymd_and_hms(2026, 7, 14, 6, 0, 0).unwrap();
        let cal = Calendar::default();
        let from = at_local(cal, NaiveDate::from_ymd_opt(2026, 7, 14).unwrap(), 16);
        let until = from + Duration::hours(2);
        let quiet = MeterEffect {
            controllable_kw: 3.0,
            sheds: vec![],
        };
        let shed = MeterEffect {
            controllable_kw: 3.0,
            sheds: vec![(from, until, 2.5)],
        };
        let shapes = DayShapes::new(cal, first, 96);
        let a = participant_readings(1, "SP1", &quiet, &shapes);
        let b = participant_readings(1, "SP1", &shed, &shapes);
        let i0 = ((from - first).num_minutes() / 15) as usize;
        let during: f64 = (i0..i0 + 8).map(|i| a[i] - b[i]).sum();
        assert!((during - 2.5 * 2.0).abs() < 0.05, "{during} kWh shed");
        assert!(b[i0 + 8] > a[i0 + 8], "rebound after");
        assert_eq!(a[..i0], b[..i0], "the same before the event");
        assert!(b.iter().all(|v| *v > 0.0));
    }

    #[test]
    fn prices_run_from_thirty_to_forty_five_cents() {
        assert_eq!(afternoon_price(17.0), 0.45);
        assert!((0.30..0.31).contains(&afternoon_price(12.0)));
        assert!(afternoon_price(16.0) > afternoon_price(14.0));
    }
}
