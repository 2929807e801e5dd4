//! The distribution of the two-sided one-sample Kolmogorov-Smirnov statistic D_n, as
//! `scipy.stats.kstwo`, which `scipy.stats.ks_2samp` uses for its large-sample p-value.
//!
//! The method is Simard & L'Ecuyer's (2011, "Computing the two-sided Kolmogorov-Smirnov
//! distribution", J. Stat. Softw. 39(11)), with the same cut-offs as scipy so that each
//! `(n, d)` is computed by the same kind of formula:
//!
//! * `n d <= 1` or `n d >= n - 1`: Ruben & Gambino's closed forms;
//! * `d >= 0.5`, or a large `n d^2` (`> 4` for `n <= 140`, `2.2 <= n d^2 < 370` above): twice
//!   the one-sided Smirnov tail (Birnbaum & Tingey's sum, exact for `d >= 0.5`, within about
//!   1e-7 of the two-sided tail otherwise); above one million, scipy's `smirnov` switches to
//!   the approximation `exp(-(6 n d + 1)^2 / (18 n))`, and so does this module;
//! * `n <= 140` with `n d^2 <= 4`, and `n <= 100 000` with `n d^1.5 <= 1.4`: Durbin's matrix
//!   formula evaluated as Marsaglia, Tsang & Wang (2003) do. For `0.754693 < n d^2 <= 4` with
//!   `n <= 140` scipy uses Pomeranz's recursion instead; both are exact, so the difference is
//!   rounding (below 1e-12 on the golden grid);
//! * otherwise Pelz & Good's (1976) four-term asymptotic series.
//!
//! `tests/golden.rs` checks [`kstwo_sf`] against `scipy.stats.kstwo.sf` on a grid that visits
//! every branch (n from 1 to 3 000 000) to an absolute 1e-9; the largest difference there is
//! below 1e-12.

use std::f64::consts::PI;

/// The largest `n` for which small-sample rules (Ruben-Gambino product, Durbin up to `n d^2 = 4`) apply.
const SMALL_N: u64 = 140;
/// The largest `n` for which the Durbin matrix is used above [`SMALL_N`].
const DURBIN_MAX_N: u64 = 100_000;
/// Above this `n`, scipy's one-sided Smirnov tail is an approximation rather than a sum.
const SMIRNOV_SUM_MAX_N: u64 = 1_000_000;
/// Intermediate results are rescaled by this power of two to stay inside f64's range.
const SCALE_EXP: i64 = 128;

/// P(D_n >= d) for the two-sided one-sample KS statistic of a sample of `n`, as `scipy.stats.kstwo.sf(d, n)`; `None` when `n == 0` or `d` is NaN.
pub fn kstwo_sf(n: u64, d: f64) -> Option<f64> {
    if n == 0 || d.is_nan() {
        return None;
    }
    Some(survival(n, d).clamp(0.0, 1.0))
}

/// P(D_n >= d), choosing the formula as Simard & L'Ecuyer (and scipy) do.
fn survival(n: u64, d: f64) -> f64 {
    if d >= 1.0 {
        return 0.0;
    }
    if d <= 0.0 {
        return 1.0;
    }
    let nf = n as f64;
    let t = nf * d;
    if t <= 1.0 {
        if t <= 0.5 {
            return 1.0;
        }
        return 1.0 - ruben_gambino_cdf(n, t);
    }
    if t >= nf - 1.0 {
        // Ruben & Gambino: only the two extreme configurations remain.
        return 2.0 * (1.0 - d).powf(nf);
    }
    if d >= 0.5 {
        // D+ >= d and D- >= d cannot both hold, so this is exact.
        return 2.0 * smirnov_sf(n, d);
    }
    let nd2 = t * d;
    if n <= SMALL_N {
        if nd2 <= 4.0 {
            1.0 - durbin_cdf(n, d)
        } else {
            2.0 * smirnov_sf(n, d)
        }
    } else if nd2 >= 370.0 {
        0.0
    } else if nd2 >= 2.2 {
        2.0 * smirnov_sf(n, d)
    } else if n <= DURBIN_MAX_N && nf * d.powf(1.5) <= 1.4 {
        1.0 - durbin_cdf(n, d)
    } else {
        1.0 - pelz_good_cdf(n, d)
    }
}

/// P(D_n <= d) = n!/n^n (2t - 1)^n for 1/2 <= t = n d <= 1 (Ruben & Gambino, 1982).
fn ruben_gambino_cdf(n: u64, t: f64) -> f64 {
    let base = 2.0 * t - 1.0;
    if n <= SMALL_N {
        let nf = n as f64;
        (1..=n).fold(1.0, |p, i| p * (i as f64 / nf) * base)
    } else {
        (ln_factorial_over_power(n) + n as f64 * base.ln()).exp()
    }
}

