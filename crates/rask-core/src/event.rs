//! The event stream.
//!
//! Everything observable (the progress bar, statistics, later the profiler,
//! report and dashboard) is a [`Subscriber`] to one stream of [`Event`]s.
//! Rules:
//! 1. Events of one task arrive in order (started, then finished or failed) on
//!    the thread that ran it; events of different tasks may interleave.
//! 2. A task that does not run because a dependency failed gets a single
//!    `TaskFailed` with no `TaskStarted`.
//! 3. When no subscriber is attached, executors do not read the clock or
//!    build events: the stream costs one branch per task.
//! 4. Eager tasks (futures) report with `RunId(0)` and their submission
//!    number as `TaskId`; a retried attempt ends with `TaskRetrying` instead
//!    of `TaskFailed`.
//! 5. A subscriber that panics is ignored for that event; it never breaks a run.
//! 6. Where a task ran is a *lane*: `(worker, thread)`. In-process executors
//!    report each of their threads as a worker (thread 0); worker processes
//!    and cluster workers report the process as the worker and its compute
//!    thread as the thread. Times are the client's clock (`Instant`s of this
//!    process), converted from what a remote worker measured.
//! 7. Task start and end times are [`Stamp`]s read with
//!    [`crate::clock::stamp`] (a counter read, not a system call; no
//!    conversion per task); other times are `Instant`s.
//! 8. `RunStarted` carries the run's plan (keys and dependencies) where the
//!    emitter has one, so that a recorder can draw the graph and say what a
//!    task waits for; it is borrowed for the call only.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{Key, Plan, RunId, Stamp, TaskError, TaskId, WorkerId};

/// Something that happened during a run.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A run (one `compute`) started.
    RunStarted {
        /// The run.
        run: RunId,
        /// Tasks in the plan.
        tasks: usize,
        /// The executor's name (`"sync"`, `"threads"`).
        executor: &'static str,
        /// How many workers it has.
        workers: usize,
        /// When.
        at: Instant,
        /// The plan it runs (keys, dependencies), where the emitter has one.
        /// Valid only during the call: a subscriber copies what it needs.
        plan: Option<&'a Plan>,
    },
    /// A task started running.
    TaskStarted {
        /// The run.
        run: RunId,
        /// The task.
        task: TaskId,
        /// Its key.
        key: &'a Key,
        /// Who runs it.
        worker: WorkerId,
        /// The compute thread within the worker (rule 6).
        thread: u32,
        /// Which attempt (1 for the first; more for retried tasks).
        attempt: u32,
        /// When (rule 7).
        at: Stamp,
    },
    /// A task finished with a value.
    TaskFinished {
        /// The run.
        run: RunId,
        /// The task.
        task: TaskId,
        /// Its key.
        key: &'a Key,
        /// Who ran it.
        worker: WorkerId,
        /// The compute thread within the worker (rule 6).
        thread: u32,
        /// Which attempt succeeded.
        attempt: u32,
        /// When it started (rule 7).
        started: Stamp,
        /// When it finished (rule 7).
        finished: Stamp,
        /// The size of its result in bytes, where known (the encoded size
        /// on worker processes and clusters; `None` in-process).
        nbytes: Option<u64>,
    },
    /// A task failed, or did not run because a dependency failed.
    TaskFailed {
        /// The run.
        run: RunId,
        /// The task.
        task: TaskId,
        /// The error (its key is the task's).
        error: &'a TaskError,
        /// Who ran (or skipped) it.
        worker: WorkerId,
        /// When.
        at: Instant,
    },
    /// An attempt of a task failed and the task will run again (eager tasks
    /// with retries). `error.attempt` is the attempt that failed.
    TaskRetrying {
        /// The run (`RunId(0)` for eager tasks).
        run: RunId,
        /// The task.
        task: TaskId,
        /// Why the attempt failed.
        error: &'a TaskError,
        /// Who ran the attempt.
        worker: WorkerId,
        /// When.
        at: Instant,
    },
    /// A run's use of its client's result cache, sent just before its
    /// `RunFinished` (only by runs that have a cache).
    Cache {
        /// The run.
        run: RunId,
        /// Its tasks served from the cache.
        hits: u64,
        /// Its tasks looked up and not found.
        misses: u64,
        /// The cache's totals after the run (what it stored included).
        stats: crate::CacheStats,
    },
    /// A value moved between workers (or between a worker and the client).
    Transferred {
        /// The run whose task produced the value (`RunId(0)`: not known).
        run: RunId,
        /// The task that produced it.
        task: TaskId,
        /// Where it was.
        from: WorkerId,
        /// Where it went ([`WorkerId::CLIENT`] for the client).
        to: WorkerId,
        /// Its size in bytes.
        nbytes: u64,
        /// When the transfer started.
        started: Instant,
        /// When it ended.
        finished: Instant,
    },
    /// A worker joined (worker processes and clusters).
    WorkerJoined {
        /// Its id in this event stream.
        worker: WorkerId,
        /// Its name.
        name: &'a str,
        /// Its compute threads.
        threads: u32,
        /// When.
        at: Instant,
    },
    /// A worker left or died.
    WorkerLost {
        /// Its id.
        worker: WorkerId,
        /// Its name.
        name: &'a str,
        /// Why (`"was killed by signal 9 (SIGKILL)"`, `"stopped answering"`).
        why: &'a str,
        /// When.
        at: Instant,
    },
    /// A periodic sample of a worker's resources (about every 100 ms where
    /// sampled).
    WorkerSample {
        /// The worker.
        worker: WorkerId,
        /// When.
        at: Instant,
        /// CPU use since the last sample, in percent of one core.
        cpu_percent: f32,
        /// Resident memory of its process.
        rss_bytes: u64,
        /// Bytes of values it holds in memory.
        managed_bytes: u64,
        /// Bytes of values it spilled to disk.
        spilled_bytes: u64,
        /// Bytes it sent and received since it started.
        moved_bytes: u64,
    },
    /// A run finished: every task finished or failed.
    RunFinished {
        /// The run.
        run: RunId,
        /// Tasks in the plan.
        tasks: usize,
        /// How many failed or did not run.
        failed: usize,
        /// Wall time from `RunStarted`.
        elapsed: Duration,
    },
}

