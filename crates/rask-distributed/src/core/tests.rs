//! A deterministic simulator for the core: fake workers and a fake client
//! behind a transport that encodes and decodes every message (so the wire
//! format cannot drift from what the core sends), random interleavings and
//! injected faults (workers killed mid-run, values lost), checked against
//! the answer computed directly.
#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, VecDeque};

use super::*;
use crate::proto::{FromClient, FromWorker, TaskSpec, ToClient, ToWorker};

/// Encodes and decodes, as the wire would.
fn wire<T: serde::Serialize + serde::de::DeserializeOwned>(m: &T) -> T {
    bincode::deserialize(&bincode::serialize(m).unwrap()).unwrap()
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

struct SimWorker {
    ix: WorkerIx,
    addr: String,
    alive: bool,
    held: HashMap<Gid, u64>,
    queue: VecDeque<(Gid, u32, Vec<ArgSource>)>,
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
    ArgSpec::Lit(bincode::serialize(&v).unwrap())
}

struct Sim {
    core: Core,
    out: Fake,
    workers: Vec<SimWorker>,
    client: ClientIx,
    done: HashMap<(GraphNo, u32), u64>,
    erred: HashMap<(GraphNo, u32), Failure>,
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

    fn kill(&mut self, i: usize) {
        self.workers[i].alive = false;
        self.workers[i].queue.clear();
        self.workers[i].held.clear();
        let ix = self.workers[i].ix;
        self.core.worker_gone(ix, "was killed", &mut self.out);
    }

    fn submit(&mut self, graph: GraphNo, tasks: Vec<TaskSpec>, outputs: Vec<u32>) {
        let msg = FromClient::Submit {
            graph,
            funcs: vec!["add".into(), "fail".into()],
            tasks,
            outputs,
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
                ToWorker::Compute { gid, func, args } => sw.queue.push_back((gid, func, args)),
                ToWorker::Release { gids } => {
                    for g in gids {
                        sw.held.remove(&g);
                    }
                }
                ToWorker::Steal { gids } => {
                    let mut back = Vec::new();
                    sw.queue.retain(|(g, _, _)| {
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
            }
        }
        for (c, m) in to_c {
            assert_eq!(c, self.client);
            match m {
                ToClient::Done {
                    graph,
                    task,
                    gid,
                    addr,
                } => {
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
                ToClient::Erred {
                    graph,
                    task,
                    failure,
                } => {
                    self.erred.insert((graph, task), failure);
                }
                ToClient::Finished { graph } => self.finished.push(graph),
                ToClient::Refused { why, .. } => panic!("refused: {why}"),
                ToClient::Var { .. } => {}
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
        let (gid, func, args) = self.workers[i].queue.pop_front().unwrap();
        let mut vals = Vec::new();
        let mut missing = None;
        for a in &args {
            match a {
                ArgSource::Lit(b) => vals.push(bincode::deserialize::<u64>(b).unwrap()),
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
        let msg = if let Some(m) = missing {
            FromWorker::Missing { gid, missing: m }
        } else if self.workers[i].funcs[&func] == "fail" {
            FromWorker::Erred {
                gid,
                failure: Failure::Failed("boom".into()),
            }
        } else {
            let v = vals
                .iter()
                .fold(1u64, |a, b| a.wrapping_mul(31).wrapping_add(*b));
            self.workers[i].held.insert(gid, v);
            FromWorker::Finished {
                gid,
                nbytes: 8,
                micros: 3,
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
                    self.kill(v);
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
            resources: Vec::new(),
            workers: Vec::new(),
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
            resources: vec![],
            workers: vec![],
        },
        TaskSpec {
            func: 0,
            args: vec![lit(2)],
            resources: vec![],
            workers: vec![],
        },
        TaskSpec {
            func: 0,
            args: vec![ArgSpec::Dep(0), lit(3)],
            resources: vec![],
            workers: vec![],
        },
    ];
    sim.submit(1, tasks, vec![1, 2]);
    // Task 0 is the "crasher": whichever worker gets it dies before
    // running it; everything else runs normally.
    for _ in 0..1000 {
        sim.deliver();
        let victim = sim
            .workers
            .iter()
            .position(|w| w.alive && w.queue.iter().any(|(g, _, _)| (g.0 & 0xffff_ffff) == 0));
        if let Some(v) = victim {
            sim.kill(v);
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
            resources: if i % 2 == 0 {
                vec![("gpu".into(), 1.0)]
            } else {
                vec![]
            },
            workers: if i == 5 { vec!["sim-0".into()] } else { vec![] },
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
        resources: vec![],
        workers: vec![],
    }];
    core.client_message(
        c,
        FromClient::Submit {
            graph: 1,
            funcs: vec!["f".into()],
            tasks: bad,
            outputs: vec![0],
        },
        &mut out,
    );
    let bad_func = vec![TaskSpec {
        func: 4,
        args: vec![],
        resources: vec![],
        workers: vec![],
    }];
    core.client_message(
        c,
        FromClient::Submit {
            graph: 2,
            funcs: vec!["f".into()],
            tasks: bad_func,
            outputs: vec![0],
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
    let c = sim.client;
    sim.core.client_gone(c, &mut sim.out);
    while sim.deliver() || sim.step() {}
    assert_eq!(sim.core.counts(), Counts::default());
    assert!(sim.workers.iter().all(|w| w.held.is_empty()));
    assert!(sim.workers.iter().all(|w| w.queue.is_empty()));
}
