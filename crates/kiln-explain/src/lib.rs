//! Model-agnostic explanations for tabular models: Shapley values (exact, Kernel SHAP and
//! permutation sampling), tabular LIME and permutation importance.
//!
//! Every method sees the model only through [`Model`]: a batch of encoded rows in, a batch
//! of outputs out (class probabilities, or one value for regression). Explanations are per
//! output, so a classifier gets one set of attributions per class.
//!
//! # What the Shapley values are
//!
//! [`exact()`], [`kernel()`] and [`permutation()`] all estimate the *interventional* (marginal)
//! Shapley values of the value function
//!
//! ```text
//! v(S) = Σ_b w_b · f(x_S, background_b,¬S)
//! ```
//!
//! where a feature outside the coalition `S` takes its value from background row `b`, and a
//! feature is a [`Groups`] entry: replacing it copies *all* of its encoded columns (a one-hot
//! categorical gets one attribution). With the same background this is the quantity that
//! shap's `KernelExplainer` estimates. The attributions satisfy local accuracy:
//! `base + Σ_i values[i] = prediction` for every output, where `base = v(∅)` and
//! `prediction = f(x)`.
//!
//! A feature whose encoded columns equal `x`'s (bit for bit) in every background row cannot
//! change the model's output: it is a dummy player with attribution 0 and is left out of the
//! game, which only removes work.
//!
//! # Methods
//!
//! * [`exact()`]: all `2^M` coalitions of the `M` varying features (at most
//!   [`MAX_EXACT_FEATURES`]).
//! * [`kernel()`]: Kernel SHAP, a weighted least-squares fit under the Shapley kernel with
//!   the efficiency constraint enforced exactly; complete coalition sizes are enumerated
//!   while the budget allows, the rest sampled in complementary pairs. With a budget of
//!   `2^M − 2` coalitions it reproduces [`exact()`].
//! * [`permutation()`]: antithetic permutation sampling (each order walked forwards and
//!   backwards); local accuracy holds exactly for any number of permutations.
//! * [`lime()`]: a sparse weighted ridge surrogate on "feature kept / replaced" indicators.
//! * [`permutation_importance`]: the score drop when a feature's columns are shuffled.
//! * [`Background::sample`] and [`Background::kmeans`] summarise training data as the
//!   background.
//!
//! # Cost
//!
//! The methods build all masked rows for many coalitions into one buffer and call
//! [`Model::predict`] on batches of up to 65 536 rows, so the number of coalitions (times the
//! background size), not the number of calls, sets the cost (a background of more than
//! 65 536 rows goes one coalition per call). Building rows is a bitwise
//! blend of each background row with `x` (tens of millions of rows per second on one core),
//! so the model dominates; batch building is single-threaded, and a model is free to
//! parallelise its own `predict`.
//!
//! # Errors and determinism
//!
//! No function panics on user input: inconsistent widths, empty backgrounds, invalid groups
//! or options, and models that return the wrong number of values give an [`ExplainError`].
//! Everything random is driven by a ChaCha8 generator seeded from the caller's `seed`, so
//! the same inputs and seed give bit-identical results.

#![warn(missing_docs)]

mod attribution;
mod background;
mod error;
mod exact;
mod game;
mod groups;
mod importance;
mod kernel;
mod kmeans;
mod lime;
mod linalg;
mod model;
mod permutation;
mod sampling;

pub use attribution::Attribution;
pub use background::Background;
pub use error::ExplainError;
pub use exact::{MAX_EXACT_FEATURES, exact};
pub use groups::Groups;
pub use importance::{Importance, permutation_importance};
pub use kernel::kernel;
pub use lime::{LimeExplanation, LimeOptions, lime};
pub use model::{FnModel, Model};
pub use permutation::permutation;
