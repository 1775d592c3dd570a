//! Line charts over 15-minute intervals, drawn with plotters into an SVG string on the server
//! (the console embeds it; the app crate never needs plotters).

use chrono::{DateTime, Utc};
use plotters::prelude::*;
pub use plotters::style::RGBColor;

use crate::calendar::Calendar;
use crate::report::axis::{
    nice_top, responsive, steps, tick_label, LocalTimeAxis, PowerUnit, CAPTION_PX, LABEL_PX,
};

/// One line of a chart.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    pub name: &'a str,
    pub values: &'a [f64],
    pub colour: RGBColor,
}

impl<'a> Series<'a> {
    pub fn new(name: &'a str, values: &'a [f64], colour: RGBColor) -> Self {
        Series {
            name,
            values,
            colour,
        }
    }
}

/// Colours that read well together (baseline, after, actual, temperature).
pub const BLUE: RGBColor = RGBColor(31, 119, 180);
pub const GREEN: RGBColor = RGBColor(44, 160, 44);
pub const GREY: RGBColor = RGBColor(90, 90, 90);
pub const ORANGE: RGBColor = RGBColor(230, 110, 20);

const SIZE: (u32, u32) = (960, 380);

/// A line chart of `series` (kW or any one unit, `y_label`) over `times` (one per value), the
/// axis in local time.
pub fn line_chart(
    cal: Calendar,
    title: &str,
    times: &[DateTime<Utc>],
    y_label: &str,
    series: &[Series],
) -> String {
    line_chart_with_secondary(cal, title, times, y_label, series, "", &[])
}

/// Like [`line_chart`], with more series on a second y axis at the right (e.g. °C).
pub fn line_chart_with_secondary(
    cal: Calendar,
    title: &str,
    times: &[DateTime<Utc>],
    y_label: &str,
    series: &[Series],
    secondary_label: &str,
    secondary: &[Series],
) -> String {
    let mut buf = String::new();
    let drawn = draw(
        &mut buf,
        title,
        &LocalAxis::new(cal, times),
        y_label,
        series,
        secondary_label,
        secondary,
    );
    match drawn {
        Ok(()) => responsive(&buf),
        Err(e) => {
            tracing::warn!(error = %e, "chart could not be drawn");
            format!(
                r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="40"><text x="10" y="25">Chart unavailable</text></svg>"#,
                SIZE.0
            )
        }
    }
}

/// A bar chart: one bar per label (e.g. per event), one unit (`y_label`).
pub fn bar_chart(
    title: &str,
    labels: &[String],
    y_label: &str,
    values: &[f64],
    colour: RGBColor,
) -> String {
    let mut buf = String::new();
    let drawn = draw_bars(&mut buf, title, labels, y_label, values, colour);
    match drawn {
        Ok(()) => responsive(&buf),
        Err(e) => {
            tracing::warn!(error = %e, "chart could not be drawn");
            format!(
                r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="40"><text x="10" y="25">Chart unavailable</text></svg>"#,
                SIZE.0
            )
        }
    }
}

fn draw_bars(
    buf: &mut String,
    title: &str,
    labels: &[String],
    y_label: &str,
    values: &[f64],
    colour: RGBColor,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(buf, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let n = labels.len().max(1) as f64;
    let (y0, y1) = range(&[Series::new("", values, colour)], true);
    let label_of = |x: &f64| {
        // Labels sit at the middle of each bar.
        let i = (x - 0.5).round();
        if i < 0.0 || (x - 0.5 - i).abs() > 0.01 {
            return String::new();
        }
        labels.get(i as usize).cloned().unwrap_or_default()
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", CAPTION_PX))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..n, y0..nice_top(y1))?;
    chart
        .configure_mesh()
        .label_style(("sans-serif", LABEL_PX))
        .axis_desc_style(("sans-serif", LABEL_PX))
        .x_labels(labels.len().clamp(1, 40) * 2 + 1)
        .x_label_formatter(&label_of)
        .y_desc(y_label)
        .y_label_formatter(&|v| tick_label(*v, y1))
        .light_line_style(WHITE.mix(0.0))
        .disable_x_mesh()
        .draw()?;
    chart.draw_series(
        values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, v)| {
                let x = i as f64;
                Rectangle::new([(x + 0.15, 0.0), (x + 0.85, *v)], colour.filled())
            }),
    )?;
    root.present()?;
    Ok(())
}

fn range(series: &[Series], floor_zero: bool) -> (f64, f64) {
    let values = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite());
    let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if floor_zero {
        lo = lo.min(0.0);
    }
    let pad = ((hi - lo) * 0.08).max(1.0);
    (if floor_zero { lo } else { lo - pad }, hi + pad)
}

/// The x axis of a line chart: local time, the instants to scale, ticks on local hours.
struct LocalAxis {
    axis: LocalTimeAxis,
    xs: Vec<f64>,
    /// Each value holds for this long (the spacing of the points; 15 minutes by default).
    width: f64,
    description: String,
}

impl LocalAxis {
    fn new(cal: Calendar, times: &[DateTime<Utc>]) -> Self {
        let first = times.first().copied().unwrap_or_default();
        let step = match times {
            [a, b, ..] => *b - *a,
            _ => chrono::Duration::minutes(15),
        };
        let last = times.last().copied().unwrap_or(first) + step;
        let axis = LocalTimeAxis::new(cal, first, last);
        LocalAxis {
            xs: times.iter().map(|t| axis.x(*t)).collect(),
            width: step.num_seconds() as f64 / 60.0,
            axis,
            description: match (times.first(), times.last()) {
                (Some(a), Some(b)) => axis_description(cal, *a, *b),
                _ => format!("Local time ({})", cal.name()),
            },
        }
    }

