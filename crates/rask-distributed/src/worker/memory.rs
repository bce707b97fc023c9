//! A worker's memory: its limit, the thresholds (fractions of the limit, as
//! Dask's), and the monitor thread that enforces them.
//!
//! - **target** (0.6): the store keeps at most this much of its values in
//!   memory; an insert above it spills the least recently used ones
//!   (`store.rs`, rule 4).
//! - **spill** (0.7): when the process's resident memory (RSS) is above
//!   this, the monitor spills more values, until RSS minus what it spilled
//!   is under the target.
//! - **pause** (0.8): while RSS is above this, no new task starts and no
//!   new input is fetched; the scheduler is told (`FromWorker::Memory`
//!   with `paused`) and sends nothing more; it is told again on resuming.
//! - **terminate** (0.95): above this the worker exits at once with status
//!   [`EXIT_MEMORY`]: its nanny starts a new one, and the scheduler makes
//!   the values it held again from their lineage.
//!
//! With no limit (0) nothing is spilled, paused or ended; the monitor only
//! samples. Rules:
//! 1. The monitor reads RSS every `monitor_interval` (default 50 ms), and
//!    reports a sample (RSS, managed and spilled bytes, CPU, bytes moved) to
//!    the scheduler every `sample_interval` (500 ms), at once on a pause or
//!    a resume.
//! 2. Inputs fetched from peers for tasks not yet started count against a
//!    budget (`transfer`, a tenth of the limit), and so do fetches under
//!    way (at the average size fetched so far: one at a time until a size
//!    is known): a fetch waits while the budget is used up (unless no
//!    fetch is under way: one value always moves, or tasks each holding
//!    one fetched input and waiting for another would wait forever) or the
//!    worker is paused.
//!    The check and the count are one step under a lock, so many waiting
//!    fetches cannot all start at once.
//! 3. Compute threads check the pause before taking a task; the monitor
//!    wakes them on resuming.
//! 4. Freed memory goes back to the system, or RSS would stay high after
//!    values are spilled: with a limit, glibc's malloc maps every block of
//!    1 MiB or more on its own (given back when freed), and the monitor
//!    trims the heap (`malloc_trim`, at most every half second) while RSS
//!    is above the spill threshold. Local deployments start their workers
//!    with `MIMALLOC_PURGE_DELAY=0` (unless set) for programs whose global
//!    allocator is mimalloc (as Dask's nanny sets `MALLOC_TRIM_THRESHOLD_`).
//! 5. A program whose global allocator is `rask_core::Recycle` keeps a few
//!    freed big blocks for reuse (a chunk's buffers are made and dropped
//!    again and again; fresh pages cost a fault and a zeroing each): at
//!    most a quarter of the limit and the room between the rest of RSS
//!    and the pause threshold (read every tick; blocks beyond it are given
//!    back as soon as big blocks are allocated or freed again), so RSS
//!    with them stays under the pause threshold when the rest does; the
//!    spill and pause thresholds compare RSS less those blocks
//!    (`rask_core::recycled_bytes`), which hold no value.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::store::Store;
use super::Shared;
use crate::proto::{FromWorker, MemorySample};

/// The exit status of a worker that ended itself above its terminate
/// threshold.
pub const EXIT_MEMORY: i32 = 75;

/// A worker's memory settings (defaults as Dask's); the limit itself is
/// `WorkerOptions::memory`.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryOptions {
    /// Fraction of the limit the store keeps in memory before spilling
    /// (`None`: never spill on insert). Default 0.6.
    pub target: Option<f64>,
    /// Fraction of the limit in RSS above which the monitor spills (`None`:
    /// never). Default 0.7.
    pub spill: Option<f64>,
    /// Fraction of the limit in RSS above which no task starts (`None`:
    /// never pause). Default 0.8.
    pub pause: Option<f64>,
    /// Fraction of the limit in RSS above which the worker exits (`None`:
    /// never). Default 0.95.
    pub terminate: Option<f64>,
    /// Where spill files go (default: the system's temporary directory);
    /// each worker makes its own directory inside.
    pub spill_dir: Option<PathBuf>,
    /// Compress spilled values with LZ4 where it pays (feature `lz4`;
    /// default on).
    pub compression: bool,
    /// The most bytes the spill files may take (`None`: as much as the disk
    /// has); past it a spill fails with `SpillError::DiskFull`.
    pub spill_quota: Option<u64>,
    /// Fraction of the limit that inputs fetched for tasks not yet started
    /// may take (default 0.1).
    pub transfer: f64,
    /// How often RSS is read (default 50 ms).
    pub monitor_interval: Duration,
    /// How often a sample goes to the scheduler (default 500 ms).
    pub sample_interval: Duration,
}

