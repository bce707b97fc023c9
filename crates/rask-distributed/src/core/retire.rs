//! Retiring workers gracefully: a worker leaves without losing a value, so
//! nothing it computed is computed again (Dask's `retire_workers`).
//!
//! Rules:
//! 1. A retiring worker gets no new task (it has no room,
//!    `Worker::has_room`) and never counts as idle for stealing; the tasks
//!    queued on it and not started are stolen back (`Steal`), those running
//!    finish there.
//! 2. Each value in memory that no live, non-retiring worker holds, and
//!    that a retiring worker does, is copied: a non-retiring worker (the one
//!    holding the fewest bytes) is asked to fetch it from the retiring one
//!    and keep it (`ToWorker::Fetch`); its `Fetched` adds it to the value's
//!    holders. If the value is an output, its client hears `Moved`, with
//!    the new address, since `Finished` named the retiring worker (and
//!    hears it again, naming the next holder, if that one dies while
//!    another still holds the value: `worker_gone`).
//! 3. A fetch that fails (`NotFetched`, or its fetcher died) is asked of
//!    another worker, up to [`MAX_TRIES`] times; after that the value is
//!    given up, and when its worker leaves it is lost as on a death
//!    (recomputed if still wanted).
//! 4. When nothing is in flight on it and no value needs copying off it,
//!    the worker leaves: it is removed as on a disconnection (no task
//!    counts a death: none runs there), its watchers hear `WorkerLost`
//!    ("was retired"), and its connection is closed
//!    ([`Outbox::close_worker`]), which ends a worker process with status
//!    0.
//! 5. The last worker not retiring is not retired (no one would take its
//!    values or the next tasks); if every other one dies while it retires,
//!    its retirement is cancelled.
//! 6. A task is pointed at the first holder of each input it lacks: the
//!    worker that stays comes first in a value's holders, and a retiring
//!    worker stays while a task processing elsewhere has an input it
//!    holds (that task may have been pointed at it before the copy).
//!
//! Costs: nothing while no worker retires ([`Core::tick`] checks one
//! vector's length); while some do, a step (at most one every
//! [`STEP_EVERY`], or at once after a `Fetched`) scans the task table once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::ix::Ix;
use super::{Core, Outbox, Slot, St, WorkerIx};
use crate::proto::{Gid, Located, ToClient, ToWorker};

/// Fetchers asked to copy one value before it is given up (rule 3).
pub(super) const MAX_TRIES: u32 = 3;

/// `Copy::to` of a copy to be asked again of another worker.
const NOBODY: WorkerIx = WorkerIx(u32::MAX);

/// At most one scan of the task table this often while workers retire.
pub(super) const STEP_EVERY: Duration = Duration::from_millis(50);

/// A value being copied off a retiring worker.
#[derive(Debug)]
struct Copy {
    gen: u32,
    /// The worker asked to fetch it.
    to: WorkerIx,
    tries: u32,
}

/// Retirements in progress (see the module docs).
#[derive(Debug, Default)]
pub(super) struct Retiring {
    /// The workers retiring.
    workers: Vec<WorkerIx>,
    /// Values being copied, by task.
    copies: HashMap<Slot, Copy>,
    /// Values given up after [`MAX_TRIES`] (task, generation).
    given_up: Vec<(Slot, u32)>,
    /// Copies that reached a worker while the same task was being made
    /// again there (task, generation, worker): released once the worker
    /// answers about the task, unless that answer left the value there
    /// (`settle_stray`).
    pub(super) strays: Vec<(Slot, u32, WorkerIx)>,
    /// When the next step may scan.
    next_step: Option<Instant>,
}

impl Core {
    /// Starts retiring the live workers named `names` (unknown names are
    /// ignored); returns the names refused by rule 5.
    pub fn retire(&mut self, names: &[String], out: &mut impl Outbox) -> Vec<String> {
        let mut refused = Vec::new();
        for name in names {
            let Some(&w) = self.names.get(name) else {
                continue;
            };
            let wk = &self.workers[w];
            if !wk.alive || wk.retiring {
                continue;
            }
            let others = self
                .workers
                .enumerate()
                .any(|(i, o)| i != w && o.alive && !o.retiring);
            if !others {
                refused.push(name.clone());
                continue;
            }
            self.workers[w].retiring = true;
            self.retiring.workers.push(w);
        }
        self.retiring.next_step = None;
        self.progress_retiring(out);
        refused
    }

