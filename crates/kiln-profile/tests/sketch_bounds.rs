//! On a 1,000,000-row file, sketched quantiles and distinct counts lie within the error
//! bounds the profile states: each quantile within 1% (relative) of the exact value of its
//! rank, each distinct-count estimate inside its 95% interval.

use kiln_profile::sketch::QUANTILE_RELATIVE_ERROR;
use kiln_profile::summary::{QUANTILE_RANKS, summarize};
use kiln_profile::{Checks, ProfileOptions, profile_file};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;
use std::io::Write;

const ROWS: usize = 1_000_000;

#[test]
fn sketches_hold_their_error_bounds_on_a_million_rows() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    let mut text = String::with_capacity(ROWS * 24);
    text.push_str("x,y,key\n");
    let (mut xs, mut ys, mut keys) = (Vec::new(), Vec::new(), HashSet::new());
    for _ in 0..ROWS {
        // A skewed positive column, a signed one, and a key with about 400,000 distinct values.
        let x = (rng.random::<f64>() * 8.0 - 2.0).exp();
        let y = rng.random::<f64>() * 200.0 - 100.0;
        let key = rng.random_range(0..600_000u32);
        let (x, y): (f64, f64) = (
            format!("{x:.5}").parse().unwrap(),
            format!("{y:.3}").parse().unwrap(),
        );
        text.push_str(&format!("{x},{y},k{key}\n"));
        xs.push(x);
        ys.push(y);
        keys.insert(key);
    }
    file.write_all(text.as_bytes()).unwrap();
    let pass = profile_file(
        file.path(),
        &ProfileOptions::default(),
        &Checks::default(),
        &mut |_| {},
    )
    .unwrap();
    let summary = summarize(&pass.profile);
    assert_eq!(summary.rows, ROWS as u64);
    for (column, mut values) in [(0, xs), (1, ys)] {
        values.sort_by(f64::total_cmp);
        let n = summary.columns[column].numeric.as_ref().unwrap();
        assert_eq!(n.quantile_relative_error, QUANTILE_RELATIVE_ERROR);
        for (q, estimate) in &n.quantiles {
            let exact = values[(q * (ROWS - 1) as f64) as usize];
            let bound = QUANTILE_RELATIVE_ERROR * exact.abs() + 1e-9;
            assert!(
                (estimate - exact).abs() <= bound,
                "column {column} q{q}: estimate {estimate}, exact {exact}"
            );
        }
        assert_eq!(n.quantiles.len(), QUANTILE_RANKS.len());
    }
    let d = summary.columns[2].distinct;
    let exact = keys.len() as f64;
    assert!(!d.exact);
    assert!(
        d.lower <= exact && exact <= d.upper,
        "{exact} not in [{}, {}]",
        d.lower,
        d.upper
    );
    assert!(
        (d.value - exact).abs() / exact < 0.05,
        "estimate {} vs {exact}",
        d.value
    );
}
