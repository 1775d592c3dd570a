//! The program side ("CPM"): it owns programs and rules (`programs`, `program_rules`),
//! aggregators, customers, device locations, devices, enrollments and their history
//! (`enrollments`, `enrollment_devices`, `enrollment_status_history`, `device_replacements`),
//! unavailability windows, scores, participation (`program_events`, `program_event_devices`),
//! meter data (`meter_imports`, `interval_readings`, `interval_days`), settlement
//! (`settlement_*`) and its own copy of each service point's place in the network
//! (`program_network_places`, by code: written when it learns a service point — demo load,
//! enrollment requests — and by flow 11) and of the network model itself
//! (`program_network_nodes`, `program_network_edges`: flow 11), which its locations and
//! enrollments hang off. It never imports `grid`; what it tells the grid side
//! goes out as a flow.
//!
//! One module per noun, its service (`*_service`, the console's and the REST API's port) next
//! to it: `enrollment` (lifecycle), `inbound` (the flows it receives, registered with integration; flow 1's handler),
//! `enrollment_request` (flow 1 in), `replacement` (flow 2 on
//! a device swap), `opt_out` (flow 7), `unavailability` (flow 8), `rule` (flow 9), `aggregator`
//! (flow 10), `network_transfer` (flow 11 in: each service point's place in the network),
//! `score` (the daily run, flow 12), `program_event` (flows 4–6 in: stages, reservations,
//! outcomes), `meter` / `meter_days` (interval data), `baseline` and `settlement/` (credits),
//! `settlement_console` (the settlement port). Their SQL is in the program side's stores in
//! `db/`: `enrollment`, `device`, `program` (programs, rules), `aggregator`, `score`,
//! `unavailability`, `participation` (program events, reservations, outcomes, opt-outs),
//! `meter` (imports, readings, interval days), `place` (network places), `program_network` (its network copy) and `settlement` (the overview's reads); these
//! modules compute and call them (settlement's own reads and writes are in `settlement/`).

pub mod aggregator;
pub mod aggregator_service;
pub mod baseline;
pub mod device_service;
pub mod enrollment;
pub mod enrollment_request;
pub mod enrollment_service;
pub mod inbound;
pub mod meter;
pub mod meter_days;
pub mod meter_service;
pub mod network_transfer;
pub mod opt_out;
pub mod program_event;
pub mod program_service;
pub mod program_status;
pub mod published;
pub mod replacement;
pub mod rule;
pub mod score;
pub mod settlement;
pub mod settlement_console;
pub mod unavailability;
