//! Rask's in-process executors.
//!
//! - [`SyncExecutor`] (re-exported from `rask-core`): the calling thread, one
//!   task at a time, in priority order. Deterministic; the reference answer.
//! - [`ThreadsExecutor`]: a work-stealing pool of threads ([`ThreadPool`]),
//!   with per-task dependency counters and no locks on the task path.

mod pool;
mod sleep;
mod threads;

pub use pool::{current_context, DynJob, ThreadPool};
pub use rask_core::SyncExecutor;
pub use threads::{default_threads, ThreadsExecutor};
