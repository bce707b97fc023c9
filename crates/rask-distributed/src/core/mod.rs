//! The scheduler's core: the task state machine as plain functions over
//! plain data. No sockets, no clocks, no threads: inputs are method calls
//! (a client's message, a worker's message, a connection lost, the time
//! now), outputs are messages handed to an [`Outbox`]. The server
//! (`scheduler.rs`) and the simulators (`tests.rs`, through a fake transport
//! that encodes every message; `tests/sim.rs`, the seeded fault simulator)
//! drive it the same way.
//!
//! Files: `mod.rs` (the types and the entry points), `graphs.rs` (submitting
//! and releasing graphs), `state.rs` (the transitions), `schedule.rs`
//! (placement, the window, tasks no worker can run), `steal.rs`,
//! `workers.rs` (workers' messages, joins and deaths), `check.rs` (the
//! invariants), `placement.rs` (the policies), `memory.rs` (paused workers,
//! memory samples, root tasks withheld until workers have room), `adapt.rs` (how many
//! workers the work in hand wants: adaptive scaling), `retire.rs`
//! (retiring a worker without losing the values it holds), `coord/` (locks,
//! queues, events, variables... for tasks and clients: a state machine of
//! its own, fed the `Coord` messages and told when workers and clients go).
//!
//! # Task states and transitions
//! ```text
//!   Waiting ──(last input in memory)──> Ready ──(placed)──> Processing(w)
//!   Ready ──(no live worker may run it)──> Ready, parked as unrunnable
//!                 ──(longer than no_workers_timeout)──> Erred(NoWorkers)
//!   Processing(w) ──Started──> Processing(w), started: an attempt counts
//!   Processing(w) ──Finished──> Memory       ──Erred──> Erred
//!                 ──Erred, retries left for that kind──> Waiting/Ready
//!   Processing(w) ──w died──> Waiting/Ready  (or Erred after `max_deaths`
//!                   deaths while it was running: only a started task
//!                   counts a death; a queued one goes back free)
//!   Processing(w) ──Stolen──> Ready          ──Missing──> Waiting
//!   Ready ──an input lost──> Waiting
//!   Memory ──no longer needed──> Released    ──holders died, still needed──> Waiting
//!   Memory ──a retiring worker's value copied──> Memory (one holder more)
//!   Released ──a dependent must be recomputed──> Waiting
//!   any ──its graph released (and no later graph uses it)──> forgotten
//!        (slot reused, id generation bumped)
//! ```
//! `Erred` spreads to every dependent (they never run); only the task that
//! failed is reported to the client, which derives the dependents' errors.
//!
//! # Multi-output tasks
//! A *part* (`TaskSpec::part`) is item `n` of its one input's vector. It is
//! never sent to a worker: the worker that computes the vector keeps each
//! part that is still wanted apart (`SplitInto`), and the vector's
//! `Finished` puts them in `Memory` together (`finished_parts`). A part lost
//! while its vector is in memory has the vector made again
//! (`remake`: drained by `schedule`).
//!
//! # Where values are
//! A task in `Memory` has its value on its holders (workers), or, when the
//! value is small (at most `inline_max` bytes), here in `inline` and on no
//! worker: the worker sent it back with `Finished` and kept nothing.
//! Inline values go to dependents as literals and survive worker deaths.
//!
//! # Invariants (checked by [`Core::check`] in tests)
//! - `waiting` of a `Waiting` task is the number of its input edges whose
//!   task is not in `Memory`; a `Ready` or `Processing` task had none.
//! - `needed` of a task is the number of its dependent edges whose
//!   dependent is not yet in `Memory` or `Erred`; a non-output task with
//!   `needed == 0` is released as soon as it is in `Memory`.
//! - A `Processing(w)` task's `w` is alive; a worker's `in_flight` counts the
//!   tasks sent to it and not yet answered (stale answers included).
//! - A task in `Memory` has its value inline or at least one holder, and
//!   every holder is alive.
//! - A graph's `outputs_left` counts its outputs neither in `Memory` (once)
//!   nor `Erred`; at zero the client is told `GraphDone`.
//! - `attempts` counts the `Started` messages of a task: the number of times
//!   its function really began to run.

mod adapt;
mod check;
pub mod coord;
mod graphs;
mod ix;
mod memory;
mod placement;
mod ready;
mod retire;
mod schedule;
mod state;
mod steal;
mod workers;

