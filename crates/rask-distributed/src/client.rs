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
    Event, Executor, External, ExternalValue, Persisted, PlanOptions, Remote, Run, TaskError,
    TaskErrorKind, TaskId, Value, WorkerId,
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

mod coord;

const HERE: WorkerId = WorkerId::CLIENT;
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

    /// How a constant travels: in the graph when small, else kept here.
    fn literal(&self, bytes: Vec<u8>, kept: &mut Vec<Gid>) -> Result<ArgSpec, String> {
        if bytes.len() <= LITERAL_MAX {
            return Ok(ArgSpec::Lit(bytes));
        }
        let addr = self.data_addr()?;
        let gid = Gid(self.next_held.fetch_add(1, Ordering::Relaxed));
        let value = Bytes::write(bytes.len(), self.local, |b| {
            rask_core::copy_bytes(b, &bytes);
            Ok(())
        })?;
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

/// Why a run could not be shipped.
enum Refusal {
    /// An option that cannot apply on workers (`NotSupported`).
    Unsupported(String),
    /// Anything else (a constant that does not encode, no data port).
    Failed(String),
}

impl From<String> for Refusal {
    fn from(s: String) -> Refusal {
        Refusal::Failed(s)
    }
}

/// How a run's tasks were described to the scheduler.
struct Shipped {
    /// Plan task -> index in the submitted graph (`u32::MAX`: a constant,
    /// settled here).
    local: Vec<u32>,
    /// Submitted index -> plan task.
    plan: Vec<TaskId>,
    /// Values kept here for this graph.
    kept: Vec<Gid>,
}

impl Connection {
    fn ship(&self, run: &Run, graph: GraphNo) -> Result<(FromClient, Shipped), Refusal> {
        let plan = run.plan();
        let n = plan.len();
        let mut funcs: Vec<String> = Vec::new();
        let mut fidx: HashMap<&'static str, u32> = HashMap::new();
        let mut lits: Vec<Option<ArgSpec>> = (0..n).map(|_| None).collect();
        let mut local = vec![u32::MAX; n];
        let mut order = Vec::new();
        let mut tasks = Vec::new();
        let mut kept = Vec::new();
        for i in 0..n {
            let t = TaskId(i as u32);
            let body = plan.node(t).body();
            // A future's value: used where it lives when this connection
            // persisted it, else taken here and sent as a constant (or, if
            // the future failed, its dependents fail here).
            if let Some(ext) = body.external() {
                if let Some(p) = ext.persisted().filter(|p| p.owner == self.id) {
                    lits[i] = Some(ArgSpec::Ext {
                        graph: p.graph,
                        task: p.task,
                    });
                    continue;
                }
                lits[i] = Some(match ext.value() {
                    Ok(v) => {
                        let codec = rask_core::codec_of(&v).ok_or_else(|| {
                            format!(
                                "the value of future `{}` cannot be sent to workers: no \
                                 function registered with #[rask::task] takes its type",
                                plan.key(t)
                            )
                        })?;
                        let mut b = Vec::new();
                        (codec.encode)(&v, &mut b)
                            .map_err(|e| format!("future `{}`: {e}", plan.key(t)))?;
                        self.literal(b, &mut kept)?
                    }
                    Err(e) => ArgSpec::Failed(e.to_string()),
                });
                continue;
            }
            // A constant: its codec, or the one registered for its type.
            if let Some(v) = body.constant() {
                let codec = match body.remote() {
                    Some(Remote::Literal(c)) => Some(c),
                    _ => rask_core::codec_of(v),
                };
                if let Some(codec) = codec {
                    let mut b = Vec::new();
                    (codec.encode)(v, &mut b)
                        .map_err(|e| format!("constant `{}`: {e}", plan.key(t)))?;
                    lits[i] = Some(self.literal(b, &mut kept)?);
                    continue;
                }
            }
            let func = match body.remote() {
                Some(Remote::Call(reg)) => *fidx.entry(reg.name).or_insert_with(|| {
                    funcs.push(reg.name.to_owned());
                    funcs.len() as u32 - 1
                }),
                _ => NO_FUNC,
            };
            let args = plan
                .deps(t)
                .iter()
                .map(|d| match &lits[d.index()] {
                    Some(a) => a.clone(),
                    None => ArgSpec::Dep(local[d.index()]),
                })
                .collect();
            local[i] = tasks.len() as u32;
            order.push(t);
            let opts = match body.options() {
                Some(o) if o.retry_if.is_some() => {
                    return Err(Refusal::Unsupported(format!(
                        "its `retry_if` is a closure, which cannot reach the scheduler; \
                         use `retry_on` with the kinds of failure to retry (task `{}`)",
                        plan.key(t)
                    )))
                }
                Some(o) if !o.is_default() => Some(Box::new(crate::proto::TaskOpts {
                    priority: o.priority,
                    retries: o.retries,
                    retry_on: o.retry_on.0,
                    timeout_ms: o.timeout.map_or(0, |d| (d.as_millis() as u64).max(1)),
                    resources: o.resources.clone(),
                    workers: o.workers.clone(),
                })),
                _ => None,
            };
            let part = match body.remote() {
                Some(Remote::Part { index, .. }) => {
                    let vector = plan.deps(t).first().copied();
                    if vector.is_none_or(|v| lits[v.index()].is_some()) {
                        return Err(Refusal::Unsupported(format!(
                            "part `{}` is of a vector that no worker makes (a constant): \
                             split the vector before making it a value",
                            plan.key(t)
                        )));
                    }
                    Some(index)
                }
                _ => None,
            };
            tasks.push(TaskSpec {
                func,
                args,
                opts,
                part,
            });
        }
        let mut outputs: Vec<u32> = plan
            .outputs()
            .iter()
            .map(|o| local[o.index()])
            .filter(|&l| l != u32::MAX)
            .collect();
        outputs.sort_unstable();
        outputs.dedup();
        Ok((
            FromClient::Submit {
                graph,
                funcs,
                tasks,
                outputs,
                events: run.events().is_some(),
            },
            Shipped {
                local,
                plan: order,
                kept,
            },
        ))
    }
}

fn task_error(run: &Run, t: TaskId, attempt: u32, failure: &Failure) -> TaskError {
    failure.to_task_error(run.plan().key(t).clone(), attempt)
}

/// Settles every task of `run` with the same error (the graph could not run).
fn fail_all(run: &Run, kind: TaskErrorKind, message: &str) {
    for i in 0..run.plan().len() {
        let t = TaskId(i as u32);
        // SAFETY: tasks in ascending (topological) order, each once: every
        // dependency is resolved before its dependent's inputs are taken.
        let e = match unsafe { run.take_inputs(t, HERE) } {
            Err(e) => e,
            Ok(_) => TaskError {
                key: run.plan().key(t).clone(),
                kind: kind.clone(),
                message: message.to_owned(),
                backtrace: None,
                attempt: 1,
                cause: None,
            },
        };
        // SAFETY: as above; `t`'s inputs were just taken.
        unsafe { run.resolve(t, Err(e), HERE, None, |_| {}) };
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

/// A run sent to the scheduler.
struct Sent {
    graph: GraphNo,
    shipped: Shipped,
    rx: std_mpsc::Receiver<ToClient>,
}

/// A persisted run on its way ([`Connection::persist`]).
pub struct Persisting {
    conn: Arc<Connection>,
    run: Arc<Run>,
    sent: Option<Sent>,
}

impl std::fmt::Debug for Persisting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persisting").finish_non_exhaustive()
    }
}

impl Persisting {
    /// Waits for the run and settles it (its run is then complete).
    pub fn finish(self) {
        if let Some(sent) = self.sent {
            self.conn.finish(&self.run, sent, Some(&self.conn));
        }
    }
}

/// A run described for the scheduler, not yet sent ([`Connection::prepare`]).
pub struct Prepared {
    graph: GraphNo,
    shipped: Result<(FromClient, Shipped), Refusal>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("graph", &self.graph)
            .finish_non_exhaustive()
    }
}

