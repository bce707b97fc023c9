//! W10: coordination across workers. A scheduler (in this process) and 2
//! worker processes with one compute thread each, on loopback TCP with a
//! secret (the reference: dask.distributed's `LocalCluster(n_workers=2,
//! threads_per_worker=1)`); T tasks each run K critical sections on one
//! cluster-wide lock, each reading a cluster variable, adding 1 and writing
//! it back. The final value must be T*K. Starting the cluster is not timed;
//! the first run is reported (`first_us_per_op`, cold: as the reference's
//! single run) and the median of `repeat` more (`us_per_op`).
//!
//! A section is written the fastest way a user would: the lock taken with
//! the variable's value and given back with the new one
//! (`Lock::acquire_and_get`, `LockedVar::set_and_release`: one round trip).
//! The same sections written as separate calls (`acquire`, `get`, `set`,
//! drop: two round trips) are measured too, `repeat` times after the
//! others (`separate_us_per_op`). Workers keep the lock's lease between
//! their tasks' sections (`rask_distributed::coord::cache`):
//! `lease_moves` says, for each timed run, how often the scheduler
//! granted it to a worker.

use std::time::Instant;

use anyhow::{bail, Context};
use rask::coord::{Lock, Variable};
use rask::{Client, Connection, Delayed, LocalCluster};
use serde_json::json;

use crate::{median, peak_rss_mib, round};

/// K critical sections: lock and read, add one, write and unlock.
#[rask::task]
fn critical(i: u64, k: u64) -> Result<u64, rask::coord::Error> {
    let lock = Lock::new("w10");
    let count = Variable::<u64>::new("w10-count");
    for _ in 0..k {
        let held = lock.acquire_and_get(&count)?;
        let v = held.value().copied().unwrap_or(0);
        held.set_and_release(&(v + 1))?;
    }
    Ok(i)
}

/// The same sections as separate calls: lock, read, add one, write, unlock.
#[rask::task]
fn critical_separate(i: u64, k: u64) -> Result<u64, rask::coord::Error> {
    let lock = Lock::new("w10");
    let count = Variable::<u64>::new("w10-count");
    for _ in 0..k {
        let _held = lock.acquire()?;
        let v = count.get()?.unwrap_or(0);
        count.set(&(v + 1))?;
    }
    Ok(i)
}

/// `n` reads of the variable from one task, uncontended: microseconds
/// per read (a round trip from a task to the scheduler).
#[rask::task]
fn reads(n: u64) -> Result<f64, rask::coord::Error> {
    let count = Variable::<u64>::new("w10-count");
    let t0 = Instant::now();
    for _ in 0..n {
        count.get()?;
    }
    Ok(1e6 * t0.elapsed().as_secs_f64() / n as f64)
}

/// Leases the workers' caches were granted so far (how often the lock
/// moved to a worker).
fn lease_grants(conn: &Connection) -> anyhow::Result<u64> {
    Ok(conn.get_var("rask:leases")?.unwrap_or(0))
}

/// One timed run (the combined form, or the separate calls): seconds, and
/// how often the lock moved to a worker.
fn once(
    client: &Client,
    conn: &Connection,
    t: u64,
    k: u64,
    separate: bool,
) -> anyhow::Result<(f64, u64)> {
    let moves0 = lease_grants(conn)?;
    let count = Variable::<u64>::new("w10-count").on(client);
    count.set(&0)?;
    let tasks: Vec<Delayed<u64>> = (0..t)
        .map(|i| {
            if separate {
                critical_separate::delayed(i, k)
            } else {
                critical::delayed(i, k)
            }
        })
        .collect();
    let t0 = Instant::now();
    client.get(&tasks).context("running the tasks")?;
    let dt = t0.elapsed().as_secs_f64();
    let got = count.get()?.unwrap_or(0);
    if got != t * k {
        bail!("lost updates: {got} != {}", t * k);
    }
    Ok((dt, lease_grants(conn)? - moves0))
}

pub(crate) fn run(t: u64, k: u64, repeat: usize) -> anyhow::Result<serde_json::Value> {
    let t0 = Instant::now();
    let cluster = LocalCluster::new(2, 1).context("starting the cluster")?;
    let client =
        Client::connect_with(&cluster.addr().to_string(), cluster.wire()).context("connecting")?;
    let conn =
        Connection::connect(&cluster.addr().to_string(), cluster.wire()).context("connecting")?;
    let start_s = t0.elapsed().as_secs_f64();
    let sections = (t * k) as f64;
    let (first, _) = once(&client, &conn, t, k, false)?;
    let runs = (0..repeat)
        .map(|_| once(&client, &conn, t, k, false))
        .collect::<anyhow::Result<Vec<(f64, u64)>>>()?;
    let moves: Vec<u64> = runs.iter().map(|r| r.1).collect();
    let seconds = median(runs.into_iter().map(|r| r.0).collect());
    let separate = (0..repeat)
        .map(|_| once(&client, &conn, t, k, true).map(|r| r.0))
        .collect::<anyhow::Result<Vec<f64>>>()?;
    let separate = median(separate);
    let read_us = reads::delayed(2000).compute(&client)?;
    Ok(json!({
        "workload": "W10",
        "system": "rask-distributed",
        "allocator": crate::alloc::name(),
        "tasks": t,
        "sections": t * k,
        "workers": 2,
        "threads_per_worker": 1,
        "repeats": repeat,
        "start_s": round(start_s, 4),
        "first_seconds": round(first, 5),
        "first_us_per_op": round(1e6 * first / sections, 2),
        "seconds": round(seconds, 5),
        "us_per_op": round(1e6 * seconds / sections, 2),
        "form": "acquire_and_get + set_and_release",
        "lease_moves": moves,
        "separate_seconds": round(separate, 5),
        "separate_us_per_op": round(1e6 * separate / sections, 2),
        "final": t * k,
        "task_read_us": round(read_us, 2),
        "peak_rss_mib": peak_rss_mib(),
    }))
}
