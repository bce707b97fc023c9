//! [`DataFrame`]: a schema and a list of delayed partitions.
//!
//! Invariants: every partition's batch has exactly `schema` (same names,
//! types and order); every operation checks its columns and types against
//! the schema when it is called, so an unknown column or a type error is a
//! [`FrameError`] before any task runs; operations only add tasks, nothing
//! runs until `collect`/`compute`.

use std::sync::Arc;

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{Field, Schema, SchemaRef};
use rask_core::{Delayed, Executor};

use crate::error::{FrameError, Result};
use crate::expr::{col, Expr};
use crate::groupby::{Agg, GroupSpec};
use crate::partition::Partition;
use crate::tasks;

/// A partitioned table.
#[derive(Clone, Debug)]
pub struct DataFrame {
    schema: SchemaRef,
    parts: Vec<Delayed<Partition>>,
}

/// The rows of `batch` at `rows`, in that order.
pub(crate) fn take_batch(batch: &RecordBatch, rows: &[u32]) -> Result<RecordBatch> {
    let idx = UInt32Array::from(rows.to_vec());
    let cols = batch
        .columns()
        .iter()
        .map(|c| Ok(take(c.as_ref(), &idx, None)?))
        .collect::<Result<Vec<_>>>()?;
    let opts = arrow::array::RecordBatchOptions::new().with_row_count(Some(rows.len()));
    Ok(RecordBatch::try_new_with_options(
        batch.schema(),
        cols,
        &opts,
    )?)
}

impl DataFrame {
    /// A dataframe over delayed partitions that the caller promises to have `schema`.
    pub fn from_partitions(schema: SchemaRef, parts: Vec<Delayed<Partition>>) -> Self {
        DataFrame { schema, parts }
    }

    /// One partition per batch; every batch must have the first one's schema.
    pub fn from_record_batches(batches: Vec<RecordBatch>) -> Result<Self> {
        let Some(first) = batches.first() else {
            return Err(FrameError::Invalid(
                "from_record_batches needs at least one batch (its schema)".into(),
            ));
        };
        let schema = first.schema();
        for (i, b) in batches.iter().enumerate() {
            if b.schema().fields() != schema.fields() {
                return Err(FrameError::Schema(format!(
                    "batch {i} has schema {:?}, batch 0 has {:?}",
                    b.schema().fields(),
                    schema.fields()
                )));
            }
        }
        let parts = batches
            .into_iter()
            .map(|b| tasks::identity::delayed(Partition(b)))
            .collect();
        Ok(DataFrame { schema, parts })
    }

