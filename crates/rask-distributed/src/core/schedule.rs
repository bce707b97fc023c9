//! Sending ready tasks to workers.
//!
//! Ready tasks wait in one heap (priority, then graph order, then task
//! order) and go, best first, to the worker the placement policy picks among
//! those that are alive, have room in their window (tasks sent and not
//! answered: a few per thread always, more while their estimated work is
//! short, see `Worker::has_room`) and may run the task (its
//! resources fit now, its worker restriction names them). A task that no
//! live worker could *ever* run (none alive, or none with the resources or
//! the name it asks for) is parked as unrunnable: it goes back to the heap
//! when a worker joins, and fails with `NoWorkers` once it has waited
//! `no_workers_timeout`.

use std::cmp::Reverse;

use super::ix::Ix;
use super::placement::{pick, Candidate};
use super::{Arg, Core, Outbox, Placement, Slot, St, Task, Worker, WorkerIx, NO_FUNC};
use crate::proto::{ArgSource, Failure, ToWorker};

impl Core {
    /// Sends ready tasks to workers while some have room.
    pub(super) fn schedule(&mut self, out: &mut impl Outbox) {
        if !self.remake.is_empty() {
            self.remake_vectors(out);
        }
        let mut parked = Vec::new();
        let mut cands = Vec::new();
        let any_alive = self.workers.iter().any(|w| w.alive);
        while let Some(Reverse(key)) = self.ready.peek() {
            let (_, _, slot, gen) = key;
            let t = self.task(slot);
            let func = t.func;
            if t.gen != gen || t.state != St::Ready {
                self.ready.pop();
                continue;
            }
            if any_alive
                && !self
                    .workers
                    .iter()
                    .any(|w| w.alive && w.has_room(&self.cfg))
            {
                break;
            }
            self.ready.pop();
            if func == NO_FUNC {
                let why = "it is a closure or a function not registered with #[rask::task] \
                           (only registered functions run in worker processes and on clusters)";
                self.err(slot, Some(Failure::NotRegistered(why.to_owned())), out);
                continue;
            }
            let t = self.task(slot);
            if !self.workers.iter().any(|w| w.alive && may_ever_run(t, w)) {
                self.unrunnable.push((slot, gen, self.now));
                continue;
            }
            self.candidates(slot, &mut cands);
            if self.withhold_root(slot, &mut cands) {
                self.queue_root(Reverse(key));
                continue;
            }
            if cands.is_empty() {
                parked.push(Reverse(key));
                continue;
            }
            let i = pick(self.cfg.placement, &cands, &mut self.turn);
            let w = cands[i].index;
            self.send(slot, w, out);
        }
        self.place_queued(out);
        self.ready.extend(parked);
        if self.cfg.stealing && self.ready.is_empty() {
            self.steal(out);
        }
    }

    /// A worker joined: tasks parked as unrunnable get another look.
    pub(super) fn unpark_unrunnable(&mut self) {
        for (slot, gen, _) in std::mem::take(&mut self.unrunnable) {
            let t = self.task(slot);
            if t.gen == gen && t.state == St::Ready {
                self.make_ready(slot);
            }
        }
    }

    /// Fails the unrunnable tasks that waited too long.
    pub(super) fn expire_unrunnable(&mut self, out: &mut impl Outbox) {
        let Some(limit) = self.cfg.no_workers_timeout else {
            return;
        };
        if self.unrunnable.is_empty() {
            return;
        }
        let now = self.now;
        let (expired, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.unrunnable)
            .into_iter()
            .partition(|&(_, _, since)| now.saturating_duration_since(since) >= limit);
        self.unrunnable = kept;
        for (slot, gen, _) in expired {
            let t = self.task(slot);
            if t.gen != gen || t.state != St::Ready {
                continue;
            }
            let why = if !self.workers.iter().any(|w| w.alive) {
                format!("no worker was alive for {limit:?}")
            } else {
                let mut asks = Vec::new();
                if !t.restrict().is_empty() {
                    asks.push(format!("a worker named {}", t.restrict().join(" or ")));
                }
                for (r, q) in t.resources() {
                    asks.push(format!("{q} {r}"));
                }
                format!(
                    "for {limit:?} no live worker had what it asks for ({})",
                    asks.join(", ")
                )
            };
            self.err(slot, Some(Failure::NoWorkers(why)), out);
        }
    }

    pub(super) fn candidates(&self, slot: Slot, cands: &mut Vec<Candidate>) {
        cands.clear();
        let t = self.task(slot);
        for (i, w) in self.workers.enumerate() {
            if !w.alive || !w.has_room(&self.cfg) || !may_ever_run(t, w) {
                continue;
            }
            if !fits_now(t, w) {
                continue;
            }
            let missing_bytes = if self.cfg.placement == Placement::EarliestStart {
                t.args
                    .iter()
                    .filter_map(|a| match a {
                        Arg::Dep(d) => Some(self.task(*d)),
                        _ => None,
                    })
                    .filter(|d| d.inline.is_none() && !d.holders.contains(&i))
                    .map(|d| d.nbytes)
                    .sum()
            } else {
                0
            };
            cands.push(Candidate {
                index: i,
                in_flight: w.in_flight,
                threads: w.info.threads,
                weight: w.info.weight,
                queued_us: w.queued_us,
                missing_bytes,
            });
        }
    }

