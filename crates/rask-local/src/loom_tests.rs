//! Loom models of the pool's sleep and wake protocol (`sleep.rs`) with its
//! queue of eager jobs (`queue.rs`) and the run-published and shutdown
//! signals of `pool.rs`, each worker looping as `Worker::main_loop` does:
//! look for work, else announce itself and sleep unless `has_work` says
//! otherwise. Loom's condvar waits never time out, so a lost wake-up is a
//! deadlock that loom reports. Run with
//! `RUSTFLAGS="--cfg rask_loom" cargo test --release -p rask-local --lib loom`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

use rask_core::loom_model as model;

use crate::queue::JobQueue;
use crate::sleep::Sleep;

/// What a worker can find: eager jobs, published runs, shutdown.
struct Pool {
    sleep: Sleep,
    jobs: JobQueue<u32>,
    runs_with_roots: AtomicUsize,
    shutdown: AtomicBool,
}

impl Pool {
    fn new() -> Arc<Pool> {
        Arc::new(Pool {
            sleep: Sleep::default(),
            jobs: JobQueue::new(),
            runs_with_roots: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
        })
    }

    /// As `Shared::has_work`.
    fn has_work(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
            || self.jobs.has_jobs()
            || self.runs_with_roots.load(Ordering::SeqCst) > 0
    }

    /// A worker's loop until it finds what `take` accepts. When `has_work`
    /// holds but there is nothing to take yet (another worker is halfway
    /// through a pop), the real loop spins with `yield_now`; loom is told so.
    fn work<T>(&self, mut take: impl FnMut(&Pool) -> Option<T>) -> T {
        loop {
            if let Some(t) = take(self) {
                return t;
            }
            self.sleep.sleep(|| self.has_work(), Duration::from_secs(1));
            thread::yield_now();
        }
    }
}

#[test]
fn loom_a_pushed_job_wakes_a_sleeping_worker() {
    model("pool: push wakes a sleeper", || {
        let pool = Pool::new();
        let p = pool.clone();
        let worker = thread::spawn(move || p.work(|p| p.jobs.pop()));
        pool.jobs.push(7, 0);
        pool.sleep.notify_one();
        assert_eq!(worker.join().unwrap_or(0), 7);
    });
}

#[test]
fn loom_two_jobs_reach_two_workers() {
    model("pool: two pushes, two sleepers", || {
        let pool = Pool::new();
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let p = pool.clone();
                thread::spawn(move || p.work(|p| p.jobs.pop()))
            })
            .collect();
        for j in [1, 2] {
            pool.jobs.push(j, 0);
            pool.sleep.notify_one();
        }
        let mut got: Vec<u32> = workers.into_iter().map(|w| w.join().unwrap_or(0)).collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
}

/// A published run with one root, as `ActiveRun` holds it.
struct OneRun {
    claimed: AtomicBool,
    done: Mutex<bool>,
    cv: Condvar,
}

#[test]
fn loom_a_published_run_and_shutdown_wake_everyone() {
    // `ThreadPool::publish` wakes the sleepers; one claims the root (and, as
    // `claim_from`, takes the run off `runs_with_roots`), completes the run
    // and opens `execute`'s wait; then shutdown wakes everyone for good.
    model("pool: publish, complete, shut down", || {
        let pool = Pool::new();
        let run = Arc::new(OneRun {
            claimed: AtomicBool::new(false),
            done: Mutex::new(false),
            cv: Condvar::new(),
        });
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (p, run) = (pool.clone(), run.clone());
                thread::spawn(move || {
                    p.work(|p| {
                        if p.shutdown.load(Ordering::SeqCst) {
                            return Some(());
                        }
                        if p.runs_with_roots.load(Ordering::Acquire) > 0
                            && !run.claimed.swap(true, Ordering::SeqCst)
                        {
                            p.runs_with_roots.fetch_sub(1, Ordering::SeqCst);
                            // `Shared::complete`.
                            *run.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
                            run.cv.notify_all();
                            p.sleep.notify_all();
                        }
                        None
                    })
                })
            })
            .collect();
        pool.runs_with_roots.fetch_add(1, Ordering::SeqCst);
        pool.sleep.notify_all();
        // `ThreadPool::execute` on a thread outside the pool.
        let mut done = run.done.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            done = run.cv.wait(done).unwrap_or_else(|e| e.into_inner());
        }
        drop(done);
        pool.shutdown.store(true, Ordering::SeqCst);
        pool.sleep.notify_all();
        for w in workers {
            assert!(w.join().is_ok());
        }
        assert_eq!(pool.runs_with_roots.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn loom_priority_then_arrival_order() {
    model("queue: order and length", || {
        let q = Arc::new(JobQueue::new());
        let q2 = q.clone();
        let t = thread::spawn(move || q2.push(1u32, 0));
        q.push(2, 5);
        t.join().unwrap_or(());
        assert_eq!(q.pop(), Some(2));
        assert_eq!(q.pop(), Some(1));
        assert_eq!(q.pop(), None);
        assert!(!q.has_jobs());
    });
}
