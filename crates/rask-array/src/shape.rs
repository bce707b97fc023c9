//! Shape operations: transposes and axis swaps (chunk views, no copies),
//! `rechunk` to any chunking, `reshape` (rechunking first where the chunks
//! do not allow it directly), and concatenation and stacking (which only
//! join chunk grids: no data moves).
//!
//! Rechunking: output chunk `o` is assembled from the pieces of the input
//! chunks it overlaps (one `slice` task per partly used input chunk, one
//! `assemble` task per output chunk); an output chunk that is exactly an
//! input chunk reuses it with no task.

use rask_core::Delayed;

use crate::array::Array;
use crate::block::Block;
use crate::chunks::{grid_indices, norm_axis, offsets, ChunkSpec, Chunks};
use crate::error::{ArrayError, Result};
use crate::tasks::shape::{self as k, AxisPick};

/// One piece of an output chunk along one axis: input chunk `src`, local
/// range `start..start + len`.
#[derive(Clone, Copy, Debug)]
struct Piece {
    src: usize,
    start: usize,
    len: usize,
}

/// For each output chunk on one axis, the input pieces it is made of.
fn overlaps(input: &[usize], output: &[usize]) -> Vec<Vec<Piece>> {
    let io = offsets(input);
    let oo = offsets(output);
    let mut out = Vec::with_capacity(output.len());
    let mut src = 0;
    for o in 0..output.len() {
        let (lo, hi) = (oo[o], oo[o + 1]);
        let mut pieces = Vec::new();
        if hi == lo {
            pieces.push(Piece {
                src: 0,
                start: 0,
                len: 0,
            });
        }
        while src < input.len() && io[src + 1] <= lo && hi > lo {
            src += 1;
        }
        let mut s = src;
        while s < input.len() && io[s] < hi {
            let a = lo.max(io[s]);
            let b = hi.min(io[s + 1]);
            if b > a {
                pieces.push(Piece {
                    src: s,
                    start: a - io[s],
                    len: b - a,
                });
            }
            s += 1;
        }
        out.push(pieces);
    }
    out
}

