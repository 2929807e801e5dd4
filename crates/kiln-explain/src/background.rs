//! Background data: the rows that stand in for "feature unknown", and seeded sampling of them.

use serde::{Deserialize, Serialize};

use crate::ExplainError;
use crate::sampling::rng;

/// Background data: rows that stand in for "feature unknown", with weights summing to 1.
///
/// The methods normalise the weights by their sum, so weights that sum to anything positive
/// work; they must be finite and non-negative.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Background {
    /// `n × width` encoded values, row-major.
    pub rows: Vec<f32>,
    /// Number of rows.
    pub n: usize,
    /// Encoded columns per row.
    pub width: usize,
    /// One weight per row.
    pub weights: Vec<f64>,
}

impl Background {
    /// All of `rows` (row-major, `width` columns) with equal weights.
    pub fn new(rows: Vec<f32>, width: usize) -> Result<Self, ExplainError> {
        let n = rows.len().checked_div(width).unwrap_or(0);
        Self::weighted(rows, width, vec![1.0 / n.max(1) as f64; n])
    }

    /// `rows` (row-major, `width` columns) with the given weights, checked by
    /// [`validate`](Self::validate).
    pub fn weighted(rows: Vec<f32>, width: usize, weights: Vec<f64>) -> Result<Self, ExplainError> {
        let background = Self {
            n: weights.len(),
            rows,
            width,
            weights,
        };
        background.validate()?;
        Ok(background)
    }

    /// `k` rows drawn without replacement (seeded) from the `rows × width` row-major data
    /// `x`, kept in their original order, with equal weights. All rows when `k >= rows`.
    ///
    /// `rows` is clamped to the number of whole rows in `x`; an empty result (`n == 0`, which
    /// the methods reject with [`ExplainError::Empty`]) comes from `k == 0`, `width == 0` or
    /// no data.
    pub fn sample(x: &[f32], rows: usize, width: usize, k: usize, seed: u64) -> Self {
        let rows = rows.min(x.len().checked_div(width).unwrap_or(0));
        let k = k.min(rows);
        let mut picked = rand::seq::index::sample(&mut rng(seed), rows, k).into_vec();
        picked.sort_unstable();
        let mut data = Vec::with_capacity(k * width);
        for &r in &picked {
            data.extend_from_slice(&x[r * width..(r + 1) * width]);
        }
        Self {
            rows: data,
            n: k,
            width,
            weights: vec![1.0 / k.max(1) as f64; k],
        }
    }

    /// Row `b`.
    pub fn row(&self, b: usize) -> &[f32] {
        &self.rows[b * self.width..(b + 1) * self.width]
    }

    /// Checks the shape (`rows.len() == n × width`, `weights.len() == n`) and that the
    /// weights are finite, non-negative and have a positive sum. An empty background is
    /// valid here; the methods reject it with [`ExplainError::Empty`].
    pub fn validate(&self) -> Result<(), ExplainError> {
        if self.weights.len() != self.n {
            return Err(ExplainError::InvalidBackground(format!(
                "{} weights for {} rows",
                self.weights.len(),
                self.n
            )));
        }
        if Some(self.rows.len()) != self.n.checked_mul(self.width) {
            return Err(ExplainError::InvalidBackground(format!(
                "{} values are not {} rows of width {}",
                self.rows.len(),
                self.n,
                self.width
            )));
        }
        if self.weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(ExplainError::InvalidBackground(
                "weights must be finite and non-negative".into(),
            ));
        }
        let total: f64 = self.weights.iter().sum();
        if self.n > 0 && !(total.is_finite() && total > 0.0) {
            return Err(ExplainError::InvalidBackground(
                "weights must have a positive, finite sum".into(),
            ));
        }
        Ok(())
    }

    /// The weights divided by their sum (after [`validate`](Self::validate) succeeded).
    pub(crate) fn normalized_weights(&self) -> Vec<f64> {
        let total: f64 = self.weights.iter().sum();
        self.weights.iter().map(|w| w / total).collect()
    }

    /// Validates the background as the data of a method whose model reads `width` columns.
    pub(crate) fn check_for(&self, width: usize) -> Result<(), ExplainError> {
        self.validate()?;
        if self.width != width {
            return Err(ExplainError::WidthMismatch {
                what: "background width",
                expected: width,
                found: self.width,
            });
        }
        if self.n == 0 {
            return Err(ExplainError::Empty("background"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_seeded_without_replacement() {
        let x: Vec<f32> = (0..200).map(|v| v as f32).collect();
        let a = Background::sample(&x, 100, 2, 10, 7);
        let b = Background::sample(&x, 100, 2, 10, 7);
        assert_eq!(a, b);
        assert_eq!(a.n, 10);
        let firsts: Vec<f32> = (0..10).map(|r| a.row(r)[0]).collect();
        assert!(firsts.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
        assert!(
            (0..10).all(|r| a.row(r)[1] == a.row(r)[0] + 1.0),
            "whole rows"
        );
        assert!((a.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_ne!(a, Background::sample(&x, 100, 2, 10, 8));
        // k beyond the data takes everything; junk shapes give an empty background.
        assert_eq!(Background::sample(&x, 100, 2, 500, 7).n, 100);
        assert_eq!(Background::sample(&x, 1000, 2, 500, 7).n, 100);
        assert_eq!(Background::sample(&x, 100, 0, 5, 7).n, 0);
    }

    #[test]
    fn validate_catches_bad_shapes_and_weights() {
        assert!(Background::new(vec![1.0; 6], 3).is_ok());
        assert!(Background::weighted(vec![1.0; 6], 3, vec![0.5]).is_err());
        assert!(Background::weighted(vec![1.0; 6], 3, vec![0.5, -0.5]).is_err());
        assert!(Background::weighted(vec![1.0; 6], 3, vec![0.0, 0.0]).is_err());
        assert!(Background::weighted(vec![1.0; 6], 3, vec![f64::NAN, 1.0]).is_err());
        let b = Background::new(vec![1.0; 6], 3).unwrap();
        assert!(matches!(
            b.check_for(2),
            Err(ExplainError::WidthMismatch { .. })
        ));
        let empty = Background::new(Vec::new(), 3).unwrap();
        assert_eq!(empty.check_for(3), Err(ExplainError::Empty("background")));
    }
}
