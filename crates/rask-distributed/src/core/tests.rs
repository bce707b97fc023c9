//! A deterministic simulator for the core: fake workers and a fake client
//! behind a transport that encodes and decodes every message (so the wire
//! format cannot drift from what the core sends), random interleavings and
//! injected faults (workers killed mid-run, values lost), checked against
//! the answer computed directly.
#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, VecDeque};

use super::*;
use crate::proto::{
    fail_bits, ArgSource, ArgSpec, Failure, FromClient, FromWorker, Gid, GraphNo, Located,
    TaskOpts, TaskSpec, ToClient, ToWorker, WorkerInfo,
};
use rask_core::format;

/// Encodes and decodes, as the wire would.
fn wire<T: serde::Serialize + serde::de::DeserializeOwned>(m: &T) -> T {
    format::from_slice(&format::to_vec(m).unwrap()).unwrap()
}

#[derive(Default)]
struct Fake {
    to_workers: Vec<(WorkerIx, ToWorker)>,
    to_clients: Vec<(ClientIx, ToClient)>,
}

impl Outbox for Fake {
    fn to_worker(&mut self, w: WorkerIx, msg: ToWorker) {
        self.to_workers.push((w, wire(&msg)));
    }
    fn to_client(&mut self, c: ClientIx, msg: ToClient) {
        self.to_clients.push((c, wire(&msg)));
    }
}

/// A task queued on a simulated worker: its id, function, arguments and
/// the parts to keep.
type Queued = (
    Gid,
    u32,
    Vec<ArgSource>,
    Option<Box<crate::proto::SplitInto>>,
);

struct SimWorker {
    ix: WorkerIx,
    addr: String,
    alive: bool,
    held: HashMap<Gid, u64>,
    queue: VecDeque<Queued>,
    funcs: HashMap<u32, String>,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn lit(v: u64) -> ArgSpec {
    ArgSpec::Lit(format::to_vec(&v).unwrap())
}

struct Sim {
    core: Core,
    out: Fake,
    workers: Vec<SimWorker>,
    client: ClientIx,
    done: HashMap<(GraphNo, u32), u64>,
    erred: HashMap<(GraphNo, u32), Failure>,
    attempts: HashMap<(GraphNo, u32), u32>,
    /// Runs of each "flaky" task (it fails its first two).
    flaky: HashMap<u64, u32>,
    finished: Vec<GraphNo>,
    rng: Rng,
    joined: u32,
}

impl Sim {
    fn new(cfg: CoreConfig, workers: usize, seed: u64) -> Sim {
        let mut core = Core::new(cfg);
        let client = core.client_joined();
        let mut s = Sim {
            core,
            out: Fake::default(),
            workers: Vec::new(),
            client,
            done: HashMap::new(),
            erred: HashMap::new(),
            attempts: HashMap::new(),
            flaky: HashMap::new(),
            finished: Vec::new(),
            rng: Rng(seed | 1),
            joined: 0,
        };
        for _ in 0..workers {
            s.join(&[]);
        }
        s
    }

    fn join(&mut self, resources: &[(&str, f64)]) {
        let n = self.joined;
        self.joined += 1;
        let addr = format!("sim-{n}");
        let info = WorkerInfo {
            name: addr.clone(),
            threads: 1 + (n % 2),
            memory: 0,
            resources: resources.iter().map(|(r, q)| (r.to_string(), *q)).collect(),
            data_addr: addr.clone(),
            weight: 1,
            pid: 1000 + n,
        };
        let ix = self.core.worker_joined(wire(&info), &mut self.out).unwrap();
        self.workers.push(SimWorker {
            ix,
            addr,
            alive: true,
            held: HashMap::new(),
            queue: VecDeque::new(),
            funcs: HashMap::new(),
        });
    }

    /// Kills worker `i`; `started` is what its started board shows (`None`:
    /// it had none).
    fn kill(&mut self, i: usize, started: Option<Vec<Gid>>) {
        self.workers[i].alive = false;
        self.workers[i].queue.clear();
        self.workers[i].held.clear();
        let ix = self.workers[i].ix;
        self.core
            .worker_gone(ix, "was killed", started.as_deref(), &mut self.out);
    }

    fn submit(&mut self, graph: GraphNo, tasks: Vec<TaskSpec>, outputs: Vec<u32>) {
        let msg = FromClient::Submit {
            graph,
            funcs: vec!["add".into(), "fail".into(), "flaky".into()],
            tasks,
            outputs,
            events: graph.is_multiple_of(2),
        };
        self.core
            .client_message(self.client, wire(&msg), &mut self.out);
    }

