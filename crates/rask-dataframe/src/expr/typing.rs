//! Typing rules, checked before anything runs (errors name the column).
//!
//! * Arithmetic: integers widen to `Int64`, any float makes `Float64`, `/`
//!   of integers and floats is true division (`Float64`); decimals stay
//!   exact (an integer joins as `Decimal128(20, 0)`, a float turns both
//!   into `Float64`), with Arrow's precision and scale rules; timestamps,
//!   dates and durations take what Arrow's kernels take (`ts - ts` is a
//!   duration, `ts + duration` a timestamp), units aligned to the finer.
//! * Comparisons: two numbers (decimals included), two strings (plain,
//!   large, view or dictionary), two binaries, two booleans, two dates or
//!   timestamps (a string literal is parsed as the other side's type).
//! * `&`, `|`, `!` take booleans; a null literal takes the other side's type.
//! * Dictionary columns behave as their values.

use arrow::array::new_empty_array;
use arrow::compute::can_cast_types;
use arrow::compute::kernels::numeric;
use arrow::datatypes::{DataType, Schema, TimeUnit};

use super::{BinOp, DtFn, Expr, StrFn};
use crate::error::{FrameError, Result};

/// A dictionary's value type; any other type unchanged.
pub(crate) fn logical(t: &DataType) -> DataType {
    match t {
        DataType::Dictionary(_, v) => logical(v),
        t => t.clone(),
    }
}

pub(crate) fn is_int(t: &DataType) -> bool {
    t.is_integer()
}

pub(crate) fn is_float(t: &DataType) -> bool {
    t.is_floating()
}

pub(crate) fn is_decimal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Decimal32(..)
            | DataType::Decimal64(..)
            | DataType::Decimal128(..)
            | DataType::Decimal256(..)
    )
}

pub(crate) fn is_str(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

pub(crate) fn is_binary(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_)
    )
}

pub(crate) fn is_temporal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(..)
            | DataType::Duration(_)
            | DataType::Time32(_)
            | DataType::Time64(_)
    )
}

/// Numbers of every kind (what sum and mean take).
pub(crate) fn is_number(t: &DataType) -> bool {
    is_int(t) || is_float(t) || is_decimal(t)
}

fn finer(a: &TimeUnit, b: &TimeUnit) -> TimeUnit {
    fn rank(u: &TimeUnit) -> u8 {
        match u {
            TimeUnit::Second => 0,
            TimeUnit::Millisecond => 1,
            TimeUnit::Microsecond => 2,
            TimeUnit::Nanosecond => 3,
        }
    }
    if rank(a) >= rank(b) {
        *a
    } else {
        *b
    }
}

/// A decimal type that holds every value of `t` exactly (for integers).
fn as_decimal(t: &DataType) -> Option<DataType> {
    match t {
        DataType::Decimal128(..) => Some(t.clone()),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => Some(DataType::Decimal128(*p, *s)),
        DataType::Null => Some(DataType::Decimal128(1, 0)),
        t if is_int(t) => Some(DataType::Decimal128(20, 0)),
        _ => None,
    }
}

/// The types both operands of an arithmetic operator are cast to.
pub(crate) fn arith_operands(
    op: BinOp,
    l: &DataType,
    r: &DataType,
) -> Option<(DataType, DataType)> {
    let num = |t: &DataType| is_int(t) || is_float(t) || *t == DataType::Null;
    if num(l) && num(r) {
        let t = if op == BinOp::Div || is_float(l) || is_float(r) {
            DataType::Float64
        } else {
            DataType::Int64
        };
        return Some((t.clone(), t));
    }
    if is_decimal(l) || is_decimal(r) {
        if is_float(l) || is_float(r) {
            return Some((DataType::Float64, DataType::Float64));
        }
        return Some((as_decimal(l)?, as_decimal(r)?));
    }
    match (l, r) {
        (DataType::Timestamp(a, tz), DataType::Timestamp(b, _)) => {
            let u = finer(a, b);
            let t = DataType::Timestamp(u, tz.clone());
            Some((t.clone(), t))
        }
        (DataType::Timestamp(a, tz), DataType::Duration(b)) => {
            let u = finer(a, b);
            Some((DataType::Timestamp(u, tz.clone()), DataType::Duration(u)))
        }
        (DataType::Duration(a), DataType::Timestamp(b, tz)) => {
            let u = finer(a, b);
            Some((DataType::Duration(u), DataType::Timestamp(u, tz.clone())))
        }
        (DataType::Duration(a), DataType::Duration(b)) => {
            let u = finer(a, b);
            Some((DataType::Duration(u), DataType::Duration(u)))
        }
        (DataType::Null, t) | (t, DataType::Null) if is_temporal(t) => Some((t.clone(), t.clone())),
        _ if is_temporal(l) || is_temporal(r) => Some((l.clone(), r.clone())),
        _ => None,
    }
}

