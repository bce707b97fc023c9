//! Load: a burst of clients connecting at once to a local cluster (a
//! scheduler in this process, worker processes over loopback TCP), each
//! with a small graph; every one must be served. `RASK_LOAD_CLIENTS` sets
//! the burst (default 1,000). Runs without the libtest harness: its workers
//! are this binary started again (`rask::init()` first in `main`).

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use rask::prelude::*;

mod workers;
use workers::{inc, tree};

/// Leaves of each client's graph (a tree of `add`s: 2n-1 tasks).
const LEAVES: u64 = 16;

fn a_burst_of_clients_is_served() {
    let n: usize = std::env::var("RASK_LOAD_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let cluster = rask::LocalCluster::new(2, 1).unwrap();
    let (addr, wire) = (cluster.addr().to_string(), cluster.wire());
    let gate = Arc::new(Barrier::new(n + 1));
    let handles: Vec<_> = (0..n as u64)
        .map(|i| {
            let (addr, wire, gate) = (addr.clone(), wire.clone(), gate.clone());
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    gate.wait();
                    let t0 = Instant::now();
                    let client = Client::connect_with(&addr, wire).map_err(|e| e.to_string())?;
                    let connected = t0.elapsed();
                    let t = tree((0..LEAVES).map(|j| inc::delayed(i + j)).collect());
                    let got = t.compute(&client).map_err(|e| e.to_string())?;
                    let want: u64 = (0..LEAVES).map(|j| i + j + 1).sum();
                    if got != want {
                        return Err(format!("client {i}: {got}, not {want}"));
                    }
                    Ok((connected, t0.elapsed()))
                })
                .unwrap()
        })
        .collect();
    let t0 = Instant::now();
    gate.wait();
    let mut lost = Vec::new();
    let (mut connect, mut done) = (Vec::new(), Vec::new());
    for h in handles {
        match h.join().unwrap() {
            Ok((c, d)) => {
                connect.push(c);
                done.push(d);
            }
            Err(e) => lost.push(e),
        }
    }
    let wall = t0.elapsed();
    connect.sort();
    done.sort();
    let pct = |v: &[Duration], p: usize| v.get(v.len().saturating_sub(1) * p / 100).copied();
    println!(
        "{n} clients x {} tasks: {} served in {wall:.2?}; connect p50 {:.2?} max {:.2?}; \
         graph done p50 {:.2?} max {:.2?}",
        2 * LEAVES - 1,
        done.len(),
        pct(&connect, 50).unwrap_or_default(),
        pct(&connect, 100).unwrap_or_default(),
        pct(&done, 50).unwrap_or_default(),
        pct(&done, 100).unwrap_or_default(),
    );
    assert!(
        lost.is_empty(),
        "{} of {n} clients lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert!(wall < Duration::from_secs(120), "{wall:?}");
    drop(cluster);
}

fn main() {
    rask::init();
    let checks: &[(&str, fn())] = &[("a_burst_of_clients_is_served", a_burst_of_clients_is_served)];
    let (ran, failed) = workers::run_checks(checks, || None);
    workers::finish(ran, failed)
}