    /// Delivers queued messages; returns whether anything happened.
    fn deliver(&mut self) -> bool {
        let to_w = std::mem::take(&mut self.out.to_workers);
        let to_c = std::mem::take(&mut self.out.to_clients);
        let any = !to_w.is_empty() || !to_c.is_empty();
        for (w, m) in to_w {
            let Some(i) = self.workers.iter().position(|x| x.ix == w) else {
                continue;
            };
            let sw = &mut self.workers[i];
            if !sw.alive {
                continue;
            }
            match m {
                ToWorker::Define { func, name } => {
                    sw.funcs.insert(func, name);
                }
                ToWorker::Compute {
                    gid,
                    func,
                    args,
                    split,
                    ..
                } => sw.queue.push_back((gid, func, args, split)),
                ToWorker::Welcome { .. } => {}
                ToWorker::Release { gids } => {
                    for g in gids {
                        sw.held.remove(&g);
                    }
                }
                ToWorker::Fetch { gid, addr } => {
                    let v = self
                        .workers
                        .iter()
                        .find(|x| x.addr == addr && x.alive)
                        .and_then(|x| x.held.get(&gid).copied());
                    let ix = self.workers[i].ix;
                    let msg = match v {
                        Some(v) => {
                            self.workers[i].held.insert(gid, v);
                            FromWorker::Fetched { gid, nbytes: 8 }
                        }
                        None => FromWorker::NotFetched { gid },
                    };
                    self.core
                        .worker_message(ix, wire(&msg), &mut self.out)
                        .unwrap();
                }
                ToWorker::Steal { gids } => {
                    let mut back = Vec::new();
                    sw.queue.retain(|(g, _, _, _)| {
                        let take = gids.contains(g);
                        if take {
                            back.push(*g);
                        }
                        !take
                    });
                    let ix = sw.ix;
                    self.core
                        .worker_message(ix, wire(&FromWorker::Stolen { gids: back }), &mut self.out)
                        .unwrap();
                }
                ToWorker::Coord(r) => panic!("an answer to a request nobody made: {r:?}"),
            }
        }
        for (c, m) in to_c {
            assert_eq!(c, self.client);
            match m {
                ToClient::Finished {
                    graph, task, value, ..
                } => {
                    if !graph.is_multiple_of(2) {
                        assert!(value.is_some(), "only outputs without events");
                    }
                    match value {
                        Some(Located::Inline(b)) => {
                            self.done
                                .insert((graph, task), format::from_slice(&b).unwrap());
                        }
                        Some(Located::At { gid, addr }) => {
                            let w = self
                                .workers
                                .iter()
                                .find(|w| w.addr == addr && w.alive)
                                .unwrap();
                            let v = *w
                                .held
                                .get(&gid)
                                .expect("an output is held where the scheduler says");
                            self.done.insert((graph, task), v);
                        }
                        None => {}
                    }
                }
                ToClient::Started { graph, .. } | ToClient::Retrying { graph, .. } => {
                    assert!(graph.is_multiple_of(2), "events only when asked")
                }
                ToClient::Erred {
                    graph,
                    task,
                    failure,
                    attempt,
                } => {
                    self.attempts.insert((graph, task), attempt);
                    self.erred.insert((graph, task), failure);
                }
                ToClient::GraphDone { graph } => self.finished.push(graph),
                ToClient::Moved {
                    graph,
                    task,
                    value: Located::At { gid, addr },
                } => {
                    let w = self.workers.iter().find(|w| w.addr == addr).unwrap();
                    let v = *w.held.get(&gid).expect("a moved output is held there");
                    if let Some(old) = self.done.insert((graph, task), v) {
                        assert_eq!(old, v, "a moved output keeps its value");
                    }
                }
                ToClient::Moved { .. } => panic!("only held values move"),
                ToClient::Refused { why, .. } => panic!("refused: {why}"),
                ToClient::Var { .. }
                | ToClient::WorkerJoined { .. }
                | ToClient::WorkerLost { .. }
                | ToClient::WorkerSample { .. }
                | ToClient::Coord(_) => {}
            }
        }
        any
    }

