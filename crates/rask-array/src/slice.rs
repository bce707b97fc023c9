//! Basic slicing, as NumPy's: per axis a range with a step (negative steps
//! walk backwards, negative bounds count from the end, bounds are clipped),
//! an integer (negative from the end, out of range is an error; the axis
//! goes), or everything. Output chunks follow the input's: each input chunk
//! that holds selected elements gives one output chunk (in the walk's
//! order), made by one `slice` task that takes a view of it, or by no task
//! when all of it is kept.

use crate::array::Array;
use crate::chunks::{grid_indices, offsets, Chunks};
use crate::error::{ArrayError, Result};
use crate::tasks::shape::{self as k, AxisPick};

/// What to take along one axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sel {
    /// The whole axis (`:`).
    All,
    /// One index (negative counts from the end); the axis is removed.
    Index(isize),
    /// `start:stop:step` (`None` bounds are the ends, as in Python).
    Range {
        /// First index (inclusive).
        start: Option<isize>,
        /// Last index (exclusive).
        stop: Option<isize>,
        /// The step (not 0).
        step: isize,
    },
}

impl Sel {
    /// `start..stop` with step 1.
    pub fn range(start: isize, stop: isize) -> Sel {
        Sel::Range {
            start: Some(start),
            stop: Some(stop),
            step: 1,
        }
    }

    /// `::step` (the whole axis with a step; negative reverses).
    pub fn step(step: isize) -> Sel {
        Sel::Range {
            start: None,
            stop: None,
            step,
        }
    }
}

/// The selected elements of one axis: `count` from `start` in steps of `step`.
fn resolve(sel: Sel, axis: usize, n: usize) -> Result<(isize, usize, isize, bool)> {
    let n_i = n as isize;
    match sel {
        Sel::All => Ok((0, n, 1, false)),
        Sel::Index(i) => {
            let j = if i < 0 { i + n_i } else { i };
            if j < 0 || j >= n_i {
                return Err(ArrayError::IndexOutOfRange {
                    index: i,
                    axis,
                    len: n,
                });
            }
            Ok((j, 1, 1, true))
        }
        Sel::Range { start, stop, step } => {
            if step == 0 {
                return Err(ArrayError::Invalid(format!(
                    "axis {axis}: a slice step of 0"
                )));
            }
            let fix = |v: isize| if v < 0 { v + n_i } else { v };
            if step > 0 {
                let s = start.map_or(0, fix).clamp(0, n_i);
                let e = stop.map_or(n_i, fix).clamp(0, n_i);
                let count = if e > s { (e - s + step - 1) / step } else { 0 };
                Ok((s, count as usize, step, false))
            } else {
                let s = start.map_or(n_i - 1, fix).clamp(-1, n_i - 1);
                let e = stop.map_or(-1, |v| fix(v).clamp(-1, n_i - 1));
                let m = -step;
                let count = if s > e { (s - e + m - 1) / m } else { 0 };
                Ok((s, count as usize, step, false))
            }
        }
    }
}

/// For one axis: the (input chunk, local pick) of each output chunk, in order.
fn axis_picks(
    chunks: &[usize],
    start: isize,
    count: usize,
    step: isize,
    drop: bool,
) -> Vec<(usize, AxisPick)> {
    let offs = offsets(chunks);
    let mut out = Vec::new();
    if count == 0 {
        out.push((
            0,
            AxisPick {
                start: 0,
                len: 0,
                step: 1,
                drop: false,
            },
        ));
        return out;
    }
    let order: Vec<usize> = if step > 0 {
        (0..chunks.len()).collect()
    } else {
        (0..chunks.len()).rev().collect()
    };
    let c = count as isize;
    for ci in order {
        let (lo, hi) = (offs[ci] as isize, offs[ci + 1] as isize);
        let (k0, k1) = if step > 0 {
            let k0 = if lo > start {
                (lo - start + step - 1) / step
            } else {
                0
            };
            let k1 = if hi > start {
                ((hi - start + step - 1) / step).min(c)
            } else {
                0
            };
            (k0, k1)
        } else {
            let m = -step;
            // start - k m < hi  <=>  k > (start - hi) / m
            let k0 = if start >= hi { (start - hi) / m + 1 } else { 0 };
            // start - k m >= lo  <=>  k <= (start - lo) / m
            let k1 = if start >= lo {
                ((start - lo) / m + 1).min(c)
            } else {
                0
            };
            (k0, k1)
        };
        if k1 > k0 {
            let first = start + k0 * step;
            out.push((
                ci,
                AxisPick {
                    start: (first - lo) as usize,
                    len: (k1 - k0) as usize,
                    step,
                    drop,
                },
            ));
        }
    }
    out
}

