//! Reading what a settlement needs into the plain inputs of [`compute`](super::compute): the
//! program's terms, the event's stages and reserved devices, other event days, prices, and
//! the meter data around the event (in bulk, or one service point alone).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures_util::StreamExt;

use super::super::baseline::{self, DayProfile, ADJUSTMENT_GAP_HOURS, ADJUSTMENT_HOURS};
use super::super::meter_days;
use super::compute::{Data, EventData, Part, Participant, ProgramTerms, StagePart};
use crate::calendar::{is_weekend_date, Calendar};
use crate::db::Db;
use crate::error::DomainError;
use crate::with_db;

pub async fn program_by_code(db: &Db, code: &str) -> Result<ProgramTerms, DomainError> {
    let found: Option<ProgramTerms> = with_db!(db, |c| {
        sqlx::query_as(
        "SELECT id, code, settlement_method, settlement_timing, baseline_method, credit_rate, season_start, season_end
         FROM programs WHERE code = $1"
    )
    .bind(code)
    .fetch_optional(c)
    .await?
    });
    found.ok_or_else(|| DomainError::not_found(format!("program `{code}`")))
}

pub(super) async fn stage_parts(db: &Db, event_code: &str) -> Result<Vec<StagePart>, DomainError> {
    Ok(with_db!(db, |c| sqlx::query_as::<_, StagePart>(
        "SELECT external_id, program_code, status, starts_at, ends_at FROM program_events
         WHERE event_external_id = $1 ORDER BY external_id"
    )
    .bind(event_code)
    .fetch_all(c)
    .await?))
}

