//! The program side's own copy of each service point's place in the network
//! (`program_network_places`): transformer, feeder and substation by code, written when the
//! program side learns a service point (demo load, enrollment requests) and by flow 11.

use chrono::{DateTime, Utc};

use crate::db::{insert_rows_then, Arg, Db, Tx};
use crate::error::DomainError;
use crate::with_db;

/// A service point's place in the network as the program side keeps it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NetworkPlace {
    pub service_point_id: String,
    pub transformer_code: String,
    pub feeder_code: Option<String>,
    pub substation_code: Option<String>,
}

/// Stores the places, replacing what was known of the same service points (one upsert per
/// chunk of rows). `transaction_id` is the flow 11 transfer that placed them, if any.
pub async fn record_places(
    tx: &mut Tx,
    places: &[NetworkPlace],
    transaction_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let rows: Vec<Vec<Arg>> = places
        .iter()
        .map(|p| {
            vec![
                Arg::Text(p.service_point_id.clone()),
                Arg::Text(p.transformer_code.clone()),
                Arg::OptText(p.feeder_code.clone()),
                Arg::OptText(p.substation_code.clone()),
                Arg::OptText(transaction_id.map(str::to_string)),
                Arg::Time(now),
            ]
        })
        .collect();
    insert_rows_then(
        tx,
        "program_network_places",
        &[
            "service_point_id",
            "transformer_code",
            "feeder_code",
            "substation_code",
            "transaction_id",
            "updated_at",
        ],
        &rows,
        "ON CONFLICT (service_point_id) DO UPDATE SET transformer_code = excluded.transformer_code,
         feeder_code = excluded.feeder_code, substation_code = excluded.substation_code,
         transaction_id = excluded.transaction_id, updated_at = excluded.updated_at",
    )
    .await
}

/// The place of one service point; `None` for one the program side has not placed.
pub async fn get_place(
    db: &Db,
    service_point_id: &str,
) -> Result<Option<NetworkPlace>, DomainError> {
    Ok(with_db!(db, |p| sqlx::query_as(
        "SELECT service_point_id, transformer_code, feeder_code, substation_code
         FROM program_network_places WHERE service_point_id = $1"
    )
    .bind(service_point_id)
    .fetch_optional(p)
    .await?))
}
