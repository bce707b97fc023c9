//! Spare workers: a task about to block (on a lock, a queue, an event)
//! calls [`ThreadPool::stand_in`]; while the returned guard lives, a spare
//! worker thread runs the pool's work in its place, so a pool of one thread
//! cannot deadlock on a task waiting for another task to run. Rules:
//!
//! 1. `blocked` counts live guards; `running` counts spare threads. A new
//!    guard starts spares while `running < blocked`, at most
//!    [`MAX_SPARES`] at once (beyond that the task just blocks).
//! 2. A spare is a worker like the others (its own deque, `CURRENT` set,
//!    found by `help_until` and `get_client`), with an index from `n` up.
//!    Its deque comes from a free list of `MAX_SPARES` deques whose
//!    stealers are in the pool's stealer array from the start; `hw` counts
//!    the spare slots ever used, and stealing looks at `n + hw` deques, so a
//!    pool that never blocks pays nothing.
//! 3. A spare leaves between jobs once `running > blocked` (counted out by
//!    a compare-and-swap, so exactly the surplus leaves), passes on a
//!    wake-up if work is waiting, and puts its deque back; jobs left in it
//!    stay stealable.
//! 4. Dropping a guard decrements `blocked` and wakes sleepers, so a
//!    surplus spare sees it is not needed.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_deque::Worker as Deque;

use super::{lock, Job, Shared, ThreadPool, Worker, CURRENT, SLEEP_TIMEOUT};

/// Spare workers a pool runs at most at once (rule 1).
pub const MAX_SPARES: usize = 64;

/// The pool's spare workers.
pub(super) struct Spares {
    blocked: AtomicUsize,
    running: AtomicUsize,
    /// Spare slots used at least once (rule 2).
    pub(super) hw: AtomicUsize,
    /// Deques free for a spare, with their worker index.
    free: Mutex<Vec<(usize, Deque<Job>)>>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl Spares {
    /// `MAX_SPARES` deques with indices from `base`.
    pub(super) fn new(base: usize, deques: Vec<Deque<Job>>) -> Spares {
        let mut free: Vec<(usize, Deque<Job>)> = deques
            .into_iter()
            .enumerate()
            .map(|(i, d)| (base + i, d))
            .collect();
        // Lowest index last: popped first, so `hw` stays small.
        free.reverse();
        Spares {
            blocked: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            hw: AtomicUsize::new(0),
            free: Mutex::new(free),
            handles: Mutex::new(Vec::new()),
        }
    }

    /// Whether a spare should leave; if so it is counted out (rule 3).
    fn retire(&self) -> bool {
        loop {
            let r = self.running.load(Ordering::Acquire);
            if r <= self.blocked.load(Ordering::Acquire) {
                return false;
            }
            if self
                .running
                .compare_exchange(r, r - 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return true;
            }
        }
    }

    fn surplus(&self) -> bool {
        self.running.load(Ordering::Acquire) > self.blocked.load(Ordering::Acquire)
    }

    /// The spare threads, to join at shutdown.
    pub(super) fn take_handles(&self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut *lock(&self.handles))
    }
}

/// A task's lent slot: while it lives, a spare worker stands in for the
/// thread that made it (see the module docs of `pool/spare.rs`).
pub struct StandIn {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for StandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StandIn")
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.shared.spares.blocked.fetch_sub(1, Ordering::AcqRel);
        self.shared.sleep.notify_all();
    }
}

impl ThreadPool {
    /// On one of this pool's workers, about to block (on something another
    /// task may have to do): a spare worker runs the pool's work until the
    /// returned guard is dropped. Elsewhere `None`: block normally then.
    pub fn stand_in(&self) -> Option<StandIn> {
        self.current_worker()?;
        let shared = &self.shared;
        shared.spares.blocked.fetch_add(1, Ordering::AcqRel);
        start_spares(shared);
        Some(StandIn {
            shared: shared.clone(),
        })
    }
}

/// Starts spares while fewer run than are blocked (rule 1).
fn start_spares(shared: &Arc<Shared>) {
    let sp = &shared.spares;
    let mut free = lock(&sp.free);
    while sp.running.load(Ordering::Acquire) < sp.blocked.load(Ordering::Acquire) {
        let Some((index, deque)) = free.pop() else {
            return;
        };
        let used = index - shared.base + 1;
        sp.hw.fetch_max(used, Ordering::AcqRel);
        sp.running.fetch_add(1, Ordering::AcqRel);
        let for_spare = shared.clone();
        let (tx, rx) = std::sync::mpsc::channel::<Deque<Job>>();
        let spawned = std::thread::Builder::new()
            .name(format!("rask-spare-{}", index - shared.base))
            .spawn(move || {
                if let Ok(local) = rx.recv() {
                    spare_main(for_spare, index, local);
                }
            });
        match spawned {
            Ok(h) => {
                let _ = tx.send(deque);
                let mut hs = lock(&sp.handles);
                hs.retain(|h| !h.is_finished());
                hs.push(h);
            }
            Err(e) => {
                // Not started: the deque is still ours.
                free.push((index, deque));
                sp.running.fetch_sub(1, Ordering::AcqRel);
                tracing::warn!(error = %e, "could not start a spare worker thread");
                return;
            }
        }
    }
}

