//! Heatmaps: a grid of cells coloured by value, each with its number written in it.

use super::{BOLD, no_data, rotated_text, svg, text, text_width, truncate};
use crate::html::escape;
use crate::ticks::format_value;

/// Positive values shade from white to this blue.
const BLUE: (u8, u8, u8) = (33, 102, 172);
/// Negative values (in a correlation matrix, say) shade from white to this red.
const RED: (u8, u8, u8) = (178, 24, 43);
/// Fill of a cell whose value is missing, NaN or infinite.
const MISSING: &str = "#eeeeee";
/// Longest row or column label drawn, in characters.
const MAX_LABEL: usize = 20;
/// Room for an axis name.
const AXIS_NAME: f64 = 24.0;

/// The geometry of one heatmap.
struct Layout {
    /// Side of a cell.
    cell: f64,
    /// Font size of the numbers in the cells.
    font: f64,
    /// Left edge of the grid.
    left: f64,
    /// Top edge of the grid.
    top: f64,
    /// Whether column labels are turned 45° to fit.
    rotate_columns: bool,
}

/// Draws `values[row][col]` as a grid of `row_labels` × `col_labels` cells. Ragged input is
/// padded: a missing value is drawn as an empty grey cell, a missing label as no label.
pub(crate) fn heatmap(
    title: &str,
    (row_axis, col_axis): (&str, &str),
    (row_labels, col_labels): (&[String], &[String]),
    values: &[Vec<f64>],
) -> String {
    let rows = row_labels.len().max(values.len());
    let widest_row = values.iter().map(Vec::len).max().unwrap_or(0);
    let cols = col_labels.len().max(widest_row);
    if rows == 0 || cols == 0 {
        return no_data();
    }
    let value = |r: usize, c: usize| values.get(r).and_then(|row| row.get(c)).copied();
    let layout = Layout::new((rows, cols), (row_labels, col_labels), values);
    let max_abs = values
        .iter()
        .flatten()
        .filter(|v| v.is_finite())
        .fold(0.0, |m: f64, v| m.max(v.abs()));

    let (grid_w, grid_h) = (cols as f64 * layout.cell, rows as f64 * layout.cell);
    let mut body = text(layout.left + grid_w / 2.0, 16.0, "middle", BOLD, col_axis);
    body += &rotated_text(
        16.0,
        layout.top + grid_h / 2.0,
        -90.0,
        "middle",
        BOLD,
        row_axis,
    );
    body += &layout.column_labels(col_labels);
    body += &layout.row_labels(row_labels);
    for r in 0..rows {
        for c in 0..cols {
            let names = (label(row_labels, r), label(col_labels, c));
            body += &layout.cell(r, c, value(r, c), max_abs, names);
        }
    }
    let width = layout.left + grid_w + layout.right_margin(col_labels);
    svg(width, layout.top + grid_h + 8.0, title, &body)
}

/// Label `i`, or "" when there are fewer labels than cells.
fn label(labels: &[String], i: usize) -> &str {
    labels.get(i).map_or("", String::as_str)
}

/// Width of the widest label, once cut to [`MAX_LABEL`] characters.
fn widest(labels: &[String]) -> f64 {
    labels
        .iter()
        .map(|l| text_width(&truncate(l, MAX_LABEL)))
        .fold(0.0, f64::max)
}

impl Layout {
    /// Sizes the cells to the grid (large for small grids, at least 24 px) and the margins to
    /// the labels.
    fn new(
        (rows, cols): (usize, usize),
        (row_labels, col_labels): (&[String], &[String]),
        values: &[Vec<f64>],
    ) -> Layout {
        let cell = (720.0 / rows.max(cols) as f64).clamp(24.0, 64.0);
        let longest_number = values
            .iter()
            .flatten()
            .map(|&v| format_value(v).len())
            .max()
            .unwrap_or(1) as f64;
        let font = (cell * 0.34)
            .min(13.0)
            .min((cell - 4.0) / (longest_number * 0.6));
        let column_width = widest(col_labels);
        let rotate_columns = column_width > cell - 4.0;
        let column_height = if rotate_columns {
            column_width * 0.71 + 12.0
        } else {
            20.0
        };
        Layout {
            cell,
            font: font.max(6.0),
            left: AXIS_NAME + widest(row_labels) + 10.0,
            top: AXIS_NAME + column_height,
            rotate_columns,
        }
    }

    /// Room right of the grid for the last rotated column label.
    fn right_margin(&self, col_labels: &[String]) -> f64 {
        if self.rotate_columns {
            widest(col_labels) * 0.71 + 8.0
        } else {
            8.0
        }
    }

    /// The column labels above the grid, turned 45° when they are wider than a cell.
    fn column_labels(&self, labels: &[String]) -> String {
        let mut out = String::new();
        for (c, name) in labels.iter().enumerate() {
            let name = truncate(name, MAX_LABEL);
            let x = self.left + (c as f64 + 0.5) * self.cell;
            out += &if self.rotate_columns {
                rotated_text(x, self.top - 6.0, -45.0, "start", "", &name)
            } else {
                text(x, self.top - 8.0, "middle", "", &name)
            };
        }
        out
    }