impl Default for MemoryOptions {
    fn default() -> Self {
        MemoryOptions {
            target: Some(0.6),
            spill: Some(0.7),
            pause: Some(0.8),
            terminate: Some(0.95),
            spill_dir: None,
            compression: true,
            spill_quota: None,
            transfer: 0.1,
            monitor_interval: Duration::from_millis(50),
            sample_interval: Duration::from_millis(500),
        }
    }
}

impl MemoryOptions {
    /// The settings as one line (`target=0.6,spill=0.7,...`), for a worker
    /// process's environment; [`MemoryOptions::parse`] reads it back.
    pub fn to_line(&self) -> String {
        let f = |x: Option<f64>| x.map_or("off".to_owned(), |v| v.to_string());
        let mut s = format!(
            "target={},spill={},pause={},terminate={},compression={},transfer={},monitor_ms={},sample_ms={}",
            f(self.target),
            f(self.spill),
            f(self.pause),
            f(self.terminate),
            self.compression,
            self.transfer,
            self.monitor_interval.as_millis(),
            self.sample_interval.as_millis(),
        );
        if let Some(q) = self.spill_quota {
            s.push_str(&format!(",quota={q}"));
        }
        if let Some(d) = &self.spill_dir {
            // Last: a path may hold commas.
            s.push_str(&format!(",dir={}", d.display()));
        }
        s
    }

    /// Reads [`MemoryOptions::to_line`]'s format; names not given keep
    /// their defaults.
    pub fn parse(line: &str) -> Result<MemoryOptions, String> {
        let mut o = MemoryOptions::default();
        let mut rest = line.trim();
        while !rest.is_empty() {
            let (item, next) = if rest.starts_with("dir=") {
                (rest, "")
            } else {
                rest.split_once(',').unwrap_or((rest, ""))
            };
            rest = next;
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| format!("memory setting `{item}`: expected NAME=VALUE"))?;
            let frac = |v: &str| -> Result<Option<f64>, String> {
                if v == "off" || v == "false" {
                    return Ok(None);
                }
                match v.parse::<f64>() {
                    Ok(x) if x > 0.0 && x.is_finite() => Ok(Some(x)),
                    _ => Err(format!(
                        "memory setting `{k}`: `{v}` is not a positive fraction or `off`"
                    )),
                }
            };
            let num = |v: &str| -> Result<u64, String> {
                v.parse()
                    .map_err(|_| format!("memory setting `{k}`: `{v}` is not a number"))
            };
            match k {
                "target" => o.target = frac(v)?,
                "spill" => o.spill = frac(v)?,
                "pause" => o.pause = frac(v)?,
                "terminate" => o.terminate = frac(v)?,
                "transfer" => o.transfer = frac(v)?.unwrap_or(0.0),
                "compression" => o.compression = v == "true" || v == "on",
                "quota" => o.spill_quota = Some(num(v)?),
                "monitor_ms" => o.monitor_interval = Duration::from_millis(num(v)?.max(1)),
                "sample_ms" => o.sample_interval = Duration::from_millis(num(v)?.max(1)),
                "dir" => o.spill_dir = Some(PathBuf::from(v)),
                other => return Err(format!("unknown memory setting `{other}`")),
            }
        }
        Ok(o)
    }
}

/// The bytes a fraction of `limit` is (`u64::MAX` for none).
fn of(limit: u64, frac: Option<f64>) -> u64 {
    match frac {
        Some(f) if limit > 0 => (limit as f64 * f) as u64,
        _ => u64::MAX,
    }
}

