//! The two-sided two-sample Kolmogorov-Smirnov test, as `scipy.stats.ks_2samp(a, b)` with its
//! default `method='auto'`.
//!
//! The statistic is worked out in integers: with `g = gcd(m, n)`, every ECDF difference
//! `i/m - j/n` equals `(i n/g - j m/g) / lcm(m, n)`, so `D = h / lcm` for an integer `h`, and the
//! exact p-value's boundary test `|i/m - j/n| < D` is the integer test `|i n/g - j m/g| < h`:
//! floating-point error cannot move a lattice point across the boundary.

use crate::TestOutcome;
use crate::kolmogorov::kstwo_sf;

/// scipy's `MAX_AUTO_N`: the exact p-value is used while neither sample is larger than this.
const EXACT_MAX_N: usize = 10_000;

/// Two-sided two-sample Kolmogorov-Smirnov test, as `scipy.stats.ks_2samp(a, b)` (`method='auto'`); `None` if either sample is empty or contains NaN.
///
/// The statistic is `D = max |F_a(x) - F_b(x)|` over every pooled value `x`, where `F` is the
/// right-continuous empirical CDF, so tied values are handled as scipy does. `±inf` are
/// ordinary values; NaN has no place in an ordering, so callers must drop missing values
/// first (a sample containing NaN gives `None`).
///
/// The p-value is `P(D >= observed)` under the null hypothesis that both samples come from
/// one continuous distribution:
///
/// * when `max(m, n) <= 10 000` (scipy's rule) it is exact: the fraction of the
///   `C(m + n, m)` monotone lattice paths from `(0, 0)` to `(m, n)` that leave the band
///   `|i/m - j/n| < D`. Counts are carried as probabilities, which never overflow: the
///   fraction inside obeys `u(i, j) = u(i-1, j) i/(i+j) + u(i, j-1) j/(i+j)`, and the p-value
///   `1 - u(m, n)` is computed by running the same recurrence on `1 - u` (1 outside the
///   band), so even a p-value of 1e-100 keeps its relative precision (about `(m + n)`
///   roundings). Time is O(m n) at worst (`D` near 1) and in general `max(m, n)` times the
///   band's width; memory is O(min(m, n)). In a release build `m = n = 5 000` takes about
///   2 ms for similar samples and 60 ms at worst, `10 000 x 10 000` at most about 0.2 s;
/// * above that it is `scipy.stats.kstwo.sf(D, round(m n / (m + n)))` ([`kstwo_sf`]), the
///   one-sample KS distribution at the effective sample size, exactly as scipy's `'asymp'`
///   branch (rounding half to even, as numpy does).
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> Option<TestOutcome> {
    if a.is_empty() || b.is_empty() || a.iter().chain(b).any(|x| x.is_nan()) {
        return None;
    }
    let a = crate::sorted(a.iter().copied());
    let b = crate::sorted(b.iter().copied());
    let (m, n) = (a.len() as u128, b.len() as u128);
    let g = gcd(m, n);
    // i/m - j/n = (i * step_a - j * step_b) / lcm.
    let (step_a, step_b) = ((n / g) as i128, (m / g) as i128);
    let lcm = m / g * n;
    let h = max_ecdf_gap(&a, &b, step_a, step_b);
    let statistic = h as f64 / lcm as f64;
    let p_value = if a.len().max(b.len()) <= EXACT_MAX_N {
        exact_p_value(a.len(), b.len(), h, step_a, step_b)
    } else {
        let (mf, nf) = (m as f64, n as f64);
        let effective_n = (mf * nf / (mf + nf)).round_ties_even() as u64;
        kstwo_sf(effective_n, statistic)?
    };
    Some(TestOutcome {
        statistic,
        p_value: p_value.clamp(0.0, 1.0),
    })
}

/// Greatest common divisor, by Euclid's algorithm.
fn gcd(mut x: u128, mut y: u128) -> u128 {
    while y != 0 {
        (x, y) = (y, x % y);
    }
    x
}

