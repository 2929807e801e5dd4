//! Tests for categorical and binary columns: Pearson's chi-squared goodness of fit, the
//! chi-squared drift test on per-category counts that Evidently uses, and the pooled
//! two-proportion z-test that Evidently uses for binary columns.

use statrs::distribution::{ChiSquared, ContinuousCDF};

use crate::TestOutcome;

/// Pseudo-count added to every reference cell when some category is missing from the reference.
pub const NEW_CATEGORY_PSEUDO_COUNT: f64 = 0.5;

/// Pearson's chi-squared goodness-of-fit test, as `scipy.stats.chisquare(observed, expected)` with `k - 1` degrees of freedom.
///
/// scipy refuses frequencies whose totals differ; here `expected` is first rescaled to
/// `observed`'s total, so it may be given as proportions or as counts on another scale.
/// Returns `None` when the lengths differ, there are fewer than two cells, a value is not
/// finite, an observed count is negative, an expected value is `<= 0`, or the observed total
/// is zero (or either total overflows).
pub fn chi_squared(observed: &[f64], expected: &[f64]) -> Option<TestOutcome> {
    let k = observed.len();
    if k != expected.len() || k < 2 {
        return None;
    }
    if observed.iter().any(|&o| !o.is_finite() || o < 0.0)
        || expected.iter().any(|&e| !e.is_finite() || e <= 0.0)
    {
        return None;
    }
    let observed_total: f64 = observed.iter().sum();
    let expected_total: f64 = expected.iter().sum();
    if observed_total <= 0.0 || !observed_total.is_finite() || !expected_total.is_finite() {
        return None;
    }
    let scale = observed_total / expected_total;
    let statistic: f64 = observed
        .iter()
        .zip(expected)
        .map(|(&o, &e)| {
            let e = e * scale;
            (o - e) * (o - e) / e
        })
        .sum();
    let p_value = ChiSquared::new((k - 1) as f64).ok()?.sf(statistic);
    Some(TestOutcome { statistic, p_value })
}

/// Chi-squared drift test on aligned per-category counts (same category order in both), as Evidently's `chi_square` stattest: expected = reference proportions × current total.
///
/// * Categories with a zero count in both samples are dropped (they carry no information;
///   Evidently never sees them because it builds the categories from the data).
/// * A category present in `current` but absent from `reference` would make its expected
///   count zero and the statistic infinite. Instead, when any remaining reference count is
///   zero, [`NEW_CATEGORY_PSEUDO_COUNT`] (0.5) is added to every remaining reference cell,
///   so a new category shows up as a large but finite statistic.
/// * When a single category remains (both samples hold the same one value) the column cannot
///   have drifted: the outcome is statistic 0 and p-value 1 (Evidently's z-test makes the
///   same call for constant binary columns).
///
/// The result is then [`chi_squared`]`(current, expected)`. Returns `None` when the lengths
/// differ, a count is negative or not finite, or either total is zero.
pub fn chi_squared_counts(reference: &[f64], current: &[f64]) -> Option<TestOutcome> {
    if reference.len() != current.len()
        || reference
            .iter()
            .chain(current)
            .any(|&c| !c.is_finite() || c < 0.0)
    {
        return None;
    }
    let (mut kept_reference, kept_current): (Vec<f64>, Vec<f64>) = reference
        .iter()
        .zip(current)
        .filter(|&(&r, &c)| r > 0.0 || c > 0.0)
        .map(|(&r, &c)| (r, c))
        .unzip();
    let reference_total: f64 = kept_reference.iter().sum();
    let current_total: f64 = kept_current.iter().sum();
    if reference_total <= 0.0 || current_total <= 0.0 {
        return None;
    }
    if kept_reference.len() == 1 {
        return Some(TestOutcome {
            statistic: 0.0,
            p_value: 1.0,
        });
    }
    if kept_reference.contains(&0.0) {
        for r in &mut kept_reference {
            *r += NEW_CATEGORY_PSEUDO_COUNT;
        }
    }
    let reference_total: f64 = kept_reference.iter().sum();
    let expected: Vec<f64> = kept_reference
        .iter()
        .map(|r| r / reference_total * current_total)
        .collect();
    chi_squared(&kept_current, &expected)
}

