//! The scheduler's core: the task state machine as plain functions over
//! plain data. No sockets, no clocks, no threads: inputs are method calls
//! (a client's message, a worker's message, a connection lost), outputs are
//! messages handed to an [`Outbox`]. The TCP server (`scheduler.rs`) and the
//! unit tests (through a fake transport that encodes every message) drive it
//! the same way.
//!
//! # Task states and transitions
//! ```text
//!   Waiting ──(last input in memory)──> Ready ──(placed)──> Processing(w)
//!   Processing(w) ──Finished──> Memory          ──Erred──> Erred
//!   Processing(w) ──w died──> Waiting/Ready     (or Erred after `max_deaths`:
//!                   a death counts against the `threads` oldest tasks sent
//!                   there, the ones it was running; queued ones go back free)
//!   Processing(w) ──Stolen──> Ready             ──Missing──> Waiting
//!   Ready ──an input lost──> Waiting
//!   Memory ──no longer needed──> Released       ──holders died, still needed──> Waiting
//!   Released ──a dependent must be recomputed──> Waiting
//!   any ──its graph released──> forgotten (slot reused, id generation bumped)
//! ```
//! `Erred` spreads to every dependent (they never run); only the task that
//! failed is reported to the client, which derives the dependents' errors.
//!
//! # Invariants (checked by [`Core::check`] in tests)
//! - `waiting` of a `Waiting` task is the number of its input edges whose
//!   task is not in `Memory`; a `Ready` or `Processing` task had none.
//! - `needed` of a task is the number of its dependent edges whose
//!   dependent is not yet in `Memory` or `Erred`; a non-output task with
//!   `needed == 0` is released as soon as it is in `Memory`.
//! - A `Processing(w)` task's `w` is alive; a worker's `in_flight` counts the
//!   tasks sent to it and not yet answered (stale answers included).
//! - A task in `Memory` has at least one holder, and every holder is alive.
//! - A graph's `outputs_left` counts its outputs neither in `Memory` (once)
//!   nor `Erred`; at zero the client is told `Finished`.

mod placement;

pub use placement::Placement;
use placement::{pick, Candidate};

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

use crate::proto::{
    ArgSource, ArgSpec, Failure, FromClient, FromWorker, Gid, GraphNo, TaskSpec, ToClient,
    ToWorker, WorkerInfo,
};

/// A connected client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientIx(pub u32);
/// A worker (never reused within a scheduler's life).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WorkerIx(pub u32);

/// Where the core's messages go.
pub trait Outbox {
    /// Queues `msg` for worker `w`.
    fn to_worker(&mut self, w: WorkerIx, msg: ToWorker);
    /// Queues `msg` for client `c`.
    fn to_client(&mut self, c: ClientIx, msg: ToClient);
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
    /// Tasks sent ahead to a worker, per thread (on top of one per thread).
    pub prefetch_per_thread: u32,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            placement: Placement::EarliestStart,
            stealing: true,
            max_deaths: 3,
            prefetch_per_thread: 32,
        }
    }
}

const NO_FUNC: u32 = u32::MAX;
/// Assumed duration of a function never seen finishing.
const UNKNOWN_US: f64 = 100.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Waiting,
    Ready,
    Processing(u32),
    Memory,
    Erred,
    Released,
    /// Its graph is gone; the slot is free.
    Free,
}

#[derive(Debug)]
enum Arg {
    Dep(u32),
    Lit(Arc<Vec<u8>>),
}

#[derive(Debug)]
struct Task {
    gen: u32,
    graph: u32,
    local: u32,
    func: u32,
    args: Box<[Arg]>,
    dependents: Vec<u32>,
    waiting: u32,
    needed: u32,
    output: bool,
    state: St,
    holders: Vec<u32>,
    nbytes: u64,
    deaths: u32,
    est_us: f32,
    resources: Box<[(String, f64)]>,
    restrict: Box<[String]>,
}

impl Task {
    fn gid(&self, slot: u32) -> Gid {
        Gid((u64::from(self.gen) << 32) | u64::from(slot))
    }
    fn deps(&self) -> impl Iterator<Item = u32> + '_ {
        self.args.iter().filter_map(|a| match a {
            Arg::Dep(d) => Some(*d),
            Arg::Lit(_) => None,
        })
    }
}

