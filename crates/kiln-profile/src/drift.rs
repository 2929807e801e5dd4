//! Drift and skew: per feature, whether its distribution moved between a reference profile
//! and a current one. The test is chosen by type and reference size as Evidently does: for a
//! reference of at most 1000 values, Kolmogorov-Smirnov (numbers), chi-squared (categories) or
//! a two-proportion z-test (two categories; chi-squared is the two-sample test of homogeneity), with p-values corrected for testing many features
//! at once; for larger references, the normed Wasserstein distance (numbers) or the
//! Jensen-Shannon distance (categories). The population stability index is reported always.

use crate::column::ColumnStats;
use crate::profile::Profile;
use crate::summary::{FeatureType, distinct, feature_type};
use kiln_data::Reading;
pub use kiln_stats::Correction;
use serde::{Deserialize, Serialize};

/// Categories compared by name when there are many; the rest are pooled as "other".
const CATEGORIES_COMPARED: usize = 50;
/// Equal-width bars in the drawn numeric distributions.
const DRAWN_BINS: usize = 20;
/// Quantile bins of the reference used by the population stability index.
const PSI_BINS: usize = 10;
/// Numeric columns with at most this many distinct values are compared as categories.
const FEW_VALUES: f64 = 5.0;

/// Settings of a drift comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriftOptions {
    /// Significance level of the p-value tests, after correction.
    pub alpha: f64,
    /// Correction for testing many features: none, bonferroni or fdr (Benjamini-Hochberg).
    pub correction: Correction,
    /// Distance above which a feature drifts (normed Wasserstein, Jensen-Shannon).
    pub distance_threshold: f64,
    /// Population stability index above which the index reports a shift.
    pub psi_threshold: f64,
    /// References with at most this many values get p-value tests; larger ones, distances.
    pub small_reference: u64,
}

impl Default for DriftOptions {
    fn default() -> Self {
        Self {
            alpha: 0.05,
            correction: Correction::BenjaminiHochberg,
            distance_threshold: 0.1,
            psi_threshold: 0.2,
            small_reference: 1000,
        }
    }
}

/// One test of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    /// ks, chi_squared, z_test, wasserstein, jensen_shannon or psi.
    pub test: String,
    /// The statistic or distance.
    pub statistic: f64,
    /// The p-value, for tests that have one.
    pub p_value: Option<f64>,
    /// The p-value after the multiple-testing correction.
    pub adjusted_p_value: Option<f64>,
    /// The threshold the verdict compares with (alpha for p-values).
    pub threshold: f64,
    /// Whether this test says the feature moved.
    pub drift: bool,
}

/// The two distributions of one feature, as shares per bar, for drawing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shares {
    /// Bar labels.
    pub labels: Vec<String>,
    /// Reference share per bar.
    pub reference: Vec<f64>,
    /// Current share per bar.
    pub current: Vec<f64>,
}

/// The verdict on one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    /// Column name.
    pub column: String,
    /// Its type in the reference.
    #[serde(rename = "type")]
    pub kind: FeatureType,
    /// The test chosen for it, whose verdict is the feature's.
    pub test: TestResult,
    /// The population stability index on the same feature.
    pub psi: Option<TestResult>,
    /// Whether the feature drifted.
    pub drift: bool,
    /// Its distributions, for the report.
    pub shares: Shares,
}

/// A column that was not tested, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    /// Column name.
    pub column: String,
    /// Why it was not tested.
    pub reason: String,
}

/// Drift of every comparable feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// Settings used.
    pub options: DriftOptions,
    /// Per-feature verdicts, in the current data's column order.
    pub features: Vec<FeatureDrift>,
    /// Columns not tested.
    pub skipped: Vec<Skipped>,
    /// Features that drifted.
    pub drifted: usize,
    /// Share of tested features that drifted.
    pub share_drifted: f64,
}

