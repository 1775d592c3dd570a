//! The customers, their service points and devices, their enrollments in every status, and the
//! grid side's device copies, generated in chunks for the bulk loader.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::catalog::{FIRST, KINDS, LAST, PROGRAMS, STREETS, SUBSTATIONS};
use super::{nic_for, pick};
use crate::db::{insert_rows, Arg, Tx};
use crate::error::DomainError;

/// Tables the bulk loader fills.
pub(super) const BULK_TABLES: &str = "'customers', 'device_locations', 'devices', 'enrollments', 'enrollment_devices', 'enrollment_status_history', 'grid_devices'";

/// (name, CREATE statement) of the non-unique secondary indexes of the bulk-loaded tables.
pub(super) async fn secondary_indexes(tx: &mut Tx) -> Result<Vec<(String, String)>, DomainError> {
    let sql = match tx {
        Tx::Sqlite(_) => format!(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL
             AND sql NOT LIKE 'CREATE UNIQUE%' AND tbl_name IN ({BULK_TABLES}) ORDER BY name"
        ),
        Tx::Postgres(_) => format!(
            "SELECT indexname::text, indexdef::text FROM pg_indexes WHERE schemaname = current_schema()
             AND indexdef NOT LIKE 'CREATE UNIQUE%' AND tablename IN ({BULK_TABLES}) ORDER BY indexname"
        ),
    };
    Ok(crate::with_tx!(tx, |c| {
        sqlx::query_as::<_, (String, String)>(&sql)
            .fetch_all(c)
            .await?
    }))
}

pub(super) struct PeopleGen {
    pub(super) next_customer: i64,
    pub(super) next_device: i64,
    pub(super) next_enrollment: i64,
    pub(super) devices_left: usize,
}

#[derive(Default)]
pub(super) struct Chunk {
    pub(super) customers: Vec<Vec<Arg>>,
    pub(super) locations: Vec<Vec<Arg>>,
    pub(super) devices: Vec<Vec<Arg>>,
    pub(super) enrollments: Vec<Vec<Arg>>,
    pub(super) members: Vec<Vec<Arg>>,
    pub(super) history: Vec<Vec<Arg>>,
    pub(super) replacements: Vec<Vec<Arg>>,
    pub(super) windows: Vec<Vec<Arg>>,
    pub(super) grid: Vec<Vec<Arg>>,
}

