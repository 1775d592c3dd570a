//! Planning an event: load the candidates of its zone, programs and device groups with
//! everything the rules need (set-based, a handful of queries), run the planner, and store
//! the stages, their devices and the interval forecast in one transaction.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::json;

use crate::calendar::Calendar;
use crate::db::audit::{append_digest, Digested, NewAuditEntry, RowDigest, RowPrefix};
use crate::db::plan::{
    self as db_plan, DeviceFields, NewInterval, NewStage, NewStageDevice, PlannedRow,
};
use crate::db::Db;
use crate::error::DomainError;
use crate::grid::event::{parse_time, EventRow};
use crate::grid::lifecycle::Actor;
use crate::grid::planner::{
    self, Candidate, ManualStage, Objective, Plan, PlanInput, ProgramLimits,
    DEFAULT_MAX_INCREASE_PCT, INTERVAL_MINUTES,
};
use crate::grid::strategy::DeviceGroups;
use crate::grid::{forecast, DEVICE_TYPES};
use crate::integration::wire::ProgramRule;

/// Intervals after the event end that the plan and the chart cover (rebound shows there).
pub const TAIL_INTERVALS: usize = 8;

/// What the planner was given, plus what is needed to store its answer.
pub struct Loaded {
    pub input: PlanInput,
    pub program_codes: Vec<String>,
}

fn interval_count(ev: &EventRow) -> usize {
    ((ev.ends_at - ev.starts_at).num_minutes() / INTERVAL_MINUTES as i64) as usize
}

/// The first instant of the rule cycle that contains the local date `day`.
fn cycle_start(cal: Calendar, rule: &ProgramRule, day: NaiveDate) -> DateTime<Utc> {
    cal.cycle_start(rule.cycle.as_str(), i32::from(rule.week_start), day)
}

/// The rule in force for each program on `day` (latest effective, linked), if any.
async fn rules_in_force(
    db: &Db,
    programs: &[String],
    day: NaiveDate,
) -> Result<Vec<Option<ProgramRule>>, DomainError> {
    let rows = db_plan::program_rules(db).await?;
    programs
        .iter()
        .map(|p| {
            let in_force = rows
                .iter()
                .rfind(|(code, from, _, _)| code == p && *from <= day)
                .filter(|(_, _, _, linked)| *linked);
            // A rule that cannot be read stops planning: planning without it would ignore
            // the program's limits (dispatch would fail open).
            in_force
                .map(|(code, from, json, _)| {
                    readable(&format!("program {code}'s rule in force from {from}"), json)
                })
                .transpose()
        })
        .collect()
}

/// Reads a stored JSON value the planner depends on, or says which one cannot be read.
fn readable<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T, DomainError> {
    serde_json::from_str(json).map_err(|e| {
        DomainError::invalid(format!(
            "cannot plan: {what} cannot be read ({e}); correct it and plan again"
        ))
    })
}

/// Reads the operator's manual stages: `HH:MM-HH:MM` or `HH:MM-HH:MM@kW`, comma separated,
/// local times in the utility's zone on the event's local day(s) (a time before the start is
/// on the next day; a time the clocks pass twice takes the zone's abbreviation, `01:30 CST`).
/// Blank: one stage over the whole window.
pub fn parse_manual_stages(
    cal: Calendar,
    ev: &EventRow,
    spec: &str,
) -> Result<Vec<ManualStage>, DomainError> {
    let n = interval_count(ev);
    if spec.trim().is_empty() {
        return Ok(vec![ManualStage {
            start: 0,
            end: n,
            target_kw: None,
        }]);
    }
    let day = cal.local_date(ev.starts_at);
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (range, target) = match part.split_once('@') {
            Some((r, t)) => (r.trim(), Some(t.trim())),
            None => (part, None),
        };
        let (a, b) = range.split_once('-').ok_or_else(|| {
            DomainError::invalid(format!("stages: `{part}` is not HH:MM-HH:MM[@kW]"))
        })?;
        let at = |s: &str| -> Result<usize, DomainError> {
            let t = parse_time(cal, "stages", &format!("{day}T{}", s.trim()))?;
            let t = if t < ev.starts_at {
                let next = day + Duration::days(1);
                parse_time(cal, "stages", &format!("{next}T{}", s.trim()))?
            } else {
                t
            };
            let mins = (t - ev.starts_at).num_minutes();
            if mins < 0 || mins % INTERVAL_MINUTES as i64 != 0 || mins / 15 > n as i64 {
                return Err(DomainError::invalid(format!(
                    "stages: {} is not a quarter hour inside the event window",
                    s.trim()
                )));
            }
            Ok((mins / INTERVAL_MINUTES as i64) as usize)
        };
        let (start, end) = (at(a)?, at(b)?);
        if start >= end {
            return Err(DomainError::invalid(format!(
                "stages: `{part}` ends before it starts"
            )));
        }
        let target_kw = match target {
            Some(t) => {
                let v: f64 = t.trim_end_matches("kW").trim().parse().map_err(|_| {
                    DomainError::invalid(format!("stages: `{t}` is not a number of kW"))
                })?;
                if !v.is_finite() || v <= 0.0 {
                    return Err(DomainError::invalid(format!(
                        "stages: the target in `{part}` must be more than 0 kW"
                    )));
                }
                Some(v)
            }
            None => None,
        };
        out.push(ManualStage {
            start,
            end,
            target_kw,
        });
    }
    Ok(out)
}

