//! Workers: joining, their messages, and their deaths.
//!
//! A message about a task the scheduler never gave out is a protocol error
//! (the caller logs it and drops the worker; nothing changes here); one
//! about a task released, stolen back or moved meanwhile is stale and
//! ignored (its value, if any, is released on the worker).

use smallvec::SmallVec;

use super::{ClientIx, Core, Outbox, Slot, St, Worker, WorkerIx};
use crate::proto::{Failure, FromWorker, Gid, ToClient, ToWorker, WorkerInfo};

impl Core {
    /// A new worker; refused if its name is taken by a live worker.
    pub fn worker_joined(
        &mut self,
        info: WorkerInfo,
        out: &mut impl Outbox,
    ) -> Result<WorkerIx, String> {
        if let Some(&w) = self.names.get(&info.name) {
            if self.workers[w].alive {
                return Err(format!(
                    "a worker named `{}` is already connected",
                    info.name
                ));
            }
        }
        let w = WorkerIx(self.workers.len() as u32);
        self.names.insert(info.name.clone(), w);
        let res = info.resources.len();
        out.to_worker(
            w,
            ToWorker::Welcome {
                inline_max: self.cfg.inline_max,
            },
        );
        for c in self.watchers() {
            out.to_client(
                c,
                ToClient::WorkerJoined {
                    worker: w.0,
                    name: info.name.clone(),
                    threads: info.threads,
                },
            );
        }
        self.workers.push(Worker {
            info,
            alive: true,
            in_flight: 0,
            queued_us: 0.0,
            sent: Default::default(),
            defined: Vec::new(),
            res_used: vec![0.0; res],
            stealing: false,
            answers: 0,
            refused_at: None,
            paused: false,
            retiring: false,
        });
        self.unpark_unrunnable();
        self.schedule(out);
        Ok(w)
    }

    pub(super) fn watchers(&self) -> Vec<ClientIx> {
        self.clients
            .iter()
            .enumerate()
            .filter(|(_, c)| c.alive && c.watch_workers)
            .map(|(i, _)| ClientIx(i as u32))
            .collect()
    }

    /// A message from worker `w` (see the module docs).
    pub fn worker_message(
        &mut self,
        w: WorkerIx,
        msg: FromWorker,
        out: &mut impl Outbox,
    ) -> Result<(), String> {
        if !self.workers.get(w).is_some_and(|wk| wk.alive) {
            return Ok(());
        }
        match &msg {
            FromWorker::Started { gid, .. }
            | FromWorker::Finished { gid, .. }
            | FromWorker::Erred { gid, .. }
            | FromWorker::Missing { gid, .. }
            | FromWorker::Fetched { gid, .. }
            | FromWorker::NotFetched { gid } => self.known(*gid)?,
            FromWorker::Stolen { gids } => {
                for g in gids {
                    self.known(*g)?;
                }
            }
            FromWorker::Join(_) => return Err("a second join message".to_owned()),
            FromWorker::Heartbeat | FromWorker::Coord(_) | FromWorker::Memory(_) => {}
        }
        // The tasks this message answers about (see `settle_stray`).
        let answers: smallvec::SmallVec<[Gid; 1]> = match &msg {
            FromWorker::Finished { gid, .. }
            | FromWorker::Erred { gid, .. }
            | FromWorker::Missing { gid, .. } => smallvec::smallvec![*gid],
            FromWorker::Stolen { gids } => gids.iter().copied().collect(),
            _ => SmallVec::new(),
        };
        let schedule = self.handle_worker_message(w, msg, out);
        for gid in answers {
            self.settle_stray(w, gid, out);
        }
        if schedule {
            self.schedule(out);
        }
        Ok(())
    }

    /// `worker_message`, once the message is known to be about tasks
    /// this scheduler gave out.
    fn handle_worker_message(
        &mut self,
        w: WorkerIx,
        msg: FromWorker,
        out: &mut impl Outbox,
    ) -> bool {
        match msg {
            FromWorker::Join(_) | FromWorker::Heartbeat => return false,
            FromWorker::Coord(req) => {
                let now = self.now;
                let peer = super::coord::Peer::Worker(w.0);
                self.coord
                    .request(peer, req, now, &mut super::CoordOut(out));
                return false;
            }
            FromWorker::Memory(sample) => self.memory_sample(w, sample, out),
            FromWorker::Started { gid, thread } => {
                if let Some(slot) = self.processing_on(gid, w) {
                    self.started(slot, w, thread, out);
                }
                return false;
            }
            FromWorker::Finished {
                gid,
                nbytes,
                micros,
                thread,
                inline,
                parts,
            } => {
                let slot = self.processing_on(gid, w);
                self.answered(w, slot);
                match slot {
                    Some(slot) => {
                        // The parts first: they are in memory before the
                        // vector's dependents are counted.
                        if let Some(outs) = parts {
                            self.finished_parts(slot, w, thread, outs, out);
                        }
                        self.observe(slot, micros);
                        self.finished(slot, w, thread, nbytes, micros, inline, out)
                    }
                    // A task released or moved meanwhile: drop its value.
                    None if inline.is_none() => {
                        out.to_worker(w, ToWorker::Release { gids: vec![gid] })
                    }
                    None => {}
                }
            }
            FromWorker::Erred { gid, failure } => {
                let slot = self.processing_on(gid, w);
                self.answered(w, slot);
                if let Some(slot) = slot {
                    self.attempt_failed(slot, failure, out);
                }
            }
            FromWorker::Missing { gid, missing } => {
                let slot = self.processing_on(gid, w);
                self.answered(w, slot);
                if let Some(slot) = slot {
                    let held_by_client = self
                        .task(slot)
                        .args
                        .iter()
                        .any(|a| matches!(a, super::Arg::At(g, _) if *g == missing));
                    if held_by_client {
                        let why = "a value its client holds could not be fetched from the \
                                   client (it left, or released the value)";
                        self.err(slot, Some(Failure::Lost(why.to_owned())), out);
                    } else {
                        self.missing(missing, out);
                        self.enter_waiting(slot, out);
                    }
                }
            }
            FromWorker::Fetched { gid, nbytes } => self.fetched(w, gid, Some(nbytes), out),
            FromWorker::NotFetched { gid } => self.fetched(w, gid, None, out),
            FromWorker::Stolen { gids } => {
                let wk = &mut self.workers[w];
                wk.stealing = false;
                if gids.is_empty() {
                    wk.refused_at = Some(wk.answers);
                }
                for gid in gids {
                    let slot = self.processing_on(gid, w);
                    self.answered(w, slot);
                    if let Some(slot) = slot {
                        // Its inputs may have been lost meanwhile: re-count.
                        self.enter_waiting(slot, out);
                    }
                }
            }
        }
        true
    }

