//! Worker memory limits (`docs/memory.md`) on worker processes and on a
//! local cluster: values spill to disk above the target and come back
//! bit-identical; a worker over its pause threshold starts no new task and
//! gets none; a task that allocates past the terminate threshold takes down
//! only its worker, and fails with a typed error after the allowed deaths.
//!
//! Runs without the libtest harness (a worker is this binary started
//! again: `main` calls `rask::init()` first). Each check runs on both
//! transports with fresh workers; any argument filters checks by name.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rask::prelude::*;
use rask::{Event, LocalOptions, MemoryOptions, Subscriber, TaskErrorKind, Transport};

const MIB: u64 = 1 << 20;

/// `mib` MiB of pseudo-random words from `seed` (LZ4 does not shrink them).
#[rask::task]
fn block(seed: u64, mib: u64) -> Vec<u64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..mib * MIB / 8)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        })
        .collect()
}

/// An order-dependent digest of `v`.
#[rask::task]
fn digest(v: Vec<u64>) -> u64 {
    v.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &w| {
        (h ^ w).wrapping_mul(0x100_0000_01b3)
    })
}

/// Holds `mib` MiB of touched memory for `ms` ms; returns the time it
/// starts letting go (ms since the epoch: freeing takes a while, and RSS
/// falls under the pause threshold during it).
#[rask::task]
fn hog(mib: u64, ms: u64) -> u64 {
    let mut v = vec![0u8; (mib * MIB) as usize];
    for i in (0..v.len()).step_by(4096) {
        v[i] = 1;
    }
    std::thread::sleep(Duration::from_millis(ms));
    std::hint::black_box(&v);
    let at = now_ms();
    drop(v);
    at
}

