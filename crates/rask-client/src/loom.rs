//! The types of an eager task's state machine (`cell.rs`), from `std`, or
//! from the `loom` model checker when built with `RUSTFLAGS="--cfg rask_loom"`, as tokio does
//! with `cfg(loom)` (a name of our own: `--cfg loom` also puts tokio into its
//! own loom mode, which has no `tokio::net`). The models are in `loom_tests.rs`.

#[cfg(rask_loom)]
pub(crate) use ::loom::sync::{
    atomic::{AtomicU32, AtomicU8, AtomicUsize},
    Mutex, MutexGuard,
};
#[cfg(not(rask_loom))]
pub(crate) use std::sync::{
    atomic::{AtomicU32, AtomicU8, AtomicUsize},
    Mutex, MutexGuard,
};
