//! GridFlex server library: everything `main.rs` runs, reusable by tests and benchmarks.

pub mod access;
pub mod audit;
pub mod audit_digest;
pub mod auth;
pub mod calendar;
pub mod clock;
pub mod config;
pub mod csv_out;
pub mod db;
pub mod demo;
pub mod dto;
pub mod error;
pub mod figures;
pub mod grid;
pub mod home;
pub mod integration;
pub mod openadr;
pub mod programs;
pub mod report;
pub mod startup;
pub mod web;

use tracing_subscriber::EnvFilter;

/// Logs to stderr; `RUST_LOG` (or `GRIDFLEX_LOG`) sets the level.
pub fn init_tracing(json: bool) {
    let filter = EnvFilter::try_from_env("GRIDFLEX_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
