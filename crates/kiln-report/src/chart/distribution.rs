//! Small multiples of distributions: one small bar chart per feature with its share of rows
//! per bin, reference and current side by side, under one legend shared by the section.

use super::{AXIS, BOLD, CHAR_WIDTH, GRID, PALETTE, Scale, line, no_data, svg, text, truncate};
use crate::Distribution;
use crate::html::escape;
use crate::ticks::Ticks;

/// Width of one small chart.
const WIDTH: f64 = 280.0;
/// Height of one small chart.
const HEIGHT: f64 = 168.0;
/// Left edge of the plot area (room for the percentage labels).
const LEFT: f64 = 42.0;
/// Right edge of the plot area.
const RIGHT: f64 = WIDTH - 12.0;
/// Top edge of the plot area, under the feature's name.
const TOP: f64 = 30.0;
/// Bottom edge of the plot area, the zero line (room for two rows of bin labels and the
/// caption below).
const BOTTOM: f64 = HEIGHT - 52.0;
/// Baseline of the first row of bin labels.
const LABEL_BASELINE: f64 = BOTTOM + 13.0;
/// Distance between the two rows of bin labels.
const LABEL_ROW: f64 = 11.0;
/// Bin labels start no further left than this, clear of the percentage labels' column.
const LABEL_LEFT: f64 = LEFT - 10.0;
/// Font size of the tick labels, bin labels and caption.
const SMALL: f64 = 10.0;
/// Estimated width of one character at [`SMALL`] size: more than [`CHAR_WIDTH`] scaled, since
/// bin labels are mostly digits, which are wide in common system fonts.
const SMALL_CHAR: f64 = 0.64 * SMALL;
/// Longest bin label drawn, in characters.
const MAX_LABEL: usize = 16;
/// Bins are all labelled, cut short to fit, only if this many characters of a label fit.
const MIN_LABEL: usize = 5;
/// Longest bin label in a bin's tooltip, in characters.
const MAX_TIP_LABEL: usize = 40;
/// Longest data set name in a bin's tooltip, in characters: every bin repeats the names,
/// which may be long file paths.
const MAX_TIP_NAME: usize = 20;
/// Least space between two bin labels.
const LABEL_GAP: f64 = 6.0;
/// Widest bar, so that a chart of few bins does not draw slabs.
const MAX_BAR: f64 = 28.0;
/// Share of a bin's width its bars take; the rest separates neighbouring bins.
const FILL: f64 = 0.84;
/// Reference bars: blue, the other charts' first series colour.
const REFERENCE: &str = PALETTE[0];
/// Current bars: orange, the other charts' second series colour.
const CURRENT: &str = PALETTE[1];
/// Frame and caption of a flagged chart.
const FLAG: &str = PALETTE[3];
/// Background of a flagged chart.
const FLAG_TINT: &str = "#fdf3f3";
/// Frame of an unflagged chart, as the page's section borders.
const FRAME: &str = "#e1e4ea";
/// Colour of an unflagged caption and of "No data".
const MUTED: &str = "#5b6474";

/// One data set drawn in every chart.
struct Bars<'a> {
    /// Legend name.
    name: &'a str,
    /// Share of rows per bin.
    shares: &'a [f64],
    /// Class of its bars.
    class: &'static str,
    /// Colour of its bars.
    fill: &'static str,
}

/// The legend, then one small chart per item in a wrapping grid; a flagged item's figure has
/// the `flagged` class.
pub(crate) fn distributions(
    (reference_label, current_label): (&str, &str),
    items: &[Distribution],
) -> String {
    if items.is_empty() {
        return no_data();
    }
    let any_current = items.iter().any(|item| item.current.is_some());
    let mut out = legend(reference_label, any_current.then_some(current_label));
    out += "<div class=\"multiples\">\n";
    for item in items {
        let class = if item.flagged { "dist flagged" } else { "dist" };
        let chart = small_chart(item, (reference_label, current_label));
        out += &format!("<figure class=\"{class}\">{chart}</figure>\n");
    }
    out + "</div>"
}

