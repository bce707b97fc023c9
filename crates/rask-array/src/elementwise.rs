//! Element-wise operations with NumPy's broadcasting: shapes are aligned on
//! the right, an axis of length 1 (or a missing one) stretches to the other
//! operand's length. Chunk grids are unified when the graph is built: where
//! both operands have the full length of an axis but cut it differently,
//! the right operand is rechunked to the left one's chunks; a stretched
//! operand reuses its single chunk along that axis. Every output chunk is
//! one task over one chunk of each operand.

use rask_core::Delayed;

use crate::array::Array;
use crate::block::{Block, DType, Scalar};
use crate::chunks::{grid_indices, ChunkSpec, Chunks};
use crate::error::{ArrayError, Result};
use crate::fuse::Fused;
use crate::tasks::elementwise::{broadcast_shape, result_dtype, BinOp, UnOp};
use crate::tasks::fused::Expr;

/// The right-hand side of an element-wise operation: an array or a scalar.
#[derive(Clone, Copy, Debug)]
pub enum Operand<'a> {
    /// An array (broadcast against the other operand).
    Array(&'a Array),
    /// A scalar.
    Scalar(Scalar),
}

impl<'a> From<&'a Array> for Operand<'a> {
    fn from(a: &'a Array) -> Self {
        Operand::Array(a)
    }
}
impl From<f64> for Operand<'_> {
    fn from(x: f64) -> Self {
        Operand::Scalar(Scalar::F64(x))
    }
}
impl From<i64> for Operand<'_> {
    fn from(x: i64) -> Self {
        Operand::Scalar(Scalar::I64(x))
    }
}
impl From<bool> for Operand<'_> {
    fn from(x: bool) -> Self {
        Operand::Scalar(Scalar::Bool(x))
    }
}
impl From<Scalar> for Operand<'_> {
    fn from(x: Scalar) -> Self {
        Operand::Scalar(x)
    }
}

/// Where each operand's chunks come from, per output axis.
struct Plan {
    shape: Vec<usize>,
    chunks: Chunks,
    /// For each operand, its arrays rechunked as needed.
    operands: Vec<Array>,
}

/// Unifies the grids of several arrays for broadcasting.
fn unify(op: &'static str, arrays: &[&Array]) -> Result<Plan> {
    let mut shape: Vec<usize> = Vec::new();
    for (i, a) in arrays.iter().enumerate() {
        shape = broadcast_shape(&shape, a.shape()).ok_or_else(|| ArrayError::ShapeMismatch {
            op,
            left: if i == 1 {
                arrays[0].shape().to_vec()
            } else {
                shape.clone()
            },
            right: a.shape().to_vec(),
            why: "they do not broadcast".into(),
        })?;
    }
    let nd = shape.len();
    // Output chunks: from the first operand that has the full length on each axis.
    let mut out_chunks: Vec<Vec<usize>> = Vec::with_capacity(nd);
    for (ax, &len) in shape.iter().enumerate() {
        let mut pick = None;
        for a in arrays {
            let off = nd - a.ndim();
            if ax >= off && a.shape()[ax - off] == len {
                pick = Some(a.chunks().axis(ax - off).to_vec());
                break;
            }
        }
        out_chunks.push(pick.unwrap_or_else(|| vec![len]));
    }
    let chunks = Chunks::new(&shape, out_chunks)?;
    let mut operands = Vec::with_capacity(arrays.len());
    for a in arrays {
        let off = nd - a.ndim();
        let want: Vec<Vec<usize>> = (0..a.ndim())
            .map(|i| {
                if a.shape()[i] == shape[i + off] {
                    chunks.axis(i + off).to_vec()
                } else {
                    a.chunks().axis(i).to_vec()
                }
            })
            .collect();
        let arr = if want.as_slice() == a.chunks().sizes() {
            (*a).clone()
        } else {
            a.rechunk(ChunkSpec::Explicit(want))?
        };
        operands.push(arr);
    }
    Ok(Plan {
        shape,
        chunks,
        operands,
    })
}

