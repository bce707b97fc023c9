//! The synchronization types of the pool's protocols, from `std`, or from
//! the `loom` model checker when built with `RUSTFLAGS="--cfg rask_loom"`, as tokio does
//! with `cfg(loom)` (a name of our own: `--cfg loom` also puts tokio into its
//! own loom mode, which has no `tokio::net`). Only the code that the loom models exercise takes its types
//! from here; the models are in `loom_tests.rs` (see `docs/reliability.md`).

#[cfg(rask_loom)]
pub(crate) use ::loom::sync::{
    atomic::{fence, AtomicU64, AtomicUsize},
    Condvar, Mutex, MutexGuard,
};
#[cfg(not(rask_loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicU64, AtomicUsize},
    Condvar, Mutex, MutexGuard,
};
