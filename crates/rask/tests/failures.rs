//! Failing tasks: the error names the task and carries the message and the
//! backtrace; dependents do not run and name the failed dependency;
//! independent branches complete; no thread is lost.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rask::prelude::*;
use rask::TaskErrorKind;

/// 10,000 leaves in 100 groups of 100; group sums; a total. Leaf 4242 panics.
fn wide(ran: &Arc<AtomicUsize>) -> (Vec<Delayed<u64>>, Delayed<u64>) {
    let mut groups = Vec::new();
    for g in 0..100u64 {
        let leaves: Vec<Delayed<u64>> = (0..100u64)
            .map(|j| {
                let i = g * 100 + j;
                let ran = ran.clone();
                task(("leaf", i)).delayed(
                    move || {
                        ran.fetch_add(1, Ordering::SeqCst);
                        if i == 4242 {
                            panic!("leaf {i} hit a bad record");
                        }
                        i
                    },
                    (),
                )
            })
            .collect();
        groups.push(task(("group", g)).delayed(|v: Vec<u64>| v.iter().sum::<u64>(), (leaves,)));
    }
    let total = task("total").delayed(|v: Vec<u64>| v.iter().sum::<u64>(), (&groups,));
    (groups, total)
}

#[test]
fn a_panicking_task_in_a_wide_graph() {
    for client in [
        Client::sync(),
        Client::threads_with(2),
        Client::threads_with(4),
    ] {
        let ran = Arc::new(AtomicUsize::new(0));
        let (groups, total) = wide(&ran);
        let e = total.compute(&client).unwrap_err();
        let t = e.as_task().expect("a task error");
        assert_eq!(t.key.to_string(), "total");
        assert_eq!(
            t.kind,
            TaskErrorKind::DependencyFailed {
                dependency: ("group", 42u64).into()
            }
        );
        let root = t.root();
        assert_eq!(root.key.to_string(), "leaf[4242]");
        assert_eq!(root.kind, TaskErrorKind::Panicked);
        assert!(
            root.message.starts_with("leaf 4242 hit a bad record (at "),
            "{}",
            root.message
        );
        assert!(
            root.message.contains("failures.rs"),
            "the location is named: {}",
            root.message
        );
        let bt = root.backtrace.as_ref().expect("a backtrace").to_string();
        assert!(bt.contains("failures"), "the backtrace shows the task body");
        assert_eq!(
            e.to_string(),
            format!(
                "task `total` did not run because its dependency `group[42]` failed: task `leaf[4242]` panicked: {}",
                root.message
            )
        );
        // Every leaf ran: the failure did not stop independent work.
        assert_eq!(ran.load(Ordering::SeqCst), 10_000);
        // The other groups completed; computing them together reports group 42.
        let values: Vec<Result<u64>> = groups.iter().map(|g| g.compute(&client)).collect();
        for (g, v) in values.iter().enumerate() {
            if g == 42 {
                assert!(v.is_err());
            } else {
                let want: u64 = (g as u64 * 100..g as u64 * 100 + 100).sum();
                assert_eq!(*v.as_ref().unwrap(), want);
            }
        }
        // No thread was lost: the pool still runs a full graph.
        let ok: Vec<Delayed<u64>> = (0..1000u64).map(|i| delayed(move || i, ())).collect();
        let s = delayed(|v: Vec<u64>| v.iter().sum::<u64>(), (ok,));
        assert_eq!(s.compute(&client).unwrap(), 499_500);
    }
}

#[derive(Debug)]
struct Inner;
impl std::fmt::Display for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "disk full")
    }
}
impl std::error::Error for Inner {}

#[derive(Debug)]
struct Outer(Inner);
impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "could not save chunk")
    }
}
impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn a_returned_error_carries_its_source_chain() {
    let save = task(("save", 7u64)).try_delayed(
        || -> std::result::Result<u64, Outer> { Err(Outer(Inner)) },
        (),
    );
    let after = task("after").delayed(|x: u64| x + 1, (&save,));
    for client in [Client::sync(), Client::threads_with(2)] {
        let e = after.compute(&client).unwrap_err();
        let root = e.as_task().unwrap().root();
        assert_eq!(root.kind, TaskErrorKind::Failed);
        assert_eq!(root.message, "could not save chunk: disk full");
        assert!(root.backtrace.is_none());
        assert_eq!(
            e.to_string(),
            "task `after` did not run because its dependency `save[7]` failed: task `save[7]` failed: could not save chunk: disk full"
        );
        // `source()` walks to the root.
        let src = std::error::Error::source(e.as_task().unwrap()).expect("a source");
        assert_eq!(
            src.to_string(),
            "task `save[7]` failed: could not save chunk: disk full"
        );
    }
}

#[test]
fn the_first_failed_output_is_returned_and_the_others_are_computed() {
    let bad = task("bad").delayed(|| -> u64 { panic!("no") }, ());
    let good = task("good").delayed(|| 5u64, ());
    for client in [Client::sync(), Client::threads_with(2)] {
        let e = client.get(&(good.clone(), bad.clone())).unwrap_err();
        assert_eq!(e.as_task().unwrap().key.to_string(), "bad");
        assert_eq!(good.compute(&client).unwrap(), 5);
    }
}

#[test]
fn a_panic_with_a_non_string_payload_is_reported() {
    let t = task("odd").delayed(|| -> u64 { std::panic::panic_any(17u32) }, ());
    let e = t.compute(&Client::threads_with(2)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("task `odd` panicked: a panic with a non-string payload"),
        "{e}"
    );
}
