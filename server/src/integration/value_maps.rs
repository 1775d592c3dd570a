//! Value maps applied where messages cross the boundary, before a handler sees them:
//! `event_type` (the grid's event type, e.g. `Emergency`, to the program side's category
//! `X1EM`), `instance_routing` (the program side's head-end system to the grid's head-end
//! instance; acknowledgements are routed back), `id_mapping` (external program ids to the
//! program side's codes). A map with entries refuses a code it does not list, naming the
//! map and the code; `device_specification` is applied per record in enrollment requests.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::Value;

use crate::db::Tx;
use crate::error::DomainError;
use crate::integration::inbound::{recipient_of, Side};
use crate::integration::wire::Flow;
use crate::with_tx;

/// The grid's event types every installation knows; admins' `event_type` entries add to
/// them or override them.
pub const DEFAULT_EVENT_TYPES: [(&str, &str); 4] = [
    ("Emergency", "X1EM"),
    ("Economic", "X1EC"),
    ("Reliability", "X1RE"),
    ("DeviceTest", "X1DT"),
];

/// Every map's entries, read once per delivery (or per batch of deliveries).
#[derive(Debug, Clone, Default)]
pub struct ValueMaps {
    maps: HashMap<String, HashMap<String, String>>,
}

impl ValueMaps {
    pub async fn load(tx: &mut Tx) -> Result<ValueMaps, DomainError> {
        let rows: Vec<(String, String, String)> = with_tx!(tx, |c| sqlx::query_as(
            "SELECT map, source_value, target_value FROM value_maps"
        )
        .fetch_all(c)
        .await?);
        let mut maps: HashMap<String, HashMap<String, String>> = HashMap::new();
        for (map, source, target) in rows {
            maps.entry(map).or_default().insert(source, target);
        }
        Ok(ValueMaps { maps })
    }

    pub fn from_entries(entries: &[(&str, &str, &str)]) -> ValueMaps {
        let mut maps: HashMap<String, HashMap<String, String>> = HashMap::new();
        for (map, source, target) in entries {
            maps.entry(map.to_string())
                .or_default()
                .insert(source.to_string(), target.to_string());
        }
        ValueMaps { maps }
    }

    /// A map's entries, or `None` when it has none (then it is not applied).
    fn map(&self, name: &str) -> Option<&HashMap<String, String>> {
        self.maps.get(name).filter(|m| !m.is_empty())
    }

    fn event_category(&self, event_type: &str) -> Option<String> {
        self.map("event_type")
            .and_then(|m| m.get(event_type).cloned())
            .or_else(|| {
                DEFAULT_EVENT_TYPES
                    .iter()
                    .find(|(t, _)| *t == event_type)
                    .map(|(_, c)| c.to_string())
            })
    }
}

fn unknown(map: &str, value: &str) -> String {
    format!("value map `{map}` has no entry for `{value}`")
}

/// Replaces every string under `key`, at any depth, through `f`; the first refusal wins.
fn rewrite(
    v: &mut Value,
    key: &str,
    f: &dyn Fn(&str) -> Result<String, String>,
) -> Result<(), String> {
    match v {
        Value::Object(o) => {
            for (k, child) in o.iter_mut() {
                if k == key {
                    if let Value::String(s) = child {
                        *s = f(s)?;
                        continue;
                    }
                }
                rewrite(child, key, f)?;
            }
            Ok(())
        }
        Value::Array(items) => items.iter_mut().try_for_each(|i| rewrite(i, key, f)),
        _ => Ok(()),
    }
}

/// What a translation changed, to route the acknowledgement back.
#[derive(Debug, Default)]
pub struct Applied {
    /// Grid instance → the head-end system the sender knows.
    head_ends_back: HashMap<String, String>,
}

impl Applied {
    /// Puts the sender's head-end system codes back into an acknowledgement.
    pub fn restore(&self, ack: &mut Value) {
        if self.head_ends_back.is_empty() {
            return;
        }
        let back = &self.head_ends_back;
        let _ = rewrite(ack, "headEndSystem", &|s| {
            Ok(back.get(s).cloned().unwrap_or_else(|| s.to_string()))
        });
    }
}

