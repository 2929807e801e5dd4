//! Self-contained HTML reports with charts drawn as inline SVG: no script, no network.
//!
//! A [`Report`] is a title and a list of [`Section`]s; [`render_html`] turns it into one HTML
//! page. Every Kiln command that writes a report (train, tune, explain, validate, monitor)
//! builds one of these, so charts look the same everywhere.

mod chart;
mod html;
mod ticks;

use serde::{Deserialize, Serialize};

/// Renders `report` as one self-contained HTML5 page: inline CSS, charts as inline SVG, no
/// script and nothing fetched from anywhere. All report text is HTML-escaped.
pub fn render_html(report: &Report) -> String {
    html::page(report)
}

/// A whole report: a title, a subtitle line and its sections in order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    /// The page title, e.g. "kiln train: breast_cancer.csv".
    pub title: String,
    /// One line under the title, e.g. "Kiln 0.1.0 · seed 42 · 2026-11-27".
    pub subtitle: String,
    /// The sections, drawn top to bottom.
    pub sections: Vec<Section>,
}

/// How serious a note is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Level {
    /// Information.
    Info,
    /// Something the user should look at.
    Warning,
}

/// One named series of (x, y) points in a line chart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Points in x order.
    pub points: Vec<(f64, f64)>,
}

/// One feature's distribution, optionally against a reference, as one small chart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Distribution {
    /// Feature name, the small chart's title.
    pub name: String,
    /// Bin labels in order: numeric ranges ("1.5–2.0") or category names.
    pub labels: Vec<String>,
    /// Share of rows per bin (0..1) in the reference (or the only) data.
    pub reference: Vec<f64>,
    /// Share of rows per bin in the current data; `None` when there is only one data set.
    pub current: Option<Vec<f64>>,
    /// Drawn highlighted (a drifted or anomalous feature).
    pub flagged: bool,
    /// One line under the chart, e.g. "KS p = 0.003 · drift".
    pub caption: String,
}

/// One feature's row in a beeswarm: each point is one explained row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BeeswarmFeature {
    /// Feature name.
    pub name: String,
    /// The attribution of each explained row (x position).
    pub values: Vec<f64>,
    /// The feature's value in each row scaled to 0..1 (colour: low blue → high red); None where
    /// unknown (categorical/missing: grey).
    pub colour: Vec<Option<f64>>,
}

/// One small scatter plot in a [`Section::Scatter`]: the objective against one parameter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScatterPanel {
    /// Panel title (a parameter name).
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Draw the x axis on a log scale (all x must be > 0; otherwise fall back to linear).
    pub log_x: bool,
    /// Points (x, y); non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
    /// Per point, a shade 0..1 (e.g. trial order: early light, late dark); empty = one colour.
    /// Values outside 0..1 are clamped; a missing, NaN or infinite shade gets the one colour.
    pub shade: Vec<f64>,
    /// Categorical x: when set, x values are indices into these labels, drawn as category
    /// ticks; a point whose x rounds to no index is skipped.
    pub categories: Option<Vec<String>>,
}

