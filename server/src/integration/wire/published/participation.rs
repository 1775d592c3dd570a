//! Published flows 5 and 6, event participation: `POST …/programEventParticipation/reserveDevice`
//! and `…/postEventOutcome`. The request is checked as a whole, each device as a record of
//! its own (a bad device is answered alone, the others are applied); the good devices
//! become GridFlex's flow 5 / flow 6 messages, one per program event (stage) they belong to.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::common::{
    device_id, RecordAckItem, MAX_EXTERNAL_ID_CHARS, MAX_HEAD_END_CHARS, MAX_NIC_ID_CHARS,
};
use super::enroll::Fields;
use super::program_event::KnownStage;
use crate::integration::wire::check::{item, join};
use crate::integration::wire::{OutcomeCode, RecordErrorWire};

/// The published limit of `errorMessage`.
pub const MAX_ERROR_MESSAGE_CHARS: usize = 100;

/// One GridFlex message a published request becomes: its flow 5 / 6 payload, the program
/// event it is for and the records (devices) it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct StagePart {
    pub stage: String,
    pub payload: Value,
    pub records: Vec<String>,
}

/// The device list of a request: each entry read on its own.
fn list<'a>(f: &mut Fields<'a>, root: &'a Value, key: &str) -> Vec<&'a Value> {
    match root.get(key) {
        Some(Value::Array(items)) if !items.is_empty() => items.iter().collect(),
        Some(Value::Array(_)) => {
            f.bad(key, "must list at least one device");
            Vec::new()
        }
        None | Some(Value::Null) => {
            f.bad(key, "is required");
            Vec::new()
        }
        Some(_) => {
            f.bad(key, "must be a list");
            Vec::new()
        }
    }
}

/// The id a record is answered under: its device when readable, else its place in the list.
fn record_id(entry: &Value, path: &str) -> String {
    match (entry["headEndSystem"].as_str(), entry["nicId"].as_str()) {
        (Some(h), Some(n)) => device_id(h, &n.trim().to_uppercase()),
        _ => path.to_owned(),
    }
}

/// Marks the second listing of a device as an error of that record.
fn refuse_repeats<T>(
    records: &mut [Result<T, RecordAckItem>],
    key: impl Fn(&T) -> (String, String),
    list_name: &str,
) {
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for (index, record) in records.iter_mut().enumerate() {
        let Ok(r) = record else { continue };
        let k = key(r);
        if let Some(first) = seen.get(&k) {
            let error = RecordErrorWire {
                field: join(&item(list_name, index), "nicId"),
                message: format!(
                    "lists device {} again (also {})",
                    device_id(&k.0, &k.1),
                    item(list_name, *first)
                ),
            };
            *record = Err(RecordAckItem::error(device_id(&k.0, &k.1), vec![error]));
        } else {
            seen.insert(k, index);
        }
    }
}

/// A device reserved for the event, with its own window.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedReservation {
    pub head_end_system: String,
    pub nic_id: String,
    pub start: DateTime<Utc>,
    /// The event's end when the request gave none.
    pub end: DateTime<Utc>,
}

/// `POST …/reserveDevice`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReserveDocument {
    pub transaction_id: Option<String>,
    pub event_external_identifier: String,
    pub event_start: DateTime<Utc>,
    pub event_end: DateTime<Utc>,
    /// One per `deviceList` entry, in order: the reservation or its answer.
    pub devices: Vec<Result<PublishedReservation, RecordAckItem>>,
}

