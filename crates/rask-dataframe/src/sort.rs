//! Sorting and reshaping the partitioning: `sort_values` and `set_index`
//! (sampled quantiles then a range shuffle), `repartition`,
//! `drop_duplicates` (a hash shuffle then a per-partition dedupe), and
//! `describe`.
//!
//! Sort invariants: boundaries are `n - 1` key rows picked at even
//! positions of a sorted sample (up to 64 rows per partition); a row goes
//! to the bucket counting the boundaries strictly before it in the sort
//! order (Arrow's row format compares every key type byte-wise), so equal
//! keys share a bucket and bucket `j`'s rows all sort before bucket
//! `j + 1`'s; each bucket is then sorted (stably: equal keys keep their
//! input order). Each key has its own direction and null placement
//! (default: ascending, nulls last). A top-k (`sort(..).head(k)`, or
//! `top_k`) sorts no partition fully: each gives its first `k` rows by a
//! partial sort, and one task takes the first `k` of those.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow::compute::{concat_batches, lexsort_to_indices, SortColumn, SortOptions};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};
use rask_core::Delayed;
use serde::{Deserialize, Serialize};

use crate::error::{FrameError, Result};
use crate::expr::index_of;
use crate::frame::{take_batch, DataFrame};
use crate::groupby::{keys, Agg, AggFunc};
use crate::partition::Partition;
use crate::plan::{Node, Plan};
use crate::tasks;

/// One sort key: a column, its direction and where its nulls go.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SortKey {
    /// The column.
    pub column: String,
    /// Largest first.
    pub descending: bool,
    /// Nulls before every value (default: after).
    pub nulls_first: bool,
}

/// An ascending key, nulls last.
pub fn asc(column: &str) -> SortKey {
    SortKey {
        column: column.to_string(),
        descending: false,
        nulls_first: false,
    }
}

/// A descending key, nulls last.
pub fn desc(column: &str) -> SortKey {
    SortKey {
        descending: true,
        ..asc(column)
    }
}

impl SortKey {
    /// Nulls before every value.
    pub fn nulls_first(mut self) -> Self {
        self.nulls_first = true;
        self
    }
    /// Nulls after every value (the default).
    pub fn nulls_last(mut self) -> Self {
        self.nulls_first = false;
        self
    }
    fn options(&self) -> SortOptions {
        SortOptions {
            descending: self.descending,
            nulls_first: self.nulls_first,
        }
    }
}

/// Sort keys, most significant first (the argument of the sort tasks).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SortSpec {
    /// The keys.
    pub keys: Vec<SortKey>,
}

