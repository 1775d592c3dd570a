//! The forecast page's and API's service on the grid side: the load forecast of a zone with
//! the network roll-up, temperature uploads and the expected-reduction table, with their role
//! checks and audit records.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use app::access::{may, Action};
use app::model::*;
use app::port::ForecastPort;
use app::query::ForecastQuery;
use app::AppError;

use crate::access::require;
use crate::calendar::align;
use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::db::audit::{append, NewAuditEntry};
use crate::db::Db;
use crate::error::DomainError;
use crate::figures::Enrolled;
use crate::grid::forecast::{
    self, horizon_intervals, interval_temperatures, parse_weather_csv, store_forecast,
    ReductionEntry,
};
use crate::grid::network_service::NetworkService;
use crate::grid::rollup::{network_rollup, NodeFigures};
use crate::grid::DEVICE_TYPES;
use crate::report::chart::{line_chart_with_secondary, Series, BLUE, ORANGE};

/// Transformers listed on the page at most (a large feeder has thousands).
const MAX_TRANSFORMERS_SHOWN: usize = 200;

/// A roll-up row: the grid's registered devices and forecast peak, and the node's enrolled
/// load as the network page shows it ([`crate::figures::Enrolled`]).
fn rollup_row(n: &NodeFigures, enrolled: &HashMap<i64, Enrolled>) -> GridRollupRow {
    let load = enrolled.get(&n.id).copied().unwrap_or_default().shown();
    GridRollupRow {
        id: n.id,
        kind: n.kind.clone(),
        code: n.code.clone(),
        parent_id: n.parent_id,
        registered_devices: n.registered_devices,
        enrolled_devices: load.devices,
        enrolled_kw: load.kw,
        forecast_peak_kw: n.forecast_peak_kw,
    }
}

fn parse_field<T: std::str::FromStr>(field: &str, value: &str) -> Result<T, DomainError> {
    value.trim().parse::<T>().map_err(|_| {
        DomainError::invalid(format!(
            "{field}: expected a number, got `{}`",
            value.trim()
        ))
    })
}

/// Parses the console's (or any caller's) text fields into a checked row.
pub fn parse_reduction(
    input: &ReductionInput,
) -> Result<(Option<i64>, ReductionEntry), DomainError> {
    let id = match input.id.trim() {
        "" => None,
        s => Some(s.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| {
            DomainError::invalid(format!(
                "row id: expected a positive whole number, got `{s}`"
            ))
        })?),
    };
    let entry = ReductionEntry::new(
        input.device_type.trim(),
        parse_field("from hour", &input.hour_from)?,
        parse_field("until hour", &input.hour_to)?,
        parse_field("from °C", &input.temp_from_c)?,
        parse_field("until °C", &input.temp_to_c)?,
        parse_field("share", &input.share)?,
    )?;
    Ok((id, entry))
}

pub struct ForecastService {
    pub db: Db,
    clock: Arc<dyn Clock>,
    /// Local hours and weekdays of the forecast.
    pub calendar: Calendar,
    /// The network roll-up, whose enrolled load the forecast's roll-up shows.
    network: Arc<NetworkService>,
}

impl ForecastService {
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        calendar: Calendar,
        network: Arc<NetworkService>,
    ) -> Arc<Self> {
        Arc::new(ForecastService {
            db,
            clock,
            calendar,
            network,
        })
    }
}

