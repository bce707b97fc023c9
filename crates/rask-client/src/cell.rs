//! The state of one eager task (a submitted future).
//!
//! # States and transitions
//! ```text
//!   PENDING --(last dependency resolved, none failed)--> QUEUED --> RUNNING
//!      |                                                   ^           |
//!      |                           (attempt failed, retry) `-----------+
//!      |                                                               |
//!      +--(a dependency failed)------> ERRED                           v
//!      +--(a dependency cancelled)---> CANCELLED        FINISHED | ERRED
//!   any non-final state --(cancel / timeout / client shut down)--> CANCELLED | ERRED
//! ```
//! FINISHED, ERRED and CANCELLED are final.
//!
//! # Rules
//! 1. `inner.result` is set exactly once, under `inner`'s lock, by
//!    [`Cell::complete`]; `state` is stored under the same lock. Everything
//!    taken from `inner` at that moment (waiters, dependents, dependencies) is
//!    acted on after the lock is released.
//! 2. A dependent is added to a dependency's `waiters` under the
//!    dependency's lock only while that dependency has no result; otherwise
//!    the caller counts the dependency as resolved at once. So every
//!    dependency resolves each dependent exactly once.
//! 3. `pending` starts at the number of dependencies plus one (a guard the
//!    submitter releases once every dependency is registered); whoever brings
//!    it to zero makes the task ready.
//! 4. A task whose dependencies include a failure waits for all of them and
//!    reports the first failure in argument order (as graphs do). A
//!    cancellation is passed on at once: cancelling a task cancels its
//!    dependents, transitively, and nothing else.
//! 5. Only the attempt that is current when it ends may complete the task; a
//!    result that arrives after a timeout, a cancel or a newer attempt is
//!    dropped.
//! 6. The task holds its dependencies (to read their values, again on a
//!    retry) until it completes, and then lets them go.
//! 7. `users` counts the `Future` handles plus the unfinished dependents of a
//!    task. Whoever brings it to zero releases the value at once (the cell
//!    itself may live a moment longer inside the pool or the runtime, but
//!    nothing can read the value again: every way to it went through a
//!    handle or a dependent).
//! 8. Completing never recurses along a chain: functions that may complete
//!    another task hand back its [`Settled`] (who to tell) instead of
//!    telling them, and [`Settled::notify`] works through them from a list.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::Waker;
use std::time::Instant;

use rask_core::{
    call_body, catch_panic, failure_error, Error, Event, EventSink, Inputs, Key, RunId, TaskError,
    TaskErrorKind, TaskFailure, TaskId, Value, WorkerId,
};
use rask_local::DynJob;
use smallvec::SmallVec;

use crate::client::Core;
use crate::future::Latch;
use crate::loom::{AtomicU32, AtomicU8, AtomicUsize, Mutex, MutexGuard};
use crate::options::TaskOptions;
use crate::runtime::Launch;

pub(crate) const PENDING: u8 = 0;
pub(crate) const QUEUED: u8 = 1;
pub(crate) const RUNNING: u8 = 2;
pub(crate) const FINISHED: u8 = 3;
pub(crate) const ERRED: u8 = 4;
pub(crate) const CANCELLED: u8 = 5;

