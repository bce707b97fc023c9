//! [`TaskOptions`]: per-task settings, the same for graph tasks and eager
//! tasks, on every executor.
//!
//! | option | sync, threads | processes, cluster |
//! |---|---|---|
//! | `retries`, `retry_on` | the body runs again | the scheduler runs it again |
//! | `retry_if` (a closure) | yes | refused (`InvalidArgument`): closures do not cross processes; use `retry_on` |
//! | `timeout` | an attempt that returns after it fails with `TimedOut` (a running body cannot be interrupted) | the worker fails the attempt when the time is up; what the body returns later is dropped |
//! | `priority` | orders the graph: a task and its inputs come before lower-priority siblings | the scheduler's ready heap, highest first |
//! | `resources`, `workers` | ignored (one machine, every thread alike) | placement: only workers that have them |
//! | `uncached` | never looked up in nor stored into the client's result cache, nor is anything downstream (`ResultCache`) | the same (the cache is the client's) |

use std::sync::Arc;
use std::time::Duration;

use crate::{TaskError, TaskErrorKind};

/// A predicate on a failed attempt: retry it?
pub type RetryIf = Arc<dyn Fn(&TaskError) -> bool + Send + Sync>;

/// Which kinds of failure are retried (a bit set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryOn(pub u8);

impl RetryOn {
    /// The body panicked.
    pub const PANICKED: RetryOn = RetryOn(1);
    /// The body returned an error.
    pub const FAILED: RetryOn = RetryOn(2);
    /// The attempt ran past its timeout.
    pub const TIMED_OUT: RetryOn = RetryOn(4);
    /// Every kind above (the default).
    pub const ALL: RetryOn = RetryOn(7);

    /// Whether an attempt that failed this way is retried.
    pub fn covers(self, kind: &TaskErrorKind) -> bool {
        let bit = match kind {
            TaskErrorKind::Panicked => Self::PANICKED.0,
            TaskErrorKind::Failed => Self::FAILED.0,
            TaskErrorKind::TimedOut { .. } => Self::TIMED_OUT.0,
            _ => 0,
        };
        self.0 & bit != 0
    }
}

impl Default for RetryOn {
    fn default() -> Self {
        RetryOn::ALL
    }
}

impl std::ops::BitOr for RetryOn {
    type Output = RetryOn;
    fn bitor(self, o: RetryOn) -> RetryOn {
        RetryOn(self.0 | o.0)
    }
}

/// Settings of one task (see the module docs for where each applies).
#[derive(Clone, Default)]
pub struct TaskOptions {
    /// Attempts after the first, for the failures `retry_on` and
    /// `retry_if` accept.
    pub retries: u32,
    /// Which kinds of failure are retried (default: all).
    pub retry_on: RetryOn,
    /// Retries only failures this accepts (in-process executors only).
    pub retry_if: Option<RetryIf>,
    /// Fails an attempt that runs longer.
    pub timeout: Option<Duration>,
    /// Higher runs first (default 0).
    pub priority: i32,
    /// Named resources it holds while it runs on a cluster (`("gpu", 1.0)`).
    pub resources: Vec<(String, f64)>,
    /// If not empty, only cluster workers with one of these names run it.
    pub workers: Vec<String>,
    /// Never served from or stored into a result cache, nor is anything
    /// that depends on it (for impure tasks: a clock, a random draw, a
    /// read of something that changes); see [`ResultCache`](crate::ResultCache).
    pub uncached: bool,
}

impl std::fmt::Debug for TaskOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskOptions")
            .field("retries", &self.retries)
            .field("retry_on", &self.retry_on)
            .field("retry_if", &self.retry_if.is_some())
            .field("timeout", &self.timeout)
            .field("priority", &self.priority)
            .field("resources", &self.resources)
            .field("workers", &self.workers)
            .field("uncached", &self.uncached)
            .finish()
    }
}

impl TaskOptions {
    /// Every setting at its default.
    pub const DEFAULT: TaskOptions = TaskOptions {
        retries: 0,
        retry_on: RetryOn::ALL,
        retry_if: None,
        timeout: None,
        priority: 0,
        resources: Vec::new(),
        workers: Vec::new(),
        uncached: false,
    };

    /// Whether an attempt that failed with `e` runs again (it was attempt
    /// `e.attempt`).
    pub fn should_retry(&self, e: &TaskError) -> bool {
        e.attempt <= self.retries
            && self.retry_on.covers(&e.kind)
            && self.retry_if.as_ref().is_none_or(|p| p(e))
    }

    /// Whether every setting is the default.
    pub fn is_default(&self) -> bool {
        self.retries == 0
            && self.retry_if.is_none()
            && self.timeout.is_none()
            && self.priority == 0
            && self.resources.is_empty()
            && self.workers.is_empty()
            && !self.uncached
    }

    /// Whether running the task involves more than calling its body once.
    pub(crate) fn changes_running(&self) -> bool {
        self.retries > 0 || self.timeout.is_some()
    }
}
