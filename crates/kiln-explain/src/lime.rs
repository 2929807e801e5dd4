//! Tabular LIME (Ribeiro, Singh & Guestrin, 2016): a sparse, locally weighted linear
//! surrogate fitted on "feature kept / replaced" indicators around the explained row.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::game::check_model;
use crate::linalg::weighted_ridge;
use crate::model::{batch_rows, predict_checked};
use crate::sampling::{WeightedIndex, rng};
use crate::{Background, ExplainError, Groups, Model};

/// The ridge penalty of the surrogate, as the default of lime's `Ridge`.
const RIDGE_ALPHA: f64 = 1.0;

/// Up to this many selected features, selection is forward selection; beyond, the highest
/// weights of a fit on all features (lime's `"auto"`).
const FORWARD_SELECTION_MAX: usize = 6;

/// Options of [`lime()`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimeOptions {
    /// Perturbed samples, including the explained row itself (lime's `num_samples`).
    pub samples: usize,
    /// Width of the exponential kernel on the Euclidean distance between binary
    /// representations; default `0.75 × √features` (lime's default).
    pub kernel_width: Option<f64>,
    /// Most features with a non-zero weight per output (lime's `num_features`).
    pub features: usize,
    /// Replace a feature by a value from a different quartile bin (`true`) or by its value
    /// in a random data row (`false`).
    pub discretize: bool,
    /// Seed of the sampling.
    pub seed: u64,
}

impl Default for LimeOptions {
    /// lime's defaults: 5 000 samples, 10 features, discretised, seed 0.
    fn default() -> Self {
        Self {
            samples: 5000,
            kernel_width: None,
            features: 10,
            discretize: true,
            seed: 0,
        }
    }
}

/// A LIME explanation of one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimeExplanation {
    /// Per output: the surrogate's intercept (its prediction with every feature replaced).
    pub intercept: Vec<f64>,
    /// Features × outputs, row-major: the surrogate's weight of "feature kept at x's value";
    /// at most `features` non-zero per output.
    pub values: Vec<f64>,
    /// Per output: weighted R² of the surrogate on the perturbed samples.
    pub r2: Vec<f64>,
    /// Per output: the model's output `f(x)`.
    pub prediction: Vec<f64>,
    /// Per output: the surrogate's prediction at `x` (every feature kept),
    /// `intercept + Σ values`.
    pub local_prediction: Vec<f64>,
}

/// How replacement values are drawn for one feature.
struct Replacements {
    /// Data rows that may supply the feature's replacement, and their draw weights.
    rows: Vec<usize>,
    draw: Option<WeightedIndex>,
}

/// Explains `x` with a tabular LIME surrogate.
///
/// **Sampling.** The first sample is `x` itself; in every other one each feature (group) is
/// independently kept at `x`'s value with probability ½ or replaced, copying all of its
/// encoded columns from a data row drawn by the data's weights:
/// * `discretize = false`: any data row;
/// * `discretize = true`: a data row whose value falls in a different bin than `x`'s — for
///   a one-column feature the bins are the quartiles of that column in the (weighted) data,
///   split as lime's `QuartileDiscretizer`; for a multi-column (one-hot) feature each
///   distinct pattern of values is a bin.
///
/// A feature's binary indicator is 1 when its columns equal `x`'s, so a replacement that
/// happens to equal `x` counts as kept; a feature that no data row can change stays 1 and
/// gets weight 0. No Gaussian noise is added: replacing from data keeps the samples on the
/// data's support and one-hot groups valid.
///
/// **Weights.** Distance `d` is the Euclidean distance between binary representations
/// (`√(features replaced)`); the sample weight is `√exp(−d² / width²)` with the default width
/// `0.75·√M`. This equals the kernel with width 0.75 on the distance scaled to `[0, 1]`
/// (divided by `√M`).
///
/// **Surrogate.** Per output: features are selected by forward selection on the weighted R²
/// when `features ≤ 6`, else by the largest absolute weights of a fit on all features
/// (lime's `"auto"`); all features when `features ≥ M`. Then a weighted ridge regression
/// (alpha 1, unpenalised intercept) on the selected indicators.
///
/// # Errors
/// [`ExplainError::InvalidOption`] for `samples == 0`, `features == 0` or a kernel width
/// that is not positive and finite; the input errors of every method otherwise.
pub fn lime(
    model: &dyn Model,
    groups: &Groups,
    data: &Background,
    x: &[f32],
    options: &LimeOptions,
) -> Result<LimeExplanation, ExplainError> {
    if options.samples == 0 || options.features == 0 {
        return Err(ExplainError::InvalidOption(
            "LIME needs at least one sample and one feature".into(),
        ));
    }
    let width = check_model(model, x)?;
    data.check_for(width)?;
    groups.validate(width)?;
    let m = groups.len();
    let kernel_width = options.kernel_width.unwrap_or(0.75 * (m as f64).sqrt());
    if !(kernel_width > 0.0 && kernel_width.is_finite()) && m > 0 {
        return Err(ExplainError::InvalidOption(format!(
            "kernel width {kernel_width} must be positive and finite"
        )));
    }
    let o = model.outputs();
    let weights = data.normalized_weights();
    let replacements: Vec<Replacements> = (0..m)
        .map(|g| replacements(data, &weights, &groups.columns[g], x, options.discretize))
        .collect();
    let runs: Vec<Vec<(usize, usize)>> = (0..m).map(|g| groups.runs(g)).collect();

    // Perturbed rows and their binary representation.
    let n = options.samples;
    let mut rng = rng(options.seed);
    let mut z = vec![1.0f64; n * m];
    let mut kernel = vec![1.0f64; n];
    let mut y = Vec::with_capacity(n * o);
    let per_call = batch_rows(width);
    let mut buffer: Vec<f32> = Vec::with_capacity(per_call.min(n) * width);
    let mut start = 0;
    while start < n {
        let rows = per_call.min(n - start);
        buffer.clear();
        for s in start..start + rows {
            let at = buffer.len();
            buffer.extend_from_slice(x);
            if s == 0 {
                continue;
            }
            let row = &mut buffer[at..at + width];
            for g in 0..m {
                let Some(draw) = &replacements[g].draw else {
                    continue;
                };
                if rng.random::<bool>() {
                    continue;
                }
                let source = data.row(replacements[g].rows[draw.draw(&mut rng)]);
                let mut same = true;
                for &(c, len) in &runs[g] {
                    row[c..c + len].copy_from_slice(&source[c..c + len]);
                    same &= (c..c + len).all(|j| source[j].to_bits() == x[j].to_bits());
                }
                if !same {
                    z[s * m + g] = 0.0;
                }
            }
            let replaced = z[s * m..(s + 1) * m].iter().filter(|v| **v == 0.0).count();
            kernel[s] = (-(replaced as f64) / (kernel_width * kernel_width))
                .exp()
                .sqrt();
        }
        y.extend(predict_checked(model, &buffer, rows)?);
        start += rows;
    }
    let prediction = y[..o].to_vec();

    let mut explanation = LimeExplanation {
        intercept: vec![0.0; o],
        values: vec![0.0; m * o],
        r2: vec![0.0; o],
        prediction,
        local_prediction: vec![0.0; o],
    };
    for k in 0..o {
        let target: Vec<f64> = (0..n).map(|s| y[s * o + k]).collect();
        let selected = select(&z, m, &target, &kernel, options.features);
        let fit = weighted_ridge(&z, m, &selected, &target, &kernel, RIDGE_ALPHA);
        explanation.intercept[k] = fit.intercept;
        explanation.r2[k] = fit.r2;
        explanation.local_prediction[k] = fit.intercept + fit.coef.iter().sum::<f64>();
        for (g, c) in fit.coef.iter().enumerate() {
            explanation.values[g * o + k] = *c;
        }
    }
    Ok(explanation)
}

