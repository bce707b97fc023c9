//! [`ProcessPool`]: runs the registered tasks of a graph in worker processes.
//!
//! # How a run goes
//! The calling thread drives the run (one run at a time per pool); one
//! reader thread per worker turns its messages into [`Incoming`] events.
//! The driver keeps a ready queue in priority order (task id), and for each
//! ready task:
//! - a literal (a constant) is computed here, as on the threaded executor;
//! - a task with no registered function fails with `NotRegistered` (its
//!   dependents report the failed dependency; everything else runs);
//! - a registered call takes its inputs from the [`Run`] and goes to the
//!   worker the placement policy picks, up to `in_flight` tasks per worker.
//!
//! # Where values live
//! A worker keeps each result (by object id) until released, and sends it
//! back too: small ones as bytes in the message, big ones as a shared memory
//! segment (a memfd: the same pages, not a copy). So the client can always
//! pass any value to any worker, and nothing is lost when a worker dies. An
//! input the chosen worker already holds is sent as its id only. The client
//! side of a value is a [`RemoteValue`] in the run's slot; when the run drops
//! it (its last consumer took it) the worker is told to release it. Outputs
//! are decoded here, with the codec of the function's result type.
//!
//! # When a worker dies
//! Its reader sees the socket close; the driver reaps the process (so no
//! zombie), learns how it ended, starts a replacement, and puts each task
//! that was in flight there back at the front of the queue with the inputs it
//! already took, unless that was its last attempt (`max_attempts`): then the
//! task fails with `WorkerDied`, naming the worker and how it died.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::os::fd::OwnedFd;
use std::process::Child;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rask_core::{
    EventSink, Executor, PlanOptions, Remote, Run, TaskError, TaskErrorKind, TaskId, Value,
    WorkerId,
};

use crate::channel::Channel;
use crate::policy::{Placement, Placer, Seen};
use crate::proto::{decode_batch, Arg, FromWorker, Out, Outbox, ToWorker};
use crate::shm::{Bytes, Segment, SegmentPool};
use crate::spawn::{describe, reap, spawn, WorkerCommand};
use crate::worker::{INLINE_MAX, WORKER_ENV};

/// Settings of a process pool.
#[derive(Clone, Debug)]
pub struct ProcessOptions {
    /// Number of worker processes.
    pub workers: usize,
    /// How tasks are spread over them.
    pub placement: Placement,
    /// Attempts a task gets when its worker dies under it (default 3).
    pub max_attempts: u32,
    /// Tasks sent ahead to one worker (default 64): enough to keep it busy
    /// while results travel back.
    pub in_flight: u32,
    /// How to start a worker (default: this executable, no arguments).
    pub command: Option<WorkerCommand>,
    /// How long a new worker may take to say hello (default 10 s).
    pub start_timeout: Duration,
}

impl ProcessOptions {
    /// `n` workers, every other setting at its default.
    pub fn new(n: usize) -> Self {
        ProcessOptions {
            workers: n.max(1),
            placement: Placement::default(),
            max_attempts: 3,
            in_flight: 64,
            command: None,
            start_timeout: Duration::from_secs(10),
        }
    }
}

/// What reader threads report.
enum Incoming {
    Batch {
        slot: usize,
        gen: u64,
        msgs: Vec<FromWorker>,
        fds: Vec<OwnedFd>,
    },
    Closed {
        slot: usize,
        gen: u64,
        error: Option<String>,
    },
}

/// A live worker process.
struct Proc {
    child: Child,
    ch: Arc<Channel>,
    reader: Option<JoinHandle<()>>,
    funcs: HashMap<&'static str, u32>,
    out: Outbox,
    in_flight: u32,
}

/// One worker position: its process (when alive) and generation (bumped at
/// each replacement, so that messages of a dead process are told apart).
struct Slot {
    gen: u64,
    proc: Option<Proc>,
    /// Why it could not be (re)started, if it could not.
    broken: Option<String>,
}

