//! Property tests: random shapes, chunkings and chains of operations give
//! the same values (to floating-point tolerance) as the same operations on
//! `ndarray` arrays directly, on `Client::sync()` and `Client::threads()`.
//! Deterministic: a fixed-seed generator drives every choice.

use ndarray::{ArrayD, Axis, IxDyn};
use rask_array::{self as ra, Array, Axes, Sel};
use rask_client::Client;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let x = self.0;
        (x ^ (x >> 29)).wrapping_mul(0xBF58476D1CE4E5B9) >> 16
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    fn f(&mut self) -> f64 {
        (self.next() % 2001) as f64 / 1000.0 - 1.0
    }
}

fn random_chunks(rng: &mut Rng, shape: &[usize]) -> Vec<Vec<usize>> {
    shape
        .iter()
        .map(|&n| {
            let mut v = Vec::new();
            let mut left = n;
            while left > 0 {
                let c = rng.range(1, left.min(4));
                v.push(c);
                left -= c;
            }
            v
        })
        .collect()
}

fn random_array(rng: &mut Rng, shape: &[usize]) -> (ArrayD<f64>, Array) {
    let chunks = random_chunks(rng, shape);
    if rng.below(2) == 0 {
        // A seeded generator: its chunks are fused into whatever consumes them.
        let x = ra::uniform(rng.next(), shape, chunks, -1.0, 1.0).expect("valid chunks");
        let a = x.compute::<f64, _>(&Client::sync()).expect("generate");
        return (a, x);
    }
    let a = ArrayD::from_shape_simple_fn(IxDyn(shape), || rng.f());
    let x = Array::from_ndarray(&a, chunks).expect("valid chunks");
    (a, x)
}

/// Python's `range(n)[start:stop:step]`, written independently of the crate.
fn py_slice(n: usize, start: Option<isize>, stop: Option<isize>, step: isize) -> Vec<usize> {
    let n = n as isize;
    let (lo, hi) = if step > 0 { (0, n) } else { (-1, n - 1) };
    let adj = |v: isize| {
        let v = if v < 0 { v + n } else { v };
        v.clamp(lo, hi)
    };
    let s = start.map_or(if step > 0 { lo } else { hi }, adj);
    let e = stop.map_or(if step > 0 { hi } else { lo }, adj);
    let mut out = Vec::new();
    let mut i = s;
    while (step > 0 && i < e) || (step < 0 && i > e) {
        out.push(i as usize);
        i += step;
    }
    out
}

fn reduce_ref(a: &ArrayD<f64>, axes: &[usize], f: impl Fn(&[f64]) -> f64) -> ArrayD<f64> {
    // Move reduced axes last, then fold each lane.
    let nd = a.ndim();
    let kept: Vec<usize> = (0..nd).filter(|x| !axes.contains(x)).collect();
    let perm: Vec<usize> = kept.iter().chain(axes.iter()).copied().collect();
    let p = a.view().permuted_axes(IxDyn(&perm));
    let out_shape: Vec<usize> = kept.iter().map(|&k| a.shape()[k]).collect();
    let inner: usize = axes.iter().map(|&k| a.shape()[k]).product();
    let flat: Vec<f64> = p.iter().copied().collect();
    let vals: Vec<f64> = flat
        .chunks(inner.max(1))
        .map(|c| f(if inner == 0 { &[] } else { c }))
        .collect();
    ArrayD::from_shape_vec(IxDyn(&out_shape), vals).expect("shape")
}

fn close(a: &ArrayD<f64>, b: &ArrayD<f64>, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    for (x, y) in a.iter().zip(b.iter()) {
        let tol = 1e-9 * (1.0 + x.abs().max(y.abs()));
        assert!(
            (x - y).abs() <= tol || (x.is_nan() && y.is_nan()),
            "{what}: {x} vs {y}\n{a}\n{b}"
        );
    }
}

