//! A group-by as tasks: partial states per partition, merged in a tree of
//! `fan_in` states at a time, finalized per output partition. With
//! `split_out: None` the output has as many partitions as the input and the
//! split by key hash is decided at run time from the partial states' total
//! size (above [`AUTO_SPLIT_ROWS`]); `n_unique` shuffles rows by the keys
//! first, so one task sees every row of a group.

use arrow::datatypes::SchemaRef;
use rask_core::Delayed;

use super::{Agg, AggFunc, GroupSpec};
use crate::error::Result;
use crate::exchange::{concat_all, exchange, hash_shuffle};
use crate::frame::{sum_all, DataFrame};
use crate::partition::Partition;
use crate::plan;
use crate::tasks;

/// Above this many partial-state rows in all (an upper bound of the number
/// of groups), an automatic group-by splits its output by key hash, so
/// that the merges run in parallel. Below it one task merges every state:
/// at 256K rows that takes a few milliseconds, about what the split costs.
pub const AUTO_SPLIT_ROWS: u64 = 1 << 18;

/// A pending group-by; see [`DataFrame::groupby`].
#[derive(Debug)]
pub struct GroupBy<'a> {
    pub(crate) df: &'a DataFrame,
    pub(crate) keys: Vec<String>,
    /// `None`: automatic (see [`GroupBy::split_out`]).
    pub(crate) split_out: Option<usize>,
    pub(crate) fan_in: usize,
}

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

    /// The aggregations: `agg(vec![sum("v1"), mean("v3"), len()])`; an
    /// aggregation's input may be an expression
    /// (`sum(col("v1") * col("v2")).alias("x")`).
    pub fn agg(self, aggs: Vec<Agg>) -> Result<DataFrame> {
        let spec = GroupSpec {
            keys: self.keys,
            aggs,
        };
        Ok(DataFrame::from_plan(plan::aggregate(
            self.df.plan().clone(),
            spec,
            self.split_out,
            self.fan_in,
        )?))
    }
}

fn has_n_unique(spec: &GroupSpec) -> bool {
    spec.aggs.iter().any(|a| a.func == AggFunc::NUnique)
}

/// How many partitions a group-by makes.
pub(crate) fn output_partitions(spec: &GroupSpec, split_out: Option<usize>, input: usize) -> usize {
    if has_n_unique(spec) {
        let n = split_out.unwrap_or(1);
        return if spec.keys.is_empty() { 1 } else { n };
    }
    match split_out {
        Some(n) => n,
        None if spec.keys.is_empty() => 1,
        None => input.max(1),
    }
}

/// The group-by's tasks over the input's partitions.
pub(crate) fn lower(
    parts: &[Delayed<Partition>],
    input_schema: &SchemaRef,
    spec: &GroupSpec,
    split_out: Option<usize>,
    fan_in: usize,
) -> Result<Vec<Delayed<Partition>>> {
    let (state_schema, _) = spec.schemas(input_schema)?;
    let n = output_partitions(spec, split_out, parts.len());
    if has_n_unique(spec) {
        // Every row of a group in one task: shuffle by the keys first.
        let buckets: Vec<Delayed<Partition>> = if n == 1 {
            vec![concat_all(parts, input_schema)]
        } else {
            hash_shuffle(parts, &spec.keys, n, input_schema)
        };
        return Ok(buckets
            .iter()
            .map(|b| {
                let st = tasks::groupby_partial::delayed(b, spec.clone());
                tasks::groupby_finalize::delayed(st, spec.clone())
            })
            .collect());
    }
    let partials: Vec<Delayed<Partition>> = if parts.is_empty() {
        vec![tasks::identity::delayed(Partition::empty(state_schema))]
    } else {
        parts
            .iter()
            .map(|p| tasks::groupby_partial::delayed(p, spec.clone()))
            .collect()
    };
    let merged: Vec<Delayed<Partition>> = if n == 1 {
        vec![tree_merge(partials, spec, fan_in)]
    } else {
        let splits: Vec<Delayed<Vec<Partition>>> = if split_out.is_some() {
            partials
                .iter()
                .map(|p| tasks::hash_split::delayed(p, spec.keys.clone(), n))
                .collect()
        } else {
            // Decided at run time from the partial states' total size.
            let counts: Vec<Delayed<u64>> = partials.iter().map(tasks::num_rows::delayed).collect();
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
        exchange(&splits, n)
            .into_iter()
            .map(|pieces| tree_merge(pieces, spec, fan_in))
            .collect()
    };
    Ok(merged
        .iter()
        .map(|m| tasks::groupby_finalize::delayed(m, spec.clone()))
        .collect())
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