    /// The schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The column names.
    pub fn columns(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// Number of partitions.
    pub fn npartitions(&self) -> usize {
        self.parts.len()
    }

    /// The delayed partitions.
    pub fn partitions(&self) -> &[Delayed<Partition>] {
        &self.parts
    }

    /// Computes every partition now and returns a dataframe over the values
    /// (what Dask's `persist` does).
    pub fn persist<E: Executor + ?Sized>(&self, executor: &E) -> Result<DataFrame> {
        let all = tasks::gather(&self.parts).compute(executor)?;
        Ok(DataFrame {
            schema: self.schema.clone(),
            parts: all.into_iter().map(tasks::identity::delayed).collect(),
        })
    }

    /// The same table with one shared dictionary per dictionary-encoded
    /// string column (see `ParquetOptions::strings_as_dictionary`), so that
    /// concatenations and merges never re-hash strings. One task sees every
    /// partition: do it once, before `persist`.
    pub fn unify_dictionaries(&self) -> DataFrame {
        let all = tasks::unify_dictionaries::delayed(tasks::gather(&self.parts));
        let parts = (0..self.parts.len())
            .map(|i| tasks::pick::delayed(&all, i))
            .collect();
        DataFrame {
            schema: self.schema.clone(),
            parts,
        }
    }

    /// The whole table as one delayed partition.
    pub fn to_delayed(&self) -> Delayed<Partition> {
        if self.parts.is_empty() {
            return tasks::identity::delayed(Partition::empty(self.schema.clone()));
        }
        let ncols = self.schema.fields().len();
        if self.parts.len() == 1 || ncols < 2 {
            return tasks::concat::delayed(tasks::gather(&self.parts));
        }
        // Columns concatenated in groups by parallel tasks, then put side by
        // side (no copy): the concatenation is the bulk of the work.
        let all = tasks::gather(&self.parts);
        let groups = ncols.min(4);
        let pieces: Vec<Delayed<Partition>> = (0..groups)
            .map(|g| {
                let cols: Vec<usize> = (g * ncols / groups..(g + 1) * ncols / groups).collect();
                tasks::concat_columns::delayed(&all, cols)
            })
            .collect();
        tasks::side_by_side::delayed(tasks::gather(&pieces))
    }

    /// Computes the whole table into one record batch.
    pub fn collect<E: Executor + ?Sized>(&self, executor: &E) -> Result<RecordBatch> {
        Ok(self.to_delayed().compute(executor)?.0)
    }

    /// The number of rows, lazily.
    pub fn len(&self) -> Delayed<u64> {
        let counts: Vec<Delayed<u64>> = self.parts.iter().map(tasks::num_rows::delayed).collect();
        sum_all(&counts)
    }

    /// Whether the table has no rows, lazily.
    pub fn is_empty(&self) -> Delayed<bool> {
        tasks::is_zero::delayed(self.len())
    }

    /// Computes the number of rows.
    pub fn count_rows<E: Executor + ?Sized>(&self, executor: &E) -> Result<u64> {
        Ok(self.len().compute(executor)?)
    }

    /// Columns from expressions (`col("a")`, `(col("a") * 2).alias("b")`, ...).
    pub fn select(&self, exprs: Vec<Expr>) -> Result<DataFrame> {
        let mut fields = Vec::with_capacity(exprs.len());
        for e in &exprs {
            let t = e.data_type(&self.schema)?;
            let name = e.name();
            if fields.iter().any(|f: &Field| f.name() == &name) {
                return Err(FrameError::Invalid(format!(
                    "two output columns named `{name}` (alias one)"
                )));
            }
            let nullable = match e {
                Expr::Col(n) => self
                    .schema
                    .field_with_name(n)
                    .map_or(true, |f| f.is_nullable()),
                _ => true,
            };
            fields.push(Field::new(name, t, nullable));
        }
        let parts = self
            .parts
            .iter()
            .map(|p| tasks::select::delayed(p, exprs.clone()))
            .collect();
        Ok(DataFrame {
            schema: Arc::new(Schema::new(fields)),
            parts,
        })
    }

    /// The table with a column added (or replaced, in place).
    pub fn with_column(&self, name: &str, expr: Expr) -> Result<DataFrame> {
        let mut exprs: Vec<Expr> = self
            .schema
            .fields()
            .iter()
            .map(|f| {
                if f.name() == name {
                    expr.clone().alias(name)
                } else {
                    col(f.name())
                }
            })
            .collect();
        if self.schema.index_of(name).is_err() {
            exprs.push(expr.alias(name));
        }
        self.select(exprs)
    }

    /// The rows where `predicate` is true (null counts as false).
    pub fn filter(&self, predicate: Expr) -> Result<DataFrame> {
        let t = predicate.data_type(&self.schema)?;
        if t != arrow::datatypes::DataType::Boolean {
            return Err(FrameError::ty(
                predicate.to_string(),
                format!("a filter must be boolean, not {t}"),
            ));
        }
        let parts = self
            .parts
            .iter()
            .map(|p| tasks::filter::delayed(p, predicate.clone()))
            .collect();
        Ok(DataFrame {
            schema: self.schema.clone(),
            parts,
        })
    }

    /// The first `n` rows, as a one-partition dataframe.
    pub fn head(&self, n: usize) -> DataFrame {
        let heads: Vec<Delayed<Partition>> = self
            .parts
            .iter()
            .map(|p| tasks::head::delayed(p, n))
            .collect();
        let all = DataFrame {
            schema: self.schema.clone(),
            parts: heads,
        };
        DataFrame {
            schema: self.schema.clone(),
            parts: vec![tasks::head::delayed(all.to_delayed(), n)],
        }
    }

    /// Applies a registered per-partition function (`|p| my_task::delayed(p)`)
    /// whose output has `schema`.
    pub fn map_partitions<F>(&self, f: F, schema: SchemaRef) -> DataFrame
    where
        F: Fn(&Delayed<Partition>) -> Delayed<Partition>,
    {
        DataFrame {
            schema,
            parts: self.parts.iter().map(f).collect(),
        }
    }

    /// Groups by key columns; finish with [`GroupBy::agg`].
    pub fn groupby(&self, keys: &[&str]) -> GroupBy<'_> {
        GroupBy {
            df: self,
            keys: keys.iter().map(|k| k.to_string()).collect(),
            split_out: None,
            fan_in: 8,
        }
    }
}

/// A pending group-by; see [`DataFrame::groupby`].
#[derive(Debug)]
pub struct GroupBy<'a> {
    df: &'a DataFrame,
    keys: Vec<String>,
    /// `None`: automatic (see [`GroupBy::split_out`]).
    split_out: Option<usize>,
    fan_in: usize,
}

/// Above this many partial-state rows in all (an upper bound of the number
/// of groups), an automatic group-by splits its output by key hash.
pub const AUTO_SPLIT_ROWS: u64 = 1_000_000;