impl ReserveDocument {
    /// `Err` when the request itself is bad (its fields, or no device list): nothing of it
    /// is applied. A bad device is an `Err` entry of `devices`.
    pub fn parse(root: &Value) -> Result<Self, Vec<RecordErrorWire>> {
        let (mut f, transaction_id) = Fields::open_root(root)?;
        let top = Some(root);
        let event = f.text(
            top,
            "",
            "eventExternalIdentifier",
            MAX_EXTERNAL_ID_CHARS,
            true,
        );
        let event_start = f.instant(top, "", "eventStartDateTime", true);
        let event_end = f.instant(top, "", "eventEndDateTime", true);
        f.after(
            event_start,
            "eventStartDateTime",
            event_end,
            "eventEndDateTime",
        );
        let entries = list(&mut f, root, "deviceList");
        let (Some(event), Some(event_start), Some(event_end)) = (event, event_start, event_end)
        else {
            return Err(f.errors);
        };
        if !f.errors.is_empty() {
            return Err(f.errors);
        }
        let mut devices: Vec<Result<PublishedReservation, RecordAckItem>> = entries
            .into_iter()
            .enumerate()
            .map(|(index, entry)| reservation(entry, &item("deviceList", index), event_end))
            .collect();
        refuse_repeats(
            &mut devices,
            |r| (r.head_end_system.clone(), r.nic_id.clone()),
            "deviceList",
        );
        Ok(ReserveDocument {
            transaction_id,
            event_external_identifier: event,
            event_start,
            event_end,
            devices,
        })
    }

    /// GridFlex's flow 5 messages: per program event of the event, the devices whose window
    /// overlaps it (the list replaces the stage's earlier one); and the answers of the
    /// devices whose window overlaps none.
    pub fn to_reservations(&self, stages: &[KnownStage]) -> (Vec<StagePart>, Vec<RecordAckItem>) {
        let mut by_stage: BTreeMap<usize, (Vec<Value>, Vec<String>)> = BTreeMap::new();
        let mut unplaced = Vec::new();
        for (index, d) in self.devices.iter().enumerate() {
            let Ok(d) = d else { continue };
            let id = device_id(&d.head_end_system, &d.nic_id);
            let mut placed = false;
            for (s, stage) in stages.iter().enumerate() {
                if d.start < stage.ends_at && d.end > stage.starts_at {
                    placed = true;
                    let entry = by_stage.entry(s).or_default();
                    entry.0.push(json!({
                        "headEndSystem": d.head_end_system,
                        "nicId": d.nic_id,
                        // The published shape carries no expected reduction.
                        "expectedKw": 0.0,
                    }));
                    if !entry.1.contains(&id) {
                        entry.1.push(id.clone());
                    }
                }
            }
            if !placed {
                let field = join(&item("deviceList", index), "reservationStartDateTime");
                unplaced.push(RecordAckItem::error(
                    id,
                    vec![RecordErrorWire {
                        field,
                        message: format!(
                            "the reservation window overlaps no program event of event `{}`",
                            self.event_external_identifier
                        ),
                    }],
                ));
            }
        }
        let parts = by_stage
            .into_iter()
            .map(|(s, (devices, records))| {
                let stage = &stages[s];
                StagePart {
                    stage: stage.external_id.clone(),
                    payload: json!({
                        "eventExternalIdentifier": stage.event_external_id,
                        "externalIdentifier": stage.external_id,
                        "programCode": stage.program_code,
                        "startTime": stage.starts_at,
                        "endTime": stage.ends_at,
                        "deviceList": devices,
                    }),
                    records,
                }
            })
            .collect();
        (parts, unplaced)
    }
}

fn device_fields<'a>(
    f: &mut Fields<'a>,
    entry: &'a Value,
    path: &str,
) -> (Option<String>, Option<String>) {
    let one = Some(entry);
    let head_end = f.text(one, path, "headEndSystem", MAX_HEAD_END_CHARS, true);
    // Stored upper case, as GridFlex stores every NIC id.
    let nic_id = f
        .text(one, path, "nicId", MAX_NIC_ID_CHARS, true)
        .map(|n| n.to_uppercase());
    (head_end, nic_id)
}

