//! [`Client`]: one handle over every executor, for graphs and for futures.
//!
//! The executor flavours are an enum, not a trait object (as in tokio's
//! runtime): `Client::sync()`, `threads()`, `processes(n)`,
//! `local_cluster(w, t)`, `connect(addr)`; code written against `Client`
//! does not change. Eager tasks and waiting on futures are in
//! `client/submit.rs`.
//!
//! A `Client` is a cheap handle (clone it freely) onto a shared [`Core`]: the
//! thread pool, the async runtime (made on first use), and per compute worker
//! the eager tasks it is running. `with_*` methods return a handle with other
//! settings onto the same core. When the last handle goes, or on
//! [`Client::shutdown`], every unfinished future fails with
//! [`Error::ClientShutdown`] and the runtime stops in the background.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use crate::args::{DepList, FutureArgs};
use rask_core::{
    plan_outputs, Data, Delayed, Error, EventSink, Executor, Key, Outputs, PlanOptions, Result,
    ResultCache, Run, Subscriber, SyncExecutor, TaskError, TaskErrorKind, TaskFn, Value, WorkerId,
};
use rask_diagnostics::ProgressBar;
use rask_distributed::wire::WireConfig;
use rask_distributed::{Connection, LocalCluster, LocalOptions, Transport};
use rask_local::{ShuffledExecutor, ThreadPool};

use crate::cell::{Body, Cell};
use crate::future::Future;
use crate::options::TaskOptions;
use crate::runtime::{runtime_core, MapOutput, Runtime};
use crate::wait::{self, AsCompleted, OnError, WaitFor, WaitResult};

mod submit;
pub use submit::{get_client, Submitter};

/// What drives a graph on a thread of its own (`compute`).
type Drive = Box<dyn FnOnce(&Arc<Run>) + Send>;

enum Flavor {
    Sync,
    Threads(Arc<ThreadPool>),
    /// Graphs of registered tasks run on workers (local processes or a
    /// cluster) through a scheduler; eager and async tasks run here. Holds
    /// the local deployment it started, if any, so that it lives as long as
    /// the client.
    Cluster(
        Arc<Connection>,
        #[allow(dead_code)] Option<Arc<LocalCluster>>,
    ),
    /// Graphs run in a seeded random order (`rask_local::ShuffledExecutor`);
    /// eager and async tasks run as with `Sync`.
    Shuffled(Arc<ShuffledExecutor>),
}

/// The eager tasks one worker is running.
type RunningSlot = Mutex<Vec<Arc<Cell>>>;

/// What every handle of one client shares.
pub(crate) struct Core {
    flavor: Flavor,
    /// Runs eager compute tasks: the pool itself, or for `sync` one thread.
    eager_pool: OnceLock<Arc<ThreadPool>>,
    runtime: Mutex<Option<Runtime>>,
    handle: OnceLock<tokio::runtime::Handle>,
    async_threads: AtomicUsize,
    shutdown: AtomicBool,
    seq: AtomicU64,
    /// Per compute worker, the eager tasks it is running (a stack: a task
    /// that waits may run others on the same thread), so that shutdown can
    /// fail their futures. Only the owning worker pushes and pops.
    running: OnceLock<Box<[RunningSlot]>>,
    /// Locks, queues, ... of this client's tasks (in-process flavours;
    /// made on first use: `coord/hub.rs`).
    coord_hub: OnceLock<Arc<crate::coord::Hub>>,
    me: Weak<Core>,
}

