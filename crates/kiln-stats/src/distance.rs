//! Distances between two samples or two binned distributions: Wasserstein (earth mover's)
//! distance, its Evidently normalisation, Jensen-Shannon distance and the population
//! stability index.

/// [`wasserstein_normed`] divides by `max(std(reference), MIN_NORM_STD)`, as Evidently does.
pub const MIN_NORM_STD: f64 = 0.001;

/// [`psi`] replaces a zero proportion by this floor (Evidently's value) before taking logs.
pub const PSI_FLOOR: f64 = 0.0001;

/// 1-D Wasserstein-1 distance between two unweighted samples, as `scipy.stats.wasserstein_distance(a, b)`; `None` if either is empty or holds a non-finite value.
///
/// It is the area between the two empirical CDFs, integrated exactly between consecutive
/// pooled values after sorting: O((m + n) log(m + n)).
pub fn wasserstein(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.is_empty() || b.is_empty() || a.iter().chain(b).any(|x| !x.is_finite()) {
        return None;
    }
    let a = crate::sorted(a.iter().copied());
    let b = crate::sorted(b.iter().copied());
    let (m, n) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut x = a[0].min(b[0]);
    let mut area = 0.0;
    loop {
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        let next = match (a.get(i), b.get(j)) {
            (Some(&u), Some(&v)) => u.min(v),
            (Some(&u), None) => u,
            (None, Some(&v)) => v,
            (None, None) => break,
        };
        let gap = (i as f64 / m - j as f64 / n).abs();
        if gap > 0.0 {
            // Skipping zero gaps also keeps an overflowing `next - x` from making 0 * inf = NaN.
            area += gap * (next - x);
        }
        x = next;
    }
    Some(area)
}

/// Evidently's "Wasserstein distance (normed)": [`wasserstein`] divided by `max(std(reference), MIN_NORM_STD)`; `None` as for [`wasserstein`] (or if values near `f64::MAX` overflow).
///
/// `std` is the population standard deviation (`ddof = 0`, numpy's default). A constant
/// reference column therefore divides by [`MIN_NORM_STD`] (0.001), as Evidently does: the
/// result is 0 when `current` is the same constant and large (never infinite or NaN)
/// otherwise.
pub fn wasserstein_normed(reference: &[f64], current: &[f64]) -> Option<f64> {
    let distance = wasserstein(reference, current)?;
    let n = reference.len() as f64;
    let mean = reference.iter().sum::<f64>() / n;
    let std = (reference
        .iter()
        .map(|x| (x - mean) * (x - mean))
        .sum::<f64>()
        / n)
        .sqrt();
    let normed = distance / std.max(MIN_NORM_STD);
    // Only values near f64::MAX can overflow both into inf / inf.
    (!normed.is_nan()).then_some(normed)
}

/// Jensen-Shannon distance between two histograms (counts or weights), as `scipy.spatial.distance.jensenshannon(p, q)` with natural logs; `None` on bad input.
///
/// Both inputs are normalised to sum to 1; the result is the square root of the
/// Jensen-Shannon divergence, in `[0, sqrt(ln 2)]`. Empty bins are fine (`0 ln 0 = 0`).
/// Returns `None` when the lengths differ or are zero, a value is negative or not finite,
/// or either input sums to zero.
pub fn jensen_shannon(p: &[f64], q: &[f64]) -> Option<f64> {
    let (p, q) = (normalised(p, q.len())?, normalised(q, p.len())?);
    let divergence: f64 = p
        .iter()
        .zip(&q)
        .map(|(&pi, &qi)| {
            let mid = (pi + qi) / 2.0;
            relative_entropy_term(pi, mid) + relative_entropy_term(qi, mid)
        })
        .sum();
    Some((divergence / 2.0).max(0.0).sqrt())
}

/// Population stability index of aligned bins (counts or proportions): `sum (c - r) ln(c / r)` over the proportions; `None` on bad input.
///
/// Each input is normalised to proportions, then a proportion of exactly zero is replaced by
/// [`PSI_FLOOR`] (0.0001, Evidently's floor; the others are not renormalised). Returns `None`
/// when the lengths differ or are zero, a value is negative or not finite, or either input
/// sums to zero.
pub fn psi(reference: &[f64], current: &[f64]) -> Option<f64> {
    let (r, c) = (
        normalised(reference, current.len())?,
        normalised(current, reference.len())?,
    );
    let floor = |x: f64| if x == 0.0 { PSI_FLOOR } else { x };
    Some(
        r.iter()
            .zip(&c)
            .map(|(&r, &c)| (floor(c) - floor(r)) * (floor(c) / floor(r)).ln())
            .sum(),
    )
}

