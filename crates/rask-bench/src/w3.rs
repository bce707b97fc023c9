//! W3: concurrent I/O-bound tasks. N async tasks; task i awaits a 20 ms
//! timer and returns i * i; all are gathered and summed. Timed from the first
//! submission to the sum, like the asyncio reference (which times
//! `asyncio.run` of the whole gather); `us_per_task` = (seconds - 0.02) / N.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rask::{Client, Future};
use serde_json::json;

use crate::{peak_rss_mib, round};

pub(crate) fn run(n: u64, async_threads: usize) -> anyhow::Result<serde_json::Value> {
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
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    i * i
                },
                (),
            )
        })
        .collect();
    let submitted = t0.elapsed().as_secs_f64();
    let total: u64 = client.gather(&futs)?.into_iter().sum();
    let secs = t0.elapsed().as_secs_f64();
    let expected: u64 = (0..n).map(|i| i * i).sum();
    if total != expected {
        bail!("wrong W3 sum {total}, expected {expected}");
    }
    Ok(json!({
        "workload": "W3",
        "system": "rask-async",
        "n": n,
        "async_threads": async_threads,
        "seconds": round(secs, 4),
        "submit_s": round(submitted, 4),
        "us_per_task": round(1e6 * (secs - 0.02) / n as f64, 3),
        "peak_rss_mib": peak_rss_mib(),
    }))
}

fn rask_local_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
