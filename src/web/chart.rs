//! The environment page's pictures as inline SVG: a latency chart (p50 and p95 per hour) and a
//! row of daily uptime bars. Pure: rollup rows in, markup out, no I/O and no clock. Drawn in a
//! fixed `viewBox` and sized by CSS, so a picture shrinks with a phone's width instead of
//! overflowing it; no script, no external asset, every piece of text through maud's escaping.

use chrono::DateTime;
use maud::{Markup, html};

use crate::store::{DayUptime, HourLatency};

/// The latency chart's coordinate space; CSS scales it to the column's width.
pub const CHART_WIDTH: f64 = 720.0;
pub const CHART_HEIGHT: f64 = 160.0;
/// Room for the value labels on the left and the time labels below.
const LEFT: f64 = 62.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 22.0;

/// One daily bar and the gap after it, in the bars' coordinate space.
const BAR_WIDTH: f64 = 6.0;
const BAR_GAP: f64 = 2.0;
const BAR_HEIGHT: f64 = 24.0;

/// Uptime from which a day is green, and from which it is amber rather than red: three nines
/// is what most services promise, and a day under 99 % had an outage someone noticed.
const GOOD_DAY: f64 = 0.999;
const FAIR_DAY: f64 = 0.99;

/// The smallest of 1, 2, 5 × 10ⁿ at or above `max`: axis labels people read at a glance.
pub fn nice_ceiling(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * magnitude)
        .find(|ceiling| *ceiling >= max * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// The centre of hour slot `i` of `slots`, across the plot area.
pub fn x_of(i: usize, slots: usize) -> f64 {
    let width = CHART_WIDTH - LEFT - RIGHT;
    LEFT + width * (i as f64 + 0.5) / slots.max(1) as f64
}

/// `ms` on a scale from 0 (bottom of the plot) to `ceiling` (top); values above are clamped.
pub fn y_of(ms: f64, ceiling: f64) -> f64 {
    let height = CHART_HEIGHT - TOP - BOTTOM;
    let share = (ms / ceiling).clamp(0.0, 1.0);
    TOP + height * (1.0 - share)
}

/// One hour of the chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Slot {
    /// No run that hour (a schedule sparser than hourly): the line goes across.
    Empty,
    /// Runs, none serving: the line breaks instead of drawing a slope across an outage.
    Failing,
    Value(f64),
}

