//! W7: W1 on worker processes. The same graph (N `inc`, a pairwise tree of
//! `add`s) of registered tasks, every task run in one of `workers` worker
//! processes, results travelling over the sockets. Starting the workers is
//! timed apart (`start_s`); compute (lowering included) is the median of
//! `repeat` runs after a warm-up, as in W1.

use std::time::Instant;

use anyhow::{bail, Context};
use rask::{Client, Delayed};
use serde_json::json;

use crate::{median, peak_rss_mib, round};

#[rask::task]
fn inc(x: u64) -> u64 {
    x + 1
}

#[rask::task]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

pub(crate) fn build(n: u64) -> Delayed<u64> {
    let mut xs: Vec<Delayed<u64>> = (0..n).map(inc::delayed).collect();
    while xs.len() > 1 {
        let mut next = Vec::with_capacity(xs.len() / 2 + 1);
        let mut it = xs.into_iter();
        while let Some(a) = it.next() {
            match it.next() {
                Some(b) => next.push(add::delayed(a, b)),
                None => next.push(a),
            }
        }
        xs = next;
    }
    xs.pop().unwrap_or_else(|| inc::delayed(0))
}

/// Builds and computes the W1 graph `repeat` times after a warm-up, checking
/// each result; the medians of the build and compute times, in seconds.
pub(crate) fn time_w1(
    n: u64,
    repeat: usize,
    workload: &str,
    compute: impl Fn(&Delayed<u64>) -> rask::Result<u64>,
) -> anyhow::Result<(f64, f64)> {
    let expected = n * (n + 1) / 2;
    let (mut builds, mut computes) = (Vec::new(), Vec::new());
    for i in 0..=repeat {
        let t0 = Instant::now();
        let g = build(n);
        let t1 = Instant::now();
        let r = compute(&g)?;
        let t2 = Instant::now();
        if r != expected {
            bail!("wrong {workload} result {r}, expected {expected}");
        }
        if i > 0 {
            builds.push((t1 - t0).as_secs_f64());
            computes.push((t2 - t1).as_secs_f64());
        }
    }
    Ok((median(builds), median(computes)))
}

pub(crate) fn run(n: u64, workers: usize, repeat: usize) -> anyhow::Result<serde_json::Value> {
    let t0 = Instant::now();
    let pool = Client::try_processes(rask::LocalOptions::new(workers, 1, rask::Transport::Local))
        .context("starting the workers")?;
    let start_s = t0.elapsed().as_secs_f64();
    let tasks = 2 * n - 1;
    let expected = n * (n + 1) / 2;
    let (build_s, compute_s) = time_w1(n, repeat, "W7", |g| g.compute(&pool))?;
    Ok(json!({
        "workload": "W7",
        "system": "rask-processes",
        "allocator": crate::alloc::name(),
        "n": n,
        "tasks": tasks,
        "workers": workers,
        "repeats": repeat,
        "start_s": round(start_s, 4),
        "build_s": round(build_s, 5),
        "compute_s": round(compute_s, 5),
        "build_us_per_task": round(1e6 * build_s / tasks as f64, 4),
        "us_per_task": round(1e6 * compute_s / tasks as f64, 4),
        "result": expected,
        "peak_rss_mib": peak_rss_mib(),
    }))
}
