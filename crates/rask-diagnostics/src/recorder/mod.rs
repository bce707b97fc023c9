//! The task-stream recorder: a [`Subscriber`] that keeps, in bounded memory,
//! what the report, the trace export, the pictures and the dashboard show.
//!
//! # What it keeps, and the memory budget
//! - **Task records** (40 bytes each: start, duration, key prefix and index,
//!   worker and thread, attempt, outcome, result bytes) in a ring of the most
//!   recent `capacity` records (default 2^20: 40 MiB), plus one open chunk
//!   (160 KiB) per thread that delivers events and up to 4 spare chunks.
//!   Older records are dropped a chunk (4,096) at a time and counted; their
//!   totals stay in the aggregates.
//! - **Aggregates** that cover every task ever recorded: per key prefix,
//!   per function and per worker (counts, time, bytes). They grow with the
//!   number of distinct names (at most 65,536) and workers, not with tasks.
//! - **Resource samples** (the most recent `samples`, default 2^17, 48 bytes
//!   each: 6 MiB) and **transfers** (the most recent `transfers`, default
//!   2^17, 32 bytes each: 4 MiB).
//! - **Graphs** of the 4 most recent runs of at most `graph_limit` tasks
//!   (default 100,000; 43 bytes a task plus 8 per edge: under 25 MiB for
//!   four runs of 100,000 tasks with two edges each).
//!
//! So recording 10 million tasks (or any number) holds under 80 MiB with the
//! defaults, plus 160 KiB per event-delivering thread; [`Recorder::memory_bytes`]
//! reports the current figure, and `tests/recorder.rs` records 10 million
//! tasks and checks it.
//!
//! # The hot path
//! A task event is recorded by the thread that delivers it, into that
//! thread's own buffer (`lanes.rs`): no lock, no atomic read-modify-write,
//! no allocation except one 160 KiB chunk per 4,096 records (reused once
//! the ring is full). Readers copy what was published (`chunk.rs`).
//!
//! Rules:
//! 1. Lock order: the registry of buffers (alone, to list them), then
//!    `open` locks in registry order, then the store's lock; never the
//!    reverse. A writer holds at most its own `open` lock and the store's;
//!    a reader ([`Inner::read`]) takes every `open` lock, then the store's,
//!    copies, and lets go.
//! 2. Times are nanoseconds since the recorder was made (`epoch`); events
//!    from before it count as time 0. Task events' [`Stamp`]s become such
//!    times by one subtraction (`epoch_stamp` is the same moment on the task
//!    clock, which is calibrated before `epoch` is read).

mod chunk;
mod lanes;
mod live;
pub(crate) mod names;
mod sampler;
mod store;
mod view;

use std::any::Any;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rask_core::{Event, RunId, Stamp, Subscriber, TaskError, TaskErrorKind, TaskId, WorkerId};

use chunk::{encode_duration, Chunk, Packed, NO_BYTES};
pub use chunk::{TaskColumns, RECORD_BYTES};
pub(crate) use chunk::{FAILED, RETRIED, SKIPPED};
use lanes::{with_lane, ThreadBuf};
pub(crate) use live::{key_text, parse_key};
use live::{LiveRun, KEPT_RUNS};
use names::{NameCache, Names};
use sampler::Sample;
use store::{Store, Transfer, WorkerRec, KEPT_RUN_INFO};
pub use view::Snapshot;

use crate::state::RunInfo;

/// Where a [`ClusterState::stream`](crate::ClusterState::stream) reader is:
/// opaque to readers. For the recorder: samples and transfers seen, then
/// records seen per thread buffer. Other implementations may put what they
/// like in it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cursor(pub Vec<u64>);

/// How much a [`Recorder`] keeps.
#[derive(Clone, Debug)]
pub struct RecorderOptions {
    /// Task records kept (the most recent); rounded up to whole chunks of 4,096.
    pub capacity: usize,
    /// Runs of at most this many tasks keep their graph and per-task state.
    pub graph_limit: usize,
    /// How often to sample this process's CPU and memory (`None`: never).
    pub sample_every: Option<Duration>,
    /// Resource samples kept (the most recent).
    pub samples: usize,
    /// Transfers kept (the most recent).
    pub transfers: usize,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions {
            capacity: 1 << 20,
            graph_limit: 100_000,
            sample_every: Some(Duration::from_millis(100)),
            samples: 1 << 17,
            transfers: 1 << 17,
        }
    }
}

