//! The program side: programs, enrollments and their lifecycle.

pub mod enrollment;