impl Array {
    /// The array with its axes permuted: axis `i` of the result is axis
    /// `axes[i]` of `self` (`None`: reversed, as `.T`). Chunks are views of
    /// the same buffers.
    pub fn transpose(&self, axes: Option<&[usize]>) -> Result<Array> {
        let nd = self.ndim();
        let perm: Vec<usize> = match axes {
            None => (0..nd).rev().collect(),
            Some(p) => p.to_vec(),
        };
        let mut seen = vec![false; nd];
        if perm.len() != nd
            || perm
                .iter()
                .any(|&p| p >= nd || std::mem::replace(&mut seen[p], true))
        {
            return Err(ArrayError::Invalid(format!(
                "transpose: {perm:?} is not a permutation of the {nd} axes of {}",
                crate::error::fmt_shape(&self.shape)
            )));
        }
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(self.clone());
        }
        let shape: Vec<usize> = perm.iter().map(|&p| self.shape[p]).collect();
        let chunks = Chunks::new(
            &shape,
            perm.iter().map(|&p| self.chunks.axis(p).to_vec()).collect(),
        )?;
        let fused = grid_indices(&chunks.grid())
            .iter()
            .map(|o| {
                let mut src = vec![0; nd];
                for (i, &p) in perm.iter().enumerate() {
                    src[p] = o[i];
                }
                self.fused_at(&src)
                    .map(|a| crate::tasks::fused::Expr::Permute(a, perm.clone()))
            })
            .collect();
        Ok(Array::make_fused(shape, chunks, self.dtype, fused))
    }

    /// `.T`: the axes reversed.
    #[allow(non_snake_case)]
    pub fn T(&self) -> Array {
        // A reversal is always a valid permutation.
        self.transpose(None).unwrap_or_else(|_| self.clone())
    }

    /// The array with axes `a` and `b` swapped.
    pub fn swapaxes(&self, a: isize, b: isize) -> Result<Array> {
        let a = norm_axis("swapaxes", a, self.ndim())?;
        let b = norm_axis("swapaxes", b, self.ndim())?;
        let mut perm: Vec<usize> = (0..self.ndim()).collect();
        perm.swap(a, b);
        self.transpose(Some(&perm))
    }

    /// The same values cut into new chunks.
    pub fn rechunk(&self, spec: impl Into<ChunkSpec>) -> Result<Array> {
        let new = Chunks::from_spec(&self.shape, &spec.into())?;
        if new == self.chunks {
            return Ok(self.clone());
        }
        let per_axis: Vec<Vec<Vec<Piece>>> = (0..self.ndim())
            .map(|a| overlaps(self.chunks.axis(a), new.axis(a)))
            .collect();
        let blocks = grid_indices(&new.grid())
            .iter()
            .map(|o| {
                let lists: Vec<&Vec<Piece>> =
                    (0..self.ndim()).map(|a| &per_axis[a][o[a]]).collect();
                let sub_grid: Vec<usize> = lists.iter().map(|l| l.len()).collect();
                let pieces: Vec<Delayed<Block>> = grid_indices(&sub_grid)
                    .iter()
                    .map(|p| {
                        let ps: Vec<Piece> = (0..self.ndim()).map(|a| lists[a][p[a]]).collect();
                        let src: Vec<usize> = ps.iter().map(|x| x.src).collect();
                        let whole = ps
                            .iter()
                            .enumerate()
                            .all(|(a, x)| x.start == 0 && x.len == self.chunks.axis(a)[x.src]);
                        let b = self.block_at(&src);
                        if whole {
                            b.clone()
                        } else {
                            let picks: Vec<AxisPick> = ps
                                .iter()
                                .map(|x| AxisPick {
                                    start: x.start,
                                    len: x.len,
                                    step: 1,
                                    drop: false,
                                })
                                .collect();
                            k::slice::delayed(b, picks)
                        }
                    })
                    .collect();
                if pieces.len() == 1 {
                    pieces
                        .into_iter()
                        .next()
                        .unwrap_or_else(|| unreachable!("one piece"))
                } else {
                    k::assemble::delayed(pieces, sub_grid)
                }
            })
            .collect();
        Ok(Array::make(self.shape.clone(), new, self.dtype, blocks))
    }

    /// The same values in a new shape (C order; one entry may be `-1`).
    /// Reshaping merges or splits leading axes; when the chunks do not line
    /// up with the new shape, the array is first rechunked so that they do
    /// (the trailing axes that keep their lengths keep their chunks).
    pub fn reshape(&self, shape: &[isize]) -> Result<Array> {
        let total = self.len();
        let unknown = shape.iter().filter(|&&s| s == -1).count();
        let bad = |why: &str| ArrayError::Reshape {
            from: self.shape.clone(),
            to: shape.iter().map(|&s| s.max(0) as usize).collect(),
            why: why.to_owned(),
        };
        if unknown > 1 || shape.iter().any(|&s| s < -1) {
            return Err(bad("at most one -1 and no other negative length"));
        }
        let known: usize = shape
            .iter()
            .filter(|&&s| s >= 0)
            .map(|&s| s as usize)
            .product();
        let new: Vec<usize> = shape
            .iter()
            .map(|&s| {
                if s == -1 {
                    total.checked_div(known).unwrap_or(0)
                } else {
                    s as usize
                }
            })
            .collect();
        if new.iter().product::<usize>() != total {
            return Err(ArrayError::Reshape {
                from: self.shape.clone(),
                to: new,
                why: "the sizes differ".into(),
            });
        }
        if new == self.shape {
            return Ok(self.clone());
        }
        if self.chunks.count() == 1 || total == 0 {
            let one = if self.chunks.count() == 1 {
                self.clone()
            } else {
                self.rechunk(ChunkSpec::Explicit(
                    Chunks::single(&self.shape).into_inner(),
                ))?
            };
            let block = k::reshape::delayed(&one.blocks[0], new.clone());
            return Ok(Array::make(
                new.clone(),
                Chunks::single(&new),
                self.dtype,
                vec![block],
            ));
        }
        // The common trailing axes keep their chunks; the leading ones are reshaped.
        let (p0, q0) = (self.ndim(), new.len());
        let mut tail = 0;
        while tail < p0.min(q0) && self.shape[p0 - 1 - tail] == new[q0 - 1 - tail] {
            tail += 1;
        }
        while tail > 0 && (p0 - tail == 0 || q0 - tail == 0) {
            tail -= 1;
        }
        let (p, q) = (p0 - tail, q0 - tail);
        if p == 0 || q == 0 {
            return Err(bad("internal: no leading axes"));
        }
        let inner_in: usize = self.shape[1..p].iter().product();
        let inner_out: usize = new[1..q].iter().product();
        if inner_in == 0 || inner_out == 0 {
            return Err(bad("zero-length axes"));
        }
        let g = gcd(inner_in, inner_out);
        let m = inner_out / g;
        // Input: leading axes after the first in one chunk; first-axis
        // boundaries at multiples of `m` rows.
        let mut want: Vec<Vec<usize>> = self.chunks.sizes().to_vec();
        for (a, w) in want.iter_mut().enumerate().take(p).skip(1) {
            *w = vec![self.shape[a]];
        }
        let mut first = Vec::new();
        let mut acc = 0;
        let mut last_cut = 0;
        for &c in self.chunks.axis(0) {
            acc += c;
            if acc % m == 0 {
                first.push(acc - last_cut);
                last_cut = acc;
            }
        }
        if last_cut != self.shape[0] {
            return Err(bad("internal: rows do not divide"));
        }
        want[0] = first;
        let src = self.rechunk(ChunkSpec::Explicit(want))?;
        let mut out_sizes: Vec<Vec<usize>> = Vec::with_capacity(q0);
        out_sizes.push(
            src.chunks
                .axis(0)
                .iter()
                .map(|&r| r * inner_in / inner_out)
                .collect(),
        );
        for &n in &new[1..q] {
            out_sizes.push(vec![n]);
        }
        for a in p..p0 {
            out_sizes.push(src.chunks.axis(a).to_vec());
        }
        let out_chunks = Chunks::new(&new, out_sizes)?;
        // Grids line up: input grid (r, 0, .., 0, tail...) -> output (r, 0, .., 0, tail...).
        let blocks = grid_indices(&out_chunks.grid())
            .iter()
            .map(|o| {
                let mut idx = vec![0; p0];
                idx[0] = o[0];
                idx[p..p0].copy_from_slice(&o[q..q0]);
                k::reshape::delayed(src.block_at(&idx), out_chunks.chunk_shape(o))
            })
            .collect();
        Ok(Array::make(new, out_chunks, self.dtype, blocks))
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Joins arrays along an existing `axis`. Their other axes must have the
/// same lengths (the error names both shapes) and their dtypes must agree;
/// the others are rechunked to the first one's chunks on those axes.
pub fn concatenate(arrays: &[&Array], axis: isize) -> Result<Array> {
    let first = arrays
        .first()
        .ok_or_else(|| ArrayError::Invalid("concatenate of no arrays".into()))?;
    let nd = first.ndim();
    let ax = norm_axis("concatenate", axis, nd)?;
    let mut parts = Vec::with_capacity(arrays.len());
    for a in arrays {
        if a.ndim() != nd || (0..nd).any(|d| d != ax && a.shape()[d] != first.shape()[d]) {
            return Err(ArrayError::ShapeMismatch {
                op: "concatenate",
                left: first.shape().to_vec(),
                right: a.shape().to_vec(),
                why: format!("all axes but {ax} must match"),
            });
        }
        if a.dtype() != first.dtype() {
            return Err(ArrayError::DType {
                op: "concatenate",
                found: a.dtype(),
                why: format!("the first array is {}; cast first", first.dtype()),
            });
        }
        let want: Vec<Vec<usize>> = (0..nd)
            .map(|d| {
                if d == ax {
                    a.chunks().axis(d).to_vec()
                } else {
                    first.chunks().axis(d).to_vec()
                }
            })
            .collect();
        parts.push(if want.as_slice() == a.chunks().sizes() {
            (*a).clone()
        } else {
            a.rechunk(ChunkSpec::Explicit(want))?
        });
    }
    let mut sizes: Vec<Vec<usize>> = first.chunks().sizes().to_vec();
    sizes[ax] = parts
        .iter()
        .flat_map(|p| p.chunks().axis(ax).iter().copied().filter(|&c| c > 0))
        .collect();
    let mut shape = first.shape().to_vec();
    shape[ax] = parts.iter().map(|p| p.shape()[ax]).sum();
    if shape[ax] == 0 {
        sizes[ax] = vec![0];
    }
    let chunks = Chunks::new(&shape, sizes)?;
    // Which part and which of its chunks each output chunk along `ax` is.
    let mut owner: Vec<(usize, usize)> = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        for (j, &c) in p.chunks().axis(ax).iter().enumerate() {
            if c > 0 || shape[ax] == 0 {
                owner.push((i, j));
            }
        }
    }
    owner.truncate(chunks.axis(ax).len());
    let blocks = grid_indices(&chunks.grid())
        .iter()
        .map(|o| {
            let (i, j) = owner[o[ax]];
            let mut idx = o.clone();
            idx[ax] = j;
            parts[i].block_at(&idx).clone()
        })
        .collect();
    Ok(Array::make(shape, chunks, first.dtype(), blocks))
}

