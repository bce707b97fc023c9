//! Per-group kernels over dense group ids (`gids[row] < n`): one pass over
//! the values, accumulators indexed by group, no hashing.

use std::sync::Arc;

use arrow::array::{
    make_comparator, Array, ArrayRef, AsArray, Decimal128Array, Float64Array, Int64Array,
    PrimitiveArray, UInt32Array,
};
use arrow::buffer::NullBuffer;
use arrow::compute::SortOptions;
use arrow::compute::{cast, take};
use arrow::datatypes::{ArrowPrimitiveType, DataType, Decimal128Type, Float64Type, Int64Type};

use crate::error::{FrameError, Result};

/// The column widened to `Int64` (integers), `Float64` (floats) or
/// `Decimal128(38, scale)` (decimals).
pub(crate) fn widen(a: &ArrayRef) -> Result<ArrayRef> {
    let t = crate::expr::logical(a.data_type());
    let to = if t.is_integer() || t == DataType::Boolean || t == DataType::Null {
        DataType::Int64
    } else if t.is_floating() {
        DataType::Float64
    } else if crate::expr::typing::is_decimal(&t) {
        DataType::Decimal128(38, super::keys::decimal_scale(&t))
    } else {
        return Ok(a.clone());
    };
    if *a.data_type() == to {
        Ok(a.clone())
    } else {
        Ok(cast(a, &to)?)
    }
}

fn valid_mask(a: &dyn Array) -> Option<&NullBuffer> {
    a.nulls().filter(|b| b.null_count() > 0)
}

/// Sums per group (0 where a group has no value), `Int64` or `Float64`.
pub(crate) fn sum(gids: &[u32], a: &ArrayRef, n: usize) -> Result<ArrayRef> {
    let a = widen(a)?;
    match a.data_type() {
        DataType::Int64 => Ok(Arc::new(Int64Array::from(sum_prim::<Int64Type>(
            gids,
            a.as_primitive(),
            n,
        )))),
        DataType::Float64 => Ok(Arc::new(Float64Array::from(sum_prim::<Float64Type>(
            gids,
            a.as_primitive(),
            n,
        )))),
        DataType::Decimal128(p, s) => Ok(Arc::new(
            Decimal128Array::from(sum_prim::<Decimal128Type>(gids, a.as_primitive(), n))
                .with_precision_and_scale(*p, *s)?,
        )),
        t => Err(FrameError::Invalid(format!("cannot sum {t}"))),
    }
}

/// Sums as `f64` per group.
pub(crate) fn sum_f64(gids: &[u32], a: &ArrayRef, n: usize) -> Result<Vec<f64>> {
    let a = widen(a)?;
    let a = cast(&a, &DataType::Float64)?;
    Ok(sum_prim::<Float64Type>(gids, a.as_primitive(), n))
}

fn sum_prim<T: ArrowPrimitiveType>(gids: &[u32], a: &PrimitiveArray<T>, n: usize) -> Vec<T::Native>
where
    T::Native: std::ops::Add<Output = T::Native> + Copy,
{
    use arrow::datatypes::ArrowNativeTypeOp;
    let mut out = vec![T::Native::ZERO; n];
    let vals = a.values();
    match valid_mask(a) {
        None => {
            for (&g, &v) in gids.iter().zip(vals.iter()) {
                let s = &mut out[g as usize];
                *s = s.add_wrapping(v);
            }
        }
        Some(b) => {
            for (i, (&g, &v)) in gids.iter().zip(vals.iter()).enumerate() {
                if b.is_valid(i) {
                    let s = &mut out[g as usize];
                    *s = s.add_wrapping(v);
                }
            }
        }
    }
    out
}

/// Rows per group.
pub(crate) fn count_rows(gids: &[u32], n: usize) -> Vec<i64> {
    let mut out = vec![0i64; n];
    for &g in gids {
        out[g as usize] += 1;
    }
    out
}

/// Non-null values per group.
pub(crate) fn count(gids: &[u32], a: &dyn Array, n: usize) -> Vec<i64> {
    let mut out = vec![0i64; n];
    match valid_mask(a) {
        None => {
            for &g in gids {
                out[g as usize] += 1;
            }
        }
        Some(b) => {
            for (i, &g) in gids.iter().enumerate() {
                out[g as usize] += i64::from(b.is_valid(i));
            }
        }
    }
    out
}

