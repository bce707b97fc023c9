//! Rask's in-process executors.
//!
//! - [`SyncExecutor`] (re-exported from `rask-core`): the calling thread, one
//!   task at a time, in priority order. Deterministic; the reference answer.
//! - [`ThreadsExecutor`]: a work-stealing pool of threads ([`ThreadPool`]),
//!   with per-task dependency counters and no locks on the task path.
//! - [`ShuffledExecutor`]: ready tasks in a seeded random order on several
//!   threads, for finding order-dependent bugs in a user's graph.

mod loom;
#[cfg(all(test, rask_loom))]
mod loom_tests;
mod pool;
mod queue;
mod shuffled;
mod sleep;
mod threads;

pub use pool::{current_context, DynJob, StandIn, ThreadPool, MAX_SPARES};
pub use rask_core::SyncExecutor;
pub use shuffled::ShuffledExecutor;
pub use threads::{default_threads, ThreadsExecutor};
