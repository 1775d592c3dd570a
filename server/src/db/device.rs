//! Controllable devices, their locations and customers.

use chrono::{DateTime, Utc};

use app::query::DeviceQuery;

use crate::db::{prefix_upper_bound, Arg, Db, Filter};
use crate::error::DomainError;
use crate::{bind_args, with_db};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeviceListRow {
    pub id: i64,
    pub head_end: String,
    pub nic_id: String,
    pub device_type: String,
    pub specification: String,
    pub status: String,
    pub registered: bool,
    pub nominal_kw: f64,
    pub control_score: f64,
    pub service_point_id: String,
    pub feeder_code: String,
}

fn filters(q: &DeviceQuery) -> Filter {
    let mut f = Filter::default();
    if let Some(t) = q.device_type {
        f.add("d.device_type = ?", [Arg::Text(t.as_str().into())]);
    }
    if let Some(s) = &q.status {
        f.add("d.status = ?", [Arg::Text(s.clone())]);
    }
    if let Some(r) = q.registered {
        f.add(
            if r {
                "d.registered"
            } else {
                "NOT d.registered"
            },
            [],
        );
    }
    if let Some(program) = q.program {
        f.add(
            "d.id IN (SELECT ed.device_id FROM enrollment_devices ed JOIN enrollments e ON e.id = ed.enrollment_id
                      WHERE e.program_id = ? AND ed.left_at IS NULL)",
            [Arg::Int(program)],
        );
    }
    if let Some(substation) = q.substation {
        f.add(
            "d.location_id IN (SELECT id FROM device_locations WHERE substation_id = ?)",
            [Arg::Int(substation)],
        );
    }
    if let Some(feeder) = q.feeder {
        f.add(
            "d.location_id IN (SELECT id FROM device_locations WHERE feeder_id = ?)",
            [Arg::Int(feeder)],
        );
    }
    if let Some(text) = &q.q {
        let nic = text.to_uppercase();
        f.add(
            "((d.nic_id >= ? AND d.nic_id < ?) OR d.serial_number = ?)",
            [
                Arg::Text(nic.clone()),
                Arg::Text(prefix_upper_bound(&nic)),
                Arg::Text(text.clone()),
            ],
        );
    }
    f
}

pub async fn list_devices(
    db: &Db,
    q: &DeviceQuery,
) -> Result<(Vec<DeviceListRow>, i64, Option<i64>), DomainError> {
    let base = filters(q);
    let mut page = base.clone();
    if let Some(after) = q.after {
        page.add("d.id > ?", [Arg::Int(after)]);
    }
    let limit = q.limit.clamp(1, 500) as usize;
    let page_sql = format!(
        "SELECT d.id, d.head_end, d.nic_id, d.device_type, d.specification, d.status, d.registered, d.nominal_kw,
                d.control_score, l.service_point_id, f.code AS feeder_code
         FROM devices d JOIN device_locations l ON l.id = d.location_id JOIN program_network_nodes f ON f.id = l.feeder_id
         {} ORDER BY d.id LIMIT {}",
        page.sql(),
        limit + 1
    );
    let count_sql = format!("SELECT COUNT(*) FROM devices d{}", base.sql());
    let (mut rows, total) = with_db!(db, |pool| {
        let rows = bind_args!(sqlx::query_as::<_, DeviceListRow>(&page_sql), &page.args)
            .fetch_all(pool)
            .await?;
        let total: i64 = bind_args!(sqlx::query_scalar::<_, i64>(&count_sql), &base.args)
            .fetch_one(pool)
            .await?;
        (rows, total)
    });
    let next = crate::db::next_cursor(&mut rows, limit, |r| r.id);
    Ok((rows, total, next))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeviceRow {
    pub id: i64,
    pub head_end: String,
    pub nic_id: String,
    pub device_type: String,
    pub specification: String,
    pub serial_number: String,
    pub badge: String,
    pub status: String,
    pub registered: bool,
    pub nominal_kw: f64,
    pub control_score: f64,
    pub location_id: i64,
    pub aggregator: Option<String>,
}

pub async fn get_device(db: &Db, id: i64) -> Result<Option<DeviceRow>, DomainError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, DeviceRow>(
        "SELECT d.id, d.head_end, d.nic_id, d.device_type, d.specification, d.serial_number, d.badge, d.status,
                d.registered, d.nominal_kw, d.control_score, d.location_id, a.name AS aggregator
         FROM devices d LEFT JOIN aggregators a ON a.id = d.aggregator_id WHERE d.id = $1"
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    }))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeviceEnrollmentRow {
    pub enrollment_id: i64,
    pub program_code: String,
    pub program_name: String,
    pub status: String,
    pub joined_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
}

pub async fn device_enrollments(
    db: &Db,
    device_id: i64,
) -> Result<Vec<DeviceEnrollmentRow>, DomainError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, DeviceEnrollmentRow>(
        "SELECT e.id AS enrollment_id, p.code AS program_code, p.name AS program_name, e.status, ed.joined_at, ed.left_at
         FROM enrollment_devices ed JOIN enrollments e ON e.id = ed.enrollment_id JOIN programs p ON p.id = e.program_id
         WHERE ed.device_id = $1 ORDER BY ed.joined_at DESC"
    )
    .bind(device_id)
    .fetch_all(pool)
    .await?
    }))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UnavailabilityRow {
    pub id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: String,
    pub status: String,
}