/// Compares every column present in both profiles.
pub fn compare(reference: &Profile, current: &Profile, options: &DriftOptions) -> DriftReport {
    let pairs: Vec<(&ColumnStats, &ColumnStats)> = current
        .columns
        .iter()
        .filter_map(|cur| Some((reference.column(&cur.name)?, cur)))
        .collect();
    // Columns are tested on all cores (exact distances sort every value): each thread takes the
    // next untested column, so one slow column does not hold back a fixed share.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<Result<FeatureDrift, String>>> = vec![None; pairs.len()];
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.min(pairs.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((r, c)) = pairs.get(i) else { break };
                        done.push((i, test_feature(r, c, options)));
                    }
                    done
                })
            })
            .collect();
        for handle in handles {
            for (i, result) in handle.join().expect("a drift test panicked") {
                results[i] = Some(result);
            }
        }
    });
    let results = results
        .into_iter()
        .map(|r| r.expect("every column was tested"));
    let mut features = Vec::new();
    let mut skipped = Vec::new();
    for ((_, cur), result) in pairs.iter().zip(results) {
        match result {
            Ok(f) => features.push(f),
            Err(reason) => skipped.push(Skipped {
                column: cur.name.clone(),
                reason,
            }),
        }
    }
    // Correct the p-values of all tests together, then give each verdict.
    let p_values: Vec<f64> = features.iter().filter_map(|f| f.test.p_value).collect();
    let mut adjusted = kiln_stats::adjust(&p_values, options.correction).into_iter();
    for f in &mut features {
        if f.test.p_value.is_some() {
            let adj = adjusted.next().unwrap_or(1.0);
            f.test.adjusted_p_value = Some(adj);
            f.test.drift = adj < options.alpha;
        }
        f.drift = f.test.drift;
    }
    let drifted = features.iter().filter(|f| f.drift).count();
    DriftReport {
        options: *options,
        share_drifted: if features.is_empty() {
            0.0
        } else {
            drifted as f64 / features.len() as f64
        },
        features,
        skipped,
        drifted,
    }
}

/// Tests one feature, or says why it cannot be tested.
fn test_feature(
    reference: &ColumnStats,
    current: &ColumnStats,
    options: &DriftOptions,
) -> Result<FeatureDrift, String> {
    if matches!(reference.reading, Reading::Dates(_)) {
        return Err(date_ranges(reference, current));
    }
    let kind = feature_type(reference);
    let ref_distinct = distinct(reference);
    match kind {
        FeatureType::Empty => return Err("no values in the reference".into()),
        FeatureType::Text => return Err("free text is not compared".into()),
        FeatureType::Categorical if ref_distinct.value > 0.95 * reference.present() as f64 => {
            return Err("identifier-like: nearly every value is distinct".into());
        }
        _ => {}
    }
    if current.present() == 0 {
        return Err("no values in the current data".into());
    }
    let numeric = kind == FeatureType::Numeric && ref_distinct.value > FEW_VALUES;
    let small = reference.present() <= options.small_reference;
    if numeric {
        numeric_drift(reference, current, kind, small, options)
    } else {
        categorical_drift(reference, current, kind, small, options)
    }
}

/// Why dates are not tested, with where each side's dates lie.
fn date_ranges(reference: &ColumnStats, current: &ColumnStats) -> String {
    let range = |c: &ColumnStats| match c.numbers {
        0 => "no dates".to_string(),
        _ => format!(
            "{} to {}",
            kiln_data::date::day_name(c.moments.min),
            kiln_data::date::day_name(c.moments.max)
        ),
    };
    format!(
        "dates are not tested (time moves on): {} here, {} in the reference",
        range(current),
        range(reference)
    )
}

fn numeric_drift(
    reference: &ColumnStats,
    current: &ColumnStats,
    kind: FeatureType,
    small: bool,
    options: &DriftOptions,
) -> Result<FeatureDrift, String> {
    // Every value where both profiles kept them (two tables compared), else the row samples.
    let (r, c) = (
        reference.comparable_values().0,
        current.comparable_values().0,
    );
    if r.is_empty() || c.is_empty() {
        return Err("no numbers to compare".into());
    }
    let test = if small {
        let outcome = kiln_stats::ks_two_sample(&r, &c).ok_or("the KS test failed")?;
        p_test("ks", outcome.statistic, outcome.p_value, options)
    } else {
        let d = kiln_stats::wasserstein_normed(&r, &c).ok_or("no Wasserstein distance")?;
        distance_test("wasserstein", d, options.distance_threshold)
    };
    let edges = kiln_stats::quantile_edges(&r, PSI_BINS);
    let psi = kiln_stats::psi(
        &kiln_stats::bin_counts(&r, &edges),
        &kiln_stats::bin_counts(&c, &edges),
    )
    .map(|v| distance_test("psi", v, options.psi_threshold));
    Ok(FeatureDrift {
        column: current.name.clone(),
        kind,
        drift: test.drift,
        test,
        psi,
        shares: numeric_shares(&r, &c),
    })
}

