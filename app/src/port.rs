//! The ports the console's areas need from the server, one per area (users, home,
//! enrollments, devices, programs and rules, network, aggregators, meter data, forecasts and
//! reductions, integration monitor and value maps, audit trail): implemented by that area's
//! service in the server, provided to pages and server functions as context, and called by
//! the REST API too. Every method checks the viewer's role itself (see [`crate::access`]).
//! The event, settlement and report ports live with their DTOs in `grid`, `settlement` and
//! `report`.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::*;
use crate::query::*;

/// Signing in and the user administration.
#[async_trait]
pub trait UserPort: Send + Sync + 'static {
    /// Checks a username and password (throttled); returns who signed in.
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
        client_ip: &str,
    ) -> Result<Viewer, AppError>;

    /// Re-reads a signed-in user (disabled users are signed out).
    async fn viewer(&self, user_id: i64) -> Result<Option<Viewer>, AppError>;

    async fn list_users(&self, viewer: &Viewer) -> Result<Vec<UserDto>, AppError>;
    async fn create_user(
        &self,
        viewer: &Viewer,
        username: &str,
        display_name: &str,
        role: &str,
        password: &str,
    ) -> Result<UserDto, AppError>;
    async fn set_user_disabled(
        &self,
        viewer: &Viewer,
        user_id: i64,
        disabled: bool,
    ) -> Result<(), AppError>;
    async fn reset_password(
        &self,
        viewer: &Viewer,
        user_id: i64,
        password: &str,
    ) -> Result<(), AppError>;
    /// The API tokens (admin only): name, role, scope, expiry, last use, revoked.
    async fn list_tokens(&self, viewer: &Viewer) -> Result<Vec<TokenDto>, AppError>;
    /// Revokes an active token (admin only), audited.
    async fn revoke_token(&self, viewer: &Viewer, name: &str) -> Result<(), AppError>;
}

/// The home page's overview.
#[async_trait]
pub trait HomePort: Send + Sync + 'static {
    async fn home(&self, viewer: &Viewer) -> Result<HomeDto, AppError>;
}

#[async_trait]
pub trait EnrollmentPort: Send + Sync + 'static {
    async fn list_enrollments(
        &self,
        viewer: &Viewer,
        query: &EnrollmentQuery,
    ) -> Result<Page<EnrollmentRow>, AppError>;
    async fn get_enrollment(&self, viewer: &Viewer, id: i64) -> Result<EnrollmentDetail, AppError>;

    /// Activates (`activate`) or unenrolls (`unenroll`) an enrollment; the change, its audit
    /// record and the enrollment sync message to the grid side commit together.
    async fn change_enrollment_status(
        &self,
        viewer: &Viewer,
        enrollment_id: i64,
        action: &str,
        reason: &str,
    ) -> Result<String, AppError>;

    /// Replaces a device of an enrollment: the old one leaves, the new one (by head-end and
    /// NIC id; created when unknown) joins; history kept; the grid is told (flow 2, REPLACE).
    async fn replace_device(
        &self,
        viewer: &Viewer,
        enrollment_id: i64,
        input: &ReplacementInput,
    ) -> Result<String, AppError>;
}

#[async_trait]
pub trait DevicePort: Send + Sync + 'static {
    async fn list_devices(
        &self,
        viewer: &Viewer,
        query: &DeviceQuery,
    ) -> Result<Page<DeviceRow>, AppError>;
    async fn get_device(&self, viewer: &Viewer, id: i64) -> Result<DeviceDetail, AppError>;

    /// Records an unavailability window (local times, `YYYY-MM-DD HH:MM`) and tells the grid.
    async fn add_unavailability(
        &self,
        viewer: &Viewer,
        device_id: i64,
        starts_at: &str,
        ends_at: &str,
        reason: &str,
    ) -> Result<(), AppError>;
    /// Cancels a window; returns its device.
    async fn cancel_unavailability(&self, viewer: &Viewer, window_id: i64)
        -> Result<i64, AppError>;
    /// Asks the grid side whether a device is online (flow 3).
    async fn check_device(&self, viewer: &Viewer, device_id: i64) -> Result<(), AppError>;
    /// Opts a device out of one upcoming event stage (before the program's cut-off).
    async fn opt_out(&self, viewer: &Viewer, stage: &str, device_id: i64) -> Result<(), AppError>;
}

/// Programs, their rules and the control scores.
#[async_trait]
pub trait ProgramPort: Send + Sync + 'static {
    async fn list_programs(&self, viewer: &Viewer) -> Result<Vec<ProgramSummary>, AppError>;
    async fn get_program(&self, viewer: &Viewer, id: i64) -> Result<ProgramDetail, AppError>;
    /// The programs, substations and feeders the list pages filter by.
    async fn filter_options(&self, viewer: &Viewer) -> Result<FilterOptions, AppError>;
    /// Adds (or changes, for a date not yet in force) a program rule; synced to the grid.
    async fn save_rule(
        &self,
        viewer: &Viewer,
        program_id: i64,
        rule: &RuleInput,
    ) -> Result<String, AppError>;
    /// Runs the control-score calculation now; returns a summary.
    async fn run_scores(&self, viewer: &Viewer) -> Result<String, AppError>;
    /// Moves a program to another status (draft → active ⇄ suspended, any → closed, which
    /// is final); the grid side links or unlinks its rules (flow 9). A reason is required
    /// unless it becomes active. Returns a summary.
    async fn set_program_status(
        &self,
        viewer: &Viewer,
        program_id: i64,
        status: &str,
        reason: Option<&str>,
    ) -> Result<String, AppError>;
}

