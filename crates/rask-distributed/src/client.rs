//! The client side: a connection to a scheduler that runs graphs
//! ([`Connection`] is an [`Executor`]).
//!
//! A run is shipped whole: every task of the plan becomes a [`TaskSpec`]
//! naming its registered function (constants travel inside their
//! consumers' specs; a closure is sent as "not runnable" and fails there with
//! `NotRegistered`, so the rest of the graph still runs). The scheduler
//! answers with where each output is (`Done`), which tasks failed (`Erred`)
//! and `Finished`; the client fetches the outputs from the workers' data
//! ports (the scheduler never relays data), then settles the [`Run`] in
//! task order: failures and their dependents exactly as on every other
//! executor, outputs with their values, everything else with a placeholder
//! nobody reads. An output whose worker died before it was fetched is
//! recomputed by the scheduler and announced again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;

use rask_core::{
    Executor, PlanOptions, Remote, Run, TaskError, TaskErrorKind, TaskId, Value, WorkerId,
};
use tokio::sync::mpsc;

use crate::proto::{ArgSpec, Failure, FromClient, Gid, GraphNo, TaskSpec, ToClient};
use crate::wire::{connect_tcp, Role, WireConfig};
use crate::worker::Peers;
use crate::Error;

const NO_FUNC: u32 = u32::MAX;
const HERE: WorkerId = WorkerId(u32::MAX);

type Routes = Arc<Mutex<HashMap<GraphNo, std_mpsc::Sender<ToClient>>>>;
type VarWaiters = Arc<Mutex<HashMap<String, Vec<std_mpsc::Sender<Option<Vec<u8>>>>>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A connection to a scheduler; runs graphs on its cluster.
pub struct Connection {
    rt: tokio::runtime::Runtime,
    tx: mpsc::UnboundedSender<Vec<FromClient>>,
    routes: Routes,
    vars: VarWaiters,
    next: AtomicU64,
    peers: Arc<Peers>,
    alive: Arc<AtomicBool>,
    addr: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("scheduler", &self.addr)
            .finish()
    }
}

impl Connection {
    /// Connects to the scheduler at `addr` (`host:port`).
    pub fn connect(addr: &str, wire: WireConfig) -> Result<Connection, Error> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("rask-client-net")
            .enable_all()
            .build()?;
        let (mut r, mut w) = rt.block_on(connect_tcp(addr, &wire, Role::Client))?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<FromClient>>();
        let routes: Routes = Arc::default();
        let vars: VarWaiters = Arc::default();
        let alive = Arc::new(AtomicBool::new(true));
        rt.spawn(async move {
            while let Some(batch) = rx.recv().await {
                if w.send(&batch[..]).await.is_err() || w.flush().await.is_err() {
                    return;
                }
            }
        });
        let (routes2, vars2, alive2) = (routes.clone(), vars.clone(), alive.clone());
        rt.spawn(async move {
            while let Ok(Some(batch)) = r.recv::<Vec<ToClient>>().await {
                for m in batch {
                    route(m, &routes2, &vars2);
                }
            }
            alive2.store(false, Ordering::SeqCst);
            // Dropping the senders wakes every waiting run with an error.
            lock(&routes2).clear();
            lock(&vars2).clear();
        });
        Ok(Connection {
            rt,
            tx,
            routes,
            vars,
            next: AtomicU64::new(1),
            peers: Arc::new(Peers::new(wire)),
            alive,
            addr: addr.to_owned(),
        })
    }

    /// Sets the shared variable `name` (kept by the scheduler).
    pub fn set_var<T: serde::Serialize>(&self, name: &str, value: &T) -> Result<(), Error> {
        let value = bincode::serialize(value).map_err(|e| Error::Config(e.to_string()))?;
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
            Ok(Some(b)) => bincode::deserialize(&b)
                .map(Some)
                .map_err(|e| Error::Config(format!("variable `{name}`: {e}"))),
            Ok(None) => Ok(None),
            Err(_) => Err(Error::Disconnected),
        }
    }

    fn send(&self, m: FromClient) -> Result<(), Error> {
        if !self.alive.load(Ordering::SeqCst) {
            return Err(Error::Disconnected);
        }
        self.tx.send(vec![m]).map_err(|_| Error::Disconnected)
    }
}

