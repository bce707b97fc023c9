//! [`ArrayError`]: everything that can go wrong building or computing an
//! array graph. Shape and chunk checks happen when the graph is built, so
//! most of these are raised before any task runs.

use crate::block::DType;

/// Shapes as NumPy prints them: `(3, 4)`, `(5,)`, `()`.
pub(crate) fn fmt_shape(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Why an array operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ArrayError {
    /// Two shapes that the operation cannot combine; names both.
    #[error("{op}: shapes {} and {} are not compatible{}", fmt_shape(.left), fmt_shape(.right), why_suffix(.why))]
    ShapeMismatch {
        /// The operation (`add`, `matmul`, `concatenate`, ...).
        op: &'static str,
        /// The first operand's shape.
        left: Vec<usize>,
        /// The second operand's shape.
        right: Vec<usize>,
        /// More detail, if any.
        why: String,
    },
    /// A chunking that does not fit the shape.
    #[error("chunks {chunks:?} do not fit shape {}: {why}", fmt_shape(.shape))]
    BadChunks {
        /// The array's shape.
        shape: Vec<usize>,
        /// The chunking asked for.
        chunks: Vec<Vec<usize>>,
        /// What is wrong.
        why: String,
    },
    /// An axis that the array does not have.
    #[error("{op}: axis {axis} is out of range for an array of {ndim} dimensions")]
    AxisOutOfRange {
        /// The operation.
        op: &'static str,
        /// The axis asked for.
        axis: isize,
        /// The array's number of dimensions.
        ndim: usize,
    },
    /// An index past the end of an axis.
    #[error("index {index} is out of range for axis {axis} of length {len}")]
    IndexOutOfRange {
        /// The index asked for.
        index: isize,
        /// Its axis.
        axis: usize,
        /// The axis's length.
        len: usize,
    },
    /// An operation that does not take this element type.
    #[error("{op} does not take {found} arrays{}", why_suffix(.why))]
    DType {
        /// The operation.
        op: &'static str,
        /// The dtype given.
        found: DType,
        /// More detail, if any.
        why: String,
    },
    /// A reshape the chunking does not allow (or sizes that differ).
    #[error("cannot reshape {} into {}: {why}", fmt_shape(.from), fmt_shape(.to))]
    Reshape {
        /// The array's shape.
        from: Vec<usize>,
        /// The shape asked for.
        to: Vec<usize>,
        /// Why.
        why: String,
    },
    /// Any other invalid argument.
    #[error("{0}")]
    Invalid(String),
    /// Running the graph failed (a task error names its key).
    #[error(transparent)]
    Compute(#[from] rask_core::Error),
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A file that is not what it should be.
    #[error("{path}: {why}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong with it.
        why: String,
    },
}

fn why_suffix(why: &str) -> String {
    if why.is_empty() {
        String::new()
    } else {
        format!(" ({why})")
    }
}

/// Results of array operations.
pub type Result<T, E = ArrayError> = std::result::Result<T, E>;