/// A compute task's body over its inputs.
pub(crate) type ComputeFn = dyn Fn(&mut Inputs<'_>) -> Result<Value, TaskFailure> + Send + Sync;
/// An async task's body: makes the future to poll.
pub(crate) type AsyncFn = dyn Fn(&mut Inputs<'_>, Launch<'_>) -> Result<tokio::task::AbortHandle, TaskFailure>
    + Send
    + Sync;

static DEFAULT_OPTIONS: TaskOptions = TaskOptions::DEFAULT;

/// What a task runs.
pub(crate) enum Body {
    /// A compute task: runs on the thread pool.
    Compute(Box<ComputeFn>),
    /// An async task: the function makes the attempt's future and launches it.
    Async(Box<AsyncFn>),
    /// A graph run started elsewhere (`Client::compute`); completed by its
    /// callback. `Some` for a persisted output: where it will live.
    External(Option<rask_core::Persisted>),
}

/// Who to tell when a task completes.
pub(crate) enum Waiter {
    Waker(Waker),
    Latch(Arc<Latch>),
    Call(Box<dyn FnOnce() + Send>),
    /// A task that depends on this one.
    Dependent(Arc<Cell>),
}

impl Waiter {
    /// Tells the waiter; a dependent that completes in turn hands back its
    /// own completion instead of announcing it (rule 8).
    fn wake(self, cancelled: Option<&CellResult>) -> Option<Settled> {
        match self {
            Waiter::Latch(l) => l.count_down(),
            Waiter::Waker(w) => w.wake(),
            Waiter::Call(f) => f(),
            Waiter::Dependent(d) => {
                return match cancelled {
                    Some(r) => d.cancel_because(r),
                    None => d.dep_resolved(),
                }
            }
        }
        None
    }
}

pub(crate) type CellResult = Result<Value, Error>;

/// A task's result. The error is boxed: `Error` is 80 bytes and rare, and
/// every cell carries a slot (24 bytes this way).
#[derive(Default)]
enum Slot {
    #[default]
    Empty,
    Ok(Value),
    Err(Box<Error>),
}

impl Slot {
    fn is_set(&self) -> bool {
        !matches!(self, Slot::Empty)
    }

    fn get(&self) -> Option<CellResult> {
        match self {
            Slot::Empty => None,
            Slot::Ok(v) => Some(Ok(v.clone())),
            Slot::Err(e) => Some(Err((**e).clone())),
        }
    }
}

impl From<&CellResult> for Slot {
    fn from(r: &CellResult) -> Slot {
        match r {
            Ok(v) => Slot::Ok(v.clone()),
            Err(e) => Slot::Err(Box::new(e.clone())),
        }
    }
}

/// Waiters and dependents of a task: usually one, kept inline.
type Waiters = SmallVec<[Waiter; 1]>;

#[derive(Default)]
struct Inner {
    result: Slot,
    waiters: Waiters,
    deps: Box<[Arc<Cell>]>,
    abort: Option<tokio::task::AbortHandle>,
    started: Option<rask_core::Stamp>,
}

/// One eager task.
pub(crate) struct Cell {
    pub(crate) key: Key,
    pub(crate) seq: u64,
    state: AtomicU8,
    /// Whether the task has dependencies (most eager tasks have none: they
    /// skip the dependency bookkeeping).
    has_deps: bool,
    pending: AtomicU32,
    attempt: AtomicU32,
    users: AtomicUsize,
    inner: Mutex<Inner>,
    body: Body,
    /// `None` for the default settings (most tasks): keeps the cell small.
    opts: Option<Box<TaskOptions>>,
    events: Option<EventSink>,
    core: Weak<Core>,
}

impl Cell {
    pub(crate) fn new(
        core: &Arc<Core>,
        key: Key,
        deps: Vec<Arc<Cell>>,
        body: Body,
        opts: TaskOptions,
        events: Option<EventSink>,
    ) -> Arc<Cell> {
        Cell::of(
            Arc::downgrade(core),
            core.next_seq(),
            key,
            deps,
            body,
            opts,
            events,
        )
    }

    /// A cell of `core` (which may be gone: scheduling the cell then
    /// completes it with `ClientShutdown`, as the loom models use).
    fn of(
        core: Weak<Core>,
        seq: u64,
        key: Key,
        deps: Vec<Arc<Cell>>,
        body: Body,
        mut opts: TaskOptions,
        events: Option<EventSink>,
    ) -> Arc<Cell> {
        let pending = deps.len() as u32 + 1;
        opts.key = None; // already in `key`
        let opts = (!opts.is_default()).then(|| Box::new(opts));
        let deps = deps.into_boxed_slice();
        Arc::new(Cell {
            key,
            seq,
            state: AtomicU8::new(PENDING),
            has_deps: pending > 1,
            pending: AtomicU32::new(pending),
            attempt: AtomicU32::new(0),
            users: AtomicUsize::new(0),
            inner: Mutex::new(Inner {
                deps,
                ..Inner::default()
            }),
            body,
            opts,
            events: events.filter(|e| !e.is_empty()),
            core,
        })
    }

    fn opts(&self) -> &TaskOptions {
        self.opts.as_deref().unwrap_or(&DEFAULT_OPTIONS)
    }

    /// Where the value lives, for a persisted output on a cluster.
    pub(crate) fn persisted(&self) -> Option<rask_core::Persisted> {
        match &self.body {
            Body::External(p) => *p,
            _ => None,
        }
    }

    /// The client core, unless it is gone.
    pub(crate) fn core(&self) -> Option<Arc<Core>> {
        self.core.upgrade()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state() >= FINISHED
    }

    /// The result, once there is one.
    pub(crate) fn result(&self) -> Option<CellResult> {
        if !self.is_done() {
            return None;
        }
        self.lock().result.get()
    }

    /// Adds a waiter unless the task is done; returns whether it was added.
    pub(crate) fn add_waiter(&self, w: Waiter) -> bool {
        let mut g = self.lock();
        if g.result.is_set() {
            return false;
        }
        g.waiters.push(w);
        true
    }

    /// Calls `f` when the task completes (at once if it has).
    pub(crate) fn on_done(&self, f: impl FnOnce() + Send + 'static) {
        let mut g = self.lock();
        if g.result.is_set() {
            drop(g);
            f();
        } else {
            g.waiters.push(Waiter::Call(Box::new(f)));
        }
    }

    fn task_id(&self) -> TaskId {
        TaskId(self.seq as u32)
    }

    /// One more handle or unfinished dependent (rule 7).
    pub(crate) fn add_user(&self) {
        self.users.fetch_add(1, Ordering::Relaxed);
    }

    /// One handle or dependent fewer; the last one releases the value (rule 7).
    pub(crate) fn drop_user(&self) {
        if self.users.fetch_sub(1, Ordering::AcqRel) == 1 {
            let mut g = self.lock();
            if matches!(g.result, Slot::Ok(_)) {
                g.result = Slot::Ok(Arc::new(Released));
            }
        }
    }

    /// Registers this task with its dependencies (rule 2) and releases the
    /// submitter's guard (rule 3). Called once, right after `new`.
    pub(crate) fn start(self: &Arc<Self>) {
        if !self.has_deps {
            self.pending.store(0, Ordering::Relaxed);
            Settled::notify_opt(self.schedule());
            return;
        }
        let deps: Vec<Arc<Cell>> = self.lock().deps.to_vec();
        for d in &deps {
            d.add_user();
        }
        for d in &deps {
            let mut g = d.lock();
            if !g.result.is_set() {
                g.waiters.push(Waiter::Dependent(self.clone()));
            } else {
                drop(g);
                Settled::notify_opt(self.dep_resolved());
            }
        }
        Settled::notify_opt(self.dep_resolved());
    }

    #[must_use]
    fn dep_resolved(self: &Arc<Self>) -> Option<Settled> {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.ready()
        } else {
            None
        }
    }

    /// All dependencies resolved: fail, or queue the task (rule 4).
    #[must_use]
    fn ready(self: &Arc<Self>) -> Option<Settled> {
        if self.is_done() {
            return None;
        }
        if !self.has_deps {
            return self.schedule();
        }
        let failed = {
            let g = self.lock();
            g.deps.iter().find_map(|d| match d.result() {
                Some(Err(e)) => Some((d.key.clone(), e)),
                _ => None,
            })
        };
        if let Some((dep, e)) = failed {
            let root = root_error(&e);
            let kind = if root.kind == TaskErrorKind::Cancelled {
                TaskErrorKind::Cancelled
            } else {
                TaskErrorKind::DependencyFailed { dependency: dep }
            };
            return self.settle(Err(Error::Task(Arc::new(TaskError {
                key: self.key.clone(),
                kind,
                message: String::new(),
                backtrace: None,
                attempt: 0,
                cause: Some(root),
            }))));
        }
        self.schedule()
    }

    /// Hands the task to the pool or the runtime.
    #[must_use]
    fn schedule(self: &Arc<Self>) -> Option<Settled> {
        let Some(core) = self.core.upgrade() else {
            return self.settle(Err(Error::ClientShutdown {
                key: self.key.clone(),
            }));
        };
        if self
            .state
            .compare_exchange(PENDING, QUEUED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
            && self
                .state
                .compare_exchange(RUNNING, QUEUED, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return None; // completed (cancelled) meanwhile
        }
        if core.is_shut_down() {
            return self.settle(Err(Error::ClientShutdown {
                key: self.key.clone(),
            }));
        }
        match &self.body {
            Body::Compute(_) => core
                .compute_pool()
                .spawn(self.clone(), i64::from(self.opts().task.priority)),
            Body::Async(_) => return self.start_async(&core),
            Body::External(_) => {}
        }
        None
    }

    /// Values of the dependencies, in argument order (rule 6).
    fn inputs(&self) -> Vec<Option<Value>> {
        if !self.has_deps {
            return Vec::new();
        }
        let deps: Vec<Arc<Cell>> = self.lock().deps.to_vec();
        deps.iter()
            .map(|d| d.result().and_then(Result::ok))
            .collect()
    }

    fn dep_key(&self, p: usize) -> Key {
        self.lock()
            .deps
            .get(p)
            .map_or_else(|| self.key.clone(), |d| d.key.clone())
    }

    /// Moves QUEUED -> RUNNING and numbers the attempt; `None` if cancelled.
    fn begin_attempt(&self, worker: WorkerId) -> Option<u32> {
        if self
            .state
            .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return None;
        }
        let attempt = self.attempt.fetch_add(1, Ordering::AcqRel) + 1;
        if let Some(ev) = &self.events {
            let at = rask_core::clock::stamp();
            self.lock().started = Some(at);
            ev.emit(&Event::TaskStarted {
                run: RunId(0),
                task: self.task_id(),
                key: &self.key,
                worker,
                thread: 0,
                attempt,
                at,
            });
        }
        Some(attempt)
    }

    #[must_use]
    fn start_async(self: &Arc<Self>, core: &Arc<Core>) -> Option<Settled> {
        let Body::Async(make) = &self.body else {
            return None;
        };
        let worker = WorkerId(u32::MAX);
        let attempt = self.begin_attempt(worker)?;
        let mut values = self.inputs();
        // Only building the future runs here; it is polled on the runtime.
        let launch = Launch {
            handle: core.runtime(),
            cell: self,
            attempt,
            timeout: self.opts().task.timeout,
        };
        let launched = catch_panic(&self.key, attempt, || {
            make(&mut Inputs::from_values(&mut values), launch)
        });
        let abort = match launched {
            Ok(Ok(a)) => a,
            Ok(Err(failure)) => {
                let e = failure_error(&self.key, attempt, failure, |p| self.dep_key(p));
                return self.settle_attempt(attempt, Err(e), worker);
            }
            Err(e) => return self.settle_attempt(attempt, Err(e), worker),
        };
        let mut g = self.lock();
        if !g.result.is_set() {
            g.abort = Some(abort);
        }
        None
    }

    /// Ends an attempt: completes, retries, or drops a stale result (rule 5).
    pub(crate) fn finish_attempt(
        self: &Arc<Self>,
        attempt: u32,
        r: Result<Value, TaskError>,
        worker: WorkerId,
    ) {
        Settled::notify_opt(self.settle_attempt(attempt, r, worker));
    }

    /// As `finish_attempt`, consuming the caller's reference before anyone is
    /// told: a waiter that then drops the last handle frees the result at once.
    pub(crate) fn finish_attempt_owned(
        self: Arc<Self>,
        attempt: u32,
        r: Result<Value, TaskError>,
        worker: WorkerId,
    ) {
        let settled = self.settle_attempt(attempt, r, worker);
        drop(self);
        Settled::notify_opt(settled);
    }

    #[must_use]
    fn settle_attempt(
        self: &Arc<Self>,
        attempt: u32,
        r: Result<Value, TaskError>,
        worker: WorkerId,
    ) -> Option<Settled> {
        if self.is_done() || self.attempt.load(Ordering::Acquire) != attempt {
            return None;
        }
        match r {
            Ok(v) => {
                if let Some(ev) = &self.events {
                    let finished = rask_core::clock::stamp();
                    let started = self.lock().started.unwrap_or(finished);
                    ev.emit(&Event::TaskFinished {
                        run: RunId(0),
                        task: self.task_id(),
                        key: &self.key,
                        worker,
                        thread: 0,
                        attempt,
                        started,
                        finished,
                        nbytes: None,
                    });
                }
                self.settle(Ok(v))
            }
            Err(e) => {
                if self.opts().task.should_retry(&e) {
                    if let Some(ev) = &self.events {
                        ev.emit(&Event::TaskRetrying {
                            run: RunId(0),
                            task: self.task_id(),
                            error: &e,
                            worker,
                            at: Instant::now(),
                        });
                    }
                    self.schedule()
                } else {
                    self.settle(Err(Error::Task(Arc::new(e))))
                }
            }
        }
    }

    /// A running attempt passed its deadline (compute tasks; async tasks time
    /// themselves out).
    pub(crate) fn time_out(self: &Arc<Self>, attempt: u32) {
        if self.state() != RUNNING {
            return;
        }
        let after = self.opts().task.timeout.unwrap_or_default();
        let e = TaskError {
            key: self.key.clone(),
            kind: TaskErrorKind::TimedOut { after },
            message: String::new(),
            backtrace: None,
            attempt,
            cause: None,
        };
        self.finish_attempt(attempt, Err(e), WorkerId(u32::MAX));
    }

    /// Cancels the task unless it has completed; its dependents are
    /// cancelled too (rule 4). Returns whether this call cancelled it.
    pub(crate) fn cancel(self: &Arc<Self>) -> bool {
        let e = TaskError {
            key: self.key.clone(),
            kind: TaskErrorKind::Cancelled,
            message: String::new(),
            backtrace: None,
            attempt: self.attempt.load(Ordering::Acquire),
            cause: None,
        };
        self.complete(Err(Error::Task(Arc::new(e))))
    }

    /// Sets the result (rule 1) and tells everyone; `false` if already set.
    pub(crate) fn complete(self: &Arc<Self>, result: CellResult) -> bool {
        match self.settle(result) {
            Some(s) => {
                s.notify();
                true
            }
            None => false,
        }
    }

    /// Sets the result (rule 1); the returned [`Settled`] tells everyone.
    #[must_use]
    fn settle(self: &Arc<Self>, result: CellResult) -> Option<Settled> {
        let state = match &result {
            Ok(_) => FINISHED,
            Err(e) if is_cancel(e) => CANCELLED,
            Err(_) => ERRED,
        };
        let (waiters, deps, abort) = {
            let mut g = self.lock();
            if g.result.is_set() {
                return None;
            }
            g.result = Slot::from(&result);
            // A swap, not a store: `begin_attempt` may CAS the state at the
            // same moment. Either is correct on real hardware; loom
            // (tokio-rs/loom#254) mis-orders a plain store against a
            // concurrent read-modify-write, and the models need it exact.
            self.state.swap(state, Ordering::AcqRel);
            (
                std::mem::take(&mut g.waiters),
                std::mem::take(&mut g.deps),
                g.abort.take(),
            )
        };
        if state == CANCELLED {
            if let Some(a) = abort {
                a.abort();
            }
        }
        for d in &deps {
            d.drop_user();
        }
        drop(deps);
        if let (Some(ev), Err(Error::Task(e))) = (&self.events, &result) {
            ev.emit(&Event::TaskFailed {
                run: RunId(0),
                task: self.task_id(),
                error: e,
                worker: WorkerId(u32::MAX),
                at: Instant::now(),
            });
        }
        Some(Settled {
            cancelled: (state == CANCELLED).then_some(result),
            waiters,
        })
    }

    #[must_use]
    fn cancel_because(self: &Arc<Self>, dep_result: &CellResult) -> Option<Settled> {
        let root = match dep_result {
            Err(e) => root_error(e),
            Ok(_) => return None,
        };
        self.settle(Err(Error::Task(Arc::new(TaskError {
            key: self.key.clone(),
            kind: TaskErrorKind::Cancelled,
            message: String::new(),
            backtrace: None,
            attempt: self.attempt.load(Ordering::Acquire),
            cause: Some(root),
        }))))
    }
}

