//! The median stopping rule, as Optuna's `MedianPruner`: stop a trial whose best intermediate
//! value so far is worse than the median of the completed trials' values at the same step.

use super::Pruner;
use crate::trial::{Direction, Trial, TrialState};

/// Optuna's `MedianPruner` (a 50th-percentile `PercentilePruner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MedianPruner {
    /// No pruning until this many trials have completed.
    pub n_startup_trials: usize,
    /// No pruning of a trial before this step.
    pub n_warmup_steps: u64,
    /// Judge a trial only at the first report in each interval of this many steps after the
    /// warm-up.
    pub interval_steps: u64,
}

impl Default for MedianPruner {
    /// Optuna's defaults: 5 startup trials, no warm-up, every step.
    fn default() -> Self {
        Self {
            n_startup_trials: 5,
            n_warmup_steps: 0,
            interval_steps: 1,
        }
    }
}

impl Pruner for MedianPruner {
    fn should_prune(&self, trial: &Trial, trials: &[Trial], direction: Direction) -> bool {
        let completed: Vec<&Trial> = trials
            .iter()
            .filter(|t| t.state == TrialState::Complete && t.number != trial.number)
            .collect();
        if completed.is_empty() || completed.len() < self.n_startup_trials {
            return false;
        }
        let Some((step, _)) = trial.last_step() else {
            return false;
        };
        if step < self.n_warmup_steps || !self.is_first_in_interval(trial, step) {
            return false;
        }
        let best = trial
            .intermediate
            .iter()
            .map(|&(_, v)| v)
            .filter(|v| !v.is_nan())
            .min_by(|a, b| direction.compare(*a, *b));
        let Some(best) = best else {
            return true; // only NaN so far
        };
        let mut others: Vec<f64> = completed
            .iter()
            .filter_map(|t| t.value_at(step))
            .filter(|v| !v.is_nan())
            .collect();
        if others.is_empty() {
            return false;
        }
        others.sort_by(f64::total_cmp);
        let median = median_of_sorted(&others);
        direction.compare(best, median).is_gt()
    }
}

impl MedianPruner {
    /// Whether `step` is the trial's first report in its pruning interval (Optuna's
    /// `_is_first_in_interval_step`).
    fn is_first_in_interval(&self, trial: &Trial, step: u64) -> bool {
        let interval = self.interval_steps.max(1);
        let lower = (step - self.n_warmup_steps) / interval * interval + self.n_warmup_steps;
        let second_last = trial
            .intermediate
            .iter()
            .map(|&(s, _)| s)
            .filter(|&s| s != step)
            .max();
        second_last.is_none_or(|s| s < lower)
    }
}

/// The median of sorted, non-empty `v` (mean of the middle two for an even count, as numpy).
fn median_of_sorted(v: &[f64]) -> f64 {
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}
