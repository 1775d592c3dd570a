//! Feasibility: whether a plan meets its objective at every event interval, and whether
//! its "after" load rises above the zone's pre-event peak (rebound creating a new peak).

use super::{Objective, Plan, PlanInput};

/// Shortfalls below this many kW are float noise in sums of many devices, not a miss.
const SHORT_KW: f64 = 0.05;

/// What the operator and the approver must know about a plan before it goes ahead.
#[derive(Debug, Clone, PartialEq)]
pub struct Feasibility {
    /// The objective is met at every event interval (no shortfall).
    pub met: bool,
    /// The largest shortfall of any event interval, kW.
    pub max_shortfall_kw: f64,
    /// Event intervals (indices) with a shortfall, ascending.
    pub short_intervals: Vec<usize>,
    /// `MaxDemandThreshold`'s ceiling, kW.
    pub ceiling_kw: Option<f64>,
    /// `LoadReduction`'s reduction per interval, kW.
    pub target_reduction_kw: Option<f64>,
    /// The highest baseline forecast over the window and the tail after it: the peak the
    /// zone would see without the event.
    pub before_peak_kw: f64,
    /// The highest planned ("after") load over the window and the tail.
    pub after_peak_kw: f64,
    /// The interval (index, tail included) of the "after" peak.
    pub after_peak_interval: usize,
    /// The "after" load rises above the pre-event peak somewhere (rebound makes a new peak).
    pub new_peak: bool,
}

/// Reads the plan against its input.
pub fn feasibility(input: &PlanInput, plan: &Plan) -> Feasibility {
    let short_intervals: Vec<usize> = plan
        .shortfall_kw
        .iter()
        .enumerate()
        .filter(|(_, s)| **s > SHORT_KW)
        .map(|(i, _)| i)
        .collect();
    let max_shortfall_kw = plan.shortfall_kw.iter().cloned().fold(0.0, f64::max);
    let before_peak_kw = input
        .baseline_kw
        .iter()
        .cloned()
        .fold(f64::NEG_INFINITY, f64::max)
        .max(0.0);
    let (after_peak_interval, after_peak_kw) =
        plan.after_kw
            .iter()
            .cloned()
            .enumerate()
            .fold(
                (0, f64::NEG_INFINITY),
                |m, (i, v)| if v > m.1 { (i, v) } else { m },
            );
    let (ceiling_kw, target_reduction_kw) = match &input.objective {
        Objective::MaxDemandThreshold { threshold_kw } => (Some(*threshold_kw), None),
        Objective::LoadReduction { reduction_kw } => (None, Some(*reduction_kw)),
        _ => (None, None),
    };
    Feasibility {
        met: short_intervals.is_empty(),
        max_shortfall_kw: if short_intervals.is_empty() {
            0.0
        } else {
            max_shortfall_kw
        },
        short_intervals,
        ceiling_kw,
        target_reduction_kw,
        before_peak_kw,
        after_peak_kw: after_peak_kw.max(0.0),
        after_peak_interval,
        new_peak: after_peak_kw > before_peak_kw + SHORT_KW,
    }
}
