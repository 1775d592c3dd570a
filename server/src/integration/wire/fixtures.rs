//! Helpers the flows' unit tests share.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::{decode, MessageError, RecordError, Validate};

pub(super) fn time(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// Deserializes `sample`, serializes it back and asserts nothing was renamed, lost or added.
pub(super) fn assert_round_trips<T: Serialize + DeserializeOwned>(sample: &Value) -> T {
    let parsed: T = serde_json::from_value(sample.clone()).unwrap();
    assert_eq!(&serde_json::to_value(&parsed).unwrap(), sample);
    parsed
}

pub(super) fn decode_json<T: DeserializeOwned + Validate>(
    value: &Value,
) -> Result<T, MessageError> {
    decode(&serde_json::to_vec(value).unwrap())
}

pub(super) fn invalid<T: DeserializeOwned + Validate + fmt::Debug>(value: &Value) -> RecordError {
    match decode_json::<T>(value) {
        Err(MessageError::Invalid(err)) => err,
        other => panic!("expected a record error, got {other:?}"),
    }
}
