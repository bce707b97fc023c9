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
use rask::{delayed, task, Client, Delayed, Event, Recorder, Subscriber};
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
    pub(crate) record: bool,
    /// Give every task a key of its own (`("inc", i)`, `("add", k)`), as
    /// Dask's graphs have.
    pub(crate) keyed: bool,
}

fn inc(x: u64) -> u64 {
    x + 1
}

fn add(a: u64, b: u64) -> u64 {
    a + b
}

/// The W1 graph, built like the Dask reference builds it; with `keyed`,
/// each task has a user key (`inc[i]`, and `add[k]` numbered across the
/// levels), which lowering checks for duplicates.
pub(crate) fn build_with(n: u64, keyed: bool) -> Delayed<u64> {
    let mut xs: Vec<Delayed<u64>> = (0..n)
        .map(|i| match keyed {
            true => task(("inc", i)).delayed(move || inc(i), ()),
            false => delayed(move || inc(i), ()),
        })
        .collect();
    let mut k = 0u64;
    while xs.len() > 1 {
        let mut next = Vec::with_capacity(xs.len() / 2 + 1);
        let mut it = xs.into_iter();
        while let Some(a) = it.next() {
            match it.next() {
                Some(b) if keyed => {
                    next.push(task(("add", k)).delayed(add, (a, b)));
                    k += 1;
                }
                Some(b) => next.push(delayed(add, (a, b))),
                None => next.push(a),
            }
        }
        xs = next;
    }
    xs.pop().unwrap_or_else(|| delayed(|| 0u64, ()))
}

/// A subscriber that does nothing: the event stream's own cost.
struct Ignore;

impl Subscriber for Ignore {
    fn on_event(&self, _: &Event<'_>) {}
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
        ExecutorKind::Sync | ExecutorKind::Threads if o.record => {
            return record(o, threads);
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
                let g = build_with(n, o.keyed);
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
        "keyed": o.keyed,
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

/// `--record`: the same graph with and without a [`Recorder`] attached, in
/// one process on one pool, alternating which goes first in each
/// repetition; reports both medians and their ratio, and checks that every
/// task was recorded.
fn record(o: &Options, threads: usize) -> anyhow::Result<serde_json::Value> {
    let n = o.n;
    let tasks = (2 * n).saturating_sub(1).max(1);
    let expected = n * (n + 1) / 2;
    let plain = if o.executor == ExecutorKind::Sync {
        Client::sync()
    } else {
        Client::try_threads(threads).context("starting the thread pool")?
    };
    let recorder = Recorder::new();
    let recorded = plain.clone().with_recorder_of(&recorder);
    // The event stream alone (a subscriber that does nothing), to tell its
    // cost (clock reads, event delivery) from the recorder's.
    let events = plain.clone().with_subscriber(Arc::new(Ignore));
    let clients = [&plain, &events, &recorded];
    let mut times: [Vec<f64>; 3] = Default::default();
    for i in 0..=o.repeat {
        for k in 0..3 {
            // Rotate which goes first, so that drift falls on each alike.
            let which = (i + k) % 3;
            let g = build_with(n, o.keyed);
            let t0 = Instant::now();
            let got = g.compute(clients[which]).context("computing W1")?;
            let dt = t0.elapsed().as_secs_f64();
            drop(g);
            check(got, expected)?;
            if i > 0 {
                times[which].push(dt);
            }
        }
    }
    let [plain_s, events_s, rec_s] = times;
    let snap = recorder.snapshot(0);
    let recorded_tasks: u64 = snap.status.prefixes.iter().map(|p| p.done).sum();
    let want = (o.repeat as u64 + 1) * tasks;
    if recorded_tasks != want {
        bail!("the recorder saw {recorded_tasks} tasks, expected {want}");
    }
    let (p, e, r) = (median(plain_s), median(events_s), median(rec_s));
    let system = if o.executor == ExecutorKind::Sync {
        "rask-sync"
    } else {
        "rask-threads"
    };
    Ok(json!({
        "workload": "W1",
        "allocator": crate::alloc::name(),
        "system": system,
        "n": n,
        "tasks": tasks,
        "threads": threads,
        "repeats": o.repeat,
        "record": true,
        "keyed": o.keyed,
        "compute_s": round(p, 5),
        "us_per_task": round(1e6 * p / tasks as f64, 4),
        "record_compute_s": round(r, 5),
        "record_us_per_task": round(1e6 * r / tasks as f64, 4),
        "record_over_plain": round(r / p, 3),
        "events_us_per_task": round(1e6 * e / tasks as f64, 4),
        "events_over_plain": round(e / p, 3),
        "record_over_events": round(r / e, 3),
        "recorded_tasks": recorded_tasks,
        "recorder_mib": round(recorder.memory_bytes() as f64 / 1048576.0, 2),
        "result": expected,
        "peak_rss_mib": peak_rss_mib(),
    }))
}
