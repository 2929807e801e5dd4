//! HTML reports of a profile and of a validation, built from the shared report sections.

use crate::drift::DriftReport;
use crate::profile::Profile;
use crate::summary::{ColumnSummary, FeatureType, summarize};
use crate::validate::{Anomaly, Severity};
use kiln_report::{Distribution, Report, Section};

/// Categories drawn per column, at most.
const DRAWN_CATEGORIES: usize = 20;

/// The outcome of validating one data set.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Validation {
    /// The data validated.
    pub data: String,
    /// The schema file, if one was given.
    pub schema: Option<String>,
    /// The reference, if one was given.
    pub reference: Option<String>,
    /// Rows validated.
    pub rows: u64,
    /// Whether no error-level anomaly was found.
    pub passed: bool,
    /// Error-level anomalies.
    pub errors: usize,
    /// Warning-level anomalies.
    pub warnings: usize,
    /// Everything found, errors first.
    pub anomalies: Vec<Anomaly>,
    /// Drift against the reference.
    pub drift: Option<DriftReport>,
}

fn fmt(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{v:.3e}")
    } else {
        format!("{:.4}", v)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// A column's own distribution as bar shares.
fn distribution(c: &ColumnSummary) -> Option<Distribution> {
    let (labels, shares): (Vec<String>, Vec<f64>) = match (&c.numeric, c.kind) {
        (Some(n), FeatureType::Numeric) => {
            let total: f64 = n.histogram.counts.iter().sum::<f64>().max(1.0);
            n.histogram
                .edges
                .iter()
                .zip(&n.histogram.counts)
                .map(|(e, k)| (fmt(*e), k / total))
                .unzip()
        }
        _ if !c.top.is_empty() => {
            let total = (c.count - c.missing).max(1) as f64;
            c.top
                .iter()
                .take(DRAWN_CATEGORIES)
                .map(|t| (t.value.clone(), t.count as f64 / total))
                .unzip()
        }
        _ => return None,
    };
    Some(Distribution {
        name: c.name.clone(),
        labels,
        reference: shares,
        current: None,
        flagged: false,
        caption: format!("{} · {:.1}% missing", c.kind, c.missing_rate * 100.0),
    })
}

/// The report of a profile: overview, a table of columns, and every column's distribution.
pub fn profile_report(profile: &Profile, subtitle: &str) -> Report {
    let summary = summarize(profile);
    let rows = summary
        .columns
        .iter()
        .map(|c| {
            let n = c.numeric.as_ref();
            vec![
                c.name.clone(),
                c.kind.to_string(),
                format!("{:.1}%", c.missing_rate * 100.0),
                format!(
                    "{}{}",
                    if c.distinct.exact { "" } else { "≈" },
                    c.distinct.value
                ),
                n.map_or("".into(), |n| fmt(n.min)),
                n.map_or("".into(), |n| fmt(n.mean)),
                n.map_or("".into(), |n| fmt(n.quantiles[4].1)),
                n.map_or("".into(), |n| fmt(n.max)),
                n.and_then(|n| n.std).map_or("".into(), fmt),
                c.top
                    .iter()
                    .take(3)
                    .map(|t| format!("{} ({})", t.value, t.count))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    Report {
        title: format!("kiln profile: {}", profile.source),
        subtitle: subtitle.into(),
        sections: vec![
            Section::KeyValues {
                title: "Data".into(),
                rows: vec![
                    ("file".into(), profile.source.clone()),
                    ("rows".into(), profile.rows.to_string()),
                    ("columns".into(), profile.columns.len().to_string()),
                    (
                        "duplicate rows".into(),
                        format!(
                            "{}{}",
                            profile.duplicate_rows,
                            if profile.duplicates_exact {
                                ""
                            } else {
                                " (at least)"
                            }
                        ),
                    ),
                ],
            },
            Section::Table {
                title: "Columns".into(),
                header: [
                    "column",
                    "type",
                    "missing",
                    "distinct",
                    "min",
                    "mean",
                    "median",
                    "max",
                    "std",
                    "top values",
                ]
                .map(String::from)
                .to_vec(),
                rows,
            },
            Section::Distributions {
                title: "Distributions".into(),
                reference_label: profile.source.clone(),
                current_label: String::new(),
                items: summary.columns.iter().filter_map(distribution).collect(),
            },
        ],
    }
}

/// The report of a validation: verdict, anomalies, drift tests and the distributions of the
/// reference and current data side by side, drifted features first.
pub fn validation_report(v: &Validation, subtitle: &str) -> Report {
    let mut overview = vec![
        ("data".into(), v.data.clone()),
        ("rows".into(), v.rows.to_string()),
        (
            "verdict".into(),
            if v.passed { "passed" } else { "FAILED" }.into(),
        ),
        ("errors".into(), v.errors.to_string()),
        ("warnings".into(), v.warnings.to_string()),
    ];
    if let Some(s) = &v.schema {
        overview.insert(1, ("schema".into(), s.clone()));
    }
    if let Some(r) = &v.reference {
        overview.insert(1, ("reference".into(), r.clone()));
    }
    let mut sections = vec![Section::KeyValues {
        title: "Validation".into(),
        rows: overview,
    }];
    sections.push(Section::Table {
        title: "Anomalies".into(),
        header: ["severity", "column", "kind", "count", "first line", "what"]
            .map(String::from)
            .to_vec(),
        rows: v
            .anomalies
            .iter()
            .map(|a| {
                vec![
                    match a.severity {
                        Severity::Error => "error".into(),
                        Severity::Warning => "warning".into(),
                    },
                    a.column.clone().unwrap_or_default(),
                    serde_json::to_value(a.kind)
                        .ok()
                        .and_then(|k| k.as_str().map(String::from))
                        .unwrap_or_default(),
                    a.count.map_or(String::new(), |c| c.to_string()),
                    a.example
                        .as_ref()
                        .map_or(String::new(), |e| e.line.to_string()),
                    a.message.clone(),
                ]
            })
            .collect(),
    });
    if let Some(drift) = &v.drift {
        sections.push(Section::Table {
            title: format!(
                "Drift: {} of {} features moved (p-values corrected: {:?}, alpha {})",
                drift.drifted,
                drift.features.len(),
                drift.options.correction,
                drift.options.alpha
            ),
            header: [
                "column",
                "type",
                "test",
                "statistic",
                "p-value",
                "adjusted p",
                "threshold",
                "verdict",
                "PSI",
            ]
            .map(String::from)
            .to_vec(),
            rows: drift
                .features
                .iter()
                .map(|f| {
                    vec![
                        f.column.clone(),
                        f.kind.to_string(),
                        f.test.test.clone(),
                        fmt(f.test.statistic),
                        f.test.p_value.map_or("".into(), fmt),
                        f.test.adjusted_p_value.map_or("".into(), fmt),
                        fmt(f.test.threshold),
                        if f.drift { "drift" } else { "ok" }.into(),
                        f.psi.as_ref().map_or("".into(), |p| fmt(p.statistic)),
                    ]
                })
                .collect(),
        });
        let mut items: Vec<&crate::drift::FeatureDrift> = drift.features.iter().collect();
        items.sort_by_key(|f| !f.drift);
        sections.push(Section::Distributions {
            title: "Reference and current distributions".into(),
            reference_label: v.reference.clone().unwrap_or_else(|| "reference".into()),
            current_label: v.data.clone(),
            items: items
                .into_iter()
                .map(|f| Distribution {
                    name: f.column.clone(),
                    labels: f.shares.labels.clone(),
                    reference: f.shares.reference.clone(),
                    current: Some(f.shares.current.clone()),
                    flagged: f.drift,
                    caption: format!(
                        "{} {}{} · {}",
                        f.test.test,
                        fmt(f.test.statistic),
                        f.test
                            .adjusted_p_value
                            .map_or(String::new(), |p| format!(", p = {}", fmt(p))),
                        if f.drift { "drift" } else { "no drift" }
                    ),
                })
                .collect(),
        });
    }
    Report {
        title: format!("kiln validate: {}", v.data),
        subtitle: subtitle.into(),
        sections,
    }
}
