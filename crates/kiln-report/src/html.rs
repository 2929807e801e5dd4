//! The HTML page: document skeleton, stylesheet, tables and notes. Charts come from
//! [`crate::chart`].

use crate::chart::{bar_chart, beeswarm, distributions, heatmap, line_chart, scatter, waterfall};
use crate::{Level, Report, Section};

/// The page's whole stylesheet. Fonts are the reader's system fonts: nothing is fetched.
const STYLE: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f5f6f8; color: #1d2330;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1000px; margin: 0 auto; padding: 28px 20px 48px; }
h1 { font-size: 24px; margin: 0 0 2px; }
.subtitle { color: #5b6474; margin: 0 0 22px; }
section { background: #fff; border: 1px solid #e1e4ea; border-radius: 8px;
  padding: 16px 20px 18px; margin: 0 0 18px; }
h2 { font-size: 17px; margin: 0 0 12px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 14px 5px 0; border-bottom: 1px solid #eceef2; text-align: left;
  vertical-align: top; }
thead th { border-bottom: 2px solid #c9ced8; }
table.kv th { font-weight: 600; color: #3b4453; padding-right: 28px; }
td.num { text-align: right; }
svg.chart { display: block; max-width: 100%; height: auto; }
p.legend { margin: 0 0 10px; color: #3b4453; }
p.legend .key { margin-right: 18px; white-space: nowrap; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px;
  margin-right: 6px; vertical-align: -1px; }
.multiples { display: flex; flex-wrap: wrap; gap: 14px; }
figure.dist { margin: 0; }
ul.notes { list-style: none; padding: 0; margin: 0; }
ul.notes li { padding: 8px 12px; margin: 0 0 6px; border-radius: 6px;
  background: #f2f4f7; border-left: 4px solid #9aa4b5; }
ul.notes li.warning { background: #fff3d1; border-left-color: #f0a000; color: #5a3b00; }
.icon { margin-right: 6px; }
.empty { color: #7a8291; font-style: italic; margin: 0; }
.tokens { white-space: pre-wrap; line-height: 1.7; font-family: ui-monospace, monospace; font-size: 0.85rem; }
.tokens span { border-radius: 3px; }
"#;

/// `s` with `&`, `<`, `>`, `"` and `'` replaced by entities, safe in text and attributes.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The whole page for `report`.
pub(crate) fn page(report: &Report) -> String {
    let title = if report.title.is_empty() {
        "Kiln report"
    } else {
        &report.title
    };
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <header>\n<h1>{}</h1>\n<p class=\"subtitle\">{}</p>\n</header>\n",
        escape(title),
        escape(title),
        escape(&report.subtitle)
    );
    for s in &report.sections {
        out += &section(s);
    }
    out += "</main>\n</body>\n</html>\n";
    out
}

/// One section: its heading and its table, chart or list.
fn section(section: &Section) -> String {
    let (title, body) = match section {
        Section::KeyValues { title, rows } => (title, key_values(rows)),
        Section::Table {
            title,
            header,
            rows,
        } => (title, table(header, rows)),
        Section::LineChart {
            title,
            x_label,
            y_label,
            series,
            marker,
        } => (
            title,
            line_chart(title, x_label, y_label, series, marker.as_ref()),
        ),
        Section::Heatmap {
            title,
            row_axis,
            col_axis,
            row_labels,
            col_labels,
            values,
        } => (
            title,
            heatmap(
                title,
                (row_axis.as_str(), col_axis.as_str()),
                (row_labels.as_slice(), col_labels.as_slice()),
                values,
            ),
        ),
        Section::BarChart {
            title,
            value_label,
            bars,
        } => (title, bar_chart(title, value_label, bars)),
        Section::Distributions {
            title,
            reference_label,
            current_label,
            items,
        } => (
            title,
            distributions((reference_label, current_label), items),
        ),
        Section::Beeswarm {
            title,
            value_label,
            features,
        } => (title, beeswarm(title, value_label, features)),
        Section::Waterfall {
            title,
            base,
            prediction,
            value_label,
            contributions,
        } => (
            title,
            waterfall(title, value_label, (*base, *prediction), contributions),
        ),
        Section::Scatter {
            title,
            y_label,
            panels,
        } => (title, scatter(title, y_label, panels)),
        Section::HighlightedText {
            title,
            caption,
            spans,
        } => (title, highlighted_text(caption, spans)),
        Section::Notes { title, items } => (title, notes(items)),
    };
    format!(
        "<section>\n<h2>{}</h2>\n<div class=\"scroll\">\n{body}\n</div>\n</section>\n",
        escape(title)
    )
}

/// A two-column table of names and values.
fn key_values(rows: &[(String, String)]) -> String {
    if rows.is_empty() {
        return "<p class=\"empty\">Nothing to show.</p>".to_string();
    }
    let mut out = "<table class=\"kv\">\n<tbody>\n".to_string();
    for (name, value) in rows {
        out += &format!("<tr><th>{}</th>{}</tr>\n", escape(name), cell(value));
    }
    out + "</tbody>\n</table>"
}

/// A table with a header row; a table without rows says so.
fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut out = "<table>\n<thead>\n<tr>".to_string();
    for name in header {
        out += &format!("<th>{}</th>", escape(name));
    }
    out += "</tr>\n</thead>\n<tbody>\n";
    for row in rows {
        let cells: String = row.iter().map(|c| cell(c)).collect();
        out += &format!("<tr>{cells}</tr>\n");
    }
    if rows.is_empty() {
        let span = header.len().max(1);
        out += &format!("<tr><td colspan=\"{span}\" class=\"empty\">No rows.</td></tr>\n");
    }
    out + "</tbody>\n</table>"
}

/// A table cell, right-aligned when it holds a number.
fn cell(text: &str) -> String {
    let class = if text.trim().parse::<f64>().is_ok() {
        " class=\"num\""
    } else {
        ""
    };
    format!("<td{class}>{}</td>", escape(text))
}

/// A paragraph of text whose weighted spans are shaded red (positive) or blue (negative) with
/// an opacity proportional to |weight| over the largest |weight|, the weight as a tooltip.
fn highlighted_text(caption: &str, spans: &[(String, Option<f64>)]) -> String {
    let largest = spans
        .iter()
        .filter_map(|(_, w)| w.filter(|w| w.is_finite()))
        .fold(0f64, |m, w| m.max(w.abs()));
    let mut out = format!("<p>{}</p>\n<p class=\"tokens\">", escape(caption));
    if spans.is_empty() {
        out += "<span class=\"empty\">No text.</span>";
    }
    for (text, weight) in spans {
        match weight.filter(|w| w.is_finite() && largest > 0.0) {
            Some(w) => {
                let (r, g, b) = if w >= 0.0 {
                    (214, 39, 40)
                } else {
                    (31, 119, 180)
                };
                out += &format!(
                    "<span style=\"background: rgba({r}, {g}, {b}, {:.2})\" title=\"{w:+.4}\">{}</span>",
                    (w.abs() / largest * 0.8).min(0.8),
                    escape(text)
                );
            }
            None => out += &escape(text),
        }
    }
    out + "</p>"
}

/// The notes as a list, warnings highlighted and marked with "⚠".
fn notes(items: &[(Level, String)]) -> String {
    if items.is_empty() {
        return "<p class=\"empty\">No notes.</p>".to_string();
    }
    let mut out = "<ul class=\"notes\">\n".to_string();
    for (level, text) in items {
        out += &match level {
            Level::Info => format!("<li class=\"info\">{}</li>\n", escape(text)),
            Level::Warning => format!(
                "<li class=\"warning\"><span class=\"icon\">⚠</span>{}</li>\n",
                escape(text)
            ),
        };
    }
    out + "</ul>"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BeeswarmFeature, Distribution, ScatterPanel, Series};

    const EVIL: &str = "<script>alert('x')</script>";

    /// A report with `EVIL` in every piece of text that reaches the page.
    fn hostile_report() -> Report {
        let s = || EVIL.to_string();
        Report {
            title: s(),
            subtitle: s(),
            sections: vec![
                Section::KeyValues {
                    title: s(),
                    rows: vec![(s(), s())],
                },
                Section::Table {
                    title: s(),
                    header: vec![s()],
                    rows: vec![vec![s()]],
                },
                Section::LineChart {
                    title: s(),
                    x_label: s(),
                    y_label: s(),
                    series: vec![Series {
                        name: s(),
                        points: vec![(0.0, 1.0), (1.0, 2.0)],
                    }],
                    marker: Some((0.5, s())),
                },
                Section::Heatmap {
                    title: s(),
                    row_axis: s(),
                    col_axis: s(),
                    row_labels: vec![s()],
                    col_labels: vec![s()],
                    values: vec![vec![1.0]],
                },
                Section::BarChart {
                    title: s(),
                    value_label: s(),
                    bars: vec![(s(), 1.0)],
                },
                Section::Distributions {
                    title: s(),
                    reference_label: s(),
                    current_label: s(),
                    items: vec![Distribution {
                        name: s(),
                        labels: vec![s()],
                        reference: vec![1.0],
                        current: Some(vec![1.0]),
                        flagged: true,
                        caption: s(),
                    }],
                },
                Section::Beeswarm {
                    title: s(),
                    value_label: s(),
                    features: vec![BeeswarmFeature {
                        name: s(),
                        values: vec![0.5, -0.5, f64::NAN],
                        colour: vec![Some(0.0), None, Some(1.0)],
                    }],
                },
                Section::Waterfall {
                    title: s(),
                    base: 0.0,
                    prediction: 1.0,
                    value_label: s(),
                    contributions: vec![(s(), 1.5), (s(), -0.5)],
                },
                Section::Scatter {
                    title: s(),
                    y_label: s(),
                    panels: vec![
                        ScatterPanel {
                            title: s(),
                            x_label: s(),
                            log_x: true,
                            points: vec![(0.001, 1.0), (0.1, f64::NAN), (10.0, 2.0)],
                            shade: vec![0.0, 0.5, 1.0],
                            categories: None,
                        },
                        ScatterPanel {
                            title: s(),
                            x_label: s(),
                            log_x: false,
                            points: vec![(0.0, 1.0), (1.0, 2.0)],
                            shade: Vec::new(),
                            categories: Some(vec![s(), s()]),
                        },
                    ],
                },
                Section::HighlightedText {
                    title: s(),
                    caption: s(),
                    spans: vec![(s(), Some(1.0)), (s(), None), (s(), Some(f64::NAN))],
                },
                Section::Notes {
                    title: s(),
                    items: vec![(Level::Info, s()), (Level::Warning, s())],
                },
            ],
        }
    }

    #[test]
    fn highlighted_text_shades_words_by_sign_and_relative_size() {
        let html = highlighted_text(
            "toward spam",
            &[
                ("free".into(), Some(0.4)),
                (" ".into(), None),
                ("meeting".into(), Some(-0.2)),
            ],
        );
        assert!(
            html.contains("rgba(214, 39, 40, 0.80)\" title=\"+0.4000\">free<"),
            "{html}"
        );
        assert!(
            html.contains("rgba(31, 119, 180, 0.40)\" title=\"-0.2000\">meeting<"),
            "{html}"
        );
        assert!(
            html.contains("</span> <span"),
            "plain spans are plain text: {html}"
        );
        assert!(highlighted_text("c", &[]).contains("No text."));
    }

    #[test]
    fn escape_replaces_every_special_character() {
        assert_eq!(
            escape(r#"a & b < c > d "e" 'f'"#),
            "a &amp; b &lt; c &gt; d &quot;e&quot; &#39;f&#39;"
        );
        assert_eq!(escape("plain ⚠ text"), "plain ⚠ text");
        assert_eq!(escape("&amp;"), "&amp;amp;");
    }

    #[test]
    fn report_text_is_escaped_everywhere() {
        let html = page(&hostile_report());
        assert!(!html.contains("<script"), "raw markup leaked");
        assert!(!html.contains("alert('x')"), "raw quote leaked");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        // The title, the subtitle, ten headings and the text inside each section; the charts
        // also carry their title as an aria-label.
        assert!(html.matches("&lt;script&gt;").count() >= 64);
    }

    #[test]
    fn empty_report_is_a_complete_page() {
        let html = page(&Report::default());
        assert!(html.starts_with("<!DOCTYPE html>\n<html"));
        assert!(html.trim_end().ends_with("</html>"));
        assert!(html.contains("<title>Kiln report</title>"));
        for tag in [
            "<head>", "</head>", "<body>", "</body>", "<style>", "</style>",
        ] {
            assert_eq!(html.matches(tag).count(), 1, "{tag}");
        }
    }

    #[test]
    fn page_is_self_contained() {
        let html = page(&hostile_report());
        for forbidden in ["http", "//", "src=", "href", "@import", "url("] {
            assert!(!html.contains(forbidden), "found {forbidden}");
        }
    }

    #[test]
    fn warnings_are_highlighted_and_info_is_not() {
        let html = notes(&[
            (Level::Info, "fine".into()),
            (Level::Warning, "look".into()),
        ]);
        assert!(html.contains("<li class=\"info\">fine</li>"));
        assert!(html.contains("<li class=\"warning\"><span class=\"icon\">⚠</span>look</li>"));
        assert!(STYLE.contains("li.warning { background: #fff3d1"));
        assert!(notes(&[]).contains("No notes"));
    }

    #[test]
    fn tables_have_a_header_and_every_row() {
        let header = vec!["name".to_string(), "score".to_string()];
        let rows = vec![
            vec!["a".to_string(), "0.9".to_string()],
            vec!["b".to_string(), "n/a".to_string()],
        ];
        let html = table(&header, &rows);
        assert_eq!(html.matches("<tr>").count(), 3);
        assert_eq!(html.matches("<th>").count(), 2);
        assert!(html.contains("<td class=\"num\">0.9</td>") && html.contains("<td>n/a</td>"));
        assert!(table(&header, &[]).contains("colspan=\"2\""));
        let kv = key_values(&[("seed".into(), "42".into())]);
        assert!(kv.contains("<tr><th>seed</th><td class=\"num\">42</td></tr>"));
    }
}
