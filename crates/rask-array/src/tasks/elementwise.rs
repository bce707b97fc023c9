//! Element-wise kernels with NumPy's broadcasting and dtype rules.
//!
//! Dtype rules (shared with the graph builder through [`result_dtype`]):
//! - arithmetic (`add`, `sub`, `mul`, `rem`, `maximum`, `minimum`): `f64` if
//!   either operand is, else `i64` (booleans count as integers);
//! - `div` and `pow`: always `f64` (true division);
//! - comparisons: `bool`, compared as `f64` if either operand is, else as `i64`;
//! - `and`, `or`, `xor`: both operands must be `bool`.

use ndarray::{ArcArray, ArrayD, ArrayViewD, IxDyn, Zip};
use serde::{Deserialize, Serialize};

use super::{as_bool, as_f64, as_i64, block};
use crate::block::{Block, DType, Scalar};

/// A binary element-wise operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b` (true division)
    Div,
    /// `a % b` (the remainder with the sign of `b`, as NumPy's)
    Rem,
    /// `a ** b`
    Pow,
    /// the larger of the two (NaN wins)
    Maximum,
    /// the smaller of the two (NaN wins)
    Minimum,
    /// `a == b`
    Eq,
    /// `a != b`
    Ne,
    /// `a < b`
    Lt,
    /// `a <= b`
    Le,
    /// `a > b`
    Gt,
    /// `a >= b`
    Ge,
    /// logical and
    And,
    /// logical or
    Or,
    /// logical exclusive or
    Xor,
}

impl BinOp {
    /// The operation's name, as NumPy's ufunc.
    pub fn name(self) -> &'static str {
        match self {
            BinOp::Add => "add",
            BinOp::Sub => "subtract",
            BinOp::Mul => "multiply",
            BinOp::Div => "divide",
            BinOp::Rem => "remainder",
            BinOp::Pow => "power",
            BinOp::Maximum => "maximum",
            BinOp::Minimum => "minimum",
            BinOp::Eq => "equal",
            BinOp::Ne => "not_equal",
            BinOp::Lt => "less",
            BinOp::Le => "less_equal",
            BinOp::Gt => "greater",
            BinOp::Ge => "greater_equal",
            BinOp::And => "logical_and",
            BinOp::Or => "logical_or",
            BinOp::Xor => "logical_xor",
        }
    }

    fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
        )
    }

    fn is_logical(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Xor)
    }
}

/// The dtype the operands are computed in, and the result's dtype.
pub(crate) fn result_dtype(op: BinOp, a: DType, b: DType) -> Result<(DType, DType), String> {
    if op.is_logical() {
        if a != DType::Bool || b != DType::Bool {
            return Err(format!(
                "{} takes bool operands, not {a} and {b}",
                op.name()
            ));
        }
        return Ok((DType::Bool, DType::Bool));
    }
    let work = if a == DType::F64 || b == DType::F64 || matches!(op, BinOp::Div | BinOp::Pow) {
        DType::F64
    } else {
        DType::I64
    };
    let out = if op.is_comparison() {
        DType::Bool
    } else {
        work
    };
    Ok((work, out))
}

/// The shape two shapes broadcast to, or `None`.
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let x = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let y = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = if x == y || y == 1 {
            x
        } else if x == 1 {
            y
        } else {
            return None;
        };
    }
    Some(out)
}

fn view_as<'a, T>(a: &'a ArcArray<T, IxDyn>, shape: &[usize]) -> Result<ArrayViewD<'a, T>, String> {
    a.broadcast(IxDyn(shape)).ok_or_else(|| {
        format!(
            "a chunk of shape {:?} does not broadcast to {shape:?}",
            a.shape()
        )
    })
}

