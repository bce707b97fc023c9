//! W3: concurrent I/O-bound tasks. N async tasks; task i awaits a 20 ms
//! timer and returns i * i; all are gathered and summed. Timed from the first
//! submission to the sum, like the asyncio reference (which times
//! `asyncio.run` of the whole gather); `us_per_task` = (seconds - 0.02) / N.
//!
//! One cold run per process, as the reference does: the heap starts fresh,
//! so the cost of first touching memory is in the figure, as it is in
//! Python's. The client run also runs the baseline (bare tokio) in a child
//! process and reports both.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rask::{Client, Future};
use serde_json::json;

use crate::{peak_rss_mib, round};

fn task_sleep() -> tokio::time::Sleep {
    tokio::time::sleep(Duration::from_millis(20))
}

fn check(n: u64, total: u64) -> anyhow::Result<()> {
    let expected: u64 = (0..n).map(|i| i * i).sum();
    if total != expected {
        bail!("wrong W3 sum {total}, expected {expected}");
    }
    Ok(())
}

fn us_per_task(secs: f64, n: u64) -> f64 {
    round(1e6 * (secs - 0.02) / n as f64, 3)
}

pub(crate) fn run(
    n: u64,
    async_threads: usize,
    baseline: bool,
) -> anyhow::Result<serde_json::Value> {
    let client = Client::try_threads(rask_local_threads())
        .context("starting the thread pool")?
        .with_async_threads(async_threads);
    // Start the runtime before timing, as `asyncio.run` starts its loop.
    client.submit_async(|| async { 0u64 }, ()).result()?;

    let t0 = Instant::now();
    let futs: Vec<Future<u64>> = (0..n)
        .map(|i| {
            client.submit_async(
                move || async move {
                    task_sleep().await;
                    i * i
                },
                (),
            )
        })
        .collect();
    let submitted = t0.elapsed().as_secs_f64();
    let total: u64 = client.gather(&futs)?.into_iter().sum();
    let secs = t0.elapsed().as_secs_f64();
    check(n, total)?;
    let mut report = json!({
        "workload": "W3",
        "system": "rask-async",
        "n": n,
        "async_threads": async_threads,
        "allocator": crate::alloc::name(),
        "seconds": round(secs, 4),
        "submit_s": round(submitted, 4),
        "us_per_task": us_per_task(secs, n),
        "peak_rss_mib": peak_rss_mib(),
    });
    if baseline {
        let b = baseline_in_child(n, async_threads)?;
        let per = b["us_per_task"].as_f64().unwrap_or(f64::NAN);
        report["baseline_us_per_task"] = json!(per);
        report["rask_over_baseline"] = json!(round(us_per_task(secs, n) / per, 2));
    }
    Ok(report)
}

/// The floor: the same tasks spawned straight onto a tokio runtime of the
/// same size from the main thread, their join handles awaited in order.
pub(crate) fn baseline(n: u64, async_threads: usize) -> anyhow::Result<serde_json::Value> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(async_threads.max(1))
        .enable_time()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async {});
    let t0 = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            rt.spawn(async move {
                task_sleep().await;
                i * i
            })
        })
        .collect();
    let total = rt.block_on(async {
        let mut total = 0u64;
        for h in handles {
            total += h.await.context("a baseline task failed")?;
        }
        anyhow::Ok(total)
    })?;
    let secs = t0.elapsed().as_secs_f64();
    check(n, total)?;
    Ok(json!({
        "workload": "W3",
        "system": "tokio-baseline",
        "n": n,
        "async_threads": async_threads,
        "allocator": crate::alloc::name(),
        "seconds": round(secs, 4),
        "us_per_task": us_per_task(secs, n),
        "peak_rss_mib": peak_rss_mib(),
    }))
}

fn baseline_in_child(n: u64, async_threads: usize) -> anyhow::Result<serde_json::Value> {
    let exe = std::env::current_exe().context("finding rask-bench")?;
    let out = Command::new(exe)
        .args(["W3", "--executor", "baseline", "--n", &n.to_string()])
        .args(["--async-threads", &async_threads.to_string()])
        .output()
        .context("running the W3 baseline")?;
    if !out.status.success() {
        bail!(
            "the W3 baseline failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("reading the W3 baseline's report")
}

fn rask_local_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
