//! The standard normal distribution restricted to an interval, as TPE's kernels need it: its
//! mass over an interval (in log form, or from interpolation tables where thousands of
//! kernels need it), and draws from it.

use super::fast::{exp, ln_positive};
use rand::Rng;
use std::f64::consts::{FRAC_1_SQRT_2, LN_2};
use std::sync::OnceLock;

/// ln √(2π), the log of the standard normal density's normaliser.
pub(super) const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_7;

/// Below this width × max(1, |midpoint|), a mass is integrated by the midpoint rule, which is
/// then more accurate (relative error ≈ (w·m)⁴/1920) than a difference of two tail areas.
const NARROW: f64 = 0.05;

/// Rejection draws tried before falling back to the interval's nearer end.
const MAX_REJECTIONS: usize = 256;

/// erfc(z) ≈ t·exp(−z² + P(t)), t = 1 / (1 + z/2), for z ≥ 0: the Chebyshev fit of Numerical
/// Recipes, with a fractional error below 1.2e-7 for every z ≥ 0. Returns (t, −z² + P(t)),
/// so that callers can stay in log form where far tails would underflow.
#[inline(always)]
fn erfc_parts(z: f64) -> (f64, f64) {
    const C: [f64; 10] = [
        -1.265_512_23,
        1.000_023_68,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_203_98,
        1.488_515_87,
        -0.822_152_23,
        0.170_872_77,
    ];
    let t = 1.0 / (1.0 + 0.5 * z);
    // P(t) = Σ C[i] tⁱ by Estrin's scheme (short dependency chains).
    let t2 = t * t;
    let t4 = t2 * t2;
    let t8 = t4 * t4;
    let low = (C[0] + t * C[1]) + t2 * (C[2] + t * C[3]);
    let high = (C[4] + t * C[5]) + t2 * (C[6] + t * C[7]);
    let p = low + t4 * high + t8 * (C[8] + t * C[9]);
    (t, p - z * z)
}

/// ln erfc(z) for z ≥ 0.
fn log_erfc(z: f64) -> f64 {
    let (t, rest) = erfc_parts(z);
    t.ln() + rest
}

/// Below this, Φ(x) < 1e-17 is lost when subtracted from 1; the table covers [`TAIL_OFF`, 0].
const TAIL_OFF: f64 = -8.5;

/// Table nodes per unit of x.
const NODES_PER_UNIT: f64 = 32.0;

/// Φ(x) to about 1e-13 for x ≤ 0 (and just above), slowly: the series 0.5 + φ(x) Σ x^(2n+1) / (2n+1)!! near
/// 0, the continued fraction of Mills' ratio in the tail. For building the table.
fn lower_tail_exact(x: f64) -> f64 {
    let density = (-0.5 * x * x - LN_SQRT_2PI).exp();
    if x >= -3.0 {
        let (mut term, mut sum) = (x, x);
        for n in 1..200 {
            term *= x * x / (2 * n + 1) as f64;
            sum += term;
        }
        0.5 + density * sum
    } else {
        let z = -x;
        let fraction = (1..300).rev().fold(z, |acc, k| z + k as f64 / acc);
        density / fraction
    }
}

/// Φ and its derivative φ (times the node spacing) at the nodes `TAIL_OFF + i / 32`, for
/// cubic Hermite interpolation (error below 2e-9).
fn tail_table() -> &'static [[f64; 2]] {
    static TABLE: OnceLock<Vec<[f64; 2]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let nodes = (-TAIL_OFF * NODES_PER_UNIT) as usize + 2;
        (0..nodes)
            .map(|i| {
                let x = TAIL_OFF + i as f64 / NODES_PER_UNIT;
                let density = (-0.5 * x * x - LN_SQRT_2PI).exp();
                [lower_tail_exact(x), density / NODES_PER_UNIT]
            })
            .collect()
    })
}

/// Φ(x) for x ≤ 0, the standard normal's lower tail: from the table down to [`TAIL_OFF`],
/// from the Chebyshev fit below.
fn lower_tail(x: f64) -> f64 {
    Tails::new().lower(x)
}

