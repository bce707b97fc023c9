//! The transitions of the task state machine (see the module docs of
//! `core`). None of them recurses in proportion to the graph: failures
//! spread with an explicit stack, revivals (lineage recomputation) with a
//! work list.

use std::cmp::Reverse;
use std::sync::Arc;

use super::{Core, GraphIx, Outbox, Slot, St, WorkerIx};
use crate::proto::{Failure, Located, PartOut, ToClient, ToWorker};

impl Core {
    /// Puts `slot` in `Waiting` with its count recomputed; it becomes
    /// `Ready` at once if every input is in memory. Inputs that are neither
    /// in memory nor on their way are recomputed (lineage), transitively.
    pub(super) fn enter_waiting(&mut self, slot: Slot, out: &mut impl Outbox) {
        // On the stack: every task of a submitted graph comes through here.
        let mut todo: smallvec::SmallVec<[Slot; 4]> = smallvec::smallvec![slot];
        while let Some(s) = todo.pop() {
            let mut waiting = 0;
            let mut failed = false;
            for d in self.task(s).deps() {
                match self.task(d).state {
                    St::Memory => {}
                    St::Released => {
                        waiting += 1;
                        // It runs again: its own inputs are needed again.
                        for dd in self.task(d).deps() {
                            self.task_mut(dd).needed += 1;
                        }
                        // Counted as waiting until `todo` gets to it.
                        self.task_mut(d).state = St::Waiting;
                        todo.push(d);
                    }
                    St::Erred => failed = true,
                    _ => waiting += 1,
                }
            }
            if failed {
                self.err(s, None, out);
                continue;
            }
            let t = self.task_mut(s);
            t.waiting = waiting;
            t.state = St::Waiting;
            if waiting == 0 {
                self.make_ready(s);
            }
        }
    }

    pub(super) fn make_ready(&mut self, slot: Slot) {
        let t = &mut self.tasks[slot.ix()];
        if t.part.is_some() {
            // A part is never run: its vector is made again (its value in
            // memory is not kept split).
            t.state = St::Waiting;
            t.waiting = 1;
            if let Some(&v) = self.tasks[slot.ix()].deps().first() {
                self.remake.push((v, self.tasks[v.ix()].gen));
            }
            return;
        }
        t.state = St::Ready;
        t.started = false;
        let gen = t.gen;
        let (prio, order) = self.rank(slot);
        self.ready.push(Reverse((prio, order, slot, gen)));
    }

    /// The order ready tasks go in, smaller first: priority (higher
    /// first), then graph, then the task's place in its graph (the plan's
    /// depth-first order). Workers start their queued tasks in it too.
    pub(super) fn rank(&self, slot: Slot) -> (i64, u64) {
        let t = self.task(slot);
        let seq = self.graphs[t.graph].as_ref().map_or(0, |g| g.seq);
        (-i64::from(t.priority()), (seq << 32) | u64::from(t.local))
    }