/// The legend: a colour swatch and name for the reference data and, when some item has them,
/// for the current data.
fn legend(reference_label: &str, current_label: Option<&str>) -> String {
    let key = |fill: &str, name: &str| {
        format!(
            "<span class=\"key\"><span class=\"swatch\" style=\"background: {fill}\"></span>\
             {}</span>",
            escape(name)
        )
    };
    let mut out = "<p class=\"legend\">".to_string() + &key(REFERENCE, reference_label);
    if let Some(name) = current_label {
        out += &key(CURRENT, name);
    }
    out + "</p>\n"
}

/// The share `v` as drawn: clamped to 0..1, or `None` when it is NaN or infinite.
fn share(v: f64) -> Option<f64> {
    v.is_finite().then(|| v.clamp(0.0, 1.0))
}

/// One item's chart: a frame (red when flagged), the name, a percentage axis, the bars of
/// every bin, the bin labels and the caption.
fn small_chart(item: &Distribution, (reference_label, current_label): (&str, &str)) -> String {
    let mut sets = vec![Bars {
        name: reference_label,
        shares: &item.reference,
        class: "ref",
        fill: REFERENCE,
    }];
    if let Some(current) = &item.current {
        sets.push(Bars {
            name: current_label,
            shares: current,
            class: "cur",
            fill: CURRENT,
        });
    }
    let bins = sets
        .iter()
        .map(|set| set.shares.len())
        .fold(item.labels.len(), usize::max);
    let shares = || {
        sets.iter()
            .flat_map(|set| set.shares.iter().copied().filter_map(share))
    };
    let highest = shares().fold(0.0, f64::max);
    // Percentages, at least up to 1% so that all-zero data still gets an axis.
    let ticks = Ticks::covering(0.0, (highest * 100.0).max(1.0), 4);
    let y = Scale::new(&ticks, (BOTTOM, TOP));

    let flag = if item.flagged { " (flagged)" } else { "" };
    let title = if item.caption.is_empty() {
        format!("{}{flag}", item.name)
    } else {
        format!("{}{flag}: {}", item.name, item.caption)
    };
    let mut body = format!("<title>{}</title>\n", escape(&title));
    body += &frame(item.flagged);
    let name_chars = ((WIDTH - 20.0) / CHAR_WIDTH) as usize;
    body += &text(10.0, 19.0, "start", BOLD, &truncate(&item.name, name_chars));
    body += &percent_axis(&ticks, &y);
    let slot = (RIGHT - LEFT) / bins.max(1) as f64;
    for i in 0..bins {
        let label = item.labels.get(i).map_or("", String::as_str);
        body += &bin(LEFT + i as f64 * slot, slot, label, i, &sets, &y);
    }
    if shares().next().is_none() {
        let attributes = format!(" fill=\"{MUTED}\" font-size=\"{SMALL}\"");
        let middle = ((LEFT + RIGHT) / 2.0, (TOP + BOTTOM) / 2.0 + 4.0);
        body += &text(middle.0, middle.1, "middle", &attributes, "No data");
    }
    body += &bin_labels(&item.labels, bins);
    body += &caption(&item.caption, item.flagged);
    svg(WIDTH, HEIGHT, &title, &body)
}

/// The chart's frame: a thin grey border, or a thicker red one on a red tint when flagged.
fn frame(flagged: bool) -> String {
    let (stroke, width, fill) = if flagged {
        (FLAG, 2.0, FLAG_TINT)
    } else {
        (FRAME, 1.0, "#ffffff")
    };
    let inset = width / 2.0;
    format!(
        "<rect class=\"frame\" x=\"{inset}\" y=\"{inset}\" width=\"{}\" height=\"{}\" rx=\"6\" \
         fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{width}\"/>\n",
        WIDTH - width,
        HEIGHT - width
    )
}

