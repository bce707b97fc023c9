//! The built-in per-partition tasks. Each is registered with
//! `#[rask::task]`, so the same graph runs on threads, worker processes or
//! a cluster; arguments are partitions and plain serde specs.

use arrow::array::RecordBatch;
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::{Field, Schema};
use rask_core::Delayed;
use std::sync::Arc;

use crate::error::{FrameError, Result};
use crate::expr::Expr;
use crate::groupby::{self, GroupSpec};
use crate::partition::Partition;

/// The same partition (a constant made portable: `identity::delayed(p)`).
#[rask_macros::task(crate = rask_core)]
pub fn identity(p: Partition) -> Partition {
    p
}

/// All partitions as one batch (a single non-empty one is passed on
/// without a copy).
#[rask_macros::task(crate = rask_core)]
pub fn concat(v: Vec<Partition>) -> Result<Partition> {
    let Some(first) = v.first() else {
        return Err(FrameError::Invalid("concat of no partitions".into()));
    };
    let nonempty: Vec<&RecordBatch> = v
        .iter()
        .map(|p| &p.0)
        .filter(|b| b.num_rows() > 0)
        .collect();
    match nonempty.as_slice() {
        [] => Ok(first.clone()),
        [one] => Ok(Partition((*one).clone())),
        many => Ok(Partition(concat_batches(
            &first.0.schema(),
            many.iter().copied(),
        )?)),
    }
}

/// Some columns (by index) of all partitions, concatenated.
#[rask_macros::task(crate = rask_core)]
pub fn concat_columns(v: Vec<Partition>, cols: Vec<usize>) -> Result<Partition> {
    let projected = v
        .iter()
        .map(|p| Ok(p.0.project(&cols)?))
        .collect::<Result<Vec<RecordBatch>>>()?;
    let Some(first) = projected.first() else {
        return Err(FrameError::Invalid("concat of no partitions".into()));
    };
    Ok(Partition(concat_batches(&first.schema(), &projected)?))
}

/// The columns of batches of equal length, side by side, in order.
#[rask_macros::task(crate = rask_core)]
pub fn side_by_side(v: Vec<Partition>) -> Result<Partition> {
    let mut fields = Vec::new();
    let mut cols = Vec::new();
    let rows = v.first().map_or(0, Partition::num_rows);
    for p in &v {
        if p.num_rows() != rows {
            return Err(FrameError::Invalid(
                "side_by_side of unequal lengths".into(),
            ));
        }
        fields.extend(p.0.schema().fields().iter().cloned());
        cols.extend(p.0.columns().iter().cloned());
    }
    let opts = arrow::array::RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(Partition(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        cols,
        &opts,
    )?))
}

/// The number of rows.
#[rask_macros::task(crate = rask_core)]
pub fn num_rows(p: Partition) -> u64 {
    p.num_rows() as u64
}

/// The sum of two counts.
#[rask_macros::task(crate = rask_core)]
pub fn sum_counts(a: u64, b: u64) -> u64 {
    a + b
}

/// Whether a count is zero.
#[rask_macros::task(crate = rask_core)]
pub fn is_zero(n: u64) -> bool {
    n == 0
}

/// Columns computed from expressions.
#[rask_macros::task(crate = rask_core)]
pub fn select(p: Partition, exprs: Vec<Expr>) -> Result<Partition> {
    let b = &p.0;
    let mut fields = Vec::with_capacity(exprs.len());
    let mut cols = Vec::with_capacity(exprs.len());
    for e in &exprs {
        let c = e.evaluate(b)?;
        let nullable = e.nullable(b.schema_ref()) || c.null_count() > 0;
        fields.push(Field::new(e.name(), c.data_type().clone(), nullable));
        cols.push(c);
    }
    let opts = arrow::array::RecordBatchOptions::new().with_row_count(Some(b.num_rows()));
    Ok(Partition(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        cols,
        &opts,
    )?))
}

/// The rows where the predicate is true (null counts as false).
#[rask_macros::task(crate = rask_core)]
pub fn filter(p: Partition, predicate: Expr) -> Result<Partition> {
    let mask = predicate.evaluate_mask(&p.0)?;
    if mask.true_count() == mask.len() {
        return Ok(p);
    }
    Ok(Partition(filter_record_batch(&p.0, &mask)?))
}

/// The first `n` rows.
#[rask_macros::task(crate = rask_core)]
pub fn head(p: Partition, n: usize) -> Partition {
    let n = n.min(p.num_rows());
    Partition(p.0.slice(0, n))
}

/// One partition's group-by state.
#[rask_macros::task(crate = rask_core)]
pub fn groupby_partial(p: Partition, spec: GroupSpec) -> Result<Partition> {
    Ok(Partition(groupby::partial(&p.0, &spec)?))
}

