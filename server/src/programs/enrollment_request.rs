//! Enrollment requests (flow 1) on the program side, set-based: a batch is checked against
//! what is stored with a handful of bulk lookups, decided record by record in memory, and
//! written with multi-row inserts — one PENDING enrollment per valid record, one result per
//! record, a bad record failing alone, a repeated one reported as already existing.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::db::audit::{append_many, NewAuditEntry};
use crate::db::dialect::{list, Elem};
use crate::db::place::{record_places, NetworkPlace};
use crate::db::published::PublishedEnrollmentRow;
use crate::db::{insert_rows, reserve_ids, Arg, Tx};
use crate::error::DomainError;
use crate::integration::wire::CheckedEnrollmentRecord;
use crate::with_tx;

/// Keys per `IN (…)` lookup.
const LOOKUP_CHUNK: usize = 500;

/// Runs `sql` (with one `{}` for a placeholder list) over `keys` in chunks; rows are
/// (key, id, extra) text/int triples.
async fn lookup(
    tx: &mut Tx,
    sql: &str,
    keys: &[String],
) -> Result<Vec<(String, i64, String)>, DomainError> {
    let mut out = Vec::new();
    let q = sql.replace("{}", &tx.dialect().in_list(1, Elem::Text));
    for chunk in keys.chunks(LOOKUP_CHUNK) {
        let chunk = list(chunk)?;
        let rows: Vec<(String, i64, String)> =
            with_tx!(tx, |c| sqlx::query_as(&q).bind(&chunk).fetch_all(c).await?);
        out.extend(rows);
    }
    Ok(out)
}

/// Why a record's division (received in the published shape) is served by no grid instance;
/// `None` when it is, when it names none, or when the division map has no entries.
fn unserved_division(
    divisions: &HashMap<String, String>,
    r: &CheckedEnrollmentRecord,
) -> Option<String> {
    let division = r.published.as_ref()?.division.as_deref()?;
    if divisions.is_empty() || divisions.contains_key(division) {
        return None;
    }
    let mut known: Vec<&str> = divisions.keys().map(String::as_str).collect();
    known.sort_unstable();
    Some(format!(
        "no grid instance serves division `{division}` (value map `division_routing`, published name `OUTL-BRT-DRMSID-TO-DACSID`); known divisions: {}",
        known.join(", ")
    ))
}

fn rejected(record_id: &str, field: &str, message: String) -> Value {
    json!({"recordId": record_id, "status": "REJECTED", "enrollmentId": null, "errors": [{"field": field, "message": message}]})
}

struct Planned {
    index: usize,
    enrollment_id: i64,
    customer_id: i64,
    location_id: i64,
    program_id: i64,
    feeder: i64,
    substation: i64,
    device_ids: Vec<i64>,
}

