//! Deep and wide graphs on the in-process executors, with the default stack
//! sizes (test threads get 2 MiB): nothing in building, lowering, ordering,
//! validating, running, failing or dropping a graph may recurse once per
//! task. Each graph has `N` = 1,000,000 tasks; in a debug build each test
//! takes a few seconds (see `docs/reliability.md`).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use rask_core::{
    delayed, task, try_delayed, value, Delayed, Executor, Graph, Inputs, Key, PlanOptions,
    SyncExecutor, TaskErrorKind, TaskFailure,
};
use rask_local::ThreadsExecutor;

const N: u64 = 1_000_000;
/// A bound that a debug build on a loaded 2-core machine meets with room to
/// spare; a recursion or a quadratic walk would blow the stack or this.
const BOUND: Duration = Duration::from_secs(120);

fn executors() -> Vec<Box<dyn Executor>> {
    vec![
        Box::new(SyncExecutor::new()),
        Box::new(ThreadsExecutor::with_threads(2).unwrap()),
    ]
}

fn chain(n: u64) -> Delayed<u64> {
    let mut x = value(0u64);
    for _ in 0..n {
        x = delayed(|v: u64| v + 1, (x,));
    }
    x
}

#[test]
fn chain_of_a_million_builds_runs_and_drops() {
    let t = Instant::now();
    let x = chain(N);
    for ex in executors() {
        assert_eq!(x.compute(&*ex).unwrap(), N, "{}", ex.name());
        // Unfused: every task is scheduled on its own.
        let unfused = ex_unfused(&*ex);
        assert_eq!(x.compute(&*unfused).unwrap(), N, "{} unfused", ex.name());
    }
    let plan = x.plan(PlanOptions::default()).unwrap();
    assert_eq!(plan.len() as u64, N + 1);
    assert_eq!(plan.units(), 1);
    drop(x); // the plan still holds every node: dropping it drops the chain
    drop(plan);
    assert!(t.elapsed() < BOUND, "took {:?}", t.elapsed());
}

fn ex_unfused(ex: &dyn Executor) -> Box<dyn Executor + '_> {
    struct Unfused<'a>(&'a dyn Executor);
    impl Executor for Unfused<'_> {
        fn name(&self) -> &'static str {
            self.0.name()
        }
        fn workers(&self) -> usize {
            self.0.workers()
        }
        fn plan_options(&self) -> PlanOptions {
            PlanOptions { fuse: false }
        }
        fn execute(&self, run: &std::sync::Arc<rask_core::Run>) {
            self.0.execute(run)
        }
    }
    Box::new(Unfused(ex))
}

#[test]
fn chain_of_a_million_dropped_unrun() {
    // Dropping the last handle of a chain that never ran (the crash).
    let t = Instant::now();
    drop(chain(N));
    // Chains of tasks with placement hints hold their node twice over.
    let mut x = value(0u64);
    for _ in 0..N / 4 {
        x = delayed(|v: u64| v + 1, (x,)).resources(&[("gpu", 1.0)]);
    }
    drop(x);
    assert!(t.elapsed() < BOUND, "took {:?}", t.elapsed());
}

#[test]
fn failure_at_the_root_of_a_million_chain() {
    let t = Instant::now();
    let mut x: Delayed<u64> = try_delayed(|| Err::<u64, _>(std::io::Error::other("root")), ());
    for _ in 0..N {
        x = delayed(|v: u64| v + 1, (x,));
    }
    for ex in executors() {
        let e = x.compute(&*ex).unwrap_err();
        let e = e.as_task().unwrap();
        assert!(matches!(e.kind, TaskErrorKind::DependencyFailed { .. }));
        assert_eq!(e.cause.as_ref().unwrap().message, "root");
    }
    drop(x);
    assert!(t.elapsed() < BOUND, "took {:?}", t.elapsed());
}

#[test]
fn fan_in_of_a_million() {
    let t = Instant::now();
    let leaves: Vec<Delayed<u64>> = (0..N).map(value).collect();
    let sum = delayed(|v: Vec<u64>| v.iter().sum::<u64>(), (leaves,));
    // And a fan-out: a million tasks reading one value, gathered again.
    let one = value(1u64);
    let reads: Vec<Delayed<u64>> = (0..N).map(|_| one.map(|v| v + 1)).collect();
    let total = delayed(|v: Vec<u64>| v.iter().sum::<u64>(), (reads,));
    for ex in executors() {
        assert_eq!(sum.compute(&*ex).unwrap(), N * (N - 1) / 2, "{}", ex.name());
        assert_eq!(total.compute(&*ex).unwrap(), 2 * N, "{}", ex.name());
    }
    drop((sum, total, one));
    assert!(t.elapsed() < BOUND, "took {:?}", t.elapsed());
}

fn inc(inputs: &mut Inputs<'_>) -> Result<u64, TaskFailure> {
    Ok(inputs.take::<u64>()? + 1)
}

#[test]
fn keyed_chain_of_a_million_validates_plans_and_runs() {
    let t = Instant::now();
    let mut g = Graph::new();
    g.insert(("x", 0u64), Vec::<Key>::new(), |_: &mut Inputs<'_>| {
        Ok::<u64, TaskFailure>(0)
    });
    for i in 1..=N {
        g.insert(("x", i), [("x", i - 1)], inc);
    }
    g.validate().unwrap();
    for ex in executors() {
        assert_eq!(g.compute::<u64, _>(&*ex, ("x", N)).unwrap(), N);
    }
    // A cycle closing a million-long path is found and named.
    g.insert(("x", N + 1), [("x", N + 2)], inc);
    g.insert(("x", N + 2), [("x", N + 1)], inc);
    assert!(g.validate().is_err());
    drop(g);
    assert!(t.elapsed() < BOUND, "took {:?}", t.elapsed());
}

#[test]
fn keyed_cycle_a_million_long() {
    let mut g = Graph::new();
    for i in 0..N {
        g.insert(("c", i), [("c", (i + 1) % N)], inc);
    }
    match g.validate() {
        Err(rask_core::GraphError::Cycle { keys }) => assert_eq!(keys.len() as u64, N),
        other => panic!("expected a cycle, got {other:?}"),
    }
}

#[test]
fn named_chain_and_shared_diamonds() {
    // A ladder of diamonds: each rung reads the previous rung twice.
    let t = Instant::now();
    let mut x = task(("d", 0u64)).delayed(|| 1u64, ());
    for i in 1..N / 4 {
        let l = x.map(|v| v % 7);
        let r = x.map(|v| v % 5);
        x = task(("d", i)).delayed(|a: u64, b: u64| a + b + 1, (l, r));
    }
    for ex in executors() {
        assert!(x.compute(&*ex).unwrap() > 0);
    }
    drop(x);
    assert!(t.elapsed() < BOUND, "took {:?}", t.elapsed());
}
