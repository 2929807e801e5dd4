//! Samplers choose the next trial's hyperparameters from the space and every trial so far.
//!
//! A sampler is a pure function: the same space, trials, direction and seed give the same
//! parameters, whichever process calls it. Running trials are part of the list, so parallel
//! workers that share a storage see each other's work in progress.

mod grid;
mod random;
mod tpe;

pub use grid::GridSampler;
pub use random::RandomSampler;
pub use tpe::TpeSampler;

use crate::error::UnknownName;
use crate::mix::splitmix64;
use crate::space::{Params, Space};
use crate::trial::{Direction, Trial};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Chooses hyperparameters for a new trial.
pub trait Sampler: Send + Sync {
    /// The new trial's parameters: a value for every parameter of `space` that is active (a
    /// conditional parameter whose condition fails is left out). `trials` are all the study's
    /// trials in any state, running ones included; `seed` is the new trial's own seed (see
    /// [`trial_seed`]). `space` should have passed [`Space::validate`]; on an invalid space
    /// a sampler still returns without panicking, leaving out parameters it cannot draw.
    fn sample(&self, space: &Space, trials: &[Trial], direction: Direction, seed: u64) -> Params;
}

/// The names [`by_name`] knows.
const SAMPLERS: &str = "tpe, random, grid";

/// The sampler called `name` (`tpe`, `random` or `grid`) with its default settings.
pub fn by_name(name: &str) -> Result<Box<dyn Sampler>, UnknownName> {
    match name {
        "tpe" => Ok(Box::new(TpeSampler::default())),
        "random" => Ok(Box::new(RandomSampler)),
        "grid" => Ok(Box::new(GridSampler::default())),
        _ => Err(UnknownName {
            kind: "sampler",
            name: name.to_string(),
            choices: SAMPLERS,
        }),
    }
}

/// The seed of trial `number` in a study seeded with `study_seed`: the two mixed, so that
/// each trial draws independently yet reproducibly.
pub fn trial_seed(study_seed: u64, number: u64) -> u64 {
    splitmix64(study_seed ^ splitmix64(number))
}

/// The random generator of one call.
fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}