/// Equal-width bars over both samples' range.
fn numeric_shares(r: &[f64], c: &[f64]) -> Shares {
    let lo = r.iter().chain(c).copied().fold(f64::INFINITY, f64::min);
    let hi = r.iter().chain(c).copied().fold(f64::NEG_INFINITY, f64::max);
    let width = if hi > lo {
        (hi - lo) / DRAWN_BINS as f64
    } else {
        1.0
    };
    let share = |xs: &[f64]| {
        let mut counts = [0.0; DRAWN_BINS];
        for x in xs {
            counts[(((x - lo) / width) as usize).min(DRAWN_BINS - 1)] += 1.0;
        }
        counts.iter().map(|n| n / xs.len() as f64).collect()
    };
    Shares {
        labels: (0..DRAWN_BINS)
            .map(|i| format!("{:.3}", lo + width * i as f64))
            .collect(),
        reference: share(r),
        current: share(c),
    }
}

fn categorical_drift(
    reference: &ColumnStats,
    current: &ColumnStats,
    kind: FeatureType,
    small: bool,
    options: &DriftOptions,
) -> Result<FeatureDrift, String> {
    let (labels, r, c) = aligned_counts(reference, current);
    if r.iter().sum::<f64>() == 0.0 || c.iter().sum::<f64>() == 0.0 {
        return Err("no categories to compare".into());
    }
    let reference_levels = r.iter().filter(|n| **n > 0.0).count();
    let new_levels = r.iter().zip(&c).any(|(a, b)| *a == 0.0 && *b > 0.0);
    let test = if small && reference_levels == 2 && !new_levels {
        let first = r.iter().position(|n| *n > 0.0).unwrap_or(0);
        let (rn, cn) = (r.iter().sum::<f64>() as u64, c.iter().sum::<f64>() as u64);
        let outcome = kiln_stats::z_test_proportions(r[first] as u64, rn, c[first] as u64, cn)
            .ok_or("the z-test failed")?;
        p_test("z_test", outcome.statistic, outcome.p_value, options)
    } else if small {
        let outcome =
            kiln_stats::chi_squared_homogeneity(&r, &c).ok_or("the chi-squared test failed")?;
        p_test("chi_squared", outcome.statistic, outcome.p_value, options)
    } else {
        let d = kiln_stats::jensen_shannon(&r, &c).ok_or("no Jensen-Shannon distance")?;
        distance_test("jensen_shannon", d, options.distance_threshold)
    };
    let psi = kiln_stats::psi(&r, &c).map(|v| distance_test("psi", v, options.psi_threshold));
    let total = |xs: &[f64]| xs.iter().sum::<f64>().max(1.0);
    let (rt, ct) = (total(&r), total(&c));
    Ok(FeatureDrift {
        column: current.name.clone(),
        kind,
        drift: test.drift,
        test,
        psi,
        shares: Shares {
            labels,
            reference: r.iter().map(|n| n / rt).collect(),
            current: c.iter().map(|n| n / ct).collect(),
        },
    })
}

/// Counts per category in both data sets, over the union of their categories (the most
/// frequent ones when there are many, the rest pooled as "(other)").
fn aligned_counts(
    reference: &ColumnStats,
    current: &ColumnStats,
) -> (Vec<String>, Vec<f64>, Vec<f64>) {
    let limit = CATEGORIES_COMPARED;
    let (r_top, _) = reference.top_values(usize::MAX);
    let (c_top, _) = current.top_values(usize::MAX);
    let mut labels: Vec<String> = r_top.iter().take(limit).map(|(v, _)| v.clone()).collect();
    for (v, _) in c_top.iter().take(limit) {
        if !labels.contains(v) {
            labels.push(v.clone());
        }
    }
    let count_in = |top: &[(String, u64)], present: u64| {
        let mut counts: Vec<f64> = labels
            .iter()
            .map(|l| {
                top.iter()
                    .find(|(v, _)| v == l)
                    .map_or(0.0, |(_, n)| *n as f64)
            })
            .collect();
        let listed: f64 = counts.iter().sum();
        counts.push((present as f64 - listed).max(0.0));
        counts
    };
    let mut r = count_in(&r_top, reference.numbers + reference.texts);
    let mut c = count_in(&c_top, current.numbers + current.texts);
    if r.last() == Some(&0.0) && c.last() == Some(&0.0) {
        r.pop();
        c.pop();
    } else {
        labels.push("(other)".into());
    }
    (labels, r, c)
}

fn p_test(name: &str, statistic: f64, p_value: f64, options: &DriftOptions) -> TestResult {
    TestResult {
        test: name.into(),
        statistic,
        p_value: Some(p_value),
        adjusted_p_value: None,
        threshold: options.alpha,
        drift: p_value < options.alpha,
    }
}

