//! Behaviour of the executors beyond values: events, fusion, nested and
//! concurrent computes, shared sub-graphs computed once.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rask::prelude::*;
use rask::{Event, PlanOptions, ProgressBar, Subscriber};

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Subscriber for Recorder {
    fn on_event(&self, e: &Event<'_>) {
        let line = match e {
            Event::RunStarted {
                tasks, executor, ..
            } => format!("run-started {tasks} {executor}"),
            Event::TaskStarted { key, .. } => format!("started {key}"),
            Event::TaskFinished {
                key,
                started,
                finished,
                ..
            } => {
                assert!(finished >= started);
                format!("finished {key}")
            }
            Event::TaskFailed { error, .. } => format!("failed {}", error.key),
            Event::RunFinished { tasks, failed, .. } => format!("run-finished {tasks} {failed}"),
            _ => "other".to_owned(),
        };
        self.0.lock().unwrap().push(line);
    }
}

fn graph() -> Delayed<u64> {
    let a = task("a").delayed(|| 1u64, ());
    let b = task("b").delayed(|| -> u64 { panic!("b fails") }, ());
    let c = task("c").delayed(|x: u64, y: u64| x + y, (&a, &b));
    let d = task("d").delayed(|x: u64| x * 2, (&a,));
    task("e").delayed(|_c: u64, d: u64| d, (c, d))
}

#[test]
fn events_tell_the_story_of_a_run() {
    for client in [Client::sync(), Client::threads_with(2)] {
        let rec = Arc::new(Recorder::default());
        let client = client.with_subscriber(rec.clone());
        let e = graph().compute(&client).unwrap_err();
        assert_eq!(e.as_task().unwrap().key.to_string(), "e");
        let lines = rec.0.lock().unwrap().clone();
        assert_eq!(
            lines.first().unwrap(),
            &format!("run-started 5 {}", rask::Executor::name(&client))
        );
        assert_eq!(lines.last().unwrap(), "run-finished 5 3");
        let pos = |s: &str| {
            lines
                .iter()
                .position(|l| l == s)
                .unwrap_or_else(|| panic!("no `{s}` in {lines:?}"))
        };
        assert!(pos("started a") < pos("finished a"));
        assert!(pos("started b") < pos("failed b"));
        assert!(pos("failed b") < pos("failed c"));
        assert!(pos("failed c") < pos("failed e"));
        assert!(pos("finished a") < pos("started d"));
        assert!(!lines.contains(&"started c".to_owned()), "c never ran");
        assert_eq!(lines.len(), 2 + 2 * 2 + 1 + 1 + 1 + 1, "{lines:?}");
    }
}

#[test]
fn the_progress_bar_counts_every_task() {
    let bar = ProgressBar::hidden();
    let client = Client::threads_with(2).with_subscriber(bar.clone());
    let xs: Vec<Delayed<u64>> = (0..500u64).map(|i| delayed(move || i, ())).collect();
    let s = delayed(|v: Vec<u64>| v.into_iter().sum::<u64>(), (xs,));
    assert_eq!(s.compute(&client).unwrap(), 124_750);
    assert_eq!(bar.position(), (501, 501));
}

#[test]
fn a_linear_chain_is_fused_into_one_unit_and_still_reports_each_task() {
    let mut x = task(("step", 0u64)).delayed(|| 0u64, ());
    for i in 1..1000u64 {
        x = task(("step", i)).delayed(|v: u64| v + 1, (x,));
    }
    let plan = x.plan(PlanOptions::default()).unwrap();
    assert_eq!((plan.len(), plan.units()), (1000, 1));
    assert_eq!(x.plan(PlanOptions { fuse: false }).unwrap().units(), 1000);
    for client in [Client::sync(), Client::threads_with(2)] {
        let rec = Arc::new(Recorder::default());
        let client = client.with_subscriber(rec.clone());
        assert_eq!(x.compute(&client).unwrap(), 999);
        let finished = rec
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("finished"))
            .count();
        assert_eq!(finished, 1000);
    }
    // A failure inside a fused chain names the member that failed.
    let mut y = task(("s", 0u64)).delayed(|| 0u64, ());
    for i in 1..10u64 {
        y = task(("s", i)).delayed(
            move |v: u64| {
                assert!(i != 5, "step {i} breaks");
                v + 1
            },
            (y,),
        );
    }
    let e = y.compute(&Client::threads_with(2)).unwrap_err();
    assert_eq!(e.as_task().unwrap().root().key.to_string(), "s[5]");
    assert_eq!(e.as_task().unwrap().key.to_string(), "s[9]");
}