/// Applies one random operation to both; returns a description.
fn step(rng: &mut Rng, a: &mut ArrayD<f64>, x: &mut Array) -> String {
    let nd = a.ndim();
    match rng.below(9) {
        0 => {
            // Array-array with broadcasting: drop leading axes or set some to 1.
            let mut shape: Vec<usize> = a.shape()[rng.below(nd.max(1)).min(nd)..].to_vec();
            for s in shape.iter_mut() {
                if rng.below(3) == 0 {
                    *s = 1;
                }
            }
            let (b, y) = random_array(rng, &shape);
            let which = rng.below(3);
            let (na, nx) = match which {
                0 => (&*a + &b, x.add(&y)),
                1 => (&*a - &b, x.sub(&y)),
                _ => (&*a * &b, x.mul(&y)),
            };
            *a = na;
            *x = nx.expect("broadcastable");
            format!("binop{which} {shape:?}")
        }
        1 => {
            let s = rng.f();
            *a = a.mapv(|v| v * s + 0.5);
            *x = x.mul(s).and_then(|t| t.add(0.5)).expect("scalar");
            "scalar".into()
        }
        2 => {
            let which = rng.below(4);
            match which {
                0 => {
                    *a = a.mapv(f64::sin);
                    *x = x.sin();
                }
                1 => {
                    *a = a.mapv(f64::abs);
                    *x = x.abs();
                }
                2 => {
                    *a = a.mapv(|v| v * v);
                    *x = x.square();
                }
                _ => {
                    *a = a.mapv(f64::tanh);
                    *x = x.tanh();
                }
            }
            format!("unary{which}")
        }
        3 => {
            let mut perm: Vec<usize> = (0..nd).collect();
            for i in (1..nd).rev() {
                perm.swap(i, rng.below(i + 1));
            }
            *a = a
                .clone()
                .permuted_axes(IxDyn(&perm))
                .as_standard_layout()
                .into_owned();
            *x = x.transpose(Some(&perm)).expect("perm");
            format!("transpose {perm:?}")
        }
        4 => {
            let mut sels = Vec::new();
            let mut r = a.clone();
            let mut ax = 0;
            for d in 0..nd {
                let n = a.shape()[d];
                let sel = match rng.below(4) {
                    0 if nd > 1 && ax < r.ndim() && r.ndim() > 1 => Sel::Index(
                        rng.below(n) as isize - if rng.below(2) == 0 { n as isize } else { 0 },
                    ),
                    1 => Sel::All,
                    _ => {
                        let step = [1, 2, -1, -2, 3][rng.below(5)];
                        let b = |rng: &mut Rng| {
                            (rng.below(2) == 0).then(|| rng.below(2 * n + 1) as isize - n as isize)
                        };
                        Sel::Range {
                            start: b(rng),
                            stop: b(rng),
                            step,
                        }
                    }
                };
                match sel {
                    Sel::Index(i) => {
                        let j = if i < 0 { i + n as isize } else { i } as usize;
                        r = r.index_axis_move(Axis(ax), j);
                    }
                    Sel::All => ax += 1,
                    Sel::Range { start, stop, step } => {
                        let idx = py_slice(n, start, stop, step);
                        if idx.is_empty() {
                            // Keep shapes non-empty for the rest of the chain.
                            sels.push(Sel::All);
                            ax += 1;
                            continue;
                        }
                        r = r.select(Axis(ax), &idx);
                        ax += 1;
                    }
                }
                sels.push(sel);
            }
            *a = r;
            *x = x.slice(&sels).expect("slice");
            format!("slice {sels:?}")
        }
        5 => {
            let chunks = random_chunks(rng, a.shape());
            *x = x.rechunk(chunks.clone()).expect("rechunk");
            format!("rechunk {chunks:?}")
        }
        6 if nd >= 2 => {
            let mut shape: Vec<isize> = vec![-1];
            shape.extend(a.shape()[2..].iter().map(|&s| s as isize));
            let merged: Vec<usize> = std::iter::once(a.shape()[0] * a.shape()[1])
                .chain(a.shape()[2..].iter().copied())
                .collect();
            *a = a
                .as_standard_layout()
                .into_owned()
                .into_shape_with_order(IxDyn(&merged))
                .expect("reshape");
            *x = x.reshape(&shape).expect("reshape");
            format!("reshape {merged:?}")
        }
        7 => {
            let t = rng.f() * 0.5;
            *a = a.mapv(|v| if v > t { v } else { -2.0 });
            *x = ra::where_(&x.gt(t).expect("gt"), &*x, -2.0).expect("where");
            "where".into()
        }
        _ => {
            let b = &*a;
            let (c, z) = (b.clone(), x.clone());
            let axis = rng.below(nd.max(1));
            if nd == 0 {
                return "noop".into();
            }
            *a = ndarray::concatenate(Axis(axis), &[b.view(), c.view()]).expect("concat");
            *x = ra::concatenate(
                &[&z, &z.rechunk(random_chunks(rng, z.shape())).expect("rc")],
                axis as isize,
            )
            .expect("concat");
            format!("concatenate {axis}")
        }
    }
}