/// The completed events of a program whose start lies in [from, to).
pub(super) async fn completed_events(
    db: &Db,
    program_code: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<String>, DomainError> {
    Ok(with_db!(db, |c| sqlx::query_scalar(
        "SELECT DISTINCT event_external_id FROM program_events
         WHERE program_code = $1 AND status = 'F1CO' AND starts_at >= $2 AND starts_at < $3
         ORDER BY event_external_id"
    )
    .bind(program_code)
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await?))
}

pub(super) async fn participants(
    db: &Db,
    stage_ids: &[String],
) -> Result<Vec<Participant>, DomainError> {
    let ids = serde_json::to_string(stage_ids)?;
    let sql_sqlite =
        "SELECT d.external_id, d.enrollment_id, e.customer_id, l.service_point_id, d.outcome,
                (d.opted_out_at IS NOT NULL) AS opted_out, d.expected_kw
         FROM json_each($1) j JOIN program_event_devices d ON d.external_id = j.value
         JOIN enrollments e ON e.id = d.enrollment_id
         JOIN device_locations l ON l.id = e.location_id";
    let sql_pg = "SELECT d.external_id, d.enrollment_id, e.customer_id, l.service_point_id, d.outcome,
                (d.opted_out_at IS NOT NULL) AS opted_out, d.expected_kw
         FROM json_array_elements_text($1::json) j(value) JOIN program_event_devices d ON d.external_id = j.value
         JOIN enrollments e ON e.id = d.enrollment_id
         JOIN device_locations l ON l.id = e.location_id";
    Ok(match db {
        Db::Sqlite(c) => {
            sqlx::query_as::<_, Participant>(sql_sqlite)
                .bind(&ids)
                .fetch_all(c)
                .await?
        }
        Db::Postgres(c) => {
            sqlx::query_as::<_, Participant>(sql_pg)
                .bind(&ids)
                .fetch_all(c)
                .await?
        }
    })
}

/// Days excluded from each meter's baseline: the other event days in the look-back of any
/// enrollment at it (the utility's holidays are excluded for everyone, see
/// [`EventData::holidays`]).
async fn other_event_days(
    db: &Db,
    cal: Calendar,
    event_code: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<HashMap<String, Vec<NaiveDate>>, DomainError> {
    let rows: Vec<(String, DateTime<Utc>)> = with_db!(db, |c| sqlx::query_as(
        "SELECT DISTINCT l.service_point_id, pe.starts_at
         FROM program_events pe JOIN program_event_devices d ON d.external_id = pe.external_id
         JOIN enrollments e ON e.id = d.enrollment_id
         JOIN device_locations l ON l.id = e.location_id
         WHERE pe.starts_at >= $1 AND pe.starts_at < $2 AND pe.event_external_id <> $3
           AND pe.status <> 'F1CN' AND d.enrollment_id IS NOT NULL
           AND (d.outcome IS NULL OR d.outcome <> 'D1CN')"
    )
    .bind(from)
    .bind(to)
    .bind(event_code)
    .fetch_all(c)
    .await?);
    let mut out: HashMap<String, Vec<NaiveDate>> = HashMap::new();
    for (sp, t) in rows {
        let days = out.entry(sp).or_default();
        let day = cal.local_date(t);
        if !days.contains(&day) {
            days.push(day);
        }
    }
    Ok(out)
}

/// Prices per quarter hour over [from, to) for a program; None where none is set.
async fn prices(
    db: &Db,
    program_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<HashMap<DateTime<Utc>, f64>, DomainError> {
    let rows: Vec<(DateTime<Utc>, f64)> = with_db!(db, |c| sqlx::query_as(
        "SELECT interval_start, price_per_kwh FROM settlement_prices
         WHERE program_id = $1 AND interval_start >= $2 AND interval_start < $3"
    )
    .bind(program_id)
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await?);
    Ok(rows.into_iter().collect())
}

/// Everything the parts of a program part of an event are computed from, besides the
/// service points that must be read alone ([`alone`]): other event days, prices, and the
/// meter data read in bulk, grouping enrollments by window.
pub(super) async fn event_data(
    db: &Db,
    cal: Calendar,
    program: &ProgramTerms,
    event_code: &str,
    all: &[Part],
) -> Result<EventData, DomainError> {
    let mut out = EventData::default();
    let (Some(earliest), Some(latest)) = (
        all.iter().map(|p| p.start).min(),
        all.iter().map(|p| p.end).max(),
    ) else {
        return Ok(out);
    };
    let lookback = Duration::days(baseline::LOOKBACK_DAYS + 1);
    out.excluded = other_event_days(db, cal, event_code, earliest - lookback, latest).await?;
    out.holidays = crate::db::holiday::holidays_between(
        db,
        cal.local_date(earliest - lookback),
        cal.local_date(latest),
    )
    .await?;
    // Nobody's baseline day: the bulk read skips these to find ten for everyone.
    let union: HashSet<NaiveDate> = out
        .excluded
        .values()
        .flatten()
        .copied()
        .chain(out.holidays.iter().map(|(d, _)| *d))
        .collect();
    if program.settlement_method == "consumption" {
        out.prices = prices(db, program.id, earliest, latest).await?;
    }

    // Group enrollments by window and read each group's data in bulk.
    let mut groups: BTreeMap<(DateTime<Utc>, DateTime<Utc>), Vec<&Part>> = BTreeMap::new();
    for p in all {
        if !p.opted_out {
            groups.entry((p.start, p.end)).or_default().push(p);
        }
    }
    let adj_span = Duration::hours(ADJUSTMENT_HOURS + ADJUSTMENT_GAP_HOURS);
    let adj_n = (ADJUSTMENT_HOURS * 4) as usize;
    for ((start, end), members) in &groups {
        let event_n = ((*end - *start).num_minutes() / 15) as usize;
        let adj_from = *start - adj_span;
        // Candidate day k: the same local hours k days back (see `baseline::load_profiles`).
        let back = |k: i64| cal.days_before(*start, k);
        let quarters = ((*end - adj_from).num_minutes() / 15) as usize;
        let mut sps: Vec<&str> = members
            .iter()
            .map(|p| p.service_point_id.as_str())
            .collect();
        sps.sort_unstable();
        sps.dedup();
        // The days read: the event day, then days back until ten weekdays that are nobody's
        // event day nor a holiday (each member's own eligible days are then all among them).
        let mut shifts = vec![0i64];
        let mut weekdays = 0;
        for k in 1..=baseline::LOOKBACK_DAYS {
            let day = cal.local_date(back(k));
            if is_weekend_date(day) || union.contains(&day) {
                continue;
            }
            shifts.push(k);
            weekdays += 1;
            if weekdays == baseline::DAYS {
                break;
            }
        }
        // All days of a slice of the service points in one read, two slices at a time on
        // two connections (SQLite readers run in parallel).
        let windows: std::sync::Arc<Vec<DateTime<Utc>>> =
            std::sync::Arc::new(shifts.iter().map(|k| back(*k) - adj_span).collect());
        let chunks: Vec<Vec<String>> = sps
            .chunks(READ_SLICE)
            .map(|c| c.iter().map(|s| s.to_string()).collect())
            .collect();
        let reads = futures_util::stream::iter(chunks.into_iter().map(|chunk| {
            let (db, windows) = (db.clone(), windows.clone());
            async move {
                let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
                window_values(&db, &refs, &windows, quarters).await
            }
        }))
        .buffered(2)
        .collect::<Vec<_>>()
        .await;
        let mut values: HashMap<String, Vec<Option<Vec<f64>>>> = HashMap::new();
        for read in reads {
            let read = read?;
            out.seen.extend(read.any);
            values.extend(read.values);
        }
        for p in members {
            let Some(windows) = values.get(&p.service_point_id) else {
                continue;
            };
            let Some(today) = &windows[0] else {
                continue;
            };
            let history = (1..shifts.len())
                .filter_map(|w| {
                    windows[w].as_ref().map(|v| DayProfile {
                        date: cal.local_date(back(shifts[w])),
                        event: v[quarters - event_n..].to_vec(),
                        adjustment: v[..adj_n].to_vec(),
                    })
                })
                .collect();
            out.bulk.insert(
                p.enrollment_id,
                Data {
                    history,
                    actual_event: today[quarters - event_n..].to_vec(),
                    actual_adjustment: today[..adj_n].to_vec(),
                },
            );
        }
    }
    Ok(out)
}

/// A part's service point read alone over the whole look-back, at the bulk read's
/// watt-hour resolution.
pub(super) async fn alone(db: &Db, cal: Calendar, part: &Part) -> Result<Data, DomainError> {
    let loaded =
        baseline::load_profiles(db, cal, &part.service_point_id, part.start, part.end).await?;
    Ok(Data {
        history: loaded
            .history
            .into_iter()
            .map(|h| DayProfile {
                date: h.date,
                event: h.event.into_iter().map(wh).collect(),
                adjustment: h.adjustment.into_iter().map(wh).collect(),
            })
            .collect(),
        actual_event: loaded.actual_event.into_iter().map(wh).collect(),
        actual_adjustment: loaded.actual_adjustment.into_iter().map(wh).collect(),
    })
}

/// Service points read in one statement by [`window_values`].
const READ_SLICE: usize = 5_000;

/// Quarter-hour kWh of many service points over the same window on several days, read in
/// bulk from their stored days ([`meter_days`]). Per service point and window start: the
/// values when the window is complete (a service point with gaps is left out and read alone,
/// see [`baseline::load_profiles`]). Also returns every service point with any reading in
/// the first window.
async fn window_values(
    db: &Db,
    sps: &[&str],
    windows: &[DateTime<Utc>],
    quarters: usize,
) -> Result<WindowValues, DomainError> {
    let span = Duration::minutes(15 * quarters as i64 - 1);
    let days: Vec<NaiveDate> = windows
        .iter()
        .flat_map(|w| {
            let last = (*w + span).date_naive();
            w.date_naive().iter_days().take_while(move |d| *d <= last)
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // Where each window's quarter hours lie: (day of `days`, slot), the same for everyone;
    // only the slots some window uses are read.
    let positions: Vec<Vec<(usize, usize)>> = windows
        .iter()
        .map(|from| {
            (0..quarters)
                .map(|q| {
                    let t = *from + Duration::minutes(15 * q as i64);
                    let day = days
                        .binary_search(&t.date_naive())
                        .expect("every day of every window is asked for");
                    (day, meter_days::slot_of(t))
                })
                .collect()
        })
        .collect();
    let used = positions.iter().flatten().map(|p| p.1);
    let slots = used.clone().min().unwrap_or(0)..used.max().map_or(0, |s| s + 1);
    let index = meter_days::DayIndex::new(&days, slots.len());
    let mut out = WindowValues::default();
    for (sp, packed) in meter_days::read_days(db, sps, &days, slots.clone()).await? {
        let Some(packed) = packed else { continue };
        let by_day = index.unpack(&packed)?;
        let mut complete_windows = Vec::with_capacity(windows.len());
        for (w, at) in positions.iter().enumerate() {
            let mut values = Vec::with_capacity(quarters);
            let (mut any, mut complete) = (false, true);
            for &(day, q) in at {
                let v = by_day[day]
                    .map(|b| meter_days::slot(b, q - slots.start))
                    .unwrap_or(meter_days::MISSING);
                if v == meter_days::MISSING {
                    complete = false;
                    // On the event day, keep looking for any reading at all.
                    if w > 0 || any {
                        break;
                    }
                } else {
                    any = true;
                    values.push(f64::from(v) / 1000.0);
                }
            }
            if w == 0 && any {
                out.any.push(sp.clone());
            }
            complete_windows.push(complete.then_some(values));
        }
        out.values.insert(sp, complete_windows);
    }
    Ok(out)
}

/// What [`window_values`] read: per service point, each window's values when complete, and
/// the service points with any reading in the first window.
#[derive(Default)]
struct WindowValues {
    values: HashMap<String, Vec<Option<Vec<f64>>>>,
    any: Vec<String>,
}

/// Rounds a reading to watt-hours, as the bulk read does.
fn wh(v: f64) -> f64 {
    if v.is_finite() {
        (v * 1000.0).round() / 1000.0
    } else {
        v
    }
}
