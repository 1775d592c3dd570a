//! The values the console exchanges with the server: roles, the signed-in viewer, DTOs.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// What a person may do. Stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    ProgramManager,
    Operator,
    Approver,
    Auditor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::ProgramManager,
        Role::Operator,
        Role::Approver,
        Role::Auditor,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::ProgramManager => "program_manager",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::ProgramManager => "Program manager",
            Role::Operator => "Grid operator",
            Role::Approver => "Approver",
            Role::Auditor => "Auditor",
            Role::Admin => "Administrator",
        }
    }

    /// Phone, email and street address are shown only to roles that work with customers.
    pub fn sees_personal_data(self) -> bool {
        crate::access::may(self, crate::access::Action::SeePersonalData)
    }
}

/// The signed-in person, put in the request by the server's session middleware.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
}

/// The session's anti-forgery token, put in the request by the server's session middleware.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

/// The client address as the server saw it (used for sign-in throttling).
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

/// A one-time message shown on the next page after a form post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    pub is_error: bool,
    pub message: String,
}

/// What was typed in a console form the server refused, kept for the next page so the form
/// is filled in again: the server function's path (`/fn/save_strategy`) and the fields as
/// posted, never the CSRF token or a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptForm {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

impl KeptForm {
    /// The fields worth keeping from a posted form, or `None` if none is.
    pub fn new(action: &str, posted: Vec<(String, String)>) -> Option<Self> {
        let fields: Vec<_> = posted
            .into_iter()
            .filter(|(k, _)| k != "csrf" && !k.contains("password"))
            .collect();
        (!fields.is_empty()).then(|| Self {
            action: action.to_string(),
            fields,
        })
    }

