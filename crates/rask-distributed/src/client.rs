//! The client side: a connection to a scheduler that runs graphs
//! ([`Connection`] is an [`Executor`]), over TCP or, for a scheduler in this
//! process, over channels.
//!
//! A run is shipped whole: every task of the plan becomes a [`TaskSpec`]
//! naming its registered function. Constants travel inside their consumers'
//! specs when small; a big one is kept here and served on this client's own
//! data port (`ArgSpec::At`), so no value goes through the scheduler. A
//! closure is sent as not runnable and fails there with `NotRegistered`, so
//! the rest of the graph still runs.
//!
//! While the graph runs, the scheduler reports each task's start, end and
//! failure when the run has subscribers (`events`), and they are emitted at
//! once: a progress bar moves during a cluster run. Once the scheduler says
//! `GraphDone`, the outputs are fetched (small ones came inline), and the
//! [`Run`] is settled in task order, quietly (its events went out live):
//! failures and their dependents exactly as on every other executor,
//! outputs with their values, everything else with a placeholder nobody
//! reads. An output whose worker died before it was fetched is recomputed by
//! the scheduler and announced again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rask_core::{
    Event, EventSink, Executor, External, ExternalValue, Persisted, PlanOptions, Remote, Run,
    TaskError, TaskErrorKind, TaskId, Value, WorkerId,
};
use tokio::sync::mpsc;

use crate::bytes::Bytes;
use crate::data::Peers;
use crate::local::data::Holder;
use crate::proto::{
    ArgSpec, Failure, FromClient, Gid, GraphNo, Located, TaskSpec, ToClient, NO_FUNC,
};
use crate::scheduler::LocalClient;
use crate::wire::{connect_tcp, Role, WireConfig};
use crate::Error;

mod collect;
mod coord;
mod persist;
mod ship;

use collect::*;
use persist::*;
pub use persist::{Persisting, Prepared};
use ship::*;

const HERE: WorkerId = WorkerId::CLIENT;
/// Why a run of an abandoned connection failed ([`Connection::abandon`]).
const ABANDONED: &str =
    "the client was dropped or shut down during the run: its graph was released on the scheduler";
/// Constants up to this size travel inside the graph.
const LITERAL_MAX: usize = 64 * 1024;

type Routes = Arc<Mutex<HashMap<GraphNo, std_mpsc::Sender<ToClient>>>>;
type VarWaiters = Arc<Mutex<HashMap<String, Vec<std_mpsc::Sender<Option<Vec<u8>>>>>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How messages reach the scheduler.
enum Link {
    Tcp(mpsc::UnboundedSender<Vec<FromClient>>),
    Local(
        crate::core::ClientIx,
        mpsc::UnboundedSender<crate::scheduler::Event>,
    ),
}

/// Connection numbers, process-wide (see [`Persisted`]).
static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

/// Values this client holds for its graphs (big constants), served on its
/// data port.
#[derive(Default)]
struct Held {
    values: Mutex<HashMap<Gid, Bytes>>,
}

impl Holder for Held {
    fn get(&self, gid: Gid) -> Option<Bytes> {
        lock(&self.values).get(&gid).cloned()
    }
}

/// A connection to a scheduler; runs graphs on its workers.
pub struct Connection {
    rt: tokio::runtime::Runtime,
    link: Link,
    routes: Routes,
    vars: VarWaiters,
    next: AtomicU64,
    peers: Arc<Peers>,
    alive: Arc<AtomicBool>,
    addr: String,
    wire: WireConfig,
    held: Arc<Held>,
    /// This client's data port, made on first use.
    data_addr: Mutex<Option<String>>,
    /// Big values live in shared memory (a local scheduler).
    local: bool,
    next_held: AtomicU64,
    id: u64,
    /// Sinks of worker news (`watch.rs`).
    pub(crate) watchers: crate::watch::Watchers,
    /// Coordination requests in flight (`client/coord.rs`).
    coord: Arc<crate::coord::Pending>,
    next_coord: AtomicU64,
    /// Set by [`Connection::abandon`]: no graph is wanted any more.
    abandoned: AtomicBool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("scheduler", &self.addr)
            .finish()
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("rask-client-net")
        .enable_all()
        .build()?)
}

