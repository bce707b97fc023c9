//! The three steps of a group-by over batches (see the module above):
//! `partial`, `merge`, `finalize`, and `split` by key hash.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take};
use arrow::datatypes::{Field, Float64Type, Int64Type, Schema};

use super::{kernels, keys, AggFunc, GroupSpec};
use crate::error::{FrameError, Result};
use crate::expr::index_of;

fn key_columns(batch: &RecordBatch, spec: &GroupSpec) -> Result<Vec<ArrayRef>> {
    spec.keys
        .iter()
        .map(|k| Ok(batch.column(index_of(batch.schema_ref(), k)?).clone()))
        .collect()
}

/// The key values of some rows. View arrays are compacted: a state holds
/// few rows, and must not keep the input's whole data buffers alive (nor
/// make every later concatenation copy them).
fn take_keys(keys: &[ArrayRef], rows: &[u32]) -> Result<Vec<ArrayRef>> {
    let idx = UInt32Array::from(rows.to_vec());
    keys.iter()
        .map(|k| Ok(compact(take(k.as_ref(), &idx, None)?)))
        .collect()
}

/// A view array with only the bytes its views use.
pub(crate) fn compact(a: ArrayRef) -> ArrayRef {
    match a.data_type() {
        arrow::datatypes::DataType::Utf8View => Arc::new(a.as_string_view().gc()),
        arrow::datatypes::DataType::BinaryView => Arc::new(a.as_binary_view().gc()),
        _ => a,
    }
}

/// One partition's rows to its state batch.
pub(crate) fn partial(batch: &RecordBatch, spec: &GroupSpec) -> Result<RecordBatch> {
    let (state_schema, _) = spec.schemas(batch.schema_ref())?;
    let keys = key_columns(batch, spec)?;
    let rows = batch.num_rows();
    let per_row =
        !spec.aggs.iter().any(|a| a.func == AggFunc::NUnique) && mostly_distinct(&keys, rows)?;
    // Nearly one group per row: grouping here would not shrink the state,
    // so each row is its own group and the merge does the grouping.
    let (g, mut cols) = if per_row {
        let g = keys::Groups {
            gids: (0..rows as u32).collect(),
            first_rows: Vec::new(),
        };
        (g, keys.clone())
    } else {
        let g = keys::group_rows(&keys, rows)?;
        let cols = take_keys(&keys, &g.first_rows)?;
        (g, cols)
    };
    let n = if per_row { rows } else { g.len() };
    let gids = &g.gids;
    for a in &spec.aggs {
        if a.func == AggFunc::Len {
            cols.push(Arc::new(Int64Array::from(kernels::count_rows(gids, n))));
            continue;
        }
        let v = &a.input.evaluate(batch)?;
        match a.func {
            AggFunc::Len => unreachable!("counted above"),
            AggFunc::Sum => cols.push(kernels::sum(gids, v, n)?),
            AggFunc::Count => cols.push(Arc::new(Int64Array::from(kernels::count(
                gids,
                v.as_ref(),
                n,
            )))),
            AggFunc::Mean => {
                cols.push(Arc::new(Float64Array::from(kernels::sum_f64(gids, v, n)?)));
                cols.push(Arc::new(Int64Array::from(kernels::count(
                    gids,
                    v.as_ref(),
                    n,
                ))));
            }
            AggFunc::Min | AggFunc::Max => {
                cols.push(kernels::min_max(gids, v, n, a.func == AggFunc::Max)?)
            }
            AggFunc::Var | AggFunc::Std => {
                let c = kernels::count(gids, v.as_ref(), n);
                let s = kernels::sum_f64(gids, v, n)?;
                let means: Vec<f64> = s
                    .iter()
                    .zip(&c)
                    .map(|(s, &c)| if c > 0 { s / c as f64 } else { 0.0 })
                    .collect();
                let m2 = kernels::m2(gids, v, &means)?;
                cols.push(Arc::new(Int64Array::from(c)));
                cols.push(Arc::new(Float64Array::from(means)));
                cols.push(Arc::new(Float64Array::from(m2)));
            }
            AggFunc::First | AggFunc::Last => {
                cols.push(kernels::first_last(gids, v, n, a.func == AggFunc::Last)?)
            }
            AggFunc::NUnique => {
                cols.push(Arc::new(Int64Array::from(kernels::n_unique(gids, v, n)?)))
            }
        }
    }
    Ok(RecordBatch::try_new(state_schema, cols)?)
}

/// Whether a prefix of the rows has nearly as many groups as rows (only
/// for partitions large enough for the difference to matter). A prefix of
/// 64K rows of keys with 100K distinct values has about 73% distinct, of
/// keys with a million or more over 97%: the cut is at 90%.
fn mostly_distinct(keys: &[ArrayRef], rows: usize) -> Result<bool> {
    if keys.is_empty() || rows < 1 << 16 {
        return Ok(false);
    }
    let probe = (rows / 4).min(1 << 16);
    let prefix: Vec<ArrayRef> = keys.iter().map(|k| k.slice(0, probe)).collect();
    Ok(keys::group_rows(&prefix, probe)?.len() * 10 > probe * 9)
}

