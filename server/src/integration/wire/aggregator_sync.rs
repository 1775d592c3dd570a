//! Flow 10, aggregator sync (programs → grid): an aggregator created or updated.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::check::{check_email, check_id, check_text, item, Seen, MAX_TEXT_CHARS};
use super::code::wire_code;
use super::{Flow, Outbound, RecordError, Validate};

wire_code! {
    /// Aggregator status (flow 10).
    pub enum AggregatorStatus {
        Active = "active",
        Inactive = "inactive",
    }
}

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

impl Outbound for AggregatorSync {
    const FLOW: Flow = Flow::AggregatorSync;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::wire::fixtures::*;
    use serde_json::json;

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
}