/// Applies `f` to every pair, broadcasting; mixed memory layouts (`x + x.T`)
/// are walked in tiles so that both operands stay in cache.
fn zip_map<A: Copy, B: Copy, C: Copy>(
    a: &ArcArray<A, IxDyn>,
    b: &ArcArray<B, IxDyn>,
    f: impl Fn(A, B) -> C + Copy,
) -> Result<ArrayD<C>, String> {
    let shape = broadcast_shape(a.shape(), b.shape()).ok_or_else(|| {
        format!(
            "chunks of shapes {:?} and {:?} do not broadcast",
            a.shape(),
            b.shape()
        )
    })?;
    let av = view_as(a, &shape)?;
    let bv = view_as(b, &shape)?;
    if shape.len() == 2
        && av.is_standard_layout() != bv.is_standard_layout()
        && shape[0] >= 64
        && shape[1] >= 64
    {
        return Ok(tiled_2d(av, bv, f));
    }
    Ok(Zip::from(&av).and(&bv).map_collect(|&x, &y| f(x, y)))
}

/// `a op b` for `f64` arithmetic: in place into `a`'s buffer when `a` is
/// not shared and already has the output's shape (then `b`'s buffer goes
/// back to the scratch cache), else into a new array.
fn arith_f64(op: BinOp, a: ArcArray<f64, IxDyn>, b: ArcArray<f64, IxDyn>) -> Result<Block, String> {
    macro_rules! go {
        ($f:expr) => {{
            let f = $f;
            let shape = broadcast_shape(a.shape(), b.shape()).ok_or_else(|| {
                format!(
                    "chunks of shapes {:?} and {:?} do not broadcast",
                    a.shape(),
                    b.shape()
                )
            })?;
            if a.shape() == shape.as_slice() {
                match a.try_into_owned_nocopy() {
                    Ok(mut acc) => {
                        zip_into(&mut acc, &b, f)?;
                        super::scratch::give_array(b);
                        Ok(block(acc))
                    }
                    Err(a) => zip_map(&a, &b, f).map(block),
                }
            } else {
                zip_map(&a, &b, f).map(block)
            }
        }};
    }
    match op {
        BinOp::Add => go!(|x: f64, y: f64| x + y),
        BinOp::Sub => go!(|x: f64, y: f64| x - y),
        BinOp::Mul => go!(|x: f64, y: f64| x * y),
        BinOp::Div => go!(|x: f64, y: f64| x / y),
        BinOp::Rem => go!(py_rem_f),
        BinOp::Pow => go!(f64::powf),
        BinOp::Maximum => go!(nan_max),
        BinOp::Minimum => go!(nan_min),
        other => Err(format!("{} is not arithmetic", other.name())),
    }
}

/// `acc = f(acc, b)` with `b` broadcast to `acc`'s shape; 2-d operands of
/// different layouts go tile by tile (32 x 32) so both stay in cache.
fn zip_into(
    acc: &mut ArrayD<f64>,
    b: &ArcArray<f64, IxDyn>,
    f: impl Fn(f64, f64) -> f64 + Copy,
) -> Result<(), String> {
    let shape = acc.shape().to_vec();
    let bv = view_as(b, &shape)?;
    if shape.len() == 2 {
        let (n, m) = (shape[0], shape[1]);
        let bt = bv.t();
        if let (Some(a), Ok(bt)) = (acc.as_slice_mut(), bt.into_dimensionality::<ndarray::Ix2>()) {
            // `b` transposed is row-major with unit inner stride: the tiled path.
            if bt.strides()[1] == 1 && add_transposed(a, bt, n, m, f) {
                return Ok(());
            }
        }
    }
    if shape.len() == 2
        && acc.is_standard_layout() != bv.is_standard_layout()
        && shape[0] >= 64
        && shape[1] >= 64
    {
        const T: usize = 32;
        for i0 in (0..shape[0]).step_by(T) {
            for j0 in (0..shape[1]).step_by(T) {
                let (i1, j1) = ((i0 + T).min(shape[0]), (j0 + T).min(shape[1]));
                let mut at = acc.slice_mut(ndarray::s![i0..i1, j0..j1]);
                let bt = bv.slice(ndarray::s![i0..i1, j0..j1]);
                Zip::from(&mut at).and(&bt).for_each(|x, &y| *x = f(*x, y));
            }
        }
        return Ok(());
    }
    Zip::from(acc).and(&bv).for_each(|x, &y| *x = f(*x, y));
    Ok(())
}

