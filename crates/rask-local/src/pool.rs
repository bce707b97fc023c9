//! A work-stealing thread pool that runs [`Run`]s.
//!
//! # Ownership and flow
//! - The pool owns `n` worker threads. Each worker owns a LIFO deque of
//!   [`Job`]s (8 bytes: a run serial and a task id); the other workers hold
//!   its [`Stealer`] and take from the other end.
//! - `execute` wraps a run in an [`ActiveRun`], publishes it in `runs`, wakes
//!   the workers and waits on the run's latch. The run's roots are not pushed
//!   anywhere: workers *claim* them from the run in small batches with one
//!   atomic add, in priority order, only when their own deque is empty.
//! - A worker finds work in this order: its own deque (newest first, so it
//!   goes depth-first), then roots, then stealing half of another deque.
//! - Running a task may make dependents ready: the first (highest priority)
//!   is run next on the same thread without touching any queue; the rest are
//!   pushed on the local deque and a sleeper is woken if there is one.
//! - The thread that completes a run removes it from `runs` and opens its
//!   latch. Workers keep a clone of the last run's `Arc` while they work on it,
//!   so no job ever outlives the memory it points into. A worker drops that
//!   clone as soon as it finds the run complete, and `execute` waits (briefly)
//!   for those clones to go before it returns, so the caller, not a worker,
//!   frees the run: a worker freeing a large graph while the caller builds the
//!   next one makes both fight over the allocator.
//! - A task that calls `compute` on the pool it runs on does not block its
//!   thread: it runs jobs (its own run's or any other) until its run is done.
//!
//! - Eager tasks (futures) are not part of any plan: they arrive as
//!   [`DynJob`]s in one shared priority queue (highest priority first, then
//!   first come first served), which workers check right after their own
//!   deque. Runs can also be started without blocking ([`ThreadPool::spawn_run`]):
//!   a callback then runs on the worker that completes the run.
//! - A task that waits for something else (a future, a nested run) calls
//!   [`ThreadPool::help_until`]: its worker keeps running other work until the
//!   condition holds, and sleeps on the pool's condvar when there is none.
//! - A task that blocks on something another task may have to do (a lock, a
//!   queue) calls [`ThreadPool::stand_in`]: a spare worker runs the pool's
//!   work meanwhile (`pool/spare.rs`).
//!
//! Sleeping is described in `sleep.rs`.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_deque::{Steal, Stealer, Worker as Deque};
use rask_core::{Run, TaskId, WorkerId};

use crate::queue::JobQueue;
use crate::sleep::Sleep;

mod spare;
pub use spare::{StandIn, MAX_SPARES};

/// Roots claimed at once by a worker whose deque is empty.
const ROOT_BATCH: usize = 8;
/// Idle rounds (spinning, then yielding) before a worker sleeps.
const SPIN_ROUNDS: u32 = 32;
/// How long `execute` waits for workers to let go of a completed run.
const RELEASE_WAIT: Duration = Duration::from_millis(2);
/// Upper bound on one sleep of a worker waiting in `help_until`.
const HELP_SLEEP: Duration = Duration::from_millis(1);
/// Upper bound on one sleep; wake-ups normally come from notifications.
const SLEEP_TIMEOUT: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, Debug)]
struct Job {
    run: u32,
    task: TaskId,
}

/// A job that is not part of a plan: an eager task.
pub trait DynJob: Send + Sync + 'static {
    /// Runs it on a worker.
    fn run(self: Arc<Self>, worker: WorkerId);
    /// Called instead of `run` for a job still queued when the pool stops
    /// (or when [`ThreadPool::abandon_queued`] is called).
    fn abandon(self: Arc<Self>) {}
}

enum Work {
    Plan(Job),
    Dyn(Arc<dyn DynJob>),
}

type OnComplete = Box<dyn FnOnce() + Send>;

struct ActiveRun {
    serial: u32,
    run: Arc<Run>,
    next_root: AtomicUsize,
    roots_exhausted: AtomicBool,
    done: Mutex<bool>,
    cv: Condvar,
    on_complete: Mutex<Option<OnComplete>>,
}

struct Shared {
    /// The workers' deques, then the spares' (`pool/spare.rs`).
    stealers: Box<[Stealer<Job>]>,
    /// Workers that are not spares.
    base: usize,
    spares: spare::Spares,
    runs: Mutex<Vec<Arc<ActiveRun>>>,
    /// Active runs whose roots may not all be claimed yet.
    runs_with_roots: AtomicUsize,
    next_serial: AtomicU32,
    sleep: Sleep,
    shutdown: AtomicBool,
    dyn_jobs: JobQueue<Arc<dyn DynJob>>,
    context: OnceLock<Weak<dyn Any + Send + Sync>>,
}