/// The thresholds in bytes, and the worker's memory state.
pub(crate) struct Memory {
    pub(crate) limit: u64,
    pub(crate) target: u64,
    spill: u64,
    pause: u64,
    terminate: u64,
    transfer: u64,
    monitor_interval: Duration,
    sample_interval: Duration,
    paused: AtomicBool,
    /// Inputs fetched for tasks not yet started, and fetches under way
    /// (rule 2).
    fetch: std::sync::Mutex<Fetching>,
    /// Bytes sent to peers and clients, and received from peers.
    pub(crate) moved: AtomicU64,
    /// Woken when fetch room frees (rule 2).
    pub(crate) room: tokio::sync::Notify,
}

impl Memory {
    pub(crate) fn new(limit: u64, o: &MemoryOptions) -> Memory {
        Memory {
            limit,
            target: of(limit, o.target),
            spill: of(limit, o.spill),
            pause: of(limit, o.pause),
            terminate: of(limit, o.terminate),
            transfer: of(limit, Some(o.transfer).filter(|t| *t > 0.0)),
            monitor_interval: o.monitor_interval,
            sample_interval: o.sample_interval,
            paused: AtomicBool::new(false),
            fetch: std::sync::Mutex::new(Fetching::default()),
            moved: AtomicU64::new(0),
            room: tokio::sync::Notify::new(),
        }
    }

    /// Whether no new task may start (rule 3).
    pub(crate) fn paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    fn fetching(&self) -> std::sync::MutexGuard<'_, Fetching> {
        self.fetch.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until an input may be fetched, and counts the fetch as under
    /// way (rule 2); end it with [`Memory::fetched`] or
    /// [`Memory::fetch_failed`].
    pub(crate) async fn fetch_room(&self) {
        loop {
            let notified = self.room.notified();
            if !self.paused() && self.fetching().start(self.transfer) {
                return;
            }
            // Woken by `fetch_done`/a resume; the timeout covers a wake-up
            // that raced the check.
            let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
        }
    }

    /// A fetch brought `n` bytes for a task not yet started.
    pub(crate) fn fetched(&self, n: u64) {
        let mut f = self.fetching();
        f.under_way = f.under_way.saturating_sub(1);
        f.used += n;
        f.avg = Some(f.avg.map_or(n as f64, |a| 0.8 * a + 0.2 * n as f64));
        drop(f);
        self.moved.fetch_add(n, Ordering::Relaxed);
    }

    /// A fetch brought nothing.
    pub(crate) fn fetch_failed(&self) {
        let mut f = self.fetching();
        f.under_way = f.under_way.saturating_sub(1);
        drop(f);
        self.room.notify_waiters();
    }

    /// A task holding `n` fetched bytes started (or was dropped).
    pub(crate) fn fetch_done(&self, n: u64) {
        if n > 0 {
            let mut f = self.fetching();
            f.used = f.used.saturating_sub(n);
            drop(f);
            self.room.notify_waiters();
        }
    }
}

/// Fetched inputs waiting for their task, and fetches under way (rule 2).
#[derive(Debug, Default)]
pub(crate) struct Fetching {
    /// Bytes fetched for tasks not yet started.
    used: u64,
    /// Fetches started and not ended.
    under_way: u32,
    /// The average size of a fetched value (`None` before the first).
    avg: Option<f64>,
}

impl Fetching {
    /// Starts a fetch if what is fetched and under way (at the average
    /// size) stays within `budget`; one fetch always may when none is
    /// under way; before a size is known, one at a time.
    fn start(&mut self, budget: u64) -> bool {
        // With no fetch under way one always may, whatever is held: the
        // values held may be the first inputs of tasks each waiting for
        // another one, which would otherwise wait forever for the budget
        // they hold themselves (as Dask's worker, which lets one transfer
        // through when none is in flight).
        let ok = if self.under_way == 0 {
            true
        } else {
            match self.avg {
                None => false,
                Some(avg) => {
                    self.used as f64 + f64::from(self.under_way + 1) * avg <= budget as f64
                }
            }
        };
        if ok {
            self.under_way += 1;
        }
        ok
    }
}

/// Starts the monitor thread; it ends when the worker stops.
pub(crate) fn start_monitor(shared: Arc<Shared>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("rask-memory".into())
        .spawn(move || monitor(&shared))
}