impl Connection {
    /// Connects to the scheduler at `addr` (`host:port`). Without a secret
    /// in `wire`, uses the one a scheduler on this machine wrote for that
    /// port ([`WireConfig::or_local_secret`]).
    pub fn connect(addr: &str, wire: WireConfig) -> Result<Connection, Error> {
        let wire = wire.or_local_secret(addr)?;
        let rt = runtime()?;
        let (mut r, mut w) = rt.block_on(connect_tcp(addr, &wire, Role::Client))?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<FromClient>>();
        rt.spawn(async move {
            while let Some(batch) = rx.recv().await {
                if w.send(&batch[..]).await.is_err() || w.flush().await.is_err() {
                    return;
                }
            }
        });
        let c = Self::new(rt, Link::Tcp(tx), addr.to_owned(), wire, false);
        let (routes, vars, alive) = (c.routes.clone(), c.vars.clone(), c.alive.clone());
        let watchers = c.watchers.clone();
        let coord = c.coord.clone();
        c.rt.spawn(async move {
            while let Ok(Some(batch)) = r.recv::<Vec<ToClient>>().await {
                for m in batch {
                    route(m, &routes, &vars, &watchers, &coord);
                }
            }
            closed(&routes, &vars, &alive);
            coord.close();
        });
        Ok(c)
    }

    /// A connection to a scheduler in this process.
    pub(crate) fn local(client: LocalClient, wire: WireConfig) -> Result<Connection, Error> {
        let LocalClient {
            ix,
            tx,
            rx: mut from,
        } = client;
        let c = Self::new(
            runtime()?,
            Link::Local(ix, tx),
            "local".to_owned(),
            wire,
            true,
        );
        let (routes, vars, alive) = (c.routes.clone(), c.vars.clone(), c.alive.clone());
        let watchers = c.watchers.clone();
        let coord = c.coord.clone();
        c.rt.spawn(async move {
            while let Some(batch) = from.recv().await {
                for m in batch {
                    route(m, &routes, &vars, &watchers, &coord);
                }
            }
            closed(&routes, &vars, &alive);
            coord.close();
        });
        Ok(c)
    }

    fn new(
        rt: tokio::runtime::Runtime,
        link: Link,
        addr: String,
        wire: WireConfig,
        local: bool,
    ) -> Connection {
        Connection {
            rt,
            link,
            routes: Arc::default(),
            vars: Arc::default(),
            next: AtomicU64::new(1),
            peers: Arc::new(Peers::new(wire.clone())),
            alive: Arc::new(AtomicBool::new(true)),
            addr,
            wire,
            held: Arc::default(),
            data_addr: Mutex::new(None),
            local,
            next_held: AtomicU64::new(1),
            id: NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed),
            watchers: Arc::default(),
            coord: Arc::default(),
            next_coord: AtomicU64::new(1),
            abandoned: AtomicBool::new(false),
        }
    }

    /// Sets the shared variable `name` (kept by the scheduler).
    pub fn set_var<T: serde::Serialize>(&self, name: &str, value: &T) -> Result<(), Error> {
        let value = rask_core::format::to_vec(value).map_err(|e| Error::Config(e.to_string()))?;
        self.send(FromClient::SetVar {
            name: name.to_owned(),
            value,
        })
    }

    /// Reads the shared variable `name` (`None`: not set).
    pub fn get_var<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>, Error> {
        let (tx, rx) = std_mpsc::channel();
        lock(&self.vars)
            .entry(name.to_owned())
            .or_default()
            .push(tx);
        self.send(FromClient::GetVar {
            name: name.to_owned(),
        })?;
        match rx.recv() {
            Ok(Some(b)) => rask_core::format::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::Config(format!("variable `{name}`: {e}"))),
            Ok(None) => Ok(None),
            Err(_) => Err(Error::Disconnected),
        }
    }

    pub(crate) fn send(&self, m: FromClient) -> Result<(), Error> {
        if !self.alive.load(Ordering::SeqCst) {
            return Err(Error::Disconnected);
        }
        match &self.link {
            Link::Tcp(tx) => tx.send(vec![m]).map_err(|_| Error::Disconnected),
            Link::Local(ix, tx) => tx
                .send(crate::scheduler::Event::Client(*ix, vec![m]))
                .map_err(|_| Error::Disconnected),
        }
    }

    /// This client's data port (made on first use).
    fn data_addr(&self) -> Result<String, String> {
        let mut slot = lock(&self.data_addr);
        if let Some(a) = &*slot {
            return Ok(a.clone());
        }
        let addr = if self.local {
            let (listener, addr) =
                crate::local::data::listen().map_err(|e| format!("no data socket: {e}"))?;
            crate::local::data::serve(listener, self.held.clone())
                .map_err(|e| format!("no data thread: {e}"))?;
            addr
        } else {
            let host = self
                .addr
                .parse::<std::net::SocketAddr>()
                .map(|a| a.ip())
                .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
            let listener = self
                .rt
                .block_on(crate::wire::listen(
                    std::net::SocketAddr::new(host, 0),
                    &self.wire,
                ))
                .map_err(|e| format!("no data port: {e}"))?;
            let addr = listener
                .local_addr()
                .map_err(|e| e.to_string())?
                .to_string();
            let (held, cfg) = (self.held.clone(), self.wire.clone());
            self.rt.spawn(async move {
                loop {
                    let (stream, _) = crate::wire::accept_next(&listener).await;
                    let (held, cfg) = (held.clone(), cfg.clone());
                    tokio::spawn(async move {
                        if let Ok((_, r, w)) = crate::wire::accept_tcp(stream, &cfg).await {
                            crate::data::serve_tcp(r, w, &*held).await;
                        }
                    });
                }
            });
            addr
        };
        *slot = Some(addr.clone());
        Ok(addr)
    }

    /// How a constant travels: in the graph when small, else kept here
    /// ([`Bytes::encode`]: a vector of numbers is written straight there).
    fn literal(
        &self,
        codec: &rask_core::Codec,
        v: &rask_core::Value,
        kept: &mut Vec<Gid>,
    ) -> Result<ArgSpec, String> {
        let value = match Bytes::encode(codec, v, LITERAL_MAX, self.local)? {
            Ok(bytes) => return Ok(ArgSpec::Lit(bytes)),
            Err(value) => value,
        };
        let addr = self.data_addr()?;
        let gid = Gid(self.next_held.fetch_add(1, Ordering::Relaxed));
        lock(&self.held.values).insert(gid, value);
        kept.push(gid);
        Ok(ArgSpec::At { gid, addr })
    }
}