#[derive(Debug)]
struct Graph {
    client: ClientIx,
    no: GraphNo,
    seq: u64,
    tasks: Vec<u32>,
    outputs_left: u32,
}

#[derive(Debug)]
struct Worker {
    info: WorkerInfo,
    alive: bool,
    in_flight: u32,
    queued_us: f64,
    /// Tasks sent, in order (lazily cleaned: entries may be stale).
    sent: VecDeque<(u32, u32)>,
    defined: Vec<bool>,
    res_used: Vec<f64>,
    stealing: bool,
}

impl Worker {
    fn window(&self, cfg: &CoreConfig) -> u32 {
        self.info.threads.max(1) * (1 + cfg.prefetch_per_thread)
    }
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

/// The scheduler's state.
#[derive(Debug)]
pub struct Core {
    cfg: CoreConfig,
    tasks: Vec<Task>,
    free: Vec<u32>,
    graphs: Vec<Option<Graph>>,
    graph_ix: HashMap<(ClientIx, GraphNo), u32>,
    next_seq: u64,
    ready: BinaryHeap<Reverse<(u64, u32, u32)>>,
    workers: Vec<Worker>,
    names: HashMap<String, u32>,
    funcs: Vec<String>,
    func_ix: HashMap<String, u32>,
    func_us: Vec<f64>,
    clients: u32,
    turn: u32,
    vars: HashMap<String, Vec<u8>>,
}

impl Core {
    /// An empty scheduler.
    pub fn new(cfg: CoreConfig) -> Core {
        Core {
            cfg,
            tasks: Vec::new(),
            free: Vec::new(),
            graphs: Vec::new(),
            graph_ix: HashMap::new(),
            next_seq: 0,
            ready: BinaryHeap::new(),
            workers: Vec::new(),
            names: HashMap::new(),
            funcs: Vec::new(),
            func_ix: HashMap::new(),
            func_us: Vec::new(),
            clients: 0,
            turn: 0,
            vars: HashMap::new(),
        }
    }

    /// A new client connection.
    pub fn client_joined(&mut self) -> ClientIx {
        self.clients += 1;
        ClientIx(self.clients - 1)
    }

