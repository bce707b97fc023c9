//! [`Client`]: one handle over every executor.
//!
//! The executor flavours are an enum, not a trait object (as in tokio's
//! runtime): `Client::sync()`, `Client::threads()`. Later flavours (worker
//! processes, the cluster) join the enum; code that computes through a
//! `Client` does not change.

use std::sync::Arc;

use rask_core::{EventSink, Executor, Outputs, PlanOptions, Result, Run, Subscriber, SyncExecutor};
use rask_diagnostics::ProgressBar;
use rask_local::ThreadsExecutor;

#[derive(Clone, Debug)]
enum Flavor {
    Sync(SyncExecutor),
    Threads(ThreadsExecutor),
}

/// Runs graphs on an executor chosen at construction.
#[derive(Clone, Debug)]
pub struct Client {
    flavor: Flavor,
    events: Option<EventSink>,
    options: PlanOptions,
}

impl Client {
    /// The synchronous executor: the calling thread, deterministic order.
    pub fn sync() -> Self {
        Client {
            flavor: Flavor::Sync(SyncExecutor::new()),
            events: None,
            options: PlanOptions::default(),
        }
    }

    /// A work-stealing thread pool with one thread per core.
    ///
    /// # Panics
    /// If the operating system refuses to start threads (as `std::thread::spawn`
    /// does); use [`Client::try_threads`] to handle that.
    pub fn threads() -> Self {
        Self::threads_with(rask_local::default_threads())
    }

    /// A thread pool with `n` threads. Panics like [`Client::threads`].
    pub fn threads_with(n: usize) -> Self {
        match Self::try_threads(n) {
            Ok(c) => c,
            Err(e) => panic!("rask: could not start {n} worker threads: {e}"),
        }
    }

    /// A thread pool with `n` threads, or the error that prevented it.
    pub fn try_threads(n: usize) -> std::io::Result<Self> {
        Ok(Client {
            flavor: Flavor::Threads(ThreadsExecutor::with_threads(n)?),
            events: None,
            options: PlanOptions::default(),
        })
    }

    /// The same executor, also sending events to `sub`.
    pub fn with_subscriber(mut self, sub: Arc<dyn Subscriber>) -> Self {
        self.events = Some(match &self.events {
            Some(e) => e.with(sub),
            None => EventSink::new(vec![sub]),
        });
        self
    }

    /// The same executor with a terminal progress bar.
    pub fn with_progress(self) -> Self {
        self.with_subscriber(ProgressBar::new())
    }

    /// The same executor, lowering with `options` (e.g. fusion off).
    pub fn with_plan_options(mut self, options: PlanOptions) -> Self {
        self.options = options;
        self
    }

    /// Computes one output, several (a tuple), or a list of them.
    pub fn compute<O: Outputs + ?Sized>(&self, outputs: &O) -> Result<O::Values> {
        rask_core::compute(self, outputs)
    }
}

impl Executor for Client {
    fn name(&self) -> &'static str {
        match &self.flavor {
            Flavor::Sync(e) => e.name(),
            Flavor::Threads(e) => e.name(),
        }
    }
    fn workers(&self) -> usize {
        match &self.flavor {
            Flavor::Sync(e) => e.workers(),
            Flavor::Threads(e) => e.workers(),
        }
    }
    fn events(&self) -> Option<&EventSink> {
        self.events.as_ref()
    }
    fn plan_options(&self) -> PlanOptions {
        self.options
    }
    fn execute(&self, run: &Arc<Run>) {
        match &self.flavor {
            Flavor::Sync(e) => e.execute(run),
            Flavor::Threads(e) => e.execute(run),
        }
    }
}