pub use adapt::{desired_workers, ClusterReport, Load, WorkerReport};
pub use ix::WorkerIx;
pub use placement::Placement;

use ix::{FuncIx, GraphIx, IxVec};

use std::cmp::Reverse;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smallvec::SmallVec;

use crate::proto::{
    CoordReply, FromClient, Gid, GraphNo, TaskOpts, ToClient, ToWorker, WorkerInfo,
};

/// A connected client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientIx(pub u32);

/// A task's slot in the core's slab (reused once its graph is forgotten;
/// a [`Gid`] adds the slot's generation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Slot(pub(crate) u32);

impl Slot {
    fn ix(self) -> usize {
        self.0 as usize
    }
}

/// Where the core's messages go.
pub trait Outbox {
    /// Queues `msg` for worker `w`.
    fn to_worker(&mut self, w: WorkerIx, msg: ToWorker);
    /// Queues `msg` for client `c`.
    fn to_client(&mut self, c: ClientIx, msg: ToClient);
    /// Closes worker `w`'s connection once its queued messages are sent
    /// (a retired worker: its process then ends by itself).
    fn close_worker(&mut self, _w: WorkerIx) {}
}

/// Settings of the scheduler core.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// How tasks are placed.
    pub placement: Placement,
    /// Whether idle workers take queued tasks from busy ones.
    pub stealing: bool,
    /// A task fails after this many workers died while running it.
    pub max_deaths: u32,
    /// Tasks sent ahead to a worker, per thread (on top of one per thread),
    /// whatever they are estimated to take.
    pub prefetch_per_thread: u32,
    /// Beyond that, tasks are sent ahead while the work queued on a worker
    /// (estimated from past durations of the same function) is under this
    /// many microseconds per thread...
    pub queue_us: f64,
    /// ... and it has fewer than this many tasks per thread.
    pub max_per_thread: u32,
    /// Results of at most this many bytes come back with `Finished` and are
    /// kept here (see the module docs).
    pub inline_max: u64,
    /// A ready task that no live worker may run (none alive, or none with
    /// its resources or name) fails with `NoWorkers` after this long;
    /// `None` waits for ever (as Dask does by default).
    pub no_workers_timeout: Option<Duration>,
    /// Root tasks with big results go only to workers with fewer than
    /// `ceil(threads * worker_saturation)` tasks in flight (Dask's
    /// `worker-saturation`, default 1.1); infinity turns this off. See
    /// `core/memory.rs`.
    pub worker_saturation: f64,
    /// ... where big means results averaging at least this many bytes
    /// (default 1 MiB).
    pub queue_root_bytes: u64,
    /// Adaptive scaling wants enough workers to finish the work in hand
    /// in about this long (Dask's `target_duration`, 5 s).
    pub target_duration: Duration,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            placement: Placement::EarliestStart,
            stealing: true,
            max_deaths: 3,
            prefetch_per_thread: 8,
            queue_us: 5_000.0,
            max_per_thread: 2048,
            inline_max: 1024,
            no_workers_timeout: Some(Duration::from_secs(60)),
            worker_saturation: 1.1,
            queue_root_bytes: 1 << 20,
            target_duration: Duration::from_secs(5),
        }
    }
}

/// The function of a task that names none (a closure: it cannot run here).
const NO_FUNC: FuncIx = FuncIx(crate::proto::NO_FUNC);
/// Assumed duration of a function never seen finishing.
const UNKNOWN_US: f64 = 100.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Waiting,
    Ready,
    Processing(WorkerIx),
    Memory,
    Erred,
    Released,
    /// Its graph is gone; the slot is free.
    Free,
}

#[derive(Debug)]
enum Arg {
    Dep(Slot),
    Lit(Arc<Vec<u8>>),
    /// Held by the client, at its data port.
    At(Gid, Arc<str>),
}

/// The inputs of a task, copied out so the task table can be changed while
/// going through them (most tasks have at most four).
type Deps = SmallVec<[Slot; 4]>;

