//! Binning helpers: edges from a reference column (quantile or equal-width) and counts per
//! bin, to feed [`psi`](crate::psi) and [`jensen_shannon`](crate::jensen_shannon).
//!
//! Edges are *interior* edges `e_0 < e_1 < ... < e_last`; they define `edges.len() + 1` bins
//! `(-inf, e_0], (e_0, e_1], ..., (e_last, +inf)`, each closed on the right. Values outside
//! the reference's range therefore still land in the first or last bin.

/// Interior edges at the reference's `k / bins` quantiles (`k = 1..bins`), deduplicated; empty when `bins < 2` or no value is finite.
///
/// Quantiles interpolate linearly between order statistics, as `numpy.quantile`'s default
/// (`'linear'`, position `q (n - 1)` in the sorted values). Non-finite values are ignored.
/// Equal quantiles collapse into one edge, so a column with few distinct values gets fewer
/// bins (a binary column gets at most a handful).
pub fn quantile_edges(reference: &[f64], bins: usize) -> Vec<f64> {
    let sorted = crate::sorted(reference.iter().copied().filter(|x| x.is_finite()));
    if bins < 2 || sorted.is_empty() {
        return Vec::new();
    }
    let last = (sorted.len() - 1) as u128;
    let edges = (1..bins).map(|k| {
        // Position k (n - 1) / bins, split exactly into whole and fractional parts.
        let scaled = k as u128 * last;
        let (lo, rem) = ((scaled / bins as u128) as usize, scaled % bins as u128);
        let frac = rem as f64 / bins as f64;
        if rem == 0 {
            sorted[lo]
        } else {
            sorted[lo] + (sorted[lo + 1] - sorted[lo]) * frac
        }
    });
    strictly_increasing(edges)
}

/// Interior edges of `bins` equal-width bins over the pooled range of both samples, as `numpy.linspace(min, max, bins + 1)[1:-1]`; empty when `bins < 2` or no value is finite.
///
/// This is the shared binning Evidently uses for Jensen-Shannon on numbers (it picks `bins`
/// with numpy's `'sturges'` rule, `ceil(log2(n) + 1)`; pass whatever count you want). Like
/// numpy, a constant pooled sample is widened to `[x - 0.5, x + 0.5]`. Non-finite values
/// are ignored. Note the side convention differs from `numpy.histogram`: a value exactly on an
/// interior edge counts in the lower bin here (see [`bin_counts`]), the upper one there.
pub fn histogram_edges(reference: &[f64], current: &[f64], bins: usize) -> Vec<f64> {
    let finite = || {
        reference
            .iter()
            .chain(current)
            .copied()
            .filter(|x| x.is_finite())
    };
    let (Some(mut lo), Some(mut hi)) = (finite().reduce(f64::min), finite().reduce(f64::max))
    else {
        return Vec::new();
    };
    if bins < 2 {
        return Vec::new();
    }
    if lo == hi {
        lo -= 0.5;
        hi += 0.5;
    }
    let step = (hi - lo) / bins as f64;
    strictly_increasing((1..bins).map(|k| k as f64 * step + lo))
}

/// Counts of `values` in the bins `(-inf, e_0], (e_0, e_1], ..., (e_last, +inf)` (`edges.len() + 1` of them, by binary search); NaN values are not counted.
///
/// `edges` must be sorted ascending, as both edge helpers return them. `±inf` fall in the end
/// bins. The counts are `f64` so they go straight into [`psi`](crate::psi),
/// [`jensen_shannon`](crate::jensen_shannon) or [`chi_squared_counts`](crate::chi_squared_counts).
pub fn bin_counts(values: &[f64], edges: &[f64]) -> Vec<f64> {
    let mut counts = vec![0.0; edges.len() + 1];
    // Sorted values without NaN (a drift test sorts them once for all its statistics): each
    // bin is the run between two binary searches.
    let sorted = values.first().is_some_and(|x| !x.is_nan())
        && values.last().is_some_and(|x| !x.is_nan())
        && values.is_sorted_by(|a, b| a.total_cmp(b).is_le());
    if sorted {
        let mut below = 0;
        for (count, edge) in counts.iter_mut().zip(edges) {
            let upto = values.partition_point(|&x| x <= *edge);
            *count = (upto - below) as f64;
            below = upto;
        }
        counts[edges.len()] = (values.len() - below) as f64;
        return counts;
    }
    for &x in values.iter().filter(|x| !x.is_nan()) {
        counts[edges.partition_point(|&e| e < x)] += 1.0;
    }
    counts
}

