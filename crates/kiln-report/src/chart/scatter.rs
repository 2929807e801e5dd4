//! Slice plots: small multiples of scatter plots, one per parameter, with the objective on a y
//! axis shared by all panels, points shaded from light to dark blue and categorical values
//! spread sideways a little around their category.

use super::{
    AXIS, BOLD, CHAR_WIDTH, GRID, PALETTE, Scale, extent, hex, line, no_data, rotated_text, svg,
    text, truncate,
};
use crate::ScatterPanel;
use crate::html::escape;
use crate::ticks::{Ticks, format_value};

/// Width of one panel: three fit side by side in a section.
const WIDTH: f64 = 296.0;
/// Height of one panel.
const HEIGHT: f64 = 220.0;
/// Top edge of the plot area, under the panel's title.
const TOP: f64 = 32.0;
/// Bottom edge of the plot area, where the x axis is (room for tick labels and the x label).
const BOTTOM: f64 = HEIGHT - 44.0;
/// Right edge of the plot area.
const RIGHT: f64 = WIDTH - 14.0;
/// Room left of the y tick labels for the rotated y label.
const Y_NAME: f64 = 24.0;
/// Distance between the axes and the outermost ticks, so that no point sits on an axis.
const PAD: f64 = 7.0;
/// Radius of a point.
const RADIUS: f64 = 3.5;
/// Font size of the tick labels.
const SMALL: f64 = 10.0;
/// Estimated width of one character at [`SMALL`] size (tick labels are mostly digits, which
/// are wide in common system fonts).
const SMALL_CHAR: f64 = 0.64 * SMALL;
/// Font size of the axis labels.
const LABEL_FONT: f64 = 11.0;
/// Least space between two x tick labels.
const LABEL_GAP: f64 = 8.0;
/// Longest category label drawn, in characters.
const MAX_LABEL: usize = 16;
/// Category labels are thinned out rather than cut shorter than this many characters.
const MIN_LABEL: usize = 4;
/// Longest axis name or category in a point's tooltip, in characters.
const MAX_TIP_NAME: usize = 24;
/// Farthest a categorical point moves sideways from its category, in pixels.
const MAX_JITTER: f64 = 12.0;
/// Share of a category's slot its points spread over, at most.
const JITTER_SHARE: f64 = 0.3;
/// The lightest shade (0): a light blue that still shows on white.
const LIGHT: (u8, u8, u8) = (158, 202, 225);
/// The darkest shade (1).
const DARK: (u8, u8, u8) = (8, 48, 107);
/// Points of a panel without shades, or without a usable shade.
const PLAIN: &str = PALETTE[0];
/// Frame of a panel, as the page's section borders.
const FRAME: &str = "#e1e4ea";
/// Colour of "No data", with a white halo that keeps it readable over the lines behind it.
const MUTED: &str =
    " fill=\"#8a919e\" stroke=\"#ffffff\" stroke-width=\"4\" paint-order=\"stroke\"";

/// One point to draw: its data coordinates and its shade, if it has a usable one.
struct Point {
    /// X value (a category index on a categorical axis).
    x: f64,
    /// Y value.
    y: f64,
    /// Shade, clamped to 0..1.
    shade: Option<f64>,
}

/// A panel's x axis.
enum XAxis<'a> {
    /// Numbers on a linear or log scale.
    Numeric(Ticks, Scale),
    /// Category `i` in the middle of slot `i` of this width, slots starting at `left`.
    Categories {
        /// The category labels.
        labels: &'a [String],
        /// Left edge of the first slot.
        left: f64,
        /// Width of one slot.
        slot: f64,
    },
}

