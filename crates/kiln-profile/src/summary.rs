//! The readable face of a profile: per column its type, counts, distinct values, numeric
//! statistics with quantiles and a histogram, top values and text lengths.

use crate::column::ColumnStats;
use crate::profile::Profile;
use crate::sketch::QUANTILE_RELATIVE_ERROR;
use kiln_data::Reading;
use serde::{Deserialize, Serialize};

/// Values listed in a column's top values.
const TOP_VALUES: usize = 10;
/// Bars in a numeric histogram, at most.
const HISTOGRAM_BINS: usize = 20;
/// Quantile ranks reported.
pub const QUANTILE_RANKS: [f64; 9] = [0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0];
/// Share of numbers among present cells from which a column counts as numeric (as training).
const NUMERIC_SHARE: f64 = 0.9;

/// What a column holds, as the profile sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureType {
    /// Numbers (possibly with a few stray text cells, which validation reports).
    Numeric,
    /// A set of labels.
    Categorical,
    /// Exactly two labels.
    Boolean,
    /// Long, mostly distinct strings.
    Text,
    /// No value at all.
    Empty,
}

impl std::fmt::Display for FeatureType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = serde_json::to_value(self).expect("a unit variant");
        f.write_str(name.as_str().unwrap_or("?"))
    }
}

/// The type of a column from its cells.
pub fn feature_type(c: &ColumnStats) -> FeatureType {
    let present = c.present();
    if present == 0 {
        return FeatureType::Empty;
    }
    if (c.numbers + c.non_finite) as f64 >= NUMERIC_SHARE * present as f64 {
        return FeatureType::Numeric;
    }
    let distinct = distinct(c).value;
    if distinct <= 2.0 {
        FeatureType::Boolean
    } else if c.text_length.mean > 30.0 && distinct > 0.5 * present as f64 {
        FeatureType::Text
    } else {
        FeatureType::Categorical
    }
}

/// A count of distinct values: exact, or an estimate with 95% bounds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DistinctCount {
    /// The count or its estimate.
    pub value: f64,
    /// Whether it is exact.
    pub exact: bool,
    /// Lower 95% bound.
    pub lower: f64,
    /// Upper 95% bound.
    pub upper: f64,
}

/// Distinct non-missing values of a column.
pub fn distinct(c: &ColumnStats) -> DistinctCount {
    match &c.counts {
        Some(counts) => {
            let n = counts.len() as f64 + if c.non_finite > 0 { 1.0 } else { 0.0 };
            DistinctCount {
                value: n,
                exact: true,
                lower: n,
                upper: n,
            }
        }
        None => {
            let (value, lower, upper) = c.distinct.estimate();
            DistinctCount {
                value: value.round(),
                exact: false,
                lower: lower.floor(),
                upper: upper.ceil(),
            }
        }
    }
}

/// Bars of equal width between the smallest and largest value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Bar edges, one more than the counts.
    pub edges: Vec<f64>,
    /// Values per bar (estimated from the quantile sketch unless `exact`).
    pub counts: Vec<f64>,
    /// Whether counts are exact (few distinct values) or estimated.
    pub exact: bool,
}

/// Statistics of a column's numeric cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericSummary {
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1).
    pub std: Option<f64>,
    /// (rank, value) pairs at [`QUANTILE_RANKS`].
    pub quantiles: Vec<(f64, f64)>,
    /// Each quantile lies within this relative distance of a true value of its rank.
    pub quantile_relative_error: f64,
    /// Distribution.
    pub histogram: Histogram,
}

/// A frequent value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopValue {
    /// The value as written.
    pub value: String,
    /// Rows holding it.
    pub count: u64,
}

/// Lengths of text cells, in characters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LengthSummary {
    /// Shortest.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Longest.
    pub max: f64,
}

/// Everything a person wants to know about one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSummary {
    /// Column name.
    pub name: String,
    /// Inferred type.
    #[serde(rename = "type")]
    pub kind: FeatureType,
    /// Cells.
    pub count: u64,
    /// Missing cells.
    pub missing: u64,
    /// Missing share.
    pub missing_rate: f64,
    /// Distinct non-missing values.
    pub distinct: DistinctCount,
    /// Text cells in a numeric column.
    pub text_cells: u64,
    /// NaN or infinite cells.
    pub non_finite: u64,
    /// Numeric statistics, if the column has numbers.
    pub numeric: Option<NumericSummary>,
    /// Most frequent values.
    pub top: Vec<TopValue>,
    /// Whether the top counts are exact.
    pub top_exact: bool,
    /// Text lengths, if the column has text.
    pub text_length: Option<LengthSummary>,
    /// How the column's text was read (formatted numbers, or dates as days since 1970).
    #[serde(default, skip_serializing_if = "Reading::is_as_written")]
    pub reading: Reading,
}

/// The summary of a whole profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    /// Where the data came from.
    pub source: String,
    /// Data rows.
    pub rows: u64,
    /// Rows identical to an earlier one.
    pub duplicate_rows: u64,
    /// Whether the duplicate count is exact.
    pub duplicates_exact: bool,
    /// One summary per column.
    pub columns: Vec<ColumnSummary>,
}

/// Summarises every column of `profile`.
pub fn summarize(profile: &Profile) -> DatasetSummary {
    DatasetSummary {
        source: profile.source.clone(),
        rows: profile.rows,
        duplicate_rows: profile.duplicate_rows,
        duplicates_exact: profile.duplicates_exact,
        columns: profile.columns.iter().map(summarize_column).collect(),
    }
}

