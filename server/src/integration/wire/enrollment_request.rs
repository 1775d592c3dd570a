//! Flow 1, enrollment request (grid → programs): a batch of records, each checked and answered on its own.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::check::{
    check_date, check_email, check_enrollment_id, check_id, check_non_empty, check_optional_text,
    check_phone, check_text, check_time_zone, item, join, Seen, MAX_ID_CHARS, MAX_TEXT_CHARS,
};
use super::code::wire_code;
use super::device::{check_device_key, check_nominal_kw, DeviceType};
use super::{from_json, RecordError, RecordErrorWire, RequestError, Validate};

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
    /// What became of one record of an enrollment request (flow 1 acknowledgement).
    pub enum RecordStatus {
        Created = "CREATED",
        /// The same enrollment was already there: a resend, not an error.
        AlreadyExists = "ALREADY_EXISTS",
        Rejected = "REJECTED",
    }
}

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
    /// What a record received in the published shape carries beyond GridFlex's own fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_info: Option<super::published::PublishedExtras>,
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
    pub published: Option<super::published::PublishedExtras>,
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
            published: self.published_info.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::wire::fixtures::*;
    use crate::integration::wire::{decode, CustomerOptOut, MessageError};
    use serde_json::{json, Value};

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
}