/// The panels in a wrapping grid, every one on the y axis that covers all panels' points.
pub(crate) fn scatter(title: &str, y_label: &str, panels: &[ScatterPanel]) -> String {
    if panels.is_empty() {
        return no_data();
    }
    let points: Vec<Vec<Point>> = panels.iter().map(points).collect();
    let (lo, hi) = extent(points.iter().flatten().map(|p| p.y)).unwrap_or((0.0, 1.0));
    let y_ticks = Ticks::covering(lo, hi, 4);
    let widest = y_ticks
        .values
        .iter()
        .map(|&v| y_ticks.label(v).chars().count())
        .max()
        .unwrap_or(1);
    let left = Y_NAME + widest as f64 * SMALL_CHAR + 10.0;
    let y = Scale::new(&y_ticks, (BOTTOM - PAD, TOP + PAD));
    let mut out = "<div class=\"multiples\">\n".to_string();
    for (panel, points) in panels.iter().zip(&points) {
        let mut body = frame();
        let name_chars = ((WIDTH - 20.0) / CHAR_WIDTH) as usize;
        body += &text(
            10.0,
            19.0,
            "start",
            BOLD,
            &truncate(&panel.title, name_chars),
        );
        body += &y_axis(&y_ticks, &y, left, y_label);
        let x = XAxis::new(panel, points, left);
        body += &x.draw(&panel.x_label, left);
        if points.is_empty() {
            let middle = ((left + RIGHT) / 2.0, (TOP + BOTTOM) / 2.0 + 4.0);
            body += &text(middle.0, middle.1, "middle", MUTED, "No data");
        }
        body += &dots(points, &x, &y, (&panel.x_label, y_label));
        let label = match title {
            "" => panel.title.clone(),
            _ => format!("{title}: {}", panel.title),
        };
        out += &svg(WIDTH, HEIGHT, &label, &body);
        out += "\n";
    }
    out + "</div>"
}

/// The points of `panel` to draw: those with finite coordinates and, on a categorical axis,
/// an x that rounds to a category's index.
fn points(panel: &ScatterPanel) -> Vec<Point> {
    let count = panel.categories.as_ref().map(Vec::len);
    panel
        .points
        .iter()
        .enumerate()
        .filter(|(_, (x, y))| x.is_finite() && y.is_finite())
        .filter(|(_, (x, _))| count.is_none_or(|n| category(*x, n).is_some()))
        .map(|(i, &(x, y))| {
            let shade = panel.shade.get(i).copied().filter(|s| s.is_finite());
            Point {
                x,
                y,
                shade: shade.map(|s| s.clamp(0.0, 1.0)),
            }
        })
        .collect()
}

/// The category index `x` stands for among `count` categories, if any.
fn category(x: f64, count: usize) -> Option<usize> {
    let i = x.round();
    (i >= 0.0 && i < count as f64).then_some(i as usize)
}

