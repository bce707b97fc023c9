//! [`DataFrame`]: a logical plan (see `plan/`), lowered to tasks when it
//! is computed.
//!
//! Invariants: the schema is the plan's, and every lowered partition has
//! exactly it (names, types, order); every operation checks its columns
//! and types against the schema when it is called, so an unknown column or
//! a type error is a [`FrameError`] before any task runs; operations only
//! add plan nodes, nothing runs until `collect`/`compute`/`persist`.

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{DataType, SchemaRef};
use rask_core::{Delayed, Executor};

use crate::error::{FrameError, Result};
use crate::exchange::concat_all;
use crate::expr::{col, Expr};
use crate::groupby::GroupBy;
use crate::partition::Partition;
use crate::plan::{self, Node, Plan, PlanRef};
use crate::tasks;

/// A partitioned table: a plan of operations over files or partitions.
#[derive(Clone, Debug)]
pub struct DataFrame {
    plan: PlanRef,
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
    pub(crate) fn from_plan(plan: PlanRef) -> Self {
        DataFrame { plan }
    }

    pub(crate) fn plan(&self) -> &PlanRef {
        &self.plan
    }

    /// A dataframe over delayed partitions that the caller promises to have `schema`.
    pub fn from_partitions(schema: SchemaRef, parts: Vec<Delayed<Partition>>) -> Self {
        DataFrame::from_plan(plan::source(schema, parts))
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
        Ok(DataFrame::from_partitions(schema, parts))
    }

