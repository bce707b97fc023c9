//! Skipping data by statistics: a filter's terms of the form
//! `col op literal` (`==`, `!=`, `<`, `<=`, `>`, `>=`, `between`, which is
//! two of them), `col.is_in([...])`, `col.is_null()` and
//! `col.is_not_null()` are checked against each row group's min, max and
//! null count, and (when the file has a page index) each page's. A row
//! group or page is skipped only when its statistics prove that no row in
//! it matches; unknown statistics keep it. Comparisons run with the Arrow
//! kernels on the statistics arrays, so every type with statistics (numbers,
//! decimals, strings, dates, timestamps) is pruned the same way. For floats,
//! `>`, `>=` and `!=` prune only where the NaN count is known to be zero
//! (NaN sorts above every number but is not in min/max).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt64Array};
use arrow::compute::cast;
use arrow::compute::kernels::{boolean, cmp};
use arrow::datatypes::{Field, Schema};
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use parquet::file::metadata::ParquetMetaData;

use crate::expr::{BinOp, Expr, Scalar};

/// A term the statistics can decide.
#[derive(Clone, Debug)]
pub(crate) struct Term {
    column: String,
    test: Test,
}

#[derive(Clone, Debug)]
enum Test {
    Cmp(BinOp, Scalar),
    In(Vec<Scalar>),
    IsNull,
    IsNotNull,
}