fn closed(routes: &Routes, vars: &VarWaiters, alive: &AtomicBool) {
    alive.store(false, Ordering::SeqCst);
    // Dropping the senders wakes every waiting run with an error.
    lock(routes).clear();
    lock(vars).clear();
}

fn route(
    m: ToClient,
    routes: &Routes,
    vars: &VarWaiters,
    watchers: &crate::watch::Watchers,
    coord: &crate::coord::Pending,
) {
    let m = match m {
        ToClient::Coord(reply) => return coord.answer(reply),
        m => m,
    };
    let graph = match &m {
        ToClient::Started { graph, .. }
        | ToClient::Finished { graph, .. }
        | ToClient::Retrying { graph, .. }
        | ToClient::Erred { graph, .. }
        | ToClient::GraphDone { graph }
        | ToClient::Moved { graph, .. }
        | ToClient::Refused { graph, .. } => *graph,
        ToClient::Var { name, value } => {
            if let Some(ws) = lock(vars).remove(name) {
                for w in ws {
                    let _ = w.send(value.clone());
                }
            }
            return;
        }
        ToClient::WorkerJoined { .. }
        | ToClient::WorkerLost { .. }
        | ToClient::WorkerSample { .. } => {
            crate::watch::deliver(&m, watchers);
            return;
        }
        ToClient::Coord(_) => return,
    };
    if let Some(tx) = lock(routes).get(&graph) {
        let _ = tx.send(m);
    }
}

impl Executor for Connection {
    fn name(&self) -> &'static str {
        if self.local {
            "processes"
        } else {
            "distributed"
        }
    }

    fn workers(&self) -> usize {
        1
    }

    fn plan_options(&self) -> PlanOptions {
        PlanOptions { fuse: false }
    }

    fn execute(&self, run: &Arc<Run>) {
        self.run_graph(run, None);
    }
}

impl Connection {
    /// Gives up every graph in flight and any sent later: the client
    /// that owns this connection was dropped or shut down, and nobody will
    /// read their results. Each run fails at once (`ABANDONED`), and its
    /// driver sends `Release`, so the scheduler takes back the graph's
    /// queued tasks, forgets the rest and frees its values (those another
    /// graph still uses stay), as when a client's connection drops. Values
    /// already persisted stay while their futures live.
    pub fn abandon(&self) {
        self.abandoned.store(true, Ordering::Release);
        // The drivers wait on these: dropping them wakes every one.
        lock(&self.routes).clear();
    }

    /// This connection's number in the process (see [`Persisted`]).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Describes `run` for the scheduler (the first step of running it).
    pub fn prepare(&self, run: &Run) -> Prepared {
        let graph = self.next.fetch_add(1, Ordering::Relaxed);
        Prepared {
            graph,
            shipped: self.ship(run, graph),
        }
    }

