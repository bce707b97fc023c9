//! Element types and the value of one chunk.
//!
//! An [`Array`](crate::Array) has one [`DType`] for all its chunks, fixed
//! when the graph is built; every chunk is a [`Block`] of that dtype. A block
//! holds an `ndarray::ArcArray`: cloning it (when a chunk has several
//! consumers, as `x` does in `x + x.T`) shares the buffer instead of copying
//! it, and axis permutations are views of the same buffer.
//!
//! Invariant: kernels never mutate a shared buffer (`ArcArray` copies on
//! write), so a block seen by two tasks reads the same values in both.

use ndarray::{ArcArray, ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

/// The element type of an array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DType {
    /// 64-bit floats (the default).
    F64,
    /// 64-bit signed integers (indices from `argmin`/`argmax`, integer sums).
    I64,
    /// Booleans (comparisons, masks for `where_`, `any`/`all`).
    Bool,
}

impl DType {
    /// NumPy's name for it (`float64`, `int64`, `bool`).
    pub fn name(self) -> &'static str {
        match self {
            DType::F64 => "float64",
            DType::I64 => "int64",
            DType::Bool => "bool",
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One chunk's values. Encoded as its dtype, its shape and its elements'
/// little-endian bytes in row-major order, in one piece (`codec.rs`).
#[derive(Clone, Debug)]
pub enum Block {
    /// A chunk of `f64`s.
    F64(ArcArray<f64, IxDyn>),
    /// A chunk of `i64`s.
    I64(ArcArray<i64, IxDyn>),
    /// A chunk of booleans.
    Bool(ArcArray<bool, IxDyn>),
}

/// A chunk's size for the result cache: its elements' bytes.
impl rask_core::NBytes for Block {
    fn nbytes(&self) -> usize {
        std::mem::size_of::<Block>()
            + match self {
                Block::F64(a) => a.len() * std::mem::size_of::<f64>(),
                Block::I64(a) => a.len() * std::mem::size_of::<i64>(),
                Block::Bool(a) => a.len(),
            }
    }
}

// Its encoding is a few byte strings borrowed from it: cheap to count.
rask_core::inventory::submit!(rask_core::SizeOf::of::<Block>().count_first());

impl Block {
    /// The chunk's element type.
    pub fn dtype(&self) -> DType {
        match self {
            Block::F64(_) => DType::F64,
            Block::I64(_) => DType::I64,
            Block::Bool(_) => DType::Bool,
        }
    }

    /// The chunk's shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Block::F64(a) => a.shape(),
            Block::I64(a) => a.shape(),
            Block::Bool(a) => a.shape(),
        }
    }

    /// The chunk as an owned `ndarray` of `T`, or an error naming both dtypes.
    pub fn into_ndarray<T: Element>(self) -> Result<ArrayD<T>, String> {
        let found = self.dtype();
        T::from_block(self)
            .map(ArcArray::into_owned)
            .ok_or_else(|| format!("a chunk is {found}, not {}", T::DTYPE))
    }
}

impl<T: Element> From<ArrayD<T>> for Block {
    fn from(a: ArrayD<T>) -> Self {
        T::into_block(a.into_shared())
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f64 {}
    impl Sealed for i64 {}
    impl Sealed for bool {}
}

/// A Rust type that an array can hold: `f64`, `i64` or `bool`.
pub trait Element:
    sealed::Sealed + Copy + Default + Send + Sync + PartialEq + std::fmt::Debug + 'static
{
    /// The matching dtype.
    const DTYPE: DType;
    /// Wraps an array as a block.
    fn into_block(a: ArcArray<Self, IxDyn>) -> Block;
    /// Unwraps a block of this type.
    fn from_block(b: Block) -> Option<ArcArray<Self, IxDyn>>;
    /// The value as an `f64` (for `full`, casts and reductions).
    fn to_f64(self) -> f64;
    /// The value from an `f64` (NumPy's cast: truncation toward zero, `!= 0`).
    fn from_f64(x: f64) -> Self;
}

impl Element for f64 {
    const DTYPE: DType = DType::F64;
    fn into_block(a: ArcArray<f64, IxDyn>) -> Block {
        Block::F64(a)
    }
    fn from_block(b: Block) -> Option<ArcArray<f64, IxDyn>> {
        match b {
            Block::F64(a) => Some(a),
            _ => None,
        }
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(x: f64) -> Self {
        x
    }
}

impl Element for i64 {
    const DTYPE: DType = DType::I64;
    fn into_block(a: ArcArray<i64, IxDyn>) -> Block {
        Block::I64(a)
    }
    fn from_block(b: Block) -> Option<ArcArray<i64, IxDyn>> {
        match b {
            Block::I64(a) => Some(a),
            _ => None,
        }
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(x: f64) -> Self {
        x as i64
    }
}

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn into_block(a: ArcArray<bool, IxDyn>) -> Block {
        Block::Bool(a)
    }
    fn from_block(b: Block) -> Option<ArcArray<bool, IxDyn>> {
        match b {
            Block::Bool(a) => Some(a),
            _ => None,
        }
    }
    fn to_f64(self) -> f64 {
        if self {
            1.0
        } else {
            0.0
        }
    }
    fn from_f64(x: f64) -> Self {
        x != 0.0
    }
}

/// A scalar operand (`x + 1.0`, `x.gt(0.5)`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Scalar {
    /// A float.
    F64(f64),
    /// An integer.
    I64(i64),
    /// A boolean.
    Bool(bool),
}

impl Scalar {
    /// The scalar's dtype.
    pub fn dtype(self) -> DType {
        match self {
            Scalar::F64(_) => DType::F64,
            Scalar::I64(_) => DType::I64,
            Scalar::Bool(_) => DType::Bool,
        }
    }
}

impl From<f64> for Scalar {
    fn from(x: f64) -> Self {
        Scalar::F64(x)
    }
}
impl From<i64> for Scalar {
    fn from(x: i64) -> Self {
        Scalar::I64(x)
    }
}
impl From<bool> for Scalar {
    fn from(x: bool) -> Self {
        Scalar::Bool(x)
    }
}