pub async fn unavailability(
    db: &Db,
    device_id: i64,
) -> Result<Vec<UnavailabilityRow>, DomainError> {
    Ok(with_db!(db, |pool| sqlx::query_as::<_, UnavailabilityRow>(
        "SELECT id, starts_at, ends_at, reason, status FROM unavailability_windows
         WHERE device_id = $1 ORDER BY starts_at DESC LIMIT 100"
    )
    .bind(device_id)
    .fetch_all(pool)
    .await?))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LocationRow {
    pub id: i64,
    pub service_point_id: String,
    pub premise_id: String,
    pub street: String,
    pub city: String,
    pub postal_code: String,
    pub time_zone: String,
    pub transformer_id: i64,
    pub feeder_id: i64,
    pub substation_id: i64,
}

pub async fn get_location(db: &Db, id: i64) -> Result<Option<LocationRow>, DomainError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, LocationRow>(
        "SELECT id, service_point_id, premise_id, street, city, postal_code, time_zone, transformer_id, feeder_id, substation_id
         FROM device_locations WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    }))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerRow {
    pub id: i64,
    pub person_id: String,
    pub account_id: String,
    pub name: String,
    pub phone: String,
    pub email: String,
}

pub async fn get_customer(db: &Db, id: i64) -> Result<Option<CustomerRow>, DomainError> {
    Ok(with_db!(db, |pool| sqlx::query_as::<_, CustomerRow>(
        "SELECT id, person_id, account_id, name, phone, email FROM customers WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(pool)
    .await?))
}

/// Counts for the home page.
pub async fn totals(db: &Db) -> Result<(i64, i64, i64), DomainError> {
    Ok(with_db!(db, |pool| {
        let customers: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM customers")
            .fetch_one(pool)
            .await?;
        let devices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices")
            .fetch_one(pool)
            .await?;
        let enrollments: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM enrollments")
            .fetch_one(pool)
            .await?;
        (customers, devices, enrollments)
    }))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReservationRow {
    pub stage: String,
    pub event: String,
    pub program_code: String,
    pub status: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub expected_kw: f64,
    pub outcome: Option<String>,
    pub opted_out_at: Option<DateTime<Utc>>,
}

/// Event stages a device is reserved for (program side view), newest first.
pub async fn reservations(
    db: &Db,
    head_end: &str,
    nic_id: &str,
) -> Result<Vec<ReservationRow>, DomainError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, ReservationRow>(
        "SELECT r.external_id AS stage, pe.event_external_id AS event, pe.program_code, pe.status, pe.starts_at, pe.ends_at,
                r.expected_kw, r.outcome, r.opted_out_at
         FROM program_event_devices r JOIN program_events pe ON pe.external_id = r.external_id
         WHERE r.head_end = $1 AND r.nic_id = $2 ORDER BY pe.starts_at DESC LIMIT 50"
    )
    .bind(head_end)
    .bind(nic_id)
    .fetch_all(pool)
    .await?
    }))
}

/// Sets `registered` on the devices with these (head-end, NIC id) keys, a chunk of keys a
/// statement; answers which of the keys matched a device.
pub async fn set_registered_many(
    tx: &mut crate::db::Tx,
    keys: &[[&str; 2]],
    registered: bool,
    now: DateTime<Utc>,
) -> Result<std::collections::HashSet<(String, String)>, DomainError> {
    let sql = format!(
        "UPDATE devices SET registered = $1, updated_at = $2 WHERE (head_end, nic_id) IN ({})
         RETURNING head_end, nic_id",
        tx.dialect().in_pairs(3)
    );
    let mut found = std::collections::HashSet::new();
    for chunk in keys.chunks(crate::db::registry::CHUNK) {
        let list = crate::db::dialect::list(chunk)?;
        let rows: Vec<(String, String)> = crate::with_tx!(tx, |c| sqlx::query_as(&sql)
            .bind(registered)
            .bind(now)
            .bind(&list)
            .fetch_all(c)
            .await?);
        found.extend(rows);
    }
    Ok(found)
}

/// Records a device's head-end registration as the grid reports it (flow 2's
/// acknowledgement); 0 when the program side has no such device.
pub async fn set_registered(
    tx: &mut crate::db::Tx,
    head_end: &str,
    nic_id: &str,
    registered: bool,
    now: DateTime<Utc>,
) -> Result<u64, DomainError> {
    Ok(crate::with_tx!(tx, |c| {
        sqlx::query(
            "UPDATE devices SET registered = $1, updated_at = $2 WHERE head_end = $3 AND nic_id = $4",
        )
        .bind(registered)
        .bind(now)
        .bind(head_end)
        .bind(nic_id)
        .execute(c)
        .await?
        .rows_affected()
    }))
}
