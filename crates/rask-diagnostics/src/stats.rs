//! Counts and busy time of runs, and the result cache's counters, for
//! summaries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rask_core::{Event, Subscriber};

/// Accumulates task counts and time spent inside task bodies.
#[derive(Debug, Default)]
pub struct RunStats {
    finished: AtomicU64,
    failed: AtomicU64,
    busy_ns: AtomicU64,
    last: Mutex<Option<(usize, Duration, usize)>>,
    cache: Mutex<Option<rask_core::CacheStats>>,
}

/// A copy of [`RunStats`] at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Tasks that finished with a value.
    pub finished: u64,
    /// Tasks that failed or did not run.
    pub failed: u64,
    /// Total time inside task bodies, over all workers.
    pub busy: Duration,
    /// The last finished run: tasks, wall time, workers.
    pub last_run: Option<(usize, Duration, usize)>,
    /// The result cache's counters after the last run that used one.
    pub cache: Option<rask_core::CacheStats>,
}

impl RunStats {
    /// Empty statistics.
    pub fn new() -> Self {
        Self::default()
    }

    /// The numbers so far.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            finished: self.finished.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            busy: Duration::from_nanos(self.busy_ns.load(Ordering::Relaxed)),
            last_run: *self.last.lock().unwrap_or_else(|p| p.into_inner()),
            cache: *self.cache.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }
}

impl StatsSnapshot {
    /// Scheduling overhead per task of the last run: the wall time all workers
    /// had, minus the time spent inside task bodies, per task.
    pub fn overhead_per_task(&self) -> Option<Duration> {
        let (tasks, wall, workers) = self.last_run?;
        let capacity = wall.checked_mul(workers as u32)?;
        let idle = capacity.saturating_sub(self.busy);
        (tasks > 0).then(|| idle / tasks as u32)
    }
}

impl Subscriber for RunStats {
    fn on_event(&self, event: &Event<'_>) {
        match event {
            Event::TaskFinished {
                started, finished, ..
            } => {
                self.finished.fetch_add(1, Ordering::Relaxed);
                let ns = finished.saturating_duration_since(*started).as_nanos() as u64;
                self.busy_ns.fetch_add(ns, Ordering::Relaxed);
            }
            Event::TaskFailed { .. } => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
            Event::RunStarted { workers, .. } => {
                let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
                *last = Some((0, Duration::ZERO, *workers));
            }
            Event::Cache { stats, .. } => {
                *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = Some(*stats);
            }
            Event::RunFinished { tasks, elapsed, .. } => {
                let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
                let workers = last.map_or(1, |l| l.2);
                *last = Some((*tasks, *elapsed, workers));
            }
            _ => {}
        }
    }
}
