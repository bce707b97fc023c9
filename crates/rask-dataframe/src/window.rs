//! Window functions: values computed over the rows of a *window group*
//! (the rows with equal `partition_by` keys), in `order_by` order, added to
//! every row as new columns: cumulative sum, count, min and max, row
//! number, rank, dense rank and shift (lag/lead).
//!
//! A partitioned engine can do these when a group's rows are in one task:
//! the rows are first shuffled by the `partition_by` keys (into as many
//! partitions as the input), then each partition computes its groups. With
//! no `partition_by` the whole table is one group and is gathered into one
//! partition (correct, but one task does the work). Within a partition the
//! rows keep the shuffle's order (input order per group); ties in
//! `order_by` are broken by that order. Nulls in the input of a cumulative
//! function stay null and are skipped by the running value.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, UInt32Array};
use arrow::compute::{cast, lexsort_to_indices, take, SortColumn, SortOptions};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};
use rask_core::Delayed;
use serde::{Deserialize, Serialize};

use crate::error::{FrameError, Result};
use crate::exchange::{concat_all, hash_shuffle};
use crate::expr::{index_of, logical};
use crate::frame::DataFrame;
use crate::groupby::keys;
use crate::partition::Partition;
use crate::plan;
use crate::sort::SortKey;
use crate::tasks;

/// A window function.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WindowFunc {
    /// Running sum of a numeric column (`Int64` or `Float64`).
    CumSum,
    /// Running count of non-null values.
    CumCount,
    /// Running minimum.
    CumMin,
    /// Running maximum.
    CumMax,
    /// 1, 2, 3, ... in order.
    RowNumber,
    /// 1 + the rows that sort strictly before (ties share, gaps after).
    Rank,
    /// Like rank, without gaps.
    DenseRank,
    /// The value `n` rows earlier in the group (negative: later); null
    /// where there is none.
    Shift(i64),
}

/// One window column: a function of an input column, under a name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WindowExpr {
    /// The function.
    pub func: WindowFunc,
    /// The input column (ignored by row number and the ranks).
    pub input: Option<String>,
    /// The output column's name.
    pub alias: String,
}

macro_rules! window_ctors {
    ($($f:ident => $v:ident),*) => {$(
        #[doc = concat!("`", stringify!($f), "` of a column, named `alias`.")]
        pub fn $f(column: &str, alias: &str) -> WindowExpr {
            WindowExpr { func: WindowFunc::$v, input: Some(column.to_string()), alias: alias.to_string() }
        }
    )*};
}
window_ctors!(cum_sum => CumSum, cum_count => CumCount, cum_min => CumMin, cum_max => CumMax);

/// The row's number in its group, named `alias`.
pub fn row_number(alias: &str) -> WindowExpr {
    WindowExpr {
        func: WindowFunc::RowNumber,
        input: None,
        alias: alias.to_string(),
    }
}

/// The row's rank in its group (by `order_by`), named `alias`.
pub fn rank(alias: &str) -> WindowExpr {
    WindowExpr {
        func: WindowFunc::Rank,
        ..row_number(alias)
    }
}

/// The row's dense rank in its group, named `alias`.
pub fn dense_rank(alias: &str) -> WindowExpr {
    WindowExpr {
        func: WindowFunc::DenseRank,
        ..row_number(alias)
    }
}

/// The value of `column` `n` rows earlier in the group (negative: later).
pub fn shift(column: &str, n: i64, alias: &str) -> WindowExpr {
    WindowExpr {
        func: WindowFunc::Shift(n),
        input: Some(column.to_string()),
        alias: alias.to_string(),
    }
}

/// What a window node computes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WindowSpec {
    /// The group keys.
    pub partition_by: Vec<String>,
    /// The order within a group.
    pub order_by: Vec<SortKey>,
    /// The columns added.
    pub exprs: Vec<WindowExpr>,
}

impl WindowSpec {
    /// The output schema (the input's columns, then the window columns).
    pub(crate) fn schema(&self, input: &Schema) -> Result<SchemaRef> {
        let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
        for k in &self.partition_by {
            let t = input.field(index_of(input, k)?).data_type();
            if !keys::key_type_ok(t) {
                return Err(FrameError::ty(k, format!("cannot group by {t}")));
            }
        }
        for k in &self.order_by {
            index_of(input, &k.column)?;
        }
        for e in &self.exprs {
            let in_t = match &e.input {
                Some(c) => Some(logical(input.field(index_of(input, c)?).data_type())),
                None => None,
            };
            let t = match (&e.func, in_t) {
                (WindowFunc::RowNumber | WindowFunc::Rank | WindowFunc::DenseRank, _) => {
                    DataType::Int64
                }
                (WindowFunc::CumCount, Some(_)) => DataType::Int64,
                (WindowFunc::CumSum | WindowFunc::CumMin | WindowFunc::CumMax, Some(t))
                    if t.is_integer() || t.is_floating() =>
                {
                    if t.is_floating() {
                        DataType::Float64
                    } else {
                        DataType::Int64
                    }
                }
                (WindowFunc::Shift(_), Some(_)) => input
                    .field(index_of(input, e.input.as_deref().unwrap_or_default())?)
                    .data_type()
                    .clone(),
                (f, t) => {
                    return Err(FrameError::ty(
                        e.input.clone().unwrap_or_else(|| e.alias.clone()),
                        format!("window function {f:?} cannot take {t:?}"),
                    ))
                }
            };
            if fields.iter().any(|f| f.name() == &e.alias) {
                return Err(FrameError::Invalid(format!(
                    "two output columns named `{}`",
                    e.alias
                )));
            }
            fields.push(Field::new(&e.alias, t, true));
        }
        Ok(Arc::new(Schema::new(fields)))
    }