/// What a released result holds: nothing (rule 7).
struct Released;

/// A completion not yet announced: who to wake and which dependents to move.
pub(crate) struct Settled {
    cancelled: Option<CellResult>,
    waiters: Waiters,
}

impl Settled {
    /// Tells every waiter, then the waiters of every dependent that
    /// completed in turn, from a work list: a chain of a million failed or
    /// cancelled tasks is walked, not recursed (rule 8). Allocates nothing
    /// unless a dependent completes.
    fn notify(self) {
        let mut more = Vec::new();
        self.wake_all(&mut more);
        while let Some(s) = more.pop() {
            s.wake_all(&mut more);
        }
    }

    fn notify_opt(s: Option<Settled>) {
        if let Some(s) = s {
            s.notify();
        }
    }

    fn wake_all(self, more: &mut Vec<Settled>) {
        let cancelled = self.cancelled.as_ref();
        for w in self.waiters {
            if let Some(next) = w.wake(cancelled) {
                more.push(next);
            }
        }
    }
}

fn is_cancel(e: &Error) -> bool {
    matches!(e, Error::Task(t) if t.kind == TaskErrorKind::Cancelled)
}

/// The root task error behind any error (non-task errors become one).
pub(crate) fn root_error(e: &Error) -> Arc<TaskError> {
    match e {
        Error::Task(t) => t.cause.clone().unwrap_or_else(|| t.clone()),
        other => Arc::new(TaskError {
            key: match other {
                Error::ClientShutdown { key } => key.clone(),
                _ => Key::new("graph"),
            },
            kind: TaskErrorKind::Failed,
            message: other.to_string(),
            backtrace: None,
            attempt: 0,
            cause: None,
        }),
    }
}

