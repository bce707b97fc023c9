//! Kernels that move elements around: axis permutations (views, no copy),
//! slices, reshapes, and assembling a chunk from pieces (rechunk,
//! concatenation).

use ndarray::{ArcArray, ArrayD, Axis, IxDyn, Slice};
use serde::{Deserialize, Serialize};

use crate::block::Block;

macro_rules! each {
    ($b:expr, $a:ident => $e:expr) => {
        match $b {
            Block::F64($a) => Block::F64($e),
            Block::I64($a) => Block::I64($e),
            Block::Bool($a) => Block::Bool($e),
        }
    };
}

/// Permutes a chunk's axes: `out.axis(i) = a.axis(perm[i])`. A view of the
/// same buffer.
#[rask_macros::task(crate = rask_core)]
pub(crate) fn permute(a: Block, perm: Vec<usize>) -> Result<Block, String> {
    let nd = a.shape().len();
    let mut seen = vec![false; nd];
    if perm.len() != nd
        || perm
            .iter()
            .any(|&p| p >= nd || std::mem::replace(&mut seen[p], true))
    {
        return Err(format!("{perm:?} is not a permutation of {nd} axes"));
    }
    Ok(each!(a, x => x.permuted_axes(IxDyn(&perm))))
}

/// What one axis of a slice keeps: `len` elements from `start` in steps of
/// `step` (negative: backwards); `drop` removes the axis (an integer index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AxisPick {
    /// First element kept (chunk-local).
    pub start: usize,
    /// How many are kept.
    pub len: usize,
    /// The step between kept elements.
    pub step: isize,
    /// Whether the axis goes (a single integer index).
    pub drop: bool,
}

fn pick<T: Clone>(
    mut a: ArcArray<T, IxDyn>,
    picks: &[AxisPick],
) -> Result<ArcArray<T, IxDyn>, String> {
    if picks.len() != a.ndim() {
        return Err(format!(
            "{} picks for a chunk of {} axes",
            picks.len(),
            a.ndim()
        ));
    }
    for (ax, p) in picks.iter().enumerate() {
        let n = a.shape()[ax];
        let mag = p.step.unsigned_abs().max(1);
        let span = if p.len == 0 { 0 } else { (p.len - 1) * mag };
        let (lo, hi) = if p.step >= 0 {
            (p.start, p.start + span + usize::from(p.len > 0))
        } else {
            (
                p.start.saturating_sub(span),
                p.start + usize::from(p.len > 0),
            )
        };
        if hi > n || (p.step < 0 && span > p.start) {
            return Err(format!("axis {ax}: {p:?} is past a length of {n}"));
        }
        if p.len == 0 {
            a.slice_axis_inplace(Axis(ax), Slice::new(0, Some(0), 1));
            continue;
        }
        a.slice_axis_inplace(
            Axis(ax),
            Slice::new(lo as isize, Some(hi as isize), mag as isize),
        );
        if p.step < 0 {
            a.invert_axis(Axis(ax));
        }
    }
    for ax in (0..picks.len()).rev() {
        if picks[ax].drop {
            a = a.index_axis_move(Axis(ax), 0);
        }
    }
    Ok(a)
}

/// A slice of one chunk (a view of the same buffer).
#[rask_macros::task(crate = rask_core)]
pub(crate) fn slice(a: Block, picks: Vec<AxisPick>) -> Result<Block, String> {
    Ok(match a {
        Block::F64(x) => Block::F64(pick(x, &picks)?),
        Block::I64(x) => Block::I64(pick(x, &picks)?),
        Block::Bool(x) => Block::Bool(pick(x, &picks)?),
    })
}

fn reshape_one<T: Clone>(
    a: ArcArray<T, IxDyn>,
    shape: &[usize],
) -> Result<ArcArray<T, IxDyn>, String> {
    let std = if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned().into_shared()
    };
    std.into_shape_with_order(IxDyn(shape))
        .map_err(|e| e.to_string())
}

/// Reshapes one chunk (C order).
#[rask_macros::task(crate = rask_core)]
pub(crate) fn reshape(a: Block, shape: Vec<usize>) -> Result<Block, String> {
    Ok(match a {
        Block::F64(x) => Block::F64(reshape_one(x, &shape)?),
        Block::I64(x) => Block::I64(reshape_one(x, &shape)?),
        Block::Bool(x) => Block::Bool(reshape_one(x, &shape)?),
    })
}