/// The result type of `l op r` (arithmetic), or `None` where it is refused.
fn arith_type(op: BinOp, l: &DataType, r: &DataType) -> Option<DataType> {
    let (lt, rt) = arith_operands(op, l, r)?;
    if lt == DataType::Float64 || lt == DataType::Int64 {
        return Some(lt);
    }
    // Arrow's kernel decides (decimal precision, temporal rules).
    let (a, b) = (new_empty_array(&lt), new_empty_array(&rt));
    let out = match op {
        BinOp::Add => numeric::add(&a, &b),
        BinOp::Sub => numeric::sub(&a, &b),
        BinOp::Mul => numeric::mul(&a, &b),
        BinOp::Div => numeric::div(&a, &b),
        _ => numeric::rem(&a, &b),
    };
    out.ok().map(|a| a.data_type().clone())
}

/// The type both sides of a comparison are cast to.
pub(crate) fn cmp_type(l: &DataType, r: &DataType) -> Option<DataType> {
    use DataType as T;
    let num = |t: &T| is_int(t) || is_float(t) || *t == T::Null;
    if num(l) && num(r) {
        return Some(if is_float(l) || is_float(r) {
            T::Float64
        } else if *l == T::Null && *r == T::Null {
            T::Null
        } else if l == r {
            l.clone()
        } else {
            T::Int64
        });
    }
    if is_decimal(l) || is_decimal(r) {
        if is_float(l) || is_float(r) {
            return Some(T::Float64);
        }
        let (a, b) = (as_decimal(l)?, as_decimal(r)?);
        let (T::Decimal128(p1, s1), T::Decimal128(p2, s2)) = (&a, &b) else {
            return None;
        };
        let s = (*s1).max(*s2);
        let int = (i16::from(*p1) - i16::from(*s1)).max(i16::from(*p2) - i16::from(*s2));
        let p = (int + i16::from(s)).clamp(1, 38) as u8;
        return Some(T::Decimal128(p, s));
    }
    let s = |t: &T| is_str(t) || *t == T::Null;
    if s(l) && s(r) {
        return Some(if *l == T::Utf8View || *r == T::Utf8View {
            T::Utf8View
        } else if *l == T::LargeUtf8 || *r == T::LargeUtf8 {
            T::LargeUtf8
        } else {
            T::Utf8
        });
    }
    let b = |t: &T| is_binary(t) || *t == T::Null;
    if b(l) && b(r) {
        return Some(if *l == T::BinaryView || *r == T::BinaryView {
            T::BinaryView
        } else if *l == T::LargeBinary || *r == T::LargeBinary {
            T::LargeBinary
        } else {
            T::Binary
        });
    }
    if matches!(l, T::Boolean | T::Null) && matches!(r, T::Boolean | T::Null) {
        return Some(T::Boolean);
    }
    // Temporal: same family; a string (literal) parses as the other side.
    match (l, r) {
        (T::Timestamp(a, tz), T::Timestamp(b, _)) => Some(T::Timestamp(finer(a, b), tz.clone())),
        (T::Date32, T::Date64) | (T::Date64, T::Date32) => Some(T::Date64),
        (T::Duration(a), T::Duration(b)) => Some(T::Duration(finer(a, b))),
        (T::Timestamp(u, tz), T::Date32 | T::Date64)
        | (T::Date32 | T::Date64, T::Timestamp(u, tz)) => Some(T::Timestamp(*u, tz.clone())),
        (t, o) | (o, t) if is_temporal(t) && (is_str(o) || *o == T::Null || o == t) => {
            Some(t.clone())
        }
        _ => None,
    }
}

/// The type two values of a conditional (or a fill) share.
pub(crate) fn supertype(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType as T;
    if a == b {
        return Some(a.clone());
    }
    match (a, b) {
        (T::Null, t) | (t, T::Null) => Some(t.clone()),
        _ => {
            let c = cmp_type(a, b)?;
            Some(if c == T::Null { a.clone() } else { c })
        }
    }
}

