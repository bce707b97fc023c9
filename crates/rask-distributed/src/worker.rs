//! A worker: runs registered functions for a scheduler, holds their
//! results, and serves them to peers and clients on its data port.
//!
//! Threads: a tokio runtime serves the network (the scheduler connection,
//! heartbeats, the data port, fetches from peers), so a long task never
//! stalls a heartbeat; `threads` compute threads run the tasks. A task whose
//! inputs are all here (or constants) goes straight to the compute queue;
//! one that needs a peer's value waits for the fetch first (on tokio), and
//! if the peer cannot give it, the scheduler is told `Missing` and decides.
//! Stealing takes back tasks still in the compute queue.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rask_core::{catch_panic, registered, Key, Registered, TaskErrorKind};
use tokio::sync::mpsc;

use crate::proto::{
    ArgSource, DataReply, DataRequest, Failure, FromWorker, Gid, ToWorker, WorkerInfo,
};
use crate::wire::{accept_tcp, connect_tcp, Role, TcpFrameReader, TcpFrameWriter, WireConfig};
use crate::Error;

/// Settings of a worker.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// The scheduler's address (`host:port`).
    pub scheduler: String,
    /// Its name (default: `host:pid`).
    pub name: Option<String>,
    /// Compute threads (default: one per core).
    pub threads: usize,
    /// Memory limit in bytes, declared to the scheduler (0: none).
    pub memory: u64,
    /// Named resources (`("gpu", 1.0)`).
    pub resources: Vec<(String, f64)>,
    /// Capacity for weighted placement (default: threads).
    pub weight: Option<u32>,
    /// The address the data port binds (its port is chosen freely).
    pub listen_host: IpAddr,
    /// Secret, frame limit, handshake timeout.
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
            resources: Vec::new(),
            weight: None,
            listen_host: IpAddr::from([127, 0, 0, 1]),
            wire: WireConfig::from_env(),
            heartbeat: Duration::from_secs(1),
        }
    }
}

/// A task waiting for a compute thread.
struct Job {
    gid: Gid,
    func: &'static Registered,
    args: Vec<Arc<Vec<u8>>>,
}

struct Shared {
    held: Mutex<HashMap<Gid, Arc<Vec<u8>>>>,
    queue: Mutex<VecDeque<Job>>,
    more: Condvar,
    out: mpsc::UnboundedSender<FromWorker>,
    stopping: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs a worker until the scheduler closes the connection (then returns
/// `Ok`) or cannot be reached.
pub fn run_worker(opts: WorkerOptions) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(serve(opts))
}

async fn serve(opts: WorkerOptions) -> Result<(), Error> {
    let data = crate::wire::listen(SocketAddr::new(opts.listen_host, 0), &opts.wire).await?;
    let data_addr = data.local_addr()?.to_string();
    let (mut r, w) = connect_tcp(opts.scheduler.as_str(), &opts.wire, Role::Worker).await?;
    let name = opts
        .name
        .clone()
        .unwrap_or_else(|| format!("{}:{}", opts.listen_host, std::process::id()));
    let threads = opts.threads.max(1);
    let (out_tx, out_rx) = mpsc::unbounded_channel::<FromWorker>();
    let shared = Arc::new(Shared {
        held: Mutex::new(HashMap::new()),
        queue: Mutex::new(VecDeque::new()),
        more: Condvar::new(),
        out: out_tx.clone(),
        stopping: std::sync::atomic::AtomicBool::new(false),
    });
    let _ = out_tx.send(FromWorker::Join(WorkerInfo {
        name: name.clone(),
        threads: threads as u32,
        memory: opts.memory,
        resources: opts.resources.clone(),
        data_addr: data_addr.clone(),
        weight: opts.weight.unwrap_or(threads as u32),
    }));
    let writer = tokio::spawn(write_batches(w, out_rx));
    let beat_tx = out_tx.clone();
    let period = opts.heartbeat;
    let beats = tokio::spawn(async move {
        let mut every = tokio::time::interval(period);
        loop {
            every.tick().await;
            if beat_tx.send(FromWorker::Heartbeat).is_err() {
                return;
            }
        }
    });
    let computes: Vec<_> = (0..threads)
        .map(|i| {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("rask-compute-{i}"))
                .spawn(move || compute_loop(&shared))
        })
        .collect::<Result<_, _>>()?;
    let data_shared = shared.clone();
    let data_cfg = opts.wire.clone();
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = data.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let shared = data_shared.clone();
            let cfg = data_cfg.clone();
            tokio::spawn(async move {
                if let Ok((_, r, w)) = accept_tcp(stream, &cfg).await {
                    serve_data(r, w, &shared).await;
                }
            });
        }
    });
    let peers = Arc::new(Peers::new(opts.wire.clone()));
    let mut funcs: Vec<Option<(&'static Registered, String)>> = Vec::new();
    let result = loop {
        match r.recv::<Vec<ToWorker>>().await {
            Ok(Some(batch)) => {
                for m in batch {
                    handle(m, &mut funcs, &shared, &peers, &name);
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "scheduler connection failed");
                break Err(Error::Wire(e));
            }
        }
    };
    shared
        .stopping
        .store(true, std::sync::atomic::Ordering::SeqCst);
    shared.more.notify_all();
    beats.abort();
    server.abort();
    writer.abort();
    for c in computes {
        let _ = c.join();
    }
    result
}

