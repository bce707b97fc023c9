//! Fused chunk expressions: a chain of element-wise operations, axis
//! permutations and generators evaluated in one task, as Dask's blockwise
//! fusion. A generator leaf (random numbers, a constant) is evaluated where
//! it is used, so a chunk that two consumers read (`x` in `x + x.T`) is
//! drawn twice rather than kept in memory between them: cheap arithmetic
//! instead of memory, which is the scarce resource here.
//!
//! Evaluating an expression calls the same kernels as the unfused tasks,
//! so both give identical values. The reduction kernel evaluates the
//! expression and reduces it in the same task; the intermediate chunk never
//! leaves it.

use serde::{Deserialize, Serialize};

use ndarray::{Axis, Slice};

use super::create::{fill, Dist, UniformStream};
use super::elementwise::broadcast_shape;
use super::elementwise::{binary, binary_scalar, select, unary, BinOp, UnOp};
use super::reduce::{chunk, combine2, ArgPlace, Partial, RedOp};
use super::shape::permute;
use super::{block, cast_block};
use crate::block::{Block, DType, Scalar};

/// One chunk's value as an expression over input blocks and generators.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Expr {
    /// Input block `k` of the task.
    Input(u32),
    /// A seeded random chunk (see `create::random`).
    Random {
        seed: u64,
        index: u64,
        shape: Vec<usize>,
        dist: Dist,
    },
    /// A chunk of one value.
    Full { shape: Vec<usize>, value: Scalar },
    /// `a op b`, broadcasting.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `a op s` or `s op a`.
    Scalar {
        op: BinOp,
        a: Box<Expr>,
        s: Scalar,
        scalar_first: bool,
    },
    /// `op(a)`.
    Unary(UnOp, Box<Expr>),
    /// `a` cast.
    Cast(Box<Expr>, DType),
    /// `where(c, a, b)`, results in `DType`.
    Select(Box<Expr>, Box<Expr>, Box<Expr>, DType),
    /// `a` with its axes permuted.
    Permute(Box<Expr>, Vec<usize>),
}

impl Expr {
    /// Number of nodes (the fusion limit counts these).
    pub(crate) fn size(&self) -> usize {
        match self {
            Expr::Input(_) | Expr::Random { .. } | Expr::Full { .. } => 1,
            Expr::Binary(_, a, b) => 1 + a.size() + b.size(),
            Expr::Scalar { a, .. } | Expr::Unary(_, a) | Expr::Cast(a, _) | Expr::Permute(a, _) => {
                1 + a.size()
            }
            Expr::Select(c, a, b, _) => 1 + c.size() + a.size() + b.size(),
        }
    }

    /// Swaps inputs 0 and 1 (an expression over two blocks, taken in the
    /// other order).
    pub(crate) fn swap_inputs(&mut self) {
        match self {
            Expr::Input(k) if *k < 2 => *k = 1 - *k,
            Expr::Input(_) | Expr::Random { .. } | Expr::Full { .. } => {}
            Expr::Binary(_, a, b) => {
                a.swap_inputs();
                b.swap_inputs();
            }
            Expr::Scalar { a, .. } | Expr::Unary(_, a) | Expr::Cast(a, _) | Expr::Permute(a, _) => {
                a.swap_inputs()
            }
            Expr::Select(c, a, b, _) => {
                c.swap_inputs();
                a.swap_inputs();
                b.swap_inputs();
            }
        }
    }

    /// Adds `by` to every input number (when two expressions are joined).
    pub(crate) fn shift_inputs(&mut self, by: u32) {
        match self {
            Expr::Input(k) => *k += by,
            Expr::Random { .. } | Expr::Full { .. } => {}
            Expr::Binary(_, a, b) => {
                a.shift_inputs(by);
                b.shift_inputs(by);
            }
            Expr::Scalar { a, .. } | Expr::Unary(_, a) | Expr::Cast(a, _) | Expr::Permute(a, _) => {
                a.shift_inputs(by)
            }
            Expr::Select(c, a, b, _) => {
                c.shift_inputs(by);
                a.shift_inputs(by);
                b.shift_inputs(by);
            }
        }
    }
}