fn route(m: ToClient, routes: &Routes, vars: &VarWaiters) {
    let graph = match &m {
        ToClient::Done { graph, .. }
        | ToClient::Erred { graph, .. }
        | ToClient::Finished { graph }
        | ToClient::Refused { graph, .. } => *graph,
        ToClient::Var { name, value } => {
            if let Some(ws) = lock(vars).remove(name) {
                for w in ws {
                    let _ = w.send(value.clone());
                }
            }
            return;
        }
    };
    if let Some(tx) = lock(routes).get(&graph) {
        let _ = tx.send(m);
    }
}

/// How a run's tasks were described to the scheduler.
struct Shipped {
    /// Plan task -> index in the submitted graph (`u32::MAX`: a constant,
    /// settled here).
    local: Vec<u32>,
    /// Submitted index -> plan task.
    plan: Vec<TaskId>,
}

fn ship(run: &Run, graph: GraphNo) -> Result<(FromClient, Shipped), String> {
    let plan = run.plan();
    let n = plan.len();
    let mut funcs: Vec<String> = Vec::new();
    let mut fidx: HashMap<&'static str, u32> = HashMap::new();
    let mut lits: Vec<Option<Vec<u8>>> = vec![None; n];
    let mut local = vec![u32::MAX; n];
    let mut order = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..n {
        let t = TaskId(i as u32);
        let body = plan.node(t).body();
        if let (Some(Remote::Literal(codec)), Some(v)) = (body.remote(), body.constant()) {
            let mut b = Vec::new();
            (codec.encode)(v, &mut b).map_err(|e| format!("constant `{}`: {e}", plan.key(t)))?;
            lits[i] = Some(b);
            continue;
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
                Some(b) => ArgSpec::Lit(b.clone()),
                None => ArgSpec::Dep(local[d.index()]),
            })
            .collect();
        local[i] = tasks.len() as u32;
        order.push(t);
        let hints = body.hints().cloned().unwrap_or_default();
        tasks.push(TaskSpec {
            func,
            args,
            resources: hints.resources,
            workers: hints.workers,
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
        },
        Shipped { local, plan: order },
    ))
}

fn task_error(run: &Run, t: TaskId, failure: &Failure) -> TaskError {
    let (kind, message) = match failure {
        Failure::Panicked(m) => (TaskErrorKind::Panicked, m.clone()),
        Failure::Failed(m) => (TaskErrorKind::Failed, m.clone()),
        Failure::NotRegistered(m) => (TaskErrorKind::NotRegistered, m.clone()),
        Failure::WorkersDied { deaths, last } => (
            TaskErrorKind::WorkerDied {
                worker: u32::MAX,
                how: last.clone(),
            },
            format!(
                "{deaths} workers died while running it (the last: {last}); it is not tried again"
            ),
        ),
    };
    TaskError {
        key: run.plan().key(t).clone(),
        kind,
        message,
        backtrace: None,
        attempt: 1,
        cause: None,
    }
}

