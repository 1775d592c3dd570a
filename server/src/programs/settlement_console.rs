//! The settlement port of the console and the REST API: role checks, and the queries that
//! summarise events and seasons for the settlement pages.

use std::collections::BTreeMap;
use std::sync::Arc;

use app::access::{may, Action};
use app::model::Viewer;
use app::settlement::*;
use app::AppError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::settlement::{self, RunRow, SettlementRow};
use crate::access::require;
use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::db::settlement as store;
use crate::db::Db;
use crate::error::DomainError;
use crate::figures::{self, Credit};

/// Completed events listed on the overview, newest first.
const OVERVIEW_EVENTS: usize = 100;

pub struct SettlementService {
    db: Db,
    clock: Arc<dyn Clock>,
    /// Settlement days and season bounds are local dates.
    calendar: Calendar,
}

impl SettlementService {
    pub fn new(db: Db, clock: Arc<dyn Clock>, calendar: Calendar) -> Arc<Self> {
        Arc::new(SettlementService {
            db,
            clock,
            calendar,
        })
    }
}

fn code_ok(what: &str, code: &str) -> Result<(), DomainError> {
    if code.is_empty()
        || code.len() > 64
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(DomainError::not_found(format!("{what} `{code}`")));
    }
    Ok(())
}

fn run_dto(r: RunRow) -> SettlementRunDto {
    SettlementRunDto {
        id: r.id,
        program_code: r.program_code,
        kind: r.kind,
        event_code: r.event_code,
        run_by: r.run_by,
        run_at: r.run_at,
        enrollments: r.enrollments,
        settled: r.settled,
        changed: r.changed,
        kwh_avoided: r.kwh_avoided,
        credit: r.credit,
    }
}

fn result_dto(r: SettlementRow) -> SettlementResultDto {
    SettlementResultDto {
        program_code: r.program_code,
        enrollment_id: r.enrollment_id,
        account_id: r.account_id,
        service_point_id: r.service_point_id,
        window_start: r.window_start,
        window_end: r.window_end,
        devices: r.devices,
        status: r.status,
        reason: r.reason,
        baseline_method: r.baseline_method,
        baseline_days: r.baseline_days,
        adjustment: r.adjustment,
        baseline_kwh: r.baseline_kwh,
        actual_kwh: r.actual_kwh,
        kwh_avoided: r.kwh_avoided,
        kw_drop_max: r.kw_drop_max,
        kw_drop_min: r.kw_drop_min,
        kw_drop_avg: r.kw_drop_avg,
        settlement_method: r.settlement_method,
        rate: r.rate,
        credit: r.credit,
        posted: r.posted,
        version: r.version,
        settled_at: r.settled_at,
        meter_share: r.meter_share,
    }
}

type Totals = (i64, i64, f64, Option<DateTime<Utc>>);
/// Completed program-side events (every stage completed or cancelled, one completed), with
/// their settlement totals; `only` restricts to one event.
async fn completed_events(
    db: &Db,
    only: Option<&str>,
) -> Result<Vec<SettlementEventDto>, DomainError> {
    let stages = store::program_event_stages(db, only).await?;
    struct Acc {
        starts: DateTime<Utc>,
        ends: DateTime<Utc>,
        programs: Vec<String>,
        done: bool,
        completed: bool,
    }
    let mut by: BTreeMap<String, Acc> = BTreeMap::new();
    for (ev, program, status, s, e) in stages {
        let a = by.entry(ev).or_insert(Acc {
            starts: s,
            ends: e,
            programs: Vec::new(),
            done: true,
            completed: false,
        });
        a.starts = a.starts.min(s);
        a.ends = a.ends.max(e);
        a.done &= status == "F1CO" || status == "F1CN";
        if status == "F1CO" {
            a.completed = true;
            if !a.programs.contains(&program) {
                a.programs.push(program);
            }
        }
    }
    let totals: BTreeMap<String, Totals> = store::event_totals(db, only)
        .await?
        .into_iter()
        .map(|t| {
            let line = (t.enrollments, t.settled, t.kwh_avoided, t.settled_at);
            (t.event_code, line)
        })
        .collect();
    let mut credits: BTreeMap<String, Vec<Credit>> = BTreeMap::new();
    for p in figures::credits(db, only, None).await? {
        credits.entry(p.event_code).or_default().push(p.credit);
    }
    let mut out: Vec<SettlementEventDto> = by
        .into_iter()
        .filter(|(_, a)| a.done && a.completed)
        .map(|(code, mut a)| {
            a.programs.sort();
            let (n, s, k, at) = totals.get(&code).cloned().unwrap_or_default();
            let credit = Credit::sum(credits.remove(&code).unwrap_or_default());
            SettlementEventDto {
                event_code: code,
                starts_at: a.starts,
                ends_at: a.ends,
                programs: a.programs,
                settled_at: at,
                enrollments: n,
                settled: s,
                kwh_avoided: k,
                credit: credit.total,
                provisional_credit: credit.provisional,
            }
        })
        .collect();
    out.sort_by_key(|e| std::cmp::Reverse(e.starts_at));
    out.truncate(OVERVIEW_EVENTS);
    Ok(out)
}

