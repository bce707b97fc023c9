//! One execution of a [`Plan`]: per-task state and the code that runs a task.
//!
//! Every executor drives the same [`Run`]; they differ only in who calls
//! [`Run::execute`] and in what order. Per task the run keeps 32 bytes:
//! a dependency counter, a consumer counter and a result slot.
//!
//! # Protocol (the rules that make the `unsafe` slot accesses sound)
//! 1. `execute(head)` is called exactly once per chain head, and only after
//!    every dependency of the head has resolved (its `pending` counter reached
//!    zero, or it is a root). Chain members run inside their head's call.
//! 2. A task's slot is written once, by the thread running the task, *before*
//!    that thread decrements its dependents' `pending` counters (`AcqRel`) and
//!    the run's `outputs_left` (`AcqRel`). A reader that sees `pending` reach
//!    zero therefore sees the slot written.
//! 3. After the write, a slot is read only by its consumers (dependents and
//!    output extraction), each exactly once per use. A consumer reads the slot
//!    (cloning the shared value) *before* it decrements `consumers`; the one
//!    that brings `consumers` to zero empties the slot, freeing the value as
//!    soon as its last consumer has it. A consumer that sees `consumers == 1`
//!    knows it is the only reader left and moves the value out directly.
//! 4. A failed dependency is detected by reading the dependency slots before
//!    running; the task then does not run, consumes its inputs (rule 3) and
//!    stores a `DependencyFailed` error naming the first failed dependency in
//!    argument order, so the error is the same whatever the execution order.
//! 5. `outputs_left` reaching zero means every task has resolved (all tasks
//!    are ancestors of an output, and a task resolves only after all of its
//!    dependencies have); the thread that brings it to zero completes the run.
//!
//! Rules 1 and 3 rest on the callers: [`Run::execute`], [`Run::take_inputs`]
//! and [`Run::resolve`] are `unsafe fn`s whose contracts restate them; the
//! outputs are read through one [`OutputReader`](crate::OutputReader) per
//! run, which [`Run::output_reader`] hands out once.
//!
//! A run made with a result cache (`cache/plan.rs`) offers each value a
//! task produces to it (`RunCache::offer`) before storing it in its slot;
//! one made without pays one branch per finished task.
//!
//! Constants (`value`, literal arguments) are tasks of the plan but not the
//! user's work: they send no task events and are not counted in
//! `RunStarted`/`RunFinished`, so a progress bar counts each of the user's
//! tasks once, on every executor.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::catch::{call_body, install_hook};
use crate::event::{Event, EventSink};
use crate::inputs::Inputs;
use crate::loom::{AtomicU32, UnsafeCell};
use crate::node::{Data, Value};
use crate::{Plan, RunId, Stamp, TaskError, TaskErrorKind, TaskId, WorkerId};

enum Slot {
    Empty,
    Ready(Value),
    Failed(Arc<TaskError>),
}

struct TaskState {
    pending: AtomicU32,
    consumers: AtomicU32,
    slot: UnsafeCell<Slot>,
}

// SAFETY: `slot` is accessed only under the protocol in the module docs: one
// writer before a release, readers after the matching acquire, and removal
// only by the last reader.
unsafe impl Sync for TaskState {}

static NEXT_RUN: AtomicU64 = AtomicU64::new(1);

/// The state of one execution of a plan.
pub struct Run {
    id: RunId,
    plan: Plan,
    states: Box<[TaskState]>,
    outputs_left: AtomicU32,
    failed: AtomicU32,
    events: Option<EventSink>,
    /// Task events are sent by the executor itself (see [`Run::set_quiet`]).
    quiet: AtomicBool,
    /// The output reader was handed out.
    outputs_claimed: AtomicBool,
    /// Tasks that are not constants.
    work: usize,
    /// The result cache the values go to, if the executor has one.
    cache: Option<Box<crate::cache::RunCache>>,
    started: Instant,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("id", &self.id)
            .field("plan", &self.plan)
            .finish()
    }
}