/// The table of Φ, fetched once for a loop over many kernels.
#[derive(Clone, Copy)]
pub(super) struct Tails(&'static [[f64; 2]]);

impl Tails {
    pub(super) fn new() -> Self {
        Self(tail_table())
    }

    /// Φ(x) for x ≤ 0 (see [`lower_tail`]).
    #[inline(always)]
    fn lower(self, x: f64) -> f64 {
        if x >= TAIL_OFF {
            hermite(self.0, (x - TAIL_OFF) * NODES_PER_UNIT).unwrap_or(0.5)
        } else {
            let (t, rest) = erfc_parts(-x * FRAC_1_SQRT_2);
            0.5 * t * exp(rest)
        }
    }

    /// Φ(b) − Φ(a) for a ≤ 0 ≤ b (a kernel centred inside its range): 1 minus both tails, not
    /// in log form, so that a product over dimensions needs a single logarithm.
    #[inline(always)]
    pub(super) fn central_mass(self, a: f64, b: f64) -> f64 {
        let tail = |x: f64| if x < TAIL_OFF { 0.0 } else { self.lower(x) };
        1.0 - tail(a) - tail(-b)
    }
}

/// Cubic Hermite interpolation in a table of (value, derivative × node spacing) at position
/// `u` ≥ 0, counted in nodes; `None` past the table.
#[inline(always)]
fn hermite(nodes: &[[f64; 2]], u: f64) -> Option<f64> {
    let i = u as usize;
    let t = u - i as f64;
    let (&[p0, d0], &[p1, d1]) = (nodes.get(i)?, nodes.get(i + 1)?);
    let s = 1.0 - t;
    Some(
        p0 * (1.0 + 2.0 * t) * s * s + d0 * t * s * s + p1 * t * t * (3.0 - 2.0 * t)
            - d1 * t * t * s,
    )
}

/// ln(Φ(w − z) − Φ(−z)): the log mass inside its range of a kernel centred z widths above the
/// start of a range w widths long, tabulated over z ∈ [0, w] for one dimension, so that
/// thousands of kernels of the same width cost one interpolation each.
pub(super) struct LogMass {
    width: f64,
    nodes: Vec<[f64; 2]>,
}

impl LogMass {
    /// The number of nodes of the table for a range `width` kernel widths long: what it
    /// costs to build.
    pub(super) fn nodes(width: f64) -> usize {
        (width * NODES_PER_UNIT) as usize + 2
    }

    /// The table for a range `width` kernel widths long.
    pub(super) fn new(tails: Tails, width: f64) -> Self {
        let count = Self::nodes(width);
        // Built for every estimator: the fast exp and ln (errors below 1e-11) keep it cheap.
        let density = |x: f64| exp(-0.5 * x * x - LN_SQRT_2PI);
        let nodes = (0..count)
            .map(|i| {
                let z = i as f64 / NODES_PER_UNIT;
                let log_mass = if z <= width {
                    // At least Φ(1) − Φ(0) ≈ 0.34: the range is at least a kernel width wide.
                    ln_positive(tails.central_mass(-z, width - z))
                } else {
                    log_gauss_mass(-z, width - z)
                };
                let slope = (density(z) - density(width - z)) / exp(log_mass);
                [log_mass, slope / NODES_PER_UNIT]
            })
            .collect();
        Self { width, nodes }
    }

    /// ln(Φ(w − z) − Φ(−z)).
    #[inline(always)]
    pub(super) fn at(&self, z: f64) -> f64 {
        match hermite(&self.nodes, z * NODES_PER_UNIT) {
            Some(v) if z >= 0.0 => v,
            _ => log_gauss_mass(-z, self.width - z),
        }
    }
}

/// ln Φ(x), the log of the standard normal's distribution function.
fn log_ndtr(x: f64) -> f64 {
    if x <= 0.0 {
        log_erfc(-x * FRAC_1_SQRT_2) - LN_2
    } else {
        (-lower_tail(-x)).ln_1p()
    }
}

/// ln(e^p − e^q) for p ≥ q.
fn log_diff(p: f64, q: f64) -> f64 {
    p + (-(q - p).exp()).ln_1p()
}

/// ln(Φ(b) − Φ(a)), the log of the standard normal's mass on `[a, b]`, accurate in both tails
/// and for narrow intervals (as Optuna's `_log_gauss_mass`); −∞ for an empty interval.
pub(super) fn log_gauss_mass(a: f64, b: f64) -> f64 {
    let width = b - a;
    if width.is_nan() || width <= 0.0 {
        return f64::NEG_INFINITY;
    }
    let mid = 0.5 * (a + b);
    if width * mid.abs().max(1.0) < NARROW {
        let correction = (width * width * (mid * mid - 1.0) / 24.0).ln_1p();
        return width.ln() - 0.5 * mid * mid - LN_SQRT_2PI + correction;
    }
    if b <= 0.0 {
        log_diff(log_ndtr(b), log_ndtr(a))
    } else if a > 0.0 {
        log_diff(log_ndtr(-a), log_ndtr(-b))
    } else {
        (-lower_tail(a) - lower_tail(-b)).ln_1p()
    }
}

/// Standard normal draws by Marsaglia's polar method, which makes them in pairs from two
/// uniforms with one logarithm and one square root; the second of a pair is kept for the
/// next call.
#[derive(Default)]
pub(super) struct Gaussian {
    spare: Option<f64>,
}

impl Gaussian {
    /// One standard normal draw.
    fn next(&mut self, rng: &mut impl Rng) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        loop {
            let u = 2.0 * rng.random::<f64>() - 1.0;
            let v = 2.0 * rng.random::<f64>() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let scale = (-2.0 * s.ln() / s).sqrt();
                self.spare = Some(v * scale);
                return u * scale;
            }
        }
    }

    /// A draw restricted to `[a, b]`, by rejection (TPE's kernels are centred inside their
    /// interval, which then holds at least a third of their mass, so few draws are rejected);
    /// after [`MAX_REJECTIONS`] misses, the end of the interval nearer to 0.
    pub(super) fn truncated(&mut self, rng: &mut impl Rng, a: f64, b: f64) -> f64 {
        for _ in 0..MAX_REJECTIONS {
            let z = self.next(rng);
            if (a..=b).contains(&z) {
                return z;
            }
        }
        if a.abs() < b.abs() { a } else { b }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// ln Φ(x) from mpmath at 40 digits (`mp.log(mp.ncdf(x))`).
    #[test]
    fn log_ndtr_matches_mpmath() {
        let cases = [
            (-40.0, -804.608_442_013_753_8),
            (-10.0, -53.231_285_150_512_47),
            (-3.0, -6.607_726_221_510_35),
            (-0.5, -1.175_911_761_593_618_6),
            (0.0, -std::f64::consts::LN_2),
            (1.5, -0.069_143_455_612_233_98),
            (6.0, -9.865_876_455_243_757e-10),
        ];
        for (x, want) in cases {
            let got = log_ndtr(x);
            assert!(
                (got - want).abs() < 2e-7 * want.abs().min(1.0),
                "x={x}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn lower_tail_matches_mpmath() {
        // Φ(x) from mpmath at 40 digits; the table's nodes and points between them.
        let cases = [
            (0.0, 0.5),
            (-0.013, 0.494_813_896_430_443_3),
            (-1.0, 0.158_655_253_931_457_05),
            (-2.7, 3.466_973_803_040_666_6e-3),
            (-3.0, 1.349_898_031_630_094_5e-3),
            (-5.55, 1.428_347_989_392_276_9e-8),
            (-8.4, 2.232_393_197_288_043_6e-17),
            (-9.0, 1.128_588_405_953_840_6e-19),
        ];
        for (x, want) in cases {
            let got = lower_tail(x);
            let tolerance: f64 = if x < TAIL_OFF { 2e-7 * want } else { 2e-9 };
            assert!((got - want).abs() < tolerance, "Φ({x}) = {got}, not {want}");
        }
    }

    #[test]
    fn log_mass_table_matches_the_direct_computation() {
        for width in [1.0, 3.7, 9.2, 30.0] {
            let table = LogMass::new(Tails::new(), width);
            for i in 0..=1000 {
                let z = width * i as f64 / 1000.0;
                let (got, want) = (table.at(z), log_gauss_mass(-z, width - z));
                assert!(
                    (got - want).abs() < 5e-8,
                    "w={width} z={z}: {got} vs {want}"
                );
            }
            let outside = table.at(width + 1.0);
            assert!((outside - log_gauss_mass(-width - 1.0, -1.0)).abs() < 1e-12);
        }
    }

    #[test]
    fn gauss_mass_is_accurate_in_every_regime() {
        // (a, b, ln(Φ(b) − Φ(a))) from mpmath at 50 digits.
        let cases = [
            (-1.0, 1.0, -0.381_715_146_302_126_07),
            (-30.0, 2.0, -0.023_012_909_328_963_488),
            (2.0, 2.01, -7.534_108_635_860_287),
            (-12.0, -11.0, -63.824_943_392_209_65),
            (0.0, 1e-6, -14.734_449_091_169_114),
            (35.0, 35.000_1, -622.631_028_396_429_4),
        ];
        for (a, b, want) in cases {
            let got = log_gauss_mass(a, b);
            assert!(
                (got - want).abs() < 2e-6 * want.abs().max(1.0),
                "[{a}, {b}]: {got} vs {want}"
            );
        }
        assert_eq!(log_gauss_mass(1.0, 1.0), f64::NEG_INFINITY);
        for (a, b) in [(-1.0, 1.0), (-30.0, 2.0), (0.0, 9.0), (-0.3, 0.2)] {
            let (central, log) = (Tails::new().central_mass(a, b), log_gauss_mass(a, b));
            assert!(
                (central.ln() - log).abs() < 1e-7,
                "[{a}, {b}]: {central} vs {log}"
            );
        }
    }

    #[test]
    fn truncated_draws_stay_inside_and_match_the_mean() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let (a, b) = (-0.5, 2.0);
        let n = 20_000;
        let mut sum = 0.0;
        let mut gaussian = Gaussian::default();
        for _ in 0..n {
            let z = gaussian.truncated(&mut rng, a, b);
            assert!((a..=b).contains(&z));
            sum += z;
        }
        // Mean of N(0,1) on [a, b]: (φ(a) − φ(b)) / (Φ(b) − Φ(a)) = 0.4292…
        let phi = |x: f64| (-0.5 * x * x - LN_SQRT_2PI).exp();
        let want = (phi(a) - phi(b)) / log_gauss_mass(a, b).exp();
        assert!(
            (sum / n as f64 - want).abs() < 0.02,
            "{} vs {want}",
            sum / n as f64
        );
    }
}
