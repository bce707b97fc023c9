//! The graphs of recent runs and the state of each of their tasks.
//!
//! At `RunStarted` the recorder copies from the plan what it needs to say
//! what a task waits for: per task its key (prefix id, index) and its
//! dependencies (CSR), about 20 bytes a task plus 8 per edge. Only runs of
//! at most `graph_limit` tasks are copied; the state of their tasks is then
//! kept up to date from the task events (one relaxed store per event).
//!
//! Rules:
//! 1. A task's `state` only moves forward: waiting -> running -> done or
//!    failed; waiting -> skipped (a dependency failed). A retried attempt
//!    goes back to running (the only exception: attempts are numbered).
//! 2. `ready` is never stored: a waiting task whose dependencies are all
//!    done is ready. So the state shown is consistent with the dependencies'
//!    states read at the same moment, up to tasks that changed in between.
//! 3. Only the most recent `KEPT_RUNS` graphs are kept (finished or not);
//!    older ones are dropped whole.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use rask_core::{KeyIndex, Plan, RunId, TaskError, TaskErrorKind, TaskId};

use super::names::{NameCache, NameId, Names};
use crate::state::{DepDetail, TaskDetail, TaskState};

/// Graphs of this many most recent runs are kept.
pub(crate) const KEPT_RUNS: usize = 4;

pub(crate) const S_WAITING: u8 = 0;
pub(crate) const S_RUNNING: u8 = 1;
pub(crate) const S_DONE: u8 = 2;
pub(crate) const S_FAILED: u8 = 3;
pub(crate) const S_SKIPPED: u8 = 4;

/// Errors kept per run (for detail pages).
const MAX_ERRORS: usize = 1_000;

/// How to show a key: the kind of its index.
pub(crate) fn index_parts(i: KeyIndex) -> (u8, u64) {
    match i {
        KeyIndex::None => (0, 0),
        KeyIndex::Index(i) => (1, i),
        KeyIndex::Token(t) => (2, t),
    }
}

/// `name`, `name[3]` or `name#17`.
pub(crate) fn key_text(name: &str, kind: u8, index: u64) -> String {
    match kind & 0b11 {
        1 => format!("{name}[{index}]"),
        2 => format!("{name}#{index}"),
        _ => name.to_owned(),
    }
}

/// Reads `name`, `name[3]` or `name#17` back: (name, kind, index).
pub(crate) fn parse_key(s: &str) -> Option<(&str, u8, u64)> {
    let s = s.trim();
    if let Some(body) = s.strip_suffix(']') {
        let open = body.rfind('[')?;
        let i = body[open + 1..].parse().ok()?;
        return Some((&body[..open], 1, i));
    }
    if let Some(hash) = s.rfind('#') {
        if let Ok(t) = s[hash + 1..].parse() {
            return Some((&s[..hash], 2, t));
        }
    }
    (!s.is_empty()).then_some((s, 0, 0))
}

/// One run's graph and task states.
pub(crate) struct LiveRun {
    pub(crate) run: RunId,
    prefix: Vec<NameId>,
    index: Vec<u64>,
    kind: Vec<u8>,
    dep_off: Vec<u32>,
    deps: Vec<u32>,
    dnt_off: Vec<u32>,
    dependents: Vec<u32>,
    state: Vec<AtomicU8>,
    worker: Vec<AtomicU32>,
    attempt: Vec<AtomicU8>,
    started: Vec<AtomicU64>,
    ended: Vec<AtomicU64>,
    errors: Mutex<HashMap<u32, String>>,
}

/// What a plan contributes to the per-prefix totals.
#[derive(Default)]
pub(crate) struct PlanSummary {
    /// Tasks per prefix.
    pub(crate) planned: Vec<(NameId, u64)>,
    /// The function of each prefix seen, where known.
    pub(crate) functions: Vec<(NameId, Arc<str>)>,
}