/// Objects whose client-side handles are gone: `(slot, gen, id)`.
type Releases = Arc<Mutex<Vec<(usize, u64, u64)>>>;

struct State {
    slots: Vec<Slot>,
    tx: Sender<Incoming>,
    rx: Receiver<Incoming>,
    next_id: u64,
    releases: Releases,
    placer: Placer,
    /// Argument segments this process made, free again (see `shm.rs`).
    segs: SegmentPool,
}

/// A pool of worker processes that runs graphs of registered tasks.
pub struct ProcessPool {
    state: Mutex<State>,
    options: ProcessOptions,
    command: WorkerCommand,
    events: Option<EventSink>,
}

impl std::fmt::Debug for ProcessPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessPool")
            .field("workers", &self.options.workers)
            .field("placement", &self.options.placement)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ProcessPool {
    /// Starts the workers and waits until each has said hello.
    ///
    /// Refused inside a worker process whose `main` did not call
    /// `rask::init()` first (it would start workers of its own, without end).
    pub fn new(options: ProcessOptions) -> io::Result<Self> {
        if std::env::var_os(WORKER_ENV).is_some() {
            return Err(io::Error::other(
                "this process is a rask worker, but its main did not call rask::init() first",
            ));
        }
        let command = match &options.command {
            Some(c) => c.clone(),
            None => WorkerCommand::current_exe()?,
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut state = State {
            slots: (0..options.workers)
                .map(|_| Slot {
                    gen: 0,
                    proc: None,
                    broken: None,
                })
                .collect(),
            tx,
            rx,
            next_id: 1,
            releases: Arc::default(),
            placer: Placer::new(options.placement.clone()),
            segs: SegmentPool::default(),
        };
        for slot in 0..options.workers {
            start(&mut state, &command, slot);
        }
        // Wait for every hello; a worker that does not start is an error.
        let deadline = Instant::now() + options.start_timeout;
        let mut waiting: Vec<bool> = state.slots.iter().map(|s| s.proc.is_some()).collect();
        if let Some(slot) = state.slots.iter().position(|s| s.proc.is_none()) {
            let why = state.slots[slot].broken.clone().unwrap_or_default();
            shutdown(&mut state);
            return Err(io::Error::other(format!(
                "worker {slot} could not start: {why}"
            )));
        }
        while waiting.iter().any(|&w| w) {
            let left = deadline.saturating_duration_since(Instant::now());
            match state.rx.recv_timeout(left) {
                Ok(Incoming::Batch { slot, msgs, .. }) => {
                    if msgs.iter().any(|m| matches!(m, FromWorker::Hello { .. })) {
                        waiting[slot] = false;
                    }
                }
                Ok(Incoming::Closed { slot, error, .. }) => {
                    let status = state.slots[slot]
                        .proc
                        .as_mut()
                        .map(|p| reap(&mut p.child, Duration::from_secs(1)));
                    let how = match status {
                        Some(Ok(s)) => describe(&s),
                        _ => "ended".to_owned(),
                    };
                    shutdown(&mut state);
                    return Err(io::Error::other(format!(
                        "worker {slot} {how} before it said hello{} (does main call rask::init() first?)",
                        error.map(|e| format!(": {e}")).unwrap_or_default()
                    )));
                }
                Err(_) => {
                    shutdown(&mut state);
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "a worker did not say hello in time (does main call rask::init() first?)",
                    ));
                }
            }
        }
        Ok(ProcessPool {
            state: Mutex::new(state),
            options,
            command,
            events: None,
        })
    }

    /// The process ids of the live workers (for tests and diagnostics).
    pub fn pids(&self) -> Vec<u32> {
        lock(&self.state)
            .slots
            .iter()
            .filter_map(|s| s.proc.as_ref().map(|p| p.child.id()))
            .collect()
    }

    /// The settings.
    pub fn options(&self) -> &ProcessOptions {
        &self.options
    }

    /// The same pool sending task events to `events`.
    pub fn with_events(mut self, events: Option<EventSink>) -> Self {
        self.events = events;
        self
    }
}

