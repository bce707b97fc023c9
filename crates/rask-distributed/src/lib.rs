//! Rask's worker runtime: a scheduler and worker processes, over TCP
//! between machines or over Unix sockets and shared memory on one machine.
//! `Client::processes` and `Client::local_cluster` are both local
//! deployments of it; `rask scheduler` and `rask worker` are a cluster.
//!
//! - [`core`]: the scheduler's task state machine, sans IO (states,
//!   transitions and invariants in its docs), with the placement policies
//!   and work stealing;
//! - [`scheduler`]: that core behind connections ([`Scheduler`]);
//! - `worker`: a worker ([`run_worker`]): compute threads, a data port
//!   that peers and clients fetch values from, heartbeats;
//! - [`client`]: [`Connection`], an executor that ships graphs to a
//!   scheduler and reports their events as they happen;
//! - `deploy`: [`LocalCluster`], a scheduler in this process and
//!   supervised worker processes started from the current binary, and
//!   [`init`];
//! - `data` and `local`: moving values (TCP streams, shared memory passed
//!   by descriptor);
//! - [`wire`]: length-prefixed frames with a size limit, and the handshake
//!   (protocol version, challenge-response on a shared secret that never
//!   crosses the wire);
//! - [`proto`]: the messages. Nothing on the wire is code: tasks name
//!   registered functions.

mod bytes;
pub mod client;
pub mod core;
mod data;
mod deploy;
mod error;
mod local;
pub mod proto;
pub mod scheduler;
mod watch;
pub mod wire;
mod worker;

pub use client::Connection;
pub use deploy::{init, LocalCluster, LocalOptions, Transport, WorkerCommand, MAX_QUICK_DEATHS};
pub use error::Error;
pub use scheduler::{Scheduler, SchedulerConfig};
pub use worker::memory::EXIT_MEMORY;
pub use worker::{run_worker, MemoryOptions, SpillError, WorkerOptions};
