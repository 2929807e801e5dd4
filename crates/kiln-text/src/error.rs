//! Errors about checkpoints and text, each naming the file at fault and what to do.

use thiserror::Error;

/// Everything that can be wrong with a checkpoint folder or the text given to it.
#[derive(Debug, Error)]
pub enum TextError {
    /// A file could not be read.
    #[error("cannot read '{file}': {reason}")]
    Io {
        /// The file.
        file: String,
        /// The operating system's reason.
        reason: String,
    },
    /// A file is there but its content is not what a checkpoint needs.
    #[error("'{file}': {reason}")]
    Malformed {
        /// The file.
        file: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The tokenizer refused a text.
    #[error("the tokenizer failed on a text: {0}")]
    Tokenizer(String),
}
