//! Errors about data, each naming the file, line, column or value at fault and what to do.

use thiserror::Error;

/// Everything that can be wrong with a table or a column in it.
#[derive(Debug, Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("cannot read '{file}': {reason}")]
    Io {
        /// The file.
        file: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The file has no header or no data rows.
    #[error("'{file}' is empty: expected a header row and at least one data row")]
    Empty {
        /// The file.
        file: String,
    },
    /// The file's extension is not a supported format.
    #[error("'{file}': unsupported file type; use .csv, .tsv, .csv.gz, .jsonl[.gz] or .parquet")]
    UnsupportedFormat {
        /// The file.
        file: String,
    },
    /// A CSV row has a different number of fields from the header.
    #[error(
        "'{file}' line {line}: {found} fields, but the header has {expected}; check for an unquoted delimiter or a missing value"
    )]
    Ragged {
        /// The file.
        file: String,
        /// 1-based line number in the file.
        line: u64,
        /// Fields in the header.
        expected: usize,
        /// Fields in this row.
        found: usize,
    },
    /// The file could not be parsed in its format.
    #[error("'{file}' is not valid {format}: {reason}")]
    Malformed {
        /// The file.
        file: String,
        /// The format it was read as.
        format: String,
        /// What the parser said.
        reason: String,
    },
    /// Two columns share a name.
    #[error("'{file}': column '{column}' appears twice in the header; rename one of them")]
    DuplicateColumn {
        /// The file.
        file: String,
        /// The repeated name.
        column: String,
    },
    /// A number that is NaN or infinite.
    #[error(
        "'{file}' line {line}, column '{column}': '{value}' is not a finite number; leave the cell empty to mark a missing value"
    )]
    NotFinite {
        /// The file.
        file: String,
        /// 1-based line number.
        line: u64,
        /// Column name.
        column: String,
        /// The cell as written.
        value: String,
    },
    /// Text found in a column that is otherwise numeric.
    #[error(
        "'{file}' line {line}, column '{column}': '{value}' is text in a numeric column ({numbers} of its values are numbers); fix the value or leave the cell empty"
    )]
    TextInNumeric {
        /// The file.
        file: String,
        /// 1-based line number.
        line: u64,
        /// Column name.
        column: String,
        /// The offending cell.
        value: String,
        /// How many cells of the column are numbers.
        numbers: usize,
    },
    /// A column the task needs is absent.
    #[error("'{file}' has no column '{column}'{hint}")]
    MissingColumn {
        /// The file.
        file: String,
        /// The column that was expected.
        column: String,
        /// A suggestion (closest names, or what the model needs).
        hint: String,
    },
    /// The target column cannot be learned from.
    #[error("'{file}': target column '{column}' {problem}")]
    BadTarget {
        /// The file.
        file: String,
        /// Target column name.
        column: String,
        /// What is wrong and what to do.
        problem: String,
    },
    /// A value at prediction time does not fit the column's trained type.
    #[error("'{file}' line {line}, column '{column}': {problem}")]
    BadValue {
        /// The file.
        file: String,
        /// 1-based line number.
        line: u64,
        /// Column name.
        column: String,
        /// What is wrong and what to do.
        problem: String,
    },
    /// No usable feature column is left after dropping identifiers and constants.
    #[error("'{file}': no usable feature columns remain ({reason})")]
    NoFeatures {
        /// The file.
        file: String,
        /// Why each column was dropped.
        reason: String,
    },
    /// A preprocessing setting that cannot apply to this data; the message names the key.
    #[error("{0}")]
    Options(String),
}
