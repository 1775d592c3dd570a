//! The grid side's export of its network model to the program side (flow 11): every node
//! with its current parent, every service point the grid knows of (`grid_service_points`)
//! with its transformer, in one message.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::db::audit::{append, NewAuditEntry};
use crate::db::{network, Db};
use crate::error::DomainError;
use crate::integration::message::{enqueue, new_message_id, NewMessage, DEFAULT_MAX_ATTEMPTS};
use crate::integration::wire::{
    NetworkLocationTransfer, NetworkNode, NodeKind, Outbound, ServicePointLink, Validate,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub nodes: usize,
    pub service_points: usize,
    pub message_id: String,
}

/// Reads the model, writes the audit row and queues the transfer in one transaction, so
/// the message is exactly the model the audit row says was exported.
pub async fn export_network(
    db: &Db,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<ExportSummary, DomainError> {
    let mut tx = db.begin().await?;
    let rows = network::export_nodes(&mut tx).await?;
    if rows.is_empty() {
        return Err(DomainError::invalid("there is no network model to export"));
    }
    let mut nodes = Vec::with_capacity(rows.len());
    for (code, kind, name, parent, from) in rows {
        let kind = NodeKind::parse(&kind)
            .ok_or_else(|| DomainError::Internal(format!("network node {code} has kind {kind}")))?;
        nodes.push(NetworkNode {
            code,
            kind,
            name,
            parent_code: parent,
            valid_from: from.date_naive(),
        });
    }
    let links = network::service_point_links(&mut tx).await?;
    let transfer = NetworkLocationTransfer {
        transaction_id: format!("NX-{}", now.timestamp_millis()),
        exported_at: now,
        nodes,
        service_points: links
            .into_iter()
            .map(|(service_point_id, transformer_code)| ServicePointLink {
                service_point_id,
                transformer_code,
            })
            .collect(),
    };
    // What the program side would refuse is never sent.
    transfer.validate().map_err(|e| {
        DomainError::invalid(format!(
            "the network model cannot be exported: {}: {}",
            e.field, e.message
        ))
    })?;
    let summary = ExportSummary {
        nodes: transfer.nodes.len(),
        service_points: transfer.service_points.len(),
        message_id: new_message_id(),
    };
    append(
        &mut tx,
        NewAuditEntry::new(actor, "network.export", "network", "model").after(json!({
            "transactionId": transfer.transaction_id,
            "nodes": summary.nodes,
            "servicePoints": summary.service_points,
            "messageId": summary.message_id,
        })),
    )
    .await?;
    enqueue(
        &mut tx,
        &NewMessage {
            message_id: summary.message_id.clone(),
            flow: NetworkLocationTransfer::FLOW.as_str().into(),
            correlation_id: Some(transfer.transaction_id.clone()),
            sender: "grid".into(),
            recipient: "programs".into(),
            payload: transfer.to_payload(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(nodes = summary.nodes, service_points = summary.service_points, message = %summary.message_id, "network model exported");
    Ok(summary)
}
