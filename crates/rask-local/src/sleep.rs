//! Parking idle workers without losing wake-ups.
//!
//! Protocol (a Dekker-style handshake; both sides use `SeqCst`):
//! 1. A worker that wants to sleep takes `lock`, increments `sleepers`, and
//!    only then checks once more for work; it waits on `cv` only if it found
//!    none, and the wait releases `lock` atomically.
//! 2. A thread that makes work available (pushes to its deque, publishes a
//!    run) first makes it visible, then reads `sleepers`; if it is non-zero it
//!    takes `lock` and notifies.
//!
//! Either the sleeper's check sees the new work, or the notifier sees the
//! sleeper and, because it must take `lock`, notifies after the sleeper is
//! waiting. The wait also has a timeout as a second line of defence; the
//! loom models (`loom_tests.rs`) check the handshake without it (loom's
//! waits never time out, so a lost wake-up is a deadlock there).

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::loom::{fence, AtomicUsize, Condvar, Mutex};

#[derive(Debug, Default)]
pub(crate) struct Sleep {
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Sleep {
    /// Sleeps unless `has_work` says otherwise (rule 1).
    pub(crate) fn sleep(&self, has_work: impl FnOnce() -> bool, timeout: Duration) {
        let guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if !has_work() {
            drop(self.cv.wait_timeout(guard, timeout));
        } else {
            drop(guard);
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    /// Wakes one sleeper, if any (rule 2). Cheap when nobody sleeps.
    #[inline]
    pub(crate) fn notify_one(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            self.cv.notify_one();
        }
    }

    /// Wakes every sleeper (rule 2).
    pub(crate) fn notify_all(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            self.cv.notify_all();
        }
    }
}
