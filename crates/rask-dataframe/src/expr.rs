//! Column expressions: a plain serde tree, checked against a schema when the
//! graph is built ([`Expr::data_type`]) and evaluated per partition with the
//! Arrow kernels ([`Expr::evaluate`]).
//!
//! Typing rules (checked before anything runs, errors name the column):
//! arithmetic takes numbers (integers widen to `Int64`, any float makes
//! `Float64`; `/` is true division and always gives `Float64`); comparisons
//! take two numbers, two strings or two booleans; `&`, `|`, `!` take
//! booleans (Kleene logic on nulls); a null literal takes the other side's
//! type. Dictionary-encoded string columns behave as strings.

use std::fmt;
use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch,
    StringArray,
};
use arrow::compute::kernels::{boolean, cmp, numeric};
use arrow::compute::{can_cast_types, cast, is_not_null, is_null};
use arrow::datatypes::{DataType, Schema};
use serde::{Deserialize, Serialize};

use crate::error::{FrameError, Result};

/// A literal value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Scalar {
    /// Null (of the other operand's type).
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A string.
    Str(String),
}

/// A logical column type, for casts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DType {
    /// `Boolean`.
    Bool,
    /// `Int32`.
    Int32,
    /// `Int64`.
    Int64,
    /// `Float32`.
    Float32,
    /// `Float64`.
    Float64,
    /// `Utf8`.
    Utf8,
}

impl DType {
    /// The Arrow type.
    pub fn to_arrow(self) -> DataType {
        match self {
            DType::Bool => DataType::Boolean,
            DType::Int32 => DataType::Int32,
            DType::Int64 => DataType::Int64,
            DType::Float32 => DataType::Float32,
            DType::Float64 => DataType::Float64,
            DType::Utf8 => DataType::Utf8,
        }
    }
}

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (true division, `Float64`)
    Div,
    /// `%`
    Rem,
    /// `==`
    Eq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `&` (Kleene)
    And,
    /// `|` (Kleene)
    Or,
}

impl BinOp {
    fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Eq => "==",
            BinOp::NotEq => "!=",
            BinOp::Lt => "<",
            BinOp::LtEq => "<=",
            BinOp::Gt => ">",
            BinOp::GtEq => ">=",
            BinOp::And => "&",
            BinOp::Or => "|",
        }
    }

    fn is_arith(self) -> bool {
        matches!(
            self,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem
        )
    }

    fn is_cmp(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::NotEq | BinOp::Lt | BinOp::LtEq | BinOp::Gt | BinOp::GtEq
        )
    }
}

/// A column expression.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    /// A column by name.
    Col(String),
    /// A literal.
    Lit(Scalar),
    /// `left op right`.
    Binary {
        /// The operator.
        op: BinOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// Boolean negation.
    Not(Box<Expr>),
    /// Arithmetic negation.
    Neg(Box<Expr>),
    /// True where the value is null.
    IsNull(Box<Expr>),
    /// True where the value is not null.
    IsNotNull(Box<Expr>),
    /// Nulls replaced by a literal.
    FillNull(Box<Expr>, Scalar),
    /// A cast.
    Cast(Box<Expr>, DType),
    /// String equality with a prefix.
    StartsWith(Box<Expr>, String),
    /// A renamed expression.
    Alias(Box<Expr>, String),
}

/// A column: `col("v1")`.
pub fn col(name: &str) -> Expr {
    Expr::Col(name.to_string())
}

/// A literal: `lit(3)`, `lit(2.5)`, `lit("id001")`, `lit(true)`.
pub fn lit(v: impl Into<Scalar>) -> Expr {
    Expr::Lit(v.into())
}

/// A null literal.
pub fn null() -> Expr {
    Expr::Lit(Scalar::Null)
}

impl From<i64> for Scalar {
    fn from(v: i64) -> Self {
        Scalar::Int(v)
    }
}
impl From<i32> for Scalar {
    fn from(v: i32) -> Self {
        Scalar::Int(v.into())
    }
}
impl From<f64> for Scalar {
    fn from(v: f64) -> Self {
        Scalar::Float(v)
    }
}
impl From<bool> for Scalar {
    fn from(v: bool) -> Self {
        Scalar::Bool(v)
    }
}
impl From<&str> for Scalar {
    fn from(v: &str) -> Self {
        Scalar::Str(v.to_string())
    }
}
impl From<String> for Scalar {
    fn from(v: String) -> Self {
        Scalar::Str(v)
    }
}

