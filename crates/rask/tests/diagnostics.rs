//! The recorder, report, trace, pictures and live state on real clients.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Barrier};
use std::time::Duration;

use rask::diagnostics::{ClusterState, ReportError, TaskState};
use rask::prelude::*;

fn tree(n: u64) -> Delayed<u64> {
    let leaves: Vec<Delayed<u64>> = (0..n)
        .map(|i| task(("load", i)).delayed(move || i, ()))
        .collect();
    let halves: Vec<Delayed<u64>> = leaves
        .chunks(2)
        .enumerate()
        .map(|(i, c)| task(("pair", i)).delayed(|v: Vec<u64>| v.iter().sum::<u64>(), (c.to_vec(),)))
        .collect();
    task("total").delayed(|v: Vec<u64>| v.iter().sum::<u64>(), (halves,))
}

#[test]
fn a_recorded_run_has_every_task_its_prefixes_and_its_graph() {
    for client in [Client::sync(), Client::threads_with(2)] {
        let client = client.with_recorder();
        assert_eq!(tree(64).compute(&client).unwrap(), 2016);
        let rec = client.recorder().unwrap();
        let snap = rec.snapshot(usize::MAX);
        assert_eq!(snap.tasks.len(), 97);
        let st = &snap.status;
        assert_eq!(
            (st.tasks.done, st.tasks.failed, st.tasks.running),
            (97, 0, 0)
        );
        let load = st.prefixes.iter().find(|p| p.name == "load").unwrap();
        assert_eq!((load.planned, load.done), (64, 64));
        assert_eq!(st.runs.len(), 1);
        assert!(st.runs[0].end_ns.is_some());
        let g = snap.graph.unwrap();
        assert_eq!(g.nodes.len(), 97);
        assert_eq!(g.edges.len(), 96);
        assert!(g.nodes.iter().all(|n| n.state == Some(TaskState::Done)));
        // Each lane is a pool thread (or the calling thread for sync).
        let workers: std::collections::BTreeSet<u32> = snap.tasks.worker.iter().copied().collect();
        assert!(!workers.is_empty() && workers.len() <= 2, "{workers:?}");
    }
}

#[test]
fn a_failure_colours_the_graph_and_is_in_the_report() {
    let client = Client::threads_with(2).with_recorder();
    let a = task("a").delayed(|| 1u64, ());
    let b = task("b").delayed(|| -> u64 { panic!("b is broken") }, ());
    let c = task("c").delayed(|x: u64, y: u64| x + y, (&a, &b));
    assert!(c.compute(&client).is_err());
    let rec = client.recorder().unwrap();
    let st = rec.status();
    assert_eq!(
        (st.tasks.done, st.tasks.failed, st.tasks.skipped),
        (1, 1, 1)
    );
    let b = rec.explain("b").unwrap();
    assert_eq!(b.state, TaskState::Failed);
    assert!(b.error.as_deref().unwrap().contains("b is broken"));
    let c = rec.explain("c").unwrap();
    assert_eq!(c.state, TaskState::Skipped);
    let dir = tempdir("fail");
    let html = std::fs::read_to_string(client.report(dir.join("r.html")).unwrap()).unwrap();
    assert!(html.contains("b is broken"));
    let g = rec.graph().unwrap();
    let svg = g.svg_builtin();
    assert!(svg.contains(TaskState::Failed.colour()) && svg.contains(TaskState::Skipped.colour()));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn explain_says_what_a_task_waits_for_while_the_run_goes_on() {
    let client = Client::threads_with(2).with_recorder();
    let gate = Arc::new(Barrier::new(2));
    let g2 = gate.clone();
    let slow = task("slow").delayed(
        move || {
            g2.wait(); // the test has looked
            g2.wait(); // the test lets it go
            7u64
        },
        (),
    );
    let fast = task("fast").delayed(|| 1u64, ());
    let sum = task("sum").delayed(|x: u64, y: u64| x + y, (&slow, &fast));
    let fut = client.compute(sum);
    gate.wait();
    let rec = client.recorder().unwrap();
    // `fast` may still be queued behind `slow` on two threads: wait for it.
    let mut tries = 0;
    while rec.explain("fast").unwrap().state != TaskState::Done && tries < 2000 {
        std::thread::sleep(Duration::from_millis(5));
        tries += 1;
    }
    let d = rec.explain("sum").unwrap();
    assert_eq!(d.state, TaskState::Waiting);
    assert_eq!(d.missing, 1);
    assert_eq!(d.dependencies[0].key, "slow");
    assert_eq!(d.dependencies[0].state, TaskState::Running);
    assert!(d.dependencies[0]
        .location
        .as_deref()
        .unwrap()
        .starts_with("running on worker"));
    assert_eq!(d.dependencies[1].state, TaskState::Done);
    assert!(
        d.why
            .contains("waiting for 1 of its 2 dependencies, first `slow` (running)"),
        "{}",
        d.why
    );
    let s = rec.explain("slow").unwrap();
    assert_eq!(s.state, TaskState::Running);
    assert!(s.worker.is_some());
    assert_eq!(rec.status().tasks.running, 1);
    gate.wait();
    assert_eq!(fut.result().unwrap(), 8);
    assert_eq!(rec.explain("sum").unwrap().state, TaskState::Done);
}

#[test]
fn eager_tasks_are_recorded_too() {
    let client = Client::threads_with(2).with_recorder();
    let fs: Vec<Future<u64>> = client.map(|x: u64| x * 2, 0..50u64);
    assert_eq!(client.gather(&fs).unwrap().iter().sum::<u64>(), 2450);
    let st = client.recorder().unwrap().status();
    assert_eq!(st.tasks.done, 50);
}

#[test]
fn report_and_trace_need_a_recorder_and_say_so() {
    let client = Client::sync();
    let e = client.report("/nonexistent/never.html").unwrap_err();
    assert!(matches!(e, ReportError::NoRecorder));
    assert!(e.to_string().contains("with_recorder"));
    let client = client.with_recorder();
    let e = client.report("/nonexistent-dir/r.html").unwrap_err();
    assert!(e.to_string().contains("/nonexistent-dir/r.html"), "{e}");
    // Attaching twice keeps one recorder.
    let again = client.clone().with_recorder();
    assert_eq!(tree(4).compute(&again).unwrap(), 6);
    assert_eq!(client.recorder().unwrap().status().tasks.done, 7);
}

#[test]
fn the_performance_report_guard_writes_when_dropped() {
    let dir = tempdir("guard");
    let path = dir.join("guard.html");
    let client = Client::threads_with(2).with_recorder();
    {
        let _r = client.performance_report(&path).unwrap();
        tree(8).compute(&client).unwrap();
    }
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.contains("\"load\""));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn visualize_draws_the_graph_before_it_runs() {
    let g = rask::visualize(&tree(4)).unwrap();
    assert_eq!(g.nodes.len(), 7);
    let dot = g.dot();
    assert_eq!(dot.matches(" -> ").count(), 6);
    assert!(dot.contains("label=\"load[3]\""));
    let svg = g.svg_builtin();
    assert_eq!(svg.matches("class=\"task\"").count(), 7);
    let dir = tempdir("vis");
    g.write(dir.join("g.dot")).unwrap();
    g.write(dir.join("g.svg")).unwrap();
    assert!(std::fs::read_to_string(dir.join("g.dot"))
        .unwrap()
        .starts_with("digraph"));
    assert!(std::fs::read_to_string(dir.join("g.svg"))
        .unwrap()
        .contains("<svg"));
    std::fs::remove_dir_all(dir).unwrap();
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rask-diag-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