impl GroupBy<'_> {
    /// Output partitions, by a hash of the keys; 1 merges the partial
    /// states in a tree into one partition. By default it is decided while
    /// computing: the output has as many partitions as the input, and when
    /// the partial states hold at most [`AUTO_SPLIT_ROWS`] rows in all every
    /// group goes to the first of them (the others are empty), otherwise
    /// groups are spread by key hash.
    pub fn split_out(mut self, n: usize) -> Self {
        self.split_out = Some(n.max(1));
        self
    }

    /// How many states one merge task takes in the tree (default 8).
    pub fn fan_in(mut self, n: usize) -> Self {
        self.fan_in = n.max(2);
        self
    }

    /// The aggregations: `agg(vec![sum("v1"), mean("v3")])`.
    pub fn agg(self, aggs: Vec<Agg>) -> Result<DataFrame> {
        let spec = GroupSpec {
            keys: self.keys,
            aggs,
        };
        let (state_schema, out_schema) = spec.schemas(&self.df.schema)?;
        if spec
            .aggs
            .iter()
            .any(|a| a.func == crate::groupby::AggFunc::NUnique)
        {
            // Every row of a group in one task: shuffle by the keys first.
            let n = self.split_out.unwrap_or(1);
            let buckets: Vec<Delayed<Partition>> = if spec.keys.is_empty() || n == 1 {
                vec![self.df.to_delayed()]
            } else {
                let keys: Vec<&str> = spec.keys.iter().map(String::as_str).collect();
                self.df.shuffle(&keys, n)?.parts
            };
            let parts = buckets
                .iter()
                .map(|b| {
                    let st = tasks::groupby_partial::delayed(b, spec.clone());
                    tasks::groupby_finalize::delayed(st, spec.clone())
                })
                .collect();
            return Ok(DataFrame {
                schema: out_schema,
                parts,
            });
        }
        let partials: Vec<Delayed<Partition>> = if self.df.parts.is_empty() {
            vec![tasks::identity::delayed(Partition::empty(state_schema))]
        } else {
            self.df
                .parts
                .iter()
                .map(|p| tasks::groupby_partial::delayed(p, spec.clone()))
                .collect()
        };
        let n = match self.split_out {
            Some(n) => n,
            None if spec.keys.is_empty() => 1,
            None => self.df.parts.len().max(1),
        };
        let merged: Vec<Delayed<Partition>> = if n == 1 {
            vec![tree_merge(partials, &spec, self.fan_in)]
        } else {
            let splits: Vec<Delayed<Vec<Partition>>> = if self.split_out.is_some() {
                partials
                    .iter()
                    .map(|p| tasks::hash_split::delayed(p, spec.keys.clone(), n))
                    .collect()
            } else {
                // Decided at run time from the partial states' total size.
                let counts: Vec<Delayed<u64>> =
                    partials.iter().map(tasks::num_rows::delayed).collect();
                let total = sum_all(&counts);
                partials
                    .iter()
                    .map(|p| {
                        tasks::hash_split_above::delayed(
                            p,
                            spec.keys.clone(),
                            n,
                            &total,
                            AUTO_SPLIT_ROWS,
                        )
                    })
                    .collect()
            };
            (0..n)
                .map(|j| {
                    let pieces: Vec<Delayed<Partition>> =
                        splits.iter().map(|s| tasks::pick::delayed(s, j)).collect();
                    tree_merge(pieces, &spec, self.fan_in)
                })
                .collect()
        };
        let parts = merged
            .iter()
            .map(|m| tasks::groupby_finalize::delayed(m, spec.clone()))
            .collect();
        Ok(DataFrame {
            schema: out_schema,
            parts,
        })
    }
}

/// Merges states `fan_in` at a time until one is left.
fn tree_merge(
    mut level: Vec<Delayed<Partition>>,
    spec: &GroupSpec,
    fan_in: usize,
) -> Delayed<Partition> {
    if level.is_empty() {
        return tasks::groupby_merge::delayed(tasks::gather(&[]), spec.clone());
    }
    // At least one merge: partial states may repeat keys.
    loop {
        level = level
            .chunks(fan_in)
            .map(|c| tasks::groupby_merge::delayed(tasks::gather(c), spec.clone()))
            .collect();
        if level.len() <= 1 {
            if let Some(one) = level.pop() {
                return one;
            }
        }
    }
}

/// The sum of delayed counts, as a binary tree.
/// Writes each partition with `write(partition, "dir/part.N.ext")` (making
/// `dir`); the delayed value is the total of what the writes return (rows).
pub(crate) fn write_parts(
    df: &DataFrame,
    dir: &str,
    ext: &str,
    write: impl Fn(&Delayed<Partition>, String) -> Delayed<u64>,
) -> Result<Delayed<u64>> {
    std::fs::create_dir_all(dir).map_err(|e| FrameError::io(dir, e))?;
    let counts: Vec<Delayed<u64>> = df
        .partitions()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let path = std::path::Path::new(dir).join(format!("part.{i}.{ext}"));
            write(p, path.display().to_string())
        })
        .collect();
    Ok(sum_all(&counts))
}

pub(crate) fn sum_all(v: &[Delayed<u64>]) -> Delayed<u64> {
    match v {
        [] => tasks::sum_counts::delayed(0u64, 0u64),
        [one] => one.clone(),
        _ => {
            let (a, b) = v.split_at(v.len() / 2);
            tasks::sum_counts::delayed(sum_all(a), sum_all(b))
        }
    }
}