/// Group-by states merged.
#[rask_macros::task(crate = rask_core)]
pub fn groupby_merge(states: Vec<Partition>, spec: GroupSpec) -> Result<Partition> {
    let b: Vec<RecordBatch> = states.into_iter().map(|p| p.0).collect();
    Ok(Partition(groupby::merge(&b, &spec)?))
}

/// Group-by states to output columns.
#[rask_macros::task(crate = rask_core)]
pub fn groupby_finalize(state: Partition, spec: GroupSpec) -> Result<Partition> {
    Ok(Partition(groupby::finalize(&state.0, &spec)?))
}

/// Partitions rewritten to share one dictionary per string column.
#[rask_macros::task(crate = rask_core)]
pub fn unify_dictionaries(parts: Vec<Partition>) -> Result<Vec<Partition>> {
    let b: Vec<RecordBatch> = parts.into_iter().map(|p| p.0).collect();
    Ok(crate::dictionary::unify(&b)?
        .into_iter()
        .map(Partition)
        .collect())
}

/// A partition sorted.
#[rask_macros::task(crate = rask_core)]
pub fn sort(p: Partition, spec: crate::sort::SortSpec) -> Result<Partition> {
    Ok(Partition(crate::sort::sort_batch(&p.0, &spec)?))
}

/// Up to `m` sort-key rows of a partition.
#[rask_macros::task(crate = rask_core)]
pub fn sample(p: Partition, spec: crate::sort::SortSpec, m: usize) -> Result<Partition> {
    Ok(Partition(crate::sort::sample(&p.0, &spec, m)?))
}

/// `n - 1` sort boundaries from samples.
#[rask_macros::task(crate = rask_core)]
pub fn boundaries(
    samples: Vec<Partition>,
    spec: crate::sort::SortSpec,
    n: usize,
) -> Result<Partition> {
    let b: Vec<RecordBatch> = samples.into_iter().map(|p| p.0).collect();
    Ok(Partition(crate::sort::boundaries(&b, &spec, n)?))
}

/// A partition cut into `n` sort ranges.
#[rask_macros::task(crate = rask_core)]
pub fn range_split(
    p: Partition,
    bounds: Partition,
    spec: crate::sort::SortSpec,
    n: usize,
) -> Result<Vec<Partition>> {
    Ok(crate::sort::range_split(&p.0, &bounds.0, &spec, n)?
        .into_iter()
        .map(Partition)
        .collect())
}

/// Rows `[k * len / n, (k + 1) * len / n)`.
#[rask_macros::task(crate = rask_core)]
pub fn slice(p: Partition, k: usize, n: usize) -> Partition {
    Partition(crate::sort::slice_part(&p.0, k, n))
}

/// The first row of each distinct value of some columns.
#[rask_macros::task(crate = rask_core)]
pub fn dedupe(p: Partition, cols: Vec<String>) -> Result<Partition> {
    Ok(Partition(crate::sort::dedupe(&p.0, &cols)?))
}

/// A describe state reshaped.
#[rask_macros::task(crate = rask_core)]
pub fn describe(p: Partition, cols: Vec<String>) -> Result<Partition> {
    Ok(Partition(crate::sort::describe_shape(&p.0, &cols)?))
}

/// Two partitions joined.
#[rask_macros::task(crate = rask_core)]
pub fn join(left: Partition, right: Partition, spec: crate::join::JoinSpec) -> Result<Partition> {
    Ok(Partition(crate::join::join_batches(
        &left.0, &right.0, &spec,
    )?))
}

/// A partition cut into `n` by a hash of the key columns.
#[rask_macros::task(crate = rask_core)]
pub fn hash_split(p: Partition, keys: Vec<String>, n: usize) -> Result<Vec<Partition>> {
    Ok(groupby::split(&p.0, &keys, n)?
        .into_iter()
        .map(Partition)
        .collect())
}

/// How rows are cut by key: the key columns, the types to cast them to
/// first (the fields of an empty partition: two tables' keys of different
/// types then hash alike), and the number of pieces.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct KeySplit {
    /// Key column names.
    pub keys: Vec<String>,
    /// The common key types.
    pub types: Partition,
    /// Pieces.
    pub n: usize,
}

