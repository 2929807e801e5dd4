//! Waterfalls of one prediction's attributions (shap's waterfall plot): from the expected output
//! at the bottom, one arrow per feature moving the output up (red, to the right) or down (blue,
//! to the left), each starting where the one below it ended, up to the prediction at the top.

use super::{
    AXIS, SHAP_BLUE, SHAP_RED, Scale, extent, hex, line, no_data, svg, text, text_width, truncate,
    x_axis,
};
use crate::html::escape;
use crate::ticks::{Ticks, format_value};

/// Width of the whole chart.
const WIDTH: f64 = 760.0;
/// Room on either side of the plot for a value written beside an arrow.
const VALUE_ROOM: f64 = 60.0;
/// Right edge of the plot area.
const RIGHT: f64 = WIDTH - VALUE_ROOM;
/// Top of the f(x) row, above the arrows.
const TOP: f64 = 8.0;
/// Height of one row: an arrow, the f(x) label or the E[f(x)] label.
const ROW: f64 = 26.0;
/// Thickness of an arrow.
const BAR: f64 = 18.0;
/// Length of an arrow's head; a shorter arrow is all head.
const HEAD: f64 = 6.0;
/// Most rows of arrows: past this, the smallest contributions are folded into one.
const MAX_ROWS: usize = 12;
/// Longest row label drawn, in characters.
const MAX_LABEL: usize = 36;
/// Longest row label in an arrow's tooltip, in characters.
const MAX_TIP_LABEL: usize = 80;
/// Colour of the connecting lines, of a value that is not a number and of the note.
const MUTED: &str = "#8a919e";
/// Extra attributes of the dashed lines that connect the arrows and mark E[f(x)] and f(x).
const DASHED: &str = " stroke-dasharray=\"3 3\"";

/// One row of the waterfall: a contribution and where it moves the output.
#[derive(Debug)]
struct Step {
    /// The row's label.
    label: String,
    /// The contribution.
    value: f64,
    /// The output before this contribution, where its arrow starts.
    start: f64,
    /// The output after it, where its arrow ends; `None`, and no arrow, when the contribution
    /// is NaN or infinite (or the output would be).
    end: Option<f64>,
}

/// The chart: the f(x) row, one row per step, the E[f(x)] row and the output axis. Without
/// contributions or a finite `base` there is nothing to draw.
pub(crate) fn waterfall(
    title: &str,
    value_label: &str,
    (base, prediction): (f64, f64),
    contributions: &[(String, f64)],
) -> String {
    if contributions.is_empty() || !base.is_finite() {
        return no_data();
    }
    let (steps, total) = steps(base, contributions);
    // Where f(x) is marked: at the prediction, or where the arrows end when it is not a number.
    let shown = if prediction.is_finite() {
        prediction
    } else {
        total
    };
    let outputs = steps.iter().flat_map(|s| [Some(s.start), s.end]).flatten();
    let (lo, hi) = extent(outputs.chain([base, shown])).unwrap_or((base, base));
    let ticks = Ticks::covering(lo, hi, 6);
    let labels: Vec<String> = steps
        .iter()
        .map(|s| truncate(&s.label, MAX_LABEL))
        .collect();
    let label_width = labels.iter().map(|l| text_width(l)).fold(40.0, f64::max) + 12.0;
    let x = Scale::new(&ticks, (label_width + VALUE_ROOM, RIGHT));
    let bottom = TOP + (steps.len() + 2) as f64 * ROW;

    let mut body = x_axis(&ticks, &x, (TOP, bottom), value_label);
    // f(x) on the top row, its line down through the top arrow's end; E[f(x)] on the bottom
    // row, its line from the bottom arrow's start down to the axis.
    let last = steps.len() - 1;
    let fx = format!("f(x) = {}", format_value(prediction));
    body += &marker(x.map(shown), (TOP, bar_top(0) + BAR), TOP + ROW / 2.0, &fx);
    let expected = format!("E[f(x)] = {}", format_value(base));
    let base_row = bottom - ROW / 2.0;
    body += &marker(x.map(base), (bar_top(last), bottom), base_row, &expected);
    for (r, step) in steps.iter().enumerate().take(last) {
        let px = x.map(step.start);
        let attributes = format!("{DASHED} class=\"link\"");
        body += &line(
            (px, bar_top(r) + BAR),
            (px, bar_top(r + 1)),
            MUTED,
            &attributes,
        );
    }
    for (r, (step, label)) in steps.iter().zip(&labels).enumerate() {
        let middle = bar_top(r) + BAR / 2.0 + 4.0;
        body += &text(label_width - 6.0, middle, "end", "", label);
        body += &arrow(step, &x, bar_top(r));
    }
    let mut height = bottom + 48.0;
    // Rounding in the caller's sums is no reason for a note.
    let scale = steps
        .iter()
        .filter(|s| s.end.is_some())
        .map(|s| s.value.abs())
        .fold(base.abs().max(1.0), f64::max);
    if prediction.is_finite() && (total - prediction).abs() > 1e-6 * scale {
        let note = format!(
            "The contributions add up to {}, not to f(x).",
            format_value(total)
        );
        let attributes = format!(" fill=\"{MUTED}\" class=\"note\"");
        body += &text(x.range.0, bottom + 62.0, "start", &attributes, &note);
        height += 20.0;
    }
    svg(WIDTH, height, title, &body)
}