    /// Where task `t` of a prepared run will live if the run is persisted
    /// (`None` for a task that is not sent to the workers: a constant).
    pub fn location(&self, p: &Prepared, t: TaskId) -> Option<Persisted> {
        let (_, shipped) = p.shipped.as_ref().ok()?;
        let local = *shipped.local.get(t.index())?;
        (local != u32::MAX).then_some(Persisted {
            owner: self.id,
            graph: p.graph,
            task: local,
        })
    }

    /// Sends a prepared run whose outputs stay on the workers; the returned
    /// handle waits for it ([`Persisting::finish`]). Its outputs settle as
    /// [`ExternalValue`]s (a persisted output each), and the graph stays on
    /// the scheduler until the last of them is dropped. Later graphs of this
    /// connection use them where they are (`ArgSpec::Ext`): they may be
    /// submitted as soon as this returns.
    pub fn persist(self: &Arc<Self>, run: &Arc<Run>, prepared: Prepared) -> Persisting {
        Persisting {
            conn: self.clone(),
            run: run.clone(),
            sent: self.send_prepared(run, prepared),
        }
    }

    /// Ships, runs and settles `run`.
    fn run_graph(&self, run: &Arc<Run>, keep: Option<&Arc<Connection>>) {
        let p = self.prepare(run);
        if let Some(sent) = self.send_prepared(run, p) {
            self.finish(run, sent, keep);
        }
    }

    /// Sends a prepared run; `None` if it could not be (then it is settled
    /// with the error).
    fn send_prepared(&self, run: &Run, p: Prepared) -> Option<Sent> {
        let graph = p.graph;
        let (submit, shipped) = match p.shipped {
            Ok(x) => x,
            Err(Refusal::Unsupported(why)) => {
                fail_all(run, TaskErrorKind::NotSupported, &why);
                return None;
            }
            Err(Refusal::Failed(why)) => {
                fail_all(run, TaskErrorKind::Failed, &why);
                return None;
            }
        };
        let (tx, rx) = std_mpsc::channel();
        lock(&self.routes).insert(graph, tx);
        if self.abandoned.load(Ordering::Acquire) {
            lock(&self.routes).remove(&graph);
            self.forget(&shipped.kept);
            fail_all(run, TaskErrorKind::Failed, ABANDONED);
            return None;
        }
        if self.send(submit).is_err() {
            lock(&self.routes).remove(&graph);
            self.forget(&shipped.kept);
            fail_all(
                run,
                TaskErrorKind::Failed,
                &format!("the connection to the scheduler at {} is closed", self.addr),
            );
            return None;
        }
        Some(Sent { graph, shipped, rx })
    }

    /// Waits for a sent run and settles it; with `keep` (persist), the
    /// outputs stay on the workers.
    fn finish(&self, run: &Arc<Run>, sent: Sent, keep: Option<&Arc<Connection>>) {
        let Sent { graph, shipped, rx } = sent;
        let outcome = self.collect(run, &shipped, &rx, keep.is_none());
        let outcome = match (outcome, keep) {
            (Ok((_, erred, located)), Some(conn)) if erred.is_empty() => {
                let kept = Arc::new(Kept {
                    conn: conn.clone(),
                    graph,
                    rx: Mutex::new(rx),
                    held: shipped.kept.clone(),
                });
                let values = located
                    .into_iter()
                    .filter_map(|(task, loc)| {
                        let t = *shipped.plan.get(task as usize)?;
                        let codec = run.plan().node(t).body().remote()?.output();
                        let out = RemoteOutput {
                            kept: kept.clone(),
                            task,
                            codec,
                            located: Mutex::new(loc),
                            decoded: std::sync::OnceLock::new(),
                        };
                        let ext = ExternalValue(Arc::new(out));
                        Some((task, Arc::new(ext) as Value))
                    })
                    .collect();
                run.set_quiet();
                return settle(run, &shipped, values, HashMap::new());
            }
            (outcome, _) => outcome,
        };
        lock(&self.routes).remove(&graph);
        let _ = self.send(FromClient::Release { graph });
        self.forget(&shipped.kept);
        match outcome {
            Ok((values, erred, _)) => {
                run.set_quiet();
                settle(run, &shipped, values, erred)
            }
            Err(why) => fail_all(run, TaskErrorKind::Failed, &why),
        }
    }
}
