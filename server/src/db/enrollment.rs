//! Enrollments (program subscriptions): the filtered, keyset-paged list and the detail.

use chrono::{DateTime, NaiveDate, Utc};

use app::query::{EnrollmentQuery, EnrollmentSort};

use std::collections::BTreeMap;

use crate::db::dialect::{list, Elem};
use crate::db::Recount;
use crate::db::{insert_rows_then, prefix_upper_bound, Arg, Db, Filter, Tx};
use crate::error::DomainError;
use crate::{bind_args, with_db, with_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EnrollmentListRow {
    pub id: i64,
    pub customer_name: String,
    pub account_id: String,
    pub program_id: i64,
    pub program_code: String,
    pub status: String,
    pub source: String,
    pub service_point_id: String,
    pub substation_code: String,
    pub feeder_code: String,
    pub device_count: i64,
    pub nominal_kw: f64,
    pub start_date: NaiveDate,
}

/// The page's rows with what the list shows of each; `{page}` is the page's ids, chosen from
/// enrollments alone so that the sort's index drives it (joined first, the planner would
/// start from the small tables and sort every match).
const LIST_SELECT: &str = "SELECT e.id, c.name AS customer_name, c.account_id, e.program_id, p.code AS program_code,
       e.status, e.source, l.service_point_id, s.code AS substation_code, f.code AS feeder_code,
       (SELECT COUNT(*) FROM enrollment_devices ed WHERE ed.enrollment_id = e.id AND ed.left_at IS NULL) AS device_count,
       (SELECT COALESCE(SUM(d.nominal_kw), 0.0) FROM enrollment_devices ed JOIN devices d ON d.id = ed.device_id
         WHERE ed.enrollment_id = e.id AND ed.left_at IS NULL) AS nominal_kw,
       e.start_date
FROM ({page}) pg
JOIN enrollments e ON e.id = pg.id
JOIN customers c ON c.id = e.customer_id
JOIN programs p ON p.id = e.program_id
JOIN device_locations l ON l.id = e.location_id
JOIN program_network_nodes s ON s.id = e.substation_id
JOIN program_network_nodes f ON f.id = e.feeder_id";

/// The filters shared by the page query and the count.
fn filters(q: &EnrollmentQuery) -> Filter {
    let mut f = Filter::default();
    if let Some(v) = q.program {
        f.add("e.program_id = ?", [Arg::Int(v)]);
    }
    if let Some(v) = q.status {
        f.add("e.status = ?", [Arg::Text(v.as_str().into())]);
    }
    if let Some(v) = q.substation {
        f.add("e.substation_id = ?", [Arg::Int(v)]);
    }
    if let Some(v) = q.feeder {
        f.add("e.feeder_id = ?", [Arg::Int(v)]);
    }
    if let Some(t) = q.device_type {
        f.add(
            "EXISTS (SELECT 1 FROM enrollment_devices ed JOIN devices d ON d.id = ed.device_id
                     WHERE ed.enrollment_id = e.id AND ed.left_at IS NULL AND d.device_type = ?)",
            [Arg::Text(t.as_str().into())],
        );
    }
    if let Some(text) = &q.q {
        // Every branch is an indexed lookup; the union is small and drives the outer query.
        let key = text.to_lowercase();
        f.add(
            "e.id IN (
                SELECT e2.id FROM enrollments e2 JOIN customers c2 ON c2.id = e2.customer_id
                  WHERE c2.account_id = ? OR c2.person_id = ? OR (c2.name_key >= ? AND c2.name_key < ?)
                UNION
                SELECT e3.id FROM enrollments e3 JOIN device_locations l3 ON l3.id = e3.location_id
                  WHERE l3.service_point_id = ?
                UNION
                SELECT ed4.enrollment_id FROM enrollment_devices ed4 JOIN devices d4 ON d4.id = ed4.device_id
                  WHERE d4.nic_id = ?)",
            [
                Arg::Text(text.clone()),
                Arg::Text(text.clone()),
                Arg::Text(key.clone()),
                Arg::Text(prefix_upper_bound(&key)),
                Arg::Text(text.clone()),
                Arg::Text(text.to_uppercase()),
            ],
        );
    }
    f
}

