//! Graphs that cannot run are refused before anything runs, with the keys named.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rask::core::TaskFailure;
use rask::prelude::*;
use rask::{GraphError, Inputs, TaskErrorKind};

type Ran = Arc<AtomicUsize>;

fn counting(
    ran: &Ran,
) -> impl Fn(&mut Inputs<'_>) -> std::result::Result<u64, TaskFailure> + Send + Sync + 'static {
    let ran = ran.clone();
    move |inputs| {
        ran.fetch_add(1, Ordering::SeqCst);
        let mut s = 0u64;
        while inputs.remaining() > 0 {
            s += inputs.take::<u64>()?;
        }
        Ok(s + 1)
    }
}

fn clients() -> Vec<Client> {
    vec![Client::sync(), Client::threads_with(2)]
}

#[test]
fn a_cycle_is_refused_with_its_keys() {
    let ran = Ran::default();
    let mut g = Graph::new();
    g.insert("load", Vec::<Key>::new(), counting(&ran));
    g.insert(("clean", 0u64), ["load", "total"], counting(&ran));
    g.insert("total", [("clean", 0u64)], counting(&ran));
    for c in clients() {
        let e = g.compute::<u64, _>(&c, "total").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the graph has a cycle: `total` -> `clean[0]` -> `total`",
            "the cycle is named in dependency order"
        );
        match e {
            Error::Graph(GraphError::Cycle { keys }) => {
                assert_eq!(keys, vec![Key::new("total"), ("clean", 0u64).into()])
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0, "nothing ran");
}

#[test]
fn a_missing_dependency_is_refused_with_both_keys() {
    let ran = Ran::default();
    let mut g = Graph::new();
    g.insert("a", Vec::<Key>::new(), counting(&ran));
    g.insert("b", ["a", "ghost"], counting(&ran));
    for c in clients() {
        let e = g.compute::<u64, _>(&c, "a").unwrap_err();
        assert_eq!(
            e.to_string(),
            "task `b` depends on `ghost`, which is not in the graph"
        );
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn a_duplicate_key_is_refused() {
    let ran = Ran::default();
    let mut g = Graph::new();
    g.insert(("x", 1u64), Vec::<Key>::new(), counting(&ran));
    g.insert(("x", 1u64), Vec::<Key>::new(), counting(&ran));
    for c in clients() {
        let e = g.compute::<u64, _>(&c, ("x", 1u64)).unwrap_err();
        assert_eq!(e.to_string(), "two tasks have the key `x[1]`");
    }

    // The same with delayed tasks given the same key.
    let r1 = ran.clone();
    let r2 = ran.clone();
    let a = task(("load", 3u64)).delayed(move || r1.fetch_add(1, Ordering::SeqCst) as u64, ());
    let b = task(("load", 3u64)).delayed(move || r2.fetch_add(1, Ordering::SeqCst) as u64, ());
    let sum = delayed(|x: u64, y: u64| x + y, (a, b));
    for c in clients() {
        let e = sum.compute(&c).unwrap_err();
        assert!(
            matches!(&e, Error::Graph(GraphError::DuplicateKey { key }) if key.to_string() == "load[3]"),
            "{e}"
        );
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn an_unknown_output_and_a_wrong_type_are_named() {
    let ran = Ran::default();
    let mut g = Graph::new();
    g.insert("a", Vec::<Key>::new(), counting(&ran));
    g.insert("b", ["a"], |i: &mut Inputs<'_>| i.take::<String>());
    for c in clients() {
        assert_eq!(
            g.compute::<u64, _>(&c, "zz").unwrap_err().to_string(),
            "the output `zz` is not in the graph"
        );
        // The output exists but is not a String.
        let e = g.compute::<String, _>(&c, "a").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the output `a` is not a `alloc::string::String`"
        );
        // A task reading its input as the wrong type gets a typed error naming the dependency.
        let e = g.compute::<String, _>(&c, "b").unwrap_err();
        let t = e.as_task().expect("a task error");
        assert_eq!(t.key.to_string(), "b");
        assert_eq!(
            t.kind,
            TaskErrorKind::TypeMismatch {
                dependency: "a".into(),
                expected: "alloc::string::String"
            }
        );
        assert_eq!(e.to_string(), "task `b` expected its dependency `a` to be a `alloc::string::String`: the value has another type");
    }
}
