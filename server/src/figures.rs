//! One definition per figure people compare across pages: peak reduction, expected
//! reduction, enrolled load and credit. Each is defined (and rounded) here once; the pages,
//! the REST answers and the CSV exports read it from here, so one figure is one number
//! everywhere. The README's "Figures" list repeats these definitions.
//!
//! Precision: power to 0.1 kW, energy to 0.1 kWh, money to the cent. Pages format the
//! value with `app::format`; CSV writes the same value as a plain number.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::db::event::StageRow;
use crate::db::Db;
use crate::error::DomainError;
use crate::programs::settlement::CustomerSeason;

/// A power figure to 0.1 kW.
pub fn kw(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// An energy figure to 0.1 kWh.
pub fn kwh(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Money to the cent.
pub fn cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

// ---- Peak reduction -------------------------------------------------------------------

/// **Peak reduction** of an event (kW): the largest planned reduction (baseline − planned
/// load) of any quarter hour of its window, as `db::event::event_counts` reads it from the
/// stored intervals in one query for a whole list of events.
pub fn peak_reduction_kw(largest_interval_reduction: f64) -> f64 {
    kw(largest_interval_reduction)
}

// ---- Expected reduction ---------------------------------------------------------------

/// A stage counts towards what an event is expected to shed unless it was cancelled.
pub fn stage_counts(stage: &StageRow) -> bool {
    stage.status != "canceled"
}

/// **Expected kW of a stage**: the sum of the expected kW of the devices still reserved in
/// it (the planner's estimate per device; a device released or opted out is taken off as it
/// happens, so the stage row carries the sum).
pub fn stage_expected_kw(stage: &StageRow) -> f64 {
    kw(stage.expected_kw)
}

/// The same for one program's devices in a stage (the report's per-program split).
pub fn program_expected_kw(sum_of_reserved_devices: f64) -> f64 {
    kw(sum_of_reserved_devices)
}

fn hours(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_seconds().max(0) as f64 / 3600.0
}

/// **Expected energy of a stage** (kWh): its expected kW over its length.
pub fn stage_expected_kwh(stage: &StageRow) -> f64 {
    kwh(stage.expected_kw * hours(stage.starts_at, stage.ends_at))
}

/// **Expected energy of an event** (kWh): its stages' expected kW over their lengths,
/// cancelled stages left out.
pub fn event_expected_kwh(stages: &[StageRow]) -> f64 {
    kwh(stages
        .iter()
        .filter(|s| stage_counts(s))
        .map(|s| s.expected_kw * hours(s.starts_at, s.ends_at))
        .sum())
}

/// Expected kWh of `kw` reserved for the length of `stage` (0 for a cancelled stage),
/// unrounded, to be summed per program.
pub fn expected_kwh_in(stage: &StageRow, kw: f64) -> f64 {
    if stage_counts(stage) {
        kw * hours(stage.starts_at, stage.ends_at)
    } else {
        0.0
    }
}

/// The expected kW at `t`: the expected kW of the counted stages running then.
pub fn expected_kw_at(stages: &[StageRow], t: DateTime<Utc>) -> f64 {
    stages
        .iter()
        .filter(|s| stage_counts(s) && s.starts_at <= t && t < s.ends_at)
        .map(|s| s.expected_kw)
        .sum()
}

// ---- Enrolled load --------------------------------------------------------------------

/// **Enrolled load** of a network node: the devices, and their nominal controllable kW, of
/// the active devices of `ACTIVE` enrollments whose service point lies under the node — the
/// program side's enrolment (it owns enrollments), matched to the grid's nodes by code. A
/// substation's is the sum of its feeders'. The network page, its REST answer, the home page
/// and the forecast page's roll-up all read it from the network service's one roll-up.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Enrolled {
    pub devices: i64,
    pub kw: f64,
}

impl Enrolled {
    pub fn add(&mut self, other: Enrolled) {
        self.devices += other.devices;
        self.kw += other.kw;
    }

    /// As shown: kW to 0.1.
    pub fn shown(self) -> Enrolled {
        Enrolled {
            devices: self.devices,
            kw: kw(self.kw),
        }
    }
}

/// Substations' enrolled load from their feeders': `parents` maps a feeder's id to its
/// substation's.
pub fn roll_up(
    feeders: &HashMap<i64, Enrolled>,
    parents: &HashMap<i64, i64>,
) -> HashMap<i64, Enrolled> {
    let mut out = feeders.clone();
    for (feeder, e) in feeders {
        if let Some(sub) = parents.get(feeder) {
            out.entry(*sub).or_default().add(*e);
        }
    }
    out
}

// ---- Credit ---------------------------------------------------------------------------

/// **Credit**: what settlement pays a customer for an event — each enrollment's stored
/// settlement result (computed by `programs::settlement`, rounded to the cent there). A
/// program's, an event's or a season's credit is the sum of its results' credits, to the
/// cent; *posted* is the part posted for billing, *provisional* the rest (end-of-season
/// programs before the season is settled). The settlement pages, the reports, their REST
/// answers and CSV exports all read these sums through `Credit`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Credit {
    pub total: f64,
    pub posted: f64,
    pub provisional: f64,
}