/// The rows in display order, largest contribution first and, when there are more than
/// [`MAX_ROWS`], the smallest folded into one "N other features" row at the bottom; each row
/// starts where the one below it ends, the bottom one at `base`. Also returns where the top
/// row ends: `base` plus every finite contribution.
fn steps(base: f64, contributions: &[(String, f64)]) -> (Vec<Step>, f64) {
    let rows: Vec<(String, f64)> = if contributions.len() <= MAX_ROWS {
        contributions.to_vec()
    } else {
        let (shown, rest) = contributions.split_at(MAX_ROWS - 1);
        let folded = rest.iter().map(|c| c.1).filter(|v| v.is_finite()).sum();
        let other = (format!("{} other features", rest.len()), folded);
        shown.iter().cloned().chain([other]).collect()
    };
    let mut at = base;
    let mut steps: Vec<Step> = rows
        .into_iter()
        .rev()
        .map(|(label, value)| {
            let start = at;
            let end = Some(start + value).filter(|end| end.is_finite());
            at = end.unwrap_or(at);
            Step {
                label,
                value,
                start,
                end,
            }
        })
        .collect();
    steps.reverse();
    (steps, at)
}

/// The top edge of the arrow on row `r` (0 for the top arrow).
fn bar_top(r: usize) -> f64 {
    TOP + (r + 1) as f64 * ROW + (ROW - BAR) / 2.0
}

/// A dashed vertical line at `px` from `y0` to `y1` and `label` beside it, on the side with
/// more room, its middle at `y`.
fn marker(px: f64, (y0, y1): (f64, f64), y: f64, label: &str) -> String {
    let mut out = line((px, y0), (px, y1), AXIS, DASHED);
    let (anchor, dx) = if px < WIDTH / 2.0 {
        ("start", 6.0)
    } else {
        ("end", -6.0)
    };
    out += &text(px + dx, y + 4.0, anchor, "", label);
    out
}

/// The contribution `v` as written: with a "+" when positive.
fn signed(v: f64) -> String {
    let shown = format_value(v);
    if v > 0.0 && v.is_finite() {
        format!("+{shown}")
    } else {
        shown
    }
}