/// Where and when it started (worker name, ms since the epoch).
#[rask::task]
fn whereabouts(i: u64) -> (String, u64, u64) {
    let at = now_ms();
    std::thread::sleep(Duration::from_millis(20));
    let w = rask::task_context().map_or_else(String::new, |c| c.worker.to_string());
    (w, at, i)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The most any worker reported: RSS and spilled bytes.
#[derive(Default)]
struct Peaks {
    rss: AtomicU64,
    spilled: AtomicU64,
    samples: AtomicU64,
}

impl Subscriber for Peaks {
    fn on_event(&self, e: &Event<'_>) {
        if let Event::WorkerSample {
            rss_bytes,
            spilled_bytes,
            ..
        } = e
        {
            self.rss.fetch_max(*rss_bytes, Ordering::SeqCst);
            self.spilled.fetch_max(*spilled_bytes, Ordering::SeqCst);
            self.samples.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn spill_dir(test: &str, t: Transport) -> PathBuf {
    std::env::temp_dir().join(format!("rask-spill-it-{test}-{t:?}-{}", std::process::id()))
}

/// Two workers of `threads` threads, each limited to `limit` bytes,
/// spilling under `dir`, sampling every 50 ms.
fn client(t: Transport, threads: usize, limit: u64, dir: &Path) -> (Client, Arc<Peaks>) {
    let mut o = LocalOptions::new(2, threads, t);
    o.worker_memory = limit;
    o.memory_options = MemoryOptions {
        spill_dir: Some(dir.to_path_buf()),
        sample_interval: Duration::from_millis(50),
        ..MemoryOptions::default()
    };
    let peaks = Arc::new(Peaks::default());
    let c = Client::try_processes(o)
        .unwrap()
        .with_subscriber(peaks.clone());
    (c, peaks)
}

/// Files under `dir` (spill files of every worker).
fn files_under(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| std::fs::read_dir(e.path()).map_or(0, |r| r.count()))
        .sum()
}

/// Computes every one of `ds`.
fn all<T: rask::Data>(c: &Client, ds: impl Iterator<Item = Delayed<T>>) -> Result<Vec<T>, String> {
    let fs: Vec<_> = ds.map(|d| c.compute(d)).collect();
    c.gather(&fs).map_err(|e| e.to_string())
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) -> Result<(), String> {
    let t0 = Instant::now();
    while !f() {
        if t0.elapsed() > Duration::from_secs(secs) {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// 24 blocks of 16 MiB persisted on two workers limited to 192 MiB (so at
/// most 115 MiB each in memory): they spill, come back bit-identical, and
/// their files go when the values are released.
fn spills_and_comes_back(t: Transport) -> Result<(), String> {
    let dir = spill_dir("spill", t);
    let (c, peaks) = client(t, 1, 192 * MIB, &dir);
    let n = 24;
    let kept: Vec<_> = (0..n).map(|i| c.persist(&block::delayed(i, 16))).collect();
    for f in &kept {
        if let Some(e) = f.wait_timeout(Duration::from_secs(120)).err().or(f.error()) {
            return Err(format!("persisting: {e}"));
        }
    }
    wait_for("a sample showing spilled values", 10, || {
        peaks.spilled.load(Ordering::SeqCst) > 0
    })?;
    if files_under(&dir) == 0 {
        return Err("no spill file on disk".into());
    }
    let got = all(&c, kept.iter().map(|f| digest::delayed(f.as_delayed())))?;
    for (i, g) in got.iter().enumerate() {
        let want = digest(block(i as u64, 16));
        if *g != want {
            return Err(format!("block {i} came back different"));
        }
    }
    let rss = peaks.rss.load(Ordering::SeqCst);
    if rss > 192 * MIB * 11 / 10 {
        return Err(format!("a worker's RSS reached {} MiB", rss / MIB));
    }
    drop(kept);
    wait_for("spill files deleted after release", 10, || {
        files_under(&dir) == 0
    })?;
    // Values still held when the cluster goes: its workers are killed, and
    // their spill directories go with them.
    let again: Vec<_> = (0..n).map(|i| c.persist(&block::delayed(i, 16))).collect();
    for f in &again {
        if let Some(e) = f.wait_timeout(Duration::from_secs(120)).err().or(f.error()) {
            return Err(format!("persisting again: {e}"));
        }
    }
    if files_under(&dir) == 0 {
        return Err("no spill file on disk the second time".into());
    }
    drop(c);
    let left: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    if !left.is_empty() {
        return Err(format!(
            "spill directories left after the cluster ended: {left:?}"
        ));
    }
    drop(again);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A task holding 420 MiB on `local-0` (limit 512 MiB: above the 0.8 pause
/// threshold, under 0.95) pauses it: a task pinned there starts only after
/// the memory is let go, and unpinned tasks all run on `local-1`.
fn pauses(t: Transport) -> Result<(), String> {
    let dir = spill_dir("pause", t);
    let (c, peaks) = client(t, 2, 512 * MIB, &dir);
    let big = c.compute(hog::delayed(420, 2500).workers(&["local-0"]));
    wait_for("a sample over the pause threshold", 10, || {
        peaks.rss.load(Ordering::SeqCst) > 512 * MIB * 8 / 10
    })?;
    let pinned = c.compute(whereabouts::delayed(0).workers(&["local-0"]));
    let free = all(&c, (1..9).map(whereabouts::delayed))?;
    let released = big.result().map_err(|e| e.to_string())?;
    let (w, started, _) = pinned.result().map_err(|e| e.to_string())?;
    if w != "local-0" || started < released {
        return Err(format!(
            "the pinned task started on {w} {} ms before the paused worker let go",
            released.saturating_sub(started)
        ));
    }
    if let Some((w, at, i)) = free
        .iter()
        .find(|(w, at, _)| w != "local-1" && *at < released)
    {
        return Err(format!(
            "task {i} started on paused {w} at {at} (< {released})"
        ));
    }
    drop(c);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A task that allocates 600 MiB on a 512 MiB worker ends it (exit status
/// 75) each time it runs: after the allowed deaths it fails with a typed
/// error, and the restarted workers compute the next graph.
fn terminates(t: Transport) -> Result<(), String> {
    let dir = spill_dir("terminate", t);
    let (c, _) = client(t, 1, 512 * MIB, &dir);
    let r = c.compute(hog::delayed(600, 1000)).result();
    match &r {
        Err(rask::Error::Task(e)) if matches!(e.kind, TaskErrorKind::WorkerDied { .. }) => {
            if !e.message.contains("terminate threshold") && !e.to_string().contains("terminate") {
                return Err(format!("the error does not say why: {e}"));
            }
        }
        other => return Err(format!("expected WorkerDied, got {other:?}")),
    }
    let sum: u64 = all(&c, (0..10u64).map(whereabouts::delayed))?
        .into_iter()
        .map(|(_, _, i)| i)
        .sum();
    if sum != 45 {
        return Err(format!("the next graph got {sum}, not 45"));
    }
    drop(c);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

type Check = fn(Transport) -> Result<(), String>;

fn main() {
    rask::init();
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let checks: [(&str, Check); 3] = [
        ("spills_and_comes_back", spills_and_comes_back),
        ("pauses", pauses),
        ("terminates", terminates),
    ];
    let mut failed = 0;
    let mut ran = 0;
    for (name, f) in checks {
        if !filters.is_empty() && !filters.iter().any(|x| name.contains(x.as_str())) {
            continue;
        }
        for t in [Transport::Local, Transport::Tcp] {
            let t0 = Instant::now();
            ran += 1;
            match f(t) {
                Ok(()) => println!("test {name} on {t:?} ... ok ({:.2?})", t0.elapsed()),
                Err(why) => {
                    failed += 1;
                    println!(
                        "test {name} on {t:?} ... FAILED ({:.2?}): {why}",
                        t0.elapsed()
                    );
                }
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {failed} failed",
        if failed == 0 { "ok" } else { "FAILED" },
        ran - failed
    );
    std::process::exit(i32::from(failed > 0));
}
