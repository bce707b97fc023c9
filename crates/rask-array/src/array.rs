//! [`Array`]: a lazy n-dimensional array cut into chunks.
//!
//! Invariants of an `Array` (every constructor upholds them, every
//! operation relies on them):
//! 1. `chunks` is valid for `shape` (see `chunks.rs`);
//! 2. `blocks` holds one `Delayed<Block>` per chunk, in C order over the
//!    chunk grid, and block `i` computes to a block of `dtype` whose shape is
//!    chunk `i`'s shape;
//! 3. an `Array` never changes: operations return new arrays whose blocks
//!    are tasks depending on the old ones, so an array can be used any
//!    number of times, in any number of graphs.

use std::sync::Arc;

use ndarray::{ArrayBase, ArrayD, Axis, Data, Dimension, IxDyn, Slice};
use rask_core::{Codec, Delayed, Executor};

use crate::block::{Block, DType, Element};
use crate::chunks::{grid_indices, ChunkSpec, Chunks};
use crate::error::{ArrayError, Result};
use crate::fuse::Fused;

pub(crate) static BLOCK_CODEC: Codec = rask_core::codec::<Block>();

/// A chunked n-dimensional array: shape, chunk grid, dtype, and one lazy
/// task per chunk. Nothing runs until [`compute`](Array::compute).
#[derive(Clone, Debug)]
pub struct Array {
    pub(crate) shape: Vec<usize>,
    pub(crate) chunks: Chunks,
    pub(crate) dtype: DType,
    pub(crate) blocks: Vec<Delayed<Block>>,
    /// Per chunk, the fused expression behind `blocks` (see `fuse.rs`).
    pub(crate) fused: Option<Arc<Vec<Fused>>>,
}

impl Array {
    /// An array from its parts; checks the chunk grid and the number of blocks.
    /// Each block must compute to a `dtype` block of its chunk's shape.
    pub fn from_blocks(
        shape: Vec<usize>,
        chunks: impl Into<ChunkSpec>,
        dtype: DType,
        blocks: Vec<Delayed<Block>>,
    ) -> Result<Self> {
        let chunks = Chunks::from_spec(&shape, &chunks.into())?;
        if blocks.len() != chunks.count() {
            return Err(ArrayError::Invalid(format!(
                "{} blocks for a grid of {} chunks",
                blocks.len(),
                chunks.count()
            )));
        }
        Ok(Array {
            shape,
            chunks,
            dtype,
            blocks,
            fused: None,
        })
    }

    pub(crate) fn make(
        shape: Vec<usize>,
        chunks: Chunks,
        dtype: DType,
        blocks: Vec<Delayed<Block>>,
    ) -> Self {
        debug_assert_eq!(blocks.len(), chunks.count());
        debug_assert_eq!(chunks.ndim(), shape.len());
        Array {
            shape,
            chunks,
            dtype,
            blocks,
            fused: None,
        }
    }

    /// An array whose chunks are fused expressions (one per chunk, C order).
    pub(crate) fn make_fused(
        shape: Vec<usize>,
        chunks: Chunks,
        dtype: DType,
        fused: Vec<Fused>,
    ) -> Self {
        debug_assert_eq!(fused.len(), chunks.count());
        let blocks = fused.iter().map(Fused::task).collect();
        Array {
            shape,
            chunks,
            dtype,
            blocks,
            fused: Some(Arc::new(fused)),
        }
    }

    /// Chunk `idx` as an expression to build on (see `fuse::operand`).
    pub(crate) fn fused_at(&self, idx: &[usize]) -> Fused {
        let i = crate::chunks::linear(&self.chunks.grid(), idx);
        crate::fuse::operand(self.fused.as_ref().map(|v| &v[i]), &self.blocks[i])
    }

    /// Chunk `i` (C order) as an expression to build on.
    pub(crate) fn fused_linear(&self, i: usize) -> Fused {
        crate::fuse::operand(self.fused.as_ref().map(|v| &v[i]), &self.blocks[i])
    }

