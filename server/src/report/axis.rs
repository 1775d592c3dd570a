//! What every chart's axes and text look like: a local-time x axis with ticks on whole local
//! hours (or days) labelled with the date, a power y axis from zero in kW or MW with sensible
//! ticks, step lines for interval values, legible font sizes and an SVG that follows the page.

use std::ops::Range;

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};

use crate::calendar::Calendar;

/// Font sizes in SVG pixels (the chart is drawn 960 wide; at the console's width they read as
/// 12 px and more).
pub const LABEL_PX: u32 = 15;
pub const CAPTION_PX: u32 = 19;

/// A time axis in minutes after `origin`, whose ticks sit on whole local hours (or local
/// midnights) of the utility's zone and read as local time with the date where it changes.
/// Minutes since an instant keep a 23- or 25-hour day to scale.
#[derive(Clone)]
pub struct LocalTimeAxis {
    cal: Calendar,
    origin: DateTime<Utc>,
    end: f64,
    ticks: Vec<f64>,
}

impl LocalTimeAxis {
    /// An axis from `first` to `last` (both instants) with at most nine ticks.
    pub fn new(cal: Calendar, first: DateTime<Utc>, last: DateTime<Utc>) -> Self {
        Self::with_ticks(cal, first, last, 9)
    }

    /// An axis with at most `max_ticks` ticks (a narrow chart wants fewer).
    pub fn with_ticks(
        cal: Calendar,
        first: DateTime<Utc>,
        last: DateTime<Utc>,
        max_ticks: usize,
    ) -> Self {
        let mut axis = LocalTimeAxis {
            cal,
            origin: first,
            end: ((last - first).num_seconds() as f64 / 60.0).max(1.0),
            ticks: Vec::new(),
        };
        axis.ticks = axis.compute_ticks(max_ticks);
        axis
    }

    /// The ticks' positions.
    pub fn ticks(&self) -> &[f64] {
        &self.ticks
    }

    /// Where an instant sits on the axis.
    pub fn x(&self, t: DateTime<Utc>) -> f64 {
        (t - self.origin).num_seconds() as f64 / 60.0
    }

    fn instant(&self, x: f64) -> DateTime<Utc> {
        self.origin + Duration::seconds((x * 60.0).round() as i64)
    }

    /// Local-hour ticks, the fewest steps that keep at most `max` of them.
    fn compute_ticks(&self, max: usize) -> Vec<f64> {
        let max = max.max(2);
        let span_hours = self.end / 60.0;
        let step = [1u32, 2, 3, 4, 6, 12, 24, 48, 72, 168]
            .into_iter()
            .find(|h| span_hours / f64::from(*h) <= max as f64)
            .unwrap_or(336);
        // Walk the quarter hours: zones a half or quarter hour off UTC still land on local hours.
        let mut out = Vec::new();
        let start = crate::calendar::align(self.origin);
        let mut t = if start < self.origin {
            start + Duration::minutes(15)
        } else {
            start
        };
        let last = self.instant(self.end);
        while t <= last {
            let local = self.cal.local_time(t);
            let on_tick = local.minute() == 0
                && if step < 24 {
                    local.hour().is_multiple_of(step)
                } else {
                    local.hour() == 0
                        && (local.date().num_days_from_ce() as u32).is_multiple_of(step / 24)
                };
            if on_tick {
                out.push(self.x(t));
            }
            t += Duration::minutes(15);
        }
        out
    }

    /// A tick's label: `17:00`, or the local date where a day starts (`Tue 14 Jul`), or both at
    /// the first tick (`14 Jul 17:00`); the zone abbreviation follows a daylight-saving change.
    pub fn label(&self, x: f64) -> String {
        let t = self.instant(x);
        let local = self.cal.local_time(t);
        let shown = self.cal.show(t);
        let zone = shown.get(17..).unwrap_or("");
        let first_zone = self.cal.show(self.origin);
        let changed = first_zone.get(17..).unwrap_or("") != zone;
        let first_tick = self.ticks.first().is_some_and(|f| (f - x).abs() < 0.5);
        let text = if local.hour() == 0 && local.minute() == 0 {
            local.format("%a %-d %b").to_string()
        } else if first_tick {
            local.format("%-d %b %H:%M").to_string()
        } else {
            local.format("%H:%M").to_string()
        };
        if changed {
            format!("{text} {zone}")
        } else {
            text
        }
    }
}

impl Ranged for LocalTimeAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = value / self.end;
        limit.0 + ((limit.1 - limit.0) as f64 * share).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        // Bold and light grid alike: the local-hour ticks, no extra lines between them.
        self.ticks.clone()
    }

    fn range(&self) -> Range<f64> {
        0.0..self.end
    }
}

impl ValueFormatter<f64> for LocalTimeAxis {
    fn format_ext(&self, value: &f64) -> String {
        self.label(*value)
    }
}

/// A power axis: kW below 1 MW, MW above, so no label reads `55000.0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerUnit {
    pub divisor: f64,
    pub name: &'static str,
}

