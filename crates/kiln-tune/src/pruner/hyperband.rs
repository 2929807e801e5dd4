//! Hyperband (Li et al., 2018) over asynchronous successive halving, as Optuna's
//! `HyperbandPruner`.
//!
//! There are ⌊log_η(max_resource / min_resource)⌋ + 1 brackets; bracket b runs ASHA with its
//! first rung at `min_resource · η^b`, so bracket 0 stops trials earliest and the last almost
//! never. Each trial belongs to one bracket, chosen by a hash of its number with the brackets
//! weighted as Optuna's (⌈B · η^s / (s + 1)⌉ for s = B − 1 − b, favouring the aggressive
//! brackets), and is judged only against the trials of its own bracket.

use super::Pruner;
use super::asha::AshaPruner;
use crate::mix::splitmix64;
use crate::trial::{Direction, Trial, TrialState};

/// Optuna's `HyperbandPruner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HyperbandPruner {
    /// Steps before the first rung of the most aggressive bracket.
    pub min_resource: u64,
    /// The most steps a trial can report (its epochs budget); `None` estimates it as Optuna's
    /// `"auto"` (the completed trials' largest last step + 1), with no pruning until a trial
    /// has completed.
    pub max_resource: Option<u64>,
    /// η (at least 2).
    pub reduction_factor: u64,
}

impl Default for HyperbandPruner {
    /// Optuna's defaults: min resource 1, automatic max resource, η = 3.
    fn default() -> Self {
        Self {
            min_resource: 1,
            max_resource: None,
            reduction_factor: 3,
        }
    }
}

impl Pruner for HyperbandPruner {
    fn should_prune(&self, trial: &Trial, trials: &[Trial], direction: Direction) -> bool {
        let max_resource = match self.max_resource {
            Some(r) => r,
            None => match trials
                .iter()
                .filter(|t| t.state == TrialState::Complete)
                .filter_map(|t| t.last_step().map(|(s, _)| s + 1))
                .max()
            {
                Some(r) => r,
                None => return false,
            },
        };
        let budgets = self.budgets(max_resource);
        let bracket = |number: u64| bracket_of(number, &budgets);
        let mine = bracket(trial.number);
        let asha = AshaPruner {
            min_resource: Some(self.min_resource.max(1)),
            reduction_factor: self.eta(),
            min_early_stopping_rate: mine as u32,
        };
        let same_bracket = trials.iter().filter(|t| bracket(t.number) == mine);
        asha.prune_among(trial, same_bracket, self.min_resource.max(1), direction)
    }
}

impl HyperbandPruner {
    /// η, at least 2.
    fn eta(&self) -> u64 {
        self.reduction_factor.max(2)
    }

    /// The bracket of trial `number` when trials run at most `max_resource` steps: 0 stops
    /// trials earliest (first rung at `min_resource`), bracket b at `min_resource · η^b`.
    pub fn bracket(&self, number: u64, max_resource: u64) -> usize {
        bracket_of(number, &self.budgets(max_resource))
    }

    /// The share of trials of each bracket: ⌈B · η^s / (s + 1)⌉, s = B − 1 − b.
    fn budgets(&self, max_resource: u64) -> Vec<u64> {
        let (eta, min) = (self.eta(), self.min_resource.max(1));
        // B = ⌊log_η(max / min)⌋ + 1, counted exactly in integers.
        let mut n = 1u32;
        while min.saturating_mul(eta.saturating_pow(n)) <= max_resource && n < 64 {
            n += 1;
        }
        (0..n)
            .map(|b| {
                let s = n - 1 - b;
                (u64::from(n).saturating_mul(eta.saturating_pow(s))).div_ceil(u64::from(s) + 1)
            })
            .collect()
    }
}

/// The bracket of trial `number`: a hash of the number, spread over the brackets' budgets.
fn bracket_of(number: u64, budgets: &[u64]) -> usize {
    let total: u64 = budgets.iter().fold(0u64, |a, &b| a.saturating_add(b));
    let mut h = splitmix64(number) % total.max(1);
    for (b, &budget) in budgets.iter().enumerate() {
        if h < budget {
            return b;
        }
        h -= budget;
    }
    budgets.len().saturating_sub(1)
}