/// ln(n! / n^n) by Stirling's series, accurate to rounding for n > 140.
fn ln_factorial_over_power(n: u64) -> f64 {
    let nf = n as f64;
    let r = 1.0 / nf;
    let r2 = r * r;
    // ln n! - n ln n = ln(2 pi n)/2 - n + 1/(12n) - 1/(360n^3) + 1/(1260n^5) - 1/(1680n^7)
    let series = r * (1.0 / 12.0 - r2 * (1.0 / 360.0 - r2 * (1.0 / 1260.0 - r2 / 1680.0)));
    0.5 * (2.0 * PI * nf).ln() - nf + series
}

/// One-sided Smirnov tail P(D+_n >= d), as `scipy.special.smirnov(n, d)`.
///
/// Birnbaum & Tingey's sum `d * sum_j C(n, j) (d + j/n)^(j-1) (1 - d - j/n)^(n-j)` over
/// `0 <= j < n (1 - d)`; its terms are all positive, so it is evaluated term by term in logs.
fn smirnov_sf(n: u64, d: f64) -> f64 {
    let nf = n as f64;
    if n > SMIRNOV_SUM_MAX_N {
        return (-(6.0 * nf * d + 1.0).powi(2) / (18.0 * nf)).exp();
    }
    let ln_d = d.ln();
    // ln C(n, j), accumulated with Neumaier's compensation: it reaches ~n ln 2, and a plain
    // running sum over a million terms would lose ~1e-8 of relative accuracy.
    let mut ln_binom = CompensatedSum::default();
    let mut total = 0.0;
    for j in 0..n {
        let jf = j as f64;
        if j > 0 {
            ln_binom.add(((nf - jf + 1.0) / jf).ln());
        }
        let upper = (nf - jf) / nf - d;
        if upper <= 0.0 {
            break;
        }
        let ln_term =
            ln_binom.value() + ln_d + (jf - 1.0) * (d + jf / nf).ln() + (nf - jf) * upper.ln();
        total += ln_term.exp();
    }
    total
}

/// A running sum with Neumaier's error compensation.
#[derive(Default)]
struct CompensatedSum {
    sum: f64,
    compensation: f64,
}

impl CompensatedSum {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        self.compensation += if self.sum.abs() >= x.abs() {
            (self.sum - t) + x
        } else {
            (x - t) + self.sum
        };
        self.sum = t;
    }

    fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// P(D_n <= d) by Durbin's matrix formula, computed as Marsaglia, Tsang & Wang (2003): with
/// `k = ceil(n d)`, `h = k - n d` and the `(2k-1)`-square matrix `H`, the answer is
/// `n!/n^n (H^n)[k-1][k-1]`. Needs `n d > 1`; O(k^3 log n) time.
fn durbin_cdf(n: u64, d: f64) -> f64 {
    let nd = n as f64 * d;
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;
    let mut inv_fact = vec![1.0; m + 1];
    for j in 1..=m {
        inv_fact[j] = inv_fact[j - 1] / j as f64;
    }
    let mut base = Scaled::zeros(m);
    for r in 0..m {
        for c in 0..=(r + 1).min(m - 1) {
            base.values[r * m + c] = inv_fact[r + 1 - c];
        }
    }
    for r in 0..m {
        base.values[r * m] = (1.0 - h.powi(r as i32 + 1)) * inv_fact[r + 1];
    }
    for c in 1..m {
        base.values[(m - 1) * m + c] = (1.0 - h.powi((m - c) as i32)) * inv_fact[m - c];
    }
    let corner = 1.0 - 2.0 * h.powi(m as i32) + (2.0 * h - 1.0).max(0.0).powi(m as i32);
    base.values[(m - 1) * m] = corner * inv_fact[m];

    let power = base.pow(n);
    let mut p = power.values[(k - 1) * m + (k - 1)];
    let mut exp2 = power.exp2;
    let nf = n as f64;
    let up = 2f64.powi(SCALE_EXP as i32);
    let down = 1.0 / up;
    for i in 1..=n {
        p = p * i as f64 / nf;
        if p > 0.0 && p < down {
            p *= up;
            exp2 -= SCALE_EXP;
        }
    }
    ldexp(p, exp2)
}

/// A square matrix times a power of two, so that powers of it neither overflow nor underflow.
struct Scaled {
    /// Row-major entries.
    values: Vec<f64>,
    /// Side length.
    size: usize,
    /// The matrix is `values * 2^exp2`.
    exp2: i64,
}

impl Scaled {
    fn zeros(size: usize) -> Self {
        Self {
            values: vec![0.0; size * size],
            size,
            exp2: 0,
        }
    }