    /// `slot` fails: with `failure` (reported, with the attempt) or because
    /// an input failed (not reported); every dependent fails too.
    pub(super) fn err(&mut self, slot: Slot, failure: Option<Failure>, out: &mut impl Outbox) {
        let mut stack = vec![(slot, failure)];
        while let Some((s, failure)) = stack.pop() {
            let t = self.task_mut(s);
            if matches!(t.state, St::Erred | St::Free) {
                continue;
            }
            // Only a task that had not run counts in its inputs' `needed`.
            let counted = matches!(t.state, St::Waiting | St::Ready | St::Processing(_));
            t.state = St::Erred;
            // A dependent already in memory (an input of it was lost, then
            // failed when made again) lets its holders forget its value
            // (found by the simulator, seed 5419: it stayed on the worker).
            let gid = t.gid(s);
            for w in t.holders.drain(..) {
                out.to_worker(w, ToWorker::Release { gids: vec![gid] });
            }
            t.inline = None;
            let (g, local, output, attempt) = (t.graph, t.local, t.output, t.attempts);
            let deps = t.deps();
            let dependents = t.dependents.clone();
            if let Some(graph) = self.graphs[g].as_ref() {
                if let Some(failure) = failure {
                    out.to_client(
                        graph.client,
                        ToClient::Erred {
                            graph: graph.no,
                            task: local,
                            attempt: attempt.max(1),
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

    /// An attempt of `slot` (processing) failed with `failure`: it runs
    /// again if its options allow, else it fails.
    pub(super) fn attempt_failed(&mut self, slot: Slot, failure: Failure, out: &mut impl Outbox) {
        let t = self.task_mut(slot);
        if !t.started {
            t.attempts += 1;
            t.started = true;
        }
        let t = self.task(slot);
        let retry = t
            .opts
            .as_ref()
            .is_some_and(|o| t.retried < o.retries && failure.bit() & o.retry_on != 0);
        if !retry {
            self.err(slot, Some(failure), out);
            return;
        }
        let t = self.task_mut(slot);
        t.retried += 1;
        let (attempt, local) = (t.attempts.max(1), t.local);
        if let Some(graph) = self.graph_of(slot) {
            if graph.events {
                let (client, no) = (graph.client, graph.no);
                out.to_client(
                    client,
                    ToClient::Retrying {
                        graph: no,
                        task: local,
                        attempt,
                        failure,
                    },
                );
            }
        }
        self.enter_waiting(slot, out);
    }

    pub(super) fn output_settled(&mut self, g: GraphIx, out: &mut impl Outbox) {
        if let Some(graph) = self.graphs[g].as_mut() {
            graph.outputs_left = graph.outputs_left.saturating_sub(1);
            if graph.outputs_left == 0 {
                out.to_client(graph.client, ToClient::GraphDone { graph: graph.no });
            }
        }
    }

    /// One dependent edge of `d` no longer needs its value.
    pub(super) fn unneed(&mut self, d: Slot, out: &mut impl Outbox) {
        let t = self.task_mut(d);
        t.needed = t.needed.saturating_sub(1);
        if t.needed == 0 && !t.output && t.state == St::Memory {
            self.release(d, out);
        }
    }

    pub(super) fn release(&mut self, slot: Slot, out: &mut impl Outbox) {
        let t = &mut self.tasks[slot.ix()];
        let gid = t.gid(slot);
        for w in t.holders.drain(..) {
            out.to_worker(w, ToWorker::Release { gids: vec![gid] });
        }
        t.inline = None;
        t.state = St::Released;
    }

    /// The vectors whose parts are wanted again: each is forgotten where it
    /// is and made again (its parts come with it).
    pub(super) fn remake_vectors(&mut self, out: &mut impl Outbox) {
        for (v, gen) in std::mem::take(&mut self.remake) {
            let t = self.task(v);
            if t.gen != gen || t.state != St::Memory {
                continue;
            }
            let gid = t.gid(v);
            for w in self.task_mut(v).holders.drain(..) {
                out.to_worker(w, ToWorker::Release { gids: vec![gid] });
            }
            self.task_mut(v).inline = None;
            self.lost(v, out);
        }
    }

    /// The parts a worker kept with vector `v`: each that still waits goes
    /// to `Memory` there, or inline; any other is released.
    pub(super) fn finished_parts(
        &mut self,
        v: Slot,
        w: WorkerIx,
        thread: u32,
        outs: Vec<PartOut>,
        out: &mut impl Outbox,
    ) {
        for p in outs {
            let part = self.lookup(p.gid).filter(|&s| {
                let t = self.task(s);
                t.state == St::Waiting && t.part.is_some() && t.deps().first() == Some(&v)
            });
            match part {
                Some(part) => self.finished(part, w, thread, p.nbytes, 0, p.inline, out),
                // Made meanwhile elsewhere, or no longer wanted.
                None if p.inline.is_none() => {
                    out.to_worker(w, ToWorker::Release { gids: vec![p.gid] })
                }
                None => {}
            }
        }
    }

    /// `slot` finished on worker `w`: its value is there, or inline.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finished(
        &mut self,
        slot: Slot,
        w: WorkerIx,
        thread: u32,
        nbytes: u64,
        micros: u64,
        inline: Option<Vec<u8>>,
        out: &mut impl Outbox,
    ) {
        let t = &mut self.tasks[slot.ix()];
        t.state = St::Memory;
        t.holders.clear();
        t.nbytes = nbytes;
        if !t.started {
            // Its `Started` was not asked for: the answer shows it ran.
            t.attempts += 1;
            t.started = true;
        }
        match inline {
            Some(b) => t.inline = Some(Arc::new(b)),
            None => {
                t.inline = None;
                t.holders.push(w);
            }
        }
        let f = t.func;
        if let Some(us) = self.func_us.get_mut(f) {
            *us = 0.8 * *us + 0.2 * micros as f64;
        }
        self.note_result_bytes(f, nbytes);
        let t = &self.tasks[slot.ix()];
        let (g, local, output, needed, attempt) =
            (t.graph, t.local, t.output, t.needed, t.attempts.max(1));
        let gid = t.gid(slot);
        let deps = t.deps();
        let dependents = t.dependents.clone();
        if let Some(graph) = self.graphs[g].as_ref() {
            if output || graph.events {
                let value = output.then(|| match &t.inline {
                    Some(b) => Located::Inline(b.as_ref().clone()),
                    None => Located::At {
                        gid,
                        addr: self.workers[w].info.data_addr.clone(),
                    },
                });
                out.to_client(
                    graph.client,
                    ToClient::Finished {
                        graph: graph.no,
                        task: local,
                        worker: w.0,
                        thread,
                        attempt,
                        micros,
                        nbytes,
                        value,
                    },
                );
            }
            if output {
                self.output_settled(g, out);
            }
        }
        for d in deps {
            self.unneed(d, out);
        }
        for d in dependents {
            let dt = self.task_mut(d);
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

    /// `slot` was in memory and its value is gone (its last holder died or
    /// lost it): dependents wait for it again, and it is recomputed if
    /// anything still wants it.
    pub(super) fn lost(&mut self, slot: Slot, out: &mut impl Outbox) {
        let t = self.task(slot);
        let still_wanted = t.needed > 0 || t.output;
        let dependents = t.dependents.clone();
        self.task_mut(slot).state = St::Released;
        for &d in &dependents {
            let dt = self.task_mut(d);
            match dt.state {
                St::Waiting => dt.waiting += 1,
                St::Ready => dt.state = St::Waiting, // re-counted below
                _ => {}
            }
        }
        if still_wanted {
            if self.task(slot).output {
                // Its `Finished` was sent; the client will be told again.
                let g = self.task(slot).graph;
                if let Some(graph) = self.graphs[g].as_mut() {
                    graph.outputs_left += 1;
                }
            }
            for dd in self.task(slot).deps() {
                self.task_mut(dd).needed += 1;
            }
            self.enter_waiting(slot, out);
        }
        for d in dependents {
            if self.task(d).state == St::Waiting {
                let waiting = self
                    .task(d)
                    .deps()
                    .iter()
                    .filter(|&&x| self.task(x).state != St::Memory)
                    .count() as u32;
                self.task_mut(d).waiting = waiting;
                if waiting == 0 {
                    self.make_ready(d);
                }
            }
        }
    }
}