    /// Runs one queued task on a random worker.
    fn step(&mut self) -> bool {
        let busy: Vec<usize> = (0..self.workers.len())
            .filter(|&i| self.workers[i].alive && !self.workers[i].queue.is_empty())
            .collect();
        if busy.is_empty() {
            return false;
        }
        let i = busy[self.rng.below(busy.len() as u64) as usize];
        let (gid, func, args, split) = self.workers[i].queue.pop_front().unwrap();
        let split = split.as_deref();
        let mut vals = Vec::new();
        let mut missing = None;
        for a in &args {
            match a {
                ArgSource::Lit(b) => vals.push(format::from_slice::<u64>(b).unwrap()),
                ArgSource::Here(g) => match self.workers[i].held.get(g) {
                    Some(v) => vals.push(*v),
                    None => missing = Some(*g),
                },
                ArgSource::There { gid: g, addr } => {
                    match self
                        .workers
                        .iter()
                        .find(|w| &w.addr == addr && w.alive)
                        .and_then(|w| w.held.get(g))
                    {
                        Some(v) => vals.push(*v),
                        None => missing = Some(*g),
                    }
                }
            }
        }
        let ix = self.workers[i].ix;
        let fname = self.workers[i].funcs[&func].clone();
        let flaky_fails = fname == "flaky" && {
            let n = self.flaky.entry(gid.0 & 0xffff_ffff).or_insert(0);
            *n += 1;
            *n <= 2
        };
        let msg = if let Some(m) = missing {
            FromWorker::Missing { gid, missing: m }
        } else if fname == "fail" || flaky_fails {
            FromWorker::Erred {
                gid,
                failure: Failure::Failed("boom".into()),
            }
        } else {
            let v = vals
                .iter()
                .fold(1u64, |a, b| a.wrapping_mul(31).wrapping_add(*b));
            // Sent back inline or kept, at random: both paths are taken.
            let inline = self.rng.below(2) == 0;
            if !inline {
                self.workers[i].held.insert(gid, v);
            }
            // A vector's parts: item k of value v is v * (k + 2).
            let parts = split.map(|sp| {
                sp.parts
                    .iter()
                    .map(|&(k, g)| {
                        let pv = v.wrapping_mul(u64::from(k) + 2);
                        let inline = self.rng.below(2) == 0;
                        if !inline {
                            self.workers[i].held.insert(g, pv);
                        }
                        crate::proto::PartOut {
                            gid: g,
                            nbytes: 8,
                            inline: inline.then(|| format::to_vec(&pv).unwrap()),
                        }
                    })
                    .collect()
            });
            let keep = split.is_none_or(|sp| sp.keep_whole);
            let inline = inline && keep;
            if !keep {
                self.workers[i].held.remove(&gid);
            }
            FromWorker::Finished {
                gid,
                nbytes: 8,
                micros: 3,
                thread: 0,
                inline: inline.then(|| format::to_vec(&v).unwrap()),
                parts,
            }
        };
        self.core
            .worker_message(ix, wire(&msg), &mut self.out)
            .unwrap();
        true
    }