/// The output type of a binary operator, or `None` where it is refused.
pub(crate) fn binary_type(op: BinOp, l: &DataType, r: &DataType) -> Option<DataType> {
    if op.is_arith() {
        arith_type(op, l, r)
    } else if op.is_cmp() {
        cmp_type(l, r).map(|_| DataType::Boolean)
    } else {
        let b = |t: &DataType| matches!(t, DataType::Boolean | DataType::Null);
        (b(l) && b(r)).then_some(DataType::Boolean)
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

impl Expr {
    /// The type of the result over `schema`, or why it cannot be computed.
    pub fn data_type(&self, schema: &Schema) -> Result<DataType> {
        match self {
            Expr::Col(n) => Ok(column_type(schema, n)?.clone()),
            Expr::Lit(s) => Ok(s.data_type()),
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
                t if t.is_signed_integer() || is_float(&t) || is_decimal(&t) => Ok(t),
                DataType::Duration(u) => Ok(DataType::Duration(u)),
                t => Err(FrameError::ty(
                    e.blame(),
                    format!("`-` needs a signed number, not {t}"),
                )),
            },
            Expr::IsNull(e) | Expr::IsNotNull(e) => {
                e.data_type(schema)?;
                Ok(DataType::Boolean)
            }
            Expr::FillNull(e, v) => {
                let t = logical(&e.data_type(schema)?);
                let vt = v.data_type();
                if vt != DataType::Null && !can_cast_types(&vt, &t) {
                    return Err(FrameError::ty(
                        e.blame(),
                        format!("cannot fill nulls of {t} with {vt}"),
                    ));
                }
                Ok(t)
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
            Expr::IsIn(e, values) => {
                let t = logical(&e.data_type(schema)?);
                for v in values {
                    let vt = v.data_type();
                    if cmp_type(&t, &vt).is_none() {
                        return Err(FrameError::ty(
                            e.blame(),
                            format!("is_in: cannot compare {t} with {v} ({vt})"),
                        ));
                    }
                }
                Ok(DataType::Boolean)
            }
            Expr::When {
                branches,
                otherwise,
            } => {
                let mut out = otherwise.data_type(schema).map(|t| logical(&t))?;
                for (c, v) in branches {
                    let ct = logical(&c.data_type(schema)?);
                    if !matches!(ct, DataType::Boolean | DataType::Null) {
                        return Err(FrameError::ty(
                            c.blame(),
                            format!("a `when` condition must be boolean, not {ct}"),
                        ));
                    }
                    let vt = logical(&v.data_type(schema)?);
                    out = supertype(&out, &vt).ok_or_else(|| {
                        FrameError::ty(
                            v.blame(),
                            format!("`when` values of {out} and {vt} have no common type"),
                        )
                    })?;
                }
                Ok(out)
            }
            Expr::Str(e, f) => {
                let t = logical(&e.data_type(schema)?);
                if !(is_str(&t) || t == DataType::Null) {
                    return Err(FrameError::ty(
                        e.blame(),
                        format!("{} needs a string, not {t}", f.name()),
                    ));
                }
                Ok(f.output_type())
            }
            Expr::Dt(e, f) => {
                let t = logical(&e.data_type(schema)?);
                f.output_type(&t).ok_or_else(|| {
                    FrameError::ty(e.blame(), format!("{} is not defined on {t}", f))
                })
            }
            Expr::Alias(e, _) => e.data_type(schema),
        }
    }

    /// Whether the result may hold nulls (a column keeps its field's flag).
    pub(crate) fn nullable(&self, schema: &Schema) -> bool {
        match self {
            Expr::Col(n) => schema.field_with_name(n).map_or(true, |f| f.is_nullable()),
            Expr::Alias(e, _) => e.nullable(schema),
            Expr::IsNull(_) | Expr::IsNotNull(_) => false,
            Expr::Lit(s) => *s == super::Scalar::Null,
            _ => true,
        }
    }
}

impl StrFn {
    pub(crate) fn output_type(&self) -> DataType {
        match self {
            StrFn::Contains(_) | StrFn::StartsWith(_) | StrFn::EndsWith(_) => DataType::Boolean,
            StrFn::Len => DataType::Int64,
            StrFn::Lower | StrFn::Upper | StrFn::Slice { .. } | StrFn::Replace { .. } => {
                DataType::Utf8
            }
        }
    }
}

impl DtFn {
    pub(crate) fn output_type(&self, t: &DataType) -> Option<DataType> {
        let ok = matches!(
            t,
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
        );
        match self {
            DtFn::Part(_) if ok || *t == DataType::Null => Some(DataType::Int32),
            DtFn::Truncate(_) if ok && self.valid() => Some(t.clone()),
            _ => None,
        }
    }
}