/// Evaluates `e` over `inputs`.
pub(crate) fn eval_expr(e: Expr, inputs: &[Block]) -> Result<Block, String> {
    match e {
        Expr::Input(k) => inputs
            .get(k as usize)
            .cloned()
            .ok_or_else(|| format!("input {k} of {}", inputs.len())),
        Expr::Random {
            seed,
            index,
            shape,
            dist,
        } => {
            let n = shape.iter().product();
            ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), fill(seed, index, n, dist))
                .map(block)
                .map_err(|e| e.to_string())
        }
        Expr::Full { shape, value } => Ok(super::create::full(shape, value)),
        Expr::Binary(op, a, b) => binary(op, eval_expr(*a, inputs)?, eval_expr(*b, inputs)?),
        Expr::Scalar {
            op,
            a,
            s,
            scalar_first,
        } => binary_scalar(op, eval_expr(*a, inputs)?, s, scalar_first),
        Expr::Unary(op, a) => Ok(unary(op, eval_expr(*a, inputs)?)),
        Expr::Cast(a, to) => Ok(cast_block(eval_expr(*a, inputs)?, to)),
        Expr::Select(c, a, b, out) => select(
            eval_expr(*c, inputs)?,
            eval_expr(*a, inputs)?,
            eval_expr(*b, inputs)?,
            out,
        ),
        Expr::Permute(a, perm) => permute(eval_expr(*a, inputs)?, perm),
    }
}

/// One chunk of a fused array.
#[rask_macros::task(crate = rask_core)]
pub(crate) fn eval(e: Expr, inputs: Vec<Block>) -> Result<Block, String> {
    eval_expr(e, &inputs)
}

/// [`eval`] of an expression over one input block, taken as an argument of
/// its own. A `Vec<Block>` argument of delayed blocks is a gather task on
/// worker processes (the blocks copied into one value, kept, maybe spilled
/// and read back before this task decodes it); a task of fixed arity reads
/// each block where it is.
#[rask_macros::task(crate = rask_core)]
pub(crate) fn eval1(e: Expr, a: Block) -> Result<Block, String> {
    eval_expr(e, &[a])
}

/// [`eval`] over two input blocks (see [`eval1`]).
#[rask_macros::task(crate = rask_core)]
pub(crate) fn eval2(e: Expr, a: Block, b: Block) -> Result<Block, String> {
    eval_expr(e, &[a, b])
}

/// [`reduce`] over one input block (see [`eval1`]).
#[rask_macros::task(crate = rask_core)]
pub(crate) fn reduce1(
    op: RedOp,
    e: Expr,
    a: Block,
    axes: Vec<usize>,
    place: Option<ArgPlace>,
) -> Result<Partial, String> {
    reduce(op, e, vec![a], axes, place)
}

/// [`reduce`] over two input blocks (`x + x.T`; see [`eval1`]).
#[rask_macros::task(crate = rask_core)]
pub(crate) fn reduce2(
    op: RedOp,
    e: Expr,
    a: Block,
    b: Block,
    axes: Vec<usize>,
    place: Option<ArgPlace>,
) -> Result<Partial, String> {
    reduce(op, e, vec![a, b], axes, place)
}

/// [`reduce`] of several expressions over the same two blocks, combined:
/// the chunks (i, j) and (j, i) of `x + x.T` read the same two blocks, so
/// one task reads them once (see `fuse::reduce_grouped`). Not for arg
/// reductions (their partials name positions).
#[rask_macros::task(crate = rask_core)]
pub(crate) fn reduce2_many(
    op: RedOp,
    exprs: Vec<Expr>,
    a: Block,
    b: Block,
    axes: Vec<usize>,
) -> Result<Partial, String> {
    let mut acc: Option<Partial> = None;
    for e in exprs {
        let p = reduce(op, e, vec![a.clone(), b.clone()], axes.clone(), None)?;
        acc = Some(match acc {
            None => p,
            Some(q) => combine2(op, q, p)?,
        });
    }
    acc.ok_or_else(|| "a reduction of no expressions".to_owned())
}

