//! The head-end simulator: answers a stage's dispatch for every device, deterministically
//! (a hash of the device row and the seed), with configurable shares of success,
//! non-response, customer override and error; the telemetry it yields is the actual kW.

use chrono::{DateTime, Utc};

use crate::db::dispatch::{answer_stage, SimulatedAnswers};
use crate::db::Tx;
use crate::error::DomainError;

/// Shares of answers, in parts of 10,000 (the rest are errors).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadEndSim {
    pub success: u32,
    pub non_responsive: u32,
    pub override_: u32,
    pub seed: i64,
}

impl Default for HeadEndSim {
    fn default() -> Self {
        HeadEndSim {
            success: 8_500,
            non_responsive: 700,
            override_: 500,
            seed: 7,
        }
    }
}

impl HeadEndSim {
    /// From percentages (success, non-responsive, override); errors take what is left.
    pub fn from_percent(
        success: f64,
        non_responsive: f64,
        override_: f64,
        seed: i64,
    ) -> Result<Self, String> {
        let parts = |v: f64| (v * 100.0).round() as i64;
        let (s, n, o) = (parts(success), parts(non_responsive), parts(override_));
        if s < 0 || n < 0 || o < 0 || s + n + o > 10_000 {
            return Err(format!(
                "head-end shares must be percentages that add up to at most 100 (got {success} + {non_responsive} + {override_})"
            ));
        }
        Ok(HeadEndSim {
            success: s as u32,
            non_responsive: n as u32,
            override_: o as u32,
            seed,
        })
    }

    /// Dispatches a stage: every reserved device answers, opted-out ones are `D1CN`.
    /// Overriding customers take back control halfway through the stage. One statement.
    pub async fn dispatch_stage(
        &self,
        tx: &mut Tx,
        stage_id: i64,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    ) -> Result<u64, DomainError> {
        let midpoint = starts_at + (ends_at - starts_at) / 2;
        let answers = SimulatedAnswers {
            seed: self.seed,
            success: i64::from(self.success),
            non_responsive: i64::from(self.non_responsive),
            override_: i64::from(self.override_),
        };
        answer_stage(tx, stage_id, answers, starts_at, ends_at, midpoint).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_over_one_hundred_percent_are_refused() {
        assert!(HeadEndSim::from_percent(90.0, 10.0, 5.0, 1).is_err());
        let sim = HeadEndSim::from_percent(80.0, 10.0, 5.0, 1).unwrap();
        assert_eq!(
            (sim.success, sim.non_responsive, sim.override_),
            (8000, 1000, 500)
        );
    }
}