#[derive(Debug)]
struct Task {
    gen: u32,
    graph: GraphIx,
    local: u32,
    func: FuncIx,
    state: St,
    output: bool,
    /// The current attempt has started on its worker.
    started: bool,
    waiting: u32,
    needed: u32,
    /// Times its function began to run.
    attempts: u32,
    /// Failed attempts that were retried.
    retried: u32,
    /// Workers that died while it ran there.
    deaths: u32,
    est_us: f32,
    nbytes: u64,
    args: Box<[Arg]>,
    dependents: SmallVec<[Slot; 2]>,
    holders: SmallVec<[WorkerIx; 1]>,
    inline: Option<Arc<Vec<u8>>>,
    opts: Option<Box<TaskOpts>>,
    /// A part: the item of its one input's vector.
    part: Option<u32>,
    /// A vector's parts in the graph: (item, part task).
    parts: Option<Vec<(u32, Slot)>>,
}

impl Task {
    fn gid(&self, slot: Slot) -> Gid {
        Gid((u64::from(self.gen) << 32) | u64::from(slot.0))
    }
    fn deps(&self) -> Deps {
        self.args
            .iter()
            .filter_map(|a| match a {
                Arg::Dep(d) => Some(*d),
                _ => None,
            })
            .collect()
    }
    fn priority(&self) -> i32 {
        self.opts.as_ref().map_or(0, |o| o.priority)
    }
    fn resources(&self) -> &[(String, f64)] {
        self.opts.as_ref().map_or(&[], |o| &o.resources)
    }
    fn restrict(&self) -> &[String] {
        self.opts.as_ref().map_or(&[], |o| &o.workers)
    }
    fn has_value(&self) -> bool {
        self.inline.is_some() || !self.holders.is_empty()
    }
}

#[derive(Debug)]
struct Graph {
    client: ClientIx,
    no: GraphNo,
    seq: u64,
    tasks: Vec<Slot>,
    outputs_left: u32,
    /// The client wants every task's events.
    events: bool,
    /// Later graphs that use this one's values (`ArgSpec::Ext`); while
    /// any does, a released graph is kept.
    users: u32,
    /// Earlier graphs this one uses.
    uses: Vec<GraphIx>,
    /// The client released it (forgotten once `users` is zero).
    released: bool,
}

#[derive(Debug)]
struct Worker {
    info: WorkerInfo,
    alive: bool,
    in_flight: u32,
    queued_us: f64,
    /// Tasks sent, in order (lazily cleaned: entries may be stale).
    sent: VecDeque<(Slot, u32)>,
    defined: Vec<bool>,
    res_used: Vec<f64>,
    stealing: bool,
    /// Tasks it answered about (finished, failed, missing, given back).
    answers: u64,
    /// `answers` when it last gave nothing back to a steal: it is not asked
    /// again until it answers about another task (`steal.rs`).
    refused_at: Option<u64>,
    /// It said it is over its pause threshold (see `memory.rs`).
    paused: bool,
    /// Being retired: it gets no new task (see `retire.rs`).
    retiring: bool,
}

impl Worker {
    /// Whether the worker takes another task now: it always has room for
    /// `threads * (1 + prefetch_per_thread)` tasks; beyond that, for up to
    /// `queue_us` of estimated work per thread, at most `max_per_thread`
    /// tasks a thread. So short tasks go in big batches (few round trips
    /// per task), long ones a few at a time (the rest stay free to go
    /// wherever a thread frees first).
    /// A retiring worker takes nothing.
    fn has_room(&self, cfg: &CoreConfig) -> bool {
        if self.paused || self.retiring {
            return false;
        }
        let threads = self.info.threads.max(1);
        if self.in_flight < threads * (1 + cfg.prefetch_per_thread) {
            return true;
        }
        self.in_flight < threads.saturating_mul(cfg.max_per_thread)
            && self.queued_us < f64::from(threads) * cfg.queue_us
    }
}

#[derive(Debug, Default)]
struct ClientState {
    alive: bool,
    watch_workers: bool,
}

/// Counts, for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub waiting: usize,
    pub ready: usize,
    pub processing: usize,
    pub memory: usize,
    pub erred: usize,
    pub released: usize,
}

/// An entry of the ready queue (`ready.rs`): higher priority first, then
/// earlier graph, then lower task; `(slot, gen)` finds the task (stale
/// entries skipped).
type ReadyKey = Reverse<(i64, u64, Slot, u32)>;