/// `a[i, j] = f(a[i, j], b[j, i])` for `a` C-ordered `n x m` and `b`
/// C-ordered `m x n`: each 32 x 32 tile of `b` is transposed into a buffer
/// in L1 first, so both passes run over contiguous memory.
fn add_transposed(
    a: &mut [f64],
    b: ndarray::ArrayView2<'_, f64>,
    n: usize,
    m: usize,
    f: impl Fn(f64, f64) -> f64 + Copy,
) -> bool {
    if a.len() != n * m
        || b.nrows() != m
        || b.ncols() != n
        || !b.rows().into_iter().all(|r| r.to_slice().is_some())
    {
        return false;
    }
    const T: usize = 32;
    let mut tmp = [0f64; T * T];
    for i0 in (0..n).step_by(T) {
        let i1 = (i0 + T).min(n);
        for j0 in (0..m).step_by(T) {
            let j1 = (j0 + T).min(m);
            for j in j0..j1 {
                let Some(row) = b.row(j).to_slice() else {
                    return false;
                };
                for (ii, &v) in row[i0..i1].iter().enumerate() {
                    tmp[ii * T + (j - j0)] = v;
                }
            }
            for i in i0..i1 {
                let arow = &mut a[i * m + j0..i * m + j1];
                let trow = &tmp[(i - i0) * T..(i - i0) * T + (j1 - j0)];
                for (x, &y) in arow.iter_mut().zip(trow) {
                    *x = f(*x, y);
                }
            }
        }
    }
    true
}

/// `f` over two 2-d views of different layouts, in C order, 32 x 32 tiles.
fn tiled_2d<A: Copy, B: Copy, C: Copy>(
    a: ArrayViewD<'_, A>,
    b: ArrayViewD<'_, B>,
    f: impl Fn(A, B) -> C + Copy,
) -> ArrayD<C> {
    const T: usize = 32;
    let (n, m) = (a.shape()[0], a.shape()[1]);
    let mut out: Vec<C> = Vec::with_capacity(n * m);
    let (a2, b2) = (
        a.into_dimensionality::<ndarray::Ix2>(),
        b.into_dimensionality::<ndarray::Ix2>(),
    );
    let (Ok(a2), Ok(b2)) = (a2, b2) else {
        unreachable!("tiled_2d is called on 2-d views only")
    };
    let spare = out.spare_capacity_mut();
    for i0 in (0..n).step_by(T) {
        for j0 in (0..m).step_by(T) {
            for i in i0..(i0 + T).min(n) {
                let row = &mut spare[i * m..(i + 1) * m];
                for j in j0..(j0 + T).min(m) {
                    row[j].write(f(a2[(i, j)], b2[(i, j)]));
                }
            }
        }
    }
    // SAFETY: the loops above wrote every one of the n * m slots.
    unsafe { out.set_len(n * m) };
    ArrayD::from_shape_vec(IxDyn(&[n, m]), out).unwrap_or_else(|_| unreachable!("n * m values"))
}

fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn nan_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// NumPy's float remainder: the sign of the divisor.
fn py_rem_f(a: f64, b: f64) -> f64 {
    let r = a % b;
    if r != 0.0 && ((r < 0.0) != (b < 0.0)) {
        r + b
    } else {
        r
    }
}

/// NumPy's integer remainder (0 when dividing by 0).
fn py_rem_i(a: i64, b: i64) -> i64 {
    if b == 0 {
        return 0;
    }
    let r = a.wrapping_rem(b);
    if r != 0 && ((r < 0) != (b < 0)) {
        r + b
    } else {
        r
    }
}

