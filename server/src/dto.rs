//! Row-to-DTO mappings that pages of both sides share: references to network nodes.

use app::model::NodeRef;

use crate::db;

pub fn node_ref(n: &db::NodeRow) -> NodeRef {
    NodeRef {
        id: n.id,
        kind: n.kind.clone(),
        code: n.code.clone(),
        name: n.name.clone(),
    }
}

pub fn node_ref_p(n: &db::NodeWithParent) -> NodeRef {
    NodeRef {
        id: n.id,
        kind: n.kind.clone(),
        code: n.code.clone(),
        name: n.name.clone(),
    }
}