impl Drop for ProcessPool {
    fn drop(&mut self) {
        shutdown(&mut lock(&self.state));
    }
}

/// Closes every socket, reaps every process (killing what does not exit in
/// a moment) and joins the readers.
fn shutdown(state: &mut State) {
    for slot in &mut state.slots {
        if let Some(p) = slot.proc.as_ref() {
            p.ch.shutdown();
        }
    }
    for slot in &mut state.slots {
        if let Some(mut p) = slot.proc.take() {
            let _ = reap(&mut p.child, Duration::from_secs(2));
            if let Some(r) = p.reader.take() {
                let _ = r.join();
            }
        }
    }
}

/// Starts (or restarts) the worker in `slot`, with a new generation.
fn start(state: &mut State, command: &WorkerCommand, slot: usize) {
    let s = &mut state.slots[slot];
    s.gen += 1;
    let gen = s.gen;
    match spawn(command, slot) {
        Ok((child, ch)) => {
            let ch = Arc::new(ch);
            let reader = {
                let (ch, tx) = (ch.clone(), state.tx.clone());
                std::thread::Builder::new()
                    .name(format!("rask-proc-{slot}"))
                    .spawn(move || read_loop(&ch, &tx, slot, gen))
            };
            match reader {
                Ok(r) => {
                    s.proc = Some(Proc {
                        child,
                        ch,
                        reader: Some(r),
                        funcs: HashMap::new(),
                        out: Outbox::default(),
                        in_flight: 0,
                    });
                    s.broken = None;
                }
                Err(e) => {
                    let mut child = child;
                    ch.shutdown();
                    let _ = reap(&mut child, Duration::from_secs(1));
                    s.broken = Some(format!("no reader thread: {e}"));
                }
            }
        }
        Err(e) => s.broken = Some(e.to_string()),
    }
}

fn read_loop(ch: &Channel, tx: &Sender<Incoming>, slot: usize, gen: u64) {
    let mut buf = Vec::new();
    loop {
        let mut fds = Vec::new();
        let error = match ch.recv(&mut buf, &mut fds) {
            Ok(true) => match decode_batch::<FromWorker>(&buf) {
                Ok(msgs) => {
                    if tx
                        .send(Incoming::Batch {
                            slot,
                            gen,
                            msgs,
                            fds,
                        })
                        .is_err()
                    {
                        return;
                    }
                    continue;
                }
                Err(e) => Some(format!("it sent {e}")),
            },
            Ok(false) => None,
            Err(e) => Some(e.to_string()),
        };
        let _ = tx.send(Incoming::Closed { slot, gen, error });
        return;
    }
}

/// The client's handle on a value computed in a worker (what a run's slot
/// holds for it). Dropping it tells the worker to forget the value.
#[derive(Debug)]
pub struct RemoteValue {
    id: u64,
    slot: usize,
    gen: u64,
    bytes: Bytes,
    releases: Releases,
}

impl RemoteValue {
    /// The encoded value.
    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }
}

impl Drop for RemoteValue {
    fn drop(&mut self) {
        lock(&self.releases).push((self.slot, self.gen, self.id));
    }
}

/// A task sent to a worker.
struct Flight {
    t: TaskId,
    slot: usize,
    inputs: Vec<Value>,
    /// Segments made here for its arguments: free again once it replies.
    segments: Vec<Arc<Segment>>,
    attempt: u32,
    started: Option<Instant>,
}

/// A task to send again after its worker died.
struct Retry {
    t: TaskId,
    inputs: Vec<Value>,
    attempt: u32,
    started: Option<Instant>,
}