impl PowerUnit {
    /// The unit for values up to `max_kw`.
    pub fn for_max(max_kw: f64) -> Self {
        if max_kw >= 1000.0 {
            PowerUnit {
                divisor: 1000.0,
                name: "MW",
            }
        } else {
            PowerUnit {
                divisor: 1.0,
                name: "kW",
            }
        }
    }
}

/// The top of an axis from zero: a little above `max`, rounded up to a round number.
pub fn nice_top(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        return 1.0;
    }
    let padded = max * 1.08;
    let magnitude = 10f64.powf(padded.log10().floor());
    [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|v| *v >= padded)
        .unwrap_or(10.0 * magnitude)
}

/// A y tick label: as many decimals as the axis's scale needs, thousands separated.
pub fn tick_label(v: f64, top: f64) -> String {
    let decimals = if top >= 20.0 {
        0
    } else if top >= 2.0 {
        1
    } else {
        2
    };
    let text = format!("{:.*}", decimals, v.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if v < 0.0 && text.chars().any(|c| c != '0' && c != '.') {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

/// Interval values as a step line: each value holds from its start to the next start (the
/// last for `width`), so the line never slopes between intervals.
pub fn steps(points: &[(f64, f64)], width: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2);
    for (i, (x, y)) in points.iter().enumerate() {
        let next = points.get(i + 1).map(|p| p.0).unwrap_or(x + width);
        out.push((*x, *y));
        out.push((next, *y));
    }
    out
}

/// Makes plotters' fixed-size SVG follow the page: the width becomes 100 % and the height
/// follows from the view box (plotters writes `viewBox` already).
pub fn responsive(svg: &str) -> String {
    let Some(end) = svg.find('>') else {
        return svg.to_string();
    };
    let head = &svg[..end];
    if !head.starts_with("<svg") {
        return svg.to_string();
    }
    let mut head = head.to_string();
    for attr in ["width", "height"] {
        let key = format!(" {attr}=\"");
        if let Some(at) = head.find(&key) {
            if let Some(close) = head[at + key.len()..].find('"') {
                head.replace_range(at..at + key.len() + close + 1, "");
            }
        }
    }
    head.push_str(" width=\"100%\" class=\"chart-svg\" preserveAspectRatio=\"xMidYMid meet\"");
    format!("{head}{}", &svg[end..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};

    #[test]
    fn ticks_sit_on_whole_local_hours_and_the_first_carries_the_date() {
        let cal = Calendar::default();
        // 21:10 UTC is 16:10 CDT: the first tick is 17:00 local.
        let first = Utc.with_ymd_and_hms(2026, 7, 14, 21, 10, 0).unwrap();
        let axis = LocalTimeAxis::new(cal, first, first + Duration::hours(5));
        let labels: Vec<String> = axis.ticks().iter().map(|x| axis.label(*x)).collect();
        assert_eq!(labels, ["14 Jul 17:00", "18:00", "19:00", "20:00", "21:00"]);
    }

    #[test]
    fn a_fall_back_day_ticks_every_local_hour_step_and_names_the_new_zone() {
        let cal = Calendar::default();
        let day = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let (a, b) = cal.day_bounds(day);
        let axis = LocalTimeAxis::new(cal, a, b);
        // 25 hours to scale.
        assert_eq!(axis.range().end, 25.0 * 60.0);
        let labels: Vec<String> = axis.ticks().iter().map(|x| axis.label(*x)).collect();
        assert_eq!(labels.first().map(String::as_str), Some("Sun 1 Nov"));
        assert!(labels.iter().any(|l| l.ends_with("CST")), "{labels:?}");
        assert!(labels.len() <= 10, "{labels:?}");
    }

    #[test]
    fn power_switches_to_mw_and_ticks_never_read_like_55000_0() {
        assert_eq!(PowerUnit::for_max(55_000.0).name, "MW");
        assert_eq!(PowerUnit::for_max(800.0).name, "kW");
        assert_eq!(tick_label(55.0, 60.0), "55");
        assert_eq!(tick_label(2.5, 3.0), "2.5");
        assert_eq!(tick_label(12_500.0, 15_000.0), "12,500");
        assert_eq!(nice_top(13.7), 15.0);
        assert_eq!(nice_top(0.0), 1.0);
    }

    #[test]
    fn interval_values_draw_as_steps() {
        let s = steps(&[(0.0, 5.0), (15.0, 7.0)], 15.0);
        assert_eq!(s, [(0.0, 5.0), (15.0, 5.0), (15.0, 7.0), (30.0, 7.0)]);
    }

    #[test]
    fn a_responsive_svg_keeps_its_view_box_and_drops_its_fixed_size() {
        let svg = r#"<svg width="960" height="380" viewBox="0 0 960 380" xmlns="http://www.w3.org/2000/svg"><g/></svg>"#;
        let out = responsive(svg);
        assert!(out.contains("viewBox=\"0 0 960 380\""), "{out}");
        assert!(out.contains("width=\"100%\""), "{out}");
        assert!(
            !out.contains("width=\"960\"") && !out.contains("height=\"380\""),
            "{out}"
        );
    }
}
