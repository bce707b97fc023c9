//! The public API case by case: creation, dtypes, errors raised when the
//! graph is built (naming both shapes), files, and determinism of the
//! seeded generator across executors.

use ndarray::{arr1, arr2, ArrayD, IxDyn};
use rask_array::{self as ra, Array, ArrayError, Axes, DType, Sel};
use rask_client::Client;

fn sync() -> Client {
    Client::sync()
}

#[test]
fn creation_functions_match_numpy() {
    let c = sync();
    assert_eq!(
        ra::zeros(&[3, 2], 2)
            .unwrap()
            .compute::<f64, _>(&c)
            .unwrap(),
        ArrayD::<f64>::zeros(IxDyn(&[3, 2]))
    );
    assert_eq!(
        ra::ones(&[4], 3).unwrap().compute::<f64, _>(&c).unwrap(),
        ArrayD::<f64>::ones(IxDyn(&[4]))
    );
    assert_eq!(
        ra::full(&[2], 1, 7i64)
            .unwrap()
            .compute::<i64, _>(&c)
            .unwrap(),
        arr1(&[7, 7]).into_dyn()
    );
    assert_eq!(
        ra::arange(0.0, 5.0, 2.0, 2)
            .unwrap()
            .compute::<f64, _>(&c)
            .unwrap(),
        arr1(&[0.0, 2.0, 4.0]).into_dyn()
    );
    assert_eq!(
        ra::arange(3.0, 0.0, -1.0, 2)
            .unwrap()
            .compute::<f64, _>(&c)
            .unwrap(),
        arr1(&[3.0, 2.0, 1.0]).into_dyn()
    );
    let l = ra::linspace(0.0, 1.0, 5, 2)
        .unwrap()
        .compute::<f64, _>(&c)
        .unwrap();
    assert_eq!(l, arr1(&[0.0, 0.25, 0.5, 0.75, 1.0]).into_dyn());
    let e = ra::eye(3, 4, 1, 2).unwrap().compute::<f64, _>(&c).unwrap();
    assert_eq!(
        e,
        arr2(&[
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0]
        ])
        .into_dyn()
    );
    assert!(ra::arange(0.0, 1.0, 0.0, 2).is_err());
}

#[test]
fn random_arrays_do_not_depend_on_the_executor() {
    let x = ra::random(42, &[50, 40], [16, 16]).unwrap();
    let a = x.compute::<f64, _>(&sync()).unwrap();
    let b = x.compute::<f64, _>(&Client::threads()).unwrap();
    assert_eq!(a, b);
    assert!(a.iter().all(|v| (0.0..1.0).contains(v)));
    assert_ne!(
        a,
        ra::random(43, &[50, 40], [16, 16])
            .unwrap()
            .compute::<f64, _>(&sync())
            .unwrap()
    );
    let n = ra::normal(1, &[200, 100], 64, 10.0, 2.0).unwrap();
    let m: f64 = n.mean(Axes::All).unwrap().compute_scalar(&sync()).unwrap();
    let s: f64 = n
        .std(Axes::All, 1.0)
        .unwrap()
        .compute_scalar(&sync())
        .unwrap();
    assert!((m - 10.0).abs() < 0.1 && (s - 2.0).abs() < 0.1, "{m} {s}");
}

#[test]
fn shape_mismatches_name_both_shapes() {
    let a = ra::zeros(&[3, 4], 2).unwrap();
    let b = ra::zeros(&[5], 2).unwrap();
    let e = a.add(&b).unwrap_err();
    assert!(matches!(e, ArrayError::ShapeMismatch { .. }));
    let msg = e.to_string();
    assert!(msg.contains("(3, 4)") && msg.contains("(5,)"), "{msg}");
    let m = a
        .matmul(&ra::zeros(&[3, 2], 2).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("matmul") && m.contains("(3, 4)") && m.contains("(3, 2)"),
        "{m}"
    );
    let c = ra::concatenate(&[&a, &ra::zeros(&[3, 5], 2).unwrap()], 0)
        .unwrap_err()
        .to_string();
    assert!(c.contains("(3, 4)") && c.contains("(3, 5)"), "{c}");
    assert!(a.sum(2).is_err());
    assert!(a.reshape(&[5, -1]).is_err());
    assert!(a.slice(&[Sel::Index(3)]).is_err());
    assert!(a.and(&a).is_err(), "logical ops take bool arrays");
    assert!(a.compute::<i64, _>(&sync()).is_err());
    assert!(ra::zeros(&[3], 0).is_err());
}

