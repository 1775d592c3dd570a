//! Who may take part: the input checks and the eligibility rules (activity, registration,
//! availability, opt-out, the program's cycle limits), and the eligible devices ranked by score.

use super::{
    Candidate, Exclusions, Objective, PlanError, PlanInput, ProgramLimits, INTERVAL_MINUTES,
};

pub(super) fn validate(input: &PlanInput) -> Result<(), PlanError> {
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
    if let Some(pct) = input.max_increase_pct {
        figure(pct, "max_increase_pct")?;
    }
    match &input.objective {
        // A negative ceiling is odd but meaningful (shed everything); only NaN/inf are not.
        Objective::MaxDemandThreshold { threshold_kw } if !threshold_kw.is_finite() => {
            return Err(PlanError::BadObjective {
                field: "threshold_kw",
            })
        }
        Objective::LoadReduction { reduction_kw } => {
            figure(*reduction_kw, "reduction_kw")?;
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
pub(super) struct Pool {
    pub(super) candidate: Vec<u32>,
    pub(super) device_type: Vec<u8>,
    pub(super) nominal: Vec<f64>,
    pub(super) min_len: Vec<u32>,
    pub(super) max_len: Vec<u32>,
}

impl Pool {
    pub(super) fn len(&self) -> usize {
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
pub(super) fn rank_eligible(input: &PlanInput) -> (Pool, Exclusions) {
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
