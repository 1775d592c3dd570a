//! Planner benchmark: 1,000,000 synthetic candidates (seeded), a 4-hour event (16 intervals
//! plus an 8-interval tail), the median of 5 `plan()` runs per objective.
//!
//! cargo bench -p server --bench planner
//! (GRIDFLEX_BENCH_CANDIDATES overrides the candidate count.)

use std::time::{Duration, Instant};

use gridflex::grid::planner::{plan, Candidate, ManualStage, Objective, PlanInput, ProgramLimits};
use gridflex::grid::DEVICE_TYPES;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const RUNS: usize = 5;
const EVENT: usize = 16;
const TAIL: usize = 8;

fn programs() -> Vec<ProgramLimits> {
    let rule = |events, minutes, gap, min, max, overridable| ProgramLimits {
        max_events_per_cycle: events,
        max_minutes_per_cycle: minutes,
        min_gap_minutes: gap,
        min_event_minutes: min,
        max_event_minutes: max,
        overridable,
    };
    vec![
        rule(10, 600, 60, 30, 120, true),
        rule(5, 240, 120, 15, 60, false),
        rule(20, 1200, 0, 60, 240, false),
        rule(3, 180, 240, 45, 90, true),
    ]
}

fn candidates(count: usize, rng: &mut ChaCha8Rng) -> Vec<Candidate> {
    // Nominal kW by device type, in DEVICE_TYPES order.
    const NOMINAL: [(f32, f32); 6] = [
        (1.0, 3.0),
        (6.0, 11.0),
        (3.0, 10.0),
        (3.0, 5.0),
        (1.0, 2.5),
        (2.0, 8.0),
    ];
    (0..count)
        .map(|i| {
            let device_type = rng.gen_range(0..DEVICE_TYPES.len()) as u8;
            let (lo, hi) = NOMINAL[device_type as usize];
            Candidate {
                device_id: 1 + i as i64,
                program: rng.gen_range(0..4),
                device_type,
                nominal_kw: rng.gen_range(lo..hi),
                score: rng.gen_range(0.0f32..100.0),
                active: !rng.gen_bool(0.05),
                registered: !rng.gen_bool(0.05),
                unavailable: rng.gen_bool(0.05),
                opted_out: rng.gen_bool(0.05),
                events_in_cycle: rng.gen_range(0..6),
                minutes_in_cycle: rng.gen_range(0..20) * 15,
                minutes_since_last: rng.gen_bool(0.7).then(|| rng.gen_range(0..600)),
            }
        })
        .collect()
}

fn input(count: usize) -> PlanInput {
    let mut rng = ChaCha8Rng::seed_from_u64(20_261_128);
    let len = EVENT + TAIL;
    // An afternoon peak around 6 GW, shaped so the event straddles it.
    let baseline_kw = (0..len)
        .map(|i| {
            let x = i as f64 / EVENT as f64 * std::f64::consts::PI;
            5_000_000.0 + 1_000_000.0 * x.sin().max(0.0)
        })
        .collect();
    let factors = (0..DEVICE_TYPES.len())
        .map(|t| {
            (0..len)
                .map(|i| {
                    let decay = if i < EVENT { 1.0 } else { 0.5 };
                    (0.45 + 0.07 * t as f32 - 0.01 * (i % 8) as f32) * decay
                })
                .collect()
        })
        .collect();
    PlanInput {
        baseline_kw,
        intervals: EVENT,
        factors,
        programs: programs(),
        candidates: candidates(count, &mut rng),
        objective: Objective::MaximumReduction,
        override_rules: false,
        // The rebound bound applies to every objective.
        max_increase_pct: Some(5.0),
    }
}

fn main() {
    let count: usize = std::env::var("GRIDFLEX_BENCH_CANDIDATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    println!("GridFlex planner benchmark — {count} candidates, {EVENT} intervals + {TAIL} tail\n");
    let t = Instant::now();
    let mut input = input(count);
    println!(
        "{:<44} {:>9.1} ms",
        "generate candidates",
        t.elapsed().as_secs_f64() * 1000.0
    );
    let stage = |start, end, target_kw| ManualStage {
        start,
        end,
        target_kw,
    };
    let objectives = [
        (
            "MaxDemandThreshold 5.2 GW",
            Objective::MaxDemandThreshold {
                threshold_kw: 5_200_000.0,
            },
        ),
        (
            "LoadReduction 800 MW, 5% rebound",
            Objective::LoadReduction {
                reduction_kw: 800_000.0,
            },
        ),
        ("MaximumReduction", Objective::MaximumReduction),
        (
            "Manual, 4 stages",
            Objective::Manual {
                stages: vec![
                    stage(0, 4, Some(300_000.0)),
                    stage(4, 8, Some(500_000.0)),
                    stage(8, 16, Some(400_000.0)),
                    stage(12, 16, None),
                ],
            },
        ),
    ];
    for (name, objective) in objectives {
        input.objective = objective;
        let mut samples: Vec<Duration> = Vec::with_capacity(RUNS);
        let mut last = None;
        for _ in 0..RUNS {
            let t = Instant::now();
            let plan = plan(&input).expect("the synthetic input is valid");
            samples.push(t.elapsed());
            last = Some(plan);
        }
        samples.sort();
        let plan = last.expect("at least one run");
        let shortfall = plan.shortfall_kw.iter().cloned().fold(0.0, f64::max);
        let peak_after = plan.after_kw[..EVENT].iter().cloned().fold(0.0, f64::max);
        println!(
            "{name:<44} median {:>7.1} ms   eligible {} assigned {} stages {} \
             max shortfall {:.0} kW peak after {:.0} kW",
            samples[RUNS / 2].as_secs_f64() * 1000.0,
            plan.eligible,
            plan.assigned,
            plan.stages.len(),
            shortfall,
            peak_after,
        );
    }
}
