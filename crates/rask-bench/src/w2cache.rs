//! W2 with a result cache (`W2 --cache-mib M`): a session of three
//! computations over one array, `s = x + x.T` with `x` as in W2:
//!
//! 1. `s.mean(axis=0).sum()` (W2's result);
//! 2. `s.sum()` (a follow-up over the same `s`);
//! 3. the first again.
//!
//! Each is timed on a fresh threads client without a cache and with a
//! cache of M MiB, alternating, `repeat` times; the medians and the ratios
//! off / on are reported (same process, same graphs, same pool size).
//! Checks: |r1 / N - 1| < 1e-2, |r2 / N^2 - 1| < 1e-2, and the cached
//! session's answers equal the uncached one's.

use std::time::Instant;

use anyhow::bail;
use rask::array::{self as ra, Axes};
use rask::{Client, ResultCache};
use serde_json::json;

use crate::{peak_rss_mib, round};

/// One session: the three times and the two answers.
fn session(
    n: usize,
    chunk: usize,
    threads: Option<usize>,
    cache: Option<&ResultCache>,
) -> anyhow::Result<([f64; 3], [f64; 2])> {
    let mut client = match threads {
        Some(t) => Client::threads_with(t),
        None => Client::threads(),
    };
    if let Some(c) = cache {
        client = client.with_cache(c.clone());
    }
    let x = ra::random(0, &[n, n], chunk)?;
    let s = x.add(&x.T())?;
    let first = s.mean(0)?.sum(Axes::All)?;
    let follow = s.sum(Axes::All)?;
    let t = Instant::now();
    let r1: f64 = first.compute_scalar(&client)?;
    let t1 = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let r2: f64 = follow.compute_scalar(&client)?;
    let t2 = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let r3: f64 = first.compute_scalar(&client)?;
    let t3 = t.elapsed().as_secs_f64();
    if (r1 / n as f64 - 1.0).abs() >= 1e-2 || (r2 / (n * n) as f64 - 1.0).abs() >= 1e-2 {
        bail!("implausible results {r1}, {r2}");
    }
    if r3 != r1 {
        bail!("the repeated computation gave {r3}, the first {r1}");
    }
    Ok(([t1, t2, t3], [r1, r2]))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub(crate) fn run(
    n: usize,
    chunk: usize,
    threads: Option<usize>,
    mib: u64,
    repeat: usize,
) -> anyhow::Result<serde_json::Value> {
    let (mut off, mut on) = (vec![Vec::new(); 3], vec![Vec::new(); 3]);
    let mut stats = None;
    for _ in 0..repeat.max(1) {
        let (t_off, a_off) = session(n, chunk, threads, None)?;
        let cache = ResultCache::new(mib << 20);
        let (t_on, a_on) = session(n, chunk, threads, Some(&cache))?;
        if a_on != a_off {
            bail!("with the cache the answers were {a_on:?}, without {a_off:?}");
        }
        for i in 0..3 {
            off[i].push(t_off[i]);
            on[i].push(t_on[i]);
        }
        stats = Some(cache.stats());
    }
    let off: Vec<f64> = off.into_iter().map(median).collect();
    let on: Vec<f64> = on.into_iter().map(median).collect();
    let s = stats.unwrap_or_default();
    let ratio = |i: usize| round(off[i] / on[i], 3);
    Ok(json!({
        "workload": "W2-cache",
        "system": "rask-threads",
        "n": n,
        "chunk": chunk,
        "cache_mib": mib,
        "repeat": repeat,
        "off_s": [round(off[0], 4), round(off[1], 4), round(off[2], 4)],
        "on_s": [round(on[0], 4), round(on[1], 4), round(on[2], 4)],
        "first_off_over_on": ratio(0),
        "follow_up_off_over_on": ratio(1),
        "repeat_off_over_on": ratio(2),
        "session_off_over_on": round(off.iter().sum::<f64>() / on.iter().sum::<f64>(), 3),
        "cache": {
            "hits": s.hits, "misses": s.misses, "evictions": s.evictions,
            "inserts": s.inserts, "bytes": s.bytes, "entries": s.entries,
        },
        "peak_rss_mib": peak_rss_mib(),
    }))
}
