//! Errors of study storage, each saying what to do.

use thiserror::Error;

/// Why a study operation failed.
#[derive(Debug, Error)]
pub enum StudyError {
    /// The storage URL is not one Kiln can use.
    #[error("storage '{url}': {reason}")]
    BadUrl {
        /// The URL as given (without its password).
        url: String,
        /// What is wrong and what to use instead.
        reason: String,
    },
    /// The database refused or failed an operation.
    #[error("study storage: {0}")]
    Database(#[from] sqlx::Error),
    /// A study exists with settings that contradict the ones asked for.
    #[error("study '{name}': {reason}")]
    Conflict {
        /// Study name.
        name: String,
        /// The contradiction and how to resolve it.
        reason: String,
    },
    /// A stored value cannot be read.
    #[error("study storage holds an unreadable {what}: {reason}")]
    Corrupt {
        /// What was being read.
        what: String,
        /// The parser's reason.
        reason: String,
    },
}
