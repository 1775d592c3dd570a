//! The grid side's registry (grid side): its devices, unavailability windows, program rules,
//! aggregators, scores and opt-outs as the program side's flows report them.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};

use crate::db::dialect::list;
use crate::db::Recount;
use crate::db::Tx;
use crate::db::{insert_rows_then, Arg};
use crate::error::DomainError;
use crate::with_tx;

/// Devices per statement (well under SQLite's limit of bound parameters).
pub const CHUNK: usize = 500;

/// The id of the transformer with this code, if the network model has it.
pub async fn transformer_id(tx: &mut Tx, code: &str) -> Result<Option<i64>, DomainError> {
    Ok(with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT id FROM network_nodes WHERE code = $1 AND kind = 'transformer'"
    )
    .bind(code)
    .fetch_optional(c)
    .await?))
}

/// Unregisters one device.
pub async fn unregister_device(
    tx: &mut Tx,
    head_end: &str,
    nic_id: &str,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let touched: Vec<Option<i64>> = with_tx!(tx, |c| {
        sqlx::query_scalar("UPDATE grid_devices SET status = 'unregistered', updated_at = $1 WHERE head_end = $2 AND nic_id = $3
         RETURNING transformer_id")
        .bind(now)
        .bind(head_end)
        .bind(nic_id)
        .fetch_all(c)
        .await?
    });
    recount(tx, touched.into_iter().flatten().collect()).await
}

/// Unregisters the devices with these (head-end, NIC id) keys, [`CHUNK`] per statement.
pub async fn unregister_devices(
    tx: &mut Tx,
    keys: &[[&str; 2]],
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let sql = format!(
        "UPDATE grid_devices SET status = 'unregistered', updated_at = $1 WHERE (head_end, nic_id) IN ({})
         RETURNING transformer_id",
        tx.dialect().in_pairs(2)
    );
    let mut touched = BTreeSet::new();
    for chunk in keys.chunks(CHUNK) {
        let keys = list(chunk)?;
        let rows: Vec<Option<i64>> = with_tx!(tx, |c| sqlx::query_scalar(&sql)
            .bind(now)
            .bind(&keys)
            .fetch_all(c)
            .await?);
        touched.extend(rows.into_iter().flatten());
    }
    recount(tx, touched).await
}

/// A device as an enrollment sync registers it.
#[derive(Debug, Clone)]
pub struct RegisteredDevice<'a> {
    pub head_end: &'a str,
    pub nic_id: &'a str,
    pub device_type: &'a str,
    pub nominal_kw: f64,
    /// The aggregator's external reference (flow 2's `aggregatorExternalReference`).
    pub aggregator_ref: Option<&'a str>,
}

