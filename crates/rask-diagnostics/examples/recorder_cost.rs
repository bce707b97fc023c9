//! What the recorder costs per task, alone: `cargo run --release -p
//! rask-diagnostics --example recorder_cost [TASKS]` feeds it TaskStarted +
//! TaskFinished pairs from one thread (times read once, outside the loop)
//! and prints nanoseconds per task, then the memory it holds.

use std::time::Instant;

use rask_core::{Event, Key, RunId, Stamp, Subscriber, TaskId, WorkerId};
use rask_diagnostics::{Recorder, RecorderOptions};

fn main() {
    plan_cost();
    clock_cost();
    dispatch_cost();
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let keys = [Key::anonymous("bench::inc"), Key::anonymous("bench::add")];
    for mode in ["started + finished", "started", "finished"] {
        let rec = Recorder::with_options(RecorderOptions {
            sample_every: None,
            ..RecorderOptions::default()
        });
        let t = Stamp::now();
        let start = Instant::now();
        for i in 0..n {
            let key = &keys[(i & 1) as usize];
            let at = Stamp(t.0 + i * 100);
            if mode != "finished" {
                rec.on_event(&Event::TaskStarted {
                    run: RunId(1),
                    task: TaskId(i as u32),
                    key,
                    worker: WorkerId(0),
                    thread: 0,
                    attempt: 1,
                    at,
                });
            }
            if mode != "started" {
                rec.on_event(&Event::TaskFinished {
                    run: RunId(1),
                    task: TaskId(i as u32),
                    key,
                    worker: WorkerId(0),
                    thread: 0,
                    attempt: 1,
                    started: at,
                    finished: Stamp(at.0 + 60),
                    nbytes: None,
                });
            }
        }
        let dt = start.elapsed();
        println!(
            "{n} tasks: {:.1} ns per task ({mode}); recorder holds {:.1} MiB, dropped {}",
            dt.as_nanos() as f64 / n as f64,
            rec.memory_bytes() as f64 / 1048576.0,
            rec.dropped()
        );
    }
}

/// The cost of reading a plan at `RunStarted` (per-prefix totals, functions),
/// next to the cost of lowering the same graph.
#[allow(dead_code)]
fn plan_cost() {
    use rask_core::{delayed, plan_outputs, Delayed, PlanOptions};
    let n = 100_000u64;
    let mut xs: Vec<Delayed<u64>> = (0..n).map(|i| delayed(move || i + 1, ())).collect();
    while xs.len() > 1 {
        let mut next = Vec::new();
        let mut it = xs.into_iter();
        while let Some(a) = it.next() {
            match it.next() {
                Some(b) => next.push(delayed(|a: u64, b: u64| a + b, (a, b))),
                None => next.push(a),
            }
        }
        xs = next;
    }
    let root = xs.pop().expect("a root");
    for _ in 0..3 {
        let t0 = Instant::now();
        let plan = plan_outputs(&root, PlanOptions::default()).expect("a plan");
        let lower = t0.elapsed();
        let rec = Recorder::with_options(RecorderOptions {
            sample_every: None,
            ..RecorderOptions::default()
        });
        let t1 = Instant::now();
        rec.on_event(&Event::RunStarted {
            run: RunId(1),
            tasks: plan.len(),
            executor: "threads",
            workers: 2,
            at: t1,
            plan: Some(&plan),
        });
        println!(
            "{} tasks: lowering {:.2} ms, reading the plan {:.2} ms",
            plan.len(),
            lower.as_secs_f64() * 1e3,
            t1.elapsed().as_secs_f64() * 1e3
        );
    }
}

/// What a task-time reading costs: the OS clock against `rask_core::clock`.
fn clock_cost() {
    const N: u32 = 10_000_000;
    rask_core::clock::warm();
    let t0 = Instant::now();
    let mut last = t0;
    for _ in 0..N {
        last = std::hint::black_box(Instant::now());
    }
    let os = t0.elapsed();
    let t1 = Instant::now();
    for _ in 0..N {
        last = last.max(std::hint::black_box(rask_core::clock::now()));
    }
    let ours = t1.elapsed();
    let mut s = Stamp(0);
    let t2 = Instant::now();
    for _ in 0..N {
        s = s.max(std::hint::black_box(rask_core::clock::stamp()));
    }
    let stamps = t2.elapsed();
    println!(
        "clock: Instant::now() {:.1} ns, rask_core::clock::now() {:.1} ns, \
         rask_core::clock::stamp() {:.1} ns",
        os.as_nanos() as f64 / f64::from(N),
        ours.as_nanos() as f64 / f64::from(N),
        stamps.as_nanos() as f64 / f64::from(N),
    );
}

/// What delivering one task event costs, to a subscriber that does nothing.
fn dispatch_cost() {
    struct Nop;
    impl Subscriber for Nop {
        fn on_event(&self, e: &Event<'_>) {
            std::hint::black_box(e);
        }
    }
    let sink = rask_core::EventSink::new(vec![std::sync::Arc::new(Nop)]);
    let key = Key::anonymous("bench::inc");
    const N: u64 = 10_000_000;
    let t0 = Instant::now();
    for i in 0..N {
        let s = Stamp(i);
        sink.emit(&Event::TaskFinished {
            run: RunId(1),
            task: TaskId(i as u32),
            key: &key,
            worker: WorkerId(0),
            thread: 0,
            attempt: 1,
            started: s,
            finished: s,
            nbytes: None,
        });
    }
    println!(
        "dispatch: {:.1} ns per event",
        t0.elapsed().as_nanos() as f64 / N as f64
    );
}
