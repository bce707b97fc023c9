//! Chunk grids: how an array's shape is cut into chunks.
//!
//! Invariants of a [`Chunks`] (checked by [`Chunks::new`]):
//! 1. one list of chunk sizes per axis, as many lists as the shape has axes;
//! 2. each list sums to the axis's length;
//! 3. every size is positive, except that an axis of length 0 has the single
//!    chunk `[0]`.
//!
//! Chunks are numbered in C order over the grid (the last axis varies
//! fastest); that linear number is the chunk's index everywhere (random
//! seeds, the store's file names).

use crate::error::{ArrayError, Result};

/// How to cut a shape into chunks (what creation functions and `rechunk` take).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkSpec {
    /// The same chunk size on every axis (the last chunk of an axis may be smaller).
    Uniform(usize),
    /// One chunk size per axis.
    PerAxis(Vec<usize>),
    /// The chunk sizes of every axis, explicitly.
    Explicit(Vec<Vec<usize>>),
}

impl From<usize> for ChunkSpec {
    fn from(c: usize) -> Self {
        ChunkSpec::Uniform(c)
    }
}
impl From<Vec<usize>> for ChunkSpec {
    fn from(c: Vec<usize>) -> Self {
        ChunkSpec::PerAxis(c)
    }
}
impl From<&[usize]> for ChunkSpec {
    fn from(c: &[usize]) -> Self {
        ChunkSpec::PerAxis(c.to_vec())
    }
}
impl<const N: usize> From<[usize; N]> for ChunkSpec {
    fn from(c: [usize; N]) -> Self {
        ChunkSpec::PerAxis(c.to_vec())
    }
}
impl From<Vec<Vec<usize>>> for ChunkSpec {
    fn from(c: Vec<Vec<usize>>) -> Self {
        ChunkSpec::Explicit(c)
    }
}
impl From<&Chunks> for ChunkSpec {
    fn from(c: &Chunks) -> Self {
        ChunkSpec::Explicit(c.0.clone())
    }
}

/// Per-axis chunk sizes (Dask's `chunks`), valid for one shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunks(Vec<Vec<usize>>);

fn regular(len: usize, size: usize) -> Vec<usize> {
    if len == 0 {
        return vec![0];
    }
    let mut v = vec![size; len / size];
    if !len.is_multiple_of(size) {
        v.push(len % size);
    }
    v
}

impl Chunks {
    /// Checks `sizes` against `shape` (the module's invariants).
    pub fn new(shape: &[usize], sizes: Vec<Vec<usize>>) -> Result<Self> {
        let bad = |why: String| ArrayError::BadChunks {
            shape: shape.to_vec(),
            chunks: sizes.clone(),
            why,
        };
        if sizes.len() != shape.len() {
            return Err(bad(format!(
                "{} lists of chunk sizes for {} axes",
                sizes.len(),
                shape.len()
            )));
        }
        for (axis, (s, &len)) in sizes.iter().zip(shape).enumerate() {
            if len == 0 {
                if s.as_slice() != [0] {
                    return Err(bad(format!(
                        "axis {axis} has length 0: its chunks must be [0]"
                    )));
                }
                continue;
            }
            if s.contains(&0) {
                return Err(bad(format!("axis {axis} has a chunk of size 0")));
            }
            let total: usize = s.iter().sum();
            if total != len {
                return Err(bad(format!(
                    "axis {axis}'s chunks sum to {total}, not {len}"
                )));
            }
        }
        Ok(Chunks(sizes))
    }

    /// Normalizes a spec for `shape`.
    pub fn from_spec(shape: &[usize], spec: &ChunkSpec) -> Result<Self> {
        let bad = |why: &str| ArrayError::BadChunks {
            shape: shape.to_vec(),
            chunks: Vec::new(),
            why: why.to_owned(),
        };
        match spec {
            ChunkSpec::Uniform(c) => {
                if *c == 0 {
                    return Err(bad("a chunk size must be positive"));
                }
                Chunks::new(shape, shape.iter().map(|&n| regular(n, *c)).collect())
            }
            ChunkSpec::PerAxis(cs) => {
                if cs.len() != shape.len() {
                    return Err(bad(&format!(
                        "{} chunk sizes for {} axes",
                        cs.len(),
                        shape.len()
                    )));
                }
                if cs.contains(&0) {
                    return Err(bad("a chunk size must be positive"));
                }
                Chunks::new(
                    shape,
                    shape.iter().zip(cs).map(|(&n, &c)| regular(n, c)).collect(),
                )
            }
            ChunkSpec::Explicit(v) => Chunks::new(shape, v.clone()),
        }
    }

