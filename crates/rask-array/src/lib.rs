//! # `rask::array`: chunked n-dimensional arrays
//!
//! An [`Array`] is a large n-dimensional array cut into chunks, each chunk
//! an in-memory `ndarray` array. Every operation builds a graph of
//! per-chunk tasks lazily, so arrays larger than memory, or spread over
//! many workers, read like one array; [`Array::compute`] runs the graph and
//! assembles an `ndarray::ArrayD`.
//!
//! ```
//! use rask_array as ra;
//! use rask_core::SyncExecutor;
//!
//! let x = ra::random(0, &[300, 300], 100)?;        // seeded uniform [0, 1), 3 x 3 chunks
//! let r = x.add(&x.T())?.mean(0)?.sum(ra::Axes::All)?;
//! let v: f64 = r.compute_scalar(&SyncExecutor::new())?;
//! assert!((v / 300.0 - 1.0).abs() < 0.05);
//! # Ok::<(), ra::ArrayError>(())
//! ```
//!
//! Rules that hold throughout:
//! 1. Every task is a registered function (`#[rask::task]`, in the private `tasks` module):
//!    no closures, so array graphs run unchanged on `Client::sync()`,
//!    `Client::threads()` and `Client::processes(n)`.
//! 2. Shapes, chunks and dtypes are checked when the graph is built; a
//!    shape mismatch is an [`ArrayError::ShapeMismatch`] naming both shapes.
//! 3. Chunks are shared, never copied, between consumers (`ArcArray`), and
//!    transposes and slices are views.
//! 4. Dtypes are `f64`, `i64` and `bool` ([`DType`]), fixed per array at
//!    build time by NumPy-like promotion rules.
//! 5. Chains of generators, element-wise operations, casts, `where` and
//!    transposes are fused (as Dask's blockwise fusion): one task per
//!    chunk evaluates the whole chain, and a reduction's per-chunk step
//!    joins it, evaluating band by band along axis 0 so the chunk never
//!    exists whole. A generated chunk used twice (`x` in `x + x.T`) is drawn
//!    twice rather than kept. Other operations (slices, rechunks, matmul,
//!    `map_blocks`, files) materialize their chunks; the executor frees
//!    each chunk once its last consumer has taken it.
//!
//! Results of a seeded generator depend on the seed and the chunking only
//! (never on the executor, the CPU's vector instructions or the order in
//! which chunks run).

#![warn(missing_docs)]

mod array;
mod block;
mod chunks;
mod codec;
mod create;
mod elementwise;
mod error;
mod fuse;
mod io;
mod linalg;
mod npy;
mod reduce;
mod shape;
mod slice;
mod tasks;
mod tree;

pub use array::Array;
pub use block::{Block, DType, Element, Scalar};
pub use chunks::{ChunkSpec, Chunks};
pub use create::{arange, eye, full, linspace, normal, ones, random, uniform, zeros};
pub use elementwise::{where_, Operand};
pub use error::{ArrayError, Result};
pub use io::{from_npy, from_store};
pub use linalg::MATMUL_FAN_IN;
/// The `ndarray` version that chunks and results use.
pub use ndarray;
pub use reduce::{Axes, ReduceOptions};
pub use shape::{concatenate, stack};
pub use slice::Sel;
pub use tasks::elementwise::{BinOp, UnOp};
pub use tasks::reduce::RedOp;