    /// An array of `a`'s values cut into `chunks`; each chunk becomes a
    /// constant of the graph (sent by value to worker processes).
    pub fn from_ndarray<T, S, D>(a: &ArrayBase<S, D>, chunks: impl Into<ChunkSpec>) -> Result<Self>
    where
        T: Element,
        S: Data<Elem = T>,
        D: Dimension,
    {
        let shape = a.shape().to_vec();
        let chunks = Chunks::from_spec(&shape, &chunks.into())?;
        let a = a.view().into_dyn();
        let blocks = grid_indices(&chunks.grid())
            .into_iter()
            .map(|idx| {
                let start = chunks.chunk_start(&idx);
                let cs = chunks.chunk_shape(&idx);
                let mut v = a.view();
                for ax in 0..shape.len() {
                    v.slice_axis_inplace(Axis(ax), Slice::from(start[ax]..start[ax] + cs[ax]));
                }
                constant(Block::from(v.to_owned()))
            })
            .collect();
        Ok(Array::make(shape, chunks, T::DTYPE, blocks))
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The chunk grid.
    pub fn chunks(&self) -> &Chunks {
        &self.chunks
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The lazy chunks, in C order over the grid.
    pub fn blocks(&self) -> &[Delayed<Block>] {
        &self.blocks
    }

    /// Size in bytes of the computed array.
    pub fn nbytes(&self) -> usize {
        self.len()
            * match self.dtype {
                DType::Bool => 1,
                _ => 8,
            }
    }

    /// Computes every chunk on `executor` and assembles an `ndarray` of `T`
    /// (which must be the array's dtype).
    pub fn compute<T: Element, E: Executor + ?Sized>(&self, executor: &E) -> Result<ArrayD<T>> {
        if T::DTYPE != self.dtype {
            return Err(ArrayError::DType {
                op: "compute",
                found: self.dtype,
                why: format!("asked for {}; cast first", T::DTYPE),
            });
        }
        let blocks: Vec<Block> = rask_core::compute(executor, &self.blocks)?;
        self.assemble(blocks)
    }

    /// Puts computed chunks (the values of [`Array::blocks`], in order)
    /// together into one `ndarray` of `T`, checking each chunk's dtype and
    /// shape. A single chunk is moved, not copied.
    pub fn assemble<T: Element>(&self, blocks: Vec<Block>) -> Result<ArrayD<T>> {
        if blocks.len() != self.blocks.len() {
            return Err(ArrayError::Invalid(format!(
                "{} chunks for a grid of {}",
                blocks.len(),
                self.blocks.len()
            )));
        }
        if blocks.len() == 1 {
            let b = blocks
                .into_iter()
                .next()
                .ok_or_else(|| ArrayError::Invalid("no block".into()))?;
            return b.into_ndarray::<T>().map_err(ArrayError::Invalid);
        }
        let mut out = ArrayD::<T>::default(IxDyn(&self.shape));
        for (idx, b) in grid_indices(&self.chunks.grid()).into_iter().zip(blocks) {
            let start = self.chunks.chunk_start(&idx);
            let cs = self.chunks.chunk_shape(&idx);
            let a = T::from_block(b)
                .ok_or_else(|| ArrayError::Invalid("a chunk of the wrong dtype".into()))?;
            if a.shape() != cs.as_slice() {
                return Err(ArrayError::Invalid(format!(
                    "chunk {idx:?} computed to shape {:?}, expected {cs:?}",
                    a.shape()
                )));
            }
            let mut v = out.view_mut();
            for ax in 0..self.shape.len() {
                v.slice_axis_inplace(Axis(ax), Slice::from(start[ax]..start[ax] + cs[ax]));
            }
            v.assign(&a);
        }
        Ok(out)
    }

    /// Computes a 0-d array (a full reduction) to its value.
    pub fn compute_scalar<T: Element, E: Executor + ?Sized>(&self, executor: &E) -> Result<T> {
        if !self.shape.is_empty() {
            return Err(ArrayError::Invalid(format!(
                "compute_scalar of an array of shape {}",
                crate::error::fmt_shape(&self.shape)
            )));
        }
        let a = self.compute::<T, E>(executor)?;
        a.iter()
            .next()
            .copied()
            .ok_or_else(|| ArrayError::Invalid("an empty 0-d array".into()))
    }

    /// The block at grid position `idx`.
    pub(crate) fn block_at(&self, idx: &[usize]) -> &Delayed<Block> {
        &self.blocks[crate::chunks::linear(&self.chunks.grid(), idx)]
    }
}

/// A block as a constant node of the graph.
pub(crate) fn constant(b: Block) -> Delayed<Block> {
    rask_core::literal(b, &BLOCK_CODEC)
}