/// Rule 4, at the worker's start when it has a limit.
pub(crate) fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of glibc's malloc; it is
    // thread-safe and takes effect for later allocations.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Gives the free memory at the top of malloc's heaps back (rule 4).
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of glibc's heaps; it is
    // thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn monitor(shared: &Shared) {
    std::thread::scope(|s| {
        if shared.store.spill_dir().is_some() {
            let spiller = std::thread::Builder::new()
                .name("rask-spill".into())
                .spawn_scoped(s, || {
                    while !shared.stopping.load(Ordering::SeqCst) {
                        shared.store.spill_in_background(Duration::from_millis(50));
                    }
                });
            if let Err(e) = spiller {
                tracing::warn!(error = %e, "no spiller thread: tasks spill themselves");
            }
        }
        watch(shared);
    });
}

/// The monitor's loop (see the module docs).
fn watch(shared: &Shared) {
    let mem = &shared.memory;
    let mut cpu = CpuClock::new();
    let mut last_sample = Instant::now() - mem.sample_interval;
    let mut last_trim = Instant::now();
    while !shared.stopping.load(Ordering::SeqCst) {
        let raw = rss_bytes();
        if raw > mem.terminate {
            terminate(shared, raw);
        }
        // Blocks kept for reuse hold no value, and fill only the room
        // under the pause threshold (rule 5).
        let used = || rss_bytes().saturating_sub(rask_core::recycled_bytes() as u64);
        let mut rss = raw.saturating_sub(rask_core::recycled_bytes() as u64);
        let keep = mem.pause.saturating_sub(rss).min(mem.limit / 4) as usize;
        if mem.limit > 0 && rask_core::recycle_cap() != keep {
            rask_core::set_recycle_cap(keep);
        }
        if rss > mem.spill {
            // Spill until RSS less what was spilled is under the target, at
            // most a tenth of the limit a tick, so the thresholds are
            // checked again soon however slow the disk.
            let excess = rss.saturating_sub(mem.target).min(mem.limit / 10);
            let managed = shared.store.figures().managed;
            let freed = shared.store.spill_to(managed.saturating_sub(excess));
            if last_trim.elapsed() >= Duration::from_millis(500) {
                trim();
                last_trim = Instant::now();
                rss = used();
            } else if freed > 0 {
                rss = used();
            }
        }
        let pause = rss > mem.pause;
        let changed = mem.paused.swap(pause, Ordering::AcqRel) != pause;
        if changed {
            if pause {
                tracing::warn!(
                    worker = %shared.name,
                    rss_mib = rss >> 20,
                    limit_mib = mem.limit >> 20,
                    "memory above the pause threshold: no new task starts"
                );
            } else {
                tracing::info!(worker = %shared.name, rss_mib = rss >> 20, "memory back under the pause threshold: resuming");
                shared.more.notify_all();
                mem.room.notify_waiters();
            }
        }
        if changed || last_sample.elapsed() >= mem.sample_interval {
            last_sample = Instant::now();
            let m = sample(shared, rss, pause, cpu.percent());
            shared.say_now(FromWorker::Memory(m));
        }
        std::thread::sleep(mem.monitor_interval);
    }
}

fn sample(shared: &Shared, rss: u64, paused: bool, cpu_percent: f32) -> MemorySample {
    let f = shared.store.figures();
    MemorySample {
        paused,
        limit: shared.memory.limit,
        rss,
        managed: f.managed,
        spilled: f.spilled,
        cpu_percent,
        moved: shared.memory.moved.load(Ordering::Relaxed),
    }
}

/// Ends the process (rule: terminate); its spill directory goes first.
fn terminate(shared: &Shared, rss: u64) -> ! {
    tracing::error!(
        worker = %shared.name,
        rss_mib = rss >> 20,
        limit_mib = shared.memory.limit >> 20,
        "memory above the terminate threshold: the worker exits"
    );
    if let Some(d) = shared.store.spill_dir() {
        let _ = std::fs::remove_dir_all(d.path());
    }
    std::process::exit(EXIT_MEMORY);
}

/// This process's resident memory, in bytes (0 where `/proc` is missing).
pub(crate) fn rss_bytes() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page.max(1) as u64
}

/// CPU time of this process between two readings.
struct CpuClock {
    last: Option<(Instant, f64)>,
}

impl CpuClock {
    fn new() -> CpuClock {
        CpuClock { last: None }
    }