async fn program_seasons(
    db: &Db,
    cal: Calendar,
    only: Option<&str>,
) -> Result<Vec<ProgramSeasonDto>, DomainError> {
    let programs = store::program_settlements(db, only).await?;
    let mut out = Vec::with_capacity(programs.len());
    for p in programs {
        let season = settlement::season_summary(db, cal, &p.code).await?;
        let season_runs = settlement::runs(db, None, Some(&p.code), 50).await?;
        let credit = figures::season_credit(&season);
        out.push(ProgramSeasonDto {
            customers: season.iter().filter(|c| c.credit > 0.0).count() as i64,
            credit: credit.total,
            posted_credit: credit.posted,
            season_settled_at: season_runs
                .iter()
                .find(|r| r.kind == "season")
                .map(|r| r.run_at),
            code: p.code,
            name: p.name,
            settlement_method: p.settlement_method,
            settlement_timing: p.settlement_timing,
            baseline_method: p.baseline_method,
            credit_rate: p.credit_rate,
            season_start: p.season_start,
            season_end: p.season_end,
        });
    }
    Ok(out)
}

fn summary_words(runs: &[settlement::RunSummary]) -> String {
    runs.iter()
        .map(|r| {
            format!(
                "{}: {} of {} settled ({} new, {} changed, {} unchanged), {} avoided, credit {}",
                r.program_code,
                r.settled,
                r.enrollments,
                r.new,
                r.changed,
                r.unchanged,
                app::format::kwh(r.kwh_avoided),
                app::format::money(r.credit)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[async_trait]
impl SettlementPort for SettlementService {
    async fn overview(&self, viewer: &Viewer) -> Result<SettlementOverview, AppError> {
        require(viewer, Action::ReadSettlements)?;
        Ok(SettlementOverview {
            events: completed_events(&self.db, None).await?,
            programs: program_seasons(&self.db, self.calendar, None).await?,
            can_settle: may(viewer.role, Action::SettleEvents),
        })
    }

    async fn event_settlement(
        &self,
        viewer: &Viewer,
        event_code: &str,
        offset: i64,
        limit: i64,
    ) -> Result<SettlementEventDetail, AppError> {
        require(viewer, Action::ReadSettlements)?;
        code_ok("completed event", event_code)?;
        let event = completed_events(&self.db, Some(event_code))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| DomainError::not_found(format!("completed event `{event_code}`")))?;
        let (rows, total) = settlement::event_results_page(
            &self.db,
            event_code,
            offset.max(0),
            limit.clamp(1, 5_000),
        )
        .await?;
        Ok(SettlementEventDetail {
            event,
            runs: settlement::runs(&self.db, Some(event_code), None, 50)
                .await?
                .into_iter()
                .map(run_dto)
                .collect(),
            results: rows.into_iter().map(result_dto).collect(),
            total,
            offset: offset.max(0),
            can_settle: may(viewer.role, Action::SettleEvents),
        })
    }

    async fn season(
        &self,
        viewer: &Viewer,
        program_code: &str,
        offset: i64,
        limit: i64,
    ) -> Result<SeasonDetail, AppError> {
        require(viewer, Action::ReadSettlements)?;
        code_ok("program", program_code)?;
        let program = program_seasons(&self.db, self.calendar, Some(program_code))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| DomainError::not_found(format!("program `{program_code}`")))?;
        let customers = settlement::season_summary(&self.db, self.calendar, program_code).await?;
        let total = customers.len() as i64;
        let offset = offset.max(0);
        let page = customers
            .into_iter()
            .skip(offset as usize)
            .take(limit.clamp(1, 5_000) as usize)
            .map(|c| {
                let credit = figures::customer_credit(&c);
                CustomerSeasonDto {
                    account_id: c.account_id,
                    events: c.events,
                    settled_events: c.settled_events,
                    kwh_avoided: c.kwh_avoided,
                    credit: credit.total,
                    posted_credit: credit.posted,
                }
            })
            .collect();
        let season_over = self.calendar.local_date(self.clock.now()) > program.season_end;
        Ok(SeasonDetail {
            runs: settlement::runs(&self.db, None, Some(program_code), 50)
                .await?
                .into_iter()
                .map(run_dto)
                .collect(),
            program,
            customers: page,
            total,
            offset,
            can_settle: may(viewer.role, Action::SettleSeasons),
            season_over,
        })
    }

    async fn settle_event(&self, viewer: &Viewer, event_code: &str) -> Result<String, AppError> {
        require(viewer, Action::SettleEvents)?;
        code_ok("event", event_code)?;
        let runs = settlement::settle_event(
            &self.db,
            self.calendar,
            &viewer.username,
            event_code,
            self.clock.now(),
        )
        .await?;
        tracing::info!(user = %viewer.username, event = event_code, runs = runs.len(), "event settled");
        Ok(format!("{event_code} settled. {}", summary_words(&runs)))
    }

    async fn settle_season(&self, viewer: &Viewer, program_code: &str) -> Result<String, AppError> {
        require(viewer, Action::SettleSeasons)?;
        code_ok("program", program_code)?;
        let run = settlement::settle_season(
            &self.db,
            self.calendar,
            &viewer.username,
            program_code,
            self.clock.now(),
        )
        .await?;
        tracing::info!(user = %viewer.username, program = program_code, "season settled");
        Ok(format!(
            "The {program_code} season is settled and its credits posted. {}",
            summary_words(&[run])
        ))
    }
}

/// The billing export of a program's season (program manager, auditor, admin).
pub async fn billing_export(
    db: &Db,
    cal: Calendar,
    viewer: &Viewer,
    program_code: &str,
) -> Result<String, DomainError> {
    require(viewer, Action::ExportBilling)?;
    code_ok("program", program_code)?;
    let program = settlement::program_by_code(db, program_code).await?;
    let rows = settlement::season_summary(db, cal, program_code).await?;
    tracing::info!(user = %viewer.username, program = program_code, rows = rows.len(), "billing export");
    settlement::billing_csv(&rows, program.season_start, program.season_end)
}