    /// One step of every retirement (rules 1, 2 and 4); called by `tick`.
    pub(super) fn progress_retiring(&mut self, out: &mut impl Outbox) {
        if self.retiring.workers.is_empty() {
            return;
        }
        if self.retiring.next_step.is_some_and(|t| self.now < t) {
            return;
        }
        self.retiring.next_step = Some(self.now + STEP_EVERY);
        let mut keep = Vec::new();
        for w in std::mem::take(&mut self.retiring.workers) {
            let wk = &self.workers[w];
            if !wk.alive {
                continue;
            }
            if !self.workers.iter().any(|o| o.alive && !o.retiring) {
                // Rule 5: everyone else died meanwhile.
                self.workers[w].retiring = false;
                continue;
            }
            self.steal_back(w, out);
            keep.push(w);
        }
        self.retiring.workers = keep;
        if self.retiring.workers.is_empty() {
            self.retiring.copies.clear();
            self.retiring.given_up.clear();
            return;
        }
        let pending = self.copy_off(out);
        let leaving: Vec<WorkerIx> = self
            .retiring
            .workers
            .iter()
            .copied()
            .filter(|&w| self.workers[w].in_flight == 0 && !pending.contains(&w))
            .collect();
        for w in leaving {
            self.retiring.workers.retain(|&x| x != w);
            self.worker_gone(w, "was retired", Some(&[]), out);
            out.close_worker(w);
        }
        if self.retiring.workers.is_empty() {
            self.retiring.copies.clear();
            self.retiring.given_up.clear();
        }
    }

    /// Rule 1: asks retiring worker `w` to give back what it has not
    /// started (once per round trip); also for paused workers
    /// (`memory.rs`).
    pub(super) fn steal_back(&mut self, w: WorkerIx, out: &mut impl Outbox) {
        let wk = &self.workers[w];
        if wk.stealing || wk.in_flight == 0 {
            return;
        }
        let gids: Vec<Gid> = wk
            .sent
            .iter()
            .filter(|&&(s, gen)| {
                let t = self.task(s);
                t.gen == gen && t.state == St::Processing(w) && !t.started
            })
            .map(|&(s, _)| self.task(s).gid(s))
            .collect();
        if !gids.is_empty() {
            self.workers[w].stealing = true;
            out.to_worker(w, ToWorker::Steal { gids });
        }
    }

    /// Rule 2: asks for a copy of every value only retiring workers hold
    /// and that is not being copied; returns the retiring workers that
    /// must stay for now (a value still to copy, or a task elsewhere that
    /// may still fetch from them).
    fn copy_off(&mut self, out: &mut impl Outbox) -> Vec<WorkerIx> {
        let n = self.workers.len();
        let mut bytes = vec![0u64; n];
        let mut todo: Vec<Slot> = Vec::new();
        let mut pending: Vec<WorkerIx> = Vec::new();
        let workers = &self.workers;
        for t in self.tasks.iter_mut() {
            if t.state != St::Memory || t.inline.is_some() {
                continue;
            }
            for &h in &t.holders {
                bytes[h.index()] += t.nbytes;
            }
            // Tasks sent from now on fetch from the first holder: a
            // worker that stays, where there is one (rule 6).
            if let Some(k) = t.holders.iter().position(|&h| !workers[h].retiring) {
                t.holders.swap(0, k);
            }
        }
        for (i, t) in self.tasks.iter().enumerate() {
            match t.state {
                St::Memory if t.inline.is_none() => {}
                St::Processing(x) => {
                    // Rule 6: it may still fetch an input from a retiring
                    // holder it was pointed at.
                    for d in t.deps() {
                        for &h in &self.task(d).holders {
                            if h != x && self.workers[h].retiring && !pending.contains(&h) {
                                pending.push(h);
                            }
                        }
                    }
                    continue;
                }
                _ => continue,
            }
            let safe = t.holders.iter().any(|&h| !self.workers[h].retiring);
            if safe || self.retiring.given_up.contains(&(Slot(i as u32), t.gen)) {
                continue;
            }
            for &h in &t.holders {
                if !pending.contains(&h) {
                    pending.push(h);
                }
            }
            todo.push(Slot(i as u32));
        }
        for slot in todo {
            let (gen, nbytes, from) = {
                let t = self.task(slot);
                (t.gen, t.nbytes, t.holders[0])
            };
            let fetching = |c: &Copy| self.workers.get(c.to).is_some_and(|x| x.alive);
            let tries = match self.retiring.copies.get(&slot) {
                Some(c) if c.gen == gen && fetching(c) => continue,
                Some(c) if c.gen == gen => c.tries,
                _ => 0,
            };
            if tries >= MAX_TRIES {
                self.retiring.copies.remove(&slot);
                self.retiring.given_up.push((slot, gen));
                continue;
            }
            let Some(to) = self
                .workers
                .enumerate()
                .filter(|(_, wk)| wk.alive && !wk.retiring)
                .map(|(w, _)| w)
                .min_by_key(|&w| bytes[w.index()])
            else {
                continue;
            };
            bytes[to.index()] += nbytes;
            let gid = self.task(slot).gid(slot);
            let addr = self.workers[from].info.data_addr.clone();
            out.to_worker(to, ToWorker::Fetch { gid, addr });
            self.retiring.copies.insert(
                slot,
                Copy {
                    gen,
                    to,
                    tries: tries + 1,
                },
            );
        }
        pending
    }