/// The per-chunk step of a reduction over a fused chunk, in one task.
#[rask_macros::task(crate = rask_core)]
pub(crate) fn reduce(
    op: RedOp,
    e: Expr,
    inputs: Vec<Block>,
    axes: Vec<usize>,
    place: Option<ArgPlace>,
) -> Result<Partial, String> {
    if place.is_none() && axes.first() == Some(&0) && e.size() > 1 {
        if let Some(shape) = expr_shape(&e, &inputs) {
            let inner: usize = shape[1..].iter().product();
            // Bands of a multiple of 8 rows keep uniform streams aligned (see `UniformStream`).
            let rows = (BAND_VALUES / inner.max(1)) / 8 * 8;
            if rows >= 8 && shape[0] >= 2 * rows {
                return reduce_banded(op, e, &inputs, &axes, &shape, rows);
            }
        }
    }
    let b = eval_expr(e, &inputs)?;
    drop(inputs);
    let p = chunk(op, b.clone(), axes, place);
    if let Block::F64(a) = b {
        super::scratch::give_array(a);
    }
    p
}

/// Values per band of a banded reduction (512 KiB of `f64`s: a band and
/// its temporaries stay in L2).
const BAND_VALUES: usize = 64 * 1024;

/// The shape `e` evaluates to, if it can be told without evaluating it.
fn expr_shape(e: &Expr, inputs: &[Block]) -> Option<Vec<usize>> {
    match e {
        Expr::Input(k) => inputs.get(*k as usize).map(|b| b.shape().to_vec()),
        Expr::Random { shape, .. } | Expr::Full { shape, .. } => Some(shape.clone()),
        Expr::Binary(_, a, b) => broadcast_shape(&expr_shape(a, inputs)?, &expr_shape(b, inputs)?),
        Expr::Scalar { a, .. } | Expr::Unary(_, a) | Expr::Cast(a, _) => expr_shape(a, inputs),
        Expr::Select(c, a, b, _) => {
            let s = broadcast_shape(&expr_shape(c, inputs)?, &expr_shape(a, inputs)?)?;
            broadcast_shape(&s, &expr_shape(b, inputs)?)
        }
        Expr::Permute(a, perm) => {
            let s = expr_shape(a, inputs)?;
            perm.iter().map(|&p| s.get(p).copied()).collect()
        }
    }
}

/// An expression prepared for evaluation band by band along axis 0.
enum Banded {
    /// A materialized block (an input, or a sub-expression that cannot be
    /// banded, such as a transpose): sliced per band where it spans axis 0.
    Block(Block),
    /// A uniform chunk of the full shape, drawn band by band.
    Stream(UniformStream),
    /// A constant chunk.
    Full(Vec<usize>, Scalar),
    Binary(BinOp, Box<Banded>, Box<Banded>),
    Scalar(BinOp, Box<Banded>, Scalar, bool),
    Unary(UnOp, Box<Banded>),
    Cast(Box<Banded>, DType),
    Select(Box<Banded>, Box<Banded>, Box<Banded>, DType),
}

fn prepare(e: Expr, inputs: &[Block], shape: &[usize]) -> Result<Banded, String> {
    let sub = |e: Box<Expr>| prepare(*e, inputs, shape).map(Box::new);
    Ok(match e {
        Expr::Random {
            seed,
            index,
            shape: s,
            dist,
        } if s == shape => match UniformStream::new(seed, index, dist) {
            Some(st) => Banded::Stream(st),
            None => Banded::Block(eval_expr(
                Expr::Random {
                    seed,
                    index,
                    shape: s,
                    dist,
                },
                inputs,
            )?),
        },
        Expr::Full { shape: s, value } => Banded::Full(s, value),
        Expr::Input(k) => Banded::Block(eval_expr(Expr::Input(k), inputs)?),
        Expr::Binary(op, a, b) => Banded::Binary(op, sub(a)?, sub(b)?),
        Expr::Scalar {
            op,
            a,
            s,
            scalar_first,
        } => Banded::Scalar(op, sub(a)?, s, scalar_first),
        Expr::Unary(op, a) => Banded::Unary(op, sub(a)?),
        Expr::Cast(a, to) => Banded::Cast(sub(a)?, to),
        Expr::Select(c, a, b, out) => Banded::Select(sub(c)?, sub(a)?, sub(b)?, out),
        other => Banded::Block(eval_expr(other, inputs)?),
    })
}

