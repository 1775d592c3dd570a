//! The other way round: GridFlex's own flow 4–6 messages as the published requests a grid
//! system sends to a program side that speaks the published contract
//! (`GRIDFLEX_PROGRAMS_DIALECT=published`). Each program event (stage) is its own event on
//! the published side: reservations and outcomes name the stage as `eventExternalIdentifier`.
//! The grid's answer to a published device status check (flow 3) is posted the same way.

use serde_json::{json, Value};

use super::common::{
    DEVICE_STATUS_PATH, LIFECYCLE_PATH, OUTCOME_PATH, PROGRAM_EVENT_PATH, RESERVE_PATH,
};

/// The published path and body of a GridFlex message, its message id as `transactionId`
/// (so a redelivery is the same request); `None` for a flow the published program side
/// has no path for (it travels in GridFlex's own envelope).
pub fn published_request(
    flow: &str,
    message_id: &str,
    payload: &Value,
) -> Option<(&'static str, Value)> {
    let p = payload;
    match flow {
        "stage_status" if p["action"] == "X1SD" => Some((
            PROGRAM_EVENT_PATH,
            json!({
                "transactionId": message_id,
                "eventExternalIdentifier": p["eventExternalIdentifier"],
                "externalIdentifier": p["externalIdentifier"],
                "programExternalIdentifier": p["programCode"],
                "programEventCategory": p["eventCategory"],
                "startDateTime": p["startTime"],
                "endDateTime": p["endTime"],
            }),
        )),
        "stage_status" => {
            let mut body = json!({
                "transactionId": message_id,
                "action": p["action"],
                "eventExternalIdentifier": p["externalIdentifier"],
            });
            if let Some(reason) = p["reason"].as_str() {
                body["cancelReason"] = json!(reason);
            }
            Some((LIFECYCLE_PATH, body))
        }
        "device_reservation" => {
            let devices: Vec<Value> = p["deviceList"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| {
                    json!({
                        "headEndSystem": d["headEndSystem"],
                        "nicId": d["nicId"],
                        "reservationStartDateTime": p["startTime"],
                        "reservationEndDateTime": p["endTime"],
                    })
                })
                .collect();
            Some((
                RESERVE_PATH,
                json!({
                    "transactionId": message_id,
                    "eventExternalIdentifier": p["externalIdentifier"],
                    "eventStartDateTime": p["startTime"],
                    "eventEndDateTime": p["endTime"],
                    "deviceList": devices,
                }),
            ))
        }
        "device_outcome" => {
            let outcomes: Vec<Value> = p["postOutcomeList"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| {
                    let mut one = json!({
                        "headEndSystem": o["headEndSystem"],
                        "nicId": o["nicId"],
                        "outcome": o["outcome"],
                    });
                    for (ours, theirs) in [
                        ("participationStart", "participationStartDateTime"),
                        ("participationEnd", "participationEndDateTime"),
                    ] {
                        if !o[ours].is_null() {
                            one[theirs] = o[ours].clone();
                        }
                    }
                    one
                })
                .collect();
            Some((
                OUTCOME_PATH,
                json!({
                    "transactionId": message_id,
                    "eventExternalIdentifier": p["externalIdentifier"],
                    "postOutcomeList": outcomes,
                }),
            ))
        }
        // The grid's answer to a published device status check, posted on its own.
        "device_status_check" => Some((DEVICE_STATUS_PATH, super::status_response(p))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::wire::published::{
        LifecycleDocument, OutcomeDocument, ProgramEventDocument, ReserveDocument,
    };

    fn stage(action: &str) -> Value {
        json!({"eventExternalIdentifier": "EV-1", "externalIdentifier": "EV-1-S1",
               "programCode": "SUMMER-SAVER", "eventCategory": "X1EM", "action": action,
               "reason": if action == "F1CN" { json!("feeder restored") } else { Value::Null },
               "startTime": "2026-07-01T19:00:00Z", "endTime": "2026-07-01T20:00:00Z"})
    }

    #[test]
    fn a_scheduled_stage_is_a_program_event_the_published_side_accepts() {
        let (path, body) = published_request("stage_status", "M-1", &stage("X1SD")).unwrap();
        assert_eq!(path, PROGRAM_EVENT_PATH);
        let doc = ProgramEventDocument::parse(&body).unwrap();
        assert_eq!(doc.transaction_id.as_deref(), Some("M-1"));
        assert_eq!(doc.external_identifier, "EV-1-S1");
        assert_eq!(doc.program_external_identifier, "SUMMER-SAVER");
    }

    #[test]
    fn later_steps_are_lifecycle_requests_naming_the_stage() {
        let (path, body) = published_request("stage_status", "M-2", &stage("F1CN")).unwrap();
        assert_eq!(path, LIFECYCLE_PATH);
        let doc = LifecycleDocument::parse(&body).unwrap();
        assert_eq!(doc.event_external_identifier, "EV-1-S1");
        assert_eq!(doc.cancel_reason.as_deref(), Some("feeder restored"));
    }

    #[test]
    fn reservations_and_outcomes_name_the_stage_as_the_event() {
        let reservation = json!({"eventExternalIdentifier": "EV-1", "externalIdentifier": "EV-1-S1",
            "programCode": "P", "startTime": "2026-07-01T19:00:00Z", "endTime": "2026-07-01T20:00:00Z",
            "deviceList": [{"headEndSystem": "ECOBEE", "nicId": "N1", "expectedKw": 1.5}]});
        let (path, body) = published_request("device_reservation", "M-3", &reservation).unwrap();
        assert_eq!(path, RESERVE_PATH);
        let doc = ReserveDocument::parse(&body).unwrap();
        assert_eq!(doc.event_external_identifier, "EV-1-S1");
        assert!(doc.devices[0].is_ok());
        let outcomes = json!({"eventExternalIdentifier": "EV-1", "externalIdentifier": "EV-1-S1",
            "postOutcomeList": [{"headEndSystem": "ECOBEE", "nicId": "N1", "outcome": "D1SP",
              "participationStart": "2026-07-01T19:00:00Z", "participationEnd": "2026-07-01T20:00:00Z"},
              {"headEndSystem": "ECOBEE", "nicId": "N2", "outcome": "D1ND"}]});
        let (path, body) = published_request("device_outcome", "M-4", &outcomes).unwrap();
        assert_eq!(path, OUTCOME_PATH);
        let doc = OutcomeDocument::parse(&body).unwrap();
        assert!(doc.outcomes.iter().all(Result::is_ok), "{body}");
        assert!(published_request("network_location_transfer", "M-5", &json!({})).is_none());
    }
}