/// Minimum (`max == false`) or maximum per group; null where a group has no
/// value. Numbers are widened; other types keep theirs (strings compare
/// bytewise).
pub(crate) fn min_max(gids: &[u32], a: &ArrayRef, n: usize, max: bool) -> Result<ArrayRef> {
    let a = if crate::expr::logical(a.data_type()) == DataType::Boolean {
        cast(a, &DataType::Boolean)?
    } else {
        widen(a)?
    };
    match a.data_type() {
        DataType::Int64 => Ok(Arc::new(mm_prim::<Int64Type>(
            gids,
            a.as_primitive(),
            n,
            max,
        ))),
        DataType::Float64 => Ok(Arc::new(mm_prim::<Float64Type>(
            gids,
            a.as_primitive(),
            n,
            max,
        ))),
        DataType::Dictionary(_, _) => {
            let v = cast(&a, &crate::expr::logical(a.data_type()))?;
            min_max(gids, &v, n, max)
        }
        _ => {
            // Any other ordered type: the best row per group by Arrow's
            // comparator, then those rows taken (the type is kept).
            let cmp = make_comparator(a.as_ref(), a.as_ref(), SortOptions::default())?;
            let mut best = vec![u32::MAX; n];
            for (i, &g) in gids.iter().enumerate() {
                if a.is_null(i) {
                    continue;
                }
                let b = &mut best[g as usize];
                if *b == u32::MAX {
                    *b = i as u32;
                } else {
                    let o = cmp(i, *b as usize);
                    if (max && o.is_gt()) || (!max && o.is_lt()) {
                        *b = i as u32;
                    }
                }
            }
            take_rows(&a, &best)
        }
    }
}

fn mm_prim<T: ArrowPrimitiveType>(
    gids: &[u32],
    a: &PrimitiveArray<T>,
    n: usize,
    max: bool,
) -> PrimitiveArray<T>
where
    T::Native: PartialOrd + Copy,
{
    let mut out = vec![T::Native::default(); n];
    let mut seen = vec![false; n];
    let vals = a.values();
    let b = valid_mask(a);
    for (i, (&g, &v)) in gids.iter().zip(vals.iter()).enumerate() {
        if b.is_some_and(|b| b.is_null(i)) {
            continue;
        }
        let g = g as usize;
        if !seen[g] {
            seen[g] = true;
            out[g] = v;
        } else if (max && v > out[g]) || (!max && v < out[g]) {
            out[g] = v;
        }
    }
    PrimitiveArray::<T>::new(out.into(), Some(NullBuffer::from(seen)))
}

/// The first (or last) non-null value per group; null where none.
pub(crate) fn first_last(gids: &[u32], a: &ArrayRef, n: usize, last: bool) -> Result<ArrayRef> {
    let mut rows = vec![u32::MAX; n];
    let b = valid_mask(a.as_ref());
    for (i, &g) in gids.iter().enumerate() {
        if b.is_some_and(|b| b.is_null(i)) {
            continue;
        }
        let r = &mut rows[g as usize];
        if last || *r == u32::MAX {
            *r = i as u32;
        }
    }
    take_rows(a, &rows)
}

/// `a` at `rows` (`u32::MAX` = null).
pub(crate) fn take_rows(a: &ArrayRef, rows: &[u32]) -> Result<ArrayRef> {
    let idx: UInt32Array = rows.iter().map(|&r| (r != u32::MAX).then_some(r)).collect();
    Ok(take(a.as_ref(), &idx, None)?)
}

/// Sum of squared deviations from each group's mean (`means[g]`).
pub(crate) fn m2(gids: &[u32], a: &ArrayRef, means: &[f64]) -> Result<Vec<f64>> {
    let a = cast(&widen(a)?, &DataType::Float64)?;
    let a: &Float64Array = a.as_primitive();
    let mut out = vec![0.0; means.len()];
    let b = valid_mask(a);
    for (i, (&g, &v)) in gids.iter().zip(a.values().iter()).enumerate() {
        if b.is_some_and(|b| b.is_null(i)) {
            continue;
        }
        let d = v - means[g as usize];
        out[g as usize] += d * d;
    }
    Ok(out)
}

/// Merges (count, mean, m2) states per group (Chan et al.).
pub(crate) fn merge_var(
    gids: &[u32],
    count: &Int64Array,
    mean: &Float64Array,
    m2: &Float64Array,
    n: usize,
) -> (Vec<i64>, Vec<f64>, Vec<f64>) {
    let mut c = vec![0i64; n];
    let mut m = vec![0.0f64; n];
    let mut s = vec![0.0f64; n];
    for (i, &g) in gids.iter().enumerate() {
        let nb = count.value(i);
        if nb == 0 {
            continue;
        }
        let g = g as usize;
        let (mb, sb) = (mean.value(i), m2.value(i));
        let na = c[g];
        if na == 0 {
            c[g] = nb;
            m[g] = mb;
            s[g] = sb;
            continue;
        }
        let tot = (na + nb) as f64;
        let delta = mb - m[g];
        m[g] += delta * nb as f64 / tot;
        s[g] += sb + delta * delta * (na as f64) * (nb as f64) / tot;
        c[g] = na + nb;
    }
    (c, m, s)
}

/// Distinct non-null values per group.
pub(crate) fn n_unique(gids: &[u32], a: &ArrayRef, n: usize) -> Result<Vec<i64>> {
    let (codes, card) = super::keys::codes(a)?;
    let mut out = vec![0i64; n];
    let mut seen: hashbrown::HashSet<u64> = hashbrown::HashSet::new();
    for (&g, &c) in gids.iter().zip(&codes) {
        if c == 0 {
            continue;
        }
        if seen.insert(u64::from(g) * card + c) {
            out[g as usize] += 1;
        }
    }
    Ok(out)
}