    /// Worker `w` answered a `Fetch` of `gid`: it holds the value now
    /// (`nbytes`), or could not get it (rule 3).
    pub(super) fn fetched(
        &mut self,
        w: WorkerIx,
        gid: crate::proto::Gid,
        nbytes: Option<u64>,
        out: &mut impl Outbox,
    ) {
        self.retiring.next_step = None;
        let slot = self.lookup(gid);
        let asked = slot.and_then(|s| {
            let c = self.retiring.copies.get(&s)?;
            (c.gen == self.task(s).gen && c.to == w).then_some(s)
        });
        let Some(slot) = asked else {
            if nbytes.is_some() {
                self.release_copy(w, gid, out);
            }
            return;
        };
        if nbytes.is_none() {
            // Asked again, of another worker, at the next step.
            if let Some(c) = self.retiring.copies.get_mut(&slot) {
                c.to = NOBODY;
            }
            return;
        }
        self.retiring.copies.remove(&slot);
        let t = self.task(slot);
        if t.holders.contains(&w) {
            return;
        }
        if t.state != St::Memory || t.inline.is_some() {
            // No longer wanted meanwhile.
            self.release_copy(w, gid, out);
            return;
        }
        // First: the holder that tasks sent from now on fetch from.
        self.task_mut(slot).holders.insert(0, w);
        self.announce_moved(slot, out);
    }

    /// Worker `w` fetched a copy of `gid` that is no longer wanted: it is
    /// released, unless the task is being made again on `w` itself (its
    /// holder died meanwhile): a `Release` would reach `w` after the
    /// `Compute` and drop the value it makes (same id), which the
    /// scheduler would then think it holds (found by the simulator, seeds
    /// 63205 and 30439). Then it is released once `w` answers about the
    /// task, if that answer did not leave the value there.
    fn release_copy(&mut self, w: WorkerIx, gid: Gid, out: &mut impl Outbox) {
        match self.lookup(gid) {
            Some(s) if self.task(s).state == St::Processing(w) => {
                let gen = self.task(s).gen;
                self.retiring.strays.push((s, gen, w));
            }
            _ => out.to_worker(w, ToWorker::Release { gids: vec![gid] }),
        }
    }

    /// Worker `w` answered about `gid`: a copy of it that reached `w`
    /// while `w` was making it again is released, unless the answer left
    /// the value there (see `Retiring::strays`).
    pub(super) fn settle_stray(&mut self, w: WorkerIx, gid: Gid, out: &mut impl Outbox) {
        if self.retiring.strays.is_empty() {
            return;
        }
        let slot = Slot((gid.0 & 0xffff_ffff) as u32);
        let gen = (gid.0 >> 32) as u32;
        let Some(i) = self
            .retiring
            .strays
            .iter()
            .position(|&(s, g, sw)| s == slot && g == gen && sw == w)
        else {
            return;
        };
        self.retiring.strays.swap_remove(i);
        let kept = self.lookup(gid).is_some_and(|s| {
            let t = self.task(s);
            t.state == St::Memory && t.holders.contains(&w)
        });
        if !kept {
            out.to_worker(w, ToWorker::Release { gids: vec![gid] });
        }
    }

    /// If `slot` is an output held on workers, tells its client where to
    /// fetch it now: its first holder.
    pub(super) fn announce_moved(&self, slot: Slot, out: &mut impl Outbox) {
        let t = self.task(slot);
        let (Some(&h), true) = (t.holders.first(), t.output) else {
            return;
        };
        if let Some(graph) = self.graphs.get(t.graph).and_then(Option::as_ref) {
            let value = Located::At {
                gid: t.gid(slot),
                addr: self.workers[h].info.data_addr.clone(),
            };
            out.to_client(
                graph.client,
                ToClient::Moved {
                    graph: graph.no,
                    task: t.local,
                    value,
                },
            );
        }
    }

    /// Names of the workers being retired.
    pub fn retiring(&self) -> Vec<String> {
        self.retiring
            .workers
            .iter()
            .map(|&w| self.workers[w].info.name.clone())
            .collect()
    }
}
