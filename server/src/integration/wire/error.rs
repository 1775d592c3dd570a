//! Why a message, or one record of a batch, was refused: the field by its wire path and what is wrong with it.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::check::join;

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
    pub(super) fn identify(mut self, id: &str) -> Self {
        let id = id.trim();
        if self.record_id.is_none() && !id.is_empty() {
            self.record_id = Some(id.to_owned());
        }
        self
    }

    /// Re-roots the field path under `prefix` (a message nested in an envelope).
    pub(super) fn under(mut self, prefix: &str) -> Self {
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
    pub(super) fn malformed(err: serde_json::Error) -> Self {
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

/// A [`RecordError`] as an acknowledgement carries it (flow 1's `errors`).
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