    fn identity(size: usize) -> Self {
        let mut id = Self::zeros(size);
        for i in 0..size {
            id.values[i * size + i] = 1.0;
        }
        id
    }

    fn mul(&self, other: &Self) -> Self {
        let m = self.size;
        let mut out = Self::zeros(m);
        for i in 0..m {
            for l in 0..m {
                let a = self.values[i * m + l];
                if a == 0.0 {
                    continue;
                }
                let row = &other.values[l * m..(l + 1) * m];
                for (o, b) in out.values[i * m..(i + 1) * m].iter_mut().zip(row) {
                    *o += a * b;
                }
            }
        }
        out.exp2 = self.exp2 + other.exp2;
        out.rescale();
        out
    }

    /// Divides by 2^128 (exactly) while the largest entry exceeds 2^128.
    fn rescale(&mut self) {
        let limit = 2f64.powi(SCALE_EXP as i32);
        while self.values.iter().fold(0.0f64, |acc, v| acc.max(v.abs())) > limit {
            for v in &mut self.values {
                *v /= limit;
            }
            self.exp2 += SCALE_EXP;
        }
    }

    /// `self^e` by repeated squaring.
    fn pow(self, mut e: u64) -> Self {
        let mut result = Self::identity(self.size);
        let mut square = self;
        while e > 0 {
            if e & 1 == 1 {
                result = result.mul(&square);
            }
            e >>= 1;
            if e > 0 {
                square = square.mul(&square);
            }
        }
        result
    }
}

/// `x * 2^e` without overflowing an intermediate power of two.
fn ldexp(mut x: f64, mut e: i64) -> f64 {
    const STEP: i64 = 1000;
    while e > STEP && x != 0.0 && x.is_finite() {
        x *= 2f64.powi(STEP as i32);
        e -= STEP;
    }
    while e < -STEP && x != 0.0 {
        x *= 2f64.powi(-STEP as i32);
        e += STEP;
    }
    x * 2f64.powi(e as i32)
}

