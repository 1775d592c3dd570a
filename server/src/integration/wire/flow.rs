//! The twelve integration flows, numbered as in DOMAIN.md, and which side sends each.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which side sends a flow's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// DERMS (event operations) → CPM (program management).
    GridToPrograms,
    /// CPM (program management) → DERMS (event operations).
    ProgramsToGrid,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::GridToPrograms => "grid_to_programs",
            Direction::ProgramsToGrid => "programs_to_grid",
        }
    }
}

/// The twelve integration flows, numbered as in DOMAIN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    EnrollmentRequest,
    EnrollmentSync,
    DeviceStatusCheck,
    StageStatus,
    DeviceReservation,
    DeviceOutcome,
    CustomerOptOut,
    CustomerUnavailability,
    ProgramRuleSync,
    AggregatorSync,
    NetworkLocationTransfer,
    DeviceScore,
}

impl Flow {
    /// Every flow, in DOMAIN.md order (flow 1 first).
    pub const ALL: [Flow; 12] = [
        Flow::EnrollmentRequest,
        Flow::EnrollmentSync,
        Flow::DeviceStatusCheck,
        Flow::StageStatus,
        Flow::DeviceReservation,
        Flow::DeviceOutcome,
        Flow::CustomerOptOut,
        Flow::CustomerUnavailability,
        Flow::ProgramRuleSync,
        Flow::AggregatorSync,
        Flow::NetworkLocationTransfer,
        Flow::DeviceScore,
    ];

    /// The code used in envelopes, the message store and the integration monitor.
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::EnrollmentRequest => "enrollment_request",
            Flow::EnrollmentSync => "enrollment_sync",
            Flow::DeviceStatusCheck => "device_status_check",
            Flow::StageStatus => "stage_status",
            Flow::DeviceReservation => "device_reservation",
            Flow::DeviceOutcome => "device_outcome",
            Flow::CustomerOptOut => "customer_opt_out",
            Flow::CustomerUnavailability => "customer_unavailability",
            Flow::ProgramRuleSync => "program_rule_sync",
            Flow::AggregatorSync => "aggregator_sync",
            Flow::NetworkLocationTransfer => "network_location_transfer",
            Flow::DeviceScore => "device_score",
        }
    }

    pub fn parse(code: &str) -> Option<Flow> {
        Flow::ALL.into_iter().find(|flow| flow.as_str() == code)
    }

    /// Who sends the flow's message (the acknowledgements of flows 1–3 travel back).
    pub fn direction(self) -> Direction {
        // Exhaustive on purpose: a new flow must decide its direction.
        match self {
            Flow::EnrollmentRequest
            | Flow::StageStatus
            | Flow::DeviceReservation
            | Flow::DeviceOutcome
            | Flow::NetworkLocationTransfer => Direction::GridToPrograms,
            Flow::EnrollmentSync
            | Flow::DeviceStatusCheck
            | Flow::CustomerOptOut
            | Flow::CustomerUnavailability
            | Flow::ProgramRuleSync
            | Flow::AggregatorSync
            | Flow::DeviceScore => Direction::ProgramsToGrid,
        }
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_flow_code_parses_back_to_its_flow() {
        for flow in Flow::ALL {
            assert_eq!(Flow::parse(flow.as_str()), Some(flow));
        }
        assert_eq!(Flow::parse("enrolment_request"), None);
        let codes: HashSet<&str> = Flow::ALL.iter().map(|flow| flow.as_str()).collect();
        assert_eq!(codes.len(), 12);
    }

    #[test]
    fn flows_run_in_the_directions_of_the_domain_table() {
        let grid_to_programs: Vec<Flow> = Flow::ALL
            .into_iter()
            .filter(|flow| flow.direction() == Direction::GridToPrograms)
            .collect();
        assert_eq!(
            grid_to_programs,
            [
                Flow::EnrollmentRequest,
                Flow::StageStatus,
                Flow::DeviceReservation,
                Flow::DeviceOutcome,
                Flow::NetworkLocationTransfer
            ]
        );
        assert_eq!(Flow::DeviceScore.direction(), Direction::ProgramsToGrid);
    }
}