/// Processes one batch inside the caller's transaction; returns the per-record results in
/// the order of the records.
pub async fn ingest(
    tx: &mut Tx,
    transaction_id: &str,
    records: Vec<Result<CheckedEnrollmentRecord, crate::integration::wire::RecordError>>,
    now: DateTime<Utc>,
) -> Result<Vec<Value>, DomainError> {
    let mut results: Vec<Option<Value>> = vec![None; records.len()];
    let mut valid = Vec::new();
    // External program ids translated through the admins' id map, when it has entries; a
    // record naming one it does not list fails alone.
    let id_map = crate::db::value_map::load_map(tx, "id_mapping").await?;
    for (i, r) in records.into_iter().enumerate() {
        match r {
            Ok(mut r) if !id_map.is_empty() => match id_map.get(&r.program_code) {
                Some(internal) => {
                    r.program_code = internal.clone();
                    valid.push((i, r));
                }
                None => {
                    results[i] = Some(rejected(
                        &r.record_id,
                        "programInfo.programCode",
                        format!(
                            "value map `id_mapping` has no entry for `{}`",
                            r.program_code
                        ),
                    ))
                }
            },
            Ok(r) => valid.push((i, r)),
            Err(e) => {
                results[i] = Some(
                    json!({"recordId": e.record_id, "status": "REJECTED", "enrollmentId": null,
                                         "errors": [{"field": e.field, "message": e.message}]}),
                )
            }
        }
    }

    // Bulk lookups of everything the batch refers to.
    let programs: Vec<(i64, String, String)> = with_tx!(tx, |c| sqlx::query_as(
        "SELECT id, code, status FROM programs"
    )
    .fetch_all(c)
    .await?);
    let programs: HashMap<String, (i64, String)> = programs
        .into_iter()
        .map(|(id, code, st)| (code, (id, st)))
        .collect();
    let codes: Vec<String> = valid
        .iter()
        .map(|(_, r)| r.location.transformer_code.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    // Each transformer's feeder and substation in the program side's own copy of the
    // network: ids for the new rows, codes for its places.
    let paths = crate::db::program_network::transformer_paths(tx, &codes, LOOKUP_CHUNK).await?;
    let transformers: HashMap<String, (i64, i64, i64)> = paths
        .iter()
        .map(|(code, p)| {
            (
                code.clone(),
                (p.transformer_id, p.feeder_id, p.substation_id),
            )
        })
        .collect();
    let uppers: HashMap<String, (String, String)> = paths
        .into_iter()
        .map(|(code, p)| (code, (p.feeder_code, p.substation_code)))
        .collect();
    let persons: Vec<String> = valid
        .iter()
        .map(|(_, r)| r.customer.person_id.clone())
        .collect();
    let accounts: Vec<String> = valid
        .iter()
        .map(|(_, r)| r.customer.account_id.clone())
        .collect();
    let sps: Vec<String> = valid
        .iter()
        .map(|(_, r)| r.location.service_point_id.clone())
        .collect();
    let nics: Vec<String> = valid
        .iter()
        .flat_map(|(_, r)| r.assets.iter().map(|a| a.nic_id.clone()))
        .collect();
    let by_person: HashMap<String, (i64, String)> = lookup(
        tx,
        "SELECT person_id, id, account_id FROM customers WHERE person_id IN ({})",
        &persons,
    )
    .await?
    .into_iter()
    .map(|(p, id, a)| (p, (id, a)))
    .collect();
    // Each customer's sort key, which enrollments carry for the console's sorted pages.
    let mut name_keys: HashMap<i64, String> = lookup(
        tx,
        "SELECT person_id, id, name_key FROM customers WHERE person_id IN ({})",
        &persons,
    )
    .await?
    .into_iter()
    .map(|(_, id, key)| (id, key))
    .collect();
    let by_account: HashMap<String, String> = lookup(
        tx,
        "SELECT account_id, id, person_id FROM customers WHERE account_id IN ({})",
        &accounts,
    )
    .await?
    .into_iter()
    .map(|(a, _, p)| (a, p))
    .collect();
    let locations: HashMap<String, i64> = lookup(tx, "SELECT service_point_id, id, premise_id FROM device_locations WHERE service_point_id IN ({})", &sps)
        .await?
        .into_iter()
        .map(|(sp, id, _)| (sp, id))
        .collect();
    let mut devices: HashMap<(String, String), i64> = lookup(
        tx,
        "SELECT nic_id, id, head_end FROM devices WHERE nic_id IN ({})",
        &nics,
    )
    .await?
    .into_iter()
    .map(|(nic, id, he)| ((he, nic), id))
    .collect();
    // Open enrollments (PENDING or ACTIVE) of those devices, per program.
    let device_ids: Vec<i64> = devices.values().copied().collect();
    let mut open: HashMap<(i64, i64), i64> = HashMap::new(); // (device, program) -> enrollment
    let q = format!(
        "SELECT ed.device_id, e.program_id, e.id FROM enrollment_devices ed JOIN enrollments e ON e.id = ed.enrollment_id
         WHERE ed.device_id IN ({}) AND ed.left_at IS NULL AND e.status IN ('PENDING', 'ACTIVE')",
        tx.dialect().in_list(1, Elem::Int)
    );
    for chunk in device_ids.chunks(LOOKUP_CHUNK) {
        let chunk = list(chunk)?;
        let rows: Vec<(i64, i64, i64)> =
            with_tx!(tx, |c| sqlx::query_as(&q).bind(&chunk).fetch_all(c).await?);
        open.extend(rows.into_iter().map(|(d, p, e)| ((d, p), e)));
    }

    // Device specifications translated through the admins' value map, when it has entries.
    let spec_map = crate::db::value_map::load_map(tx, "device_specification").await?;
    // A division must be served by a grid instance, when the division map has entries.
    let divisions = crate::db::value_map::load_map(tx, crate::db::value_map::DIVISION_MAP).await?;

    // Decide record by record; new rows get ids reserved up front.
    let mut customer_ids = reserve_ids(tx, "customers", valid.len()).await?.into_iter();
    let mut location_ids = reserve_ids(tx, "device_locations", valid.len())
        .await?
        .into_iter();
    let asset_count: usize = valid.iter().map(|(_, r)| r.assets.len()).sum();
    let mut new_device_ids = reserve_ids(tx, "devices", asset_count).await?.into_iter();
    let mut enrollment_ids = reserve_ids(tx, "enrollments", valid.len())
        .await?
        .into_iter();
    let mut new_customers: HashMap<String, (i64, String)> = HashMap::new();
    let mut new_accounts: HashSet<String> = HashSet::new();
    let mut new_locations: HashMap<String, i64> = HashMap::new();
    let mut rows_customers = Vec::new();
    let mut rows_locations = Vec::new();
    let mut new_places: Vec<NetworkPlace> = Vec::new();
    let mut rows_devices = Vec::new();
    let mut planned: Vec<Planned> = Vec::new();
    for (i, r) in &valid {
        let rid = r.record_id.as_str();
        let Some((program_id, status)) = programs.get(&r.program_code).cloned() else {
            results[*i] = Some(rejected(
                rid,
                "programInfo.programCode",
                format!("unknown program `{}`", r.program_code),
            ));
            continue;
        };
        if status != "active" {
            results[*i] = Some(rejected(
                rid,
                "programInfo.programCode",
                format!(
                    "program `{}` is {status} and takes no enrollments",
                    r.program_code
                ),
            ));
            continue;
        }
        let Some(&(transformer, feeder, substation)) =
            transformers.get(&r.location.transformer_code)
        else {
            results[*i] = Some(rejected(
                rid,
                "locationInfo.transformerCode",
                format!("unknown transformer `{}`", r.location.transformer_code),
            ));
            continue;
        };
        if !spec_map.is_empty() {
            if let Some(a) = r
                .assets
                .iter()
                .find(|a| !spec_map.contains_key(&a.specification))
            {
                results[*i] = Some(rejected(
                    rid,
                    "assetInfo.assetList.specification",
                    format!(
                        "value map `device_specification` has no entry for `{}`",
                        a.specification
                    ),
                ));
                continue;
            }
        }
        if let Some(why) = unserved_division(&divisions, r) {
            results[*i] = Some(rejected(rid, "locationInfo.division", why));
            continue;
        }
        // Already enrolled in this program?
        let enrolled: Vec<Option<i64>> = r
            .assets
            .iter()
            .map(|a| {
                devices
                    .get(&(a.head_end_system.clone(), a.nic_id.clone()))
                    .and_then(|d| open.get(&(*d, program_id)).copied())
            })
            .collect();
        if let Some(Some(e)) = enrolled.first() {
            if enrolled.iter().all(|x| *x == Some(*e)) {
                results[*i] = Some(
                    json!({"recordId": rid, "status": "ALREADY_EXISTS", "enrollmentId": e, "errors": []}),
                );
                continue;
            }
        }
        if enrolled.iter().any(Option::is_some) {
            results[*i] = Some(rejected(
                rid,
                "assetInfo.assetList",
                format!(
                    "some devices are already enrolled in `{}` and others are not",
                    r.program_code
                ),
            ));
            continue;
        }
        // The customer: known by person id (same account), or new (account not taken).
        let person = &r.customer.person_id;
        let customer_id = match by_person.get(person).or_else(|| new_customers.get(person)) {
            Some((id, account)) if *account == r.customer.account_id => *id,
            Some(_) => {
                results[*i] = Some(rejected(
                    rid,
                    "customerInfo.accountId",
                    "this person is known under another account".into(),
                ));
                continue;
            }
            None if by_account.contains_key(&r.customer.account_id)
                || new_accounts.contains(&r.customer.account_id) =>
            {
                results[*i] = Some(rejected(
                    rid,
                    "customerInfo.accountId",
                    "the account belongs to another person".into(),
                ));
                continue;
            }
            None => {
                let id = customer_ids
                    .next()
                    .ok_or_else(|| DomainError::Internal("customer ids".into()))?;
                new_customers.insert(person.clone(), (id, r.customer.account_id.clone()));
                let name_key = r.customer.name.to_lowercase();
                name_keys.insert(id, name_key.clone());
                new_accounts.insert(r.customer.account_id.clone());
                rows_customers.push(vec![
                    Arg::Int(id),
                    Arg::Text(person.clone()),
                    Arg::Text(r.customer.account_id.clone()),
                    Arg::Text(r.customer.name.clone()),
                    Arg::Text(name_key.clone()),
                    Arg::Text(r.customer.phone.clone().unwrap_or_default()),
                    Arg::Text(r.customer.email.clone().unwrap_or_default()),
                    Arg::Time(now),
                ]);
                id
            }
        };
        let sp = &r.location.service_point_id;
        let location_id = match locations.get(sp).or_else(|| new_locations.get(sp)) {
            Some(id) => *id,
            None => {
                let id = location_ids
                    .next()
                    .ok_or_else(|| DomainError::Internal("location ids".into()))?;
                new_locations.insert(sp.clone(), id);
                let l = &r.location;
                rows_locations.push(vec![
                    Arg::Int(id),
                    Arg::Text(sp.clone()),
                    Arg::Text(l.premise_id.clone()),
                    Arg::Text(l.street.clone()),
                    Arg::Text(l.city.clone()),
                    Arg::Text(l.postal_code.clone()),
                    Arg::Text(l.time_zone.clone()),
                    Arg::Int(transformer),
                    Arg::Int(feeder),
                    Arg::Int(substation),
                    Arg::Time(now),
                ]);
                let (feeder_code, substation_code) =
                    uppers.get(&l.transformer_code).cloned().unzip();
                new_places.push(NetworkPlace {
                    service_point_id: sp.clone(),
                    transformer_code: l.transformer_code.clone(),
                    feeder_code,
                    substation_code,
                });
                id
            }
        };
        let enrollment_id = enrollment_ids
            .next()
            .ok_or_else(|| DomainError::Internal("enrollment ids".into()))?;
        let mut ids = Vec::with_capacity(r.assets.len());
        for a in &r.assets {
            let key = (a.head_end_system.clone(), a.nic_id.clone());
            let id = match devices.get(&key) {
                Some(id) => *id,
                None => {
                    let id = new_device_ids
                        .next()
                        .ok_or_else(|| DomainError::Internal("device ids".into()))?;
                    devices.insert(key, id);
                    rows_devices.push(vec![
                        Arg::Int(id),
                        Arg::Text(a.head_end_system.clone()),
                        Arg::Text(a.nic_id.clone()),
                        Arg::Text(a.device_type.as_str().into()),
                        Arg::Text(
                            spec_map
                                .get(&a.specification)
                                .cloned()
                                .unwrap_or_else(|| a.specification.clone()),
                        ),
                        Arg::Text(a.serial_number.clone().unwrap_or_default()),
                        Arg::Text(a.badge.clone().unwrap_or_default()),
                        Arg::Text("active".into()),
                        Arg::Bool(false),
                        Arg::Float(a.nominal_kw),
                        Arg::Float(1.0),
                        Arg::Int(location_id),
                        Arg::OptInt(None),
                        Arg::Time(now),
                        Arg::Time(now),
                    ]);
                    id
                }
            };
            open.insert((id, program_id), enrollment_id);
            ids.push(id);
        }
        results[*i] = Some(
            json!({"recordId": rid, "status": "CREATED", "enrollmentId": enrollment_id, "errors": []}),
        );
        planned.push(Planned {
            index: *i,
            enrollment_id,
            customer_id,
            location_id,
            program_id,
            feeder,
            substation,
            device_ids: ids,
        });
    }

    // Write everything in multi-row statements.
    insert_rows(
        tx,
        "customers",
        &crate::db::CUSTOMER_COLUMNS,
        &rows_customers,
    )
    .await?;
    insert_rows(
        tx,
        "device_locations",
        &crate::db::LOCATION_COLUMNS,
        &rows_locations,
    )
    .await?;
    // The program side learns where each new service point is from the request itself.
    record_places(tx, &new_places, None, now).await?;
    insert_rows(tx, "devices", &crate::db::DEVICE_COLUMNS, &rows_devices).await?;
    let by_index: HashMap<usize, &CheckedEnrollmentRecord> =
        valid.iter().map(|(i, r)| (*i, r)).collect();
    let mut rows_enrollments = Vec::with_capacity(planned.len());
    let mut tallies = crate::db::enrollment::Tallies::default();
    let mut rows_members = Vec::new();
    let mut rows_history = Vec::with_capacity(planned.len());
    let mut audits = Vec::with_capacity(planned.len());
    for p in &planned {
        let r = by_index[&p.index];
        tallies.add(p.program_id, "PENDING", p.substation, p.feeder, 1);
        rows_enrollments.push(vec![
            Arg::Int(p.enrollment_id),
            Arg::Int(p.customer_id),
            Arg::Int(p.program_id),
            Arg::Int(p.location_id),
            Arg::Int(p.feeder),
            Arg::Int(p.substation),
            Arg::Text(r.source.as_str().into()),
            Arg::Text(r.ownership.as_str().into()),
            Arg::Text("PENDING".into()),
            Arg::Date(r.start_date),
            Arg::Time(now),
            Arg::Time(now),
            Arg::Text(name_keys.get(&p.customer_id).cloned().unwrap_or_default()),
        ]);
        for d in &p.device_ids {
            rows_members.push(vec![
                Arg::Int(p.enrollment_id),
                Arg::Int(*d),
                Arg::Time(now),
            ]);
        }
        rows_history.push(vec![
            Arg::Int(p.enrollment_id),
            Arg::Text("PENDING".into()),
            Arg::Time(now),
            Arg::Text("integration".into()),
            Arg::Text(format!(
                "enrollment request {transaction_id}, record {}",
                r.record_id
            )),
        ]);
        let shape = if r.published.is_some() {
            "published"
        } else {
            "gridflex"
        };
        audits.push(
            NewAuditEntry::new("integration", "enrollment.create", "enrollment", p.enrollment_id)
                .after(json!({"status": "PENDING", "program": r.program_code, "transactionId": transaction_id, "recordId": r.record_id, "shape": shape})),
        );
    }
    insert_rows(
        tx,
        "enrollments",
        &[
            "id",
            "customer_id",
            "program_id",
            "location_id",
            "feeder_id",
            "substation_id",
            "source",
            "ownership",
            "status",
            "start_date",
            "created_at",
            "updated_at",
            "customer_key",
        ],
        &rows_enrollments,
    )
    .await?;
    tallies.write(tx).await?;
    insert_rows(
        tx,
        "enrollment_devices",
        &["enrollment_id", "device_id", "joined_at"],
        &rows_members,
    )
    .await?;
    insert_rows(
        tx,
        "enrollment_status_history",
        &[
            "enrollment_id",
            "to_status",
            "changed_at",
            "actor",
            "reason",
        ],
        &rows_history,
    )
    .await?;
    let published = published_rows(&planned, &by_index);
    crate::db::published::insert_published_enrollments(tx, &published, now).await?;
    append_many(tx, &audits).await?;
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or(Value::Null))
        .collect())
}