/// The terms of a conjunction that statistics can decide.
pub(crate) fn terms(predicate: Option<&Expr>) -> Vec<Term> {
    let Some(p) = predicate else {
        return Vec::new();
    };
    p.conjuncts()
        .into_iter()
        .filter_map(|t| match t.unaliased() {
            Expr::Binary { op, left, right } if op.is_cmp() => {
                match (left.unaliased(), right.unaliased()) {
                    (Expr::Col(c), Expr::Lit(v)) if *v != Scalar::Null => Some(Term {
                        column: c.clone(),
                        test: Test::Cmp(*op, v.clone()),
                    }),
                    (Expr::Lit(v), Expr::Col(c)) if *v != Scalar::Null => Some(Term {
                        column: c.clone(),
                        test: Test::Cmp(op.flipped(), v.clone()),
                    }),
                    _ => None,
                }
            }
            Expr::IsIn(e, v) => match e.unaliased() {
                Expr::Col(c) => Some(Term {
                    column: c.clone(),
                    test: Test::In(v.clone()),
                }),
                _ => None,
            },
            Expr::IsNull(e) => match e.unaliased() {
                Expr::Col(c) => Some(Term {
                    column: c.clone(),
                    test: Test::IsNull,
                }),
                _ => None,
            },
            Expr::IsNotNull(e) => match e.unaliased() {
                Expr::Col(c) => Some(Term {
                    column: c.clone(),
                    test: Test::IsNotNull,
                }),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Statistics of one column over some units (row groups or pages).
struct Stats {
    min: ArrayRef,
    max: ArrayRef,
    nulls: Option<UInt64Array>,
    rows: Option<UInt64Array>,
    nans_zero: Vec<bool>,
}

/// Whether each unit may hold a matching row (true where unknown).
fn may_match(term: &Term, s: &Stats) -> Vec<bool> {
    let n = s.min.len();
    let unknown = || vec![true; n];
    let t = s.min.data_type().clone();
    let lit = |v: &Scalar| -> Option<ArrayRef> {
        let a = v.to_array().ok()?;
        let c = cast(&a, &t).ok()?;
        (!c.is_null(0)).then_some(c)
    };
    // Kleene results: null (unknown statistics) keeps the unit.
    let keep = |m: BooleanArray| -> Vec<bool> {
        (0..m.len()).map(|i| m.is_null(i) || m.value(i)).collect()
    };
    let floats = t.is_floating();
    match &term.test {
        Test::Cmp(op, v) => {
            let Some(v) = lit(v) else { return unknown() };
            let v = arrow::array::Scalar::new(v);
            let r = match op {
                BinOp::Eq => cmp::lt_eq(&s.min, &v)
                    .and_then(|a| Ok((a, cmp::gt_eq(&s.max, &v)?)))
                    .and_then(|(a, b)| boolean::and_kleene(&a, &b)),
                BinOp::NotEq => cmp::eq(&s.min, &v)
                    .and_then(|a| Ok((a, cmp::eq(&s.max, &v)?)))
                    .and_then(|(a, b)| boolean::and_kleene(&a, &b))
                    .and_then(|a| boolean::not(&a)),
                BinOp::Lt => cmp::lt(&s.min, &v),
                BinOp::LtEq => cmp::lt_eq(&s.min, &v),
                BinOp::Gt => cmp::gt(&s.max, &v),
                BinOp::GtEq => cmp::gt_eq(&s.max, &v),
                _ => return unknown(),
            };
            let Ok(r) = r else { return unknown() };
            let mut out = keep(r);
            if floats && matches!(op, BinOp::Gt | BinOp::GtEq | BinOp::NotEq) {
                for (o, z) in out.iter_mut().zip(&s.nans_zero) {
                    *o |= !z;
                }
            }
            out
        }
        Test::In(values) => {
            let mut out = vec![false; n];
            for v in values {
                let t = Term {
                    column: term.column.clone(),
                    test: Test::Cmp(BinOp::Eq, v.clone()),
                };
                for (o, m) in out.iter_mut().zip(may_match(&t, s)) {
                    *o |= m;
                }
            }
            if values.contains(&Scalar::Null) {
                return unknown();
            }
            out
        }
        Test::IsNull => match &s.nulls {
            Some(nc) => (0..n).map(|i| nc.is_null(i) || nc.value(i) > 0).collect(),
            None => unknown(),
        },
        Test::IsNotNull => match (&s.nulls, &s.rows) {
            (Some(nc), Some(rc)) => (0..n)
                .map(|i| nc.is_null(i) || rc.is_null(i) || nc.value(i) < rc.value(i))
                .collect(),
            _ => unknown(),
        },
    }
}

fn nans_zero(a: Option<UInt64Array>, n: usize) -> Vec<bool> {
    match a {
        Some(a) => (0..n).map(|i| a.is_valid(i) && a.value(i) == 0).collect(),
        None => vec![false; n],
    }
}

/// Which row groups of a file may hold matching rows (`schema`: the file's
/// own Arrow schema).
pub(crate) fn row_groups(meta: &ParquetMetaData, schema: &Schema, terms: &[Term]) -> Vec<bool> {
    let n = meta.num_row_groups();
    let mut keep = vec![true; n];
    let descr = meta.file_metadata().schema_descr();
    for t in terms {
        let Ok(conv) = StatisticsConverter::try_new(&t.column, schema, descr) else {
            continue;
        };
        let rgs = meta.row_groups();
        let (Ok(min), Ok(max)) = (conv.row_group_mins(rgs), conv.row_group_maxes(rgs)) else {
            continue;
        };
        let stats = Stats {
            min,
            max,
            nulls: conv.row_group_null_counts(rgs).ok(),
            rows: conv.row_group_row_counts(rgs).ok().flatten(),
            nans_zero: nans_zero(conv.row_group_nan_counts(rgs).ok(), n),
        };
        for (k, m) in keep.iter_mut().zip(may_match(t, &stats)) {
            *k &= m;
        }
    }
    keep
}

/// For each of `groups`, the rows of its pages that may match (`None`
/// where the file has no page index or no term has page statistics).
pub(crate) fn pages(
    meta: &ParquetMetaData,
    schema: &Schema,
    terms: &[Term],
    groups: &[usize],
) -> Option<Vec<RowSelection>> {
    let index = meta.page_index()?;
    let descr = meta.file_metadata().schema_descr();
    let mut out: Option<Vec<RowSelection>> = None;
    for t in terms {
        let Ok(conv) = StatisticsConverter::try_new(&t.column, schema, descr) else {
            continue;
        };
        let idx = index.as_ref();
        let (Ok(min), Ok(max), Ok(Some(rows))) = (
            conv.data_page_mins(idx, groups.iter()),
            conv.data_page_maxes(idx, groups.iter()),
            conv.data_page_row_counts(idx, meta.row_groups(), groups.iter()),
        ) else {
            continue;
        };
        if rows.null_count() > 0 || rows.len() != min.len() {
            continue;
        }
        let n = min.len();
        let stats = Stats {
            min,
            max,
            nulls: conv.data_page_null_counts(idx, groups.iter()).ok(),
            rows: Some(rows.clone()),
            nans_zero: nans_zero(conv.data_page_nan_counts(idx, groups.iter()).ok(), n),
        };
        let keep = may_match(t, &stats);
        // Pages in order, group by group: cut at each group's row count.
        let mut sels = Vec::with_capacity(groups.len());
        let mut page = 0;
        for &g in groups {
            let total = meta.row_group(g).num_rows() as usize;
            let mut acc = 0usize;
            let mut selectors = Vec::new();
            while acc < total && page < n {
                let r = rows.value(page) as usize;
                selectors.push(if keep[page] {
                    RowSelector::select(r)
                } else {
                    RowSelector::skip(r)
                });
                acc += r;
                page += 1;
            }
            if acc != total {
                return out;
            }
            sels.push(RowSelection::from(selectors));
        }
        out = Some(match out {
            None => sels,
            Some(prev) => prev
                .iter()
                .zip(&sels)
                .map(|(a, b)| a.intersection(b))
                .collect(),
        });
    }
    out
}

/// Whether a conjunction over constants (hive partition values) can be
/// true: `false` only when it evaluates to false or null.
pub(crate) fn constants_may_match(pred: &Expr, fields: &[Field], values: &[Scalar]) -> bool {
    match constant_columns(fields, values) {
        Ok(b) => match pred.evaluate_mask(&b) {
            Ok(m) => m.value(0),
            Err(_) => true,
        },
        Err(_) => true,
    }
}

/// One row of constants as a batch.
pub(crate) fn constant_columns(fields: &[Field], values: &[Scalar]) -> crate::Result<RecordBatch> {
    let cols = fields
        .iter()
        .zip(values)
        .map(|(f, v)| Ok(cast(&v.to_array()?, f.data_type())?))
        .collect::<crate::Result<Vec<ArrayRef>>>()?;
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields.to_vec())),
        cols,
    )?)
}