    /// The schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.plan.schema
    }

    /// The column names.
    pub fn columns(&self) -> Vec<String> {
        self.schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// Number of partitions.
    pub fn npartitions(&self) -> usize {
        self.plan.nparts
    }

    /// The plan optimized and turned into tasks: one delayed value per
    /// partition.
    pub fn partitions(&self) -> Result<Vec<Delayed<Partition>>> {
        let p = plan::optimize::optimize(&self.plan)?;
        plan::lower::lower(&p)
    }

    /// The optimized plan, one operation per line (inputs indented below
    /// the operation that reads them; a shared input is printed once).
    pub fn explain(&self) -> Result<String> {
        let p = plan::optimize::optimize(&self.plan)?;
        Ok(plan::explain::explain(&p))
    }

    /// The plan as written, before the optimizer.
    pub fn explain_unoptimized(&self) -> String {
        plan::explain::explain(&self.plan)
    }

    /// Computes every partition now and returns a dataframe over the values
    /// (what Dask's `persist` does).
    pub fn persist<E: Executor + ?Sized>(&self, executor: &E) -> Result<DataFrame> {
        let all = tasks::gather(&self.partitions()?).compute(executor)?;
        Ok(DataFrame::from_partitions(
            self.schema().clone(),
            all.into_iter().map(tasks::identity::delayed).collect(),
        ))
    }

    /// The same table with one shared dictionary per dictionary-encoded
    /// string column (see `ParquetOptions::strings_as_dictionary`), so that
    /// concatenations and merges never re-hash strings. One task sees every
    /// partition: do it once, before `persist`.
    pub fn unify_dictionaries(&self) -> DataFrame {
        let input = self.plan.clone();
        let (schema, n) = (input.schema.clone(), input.nparts);
        DataFrame::from_plan(Plan::new(Node::Unify { input }, schema, n))
    }

    /// The whole table as one delayed partition.
    pub fn to_delayed(&self) -> Result<Delayed<Partition>> {
        let parts = self.partitions()?;
        if parts.is_empty() {
            return Ok(tasks::identity::delayed(Partition::empty(
                self.schema().clone(),
            )));
        }
        Ok(concat_all(&parts, self.schema()))
    }

    /// Computes the whole table into one record batch.
    pub fn collect<E: Executor + ?Sized>(&self, executor: &E) -> Result<RecordBatch> {
        Ok(self.to_delayed()?.compute(executor)?.0)
    }

    /// The number of rows, lazily.
    pub fn len(&self) -> Result<Delayed<u64>> {
        let counts: Vec<Delayed<u64>> = self
            .partitions()?
            .iter()
            .map(tasks::num_rows::delayed)
            .collect();
        Ok(sum_all(&counts))
    }

    /// Whether the table has no rows, lazily.
    pub fn is_empty(&self) -> Result<Delayed<bool>> {
        Ok(tasks::is_zero::delayed(self.len()?))
    }

    /// Computes the number of rows.
    pub fn count_rows<E: Executor + ?Sized>(&self, executor: &E) -> Result<u64> {
        Ok(self.len()?.compute(executor)?)
    }

    /// Columns from expressions (`col("a")`, `(col("a") * 2).alias("b")`, ...).
    pub fn select(&self, exprs: Vec<Expr>) -> Result<DataFrame> {
        Ok(DataFrame::from_plan(plan::select(
            self.plan.clone(),
            exprs,
        )?))
    }

    /// The table with a column added (or replaced, in place).
    pub fn with_column(&self, name: &str, expr: Expr) -> Result<DataFrame> {
        self.with_columns(vec![expr.alias(name)])
    }

    /// The table with columns added or replaced (each expression under its
    /// name; all are computed from the table as it was).
    pub fn with_columns(&self, exprs: Vec<Expr>) -> Result<DataFrame> {
        let mut out: Vec<Expr> = self.columns().iter().map(|c| col(c)).collect();
        for e in exprs {
            let name = e.name();
            let e = e.alias(&name);
            match self.schema().index_of(&name) {
                Ok(i) => out[i] = e,
                Err(_) => out.push(e),
            }
        }
        self.select(out)
    }

    /// The table without some columns.
    pub fn drop(&self, columns: &[&str]) -> Result<DataFrame> {
        for c in columns {
            crate::expr::index_of(self.schema(), c)?;
        }
        let keep = self
            .columns()
            .iter()
            .filter(|c| !columns.contains(&c.as_str()))
            .map(|c| col(c))
            .collect();
        self.select(keep)
    }

    /// The table with columns renamed (`[("old", "new")]`).
    pub fn rename(&self, pairs: &[(&str, &str)]) -> Result<DataFrame> {
        for (old, _) in pairs {
            crate::expr::index_of(self.schema(), old)?;
        }
        let exprs = self
            .columns()
            .iter()
            .map(|c| match pairs.iter().find(|(o, _)| o == c) {
                Some((_, new)) => col(c).alias(new),
                None => col(c),
            })
            .collect();
        self.select(exprs)
    }

    /// The rows where `predicate` is true (null counts as false).
    pub fn filter(&self, predicate: Expr) -> Result<DataFrame> {
        let t = predicate.data_type(self.schema())?;
        if t != DataType::Boolean {
            return Err(FrameError::ty(
                predicate.to_string(),
                format!("a filter must be boolean, not {t}"),
            ));
        }
        Ok(DataFrame::from_plan(plan::filter(
            self.plan.clone(),
            predicate,
        )))
    }

    /// The first `n` rows, as a one-partition dataframe.
    pub fn head(&self, n: usize) -> DataFrame {
        let input = self.plan.clone();
        let schema = input.schema.clone();
        DataFrame::from_plan(Plan::new(Node::Head { input, n }, schema, 1))
    }

    /// Applies a registered per-partition function (`|p| my_task::delayed(p)`)
    /// whose output has `schema`. The optimizer cannot see through `f`: the
    /// plan so far is optimized and lowered here.
    pub fn map_partitions<F>(&self, f: F, schema: SchemaRef) -> Result<DataFrame>
    where
        F: Fn(&Delayed<Partition>) -> Delayed<Partition>,
    {
        let parts = self.partitions()?.iter().map(f).collect();
        Ok(DataFrame::from_partitions(schema, parts))
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
        .partitions()?
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let path = std::path::Path::new(dir).join(format!("part.{i}.{ext}"));
            write(p, path.display().to_string())
        })
        .collect();
    Ok(sum_all(&counts))
}

/// The sum of delayed counts, as a binary tree.
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
