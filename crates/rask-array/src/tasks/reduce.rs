//! Reduction kernels: a per-chunk step to a [`Partial`], a k-ary combine of
//! partials, and a finishing step back to a block.
//!
//! Partials keep the reduced axes with length 1 ("keepdims"), so combining
//! two partials of the same output chunk is element-wise. Variance uses
//! Chan, Golub and LeVeque's parallel combine of `(count, mean, M2)`, which
//! stays accurate where the naive sum of squares cancels. Arg-reductions
//! carry global indices (the chunk's offset is added in the chunk step) and
//! break ties toward the smaller index, as NumPy returns the first
//! occurrence; a NaN counts as the extreme value, as in NumPy.

use ndarray::{ArcArray, ArrayD, ArrayViewD, Axis, IxDyn, Zip};
use serde::{Deserialize, Serialize};

use super::{as_f64, as_i64, block};
use crate::block::{Block, DType};

/// A reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RedOp {
    /// sum (`bool` sums to `i64`)
    Sum,
    /// product
    Prod,
    /// arithmetic mean
    Mean,
    /// variance with `ddof`
    Var,
    /// standard deviation with `ddof`
    Std,
    /// minimum (NaN propagates)
    Min,
    /// maximum (NaN propagates)
    Max,
    /// index of the first minimum
    ArgMin,
    /// index of the first maximum
    ArgMax,
    /// whether any element is non-zero
    Any,
    /// whether every element is non-zero
    All,
}

impl RedOp {
    /// The operation's name, as NumPy's.
    pub fn name(self) -> &'static str {
        match self {
            RedOp::Sum => "sum",
            RedOp::Prod => "prod",
            RedOp::Mean => "mean",
            RedOp::Var => "var",
            RedOp::Std => "std",
            RedOp::Min => "min",
            RedOp::Max => "max",
            RedOp::ArgMin => "argmin",
            RedOp::ArgMax => "argmax",
            RedOp::Any => "any",
            RedOp::All => "all",
        }
    }

    /// The result dtype for an input of dtype `a`, or why `a` is refused.
    pub(crate) fn out_dtype(self, a: DType) -> Result<DType, String> {
        Ok(match (self, a) {
            (RedOp::Any | RedOp::All, _) => DType::Bool,
            (RedOp::ArgMin | RedOp::ArgMax, DType::Bool) => {
                return Err("bool arrays have no order here; cast first".into())
            }
            (RedOp::ArgMin | RedOp::ArgMax, _) => DType::I64,
            (RedOp::Mean | RedOp::Var | RedOp::Std, _) => DType::F64,
            (RedOp::Sum | RedOp::Prod, DType::F64) => DType::F64,
            (RedOp::Sum | RedOp::Prod, _) => DType::I64,
            (RedOp::Min | RedOp::Max, DType::Bool) => {
                return Err("cast bool arrays to i64 first".into())
            }
            (RedOp::Min | RedOp::Max, d) => d,
        })
    }

    /// Whether the reduction needs a non-empty input.
    pub(crate) fn needs_elements(self) -> bool {
        matches!(
            self,
            RedOp::Min | RedOp::Max | RedOp::ArgMin | RedOp::ArgMax
        )
    }
}

/// Where a chunk sits, for arg-reductions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ArgPlace {
    /// The reduced axis, or `None` for the index into the flattened array.
    pub axis: Option<usize>,
    /// The chunk's global start.
    pub start: Vec<usize>,
    /// The whole array's shape.
    pub shape: Vec<usize>,
}

/// A reduction's state for one output chunk, with the reduced axes kept as length 1.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Partial {
    /// Sums, products, minima, maxima of `f64`.
    F64(ArrayD<f64>),
    /// Sums, products, minima, maxima of `i64`.
    I64(ArrayD<i64>),
    /// `any` / `all`.
    Bool(ArrayD<bool>),
    /// Count and sum (mean).
    Mean {
        /// Elements per output element.
        n: f64,
        /// Their sum.
        sum: ArrayD<f64>,
    },
    /// Count, mean and sum of squared deviations (variance).
    Moments {
        /// Elements per output element.
        n: f64,
        /// Their mean.
        mean: ArrayD<f64>,
        /// Their sum of squared deviations from the mean.
        m2: ArrayD<f64>,
    },
    /// Best value and its global index.
    Arg {
        /// The extreme value.
        val: ArrayD<f64>,
        /// Its index.
        idx: ArrayD<i64>,
    },
}

