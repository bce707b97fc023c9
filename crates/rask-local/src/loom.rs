//! The synchronization types of the pool's protocols, from `std`, or from
//! the `loom` model checker when built with `RUSTFLAGS="--cfg loom"` (as
//! tokio does). Only the code that the loom models exercise takes its types
//! from here; the models are in `loom_tests.rs` (see `docs/reliability.md`).

#[cfg(loom)]
pub(crate) use ::loom::sync::{
    atomic::{fence, AtomicU64, AtomicUsize},
    Condvar, Mutex, MutexGuard,
};
#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicU64, AtomicUsize},
    Condvar, Mutex, MutexGuard,
};
