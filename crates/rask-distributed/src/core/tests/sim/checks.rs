//! The fault simulator's graphs and their answers, and the checks at the
//! end of a seed (see `sim.rs`).

use super::*;

impl FaultSim {
    /// A random DAG of 1 to 24 tasks over earlier ones, with its answers.
    pub(super) fn random_graph(&mut self, no: GraphNo) -> G {
        let rng = &mut self.rng;
        let n = 1 + rng.below(24) as usize;
        let mut specs = Vec::new();
        let mut want = Vec::new();
        let mut deps = Vec::new();
        let mut retries = HashMap::new();
        for i in 0..n {
            let k = if i == 0 { 0 } else { rng.below(4) as usize };
            let mut args = vec![lit(i as u64)];
            let mut inputs = vec![Want::Value(i as u64)];
            let mut ds = Vec::new();
            for _ in 0..k {
                let d = rng.below(i as u64) as u32;
                args.push(ArgSpec::Dep(d));
                inputs.push(want[d as usize]);
                ds.push(d);
            }
            let func = match rng.below(20) {
                0 => 1,
                1 | 2 => 2,
                _ => 0,
            };
            // Flaky tasks have enough retries; failing ones some or none.
            let opts = match func {
                2 => Some(2 + rng.below(2) as u32),
                1 => Some(rng.below(3) as u32),
                _ => None,
            }
            .map(|r| {
                retries.insert(i as u32, r);
                TaskOpts {
                    retries: r,
                    retry_on: fail_bits::FAILED,
                    ..TaskOpts::default()
                }
            });
            let v = if func == 1 {
                Want::Fails
            } else {
                let mut vals = Vec::new();
                for x in &inputs {
                    match x {
                        Want::Value(v) => vals.push(*v),
                        Want::Fails => break,
                    }
                }
                if vals.len() == inputs.len() {
                    Want::Value(fold(&vals))
                } else {
                    Want::Fails
                }
            };
            specs.push(spec(func, args, opts));
            want.push(v);
            deps.push(ds);
        }
        let mut outputs: Vec<u32> = (0..n as u32).filter(|_| rng.below(3) == 0).collect();
        if outputs.is_empty() || rng.below(2) == 0 {
            outputs.push(n as u32 - 1);
        }
        outputs.dedup();
        G {
            no,
            specs,
            want,
            deps,
            outputs,
            events: rng.below(2) == 0,
            submit_at: rng.below(60),
            submitted: false,
            done: false,
            values: HashMap::new(),
            located: Default::default(),
            erred: HashMap::new(),
            retries,
            released: false,
        }
    }

    /// The checks at the end (see the module docs).
    pub(super) fn check_end(&self) {
        let c = self.core.counts();
        assert_eq!(
            (c.waiting, c.ready, c.processing),
            (0, 0, 0),
            "tasks left unfinished: {c:?}"
        );
        for (w, wk) in self.core.workers.iter().enumerate() {
            assert_eq!(wk.in_flight, 0, "worker {w} still has tasks in flight");
        }
        let mut kept = 0;
        for (ci, cl) in self.clients.iter().enumerate() {
            for g in &cl.graphs {
                let in_core = self.core.graph_ix.get(&(cl.ix, g.no));
                if cl.left || g.released {
                    assert!(
                        in_core.is_none(),
                        "client {ci}'s graph {} not forgotten",
                        g.no
                    );
                    continue;
                }
                let gx = *in_core.unwrap_or_else(|| panic!("graph {} lost", g.no));
                kept += self.core.graphs[gx].as_ref().unwrap().tasks.len();
                assert!(g.complete(), "client {ci}'s graph {} never completed", g.no);
                for &o in &g.outputs {
                    let got = g.values.get(&o);
                    match (g.want[o as usize], got) {
                        (Want::Value(v), Some(&x)) => {
                            assert_eq!(x, v, "graph {} output {o}", g.no)
                        }
                        (Want::Fails, Some(x)) => {
                            panic!("graph {} output {o} should fail, got {x}", g.no)
                        }
                        (Want::Value(_), None) => match g.failed(o) {
                            Some(Failure::WorkersDied { .. }) => {}
                            f => panic!("graph {} output {o} failed with {f:?}", g.no),
                        },
                        (Want::Fails, None) => {}
                    }
                }
                for (t, (f, attempt)) in &g.erred {
                    match f {
                        Failure::WorkersDied { deaths, .. } => {
                            assert!(*deaths >= self.core.cfg.max_deaths)
                        }
                        Failure::Failed(_) => {
                            assert_eq!(g.want[*t as usize], Want::Fails, "task {t} failed");
                            let r = g.retries.get(t).copied().unwrap_or(0);
                            assert!(
                                *attempt > r,
                                "task {t} failed at attempt {attempt} with {r} retries"
                            );
                        }
                        other => panic!("task {t} failed with {other:?}"),
                    }
                }
            }
        }
        let live = self
            .core
            .tasks
            .iter()
            .filter(|t| t.state != St::Free)
            .count();
        assert_eq!(live, kept, "tasks of forgotten graphs are still there");
        // Workers hold only what the scheduler knows they hold.
        for w in self.workers.iter().filter(|w| w.life == Life::Alive) {
            for gid in w.store.keys() {
                let held = self.core.lookup(*gid).is_some_and(|s| {
                    let t = self.core.task(s);
                    t.state == St::Memory && t.holders.contains(&w.ix)
                });
                assert!(
                    held,
                    "{} keeps {gid:?}, which the scheduler does not know",
                    w.name
                );
            }
        }
    }
}
