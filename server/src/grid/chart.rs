//! The event chart: zone load before (baseline forecast), after (planned) and actual, per
//! 15-minute interval, as SVG rendered on the server with plotters. Points sit at their UTC
//! instants (a 23- or 25-hour local day draws to scale); the axis reads in local time.

use chrono::{DateTime, Duration, Utc};
use plotters::prelude::*;

use crate::calendar::Calendar;
use crate::report::axis::{
    nice_top, responsive, steps, tick_label, LocalTimeAxis, PowerUnit, LABEL_PX,
};
use crate::report::chart::{axis_description, with_title};

/// One point per interval: (start, before, after, actual), in kW.
pub type ChartPoint = (DateTime<Utc>, f64, f64, Option<f64>);

/// What the event chart draws. A struct so that a further series (a ceiling, a target) is
/// one more field, not a new signature.
#[derive(Debug, Clone, Copy)]
pub struct EventChart<'a> {
    /// One point per 15-minute interval, in time order.
    pub points: &'a [ChartPoint],
    /// The event itself, shaded.
    pub window: (DateTime<Utc>, DateTime<Utc>),
    /// The current instant, drawn as a line while the event is live (`None` otherwise).
    pub now: Option<DateTime<Utc>>,
    /// The objective's line over the event window, dashed: the ceiling of a
    /// MaxDemandThreshold event or the target (see `grid::feasibility::objective_line`).
    pub objective: ObjectiveLine<'a>,
}

/// (label, points in kW) of the objective's line.
pub type ObjectiveLine<'a> = Option<(&'a str, &'a [(DateTime<Utc>, f64)])>;

const SIZE: (u32, u32) = (960, 380);
const BEFORE: RGBColor = RGBColor(100, 100, 100);
const AFTER: RGBColor = RGBColor(31, 119, 180);
const ACTUAL: RGBColor = RGBColor(214, 39, 40);
const WINDOW: RGBColor = RGBColor(255, 236, 179);
const OBJECTIVE: RGBColor = RGBColor(148, 0, 211);