/// Keeps each edge only if it is greater than the last one kept.
fn strictly_increasing(edges: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut out: Vec<f64> = Vec::new();
    for e in edges {
        if out.last().is_none_or(|&last| e > last) {
            out.push(e);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_edges_of_a_regular_grid() {
        let x: Vec<f64> = (0..=100).map(f64::from).collect();
        assert_eq!(quantile_edges(&x, 4), vec![25.0, 50.0, 75.0]);
        assert_eq!(quantile_edges(&x, 3).len(), 2);
        assert!((quantile_edges(&x, 3)[0] - 100.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn quantile_edges_deduplicate_few_distinct_values() {
        let binary: Vec<f64> = (0..100).map(|i| f64::from(i % 2)).collect();
        let edges = quantile_edges(&binary, 10);
        assert!(
            edges.len() < 9 && edges.windows(2).all(|w| w[0] < w[1]),
            "{edges:?}"
        );
        assert_eq!(quantile_edges(&[7.0; 10], 5), vec![7.0]);
    }

    #[test]
    fn quantile_edges_degenerate_input() {
        assert!(quantile_edges(&[], 10).is_empty());
        assert!(quantile_edges(&[f64::NAN, f64::INFINITY], 10).is_empty());
        assert!(quantile_edges(&[1.0, 2.0], 1).is_empty());
        assert!(quantile_edges(&[1.0, 2.0], 0).is_empty());
        assert_eq!(quantile_edges(&[1.0, f64::NAN, 3.0], 2), vec![2.0]);
    }

    #[test]
    fn histogram_edges_span_the_pooled_range() {
        assert_eq!(histogram_edges(&[0.0, 1.0], &[4.0], 4), vec![1.0, 2.0, 3.0]);
        assert_eq!(histogram_edges(&[2.0], &[2.0], 2), vec![2.0]);
        assert!(histogram_edges(&[], &[], 4).is_empty());
        assert!(histogram_edges(&[1.0], &[2.0], 1).is_empty());
    }

    #[test]
    fn bin_counts_are_closed_on_the_right() {
        let edges = [1.0, 2.0];
        let counts = bin_counts(
            &[
                0.0,
                1.0,
                1.5,
                2.0,
                2.5,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NAN,
            ],
            &edges,
        );
        assert_eq!(counts, vec![3.0, 2.0, 2.0]);
        // Sorted input takes another path to the same counts.
        let sorted = [
            f64::NEG_INFINITY,
            0.0,
            1.0,
            1.0,
            1.5,
            2.0,
            2.5,
            f64::INFINITY,
        ];
        assert_eq!(bin_counts(&sorted, &edges), vec![4.0, 2.0, 2.0]);
        let mut shuffled = sorted;
        shuffled.reverse();
        assert_eq!(bin_counts(&shuffled, &edges), vec![4.0, 2.0, 2.0]);
        assert_eq!(bin_counts(&[1.0, 2.0], &[]), vec![2.0]);
        assert_eq!(bin_counts(&[], &edges), vec![0.0; 3]);
    }

    #[test]
    fn binned_psi_detects_a_shift() {
        let reference: Vec<f64> = (0..1000).map(|i| f64::from(i) / 1000.0).collect();
        let shifted: Vec<f64> = reference.iter().map(|x| x + 0.3).collect();
        let edges = quantile_edges(&reference, 10);
        assert_eq!(edges.len(), 9);
        let r = bin_counts(&reference, &edges);
        assert!(r.iter().all(|&c| (c - 100.0).abs() <= 1.0), "{r:?}");
        assert_eq!(crate::psi(&r, &bin_counts(&reference, &edges)), Some(0.0));
        assert!(crate::psi(&r, &bin_counts(&shifted, &edges)).unwrap() > 0.5);
    }
}
