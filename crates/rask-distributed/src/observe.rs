//! The scheduler's own task stream: every graph of every client, as
//! [`rask_core::Event`]s for one subscriber (a recorder behind
//! `rask scheduler --dashboard`).
//!
//! The core reports a task's start, end and retries to a client only when
//! that client asked for events; a scheduler with an observer asks for them
//! on every graph ([`Observer::submitted`] turns `events` on) and passes on
//! to the client only what it asked for ([`Observer::forward`]). So a
//! client without subscribers gets exactly the messages it got before, and
//! the core does not change.
//!
//! Keys: the scheduler never sees the client's keys (they stay in the
//! client: only function names cross the wire), so a task is named by its
//! function's short name and its number in its graph (`inc[17]`); a graph
//! is one run (`RunId` numbered here, in submission order).
//!
//! Rules:
//! 1. Every event is emitted on the scheduler's thread, in the order the
//!    core produced the messages; the subscriber must not block (a
//!    recorder only appends).
//! 2. A graph's state here lives from its `Submit` to its `GraphDone` (the
//!    run's end), or until its client goes; at most one `RunFinished` per
//!    run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask_core::{
    Event, Graph, Key, KeyIndex, Name, Plan, PlanOptions, RunId, Subscriber, TaskId, WorkerId,
};

use crate::core::ClientIx;
use crate::proto::{ArgSpec, FromClient, GraphNo, MemorySample, TaskSpec, ToClient, NO_FUNC};

/// Graphs of at most this many tasks are described to the subscriber whole
/// (keys and dependencies: the graph picture and `explain`); bigger ones
/// only by their task stream.
const PLAN_LIMIT: usize = 100_000;

/// What the observer keeps of one graph that runs.
struct Watched {
    run: RunId,
    /// Whether the client itself asked for every task's events.
    wants_events: bool,
    /// The short names of the graph's functions; the last is for tasks
    /// that name none (closures, parts).
    names: Vec<Name>,
    /// Each task's index into `names`.
    func: Vec<u32>,
    /// Each task's id in the plan given to the subscriber (empty: no plan,
    /// the ids are the task numbers).
    ids: Vec<u32>,
    started: Instant,
    failed: usize,
}

impl Watched {
    fn id(&self, task: u32) -> TaskId {
        TaskId(self.ids.get(task as usize).copied().unwrap_or(task))
    }

    fn key(&self, task: u32) -> Key {
        let f = self.func.get(task as usize).copied().unwrap_or(u32::MAX) as usize;
        let name = self
            .names
            .get(f)
            .or(self.names.last())
            .cloned()
            .unwrap_or_else(|| Name::from("task"));
        Key::indexed(name, u64::from(task))
    }
}

/// Feeds a subscriber with the scheduler's task stream (module docs).
pub(crate) struct Observer {
    sink: Arc<dyn Subscriber>,
    graphs: HashMap<(u32, GraphNo), Watched>,
    next_run: u64,
}

impl Observer {
    pub(crate) fn new(sink: Arc<dyn Subscriber>) -> Self {
        Observer {
            sink,
            graphs: HashMap::new(),
            next_run: 1,
        }
    }

    /// A client's message on its way to the core: a `Submit` is recorded
    /// and made to report events; a `Release` ends what is left of a run.
    pub(crate) fn submitted(&mut self, c: ClientIx, msg: &mut FromClient, workers: usize) {
        match msg {
            FromClient::Submit {
                graph,
                funcs,
                tasks,
                events,
                ..
            } => {
                let mut names: Vec<Name> = funcs
                    .iter()
                    .map(|f| Name::from(f.rsplit("::").next().unwrap_or(f).to_owned()))
                    .collect();
                let local = names.len() as u32;
                names.push(Name::from("local"));
                let func = tasks
                    .iter()
                    .map(|t| if t.func == NO_FUNC { local } else { t.func })
                    .collect();
                let run = RunId(self.next_run);
                self.next_run += 1;
                let now = Instant::now();
                let mut w = Watched {
                    run,
                    wants_events: *events,
                    names,
                    func,
                    ids: Vec::new(),
                    started: now,
                    failed: 0,
                };
                let plan = (tasks.len() <= PLAN_LIMIT)
                    .then(|| plan_of(&w, tasks))
                    .flatten();
                if let Some((_, ids)) = &plan {
                    w.ids.clone_from(ids);
                }
                self.sink.on_event(&Event::RunStarted {
                    run,
                    tasks: tasks.len(),
                    executor: "cluster",
                    workers,
                    at: now,
                    plan: plan.as_ref().map(|(p, _)| p),
                });
                if let Some(old) = self.graphs.insert((c.0, *graph), w) {
                    self.finish(&old);
                }
                *events = true;
            }
            FromClient::Release { graph } => {
                if let Some(w) = self.graphs.remove(&(c.0, *graph)) {
                    self.finish(&w);
                }
            }
            _ => {}
        }
    }

    /// A client left: its runs end.
    pub(crate) fn client_gone(&mut self, c: ClientIx) {
        let gone: Vec<(u32, GraphNo)> =
            self.graphs.keys().filter(|k| k.0 == c.0).copied().collect();
        for k in gone {
            if let Some(w) = self.graphs.remove(&k) {
                self.finish(&w);
            }
        }
    }

