//! The program pages' and API's service on the program side: programs with their rules,
//! the list pages' filter options, rule changes and the control-score run.

use std::sync::Arc;

use async_trait::async_trait;

use app::access::Action;
use app::model::*;
use app::port::{EnrolledAt, EnrolledFiguresPort, ProgramPort};
use app::AppError;

use crate::access::require;
use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::db::{self, Db};
use crate::dto::node_ref_p;
use crate::error::DomainError;
use crate::programs::{program_status, rule, score};

pub struct ProgramService {
    pub db: Db,
    clock: Arc<dyn Clock>,
    /// Which rule is in force today and the score run's local day.
    pub calendar: Calendar,
}

impl ProgramService {
    pub fn new(db: Db, clock: Arc<dyn Clock>, calendar: Calendar) -> Arc<Self> {
        Arc::new(ProgramService {
            db,
            clock,
            calendar,
        })
    }
}

pub(crate) fn program_summary(
    p: db::program::ProgramRow,
    counts: &[(i64, String, i64)],
) -> ProgramSummary {
    let count = |status: &str| {
        counts
            .iter()
            .find(|(pid, s, _)| *pid == p.id && s == status)
            .map(|(_, _, n)| *n)
            .unwrap_or(0)
    };
    ProgramSummary {
        pending: count("PENDING"),
        active: count("ACTIVE"),
        inactive: count("INACTIVE"),
        id: p.id,
        code: p.code,
        name: p.name,
        category: p.category,
        device_type: p.device_type,
        status: p.status,
        season_start: p.season_start,
        season_end: p.season_end,
    }
}

#[async_trait]
impl ProgramPort for ProgramService {
    async fn list_programs(&self, viewer: &Viewer) -> Result<Vec<ProgramSummary>, AppError> {
        require(viewer, Action::ReadPrograms)?;
        let programs = db::program::list_programs(&self.db).await?;
        let counts = db::program::enrollment_counts(&self.db).await?;
        Ok(programs
            .into_iter()
            .map(|p| program_summary(p, &counts))
            .collect())
    }

    async fn get_program(&self, viewer: &Viewer, id: i64) -> Result<ProgramDetail, AppError> {
        require(viewer, Action::ReadPrograms)?;
        let p = db::program::get_program(&self.db, id)
            .await?
            .ok_or_else(|| DomainError::not_found(format!("program {id}")))?;
        let counts = db::program::enrollment_counts(&self.db).await?;
        let rules = db::program::list_rules(&self.db, id).await?;
        let today = self.calendar.local_date(self.clock.now());
        let current = db::program::rule_in_force(&rules, today).map(|r| r.id);
        let aggregators = db::program::program_aggregators(&self.db, id).await?;
        Ok(ProgramDetail {
            settlement_method: p.settlement_method.clone(),
            settlement_timing: p.settlement_timing.clone(),
            baseline_method: p.baseline_method.clone(),
            credit_rate: p.credit_rate,
            opt_out_allowed: p.opt_out_allowed,
            opt_out_cutoff_minutes: p.opt_out_cutoff_minutes,
            unavailability_allowed: p.unavailability_allowed,
            rules: rules
                .into_iter()
                .map(|r| ProgramRuleDto {
                    current: Some(r.id) == current,
                    id: r.id,
                    effective_from: r.effective_from,
                    cycle: r.cycle,
                    week_start: r.week_start,
                    max_events_per_cycle: r.max_events_per_cycle,
                    max_minutes_per_cycle: r.max_minutes_per_cycle,
                    min_gap_minutes: r.min_gap_minutes,
                    min_event_minutes: r.min_event_minutes,
                    max_event_minutes: r.max_event_minutes,
                    max_overrides: r.max_overrides,
                    window_start_minute: r.window_start_minute,
                    window_end_minute: r.window_end_minute,
                    activation_cost: r.activation_cost,
                    burn_rate_factor: r.burn_rate_factor,
                    score_factor: r.score_factor,
                    overridable: r.overridable,
                })
                .collect(),
            aggregators,
            summary: program_summary(p, &counts),
        })
    }

    async fn filter_options(&self, viewer: &Viewer) -> Result<FilterOptions, AppError> {
        require(viewer, Action::ReadPrograms)?;
        let programs = db::program::list_programs(&self.db).await?;
        let nodes = db::program_network::upper_nodes(&self.db).await?;
        Ok(FilterOptions {
            programs: programs
                .into_iter()
                .map(|p| ProgramRef {
                    id: p.id,
                    code: p.code,
                    name: p.name,
                })
                .collect(),
            substations: nodes
                .iter()
                .filter(|n| n.kind == "substation")
                .map(node_ref_p)
                .collect(),
            feeders: nodes
                .iter()
                .filter(|n| n.kind == "feeder")
                .map(|f| FeederOption {
                    id: f.id,
                    code: f.code.clone(),
                    substation_id: f.parent_id.unwrap_or_default(),
                })
                .collect(),
        })
    }

    async fn save_rule(
        &self,
        viewer: &Viewer,
        program_id: i64,
        rule: &RuleInput,
    ) -> Result<String, AppError> {
        require(viewer, Action::EditRules)?;
        let now = self.clock.now();
        let parsed = rule::parse_rule(rule, self.calendar.local_date(now))?;
        let replaced =
            rule::save_rule(&self.db, &viewer.username, program_id, &parsed, now).await?;
        Ok(format!(
            "Rule effective {} {}; the grid side is being told.",
            parsed.effective_from,
            if replaced { "changed" } else { "added" }
        ))
    }

    async fn run_scores(&self, viewer: &Viewer) -> Result<String, AppError> {
        require(viewer, Action::RunScores)?;
        let now = self.clock.now();
        let today = self.calendar.local_date(now);
        let run =
            score::run_scores(&self.db, self.calendar, &viewer.username, today, now, false).await?;
        Ok(format!(
            "Control scores computed for {} devices; {} message(s) queued for the grid side.",
            run.devices, run.messages
        ))
    }

    async fn set_program_status(
        &self,
        viewer: &Viewer,
        program_id: i64,
        status: &str,
        reason: Option<&str>,
    ) -> Result<String, AppError> {
        require(viewer, Action::ChangeProgramStatus)?;
        let c = program_status::set_status(
            &self.db,
            &viewer.username,
            program_id,
            status,
            reason,
            self.clock.now(),
        )
        .await?;
        let grid = match c.messages {
            0 => String::new(),
            1 => "; the grid side is told of its rule".to_string(),
            n => format!("; the grid side is told of its {n} rules"),
        };
        Ok(format!(
            "Program {} is now {} (it was {}){grid}.",
            c.code, c.to, c.from
        ))
    }
}

/// The program side's enrolment per network node for the grid's network page, from its own
/// copy of the network (by code).
#[async_trait]
impl EnrolledFiguresPort for ProgramService {
    async fn enrolled_by_feeder(&self) -> Result<Vec<EnrolledAt>, AppError> {
        Ok(enrolled(
            db::program_network::enrolled_by_feeder(&self.db).await?,
        ))
    }

    async fn enrolled_by_transformer(
        &self,
        feeder_code: &str,
    ) -> Result<Vec<EnrolledAt>, AppError> {
        Ok(enrolled(
            db::program_network::enrolled_by_transformer(&self.db, feeder_code).await?,
        ))
    }
}

fn enrolled(rows: Vec<(String, i64, f64)>) -> Vec<EnrolledAt> {
    rows.into_iter()
        .map(|(code, devices, kw)| EnrolledAt { code, devices, kw })
        .collect()
}
