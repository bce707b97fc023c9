//! Evaluation over one batch with the Arrow kernels. A literal stays a
//! one-element array (a `Datum` scalar) until it must become a column, so
//! `col("a") > 3` compares against one value and allocates nothing per row
//! for the literal.

use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::kernels::{boolean, cmp, numeric, zip::zip};
use arrow::compute::{cast, is_not_null, is_null, prep_null_mask_filter};
use arrow::datatypes::DataType;
use arrow::row::{RowConverter, SortField};

use super::typing::{arith_operands, cmp_type, logical};
use super::{BinOp, Expr, Scalar};
use crate::error::{FrameError, Result};

impl Expr {
    /// Evaluates over a batch to an array of `batch.num_rows()` values.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<ArrayRef> {
        self.eval(batch)?.into_array(batch.num_rows())
    }

    /// Evaluates a predicate to a mask where null is false.
    pub(crate) fn evaluate_mask(&self, batch: &RecordBatch) -> Result<BooleanArray> {
        let m = self.evaluate(batch)?;
        let m = as_bool(&m)
            .map_err(|_| FrameError::ty(self.to_string(), "a filter must be boolean"))?;
        Ok(if m.null_count() > 0 {
            prep_null_mask_filter(m)
        } else {
            m.clone()
        })
    }

    fn eval(&self, batch: &RecordBatch) -> Result<Val> {
        let n = batch.num_rows();
        match self {
            Expr::Col(name) => {
                let i = super::index_of(batch.schema_ref(), name)?;
                Ok(Val::Array(batch.column(i).clone()))
            }
            Expr::Lit(s) => Ok(Val::Scalar(s.to_array()?)),
            Expr::Binary { op, left, right } => {
                let l = left.eval(batch)?;
                let r = right.eval(batch)?;
                binary(self, *op, l, r, n)
            }
            Expr::Not(e) => {
                let a = e.eval(batch)?.logical()?.cast_to(&DataType::Boolean)?;
                let s = a.is_scalar();
                Ok(Val::wrap(Arc::new(boolean::not(as_bool(a.array())?)?), s))
            }
            Expr::Neg(e) => {
                let a = e.eval(batch)?.logical()?;
                let s = a.is_scalar();
                Ok(Val::wrap(numeric::neg(a.array())?, s))
            }
            Expr::IsNull(e) => {
                let a = e.eval(batch)?;
                let s = a.is_scalar();
                Ok(Val::wrap(Arc::new(is_null(a.array())?), s))
            }
            Expr::IsNotNull(e) => {
                let a = e.eval(batch)?;
                let s = a.is_scalar();
                Ok(Val::wrap(Arc::new(is_not_null(a.array())?), s))
            }
            Expr::FillNull(e, v) => {
                let a = e.eval(batch)?.logical()?.into_array(n)?;
                if a.null_count() == 0 || matches!(v, Scalar::Null) {
                    return Ok(Val::Array(a));
                }
                let fill = arrow::array::Scalar::new(cast(&v.to_array()?, a.data_type())?);
                Ok(Val::Array(zip(&is_not_null(&a)?, &a, &fill)?))
            }
            Expr::Cast(e, to) => e.eval(batch)?.cast_to(&to.to_arrow()),
            Expr::IsIn(e, values) => {
                let a = e.eval(batch)?.logical()?;
                let s = a.is_scalar();
                Ok(Val::wrap(Arc::new(is_in(a.array(), values)?), s))
            }
            Expr::When {
                branches,
                otherwise,
            } => when(self, branches, otherwise, batch),
            Expr::Str(e, f) => {
                let a = e.eval(batch)?;
                let s = a.is_scalar();
                Ok(Val::wrap(f.apply(a.array())?, s))
            }
            Expr::Dt(e, f) => {
                let a = e.eval(batch)?.logical()?;
                let s = a.is_scalar();
                Ok(Val::wrap(f.apply(a.array())?, s))
            }
            Expr::Alias(e, _) => e.eval(batch),
        }
    }
}

