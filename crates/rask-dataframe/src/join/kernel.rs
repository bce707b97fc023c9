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
    Ok(if c.data_type() == t {
        c.clone()
    } else {
        cast(c, t)?
    })
}

/// Joins two batches.
pub(crate) fn join_batches(
    left: &RecordBatch,
    right: &RecordBatch,
    spec: &JoinSpec,
) -> Result<RecordBatch> {
    let schema = join_schema(left.schema_ref(), right.schema_ref(), spec)?;
    let types = key_types(left.schema_ref(), right.schema_ref(), spec)?;
    let (nl, nr) = (left.num_rows(), right.num_rows());
    let m = match int_matcher(left, right, spec, &types)? {
        Some(m) => m,
        None => generic_matcher(left, right, spec, &types)?,
    };
    emit(left, right, spec, schema, &m, nl, nr)
}

/// For each left row, the right rows it matches: `bucket[start[s]..start[s + 1]]`
/// where `s = slot[l]` (`u32::MAX`: none).
struct Matcher {
    slot: Vec<u32>,
    start: Vec<u32>,
    bucket: Vec<u32>,
    /// The key columns of both sides, left rows first, in the common types
    /// (outer joins take right-only keys from here).
    both: Vec<ArrayRef>,
}

impl Matcher {
    fn matches(&self, l: usize) -> &[u32] {
        let s = self.slot[l];
        if s == u32::MAX {
            return &[];
        }
        let s = s as usize;
        &self.bucket[self.start[s] as usize..self.start[s + 1] as usize]
    }
}

