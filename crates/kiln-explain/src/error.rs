//! The error type shared by every explanation method.

use thiserror::Error;

/// Why an explanation could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExplainError {
    /// [`exact`](crate::exact()) enumerates `2^M` coalitions and refuses more than `max`
    /// varying features; use [`kernel`](crate::kernel()) or
    /// [`permutation`](crate::permutation()) instead.
    #[error(
        "exact Shapley values need 2^{features} coalitions; at most {max} varying features are allowed"
    )]
    TooManyFeatures {
        /// Varying features of the row being explained.
        features: usize,
        /// The largest number accepted.
        max: usize,
    },
    /// A buffer's length disagrees with the model's input width, the background's width or
    /// the number of values the model should have returned.
    #[error("{what}: expected {expected} values, found {found}")]
    WidthMismatch {
        /// Which buffer.
        what: &'static str,
        /// The length it should have.
        expected: usize,
        /// The length it has.
        found: usize,
    },
    /// A required input has no rows (background, data), or the model has no outputs.
    #[error("{0} is empty")]
    Empty(&'static str),
    /// The groups do not partition the model's input columns.
    #[error("invalid feature groups: {0}")]
    InvalidGroups(String),
    /// The background's weights are negative, not finite, or sum to zero, or its buffer does
    /// not hold `n × width` values.
    #[error("invalid background: {0}")]
    InvalidBackground(String),
    /// An option is out of range (a sample count of zero, a non-positive kernel width, ...).
    #[error("invalid option: {0}")]
    InvalidOption(String),
}