/// Adds an axis of length 1 at `axis` (for `stack`).
#[rask_macros::task(crate = rask_core)]
pub(crate) fn expand(a: Block, axis: usize) -> Result<Block, String> {
    if axis > a.shape().len() {
        return Err(format!(
            "axis {axis} for a chunk of {} axes",
            a.shape().len()
        ));
    }
    Ok(each!(a, x => x.insert_axis(Axis(axis))))
}

fn assemble_t<T: Clone + Default>(
    pieces: Vec<ArcArray<T, IxDyn>>,
    grid: &[usize],
) -> Result<ArcArray<T, IxDyn>, String> {
    let nd = grid.len();
    if pieces.len() != grid.iter().product::<usize>() || pieces.is_empty() {
        return Err(format!("{} pieces for a grid of {grid:?}", pieces.len()));
    }
    if pieces.len() == 1 {
        return pieces
            .into_iter()
            .next()
            .ok_or_else(|| "no piece".to_owned());
    }
    // Sizes along each axis from the pieces on that axis's edge of the grid.
    let idx = crate::chunks::grid_indices(grid);
    let mut sizes: Vec<Vec<usize>> = grid.iter().map(|&g| vec![0; g]).collect();
    for (p, ix) in pieces.iter().zip(&idx) {
        if p.ndim() != nd {
            return Err(format!("a piece of {} axes in a grid of {nd}", p.ndim()));
        }
        for ax in 0..nd {
            sizes[ax][ix[ax]] = p.shape()[ax];
        }
    }
    let offs: Vec<Vec<usize>> = sizes.iter().map(|s| crate::chunks::offsets(s)).collect();
    let shape: Vec<usize> = offs.iter().map(|o| o[o.len() - 1]).collect();
    let mut out = ArrayD::<T>::default(IxDyn(&shape));
    for (p, ix) in pieces.iter().zip(&idx) {
        let mut view = out.view_mut();
        for ax in 0..nd {
            let lo = offs[ax][ix[ax]];
            if p.shape()[ax] != sizes[ax][ix[ax]] {
                return Err(format!(
                    "piece {ix:?} of shape {:?} does not fit the grid",
                    p.shape()
                ));
            }
            view.slice_axis_inplace(Axis(ax), Slice::from(lo..lo + p.shape()[ax]));
        }
        view.assign(p);
    }
    Ok(out.into_shared())
}

/// One chunk from a grid of pieces (C order over `grid`); pieces in a row
/// of the grid must agree on their sizes across it.
#[rask_macros::task(crate = rask_core)]
pub(crate) fn assemble(pieces: Vec<Block>, grid: Vec<usize>) -> Result<Block, String> {
    let Some(first) = pieces.first() else {
        return Err("no pieces".into());
    };
    let dt = first.dtype();
    macro_rules! go {
        ($v:ident, $t:ty) => {{
            let mut xs = Vec::with_capacity(pieces.len());
            for p in pieces {
                match p {
                    Block::$v(x) => xs.push(x),
                    other => return Err(format!("pieces of {} and {}", dt, other.dtype())),
                }
            }
            Block::$v(assemble_t::<$t>(xs, &grid)?)
        }};
    }
    Ok(match dt {
        crate::block::DType::F64 => go!(F64, f64),
        crate::block::DType::I64 => go!(I64, i64),
        crate::block::DType::Bool => go!(Bool, bool),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_steps_and_drops() {
        let a = ArrayD::from_shape_fn(IxDyn(&[5, 4]), |ix| (ix[0] * 10 + ix[1]) as f64);
        let picks = vec![
            AxisPick {
                start: 4,
                len: 3,
                step: -2,
                drop: false,
            },
            AxisPick {
                start: 1,
                len: 1,
                step: 1,
                drop: true,
            },
        ];
        let r = slice(Block::from(a), picks)
            .unwrap()
            .into_ndarray::<f64>()
            .unwrap();
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), vec![41.0, 21.0, 1.0]);
    }
}