/// The data rows that can replace the feature with `columns`, and how to draw them.
fn replacements(
    data: &Background,
    weights: &[f64],
    columns: &[usize],
    x: &[f32],
    discretize: bool,
) -> Replacements {
    let rows: Vec<usize> = if !discretize {
        (0..data.n).collect()
    } else if let [column] = columns {
        let edges = quartiles(data, weights, *column);
        let bin = |v: f32| edges.partition_point(|&e| e < f64::from(v));
        let own = bin(x[*column]);
        (0..data.n)
            .filter(|&r| bin(data.row(r)[*column]) != own)
            .collect()
    } else {
        (0..data.n)
            .filter(|&r| {
                let row = data.row(r);
                columns.iter().any(|&c| row[c].to_bits() != x[c].to_bits())
            })
            .collect()
    };
    let draw = WeightedIndex::new(rows.iter().map(|&r| weights[r]));
    Replacements { rows, draw }
}

/// The weighted 25th, 50th and 75th percentiles of `column` (the smallest value whose
/// cumulative weight reaches each level).
fn quartiles(data: &Background, weights: &[f64], column: usize) -> Vec<f64> {
    let mut values: Vec<(f32, f64)> = (0..data.n)
        .map(|r| (data.row(r)[column], weights[r]))
        .collect();
    values.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = values.iter().map(|v| v.1).sum();
    [0.25, 0.5, 0.75]
        .iter()
        .map(|&q| {
            let mut cumulative = 0.0;
            for &(v, w) in &values {
                cumulative += w;
                if cumulative >= q * total * (1.0 - 1e-12) {
                    return f64::from(v);
                }
            }
            values.last().map_or(0.0, |v| f64::from(v.0))
        })
        .collect()
}

/// The features the surrogate of one output may use (see [`lime()`]).
fn select(z: &[f64], m: usize, y: &[f64], w: &[f64], count: usize) -> Vec<usize> {
    if count >= m {
        return (0..m).collect();
    }
    if count <= FORWARD_SELECTION_MAX {
        let mut chosen: Vec<usize> = Vec::with_capacity(count);
        for _ in 0..count {
            let mut best: Option<(usize, f64)> = None;
            for candidate in (0..m).filter(|c| !chosen.contains(c)) {
                let mut trial = chosen.clone();
                trial.push(candidate);
                let r2 = weighted_ridge(z, m, &trial, y, w, RIDGE_ALPHA).r2;
                if best.is_none_or(|(_, b)| r2 > b) {
                    best = Some((candidate, r2));
                }
            }
            if let Some((candidate, _)) = best {
                chosen.push(candidate);
            }
        }
        chosen.sort_unstable();
        chosen
    } else {
        let all: Vec<usize> = (0..m).collect();
        let fit = weighted_ridge(z, m, &all, y, w, RIDGE_ALPHA);
        let mut order = all;
        order.sort_by(|&a, &b| {
            fit.coef[b]
                .abs()
                .total_cmp(&fit.coef[a].abs())
                .then(a.cmp(&b))
        });
        order.truncate(count);
        order.sort_unstable();
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_follow_the_weights() {
        let data = Background::new((1..=8).map(|v| v as f32).collect(), 1).unwrap();
        let w = data.normalized_weights();
        assert_eq!(quartiles(&data, &w, 0), vec![2.0, 4.0, 6.0]);
        let heavy = Background::weighted(vec![1.0, 2.0, 3.0], 1, vec![0.6, 0.2, 0.2]).unwrap();
        let w = heavy.normalized_weights();
        assert_eq!(quartiles(&heavy, &w, 0), vec![1.0, 1.0, 2.0]);
    }
}
