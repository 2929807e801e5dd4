//! Kernel SHAP (Lundberg & Lee, 2017): Shapley values as the weighted least-squares fit of
//! an additive model to coalition values under the Shapley kernel.

use std::collections::HashSet;

use rand_chacha::ChaCha8Rng;

use crate::game::Game;
use crate::linalg::least_squares;
use crate::sampling::{WeightedIndex, binomial, next_combination, partial_shuffle, rng};
use crate::{Attribution, Background, ExplainError, Groups, Model};

/// Ridge strength, relative to the mean diagonal of `XᵀWX`, used when the system is thin or
/// ill-conditioned.
const RIDGE_RELATIVE: f64 = 1e-6;

/// The coalitions to evaluate, flattened (`count × m` flags), and their kernel weights.
struct Design {
    masks: Vec<bool>,
    weights: Vec<f64>,
}

impl Design {
    fn count(&self) -> usize {
        self.weights.len()
    }
}

/// Kernel SHAP values of `x` with a budget of `samples` coalitions (each costs
/// `background.n` model rows).
///
/// **Coalitions.** The Shapley kernel gives a coalition of size `s` out of `M` varying
/// features the weight `(M−1) / (C(M,s)·s·(M−s))`. Sizes are taken in pairs `s` and `M−s`,
/// from the outside in (`1` and `M−1`, then `2` and `M−2`, ...): a pair is enumerated
/// completely, each coalition with its exact kernel weight, while the remaining budget, split
/// in proportion to the kernel mass of the remaining sizes, covers all of its coalitions.
/// The rest of the budget is sampled from the kernel distribution over the remaining sizes
/// with paired sampling (each coalition together with its complement) until that many
/// distinct coalitions are drawn (a repeat costs no evaluation; the count may end one over
/// the budget, as coalitions come in pairs). As all coalitions of one size share one kernel
/// weight, each distinct sampled coalition of size `s` gets an equal share of the exact
/// kernel mass of size `s` (stratified by size, rather than weighted by how often it was
/// drawn, which only adds noise). With `samples ≥ 2^M − 2` every coalition is enumerated
/// and the result is the exact Shapley value (to rounding).
///
/// **Fit.** Weighted least squares of `v(S) − v(∅)` on the coalition indicators with the
/// efficiency constraint `Σ φ = f(x) − v(∅)` enforced exactly, by eliminating the last
/// feature (`φ_M = f(x) − v(∅) − Σ_{i<M} φ_i`), solved by Householder QR.
///
/// **Ridge rule.** No penalty by default. Only when the system is thin (fewer distinct
/// coalitions than the `M − 1` unknowns) or numerically rank deficient (a diagonal entry of
/// `R` at most `1e-10` times the largest), it is solved again with the ridge
/// `λ = 1e-6 × mean diagonal of XᵀWX`, which picks the near-minimum-norm solution among the
/// ones the data cannot tell apart.
///
/// # Errors
/// [`ExplainError::InvalidOption`] when `samples == 0`; the input errors of every method
/// otherwise.
pub fn kernel(
    model: &dyn Model,
    groups: &Groups,
    background: &Background,
    x: &[f32],
    samples: usize,
    seed: u64,
) -> Result<Attribution, ExplainError> {
    if samples == 0 {
        return Err(ExplainError::InvalidOption(
            "Kernel SHAP needs a budget of at least one coalition".into(),
        ));
    }
    let game = Game::new(model, groups, background, x)?;
    let m = game.players();
    let o = game.outputs();
    let base = game.base()?;
    let prediction = game.prediction()?;
    let delta: Vec<f64> = prediction.iter().zip(&base).map(|(p, b)| p - b).collect();
    if m <= 1 {
        return Ok(game.attribution(base, &delta[..m * o], prediction));
    }

    let design = design(m, samples, &mut rng(seed));
    let n = design.count();
    let v = game.evaluate(n, |c, mask| {
        mask.copy_from_slice(&design.masks[c * m..(c + 1) * m]);
    })?;

    // Eliminate the last feature: y − z_M·Δ = Σ_{i<M} (z_i − z_M) φ_i, rows scaled by √w.
    let cols = m - 1;
    let mut a = vec![0.0; n * cols];
    let mut b = vec![0.0; n * o];
    for c in 0..n {
        let z = &design.masks[c * m..(c + 1) * m];
        let s = design.weights[c].sqrt();
        let last = f64::from(u8::from(z[cols]));
        for i in 0..cols {
            a[c * cols + i] = s * (f64::from(u8::from(z[i])) - last);
        }
        for k in 0..o {
            b[c * o + k] = s * (v[c * o + k] - base[k] - last * delta[k]);
        }
    }
    let mut solution = least_squares(&a, &b, n, cols, o, 0.0);
    if solution.rank_deficient {
        let mean_diagonal = a.iter().map(|x| x * x).sum::<f64>() / cols as f64;
        let ridge = RIDGE_RELATIVE * mean_diagonal.max(f64::MIN_POSITIVE);
        solution = least_squares(&a, &b, n, cols, o, ridge);
    }
    let mut phi = vec![0.0; m * o];
    phi[..cols * o].copy_from_slice(&solution.coef);
    for k in 0..o {
        let rest: f64 = (0..cols).map(|i| phi[i * o + k]).sum();
        phi[cols * o + k] = delta[k] - rest;
    }
    Ok(game.attribution(base, &phi, prediction))
}