    /// A new worker; refused if its name is taken by a live worker.
    pub fn worker_joined(
        &mut self,
        info: WorkerInfo,
        out: &mut impl Outbox,
    ) -> Result<WorkerIx, String> {
        if let Some(&w) = self.names.get(&info.name) {
            if self.workers[w as usize].alive {
                return Err(format!(
                    "a worker named `{}` is already connected",
                    info.name
                ));
            }
        }
        let w = self.workers.len() as u32;
        self.names.insert(info.name.clone(), w);
        let res = info.resources.len();
        self.workers.push(Worker {
            info,
            alive: true,
            in_flight: 0,
            queued_us: 0.0,
            sent: VecDeque::new(),
            defined: Vec::new(),
            res_used: vec![0.0; res],
            stealing: false,
        });
        self.schedule(out);
        Ok(WorkerIx(w))
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

    // ----- clients -------------------------------------------------------

    /// A message from client `c`.
    pub fn client_message(&mut self, c: ClientIx, msg: FromClient, out: &mut impl Outbox) {
        match msg {
            FromClient::Submit {
                graph,
                funcs,
                tasks,
                outputs,
            } => {
                if let Err(why) = self.submit(c, graph, funcs, tasks, outputs, out) {
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
                self.vars.insert(name, value);
            }
            FromClient::GetVar { name } => {
                // Built in: the number of live workers.
                let value = if name == "rask:workers" {
                    bincode::serialize(&(self.workers_alive() as u64)).ok()
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
                    bincode::serialize(&v.map(|x| x as u64)).ok()
                } else {
                    self.vars.get(&name).cloned()
                };
                out.to_client(c, ToClient::Var { name, value });
            }
        }
    }

    /// Client `c` disconnected: what only it wanted is released.
    pub fn client_gone(&mut self, c: ClientIx, out: &mut impl Outbox) {
        let mine: Vec<(ClientIx, GraphNo)> =
            self.graph_ix.keys().filter(|k| k.0 == c).copied().collect();
        for k in mine {
            if let Some(g) = self.graph_ix.remove(&k) {
                self.release_graph(g, out);
            }
        }
    }

    fn submit(
        &mut self,
        c: ClientIx,
        no: GraphNo,
        funcs: Vec<String>,
        specs: Vec<TaskSpec>,
        outputs: Vec<u32>,
        out: &mut impl Outbox,
    ) -> Result<(), String> {
        if self.graph_ix.contains_key(&(c, no)) {
            return Err(format!("graph {no} was already submitted"));
        }
        // Check the whole graph before touching any state.
        for (i, s) in specs.iter().enumerate() {
            if s.func != NO_FUNC && s.func as usize >= funcs.len() {
                return Err(format!(
                    "task {i} names function #{} of {}",
                    s.func,
                    funcs.len()
                ));
            }
            for a in &s.args {
                if let ArgSpec::Dep(d) = a {
                    if *d as usize >= i {
                        return Err(format!(
                            "task {i} depends on task {d}, which is not an earlier task"
                        ));
                    }
                }
            }
        }
        if let Some(o) = outputs.iter().find(|&&o| o as usize >= specs.len()) {
            return Err(format!(
                "output {o} is not a task of the graph ({} tasks)",
                specs.len()
            ));
        }
        let fmap: Vec<u32> = funcs.into_iter().map(|f| self.intern(f)).collect();
        let g = self.graphs.len() as u32;
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut slots = Vec::with_capacity(specs.len());
        for (local, s) in specs.into_iter().enumerate() {
            let args: Box<[Arg]> = s
                .args
                .into_iter()
                .map(|a| match a {
                    ArgSpec::Dep(d) => Arg::Dep(slots[d as usize]),
                    ArgSpec::Lit(b) => Arg::Lit(Arc::new(b)),
                })
                .collect();
            let func = if s.func == NO_FUNC {
                NO_FUNC
            } else {
                fmap[s.func as usize]
            };
            let task = Task {
                gen: 0,
                graph: g,
                local: local as u32,
                func,
                args,
                dependents: Vec::new(),
                waiting: 0,
                needed: 0,
                output: false,
                state: St::Waiting,
                holders: Vec::new(),
                nbytes: 0,
                deaths: 0,
                est_us: 0.0,
                resources: s.resources.into_boxed_slice(),
                restrict: s.workers.into_boxed_slice(),
            };
            let slot = match self.free.pop() {
                Some(slot) => {
                    let gen = self.tasks[slot as usize].gen.wrapping_add(1);
                    self.tasks[slot as usize] = Task { gen, ..task };
                    slot
                }
                None => {
                    self.tasks.push(task);
                    self.tasks.len() as u32 - 1
                }
            };
            slots.push(slot);
        }
        for &slot in &slots {
            let deps: Vec<u32> = self.tasks[slot as usize].deps().collect();
            for d in deps {
                self.tasks[d as usize].dependents.push(slot);
                self.tasks[d as usize].needed += 1;
            }
        }
        let mut outputs_left = 0;
        for &o in &outputs {
            let t = &mut self.tasks[slots[o as usize] as usize];
            if !t.output {
                t.output = true;
                outputs_left += 1;
            }
        }
        self.graphs.push(Some(Graph {
            client: c,
            no,
            seq,
            tasks: slots.clone(),
            outputs_left,
        }));
        self.graph_ix.insert((c, no), g);
        if outputs_left == 0 {
            out.to_client(c, ToClient::Finished { graph: no });
        }
        // Tasks no output needs are never run.
        for &slot in slots.iter().rev() {
            let t = &self.tasks[slot as usize];
            if !t.output && t.needed == 0 {
                self.tasks[slot as usize].state = St::Released;
                let deps: Vec<u32> = self.tasks[slot as usize].deps().collect();
                for d in deps {
                    self.tasks[d as usize].needed -= 1;
                }
            }
        }
        for &slot in &slots {
            if self.tasks[slot as usize].state == St::Waiting {
                self.enter_waiting(slot, out);
            }
        }
        Ok(())
    }

    fn intern(&mut self, name: String) -> u32 {
        if let Some(&f) = self.func_ix.get(&name) {
            return f;
        }
        let f = self.funcs.len() as u32;
        self.funcs.push(name.clone());
        self.func_ix.insert(name, f);
        self.func_us.push(UNKNOWN_US);
        f
    }

    fn release_graph(&mut self, g: u32, out: &mut impl Outbox) {
        let Some(graph) = self.graphs[g as usize].take() else {
            return;
        };
        for &slot in &graph.tasks {
            let t = &mut self.tasks[slot as usize];
            let gid = t.gid(slot);
            for &w in &t.holders {
                out.to_worker(WorkerIx(w), ToWorker::Release { gids: vec![gid] });
            }
            t.holders.clear();
            t.state = St::Free;
            t.dependents = Vec::new();
            t.args = Box::new([]);
            t.gen = t.gen.wrapping_add(1);
            self.free.push(slot);
        }
    }

    // ----- the state machine ---------------------------------------------

    /// Puts `slot` in `Waiting` with its count recomputed; it becomes
    /// `Ready` at once if every input is in memory. Inputs that are neither
    /// in memory nor on their way are recomputed (lineage).
    fn enter_waiting(&mut self, slot: u32, out: &mut impl Outbox) {
        let deps: Vec<u32> = self.tasks[slot as usize].deps().collect();
        let mut waiting = 0;
        for d in deps {
            match self.tasks[d as usize].state {
                St::Memory => {}
                St::Released => {
                    waiting += 1;
                    self.revive(d, out);
                }
                St::Erred => {
                    self.err(slot, None, out);
                    return;
                }
                _ => waiting += 1,
            }
        }
        let t = &mut self.tasks[slot as usize];
        t.waiting = waiting;
        t.state = St::Waiting;
        if waiting == 0 {
            self.make_ready(slot);
        }
    }

    /// A task that counted as done for its inputs (in memory, or
    /// released) must run again: its inputs are needed again.
    fn revive(&mut self, slot: u32, out: &mut impl Outbox) {
        let deps: Vec<u32> = self.tasks[slot as usize].deps().collect();
        for d in deps {
            self.tasks[d as usize].needed += 1;
        }
        self.enter_waiting(slot, out);
    }

    fn make_ready(&mut self, slot: u32) {
        let t = &mut self.tasks[slot as usize];
        t.state = St::Ready;
        let seq = self.graphs[t.graph as usize].as_ref().map_or(0, |g| g.seq);
        self.ready
            .push(Reverse(((seq << 32) | u64::from(t.local), slot, t.gen)));
    }

    /// `slot` fails: with `failure` (reported) or because an input failed
    /// (not reported); every dependent fails too.
    fn err(&mut self, slot: u32, failure: Option<Failure>, out: &mut impl Outbox) {
        let mut stack = vec![(slot, failure)];
        while let Some((s, failure)) = stack.pop() {
            let t = &mut self.tasks[s as usize];
            if matches!(t.state, St::Erred | St::Free) {
                continue;
            }
            // Only a task that had not run counts in its inputs' `needed`.
            let counted = matches!(t.state, St::Waiting | St::Ready | St::Processing(_));
            t.state = St::Erred;
            let (g, local, output) = (t.graph, t.local, t.output);
            let deps: Vec<u32> = t.deps().collect();
            let dependents = t.dependents.clone();
            if let Some(graph) = self.graphs[g as usize].as_mut() {
                if let Some(failure) = failure {
                    out.to_client(
                        graph.client,
                        ToClient::Erred {
                            graph: graph.no,
                            task: local,
                            failure,
                        },
                    );
                }
                if output {
                    self.output_settled(g, out);
                }
            }
            if counted {
                for d in deps {
                    self.unneed(d, out);
                }
            }
            stack.extend(dependents.into_iter().map(|d| (d, None)));
        }
    }

    fn output_settled(&mut self, g: u32, out: &mut impl Outbox) {
        if let Some(graph) = self.graphs[g as usize].as_mut() {
            graph.outputs_left = graph.outputs_left.saturating_sub(1);
            if graph.outputs_left == 0 {
                out.to_client(graph.client, ToClient::Finished { graph: graph.no });
            }
        }
    }

    /// One dependent edge of `d` no longer needs its value.
    fn unneed(&mut self, d: u32, out: &mut impl Outbox) {
        let t = &mut self.tasks[d as usize];
        t.needed = t.needed.saturating_sub(1);
        if t.needed == 0 && !t.output && t.state == St::Memory {
            self.release(d, out);
        }
    }

    fn release(&mut self, slot: u32, out: &mut impl Outbox) {
        let t = &mut self.tasks[slot as usize];
        let gid = t.gid(slot);
        for w in t.holders.drain(..) {
            out.to_worker(WorkerIx(w), ToWorker::Release { gids: vec![gid] });
        }
        t.state = St::Released;
    }

    /// Sends ready tasks to workers while some have room.
    fn schedule(&mut self, out: &mut impl Outbox) {
        let mut parked = Vec::new();
        let mut cands = Vec::new();
        while let Some(&Reverse((prio, slot, gen))) = self.ready.peek() {
            let t = &self.tasks[slot as usize];
            if t.gen != gen || t.state != St::Ready {
                self.ready.pop();
                continue;
            }
            if !self
                .workers
                .iter()
                .any(|w| w.alive && w.in_flight < w.window(&self.cfg))
            {
                break;
            }
            self.ready.pop();
            if t.func == NO_FUNC {
                let why = "it is a closure or a function not registered with #[rask::task] \
                           (only registered functions run on the cluster)";
                self.err(slot, Some(Failure::NotRegistered(why.to_owned())), out);
                continue;
            }
            self.candidates(slot, &mut cands);
            if cands.is_empty() {
                parked.push(Reverse((prio, slot, gen)));
                continue;
            }
            let i = pick(self.cfg.placement, &cands, &mut self.turn);
            let w = cands[i].index;
            self.send(slot, w, out);
        }
        self.ready.extend(parked);
        if self.cfg.stealing && self.ready.is_empty() {
            self.steal(out);
        }
    }

    fn candidates(&self, slot: u32, cands: &mut Vec<Candidate>) {
        cands.clear();
        let t = &self.tasks[slot as usize];
        for (i, w) in self.workers.iter().enumerate() {
            if !w.alive || w.in_flight >= w.window(&self.cfg) {
                continue;
            }
            if !t.restrict.is_empty() && !t.restrict.contains(&w.info.name) {
                continue;
            }
            if !fits(t, w) {
                continue;
            }
            let missing_bytes = if self.cfg.placement == Placement::EarliestStart {
                t.deps()
                    .filter(|&d| !self.tasks[d as usize].holders.contains(&(i as u32)))
                    .map(|d| self.tasks[d as usize].nbytes)
                    .sum()
            } else {
                0
            };
            cands.push(Candidate {
                index: i as u32,
                in_flight: w.in_flight,
                threads: w.info.threads,
                weight: w.info.weight,
                queued_us: w.queued_us,
                missing_bytes,
            });
        }
    }

    fn send(&mut self, slot: u32, w: u32, out: &mut impl Outbox) {
        let t = &self.tasks[slot as usize];
        let gid = t.gid(slot);
        let func = t.func;
        let mut args = Vec::with_capacity(t.args.len());
        for a in t.args.iter() {
            args.push(match a {
                Arg::Lit(b) => ArgSource::Lit(b.as_ref().clone()),
                Arg::Dep(d) => {
                    let dt = &self.tasks[*d as usize];
                    let dg = dt.gid(*d);
                    if dt.holders.contains(&w) {
                        ArgSource::Here(dg)
                    } else {
                        let h = dt.holders[0] as usize;
                        ArgSource::There {
                            gid: dg,
                            addr: self.workers[h].info.data_addr.clone(),
                        }
                    }
                }
            });
        }
        let est = self.func_us[func as usize];
        let wk = &mut self.workers[w as usize];
        if wk.defined.len() <= func as usize {
            wk.defined.resize(func as usize + 1, false);
        }
        if !wk.defined[func as usize] {
            wk.defined[func as usize] = true;
            out.to_worker(
                WorkerIx(w),
                ToWorker::Define {
                    func,
                    name: self.funcs[func as usize].clone(),
                },
            );
        }
        out.to_worker(WorkerIx(w), ToWorker::Compute { gid, func, args });
        wk.in_flight += 1;
        wk.queued_us += est;
        wk.sent.push_back((slot, self.tasks[slot as usize].gen));
        let t = &mut self.tasks[slot as usize];
        for (r, q) in t.resources.iter() {
            if let Some(i) = wk.info.resources.iter().position(|(n, _)| n == r) {
                wk.res_used[i] += q;
            }
        }
        t.state = St::Processing(w);
        t.est_us = est as f32;
    }

    /// Idle workers take queued tasks from the busiest one.
    fn steal(&mut self, out: &mut impl Outbox) {
        let idle: Vec<u32> = (0..self.workers.len() as u32)
            .filter(|&w| {
                let wk = &self.workers[w as usize];
                wk.alive && wk.in_flight < wk.info.threads.max(1)
            })
            .collect();
        if idle.is_empty() {
            return;
        }
        // Victim: the most tasks beyond its threads, none outstanding.
        let Some(v) = (0..self.workers.len() as u32)
            .filter(|&w| {
                let wk = &self.workers[w as usize];
                wk.alive && !wk.stealing && wk.in_flight > wk.info.threads.max(1) + 1
            })
            .max_by_key(|&w| {
                let wk = &self.workers[w as usize];
                wk.in_flight - wk.info.threads.max(1)
            })
        else {
            return;
        };
        let wk = &self.workers[v as usize];
        let want = ((wk.in_flight - wk.info.threads.max(1)) / 2).max(1) as usize;
        let mut gids = Vec::with_capacity(want);
        for &(slot, gen) in wk.sent.iter().rev() {
            if gids.len() >= want {
                break;
            }
            let t = &self.tasks[slot as usize];
            if t.gen == gen && t.state == St::Processing(v) {
                gids.push(t.gid(slot));
            }
        }
        if !gids.is_empty() {
            self.workers[v as usize].stealing = true;
            out.to_worker(WorkerIx(v), ToWorker::Steal { gids });
        }
    }

    /// The task `gid` names, if it is still that task.
    fn lookup(&self, gid: Gid) -> Option<u32> {
        let slot = (gid.0 & 0xffff_ffff) as u32;
        let gen = (gid.0 >> 32) as u32;
        let t = self.tasks.get(slot as usize)?;
        (t.gen == gen && t.state != St::Free).then_some(slot)
    }

    /// Worker `w` answered about a task it was sent: it leaves its window.
    fn answered(&mut self, w: u32, slot: Option<u32>) {
        let wk = &mut self.workers[w as usize];
        wk.in_flight = wk.in_flight.saturating_sub(1);
        if let Some(slot) = slot {
            let t = &self.tasks[slot as usize];
            wk.queued_us = (wk.queued_us - f64::from(t.est_us)).max(0.0);
            for (r, q) in t.resources.iter() {
                if let Some(i) = wk.info.resources.iter().position(|(n, _)| n == r) {
                    wk.res_used[i] = (wk.res_used[i] - q).max(0.0);
                }
            }
        }
        if wk.in_flight == 0 {
            // Nothing left there: clear any drift of the estimates.
            wk.queued_us = 0.0;
            wk.res_used.iter_mut().for_each(|r| *r = 0.0);
        }
        while let Some(&(s, gen)) = wk.sent.front() {
            let t = &self.tasks[s as usize];
            if t.gen == gen && t.state == St::Processing(w) {
                break;
            }
            wk.sent.pop_front();
        }
    }

    // ----- workers -------------------------------------------------------

    /// A message from worker `w`. A message about a task the scheduler
    /// never gave out is a protocol error (the caller logs it; nothing
    /// changes); one about a task released or moved meanwhile is not.
    pub fn worker_message(
        &mut self,
        w: WorkerIx,
        msg: FromWorker,
        out: &mut impl Outbox,
    ) -> Result<(), String> {
        let w = w.0;
        if !self.workers.get(w as usize).is_some_and(|wk| wk.alive) {
            return Ok(());
        }
        match &msg {
            FromWorker::Finished { gid, .. }
            | FromWorker::Erred { gid, .. }
            | FromWorker::Missing { gid, .. } => self.known(*gid)?,
            FromWorker::Stolen { gids } => {
                for g in gids {
                    self.known(*g)?;
                }
            }
            FromWorker::Join(_) => return Err("a second join message".to_owned()),
            FromWorker::Heartbeat => {}
        }
        match msg {
            FromWorker::Join(_) | FromWorker::Heartbeat => {}
            FromWorker::Finished {
                gid,
                nbytes,
                micros,
            } => {
                let slot = self
                    .lookup(gid)
                    .filter(|&s| self.tasks[s as usize].state == St::Processing(w));
                self.answered(w, slot);
                match slot {
                    Some(slot) => self.finished(slot, w, nbytes, micros, out),
                    // A task released or moved meanwhile: drop its value.
                    None => out.to_worker(WorkerIx(w), ToWorker::Release { gids: vec![gid] }),
                }
            }
            FromWorker::Erred { gid, failure } => {
                let slot = self
                    .lookup(gid)
                    .filter(|&s| self.tasks[s as usize].state == St::Processing(w));
                self.answered(w, slot);
                if let Some(slot) = slot {
                    self.err(slot, Some(failure), out);
                }
            }
            FromWorker::Missing { gid, missing } => {
                let slot = self
                    .lookup(gid)
                    .filter(|&s| self.tasks[s as usize].state == St::Processing(w));
                self.answered(w, slot);
                if let Some(slot) = slot {
                    // The holder it was pointed at lost the value (or died,
                    // which we may not know yet): forget that holder.
                    if let Some(m) = self.lookup(missing) {
                        let mt = &mut self.tasks[m as usize];
                        if mt.state == St::Memory && !mt.holders.is_empty() {
                            let h = mt.holders.remove(0);
                            out.to_worker(
                                WorkerIx(h),
                                ToWorker::Release {
                                    gids: vec![missing],
                                },
                            );
                            if mt.holders.is_empty() {
                                self.lost(m, out);
                            }
                        }
                    }
                    self.enter_waiting(slot, out);
                }
            }
            FromWorker::Stolen { gids } => {
                self.workers[w as usize].stealing = false;
                for gid in gids {
                    let slot = self
                        .lookup(gid)
                        .filter(|&s| self.tasks[s as usize].state == St::Processing(w));
                    self.answered(w, slot);
                    if let Some(slot) = slot {
                        // Its inputs may have been lost meanwhile: re-count.
                        self.enter_waiting(slot, out);
                    }
                }
            }
        }
        self.schedule(out);
        Ok(())
    }

    /// Whether `gid` was ever given out.
    fn known(&self, gid: Gid) -> Result<(), String> {
        let slot = (gid.0 & 0xffff_ffff) as usize;
        let gen = (gid.0 >> 32) as u32;
        match self.tasks.get(slot) {
            Some(t) if gen <= t.gen => Ok(()),
            _ => Err(format!(
                "a message about task {:#x}, which this scheduler never sent",
                gid.0
            )),
        }
    }

    fn finished(&mut self, slot: u32, w: u32, nbytes: u64, micros: u64, out: &mut impl Outbox) {
        let t = &mut self.tasks[slot as usize];
        t.state = St::Memory;
        t.holders.clear();
        t.holders.push(w);
        t.nbytes = nbytes;
        let f = t.func as usize;
        self.func_us[f] = 0.8 * self.func_us[f] + 0.2 * micros as f64;
        let t = &self.tasks[slot as usize];
        let (g, local, output, needed) = (t.graph, t.local, t.output, t.needed);
        let gid = t.gid(slot);
        let deps: Vec<u32> = t.deps().collect();
        let dependents = t.dependents.clone();
        if output {
            if let Some(graph) = self.graphs[g as usize].as_ref() {
                out.to_client(
                    graph.client,
                    ToClient::Done {
                        graph: graph.no,
                        task: local,
                        gid,
                        addr: self.workers[w as usize].info.data_addr.clone(),
                    },
                );
            }
            self.output_settled(g, out);
        }
        for d in deps {
            self.unneed(d, out);
        }
        for d in dependents {
            let dt = &mut self.tasks[d as usize];
            if dt.state == St::Waiting {
                dt.waiting = dt.waiting.saturating_sub(1);
                if dt.waiting == 0 {
                    self.make_ready(d);
                }
            }
        }
        if needed == 0 && !output {
            self.release(slot, out);
        }
    }

    /// `slot` was in memory and its last holder is gone.
    fn lost(&mut self, slot: u32, out: &mut impl Outbox) {
        let t = &self.tasks[slot as usize];
        let still_wanted = t.needed > 0 || t.output;
        let dependents = t.dependents.clone();
        self.tasks[slot as usize].state = St::Released;
        // Dependents that counted on it wait for it again.
        for d in dependents {
            let dt = &mut self.tasks[d as usize];
            match dt.state {
                St::Waiting => dt.waiting += 1,
                St::Ready => dt.state = St::Waiting, // re-counted below
                _ => {}
            }
        }
        if still_wanted {
            if self.tasks[slot as usize].output {
                // Its `Done` was sent; the client will be told again.
                let g = self.tasks[slot as usize].graph;
                if let Some(graph) = self.graphs[g as usize].as_mut() {
                    graph.outputs_left += 1;
                }
            }
            self.revive(slot, out);
        }
        let dependents = self.tasks[slot as usize].dependents.clone();
        for d in dependents {
            if self.tasks[d as usize].state == St::Waiting {
                let deps: Vec<u32> = self.tasks[d as usize].deps().collect();
                let waiting = deps
                    .iter()
                    .filter(|&&x| self.tasks[x as usize].state != St::Memory)
                    .count() as u32;
                self.tasks[d as usize].waiting = waiting;
                if waiting == 0 {
                    self.make_ready(d);
                }
            }
        }
    }

    /// Worker `w` is gone (disconnected, or silent past its deadline): its
    /// tasks go elsewhere, values only it held are recomputed if needed.
    pub fn worker_gone(&mut self, w: WorkerIx, why: &str, out: &mut impl Outbox) {
        let w = w.0;
        let Some(wk) = self.workers.get_mut(w as usize) else {
            return;
        };
        if !wk.alive {
            return;
        }
        wk.alive = false;
        wk.in_flight = 0;
        wk.queued_us = 0.0;
        // Suspects: the tasks it was most likely running (it runs in the
        // order it was sent, `threads` at a time); the rest were queued.
        let threads = wk.info.threads.max(1) as usize;
        let sent = std::mem::take(&mut wk.sent);
        let suspects: Vec<u32> = sent
            .iter()
            .filter(|&&(s, gen)| {
                let t = &self.tasks[s as usize];
                t.gen == gen && t.state == St::Processing(w)
            })
            .take(threads)
            .map(|&(s, _)| s)
            .collect();
        let name = self.workers[w as usize].info.name.clone();
        let max = self.cfg.max_deaths;
        for slot in 0..self.tasks.len() as u32 {
            let t = &mut self.tasks[slot as usize];
            match t.state {
                St::Processing(x) if x == w => {
                    if suspects.contains(&slot) {
                        t.deaths += 1;
                    }
                    if t.deaths >= max {
                        let failure = Failure::WorkersDied {
                            deaths: t.deaths,
                            last: format!("worker `{name}` {why}"),
                        };
                        self.err(slot, Some(failure), out);
                    } else {
                        self.enter_waiting(slot, out);
                    }
                }
                St::Memory if t.holders.contains(&w) => {
                    t.holders.retain(|&h| h != w);
                    if t.holders.is_empty() {
                        self.lost(slot, out);
                    }
                }
                _ => {}
            }
        }
        self.schedule(out);
    }

    /// Checks the invariants in the module docs; an error says which broke.
    pub fn check(&self) -> Result<(), String> {
        for (slot, t) in self.tasks.iter().enumerate() {
            if t.state == St::Free {
                continue;
            }
            let not_in_memory = t
                .deps()
                .filter(|&d| self.tasks[d as usize].state != St::Memory)
                .count() as u32;
            match t.state {
                St::Waiting if t.waiting != not_in_memory => {
                    return Err(format!(
                        "task {slot} waits for {} inputs but {not_in_memory} are not in memory",
                        t.waiting
                    ))
                }
                St::Ready if not_in_memory != 0 => {
                    return Err(format!(
                        "task {slot} is ready with {not_in_memory} inputs missing"
                    ))
                }
                St::Processing(w) if !self.workers[w as usize].alive => {
                    return Err(format!("task {slot} is processing on dead worker {w}"))
                }
                St::Memory if t.holders.is_empty() => {
                    return Err(format!("task {slot} is in memory nowhere"))
                }
                _ => {}
            }
            if let Some(h) = t.holders.iter().find(|&&h| !self.workers[h as usize].alive) {
                return Err(format!("task {slot} is held by dead worker {h}"));
            }
        }
        Ok(())
    }
}

/// Whether `w` has the resources `t` asks for, free now.
fn fits(t: &Task, w: &Worker) -> bool {
    t.resources.iter().all(|(r, q)| {
        w.info
            .resources
            .iter()
            .position(|(n, _)| n == r)
            .is_some_and(|i| w.res_used[i] + q <= w.info.resources[i].1 + 1e-9)
    })
}

#[cfg(test)]
mod tests;
