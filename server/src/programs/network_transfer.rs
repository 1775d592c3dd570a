//! The program side's part of a network location transfer (flow 11) that scales with the
//! utility: service points following their transformer. Looked up in chunks and moved with
//! one update per chunk and target transformer, so a full export of a million service
//! points costs thousands of statements, not millions.

use std::collections::HashMap;

use crate::db::Tx;
use crate::error::DomainError;
use crate::integration::wire::ServicePointLink;
use crate::with_tx;

const CHUNK: usize = 500;

/// Where a transformer hangs: (feeder, substation).
pub type Placement = HashMap<i64, (i64, i64)>;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ServicePointMoves {
    pub moved: usize,
    pub unknown: usize,
}

fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Re-points every listed service point whose transformer changed, and the enrollments at
/// those locations (their cached feeder and substation). `transformers` maps a transformer
/// code to its id; `placement` gives each transformer's feeder and substation.
pub async fn move_service_points(
    tx: &mut Tx,
    links: &[ServicePointLink],
    transformers: &HashMap<String, i64>,
    placement: &Placement,
) -> Result<ServicePointMoves, DomainError> {
    let mut out = ServicePointMoves::default();
    // Target transformer → locations to move there.
    let mut moves: HashMap<i64, Vec<i64>> = HashMap::new();
    for chunk in links.chunks(CHUNK) {
        let sql = format!(
            "SELECT service_point_id, id, transformer_id FROM device_locations WHERE service_point_id IN ({})",
            placeholders(1, chunk.len())
        );
        let rows: Vec<(String, i64, i64)> = with_tx!(tx, |c| {
            let mut q = sqlx::query_as::<_, (String, i64, i64)>(&sql);
            for l in chunk {
                q = q.bind(&l.service_point_id);
            }
            q.fetch_all(c).await?
        });
        let found: HashMap<&str, (i64, i64)> = rows
            .iter()
            .map(|(sp, id, t)| (sp.as_str(), (*id, *t)))
            .collect();
        for l in chunk {
            let target = *transformers.get(&l.transformer_code).ok_or_else(|| {
                DomainError::invalid(format!(
                    "servicePoints: transformer `{}` is unknown",
                    l.transformer_code
                ))
            })?;
            match found.get(l.service_point_id.as_str()) {
                None => out.unknown += 1,
                Some((_, current)) if *current == target => {}
                Some((location, _)) => moves.entry(target).or_default().push(*location),
            }
        }
    }
    for (transformer, locations) in moves {
        let &(feeder, substation) = placement.get(&transformer).ok_or_else(|| {
            DomainError::invalid(format!(
                "servicePoints: transformer {transformer} hangs off no feeder"
            ))
        })?;
        for chunk in locations.chunks(CHUNK) {
            let ids = placeholders(4, chunk.len());
            let sql = format!(
                "UPDATE device_locations SET transformer_id = $1, feeder_id = $2, substation_id = $3 WHERE id IN ({ids})"
            );
            with_tx!(tx, |c| {
                let mut q = sqlx::query(&sql)
                    .bind(transformer)
                    .bind(feeder)
                    .bind(substation);
                for id in chunk {
                    q = q.bind(id);
                }
                q.execute(c).await?.rows_affected()
            });
            let ids = placeholders(3, chunk.len());
            let sql = format!(
                "UPDATE enrollments SET feeder_id = $1, substation_id = $2 WHERE location_id IN ({ids})"
            );
            with_tx!(tx, |c| {
                let mut q = sqlx::query(&sql).bind(feeder).bind(substation);
                for id in chunk {
                    q = q.bind(id);
                }
                q.execute(c).await?.rows_affected()
            });
            out.moved += chunk.len();
        }
    }
    Ok(out)
}
