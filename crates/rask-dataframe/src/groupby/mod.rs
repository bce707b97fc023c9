//! Group-by aggregation in three steps, each a pure function of batches:
//!
//! 1. `partial`: one partition's rows to a *state* batch, one row per group
//!    seen there (or, when a prefix shows nearly one group per row, one row
//!    per input row, left for the merge to group): the key columns, then each aggregation's state columns
//!    (sum; count; sum and count for a mean; min; max; count, mean and sum of
//!    squared deviations for var/std; first or last non-null value).
//! 2. `merge`: several state batches (concatenated in partition order) to
//!    one, grouping again and merging states (sums add, counts add, min of
//!    mins, Chan's formula for var, first non-null in order), so a tree of
//!    merges gives the same states as one merge. Every plan merges at least
//!    once (a partial state may hold repeated keys).
//! 3. `finalize`: states to the output columns (mean = sum / count; var =
//!    m2 / (n - 1), null below two values; std = its root).
//!
//! `split` cuts a state batch by a deterministic hash of its keys, so that
//! bucket `j` of every partition holds the same keys and buckets merge
//! independently (the output in several partitions). Group order in the
//! output: by first appearance, merged in partition order. Null keys form
//! a group of their own.

pub(crate) mod kernels;
pub(crate) mod keys;

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::error::{FrameError, Result};
use crate::expr::{index_of, logical};

/// An aggregation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggFunc {
    /// Sum (0 for a group with no values); `Int64` for integers, `Float64` for floats.
    Sum,
    /// Arithmetic mean, `Float64`; null for no values.
    Mean,
    /// Number of non-null values, `Int64`.
    Count,
    /// Minimum (numbers widened to `Int64`/`Float64`; strings bytewise).
    Min,
    /// Maximum.
    Max,
    /// Sample variance (ddof = 1), `Float64`.
    Var,
    /// Sample standard deviation (ddof = 1), `Float64`.
    Std,
    /// First non-null value in row order.
    First,
    /// Last non-null value in row order.
    Last,
    /// Number of distinct non-null values, `Int64` (computed after a
    /// shuffle by the keys: one task sees every row of a group).
    NUnique,
}

impl AggFunc {
    fn name(self) -> &'static str {
        match self {
            AggFunc::Sum => "sum",
            AggFunc::Mean => "mean",
            AggFunc::Count => "count",
            AggFunc::Min => "min",
            AggFunc::Max => "max",
            AggFunc::Var => "var",
            AggFunc::Std => "std",
            AggFunc::First => "first",
            AggFunc::Last => "last",
            AggFunc::NUnique => "n_unique",
        }
    }
}

/// One aggregation: a function of a column, under an output name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agg {
    /// The input column.
    pub column: String,
    /// The function.
    pub func: AggFunc,
    /// The output column's name (default: the input column's).
    pub alias: Option<String>,
}

impl Agg {
    /// `func` of `column`, named after the column.
    pub fn new(column: &str, func: AggFunc) -> Self {
        Agg {
            column: column.to_string(),
            func,
            alias: None,
        }
    }
    /// The output column's name.
    pub fn alias(mut self, name: &str) -> Self {
        self.alias = Some(name.to_string());
        self
    }
    /// The output column's name.
    pub fn output_name(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.column)
    }
}

macro_rules! agg_ctors {
    ($($f:ident => $v:ident),*) => {$(
        #[doc = concat!("`", stringify!($f), "` of a column.")]
        pub fn $f(column: &str) -> Agg { Agg::new(column, AggFunc::$v) }
    )*};
}
agg_ctors!(sum => Sum, mean => Mean, count => Count, min => Min, max => Max, var => Var,
    std => Std, first => First, last => Last, n_unique => NUnique);

/// What a group-by computes: key columns and aggregations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupSpec {
    /// Key column names.
    pub keys: Vec<String>,
    /// Aggregations, in output order.
    pub aggs: Vec<Agg>,
}