macro_rules! binop_methods {
    ($($name:ident => $op:ident),*) => {
        impl Expr {
            $(
                #[doc = concat!("`self ", stringify!($name), " other`.")]
                pub fn $name(self, other: impl Into<Expr>) -> Expr {
                    Expr::Binary { op: BinOp::$op, left: Box::new(self), right: Box::new(other.into()) }
                }
            )*
        }
    };
}

binop_methods!(eq => Eq, not_eq => NotEq, lt => Lt, lt_eq => LtEq, gt => Gt, gt_eq => GtEq,
    and => And, or => Or);

impl From<Scalar> for Expr {
    fn from(s: Scalar) -> Self {
        Expr::Lit(s)
    }
}
impl From<i32> for Expr {
    fn from(v: i32) -> Self {
        lit(v)
    }
}
impl From<i64> for Expr {
    fn from(v: i64) -> Self {
        lit(v)
    }
}
impl From<f64> for Expr {
    fn from(v: f64) -> Self {
        lit(v)
    }
}
impl From<&str> for Expr {
    fn from(v: &str) -> Self {
        lit(v)
    }
}
impl From<bool> for Expr {
    fn from(v: bool) -> Self {
        lit(v)
    }
}

macro_rules! arith_ops {
    ($($tr:ident $m:ident => $op:ident),*) => {$(
        impl<R: Into<Expr>> std::ops::$tr<R> for Expr {
            type Output = Expr;
            fn $m(self, other: R) -> Expr {
                Expr::Binary { op: BinOp::$op, left: Box::new(self), right: Box::new(other.into()) }
            }
        }
    )*};
}

arith_ops!(Add add => Add, Sub sub => Sub, Mul mul => Mul, Div div => Div, Rem rem => Rem);

impl std::ops::Not for Expr {
    type Output = Expr;
    fn not(self) -> Expr {
        Expr::Not(Box::new(self))
    }
}

impl Expr {
    /// Arithmetic negation (`-self`); `!expr` negates booleans.
    pub fn negate(self) -> Expr {
        Expr::Neg(Box::new(self))
    }
    /// True where null.
    pub fn is_null(self) -> Expr {
        Expr::IsNull(Box::new(self))
    }
    /// True where not null.
    pub fn is_not_null(self) -> Expr {
        Expr::IsNotNull(Box::new(self))
    }
    /// Nulls replaced by `v`.
    pub fn fill_null(self, v: impl Into<Scalar>) -> Expr {
        Expr::FillNull(Box::new(self), v.into())
    }
    /// A cast to `to`.
    pub fn cast(self, to: DType) -> Expr {
        Expr::Cast(Box::new(self), to)
    }
    /// True where the string starts with `prefix`.
    pub fn starts_with(self, prefix: &str) -> Expr {
        Expr::StartsWith(Box::new(self), prefix.to_string())
    }
    /// The same values under another name.
    pub fn alias(self, name: &str) -> Expr {
        Expr::Alias(Box::new(self), name.to_string())
    }

    /// The output column's name: an alias, the column's own name, or the
    /// expression's text.
    pub fn name(&self) -> String {
        match self {
            Expr::Alias(_, n) | Expr::Col(n) => n.clone(),
            other => other.to_string(),
        }
    }

    /// The columns this expression reads.
    pub fn columns(&self, out: &mut Vec<String>) {
        match self {
            Expr::Col(n) => {
                if !out.contains(n) {
                    out.push(n.clone())
                }
            }
            Expr::Lit(_) => {}
            Expr::Binary { left, right, .. } => {
                left.columns(out);
                right.columns(out);
            }
            Expr::Not(e)
            | Expr::Neg(e)
            | Expr::IsNull(e)
            | Expr::IsNotNull(e)
            | Expr::FillNull(e, _)
            | Expr::Cast(e, _)
            | Expr::StartsWith(e, _)
            | Expr::Alias(e, _) => e.columns(out),
        }
    }