impl Plan {
    /// The block of operand `i` that output chunk `idx` reads.
    fn fused(&self, i: usize, idx: &[usize]) -> Fused {
        let a = &self.operands[i];
        let off = self.shape.len() - a.ndim();
        let own: Vec<usize> = (0..a.ndim())
            .map(|d| {
                if a.shape()[d] == self.shape[d + off] {
                    idx[d + off]
                } else {
                    0
                }
            })
            .collect();
        a.fused_at(&own)
    }
}

impl Array {
    /// `self op other`, element-wise with broadcasting (`other` an array or a scalar).
    pub fn binary<'a>(&self, op: BinOp, other: impl Into<Operand<'a>>) -> Result<Array> {
        match other.into() {
            Operand::Scalar(s) => self.binary_scalar(op, s, false),
            Operand::Array(b) => {
                let (_, out) =
                    result_dtype(op, self.dtype, b.dtype).map_err(|why| ArrayError::DType {
                        op: op.name(),
                        found: if self.dtype == DType::Bool {
                            b.dtype
                        } else {
                            self.dtype
                        },
                        why,
                    })?;
                let plan = unify(op.name(), &[self, b])?;
                let fused = grid_indices(&plan.chunks.grid())
                    .iter()
                    .map(|idx| {
                        Fused::join(vec![plan.fused(0, idx), plan.fused(1, idx)], |mut e| {
                            let b = e.pop().unwrap_or_else(|| unreachable!("two operands"));
                            let a = e.pop().unwrap_or_else(|| unreachable!("two operands"));
                            Expr::Binary(op, a, b)
                        })
                    })
                    .collect();
                Ok(Array::make_fused(plan.shape, plan.chunks, out, fused))
            }
        }
    }

    /// `self op s` (or `s op self` when `scalar_first`).
    pub fn binary_scalar(
        &self,
        op: BinOp,
        s: impl Into<Scalar>,
        scalar_first: bool,
    ) -> Result<Array> {
        let s = s.into();
        let (_, out) =
            result_dtype(op, self.dtype, s.dtype()).map_err(|why| ArrayError::DType {
                op: op.name(),
                found: self.dtype,
                why,
            })?;
        Ok(self.map_fused(out, |a| Expr::Scalar {
            op,
            a,
            s,
            scalar_first,
        }))
    }

    /// `op(self)`, element-wise.
    pub fn unary(&self, op: UnOp) -> Array {
        self.map_fused(op.out_dtype(self.dtype), |a| Expr::Unary(op, a))
    }

    /// The array cast to `to` (NumPy's `astype`: floats truncate toward zero,
    /// anything non-zero is `true`).
    pub fn cast(&self, to: DType) -> Array {
        if to == self.dtype {
            return self.clone();
        }
        self.map_fused(to, |a| Expr::Cast(a, to))
    }

    /// A fused chunk-wise map keeping shape and chunks.
    pub(crate) fn map_fused(&self, dtype: DType, f: impl Fn(Box<Expr>) -> Expr) -> Array {
        let fused = (0..self.blocks.len())
            .map(|i| self.fused_linear(i).map(&f))
            .collect();
        Array::make_fused(self.shape.clone(), self.chunks.clone(), dtype, fused)
    }

    /// Applies a registered block function to every chunk:
    /// `x.map_blocks(my_kernel::delayed)` where `#[rask::task] fn my_kernel(b: Block) -> Block`
    /// keeps each chunk's shape and dtype.
    pub fn map_blocks(&self, f: impl Fn(Delayed<Block>) -> Delayed<Block>) -> Array {
        let blocks = self.blocks.iter().map(|b| f(b.clone())).collect();
        Array::make(self.shape.clone(), self.chunks.clone(), self.dtype, blocks)
    }

    /// As [`map_blocks`](Array::map_blocks), for a function that changes the
    /// dtype or the chunk shapes: the result has `shape`, `chunks` (one per
    /// input chunk, same grid) and `dtype`.
    pub fn map_blocks_to(
        &self,
        shape: Vec<usize>,
        chunks: impl Into<ChunkSpec>,
        dtype: DType,
        f: impl Fn(Delayed<Block>) -> Delayed<Block>,
    ) -> Result<Array> {
        let chunks = Chunks::from_spec(&shape, &chunks.into())?;
        if chunks.count() != self.blocks.len() {
            return Err(ArrayError::Invalid(format!(
                "map_blocks_to: {} output chunks for {} input chunks",
                chunks.count(),
                self.blocks.len()
            )));
        }
        let blocks = self.blocks.iter().map(|b| f(b.clone())).collect();
        Ok(Array::make(shape, chunks, dtype, blocks))
    }
}