/// A persisted graph: released on the scheduler (and its constants held
/// here forgotten) when the last of its outputs' handles goes.
struct Kept {
    conn: Arc<Connection>,
    graph: GraphNo,
    /// The graph's messages (its outputs announced again after a loss).
    rx: Mutex<std_mpsc::Receiver<ToClient>>,
    /// Constants held here for it (lineage may need them again).
    held: Vec<Gid>,
}

impl Drop for Kept {
    fn drop(&mut self) {
        lock(&self.conn.routes).remove(&self.graph);
        let _ = self.conn.send(FromClient::Release { graph: self.graph });
        self.conn.forget(&self.held);
    }
}

/// One persisted output: where it is, and its value once fetched here.
struct RemoteOutput {
    kept: Arc<Kept>,
    task: u32,
    codec: &'static rask_core::Codec,
    located: Mutex<Located>,
    decoded: std::sync::OnceLock<Value>,
}

impl RemoteOutput {
    fn fetch(&self) -> Result<Value, String> {
        let conn = &self.kept.conn;
        for _ in 0..3 {
            let loc = lock(&self.located).clone();
            let got = match &loc {
                Located::Inline(b) => Some(b.clone()),
                Located::At { gid, addr } => {
                    match conn.rt.block_on(conn.peers.get(addr, vec![*gid])) {
                        Ok(mut v) => v.pop().flatten().map(|b| b.as_slice().to_vec()),
                        Err(e) => {
                            tracing::warn!(%addr, error = %e, "could not fetch a persisted value");
                            None
                        }
                    }
                }
            };
            if let Some(bytes) = got {
                return (self.codec.decode)(&bytes).map_err(|e| {
                    format!(
                        "a persisted value could not be read as a `{}`: {e}",
                        (self.codec.type_name)()
                    )
                });
            }
            // Lost with its worker: wait for the scheduler to make it again.
            let rx = lock(&self.kept.rx);
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(ToClient::Finished {
                        task,
                        value: Some(v),
                        ..
                    }) if task == self.task => {
                        *lock(&self.located) = v;
                        break;
                    }
                    // Copied off a worker being retired.
                    Ok(ToClient::Moved { task, value, .. }) if task == self.task => {
                        *lock(&self.located) = value;
                        break;
                    }
                    Ok(ToClient::Erred { task, failure, .. }) if task == self.task => {
                        return Err(format!(
                            "a persisted value was lost and could not be made again: {failure:?}"
                        ));
                    }
                    Ok(_) => {}
                    Err(_) => {
                        return Err(
                            "a persisted value was lost with its worker and not made again in time"
                                .to_owned(),
                        )
                    }
                }
            }
        }
        Err("a persisted value could not be fetched".to_owned())
    }
}