/// A pool of worker threads with work stealing.
pub struct ThreadPool {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPool")
            .field("threads", &self.threads.len())
            .finish()
    }
}

thread_local! {
    /// The worker running on this thread, while its main loop runs.
    static CURRENT: Cell<*const Worker> = const { Cell::new(std::ptr::null()) };
}

struct Worker {
    index: usize,
    local: Deque<Job>,
    shared: Arc<Shared>,
    cache: RefCell<Option<Arc<ActiveRun>>>,
    victim: Cell<usize>,
}

impl ThreadPool {
    /// A pool of `threads` workers (at least one).
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let n = threads.max(1);
        let mut deques: Vec<Deque<Job>> = (0..n + MAX_SPARES).map(|_| Deque::new_lifo()).collect();
        let stealers = deques.iter().map(Deque::stealer).collect();
        let spare_deques = deques.split_off(n);
        let shared = Arc::new(Shared {
            stealers,
            base: n,
            spares: spare::Spares::new(n, spare_deques),
            runs: Mutex::new(Vec::new()),
            runs_with_roots: AtomicUsize::new(0),
            next_serial: AtomicU32::new(1),
            sleep: Sleep::default(),
            shutdown: AtomicBool::new(false),
            dyn_jobs: JobQueue::new(),
            context: OnceLock::new(),
        });
        let mut threads = Vec::with_capacity(n);
        for (index, local) in deques.into_iter().enumerate() {
            let for_worker = shared.clone();
            let handle = std::thread::Builder::new()
                .name(format!("rask-worker-{index}"))
                .spawn(move || {
                    let w = Worker {
                        index,
                        local,
                        shared: for_worker,
                        cache: RefCell::new(None),
                        victim: Cell::new(index + 1),
                    };
                    CURRENT.with(|c| c.set(&w));
                    rask_core::set_thread_context(Some(rask_core::TaskContext {
                        worker: "threads".into(),
                        thread: index as u32,
                        attempt: 1,
                    }));
                    w.main_loop();
                    CURRENT.with(|c| c.set(std::ptr::null()));
                });
            match handle {
                Ok(h) => threads.push(h),
                Err(e) => {
                    shutdown(&shared, &mut threads);
                    return Err(e);
                }
            }
        }
        Ok(ThreadPool { shared, threads })
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Runs every task of `run` on the pool and returns when it is complete.
    pub fn execute(&self, run: &Arc<Run>) {
        let Some(ar) = self.publish(run.clone(), None) else {
            return;
        };
        let me = self.current_worker();
        match me {
            Some(w) => {
                w.help_until(&|| *lock(&ar.done));
                w.release_completed();
            }
            None => {
                let mut done = lock(&ar.done);
                while !*done {
                    done = ar.cv.wait(done).unwrap_or_else(|p| p.into_inner());
                }
            }
        }
        // Let the workers drop their clones so that the caller frees the run.
        let deadline = std::time::Instant::now() + RELEASE_WAIT;
        while Arc::strong_count(&ar) > 1 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
    }

    /// Starts `run` without waiting; `on_complete` runs on the worker that
    /// completes it (at once, on this thread, if the plan is empty).
    pub fn spawn_run(&self, run: Arc<Run>, on_complete: impl FnOnce() + Send + 'static) {
        if run.plan().is_empty() {
            on_complete();
            return;
        }
        self.publish(run, Some(Box::new(on_complete)));
    }

    fn publish(&self, run: Arc<Run>, on_complete: Option<OnComplete>) -> Option<Arc<ActiveRun>> {
        if run.plan().is_empty() {
            return None;
        }
        let ar = Arc::new(ActiveRun {
            serial: self.shared.next_serial.fetch_add(1, Ordering::Relaxed),
            run,
            next_root: AtomicUsize::new(0),
            roots_exhausted: AtomicBool::new(false),
            done: Mutex::new(false),
            cv: Condvar::new(),
            on_complete: Mutex::new(on_complete),
        });
        lock(&self.shared.runs).push(ar.clone());
        self.shared.runs_with_roots.fetch_add(1, Ordering::SeqCst);
        self.shared.sleep.notify_all();
        Some(ar)
    }

    /// Queues an eager task; higher `priority` runs first.
    pub fn spawn(&self, job: Arc<dyn DynJob>, priority: i64) {
        self.shared.dyn_jobs.push(job, priority);
        self.shared.sleep.notify_one();
    }

    /// Takes every queued eager job off the queue and abandons it.
    pub fn abandon_queued(&self) {
        for job in self.shared.dyn_jobs.take_all() {
            job.abandon();
        }
    }

    /// On one of this pool's workers: runs other work until `done()` holds and
    /// returns `true`. Elsewhere returns `false` at once (block normally then).
    /// Whoever makes `done()` true should call [`ThreadPool::wake_helpers`].
    pub fn help_until(&self, done: &dyn Fn() -> bool) -> bool {
        match self.current_worker() {
            Some(w) => {
                w.help_until(done);
                true
            }
            None => false,
        }
    }