impl Executor for ProcessPool {
    fn name(&self) -> &'static str {
        "processes"
    }

    fn workers(&self) -> usize {
        self.options.workers
    }

    fn events(&self) -> Option<&EventSink> {
        self.events.as_ref()
    }

    /// Without fusion: every task is dispatched on its own.
    fn plan_options(&self) -> PlanOptions {
        PlanOptions { fuse: false }
    }

    fn execute(&self, run: &Arc<Run>) {
        let mut state = lock(&self.state);
        let mut d = Driver {
            st: &mut state,
            run,
            pool: self,
            ready: run.plan().roots().iter().map(|t| Reverse(t.0)).collect(),
            retry: VecDeque::new(),
            flight: HashMap::new(),
        };
        d.drive();
    }
}

struct Driver<'a> {
    st: &'a mut State,
    run: &'a Run,
    pool: &'a ProcessPool,
    ready: BinaryHeap<Reverse<u32>>,
    retry: VecDeque<Retry>,
    flight: HashMap<u64, Flight>,
}

const HERE: WorkerId = WorkerId(u32::MAX);

impl Driver<'_> {
    fn drive(&mut self) {
        while !self.run.is_complete() {
            self.dispatch();
            self.flush();
            if self.run.is_complete() {
                break;
            }
            if self.flight.is_empty() {
                // Nothing in flight and nothing could be sent: no worker is
                // alive. Fail what is left rather than wait forever.
                self.fail_all_waiting();
                continue;
            }
            match self.st.rx.recv_timeout(Duration::from_millis(200)) {
                Ok(inc) => self.handle(inc),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.fail_all_waiting(),
            }
            while let Ok(inc) = self.st.rx.try_recv() {
                self.handle(inc);
            }
        }
        self.flush();
    }

    fn seen(&self, inputs: &[Value]) -> Vec<Seen> {
        let mut seen: Vec<Seen> = self
            .st
            .slots
            .iter()
            .map(|s| Seen {
                alive: s.proc.is_some(),
                in_flight: s.proc.as_ref().map_or(0, |p| p.in_flight),
                holds: 0,
                holds_big: false,
            })
            .collect();
        for v in inputs {
            if let Some(r) = v.downcast_ref::<RemoteValue>() {
                if self.st.slots[r.slot].gen == r.gen {
                    let w = &mut seen[r.slot];
                    w.holds += r.bytes().len() as u64;
                    w.holds_big |= matches!(r.bytes, Bytes::Shared(_));
                }
            }
        }
        seen
    }

    fn any_room(&self) -> bool {
        let cap = self.pool.options.in_flight;
        self.st
            .slots
            .iter()
            .any(|s| s.proc.as_ref().is_some_and(|p| p.in_flight < cap))
    }

    fn push_ready(ready: &mut BinaryHeap<Reverse<u32>>) -> impl FnMut(TaskId) + '_ {
        |d| ready.push(Reverse(d.0))
    }

    fn resolve(
        &mut self,
        t: TaskId,
        r: Result<Value, TaskError>,
        w: WorkerId,
        started: Option<Instant>,
    ) {
        self.run
            .resolve(t, r, w, started, Self::push_ready(&mut self.ready));
    }

    /// Sends what can be sent: retries first, then ready tasks in order.
    fn dispatch(&mut self) {
        loop {
            if !self.retry.is_empty() {
                if !self.any_room() {
                    return;
                }
                if let Some(r) = self.retry.pop_front() {
                    self.send(r.t, r.inputs, r.attempt, r.started);
                }
                continue;
            }
            let Some(&Reverse(t)) = self.ready.peek() else {
                return;
            };
            let t = TaskId(t);
            match self.run.plan().node(t).body().remote() {
                None => {
                    self.ready.pop();
                    let e = match self.run.take_inputs(t, HERE) {
                        Err(e) => e,
                        Ok(_) => TaskError {
                            key: self.run.plan().key(t).clone(),
                            kind: TaskErrorKind::NotRegistered,
                            message: "it is a closure or a function not registered with \
                                      #[rask::task] (only registered functions run in worker \
                                      processes)"
                                .to_owned(),
                            backtrace: None,
                            attempt: 1,
                            cause: None,
                        },
                    };
                    self.resolve(t, Err(e), HERE, None);
                }
                Some(Remote::Literal(_)) => {
                    self.ready.pop();
                    self.run.execute(t, HERE, Self::push_ready(&mut self.ready));
                }
                Some(Remote::Call(_)) => {
                    if !self.any_room() {
                        return;
                    }
                    self.ready.pop();
                    let worker = WorkerId(u32::MAX - 1);
                    match self.run.take_inputs(t, worker) {
                        Err(e) => self.resolve(t, Err(e), HERE, None),
                        Ok((inputs, started)) => self.send(t, inputs, 1, started),
                    }
                }
            }
        }
    }

    /// Sends task `t` to the worker the policy picks (one has room).
    fn send(&mut self, t: TaskId, inputs: Vec<Value>, attempt: u32, started: Option<Instant>) {
        let seen = self.seen(&inputs);
        let cap = self.pool.options.in_flight;
        let Some(slot) = self.st.placer.choose(&seen, cap) else {
            self.retry.push_front(Retry {
                t,
                inputs,
                attempt,
                started,
            });
            return;
        };
        let plan = self.run.plan();
        let Some(Remote::Call(reg)) = plan.node(t).body().remote() else {
            return;
        };
        let id = self.st.next_id;
        self.st.next_id += 1;
        let gen = self.st.slots[slot].gen;
        let mut args = Vec::with_capacity(inputs.len());
        let mut segments = Vec::new();
        for (v, &d) in inputs.iter().zip(plan.deps(t)) {
            match to_arg(
                v,
                slot,
                gen,
                plan.node(d).body().remote(),
                &mut self.st.segs,
            ) {
                Ok((arg, seg)) => {
                    args.push(arg);
                    segments.extend(seg);
                }
                Err(message) => {
                    let e = TaskError {
                        key: plan.key(t).clone(),
                        kind: TaskErrorKind::Failed,
                        message: format!(
                            "its input `{}` could not be sent to a worker: {message}",
                            plan.key(d)
                        ),
                        backtrace: None,
                        attempt,
                        cause: None,
                    };
                    self.resolve(t, Err(e), HERE, started);
                    return;
                }
            }
        }
        let Some(p) = self.st.slots[slot].proc.as_mut() else {
            return;
        };
        let next_func = p.funcs.len() as u32;
        let func = *p.funcs.entry(reg.name).or_insert(next_func);
        // A failed send means the worker died: its reader reports that, and
        // the task is retried from `flight` like any other.
        if func == next_func {
            let define = ToWorker::Define {
                func,
                name: reg.name.to_owned(),
            };
            let _ = p.out.push(&p.ch, &define, Vec::new());
        }
        let made_here: Vec<Arc<Segment>> = segments.iter().filter(|s| s.own()).cloned().collect();
        let _ = p
            .out
            .push(&p.ch, &ToWorker::Run { id, func, args }, segments);
        p.in_flight += 1;
        self.flight.insert(
            id,
            Flight {
                t,
                slot,
                inputs,
                segments: made_here,
                attempt,
                started,
            },
        );
    }

    fn flush(&mut self) {
        let releases = std::mem::take(&mut *lock(&self.st.releases));
        for (slot, gen, id) in releases {
            let s = &mut self.st.slots[slot];
            if s.gen == gen {
                if let Some(p) = s.proc.as_mut() {
                    let _ = p.out.push(&p.ch, &ToWorker::Release { id }, Vec::new());
                }
            }
        }
        for s in &mut self.st.slots {
            if let Some(p) = s.proc.as_mut() {
                let _ = p.out.flush(&p.ch);
            }
        }
    }

    fn handle(&mut self, inc: Incoming) {
        match inc {
            Incoming::Batch {
                slot,
                gen,
                msgs,
                fds,
            } => {
                if self.st.slots[slot].gen != gen {
                    return;
                }
                let mut fds = fds.into_iter();
                for m in msgs {
                    match m {
                        FromWorker::Done { id, out } => {
                            let bytes = match out {
                                Out::Bytes(b) => Ok(Bytes::Inline(b)),
                                Out::Shared { len } => match fds.next() {
                                    Some(fd) => Segment::open(fd, len as usize)
                                        .map(|s| Bytes::Shared(Arc::new(s)))
                                        .map_err(|e| e.to_string()),
                                    None => {
                                        Err("a shared result came without its segment".to_owned())
                                    }
                                },
                            };
                            self.done(slot, gen, id, bytes);
                        }
                        FromWorker::Failed {
                            id,
                            panicked,
                            message,
                        } => {
                            let Some(f) = self.take_flight(id) else {
                                continue;
                            };
                            let e = TaskError {
                                key: self.run.plan().key(f.t).clone(),
                                kind: if panicked {
                                    TaskErrorKind::Panicked
                                } else {
                                    TaskErrorKind::Failed
                                },
                                message,
                                backtrace: None,
                                attempt: f.attempt,
                                cause: None,
                            };
                            drop(f.inputs);
                            self.resolve(f.t, Err(e), WorkerId(slot as u32), f.started);
                        }
                        FromWorker::Hello { .. } | FromWorker::Unknown { .. } => {}
                    }
                }
            }
            Incoming::Closed { slot, gen, error } => {
                if self.st.slots[slot].gen == gen {
                    self.worker_died(slot, error);
                }
            }
        }
    }

    /// The task that object `id` is, now that its worker replied.
    fn take_flight(&mut self, id: u64) -> Option<Flight> {
        let mut f = self.flight.remove(&id)?;
        if let Some(p) = self.st.slots[f.slot].proc.as_mut() {
            p.in_flight = p.in_flight.saturating_sub(1);
        }
        // The worker unmapped its arguments before replying.
        for seg in f.segments.drain(..) {
            self.st.segs.give_arc(seg);
        }
        Some(f)
    }

    #[allow(clippy::result_large_err)] // a task error is the rare path
    fn done(&mut self, slot: usize, gen: u64, id: u64, bytes: Result<Bytes, String>) {
        let Some(f) = self.take_flight(id) else {
            return;
        };
        let plan = self.run.plan();
        let key = plan.key(f.t);
        let fail = |message: String| TaskError {
            key: key.clone(),
            kind: TaskErrorKind::Failed,
            message,
            backtrace: None,
            attempt: f.attempt,
            cause: None,
        };
        let value = bytes.map_err(&fail).and_then(|bytes| {
            let remote = Arc::new(RemoteValue {
                id,
                slot,
                gen,
                bytes,
                releases: self.st.releases.clone(),
            });
            if !plan.is_output(f.t) {
                return Ok(remote as Value);
            }
            let codec = match plan.node(f.t).body().remote() {
                Some(r) => r.output(),
                None => return Err(fail("internal error: no codec".to_owned())),
            };
            (codec.decode)(remote.bytes()).map_err(|e| {
                fail(format!(
                    "its result could not be read as a `{}`: {e}",
                    (codec.type_name)()
                ))
            })
        });
        drop(f.inputs);
        self.resolve(f.t, value, WorkerId(slot as u32), f.started);
    }

    fn worker_died(&mut self, slot: usize, error: Option<String>) {
        let how = match self.st.slots[slot].proc.take() {
            Some(mut p) => {
                p.ch.shutdown();
                let status = reap(&mut p.child, Duration::from_secs(2));
                if let Some(r) = p.reader.take() {
                    let _ = r.join();
                }
                let mut how = match status {
                    Ok(s) => describe(&s),
                    Err(e) => format!("could not be waited for ({e})"),
                };
                if let Some(e) = error {
                    how = format!("{how} after an error on its socket: {e}");
                }
                how
            }
            None => "ended".to_owned(),
        };
        start(self.st, &self.pool.command, slot);
        let ids: Vec<u64> = self
            .flight
            .iter()
            .filter(|(_, f)| f.slot == slot)
            .map(|(&id, _)| id)
            .collect();
        let mut lost: Vec<Flight> = ids.iter().filter_map(|id| self.flight.remove(id)).collect();
        lost.sort_by_key(|f| f.t.0);
        for f in lost.into_iter().rev() {
            if f.attempt >= self.pool.options.max_attempts {
                let e = TaskError {
                    key: self.run.plan().key(f.t).clone(),
                    kind: TaskErrorKind::WorkerDied {
                        worker: slot as u32,
                        how: how.clone(),
                    },
                    message: String::new(),
                    backtrace: None,
                    attempt: f.attempt,
                    cause: None,
                };
                drop(f.inputs);
                self.resolve(f.t, Err(e), WorkerId(slot as u32), f.started);
            } else {
                self.retry.push_front(Retry {
                    t: f.t,
                    inputs: f.inputs,
                    attempt: f.attempt + 1,
                    started: f.started,
                });
            }
        }
    }

    /// No worker can take work: every task still waiting fails.
    fn fail_all_waiting(&mut self) {
        let why = self
            .st
            .slots
            .iter()
            .find_map(|s| s.broken.clone())
            .unwrap_or_else(|| "no worker process is running".to_owned());
        let error = |key, attempt| TaskError {
            key,
            kind: TaskErrorKind::Failed,
            message: format!("no worker could run it: {why}"),
            backtrace: None,
            attempt,
            cause: None,
        };
        while let Some(r) = self.retry.pop_front() {
            let e = error(self.run.plan().key(r.t).clone(), r.attempt);
            self.resolve(r.t, Err(e), HERE, r.started);
        }
        // Ready tasks: take their inputs (so dependency errors stay as they
        // are) and fail them; their dependents become ready in turn.
        while let Some(Reverse(t)) = self.ready.pop() {
            let t = TaskId(t);
            let e = match self.run.take_inputs(t, HERE) {
                Err(e) => e,
                Ok(_) => error(self.run.plan().key(t).clone(), 1),
            };
            self.resolve(t, Err(e), HERE, None);
        }
    }
}

