//! Line charts: one polyline per series on shared axes with round ticks, a legend and an
//! optional dashed vertical marker.

use super::{AXIS, Scale, colour, extent, line, svg, text, text_width, truncate, x_axis, y_axis};
use crate::Series;
use crate::ticks::Ticks;

/// Width of the whole chart.
const WIDTH: f64 = 760.0;
/// Left edge of the plot area (room for the y tick labels and the y axis label).
const LEFT: f64 = 76.0;
/// Right edge of the plot area.
const RIGHT: f64 = WIDTH - 24.0;
/// Top edge of the plot area (room for the marker's label).
const TOP: f64 = 28.0;
/// Bottom edge of the plot area, where the x axis is.
const BOTTOM: f64 = TOP + 260.0;
/// Baseline of the legend's first row, under the x axis label.
const LEGEND_TOP: f64 = BOTTOM + 64.0;
/// Height of one legend row.
const LEGEND_ROW: f64 = 20.0;
/// Series with at most this many points get a dot on each point too.
const MAX_DOTS: usize = 40;
/// Colour of the "No data" text.
const MUTED: &str = " fill=\"#8a919e\"";

/// Draws `series` on shared axes, skipping points with a NaN or infinite coordinate.
pub(crate) fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    marker: Option<&(f64, String)>,
) -> String {
    let points: Vec<Vec<(f64, f64)>> = series.iter().map(|s| finite(&s.points)).collect();
    let marker = marker.filter(|(x, _)| x.is_finite());
    let all = || points.iter().flatten();
    let x_ticks = ticks_for(all().map(|p| p.0).chain(marker.map(|m| m.0)), 6);
    let y_ticks = ticks_for(all().map(|p| p.1), 5);
    let x = Scale::new(&x_ticks, (LEFT, RIGHT));
    let y = Scale::new(&y_ticks, (BOTTOM, TOP));

    let mut body = y_axis(&y_ticks, &y, (LEFT, RIGHT), 18.0, y_label);
    body += &x_axis(&x_ticks, &x, (TOP, BOTTOM), x_label);
    if all().next().is_none() {
        let middle = ((LEFT + RIGHT) / 2.0, (TOP + BOTTOM) / 2.0);
        body += &text(middle.0, middle.1, "middle", MUTED, "No data");
    }
    for (i, series_points) in points.iter().enumerate() {
        body += &polyline(series_points, &x, &y, colour(i));
    }
    if let Some((marker_x, label)) = marker {
        body += &marker_line(x.map(*marker_x), label);
    }
    let (legend, rows) = legend(series);
    body += &legend;
    let height = LEGEND_TOP - 8.0 + rows as f64 * LEGEND_ROW;
    svg(WIDTH, height, title, &body)
}

/// The points whose coordinates are both finite, in order.
fn finite(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect()
}

/// Ticks covering `values`, or `[0, 1]` when there are none.
fn ticks_for(values: impl Iterator<Item = f64>, target: usize) -> Ticks {
    let (lo, hi) = extent(values).unwrap_or((0.0, 1.0));
    Ticks::covering(lo, hi, target)
}

/// One series as a polyline (plus dots when it is short); nothing when it has no points.
fn polyline(points: &[(f64, f64)], x: &Scale, y: &Scale, colour: &str) -> String {
    if points.is_empty() {
        return String::new();
    }
    let pixels: Vec<(f64, f64)> = points
        .iter()
        .map(|&(px, py)| (x.map(px), y.map(py)))
        .collect();
    let coords: Vec<String> = pixels
        .iter()
        .map(|(px, py)| format!("{px:.1},{py:.1}"))
        .collect();
    let mut out = format!(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" \
         stroke-linejoin=\"round\" stroke-linecap=\"round\"/>\n",
        coords.join(" ")
    );
    if pixels.len() <= MAX_DOTS {
        for (px, py) in pixels {
            out += &format!("<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"3\" fill=\"{colour}\"/>\n");
        }
    }
    out
}

/// A dashed vertical line across the plot at pixel `px`, labelled above the plot.
fn marker_line(px: f64, label: &str) -> String {
    let dashed = " stroke-width=\"1.5\" stroke-dasharray=\"6 4\"";
    let mut out = line((px, TOP), (px, BOTTOM), AXIS, dashed);
    let (anchor, dx) = if px < (LEFT + RIGHT) / 2.0 {
        ("start", 4.0)
    } else {
        ("end", -4.0)
    };
    out += &text(px + dx, TOP - 10.0, anchor, "", &truncate(label, 60));
    out
}