impl GroupSpec {
    /// Checks the spec against the input schema and returns the state and
    /// output schemas; errors name the column.
    pub(crate) fn schemas(&self, input: &Schema) -> Result<(SchemaRef, SchemaRef)> {
        let mut state = Vec::new();
        let mut out = Vec::new();
        for k in &self.keys {
            let f = input.field(index_of(input, k)?);
            if !keys::key_type_ok(f.data_type()) {
                return Err(FrameError::ty(
                    k,
                    format!(
                        "a group key must be an integer, string or boolean column, not {}",
                        f.data_type()
                    ),
                ));
            }
            state.push(Field::new(k, f.data_type().clone(), true));
            out.push(Field::new(k, f.data_type().clone(), true));
        }
        let mut names: Vec<&str> = self.keys.iter().map(String::as_str).collect();
        for (i, a) in self.aggs.iter().enumerate() {
            let t = logical(input.field(index_of(input, &a.column)?).data_type());
            let numeric = t.is_integer() || t.is_floating() || t == DataType::Boolean;
            let wide = if t.is_floating() {
                DataType::Float64
            } else if numeric {
                DataType::Int64
            } else {
                t.clone()
            };
            let need_num = matches!(
                a.func,
                AggFunc::Sum | AggFunc::Mean | AggFunc::Var | AggFunc::Std
            );
            if need_num && !numeric {
                return Err(FrameError::ty(
                    &a.column,
                    format!("{} needs a numeric column, not {t}", a.func.name()),
                ));
            }
            if matches!(a.func, AggFunc::Min | AggFunc::Max)
                && !(numeric || matches!(t, DataType::Utf8 | DataType::LargeUtf8))
            {
                return Err(FrameError::ty(
                    &a.column,
                    format!("{} needs a number or a string, not {t}", a.func.name()),
                ));
            }
            let name = a.output_name();
            if names.contains(&name) {
                return Err(FrameError::Invalid(format!(
                    "two output columns named `{name}` (give the aggregation an alias)"
                )));
            }
            names.push(name);
            let s = |suffix: &str, t: DataType| Field::new(format!("__{i}_{suffix}"), t, true);
            let in_type = input.field(index_of(input, &a.column)?).data_type().clone();
            let (st, ot): (Vec<Field>, DataType) = match a.func {
                AggFunc::Sum => (vec![s("sum", wide.clone())], wide),
                AggFunc::Count => (vec![s("count", DataType::Int64)], DataType::Int64),
                AggFunc::Mean => (
                    vec![s("sum", DataType::Float64), s("count", DataType::Int64)],
                    DataType::Float64,
                ),
                AggFunc::Min | AggFunc::Max => {
                    let t = if numeric { wide } else { DataType::Utf8 };
                    (vec![s("mm", t.clone())], t)
                }
                AggFunc::Var | AggFunc::Std => (
                    vec![
                        s("count", DataType::Int64),
                        s("mean", DataType::Float64),
                        s("m2", DataType::Float64),
                    ],
                    DataType::Float64,
                ),
                AggFunc::First | AggFunc::Last => (vec![s("fl", in_type.clone())], in_type),
                AggFunc::NUnique => {
                    if !(keys::key_type_ok(&t) || t.is_floating()) {
                        return Err(FrameError::ty(
                            &a.column,
                            format!("n_unique cannot compare values of {t}"),
                        ));
                    }
                    (vec![s("nunique", DataType::Int64)], DataType::Int64)
                }
            };
            state.extend(st);
            out.push(Field::new(name, ot, true));
        }
        Ok((Arc::new(Schema::new(state)), Arc::new(Schema::new(out))))
    }
}

fn key_columns(batch: &RecordBatch, spec: &GroupSpec) -> Result<Vec<ArrayRef>> {
    spec.keys
        .iter()
        .map(|k| Ok(batch.column(index_of(batch.schema_ref(), k)?).clone()))
        .collect()
}

fn take_keys(keys: &[ArrayRef], rows: &[u32]) -> Result<Vec<ArrayRef>> {
    let idx = UInt32Array::from(rows.to_vec());
    keys.iter()
        .map(|k| Ok(take(k.as_ref(), &idx, None)?))
        .collect()
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
        let v = batch.column(index_of(batch.schema_ref(), &a.column)?);
        match a.func {
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
            AggFunc::Sum | AggFunc::Count => {
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
            AggFunc::Sum | AggFunc::Count | AggFunc::Min | AggFunc::Max => {
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
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
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
