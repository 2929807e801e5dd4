//! Running a trained network on rows: class probabilities or regression values, in batches.

use crate::fit::Objective;
use burn::prelude::*;
use kiln_model::{Network, TabularPredictor};

/// A dense row-major matrix of network inputs.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a> {
    /// Row-major values, `rows * width` of them.
    pub values: &'a [f32],
    /// Number of rows.
    pub rows: usize,
    /// Values per row.
    pub width: usize,
}

impl<'a> Matrix<'a> {
    /// A matrix over `values`, which must hold `rows * width` numbers.
    pub fn new(values: &'a [f32], rows: usize, width: usize) -> Self {
        assert_eq!(values.len(), rows * width, "matrix size");
        Self {
            values,
            rows,
            width,
        }
    }

    /// Rows `start..end` as a tensor on `device`.
    pub fn tensor(&self, start: usize, end: usize, device: &Device) -> Tensor<2> {
        let data = self.values[start * self.width..end * self.width].to_vec();
        Tensor::from_data(TensorData::new(data, [end - start, self.width]), device)
    }
}

/// Rows per forward pass when predicting.
const PREDICT_BATCH: usize = 2048;

/// The model's outputs for every row: probabilities `[rows, classes]` for classifiers,
/// values `[rows]` in the target's units for regression. `model` must be in eval mode.
pub fn predict(model: &Network, x: Matrix, objective: &Objective, device: &Device) -> Vec<f32> {
    Predictor::new(model).predict(x, objective, device)
}

/// A network ready to predict many times: a tabular network's weights are copied to the host
/// once and run there ([`TabularPredictor`]: faster than tensor operations at every batch
/// size); other networks run through burn on the given device.
#[derive(Debug, Clone)]
// One is made per prediction call and none is stored in bulk, so its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Predictor {
    /// A tabular network, on the host.
    Host(TabularPredictor),
    /// Any other network, through burn.
    Burn(Network),
}

impl Predictor {
    /// Prepares `model` (in eval mode) for prediction.
    pub fn new(model: &Network) -> Self {
        match model {
            Network::Tabular(net) => Predictor::Host(TabularPredictor::new(net)),
            Network::Conv(_) | Network::Text(_) => Predictor::Burn(model.clone()),
        }
    }

    /// The network's outputs for every row of `x`, as [`predict`] gives them.
    pub fn predict(&self, x: Matrix, objective: &Objective, device: &Device) -> Vec<f32> {
        self.predict_rows(x, objective, device, true)
    }

    /// [`Self::predict`], with a tabular network on the calling thread only (a server under
    /// load, whose other cores have requests to parse); the results are the same.
    pub fn predict_on_this_thread(
        &self,
        x: Matrix,
        objective: &Objective,
        device: &Device,
    ) -> Vec<f32> {
        self.predict_rows(x, objective, device, false)
    }

    fn predict_rows(
        &self,
        x: Matrix,
        objective: &Objective,
        device: &Device,
        all_cores: bool,
    ) -> Vec<f32> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < x.rows {
            let end = (start + PREDICT_BATCH).min(x.rows);
            let (raw, members, width) = match self {
                Predictor::Host(host) => {
                    let rows = &x.values[start * x.width..end * x.width];
                    let raw = if all_cores {
                        host.forward(rows, end - start)
                    } else {
                        host.forward_on_this_thread(rows, end - start)
                    };
                    (raw, host.members(), host.outputs())
                }
                Predictor::Burn(model) => {
                    let outputs = model.forward(x.tensor(start, end, device));
                    let [_, members, width] = outputs.dims();
                    let raw = outputs.into_data().try_into_vec::<f32>();
                    (raw.expect("f32 outputs"), members, width)
                }
            };
            out.extend(combine_members(&raw, members, width, objective));
            start = end;
        }
        out
    }
}

/// Averages the `k` members of `raw` (`[rows, k, width]` outputs): mean of probabilities, or
/// mean of values unstandardised.
pub fn combine_members(raw: &[f32], k: usize, width: usize, objective: &Objective) -> Vec<f32> {
    let rows = raw.len() / (k * width).max(1);
    match objective {
        Objective::Classification { .. } => {
            let mut probs = vec![0f32; rows * width];
            let mut member = vec![0f32; width];
            for (r, row) in raw.chunks(k * width).enumerate() {
                for logits in row.chunks(width) {
                    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0.0;
                    for (m, &l) in member.iter_mut().zip(logits) {
                        *m = (l - max).exp();
                        sum += *m;
                    }
                    for (p, m) in probs[r * width..(r + 1) * width].iter_mut().zip(&member) {
                        *p += m / sum / k as f32;
                    }
                }
            }
            probs
        }
        Objective::Regression { mean, std } => raw
            .chunks(k)
            .map(|members| {
                let z = members.iter().map(|&v| f64::from(v)).sum::<f64>() / k as f64;
                (z * std + mean) as f32
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_averaged_as_probabilities_and_values() {
        // One row, two members, two classes: member logits (0, 0) and (ln 3, 0).
        let logits = [0.0, 0.0, 3f32.ln(), 0.0];
        let p = combine_members(&logits, 2, 2, &Objective::Classification { classes: 2 });
        assert!((p[0] - (0.5 + 0.75) / 2.0).abs() < 1e-6 && (p[0] + p[1] - 1.0).abs() < 1e-6);
        let v = combine_members(
            &[1.0, 3.0],
            2,
            1,
            &Objective::Regression {
                mean: 10.0,
                std: 2.0,
            },
        );
        assert_eq!(v, vec![14.0]);
    }
}
