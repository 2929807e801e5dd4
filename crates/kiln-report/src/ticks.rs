//! "Nice" axis ticks (steps of 1, 2 or 5 × 10^k, or powers of ten on a log axis) and number
//! formatting for chart labels.

/// Tick positions for one axis, plus the decimal exponent of their step, which sets the labels'
/// precision, and whether the axis is logarithmic.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ticks {
    /// Tick values in increasing order: the first is at or below the data's minimum, the last
    /// at or above its maximum. Never empty.
    pub values: Vec<f64>,
    /// `k` in `step = m × 10^k`.
    exp: i32,
    /// Whether the ticks are powers of ten on a log axis (each labelled by its own exponent).
    log: bool,
}

impl Ticks {
    /// Evenly spaced round ticks covering `[lo, hi]` with about `target` intervals.
    ///
    /// An empty range (`lo == hi`) is widened around its value; non-finite bounds fall back to
    /// `[0, 1]`; a range so wide that round ticks would overflow gets just its two bounds.
    pub fn covering(lo: f64, hi: f64, target: usize) -> Ticks {
        let (lo, hi) = widen(lo, hi);
        let span = hi - lo;
        let bare = Ticks {
            values: vec![lo, hi],
            exp: i32::MAX,
            log: false,
        };
        if !span.is_finite() {
            return bare;
        }
        let (m, exp) = nice_step(span / target.max(1) as f64);
        let step = m as f64 * 10f64.powi(exp);
        let value = |i: i64| tick_value(i * m, exp);
        let mut first = (lo / step).floor() as i64;
        let mut last = (hi / step).ceil() as i64;
        if value(first) > lo {
            first -= 1;
        }
        if value(last) < hi {
            last += 1;
        }
        // Near the ends of the float range, rounding outwards can overflow.
        if !value(first).is_finite() || !value(last).is_finite() {
            return bare;
        }
        Ticks {
            values: (first..=last).map(value).collect(),
            exp,
            log: false,
        }
    }

    /// Powers of ten for a log axis covering `[lo, hi]`: every decade, or every second, third…
    /// when that keeps to about `target` intervals.
    ///
    /// A range that is one power of ten is widened to the decades either side; bounds that are
    /// not positive and finite fall back to `[1, 10]`. Ticks stay between 1e-323 and 1e308, so
    /// that every tick is a positive, finite number.
    pub fn decades(lo: f64, hi: f64, target: usize) -> Ticks {
        let usable = |v: f64| v > 0.0 && v.is_finite();
        let (lo, hi) = if usable(lo) && usable(hi) {
            (lo.min(hi), lo.max(hi))
        } else {
            (1.0, 10.0)
        };
        // The exponent of `v`, rounded by `round` unless `v` is a power of ten up to float noise.
        let exponent = |v: f64, round: fn(f64) -> f64| {
            let e = v.log10();
            let nearest = e.round();
            let e = if (e - nearest).abs() < 1e-9 {
                nearest
            } else {
                round(e)
            };
            e.clamp(-323.0, 308.0) as i64
        };
        let (mut first, mut last) = (exponent(lo, f64::floor), exponent(hi, f64::ceil));
        if first == last {
            (first, last) = ((first - 1).max(-323), (last + 1).min(308));
        }
        let decades = (last - first).unsigned_abs();
        let step = decades.div_ceil(target.max(1) as u64).max(1) as i64;
        let first = first.div_euclid(step) * step;
        let last = -(-last).div_euclid(step) * step;
        let values = (first..=last)
            .step_by(step as usize)
            .filter(|k| (-323..=308).contains(k))
            .map(|k| tick_value(1, k as i32))
            .collect();
        Ticks {
            values,
            exp: 0,
            log: true,
        }
    }

    /// Whether these are powers of ten on a log axis.
    pub fn is_log(&self) -> bool {
        self.log
    }

    /// The lowest tick, where the axis starts.
    pub fn lo(&self) -> f64 {
        self.values[0]
    }

    /// The highest tick, where the axis ends.
    pub fn hi(&self) -> f64 {
        self.values[self.values.len() - 1]
    }