fn check_case(seed: u64, clients: &[(&str, &Client)]) {
    let mut rng = Rng(seed);
    let nd = rng.range(1, 3);
    let shape: Vec<usize> = (0..nd).map(|_| rng.range(1, 7)).collect();
    let (mut a, mut x) = random_array(&mut rng, &shape);
    let mut log = vec![format!("start {shape:?} chunks {:?}", x.chunks().sizes())];
    for _ in 0..rng.range(1, 4) {
        if a.len() > 4000 || a.is_empty() {
            break;
        }
        log.push(step(&mut rng, &mut a, &mut x));
    }
    assert_eq!(x.shape(), a.shape(), "{log:?}");
    let nd = a.ndim();
    // A final reduction, or none.
    let which = rng.below(8);
    let axes: Vec<usize> = if nd == 0 || rng.below(3) == 0 {
        (0..nd).collect()
    } else {
        let mut v: Vec<usize> = (0..nd).filter(|_| rng.below(2) == 0).collect();
        if v.is_empty() {
            v.push(rng.below(nd));
        }
        v
    };
    let ax: Vec<isize> = axes.iter().map(|&v| v as isize).collect();
    let opts = ra::ReduceOptions {
        split_every: rng.range(2, 4),
        ddof: 0.0,
    };
    let (want, got): (ArrayD<f64>, Array) = match which {
        0 => (a.clone(), x.clone()),
        1 => (
            reduce_ref(&a, &axes, |v| v.iter().sum()),
            x.reduce(ra::RedOp::Sum, Axes::Some(ax), opts).expect("sum"),
        ),
        2 => (
            reduce_ref(&a, &axes, |v| v.iter().sum::<f64>() / v.len() as f64),
            x.reduce(ra::RedOp::Mean, Axes::Some(ax), opts)
                .expect("mean"),
        ),
        3 => (
            reduce_ref(&a, &axes, |v| {
                let m = v.iter().sum::<f64>() / v.len() as f64;
                (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt()
            }),
            x.reduce(ra::RedOp::Std, Axes::Some(ax), opts).expect("std"),
        ),
        4 => (
            reduce_ref(&a, &axes, |v| {
                v.iter().copied().fold(f64::INFINITY, f64::min)
            }),
            x.reduce(ra::RedOp::Min, Axes::Some(ax), opts).expect("min"),
        ),
        5 => (
            reduce_ref(&a, &axes, |v| {
                v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            }),
            x.reduce(ra::RedOp::Max, Axes::Some(ax), opts).expect("max"),
        ),
        6 => {
            // argmax over the flattened array, or along one axis.
            let one = axes.len() == 1 && nd > 1;
            let axes = if one { axes.clone() } else { (0..nd).collect() };
            let first_max = |v: &[f64]| {
                let mut bi = 0;
                for (i, &x) in v.iter().enumerate() {
                    if x > v[bi] {
                        bi = i;
                    }
                }
                bi as f64
            };
            let got = x
                .argmax(if one { Some(axes[0] as isize) } else { None })
                .expect("argmax")
                .cast(ra::DType::F64);
            (reduce_ref(&a, &axes, first_max), got)
        }
        _ => (
            reduce_ref(&a, &axes, |v| v.iter().product()),
            x.reduce(ra::RedOp::Prod, Axes::Some(ax), opts)
                .expect("prod"),
        ),
    };
    for (name, c) in clients {
        let v = got
            .compute::<f64, _>(*c)
            .unwrap_or_else(|e| panic!("seed {seed} on {name}: {e}\n{log:?}"));
        close(
            &v,
            &want,
            &format!("seed {seed} on {name}, reduction {which} over {axes:?}, {log:?}"),
        );
    }
}

#[test]
fn random_chains_match_ndarray_on_sync_and_threads() {
    let sync = Client::sync();
    let threads = Client::threads();
    let cases = std::env::var("RASK_ARRAY_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300u64);
    for seed in 0..cases {
        check_case(seed, &[("sync", &sync), ("threads", &threads)]);
    }
}

#[test]
fn random_matmuls_match_ndarray() {
    let threads = Client::threads();
    let mut rng = Rng(99);
    for _ in 0..40 {
        let (m, k, n) = (rng.range(1, 9), rng.range(1, 9), rng.range(1, 9));
        let (a, x) = random_array(&mut rng, &[m, k]);
        let (b, y) = random_array(&mut rng, &[k, n]);
        let (v, z) = random_array(&mut rng, &[k]);
        let a2 = a
            .clone()
            .into_dimensionality::<ndarray::Ix2>()
            .expect("2-d");
        let b2 = b.into_dimensionality::<ndarray::Ix2>().expect("2-d");
        let v1 = v.into_dimensionality::<ndarray::Ix1>().expect("1-d");
        close(
            &x.matmul(&y).expect("mm").compute(&threads).expect("run"),
            &a2.dot(&b2).into_dyn(),
            "matmul",
        );
        close(
            &x.dot(&z).expect("mv").compute(&threads).expect("run"),
            &a2.dot(&v1).into_dyn(),
            "matvec",
        );
    }
}
