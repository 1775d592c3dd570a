//! Flow 1 the other way round: a GridFlex enrollment-request batch as the published
//! middleware sends it to a program side that speaks the published contract
//! (`GRIDFLEX_PROGRAMS_DIALECT=published`) — one enroll document per record — and the
//! published answer of each call read back into the record's result of GridFlex's own flow 1
//! acknowledgement, so the grid side records it as it records an answer in its own envelope.

use serde_json::{json, Map, Value};

use super::enroll::{asset_type_code, ownership_code, ACK_ERROR, ACK_SUCCESS};
use super::enroll::{ALREADY_EXISTS_MESSAGE_NBR, MAX_TRANSACTION_ID_CHARS};
use crate::integration::wire::{DeviceType, Ownership, RecordErrorWire};

/// Copies `from[key]` into `to[name]` when it is there.
fn copy(to: &mut Map<String, Value>, name: &str, from: &Value, key: &str) {
    match from.get(key) {
        None | Some(Value::Null) => {}
        Some(v) => {
            to.insert(name.to_owned(), v.clone());
        }
    }
}

/// The published enroll document of one GridFlex record. Its `transactionId` is the
/// message's id and the record's position (`{message_id}-{n}`, from 1), so a redelivery of
/// the message sends the same documents and the program side answers them as before. The
/// published extras a record received in the published shape carries (`publishedInfo`)
/// go back into their places; the transformer is not sent (the program side takes it from
/// where it places the service point) nor the nominal kW (the published shape has none).
/// A record the published shape cannot say is refused here, naming the field.
fn enroll_document(transaction_id: &str, record: &Value) -> Result<Value, RecordErrorWire> {
    let extras = &record["publishedInfo"];
    let ownership = match record["ownership"].as_str().map(Ownership::parse) {
        Some(Some(o)) => match ownership_code(o) {
            Some(code) => json!(code),
            None => {
                return Err(RecordErrorWire {
                    field: "assetInfo.assetOwnership".into(),
                    message: format!(
                        "`{}` has no published code; allowed: W1CO (utility), W1OW (owned)",
                        o.as_str()
                    ),
                })
            }
        },
        // Sent as it is: the program side names the field and the allowed codes.
        _ => record["ownership"].clone(),
    };
    let c = &record["customerInfo"];
    let mut customer = Map::new();
    copy(&mut customer, "cisPersonId", c, "personId");
    copy(&mut customer, "cisAccountId", c, "accountId");
    copy(&mut customer, "name", c, "name");
    copy(&mut customer, "homePhone", c, "phone");
    copy(&mut customer, "businessPhone", extras, "businessPhone");
    copy(&mut customer, "email", c, "email");

    let mut program = Map::new();
    copy(
        &mut program,
        "cisServiceAgreementId",
        extras,
        "cisServiceAgreementId",
    );
    copy(
        &mut program,
        "programCode",
        &record["programInfo"],
        "programCode",
    );
    if let Some(date) = record["startDate"].as_str() {
        program.insert("startDateTimeISO".into(), json!(format!("{date}T00:00:00")));
    }

    let l = &record["locationInfo"];
    let address = &l["address"];
    let mut location = Map::new();
    copy(&mut location, "locationId", extras, "locationId");
    copy(&mut location, "division", extras, "division");
    copy(&mut location, "cisPremiseId", l, "premiseId");
    copy(&mut location, "cisServicePointId", l, "servicePointId");
    copy(&mut location, "timeZone", l, "timeZone");
    copy(&mut location, "address1", address, "street");
    copy(&mut location, "city", address, "city");
    copy(&mut location, "country", extras, "country");
    copy(&mut location, "county", extras, "county");
    copy(&mut location, "state", extras, "state");
    copy(&mut location, "postal", address, "postalCode");

    let assets: Vec<Value> = record["assetInfo"]["assetList"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(index, a)| {
            let mut asset = Map::new();
            asset.insert("sequence".into(), json!((index + 1).to_string()));
            copy(&mut asset, "specification", a, "specification");
            let asset_type = match a["deviceType"].as_str().map(DeviceType::parse) {
                Some(Some(t)) => json!(asset_type_code(t)),
                _ => a["deviceType"].clone(),
            };
            if !asset_type.is_null() {
                asset.insert("assetType".into(), asset_type);
            }
            copy(&mut asset, "badgeNo", a, "badge");
            copy(&mut asset, "serialNo", a, "serialNumber");
            copy(&mut asset, "nicId", a, "nicId");
            copy(&mut asset, "headEndSystem", a, "headEndSystem");
            Value::Object(asset)
        })
        .collect();
    let mut asset_info = Map::new();
    copy(
        &mut asset_info,
        "installationMethod",
        extras,
        "installationMethod",
    );
    asset_info.insert("assetOwnership".into(), ownership);
    asset_info.insert("assetList".into(), json!(assets));

    Ok(json!({
        "transactionId": transaction_id,
        "enrollmentSource": record["enrollmentSource"],
        "customerInfo": customer,
        "programInfo": program,
        "locationInfo": location,
        "assetInfo": asset_info,
    }))
}

/// One published enroll document per record of a flow 1 batch, in order, with the record's
/// own `recordId` (to answer it under); a record the published shape cannot carry is the
/// error to answer it with.
pub fn published_enrollments(
    message_id: &str,
    payload: &Value,
) -> Vec<(String, Result<Value, RecordErrorWire>)> {
    payload["records"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(index, record)| {
            let record_id = record["recordId"].as_str().unwrap_or_default().to_owned();
            let mut transaction_id = format!("{message_id}-{}", index + 1);
            transaction_id.truncate(MAX_TRANSACTION_ID_CHARS);
            (record_id, enroll_document(&transaction_id, record))
        })
        .collect()
}

