//! Wire types of the twelve CPM ↔ DERMS integration flows, and the parse layer that checks them record by record.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::Hash;

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest identifier (record, person, account, program, service point, device, …) accepted.
pub const MAX_ID_CHARS: usize = 64;
/// Longest envelope `messageId` accepted.
pub const MAX_MESSAGE_ID_CHARS: usize = 128;
/// Longest free text (names, street, city, specification) accepted.
pub const MAX_TEXT_CHARS: usize = 200;
/// Longest reason (cancellation, unavailability, registration failure) accepted.
pub const MAX_REASON_CHARS: usize = 500;
/// Largest controllable or expected kW of one device; anything above is a unit mistake (W, MW).
pub const MAX_DEVICE_KW: f64 = 1000.0;
/// Header of the event device reservation CSV attachment (flow 5).
pub const RESERVATION_CSV_HEADER: [&str; 4] =
    ["headEndSystem", "nicId", "enrollmentId", "expectedKw"];
/// Fields of one line of the event device outcome flat file (flow 6), in order.
pub const OUTCOME_FLAT_FILE_FIELDS: [&str; 5] = [
    "headEndSystem",
    "nicId",
    "outcome",
    "participationStart",
    "participationEnd",
];
/// A file import lists at most this many row errors, then says how many more there were.
const MAX_ROW_ERRORS: usize = 100;

// ---------------------------------------------------------------------------------------------
// Flows and codes
// ---------------------------------------------------------------------------------------------

/// Which side sends a flow's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// DERMS (event operations) → CPM (program management).
    GridToPrograms,
    /// CPM (program management) → DERMS (event operations).
    ProgramsToGrid,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::GridToPrograms => "grid_to_programs",
            Direction::ProgramsToGrid => "programs_to_grid",
        }
    }
}

/// The twelve integration flows, numbered as in DOMAIN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    EnrollmentRequest,
    EnrollmentSync,
    DeviceStatusCheck,
    StageStatus,
    DeviceReservation,
    DeviceOutcome,
    CustomerOptOut,
    CustomerUnavailability,
    ProgramRuleSync,
    AggregatorSync,
    NetworkLocationTransfer,
    DeviceScore,
}

impl Flow {
    /// Every flow, in DOMAIN.md order (flow 1 first).
    pub const ALL: [Flow; 12] = [
        Flow::EnrollmentRequest,
        Flow::EnrollmentSync,
        Flow::DeviceStatusCheck,
        Flow::StageStatus,
        Flow::DeviceReservation,
        Flow::DeviceOutcome,
        Flow::CustomerOptOut,
        Flow::CustomerUnavailability,
        Flow::ProgramRuleSync,
        Flow::AggregatorSync,
        Flow::NetworkLocationTransfer,
        Flow::DeviceScore,
    ];

    /// The code used in envelopes, the message store and the integration monitor.
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::EnrollmentRequest => "enrollment_request",
            Flow::EnrollmentSync => "enrollment_sync",
            Flow::DeviceStatusCheck => "device_status_check",
            Flow::StageStatus => "stage_status",
            Flow::DeviceReservation => "device_reservation",
            Flow::DeviceOutcome => "device_outcome",
            Flow::CustomerOptOut => "customer_opt_out",
            Flow::CustomerUnavailability => "customer_unavailability",
            Flow::ProgramRuleSync => "program_rule_sync",
            Flow::AggregatorSync => "aggregator_sync",
            Flow::NetworkLocationTransfer => "network_location_transfer",
            Flow::DeviceScore => "device_score",
        }
    }

    pub fn parse(code: &str) -> Option<Flow> {
        Flow::ALL.into_iter().find(|flow| flow.as_str() == code)
    }

    /// Who sends the flow's message (the acknowledgements of flows 1–3 travel back).
    pub fn direction(self) -> Direction {
        // Exhaustive on purpose: a new flow must decide its direction.
        match self {
            Flow::EnrollmentRequest
            | Flow::StageStatus
            | Flow::DeviceReservation
            | Flow::DeviceOutcome
            | Flow::NetworkLocationTransfer => Direction::GridToPrograms,
            Flow::EnrollmentSync
            | Flow::DeviceStatusCheck
            | Flow::CustomerOptOut
            | Flow::CustomerUnavailability
            | Flow::ProgramRuleSync
            | Flow::AggregatorSync
            | Flow::DeviceScore => Direction::ProgramsToGrid,
        }
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A closed set of wire codes: serde renames to the exact wire strings, `as_str`, `parse`, `ALL`.
macro_rules! wire_code {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $code)] $variant, )+
        }

        impl $name {
            /// Every code, in wire order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The code as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)+
                }
            }

            /// The value of a wire code; `None` for an unknown one.
            pub fn parse(code: &str) -> Option<Self> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// Every code, comma-separated, for error messages.
            pub fn codes() -> String {
                Self::ALL.iter().map(|code| code.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_code! {
    /// How the customer came to the program (flow 1).
    pub enum EnrollmentSource {
        BringYourOwn = "X1BY",
        ContactCentre = "X1CC",
        SelfService = "X1SS",
    }
}

wire_code! {
    /// Who owns the enrolled equipment (flow 1).
    pub enum Ownership {
        Owned = "owned",
        Leased = "leased",
        Utility = "utility",
    }
}

wire_code! {
    /// Kind of controllable device.
    pub enum DeviceType {
        Thermostat = "thermostat",
        EvCharger = "ev_charger",
        Battery = "battery",
        WaterHeater = "water_heater",
        PoolPump = "pool_pump",
        SmartInverter = "smart_inverter",
    }
}

wire_code! {
    /// What became of one record of an enrollment request (flow 1 acknowledgement).
    pub enum RecordStatus {
        Created = "CREATED",
        /// The same enrollment was already there: a resend, not an error.
        AlreadyExists = "ALREADY_EXISTS",
        Rejected = "REJECTED",
    }
}

wire_code! {
    /// What an enrollment sync asks the grid side to do (flow 2).
    pub enum SyncAction {
        Enroll = "ENROLL",
        Unenroll = "UNENROLL",
        ReplaceDevice = "REPLACE_DEVICE",
    }
}

wire_code! {
    /// Head-end registration of one device (flow 2 acknowledgement).
    pub enum RegistrationStatus {
        Registered = "REGISTERED",
        NotRegistered = "NOT_REGISTERED",
    }
}

wire_code! {
    /// Whether the head-end can reach a device (flow 3 acknowledgement).
    pub enum ConnectionStatus {
        Online = "ONLINE",
        Offline = "OFFLINE",
        Unknown = "UNKNOWN",
    }
}

wire_code! {
    /// Category of a program event on the program side (flow 4).
    pub enum EventCategory {
        DeviceTest = "X1DT",
        Economic = "X1EC",
        Emergency = "X1EM",
        Reliability = "X1RE",
    }
}

wire_code! {
    /// Program-event lifecycle step reported by the grid side (flow 4).
    pub enum LifecycleAction {
        Scheduled = "X1SD",
        InProgress = "X1IP",
        Complete = "F1CO",
        /// Needs a reason.
        Cancel = "F1CN",
    }
}

wire_code! {
    /// What a device did during an event (flow 6).
    pub enum OutcomeCode {
        /// Needs the participation window.
        Participated = "D1SP",
        NonResponsive = "D1ND",
        InFlightOverride = "D1IO",
        Error = "D1ER",
        Cancelled = "D1CN",
    }
}

wire_code! {
    /// Change to an unavailability window (flow 8).
    pub enum UnavailabilityAction {
        Add = "ADD",
        Change = "CHANGE",
        Cancel = "CANCEL",
    }
}

wire_code! {
    /// Change to a program's rule (flow 9).
    pub enum RuleAction {
        Link = "LINK",
        Unlink = "UNLINK",
        Change = "CHANGE",
    }
}

wire_code! {
    /// Length of a program rule's participation cycle (flow 9).
    pub enum RuleCycle {
        Weekly = "weekly",
        Monthly = "monthly",
    }
}

wire_code! {
    /// Aggregator status (flow 10).
    pub enum AggregatorStatus {
        Active = "active",
        Inactive = "inactive",
    }
}

wire_code! {
    /// Level of a network node (flow 11).
    pub enum NodeKind {
        Substation = "substation",
        Feeder = "feeder",
        Transformer = "transformer",
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// One record (or one single-record message) is invalid; the rest of its batch is unaffected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// The record's own id (`recordId`, or a message's `transactionId` / `externalIdentifier`)
    /// when it could be read.
    pub record_id: Option<String>,
    /// Position of the record in its batch; 0 for a single message.
    pub index: usize,
    /// Path of the offending field in public wire names, e.g. `assetInfo.assetList[0].nicId`.
    pub field: String,
    /// What is wrong, phrased to follow the field name: "must not be empty".
    pub message: String,
}

impl RecordError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        RecordError {
            record_id: None,
            index: 0,
            field: field.into(),
            message: message.into(),
        }
    }

    /// Places the error in a batch.
    pub fn in_record(mut self, index: usize, record_id: Option<String>) -> Self {
        self.index = index;
        self.record_id = record_id;
        self
    }

    /// Names the message the error belongs to, unless it is already named.
    fn identify(mut self, id: &str) -> Self {
        let id = id.trim();
        if self.record_id.is_none() && !id.is_empty() {
            self.record_id = Some(id.to_owned());
        }
        self
    }

    /// Re-roots the field path under `prefix` (a message nested in an envelope).
    fn under(mut self, prefix: &str) -> Self {
        self.field = join(prefix, &self.field);
        self
    }

    pub fn to_wire(&self) -> RecordErrorWire {
        RecordErrorWire {
            field: self.field.clone(),
            message: self.message.clone(),
        }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.record_id {
            Some(id) => write!(f, "record `{id}`: ")?,
            None => write!(f, "record #{}: ", self.index)?,
        }
        write!(f, "{} {}", self.field, self.message)
    }
}

impl std::error::Error for RecordError {}

/// The request as a whole cannot be processed; no record was looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the body must be a JSON object")]
    NotAnObject,
    #[error("transactionId is required and must be a non-empty string")]
    MissingTransactionId,
    #[error("transactionId {0}")]
    InvalidTransactionId(String),
    #[error("records must be an array of enrollment records")]
    RecordsNotArray,
    #[error("the batch has {count} records but at most {max} are accepted per request; split it")]
    TooManyRecords { count: usize, max: usize },
}

impl RequestError {
    fn malformed(err: serde_json::Error) -> Self {
        RequestError::MalformedJson(err.to_string())
    }
}

/// Why a single (non-batch) message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Invalid(#[from] RecordError),
}

/// A broken row of a CSV or flat-file attachment. `line` is 1-based; 0 means the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct CsvRowError {
    pub line: u64,
    pub message: String,
}

// ---------------------------------------------------------------------------------------------
// Envelope and decoding
// ---------------------------------------------------------------------------------------------

/// Every message travels in an envelope; `messageId` makes redelivery idempotent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    pub message_id: String,
    /// A [`Flow`] code; kept as text so an unknown flow is reported, not a parse failure.
    pub flow: String,
    /// For an acknowledgement: the `messageId` it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    pub sent_at: DateTime<Utc>,
    pub payload: T,
}

impl<T> Envelope<T> {
    pub fn new(
        flow: Flow,
        message_id: impl Into<String>,
        sent_at: DateTime<Utc>,
        payload: T,
    ) -> Self {
        Envelope {
            message_id: message_id.into(),
            flow: flow.as_str().to_owned(),
            correlation_id: None,
            sent_at,
            payload,
        }
    }

    pub fn answering(mut self, message_id: impl Into<String>) -> Self {
        self.correlation_id = Some(message_id.into());
        self
    }

    pub fn flow(&self) -> Option<Flow> {
        Flow::parse(&self.flow)
    }

    /// Checks the envelope's own fields (not the payload) and returns its flow.
    pub fn check_header(&self) -> Result<Flow, RecordError> {
        check_text("messageId", &self.message_id, MAX_MESSAGE_ID_CHARS)?;
        if let Some(correlation_id) = &self.correlation_id {
            check_text("correlationId", correlation_id, MAX_MESSAGE_ID_CHARS)?;
        }
        self.flow().ok_or_else(|| {
            let known: Vec<&str> = Flow::ALL.iter().map(|flow| flow.as_str()).collect();
            RecordError::new(
                "flow",
                format!(
                    "has unknown flow `{}`, expected one of {}",
                    self.flow,
                    known.join(", ")
                ),
            )
            .identify(&self.message_id)
        })
    }
}

/// The business rules of a message, checked once at the boundary.
pub trait Validate {
    fn validate(&self) -> Result<(), RecordError>;
}

impl<T: Validate> Validate for Envelope<T> {
    fn validate(&self) -> Result<(), RecordError> {
        self.check_header()?;
        self.payload.validate().map_err(|err| err.under("payload"))
    }
}

/// Parses and validates a single (non-batch) message; errors name the field by its wire path.
pub fn decode<T: DeserializeOwned + Validate>(body: &[u8]) -> Result<T, MessageError> {
    let value: Value = serde_json::from_slice(body).map_err(RequestError::malformed)?;
    decode_value(&value)
}