    pub(super) fn send(&mut self, slot: Slot, w: WorkerIx, out: &mut impl Outbox) {
        let t = self.task(slot);
        let gid = t.gid(slot);
        let func = t.func;
        let timeout_ms = t.opts.as_ref().map_or(0, |o| o.timeout_ms);
        let attempt = t.attempts + 1;
        let report_start = self.graph_of(slot).is_some_and(|g| g.events);
        let rank = self.rank(slot);
        let split = t.parts.as_ref().map(|parts| {
            let wanted = parts
                .iter()
                .filter(|(_, p)| self.task(*p).state == St::Waiting)
                .map(|&(item, p)| (item, self.task(p).gid(p)))
                .collect();
            let keep_whole = t.output
                || t.dependents
                    .iter()
                    .any(|&d| self.task(d).part.is_none() && self.task(d).state != St::Erred);
            Box::new(crate::proto::SplitInto {
                parts: wanted,
                keep_whole,
            })
        });
        let mut args = Vec::with_capacity(t.args.len());
        for a in t.args.iter() {
            args.push(match a {
                Arg::Lit(b) => ArgSource::Lit(b.as_ref().clone()),
                Arg::At(g, addr) => ArgSource::There {
                    gid: *g,
                    addr: addr.to_string(),
                },
                Arg::Dep(d) => {
                    let dt = self.task(*d);
                    let dg = dt.gid(*d);
                    if let Some(b) = &dt.inline {
                        ArgSource::Lit(b.as_ref().clone())
                    } else if dt.holders.contains(&w) {
                        ArgSource::Here(dg)
                    } else {
                        // Invariant: in memory, so held somewhere.
                        let h = dt.holders.first().copied().unwrap_or(w);
                        ArgSource::There {
                            gid: dg,
                            addr: self.workers[h].info.data_addr.clone(),
                        }
                    }
                }
            });
        }
        let est = self.func_us[func];
        let wk = &mut self.workers[w];
        if wk.defined.len() <= func.index() {
            wk.defined.resize(func.index() + 1, false);
        }
        if !wk.defined[func.index()] {
            wk.defined[func.index()] = true;
            out.to_worker(
                w,
                ToWorker::Define {
                    func: func.0,
                    name: self.funcs[func].clone(),
                },
            );
        }
        out.to_worker(
            w,
            ToWorker::Compute {
                gid,
                func: func.0,
                rank,
                args,
                timeout_ms,
                attempt,
                report_start,
                split,
            },
        );
        wk.in_flight += 1;
        wk.queued_us += est;
        wk.sent.push_back((slot, self.tasks[slot.ix()].gen));
        let t = &mut self.tasks[slot.ix()];
        if let Some(o) = &t.opts {
            for (r, q) in &o.resources {
                if let Some(i) = wk.info.resources.iter().position(|(n, _)| n == r) {
                    wk.res_used[i] += q;
                }
            }
        }
        t.state = St::Processing(w);
        t.started = false;
        t.est_us = est as f32;
    }

    /// Worker `w` answered about a task it was sent: it leaves its window.
    pub(super) fn answered(&mut self, w: WorkerIx, slot: Option<Slot>) {
        let wk = &mut self.workers[w];
        wk.in_flight = wk.in_flight.saturating_sub(1);
        wk.answers += 1;
        if let Some(slot) = slot {
            let t = &self.tasks[slot.ix()];
            wk.queued_us = (wk.queued_us - f64::from(t.est_us)).max(0.0);
            for (r, q) in t.resources() {
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
            let t = &self.tasks[s.ix()];
            if t.gen == gen && t.state == St::Processing(w) {
                break;
            }
            wk.sent.pop_front();
        }
    }
}

/// Whether `w` could run `t` at all: its name is allowed and it has each
/// resource in the amount asked (free or not).
fn may_ever_run(t: &Task, w: &Worker) -> bool {
    (t.restrict().is_empty() || t.restrict().contains(&w.info.name))
        && t.resources().iter().all(|(r, q)| {
            w.info
                .resources
                .iter()
                .any(|(n, have)| n == r && *q <= *have + 1e-9)
        })
}

/// Whether the resources `t` asks for are free on `w` now.
fn fits_now(t: &Task, w: &Worker) -> bool {
    t.resources().iter().all(|(r, q)| {
        w.info
            .resources
            .iter()
            .position(|(n, _)| n == r)
            .is_some_and(|i| w.res_used[i] + q <= w.info.resources[i].1 + 1e-9)
    })
}