/// Records the task stream, resource samples, transfers and graphs of every
/// run of the clients it is attached to. Cheap to clone (a shared handle).
///
/// Attach it with `Client::with_recorder()` (or `with_recorder_of`, or as
/// any subscriber); read it with [`Recorder::snapshot`], the
/// [`ClusterState`](crate::ClusterState) methods, or write a report:
///
/// ```
/// use rask_core::{Event, Key, RunId, Stamp, Subscriber, TaskId, WorkerId};
/// use rask_diagnostics::Recorder;
///
/// let recorder = Recorder::new();
/// let key = Key::indexed("load", 3);
/// let now = Stamp::now();
/// recorder.on_event(&Event::TaskFinished {
///     run: RunId(0), task: TaskId(0), key: &key, worker: WorkerId(0), thread: 0,
///     attempt: 1, started: now, finished: now, nbytes: Some(8),
/// });
/// let snap = recorder.snapshot(usize::MAX);
/// assert_eq!(snap.tasks.len(), 1);
/// assert_eq!(snap.names[snap.tasks.prefix[0] as usize], "load");
/// ```
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("memory_bytes", &self.memory_bytes())
            .finish()
    }
}

static NEXT_RECORDER: AtomicU64 = AtomicU64::new(1);

pub(crate) struct Inner {
    /// Unique per recorder (thread-locals find their buffer by it).
    id: u64,
    epoch: Instant,
    /// `epoch` on the task clock (rule 2).
    epoch_stamp: Stamp,
    opts: RecorderOptions,
    names: Names,
    /// Every thread buffer not yet retired and forgotten.
    bufs: Mutex<Vec<Arc<ThreadBuf>>>,
    next_buf: AtomicUsize,
    store: Mutex<Store>,
    plan_cache: Mutex<NameCache>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// A recorder with the default limits (see the module docs), sampling
    /// this process every 100 ms.
    pub fn new() -> Self {
        Self::with_options(RecorderOptions::default())
    }

    /// A recorder with these limits.
    pub fn with_options(opts: RecorderOptions) -> Self {
        let store = Store {
            max_chunks: opts.capacity.div_ceil(chunk::CHUNK).max(1),
            ..Store::default()
        };
        // Rule 2: the task clock's base comes before the epoch.
        rask_core::clock::warm();
        let epoch = Instant::now();
        let inner = Arc::new(Inner {
            id: NEXT_RECORDER.fetch_add(1, Ordering::Relaxed),
            epoch,
            epoch_stamp: Stamp::from_instant(epoch),
            opts,
            names: Names::default(),
            bufs: Mutex::new(Vec::new()),
            next_buf: AtomicUsize::new(0),
            store: Mutex::new(store),
            plan_cache: Mutex::new(NameCache::default()),
        });
        if let Some(every) = inner.opts.sample_every {
            sampler::start(Arc::downgrade(&inner), every);
        }
        Recorder { inner }
    }

    /// This recorder as a subscriber, for `Client::with_subscriber`.
    pub fn subscriber(&self) -> Arc<dyn Subscriber> {
        Arc::new(self.clone())
    }

    /// When recording started.
    pub fn epoch(&self) -> Instant {
        self.inner.epoch
    }

    /// The limits it was made with.
    pub fn options(&self) -> &RecorderOptions {
        &self.inner.opts
    }

    /// Bytes the recording holds now (records, samples, transfers, graphs,
    /// names, aggregates): the figure the module docs budget.
    pub fn memory_bytes(&self) -> usize {
        let i = &self.inner;
        let mut b = lock(&i.store).memory_bytes();
        for buf in lock(&i.bufs).iter() {
            b += std::mem::size_of::<ThreadBuf>();
            if lock(&buf.open).is_some() {
                b += Chunk::bytes();
            }
        }
        b + i.names.memory_bytes()
    }

    /// Task records dropped from the ring so far.
    pub fn dropped(&self) -> u64 {
        lock(&self.inner.store).dropped
    }
}

impl Subscriber for Recorder {
    #[inline]
    fn on_event(&self, event: &Event<'_>) {
        self.inner.record(event);
    }

    fn as_any(&self) -> Option<&(dyn Any + Send + Sync)> {
        Some(self)
    }
}

