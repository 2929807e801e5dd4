//! Seeded train/validation/test splits, stratified by class for classification.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Row indices of the three parts of a data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Rows to fit on.
    pub train: Vec<usize>,
    /// Rows for early stopping and model choice.
    pub valid: Vec<usize>,
    /// Rows held out for the final metrics.
    pub test: Vec<usize>,
}

/// Splits `rows` into train/validation/test with the given fractions. With `classes` (one
/// class index per entry of `rows`), every class is split in the same proportions.
pub fn split_indices(
    rows: &[usize],
    classes: Option<&[usize]>,
    valid_fraction: f64,
    test_fraction: f64,
    seed: u64,
) -> Split {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &row) in rows.iter().enumerate() {
        groups
            .entry(classes.map_or(0, |c| c[i]))
            .or_default()
            .push(row);
    }
    let mut split = Split {
        train: Vec::new(),
        valid: Vec::new(),
        test: Vec::new(),
    };
    // Rounding per class is carried over so the totals match the fractions.
    let (mut test_carry, mut valid_carry) = (0.0, 0.0);
    for (_, mut group) in groups {
        group.shuffle(&mut rng);
        let n = group.len() as f64;
        let test_exact = n * test_fraction + test_carry;
        let n_test = test_exact.round().max(0.0) as usize;
        test_carry = test_exact - n_test as f64;
        let valid_exact = n * valid_fraction + valid_carry;
        let n_valid = valid_exact.round().max(0.0) as usize;
        valid_carry = valid_exact - n_valid as f64;
        // Keep at least one row of every class for training.
        let n_test = n_test.min(group.len().saturating_sub(1));
        let n_valid = n_valid.min(group.len().saturating_sub(1 + n_test));
        split.test.extend_from_slice(&group[..n_test]);
        split
            .valid
            .extend_from_slice(&group[n_test..n_test + n_valid]);
        split.train.extend_from_slice(&group[n_test + n_valid..]);
    }
    split.train.shuffle(&mut rng);
    split.valid.shuffle(&mut rng);
    split.test.shuffle(&mut rng);
    split
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_disjoint_and_cover_all_rows() {
        let rows: Vec<usize> = (0..103).collect();
        let s = split_indices(&rows, None, 0.16, 0.2, 1);
        let mut all = [s.train.clone(), s.valid.clone(), s.test.clone()].concat();
        all.sort();
        assert_eq!(all, rows);
        assert_eq!(s.test.len(), 21);
        assert_eq!(s.valid.len(), 16);
    }

    #[test]
    fn stratification_keeps_class_shares() {
        let rows: Vec<usize> = (0..200).collect();
        let classes: Vec<usize> = rows.iter().map(|&i| usize::from(i < 40)).collect();
        let s = split_indices(&rows, Some(&classes), 0.2, 0.2, 7);
        let minority_in_test = s.test.iter().filter(|&&r| r < 40).count();
        assert_eq!(minority_in_test, 8);
        assert_eq!(s.test.len(), 40);
    }

    #[test]
    fn same_seed_same_split_other_seed_other_split() {
        let rows: Vec<usize> = (0..50).collect();
        assert_eq!(
            split_indices(&rows, None, 0.2, 0.2, 3),
            split_indices(&rows, None, 0.2, 0.2, 3)
        );
        assert_ne!(
            split_indices(&rows, None, 0.2, 0.2, 3),
            split_indices(&rows, None, 0.2, 0.2, 4)
        );
    }
}