    fn run(&mut self, graphs: usize, kill_every: u64, max_steps: usize) {
        for n in 0..max_steps {
            self.core.check().unwrap();
            let moved = self.deliver();
            if self.finished.len() >= graphs && !moved {
                return;
            }
            if kill_every > 0 && self.rng.below(kill_every) == 0 {
                let alive: Vec<usize> = (0..self.workers.len())
                    .filter(|&i| self.workers[i].alive)
                    .collect();
                if !alive.is_empty() {
                    let v = alive[self.rng.below(alive.len() as u64) as usize];
                    // Its board shows nothing started (the simulated
                    // worker runs a task in one step), or it had none.
                    let board = (self.rng.below(2) == 0).then(Vec::new);
                    self.kill(v, board);
                    self.join(&[]);
                }
            }
            if !self.step() && !moved && self.finished.len() < graphs {
                panic!("stuck at step {n}: {:?}", self.core.counts());
            }
        }
        panic!(
            "did not finish in {max_steps} steps: {:?}",
            self.core.counts()
        );
    }
}

/// A random DAG of `n` tasks ("add" over up to 3 earlier tasks and a
/// literal); some fail if `failing`. Returns specs and the expected values
/// (None: fails, directly or through an input).
fn random_dag(rng: &mut Rng, n: usize, failing: bool) -> (Vec<TaskSpec>, Vec<Option<u64>>) {
    let mut specs = Vec::new();
    let mut vals: Vec<Option<u64>> = Vec::new();
    for i in 0..n {
        let k = if i == 0 { 0 } else { rng.below(4) as usize };
        let mut args = vec![lit(i as u64)];
        let mut inputs = vec![Some(i as u64)];
        for _ in 0..k {
            let d = rng.below(i as u64) as u32;
            args.push(ArgSpec::Dep(d));
            inputs.push(vals[d as usize]);
        }
        let fails = failing && rng.below(25) == 0;
        let v = if fails || inputs.iter().any(Option::is_none) {
            None
        } else {
            Some(
                inputs
                    .iter()
                    .map(|x| x.unwrap())
                    .fold(1u64, |a, b| a.wrapping_mul(31).wrapping_add(b)),
            )
        };
        specs.push(TaskSpec {
            func: u32::from(fails),
            args,
            opts: None,
            part: None,
        });
        vals.push(v);
    }
    (specs, vals)
}

fn check_answers(sim: &Sim, graph: GraphNo, outputs: &[u32], want: &[Option<u64>]) {
    for &o in outputs {
        match want[o as usize] {
            Some(v) => assert_eq!(sim.done.get(&(graph, o)), Some(&v), "output {o}"),
            None => assert!(
                !sim.done.contains_key(&(graph, o)),
                "output {o} should fail"
            ),
        }
    }
}

#[test]
fn random_graphs_on_every_policy_give_the_direct_answer() {
    for (k, placement) in [
        Placement::EarliestStart,
        Placement::LeastLoaded,
        Placement::RoundRobin,
        Placement::Weighted,
    ]
    .into_iter()
    .enumerate()
    {
        for seed in 1..6u64 {
            let cfg = CoreConfig {
                placement,
                stealing: seed % 2 == 0,
                prefetch_per_thread: (seed % 3) as u32,
                ..CoreConfig::default()
            };
            let mut sim = Sim::new(cfg, 3, seed * 7 + k as u64);
            let (specs, want) = random_dag(&mut sim.rng, 300, true);
            let outputs: Vec<u32> = (0..300).filter(|i| i % 7 == 0 || *i == 299).collect();
            sim.submit(1, specs, outputs.clone());
            sim.run(1, 0, 100_000);
            check_answers(&sim, 1, &outputs, &want);
            // Every root failure was reported; dependents were not.
            for (&(_, t), f) in &sim.erred {
                assert_eq!(f, &Failure::Failed("boom".into()), "task {t}");
            }
            // What is still queued on workers runs to the end (tasks
            // no output needs any more, after failures).
            while sim.deliver() || sim.step() {}
            let c = sim.core.counts();
            assert_eq!(
                (c.processing, c.ready, c.waiting),
                (0, 0, 0),
                "{placement:?} {c:?}"
            );
            // Only outputs stay in memory; releasing the graph frees all.
            assert!(c.memory <= outputs.len(), "{c:?}");
            sim.core
                .client_message(sim.client, FromClient::Release { graph: 1 }, &mut sim.out);
            sim.deliver();
            assert_eq!(sim.core.counts(), Counts::default());
            assert!(
                sim.workers.iter().all(|w| w.held.is_empty()),
                "values left on workers"
            );
        }
    }
}

#[test]
fn workers_killed_at_random_do_not_change_the_answer() {
    for seed in 1..8u64 {
        let mut sim = Sim::new(
            CoreConfig {
                max_deaths: 1000,
                ..CoreConfig::default()
            },
            3,
            seed,
        );
        let (specs, want) = random_dag(&mut sim.rng, 400, false);
        let outputs: Vec<u32> = (0..400).filter(|i| i % 5 == 0 || *i == 399).collect();
        sim.submit(7, specs, outputs.clone());
        sim.run(1, 40, 200_000);
        check_answers(&sim, 7, &outputs, &want);
        assert!(sim.erred.is_empty(), "{:?}", sim.erred);
        let c = sim.core.counts();
        assert_eq!(c.processing, 0, "nothing stays processing: {c:?}");
    }
}

#[test]
fn a_task_whose_workers_keep_dying_fails_and_the_rest_completes() {
    let mut sim = Sim::new(CoreConfig::default(), 2, 3);
    let tasks = vec![
        TaskSpec {
            func: 0,
            args: vec![lit(1)],
            opts: None,
            part: None,
        },
        TaskSpec {
            func: 0,
            args: vec![lit(2)],
            opts: None,
            part: None,
        },
        TaskSpec {
            func: 0,
            args: vec![ArgSpec::Dep(0), lit(3)],
            opts: None,
            part: None,
        },
    ];
    sim.submit(1, tasks, vec![1, 2]);
    // Task 0 is the "crasher": whichever worker gets it starts it and dies
    // (its started board shows it); everything else runs normally. Before
    // each crash the worker is also killed once with task 0 queued but not
    // started: that death does not count.
    let mut spared = false;
    for _ in 0..1000 {
        sim.deliver();
        let victim = sim
            .workers
            .iter()
            .position(|w| w.alive && w.queue.iter().any(|(g, _, _, _)| (g.0 & 0xffff_ffff) == 0));
        if let Some(v) = victim {
            let gid = sim.workers[v]
                .queue
                .iter()
                .find(|(g, _, _, _)| (g.0 & 0xffff_ffff) == 0)
                .map(|(g, _, _, _)| *g)
                .unwrap();
            let board = if spared { vec![gid] } else { Vec::new() };
            spared = !spared;
            sim.kill(v, Some(board));
            sim.join(&[]);
            continue;
        }
        if !sim.step() && sim.out.to_workers.is_empty() && sim.out.to_clients.is_empty() {
            break;
        }
    }
    let (_, _, f) = sim
        .erred
        .iter()
        .map(|((g, t), f)| (g, t, f))
        .find(|(_, &t, _)| t == 0)
        .expect("task 0 failed");
    assert!(matches!(f, Failure::WorkersDied { deaths: 3, .. }), "{f:?}");
    // Its function began three times: the attempt says so.
    assert_eq!(sim.attempts[&(1, 0)], 3);
    assert!(
        sim.done.contains_key(&(1, 1)),
        "the independent task completed"
    );
    assert!(!sim.done.contains_key(&(1, 2)));
    assert!(sim.finished.contains(&1));
}

#[test]
fn resources_and_restrictions_choose_the_worker() {
    let mut sim = Sim::new(CoreConfig::default(), 0, 9);
    sim.join(&[]);
    sim.join(&[("gpu", 1.0)]);
    let gpu = sim.workers[1].ix;
    let tasks: Vec<TaskSpec> = (0..6)
        .map(|i| TaskSpec {
            func: 0,
            args: vec![lit(i)],
            opts: Some(Box::new(TaskOpts {
                resources: if i % 2 == 0 {
                    vec![("gpu".into(), 1.0)]
                } else {
                    vec![]
                },
                workers: if i == 5 { vec!["sim-0".into()] } else { vec![] },
                ..TaskOpts::default()
            })),
            part: None,
        })
        .collect();
    sim.submit(1, tasks, (0..6).collect());
    let mut seen = Vec::new();
    for _ in 0..100 {
        for (w, m) in &sim.out.to_workers {
            if let ToWorker::Compute { gid, .. } = m {
                seen.push(((gid.0 & 0xffff_ffff) as u32, *w));
            }
        }
        if !sim.deliver() && !sim.step() {
            break;
        }
    }
    assert!(sim.finished.contains(&1));
    for (t, w) in seen {
        if t % 2 == 0 {
            assert_eq!(w, gpu, "task {t} needs the gpu");
        }
        if t == 5 {
            assert_ne!(w, gpu, "task 5 is restricted to sim-0");
        }
    }
}

#[test]
fn bad_graphs_are_refused_whole() {
    let mut core = Core::new(CoreConfig::default());
    let c = core.client_joined();
    let mut out = Fake::default();
    let bad = vec![TaskSpec {
        func: 0,
        args: vec![ArgSpec::Dep(3)],
        opts: None,
        part: None,
    }];
    core.client_message(
        c,
        FromClient::Submit {
            graph: 1,
            funcs: vec!["f".into()],
            tasks: bad,
            outputs: vec![0],
            events: false,
        },
        &mut out,
    );
    let bad_func = vec![TaskSpec {
        func: 4,
        args: vec![],
        opts: None,
        part: None,
    }];
    core.client_message(
        c,
        FromClient::Submit {
            graph: 2,
            funcs: vec!["f".into()],
            tasks: bad_func,
            outputs: vec![0],
            events: false,
        },
        &mut out,
    );
    core.client_message(
        c,
        FromClient::Submit {
            graph: 3,
            funcs: vec![],
            tasks: vec![],
            outputs: vec![9],
            events: false,
        },
        &mut out,
    );
    let whys: Vec<String> = out
        .to_clients
        .iter()
        .filter_map(|(_, m)| match m {
            ToClient::Refused { why, .. } => Some(why.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(whys.len(), 3, "{whys:?}");
    assert!(whys[0].contains("depends on task 3"), "{}", whys[0]);
    assert!(whys[1].contains("function #4"), "{}", whys[1]);
    assert!(whys[2].contains("output 9"), "{}", whys[2]);
    assert_eq!(core.counts(), Counts::default());
}

#[test]
fn a_client_that_leaves_releases_its_graphs() {
    let mut sim = Sim::new(CoreConfig::default(), 2, 5);
    let (specs, _) = random_dag(&mut sim.rng, 50, false);
    sim.submit(1, specs, (0..50).collect());
    sim.deliver();
    sim.step();
    sim.deliver();
    let queued: usize = sim.workers.iter().map(|w| w.queue.len()).sum();
    assert!(queued > 0, "the workers have tasks queued");
    let c = sim.client;
    sim.core.client_gone(c, &mut sim.out);
    // The queued tasks are taken back before any more of them runs.
    sim.deliver();
    assert!(sim.workers.iter().all(|w| w.queue.is_empty()));
    while sim.deliver() || sim.step() {}
    assert_eq!(sim.core.counts(), Counts::default());
    assert!(sim.workers.iter().all(|w| w.held.is_empty()));
    assert!(sim.workers.iter().all(|w| w.queue.is_empty()));
}

fn spec(func: u32, args: Vec<ArgSpec>, opts: Option<TaskOpts>) -> TaskSpec {
    TaskSpec {
        func,
        args,
        opts: opts.map(Box::new),
        part: None,
    }
}

#[test]
fn retries_run_a_failing_task_again_for_the_kinds_asked() {
    let mut sim = Sim::new(CoreConfig::default(), 2, 11);
    let retry = |n| TaskOpts {
        retries: n,
        retry_on: fail_bits::FAILED,
        ..TaskOpts::default()
    };
    // "flaky" fails its first two runs: three attempts are enough, two not.
    let tasks = vec![
        spec(2, vec![lit(1)], Some(retry(2))),
        spec(2, vec![lit(2)], Some(retry(1))),
        spec(2, vec![lit(3)], None),
        spec(
            2,
            vec![lit(4)],
            Some(TaskOpts {
                retries: 5,
                retry_on: fail_bits::PANICKED,
                ..TaskOpts::default()
            }),
        ),
    ];
    sim.submit(2, tasks, vec![0, 1, 2, 3]);
    sim.run(1, 0, 10_000);
    assert!(sim.done.contains_key(&(2, 0)), "{:?}", sim.erred);
    assert_eq!(sim.attempts.get(&(2, 1)), Some(&2));
    assert_eq!(sim.attempts.get(&(2, 2)), Some(&1));
    // Retries for panics only: a returned error is not retried.
    assert_eq!(sim.attempts.get(&(2, 3)), Some(&1));
    assert_eq!(sim.erred.len(), 3);
}

#[test]
fn a_task_no_worker_may_run_fails_after_the_no_workers_timeout() {
    let cfg = CoreConfig {
        no_workers_timeout: Some(std::time::Duration::from_secs(5)),
        ..CoreConfig::default()
    };
    let mut sim = Sim::new(cfg, 1, 13);
    let t0 = std::time::Instant::now();
    sim.core.tick(t0, &mut sim.out);
    let tasks = vec![
        spec(
            0,
            vec![lit(1)],
            Some(TaskOpts {
                workers: vec!["nobody".into()],
                ..TaskOpts::default()
            }),
        ),
        spec(0, vec![lit(2)], None),
        spec(0, vec![ArgSpec::Dep(0), lit(3)], None),
    ];
    sim.submit(1, tasks, vec![1, 2]);
    while sim.deliver() || sim.step() {}
    assert!(sim.done.contains_key(&(1, 1)));
    assert!(sim.erred.is_empty(), "not yet: {:?}", sim.erred);
    sim.core
        .tick(t0 + std::time::Duration::from_secs(4), &mut sim.out);
    sim.deliver();
    assert!(sim.erred.is_empty(), "not yet: {:?}", sim.erred);
    sim.core
        .tick(t0 + std::time::Duration::from_secs(6), &mut sim.out);
    sim.deliver();
    match &sim.erred[&(1, 0)] {
        Failure::NoWorkers(why) => assert!(why.contains("a worker named nobody"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(sim.finished.contains(&1));
    sim.core.check().unwrap();

    // No worker at all: the same, and a worker joining in time saves it.
    let cfg = CoreConfig {
        no_workers_timeout: Some(std::time::Duration::from_secs(5)),
        ..CoreConfig::default()
    };
    let mut sim = Sim::new(cfg, 0, 17);
    sim.core.tick(t0, &mut sim.out);
    sim.submit(3, vec![spec(0, vec![lit(1)], None)], vec![0]);
    sim.deliver();
    sim.core
        .tick(t0 + std::time::Duration::from_secs(3), &mut sim.out);
    sim.join(&[]);
    sim.run(1, 0, 1000);
    assert!(sim.done.contains_key(&(3, 0)), "{:?}", sim.erred);
    sim.core
        .tick(t0 + std::time::Duration::from_secs(60), &mut sim.out);
    sim.submit(5, vec![spec(0, vec![lit(1)], None)], vec![0]);
    sim.kill(0, None);
    sim.core
        .tick(t0 + std::time::Duration::from_secs(70), &mut sim.out);
    sim.deliver();
    assert!(
        matches!(&sim.erred[&(5, 0)], Failure::NoWorkers(why) if why.contains("no worker was alive")),
        "{:?}",
        sim.erred
    );
}

#[test]
fn a_later_graph_uses_a_kept_output_and_keeps_its_graph_alive() {
    let mut sim = Sim::new(CoreConfig::default(), 2, 19);
    sim.submit(1, vec![spec(0, vec![lit(5)], None)], vec![0]);
    sim.run(1, 0, 1000);
    let first = sim.done[&(1, 0)];
    // Graph 3 uses graph 1's output; graph 1 is released meanwhile but
    // kept while graph 3 uses it.
    let tasks = vec![spec(
        0,
        vec![ArgSpec::Ext { graph: 1, task: 0 }, lit(1)],
        None,
    )];
    sim.submit(3, tasks, vec![0]);
    sim.core
        .client_message(sim.client, FromClient::Release { graph: 1 }, &mut sim.out);
    sim.run(2, 0, 1000);
    let want = [first, 1]
        .iter()
        .fold(1u64, |a, b| a.wrapping_mul(31).wrapping_add(*b));
    assert_eq!(sim.done[&(3, 0)], want);
    sim.core
        .client_message(sim.client, FromClient::Release { graph: 3 }, &mut sim.out);
    sim.deliver();
    assert_eq!(sim.core.counts(), Counts::default());
    assert!(sim.workers.iter().all(|w| w.held.is_empty()));
    // A task using a released graph's output fails (the client settles it:
    // it knows why); the rest of its graph runs.
    let mut out = Fake::default();
    sim.core.client_message(
        sim.client,
        FromClient::Submit {
            graph: 9,
            funcs: vec!["add".into()],
            tasks: vec![
                spec(0, vec![ArgSpec::Ext { graph: 1, task: 0 }], None),
                spec(0, vec![lit(3)], None),
            ],
            outputs: vec![0, 1],
            events: false,
        },
        &mut out,
    );
    assert!(
        !out.to_clients
            .iter()
            .any(|(_, m)| matches!(m, ToClient::Refused { .. } | ToClient::Erred { .. })),
        "{:?}",
        out.to_clients
    );
    assert_eq!(sim.core.counts().erred, 1);
    assert_eq!(sim.core.counts().ready + sim.core.counts().processing, 1);
}

#[test]
fn a_value_the_client_holds_goes_to_the_worker_as_an_address() {
    let mut core = Core::new(CoreConfig::default());
    let c = core.client_joined();
    let mut out = Fake::default();
    let info = WorkerInfo {
        name: "w".into(),
        threads: 1,
        memory: 0,
        resources: vec![],
        data_addr: "w".into(),
        weight: 1,
        pid: 1,
    };
    let w = core.worker_joined(info, &mut out).unwrap();
    core.client_message(
        c,
        FromClient::Submit {
            graph: 1,
            funcs: vec!["f".into()],
            tasks: vec![spec(
                0,
                vec![ArgSpec::At {
                    gid: Gid(77),
                    addr: "client".into(),
                }],
                None,
            )],
            outputs: vec![0],
            events: false,
        },
        &mut out,
    );
    let gid = out
        .to_workers
        .iter()
        .find_map(|(_, m)| match m {
            ToWorker::Compute { gid, args, .. } => {
                assert!(
                    matches!(&args[..], [ArgSource::There { gid: Gid(77), addr }] if addr == "client")
                );
                Some(*gid)
            }
            _ => None,
        })
        .unwrap();
    // The client left with it: the task fails, saying so.
    core.worker_message(
        w,
        FromWorker::Missing {
            gid,
            missing: Gid(77),
        },
        &mut out,
    )
    .unwrap();
    assert!(out.to_clients.iter().any(|(_, m)| matches!(
        m,
        ToClient::Erred { failure: Failure::Lost(why), .. } if why.contains("client")
    )));
    core.check().unwrap();
}

#[test]
fn a_vectors_parts_are_kept_apart_and_made_again_when_lost() {
    for seed in 1..30u64 {
        let mut sim = Sim::new(CoreConfig::default(), 3, seed);
        // Task 0 makes a vector; tasks 1..=4 are its parts 0..=3; each part
        // feeds an `add`; task 9 also uses the whole vector.
        let mut tasks = vec![spec(0, vec![lit(7)], None)];
        for k in 0..4u32 {
            tasks.push(TaskSpec {
                func: crate::proto::NO_FUNC,
                args: vec![ArgSpec::Dep(0)],
                opts: None,
                part: Some(k),
            });
        }
        for k in 0..4u32 {
            tasks.push(spec(0, vec![ArgSpec::Dep(1 + k), lit(u64::from(k))], None));
        }
        let whole = seed % 2 == 0;
        if whole {
            tasks.push(spec(0, vec![ArgSpec::Dep(0)], None));
        }
        let outputs: Vec<u32> = (5..tasks.len() as u32).collect();
        sim.submit(1, tasks, outputs.clone());
        // Kill workers at random moments (parts may be lost with them).
        sim.run(1, if seed % 3 == 0 { 15 } else { 0 }, 100_000);
        let v = [7u64]
            .iter()
            .fold(1u64, |a, b| a.wrapping_mul(31).wrapping_add(*b));
        for k in 0..4u64 {
            let part = v.wrapping_mul(k + 2);
            let want = [part, k]
                .iter()
                .fold(1u64, |a, b| a.wrapping_mul(31).wrapping_add(*b));
            assert_eq!(
                sim.done.get(&(1, 5 + k as u32)),
                Some(&want),
                "seed {seed} part {k}"
            );
        }
        if whole {
            let want = [v]
                .iter()
                .fold(1u64, |a, b| a.wrapping_mul(31).wrapping_add(*b));
            assert_eq!(sim.done.get(&(1, 9)), Some(&want), "seed {seed} whole");
        }
        assert!(sim.erred.is_empty(), "seed {seed}: {:?}", sim.erred);
        // The vector's task ran once per loss at most: never per part.
        sim.core
            .client_message(sim.client, FromClient::Release { graph: 1 }, &mut sim.out);
        sim.deliver();
        assert_eq!(sim.core.counts(), Counts::default(), "seed {seed}");
        assert!(sim.workers.iter().all(|w| w.held.is_empty()), "seed {seed}");
    }
}

/// Retiring workers and adaptive scaling, on this simulator.
mod retire;
/// The seeded fault simulator (delays, reordering, crashes, drops).
mod sim;

/// A worker that gives nothing back to a steal (its unstarted tasks wait
/// for inputs from peers) is not asked again until it answers about a
/// task: asking at once got the same empty answer, in a loop that kept
/// the scheduler and the worker busy and the graph stalled (seen in W9).
#[test]
fn a_worker_that_gives_nothing_back_is_not_asked_again_at_once() {
    let mut s = Sim::new(CoreConfig::default(), 0, 1);
    s.join(&[]); // one thread
    let tasks: Vec<TaskSpec> = (0..9)
        .map(|i| spec(0, vec![lit(i), lit(1)], None))
        .collect();
    s.submit(1, tasks, (0..9).collect());
    let sent: Vec<Gid> = std::mem::take(&mut s.out.to_workers)
        .into_iter()
        .filter_map(|(_, m)| match m {
            ToWorker::Compute { gid, .. } => Some(gid),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 9, "all on the only worker");
    let busy = s.workers[0].ix;
    let steals = |s: &mut Sim| {
        std::mem::take(&mut s.out.to_workers)
            .into_iter()
            .filter(|(w, m)| *w == busy && matches!(m, ToWorker::Steal { .. }))
            .count()
    };
    // An idle worker joins: the busy one is asked once.
    s.join(&[]);
    let idle = s.workers[1].ix;
    assert_eq!(steals(&mut s), 1);
    // It gives nothing back; messages keep coming (heartbeats); it is not
    // asked again.
    let none = FromWorker::Stolen { gids: Vec::new() };
    s.core
        .worker_message(busy, wire(&none), &mut s.out)
        .unwrap();
    for _ in 0..5 {
        for w in [busy, idle] {
            s.core
                .worker_message(w, wire(&FromWorker::Heartbeat), &mut s.out)
                .unwrap();
        }
    }
    assert_eq!(steals(&mut s), 0, "asked again with nothing changed");
    // Once it finishes a task, it may be asked again.
    let done = FromWorker::Finished {
        gid: sent[0],
        nbytes: 8,
        micros: 3,
        thread: 0,
        inline: Some(format::to_vec(&1u64).unwrap()),
        parts: None,
    };
    s.core
        .worker_message(busy, wire(&done), &mut s.out)
        .unwrap();
    assert_eq!(steals(&mut s), 1);
}