/// Several state batches (in partition order) to one. Always groups: a
/// partial state may hold one row per input row (see [`partial`]).
pub(crate) fn merge(states: &[RecordBatch], spec: &GroupSpec) -> Result<RecordBatch> {
    let Some(first) = states.first() else {
        return Err(FrameError::Invalid("merge of no states".into()));
    };
    let schema = first.schema();
    let nonempty: Vec<&RecordBatch> = states.iter().filter(|b| b.num_rows() > 0).collect();
    let batch = match nonempty.as_slice() {
        [] => return Ok(first.clone()),
        [one] => (*one).clone(),
        many => concat_batches(&schema, many.iter().copied())?,
    };
    let nk = spec.keys.len();
    let keys: Vec<ArrayRef> = batch.columns()[..nk].to_vec();
    let g = keys::group_rows(&keys, batch.num_rows())?;
    let n = g.len();
    let gids = &g.gids;
    let mut cols = take_keys(&keys, &g.first_rows)?;
    let mut c = nk;
    for a in &spec.aggs {
        let col = |j: usize| batch.column(c + j);
        match a.func {
            AggFunc::Sum | AggFunc::Count | AggFunc::Len => {
                cols.push(kernels::sum(gids, col(0), n)?);
                c += 1;
            }
            AggFunc::Mean => {
                cols.push(kernels::sum(gids, col(0), n)?);
                cols.push(kernels::sum(gids, col(1), n)?);
                c += 2;
            }
            AggFunc::Min | AggFunc::Max => {
                cols.push(kernels::min_max(gids, col(0), n, a.func == AggFunc::Max)?);
                c += 1;
            }
            AggFunc::Var | AggFunc::Std => {
                let (cnt, mean, m2) = kernels::merge_var(
                    gids,
                    col(0).as_primitive::<Int64Type>(),
                    col(1).as_primitive::<Float64Type>(),
                    col(2).as_primitive::<Float64Type>(),
                    n,
                );
                cols.push(Arc::new(Int64Array::from(cnt)));
                cols.push(Arc::new(Float64Array::from(mean)));
                cols.push(Arc::new(Float64Array::from(m2)));
                c += 3;
            }
            AggFunc::First | AggFunc::Last => {
                cols.push(kernels::first_last(
                    gids,
                    col(0),
                    n,
                    a.func == AggFunc::Last,
                )?);
                c += 1;
            }
            AggFunc::NUnique => {
                return Err(FrameError::Invalid(
                    "n_unique states cannot be merged (the plan shuffles first)".into(),
                ))
            }
        }
    }
    Ok(RecordBatch::try_new(schema, cols)?)
}

/// A state batch to the output columns (keys, then one per aggregation).
pub(crate) fn finalize(state: &RecordBatch, spec: &GroupSpec) -> Result<RecordBatch> {
    let nk = spec.keys.len();
    let mut cols: Vec<ArrayRef> = state.columns()[..nk].to_vec();
    let mut c = nk;
    for a in &spec.aggs {
        match a.func {
            AggFunc::Sum | AggFunc::Count | AggFunc::Len | AggFunc::Min | AggFunc::Max => {
                cols.push(state.column(c).clone());
                c += 1;
            }
            AggFunc::First | AggFunc::Last | AggFunc::NUnique => {
                cols.push(state.column(c).clone());
                c += 1;
            }
            AggFunc::Mean => {
                let s = state.column(c).as_primitive::<Float64Type>();
                let n = state.column(c + 1).as_primitive::<Int64Type>();
                let m: Float64Array = s
                    .values()
                    .iter()
                    .zip(n.values().iter())
                    .map(|(&s, &n)| (n > 0).then(|| s / n as f64))
                    .collect();
                cols.push(Arc::new(m));
                c += 2;
            }
            AggFunc::Var | AggFunc::Std => {
                let n = state.column(c).as_primitive::<Int64Type>();
                let m2 = state.column(c + 2).as_primitive::<Float64Type>();
                let std = a.func == AggFunc::Std;
                let v: Float64Array = n
                    .values()
                    .iter()
                    .zip(m2.values().iter())
                    .map(|(&n, &m2)| {
                        (n > 1).then(|| {
                            let v = m2 / (n - 1) as f64;
                            if std {
                                v.sqrt()
                            } else {
                                v
                            }
                        })
                    })
                    .collect();
                cols.push(Arc::new(v));
                c += 3;
            }
        }
    }
    let mut fields: Vec<Field> = state.schema().fields()[..nk]
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    for (a, c) in spec.aggs.iter().zip(&cols[nk..]) {
        fields.push(Field::new(a.output_name(), c.data_type().clone(), true));
    }
    let opts = arrow::array::RecordBatchOptions::new().with_row_count(Some(state.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        cols,
        &opts,
    )?)
}

/// Cuts a batch into `n` by a deterministic hash of the named key columns.
pub(crate) fn split(batch: &RecordBatch, keys: &[String], n: usize) -> Result<Vec<RecordBatch>> {
    let cols: Vec<ArrayRef> = keys
        .iter()
        .map(|k| Ok(batch.column(index_of(batch.schema_ref(), k)?).clone()))
        .collect::<Result<_>>()?;
    let h = crate::hash::hash_rows(&cols, batch.num_rows())?;
    let mut rows: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (i, h) in h.iter().enumerate() {
        rows[(h % n as u64) as usize].push(i as u32);
    }
    rows.into_iter()
        .map(|r| crate::frame::take_batch(batch, &r))
        .collect()
}
