//! Stage planning: which eligible devices shed load in which 15-minute intervals of an event.
//!
//! Pure and deterministic: the caller loads candidates, limits and forecasts; `plan` decides.

mod eligibility;
mod feasibility;
mod placement;
#[cfg(test)]
mod tests;

use eligibility::{rank_eligible, validate};
use placement::{Ctx, Shortfall};

pub use feasibility::{feasibility, Feasibility};

/// Every event is planned on a grid of 15-minute intervals.
pub const INTERVAL_MINUTES: u32 = 15;

/// Share of a device's shed kW that comes back as extra load in the interval after its
/// block ends (payback), used to bound the rebound.
pub const REBOUND_SHARE: f64 = 0.5;

/// The rebound allowance when a strategy gives none (10 %: after the planned reduction,
/// the zone load may exceed its baseline by at most that at any interval, window and tail,
/// whatever the objective). Defined once with the DTOs so the strategy form can name it; a
/// strategy overrides it with its own "max increase %".
pub use app::grid::DEFAULT_MAX_INCREASE_PCT;

/// What the event tries to achieve. Figures are kW (the console and API take MW and
/// convert at the boundary).
#[derive(Debug, Clone, PartialEq)]
pub enum Objective {
    /// The operator gives the stages; each is filled in score order up to its target
    /// (or with every device that may take part when there is no target).
    Manual { stages: Vec<ManualStage> },
    /// Keep zone load under a ceiling in every interval.
    MaxDemandThreshold { threshold_kw: f64 },
    /// Shave a fixed amount each interval.
    LoadReduction { reduction_kw: f64 },
    /// Shed all the rules allow, spread as evenly as possible over the window.
    MaximumReduction,
}

/// An operator-drawn stage: intervals `[start, end)` of the event, optional kW target.
#[derive(Debug, Clone, PartialEq)]
pub struct ManualStage {
    pub start: usize,
    pub end: usize,
    pub target_kw: Option<f64>,
}

/// A program rule as the planner needs it (the latest effective rule of the program).
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramLimits {
    pub max_events_per_cycle: u32,
    pub max_minutes_per_cycle: u32,
    pub min_gap_minutes: u32,
    pub min_event_minutes: u32,
    pub max_event_minutes: u32,
    /// Whether a strategy with "override rules" may ignore these limits.
    pub overridable: bool,
}

/// One device that lies in the event's zone, programs and device groups.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// `grid_devices.id`; also the tie-breaker after the score.
    pub device_id: i64,
    /// Index into `PlanInput::programs`.
    pub program: u16,
    /// Index into `PlanInput::factors` (the device type).
    pub device_type: u8,
    pub nominal_kw: f32,
    /// Control score: lower is cheaper and is chosen first.
    pub score: f32,
    pub active: bool,
    pub registered: bool,
    /// An unavailability window overlaps the event.
    pub unavailable: bool,
    pub opted_out: bool,
    /// Participation so far in the current cycle of its program.
    pub events_in_cycle: u32,
    pub minutes_in_cycle: u32,
    /// Minutes between the end of its last participation and the event start, if any.
    pub minutes_since_last: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct PlanInput {
    /// Forecast zone load per interval: the event's `n` intervals followed by a tail of
    /// intervals after the event end, where rebound shows.
    pub baseline_kw: Vec<f64>,
    /// Number of intervals in the event window (`<= baseline_kw.len()`).
    pub intervals: usize,
    /// Expected reduction as a share of nominal kW, per device type, per interval
    /// (`factors[device_type][interval]`, same length as `baseline_kw`).
    pub factors: Vec<Vec<f32>>,
    pub programs: Vec<ProgramLimits>,
    pub candidates: Vec<Candidate>,
    pub objective: Objective,
    /// The strategy's "override rules" flag.
    pub override_rules: bool,
    /// The rebound bound, for every objective: the planned load may exceed the baseline by
    /// at most this percent at any interval, tail included (`None`: not bounded).
    pub max_increase_pct: Option<f64>,
}

/// How many candidates each reason kept out (each counted once, under its first reason).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclusions {
    pub inactive: usize,
    pub unregistered: usize,
    pub unavailable: usize,
    pub opted_out: usize,
    pub participation_limit: usize,
    pub cumulative_duration: usize,
    pub minimum_gap: usize,
    pub event_duration: usize,
}

/// A contiguous block `[start, end)` of intervals and the cohort that sheds in it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedStage {
    pub start: usize,
    pub end: usize,
    /// Indices into `PlanInput::candidates`, in the order chosen.
    pub devices: Vec<u32>,
    /// Average expected reduction of the cohort over the block.
    pub expected_kw: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub stages: Vec<PlannedStage>,
    /// Planned reduction per interval (same length as `baseline_kw`; negative = rebound).
    pub reduction_kw: Vec<f64>,
    /// `baseline_kw - reduction_kw`.
    pub after_kw: Vec<f64>,
    pub exclusions: Exclusions,
    /// Candidates that passed every check.
    pub eligible: usize,
    /// Devices placed in a stage.
    pub assigned: usize,
    /// Per event interval, the kW the objective asked for but the candidates could not give.
    pub shortfall_kw: Vec<f64>,
}

