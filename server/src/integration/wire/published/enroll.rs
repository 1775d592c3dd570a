//! Published flow 1, enroll (`POST …/programEnrollments/enroll`): the document under its
//! published field names, checked so that every bad field is named by its published path,
//! translated into one GridFlex enrollment record; and the published acknowledgement.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::integration::wire::check::{
    check_date, check_email, check_phone, check_text, check_time_zone, item, join, MAX_ID_CHARS,
    MAX_TEXT_CHARS,
};
use crate::integration::wire::device::check_nic_id;
use crate::integration::wire::{DeviceType, EnrollmentSource, Ownership, RecordErrorWire};

/// The published limit of `transactionId`.
pub const MAX_TRANSACTION_ID_CHARS: usize = 120;
/// The published message number of "this enrollment already exists" (not an error).
pub const ALREADY_EXISTS_MESSAGE_NBR: &str = "10589";
pub const ACK_SUCCESS: &str = "SUCCESS";
/// A business error: the document was read and refused; the collection says why.
pub const ACK_ERROR: &str = "ERROR";
/// A technical failure: the document could not be read, or GridFlex failed.
pub const ACK_FAILURE: &str = "FAILURE";

/// The published asset ownership codes and GridFlex's reading of them: `W1CO` company
/// (utility) owned, `W1OW` owned by the customer.
const OWNERSHIPS: [(&str, Ownership); 2] =
    [("W1CO", Ownership::Utility), ("W1OW", Ownership::Owned)];

/// The published `assetType` values GridFlex knows (compared ignoring case, spaces, `-` and
/// `_`), with the device type each becomes and the nominal kW assumed, since the published
/// shape carries none.
const ASSET_TYPES: [(&str, DeviceType, f64); 6] = [
    ("THERMOSTAT", DeviceType::Thermostat, 3.0),
    ("EVCHARGER", DeviceType::EvCharger, 7.2),
    ("BATTERY", DeviceType::Battery, 5.0),
    ("WATERHEATER", DeviceType::WaterHeater, 4.5),
    ("POOLPUMP", DeviceType::PoolPump, 1.5),
    ("SMARTINVERTER", DeviceType::SmartInverter, 5.0),
];

fn squash(code: &str) -> String {
    code.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_'))
        .flat_map(char::to_uppercase)
        .collect()
}

/// The device type and assumed nominal kW of a published `assetType`.
pub fn device_type_of(asset_type: &str) -> Option<(DeviceType, f64)> {
    let key = squash(asset_type);
    ASSET_TYPES
        .iter()
        .find(|(code, _, _)| *code == key)
        .map(|(_, t, kw)| (*t, *kw))
}

pub fn ownership_of(code: &str) -> Option<Ownership> {
    OWNERSHIPS.iter().find(|(c, _)| *c == code).map(|(_, o)| *o)
}

/// The published `assetOwnership` code of GridFlex's ownership; `None` for one the
/// published list has no code for (leased).
pub fn ownership_code(ownership: Ownership) -> Option<&'static str> {
    OWNERSHIPS
        .iter()
        .find(|(_, o)| *o == ownership)
        .map(|(c, _)| *c)
}

/// The published `assetType` of a GridFlex device type.
pub fn asset_type_code(device_type: DeviceType) -> &'static str {
    ASSET_TYPES
        .iter()
        .find(|(_, t, _)| *t == device_type)
        .map(|(c, _, _)| *c)
        .unwrap_or("THERMOSTAT")
}

