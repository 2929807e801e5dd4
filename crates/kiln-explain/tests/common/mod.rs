//! Test models and data shared by the integration tests.

#![allow(dead_code)]

use kiln_explain::{Groups, Model};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The encoded columns of each feature in the test layout with `features` features (8 or
/// 10): continuous columns, a 3-column one-hot, a non-contiguous 2-column one-hot and a
/// feature encoded by two continuous columns.
pub fn layout(features: usize) -> Groups {
    let mut columns = vec![
        vec![0],
        vec![1, 2, 3], // one-hot, 3 levels
        vec![4],
        vec![5, 11], // one-hot, 2 levels, not contiguous
        vec![6],
        vec![7],
        vec![8],
        vec![9, 10], // two continuous columns of one feature
    ];
    for extra in 0..features.saturating_sub(8) {
        columns.push(vec![12 + extra]);
    }
    columns.truncate(features);
    Groups {
        names: (0..columns.len()).map(|i| format!("f{i}")).collect(),
        columns,
    }
}

/// Encoded width of [`layout`].
pub fn width(features: usize) -> usize {
    12 + features.saturating_sub(8)
}

/// `rows` encoded rows of the layout: standard-normal-ish continuous columns, valid one-hots.
pub fn table(features: usize, rows: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w = width(features);
    let mut x = vec![0f32; rows * w];
    for r in 0..rows {
        let row = &mut x[r * w..(r + 1) * w];
        for c in [0, 4, 6, 7, 8, 9, 10].into_iter().chain(12..w) {
            // Sum of uniforms: roughly normal, bounded.
            row[c] = (0..3).map(|_| rng.random::<f32>() - 0.5).sum::<f32>() * 2.0;
        }
        row[1 + rng.random_range(0..3)] = 1.0;
        row[if rng.random::<bool>() { 5 } else { 11 }] = 1.0;
    }
    x
}

/// A fixed two-layer tanh network with a softmax over 3 outputs.
pub struct Net {
    pub inputs: usize,
    hidden: usize,
    w1: Vec<f64>,
    b1: Vec<f64>,
    w2: Vec<f64>,
    b2: Vec<f64>,
}

impl Net {
    pub fn new(inputs: usize, seed: u64) -> Self {
        let hidden = 16;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut uniform = |scale: f64, n: usize| -> Vec<f64> {
            (0..n)
                .map(|_| (rng.random::<f64>() * 2.0 - 1.0) * scale)
                .collect()
        };
        let w1 = uniform(0.6, hidden * inputs);
        let b1 = uniform(0.5, hidden);
        let w2 = uniform(1.0, 3 * hidden);
        let b2 = uniform(0.3, 3);
        Self {
            inputs,
            hidden,
            w1,
            b1,
            w2,
            b2,
        }
    }
}

impl Model for Net {
    fn inputs(&self) -> usize {
        self.inputs
    }

    fn outputs(&self) -> usize {
        3
    }

    fn predict(&self, x: &[f32], rows: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(rows * 3);
        let mut h = vec![0.0; self.hidden];
        for row in x.chunks_exact(self.inputs).take(rows) {
            for (j, hj) in h.iter_mut().enumerate() {
                let w = &self.w1[j * self.inputs..(j + 1) * self.inputs];
                let z: f64 = w.iter().zip(row).map(|(w, &v)| w * f64::from(v)).sum();
                *hj = (z + self.b1[j]).tanh();
            }
            let logits: Vec<f64> = (0..3)
                .map(|k| {
                    let w = &self.w2[k * self.hidden..(k + 1) * self.hidden];
                    self.b2[k] + w.iter().zip(&h).map(|(w, h)| w * h).sum::<f64>()
                })
                .collect();
            let top = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = logits.iter().map(|l| (l - top).exp()).collect();
            let total: f64 = e.iter().sum();
            out.extend(e.iter().map(|v| v / total));
        }
        out
    }
}

/// `f_k(x) = w_k · x + b_k` for 2 outputs.
pub struct Linear {
    pub w: [Vec<f64>; 2],
    pub b: [f64; 2],
}

impl Linear {
    pub fn new(width: usize) -> Self {
        let w0 = (0..width).map(|c| (c as f64 - 4.5) * 0.7).collect();
        let w1 = (0..width)
            .map(|c| if c % 3 == 0 { 1.5 } else { -0.25 * c as f64 })
            .collect();
        Self {
            w: [w0, w1],
            b: [0.5, -2.0],
        }
    }
}

impl Model for Linear {
    fn inputs(&self) -> usize {
        self.w[0].len()
    }

    fn outputs(&self) -> usize {
        2
    }

    fn predict(&self, x: &[f32], rows: usize) -> Vec<f64> {
        let width = self.inputs();
        let mut out = Vec::with_capacity(rows * 2);
        for row in x.chunks_exact(width).take(rows) {
            for k in 0..2 {
                let dot: f64 = self.w[k]
                    .iter()
                    .zip(row)
                    .map(|(w, &v)| w * f64::from(v))
                    .sum();
                out.push(dot + self.b[k]);
            }
        }
        out
    }
}

/// The largest absolute difference between two slices of equal length.
pub fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}