/// Pooled two-proportion z-test, two-sided, as statsmodels' `proportions_ztest([ref_successes, cur_successes], [ref_n, cur_n])` and Evidently's `z` stattest.
///
/// The statistic is `(p_ref - p_cur) / sqrt(p (1 - p) (1/ref_n + 1/cur_n))` with the pooled
/// proportion `p`, and the p-value `2 P(Z >= |z|)`. When `p` is 0 or 1 both samples are the
/// same constant and the outcome is statistic 0, p-value 1 (Evidently's rule; statsmodels
/// would divide 0 by 0). Returns `None` when a sample is empty or has more successes than
/// trials.
pub fn z_test_proportions(
    ref_successes: u64,
    ref_n: u64,
    cur_successes: u64,
    cur_n: u64,
) -> Option<TestOutcome> {
    if ref_n == 0 || cur_n == 0 || ref_successes > ref_n || cur_successes > cur_n {
        return None;
    }
    let (rs, rn, cs, cn) = (
        ref_successes as f64,
        ref_n as f64,
        cur_successes as f64,
        cur_n as f64,
    );
    let pooled = (rs + cs) / (rn + cn);
    let variance = pooled * (1.0 - pooled) * (1.0 / rn + 1.0 / cn);
    if variance <= 0.0 {
        return Some(TestOutcome {
            statistic: 0.0,
            p_value: 1.0,
        });
    }
    let statistic = (rs / rn - cs / cn) / variance.sqrt();
    // 2 P(Z >= |z|) = P(chi2_1 >= z^2); statrs' incomplete gamma is accurate to ~1e-15
    // relative here, its erfc only to ~1e-10.
    let p_value = ChiSquared::new(1.0).ok()?.sf(statistic * statistic);
    Some(TestOutcome {
        statistic,
        p_value: p_value.clamp(0.0, 1.0),
    })
}

