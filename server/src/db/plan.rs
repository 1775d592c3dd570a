//! What planning an event reads and writes (grid side): the rules the grid keeps, the
//! network links, the candidate devices packed for speed, what excludes a device, past
//! participation, and the stored plan (intervals, stages, reserved devices).

use chrono::{DateTime, NaiveDate, Utc};

use crate::db::dialect::{insert_columns, list, Column, Elem};
use crate::db::{insert_rows, reserve_ids, Arg, Db, Tx};
use crate::error::DomainError;
use crate::{with_db, with_tx};

/// (program, effective from, rule JSON, linked) of every rule the grid side keeps, oldest
/// effective date first.
pub async fn program_rules(db: &Db) -> Result<Vec<(String, NaiveDate, String, bool)>, DomainError> {
    Ok(with_db!(db, |c| {
        sqlx::query_as(
        "SELECT program_code, effective_from, rule_json, linked FROM grid_program_rules ORDER BY effective_from"
    )
    .fetch_all(c)
    .await?
    }))
}

/// (child, parent) of every current network link.
pub async fn current_edges(db: &Db) -> Result<Vec<(i64, i64)>, DomainError> {
    Ok(with_db!(db, |c| sqlx::query_as(
        "SELECT child_id, parent_id FROM network_edges WHERE valid_to IS NULL"
    )
    .fetch_all(c)
    .await?))
}

pub async fn transformer_ids(db: &Db) -> Result<Vec<i64>, DomainError> {
    Ok(with_db!(db, |c| sqlx::query_scalar::<_, i64>(
        "SELECT id FROM network_nodes WHERE kind = 'transformer'"
    )
    .fetch_all(c)
    .await?))
}

/// Candidate rows per packed text row.
pub const PACK: i64 = 2048;

/// The grid's devices as `id,program,type,kw,score,registered,transformer` records separated
/// by `;`, [`PACK`] per text row: program and type are the index in `programs` and
/// `device_types` (-1 for others), registered is 1 or 0, transformer 0 when unknown. With
/// `transformers`, only the devices under those.
///
/// Hundreds of thousands of rows cost more to hand over one by one than to compute: the
/// database packs them, a few thousand per text row, and the caller parses them.
pub async fn packed_candidates(
    db: &Db,
    programs: &[String],
    device_types: &[&str],
    transformers: Option<&[i64]>,
) -> Result<Vec<Option<String>>, DomainError> {
    // Program and device type as small integers straight from SQL: no string per row.
    let mut program_case = String::from("CASE gd.program_code");
    let mut args: Vec<Arg> = Vec::new();
    for (i, p) in programs.iter().enumerate() {
        args.push(Arg::Text(p.clone()));
        program_case.push_str(&format!(" WHEN ${} THEN {i}", args.len()));
    }
    program_case.push_str(" ELSE -1 END");
    let mut type_case = String::from("CASE gd.device_type");
    for (i, t) in device_types.iter().enumerate() {
        type_case.push_str(&format!(" WHEN '{t}' THEN {i}"));
    }
    type_case.push_str(" ELSE -1 END");
    let filter = match transformers {
        None => String::new(),
        Some(ids) => {
            args.push(Arg::Text(list(ids)?));
            format!(
                " WHERE gd.transformer_id IN ({})",
                db.dialect().in_list(args.len(), Elem::Int)
            )
        }
    };
    let packed = db.dialect().string_agg(
        &format!(
            "CAST(gd.id AS TEXT) || ',' || CAST({program_case} AS TEXT) || ',' || CAST({type_case} AS TEXT)
                || ',' || CAST(gd.nominal_kw AS TEXT) || ',' || CAST(COALESCE(gd.control_score, 0.0) AS TEXT)
                || ',' || CAST(CASE WHEN gd.status = 'registered' THEN 1 ELSE 0 END AS TEXT)
                || ',' || CAST(COALESCE(gd.transformer_id, 0) AS TEXT)"
        ),
        "';'",
    );
    let sql = format!("SELECT {packed} FROM grid_devices gd{filter} GROUP BY gd.id / {PACK}");
    Ok(with_db!(db, |c| crate::bind_args!(
        sqlx::query_scalar(&sql),
        args.iter()
    )
    .fetch_all(c)
    .await?))
}