/// `max |i step_a - j step_b|` over every pooled value, where `i` and `j` count the values of
/// the sorted samples `a` and `b` that are `<=` it.
fn max_ecdf_gap(a: &[f64], b: &[f64], step_a: i128, step_b: i128) -> i128 {
    let (mut i, mut j, mut h) = (0usize, 0usize, 0i128);
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&u), Some(&v)) => u.min(v),
            (Some(&u), None) => u,
            (None, Some(&v)) => v,
            (None, None) => break,
        };
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        h = h.max((i as i128 * step_a - j as i128 * step_b).abs());
    }
    h
}

/// Exact `P(D >= h / lcm)` for samples of sizes `m` and `n`: the probability that a uniformly
/// random lattice path from `(0, 0)` to `(m, n)` reaches `|i step_a - j step_b| >= h`.
///
/// `w(i, j)`, the probability that a path to `(i, j)` has reached the boundary, is 1 outside
/// the band and `w(i-1, j) i/(i+j) + w(i, j-1) j/(i+j)` inside it. This is `1 - u(i, j)` for
/// the probability `u` of staying inside, carried directly so that small p-values are not
/// lost to cancellation in `1 - u(m, n)`.
fn exact_p_value(m: usize, n: usize, h: i128, step_a: i128, step_b: i128) -> f64 {
    if h == 0 {
        return 1.0;
    }
    // Rows walk the larger sample and the row vector spans the smaller one: O(min) memory.
    let (rows, cols, row_step, col_step) = if m >= n {
        (m, n, step_a, step_b)
    } else {
        (n, m, step_b, step_a)
    };
    // Row i's band holds the cells j with i row_step - h < j col_step < i row_step + h; both
    // ends move right as i grows.
    let band = |i: usize| {
        let centre = i as i128 * row_step;
        let lo = ((centre - h).div_euclid(col_step) + 1).max(0);
        let hi = (centre + h - 1).div_euclid(col_step).min(cols as i128);
        (lo, hi)
    };
    // Cells right of the band have not been reached yet and hold 1 (outside) until they enter.
    let mut w = vec![1.0f64; cols + 1];
    let (_, hi) = band(0);
    w[..=hi as usize].fill(0.0);
    // 1/(i + j), looked up: a division in the inner loop's dependency chain would double its cost.
    let reciprocal: Vec<f64> = (0..=rows + cols).map(|k| 1.0 / k as f64).collect();
    for i in 1..=rows {
        let (lo, hi) = band(i);
        if hi < lo {
            // No path stays inside the band, so every path reaches D.
            return 1.0;
        }
        let (lo, hi) = (lo as usize, hi as usize);
        let fi = i as f64;
        // The left neighbour of the band's first cell is outside it (or absent when j = 0,
        // where its weight is 0).
        let mut left = 1.0;
        for (j, cell) in w.iter_mut().enumerate().take(hi + 1).skip(lo) {
            *cell = (*cell * fi + left * j as f64) * reciprocal[i + j];
            left = *cell;
        }
    }
    w[cols]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::SplitMix64;

    /// P(D >= d) by brute force over all C(m+n, m) interleavings of two tie-free samples.
    fn brute_force_p(m: usize, n: usize, d: f64) -> f64 {
        let (mut hits, mut total) = (0u64, 0u64);
        for mask in 0u32..(1 << (m + n)) {
            if mask.count_ones() as usize != m {
                continue;
            }
            total += 1;
            let (mut i, mut j, mut dmax) = (0.0, 0.0, 0.0f64);
            for bit in 0..m + n {
                if mask >> bit & 1 == 1 {
                    i += 1.0;
                } else {
                    j += 1.0;
                }
                dmax = dmax.max((i / m as f64 - j / n as f64).abs());
            }
            if dmax >= d - 1e-12 {
                hits += 1;
            }
        }
        hits as f64 / total as f64
    }

    #[test]
    fn empty_or_nan_input_is_none() {
        assert_eq!(ks_two_sample(&[], &[1.0]), None);
        assert_eq!(ks_two_sample(&[1.0], &[]), None);
        assert_eq!(ks_two_sample(&[1.0, f64::NAN], &[1.0]), None);
    }

    #[test]
    fn identical_samples_have_no_distance() {
        let x = SplitMix64::new(1).normals(300, 0.0);
        let out = ks_two_sample(&x, &x).unwrap();
        assert_eq!(
            out,
            TestOutcome {
                statistic: 0.0,
                p_value: 1.0
            }
        );
        let big = SplitMix64::new(2).normals(12_000, 0.0);
        let out = ks_two_sample(&big, &big).unwrap();
        assert_eq!(
            out,
            TestOutcome {
                statistic: 0.0,
                p_value: 1.0
            }
        );
    }

    #[test]
    fn disjoint_samples_are_significant() {
        let a: Vec<f64> = (0..20).map(f64::from).collect();
        let b: Vec<f64> = (100..125).map(f64::from).collect();
        let out = ks_two_sample(&a, &b).unwrap();
        assert_eq!(out.statistic, 1.0);
        // Only the two orderings "all of a first" and "all of b first" reach D = 1.
        let paths = (1..=20).fold(1.0, |c, k| c * (25 + k) as f64 / k as f64);
        assert!(
            (out.p_value * paths / 2.0 - 1.0).abs() < 1e-12,
            "{}",
            out.p_value
        );
        let out = ks_two_sample(&b, &a).unwrap();
        assert_eq!(out.statistic, 1.0);
    }

    #[test]
    fn exact_p_value_matches_brute_force() {
        let mut rng = SplitMix64::new(7);
        for (m, n) in [(1, 1), (1, 5), (3, 5), (4, 4), (6, 9), (8, 8), (7, 10)] {
            for _ in 0..5 {
                let a: Vec<f64> = (0..m).map(|_| rng.uniform()).collect();
                let b: Vec<f64> = (0..n).map(|_| rng.uniform() * 1.3).collect();
                let out = ks_two_sample(&a, &b).unwrap();
                let brute = brute_force_p(m, n, out.statistic);
                assert!(
                    (out.p_value - brute).abs() < 1e-12,
                    "{m}x{n}: {} vs {brute}",
                    out.p_value
                );
            }
        }
    }

    #[test]
    fn ties_are_compared_at_every_pooled_value() {
        // F_a jumps to 1/2 at 1 and to 1 at 2; F_b is 1/3 at 1, 2/3 at 2 and 1 at 3.
        let out = ks_two_sample(&[1.0, 2.0], &[1.0, 2.0, 3.0]).unwrap();
        assert!((out.statistic - 1.0 / 3.0).abs() < 1e-15);
        // -0.0 and 0.0 are one value.
        let out = ks_two_sample(&[-0.0, 1.0], &[0.0, 1.0]).unwrap();
        assert_eq!(out.statistic, 0.0);
        // Infinities are ordinary, extreme values.
        let out = ks_two_sample(&[f64::NEG_INFINITY, 0.0], &[0.0, f64::INFINITY]).unwrap();
        assert!((out.statistic - 0.5).abs() < 1e-15);
    }

    #[test]
    fn symmetric_in_its_arguments() {
        let mut rng = SplitMix64::new(3);
        let a = rng.normals(150, 0.0);
        let b = rng.normals(270, 0.2);
        assert_eq!(ks_two_sample(&a, &b), ks_two_sample(&b, &a));
        let big = rng.normals(11_000, 0.0);
        assert_eq!(ks_two_sample(&big, &b), ks_two_sample(&b, &big));
    }

    #[test]
    fn asymptotic_branch_continues_the_exact_one() {
        // 10 000 vs 10 000 is exact; 10 001 vs 10 000 is asymptotic. Same data, nearly the same p.
        let mut rng = SplitMix64::new(11);
        let a = rng.normals(10_001, 0.0);
        let b = rng.normals(10_000, 0.03);
        let exact = ks_two_sample(&a[..10_000], &b).unwrap();
        let asymptotic = ks_two_sample(&a, &b).unwrap();
        assert!(
            (exact.p_value - asymptotic.p_value).abs() < 0.02,
            "{exact:?} vs {asymptotic:?}"
        );
    }

    #[test]
    fn gcd_reduces() {
        assert_eq!(gcd(12, 18), 6);
        assert_eq!(gcd(7, 10_000), 1);
        assert_eq!(gcd(5_000, 5_000), 5_000);
    }
}
