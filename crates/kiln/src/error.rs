//! Kiln's error type, and the process exit code each kind of error maps to.

use thiserror::Error;

/// Everything that can go wrong in the pipeline, each with a message that says what to do.
#[derive(Debug, Error)]
pub enum KilnError {
    /// Bad or unreadable data.
    #[error(transparent)]
    Data(#[from] kiln_data::DataError),
    /// A bad configuration file or option.
    #[error("config: {0}")]
    Config(String),
    /// A model bundle that cannot be used.
    #[error("model '{path}': {problem}")]
    Bundle {
        /// The bundle file.
        path: String,
        /// What is wrong and what to do.
        problem: String,
    },
    /// A profile, schema or validation input that cannot be used.
    #[error(transparent)]
    Profile(#[from] kiln_profile::ProfileError),
    /// The data has error-level anomalies and training was not told to accept them.
    #[error(
        "'{file}' has {count} error-level anomal{}: {list}; fix the data, or pass --allow-anomalies (data.allow_anomalies = true) to train anyway",
        if *count == 1 { "y" } else { "ies" }
    )]
    Anomalies {
        /// The data file.
        file: String,
        /// How many.
        count: usize,
        /// Each, with its column and first line.
        list: String,
    },
    /// The tuning study's storage failed.
    #[error(transparent)]
    Study(#[from] kiln_study::StudyError),
    /// A model registry that cannot do what was asked.
    #[error("{0}")]
    Registry(String),
    /// A file could not be written.
    #[error("cannot write '{path}': {reason}")]
    Write {
        /// The file.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
}

impl KilnError {
    /// A failed write of `path`, for any error that explains itself.
    pub fn write(path: &std::path::Path, reason: impl std::fmt::Display) -> Self {
        KilnError::Write {
            path: path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    /// The exit code for this error: 2 for bad input or config, 3 for an unusable model,
    /// 4 for a failed write.
    pub fn exit_code(&self) -> i32 {
        match self {
            KilnError::Data(_)
            | KilnError::Config(_)
            | KilnError::Profile(_)
            | KilnError::Study(_)
            | KilnError::Registry(_)
            | KilnError::Anomalies { .. } => 2,
            KilnError::Bundle { .. } => 3,
            KilnError::Write { .. } => 4,
        }
    }
}