/// Devices with an active unavailability window overlapping `starts_at`..`ends_at`.
pub async fn unavailable_devices(
    db: &Db,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> Result<Vec<i64>, DomainError> {
    Ok(with_db!(db, |c| {
        sqlx::query_scalar::<_, i64>(
        "SELECT gd.id FROM grid_unavailability u JOIN grid_devices gd ON gd.head_end = u.head_end AND gd.nic_id = u.nic_id
         WHERE u.status = 'active' AND u.starts_at < $1 AND u.ends_at > $2"
    )
    .bind(ends_at)
    .bind(starts_at)
    .fetch_all(c)
    .await?
    }))
}

/// Devices whose customer opted out of the event `event_code`.
pub async fn opted_out_devices(db: &Db, event_code: &str) -> Result<Vec<i64>, DomainError> {
    Ok(with_db!(db, |c| {
        sqlx::query_scalar::<_, i64>(
        "SELECT gd.id FROM grid_opt_outs o JOIN grid_devices gd ON gd.head_end = o.head_end AND gd.nic_id = o.nic_id
         WHERE o.event_external_id = $1"
    )
    .bind(event_code)
    .fetch_all(c)
    .await?
    }))
}

/// (device, stage start, stage end) of devices reserved in other live or finished events,
/// for stages ending after `since` and starting before `until`, that did not fail.
pub async fn participation(
    db: &Db,
    event_id: i64,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<(i64, DateTime<Utc>, DateTime<Utc>)>, DomainError> {
    Ok(with_db!(db, |c| {
        sqlx::query_as(
        "SELECT d.grid_device_id, s.starts_at, s.ends_at
         FROM event_stage_devices d JOIN event_stages s ON s.id = d.stage_id JOIN events e ON e.id = d.event_id
         WHERE e.id <> $1 AND e.status IN ('Approved', 'Scheduled', 'InProgress', 'Completed')
           AND s.ends_at > $2 AND s.starts_at < $3 AND d.status = 'reserved'
           AND (d.outcome IS NULL OR d.outcome IN ('D1SP', 'D1IO'))"
    )
    .bind(event_id)
    .bind(since)
    .bind(until)
    .fetch_all(c)
    .await?
    }))
}

pub async fn event_status(tx: &mut Tx, event_id: i64) -> Result<String, DomainError> {
    Ok(with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT status FROM events WHERE id = $1"
    )
    .bind(event_id)
    .fetch_one(c)
    .await?))
}

/// Removes an earlier plan: stage devices, stages and intervals.
pub async fn clear_plan(tx: &mut Tx, event_id: i64) -> Result<(), DomainError> {
    for table in ["event_stage_devices", "event_stages", "event_intervals"] {
        let sql = format!("DELETE FROM {table} WHERE event_id = $1");
        with_tx!(tx, |c| sqlx::query(&sql)
            .bind(event_id)
            .execute(c)
            .await?
            .rows_affected());
    }
    Ok(())
}

/// One planned quarter hour.
#[derive(Debug, Clone)]
pub struct NewInterval {
    pub idx: i64,
    pub starts_at: DateTime<Utc>,
    pub baseline_kw: f64,
    pub planned_kw: f64,
}