impl Inner {
    /// One event: task events into this thread's buffer, the rest into the store.
    #[inline]
    fn record(self: &Arc<Self>, event: &Event<'_>) {
        match event {
            Event::TaskStarted {
                run,
                task,
                key,
                worker,
                attempt,
                at,
                ..
            } => {
                with_lane(self, |l| {
                    let p = l.prefix(key);
                    l.started(*run, *task, p, worker.0, *at);
                    l.with_live(*run, |live| {
                        live.started(*task, worker.0, *attempt, self.ns_of(*at))
                    });
                });
            }
            Event::TaskFinished {
                run,
                task,
                key,
                worker,
                thread,
                attempt,
                started,
                finished,
                nbytes,
            } => {
                let (st, en) = (self.ns_of(*started), self.ns_of(*finished));
                with_lane(self, |l| {
                    let p = l.prefix_of(*run, *task, key);
                    let (kind, index) = live::index_parts(key.index());
                    l.push(Packed {
                        start: st,
                        index,
                        nbytes: nbytes.unwrap_or(NO_BYTES),
                        dur: encode_duration(en.saturating_sub(st)),
                        prefix: p.0,
                        worker: worker.0,
                        thread: (*thread).min(u16::MAX as u32) as u16,
                        attempt: (*attempt).min(u8::MAX as u32) as u8,
                        flags: kind,
                    });
                    l.with_live(*run, |live| live.finished(*task, en));
                });
            }
            Event::TaskFailed {
                run,
                task,
                error,
                worker,
                at,
            } => self.failed(*run, *task, error, *worker, *at, false),
            Event::TaskRetrying {
                run,
                task,
                error,
                worker,
                at,
            } => self.failed(*run, *task, error, *worker, *at, true),
            other => self.other(other),
        }
    }

