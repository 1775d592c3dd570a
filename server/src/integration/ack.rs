//! What a sender does with the acknowledgement it got back, in the same transaction that
//! marks its message delivered.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::db::Tx;
use crate::error::DomainError;
use crate::integration::message::MessageRow;
use crate::with_tx;

pub async fn apply(
    tx: &mut Tx,
    msg: &MessageRow,
    ack: &Value,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    if msg.flow == "enrollment_sync" {
        // The program side records each device's head-end registration as the grid reports it.
        for d in ack["deviceList"].as_array().into_iter().flatten() {
            let (Some(head_end), Some(nic)) = (d["headEndSystem"].as_str(), d["nicId"].as_str())
            else {
                continue;
            };
            let registered = d["registrationStatus"] == "REGISTERED";
            with_tx!(tx, |c| {
                sqlx::query("UPDATE devices SET registered = $1, updated_at = $2 WHERE head_end = $3 AND nic_id = $4")
                .bind(registered)
                .bind(now)
                .bind(head_end)
                .bind(nic)
                .execute(c)
                .await?
                .rows_affected()
            });
        }
    }
    Ok(())
}