#[async_trait]
pub trait NetworkPort: Send + Sync + 'static {
    async fn network(&self, viewer: &Viewer, query: &NetworkQuery)
        -> Result<NetworkView, AppError>;
    /// Exports the grid's network model to the program side (flow 11); returns a summary.
    async fn export_network(&self, viewer: &Viewer) -> Result<String, AppError>;
}

/// Devices in active enrollments at one network node and their nominal kW, the node named
/// by its code (the two sides share codes, never ids).
#[derive(Debug, Clone, PartialEq)]
pub struct EnrolledAt {
    pub code: String,
    pub devices: i64,
    pub kw: f64,
}

/// What the network page shows of the program side: its enrolment per node, beside the
/// grid's own model and service points. Implemented by the program side, handed to the
/// network service at start-up, so neither side's code names the other.
#[async_trait]
pub trait EnrolledFiguresPort: Send + Sync + 'static {
    /// Per feeder.
    async fn enrolled_by_feeder(&self) -> Result<Vec<EnrolledAt>, AppError>;
    /// Per transformer under the feeder with this code.
    async fn enrolled_by_transformer(&self, feeder_code: &str)
        -> Result<Vec<EnrolledAt>, AppError>;
}

#[async_trait]
pub trait AggregatorPort: Send + Sync + 'static {
    async fn list_aggregators(&self, viewer: &Viewer) -> Result<Vec<AggregatorDto>, AppError>;
    /// Adds (blank id) or edits an aggregator; synced to the grid (flow 10). Returns a summary.
    async fn save_aggregator(
        &self,
        viewer: &Viewer,
        input: &AggregatorInput,
    ) -> Result<String, AppError>;
}

#[async_trait]
pub trait MeterDataPort: Send + Sync + 'static {
    /// Recent meter data imports and the report of `selected` (program manager, admin).
    async fn meter_imports(
        &self,
        viewer: &Viewer,
        selected: Option<i64>,
    ) -> Result<MeterImportView, AppError>;
    /// Imports a pasted meter data file (`format` csv or espi); returns the import id and
    /// its summary. Validated whole, stored once, audited.
    async fn import_meter_data(
        &self,
        viewer: &Viewer,
        file_name: &str,
        format: &str,
        service_point: &str,
        content: &str,
    ) -> Result<(i64, String), AppError>;
}

/// The load forecast, the temperature forecast behind it and the expected-reduction table.
#[async_trait]
pub trait ForecastPort: Send + Sync + 'static {
    /// The forecast page for a zone (grid operator, admin; auditor reads).
    async fn forecast(
        &self,
        viewer: &Viewer,
        query: &ForecastQuery,
    ) -> Result<ForecastView, AppError>;
    /// Replaces the temperature forecast for the hours of a `timestamp,temperature_c` CSV
    /// (grid operator, admin); all or nothing, audited. Returns a summary.
    async fn upload_weather(&self, viewer: &Viewer, csv: &str) -> Result<String, AppError>;
    /// The expected-reduction table (grid operator and admin edit; auditor and program
    /// manager read).
    async fn reductions(&self, viewer: &Viewer) -> Result<ReductionTableView, AppError>;
    /// Adds (empty id) or changes a reduction row; validated and audited.
    async fn save_reduction(
        &self,
        viewer: &Viewer,
        input: &ReductionInput,
    ) -> Result<String, AppError>;
    async fn delete_reduction(&self, viewer: &Viewer, id: i64) -> Result<(), AppError>;
}

/// The integration monitor and the value maps that translate codes between the sides.
#[async_trait]
pub trait MonitorPort: Send + Sync + 'static {
    async fn monitor(&self, viewer: &Viewer, query: &MessageQuery)
        -> Result<MonitorView, AppError>;
    async fn get_message(&self, viewer: &Viewer, id: i64) -> Result<MessageDetail, AppError>;
    async fn resubmit_message(&self, viewer: &Viewer, id: i64) -> Result<(), AppError>;

    async fn list_value_maps(&self, viewer: &Viewer) -> Result<Vec<ValueMapEntry>, AppError>;
    async fn put_value_map(
        &self,
        viewer: &Viewer,
        map: &str,
        source: &str,
        target: &str,
    ) -> Result<(), AppError>;
    async fn delete_value_map(&self, viewer: &Viewer, id: i64) -> Result<(), AppError>;
}

/// The utility's holiday calendar (never baseline days), edited by admins.
#[async_trait]
pub trait HolidayPort: Send + Sync + 'static {
    async fn list_holidays(&self, viewer: &Viewer) -> Result<Vec<HolidayEntry>, AppError>;
    /// Adds a holiday or renames the one on that date (`YYYY-MM-DD`); audited.
    async fn put_holiday(&self, viewer: &Viewer, day: &str, name: &str) -> Result<(), AppError>;
    /// Removes the holiday on `day`; audited.
    async fn delete_holiday(&self, viewer: &Viewer, day: &str) -> Result<(), AppError>;
}

#[async_trait]
pub trait AuditPort: Send + Sync + 'static {
    async fn list_audit(
        &self,
        viewer: &Viewer,
        query: &AuditQuery,
    ) -> Result<Page<AuditEntryDto>, AppError>;
}

pub type Users = Arc<dyn UserPort>;
pub type Overview = Arc<dyn HomePort>;
pub type Enrollments = Arc<dyn EnrollmentPort>;
pub type Devices = Arc<dyn DevicePort>;
pub type Programs = Arc<dyn ProgramPort>;
pub type NetworkModel = Arc<dyn NetworkPort>;
pub type Aggregators = Arc<dyn AggregatorPort>;
pub type MeterData = Arc<dyn MeterDataPort>;
pub type Forecasts = Arc<dyn ForecastPort>;
pub type Integration = Arc<dyn MonitorPort>;
pub type Audit = Arc<dyn AuditPort>;
pub type Holidays = Arc<dyn HolidayPort>;
