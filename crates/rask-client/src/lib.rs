//! Rask's [`Client`]: one handle over every executor.
//!
//! - Graphs: `delayed.compute(&client)` / `client.get(&outputs)` block;
//!   `client.compute(outputs)` returns a [`Future`] at once; `persist` keeps a
//!   result on the executor for later graphs.
//! - Eager tasks: `submit`, `map`, `gather`, `wait`, `as_completed`,
//!   `cancel`, with per-task retries, timeout, priority and key
//!   (`client.task().retries(3).submit(...)`).
//! - Async tasks: `submit_async` runs a future on a tokio runtime that the
//!   client owns; compute tasks never run there and async tasks never run on
//!   the compute threads. Futures can be `.await`ed, and the client has async
//!   forms of its blocking calls for use inside a tokio application.
//! - Tasks can reach their client with [`get_client`] and submit or wait on
//!   more work; a waiting task lends its thread to other tasks meanwhile.
//! - [`coord`]: locks, semaphores, queues, events, variables, barriers and
//!   topics shared by name, in-process or through a cluster's scheduler.
//!
//! The state machine of an eager task is described in `cell.rs`.

#![warn(missing_docs)]

mod args;
mod cell;
mod client;
pub mod coord;
mod diagnostics;
mod future;
mod loom;
mod options;
mod runtime;
mod wait;

pub use args::{DepList, FutureArg, FutureArgs};
pub use client::{get_client, Client, Submitter};
pub use future::{AnyFuture, Future, FutureState};
pub use wait::{AsCompleted, OnError, WaitFor, WaitResult};

/// What `#[rask::task]` expands to refers to these (through
/// `rask::__private`, or `rask_client::__private` for crates below the
/// facade with `#[rask::task(crate = rask_client)]`); not an API.
#[doc(hidden)]
pub mod __private {
    pub use crate::runtime::block_on;
    pub use rask_core::__private::*;
}