impl Run {
    /// Prepares a run; `events` (if any and non-empty) receives the task events.
    pub fn new(plan: Plan, events: Option<EventSink>) -> Self {
        install_hook();
        let states = (0..plan.len())
            .map(|i| TaskState {
                pending: AtomicU32::new(plan.deps(TaskId(i as u32)).len() as u32),
                consumers: AtomicU32::new(plan.consumers[i]),
                slot: UnsafeCell::new(Slot::Empty),
            })
            .collect();
        let events = events.filter(|e| !e.is_empty());
        let work = plan.len() - plan.constants();
        Run {
            id: RunId(NEXT_RUN.fetch_add(1, Ordering::Relaxed)),
            outputs_left: AtomicU32::new(plan.output_tasks()),
            plan,
            states,
            failed: AtomicU32::new(0),
            events,
            quiet: AtomicBool::new(false),
            outputs_claimed: AtomicBool::new(false),
            work,
            cache: None,
            started: Instant::now(),
        }
    }

    /// A run that stores its tasks' values in `cache` (see `cache/`).
    pub(crate) fn with_cache(mut self, cache: crate::cache::RunCache) -> Self {
        self.cache = Some(Box::new(cache));
        self
    }

    /// Offers `t`'s value to the result cache, if there is one.
    #[inline]
    fn offer(&self, t: TaskId, v: &Value) {
        if let Some(c) = &self.cache {
            c.offer(t, &self.plan.nodes[t.index()], v);
        }
    }

    /// This run's id.
    pub fn id(&self) -> RunId {
        self.id
    }

    /// The plan being run.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Whether every output has resolved (and so every task).
    pub fn is_complete(&self) -> bool {
        self.outputs_left.load(Ordering::Acquire) == 0
    }

    /// How many tasks failed or did not run so far.
    pub fn failed(&self) -> usize {
        self.failed.load(Ordering::Relaxed) as usize
    }

    /// Who listens to this run's events (`None`: nobody).
    pub fn events(&self) -> Option<&EventSink> {
        self.events.as_ref()
    }

    /// From now on the run sends no task events: an executor that reports
    /// them itself as they happen elsewhere (a cluster) calls this before it
    /// settles the run, so nothing is reported twice.
    pub fn set_quiet(&self) {
        self.quiet.store(true, Ordering::Relaxed);
    }

    /// The task events' sink, unless quiet.
    #[inline]
    fn task_events(&self) -> Option<&EventSink> {
        match &self.events {
            Some(e) if !self.quiet.load(Ordering::Relaxed) => Some(e),
            _ => None,
        }
    }

