//! W2: chunked array arithmetic with a transpose and reductions.
//!
//! `x` = seeded uniform [0, 1) f64 matrix N x N in C x C chunks, then
//! `r = (x + x.T).mean(axis=0).sum()`, as `bench/refs/dask_array.py`.
//! Generation is part of the timed work, and so is building the graph.
//! Check: |r / N - 1| < 1e-2. One cold run per process, as the reference.

use std::time::Instant;

use anyhow::bail;
use rask::array::{self as ra, Axes};
use rask::Client;
use serde_json::json;

use crate::{peak_rss_mib, round};

pub(crate) fn run(
    n: usize,
    chunk: usize,
    threads: Option<usize>,
) -> anyhow::Result<serde_json::Value> {
    let client = match threads {
        Some(t) => Client::threads_with(t),
        None => Client::threads(),
    };
    let t0 = Instant::now();
    let x = ra::random(0, &[n, n], chunk)?;
    let r = x.add(&x.T())?.mean(0)?.sum(Axes::All)?;
    let graph_s = t0.elapsed().as_secs_f64();
    let v: f64 = r.compute_scalar(&client)?;
    let seconds = t0.elapsed().as_secs_f64();
    if (v / n as f64 - 1.0).abs() >= 1e-2 {
        bail!("implausible result {v}");
    }
    Ok(json!({
        "workload": "W2",
        "system": "rask-threads",
        "n": n,
        "chunk": chunk,
        "seconds": round(seconds, 4),
        "graph_s": round(graph_s, 6),
        "result": v,
        "peak_rss_mib": peak_rss_mib(),
    }))
}