/// Settles every task of `run` with the same error (the graph could not run).
fn fail_all(run: &Run, kind: TaskErrorKind, message: &str) {
    for i in 0..run.plan().len() {
        let t = TaskId(i as u32);
        let e = match run.take_inputs(t, HERE) {
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
        run.resolve(t, Err(e), HERE, None, |_| {});
    }
}

impl Executor for Connection {
    fn name(&self) -> &'static str {
        "distributed"
    }

    fn workers(&self) -> usize {
        1
    }

    fn plan_options(&self) -> PlanOptions {
        PlanOptions { fuse: false }
    }

    fn execute(&self, run: &Arc<Run>) {
        let graph = self.next.fetch_add(1, Ordering::Relaxed);
        let (submit, shipped) = match ship(run, graph) {
            Ok(x) => x,
            Err(why) => return fail_all(run, TaskErrorKind::Failed, &why),
        };
        let (tx, rx) = std_mpsc::channel();
        lock(&self.routes).insert(graph, tx);
        if self.send(submit).is_err() {
            lock(&self.routes).remove(&graph);
            return fail_all(
                run,
                TaskErrorKind::Failed,
                "the scheduler connection is closed",
            );
        }
        let outcome = self.collect(run, &shipped, &rx);
        lock(&self.routes).remove(&graph);
        let _ = self.send(FromClient::Release { graph });
        match outcome {
            Ok((values, erred)) => settle(run, &shipped, values, erred),
            Err(why) => fail_all(run, TaskErrorKind::Failed, &why),
        }
    }
}

type Outcome = (HashMap<u32, Value>, HashMap<u32, Failure>);

impl Connection {
    /// Waits for the graph's outcome and fetches its outputs.
    fn collect(
        &self,
        run: &Run,
        shipped: &Shipped,
        rx: &std_mpsc::Receiver<ToClient>,
    ) -> Result<Outcome, String> {
        let closed = || "the scheduler connection closed during the run".to_owned();
        let mut at: HashMap<u32, (Gid, String)> = HashMap::new();
        let mut erred: HashMap<u32, Failure> = HashMap::new();
        let mut values: HashMap<u32, Value> = HashMap::new();
        let mut finished = false;
        loop {
            // Take everything that arrived; block only when nothing to do.
            let first = if finished && at.is_empty() {
                break;
            } else if finished {
                rx.recv_timeout(Duration::from_millis(0)).ok()
            } else {
                Some(rx.recv().map_err(|_| closed())?)
            };
            for m in first.into_iter().chain(rx.try_iter()) {
                match m {
                    ToClient::Done {
                        task, gid, addr, ..
                    } => {
                        if !values.contains_key(&task) {
                            at.insert(task, (gid, addr));
                        }
                    }
                    ToClient::Erred { task, failure, .. } => {
                        erred.insert(task, failure);
                    }
                    ToClient::Finished { .. } => finished = true,
                    ToClient::Refused { why, .. } => {
                        return Err(format!("the scheduler refused the graph: {why}"))
                    }
                    ToClient::Var { .. } => {}
                }
            }
            if !finished {
                continue;
            }
            // Fetch what is known, by worker.
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
                                    let t = shipped.plan[task as usize];
                                    let codec =
                                        run.plan().node(t).body().remote().map(|r| r.output());
                                    let Some(codec) = codec else {
                                        return Err(
                                            "internal error: an output without a codec".to_owned()
                                        );
                                    };
                                    let v = (codec.decode)(&b).map_err(|e| {
                                        format!(
                                            "output `{}` could not be read as a `{}`: {e}",
                                            run.plan().key(t),
                                            (codec.type_name)()
                                        )
                                    })?;
                                    values.insert(task, v);
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
                match rx.recv_timeout(Duration::from_secs(60)) {
                    Ok(m) => {
                        if let ToClient::Done {
                            task, gid, addr, ..
                        } = m
                        {
                            at.insert(task, (gid, addr));
                        }
                        finished = true;
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
        Ok((values, erred))
    }
}

/// Settles the run in task order (see the module docs).
fn settle(
    run: &Run,
    shipped: &Shipped,
    mut values: HashMap<u32, Value>,
    erred: HashMap<u32, Failure>,
) {
    let plan = run.plan();
    for i in 0..plan.len() {
        let t = TaskId(i as u32);
        let l = shipped.local[i];
        if l == u32::MAX {
            run.execute(t, HERE, |_| {});
            continue;
        }
        let result = match run.take_inputs(t, HERE) {
            Err(e) => Err(e),
            Ok(_) => match erred.get(&l) {
                Some(f) => Err(task_error(run, t, f)),
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
        run.resolve(t, result, HERE, None, |_| {});
    }
}