    /// What was typed in the field `name` (the first if the form repeats it).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub const SESSION_USER_ID: &str = "user_id";
pub const SESSION_KEPT_FORM: &str = "kept_form";
pub const SESSION_CSRF: &str = "csrf";
pub const SESSION_FLASH: &str = "flash";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnrollmentStatus {
    #[serde(rename = "PENDING")]
    Pending,
    #[serde(rename = "ACTIVE")]
    Active,
    #[serde(rename = "INACTIVE")]
    Inactive,
}

impl EnrollmentStatus {
    pub const ALL: [EnrollmentStatus; 3] = [
        EnrollmentStatus::Pending,
        EnrollmentStatus::Active,
        EnrollmentStatus::Inactive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EnrollmentStatus::Pending => "PENDING",
            EnrollmentStatus::Active => "ACTIVE",
            EnrollmentStatus::Inactive => "INACTIVE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceType {
    Thermostat,
    EvCharger,
    Battery,
    WaterHeater,
    PoolPump,
    SmartInverter,
}

impl DeviceType {
    pub const ALL: [DeviceType; 6] = [
        DeviceType::Thermostat,
        DeviceType::EvCharger,
        DeviceType::Battery,
        DeviceType::WaterHeater,
        DeviceType::PoolPump,
        DeviceType::SmartInverter,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeviceType::Thermostat => "thermostat",
            DeviceType::EvCharger => "ev_charger",
            DeviceType::Battery => "battery",
            DeviceType::WaterHeater => "water_heater",
            DeviceType::PoolPump => "pool_pump",
            DeviceType::SmartInverter => "smart_inverter",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DeviceType::Thermostat => "Thermostat",
            DeviceType::EvCharger => "EV charger",
            DeviceType::Battery => "Battery",
            DeviceType::WaterHeater => "Water heater",
            DeviceType::PoolPump => "Pool pump",
            DeviceType::SmartInverter => "Smart inverter",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Page<T> {
    pub rows: Vec<T>,
    /// Rows matching the filters, all pages together.
    pub total: i64,
    /// Keyset cursor for the next page (`after=`), if there is one.
    pub next_after: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentRow {
    pub id: i64,
    pub customer_name: String,
    pub account_id: String,
    pub program_id: i64,
    pub program_code: String,
    pub status: String,
    pub source: String,
    pub service_point_id: String,
    pub substation_code: String,
    pub feeder_code: String,
    pub device_count: i64,
    pub nominal_kw: f64,
    pub start_date: NaiveDate,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerDto {
    pub id: i64,
    pub person_id: String,
    pub account_id: String,
    pub name: String,
    /// Masked (`•••`) for roles that may not see personal data.
    pub phone: String,
    pub email: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeRef {
    pub id: i64,
    pub kind: String,
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocationDto {
    pub id: i64,
    pub service_point_id: String,
    pub premise_id: String,
    /// Masked for roles that may not see personal data.
    pub address: String,
    pub time_zone: String,
    /// Substation, feeder, transformer: the current network path.
    pub path: Vec<NodeRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnrolledDevice {
    pub device_id: i64,
    pub head_end: String,
    pub nic_id: String,
    pub device_type: String,
    pub registered: bool,
    pub nominal_kw: f64,
    pub joined_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusChange {
    pub from_status: Option<String>,
    pub to_status: String,
    pub changed_at: DateTime<Utc>,
    pub actor: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplacementDto {
    pub enrollment_id: i64,
    pub old_device_id: i64,
    pub old_nic_id: String,
    pub new_device_id: i64,
    pub new_nic_id: String,
    pub replaced_at: DateTime<Utc>,
    pub actor: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntryDto {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub before: Option<String>,
    pub after: Option<String>,
    /// Where the change came from (personal data): filled only for the roles that read the
    /// audit trail, absent elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_address: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentDetail {
    pub id: i64,
    pub status: String,
    pub source: String,
    pub ownership: String,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub program: ProgramRef,
    pub customer: CustomerDto,
    pub location: LocationDto,
    pub devices: Vec<EnrolledDevice>,
    pub history: Vec<StatusChange>,
    pub replacements: Vec<ReplacementDto>,
    pub audit: Vec<AuditEntryDto>,
    /// What an enrollment received in the published shape carries beyond GridFlex's own
    /// fields; only for the roles that see personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<PublishedFieldsDto>,
}

/// The published shape's fields GridFlex's own record has no place for (issue 12).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishedFieldsDto {
    pub transaction_id: String,
    pub location_id: Option<String>,
    pub division: Option<String>,
    pub county: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub premise_id: String,
    pub service_agreement_id: Option<String>,
    pub installation_method: Option<String>,
    pub business_phone: Option<String>,
    /// `sequence`, `assetId`, `headEndSystem`, `nicId` of each asset, as sent.
    pub assets: Vec<PublishedAssetDto>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishedAssetDto {
    pub sequence: Option<String>,
    pub asset_id: Option<String>,
    pub head_end_system: String,
    pub nic_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProgramRef {
    pub id: i64,
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceRow {
    pub id: i64,
    pub head_end: String,
    pub nic_id: String,
    pub device_type: String,
    pub specification: String,
    pub status: String,
    pub registered: bool,
    pub nominal_kw: f64,
    pub control_score: f64,
    pub service_point_id: String,
    pub feeder_code: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceEnrollment {
    pub enrollment_id: i64,
    pub program_code: String,
    pub program_name: String,
    pub status: String,
    pub joined_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnavailabilityDto {
    pub id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: String,
    pub status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceDetail {
    pub id: i64,
    pub head_end: String,
    pub nic_id: String,
    pub device_type: String,
    pub specification: String,
    pub serial_number: String,
    pub badge: String,
    pub status: String,
    pub registered: bool,
    pub nominal_kw: f64,
    pub control_score: f64,
    pub aggregator: Option<String>,
    pub location: LocationDto,
    pub enrollments: Vec<DeviceEnrollment>,
    pub unavailability: Vec<UnavailabilityDto>,
    pub replacements: Vec<ReplacementDto>,
    /// Event stages the device is reserved for, newest first.
    pub reservations: Vec<ReservationDto>,
    /// The last connection check: what the grid answered, or that one is on its way.
    pub connection: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReservationDto {
    pub stage: String,
    pub event: String,
    pub program_code: String,
    pub status: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub expected_kw: f64,
    pub outcome: Option<String>,
    pub opted_out_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProgramSummary {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub category: String,
    pub device_type: String,
    pub status: String,
    pub season_start: NaiveDate,
    pub season_end: NaiveDate,
    pub pending: i64,
    pub active: i64,
    pub inactive: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProgramRuleDto {
    pub id: i64,
    pub effective_from: NaiveDate,
    /// True for the rule in force today (the latest effective one).
    pub current: bool,
    pub cycle: String,
    pub week_start: i32,
    pub max_events_per_cycle: i32,
    pub max_minutes_per_cycle: i32,
    pub min_gap_minutes: i32,
    pub min_event_minutes: i32,
    pub max_event_minutes: i32,
    pub max_overrides: i32,
    pub window_start_minute: i32,
    pub window_end_minute: i32,
    pub activation_cost: f64,
    pub burn_rate_factor: f64,
    pub score_factor: f64,
    pub overridable: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProgramDetail {
    pub summary: ProgramSummary,
    pub settlement_method: String,
    pub settlement_timing: String,
    pub baseline_method: String,
    pub credit_rate: f64,
    pub opt_out_allowed: bool,
    pub opt_out_cutoff_minutes: i32,
    pub unavailability_allowed: bool,
    pub rules: Vec<ProgramRuleDto>,
    pub aggregators: Vec<String>,
}

/// One node of the network with what hangs below it, rolled up.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeRollup {
    pub node: NodeRef,
    pub service_points: i64,
    /// Devices in an active enrollment.
    pub enrolled_devices: i64,
    pub enrolled_kw: f64,
    #[schema(no_recursion)]
    pub children: Vec<NodeRollup>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkView {
    pub substations: Vec<NodeRollup>,
    /// The feeder asked for with `?feeder=`, with its transformers as children.
    pub feeder: Option<NodeRollup>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FeederOption {
    pub id: i64,
    pub code: String,
    pub substation_id: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FilterOptions {
    pub programs: Vec<ProgramRef>,
    pub substations: Vec<NodeRef>,
    pub feeders: Vec<FeederOption>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatusCount {
    pub program_code: String,
    pub status: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HomeDto {
    pub customers: i64,
    pub devices: i64,
    pub enrollments: i64,
    /// None while the network roll-up is first being computed.
    pub enrolled_kw: Option<f64>,
    pub by_program: Vec<StatusCount>,
    pub recent_audit: Vec<AuditEntryDto>,
    pub users: i64,
    pub backend: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserDto {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub disabled: bool,
    pub locked: bool,
    pub created_at: DateTime<Utc>,
}

/// An API token as the admin sees it on the Users page (never its value).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenDto {
    pub name: String,
    /// The role it acts with (`integration` for integration clients).
    pub role: String,
    /// The side an integration token speaks for (`programs` or `grid`).
    pub scope: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
    pub expired: bool,
}

/// A row of the integration monitor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageDto {
    pub id: i64,
    pub message_id: String,
    pub direction: String,
    pub flow: String,
    pub correlation_id: Option<String>,
    pub sender: String,
    pub recipient: String,
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AttemptDto {
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub latency_ms: i64,
    pub outcome: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageDetail {
    pub message: MessageDto,
    /// Pretty-printed JSON; personal data masked for roles that may not see it.
    pub payload: String,
    pub result: Option<String>,
    pub attempts: Vec<AttemptDto>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FlowCount {
    pub flow: String,
    pub direction: String,
    pub status: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MonitorView {
    pub counts: Vec<FlowCount>,
    pub p50_ms: Option<i64>,
    pub p95_ms: Option<i64>,
    pub p99_ms: Option<i64>,
    pub messages: Vec<MessageDto>,
    pub next_before: Option<i64>,
    pub flows: Vec<String>,
    /// Messages per flow (or, with a flow chosen, per status) over time: an SVG drawn by
    /// the server.
    pub chart_svg: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ValueMapEntry {
    pub id: i64,
    pub map: String,
    pub source_value: String,
    pub target_value: String,
    pub updated_at: DateTime<Utc>,
}

/// A holiday of the utility's calendar: a local date that is never a baseline day.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HolidayEntry {
    pub day: chrono::NaiveDate,
    pub name: String,
    pub updated_at: DateTime<Utc>,
}

/// A program rule as typed in the console (parsed and checked by the server).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RuleInput {
    pub effective_from: String,
    pub cycle: String,
    pub week_start: String,
    pub max_events_per_cycle: String,
    pub max_minutes_per_cycle: String,
    pub min_gap_minutes: String,
    pub min_event_minutes: String,
    pub max_event_minutes: String,
    pub max_overrides: String,
    pub window_start: String,
    pub window_end: String,
    pub activation_cost: String,
    pub burn_rate_factor: String,
    pub score_factor: String,
    #[serde(default)]
    pub overridable: Option<String>,
}

/// A network node offered by the forecast page's zone picker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ZoneOption {
    pub id: i64,
    pub kind: String,
    pub code: String,
    pub parent_id: Option<i64>,
    pub selected: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ForecastInterval {
    pub start: DateTime<Utc>,
    pub baseline_kw: f64,
    pub temperature_c: Option<f64>,
}

/// Per node: registered grid devices, their nominal kW, the forecast peak of the next 48 h.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GridRollupRow {
    pub id: i64,
    pub kind: String,
    pub code: String,
    pub parent_id: Option<i64>,
    /// Grid devices registered below the node (the grid's own count).
    pub registered_devices: i64,
    /// The node's enrolled load, as the network page shows it.
    pub enrolled_devices: i64,
    pub enrolled_kw: f64,
    pub forecast_peak_kw: Option<f64>,
}

/// The forecast page: the zone picker, the zone's 48-hour baseline (chart and table) and the
/// network roll-up.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ForecastView {
    /// Substations and feeders.
    pub options: Vec<ZoneOption>,
    /// Transformers of the selected feeders (and the selected transformers), at most 200.
    pub transformers: Vec<ZoneOption>,
    pub selected: Vec<ZoneOption>,
    /// The chart as an SVG document, drawn on the server.
    pub chart_svg: Option<String>,
    pub intervals: Vec<ForecastInterval>,
    pub peak_kw: Option<f64>,
    /// Why there is no forecast for the zone (e.g. a feeder without load history).
    pub error: Option<String>,
    /// Substations, feeders, and the transformers listed above.
    pub rollup: Vec<GridRollupRow>,
    pub rollup_ms: u64,
    /// Hours of the horizon with a forecast temperature.
    pub forecast_hours: usize,
    /// The viewer may upload a temperature forecast.
    pub may_upload: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReductionRowDto {
    pub id: i64,
    pub device_type: String,
    pub hour_from: i32,
    pub hour_to: i32,
    pub temp_from_c: f64,
    pub temp_to_c: f64,
    pub share: f64,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReductionTableView {
    pub rows: Vec<ReductionRowDto>,
    pub device_types: Vec<String>,
    pub may_edit: bool,
}

/// A reduction-table row as typed in the console (parsed and checked by the server); an
/// empty `id` adds a row.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ReductionInput {
    #[serde(default)]
    pub id: String,
    pub device_type: String,
    pub hour_from: String,
    pub hour_to: String,
    pub temp_from_c: String,
    pub temp_to_c: String,
    pub share: String,
}

/// A device replacement as typed in the console (parsed and checked
/// by the server). Blank optional fields take the old device's values.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ReplacementInput {
    /// The device (id) that leaves the enrollment.
    pub old_device_id: String,
    /// Head-end system of the new device, e.g. `ECOBEE`.
    pub new_head_end: String,
    /// NIC id of the new device; a device not known yet is created at the same location.
    pub new_nic_id: String,
    /// Nominal controllable kW of the new device; blank: the old device's.
    #[serde(default)]
    pub new_nominal_kw: String,
    /// Specification of the new device; blank: the old device's.
    #[serde(default)]
    pub new_specification: String,
    /// Why (kept in the replacement history), 1 to 500 characters.
    pub reason: String,
}

/// An aggregator as the program side keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AggregatorDto {
    pub id: i64,
    pub name: String,
    pub status: String,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub contact_name: String,
    /// Masked for roles that may not see personal data.
    pub contact_email: String,
    pub external_ref: String,
    pub program_codes: Vec<String>,
}

/// An aggregator as typed in the console (the REST API's body converts into it). `id`
/// blank: a new one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct AggregatorInput {
    #[serde(default)]
    pub id: String,
    pub name: String,
    /// `active` or `inactive`.
    pub status: String,
    /// `YYYY-MM-DD`.
    pub start_date: String,
    /// `YYYY-MM-DD`, or blank for open-ended.
    #[serde(default)]
    pub end_date: String,
    pub contact_name: String,
    pub contact_email: String,
    /// The aggregator's stable id across both sides; fixed once created.
    pub external_ref: String,
    /// Program codes offered, separated by commas or spaces.
    #[serde(default)]
    pub program_codes: String,
}

/// One imported meter data file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MeterImportRow {
    pub id: i64,
    pub file_name: String,
    pub format: String,
    pub imported_by: String,
    pub imported_at: DateTime<Utc>,
    pub rows_accepted: i64,
    pub rows_rejected: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MeterRejectionDto {
    pub line: i64,
    pub reason: String,
}

/// The report of one import: its summary, rejected rows by line and the gaps found.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MeterImportDetail {
    pub id: i64,
    pub file_name: String,
    pub message: String,
    pub rejections: Vec<MeterRejectionDto>,
    pub gaps: Vec<String>,
}

/// The meter data page: recent imports and, when one is chosen, its report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MeterImportView {
    pub imports: Vec<MeterImportRow>,
    pub selected: Option<MeterImportDetail>,
}
