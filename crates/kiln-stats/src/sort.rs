//! Sorted copies of samples, shared by every statistic that orders its input.

/// `values` copied and sorted in `f64::total_cmp` order: by radix sort, or only copied when
/// they are sorted already (a caller that tests one sample several ways sorts it once).
pub fn sorted(values: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut out: Vec<f64> = values.into_iter().collect();
    if !out.is_sorted_by(|a, b| a.total_cmp(b).is_le()) {
        radsort::sort(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_in_total_order_and_keeps_sorted_input() {
        let xs = [3.5, -0.0, 0.0, -2.0, 1e300, -1e-300, 3.5];
        let mut want = xs.to_vec();
        want.sort_by(f64::total_cmp);
        let got = sorted(xs);
        assert_eq!(
            got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(sorted(got.clone()), got);
    }
}