impl DynJob for Cell {
    fn run(self: Arc<Self>, worker: WorkerId) {
        if !matches!(self.body, Body::Compute(_)) {
            return;
        }
        let core = match self.core.upgrade() {
            Some(core) if !core.is_shut_down() => core,
            _ => {
                let key = self.key.clone();
                self.complete(Err(Error::ClientShutdown { key }));
                return;
            }
        };
        let Some(attempt) = self.begin_attempt(worker) else {
            return;
        };
        core.running_on(worker, &self, || {
            // A shutdown that began after the check above, before this task
            // was listed as running, did not see it and failed nothing:
            // listing it and reading the flag are ordered by the list's lock
            // (the shutdown sets the flag, then reads every list), so one of
            // the two fails it. Without this its waiters waited for ever.
            if core.is_shut_down() {
                let key = self.key.clone();
                self.complete(Err(Error::ClientShutdown { key }));
                return;
            }
            self.run_attempt(&core, attempt, worker)
        });
    }

    fn abandon(self: Arc<Self>) {
        let key = self.key.clone();
        self.complete(Err(Error::ClientShutdown { key }));
    }
}

impl Cell {
    #[allow(clippy::result_large_err)] // as `call_body`: the error is the rare path
    fn run_attempt(self: &Arc<Self>, core: &Core, attempt: u32, worker: WorkerId) {
        let Body::Compute(body) = &self.body else {
            return;
        };
        if let Some(after) = self.opts().task.timeout {
            let cell = Arc::downgrade(self);
            core.runtime().spawn(async move {
                tokio::time::sleep(after).await;
                if let Some(c) = cell.upgrade() {
                    c.time_out(attempt);
                }
            });
        }
        let mut values = self.inputs();
        let ctx = rask_core::task_context().map(|mut c| {
            c.attempt = attempt;
            c
        });
        let mut call = || {
            call_body(
                &self.key,
                attempt,
                |p| self.dep_key(p),
                || body(&mut Inputs::from_values(&mut values)),
            )
        };
        let r = match ctx {
            Some(c) => rask_core::with_task_context(c, call),
            None => call(),
        };
        drop(values);
        self.finish_attempt(attempt, r, worker);
    }
}

#[cfg(all(test, rask_loom))]
#[path = "loom_tests.rs"]
mod loom_tests;