/// One step's arrow, its top edge at `y`, with the contribution written on it in white where
/// it fits, or else beside its head; under a tooltip with the label and the outputs before
/// and after. A step without an arrow just has its value written in grey.
fn arrow(step: &Step, x: &Scale, y: f64) -> String {
    let shown = signed(step.value);
    let label = truncate(&step.label, MAX_TIP_LABEL);
    let start = x.map(step.start);
    let baseline = y + BAR / 2.0 + 4.0;
    let Some(end_value) = step.end else {
        let tip = escape(&format!("{label}: {shown}"));
        let attributes = format!(" fill=\"{MUTED}\"");
        let value = text(start + 4.0, baseline, "start", &attributes, &shown);
        return format!("<g class=\"step\"><title>{tip}</title>\n{value}</g>\n");
    };
    let tip = format!(
        "{label}: {shown} ({} → {})",
        format_value(step.start),
        format_value(end_value)
    );
    let end = x.map(end_value);
    let (class, fill, direction) = if step.value < 0.0 {
        ("neg", hex(SHAP_BLUE), -1.0)
    } else {
        ("pos", hex(SHAP_RED), 1.0)
    };
    let length = (end - start).abs();
    let neck = end - direction * HEAD.min(length);
    let (top, middle, bottom) = (y, y + BAR / 2.0, y + BAR);
    let mut out = format!(
        "<g class=\"step\"><title>{}</title>\n<polygon class=\"{class}\" \
         points=\"{start:.1},{top:.1} {neck:.1},{top:.1} {end:.1},{middle:.1} {neck:.1},{bottom:.1} \
         {start:.1},{bottom:.1}\" fill=\"{fill}\"/>\n",
        escape(&tip)
    );
    out += &if text_width(&shown) + 8.0 <= (neck - start).abs() {
        let attributes = " fill=\"#ffffff\" font-weight=\"600\"";
        text((start + neck) / 2.0, baseline, "middle", attributes, &shown)
    } else if direction > 0.0 {
        text(
            end + 4.0,
            baseline,
            "start",
            &format!(" fill=\"{fill}\""),
            &shown,
        )
    } else {
        text(
            end - 4.0,
            baseline,
            "end",
            &format!(" fill=\"{fill}\""),
            &shown,
        )
    };
    out + "</g>\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Report, Section, render_html};

    fn contributions(values: &[f64]) -> Vec<(String, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (format!("feature_{i}"), v))
            .collect()
    }

    /// Every arrow in `chart` as (class, start, end, top, fill), top to bottom.
    fn arrows(chart: &str) -> Vec<(&str, f64, f64, f64, &str)> {
        chart
            .split("<polygon class=\"")
            .skip(1)
            .map(|p| {
                let class = &p[..p.find('"').unwrap()];
                let points = &p[p.find("points=\"").unwrap() + 8..];
                let points: Vec<(f64, f64)> = points[..points.find('"').unwrap()]
                    .split(' ')
                    .map(|xy| {
                        let (x, y) = xy.split_once(',').unwrap();
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect();
                let fill = &p[p.find("fill=\"").unwrap() + 6..];
                let fill = &fill[..fill.find('"').unwrap()];
                (class, points[0].0, points[2].0, points[0].1, fill)
            })
            .collect()
    }

    /// The x of the dashed marker line just before the text `label`.
    fn marker_x(chart: &str, label: &str) -> f64 {
        let before = &chart[..chart.find(&format!(">{label}</text>")).unwrap()];
        let line = &before[before.rfind("<line").unwrap()..];
        let x1 = &line[line.find(" x1=\"").unwrap() + 5..];
        x1[..x1.find('"').unwrap()].parse().unwrap()
    }

    #[test]
    fn steps_chain_from_base_to_base_plus_every_contribution() {
        let values = [2.0, -1.0, 0.5, -0.25, 0.1];
        let (steps, total) = steps(0.5, &contributions(&values));
        assert_eq!(steps.len(), 5);
        assert_eq!(steps[4].start, 0.5, "the bottom step starts at the base");
        for pair in steps.windows(2) {
            assert_eq!(pair[0].start, pair[1].end.unwrap(), "{pair:?}");
        }
        assert!((steps[0].end.unwrap() - (0.5 + values.iter().sum::<f64>())).abs() < 1e-12);
        assert_eq!(steps[0].end, Some(total));
        let labels: Vec<&str> = steps.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "feature_0",
                "feature_1",
                "feature_2",
                "feature_3",
                "feature_4"
            ]
        );
    }

    #[test]
    fn arrows_chain_on_the_page_from_expected_output_to_prediction() {
        let values = [2.0, -1.0, 0.5, -0.25];
        let prediction = 0.5 + 1.25;
        let chart = waterfall("w", "output", (0.5, prediction), &contributions(&values));
        let drawn = arrows(&chart);
        assert_eq!(drawn.len(), 4);
        for pair in drawn.windows(2) {
            assert_eq!(
                pair[0].1, pair[1].2,
                "each arrow starts where the one below ends"
            );
            assert!(pair[0].3 < pair[1].3, "drawn top to bottom");
        }
        // Pixels per unit, the same for every arrow.
        let scale: Vec<f64> = drawn
            .iter()
            .zip(values)
            .map(|(a, v)| (a.2 - a.1) / v)
            .collect();
        assert!(
            scale.iter().all(|s| (s / scale[0] - 1.0).abs() < 0.005),
            "{scale:?}"
        );
        let (top, bottom) = (drawn[0], drawn[3]);
        assert!((top.2 - bottom.1 - scale[0] * 1.25).abs() < 0.2);
        assert_eq!(bottom.1, marker_x(&chart, "E[f(x)] = 0.500"));
        assert_eq!(top.2, marker_x(&chart, "f(x) = 1.75"));
        assert_eq!(chart.matches("class=\"link\"").count(), 3);
        assert!(
            !chart.contains("class=\"note\""),
            "the contributions add up"
        );
        assert!(chart.contains("<title>feature_1: -1 (0.750 → -0.250)</title>"));
    }

    #[test]
    fn more_than_twelve_contributions_fold_into_other_features() {
        let values: Vec<f64> = (0..15).map(|i| 0.1 * (15 - i) as f64).collect();
        let (steps, total) = steps(0.0, &contributions(&values));
        assert_eq!(steps.len(), MAX_ROWS);
        assert_eq!(steps[MAX_ROWS - 1].label, "4 other features");
        assert!((steps[MAX_ROWS - 1].value - (0.4 + 0.3 + 0.2 + 0.1)).abs() < 1e-12);
        assert!((total - values.iter().sum::<f64>()).abs() < 1e-12);
        assert_eq!(steps[MAX_ROWS - 2].label, "feature_10");

        let chart = waterfall("w", "v", (0.0, total), &contributions(&values));
        assert_eq!(arrows(&chart).len(), MAX_ROWS);
        assert!(chart.contains(">4 other features</text>"));
        assert!(!chart.contains(">feature_11</text>"));

        let (twelve, _) = super::steps(0.0, &contributions(&values[..12]));
        assert!(twelve.iter().all(|s| !s.label.contains("other")));
        let (thirteen, _) = super::steps(0.0, &contributions(&values[..13]));
        assert_eq!(thirteen[MAX_ROWS - 1].label, "2 other features");
    }

    #[test]
    fn positive_arrows_are_red_and_negative_ones_blue() {
        let values = [3.0, -2.0, 0.004, -0.003];
        let chart = waterfall("w", "v", (0.0, 1.001), &contributions(&values));
        let drawn = arrows(&chart);
        let red = hex(SHAP_RED);
        let blue = hex(SHAP_BLUE);
        let colours: Vec<(&str, &str)> = drawn.iter().map(|a| (a.0, a.4)).collect();
        assert_eq!(
            colours,
            [
                ("pos", &red[..]),
                ("neg", &blue),
                ("pos", &red),
                ("neg", &blue)
            ]
        );
        assert!(
            drawn[0].2 > drawn[0].1 && drawn[1].2 < drawn[1].1,
            "arrows point their way"
        );
        // Long arrows carry their value in white; short ones have it beside their head.
        assert!(chart.contains("font-weight=\"600\">+3</text>"));
        assert!(chart.contains("font-weight=\"600\">-2</text>"));
        assert!(chart.contains(&format!("fill=\"{red}\">+0.00400</text>")));
        assert!(chart.contains(&format!("fill=\"{blue}\">-0.00300</text>")));
    }

    #[test]
    fn labels_name_the_expected_output_the_prediction_and_each_feature() {
        let rows = vec![
            ("area_mean = 1001".to_string(), 1.5),
            (
                "a feature with a very long name indeed, too long".to_string(),
                -0.5,
            ),
        ];
        let chart = waterfall("w", "log-odds", (-0.25, 0.75), &rows);
        for label in [
            ">E[f(x)] = -0.250</text>",
            ">f(x) = 0.750</text>",
            ">area_mean = 1001</text>",
            ">a feature with a very long name ind…</text>",
            ">log-odds</text>",
        ] {
            assert!(chart.contains(label), "{label} missing");
        }
    }

    #[test]
    fn bad_input_does_not_panic() {
        assert!(waterfall("w", "v", (0.0, 1.0), &[]).contains("No data"));
        let rows = contributions(&[1.0]);
        assert!(waterfall("w", "v", (f64::NAN, 1.0), &rows).contains("No data"));

        // A NaN contribution keeps its row and label but has no arrow; the chain skips it.
        let rows = contributions(&[1.0, f64::NAN, -0.5, f64::INFINITY]);
        let chart = waterfall("w", "v", (0.0, 0.5), &rows);
        assert_eq!(arrows(&chart).len(), 2);
        assert!(chart.contains(">NaN</text>") && chart.contains(">inf</text>"));
        assert!(chart.contains(">feature_1</text>"));
        assert!(!chart.contains("class=\"note\""));
        let drawn = arrows(&chart);
        assert_eq!(drawn[0].1, drawn[1].2);

        // A prediction that is not a number is marked where the arrows end.
        let chart = waterfall("w", "v", (0.0, f64::NAN), &contributions(&[1.0, 2.0]));
        assert!(chart.contains(">f(x) = NaN</text>"));
        assert_eq!(arrows(&chart)[0].2, marker_x(&chart, "f(x) = NaN"));

        // Contributions that do not add up to the prediction are drawn as given, with a note.
        let chart = waterfall("w", "v", (0.0, 5.0), &contributions(&[1.0, 2.0]));
        assert!(chart.contains(">The contributions add up to 3, not to f(x).</text>"));

        // Outputs beyond f64 end the chain.
        let rows = contributions(&[f64::MAX, f64::MAX, 1.0]);
        let chart = waterfall("w", "v", (0.0, 1.0), &rows);
        assert!(chart.starts_with("<svg") && chart.ends_with("</svg>"));

        let zero = waterfall("w", "v", (0.0, 0.0), &contributions(&[0.0, 0.0]));
        assert_eq!(arrows(&zero).len(), 2);
        assert!(!zero.contains("NaN") && !zero.contains("inf"), "{zero}");

        let report = Report {
            sections: vec![
                Section::Waterfall {
                    title: "Empty".to_string(),
                    base: 0.0,
                    prediction: 0.0,
                    value_label: "v".to_string(),
                    contributions: Vec::new(),
                },
                Section::Waterfall {
                    title: "Fine".to_string(),
                    base: 0.1,
                    prediction: f64::INFINITY,
                    value_label: "v".to_string(),
                    contributions: rows,
                },
            ],
            ..Report::default()
        };
        let page = render_html(&report);
        assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
        assert_eq!(page.matches("<svg").count(), 1);
        assert_eq!(page.matches("</svg>").count(), 1);
        assert!(page.contains("<p class=\"empty\">No data.</p>"));
    }

    #[test]
    fn hostile_text_is_escaped() {
        const EVIL: &str = "<script>alert('x')</script>";
        let rows = vec![(EVIL.to_string(), 1.0), (EVIL.to_string(), f64::NAN)];
        let chart = waterfall(EVIL, EVIL, (0.0, 1.0), &rows);
        assert!(!chart.contains("<script") && !chart.contains("alert('x')"));
        // aria-label, axis label, both row labels and both tooltips.
        let escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;";
        assert_eq!(chart.matches(escaped).count(), 6, "{chart}");
    }
}
