//! The join of two batches: the keys of both sides (cast to their common
//! types) are coded together by the group-by coder, so strings,
//! dictionaries, integers and every other key type become dense ids; the
//! right rows are bucketed by id (a counting sort keeps right order); the
//! left rows are walked in order. When every left row matches exactly one
//! right row (a dimension table), the left columns are kept as they are
//! instead of copied.

use arrow::array::{Array, ArrayRef, RecordBatch, RecordBatchOptions, UInt32Array};
use arrow::compute::{cast, concat, take};
use arrow::datatypes::DataType;

use super::{join_schema, key_types, JoinSpec, JoinType};
use crate::error::Result;
use crate::expr::index_of;
use crate::groupby::keys;

/// A key column in the common key type.
fn key_col(b: &RecordBatch, name: &str, t: &DataType) -> Result<ArrayRef> {
    let c = b.column(index_of(b.schema_ref(), name)?);
    Ok(if c.data_type() == t { c.clone() } else { cast(c, t)? })
}

/// Joins two batches.
pub(crate) fn join_batches(left: &RecordBatch, right: &RecordBatch, spec: &JoinSpec) -> Result<RecordBatch> {
    let schema = join_schema(left.schema_ref(), right.schema_ref(), spec)?;
    let types = key_types(left.schema_ref(), right.schema_ref(), spec)?;
    let (nl, nr) = (left.num_rows(), right.num_rows());
    let mut both: Vec<ArrayRef> = Vec::with_capacity(types.len());
    let mut has_null = vec![false; nl + nr];
    for ((l, r), t) in spec.left_on.iter().zip(&spec.right_on).zip(&types) {
        let c = concat(&[key_col(left, l, t)?.as_ref(), key_col(right, r, t)?.as_ref()])?;
        if c.null_count() > 0 {
            for (i, h) in has_null.iter_mut().enumerate() {
                *h |= c.is_null(i);
            }
        }
        both.push(c);
    }
    let g = keys::group_rows(&both, nl + nr)?;
    let ng = g.len();
    // Right rows bucketed by group (counting sort keeps right order).
    let mut start = vec![0u32; ng + 1];
    for r in 0..nr {
        if !has_null[nl + r] {
            start[g.gids[nl + r] as usize + 1] += 1;
        }
    }
    for i in 0..ng {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut bucket = vec![0u32; start[ng] as usize];
    for r in 0..nr {
        if !has_null[nl + r] {
            let s = &mut fill[g.gids[nl + r] as usize];
            bucket[*s as usize] = r as u32;
            *s += 1;
        }
    }
    let matches = |l: usize| -> &[u32] {
        if has_null[l] {
            return &[];
        }
        let gid = g.gids[l] as usize;
        &bucket[start[gid] as usize..start[gid + 1] as usize]
    };
    let opts = |n: usize| RecordBatchOptions::new().with_row_count(Some(n));
    let left_cols = |idx: Option<&UInt32Array>| -> Result<Vec<ArrayRef>> {
        spec.left_out
            .iter()
            .map(|c| {
                let a = left.column(index_of(left.schema_ref(), c)?);
                Ok(match idx {
                    None => a.clone(),
                    Some(i) => take(a.as_ref(), i, None)?,
                })
            })
            .collect()
    };
    if matches!(spec.how, JoinType::Semi | JoinType::Anti) {
        let want = spec.how == JoinType::Semi;
        let rows: Vec<u32> = (0..nl)
            .filter(|&l| !matches(l).is_empty() == want)
            .map(|l| l as u32)
            .collect();
        let cols = if rows.len() == nl {
            left_cols(None)?
        } else {
            left_cols(Some(&UInt32Array::from(rows.clone())))?
        };
        return Ok(RecordBatch::try_new_with_options(schema, cols, &opts(rows.len()))?);
    }
    let mut li: Vec<Option<u32>> = Vec::new();
    let mut ri: Vec<Option<u32>> = Vec::new();
    let mut once = true;
    let mut matched = vec![false; if spec.how == JoinType::Outer { nr } else { 0 }];
    for l in 0..nl {
        let m = matches(l);
        once &= m.len() == 1;
        if m.is_empty() {
            if spec.how != JoinType::Inner {
                li.push(Some(l as u32));
                ri.push(None);
            }
            continue;
        }
        for &r in m {
            li.push(Some(l as u32));
            ri.push(Some(r));
            if let Some(x) = matched.get_mut(r as usize) {
                *x = true;
            }
        }
    }
    let n_matched_rows = li.len();
    if spec.how == JoinType::Outer {
        for (r, m) in matched.iter().enumerate() {
            if !m {
                li.push(None);
                ri.push(Some(r as u32));
            }
        }
    }
    let rows = li.len();
    let lidx = UInt32Array::from(li);
    let ridx = UInt32Array::from(ri);
    // Every left row once, in order: the left columns as they are.
    let identity = once && rows == nl;
    let mut cols = left_cols(if identity { None } else { Some(&lidx) })?;
    if spec.how == JoinType::Outer && rows > n_matched_rows {
        // Keys of right-only rows come from the right side.
        for (k, lk) in spec.left_on.iter().enumerate() {
            let Some(pos) = spec.left_out.iter().position(|c| c == lk) else {
                continue;
            };
            let key_idx: UInt32Array = (0..rows)
                .map(|j| {
                    if j < n_matched_rows {
                        Some(lidx.value(j))
                    } else {
                        Some(nl as u32 + ridx.value(j))
                    }
                })
                .collect();
            let kc = take(both[k].as_ref(), &key_idx, None)?;
            let t = cols[pos].data_type().clone();
            cols[pos] = if *kc.data_type() == t { kc } else { cast(&kc, &t)? };
        }
    }
    for (c, _) in &spec.right_out {
        let a = right.column(index_of(right.schema_ref(), c)?);
        cols.push(take(a.as_ref(), &ridx, None)?);
    }
    Ok(RecordBatch::try_new_with_options(schema, cols, &opts(rows))?)
}