pub async fn insert_intervals(
    tx: &mut Tx,
    event_id: i64,
    intervals: &[NewInterval],
) -> Result<(), DomainError> {
    let rows: Vec<Vec<Arg>> = intervals
        .iter()
        .map(|i| {
            vec![
                Arg::Int(event_id),
                Arg::Int(i.idx),
                Arg::Time(i.starts_at),
                Arg::Float(i.baseline_kw),
                Arg::Float(i.planned_kw),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "event_intervals",
        &["event_id", "idx", "starts_at", "baseline_kw", "planned_kw"],
        &rows,
    )
    .await
}

/// Ids for `n` new stages, so their devices can name them before they are inserted.
pub async fn reserve_stage_ids(tx: &mut Tx, n: usize) -> Result<Vec<i64>, DomainError> {
    reserve_ids(tx, "event_stages", n).await
}

/// A planned stage, with an id from [`reserve_stage_ids`].
#[derive(Debug, Clone)]
pub struct NewStage {
    pub id: i64,
    pub seq: i64,
    pub external_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub expected_kw: f64,
    pub device_count: i64,
}

/// A device reserved in a planned stage.
#[derive(Debug, Clone)]
pub struct NewStageDevice {
    pub stage_id: i64,
    pub grid_device_id: i64,
    pub program_code: String,
    pub expected_kw: f64,
}

/// Stores the stages (status `planned`) and their devices (status `reserved`).
pub async fn insert_stages(
    tx: &mut Tx,
    event_id: i64,
    stages: &[NewStage],
    devices: &[NewStageDevice],
) -> Result<(), DomainError> {
    let stage_rows: Vec<Vec<Arg>> = stages
        .iter()
        .map(|s| {
            vec![
                Arg::Int(s.id),
                Arg::Int(event_id),
                Arg::Int(s.seq),
                Arg::Text(s.external_id.clone()),
                Arg::Time(s.starts_at),
                Arg::Time(s.ends_at),
                Arg::Float(s.expected_kw),
                Arg::Int(s.device_count),
                Arg::Text("planned".into()),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "event_stages",
        &[
            "id",
            "event_id",
            "seq",
            "external_id",
            "starts_at",
            "ends_at",
            "expected_kw",
            "device_count",
            "status",
        ],
        &stage_rows,
    )
    .await?;
    // Hundreds of thousands of reserved devices: column by column (UNNEST on PostgreSQL,
    // wide multi-row statements on SQLite), no per-row argument list.
    let stage_ids: Vec<i64> = devices.iter().map(|d| d.stage_id).collect();
    let device_ids: Vec<i64> = devices.iter().map(|d| d.grid_device_id).collect();
    let programs: Vec<String> = devices.iter().map(|d| d.program_code.clone()).collect();
    let kw: Vec<f64> = devices.iter().map(|d| d.expected_kw).collect();
    insert_columns(
        tx,
        "event_stage_devices",
        &[
            ("stage_id", Column::Int(&stage_ids)),
            ("event_id", Column::SameInt(event_id)),
            ("grid_device_id", Column::Int(&device_ids)),
            ("program_code", Column::Text(&programs)),
            ("expected_kw", Column::Float(&kw)),
            ("status", Column::SameText("reserved")),
        ],
        devices.len(),
    )
    .await
}

/// A planned device as the audit digest of a plan covers it: what planning decided, not
/// what happened since (opt-outs, outcomes, stage status).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PlannedRow {
    pub seq: i64,
    pub external_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub grid_device_id: i64,
    pub program_code: String,
    pub expected_kw: f64,
}

impl PlannedRow {
    /// The canonical fields the digest hashes, in order: the stage's
    /// ([`PlannedRow::stage_fields`]), then the device's ([`DeviceFields::of`]).
    pub fn digest_fields(&self, event_id: i64) -> [String; 8] {
        let [e, seq, ext, start, end] = Self::stage_fields(
            event_id,
            self.seq,
            &self.external_id,
            &self.starts_at,
            &self.ends_at,
        );
        let mut device = DeviceFields::default();
        let [id, program, kw] = device
            .of(self.grid_device_id, &self.program_code, self.expected_kw)
            .map(|f| f.unwrap_or_default().to_string());
        [e, seq, ext, start, end, id, program, kw]
    }

    /// The first five fields, which every device of a stage shares.
    pub fn stage_fields(
        event_id: i64,
        seq: i64,
        external_id: &str,
        starts_at: &DateTime<Utc>,
        ends_at: &DateTime<Utc>,
    ) -> [String; 5] {
        use crate::db::audit::time_field;
        [
            event_id.to_string(),
            seq.to_string(),
            external_id.to_string(),
            time_field(starts_at),
            time_field(ends_at),
        ]
    }
}

/// The last three digest fields of a planned device (id, program, expected kW), written into
/// buffers kept from row to row: a plan of hundreds of thousands of devices formats them
/// without an allocation per row.
#[derive(Default)]
pub struct DeviceFields {
    id: String,
    kw: String,
}

impl DeviceFields {
    pub fn of<'a>(
        &'a mut self,
        grid_device_id: i64,
        program_code: &'a str,
        expected_kw: f64,
    ) -> [Option<&'a str>; 3] {
        use std::fmt::Write;
        self.id.clear();
        // Writing into a String cannot fail.
        let _ = write!(self.id, "{grid_device_id}");
        crate::db::audit::write_float_field(&mut self.kw, expected_kw);
        [Some(&self.id), Some(program_code), Some(&self.kw)]
    }
}

/// The event's planned devices in the digest's order: stage by stage, device id within.
pub async fn planned_rows(db: &Db, event_id: i64) -> Result<Vec<PlannedRow>, DomainError> {
    Ok(with_db!(db, |c| {
        sqlx::query_as(
        "SELECT CAST(s.seq AS BIGINT) AS seq, s.external_id, s.starts_at, s.ends_at, d.grid_device_id, d.program_code, d.expected_kw
         FROM event_stage_devices d JOIN event_stages s ON s.id = d.stage_id
         WHERE d.event_id = $1 ORDER BY s.seq, d.grid_device_id"
    )
    .bind(event_id)
    .fetch_all(c)
    .await?
    }))
}

pub async fn set_plan_summary(
    tx: &mut Tx,
    event_id: i64,
    summary: &str,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    with_tx!(tx, |c| sqlx::query(
        "UPDATE events SET plan_summary = $1, planned_at = $2, updated_at = $2 WHERE id = $3"
    )
    .bind(summary)
    .bind(now)
    .bind(event_id)
    .execute(c)
    .await?
    .rows_affected());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::audit::RowDigest;

    #[test]
    fn a_planned_row_digests_the_same_whole_or_after_its_stage() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let rows = [
            PlannedRow {
                seq: 2,
                external_id: "EV-00007-S02".into(),
                starts_at: t("2026-07-08T22:00:00.000001Z"),
                ends_at: t("2026-07-08T23:00:00Z"),
                grid_device_id: 4096,
                program_code: "PRG-A".into(),
                expected_kw: 0.1 + 0.2,
            },
            PlannedRow {
                seq: 2,
                external_id: "EV-00007-S02".into(),
                starts_at: t("2026-07-08T22:00:00.000001Z"),
                ends_at: t("2026-07-08T23:00:00Z"),
                grid_device_id: 17,
                program_code: "B".into(),
                expected_kw: 17.0,
            },
        ];
        let mut whole = RowDigest::new();
        for r in &rows {
            let fields = r.digest_fields(7);
            assert_eq!(fields[5], r.grid_device_id.to_string());
            assert_eq!(fields[7], crate::db::audit::float_field(r.expected_kw));
            whole.row(&fields.each_ref().map(|f| Some(f.as_str())));
        }
        let stage =
            PlannedRow::stage_fields(7, 2, "EV-00007-S02", &rows[0].starts_at, &rows[0].ends_at);
        let prefix = RowDigest::prefix(&stage.each_ref().map(|f| Some(f.as_str())));
        let mut after = RowDigest::new();
        let mut buf = DeviceFields::default();
        for r in &rows {
            after.row_after(
                &prefix,
                &buf.of(r.grid_device_id, &r.program_code, r.expected_kw),
            );
        }
        assert_eq!(after.finish(), whole.finish());
    }
}