/// [`decode`] for a body that is already JSON.
pub fn decode_value<T: DeserializeOwned + Validate>(value: &Value) -> Result<T, MessageError> {
    if !value.is_object() {
        return Err(RequestError::NotAnObject.into());
    }
    let message: T = from_json(value, "body").map_err(|err| err.identify(message_hint(value)))?;
    message.validate()?;
    Ok(message)
}

/// [`decode`] for an enveloped message that must belong to `expected`.
pub fn decode_envelope<T: DeserializeOwned + Validate>(
    body: &[u8],
    expected: Flow,
) -> Result<Envelope<T>, MessageError> {
    let envelope: Envelope<T> = decode(body)?;
    if envelope.flow != expected.as_str() {
        return Err(RecordError::new(
            "flow",
            format!(
                "is `{}` but this endpoint takes `{}`",
                envelope.flow, expected
            ),
        )
        .identify(&envelope.message_id)
        .into());
    }
    Ok(envelope)
}

/// The id a person would use to find a message that could not even be parsed.
fn message_hint(value: &Value) -> &str {
    ["transactionId", "externalIdentifier", "messageId"]
        .into_iter()
        .find_map(|key| value.get(key).and_then(Value::as_str))
        .unwrap_or_default()
}

/// Deserializes `value`, turning serde's message into a field path and an actionable message.
fn from_json<T: DeserializeOwned>(value: &Value, root: &str) -> Result<T, RecordError> {
    located::from_value(value).map_err(|(path, message)| {
        if let Some(name) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            return RecordError::new(join(&path, name), "is required");
        }
        let field = if path.is_empty() {
            root.to_owned()
        } else {
            path
        };
        let message = match message.strip_prefix("unknown variant ") {
            Some(rest) => format!("has unknown code {rest}"),
            None => format!("is not valid: {message}"),
        };
        RecordError::new(field, message)
    })
}

/// A `serde::Deserializer` over `serde_json::Value` that remembers where it is, so a type or code
/// error deep inside a message names its field (`records[3].assetInfo.assetList[0].nominalKw`).
mod located {
    use std::fmt;

    use serde::de::{
        self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor,
    };
    use serde_json::Value;

    #[derive(Debug)]
    pub(super) struct Error {
        path: Option<String>,
        message: String,
    }

    impl Error {
        /// Pins an error raised while reading `value` to its path, unless a deeper node already did.
        fn at(mut self, path: &str, value: &Value) -> Self {
            if self.path.is_none() {
                if let Value::String(text) = value {
                    // chrono's parse errors do not repeat the input; a person needs to see it.
                    if !self.message.contains(text.as_str()) {
                        self.message = format!("{} (got `{text}`)", self.message);
                    }
                }
                self.path = Some(path.to_owned());
            }
            self
        }
    }

    impl fmt::Display for Error {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.message)
        }
    }

    impl std::error::Error for Error {}

    impl de::Error for Error {
        fn custom<T: fmt::Display>(msg: T) -> Self {
            Error {
                path: None,
                message: msg.to_string(),
            }
        }
    }

    /// Returns `(path, message)` on failure; the path is empty for the root.
    pub(super) fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, (String, String)> {
        T::deserialize(Node {
            value,
            path: String::new(),
        })
        .map_err(|err| {
            let err = err.at("", value);
            (err.path.unwrap_or_default(), err.message)
        })
    }

    struct Node<'a> {
        value: &'a Value,
        path: String,
    }

    impl<'de> de::Deserializer<'de> for Node<'_> {
        type Error = Error;

        fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let Node { value, path } = self;
            match value {
                Value::Null => visitor.visit_unit(),
                Value::Bool(b) => visitor.visit_bool(*b),
                Value::Number(n) => {
                    if let Some(u) = n.as_u64() {
                        visitor.visit_u64(u)
                    } else if let Some(i) = n.as_i64() {
                        visitor.visit_i64(i)
                    } else if let Some(f) = n.as_f64() {
                        visitor.visit_f64(f)
                    } else {
                        Err(de::Error::custom(format!("number {n} is out of range")))
                    }
                }
                Value::String(s) => visitor.visit_str(s),
                Value::Array(items) => visitor.visit_seq(Elements {
                    items: items.iter().enumerate(),
                    path: &path,
                }),
                Value::Object(map) => visitor.visit_map(Entries {
                    entries: map.iter(),
                    pending: None,
                    path: &path,
                }),
            }
        }

        fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.value {
                Value::Null => visitor.visit_none(),
                _ => visitor.visit_some(self),
            }
        }

        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _name: &'static str,
            _variants: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, Error> {
            match self.value {
                Value::String(code) => {
                    visitor.visit_enum(IntoDeserializer::<Error>::into_deserializer(code.as_str()))
                }
                _ => self.deserialize_any(visitor),
            }
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            visitor: V,
        ) -> Result<V::Value, Error> {
            visitor.visit_newtype_struct(self)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
            identifier ignored_any
        }
    }

    struct Elements<'a, 'p> {
        items: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
        path: &'p str,
    }

    impl<'de> SeqAccess<'de> for Elements<'_, '_> {
        type Error = Error;

        fn next_element_seed<T: DeserializeSeed<'de>>(
            &mut self,
            seed: T,
        ) -> Result<Option<T::Value>, Error> {
            let Some((index, value)) = self.items.next() else {
                return Ok(None);
            };
            let path = format!("{}[{index}]", self.path);
            seed.deserialize(Node {
                value,
                path: path.clone(),
            })
            .map(Some)
            .map_err(|err| err.at(&path, value))
        }

        fn size_hint(&self) -> Option<usize> {
            Some(self.items.len())
        }
    }

    struct Entries<'a, 'p> {
        entries: serde_json::map::Iter<'a>,
        pending: Option<(&'a str, &'a Value)>,
        path: &'p str,
    }

    impl<'de> MapAccess<'de> for Entries<'_, '_> {
        type Error = Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, Error> {
            let Some((key, value)) = self.entries.next() else {
                return Ok(None);
            };
            self.pending = Some((key.as_str(), value));
            seed.deserialize(IntoDeserializer::<Error>::into_deserializer(key.as_str()))
                .map(Some)
        }

        fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Error> {
            let (key, value) = self
                .pending
                .take()
                .ok_or_else(|| <Error as de::Error>::custom("a value was read before its key"))?;
            let path = super::join(self.path, key);
            seed.deserialize(Node {
                value,
                path: path.clone(),
            })
            .map_err(|err| err.at(&path, value))
        }

        fn size_hint(&self) -> Option<usize> {
            Some(self.entries.len())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Field checks shared by every flow
// ---------------------------------------------------------------------------------------------

fn join(prefix: &str, name: &str) -> String {
    match (prefix.is_empty(), name.is_empty()) {
        (true, _) => name.to_owned(),
        (_, true) => prefix.to_owned(),
        _ => format!("{prefix}.{name}"),
    }
}

fn item(list: &str, index: usize) -> String {
    format!("{list}[{index}]")
}

fn check_text(field: &str, value: &str, max_chars: usize) -> Result<String, RecordError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(RecordError::new(field, "must not be empty"));
    }
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(RecordError::new(
            field,
            format!("must be at most {max_chars} characters (got {chars})"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(RecordError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

fn check_id(field: &str, value: &str) -> Result<String, RecordError> {
    check_text(field, value, MAX_ID_CHARS)
}

/// Blank optional text means "not given".
fn check_optional_text(
    field: &str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<Option<String>, RecordError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => check_text(field, value, max_chars).map(Some),
    }
}

/// Head-ends disagree on the case of NIC ids; upper case is the stored form.
fn check_nic_id(field: &str, value: &str) -> Result<String, RecordError> {
    check_id(field, value).map(|nic_id| nic_id.to_uppercase())
}

/// The device key `(headEndSystem, nicId)` in stored form.
fn check_device_key(
    prefix: &str,
    head_end_system: &str,
    nic_id: &str,
) -> Result<(String, String), RecordError> {
    Ok((
        check_id(&join(prefix, "headEndSystem"), head_end_system)?,
        check_nic_id(&join(prefix, "nicId"), nic_id)?,
    ))
}

/// The key used to spot the same device twice, even when one copy is malformed.
fn device_key(head_end_system: &str, nic_id: &str) -> (String, String) {
    (
        head_end_system.trim().to_owned(),
        nic_id.trim().to_uppercase(),
    )
}

fn check_nominal_kw(field: &str, kw: f64) -> Result<f64, RecordError> {
    if kw.is_finite() && kw > 0.0 && kw <= MAX_DEVICE_KW {
        Ok(kw)
    } else {
        Err(RecordError::new(
            field,
            format!("must be greater than 0 and at most {MAX_DEVICE_KW} kW (got {kw})"),
        ))
    }
}

/// An expected reduction may be 0 (the device is reserved but not counted on).
fn check_expected_kw(field: &str, kw: f64) -> Result<f64, RecordError> {
    if kw.is_finite() && (0.0..=MAX_DEVICE_KW).contains(&kw) {
        Ok(kw)
    } else {
        Err(RecordError::new(
            field,
            format!("must be between 0 and {MAX_DEVICE_KW} kW (got {kw})"),
        ))
    }
}

fn check_non_negative(field: &str, value: f64) -> Result<f64, RecordError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(RecordError::new(
            field,
            format!("must be a finite number of at least 0 (got {value})"),
        ))
    }
}

fn check_enrollment_id(field: &str, id: i64) -> Result<i64, RecordError> {
    if id > 0 {
        Ok(id)
    } else {
        Err(RecordError::new(
            field,
            format!("must be a positive id (got {id})"),
        ))
    }
}

/// `end` must be strictly after `start`.
fn check_after<T: PartialOrd + fmt::Display>(
    start_field: &str,
    start: &T,
    end_field: &str,
    end: &T,
) -> Result<(), RecordError> {
    if end > start {
        Ok(())
    } else {
        let start_name = start_field.rsplit('.').next().unwrap_or(start_field);
        let end_name = end_field.rsplit('.').next().unwrap_or(end_field);
        Err(RecordError::new(
            end_field,
            format!(
                "must be after {start_name} ({end_name} {end} is not after {start_name} {start})"
            ),
        ))
    }
}

/// Strictly `YYYY-MM-DD`: chrono alone would also take `2024-7-1` or a five-digit year.
fn check_date(field: &str, value: &str) -> Result<NaiveDate, RecordError> {
    let text = value.trim();
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    let invalid = || {
        RecordError::new(
            field,
            format!("must be a calendar date YYYY-MM-DD such as 2024-07-01 (got `{value}`)"),
        )
    };
    if !shaped {
        return Err(invalid());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| invalid())
}

fn check_email(field: &str, value: &str) -> Result<String, RecordError> {
    let email = check_text(field, value, 254)?;
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if valid {
        Ok(email)
    } else {
        Err(RecordError::new(
            field,
            format!("must be an email address such as name@example.com (got `{email}`)"),
        ))
    }
}

fn check_phone(field: &str, value: &str) -> Result<String, RecordError> {
    let phone = check_text(field, value, 32)?;
    let allowed = phone
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '(' | ')' | ' ' | '.'));
    if allowed && phone.chars().filter(char::is_ascii_digit).count() >= 7 {
        Ok(phone)
    } else {
        Err(RecordError::new(
            field,
            format!("must be a phone number of digits, spaces and + - ( ) . (got `{phone}`)"),
        ))
    }
}

fn check_time_zone(field: &str, value: &str) -> Result<String, RecordError> {
    let zone = check_id(field, value)?;
    if zone
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'))
    {
        Ok(zone)
    } else {
        Err(RecordError::new(
            field,
            format!("must be an IANA time zone name such as America/Chicago (got `{zone}`)"),
        ))
    }
}

fn check_non_empty<T>(field: &str, list: &[T], what: &str) -> Result<(), RecordError> {
    if list.is_empty() {
        Err(RecordError::new(
            field,
            format!("must list at least one {what}"),
        ))
    } else {
        Ok(())
    }
}

/// Remembers where each key was first seen; the second sighting is an error at `field`.
struct Seen<K> {
    first: HashMap<K, usize>,
}

impl<K: Eq + Hash> Seen<K> {
    fn new() -> Self {
        Seen {
            first: HashMap::new(),
        }
    }