    /// The row labels left of the grid.
    fn row_labels(&self, labels: &[String]) -> String {
        let mut out = String::new();
        for (r, name) in labels.iter().enumerate() {
            let y = self.top + (r as f64 + 0.5) * self.cell + 4.0;
            out += &text(self.left - 6.0, y, "end", "", &truncate(name, MAX_LABEL));
        }
        out
    }

    /// Cell `(r, c)`: a coloured square with a hover title and the value written in it.
    fn cell(
        &self,
        r: usize,
        c: usize,
        value: Option<f64>,
        max_abs: f64,
        (row_name, col_name): (&str, &str),
    ) -> String {
        let (x, y, side) = (
            self.left + c as f64 * self.cell,
            self.top + r as f64 * self.cell,
            self.cell,
        );
        let shown = value.map_or(String::new(), format_value);
        let (fill, ink) = cell_colours(value.unwrap_or(f64::NAN), max_abs);
        let hover = escape(&format!("{row_name} / {col_name}: {shown}"));
        let mut out = format!(
            "<rect class=\"cell\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{side:.1}\" \
             height=\"{side:.1}\" fill=\"{fill}\" stroke=\"#ffffff\"><title>{hover}</title></rect>\n"
        );
        let attributes = format!(" font-size=\"{:.1}\" fill=\"{ink}\"", self.font);
        let centre = (x + side / 2.0, y + side / 2.0 + self.font * 0.35);
        out += &text(centre.0, centre.1, "middle", &attributes, &shown);
        out
    }
}

/// The fill of a cell holding `v` (white to blue for positive values, white to red for
/// negative ones, scaled to the largest magnitude) and a text colour readable on it.
fn cell_colours(v: f64, max_abs: f64) -> (String, &'static str) {
    if !v.is_finite() {
        return (MISSING.to_string(), "#6b7280");
    }
    let t = if max_abs > 0.0 {
        (v.abs() / max_abs).min(1.0)
    } else {
        0.0
    };
    let (r, g, b) = if v < 0.0 { RED } else { BLUE };
    let mix = |c: u8| (255.0 + (f64::from(c) - 255.0) * t).round() as u8;
    let fill = format!("#{:02x}{:02x}{:02x}", mix(r), mix(g), mix(b));
    let ink = if t > 0.55 { "#ffffff" } else { "#1d2330" };
    (fill, ink)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    fn draw(rows: usize, cols: usize) -> String {
        let values: Vec<Vec<f64>> = (0..rows)
            .map(|r| (0..cols).map(|c| (r * cols + c) as f64 / 7.0).collect())
            .collect();
        let (row_labels, col_labels) = (labels("r", rows), labels("c", cols));
        heatmap(
            "m",
            ("actual", "predicted"),
            (&row_labels, &col_labels),
            &values,
        )
    }

    #[test]
    fn heatmap_has_one_cell_per_value() {
        for (rows, cols) in [(1, 1), (2, 3), (3, 2), (30, 30)] {
            let chart = draw(rows, cols);
            assert_eq!(chart.matches("class=\"cell\"").count(), rows * cols);
            assert!(chart.contains(">actual</text>") && chart.contains(">predicted</text>"));
            assert!(chart.contains(&format!(">r{}</text>", rows - 1)));
            assert!(chart.contains(&format!(">c{}</text>", cols - 1)));
        }
    }

    #[test]
    fn heatmap_writes_integers_plainly_and_others_to_three_digits() {
        let rows = labels("r", 2);
        let cols = labels("c", 2);
        let values = vec![vec![50.0, 3.0], vec![0.123456, 2.5]];
        let chart = heatmap("m", ("a", "p"), (&rows, &cols), &values);
        for shown in [">50</text>", ">3</text>", ">0.123</text>", ">2.50</text>"] {
            assert!(chart.contains(shown), "{shown} missing");
        }
    }

    #[test]
    fn heatmap_colours_scale_from_white_to_blue() {
        assert_eq!(cell_colours(0.0, 10.0).0, "#ffffff");
        assert_eq!(cell_colours(10.0, 10.0).0, "#2166ac");
        assert_eq!(cell_colours(-10.0, 10.0).0, "#b2182b");
        assert_eq!(cell_colours(f64::NAN, 10.0).0, MISSING);
        assert_eq!(cell_colours(0.0, 0.0).0, "#ffffff");
        let (half, _) = cell_colours(5.0, 10.0);
        assert!(half != "#ffffff" && half != "#2166ac");
    }

    #[test]
    fn heatmap_pads_ragged_input_and_handles_empty_input() {
        let chart = heatmap(
            "m",
            ("a", "p"),
            (&labels("r", 2), &labels("c", 3)),
            &[vec![1.0], vec![f64::NAN, 2.0, 3.0, 4.0]],
        );
        assert_eq!(chart.matches("class=\"cell\"").count(), 2 * 4);
        assert_eq!(chart.matches(MISSING).count(), 4);
        let empty = heatmap("m", ("a", "p"), (&[], &[]), &[]);
        assert!(empty.contains("No data"));
    }
}
