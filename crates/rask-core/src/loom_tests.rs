//! Loom models of `Run`'s counters and slot protocol (`run.rs`, rules 1-5):
//! small plans executed by several loom threads the way executors do (a
//! thread runs a ready head; a dependent it readies runs next on the same
//! thread, or on a new thread, as a steal would), with every slot access
//! checked by loom's `UnsafeCell`. Run with
//! `RUSTFLAGS="--cfg rask_loom" cargo test --release -p rask-core --lib loom`.

use std::sync::Arc;

use loom::thread;

use crate::loom_model as model;
use crate::{task, Delayed, Key, Run, TaskErrorKind, TaskId, WorkerId};

fn run_of(outputs: &[&Delayed<u64>]) -> Arc<Run> {
    let nodes: Vec<_> = outputs.iter().map(|d| d.node.clone()).collect();
    let opts = crate::PlanOptions { fuse: false };
    let plan = crate::lower::lower_nodes(&nodes, opts).unwrap_or_else(|e| panic!("{e}"));
    Arc::new(Run::new(plan, None))
}

/// Executes `t`, then what it readied: the first on this thread, the others
/// each on a new loom thread (joined before returning). Returns whether
/// some execution completed the run.
fn drive(run: &Arc<Run>, t: TaskId, w: u32) -> bool {
    let mut readied = Vec::new();
    // SAFETY: each task is driven once: a root, or named once by `ready`
    // (rule 1). (`execute` is an `unsafe fn` on main.)
    #[allow(unused_unsafe)]
    let mut complete = unsafe { run.execute(t, WorkerId(w), |d| readied.push(d)) };
    let mut others = Vec::new();
    let mut readied = readied.into_iter();
    let first = readied.next();
    for d in readied {
        let r = run.clone();
        others.push(thread::spawn(move || drive(&r, d, w + 1)));
    }
    if let Some(d) = first {
        complete |= drive(run, d, w);
    }
    for o in others {
        complete |= o.join().unwrap_or(false);
    }
    complete
}

fn value_of(run: &Run, t: TaskId) -> Result<u64, Key> {
    match run.take_output(t) {
        Ok(v) => v
            .downcast_ref::<u64>()
            .copied()
            .ok_or_else(|| Key::new("type")),
        Err(e) => Err(match &e.kind {
            TaskErrorKind::DependencyFailed { dependency } => dependency.clone(),
            _ => e.key.clone(),
        }),
    }
}

#[test]
fn loom_fan_in_sees_both_inputs() {
    // Two roots on two threads; whoever resolves the last input runs `sum`
    // (rule 2: the slot writes happen before the counter hand-off).
    model("run: fan-in of two roots", || {
        let a = task("a").delayed(|| 20u64, ());
        let b = task("b").delayed(|| 22u64, ());
        let sum = task("sum").delayed(|x: u64, y: u64| x + y, (a, b));
        let run = run_of(&[&sum]);
        let (first, second) = (run.plan().roots()[0], run.plan().roots()[1]);
        let r = run.clone();
        let t = thread::spawn(move || drive(&r, second, 1));
        let mut complete = drive(&run, first, 0);
        complete |= t.join().unwrap_or(false);
        assert!(complete && run.is_complete());
        let out = run.plan().outputs()[0];
        assert_eq!(value_of(&run, out), Ok(42));
    });
}

#[test]
fn loom_shared_input_read_by_concurrent_consumers() {
    // `r` is read by `l` and `m`, which run at once, and is an output too:
    // rule 3 (read, then decrement; the last reader empties the slot).
    model("run: one value, three consumers", || {
        let r = task("r").delayed(|| 5u64, ());
        let l = task("l").delayed(|x: u64| x + 1, (&r,));
        let m = task("m").delayed(|x: u64| x * 2, (&r,));
        let top = task("top").delayed(|x: u64, y: u64| x + y, (l, m));
        let run = run_of(&[&top, &r]);
        let root = run.plan().roots()[0];
        assert!(drive(&run, root, 0));
        let outs = run.plan().outputs().to_vec();
        assert_eq!(value_of(&run, outs[0]), Ok(16));
        assert_eq!(value_of(&run, outs[1]), Ok(5));
    });
}

#[test]
fn loom_a_failure_reaches_its_dependents_only() {
    // `l` fails while `m` reads the same input: `top` reports `l` (rule 4)
    // and the shared value still reaches its other readers.
    model("run: failure beside a concurrent reader", || {
        let r = task("r").delayed(|| 5u64, ());
        let l: Delayed<u64> = task("l").try_delayed(
            |x: u64| Err::<u64, _>(std::io::Error::other(format!("l got {x}"))),
            (&r,),
        );
        let m = task("m").delayed(|x: u64| x * 2, (&r,));
        let top = task("top").delayed(|x: u64, y: u64| x + y, (l, &m));
        let run = run_of(&[&top, &m]);
        let root = run.plan().roots()[0];
        assert!(drive(&run, root, 0));
        let outs = run.plan().outputs().to_vec();
        assert_eq!(value_of(&run, outs[0]), Err(Key::new("l")));
        assert_eq!(value_of(&run, outs[1]), Ok(10));
        assert_eq!(run.failed(), 2);
    });
}
