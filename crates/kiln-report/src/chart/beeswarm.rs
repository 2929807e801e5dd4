//! Beeswarms of attributions (shap's summary plot): one lane per feature, one dot per explained
//! row at its attribution, coloured by the feature's value, dots that would overlap piled up
//! across the lane.

use std::collections::HashMap;

use super::{
    AXIS, BOLD, GRID, SHAP_BLUE, SHAP_RED, Scale, extent, hex, line, no_data, svg, text,
    text_width, truncate, x_axis,
};
use crate::BeeswarmFeature;
use crate::html::escape;
use crate::ticks::{Ticks, format_value};

/// Width of the whole chart.
const WIDTH: f64 = 760.0;
/// Right edge of the plot area (room for the last tick label).
const RIGHT: f64 = WIDTH - 28.0;
/// Top of the first lane.
const TOP: f64 = 8.0;
/// Height of one feature's lane.
const LANE: f64 = 32.0;
/// Radius of a dot.
const RADIUS: f64 = 2.5;
/// Dots whose centres fall in the same bin of this many pixels are piled up.
const BIN: f64 = 3.0;
/// Vertical distance between dots piled up in one bin, unless more are piled than fit.
const STEP: f64 = 2.2;
/// Farthest a dot's centre moves from its lane's middle, so that dots stay in their lane.
const SPREAD: f64 = LANE / 2.0 - RADIUS - 2.0;
/// Most dots drawn per feature.
const MAX_POINTS: usize = 1000;
/// Longest feature name drawn, in characters.
const MAX_LABEL: usize = 28;
/// Longest feature name in a lane's tooltip, in characters.
const MAX_TIP_NAME: usize = 80;
/// Purple, halfway along the colour scale from [`SHAP_BLUE`] to [`SHAP_RED`].
const MIDDLE: (u8, u8, u8) = (140, 40, 200);
/// Dots whose feature value is unknown.
const UNKNOWN: &str = "#9aa0a8";
/// Baseline of the colour legend below the plot's bottom edge, under the axis label.
const LEGEND: f64 = 64.0;
/// Width of the legend's colour bar.
const LEGEND_BAR: f64 = 120.0;
/// Number of colour steps in the legend's bar.
const LEGEND_STEPS: usize = 24;
/// Colour of "No data", with a white halo that keeps it readable over the lines behind it.
const MUTED: &str =
    " fill=\"#8a919e\" stroke=\"#ffffff\" stroke-width=\"4\" paint-order=\"stroke\"";

/// One lane per feature, top to bottom in the given order, over an attribution axis shared by
/// all lanes with a zero line, and the colour legend underneath.
pub(crate) fn beeswarm(title: &str, value_label: &str, features: &[BeeswarmFeature]) -> String {
    if features.is_empty() {
        return no_data();
    }
    let labels: Vec<String> = features
        .iter()
        .map(|f| truncate(&f.name, MAX_LABEL))
        .collect();
    let label_width = labels.iter().map(|l| text_width(l)).fold(40.0, f64::max) + 12.0;
    let dots: Vec<Vec<(f64, Option<f64>)>> = features.iter().map(dots).collect();
    let ticks = axis_ticks(dots.iter().flatten().map(|d| d.0));
    let x = Scale::new(&ticks, (label_width + 10.0, RIGHT));
    let bottom = TOP + features.len() as f64 * LANE;

    let mut body = x_axis(&ticks, &x, (TOP, bottom), value_label);
    let zero = x.map(0.0);
    body += &line((zero, TOP), (zero, bottom), AXIS, " stroke-width=\"1.5\"");
    for (i, ((feature, label), dots)) in features.iter().zip(&labels).zip(&dots).enumerate() {
        let middle = TOP + (i as f64 + 0.5) * LANE;
        body += &line((x.range.0, middle), (x.range.1, middle), GRID, "");
        body += &text(label_width - 6.0, middle + 4.0, "end", "", label);
        body += &lane(feature, dots, &x, middle);
    }
    if dots.iter().all(Vec::is_empty) {
        let middle = ((x.range.0 + x.range.1) / 2.0, (TOP + bottom) / 2.0 + 4.0);
        body += &text(middle.0, middle.1, "middle", MUTED, "No data");
    }
    let unknown = dots.iter().flatten().any(|d| d.1.is_none());
    body += &legend(&x, bottom + LEGEND, unknown);
    svg(WIDTH, bottom + LEGEND + 12.0, title, &body)
}

