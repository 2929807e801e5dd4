//! Seeded randomness shared by the methods: the generator, weighted draws and subsets.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The generator every method uses, seeded from the caller's seed.
pub(crate) fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Draws indices with probability proportional to non-negative weights.
pub(crate) struct WeightedIndex {
    cumulative: Vec<f64>,
}

impl WeightedIndex {
    /// `None` when no weight is positive (or any is negative or not finite).
    pub(crate) fn new(weights: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut total = 0.0;
        let mut cumulative = Vec::new();
        for w in weights {
            if !(w >= 0.0 && w.is_finite()) {
                return None;
            }
            total += w;
            cumulative.push(total);
        }
        (total > 0.0 && total.is_finite()).then_some(Self { cumulative })
    }

    /// One index, drawn with probability `w_i / Σ w`; never one with zero weight.
    pub(crate) fn draw(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = *self.cumulative.last().unwrap_or(&0.0);
        let u = rng.random::<f64>() * total;
        // First index whose cumulative weight exceeds u (zero-weight entries never do).
        let i = self.cumulative.partition_point(|&c| c <= u);
        i.min(self.cumulative.len() - 1)
    }
}

/// Makes the first `k` entries of `items` a uniformly random `k`-subset of them (partial
/// Fisher–Yates); `items` stays a permutation of itself.
pub(crate) fn partial_shuffle(items: &mut [usize], k: usize, rng: &mut ChaCha8Rng) {
    let n = items.len();
    for i in 0..k.min(n) {
        let j = rng.random_range(i..n);
        items.swap(i, j);
    }
}

/// `n choose k` as a float (exact below 2^53).
pub(crate) fn binomial(n: usize, k: usize) -> f64 {
    if k > n {
        return 0.0;
    }
    let k = k.min(n - k);
    let mut c = 1.0f64;
    for i in 0..k {
        c = c * (n - i) as f64 / (i + 1) as f64;
    }
    c.round()
}

/// Advances `combo` (strictly increasing indices below `n`) to the next combination in
/// lexicographic order; `false` after the last one.
pub(crate) fn next_combination(combo: &mut [usize], n: usize) -> bool {
    let k = combo.len();
    let mut i = k;
    while i > 0 {
        i -= 1;
        if combo[i] < n - k + i {
            combo[i] += 1;
            for j in i + 1..k {
                combo[j] = combo[j - 1] + 1;
            }
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_enumerate_all() {
        let mut combo = vec![0, 1, 2];
        let mut count = 1;
        while next_combination(&mut combo, 6) {
            assert!(combo.windows(2).all(|w| w[0] < w[1]) && combo[2] < 6);
            count += 1;
        }
        assert_eq!(count as f64, binomial(6, 3));
        assert_eq!(binomial(30, 15), 155_117_520.0);
        assert_eq!(binomial(3, 4), 0.0);
    }

    #[test]
    fn weighted_index_skips_zero_weights() {
        let w = WeightedIndex::new([0.0, 1.0, 0.0, 3.0]).unwrap();
        let mut r = rng(1);
        let mut counts = [0usize; 4];
        for _ in 0..4000 {
            counts[w.draw(&mut r)] += 1;
        }
        assert_eq!(counts[0] + counts[2], 0);
        assert!(
            (counts[3] as f64 / 4000.0 - 0.75).abs() < 0.03,
            "{counts:?}"
        );
        assert!(WeightedIndex::new([0.0, 0.0]).is_none());
        assert!(WeightedIndex::new([1.0, -1.0]).is_none());
    }
}