fn handle(
    m: ToWorker,
    funcs: &mut Vec<Option<(&'static Registered, String)>>,
    shared: &Arc<Shared>,
    peers: &Arc<Peers>,
    name: &str,
) {
    match m {
        ToWorker::Define { func, name: fname } => {
            let i = func as usize;
            if funcs.len() <= i {
                funcs.resize(i + 1, None);
            }
            funcs[i] = registered(&fname).map(|r| (r, fname.clone()));
            if funcs[i].is_none() {
                tracing::warn!(function = %fname, "asked to run a function not registered here");
                funcs[i] = None;
                // Remember the name for the error of every task that uses it.
                unknown_names().insert(func, fname);
            }
        }
        ToWorker::Compute { gid, func, args } => {
            let Some(Some((reg, _))) = funcs.get(func as usize) else {
                let fname = unknown_names()
                    .get(&func)
                    .cloned()
                    .unwrap_or_else(|| format!("#{func}"));
                let _ = shared.out.send(FromWorker::Erred {
                    gid,
                    failure: Failure::NotRegistered(format!(
                        "function `{fname}` is not registered in worker `{name}`'s binary"
                    )),
                });
                return;
            };
            let reg = *reg;
            let mut ready = Vec::with_capacity(args.len());
            let mut remote = Vec::new();
            for (i, a) in args.into_iter().enumerate() {
                match a {
                    ArgSource::Lit(b) => ready.push(Some(Arc::new(b))),
                    ArgSource::Here(g) => match lock(&shared.held).get(&g) {
                        Some(b) => ready.push(Some(b.clone())),
                        None => {
                            let _ = shared.out.send(FromWorker::Missing { gid, missing: g });
                            return;
                        }
                    },
                    ArgSource::There { gid: g, addr } => {
                        ready.push(None);
                        remote.push((i, g, addr));
                    }
                }
            }
            if remote.is_empty() {
                let args = ready.into_iter().flatten().collect();
                push_job(
                    shared,
                    Job {
                        gid,
                        func: reg,
                        args,
                    },
                );
                return;
            }
            let shared = shared.clone();
            let peers = peers.clone();
            tokio::spawn(async move {
                for (i, g, addr) in remote {
                    match peers.fetch(&addr, g).await {
                        Some(b) => ready[i] = Some(Arc::new(b)),
                        None => {
                            let _ = shared.out.send(FromWorker::Missing { gid, missing: g });
                            return;
                        }
                    }
                }
                let args = ready.into_iter().flatten().collect();
                push_job(
                    &shared,
                    Job {
                        gid,
                        func: reg,
                        args,
                    },
                );
            });
        }
        ToWorker::Steal { gids } => {
            let mut q = lock(&shared.queue);
            let mut back = Vec::new();
            q.retain(|j| {
                let take = gids.contains(&j.gid);
                if take {
                    back.push(j.gid);
                }
                !take
            });
            drop(q);
            let _ = shared.out.send(FromWorker::Stolen { gids: back });
        }
        ToWorker::Release { gids } => {
            let mut held = lock(&shared.held);
            for g in gids {
                held.remove(&g);
            }
        }
    }
}

/// Names of functions the scheduler defined that this binary lacks.
fn unknown_names() -> MutexGuard<'static, HashMap<u32, String>> {
    static NAMES: std::sync::OnceLock<Mutex<HashMap<u32, String>>> = std::sync::OnceLock::new();
    lock(NAMES.get_or_init(Default::default))
}

fn push_job(shared: &Shared, job: Job) {
    lock(&shared.queue).push_back(job);
    shared.more.notify_one();
}