impl<'a> XAxis<'a> {
    /// The x axis of `panel`, whose plot area starts at `left`: its categories, or a log
    /// scale when asked for and every point is positive, else a linear one.
    fn new(panel: &'a ScatterPanel, points: &[Point], left: f64) -> XAxis<'a> {
        if let Some(labels) = &panel.categories {
            let slot = (RIGHT - left) / labels.len().max(1) as f64;
            return XAxis::Categories { labels, left, slot };
        }
        let range = (left + PAD, RIGHT - PAD);
        let (lo, hi) = extent(points.iter().map(|p| p.x)).unwrap_or((1.0, 1.0));
        let ticks = if panel.log_x && lo > 0.0 {
            Ticks::decades(lo, hi, 4)
        } else {
            Ticks::covering(lo, hi, 4)
        };
        let scale = Scale::new(&ticks, range);
        XAxis::Numeric(ticks, scale)
    }

    /// The pixel position of `x`, the middle of its slot on a categorical axis.
    fn map(&self, x: f64) -> f64 {
        match self {
            XAxis::Numeric(_, scale) => scale.map(x),
            XAxis::Categories { left, slot, .. } => left + (x.round() + 0.5) * slot,
        }
    }

    /// The ticks as (pixel, label).
    fn ticks(&self) -> Vec<(f64, String)> {
        match self {
            XAxis::Numeric(ticks, scale) => ticks
                .values
                .iter()
                .map(|&v| (scale.map(v), ticks.label(v)))
                .collect(),
            XAxis::Categories { labels, .. } => labels
                .iter()
                .enumerate()
                .map(|(i, label)| (self.map(i as f64), label.clone()))
                .collect(),
        }
    }

    /// Grid lines, tick marks and labels, the axis line from `left` and its `label` under it.
    /// Tick labels that would overlap are thinned out to every second, third… tick, and long
    /// category labels cut short.
    fn draw(&self, label: &str, left: f64) -> String {
        let ticks = self.ticks();
        let spacing = match ticks.as_slice() {
            [a, b, ..] => b.0 - a.0,
            _ => RIGHT - left,
        };
        let widest = ticks.iter().map(|t| t.1.chars().count()).max().unwrap_or(0);
        let needed = match self {
            XAxis::Numeric(..) => widest,
            XAxis::Categories { .. } => widest.min(MIN_LABEL),
        };
        let every = ((needed as f64 * SMALL_CHAR + LABEL_GAP) / spacing)
            .ceil()
            .max(1.0) as usize;
        let room = ((every as f64 * spacing - LABEL_GAP) / SMALL_CHAR).max(1.0) as usize;
        let mut out = String::new();
        let mut labels = format!("<g font-size=\"{SMALL}\" fill=\"{AXIS}\">\n");
        for (i, (px, tick)) in ticks.iter().enumerate() {
            out += &line((*px, TOP), (*px, BOTTOM), GRID, "");
            out += &line((*px, BOTTOM), (*px, BOTTOM + 4.0), AXIS, "");
            if i % every == 0 {
                let shown = truncate(tick, room.min(MAX_LABEL));
                labels += &text(*px, BOTTOM + 15.0, "middle", "", &shown);
            }
        }
        out += &line((left, BOTTOM), (RIGHT, BOTTOM), AXIS, "");
        let chars = ((RIGHT - left) / (CHAR_WIDTH * LABEL_FONT / 12.0)) as usize;
        let name = format!("{BOLD} font-size=\"{LABEL_FONT}\"");
        let middle = (left + RIGHT) / 2.0;
        out += &text(
            middle,
            HEIGHT - 10.0,
            "middle",
            &name,
            &truncate(label, chars),
        );
        out + &labels + "</g>\n"
    }

    /// Data value `x` as text for a tooltip: its category on a categorical axis.
    fn value(&self, x: f64) -> String {
        match self {
            XAxis::Numeric(..) => format_value(x),
            XAxis::Categories { labels, .. } => category(x, labels.len())
                .map_or_else(String::new, |i| truncate(&labels[i], MAX_TIP_NAME)),
        }
    }

    /// How far the `k`th point of one category moves sideways: the first not at all, the
    /// others spread evenly over the category's room by the golden ratio, the same every time.
    /// Nothing on a numeric axis.
    fn jitter(&self, k: usize) -> f64 {
        match self {
            XAxis::Numeric(..) => 0.0,
            XAxis::Categories { slot, .. } => {
                let spread = (slot * JITTER_SHARE).min(MAX_JITTER);
                let golden = (0.5 + k as f64 * 0.618_033_988_749_895).fract();
                (golden - 0.5) * 2.0 * spread
            }
        }
    }
}

/// The panel's frame: a thin grey border with rounded corners.
fn frame() -> String {
    format!(
        "<rect class=\"frame\" x=\"0.5\" y=\"0.5\" width=\"{}\" height=\"{}\" rx=\"6\" \
         fill=\"#ffffff\" stroke=\"{FRAME}\"/>\n",
        WIDTH - 1.0,
        HEIGHT - 1.0
    )
}

/// The shared y axis: grid lines at the ticks across the plot, tick marks and labels left of
/// the axis line at `left`, and the rotated `label`.
fn y_axis(ticks: &Ticks, y: &Scale, left: f64, label: &str) -> String {
    let mut out = String::new();
    let mut labels = format!("<g font-size=\"{SMALL}\" fill=\"{AXIS}\">\n");
    for &v in &ticks.values {
        let py = y.map(v);
        out += &line((left, py), (RIGHT, py), GRID, "");
        out += &line((left - 4.0, py), (left, py), AXIS, "");
        labels += &text(left - 7.0, py + 3.5, "end", "", &ticks.label(v));
    }
    out += &line((left, TOP), (left, BOTTOM), AXIS, "");
    let chars = ((BOTTOM - TOP) / (CHAR_WIDTH * LABEL_FONT / 12.0)) as usize;
    let name = format!("{BOLD} font-size=\"{LABEL_FONT}\"");
    let middle = (TOP + BOTTOM) / 2.0;
    out += &rotated_text(
        15.0,
        middle,
        -90.0,
        "middle",
        &name,
        &truncate(label, chars),
    );
    out + &labels + "</g>\n"
}

/// The colour of a point with shade `t`: light blue at 0 to dark blue at 1, or the plain
/// colour without a shade.
fn shade_colour(t: Option<f64>) -> String {
    let Some(t) = t else {
        return PLAIN.to_string();
    };
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
    hex((
        mix(LIGHT.0, DARK.0),
        mix(LIGHT.1, DARK.1),
        mix(LIGHT.2, DARK.2),
    ))
}

/// `name value`, or just `value` when there is no name.
fn named(name: &str, value: &str) -> String {
    match name {
        "" => value.to_string(),
        _ => format!("{} {value}", truncate(name, MAX_TIP_NAME)),
    }
}

/// One circle per point in the given order (later points on top), each with a tooltip of its
/// x and y, categorical points spread sideways around their category.
fn dots(points: &[Point], x: &XAxis, y: &Scale, (x_name, y_name): (&str, &str)) -> String {
    let mut out = "<g class=\"points\" fill-opacity=\"0.85\" stroke=\"#ffffff\" \
                   stroke-width=\"0.6\">\n"
        .to_string();
    // Points drawn so far per category, for the jitter.
    let mut seen = match x {
        XAxis::Numeric(..) => Vec::new(),
        XAxis::Categories { labels, .. } => vec![0; labels.len()],
    };
    for point in points {
        let mut px = x.map(point.x);
        if let Some(k) = category(point.x, seen.len()).map(|i| &mut seen[i]) {
            px += x.jitter(*k);
            *k += 1;
        }
        let tip = format!(
            "{} · {}",
            named(x_name, &x.value(point.x)),
            named(y_name, &format_value(point.y))
        );
        out += &format!(
            "<circle cx=\"{px:.1}\" cy=\"{:.1}\" r=\"{RADIUS}\" fill=\"{}\"><title>{}</title>\
             </circle>\n",
            y.map(point.y),
            shade_colour(point.shade),
            escape(&tip)
        );
    }
    out + "</g>\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Report, Section, render_html};

    fn panel(title: &str, points: &[(f64, f64)]) -> ScatterPanel {
        ScatterPanel {
            title: title.to_string(),
            x_label: title.to_string(),
            log_x: false,
            points: points.to_vec(),
            shade: Vec::new(),
            categories: None,
        }
    }

    /// `n` points along a parabola, x from 1 to 1000 spread evenly over its logarithm.
    fn parabola(title: &str, n: usize) -> ScatterPanel {
        let points: Vec<(f64, f64)> = (0..n)
            .map(|i| {
                let e = 3.0 * i as f64 / n as f64;
                (10f64.powf(e), 0.9 - 0.1 * (e - 1.5).powi(2))
            })
            .collect();
        panel(title, &points)
    }

    /// The value of attribute `name` in the element starting `element`.
    fn attribute<'a>(element: &'a str, name: &str) -> &'a str {
        let start = element.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        &element[start..start + element[start..].find('"').unwrap()]
    }

    /// Every `<svg>…</svg>` in `html`.
    fn charts(html: &str) -> Vec<&str> {
        html.split("<svg")
            .skip(1)
            .map(|rest| &rest[..rest.find("</svg>").unwrap()])
            .collect()
    }

    /// Every point in `chart` as (cx, cy, fill, tooltip).
    fn circles(chart: &str) -> Vec<(f64, f64, &str, &str)> {
        chart
            .split("<circle")
            .skip(1)
            .map(|c| {
                let tip = &c[c.find("<title>").unwrap() + 7..c.find("</title>").unwrap()];
                (
                    attribute(c, "cx").parse().unwrap(),
                    attribute(c, "cy").parse().unwrap(),
                    attribute(c, "fill"),
                    tip,
                )
            })
            .collect()
    }

    /// The contents of every `<text>` in `chart`.
    fn texts(chart: &str) -> Vec<&str> {
        chart
            .split("<text")
            .skip(1)
            .map(|t| &t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()])
            .collect()
    }

    #[test]
    fn one_svg_per_panel_in_a_wrapping_grid() {
        let panels: Vec<ScatterPanel> = (0..5).map(|i| parabola(&format!("p{i}"), 10)).collect();
        let html = scatter("Slices", "objective", &panels);
        assert!(html.starts_with("<div class=\"multiples\">") && html.ends_with("</div>"));
        let drawn = charts(&html);
        assert_eq!(drawn.len(), 5);
        for (i, chart) in drawn.iter().enumerate() {
            assert_eq!(attribute(chart, "width"), "296");
            assert_eq!(attribute(chart, "height"), "220");
            assert_eq!(attribute(chart, "aria-label"), format!("Slices: p{i}"));
            let shown = texts(chart);
            assert!(shown.contains(&format!("p{i}").as_str()) && shown.contains(&"objective"));
        }
        let single = scatter("", "y", &[parabola("history", 3)]);
        assert_eq!(charts(&single).len(), 1);
        assert_eq!(attribute(&single, "aria-label"), "history");
    }

    #[test]
    fn one_circle_per_finite_point() {
        let panels = [
            parabola("a", 60),
            panel("b", &[(1.0, 2.0), (2.0, 3.0), (3.0, 1.0)]),
            panel("c", &[(0.5, 0.5)]),
        ];
        let html = scatter("t", "y", &panels);
        let counts: Vec<usize> = charts(&html).iter().map(|c| circles(c).len()).collect();
        assert_eq!(counts, [60, 3, 1]);
        for chart in charts(&html) {
            for (cx, cy, _, _) in circles(chart) {
                assert!(cx - RADIUS >= 40.0 && cx + RADIUS <= RIGHT, "{cx}");
                assert!(cy - RADIUS >= TOP && cy + RADIUS <= BOTTOM, "{cy}");
            }
        }
        // Tooltips name both axes; later points are drawn on top.
        let b = circles(charts(&html)[1]);
        assert_eq!(b[0].3, "b 1 · y 2");
        assert!(b[0].0 < b[1].0 && b[1].0 < b[2].0);
    }

    #[test]
    fn nan_and_infinite_points_are_skipped() {
        let points = [
            (1.0, 0.5),
            (f64::NAN, 0.6),
            (2.0, f64::NAN),
            (f64::INFINITY, 0.7),
            (3.0, f64::NEG_INFINITY),
            (4.0, 0.8),
        ];
        let mut shaded = panel("mixed", &points);
        shaded.shade = vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
        let html = scatter(
            "t",
            "y",
            &[shaded, panel("broken", &[(f64::NAN, f64::NAN)])],
        );
        let drawn = charts(&html);
        let kept = circles(drawn[0]);
        assert_eq!(kept.len(), 2);
        // The shades stay with their points: the last point's, not the second's.
        assert_eq!(kept[1].2, hex(DARK));
        assert!(!texts(drawn[0]).contains(&"No data"));
        assert!(circles(drawn[1]).is_empty() && texts(drawn[1]).contains(&"No data"));
        assert!(!html.contains("NaN") && !html.contains("inf"), "{html}");
    }

    #[test]
    fn log_x_places_powers_of_ten_evenly() {
        let points = [(1.0, 0.1), (10.0, 0.2), (100.0, 0.3)];
        let mut log = panel("lr", &points);
        log.log_x = true;
        let html = scatter("t", "y", &[log]);
        let xs: Vec<f64> = circles(&html).iter().map(|c| c.0).collect();
        assert!((xs[1] - xs[0] - (xs[2] - xs[1])).abs() < 0.11, "{xs:?}");
        assert!(xs[1] - xs[0] > 50.0, "{xs:?}");
        let shown = texts(&html);
        for tick in ["1", "10", "100"] {
            assert!(shown.contains(&tick), "{tick} missing: {shown:?}");
        }
        // Small values get powers of ten too, and their labels no float noise.
        let mut small = panel("lr", &[(2e-5, 0.1), (0.03, 0.2)]);
        small.log_x = true;
        let shown = scatter("t", "y", &[small]);
        for tick in [
            ">1e-5</text>",
            ">0.0001</text>",
            ">0.001</text>",
            ">0.1</text>",
        ] {
            assert!(shown.contains(tick), "{tick} missing");
        }
        // A point at zero rules out a log axis: the panel falls back to a linear one, where
        // 1 sits next to 0 and far from 100.
        let mut zero = panel("lr", &[(0.0, 0.1), (1.0, 0.2), (100.0, 0.3)]);
        zero.log_x = true;
        let html = scatter("t", "y", &[zero]);
        let xs: Vec<f64> = circles(&html).iter().map(|c| c.0).collect();
        assert!(xs[1] - xs[0] < 5.0 && xs[2] - xs[1] > 100.0, "{xs:?}");
        assert!(!html.contains("NaN") && !html.contains("inf"));
    }

    #[test]
    fn categorical_ticks_show_the_labels() {
        let mut activation = panel("activation", &[]);
        activation.categories = Some(vec!["relu".into(), "gelu".into(), "tanh".into()]);
        activation.points = (0..30).map(|i| (f64::from(i % 3), f64::from(i))).collect();
        // Not the index of any category: skipped.
        activation.points.extend([(3.0, 1.0), (-1.0, 1.0)]);
        let html = scatter("t", "y", &[activation.clone()]);
        let shown = texts(&html);
        for label in ["relu", "gelu", "tanh"] {
            assert!(shown.contains(&label), "{label} missing: {shown:?}");
        }
        // The x tick labels are the categories, centred in turn under the plot.
        let under: Vec<&str> = html
            .split("<text")
            .skip(1)
            .filter(|t| attribute(t, "y") == format!("{:.1}", BOTTOM + 15.0))
            .map(|t| &t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()])
            .collect();
        assert_eq!(under, ["relu", "gelu", "tanh"]);
        let dots = circles(&html);
        assert_eq!(dots.len(), 30);
        assert_eq!(dots[1].3, "activation gelu · y 1");
        // Each category's points spread around its own slot, each at its own x.
        let slot = |c: usize| -> Vec<f64> { dots.iter().skip(c).step_by(3).map(|d| d.0).collect() };
        let (relu, gelu) = (slot(0), slot(1));
        let mut unique = relu.clone();
        unique.sort_by(f64::total_cmp);
        unique.dedup();
        assert_eq!(unique.len(), 10, "{relu:?}");
        let spread = |xs: &[f64]| extent(xs.iter().copied()).unwrap();
        let (relu, gelu) = (spread(&relu), spread(&gelu));
        assert!(relu.1 < gelu.0, "{relu:?} overlaps {gelu:?}");
        assert!(relu.1 - relu.0 > 10.0 && relu.1 - relu.0 <= 2.0 * MAX_JITTER);
        // The same every time.
        assert_eq!(html, scatter("t", "y", &[activation.clone()]));
        // Many long categories are cut short or thinned out, never run into each other.
        activation.categories = Some((0..20).map(|i| format!("category number {i}")).collect());
        let many = scatter("t", "y", &[activation]);
        let labels: Vec<&str> = texts(&many)
            .into_iter()
            .filter(|t| t.starts_with("cat"))
            .collect();
        assert!(!labels.is_empty() && labels.len() < 20, "{labels:?}");
        assert!(labels.iter().all(|l| l.chars().count() <= MIN_LABEL + 4));
    }

    #[test]
    fn panels_share_one_y_axis() {
        let html = scatter(
            "t",
            "y",
            &[panel("low", &[(0.0, 0.0)]), panel("high", &[(0.0, 10.0)])],
        );
        let drawn = charts(&html);
        let (low, high) = (circles(drawn[0])[0].1, circles(drawn[1])[0].1);
        assert!(low - high > 100.0, "{low} {high}");
        for chart in drawn {
            assert!(texts(chart).contains(&"0") && texts(chart).contains(&"10"));
        }
    }

    #[test]
    fn shades_run_from_light_to_dark_blue() {
        let mut shaded = panel("s", &[(0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (3.0, 3.0)]);
        shaded.shade = vec![0.0, 1.0, f64::NAN, 7.0];
        let fills: Vec<String> = circles(&scatter("t", "y", &[shaded]))
            .iter()
            .map(|c| c.2.to_string())
            .collect();
        assert_eq!(fills, [hex(LIGHT), hex(DARK), PLAIN.to_string(), hex(DARK)]);
        let middle = shade_colour(Some(0.5));
        assert!(middle != hex(LIGHT) && middle != hex(DARK));
        let plain = scatter("t", "y", &[panel("p", &[(0.0, 0.0), (1.0, 1.0)])]);
        assert!(circles(&plain).iter().all(|c| c.2 == PLAIN));
    }

    #[test]
    fn hostile_text_is_escaped() {
        const EVIL: &str = "<script>alert('x')</script>";
        let mut evil = panel(EVIL, &[(0.0, 1.0), (1.0, 2.0)]);
        evil.categories = Some(vec![EVIL.to_string(), EVIL.to_string()]);
        let html = scatter(EVIL, EVIL, &[evil, panel(EVIL, &[])]);
        assert!(
            !html.contains("<script") && !html.contains("alert('x')"),
            "{html}"
        );
        // Per panel: the section's and the panel's title in the aria-label, the title and the
        // x label; the y label, category labels and tooltips are cut short.
        let escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;";
        assert_eq!(html.matches(escaped).count(), 8, "{html}");
        assert!(html.matches("&lt;script&gt;alert(&#39;x&#39;)").count() >= 14);
    }

    #[test]
    fn bad_input_draws_no_data_on_a_complete_page() {
        let none = scatter("t", "y", &[]);
        assert!(none.contains("No data") && !none.contains("<svg"));
        let mut empty_categories = panel("c", &[(0.0, 1.0)]);
        empty_categories.categories = Some(Vec::new());
        let mut extreme = panel("x", &[(5e-324, 1.0), (f64::MAX, -f64::MAX)]);
        extreme.log_x = true;
        let broken = vec![
            panel("empty", &[]),
            panel("nan", &[(f64::NAN, 1.0), (1.0, f64::INFINITY)]),
            panel("flat", &[(2.0, 2.0), (2.0, 2.0)]),
            empty_categories,
            extreme,
        ];
        let html = scatter("t", "y", &broken);
        let drawn = charts(&html);
        assert_eq!(drawn.len(), 5);
        let no_data: Vec<bool> = drawn
            .iter()
            .map(|c| texts(c).contains(&"No data"))
            .collect();
        assert_eq!(no_data, [true, true, false, true, false]);
        assert_eq!(circles(drawn[2]).len(), 2);
        assert_eq!(circles(drawn[4]).len(), 2);
        assert!(!html.contains("NaN") && !html.contains("inf"), "{html}");

        let report = Report {
            sections: vec![
                Section::Scatter {
                    title: "Broken".to_string(),
                    y_label: "objective".to_string(),
                    panels: broken,
                },
                Section::Scatter {
                    title: "Empty".to_string(),
                    y_label: "objective".to_string(),
                    panels: Vec::new(),
                },
            ],
            ..Report::default()
        };
        let page = render_html(&report);
        assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
        assert_eq!(page.matches("<section>").count(), 2);
        assert_eq!(page.matches("<svg").count(), 5);
        assert_eq!(page.matches("</svg>").count(), 5);
        assert!(page.contains("<p class=\"empty\">No data.</p>"));
    }
}