/// One page of enrollments, the total matching, and the cursor of the next page.
pub async fn list_enrollments(
    db: &Db,
    q: &EnrollmentQuery,
) -> Result<(Vec<EnrollmentListRow>, i64, Option<i64>), DomainError> {
    let base = filters(q);
    let mut page = base.clone();
    // Each sort is (key, id) on the enrollment itself, so an index per offered filter answers
    // a page in order (migration 0021); the keyset condition is a row-value comparison,
    // which both databases seek in such an index.
    let order = match q.sort {
        EnrollmentSort::Id => "e.id",
        EnrollmentSort::IdDesc => "e.id DESC",
        EnrollmentSort::Customer => "e.customer_key, e.id",
        EnrollmentSort::StartDate => "e.start_date, e.id",
    };
    if let Some(after) = q.after {
        match q.sort {
            EnrollmentSort::Id => page.add("e.id > ?", [Arg::Int(after)]),
            EnrollmentSort::IdDesc => page.add("e.id < ?", [Arg::Int(after)]),
            EnrollmentSort::Customer => {
                let key: Option<String> = with_db!(db, |pool| {
                    sqlx::query_scalar("SELECT customer_key FROM enrollments WHERE id = $1")
                        .bind(after)
                        .fetch_optional(pool)
                        .await?
                });
                let key = key.ok_or_else(|| {
                    DomainError::invalid("query parameter `after`: no such enrollment")
                })?;
                page.add(
                    "(e.customer_key, e.id) > (?, ?)",
                    [Arg::Text(key), Arg::Int(after)],
                );
            }
            EnrollmentSort::StartDate => {
                let day: Option<NaiveDate> = with_db!(db, |pool| sqlx::query_scalar(
                    "SELECT start_date FROM enrollments WHERE id = $1"
                )
                .bind(after)
                .fetch_optional(pool)
                .await?);
                let day = day.ok_or_else(|| {
                    DomainError::invalid("query parameter `after`: no such enrollment")
                })?;
                page.add(
                    "(e.start_date, e.id) > (?, ?)",
                    [Arg::Date(day), Arg::Int(after)],
                );
            }
        }
    }
    let limit = q.limit.clamp(1, 500) as usize;
    let ids = format!(
        "SELECT e.id FROM enrollments e{} ORDER BY {order} LIMIT {}",
        page.sql(),
        limit + 1
    );
    let page_sql = format!("{} ORDER BY {order}", LIST_SELECT.replace("{page}", &ids));
    // Filtered by program, status, substation and feeder only, the count is a sum over the
    // maintained tallies (a few hundred rows) instead of a count of every match.
    let count_sql = if q.q.is_none() && q.device_type.is_none() {
        format!(
            "SELECT CAST(COALESCE(SUM(e.n), 0) AS BIGINT) FROM enrollment_tallies e{}",
            base.sql()
        )
    } else {
        format!("SELECT COUNT(*) FROM enrollments e{}", base.sql())
    };
    let (mut rows, total) = with_db!(db, |pool| {
        let rows = bind_args!(
            sqlx::query_as::<_, EnrollmentListRow>(&page_sql),
            &page.args
        )
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
pub struct EnrollmentRow {
    pub id: i64,
    pub customer_id: i64,
    pub program_id: i64,
    pub location_id: i64,
    pub source: String,
    pub ownership: String,
    pub status: String,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
}

pub async fn get_enrollment(db: &Db, id: i64) -> Result<Option<EnrollmentRow>, DomainError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, EnrollmentRow>(
        "SELECT id, customer_id, program_id, location_id, source, ownership, status, start_date, end_date
         FROM enrollments WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    }))
}

/// What an enrollment sync (flow 2) and a device replacement say of a subscription: its
/// program, service point, and the transformer the program side's own copy of the network
/// places (`program_network_places`) puts that service point under.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EnrollmentSubject {
    pub status: String,
    pub program_id: i64,
    pub program_code: String,
    pub service_point_id: String,
    pub transformer_code: String,
}