/// Loads what the planner needs for `ev`.
pub async fn load(
    db: &Db,
    cal: Calendar,
    ev: &EventRow,
    manual: &str,
) -> Result<Loaded, DomainError> {
    let n = interval_count(ev);
    let len = n + TAIL_INTERVALS;
    let what = |field: &str| format!("event {}'s {field}", ev.code);
    let programs: Vec<String> = readable(&what("programs"), &ev.program_codes)?;
    let zone: Vec<i64> = readable(&what("zone"), &ev.zone_node_ids)?;
    let groups: DeviceGroups = readable(&what("device groups"), &ev.device_groups)?;
    // Rules and cycles go by the utility's local date of the event start.
    let day = cal.local_date(ev.starts_at);
    let rules = rules_in_force(db, &programs, day).await?;
    let limits: Vec<ProgramLimits> = rules
        .iter()
        .map(|r| match r {
            Some(r) => ProgramLimits {
                max_events_per_cycle: r.max_events_per_cycle,
                max_minutes_per_cycle: r.max_minutes_per_cycle,
                min_gap_minutes: r.min_gap_minutes,
                min_event_minutes: r.min_event_minutes,
                max_event_minutes: r.max_event_minutes,
                overridable: r.overridable,
            },
            None => ProgramLimits {
                max_events_per_cycle: 0,
                max_minutes_per_cycle: 0,
                min_gap_minutes: 0,
                min_event_minutes: 0,
                max_event_minutes: 0,
                overridable: false,
            },
        })
        .collect();

    if zone.is_empty() || programs.is_empty() {
        return Err(DomainError::invalid(
            "the event has no zone or no programs; edit its strategy",
        ));
    }
    // The zone's transformers, from the current network links (a few thousand rows).
    let edges = db_plan::current_edges(db).await?;
    let transformers: HashSet<i64> = db_plan::transformer_ids(db).await?.into_iter().collect();
    let mut children: HashMap<i64, Vec<i64>> = HashMap::new();
    for (child, parent) in &edges {
        children.entry(*parent).or_default().push(*child);
    }
    let mut in_zone: HashSet<i64> = HashSet::new();
    let mut stack: Vec<i64> = zone.clone();
    let mut seen: HashSet<i64> = HashSet::new();
    while let Some(n) = stack.pop() {
        if !seen.insert(n) {
            continue;
        }
        if transformers.contains(&n) {
            in_zone.insert(n);
        }
        stack.extend(children.get(&n).into_iter().flatten().copied());
    }
    // A zone that covers much of the network is read in one sequential scan, filtered here;
    // a small one through the transformer index.
    let scan = in_zone.len() * 4 > transformers.len();
    let in_zone_ids: Vec<i64> = in_zone.iter().copied().collect();
    let packed = db_plan::packed_candidates(
        db,
        &programs,
        &DEVICE_TYPES,
        (!scan).then_some(in_zone_ids.as_slice()),
    )
    .await?;
    let rows = unpack_candidates(packed.iter().flatten().map(String::as_str))?;

    let feeder_of: HashMap<i64, i64> = edges.iter().copied().collect();
    let wanted_types: Vec<i32> = groups
        .device_types
        .iter()
        .filter_map(|t| crate::grid::device_type_index(t).map(i32::from))
        .collect();

    let window = (ev.starts_at, ev.ends_at);
    let unavailable: HashSet<i64> = db_plan::unavailable_devices(db, window.0, window.1)
        .await?
        .into_iter()
        .collect();
    let opted_out: HashSet<i64> = db_plan::opted_out_devices(db, &ev.code)
        .await?
        .into_iter()
        .collect();

    // Participation so far: reserved devices of other live or finished events, from the
    // earliest cycle start of the programs involved.
    let cycle_starts: Vec<DateTime<Utc>> = rules
        .iter()
        .map(|r| {
            r.as_ref()
                .map(|r| cycle_start(cal, r, day))
                .unwrap_or_else(|| cal.day_start(day))
        })
        .collect();
    let since = cycle_starts.iter().min().copied().unwrap_or(ev.starts_at);
    let history = db_plan::participation(db, ev.id, since, ev.starts_at).await?;
    type Blocks = Vec<(DateTime<Utc>, DateTime<Utc>)>;
    let mut past: HashMap<i64, Blocks> = HashMap::new();
    for (id, s, e) in history {
        past.entry(id).or_default().push((s, e));
    }

    let mut candidates = Vec::with_capacity(rows.len());
    for (id, program, dtype, kw, score, registered, transformer) in rows {
        if program < 0 || dtype < 0 || !in_zone.contains(&transformer) {
            continue;
        }
        if !wanted_types.is_empty() && !wanted_types.contains(&dtype) {
            continue;
        }
        if !groups.feeder_ids.is_empty()
            && !feeder_of
                .get(&transformer)
                .is_some_and(|f| groups.feeder_ids.contains(f))
        {
            continue;
        }
        let p = program as usize;
        let (mut events_in_cycle, mut minutes_in_cycle, mut last_end) = (0u32, 0u32, None);
        if let Some(blocks) = past.get(&id) {
            for (s, e) in blocks.iter().filter(|(_, e)| *e > cycle_starts[p]) {
                events_in_cycle += 1;
                minutes_in_cycle += (*e - *s).num_minutes().max(0) as u32;
                last_end = last_end.max(Some(*e));
            }
        }
        candidates.push(Candidate {
            device_id: id,
            program: program as u16,
            device_type: dtype as u8,
            nominal_kw: kw as f32,
            score: score as f32,
            active: rules[p].is_some(),
            registered: registered == 1,
            unavailable: unavailable.contains(&id),
            opted_out: opted_out.contains(&id),
            events_in_cycle,
            minutes_in_cycle,
            minutes_since_last: last_end
                .map(|e: DateTime<Utc>| (ev.starts_at - e).num_minutes().max(0) as u32),
        });
    }

    let baseline_kw = forecast::zone_baseline(db, cal, &zone, ev.starts_at, len).await?;
    let factors = forecast::reduction_factors(db, cal, ev.starts_at, len).await?;
    let objective = match ev.objective.as_str() {
        "MaxDemandThreshold" => Objective::MaxDemandThreshold {
            threshold_kw: ev.target_mw.unwrap_or(0.0) * 1000.0,
        },
        "LoadReduction" => Objective::LoadReduction {
            reduction_kw: ev.target_mw.unwrap_or(0.0) * 1000.0,
        },
        "MaximumReduction" => Objective::MaximumReduction,
        _ => Objective::Manual {
            stages: parse_manual_stages(cal, ev, manual)?,
        },
    };
    Ok(Loaded {
        input: PlanInput {
            baseline_kw,
            intervals: n,
            factors,
            programs: limits,
            candidates,
            objective,
            override_rules: ev.override_rules,
            // Every objective's rebound is bounded: the strategy's allowance or the default.
            max_increase_pct: Some(ev.max_increase_pct.unwrap_or(DEFAULT_MAX_INCREASE_PCT)),
        },
        program_codes: programs,
    })
}

