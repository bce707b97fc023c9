//! Group-by aggregation in three steps, each a pure function of batches
//! (`state.rs`):
//!
//! 1. `partial`: one partition's rows to a *state* batch, one row per group
//!    seen there (or, when a prefix shows nearly one group per row, one row
//!    per input row, left for the merge to group): the key columns, then
//!    each aggregation's state columns (sum; count; sum and count for a
//!    mean; min; max; count, mean and sum of squared deviations for
//!    var/std; first or last non-null value). An aggregation's input is an
//!    expression, evaluated here (`sum(col("a") * col("b"))` needs no
//!    projection first).
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
//! a group of their own. Types: sums of integers are `Int64`, of floats
//! `Float64`, of decimals `Decimal128(38, scale)` (exact); means, variances
//! and deviations are `Float64`; min, max, first and last keep the input's
//! type (integers and floats widened to 64 bits).

pub(crate) mod kernels;
pub(crate) mod keys;
pub(crate) mod lower;
pub(crate) mod state;

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

pub use lower::GroupBy;
pub(crate) use state::{finalize, merge, partial, split};

use crate::error::{FrameError, Result};
use crate::expr::typing::{is_decimal, is_number};
use crate::expr::{col, logical, Expr, Scalar};

/// An aggregation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AggFunc {
    /// Sum (0 for a group with no values).
    Sum,
    /// Arithmetic mean, `Float64`; null for no values.
    Mean,
    /// Number of non-null values, `Int64`.
    Count,
    /// Number of rows, nulls included, `Int64` (the input is ignored).
    Len,
    /// Minimum (of any ordered type; strings bytewise).
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
    pub(crate) fn name(self) -> &'static str {
        match self {
            AggFunc::Sum => "sum",
            AggFunc::Mean => "mean",
            AggFunc::Count => "count",
            AggFunc::Len => "len",
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

/// One aggregation: a function of an expression, under an output name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agg {
    /// The input (a column, or any expression over the input's columns).
    pub input: Expr,
    /// The function.
    pub func: AggFunc,
    /// The output column's name (default: the input's name).
    pub alias: Option<String>,
}

/// What an aggregation reads: a column name or an expression.
pub trait AggInput {
    /// The expression.
    fn into_expr(self) -> Expr;
}

impl AggInput for &str {
    fn into_expr(self) -> Expr {
        col(self)
    }
}

impl AggInput for &&str {
    fn into_expr(self) -> Expr {
        col(self)
    }
}

impl AggInput for &String {
    fn into_expr(self) -> Expr {
        col(self)
    }
}

impl AggInput for String {
    fn into_expr(self) -> Expr {
        col(&self)
    }
}

impl AggInput for Expr {
    fn into_expr(self) -> Expr {
        self
    }
}

impl Agg {
    /// `func` of a column or an expression, named after it.
    pub fn new(input: impl AggInput, func: AggFunc) -> Self {
        Agg {
            input: input.into_expr(),
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
    pub fn output_name(&self) -> String {
        match (&self.alias, self.func) {
            (Some(a), _) => a.clone(),
            (None, AggFunc::Len) => "len".to_string(),
            (None, _) => self.input.name(),
        }
    }
}

macro_rules! agg_ctors {
    ($($f:ident => $v:ident),*) => {$(
        #[doc = concat!("`", stringify!($f), "` of a column (`", stringify!($f), "(\"v1\")`) or an expression.")]
        pub fn $f(input: impl AggInput) -> Agg { Agg::new(input, AggFunc::$v) }
    )*};
}
agg_ctors!(sum => Sum, mean => Mean, count => Count, min => Min, max => Max, var => Var,
    std => Std, first => First, last => Last, n_unique => NUnique);

/// The number of rows of each group (`count(*)`), named `len`.
pub fn len() -> Agg {
    Agg::new(Expr::Lit(Scalar::Null), AggFunc::Len)
}

/// What a group-by computes: key columns and aggregations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupSpec {
    /// Key column names.
    pub keys: Vec<String>,
    /// Aggregations, in output order.
    pub aggs: Vec<Agg>,
}

/// Whether min and max can compare values of a type.
fn orderable(t: &DataType) -> bool {
    arrow::row::RowConverter::supports_fields(&[arrow::row::SortField::new(t.clone())])
        && !matches!(
            t,
            DataType::List(_) | DataType::Struct(_) | DataType::Map(..)
        )
}

impl GroupSpec {
    /// The columns the group-by reads.
    pub(crate) fn input_columns(&self) -> Vec<String> {
        let mut v = self.keys.clone();
        for a in &self.aggs {
            if a.func != AggFunc::Len {
                a.input.columns(&mut v);
            }
        }
        v
    }