/// Translates an inbound payload for `flow`; `Err` is a business refusal naming the map.
pub fn translate<'a>(
    maps: &ValueMaps,
    flow: Flow,
    payload: &'a Value,
) -> Result<(Cow<'a, Value>, Applied), String> {
    let mut applied = Applied::default();
    let mut out = Cow::Borrowed(payload);
    match recipient_of(flow) {
        Side::Grid => {
            if let Some(routes) = maps.map("instance_routing") {
                let seen = std::cell::RefCell::new(HashMap::new());
                rewrite(out.to_mut(), "headEndSystem", &|s| {
                    let to = routes
                        .get(s)
                        .cloned()
                        .ok_or_else(|| unknown("instance_routing", s))?;
                    seen.borrow_mut().insert(to.clone(), s.to_string());
                    Ok(to)
                })?;
                applied.head_ends_back = seen.into_inner();
            }
        }
        Side::Programs => {
            // Flow 1 maps program ids per record (a record fails alone): see enrollment_request.
            if flow != Flow::EnrollmentRequest {
                if let Some(ids) = maps.map("id_mapping") {
                    rewrite(out.to_mut(), "programCode", &|s| {
                        ids.get(s).cloned().ok_or_else(|| unknown("id_mapping", s))
                    })?;
                }
            }
            if flow == Flow::StageStatus {
                if let Some(event_type) = payload.get("eventType").and_then(Value::as_str) {
                    let category = maps
                        .event_category(event_type)
                        .ok_or_else(|| unknown("event_type", event_type))?;
                    let given = payload.get("eventCategory").and_then(Value::as_str);
                    if given.is_some_and(|g| g != category) {
                        return Err(format!(
                            "eventCategory: `{}` does not match eventType `{event_type}`, which value map `event_type` translates to `{category}`",
                            given.unwrap_or_default()
                        ));
                    }
                    if let Value::Object(o) = out.to_mut() {
                        o.remove("eventType");
                        o.insert("eventCategory".into(), Value::String(category));
                    }
                }
            }
        }
    }
    Ok((out, applied))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tr(maps: &ValueMaps, flow: Flow, p: &Value) -> Result<(Value, Applied), String> {
        translate(maps, flow, p).map(|(v, a)| (v.into_owned(), a))
    }

    #[test]
    fn a_grid_event_type_becomes_the_program_side_category() {
        let maps = ValueMaps::default();
        let p = json!({"eventType": "Emergency", "programCode": "SMT-BYOD"});
        let (out, _) = tr(&maps, Flow::StageStatus, &p).unwrap();
        assert_eq!(out["eventCategory"], "X1EM");
        assert!(out.get("eventType").is_none());
    }

    #[test]
    fn an_unknown_event_type_is_refused_naming_the_map_and_the_value() {
        let err = translate(
            &ValueMaps::default(),
            Flow::StageStatus,
            &json!({"eventType": "Blizzard"}),
        )
        .unwrap_err();
        assert_eq!(err, "value map `event_type` has no entry for `Blizzard`");
    }

    #[test]
    fn an_admin_entry_adds_an_event_type() {
        let maps = ValueMaps::from_entries(&[("event_type", "Blizzard", "X1EM")]);
        let (out, _) = tr(&maps, Flow::StageStatus, &json!({"eventType": "Blizzard"})).unwrap();
        assert_eq!(out["eventCategory"], "X1EM");
    }

    #[test]
    fn head_ends_are_routed_to_grid_instances_and_routed_back_in_the_ack() {
        let maps = ValueMaps::from_entries(&[("instance_routing", "ECOBEE", "ECOBEE-EAST")]);
        let p = json!({"deviceList": [{"headEndSystem": "ECOBEE", "nicId": "A1"}]});
        let (out, applied) = tr(&maps, Flow::EnrollmentSync, &p).unwrap();
        assert_eq!(out["deviceList"][0]["headEndSystem"], "ECOBEE-EAST");
        let mut ack = json!({"deviceList": [{"headEndSystem": "ECOBEE-EAST", "nicId": "A1"}]});
        applied.restore(&mut ack);
        assert_eq!(ack["deviceList"][0]["headEndSystem"], "ECOBEE");
        let err = translate(
            &maps,
            Flow::DeviceScore,
            &json!({"scores": [{"headEndSystem": "NEST"}]}),
        )
        .unwrap_err();
        assert!(err.contains("instance_routing") && err.contains("NEST"));
    }

    #[test]
    fn external_program_ids_are_mapped_on_the_program_side_only() {
        let maps = ValueMaps::from_entries(&[("id_mapping", "EXT-42", "SMT-BYOD")]);
        let (out, _) = tr(
            &maps,
            Flow::DeviceReservation,
            &json!({"programCode": "EXT-42"}),
        )
        .unwrap();
        assert_eq!(out["programCode"], "SMT-BYOD");
        let (out, _) = tr(
            &maps,
            Flow::ProgramRuleSync,
            &json!({"programCode": "SMT-BYOD"}),
        )
        .unwrap();
        assert_eq!(out["programCode"], "SMT-BYOD");
        assert!(tr(
            &maps,
            Flow::StageStatus,
            &json!({"programCode": "SMT-BYOD"})
        )
        .is_err());
    }

    #[test]
    fn nothing_is_copied_when_no_map_applies() {
        let p = json!({"deviceList": []});
        let (out, _) = translate(&ValueMaps::default(), Flow::EnrollmentSync, &p).unwrap();
        assert!(matches!(out, Cow::Borrowed(_)));
    }
}