/// The dots of `feature` as (attribution, colour position): one per row whose attribution is
/// finite, evenly thinned out to at most [`MAX_POINTS`]. A colour position is clamped to 0..1,
/// or `None` where it is missing, NaN or infinite.
fn dots(feature: &BeeswarmFeature) -> Vec<(f64, Option<f64>)> {
    let finite: Vec<(f64, Option<f64>)> = feature
        .values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .map(|(i, &v)| {
            let colour = feature.colour.get(i).copied().flatten();
            (
                v,
                colour.filter(|c| c.is_finite()).map(|c| c.clamp(0.0, 1.0)),
            )
        })
        .collect();
    if finite.len() <= MAX_POINTS {
        return finite;
    }
    (0..MAX_POINTS)
        .map(|k| finite[k * finite.len() / MAX_POINTS])
        .collect()
}

/// Ticks for the attribution axis: covering every value and zero, and symmetric about zero
/// when the values reach about as far on both sides.
fn axis_ticks(values: impl Iterator<Item = f64>) -> Ticks {
    let (lo, hi) = extent(values).unwrap_or((0.0, 0.0));
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let reach = hi.max(-lo);
    if hi.min(-lo) >= reach / 2.0 {
        return Ticks::covering(-reach, reach, 6);
    }
    Ticks::covering(lo, hi, 6)
}

/// The colour of a dot whose feature value sits at `t` in 0..1: blue, through purple, to red;
/// grey when the value is unknown.
fn dot_colour(t: Option<f64>) -> String {
    let Some(t) = t else {
        return UNKNOWN.to_string();
    };
    let (from, to, t) = if t < 0.5 {
        (SHAP_BLUE, MIDDLE, t * 2.0)
    } else {
        (MIDDLE, SHAP_RED, t * 2.0 - 1.0)
    };
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
    hex((mix(from.0, to.0), mix(from.1, to.1), mix(from.2, to.2)))
}

/// The vertical offset from the lane's middle of each dot at pixel `xs`: dots whose centres
/// fall in the same [`BIN`] are piled alternately below and above the first, [`STEP`] apart,
/// or closer where a bin holds more dots than fit within [`SPREAD`].
fn offsets(xs: &[f64]) -> Vec<f64> {
    let bin = |x: f64| (x / BIN).floor() as i64;
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for &x in xs {
        *counts.entry(bin(x)).or_default() += 1;
    }
    let mut placed: HashMap<i64, usize> = HashMap::new();
    xs.iter()
        .map(|&x| {
            let key = bin(x);
            let k = placed.entry(key).or_default();
            // 0, 1, -1, 2, -2, …
            let layer = k.div_ceil(2) as f64;
            let layer = if *k % 2 == 1 { layer } else { -layer };
            *k += 1;
            let highest = counts[&key] / 2;
            if highest == 0 {
                return 0.0;
            }
            layer * STEP.min(SPREAD / highest as f64)
        })
        .collect()
}

/// One feature's dots around its lane's `middle`, under a tooltip with the feature's name,
/// its mean |attribution| and its number of rows.
fn lane(feature: &BeeswarmFeature, dots: &[(f64, Option<f64>)], x: &Scale, middle: f64) -> String {
    let finite: Vec<f64> = feature
        .values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let mean_abs = finite.iter().map(|v| v.abs()).sum::<f64>() / finite.len().max(1) as f64;
    let thinned = if finite.len() > dots.len() {
        format!(", {} drawn", dots.len())
    } else {
        String::new()
    };
    let tip = format!(
        "{}: mean |value| {}, {} rows{thinned}",
        truncate(&feature.name, MAX_TIP_NAME),
        format_value(mean_abs),
        finite.len()
    );
    let mut out = format!("<g class=\"lane\"><title>{}</title>\n", escape(&tip));
    let xs: Vec<f64> = dots.iter().map(|d| x.map(d.0)).collect();
    for ((&px, dy), &(_, t)) in xs.iter().zip(offsets(&xs)).zip(dots) {
        out += &format!(
            "<circle cx=\"{px:.1}\" cy=\"{:.1}\" r=\"{RADIUS}\" fill=\"{}\"/>\n",
            middle + dy,
            dot_colour(t)
        );
    }
    out + "</g>\n"
}

