//! Label shift: when each class's share of new data differs from its share in training (spam
//! that was 15% of the mail is now half of it), a classifier's probabilities are off by the
//! ratio of the shares even where it tells the classes apart well. EM (Saerens, Latinne and
//! Decaestecker, 2002) estimates the new shares from the model's own probabilities on the
//! unlabelled rows, and corrects the probabilities to them; no labels are needed.

use crate::bundle::Bundle;
use crate::error::KilnError;
use crate::pipeline::class_rows;
use kiln_train::{ClassWeight, Objective};
use serde::Serialize;

/// Most EM rounds; each is one pass over the probabilities.
const MAX_ROUNDS: usize = 1000;
/// EM stops once no class's share moves more than this in a round.
const TOLERANCE: f64 = 1e-7;
/// Shares are kept above this so that no class's ratio divides by zero.
const FLOOR: f64 = 1e-9;

/// Which class shares a classifier's probabilities assume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Priors {
    /// The training data's: the model as trained.
    #[default]
    Training,
    /// Estimated from the rows being predicted, with the probabilities corrected to them.
    Adapted,
}

impl Priors {
    /// Puts `probs`, predicted by `bundle`, under these priors; returns the class shares
    /// estimated when adapting.
    pub fn apply(
        self,
        bundle: &Bundle,
        probs: &mut [f32],
    ) -> Result<Option<ClassShares>, KilnError> {
        match self {
            Priors::Training => Ok(None),
            Priors::Adapted => adapt(bundle, probs).map(Some),
        }
    }
}

/// The class shares the model learned and those estimated in new data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassShares {
    /// Class names, in the model's order.
    pub classes: Vec<String>,
    /// Each class's share as the model learned it: its share of the training rows' weight.
    pub training: Vec<f64>,
    /// Each class's share estimated in the new rows.
    pub estimated: Vec<f64>,
    /// EM rounds run.
    pub rounds: usize,
}

impl ClassShares {
    /// One line for people: each class's share in training and in the new rows.
    pub fn describe(&self) -> String {
        let shares: Vec<String> = self
            .classes
            .iter()
            .zip(self.training.iter().zip(&self.estimated))
            .map(|(c, (t, e))| format!("{c} {:.1}% → {:.1}%", 100.0 * t, 100.0 * e))
            .collect();
        format!(
            "class shares estimated in these rows (EM, {} rounds), probabilities adjusted to them: {}",
            self.rounds,
            shares.join(", ")
        )
    }
}

/// Estimates the class shares of the rows whose probabilities (`classes` per row, computed
/// under the shares `prior`) are `probs`, and returns them with the EM rounds it took.
pub fn estimate(probs: &[f32], classes: usize, prior: &[f64]) -> (Vec<f64>, usize) {
    let prior: Vec<f64> = prior.iter().map(|p| p.max(FLOOR)).collect();
    let rows = probs.len() / classes.max(1);
    let mut shares = prior.clone();
    if rows == 0 {
        return (shares, 0);
    }
    let mut adjusted = vec![0.0; classes];
    for round in 1..=MAX_ROUNDS {
        let mut next = vec![0.0; classes];
        for row in probs.chunks_exact(classes) {
            adjust_row(row, &prior, &shares, &mut adjusted);
            for (n, a) in next.iter_mut().zip(&adjusted) {
                *n += a;
            }
        }
        let moved = next
            .iter_mut()
            .zip(&shares)
            .map(|(n, s)| {
                *n = (*n / rows as f64).max(FLOOR);
                (*n - s).abs()
            })
            .fold(0.0, f64::max);
        shares = next;
        if moved < TOLERANCE {
            return (shares, round);
        }
    }
    (shares, MAX_ROUNDS)
}

/// Rewrites probabilities computed under the shares `prior` as they are under `shares`: each
/// class's probability times the ratio of its shares, renormalised per row.
pub fn reweigh(probs: &mut [f32], classes: usize, prior: &[f64], shares: &[f64]) {
    let prior: Vec<f64> = prior.iter().map(|p| p.max(FLOOR)).collect();
    let mut adjusted = vec![0.0; classes];
    for row in probs.chunks_exact_mut(classes) {
        adjust_row(row, &prior, shares, &mut adjusted);
        for (p, a) in row.iter_mut().zip(&adjusted) {
            *p = *a as f32;
        }
    }
}

/// One row's probabilities moved from `prior` to `shares`, into `out`. A row whose every
/// class gets weight zero keeps its probabilities.
fn adjust_row(row: &[f32], prior: &[f64], shares: &[f64], out: &mut [f64]) {
    let mut total = 0.0;
    for ((o, &p), (s, q)) in out.iter_mut().zip(row).zip(shares.iter().zip(prior)) {
        *o = f64::from(p) * s / q;
        total += *o;
    }
    for (o, &p) in out.iter_mut().zip(row) {
        *o = if total > 0.0 {
            *o / total
        } else {
            f64::from(p)
        };
    }
}