/// Two-sample chi-squared test of homogeneity on aligned per-category counts, as
/// `scipy.stats.chi2_contingency([reference, current], correction=False)`: the 2 × k table's
/// expected counts come from both samples' margins, so the reference's own sampling noise is
/// counted (the goodness-of-fit form in [`chi_squared_counts`] takes the reference's
/// proportions as exact, which raises false alarms when the reference is small).
///
/// Categories with a zero count in both samples are dropped; with one category left the
/// outcome is statistic 0 and p-value 1. Returns `None` when the lengths differ, a count is
/// negative or not finite, or either total is zero.
pub fn chi_squared_homogeneity(reference: &[f64], current: &[f64]) -> Option<TestOutcome> {
    if reference.len() != current.len()
        || reference
            .iter()
            .chain(current)
            .any(|&c| !c.is_finite() || c < 0.0)
    {
        return None;
    }
    let kept: Vec<(f64, f64)> = reference
        .iter()
        .zip(current)
        .filter(|&(&r, &c)| r > 0.0 || c > 0.0)
        .map(|(&r, &c)| (r, c))
        .collect();
    let reference_total: f64 = kept.iter().map(|k| k.0).sum();
    let current_total: f64 = kept.iter().map(|k| k.1).sum();
    if reference_total <= 0.0 || current_total <= 0.0 {
        return None;
    }
    if kept.len() == 1 {
        return Some(TestOutcome {
            statistic: 0.0,
            p_value: 1.0,
        });
    }
    let total = reference_total + current_total;
    let statistic: f64 = kept
        .iter()
        .map(|&(r, c)| {
            let column = r + c;
            let (er, ec) = (
                column * reference_total / total,
                column * current_total / total,
            );
            (r - er) * (r - er) / er + (c - ec) * (c - ec) / ec
        })
        .sum();
    let p_value = ChiSquared::new((kept.len() - 1) as f64).ok()?.sf(statistic);
    Some(TestOutcome { statistic, p_value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chi_squared_rejects_bad_input() {
        assert_eq!(chi_squared(&[1.0, 2.0], &[1.0]), None);
        assert_eq!(chi_squared(&[1.0], &[1.0]), None);
        assert_eq!(chi_squared(&[], &[]), None);
        assert_eq!(chi_squared(&[1.0, 2.0], &[1.0, 0.0]), None);
        assert_eq!(chi_squared(&[1.0, 2.0], &[1.0, -1.0]), None);
        assert_eq!(chi_squared(&[-1.0, 2.0], &[1.0, 1.0]), None);
        assert_eq!(chi_squared(&[f64::NAN, 2.0], &[1.0, 1.0]), None);
        assert_eq!(chi_squared(&[0.0, 0.0], &[1.0, 1.0]), None);
    }

    #[test]
    fn chi_squared_perfect_fit_and_scale_invariance() {
        let out = chi_squared(&[10.0, 20.0, 30.0], &[1.0, 2.0, 3.0]).unwrap();
        assert!(
            out.statistic.abs() < 1e-12 && (out.p_value - 1.0).abs() < 1e-12,
            "{out:?}"
        );
        let a = chi_squared(&[12.0, 25.0, 23.0], &[20.0, 20.0, 20.0]).unwrap();
        let b = chi_squared(&[12.0, 25.0, 23.0], &[1.0, 1.0, 1.0]).unwrap();
        assert!((a.statistic - b.statistic).abs() < 1e-12 && (a.p_value - b.p_value).abs() < 1e-12);
        // (12-20)^2/20 + (25-20)^2/20 + (23-20)^2/20 = 4.9; with 2 dof, p = exp(-4.9 / 2).
        assert!((a.statistic - 4.9).abs() < 1e-12);
        assert!((a.p_value - (-2.45f64).exp()).abs() < 1e-12);
    }

    #[test]
    fn counts_same_proportions_do_not_drift() {
        let out = chi_squared_counts(&[100.0, 200.0, 300.0], &[10.0, 20.0, 30.0]).unwrap();
        assert!(
            out.statistic.abs() < 1e-12 && (out.p_value - 1.0).abs() < 1e-12,
            "{out:?}"
        );
    }

    #[test]
    fn counts_new_category_is_finite_and_significant() {
        let out = chi_squared_counts(&[500.0, 500.0, 0.0], &[50.0, 50.0, 30.0]).unwrap();
        assert!(
            out.statistic.is_finite() && out.statistic > 100.0,
            "{out:?}"
        );
        assert!(out.p_value < 1e-10);
    }

    #[test]
    fn counts_drop_categories_empty_in_both() {
        let with = chi_squared_counts(&[40.0, 0.0, 60.0], &[25.0, 0.0, 25.0]).unwrap();
        let without = chi_squared_counts(&[40.0, 60.0], &[25.0, 25.0]).unwrap();
        assert_eq!(with, without);
    }

    #[test]
    fn counts_single_shared_category_cannot_drift() {
        let out = chi_squared_counts(&[0.0, 80.0, 0.0], &[0.0, 5.0, 0.0]).unwrap();
        assert_eq!(
            out,
            TestOutcome {
                statistic: 0.0,
                p_value: 1.0
            }
        );
    }

    #[test]
    fn counts_reject_bad_input() {
        assert_eq!(chi_squared_counts(&[1.0, 2.0], &[1.0]), None);
        assert_eq!(chi_squared_counts(&[0.0, 0.0], &[1.0, 2.0]), None);
        assert_eq!(chi_squared_counts(&[1.0, 2.0], &[0.0, 0.0]), None);
        assert_eq!(chi_squared_counts(&[1.0, -2.0], &[1.0, 2.0]), None);
        assert_eq!(chi_squared_counts(&[], &[]), None);
    }

    #[test]
    fn z_test_edge_cases() {
        assert_eq!(z_test_proportions(1, 0, 1, 2), None);
        assert_eq!(z_test_proportions(1, 2, 1, 0), None);
        assert_eq!(z_test_proportions(3, 2, 1, 2), None);
        let constant = TestOutcome {
            statistic: 0.0,
            p_value: 1.0,
        };
        assert_eq!(z_test_proportions(0, 10, 0, 20), Some(constant));
        assert_eq!(z_test_proportions(10, 10, 20, 20), Some(constant));
        let same = z_test_proportions(30, 100, 60, 200).unwrap();
        assert_eq!(same.statistic, 0.0);
        assert!((same.p_value - 1.0).abs() < 1e-15);
    }

    #[test]
    fn z_test_sign_and_symmetry() {
        let up = z_test_proportions(20, 100, 40, 100).unwrap();
        let down = z_test_proportions(40, 100, 20, 100).unwrap();
        assert!(up.statistic < 0.0 && down.statistic > 0.0);
        assert_eq!(up.statistic, -down.statistic);
        assert_eq!(up.p_value, down.p_value);
        // z^2 is Pearson's statistic for the 2x2 table (no continuity correction): observed
        // successes and failures against their expectations under the pooled proportion 0.3.
        let table = chi_squared(&[20.0, 80.0, 40.0, 60.0], &[30.0, 70.0, 30.0, 70.0]).unwrap();
        assert!(
            (up.statistic * up.statistic - table.statistic).abs() < 1e-10,
            "{up:?} {table:?}"
        );
    }
}