/// The share of rows a term `col op literal` keeps, estimated from the
/// row groups' min and max as if values were spread evenly between them
/// (numbers, decimals, dates and timestamps); `None` where unknown.
pub(crate) fn selectivity(
    meta: &ParquetMetaData,
    schema: &Schema,
    term: &Expr,
    groups: &[usize],
) -> Option<f64> {
    let t = terms(Some(term)).into_iter().next()?;
    let Test::Cmp(op, v) = &t.test else {
        return None;
    };
    let descr = meta.file_metadata().schema_descr();
    let conv = StatisticsConverter::try_new(&t.column, schema, descr).ok()?;
    let rgs: Vec<_> = groups
        .iter()
        .filter_map(|&g| meta.row_groups().get(g))
        .collect();
    let to_f64 = |a: ArrayRef| -> Option<Vec<f64>> {
        let c = cast(&a, &arrow::datatypes::DataType::Float64).ok()?;
        let c = c
            .as_any()
            .downcast_ref::<arrow::array::Float64Array>()?
            .clone();
        (c.null_count() == 0).then(|| c.values().to_vec())
    };
    let min = to_f64(conv.row_group_mins(rgs.iter().copied()).ok()?)?;
    let max = to_f64(conv.row_group_maxes(rgs.iter().copied()).ok()?)?;
    let lit = cast(&v.to_array().ok()?, &arrow::datatypes::DataType::Float64).ok()?;
    let x = lit
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>()?
        .value(0);
    let (lo, hi) = (
        min.iter().copied().fold(f64::INFINITY, f64::min),
        max.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    if !(lo.is_finite() && hi.is_finite()) {
        return None;
    }
    // Integers: count whole values ([lo, hi] holds hi - lo + 1 of them).
    let ints = min.iter().chain(&max).all(|v| v.fract() == 0.0) && x.fract() == 0.0;
    let width = if ints { hi - lo + 1.0 } else { hi - lo };
    if width <= 0.0 {
        return Some(1.0);
    }
    let below = |b: f64, inclusive: bool| -> f64 {
        let n = if ints {
            b - lo + if inclusive { 1.0 } else { 0.0 }
        } else {
            b - lo
        };
        (n / width).clamp(0.0, 1.0)
    };
    Some(match op {
        BinOp::Lt => below(x, false),
        BinOp::LtEq => below(x, true),
        BinOp::Gt => 1.0 - below(x, true),
        BinOp::GtEq => 1.0 - below(x, false),
        BinOp::Eq => (1.0 / width).min(1.0),
        BinOp::NotEq => 1.0 - (1.0 / width).min(1.0),
        _ => return None,
    })
}
