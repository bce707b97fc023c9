//! Matrix products of chunked arrays: `C[i, j] = sum_l A[i, l] B[l, j]`,
//! one `matmul` task per block product and a tree of `sum_blocks` tasks
//! (fan-in [`MATMUL_FAN_IN`]) per output block. The contracted axis of `b`
//! is rechunked to `a`'s chunks when they differ.

use crate::array::Array;
use crate::block::DType;
use crate::chunks::{ChunkSpec, Chunks};
use crate::error::{ArrayError, Result};
use crate::tasks::linalg as k;
use crate::tree::tree;

/// Fan-in of the tree that sums block products.
pub const MATMUL_FAN_IN: usize = 8;

impl Array {
    /// The matrix product (NumPy's `matmul` for 1-d and 2-d operands:
    /// matrix x matrix, matrix x vector, vector x matrix, vector . vector).
    pub fn matmul(&self, other: &Array) -> Result<Array> {
        let (a, b) = (self, other);
        let mismatch = |why: &str| ArrayError::ShapeMismatch {
            op: "matmul",
            left: a.shape().to_vec(),
            right: b.shape().to_vec(),
            why: why.to_owned(),
        };
        if !(1..=2).contains(&a.ndim()) || !(1..=2).contains(&b.ndim()) {
            return Err(mismatch("1-d and 2-d operands only"));
        }
        for d in [a.dtype(), b.dtype()] {
            if d == DType::Bool {
                return Err(ArrayError::DType {
                    op: "matmul",
                    found: d,
                    why: "cast first".into(),
                });
            }
        }
        let work = if a.dtype() == DType::F64 || b.dtype() == DType::F64 {
            DType::F64
        } else {
            DType::I64
        };
        let ka = a.ndim() - 1;
        if a.shape()[ka] != b.shape()[0] {
            return Err(mismatch(&format!(
                "the contracted lengths {} and {} differ",
                a.shape()[ka],
                b.shape()[0]
            )));
        }
        let b = if b.chunks().axis(0) == a.chunks().axis(ka) {
            b.clone()
        } else {
            let mut want = b.chunks().sizes().to_vec();
            want[0] = a.chunks().axis(ka).to_vec();
            b.rechunk(ChunkSpec::Explicit(want))?
        };
        let rows: Option<&[usize]> = (a.ndim() == 2).then(|| a.chunks().axis(0));
        let cols: Option<&[usize]> = (b.ndim() == 2).then(|| b.chunks().axis(1));
        let mut shape = Vec::new();
        let mut sizes = Vec::new();
        if let Some(r) = rows {
            shape.push(a.shape()[0]);
            sizes.push(r.to_vec());
        }
        if let Some(c) = cols {
            shape.push(b.shape()[1]);
            sizes.push(c.to_vec());
        }
        let chunks = Chunks::new(&shape, sizes)?;
        let nl = a.chunks().axis(ka).len();
        let (ni, nj) = (
            rows.map_or(1, <[usize]>::len),
            cols.map_or(1, <[usize]>::len),
        );
        let mut blocks = Vec::with_capacity(ni * nj);
        for i in 0..ni {
            for j in 0..nj {
                let parts = (0..nl)
                    .map(|l| {
                        let ai: Vec<usize> = if a.ndim() == 2 { vec![i, l] } else { vec![l] };
                        let bi: Vec<usize> = if b.ndim() == 2 { vec![l, j] } else { vec![l] };
                        k::matmul::delayed(a.block_at(&ai), b.block_at(&bi), work)
                    })
                    .collect();
                let sum = tree(parts, MATMUL_FAN_IN, k::sum_blocks::delayed)
                    .ok_or_else(|| mismatch("a contracted axis with no chunks"))?;
                blocks.push(sum);
            }
        }
        Ok(Array::make(shape, chunks, work, blocks))
    }

    /// `dot`: the same as [`matmul`](Array::matmul) for 1-d and 2-d arrays.
    pub fn dot(&self, other: &Array) -> Result<Array> {
        self.matmul(other)
    }
}