    /// `by [k] order [a desc]: cum_sum(v) as c, ...` (for `explain`).
    pub(crate) fn describe(&self) -> String {
        let f: Vec<String> = self
            .exprs
            .iter()
            .map(|e| {
                format!(
                    "{:?}({}) as {}",
                    e.func,
                    e.input.clone().unwrap_or_default(),
                    e.alias
                )
            })
            .collect();
        format!(
            "over [{}] order by [{}]: {}",
            self.partition_by.join(", "),
            crate::sort::SortSpec {
                keys: self.order_by.clone()
            }
            .describe(),
            f.join(", ")
        )
    }
}

/// The window's tasks: a shuffle by the group keys, then one task per
/// partition.
pub(crate) fn lower(
    parts: &[Delayed<Partition>],
    schema: &SchemaRef,
    spec: &WindowSpec,
) -> Result<Vec<Delayed<Partition>>> {
    let base = if spec.partition_by.is_empty() {
        let all = concat_all(parts, schema);
        let mut v = vec![all];
        // Keep the partition count: the others are empty.
        for _ in 1..parts.len() {
            v.push(tasks::identity::delayed(Partition::empty(schema.clone())));
        }
        v
    } else if parts.len() > 1 {
        hash_shuffle(parts, &spec.partition_by, parts.len(), schema)
    } else {
        parts.to_vec()
    };
    Ok(base
        .iter()
        .map(|p| tasks::window::delayed(p, spec.clone()))
        .collect())
}

/// The window columns of one partition whose groups are whole.
pub(crate) fn apply(b: &RecordBatch, spec: &WindowSpec) -> Result<RecordBatch> {
    let schema = spec.schema(b.schema_ref())?;
    let n = b.num_rows();
    let key_cols: Vec<ArrayRef> = spec
        .partition_by
        .iter()
        .map(|k| Ok(b.column(index_of(b.schema_ref(), k)?).clone()))
        .collect::<Result<_>>()?;
    let g = keys::group_rows(&key_cols, n)?;
    let gids = UInt32Array::from(g.gids.clone());
    // Sorted: by group, then the order keys, then the row (stable).
    let mut sort_cols = vec![SortColumn {
        values: Arc::new(gids.clone()),
        options: None,
    }];
    let order_vals: Vec<ArrayRef> = spec
        .order_by
        .iter()
        .map(|k| Ok(b.column(index_of(b.schema_ref(), &k.column)?).clone()))
        .collect::<Result<_>>()?;
    for (v, k) in order_vals.iter().zip(&spec.order_by) {
        sort_cols.push(SortColumn {
            values: v.clone(),
            options: Some(SortOptions {
                descending: k.descending,
                nulls_first: k.nulls_first,
            }),
        });
    }
    sort_cols.push(SortColumn {
        values: Arc::new(UInt32Array::from_iter_values(0..n as u32)),
        options: None,
    });
    let order: Vec<u32> = lexsort_to_indices(&sort_cols, None)?.values().to_vec();
    // Where each sorted row starts a new group, and a new order-key value.
    let new_group: Vec<bool> = (0..n)
        .map(|i| i == 0 || g.gids[order[i] as usize] != g.gids[order[i - 1] as usize])
        .collect();
    let new_value: Vec<bool> = if order_vals.is_empty() {
        new_group.clone()
    } else {
        let conv = RowConverter::new(
            order_vals
                .iter()
                .map(|v| SortField::new(v.data_type().clone()))
                .collect(),
        )?;
        let rows = conv.convert_columns(&order_vals)?;
        (0..n)
            .map(|i| new_group[i] || rows.row(order[i] as usize) != rows.row(order[i - 1] as usize))
            .collect()
    };
    let mut cols: Vec<ArrayRef> = b.columns().to_vec();
    for e in &spec.exprs {
        let input = match &e.input {
            Some(c) => Some(b.column(index_of(b.schema_ref(), c)?).clone()),
            None => None,
        };
        // Values in sorted order, then put back in row order.
        let sorted: ArrayRef = compute(&e.func, input.as_ref(), &order, &new_group, &new_value)?;
        let mut back = vec![0u32; n];
        for (pos, &row) in order.iter().enumerate() {
            back[row as usize] = pos as u32;
        }
        let t = schema.field_with_name(&e.alias)?.data_type().clone();
        let v = take(sorted.as_ref(), &UInt32Array::from(back), None)?;
        cols.push(if *v.data_type() == t {
            v
        } else {
            cast(&v, &t)?
        });
    }
    let opts = arrow::array::RecordBatchOptions::new().with_row_count(Some(n));
    Ok(RecordBatch::try_new_with_options(schema, cols, &opts)?)
}