/// Input the planner refuses, naming what is wrong (a caller bug or bad data, never a panic).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the event window has no interval")]
    EmptyWindow,
    #[error("the event window has {intervals} intervals but the baseline only {baseline}")]
    WindowBeyondBaseline { intervals: usize, baseline: usize },
    #[error("the baseline at interval {interval} is not a finite number")]
    BadBaseline { interval: usize },
    #[error(
        "the reduction factors of device type {device_type} cover {len} intervals, expected {expected}"
    )]
    FactorLength {
        device_type: usize,
        len: usize,
        expected: usize,
    },
    #[error(
        "the reduction factor of device type {device_type} at interval {interval} must be a finite number >= 0"
    )]
    BadFactor { device_type: usize, interval: usize },
    #[error(
        "device {device_id} refers to program {program}, but only {programs} programs were given"
    )]
    UnknownProgram {
        device_id: i64,
        program: u16,
        programs: usize,
    },
    #[error(
        "device {device_id} has device type {device_type}, but factors were given for {types} types"
    )]
    UnknownDeviceType {
        device_id: i64,
        device_type: u8,
        types: usize,
    },
    #[error("device {device_id} has a nominal kW that is not a finite number >= 0")]
    BadNominal { device_id: i64 },
    #[error("the objective's {field} must be a finite number >= 0")]
    BadObjective { field: &'static str },
    #[error("manual stage {index} [{start}, {end}) must satisfy start < end <= {intervals}")]
    BadStage {
        index: usize,
        start: usize,
        end: usize,
        intervals: usize,
    },
    #[error("manual stage {index} has a target that is not a finite kW figure >= 0")]
    BadStageTarget { index: usize },
}

/// Plans an event.
///
/// Rebound is modelled for every objective (it is how the load behaves, and the "after"
/// chart must show it): when a device's block ends at interval `e < baseline_kw.len()`,
/// `REBOUND_SHARE` of its reduction at `e - 1` comes back at `e`. The greedy objectives
/// cover rebound that lands inside the event like any other deficit; then, for every
/// objective, `max_increase_pct` bounds it: blocks whose release would lift the load above
/// the allowance are shortened or moved earlier (staggering the releases), and what that
/// costs shows as shortfall.
///
/// Guarantees (property-tested):
/// - `MaxDemandThreshold` without a rebound bound: when every eligible device may run the
///   whole event window and, at every event interval, the eligible devices together reduce
///   at least `baseline - threshold`, then `after_kw <= threshold` at every event interval.
///   (With shorter blocks or a binding rebound bound the greedy still covers what it can;
///   `shortfall_kw` says what it could not.)
/// - With `max_increase_pct`, every objective:
///   `after_kw <= baseline_kw * (1 + max_increase_pct / 100)` at every interval, tail
///   included (for a non-negative baseline), at the price of a shortfall when the
///   objective and the allowance cannot both be met.
/// - `MaximumReduction`: every eligible device is placed.
/// - Every device: one block, inside the window, within its limits in whole intervals.
/// - Same input, same plan; the order of `candidates` only changes the indices reported.
pub fn plan(input: &PlanInput) -> Result<Plan, PlanError> {
    validate(input)?;
    let (pool, exclusions) = rank_eligible(input);
    let ctx = Ctx::new(input, &pool);
    let n = input.intervals;
    let bound = |blocks| match input.max_increase_pct {
        Some(pct) => ctx.bound_rebound(blocks, pct),
        None => blocks,
    };
    let (mut blocks, shortfall) = match &input.objective {
        Objective::MaxDemandThreshold { threshold_kw } => {
            let need: Vec<f64> = input.baseline_kw[..n]
                .iter()
                .map(|b| (b - threshold_kw).max(0.0))
                .collect();
            let blocks = ctx
                .greedy(&need, false)
                .map(|g| g.blocks)
                .unwrap_or_default();
            (bound(blocks), Shortfall::Need(need))
        }
        Objective::LoadReduction { reduction_kw } => {
            let need = vec![*reduction_kw; n];
            let blocks = ctx
                .greedy(&need, false)
                .map(|g| g.blocks)
                .unwrap_or_default();
            (bound(blocks), Shortfall::Need(need))
        }
        Objective::MaximumReduction => (bound(ctx.maximum_reduction()), Shortfall::None),
        Objective::Manual { stages } => {
            let (blocks, stage_of) = ctx.manual(stages);
            // The shortfall is what each stage's own devices miss of its target once the
            // rebound bound has cut their blocks.
            let blocks = bound(blocks);
            (
                blocks.clone(),
                Shortfall::Given(ctx.manual_shortfall(stages, &blocks, &stage_of)),
            )
        }
    };
    blocks.retain(|b| b.is_placed());
    Ok(ctx.finish(blocks, shortfall, exclusions))
}
