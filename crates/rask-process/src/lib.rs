//! Worker processes for Rask: registered tasks (`#[rask::task]`) run in
//! child processes that are the user's own binary started again, talking
//! over Unix sockets, with big values in shared memory.
//!
//! - [`init`]: the first line of `main`; serves tasks in a worker process.
//! - [`ProcessPool`]: starts the workers and runs graphs on them
//!   (an [`Executor`](rask_core::Executor), behind `Client::processes`).
//!
//! Module map: `channel` (the socket, descriptor passing), `shm` (memfd
//! segments), `proto` (the messages and their batching), `worker` (the
//! worker loop), `spawn` (starting and reaping processes), `policy`
//! (placement), `pool` (the client side and its driver).

mod channel;
mod policy;
mod pool;
mod proto;
mod shm;
mod spawn;
mod worker;

pub use policy::Placement;
pub use pool::{ProcessOptions, ProcessPool, RemoteValue};
pub use spawn::WorkerCommand;
pub use worker::init;