    /// Wakes sleeping workers, so that those waiting in `help_until` look again.
    pub fn wake_helpers(&self) {
        self.shared.sleep.notify_all();
    }

    /// Whether the calling thread is one of this pool's workers.
    pub fn is_worker_thread(&self) -> bool {
        self.current_worker().is_some()
    }

    /// Attaches a context object (a client) that tasks can find with
    /// [`current_context`]; only the first call has an effect.
    pub fn set_context(&self, ctx: Weak<dyn Any + Send + Sync>) {
        let _ = self.shared.context.set(ctx);
    }

    fn current_worker(&self) -> Option<&Worker> {
        let me = CURRENT.with(Cell::get);
        // SAFETY: CURRENT is non-null only while the worker's main loop runs on
        // this thread, and the worker lives on that loop's stack frame, which
        // encloses every call made from a task on this thread.
        unsafe { me.as_ref() }.filter(|w| Arc::ptr_eq(&w.shared, &self.shared))
    }
}

/// The context of the pool whose worker runs the calling thread, if any.
pub fn current_context() -> Option<Arc<dyn Any + Send + Sync>> {
    let me = CURRENT.with(Cell::get);
    // SAFETY: as in `ThreadPool::current_worker`.
    let w = unsafe { me.as_ref() }?;
    w.shared.context.get()?.upgrade()
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        shutdown(&self.shared, &mut self.threads);
        self.abandon_queued();
    }
}

