//! The program side: programs, enrollments and their lifecycle.

pub mod baseline;
pub mod enrollment;
pub mod enrollment_request;
pub mod meter;
pub mod opt_out;
pub mod rule;
pub mod score;
pub mod unavailability;
