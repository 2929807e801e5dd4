//! Checks every statistic and p-value against scipy's on the fixed vectors in
//! `tests/golden/golden.json`, written by `tests/golden/make_golden.py` (see its header for
//! how to regenerate it and which numpy/scipy versions produced it).
//!
//! The crate promises agreement with scipy to 1e-6. The tests hold it to a tolerance a thousand
//! times tighter, `|actual - expected| <= 1e-9 * max(1, |expected|)` (absolute for p-values and
//! distances, relative for large statistics), so that a wrong term in a series shows up
//! even where it moves the answer by less than 1e-6; the largest difference observed is
//! below 1e-12. The asymptotic KS branch (samples over 10 000) and `kstwo_sf` are held to
//! the same tolerance: they pick the same method as `scipy.stats.kstwo.sf` for every `(n, d)`.

use std::path::PathBuf;

use kiln_stats::{
    Correction, adjust, bin_counts, chi_squared, chi_squared_counts, chi_squared_homogeneity,
    histogram_edges, jensen_shannon, ks_two_sample, kstwo_sf, psi, quantile_edges, wasserstein,
    wasserstein_normed, z_test_proportions,
};
use serde::Deserialize;

/// See the module documentation.
const TOLERANCE: f64 = 1e-9;

#[derive(Deserialize)]
struct Golden {
    ks: Vec<KsCase>,
    ks_generated: Vec<KsGeneratedCase>,
    kstwo: Vec<KstwoCase>,
    chi_squared: Vec<ChiSquaredCase>,
    chi_squared_counts: Vec<ChiSquaredCountsCase>,
    chi_squared_homogeneity: Vec<ChiSquaredCountsCase>,
    z_test: Vec<ZTestCase>,
    wasserstein: Vec<WassersteinCase>,
    jensen_shannon: Vec<JensenShannonCase>,
    psi: Vec<PsiCase>,
    binning: Vec<BinningCase>,
    adjust: Vec<AdjustCase>,
}

#[derive(Deserialize)]
struct KsCase {
    name: String,
    a: Vec<f64>,
    b: Vec<f64>,
    statistic: f64,
    p_value: f64,
}

/// `x_i = offset + scale * (((mult * i + add) % modulus) / modulus)` for `i < n`.
#[derive(Deserialize)]
struct Lattice {
    n: u64,
    mult: u64,
    add: u64,
    modulus: u64,
    scale: f64,
    offset: f64,
}

impl Lattice {
    fn values(&self) -> Vec<f64> {
        (0..self.n)
            .map(|i| {
                self.offset
                    + self.scale
                        * (((self.mult * i + self.add) % self.modulus) as f64 / self.modulus as f64)
            })
            .collect()
    }
}

#[derive(Deserialize)]
struct KsGeneratedCase {
    name: String,
    a: Lattice,
    b: Lattice,
    statistic: f64,
    p_value: f64,
}

#[derive(Deserialize)]
struct KstwoCase {
    n: u64,
    d: f64,
    sf: f64,
}

#[derive(Deserialize)]
struct ChiSquaredCase {
    observed: Vec<f64>,
    expected: Vec<f64>,
    statistic: f64,
    p_value: f64,
}

#[derive(Deserialize)]
struct ChiSquaredCountsCase {
    reference: Vec<f64>,
    current: Vec<f64>,
    statistic: f64,
    p_value: f64,
}

#[derive(Deserialize)]
struct ZTestCase {
    ref_successes: u64,
    ref_n: u64,
    cur_successes: u64,
    cur_n: u64,
    statistic: f64,
    p_value: f64,
}

#[derive(Deserialize)]
struct WassersteinCase {
    a: Vec<f64>,
    b: Vec<f64>,
    distance: f64,
    normed: f64,
}

#[derive(Deserialize)]
struct JensenShannonCase {
    p: Vec<f64>,
    q: Vec<f64>,
    distance: f64,
}

#[derive(Deserialize)]
struct PsiCase {
    reference: Vec<f64>,
    current: Vec<f64>,
    psi: f64,
}

#[derive(Deserialize)]
struct BinningCase {
    name: String,
    reference: Vec<f64>,
    current: Vec<f64>,
    bins: usize,
    quantile_edges: Vec<f64>,
    quantile_reference_counts: Vec<f64>,
    quantile_current_counts: Vec<f64>,
    psi: f64,
    histogram_edges: Vec<f64>,
    histogram_reference_counts: Vec<f64>,
    histogram_current_counts: Vec<f64>,
    jensen_shannon: f64,
}

#[derive(Deserialize)]
struct AdjustCase {
    p_values: Vec<f64>,
    bonferroni: Vec<f64>,
    benjamini_hochberg: Vec<f64>,
}

fn golden() -> Golden {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/golden.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("golden.json matches the expected layout")
}

#[track_caller]
fn assert_close(actual: f64, expected: f64, what: &str) {
    let tolerance = TOLERANCE * expected.abs().max(1.0);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: got {actual:e}, scipy says {expected:e} (diff {:e})",
        (actual - expected).abs()
    );
}

#[track_caller]
fn assert_all_close(actual: &[f64], expected: &[f64], what: &str) {
    assert_eq!(
        actual.len(),
        expected.len(),
        "{what}: lengths differ: {actual:?} vs {expected:?}"
    );
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        assert_close(a, e, &format!("{what}[{i}]"));
    }
}

#[test]
fn ks_two_sample_matches_scipy() {
    let cases = golden().ks;
    assert!(cases.len() >= 10);
    for case in cases {
        let out =
            ks_two_sample(&case.a, &case.b).unwrap_or_else(|| panic!("{}: no outcome", case.name));
        assert_close(
            out.statistic,
            case.statistic,
            &format!("{} statistic", case.name),
        );
        assert_close(out.p_value, case.p_value, &format!("{} p-value", case.name));
    }
}