/// The scheduler's state.
#[derive(Debug)]
pub struct Core {
    cfg: CoreConfig,
    tasks: Vec<Task>,
    free: Vec<Slot>,
    graphs: IxVec<GraphIx, Option<Graph>>,
    free_graphs: Vec<GraphIx>,
    graph_ix: HashMap<(ClientIx, GraphNo), GraphIx>,
    next_seq: u64,
    ready: ready::ReadyQueue,
    /// Ready tasks no live worker may run, and since when.
    unrunnable: Vec<(Slot, u32, Instant)>,
    workers: IxVec<WorkerIx, Worker>,
    names: HashMap<String, WorkerIx>,
    funcs: IxVec<FuncIx, String>,
    func_ix: HashMap<String, FuncIx>,
    func_us: IxVec<FuncIx, f64>,
    clients: Vec<ClientState>,
    turn: u32,
    /// Locks, queues, variables... (`coord/`).
    coord: coord::Coord,
    now: Instant,
    /// Vectors to make again because a part of theirs is wanted (see the
    /// module docs).
    remake: Vec<(Slot, u32)>,
    /// Withheld roots and result sizes (`memory.rs`).
    mem: memory::MemState,
    /// Workers being retired and the values being copied off them.
    retiring: retire::Retiring,
    /// Observed durations, for adaptive scaling.
    durations: adapt::Durations,
}

impl Core {
    /// An empty scheduler.
    pub fn new(cfg: CoreConfig) -> Core {
        Core {
            cfg,
            tasks: Vec::new(),
            free: Vec::new(),
            graphs: IxVec::default(),
            free_graphs: Vec::new(),
            graph_ix: HashMap::new(),
            next_seq: 0,
            ready: ready::ReadyQueue::default(),
            unrunnable: Vec::new(),
            workers: IxVec::default(),
            names: HashMap::new(),
            funcs: IxVec::default(),
            func_ix: HashMap::new(),
            func_us: IxVec::default(),
            clients: Vec::new(),
            turn: 0,
            coord: coord::Coord::new(),
            now: Instant::now(),
            remake: Vec::new(),
            mem: memory::MemState::default(),
            retiring: retire::Retiring::default(),
            durations: adapt::Durations::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }

    /// Tells the core what time it is (before feeding it inputs); tasks no
    /// worker may run fail once they have waited `no_workers_timeout`.
    pub fn tick(&mut self, now: Instant, out: &mut impl Outbox) {
        self.now = now;
        self.expire_unrunnable(out);
        self.progress_retiring(out);
        self.coord.tick(now, &mut CoordOut(out));
    }

    /// When the next coordination wait times out (the server ticks then).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.coord.next_deadline()
    }

    /// The coordination state (locks, queues, ...), for tests and metrics.
    pub fn coord(&self) -> &coord::Coord {
        &self.coord
    }

    /// A new client connection.
    pub fn client_joined(&mut self) -> ClientIx {
        self.clients.push(ClientState {
            alive: true,
            watch_workers: false,
        });
        ClientIx(self.clients.len() as u32 - 1)
    }

    /// Workers that ever joined (the next one's number).
    pub fn workers_total(&self) -> usize {
        self.workers.len()
    }

    /// The live worker named `name` whose process is `pid`.
    pub fn find_worker(&self, name: &str, pid: u32) -> Option<WorkerIx> {
        let &w = self.names.get(name)?;
        let wk = &self.workers[w];
        (wk.alive && wk.info.pid == pid).then_some(w)
    }

    /// Live workers.
    pub fn workers_alive(&self) -> usize {
        self.workers.iter().filter(|w| w.alive).count()
    }

