//! The integration monitor's chart: messages per flow (or, with a flow chosen, per status)
//! over time, counted in the database per hour (per local day beyond three days, folded from
//! the hours) and drawn as an SVG on the server with a local-time axis.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, NaiveDateTime, Utc};
use plotters::prelude::*;

use crate::calendar::Calendar;
use crate::db::{Arg, Db, Filter};
use crate::error::DomainError;
use crate::integration::message::MessageFilter;
use crate::report::axis::{
    nice_top, responsive, steps, tick_label, LocalTimeAxis, CAPTION_PX, LABEL_PX,
};
use crate::{bind_args, with_db};

/// Counts per bucket start and series name.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub buckets: Vec<DateTime<Utc>>,
    pub lines: Vec<(String, Vec<i64>)>,
}

fn bucket_width(hours: u32) -> Duration {
    if hours > 72 {
        Duration::days(1)
    } else {
        Duration::hours(1)
    }
}

/// One grouped query over the window; the filters are the monitor's (flow, status, direction).
/// Days are the utility's local days (23 or 25 hours at a daylight-saving change), folded
/// from hourly counts: every zone in use is a whole number of hours from UTC.
pub async fn series(
    db: &Db,
    cal: Calendar,
    f: &MessageFilter,
    hours: u32,
    now: DateTime<Utc>,
) -> Result<Series, DomainError> {
    let daily = bucket_width(hours) == Duration::days(1);
    let hour = Duration::hours(1);
    let end = now.duration_trunc(hour).unwrap_or(now);
    let start = end - Duration::hours(hours as i64 - 1).max(Duration::zero());
    let mut buckets = Vec::new();
    if daily {
        let mut day = cal.local_date(start);
        while day <= cal.local_date(end) {
            buckets.push(cal.day_start(day));
            day += Duration::days(1);
        }
    } else {
        let mut t = start;
        while t <= end {
            buckets.push(t);
            t += hour;
        }
    }
    let start = buckets.first().copied().unwrap_or(start);
    let bucket = db.dialect().utc_hour("created_at");
    let by = if f.flow.is_some() { "status" } else { "flow" };
    let mut filter = Filter::default();
    filter.add("created_at >= ?", [Arg::Time(start)]);
    if let Some(v) = &f.flow {
        filter.add("flow = ?", [Arg::Text(v.clone())]);
    }
    if let Some(v) = &f.status {
        filter.add("status = ?", [Arg::Text(v.clone())]);
    }
    if let Some(v) = &f.direction {
        filter.add("direction = ?", [Arg::Text(v.clone())]);
    }
    let sql = format!(
        "SELECT {bucket} AS bucket, {by} AS name, COUNT(*) FROM integration_messages{} GROUP BY 1, 2 ORDER BY 1, 2",
        filter.sql()
    );
    let rows: Vec<(String, String, i64)> = with_db!(db, |pool| bind_args!(
        sqlx::query_as::<_, (String, String, i64)>(&sql),
        &filter.args
    )
    .fetch_all(pool)
    .await?);
    // Each row's hour (`YYYY-MM-DDTHH`, UTC) goes to its hour, or to its local day.
    let index = |b: &str| -> Option<usize> {
        let t = NaiveDateTime::parse_from_str(&format!("{b}:00"), "%Y-%m-%dT%H:%M")
            .ok()?
            .and_utc();
        if daily {
            let day = cal.day_start(cal.local_date(t));
            buckets.binary_search(&day).ok()
        } else {
            buckets.binary_search(&t).ok()
        }
    };
    let mut lines: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (b, name, n) in rows {
        if let Some(i) = index(&b) {
            lines.entry(name).or_insert_with(|| vec![0; buckets.len()])[i] += n;
        }
    }
    Ok(Series {
        buckets,
        lines: lines.into_iter().collect(),
    })
}

/// Draws the series; a chart that cannot be drawn becomes a short note, never an error page.
pub fn render(cal: Calendar, s: &Series, title: &str) -> String {
    let mut svg = String::new();
    if let Err(e) = draw(&mut svg, cal, s, title) {
        tracing::warn!(error = %e, "monitor chart not drawn");
        return String::from("<p class=\"empty\">The chart could not be drawn.</p>");
    }
    responsive(&svg)
}

fn draw(
    svg: &mut String,
    cal: Calendar,
    s: &Series,
    title: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, (960, 380)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = s
        .lines
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let width = match s.buckets.as_slice() {
        [a, b, ..] => *b - *a,
        _ => Duration::hours(1),
    };
    let first = s.buckets.first().copied().unwrap_or_default();
    let last = s.buckets.last().copied().unwrap_or(first) + width;
    let axis = LocalTimeAxis::new(cal, first, last);
    let top = nice_top(max as f64);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", CAPTION_PX))
        .margin(14)
        .x_label_area_size(54)
        .y_label_area_size(64)
        .build_cartesian_2d(axis.clone(), 0.0..top)?;
    chart
        .configure_mesh()
        .label_style(("sans-serif", LABEL_PX))
        .axis_desc_style(("sans-serif", LABEL_PX))
        .x_desc(match (s.buckets.first(), s.buckets.last()) {
            (Some(a), Some(b)) => crate::report::chart::axis_description(cal, *a, *b),
            _ => format!("Local time ({})", cal.name()),
        })
        .y_desc(if width >= Duration::days(1) {
            "messages per local day"
        } else {
            "messages per hour"
        })
        .y_labels(8)
        .y_label_formatter(&|v| tick_label(*v, top.max(20.0)))
        .draw()?;
    let minutes = width.num_minutes() as f64;
    for (k, (name, values)) in s.lines.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        let pts: Vec<(f64, f64)> = s
            .buckets
            .iter()
            .zip(values)
            .map(|(t, v)| (axis.x(*t), *v as f64))
            .collect();
        chart
            .draw_series(LineSeries::new(steps(&pts, minutes), color.stroke_width(2)))?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
    }
    if !s.lines.is_empty() {
        chart
            .configure_series_labels()
            .label_font(("sans-serif", LABEL_PX))
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_is_an_svg_with_one_line_and_legend_entry_per_series() {
        let t0 = DateTime::parse_from_rfc3339("2026-07-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let s = Series {
            buckets: (0..24).map(|h| t0 + Duration::hours(h)).collect(),
            lines: vec![
                ("enrollment_sync".into(), (0..24).map(|h| h % 5).collect()),
                ("device_score".into(), (0..24).map(|h| 24 - h).collect()),
            ],
        };
        let svg = render(Calendar::default(), &s, "Messages per flow");
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        // Per series: its step line (24 hours, two points each) and its legend swatch.
        let lines = svg
            .split("<polyline")
            .filter(|p| p.contains("stroke-width=\"2\""))
            .map(|p| {
                let points = p.split("points=\"").nth(1).unwrap_or("");
                points
                    .split('"')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .count()
            })
            .collect::<Vec<_>>();
        assert_eq!(lines, [48, 48, 2, 2]);
        assert!(svg.contains("enrollment_sync") && svg.contains("device_score"));
        // Midnight UTC on 1 July is 19:00 CDT on 30 June: ticks on local hours, the date
        // where the local day starts.
        assert!(svg.contains("30 Jun 21:00"), "local hour labels: {svg}");
        assert!(svg.contains("Wed 1 Jul"), "local day labels: {svg}");
        assert!(svg.contains("Local time (America/Chicago, CDT), 2026-06-30 – 2026-07-01"));
    }
}