fn reservation(
    entry: &Value,
    path: &str,
    event_end: DateTime<Utc>,
) -> Result<PublishedReservation, RecordAckItem> {
    let mut f = Fields::new(entry);
    if !entry.is_object() {
        f.bad(path, "must be an object");
        return Err(RecordAckItem::error(path, f.errors));
    }
    let (head_end, nic_id) = device_fields(&mut f, entry, path);
    let one = Some(entry);
    let start = f.instant(one, path, "reservationStartDateTime", true);
    let end = f.instant(one, path, "reservationEndDateTime", false);
    let end_field = join(path, "reservationEndDateTime");
    let end = if f.errors.iter().any(|e| e.field == end_field) {
        None
    } else {
        Some(end.unwrap_or(event_end))
    };
    f.after(
        start,
        &join(path, "reservationStartDateTime"),
        end,
        &end_field,
    );
    match (head_end, nic_id, start, end) {
        (Some(h), Some(n), Some(start), Some(end)) if f.errors.is_empty() => {
            Ok(PublishedReservation {
                head_end_system: h,
                nic_id: n,
                start,
                end,
            })
        }
        _ => Err(RecordAckItem::error(record_id(entry, path), f.errors)),
    }
}

/// What one device did, in the published shape.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedOutcome {
    pub head_end_system: String,
    pub nic_id: String,
    pub outcome: OutcomeCode,
    pub error_message: Option<String>,
    pub participation_start: Option<DateTime<Utc>>,
    pub participation_end: Option<DateTime<Utc>>,
}

/// `POST …/postEventOutcome`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeDocument {
    pub transaction_id: Option<String>,
    pub event_external_identifier: String,
    /// One per `postOutcomeList` entry, in order: the outcome or its answer.
    pub outcomes: Vec<Result<PublishedOutcome, RecordAckItem>>,
}

impl OutcomeDocument {
    pub fn parse(root: &Value) -> Result<Self, Vec<RecordErrorWire>> {
        let (mut f, transaction_id) = Fields::open_root(root)?;
        let top = Some(root);
        let event = f.text(
            top,
            "",
            "eventExternalIdentifier",
            MAX_EXTERNAL_ID_CHARS,
            true,
        );
        let entries = list(&mut f, root, "postOutcomeList");
        let Some(event) = event.filter(|_| f.errors.is_empty()) else {
            return Err(f.errors);
        };
        let mut outcomes: Vec<Result<PublishedOutcome, RecordAckItem>> = entries
            .into_iter()
            .enumerate()
            .map(|(index, entry)| outcome(entry, &item("postOutcomeList", index)))
            .collect();
        refuse_repeats(
            &mut outcomes,
            |o| (o.head_end_system.clone(), o.nic_id.clone()),
            "postOutcomeList",
        );
        Ok(OutcomeDocument {
            transaction_id,
            event_external_identifier: event,
            outcomes,
        })
    }

    /// GridFlex's flow 6 messages: per program event, the outcomes of the devices reserved
    /// for it (a device reserved for several gets the outcome in each); and the answers of
    /// the devices reserved for none of the event's program events.
    pub fn to_outcome_batches(
        &self,
        reserved: &[(String, String, String)],
    ) -> (Vec<StagePart>, Vec<RecordAckItem>) {
        let mut by_stage: BTreeMap<&str, (Vec<Value>, Vec<String>)> = BTreeMap::new();
        let mut unreserved = Vec::new();
        for (index, o) in self.outcomes.iter().enumerate() {
            let Ok(o) = o else { continue };
            let id = device_id(&o.head_end_system, &o.nic_id);
            let stages: Vec<&str> = reserved
                .iter()
                .filter(|(_, h, n)| *h == o.head_end_system && *n == o.nic_id)
                .map(|(s, _, _)| s.as_str())
                .collect();
            if stages.is_empty() {
                unreserved.push(RecordAckItem::error(
                    id,
                    vec![RecordErrorWire {
                        field: join(&item("postOutcomeList", index), "nicId"),
                        message: format!(
                            "device {} was not reserved for event `{}`",
                            device_id(&o.head_end_system, &o.nic_id),
                            self.event_external_identifier
                        ),
                    }],
                ));
                continue;
            }
            for stage in stages {
                let entry = by_stage.entry(stage).or_default();
                entry.0.push(json!({
                    "headEndSystem": o.head_end_system,
                    "nicId": o.nic_id,
                    "outcome": o.outcome.as_str(),
                    "participationStart": o.participation_start,
                    "participationEnd": o.participation_end,
                }));
                entry.1.push(id.clone());
            }
        }
        let parts = by_stage
            .into_iter()
            .map(|(stage, (outcomes, records))| StagePart {
                stage: stage.to_owned(),
                payload: json!({
                    "eventExternalIdentifier": self.event_external_identifier,
                    "externalIdentifier": stage,
                    "postOutcomeList": outcomes,
                }),
                records,
            })
            .collect();
        (parts, unreserved)
    }
}

