//! Fast e^x and ln x for the estimator's inner loops: inlined, free of library calls and (for
//! [`exp_nonpositive`] and [`ln_positive`]) of branches, so that loops over thousands of
//! kernels stay tight and vectorise; relative error below 1e-11 (the densities they serve
//! carry approximation errors of 1e-9 and more).

use std::f64::consts::LOG2_E;

/// ln 2 split for Cody–Waite reduction (fdlibm's `ln2_hi`, `ln2_lo`): n · `LN2_HI` is exact
/// for |n| < 2¹¹.
const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

/// 1.5 · 2⁵²: adding and subtracting it rounds a double to the nearest integer.
const ROUND: f64 = 6_755_399_441_055_744.0;

/// 2⁵² + 1023: adding it to an integer n ∈ [−1022, 1023] leaves n + 1023, the biased exponent
/// of 2ⁿ, in the low mantissa bits.
const EXPONENT: f64 = 4_503_599_627_371_519.0;

/// Below this, e^x is subnormal; [`exp_nonpositive`] returns e^−708 ≈ 3e-308 for it.
const SMALLEST: f64 = -708.0;

/// e^x: 0 below −708, +∞ above 709, NaN for NaN.
#[inline(always)]
pub(super) fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x <= SMALLEST {
        return 0.0;
    }
    if x > 709.0 {
        return f64::INFINITY;
    }
    core(x)
}

/// e^x for x ≤ 0 without branches; e^−708 ≈ 3e-308 for anything smaller (−∞ and NaN
/// included), which no sum of densities can tell from 0.
#[inline(always)]
pub(super) fn exp_nonpositive(x: f64) -> f64 {
    // A select, not a branch; NaN fails the comparison.
    core(if x > SMALLEST { x.min(0.0) } else { SMALLEST })
}

/// e^x for x ∈ [−708, 709].
#[inline(always)]
fn core(x: f64) -> f64 {
    // x = n ln 2 + r with |r| ≤ ln 2 / 2; e^r by its Taylor series to r⁹ (truncation error
    // below 1e-11), evaluated by Estrin's scheme: short dependency chains, since without FMA
    // every multiply-add costs two latencies.
    let n = (x * LOG2_E + ROUND) - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let r2 = r * r;
    let r4 = r2 * r2;
    let p01 = 1.0 + r;
    let p23 = 0.5 + r * 1.666_666_666_666_666_6e-1;
    let p45 = 4.166_666_666_666_666_4e-2 + r * 8.333_333_333_333_333e-3;
    let p67 = 1.388_888_888_888_889e-3 + r * 1.984_126_984_126_984e-4;
    let p89 = 2.480_158_730_158_73e-5 + r * 2.755_731_922_398_589_3e-6;
    let p = (p01 + r2 * p23) + r4 * ((p45 + r2 * p67) + r4 * p89);
    // 2ⁿ from its biased exponent, moved from the low mantissa bits into the exponent field.
    p * f64::from_bits((n + EXPONENT).to_bits() << 52)
}

/// The bits of √½: [`ln_positive`] splits x into 2^k · z with z ∈ [√½, √2).
const SQRT_HALF_BITS: u64 = 0x3fe6_a09e_667f_3bcd;

/// ln x for a positive, normal (not subnormal, finite) x, without branches; anything else
/// gives a meaningless number.
#[inline(always)]
pub(super) fn ln_positive(x: f64) -> f64 {
    // x = 2^k · z: k from the exponent bits, moved by one where the mantissa is below √½.
    let bits = x.to_bits();
    let shifted = bits.wrapping_sub(SQRT_HALF_BITS) as i64;
    let k = (shifted >> 52) as f64;
    let z = f64::from_bits(bits.wrapping_sub((shifted as u64) & 0xfff0_0000_0000_0000));
    // ln z = 2 atanh f with f = (z − 1)/(z + 1), |f| ≤ 0.172: the odd series to f¹⁵
    // (truncation error below 4e-14), in f² by Estrin's scheme.
    let f = (z - 1.0) / (z + 1.0);
    let f2 = f * f;
    let f4 = f2 * f2;
    let f8 = f4 * f4;
    let q01 = 2.0 + f2 * (2.0 / 3.0);
    let q23 = 2.0 / 5.0 + f2 * (2.0 / 7.0);
    let q45 = 2.0 / 9.0 + f2 * (2.0 / 11.0);
    let q67 = 2.0 / 13.0 + f2 * (2.0 / 15.0);
    let q = (q01 + f4 * q23) + f8 * (q45 + f4 * q67);
    k * LN2_HI + (k * LN2_LO + f * q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_library_exp() {
        let mut worst: f64 = 0.0;
        for i in 0..=200_000 {
            let x = -707.0 + 1416.0 * i as f64 / 200_000.0;
            let (got, want) = (exp(x), x.exp());
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 1e-11, "worst relative error {worst}");
        assert_eq!(exp(-800.0), 0.0);
        assert_eq!(exp(800.0), f64::INFINITY);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert!(exp(f64::NAN).is_nan());
        assert_eq!(exp(0.0), 1.0);
        assert!((exp_nonpositive(-3.0) - (-3.0f64).exp()).abs() < 1e-12);
        assert!(exp_nonpositive(f64::NEG_INFINITY) < 1e-307);
        assert!(exp_nonpositive(f64::NAN) < 1e-307);
    }

    #[test]
    fn ln_matches_the_library_ln() {
        let mut worst: f64 = 0.0;
        for i in 0..=200_000 {
            // From 1e-300 to 1e300, and densely around 1 where ln x is small.
            for x in [
                10f64.powf(-300.0 + 600.0 * i as f64 / 200_000.0),
                0.5 + i as f64 / 100_000.0,
            ] {
                let (got, want) = (ln_positive(x), x.ln());
                let err = (got - want).abs() / want.abs().max(1e-300);
                worst = worst.max(if want == 0.0 { got.abs() } else { err });
            }
        }
        assert!(worst < 1e-12, "worst relative error {worst}");
        assert_eq!(ln_positive(1.0), 0.0);
        assert_eq!(ln_positive(f64::MIN_POSITIVE), f64::MIN_POSITIVE.ln());
    }
}
