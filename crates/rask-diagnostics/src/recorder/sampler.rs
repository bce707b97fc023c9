//! The resource profiler's in-process half: samples this process.
//!
//! A thread wakes every interval (100 ms by default) and reads, from
//! `/proc` (Linux; elsewhere nothing is sampled):
//! - the process's CPU time and resident memory, recorded as the worker
//!   [`WorkerId::CLIENT`] ("this process");
//! - the CPU time of each thread-pool thread (threads named
//!   `rask-worker-N`, which the pool reports as worker `N`), recorded as
//!   that worker with no memory figure (threads share the process's).
//!
//! Worker processes and cluster workers report their own samples as
//! `WorkerSample` events, which the recorder stores the same way. The
//! thread holds only a weak reference: it ends within one interval of the
//! recorder's last handle going away.

use std::sync::Weak;
use std::time::{Duration, Instant};

use rask_core::WorkerId;

use super::Inner;

/// One sample as the recorder stores it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub(crate) t_ns: u64,
    pub(crate) worker: u32,
    pub(crate) cpu: f32,
    pub(crate) rss: Option<u64>,
    pub(crate) managed: Option<u64>,
    pub(crate) spilled: Option<u64>,
    pub(crate) moved: Option<u64>,
}

/// Starts the sampling thread.
pub(crate) fn start(inner: Weak<Inner>, every: Duration) {
    let spawned = std::thread::Builder::new()
        .name("rask-sampler".into())
        .spawn(move || run(inner, every));
    if let Err(e) = spawned {
        tracing::warn!("rask: no resource samples: could not start the sampler thread: {e}");
    }
}

fn run(inner: Weak<Inner>, every: Duration) {
    let mut last = Reading::take();
    let mut last_at = Instant::now();
    loop {
        std::thread::sleep(every);
        let Some(inner) = inner.upgrade() else { return };
        let now = Instant::now();
        let reading = Reading::take();
        let wall = now.duration_since(last_at).as_secs_f64();
        for s in reading.samples_since(&last, wall) {
            inner.push_sample(Sample {
                t_ns: inner.ns(now),
                ..s
            });
        }
        last = reading;
        last_at = now;
    }
}

/// CPU times (in clock ticks) and memory read at one moment.
#[derive(Default)]
struct Reading {
    process_ticks: Option<u64>,
    rss: Option<u64>,
    /// (worker index, ticks), one entry per `rask-worker-N` thread.
    threads: Vec<(u32, u64)>,
}

impl Reading {
    #[cfg(target_os = "linux")]
    fn take() -> Reading {
        let process_ticks = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| stat_ticks(&s));
        let rss = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map(|pages| pages * page_size());
        let mut threads = Vec::new();
        if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
            for entry in dir.flatten() {
                let path = entry.path();
                let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
                    continue;
                };
                let Some(n) = comm.trim().strip_prefix("rask-worker-") else {
                    continue;
                };
                let Ok(n) = n.parse::<u32>() else { continue };
                if let Some(t) = std::fs::read_to_string(path.join("stat"))
                    .ok()
                    .and_then(|s| stat_ticks(&s))
                {
                    threads.push((n, t));
                }
            }
        }
        threads.sort_unstable();
        Reading {
            process_ticks,
            rss,
            threads,
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn take() -> Reading {
        Reading::default()
    }

    /// Samples (without their time) from the change since `before`.
    fn samples_since(&self, before: &Reading, wall_s: f64) -> Vec<Sample> {
        let pct = |now: u64, then: u64| -> f32 {
            if wall_s <= 0.0 {
                return 0.0;
            }
            let cpu_s = now.saturating_sub(then) as f64 / ticks_per_second();
            (100.0 * cpu_s / wall_s) as f32
        };
        let mut out = Vec::new();
        if let (Some(now), Some(then)) = (self.process_ticks, before.process_ticks) {
            out.push(Sample {
                t_ns: 0,
                worker: WorkerId::CLIENT.0,
                cpu: pct(now, then),
                rss: self.rss,
                managed: None,
                spilled: None,
                moved: None,
            });
        }
        // Several pools in one process share names: their threads add up.
        let mut i = 0;
        while i < self.threads.len() {
            let w = self.threads[i].0;
            let (mut now, mut then) = (0, 0);
            while i < self.threads.len() && self.threads[i].0 == w {
                now += self.threads[i].1;
                i += 1;
            }
            for &(bw, bt) in &before.threads {
                if bw == w {
                    then += bt;
                }
            }
            out.push(Sample {
                t_ns: 0,
                worker: w,
                cpu: pct(now, then.min(now)),
                rss: None,
                managed: None,
                spilled: None,
                moved: None,
            });
        }
        out
    }
}

/// utime + stime from a `/proc/.../stat` line (fields 14 and 15; the
/// command name in parentheses may contain spaces).
fn stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    // After ")": field 3 is the state; utime is field 14, stime 15.
    let utime: u64 = f.nth(11)?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(target_os = "linux")]
fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 on error.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

fn ticks_per_second() -> f64 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf has no preconditions; it returns -1 on error.
        let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if t > 0 {
            return t as f64;
        }
    }
    100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_are_read() {
        let line = "1234 (rask worker) R 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(stat_ticks(line), Some(300));
        assert_eq!(stat_ticks("garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_busy_thread_shows_in_the_process_sample() {
        // Spin until this process has used 0.2 s of CPU (however long that
        // takes on a busy machine), then check that the sample says so.
        let before = Reading::take();
        let t0 = Instant::now();
        let mut x = 0u64;
        let start = before.process_ticks.expect("a reading");
        let want = (0.2 * ticks_per_second()) as u64;
        while Reading::take().process_ticks.unwrap_or(0) < start + want {
            for _ in 0..1_000_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "no CPU time in 60 s"
            );
        }
        std::hint::black_box(x);
        let after = Reading::take();
        let wall = t0.elapsed().as_secs_f64();
        let s = after.samples_since(&before, wall);
        let p = s
            .iter()
            .find(|s| s.worker == WorkerId::CLIENT.0)
            .expect("a process sample");
        let cpu_s = p.cpu as f64 / 100.0 * wall;
        assert!(cpu_s >= 0.19, "cpu {}% over {wall} s", p.cpu);
        assert!(p.rss.unwrap_or(0) > 1 << 20);
    }
}