impl PeopleGen {
    pub(super) fn chunk(
        &mut self,
        rng: &mut ChaCha8Rng,
        transformers: &[(i64, i64, i64, usize)],
        customers: usize,
        t0: DateTime<Utc>,
    ) -> Chunk {
        let mut c = Chunk::default();
        let total_weight: u32 = KINDS.iter().map(|k| k.weight).sum();
        for _ in 0..customers {
            if self.devices_left == 0 {
                break;
            }
            let cid = self.next_customer;
            self.next_customer += 1;
            let first = pick(rng, &FIRST);
            let last = pick(rng, &LAST);
            let name = format!("{first} {last}");
            c.customers.push(vec![
                Arg::Int(cid),
                Arg::Text(format!("P{cid:08}")),
                Arg::Text(format!("A{:09}", 100_000_000 + cid)),
                Arg::Text(name.clone()),
                Arg::Text(name.to_lowercase()),
                Arg::Text(format!(
                    "+1 555 {:03} {:04}",
                    rng.gen_range(200..999),
                    rng.gen_range(0..10_000)
                )),
                Arg::Text(format!(
                    "{}.{}{}@example.com",
                    first.to_lowercase(),
                    last.to_lowercase(),
                    cid
                )),
                Arg::Time(t0),
            ]);
            // One service point per customer, on a transformer of the utility.
            let (tid, fid, sid, city) =
                transformers[(cid as usize * 7919 + rng.gen_range(0..7)) % transformers.len()];
            c.locations.push(vec![
                Arg::Int(cid),
                Arg::Text(format!("SP{cid:09}")),
                Arg::Text(format!("PR{cid:09}")),
                Arg::Text(format!(
                    "{} {}",
                    rng.gen_range(1..9999),
                    pick(rng, &STREETS)
                )),
                Arg::Text(SUBSTATIONS[city].2.to_string()),
                Arg::Text(format!("{:05}", 60_000 + city * 100 + (cid as usize % 97))),
                Arg::Text("America/Chicago".into()),
                Arg::Int(tid),
                Arg::Int(fid),
                Arg::Int(sid),
                Arg::Time(t0),
            ]);
            let n_devices = match rng.gen_range(0..100) {
                0..=49 => 1,
                50..=84 => 2,
                _ => 3,
            }
            .min(self.devices_left);
            // Devices grouped by the program their type belongs to: one enrollment each.
            let mut by_program: [Vec<(i64, f64)>; 4] = Default::default();
            for _ in 0..n_devices {
                let mut roll = rng.gen_range(0..total_weight);
                let kind = KINDS
                    .iter()
                    .find(|k| {
                        if roll < k.weight {
                            true
                        } else {
                            roll -= k.weight;
                            false
                        }
                    })
                    .unwrap_or(&KINDS[0]);
                let did = self.next_device;
                self.next_device += 1;
                let (head_end, spec) = pick(rng, kind.head_ends);
                let kw = (rng.gen_range(kind.kw.0..kind.kw.1) * 10.0).round() / 10.0;
                by_program[kind.program].push((did, kw));
                c.devices.push(vec![
                    Arg::Int(did),
                    Arg::Text(head_end.to_string()),
                    Arg::Text(nic_for(did as u64)),
                    Arg::Text(kind.device_type.into()),
                    Arg::Text(spec.to_string()),
                    Arg::Text(format!("SN{:010}", did * 37 % 10_000_000_000)),
                    Arg::Text(format!("B{:07}", did)),
                    Arg::Text(
                        if rng.gen_range(0..100) < 97 {
                            "active"
                        } else {
                            "inactive"
                        }
                        .into(),
                    ),
                    Arg::Bool(false),
                    Arg::Float(kw),
                    Arg::Float((rng.gen_range(0.5..5.0f64) * 100.0).round() / 100.0),
                    Arg::Int(cid),
                    Arg::OptInt(if kind.program < 2 { Some(1) } else { Some(2) }),
                    Arg::Time(t0),
                    Arg::Time(t0),
                ]);
                if rng.gen_range(0..200) == 0 {
                    let start = t0
                        + Duration::days(rng.gen_range(30..200))
                        + Duration::hours(rng.gen_range(0..24));
                    c.windows.push(vec![
                        Arg::Int(did),
                        Arg::Time(start),
                        Arg::Time(start + Duration::hours(rng.gen_range(4..72))),
                        Arg::Text(
                            pick(rng, &["vacation", "medical", "maintenance", "guests"])
                                .to_string(),
                        ),
                        Arg::Text(
                            if rng.gen_bool(0.9) {
                                "active"
                            } else {
                                "cancelled"
                            }
                            .into(),
                        ),
                        Arg::Time(t0),
                    ]);
                }
            }
            self.devices_left -= n_devices;
            for (program, devices) in by_program.iter().enumerate() {
                if devices.is_empty() {
                    continue;
                }
                let eid = self.next_enrollment;
                self.next_enrollment += 1;
                let status = match rng.gen_range(0..100) {
                    0..=69 => "ACTIVE",
                    70..=89 => "PENDING",
                    _ => "INACTIVE",
                };
                let source = match rng.gen_range(0..100) {
                    0..=59 => "X1BY",
                    60..=84 => "X1SS",
                    _ => "X1CC",
                };
                let ownership = match rng.gen_range(0..100) {
                    0..=84 => "owned",
                    85..=94 => "leased",
                    _ => "utility",
                };
                let created = t0 - Duration::days(rng.gen_range(0..700))
                    + Duration::minutes(rng.gen_range(0..600));
                let start = created.date_naive();
                let activated = created + Duration::days(rng.gen_range(1..14));
                let ended = activated + Duration::days(rng.gen_range(30..300));
                let end_date = (status == "INACTIVE").then(|| ended.date_naive());
                c.enrollments.push(vec![
                    Arg::Int(eid),
                    Arg::Int(cid),
                    Arg::Int(program as i64 + 1),
                    Arg::Int(cid),
                    Arg::Int(fid),
                    Arg::Int(sid),
                    Arg::Text(source.into()),
                    Arg::Text(ownership.into()),
                    Arg::Text(status.into()),
                    Arg::Date(start),
                    Arg::OptDate(end_date),
                    Arg::Time(created),
                    Arg::Time(if status == "PENDING" {
                        created
                    } else {
                        activated
                    }),
                    Arg::Text(name.to_lowercase()),
                ]);
                let via = if source == "X1BY" {
                    "head-end"
                } else if source == "X1SS" {
                    "self-service"
                } else {
                    "contact-centre"
                };
                c.history.push(vec![
                    Arg::Int(eid),
                    Arg::OptText(None),
                    Arg::Text("PENDING".into()),
                    Arg::Time(created),
                    Arg::Text(via.into()),
                    Arg::Text("enrollment request received".into()),
                ]);
                if status != "PENDING" {
                    c.history.push(vec![
                        Arg::Int(eid),
                        Arg::OptText(Some("PENDING".into())),
                        Arg::Text("ACTIVE".into()),
                        Arg::Time(activated),
                        Arg::Text("manager".into()),
                        Arg::Text("devices registered with the head-end".into()),
                    ]);
                }
                if status == "INACTIVE" {
                    c.history.push(vec![
                        Arg::Int(eid),
                        Arg::OptText(Some("ACTIVE".into())),
                        Arg::Text("INACTIVE".into()),
                        Arg::Time(ended),
                        Arg::Text("manager".into()),
                        Arg::Text(
                            pick(
                                rng,
                                &["customer moved", "customer request", "device removed"],
                            )
                            .to_string(),
                        ),
                    ]);
                }
                let left = (status == "INACTIVE").then_some(ended);
                for (did, _) in devices {
                    c.members.push(vec![
                        Arg::Int(eid),
                        Arg::Int(*did),
                        Arg::Time(created),
                        Arg::OptTime(left),
                    ]);
                }
                // Registered with the head-end once active.
                if status == "ACTIVE" {
                    for (did, _) in devices {
                        if let Some(row) = c
                            .devices
                            .iter_mut()
                            .rev()
                            .find(|r| matches!(r[0], Arg::Int(d) if d == *did))
                        {
                            let registered = rng.gen_range(0..100) < 96;
                            row[8] = Arg::Bool(registered);
                            // The grid side's registry holds what flow 2 registered.
                            if registered {
                                c.grid.push(vec![
                                    row[1].clone(),
                                    row[2].clone(),
                                    Arg::Int(eid),
                                    Arg::Text(PROGRAMS[program].code.to_string()),
                                    row[3].clone(),
                                    row[9].clone(),
                                    Arg::Int(tid),
                                    Arg::Text("registered".into()),
                                    Arg::Time(activated),
                                    Arg::Time(activated),
                                ]);
                            }
                        }
                    }
                }
                // One active enrollment in a hundred had a device replaced (history kept).
                if status == "ACTIVE" && rng.gen_range(0..100) == 0 {
                    let (old, kw) = devices[0];
                    let new_id = self.next_device;
                    self.next_device += 1;
                    let old_row = c
                        .devices
                        .iter()
                        .rev()
                        .find(|r| matches!(r[0], Arg::Int(d) if d == old))
                        .cloned();
                    if let Some(mut row) = old_row {
                        row[0] = Arg::Int(new_id);
                        row[2] = Arg::Text(nic_for(new_id as u64));
                        row[5] = Arg::Text(format!("SN{:010}", new_id * 37 % 10_000_000_000));
                        row[6] = Arg::Text(format!("B{new_id:07}"));
                        row[9] = Arg::Float(kw);
                        c.devices.push(row);
                        if let Some(old_row) = c
                            .devices
                            .iter_mut()
                            .find(|r| matches!(r[0], Arg::Int(d) if d == old))
                        {
                            old_row[7] = Arg::Text("inactive".into());
                        }
                        let when = activated + Duration::days(rng.gen_range(10..200));
                        if let Some(m) = c
                            .members
                            .iter_mut()
                            .rev()
                            .find(|m| matches!(m[1], Arg::Int(d) if d == old))
                        {
                            m[3] = Arg::OptTime(Some(when));
                        }
                        c.members.push(vec![
                            Arg::Int(eid),
                            Arg::Int(new_id),
                            Arg::Time(when),
                            Arg::OptTime(None),
                        ]);
                        c.replacements.push(vec![
                            Arg::Int(eid),
                            Arg::Int(old),
                            Arg::Int(new_id),
                            Arg::Time(when),
                            Arg::Text("manager".into()),
                            Arg::Text("faulty unit replaced under warranty".into()),
                        ]);
                    }
                }
            }
        }
        c
    }
}