/// The argument that passes value `v` (a result of the task `remote`
/// describes) to the worker in `slot`, and the segment to attach, if any.
fn to_arg(
    v: &Value,
    slot: usize,
    gen: u64,
    remote: Option<Remote>,
    segs: &mut SegmentPool,
) -> Result<(Arg, Option<Arc<Segment>>), String> {
    if let Some(r) = v.downcast_ref::<RemoteValue>() {
        if r.slot == slot && r.gen == gen {
            return Ok((Arg::Held(r.id), None));
        }
        return Ok(match &r.bytes {
            Bytes::Inline(b) => (Arg::Bytes(b.clone()), None),
            Bytes::Shared(s) => (
                Arg::Shared {
                    len: s.len() as u64,
                },
                Some(s.clone()),
            ),
        });
    }
    // A value computed here (a constant, or a decoded output).
    let codec = remote.map(|r| r.output()).ok_or("it has no codec")?;
    let seg = match (codec.exact_len)(v) {
        Some(len) if len > INLINE_MAX => segs.fill(len, |b| (codec.write)(v, b))?,
        _ => {
            let mut bytes = Vec::new();
            (codec.encode)(v, &mut bytes)?;
            if bytes.len() <= INLINE_MAX {
                return Ok((Arg::Bytes(bytes), None));
            }
            segs.fill(bytes.len(), |b| {
                rask_core::copy_bytes(b, &bytes);
                Ok(())
            })?
        }
    };
    let len = seg.len() as u64;
    Ok((Arg::Shared { len }, Some(Arc::new(seg))))
}