/// The class shares `bundle` learned: each class's share of the training rows' total weight
/// (with `--class-weight balanced`, equal shares); counted on the sample of training rows the
/// bundle keeps where it has no count of them all (after `kiln update`).
pub fn learned_shares(bundle: &Bundle) -> Result<Vec<f64>, KilnError> {
    let m = &bundle.manifest;
    let Objective::Classification { classes } = m.objective else {
        return Err(KilnError::Config(
            "--adapt-priors needs a classifier: this model predicts a number, which has no class shares to adapt".into(),
        ));
    };
    let counts = if m.data.class_rows.len() == classes {
        m.data.class_rows.clone()
    } else {
        let sample = m.replay.as_ref().map_or(&[][..], |r| &r.targets[..]);
        class_rows(&m.objective, sample.iter().copied())
    };
    let total = counts.iter().sum::<usize>();
    if total == 0 {
        return Err(KilnError::Config(
            "--adapt-priors needs the count of training rows per class that bundles keep; this bundle has none: train it again with this version of Kiln".into(),
        ));
    }
    let weight_of = |class: usize| match m.config.train.class_weight {
        ClassWeight::Equal => 1.0,
        ClassWeight::Balanced if counts[class] > 0 => 1.0 / counts[class] as f64,
        ClassWeight::Balanced => 0.0,
    };
    let weights: Vec<f64> = (0..classes)
        .map(|c| counts[c] as f64 * weight_of(c))
        .collect();
    let sum: f64 = weights.iter().sum();
    Ok(weights.iter().map(|w| w / sum).collect())
}

/// Estimates the class shares of the rows `probs` were predicted for and adjusts `probs` to
/// them.
pub fn adapt(bundle: &Bundle, probs: &mut [f32]) -> Result<ClassShares, KilnError> {
    let training = learned_shares(bundle)?;
    let classes = training.len();
    let (estimated, rounds) = estimate(probs, classes, &training);
    reweigh(probs, classes, &training, &estimated);
    Ok(ClassShares {
        classes: bundle.manifest.target.classes.clone(),
        training,
        estimated,
        rounds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Calibrated probabilities of two classes, each a Gaussian score (means -1 and 1, unit
    /// variance), for `n` rows of which a share `spam` is class 1, under training shares
    /// `prior`.
    fn scored_rows(n: usize, spam: f64, prior: f64, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut probs = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let class1 = rng.random::<f64>() < spam;
            // Box-Muller: a standard normal draw.
            let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
            let z = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
            let score = z + if class1 { 1.0 } else { -1.0 };
            // Likelihood ratio of the two Gaussians is e^(2·score).
            let odds = (2.0 * score).exp() * prior / (1.0 - prior);
            let p1 = odds / (1.0 + odds);
            probs.extend([(1.0 - p1) as f32, p1 as f32]);
        }
        probs
    }

    #[test]
    fn em_recovers_the_new_class_shares_and_leaves_unshifted_data_alone() {
        for (share, seed) in [(0.5, 1), (0.05, 2), (0.8, 3)] {
            let probs = scored_rows(20_000, share, 0.15, seed);
            let (estimated, rounds) = estimate(&probs, 2, &[0.85, 0.15]);
            assert!(rounds > 1 && rounds < MAX_ROUNDS, "{rounds} rounds");
            assert!(
                (estimated[1] - share).abs() < 0.02,
                "share {share}: estimated {estimated:?}"
            );
            assert!((estimated.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
        let same = scored_rows(20_000, 0.15, 0.15, 4);
        let (estimated, _) = estimate(&same, 2, &[0.85, 0.15]);
        assert!((estimated[1] - 0.15).abs() < 0.02, "{estimated:?}");
    }

    #[test]
    fn reweighing_moves_probabilities_by_the_ratio_of_the_shares() {
        let mut probs = vec![0.9, 0.1, 0.5, 0.5, 1.0, 0.0];
        let original = probs.clone();
        reweigh(&mut probs, 2, &[0.5, 0.5], &[0.5, 0.5]);
        assert_eq!(probs, original, "the same shares change nothing");
        reweigh(&mut probs, 2, &[0.8, 0.2], &[0.5, 0.5]);
        // Odds of class 1 grow by (0.5 / 0.2) / (0.5 / 0.8) = 4.
        assert!(
            (probs[1] / probs[0] - 4.0 * 0.1 / 0.9).abs() < 1e-6,
            "{probs:?}"
        );
        assert!((probs[3] / probs[2] - 4.0).abs() < 1e-6, "{probs:?}");
        assert_eq!(&probs[4..], &[1.0, 0.0], "a certain row stays certain");
        for row in probs.chunks(2) {
            assert!((row[0] + row[1] - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn correcting_to_the_true_shares_classifies_shifted_data_better() {
        let n = 20_000;
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut probs = scored_rows(n, 0.5, 0.15, 9);
        // Labels drawn again with the same seed, as scored_rows drew them.
        let labels: Vec<bool> = (0..n)
            .map(|_| {
                let class1 = rng.random::<f64>() < 0.5;
                let _: (f64, f64) = (rng.random(), rng.random());
                class1
            })
            .collect();
        let accuracy = |probs: &[f32]| {
            probs
                .chunks(2)
                .zip(&labels)
                .filter(|(p, y)| (p[1] > p[0]) == **y)
                .count() as f64
                / n as f64
        };
        let before = accuracy(&probs);
        let (estimated, _) = estimate(&probs, 2, &[0.85, 0.15]);
        reweigh(&mut probs, 2, &[0.85, 0.15], &estimated);
        let after = accuracy(&probs);
        // The Bayes accuracy at equal shares is Φ(1) ≈ 0.841; at the training shares the
        // threshold sits too far towards class 1.
        assert!(after > before + 0.02, "{before} → {after}");
        assert!((after - 0.841).abs() < 0.01, "{after}");
    }

    #[test]
    fn no_rows_leave_the_shares_as_they_were() {
        assert_eq!(estimate(&[], 3, &[0.2, 0.3, 0.5]), (vec![0.2, 0.3, 0.5], 0));
    }
}