#[test]
fn dtypes_comparisons_where_and_casts() {
    let c = sync();
    let x = Array::from_ndarray(&arr1(&[-1.5, 0.0, 2.5, 4.0]), 3).unwrap();
    let gt = x.gt(0.0).unwrap();
    assert_eq!(gt.dtype(), DType::Bool);
    assert_eq!(
        gt.compute::<bool, _>(&c).unwrap(),
        arr1(&[false, false, true, true]).into_dyn()
    );
    assert_eq!(
        gt.sum(Axes::All)
            .unwrap()
            .compute_scalar::<i64, _>(&c)
            .unwrap(),
        2
    );
    assert!(gt
        .any(Axes::All)
        .unwrap()
        .compute_scalar::<bool, _>(&c)
        .unwrap());
    assert!(!gt
        .all(Axes::All)
        .unwrap()
        .compute_scalar::<bool, _>(&c)
        .unwrap());
    let w = ra::where_(&gt, &x, 0.0).unwrap();
    assert_eq!(
        w.compute::<f64, _>(&c).unwrap(),
        arr1(&[0.0, 0.0, 2.5, 4.0]).into_dyn()
    );
    let i = x.cast(DType::I64);
    assert_eq!(
        i.compute::<i64, _>(&c).unwrap(),
        arr1(&[-1, 0, 2, 4]).into_dyn()
    );
    assert_eq!(i.div(2i64).unwrap().dtype(), DType::F64);
    assert_eq!(
        i.rem(3i64).unwrap().compute::<i64, _>(&c).unwrap(),
        arr1(&[2, 0, 2, 1]).into_dyn()
    );
    assert_eq!(
        x.argmin(None)
            .unwrap()
            .compute_scalar::<i64, _>(&c)
            .unwrap(),
        0
    );
    assert_eq!(
        x.argmax(None)
            .unwrap()
            .compute_scalar::<i64, _>(&c)
            .unwrap(),
        3
    );
    let v: f64 = x.var(Axes::All, 1.0).unwrap().compute_scalar(&c).unwrap();
    let m = (-1.5 + 0.0 + 2.5 + 4.0) / 4.0;
    let want = [-1.5f64, 0.0, 2.5, 4.0]
        .iter()
        .map(|v| (v - m) * (v - m))
        .sum::<f64>()
        / 3.0;
    assert!((v - want).abs() < 1e-12);
}

#[test]
fn stack_swapaxes_and_axis_reductions() {
    let c = sync();
    let a = ArrayD::from_shape_fn(IxDyn(&[4, 3]), |ix| (ix[0] * 3 + ix[1]) as f64);
    let x = Array::from_ndarray(&a, [3, 2]).unwrap();
    let s = ra::stack(&[&x, &x.mul(2.0).unwrap()], 1).unwrap();
    assert_eq!(s.shape(), &[4, 2, 3]);
    let got = s.compute::<f64, _>(&c).unwrap();
    assert_eq!(got.index_axis(ndarray::Axis(1), 1), a.mapv(|v| v * 2.0));
    let t = s.swapaxes(0, -1).unwrap();
    assert_eq!(t.shape(), &[3, 2, 4]);
    let m = s.max([0, 2]).unwrap().compute::<f64, _>(&c).unwrap();
    assert_eq!(m, arr1(&[11.0, 22.0]).into_dyn());
    let r = x.reshape(&[2, 6]).unwrap().compute::<f64, _>(&c).unwrap();
    assert_eq!(r, a.clone().into_shape_with_order(IxDyn(&[2, 6])).unwrap());
    let r = x
        .reshape(&[-1])
        .unwrap()
        .reshape(&[6, 2])
        .unwrap()
        .compute::<f64, _>(&c)
        .unwrap();
    assert_eq!(r, a.into_shape_with_order(IxDyn(&[6, 2])).unwrap());
}