#[test]
fn shared_sub_graphs_run_once_across_several_outputs() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let base = delayed(
        move || {
            r.fetch_add(1, Ordering::SeqCst);
            vec![1u64, 2, 3]
        },
        (),
    );
    let sum = base.map(|v| v.iter().sum::<u64>());
    let len = base.map(|v| v.len());
    for client in [Client::sync(), Client::threads_with(2)] {
        let (s, l, b) = client.get(&(&sum, &len, &base)).unwrap();
        assert_eq!((s, l, b), (6, 3, vec![1, 2, 3]));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2, "once per compute");
}

#[test]
fn a_task_may_compute_a_graph_on_its_own_pool() {
    // Two threads, and every outer task blocks on an inner compute: the
    // waiting worker runs other jobs instead of blocking its thread.
    let client = Client::threads_with(2);
    let outer: Vec<Delayed<u64>> = (0..8u64)
        .map(|i| {
            let inner_client = client.clone();
            delayed(
                move || {
                    let xs: Vec<Delayed<u64>> =
                        (0..100u64).map(|j| delayed(move || i * j, ())).collect();
                    let s = delayed(|v: Vec<u64>| v.iter().sum::<u64>(), (xs,));
                    s.compute(&inner_client).unwrap()
                },
                (),
            )
        })
        .collect();
    let total = delayed(|v: Vec<u64>| v.iter().sum::<u64>(), (outer,));
    assert_eq!(
        total.compute(&client).unwrap(),
        (0..8u64).map(|i| i * 4950).sum::<u64>()
    );
}

#[test]
fn many_threads_compute_on_one_pool_at_once() {
    let client = Client::threads_with(2);
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let client = client.clone();
            s.spawn(move || {
                for round in 0..20u64 {
                    let xs: Vec<Delayed<u64>> = (0..200u64)
                        .map(|i| delayed(move || i + t + round, ()))
                        .collect();
                    let sum = delayed(|v: Vec<u64>| v.iter().sum::<u64>(), (xs,));
                    assert_eq!(sum.compute(&client).unwrap(), 19_900 + 200 * (t + round));
                }
            });
        }
    });
}

#[test]
fn a_graph_can_be_computed_again_and_an_empty_request_is_fine() {
    let x = delayed(|| 21u64, ()).map(|v| v * 2);
    let client = Client::threads_with(2);
    assert_eq!(x.compute(&client).unwrap(), 42);
    assert_eq!(x.compute(&client).unwrap(), 42);
    let none: Vec<Delayed<u64>> = Vec::new();
    assert_eq!(client.get(&none).unwrap(), Vec::<u64>::new());
    assert_eq!(value(String::from("hi")).compute(&client).unwrap(), "hi");
}

/// A `Write` into a shared buffer.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn without_a_terminal_progress_is_plain_lines_every_interval_and_at_the_end() {
    let out = Shared::default();
    let bar = ProgressBar::lines(out.clone(), Duration::from_millis(40));
    let client = Client::threads_with(2).with_subscriber(bar.clone());
    // About 300 ms of work: several interval lines.
    let xs: Vec<Delayed<u64>> = (0..30u64)
        .map(|i| {
            delayed(
                move || {
                    std::thread::sleep(Duration::from_millis(20));
                    i
                },
                (),
            )
        })
        .collect();
    let s = delayed(|v: Vec<u64>| v.into_iter().sum::<u64>(), (xs,));
    assert_eq!(s.compute(&client).unwrap(), 435);
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert!(text.ends_with('\n'), "{text:?}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains("31 tasks") && lines[0].contains("not a terminal"),
        "the first line says why there is no bar: {text}"
    );
    let periodic: Vec<&&str> = lines[1..lines.len() - 1].iter().collect();
    assert!(periodic.len() >= 2, "{text}");
    assert!(
        periodic
            .iter()
            .all(|l| l.starts_with("rask: ") && l.contains("/31 tasks (") && l.ends_with(" s")),
        "{text}"
    );
    assert!(
        lines[lines.len() - 1].starts_with("rask: 31/31 tasks done in "),
        "{text}"
    );

    // A second run: no repeated explanation, one final line, failures counted.
    let before = text.len();
    let bad = delayed(|| -> u64 { panic!("no") }, ());
    assert!(bad.compute(&client).is_err());
    let text = String::from_utf8(out.0.lock().unwrap()[before..].to_vec()).unwrap();
    assert!(!text.contains("not a terminal"), "{text}");
    assert!(
        text.lines()
            .last()
            .is_some_and(|l| l.contains("1/1 tasks done") && l.ends_with("1 failed")),
        "{text}"
    );
}