macro_rules! f64_op {
    ($op:expr, $apply:ident) => {
        match $op {
            BinOp::Add => $apply!(|x: f64, y: f64| x + y),
            BinOp::Sub => $apply!(|x: f64, y: f64| x - y),
            BinOp::Mul => $apply!(|x: f64, y: f64| x * y),
            BinOp::Div => $apply!(|x: f64, y: f64| x / y),
            BinOp::Rem => $apply!(py_rem_f),
            BinOp::Pow => $apply!(f64::powf),
            BinOp::Maximum => $apply!(nan_max),
            BinOp::Minimum => $apply!(nan_min),
            BinOp::Eq => $apply!(|x: f64, y: f64| x == y),
            BinOp::Ne => $apply!(|x: f64, y: f64| x != y),
            BinOp::Lt => $apply!(|x: f64, y: f64| x < y),
            BinOp::Le => $apply!(|x: f64, y: f64| x <= y),
            BinOp::Gt => $apply!(|x: f64, y: f64| x > y),
            BinOp::Ge => $apply!(|x: f64, y: f64| x >= y),
            BinOp::And | BinOp::Or | BinOp::Xor => Err(format!("{} on f64", $op.name())),
        }
    };
}

macro_rules! i64_op {
    ($op:expr, $apply:ident) => {
        match $op {
            BinOp::Add => $apply!(|x: i64, y: i64| x.wrapping_add(y)),
            BinOp::Sub => $apply!(|x: i64, y: i64| x.wrapping_sub(y)),
            BinOp::Mul => $apply!(|x: i64, y: i64| x.wrapping_mul(y)),
            BinOp::Rem => $apply!(py_rem_i),
            BinOp::Maximum => $apply!(|x: i64, y: i64| x.max(y)),
            BinOp::Minimum => $apply!(|x: i64, y: i64| x.min(y)),
            BinOp::Eq => $apply!(|x: i64, y: i64| x == y),
            BinOp::Ne => $apply!(|x: i64, y: i64| x != y),
            BinOp::Lt => $apply!(|x: i64, y: i64| x < y),
            BinOp::Le => $apply!(|x: i64, y: i64| x <= y),
            BinOp::Gt => $apply!(|x: i64, y: i64| x > y),
            BinOp::Ge => $apply!(|x: i64, y: i64| x >= y),
            BinOp::Div | BinOp::Pow | BinOp::And | BinOp::Or | BinOp::Xor => {
                Err(format!("{} on i64", $op.name()))
            }
        }
    };
}

macro_rules! bool_op {
    ($op:expr, $apply:ident) => {
        match $op {
            BinOp::And => $apply!(|x: bool, y: bool| x && y),
            BinOp::Or => $apply!(|x: bool, y: bool| x || y),
            BinOp::Xor => $apply!(|x: bool, y: bool| x != y),
            _ => Err(format!("{} on bool", $op.name())),
        }
    };
}

/// `a op b` for two chunks, broadcasting.
#[rask_macros::task(crate = rask_core)]
pub(crate) fn binary(op: BinOp, a: Block, b: Block) -> Result<Block, String> {
    let (work, out) = result_dtype(op, a.dtype(), b.dtype())?;
    match work {
        DType::F64 => {
            let (a, b) = (as_f64(a), as_f64(b));
            if out == DType::F64 {
                return arith_f64(op, a, b);
            }
            macro_rules! apply {
                ($f:expr) => {
                    zip_map(&a, &b, $f).map(block)
                };
            }
            f64_op!(op, apply)
        }
        DType::I64 => {
            let (a, b) = (as_i64(a), as_i64(b));
            macro_rules! apply {
                ($f:expr) => {
                    zip_map(&a, &b, $f).map(block)
                };
            }
            i64_op!(op, apply)
        }
        DType::Bool => {
            let (a, b) = (as_bool(a), as_bool(b));
            macro_rules! apply {
                ($f:expr) => {
                    zip_map(&a, &b, $f).map(block)
                };
            }
            bool_op!(op, apply)
        }
    }
}