    /// The type of the result over `schema`, or why it cannot be computed.
    pub fn data_type(&self, schema: &Schema) -> Result<DataType> {
        match self {
            Expr::Col(n) => Ok(column_type(schema, n)?.clone()),
            Expr::Lit(s) => Ok(scalar_type(s)),
            Expr::Binary { op, left, right } => {
                let lt = logical(&left.data_type(schema)?);
                let rt = logical(&right.data_type(schema)?);
                binary_type(*op, &lt, &rt).ok_or_else(|| {
                    FrameError::ty(
                        self.blame(),
                        format!("cannot apply `{}` to {lt} and {rt} in {self}", op.symbol()),
                    )
                })
            }
            Expr::Not(e) => match logical(&e.data_type(schema)?) {
                DataType::Boolean | DataType::Null => Ok(DataType::Boolean),
                t => Err(FrameError::ty(
                    e.blame(),
                    format!("`!` needs a boolean, not {t}"),
                )),
            },
            Expr::Neg(e) => match logical(&e.data_type(schema)?) {
                t if t.is_numeric() => Ok(t),
                t => Err(FrameError::ty(
                    e.blame(),
                    format!("`-` needs a number, not {t}"),
                )),
            },
            Expr::IsNull(e) | Expr::IsNotNull(e) => {
                e.data_type(schema)?;
                Ok(DataType::Boolean)
            }
            Expr::FillNull(e, v) => {
                let t = e.data_type(schema)?;
                let vt = scalar_type(v);
                if vt != DataType::Null && !can_cast_types(&vt, &logical(&t)) {
                    return Err(FrameError::ty(
                        e.blame(),
                        format!("cannot fill nulls of {t} with {vt}"),
                    ));
                }
                Ok(logical(&t))
            }
            Expr::Cast(e, to) => {
                let t = e.data_type(schema)?;
                let to = to.to_arrow();
                if !can_cast_types(&t, &to) {
                    return Err(FrameError::ty(
                        e.blame(),
                        format!("cannot cast {t} to {to}"),
                    ));
                }
                Ok(to)
            }
            Expr::StartsWith(e, _) => match logical(&e.data_type(schema)?) {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(DataType::Boolean),
                t => Err(FrameError::ty(
                    e.blame(),
                    format!("starts_with needs a string, not {t}"),
                )),
            },
            Expr::Alias(e, _) => e.data_type(schema),
        }
    }

    /// The column an error about this expression names: its first column,
    /// or the expression's text.
    fn blame(&self) -> String {
        let mut cols = Vec::new();
        self.columns(&mut cols);
        cols.into_iter().next().unwrap_or_else(|| self.to_string())
    }

