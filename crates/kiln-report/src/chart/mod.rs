//! Charts drawn as inline SVG, and the small drawing helpers they share.
//!
//! Every style is a presentation attribute on the element, so an SVG copied out of the page
//! still looks the same.

mod bar;
mod beeswarm;
mod distribution;
mod heatmap;
mod line;
mod scatter;
mod waterfall;

pub(crate) use bar::bar_chart;
pub(crate) use beeswarm::beeswarm;
pub(crate) use distribution::distributions;
pub(crate) use heatmap::heatmap;
pub(crate) use line::line_chart;
pub(crate) use scatter::scatter;
pub(crate) use waterfall::waterfall;

use crate::html::escape;
use crate::ticks::Ticks;

/// Series colours (Tableau 10), used in turn.
const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// Axis and text colours.
const AXIS: &str = "#555b66";
const GRID: &str = "#e6e8ec";
const INK: &str = "#2b303a";

/// Explanation colours as shap draws them: blue for a low feature value or an attribution
/// that lowers the output.
const SHAP_BLUE: (u8, u8, u8) = (0, 139, 251);
/// Red for a high feature value or an attribution that raises the output.
const SHAP_RED: (u8, u8, u8) = (255, 0, 82);

/// Estimated width in pixels of `s` at the charts' 12 px font.
const CHAR_WIDTH: f64 = 7.0;

/// The colour of series (or bar group) number `i`.
fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// `(r, g, b)` as a `#rrggbb` colour.
fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Estimated rendered width of `s` in pixels.
fn text_width(s: &str) -> f64 {
    s.chars().count() as f64 * CHAR_WIDTH
}

/// `s` cut to at most `max` characters, with "…" marking a cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Wraps chart `body` in an `<svg>` of the given size, labelled `title` for screen readers.
fn svg(width: f64, height: f64, title: &str, body: &str) -> String {
    format!(
        "<svg class=\"chart\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" aria-label=\"{}\" \
         font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif\" \
         font-size=\"12\" fill=\"{INK}\">\n{body}</svg>",
        escape(title)
    )
}

/// A `<text>` element; `anchor` is `start`, `middle` or `end`, `extra` more attributes.
fn text(x: f64, y: f64, anchor: &str, extra: &str, content: &str) -> String {
    format!(
        "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\"{extra}>{}</text>\n",
        escape(content)
    )
}

/// A `<text>` element rotated by `degrees` around its anchor point.
fn rotated_text(x: f64, y: f64, degrees: f64, anchor: &str, extra: &str, content: &str) -> String {
    let rotate = format!(" transform=\"rotate({degrees:.0} {x:.1} {y:.1})\"{extra}");
    text(x, y, anchor, &rotate, content)
}

/// Extra attributes for axis names.
const BOLD: &str = " font-weight=\"600\"";

/// A straight `<line>` with the given stroke colour, width and extra attributes.
fn line((x1, y1): (f64, f64), (x2, y2): (f64, f64), stroke: &str, extra: &str) -> String {
    format!(
        "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" \
         stroke=\"{stroke}\"{extra}/>\n"
    )
}

/// The paragraph shown instead of a chart that has nothing to draw.
fn no_data() -> String {
    "<p class=\"empty\">No data.</p>\n".to_string()
}

/// The smallest and largest of `values`, or `None` when there are none.
fn extent(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// A linear (or logarithmic) map from a data interval onto a pixel interval.
#[derive(Debug, Clone, Copy)]
struct Scale {
    /// Data interval, as base-10 logarithms on a log scale.
    domain: (f64, f64),
    /// Pixel interval.
    range: (f64, f64),
    /// Whether data values are placed by their logarithm.
    log: bool,
}

impl Scale {
    /// The scale that maps the span of `ticks` onto `range`, logarithmic when `ticks` are.
    fn new(ticks: &Ticks, range: (f64, f64)) -> Scale {
        let log = ticks.is_log();
        let along = |v: f64| if log { v.log10() } else { v };
        Scale {
            domain: (along(ticks.lo()), along(ticks.hi())),
            range,
            log,
        }
    }

    /// The pixel position of data value `v` (which must be positive on a log scale).
    fn map(&self, v: f64) -> f64 {
        let v = if self.log { v.log10() } else { v };
        let (d0, d1) = self.domain;
        let (r0, r1) = self.range;
        if d1 == d0 {
            return (r0 + r1) / 2.0;
        }
        r0 + (v - d0) / (d1 - d0) * (r1 - r0)
    }
}

/// A horizontal value axis at `bottom`: vertical grid lines up to `top`, tick marks and
/// labels, the axis line and its `label` underneath.
fn x_axis(ticks: &Ticks, x: &Scale, (top, bottom): (f64, f64), label: &str) -> String {
    let mut out = String::new();
    for &v in &ticks.values {
        let px = x.map(v);
        out += &line((px, top), (px, bottom), GRID, "");
        out += &line((px, bottom), (px, bottom + 5.0), AXIS, "");
        out += &text(px, bottom + 18.0, "middle", "", &ticks.label(v));
    }
    out += &line((x.range.0, bottom), (x.range.1, bottom), AXIS, "");
    let middle = (x.range.0 + x.range.1) / 2.0;
    out += &text(middle, bottom + 38.0, "middle", BOLD, label);
    out
}

/// A vertical value axis at `left`: horizontal grid lines across to `right`, tick marks and
/// labels, the axis line and its rotated `label` at `label_x`.
fn y_axis(
    ticks: &Ticks,
    y: &Scale,
    (left, right): (f64, f64),
    label_x: f64,
    label: &str,
) -> String {
    let mut out = String::new();
    for &v in &ticks.values {
        let py = y.map(v);
        out += &line((left, py), (right, py), GRID, "");
        out += &line((left - 5.0, py), (left, py), AXIS, "");
        out += &text(left - 8.0, py + 4.0, "end", "", &ticks.label(v));
    }
    out += &line((left, y.range.0), (left, y.range.1), AXIS, "");
    let middle = (y.range.0 + y.range.1) / 2.0;
    out += &rotated_text(label_x, middle, -90.0, "middle", BOLD, label);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_marks_cut_text() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("a long feature name", 8), "a long …");
        assert_eq!(truncate("ééééé", 3).chars().count(), 3);
    }

    #[test]
    fn scale_maps_tick_span_onto_pixels() {
        let ticks = Ticks::covering(0.0, 10.0, 5);
        let y = Scale::new(&ticks, (300.0, 100.0));
        assert_eq!(y.map(0.0), 300.0);
        assert_eq!(y.map(10.0), 100.0);
        assert_eq!(y.map(5.0), 200.0);
        let log = Scale::new(&Ticks::decades(1.0, 1000.0, 3), (0.0, 300.0));
        assert_eq!(
            [log.map(1.0), log.map(10.0), log.map(1000.0)],
            [0.0, 100.0, 300.0]
        );
    }
}
