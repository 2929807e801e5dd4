//! Pruners stop unpromising trials early, judging a trial's intermediate values against the
//! other trials'.
//!
//! A pruner is a pure function of the trial and the list of all trials (any state, running
//! ones included), called after each step the trial reports; the worker stops the trial (and
//! marks it pruned) when it answers `true`.

mod asha;
mod hyperband;
mod median;

pub use asha::AshaPruner;
pub use hyperband::HyperbandPruner;
pub use median::MedianPruner;

use crate::error::UnknownName;
use crate::trial::{Direction, Trial};

/// Decides whether a running trial should stop.
pub trait Pruner: Send + Sync {
    /// Whether `trial`, which has just reported its latest intermediate value, should stop.
    /// `trials` are all the study's trials (they may include `trial` itself, which is then
    /// ignored in favour of the `trial` given).
    fn should_prune(&self, trial: &Trial, trials: &[Trial], direction: Direction) -> bool;
}

/// Never prunes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NopPruner;

impl Pruner for NopPruner {
    fn should_prune(&self, _: &Trial, _: &[Trial], _: Direction) -> bool {
        false
    }
}

/// The names [`by_name`] knows.
const PRUNERS: &str = "none, median, asha, hyperband";

/// The pruner called `name` (`none`, `median`, `asha` or `hyperband`) with its default
/// settings. `max_resource` is the most steps a trial can report (its epochs budget), which
/// sizes Hyperband's brackets; unknown (`None`), Hyperband estimates it from the completed
/// trials as Optuna's `"auto"`.
pub fn by_name(name: &str, max_resource: Option<u64>) -> Result<Box<dyn Pruner>, UnknownName> {
    match name {
        "none" => Ok(Box::new(NopPruner)),
        "median" => Ok(Box::new(MedianPruner::default())),
        "asha" => Ok(Box::new(AshaPruner::default())),
        "hyperband" => Ok(Box::new(HyperbandPruner {
            max_resource,
            ..HyperbandPruner::default()
        })),
        _ => Err(UnknownName {
            kind: "pruner",
            name: name.to_string(),
            choices: PRUNERS,
        }),
    }
}
