//! Submitting and releasing graphs.
//!
//! A graph is checked whole before any state changes, so a bad graph is
//! refused with nothing left behind. Its tasks take free slots of the slab
//! (a reused slot's generation is bumped, so an old [`Gid`] never names the
//! new task). A task may use the value of a task of an earlier graph of the
//! same client (`ArgSpec::Ext`, a persisted future): that graph is then kept,
//! even once released, until every graph that uses it is gone.

use std::sync::Arc;

use smallvec::SmallVec;

use super::{
    Arg, ClientIx, Core, FuncIx, Graph, GraphIx, Outbox, Slot, St, Task, WorkerIx, NO_FUNC,
    UNKNOWN_US,
};
use crate::proto::{ArgSpec, GraphNo, TaskSpec, ToClient, ToWorker};

impl Core {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn submit(
        &mut self,
        c: ClientIx,
        no: GraphNo,
        funcs: Vec<String>,
        specs: Vec<TaskSpec>,
        outputs: Vec<u32>,
        events: bool,
        out: &mut impl Outbox,
    ) -> Result<(), String> {
        if self.graph_ix.contains_key(&(c, no)) {
            return Err(format!("graph {no} was already submitted"));
        }
        // Check the whole graph before touching any state.
        let mut uses: Vec<GraphIx> = Vec::new();
        for (i, s) in specs.iter().enumerate() {
            if s.func != crate::proto::NO_FUNC && s.func as usize >= funcs.len() {
                return Err(format!(
                    "task {i} names function #{} of {}",
                    s.func,
                    funcs.len()
                ));
            }
            for a in &s.args {
                match a {
                    ArgSpec::Dep(d) if *d as usize >= i => {
                        return Err(format!(
                            "task {i} depends on task {d}, which is not an earlier task"
                        ))
                    }
                    // A graph released already (its persisted output failed,
                    // and the client settles its users): the task fails,
                    // not the graph.
                    ArgSpec::Ext { graph, .. } if !self.graph_ix.contains_key(&(c, *graph)) => {}
                    ArgSpec::Ext { graph, task } => {
                        let g = self.ext_slot(c, *graph, *task).map_err(|why| {
                            format!("task {i} uses task {task} of graph {graph}, but {why}")
                        })?;
                        if !uses.contains(&g.0) {
                            uses.push(g.0);
                        }
                    }
                    _ => {}
                }
            }
            if let Some(o) = &s.opts {
                if o.resources.iter().any(|(_, q)| !q.is_finite() || *q < 0.0) {
                    return Err(format!("task {i} asks for a negative or infinite resource"));
                }
            }
            if s.part.is_some() && !matches!(&s.args[..], [ArgSpec::Dep(_)]) {
                return Err(format!(
                    "task {i} is a part, but not of one earlier task of the graph"
                ));
            }
        }
        if let Some(o) = outputs.iter().find(|&&o| o as usize >= specs.len()) {
            return Err(format!(
                "output {o} is not a task of the graph ({} tasks)",
                specs.len()
            ));
        }
        let fmap: Vec<FuncIx> = funcs.into_iter().map(|f| self.intern(f)).collect();
        let g = match self.free_graphs.pop() {
            Some(g) => g,
            None => self.graphs.push(None),
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut slots: Vec<Slot> = Vec::with_capacity(specs.len());
        // Tasks with an input that failed on the client's side.
        let mut doomed: Vec<usize> = Vec::new();
        for (local, s) in specs.into_iter().enumerate() {
            let mut args = Vec::with_capacity(s.args.len());
            for a in s.args {
                args.push(match a {
                    ArgSpec::Dep(d) => Arg::Dep(slots[d as usize]),
                    ArgSpec::Lit(b) => Arg::Lit(Arc::new(b)),
                    ArgSpec::At { gid, addr } => Arg::At(gid, addr.into()),
                    ArgSpec::Failed(_) => {
                        doomed.push(slots.len());
                        continue;
                    }
                    ArgSpec::Ext { graph, task } => match self.ext_slot(c, graph, task) {
                        Ok((_, slot)) => Arg::Dep(slot),
                        // Released (checked above).
                        Err(_) => {
                            doomed.push(slots.len());
                            continue;
                        }
                    },
                });
            }
            let func = if s.func == crate::proto::NO_FUNC {
                NO_FUNC
            } else {
                fmap[s.func as usize]
            };
            let task = Task {
                gen: 0,
                graph: g,
                local: local as u32,
                func,
                state: St::Waiting,
                output: false,
                started: false,
                waiting: 0,
                needed: 0,
                attempts: 0,
                retried: 0,
                deaths: 0,
                est_us: 0.0,
                nbytes: 0,
                args: args.into_boxed_slice(),
                dependents: SmallVec::new(),
                holders: SmallVec::new(),
                inline: None,
                opts: s.opts.filter(|o| **o != Default::default()),
                part: s.part,
                parts: None,
            };
            let slot = match self.free.pop() {
                Some(slot) => {
                    let gen = self.tasks[slot.ix()].gen.wrapping_add(1);
                    self.tasks[slot.ix()] = Task { gen, ..task };
                    slot
                }
                None => {
                    self.tasks.push(task);
                    Slot(self.tasks.len() as u32 - 1)
                }
            };
            slots.push(slot);
        }
        for &slot in &slots {
            for d in self.task(slot).deps() {
                let dt = self.task_mut(d);
                dt.dependents.push(slot);
                dt.needed += 1;
            }
            if let Some(item) = self.task(slot).part {
                if let Some(&vector) = self.task(slot).deps().first() {
                    self.task_mut(vector)
                        .parts
                        .get_or_insert_with(Default::default)
                        .push((item, slot));
                }
            }
        }
        let mut outputs_left = 0;
        for &o in &outputs {
            let t = self.task_mut(slots[o as usize]);
            if !t.output {
                t.output = true;
                outputs_left += 1;
            }
        }
        for &u in &uses {
            if let Some(ug) = self.graphs[u].as_mut() {
                ug.users += 1;
            }
        }
        self.graphs[g] = Some(Graph {
            client: c,
            no,
            seq,
            tasks: slots.clone(),
            outputs_left,
            events,
            users: 0,
            uses,
            released: false,
        });
        self.graph_ix.insert((c, no), g);
        if outputs_left == 0 {
            out.to_client(c, ToClient::GraphDone { graph: no });
        }
        // Tasks no output needs are never run.
        for &slot in slots.iter().rev() {
            let t = self.task(slot);
            if !t.output && t.needed == 0 {
                self.task_mut(slot).state = St::Released;
                for d in self.task(slot).deps() {
                    self.task_mut(d).needed -= 1;
                }
            }
        }
        for i in doomed {
            if self.task(slots[i]).state == St::Waiting {
                self.err(slots[i], None, out);
            }
        }
        for &slot in &slots {
            if self.task(slot).state == St::Waiting {
                self.enter_waiting(slot, out);
            }
        }
        Ok(())
    }

    /// The graph index and slot of task `task` of client `c`'s graph
    /// `graph`, which a new graph may use.
    fn ext_slot(&self, c: ClientIx, graph: GraphNo, task: u32) -> Result<(GraphIx, Slot), String> {
        let g = *self
            .graph_ix
            .get(&(c, graph))
            .ok_or("that graph was released or never submitted")?;
        let gr = self.graphs[g].as_ref().ok_or("that graph was released")?;
        let slot = *gr
            .tasks
            .get(task as usize)
            .ok_or("that graph has fewer tasks")?;
        if !self.task(slot).output {
            return Err("that task is not an output of its graph".to_owned());
        }
        Ok((g, slot))
    }

    fn intern(&mut self, name: String) -> FuncIx {
        if let Some(&f) = self.func_ix.get(&name) {
            return f;
        }
        let f = self.funcs.push(name.clone());
        self.func_ix.insert(name, f);
        self.func_us.push(UNKNOWN_US);
        f
    }

    /// The client released graph `g`: it is forgotten now, or once no later
    /// graph uses it.
    pub(super) fn release_graph(&mut self, g: GraphIx, out: &mut impl Outbox) {
        let Some(graph) = self.graphs[g].as_mut() else {
            return;
        };
        graph.released = true;
        if graph.users == 0 {
            self.forget_graph(g, out);
        }
    }

    /// Frees every slot of graph `g`, takes back its tasks queued on workers
    /// and releases its values; the graphs it used lose a user (and are forgotten too if released and unused: a
    /// loop, not a recursion, since persisted graphs can chain).
    fn forget_graph(&mut self, g: GraphIx, out: &mut impl Outbox) {
        let mut todo = vec![g];
        while let Some(g) = todo.pop() {
            let Some(graph) = self.graphs[g].take() else {
                continue;
            };
            self.free_graphs.push(g);
            // Edges into earlier graphs: those tasks lose these dependents.
            for &slot in &graph.tasks {
                let t = self.task(slot);
                let counted = matches!(t.state, St::Waiting | St::Ready | St::Processing(_));
                for d in t.deps() {
                    let dt = &self.tasks[d.ix()];
                    if dt.graph == g || dt.state == St::Free {
                        continue;
                    }
                    self.task_mut(d).dependents.retain(|x| *x != slot);
                    if counted {
                        self.unneed(d, out);
                    }
                }
            }
            // Its tasks queued on workers and not started are taken back
            // (`Steal`: the worker answers `Stolen` with those it still had,
            // and runs none of them), so a graph its client left does not
            // keep the workers busy.
            let mut queued: Vec<(WorkerIx, crate::proto::Gid)> = graph
                .tasks
                .iter()
                .filter_map(|&slot| match self.task(slot).state {
                    St::Processing(w) if !self.task(slot).started => {
                        Some((w, self.task(slot).gid(slot)))
                    }
                    _ => None,
                })
                .collect();
            queued.sort_unstable_by_key(|q| q.0);
            for run in queued.chunk_by(|a, b| a.0 == b.0) {
                let gids = run.iter().map(|q| q.1).collect();
                out.to_worker(run[0].0, ToWorker::Steal { gids });
            }
            for &slot in &graph.tasks {
                let t = &mut self.tasks[slot.ix()];
                let gid = t.gid(slot);
                for &w in &t.holders {
                    out.to_worker(w, ToWorker::Release { gids: vec![gid] });
                }
                t.holders.clear();
                t.inline = None;
                t.state = St::Free;
                t.dependents = SmallVec::new();
                t.args = Box::new([]);
                t.opts = None;
                t.parts = None;
                t.gen = t.gen.wrapping_add(1);
                self.free.push(slot);
            }
            for u in graph.uses {
                if let Some(ug) = self.graphs[u].as_mut() {
                    ug.users = ug.users.saturating_sub(1);
                    if ug.released && ug.users == 0 {
                        todo.push(u);
                    }
                }
            }
        }
    }
}