impl Array {
    /// A basic slice: one [`Sel`] per leading axis (missing ones are
    /// [`Sel::All`]).
    pub fn slice(&self, sels: &[Sel]) -> Result<Array> {
        if sels.len() > self.ndim() {
            return Err(ArrayError::Invalid(format!(
                "{} selections for an array of shape {}",
                sels.len(),
                crate::error::fmt_shape(&self.shape)
            )));
        }
        let mut per_axis = Vec::with_capacity(self.ndim());
        for ax in 0..self.ndim() {
            let sel = sels.get(ax).copied().unwrap_or(Sel::All);
            let (start, count, step, drop) = resolve(sel, ax, self.shape[ax])?;
            per_axis.push((
                axis_picks(self.chunks.axis(ax), start, count, step, drop),
                count,
                drop,
            ));
        }
        if sels.iter().all(|s| *s == Sel::All) {
            return Ok(self.clone());
        }
        let kept: Vec<usize> = (0..self.ndim()).filter(|&a| !per_axis[a].2).collect();
        let shape: Vec<usize> = kept.iter().map(|&a| per_axis[a].1).collect();
        let sizes: Vec<Vec<usize>> = kept
            .iter()
            .map(|&a| per_axis[a].0.iter().map(|(_, p)| p.len).collect())
            .collect();
        let chunks = Chunks::new(&shape, sizes)?;
        let grid: Vec<usize> = per_axis.iter().map(|(p, _, _)| p.len()).collect();
        let blocks = grid_indices(&grid)
            .iter()
            .map(|o| {
                let src: Vec<usize> = (0..self.ndim()).map(|a| per_axis[a].0[o[a]].0).collect();
                let picks: Vec<AxisPick> =
                    (0..self.ndim()).map(|a| per_axis[a].0[o[a]].1).collect();
                let whole = picks.iter().enumerate().all(|(a, p)| {
                    p.start == 0 && p.step == 1 && !p.drop && p.len == self.chunks.axis(a)[src[a]]
                });
                let b = self.block_at(&src);
                if whole {
                    b.clone()
                } else {
                    k::slice::delayed(b, picks)
                }
            })
            .collect();
        Ok(Array::make(shape, chunks, self.dtype, blocks))
    }

    /// `self[i]`: the sub-array at index `i` of the first axis.
    pub fn get(&self, i: isize) -> Result<Array> {
        self.slice(&[Sel::Index(i)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indices(chunks: &[usize], sel: Sel) -> Vec<usize> {
        let n = chunks.iter().sum();
        let (s, c, st, d) = resolve(sel, 0, n).unwrap();
        let offs = offsets(chunks);
        axis_picks(chunks, s, c, st, d)
            .iter()
            .flat_map(|(ci, p)| {
                let o = offs[*ci] as isize;
                (0..p.len).map(move |k| (o + p.start as isize + k as isize * p.step) as usize)
            })
            .collect()
    }

    #[test]
    fn picks_match_python_slices() {
        let ch = [3, 3, 4];
        assert_eq!(indices(&ch, Sel::step(2)), vec![0, 2, 4, 6, 8]);
        assert_eq!(indices(&ch, Sel::step(-3)), vec![9, 6, 3, 0]);
        assert_eq!(
            indices(
                &ch,
                Sel::Range {
                    start: Some(-2),
                    stop: None,
                    step: 1
                }
            ),
            vec![8, 9]
        );
        assert_eq!(
            indices(
                &ch,
                Sel::Range {
                    start: Some(7),
                    stop: Some(1),
                    step: -2
                }
            ),
            vec![7, 5, 3]
        );
        assert_eq!(indices(&ch, Sel::Index(-1)), vec![9]);
        assert!(resolve(Sel::Index(10), 0, 10).is_err());
        assert!(indices(&ch, Sel::range(5, 2)).is_empty());
    }
}