    /// The reader of the outputs of this (complete) run; only one is ever
    /// handed out (rule 3), so a second call is an error.
    pub fn output_reader(&self) -> crate::Result<crate::OutputReader<'_>> {
        if self.outputs_claimed.swap(true, Ordering::AcqRel) {
            return Err(crate::Error::Executor(
                "the outputs of this run were already read".to_owned(),
            ));
        }
        if !self.is_complete() && !self.plan.is_empty() {
            return Err(crate::Error::Executor(
                "the outputs of a run were read before it completed".to_owned(),
            ));
        }
        Ok(crate::OutputReader::new(self))
    }

    /// Emits `RunStarted`.
    pub fn emit_started(&self, executor: &'static str, workers: usize) {
        if let Some(ev) = &self.events {
            ev.emit(&Event::RunStarted {
                run: self.id,
                tasks: self.work,
                executor,
                workers,
                at: self.started,
                plan: Some(&self.plan),
            });
        }
    }

    /// Emits `RunFinished` (after `Cache` for a run with a result cache).
    pub fn emit_finished(&self) {
        if let Some(ev) = &self.events {
            if let Some(c) = &self.cache {
                ev.emit(&Event::Cache {
                    run: self.id,
                    hits: c.hits,
                    misses: c.misses,
                    stats: c.cache.stats(),
                });
            }
            ev.emit(&Event::RunFinished {
                run: self.id,
                tasks: self.work,
                failed: self.failed(),
                elapsed: self.started.elapsed(),
            });
        }
    }

    /// Runs the chain starting at `head` (protocol rule 1), then calls `ready`
    /// for each dependent whose last dependency this was, in priority order.
    /// Returns `true` when this completed the run (rule 5).
    ///
    /// # Safety
    /// `head` must be a chain head of this run's plan whose dependencies
    /// have all resolved (it is a root, or `ready` was called for it), and
    /// it must be executed exactly once, on one thread (rule 1). Executing
    /// a task twice, or before its dependencies, races on its result slot.
    #[inline]
    pub unsafe fn execute(
        &self,
        head: TaskId,
        worker: WorkerId,
        ready: impl FnMut(TaskId),
    ) -> bool {
        let mut t = head;
        loop {
            self.run_one(t, worker);
            if !self.plan.is_fused_into_next(t) {
                break;
            }
            t = TaskId(t.0 + 1);
        }
        self.release_dependents(t, ready)
    }

    /// After `t`'s slot is written (rule 2): counts `t` off its dependents,
    /// calling `ready` for each whose last dependency it was, and off the
    /// outputs; `true` when this completed the run (rule 5).
    #[inline]
    fn release_dependents(&self, t: TaskId, mut ready: impl FnMut(TaskId)) -> bool {
        for &d in self.plan.dependents(t) {
            if self.states[d.index()]
                .pending
                .fetch_sub(1, Ordering::AcqRel)
                == 1
            {
                ready(d);
            }
        }
        self.plan.is_output(t) && self.outputs_left.fetch_sub(1, Ordering::AcqRel) == 1
    }

    fn run_one(&self, t: TaskId, worker: WorkerId) {
        let deps = self.plan.deps(t);
        let node = &self.plan.nodes[t.index()];
        let slot = if let Some(e) = self.failed_dependency(t) {
            for &dep in deps {
                drop(self.consume(dep));
            }
            Slot::Failed(Arc::new(e))
        } else if node.retried {
            self.run_with_options(t, worker)
        } else {
            let started = self.task_started(t, worker, 1);
            let mut inputs = Inputs::from_run(self, deps);
            let result = call_body(
                &node.key,
                1,
                |p| self.plan.key(deps[p]).clone(),
                || node.body.run(&mut inputs),
            );
            let rest = inputs.position();
            for &dep in &deps[rest..] {
                drop(self.consume(dep));
            }
            match result {
                Ok(v) => {
                    self.task_finished(t, worker, started, 1);
                    self.offer(t, &v);
                    Slot::Ready(v)
                }
                Err(e) => Slot::Failed(Arc::new(e)),
            }
        };
        self.store(t, slot, worker);
    }

    /// Runs task `t` (its dependencies succeeded) with its options: its
    /// inputs are taken once and handed to each attempt; an attempt that
    /// ran past the timeout fails with `TimedOut` when it returns (a running
    /// body cannot be interrupted); a failure its options accept runs it
    /// again.
    #[allow(clippy::result_large_err)] // as `call_body`: the error is the rare path
    fn run_with_options(&self, t: TaskId, worker: WorkerId) -> Slot {
        let deps = self.plan.deps(t);
        let node = &self.plan.nodes[t.index()];
        let default = crate::TaskOptions::default();
        let opts = node.body.options().unwrap_or(&default);
        let mut held: Vec<Option<Value>> = Vec::with_capacity(deps.len());
        for &d in deps {
            match self.consume(d) {
                Ok(v) => held.push(Some(v)),
                Err(e) => return Slot::Failed(e),
            }
        }
        let mut attempt = 1;
        loop {
            let last = attempt > opts.retries;
            let started = self.task_started(t, worker, attempt);
            let t0 = Instant::now();
            let mut values = if last {
                std::mem::take(&mut held)
            } else {
                held.clone()
            };
            let mut inputs = Inputs::from_values(&mut values);
            let result = crate::context::with_attempt(attempt, || {
                call_body(
                    &node.key,
                    attempt,
                    |p| self.plan.key(deps[p]).clone(),
                    || node.body.run(&mut inputs),
                )
            });
            drop(values);
            let result = match (result, opts.timeout) {
                (Ok(_), Some(after)) if t0.elapsed() > after => Err(TaskError {
                    key: node.key.clone(),
                    kind: TaskErrorKind::TimedOut { after },
                    message: format!(
                        "it returned after {:?} (a running body cannot be interrupted)",
                        t0.elapsed()
                    ),
                    backtrace: None,
                    attempt,
                    cause: None,
                }),
                (r, _) => r,
            };
            match result {
                Ok(v) => {
                    self.task_finished(t, worker, started, attempt);
                    self.offer(t, &v);
                    return Slot::Ready(v);
                }
                Err(e) if !last && opts.should_retry(&e) => {
                    if let Some(ev) = self.task_events() {
                        ev.emit(&Event::TaskRetrying {
                            run: self.id,
                            task: t,
                            error: &e,
                            worker,
                            at: Instant::now(),
                        });
                    }
                    attempt += 1;
                }
                Err(e) => return Slot::Failed(Arc::new(e)),
            }
        }
    }

    /// Rule 4: the `DependencyFailed` error of `t` if one of its dependencies
    /// failed (the first in argument order).
    fn failed_dependency(&self, t: TaskId) -> Option<TaskError> {
        let (d, e) = self.plan.deps(t).iter().find_map(|&d| {
            self.states[d.index()].slot.with(|slot| {
                // SAFETY: rule 2 (d resolved before we were released) and
                // rule 3 (we have not consumed d yet, so it is not emptied).
                match unsafe { &*slot } {
                    Slot::Failed(e) => Some((d, e.clone())),
                    _ => None,
                }
            })
        })?;
        let cause = match &e.cause {
            Some(root) => root.clone(),
            None => e,
        };
        Some(TaskError {
            key: self.plan.key(t).clone(),
            kind: TaskErrorKind::DependencyFailed {
                dependency: self.plan.key(d).clone(),
            },
            message: String::new(),
            backtrace: None,
            attempt: 1,
            cause: Some(cause),
        })
    }

    #[inline]
    fn task_started(&self, t: TaskId, worker: WorkerId, attempt: u32) -> Option<Stamp> {
        // Subscribers first: a plain run reads no node here.
        let ev = self.task_events()?;
        if self.plan.is_constant(t) {
            return None;
        }
        let at = crate::clock::stamp();
        ev.emit(&Event::TaskStarted {
            run: self.id,
            task: t,
            key: self.plan.key(t),
            worker,
            thread: 0,
            attempt,
            at,
        });
        Some(at)
    }

    fn task_finished(&self, t: TaskId, worker: WorkerId, started: Option<Stamp>, attempt: u32) {
        if let (Some(ev), Some(started)) = (self.task_events(), started) {
            ev.emit(&Event::TaskFinished {
                run: self.id,
                task: t,
                key: self.plan.key(t),
                worker,
                thread: 0,
                attempt,
                started,
                finished: crate::clock::stamp(),
                nbytes: None,
            });
        }
    }

    /// Writes `t`'s slot (rule 2), counting and announcing a failure.
    fn store(&self, t: TaskId, slot: Slot, worker: WorkerId) {
        if let Slot::Failed(e) = &slot {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Some(ev) = self.task_events() {
                ev.emit(&Event::TaskFailed {
                    run: self.id,
                    task: t,
                    error: e,
                    worker,
                    at: Instant::now(),
                });
            }
        }
        self.states[t.index()].slot.with_mut(|p| {
            // SAFETY: rule 2: we are the only writer, and nobody reads before
            // our release-decrements in `execute` / `resolve`.
            unsafe { *p = slot }
        });
    }

    /// For executors that run bodies elsewhere (worker processes): takes the
    /// inputs of ready task `t` (rules 1 and 3), or, if a dependency failed,
    /// returns its `DependencyFailed` error (rule 4) for [`Run::resolve`].
    /// Such executors plan without fusion, so every task is a chain head.
    ///
    /// # Safety
    /// As [`Run::execute`]: `t`'s dependencies have all resolved, and its
    /// inputs are taken exactly once; it is then resolved exactly once with
    /// [`Run::resolve`].
    #[allow(clippy::result_large_err)] // as `call_body`: the error is the rare path
    pub unsafe fn take_inputs(
        &self,
        t: TaskId,
        worker: WorkerId,
    ) -> Result<(Vec<Value>, Option<Stamp>), TaskError> {
        debug_assert!(self.plan.is_head(t) && !self.plan.is_fused_into_next(t));
        let deps = self.plan.deps(t);
        if let Some(e) = self.failed_dependency(t) {
            for &dep in deps {
                drop(self.consume(dep));
            }
            return Err(e);
        }
        let mut values = Vec::with_capacity(deps.len());
        for &d in deps {
            match self.consume(d) {
                Ok(v) => values.push(v),
                Err(e) => return Err((*e).clone()),
            }
        }
        Ok((values, self.task_started(t, worker, 1)))
    }

    /// Stores the result of task `t`, whose inputs were taken with
    /// [`Run::take_inputs`], then calls `ready` for each dependent whose last
    /// dependency this was. Returns `true` when this completed the run.
    /// Only outputs' values go to the result cache: such an executor hands
    /// the run placeholders for the values that stayed where they ran.
    ///
    /// # Safety
    /// `t`'s inputs were taken with [`Run::take_inputs`], and `t` is
    /// resolved exactly once (rule 2: one writer).
    pub unsafe fn resolve(
        &self,
        t: TaskId,
        result: Result<Value, TaskError>,
        worker: WorkerId,
        started: Option<Stamp>,
        ready: impl FnMut(TaskId),
    ) -> bool {
        let slot = match result {
            Ok(v) => {
                self.task_finished(t, worker, started, 1);
                if self.plan.is_output(t) {
                    self.offer(t, &v);
                }
                Slot::Ready(v)
            }
            Err(e) => Slot::Failed(Arc::new(e)),
        };
        self.store(t, slot, worker);
        self.release_dependents(t, ready)
    }

    /// Consumes one use of `d`'s value (rule 3).
    #[inline]
    pub(crate) fn consume(&self, d: TaskId) -> Result<Value, Arc<TaskError>> {
        let st = &self.states[d.index()];
        if st.consumers.load(Ordering::Acquire) == 1 {
            // Sole remaining reader: move the value out.
            st.consumers.store(0, Ordering::Relaxed);
            // SAFETY: rule 3, we are the last reader; nobody else touches the slot.
            let taken = st
                .slot
                .with_mut(|slot| std::mem::replace(unsafe { &mut *slot }, Slot::Empty));
            match taken {
                Slot::Ready(v) => Ok(v),
                Slot::Failed(e) => Err(e),
                Slot::Empty => Err(internal_error(self.plan.key(d))),
            }
        } else {
            // SAFETY: rule 3, the slot is not emptied before our decrement.
            let r = st.slot.with(|slot| match unsafe { &*slot } {
                Slot::Ready(v) => Ok(v.clone()),
                Slot::Failed(e) => Err(e.clone()),
                Slot::Empty => Err(internal_error(self.plan.key(d))),
            });
            if st.consumers.fetch_sub(1, Ordering::AcqRel) == 1 {
                // SAFETY: rule 3, every other reader has finished its read.
                st.slot.with_mut(|slot| unsafe { *slot = Slot::Empty });
            }
            r
        }
    }

    /// Takes the value of the next use of output `t`; call only once the run
    /// is complete, once per time `t` appears in `plan().outputs()` (the
    /// one [`OutputReader`](crate::OutputReader) does).
    pub(crate) fn take_output(&self, t: TaskId) -> Result<Value, Arc<TaskError>> {
        debug_assert!(self.is_complete());
        self.consume(t)
    }
}

fn internal_error(key: &crate::Key) -> Arc<TaskError> {
    Arc::new(TaskError {
        key: key.clone(),
        kind: TaskErrorKind::Failed,
        message: "internal error: value read after it was released (a bug in rask)".to_owned(),
        backtrace: None,
        attempt: 1,
        cause: None,
    })
}

/// Moves `T` out of a shared value, cloning only if others still hold it.
pub(crate) fn unwrap_value<T: Data>(v: Value) -> Result<T, Value> {
    match v.downcast::<T>() {
        Ok(arc) => Ok(Arc::try_unwrap(arc).unwrap_or_else(|arc| (*arc).clone())),
        Err(v) => Err(v),
    }
}