    /// Percent of one core used since the last call.
    fn percent(&mut self) -> f32 {
        let now = Instant::now();
        let Some(secs) = cpu_seconds() else {
            return 0.0;
        };
        let p = match self.last {
            Some((t, s)) if now > t => ((secs - s) / (now - t).as_secs_f64() * 100.0) as f32,
            _ => 0.0,
        };
        self.last = Some((now, secs));
        p.max(0.0)
    }
}

/// User plus system CPU seconds of this process (`/proc/self/stat`).
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &s[s.rfind(')')? + 2..];
    let mut f = rest.split_whitespace();
    let utime: f64 = f.nth(11)?.parse().ok()?;
    let stime: f64 = f.next()?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some((utime + stime) / hz)
}

/// The store a worker with these settings keeps: spilling into a directory
/// of its own when it has a limit and a target.
pub(crate) fn make_store(
    limit: u64,
    o: &MemoryOptions,
    name: &str,
    shared_mem: bool,
) -> std::io::Result<Store> {
    if limit > 0 {
        // Freed big blocks kept for reuse (a program whose allocator is
        // `rask_core::Recycle`) stay under a quarter of the limit (rule 5).
        rask_core::set_recycle_cap((limit / 4) as usize);
    }
    let wants_spill = limit > 0 && (o.target.is_some() || o.spill.is_some());
    let dir = if wants_spill {
        let parent = o.spill_dir.clone().unwrap_or_else(std::env::temp_dir);
        Some(super::spill::SpillDir::create(
            &parent,
            name,
            o.compression,
            o.spill_quota,
        )?)
    } else {
        None
    };
    // Rule 4 of `store.rs`: up to a sixteenth of the limit over the target
    // is spilled by the spiller thread, in the background.
    Ok(Store::new(dir, of(limit, o.target), shared_mem).with_slack(limit / 16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_go_through_a_line_and_back() {
        let mut o = MemoryOptions {
            pause: None,
            spill_quota: Some(1 << 30),
            spill_dir: Some(PathBuf::from("/tmp/a,b")),
            compression: false,
            ..MemoryOptions::default()
        };
        o.monitor_interval = Duration::from_millis(10);
        assert_eq!(MemoryOptions::parse(&o.to_line()), Ok(o));
        assert_eq!(MemoryOptions::parse(""), Ok(MemoryOptions::default()));
        assert!(MemoryOptions::parse("pause=lots").is_err());
        assert!(MemoryOptions::parse("colour=blue").is_err());
        assert!(MemoryOptions::parse("target").is_err());
    }

    #[test]
    fn fetches_under_way_count_against_the_budget() {
        let m = Memory::new(1000, &MemoryOptions::default()); // budget 100
                                                              // Size unknown: one at a time.
        assert!(m.fetching().start(m.transfer));
        assert!(!m.fetching().start(m.transfer));
        m.fetched(30);
        // 30 held, average 30: two more fit (30 + 2 * 30 <= 100), not three.
        assert!(m.fetching().start(m.transfer));
        assert!(m.fetching().start(m.transfer));
        assert!(!m.fetching().start(m.transfer));
        m.fetch_failed();
        m.fetch_failed();
        m.fetch_done(30);
        // Nothing held or under way: one always starts, even if big.
        m.fetched(0);
        let mut f = m.fetching();
        f.avg = Some(5000.0);
        assert!(f.start(m.transfer));
        drop(f);
        // Over the budget with values held for tasks still waiting for
        // another input, and no fetch under way: one more starts (else those
        // tasks wait forever), and only one.
        m.fetched(300);
        assert!(m.fetching().start(m.transfer));
        assert!(!m.fetching().start(m.transfer));
    }

    #[test]
    fn thresholds_are_fractions_of_the_limit() {
        let m = Memory::new(1000, &MemoryOptions::default());
        assert_eq!(
            (m.target, m.spill, m.pause, m.terminate),
            (600, 700, 800, 950)
        );
        assert_eq!(m.transfer, 100);
        let none = Memory::new(0, &MemoryOptions::default());
        assert_eq!(none.pause, u64::MAX);
        assert!(rss_bytes() > 0);
        assert!(cpu_seconds().is_some());
    }
}