/// Rows `r0..r1` (of a full shape with `nd` axes and `len` rows) of a
/// block that broadcasts to it: sliced if it spans axis 0, else as it is.
fn rows_of(b: &Block, nd: usize, len: usize, r0: usize, r1: usize) -> Block {
    if b.shape().len() != nd || b.shape().first() != Some(&len) || len == 1 {
        return b.clone();
    }
    macro_rules! cut {
        ($a:expr) => {{
            let mut a = $a.clone();
            a.slice_axis_inplace(Axis(0), Slice::from(r0..r1));
            a
        }};
    }
    match b {
        Block::F64(a) => Block::F64(cut!(a)),
        Block::I64(a) => Block::I64(cut!(a)),
        Block::Bool(a) => Block::Bool(cut!(a)),
    }
}

fn eval_band(b: &mut Banded, shape: &[usize], r0: usize, r1: usize) -> Result<Block, String> {
    let nd = shape.len();
    Ok(match b {
        Banded::Block(x) => rows_of(x, nd, shape[0], r0, r1),
        Banded::Stream(st) => {
            let mut s = shape.to_vec();
            s[0] = r1 - r0;
            let n = s.iter().product();
            block(
                ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&s), st.next(n))
                    .map_err(|e| e.to_string())?,
            )
        }
        Banded::Full(s, v) => {
            let mut s = s.clone();
            if s.len() == nd && s[0] == shape[0] && shape[0] > 1 {
                s[0] = r1 - r0;
            }
            super::create::full(s, *v)
        }
        Banded::Binary(op, a, c) => binary(
            *op,
            eval_band(a, shape, r0, r1)?,
            eval_band(c, shape, r0, r1)?,
        )?,
        Banded::Scalar(op, a, s, first) => {
            binary_scalar(*op, eval_band(a, shape, r0, r1)?, *s, *first)?
        }
        Banded::Unary(op, a) => unary(*op, eval_band(a, shape, r0, r1)?),
        Banded::Cast(a, to) => cast_block(eval_band(a, shape, r0, r1)?, *to),
        Banded::Select(c, a, x, out) => select(
            eval_band(c, shape, r0, r1)?,
            eval_band(a, shape, r0, r1)?,
            eval_band(x, shape, r0, r1)?,
            *out,
        )?,
    })
}

/// A reduction over axes that include 0, evaluated `rows` rows at a time:
/// each band is made, reduced while it is in cache, and merged into the
/// running partial (reductions over axis 0 combine like chunks do). The
/// chunk itself is never materialized, only operands that cannot be
/// banded (a transposed chunk, an input).
fn reduce_banded(
    op: RedOp,
    e: Expr,
    inputs: &[Block],
    axes: &[usize],
    shape: &[usize],
    rows: usize,
) -> Result<Partial, String> {
    let mut b = prepare(e, inputs, shape)?;
    let mut acc: Option<Partial> = None;
    let mut r0 = 0;
    while r0 < shape[0] {
        let r1 = (r0 + rows).min(shape[0]);
        let band = eval_band(&mut b, shape, r0, r1)?;
        let p = chunk(op, band.clone(), axes.to_vec(), None)?;
        if let Block::F64(a) = band {
            super::scratch::give_array(a);
        }
        acc = Some(match acc {
            None => p,
            Some(a) => combine2(op, a, p)?,
        });
        r0 = r1;
    }
    recycle(b);
    acc.ok_or_else(|| "a banded reduction of no rows".to_owned())
}

/// Gives the buffers of materialized operands back to the scratch cache.
fn recycle(b: Banded) {
    match b {
        Banded::Block(Block::F64(a)) => super::scratch::give_array(a),
        Banded::Block(_) | Banded::Stream(_) | Banded::Full(..) => {}
        Banded::Binary(_, a, c) => {
            recycle(*a);
            recycle(*c);
        }
        Banded::Scalar(_, a, ..) | Banded::Unary(_, a) | Banded::Cast(a, _) => recycle(*a),
        Banded::Select(c, a, x, _) => {
            recycle(*c);
            recycle(*a);
            recycle(*x);
        }
    }
}