/// One function over the rows in sorted order.
fn compute(
    f: &WindowFunc,
    input: Option<&ArrayRef>,
    order: &[u32],
    new_group: &[bool],
    new_value: &[bool],
) -> Result<ArrayRef> {
    let n = order.len();
    let need = || input.ok_or_else(|| FrameError::Invalid(format!("{f:?} needs a column")));
    Ok(match f {
        WindowFunc::RowNumber | WindowFunc::Rank | WindowFunc::DenseRank => {
            let mut out = Vec::with_capacity(n);
            let (mut num, mut rank, mut dense) = (0i64, 0i64, 0i64);
            for i in 0..n {
                if new_group[i] {
                    num = 0;
                    rank = 0;
                    dense = 0;
                }
                num += 1;
                if new_value[i] {
                    rank = num;
                    dense += 1;
                }
                out.push(match f {
                    WindowFunc::RowNumber => num,
                    WindowFunc::Rank => rank,
                    _ => dense,
                });
            }
            Arc::new(Int64Array::from(out))
        }
        WindowFunc::Shift(k) => {
            let a = need()?;
            // The group number of each sorted position.
            let mut group = Vec::with_capacity(n);
            let mut gi = 0usize;
            for (i, &ng) in new_group.iter().enumerate() {
                if ng && i > 0 {
                    gi += 1;
                }
                group.push(gi);
            }
            let idx: UInt32Array = (0..n)
                .map(|i| {
                    let j = i as i64 - k;
                    if j < 0 || j >= n as i64 || group[j as usize] != group[i] {
                        return None;
                    }
                    Some(order[j as usize])
                })
                .collect();
            take(a.as_ref(), &idx, None)?
        }
        WindowFunc::CumCount => {
            let a = need()?;
            let mut out = Vec::with_capacity(n);
            let mut c = 0i64;
            for i in 0..n {
                if new_group[i] {
                    c = 0;
                }
                c += i64::from(a.is_valid(order[i] as usize));
                out.push(c);
            }
            Arc::new(Int64Array::from(out))
        }
        WindowFunc::CumSum | WindowFunc::CumMin | WindowFunc::CumMax => {
            let a = need()?;
            let t = logical(a.data_type());
            if t.is_floating() {
                let v = cast(a, &DataType::Float64)?;
                let v = v.as_primitive::<arrow::datatypes::Float64Type>();
                let out: Float64Array = running(
                    f,
                    n,
                    |i| {
                        let r = order[i] as usize;
                        v.is_valid(r).then(|| v.value(r))
                    },
                    new_group,
                    |a, b| a + b,
                    f64::min,
                    f64::max,
                )
                .into_iter()
                .collect();
                Arc::new(out)
            } else {
                let v = cast(a, &DataType::Int64)?;
                let v = v.as_primitive::<arrow::datatypes::Int64Type>();
                let out: Int64Array = running(
                    f,
                    n,
                    |i| {
                        let r = order[i] as usize;
                        v.is_valid(r).then(|| v.value(r))
                    },
                    new_group,
                    i64::wrapping_add,
                    std::cmp::min,
                    std::cmp::max,
                )
                .into_iter()
                .collect();
                Arc::new(out)
            }
        }
    })
}

/// A running sum, min or max that restarts at each group.
fn running<T: Copy>(
    f: &WindowFunc,
    n: usize,
    value: impl Fn(usize) -> Option<T>,
    new_group: &[bool],
    add: impl Fn(T, T) -> T,
    min: impl Fn(T, T) -> T,
    max: impl Fn(T, T) -> T,
) -> Vec<Option<T>> {
    let mut out = Vec::with_capacity(n);
    let mut acc: Option<T> = None;
    for (i, &starts) in new_group.iter().enumerate().take(n) {
        if starts {
            acc = None;
        }
        match value(i) {
            None => out.push(None),
            Some(v) => {
                acc = Some(match (acc, f) {
                    (None, _) => v,
                    (Some(a), WindowFunc::CumSum) => add(a, v),
                    (Some(a), WindowFunc::CumMin) => min(a, v),
                    (Some(a), _) => max(a, v),
                });
                out.push(acc);
            }
        }
    }
    out
}

impl DataFrame {
    /// Window columns over groups of `partition_by` in `order_by` order
    /// (`df.window(&["k"], vec![asc("t")], vec![cum_sum("v", "running")])`).
    pub fn window(
        &self,
        partition_by: &[&str],
        order_by: Vec<SortKey>,
        exprs: Vec<WindowExpr>,
    ) -> Result<DataFrame> {
        let spec = WindowSpec {
            partition_by: partition_by.iter().map(|s| s.to_string()).collect(),
            order_by,
            exprs,
        };
        Ok(DataFrame::from_plan(plan::window(
            self.plan().clone(),
            spec,
        )?))
    }
}
