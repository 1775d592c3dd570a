//! axum routes that are not console pages: the REST API, exports and operational probes.

pub mod api;
pub mod event_api;
pub mod export;
pub mod integration;
pub mod ops;
pub mod report_api;
pub mod settlement_api;
pub mod state;

pub use state::AppState;
