//! The fake peers of the fault simulator: a worker's handling of the
//! scheduler's messages and its compute threads, and a client's handling
//! of its messages (as `worker/` and `client.rs` do).

use super::*;

impl FaultSim {
    /// A fetch between workers: cut at random in some seeds.
    fn peer_fetch(&mut self, addr: &str, g: Gid) -> Option<u64> {
        if self.cut_fetch > 0 && self.rng.below(self.cut_fetch) == 0 {
            self.say(format_args!("the fetch of {g:?} from {addr} is cut"));
            self.stats.cut_fetches += 1;
            return None;
        }
        self.fetch(addr, g)
    }

    pub(super) fn at_worker(&mut self, i: usize, m: ToWorker) {
        self.stats.messages += 1;
        self.say(format_args!("scheduler -> {}: {m:?}", self.workers[i].name));
        match m {
            ToWorker::Welcome { .. } => {}
            ToWorker::Define { func, name } => {
                self.workers[i].funcs.insert(func, name);
            }
            ToWorker::Compute {
                gid,
                func,
                args,
                attempt,
                report_start,
                ..
            } => {
                // Inputs here are taken now; a peer's are fetched now.
                let mut vals = Vec::new();
                let mut missing = None;
                for a in &args {
                    let v = match a {
                        ArgSource::Lit(b) => Some(format::from_slice::<u64>(b).unwrap()),
                        ArgSource::Here(g) => self.workers[i].store.get(g).copied(),
                        ArgSource::There { gid: g, addr } => self.peer_fetch(addr, *g),
                    };
                    match (v, a) {
                        (Some(v), _) => vals.push(v),
                        (None, ArgSource::Here(g) | ArgSource::There { gid: g, .. }) => {
                            missing = Some(*g);
                            break;
                        }
                        (None, ArgSource::Lit(_)) => unreachable!(),
                    }
                }
                match missing {
                    Some(m) => {
                        self.stats.missing += 1;
                        self.worker_says(i, FromWorker::Missing { gid, missing: m })
                    }
                    None => self.workers[i].queue.push_back(Job {
                        gid,
                        func,
                        vals,
                        attempt,
                        report_start,
                    }),
                }
            }
            ToWorker::Steal { gids } => {
                let mut back = Vec::new();
                self.workers[i].queue.retain(|j| {
                    let take = gids.contains(&j.gid);
                    if take {
                        back.push(j.gid);
                    }
                    !take
                });
                self.worker_says(i, FromWorker::Stolen { gids: back });
            }
            ToWorker::Release { gids } => {
                for g in gids {
                    self.workers[i].store.remove(&g);
                }
            }
            ToWorker::Fetch { gid, addr } => {
                let msg = match self.peer_fetch(&addr, gid) {
                    Some(v) => {
                        self.workers[i].store.insert(gid, v);
                        FromWorker::Fetched { gid, nbytes: 8 }
                    }
                    None => FromWorker::NotFetched { gid },
                };
                self.worker_says(i, msg);
            }
            ToWorker::Coord(r) => panic!("an answer to a request nobody made: {r:?}"),
        }
    }

    /// Worker `i` finishes what is due and starts what its threads can.
    pub(super) fn compute(&mut self, i: usize) {
        if self.workers[i].life != Life::Alive || (self.workers[i].slow && self.rng.below(4) != 0) {
            return;
        }
        let now = self.now;
        let due: Vec<Job> = {
            let w = &mut self.workers[i];
            let (due, rest): (Vec<_>, Vec<_>) = w.running.drain(..).partition(|(_, at)| *at <= now);
            w.running = rest;
            due.into_iter().map(|(j, _)| j).collect()
        };
        for j in due {
            let name = self.workers[i].funcs[&j.func].clone();
            let fails = name == "fail" || (name == "flaky" && j.attempt <= 2);
            let msg = if fails {
                FromWorker::Erred {
                    gid: j.gid,
                    failure: Failure::Failed("boom".into()),
                }
            } else {
                let v = fold(&j.vals);
                let inline = self.rng.below(2) == 0;
                if !inline {
                    self.workers[i].store.insert(j.gid, v);
                }
                FromWorker::Finished {
                    gid: j.gid,
                    nbytes: 8,
                    micros: 1000,
                    thread: 0,
                    inline: inline.then(|| format::to_vec(&v).unwrap()),
                    parts: None,
                }
            };
            self.worker_says(i, msg);
        }
        while self.workers[i].running.len() < self.workers[i].threads as usize {
            let Some(j) = self.workers[i].queue.pop_front() else {
                break;
            };
            let d = 1 + self.rng.below(if self.workers[i].slow { 12 } else { 3 });
            if j.report_start {
                self.worker_says(
                    i,
                    FromWorker::Started {
                        gid: j.gid,
                        thread: 0,
                    },
                );
            }
            self.workers[i].running.push((j, now + d));
        }
    }

