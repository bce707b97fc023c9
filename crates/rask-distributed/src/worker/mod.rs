//! A worker: runs registered functions for a scheduler, holds their
//! results, and serves them to peers and clients on its data port. The same
//! worker serves a cluster over TCP and a local client over a Unix socket
//! pair ([`Link`]); only the data plane differs (TCP streams, or shared
//! memory passed by descriptor).
//!
//! Threads: a tokio runtime (one thread) serves the network (the scheduler
//! link, heartbeats, the data port, fetches from peers), so a long task
//! never stalls a heartbeat; `threads` compute threads run the tasks
//! (`compute.rs`). Rules:
//! 1. A task whose inputs are all here (or literals) goes straight to the
//!    compute queue; one that needs a peer's value is queued once the fetch
//!    is done (on tokio); if the peer cannot give it, the scheduler is told
//!    `Missing` and decides.
//! 2. A compute thread says `Started` when it takes a task, and `Finished`
//!    or `Erred` when it ends. A result of at most `inline_max` bytes (the
//!    scheduler's `Welcome`) goes back inside `Finished` and is not kept;
//!    a bigger one is kept until the scheduler releases it.
//! 3. Messages to the scheduler are batched: a compute thread wakes the
//!    writer when its queue runs dry or 2 ms after the last batch, not per
//!    task. A coordination request is not batched: the compute thread that
//!    makes it writes the outbox (its request last) to the link itself when
//!    the writer is idle ([`Shared::flush_direct`]), saving a wake-up of the
//!    network thread on a path where every microsecond counts; either way
//!    the outbox is written in the order it was filled.
//! 4. A task with a timeout that runs too long is reported `Erred
//!    (TimedOut)` by a timer; its thread cannot be interrupted, and what it
//!    returns later is dropped (exactly one of the two reports, by an atomic
//!    swap).
//! 5. Stealing takes back tasks still in the compute queue, never one that
//!    started or waits for a fetch.
//! 6. Memory (`memory.rs`, `store.rs`, `spill.rs`): values live in a store
//!    that spills the least recently used to disk above the memory target;
//!    a monitor thread samples RSS, spills more, pauses and, past the
//!    terminate threshold, ends the worker. A task's inputs held here are
//!    taken from the store when it starts, not when it arrives, so queued
//!    tasks do not hold spilled values in memory.
//! 7. Tasks reach the scheduler's locks, queues and events through the
//!    worker's link (`coord.rs`); a compute thread blocked on one lends its
//!    slot to an extra compute thread.
//! 8. The compute queue (`queue.rs`) is kept in the scheduler's order (`rank`, as
//!    Dask's worker keeps its ready tasks by priority), not in arrival
//!    order: a task that consumes a result just made here (it became ready
//!    later) starts before the roots queued earlier, so the result is used
//!    while it is in memory instead of being spilled and read back.

mod compute;
mod coord;
mod direct;
mod fetch;
mod handle;
pub(crate) mod memory;
mod queue;
pub(crate) mod spill;
mod store;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use rask_core::Registered;
use tokio::sync::Notify;

use crate::bytes::Bytes;
use crate::data::Peers;
use crate::local::board::Board;
use crate::local::data::Holder;
use crate::proto::{FromWorker, Gid, ToWorker, WorkerInfo};
use crate::wire::{
    accept_tcp, connect_tcp, BoxRead, BoxWrite, FrameReader, FrameWriter, Role, WireConfig,
};
use crate::Error;
use memory::Memory;
pub use memory::MemoryOptions;
pub use spill::SpillError;
use store::Store;

/// Settings of a worker.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// The scheduler's address (`host:port`), for a worker over TCP.
    pub scheduler: String,
    /// Its name (default: `host:pid`).
    pub name: Option<String>,
    /// Compute threads (default: one per core).
    pub threads: usize,
    /// Memory limit in bytes (0: none): values spill to disk, tasks pause
    /// and the worker ends at fractions of it (`memory_options`).
    pub memory: u64,
    /// The memory thresholds, spill directory and compression.
    pub memory_options: MemoryOptions,
    /// Named resources (`("gpu", 1.0)`).
    pub resources: Vec<(String, f64)>,
    /// Capacity for weighted placement (default: threads).
    pub weight: Option<u32>,
    /// The address the data port binds (its port is chosen freely).
    pub listen_host: IpAddr,
    /// Secret, frame limit, handshake timeout. Without a secret, the one
    /// a scheduler on this machine wrote for its port
    /// ([`WireConfig::or_local_secret`]).
    pub wire: WireConfig,
    /// How often it tells the scheduler it is alive.
    pub heartbeat: Duration,
}

