//! W9: out-of-core on a memory-limited cluster, as
//! `../shared/bench/dask/bench_spill.py`.
//!
//! A local cluster of 2 worker processes (loopback TCP), 1 thread each,
//! each limited to L MiB (`docs/memory.md`: values spill above 0.6 of it).
//! `x` = seeded uniform [0, 1) f64 matrix N x N in C x C chunks is
//! persisted on the workers (several times their total limit: it must
//! spill), then `r = (x + x.T).sum()` is computed from the persisted
//! chunks. Timed: the persist plus the compute. Check:
//! |r / N^2 - 1| < 1e-2, and no worker died.
//!
//! Every worker's RSS is sampled from outside, every 50 ms, as the
//! reference does (`/proc/PID/statm` of this process's children), and the
//! peaks are reported.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rask::array::{self as ra, Array, Axes, DType};
use rask::{Client, Event, Subscriber};
use serde_json::json;

use crate::round;

/// Counts worker deaths, and says why the first one died.
#[derive(Default)]
struct Deaths(AtomicU64, Mutex<Option<String>>);

impl Subscriber for Deaths {
    fn on_event(&self, e: &Event<'_>) {
        if let Event::WorkerLost { name, why, .. } = e {
            self.0.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut first) = self.1.lock() {
                first.get_or_insert_with(|| format!("{name} {why}"));
            }
        }
    }
}

pub(crate) fn run(n: usize, chunk: usize, limit_mib: u64) -> anyhow::Result<serde_json::Value> {
    let mut o = rask::LocalOptions::new(2, 1, rask::Transport::Tcp);
    o.worker_memory = limit_mib << 20;
    let deaths = Arc::new(Deaths::default());
    let client = Client::try_processes(o)
        .context("starting the cluster")?
        .with_subscriber(deaths.clone());
    let peaks = Arc::new(Mutex::new(HashMap::<i32, u64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peaks, stop) = (peaks.clone(), stop.clone());
        std::thread::spawn(move || sample_children(&peaks, &stop))
    };
    let x = ra::random(0, &[n, n], chunk)?;
    let t0 = Instant::now();
    let kept: Vec<_> = x.blocks().iter().map(|b| client.persist(b)).collect();
    for (i, f) in kept.iter().enumerate() {
        while !f.wait_timeout(Duration::from_secs(3600))? {}
        if let Some(e) = f.error() {
            bail!("persisting chunk {i}: {e}");
        }
    }
    let t1 = Instant::now();
    let blocks = kept.iter().map(|f| f.as_delayed()).collect();
    let x = Array::from_blocks(vec![n, n], chunk, DType::F64, blocks)?;
    let r: f64 = x.add(&x.T())?.sum(Axes::All)?.compute_scalar(&client)?;
    let t2 = Instant::now();
    stop.store(true, Ordering::SeqCst);
    let _ = sampler.join();
    let died = deaths.0.load(Ordering::SeqCst);
    drop(kept);
    drop(client);
    if (r / (n * n) as f64 - 1.0).abs() > 1e-2 {
        bail!("implausible W9 result {r}");
    }
    if died > 0 {
        let first = deaths
            .1
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or_default();
        bail!("{died} worker(s) died during W9 (the first: {first})");
    }
    let mut peak_mib: Vec<u64> = peaks
        .lock()
        .map_err(|_| anyhow::anyhow!("sampler panicked"))?
        .values()
        .map(|b| (b + (1 << 19)) >> 20)
        .collect();
    peak_mib.sort_unstable();
    Ok(json!({
        "workload": "W9",
        "system": "rask-distributed",
        "allocator": crate::alloc::name(),
        "n": n,
        "chunk": chunk,
        "limit_mib": limit_mib,
        "data_mib": (n * n * 8) >> 20,
        "persist_s": round((t1 - t0).as_secs_f64(), 3),
        "compute_s": round((t2 - t1).as_secs_f64(), 3),
        "seconds": round((t2 - t0).as_secs_f64(), 3),
        "result": r,
        "worker_deaths": died,
        "worker_peak_rss_mib": peak_mib,
    }))
}

/// Until `stop`, every 50 ms, the RSS of each child process of this one
/// (the workers, looked up again every second), keeping each one's peak.
fn sample_children(peaks: &Mutex<HashMap<i32, u64>>, stop: &AtomicBool) {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    let mut pids = Vec::new();
    let mut round = 0u64;
    while !stop.load(Ordering::SeqCst) {
        if round.is_multiple_of(20) {
            pids = children();
        }
        round += 1;
        for &pid in &pids {
            let rss = std::fs::read_to_string(format!("/proc/{pid}/statm"))
                .ok()
                .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
                .map_or(0, |p| p * page);
            if let Ok(mut m) = peaks.lock() {
                let p = m.entry(pid).or_default();
                *p = (*p).max(rss);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The pids of this process's children.
fn children() -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // The parent's pid is the second field after the command.
            let ppid = stat
                .rfind(')')
                .and_then(|i| stat.get(i + 2..)?.split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok());
            ppid == Some(me)
        })
        .collect()
}
