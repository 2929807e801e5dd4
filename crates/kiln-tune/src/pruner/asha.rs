//! Asynchronous successive halving (Li et al., 2020), as Optuna's `SuccessiveHalvingPruner`.
//!
//! Rung k sits at step `min_resource · η^(min_early_stopping_rate + k)`. When a trial first
//! reports a step at or past a rung, its value there is compared with the values that every
//! trial recorded at that rung (each trial's value at its first report at or past the rung):
//! the trial goes on only if it is in the best 1/η of them (or the best one, while there are
//! fewer than η). Rung values are read from the trials' intermediate values, so the pruner
//! keeps no state of its own.

use super::Pruner;
use crate::trial::{Direction, Trial, TrialState};

/// More rungs than any step count can reach (η ≥ 2 and steps are `u64`).
const MAX_RUNGS: u32 = 64;

/// Optuna's `SuccessiveHalvingPruner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AshaPruner {
    /// Steps before the first rung; `None` estimates it as Optuna's `"auto"`: the largest
    /// last step of the completed trials / 100 (at least 1), and no pruning until a trial
    /// has completed.
    pub min_resource: Option<u64>,
    /// η: one trial in η goes on at each rung (at least 2).
    pub reduction_factor: u64,
    /// s: the first rung is at `min_resource · η^s`.
    pub min_early_stopping_rate: u32,
}

impl Default for AshaPruner {
    /// Optuna's defaults: automatic minimum resource, η = 3, s = 0.
    fn default() -> Self {
        Self {
            min_resource: None,
            reduction_factor: 3,
            min_early_stopping_rate: 0,
        }
    }
}

impl Pruner for AshaPruner {
    fn should_prune(&self, trial: &Trial, trials: &[Trial], direction: Direction) -> bool {
        let min_resource = match self.min_resource {
            Some(r) => r.max(1),
            None => match estimate_min_resource(trials) {
                Some(r) => r,
                None => return false,
            },
        };
        self.prune_among(trial, trials.iter(), min_resource, direction)
    }
}

impl AshaPruner {
    /// The step of rung `k`, saturating.
    fn rung_step(&self, min_resource: u64, k: u32) -> u64 {
        let eta = self.reduction_factor.max(2);
        min_resource.saturating_mul(eta.saturating_pow(self.min_early_stopping_rate + k))
    }

    /// Whether `trial` should stop, judged against the rung values of `competitors` (the
    /// trial itself among them is skipped).
    pub(super) fn prune_among<'a>(
        &self,
        trial: &Trial,
        competitors: impl Iterator<Item = &'a Trial> + Clone,
        min_resource: u64,
        direction: Direction,
    ) -> bool {
        let Some((step, value)) = trial.last_step() else {
            return false;
        };
        for k in 0..MAX_RUNGS {
            let rung = self.rung_step(min_resource, k);
            if step < rung {
                return false;
            }
            // A rung that an earlier report already reached was judged then.
            if trial
                .intermediate
                .iter()
                .any(|&(s, _)| s >= rung && s < step)
            {
                continue;
            }
            if value.is_nan() {
                return true;
            }
            let mut values: Vec<f64> = competitors
                .clone()
                .filter(|t| t.number != trial.number)
                .filter_map(|t| rung_value(t, rung))
                .filter(|v| !v.is_nan())
                .collect();
            values.push(value);
            if !self.is_promotable(value, &mut values, direction) {
                return true;
            }
        }
        false
    }

    /// Whether `value` is among the best `len / η` of `values` (the best one when fewer).
    fn is_promotable(&self, value: f64, values: &mut [f64], direction: Direction) -> bool {
        let eta = self.reduction_factor.max(2) as usize;
        let keep = (values.len() / eta).max(1);
        values.sort_by(|a, b| direction.compare(*a, *b));
        direction.compare(value, values[keep - 1]).is_le()
    }
}

/// A trial's value at the rung at `rung`: its first report at or past that step.
fn rung_value(t: &Trial, rung: u64) -> Option<f64> {
    t.intermediate
        .iter()
        .find(|&&(s, _)| s >= rung)
        .map(|&(_, v)| v)
}

/// Optuna's `"auto"` minimum resource: the completed trials' largest last step / 100, at
/// least 1; `None` before any trial has completed.
fn estimate_min_resource(trials: &[Trial]) -> Option<u64> {
    trials
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .filter_map(|t| t.last_step().map(|(s, _)| s))
        .max()
        .map(|s| (s / 100).max(1))
}