/// `a op s` (or `s op a` when `scalar_first`) for one chunk and a scalar.
#[rask_macros::task(crate = rask_core)]
pub(crate) fn binary_scalar(
    op: BinOp,
    a: Block,
    s: Scalar,
    scalar_first: bool,
) -> Result<Block, String> {
    let (work, _) = result_dtype(op, a.dtype(), s.dtype())?;
    match work {
        DType::F64 => {
            let a = as_f64(a);
            let s = match s {
                Scalar::F64(x) => x,
                Scalar::I64(x) => x as f64,
                Scalar::Bool(x) => f64::from(u8::from(x)),
            };
            macro_rules! apply {
                ($f:expr) => {{
                    let f = $f;
                    Ok(if scalar_first {
                        block(a.map(|&x| f(s, x)))
                    } else {
                        block(a.map(|&x| f(x, s)))
                    })
                }};
            }
            f64_op!(op, apply)
        }
        DType::I64 => {
            let a = as_i64(a);
            let s = match s {
                Scalar::F64(x) => x as i64,
                Scalar::I64(x) => x,
                Scalar::Bool(x) => i64::from(x),
            };
            macro_rules! apply {
                ($f:expr) => {{
                    let f = $f;
                    Ok(if scalar_first {
                        block(a.map(|&x| f(s, x)))
                    } else {
                        block(a.map(|&x| f(x, s)))
                    })
                }};
            }
            i64_op!(op, apply)
        }
        DType::Bool => {
            let a = as_bool(a);
            let s = match s {
                Scalar::Bool(x) => x,
                other => return Err(format!("{} with a {} scalar", op.name(), other.dtype())),
            };
            macro_rules! apply {
                ($f:expr) => {{
                    let f = $f;
                    Ok(if scalar_first {
                        block(a.map(|&x| f(s, x)))
                    } else {
                        block(a.map(|&x| f(x, s)))
                    })
                }};
            }
            bool_op!(op, apply)
        }
    }
}

/// A unary element-wise operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UnOp {
    /// `-x`
    Neg,
    /// `|x|`
    Abs,
    /// `x * x`
    Square,
    /// -1, 0 or 1
    Sign,
    /// square root
    Sqrt,
    /// `e^x`
    Exp,
    /// `e^x - 1`
    Expm1,
    /// natural logarithm
    Ln,
    /// `ln(1 + x)`
    Ln1p,
    /// base-10 logarithm
    Log10,
    /// sine
    Sin,
    /// cosine
    Cos,
    /// tangent
    Tan,
    /// hyperbolic tangent
    Tanh,
    /// round down
    Floor,
    /// round up
    Ceil,
    /// round half to even (NumPy's `round`)
    Round,
    /// `1 / x`
    Recip,
    /// whether `x` is NaN
    IsNan,
    /// whether `x` is finite
    IsFinite,
    /// logical not
    Not,
}

impl UnOp {
    /// The result's dtype for an input of dtype `a`.
    pub(crate) fn out_dtype(self, a: DType) -> DType {
        match self {
            UnOp::IsNan | UnOp::IsFinite | UnOp::Not => DType::Bool,
            UnOp::Neg | UnOp::Abs | UnOp::Square | UnOp::Sign if a != DType::F64 => DType::I64,
            _ => DType::F64,
        }
    }
}

