//! The one error type of the crate. Every error about a column names it.

use arrow::error::ArrowError;
use parquet::errors::ParquetError;

/// Why a dataframe operation could not be built or computed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A column that the table does not have.
    #[error("unknown column `{name}` (the table has: {available})")]
    UnknownColumn {
        /// The name asked for.
        name: String,
        /// The table's columns, comma-separated.
        available: String,
    },
    /// A column of the wrong type for an operation.
    #[error("column `{column}`: {message}")]
    Type {
        /// The offending column (or expression).
        column: String,
        /// What is wrong with it.
        message: String,
    },
    /// Two tables (or partitions) whose schemas differ.
    #[error("schema mismatch: {0}")]
    Schema(String),
    /// An invalid argument.
    #[error("{0}")]
    Invalid(String),
    /// A file that could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An error from an Arrow kernel.
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    /// An error from the Parquet reader or writer.
    #[error("parquet: {0}")]
    Parquet(#[from] ParquetError),
    /// The task graph failed (a task error names its key).
    #[error("{0}")]
    Compute(String),
}

impl FrameError {
    pub(crate) fn ty(column: impl Into<String>, message: impl Into<String>) -> Self {
        FrameError::Type {
            column: column.into(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: &str, source: std::io::Error) -> Self {
        FrameError::Io {
            path: path.to_string(),
            source,
        }
    }
}

impl From<rask_core::Error> for FrameError {
    fn from(e: rask_core::Error) -> Self {
        FrameError::Compute(e.to_string())
    }
}

/// The crate's result type.
pub type Result<T, E = FrameError> = std::result::Result<T, E>;
