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

use super::create::{fill, Dist};
use super::elementwise::{binary, binary_scalar, select, unary, BinOp, UnOp};
use super::reduce::{chunk, ArgPlace, Partial, RedOp};
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
#[rask_macros::task(crate = rask_client)]
pub(crate) fn eval(e: Expr, inputs: Vec<Block>) -> Result<Block, String> {
    eval_expr(e, &inputs)
}

/// The per-chunk step of a reduction over a fused chunk, in one task.
#[rask_macros::task(crate = rask_client)]
pub(crate) fn reduce(
    op: RedOp,
    e: Expr,
    inputs: Vec<Block>,
    axes: Vec<usize>,
    place: Option<ArgPlace>,
) -> Result<Partial, String> {
    let b = eval_expr(e, &inputs)?;
    drop(inputs);
    let p = chunk(op, b.clone(), axes, place);
    if let Block::F64(a) = b {
        super::scratch::give_array(a);
    }
    p
}
