//! Partitioned dataframes for Rask (`rask::dataframe`): a table cut into
//! partitions, each an Arrow [`RecordBatch`](arrow::array::RecordBatch),
//! with the everyday operations built as task graphs.
//!
//! ```no_run
//! use rask_dataframe::{read_parquet, ParquetOptions, col, lit, sum, mean};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = rask_client::Client::threads();
//! let df = read_parquet("data.parquet", &ParquetOptions::new().partitions(8))?;
//! let out = df
//!     .filter(col("v1").gt(lit(2)))?
//!     .groupby(&["id1"])
//!     .agg(vec![sum("v1"), mean("v3")])?
//!     .collect(&client)?;
//! # Ok(()) }
//! ```
//!
//! Every operation checks column names and types against the schema when
//! it is called ([`FrameError`] names the column) and adds built-in tasks
//! (registered with `#[rask::task]`), so a dataframe computes on the sync,
//! threads and process executors alike.

mod dictionary;
pub mod error;
pub mod expr;
pub mod frame;
pub mod groupby;
mod hash;
pub mod io_csv;
pub mod io_parquet;
pub mod join;
pub mod partition;
pub mod sort;
pub mod tasks;

pub use arrow;
pub use error::{FrameError, Result};
pub use expr::{col, lit, null, BinOp, DType, Expr, Scalar};
pub use frame::{DataFrame, GroupBy, AUTO_SPLIT_ROWS};
pub use groupby::{
    count, first, last, max, mean, min, n_unique, std, sum, var, Agg, AggFunc, GroupSpec,
};
pub use io_csv::{read_csv, CsvOptions};
pub use io_parquet::{read_parquet, write_parquet_file, ParquetOptions};
pub use join::{JoinStrategy, JoinType};
pub use parquet;
pub use partition::Partition;