/// `x` scaled to sum to 1, or `None` if its length is not `len` (or is 0), a value is negative
/// or not finite, or it sums to zero.
fn normalised(x: &[f64], len: usize) -> Option<Vec<f64>> {
    if x.is_empty() || x.len() != len || x.iter().any(|&v| !v.is_finite() || v < 0.0) {
        return None;
    }
    let total: f64 = x.iter().sum();
    if total <= 0.0 || !total.is_finite() {
        return None;
    }
    Some(x.iter().map(|v| v / total).collect())
}

/// `x ln(x / y)` with `0 ln 0 = 0`, as `scipy.special.rel_entr` for `y >= x >= 0`.
fn relative_entropy_term(x: f64, y: f64) -> f64 {
    if x > 0.0 { x * (x / y).ln() } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::SplitMix64;

    #[test]
    fn wasserstein_rejects_empty_and_non_finite() {
        assert_eq!(wasserstein(&[], &[1.0]), None);
        assert_eq!(wasserstein(&[1.0], &[]), None);
        assert_eq!(wasserstein(&[1.0, f64::NAN], &[1.0]), None);
        assert_eq!(wasserstein(&[1.0], &[f64::INFINITY]), None);
        assert_eq!(wasserstein_normed(&[], &[1.0]), None);
    }

    #[test]
    fn extreme_values_never_give_nan() {
        let wide = [-f64::MAX, f64::MAX];
        assert_eq!(wasserstein(&wide, &wide), Some(0.0));
        assert_eq!(wasserstein_normed(&wide, &wide), Some(0.0));
        assert_eq!(wasserstein(&wide, &[f64::MAX]), Some(f64::INFINITY));
        assert_eq!(wasserstein_normed(&wide, &[f64::MAX]), None);
    }

    #[test]
    fn wasserstein_of_a_shift_is_the_shift() {
        let a = SplitMix64::new(5).normals(500, 0.0);
        let b: Vec<f64> = a.iter().map(|x| x + 0.75).collect();
        assert!((wasserstein(&a, &b).unwrap() - 0.75).abs() < 1e-12);
        assert_eq!(wasserstein(&a, &a), Some(0.0));
        // Point masses: |E_a - E_b| when one sample lies wholly below the other.
        assert!((wasserstein(&[0.0, 1.0], &[5.0, 6.0, 7.0]).unwrap() - 5.5).abs() < 1e-12);
    }

    #[test]
    fn wasserstein_normed_scales_by_reference_std() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [2.0, 3.0, 4.0, 5.0];
        let std = 1.25f64.sqrt();
        assert!((wasserstein_normed(&a, &b).unwrap() - 1.0 / std).abs() < 1e-12);
    }

    #[test]
    fn wasserstein_normed_constant_reference() {
        assert_eq!(wasserstein_normed(&[3.0, 3.0, 3.0], &[3.0, 3.0]), Some(0.0));
        let shifted = wasserstein_normed(&[3.0, 3.0, 3.0], &[3.5]).unwrap();
        assert!((shifted - 0.5 / MIN_NORM_STD).abs() < 1e-9, "{shifted}");
    }

    #[test]
    fn jensen_shannon_bounds() {
        assert_eq!(
            jensen_shannon(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]),
            Some(0.0)
        );
        let disjoint = jensen_shannon(&[1.0, 0.0], &[0.0, 1.0]).unwrap();
        assert!((disjoint - 2f64.ln().sqrt()).abs() < 1e-15);
        let some = jensen_shannon(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap();
        assert!(some > 0.0 && some < disjoint);
        assert_eq!(
            jensen_shannon(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]),
            jensen_shannon(&[3.0, 2.0, 1.0], &[1.0, 2.0, 3.0])
        );
    }

    #[test]
    fn jensen_shannon_and_psi_reject_bad_input() {
        for f in [jensen_shannon, psi] {
            assert_eq!(f(&[1.0, 2.0], &[1.0]), None);
            assert_eq!(f(&[], &[]), None);
            assert_eq!(f(&[0.0, 0.0], &[1.0, 1.0]), None);
            assert_eq!(f(&[1.0, 1.0], &[0.0, 0.0]), None);
            assert_eq!(f(&[1.0, -1.0], &[1.0, 1.0]), None);
            assert_eq!(f(&[1.0, f64::NAN], &[1.0, 1.0]), None);
        }
    }

    #[test]
    fn psi_zero_for_same_proportions_and_floored_for_empty_bins() {
        assert_eq!(psi(&[10.0, 20.0, 30.0], &[1.0, 2.0, 3.0]), Some(0.0));
        // Half the mass moves into a bin that was empty: (0.5 - 1e-4) ln(0.5 / 1e-4) + (0.5 - 1) ln(0.5).
        let moved = psi(&[1.0, 0.0], &[1.0, 1.0]).unwrap();
        let expected = (0.5 - PSI_FLOOR) * (0.5 / PSI_FLOOR).ln() + (0.5 - 1.0) * 0.5f64.ln();
        assert!((moved - expected).abs() < 1e-12, "{moved} vs {expected}");
        assert!(psi(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap() > 0.0);
    }
}
