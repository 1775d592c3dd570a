//! The event chart: zone load before (baseline forecast), after (planned) and actual, per
//! 15-minute interval, as SVG rendered on the server with plotters. Points sit at their UTC
//! instants (a 23- or 25-hour local day draws to scale); the axis reads in local time.

use chrono::{DateTime, Utc};
use plotters::prelude::*;

use crate::calendar::Calendar;
use crate::report::chart::{axis_description, with_title};

/// One point per interval: (start, before, after, actual).
pub type ChartPoint = (DateTime<Utc>, f64, f64, Option<f64>);

/// The objective's line over the event window: (label, points), e.g. the ceiling of a
/// MaxDemandThreshold event (see `grid::feasibility::objective_line`).
pub type ObjectiveLine<'a> = Option<(&'a str, &'a [(DateTime<Utc>, f64)])>;

/// Renders the chart; `window` shades the event itself; `objective` draws the ceiling or
/// target as a dashed line. `None` when there is nothing to draw.
/// The SVG carries a title, its text alternative, naming the event window in local time.
pub fn event_chart(
    cal: Calendar,
    points: &[ChartPoint],
    window: (DateTime<Utc>, DateTime<Utc>),
    objective: ObjectiveLine,
) -> Option<String> {
    if points.len() < 2 {
        return None;
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (860, 320)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let (first, last) = (points[0].0, points[points.len() - 1].0);
        let max = points
            .iter()
            .flat_map(|p| [p.1, p.2, p.3.unwrap_or(0.0)])
            .fold(0.0_f64, f64::max)
            * 1.1;
        let min = points
            .iter()
            .flat_map(|p| [p.1, p.2, p.3.unwrap_or(p.2)])
            .fold(f64::MAX, f64::min)
            .min(max)
            * 0.9;
        // The objective's line stays in view even when it lies far below the load.
        let min = objective
            .map(|(_, line)| line.iter().fold(min, |m, p| m.min(p.1 * 0.9)))
            .unwrap_or(min);
        let x = |t: DateTime<Utc>| (t - first).num_minutes() as f64;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..x(last), min..max.max(min + 1.0))
            .ok()?;
        chart
            .configure_mesh()
            .x_labels(10)
            .x_label_formatter(&|m| {
                let t = first + chrono::Duration::minutes(*m as i64);
                cal.local_time(t).format("%H:%M").to_string()
            })
            .x_desc(axis_description(cal, first, last))
            .y_desc("kW")
            .draw()
            .ok()?;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x(window.0), min), (x(window.1), max)],
                RGBColor(255, 243, 205).filled(),
            )))
            .ok()?;
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (x(p.0), p.1)),
                RGBColor(120, 120, 120).stroke_width(2),
            ))
            .ok()?
            .label("Before (baseline)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RGBColor(120, 120, 120)));
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (x(p.0), p.2)),
                RGBColor(31, 119, 180).stroke_width(2),
            ))
            .ok()?
            .label("After (planned)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RGBColor(31, 119, 180)));
        if let Some((label, line)) = objective.filter(|(_, l)| !l.is_empty()) {
            let color = RGBColor(148, 0, 211);
            chart
                .draw_series(DashedLineSeries::new(
                    line.iter().map(|p| (x(p.0), p.1)),
                    6,
                    4,
                    color.stroke_width(2),
                ))
                .ok()?
                .label(label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color));
        }
        let actual: Vec<(f64, f64)> = points
            .iter()
            .filter_map(|p| p.3.map(|a| (x(p.0), a)))
            .collect();
        if !actual.is_empty() {
            chart
                .draw_series(LineSeries::new(
                    actual,
                    RGBColor(214, 39, 40).stroke_width(2),
                ))
                .ok()?
                .label("Actual")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RGBColor(214, 39, 40)));
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .ok()?;
        root.present().ok()?;
    }
    let alt = format!(
        "Zone load before, after and actual; the event runs from {} to {}",
        cal.show(window.0),
        cal.show(window.1)
    );
    Some(with_title(&svg, &alt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_chart_names_its_three_lines() {
        let t0 = Utc.with_ymd_and_hms(2026, 7, 15, 16, 0, 0).unwrap();
        let pts: Vec<ChartPoint> = (0..8)
            .map(|i| {
                (
                    t0 + chrono::Duration::minutes(15 * i),
                    1000.0,
                    800.0,
                    (i < 4).then_some(820.0),
                )
            })
            .collect();
        let ceiling = [(t0, 900.0), (t0 + chrono::Duration::minutes(45), 900.0)];
        let svg = event_chart(
            Calendar::default(),
            &pts,
            (t0, t0 + chrono::Duration::hours(1)),
            Some(("Ceiling (objective)", &ceiling)),
        )
        .unwrap();
        assert!(svg.starts_with("<svg"));
        // 16:00 UTC in July is 11:00 CDT: the text alternative and the axis read local time.
        assert!(
            svg.contains("<title>Zone load before, after and actual; the event runs from 2026-07-15 11:00 CDT to 2026-07-15 12:00 CDT</title>"),
            "{svg}"
        );
        assert!(svg.contains("Local time (America/Chicago, CDT), 2026-07-15"));
        assert!(svg.contains("\n11:00\n"), "local tick labels: {svg}");
        for label in [
            "Before (baseline)",
            "After (planned)",
            "Actual",
            "Ceiling (objective)",
        ] {
            assert!(svg.contains(label), "{label}");
        }
    }

    #[test]
    fn a_fall_back_day_draws_25_hours_to_scale_with_both_abbreviations() {
        let cal = Calendar::default();
        // Local midnight to midnight on 2026-11-01: 05:00 UTC to 06:00 UTC the next day.
        let day = cal.day_intervals(chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
        assert_eq!(day.len(), 100);
        let pts: Vec<ChartPoint> = day.iter().map(|t| (*t, 1000.0, 900.0, None)).collect();
        let svg = event_chart(cal, &pts, (day[0], day[99]), None).unwrap();
        assert!(
            svg.contains("Local time (America/Chicago, CDT → CST), 2026-11-01"),
            "{svg}"
        );
        // The last point is 99 quarter hours after the first, not 95.
        let first = pts[0].0;
        assert_eq!((pts[99].0 - first).num_minutes(), 99 * 15);
    }
}