/// (id, program index, device type index, nominal kW, score, registered, transformer)
type CandidateRow = (i64, i32, i32, f64, f64, i32, i64);

/// Reads `id,program,type,kw,score,registered,transformer` records separated by `;`.
fn unpack_candidates<'a>(
    packed: impl Iterator<Item = &'a str>,
) -> Result<Vec<CandidateRow>, DomainError> {
    let bad = |r: &str| DomainError::Internal(format!("candidate record `{r}` could not be read"));
    let mut out = Vec::new();
    for chunk in packed {
        for record in chunk.split(';').filter(|r| !r.is_empty()) {
            let mut f = record.split(',');
            let mut next = || f.next().ok_or_else(|| bad(record));
            let id = next()?.parse().map_err(|_| bad(record))?;
            let program = next()?.parse().map_err(|_| bad(record))?;
            let dtype = next()?.parse().map_err(|_| bad(record))?;
            let kw = next()?.parse().map_err(|_| bad(record))?;
            let score = next()?.parse().map_err(|_| bad(record))?;
            let registered = next()?.parse().map_err(|_| bad(record))?;
            let transformer = next()?.parse().map_err(|_| bad(record))?;
            out.push((id, program, dtype, kw, score, registered, transformer));
        }
    }
    Ok(out)
}