    #[inline]
    fn ns(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// Rule 2 for a task event's time: one subtraction.
    #[inline]
    fn ns_of(&self, at: Stamp) -> u64 {
        at.0.saturating_sub(self.epoch_stamp.0)
    }

    /// Calls `f` with the store and every buffer's open chunk, all locked
    /// (rule 1): `(buffer index, records it appended, open chunk)`.
    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&Store, &[(usize, u64, Option<Arc<Chunk>>)]) -> R,
    ) -> R {
        let bufs = lock(&self.bufs).clone();
        let guards: Vec<_> = bufs.iter().map(|b| lock(&b.open)).collect();
        let open: Vec<_> = bufs
            .iter()
            .zip(&guards)
            .map(|(b, g)| (b.index, b.seq.load(Ordering::Acquire), (**g).clone()))
            .collect();
        let st = lock(&self.store);
        f(&st, &open)
    }

    pub(crate) fn new_buf(&self) -> Arc<ThreadBuf> {
        let b = Arc::new(ThreadBuf::new(
            self.next_buf.fetch_add(1, Ordering::Relaxed),
        ));
        lock(&self.bufs).push(b.clone());
        b
    }

    pub(crate) fn fresh_chunk(&self, buf: usize, first_seq: u64) -> Chunk {
        lock(&self.store).fresh_chunk(buf, first_seq)
    }

    pub(crate) fn seal(&self, chunk: Arc<Chunk>) {
        lock(&self.store).seal(chunk);
    }

    pub(crate) fn live_run(&self, run: RunId) -> Option<Arc<LiveRun>> {
        lock(&self.store)
            .live
            .iter()
            .find(|l| l.run == run)
            .cloned()
    }

    pub(crate) fn push_sample(&self, s: Sample) {
        let mut st = lock(&self.store);
        st.push_sample(s, self.opts.samples);
        if let Some(w) = st.workers.get_mut(&s.worker) {
            w.last = Some(s);
        } else {
            // Samples of other workers come with `WorkerJoined`; these are
            // the sampler's: this process and its pool threads.
            let name = if s.worker == WorkerId::CLIENT.0 {
                "this process".to_owned()
            } else {
                format!("thread {}", s.worker)
            };
            st.workers.insert(
                s.worker,
                WorkerRec {
                    name,
                    threads: 1,
                    lost: None,
                    last: Some(s),
                },
            );
        }
    }

    fn failed(
        self: &Arc<Self>,
        run: RunId,
        task: TaskId,
        error: &TaskError,
        worker: WorkerId,
        at: Instant,
        retried: bool,
    ) {
        let skipped = matches!(error.kind, TaskErrorKind::DependencyFailed { .. });
        with_lane(self, |l| {
            let p = l.prefix(&error.key);
            let at = self.ns(at);
            let start = l.start_of(run, task).map_or(at, |s| self.ns_of(s));
            let (kind, index) = live::index_parts(error.key.index());
            let mut flags = kind | FAILED;
            if retried {
                flags |= RETRIED;
            }
            if skipped {
                flags |= SKIPPED;
            }
            l.push(Packed {
                start,
                index,
                nbytes: NO_BYTES,
                dur: encode_duration(at.saturating_sub(start)),
                prefix: p.0,
                worker: worker.0,
                thread: 0,
                attempt: error.attempt.min(u8::MAX as u32) as u8,
                flags,
            });
            if !retried {
                l.with_live(run, |live| live.failed(task, error, worker.0, at));
            }
        });
        if !skipped && !retried {
            lock(&self.store).push_error(error.key.to_string(), error.to_string());
        }
    }

    /// Events that are not about one task: runs, workers, samples, transfers.
    fn other(&self, event: &Event<'_>) {
        match event {
            Event::RunStarted {
                run,
                tasks,
                executor,
                workers,
                at,
                plan,
                ..
            } => {
                let captured = plan.map(|plan| {
                    let keep = plan.len() <= self.opts.graph_limit;
                    let mut cache = lock(&self.plan_cache);
                    live::capture(plan, *run, keep, &mut cache, &self.names)
                });
                let mut st = lock(&self.store);
                st.executor = executor;
                if st.runs.len() >= KEPT_RUN_INFO {
                    st.runs.pop_front();
                }
                st.runs.push_back(RunInfo {
                    id: run.0,
                    executor: (*executor).to_owned(),
                    tasks: *tasks as u64,
                    workers: *workers as u64,
                    start_ns: self.ns(*at),
                    end_ns: None,
                    failed: 0,
                });
                if let Some((summary, live)) = captured {
                    for (p, n) in summary.planned {
                        let i = p.0 as usize;
                        if i >= st.planned.len() {
                            st.planned.resize(i + 1, 0);
                        }
                        st.planned[i] += n;
                    }
                    for (p, f) in summary.functions {
                        let i = p.0 as usize;
                        if i >= st.functions.len() {
                            st.functions.resize(i + 1, None);
                        }
                        st.functions[i] = Some(f);
                    }
                    if let Some(l) = live {
                        if st.live.len() >= KEPT_RUNS {
                            st.live.pop_front();
                        }
                        st.live.push_back(Arc::new(l));
                    }
                }
            }
            Event::RunFinished {
                run,
                failed,
                elapsed,
                ..
            } => {
                let mut st = lock(&self.store);
                if let Some(r) = st.runs.iter_mut().rev().find(|r| r.id == run.0) {
                    r.end_ns = Some(r.start_ns + elapsed.as_nanos() as u64);
                    r.failed = *failed as u64;
                }
            }
            Event::Cache { stats, .. } => {
                lock(&self.store).cache = Some(*stats);
            }
            Event::Transferred {
                from,
                to,
                nbytes,
                started,
                finished,
                ..
            } => {
                let (s, e) = (self.ns(*started), self.ns(*finished));
                lock(&self.store).push_transfer(
                    Transfer {
                        start: s,
                        dur: e.saturating_sub(s),
                        from: from.0,
                        to: to.0,
                        nbytes: *nbytes,
                    },
                    self.opts.transfers,
                );
            }
            Event::WorkerJoined {
                worker,
                name,
                threads,
                ..
            } => {
                lock(&self.store).workers.insert(
                    worker.0,
                    WorkerRec {
                        name: (*name).to_owned(),
                        threads: *threads,
                        lost: None,
                        last: None,
                    },
                );
            }
            Event::WorkerLost { worker, why, .. } => {
                let mut st = lock(&self.store);
                let w = st.workers.entry(worker.0).or_insert_with(|| WorkerRec {
                    name: format!("worker-{}", worker.0),
                    threads: 1,
                    lost: None,
                    last: None,
                });
                w.lost = Some((*why).to_owned());
            }
            Event::WorkerSample {
                worker,
                at,
                cpu_percent,
                rss_bytes,
                managed_bytes,
                spilled_bytes,
                moved_bytes,
            } => self.push_sample(Sample {
                t_ns: self.ns(*at),
                worker: worker.0,
                cpu: *cpu_percent,
                rss: Some(*rss_bytes),
                managed: Some(*managed_bytes),
                spilled: Some(*spilled_bytes),
                moved: Some(*moved_bytes),
            }),
            _ => {}
        }
    }
}