fn compute_loop(shared: &Shared) {
    let mut out = Vec::new();
    loop {
        let job = {
            let mut q = lock(&shared.queue);
            loop {
                if shared.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                if let Some(j) = q.pop_front() {
                    break j;
                }
                q = shared.more.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        };
        let t0 = Instant::now();
        let slices: Vec<&[u8]> = job.args.iter().map(|a| a.as_slice()).collect();
        let key = Key::new(job.func.name);
        out.clear();
        let result = catch_panic(&key, 1, || -> Result<(), String> {
            let v = (job.func.call)(&slices).map_err(|f| f.to_string())?;
            (job.func.output.encode)(&v, &mut out)
                .map_err(|e| format!("the result could not be encoded: {e}"))
        });
        let msg = match result {
            Ok(Ok(())) => {
                let nbytes = out.len() as u64;
                lock(&shared.held).insert(job.gid, Arc::new(std::mem::take(&mut out)));
                FromWorker::Finished {
                    gid: job.gid,
                    nbytes,
                    micros: t0.elapsed().as_micros() as u64,
                }
            }
            Ok(Err(message)) => FromWorker::Erred {
                gid: job.gid,
                failure: Failure::Failed(message),
            },
            Err(e) => FromWorker::Erred {
                gid: job.gid,
                failure: if e.kind == TaskErrorKind::Panicked {
                    Failure::Panicked(e.message)
                } else {
                    Failure::Failed(e.message)
                },
            },
        };
        let _ = shared.out.send(msg);
    }
}

/// Writes what the worker says, a batch per frame.
async fn write_batches(mut w: TcpFrameWriter, mut rx: mpsc::UnboundedReceiver<FromWorker>) {
    let mut batch = Vec::new();
    while let Some(m) = rx.recv().await {
        batch.push(m);
        while let Ok(m) = rx.try_recv() {
            batch.push(m);
            if batch.len() >= 4096 {
                break;
            }
        }
        if w.send(&batch[..]).await.is_err() || w.flush().await.is_err() {
            return;
        }
        batch.clear();
    }
}

/// Answers `Get`s on the data port until the other side leaves.
async fn serve_data(mut r: TcpFrameReader, mut w: TcpFrameWriter, shared: &Shared) {
    loop {
        match r.recv::<DataRequest>().await {
            Ok(Some(DataRequest::Get { gids })) => {
                let values = {
                    let held = lock(&shared.held);
                    gids.iter()
                        .map(|g| held.get(g).map(|b| b.as_ref().clone()))
                        .collect()
                };
                if w.send(&DataReply { values }).await.is_err() || w.flush().await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "data connection failed");
                return;
            }
        }
    }
}

/// One reusable connection to a data port (`None` until made, or after
/// it failed).
type PeerConn = Arc<tokio::sync::Mutex<Option<(TcpFrameReader, TcpFrameWriter)>>>;

/// Connections to other workers' data ports, one per address, reused.
pub(crate) struct Peers {
    wire: WireConfig,
    conns: Mutex<HashMap<String, PeerConn>>,
}

impl Peers {
    pub(crate) fn new(wire: WireConfig) -> Peers {
        Peers {
            wire,
            conns: Mutex::new(HashMap::new()),
        }
    }

    /// The encodings of `gids` from the worker at `addr` (`None` for any it
    /// does not hold); `Err` if it cannot be reached.
    pub(crate) async fn get(
        &self,
        addr: &str,
        gids: Vec<Gid>,
    ) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let conn = lock(&self.conns)
            .entry(addr.to_owned())
            .or_default()
            .clone();
        let mut c = conn.lock().await;
        if c.is_none() {
            *c = Some(connect_tcp(addr, &self.wire, Role::Peer).await?);
        }
        let result = async {
            let Some((r, w)) = c.as_mut() else {
                return Err(Error::Disconnected);
            };
            let n = gids.len();
            w.send(&DataRequest::Get { gids }).await?;
            w.flush().await?;
            match r.recv::<DataReply>().await? {
                Some(reply) if reply.values.len() == n => Ok(reply.values),
                Some(_) => Err(Error::Refused(
                    "a data reply of the wrong length".to_owned(),
                )),
                None => Err(Error::Disconnected),
            }
        }
        .await;
        if result.is_err() {
            *c = None;
        }
        result
    }

    async fn fetch(&self, addr: &str, gid: Gid) -> Option<Vec<u8>> {
        match self.get(addr, vec![gid]).await {
            Ok(mut v) => v.pop().flatten(),
            Err(e) => {
                tracing::warn!(%addr, error = %e, "could not fetch a value from a peer");
                None
            }
        }
    }
}