impl Chunk {
    pub(super) async fn write(self, tx: &mut Tx) -> Result<(), DomainError> {
        insert_rows(
            tx,
            "customers",
            &crate::db::CUSTOMER_COLUMNS,
            &self.customers,
        )
        .await?;
        insert_rows(
            tx,
            "device_locations",
            &crate::db::LOCATION_COLUMNS,
            &self.locations,
        )
        .await?;
        insert_rows(tx, "devices", &crate::db::DEVICE_COLUMNS, &self.devices).await?;
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
                "end_date",
                "created_at",
                "updated_at",
                "customer_key",
            ],
            &self.enrollments,
        )
        .await?;
        insert_rows(
            tx,
            "enrollment_devices",
            &["enrollment_id", "device_id", "joined_at", "left_at"],
            &self.members,
        )
        .await?;
        insert_rows(
            tx,
            "enrollment_status_history",
            &[
                "enrollment_id",
                "from_status",
                "to_status",
                "changed_at",
                "actor",
                "reason",
            ],
            &self.history,
        )
        .await?;
        insert_rows(
            tx,
            "device_replacements",
            &[
                "enrollment_id",
                "old_device_id",
                "new_device_id",
                "replaced_at",
                "actor",
                "reason",
            ],
            &self.replacements,
        )
        .await?;
        insert_rows(
            tx,
            "unavailability_windows",
            &[
                "device_id",
                "starts_at",
                "ends_at",
                "reason",
                "status",
                "created_at",
            ],
            &self.windows,
        )
        .await?;
        insert_rows(
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
            ],
            &self.grid,
        )
        .await?;
        Ok(())
    }
}
