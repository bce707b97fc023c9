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
//! `j + 1`'s; each bucket is then sorted. Nulls sort last.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow::compute::{concat_batches, lexsort_to_indices, SortColumn, SortOptions};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::row::{RowConverter, SortField};
use rask_core::Delayed;
use serde::{Deserialize, Serialize};

use crate::error::{FrameError, Result};
use crate::expr::index_of;
use crate::frame::{take_batch, DataFrame};
use crate::groupby::{keys, Agg, AggFunc};
use crate::partition::Partition;
use crate::tasks;

/// Sort keys and direction (the argument of the sort tasks).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SortSpec {
    /// Columns, most significant first.
    pub by: Vec<String>,
    /// Ascending (else descending); nulls last either way.
    pub ascending: bool,
}

impl SortSpec {
    fn options(&self) -> SortOptions {
        SortOptions {
            descending: !self.ascending,
            nulls_first: false,
        }
    }

    fn columns(&self, b: &RecordBatch) -> Result<Vec<ArrayRef>> {
        self.by
            .iter()
            .map(|c| Ok(b.column(index_of(b.schema_ref(), c)?).clone()))
            .collect()
    }

    fn converter(&self, cols: &[ArrayRef]) -> Result<RowConverter> {
        let fields = cols
            .iter()
            .map(|c| SortField::new_with_options(c.data_type().clone(), self.options()))
            .collect();
        Ok(RowConverter::new(fields)?)
    }
}

/// A batch sorted.
pub(crate) fn sort_batch(b: &RecordBatch, spec: &SortSpec) -> Result<RecordBatch> {
    if b.num_rows() <= 1 {
        return Ok(b.clone());
    }
    let cols: Vec<SortColumn> = spec
        .columns(b)?
        .into_iter()
        .map(|values| SortColumn {
            values,
            options: Some(spec.options()),
        })
        .collect();
    let idx = lexsort_to_indices(&cols, None)?;
    take_batch(b, idx.values())
}

/// Up to `m` key rows at even positions of a partition.
pub(crate) fn sample(b: &RecordBatch, spec: &SortSpec, m: usize) -> Result<RecordBatch> {
    let keys = b.project(
        &spec
            .by
            .iter()
            .map(|c| index_of(b.schema_ref(), c))
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

impl DataFrame {
    /// Sorted by `by` (nulls last), as range partitions: every row of
    /// partition `j` sorts before every row of partition `j + 1`.
    pub fn sort_values(&self, by: &[&str], ascending: bool) -> Result<DataFrame> {
        let spec = SortSpec {
            by: by.iter().map(|s| s.to_string()).collect(),
            ascending,
        };
        if spec.by.is_empty() {
            return Err(FrameError::Invalid("sort_values needs a column".into()));
        }
        for c in &spec.by {
            let t = self.schema().field(index_of(self.schema(), c)?).data_type();
            if !RowConverter::supports_fields(&[SortField::new(t.clone())]) {
                return Err(FrameError::ty(c, format!("cannot sort by {t}")));
            }
        }
        let n = self.npartitions();
        if n <= 1 {
            let parts = self
                .partitions()
                .iter()
                .map(|p| tasks::sort::delayed(p, spec.clone()))
                .collect();
            return Ok(DataFrame::from_partitions(self.schema().clone(), parts));
        }
        let samples: Vec<Delayed<Partition>> = self
            .partitions()
            .iter()
            .map(|p| tasks::sample::delayed(p, spec.clone(), 64usize))
            .collect();
        let bounds = tasks::boundaries::delayed(tasks::gather(&samples), spec.clone(), n);
        let splits: Vec<_> = self
            .partitions()
            .iter()
            .map(|p| tasks::range_split::delayed(p, &bounds, spec.clone(), n))
            .collect();
        let parts = (0..n)
            .map(|j| {
                let pieces: Vec<_> = splits.iter().map(|s| tasks::pick::delayed(s, j)).collect();
                tasks::sort::delayed(tasks::concat::delayed(tasks::gather(&pieces)), spec.clone())
            })
            .collect();
        Ok(DataFrame::from_partitions(self.schema().clone(), parts))
    }

    /// Sorted and range-partitioned by one column (Dask's `set_index`; the
    /// column stays a column: Arrow tables have no index).
    pub fn set_index(&self, column: &str) -> Result<DataFrame> {
        self.sort_values(&[column], true)
    }

    /// The same rows in `n` partitions of nearly equal length, in order.
    pub fn repartition(&self, n: usize) -> DataFrame {
        let n = n.max(1);
        let all = self.to_delayed();
        let parts = (0..n).map(|k| tasks::slice::delayed(&all, k, n)).collect();
        DataFrame::from_partitions(self.schema().clone(), parts)
    }

    /// The first row of each distinct value of `subset` (every column when
    /// `None`); with several partitions, rows are first shuffled by those
    /// columns, so the output is partitioned by their hash.
    pub fn drop_duplicates(&self, subset: Option<&[&str]>) -> Result<DataFrame> {
        let cols: Vec<String> = match subset {
            Some(s) => s.iter().map(|c| c.to_string()).collect(),
            None => self.columns(),
        };
        let refs: Vec<&str> = cols.iter().map(String::as_str).collect();
        let base = if self.npartitions() > 1 {
            self.shuffle(&refs, self.npartitions())?
        } else {
            for c in &refs {
                let t = self.schema().field(index_of(self.schema(), c)?).data_type();
                let lt = crate::expr::logical(t);
                if !keys::key_type_ok(&lt) && !lt.is_floating() {
                    return Err(FrameError::ty(*c, format!("cannot compare values of {t}")));
                }
            }
            self.clone()
        };
        let parts = base
            .partitions()
            .iter()
            .map(|p| tasks::dedupe::delayed(p, cols.clone()))
            .collect();
        Ok(DataFrame::from_partitions(self.schema().clone(), parts))
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
                aggs.push(Agg::new(c, f).alias(&format!("{c}__{s}")));
            }
        }
        let g = self.groupby(&[]).agg(aggs)?;
        let mut fields = vec![Field::new("statistic", DataType::Utf8, false)];
        fields.extend(cols.iter().map(|c| Field::new(c, DataType::Float64, true)));
        let parts = g
            .partitions()
            .iter()
            .map(|p| tasks::describe::delayed(p, cols.clone()))
            .collect();
        Ok(DataFrame::from_partitions(
            Arc::new(Schema::new(fields)),
            parts,
        ))
    }
}
