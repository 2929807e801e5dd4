//! Errors: an invalid search space (naming the parameter) and an unknown sampler or pruner name.

use thiserror::Error;

/// Why a search space cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpaceError {
    /// The space has no parameter at all.
    #[error(
        "the search space is empty: give at least one parameter (e.g. [tune.space.learning_rate])"
    )]
    Empty,
    /// One parameter is wrong.
    #[error("search-space parameter `{param}`: {reason}")]
    Invalid {
        /// The parameter's name.
        param: String,
        /// What is wrong and what would fix it.
        reason: String,
    },
}

impl SpaceError {
    /// An [`SpaceError::Invalid`] for `param`.
    pub(crate) fn invalid(param: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            param: param.to_string(),
            reason: reason.into(),
        }
    }
}

/// A sampler or pruner name that [`crate::sampler::by_name`] or [`crate::pruner::by_name`]
/// does not know.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown {kind} `{name}`; choose one of: {choices}")]
pub struct UnknownName {
    /// "sampler" or "pruner".
    pub kind: &'static str,
    /// The name that was asked for.
    pub name: String,
    /// The names that exist, comma-separated.
    pub choices: &'static str,
}