/// Right rows bucketed by slot (a counting sort keeps right order).
fn buckets(right_slots: &[u32], nslots: usize) -> (Vec<u32>, Vec<u32>) {
    let mut start = vec![0u32; nslots + 1];
    for &s in right_slots {
        if s != u32::MAX {
            start[s as usize + 1] += 1;
        }
    }
    for i in 0..nslots {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut bucket = vec![0u32; start[nslots] as usize];
    for (r, &s) in right_slots.iter().enumerate() {
        if s != u32::MAX {
            let f = &mut fill[s as usize];
            bucket[*f as usize] = r as u32;
            *f += 1;
        }
    }
    (start, bucket)
}

/// One integer key whose right values span a small range: a direct table
/// from value to right rows, probed once per left row (no hashing, no
/// concatenation of the left keys).
fn int_matcher(
    left: &RecordBatch,
    right: &RecordBatch,
    spec: &JoinSpec,
    types: &[DataType],
) -> Result<Option<Matcher>> {
    use arrow::array::AsArray;
    use arrow::datatypes::Int64Type;
    let [t] = types else { return Ok(None) };
    if !t.is_integer() || spec.how == JoinType::Outer {
        return Ok(None);
    }
    let as_i64 = |b: &RecordBatch, name: &str| -> Result<ArrayRef> {
        let c = key_col(b, name, t)?;
        Ok(if *c.data_type() == DataType::Int64 {
            c
        } else {
            cast(&c, &DataType::Int64)?
        })
    };
    let r = as_i64(right, &spec.right_on[0])?;
    let rv = r.as_primitive::<Int64Type>();
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for (i, &v) in rv.values().iter().enumerate() {
        if rv.is_valid(i) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if lo > hi {
        lo = 0;
        hi = 0;
    }
    let range = (i128::from(hi) - i128::from(lo) + 1) as u128;
    if range > (4 * right.num_rows() as u128).max(1 << 16) {
        return Ok(None);
    }
    let nslots = range as usize;
    let slot_of = |a: &arrow::array::Int64Array, i: usize| -> u32 {
        let v = a.value(i);
        if a.is_null(i) || v < lo || v > hi {
            u32::MAX
        } else {
            (v - lo) as u32
        }
    };
    let right_slots: Vec<u32> = (0..rv.len()).map(|i| slot_of(rv, i)).collect();
    let (start, bucket) = buckets(&right_slots, nslots);
    let l = as_i64(left, &spec.left_on[0])?;
    let lv = l.as_primitive::<Int64Type>();
    let slot = if lv.null_count() == 0 {
        lv.values()
            .iter()
            .map(|&v| {
                if v < lo || v > hi {
                    u32::MAX
                } else {
                    (v - lo) as u32
                }
            })
            .collect()
    } else {
        (0..lv.len()).map(|i| slot_of(lv, i)).collect()
    };
    Ok(Some(Matcher {
        slot,
        start,
        bucket,
        both: Vec::new(),
    }))
}

/// Any keys: both sides' keys coded together by the group-by coder.
fn generic_matcher(
    left: &RecordBatch,
    right: &RecordBatch,
    spec: &JoinSpec,
    types: &[DataType],
) -> Result<Matcher> {
    let (nl, nr) = (left.num_rows(), right.num_rows());
    let mut both: Vec<ArrayRef> = Vec::with_capacity(types.len());
    let mut has_null = vec![false; nl + nr];
    for ((l, r), t) in spec.left_on.iter().zip(&spec.right_on).zip(types) {
        let c = concat(&[
            key_col(left, l, t)?.as_ref(),
            key_col(right, r, t)?.as_ref(),
        ])?;
        if c.null_count() > 0 {
            for (i, h) in has_null.iter_mut().enumerate() {
                *h |= c.is_null(i);
            }
        }
        both.push(c);
    }
    let g = keys::group_rows(&both, nl + nr)?;
    let slots: Vec<u32> = g
        .gids
        .iter()
        .zip(&has_null)
        .map(|(&gid, &null)| if null { u32::MAX } else { gid })
        .collect();
    let (start, bucket) = buckets(&slots[nl..], g.len());
    let mut slot = slots;
    slot.truncate(nl);
    Ok(Matcher {
        slot,
        start,
        bucket,
        both,
    })
}

/// The output rows and columns from the matches.
fn emit(
    left: &RecordBatch,
    right: &RecordBatch,
    spec: &JoinSpec,
    schema: arrow::datatypes::SchemaRef,
    m: &Matcher,
    nl: usize,
    nr: usize,
) -> Result<RecordBatch> {
    let matches = |l: usize| m.matches(l);
    let both = &m.both;
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
            .filter(|&l| matches(l).is_empty() != want)
            .map(|l| l as u32)
            .collect();
        let cols = if rows.len() == nl {
            left_cols(None)?
        } else {
            left_cols(Some(&UInt32Array::from(rows.clone())))?
        };
        return Ok(RecordBatch::try_new_with_options(
            schema,
            cols,
            &opts(rows.len()),
        )?);
    }
    if spec.how == JoinType::Inner {
        // No nulls in either index: plain vectors, and no left index at
        // all when every left row matches once.
        let mut ri: Vec<u32> = Vec::with_capacity(nl);
        let mut once = true;
        for l in 0..nl {
            let mm = matches(l);
            once &= mm.len() == 1;
            ri.extend_from_slice(mm);
        }
        let rows = ri.len();
        let mut cols = if once && rows == nl {
            left_cols(None)?
        } else {
            let mut li: Vec<u32> = Vec::with_capacity(rows);
            for l in 0..nl {
                li.extend(std::iter::repeat_n(l as u32, matches(l).len()));
            }
            left_cols(Some(&UInt32Array::from(li)))?
        };
        let ridx = UInt32Array::from(ri);
        for (c, _) in &spec.right_out {
            let a = right.column(index_of(right.schema_ref(), c)?);
            cols.push(take(a.as_ref(), &ridx, None)?);
        }
        return Ok(RecordBatch::try_new_with_options(
            schema,
            cols,
            &opts(rows),
        )?);
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
            cols[pos] = if *kc.data_type() == t {
                kc
            } else {
                cast(&kc, &t)?
            };
        }
    }
    for (c, _) in &spec.right_out {
        let a = right.column(index_of(right.schema_ref(), c)?);
        cols.push(take(a.as_ref(), &ridx, None)?);
    }
    Ok(RecordBatch::try_new_with_options(
        schema,
        cols,
        &opts(rows),
    )?)
}
