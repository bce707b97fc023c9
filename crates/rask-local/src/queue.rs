//! The pool's queue of eager jobs (tasks submitted one by one, not part of
//! a plan): highest priority first, then first come, first served.
//!
//! Rules (the sleep protocol in `sleep.rs` relies on 1 and 2):
//! 1. `push` makes the job visible in the heap, then increments `len`
//!    (`SeqCst`), and only then may the caller notify sleepers.
//! 2. `len` is never below the number of jobs a worker can pop: `pop`
//!    takes a job out under the lock before it decrements `len`. A worker
//!    that reads `len == 0` after its sleep announcement (rule 1 of
//!    `sleep.rs`) therefore cannot miss a job whose push announced itself
//!    before.
//! 3. `len` can be above the heap's length for a moment (a pop between its
//!    heap removal and its decrement); such a reader finds the heap empty
//!    and `pop` answers `None`.

use std::collections::BinaryHeap;
use std::sync::atomic::Ordering;

use crate::loom::{AtomicU64, AtomicUsize, Mutex};

struct Entry<J> {
    priority: i64,
    seq: u64,
    job: J,
}

impl<J> PartialEq for Entry<J> {
    fn eq(&self, other: &Self) -> bool {
        (self.priority, self.seq) == (other.priority, other.seq)
    }
}
impl<J> Eq for Entry<J> {}
impl<J> PartialOrd for Entry<J> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<J> Ord for Entry<J> {
    /// Higher priority first, then earlier submission first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Eager jobs by priority; see the module rules.
pub(crate) struct JobQueue<J> {
    heap: Mutex<BinaryHeap<Entry<J>>>,
    len: AtomicUsize,
    seq: AtomicU64,
}

impl<J> JobQueue<J> {
    pub(crate) fn new() -> Self {
        JobQueue {
            heap: Mutex::new(BinaryHeap::new()),
            len: AtomicUsize::new(0),
            seq: AtomicU64::new(0),
        }
    }

    /// Queues `job` (rule 1); the caller notifies sleepers afterwards.
    pub(crate) fn push(&self, job: J, priority: i64) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        self.lock().push(Entry { priority, seq, job });
        self.len.fetch_add(1, Ordering::SeqCst);
    }

    /// The best job, if any (rules 2 and 3).
    pub(crate) fn pop(&self) -> Option<J> {
        if self.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let e = self.lock().pop()?;
        self.len.fetch_sub(1, Ordering::SeqCst);
        Some(e.job)
    }

    /// Whether a job may be waiting (for the sleep check; `SeqCst`).
    pub(crate) fn has_jobs(&self) -> bool {
        self.len.load(Ordering::SeqCst) > 0
    }

    /// Takes every queued job off the queue.
    pub(crate) fn take_all(&self) -> Vec<J> {
        let jobs: Vec<Entry<J>> = std::mem::take(&mut *self.lock()).into_vec();
        self.len.fetch_sub(jobs.len(), Ordering::SeqCst);
        jobs.into_iter().map(|e| e.job).collect()
    }

    fn lock(&self) -> crate::loom::MutexGuard<'_, BinaryHeap<Entry<J>>> {
        self.heap.lock().unwrap_or_else(|p| p.into_inner())
    }
}
