//! The threaded executor: a [`ThreadPool`] plus event subscribers.

use std::sync::Arc;

use rask_core::{EventSink, Executor, PlanOptions, Run};

use crate::ThreadPool;

/// Runs graphs on a shared work-stealing [`ThreadPool`].
#[derive(Clone, Debug)]
pub struct ThreadsExecutor {
    pool: Arc<ThreadPool>,
    events: Option<EventSink>,
    options: PlanOptions,
}

impl ThreadsExecutor {
    /// A pool with one thread per core.
    pub fn new() -> std::io::Result<Self> {
        Self::with_threads(default_threads())
    }

    /// A pool with `n` threads.
    pub fn with_threads(n: usize) -> std::io::Result<Self> {
        Ok(ThreadsExecutor {
            pool: Arc::new(ThreadPool::new(n)?),
            events: None,
            options: PlanOptions::default(),
        })
    }

    /// The same pool, sending events to `events`.
    pub fn with_events(&self, events: EventSink) -> Self {
        ThreadsExecutor {
            events: Some(events),
            ..self.clone()
        }
    }

    /// The same pool, lowering with `options`.
    pub fn with_plan_options(&self, options: PlanOptions) -> Self {
        ThreadsExecutor {
            options,
            ..self.clone()
        }
    }

    /// The pool.
    pub fn pool(&self) -> &Arc<ThreadPool> {
        &self.pool
    }
}

/// The number of cores this process may use (at least 1).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Executor for ThreadsExecutor {
    fn name(&self) -> &'static str {
        "threads"
    }
    fn workers(&self) -> usize {
        self.pool.threads()
    }
    fn events(&self) -> Option<&EventSink> {
        self.events.as_ref()
    }
    fn plan_options(&self) -> PlanOptions {
        self.options
    }
    fn execute(&self, run: &Arc<Run>) {
        self.pool.execute(run)
    }
}