/// Grid lines at the percentage ticks, labelled left of the plot, and the zero line.
fn percent_axis(ticks: &Ticks, y: &Scale) -> String {
    let mut out = String::new();
    let mut labels = format!("<g font-size=\"{SMALL}\" fill=\"{AXIS}\">\n");
    for &v in &ticks.values {
        let py = y.map(v);
        if v > ticks.lo() {
            out += &line((LEFT, py), (RIGHT, py), GRID, "");
        }
        labels += &text(
            LEFT - 5.0,
            py + 3.5,
            "end",
            "",
            &format!("{}%", ticks.label(v)),
        );
    }
    out += &line((LEFT, BOTTOM), (RIGHT, BOTTOM), AXIS, "");
    out + &labels + "</g>\n"
}

/// Bin `i`, whose slot starts at `x0`: one bar per data set side by side, centred in the slot,
/// under one tooltip with the label and every share. Nothing when no data set has a share
/// for the bin.
fn bin(x0: f64, slot: f64, label: &str, i: usize, sets: &[Bars], y: &Scale) -> String {
    let shares: Vec<Option<f64>> = sets
        .iter()
        .map(|set| set.shares.get(i).copied().and_then(share))
        .collect();
    if shares.iter().all(Option::is_none) {
        return String::new();
    }
    let width = (slot * FILL / sets.len() as f64).min(MAX_BAR);
    let mut left = x0 + (slot - width * sets.len() as f64) / 2.0;
    let mut tip = Vec::new();
    let mut bars = String::new();
    for (set, v) in sets.iter().zip(shares) {
        let shown = v.map_or("no value".to_string(), |v| format!("{:.1}%", v * 100.0));
        tip.push(format!("{} {shown}", truncate(set.name, MAX_TIP_NAME)));
        if let Some(v) = v {
            let top = y.map(v * 100.0);
            bars += &format!(
                "<rect class=\"{}\" x=\"{left:.1}\" y=\"{top:.1}\" width=\"{width:.1}\" \
                 height=\"{:.1}\" fill=\"{}\"/>\n",
                set.class,
                BOTTOM - top,
                set.fill
            );
        }
        left += width;
    }
    let tip = match label {
        "" => tip.join(", "),
        _ => format!("{}: {}", truncate(label, MAX_TIP_LABEL), tip.join(", ")),
    };
    format!(
        "<g class=\"bin\"><title>{}</title>\n{bars}</g>\n",
        escape(&tip)
    )
}

/// The bin labels under the plot, never overlapping and never past the chart's edges: every
/// label centred under its bin when they all fit; else every label, alternating between two
/// rows and cut short where needed, when enough of each fits; else the first, the last and,
/// where it has room, the middle one.
fn bin_labels(labels: &[String], bins: usize) -> String {
    let labels = &labels[..labels.len().min(bins)];
    if labels.is_empty() {
        return String::new();
    }
    let slot = (RIGHT - LEFT) / bins as f64;
    // Characters that fit in a label's room when labels take one row or alternate on two.
    let fits = |rows: usize| ((rows as f64 * slot - LABEL_GAP) / SMALL_CHAR).max(0.0) as usize;
    let one_row = labels
        .iter()
        .all(|l| l.chars().count() <= fits(1).min(MAX_LABEL));
    let mut out = format!("<g class=\"labels\" font-size=\"{SMALL}\" fill=\"{AXIS}\">\n");
    if one_row || fits(2) >= MIN_LABEL {
        let rows = if one_row { 1 } else { 2 };
        for (i, label) in labels.iter().enumerate().filter(|(_, l)| !l.is_empty()) {
            let centre = LEFT + (i as f64 + 0.5) * slot;
            // Half the label's room, less where the chart's edge is closer.
            let half = (rows as f64 * slot - LABEL_GAP) / 2.0;
            let half = half
                .min(centre - LABEL_LEFT)
                .min(WIDTH - LABEL_GAP - centre);
            let chars = ((2.0 * half / SMALL_CHAR) as usize).min(MAX_LABEL);
            let baseline = LABEL_BASELINE + (i % rows) as f64 * LABEL_ROW;
            out += &text(centre, baseline, "middle", "", &truncate(label, chars));
        }
        return out + "</g>\n";
    }
    // (left, right) of every label drawn so far.
    let mut taken: Vec<(f64, f64)> = Vec::new();
    let last = bins - 1;
    for i in [0, last, last / 2] {
        let Some(label) = labels.get(i).map(|l| truncate(l, MAX_LABEL)) else {
            continue;
        };
        let width = label.chars().count() as f64 * SMALL_CHAR;
        let (x, anchor, span) = match i {
            0 => (LEFT, "start", (LEFT, LEFT + width)),
            _ if i == last => (RIGHT, "end", (RIGHT - width, RIGHT)),
            _ => {
                let centre = LEFT + (i as f64 + 0.5) * slot;
                (
                    centre,
                    "middle",
                    (centre - width / 2.0, centre + width / 2.0),
                )
            }
        };
        let clear = |&(l, r): &(f64, f64)| span.0 >= r + LABEL_GAP || span.1 + LABEL_GAP <= l;
        if !label.is_empty() && taken.iter().all(clear) {
            taken.push(span);
            out += &text(x, LABEL_BASELINE, anchor, "", &label);
        }
    }
    out + "</g>\n"
}