/// Registers (or re-registers) devices of one enrollment under a transformer, [`CHUNK`] per
/// statement. Answers the ids of the devices that were registered before under another
/// aggregator (their OpenADR events change hands: `openadr::notify::devices_moved`).
pub async fn register_devices(
    tx: &mut Tx,
    enrollment_id: i64,
    program_code: &str,
    transformer_id: i64,
    devices: &[RegisteredDevice<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, DomainError> {
    let mut touched = BTreeSet::from([transformer_id]);
    let mut moved = Vec::new();
    for chunk in devices.chunks(CHUNK) {
        let keys: Vec<[&str; 2]> = chunk.iter().map(|d| [d.head_end, d.nic_id]).collect();
        let new_refs: std::collections::HashMap<(&str, &str), Option<&str>> = chunk
            .iter()
            .map(|d| ((d.head_end, d.nic_id), d.aggregator_ref))
            .collect();
        let before = registered_before(tx, &keys).await?;
        for b in before {
            touched.extend(b.transformer_id);
            if new_refs.get(&(b.head_end.as_str(), b.nic_id.as_str()))
                != Some(&b.aggregator_ref.as_deref())
            {
                moved.push(b.id);
            }
        }
        // $1 enrollment, $2 program, $3 transformer, $4 time; then five per device.
        let rows = (0..chunk.len())
            .map(|i| {
                let b = 5 + 5 * i;
                format!(
                    "(${b}, ${}, $1, $2, ${}, ${}, $3, 'registered', $4, $4, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO grid_devices (head_end, nic_id, enrollment_id, program_code, device_type, nominal_kw, transformer_id, status, registered_at, updated_at, aggregator_ref)
             VALUES {rows}
             ON CONFLICT (head_end, nic_id) DO UPDATE SET enrollment_id = excluded.enrollment_id, program_code = excluded.program_code,
                device_type = excluded.device_type, nominal_kw = excluded.nominal_kw, transformer_id = excluded.transformer_id,
                status = 'registered', updated_at = excluded.updated_at, aggregator_ref = excluded.aggregator_ref"
        );
        with_tx!(tx, |c| {
            let mut q = sqlx::query(&sql)
                .bind(enrollment_id)
                .bind(program_code)
                .bind(transformer_id)
                .bind(now);
            for d in chunk {
                q = q
                    .bind(d.head_end)
                    .bind(d.nic_id)
                    .bind(d.device_type)
                    .bind(d.nominal_kw)
                    .bind(d.aggregator_ref);
            }
            q.execute(c).await?.rows_affected()
        });
    }
    recount(tx, touched).await?;
    Ok(moved)
}

/// A device as it was registered before a re-registration.
#[derive(sqlx::FromRow)]
struct Before {
    id: i64,
    head_end: String,
    nic_id: String,
    transformer_id: Option<i64>,
    aggregator_ref: Option<String>,
}

/// The devices with these (head-end, NIC id) keys as registered now: the transformers a
/// re-registration may move them from, and the aggregator it may move them from.
async fn registered_before(tx: &mut Tx, keys: &[[&str; 2]]) -> Result<Vec<Before>, DomainError> {
    let sql = format!(
        "SELECT id, head_end, nic_id, transformer_id, aggregator_ref FROM grid_devices WHERE (head_end, nic_id) IN ({})",
        tx.dialect().in_pairs(1)
    );
    let keys = list(keys)?;
    Ok(with_tx!(tx, |c| sqlx::query_as::<_, Before>(&sql)
        .bind(&keys)
        .fetch_all(c)
        .await?))
}

/// The ids of the transformers with these codes that the network model has, by code.
pub async fn transformer_ids(
    tx: &mut Tx,
    codes: &[&str],
) -> Result<std::collections::HashMap<String, i64>, DomainError> {
    let sql = format!(
        "SELECT code, id FROM network_nodes WHERE kind = 'transformer' AND code IN ({})",
        tx.dialect().in_list(1, crate::db::dialect::Elem::Text)
    );
    let mut out = std::collections::HashMap::new();
    for chunk in codes.chunks(CHUNK) {
        let chunk = list(chunk)?;
        let rows: Vec<(String, i64)> = with_tx!(tx, |c| sqlx::query_as(&sql)
            .bind(&chunk)
            .fetch_all(c)
            .await?);
        out.extend(rows);
    }
    Ok(out)
}

/// A device registration of [`register_devices_of_many`]: which enrollment, program and
/// transformer it is registered under.
#[derive(Debug, Clone)]
pub struct Registration<'a> {
    pub enrollment_id: i64,
    pub program_code: &'a str,
    pub transformer_id: i64,
    pub device: RegisteredDevice<'a>,
}

/// Registers (or re-registers) the devices of many enrollments in multi-row statements; a
/// device listed twice ends as its last registration says. Answers the transformers touched
/// (the devices' transformers before and after) and leaves recounting them to the caller,
/// which counts once for everything it changed, and the ids of the devices that were
/// registered before under another aggregator.
pub async fn register_devices_of_many(
    tx: &mut Tx,
    registrations: &[Registration<'_>],
    now: DateTime<Utc>,
) -> Result<(BTreeSet<i64>, Vec<i64>), DomainError> {
    let mut last: std::collections::HashMap<(&str, &str), usize> = Default::default();
    for (i, r) in registrations.iter().enumerate() {
        last.insert((r.device.head_end, r.device.nic_id), i);
    }
    let mut keep: Vec<usize> = last.values().copied().collect();
    keep.sort_unstable();
    let mut touched: BTreeSet<i64> = registrations.iter().map(|r| r.transformer_id).collect();
    let mut moved = Vec::new();
    for chunk in keep.chunks(CHUNK) {
        let keys: Vec<[&str; 2]> = chunk
            .iter()
            .map(|&i| {
                [
                    registrations[i].device.head_end,
                    registrations[i].device.nic_id,
                ]
            })
            .collect();
        for b in registered_before(tx, &keys).await? {
            touched.extend(b.transformer_id);
            let now_ref = last
                .get(&(b.head_end.as_str(), b.nic_id.as_str()))
                .map(|&i| registrations[i].device.aggregator_ref);
            if now_ref != Some(b.aggregator_ref.as_deref()) {
                moved.push(b.id);
            }
        }
    }
    let rows: Vec<Vec<Arg>> = keep
        .iter()
        .map(|&i| {
            let r = &registrations[i];
            vec![
                Arg::Text(r.device.head_end.into()),
                Arg::Text(r.device.nic_id.into()),
                Arg::Int(r.enrollment_id),
                Arg::Text(r.program_code.into()),
                Arg::Text(r.device.device_type.into()),
                Arg::Float(r.device.nominal_kw),
                Arg::Int(r.transformer_id),
                Arg::Text("registered".into()),
                Arg::Time(now),
                Arg::Time(now),
                Arg::OptText(r.device.aggregator_ref.map(str::to_string)),
            ]
        })
        .collect();
    insert_rows_then(
        tx,
        "grid_devices",
        &[
            "head_end",
            "nic_id",
            "enrollment_id",
            "program_code",
            "device_type",
            "nominal_kw",
            "transformer_id",
            "status",
            "registered_at",
            "updated_at",
            "aggregator_ref",
        ],
        &rows,
        "ON CONFLICT (head_end, nic_id) DO UPDATE SET enrollment_id = excluded.enrollment_id, program_code = excluded.program_code,
            device_type = excluded.device_type, nominal_kw = excluded.nominal_kw, transformer_id = excluded.transformer_id,
            status = 'registered', updated_at = excluded.updated_at, aggregator_ref = excluded.aggregator_ref",
    )
    .await?;
    Ok((touched, moved))
}

/// Counts the network figures of the transformers a registry change touched afresh
/// (migration 0024), in the same transaction.
pub async fn recount(tx: &mut Tx, touched: BTreeSet<i64>) -> Result<(), DomainError> {
    let touched: Vec<i64> = touched.into_iter().collect();
    crate::db::network::recount_node_figures(tx, Recount::Transformers(&touched)).await
}

/// (head-end, NIC id, status, updated at) of the known devices among these keys.
pub async fn device_states(
    tx: &mut Tx,
    keys: &[[&str; 2]],
) -> Result<Vec<(String, String, String, DateTime<Utc>)>, DomainError> {
    let sql = format!(
        "SELECT head_end, nic_id, status, updated_at FROM grid_devices WHERE (head_end, nic_id) IN ({})",
        tx.dialect().in_pairs(1)
    );
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(CHUNK) {
        let keys = list(chunk)?;
        let rows: Vec<(String, String, String, DateTime<Utc>)> =
            with_tx!(tx, |c| sqlx::query_as(&sql)
                .bind(&keys)
                .fetch_all(c)
                .await?);
        out.extend(rows);
    }
    Ok(out)
}

/// An unavailability window as the program side sent it.
#[derive(Debug, Clone)]
pub struct UnavailabilityWindow<'a> {
    pub window_id: &'a str,
    pub head_end: &'a str,
    pub nic_id: &'a str,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: &'a str,
}

/// Adds or changes a window (active again if it was cancelled).
pub async fn upsert_unavailability(
    tx: &mut Tx,
    w: &UnavailabilityWindow<'_>,
    now: DateTime<Utc>,
) -> Result<u64, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO grid_unavailability (window_id, head_end, nic_id, starts_at, ends_at, reason, status, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'active', $7)
         ON CONFLICT (window_id) DO UPDATE SET head_end = excluded.head_end, nic_id = excluded.nic_id, starts_at = excluded.starts_at,
            ends_at = excluded.ends_at, reason = excluded.reason, status = 'active', updated_at = excluded.updated_at"
    )
    .bind(w.window_id)
    .bind(w.head_end)
    .bind(w.nic_id)
    .bind(w.starts_at)
    .bind(w.ends_at)
    .bind(w.reason)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected()
    }))
}