/// A partition cut into `split.n` by a hash of its key columns (cast to
/// the split's types where they differ).
#[rask_macros::task(crate = rask_core)]
pub fn hash_split_keys(p: Partition, split: KeySplit) -> Result<Vec<Partition>> {
    let b = &p.0;
    let ts = split.types.0.schema();
    let n = split.n.max(1);
    let cols = split
        .keys
        .iter()
        .zip(ts.fields())
        .map(|(k, f)| {
            let c = b.column(crate::expr::index_of(b.schema_ref(), k)?);
            Ok(if crate::expr::logical(c.data_type()) == *f.data_type() {
                c.clone()
            } else {
                arrow::compute::cast(c, f.data_type())?
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let h = crate::hash::hash_rows(&cols, b.num_rows())?;
    let mut rows: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (i, h) in h.iter().enumerate() {
        rows[(h % n as u64) as usize].push(i as u32);
    }
    rows.into_iter()
        .map(|r| Ok(Partition(crate::frame::take_batch(b, &r)?)))
        .collect()
}

/// A join's left partition `i`: kept whole in bucket `i` when the right
/// side has at most `threshold` rows in all (it is broadcast), else split
/// by key hash.
#[rask_macros::task(crate = rask_core)]
pub fn route_left(
    p: Partition,
    i: usize,
    split: KeySplit,
    right_rows: u64,
    threshold: u64,
) -> Result<Vec<Partition>> {
    if right_rows > threshold {
        return hash_split_keys(p, split);
    }
    let n = split.n.max(1);
    let empty = Partition::empty(p.0.schema());
    let mut v = vec![empty; n];
    v[i.min(n - 1)] = p;
    Ok(v)
}

/// A join's right partition: in every bucket when the right side has at
/// most `threshold` rows in all, else split by key hash.
#[rask_macros::task(crate = rask_core)]
pub fn route_right(
    p: Partition,
    split: KeySplit,
    right_rows: u64,
    threshold: u64,
) -> Result<Vec<Partition>> {
    if right_rows > threshold {
        return hash_split_keys(p, split);
    }
    Ok(vec![p; split.n.max(1)])
}

/// A partition's top `k` rows in sort order.
#[rask_macros::task(crate = rask_core)]
pub fn top_k(p: Partition, spec: crate::sort::SortSpec, k: usize) -> Result<Partition> {
    Ok(Partition(crate::sort::top_k_batch(&p.0, &spec, k)?))
}

/// The top `k` rows of several partitions' top rows.
#[rask_macros::task(crate = rask_core)]
pub fn top_k_merge(v: Vec<Partition>, spec: crate::sort::SortSpec, k: usize) -> Result<Partition> {
    let p = concat(v)?;
    top_k(p, spec, k)
}

/// Window functions over one partition (its groups are whole).
#[rask_macros::task(crate = rask_core)]
pub fn window(p: Partition, spec: crate::window::WindowSpec) -> Result<Partition> {
    Ok(Partition(crate::window::apply(&p.0, &spec)?))
}

/// How a gathered list of partitions crosses processes.
static PARTS: rask_core::Codec = rask_core::codec::<Vec<Partition>>();

/// [`hash_split`](fn@hash_split) when `total > threshold`; otherwise every row in the
/// first of `n` pieces (the others empty). Every partition gets the same
/// `total`, so all agree on where a key goes.
#[rask_macros::task(crate = rask_core)]
pub fn hash_split_above(
    p: Partition,
    keys: Vec<String>,
    n: usize,
    total: u64,
    threshold: u64,
) -> Result<Vec<Partition>> {
    if total > threshold {
        return hash_split(p, keys, n);
    }
    let empty = Partition::empty(p.0.schema());
    let mut v = vec![p];
    v.resize(n.max(1), empty);
    Ok(v)
}

/// A list of delayed partitions as one delayed list, in order: the core's
/// built-in gather (one task whatever the length). Every k-ary step
/// (merges, concatenations, shuffles) goes through here.
pub(crate) fn gather(parts: &[Delayed<Partition>]) -> Delayed<Vec<Partition>> {
    if parts.is_empty() {
        return list_empty::delayed();
    }
    rask_core::IntoInput::<Vec<Partition>>::into_input(parts, &PARTS)
}

/// An empty list.
#[rask_macros::task(crate = rask_core)]
pub fn list_empty() -> Vec<Partition> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn hash_split_above_splits_only_past_the_threshold() {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let b = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(0..100))])
            .expect("batch");
        let keys = vec!["k".to_string()];
        let small =
            hash_split_above(Partition(b.clone()), keys.clone(), 4, 100, 100).expect("small");
        let sizes: Vec<usize> = small.iter().map(Partition::num_rows).collect();
        assert_eq!(sizes, [100, 0, 0, 0]);
        let big = hash_split_above(Partition(b.clone()), keys.clone(), 4, 101, 100).expect("big");
        let want = hash_split(Partition(b), keys, 4).expect("split");
        let sizes: Vec<usize> = big.iter().map(Partition::num_rows).collect();
        assert_eq!(
            sizes,
            want.iter().map(Partition::num_rows).collect::<Vec<_>>()
        );
        assert!(sizes.iter().filter(|&&n| n > 0).count() > 1);
    }
}