    /// Checks the spec against the input schema and returns the state and
    /// output schemas; errors name the column.
    pub(crate) fn schemas(&self, input: &Schema) -> Result<(SchemaRef, SchemaRef)> {
        let mut state = Vec::new();
        let mut out = Vec::new();
        for k in &self.keys {
            let f = input.field(crate::expr::index_of(input, k)?);
            if !keys::key_type_ok(f.data_type()) {
                return Err(FrameError::ty(
                    k,
                    format!("a group key cannot be of type {}", f.data_type()),
                ));
            }
            state.push(Field::new(k, f.data_type().clone(), true));
            out.push(Field::new(k, f.data_type().clone(), true));
        }
        let mut names: Vec<String> = self.keys.clone();
        for (i, a) in self.aggs.iter().enumerate() {
            let in_type = if a.func == AggFunc::Len {
                DataType::Null
            } else {
                a.input.data_type(input)?
            };
            let t = logical(&in_type);
            let blame = || a.input.blame();
            let numeric = t.is_integer() || t.is_floating() || t == DataType::Boolean;
            let wide = if t.is_floating() {
                DataType::Float64
            } else if numeric {
                DataType::Int64
            } else if is_decimal(&t) {
                DataType::Decimal128(38, keys::decimal_scale(&t))
            } else {
                t.clone()
            };
            let need_num = matches!(
                a.func,
                AggFunc::Sum | AggFunc::Mean | AggFunc::Var | AggFunc::Std
            );
            if need_num && !(numeric || is_number(&t) || t == DataType::Null) {
                return Err(FrameError::ty(
                    blame(),
                    format!("{} needs a numeric column, not {t}", a.func.name()),
                ));
            }
            if matches!(a.func, AggFunc::Min | AggFunc::Max) && !orderable(&t) {
                return Err(FrameError::ty(
                    blame(),
                    format!("{} cannot order values of {t}", a.func.name()),
                ));
            }
            let name = a.output_name();
            if names.contains(&name) {
                return Err(FrameError::Invalid(format!(
                    "two output columns named `{name}` (give the aggregation an alias)"
                )));
            }
            names.push(name.clone());
            let s = |suffix: &str, t: DataType| Field::new(format!("__{i}_{suffix}"), t, true);
            let sum_t = if t == DataType::Null {
                DataType::Int64
            } else {
                wide.clone()
            };
            let (st, ot): (Vec<Field>, DataType) = match a.func {
                AggFunc::Sum => (vec![s("sum", sum_t.clone())], sum_t),
                AggFunc::Count | AggFunc::Len => {
                    (vec![s("count", DataType::Int64)], DataType::Int64)
                }
                AggFunc::Mean => (
                    vec![s("sum", DataType::Float64), s("count", DataType::Int64)],
                    DataType::Float64,
                ),
                AggFunc::Min | AggFunc::Max => {
                    let keep = t == DataType::Boolean || !(numeric || is_decimal(&t));
                    let t = if keep { t.clone() } else { wide };
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
                    if !keys::key_type_ok(&t) {
                        return Err(FrameError::ty(
                            blame(),
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