/// Cancels a window; returns how many there were (0 or 1).
pub async fn cancel_unavailability(
    tx: &mut Tx,
    window_id: &str,
    now: DateTime<Utc>,
) -> Result<u64, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query(
        "UPDATE grid_unavailability SET status = 'cancelled', updated_at = $1 WHERE window_id = $2"
    )
    .bind(now)
    .bind(window_id)
    .execute(c)
    .await?
    .rows_affected()
    }))
}

/// Stores a program's rule for its effective date (replacing one of the same date).
pub async fn upsert_program_rule(
    tx: &mut Tx,
    program_code: &str,
    effective_from: NaiveDate,
    rule_json: &str,
    linked: bool,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    with_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO grid_program_rules (program_code, effective_from, rule_json, linked, updated_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (program_code, effective_from) DO UPDATE SET rule_json = excluded.rule_json, linked = excluded.linked,
            updated_at = excluded.updated_at"
    )
    .bind(program_code)
    .bind(effective_from)
    .bind(rule_json)
    .bind(linked)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected()
    });
    Ok(())
}

/// An aggregator as the program side sent it; `program_codes` comma-separated.
#[derive(Debug, Clone)]
pub struct AggregatorFields<'a> {
    pub external_ref: &'a str,
    pub name: &'a str,
    pub status: &'a str,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub contact_name: &'a str,
    pub contact_email: &'a str,
    pub program_codes: &'a str,
}

