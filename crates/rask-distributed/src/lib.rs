//! Rask's distributed runtime: a scheduler and workers over TCP.
//!
//! - [`core`]: the scheduler's task state machine, sans IO (states,
//!   transitions and invariants in its docs), with the placement policies
//!   and work stealing;
//! - [`scheduler`]: that core behind TCP ([`Scheduler`]);
//! - [`worker`]: a worker process ([`run_worker`]): compute threads, a data
//!   port that peers and clients fetch values from, heartbeats;
//! - [`client`]: [`Connection`], an executor that ships graphs to a
//!   scheduler;
//! - [`cluster`]: [`LocalCluster`], a scheduler and worker processes started
//!   from the current binary, and [`init`];
//! - [`wire`]: length-prefixed frames with a size limit, and the handshake
//!   (protocol version, challenge-response on a shared secret that never
//!   crosses the wire);
//! - [`proto`]: the messages. Nothing on the wire is code: tasks name
//!   registered functions.

pub mod client;
pub mod cluster;
pub mod core;
mod error;
pub mod proto;
pub mod scheduler;
pub mod wire;
pub mod worker;

pub use client::Connection;
pub use cluster::{init, LocalCluster};
pub use error::Error;
pub use scheduler::{Scheduler, SchedulerConfig};
pub use worker::{run_worker, WorkerOptions};