    /// A series' finite values as a step line.
    fn steps(&self, values: &[f64], scale: f64) -> Vec<(f64, f64)> {
        let pts: Vec<(f64, f64)> = self
            .xs
            .iter()
            .zip(values)
            .filter(|(_, v)| v.is_finite())
            .map(|(x, v)| (*x, v / scale))
            .collect();
        steps(&pts, self.width)
    }
}

fn draw(
    buf: &mut String,
    title: &str,
    axis: &LocalAxis,
    y_label: &str,
    series: &[Series],
    secondary_label: &str,
    secondary: &[Series],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(buf, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    // kW above 1,000 reads as MW.
    let (_, hi) = range(series, true);
    let (scale, y_label) = if y_label == "kW" {
        let unit = PowerUnit::for_max(hi);
        (unit.divisor, unit.name)
    } else {
        (1.0, y_label)
    };
    let top = nice_top(
        series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max)
            / scale,
    );
    let (s0, s1) = range(secondary, false);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", CAPTION_PX))
        .margin(14)
        .x_label_area_size(54)
        .y_label_area_size(80)
        .right_y_label_area_size(if secondary.is_empty() { 10 } else { 60 })
        .build_cartesian_2d(axis.axis.clone(), 0.0..top)?
        .set_secondary_coord(axis.axis.clone(), s0..s1);
    chart
        .configure_mesh()
        .label_style(("sans-serif", LABEL_PX))
        .axis_desc_style(("sans-serif", LABEL_PX))
        .x_desc(axis.description.as_str())
        .y_desc(y_label)
        .y_labels(8)
        .y_label_formatter(&|v| tick_label(*v, top))
        .draw()?;
    if !secondary.is_empty() {
        chart
            .configure_secondary_axes()
            .label_style(("sans-serif", LABEL_PX))
            .axis_desc_style(("sans-serif", LABEL_PX))
            .y_desc(secondary_label)
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
    }
    for s in series {
        let colour = s.colour;
        chart
            .draw_series(LineSeries::new(
                axis.steps(s.values, scale),
                colour.stroke_width(3),
            ))?
            .label(s.name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(3))
            });
    }
    for s in secondary {
        let colour = s.colour;
        chart
            .draw_secondary_series(LineSeries::new(
                axis.steps(s.values, 1.0),
                colour.stroke_width(2),
            ))?
            .label(s.name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", LABEL_PX))
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    root.present()?;
    Ok(())
}

/// What the x axis reads: local time in the zone, with the local date(s) and abbreviation(s).
pub fn axis_description(cal: Calendar, first: DateTime<Utc>, last: DateTime<Utc>) -> String {
    let (a, b) = (cal.show(first), cal.show(last));
    let (day_a, zone_a) = (&a[..10], &a[17..]);
    let (day_b, zone_b) = (&b[..10], &b[17..]);
    let days = if day_a == day_b {
        day_a.to_string()
    } else {
        format!("{day_a} – {day_b}")
    };
    let zones = if zone_a == zone_b {
        zone_a.to_string()
    } else {
        format!("{zone_a} → {zone_b}")
    };
    format!("Local time ({}, {zones}), {days}", cal.name())
}

/// Puts a `<title>` (the chart's text alternative) first inside the SVG and marks it an image.
pub fn with_title(svg: &str, alt: &str) -> String {
    let escaped = alt
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    match svg.find('>') {
        Some(end) if svg.starts_with("<svg") => format!(
            "<svg role=\"img\"{}><title>{escaped}</title>{}",
            &svg[4..end],
            &svg[end + 1..]
        ),
        _ => svg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn a_chart_is_an_svg_with_its_title_and_legend() {
        let t0 = Utc.with_ymd_and_hms(2026, 7, 1, 0, 0, 0).unwrap();
        let times: Vec<_> = (0..8).map(|i| t0 + Duration::minutes(15 * i)).collect();
        let kw = [10.0, 12.0, 15.0, 14.0, 13.0, 11.0, 10.0, 9.0];
        let c = [30.0, 31.0, 32.0, 33.0, 33.0, 32.0, 31.0, 30.0];
        let svg = line_chart_with_secondary(
            Calendar::default(),
            "Zone baseline",
            &times,
            "kW",
            &[Series::new("baseline", &kw, BLUE)],
            "°C",
            &[Series::new("temperature", &c, ORANGE)],
        );
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.contains("Zone baseline"));
        assert!(svg.contains("temperature"));
        assert!(svg.contains("<polyline") || svg.contains("<path"));
        // 00:00 UTC on 1 July is 19:00 CDT on 30 June: the axis reads local time.
        assert!(
            svg.contains("Local time (America/Chicago, CDT), 2026-06-30"),
            "{svg}"
        );
        assert!(
            svg.contains("30 Jun 19:00"),
            "first tick with its date: {svg}"
        );
        assert!(svg.contains("\n20:00\n"), "ticks on local hours: {svg}");
        assert!(svg.contains("width=\"100%\""), "follows the page: {svg}");
    }

    #[test]
    fn a_bar_chart_draws_one_bar_per_value_with_its_label() {
        let labels = vec!["EV-00001".to_string(), "EV-00002".to_string()];
        let svg = bar_chart(
            "kWh avoided per event",
            &labels,
            "kWh",
            &[12.5, 30.0],
            GREEN,
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("kWh avoided per event"));
        assert!(svg.contains("EV-00002"));
        assert!(
            svg.matches("<rect").count() >= 3,
            "background plus two bars"
        );
    }
}