    /// Evaluates over a batch to an array of `batch.num_rows()` values.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<ArrayRef> {
        let v = self.eval(batch)?;
        Ok(match v {
            Val::Array(a) => a,
            Val::Scalar(a) => broadcast(&a, batch.num_rows())?,
        })
    }

    fn eval(&self, batch: &RecordBatch) -> Result<Val> {
        match self {
            Expr::Col(n) => {
                let i = index_of(batch.schema_ref(), n)?;
                Ok(Val::Array(batch.column(i).clone()))
            }
            Expr::Lit(s) => Ok(Val::Scalar(scalar_array(s))),
            Expr::Binary { op, left, right } => {
                let l = left.eval(batch)?.logical()?;
                let r = right.eval(batch)?.logical()?;
                let (lt, rt) = (l.array().data_type().clone(), r.array().data_type().clone());
                let out = binary_type(*op, &lt, &rt).ok_or_else(|| {
                    FrameError::ty(
                        self.blame(),
                        format!("cannot apply `{}` to {lt} and {rt}", op.symbol()),
                    )
                })?;
                if op.is_arith() {
                    let l = l.cast_to(&out)?;
                    let r = r.cast_to(&out)?;
                    let both_scalar = l.is_scalar() && r.is_scalar();
                    let res = match op {
                        BinOp::Add => numeric::add(&l.datum(), &r.datum())?,
                        BinOp::Sub => numeric::sub(&l.datum(), &r.datum())?,
                        BinOp::Mul => numeric::mul(&l.datum(), &r.datum())?,
                        BinOp::Div => numeric::div(&l.datum(), &r.datum())?,
                        _ => numeric::rem(&l.datum(), &r.datum())?,
                    };
                    Ok(Val::wrap(res, both_scalar))
                } else if op.is_cmp() {
                    let common = common_cmp_type(&lt, &rt);
                    let l = l.cast_to(&common)?;
                    let r = r.cast_to(&common)?;
                    let both_scalar = l.is_scalar() && r.is_scalar();
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
                    let n = batch.num_rows();
                    let l = l.cast_to(&DataType::Boolean)?.into_array(n)?;
                    let r = r.cast_to(&DataType::Boolean)?.into_array(n)?;
                    let (l, r) = (as_bool(&l)?, as_bool(&r)?);
                    let res = if *op == BinOp::And {
                        boolean::and_kleene(l, r)?
                    } else {
                        boolean::or_kleene(l, r)?
                    };
                    Ok(Val::Array(Arc::new(res)))
                }
            }
            Expr::Not(e) => {
                let a = e
                    .eval(batch)?
                    .logical()?
                    .cast_to(&DataType::Boolean)?
                    .into_array(batch.num_rows())?;
                Ok(Val::Array(Arc::new(boolean::not(as_bool(&a)?)?)))
            }
            Expr::Neg(e) => {
                let a = e.eval(batch)?.logical()?.into_array(batch.num_rows())?;
                Ok(Val::Array(numeric::neg(&a)?))
            }
            Expr::IsNull(e) => {
                let a = e.eval(batch)?.into_array(batch.num_rows())?;
                Ok(Val::Array(Arc::new(is_null(&a)?)))
            }
            Expr::IsNotNull(e) => {
                let a = e.eval(batch)?.into_array(batch.num_rows())?;
                Ok(Val::Array(Arc::new(is_not_null(&a)?)))
            }
            Expr::FillNull(e, v) => {
                let a = e.eval(batch)?.logical()?.into_array(batch.num_rows())?;
                if a.null_count() == 0 || matches!(v, Scalar::Null) {
                    return Ok(Val::Array(a));
                }
                let fill = cast(&scalar_array(v), a.data_type())?;
                let fill = arrow::array::Scalar::new(fill);
                let mask = is_not_null(&a)?;
                Ok(Val::Array(arrow::compute::kernels::zip::zip(
                    &mask, &a, &fill,
                )?))
            }
            Expr::Cast(e, to) => Ok(e.eval(batch)?.cast_to(&to.to_arrow())?),
            Expr::StartsWith(e, prefix) => {
                let a = e
                    .eval(batch)?
                    .logical()?
                    .cast_to(&DataType::Utf8)?
                    .into_array(batch.num_rows())?;
                let s = a
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| FrameError::ty(e.blame(), "starts_with needs a string"))?;
                let res: BooleanArray = s
                    .iter()
                    .map(|v| v.map(|v| v.starts_with(prefix.as_str())))
                    .collect();
                Ok(Val::Array(Arc::new(res)))
            }
            Expr::Alias(e, _) => e.eval(batch),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Col(n) => write!(f, "col({n:?})"),
            Expr::Lit(s) => match s {
                Scalar::Null => write!(f, "null"),
                Scalar::Bool(b) => write!(f, "{b}"),
                Scalar::Int(i) => write!(f, "{i}"),
                Scalar::Float(x) => write!(f, "{x:?}"),
                Scalar::Str(s) => write!(f, "{s:?}"),
            },
            Expr::Binary { op, left, right } => write!(f, "({left} {} {right})", op.symbol()),
            Expr::Not(e) => write!(f, "!{e}"),
            Expr::Neg(e) => write!(f, "-{e}"),
            Expr::IsNull(e) => write!(f, "{e}.is_null()"),
            Expr::IsNotNull(e) => write!(f, "{e}.is_not_null()"),
            Expr::FillNull(e, v) => write!(f, "{e}.fill_null({})", Expr::Lit(v.clone())),
            Expr::Cast(e, t) => write!(f, "{e}.cast({t:?})"),
            Expr::StartsWith(e, p) => write!(f, "{e}.starts_with({p:?})"),
            Expr::Alias(e, n) => write!(f, "{e}.alias({n:?})"),
        }
    }
}