/// The colour legend centred under the plot, its baseline at `y`: "feature value", "low", a
/// bar of colour steps and "high", then a grey dot for "unknown" when some dot has no value.
fn legend(x: &Scale, y: f64, unknown: bool) -> String {
    const NAME: &str = "feature value";
    // Bold text is wider than the estimate.
    let name_width = text_width(NAME) * 1.1;
    let unknown_width = 2.0 * RADIUS + 6.0 + text_width("unknown");
    let width = name_width
        + 10.0
        + text_width("low")
        + 6.0
        + LEGEND_BAR
        + 6.0
        + text_width("high")
        + if unknown { 20.0 + unknown_width } else { 0.0 };
    let mut px = (x.range.0 + x.range.1 - width) / 2.0;
    let mut out = "<g class=\"legend\">\n".to_string() + &text(px, y, "start", BOLD, NAME);
    px += name_width + 10.0;
    out += &text(px, y, "start", "", "low");
    px += text_width("low") + 6.0;
    let step = LEGEND_BAR / LEGEND_STEPS as f64;
    for i in 0..LEGEND_STEPS {
        let t = (i as f64 + 0.5) / LEGEND_STEPS as f64;
        // A little wider than a step, so that no seams show between steps.
        out += &format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"10\" fill=\"{}\"/>\n",
            px + i as f64 * step,
            y - 9.0,
            step + 0.4,
            dot_colour(Some(t))
        );
    }
    px += LEGEND_BAR + 6.0;
    out += &text(px, y, "start", "", "high");
    if unknown {
        px += text_width("high") + 20.0;
        out += &format!(
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{RADIUS}\" fill=\"{UNKNOWN}\"/>\n",
            px + RADIUS,
            y - 4.0
        );
        out += &text(px + 2.0 * RADIUS + 6.0, y, "start", "", "unknown");
    }
    out + "</g>\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Report, Section, render_html};

    fn feature(name: &str, values: &[f64], colour: &[Option<f64>]) -> BeeswarmFeature {
        BeeswarmFeature {
            name: name.to_string(),
            values: values.to_vec(),
            colour: colour.to_vec(),
        }
    }

    /// `n` attributions spread over -1..2 with colours rising along them.
    fn spread(name: &str, n: usize) -> BeeswarmFeature {
        let values: Vec<f64> = (0..n).map(|i| -1.0 + 3.0 * i as f64 / n as f64).collect();
        let colour = (0..n).map(|i| Some(i as f64 / n as f64)).collect();
        BeeswarmFeature {
            name: name.to_string(),
            values,
            colour,
        }
    }

    /// The value of attribute `name` in the element starting `element`.
    fn attribute<'a>(element: &'a str, name: &str) -> &'a str {
        let start = element.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        &element[start..start + element[start..].find('"').unwrap()]
    }

    /// The contents of every lane in `chart`.
    fn lanes(chart: &str) -> Vec<&str> {
        chart
            .split("<g class=\"lane\">")
            .skip(1)
            .map(|rest| &rest[..rest.find("</g>").unwrap()])
            .collect()
    }

    /// Every dot in `group` as (cx, cy, fill).
    fn circles(group: &str) -> Vec<(f64, f64, &str)> {
        group
            .split("<circle")
            .skip(1)
            .map(|c| {
                (
                    attribute(c, "cx").parse().unwrap(),
                    attribute(c, "cy").parse().unwrap(),
                    attribute(c, "fill"),
                )
            })
            .collect()
    }

    #[test]
    fn one_dot_per_finite_value_in_its_own_lane() {
        let features = [
            spread("worst radius", 50),
            feature(
                "texture",
                &[0.5, f64::NAN, -0.2, f64::INFINITY, f64::NEG_INFINITY],
                &[Some(0.1); 5],
            ),
            feature("empty", &[], &[]),
        ];
        let chart = beeswarm("shap", "SHAP value", &features);
        let drawn = lanes(&chart);
        assert_eq!(drawn.len(), 3);
        let counts: Vec<usize> = drawn.iter().map(|l| circles(l).len()).collect();
        assert_eq!(counts, [50, 2, 0]);
        for (i, lane) in drawn.iter().enumerate() {
            let (top, bottom) = (TOP + i as f64 * LANE, TOP + (i + 1) as f64 * LANE);
            for (cx, cy, _) in circles(lane) {
                assert!(
                    cy - RADIUS >= top && cy + RADIUS <= bottom,
                    "{cy} not in lane {i}"
                );
                assert!(cx > 100.0 && cx <= RIGHT, "{cx}");
            }
        }
        assert!(drawn[1].contains("<title>texture: mean |value| 0.350, 2 rows</title>"));
        for name in ["worst radius", "texture", "empty", "SHAP value"] {
            assert!(chart.contains(&format!(">{name}</text>")), "{name} missing");
        }
        assert!(!chart.contains("NaN") && !chart.contains("inf"), "{chart}");
        // The texture dots sit at their attributions: 0.5 right of -0.2, both either side of
        // the zero line.
        let texture = circles(drawn[1]);
        let zero = chart
            .split("<line")
            .find(|l| l.contains("stroke-width=\"1.5\""));
        let zero: f64 = attribute(zero.unwrap(), "x1").parse().unwrap();
        assert!(
            texture[0].0 > zero && texture[1].0 < zero,
            "{texture:?} {zero}"
        );
    }

    #[test]
    fn colours_run_from_blue_for_low_to_red_for_high_values() {
        let features = [feature(
            "f",
            &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
            &[
                Some(0.0),
                Some(1.0),
                None,
                Some(f64::NAN),
                Some(0.5),
                Some(7.0),
            ],
        )];
        let chart = beeswarm("t", "v", &features);
        let fills: Vec<&str> = circles(lanes(&chart)[0]).iter().map(|c| c.2).collect();
        let (blue, red, purple) = (hex(SHAP_BLUE), hex(SHAP_RED), hex(MIDDLE));
        assert_eq!(fills, [&blue, &red, UNKNOWN, UNKNOWN, &purple, &red]);
        assert_ne!(dot_colour(Some(0.2)), dot_colour(Some(0.8)));
        // The legend: a bar from blue to red and, since some values are unknown, a grey dot.
        let legend = &chart[chart.find("<g class=\"legend\">").unwrap()..];
        assert_eq!(legend.matches("<rect").count(), LEGEND_STEPS);
        for label in [">feature value</text>", ">low</text>", ">high</text>"] {
            assert!(legend.contains(label), "{label} missing");
        }
        assert!(legend.contains(">unknown</text>") && legend.contains(UNKNOWN));
        // Colours missing at the end of the list are unknown too; with every colour known the
        // legend has no grey dot.
        let short = beeswarm("t", "v", &[feature("f", &[1.0, 2.0], &[Some(0.3)])]);
        assert_eq!(circles(lanes(&short)[0])[1].2, UNKNOWN);
        let known = beeswarm("t", "v", &[feature("f", &[1.0], &[Some(0.3)])]);
        assert!(!known.contains("unknown") && !known.contains(UNKNOWN));
    }

    #[test]
    fn piled_dots_spread_across_the_lane_and_stay_in_it() {
        assert_eq!(offsets(&[10.0, 10.5, 11.0]), [0.0, STEP, -STEP]);
        assert_eq!(offsets(&[10.0, 20.0]), [0.0, 0.0]);
        // A thousand dots in one bin are squeezed to fill the lane, not spill out of it.
        let piled = offsets(&[50.0; 1000]);
        let highest = piled.iter().fold(0.0, |m: f64, v| m.max(v.abs()));
        assert!((highest - SPREAD).abs() < 1e-9, "{highest}");
        let chart = beeswarm("t", "v", &[feature("same", &[0.3; 9], &[])]);
        let dots = circles(lanes(&chart)[0]);
        let mut heights: Vec<f64> = dots.iter().map(|d| d.1).collect();
        heights.dedup();
        assert_eq!(heights.len(), 9, "every dot at its own height");
        assert!(dots.iter().all(|d| d.0 == dots[0].0));
        // The layout is the same every time.
        let features = [spread("a", 300), spread("b", 300)];
        assert_eq!(beeswarm("t", "v", &features), beeswarm("t", "v", &features));
    }

    #[test]
    fn dots_are_capped_per_feature_and_stay_lean() {
        let features: Vec<BeeswarmFeature> =
            (0..10).map(|i| spread(&format!("f{i}"), 5000)).collect();
        let chart = beeswarm("t", "v", &features);
        let drawn = lanes(&chart);
        assert!(drawn.iter().all(|l| circles(l).len() == MAX_POINTS));
        assert!(drawn[0].contains("<title>f0: mean |value| 0.833, 5000 rows, 1000 drawn</title>"));
        // The thinned-out dots still span the whole range: as wide as a thousand dots drawn
        // without thinning, within a pixel.
        let span = |chart: &str| {
            let xs = circles(lanes(chart)[0]).into_iter().map(|c| c.0);
            let (lo, hi) = extent(xs).unwrap();
            hi - lo
        };
        let whole = beeswarm("t", "v", &[spread("f0", MAX_POINTS)]);
        assert_eq!(
            circles(lanes(&whole)[0]).len(),
            MAX_POINTS,
            "as many as the cap"
        );
        assert!((span(&chart) - span(&whole)).abs() < 1.0);
        // About 58 bytes a dot.
        assert!(chart.len() < 700_000, "{} bytes", chart.len());
    }

    #[test]
    fn axis_includes_zero_and_is_symmetric_when_both_sides_reach_far() {
        let ticks = axis_ticks([-0.8, 1.0].into_iter());
        assert_eq!(ticks.lo(), -ticks.hi());
        let skewed = axis_ticks([-0.1, 3.0].into_iter());
        assert_eq!((skewed.lo(), skewed.hi()), (-1.0, 3.0));
        let positive = axis_ticks([2.0, 5.0].into_iter());
        assert_eq!(positive.lo(), 0.0);
        let chart = beeswarm("t", "impact", &[spread("a", 20)]);
        for label in [">-1</text>", ">0</text>", ">2</text>", ">impact</text>"] {
            assert!(chart.contains(label), "{label} missing");
        }
    }

    #[test]
    fn long_names_are_cut_and_hostile_text_escaped() {
        const EVIL: &str = "<script>alert('x')</script>";
        let long = "mean concave points of the worst three nuclei";
        let chart = beeswarm(EVIL, EVIL, &[spread(EVIL, 3), spread(long, 3)]);
        assert!(!chart.contains("<script") && !chart.contains("alert('x')"));
        // aria-label, axis label, name and lane tooltip.
        let escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;";
        assert_eq!(chart.matches(escaped).count(), 4, "{chart}");
        assert!(chart.contains(&format!(">{}…</text>", &long[..MAX_LABEL - 1])));
        assert!(chart.contains(&format!("<title>{long}: ")));
    }

    #[test]
    fn bad_input_draws_no_data_on_a_complete_page() {
        assert!(beeswarm("t", "v", &[]).contains("No data"));
        assert!(!beeswarm("t", "v", &[]).contains("<svg"));
        let broken = [
            feature("nan", &[f64::NAN, f64::INFINITY], &[Some(f64::NAN)]),
            feature("none", &[], &[Some(0.5)]),
        ];
        let chart = beeswarm("t", "v", &broken);
        assert!(chart.contains(">No data</text>") && !chart.contains("<circle"));
        assert!(!chart.contains("NaN") && !chart.contains("inf"), "{chart}");
        let flat = beeswarm("t", "v", &[feature("zero", &[0.0, 0.0], &[])]);
        assert_eq!(circles(lanes(&flat)[0]).len(), 2);

        let report = Report {
            sections: vec![
                Section::Beeswarm {
                    title: "Broken".to_string(),
                    value_label: "SHAP value".to_string(),
                    features: broken.to_vec(),
                },
                Section::Beeswarm {
                    title: "Empty".to_string(),
                    value_label: "SHAP value".to_string(),
                    features: Vec::new(),
                },
                Section::Beeswarm {
                    title: "Fine".to_string(),
                    value_label: "SHAP value".to_string(),
                    features: vec![spread("a", 10)],
                },
            ],
            ..Report::default()
        };
        let page = render_html(&report);
        assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
        assert_eq!(page.matches("<section>").count(), 3);
        assert_eq!(page.matches("<svg").count(), 2);
        assert_eq!(page.matches("</svg>").count(), 2);
        assert!(page.contains("<p class=\"empty\">No data.</p>"));
    }
}
