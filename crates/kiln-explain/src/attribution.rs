//! The result of a Shapley-value explanation of one row.

use serde::{Deserialize, Serialize};

/// Attributions of one row.
///
/// For every output `k`: `base[k] + Σ_i values[i * outputs + k] = prediction[k]` (local
/// accuracy), up to floating-point rounding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// Per output: the expected model output over the background, `v(∅) = Σ_b w_b f(b)`.
    pub base: Vec<f64>,
    /// Features × outputs, row-major: the attribution of feature `i` to output `k` is
    /// `values[i * outputs + k]`.
    pub values: Vec<f64>,
    /// Per output: the model's output for the explained row, `f(x)`.
    pub prediction: Vec<f64>,
}

impl Attribution {
    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.base.len()
    }

    /// Number of features.
    pub fn features(&self) -> usize {
        self.values.len().checked_div(self.outputs()).unwrap_or(0)
    }

    /// The attribution of `feature` to `output`.
    pub fn value(&self, feature: usize, output: usize) -> f64 {
        self.values[feature * self.outputs() + output]
    }

    /// The largest `|base + Σ values − prediction|` over the outputs (0 up to rounding).
    pub fn local_accuracy_gap(&self) -> f64 {
        let outputs = self.outputs();
        (0..outputs)
            .map(|k| {
                let sum: f64 = (0..self.features()).map(|i| self.value(i, k)).sum();
                (self.base[k] + sum - self.prediction[k]).abs()
            })
            .fold(0.0, f64::max)
    }
}
