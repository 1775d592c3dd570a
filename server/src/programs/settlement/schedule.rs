//! When settlements run on their own: the scheduler settles completed events once their
//! meter data has arrived, and seasons once they are over.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use super::run::{settle_event, settle_season};
use crate::calendar::Calendar;
use crate::db::Db;
use crate::error::DomainError;
use crate::with_db;

/// What the scheduler settled.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Due {
    pub events: Vec<String>,
    pub seasons: Vec<String>,
}

/// The scheduler's settlement: completed events never settled whose meter data has arrived
/// (a reading at or after the event's last quarter hour for one of its service points), and
/// the seasons of programs whose last day is past and that have no season run yet.
pub async fn settle_due(db: &Db, cal: Calendar, now: DateTime<Utc>) -> Result<Due, DomainError> {
    let stages: Vec<(String, String, DateTime<Utc>)> = with_db!(db, |c| {
        sqlx::query_as(
        "SELECT pe.event_external_id, pe.status, pe.ends_at FROM program_events pe
         WHERE NOT EXISTS (SELECT 1 FROM settlement_runs r WHERE r.event_code = pe.event_external_id)"
    )
    .fetch_all(c)
    .await?
    });
    let mut events: BTreeMap<String, (bool, bool, DateTime<Utc>)> = BTreeMap::new();
    for (ev, status, ends) in stages {
        let e = events.entry(ev).or_insert((true, false, ends));
        e.0 &= status == "F1CO" || status == "F1CN";
        e.1 |= status == "F1CO";
        e.2 = e.2.max(ends);
    }
    let mut due = Due::default();
    for (ev, (done, completed, ends)) in events {
        if !(done && completed && ends <= now) {
            continue;
        }
        let arrived: Option<i32> = with_db!(db, |c| sqlx::query_scalar(
            "SELECT 1 FROM program_events pe
             JOIN program_event_devices d ON d.external_id = pe.external_id
             JOIN enrollments e ON e.id = d.enrollment_id
             JOIN device_locations l ON l.id = e.location_id
             JOIN interval_readings r ON r.service_point_id = l.service_point_id
              AND r.interval_start >= $2 AND r.interval_start < $3
             WHERE pe.event_external_id = $1 LIMIT 1"
        )
        .bind(&ev)
        .bind(ends - Duration::minutes(15))
        .bind(ends + Duration::days(1))
        .fetch_optional(c)
        .await?);
        if arrived.is_some() {
            settle_event(db, cal, "scheduler", &ev, now).await?;
            due.events.push(ev);
        }
    }
    let programs: Vec<(String, NaiveDate)> = with_db!(db, |c| {
        sqlx::query_as(
        "SELECT p.code, p.season_end FROM programs p
         WHERE NOT EXISTS (SELECT 1 FROM settlement_runs r WHERE r.program_id = p.id AND r.kind = 'season'
                             AND r.season_end = p.season_end)"
    )
    .fetch_all(c)
    .await?
    });
    for (code, season_end) in programs {
        if cal.local_date(now) > season_end {
            settle_season(db, cal, "scheduler", &code, now).await?;
            due.seasons.push(code);
        }
    }
    Ok(due)
}
