//! # Rask: parallel task graphs for Rust
//!
//! Build a graph lazily with [`delayed`], then compute it on any executor
//! through a [`Client`]:
//!
//! ```
//! use rask::prelude::*;
//!
//! fn inc(x: u64) -> u64 { x + 1 }
//! fn add(a: u64, b: u64) -> u64 { a + b }
//!
//! let xs: Vec<Delayed<u64>> = (0..10).map(|i| delayed(move || inc(i), ())).collect();
//! let total = delayed(|v: Vec<u64>| v.iter().sum::<u64>(), (xs,));
//! let doubled = delayed(add, (&total, &total));
//! assert_eq!(doubled.compute(&Client::threads()).unwrap(), 110);
//! assert_eq!(doubled.compute(&Client::sync()).unwrap(), 110);
//! ```
//!
//! A task that panics or returns an error fails with a [`TaskError`] naming
//! its key; tasks that depend on it do not run and say which dependency
//! failed; everything else still completes.

#![warn(missing_docs)]

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub use rask_client::{
    get_client, AnyFuture, AsCompleted, Client, Future, FutureState, OnError, Submitter, WaitFor,
    WaitResult,
};
pub use rask_core::IntoInput;
pub use rask_core::{
    compute, delayed, task, try_delayed, value, Data, Delayed, Error, Event, EventSink, Executor,
    Graph, GraphError, Inputs, Key, KeyPart, Plan, PlanOptions, Result, RunId, Stamp, Subscriber,
    TaskError, TaskErrorKind, TaskFailure, TaskId, WorkerId,
};
pub use rask_core::{
    task_context, CacheStats, NBytes, Recycle, ResultCache, RetryOn, SizeOf, TaskContext,
    TaskOptions,
};
pub use rask_diagnostics::{
    visualize, GraphView, PerformanceReport, ProgressBar, Recorder, RecorderOptions, RunStats,
    StatsSnapshot,
};
pub use rask_distributed::core::Placement;

/// Seeing inside runs (`rask-diagnostics`): the recorder, the report, the
/// trace export, graph pictures, the state a dashboard reads, metrics.
pub mod diagnostics {
    pub use rask_diagnostics::*;
}
/// The live web dashboard (`rask-dashboard`, feature `dashboard`).
#[cfg(feature = "dashboard")]
#[doc(inline)]
pub use rask_dashboard as dashboard;
pub use rask_distributed::{
    run_worker, Connection, LocalCluster, LocalOptions, MemoryOptions, Scheduler, SchedulerConfig,
    SpillError, Transport, WorkerCommand, WorkerOptions,
};
pub use rask_distributed::{AdaptOptions, Adaptive, SlurmCluster, SlurmOptions};
pub use rask_local::{ShuffledExecutor, SyncExecutor, ThreadPool, ThreadsExecutor};
/// Registers a function so that worker processes can run it: see the
/// README's "Worker processes" and `rask_macros`.
pub use rask_macros::task;

/// Locks, semaphores, queues, events, variables, barriers and
/// publish/subscribe topics shared by name across tasks, processes and
/// machines (see the README's "Coordination" and `docs/coordination.md`).
pub mod coord {
    pub use rask_client::coord::*;
}

/// The distributed runtime's lower-level pieces: the scheduler core,
/// placement policies, the wire (secrets, TLS), the messages.
pub mod distributed {
    pub use rask_distributed::*;
}

/// Call first in `main`. In a worker process (started by
/// `Client::processes` or `Client::local_cluster`) this serves tasks and
/// never returns; anywhere else it returns at once.
pub fn init() {
    rask_distributed::init();
}
/// Chunked n-dimensional arrays (`rask-array`, feature `array`, on by default).
#[cfg(feature = "array")]
#[doc(inline)]
pub use rask_array as array;
/// Partitioned dataframes on Arrow (`rask-dataframe`, feature `dataframe`).
#[cfg(feature = "dataframe")]
#[doc(inline)]
pub use rask_dataframe as dataframe;

/// What `#[rask::task]` expands to refers to these; not an API.
pub mod smoke;

#[doc(hidden)]
pub use rask_client::__private;

/// The lower-level pieces, for executor authors and tests.
pub mod core {
    pub use rask_core::*;
}

/// `use rask::prelude::*;` for the common names.
pub mod prelude {
    pub use crate::{
        compute, delayed, get_client, task, try_delayed, value, Client, Delayed, Error, Future,
        Graph, Inputs, Key, OnError, Result, TaskError, TaskFailure, WaitFor,
    };
}