macro_rules! binary_methods {
    ($($name:ident => $op:ident),* $(,)?) => {
        impl Array {
            $(
                #[doc = concat!("Element-wise `", stringify!($name), "` with broadcasting; `other` is an array or a scalar.")]
                pub fn $name<'a>(&self, other: impl Into<Operand<'a>>) -> Result<Array> {
                    self.binary(BinOp::$op, other)
                }
            )*
        }
    };
}

binary_methods!(
    add => Add, sub => Sub, mul => Mul, div => Div, rem => Rem, pow => Pow,
    maximum => Maximum, minimum => Minimum,
    eq => Eq, ne => Ne, lt => Lt, le => Le, gt => Gt, ge => Ge,
    and => And, or => Or, xor => Xor,
);

macro_rules! unary_methods {
    ($($name:ident => $op:ident),* $(,)?) => {
        impl Array {
            $(
                #[doc = concat!("Element-wise `", stringify!($name), "`.")]
                pub fn $name(&self) -> Array {
                    self.unary(UnOp::$op)
                }
            )*
        }
    };
}

unary_methods!(
    neg => Neg, abs => Abs, square => Square, sign => Sign, sqrt => Sqrt,
    exp => Exp, expm1 => Expm1, ln => Ln, ln_1p => Ln1p, log10 => Log10,
    sin => Sin, cos => Cos, tan => Tan, tanh => Tanh,
    floor => Floor, ceil => Ceil, round => Round, recip => Recip,
    is_nan => IsNan, is_finite => IsFinite, not => Not,
);

fn as_array(o: Operand<'_>) -> Result<Array> {
    match o {
        Operand::Array(a) => Ok(a.clone()),
        Operand::Scalar(s) => crate::create::full(&[], ChunkSpec::Explicit(Vec::new()), s),
    }
}

/// `where(cond, a, b)`: `a` where `cond` is true, else `b`, broadcasting
/// all three (`a` and `b` arrays or scalars; the result's dtype is `f64` if
/// either is, else `i64` if either is, else `bool`).
pub fn where_<'a, 'b>(
    cond: &Array,
    a: impl Into<Operand<'a>>,
    b: impl Into<Operand<'b>>,
) -> Result<Array> {
    if cond.dtype != DType::Bool {
        return Err(ArrayError::DType {
            op: "where",
            found: cond.dtype,
            why: "the condition must be bool (compare first, or cast)".into(),
        });
    }
    let (a, b) = (as_array(a.into())?, as_array(b.into())?);
    let out = if a.dtype == DType::F64 || b.dtype == DType::F64 {
        DType::F64
    } else if a.dtype == DType::I64 || b.dtype == DType::I64 {
        DType::I64
    } else {
        DType::Bool
    };
    let plan = unify("where", &[cond, &a, &b])?;
    let fused = grid_indices(&plan.chunks.grid())
        .iter()
        .map(|idx| {
            let parts = vec![plan.fused(0, idx), plan.fused(1, idx), plan.fused(2, idx)];
            Fused::join(parts, |mut e| {
                let y = e.pop().unwrap_or_else(|| unreachable!("three operands"));
                let x = e.pop().unwrap_or_else(|| unreachable!("three operands"));
                let c = e.pop().unwrap_or_else(|| unreachable!("three operands"));
                Expr::Select(c, x, y, out)
            })
        })
        .collect();
    Ok(Array::make_fused(plan.shape, plan.chunks, out, fused))
}