impl WorkerOptions {
    /// A worker for the scheduler at `scheduler`, every other setting at its
    /// default (the secret from `RASK_SECRET`).
    pub fn new(scheduler: impl Into<String>) -> WorkerOptions {
        WorkerOptions {
            scheduler: scheduler.into(),
            name: None,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory: 0,
            memory_options: MemoryOptions::default(),
            resources: Vec::new(),
            weight: None,
            listen_host: IpAddr::from([127, 0, 0, 1]),
            wire: WireConfig::from_env(),
            heartbeat: Duration::from_secs(1),
        }
    }
}

/// How a worker reaches its scheduler.
pub(crate) enum Link {
    /// Over TCP, with the handshake; values served on a TCP data port.
    Tcp,
    /// Over a connected Unix stream (the socket pair its parent made);
    /// values served on a local socket, in shared memory.
    Local(std::os::unix::net::UnixStream),
}

/// A task waiting for a compute thread.
pub(super) struct Job {
    gid: Gid,
    /// The scheduler's order (rule 8): smaller starts first.
    rank: (i64, u64),
    func: &'static Registered,
    args: Vec<Bytes>,
    /// Arguments held here, taken from the store when the task starts
    /// (rule 6): (position in `args`, value).
    here: Vec<(usize, Gid)>,
    /// Bytes of `args` fetched from peers (`memory.rs`, rule 2).
    fetched: u64,
    timeout_ms: u64,
    attempt: u32,
    report_start: bool,
    split: Option<Box<crate::proto::SplitInto>>,
}

/// What the network side and the compute threads share.
pub(super) struct Shared {
    store: Store,
    memory: Memory,
    queue: Mutex<queue::RankQueue<Job>>,
    more: Condvar,
    /// Messages for the scheduler, sent in batches (rule 3).
    outbox: Mutex<Vec<FromWorker>>,
    wake_writer: Notify,
    stopping: AtomicBool,
    inline_max: AtomicU64,
    /// Big values live in shared memory (local transport).
    shared_mem: bool,
    name: Arc<str>,
    /// Compute threads (an async task reports this as its thread).
    threads: u32,
    rt: tokio::runtime::Handle,
    /// Where each compute thread writes the task it starts (a local
    /// deployment's worker; see `local/board.rs`).
    board: Option<Board>,
    /// Its tasks' coordination requests (`coord.rs`).
    coord: Arc<coord::WorkerLink>,
    /// The link to the scheduler, once connected: the writer task and
    /// [`Shared::flush_direct`] take turns on it (rule 3).
    link_out: OnceLock<Arc<tokio::sync::Mutex<FrameWriter<BoxWrite>>>>,
}

impl Holder for Shared {
    fn get(&self, gid: Gid) -> Option<Bytes> {
        // A spilled value is read from disk: on the network runtime, other
        // tasks move to another thread meanwhile.
        let read = || self.store.get(gid, false);
        let got = if tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
        {
            tokio::task::block_in_place(read)
        } else {
            read()
        };
        match got {
            Ok(v) => {
                if let Some(b) = &v {
                    self.memory
                        .moved
                        .fetch_add(b.len() as u64, Ordering::Relaxed);
                }
                v
            }
            Err(e) => {
                tracing::error!(error = %e, "a spilled value could not be read back");
                None
            }
        }
    }
}

impl Shared {
    pub(super) fn say(&self, m: FromWorker) {
        lock(&self.outbox).push(m);
    }

    /// Queues a write made under a cached lease (`coord.rs`, rule 4),
    /// in place of the previous one if that is the last message queued
    /// and writes the same variable under the same lease (only the last
    /// value matters then).
    pub(super) fn say_write(&self, r: crate::proto::CoordRequest) {
        use crate::proto::CoordOp::SetHeld;
        let mut outbox = lock(&self.outbox);
        if let (Some(FromWorker::Coord(last)), SetHeld { req, var, .. }) =
            (outbox.last_mut(), &r.op)
        {
            if matches!(&last.op, SetHeld { req: r0, var: v0, .. } if r0 == req && v0 == var) {
                *last = r;
                return;
            }
        }
        outbox.push(FromWorker::Coord(r));
    }