pub async fn enrollment_subject(
    tx: &mut Tx,
    id: i64,
) -> Result<Option<EnrollmentSubject>, DomainError> {
    Ok(with_tx!(tx, |c| {
        sqlx::query_as::<_, EnrollmentSubject>(
        "SELECT e.status, e.program_id, p.code AS program_code, l.service_point_id, pl.transformer_code
         FROM enrollments e JOIN programs p ON p.id = e.program_id
         JOIN device_locations l ON l.id = e.location_id
         JOIN program_network_places pl ON pl.service_point_id = l.service_point_id
         WHERE e.id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await?
    }))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EnrolledDeviceRow {
    pub device_id: i64,
    pub head_end: String,
    pub nic_id: String,
    pub device_type: String,
    pub registered: bool,
    pub nominal_kw: f64,
    pub joined_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
}

pub async fn enrolled_devices(
    db: &Db,
    enrollment_id: i64,
) -> Result<Vec<EnrolledDeviceRow>, DomainError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, EnrolledDeviceRow>(
        "SELECT d.id AS device_id, d.head_end, d.nic_id, d.device_type, d.registered, d.nominal_kw, ed.joined_at, ed.left_at
         FROM enrollment_devices ed JOIN devices d ON d.id = ed.device_id
         WHERE ed.enrollment_id = $1 ORDER BY ed.left_at IS NOT NULL, ed.joined_at, d.id"
    )
    .bind(enrollment_id)
    .fetch_all(pool)
    .await?
    }))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StatusChangeRow {
    pub from_status: Option<String>,
    pub to_status: String,
    pub changed_at: DateTime<Utc>,
    pub actor: String,
    pub reason: String,
}

pub async fn status_history(
    db: &Db,
    enrollment_id: i64,
) -> Result<Vec<StatusChangeRow>, DomainError> {
    Ok(with_db!(db, |pool| sqlx::query_as::<_, StatusChangeRow>(
        "SELECT from_status, to_status, changed_at, actor, reason FROM enrollment_status_history
         WHERE enrollment_id = $1 ORDER BY id"
    )
    .bind(enrollment_id)
    .fetch_all(pool)
    .await?))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReplacementRow {
    pub enrollment_id: i64,
    pub old_device_id: i64,
    pub old_nic_id: String,
    pub new_device_id: i64,
    pub new_nic_id: String,
    pub replaced_at: DateTime<Utc>,
    pub actor: String,
    pub reason: String,
}

const REPLACEMENT_SELECT: &str = "SELECT r.enrollment_id, r.old_device_id, o.nic_id AS old_nic_id, r.new_device_id,
       n.nic_id AS new_nic_id, r.replaced_at, r.actor, r.reason
FROM device_replacements r JOIN devices o ON o.id = r.old_device_id JOIN devices n ON n.id = r.new_device_id";

pub async fn replacements_of_enrollment(
    db: &Db,
    enrollment_id: i64,
) -> Result<Vec<ReplacementRow>, DomainError> {
    let sql = format!("{REPLACEMENT_SELECT} WHERE r.enrollment_id = $1 ORDER BY r.id");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, ReplacementRow>(
        &sql
    )
    .bind(enrollment_id)
    .fetch_all(pool)
    .await?))
}

pub async fn replacements_of_device(
    db: &Db,
    device_id: i64,
) -> Result<Vec<ReplacementRow>, DomainError> {
    let sql = format!(
        "{REPLACEMENT_SELECT} WHERE r.old_device_id = $1 OR r.new_device_id = $1 ORDER BY r.id"
    );
    Ok(with_db!(db, |pool| sqlx::query_as::<_, ReplacementRow>(
        &sql
    )
    .bind(device_id)
    .fetch_all(pool)
    .await?))
}

/// Writes a status change and its history row at `now` (the caller adds the audit record).
#[allow(clippy::too_many_arguments)]
pub async fn set_status(
    tx: &mut Tx,
    id: i64,
    from: &str,
    to: &str,
    actor: &str,
    reason: &str,
    end_date: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let place: Option<(i64, i64, i64, i64)> = with_tx!(tx, |c| {
        sqlx::query_as(
        "UPDATE enrollments SET status = $1, end_date = COALESCE($2, end_date), updated_at = $3 WHERE id = $4 AND status = $5
         RETURNING program_id, substation_id, feeder_id, location_id"
    )
    .bind(to)
    .bind(end_date)
    .bind(now)
    .bind(id)
    .bind(from)
    .fetch_optional(&mut *c)
    .await?
    });
    let Some((program, substation, feeder, location)) = place else {
        return Err(DomainError::Conflict(format!(
            "enrollment {id} is no longer {from}; reload and try again"
        )));
    };
    let mut tally = Tallies::default();
    tally.add(program, from, substation, feeder, -1);
    tally.add(program, to, substation, feeder, 1);
    tally.write(tx).await?;
    if from == "ACTIVE" || to == "ACTIVE" {
        let transformer: i64 = with_tx!(tx, |c| sqlx::query_scalar(
            "SELECT transformer_id FROM device_locations WHERE id = $1"
        )
        .bind(location)
        .fetch_one(c)
        .await?);
        crate::db::program_network::recount_enrolled_figures(
            tx,
            Recount::Transformers(&[transformer]),
            &[],
        )
        .await?;
    }
    with_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO enrollment_status_history (enrollment_id, from_status, to_status, changed_at, actor, reason)
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(now)
    .bind(actor)
    .bind(reason)
    .execute(c)
    .await?
    .rows_affected()
    });
    Ok(())
}

