//! W1: scheduling overhead on in-process threads.
//!
//! N independent tasks `inc(i) = i + 1`, then a pairwise binary-tree `add`
//! (an odd element is carried up a level): 2N-1 tasks, result N(N+1)/2.
//! Graph building and compute are timed separately; compute includes
//! lowering (cull, order, fuse). Each figure is the median of `repeat` runs
//! after one warm-up run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use rask::{delayed, Client, Delayed, Event, Subscriber};
use serde_json::json;

use crate::baseline::Tree;
use crate::{median, peak_rss_mib, round, ExecutorKind};

pub(crate) struct Options {
    pub(crate) n: u64,
    pub(crate) executor: ExecutorKind,
    pub(crate) threads: Option<usize>,
    pub(crate) repeat: usize,
    pub(crate) events: bool,
    pub(crate) baseline: bool,
}

fn inc(x: u64) -> u64 {
    x + 1
}

fn add(a: u64, b: u64) -> u64 {
    a + b
}

/// The W1 graph, built like the Dask reference builds it.
pub(crate) fn build(n: u64) -> Delayed<u64> {
    let mut xs: Vec<Delayed<u64>> = (0..n).map(|i| delayed(move || inc(i), ())).collect();
    while xs.len() > 1 {
        let mut next = Vec::with_capacity(xs.len() / 2 + 1);
        let mut it = xs.into_iter();
        while let Some(a) = it.next() {
            match it.next() {
                Some(b) => next.push(delayed(add, (a, b))),
                None => next.push(a),
            }
        }
        xs = next;
    }
    xs.pop().unwrap_or_else(|| delayed(|| 0u64, ()))
}

#[derive(Default)]
struct CountEvents(AtomicU64);

impl Subscriber for CountEvents {
    fn on_event(&self, _: &Event<'_>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) fn run(o: &Options) -> anyhow::Result<serde_json::Value> {
    let n = o.n;
    let tasks = (2 * n).saturating_sub(1).max(1);
    let expected = n * (n + 1) / 2;
    let threads = o.threads.unwrap_or_else(rask_local_threads);

    let mut build_s = Vec::new();
    let mut compute_s = Vec::new();
    let system;
    match o.executor {
        ExecutorKind::Baseline => {
            system = "rask-baseline-rayon".to_owned();
            (build_s, compute_s) = baseline(n, threads, o.repeat)?;
        }
        ExecutorKind::Sync | ExecutorKind::Threads => {
            let mut client = if o.executor == ExecutorKind::Sync {
                system = "rask-sync".to_owned();
                Client::sync()
            } else {
                system = "rask-threads".to_owned();
                Client::try_threads(threads).context("starting the thread pool")?
            };
            let counter = Arc::new(CountEvents::default());
            if o.events {
                client = client.with_subscriber(counter.clone());
            }
            for i in 0..=o.repeat {
                let t0 = Instant::now();
                let g = build(n);
                let t1 = Instant::now();
                let got = g.compute(&client).context("computing W1")?;
                let t2 = Instant::now();
                drop(g);
                check(got, expected)?;
                if i > 0 {
                    build_s.push((t1 - t0).as_secs_f64());
                    compute_s.push((t2 - t1).as_secs_f64());
                }
            }
            if o.events {
                // RunStarted + RunFinished, TaskStarted + TaskFinished per task.
                let want = (o.repeat as u64 + 1) * (2 * tasks + 2);
                let got = counter.0.load(Ordering::Relaxed);
                if got != want {
                    bail!("event count {got}, expected {want}");
                }
            }
        }
    }
    let (b, c) = (median(build_s), median(compute_s));
    let us = 1e6 * c / tasks as f64;
    let mut out = json!({
        "workload": "W1",
        "allocator": crate::alloc::name(),
        "system": system,
        "n": n,
        "tasks": tasks,
        "threads": threads,
        "repeats": o.repeat,
        "events": o.events,
        "build_s": round(b, 5),
        "compute_s": round(c, 5),
        "build_us_per_task": round(1e6 * b / tasks as f64, 4),
        "us_per_task": round(us, 4),
        "result": expected,
    });
    if o.executor == ExecutorKind::Threads && o.baseline {
        // The floor, measured in the same process right after.
        let (_, times) = baseline(n, threads, o.repeat)?;
        let base_us = 1e6 * median(times) / tasks as f64;
        out["baseline_us_per_task"] = json!(round(base_us, 4));
        out["threads_over_baseline"] = json!(round(us / base_us, 3));
    }
    out["peak_rss_mib"] = json!(peak_rss_mib());
    Ok(out)
}

/// Times the hand-written floor: (build times, run times), warm-up excluded.
fn baseline(n: u64, threads: usize, repeat: usize) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let (mut build_s, mut compute_s) = (Vec::new(), Vec::new());
    for i in 0..=repeat {
        let t0 = Instant::now();
        let tree = Tree::new(n as usize);
        let t1 = Instant::now();
        let got = pool.install(|| tree.run());
        let t2 = Instant::now();
        check(got, n * (n + 1) / 2)?;
        if i > 0 {
            build_s.push((t1 - t0).as_secs_f64());
            compute_s.push((t2 - t1).as_secs_f64());
        }
    }
    Ok((build_s, compute_s))
}

fn rask_local_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn check(got: u64, expected: u64) -> anyhow::Result<()> {
    if got != expected {
        bail!("wrong W1 result {got}, expected {expected}");
    }
    Ok(())
}
