//! Graph-side blockwise fusion.
//!
//! An array made by a fusable operation (generators, element-wise
//! operations, casts, `where`, transposes) keeps, beside its tasks, one
//! [`Fused`] per chunk: the expression that computes the chunk from some
//! input blocks. A fusable consumer builds on its operands' expressions
//! instead of their tasks, so a chain such as `(x + x.T).mean(0)` becomes
//! one task per chunk (generate, transpose, add, reduce) and no
//! intermediate chunk is ever stored between tasks.
//!
//! Invariants:
//! 1. `fused[i]` computes exactly the value of `blocks[i]` (the task is
//!    `eval(expr, inputs)` itself).
//! 2. An expression stays under [`MAX_NODES`] nodes: past that, a consumer
//!    takes the operand's task as an input instead (so repeated reuse cannot
//!    grow expressions exponentially).
//! 3. Inputs are materialized blocks (tasks of non-fusable operations).

use rask_core::Delayed;

use crate::block::Block;
use crate::tasks::fused::{self as k, Expr};

/// Largest expression fused into one task.
pub(crate) const MAX_NODES: usize = 24;

/// A chunk as an expression over input blocks.
#[derive(Clone, Debug)]
pub(crate) struct Fused {
    pub(crate) expr: Expr,
    pub(crate) inputs: Vec<Delayed<Block>>,
}

impl Fused {
    /// A materialized block as an expression.
    pub(crate) fn input(b: &Delayed<Block>) -> Fused {
        Fused {
            expr: Expr::Input(0),
            inputs: vec![b.clone()],
        }
    }

    /// A generator with no inputs.
    pub(crate) fn leaf(expr: Expr) -> Fused {
        Fused {
            expr,
            inputs: Vec::new(),
        }
    }

    /// The task that evaluates this expression.
    pub(crate) fn task(&self) -> Delayed<Block> {
        if let (Expr::Input(0), [b]) = (&self.expr, self.inputs.as_slice()) {
            return b.clone();
        }
        match self.inputs.as_slice() {
            [a] => k::eval1::delayed(self.expr.clone(), a.clone()),
            [a, b] => k::eval2::delayed(self.expr.clone(), a.clone(), b.clone()),
            _ => k::eval::delayed(self.expr.clone(), self.inputs.clone()),
        }
    }

    /// The reduction step `op` over this chunk, in one task (one or two
    /// inputs are arguments of their own: see `tasks::fused::eval1`).
    pub(crate) fn reduce_task(
        self,
        op: crate::tasks::reduce::RedOp,
        axes: Vec<usize>,
        place: Option<crate::tasks::reduce::ArgPlace>,
    ) -> Delayed<crate::tasks::reduce::Partial> {
        let Fused { expr, mut inputs } = self;
        match inputs.len() {
            1 => {
                let a = inputs.swap_remove(0);
                k::reduce1::delayed(op, expr, a, axes, place)
            }
            2 => {
                let b = inputs.swap_remove(1);
                let a = inputs.swap_remove(0);
                k::reduce2::delayed(op, expr, a, b, axes, place)
            }
            _ => k::reduce::delayed(op, expr, inputs, axes, place),
        }
    }

    /// `f(a)` for a unary node.
    pub(crate) fn map(self, f: impl FnOnce(Box<Expr>) -> Expr) -> Fused {
        Fused {
            expr: f(Box::new(self.expr)),
            inputs: self.inputs,
        }
    }

    /// Joins expressions under one node made by `f` (inputs renumbered).
    pub(crate) fn join(parts: Vec<Fused>, f: impl FnOnce(Vec<Box<Expr>>) -> Expr) -> Fused {
        let mut inputs = Vec::new();
        let mut exprs = Vec::with_capacity(parts.len());
        for mut p in parts {
            p.expr.shift_inputs(inputs.len() as u32);
            inputs.extend(p.inputs);
            exprs.push(Box::new(p.expr));
        }
        Fused {
            expr: f(exprs),
            inputs,
        }
    }
}

/// The per-chunk tasks of one output chunk of a reduction (`op` over
/// `axes`, not an arg-reduction: their partials may be combined in any
/// order), one per chunk, except that chunks over the same two input
/// blocks (`x + x.T`: chunks (i, j) and (j, i) both read blocks (i, j) and
/// (j, i)) share one task, which reads the blocks once, where they are,
/// and combines its partials. In order of each group's first chunk.
pub(crate) fn reduce_grouped(
    fused: Vec<Fused>,
    op: crate::tasks::reduce::RedOp,
    axes: &[usize],
) -> Vec<Delayed<crate::tasks::reduce::Partial>> {
    use std::collections::HashMap;
    let mut groups: Vec<Vec<Fused>> = Vec::new();
    // Groups by their first chunk's two blocks, in that order.
    let mut by_inputs: HashMap<(rask_core::Key, rask_core::Key), usize> = HashMap::new();
    for f in fused {
        let pair = match f.inputs.as_slice() {
            [a, b] if a.key() != b.key() => Some((a.key().clone(), b.key().clone())),
            _ => None,
        };
        let found = pair.as_ref().and_then(|(a, b)| {
            by_inputs
                .get(&(a.clone(), b.clone()))
                .or_else(|| by_inputs.get(&(b.clone(), a.clone())))
        });
        match found {
            Some(&g) => groups[g].push(f),
            None => {
                if let Some(pair) = pair {
                    by_inputs.insert(pair, groups.len());
                }
                groups.push(vec![f]);
            }
        }
    }
    groups
        .into_iter()
        .map(|mut g| {
            if g.len() == 1 {
                return g.remove(0).reduce_task(op, axes.to_vec(), None);
            }
            let first = g.remove(0);
            let [a, b] = [first.inputs[0].clone(), first.inputs[1].clone()];
            let mut exprs = vec![first.expr];
            for f in g {
                let mut e = f.expr;
                // Same two blocks, maybe the other way round.
                if f.inputs[0].key() != a.key() {
                    e.swap_inputs();
                }
                exprs.push(e);
            }
            k::reduce2_many::delayed(op, exprs, a, b, axes.to_vec())
        })
        .collect()
}

/// Operand `i`'s chunk as an expression: its own if it has one small
/// enough, else its task as an input.
pub(crate) fn operand(fused: Option<&Fused>, block: &Delayed<Block>) -> Fused {
    match fused {
        Some(f) if f.expr.size() < MAX_NODES => f.clone(),
        _ => Fused::input(block),
    }
}
