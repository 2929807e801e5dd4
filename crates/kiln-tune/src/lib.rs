//! Hyperparameter search for Kiln, as pure functions of the trials so far.
//!
//! * [`Space`]: the hyperparameters, their ranges ([`Distribution`]: float, int, categorical,
//!   with log scales and steps) and conditions; read from TOML (`[tune.space.NAME]` tables)
//!   and validated with errors that name the parameter. [`Space::default_for_tabular`] is a
//!   space for Kiln's MLP.
//! * [`Trial`]: plain data (number, [`TrialState`], parameters, final and intermediate
//!   values), so that a storage can keep trials as rows and any worker can rebuild the
//!   picture.
//! * [`sampler`]: the [`Sampler`] interface and random, grid and TPE (multivariate, constant
//!   liar) samplers; [`pruner`]: the [`Pruner`] interface and the median, ASHA and Hyperband
//!   pruners. Both see the list of all trials, running ones included, and keep no state, so
//!   parallel workers sharing a storage cooperate without talking to each other.
//!
//! Everything is seeded and deterministic: a sampler's output depends only on the space, the
//! trials, the direction and the trial's seed ([`sampler::trial_seed`]).

#![warn(missing_docs)]

mod error;
mod mix;
pub mod pruner;
pub mod sampler;
mod space;
mod trial;

pub use error::{SpaceError, UnknownName};
pub use pruner::Pruner;
pub use sampler::Sampler;
pub use space::{Condition, Distribution, Param, Params, Space};
pub use trial::{Direction, Trial, TrialState};
