//! The registered per-chunk kernels: every task of an array graph is a call
//! of one of these functions (`#[rask::task]`), so array graphs run
//! unchanged on threads, worker processes and, later, the cluster.
//!
//! Rules every kernel follows:
//! 1. It takes owned serde values only (blocks, small enums, sizes, seeds)
//!    and never captures anything: a worker that runs the same binary can
//!    call it by name.
//! 2. It checks what it cannot trust (dtypes, shapes) and returns an error
//!    (`Err(String)`) rather than panicking; the graph builders check the
//!    same things earlier, so such an error means a bug or a tampered graph.
//! 3. It never writes into a buffer it shares (blocks are `ArcArray`s).
//! 4. Its output dtype is the one the graph builder predicted with the same
//!    helper (`elementwise::result_dtype`, `reduce::RedOp::out_dtype`).

pub(crate) mod create;
pub(crate) mod elementwise;
pub(crate) mod fused;
pub(crate) mod io;
pub(crate) mod linalg;
pub(crate) mod reduce;
pub(crate) mod scratch;
pub(crate) mod shape;

use ndarray::{ArcArray, ArrayD, IxDyn};

use crate::block::{Block, DType};

/// The block cast to `f64` (free when it already is).
pub(crate) fn as_f64(b: Block) -> ArcArray<f64, IxDyn> {
    match b {
        Block::F64(a) => a,
        Block::I64(a) => a.mapv(|x| x as f64).into_shared(),
        Block::Bool(a) => a.mapv(|x| if x { 1.0 } else { 0.0 }).into_shared(),
    }
}

/// The block cast to `i64` (free when it already is).
pub(crate) fn as_i64(b: Block) -> ArcArray<i64, IxDyn> {
    match b {
        Block::F64(a) => a.mapv(|x| x as i64).into_shared(),
        Block::I64(a) => a,
        Block::Bool(a) => a.mapv(i64::from).into_shared(),
    }
}

/// The block cast to `bool` (`!= 0`; free when it already is).
pub(crate) fn as_bool(b: Block) -> ArcArray<bool, IxDyn> {
    match b {
        Block::F64(a) => a.mapv(|x| x != 0.0).into_shared(),
        Block::I64(a) => a.mapv(|x| x != 0).into_shared(),
        Block::Bool(a) => a,
    }
}

/// The block cast to `to`.
pub(crate) fn cast_block(b: Block, to: DType) -> Block {
    match to {
        DType::F64 => Block::F64(as_f64(b)),
        DType::I64 => Block::I64(as_i64(b)),
        DType::Bool => Block::Bool(as_bool(b)),
    }
}

/// Wraps an owned array as a block.
pub(crate) fn block<T: crate::block::Element>(a: ArrayD<T>) -> Block {
    T::into_block(a.into_shared())
}

/// Casts a chunk to another dtype.
#[rask_macros::task(crate = rask_core)]
pub(crate) fn cast(a: Block, to: DType) -> Block {
    cast_block(a, to)
}
