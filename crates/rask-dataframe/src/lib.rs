//! Partitioned dataframes for Rask (`rask::dataframe`): a table cut into
//! partitions, each an Arrow [`RecordBatch`](arrow::array::RecordBatch),
//! described by a logical plan that an optimizer rewrites and lowers to a
//! task graph when it is computed.
//!
//! ```no_run
//! use rask_dataframe::{read_parquet, ParquetOptions, col, lit, sum, mean, len};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = rask_client::Client::threads();
//! let df = read_parquet("data.parquet", &ParquetOptions::new())?;
//! let q = df
//!     .filter(col("v1").gt(lit(2)))?
//!     .groupby(&["id1"])
//!     .agg(vec![sum("v1"), mean("v3"), len()])?;
//! println!("{}", q.explain()?); // the scan reads id1, v1, v3 and skips by statistics
//! let out = q.collect(&client)?;
//! # Ok(()) }
//! ```
//!
//! Every operation checks column names and types against the schema when
//! it is called ([`FrameError`] names the column) and adds a plan node; the
//! optimizer (see `plan/optimize.rs`) pushes filters and projections into
//! the file scans and computes shared sub-plans once; lowering makes
//! built-in tasks (registered with `#[rask::task]`), so a dataframe
//! computes on the sync, threads and process executors alike.

#![warn(missing_docs)]

mod dictionary;
pub mod error;
mod exchange;
pub mod expr;
mod files;
pub mod frame;
pub mod groupby;
mod hash;
pub mod io_csv;
pub mod io_ipc;
pub mod io_parquet;
pub mod join;
pub mod partition;
mod plan;
mod pretty;
mod scan;
pub mod sort;
pub mod tasks;
pub mod window;

pub use arrow;
pub use error::{FrameError, Result};
pub use expr::{
    col, date, decimal, duration, lit, null, when, BinOp, DType, DatePart, DtFn, Expr, Scalar,
    StrFn, TimeUnit,
};
pub use frame::DataFrame;
pub use groupby::lower::AUTO_SPLIT_ROWS;
pub use groupby::{
    count, first, last, len, max, mean, min, n_unique, std, sum, var, Agg, AggFunc, AggInput,
    GroupBy, GroupSpec,
};
pub use io_csv::{read_csv, CsvOptions};
pub use io_ipc::{read_ipc, IpcOptions};
pub use io_parquet::{read_parquet, write_parquet_file, ParquetOptions, Strings};
pub use join::{JoinOptions, JoinStrategy, JoinType, BROADCAST_ROWS};
pub use parquet;
pub use partition::Partition;
pub use pretty::{pretty, Pretty};
pub use sort::{asc, desc, SortKey};
pub use window::{
    cum_count, cum_max, cum_min, cum_sum, dense_rank, rank, row_number, shift, WindowExpr,
    WindowFunc,
};