/// The published fields of the enrollments being created from records received in the
/// published shape (issue 12).
fn published_rows(
    planned: &[Planned],
    by_index: &HashMap<usize, &CheckedEnrollmentRecord>,
) -> Vec<PublishedEnrollmentRow> {
    planned
        .iter()
        .filter_map(|p| {
            let r = by_index[&p.index];
            let extra = r.published.as_ref()?;
            let doc = &extra.document;
            let assets: Vec<Value> = doc
                .asset_info
                .asset_list
                .iter()
                .map(|a| json!({"sequence": a.sequence, "assetId": a.asset_id, "headEndSystem": a.head_end_system, "nicId": a.nic_id}))
                .collect();
            Some(PublishedEnrollmentRow {
                enrollment_id: p.enrollment_id,
                transaction_id: extra.transaction_id.clone(),
                location_ref: extra.location_id.clone(),
                division: extra.division.clone(),
                county: extra.county.clone(),
                state: extra.state.clone(),
                country: extra.country.clone(),
                premise_id: r.location.premise_id.clone(),
                service_agreement_id: extra.cis_service_agreement_id.clone(),
                installation_method: extra.installation_method.clone(),
                business_phone: extra.business_phone.clone(),
                assets: Value::Array(assets).to_string(),
                document: json!(doc).to_string(),
            })
        })
        .collect()
}