/// One block of the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Section {
    /// A two-column table of names and values.
    KeyValues {
        /// Heading.
        title: String,
        /// (name, value) rows.
        rows: Vec<(String, String)>,
    },
    /// A table with a header row.
    Table {
        /// Heading.
        title: String,
        /// Column names.
        header: Vec<String>,
        /// Rows of cells, each as long as the header.
        rows: Vec<Vec<String>>,
    },
    /// A line chart of one or more series sharing axes.
    LineChart {
        /// Heading.
        title: String,
        /// X axis label.
        x_label: String,
        /// Y axis label.
        y_label: String,
        /// The series.
        series: Vec<Series>,
        /// An optional vertical marker at an x value with a label (e.g. the best epoch).
        marker: Option<(f64, String)>,
    },
    /// A matrix of values drawn as coloured cells with the numbers written in them
    /// (a confusion matrix, a correlation matrix).
    Heatmap {
        /// Heading.
        title: String,
        /// What the rows mean, e.g. "actual".
        row_axis: String,
        /// What the columns mean, e.g. "predicted".
        col_axis: String,
        /// Row labels.
        row_labels: Vec<String>,
        /// Column labels.
        col_labels: Vec<String>,
        /// `values[row][col]`.
        values: Vec<Vec<f64>>,
    },
    /// A horizontal bar chart of labelled values (feature importance, for example).
    BarChart {
        /// Heading.
        title: String,
        /// Label of the value axis.
        value_label: String,
        /// (label, value) bars, drawn in the given order.
        bars: Vec<(String, f64)>,
    },
    /// Small multiples: one small bar chart per feature showing its share of rows per bin,
    /// reference and current side by side, under one legend. Shares that are NaN or infinite
    /// are left out, others clamped to 0..1; lists of unequal length are padded.
    Distributions {
        /// Heading.
        title: String,
        /// Legend name of the reference (or only) data, e.g. "training".
        reference_label: String,
        /// Legend name of the current data, e.g. "serving".
        current_label: String,
        /// The features, drawn in the given order.
        items: Vec<Distribution>,
    },
    /// A beeswarm of attributions (shap's summary plot): one lane per feature in the given
    /// order, one dot per explained row at its attribution on an axis shared by all lanes,
    /// coloured by the feature's value and piled up where dots would overlap. At most 1000
    /// dots per feature are drawn, evenly spread over its rows; a NaN or infinite attribution
    /// gets no dot, a colour that is missing, NaN or infinite a grey one.
    Beeswarm {
        /// Heading.
        title: String,
        /// Label of the attribution axis, e.g. "SHAP value (impact on model output)".
        value_label: String,
        /// The features, drawn top to bottom in the given order (most important first).
        features: Vec<BeeswarmFeature>,
    },
    /// A waterfall of one row's attributions (shap's waterfall plot): from the expected output
    /// at the bottom, one arrow per contribution, each starting where the one below ended,
    /// up to the prediction at the top. The 11 largest contributions are drawn on their own
    /// when there are more than 12, the rest as one "N other features" arrow at the bottom.
    /// A NaN or infinite contribution keeps its row but gets no arrow; contributions that do
    /// not add up to the prediction get a note; a chart without contributions or with a base
    /// that is not a number says "No data".
    Waterfall {
        /// Heading.
        title: String,
        /// The expected output E[f(x)] over the background data, where the arrows start.
        base: f64,
        /// The model's output f(x) for the row, where the arrows end.
        prediction: f64,
        /// Label of the output axis, e.g. "model output (log-odds)".
        value_label: String,
        /// (label, contribution) pairs, largest |contribution| first, drawn top to bottom. A
        /// label may carry the feature's value, e.g. "area_mean = 1001".
        contributions: Vec<(String, f64)>,
    },
    /// Small multiples of scatter plots (Optuna's slice plot): one panel per parameter with
    /// the objective against it, in a wrapping grid, every panel on the same y axis. One panel
    /// makes an optimisation-history scatter. Points are circles shaded from light to dark
    /// blue by their shade; points at one category are spread sideways a little (the same way
    /// every time). A panel without finite points says "No data".
    Scatter {
        /// Heading.
        title: String,
        /// Label of the y axis shared by all panels, e.g. "objective value".
        y_label: String,
        /// The panels, drawn in the given order.
        panels: Vec<ScatterPanel>,
    },
    /// A text with some words shaded by a signed weight (token attributions): red for
    /// positive, blue for negative, stronger for larger |weight| relative to the largest; the
    /// weight shows when the pointer rests on a word. Spans without a weight are plain.
    HighlightedText {
        /// Heading.
        title: String,
        /// One line above the text, e.g. what the weights are.
        caption: String,
        /// The text in order, as (text, weight) spans.
        spans: Vec<(String, Option<f64>)>,
    },
    /// A list of notes, warnings highlighted.
    Notes {
        /// Heading.
        title: String,
        /// (level, text) items.
        items: Vec<(Level, String)>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            title: "kiln train: iris.csv".into(),
            subtitle: "Kiln 0.1.0 · seed 42".into(),
            sections: vec![
                Section::KeyValues {
                    title: "Run".into(),
                    rows: vec![("rows".into(), "150".into())],
                },
                Section::LineChart {
                    title: "Loss".into(),
                    x_label: "epoch".into(),
                    y_label: "loss".into(),
                    series: vec![
                        Series {
                            name: "train".into(),
                            points: vec![(1.0, 1.1), (2.0, 0.6), (3.0, 0.4)],
                        },
                        Series {
                            name: "valid".into(),
                            points: vec![(1.0, 1.2), (2.0, f64::NAN), (3.0, 0.5)],
                        },
                    ],
                    marker: Some((3.0, "best".into())),
                },
            ],
        }
    }

    #[test]
    fn render_html_draws_every_section() {
        let html = render_html(&report());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<h1>kiln train: iris.csv</h1>"));
        assert_eq!(html.matches("<section>").count(), 2);
        assert_eq!(html.matches("<svg").count(), 1);
        assert_eq!(html.matches("<polyline").count(), 2);
    }
}