/// Summarises one column.
pub fn summarize_column(c: &ColumnStats) -> ColumnSummary {
    let kind = feature_type(c);
    let count = c.count();
    let sketch = c.quantiles();
    let numeric = (c.numbers > 0).then(|| NumericSummary {
        min: c.moments.min,
        max: c.moments.max,
        mean: c.moments.mean,
        std: c.moments.std(),
        quantiles: QUANTILE_RANKS
            .iter()
            .map(|&q| (q, sketch.quantile(q).unwrap_or(f64::NAN)))
            .collect(),
        quantile_relative_error: QUANTILE_RELATIVE_ERROR,
        histogram: histogram(c),
    });
    let (top, top_exact) = c.top_values(TOP_VALUES);
    ColumnSummary {
        name: c.name.clone(),
        kind,
        count,
        missing: c.missing,
        missing_rate: if count == 0 {
            0.0
        } else {
            c.missing as f64 / count as f64
        },
        distinct: distinct(c),
        text_cells: if kind == FeatureType::Numeric {
            c.texts
        } else {
            0
        },
        non_finite: c.non_finite,
        numeric,
        top: top
            .into_iter()
            .map(|(value, count)| TopValue { value, count })
            .collect(),
        top_exact,
        text_length: (c.texts > 0).then_some(LengthSummary {
            min: c.text_length.min,
            mean: c.text_length.mean,
            max: c.text_length.max,
        }),
        reading: c.reading.clone(),
    }
}

/// An equal-width histogram of the numeric cells: exact from value counts when there are few
/// distinct values, else from the quantile sketch at 0.5% rank steps.
pub fn histogram(c: &ColumnStats) -> Histogram {
    let (lo, hi) = (c.moments.min, c.moments.max);
    let exact_values = c.counts.as_ref().map(|counts| counts.numbers());
    let distinct_numbers = exact_values.as_ref().map(|v| v.len());
    let bins = distinct_numbers
        .unwrap_or(HISTOGRAM_BINS)
        .clamp(1, HISTOGRAM_BINS);
    let width = if hi > lo {
        (hi - lo) / bins as f64
    } else {
        1.0
    };
    let edges: Vec<f64> = (0..=bins).map(|i| lo + width * i as f64).collect();
    let bin_of = |v: f64| (((v - lo) / width) as usize).min(bins - 1);
    let mut counts = vec![0.0; bins];
    match exact_values {
        Some(values) => {
            for (v, n) in values {
                counts[bin_of(v)] += n as f64;
            }
        }
        None => {
            const STEPS: usize = 200;
            let sketch = c.quantiles();
            let share = c.numbers as f64 / STEPS as f64;
            for i in 0..STEPS {
                let q = (i as f64 + 0.5) / STEPS as f64;
                if let Some(v) = sketch.quantile(q) {
                    counts[bin_of(v.clamp(lo, hi))] += share;
                }
            }
        }
    }
    Histogram {
        edges,
        counts,
        exact: distinct_numbers.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(cells: &[&str]) -> ColumnStats {
        let mut c = ColumnStats::new("x");
        for (i, cell) in cells.iter().enumerate() {
            c.add(cell, i as u64 + 2, None);
        }
        c
    }

    #[test]
    fn types_follow_the_cells() {
        assert_eq!(feature_type(&column(&["1", "2", ""])), FeatureType::Numeric);
        assert_eq!(
            feature_type(&column(&["a", "b", "a"])),
            FeatureType::Boolean
        );
        assert_eq!(
            feature_type(&column(&["a", "b", "c"])),
            FeatureType::Categorical
        );
        assert_eq!(feature_type(&column(&["", "NA"])), FeatureType::Empty);
        let long: Vec<String> = (0..5)
            .map(|i| format!("a long free-text sentence number {i} about nothing"))
            .collect();
        let refs: Vec<&str> = long.iter().map(|s| s.as_str()).collect();
        assert_eq!(feature_type(&column(&refs)), FeatureType::Text);
    }

    #[test]
    fn summary_counts_and_exact_histogram() {
        let s = summarize_column(&column(&["1", "2", "2", "", "3"]));
        assert_eq!((s.count, s.missing, s.distinct.value), (5, 1, 3.0));
        assert!(s.distinct.exact);
        let n = s.numeric.unwrap();
        assert_eq!((n.min, n.max, n.mean), (1.0, 3.0, 2.0));
        assert!(n.histogram.exact);
        assert_eq!(n.histogram.counts, vec![1.0, 2.0, 1.0]);
        assert_eq!(s.top[0].value, "2");
    }

    #[test]
    fn sketched_histogram_sums_to_the_count() {
        let cells: Vec<String> = (0..5000).map(|i| format!("{}", i as f64 * 0.5)).collect();
        let refs: Vec<&str> = cells.iter().map(|s| s.as_str()).collect();
        let h = histogram(&column(&refs));
        assert!(!h.exact);
        assert_eq!(h.counts.len(), HISTOGRAM_BINS);
        assert!((h.counts.iter().sum::<f64>() - 5000.0).abs() < 1e-6);
        // Uniform data: every bar holds about a twentieth.
        assert!(h.counts.iter().all(|c| (c - 250.0).abs() <= 62.5), "{h:?}");
    }
}