/// The caption line at the bottom, cut to the chart's width; red with a "⚠" when flagged.
fn caption(caption: &str, flagged: bool) -> String {
    let (shown, fill) = if flagged {
        (format!("⚠ {caption}"), FLAG)
    } else {
        (caption.to_string(), MUTED)
    };
    if shown.is_empty() {
        return String::new();
    }
    let chars = ((WIDTH - 20.0) / (CHAR_WIDTH * 11.0 / 12.0)) as usize;
    let attributes = format!(" font-size=\"11\" fill=\"{fill}\"");
    text(
        10.0,
        HEIGHT - 11.0,
        "start",
        &attributes,
        &truncate(&shown, chars),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Report, Section, render_html};

    fn item(name: &str, reference: &[f64], current: Option<&[f64]>) -> Distribution {
        Distribution {
            name: name.to_string(),
            labels: (0..reference.len()).map(|i| format!("b{i}")).collect(),
            reference: reference.to_vec(),
            current: current.map(<[f64]>::to_vec),
            flagged: false,
            caption: format!("{name} caption"),
        }
    }

    fn draw(items: &[Distribution]) -> String {
        distributions(("training", "serving"), items)
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

    /// The contents of every bin group in `chart`.
    fn bins(chart: &str) -> Vec<&str> {
        chart
            .split("<g class=\"bin\">")
            .skip(1)
            .map(|rest| &rest[..rest.find("</g>").unwrap()])
            .collect()
    }

    /// Every bar in `chart` as (class, x, y, height, fill).
    fn bars(chart: &str) -> Vec<(&str, f64, f64, f64, &str)> {
        let number = |e: &str, name: &str| attribute(e, name).parse::<f64>().unwrap();
        chart
            .split("<rect class=\"")
            .skip(1)
            .filter(|r| r.starts_with("ref\"") || r.starts_with("cur\""))
            .map(|r| {
                let class = &r[..3];
                (
                    class,
                    number(r, "x"),
                    number(r, "y"),
                    number(r, "height"),
                    attribute(r, "fill"),
                )
            })
            .collect()
    }

    /// Every bin label in `chart` as (x, y, anchor, text).
    fn bin_label_texts(chart: &str) -> Vec<(f64, f64, String, String)> {
        let Some(start) = chart.find("<g class=\"labels\"") else {
            return Vec::new();
        };
        let group = &chart[start..start + chart[start..].find("</g>").unwrap()];
        group
            .split("<text")
            .skip(1)
            .map(|t| {
                let content = &t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()];
                (
                    attribute(t, "x").parse().unwrap(),
                    attribute(t, "y").parse().unwrap(),
                    attribute(t, "text-anchor").to_string(),
                    content.to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn one_chart_per_item_under_one_legend() {
        let items = [
            item("age", &[0.2, 0.5, 0.3], Some(&[0.25, 0.45, 0.3])),
            item("sex", &[0.6, 0.4], None),
            item("city", &[0.1, 0.1, 0.8], Some(&[0.3, 0.3, 0.4])),
        ];
        let html = draw(&items);
        let drawn = charts(&html);
        assert_eq!(drawn.len(), 3);
        assert_eq!(html.matches("<figure class=\"dist\">").count(), 3);
        for (chart, item) in drawn.iter().zip(&items) {
            let title = format!("<title>{}: {} caption</title>", item.name, item.name);
            assert!(chart.contains(&title), "{title} missing");
            assert!(chart.contains(&format!(">{}</text>", item.name)));
            assert_eq!(attribute(chart, "width"), "280");
        }
        assert_eq!(html.matches("class=\"legend\"").count(), 1);
        assert!(html.starts_with("<p class=\"legend\">"));
        assert_eq!(html.matches("class=\"swatch\"").count(), 2);
        assert!(html.contains("</span>training</span>") && html.contains("</span>serving</span>"));

        let single = draw(&[item("sex", &[0.6, 0.4], None)]);
        assert_eq!(single.matches("class=\"swatch\"").count(), 1);
        assert!(!single.contains("serving"));
        let none = draw(&[]);
        assert!(none.contains("No data") && !none.contains("<svg"));
    }

    #[test]
    fn current_adds_a_second_bar_to_every_bin() {
        let reference = [0.1, 0.2, 0.3, 0.4];
        let html = draw(&[item("x", &reference, Some(&[0.4, 0.3, 0.2, 0.1]))]);
        let paired = charts(&html)[0];
        let groups = bins(paired);
        assert_eq!(groups.len(), 4);
        for group in groups {
            let drawn = bars(group);
            assert_eq!(drawn.len(), 2, "{group}");
            let (reference, current) = (drawn[0], drawn[1]);
            assert_eq!((reference.0, reference.4), ("ref", REFERENCE));
            assert_eq!((current.0, current.4), ("cur", CURRENT));
            assert!(current.1 > reference.1, "current bar right of reference");
        }
        assert!(paired.contains("<title>b1: training 20.0%, serving 30.0%</title>"));

        let html = draw(&[item("x", &reference, None)]);
        let alone = charts(&html)[0];
        let groups = bins(alone);
        assert_eq!(groups.len(), 4);
        assert!(
            groups
                .iter()
                .all(|g| bars(g).len() == 1 && bars(g)[0].0 == "ref")
        );
        assert!(!alone.contains("class=\"cur\"") && !alone.contains(CURRENT));
    }

    #[test]
    fn bar_heights_follow_the_shares_on_a_percent_axis() {
        let chart = charts(&draw(&[item("x", &[0.1, 0.2, 0.4], None)]))[0].to_string();
        let drawn = bars(&chart);
        let heights: Vec<f64> = drawn.iter().map(|b| b.3).collect();
        assert!((heights[1] / heights[0] - 2.0).abs() < 0.02, "{heights:?}");
        assert!((heights[2] / heights[0] - 4.0).abs() < 0.02, "{heights:?}");
        for (_, _, y, height, _) in &drawn {
            assert!(
                (y + height - BOTTOM).abs() < 0.11,
                "bars stand on the zero line"
            );
        }
        for tick in [">0%</text>", ">10%</text>", ">40%</text>"] {
            assert!(chart.contains(tick), "{tick} missing");
        }
        assert!(
            !chart.contains(">50%</text>"),
            "axis ends at the highest share"
        );
    }

    #[test]
    fn flagged_items_are_outlined_and_captioned_in_red() {
        let mut drifted = item("drifted", &[0.5, 0.5], Some(&[0.9, 0.1]));
        drifted.flagged = true;
        let html = draw(&[drifted, item("stable", &[0.5, 0.5], Some(&[0.5, 0.5]))]);
        assert_eq!(html.matches("<figure class=\"dist flagged\">").count(), 1);
        assert_eq!(html.matches("<figure class=\"dist\">").count(), 1);
        let drawn = charts(&html);
        let (flagged, plain) = (drawn[0], drawn[1]);
        let frame = |chart: &str| {
            let start = chart.find("<rect class=\"frame\"").unwrap();
            attribute(&chart[start..], "stroke").to_string()
        };
        assert_eq!(frame(flagged), FLAG);
        assert_eq!(frame(plain), FRAME);
        let red_caption = format!("fill=\"{FLAG}\">⚠ drifted caption</text>");
        assert!(flagged.contains(&red_caption), "{flagged}");
        assert!(flagged.contains("<title>drifted (flagged): drifted caption</title>"));
        assert!(plain.contains(&format!("fill=\"{MUTED}\">stable caption</text>")));
        assert!(!plain.contains(FLAG) && !plain.contains('⚠'));
    }

    #[test]
    fn hostile_text_is_escaped() {
        const EVIL: &str = "<script>alert('x')</script>";
        let evil = Distribution {
            name: EVIL.to_string(),
            labels: vec![EVIL.to_string()],
            reference: vec![1.0],
            current: Some(vec![1.0]),
            flagged: true,
            caption: EVIL.to_string(),
        };
        let html = distributions((EVIL, EVIL), &[evil]);
        assert!(!html.contains("<script") && !html.contains("alert('x')"));
        // Chart title, aria-label, name, bin tooltip, bin label, caption and both legend keys.
        let escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;";
        assert!(html.matches(escaped).count() >= 8, "{html}");
    }

    #[test]
    fn bin_labels_never_overlap_or_leave_the_chart() {
        let numeric = |n: usize| -> Vec<String> {
            (0..n)
                .map(|i| format!("{}–{}", i * 12_000, (i + 1) * 12_000))
                .collect()
        };
        let names = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases = [
            names(&["yes", "no"]),
            names(&["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]),
            names(&[
                "Private",
                "Self-emp-not-inc",
                "Local-gov",
                "State-gov",
                "Federal-gov",
            ]),
            names(&["an extremely long category name that will not fit anywhere"]),
            numeric(3),
            numeric(6),
            numeric(20),
            numeric(30),
            (0..20).map(|i| format!("country-{i}")).collect(),
        ];
        for labels in cases {
            let mut distribution = item("x", &vec![0.1; labels.len()], None);
            distribution.labels = labels.clone();
            let chart = charts(&draw(&[distribution]))[0].to_string();
            let texts = bin_label_texts(&chart);
            assert!(texts.len() >= labels.len().min(2), "{labels:?}: {texts:?}");
            // Ends of each label as estimated at the labels' font, and its row.
            let spans: Vec<(f64, f64, f64)> = texts
                .iter()
                .map(|(x, y, anchor, content)| {
                    let width = content.chars().count() as f64 * SMALL_CHAR;
                    let left = match anchor.as_str() {
                        "start" => *x,
                        "end" => x - width,
                        _ => x - width / 2.0,
                    };
                    (left, left + width, *y)
                })
                .collect();
            for (i, a) in spans.iter().enumerate() {
                assert!(a.0 >= 0.0 && a.1 <= WIDTH, "{labels:?}: {a:?} outside");
                for b in &spans[i + 1..] {
                    let apart = a.2 != b.2 || a.1 <= b.0 || b.1 <= a.0;
                    assert!(apart, "{labels:?}: {a:?} overlaps {b:?}");
                }
            }
            assert!(texts[0].3.starts_with(&labels[0][..1]), "first label drawn");
            if labels.len() > 1 {
                let last = &labels[labels.len() - 1];
                assert!(
                    texts
                        .iter()
                        .any(|t| last.starts_with(t.3.trim_end_matches('…')))
                );
            }
        }
        // Five long category names alternate on two rows, so that the shorter ones stay whole.
        let mut workclass = item("workclass", &[0.2; 5], None);
        workclass.labels = [
            "Private",
            "Self-emp-not-inc",
            "Local-gov",
            "State-gov",
            "Fed-gov",
        ]
        .map(String::from)
        .to_vec();
        let chart = charts(&draw(&[workclass]))[0].to_string();
        let texts = bin_label_texts(&chart);
        let shown: Vec<&str> = texts.iter().map(|t| t.3.as_str()).collect();
        assert_eq!(shown.len(), 5);
        for whole in ["Private", "Local-gov", "State-gov", "Fed-gov"] {
            assert!(shown.contains(&whole), "{whole} cut: {shown:?}");
        }
        let rows: Vec<f64> = texts.iter().map(|t| t.1).collect();
        assert!(
            rows[0] == rows[2] && rows[1] == rows[3] && rows[0] < rows[1],
            "{rows:?}"
        );
        // Short labels are all drawn whole, on one row.
        let chart = charts(&draw(&[item("x", &[0.1; 10], None)]))[0].to_string();
        let texts = bin_label_texts(&chart);
        assert_eq!(texts.len(), 10);
        assert!(
            texts
                .iter()
                .all(|t| t.1 == LABEL_BASELINE && !t.3.contains('…'))
        );
    }

    #[test]
    fn bad_shares_and_ragged_input_do_not_panic() {
        let broken = Distribution {
            name: "broken".to_string(),
            labels: vec!["a".to_string(), "b".to_string()],
            reference: vec![f64::NAN, -0.2, 0.5, 2.0, f64::INFINITY],
            current: Some(vec![0.3]),
            flagged: false,
            caption: String::new(),
        };
        let items = vec![
            broken,
            item("empty", &[], None),
            item("all missing", &[f64::NAN, f64::NAN], Some(&[])),
        ];
        let chart = draw(&items);
        let drawn = charts(&chart);
        assert_eq!(drawn.len(), 3);
        // Bin 0 keeps only its current bar, bin 1 a flat bar for the negative share, bin 3 a
        // bar clamped to 100%, and the infinite bin 4 none at all.
        let groups = bins(drawn[0]);
        assert_eq!(groups.len(), 4);
        let classes: Vec<Vec<&str>> = groups
            .iter()
            .map(|g| bars(g).iter().map(|b| b.0).collect())
            .collect();
        assert_eq!(
            classes,
            [vec!["cur"], vec!["ref"], vec!["ref"], vec!["ref"]]
        );
        assert_eq!(bars(groups[1])[0].3, 0.0);
        assert!((bars(groups[3])[0].3 - (BOTTOM - TOP)).abs() < 0.11);
        assert!(groups[0].contains("<title>a: training no value, serving 30.0%</title>"));
        for empty in &drawn[1..] {
            assert!(empty.contains(">No data</text>") && bins(empty).is_empty());
        }
        for bad in ["NaN", "inf", "-0."] {
            assert!(!chart.contains(bad), "{bad} in {chart}");
        }

        let report = Report {
            sections: vec![Section::Distributions {
                title: "Drift".to_string(),
                reference_label: "training".to_string(),
                current_label: "serving".to_string(),
                items,
            }],
            ..Report::default()
        };
        let page = render_html(&report);
        assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
        assert_eq!(page.matches("<svg").count(), 3);
        assert_eq!(page.matches("</svg>").count(), 3);
        assert_eq!(
            page.matches("<figure").count(),
            page.matches("</figure>").count()
        );
    }

    #[test]
    fn a_hundred_charts_stay_lean() {
        let shares: Vec<f64> = (0..30).map(|i| f64::from(i) / 435.0).collect();
        let mut items = Vec::new();
        for i in 0..100 {
            let mut distribution = item(&format!("feature_{i}"), &shares, Some(&shares));
            distribution.labels = (0..30).map(|b| format!("{b}.0–{}.0", b + 1)).collect();
            items.push(distribution);
        }
        let long = "/data/warehouse/exports/2026-11-27/serving-traffic-sample.parquet";
        let html = distributions((long, long), &items);
        assert_eq!(charts(&html).len(), 100);
        // About 260 bytes per bin (two bars and one tooltip) and 1.5 kB per chart, 0.95 MB in
        // all: nothing is drawn per pixel and the long names are not repeated whole.
        assert!(html.len() < 1_200_000, "{} bytes", html.len());
        assert!(
            html.contains(&format!("{}…", &long[..19])),
            "names cut in tooltips"
        );
    }
}