/// An evaluated operand: a full column or a one-element scalar.
enum Val {
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
            DataType::Dictionary(_, v) => self.cast_to(&v),
            _ => Ok(self),
        }
    }
    fn cast_to(self, t: &DataType) -> Result<Val> {
        if self.array().data_type() == t {
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
    let idx = arrow::array::UInt32Array::from(vec![0u32; n]);
    Ok(arrow::compute::take(a.as_ref(), &idx, None)?)
}

fn as_bool(a: &ArrayRef) -> Result<&BooleanArray> {
    a.as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| FrameError::Invalid(format!("expected booleans, got {}", a.data_type())))
}

pub(crate) fn scalar_array(s: &Scalar) -> ArrayRef {
    match s {
        Scalar::Null => new_null_array(&DataType::Null, 1),
        Scalar::Bool(b) => Arc::new(BooleanArray::from(vec![*b])),
        Scalar::Int(i) => Arc::new(Int64Array::from(vec![*i])),
        Scalar::Float(x) => Arc::new(Float64Array::from(vec![*x])),
        Scalar::Str(s) => Arc::new(StringArray::from(vec![s.as_str()])),
    }
}

fn scalar_type(s: &Scalar) -> DataType {
    match s {
        Scalar::Null => DataType::Null,
        Scalar::Bool(_) => DataType::Boolean,
        Scalar::Int(_) => DataType::Int64,
        Scalar::Float(_) => DataType::Float64,
        Scalar::Str(_) => DataType::Utf8,
    }
}

/// A dictionary's value type; any other type unchanged.
pub(crate) fn logical(t: &DataType) -> DataType {
    match t {
        DataType::Dictionary(_, v) => (**v).clone(),
        t => t.clone(),
    }
}

fn is_int(t: &DataType) -> bool {
    t.is_integer()
}

fn is_float(t: &DataType) -> bool {
    t.is_floating()
}

fn is_str(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn binary_type(op: BinOp, l: &DataType, r: &DataType) -> Option<DataType> {
    let num = |t: &DataType| is_int(t) || is_float(t) || *t == DataType::Null;
    if op.is_arith() {
        if !num(l) || !num(r) {
            return None;
        }
        if op == BinOp::Div || is_float(l) || is_float(r) {
            Some(DataType::Float64)
        } else {
            Some(DataType::Int64)
        }
    } else if op.is_cmp() {
        let ok = (num(l) && num(r))
            || ((is_str(l) || *l == DataType::Null) && (is_str(r) || *r == DataType::Null))
            || (matches!(l, DataType::Boolean | DataType::Null)
                && matches!(r, DataType::Boolean | DataType::Null));
        ok.then_some(DataType::Boolean)
    } else {
        let b = |t: &DataType| matches!(t, DataType::Boolean | DataType::Null);
        (b(l) && b(r)).then_some(DataType::Boolean)
    }
}

fn common_cmp_type(l: &DataType, r: &DataType) -> DataType {
    if is_str(l) || is_str(r) {
        DataType::Utf8
    } else if *l == DataType::Boolean || *r == DataType::Boolean {
        DataType::Boolean
    } else if is_float(l) || is_float(r) {
        DataType::Float64
    } else {
        DataType::Int64
    }
}

/// The index of a column, or an error naming it and the table's columns.
pub(crate) fn index_of(schema: &Schema, name: &str) -> Result<usize> {
    schema.index_of(name).map_err(|_| unknown(schema, name))
}

pub(crate) fn column_type<'a>(schema: &'a Schema, name: &str) -> Result<&'a DataType> {
    Ok(schema.field(index_of(schema, name)?).data_type())
}

pub(crate) fn unknown(schema: &Schema, name: &str) -> FrameError {
    FrameError::UnknownColumn {
        name: name.to_string(),
        available: schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>()
            .join(", "),
    }
}