fn outcome(entry: &Value, path: &str) -> Result<PublishedOutcome, RecordAckItem> {
    let mut f = Fields::new(entry);
    if !entry.is_object() {
        f.bad(path, "must be an object");
        return Err(RecordAckItem::error(path, f.errors));
    }
    let (head_end, nic_id) = device_fields(&mut f, entry, path);
    let one = Some(entry);
    let codes: Vec<&str> = OutcomeCode::ALL.iter().map(|c| c.as_str()).collect();
    let code = f.code(one, path, "outcome", &codes);
    let error_message = f.text(one, path, "errorMessage", MAX_ERROR_MESSAGE_CHARS, false);
    let start_field = join(path, "participationStartDateTime");
    let end_field = join(path, "participationEndDateTime");
    let start = f.instant(one, path, "participationStartDateTime", false);
    let end = f.instant(one, path, "participationEndDateTime", false);
    f.after(start, &start_field, end, &end_field);
    let outcome = code.as_deref().and_then(OutcomeCode::parse);
    if outcome == Some(OutcomeCode::Participated) {
        for (field, given) in [(&start_field, start.is_some()), (&end_field, end.is_some())] {
            if !given && !f.errors.iter().any(|e| &e.field == field) {
                f.bad(field, "is required when outcome is D1SP (participated)");
            }
        }
    }
    match (head_end, nic_id, outcome) {
        (Some(h), Some(n), Some(outcome)) if f.errors.is_empty() => Ok(PublishedOutcome {
            head_end_system: h,
            nic_id: n,
            outcome,
            error_message,
            participation_start: start,
            participation_end: end,
        }),
        _ => Err(RecordAckItem::error(record_id(entry, path), f.errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::wire::{decode_value, DeviceOutcomeBatch, DeviceReservation};

    fn stage(id: &str, start: &str, end: &str) -> KnownStage {
        KnownStage {
            external_id: id.into(),
            event_external_id: "EV-9".into(),
            program_code: "P".into(),
            category: "X1EC".into(),
            status: "X1SD".into(),
            starts_at: start.parse().unwrap(),
            ends_at: end.parse().unwrap(),
        }
    }

    #[test]
    fn each_device_goes_to_the_program_events_its_window_overlaps() {
        let doc = ReserveDocument::parse(&json!({
            "eventExternalIdentifier": "EV-9",
            "eventStartDateTime": "2026-07-01T14:00:00-05:00",
            "eventEndDateTime": "2026-07-01T16:00:00-05:00",
            "deviceList": [
                {"headEndSystem": "ECOBEE", "nicId": "N1", "reservationStartDateTime": "2026-07-01T14:00:00-05:00"},
                {"headEndSystem": "ECOBEE", "nicId": "N2", "reservationStartDateTime": "2026-07-01T14:00:00-05:00",
                 "reservationEndDateTime": "2026-07-01T15:00:00-05:00"},
                {"headEndSystem": "ECOBEE", "nicId": "N3", "reservationStartDateTime": "2026-07-02T14:00:00-05:00",
                 "reservationEndDateTime": "2026-07-02T15:00:00-05:00"}
            ]
        }))
        .unwrap();
        let stages = [
            stage("S1", "2026-07-01T19:00:00Z", "2026-07-01T20:00:00Z"),
            stage("S2", "2026-07-01T20:00:00Z", "2026-07-01T21:00:00Z"),
        ];
        let (parts, unplaced) = doc.to_reservations(&stages);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].records, ["ECOBEE/N1", "ECOBEE/N2"]);
        assert_eq!(parts[1].records, ["ECOBEE/N1"]);
        let r: DeviceReservation = decode_value(&parts[0].payload).unwrap();
        assert_eq!(r.external_identifier, "S1");
        assert_eq!(unplaced.len(), 1);
        assert_eq!(
            unplaced[0].errors[0].field,
            "deviceList[2].reservationStartDateTime"
        );
    }

    #[test]
    fn every_bad_field_of_a_device_is_named_and_the_device_answered_alone() {
        let doc = ReserveDocument::parse(&json!({
            "eventExternalIdentifier": "EV-9",
            "eventStartDateTime": "2026-07-01T14:00:00-05:00",
            "eventEndDateTime": "2026-07-01T16:00:00-05:00",
            "deviceList": [
                {"headEndSystem": "H".repeat(51), "nicId": "N".repeat(101), "reservationStartDateTime": "2026-07-01 14:00"},
                {"headEndSystem": "ECOBEE", "nicId": "N2", "reservationStartDateTime": "2026-07-01T14:00:00-05:00"},
                {"headEndSystem": "ECOBEE", "nicId": "N2", "reservationStartDateTime": "2026-07-01T14:00:00-05:00"}
            ]
        }))
        .unwrap();
        let bad = doc.devices[0].as_ref().unwrap_err();
        let fields: Vec<&str> = bad.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "deviceList[0].headEndSystem",
                "deviceList[0].nicId",
                "deviceList[0].reservationStartDateTime"
            ]
        );
        assert!(doc.devices[1].is_ok());
        assert_eq!(
            doc.devices[2].as_ref().unwrap_err().errors[0].field,
            "deviceList[2].nicId"
        );
    }

    #[test]
    fn outcomes_go_to_the_program_events_the_device_was_reserved_for() {
        let doc = OutcomeDocument::parse(&json!({
            "eventExternalIdentifier": "EV-9",
            "postOutcomeList": [
                {"headEndSystem": "ECOBEE", "nicId": "N1", "outcome": "D1SP",
                 "participationStartDateTime": "2026-07-01T14:00:00-05:00",
                 "participationEndDateTime": "2026-07-01T16:00:00-05:00"},
                {"headEndSystem": "ECOBEE", "nicId": "N2", "outcome": "D1ER", "errorMessage": "no answer"},
                {"headEndSystem": "ECOBEE", "nicId": "N9", "outcome": "D1ND"},
                {"headEndSystem": "ECOBEE", "nicId": "N3", "outcome": "D1XX", "errorMessage": "e".repeat(101)},
                {"headEndSystem": "ECOBEE", "nicId": "N4", "outcome": "D1SP"}
            ]
        }))
        .unwrap();
        let reserved = [
            ("S1".to_string(), "ECOBEE".to_string(), "N1".to_string()),
            ("S1".to_string(), "ECOBEE".to_string(), "N2".to_string()),
        ];
        let (parts, unreserved) = doc.to_outcome_batches(&reserved);
        assert_eq!(parts.len(), 1);
        let batch: DeviceOutcomeBatch = decode_value(&parts[0].payload).unwrap();
        assert_eq!(batch.post_outcome_list.len(), 2);
        assert_eq!(unreserved[0].errors[0].field, "postOutcomeList[2].nicId");
        let bad = doc.outcomes[3].as_ref().unwrap_err();
        let fields: Vec<&str> = bad.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "postOutcomeList[3].outcome",
                "postOutcomeList[3].errorMessage"
            ]
        );
        assert!(bad.errors[0]
            .message
            .contains("D1SP, D1ND, D1IO, D1ER, D1CN"));
        let missing = doc.outcomes[4].as_ref().unwrap_err();
        let fields: Vec<&str> = missing.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "postOutcomeList[4].participationStartDateTime",
                "postOutcomeList[4].participationEndDateTime"
            ]
        );
    }
}