/// `op(a)` for one chunk.
#[rask_macros::task(crate = rask_core)]
pub(crate) fn unary(op: UnOp, a: Block) -> Block {
    let out = op.out_dtype(a.dtype());
    match (op, out) {
        (UnOp::Not, _) => block(as_bool(a).map(|&x| !x)),
        (UnOp::IsNan, _) => block(as_f64(a).map(|x| x.is_nan())),
        (UnOp::IsFinite, _) => block(as_f64(a).map(|x| x.is_finite())),
        (_, DType::I64) => {
            let a = as_i64(a);
            block(match op {
                UnOp::Neg => a.map(|x| x.wrapping_neg()),
                UnOp::Abs => a.map(|x| x.wrapping_abs()),
                UnOp::Square => a.map(|x| x.wrapping_mul(*x)),
                _ => a.map(|x| x.signum()),
            })
        }
        _ => {
            let a = as_f64(a);
            let f: fn(f64) -> f64 = match op {
                UnOp::Neg => |x| -x,
                UnOp::Abs => f64::abs,
                UnOp::Square => |x| x * x,
                UnOp::Sign => |x| {
                    if x > 0.0 {
                        1.0
                    } else if x < 0.0 {
                        -1.0
                    } else {
                        x
                    }
                },
                UnOp::Sqrt => f64::sqrt,
                UnOp::Exp => f64::exp,
                UnOp::Expm1 => f64::exp_m1,
                UnOp::Ln => f64::ln,
                UnOp::Ln1p => f64::ln_1p,
                UnOp::Log10 => f64::log10,
                UnOp::Sin => f64::sin,
                UnOp::Cos => f64::cos,
                UnOp::Tan => f64::tan,
                UnOp::Tanh => f64::tanh,
                UnOp::Floor => f64::floor,
                UnOp::Ceil => f64::ceil,
                UnOp::Round => f64::round_ties_even,
                UnOp::Recip => |x| 1.0 / x,
                UnOp::IsNan | UnOp::IsFinite | UnOp::Not => |x| x,
            };
            block(a.map(|&x| f(x)))
        }
    }
}

/// `where(c, a, b)`: `a` where `c` is true, else `b`, broadcasting all three;
/// `a` and `b` are cast to `out` first.
#[rask_macros::task(crate = rask_core)]
pub(crate) fn select(c: Block, a: Block, b: Block, out: DType) -> Result<Block, String> {
    let c = as_bool(c);
    let shape = broadcast_shape(c.shape(), a.shape())
        .and_then(|s| broadcast_shape(&s, b.shape()))
        .ok_or_else(|| {
            format!(
                "chunks {:?}, {:?} and {:?} do not broadcast",
                c.shape(),
                a.shape(),
                b.shape()
            )
        })?;
    let cv = view_as(&c, &shape)?;
    macro_rules! pick {
        ($cast:ident) => {{
            let (a, b) = ($cast(a), $cast(b));
            let (av, bv) = (view_as(&a, &shape)?, view_as(&b, &shape)?);
            Ok(block(
                Zip::from(&cv)
                    .and(&av)
                    .and(&bv)
                    .map_collect(|&c, &x, &y| if c { x } else { y }),
            ))
        }};
    }
    match out {
        DType::F64 => pick!(as_f64),
        DType::I64 => pick!(as_i64),
        DType::Bool => pick!(as_bool),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shape(&[3, 1], &[4]), Some(vec![3, 4]));
        assert_eq!(broadcast_shape(&[], &[2, 2]), Some(vec![2, 2]));
        assert_eq!(broadcast_shape(&[3], &[4]), None);
    }

    #[test]
    fn mixed_layouts_are_tiled_correctly() {
        let a = ArrayD::from_shape_fn(IxDyn(&[70, 90]), |ix| (ix[0] * 1000 + ix[1]) as f64);
        let b = ArrayD::from_shape_fn(IxDyn(&[90, 70]), |ix| (ix[0] * 7 + ix[1]) as f64);
        let bt = b.clone().reversed_axes();
        let r = binary(
            BinOp::Sub,
            Block::from(a.clone()),
            Block::F64(bt.clone().into_shared()),
        )
        .unwrap()
        .into_ndarray::<f64>()
        .unwrap();
        assert_eq!(r, &a - &bt);
        let s = arr2(&[[1.0, -2.0]]).into_dyn();
        let q = binary_scalar(BinOp::Rem, Block::from(s), Scalar::F64(1.5), false).unwrap();
        assert_eq!(
            q.into_ndarray::<f64>().unwrap(),
            arr2(&[[1.0, 1.0]]).into_dyn()
        );
    }
}
