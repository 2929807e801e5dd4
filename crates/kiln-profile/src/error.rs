//! Errors of profiling and validation, each naming the file and what to do.

use kiln_data::DataError;
use thiserror::Error;

/// Everything that can stop a profile or a validation.
#[derive(Debug, Error)]
pub enum ProfileError {
    /// The data could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A cell is not UTF-8 text.
    #[error(
        "'{file}' line {line}, column '{column}': not valid UTF-8 text; save the file as UTF-8"
    )]
    NotUtf8 {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// Column name.
        column: String,
    },
    /// A profile file cannot be used.
    #[error(
        "'{file}' is not a Kiln profile: {reason}; make one with `kiln profile DATA --out FILE`"
    )]
    BadProfile {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A schema file cannot be used.
    #[error("schema '{file}': {reason}")]
    BadSchema {
        /// The file.
        file: String,
        /// What is wrong and where.
        reason: String,
    },
    /// Two profiles cannot be merged.
    #[error("cannot merge profiles: {reason}")]
    Incompatible {
        /// Why.
        reason: String,
    },
}
