//! The port the console needs from the server: implemented by the server, provided to pages
//! and server functions as context. Every method checks the viewer's role itself.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::*;
use crate::query::*;

#[async_trait]
pub trait ConsolePort: Send + Sync + 'static {
    /// Checks a username and password (throttled); returns who signed in.
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
        client_ip: &str,
    ) -> Result<Viewer, AppError>;

    /// Re-reads a signed-in user (disabled users are signed out).
    async fn viewer(&self, user_id: i64) -> Result<Option<Viewer>, AppError>;

    async fn home(&self, viewer: &Viewer) -> Result<HomeDto, AppError>;
    async fn filter_options(&self, viewer: &Viewer) -> Result<FilterOptions, AppError>;
    async fn list_enrollments(
        &self,
        viewer: &Viewer,
        query: &EnrollmentQuery,
    ) -> Result<Page<EnrollmentRow>, AppError>;
    async fn get_enrollment(&self, viewer: &Viewer, id: i64) -> Result<EnrollmentDetail, AppError>;
    async fn list_devices(
        &self,
        viewer: &Viewer,
        query: &DeviceQuery,
    ) -> Result<Page<DeviceRow>, AppError>;
    async fn get_device(&self, viewer: &Viewer, id: i64) -> Result<DeviceDetail, AppError>;
    async fn list_programs(&self, viewer: &Viewer) -> Result<Vec<ProgramSummary>, AppError>;
    async fn get_program(&self, viewer: &Viewer, id: i64) -> Result<ProgramDetail, AppError>;
    async fn network(&self, viewer: &Viewer, query: &NetworkQuery)
        -> Result<NetworkView, AppError>;
    async fn list_audit(
        &self,
        viewer: &Viewer,
        query: &AuditQuery,
    ) -> Result<Page<AuditEntryDto>, AppError>;

    /// Activates (`activate`) or unenrolls (`unenroll`) an enrollment; the change, its audit
    /// record and the enrollment sync message to the grid side commit together.
    async fn change_enrollment_status(
        &self,
        viewer: &Viewer,
        enrollment_id: i64,
        action: &str,
        reason: &str,
    ) -> Result<String, AppError>;

    /// Records an unavailability window (times as `YYYY-MM-DDTHH:MM`, UTC) and tells the grid.
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
    /// Adds (or changes, for a date not yet in force) a program rule; synced to the grid.
    async fn save_rule(
        &self,
        viewer: &Viewer,
        program_id: i64,
        rule: &RuleInput,
    ) -> Result<String, AppError>;
    /// Exports the grid's network model to the program side (flow 11); returns a summary.
    async fn export_network(&self, viewer: &Viewer) -> Result<String, AppError>;
    /// Replaces a device of an enrollment: the old one leaves, the new one (by head-end and
    /// NIC id; created when unknown) joins; history kept; the grid is told (flow 2, REPLACE).
    async fn replace_device(
        &self,
        viewer: &Viewer,
        enrollment_id: i64,
        input: &ReplacementInput,
    ) -> Result<String, AppError>;
    async fn list_aggregators(&self, viewer: &Viewer) -> Result<Vec<AggregatorDto>, AppError>;
    /// Adds (blank id) or edits an aggregator; synced to the grid (flow 10). Returns a summary.
    async fn save_aggregator(
        &self,
        viewer: &Viewer,
        input: &AggregatorInput,
    ) -> Result<String, AppError>;
    /// Runs the control-score calculation now; returns a summary.
    async fn run_scores(&self, viewer: &Viewer) -> Result<String, AppError>;

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
}

pub type Console = Arc<dyn ConsolePort>;
