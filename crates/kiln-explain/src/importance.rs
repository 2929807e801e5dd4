//! Permutation feature importance (Breiman, 2001; Fisher, Rudin & Dominici, 2019): the drop
//! in a score when one feature's values are shuffled across rows.

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::model::{batch_rows, predict_checked};
use crate::sampling::rng;
use crate::{ExplainError, Groups, Model};

/// The permutation importance of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Importance {
    /// The feature's name.
    pub name: String,
    /// Mean over the repeats of `baseline score − score with the feature shuffled`.
    pub mean: f64,
    /// Population standard deviation (divisor `repeats`) of that drop over the repeats.
    pub std: f64,
}

/// Permutation importance of every feature (group) on the `rows × inputs` row-major data `x`.
///
/// `score` gets the predictions (`rows × outputs`, row-major) and returns a score where
/// higher is better (accuracy, negative loss, R², ...). A group's columns are shuffled
/// together, with one seeded permutation of the rows per group and repeat, so one-hot
/// groups stay valid. The importances come back in group order (not sorted). All shuffled
/// copies are evaluated in batched predict calls (as many whole copies per call as fit in
/// 65 536 rows).
///
/// # Errors
/// [`ExplainError::InvalidOption`] when `repeats == 0`, [`ExplainError::Empty`] when
/// `rows == 0`, [`ExplainError::WidthMismatch`] when `x` does not hold `rows × inputs`
/// values, plus invalid groups and wrong-sized predictions.
pub fn permutation_importance(
    model: &dyn Model,
    groups: &Groups,
    x: &[f32],
    rows: usize,
    score: &dyn Fn(&[f64]) -> f64,
    repeats: usize,
    seed: u64,
) -> Result<Vec<Importance>, ExplainError> {
    if repeats == 0 {
        return Err(ExplainError::InvalidOption(
            "permutation importance needs at least one repeat".into(),
        ));
    }
    let width = model.inputs();
    if rows == 0 {
        return Err(ExplainError::Empty("data"));
    }
    if Some(x.len()) != rows.checked_mul(width) {
        return Err(ExplainError::WidthMismatch {
            what: "data",
            expected: rows.saturating_mul(width),
            found: x.len(),
        });
    }
    if model.outputs() == 0 {
        return Err(ExplainError::Empty("model outputs"));
    }
    groups.validate(width)?;
    let baseline = score(&predict_checked(model, x, rows)?);

    let m = groups.len();
    let copies = m * repeats;
    let o = model.outputs();
    let per_call = (batch_rows(width) / rows).max(1);
    let mut rng = rng(seed);
    let mut order: Vec<usize> = (0..rows).collect();
    let mut drops = Vec::with_capacity(copies);
    let mut buffer: Vec<f32> = Vec::with_capacity(per_call.min(copies) * rows * width);
    let mut start = 0;
    while start < copies {
        let batch = per_call.min(copies - start);
        buffer.clear();
        // Copy `c` shuffles group `c / repeats`; permutations are drawn in that order.
        for c in start..start + batch {
            let group = &groups.columns[c / repeats];
            order.shuffle(&mut rng);
            let at = buffer.len();
            buffer.extend_from_slice(x);
            let copy = &mut buffer[at..];
            for (r, &from) in order.iter().enumerate() {
                for &col in group {
                    copy[r * width + col] = x[from * width + col];
                }
            }
        }
        let predictions = predict_checked(model, &buffer, batch * rows)?;
        for c in 0..batch {
            drops.push(baseline - score(&predictions[c * rows * o..(c + 1) * rows * o]));
        }
        start += batch;
    }

    Ok((0..m)
        .map(|g| {
            let d = &drops[g * repeats..(g + 1) * repeats];
            let mean = d.iter().sum::<f64>() / repeats as f64;
            let var = d.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / repeats as f64;
            Importance {
                name: groups.names[g].clone(),
                mean,
                std: var.sqrt(),
            }
        })
        .collect())
}