/// Renders the chart; `None` when there is nothing to draw. The y axis starts at zero in kW
/// or MW, interval values are steps, the axis reads local time; the SVG carries a title, its
/// text alternative, naming the event window in local time, and follows the page's width.
pub fn event_chart(cal: Calendar, input: &EventChart) -> Option<String> {
    let points = input.points;
    if points.len() < 2 {
        return None;
    }
    let window = input.window;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let interval = Duration::minutes(15);
        let (first, last) = (points[0].0, points[points.len() - 1].0 + interval);
        let axis = LocalTimeAxis::new(cal, first, last);
        let max_kw = points
            .iter()
            .flat_map(|p| [p.1, p.2, p.3.unwrap_or(0.0)])
            .chain(
                input
                    .objective
                    .iter()
                    .flat_map(|(_, l)| l.iter().map(|p| p.1)),
            )
            .filter(|v| v.is_finite())
            .fold(0.0_f64, f64::max);
        let unit = PowerUnit::for_max(max_kw);
        let top = nice_top(max_kw / unit.divisor);
        let y = |kw: f64| kw / unit.divisor;
        let mut chart = ChartBuilder::on(&root)
            .margin(14)
            .x_label_area_size(54)
            .y_label_area_size(70)
            .build_cartesian_2d(axis.clone(), 0.0..top)
            .ok()?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", LABEL_PX))
            .axis_desc_style(("sans-serif", LABEL_PX))
            .x_desc(axis_description(cal, first, points[points.len() - 1].0))
            .y_desc(format!("Zone load ({})", unit.name))
            .y_label_formatter(&|v| tick_label(*v, top))
            .y_labels(8)
            .draw()
            .ok()?;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(axis.x(window.0), 0.0), (axis.x(window.1), top)],
                WINDOW.mix(0.6).filled(),
            )))
            .ok()?
            .label("Event window")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], WINDOW.filled()));
        let line = |pick: &dyn Fn(&ChartPoint) -> Option<f64>| {
            let pts: Vec<(f64, f64)> = points
                .iter()
                .filter_map(|p| pick(p).map(|v| (axis.x(p.0), y(v))))
                .collect();
            steps(&pts, 15.0)
        };
        let mut draw = |pts: Vec<(f64, f64)>, colour: RGBColor, name: &str| -> Option<()> {
            chart
                .draw_series(LineSeries::new(pts, colour.stroke_width(3)))
                .ok()?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(3))
                });
            Some(())
        };
        draw(line(&|p| Some(p.1)), BEFORE, "Before (baseline)")?;
        draw(line(&|p| Some(p.2)), AFTER, "After (planned)")?;
        let actual = line(&|p| p.3);
        if !actual.is_empty() {
            draw(actual, ACTUAL, "Actual")?;
        }
        if let Some((label, objective)) = input.objective.filter(|(_, l)| !l.is_empty()) {
            let pts: Vec<(f64, f64)> = objective.iter().map(|p| (axis.x(p.0), y(p.1))).collect();
            chart
                .draw_series(DashedLineSeries::new(
                    steps(&pts, 15.0),
                    8,
                    5,
                    OBJECTIVE.stroke_width(3),
                ))
                .ok()?
                .label(label)
                .legend(|(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], OBJECTIVE.stroke_width(3))
                });
        }
        if let Some(now) = input.now.filter(|n| *n >= first && *n <= last) {
            let x = axis.x(now);
            chart
                .draw_series(std::iter::once(PathElement::new(
                    [(x, 0.0), (x, top)],
                    BLACK.stroke_width(2),
                )))
                .ok()?
                .label(format!("Now ({})", cal.show(now).get(11..).unwrap_or("")))
                .legend(|(x, y)| {
                    PathElement::new([(x + 9, y - 7), (x + 9, y + 7)], BLACK.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", LABEL_PX))
            .border_style(BLACK.mix(0.3))
            .background_style(WHITE.mix(0.9))
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
    Some(responsive(&with_title(&svg, &alt)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_chart_names_its_lines_and_reads_local_time_from_zero() {
        let t0 = Utc.with_ymd_and_hms(2026, 7, 15, 16, 0, 0).unwrap();
        let pts: Vec<ChartPoint> = (0..8)
            .map(|i| {
                (
                    t0 + chrono::Duration::minutes(15 * i),
                    900.0,
                    700.0,
                    (i < 4).then_some(720.0),
                )
            })
            .collect();
        let ceiling: Vec<(DateTime<Utc>, f64)> = (0..4)
            .map(|i| (t0 + chrono::Duration::minutes(15 * i), 650.0))
            .collect();
        let svg = event_chart(
            Calendar::default(),
            &EventChart {
                points: &pts,
                window: (t0, t0 + chrono::Duration::hours(1)),
                now: Some(t0 + chrono::Duration::minutes(50)),
                objective: Some(("Ceiling (objective)", &ceiling)),
            },
        )
        .unwrap();
        assert!(svg.starts_with("<svg"));
        // 16:00 UTC in July is 11:00 CDT: the text alternative and the axis read local time.
        assert!(
            svg.contains("<title>Zone load before, after and actual; the event runs from 2026-07-15 11:00 CDT to 2026-07-15 12:00 CDT</title>"),
            "{svg}"
        );
        assert!(svg.contains("Local time (America/Chicago, CDT), 2026-07-15"));
        assert!(
            svg.contains("15 Jul 11:00"),
            "the first tick carries the date: {svg}"
        );
        assert!(svg.contains("\n12:00\n"), "local tick labels: {svg}");
        // Below 1 MW the axis reads kW, from zero.
        assert!(svg.contains("Zone load (kW)"), "{svg}");
        assert!(svg.contains("\n0\n"), "the axis starts at zero: {svg}");
        // The now line is drawn and named with the local time.
        assert!(svg.contains("Now (11:50 CDT)"), "{svg}");
        // The SVG follows the page.
        assert!(
            svg.contains("width=\"100%\"") && svg.contains("viewBox="),
            "{svg}"
        );
        for label in [
            "Before (baseline)",
            "After (planned)",
            "Actual",
            "Event window",
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
        let svg = event_chart(
            cal,
            &EventChart {
                points: &pts,
                window: (day[0], day[99]),
                now: None,
                objective: None,
            },
        )
        .unwrap();
        assert!(!svg.contains("Now ("), "no now line when not live");
        assert!(svg.contains("Zone load (MW)"), "1,000 kW reads as MW");
        assert!(
            svg.contains("Local time (America/Chicago, CDT → CST), 2026-11-01"),
            "{svg}"
        );
        // The last point is 99 quarter hours after the first, not 95.
        let first = pts[0].0;
        assert_eq!((pts[99].0 - first).num_minutes(), 99 * 15);
    }
}