/// Receives events. Called on executor threads: keep it short and non-blocking.
pub trait Subscriber: Send + Sync {
    /// One event.
    fn on_event(&self, event: &Event<'_>);

    /// The subscriber as `Any`, for [`EventSink::find`] (a recorder that a
    /// client looks up again to write its report). `None` by default.
    fn as_any(&self) -> Option<&(dyn Any + Send + Sync)> {
        None
    }
}

/// A set of subscribers, cheap to clone.
#[derive(Clone, Default)]
pub struct EventSink {
    subs: Arc<[Arc<dyn Subscriber>]>,
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventSink({} subscribers)", self.subs.len())
    }
}

impl EventSink {
    /// A sink over these subscribers.
    pub fn new(subs: Vec<Arc<dyn Subscriber>>) -> Self {
        if !subs.is_empty() {
            // Task times come from the cheap clock: calibrate it now, not
            // in the first run.
            crate::clock::warm();
        }
        EventSink { subs: subs.into() }
    }

    /// A copy of this sink with one more subscriber.
    pub fn with(&self, sub: Arc<dyn Subscriber>) -> Self {
        let mut v: Vec<_> = self.subs.iter().cloned().collect();
        v.push(sub);
        EventSink::new(v)
    }

    /// The first subscriber of type `T` (one whose [`Subscriber::as_any`]
    /// returns itself).
    pub fn find<T: Any>(&self) -> Option<&T> {
        self.subs
            .iter()
            .find_map(|s| s.as_any().and_then(|a| a.downcast_ref::<T>()))
    }

    /// Whether nobody listens.
    pub fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    /// Delivers an event to every subscriber.
    #[inline]
    pub fn emit(&self, event: &Event<'_>) {
        for s in self.subs.iter() {
            let _ = catch_unwind(AssertUnwindSafe(|| s.on_event(event)));
        }
    }
}
