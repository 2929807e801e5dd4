//! Permutation sampling of Shapley values with antithetic (forward and reversed) orders.

use rand::seq::SliceRandom;

use crate::game::Game;
use crate::sampling::rng;
use crate::{Attribution, Background, ExplainError, Groups, Model};

/// Shapley values estimated from `permutations` random orders of the varying features, each
/// walked forwards and reversed (antithetic sampling, so `2 × permutations` walks).
///
/// A walk adds the features one at a time and credits each with its marginal contribution
/// `v(prefix ∪ i) − v(prefix)`; the contributions of one walk sum to `f(x) − v(∅)` exactly,
/// so local accuracy holds for any number of permutations. Models that are additive in the
/// features (linear ones, say) get their exact Shapley values from a single permutation.
///
/// Costs `2 × permutations × (M − 1) × background.n` model rows for `M` varying features,
/// evaluated in batches.
///
/// # Errors
/// [`ExplainError::InvalidOption`] when `permutations == 0`; the input errors of every
/// method otherwise.
pub fn permutation(
    model: &dyn Model,
    groups: &Groups,
    background: &Background,
    x: &[f32],
    permutations: usize,
    seed: u64,
) -> Result<Attribution, ExplainError> {
    if permutations == 0 {
        return Err(ExplainError::InvalidOption(
            "permutation SHAP needs at least one permutation".into(),
        ));
    }
    let game = Game::new(model, groups, background, x)?;
    let m = game.players();
    let o = game.outputs();
    let base = game.base()?;
    let prediction = game.prediction()?;
    if m == 0 {
        return Ok(game.attribution(base, &[], prediction));
    }

    // Permutations are processed in blocks to bound memory; the generator draws them in the
    // same order whatever the block size.
    const BLOCK: usize = 4096;
    let mut rng = rng(seed);
    let inner = m - 1;
    let mut phi = vec![0.0; m * o];
    let mut order: Vec<usize> = (0..m).collect();
    let mut orders = Vec::with_capacity(2 * BLOCK.min(permutations) * m);
    let mut done = 0;
    while done < permutations {
        let block = BLOCK.min(permutations - done);
        orders.clear();
        for _ in 0..block {
            order.shuffle(&mut rng);
            orders.extend_from_slice(&order);
            orders.extend(order.iter().rev());
        }
        // The inner prefixes (sizes 1 ..= m − 1) of every walk; v(∅) and v(all) are known.
        let walks = 2 * block;
        let v = game.evaluate(walks * inner, |c, mask| {
            let (walk, size) = (c / inner, c % inner + 1);
            for &p in &orders[walk * m..walk * m + size] {
                mask[p] = true;
            }
        })?;
        for walk in 0..walks {
            let order = &orders[walk * m..(walk + 1) * m];
            let value = |size: usize| -> &[f64] {
                match size {
                    0 => &base,
                    s if s == m => &prediction,
                    s => &v[(walk * inner + s - 1) * o..(walk * inner + s) * o],
                }
            };
            for (step, &p) in order.iter().enumerate() {
                let (before, after) = (value(step), value(step + 1));
                for k in 0..o {
                    phi[p * o + k] += after[k] - before[k];
                }
            }
        }
        done += block;
    }
    let walks = 2 * permutations;
    for value in &mut phi {
        *value /= walks as f64;
    }
    Ok(game.attribution(base, &phi, prediction))
}