#[async_trait]
impl ForecastPort for ForecastService {
    /// The forecast page for the zone in `q`, and the network roll-up, now.
    async fn forecast(&self, viewer: &Viewer, q: &ForecastQuery) -> Result<ForecastView, AppError> {
        require(viewer, Action::ReadForecasts)?;
        let now = self.clock.now();
        let start = align(now);
        let started = Instant::now();
        let rollup = network_rollup(&self.db, self.calendar, start, &q.nodes).await?;
        let rollup_ms = started.elapsed().as_millis() as u64;
        let selected_ids: HashSet<i64> = q.nodes.iter().copied().collect();
        for id in &q.nodes {
            if rollup.get(*id).is_none() {
                return Err(DomainError::not_found(format!("network node {id}")).into());
            }
        }
        let option = |n: &NodeFigures| ZoneOption {
            id: n.id,
            kind: n.kind.clone(),
            code: n.code.clone(),
            parent_id: n.parent_id,
            selected: selected_ids.contains(&n.id),
        };
        let options: Vec<ZoneOption> = rollup
            .nodes
            .iter()
            .filter(|n| n.kind != "transformer")
            .map(option)
            .collect();
        // Transformers of the chosen feeders, and of the chosen transformers' feeders.
        let feeders: HashSet<i64> = rollup
            .nodes
            .iter()
            .filter(|n| selected_ids.contains(&n.id))
            .filter_map(|n| match n.kind.as_str() {
                "feeder" => Some(n.id),
                "transformer" => n.parent_id,
                _ => None,
            })
            .collect();
        let mut transformers: Vec<&NodeFigures> = rollup
            .nodes
            .iter()
            .filter(|n| n.kind == "transformer")
            .filter(|n| n.parent_id.is_some_and(|p| feeders.contains(&p)))
            .collect();
        transformers.sort_by_key(|n| (!selected_ids.contains(&n.id), n.code.clone()));
        transformers.truncate(MAX_TRANSFORMERS_SHOWN);
        let selected: Vec<ZoneOption> = q
            .nodes
            .iter()
            .filter_map(|id| rollup.get(*id))
            .map(option)
            .collect();
        let mut shown_feeders: Vec<i64> = feeders.iter().copied().collect();
        shown_feeders.sort_unstable();
        let enrolled = self.network.enrolled_load(&shown_feeders).await?;
        let mut rows: Vec<GridRollupRow> = rollup
            .nodes
            .iter()
            .filter(|n| n.kind != "transformer")
            .map(|n| rollup_row(n, &enrolled))
            .collect();
        rows.extend(transformers.iter().map(|n| rollup_row(n, &enrolled)));

        let horizon = horizon_intervals(self.calendar, start);
        let temps = interval_temperatures(&self.db, start, horizon).await?;
        let forecast_hours = temps.iter().step_by(4).filter(|t| t.is_some()).count();
        let (mut intervals, mut chart_svg, mut peak_kw, mut error) = (Vec::new(), None, None, None);
        if !q.nodes.is_empty() {
            match forecast::zone_baseline(&self.db, self.calendar, &q.nodes, start, horizon).await {
                Ok(kw) => {
                    let times: Vec<DateTime<Utc>> = (0..kw.len())
                        .map(|i| start + Duration::minutes(15 * i as i64))
                        .collect();
                    let celsius: Vec<f64> = temps.iter().map(|t| t.unwrap_or(f64::NAN)).collect();
                    let title = format!(
                        "Baseline forecast: {}",
                        selected
                            .iter()
                            .map(|s| s.code.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    chart_svg = Some(line_chart_with_secondary(
                        self.calendar,
                        &title,
                        &times,
                        "kW",
                        &[Series::new("baseline kW", &kw, BLUE)],
                        "°C",
                        &[Series::new("temperature °C", &celsius, ORANGE)],
                    ));
                    peak_kw = kw.iter().copied().reduce(f64::max);
                    intervals = times
                        .iter()
                        .zip(&kw)
                        .zip(&temps)
                        .map(|((t, kw), c)| ForecastInterval {
                            start: *t,
                            baseline_kw: *kw,
                            temperature_c: *c,
                        })
                        .collect();
                }
                Err(e) if e.is_client_error() => error = Some(e.to_string()),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(ForecastView {
            options,
            transformers: transformers.iter().map(|n| option(n)).collect(),
            selected,
            chart_svg,
            intervals,
            peak_kw,
            error,
            rollup: rows,
            rollup_ms,
            forecast_hours,
            may_upload: may(viewer.role, Action::UploadForecasts),
        })
    }

    /// Stores an uploaded temperature forecast: all lines or none, with its audit record.
    async fn upload_weather(&self, viewer: &Viewer, csv: &str) -> Result<String, AppError> {
        require(viewer, Action::UploadForecasts)?;
        let now = self.clock.now();
        let upload = parse_weather_csv(csv)?;
        let (first, last) = (upload.hours[0].0, upload.hours[upload.hours.len() - 1].0);
        let mut tx = self.db.begin().await?;
        let n = store_forecast(&mut tx, &upload, now).await?;
        append(
            &mut tx,
            NewAuditEntry::new(
                &viewer.username,
                "weather.upload",
                "setting",
                "temperature_forecast",
            )
            .after(json!({"hours": n, "from": first.to_rfc3339(), "to": last.to_rfc3339()})),
        )
        .await?;
        tx.commit().await?;
        Ok(format!(
            "Temperature forecast stored: {n} hour(s) from {} to {}.",
            self.calendar.show(first),
            self.calendar.show(last)
        ))
    }

    async fn reductions(&self, viewer: &Viewer) -> Result<ReductionTableView, AppError> {
        require(viewer, Action::ReadReductions)?;
        let rows = forecast::list_reductions(&self.db).await?;
        Ok(ReductionTableView {
            rows: rows
                .into_iter()
                .map(|r| ReductionRowDto {
                    id: r.id,
                    device_type: r.device_type,
                    hour_from: r.hour_from,
                    hour_to: r.hour_to,
                    temp_from_c: r.temp_from_c,
                    temp_to_c: r.temp_to_c,
                    share: r.share,
                    updated_at: r.updated_at,
                })
                .collect(),
            device_types: DEVICE_TYPES.iter().map(|t| t.to_string()).collect(),
            may_edit: may(viewer.role, Action::EditReductions),
        })
    }

    async fn save_reduction(
        &self,
        viewer: &Viewer,
        input: &ReductionInput,
    ) -> Result<String, AppError> {
        require(viewer, Action::EditReductions)?;
        let (id, entry) = parse_reduction(input)?;
        let mut tx = self.db.begin().await?;
        let (id, before) = forecast::put_reduction(&mut tx, id, &entry, self.clock.now()).await?;
        let mut audit = NewAuditEntry::new(
            &viewer.username,
            if before.is_some() {
                "reduction.change"
            } else {
                "reduction.add"
            },
            "reduction_factor",
            id,
        )
        .after(entry.to_json());
        if let Some(b) = &before {
            audit = audit.before(b.to_json());
        }
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(format!(
            "Reduction row {id} {}: {} {:02}–{:02} h, {} to {} °C, {:.0} %.",
            if before.is_some() { "changed" } else { "added" },
            entry.device_type,
            entry.hour_from,
            entry.hour_to,
            entry.temp_from_c,
            entry.temp_to_c,
            entry.share * 100.0
        ))
    }

    async fn delete_reduction(&self, viewer: &Viewer, id: i64) -> Result<(), AppError> {
        require(viewer, Action::EditReductions)?;
        let mut tx = self.db.begin().await?;
        let before = forecast::delete_reduction(&mut tx, id).await?;
        append(
            &mut tx,
            NewAuditEntry::new(&viewer.username, "reduction.delete", "reduction_factor", id)
                .before(before.to_json()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