/// P(D_n <= d) by Pelz & Good's (1976) expansion `K0 + K1/sqrt(n) + K2/n + K3/n^1.5` in `z = d sqrt(n)`.
fn pelz_good_cdf(n: u64, d: f64) -> f64 {
    let nf = n as f64;
    let z = d * nf.sqrt();
    let z2 = z * z;
    if PI * PI / (8.0 * z2) > 708.0 {
        return 0.0;
    }
    let (z4, z6) = (z2 * z2, z2 * z2 * z2);
    let (pi2, pi4, pi6) = (PI * PI, PI.powi(4), PI.powi(6));
    let terms = (16.0 * z / PI).ceil() as u64;
    let mut odd = [0.0f64; 4]; // sums over k of c_i(k) exp(-pi^2 (k - 1/2)^2 / (2 z^2))
    let mut even = [0.0f64; 2]; // sums over k of c_i(k) exp(-pi^2 k^2 / (2 z^2))
    for k in (1..=terms).rev() {
        let kf = k as f64;
        let w2 = (kf - 0.5) * (kf - 0.5);
        let e = (-pi2 * w2 / (2.0 * z2)).exp();
        odd[0] += e;
        odd[1] += (pi2 * w2 - z2) * e;
        odd[2] += (6.0 * z6
            + 2.0 * z4
            + pi2 * (2.0 * z4 - 5.0 * z2) * w2
            + pi4 * (1.0 - 2.0 * z2) * w2 * w2)
            * e;
        odd[3] += (-30.0 * z6 - 90.0 * z6 * z2
            + pi2 * (135.0 * z4 - 96.0 * z6) * w2
            + pi4 * (212.0 * z4 - 60.0 * z2) * w2 * w2
            + pi6 * (5.0 - 30.0 * z2) * w2 * w2 * w2)
            * e;
        let k2 = kf * kf;
        let f = (-pi2 * k2 / (2.0 * z2)).exp();
        even[0] += k2 * f;
        even[1] += (3.0 * z2 - pi2 * k2) * k2 * f;
    }
    let root = (2.0 * PI).sqrt();
    let k0 = root / z * odd[0];
    let k1 = root / (6.0 * z4) * odd[1];
    let k2 = root / (72.0 * z6 * z) * odd[2] - pi2 * root / (36.0 * z2 * z) * even[0];
    let k3 = root / (6480.0 * z4 * z6) * odd[3] + pi2 * root / (216.0 * z6) * even[1];
    let sqrt_n = nf.sqrt();
    k0 + k1 / sqrt_n + k2 / nf + k3 / (nf * sqrt_n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_sample_size_and_nan() {
        assert_eq!(kstwo_sf(0, 0.3), None);
        assert_eq!(kstwo_sf(10, f64::NAN), None);
    }

    #[test]
    fn support_ends() {
        for n in [1, 7, 500, 2_000_000] {
            assert_eq!(kstwo_sf(n, 0.0), Some(1.0));
            assert_eq!(kstwo_sf(n, 1.0), Some(0.0));
            assert_eq!(kstwo_sf(n, -0.5), Some(1.0));
            // D_n >= 1/(2n) always.
            assert_eq!(kstwo_sf(n, 0.49 / n as f64), Some(1.0));
        }
    }

    #[test]
    fn single_observation_is_uniform_on_half_to_one() {
        // D_1 = max(U, 1 - U), so P(D_1 >= d) = 2 (1 - d) on [1/2, 1].
        for d in [0.5, 0.6, 0.75, 0.9, 0.99] {
            let sf = kstwo_sf(1, d).unwrap();
            assert!((sf - 2.0 * (1.0 - d)).abs() < 1e-15, "d={d}: {sf}");
        }
    }

    #[test]
    fn durbin_agrees_with_exact_smirnov_above_one_half() {
        // For d >= 1/2 the two-sided tail is exactly twice the one-sided one: two independent
        // exact methods must agree.
        for (n, d) in [(5, 0.55), (10, 0.6), (30, 0.52), (60, 0.7)] {
            let durbin = 1.0 - durbin_cdf(n, d);
            let smirnov = 2.0 * smirnov_sf(n, d);
            assert!(
                (durbin - smirnov).abs() < 1e-12,
                "n={n} d={d}: {durbin} vs {smirnov}"
            );
        }
    }

    #[test]
    fn continuous_across_method_cut_offs() {
        // Each side of a cut-off uses a different formula; they must agree where they meet.
        let cases = [
            (100, 4.0),       // Durbin | 2 * Smirnov, n <= 140
            (141, 2.2),       // Durbin | 2 * Smirnov
            (5_000, 2.2),     // Pelz-Good | 2 * Smirnov
            (200_000, 2.2),   // Pelz-Good | 2 * Smirnov
            (3_000_000, 2.2), // Pelz-Good | Smirnov approximation
        ];
        for (n, nd2) in cases {
            let nf = n as f64;
            let d = (nd2 / nf).sqrt();
            let below = kstwo_sf(n, d * (1.0 - 1e-9)).unwrap();
            let above = kstwo_sf(n, d * (1.0 + 1e-9)).unwrap();
            assert!((below - above).abs() < 1e-6, "n={n}: {below} vs {above}");
        }
        // Durbin | Pelz-Good at n d^1.5 = 1.4.
        let n = 20_000u64;
        let d = (1.4 / n as f64).powf(2.0 / 3.0);
        let below = kstwo_sf(n, d * (1.0 - 1e-9)).unwrap();
        let above = kstwo_sf(n, d * (1.0 + 1e-9)).unwrap();
        assert!((below - above).abs() < 1e-6, "{below} vs {above}");
    }

    #[test]
    fn decreasing_in_d() {
        for n in [3u64, 40, 140, 141, 1_000, 150_000] {
            let mut last = 1.0;
            for i in 1..200 {
                let d = i as f64 / 200.0;
                let sf = kstwo_sf(n, d).unwrap();
                assert!(sf <= last + 1e-9, "n={n} d={d}: {sf} > {last}");
                last = sf;
            }
        }
    }

    #[test]
    fn approaches_kolmogorov_limit() {
        // sqrt(n) D_n converges to Kolmogorov's distribution, Q(x) = 2 sum (-1)^(k-1) e^(-2 k^2 x^2).
        let n = 10_000_000u64;
        for x in [0.6, 1.0, 1.36] {
            let limit: f64 = (1..50)
                .map(|k| {
                    let k = k as f64;
                    2.0 * (-1f64).powf(k - 1.0) * (-2.0 * k * k * x * x).exp()
                })
                .sum();
            let sf = kstwo_sf(n, x / (n as f64).sqrt()).unwrap();
            assert!((sf - limit).abs() < 1e-3, "x={x}: {sf} vs {limit}");
        }
    }

    #[test]
    fn ldexp_spans_more_than_one_exponent_range() {
        assert_eq!(ldexp(1.5, 0), 1.5);
        assert_eq!(ldexp(2f64.powi(-600), 1200), 2f64.powi(600));
        assert_eq!(ldexp(2f64.powi(600), -1200), 2f64.powi(-600));
        assert_eq!(ldexp(1.0, -5000), 0.0);
    }

    #[test]
    fn stirling_series_matches_the_product() {
        for n in [141u64, 200, 5_000] {
            let direct: f64 = (1..=n).map(|i| (i as f64 / n as f64).ln()).sum();
            let series = ln_factorial_over_power(n);
            assert!(
                (series - direct).abs() < 1e-9 * direct.abs(),
                "n={n}: {series} vs {direct}"
            );
        }
    }
}