    fn check(
        &mut self,
        key: K,
        index: usize,
        list: &str,
        field: String,
        what: &str,
    ) -> Result<(), RecordError> {
        match self.first.get(&key) {
            Some(first) => Err(RecordError::new(
                field,
                format!(
                    "repeats {} ({what}); list each one once",
                    item(list, *first)
                ),
            )),
            None => {
                self.first.insert(key, index);
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Flow 1: enrollment request (grid → programs), a batch
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentRequestBatch {
    pub transaction_id: String,
    pub records: Vec<EnrollmentRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentRecord {
    pub record_id: String,
    pub customer_info: CustomerInfo,
    pub program_info: ProgramInfo,
    pub location_info: LocationInfo,
    pub enrollment_source: EnrollmentSource,
    pub ownership: Ownership,
    /// `YYYY-MM-DD`; kept as text so a bad date is reported by [`EnrollmentRecord::check`].
    pub start_date: String,
    pub asset_info: AssetInfo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerInfo {
    pub person_id: String,
    pub account_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgramInfo {
    pub program_code: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocationInfo {
    pub service_point_id: String,
    pub premise_id: String,
    pub address: Address,
    pub time_zone: String,
    pub transformer_code: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub street: String,
    pub city: String,
    pub postal_code: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetInfo {
    pub asset_list: Vec<Asset>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Asset {
    pub head_end_system: String,
    pub nic_id: String,
    pub device_type: DeviceType,
    pub specification: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<String>,
    pub nominal_kw: f64,
}

/// An enrollment record whose every value has been checked: ids trimmed and within length,
/// `nicId` upper-cased, dates parsed, kW in range, no device listed twice.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedEnrollmentRecord {
    pub record_id: String,
    pub customer: CheckedCustomer,
    pub program_code: String,
    pub location: CheckedLocation,
    pub source: EnrollmentSource,
    pub ownership: Ownership,
    pub start_date: NaiveDate,
    /// At least one.
    pub assets: Vec<CheckedAsset>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedCustomer {
    pub person_id: String,
    pub account_id: String,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedLocation {
    pub service_point_id: String,
    pub premise_id: String,
    pub street: String,
    pub city: String,
    pub postal_code: String,
    pub time_zone: String,
    pub transformer_code: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckedAsset {
    pub head_end_system: String,
    /// Upper case.
    pub nic_id: String,
    pub device_type: DeviceType,
    pub specification: String,
    pub serial_number: Option<String>,
    pub badge: Option<String>,
    /// Finite, greater than 0, at most [`MAX_DEVICE_KW`].
    pub nominal_kw: f64,
}

impl EnrollmentRecord {
    /// The record's values, checked; the first problem found is returned, naming its field.
    pub fn check(&self) -> Result<CheckedEnrollmentRecord, RecordError> {
        let record_id = check_id("recordId", &self.record_id)?;
        let customer = &self.customer_info;
        let customer = CheckedCustomer {
            person_id: check_id("customerInfo.personId", &customer.person_id)?,
            account_id: check_id("customerInfo.accountId", &customer.account_id)?,
            name: check_text("customerInfo.name", &customer.name, MAX_TEXT_CHARS)?,
            phone: match check_optional_text("customerInfo.phone", customer.phone.as_deref(), 32)? {
                Some(phone) => Some(check_phone("customerInfo.phone", &phone)?),
                None => None,
            },
            email: match check_optional_text("customerInfo.email", customer.email.as_deref(), 254)?
            {
                Some(email) => Some(check_email("customerInfo.email", &email)?),
                None => None,
            },
        };
        let program_code = check_id("programInfo.programCode", &self.program_info.program_code)?;
        let location = &self.location_info;
        let location = CheckedLocation {
            service_point_id: check_id("locationInfo.servicePointId", &location.service_point_id)?,
            premise_id: check_id("locationInfo.premiseId", &location.premise_id)?,
            street: check_text(
                "locationInfo.address.street",
                &location.address.street,
                MAX_TEXT_CHARS,
            )?,
            city: check_text(
                "locationInfo.address.city",
                &location.address.city,
                MAX_TEXT_CHARS,
            )?,
            postal_code: check_text(
                "locationInfo.address.postalCode",
                &location.address.postal_code,
                16,
            )?,
            time_zone: check_time_zone("locationInfo.timeZone", &location.time_zone)?,
            transformer_code: check_id("locationInfo.transformerCode", &location.transformer_code)?,
        };
        let start_date = check_date("startDate", &self.start_date)?;
        let assets = &self.asset_info.asset_list;
        check_non_empty("assetInfo.assetList", assets, "asset")?;
        let mut seen = Seen::new();
        let mut checked_assets = Vec::with_capacity(assets.len());
        for (index, asset) in assets.iter().enumerate() {
            let prefix = item("assetInfo.assetList", index);
            let (head_end_system, nic_id) =
                check_device_key(&prefix, &asset.head_end_system, &asset.nic_id)?;
            seen.check(
                (head_end_system.clone(), nic_id.clone()),
                index,
                "assetInfo.assetList",
                join(&prefix, "nicId"),
                &format!("device {head_end_system} {nic_id}"),
            )?;
            checked_assets.push(CheckedAsset {
                head_end_system,
                nic_id,
                device_type: asset.device_type,
                specification: check_text(
                    &join(&prefix, "specification"),
                    &asset.specification,
                    MAX_ID_CHARS,
                )?,
                serial_number: check_optional_text(
                    &join(&prefix, "serialNumber"),
                    asset.serial_number.as_deref(),
                    MAX_ID_CHARS,
                )?,
                badge: check_optional_text(
                    &join(&prefix, "badge"),
                    asset.badge.as_deref(),
                    MAX_ID_CHARS,
                )?,
                nominal_kw: check_nominal_kw(&join(&prefix, "nominalKw"), asset.nominal_kw)?,
            });
        }
        Ok(CheckedEnrollmentRecord {
            record_id,
            customer,
            program_code,
            location,
            source: self.enrollment_source,
            ownership: self.ownership,
            start_date,
            assets: checked_assets,
        })
    }
}

impl Validate for EnrollmentRecord {
    fn validate(&self) -> Result<(), RecordError> {
        self.check()
            .map(drop)
            .map_err(|err| err.identify(&self.record_id))
    }
}

/// Parses an enrollment request batch. The request fails as a whole only when it cannot be read
/// as a batch at all; otherwise each record is parsed and checked on its own, so a record with a
/// wrong type or a bad value fails alone and the results line up with `records` by position.
pub fn parse_enrollment_batch(
    body: &[u8],
    max_records: usize,
) -> Result<(String, Vec<Result<CheckedEnrollmentRecord, RecordError>>), RequestError> {
    let value: Value = serde_json::from_slice(body).map_err(RequestError::malformed)?;
    parse_enrollment_batch_value(&value, max_records)
}

/// [`parse_enrollment_batch`] for a body that is already JSON (e.g. an envelope's payload).
pub fn parse_enrollment_batch_value(
    value: &Value,
    max_records: usize,
) -> Result<(String, Vec<Result<CheckedEnrollmentRecord, RecordError>>), RequestError> {
    let batch = value.as_object().ok_or(RequestError::NotAnObject)?;
    let transaction_id = match batch.get("transactionId") {
        Some(Value::String(id)) if !id.trim().is_empty() => check_id("transactionId", id)
            .map_err(|err| RequestError::InvalidTransactionId(err.message))?,
        _ => return Err(RequestError::MissingTransactionId),
    };
    let records = batch
        .get("records")
        .and_then(Value::as_array)
        .ok_or(RequestError::RecordsNotArray)?;
    if records.len() > max_records {
        return Err(RequestError::TooManyRecords {
            count: records.len(),
            max: max_records,
        });
    }
    let results = records
        .iter()
        .enumerate()
        .map(|(index, record)| check_enrollment_value(index, record))
        .collect();
    Ok((transaction_id, results))
}

fn check_enrollment_value(
    index: usize,
    value: &Value,
) -> Result<CheckedEnrollmentRecord, RecordError> {
    let record_id = value
        .get("recordId")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    let record: EnrollmentRecord =
        from_json(value, "record").map_err(|err| err.in_record(index, record_id.clone()))?;
    record
        .check()
        .map_err(|err| err.in_record(index, record_id))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentRequestAck {
    pub transaction_id: String,
    /// One per request record, in request order.
    pub results: Vec<RecordResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordResult {
    /// Empty when the record carried no readable `recordId`; its position still identifies it.
    pub record_id: String,
    pub status: RecordStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_id: Option<i64>,
    #[serde(default)]
    pub errors: Vec<RecordErrorWire>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordErrorWire {
    pub field: String,
    pub message: String,
}

impl From<&RecordError> for RecordErrorWire {
    fn from(err: &RecordError) -> Self {
        err.to_wire()
    }
}

impl RecordResult {
    pub fn created(record_id: impl Into<String>, enrollment_id: i64) -> Self {
        RecordResult {
            record_id: record_id.into(),
            status: RecordStatus::Created,
            enrollment_id: Some(enrollment_id),
            errors: Vec::new(),
        }
    }

    pub fn already_exists(record_id: impl Into<String>, enrollment_id: i64) -> Self {
        RecordResult {
            status: RecordStatus::AlreadyExists,
            ..RecordResult::created(record_id, enrollment_id)
        }
    }

    pub fn rejected(err: &RecordError) -> Self {
        RecordResult {
            record_id: err.record_id.clone().unwrap_or_default(),
            status: RecordStatus::Rejected,
            enrollment_id: None,
            errors: vec![err.to_wire()],
        }
    }
}

impl Validate for EnrollmentRequestAck {
    fn validate(&self) -> Result<(), RecordError> {
        check_id("transactionId", &self.transaction_id)?;
        for (index, result) in self.results.iter().enumerate() {
            let prefix = item("results", index);
            match (result.status, result.enrollment_id) {
                (RecordStatus::Created | RecordStatus::AlreadyExists, None) => {
                    return Err(RecordError::new(
                        join(&prefix, "enrollmentId"),
                        format!("is required when status is {}", result.status),
                    ));
                }
                (RecordStatus::Created | RecordStatus::AlreadyExists, Some(id)) => {
                    check_enrollment_id(&join(&prefix, "enrollmentId"), id)?;
                }
                (RecordStatus::Rejected, _) if result.errors.is_empty() => {
                    return Err(RecordError::new(
                        join(&prefix, "errors"),
                        "must say why the record was rejected",
                    ));
                }
                (RecordStatus::Rejected, _) => {}
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Flow 2: enrollment sync (programs → grid) and its acknowledgement
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentSync {
    pub transaction_id: String,
    pub action: SyncAction,
    pub enrollment_id: i64,
    pub program_code: String,
    pub service_point_id: String,
    pub transformer_code: String,
    /// For `REPLACE_DEVICE`: the device(s) joining the subscription.
    pub device_list: Vec<SyncDevice>,
    /// For `REPLACE_DEVICE` only: the device leaving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_device: Option<DeviceKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncDevice {
    pub head_end_system: String,
    pub nic_id: String,
    pub device_type: DeviceType,
    pub nominal_kw: f64,
}

/// A device named by its key only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceKey {
    pub head_end_system: String,
    pub nic_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentSyncAck {
    pub transaction_id: String,
    pub enrollment_id: i64,
    pub device_list: Vec<DeviceRegistration>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceRegistration {
    pub head_end_system: String,
    pub nic_id: String,
    pub registration_status: RegistrationStatus,
    /// Required for `NOT_REGISTERED`: the program manager has to act on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Validate for EnrollmentSync {
    fn validate(&self) -> Result<(), RecordError> {
        self.check()
            .map_err(|err| err.identify(&self.transaction_id))
    }
}

impl EnrollmentSync {
    fn check(&self) -> Result<(), RecordError> {
        check_id("transactionId", &self.transaction_id)?;
        check_enrollment_id("enrollmentId", self.enrollment_id)?;
        check_id("programCode", &self.program_code)?;
        check_id("servicePointId", &self.service_point_id)?;
        check_id("transformerCode", &self.transformer_code)?;
        let mut seen = Seen::new();
        for (index, device) in self.device_list.iter().enumerate() {
            let prefix = item("deviceList", index);
            let key = check_device_key(&prefix, &device.head_end_system, &device.nic_id)?;
            check_nominal_kw(&join(&prefix, "nominalKw"), device.nominal_kw)?;
            let what = format!("device {} {}", key.0, key.1);
            seen.check(key, index, "deviceList", join(&prefix, "nicId"), &what)?;
        }
        match (self.action, &self.replaced_device) {
            (SyncAction::Enroll, _) | (SyncAction::ReplaceDevice, _)
                if self.device_list.is_empty() =>
            {
                check_non_empty("deviceList", &self.device_list, "device")
            }
            (SyncAction::ReplaceDevice, None) => Err(RecordError::new(
                "replacedDevice",
                "is required when action is REPLACE_DEVICE; name the device leaving the enrollment",
            )),
            (SyncAction::ReplaceDevice, Some(old)) => {
                let old_key =
                    check_device_key("replacedDevice", &old.head_end_system, &old.nic_id)?;
                let rejoins = self
                    .device_list
                    .iter()
                    .any(|device| device_key(&device.head_end_system, &device.nic_id) == old_key);
                if rejoins {
                    Err(RecordError::new(
                        "replacedDevice",
                        "must not also be in deviceList; the replaced device leaves the enrollment",
                    ))
                } else {
                    Ok(())
                }
            }
            (SyncAction::Enroll | SyncAction::Unenroll, Some(_)) => Err(RecordError::new(
                "replacedDevice",
                format!(
                    "is only allowed when action is REPLACE_DEVICE (action is {})",
                    self.action
                ),
            )),
            (SyncAction::Enroll | SyncAction::Unenroll, None) => Ok(()),
        }
    }
}

impl Validate for EnrollmentSyncAck {
    fn validate(&self) -> Result<(), RecordError> {
        self.check()
            .map_err(|err| err.identify(&self.transaction_id))
    }
}

impl EnrollmentSyncAck {
    fn check(&self) -> Result<(), RecordError> {
        check_id("transactionId", &self.transaction_id)?;
        check_enrollment_id("enrollmentId", self.enrollment_id)?;
        let mut seen = Seen::new();
        for (index, device) in self.device_list.iter().enumerate() {
            let prefix = item("deviceList", index);
            let key = check_device_key(&prefix, &device.head_end_system, &device.nic_id)?;
            let reason = check_optional_text(
                &join(&prefix, "reason"),
                device.reason.as_deref(),
                MAX_REASON_CHARS,
            )?;
            if device.registration_status == RegistrationStatus::NotRegistered && reason.is_none() {
                return Err(RecordError::new(
                    join(&prefix, "reason"),
                    "is required when registrationStatus is NOT_REGISTERED; say why the head-end refused the device",
                ));
            }
            let what = format!("device {} {}", key.0, key.1);
            seen.check(key, index, "deviceList", join(&prefix, "nicId"), &what)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Flow 3: device status check (programs → grid) and its acknowledgement
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceStatusCheck {
    pub transaction_id: String,
    pub device_list: Vec<DeviceKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceStatusAck {
    pub transaction_id: String,
    pub device_list: Vec<DeviceConnection>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceConnection {
    pub head_end_system: String,
    pub nic_id: String,
    pub status: ConnectionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
}

/// Every device listed once, each with a valid key.
fn check_device_keys<'a>(
    list: &str,
    keys: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<(), RecordError> {
    let mut seen = Seen::new();
    for (index, (head_end_system, nic_id)) in keys.enumerate() {
        let prefix = item(list, index);
        let key = check_device_key(&prefix, head_end_system, nic_id)?;
        let what = format!("device {} {}", key.0, key.1);
        seen.check(key, index, list, join(&prefix, "nicId"), &what)?;
    }
    Ok(())
}

impl Validate for DeviceStatusCheck {
    fn validate(&self) -> Result<(), RecordError> {
        check_id("transactionId", &self.transaction_id)
            .and_then(|_| check_non_empty("deviceList", &self.device_list, "device"))
            .and_then(|()| {
                check_device_keys(
                    "deviceList",
                    self.device_list
                        .iter()
                        .map(|d| (d.head_end_system.as_str(), d.nic_id.as_str())),
                )
            })
            .map_err(|err| err.identify(&self.transaction_id))
    }
}

impl Validate for DeviceStatusAck {
    fn validate(&self) -> Result<(), RecordError> {
        check_id("transactionId", &self.transaction_id)
            .and_then(|_| {
                check_device_keys(
                    "deviceList",
                    self.device_list
                        .iter()
                        .map(|d| (d.head_end_system.as_str(), d.nic_id.as_str())),
                )
            })
            .map_err(|err| err.identify(&self.transaction_id))
    }
}

// ---------------------------------------------------------------------------------------------
// Flow 4: program event (stage) status update (grid → programs)
// ---------------------------------------------------------------------------------------------

/// One stage of an event, as the program side sees it: its own "program event".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgramEventStatus {
    /// The parent event.
    pub event_external_identifier: String,
    /// The stage.
    pub external_identifier: String,
    pub program_code: String,
    pub event_category: EventCategory,
    pub action: LifecycleAction,
    /// Required for `F1CN` (cancel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
}

impl Validate for ProgramEventStatus {
    fn validate(&self) -> Result<(), RecordError> {
        self.check()
            .map_err(|err| err.identify(&self.external_identifier))
    }
}

impl ProgramEventStatus {
    fn check(&self) -> Result<(), RecordError> {
        check_id("eventExternalIdentifier", &self.event_external_identifier)?;
        check_id("externalIdentifier", &self.external_identifier)?;
        check_id("programCode", &self.program_code)?;
        check_after("startTime", &self.start_time, "endTime", &self.end_time)?;
        let reason = check_optional_text("reason", self.reason.as_deref(), MAX_REASON_CHARS)?;
        if self.action == LifecycleAction::Cancel && reason.is_none() {
            return Err(RecordError::new(
                "reason",
                "is required when action is F1CN (cancel); say why the stage was cancelled",
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Flow 5: event device reservation (grid → programs)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceReservation {
    pub event_external_identifier: String,
    pub external_identifier: String,
    pub program_code: String,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub device_list: Vec<ReservedDevice>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservedDevice {
    pub head_end_system: String,
    pub nic_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_id: Option<i64>,
    pub expected_kw: f64,
}

impl ReservedDevice {
    /// Every problem of the device, so a file import can list them all.
    fn problems(&self, prefix: &str) -> Vec<RecordError> {
        let mut problems = Vec::new();
        problems.extend(check_id(&join(prefix, "headEndSystem"), &self.head_end_system).err());
        problems.extend(check_nic_id(&join(prefix, "nicId"), &self.nic_id).err());
        if let Some(id) = self.enrollment_id {
            problems.extend(check_enrollment_id(&join(prefix, "enrollmentId"), id).err());
        }
        problems.extend(check_expected_kw(&join(prefix, "expectedKw"), self.expected_kw).err());
        problems
    }
}

impl Validate for DeviceReservation {
    fn validate(&self) -> Result<(), RecordError> {
        self.check()
            .map_err(|err| err.identify(&self.external_identifier))
    }
}

impl DeviceReservation {
    fn check(&self) -> Result<(), RecordError> {
        check_id("eventExternalIdentifier", &self.event_external_identifier)?;
        check_id("externalIdentifier", &self.external_identifier)?;
        check_id("programCode", &self.program_code)?;
        check_after("startTime", &self.start_time, "endTime", &self.end_time)?;
        check_non_empty("deviceList", &self.device_list, "device")?;
        for (index, device) in self.device_list.iter().enumerate() {
            if let Some(problem) = device
                .problems(&item("deviceList", index))
                .into_iter()
                .next()
            {
                return Err(problem);
            }
        }
        check_device_keys(
            "deviceList",
            self.device_list
                .iter()
                .map(|d| (d.head_end_system.as_str(), d.nic_id.as_str())),
        )
    }
}

/// Collects row errors of a file import, capped so a garbage file does not flood the report.
#[derive(Default)]
struct RowErrors {
    errors: Vec<CsvRowError>,
    not_listed: usize,
}

impl RowErrors {
    fn push(&mut self, line: u64, message: impl Into<String>) {
        if self.errors.len() < MAX_ROW_ERRORS {
            self.errors.push(CsvRowError {
                line,
                message: message.into(),
            });
        } else {
            self.not_listed += 1;
        }
    }

    fn push_read_error(&mut self, err: &csv::Error) {
        let line = err.position().map_or(0, csv::Position::line);
        match err.kind() {
            csv::ErrorKind::Utf8 { .. } => self.push(line, "is not valid UTF-8 text"),
            _ => self.push(line, format!("cannot be read: {err}")),
        }
    }

    fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    fn finish(mut self) -> Vec<CsvRowError> {
        if self.not_listed > 0 {
            self.errors.push(CsvRowError {
                line: 0,
                message: format!(
                    "{} more errors are not listed; fix the rows above first",
                    self.not_listed
                ),
            });
        }
        self.errors
    }
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

fn line_of(record: &csv::StringRecord) -> u64 {
    record.position().map_or(0, csv::Position::line)
}

fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(str::is_empty)
}

/// Parses the reservation CSV attachment (header [`RESERVATION_CSV_HEADER`], columns in any
/// order). All or nothing: any broken row refuses the file, and every broken row is reported
/// with its line number.
pub fn parse_reservation_csv(bytes: &[u8]) -> Result<Vec<ReservedDevice>, Vec<CsvRowError>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(strip_bom(bytes));
    let mut rows = reader.records();
    let expected_header = RESERVATION_CSV_HEADER.join(",");
    let header = match rows.next() {
        None => {
            return Err(vec![CsvRowError {
                line: 1,
                message: format!(
                    "the file is empty; it must start with the header {expected_header}"
                ),
            }])
        }
        Some(Err(err)) => {
            let mut errors = RowErrors::default();
            errors.push_read_error(&err);
            return Err(errors.finish());
        }
        Some(Ok(header)) => header,
    };
    let mut columns = [0usize; 4];
    for (slot, name) in columns.iter_mut().zip(RESERVATION_CSV_HEADER) {
        match header.iter().position(|column| column == name) {
            Some(position) => *slot = position,
            None => {
                return Err(vec![CsvRowError {
                    line: line_of(&header),
                    message: format!(
                        "the header lacks the column `{name}`; expected {expected_header}"
                    ),
                }])
            }
        }
    }

    let mut errors = RowErrors::default();
    let mut devices = Vec::new();
    let mut first_line: HashMap<(String, String), u64> = HashMap::new();
    for row in rows {
        let row = match row {
            Ok(row) => row,
            Err(err) => {
                errors.push_read_error(&err);
                continue;
            }
        };
        if is_blank(&row) {
            continue;
        }
        let line = line_of(&row);
        if row.len() != header.len() {
            errors.push(
                line,
                format!(
                    "has {} columns but the header has {}",
                    row.len(),
                    header.len()
                ),
            );
            continue;
        }
        let cell = |column: usize| row.get(columns[column]).unwrap_or_default();
        let mut problems = Vec::new();
        let enrollment_id = match cell(2) {
            "" => None,
            text => match text.parse::<i64>() {
                Ok(id) => Some(id),
                Err(_) => {
                    problems.push(format!("enrollmentId is not a whole number (got `{text}`)"));
                    None
                }
            },
        };
        let expected_kw = match cell(3).parse::<f64>() {
            Ok(kw) => kw,
            Err(_) => {
                problems.push(format!("expectedKw is not a number (got `{}`)", cell(3)));
                // Placeholder that passes the range check, so the problem is reported once.
                0.0
            }
        };
        let device = ReservedDevice {
            head_end_system: cell(0).to_owned(),
            nic_id: cell(1).to_owned(),
            enrollment_id,
            expected_kw,
        };
        problems.extend(
            device
                .problems("")
                .into_iter()
                .map(|problem| format!("{} {}", problem.field, problem.message)),
        );
        if problems.is_empty() {
            let key = device_key(&device.head_end_system, &device.nic_id);
            if let Some(first) = first_line.get(&key) {
                problems.push(format!(
                    "repeats the device {} {} of line {first}; list each device once",
                    key.0, key.1
                ));
            } else {
                first_line.insert(key, line);
            }
        }
        if problems.is_empty() {
            devices.push(device);
        }
        for problem in problems {
            errors.push(line, problem);
        }
    }
    if !errors.is_empty() {
        return Err(errors.finish());
    }
    if devices.is_empty() {
        return Err(vec![CsvRowError {
            line: line_of(&header),
            message: "the file has a header but no device rows".into(),
        }]);
    }
    Ok(devices)
}

// ---------------------------------------------------------------------------------------------
// Flow 6: event device outcome (grid → programs)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceOutcomeBatch {
    pub event_external_identifier: String,
    pub external_identifier: String,
    pub post_outcome_list: Vec<DeviceOutcome>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceOutcome {
    pub head_end_system: String,
    pub nic_id: String,
    pub outcome: OutcomeCode,
    /// Required (with `participationEnd`) for `D1SP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participation_start: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participation_end: Option<DateTime<Utc>>,
}

impl DeviceOutcome {
    /// Every problem of the outcome, so a file import can list them all.
    fn problems(&self, prefix: &str) -> Vec<RecordError> {
        let mut problems = Vec::new();
        problems.extend(check_id(&join(prefix, "headEndSystem"), &self.head_end_system).err());
        problems.extend(check_nic_id(&join(prefix, "nicId"), &self.nic_id).err());
        match (&self.participation_start, &self.participation_end) {
            (Some(start), Some(end)) => problems.extend(
                check_after(
                    &join(prefix, "participationStart"),
                    start,
                    &join(prefix, "participationEnd"),
                    end,
                )
                .err(),
            ),
            (start, end) if self.outcome == OutcomeCode::Participated => {
                for (field, time) in [
                    ("participationStart", start.is_some()),
                    ("participationEnd", end.is_some()),
                ] {
                    if !time {
                        problems.push(RecordError::new(
                            join(prefix, field),
                            "is required when outcome is D1SP (participated)",
                        ));
                    }
                }
            }
            _ => {}
        }
        problems
    }
}

impl Validate for DeviceOutcomeBatch {
    fn validate(&self) -> Result<(), RecordError> {
        self.check()
            .map_err(|err| err.identify(&self.external_identifier))
    }
}

impl DeviceOutcomeBatch {
    fn check(&self) -> Result<(), RecordError> {
        check_id("eventExternalIdentifier", &self.event_external_identifier)?;
        check_id("externalIdentifier", &self.external_identifier)?;
        check_non_empty("postOutcomeList", &self.post_outcome_list, "device outcome")?;
        for (index, outcome) in self.post_outcome_list.iter().enumerate() {
            if let Some(problem) = outcome
                .problems(&item("postOutcomeList", index))
                .into_iter()
                .next()
            {
                return Err(problem);
            }
        }
        check_device_keys(
            "postOutcomeList",
            self.post_outcome_list
                .iter()
                .map(|d| (d.head_end_system.as_str(), d.nic_id.as_str())),
        )
    }
}

fn parse_flat_time(field: &str, text: &str) -> Result<Option<DateTime<Utc>>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|time| Some(time.with_timezone(&Utc)))
        .map_err(|_| {
            format!("{field} is not an RFC 3339 time such as 2024-07-01T15:00:00Z (got `{text}`)")
        })
}

/// Parses the outcome flat file: one device per line,
/// `headEndSystem|nicId|outcome|participationStart|participationEnd`, times in RFC 3339 or empty;
/// an optional first line naming those fields is skipped. All or nothing, like
/// [`parse_reservation_csv`].
pub fn parse_outcome_flat_file(bytes: &[u8]) -> Result<Vec<DeviceOutcome>, Vec<CsvRowError>> {
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(b'|')
        .quoting(false)
        .trim(csv::Trim::All)
        .from_reader(strip_bom(bytes));
    let mut errors = RowErrors::default();
    let mut outcomes = Vec::new();
    let mut first_line: HashMap<(String, String), u64> = HashMap::new();
    for (position, row) in reader.into_records().enumerate() {
        let row = match row {
            Ok(row) => row,
            Err(err) => {
                errors.push_read_error(&err);
                continue;
            }
        };
        let is_header = position == 0
            && row.len() == OUTCOME_FLAT_FILE_FIELDS.len()
            && row
                .iter()
                .zip(OUTCOME_FLAT_FILE_FIELDS)
                .all(|(cell, name)| cell.eq_ignore_ascii_case(name));
        if is_header || is_blank(&row) {
            continue;
        }
        let line = line_of(&row);
        if row.len() != OUTCOME_FLAT_FILE_FIELDS.len() {
            errors.push(
                line,
                format!(
                    "has {} fields; expected {} ({})",
                    row.len(),
                    OUTCOME_FLAT_FILE_FIELDS.len(),
                    OUTCOME_FLAT_FILE_FIELDS.join("|")
                ),
            );
            continue;
        }
        let cell = |index: usize| row.get(index).unwrap_or_default();
        let mut problems = Vec::new();
        // Fields that failed to parse: their follow-on checks would only repeat the problem.
        let mut unreadable = HashSet::new();
        let outcome = OutcomeCode::parse(cell(2));
        if outcome.is_none() {
            problems.push(format!(
                "outcome has unknown code `{}`, expected one of {}",
                cell(2),
                OutcomeCode::codes()
            ));
        }
        let mut time = |index: usize, field: &'static str| match parse_flat_time(field, cell(index))
        {
            Ok(time) => time,
            Err(problem) => {
                problems.push(problem);
                unreadable.insert(field);
                None
            }
        };
        let participation_start = time(3, "participationStart");
        let participation_end = time(4, "participationEnd");
        let record = DeviceOutcome {
            head_end_system: cell(0).to_owned(),
            nic_id: cell(1).to_owned(),
            // Placeholder without rules of its own, so the other fields are still checked; the
            // unknown code is already a problem, so this record is never kept.
            outcome: outcome.unwrap_or(OutcomeCode::NonResponsive),
            participation_start,
            participation_end,
        };
        problems.extend(
            record
                .problems("")
                .into_iter()
                .filter(|problem| !unreadable.contains(problem.field.as_str()))
                .map(|problem| format!("{} {}", problem.field, problem.message)),
        );
        if problems.is_empty() {
            let key = device_key(&record.head_end_system, &record.nic_id);
            if let Some(first) = first_line.get(&key) {
                problems.push(format!(
                    "repeats the device {} {} of line {first}; list each device once",
                    key.0, key.1
                ));
            } else {
                first_line.insert(key, line);
            }
        }
        if problems.is_empty() {
            outcomes.push(record);
        }
        for problem in problems {
            errors.push(line, problem);
        }
    }
    if !errors.is_empty() {
        return Err(errors.finish());
    }
    if outcomes.is_empty() {
        return Err(vec![CsvRowError {
            line: 1,
            message: "the file has no outcome lines".into(),
        }]);
    }
    Ok(outcomes)
}

// ---------------------------------------------------------------------------------------------
// Flow 7: customer opt-out (programs → grid)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerOptOut {
    pub transaction_id: String,
    pub event_external_identifier: String,
    pub head_end_system: String,
    pub nic_id: String,
    pub requested_at: DateTime<Utc>,
}

impl Validate for CustomerOptOut {
    fn validate(&self) -> Result<(), RecordError> {
        check_id("transactionId", &self.transaction_id)
            .and_then(|_| check_id("eventExternalIdentifier", &self.event_external_identifier))
            .and_then(|_| check_device_key("", &self.head_end_system, &self.nic_id))
            .map(drop)
            .map_err(|err| err.identify(&self.transaction_id))
    }
}

// ---------------------------------------------------------------------------------------------
// Flow 8: customer unavailability (programs → grid)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerUnavailability {
    pub transaction_id: String,
    pub action: UnavailabilityAction,
    /// The program side's id of the window; `CHANGE` and `CANCEL` refer to it.
    pub window_id: String,
    pub head_end_system: String,
    pub nic_id: String,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    /// Required for `ADD` and `CHANGE`.
    #[serde(default)]
    pub reason: String,
}

impl Validate for CustomerUnavailability {
    fn validate(&self) -> Result<(), RecordError> {
        self.check()
            .map_err(|err| err.identify(&self.transaction_id))
    }
}

impl CustomerUnavailability {
    fn check(&self) -> Result<(), RecordError> {
        check_id("transactionId", &self.transaction_id)?;
        check_id("windowId", &self.window_id)?;
        check_device_key("", &self.head_end_system, &self.nic_id)?;
        let reason = check_optional_text("reason", Some(&self.reason), MAX_REASON_CHARS)?;
        match self.action {
            UnavailabilityAction::Add | UnavailabilityAction::Change => {
                check_after("startTime", &self.start_time, "endTime", &self.end_time)?;
                if reason.is_none() {
                    return Err(RecordError::new(
                        "reason",
                        format!(
                            "is required when action is {}; say why the device is unavailable",
                            self.action
                        ),
                    ));
                }
                Ok(())
            }
            // A cancelled window is identified by windowId; its times are not looked at.
            UnavailabilityAction::Cancel => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Flow 9: program rule sync (programs → grid)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgramRuleSync {
    pub transaction_id: String,
    pub action: RuleAction,
    pub program_code: String,
    pub rule: ProgramRule,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgramRule {
    /// The latest rule effective on a day applies; `UNLINK` names the rule by this date.
    pub effective_from: NaiveDate,
    pub cycle: RuleCycle,
    /// Day of the week a weekly cycle starts, 0..=6.
    pub week_start: u8,
    pub max_events_per_cycle: u32,
    pub max_minutes_per_cycle: u32,
    pub min_gap_minutes: u32,
    pub min_event_minutes: u32,
    pub max_event_minutes: u32,
    pub max_overrides: u32,
    /// Minutes after local midnight, 0..=1440.
    pub window_start_minute: u16,
    pub window_end_minute: u16,
    pub activation_cost: f64,
    pub burn_rate_factor: f64,
    pub score_factor: f64,
    pub overridable: bool,
}

impl Validate for ProgramRuleSync {
    fn validate(&self) -> Result<(), RecordError> {
        check_id("transactionId", &self.transaction_id)
            .and_then(|_| check_id("programCode", &self.program_code))
            .and_then(|_| self.rule.check().map_err(|err| err.under("rule")))
            .map_err(|err| err.identify(&self.transaction_id))
    }
}

impl ProgramRule {
    /// Checks the rule's limits (used for rule sync messages and for rules edited in the console).
    pub fn check(&self) -> Result<(), RecordError> {
        if self.week_start > 6 {
            return Err(RecordError::new(
                "weekStart",
                format!(
                    "must be a day of the week from 0 to 6 (got {})",
                    self.week_start
                ),
            ));
        }
        for (field, value) in [
            ("maxEventsPerCycle", self.max_events_per_cycle),
            ("maxMinutesPerCycle", self.max_minutes_per_cycle),
            ("minEventMinutes", self.min_event_minutes),
            ("maxEventMinutes", self.max_event_minutes),
        ] {
            if value == 0 {
                return Err(RecordError::new(field, "must be at least 1"));
            }
        }
        if self.min_event_minutes > self.max_event_minutes {
            return Err(RecordError::new(
                "minEventMinutes",
                format!(
                    "must not exceed maxEventMinutes (got minEventMinutes {} > maxEventMinutes {})",
                    self.min_event_minutes, self.max_event_minutes
                ),
            ));
        }
        if self.max_event_minutes > self.max_minutes_per_cycle {
            return Err(RecordError::new(
                "maxEventMinutes",
                format!(
                    "must not exceed maxMinutesPerCycle (got maxEventMinutes {} > maxMinutesPerCycle {})",
                    self.max_event_minutes, self.max_minutes_per_cycle
                ),
            ));
        }
        for (field, minute) in [
            ("windowStartMinute", self.window_start_minute),
            ("windowEndMinute", self.window_end_minute),
        ] {
            if minute > 1440 {
                return Err(RecordError::new(
                    field,
                    format!("must be a minute of the day from 0 to 1440 (got {minute})"),
                ));
            }
        }
        check_after(
            "windowStartMinute",
            &self.window_start_minute,
            "windowEndMinute",
            &self.window_end_minute,
        )?;
        check_non_negative("activationCost", self.activation_cost)?;
        check_non_negative("burnRateFactor", self.burn_rate_factor)?;
        check_non_negative("scoreFactor", self.score_factor)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Flow 10: aggregator sync (programs → grid)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AggregatorSync {
    pub transaction_id: String,
    /// The aggregator's stable id across both sides.
    pub external_reference: String,
    pub name: String,
    pub status: AggregatorStatus,
    pub start_date: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<NaiveDate>,
    pub contact_name: String,
    pub contact_email: String,
    #[serde(default)]
    pub program_codes: Vec<String>,
}

impl Validate for AggregatorSync {
    fn validate(&self) -> Result<(), RecordError> {
        self.check()
            .map_err(|err| err.identify(&self.transaction_id))
    }
}

impl AggregatorSync {
    fn check(&self) -> Result<(), RecordError> {
        check_id("transactionId", &self.transaction_id)?;
        check_id("externalReference", &self.external_reference)?;
        check_text("name", &self.name, MAX_TEXT_CHARS)?;
        if let Some(end) = self.end_date {
            if end < self.start_date {
                return Err(RecordError::new(
                    "endDate",
                    format!(
                        "must not be before startDate (endDate {end} is before startDate {})",
                        self.start_date
                    ),
                ));
            }
        }
        check_text("contactName", &self.contact_name, MAX_TEXT_CHARS)?;
        check_email("contactEmail", &self.contact_email)?;
        let mut seen = Seen::new();
        for (index, code) in self.program_codes.iter().enumerate() {
            let field = item("programCodes", index);
            let code = check_id(&field, code)?;
            let what = format!("program {code}");
            seen.check(code, index, "programCodes", field, &what)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Flow 11: network location transfer (grid → programs)
// ---------------------------------------------------------------------------------------------

/// A complete export of the network model: every parent a node names is in the same transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkLocationTransfer {
    pub transaction_id: String,
    pub exported_at: DateTime<Utc>,
    pub nodes: Vec<NetworkNode>,
    #[serde(default)]
    pub service_points: Vec<ServicePointLink>,
}

/// A node and, from `validFrom`, its parent; a node that moved appears once per parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkNode {
    pub code: String,
    pub kind: NodeKind,
    pub name: String,
    /// None for a substation; a substation for a feeder; a feeder for a transformer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_code: Option<String>,
    pub valid_from: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePointLink {
    pub service_point_id: String,
    pub transformer_code: String,
}

impl Validate for NetworkLocationTransfer {
    fn validate(&self) -> Result<(), RecordError> {
        self.check()
            .map_err(|err| err.identify(&self.transaction_id))
    }
}

impl NetworkLocationTransfer {
    fn check(&self) -> Result<(), RecordError> {
        check_id("transactionId", &self.transaction_id)?;
        check_non_empty("nodes", &self.nodes, "network node")?;
        let mut kinds: HashMap<String, (NodeKind, usize)> = HashMap::new();
        let mut seen = Seen::new();
        for (index, node) in self.nodes.iter().enumerate() {
            let prefix = item("nodes", index);
            let code = check_id(&join(&prefix, "code"), &node.code)?;
            check_text(&join(&prefix, "name"), &node.name, MAX_TEXT_CHARS)?;
            if let Some((kind, first)) = kinds.get(&code) {
                if *kind != node.kind {
                    return Err(RecordError::new(
                        join(&prefix, "kind"),
                        format!(
                            "is {} but {} has the same code as a {kind}",
                            node.kind,
                            item("nodes", *first)
                        ),
                    ));
                }
            } else {
                kinds.insert(code.clone(), (node.kind, index));
            }
            let what = format!("node {code} from {}", node.valid_from);
            seen.check(
                (code, node.valid_from),
                index,
                "nodes",
                join(&prefix, "validFrom"),
                &what,
            )?;
        }
        for (index, node) in self.nodes.iter().enumerate() {
            let field = join(&item("nodes", index), "parentCode");
            let parent = check_optional_text(&field, node.parent_code.as_deref(), MAX_ID_CHARS)?;
            let wanted = match node.kind {
                NodeKind::Substation => None,
                NodeKind::Feeder => Some(NodeKind::Substation),
                NodeKind::Transformer => Some(NodeKind::Feeder),
            };
            match (wanted, parent) {
                (None, None) => {}
                (None, Some(_)) => {
                    return Err(RecordError::new(field, "must be empty for a substation"));
                }
                (Some(wanted), None) => {
                    return Err(RecordError::new(
                        field,
                        format!("is required for a {}; name its {wanted}", node.kind),
                    ));
                }
                (Some(wanted), Some(parent)) => match kinds.get(&parent) {
                    Some((kind, _)) if *kind == wanted => {}
                    Some((kind, _)) => {
                        return Err(RecordError::new(
                            field,
                            format!(
                                "names {kind} `{parent}`, but a {}'s parent must be a {wanted}",
                                node.kind
                            ),
                        ));
                    }
                    None => {
                        return Err(RecordError::new(
                            field,
                            format!("names `{parent}`, which is not a node in this transfer"),
                        ));
                    }
                },
            }
        }
        let mut seen = Seen::new();
        for (index, link) in self.service_points.iter().enumerate() {
            let prefix = item("servicePoints", index);
            let service_point = check_id(&join(&prefix, "servicePointId"), &link.service_point_id)?;
            let field = join(&prefix, "transformerCode");
            let transformer = check_id(&field, &link.transformer_code)?;
            if !matches!(kinds.get(&transformer), Some((NodeKind::Transformer, _))) {
                return Err(RecordError::new(
                    field,
                    format!("names `{transformer}`, which is not a transformer in this transfer"),
                ));
            }
            let what = format!("service point {service_point}");
            seen.check(
                service_point,
                index,
                "servicePoints",
                join(&prefix, "servicePointId"),
                &what,
            )?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Flow 12: device score (programs → grid)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceScoreBatch {
    pub transaction_id: String,
    pub scored_on: NaiveDate,
    pub scores: Vec<DeviceScore>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceScore {
    pub head_end_system: String,
    pub nic_id: String,
    pub program_code: String,
    /// Lower is cheaper; finite and at least 0.
    pub control_score: f64,
}

impl Validate for DeviceScoreBatch {
    fn validate(&self) -> Result<(), RecordError> {
        self.check()
            .map_err(|err| err.identify(&self.transaction_id))
    }
}

impl DeviceScoreBatch {
    fn check(&self) -> Result<(), RecordError> {
        check_id("transactionId", &self.transaction_id)?;
        let mut seen = Seen::new();
        for (index, score) in self.scores.iter().enumerate() {
            let prefix = item("scores", index);
            let (head_end_system, nic_id) =
                check_device_key(&prefix, &score.head_end_system, &score.nic_id)?;
            let program = check_id(&join(&prefix, "programCode"), &score.program_code)?;
            check_non_negative(&join(&prefix, "controlScore"), score.control_score)?;
            let what = format!("device {head_end_system} {nic_id} in program {program}");
            seen.check(
                (head_end_system, nic_id, program),
                index,
                "scores",
                join(&prefix, "nicId"),
                &what,
            )?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(record_id: &str) -> Value {
        json!({
            "recordId": record_id,
            "customerInfo": {
                "personId": "P-100",
                "accountId": "A-100",
                "name": "Ada Lovelace",
                "phone": "+1 555 010 0100",
                "email": "ada@example.com"
            },
            "programInfo": { "programCode": "SUMMER-SAVER" },
            "locationInfo": {
                "servicePointId": "SP-1",
                "premiseId": "PR-1",
                "address": { "street": "1 Main St", "city": "Springfield", "postalCode": "12345" },
                "timeZone": "America/Chicago",
                "transformerCode": "T-1"
            },
            "enrollmentSource": "X1BY",
            "ownership": "owned",
            "startDate": "2024-07-01",
            "assetInfo": {
                "assetList": [{
                    "headEndSystem": "ECOBEE",
                    "nicId": "a1b2c3",
                    "deviceType": "thermostat",
                    "specification": "ECOBEE-SMART",
                    "serialNumber": "SN-1",
                    "badge": "B-1",
                    "nominalKw": 3.5
                }]
            }
        })
    }

    fn batch(records: Vec<Value>) -> Vec<u8> {
        serde_json::to_vec(&json!({ "transactionId": "TX-1", "records": records })).unwrap()
    }

    fn time(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// Deserializes `sample`, serializes it back and asserts nothing was renamed, lost or added.
    fn assert_round_trips<T: Serialize + DeserializeOwned>(sample: &Value) -> T {
        let parsed: T = serde_json::from_value(sample.clone()).unwrap();
        assert_eq!(&serde_json::to_value(&parsed).unwrap(), sample);
        parsed
    }

    fn decode_json<T: DeserializeOwned + Validate>(value: &Value) -> Result<T, MessageError> {
        decode(&serde_json::to_vec(value).unwrap())
    }

    fn invalid<T: DeserializeOwned + Validate + fmt::Debug>(value: &Value) -> RecordError {
        match decode_json::<T>(value) {
            Err(MessageError::Invalid(err)) => err,
            other => panic!("expected a record error, got {other:?}"),
        }
    }

    // ---- flows and codes

    #[test]
    fn every_flow_code_parses_back_to_its_flow() {
        for flow in Flow::ALL {
            assert_eq!(Flow::parse(flow.as_str()), Some(flow));
        }
        assert_eq!(Flow::parse("enrolment_request"), None);
        let codes: HashSet<&str> = Flow::ALL.iter().map(|flow| flow.as_str()).collect();
        assert_eq!(codes.len(), 12);
    }

    #[test]
    fn flows_run_in_the_directions_of_the_domain_table() {
        let grid_to_programs: Vec<Flow> = Flow::ALL
            .into_iter()
            .filter(|flow| flow.direction() == Direction::GridToPrograms)
            .collect();
        assert_eq!(
            grid_to_programs,
            [
                Flow::EnrollmentRequest,
                Flow::StageStatus,
                Flow::DeviceReservation,
                Flow::DeviceOutcome,
                Flow::NetworkLocationTransfer
            ]
        );
        assert_eq!(Flow::DeviceScore.direction(), Direction::ProgramsToGrid);
    }

    #[test]
    fn codes_serialize_to_their_exact_wire_strings() {
        assert_eq!(
            serde_json::to_value(OutcomeCode::InFlightOverride).unwrap(),
            json!("D1IO")
        );
        assert_eq!(
            serde_json::to_value(LifecycleAction::Cancel).unwrap(),
            json!("F1CN")
        );
        assert_eq!(
            serde_json::to_value(EventCategory::Reliability).unwrap(),
            json!("X1RE")
        );
        assert_eq!(
            serde_json::to_value(EnrollmentSource::ContactCentre).unwrap(),
            json!("X1CC")
        );
        assert_eq!(
            serde_json::to_value(DeviceType::EvCharger).unwrap(),
            json!("ev_charger")
        );
        for code in OutcomeCode::ALL {
            assert_eq!(OutcomeCode::parse(code.as_str()), Some(*code));
            assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
        }
        assert_eq!(LifecycleAction::parse("f1cn"), None);
    }

    // ---- flow 1

    #[test]
    fn a_record_with_a_wrong_type_fails_alone_and_names_the_field() {
        let mut broken = record("R-2");
        broken["assetInfo"]["assetList"][0]["nominalKw"] = json!("lots");
        let body = batch(vec![record("R-1"), broken, record("R-3")]);

        let (transaction_id, results) = parse_enrollment_batch(&body, 10).unwrap();

        assert_eq!(transaction_id, "TX-1");
        assert_eq!(results.len(), 3);
        assert!(results[0].is_ok());
        assert!(results[2].is_ok());
        let err = results[1].as_ref().unwrap_err();
        assert_eq!(err.index, 1);
        assert_eq!(err.record_id.as_deref(), Some("R-2"));
        assert_eq!(err.field, "assetInfo.assetList[0].nominalKw");
        assert!(err.message.contains("lots"), "{}", err.message);
    }

    #[test]
    fn a_record_missing_a_nested_field_is_told_which_one() {
        let mut broken = record("R-1");
        broken["locationInfo"]["address"]
            .as_object_mut()
            .unwrap()
            .remove("postalCode");
        let (_, results) = parse_enrollment_batch(&batch(vec![broken]), 10).unwrap();
        let err = results[0].as_ref().unwrap_err();
        assert_eq!(err.field, "locationInfo.address.postalCode");
        assert_eq!(err.message, "is required");
    }

    #[test]
    fn a_record_that_is_not_an_object_is_reported_by_position() {
        let (_, results) =
            parse_enrollment_batch(&batch(vec![record("R-1"), json!(42)]), 10).unwrap();
        let err = results[1].as_ref().unwrap_err();
        assert_eq!(
            (err.index, err.record_id.as_deref(), err.field.as_str()),
            (1, None, "record")
        );
        assert_eq!(RecordResult::rejected(err).record_id, "");
    }

    #[test]
    fn a_checked_record_is_trimmed_with_an_uppercased_nic_id_and_a_parsed_start_date() {
        let mut raw = record("  R-1  ");
        raw["customerInfo"]["email"] = json!("   ");
        let (_, results) = parse_enrollment_batch(&batch(vec![raw]), 10).unwrap();
        let checked = results.into_iter().next().unwrap().unwrap();
        assert_eq!(checked.record_id, "R-1");
        assert_eq!(checked.assets[0].nic_id, "A1B2C3");
        assert_eq!(
            checked.start_date,
            NaiveDate::from_ymd_opt(2024, 7, 1).unwrap()
        );
        assert_eq!(checked.customer.email, None);
        assert_eq!(checked.source, EnrollmentSource::BringYourOwn);
    }

    #[test]
    fn duplicate_assets_in_one_record_are_rejected() {
        let mut raw = record("R-1");
        let mut twin = raw["assetInfo"]["assetList"][0].clone();
        twin["nicId"] = json!(" A1B2C3 ");
        raw["assetInfo"]["assetList"]
            .as_array_mut()
            .unwrap()
            .push(twin);

        let (_, results) = parse_enrollment_batch(&batch(vec![raw]), 10).unwrap();

        let err = results[0].as_ref().unwrap_err();
        assert_eq!(err.field, "assetInfo.assetList[1].nicId");
        assert!(
            err.message.contains("assetInfo.assetList[0]"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_record_without_assets_is_rejected() {
        let mut raw = record("R-1");
        raw["assetInfo"]["assetList"] = json!([]);
        let (_, results) = parse_enrollment_batch(&batch(vec![raw]), 10).unwrap();
        assert_eq!(
            results[0].as_ref().unwrap_err().field,
            "assetInfo.assetList"
        );
    }

    #[test]
    fn nominal_kw_must_be_above_zero_and_at_most_a_thousand() {
        for kw in [0.0, -1.0, 1000.5] {
            let mut raw = record("R-1");
            raw["assetInfo"]["assetList"][0]["nominalKw"] = json!(kw);
            let (_, results) = parse_enrollment_batch(&batch(vec![raw]), 10).unwrap();
            let err = results[0].as_ref().unwrap_err();
            assert_eq!(err.field, "assetInfo.assetList[0].nominalKw", "kw {kw}");
        }
        let mut raw = record("R-1");
        raw["assetInfo"]["assetList"][0]["nominalKw"] = json!(1000);
        assert!(parse_enrollment_batch(&batch(vec![raw]), 10).unwrap().1[0].is_ok());
    }

    #[test]
    fn a_start_date_not_written_yyyy_mm_dd_is_rejected() {
        for date in ["2024-7-01", "01/07/2024", "2024-02-30"] {
            let mut raw = record("R-1");
            raw["startDate"] = json!(date);
            let (_, results) = parse_enrollment_batch(&batch(vec![raw]), 10).unwrap();
            let err = results[0].as_ref().unwrap_err();
            assert_eq!(err.field, "startDate");
            assert!(err.message.contains(date), "{}", err.message);
        }
    }

    #[test]
    fn an_overlong_id_is_rejected() {
        let mut raw = record("R-1");
        raw["customerInfo"]["personId"] = json!("P".repeat(MAX_ID_CHARS + 1));
        let (_, results) = parse_enrollment_batch(&batch(vec![raw]), 10).unwrap();
        assert_eq!(
            results[0].as_ref().unwrap_err().field,
            "customerInfo.personId"
        );
    }

    #[test]
    fn an_unknown_enrollment_source_names_the_field_and_the_value() {
        let mut raw = record("R-1");
        raw["enrollmentSource"] = json!("X9ZZ");
        let (_, results) = parse_enrollment_batch(&batch(vec![raw]), 10).unwrap();
        let err = results[0].as_ref().unwrap_err();
        assert_eq!(err.field, "enrollmentSource");
        assert!(
            err.message.contains("X9ZZ") && err.message.contains("X1BY"),
            "{}",
            err.message
        );
    }

    #[test]
    fn an_oversized_batch_is_refused() {
        let body = batch(vec![record("R-1"), record("R-2"), record("R-3")]);
        assert_eq!(
            parse_enrollment_batch(&body, 2).unwrap_err(),
            RequestError::TooManyRecords { count: 3, max: 2 }
        );
    }

    #[test]
    fn malformed_json_is_a_request_error() {
        let err =
            parse_enrollment_batch(br#"{"transactionId": "TX-1", "records": ["#, 10).unwrap_err();
        assert!(matches!(err, RequestError::MalformedJson(_)), "{err:?}");
        assert!(matches!(
            decode::<CustomerOptOut>(b"not json"),
            Err(MessageError::Request(RequestError::MalformedJson(_)))
        ));
    }

    #[test]
    fn a_batch_without_a_transaction_id_or_a_records_array_is_a_request_error() {
        let no_id = serde_json::to_vec(&json!({ "records": [] })).unwrap();
        assert_eq!(
            parse_enrollment_batch(&no_id, 10).unwrap_err(),
            RequestError::MissingTransactionId
        );
        let not_array =
            serde_json::to_vec(&json!({ "transactionId": "TX-1", "records": {} })).unwrap();
        assert_eq!(
            parse_enrollment_batch(&not_array, 10).unwrap_err(),
            RequestError::RecordsNotArray
        );
        assert_eq!(
            parse_enrollment_batch(b"[]", 10).unwrap_err(),
            RequestError::NotAnObject
        );
    }

    #[test]
    fn enrollment_request_json_keeps_the_public_field_names() {
        let sample = json!({ "transactionId": "TX-1", "records": [record("R-1")] });
        let parsed: EnrollmentRequestBatch = assert_round_trips(&sample);
        assert_eq!(
            parsed.records[0].asset_info.asset_list[0].device_type,
            DeviceType::Thermostat
        );
        let back = serde_json::to_value(&parsed).unwrap();
        assert_eq!(
            back.pointer("/records/0/assetInfo/assetList/0/headEndSystem"),
            Some(&json!("ECOBEE"))
        );
        assert_eq!(
            back.pointer("/records/0/locationInfo/address/postalCode"),
            Some(&json!("12345"))
        );
        assert_eq!(
            back.pointer("/records/0/customerInfo/personId"),
            Some(&json!("P-100"))
        );
        assert_eq!(
            back.pointer("/records/0/programInfo/programCode"),
            Some(&json!("SUMMER-SAVER"))
        );
    }

    #[test]
    fn enrollment_request_ack_json_keeps_the_public_field_names() {
        let rejected = RecordError::new("startDate", "must be a calendar date")
            .in_record(1, Some("R-2".into()));
        let ack = EnrollmentRequestAck {
            transaction_id: "TX-1".into(),
            results: vec![
                RecordResult::created("R-1", 7),
                RecordResult::rejected(&rejected),
            ],
        };
        ack.validate().unwrap();
        let value = serde_json::to_value(&ack).unwrap();
        assert_eq!(
            value,
            json!({
                "transactionId": "TX-1",
                "results": [
                    { "recordId": "R-1", "status": "CREATED", "enrollmentId": 7, "errors": [] },
                    { "recordId": "R-2", "status": "REJECTED",
                      "errors": [{ "field": "startDate", "message": "must be a calendar date" }] }
                ]
            })
        );
        assert_round_trips::<EnrollmentRequestAck>(&value);
    }

    // ---- flow 2

    fn enrollment_sync() -> Value {
        json!({
            "transactionId": "TX-2",
            "action": "REPLACE_DEVICE",
            "enrollmentId": 42,
            "programCode": "SUMMER-SAVER",
            "servicePointId": "SP-1",
            "transformerCode": "T-1",
            "deviceList": [
                { "headEndSystem": "ECOBEE", "nicId": "NEW1", "deviceType": "battery", "nominalKw": 5.0 }
            ],
            "replacedDevice": { "headEndSystem": "ECOBEE", "nicId": "OLD1" }
        })
    }

    #[test]
    fn enrollment_sync_json_keeps_the_public_field_names() {
        let sync: EnrollmentSync = assert_round_trips(&enrollment_sync());
        sync.validate().unwrap();
        let ack = json!({
            "transactionId": "TX-2",
            "enrollmentId": 42,
            "deviceList": [
                { "headEndSystem": "ECOBEE", "nicId": "NEW1", "registrationStatus": "REGISTERED" },
                { "headEndSystem": "ECOBEE", "nicId": "NEW2", "registrationStatus": "NOT_REGISTERED",
                  "reason": "unknown to the head-end" }
            ]
        });
        let ack: EnrollmentSyncAck = assert_round_trips(&ack);
        ack.validate().unwrap();
    }

    #[test]
    fn a_device_replacement_must_name_the_replaced_device() {
        let mut sync = enrollment_sync();
        sync.as_object_mut().unwrap().remove("replacedDevice");
        let err = invalid::<EnrollmentSync>(&sync);
        assert_eq!(err.field, "replacedDevice");
        assert_eq!(err.record_id.as_deref(), Some("TX-2"));
    }

    #[test]
    fn a_device_that_was_not_registered_must_say_why() {
        let ack = json!({
            "transactionId": "TX-2", "enrollmentId": 42,
            "deviceList": [{ "headEndSystem": "ECOBEE", "nicId": "N1", "registrationStatus": "NOT_REGISTERED" }]
        });
        assert_eq!(
            invalid::<EnrollmentSyncAck>(&ack).field,
            "deviceList[0].reason"
        );
    }

    // ---- flow 3

    #[test]
    fn device_status_json_keeps_the_public_field_names() {
        let check = json!({ "transactionId": "TX-3", "deviceList": [{ "headEndSystem": "ECOBEE", "nicId": "N1" }] });
        assert_round_trips::<DeviceStatusCheck>(&check)
            .validate()
            .unwrap();
        let ack = json!({
            "transactionId": "TX-3",
            "deviceList": [
                { "headEndSystem": "ECOBEE", "nicId": "N1", "status": "ONLINE", "lastSeen": "2024-07-01T15:00:00Z" },
                { "headEndSystem": "ECOBEE", "nicId": "N2", "status": "UNKNOWN" }
            ]
        });
        let ack: DeviceStatusAck = assert_round_trips(&ack);
        assert_eq!(
            ack.device_list[0].last_seen,
            Some(time("2024-07-01T15:00:00Z"))
        );
    }

    #[test]
    fn a_status_check_listing_a_device_twice_is_refused() {
        let check = json!({ "transactionId": "TX-3", "deviceList": [
            { "headEndSystem": "ECOBEE", "nicId": "n1" }, { "headEndSystem": "ECOBEE", "nicId": "N1" }
        ] });
        assert_eq!(
            invalid::<DeviceStatusCheck>(&check).field,
            "deviceList[1].nicId"
        );
    }

    // ---- flow 4

    fn stage_status() -> Value {
        json!({
            "eventExternalIdentifier": "EV-1",
            "externalIdentifier": "EV-1-S1",
            "programCode": "SUMMER-SAVER",
            "eventCategory": "X1EM",
            "action": "F1CN",
            "reason": "feeder back to normal",
            "startTime": "2024-07-01T15:00:00Z",
            "endTime": "2024-07-01T17:00:00Z"
        })
    }

    #[test]
    fn stage_status_json_keeps_the_public_field_names() {
        let status: ProgramEventStatus = assert_round_trips(&stage_status());
        assert_eq!(status.action, LifecycleAction::Cancel);
        assert_eq!(status.event_category, EventCategory::Emergency);
        status.validate().unwrap();
    }

    #[test]
    fn a_cancel_without_a_reason_is_refused() {
        let mut status = stage_status();
        status.as_object_mut().unwrap().remove("reason");
        let err = invalid::<ProgramEventStatus>(&status);
        assert_eq!(err.field, "reason");
        assert!(err.message.contains("F1CN"), "{}", err.message);

        status["reason"] = json!("   ");
        assert_eq!(invalid::<ProgramEventStatus>(&status).field, "reason");
    }

    #[test]
    fn a_stage_that_ends_before_it_starts_is_refused() {
        let mut status = stage_status();
        status["endTime"] = json!("2024-07-01T15:00:00Z");
        let err = invalid::<ProgramEventStatus>(&status);
        assert_eq!(err.field, "endTime");
        assert!(
            err.to_string().contains("endTime must be after startTime"),
            "{err}"
        );
        assert_eq!(err.record_id.as_deref(), Some("EV-1-S1"));
    }

    #[test]
    fn an_unknown_event_category_names_the_field_and_the_value() {
        let mut status = stage_status();
        status["eventCategory"] = json!("X1ZZ");
        let err = invalid::<ProgramEventStatus>(&status);
        assert_eq!(err.field, "eventCategory");
        assert!(err.message.contains("X1ZZ"), "{}", err.message);
    }

    #[test]
    fn an_unreadable_time_names_the_field_and_the_value() {
        let mut status = stage_status();
        status["startTime"] = json!("yesterday");
        let err = invalid::<ProgramEventStatus>(&status);
        assert_eq!(err.field, "startTime");
        assert!(err.message.contains("yesterday"), "{}", err.message);
    }

    // ---- flow 5

    fn reservation() -> Value {
        json!({
            "eventExternalIdentifier": "EV-1",
            "externalIdentifier": "EV-1-S1",
            "programCode": "SUMMER-SAVER",
            "startTime": "2024-07-01T15:00:00Z",
            "endTime": "2024-07-01T17:00:00Z",
            "deviceList": [
                { "headEndSystem": "ECOBEE", "nicId": "N1", "enrollmentId": 42, "expectedKw": 1.5 },
                { "headEndSystem": "ECOBEE", "nicId": "N2", "expectedKw": 0.75 }
            ]
        })
    }

    #[test]
    fn device_reservation_json_keeps_the_public_field_names() {
        let parsed: DeviceReservation = assert_round_trips(&reservation());
        parsed.validate().unwrap();
        let back = serde_json::to_value(&parsed).unwrap();
        assert_eq!(back.pointer("/deviceList/0/expectedKw"), Some(&json!(1.5)));
        assert_eq!(
            back.pointer("/eventExternalIdentifier"),
            Some(&json!("EV-1"))
        );
    }

    #[test]
    fn a_reservation_with_a_negative_expected_kw_is_refused() {
        let mut value = reservation();
        value["deviceList"][1]["expectedKw"] = json!(-2.0);
        assert_eq!(
            invalid::<DeviceReservation>(&value).field,
            "deviceList[1].expectedKw"
        );
    }

    #[test]
    fn reservation_csv_reads_every_row_in_any_column_order() {
        let csv = "expectedKw,headEndSystem,nicId,enrollmentId\n1.5,ECOBEE,N1,42\n 0.75 , ECOBEE , N2 ,\n";
        let devices = parse_reservation_csv(csv.as_bytes()).unwrap();
        assert_eq!(
            devices,
            vec![
                ReservedDevice {
                    head_end_system: "ECOBEE".into(),
                    nic_id: "N1".into(),
                    enrollment_id: Some(42),
                    expected_kw: 1.5
                },
                ReservedDevice {
                    head_end_system: "ECOBEE".into(),
                    nic_id: "N2".into(),
                    enrollment_id: None,
                    expected_kw: 0.75
                },
            ]
        );
    }

    #[test]
    fn reservation_csv_with_two_broken_rows_reports_both_line_numbers() {
        let csv = "headEndSystem,nicId,enrollmentId,expectedKw\n\
                   ECOBEE,N1,42,1.5\n\
                   ECOBEE,N2,abc,1.0\n\
                   ECOBEE,N3,43,2.0\n\
                   ,N4,44,lots\n";
        let errors = parse_reservation_csv(csv.as_bytes()).unwrap_err();
        let lines: Vec<u64> = errors.iter().map(|err| err.line).collect();
        assert_eq!(lines, [3, 5, 5], "{errors:?}");
        assert!(
            errors[0].message.starts_with("enrollmentId"),
            "{}",
            errors[0]
        );
        assert!(errors
            .iter()
            .any(|err| err.message.starts_with("headEndSystem")));
        assert!(errors.iter().any(|err| err.message.contains("lots")));
    }

    #[test]
    fn reservation_csv_without_the_expected_header_is_refused() {
        let errors = parse_reservation_csv(b"ECOBEE,N1,42,1.5\n").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 1);
        assert!(errors[0].message.contains("headEndSystem"), "{}", errors[0]);
        assert!(parse_reservation_csv(b"").is_err());
        assert!(parse_reservation_csv(b"headEndSystem,nicId,enrollmentId,expectedKw\n").is_err());
    }

    #[test]
    fn reservation_csv_listing_a_device_twice_is_refused_at_the_second_line() {
        let csv = "headEndSystem,nicId,enrollmentId,expectedKw\nECOBEE,n1,,1\nECOBEE,N1,,1\n";
        let errors = parse_reservation_csv(csv.as_bytes()).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 3);
        assert!(errors[0].message.contains("line 2"), "{}", errors[0]);
    }

    // ---- flow 6

    fn outcomes() -> Value {
        json!({
            "eventExternalIdentifier": "EV-1",
            "externalIdentifier": "EV-1-S1",
            "postOutcomeList": [
                { "headEndSystem": "ECOBEE", "nicId": "N1", "outcome": "D1SP",
                  "participationStart": "2024-07-01T15:00:00Z", "participationEnd": "2024-07-01T17:00:00Z" },
                { "headEndSystem": "ECOBEE", "nicId": "N2", "outcome": "D1ND" }
            ]
        })
    }

    #[test]
    fn device_outcome_json_keeps_the_public_field_names() {
        let parsed: DeviceOutcomeBatch = assert_round_trips(&outcomes());
        parsed.validate().unwrap();
        let back = serde_json::to_value(&parsed).unwrap();
        assert_eq!(
            back.pointer("/postOutcomeList/0/outcome"),
            Some(&json!("D1SP"))
        );
        assert_eq!(
            back.pointer("/postOutcomeList/0/participationStart"),
            Some(&json!("2024-07-01T15:00:00Z"))
        );
    }

    #[test]
    fn an_unknown_outcome_code_names_the_field_and_the_value() {
        let mut value = outcomes();
        value["postOutcomeList"][1]["outcome"] = json!("D1XX");
        let err = invalid::<DeviceOutcomeBatch>(&value);
        assert_eq!(err.field, "postOutcomeList[1].outcome");
        assert!(
            err.message.contains("D1XX") && err.message.contains("D1SP"),
            "{}",
            err.message
        );
        assert!(
            err.to_string()
                .contains("postOutcomeList[1].outcome has unknown code `D1XX`"),
            "{err}"
        );
    }

    #[test]
    fn a_participated_outcome_needs_its_participation_window() {
        let mut value = outcomes();
        value["postOutcomeList"][0]
            .as_object_mut()
            .unwrap()
            .remove("participationEnd");
        let err = invalid::<DeviceOutcomeBatch>(&value);
        assert_eq!(
            (err.index, err.field.as_str()),
            (0, "postOutcomeList[0].participationEnd")
        );

        let mut value = outcomes();
        value["postOutcomeList"][0]["participationEnd"] = json!("2024-07-01T14:00:00Z");
        assert_eq!(
            invalid::<DeviceOutcomeBatch>(&value).field,
            "postOutcomeList[0].participationEnd"
        );
    }

    #[test]
    fn outcome_flat_file_reads_every_line_and_skips_a_header() {
        let file = "headEndSystem|nicId|outcome|participationStart|participationEnd\n\
                    ECOBEE|N1|D1SP|2024-07-01T15:00:00Z|2024-07-01T17:00:00Z\n\
                    ECOBEE|N2|D1IO|2024-07-01T15:00:00Z|2024-07-01T15:30:00-05:00\n\
                    \n\
                    ECOBEE|N3|D1ND||\n";
        let outcomes = parse_outcome_flat_file(file.as_bytes()).unwrap();
        assert_eq!(outcomes.len(), 3);
        assert_eq!(
            outcomes[1].participation_end,
            Some(time("2024-07-01T20:30:00Z"))
        );
        assert_eq!(outcomes[2].outcome, OutcomeCode::NonResponsive);
        assert_eq!(outcomes[2].participation_start, None);
    }

    #[test]
    fn outcome_flat_file_is_all_or_nothing() {
        let file = "ECOBEE|N1|D1SP|2024-07-01T15:00:00Z|2024-07-01T17:00:00Z\n\
                    ECOBEE|N2|D1XX||\n\
                    ECOBEE|N3|D1ND||\n\
                    ECOBEE|N4|D1SP|soon|\n\
                    ECOBEE|N5|D1ND\n";
        let errors = parse_outcome_flat_file(file.as_bytes()).unwrap_err();
        let lines: Vec<u64> = errors.iter().map(|err| err.line).collect();
        assert_eq!(lines, [2, 4, 4, 5], "{errors:?}");
        assert!(errors[0].message.contains("outcome") && errors[0].message.contains("D1XX"));
        assert!(
            errors[1].message.starts_with("participationStart")
                && errors[1].message.contains("soon")
        );
        assert!(
            errors[2]
                .message
                .starts_with("participationEnd is required"),
            "{}",
            errors[2]
        );
    }

    // ---- flows 7 and 8

    #[test]
    fn customer_opt_out_json_keeps_the_public_field_names() {
        let value = json!({
            "transactionId": "TX-7",
            "eventExternalIdentifier": "EV-1",
            "headEndSystem": "ECOBEE",
            "nicId": "N1",
            "requestedAt": "2024-07-01T12:00:00Z"
        });
        let opt_out: CustomerOptOut = assert_round_trips(&value);
        opt_out.validate().unwrap();
        let decoded: CustomerOptOut = decode_json(&value).unwrap();
        assert_eq!(decoded, opt_out);
    }

    fn unavailability() -> Value {
        json!({
            "transactionId": "TX-8",
            "action": "ADD",
            "windowId": "W-1",
            "headEndSystem": "ECOBEE",
            "nicId": "N1",
            "startTime": "2024-07-10T00:00:00Z",
            "endTime": "2024-07-20T00:00:00Z",
            "reason": "on holiday, house empty"
        })
    }

    #[test]
    fn customer_unavailability_json_keeps_the_public_field_names() {
        assert_round_trips::<CustomerUnavailability>(&unavailability())
            .validate()
            .unwrap();
    }

    #[test]
    fn an_unavailability_window_must_end_after_it_starts_unless_cancelled() {
        let mut value = unavailability();
        value["endTime"] = json!("2024-07-01T00:00:00Z");
        assert_eq!(invalid::<CustomerUnavailability>(&value).field, "endTime");
        value["action"] = json!("CANCEL");
        decode_json::<CustomerUnavailability>(&value).unwrap();
    }

    // ---- flow 9

    fn rule_sync() -> Value {
        json!({
            "transactionId": "TX-9",
            "action": "LINK",
            "programCode": "SUMMER-SAVER",
            "rule": {
                "effectiveFrom": "2024-06-01",
                "cycle": "weekly",
                "weekStart": 1,
                "maxEventsPerCycle": 3,
                "maxMinutesPerCycle": 480,
                "minGapMinutes": 720,
                "minEventMinutes": 30,
                "maxEventMinutes": 240,
                "maxOverrides": 2,
                "windowStartMinute": 600,
                "windowEndMinute": 1260,
                "activationCost": 1.25,
                "burnRateFactor": 0.5,
                "scoreFactor": 2.0,
                "overridable": true
            }
        })
    }

    #[test]
    fn program_rule_sync_json_keeps_the_public_field_names() {
        let sync: ProgramRuleSync = assert_round_trips(&rule_sync());
        sync.validate().unwrap();
        assert_eq!(sync.rule.cycle, RuleCycle::Weekly);
    }

    #[test]
    fn a_rule_with_min_event_minutes_above_max_event_minutes_is_refused() {
        let mut value = rule_sync();
        value["rule"]["minEventMinutes"] = json!(300);
        let err = invalid::<ProgramRuleSync>(&value);
        assert_eq!(err.field, "rule.minEventMinutes");
        assert!(err.message.contains("maxEventMinutes"), "{}", err.message);
    }

    #[test]
    fn a_rule_window_and_week_start_must_be_in_range() {
        let mut value = rule_sync();
        value["rule"]["windowEndMinute"] = json!(1500);
        assert_eq!(
            invalid::<ProgramRuleSync>(&value).field,
            "rule.windowEndMinute"
        );
        let mut value = rule_sync();
        value["rule"]["windowEndMinute"] = json!(600);
        assert_eq!(
            invalid::<ProgramRuleSync>(&value).field,
            "rule.windowEndMinute"
        );
        let mut value = rule_sync();
        value["rule"]["weekStart"] = json!(7);
        assert_eq!(invalid::<ProgramRuleSync>(&value).field, "rule.weekStart");
        let mut value = rule_sync();
        value["rule"]["maxOverrides"] = json!(-1);
        assert_eq!(
            invalid::<ProgramRuleSync>(&value).field,
            "rule.maxOverrides"
        );
    }

    // ---- flow 10

    #[test]
    fn aggregator_sync_json_keeps_the_public_field_names() {
        let value = json!({
            "transactionId": "TX-10",
            "externalReference": "AGG-7",
            "name": "Volt Partners",
            "status": "active",
            "startDate": "2024-01-01",
            "endDate": "2025-12-31",
            "contactName": "Grace Hopper",
            "contactEmail": "grace@volt.example",
            "programCodes": ["SUMMER-SAVER", "EV-FLEX"]
        });
        assert_round_trips::<AggregatorSync>(&value)
            .validate()
            .unwrap();
    }

    #[test]
    fn an_aggregator_ending_before_it_starts_is_refused() {
        let value = json!({
            "transactionId": "TX-10", "externalReference": "AGG-7", "name": "Volt Partners",
            "status": "active", "startDate": "2024-01-01", "endDate": "2023-12-31",
            "contactName": "Grace Hopper", "contactEmail": "grace@volt.example", "programCodes": []
        });
        assert_eq!(invalid::<AggregatorSync>(&value).field, "endDate");
    }

    // ---- flow 11

    fn network() -> Value {
        json!({
            "transactionId": "TX-11",
            "exportedAt": "2024-07-01T00:00:00Z",
            "nodes": [
                { "code": "SUB-1", "kind": "substation", "name": "North", "validFrom": "2020-01-01" },
                { "code": "F-1", "kind": "feeder", "name": "North 1", "parentCode": "SUB-1", "validFrom": "2020-01-01" },
                { "code": "T-1", "kind": "transformer", "name": "Pole 17", "parentCode": "F-1", "validFrom": "2020-01-01" }
            ],
            "servicePoints": [{ "servicePointId": "SP-1", "transformerCode": "T-1" }]
        })
    }

    #[test]
    fn network_location_transfer_json_keeps_the_public_field_names() {
        let transfer: NetworkLocationTransfer = assert_round_trips(&network());
        transfer.validate().unwrap();
        assert_eq!(transfer.nodes[2].kind, NodeKind::Transformer);
    }

    #[test]
    fn a_node_whose_parent_is_not_in_the_transfer_is_refused() {
        let mut value = network();
        value["nodes"][2]["parentCode"] = json!("F-9");
        let err = invalid::<NetworkLocationTransfer>(&value);
        assert_eq!(err.field, "nodes[2].parentCode");
        assert!(err.message.contains("F-9"), "{}", err.message);

        let mut value = network();
        value["nodes"][2]["parentCode"] = json!("SUB-1");
        assert_eq!(
            invalid::<NetworkLocationTransfer>(&value).field,
            "nodes[2].parentCode"
        );
    }

    #[test]
    fn a_service_point_on_an_unknown_transformer_is_refused() {
        let mut value = network();
        value["servicePoints"][0]["transformerCode"] = json!("F-1");
        assert_eq!(
            invalid::<NetworkLocationTransfer>(&value).field,
            "servicePoints[0].transformerCode"
        );
    }

    // ---- flow 12

    #[test]
    fn device_score_json_keeps_the_public_field_names() {
        let value = json!({
            "transactionId": "TX-12",
            "scoredOn": "2024-07-02",
            "scores": [{ "headEndSystem": "ECOBEE", "nicId": "N1", "programCode": "SUMMER-SAVER", "controlScore": 12.5 }]
        });
        let batch: DeviceScoreBatch = assert_round_trips(&value);
        batch.validate().unwrap();
        assert_eq!(
            batch.scored_on,
            NaiveDate::from_ymd_opt(2024, 7, 2).unwrap()
        );
    }

    #[test]
    fn a_negative_control_score_is_refused() {
        let value = json!({
            "transactionId": "TX-12", "scoredOn": "2024-07-02",
            "scores": [{ "headEndSystem": "ECOBEE", "nicId": "N1", "programCode": "P", "controlScore": -0.5 }]
        });
        assert_eq!(
            invalid::<DeviceScoreBatch>(&value).field,
            "scores[0].controlScore"
        );
    }

    // ---- envelope

    #[test]
    fn an_envelope_keeps_the_public_field_names_and_its_payload_errors_are_rooted_at_payload() {
        let envelope = Envelope::new(
            Flow::CustomerOptOut,
            "M-1",
            time("2024-07-01T12:00:00Z"),
            CustomerOptOut {
                transaction_id: "TX-7".into(),
                event_external_identifier: "EV-1".into(),
                head_end_system: "ECOBEE".into(),
                nic_id: "".into(),
                requested_at: time("2024-07-01T11:59:00Z"),
            },
        )
        .answering("M-0");
        let value = serde_json::to_value(&envelope).unwrap();
        assert_eq!(value["messageId"], json!("M-1"));
        assert_eq!(value["flow"], json!("customer_opt_out"));
        assert_eq!(value["correlationId"], json!("M-0"));
        assert_eq!(value["sentAt"], json!("2024-07-01T12:00:00Z"));
        assert_eq!(
            value["payload"]["requestedAt"],
            json!("2024-07-01T11:59:00Z")
        );

        let body = serde_json::to_vec(&value).unwrap();
        match decode_envelope::<CustomerOptOut>(&body, Flow::CustomerOptOut) {
            Err(MessageError::Invalid(err)) => assert_eq!(err.field, "payload.nicId"),
            other => panic!("expected a record error, got {other:?}"),
        }
    }

    #[test]
    fn an_envelope_for_another_flow_is_refused() {
        let envelope = Envelope::new(
            Flow::DeviceStatusCheck,
            "M-1",
            time("2024-07-01T12:00:00Z"),
            serde_json::from_value::<DeviceStatusCheck>(json!({
                "transactionId": "TX-3", "deviceList": [{ "headEndSystem": "ECOBEE", "nicId": "N1" }]
            }))
            .unwrap(),
        );
        let body = serde_json::to_vec(&envelope).unwrap();
        decode_envelope::<DeviceStatusCheck>(&body, Flow::DeviceStatusCheck).unwrap();
        match decode_envelope::<DeviceStatusCheck>(&body, Flow::EnrollmentSync) {
            Err(MessageError::Invalid(err)) => {
                assert_eq!(err.field, "flow");
                assert_eq!(err.record_id.as_deref(), Some("M-1"));
            }
            other => panic!("expected a record error, got {other:?}"),
        }
        let mut unknown = serde_json::to_value(&envelope).unwrap();
        unknown["flow"] = json!("device_teleport");
        let err = invalid::<Envelope<DeviceStatusCheck>>(&unknown);
        assert!(err.message.contains("device_teleport"), "{}", err.message);
    }
}