thread_local! {
    /// The core whose `sync` executor runs a graph on this thread.
    static SYNC_CORE: std::cell::RefCell<Option<Weak<Core>>> = const { std::cell::RefCell::new(None) };
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Core {
    fn new(flavor: Flavor) -> Arc<Core> {
        let core = Arc::new_cyclic(|me| Core {
            flavor,
            eager_pool: OnceLock::new(),
            runtime: Mutex::new(None),
            handle: OnceLock::new(),
            async_threads: AtomicUsize::new(1),
            shutdown: AtomicBool::new(false),
            seq: AtomicU64::new(1),
            running: OnceLock::new(),
            coord_hub: OnceLock::new(),
            me: me.clone(),
        });
        if let Flavor::Threads(pool) = &core.flavor {
            pool.set_context(core.me.clone() as Weak<dyn Any + Send + Sync>);
        }
        core
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// The pool that runs eager compute tasks.
    pub(crate) fn compute_pool(&self) -> &Arc<ThreadPool> {
        match &self.flavor {
            Flavor::Threads(p) => p,
            Flavor::Sync | Flavor::Cluster(..) | Flavor::Shuffled(_) => {
                self.eager_pool.get_or_init(|| {
                    let pool = match ThreadPool::new(1) {
                        Ok(p) => Arc::new(p),
                        Err(e) => panic!("rask: could not start the eager-task thread: {e}"),
                    };
                    pool.set_context(self.me.clone() as Weak<dyn Any + Send + Sync>);
                    pool
                })
            }
        }
    }

    /// Runs `f` with `cell` recorded as running on `worker`.
    pub(crate) fn running_on<R>(
        &self,
        worker: WorkerId,
        cell: &Arc<Cell>,
        f: impl FnOnce() -> R,
    ) -> R {
        let slots = self.running.get_or_init(|| {
            (0..self.compute_pool().threads())
                .map(|_| Mutex::new(Vec::new()))
                .collect()
        });
        let Some(slot) = slots.get(worker.0 as usize) else {
            return f();
        };
        lock(slot).push(cell.clone());
        struct Pop<'a>(&'a RunningSlot);
        impl Drop for Pop<'_> {
            fn drop(&mut self) {
                lock(self.0).pop();
            }
        }
        let _pop = Pop(slot);
        f()
    }

    /// The compute pool, if the calling thread is one of its workers.
    pub(crate) fn pool_if_worker(&self) -> Option<Arc<ThreadPool>> {
        let pool = match &self.flavor {
            Flavor::Threads(p) => p,
            Flavor::Sync | Flavor::Cluster(..) | Flavor::Shuffled(_) => self.eager_pool.get()?,
        };
        pool.is_worker_thread().then(|| pool.clone())
    }

    /// The async runtime, made on first use.
    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        self.handle.get_or_init(|| {
            let mut slot = lock(&self.runtime);
            let rt = match Runtime::new(self.me.clone(), self.async_threads.load(Ordering::Relaxed))
            {
                Ok(rt) => rt,
                Err(e) => panic!("rask: could not start the async runtime: {e}"),
            };
            let handle = rt.handle().cloned();
            *slot = Some(rt);
            match handle {
                Some(h) => h,
                None => panic!("rask: the async runtime has no handle"),
            }
        })
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Stops taking eager tasks. Every unfinished future fails with
    /// `ClientShutdown`: queued, running and async tasks now, a task still
    /// waiting for its dependencies when they resolve. A running compute task
    /// is not interrupted (threads cannot be), but its result is dropped.
    fn shutdown(&self) {
        if self.shutdown.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(pool) = self.eager_pool.get() {
            pool.abandon_queued();
        }
        if let Flavor::Threads(pool) = &self.flavor {
            pool.abandon_queued();
        }
        // Graphs on a cluster: released on the scheduler now (their tasks
        // not yet started are cancelled), their futures failed.
        if let Flavor::Cluster(conn, _) = &self.flavor {
            conn.abandon();
        }
        // Running compute tasks go on, but their futures fail now; whatever
        // they return later is dropped (rule 5 of `cell.rs`).
        let running: Vec<Arc<Cell>> = self
            .running
            .get()
            .map(|slots| slots.iter().flat_map(|s| lock(s).clone()).collect())
            .unwrap_or_default();
        for cell in running {
            cell.complete(Err(Error::ClientShutdown {
                key: cell.key.clone(),
            }));
        }
        // Dropping the runtime shuts it down in the background; the tasks it
        // drops fail their futures (see `runtime.rs`).
        drop(lock(&self.runtime).take());
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Runs graphs and eager tasks on an executor chosen at construction.
#[derive(Clone)]
pub struct Client {
    core: Arc<Core>,
    events: Option<EventSink>,
    options: PlanOptions,
    cache: Option<ResultCache>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("executor", &self.name())
            .field("workers", &self.workers())
            .finish()
    }
}

impl Client {
    fn from_core(core: Arc<Core>) -> Self {
        Client {
            core,
            events: None,
            options: PlanOptions::default(),
            cache: None,
        }
    }

    /// The synchronous executor: graphs run on the calling thread in a
    /// deterministic order; eager tasks run one at a time on one background
    /// thread, in submission (and priority) order.
    pub fn sync() -> Self {
        Self::from_core(Core::new(Flavor::Sync))
    }

    /// A work-stealing thread pool with one thread per core.
    ///
    /// # Panics
    /// If the operating system refuses to start threads (as `std::thread::spawn`
    /// does); use [`Client::try_threads`] to handle that.
    pub fn threads() -> Self {
        Self::threads_with(rask_local::default_threads())
    }

    /// A thread pool with `n` threads. Panics like [`Client::threads`].
    pub fn threads_with(n: usize) -> Self {
        match Self::try_threads(n) {
            Ok(c) => c,
            Err(e) => panic!("rask: could not start {n} worker threads: {e}"),
        }
    }

    /// `n` worker processes (this executable started again: `main` must
    /// call [`rask::init()`](rask_distributed::init) first) with one compute
    /// thread each, on this machine: a scheduler in this process, Unix
    /// sockets and shared memory. Graphs of `#[rask::task]` functions run
    /// there; a closure in such a graph fails with `NotRegistered`.
    ///
    /// # Panics
    /// If the workers cannot be started; use [`Client::try_processes`].
    pub fn processes(n: usize) -> Self {
        match Self::try_processes(LocalOptions::new(n, 1, Transport::Local)) {
            Ok(c) => c,
            Err(e) => panic!("rask: could not start {n} worker processes: {e}"),
        }
    }

    /// A local deployment with any settings (worker processes over Unix
    /// sockets, or a loopback cluster over TCP), or the error that
    /// prevented it.
    pub fn try_processes(options: LocalOptions) -> Result<Self, rask_distributed::Error> {
        let cluster = LocalCluster::start(options)?;
        let conn = cluster.connect()?;
        Ok(Self::from_core(Core::new(Flavor::Cluster(
            Arc::new(conn),
            Some(Arc::new(cluster)),
        ))))
    }

    /// A client of the cluster whose scheduler is at `addr` (`host:port`),
    /// with the secret in `RASK_SECRET` (if any). Graphs of `#[rask::task]`
    /// functions run on its workers (which must be built from a binary that
    /// registers them); a closure in such a graph fails with
    /// `NotRegistered`.
    pub fn connect(addr: &str) -> Result<Self, rask_distributed::Error> {
        Self::connect_with(addr, WireConfig::try_from_env()?)
    }

    /// As [`Client::connect`], with explicit wire settings (secret, limits).
    pub fn connect_with(addr: &str, wire: WireConfig) -> Result<Self, rask_distributed::Error> {
        let conn = Connection::connect(addr, wire)?;
        Ok(Self::from_core(Core::new(Flavor::Cluster(
            Arc::new(conn),
            None,
        ))))
    }

    /// Starts a scheduler here and `workers` worker processes (this
    /// executable started again: `main` must call `rask::init()` first) with
    /// `threads` compute threads each, all on loopback with a fresh secret,
    /// and connects to it. The cluster stops with the last handle of the
    /// client.
    pub fn local_cluster(workers: usize, threads: usize) -> Result<Self, rask_distributed::Error> {
        Self::try_processes(LocalOptions::new(workers, threads, Transport::Tcp))
    }

    /// Where this client's coordination requests go (`coord/`): its
    /// scheduler, or its in-process hub.
    pub(crate) fn coord_link(&self) -> Arc<dyn rask_distributed::coord::Link> {
        match &self.core.flavor {
            Flavor::Cluster(conn, _) => conn.clone(),
            _ => self
                .core
                .coord_hub
                .get_or_init(|| crate::coord::Hub::new(self.core.me.clone()))
                .clone(),
        }
    }

    /// The local deployment this client started (`Client::processes`,
    /// `Client::local_cluster`), if any: its workers' process ids, restarts.
    pub fn deployment(&self) -> Option<&LocalCluster> {
        match &self.core.flavor {
            Flavor::Cluster(_, Some(d)) => Some(d),
            _ => None,
        }
    }

    /// Graphs run in an order drawn from `seed`, one task at a time on a
    /// random one of four threads after random yields, to find tasks that
    /// depend on each other without saying so; the same seed replays the
    /// same order (see [`ShuffledExecutor`] and `docs/reliability.md`).
    pub fn shuffled(seed: u64) -> Self {
        Self::from_core(Core::new(Flavor::Shuffled(Arc::new(
            ShuffledExecutor::new(seed),
        ))))
    }

    /// A thread pool with `n` threads, or the error that prevented it.
    pub fn try_threads(n: usize) -> std::io::Result<Self> {
        Ok(Self::from_core(Core::new(Flavor::Threads(Arc::new(
            ThreadPool::new(n)?,
        )))))
    }

    /// The same client, also sending events to `sub`.
    pub fn with_subscriber(mut self, sub: Arc<dyn Subscriber>) -> Self {
        if let Flavor::Cluster(conn, _) = &self.core.flavor {
            // Workers' joins, losses and memory samples too (an error means
            // the connection is closed, which runs report themselves).
            let _ = conn.watch_workers(EventSink::new(vec![sub.clone()]));
        }
        self.events = Some(match &self.events {
            Some(e) => e.with(sub),
            None => EventSink::new(vec![sub]),
        });
        self
    }

    /// The same client with a terminal progress bar for graphs.
    pub fn with_progress(self) -> Self {
        self.with_subscriber(ProgressBar::new())
    }

    /// The same client, lowering graphs with `options` (e.g. fusion off).
    pub fn with_plan_options(mut self, options: PlanOptions) -> Self {
        self.options = options;
        self
    }

    /// The same client, reusing the results of earlier graphs through
    /// `cache` (`ResultCache::new(bytes)`; share one between clients by
    /// cloning it). What is cached where, and what counts as the same
    /// computation: [`ResultCache`] and `docs/memory.md`.
    pub fn with_cache(mut self, cache: ResultCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The result cache of this client, if any.
    pub fn result_cache(&self) -> Option<&ResultCache> {
        self.cache.as_ref()
    }

    /// Threads for the async runtime (default 1); only before its first use.
    pub fn with_async_threads(self, n: usize) -> Self {
        self.core.async_threads.store(n.max(1), Ordering::Relaxed);
        self
    }

    // ----- graphs -----

    /// Computes one output, several (a tuple), or a list of them, blocking.
    pub fn get<O: Outputs + ?Sized>(&self, outputs: &O) -> Result<O::Values> {
        rask_core::compute(self, outputs)
    }

    /// Starts computing `outputs` and returns a future of their values at once.
    pub fn compute<O>(&self, outputs: O) -> Future<O::Values>
    where
        O: Outputs + Send + Sync + 'static,
        O::Values: Data,
    {
        let cell = Cell::new(
            &self.core,
            Key::anonymous("compute"),
            Vec::new(),
            Body::External(None),
            TaskOptions::default(),
            None,
        );
        if !self.start_cell(&cell) {
            return Future::from_cell(cell);
        }
        let plan = match plan_outputs(&outputs, self.plan_options()) {
            Ok(p) => p,
            Err(e) => {
                cell.complete(Err(e));
                return Future::from_cell(cell);
            }
        };
        let run = match rask_core::new_run(self, plan) {
            Ok(r) => Arc::new(r),
            Err(e) => {
                cell.complete(Err(e));
                return Future::from_cell(cell);
            }
        };
        run.emit_started(self.name(), self.workers());
        let done = {
            let (run, cell) = (run.clone(), cell.clone());
            move || {
                run.emit_finished();
                let r = run
                    .output_reader()
                    .and_then(|mut reader| outputs.read(&mut reader));
                cell.complete(r.map(|v| Arc::new(v) as Value));
            }
        };
        match &self.core.flavor {
            Flavor::Sync => {
                self.execute(&run);
                done();
            }
            Flavor::Threads(pool) => pool.spawn_run(run, done),
            Flavor::Cluster(..) | Flavor::Shuffled(_) => {
                // The graph is driven (waited on) by a thread of its own. A
                // cluster's holds the connection, not the client: dropping
                // the client abandons the graph (`shutdown`) rather than
                // waiting for it.
                let drive: Drive = match &self.core.flavor {
                    Flavor::Cluster(conn, _) => {
                        let conn = conn.clone();
                        Box::new(move |run| conn.execute(run))
                    }
                    _ => {
                        let client = self.clone();
                        Box::new(move |run| client.execute(run))
                    }
                };
                let spawned = std::thread::Builder::new()
                    .name("rask-compute".to_owned())
                    .spawn(move || {
                        drive(&run);
                        done();
                    });
                if let Err(e) = spawned {
                    cell.complete(Err(Error::Executor(format!(
                        "no thread to drive the graph: {e}"
                    ))));
                }
            }
        }
        Future::from_cell(cell)
    }

    /// Computes `d` and keeps its result where it is: in this process on
    /// `sync` and `threads`, on the workers on processes and clusters (not
    /// fetched here until `result()` asks). Later graphs use it through
    /// [`Future::as_delayed`] without moving it; dropping the last handle
    /// frees it where it lives. On processes and clusters a persist does
    /// not use the result cache (the value lives as long as its future, on
    /// a worker); in this process it is a `compute` and does.
    pub fn persist<T: Data>(&self, d: &Delayed<T>) -> Future<T> {
        let Flavor::Cluster(conn, _) = &self.core.flavor else {
            return self.compute(d.clone());
        };
        let plan = match plan_outputs(d, self.plan_options()) {
            Ok(p) => p,
            Err(e) => return self.failed_future(d.key().clone(), e),
        };
        let run = Arc::new(Run::new(plan, self.events.clone()));
        let prepared = conn.prepare(&run);
        let out = run.plan().outputs()[0];
        let Some(place) = conn.location(&prepared, out) else {
            // A constant or a future's value: nothing to keep on the workers.
            return self.compute(d.clone());
        };
        let cell = Cell::new(
            &self.core,
            d.key().clone(),
            Vec::new(),
            Body::External(Some(place)),
            TaskOptions::default(),
            None,
        );
        if !self.start_cell(&cell) {
            return Future::from_cell(cell);
        }
        run.emit_started(self.name(), self.workers());
        let persisting = conn.persist(&run, prepared);
        let c2 = cell.clone();
        let spawned = std::thread::Builder::new()
            .name("rask-persist".to_owned())
            .spawn(move || {
                persisting.finish();
                run.emit_finished();
                let r = run.output_reader().and_then(|mut r| r.take_value());
                c2.complete(r);
            });
        if let Err(e) = spawned {
            cell.complete(Err(Error::Executor(format!(
                "no thread to drive the graph: {e}"
            ))));
        }
        Future::from_cell(cell)
    }

    /// Puts `value` where the executor's tasks run (on a worker for
    /// processes and clusters; here otherwise) and returns a future of it,
    /// for later graphs ([`Future::as_delayed`]) and `submit`s.
    pub fn scatter<T>(&self, value: T) -> Future<T>
    where
        T: Data + serde::Serialize + serde::de::DeserializeOwned,
    {
        match &self.core.flavor {
            Flavor::Cluster(..) => {
                static CODECS: std::sync::Mutex<
                    Vec<(std::any::TypeId, &'static rask_core::Codec)>,
                > = std::sync::Mutex::new(Vec::new());
                let id = std::any::TypeId::of::<T>();
                let codec = {
                    let mut known = CODECS.lock().unwrap_or_else(|p| p.into_inner());
                    match known.iter().find(|(t, _)| *t == id) {
                        Some((_, c)) => *c,
                        None => {
                            let c: &'static rask_core::Codec =
                                Box::leak(Box::new(rask_core::codec::<T>()));
                            known.push((id, c));
                            c
                        }
                    }
                };
                let reg = rask_core::identity_registration(codec);
                let d =
                    rask_core::registered_call(reg, |v: T| v, (rask_core::literal(value, codec),));
                self.persist(&d)
            }
            _ => self.compute(rask_core::value(value)),
        }
    }

    fn failed_future<T>(&self, key: Key, e: Error) -> Future<T> {
        let cell = Cell::new(
            &self.core,
            key,
            Vec::new(),
            Body::External(None),
            TaskOptions::default(),
            None,
        );
        cell.complete(Err(e));
        Future::from_cell(cell)
    }
}

impl rask_core::Submit for Client {
    type Handle<T: Data> = Future<T>;

    fn submit_delayed<T: Data>(&self, d: Delayed<T>) -> Future<T> {
        self.compute(d)
    }
}

impl Executor for Client {
    fn name(&self) -> &'static str {
        match &self.core.flavor {
            Flavor::Sync => "sync",
            Flavor::Threads(_) => "threads",
            Flavor::Cluster(c, _) => c.name(),
            Flavor::Shuffled(_) => "shuffled",
        }
    }
    fn workers(&self) -> usize {
        match &self.core.flavor {
            Flavor::Sync => 1,
            Flavor::Threads(p) => p.threads(),
            Flavor::Cluster(_, Some(d)) => d.options().workers * d.options().threads,
            Flavor::Cluster(c, None) => c.workers(),
            Flavor::Shuffled(s) => s.workers(),
        }
    }
    fn events(&self) -> Option<&EventSink> {
        self.events.as_ref()
    }
    fn plan_options(&self) -> PlanOptions {
        match &self.core.flavor {
            Flavor::Cluster(c, _) => c.plan_options(),
            Flavor::Shuffled(s) => s.plan_options(),
            _ => self.options,
        }
    }
    fn cache(&self) -> Option<&ResultCache> {
        self.cache.as_ref()
    }
    fn execute(&self, run: &Arc<Run>) {
        match &self.core.flavor {
            Flavor::Sync => {
                let prev = SYNC_CORE.with(|c| c.replace(Some(Arc::downgrade(&self.core))));
                SyncExecutor::new().execute(run);
                SYNC_CORE.with(|c| *c.borrow_mut() = prev);
            }
            Flavor::Threads(pool) => pool.execute(run),
            Flavor::Cluster(c, _) => c.execute(run),
            Flavor::Shuffled(s) => s.execute(run),
        }
    }
}