    /// The function of `slot` began to run on `w`'s compute `thread`.
    fn started(&mut self, slot: Slot, w: WorkerIx, thread: u32, out: &mut impl Outbox) {
        let t = self.task_mut(slot);
        if t.started {
            return;
        }
        t.started = true;
        t.attempts += 1;
        let (attempt, local) = (t.attempts, t.local);
        if let Some(g) = self.graph_of(slot) {
            if g.events {
                out.to_client(
                    g.client,
                    ToClient::Started {
                        graph: g.no,
                        task: local,
                        worker: w.0,
                        thread,
                        attempt,
                    },
                );
            }
        }
    }

    /// A worker could not fetch `missing` from the holder it was pointed
    /// at: that holder lost it (or died, which we may not know yet).
    fn missing(&mut self, missing: Gid, out: &mut impl Outbox) {
        let Some(m) = self.lookup(missing) else {
            return;
        };
        let mt = self.task_mut(m);
        if mt.state != St::Memory || mt.holders.is_empty() {
            return;
        }
        let h = mt.holders.remove(0);
        out.to_worker(
            h,
            ToWorker::Release {
                gids: vec![missing],
            },
        );
        if !self.task(m).has_value() {
            self.lost(m, out);
        }
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

    /// Worker `w` is gone (disconnected, or silent past its deadline): its
    /// tasks go elsewhere, values only it held are recomputed if needed. A
    /// death counts against the tasks that had started there: those in
    /// `started` (its started board, where it had one), else those that said
    /// `Started`, else the `threads` oldest sent to it.
    pub fn worker_gone(
        &mut self,
        w: WorkerIx,
        why: &str,
        started: Option<&[Gid]>,
        out: &mut impl Outbox,
    ) {
        let Some(wk) = self.workers.get_mut(w) else {
            return;
        };
        if !wk.alive {
            return;
        }
        wk.alive = false;
        wk.in_flight = 0;
        self.retiring.strays.retain(|&(_, _, sw)| sw != w);
        wk.queued_us = 0.0;
        wk.stealing = false;
        let sent = std::mem::take(&mut wk.sent);
        let name = wk.info.name.clone();
        // What its tasks held (locks, queue items...) is released first.
        self.coord
            .peer_gone(super::coord::Peer::Worker(w.0), &mut super::CoordOut(out));
        for c in self.watchers() {
            out.to_client(
                c,
                ToClient::WorkerLost {
                    worker: w.0,
                    name: name.clone(),
                    why: why.to_owned(),
                },
            );
        }
        let max = self.cfg.max_deaths;
        let threads = self.workers[w].info.threads.max(1) as usize;
        // Its tasks, from what was sent there (each appears once with its
        // current generation; stale entries are skipped), oldest first.
        let mut mine: SmallVec<[Slot; 64]> = SmallVec::new();
        for (s, gen) in sent {
            let t = self.task(s);
            if t.gen == gen && t.state == St::Processing(w) && !mine.contains(&s) {
                mine.push(s);
            }
        }
        let any_said_started = mine.iter().any(|&s| self.task(s).started);
        for (k, slot) in mine.into_iter().enumerate() {
            let gid = self.task(slot).gid(slot);
            let t = self.task_mut(slot);
            if t.state != St::Processing(w) {
                continue;
            }
            let ran = match started {
                // Its board, and what said `Started` (async tasks run off
                // the compute threads, so off the board).
                Some(board) => board.contains(&gid) || t.started,
                None if any_said_started => t.started,
                None => k < threads,
            };
            if ran {
                t.deaths += 1;
                if !t.started {
                    t.attempts += 1;
                }
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
        // Values it held. An output that another worker still holds
        // (copied off a retiring one) is announced there: its client may
        // have been told this one (found by the simulator, seed 5278).
        for i in 0..self.tasks.len() {
            let t = &mut self.tasks[i];
            if t.state == St::Memory && t.holders.contains(&w) {
                t.holders.retain(|h| *h != w);
                if !t.has_value() {
                    self.lost(Slot(i as u32), out);
                } else if t.output && t.inline.is_none() {
                    self.announce_moved(Slot(i as u32), out);
                }
            }
        }
        self.schedule(out);
    }
}
