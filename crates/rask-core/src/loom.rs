//! The types `Run`'s protocol (`run.rs`) is built from, from `std`, or from
//! the `loom` model checker when built with `RUSTFLAGS="--cfg loom"` (as
//! tokio does). `UnsafeCell` takes loom's closure API in both builds, so
//! loom sees every slot access. The models are in `loom_tests.rs`.

#[cfg(loom)]
pub(crate) use ::loom::cell::UnsafeCell;
#[cfg(loom)]
pub(crate) use ::loom::sync::atomic::AtomicU32;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::AtomicU32;

/// `std::cell::UnsafeCell` with loom's `with` / `with_mut`.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(v: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(v))
    }

    /// Calls `f` with a pointer to read through.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a pointer to write through.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}
