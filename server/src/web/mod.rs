//! axum routes that are not console pages: the REST API `/api/v1` (`api`, `event_api`,
//! `settlement_api`, `report_api`; OpenAPI at `/api/v1/openapi.json`), the inbound flows
//! `/integration/{flow}` (`integration`), the published program-side REST surface
//! (`published`), CSV exports (`export`), `/health`, `/ready` and
//! `/metrics` (`ops`), the meter data file upload (`meter_upload`), and the state every route shares, one service per area (`state`).

pub mod api;
pub mod event_api;
pub mod export;
pub mod integration;
pub mod meter_upload;
pub mod openapi;
pub mod ops;
pub mod published;
pub mod published_check;
pub mod published_flows;
pub mod report_api;
pub mod settlement_api;
pub mod state;
pub mod time_field;

pub use state::AppState;