/// Summary stored with the event and shown on its page, with the plan's feasibility.
pub fn summary_json(input: &PlanInput, plan: &Plan, starts_at: DateTime<Utc>) -> serde_json::Value {
    let e = &plan.exclusions;
    let verdict = planner::feasibility(input, plan);
    json!({
        "feasibility": crate::grid::feasibility::to_json(
            &verdict, &plan.shortfall_kw, starts_at, input.max_increase_pct),
        "eligible": plan.eligible,
        "assigned": plan.assigned,
        "stages": plan.stages.len(),
        "maxShortfallKw": plan.shortfall_kw.iter().cloned().fold(0.0, f64::max),
        "exclusions": {
            "inactive": e.inactive, "unregistered": e.unregistered, "unavailable": e.unavailable,
            "optedOut": e.opted_out, "participationLimit": e.participation_limit,
            "cumulativeDuration": e.cumulative_duration, "minimumGap": e.minimum_gap,
            "eventDuration": e.event_duration,
        }
    })
}

/// Plans `ev` and stores the result, replacing an earlier plan. Returns a sentence for the
/// operator.
pub async fn plan_event(
    db: &Db,
    cal: Calendar,
    actor: &Actor,
    ev: &EventRow,
    manual: &str,
    now: DateTime<Utc>,
) -> Result<String, DomainError> {
    let loaded = load(db, cal, ev, manual).await?;
    let plan =
        planner::plan(&loaded.input).map_err(|e| DomainError::invalid(format!("stages: {e}")))?;
    let summary = store(db, actor, ev, &loaded, &plan, now).await?;
    let peak = plan
        .reduction_kw
        .iter()
        .take(loaded.input.intervals)
        .cloned()
        .fold(0.0, f64::max);
    let warnings = crate::grid::feasibility::from_summary(cal, &summary)
        .map(|f| f.warnings)
        .unwrap_or_default();
    let mut msg = format!(
        "{}: {} stage(s), {} of {} eligible devices, up to {} reduction.",
        ev.code,
        plan.stages.len(),
        app::format::thousands(plan.assigned as f64, 0),
        app::format::thousands(plan.eligible as f64, 0),
        app::format::kw(peak)
    );
    for w in warnings {
        msg.push_str(" Warning: ");
        msg.push_str(&w);
    }
    Ok(msg)
}

