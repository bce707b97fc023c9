//! The types `Run`'s protocol (`run.rs`) is built from, from `std`, or from
//! the `loom` model checker when built with `RUSTFLAGS="--cfg rask_loom"`, as tokio does
//! with `cfg(loom)` (a name of our own: `--cfg loom` also puts tokio into its
//! own loom mode, which has no `tokio::net`). `UnsafeCell` takes loom's closure API in both builds, so
//! loom sees every slot access. The models are in `loom_tests.rs`.

#[cfg(rask_loom)]
pub(crate) use ::loom::cell::UnsafeCell;
#[cfg(rask_loom)]
pub(crate) use ::loom::sync::atomic::AtomicU32;
#[cfg(not(rask_loom))]
pub(crate) use std::sync::atomic::AtomicU32;

/// `std::cell::UnsafeCell` with loom's `with` / `with_mut`.
#[cfg(not(rask_loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(rask_loom))]
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

/// Runs a loom model, counting its iterations (printed for the figures in
/// `docs/reliability.md`). Schedules are explored up to
/// `LOOM_MAX_PREEMPTIONS` preemptions per execution (default 3, as bounded
/// model checking does; tokio's CI uses 2). For the models of every crate.
#[cfg(rask_loom)]
pub fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let n = std::sync::Arc::new(AtomicUsize::new(0));
    let count = n.clone();
    let mut b = ::loom::model::Builder::new();
    b.preemption_bound = b.preemption_bound.or(Some(3));
    b.check(move || {
        count.fetch_add(1, Ordering::Relaxed);
        f();
    });
    println!(
        "loom model {name}: {} iterations",
        n.load(Ordering::Relaxed)
    );
}