/// The published enrollment document, field names exactly as published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollDocument {
    pub transaction_id: String,
    pub enrollment_source: String,
    pub customer_info: PublishedCustomer,
    pub program_info: PublishedProgram,
    pub location_info: PublishedLocation,
    pub asset_info: PublishedAssetInfo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedCustomer {
    pub cis_person_id: String,
    pub cis_account_id: String,
    pub name: String,
    pub home_phone: Option<String>,
    pub business_phone: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedProgram {
    pub cis_service_agreement_id: Option<String>,
    pub program_code: String,
    #[serde(rename = "startDateTimeISO")]
    pub start_date_time_iso: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedLocation {
    pub location_id: Option<String>,
    pub division: Option<String>,
    pub cis_premise_id: String,
    pub cis_service_point_id: String,
    pub time_zone: String,
    pub address1: String,
    pub city: String,
    pub country: Option<String>,
    pub county: Option<String>,
    pub state: Option<String>,
    pub postal: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedAssetInfo {
    pub installation_method: Option<String>,
    pub asset_ownership: String,
    pub asset_list: Vec<PublishedAsset>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedAsset {
    pub sequence: Option<String>,
    pub asset_id: Option<String>,
    pub specification: String,
    pub asset_type: String,
    pub badge_no: Option<String>,
    pub serial_no: Option<String>,
    pub nic_id: String,
    pub head_end_system: String,
}

/// What the published shape has and GridFlex's own record does not; travels with the
/// enrollment record (`publishedInfo`) and is stored beside the enrollment it creates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedExtras {
    pub transaction_id: String,
    pub location_id: Option<String>,
    pub division: Option<String>,
    pub county: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub cis_service_agreement_id: Option<String>,
    pub installation_method: Option<String>,
    pub business_phone: Option<String>,
    /// The checked document, returned by the read-back.
    pub document: EnrollDocument,
}

/// Collects every bad field of a document; each check returns the stored form or `None`.
/// The other published flows check their documents with it too.
pub(super) struct Fields<'a> {
    pub(super) root: &'a Value,
    pub(super) errors: Vec<RecordErrorWire>,
}

impl<'a> Fields<'a> {
    pub(super) fn new(root: &'a Value) -> Self {
        Fields {
            root,
            errors: Vec::new(),
        }
    }

    pub(super) fn bad(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(RecordErrorWire {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// An object under `path` (`""` is the root); a missing one is reported once.
    pub(super) fn object(&mut self, parent: &'a Value, path: &str, key: &str) -> Option<&'a Value> {
        let field = join(path, key);
        match parent.get(key) {
            Some(v @ Value::Object(_)) => Some(v),
            None | Some(Value::Null) => {
                self.bad(&field, "is required");
                None
            }
            Some(_) => {
                self.bad(&field, "must be an object");
                None
            }
        }
    }

    /// Text at `parent.key`; numbers are read as their text (ids often travel as numbers).
    pub(super) fn text(
        &mut self,
        parent: Option<&Value>,
        path: &str,
        key: &str,
        max: usize,
        required: bool,
    ) -> Option<String> {
        let field = join(path, key);
        let raw = match parent?.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => {
                self.bad(&field, "must be text");
                return None;
            }
        };
        match raw {
            None if required => {
                self.bad(&field, "is required");
                None
            }
            None => None,
            Some(raw) => match check_text(&field, &raw, max) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.bad(&field, e.message);
                    None
                }
            },
        }
    }

    pub(super) fn code(
        &mut self,
        parent: Option<&Value>,
        path: &str,
        key: &str,
        allowed: &[&str],
    ) -> Option<String> {
        let value = self.text(parent, path, key, MAX_ID_CHARS, true)?;
        if allowed.contains(&value.as_str()) {
            Some(value)
        } else {
            self.bad(
                &join(path, key),
                format!(
                    "has unknown code `{value}`; allowed: {}",
                    allowed.join(", ")
                ),
            );
            None
        }
    }

    pub(super) fn then<T>(
        &mut self,
        value: Option<String>,
        check: impl FnOnce(&str) -> Result<T, crate::integration::wire::RecordError>,
    ) -> Option<T> {
        match check(&value?) {
            Ok(v) => Some(v),
            Err(e) => {
                self.bad(&e.field, e.message);
                None
            }
        }
    }
}

/// The date part of an ISO 8601 date-time (`2024-07-01T00:00:00`, with or without seconds'
/// fraction and offset): the day the enrollment starts, as written.
fn start_date(field: &str, text: &str) -> Result<String, crate::integration::wire::RecordError> {
    let shaped = text.len() >= 19
        && text.as_bytes().get(10) == Some(&b'T')
        && (chrono::DateTime::parse_from_rfc3339(text).is_ok()
            || chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").is_ok());
    if !shaped {
        return Err(crate::integration::wire::RecordError::new(
            field,
            format!(
                "must be an ISO 8601 date-time such as 2024-07-01T00:00:00-05:00 (got `{text}`)"
            ),
        ));
    }
    check_date(field, &text[..10]).map(|d| d.to_string())
}

impl EnrollDocument {
    /// Reads and checks a published enrollment; on failure every bad field is listed under
    /// its published path (`locationInfo.cisServicePointId`, `assetInfo.assetList[0].nicId`).
    pub fn parse(root: &Value) -> Result<EnrollDocument, Vec<RecordErrorWire>> {
        let (mut f, transaction_id) = Fields::open_root(root)?;
        let top = Some(f.root);
        let transaction_id = f.required(transaction_id, "transactionId");
        let source_codes = EnrollmentSource::codes();
        let sources: Vec<&str> = source_codes.split(", ").collect();
        let enrollment_source = f.code(top, "", "enrollmentSource", &sources);

        let c = f.object(root, "", "customerInfo");
        let p = "customerInfo";
        let cis_person_id = f.text(c, p, "cisPersonId", MAX_ID_CHARS, true);
        let cis_account_id = f.text(c, p, "cisAccountId", MAX_ID_CHARS, true);
        let name = f.text(c, p, "name", MAX_TEXT_CHARS, true);
        let home = f.text(c, p, "homePhone", 32, false);
        let home_phone =
            home.and_then(|v| f.then(Some(v), |v| check_phone("customerInfo.homePhone", v)));
        let business = f.text(c, p, "businessPhone", 32, false);
        let business_phone = business
            .and_then(|v| f.then(Some(v), |v| check_phone("customerInfo.businessPhone", v)));
        let email = f.text(c, p, "email", 254, false);
        let email = email.and_then(|v| f.then(Some(v), |v| check_email("customerInfo.email", v)));

        let g = f.object(root, "", "programInfo");
        let p = "programInfo";
        let cis_service_agreement_id = f.text(g, p, "cisServiceAgreementId", MAX_ID_CHARS, false);
        let program_code = f.text(g, p, "programCode", MAX_ID_CHARS, true);
        let start = f.text(g, p, "startDateTimeISO", 40, true);
        let start_ok = f.then(start.clone(), |v| {
            start_date("programInfo.startDateTimeISO", v)
        });

        let l = f.object(root, "", "locationInfo");
        let p = "locationInfo";
        let location_id = f.text(l, p, "locationId", MAX_ID_CHARS, false);
        let division = f.text(l, p, "division", MAX_ID_CHARS, false);
        let cis_premise_id = f.text(l, p, "cisPremiseId", MAX_ID_CHARS, true);
        let cis_service_point_id = f.text(l, p, "cisServicePointId", MAX_ID_CHARS, true);
        let zone = f.text(l, p, "timeZone", MAX_ID_CHARS, true);
        let time_zone = f.then(zone, |v| check_time_zone("locationInfo.timeZone", v));
        let address1 = f.text(l, p, "address1", MAX_TEXT_CHARS, true);
        let city = f.text(l, p, "city", MAX_TEXT_CHARS, true);
        let country = f.text(l, p, "country", MAX_ID_CHARS, false);
        let county = f.text(l, p, "county", MAX_ID_CHARS, false);
        let state = f.text(l, p, "state", MAX_ID_CHARS, false);
        let postal = f.text(l, p, "postal", 16, true);

        let a = f.object(root, "", "assetInfo");
        let p = "assetInfo";
        let installation_method = f.text(a, p, "installationMethod", MAX_ID_CHARS, false);
        let ownership_codes: Vec<&str> = OWNERSHIPS.iter().map(|(c, _)| *c).collect();
        let asset_ownership = if a.is_some() {
            f.code(a, p, "assetOwnership", &ownership_codes)
        } else {
            None
        };
        let mut asset_list = Vec::new();
        let mut assets_ok = true;
        match a.map(|a| a.get("assetList")) {
            None => assets_ok = false,
            Some(Some(Value::Array(list))) if !list.is_empty() => {
                for (index, asset) in list.iter().enumerate() {
                    let p = item("assetInfo.assetList", index);
                    if !asset.is_object() {
                        f.bad(&p, "must be an object");
                        assets_ok = false;
                        continue;
                    }
                    let one = Some(asset);
                    let sequence = f.text(one, &p, "sequence", MAX_ID_CHARS, false);
                    let asset_id = f.text(one, &p, "assetId", MAX_ID_CHARS, false);
                    let specification = f.text(one, &p, "specification", MAX_ID_CHARS, true);
                    let asset_type = f.text(one, &p, "assetType", MAX_ID_CHARS, true);
                    if let Some(t) = &asset_type {
                        if device_type_of(t).is_none() {
                            let known: Vec<&str> = ASSET_TYPES.iter().map(|(c, _, _)| *c).collect();
                            f.bad(
                                &join(&p, "assetType"),
                                format!("has unknown type `{t}`; allowed: {}", known.join(", ")),
                            );
                        }
                    }
                    let badge_no = f.text(one, &p, "badgeNo", MAX_ID_CHARS, false);
                    let serial_no = f.text(one, &p, "serialNo", MAX_ID_CHARS, false);
                    let nic = f.text(one, &p, "nicId", MAX_ID_CHARS, true);
                    let nic_field = join(&p, "nicId");
                    let nic_id = f.then(nic, |v| check_nic_id(&nic_field, v));
                    let head_end_system = f.text(one, &p, "headEndSystem", MAX_ID_CHARS, true);
                    match (specification, asset_type, nic_id, head_end_system) {
                        (
                            Some(specification),
                            Some(asset_type),
                            Some(nic_id),
                            Some(head_end_system),
                        ) => asset_list.push(PublishedAsset {
                            sequence,
                            asset_id,
                            specification,
                            asset_type,
                            badge_no,
                            serial_no,
                            nic_id,
                            head_end_system,
                        }),
                        _ => assets_ok = false,
                    }
                }
                let mut seen: Vec<(&str, &str)> = Vec::new();
                for (index, asset) in asset_list.iter().enumerate() {
                    let key = (asset.head_end_system.as_str(), asset.nic_id.as_str());
                    if seen.contains(&key) {
                        f.bad(
                            &join(&item("assetInfo.assetList", index), "nicId"),
                            format!("lists device {} {} twice", key.0, key.1),
                        );
                    }
                    seen.push(key);
                }
            }
            Some(None | Some(Value::Null)) => f.bad("assetInfo.assetList", "is required"),
            Some(Some(Value::Array(_))) => {
                f.bad("assetInfo.assetList", "must list at least one asset")
            }
            Some(Some(_)) => f.bad("assetInfo.assetList", "must be a list"),
        }

        let document = (|| {
            Some(EnrollDocument {
                transaction_id: transaction_id?,
                enrollment_source: enrollment_source?,
                customer_info: PublishedCustomer {
                    cis_person_id: cis_person_id?,
                    cis_account_id: cis_account_id?,
                    name: name?,
                    home_phone,
                    business_phone,
                    email,
                },
                program_info: PublishedProgram {
                    cis_service_agreement_id,
                    program_code: program_code?,
                    start_date_time_iso: start_ok.and(start)?,
                },
                location_info: PublishedLocation {
                    location_id,
                    division,
                    cis_premise_id: cis_premise_id?,
                    cis_service_point_id: cis_service_point_id?,
                    time_zone: time_zone?,
                    address1: address1?,
                    city: city?,
                    country,
                    county,
                    state,
                    postal: postal?,
                },
                asset_info: PublishedAssetInfo {
                    installation_method,
                    asset_ownership: asset_ownership?,
                    asset_list: if assets_ok && !asset_list.is_empty() {
                        asset_list
                    } else {
                        return None;
                    },
                },
            })
        })();
        match document {
            Some(d) if f.errors.is_empty() => Ok(d),
            _ => Err(f.errors),
        }
    }

    /// The GridFlex enrollment-request batch this document is: one record, its id the
    /// transaction id, under the transformer the program side places the service point at.
    pub fn to_enrollment_batch(&self, transformer_code: &str) -> Value {
        let c = &self.customer_info;
        let l = &self.location_info;
        let a = &self.asset_info;
        let ownership = ownership_of(&a.asset_ownership).unwrap_or(Ownership::Owned);
        let assets: Vec<Value> = a
            .asset_list
            .iter()
            .map(|asset| {
                let (device_type, kw) =
                    device_type_of(&asset.asset_type).unwrap_or((DeviceType::Thermostat, 3.0));
                json!({
                    "headEndSystem": asset.head_end_system,
                    "nicId": asset.nic_id,
                    "deviceType": device_type.as_str(),
                    "specification": asset.specification,
                    "serialNumber": asset.serial_no,
                    "badge": asset.badge_no,
                    "nominalKw": kw,
                })
            })
            .collect();
        let extras = PublishedExtras {
            transaction_id: self.transaction_id.clone(),
            location_id: l.location_id.clone(),
            division: l.division.clone(),
            county: l.county.clone(),
            state: l.state.clone(),
            country: l.country.clone(),
            cis_service_agreement_id: self.program_info.cis_service_agreement_id.clone(),
            installation_method: a.installation_method.clone(),
            business_phone: c.business_phone.clone(),
            document: self.clone(),
        };
        json!({
            "transactionId": self.transaction_id,
            "records": [{
                "recordId": self.transaction_id,
                "customerInfo": {
                    "personId": c.cis_person_id,
                    "accountId": c.cis_account_id,
                    "name": c.name,
                    "phone": c.home_phone,
                    "email": c.email,
                },
                "programInfo": { "programCode": self.program_info.program_code },
                "locationInfo": {
                    "servicePointId": l.cis_service_point_id,
                    "premiseId": l.cis_premise_id,
                    "address": { "street": l.address1, "city": l.city, "postalCode": l.postal },
                    "timeZone": l.time_zone,
                    "transformerCode": transformer_code,
                },
                "enrollmentSource": self.enrollment_source,
                "ownership": ownership.as_str(),
                "startDate": &self.program_info.start_date_time_iso[..10],
                "assetInfo": { "assetList": assets },
                "publishedInfo": extras,
            }],
        })
    }
}

/// GridFlex's field names in a flow 1 answer, in the published names.
const FIELD_NAMES: [(&str, &str); 15] = [
    ("recordId", "transactionId"),
    ("customerInfo.personId", "customerInfo.cisPersonId"),
    ("customerInfo.accountId", "customerInfo.cisAccountId"),
    ("customerInfo.phone", "customerInfo.homePhone"),
    (
        "locationInfo.servicePointId",
        "locationInfo.cisServicePointId",
    ),
    ("locationInfo.premiseId", "locationInfo.cisPremiseId"),
    ("locationInfo.address.street", "locationInfo.address1"),
    ("locationInfo.address.city", "locationInfo.city"),
    ("locationInfo.address.postalCode", "locationInfo.postal"),
    // The transformer comes from where the program side places the service point.
    (
        "locationInfo.transformerCode",
        "locationInfo.cisServicePointId",
    ),
    ("startDate", "programInfo.startDateTimeISO"),
    ("ownership", "assetInfo.assetOwnership"),
    ("serialNumber", "serialNo"),
    ("badge", "badgeNo"),
    ("deviceType", "assetType"),
];

/// A GridFlex field path in the published names.
pub fn published_field(field: &str) -> String {
    for (ours, theirs) in FIELD_NAMES {
        if field == ours {
            return theirs.to_owned();
        }
        if let Some(head) = field.strip_suffix(ours).filter(|h| h.ends_with('.')) {
            return format!("{head}{theirs}");
        }
    }
    field.to_owned()
}

/// The published acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollAck {
    pub transaction_id: Option<String>,
    /// `SUCCESS`, `ERROR` or `FAILURE`.
    pub ack_type: String,
    pub collection: Vec<EnrollAckItem>,
}

/// One record's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollAckItem {
    /// `SUCCESS` or `ERROR`.
    pub response_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_nbr: Option<String>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_id: Option<i64>,
    #[serde(default)]
    pub errors: Vec<RecordErrorWire>,
}

impl EnrollAck {
    pub fn errors(transaction_id: Option<String>, errors: Vec<RecordErrorWire>) -> EnrollAck {
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        EnrollAck {
            transaction_id,
            ack_type: ACK_ERROR.into(),
            collection: vec![EnrollAckItem {
                response_code: ACK_ERROR.into(),
                message_nbr: None,
                message: format!("bad fields: {}", fields.join(", ")),
                enrollment_id: None,
                errors,
            }],
        }
    }

    pub fn failure(transaction_id: Option<String>, message: String) -> EnrollAck {
        EnrollAck {
            transaction_id,
            ack_type: ACK_FAILURE.into(),
            collection: vec![EnrollAckItem {
                response_code: ACK_FAILURE.into(),
                message_nbr: None,
                message,
                enrollment_id: None,
                errors: Vec::new(),
            }],
        }
    }
}

/// The published acknowledgement of GridFlex's flow 1 answer (`accepted` false: a problem
/// document whose `detail` says why the message was refused).
pub fn published_ack(transaction_id: &str, accepted: bool, answer: &Value) -> EnrollAck {
    let tx = Some(transaction_id.to_owned());
    if !accepted {
        let detail = answer["detail"].as_str().unwrap_or("refused").to_owned();
        return EnrollAck::errors(
            tx,
            vec![RecordErrorWire {
                field: "body".into(),
                message: detail,
            }],
        );
    }
    let mut collection = Vec::new();
    let mut any_error = false;
    for result in answer["results"].as_array().into_iter().flatten() {
        let id = result["enrollmentId"].as_i64();
        let item = match result["status"].as_str() {
            Some("CREATED") => EnrollAckItem {
                response_code: ACK_SUCCESS.into(),
                message_nbr: None,
                message: "enrollment created".into(),
                enrollment_id: id,
                errors: Vec::new(),
            },
            Some("ALREADY_EXISTS") => EnrollAckItem {
                response_code: ACK_SUCCESS.into(),
                message_nbr: Some(ALREADY_EXISTS_MESSAGE_NBR.into()),
                message: "the enrollment already exists".into(),
                enrollment_id: id,
                errors: Vec::new(),
            },
            _ => {
                any_error = true;
                let errors: Vec<RecordErrorWire> = result["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| RecordErrorWire {
                        field: published_field(e["field"].as_str().unwrap_or("")),
                        message: e["message"].as_str().unwrap_or("").to_owned(),
                    })
                    .collect();
                let mut ack = EnrollAck::errors(None, errors);
                ack.collection.remove(0)
            }
        };
        collection.push(item);
    }
    EnrollAck {
        transaction_id: tx,
        ack_type: if any_error { ACK_ERROR } else { ACK_SUCCESS }.into(),
        collection,
    }
}

/// The read-back document: the stored published document with the enrollment's id and
/// current status.
pub fn read_back(enrollment_id: i64, status: &str, document: &EnrollDocument) -> Value {
    let mut out = Map::new();
    out.insert("enrollmentId".into(), json!(enrollment_id));
    out.insert("status".into(), json!(status));
    out.insert("enrollmentSource".into(), json!(document.enrollment_source));
    out.insert("customerInfo".into(), json!(document.customer_info));
    out.insert("programInfo".into(), json!(document.program_info));
    out.insert("locationInfo".into(), json!(document.location_info));
    out.insert("assetInfo".into(), json!(document.asset_info));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(name: &str) -> Value {
        let path = format!(
            "{}/tests/golden/published/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_full_golden_document_becomes_one_gridflex_record_that_passes_its_checks() {
        let doc = EnrollDocument::parse(&golden("enroll-full.json")).unwrap();
        let batch = doc.to_enrollment_batch("T-1");
        let (transaction, records) =
            crate::integration::wire::parse_enrollment_batch_value(&batch, 10).unwrap();
        assert_eq!(transaction, "PUB-ENROLL-0001");
        let record = records.into_iter().next().unwrap().unwrap();
        assert_eq!(record.record_id, "PUB-ENROLL-0001");
        assert_eq!(record.ownership, Ownership::Owned);
        assert_eq!(record.start_date.to_string(), "2026-06-01");
        assert_eq!(record.location.street, "12 Lake Shore Dr");
        assert_eq!(record.location.transformer_code, "T-1");
        assert_eq!(record.assets[1].nic_id, "PUB0002");
        assert_eq!(record.assets[0].device_type, DeviceType::Thermostat);
        let extras = record.published.unwrap();
        assert_eq!(extras.division.as_deref(), Some("NORTH"));
        assert_eq!(extras.document, doc);
    }

    #[test]
    fn every_bad_field_is_named_by_its_published_path() {
        let errors = EnrollDocument::parse(&golden("enroll-bad-fields.json")).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "customerInfo.email",
                "programInfo.startDateTimeISO",
                "locationInfo.cisServicePointId",
                "assetInfo.assetOwnership",
                "assetInfo.assetList[0].serialNo",
                "assetInfo.assetList[1].nicId",
            ]
        );
    }

    #[test]
    fn missing_sections_are_named_once_each() {
        let errors = EnrollDocument::parse(&json!({"transactionId": "T"})).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "enrollmentSource",
                "customerInfo",
                "programInfo",
                "locationInfo",
                "assetInfo"
            ]
        );
    }

    #[test]
    fn a_start_must_be_an_iso_date_time_and_its_date_part_is_the_start_date() {
        for good in [
            "2026-06-01T00:00:00",
            "2026-06-01T23:30:00.5-05:00",
            "2026-06-01T00:00:00Z",
        ] {
            assert_eq!(start_date("s", good).unwrap(), "2026-06-01", "{good}");
        }
        for bad in [
            "2026-06-01",
            "06/01/2026T00:00:00",
            "2026-02-30T00:00:00",
            "2026-06-01 00:00:00",
        ] {
            assert!(start_date("s", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn asset_types_are_read_ignoring_case_and_separators() {
        assert_eq!(
            device_type_of("EV Charger").unwrap().0,
            DeviceType::EvCharger
        );
        assert_eq!(
            device_type_of("water_heater").unwrap().0,
            DeviceType::WaterHeater
        );
        assert!(device_type_of("Toaster").is_none());
    }

    #[test]
    fn gridflex_field_names_in_an_answer_become_the_published_ones() {
        assert_eq!(
            published_field("customerInfo.accountId"),
            "customerInfo.cisAccountId"
        );
        assert_eq!(
            published_field("assetInfo.assetList[0].serialNumber"),
            "assetInfo.assetList[0].serialNo"
        );
        assert_eq!(
            published_field("programInfo.programCode"),
            "programInfo.programCode"
        );
    }

    #[test]
    fn an_existing_enrollment_is_a_success_with_message_10589() {
        let answer = json!({"transactionId": "T", "results": [
            {"recordId": "T", "status": "ALREADY_EXISTS", "enrollmentId": 4, "errors": []}]});
        let ack = published_ack("T", true, &answer);
        assert_eq!(ack.ack_type, ACK_SUCCESS);
        assert_eq!(ack.collection[0].message_nbr.as_deref(), Some("10589"));
        let rejected = json!({"transactionId": "T", "results": [
            {"recordId": "T", "status": "REJECTED", "errors": [{"field": "customerInfo.accountId", "message": "taken"}]}]});
        let ack = published_ack("T", true, &rejected);
        assert_eq!(ack.ack_type, ACK_ERROR);
        assert_eq!(
            ack.collection[0].errors[0].field,
            "customerInfo.cisAccountId"
        );
    }
}
