//! Charts drawn on the server as inline SVG: pictures that need no script,
//! each with a text alternative (`role="img"` and a label) and a tooltip per
//! mark for the exact figure.

use maud::{html, Markup};

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 160.0;
/// Room for the axis labels.
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 20.0;

/// One bar per day, its height `value` of `full` (for uptime: minutes of a
/// day's 1,440), labelled by `tip`.
pub struct Bar {
    pub day: i64,
    pub value: f64,
    pub tip: String,
}

/// Bars on a 0–`full` scale; `axis_top` labels the top of the scale.
pub fn bars(label: &str, bars: &[Bar], full: f64, axis_top: &str) -> Markup {
    let plot_w = WIDTH - LEFT;
    let plot_h = HEIGHT - BOTTOM;
    let slot = plot_w / bars.len().max(1) as f64;
    html! {
        svg class="chart" role="img" aria-label=(label) viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
            xmlns="http://www.w3.org/2000/svg" {
            (axes(plot_h, axis_top, bars.first().map(|b| b.day), bars.last().map(|b| b.day)))
            @for (i, bar) in bars.iter().enumerate() {
                @let h = (bar.value / full).clamp(0.0, 1.0) * plot_h;
                rect class="bar" x=(fmt(LEFT + i as f64 * slot + slot * 0.1)) y=(fmt(plot_h - h))
                    width=(fmt(slot * 0.8)) height=(fmt(h)) {
                    title { (date(bar.day)) ": " (bar.tip) }
                }
            }
        }
    }
}

/// One day's range: lowest, median and highest.
pub struct Range {
    pub low: f64,
    pub mid: f64,
    pub high: f64,
    pub tip: String,
}

/// A vertical line from low to high per day with a dot at the median, on a
/// 0–`top` scale; days without data are left empty.
pub fn ranges(label: &str, days: &[(i64, Option<Range>)], top: f64, axis_top: &str) -> Markup {
    let plot_w = WIDTH - LEFT;
    let plot_h = HEIGHT - BOTTOM;
    let slot = plot_w / days.len().max(1) as f64;
    let y = |v: f64| plot_h - (v / top.max(f64::MIN_POSITIVE)).clamp(0.0, 1.0) * plot_h;
    html! {
        svg class="chart" role="img" aria-label=(label) viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
            xmlns="http://www.w3.org/2000/svg" {
            (axes(plot_h, axis_top, days.first().map(|d| d.0), days.last().map(|d| d.0)))
            @for (i, (day, range)) in days.iter().enumerate() {
                @if let Some(r) = range {
                    @let x = LEFT + i as f64 * slot + slot / 2.0;
                    g class="range" {
                        title { (date(*day)) ": " (r.tip) }
                        line x1=(fmt(x)) x2=(fmt(x)) y1=(fmt(y(r.low))) y2=(fmt(y(r.high))) {}
                        circle cx=(fmt(x)) cy=(fmt(y(r.mid))) r="3" {}
                    }
                }
            }
        }
    }
}

fn axes(plot_h: f64, axis_top: &str, first: Option<i64>, last: Option<i64>) -> Markup {
    html! {
        line class="axis" x1=(fmt(LEFT)) x2=(fmt(LEFT)) y1="0" y2=(fmt(plot_h)) {}
        line class="axis" x1=(fmt(LEFT)) x2=(fmt(WIDTH)) y1=(fmt(plot_h)) y2=(fmt(plot_h)) {}
        text class="tick" x=(fmt(LEFT - 4.0)) y="10" text-anchor="end" { (axis_top) }
        text class="tick" x=(fmt(LEFT - 4.0)) y=(fmt(plot_h)) text-anchor="end" { "0" }
        @if let Some(day) = first {
            text class="tick" x=(fmt(LEFT)) y=(fmt(HEIGHT - 4.0)) { (date(day)) }
        }
        @if let Some(day) = last {
            text class="tick" x=(fmt(WIDTH)) y=(fmt(HEIGHT - 4.0)) text-anchor="end" { (date(day)) }
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

/// A unix time's UTC date, `YYYY-MM-DD` (the civil calendar from days since
/// the epoch, proleptic Gregorian).
pub fn date(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_800_000_000), "2027-01-15");
        assert_eq!(date(-86_400), "1969-12-31");
    }

    #[test]
    fn bars_scale_to_the_full_value_and_carry_their_figures() {
        let svg = bars(
            "uptime",
            &[
                Bar {
                    day: 0,
                    value: 1_440.0,
                    tip: "100%".into(),
                },
                Bar {
                    day: 86_400,
                    value: 720.0,
                    tip: "50%".into(),
                },
            ],
            1_440.0,
            "100%",
        )
        .into_string();
        // The plot is 140 high: a full day is 140, half a day 70.
        assert!(svg.contains(r#"height="140.0""#), "{svg}");
        assert!(svg.contains(r#"height="70.0""#), "{svg}");
        assert!(svg.contains("<title>1970-01-02: 50%</title>"), "{svg}");
        assert!(svg.contains(r#"role="img" aria-label="uptime""#), "{svg}");
    }
}