impl SortSpec {
    /// The key columns.
    pub(crate) fn columns_named(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.column.clone()).collect()
    }

    /// `a desc, b asc nulls first` (for `explain`).
    pub(crate) fn describe(&self) -> String {
        self.keys
            .iter()
            .map(|k| {
                format!(
                    "{} {}{}",
                    k.column,
                    if k.descending { "desc" } else { "asc" },
                    if k.nulls_first { " nulls first" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn columns(&self, b: &RecordBatch) -> Result<Vec<ArrayRef>> {
        self.keys
            .iter()
            .map(|k| Ok(b.column(index_of(b.schema_ref(), &k.column)?).clone()))
            .collect()
    }

    fn sort_columns(&self, b: &RecordBatch) -> Result<Vec<SortColumn>> {
        Ok(self
            .columns(b)?
            .into_iter()
            .zip(&self.keys)
            .map(|(values, k)| SortColumn {
                values,
                options: Some(k.options()),
            })
            .collect())
    }

    fn converter(&self, cols: &[ArrayRef]) -> Result<RowConverter> {
        let fields = cols
            .iter()
            .zip(&self.keys)
            .map(|(c, k)| SortField::new_with_options(c.data_type().clone(), k.options()))
            .collect();
        Ok(RowConverter::new(fields)?)
    }
}

/// A batch sorted (stably).
pub(crate) fn sort_batch(b: &RecordBatch, spec: &SortSpec) -> Result<RecordBatch> {
    if b.num_rows() <= 1 {
        return Ok(b.clone());
    }
    let idx = stable_order(b, spec, None)?;
    take_batch(b, &idx)
}

/// Row numbers in sort order, ties in input order; only the first `limit`
/// when given (a partial sort).
fn stable_order(b: &RecordBatch, spec: &SortSpec, limit: Option<usize>) -> Result<Vec<u32>> {
    let mut cols = spec.sort_columns(b)?;
    // The row number as the last key makes the order total and stable.
    cols.push(SortColumn {
        values: Arc::new(arrow::array::UInt32Array::from_iter_values(
            0..b.num_rows() as u32,
        )),
        options: Some(SortOptions::default()),
    });
    let idx = lexsort_to_indices(&cols, limit)?;
    Ok(idx.values().to_vec())
}

/// The first `k` rows of a batch in sort order (ties in input order).
pub(crate) fn top_k_batch(b: &RecordBatch, spec: &SortSpec, k: usize) -> Result<RecordBatch> {
    if b.num_rows() <= 1 {
        return Ok(b.slice(0, k.min(b.num_rows())));
    }
    let k = k.min(b.num_rows());
    let idx = stable_order(b, spec, Some(k))?;
    take_batch(b, &idx)
}

/// Up to `m` key rows at even positions of a partition.
pub(crate) fn sample(b: &RecordBatch, spec: &SortSpec, m: usize) -> Result<RecordBatch> {
    let keys = b.project(
        &spec
            .keys
            .iter()
            .map(|k| index_of(b.schema_ref(), &k.column))
            .collect::<Result<Vec<_>>>()?,
    )?;
    let n = keys.num_rows();
    if n <= m {
        return Ok(keys);
    }
    let rows: Vec<u32> = (0..m).map(|i| (i * n / m) as u32).collect();
    take_batch(&keys, &rows)
}

/// `n - 1` boundary rows from the samples.
pub(crate) fn boundaries(
    samples: &[RecordBatch],
    spec: &SortSpec,
    n: usize,
) -> Result<RecordBatch> {
    let Some(first) = samples.first() else {
        return Err(FrameError::Invalid("no samples".into()));
    };
    let all = concat_batches(&first.schema(), samples)?;
    let sorted = sort_batch(&all, spec)?;
    let len = sorted.num_rows();
    if len == 0 {
        return Ok(sorted);
    }
    let rows: Vec<u32> = (1..n).map(|k| (k * len / n).min(len - 1) as u32).collect();
    take_batch(&sorted, &rows)
}

/// A partition cut by the boundaries into `bounds + 1` buckets.
pub(crate) fn range_split(
    b: &RecordBatch,
    bounds: &RecordBatch,
    spec: &SortSpec,
    n: usize,
) -> Result<Vec<RecordBatch>> {
    let cols = spec.columns(b)?;
    let mut buckets: Vec<Vec<u32>> = vec![Vec::new(); n];
    if bounds.num_rows() == 0 {
        buckets[0] = (0..b.num_rows() as u32).collect();
    } else {
        let conv = spec.converter(&cols)?;
        // Boundaries cast to the partition's key types (dictionaries may differ).
        let bcols: Vec<ArrayRef> = bounds
            .columns()
            .iter()
            .zip(&cols)
            .map(|(bc, c)| {
                if bc.data_type() == c.data_type() {
                    Ok(bc.clone())
                } else {
                    Ok(arrow::compute::cast(bc, c.data_type())?)
                }
            })
            .collect::<Result<_>>()?;
        let brows = conv.convert_columns(&bcols)?;
        let rows = conv.convert_columns(&cols)?;
        let bvec: Vec<_> = brows.iter().collect();
        for (i, r) in rows.iter().enumerate() {
            let k = bvec.partition_point(|bd| *bd < r);
            buckets[k.min(n - 1)].push(i as u32);
        }
    }
    buckets.iter().map(|rows| take_batch(b, rows)).collect()
}

/// The first row of each distinct value of `cols`, in order.
pub(crate) fn dedupe(b: &RecordBatch, cols: &[String]) -> Result<RecordBatch> {
    let keys: Vec<ArrayRef> = cols
        .iter()
        .map(|c| Ok(b.column(index_of(b.schema_ref(), c)?).clone()))
        .collect::<Result<_>>()?;
    let g = keys::group_rows(&keys, b.num_rows())?;
    if g.len() == b.num_rows() {
        return Ok(b.clone());
    }
    take_batch(b, &g.first_rows)
}

/// Rows `[k * len / n, (k + 1) * len / n)`.
pub(crate) fn slice_part(b: &RecordBatch, k: usize, n: usize) -> RecordBatch {
    let len = b.num_rows();
    let (s, e) = (k * len / n, (k + 1) * len / n);
    b.slice(s, e - s)
}

const STATS: [&str; 5] = ["count", "mean", "std", "min", "max"];

/// A one-row state of count/mean/std/min/max per column to a table with
/// a `statistic` column and one `Float64` column per input column.
pub(crate) fn describe_shape(b: &RecordBatch, cols: &[String]) -> Result<RecordBatch> {
    let mut fields = vec![Field::new("statistic", DataType::Utf8, false)];
    let mut out: Vec<ArrayRef> = vec![Arc::new(StringArray::from(STATS.to_vec()))];
    for (i, c) in cols.iter().enumerate() {
        let mut vals = Vec::with_capacity(STATS.len());
        for j in 0..STATS.len() {
            let a = arrow::compute::cast(b.column(i * STATS.len() + j), &DataType::Float64)?;
            let a = a
                .as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(|| FrameError::Invalid("describe: not a float".into()))?;
            let v = if a.is_empty() || a.is_null(0) {
                None
            } else {
                Some(a.value(0))
            };
            // No rows at all: count 0, the rest null.
            vals.push(if j == 0 { v.or(Some(0.0)) } else { v });
        }
        fields.push(Field::new(c, DataType::Float64, true));
        out.push(Arc::new(Float64Array::from(vals)));
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), out)?)
}

/// The sort's tasks: samples, boundaries, a range split, sorted buckets.
pub(crate) fn lower_sort(
    parts: &[Delayed<Partition>],
    schema: &SchemaRef,
    spec: &SortSpec,
) -> Vec<Delayed<Partition>> {
    let n = parts.len();
    if n <= 1 {
        return parts
            .iter()
            .map(|p| tasks::sort::delayed(p, spec.clone()))
            .collect();
    }
    let samples: Vec<Delayed<Partition>> = parts
        .iter()
        .map(|p| tasks::sample::delayed(p, spec.clone(), 64usize))
        .collect();
    let bounds = tasks::boundaries::delayed(tasks::gather(&samples), spec.clone(), n);
    let splits: Vec<_> = parts
        .iter()
        .map(|p| tasks::range_split::delayed(p, &bounds, spec.clone(), n))
        .collect();
    crate::exchange::exchange(&splits, n)
        .iter()
        .map(|pieces| {
            tasks::sort::delayed(crate::exchange::concat_pieces(pieces, schema), spec.clone())
        })
        .collect()
}

/// The top-k's tasks: a partial sort per partition, then one merge.
pub(crate) fn lower_top_k(
    parts: &[Delayed<Partition>],
    schema: &SchemaRef,
    spec: &SortSpec,
    k: usize,
) -> Delayed<Partition> {
    if parts.is_empty() {
        return tasks::identity::delayed(Partition::empty(schema.clone()));
    }
    let tops: Vec<Delayed<Partition>> = parts
        .iter()
        .map(|p| tasks::top_k::delayed(p, spec.clone(), k))
        .collect();
    if tops.len() == 1 {
        return tops.into_iter().next().unwrap_or_else(|| unreachable!());
    }
    tasks::top_k_merge::delayed(tasks::gather(&tops), spec.clone(), k)
}

fn check_keys(schema: &SchemaRef, keys: &[SortKey]) -> Result<()> {
    if keys.is_empty() {
        return Err(FrameError::Invalid("a sort needs a column".into()));
    }
    for k in keys {
        let t = schema.field(index_of(schema, &k.column)?).data_type();
        if !RowConverter::supports_fields(&[SortField::new(t.clone())]) {
            return Err(FrameError::ty(&k.column, format!("cannot sort by {t}")));
        }
    }
    Ok(())
}

impl DataFrame {
    /// Sorted by `by`, all ascending or all descending (nulls last), as
    /// range partitions: every row of partition `j` sorts before every row
    /// of partition `j + 1`.
    pub fn sort_values(&self, by: &[&str], ascending: bool) -> Result<DataFrame> {
        self.sort(
            by.iter()
                .map(|c| if ascending { asc(c) } else { desc(c) })
                .collect(),
        )
    }

    /// Sorted by keys with their own direction and null placement
    /// (`sort(vec![desc("v3"), asc("id6").nulls_first()])`), as range
    /// partitions. `.head(k)` of a sort computes a top-k, not a full sort.
    pub fn sort(&self, keys: Vec<SortKey>) -> Result<DataFrame> {
        check_keys(self.schema(), &keys)?;
        let input = self.plan().clone();
        let (schema, n) = (input.schema.clone(), input.nparts);
        Ok(DataFrame::from_plan(Plan::new(
            Node::Sort {
                input,
                spec: SortSpec { keys },
            },
            schema,
            n,
        )))
    }

    /// The first `k` rows in the order of `keys`, in one partition, without
    /// sorting everything (each partition's top `k`, then the top of those).
    pub fn top_k(&self, keys: Vec<SortKey>, k: usize) -> Result<DataFrame> {
        check_keys(self.schema(), &keys)?;
        let input = self.plan().clone();
        let schema = input.schema.clone();
        Ok(DataFrame::from_plan(Plan::new(
            Node::TopK {
                input,
                spec: SortSpec { keys },
                k,
            },
            schema,
            1,
        )))
    }

    /// The `k` rows with the largest values of `column` (ties in row order).
    pub fn nlargest(&self, k: usize, column: &str) -> Result<DataFrame> {
        self.top_k(vec![desc(column)], k)
    }

    /// The `k` rows with the smallest values of `column`.
    pub fn nsmallest(&self, k: usize, column: &str) -> Result<DataFrame> {
        self.top_k(vec![asc(column)], k)
    }

    /// Sorted and range-partitioned by one column (Dask's `set_index`; the
    /// column stays a column: Arrow tables have no index).
    pub fn set_index(&self, column: &str) -> Result<DataFrame> {
        self.sort_values(&[column], true)
    }

    /// The same rows in `n` partitions of nearly equal length, in order.
    pub fn repartition(&self, n: usize) -> DataFrame {
        let n = n.max(1);
        let input = self.plan().clone();
        let schema = input.schema.clone();
        DataFrame::from_plan(Plan::new(Node::Repartition { input, n }, schema, n))
    }

    /// The first row of each distinct value of `subset` (every column when
    /// `None`); with several partitions, rows are first shuffled by those
    /// columns, so the output is partitioned by their hash.
    pub fn drop_duplicates(&self, subset: Option<&[&str]>) -> Result<DataFrame> {
        let cols: Vec<String> = match subset {
            Some(s) => s.iter().map(|c| c.to_string()).collect(),
            None => self.columns(),
        };
        for c in &cols {
            let t = self.schema().field(index_of(self.schema(), c)?).data_type();
            if !keys::key_type_ok(t) {
                return Err(FrameError::ty(c, format!("cannot compare values of {t}")));
            }
        }
        let input = self.plan().clone();
        let (schema, n) = (input.schema.clone(), input.nparts);
        Ok(DataFrame::from_plan(Plan::new(
            Node::Dedupe { input, cols },
            schema,
            n,
        )))
    }

    /// count, mean, std, min and max of every numeric column, as a table
    /// with a `statistic` column (one partition).
    pub fn describe(&self) -> Result<DataFrame> {
        let cols: Vec<String> = self
            .schema()
            .fields()
            .iter()
            .filter(|f| f.data_type().is_integer() || f.data_type().is_floating())
            .map(|f| f.name().clone())
            .collect();
        if cols.is_empty() {
            return Err(FrameError::Invalid("describe: no numeric column".into()));
        }
        let mut aggs = Vec::new();
        for c in &cols {
            for (f, s) in [
                (AggFunc::Count, "count"),
                (AggFunc::Mean, "mean"),
                (AggFunc::Std, "std"),
                (AggFunc::Min, "min"),
                (AggFunc::Max, "max"),
            ] {
                aggs.push(Agg::new(c.as_str(), f).alias(&format!("{c}__{s}")));
            }
        }
        let g = self.groupby(&[]).agg(aggs)?;
        let mut fields = vec![Field::new("statistic", DataType::Utf8, false)];
        fields.extend(cols.iter().map(|c| Field::new(c, DataType::Float64, true)));
        let input = g.plan().clone();
        let n = input.nparts;
        Ok(DataFrame::from_plan(Plan::new(
            Node::Describe { input, cols },
            Arc::new(Schema::new(fields)),
            n,
        )))
    }
}