impl External for RemoteOutput {
    fn value(&self) -> Result<Value, Arc<TaskError>> {
        if let Some(v) = self.decoded.get() {
            return Ok(v.clone());
        }
        let v = self.fetch().map_err(|message| {
            Arc::new(TaskError {
                key: rask_core::Key::new("persisted"),
                kind: TaskErrorKind::Failed,
                message,
                backtrace: None,
                attempt: 1,
                cause: None,
            })
        })?;
        Ok(self.decoded.get_or_init(|| v).clone())
    }

    fn wait(&self) -> Result<(), Arc<TaskError>> {
        Ok(())
    }

    fn persisted(&self) -> Option<Persisted> {
        Some(Persisted {
            owner: self.kept.conn.id,
            graph: self.kept.graph,
            task: self.task,
        })
    }
}

type Outcome = (
    HashMap<u32, Value>,
    HashMap<u32, (u32, Failure)>,
    HashMap<u32, Located>,
);

impl Connection {
    /// Drops the values kept here for a graph.
    fn forget(&self, kept: &[Gid]) {
        if kept.is_empty() {
            return;
        }
        let mut held = lock(&self.held.values);
        for g in kept {
            held.remove(g);
        }
    }

    /// Waits for the graph's outcome (emitting its events as they come) and
    /// fetches its outputs.
    fn collect(
        &self,
        run: &Run,
        shipped: &Shipped,
        rx: &std_mpsc::Receiver<ToClient>,
        fetch: bool,
    ) -> Result<Outcome, String> {
        let closed = || {
            format!(
                "the connection to the scheduler at {} closed during the run",
                self.addr
            )
        };
        let mut at: HashMap<u32, (Gid, String)> = HashMap::new();
        let mut erred: HashMap<u32, (u32, Failure)> = HashMap::new();
        let mut values: HashMap<u32, Value> = HashMap::new();
        let mut located: HashMap<u32, Located> = HashMap::new();
        let mut started: HashMap<u32, Instant> = HashMap::new();
        let mut done = false;
        let events = run.events();
        loop {
            // Take everything that arrived; block only when nothing to do.
            let first = if done && at.is_empty() {
                break;
            } else if done {
                rx.recv_timeout(Duration::from_millis(0)).ok()
            } else {
                Some(rx.recv().map_err(|_| closed())?)
            };
            for m in first.into_iter().chain(rx.try_iter()) {
                match m {
                    ToClient::Started {
                        task,
                        worker,
                        thread,
                        attempt,
                        ..
                    } => {
                        let now = Instant::now();
                        if let (Some(ev), Some(&t)) = (events, shipped.plan.get(task as usize)) {
                            started.insert(task, now);
                            ev.emit(&Event::TaskStarted {
                                run: run.id(),
                                task: t,
                                key: run.plan().key(t),
                                worker: WorkerId(worker),
                                thread,
                                attempt,
                                at: now,
                            });
                        }
                    }
                    ToClient::Finished {
                        task,
                        worker,
                        thread,
                        attempt,
                        micros,
                        nbytes,
                        value,
                        ..
                    } => {
                        if let (Some(ev), Some(&t)) = (events, shipped.plan.get(task as usize)) {
                            let finished = Instant::now();
                            let started = started.remove(&task).unwrap_or_else(|| {
                                finished
                                    .checked_sub(Duration::from_micros(micros))
                                    .unwrap_or(finished)
                            });
                            ev.emit(&Event::TaskFinished {
                                run: run.id(),
                                task: t,
                                key: run.plan().key(t),
                                worker: WorkerId(worker),
                                thread,
                                attempt,
                                started,
                                finished,
                                nbytes: Some(nbytes),
                            });
                        }
                        match value {
                            Some(loc) if !fetch => {
                                located.insert(task, loc);
                            }
                            Some(Located::Inline(b)) => {
                                values.insert(task, decode(run, shipped, task, &b)?);
                                at.remove(&task);
                            }
                            Some(Located::At { gid, addr }) if !values.contains_key(&task) => {
                                at.insert(task, (gid, addr));
                            }
                            Some(Located::At { .. }) | None => {}
                        }
                    }
                    ToClient::Retrying {
                        task,
                        attempt,
                        failure,
                        ..
                    } => {
                        if let (Some(ev), Some(&t)) = (events, shipped.plan.get(task as usize)) {
                            let e = task_error(run, t, attempt, &failure);
                            ev.emit(&Event::TaskRetrying {
                                run: run.id(),
                                task: t,
                                error: &e,
                                worker: HERE,
                                at: Instant::now(),
                            });
                        }
                    }
                    ToClient::Erred {
                        task,
                        attempt,
                        failure,
                        ..
                    } => {
                        if let (Some(ev), Some(&t)) = (events, shipped.plan.get(task as usize)) {
                            let e = task_error(run, t, attempt, &failure);
                            ev.emit(&Event::TaskFailed {
                                run: run.id(),
                                task: t,
                                error: &e,
                                worker: HERE,
                                at: Instant::now(),
                            });
                        }
                        erred.insert(task, (attempt, failure));
                    }
                    ToClient::GraphDone { .. } => done = true,
                    // Copied off a worker being retired: fetch it there.
                    ToClient::Moved { task, value, .. } => match value {
                        loc if !fetch => {
                            located.insert(task, loc);
                        }
                        Located::At { gid, addr } if !values.contains_key(&task) => {
                            at.insert(task, (gid, addr));
                        }
                        _ => {}
                    },
                    ToClient::Refused { why, .. } => {
                        return Err(format!("the scheduler refused the graph: {why}"))
                    }
                    ToClient::Var { .. }
                    | ToClient::WorkerJoined { .. }
                    | ToClient::WorkerLost { .. }
                    | ToClient::WorkerSample { .. }
                    | ToClient::Coord(_) => {}
                }
            }
            if !done || at.is_empty() || !fetch {
                if done && !fetch {
                    break;
                }
                continue;
            }
            // Fetch what is known, by holder.
            let mut by_addr: HashMap<String, Vec<(u32, Gid)>> = HashMap::new();
            for (&task, (gid, addr)) in &at {
                by_addr.entry(addr.clone()).or_default().push((task, *gid));
            }
            let mut lost = false;
            for (addr, items) in by_addr {
                let gids: Vec<Gid> = items.iter().map(|x| x.1).collect();
                let got = self.rt.block_on(self.peers.get(&addr, gids));
                match got {
                    Ok(bytes) => {
                        for ((task, _), b) in items.into_iter().zip(bytes) {
                            at.remove(&task);
                            match b {
                                Some(b) => {
                                    values.insert(task, decode(run, shipped, task, b.as_slice())?);
                                }
                                // Gone from that worker: announced again once recomputed.
                                None => lost = true,
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(%addr, error = %e, "could not fetch outputs; waiting for them to be recomputed");
                        for (task, _) in items {
                            at.remove(&task);
                        }
                        lost = true;
                    }
                }
            }
            if lost {
                // Wait for the scheduler to notice and announce them again.
                done = false;
                match rx.recv_timeout(Duration::from_secs(60)) {
                    Ok(m) => {
                        if let ToClient::Finished {
                            task,
                            value: Some(Located::At { gid, addr }),
                            ..
                        }
                        | ToClient::Moved {
                            task,
                            value: Located::At { gid, addr },
                            ..
                        } = m
                        {
                            at.insert(task, (gid, addr));
                        } else if let ToClient::GraphDone { .. } = m {
                            done = true;
                        }
                    }
                    Err(_) => {
                        return Err(
                            "outputs were lost with their worker and not recomputed in time"
                                .to_owned(),
                        )
                    }
                }
            }
        }
        Ok((values, erred, located))
    }
}

/// Decodes output `task` with the codec of its function's result.
fn decode(run: &Run, shipped: &Shipped, task: u32, bytes: &[u8]) -> Result<Value, String> {
    let t = *shipped
        .plan
        .get(task as usize)
        .ok_or_else(|| format!("the scheduler named task {task}, which this graph lacks"))?;
    let codec = run
        .plan()
        .node(t)
        .body()
        .remote()
        .map(|r| r.output())
        .ok_or("internal error: an output without a codec")?;
    (codec.decode)(bytes).map_err(|e| {
        format!(
            "output `{}` could not be read as a `{}`: {e}",
            run.plan().key(t),
            (codec.type_name)()
        )
    })
}

/// Settles the run in task order (see the module docs); the run is quiet,
/// so the failures of tasks whose dependency failed are emitted here (the
/// scheduler reports only the tasks that failed themselves).
fn settle(
    run: &Run,
    shipped: &Shipped,
    mut values: HashMap<u32, Value>,
    erred: HashMap<u32, (u32, Failure)>,
) {
    let plan = run.plan();
    for i in 0..plan.len() {
        let t = TaskId(i as u32);
        let l = shipped.local[i];
        if l == u32::MAX {
            // A future's value that this run does not return: waited for,
            // not fetched here (its dependents used it where it lives).
            if let (Some(ext), false) = (plan.node(t).body().external(), plan.is_output(t)) {
                let r = ext
                    .wait()
                    .map(|()| Arc::new(()) as Value)
                    .map_err(|e| (*e).clone());
                // SAFETY: tasks in ascending (topological) order, each
                // once; an external node has no dependencies.
                unsafe {
                    let _ = run.take_inputs(t, HERE);
                    run.resolve(t, r, HERE, None, |_| {});
                }
                continue;
            }
            // SAFETY: tasks in ascending (topological) order, each once.
            unsafe { run.execute(t, HERE, |_| {}) };
            continue;
        }
        // SAFETY: as above.
        let result = match unsafe { run.take_inputs(t, HERE) } {
            Err(e) => {
                if let Some(ev) = run.events() {
                    ev.emit(&Event::TaskFailed {
                        run: run.id(),
                        task: t,
                        error: &e,
                        worker: HERE,
                        at: Instant::now(),
                    });
                }
                Err(e)
            }
            Ok(_) => match erred.get(&l) {
                Some((attempt, f)) => Err(task_error(run, t, *attempt, f)),
                None => match values.remove(&l) {
                    Some(v) => Ok(v),
                    None if plan.is_output(t) => Err(TaskError {
                        key: plan.key(t).clone(),
                        kind: TaskErrorKind::Failed,
                        message: "internal error: the scheduler finished without this output"
                            .to_owned(),
                        backtrace: None,
                        attempt: 1,
                        cause: None,
                    }),
                    None => Ok(Arc::new(()) as Value),
                },
            },
        };
        // SAFETY: `t`'s inputs were just taken; resolved once.
        unsafe { run.resolve(t, result, HERE, None, |_| {}) };
    }
}
