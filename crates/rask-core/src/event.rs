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

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{Key, RunId, TaskError, TaskId, WorkerId};

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
        /// Which attempt (1 for the first; more for retried eager tasks).
        attempt: u32,
        /// When.
        at: Instant,
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
        /// Which attempt succeeded.
        attempt: u32,
        /// When it started.
        started: Instant,
        /// When it finished.
        finished: Instant,
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
        EventSink { subs: subs.into() }
    }

    /// A copy of this sink with one more subscriber.
    pub fn with(&self, sub: Arc<dyn Subscriber>) -> Self {
        let mut v: Vec<_> = self.subs.iter().cloned().collect();
        v.push(sub);
        EventSink::new(v)
    }

    /// Whether nobody listens.
    pub fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    /// Delivers an event to every subscriber.
    pub fn emit(&self, event: &Event<'_>) {
        for s in self.subs.iter() {
            let _ = catch_unwind(AssertUnwindSafe(|| s.on_event(event)));
        }
    }
}