    /// The label for tick value `v`: just as many decimals as the step needs (on a log axis,
    /// as the power of ten itself needs).
    pub fn label(&self, v: f64) -> String {
        let exp = if self.log {
            v.log10().round() as i32
        } else {
            self.exp
        };
        match exp {
            -4..=-1 => format!("{v:.*}", exp.unsigned_abs() as usize),
            0..=5 => format!("{v:.0}"),
            _ => format!("{v:e}"),
        }
    }
}

/// Orders the bounds and widens an empty or (relatively) vanishing range so that it can be
/// divided into ticks.
fn widen(a: f64, b: f64) -> (f64, f64) {
    if !a.is_finite() || !b.is_finite() {
        return (0.0, 1.0);
    }
    let (lo, hi) = (a.min(b), a.max(b));
    // Below this, steps and tick counts would under- or overflow: treat as zero.
    const NEGLIGIBLE: f64 = 1e-200;
    let scale = lo.abs().max(hi.abs());
    let span = hi - lo;
    if span > scale * 1e-9 && span > NEGLIGIBLE {
        return (lo, hi);
    }
    let pad = if scale < NEGLIGIBLE { 1.0 } else { scale * 0.1 };
    (lo - pad, hi + pad)
}

/// The smallest step `m × 10^k` with `m` in {1, 2, 5} that is at least `raw`, as `(m, k)`.
fn nice_step(raw: f64) -> (i64, i32) {
    let exp = raw.log10().floor() as i32;
    let fraction = raw / 10f64.powi(exp);
    match fraction {
        f if f <= 1.0 => (1, exp),
        f if f <= 2.0 => (2, exp),
        f if f <= 5.0 => (5, exp),
        _ => (1, exp + 1),
    }
}

/// `n × 10^exp` as the nearest `f64`, without the error that multiplying would add
/// (so the third tick of step 0.1 is 0.3, not 0.30000000000000004).
fn tick_value(n: i64, exp: i32) -> f64 {
    format!("{n}e{exp}")
        .parse()
        .unwrap_or(n as f64 * 10f64.powi(exp))
}

