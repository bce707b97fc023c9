//! Reductions (sum, prod, mean, var, std, min, max, argmin, argmax, any,
//! all) over all axes or chosen ones, as tree reductions.
//!
//! For every output chunk (a position of the grid over the kept axes) the
//! graph is: one `chunk` task per input chunk along the reduced axes (an
//! efficient per-chunk kernel giving a [`Partial`](crate::tasks::reduce::Partial)),
//! a tree of `combine` tasks with fan-in [`ReduceOptions::split_every`],
//! and one `finish` task that drops the reduced axes. Output chunks along
//! kept axes are the input's.

use crate::array::Array;
use crate::chunks::{grid_indices, norm_axis, Chunks};
use crate::error::{ArrayError, Result};
use crate::tasks::reduce::{self as k, ArgPlace, RedOp};
use crate::tree::tree;

/// Which axes a reduction folds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Axes {
    /// Every axis (the result is 0-d).
    All,
    /// These axes (negative counts from the end).
    Some(Vec<isize>),
}

impl From<isize> for Axes {
    fn from(a: isize) -> Self {
        Axes::Some(vec![a])
    }
}
impl From<i32> for Axes {
    fn from(a: i32) -> Self {
        Axes::Some(vec![a as isize])
    }
}
impl From<usize> for Axes {
    fn from(a: usize) -> Self {
        Axes::Some(vec![a as isize])
    }
}
impl From<Vec<isize>> for Axes {
    fn from(a: Vec<isize>) -> Self {
        Axes::Some(a)
    }
}
impl From<&[isize]> for Axes {
    fn from(a: &[isize]) -> Self {
        Axes::Some(a.to_vec())
    }
}
impl<const N: usize> From<[i32; N]> for Axes {
    fn from(a: [i32; N]) -> Self {
        Axes::Some(a.iter().map(|&x| x as isize).collect())
    }
}
impl From<Option<isize>> for Axes {
    fn from(a: Option<isize>) -> Self {
        a.map_or(Axes::All, |x| Axes::Some(vec![x]))
    }
}

/// How a reduction's tree is built.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReduceOptions {
    /// Fan-in of the combine tree (at least 2; default 8).
    pub split_every: usize,
    /// Delta degrees of freedom for `var`/`std` (default 0, as NumPy's).
    pub ddof: f64,
}

impl Default for ReduceOptions {
    fn default() -> Self {
        ReduceOptions {
            split_every: 8,
            ddof: 0.0,
        }
    }
}

impl Array {
    fn norm_axes(&self, op: &'static str, axes: Axes) -> Result<Vec<usize>> {
        let mut v = match axes {
            Axes::All => (0..self.ndim()).collect(),
            Axes::Some(list) => list
                .into_iter()
                .map(|a| norm_axis(op, a, self.ndim()))
                .collect::<Result<Vec<_>>>()?,
        };
        let n = v.len();
        v.sort_unstable();
        v.dedup();
        if v.len() != n {
            return Err(ArrayError::Invalid(format!("{op}: an axis is repeated")));
        }
        Ok(v)
    }