/// A refused record's result in GridFlex's flow 1 acknowledgement.
pub fn rejected_result(record_id: &str, errors: Vec<RecordErrorWire>) -> Value {
    json!({"recordId": record_id, "status": "REJECTED", "errors": errors})
}

/// The result of `record_id` in GridFlex's flow 1 acknowledgement, read from the published
/// answer to its enroll call: `SUCCESS` is created, or already there with message number
/// `10589`; `ERROR` is refused with the record's errors (published field names). `Err` says
/// why the answer is a technical fault (`FAILURE`, no acknowledgement, or one that cannot
/// be read): the message is retried.
pub fn enrollment_result(record_id: &str, answer: &Value) -> Result<Value, String> {
    let item = &answer["collection"][0];
    match answer["ackType"].as_str() {
        Some(ACK_SUCCESS) => {
            let Some(id) = item["enrollmentId"].as_i64() else {
                return Err("a SUCCESS answer without an enrollmentId".into());
            };
            let status = if item["messageNbr"] == ALREADY_EXISTS_MESSAGE_NBR {
                "ALREADY_EXISTS"
            } else {
                "CREATED"
            };
            Ok(json!({"recordId": record_id, "status": status, "enrollmentId": id, "errors": []}))
        }
        Some(ACK_ERROR) => {
            let mut errors: Vec<RecordErrorWire> = item["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| RecordErrorWire {
                    field: e["field"].as_str().unwrap_or("body").to_owned(),
                    message: e["message"].as_str().unwrap_or("refused").to_owned(),
                })
                .collect();
            if errors.is_empty() {
                errors.push(RecordErrorWire {
                    field: "body".into(),
                    message: item["message"]
                        .as_str()
                        .unwrap_or("refused by the program side")
                        .to_owned(),
                });
            }
            Ok(rejected_result(record_id, errors))
        }
        Some(other) => Err(format!("ackType {other}")),
        None => Err("no acknowledgement".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::wire::published::EnrollDocument;

    fn record(record_id: &str, ownership: &str) -> Value {
        json!({"recordId": record_id,
            "customerInfo": {"personId": "P-1", "accountId": "A-1", "name": "Ada", "email": "ada@example.com"},
            "programInfo": {"programCode": "SMT-BYOD"},
            "locationInfo": {"servicePointId": "SP-1", "premiseId": "PR-1", "timeZone": "America/Chicago",
                "transformerCode": "T-1",
                "address": {"street": "1 Main St", "city": "Riverside", "postalCode": "60546"}},
            "enrollmentSource": "X1BY", "ownership": ownership, "startDate": "2026-06-01",
            "assetInfo": {"assetList": [{"headEndSystem": "ECOBEE", "nicId": "N1",
                "deviceType": "ev_charger", "specification": "spec", "serialNumber": "S1", "nominalKw": 7.0}]}})
    }

    #[test]
    fn each_record_is_a_published_enroll_document_the_program_side_accepts() {
        let batch = json!({"transactionId": "B-1", "records": [record("R-1", "owned"), record("R-2", "utility")]});
        let docs = published_enrollments("M-1", &batch);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].0, "R-2");
        let doc = EnrollDocument::parse(docs[0].1.as_ref().unwrap()).unwrap();
        assert_eq!(doc.transaction_id, "M-1-1");
        assert_eq!(doc.asset_info.asset_ownership, "W1OW");
        assert_eq!(doc.asset_info.asset_list[0].asset_type, "EVCHARGER");
        assert_eq!(
            doc.asset_info.asset_list[0].serial_no.as_deref(),
            Some("S1")
        );
        assert_eq!(doc.program_info.start_date_time_iso, "2026-06-01T00:00:00");
        assert_eq!(doc.location_info.cis_service_point_id, "SP-1");
        let doc = EnrollDocument::parse(docs[1].1.as_ref().unwrap()).unwrap();
        assert_eq!(doc.transaction_id, "M-1-2");
        assert_eq!(doc.asset_info.asset_ownership, "W1CO");
    }

    #[test]
    fn a_leased_record_has_no_published_code_and_is_refused_naming_the_field() {
        let batch = json!({"transactionId": "B-1", "records": [record("R-1", "leased")]});
        let error = published_enrollments("M-1", &batch)
            .remove(0)
            .1
            .unwrap_err();
        assert_eq!(error.field, "assetInfo.assetOwnership");
    }

    #[test]
    fn published_answers_become_the_record_s_result() {
        let created = json!({"ackType": "SUCCESS", "collection": [{"responseCode": "SUCCESS", "enrollmentId": 7}]});
        assert_eq!(
            enrollment_result("R", &created).unwrap()["status"],
            "CREATED"
        );
        let there = json!({"ackType": "SUCCESS", "collection": [{"responseCode": "SUCCESS", "messageNbr": "10589", "enrollmentId": 7}]});
        let result = enrollment_result("R", &there).unwrap();
        assert_eq!(
            (result["status"].as_str(), result["enrollmentId"].as_i64()),
            (Some("ALREADY_EXISTS"), Some(7))
        );
        let refused = json!({"ackType": "ERROR", "collection": [{"responseCode": "ERROR", "message": "bad",
            "errors": [{"field": "customerInfo.email", "message": "is not an email"}]}]});
        let result = enrollment_result("R", &refused).unwrap();
        assert_eq!(result["status"], "REJECTED");
        assert_eq!(result["errors"][0]["field"], "customerInfo.email");
        let failure = json!({"ackType": "FAILURE", "collection": [{"responseCode": "FAILURE", "message": "log ref"}]});
        assert!(enrollment_result("R", &failure).is_err());
        assert!(enrollment_result("R", &Value::Null).is_err());
    }
}
