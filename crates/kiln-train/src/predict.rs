//! Running a trained network on rows: class probabilities or regression values, in batches.

use crate::fit::Objective;
use burn::prelude::*;
use burn::tensor::activation::softmax;
use kiln_model::TabularNet;

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
pub fn predict(model: &TabularNet, x: Matrix, objective: &Objective, device: &Device) -> Vec<f32> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < x.rows {
        let end = (start + PREDICT_BATCH).min(x.rows);
        out.extend(combine_members(
            model.forward(x.tensor(start, end, device)),
            objective,
        ));
        start = end;
    }
    out
}

/// Averages the ensemble members: mean of probabilities, or mean of values unstandardised.
pub fn combine_members(outputs: Tensor<3>, objective: &Objective) -> Vec<f32> {
    let [rows, _, width] = outputs.dims();
    match objective {
        Objective::Classification { .. } => {
            let probs = softmax(outputs, 2).mean_dim(1).reshape([rows, width]);
            probs
                .into_data()
                .try_into_vec::<f32>()
                .expect("f32 outputs")
        }
        Objective::Regression { mean, std } => {
            let v = outputs.mean_dim(1).reshape([rows]);
            let v = v.into_data().try_into_vec::<f32>().expect("f32 outputs");
            v.into_iter()
                .map(|z| (f64::from(z) * std + mean) as f32)
                .collect()
        }
    }
}