/// The hours with a value, as runs of points, broken at failing hours.
pub fn segments(slots: &[Slot], ceiling: f64) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    let mut current = Vec::new();
    for (i, slot) in slots.iter().enumerate() {
        match slot {
            Slot::Value(ms) => current.push((x_of(i, slots.len()), y_of(*ms, ceiling))),
            Slot::Failing if !current.is_empty() => runs.push(std::mem::take(&mut current)),
            Slot::Failing | Slot::Empty => {}
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// An SVG path through `segments`; a lone hour becomes a short dash one slot wide, so it shows.
pub fn path_data(segments: &[Vec<(f64, f64)>], slots: usize) -> String {
    let half = (CHART_WIDTH - LEFT - RIGHT) / slots.max(1) as f64 / 2.0;
    let mut d = String::new();
    for run in segments {
        if let [(x, y)] = run.as_slice() {
            d.push_str(&format!("M{:.1},{y:.1}H{:.1}", x - half, x + half));
            continue;
        }
        for (i, (x, y)) in run.iter().enumerate() {
            d.push(if i == 0 { 'M' } else { 'L' });
            d.push_str(&format!("{x:.1},{y:.1}"));
        }
    }
    d
}

/// The `slots` hours ending with `last_hour` (epoch seconds of its start), one per hour.
fn by_hour(
    hours: &[HourLatency],
    last_hour: i64,
    slots: usize,
    pick: fn(&HourLatency) -> Option<f64>,
) -> Vec<Slot> {
    let first = last_hour - (slots as i64 - 1) * 3600;
    let mut values = vec![Slot::Empty; slots];
    for h in hours {
        let offset = (h.hour - first).div_euclid(3600);
        if let Ok(i) = usize::try_from(offset)
            && i < slots
        {
            values[i] = pick(h).map_or(Slot::Failing, Slot::Value);
        }
    }
    values
}

fn value(slot: &Slot) -> Option<f64> {
    match slot {
        Slot::Value(ms) => Some(*ms),
        _ => None,
    }
}

/// p50 and p95 of `total` per hour over the `slots` hours ending with `last_hour`.
pub fn latency_chart(hours: &[HourLatency], last_hour: i64, slots: usize, span: &str) -> Markup {
    let p50 = by_hour(hours, last_hour, slots, |h| h.p50_ms);
    let p95 = by_hour(hours, last_hour, slots, |h| h.p95_ms);
    let highest = p95.iter().chain(&p50).filter_map(value).fold(0.0, f64::max);
    let ceiling = nice_ceiling(highest);
    let empty = p95.iter().all(|slot| value(slot).is_none());
    let bottom = CHART_HEIGHT - BOTTOM;
    let label_y = CHART_HEIGHT - 6.0;
    html! {
        svg class="chart" viewBox={ "0 0 " (CHART_WIDTH) " " (CHART_HEIGHT) } role="img"
            aria-label={ "Latency p50 and p95 per hour, last " (span) } {
            title { "Latency p50 and p95 per hour, last " (span) }
            @for share in [0.0, 0.5, 1.0] {
                @let y = y_of(ceiling * share, ceiling);
                line class="grid" x1=(LEFT) x2=(CHART_WIDTH - RIGHT) y1=(y) y2=(y) {}
                // An empty chart has no scale to speak of.
                @if !empty {
                    text class="axis" x=(LEFT - 6.0) y=(y + 4.0) text-anchor="end" {
                        @if share == 0.0 { "0" } @else { (crate::text::ms(Some(ceiling * share))) }
                    }
                }
            }
            text class="axis" x=(LEFT) y=(label_y) { (span) " ago" }
            text class="axis" x=(CHART_WIDTH - RIGHT) y=(label_y) text-anchor="end" { "now" }
            @if empty {
                text class="axis" x=(CHART_WIDTH / 2.0) y=(bottom / 2.0) text-anchor="middle" { "no serving runs in this range" }
            } @else {
                path class="p95" d=(path_data(&segments(&p95, ceiling), slots)) {}
                path class="p50" d=(path_data(&segments(&p50, ceiling), slots)) {}
            }
        }
    }
}

/// How a day's bar is coloured: `unknown` (grey) without runs.
pub fn day_class(day: Option<&DayUptime>) -> &'static str {
    match day.filter(|d| d.runs > 0) {
        None => "unknown",
        Some(d) => {
            let uptime = d.serving as f64 / d.runs as f64;
            if uptime >= GOOD_DAY {
                "up"
            } else if uptime >= FAIR_DAY {
                "degraded"
            } else {
                "down"
            }
        }
    }
}

/// The left edge of bar `i`.
pub fn bar_x(i: usize) -> f64 {
    i as f64 * (BAR_WIDTH + BAR_GAP)
}

/// One bar per UTC day for the `count` days ending with `last_day` (days since the epoch),
/// oldest left, each titled with its date and uptime. Stretched to the box its page gives
/// it: the environment page keeps the drawing's proportions, the public page a fixed height.
pub fn uptime_bars(days: &[DayUptime], last_day: i64, count: usize) -> Markup {
    let first = last_day - count as i64 + 1;
    let width = bar_x(count) - BAR_GAP;
    html! {
        svg class="days" viewBox={ "0 0 " (width) " " (BAR_HEIGHT) } preserveAspectRatio="none" role="img"
            aria-label={ "Uptime per UTC day, last " (count) " days" } {
            @for i in 0..count {
                @let day = first + i as i64;
                @let counts = days.iter().find(|d| d.day == day);
                rect class=(day_class(counts)) x=(bar_x(i)) y="0" width=(BAR_WIDTH) height=(BAR_HEIGHT) rx="1" {
                    title { (day_title(day, counts)) }
                }
            }
        }
    }
}

/// `2026-12-01: 99.93 % up (1439 of 1440 runs)`, or that the day has no data.
fn day_title(day: i64, counts: Option<&DayUptime>) -> String {
    let date = DateTime::from_timestamp(day * 86_400, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    match counts.filter(|d| d.runs > 0) {
        Some(d) => format!(
            "{date}: {:.2} % up ({} of {} runs)",
            d.serving as f64 * 100.0 / d.runs as f64,
            d.serving,
            d.runs
        ),
        None => format!("{date}: no data"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour(hour: i64, p50_ms: f64, p95_ms: f64) -> HourLatency {
        HourLatency {
            hour,
            p50_ms: Some(p50_ms),
            p95_ms: Some(p95_ms),
        }
    }

    #[test]
    fn the_scale_ends_on_a_round_number_at_or_above_the_highest_value() {
        for (max, ceiling) in [(87.0, 100.0), (0.3, 0.5), (1200.0, 2000.0), (5.0, 5.0)] {
            assert_eq!(nice_ceiling(max), ceiling, "{max}");
        }
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(f64::NAN), 1.0);
    }

    #[test]
    fn hours_spread_across_the_plot_and_values_stand_on_its_floor() {
        let xs: Vec<f64> = (0..24).map(|i| x_of(i, 24)).collect();
        assert!(xs.windows(2).all(|w| w[0] < w[1]));
        assert!(xs[0] > LEFT && xs[23] < CHART_WIDTH - RIGHT);
        assert_eq!(y_of(0.0, 100.0), CHART_HEIGHT - BOTTOM);
        assert_eq!(y_of(100.0, 100.0), TOP);
        assert_eq!(y_of(500.0, 100.0), TOP, "clamped into the plot");
        assert!(y_of(25.0, 100.0) > y_of(75.0, 100.0), "higher is slower");
    }

    #[test]
    fn a_failing_hour_breaks_the_line_and_an_hour_without_runs_does_not() {
        use Slot::{Empty, Failing, Value};
        let slots = [Value(1.0), Empty, Value(2.0), Failing, Value(3.0), Empty];
        let runs = segments(&slots, 10.0);
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert_eq!(runs[0].len(), 2, "bridged across the hour without runs");
        assert_eq!(runs[1], vec![(x_of(4, 6), y_of(3.0, 10.0))]);
        let d = path_data(&runs, 6);
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert!(d.contains('H'), "a lone hour is drawn as a dash: {d}");
    }

    #[test]
    fn the_chart_places_each_hour_in_its_own_slot() {
        let last = 1_000 * 3600;
        let rows = [hour(last - 23 * 3600, 5.0, 9.0), hour(last, 7.0, 40.0)];
        let mut rows = rows.to_vec();
        rows.push(HourLatency {
            hour: last - 3600,
            p50_ms: None,
            p95_ms: None,
        });
        let values = by_hour(&rows, last, 24, |h| h.p95_ms);
        assert_eq!(values[0], Slot::Value(9.0));
        assert_eq!(values[23], Slot::Value(40.0));
        assert_eq!(values[22], Slot::Failing);
        assert_eq!(values.iter().filter(|s| **s == Slot::Empty).count(), 21);
        // Outside the range: neither before the first slot nor after the last.
        let outside = [
            hour(last - 24 * 3600, 1.0, 1.0),
            hour(last + 3600, 1.0, 1.0),
        ];
        assert!(
            by_hour(&outside, last, 24, |h| h.p50_ms)
                .iter()
                .all(|s| *s == Slot::Empty)
        );

        let svg = latency_chart(&rows, last, 24, "24 h").into_string();
        assert!(
            svg.starts_with("<svg class=\"chart\" viewBox=\"0 0 720 160\""),
            "{svg}"
        );
        assert_eq!(svg.matches("<path").count(), 2);
        assert!(svg.contains(">50 ms<"), "ceiling of 40 ms labelled: {svg}");
        let empty = latency_chart(&[], last, 24, "24 h").into_string();
        assert!(empty.contains("no serving runs") && !empty.contains("<path"));
    }

    #[test]
    fn ninety_bars_fit_the_view_box_coloured_by_their_day() {
        let last_day = 20_500;
        let days = [
            DayUptime {
                day: last_day,
                runs: 1440,
                serving: 1440,
            },
            DayUptime {
                day: last_day - 1,
                runs: 1000,
                serving: 995,
            },
            DayUptime {
                day: last_day - 2,
                runs: 100,
                serving: 50,
            },
            DayUptime {
                day: last_day - 200,
                runs: 1,
                serving: 1,
            },
        ];
        let svg = uptime_bars(&days, last_day, 90).into_string();
        assert_eq!(svg.matches("<rect").count(), 90);
        assert!(bar_x(89) + BAR_WIDTH <= bar_x(90) - BAR_GAP + 1e-9);
        assert_eq!(svg.matches("class=\"unknown\"").count(), 87);
        let class = |d: &DayUptime| day_class(Some(d));
        assert_eq!(
            [class(&days[0]), class(&days[1]), class(&days[2])],
            ["up", "degraded", "down"]
        );
        let date = DateTime::from_timestamp(last_day * 86_400, 0).unwrap();
        assert!(svg.contains(&format!(
            "<title>{}: 100.00 % up (1440 of 1440 runs)</title>",
            date.format("%Y-%m-%d")
        )));
        assert!(svg.contains(": 99.50 % up (995 of 1000 runs)"));
        assert!(svg.contains(": no data</title>"));
    }

    #[test]
    fn text_in_a_picture_is_escaped() {
        let svg = latency_chart(&[], 0, 24, "<b>\"24 h\"").into_string();
        assert!(!svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;b&gt;"));
    }
}
