//! The program side: programs, enrollments and their lifecycle.

pub mod aggregator;
pub mod aggregator_service;
pub mod baseline;
pub mod device_service;
pub mod enrollment;
pub mod enrollment_request;
pub mod enrollment_service;
pub mod meter;
pub mod meter_days;
pub mod meter_service;
pub mod network_transfer;
pub mod opt_out;
pub mod program_event;
pub mod program_service;
pub mod replacement;
pub mod rule;
pub mod score;
pub mod settlement;
pub mod settlement_console;
pub mod unavailability;