impl Credit {
    /// The credit of results given as (credit, posted).
    pub fn of(results: impl IntoIterator<Item = (f64, bool)>) -> Credit {
        let mut c = Credit::default();
        for (credit, posted) in results {
            c.total += credit;
            if posted {
                c.posted += credit;
            } else {
                c.provisional += credit;
            }
        }
        c.rounded()
    }

    /// From a stored sum and its posted part.
    pub fn from_sums(total: f64, posted: f64) -> Credit {
        Credit {
            total,
            posted,
            provisional: total - posted,
        }
        .rounded()
    }

    /// The sum of several credits (programs of an event, customers of a season).
    pub fn sum(parts: impl IntoIterator<Item = Credit>) -> Credit {
        let mut c = Credit::default();
        for p in parts {
            c.total += p.total;
            c.posted += p.posted;
            c.provisional += p.provisional;
        }
        c.rounded()
    }

    fn rounded(self) -> Credit {
        Credit {
            total: cents(self.total),
            posted: cents(self.posted),
            provisional: cents(self.provisional),
        }
    }
}

/// One program's part of one event: its credit.
#[derive(Debug, Clone, PartialEq)]
pub struct PartCredit {
    pub event_code: String,
    pub program_code: String,
    pub credit: Credit,
}

/// The credit of every (event, program) with stored results, optionally of one event and/or
/// one program. An event's credit is [`Credit::sum`] of its programs'.
pub async fn credits(
    db: &Db,
    event_code: Option<&str>,
    program_code: Option<&str>,
) -> Result<Vec<PartCredit>, DomainError> {
    Ok(
        crate::db::settlement::credit_sums(db, event_code, program_code)
            .await?
            .into_iter()
            .map(|(event_code, program_code, total, posted)| PartCredit {
                event_code,
                program_code,
                credit: Credit::from_sums(total, posted),
            })
            .collect(),
    )
}

/// The credit of one event (all its programs).
pub async fn event_credit(db: &Db, event_code: &str) -> Result<Credit, DomainError> {
    Ok(Credit::sum(
        credits(db, Some(event_code), None)
            .await?
            .into_iter()
            .map(|p| p.credit),
    ))
}

/// A customer's credit in a program's season (the settlement season page, the season
/// report and the billing export).
pub fn customer_credit(c: &CustomerSeason) -> Credit {
    Credit::from_sums(c.credit, c.posted_credit)
}

/// A program's season credit: the sum of its customers'.
pub fn season_credit(customers: &[CustomerSeason]) -> Credit {
    Credit::sum(customers.iter().map(customer_credit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_splits_posted_from_provisional_to_the_cent() {
        let c = Credit::of([(1.25, true), (2.10, false), (0.1 + 0.2, true)]);
        assert_eq!(c.total, 3.65);
        assert_eq!(c.posted, 1.55);
        assert_eq!(c.provisional, 2.1);
        assert_eq!(Credit::sum([c, c]).total, 7.3);
        assert_eq!(Credit::from_sums(3.0, 1.0).provisional, 2.0);
    }

    #[test]
    fn a_substation_enrolled_load_is_the_sum_of_its_feeders() {
        let feeders = HashMap::from([
            (
                2,
                Enrolled {
                    devices: 3,
                    kw: 4.5,
                },
            ),
            (
                3,
                Enrolled {
                    devices: 1,
                    kw: 1.25,
                },
            ),
        ]);
        let parents = HashMap::from([(2, 1), (3, 1)]);
        let all = roll_up(&feeders, &parents);
        assert_eq!(all[&1].devices, 4);
        assert_eq!(all[&1].shown().kw, 5.8);
        assert_eq!(all[&2].kw, 4.5);
    }

    #[test]
    fn cancelled_stages_expect_nothing() {
        let t = |h: u32| {
            chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 7, 1, h, 0, 0)
                .single()
                .unwrap()
        };
        let stage = |status: &str, kw: f64| StageRow {
            id: 1,
            seq: 1,
            external_id: "S".into(),
            starts_at: t(18),
            ends_at: t(20),
            expected_kw: kw,
            device_count: 1,
            status: status.into(),
        };
        let stages = [stage("scheduled", 100.04), stage("canceled", 50.0)];
        assert_eq!(event_expected_kwh(&stages), 200.1);
        assert_eq!(stage_expected_kw(&stages[0]), 100.0);
        assert_eq!(expected_kw_at(&stages, t(19)), 100.04);
        assert_eq!(expected_kwh_in(&stages[1], 50.0), 0.0);
    }
}