/// A spare's thread: a worker until it is not needed (rule 3).
fn spare_main(shared: Arc<Shared>, index: usize, local: Deque<Job>) {
    let w = Worker {
        index,
        local,
        shared,
        cache: RefCell::new(None),
        victim: Cell::new(0),
    };
    CURRENT.with(|c| c.set(&w));
    rask_core::set_thread_context(Some(rask_core::TaskContext {
        worker: "threads".into(),
        thread: index as u32,
        attempt: 1,
    }));
    loop {
        if w.shared.shutdown.load(Ordering::SeqCst) {
            w.shared.spares.running.fetch_sub(1, Ordering::AcqRel);
            break;
        }
        if w.shared.spares.retire() {
            if w.shared.has_work() {
                w.shared.sleep.notify_one();
            }
            break;
        }
        if let Some(work) = w.find_work() {
            w.run_work(work);
            continue;
        }
        w.release_completed();
        w.cache.borrow_mut().take();
        let sh = &w.shared;
        sh.sleep
            .sleep(|| sh.has_work() || sh.spares.surplus(), SLEEP_TIMEOUT);
    }
    CURRENT.with(|c| c.set(std::ptr::null()));
    w.cache.borrow_mut().take();
    let Worker {
        index,
        local,
        shared,
        ..
    } = w;
    let nonempty = !local.is_empty();
    lock(&shared.spares.free).push((index, local));
    if nonempty {
        shared.sleep.notify_one();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use crate::{DynJob, ThreadPool};
    use rask_core::WorkerId;

    struct Job<F: Fn(WorkerId) + Send + Sync + 'static>(F);
    impl<F: Fn(WorkerId) + Send + Sync + 'static> DynJob for Job<F> {
        fn run(self: Arc<Self>, w: WorkerId) {
            (self.0)(w)
        }
    }

    #[test]
    fn a_blocked_task_on_a_one_thread_pool_lets_the_next_one_run() {
        let pool = Arc::new(ThreadPool::new(1).unwrap());
        let (tx, rx) = mpsc::channel::<u32>();
        let rx = Mutex::new(rx);
        let (done_tx, done_rx) = mpsc::channel::<(u32, WorkerId)>();
        let p = pool.clone();
        let d = done_tx.clone();
        // The first task waits for what the second sends.
        pool.spawn(
            Arc::new(Job(move |w| {
                let _stand_in = p.stand_in().expect("on a worker");
                let v = rx.lock().unwrap().recv().unwrap();
                d.send((v, w)).unwrap();
            })),
            10,
        );
        pool.spawn(
            Arc::new(Job(move |w| {
                tx.send(7).unwrap();
                done_tx.send((0, w)).unwrap();
            })),
            0,
        );
        let mut got: Vec<(u32, WorkerId)> = (0..2)
            .map(|_| done_rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        got.sort_by_key(|g| g.0);
        assert_eq!(got[1], (7, WorkerId(0)), "the waiter ran on the worker");
        assert_eq!(got[0].1, WorkerId(1), "the sender ran on a spare");
        // The spare leaves once the wait is over.
        let t0 = std::time::Instant::now();
        while pool.shared.spares.running.load(Ordering::Acquire) > 0 {
            assert!(t0.elapsed() < Duration::from_secs(5), "the spare stayed");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            ThreadPool::new(1).unwrap().stand_in().is_none(),
            "not on a worker"
        );
    }

    #[test]
    fn a_chain_of_waiters_gets_a_spare_each() {
        // Task i waits for task i + 1; only the last can finish at once.
        let n = 6;
        let pool = Arc::new(ThreadPool::new(1).unwrap());
        let chans: Vec<_> = (0..n).map(|_| mpsc::channel::<()>()).collect();
        let (senders, receivers): (Vec<_>, Vec<_>) = chans.into_iter().unzip();
        let finished = Arc::new(AtomicUsize::new(0));
        for (i, rx) in receivers.into_iter().enumerate() {
            let p = pool.clone();
            let next = (i > 0).then(|| senders[i - 1].clone());
            let f = finished.clone();
            let rx = Mutex::new(rx);
            let last = i == n - 1;
            pool.spawn(
                Arc::new(Job(move |_| {
                    if !last {
                        let _s = p.stand_in();
                        rx.lock().unwrap().recv().unwrap();
                    }
                    if let Some(tx) = &next {
                        tx.send(()).unwrap();
                    }
                    f.fetch_add(1, Ordering::SeqCst);
                })),
                // Higher priority first: the waiters start before the last.
                (n - i) as i64,
            );
        }
        let t0 = std::time::Instant::now();
        while finished.load(Ordering::SeqCst) < n {
            assert!(t0.elapsed() < Duration::from_secs(10), "deadlocked");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