/// The function a task runs, where it can be told: the registered
/// function's name, or the function an anonymous task wraps (its prefix).
fn function_of(plan: &Plan, t: TaskId) -> Option<String> {
    let node = plan.node(t);
    if let Some(rask_core::Remote::Call(reg)) = node.body().remote() {
        let short = reg.name.rsplit("::").next().unwrap_or(reg.name);
        return Some(short.to_owned());
    }
    match node.key().index() {
        KeyIndex::Token(_) => Some(node.key().name().as_display().into_owned()),
        _ => None,
    }
}

/// Reads a plan: per-prefix totals always, the graph when `keep`.
pub(crate) fn capture(
    plan: &Plan,
    run: RunId,
    keep: bool,
    cache: &mut NameCache,
    names: &Names,
) -> (PlanSummary, Option<LiveRun>) {
    let n = plan.len();
    let mut counts: Vec<u64> = Vec::new();
    let mut seen_fn: Vec<bool> = Vec::new();
    let mut summary = PlanSummary::default();
    let mut live = keep.then(|| LiveRun {
        run,
        prefix: Vec::with_capacity(n),
        index: Vec::with_capacity(n),
        kind: Vec::with_capacity(n),
        dep_off: Vec::with_capacity(n + 1),
        deps: Vec::new(),
        dnt_off: Vec::with_capacity(n + 1),
        dependents: Vec::new(),
        state: Vec::new(),
        worker: Vec::new(),
        attempt: Vec::new(),
        started: Vec::new(),
        ended: Vec::new(),
        errors: Mutex::new(HashMap::new()),
    });
    // Per name group (made while lowering: no task's node is visited here
    // but the first of each group, and each task's only when the graph is
    // kept), its prefix; then counts per group, summed per prefix.
    let group_prefix: Vec<NameId> = plan
        .group_firsts()
        .iter()
        .map(|&t| cache.prefix(plan.key(t), names))
        .collect();
    let mut per_group = vec![0u64; group_prefix.len()];
    for &g in plan.name_groups() {
        per_group[g as usize] += 1;
    }
    for (g, (&p, &c)) in group_prefix.iter().zip(&per_group).enumerate() {
        let pi = p.0 as usize;
        if pi >= counts.len() {
            counts.resize(pi + 1, 0);
            seen_fn.resize(pi + 1, false);
        }
        counts[pi] += c;
        if !seen_fn[pi] {
            seen_fn[pi] = true;
            if let Some(f) = function_of(plan, plan.group_firsts()[g]) {
                summary.functions.push((p, Arc::from(f)));
            }
        }
    }
    if let Some(l) = &mut live {
        for (i, &g) in plan.name_groups().iter().enumerate() {
            let t = TaskId(i as u32);
            let (kind, index) = index_parts(plan.key(t).index());
            l.prefix.push(group_prefix[g as usize]);
            l.index.push(index);
            l.kind.push(kind);
            l.dep_off.push(l.deps.len() as u32);
            l.deps.extend(plan.deps(t).iter().map(|d| d.0));
            l.dnt_off.push(l.dependents.len() as u32);
            l.dependents.extend(plan.dependents(t).iter().map(|d| d.0));
        }
    }
    if let Some(l) = &mut live {
        l.dep_off.push(l.deps.len() as u32);
        l.dnt_off.push(l.dependents.len() as u32);
        l.state = (0..n).map(|_| AtomicU8::new(S_WAITING)).collect();
        l.worker = (0..n).map(|_| AtomicU32::new(u32::MAX)).collect();
        l.attempt = (0..n).map(|_| AtomicU8::new(0)).collect();
        l.started = (0..n).map(|_| AtomicU64::new(u64::MAX)).collect();
        l.ended = (0..n).map(|_| AtomicU64::new(u64::MAX)).collect();
    }
    summary.planned = counts
        .iter()
        .enumerate()
        .filter(|(_, &c)| c > 0)
        .map(|(i, &c)| (NameId(i as u32), c))
        .collect();
    (summary, live)
}

impl LiveRun {
    pub(crate) fn len(&self) -> usize {
        self.prefix.len()
    }