fn distance_test(name: &str, distance: f64, threshold: f64) -> TestResult {
    TestResult {
        test: name.into(),
        statistic: distance,
        p_value: None,
        adjusted_p_value: None,
        threshold,
        drift: distance > threshold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Checks;
    use crate::profile::{ProfileOptions, profile_file};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::io::Write;

    /// A profile of `rows` rows of 20 numeric features and 2 categorical ones, with the
    /// numbers shifted by `shift` in feature 0.
    fn profile(rows: usize, seed: u64, shift: f64) -> Profile {
        profile_with(rows, seed, shift, &ProfileOptions::default())
    }

    fn profile_with(rows: usize, seed: u64, shift: f64, options: &ProfileOptions) -> Profile {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut text = (0..20)
            .map(|i| format!("x{i}"))
            .collect::<Vec<_>>()
            .join(",");
        text += ",c1,c2\n";
        for _ in 0..rows {
            for i in 0..20 {
                let v: f64 = rng.random::<f64>() + rng.random::<f64>() + rng.random::<f64>();
                text += &format!("{},", v + if i == 0 { shift } else { 0.0 });
            }
            let c1 = ["a", "b", "c", "d"][rng.random_range(0..4)];
            let c2 = ["yes", "no"][rng.random_range(0..2)];
            text += &format!("{c1},{c2}\n");
        }
        let mut f = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        profile_file(f.path(), options, &Checks::default(), &mut |_| {})
            .unwrap()
            .profile
    }

    #[test]
    fn two_tables_are_compared_on_every_value_not_the_sample() {
        let keep = ProfileOptions {
            keep_values: true,
            chunk_rows: 1000,
            ..ProfileOptions::default()
        };
        let (r, c) = (
            profile_with(9000, 1, 0.0, &keep),
            profile_with(6000, 2, 0.05, &keep),
        );
        let (values, all) = r.columns[0].comparable_values();
        assert!(
            all && values.len() == 9000,
            "every value kept across chunks"
        );
        let exact = kiln_stats::wasserstein_normed(
            &r.columns[0]
                .values
                .as_ref()
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            &c.columns[0]
                .values
                .as_ref()
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let options = DriftOptions::default();
        let report = compare(&r, &c, &options);
        assert_eq!(report.features[0].test.test, "wasserstein");
        // Equal but for the order in which the reference's spread is summed.
        assert!((report.features[0].test.statistic - exact).abs() < 1e-12 * exact);
        // Profiles without the values (as stored) fall back to their 4,096-row samples.
        let (rs, cs) = (profile(9000, 1, 0.0), profile(6000, 2, 0.05));
        assert!(rs.columns[0].values.is_none());
        let sampled = compare(&rs, &cs, &options).features[0].test.statistic;
        assert_ne!(sampled, exact);
    }

    #[test]
    fn the_correction_keeps_clean_samples_quiet_and_a_shift_is_found() {
        // Twenty clean pairs of 22 features: with the false-discovery correction about 5% of
        // pairs should raise any alarm; without it, about 1 - 0.95^22 = 68% would.
        let pairs: Vec<(Profile, Profile)> = (0..20)
            .map(|s| (profile(400, 100 + s, 0.0), profile(300, 200 + s, 0.0)))
            .collect();
        let alarms = |correction| {
            let options = DriftOptions {
                correction,
                ..DriftOptions::default()
            };
            pairs
                .iter()
                .filter(|(r, c)| compare(r, c, &options).drifted > 0)
                .count()
        };
        let corrected = alarms(Correction::BenjaminiHochberg);
        let uncorrected = alarms(Correction::None);
        assert!(
            corrected <= 3,
            "{corrected} of 20 clean pairs raised an alarm"
        );
        assert!(uncorrected >= 8, "only {uncorrected} uncorrected alarms");
        let options = DriftOptions::default();
        let shifted = compare(&profile(400, 1, 0.0), &profile(300, 2, 0.5), &options);
        let drifted: Vec<&str> = shifted
            .features
            .iter()
            .filter(|f| f.drift)
            .map(|f| f.column.as_str())
            .collect();
        assert_eq!(drifted, ["x0"]);
        assert_eq!(shifted.features[0].test.test, "ks");
        assert_eq!(shifted.features[20].test.test, "chi_squared");
        assert_eq!(shifted.features[21].test.test, "z_test");
    }

    #[test]
    fn large_references_use_distances() {
        let report = compare(
            &profile(1500, 1, 0.0),
            &profile(1500, 2, 1.0),
            &DriftOptions::default(),
        );
        assert_eq!(report.features[0].test.test, "wasserstein");
        assert!(report.features[0].drift);
        assert_eq!(report.features[20].test.test, "jensen_shannon");
        assert!(!report.features[20].drift);
        assert!(report.features.iter().all(|f| f.psi.is_some()));
    }
}