mod kernels {
    use rask_array::Block;

    /// A user kernel for `map_blocks`: registered, so it also runs on workers.
    #[rask_macros::task(crate = rask_core)]
    pub(crate) fn plus_one(b: Block) -> Block {
        match b {
            Block::F64(a) => Block::F64((&a + 1.0).into_shared()),
            other => other,
        }
    }
}

#[test]
fn map_blocks_with_a_registered_function() {
    let x = ra::arange(0.0, 5.0, 1.0, 2).unwrap();
    let y = x.map_blocks(kernels::plus_one::delayed);
    assert_eq!(
        y.compute::<f64, _>(&sync()).unwrap(),
        arr1(&[1.0, 2.0, 3.0, 4.0, 5.0]).into_dyn()
    );
}

#[test]
fn npy_files_and_the_chunked_store_round_trip() {
    let dir = std::env::temp_dir().join(format!("rask-array-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = Client::threads();
    let x = ra::random(5, &[30, 20], [7, 9]).unwrap();
    let want = x.compute::<f64, _>(&c).unwrap();
    let f = dir.join("x.npy");
    x.to_npy(&f, &c).unwrap();
    let back = ra::from_npy(&f, 8).unwrap();
    assert_eq!(back.compute::<f64, _>(&c).unwrap(), want);
    let store = dir.join("store");
    let bytes = x.to_store(&store, &c).unwrap();
    assert!(bytes >= 30 * 20 * 8);
    let s = ra::from_store(&store).unwrap();
    assert_eq!(s.chunks(), x.chunks());
    assert_eq!(s.compute::<f64, _>(&c).unwrap(), want);
    let b = x.gt(0.5).unwrap();
    b.to_npy(dir.join("b.npy"), &c).unwrap();
    assert_eq!(
        ra::from_npy(dir.join("b.npy"), 10)
            .unwrap()
            .compute::<bool, _>(&c)
            .unwrap(),
        b.compute::<bool, _>(&c).unwrap()
    );
    std::fs::write(dir.join("bad.npy"), b"not npy at all").unwrap();
    assert!(matches!(
        ra::from_npy(dir.join("bad.npy"), 4),
        Err(ArrayError::Format { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fused_generators_match_their_materialized_values() {
    let c = Client::threads();
    let x = ra::random(9, &[37, 37], [10, 12]).unwrap();
    let a = x.compute::<f64, _>(&c).unwrap();
    let want = (&a + &a.t()).mean_axis(ndarray::Axis(0)).unwrap();
    let got = x
        .add(&x.T())
        .unwrap()
        .mean(0)
        .unwrap()
        .compute::<f64, _>(&c)
        .unwrap();
    for (g, w) in got.iter().zip(want.iter()) {
        assert!((g - w).abs() < 1e-12, "{g} {w}");
    }
    // A long chain stays correct past the fusion limit.
    let mut y = x.clone();
    let mut b = a.clone();
    for _ in 0..20 {
        y = y.add(&y).unwrap().mul(0.5).unwrap();
        b = (&b + &b) * 0.5;
    }
    assert_eq!(y.compute::<f64, _>(&c).unwrap(), b);
}

#[test]
fn banded_reductions_match_materialized_values() {
    // Chunks big enough that fused reductions over axis 0 run band by band.
    let c = Client::threads();
    let x = ra::random(11, &[1024, 1024], 512).unwrap();
    let a = x.compute::<f64, _>(&c).unwrap();
    let e = (&a + &a.t()) * 0.5 - a.mapv(f64::sqrt);
    let y = x
        .add(&x.T())
        .unwrap()
        .mul(0.5)
        .unwrap()
        .sub(&x.sqrt())
        .unwrap();
    let check = |got: ArrayD<f64>, want: ArrayD<f64>, what: &str| {
        assert_eq!(got.shape(), want.shape(), "{what}");
        for (g, w) in got.iter().zip(want.iter()) {
            assert!((g - w).abs() <= 1e-10 * (1.0 + w.abs()), "{what}: {g} {w}");
        }
    };
    let ax0 = ndarray::Axis(0);
    check(
        y.mean(0).unwrap().compute(&c).unwrap(),
        e.mean_axis(ax0).unwrap(),
        "mean",
    );
    check(
        y.var(0, 1.0).unwrap().compute(&c).unwrap(),
        e.var_axis(ax0, 1.0),
        "var",
    );
    check(
        y.max(0).unwrap().compute(&c).unwrap(),
        e.fold_axis(ax0, f64::MIN, |m, &v| m.max(v)),
        "max",
    );
    let s: f64 = y.sum(Axes::All).unwrap().compute_scalar(&c).unwrap();
    check(
        ArrayD::from_elem(IxDyn(&[]), s),
        ArrayD::from_elem(IxDyn(&[]), e.sum()),
        "sum",
    );
    let n = ra::normal(3, &[1024, 300], [1024, 150], 0.0, 1.0).unwrap();
    let na = n.compute::<f64, _>(&c).unwrap();
    check(
        n.abs().sum(0).unwrap().compute(&c).unwrap(),
        na.mapv(f64::abs).sum_axis(ax0),
        "normal",
    );
}

/// A fused chunk of one or two materialized inputs (`x + x.T` over a
/// persisted or given array) takes them as arguments of its own: the graph
/// has no gather task, which on worker processes copied both blocks into
/// one value that was kept, spilled and read back (W9). In a reduction,
/// chunks (i, j) and (j, i), which read the same two blocks, share one
/// task: every block is read by one task of the sum.
#[test]
fn fused_chunks_of_two_inputs_gather_nothing() {
    let n = 6;
    let a = ArrayD::from_shape_fn(IxDyn(&[n, n]), |i| (i[0] * 10 + i[1]) as f64);
    let given = Array::from_ndarray(&a, 2).unwrap();
    let x = Array::from_blocks(vec![n, n], 2, DType::F64, given.blocks().to_vec()).unwrap();
    let y = x.add(&x.T()).unwrap();
    let s = y.sum(Axes::All).unwrap();
    for (what, d) in [("x + x.T", &y.blocks()[1]), ("its sum", &s.blocks()[0])] {
        let plan = d.plan(rask_core::PlanOptions::default()).unwrap();
        let name = |t: rask_core::TaskId| plan.key(t).name().as_display().into_owned();
        // Gathers only collect the small partial results of the sum's
        // tree, never blocks.
        for t in (0..plan.len()).map(|i| rask_core::TaskId(i as u32)) {
            if name(t) == "gather" {
                let deps: Vec<String> = plan.deps(t).iter().map(|&d| name(d)).collect();
                assert!(
                    deps.iter()
                        .all(|d| d == "reduce2" || d == "reduce2_many" || d == "combine"),
                    "{what}: a gather of {deps:?}"
                );
            }
        }
        let fused = (0..plan.len())
            .filter(|&i| {
                matches!(
                    name(rask_core::TaskId(i as u32)).as_str(),
                    "eval2" | "reduce2" | "reduce2_many"
                )
            })
            .collect::<Vec<_>>();
        // The sum: 3 diagonal chunks, 3 pairs of transposed ones.
        assert_eq!(fused.len(), if what == "its sum" { 6 } else { 1 }, "{what}");
        if what == "its sum" {
            let blocks: Vec<_> = given.blocks().iter().map(|b| b.key().clone()).collect();
            let mut readers = std::collections::HashMap::new();
            for &i in &fused {
                let mut deps = plan.deps(rask_core::TaskId(i as u32)).to_vec();
                deps.dedup(); // a diagonal chunk reads its block twice
                for d in &deps {
                    if blocks.contains(plan.key(*d)) {
                        *readers.entry(*d).or_insert(0) += 1;
                    }
                }
            }
            assert_eq!(readers.len(), 9, "every block is read");
            assert!(readers.values().all(|&n| n == 1), "{readers:?}");
        }
    }
    let c = sync();
    let want = &a + &a.t();
    assert_eq!(y.compute::<f64, _>(&c).unwrap(), want);
    let total: f64 = s.compute_scalar(&c).unwrap();
    assert_eq!(total, want.sum());
}