    /// The general reduction: `op` over `axes`, with `opts`.
    pub fn reduce(&self, op: RedOp, axes: impl Into<Axes>, opts: ReduceOptions) -> Result<Array> {
        let axes = self.norm_axes(op.name(), axes.into())?;
        if matches!(op, RedOp::ArgMin | RedOp::ArgMax)
            && axes.len() != 1
            && axes.len() != self.ndim()
        {
            return Err(ArrayError::Invalid(format!(
                "{}: one axis or all of them, not {axes:?}",
                op.name()
            )));
        }
        let out_dtype = op.out_dtype(self.dtype).map_err(|why| ArrayError::DType {
            op: op.name(),
            found: self.dtype,
            why,
        })?;
        if op.needs_elements() && axes.iter().any(|&a| self.shape[a] == 0) {
            return Err(ArrayError::Invalid(format!(
                "{}: a reduction over an axis of length 0 (shape {})",
                op.name(),
                crate::error::fmt_shape(&self.shape)
            )));
        }
        if axes.is_empty() && self.ndim() > 0 {
            return Err(ArrayError::Invalid(format!(
                "{}: no axes to reduce",
                op.name()
            )));
        }
        let kept: Vec<usize> = (0..self.ndim()).filter(|a| !axes.contains(a)).collect();
        let out_shape: Vec<usize> = kept.iter().map(|&a| self.shape[a]).collect();
        let out_chunks = Chunks::new(
            &out_shape,
            kept.iter().map(|&a| self.chunks.axis(a).to_vec()).collect(),
        )?;
        let arg_axis =
            (matches!(op, RedOp::ArgMin | RedOp::ArgMax) && axes.len() == 1 && self.ndim() > 1)
                .then(|| axes[0]);
        let is_arg = matches!(op, RedOp::ArgMin | RedOp::ArgMax);
        let grid = self.chunks.grid();
        let red_grid: Vec<usize> = axes.iter().map(|&a| grid[a]).collect();
        let red_positions = grid_indices(&red_grid);
        let mut blocks = Vec::with_capacity(out_chunks.count());
        for out_idx in grid_indices(&out_chunks.grid()) {
            let at = |r: &Vec<usize>| {
                let mut idx = vec![0; self.ndim()];
                for (i, &a) in kept.iter().enumerate() {
                    idx[a] = out_idx[i];
                }
                for (i, &a) in axes.iter().enumerate() {
                    idx[a] = r[i];
                }
                idx
            };
            if self.fused.is_some() && !is_arg {
                // Chunks that read the same blocks (`x + x.T`: (i, j) and
                // (j, i)) are reduced by one task (`fuse::grouped`).
                let fused = red_positions
                    .iter()
                    .map(|r| self.fused_at(&at(r)))
                    .collect();
                let parts = crate::fuse::reduce_grouped(fused, op, &axes);
                let p = tree(parts, opts.split_every, |g| k::combine::delayed(op, g))
                    .ok_or_else(|| ArrayError::Invalid("a reduction of no chunks".into()))?;
                blocks.push(k::finish::delayed(op, p, axes.clone(), opts.ddof));
                continue;
            }
            let mut parts = Vec::with_capacity(red_positions.len());
            for r in &red_positions {
                let mut idx = vec![0; self.ndim()];
                for (i, &a) in kept.iter().enumerate() {
                    idx[a] = out_idx[i];
                }
                for (i, &a) in axes.iter().enumerate() {
                    idx[a] = r[i];
                }
                let place = is_arg.then(|| ArgPlace {
                    axis: if self.ndim() == 1 { Some(0) } else { arg_axis },
                    start: self.chunks.chunk_start(&idx),
                    shape: self.shape.clone(),
                });
                parts.push(if self.fused.is_some() {
                    self.fused_at(&idx).reduce_task(op, axes.clone(), place)
                } else {
                    k::chunk::delayed(op, self.block_at(&idx), axes.clone(), place)
                });
            }
            let p = tree(parts, opts.split_every, |g| k::combine::delayed(op, g))
                .ok_or_else(|| ArrayError::Invalid("a reduction of no chunks".into()))?;
            blocks.push(k::finish::delayed(op, p, axes.clone(), opts.ddof));
        }
        Ok(Array::make(out_shape, out_chunks, out_dtype, blocks))
    }

    /// Sum over `axes` (`Axes::All` for every axis); `bool` sums to `i64`.
    pub fn sum(&self, axes: impl Into<Axes>) -> Result<Array> {
        self.reduce(RedOp::Sum, axes, ReduceOptions::default())
    }

    /// Product over `axes`.
    pub fn prod(&self, axes: impl Into<Axes>) -> Result<Array> {
        self.reduce(RedOp::Prod, axes, ReduceOptions::default())
    }

    /// Mean over `axes` (always `f64`).
    pub fn mean(&self, axes: impl Into<Axes>) -> Result<Array> {
        self.reduce(RedOp::Mean, axes, ReduceOptions::default())
    }

    /// Variance over `axes` with `ddof` delta degrees of freedom (Chan et
    /// al.'s stable combine across chunks).
    pub fn var(&self, axes: impl Into<Axes>, ddof: f64) -> Result<Array> {
        self.reduce(
            RedOp::Var,
            axes,
            ReduceOptions {
                ddof,
                ..Default::default()
            },
        )
    }

    /// Standard deviation over `axes` with `ddof`.
    pub fn std(&self, axes: impl Into<Axes>, ddof: f64) -> Result<Array> {
        self.reduce(
            RedOp::Std,
            axes,
            ReduceOptions {
                ddof,
                ..Default::default()
            },
        )
    }

    /// Minimum over `axes` (NaN propagates).
    pub fn min(&self, axes: impl Into<Axes>) -> Result<Array> {
        self.reduce(RedOp::Min, axes, ReduceOptions::default())
    }

    /// Maximum over `axes` (NaN propagates).
    pub fn max(&self, axes: impl Into<Axes>) -> Result<Array> {
        self.reduce(RedOp::Max, axes, ReduceOptions::default())
    }

    /// Whether any element over `axes` is non-zero.
    pub fn any(&self, axes: impl Into<Axes>) -> Result<Array> {
        self.reduce(RedOp::Any, axes, ReduceOptions::default())
    }

    /// Whether every element over `axes` is non-zero.
    pub fn all(&self, axes: impl Into<Axes>) -> Result<Array> {
        self.reduce(RedOp::All, axes, ReduceOptions::default())
    }

    /// Index of the first minimum along `axis`, or in the flattened array
    /// (C order) for `None`; an `i64` array.
    pub fn argmin(&self, axis: Option<isize>) -> Result<Array> {
        self.reduce(RedOp::ArgMin, Axes::from(axis), ReduceOptions::default())
    }

    /// Index of the first maximum along `axis`, or in the flattened array for `None`.
    pub fn argmax(&self, axis: Option<isize>) -> Result<Array> {
        self.reduce(RedOp::ArgMax, Axes::from(axis), ReduceOptions::default())
    }
}
