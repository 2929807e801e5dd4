//! Exact interventional Shapley values by enumerating every coalition.

use crate::game::Game;
use crate::sampling::binomial;
use crate::{Attribution, Background, ExplainError, Groups, Model};

/// The most varying features [`exact()`] accepts (`2^20` coalitions).
pub const MAX_EXACT_FEATURES: usize = 20;

/// Exact Shapley values of `x` against `background`: `v(S)` for all `2^M` coalitions of the
/// `M` varying features, then `φ_i = Σ_{S ∌ i} |S|!(M−|S|−1)!/M! · (v(S ∪ i) − v(S))`.
///
/// Costs `(2^M − 1) × background.n` model rows (the full coalition is `f(x)` itself),
/// evaluated in batches of up to 65 536 rows.
///
/// # Errors
/// [`ExplainError::TooManyFeatures`] when more than [`MAX_EXACT_FEATURES`] features vary
/// (differ from `x` in some background row); the input errors of every method otherwise.
pub fn exact(
    model: &dyn Model,
    groups: &Groups,
    background: &Background,
    x: &[f32],
) -> Result<Attribution, ExplainError> {
    let game = Game::new(model, groups, background, x)?;
    let m = game.players();
    if m > MAX_EXACT_FEATURES {
        return Err(ExplainError::TooManyFeatures {
            features: m,
            max: MAX_EXACT_FEATURES,
        });
    }
    let prediction = game.prediction()?;
    let o = game.outputs();
    if m == 0 {
        return Ok(game.attribution(game.base()?, &[], prediction));
    }
    let full = (1usize << m) - 1;
    // v(S) for S = 0 ..= full, the bit p of S meaning player p is present.
    let mut v = game.evaluate(full, |s, mask| {
        for (p, on) in mask.iter_mut().enumerate() {
            *on = s >> p & 1 == 1;
        }
    })?;
    v.extend_from_slice(&prediction);

    // Shapley weight of a coalition of size s not containing the player.
    let weight: Vec<f64> = (0..m)
        .map(|s| 1.0 / (m as f64 * binomial(m - 1, s)))
        .collect();
    let mut phi = vec![0.0; m * o];
    for s in 0..full {
        let w = weight[s.count_ones() as usize];
        let without = &v[s * o..(s + 1) * o];
        for p in (0..m).filter(|p| s >> p & 1 == 0) {
            let with = &v[(s | 1 << p) * o..((s | 1 << p) + 1) * o];
            for k in 0..o {
                phi[p * o + k] += w * (with[k] - without[k]);
            }
        }
    }
    let base = v[..o].to_vec();
    Ok(game.attribution(base, &phi, prediction))
}
