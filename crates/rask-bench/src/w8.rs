//! W8: moving a big value between processes. A worker task returns a
//! 256 MiB `Vec<f64>`; the client receives it and passes it into a second
//! worker task that sums it.
//!
//! `transfer_s` = (time to get the vector to the client) + (time to sum it
//! in a worker) - (time of one worker task that makes and sums it without
//! moving it), so it holds only the moving: encoding, shared memory, the
//! messages and decoding, both ways. `gb_per_s` = 256 MiB / `transfer_s`.
//! `mem_gb_per_s` is a plain copy of the same vector into a fresh `Vec`, in
//! the same process and run (fresh pages, as the transfer's are).
//! Each figure is the median of `repeat` runs after a warm-up.

use std::time::Instant;

use anyhow::{bail, Context};
use rask::Client;
use serde_json::json;

use crate::{median, round};

#[rask::task]
fn fill(n: u64) -> Vec<f64> {
    (0..n).map(|i| (i % 1024) as f64).collect()
}

#[rask::task]
fn sum(v: Vec<f64>) -> f64 {
    v.iter().sum()
}

#[rask::task]
fn fill_and_sum(n: u64) -> f64 {
    sum(fill(n))
}

pub(crate) fn run(mib: u64, repeat: usize) -> anyhow::Result<serde_json::Value> {
    let pool = Client::try_processes(rask::LocalOptions::new(2, 1, rask::Transport::Local))
        .context("starting the workers")?;
    measure(
        "W8",
        "rask-processes",
        mib,
        repeat,
        |n| Ok(fill_and_sum::delayed(n).compute(&pool)?),
        |n| {
            let v: Vec<f64> = fill::delayed(n).compute(&pool)?;
            Ok(sum::delayed(v).compute(&pool)?)
        },
    )
}

/// W8c: a task on worker `local-0` of a local cluster (2 workers, 1 thread
/// each, loopback TCP) returns the vector; a task pinned to `local-1` sums
/// it. `transfer_s` = (make there, sum here) - (make and sum in one task):
/// the move alone. The median of `repeat` runs after a warm-up.
pub(crate) fn run_cluster(mib: u64, repeat: usize) -> anyhow::Result<serde_json::Value> {
    let client = Client::local_cluster(2, 1).context("starting the cluster")?;
    measure(
        "W8c",
        "rask-distributed",
        mib,
        repeat,
        |n| {
            Ok(fill_and_sum::delayed(n)
                .workers(&["local-1"])
                .compute(&client)?)
        },
        |n| {
            let v = fill::delayed(n).workers(&["local-0"]);
            Ok(sum::delayed(v).workers(&["local-1"]).compute(&client)?)
        },
    )
}

/// Runs `in_place` (make and sum in one task: its sum) and `moved` (make in one task, sum in another: its sum) `repeat` times
/// after a warm-up, with a plain copy of the same size beside them, and
/// reports the medians (module docs).
fn measure(
    workload: &str,
    system: &str,
    mib: u64,
    repeat: usize,
    in_place: impl Fn(u64) -> anyhow::Result<f64>,
    moved: impl Fn(u64) -> anyhow::Result<f64>,
) -> anyhow::Result<serde_json::Value> {
    let n = mib * (1 << 20) / 8;
    let bytes = (n * 8) as f64;
    let expected: f64 = (0..n).map(|i| (i % 1024) as f64).sum();
    let (mut transfer, mut local, mut mem) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..=repeat {
        let t0 = Instant::now();
        let s = in_place(n)?;
        let in_place_s = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let got = moved(n)?;
        let moved_s = t1.elapsed().as_secs_f64();
        if s != expected || got != expected {
            bail!("wrong {workload} sums {s} / {got}, expected {expected}");
        }
        let src: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let t2 = Instant::now();
        let copy = src.clone();
        let copy_s = t2.elapsed().as_secs_f64();
        drop((src, copy));
        if i > 0 {
            transfer.push((moved_s - in_place_s).max(1e-9));
            local.push(in_place_s);
            mem.push(copy_s);
        }
    }
    let (transfer_s, local_s, mem_s) = (median(transfer), median(local), median(mem));
    Ok(json!({
        "workload": workload,
        "system": system,
        "allocator": crate::alloc::name(),
        "mib": mib,
        "repeats": repeat,
        "in_place_s": round(local_s, 4),
        "transfer_s": round(transfer_s, 4),
        "gb_per_s": round(bytes / transfer_s / 1e9, 3),
        "mem_gb_per_s": round(bytes / mem_s / 1e9, 3),
    }))
}