    /// How many tasks are in each state.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for t in &self.tasks {
            match t.state {
                St::Waiting => c.waiting += 1,
                St::Ready => c.ready += 1,
                St::Processing(_) => c.processing += 1,
                St::Memory => c.memory += 1,
                St::Erred => c.erred += 1,
                St::Released => c.released += 1,
                St::Free => {}
            }
        }
        c
    }

    /// A message from client `c`.
    pub fn client_message(&mut self, c: ClientIx, msg: FromClient, out: &mut impl Outbox) {
        match msg {
            FromClient::Submit {
                graph,
                funcs,
                tasks,
                outputs,
                events,
            } => {
                if let Err(why) = self.submit(c, graph, funcs, tasks, outputs, events, out) {
                    out.to_client(c, ToClient::Refused { graph, why });
                }
                self.schedule(out);
            }
            FromClient::Release { graph } => {
                if let Some(g) = self.graph_ix.remove(&(c, graph)) {
                    self.release_graph(g, out);
                }
            }
            FromClient::SetVar { name, value } => {
                self.coord.set_var(name, value, &mut CoordOut(out));
            }
            FromClient::GetVar { name } => {
                let value = if name == "rask:workers" {
                    rask_core::format::to_vec(&(self.workers_alive() as u64)).ok()
                } else if name == "rask:counts" {
                    let c = self.counts();
                    let v = [
                        c.waiting,
                        c.ready,
                        c.processing,
                        c.memory,
                        c.erred,
                        c.released,
                    ];
                    rask_core::format::to_vec(&v.map(|x| x as u64)).ok()
                } else if name == "rask:leases" {
                    rask_core::format::to_vec(&self.coord.cache_grants()).ok()
                } else if name == "rask:adapt" {
                    rask_core::format::to_vec(&self.report()).ok()
                } else {
                    self.coord.var(&name).cloned()
                };
                out.to_client(c, ToClient::Var { name, value });
            }
            FromClient::Retire { workers } => {
                self.retire(&workers, out);
            }
            FromClient::Coord(req) => {
                let now = self.now;
                self.coord
                    .request(coord::Peer::Client(c.0), req, now, &mut CoordOut(out));
            }
            FromClient::WatchWorkers => {
                if let Some(cs) = self.clients.get_mut(c.0 as usize) {
                    cs.watch_workers = true;
                }
                for (i, w) in self.workers.enumerate() {
                    if w.alive {
                        out.to_client(
                            c,
                            ToClient::WorkerJoined {
                                worker: i.0,
                                name: w.info.name.clone(),
                                threads: w.info.threads,
                            },
                        );
                    }
                }
            }
        }
    }

    /// Client `c` disconnected: what only it wanted is released.
    pub fn client_gone(&mut self, c: ClientIx, out: &mut impl Outbox) {
        if let Some(cs) = self.clients.get_mut(c.0 as usize) {
            cs.alive = false;
            cs.watch_workers = false;
        }
        self.coord
            .peer_gone(coord::Peer::Client(c.0), &mut CoordOut(out));
        let mut mine: Vec<(ClientIx, GraphNo)> =
            self.graph_ix.keys().filter(|k| k.0 == c).copied().collect();
        // In submission order, whatever the map's: what goes out is then
        // the same on every run (the simulator replays seeds).
        mine.sort_unstable_by_key(|k| k.1);
        for k in mine {
            if let Some(g) = self.graph_ix.remove(&k) {
                self.release_graph(g, out);
            }
        }
    }

    /// The task `gid` names, if it is still that task.
    fn lookup(&self, gid: Gid) -> Option<Slot> {
        let slot = Slot((gid.0 & 0xffff_ffff) as u32);
        let gen = (gid.0 >> 32) as u32;
        let t = self.tasks.get(slot.ix())?;
        (t.gen == gen && t.state != St::Free).then_some(slot)
    }

    /// The task `gid` names if it is processing on worker `w`.
    fn processing_on(&self, gid: Gid, w: WorkerIx) -> Option<Slot> {
        self.lookup(gid)
            .filter(|&s| self.tasks[s.ix()].state == St::Processing(w))
    }

    fn task(&self, s: Slot) -> &Task {
        &self.tasks[s.ix()]
    }

    fn task_mut(&mut self, s: Slot) -> &mut Task {
        &mut self.tasks[s.ix()]
    }

    /// The graph of task `s` (if it is still there) and whether its client
    /// wants every task's events.
    fn graph_of(&self, s: Slot) -> Option<&Graph> {
        self.graphs
            .get(self.tasks[s.ix()].graph)
            .and_then(Option::as_ref)
    }
}

/// Coordination answers, as messages to workers and clients.
struct CoordOut<'a, O>(&'a mut O);

impl<O: Outbox> coord::Replies for CoordOut<'_, O> {
    fn reply(&mut self, to: coord::Peer, reply: CoordReply) {
        match to {
            coord::Peer::Worker(w) => self.0.to_worker(WorkerIx(w), ToWorker::Coord(reply)),
            coord::Peer::Client(c) => self.0.to_client(ClientIx(c), ToClient::Coord(reply)),
        }
    }
}

#[cfg(test)]
mod tests;