#[test]
fn ks_two_sample_asymptotic_matches_scipy() {
    for case in golden().ks_generated {
        let (a, b) = (case.a.values(), case.b.values());
        assert!(
            a.len().max(b.len()) > 10_000,
            "{} is meant for the asymptotic branch",
            case.name
        );
        let out = ks_two_sample(&a, &b).unwrap_or_else(|| panic!("{}: no outcome", case.name));
        assert_close(
            out.statistic,
            case.statistic,
            &format!("{} statistic", case.name),
        );
        assert_close(out.p_value, case.p_value, &format!("{} p-value", case.name));
    }
}

#[test]
fn kstwo_sf_matches_scipy() {
    let cases = golden().kstwo;
    assert!(cases.len() > 300);
    for case in cases {
        let sf = kstwo_sf(case.n, case.d).expect("n > 0 and d is a number");
        assert_close(
            sf,
            case.sf,
            &format!("kstwo.sf(d={}, n={})", case.d, case.n),
        );
    }
}

#[test]
fn chi_squared_matches_scipy() {
    for case in golden().chi_squared {
        let out = chi_squared(&case.observed, &case.expected).expect("valid frequencies");
        let what = format!("chisquare({:?}, {:?})", case.observed, case.expected);
        assert_close(out.statistic, case.statistic, &what);
        assert_close(out.p_value, case.p_value, &what);
    }
}

#[test]
fn chi_squared_counts_matches_scipy() {
    for case in golden().chi_squared_counts {
        let out = chi_squared_counts(&case.reference, &case.current).expect("valid counts");
        let what = format!("counts {:?} vs {:?}", case.reference, case.current);
        assert_close(out.statistic, case.statistic, &what);
        assert_close(out.p_value, case.p_value, &what);
    }
}

#[test]
fn chi_squared_homogeneity_matches_scipy_contingency() {
    for case in golden().chi_squared_homogeneity {
        let out = chi_squared_homogeneity(&case.reference, &case.current).expect("valid counts");
        let what = format!("counts {:?} vs {:?}", case.reference, case.current);
        assert_close(out.statistic, case.statistic, &what);
        assert_close(out.p_value, case.p_value, &what);
    }
}

#[test]
fn z_test_matches_statsmodels_formula() {
    for case in golden().z_test {
        let out = z_test_proportions(
            case.ref_successes,
            case.ref_n,
            case.cur_successes,
            case.cur_n,
        )
        .expect("valid");
        let what = format!(
            "{}/{} vs {}/{}",
            case.ref_successes, case.ref_n, case.cur_successes, case.cur_n
        );
        assert_close(out.statistic, case.statistic, &what);
        assert_close(out.p_value, case.p_value, &what);
    }
}

#[test]
fn wasserstein_matches_scipy() {
    for case in golden().wasserstein {
        let what = format!("wasserstein on {} vs {} values", case.a.len(), case.b.len());
        assert_close(
            wasserstein(&case.a, &case.b).expect("finite samples"),
            case.distance,
            &what,
        );
        assert_close(
            wasserstein_normed(&case.a, &case.b).expect("finite samples"),
            case.normed,
            &what,
        );
    }
}

#[test]
fn jensen_shannon_matches_scipy() {
    for case in golden().jensen_shannon {
        let js = jensen_shannon(&case.p, &case.q).expect("valid histograms");
        assert_close(
            js,
            case.distance,
            &format!("jensenshannon({:?}, {:?})", case.p, case.q),
        );
    }
}

#[test]
fn psi_matches_numpy() {
    for case in golden().psi {
        let value = psi(&case.reference, &case.current).expect("valid bins");
        assert_close(
            value,
            case.psi,
            &format!("psi({:?}, {:?})", case.reference, case.current),
        );
    }
}

#[test]
fn binning_pipeline_matches_numpy_and_scipy() {
    for case in golden().binning {
        let name = &case.name;
        let edges = quantile_edges(&case.reference, case.bins);
        assert_all_close(
            &edges,
            &case.quantile_edges,
            &format!("{name}: quantile edges"),
        );
        let (r, c) = (
            bin_counts(&case.reference, &edges),
            bin_counts(&case.current, &edges),
        );
        assert_eq!(
            r, case.quantile_reference_counts,
            "{name}: reference counts"
        );
        assert_eq!(c, case.quantile_current_counts, "{name}: current counts");
        assert_close(
            psi(&r, &c).expect("non-empty bins"),
            case.psi,
            &format!("{name}: psi"),
        );

        let edges = histogram_edges(&case.reference, &case.current, case.bins);
        assert_all_close(
            &edges,
            &case.histogram_edges,
            &format!("{name}: histogram edges"),
        );
        let (r, c) = (
            bin_counts(&case.reference, &edges),
            bin_counts(&case.current, &edges),
        );
        assert_eq!(
            r, case.histogram_reference_counts,
            "{name}: reference histogram"
        );
        assert_eq!(
            c, case.histogram_current_counts,
            "{name}: current histogram"
        );
        let js = jensen_shannon(&r, &c).expect("non-empty histograms");
        assert_close(js, case.jensen_shannon, &format!("{name}: jensen-shannon"));
    }
}

#[test]
fn corrections_match_scipy() {
    for case in golden().adjust {
        let what = format!("{:?}", case.p_values);
        assert_all_close(
            &adjust(&case.p_values, Correction::Bonferroni),
            &case.bonferroni,
            &what,
        );
        assert_all_close(
            &adjust(&case.p_values, Correction::BenjaminiHochberg),
            &case.benjamini_hochberg,
            &what,
        );
        assert_eq!(adjust(&case.p_values, Correction::None), case.p_values);
    }
}
