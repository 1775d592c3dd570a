//! The event chart: zone load before (baseline forecast), after (planned) and actual, per
//! 15-minute interval, as SVG rendered on the server with plotters.

use chrono::{DateTime, Utc};
use plotters::prelude::*;

/// One point per interval: (start, before, after, actual).
pub type ChartPoint = (DateTime<Utc>, f64, f64, Option<f64>);

/// Renders the chart; `window` shades the event itself. `None` when there is nothing to draw.
pub fn event_chart(
    points: &[ChartPoint],
    window: (DateTime<Utc>, DateTime<Utc>),
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
                (first + chrono::Duration::minutes(*m as i64))
                    .format("%H:%M")
                    .to_string()
            })
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
    Some(svg)
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
        let svg = event_chart(&pts, (t0, t0 + chrono::Duration::hours(1))).unwrap();
        assert!(svg.starts_with("<svg"));
        for label in ["Before (baseline)", "After (planned)", "Actual"] {
            assert!(svg.contains(label), "{label}");
        }
    }
}
