//! The grid side ("DERMS"): strategies, forecasts, the stage planner, the event lifecycle,
//! dispatch and outcomes.

pub mod chart;
pub mod console;
pub mod dispatch;
pub mod event;
pub mod forecast;
pub mod forecast_service;
pub mod headend;
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
