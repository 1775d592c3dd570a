//! Stage planning: which eligible devices shed load in which 15-minute intervals of an event.
//!
//! Pure and deterministic: the caller loads candidates, limits and forecasts; `plan` decides.

/// Every event is planned on a grid of 15-minute intervals.
pub const INTERVAL_MINUTES: u32 = 15;

/// Share of a device's shed kW that comes back as extra load in the interval after its
/// block ends (payback), used to bound rebound under `LoadReduction`.
pub const REBOUND_SHARE: f64 = 0.5;

/// What the event tries to achieve. Figures are kW (the console and API take MW and
/// convert at the boundary).
#[derive(Debug, Clone, PartialEq)]
pub enum Objective {
    /// The operator gives the stages; each is filled in score order up to its target
    /// (or with every device that may take part when there is no target).
    Manual { stages: Vec<ManualStage> },
    /// Keep zone load under a ceiling in every interval.
    MaxDemandThreshold { threshold_kw: f64 },
    /// Shave a fixed amount each interval; rebound after a block ends stays within
    /// `max_increase_pct` of the baseline.
    LoadReduction {
        reduction_kw: f64,
        max_increase_pct: f64,
    },
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
/// `REBOUND_SHARE` of its reduction at `e - 1` comes back at `e`. Only `LoadReduction`
/// bounds it; the greedy objectives cover rebound that lands inside the event like any
/// other deficit.
///
/// Guarantees (property-tested):
/// - `MaxDemandThreshold`: when every eligible device may run the whole event window and,
///   at every event interval, the eligible devices together reduce at least
///   `baseline - threshold`, then `after_kw <= threshold` at every event interval. (With
///   shorter blocks the greedy still covers what it can; `shortfall_kw` says what it could not.)
/// - `LoadReduction`: `after_kw <= baseline_kw * (1 + max_increase_pct / 100)` at every
///   interval, tail included (for a non-negative baseline), at the price of a shortfall
///   when the reduction and the allowance cannot both be met.
/// - `MaximumReduction`: every eligible device is placed.
/// - Every device: one block, inside the window, within its limits in whole intervals.
/// - Same input, same plan; the order of `candidates` only changes the indices reported.
pub fn plan(input: &PlanInput) -> Result<Plan, PlanError> {
    validate(input)?;
    let (pool, exclusions) = rank_eligible(input);
    let ctx = Ctx::new(input, &pool);
    let n = input.intervals;
    let (blocks, shortfall) = match &input.objective {
        Objective::MaxDemandThreshold { threshold_kw } => {
            let need: Vec<f64> = input.baseline_kw[..n]
                .iter()
                .map(|b| (b - threshold_kw).max(0.0))
                .collect();
            let blocks = ctx
                .greedy(&need, false)
                .map(|g| g.blocks)
                .unwrap_or_default();
            (blocks, Shortfall::Need(need))
        }
        Objective::LoadReduction {
            reduction_kw,
            max_increase_pct,
        } => {
            let need = vec![*reduction_kw; n];
            let blocks = ctx.load_reduction(&need, *max_increase_pct);
            (blocks, Shortfall::Need(need))
        }
        Objective::MaximumReduction => (ctx.maximum_reduction(), Shortfall::None),
        Objective::Manual { stages } => {
            let (blocks, shortfall) = ctx.manual(stages);
            (blocks, Shortfall::Given(shortfall))
        }
    };
    Ok(ctx.finish(blocks, shortfall, exclusions))
}

fn validate(input: &PlanInput) -> Result<(), PlanError> {
    let len = input.baseline_kw.len();
    let n = input.intervals;
    if n == 0 {
        return Err(PlanError::EmptyWindow);
    }
    if n > len {
        return Err(PlanError::WindowBeyondBaseline {
            intervals: n,
            baseline: len,
        });
    }
    if let Some(interval) = input.baseline_kw.iter().position(|b| !b.is_finite()) {
        return Err(PlanError::BadBaseline { interval });
    }
    for (device_type, row) in input.factors.iter().enumerate() {
        if row.len() != len {
            return Err(PlanError::FactorLength {
                device_type,
                len: row.len(),
                expected: len,
            });
        }
        if let Some(interval) = row.iter().position(|f| !(f.is_finite() && *f >= 0.0)) {
            return Err(PlanError::BadFactor {
                device_type,
                interval,
            });
        }
    }
    for c in &input.candidates {
        if usize::from(c.program) >= input.programs.len() {
            return Err(PlanError::UnknownProgram {
                device_id: c.device_id,
                program: c.program,
                programs: input.programs.len(),
            });
        }
        if usize::from(c.device_type) >= input.factors.len() {
            return Err(PlanError::UnknownDeviceType {
                device_id: c.device_id,
                device_type: c.device_type,
                types: input.factors.len(),
            });
        }
        if !(c.nominal_kw.is_finite() && c.nominal_kw >= 0.0) {
            return Err(PlanError::BadNominal {
                device_id: c.device_id,
            });
        }
    }
    let figure = |v: f64, field: &'static str| {
        if v.is_finite() && v >= 0.0 {
            Ok(())
        } else {
            Err(PlanError::BadObjective { field })
        }
    };
    match &input.objective {
        // A negative ceiling is odd but meaningful (shed everything); only NaN/inf are not.
        Objective::MaxDemandThreshold { threshold_kw } if !threshold_kw.is_finite() => {
            return Err(PlanError::BadObjective {
                field: "threshold_kw",
            })
        }
        Objective::LoadReduction {
            reduction_kw,
            max_increase_pct,
        } => {
            figure(*reduction_kw, "reduction_kw")?;
            figure(*max_increase_pct, "max_increase_pct")?;
        }
        Objective::Manual { stages } => {
            for (index, s) in stages.iter().enumerate() {
                if s.start >= s.end || s.end > n {
                    return Err(PlanError::BadStage {
                        index,
                        start: s.start,
                        end: s.end,
                        intervals: n,
                    });
                }
                if let Some(t) = s.target_kw {
                    if !(t.is_finite() && t >= 0.0) {
                        return Err(PlanError::BadStageTarget { index });
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The eligible devices in rank order (score, then device id), with their block limits in
/// whole intervals. Struct of arrays: the greedy walks it many times for 1M devices.
#[derive(Debug, Default)]
struct Pool {
    candidate: Vec<u32>,
    device_type: Vec<u8>,
    nominal: Vec<f64>,
    min_len: Vec<u32>,
    max_len: Vec<u32>,
}

impl Pool {
    fn len(&self) -> usize {
        self.candidate.len()
    }
}

/// A program's limits in whole intervals for this event.
struct ProgramBlocks {
    lifted: bool,
    /// `min_event_minutes` rounded up (at least one interval).
    min_len: u32,
    /// `max_event_minutes` rounded down, capped at the event window.
    max_len: u32,
}

#[derive(Clone, Copy)]
enum Rule {
    Inactive,
    Unregistered,
    Unavailable,
    OptedOut,
    ParticipationLimit,
    CumulativeDuration,
    MinimumGap,
    EventDuration,
}

/// First reason that keeps `c` out, or its block limits `(min_len, max_len)`.
///
/// The cumulative check is made in whole intervals: the remaining minutes rounded down must
/// hold a minimum block rounded up. That covers the product's "remaining < min_event_minutes
/// or < one interval" and also refuses e.g. 25 minutes left against a 20-minute minimum,
/// which no block of whole intervals could honour. Likewise the event-duration check refuses a
/// program whose allowed block lengths do not meet the window at all (window shorter than
/// the minimum, or a maximum below the minimum or below one interval).
fn check(c: &Candidate, p: &ProgramLimits, pb: &ProgramBlocks, n: u32) -> Result<(u32, u32), Rule> {
    if !c.active {
        return Err(Rule::Inactive);
    }
    if !c.registered {
        return Err(Rule::Unregistered);
    }
    if c.unavailable {
        return Err(Rule::Unavailable);
    }
    if c.opted_out {
        return Err(Rule::OptedOut);
    }
    if pb.lifted {
        return Ok((1, n));
    }
    if c.events_in_cycle >= p.max_events_per_cycle {
        return Err(Rule::ParticipationLimit);
    }
    let remaining = p.max_minutes_per_cycle.saturating_sub(c.minutes_in_cycle) / INTERVAL_MINUTES;
    if remaining < pb.min_len {
        return Err(Rule::CumulativeDuration);
    }
    if c.minutes_since_last.is_some_and(|m| m < p.min_gap_minutes) {
        return Err(Rule::MinimumGap);
    }
    if pb.max_len < pb.min_len {
        return Err(Rule::EventDuration);
    }
    Ok((pb.min_len, pb.max_len.min(remaining)))
}

/// Applies the eligibility rules and ranks the eligible devices.
fn rank_eligible(input: &PlanInput) -> (Pool, Exclusions) {
    let n = u32::try_from(input.intervals).unwrap_or(u32::MAX);
    let programs: Vec<ProgramBlocks> = input
        .programs
        .iter()
        .map(|p| ProgramBlocks {
            lifted: input.override_rules && p.overridable,
            min_len: p.min_event_minutes.div_ceil(INTERVAL_MINUTES).max(1),
            max_len: (p.max_event_minutes / INTERVAL_MINUTES).min(n),
        })
        .collect();
    let mut ex = Exclusions::default();
    let mut limits = Vec::with_capacity(input.candidates.len());
    // Sort key: the score's bits made order-preserving (as f32::total_cmp), the device id
    // with its sign flipped, then the index so that even duplicate ids rank the same way.
    let mut keys: Vec<u128> = Vec::with_capacity(input.candidates.len());
    for (idx, c) in input.candidates.iter().enumerate() {
        let p = usize::from(c.program);
        match check(c, &input.programs[p], &programs[p], n) {
            Ok(lens) => {
                let bits = c.score.to_bits();
                let score = if bits >> 31 == 1 {
                    !bits
                } else {
                    bits | 1 << 31
                };
                let id = (c.device_id as u64) ^ (1 << 63);
                keys.push(
                    (u128::from(score) << 96) | (u128::from(id) << 32) | u128::from(idx as u32),
                );
                limits.push(lens);
            }
            Err(rule) => {
                let counter = match rule {
                    Rule::Inactive => &mut ex.inactive,
                    Rule::Unregistered => &mut ex.unregistered,
                    Rule::Unavailable => &mut ex.unavailable,
                    Rule::OptedOut => &mut ex.opted_out,
                    Rule::ParticipationLimit => &mut ex.participation_limit,
                    Rule::CumulativeDuration => &mut ex.cumulative_duration,
                    Rule::MinimumGap => &mut ex.minimum_gap,
                    Rule::EventDuration => &mut ex.event_duration,
                };
                *counter += 1;
                limits.push((0, 0));
            }
        }
    }
    keys.sort_unstable();
    let mut pool = Pool::default();
    for key in keys {
        let idx = key as u32;
        let c = &input.candidates[idx as usize];
        let (min_len, max_len) = limits[idx as usize];
        pool.candidate.push(idx);
        pool.device_type.push(c.device_type);
        pool.nominal.push(f64::from(c.nominal_kw));
        pool.min_len.push(min_len);
        pool.max_len.push(max_len);
    }
    (pool, ex)
}

/// One device's block `[start, end)`; `p` is its rank in the pool.
#[derive(Debug, Clone, Copy)]
struct Block {
    p: u32,
    start: u32,
    end: u32,
}

struct Greedy {
    blocks: Vec<Block>,
    taken: Vec<bool>,
    net: Vec<f64>,
}

enum Shortfall {
    /// Shortfall is what `need` asks beyond the planned reduction.
    Need(Vec<f64>),
    Given(Vec<f64>),
    None,
}

struct Ctx<'a> {
    input: &'a PlanInput,
    pool: &'a Pool,
    n: usize,
    len: usize,
    /// `factors` as f64, `[device_type * len + interval]`.
    f: Vec<f64>,
    /// Prefix sums of `f` per type: `[device_type * (len + 1) + interval]`.
    f_sum: Vec<f64>,
}

/// Tolerance for "covered": relative to the figures at stake, so float noise in sums of a
/// million devices does not start another cohort.
fn tolerance(scale: f64) -> f64 {
    1e-9 * (1.0 + scale.abs())
}

impl<'a> Ctx<'a> {
    fn new(input: &'a PlanInput, pool: &'a Pool) -> Self {
        let len = input.baseline_kw.len();
        let f: Vec<f64> = input
            .factors
            .iter()
            .flat_map(|row| row.iter().map(|&x| f64::from(x)))
            .collect();
        let mut f_sum = Vec::with_capacity(input.factors.len() * (len + 1));
        for t in 0..input.factors.len() {
            let mut acc = 0.0;
            f_sum.push(0.0);
            for i in 0..len {
                acc += f[t * len + i];
                f_sum.push(acc);
            }
        }
        Ctx {
            input,
            pool,
            n: input.intervals,
            len,
            f,
            f_sum,
        }
    }

    fn factor(&self, device_type: u8, i: usize) -> f64 {
        self.f[usize::from(device_type) * self.len + i]
    }

    /// Sum of a type's factors over `[start, end)`.
    fn factor_sum(&self, device_type: u8, start: usize, end: usize) -> f64 {
        let base = usize::from(device_type) * (self.len + 1);
        self.f_sum[base + end] - self.f_sum[base + start]
    }

    /// The greedy core: sweep the event; where the planned reduction (net of rebound) falls
    /// short of `need`, start a cohort there with the next best unused devices that reduce
    /// load at that interval, each for its longest allowed block. A device whose minimum
    /// block no longer fits before the event end runs its minimum block ending at the event
    /// end instead (it still covers this interval). With `give_up`, returns `None` at the
    /// first interval it cannot cover (used by the binary search).
    fn greedy(&self, need: &[f64], give_up: bool) -> Option<Greedy> {
        let pool = self.pool;
        let (n, len) = (self.n, self.len);
        let eps = tolerance(need.iter().fold(0.0, |m: f64, x| m.max(x.abs())));
        let mut net = vec![0.0; len];
        let mut taken = vec![false; pool.len()];
        let mut blocks = Vec::new();
        let mut head = 0;
        // The cohort's nominal kW per (type, start, end), applied after it is formed.
        let stride = n + 1;
        let mut acc = vec![0.0; self.input.factors.len() * stride * stride];
        let mut touched: Vec<usize> = Vec::new();
        for i in 0..n {
            let mut deficit = need[i] - net[i];
            if deficit <= eps {
                continue;
            }
            let mut j = head;
            while deficit > eps && j < pool.len() {
                if !taken[j] {
                    let ty = pool.device_type[j];
                    let r = pool.nominal[j] * self.factor(ty, i);
                    if r > 0.0 {
                        let run = (pool.max_len[j] as usize).min(n - i);
                        let min = pool.min_len[j] as usize;
                        let (s, e) = if run >= min {
                            (i, i + run)
                        } else {
                            (n - min, n)
                        };
                        taken[j] = true;
                        blocks.push(Block {
                            p: j as u32,
                            start: s as u32,
                            end: e as u32,
                        });
                        deficit -= r;
                        net[i] += r;
                        let key = (usize::from(ty) * stride + s) * stride + e;
                        if acc[key] == 0.0 {
                            touched.push(key);
                        }
                        acc[key] += pool.nominal[j];
                    }
                }
                j += 1;
            }
            while head < pool.len() && taken[head] {
                head += 1;
            }
            for key in touched.drain(..) {
                let nominal = std::mem::take(&mut acc[key]);
                let (ty, s, e) = (
                    (key / stride / stride) as u8,
                    key / stride % stride,
                    key % stride,
                );
                for (k, v) in net.iter_mut().enumerate().take(e).skip(s) {
                    if k != i {
                        *v += nominal * self.factor(ty, k);
                    }
                }
                if e < len {
                    net[e] -= REBOUND_SHARE * nominal * self.factor(ty, e - 1);
                }
            }
            if give_up && deficit > eps {
                return None;
            }
        }
        Some(Greedy { blocks, taken, net })
    }

    /// Greedy for the need, then the rebound bound: walking back from the end of the
    /// horizon, wherever the load would exceed `baseline * (1 + pct/100)`, the blocks that
    /// end there are cut, costliest first — shortened by one interval (their release moves
    /// one interval earlier, where the running cohorts absorb it), or, at their minimum
    /// length, moved one interval earlier, or, when they already start at 0, dropped. Each
    /// step only changes intervals up to the one being fixed, so one backward pass leaves
    /// every interval within the bound (with no device, there is no rebound at all). The
    /// price is a shortfall towards the end of the event, which the plan reports.
    fn load_reduction(&self, need: &[f64], max_increase_pct: f64) -> Vec<Block> {
        let Some(Greedy {
            mut blocks,
            mut net,
            ..
        }) = self.greedy(need, false)
        else {
            return Vec::new();
        };
        let pool = self.pool;
        let len = self.len;
        let cap: Vec<f64> = self
            .input
            .baseline_kw
            .iter()
            .map(|b| b.max(0.0) * max_increase_pct / 100.0)
            .collect();
        let eps = tolerance(
            self.input
                .baseline_kw
                .iter()
                .fold(0.0, |m: f64, x| m.max(x.abs())),
        );
        let mut by_end: Vec<Vec<usize>> = vec![Vec::new(); len + 1];
        for (b, blk) in blocks.iter().enumerate() {
            by_end[blk.end as usize].push(b);
        }
        for t in (1..len).rev() {
            if net[t] >= -cap[t] - eps {
                continue;
            }
            let mut bucket = std::mem::take(&mut by_end[t]);
            bucket.sort_unstable_by_key(|&b| std::cmp::Reverse(blocks[b].p));
            let mut keep = Vec::new();
            for b in bucket {
                let Block { p, start, end } = blocks[b];
                let (p, s) = (p as usize, start as usize);
                let ty = pool.device_type[p];
                let nominal = pool.nominal[p];
                let release = REBOUND_SHARE * nominal * self.factor(ty, t - 1);
                if net[t] >= -cap[t] - eps || release <= 0.0 {
                    keep.push(b);
                    continue;
                }
                net[t] += release;
                if (end - start) > pool.min_len[p] {
                    net[t - 1] -= nominal * self.factor(ty, t - 1);
                    blocks[b].end -= 1;
                } else if s > 0 {
                    net[s - 1] += nominal * self.factor(ty, s - 1);
                    net[t - 1] -= nominal * self.factor(ty, t - 1);
                    blocks[b].start -= 1;
                    blocks[b].end -= 1;
                } else {
                    for (k, v) in net.iter_mut().enumerate().take(t).skip(s) {
                        *v -= nominal * self.factor(ty, k);
                    }
                    blocks[b].end = blocks[b].start;
                    continue;
                }
                // The block now ends at t - 1 and is at least one interval long.
                net[t - 1] -= REBOUND_SHARE * nominal * self.factor(ty, t - 2);
                by_end[t - 1].push(b);
            }
            by_end[t] = keep;
        }
        blocks.retain(|b| b.end > b.start);
        blocks
    }

    /// Binary search for the highest level every event interval can get from the greedy,
    /// plan that level, then place every device still unused: its longest block where its
    /// factors give most, among equals where the planned reduction is lowest (so the extra
    /// spreads out), then earliest.
    fn maximum_reduction(&self) -> Vec<Block> {
        let pool = self.pool;
        let (n, len) = (self.n, self.len);
        let types = self.input.factors.len();
        let mut nominal_by_type = vec![0.0; types];
        for p in 0..pool.len() {
            nominal_by_type[usize::from(pool.device_type[p])] += pool.nominal[p];
        }
        let mut hi = (0..n)
            .map(|i| {
                (0..types)
                    .map(|t| nominal_by_type[t] * self.factor(t as u8, i))
                    .sum::<f64>()
            })
            .fold(f64::INFINITY, f64::min);
        let mut lo = 0.0;
        while hi - lo > 1e-4 * hi.max(1.0) {
            let mid = (lo + hi) / 2.0;
            if self.greedy(&vec![mid; n], true).is_some() {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let Some(Greedy {
            mut blocks,
            taken,
            mut net,
        }) = self.greedy(&vec![lo; n], false)
        else {
            return Vec::new();
        };
        let mut prefix = vec![0.0; n + 1];
        for p in (0..pool.len()).filter(|&p| !taken[p]) {
            let ty = pool.device_type[p];
            let run = pool.max_len[p] as usize;
            let mut best: Option<(f64, f64, usize)> = None;
            for i in 0..n {
                prefix[i + 1] = prefix[i] + net[i];
            }
            for s in 0..=(n - run) {
                let gives = self.factor_sum(ty, s, s + run);
                let planned = prefix[s + run] - prefix[s];
                let better = match best {
                    None => true,
                    Some((g, pl, _)) => {
                        let tol = tolerance(g);
                        gives > g + tol || (gives >= g - tol && planned < pl)
                    }
                };
                if better {
                    best = Some((gives, planned, s));
                }
            }
            let Some((_, _, s)) = best else { continue };
            let e = s + run;
            let nominal = pool.nominal[p];
            for (k, v) in net.iter_mut().enumerate().take(e).skip(s) {
                *v += nominal * self.factor(ty, k);
            }
            if e < len {
                net[e] -= REBOUND_SHARE * nominal * self.factor(ty, e - 1);
            }
            blocks.push(Block {
                p: p as u32,
                start: s as u32,
                end: e as u32,
            });
        }
        blocks
    }

    /// Fills each stage, in the order given, with unused devices in rank order whose block
    /// limits allow the stage's length, until the stage's average reduction reaches its
    /// target (devices that give nothing in the stage are then passed over), or with all of
    /// them when there is no target. A stage that misses its target reports the missing
    /// average kW as shortfall on each of its intervals.
    fn manual(&self, stages: &[ManualStage]) -> (Vec<Block>, Vec<f64>) {
        let pool = self.pool;
        let mut taken = vec![false; pool.len()];
        let mut blocks = Vec::new();
        let mut shortfall = vec![0.0; self.n];
        for stage in stages {
            let run = (stage.end - stage.start) as u32;
            let goal = stage.target_kw.map(|t| t * f64::from(run));
            let eps = tolerance(goal.unwrap_or(0.0));
            let mut total = 0.0;
            for (p, taken) in taken.iter_mut().enumerate() {
                if goal.is_some_and(|g| total >= g - eps) {
                    break;
                }
                if *taken || pool.min_len[p] > run || pool.max_len[p] < run {
                    continue;
                }
                let gives =
                    pool.nominal[p] * self.factor_sum(pool.device_type[p], stage.start, stage.end);
                if goal.is_some() && gives <= 0.0 {
                    continue;
                }
                *taken = true;
                total += gives;
                blocks.push(Block {
                    p: p as u32,
                    start: stage.start as u32,
                    end: stage.end as u32,
                });
            }
            if let Some(target) = stage.target_kw {
                let missing = (target - total / f64::from(run)).max(0.0);
                for v in &mut shortfall[stage.start..stage.end] {
                    *v += missing;
                }
            }
        }
        (blocks, shortfall)
    }

    /// Groups the blocks into stages and computes the curves from them.
    fn finish(&self, mut blocks: Vec<Block>, shortfall: Shortfall, exclusions: Exclusions) -> Plan {
        let pool = self.pool;
        let types = self.input.factors.len();
        let len = self.len;
        // Stable: devices within a stage stay in the order they were chosen.
        blocks.sort_by_key(|b| (b.start, b.end));
        let mut stages = Vec::new();
        let mut reduction = vec![0.0; len];
        let mut nominal_by_type = vec![0.0; types];
        for group in blocks.chunk_by(|a, b| (a.start, a.end) == (b.start, b.end)) {
            let (s, e) = (group[0].start as usize, group[0].end as usize);
            nominal_by_type.iter_mut().for_each(|v| *v = 0.0);
            let devices: Vec<u32> = group
                .iter()
                .map(|b| {
                    let p = b.p as usize;
                    nominal_by_type[usize::from(pool.device_type[p])] += pool.nominal[p];
                    pool.candidate[p]
                })
                .collect();
            let mut total = 0.0;
            for (t, &nominal) in nominal_by_type.iter().enumerate() {
                if nominal == 0.0 {
                    continue;
                }
                let ty = t as u8;
                for (k, v) in reduction.iter_mut().enumerate().take(e).skip(s) {
                    let r = nominal * self.factor(ty, k);
                    *v += r;
                    total += r;
                }
                if e < len {
                    reduction[e] -= REBOUND_SHARE * nominal * self.factor(ty, e - 1);
                }
            }
            stages.push(PlannedStage {
                start: s,
                end: e,
                devices,
                expected_kw: total / (e - s) as f64,
            });
        }
        let after_kw = self
            .input
            .baseline_kw
            .iter()
            .zip(&reduction)
            .map(|(b, r)| b - r)
            .collect();
        let shortfall_kw = match shortfall {
            Shortfall::Need(need) => need
                .iter()
                .zip(&reduction)
                .map(|(need, r)| (need - r).max(0.0))
                .collect(),
            Shortfall::Given(v) => v,
            Shortfall::None => vec![0.0; self.n],
        };
        Plan {
            stages,
            reduction_kw: reduction,
            after_kw,
            exclusions,
            eligible: pool.len(),
            assigned: blocks.len(),
            shortfall_kw,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A program that lets a device run up to two hours, at most 4 hours a cycle.
    fn program() -> ProgramLimits {
        ProgramLimits {
            max_events_per_cycle: 10,
            max_minutes_per_cycle: 240,
            min_gap_minutes: 60,
            min_event_minutes: 15,
            max_event_minutes: 120,
            overridable: false,
        }
    }

    fn device(device_id: i64, nominal_kw: f32, score: f32) -> Candidate {
        Candidate {
            device_id,
            program: 0,
            device_type: 0,
            nominal_kw,
            score,
            active: true,
            registered: true,
            unavailable: false,
            opted_out: false,
            events_in_cycle: 0,
            minutes_in_cycle: 0,
            minutes_since_last: None,
        }
    }

    /// `intervals` event intervals plus `tail`, flat baseline, one device type with factor 1.
    fn input(
        intervals: usize,
        tail: usize,
        baseline: f64,
        candidates: Vec<Candidate>,
    ) -> PlanInput {
        let len = intervals + tail;
        PlanInput {
            baseline_kw: vec![baseline; len],
            intervals,
            factors: vec![vec![1.0; len]],
            programs: vec![program()],
            candidates,
            objective: Objective::MaximumReduction,
            override_rules: false,
        }
    }

    fn with(mut input: PlanInput, objective: Objective) -> PlanInput {
        input.objective = objective;
        input
    }

    /// Device ids per stage, as (start, end, ids).
    fn cohorts(input: &PlanInput, plan: &Plan) -> Vec<(usize, usize, Vec<i64>)> {
        plan.stages
            .iter()
            .map(|s| {
                let ids = s
                    .devices
                    .iter()
                    .map(|&d| input.candidates[d as usize].device_id)
                    .collect();
                (s.start, s.end, ids)
            })
            .collect()
    }

    fn excluded_alone(c: Candidate, p: ProgramLimits, intervals: usize) -> Exclusions {
        let mut inp = input(intervals, 0, 100.0, vec![c]);
        inp.programs = vec![p];
        let plan = plan(&inp).unwrap();
        assert_eq!(plan.eligible, 0, "the device should be excluded");
        plan.exclusions
    }

    #[test]
    fn an_inactive_device_is_excluded_and_counted_once_under_its_first_reason() {
        let mut c = device(1, 5.0, 0.0);
        c.active = false;
        c.registered = false;
        c.opted_out = true;
        let ex = excluded_alone(c, program(), 8);
        assert_eq!(
            ex,
            Exclusions {
                inactive: 1,
                ..Exclusions::default()
            }
        );
    }

    #[test]
    fn an_unregistered_device_is_excluded() {
        let mut c = device(1, 5.0, 0.0);
        c.registered = false;
        assert_eq!(excluded_alone(c, program(), 8).unregistered, 1);
    }

    #[test]
    fn an_unavailable_device_is_excluded() {
        let mut c = device(1, 5.0, 0.0);
        c.unavailable = true;
        c.opted_out = true;
        let ex = excluded_alone(c, program(), 8);
        assert_eq!((ex.unavailable, ex.opted_out), (1, 0));
    }

    #[test]
    fn an_opted_out_device_is_excluded() {
        let mut c = device(1, 5.0, 0.0);
        c.opted_out = true;
        assert_eq!(excluded_alone(c, program(), 8).opted_out, 1);
    }

    #[test]
    fn a_device_at_its_participation_limit_is_excluded() {
        let mut c = device(1, 5.0, 0.0);
        c.events_in_cycle = 10;
        assert_eq!(
            excluded_alone(c.clone(), program(), 8).participation_limit,
            1
        );
        c.events_in_cycle = 9;
        let plan = plan(&input(8, 0, 100.0, vec![c])).unwrap();
        assert_eq!(
            plan.eligible, 1,
            "one event below the limit may still take part"
        );
    }

    #[test]
    fn a_device_whose_remaining_cycle_minutes_cannot_hold_a_minimum_block_is_excluded() {
        let mut p = program();
        p.min_event_minutes = 30;
        let mut c = device(1, 5.0, 0.0);
        // 20 minutes left: less than the 30-minute minimum.
        c.minutes_in_cycle = 220;
        assert_eq!(
            excluded_alone(c.clone(), p.clone(), 8).cumulative_duration,
            1
        );
        // 10 minutes left: less than one interval even with no minimum.
        p.min_event_minutes = 0;
        c.minutes_in_cycle = 230;
        assert_eq!(
            excluded_alone(c.clone(), p.clone(), 8).cumulative_duration,
            1
        );
        // 30 minutes left hold a 2-interval block, and the block is capped at it.
        p.min_event_minutes = 30;
        c.minutes_in_cycle = 210;
        let mut inp = input(8, 0, 100.0, vec![c]);
        inp.programs = vec![p];
        let plan = plan(&inp).unwrap();
        assert_eq!(plan.eligible, 1);
        assert_eq!(plan.stages[0].end - plan.stages[0].start, 2);
    }

    #[test]
    fn a_device_inside_its_minimum_gap_is_excluded() {
        let mut c = device(1, 5.0, 0.0);
        c.minutes_since_last = Some(59);
        assert_eq!(excluded_alone(c.clone(), program(), 8).minimum_gap, 1);
        c.minutes_since_last = Some(60);
        assert_eq!(plan(&input(8, 0, 100.0, vec![c])).unwrap().eligible, 1);
    }

    #[test]
    fn an_event_shorter_than_the_minimum_event_duration_excludes_the_device() {
        let mut p = program();
        p.min_event_minutes = 60;
        let c = device(1, 5.0, 0.0);
        // A 45-minute event.
        assert_eq!(excluded_alone(c, p, 3).event_duration, 1);
    }

    #[test]
    fn override_rules_lifts_overridable_limits_only() {
        let mut tired = device(1, 5.0, 0.0);
        tired.events_in_cycle = 99;
        tired.minutes_in_cycle = 240;
        tired.minutes_since_last = Some(0);
        let mut other_program = tired.clone();
        other_program.device_id = 2;
        other_program.program = 1;
        let mut opted_out = device(3, 5.0, 0.0);
        opted_out.opted_out = true;
        let mut inp = input(16, 0, 100.0, vec![tired, other_program, opted_out]);
        let mut lifted = program();
        lifted.overridable = true;
        inp.programs = vec![lifted, program()];
        inp.override_rules = true;
        let plan = plan(&inp).unwrap();
        assert_eq!(plan.eligible, 1);
        assert_eq!(plan.exclusions.participation_limit, 1);
        assert_eq!(plan.exclusions.opted_out, 1);
        // With overrides the block may be as long as the event (beyond the 2-hour maximum).
        assert_eq!(cohorts(&inp, &plan), vec![(0, 16, vec![1])]);
        inp.override_rules = false;
        assert_eq!(super::plan(&inp).unwrap().eligible, 0);
    }

    #[test]
    fn blocks_round_the_minimum_up_and_the_maximum_down_to_whole_intervals() {
        let mut p = program();
        p.min_event_minutes = 20;
        p.max_event_minutes = 50;
        let mut inp = with(
            input(8, 0, 100.0, vec![device(1, 5.0, 0.0), device(2, 5.0, 1.0)]),
            Objective::Manual {
                stages: vec![
                    ManualStage {
                        start: 0,
                        end: 1,
                        target_kw: None,
                    },
                    ManualStage {
                        start: 0,
                        end: 4,
                        target_kw: None,
                    },
                    ManualStage {
                        start: 4,
                        end: 7,
                        target_kw: None,
                    },
                ],
            },
        );
        inp.programs = vec![p];
        let plan = plan(&inp).unwrap();
        // 1 interval < 2 (20 min up), 4 > 3 (50 min down): only the 3-interval stage fits.
        assert_eq!(cohorts(&inp, &plan), vec![(4, 7, vec![1, 2])]);
    }

    #[test]
    fn ties_break_by_device_id() {
        let candidates = vec![
            device(30, 5.0, 1.0),
            device(10, 5.0, 1.0),
            device(20, 5.0, 1.0),
            device(5, 5.0, 2.0),
        ];
        let inp = with(
            input(4, 0, 100.0, candidates),
            Objective::MaxDemandThreshold { threshold_kw: 90.0 },
        );
        let plan = plan(&inp).unwrap();
        assert_eq!(cohorts(&inp, &plan), vec![(0, 4, vec![10, 20])]);
        let mut reversed = inp.clone();
        reversed.candidates.reverse();
        assert_eq!(
            cohorts(&reversed, &super::plan(&reversed).unwrap()),
            vec![(0, 4, vec![10, 20])]
        );
    }

    #[test]
    fn max_demand_threshold_keeps_load_under_the_ceiling() {
        let candidates = (1..=20).map(|i| device(i, 10.0, i as f32)).collect();
        let mut inp = with(
            input(8, 2, 0.0, candidates),
            Objective::MaxDemandThreshold {
                threshold_kw: 1000.0,
            },
        );
        inp.baseline_kw = vec![
            950.0, 1020.0, 1040.0, 1090.0, 1060.0, 1010.0, 990.0, 1000.0, 900.0, 900.0,
        ];
        inp.programs[0].max_event_minutes = 240;
        let plan = plan(&inp).unwrap();
        for i in 0..8 {
            assert!(
                plan.after_kw[i] <= 1000.0 + 1e-9,
                "interval {i}: {}",
                plan.after_kw[i]
            );
        }
        assert!(plan.shortfall_kw.iter().all(|&s| s == 0.0));
        // Peak need is 90 kW: nine 10 kW devices, the cheapest ones.
        assert_eq!(plan.assigned, 9);
        assert_eq!(plan.stages[0].start, 1);
        let ids: Vec<i64> = cohorts(&inp, &plan).into_iter().flat_map(|c| c.2).collect();
        assert_eq!(ids, (1..=9).collect::<Vec<_>>());
    }

    #[test]
    fn max_demand_threshold_reports_what_the_devices_cannot_cover() {
        let inp = with(
            input(4, 0, 130.0, vec![device(1, 10.0, 0.0)]),
            Objective::MaxDemandThreshold {
                threshold_kw: 100.0,
            },
        );
        let plan = plan(&inp).unwrap();
        assert_eq!(plan.assigned, 1);
        assert_eq!(plan.shortfall_kw, vec![20.0; 4]);
    }

    #[test]
    fn cohorts_rotate_when_blocks_are_shorter_than_the_event() {
        // 2-hour event, devices may run 1 hour: a second cohort takes over at 4, covering the
        // need and the first cohort's rebound.
        let candidates = (1..=10).map(|i| device(i, 10.0, i as f32)).collect();
        let mut inp = with(
            input(8, 2, 1000.0, candidates),
            Objective::LoadReduction {
                reduction_kw: 20.0,
                max_increase_pct: 100.0,
            },
        );
        inp.programs[0].max_event_minutes = 60;
        let plan = plan(&inp).unwrap();
        assert_eq!(
            cohorts(&inp, &plan),
            vec![(0, 4, vec![1, 2]), (4, 8, vec![3, 4, 5])]
        );
        // At 4: 30 kW new cohort - 10 kW rebound of the first one.
        for i in 0..8 {
            assert!(plan.reduction_kw[i] >= 20.0 - 1e-9, "interval {i}");
        }
        assert_eq!(plan.reduction_kw[8], -15.0);
        assert!(plan.shortfall_kw.iter().all(|&s| s == 0.0));
    }

    #[test]
    fn load_reduction_bounds_rebound_at_the_event_end() {
        // 100 kW shed; a 5% allowance on 1000 kW lets 50 kW come back: at most 100 kW may
        // still run in the last interval... and the release before it must be absorbed.
        let candidates = (1..=40).map(|i| device(i, 10.0, i as f32)).collect();
        let mut inp = with(
            input(8, 3, 1000.0, candidates),
            Objective::LoadReduction {
                reduction_kw: 300.0,
                max_increase_pct: 5.0,
            },
        );
        inp.programs[0].max_event_minutes = 240;
        let plan = plan(&inp).unwrap();
        for (i, (after, base)) in plan.after_kw.iter().zip(&inp.baseline_kw).enumerate() {
            assert!(*after <= base * 1.05 + 1e-9, "interval {i}: {after}");
        }
        // Without the bound, 300 kW would release 150 kW at the end.
        assert!(plan.reduction_kw[8] >= -50.0 - 1e-9);
        // The full 300 kW is still shed early in the event; the ramp-down shows as shortfall.
        assert!(plan.reduction_kw[0] >= 300.0 - 1e-9);
        assert!(plan.shortfall_kw[7] > 0.0);
        assert!(plan.stages.len() > 1, "block ends are staggered");
    }

    #[test]
    fn load_reduction_without_rebound_room_keeps_the_plan_and_the_bound() {
        let candidates = (1..=5).map(|i| device(i, 10.0, i as f32)).collect();
        let inp = with(
            input(4, 2, 1000.0, candidates),
            Objective::LoadReduction {
                reduction_kw: 30.0,
                max_increase_pct: 0.0,
            },
        );
        let plan = plan(&inp).unwrap();
        for (i, after) in plan.after_kw.iter().enumerate() {
            assert!(*after <= 1000.0 + 1e-9, "interval {i}: {after}");
        }
        // Only a plan with no release at all fits a 0% allowance.
        assert!(plan.stages.is_empty());
        assert_eq!(plan.shortfall_kw, vec![30.0; 4]);
    }

    #[test]
    fn maximum_reduction_uses_every_eligible_device_and_spreads_the_extra() {
        // 1-hour blocks in a 2-hour event: the level is limited by the devices, and the
        // ones left over go where the planned reduction is lowest.
        let candidates = (1..=9).map(|i| device(i, 10.0, i as f32)).collect();
        let mut inp = input(8, 0, 1000.0, candidates);
        inp.programs[0].max_event_minutes = 60;
        let plan = plan(&inp).unwrap();
        assert_eq!(plan.assigned, 9);
        let event = &plan.reduction_kw[..8];
        let low = event.iter().cloned().fold(f64::INFINITY, f64::min);
        let high = event.iter().cloned().fold(0.0, f64::max);
        assert!(low >= 30.0 - 1e-9, "lowest interval {low}");
        assert!(high - low <= 20.0 + 1e-9, "spread {low}..{high}");
        assert!(plan.shortfall_kw.iter().all(|&s| s == 0.0));
    }

    #[test]
    fn manual_stages_are_filled_in_score_order_up_to_their_target() {
        let candidates = (1..=10).map(|i| device(i, 10.0, i as f32)).collect();
        let inp = with(
            input(8, 0, 1000.0, candidates),
            Objective::Manual {
                stages: vec![
                    ManualStage {
                        start: 4,
                        end: 8,
                        target_kw: Some(25.0),
                    },
                    ManualStage {
                        start: 0,
                        end: 4,
                        target_kw: Some(100.0),
                    },
                ],
            },
        );
        let plan = plan(&inp).unwrap();
        assert_eq!(
            cohorts(&inp, &plan),
            vec![(0, 4, (4..=10).collect()), (4, 8, vec![1, 2, 3])]
        );
        assert_eq!(plan.stages[1].expected_kw, 30.0);
        // The first-drawn stage got the cheapest devices; the other is 30 kW short.
        assert_eq!(
            plan.shortfall_kw,
            [30.0, 30.0, 30.0, 30.0, 0.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn a_manual_stage_without_target_takes_every_device_that_fits() {
        let mut long = device(2, 10.0, 2.0);
        long.program = 1;
        let inp = PlanInput {
            programs: vec![program(), {
                let mut p = program();
                p.min_event_minutes = 120;
                p
            }],
            ..with(
                input(
                    8,
                    0,
                    1000.0,
                    vec![device(1, 10.0, 1.0), long, device(3, 10.0, 3.0)],
                ),
                Objective::Manual {
                    stages: vec![ManualStage {
                        start: 2,
                        end: 6,
                        target_kw: None,
                    }],
                },
            )
        };
        let plan = plan(&inp).unwrap();
        assert_eq!(cohorts(&inp, &plan), vec![(2, 6, vec![1, 3])]);
        assert!(plan.shortfall_kw.iter().all(|&s| s == 0.0));
    }

    #[test]
    fn a_manual_stage_outside_the_event_window_is_refused() {
        let inp = with(
            input(8, 2, 1000.0, vec![]),
            Objective::Manual {
                stages: vec![ManualStage {
                    start: 6,
                    end: 9,
                    target_kw: None,
                }],
            },
        );
        assert_eq!(
            plan(&inp),
            Err(PlanError::BadStage {
                index: 0,
                start: 6,
                end: 9,
                intervals: 8
            })
        );
    }

    #[test]
    fn a_candidate_naming_an_unknown_program_is_refused() {
        let mut c = device(7, 10.0, 1.0);
        c.program = 3;
        let err = plan(&input(8, 0, 1000.0, vec![c])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "device 7 refers to program 3, but only 1 programs were given"
        );
    }

    #[test]
    fn factors_that_do_not_cover_the_baseline_are_refused() {
        let mut inp = input(8, 2, 1000.0, vec![]);
        inp.factors[0].pop();
        assert!(matches!(
            plan(&inp),
            Err(PlanError::FactorLength { len: 9, .. })
        ));
    }

    // ---- properties ----

    fn arb_program() -> impl Strategy<Value = ProgramLimits> {
        (
            1u32..4,
            0u32..300,
            0u32..120,
            0u32..75,
            0u32..240,
            any::<bool>(),
        )
            .prop_map(
                |(events, minutes, gap, min, max, overridable)| ProgramLimits {
                    max_events_per_cycle: events,
                    max_minutes_per_cycle: minutes,
                    min_gap_minutes: gap,
                    min_event_minutes: min,
                    max_event_minutes: max,
                    overridable,
                },
            )
    }

    fn arb_candidate(programs: u16, types: u8) -> impl Strategy<Value = Candidate> {
        (
            (0..programs, 0..types, 0.0f32..20.0, 0u8..5),
            (proptest::bool::weighted(0.9), proptest::bool::weighted(0.9)),
            (proptest::bool::weighted(0.1), proptest::bool::weighted(0.1)),
            (0u32..4, 0u32..300, proptest::option::of(0u32..200)),
        )
            .prop_map(
                |(
                    (program, device_type, nominal_kw, score),
                    (active, registered),
                    (unavailable, opted_out),
                    (events_in_cycle, minutes_in_cycle, minutes_since_last),
                )| Candidate {
                    device_id: 0,
                    program,
                    device_type,
                    nominal_kw,
                    score: f32::from(score),
                    active,
                    registered,
                    unavailable,
                    opted_out,
                    events_in_cycle,
                    minutes_in_cycle,
                    minutes_since_last,
                },
            )
    }

    fn arb_objective(intervals: usize) -> impl Strategy<Value = Objective> {
        let stage = (
            0..intervals,
            1..=intervals,
            proptest::option::of(0.0f64..100.0),
        )
            .prop_map(move |(a, len, target_kw)| {
                let start = a.min(intervals - 1);
                ManualStage {
                    start,
                    end: (start + len).min(intervals),
                    target_kw,
                }
            });
        prop_oneof![
            (50.0f64..250.0)
                .prop_map(|threshold_kw| Objective::MaxDemandThreshold { threshold_kw }),
            (0.0f64..150.0, 0.0f64..30.0).prop_map(|(reduction_kw, max_increase_pct)| {
                Objective::LoadReduction {
                    reduction_kw,
                    max_increase_pct,
                }
            }),
            Just(Objective::MaximumReduction),
            proptest::collection::vec(stage, 0..4).prop_map(|stages| Objective::Manual { stages }),
        ]
    }

    prop_compose! {
        fn arb_input()(
            intervals in 1usize..12,
            tail in 0usize..4,
            types in 1u8..4,
            programs in proptest::collection::vec(arb_program(), 1..4),
        )(
            baseline_kw in proptest::collection::vec(100.0f64..300.0, intervals + tail),
            factors in proptest::collection::vec(
                proptest::collection::vec(0.0f32..1.2, intervals + tail), types as usize),
            mut candidates in proptest::collection::vec(
                arb_candidate(programs.len() as u16, types), 0..40),
            objective in arb_objective(intervals),
            override_rules in any::<bool>(),
            ids in Just(()).prop_perturb(|_, mut rng| rng.next_u64()),
            intervals in Just(intervals),
            programs in Just(programs),
        ) -> PlanInput {
            // Distinct ids in a scrambled order, so ties by score break by id, not position.
            for (i, c) in candidates.iter_mut().enumerate() {
                c.device_id = ((i as u64 * 7919 + ids % 1000) % 100_000) as i64;
            }
            PlanInput { baseline_kw, intervals, factors, programs, candidates, objective, override_rules }
        }
    }

    /// The block limits the spec gives a device, or None when it is not eligible.
    fn limits_of(input: &PlanInput, c: &Candidate) -> Option<(usize, usize)> {
        let p = &input.programs[c.program as usize];
        let n = input.intervals;
        if !c.active || !c.registered || c.unavailable || c.opted_out {
            return None;
        }
        if input.override_rules && p.overridable {
            return Some((1, n));
        }
        let remaining = p.max_minutes_per_cycle.saturating_sub(c.minutes_in_cycle);
        let min = p.min_event_minutes.div_ceil(15).max(1) as usize;
        let max = ((p.max_event_minutes / 15) as usize)
            .min((remaining / 15) as usize)
            .min(n);
        let excluded = c.events_in_cycle >= p.max_events_per_cycle
            || remaining < p.min_event_minutes
            || remaining < 15
            || c.minutes_since_last.is_some_and(|m| m < p.min_gap_minutes)
            || ((n * 15) as u32) < p.min_event_minutes;
        (!excluded && min <= max).then_some((min, max))
    }

    fn reduction(input: &PlanInput, c: &Candidate, i: usize) -> f64 {
        f64::from(c.nominal_kw) * f64::from(input.factors[c.device_type as usize][i])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn no_device_breaks_its_limits_or_takes_two_blocks(input in arb_input()) {
            let plan = plan(&input).unwrap();
            let mut seen = vec![false; input.candidates.len()];
            for s in &plan.stages {
                prop_assert!(s.start < s.end && s.end <= input.intervals);
                for &d in &s.devices {
                    prop_assert!(!seen[d as usize], "device {d} in two blocks");
                    seen[d as usize] = true;
                    let c = &input.candidates[d as usize];
                    let limits = limits_of(&input, c);
                    prop_assert!(limits.is_some(), "ineligible device {d} placed");
                    let (min, max) = limits.unwrap();
                    let len = s.end - s.start;
                    prop_assert!(min <= len && len <= max, "block {len} outside [{min}, {max}]");
                }
            }
            let total = plan.eligible + {
                let e = &plan.exclusions;
                e.inactive + e.unregistered + e.unavailable + e.opted_out + e.participation_limit
                    + e.cumulative_duration + e.minimum_gap + e.event_duration
            };
            prop_assert_eq!(total, input.candidates.len());
            prop_assert_eq!(plan.assigned, seen.iter().filter(|s| **s).count());
            // Devices the spec's rules call eligible but whose limits cannot fit any block
            // are counted as excluded (whole-interval rounding), never placed.
            let spec_eligible = input.candidates.iter().filter(|c| limits_of(&input, c).is_some()).count();
            prop_assert_eq!(plan.eligible, spec_eligible);
            if input.objective == Objective::MaximumReduction {
                prop_assert_eq!(plan.assigned, plan.eligible);
            }
        }

        #[test]
        fn reduction_is_the_sum_over_stages_and_plans_are_deterministic(input in arb_input()) {
            let plan = plan(&input).unwrap();
            prop_assert_eq!(&plan, &super::plan(&input).unwrap());
            let len = input.baseline_kw.len();
            let mut expected = vec![0.0; len];
            for s in &plan.stages {
                let mut stage_total = 0.0;
                for &d in &s.devices {
                    let c = &input.candidates[d as usize];
                    for (i, v) in expected.iter_mut().enumerate().take(s.end).skip(s.start) {
                        *v += reduction(&input, c, i);
                        stage_total += reduction(&input, c, i);
                    }
                    if s.end < len {
                        expected[s.end] -= REBOUND_SHARE * reduction(&input, c, s.end - 1);
                    }
                }
                let avg = stage_total / (s.end - s.start) as f64;
                prop_assert!((s.expected_kw - avg).abs() <= 1e-6 * (1.0 + avg.abs()));
            }
            for (i, expected) in expected.iter().enumerate() {
                prop_assert!((plan.reduction_kw[i] - expected).abs() <= 1e-6 * (1.0 + expected.abs()));
                prop_assert!((plan.after_kw[i] - (input.baseline_kw[i] - plan.reduction_kw[i])).abs() <= 1e-9);
            }
            prop_assert_eq!(plan.shortfall_kw.len(), input.intervals);
            let keys: Vec<_> = plan.stages.iter().map(|s| (s.start, s.end)).collect();
            prop_assert!(keys.windows(2).all(|w| w[0] < w[1]), "stages sorted and distinct");
        }

        #[test]
        fn candidate_order_does_not_change_the_plan(input in arb_input()) {
            let mut reversed = input.clone();
            reversed.candidates.reverse();
            let a = plan(&input).unwrap();
            let b = plan(&reversed).unwrap();
            let ids = |inp: &PlanInput, p: &Plan| -> Vec<(usize, usize, Vec<i64>)> {
                cohorts(inp, p)
            };
            prop_assert_eq!(ids(&input, &a), ids(&reversed, &b));
        }

        #[test]
        fn load_reduction_keeps_rebound_within_the_allowance(
            input in arb_input(),
            reduction_kw in 0.0f64..200.0,
            max_increase_pct in 0.0f64..20.0,
        ) {
            let input = with(input, Objective::LoadReduction { reduction_kw, max_increase_pct });
            let plan = plan(&input).unwrap();
            for (i, (after, base)) in plan.after_kw.iter().zip(&input.baseline_kw).enumerate() {
                let bound = base * (1.0 + max_increase_pct / 100.0);
                prop_assert!(*after <= bound + 1e-6, "interval {i}: {after} > {bound}");
            }
        }

    }

    proptest! {
        // About a quarter of the cases meet the condition with a need; run enough of them.
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// The documented condition: when every eligible device may run the whole event
        /// window (overrides, or limits and remaining minutes of at least the window) and,
        /// at every event interval, the eligible devices together reduce at least the need,
        /// the planned load stays under the threshold in every event interval.
        #[test]
        fn max_demand_threshold_holds_whenever_the_devices_could_cover_it(
            mut input in arb_input(),
            threshold_kw in 150.0f64..320.0,
            generous in proptest::bool::weighted(0.8),
        ) {
            if generous {
                for p in &mut input.programs {
                    p.max_event_minutes = 15 * input.intervals as u32;
                    p.max_minutes_per_cycle = 1000;
                    p.max_events_per_cycle = 10;
                }
            }
            let input = with(input, Objective::MaxDemandThreshold { threshold_kw });
            let n = input.intervals;
            let eligible: Vec<&Candidate> = input
                .candidates
                .iter()
                .filter(|c| limits_of(&input, c).is_some())
                .collect();
            let whole_window = eligible.iter().all(|c| limits_of(&input, c).unwrap().1 == n);
            let coverable = (0..n).all(|i| {
                let need = (input.baseline_kw[i] - threshold_kw).max(0.0);
                eligible.iter().map(|c| reduction(&input, c, i)).sum::<f64>() >= need
            });
            let plan = plan(&input).unwrap();
            if whole_window && coverable {
                for i in 0..n {
                    prop_assert!(plan.after_kw[i] <= threshold_kw + 1e-6, "interval {i}: {}", plan.after_kw[i]);
                    prop_assert!(plan.shortfall_kw[i] <= 1e-6);
                }
            }
        }
    }
}