fn binary(whole: &Expr, op: BinOp, l: Val, r: Val, n: usize) -> Result<Val> {
    let l = l.logical()?;
    let r = r.logical()?;
    let (lt, rt) = (l.array().data_type().clone(), r.array().data_type().clone());
    let refused = || {
        FrameError::ty(
            whole.blame(),
            format!("cannot apply `{}` to {lt} and {rt}", op.symbol()),
        )
    };
    let both_scalar = l.is_scalar() && r.is_scalar();
    if op.is_arith() {
        let (ta, tb) = arith_operands(op, &lt, &rt).ok_or_else(refused)?;
        let l = l.cast_to(&ta)?;
        let r = r.cast_to(&tb)?;
        let res = match op {
            BinOp::Add => numeric::add(&l.datum(), &r.datum())?,
            BinOp::Sub => numeric::sub(&l.datum(), &r.datum())?,
            BinOp::Mul => numeric::mul(&l.datum(), &r.datum())?,
            BinOp::Div => numeric::div(&l.datum(), &r.datum())?,
            _ => numeric::rem(&l.datum(), &r.datum())?,
        };
        Ok(Val::wrap(res, both_scalar))
    } else if op.is_cmp() {
        let common = cmp_type(&lt, &rt).ok_or_else(refused)?;
        if common == DataType::Null {
            let len = if both_scalar { 1 } else { n };
            return Ok(Val::wrap(
                new_null_array(&DataType::Boolean, len),
                both_scalar,
            ));
        }
        let l = l.cast_to(&common)?;
        let r = r.cast_to(&common)?;
        let res: BooleanArray = match op {
            BinOp::Eq => cmp::eq(&l.datum(), &r.datum())?,
            BinOp::NotEq => cmp::neq(&l.datum(), &r.datum())?,
            BinOp::Lt => cmp::lt(&l.datum(), &r.datum())?,
            BinOp::LtEq => cmp::lt_eq(&l.datum(), &r.datum())?,
            BinOp::Gt => cmp::gt(&l.datum(), &r.datum())?,
            _ => cmp::gt_eq(&l.datum(), &r.datum())?,
        };
        Ok(Val::wrap(Arc::new(res), both_scalar))
    } else {
        let l = l.cast_to(&DataType::Boolean)?.into_array(n)?;
        let r = r.cast_to(&DataType::Boolean)?.into_array(n)?;
        let (l, r) = (as_bool(&l)?, as_bool(&r)?);
        let res = if op == BinOp::And {
            boolean::and_kleene(l, r)?
        } else {
            boolean::or_kleene(l, r)?
        };
        Ok(Val::wrap(Arc::new(res), both_scalar && n == 1))
    }
}

/// Membership in a list: a few values compare one by one; many go through
/// a hash set of their row-format bytes.
fn is_in(a: &ArrayRef, values: &[Scalar]) -> Result<BooleanArray> {
    let at = a.data_type().clone();
    let mut list: Vec<ArrayRef> = Vec::new();
    for v in values {
        if *v == Scalar::Null {
            continue;
        }
        let vt = v.data_type();
        let common = cmp_type(&at, &vt)
            .ok_or_else(|| FrameError::Invalid(format!("is_in: cannot compare {at} with {v}")))?;
        if common != at {
            // The column's type decides; a value that does not fit matches nothing.
            let c = cast(&v.to_array()?, &at);
            match c {
                Ok(c) if !c.is_null(0) => list.push(c),
                _ => continue,
            }
        } else {
            list.push(cast(&v.to_array()?, &at)?);
        }
    }
    if list.is_empty() {
        let f = BooleanArray::from(vec![false; a.len()]);
        return Ok(match a.nulls() {
            Some(nb) => BooleanArray::new(f.values().clone(), Some(nb.clone())),
            None => f,
        });
    }
    if list.len() <= 8 {
        let mut acc: Option<BooleanArray> = None;
        for v in &list {
            let m = cmp::eq(a, &arrow::array::Scalar::new(v.clone()))?;
            acc = Some(match acc {
                None => m,
                Some(x) => boolean::or(&x, &m)?,
            });
        }
        return acc.ok_or_else(|| FrameError::Invalid("is_in of nothing".into()));
    }
    let conv = RowConverter::new(vec![SortField::new(at)])?;
    let listed = arrow::compute::concat(&list.iter().map(|a| a.as_ref()).collect::<Vec<_>>())?;
    let set_rows = conv.convert_columns(&[listed])?;
    let set: hashbrown::HashSet<&[u8]> = set_rows.iter().map(|r| r.data()).collect();
    let rows = conv.convert_columns(std::slice::from_ref(a))?;
    let out: BooleanArray = (0..a.len())
        .map(|i| (!a.is_null(i)).then(|| set.contains(rows.row(i).data())))
        .collect();
    Ok(out)
}

