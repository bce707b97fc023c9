//! Block products for `matmul`: one chunk of `a` times one chunk of `b`,
//! and the sum of several such products.

use ndarray::{ArrayD, Ix1, Ix2, IxDyn};

use super::{as_f64, as_i64, block};
use crate::block::{Block, DType};

fn dot_t<T>(
    a: ndarray::ArrayViewD<'_, T>,
    b: ndarray::ArrayViewD<'_, T>,
) -> Result<ArrayD<T>, String>
where
    T: ndarray::LinalgScalar,
{
    let err = |e: ndarray::ShapeError| e.to_string();
    Ok(match (a.ndim(), b.ndim()) {
        (2, 2) => {
            let (a, b) = (
                a.into_dimensionality::<Ix2>().map_err(err)?,
                b.into_dimensionality::<Ix2>().map_err(err)?,
            );
            if a.ncols() != b.nrows() {
                return Err(format!("blocks {:?} and {:?}", a.shape(), b.shape()));
            }
            a.dot(&b).into_dyn()
        }
        (2, 1) => {
            let (a, b) = (
                a.into_dimensionality::<Ix2>().map_err(err)?,
                b.into_dimensionality::<Ix1>().map_err(err)?,
            );
            if a.ncols() != b.len() {
                return Err(format!("blocks {:?} and {:?}", a.shape(), b.shape()));
            }
            a.dot(&b).into_dyn()
        }
        (1, 2) => {
            let (a, b) = (
                a.into_dimensionality::<Ix1>().map_err(err)?,
                b.into_dimensionality::<Ix2>().map_err(err)?,
            );
            if a.len() != b.nrows() {
                return Err(format!("blocks {:?} and {:?}", a.shape(), b.shape()));
            }
            a.dot(&b).into_dyn()
        }
        (1, 1) => {
            let (a, b) = (
                a.into_dimensionality::<Ix1>().map_err(err)?,
                b.into_dimensionality::<Ix1>().map_err(err)?,
            );
            if a.len() != b.len() {
                return Err(format!("blocks {:?} and {:?}", a.shape(), b.shape()));
            }
            ArrayD::from_elem(IxDyn(&[]), a.dot(&b))
        }
        (x, y) => return Err(format!("a product of {x}-d and {y}-d blocks")),
    })
}

/// The product of two chunks (2-d x 2-d, 2-d x 1-d, 1-d x 2-d, 1-d x 1-d),
/// computed in `work` (`f64` or `i64`).
#[rask_macros::task(crate = rask_core)]
pub(crate) fn matmul(a: Block, b: Block, work: DType) -> Result<Block, String> {
    match work {
        DType::F64 => Ok(block(dot_t(as_f64(a).view(), as_f64(b).view())?)),
        DType::I64 => Ok(block(dot_t(as_i64(a).view(), as_i64(b).view())?)),
        DType::Bool => Err("matmul of bool blocks".into()),
    }
}

/// The element-wise sum of blocks of one shape and dtype (the tree sum of
/// block products); the first block's buffer is reused when it is not shared.
#[rask_macros::task(crate = rask_core)]
pub(crate) fn sum_blocks(parts: Vec<Block>) -> Result<Block, String> {
    let mut it = parts.into_iter();
    let first = it.next().ok_or("a sum of no blocks")?;
    match first {
        Block::F64(mut acc) => {
            for p in it {
                let Block::F64(x) = p else {
                    return Err("blocks of mixed dtypes".into());
                };
                if acc.shape() != x.shape() {
                    return Err(format!("blocks {:?} and {:?}", acc.shape(), x.shape()));
                }
                acc.zip_mut_with(&x, |s, &v| *s += v);
            }
            Ok(Block::F64(acc))
        }
        Block::I64(mut acc) => {
            for p in it {
                let Block::I64(x) = p else {
                    return Err("blocks of mixed dtypes".into());
                };
                if acc.shape() != x.shape() {
                    return Err(format!("blocks {:?} and {:?}", acc.shape(), x.shape()));
                }
                acc.zip_mut_with(&x, |s, &v| *s = s.wrapping_add(v));
            }
            Ok(Block::I64(acc))
        }
        Block::Bool(_) => Err("a sum of bool blocks".into()),
    }
}