    /// A grid of a single chunk.
    pub fn single(shape: &[usize]) -> Self {
        Chunks(shape.iter().map(|&n| vec![n]).collect())
    }

    /// The sizes on each axis.
    pub fn sizes(&self) -> &[Vec<usize>] {
        &self.0
    }

    /// The sizes on one axis.
    pub fn axis(&self, axis: usize) -> &[usize] {
        &self.0[axis]
    }

    /// Number of axes.
    pub fn ndim(&self) -> usize {
        self.0.len()
    }

    /// Chunks per axis.
    pub fn grid(&self) -> Vec<usize> {
        self.0.iter().map(Vec::len).collect()
    }

    /// Total number of chunks.
    pub fn count(&self) -> usize {
        self.0.iter().map(Vec::len).product()
    }

    /// The start offsets of the chunks on one axis (one more than chunks: the end).
    pub fn offsets(&self, axis: usize) -> Vec<usize> {
        offsets(&self.0[axis])
    }

    /// The shape of the chunk at grid position `idx`.
    pub fn chunk_shape(&self, idx: &[usize]) -> Vec<usize> {
        idx.iter().enumerate().map(|(a, &i)| self.0[a][i]).collect()
    }

    /// The global start of the chunk at grid position `idx`.
    pub fn chunk_start(&self, idx: &[usize]) -> Vec<usize> {
        idx.iter()
            .enumerate()
            .map(|(a, &i)| self.0[a][..i].iter().sum())
            .collect()
    }

    pub(crate) fn into_inner(self) -> Vec<Vec<usize>> {
        self.0
    }
}

/// Cumulative starts of consecutive sizes, with the total at the end.
pub(crate) fn offsets(sizes: &[usize]) -> Vec<usize> {
    let mut v = Vec::with_capacity(sizes.len() + 1);
    let mut acc = 0;
    v.push(0);
    for s in sizes {
        acc += s;
        v.push(acc);
    }
    v
}

/// Every grid position of `grid` in C order.
pub(crate) fn grid_indices(grid: &[usize]) -> Vec<Vec<usize>> {
    let n: usize = grid.iter().product();
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let mut idx = vec![0; grid.len()];
    for _ in 0..n {
        out.push(idx.clone());
        for a in (0..grid.len()).rev() {
            idx[a] += 1;
            if idx[a] < grid[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    out
}

/// The C-order linear number of grid position `idx`.
pub(crate) fn linear(grid: &[usize], idx: &[usize]) -> usize {
    idx.iter().zip(grid).fold(0, |acc, (&i, &g)| acc * g + i)
}

/// Normalizes a possibly negative axis.
pub(crate) fn norm_axis(op: &'static str, axis: isize, ndim: usize) -> Result<usize> {
    let a = if axis < 0 { axis + ndim as isize } else { axis };
    if a < 0 || a >= ndim as isize {
        return Err(ArrayError::AxisOutOfRange { op, axis, ndim });
    }
    Ok(a as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_normalize_and_bad_ones_are_refused() {
        let c = Chunks::from_spec(&[10, 4], &ChunkSpec::Uniform(3)).unwrap();
        assert_eq!(c.sizes(), &[vec![3, 3, 3, 1], vec![3, 1]]);
        assert_eq!(c.count(), 8);
        assert_eq!(c.chunk_start(&[2, 1]), vec![6, 3]);
        assert!(Chunks::new(&[5], vec![vec![2, 2]]).is_err());
        assert!(Chunks::new(&[5], vec![vec![5, 0]]).is_err());
        let e = Chunks::from_spec(&[5, 5], &ChunkSpec::PerAxis(vec![2])).unwrap_err();
        assert!(e.to_string().contains("(5, 5)"), "{e}");
        assert_eq!(
            Chunks::from_spec(&[0], &ChunkSpec::Uniform(4))
                .unwrap()
                .sizes(),
            &[vec![0]]
        );
    }

    #[test]
    fn grid_positions_are_in_c_order() {
        let g = grid_indices(&[2, 3]);
        assert_eq!(g.len(), 6);
        assert_eq!(g[4], vec![1, 1]);
        assert_eq!(linear(&[2, 3], &[1, 1]), 4);
        assert_eq!(grid_indices(&[]), vec![Vec::<usize>::new()]);
    }
}
