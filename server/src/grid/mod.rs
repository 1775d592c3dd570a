//! The grid side ("DERMS"): it owns the network model (`network_nodes`, `network_edges`, the
//! `network_current` view) and its own record of the service points under each transformer
//! (`grid_service_points`, from the demo's network data and enrollment syncs, flow 2; what
//! flow 11 exports), strategies, events and their stages (`events`, `event_stages`,
//! `event_stage_devices`, `event_intervals`), forecasts (`feeder_load_history`,
//! `temperatures`, `reduction_factors`) and what the program side told it (`grid_devices`,
//! `grid_program_rules`, `grid_aggregators`, `grid_opt_outs`, `grid_unavailability`). It never
//! imports `programs`; what it tells the program side goes out as a flow.
//!
//! `strategy` (templates), `event` + `lifecycle` (the event and its one state machine),
//! `console` (the event port the pages and `/api/v1/events` call), `plan` + `planner/`
//! (stages) + `feasibility` (the plan's verdict and warnings), `dispatch` (the scheduler; flows 4–6 out), `headend` (the device simulator),
//! `inbound` (registers the flows it receives with integration), `registry` (flows 2, 3,
//! 7–10 and 12 in), `forecast/` + `forecast_service` (load forecasts
//! and the reduction table), `rollup` + `network_service` (the network page), `network_export`
//! (flow 11 out), `chart` (the event chart). Their SQL is in the grid side's stores in `db/`:
//! `event` (events, stages, approvals, opt-outs), `dispatch` (the scheduler's and the
//! simulator's writes), `plan` (candidates, exclusions, the stored plan), `strategy`,
//! `registry`, `forecast` (nodes, load history, temperatures, reductions, the roll-up's
//! counts) and `network`; these modules compute and call them.

pub mod chart;
pub mod console;
pub mod dispatch;
pub mod event;
pub mod feasibility;
pub mod forecast;
pub mod forecast_service;
pub mod headend;
pub mod inbound;
pub mod lifecycle;
pub mod network_export;
pub mod network_service;
pub mod plan;
pub mod planner;
pub mod registry;
pub mod rollup;
pub mod strategy;

/// Device types in the order the planner's reduction factors are indexed by.
pub const DEVICE_TYPES: [&str; 6] = [
    "thermostat",
    "ev_charger",
    "battery",
    "water_heater",
    "pool_pump",
    "smart_inverter",
];

/// The planner index of a device type, if it is one of `DEVICE_TYPES`.
pub fn device_type_index(device_type: &str) -> Option<u8> {
    DEVICE_TYPES
        .iter()
        .position(|t| *t == device_type)
        .map(|i| i as u8)
}