/// The legend under the chart, wrapped into rows: its markup and its number of rows.
fn legend(series: &[Series]) -> (String, usize) {
    let mut out = String::new();
    let (mut px, mut row) = (LEFT, 0);
    for (i, s) in series.iter().enumerate() {
        let name = truncate(&s.name, 40);
        let width = 26.0 + text_width(&name) + 18.0;
        if px + width > RIGHT && px > LEFT {
            px = LEFT;
            row += 1;
        }
        let py = LEGEND_TOP + row as f64 * LEGEND_ROW;
        let swatch = " stroke-width=\"3\" stroke-linecap=\"round\"";
        out += &line((px, py - 4.0), (px + 20.0, py - 4.0), colour(i), swatch);
        out += &text(px + 26.0, py, "start", "", &name);
        px += width;
    }
    let rows = if series.is_empty() { 0 } else { row + 1 };
    (out, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, points: &[(f64, f64)]) -> Series {
        Series {
            name: name.to_string(),
            points: points.to_vec(),
        }
    }

    fn polylines(svg: &str) -> Vec<&str> {
        svg.split("<polyline points=\"")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .collect()
    }

    #[test]
    fn line_chart_draws_one_polyline_per_non_empty_series() {
        let chart = line_chart(
            "loss",
            "epoch",
            "loss",
            &[
                series("train", &[(1.0, 0.9), (2.0, 0.5), (3.0, 0.3)]),
                series("empty", &[]),
                series("valid", &[(1.0, 1.0), (2.0, 0.7), (3.0, 0.6)]),
                series("only NaN", &[(1.0, f64::NAN)]),
            ],
            None,
        );
        assert_eq!(polylines(&chart).len(), 2);
        assert!(chart.contains(colour(0)) && chart.contains(colour(2)));
        // Every series is in the legend, even the empty ones.
        for name in ["train", "empty", "valid", "only NaN"] {
            assert!(chart.contains(&format!(">{name}</text>")), "{name}");
        }
    }

    #[test]
    fn line_chart_skips_nan_and_infinite_points() {
        let points = [
            (0.0, 1.0),
            (1.0, f64::NAN),
            (2.0, 3.0),
            (f64::INFINITY, 2.0),
            (3.0, f64::NEG_INFINITY),
            (4.0, 2.0),
        ];
        let chart = line_chart("t", "x", "y", &[series("s", &points)], None);
        let lines = polylines(&chart);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].split(' ').count(), 3, "{}", lines[0]);
        assert!(!chart.contains("NaN") && !chart.contains("inf"), "{chart}");
    }

    #[test]
    fn line_chart_survives_degenerate_data() {
        let cases = [
            vec![],
            vec![series("none", &[])],
            vec![series("one", &[(5.0, 0.25)])],
            vec![series("flat", &[(1.0, 2.0), (2.0, 2.0), (3.0, 2.0)])],
            vec![series("zero", &[(0.0, 0.0), (0.0, 0.0)])],
        ];
        for case in cases {
            let chart = line_chart("t", "x", "y", &case, Some(&(f64::NAN, "m".into())));
            assert!(chart.starts_with("<svg") && chart.ends_with("</svg>"));
            assert!(!chart.contains("NaN") && !chart.contains("inf"), "{chart}");
            for coords in polylines(&chart) {
                for value in coords.split([' ', ',']) {
                    let v: f64 = value.parse().unwrap();
                    assert!((0.0..=WIDTH).contains(&v), "{coords}");
                }
            }
        }
        let empty = line_chart("t", "x", "y", &[], None);
        assert!(empty.contains(">No data</text>"));
    }

    #[test]
    fn single_point_gets_a_visible_dot() {
        let chart = line_chart("t", "x", "y", &[series("one", &[(5.0, 0.25)])], None);
        assert_eq!(chart.matches("<circle").count(), 1);
    }

    #[test]
    fn marker_is_a_dashed_line_with_its_label() {
        let points = [(1.0, 0.5), (10.0, 0.1)];
        let marker = (12.0, "best epoch".to_string());
        let chart = line_chart("t", "x", "y", &[series("s", &points)], Some(&marker));
        assert!(chart.contains("stroke-dasharray"));
        assert!(chart.contains(">best epoch</text>"));
        // The marker lies beyond the data, so the x axis stretches to include it.
        assert!(chart.contains(">12</text>") || chart.contains(">14</text>"));
    }

    #[test]
    fn ticks_and_labels_cover_the_data() {
        let points = [(1.0, 0.13), (50.0, 0.92)];
        let chart = line_chart("t", "epoch", "accuracy", &[series("s", &points)], None);
        for label in [">0</text>", ">50</text>", ">0.2</text>", ">1.0</text>"] {
            assert!(chart.contains(label), "{label} missing");
        }
        assert!(chart.contains(">epoch</text>") && chart.contains(">accuracy</text>"));
    }
}