/// Folds `axes` (sorted) with `f` per lane, keeping them as length 1.
fn fold_axes<T: Clone, U: Clone>(
    a: ArrayViewD<'_, T>,
    axes: &[usize],
    all: impl Fn(ArrayViewD<'_, T>) -> U,
    lane: impl Fn(ArrayViewD<'_, U>, usize) -> ArrayD<U>,
    lift: impl Fn(ArrayViewD<'_, T>, usize) -> ArrayD<U>,
) -> ArrayD<U> {
    let nd = a.ndim();
    if axes.len() == nd {
        return ArrayD::from_elem(IxDyn(&vec![1; nd]), all(a));
    }
    // The first reduced axis lifts T to U; the others reduce U.
    let mut it = axes.iter().rev();
    let Some(&first) = it.next() else {
        return lift(a, usize::MAX);
    };
    let mut acc = lift(a, first);
    for &ax in it {
        acc = lane(acc.view(), ax);
    }
    acc
}

fn sum_f(a: ArrayViewD<'_, f64>, axes: &[usize]) -> ArrayD<f64> {
    fold_axes(
        a,
        axes,
        |v| v.sum(),
        |v, ax| v.sum_axis(Axis(ax)).insert_axis(Axis(ax)),
        |v, ax| v.sum_axis(Axis(ax)).insert_axis(Axis(ax)),
    )
}

fn sum_i(a: ArrayViewD<'_, i64>, axes: &[usize]) -> ArrayD<i64> {
    fold_axes(
        a,
        axes,
        |v| v.iter().fold(0i64, |s, &x| s.wrapping_add(x)),
        |v, ax| {
            v.map_axis(Axis(ax), |l| l.iter().fold(0i64, |s, &x| s.wrapping_add(x)))
                .insert_axis(Axis(ax))
        },
        |v, ax| {
            v.map_axis(Axis(ax), |l| l.iter().fold(0i64, |s, &x| s.wrapping_add(x)))
                .insert_axis(Axis(ax))
        },
    )
}

fn fold_generic<T: Copy, U: Copy>(
    a: ArrayViewD<'_, T>,
    axes: &[usize],
    init: U,
    lift: fn(T) -> U,
    f: fn(U, U) -> U,
) -> ArrayD<U> {
    fold_axes(
        a,
        axes,
        |v| v.iter().fold(init, |s, &x| f(s, lift(x))),
        |v, ax| {
            v.map_axis(Axis(ax), |l| l.iter().fold(init, |s, &x| f(s, x)))
                .insert_axis(Axis(ax))
        },
        |v, ax| {
            v.map_axis(Axis(ax), |l| l.iter().fold(init, |s, &x| f(s, lift(x))))
                .insert_axis(Axis(ax))
        },
    )
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

/// Whether `(v, i)` beats `(w, j)`: NaN first, then the extreme, then the smaller index.
fn beats(max: bool, v: f64, i: i64, w: f64, j: i64) -> bool {
    match (v.is_nan(), w.is_nan()) {
        (true, true) => i < j,
        (true, false) => true,
        (false, true) => false,
        _ => {
            if v == w {
                i < j
            } else {
                (v > w) == max
            }
        }
    }
}

/// Whether `v` strictly beats `w` (a scan keeps the first of equals).
fn strictly_beats(max: bool, v: f64, w: f64) -> bool {
    match (v.is_nan(), w.is_nan()) {
        (true, false) => true,
        (false, false) => {
            if max {
                v > w
            } else {
                v < w
            }
        }
        _ => false,
    }
}

fn count(shape: &[usize], axes: &[usize]) -> f64 {
    axes.iter().map(|&a| shape[a]).product::<usize>() as f64
}

/// The per-chunk step: reduces `axes` (sorted, unique) of one chunk.
#[rask_macros::task(crate = rask_core)]
pub(crate) fn chunk(
    op: RedOp,
    a: Block,
    axes: Vec<usize>,
    place: Option<ArgPlace>,
) -> Result<Partial, String> {
    if axes.iter().any(|&ax| ax >= a.shape().len()) || (axes.is_empty() && !a.shape().is_empty()) {
        return Err(format!(
            "axes {axes:?} for a chunk of shape {:?}",
            a.shape()
        ));
    }
    let n = count(a.shape(), &axes);
    Ok(match op {
        RedOp::Sum => match a {
            Block::F64(x) => Partial::F64(sum_f(x.view(), &axes)),
            other => Partial::I64(sum_i(as_i64(other).view(), &axes)),
        },
        RedOp::Prod => match a {
            Block::F64(x) => Partial::F64(fold_generic(x.view(), &axes, 1.0, |x| x, |a, b| a * b)),
            other => Partial::I64(fold_generic(
                as_i64(other).view(),
                &axes,
                1,
                |x| x,
                i64::wrapping_mul,
            )),
        },
        RedOp::Min | RedOp::Max => {
            let max = op == RedOp::Max;
            match a {
                Block::F64(x) => Partial::F64(fold_generic(
                    x.view(),
                    &axes,
                    if max {
                        f64::NEG_INFINITY
                    } else {
                        f64::INFINITY
                    },
                    |x| x,
                    if max { nan_max } else { nan_min },
                )),
                Block::I64(x) => Partial::I64(fold_generic(
                    x.view(),
                    &axes,
                    if max { i64::MIN } else { i64::MAX },
                    |x| x,
                    if max { i64::max } else { i64::min },
                )),
                Block::Bool(_) => return Err(format!("{} of bool", op.name())),
            }
        }
        RedOp::Any | RedOp::All => {
            let b = super::as_bool(a);
            Partial::Bool(if op == RedOp::Any {
                fold_generic(b.view(), &axes, false, |x| x, |a, b| a || b)
            } else {
                fold_generic(b.view(), &axes, true, |x| x, |a, b| a && b)
            })
        }
        RedOp::Mean => {
            let x = as_f64(a);
            Partial::Mean {
                n,
                sum: sum_f(x.view(), &axes),
            }
        }
        RedOp::Var | RedOp::Std => {
            let x = as_f64(a);
            let sum = sum_f(x.view(), &axes);
            let mean = if n > 0.0 {
                sum.mapv(|s| s / n)
            } else {
                sum.mapv(|_| 0.0)
            };
            let dev = {
                let mv = mean.broadcast(x.raw_dim()).ok_or("internal: mean shape")?;
                Zip::from(&x)
                    .and(&mv)
                    .map_collect(|&v, &m| (v - m) * (v - m))
            };
            Partial::Moments {
                n,
                mean,
                m2: sum_f(dev.view(), &axes),
            }
        }
        RedOp::ArgMin | RedOp::ArgMax => {
            let place = place.ok_or("an arg-reduction without its chunk's place")?;
            arg_chunk(op == RedOp::ArgMax, as_f64(a), &place)?
        }
    })
}

fn arg_chunk(max: bool, x: ArcArray<f64, IxDyn>, place: &ArgPlace) -> Result<Partial, String> {
    let nd = x.ndim();
    match place.axis {
        None => {
            let mut best: Option<(f64, Vec<usize>)> = None;
            for (ix, &v) in x.indexed_iter() {
                let better = match &best {
                    None => true,
                    // Logical order: an earlier element has a smaller flat index.
                    Some((w, _)) => strictly_beats(max, v, *w),
                };
                if better {
                    best = Some((v, ndarray::Dimension::slice(&ix).to_vec()));
                }
            }
            let (v, ix) = best.ok_or("an arg-reduction of an empty chunk")?;
            if place.shape.len() != nd || place.start.len() != nd {
                return Err(format!("a place {place:?} for a chunk of {nd} axes"));
            }
            let mut flat = 0i64;
            for ((&n, &s), &i) in place.shape.iter().zip(&place.start).zip(&ix) {
                flat = flat * n as i64 + (s + i) as i64;
            }
            let one = IxDyn(&vec![1; nd]);
            Ok(Partial::Arg {
                val: ArrayD::from_elem(one.clone(), v),
                idx: ArrayD::from_elem(one, flat),
            })
        }
        Some(ax) => {
            let off = place.start.get(ax).copied().ok_or("axis past the chunk")? as i64;
            let pairs = x.map_axis(Axis(ax), |lane| {
                let mut bi = 0usize;
                let mut bv = f64::NAN;
                for (i, &v) in lane.iter().enumerate() {
                    if i == 0 || strictly_beats(max, v, bv) {
                        bi = i;
                        bv = v;
                    }
                }
                (bv, bi as i64 + off)
            });
            Ok(Partial::Arg {
                val: pairs.mapv(|p| p.0).insert_axis(Axis(ax)),
                idx: pairs.mapv(|p| p.1).insert_axis(Axis(ax)),
            })
        }
    }
}

fn zip2<T: Copy>(a: &mut ArrayD<T>, b: &ArrayD<T>, f: impl Fn(T, T) -> T) -> Result<(), String> {
    if a.shape() != b.shape() {
        return Err(format!(
            "partials of shapes {:?} and {:?}",
            a.shape(),
            b.shape()
        ));
    }
    a.zip_mut_with(b, |x, &y| *x = f(*x, y));
    Ok(())
}

pub(crate) fn combine2(op: RedOp, a: Partial, b: Partial) -> Result<Partial, String> {
    Ok(match (a, b) {
        (Partial::F64(mut x), Partial::F64(y)) => {
            match op {
                RedOp::Sum => zip2(&mut x, &y, |p, q| p + q)?,
                RedOp::Prod => zip2(&mut x, &y, |p, q| p * q)?,
                RedOp::Min => zip2(&mut x, &y, nan_min)?,
                RedOp::Max => zip2(&mut x, &y, nan_max)?,
                _ => return Err(format!("{} of f64 partials", op.name())),
            }
            Partial::F64(x)
        }
        (Partial::I64(mut x), Partial::I64(y)) => {
            match op {
                RedOp::Sum => zip2(&mut x, &y, i64::wrapping_add)?,
                RedOp::Prod => zip2(&mut x, &y, i64::wrapping_mul)?,
                RedOp::Min => zip2(&mut x, &y, i64::min)?,
                RedOp::Max => zip2(&mut x, &y, i64::max)?,
                _ => return Err(format!("{} of i64 partials", op.name())),
            }
            Partial::I64(x)
        }
        (Partial::Bool(mut x), Partial::Bool(y)) => {
            if op == RedOp::Any {
                zip2(&mut x, &y, |p, q| p || q)?;
            } else {
                zip2(&mut x, &y, |p, q| p && q)?;
            }
            Partial::Bool(x)
        }
        (Partial::Mean { n: na, sum: mut sa }, Partial::Mean { n: nb, sum: sb }) => {
            zip2(&mut sa, &sb, |p, q| p + q)?;
            Partial::Mean {
                n: na + nb,
                sum: sa,
            }
        }
        (
            Partial::Moments {
                n: na,
                mean: mut ma,
                m2: mut qa,
            },
            Partial::Moments {
                n: nb,
                mean: mb,
                m2: qb,
            },
        ) => {
            let n = na + nb;
            if nb == 0.0 {
                return Ok(Partial::Moments {
                    n: na,
                    mean: ma,
                    m2: qa,
                });
            }
            if na == 0.0 {
                return Ok(Partial::Moments {
                    n: nb,
                    mean: mb,
                    m2: qb,
                });
            }
            if ma.shape() != mb.shape() || qa.shape() != qb.shape() {
                return Err("moment partials of different shapes".into());
            }
            // Chan et al.: delta = mb - ma; mean = ma + delta nb / n; M2 += M2b + delta^2 na nb / n.
            Zip::from(&mut ma)
                .and(&mut qa)
                .and(&mb)
                .and(&qb)
                .for_each(|m, q, &m2, &q2| {
                    let d = m2 - *m;
                    *m += d * nb / n;
                    *q += q2 + d * d * na * nb / n;
                });
            Partial::Moments {
                n,
                mean: ma,
                m2: qa,
            }
        }
        (
            Partial::Arg {
                val: mut va,
                idx: mut ia,
            },
            Partial::Arg { val: vb, idx: ib },
        ) => {
            if va.shape() != vb.shape() {
                return Err("arg partials of different shapes".into());
            }
            let max = op == RedOp::ArgMax;
            Zip::from(&mut va)
                .and(&mut ia)
                .and(&vb)
                .and(&ib)
                .for_each(|v, i, &w, &j| {
                    if beats(max, w, j, *v, *i) {
                        *v = w;
                        *i = j;
                    }
                });
            Partial::Arg { val: va, idx: ia }
        }
        _ => return Err(format!("{}: partials of different kinds", op.name())),
    })
}

/// Combines the partials of one output chunk (any number, at least one).
#[rask_macros::task(crate = rask_core)]
pub(crate) fn combine(op: RedOp, parts: Vec<Partial>) -> Result<Partial, String> {
    let mut it = parts.into_iter();
    let first = it.next().ok_or("combine of no partials")?;
    it.try_fold(first, |acc, p| combine2(op, acc, p))
}

/// Finishes one output chunk: drops the reduced axes (`axes`, sorted) and
/// turns the state into values (`ddof` for var/std).
#[rask_macros::task(crate = rask_core)]
pub(crate) fn finish(op: RedOp, p: Partial, axes: Vec<usize>, ddof: f64) -> Result<Block, String> {
    fn drop_axes<T: Clone>(a: ArrayD<T>, axes: &[usize]) -> ArrayD<T> {
        let mut a = a;
        for &ax in axes.iter().rev() {
            a = a.index_axis_move(Axis(ax), 0);
        }
        a
    }
    Ok(match p {
        Partial::F64(x) => block(drop_axes(x, &axes)),
        Partial::I64(x) => block(drop_axes(x, &axes)),
        Partial::Bool(x) => block(drop_axes(x, &axes)),
        Partial::Mean { n, sum } => block(drop_axes(sum.mapv(|s| s / n), &axes)),
        Partial::Moments { n, m2, .. } => {
            let d = (n - ddof).max(0.0);
            let sd = op == RedOp::Std;
            block(drop_axes(
                m2.mapv(|q| if sd { (q / d).sqrt() } else { q / d }),
                &axes,
            ))
        }
        Partial::Arg { idx, .. } => block(drop_axes(idx, &axes)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chan_combine_matches_one_pass() {
        let a = ArrayD::from_shape_fn(IxDyn(&[6, 3]), |ix| 1e9 + (ix[0] * 3 + ix[1]) as f64 * 0.5);
        let top = Block::from(a.slice(ndarray::s![..2, ..]).to_owned().into_dyn());
        let bot = Block::from(a.slice(ndarray::s![2.., ..]).to_owned().into_dyn());
        let pa = chunk(RedOp::Var, top, vec![0], None).unwrap();
        let pb = chunk(RedOp::Var, bot, vec![0], None).unwrap();
        let v = finish(
            RedOp::Var,
            combine(RedOp::Var, vec![pa, pb]).unwrap(),
            vec![0],
            0.0,
        )
        .unwrap()
        .into_ndarray::<f64>()
        .unwrap();
        let want = a.var_axis(Axis(0), 0.0);
        for (x, y) in v.iter().zip(want.iter()) {
            assert!((x - y).abs() < 1e-6, "{x} {y}");
        }
    }

    #[test]
    fn argmax_prefers_the_first_occurrence() {
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1.0, 5.0, 5.0, 0.0]).unwrap();
        let place = ArgPlace {
            axis: None,
            start: vec![2, 0],
            shape: vec![4, 2],
        };
        let p = chunk(RedOp::ArgMax, Block::from(a), vec![0, 1], Some(place)).unwrap();
        let i = finish(RedOp::ArgMax, p, vec![0, 1], 0.0)
            .unwrap()
            .into_ndarray::<i64>()
            .unwrap();
        assert_eq!(i.iter().copied().collect::<Vec<_>>(), vec![5]);
    }
}