    /// Bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.len() * (4 + 8 + 1 + 4 + 4 + 1 + 4 + 1 + 8 + 8)
            + (self.deps.len() + self.dependents.len()) * 4
    }

    #[inline]
    fn ok(&self, t: TaskId) -> bool {
        t.index() < self.len()
    }

    #[inline]
    pub(crate) fn started(&self, t: TaskId, worker: u32, attempt: u32, at_ns: u64) {
        if self.ok(t) {
            let i = t.index();
            self.state[i].store(S_RUNNING, Ordering::Relaxed);
            self.worker[i].store(worker, Ordering::Relaxed);
            self.attempt[i].store(attempt.min(255) as u8, Ordering::Relaxed);
            self.started[i].store(at_ns, Ordering::Relaxed);
        }
    }

    #[inline]
    pub(crate) fn finished(&self, t: TaskId, at_ns: u64) {
        if self.ok(t) {
            self.state[t.index()].store(S_DONE, Ordering::Relaxed);
            self.ended[t.index()].store(at_ns, Ordering::Relaxed);
        }
    }

    pub(crate) fn failed(&self, t: TaskId, error: &TaskError, worker: u32, at_ns: u64) {
        if !self.ok(t) {
            return;
        }
        let i = t.index();
        let skipped = matches!(error.kind, TaskErrorKind::DependencyFailed { .. });
        self.state[i].store(
            if skipped { S_SKIPPED } else { S_FAILED },
            Ordering::Relaxed,
        );
        if !skipped {
            self.worker[i].store(worker, Ordering::Relaxed);
            self.ended[i].store(at_ns, Ordering::Relaxed);
        }
        let mut errs = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        if errs.len() < MAX_ERRORS {
            errs.insert(t.0, error.to_string());
        }
    }

    fn raw(&self, i: usize) -> u8 {
        self.state[i].load(Ordering::Relaxed)
    }

    fn deps_of(&self, i: usize) -> &[u32] {
        &self.deps[self.dep_off[i] as usize..self.dep_off[i + 1] as usize]
    }

    fn dependents_of(&self, i: usize) -> &[u32] {
        &self.dependents[self.dnt_off[i] as usize..self.dnt_off[i + 1] as usize]
    }

    /// The state of task `i` (rule 2).
    pub(crate) fn state(&self, i: usize) -> TaskState {
        match self.raw(i) {
            S_RUNNING => TaskState::Running,
            S_DONE => TaskState::Done,
            S_FAILED => TaskState::Failed,
            S_SKIPPED => TaskState::Skipped,
            _ => {
                if self
                    .deps_of(i)
                    .iter()
                    .all(|&d| self.raw(d as usize) == S_DONE)
                {
                    TaskState::Ready
                } else {
                    TaskState::Waiting
                }
            }
        }
    }

    /// The key text of task `i`.
    pub(crate) fn key(&self, i: usize, names: &[Arc<str>]) -> String {
        let name = names.get(self.prefix[i].0 as usize).map_or("?", |s| s);
        key_text(name, self.kind[i], self.index[i])
    }

    /// The task with this key, if any.
    pub(crate) fn find(&self, prefix: NameId, kind: u8, index: u64) -> Option<usize> {
        (0..self.len()).find(|&i| {
            self.prefix[i] == prefix
                && self.kind[i] == kind
                && (kind == 0 || self.index[i] == index)
        })
    }

    /// Counts by state, added to `c`.
    pub(crate) fn count(&self, c: &mut crate::state::StateCounts) {
        for i in 0..self.len() {
            match self.state(i) {
                TaskState::Waiting => c.waiting += 1,
                TaskState::Ready => c.ready += 1,
                TaskState::Running => c.running += 1,
                TaskState::Done => c.done += 1,
                TaskState::Failed => c.failed += 1,
                TaskState::Skipped => c.skipped += 1,
            }
        }
    }

    /// Nodes and edges for a picture.
    pub(crate) fn graph(&self, names: &[Arc<str>]) -> crate::graph::GraphView {
        let nodes = (0..self.len())
            .map(|i| crate::graph::GraphNode {
                key: self.key(i, names),
                group: names
                    .get(self.prefix[i].0 as usize)
                    .map_or_else(String::new, |s| s.to_string()),
                state: Some(self.state(i)),
            })
            .collect();
        let mut edges = Vec::with_capacity(self.deps.len());
        for i in 0..self.len() {
            for &d in self.deps_of(i) {
                edges.push((d, i as u32));
            }
        }
        crate::graph::GraphView { nodes, edges }
    }

    /// Where task `i` is and why.
    pub(crate) fn explain(&self, i: usize, names: &[Arc<str>], now_ns: u64) -> TaskDetail {
        let state = self.state(i);
        let worker = self.worker[i].load(Ordering::Relaxed);
        let worker = (worker != u32::MAX).then_some(worker);
        let started = self.started[i].load(Ordering::Relaxed);
        let ended = self.ended[i].load(Ordering::Relaxed);
        let started_ns = (started != u64::MAX).then_some(started);
        let duration_ns = started_ns.map(|s| {
            if ended != u64::MAX {
                ended.saturating_sub(s)
            } else {
                now_ns.saturating_sub(s)
            }
        });
        let dependencies: Vec<DepDetail> = self
            .deps_of(i)
            .iter()
            .map(|&d| {
                let d = d as usize;
                let st = self.state(d);
                let w = self.worker[d].load(Ordering::Relaxed);
                let location = match (st, w) {
                    (_, u32::MAX) => None,
                    (TaskState::Done, w) => Some(format!("in memory, computed on worker {w}")),
                    (TaskState::Running, w) => Some(format!("running on worker {w}")),
                    (_, w) => Some(format!("worker {w}")),
                };
                DepDetail {
                    key: self.key(d, names),
                    state: st,
                    location,
                }
            })
            .collect();
        let missing = dependencies
            .iter()
            .filter(|d| d.state != TaskState::Done)
            .count();
        let error = self
            .errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(i as u32))
            .cloned();
        let why = match state {
            TaskState::Waiting => {
                let first = dependencies
                    .iter()
                    .find(|d| d.state != TaskState::Done)
                    .map(|d| format!("`{}` ({})", d.key, d.state))
                    .unwrap_or_default();
                format!(
                    "waiting for {missing} of its {} dependencies, first {first}",
                    dependencies.len()
                )
            }
            TaskState::Ready => {
                "every dependency has finished: it waits for a free thread (tasks run in priority order)".to_owned()
            }
            TaskState::Running => match worker {
                Some(w) => format!("running on worker {w}"),
                None => "running".to_owned(),
            },
            TaskState::Done => "finished with a value (freed as soon as every dependent has taken it)".to_owned(),
            TaskState::Failed => "its function failed".to_owned(),
            TaskState::Skipped => "did not run: a dependency failed".to_owned(),
        };
        let dnts = self.dependents_of(i);
        TaskDetail {
            key: self.key(i, names),
            run: self.run.0,
            state,
            why,
            dependencies,
            missing,
            dependents: dnts
                .iter()
                .take(20)
                .map(|&d| self.key(d as usize, names))
                .collect(),
            dependents_total: dnts.len(),
            worker,
            attempts: self.attempt[i].load(Ordering::Relaxed) as u32,
            started_ns,
            duration_ns,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_back_as_they_are_shown() {
        assert_eq!(parse_key("load[3]"), Some(("load", 1, 3)));
        assert_eq!(parse_key("inc#17"), Some(("inc", 2, 17)));
        assert_eq!(parse_key("total"), Some(("total", 0, 0)));
        assert_eq!(parse_key("a#b"), Some(("a#b", 0, 0)));
        assert_eq!(parse_key("x[y]"), None);
        assert_eq!(parse_key("  "), None);
        for (n, k, i) in [("load", 1, 3), ("inc", 2, 17), ("total", 0, 0)] {
            assert_eq!(parse_key(&key_text(n, k, i)), Some((n, k, i)));
        }
    }
}
