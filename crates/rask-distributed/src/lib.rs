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
//!   supervised worker processes started from the current binary (added,
//!   retired, adapted: `deploy/scale.rs`), and [`init`];
//! - [`slurm`]: [`SlurmCluster`], workers as Slurm batch jobs;
//! - [`supervise`]: a worker started by hand, restarted when it crashes
//!   (the nanny's crash-loop rule);
//! - [`adaptive`]: adding and retiring workers by the work in hand, for
//!   any deployment; `scale`: retiring workers and the scheduler's report
//!   from a [`Connection`]; `metrics`: that report in Prometheus' format;
//! - `data` and `local`: moving values (TCP streams, shared memory passed
//!   by descriptor);
//! - [`wire`]: length-prefixed frames with a size limit, and the handshake
//!   (protocol version, challenge-response on a shared secret that never
//!   crosses the wire);
//! - [`proto`]: the messages. Nothing on the wire is code: tasks name
//!   registered functions.
//! - [`coord`]: the requesting side of coordination (locks, queues,
//!   events, ...): links, answer tickets, task sessions; the scheduler's
//!   side is `core::coord`.

pub mod adaptive;
mod bytes;
pub mod client;
pub mod coord;
pub mod core;
mod data;
mod deploy;
mod error;
mod local;
mod metrics;
mod observe;
pub mod proto;
mod scale;
pub mod scheduler;
pub mod slurm;
pub mod supervise;
mod watch;
pub mod wire;
mod worker;

pub use adaptive::{AdaptOptions, Adaptive};
pub use client::Connection;
pub use deploy::{init, LocalCluster, LocalOptions, Transport, WorkerCommand, MAX_QUICK_DEATHS};
pub use error::Error;
pub use scheduler::{Scheduler, SchedulerConfig, TaskStream};
pub use slurm::{SlurmCluster, SlurmOptions};
pub use worker::memory::EXIT_MEMORY;
pub use worker::{run_worker, MemoryOptions, SpillError, WorkerOptions};