    /// A worker joined or left.
    pub(crate) fn worker(&self, w: u32, name: &str, threads: u32, lost: Option<&str>) {
        let at = Instant::now();
        let worker = WorkerId(w);
        match lost {
            None => self.sink.on_event(&Event::WorkerJoined {
                worker,
                name,
                threads,
                at,
            }),
            Some(why) => self.sink.on_event(&Event::WorkerLost {
                worker,
                name,
                why,
                at,
            }),
        }
    }

    /// A worker's resource sample.
    pub(crate) fn sample(&self, w: u32, s: &MemorySample) {
        self.sink.on_event(&Event::WorkerSample {
            worker: WorkerId(w),
            at: Instant::now(),
            cpu_percent: s.cpu_percent,
            rss_bytes: s.rss,
            managed_bytes: s.managed,
            spilled_bytes: s.spilled,
            moved_bytes: s.moved,
        });
    }

    /// A message of the core for client `c`: emits its event and says
    /// whether the client itself wants the message.
    pub(crate) fn forward(&mut self, c: ClientIx, msg: &ToClient) -> bool {
        match msg {
            ToClient::Started {
                graph,
                task,
                worker,
                thread,
                attempt,
            } => {
                let Some(w) = self.graphs.get(&(c.0, *graph)) else {
                    return true;
                };
                self.sink.on_event(&Event::TaskStarted {
                    run: w.run,
                    task: w.id(*task),
                    key: &w.key(*task),
                    worker: WorkerId(*worker),
                    thread: *thread,
                    attempt: *attempt,
                    at: rask_core::clock::stamp(),
                });
                w.wants_events
            }
            ToClient::Finished {
                graph,
                task,
                worker,
                thread,
                attempt,
                micros,
                nbytes,
                value,
            } => {
                let Some(w) = self.graphs.get(&(c.0, *graph)) else {
                    return true;
                };
                let finished = rask_core::clock::stamp();
                self.sink.on_event(&Event::TaskFinished {
                    run: w.run,
                    task: w.id(*task),
                    key: &w.key(*task),
                    worker: WorkerId(*worker),
                    thread: *thread,
                    attempt: *attempt,
                    started: finished.saturating_sub(Duration::from_micros(*micros)),
                    finished,
                    nbytes: Some(*nbytes),
                });
                w.wants_events || value.is_some()
            }
            ToClient::Retrying {
                graph,
                task,
                attempt,
                failure,
            } => {
                let Some(w) = self.graphs.get(&(c.0, *graph)) else {
                    return true;
                };
                let error = failure.to_task_error(w.key(*task), *attempt);
                self.sink.on_event(&Event::TaskRetrying {
                    run: w.run,
                    task: w.id(*task),
                    error: &error,
                    worker: WorkerId(u32::MAX),
                    at: Instant::now(),
                });
                w.wants_events
            }
            ToClient::Erred {
                graph,
                task,
                attempt,
                failure,
            } => {
                if let Some(w) = self.graphs.get_mut(&(c.0, *graph)) {
                    w.failed += 1;
                    let error = failure.to_task_error(w.key(*task), *attempt);
                    self.sink.on_event(&Event::TaskFailed {
                        run: w.run,
                        task: w.id(*task),
                        error: &error,
                        worker: WorkerId(u32::MAX),
                        at: Instant::now(),
                    });
                }
                true
            }
            ToClient::GraphDone { graph } | ToClient::Refused { graph, .. } => {
                if let Some(w) = self.graphs.remove(&(c.0, *graph)) {
                    self.finish(&w);
                }
                true
            }
            _ => true,
        }
    }

    fn finish(&self, w: &Watched) {
        self.sink.on_event(&Event::RunFinished {
            run: w.run,
            tasks: w.func.len(),
            failed: w.failed,
            elapsed: w.started.elapsed(),
        });
    }
}

/// The graph as a plan of the tasks' keys and dependencies (bodies that are
/// never run), and each task's id in it. `None` if it cannot be made (a
/// malformed graph: the core refuses it anyway).
fn plan_of(w: &Watched, tasks: &[TaskSpec]) -> Option<(Plan, Vec<u32>)> {
    let n = tasks.len();
    let mut g = Graph::new();
    let mut has_dependents = vec![false; n];
    for (i, t) in tasks.iter().enumerate() {
        let deps: Vec<Key> = t
            .args
            .iter()
            .filter_map(|a| match a {
                ArgSpec::Dep(d) if (*d as usize) < i => {
                    has_dependents[*d as usize] = true;
                    Some(w.key(*d))
                }
                _ => None,
            })
            .collect();
        g.insert(w.key(i as u32), deps, |_: &mut rask_core::Inputs<'_>| {
            Ok::<(), rask_core::TaskFailure>(())
        });
    }
    let outputs: Vec<Key> = (0..n)
        .filter(|&i| !has_dependents[i])
        .map(|i| w.key(i as u32))
        .collect();
    let plan = g.plan(&outputs, PlanOptions { fuse: false }).ok()?;
    let mut ids = vec![u32::MAX; n];
    for t in 0..plan.len() {
        let id = TaskId(t as u32);
        if let KeyIndex::Index(i) = plan.key(id).index() {
            if let Some(slot) = ids.get_mut(i as usize) {
                *slot = t as u32;
            }
        }
    }
    Some((plan, ids))
}