    pub(super) fn at_client(&mut self, ci: usize, m: ToClient) {
        self.stats.messages += 1;
        self.say(format_args!("scheduler -> client {ci}: {}", short_to(&m)));
        let graph = match &m {
            ToClient::Finished { graph, .. }
            | ToClient::Erred { graph, .. }
            | ToClient::GraphDone { graph }
            | ToClient::Started { graph, .. }
            | ToClient::Retrying { graph, .. }
            | ToClient::Moved { graph, .. } => *graph,
            ToClient::Refused { why, .. } => panic!("refused: {why}"),
            _ => return,
        };
        let gi = self.clients[ci]
            .graphs
            .iter()
            .position(|g| g.no == graph)
            .expect("a message about a graph never submitted");
        let g = &mut self.clients[ci].graphs[gi];
        if g.released {
            // Sent before the scheduler heard of the release: ignored.
            return;
        }
        match m {
            ToClient::Started { .. } | ToClient::Retrying { .. } => {
                assert!(g.events, "events only when asked")
            }
            ToClient::Finished { task, value, .. } => match value {
                Some(Located::Inline(b)) => {
                    let v: u64 = format::from_slice(&b).unwrap();
                    if let Some(old) = g.values.insert(task, v) {
                        assert_eq!(old, v, "output {task} of graph {graph} changed");
                    }
                    g.located.remove(&task);
                }
                Some(Located::At { gid, addr }) if !g.values.contains_key(&task) => {
                    g.located.insert(task, (gid, addr));
                }
                Some(Located::At { .. }) => {}
                None => assert!(g.events, "a value-less Finished without events"),
            },
            ToClient::Moved {
                task,
                value: Located::At { gid, addr },
                ..
            } if !g.values.contains_key(&task) => {
                g.located.insert(task, (gid, addr));
            }
            ToClient::Moved {
                value: Located::At { .. },
                ..
            } => {}
            ToClient::Moved { .. } => panic!("only held values move"),
            ToClient::Erred {
                task,
                failure,
                attempt,
                ..
            } => {
                g.erred.insert(task, (failure, attempt));
            }
            ToClient::GraphDone { .. } => {
                g.done = true;
            }
            _ => {}
        }
        if !self.clients[ci].graphs[gi].done {
            return;
        }
        // Done: fetch what is held on workers. As the real client
        // (`client.rs`, `collect`): a value gone from where it was
        // announced is waited for until announced again (`Finished` once
        // recomputed, `Moved` once copied off a retiring worker: seed 167,
        // where `Moved` came after `GraphDone` and the client used to wait
        // for a second `GraphDone` that never came); an output with a
        // failed input is settled failed, not fetched (seed 3544:
        // announced, then its holder died and its recomputation failed
        // through an input; nothing announces it again).
        let located = std::mem::take(&mut self.clients[ci].graphs[gi].located);
        for (task, (gid, addr)) in located {
            if self.clients[ci].graphs[gi].failed(task).is_some() {
                continue;
            }
            match self.fetch(&addr, gid) {
                Some(v) => {
                    let g = &mut self.clients[ci].graphs[gi];
                    if let Some(old) = g.values.insert(task, v) {
                        assert_eq!(old, v, "output {task} of graph {graph} changed");
                    }
                }
                None => {
                    self.say(format_args!(
                        "client {ci} could not fetch output {task} of graph {graph} from {addr}"
                    ));
                }
            }
        }
        let g = &self.clients[ci].graphs[gi];
        if g.complete() && !g.released && self.rng.below(2) == 0 {
            let no = g.no;
            self.say(format_args!("client {ci} releases graph {no}"));
            let d = self.delay();
            let now = self.now;
            let c = &mut self.clients[ci];
            c.graphs[gi].released = true;
            c.up.push(now + d, CUp::Msg(FromClient::Release { graph: no }));
        }
    }
}
