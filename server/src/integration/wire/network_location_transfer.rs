//! Flow 11, network location transfer (grid → programs): the network model, node by node.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::check::{
    check_id, check_non_empty, check_optional_text, check_text, item, join, Seen, MAX_ID_CHARS,
    MAX_TEXT_CHARS,
};
use super::code::wire_code;
use super::{Flow, Outbound, RecordError, Validate};

wire_code! {
    /// Level of a network node (flow 11).
    pub enum NodeKind {
        Substation = "substation",
        Feeder = "feeder",
        Transformer = "transformer",
    }
}

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

impl Outbound for NetworkLocationTransfer {
    const FLOW: Flow = Flow::NetworkLocationTransfer;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::wire::fixtures::*;
    use serde_json::{json, Value};

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
}