/// Stores `plan` for `ev` in one transaction, replacing an earlier plan (see [`plan_event`]).
pub async fn store(
    db: &Db,
    actor: &Actor,
    ev: &EventRow,
    loaded: &Loaded,
    plan: &Plan,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, DomainError> {
    let input = &loaded.input;
    let mut tx = db.begin().await?;
    // The event may have moved on since it was read; only a New event is (re)planned.
    let status = db_plan::event_status(&mut tx, ev.id).await?;
    if status != "New" {
        return Err(DomainError::Conflict(format!(
            "{} is {status}; only a New event is planned",
            ev.code
        )));
    }
    db_plan::clear_plan(&mut tx, ev.id).await?;
    let at = |i: usize| ev.starts_at + Duration::minutes(i as i64 * INTERVAL_MINUTES as i64);
    let intervals: Vec<NewInterval> = (0..input.baseline_kw.len())
        .map(|i| NewInterval {
            idx: i as i64,
            starts_at: at(i),
            baseline_kw: input.baseline_kw[i],
            planned_kw: plan.after_kw[i],
        })
        .collect();
    db_plan::insert_intervals(&mut tx, ev.id, &intervals).await?;
    let ids = db_plan::reserve_stage_ids(&mut tx, plan.stages.len()).await?;
    let mut stages = Vec::with_capacity(plan.stages.len());
    let mut devices = Vec::with_capacity(plan.assigned);
    // The digest covers the planned devices stage by stage, by device id within a stage (the
    // order the audit check reads them back in); each stage's own fields are written once.
    let mut prefixes = Vec::with_capacity(plan.stages.len());
    for (k, (st, id)) in plan.stages.iter().zip(&ids).enumerate() {
        let stage = NewStage {
            id: *id,
            seq: k as i64 + 1,
            external_id: format!("{}-S{:02}", ev.code, k + 1),
            starts_at: at(st.start),
            ends_at: at(st.end),
            expected_kw: st.expected_kw,
            device_count: st.devices.len() as i64,
        };
        let span = (st.end - st.start).max(1) as f64;
        let first = devices.len();
        for &d in &st.devices {
            let c = &input.candidates[d as usize];
            let f = &input.factors[c.device_type as usize];
            let kw: f64 = (st.start..st.end)
                .map(|i| c.nominal_kw as f64 * f[i] as f64)
                .sum::<f64>()
                / span;
            devices.push(NewStageDevice {
                stage_id: *id,
                grid_device_id: c.device_id,
                program_code: loaded.program_codes[c.program as usize].clone(),
                expected_kw: (kw * 1000.0).round() / 1000.0,
            });
        }
        devices[first..].sort_unstable_by_key(|d| d.grid_device_id);
        let shared = PlannedRow::stage_fields(
            ev.id,
            stage.seq,
            &stage.external_id,
            &stage.starts_at,
            &stage.ends_at,
        );
        prefixes.push((
            RowDigest::prefix(&shared.each_ref().map(|f| Some(f.as_str()))),
            devices.len(),
        ));
        stages.push(stage);
    }
    // Hashing every row is work for a processor, inserting them work for the database: the
    // digest is computed on a blocking thread while the rows are inserted.
    let devices = Arc::new(devices);
    let digesting = {
        let devices = Arc::clone(&devices);
        tokio::task::spawn_blocking(move || planned_digest(&devices, &prefixes))
    };
    db_plan::insert_stages(&mut tx, ev.id, &stages, &devices).await?;
    let digest = digesting
        .await
        .map_err(|e| DomainError::Internal(format!("digesting the plan stopped: {e}")))?;
    let summary = summary_json(input, plan, ev.starts_at);
    db_plan::set_plan_summary(&mut tx, ev.id, &summary.to_string(), now).await?;
    append_digest(
        &mut tx,
        NewAuditEntry::new(actor.name(), "event.plan", "event", &ev.code).after(summary.clone()),
        json!({"table": "event_stage_devices", "event_id": ev.id, "event": ev.code}),
        &digest,
    )
    .await?;
    tx.commit().await?;
    Ok(summary)
}

/// The digest of a plan's devices, stored in the order given: the devices before the end
/// index of each stage's entry follow that stage's fields.
fn planned_digest(devices: &[NewStageDevice], stages: &[(RowPrefix, usize)]) -> Digested {
    let mut digest = RowDigest::new();
    let mut fields = DeviceFields::default();
    let mut from = 0;
    for (prefix, to) in stages {
        for d in &devices[from..*to] {
            digest.row_after(
                prefix,
                &fields.of(d.grid_device_id, &d.program_code, d.expected_kw),
            );
        }
        from = *to;
    }
    digest.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::wire::RuleCycle;

    fn rule(cycle: RuleCycle, week_start: u8) -> ProgramRule {
        ProgramRule {
            effective_from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            cycle,
            week_start,
            max_events_per_cycle: 4,
            max_minutes_per_cycle: 600,
            min_gap_minutes: 60,
            min_event_minutes: 30,
            max_event_minutes: 120,
            max_overrides: 2,
            window_start_minute: 0,
            window_end_minute: 1440,
            activation_cost: 1.0,
            burn_rate_factor: 1.0,
            score_factor: 1.0,
            overridable: true,
        }
    }

    #[test]
    fn packed_candidates_unpack_in_order() {
        let rows = unpack_candidates(
            ["1,0,2,2.5,0.303,1,17;2,1,0,1,0,0,18", "3,-1,5,0.25,1.5,1,0"].into_iter(),
        )
        .unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0], (1, 0, 2, 2.5, 0.303, 1, 17));
        assert_eq!(rows[2].1, -1);
        assert!(unpack_candidates(["1,0,x"].into_iter()).is_err());
    }

    #[test]
    fn a_weekly_cycle_starts_on_its_week_start_day() {
        // 2026-07-15 is a Wednesday; a Monday (1) start goes back two days.
        // The cycle starts at local midnight: 05:00 UTC in July in Chicago (CDT).
        let cal = Calendar::default();
        let day = NaiveDate::from_ymd_opt(2026, 7, 15).unwrap();
        assert_eq!(
            cycle_start(cal, &rule(RuleCycle::Weekly, 1), day),
            cal.day_start(NaiveDate::from_ymd_opt(2026, 7, 13).unwrap())
        );
        assert_eq!(
            cycle_start(cal, &rule(RuleCycle::Monthly, 0), day),
            cal.day_start(NaiveDate::from_ymd_opt(2026, 7, 1).unwrap())
        );
        assert_eq!(
            cal.day_start(NaiveDate::from_ymd_opt(2026, 7, 1).unwrap())
                .to_rfc3339(),
            "2026-07-01T05:00:00+00:00"
        );
    }
}