fn shutdown(shared: &Shared, threads: &mut Vec<JoinHandle<()>>) {
    shared.shutdown.store(true, Ordering::SeqCst);
    shared.sleep.notify_all();
    let me = std::thread::current().id();
    for t in threads.drain(..).chain(shared.spares.take_handles()) {
        // The last handle to a pool can be dropped by one of its own workers
        // (a task that captured a client); that worker cannot join itself and
        // exits on its own once it sees `shutdown`.
        if t.thread().id() != me {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn has_work(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
            || self.dyn_jobs.has_jobs()
            || self.runs_with_roots.load(Ordering::SeqCst) > 0
            || self.stealers[..self.live_deques()]
                .iter()
                .any(|s| !s.is_empty())
    }

    /// The deques that may hold jobs: the workers', and the spares' ever
    /// used (`pool/spare.rs`, rule 2).
    fn live_deques(&self) -> usize {
        (self.base + self.spares.hw.load(Ordering::Acquire)).min(self.stealers.len())
    }

    fn complete(&self, ar: &ActiveRun) {
        lock(&self.runs).retain(|r| r.serial != ar.serial);
        if !ar.roots_exhausted.swap(true, Ordering::SeqCst) {
            self.runs_with_roots.fetch_sub(1, Ordering::SeqCst);
        }
        *lock(&ar.done) = true;
        ar.cv.notify_all();
        // Helpers waiting on this run sleep on the pool's condvar.
        self.sleep.notify_all();
        let callback = lock(&ar.on_complete).take();
        if let Some(f) = callback {
            f();
        }
    }

    fn pop_dyn(&self) -> Option<Arc<dyn DynJob>> {
        self.dyn_jobs.pop()
    }
}

impl Worker {
    fn id(&self) -> WorkerId {
        WorkerId(self.index as u32)
    }

    fn main_loop(&self) {
        loop {
            if let Some(work) = self.find_work() {
                self.run_work(work);
                continue;
            }
            if self.shared.shutdown.load(Ordering::SeqCst) {
                break;
            }
            self.release_completed();
            if let Some(work) = self.spin() {
                self.run_work(work);
                continue;
            }
            // Release the last run's memory before sleeping.
            self.cache.borrow_mut().take();
            self.shared
                .sleep
                .sleep(|| self.shared.has_work(), SLEEP_TIMEOUT);
        }
    }

    /// Drops the cached run if it is complete (see the module docs).
    fn release_completed(&self) {
        let mut cache = self.cache.borrow_mut();
        if cache.as_ref().is_some_and(|ar| ar.run.is_complete()) {
            cache.take();
        }
    }

    fn spin(&self) -> Option<Work> {
        for i in 0..SPIN_ROUNDS {
            self.release_completed();
            if i < SPIN_ROUNDS / 2 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
            if let Some(work) = self.find_work() {
                return Some(work);
            }
        }
        None
    }

    /// Runs other work until `done()` (a task waiting on a nested run or a
    /// future); sleeps on the pool's condvar while there is none.
    fn help_until(&self, done: &dyn Fn() -> bool) {
        while !done() {
            match self.find_work() {
                Some(work) => self.run_work(work),
                None => self
                    .shared
                    .sleep
                    .sleep(|| self.shared.has_work() || done(), HELP_SLEEP),
            }
        }
    }

    #[inline]
    fn find_work(&self) -> Option<Work> {
        if let Some(job) = self.local.pop() {
            return Some(Work::Plan(job));
        }
        if let Some(job) = self.shared.pop_dyn() {
            return Some(Work::Dyn(job));
        }
        self.claim_roots().or_else(|| self.steal()).map(Work::Plan)
    }

    fn run_work(&self, work: Work) {
        match work {
            Work::Plan(job) => self.run_job(job),
            Work::Dyn(job) => {
                let wid = self.id();
                if catch_unwind(AssertUnwindSafe(|| job.run(wid))).is_err() {
                    tracing::error!(
                        worker = self.index,
                        "internal error: an eager task escaped its catch"
                    );
                }
            }
        }
    }

    fn claim_roots(&self) -> Option<Job> {
        if self.shared.runs_with_roots.load(Ordering::Acquire) == 0 {
            return None;
        }
        let cached = self.cache.borrow().clone();
        if let Some(ar) = cached {
            if let Some(job) = self.claim_from(&ar) {
                return Some(job);
            }
        }
        let runs: Vec<Arc<ActiveRun>> = lock(&self.shared.runs).clone();
        for ar in runs {
            if let Some(job) = self.claim_from(&ar) {
                *self.cache.borrow_mut() = Some(ar);
                return Some(job);
            }
        }
        None
    }

    fn claim_from(&self, ar: &ActiveRun) -> Option<Job> {
        if ar.roots_exhausted.load(Ordering::Relaxed) {
            return None;
        }
        let roots = ar.run.plan().roots();
        let start = ar.next_root.fetch_add(ROOT_BATCH, Ordering::Relaxed);
        if start >= roots.len() {
            if !ar.roots_exhausted.swap(true, Ordering::SeqCst) {
                self.shared.runs_with_roots.fetch_sub(1, Ordering::SeqCst);
            }
            return None;
        }
        let end = (start + ROOT_BATCH).min(roots.len());
        if end > start + 1 {
            for &t in roots[start + 1..end].iter().rev() {
                self.local.push(Job {
                    run: ar.serial,
                    task: t,
                });
            }
            self.shared.sleep.notify_one();
        }
        Some(Job {
            run: ar.serial,
            task: roots[start],
        })
    }

    fn steal(&self) -> Option<Job> {
        let n = self.shared.live_deques();
        if n <= 1 {
            return None;
        }
        let start = self.victim.get();
        for k in 0..n {
            let v = (start + k) % n;
            if v == self.index {
                continue;
            }
            loop {
                match self.shared.stealers[v].steal_batch_and_pop(&self.local) {
                    Steal::Success(job) => {
                        self.victim.set(v);
                        if !self.local.is_empty() {
                            self.shared.sleep.notify_one();
                        }
                        return Some(job);
                    }
                    Steal::Empty => break,
                    Steal::Retry => std::hint::spin_loop(),
                }
            }
        }
        None
    }

    /// The active run with this serial, from the cache or the run list.
    fn active(&self, serial: u32) -> Option<Arc<ActiveRun>> {
        if let Some(ar) = self.cache.borrow().as_ref() {
            if ar.serial == serial {
                return Some(ar.clone());
            }
        }
        let ar = lock(&self.shared.runs)
            .iter()
            .find(|r| r.serial == serial)
            .cloned()?;
        *self.cache.borrow_mut() = Some(ar.clone());
        Some(ar)
    }

    fn run_job(&self, job: Job) {
        let Some(ar) = self.active(job.run) else {
            debug_assert!(false, "a job outlived its run");
            return;
        };
        let wid = self.id();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut next = Some(job.task);
            while let Some(t) = next.take() {
                let mut pushed = false;
                // SAFETY: `t` is a root claimed once from the run's cursor,
                // or a task that `ready` handed out exactly once when its
                // last dependency resolved; each job is run once.
                let complete = unsafe {
                    ar.run.execute(t, wid, |d| {
                        if next.is_none() {
                            next = Some(d);
                        } else {
                            self.local.push(Job {
                                run: ar.serial,
                                task: d,
                            });
                            pushed = true;
                        }
                    })
                };
                if pushed {
                    self.shared.sleep.notify_one();
                }
                if complete {
                    self.shared.complete(&ar);
                }
            }
        }));
        if result.is_err() {
            // Task panics are caught inside `Run::execute`; reaching here is a
            // bug in rask. Release the waiter rather than hang; `run_plan`
            // reports the run as incomplete.
            tracing::error!(
                worker = self.index,
                run = ar.run.id().0,
                "internal error: run abandoned"
            );
            self.shared.complete(&ar);
        }
        drop(ar);
        self.release_completed();
    }
}