/// Stacks arrays of one shape along a new `axis` (`0..=ndim`).
pub fn stack(arrays: &[&Array], axis: isize) -> Result<Array> {
    let first = arrays
        .first()
        .ok_or_else(|| ArrayError::Invalid("stack of no arrays".into()))?;
    let ax = norm_axis("stack", axis, first.ndim() + 1)?;
    let mut expanded = Vec::with_capacity(arrays.len());
    for a in arrays {
        if a.shape() != first.shape() {
            return Err(ArrayError::ShapeMismatch {
                op: "stack",
                left: first.shape().to_vec(),
                right: a.shape().to_vec(),
                why: "stacked arrays must have one shape".into(),
            });
        }
        let mut shape = a.shape().to_vec();
        shape.insert(ax, 1);
        let mut sizes = a.chunks().sizes().to_vec();
        sizes.insert(ax, vec![1]);
        let chunks = Chunks::new(&shape, sizes)?;
        let blocks = a
            .blocks()
            .iter()
            .map(|b| k::expand::delayed(b, ax))
            .collect();
        expanded.push(Array::make(shape, chunks, a.dtype(), blocks));
    }
    let refs: Vec<&Array> = expanded.iter().collect();
    concatenate(&refs, ax as isize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaps_cover_each_output_chunk() {
        let o = overlaps(&[3, 3, 4], &[5, 5]);
        assert_eq!(o[0].len(), 2);
        assert_eq!((o[0][1].src, o[0][1].start, o[0][1].len), (1, 0, 2));
        assert_eq!((o[1][0].src, o[1][0].start, o[1][0].len), (1, 2, 1));
        assert_eq!((o[1][1].src, o[1][1].len), (2, 4));
    }
}