    pub(super) fn say_now(&self, m: FromWorker) {
        self.say(m);
        self.wake_writer.notify_one();
    }

    /// Writes the outbox to the link on this thread when the writer is
    /// idle (rule 3); else wakes the writer. Only off the runtime: on it
    /// (an async task) the writer is woken instead.
    pub(super) fn flush_direct(&self) {
        let written = tokio::runtime::Handle::try_current().is_err()
            && self.link_out.get().is_some_and(|out| match out.try_lock() {
                Ok(mut w) => {
                    self.rt.block_on(write_outbox(&mut w, self));
                    true
                }
                Err(_) => false,
            });
        if !written {
            self.wake_writer.notify_one();
        }
    }
}

/// Queues `job` in rank order, after those of equal rank (rule 8).
fn enqueue(q: &mut queue::RankQueue<Job>, job: Job) {
    q.push(job.rank, job);
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs a worker over TCP until the scheduler closes the connection (then
/// returns `Ok`) or cannot be reached.
pub fn run_worker(opts: WorkerOptions) -> Result<(), Error> {
    run(opts, Link::Tcp, None)
}

/// Runs a worker with either link until the scheduler goes.
pub(crate) fn run(mut opts: WorkerOptions, link: Link, board: Option<Board>) -> Result<(), Error> {
    if matches!(link, Link::Tcp) {
        // The scheduler's secret (its data port asks for it too); name
        // resolution blocks, so it is done before the runtime starts.
        opts.wire = opts.wire.or_local_secret(&opts.scheduler)?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("rask-worker-net")
        .enable_all()
        .build()?;
    let handle = rt.handle().clone();
    rt.block_on(serve(opts, link, board, handle))
}

async fn serve(
    opts: WorkerOptions,
    link: Link,
    board: Option<Board>,
    rt: tokio::runtime::Handle,
) -> Result<(), Error> {
    let threads = opts.threads.max(1);
    let name: Arc<str> = opts
        .name
        .clone()
        .unwrap_or_else(|| format!("{}:{}", opts.listen_host, std::process::id()))
        .into();
    let shared_mem = matches!(link, Link::Local(_));
    let store = memory::make_store(opts.memory, &opts.memory_options, &name, shared_mem)?;
    if opts.memory > 0 {
        // Idle shared memory kept for reuse counts against the limit.
        crate::local::shm::set_pool_limit((opts.memory / 20) as usize);
        memory::give_back_freed_memory();
    }
    let shared = Arc::new(Shared {
        store,
        memory: Memory::new(opts.memory, &opts.memory_options),
        queue: Mutex::new(queue::RankQueue::default()),
        more: Condvar::new(),
        outbox: Mutex::new(Vec::new()),
        wake_writer: Notify::new(),
        stopping: AtomicBool::new(false),
        inline_max: AtomicU64::new(0),
        shared_mem,
        name: name.clone(),
        threads: threads as u32,
        rt,
        board,
        coord: Arc::default(),
        link_out: OnceLock::new(),
    });
    shared.coord.attach(&shared);
    // The data port, then the scheduler link.
    let (data_addr, data_server) = match &link {
        Link::Tcp => {
            let data =
                crate::wire::listen(SocketAddr::new(opts.listen_host, 0), &opts.wire).await?;
            let addr = data.local_addr()?.to_string();
            let holder = shared.clone();
            let cfg = opts.wire.clone();
            let task = tokio::spawn(async move {
                loop {
                    let (stream, _) = crate::wire::accept_next(&data).await;
                    let holder = holder.clone();
                    let cfg = cfg.clone();
                    tokio::spawn(async move {
                        if let Ok((_, r, w)) = accept_tcp(stream, &cfg).await {
                            crate::data::serve_tcp(r, w, &*holder).await;
                        }
                    });
                }
            });
            (addr, Some(task))
        }
        Link::Local(_) => {
            let (listener, addr) = crate::local::data::listen()?;
            crate::local::data::serve(listener, shared.clone())?;
            (addr, None)
        }
    };
    let (mut r, w) = match link {
        Link::Tcp => {
            let (r, w) = connect_tcp(opts.scheduler.as_str(), &opts.wire, Role::Worker).await?;
            (r, w)
        }
        Link::Local(stream) => {
            stream.set_nonblocking(true)?;
            let stream = tokio::net::UnixStream::from_std(stream)?;
            let (rd, wr) = stream.into_split();
            let rd: BoxRead = Box::pin(rd);
            let wr: BoxWrite = Box::pin(wr);
            (
                FrameReader::new(rd, opts.wire.max_frame),
                FrameWriter::new(wr, opts.wire.max_frame),
            )
        }
    };
    shared.say(FromWorker::Join(WorkerInfo {
        name: name.to_string(),
        threads: threads as u32,
        memory: opts.memory,
        resources: opts.resources.clone(),
        data_addr,
        weight: opts.weight.unwrap_or(threads as u32),
        pid: std::process::id(),
    }));
    let w = Arc::new(tokio::sync::Mutex::new(w));
    let _ = shared.link_out.set(w.clone());
    let writer = tokio::spawn(write_batches(w, shared.clone()));
    shared.wake_writer.notify_one();
    let beats = {
        let shared = shared.clone();
        let period = opts.heartbeat;
        tokio::spawn(async move {
            let mut every = tokio::time::interval(period);
            loop {
                every.tick().await;
                shared.say_now(FromWorker::Heartbeat);
            }
        })
    };
    let computes: Vec<_> = (0..threads)
        .map(|i| {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("rask-compute-{i}"))
                .spawn(move || compute::compute_loop(&shared, i as u32))
        })
        .collect::<Result<_, _>>()?;
    let monitor = memory::start_monitor(shared.clone())?;
    let peers = Arc::new(Peers::new(opts.wire.clone()));
    // The reader runs as a task of the runtime, not on the thread that
    // blocks on `serve`: the network thread that sees the socket readable
    // reads it and fills the waiting tickets itself, without waking
    // another thread first.
    let reader = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut funcs: Vec<Option<&'static Registered>> = Vec::new();
            let mut unknown: HashMap<u32, String> = HashMap::new();
            loop {
                match r.recv::<Vec<ToWorker>>().await {
                    Ok(Some(batch)) => {
                        handle::batch(batch, &mut funcs, &mut unknown, &shared, &peers)
                    }
                    Ok(None) => break Ok(()),
                    Err(e) => {
                        tracing::warn!(error = %e, "scheduler connection failed");
                        break Err(Error::Wire(e));
                    }
                }
            }
        })
    };
    let result = reader.await.unwrap_or_else(|e| {
        Err(Error::Io(std::io::Error::other(format!(
            "the scheduler link's reader failed: {e}"
        ))))
    });
    shared.stopping.store(true, Ordering::SeqCst);
    shared.coord.close();
    shared.more.notify_all();
    beats.abort();
    if let Some(d) = data_server {
        d.abort();
    }
    writer.abort();
    for c in computes {
        let _ = c.join();
    }
    let _ = monitor.join();
    if let Some(d) = shared.store.spill_dir() {
        let t = d.traffic();
        tracing::info!(
            worker = %name,
            files_written = t.writes,
            mib_written = t.written >> 20,
            files_read = t.reads,
            mib_read = t.read >> 20,
            "spill traffic"
        );
    }
    result
}

/// Writes what the worker says, a batch per frame (rule 3).
async fn write_batches(w: Arc<tokio::sync::Mutex<FrameWriter<BoxWrite>>>, shared: Arc<Shared>) {
    loop {
        shared.wake_writer.notified().await;
        if !write_outbox(&mut *w.lock().await, &shared).await {
            return;
        }
    }
}

/// Writes the outbox as one frame, if it holds anything; `false` if the
/// link failed (the reader then sees it close). Called with the link's
/// lock held, so batches go out in the order they were taken.
async fn write_outbox(w: &mut FrameWriter<BoxWrite>, shared: &Shared) -> bool {
    let batch = std::mem::take(&mut *lock(&shared.outbox));
    if batch.is_empty() {
        return true;
    }
    w.send(&batch[..]).await.is_ok() && w.flush().await.is_ok()
}