pub async fn upsert_aggregator(
    tx: &mut Tx,
    a: &AggregatorFields<'_>,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    with_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO grid_aggregators (external_ref, name, status, start_date, end_date, contact_name, contact_email, program_codes, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (external_ref) DO UPDATE SET name = excluded.name, status = excluded.status, start_date = excluded.start_date,
            end_date = excluded.end_date, contact_name = excluded.contact_name, contact_email = excluded.contact_email,
            program_codes = excluded.program_codes, updated_at = excluded.updated_at"
    )
    .bind(a.external_ref)
    .bind(a.name)
    .bind(a.status)
    .bind(a.start_date)
    .bind(a.end_date)
    .bind(a.contact_name)
    .bind(a.contact_email)
    .bind(a.program_codes)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected()
    });
    Ok(())
}

/// Sets a device's control score; returns 0 when the grid does not know the device.
pub async fn set_device_score(
    tx: &mut Tx,
    head_end: &str,
    nic_id: &str,
    score: f64,
    scored_on: NaiveDate,
    now: DateTime<Utc>,
) -> Result<u64, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query(
        "UPDATE grid_devices SET control_score = $1, scored_on = $2, updated_at = $3 WHERE head_end = $4 AND nic_id = $5"
    )
    .bind(score)
    .bind(scored_on)
    .bind(now)
    .bind(head_end)
    .bind(nic_id)
    .execute(c)
    .await?
    .rows_affected()
    }))
}

/// Records an opt-out (once per event and device).
pub async fn insert_opt_out(
    tx: &mut Tx,
    event_external_id: &str,
    head_end: &str,
    nic_id: &str,
    requested_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    with_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO grid_opt_outs (event_external_id, head_end, nic_id, requested_at, recorded_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (event_external_id, head_end, nic_id) DO NOTHING"
    )
    .bind(event_external_id)
    .bind(head_end)
    .bind(nic_id)
    .bind(requested_at)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected()
    });
    Ok(())
}
