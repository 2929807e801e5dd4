//! Horizontal bar charts: labelled bars from a zero line, negative values to its left.

use super::{AXIS, Scale, colour, extent, line, no_data, svg, text, text_width, truncate, x_axis};
use crate::ticks::{Ticks, format_value};

/// Width of the whole chart.
const WIDTH: f64 = 760.0;
/// Right edge of the plot area (room for the value of the longest positive bar).
const RIGHT: f64 = WIDTH - 64.0;
/// Room left of the plot for the value of the longest negative bar.
const NEGATIVE_ROOM: f64 = 60.0;
/// Longest bar label drawn, in characters.
const MAX_LABEL: usize = 32;
/// Height of a bar.
const BAR: f64 = 20.0;
/// Space between bars.
const GAP: f64 = 6.0;
/// Top of the first bar's slot.
const TOP: f64 = 8.0;

/// Draws `bars` top to bottom in the given order; a NaN or infinite value gets no bar.
pub(crate) fn bar_chart(title: &str, value_label: &str, bars: &[(String, f64)]) -> String {
    if bars.is_empty() {
        return no_data();
    }
    let labels: Vec<String> = bars.iter().map(|(l, _)| truncate(l, MAX_LABEL)).collect();
    let label_width = labels.iter().map(|l| text_width(l)).fold(40.0, f64::max) + 12.0;
    let finite = bars.iter().map(|b| b.1).filter(|v| v.is_finite());
    let (lo, hi) = extent(finite).unwrap_or((0.0, 0.0));
    let ticks = Ticks::covering(lo.min(0.0), hi.max(0.0), 5);
    let room = if lo < 0.0 { NEGATIVE_ROOM } else { 4.0 };
    let x = Scale::new(&ticks, (label_width + room, RIGHT));
    let bottom = TOP + bars.len() as f64 * (BAR + GAP);

    let mut body = x_axis(&ticks, &x, (TOP, bottom), value_label);
    for (i, (label, &(_, value))) in labels.iter().zip(bars).enumerate() {
        let y = TOP + GAP / 2.0 + i as f64 * (BAR + GAP);
        body += &text(label_width - 6.0, y + BAR / 2.0 + 4.0, "end", "", label);
        body += &bar(&x, y, value);
    }
    let zero = x.map(0.0);
    body += &line((zero, TOP), (zero, bottom), AXIS, " stroke-width=\"1.5\"");
    svg(WIDTH, bottom + 48.0, title, &body)
}

/// One bar whose top edge is at `y`, from the zero line to `value`, with the value written
/// past its end.
fn bar(x: &Scale, y: f64, value: f64) -> String {
    let zero = x.map(0.0);
    let baseline = y + BAR / 2.0 + 4.0;
    if !value.is_finite() {
        return text(zero + 4.0, baseline, "start", "", &format_value(value));
    }
    let end = x.map(value);
    let (fill, anchor, dx) = if value < 0.0 {
        (colour(3), "end", -4.0)
    } else {
        (colour(0), "start", 4.0)
    };
    let (left, width) = (zero.min(end), (end - zero).abs());
    let mut out = format!(
        "<rect class=\"bar\" x=\"{left:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{BAR:.1}\" \
         fill=\"{fill}\" rx=\"2\"/>\n"
    );
    out += &text(end + dx, baseline, anchor, "", &format_value(value));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (x, width) of every bar.
    fn rects(svg: &str) -> Vec<(f64, f64)> {
        let attribute = |s: &str, name: &str| -> f64 {
            let start = s.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
            s[start..start + s[start..].find('"').unwrap()]
                .parse()
                .unwrap()
        };
        svg.split("<rect class=\"bar\"")
            .skip(1)
            .map(|r| (attribute(r, "x"), attribute(r, "width")))
            .collect()
    }

    #[test]
    fn bar_chart_draws_negative_bars_left_of_zero() {
        let bars = vec![
            ("pos".to_string(), 2.0),
            ("neg".to_string(), -1.0),
            ("big".to_string(), 4.0),
        ];
        let chart = bar_chart("importance", "weight", &bars);
        let drawn = rects(&chart);
        assert_eq!(drawn.len(), 3);
        let (pos, neg, big) = (drawn[0], drawn[1], drawn[2]);
        let zero = pos.0;
        assert_eq!(big.0, zero, "positive bars start at the zero line");
        assert!(
            (neg.0 + neg.1 - zero).abs() < 0.11,
            "negative bar ends at zero"
        );
        assert!((big.1 / pos.1 - 2.0).abs() < 0.01 && (pos.1 / neg.1 - 2.0).abs() < 0.01);
        for label in [">pos</text>", ">-1</text>", ">4</text>", ">weight</text>"] {
            assert!(chart.contains(label), "{label} missing");
        }
    }

    #[test]
    fn bar_chart_handles_empty_and_non_finite_input() {
        assert!(bar_chart("t", "v", &[]).contains("No data"));
        let chart = bar_chart("t", "v", &[("nan".to_string(), f64::NAN)]);
        assert!(rects(&chart).is_empty());
        assert!(chart.contains(">NaN</text>"));
        let zeros = bar_chart("t", "v", &[("a".to_string(), 0.0), ("b".to_string(), 0.0)]);
        assert_eq!(rects(&zeros).len(), 2);
        assert!(rects(&zeros).iter().all(|&(_, width)| width == 0.0));
    }
}