fn when(
    whole: &Expr,
    branches: &[(Expr, Expr)],
    otherwise: &Expr,
    batch: &RecordBatch,
) -> Result<Val> {
    let n = batch.num_rows();
    let schema = batch.schema();
    let out_t = whole.data_type(&schema)?;
    let mut acc = otherwise
        .eval(batch)?
        .logical()?
        .cast_to(&out_t)?
        .into_array(n)?;
    for (c, v) in branches.iter().rev() {
        let mask = c.evaluate_mask(batch)?;
        let v = v.eval(batch)?.logical()?.cast_to(&out_t)?;
        let res = match &v {
            Val::Scalar(s) => zip(&mask, &arrow::array::Scalar::new(s.clone()), &acc)?,
            Val::Array(a) => zip(&mask, a, &acc)?,
        };
        acc = res;
    }
    Ok(Val::Array(acc))
}

/// An evaluated operand: a full column or a one-element scalar.
pub(crate) enum Val {
    Array(ArrayRef),
    Scalar(ArrayRef),
}

impl Val {
    fn wrap(a: ArrayRef, scalar: bool) -> Val {
        if scalar {
            Val::Scalar(a)
        } else {
            Val::Array(a)
        }
    }
    fn array(&self) -> &ArrayRef {
        match self {
            Val::Array(a) | Val::Scalar(a) => a,
        }
    }
    fn is_scalar(&self) -> bool {
        matches!(self, Val::Scalar(_))
    }
    fn datum(&self) -> DatumRef<'_> {
        DatumRef(self)
    }
    /// Dictionary values decoded.
    fn logical(self) -> Result<Val> {
        let t = self.array().data_type().clone();
        match t {
            DataType::Dictionary(_, _) => self.cast_to(&logical(&t)),
            _ => Ok(self),
        }
    }
    fn cast_to(self, t: &DataType) -> Result<Val> {
        if self.array().data_type() == t || *t == DataType::Null {
            return Ok(self);
        }
        let s = self.is_scalar();
        Ok(Val::wrap(cast(self.array(), t)?, s))
    }
    fn into_array(self, n: usize) -> Result<ArrayRef> {
        match self {
            Val::Array(a) => Ok(a),
            Val::Scalar(a) => broadcast(&a, n),
        }
    }
}

struct DatumRef<'a>(&'a Val);

impl arrow::array::Datum for DatumRef<'_> {
    fn get(&self) -> (&dyn Array, bool) {
        match self.0 {
            Val::Array(a) => (a.as_ref(), false),
            Val::Scalar(a) => (a.as_ref(), true),
        }
    }
}

fn broadcast(a: &ArrayRef, n: usize) -> Result<ArrayRef> {
    if a.is_null(0) {
        return Ok(new_null_array(a.data_type(), n));
    }
    let idx = UInt32Array::from(vec![0u32; n]);
    Ok(arrow::compute::take(a.as_ref(), &idx, None)?)
}

fn as_bool(a: &ArrayRef) -> Result<&BooleanArray> {
    a.as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| FrameError::Invalid(format!("expected booleans, got {}", a.data_type())))
}
