//! Trials as plain data: what was tried, how far it got and how well it did. A storage can
//! keep them as rows; samplers and pruners are pure functions of the list of trials.

use crate::space::Params;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Where a trial stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrialState {
    /// Being evaluated by a worker now.
    Running,
    /// Finished with a final value.
    Complete,
    /// Stopped early by a pruner; its intermediate values stand for it.
    Pruned,
    /// Stopped by an error; ignored by samplers and pruners.
    Failed,
    /// Queued with fixed parameters, not started yet.
    Waiting,
}

/// One evaluation of the objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// 0, 1, 2, … in creation order within a study.
    pub number: u64,
    /// Where it stands.
    pub state: TrialState,
    /// Its hyperparameters.
    pub params: Params,
    /// The objective's final value (set when complete).
    #[serde(default)]
    pub value: Option<f64>,
    /// `(step, value)` reported while it ran (e.g. validation loss per epoch), in report order.
    #[serde(default)]
    pub intermediate: Vec<(u64, f64)>,
}

impl Trial {
    /// A running trial with these parameters and nothing reported yet.
    pub fn running(number: u64, params: Params) -> Self {
        Self {
            number,
            state: TrialState::Running,
            params,
            value: None,
            intermediate: Vec::new(),
        }
    }

    /// The latest step reported and its value (the last report of the largest step).
    pub fn last_step(&self) -> Option<(u64, f64)> {
        self.intermediate
            .iter()
            .max_by_key(|(step, _)| *step)
            .copied()
    }

    /// The value reported at exactly `step` (the last report of it).
    pub fn value_at(&self, step: u64) -> Option<f64> {
        self.intermediate
            .iter()
            .rev()
            .find(|(s, _)| *s == step)
            .map(|(_, v)| *v)
    }
}

/// Whether smaller or larger objective values are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Smaller is better (losses).
    #[default]
    Minimize,
    /// Larger is better (accuracies).
    Maximize,
}

impl Direction {
    /// Orders `a` before `b` when `a` is better; NaN is worse than every number.
    pub fn compare(self, a: f64, b: f64) -> Ordering {
        match (a.is_nan(), b.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => match self {
                Self::Minimize => a.total_cmp(&b),
                Self::Maximize => b.total_cmp(&a),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn trials_round_trip_as_plain_json() {
        let text = json!({
            "number": 7,
            "state": "pruned",
            "params": {"lr": 0.01, "act": "relu"},
            "intermediate": [[1, 0.9], [2, 0.7], [2, 0.6]]
        })
        .to_string();
        let t: Trial = serde_json::from_str(&text).unwrap();
        assert_eq!(t.state, TrialState::Pruned);
        assert_eq!(t.value, None);
        // The last report of the largest step.
        assert_eq!(t.last_step(), Some((2, 0.6)));
        assert_eq!(t.value_at(1), Some(0.9));
        assert_eq!(t.value_at(3), None);
        let back: Trial = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn directions_order_values_with_nan_last() {
        use std::cmp::Ordering::*;
        assert_eq!(Direction::Minimize.compare(1.0, 2.0), Less);
        assert_eq!(Direction::Maximize.compare(1.0, 2.0), Greater);
        assert_eq!(Direction::Maximize.compare(f64::NAN, -1e300), Greater);
        assert_eq!(Direction::Minimize.compare(f64::INFINITY, f64::NAN), Less);
    }
}