/// Chooses the coalitions (`m ≥ 2`) and their weights (normalised to sum to 1).
fn design(m: usize, samples: usize, rng: &mut ChaCha8Rng) -> Design {
    // Kernel mass of each size s (all coalitions of size s together), and the pairs.
    let mass = |s: usize| (m - 1) as f64 / (s * (m - s)) as f64;
    let total_mass: f64 = (1..m).map(mass).sum();
    let pairs = m / 2;
    let pair_mass = |s: usize| if 2 * s == m { mass(s) } else { 2.0 * mass(s) };
    let pair_count = |s: usize| {
        let c = binomial(m, s);
        if 2 * s == m { c } else { 2.0 * c }
    };
    let all = if m < 60 {
        ((1u64 << m) - 2) as f64
    } else {
        f64::INFINITY
    };
    let budget = (samples as f64).min(all);

    let mut masks = Vec::new();
    let mut weights = Vec::new();
    let mut left = budget;
    let mut mass_left = total_mass;
    let mut pool_left = all;
    let mut next = 1;
    while next <= pairs {
        let count = pair_count(next);
        let share = left * pair_mass(next) / mass_left;
        if share + 1e-8 < count && left < pool_left {
            break;
        }
        // Enumerate sizes `next` and (if different) `m − next`, each coalition with its
        // exact kernel weight mass(s) / C(m, s), normalised.
        let w = mass(next) / binomial(m, next) / total_mass;
        let mut combo: Vec<usize> = (0..next).collect();
        loop {
            let start = masks.len();
            masks.resize(start + m, false);
            for &p in &combo {
                masks[start + p] = true;
            }
            weights.push(w);
            if 2 * next != m {
                for p in 0..m {
                    let on = !masks[start + p];
                    masks.push(on);
                }
                weights.push(w);
            }
            if !next_combination(&mut combo, m) {
                break;
            }
        }
        left -= count;
        mass_left -= pair_mass(next);
        pool_left -= count;
        next += 1;
    }

    // Sample the remaining sizes from the kernel distribution, in complementary pairs.
    let wanted = left.max(0.0).round() as usize;
    if next <= pairs && wanted > 0 {
        let sizes: Vec<usize> = (next..=pairs).collect();
        let Some(size_dist) = WeightedIndex::new(sizes.iter().map(|&s| pair_mass(s))) else {
            return Design { masks, weights };
        };
        let mut seen: HashSet<Vec<u64>> = HashSet::new();
        let mut sampled: Vec<bool> = Vec::new();
        let mut items: Vec<usize> = (0..m).collect();
        let mut draws = 0usize;
        let max_draws = 100 * wanted + 1000;
        while seen.len() < wanted && draws < max_draws {
            draws += 1;
            let s = sizes[size_dist.draw(rng)];
            partial_shuffle(&mut items, s, rng);
            let mut mask = vec![false; m];
            for &p in &items[..s] {
                mask[p] = true;
            }
            let complement: Vec<bool> = mask.iter().map(|on| !on).collect();
            for z in [mask, complement] {
                if seen.insert(pack(&z)) {
                    sampled.extend_from_slice(&z);
                }
            }
        }
        // Every coalition of a size has the same kernel weight, so each distinct sampled
        // coalition of size s gets an equal share of size s's (known) kernel mass.
        let size_of = |z: &[bool]| z.iter().filter(|on| **on).count();
        let mut per_size = vec![0usize; m + 1];
        for z in sampled.chunks(m) {
            per_size[size_of(z)] += 1;
        }
        for z in sampled.chunks(m) {
            let s = size_of(z);
            weights.push(mass(s) / total_mass / per_size[s] as f64);
        }
        masks.extend_from_slice(&sampled);
    }
    Design { masks, weights }
}

/// A coalition as a bit set, for finding repeated draws.
fn pack(mask: &[bool]) -> Vec<u64> {
    let mut words = vec![0u64; mask.len().div_ceil(64)];
    for (p, _) in mask.iter().enumerate().filter(|(_, on)| **on) {
        words[p / 64] |= 1 << (p % 64);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_budget_enumerates_every_coalition_once() {
        for m in 2..=7 {
            let d = design(m, 1 << m, &mut rng(0));
            assert_eq!(d.count(), (1 << m) - 2, "m = {m}");
            let mut seen: Vec<Vec<u64>> = d.masks.chunks(m).map(pack).collect();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), (1 << m) - 2);
            assert!((d.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn a_small_budget_enumerates_the_outer_sizes_and_samples_pairs() {
        let m = 10;
        let d = design(m, 700, &mut rng(3));
        // Sizes 1, 9, 2, 8, 3, 7 are enumerated: 20 + 90 + 240 coalitions.
        assert!(d.count() >= 700 && d.count() <= 701, "{}", d.count());
        let sizes: Vec<usize> = d
            .masks
            .chunks(m)
            .map(|z| z.iter().filter(|on| **on).count())
            .collect();
        assert!(sizes[..350].iter().all(|&s| s != 4 && s != 5 && s != 6));
        assert!(sizes[350..].iter().all(|&s| (4..=6).contains(&s)));
        assert!((d.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // Paired: the complement of every sampled coalition is there too.
        let keys: Vec<Vec<u64>> = d.masks.chunks(m).map(pack).collect();
        for z in d.masks.chunks(m).skip(350) {
            let complement: Vec<bool> = z.iter().map(|on| !on).collect();
            assert!(keys.contains(&pack(&complement)));
        }
    }
}