/// A data value as text: integers without decimals, other numbers with 3 significant digits.
pub(crate) fn format_value(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == v.trunc() && v.abs() < 1e15 {
        // Adding +0.0 turns -0.0 into 0.0, so no "-0".
        return format!("{:.0}", v + 0.0);
    }
    let magnitude = v.abs();
    if (1e-3..1e6).contains(&magnitude) {
        let decimals = (2 - magnitude.log10().floor() as i32).max(0) as usize;
        format!("{v:.decimals$}")
    } else {
        format!("{v:.2e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that `ticks` are round, evenly spaced and cover `[lo, hi]`.
    fn assert_nice(ticks: &Ticks, lo: f64, hi: f64) {
        let v = &ticks.values;
        assert!(v.len() >= 2, "{v:?}");
        assert!(
            ticks.lo() <= lo && ticks.hi() >= hi,
            "{v:?} misses [{lo}, {hi}]"
        );
        let step = v[1] - v[0];
        let exp = step.log10().floor();
        let mantissa = step / 10f64.powf(exp);
        assert!(
            [1.0, 2.0, 5.0, 10.0]
                .iter()
                .any(|m| (mantissa - m).abs() < 1e-6),
            "step {step} of {v:?} is not 1, 2 or 5 × 10^k"
        );
        for (i, t) in v.iter().enumerate() {
            let multiple = t / step;
            assert!(
                (multiple - multiple.round()).abs() < 1e-6,
                "{t} not a multiple of {step}"
            );
            let expected = v[0] + i as f64 * step;
            assert!((t - expected).abs() < step * 1e-6, "uneven ticks {v:?}");
        }
    }

    #[test]
    fn ticks_are_nice_round_numbers_covering_the_range() {
        let ranges = [
            (0.0, 1.0),
            (0.0, 10.0),
            (1.0, 50.0),
            (0.13, 0.92),
            (-3.7, 12.2),
            (-250.0, -3.0),
            (0.6941, 0.7012),
            (1e-6, 3.5e-6),
            (12_345.0, 987_654.0),
            (1.0, 3.0),
        ];
        for (lo, hi) in ranges {
            let ticks = Ticks::covering(lo, hi, 5);
            assert_nice(&ticks, lo, hi);
            // Not wastefully wide: less than one step beyond the data on each side.
            let step = ticks.values[1] - ticks.values[0];
            let v = &ticks.values;
            assert!(ticks.lo() > lo - step && ticks.hi() < hi + step, "{v:?}");
            assert!((4..=8).contains(&v.len()), "{v:?}");
        }
        assert_eq!(
            Ticks::covering(0.0, 1.0, 5).values,
            [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        );
        assert_eq!(
            Ticks::covering(-3.7, 12.2, 5).values,
            [-5.0, 0.0, 5.0, 10.0, 15.0]
        );
    }

    #[test]
    fn ticks_widen_a_range_of_equal_values() {
        for v in [0.0, 0.5, -7.0, 1e9] {
            let ticks = Ticks::covering(v, v, 5);
            assert_nice(&ticks, v, v);
            assert!(ticks.lo() < v && ticks.hi() > v, "{:?}", ticks.values);
        }
    }

    #[test]
    fn ticks_fall_back_for_unusable_bounds() {
        assert_eq!(Ticks::covering(f64::NAN, 1.0, 5).values[0], 0.0);
        let tiny = Ticks::covering(0.0, 5e-324, 5);
        assert_eq!(tiny.values, [-1.0, -0.5, 0.0, 0.5, 1.0]);
        let huge = Ticks::covering(-f64::MAX, f64::MAX, 5);
        assert_eq!(huge.values, [-f64::MAX, f64::MAX]);
        let edge = Ticks::covering(-f64::MAX, 2.0, 5);
        assert_eq!(edge.values, [-f64::MAX, 2.0]);
        assert!(huge.label(f64::MAX).contains('e'));
    }

    #[test]
    fn tick_labels_have_no_float_noise() {
        let ticks = Ticks::covering(0.0, 0.9, 9);
        let labels: Vec<_> = ticks.values.iter().map(|&v| ticks.label(v)).collect();
        assert_eq!(labels[3], "0.3");
        assert!(
            labels.iter().all(|l| l.len() == 3 || l == "0"),
            "{labels:?}"
        );
        let big = Ticks::covering(0.0, 4e7, 4);
        assert_eq!(big.label(big.values[1]), "1e7");
        let ints = Ticks::covering(-20.0, 20.0, 4);
        assert_eq!(ints.label(ints.values[0]), "-20");
    }

    #[test]
    fn decades_are_powers_of_ten_labelled_without_noise() {
        let ticks = Ticks::decades(0.0003, 0.2, 5);
        assert!(ticks.is_log() && !Ticks::covering(0.0, 1.0, 5).is_log());
        assert_eq!(ticks.values, [1e-4, 1e-3, 1e-2, 1e-1, 1.0]);
        let labels: Vec<String> = ticks.values.iter().map(|&v| ticks.label(v)).collect();
        assert_eq!(labels, ["0.0001", "0.001", "0.01", "0.1", "1"]);
        // Bounds on a power of ten are not widened by float noise; one value gets a decade
        // either side.
        assert_eq!(
            Ticks::decades(1.0, 1000.0, 5).values,
            [1.0, 10.0, 100.0, 1000.0]
        );
        assert_eq!(
            Ticks::decades(100.0, 100.0, 5).values,
            [10.0, 100.0, 1000.0]
        );
        // Many decades: every third one, still covering the range.
        let wide = Ticks::decades(2e-9, 0.5, 4);
        assert_eq!(wide.values, [1e-9, 1e-6, 1e-3, 1.0]);
        assert_eq!(wide.label(1e-6), "1e-6");
        assert_eq!(Ticks::decades(f64::NAN, -1.0, 4).values, [1.0, 10.0]);
        for (lo, hi) in [(5e-324, 1e-300), (1e300, f64::MAX), (5e-324, f64::MAX)] {
            let extreme = Ticks::decades(lo, hi, 4);
            assert!(extreme.values.len() >= 2, "{:?}", extreme.values);
            assert!(extreme.values.iter().all(|v| *v > 0.0 && v.is_finite()));
        }
    }

    #[test]
    fn values_format_as_integers_or_three_significant_digits() {
        assert_eq!(format_value(42.0), "42");
        assert_eq!(format_value(-0.0), "0");
        assert_eq!(format_value(0.87345), "0.873");
        assert_eq!(format_value(12.345), "12.3");
        assert_eq!(format_value(-0.0123456), "-0.0123");
        assert_eq!(format_value(0.000012345), "1.23e-5");
        assert_eq!(format_value(f64::NAN), "NaN");
    }
}