/// Changes to the maintained enrollment tallies (migration 0021): how many enrollments each
/// (program, status, substation, feeder) has, which the list's count sums when it filters by
/// nothing else. Every writer of enrollments adds its change in the same transaction.
#[derive(Debug, Default)]
pub struct Tallies(BTreeMap<(i64, String, i64, i64), i64>);

impl Tallies {
    pub fn add(&mut self, program: i64, status: &str, substation: i64, feeder: i64, n: i64) {
        *self
            .0
            .entry((program, status.to_string(), substation, feeder))
            .or_default() += n;
    }

    /// Writes the changes, in key order so that concurrent writers lock rows alike.
    pub async fn write(self, tx: &mut Tx) -> Result<(), DomainError> {
        let rows: Vec<Vec<Arg>> = self
            .0
            .into_iter()
            .filter(|(_, n)| *n != 0)
            .map(|((program, status, substation, feeder), n)| {
                vec![
                    Arg::Int(program),
                    Arg::Text(status),
                    Arg::Int(substation),
                    Arg::Int(feeder),
                    Arg::Int(n),
                ]
            })
            .collect();
        insert_rows_then(
            tx,
            "enrollment_tallies",
            &TALLY_COLUMNS,
            &rows,
            " ON CONFLICT (program_id, status, substation_id, feeder_id)
              DO UPDATE SET n = enrollment_tallies.n + excluded.n",
        )
        .await
    }
}

const TALLY_COLUMNS: [&str; 5] = ["program_id", "status", "substation_id", "feeder_id", "n"];

/// Counts the tallies of these feeders afresh from their enrollments, after a network
/// transfer moved enrollments between them or re-hung them under another substation: the
/// feeders the transfer touched, not every enrollment.
pub async fn recount_feeder_tallies(tx: &mut Tx, feeders: &[i64]) -> Result<(), DomainError> {
    if feeders.is_empty() {
        return Ok(());
    }
    let in_list = tx.dialect().in_list(1, Elem::Int);
    let feeders = list(feeders)?;
    let delete = format!("DELETE FROM enrollment_tallies WHERE feeder_id IN ({in_list})");
    let insert = format!(
        "INSERT INTO enrollment_tallies (program_id, status, substation_id, feeder_id, n)
         SELECT program_id, status, substation_id, feeder_id, COUNT(*) FROM enrollments
         WHERE feeder_id IN ({in_list})
         GROUP BY program_id, status, substation_id, feeder_id
         ON CONFLICT (program_id, status, substation_id, feeder_id) DO UPDATE SET n = excluded.n"
    );
    for sql in [delete, insert] {
        with_tx!(tx, |c| sqlx::query(&sql)
            .bind(&feeders)
            .execute(&mut *c)
            .await?
            .rows_affected());
    }
    Ok(())
}

/// Counts every tally afresh from the enrollments (the demo loader, after loading them all).
pub async fn recount_tallies(tx: &mut Tx) -> Result<(), DomainError> {
    with_tx!(tx, |c| sqlx::query("DELETE FROM enrollment_tallies")
        .execute(&mut *c)
        .await?
        .rows_affected());
    with_tx!(tx, |c| sqlx::query(
        "INSERT INTO enrollment_tallies (program_id, status, substation_id, feeder_id, n)
         SELECT program_id, status, substation_id, feeder_id, COUNT(*) FROM enrollments WHERE true
         GROUP BY program_id, status, substation_id, feeder_id
         ON CONFLICT (program_id, status, substation_id, feeder_id) DO UPDATE SET n = excluded.n"
    )
    .execute(&mut *c)
    .await?
    .rows_affected());
    Ok(())
}
