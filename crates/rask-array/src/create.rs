//! Creating arrays: constants, ranges, identity matrices and seeded random
//! numbers. Each chunk is one task with no inputs but its parameters, so
//! nothing is materialized until a consumer needs it.

use rask_core::Delayed;

use crate::array::Array;
use crate::block::{Block, DType, Scalar};
use crate::chunks::{grid_indices, linear, ChunkSpec, Chunks};
use crate::error::{ArrayError, Result};
use crate::fuse::Fused;
use crate::tasks::create as k;
use crate::tasks::create::Dist;
use crate::tasks::fused::Expr;

fn per_chunk(
    shape: &[usize],
    chunks: impl Into<ChunkSpec>,
    dtype: DType,
    mut f: impl FnMut(&Chunks, &[usize]) -> Delayed<Block>,
) -> Result<Array> {
    let chunks = Chunks::from_spec(shape, &chunks.into())?;
    let blocks = grid_indices(&chunks.grid())
        .iter()
        .map(|idx| f(&chunks, idx))
        .collect();
    Ok(Array::make(shape.to_vec(), chunks, dtype, blocks))
}

fn per_chunk_fused(
    shape: &[usize],
    chunks: impl Into<ChunkSpec>,
    dtype: DType,
    mut f: impl FnMut(&Chunks, &[usize]) -> Expr,
) -> Result<Array> {
    let chunks = Chunks::from_spec(shape, &chunks.into())?;
    let fused = grid_indices(&chunks.grid())
        .iter()
        .map(|idx| Fused::leaf(f(&chunks, idx)))
        .collect();
    Ok(Array::make_fused(shape.to_vec(), chunks, dtype, fused))
}

/// An array of one value (its dtype is the value's).
pub fn full(
    shape: &[usize],
    chunks: impl Into<ChunkSpec>,
    value: impl Into<Scalar>,
) -> Result<Array> {
    let value = value.into();
    per_chunk_fused(shape, chunks, value.dtype(), |c, idx| Expr::Full {
        shape: c.chunk_shape(idx),
        value,
    })
}

/// An `f64` array of zeros.
pub fn zeros(shape: &[usize], chunks: impl Into<ChunkSpec>) -> Result<Array> {
    full(shape, chunks, 0.0)
}

/// An `f64` array of ones.
pub fn ones(shape: &[usize], chunks: impl Into<ChunkSpec>) -> Result<Array> {
    full(shape, chunks, 1.0)
}

/// `start, start + step, ...` up to (not including) `stop`, as NumPy's `arange`.
pub fn arange(start: f64, stop: f64, step: f64, chunk: usize) -> Result<Array> {
    if step == 0.0 || !step.is_finite() || !start.is_finite() || !stop.is_finite() {
        return Err(ArrayError::Invalid(format!(
            "arange({start}, {stop}, {step}): the bounds must be finite and the step non-zero"
        )));
    }
    let n = ((stop - start) / step).ceil().max(0.0) as usize;
    per_chunk(&[n], chunk, DType::F64, |c, idx| {
        let first = c.chunk_start(idx)[0] as u64;
        k::ramp::delayed(start, step, first, c.chunk_shape(idx)[0], None)
    })
}

/// `num` evenly spaced values from `start` to `stop` (both included), as
/// NumPy's `linspace`.
pub fn linspace(start: f64, stop: f64, num: usize, chunk: usize) -> Result<Array> {
    let step = if num > 1 {
        (stop - start) / (num - 1) as f64
    } else {
        0.0
    };
    let last = (num > 1).then(|| ((num - 1) as u64, stop));
    per_chunk(&[num], chunk, DType::F64, |c, idx| {
        let first = c.chunk_start(idx)[0] as u64;
        k::ramp::delayed(start, step, first, c.chunk_shape(idx)[0], last)
    })
}

/// An `n x m` matrix with ones on diagonal `k` (0: the main one; positive:
/// above it) and zeros elsewhere.
pub fn eye(n: usize, m: usize, k: i64, chunks: impl Into<ChunkSpec>) -> Result<Array> {
    per_chunk(&[n, m], chunks, DType::F64, |c, idx| {
        let s = c.chunk_start(idx);
        k::eye::delayed(c.chunk_shape(idx), s[0] as u64, s[1] as u64, k)
    })
}

fn seeded(seed: u64, shape: &[usize], chunks: impl Into<ChunkSpec>, dist: Dist) -> Result<Array> {
    per_chunk_fused(shape, chunks, DType::F64, |c, idx| Expr::Random {
        seed,
        index: linear(&c.grid(), idx) as u64,
        shape: c.chunk_shape(idx),
        dist,
    })
}

/// Uniform random numbers on `[0, 1)`. Chunk `i` is drawn from a stream
/// seeded by `(seed, i)`: the same seed and chunking give the same array
/// on every executor.
pub fn random(seed: u64, shape: &[usize], chunks: impl Into<ChunkSpec>) -> Result<Array> {
    uniform(seed, shape, chunks, 0.0, 1.0)
}

/// Uniform random numbers on `[low, high)` (see [`random`]).
pub fn uniform(
    seed: u64,
    shape: &[usize],
    chunks: impl Into<ChunkSpec>,
    low: f64,
    high: f64,
) -> Result<Array> {
    if !(low.is_finite() && high.is_finite() && low <= high) {
        return Err(ArrayError::Invalid(format!("uniform on [{low}, {high})")));
    }
    seeded(seed, shape, chunks, Dist::Uniform { low, high })
}

/// Normal random numbers (see [`random`]).
pub fn normal(
    seed: u64,
    shape: &[usize],
    chunks: impl Into<ChunkSpec>,
    mean: f64,
    std: f64,
) -> Result<Array> {
    if !(mean.is_finite() && std.is_finite() && std >= 0.0) {
        return Err(ArrayError::Invalid(format!(
            "normal with mean {mean} and std {std}"
        )));
    }
    seeded(seed, shape, chunks, Dist::Normal { mean, std })
}
