//! Reading a recording: [`ClusterState`] for the recorder, and snapshots.
//!
//! Readers follow rule 1 of the recorder: the store's lock, then each
//! buffer's `open` lock in turn, never two at once. Totals are the evicted
//! records' summary plus every held chunk's (sealed chunks cache theirs)
//! plus the open chunks' records, so they count every task ever recorded.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use rask_core::WorkerId;

use super::chunk::Agg;
use super::lanes::worker_slot;
use super::live::LiveRun;
use super::{lock, parse_key, Cursor, Recorder, TaskColumns};
use crate::graph::GraphView;
use crate::state::{
    ClusterState, ExplainError, FunctionStatus, PrefixStatus, SampleColumns, StateCounts, Status,
    StreamUpdate, TaskDetail, TransferColumns, WorkerStatus,
};

/// Everything a recording holds at one moment (what a report shows).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Snapshot {
    /// Counts, prefixes, functions, workers, runs.
    pub status: Status,
    /// The names that `tasks.prefix` indexes.
    pub names: Vec<String>,
    /// Task records, sorted by start.
    pub tasks: TaskColumns,
    /// Task records recorded but not in `tasks` (dropped from the bounded
    /// ring, or beyond the limit asked for).
    pub tasks_not_shown: u64,
    /// Resource samples.
    pub samples: SampleColumns,
    /// Transfers.
    pub transfers: TransferColumns,
    /// The latest kept run's graph, coloured by state.
    pub graph: Option<GraphView>,
    /// The most recent failures: (key, error).
    pub errors: Vec<(String, String)>,
}

impl Recorder {
    /// Everything held: at most `max_tasks` task records (the most recent),
    /// sorted by start.
    pub fn snapshot(&self, max_tasks: usize) -> Snapshot {
        let status = self.status();
        let mut update = self.stream(&Cursor::default(), max_tasks);
        update.tasks.sort_by_start();
        let graph = self.graph();
        let errors = lock(&self.inner.store).errors.iter().cloned().collect();
        Snapshot {
            status,
            names: update.names,
            tasks: update.tasks,
            tasks_not_shown: update.missed,
            samples: update.samples,
            transfers: update.transfers,
            graph,
            errors,
        }
    }
}

impl ClusterState for Recorder {
    fn status(&self) -> Status {
        let i = &self.inner;
        let names = i.names.all();
        // Started attempts per prefix and per worker, over every buffer.
        let mut started_p: Vec<u64> = Vec::new();
        let mut started_w: BTreeMap<u32, u64> = BTreeMap::new();
        for b in lock(&i.bufs).iter() {
            b.started_prefix.for_each(|p, v| {
                let p = p as usize;
                if p >= started_p.len() {
                    started_p.resize(p + 1, 0);
                }
                started_p[p] += v;
            });
            b.started_worker
                .for_each(|w, v| *started_w.entry(w).or_default() += v);
        }
        // Totals: evicted + held sealed chunks + open chunks, read at once.
        let (sum, planned, functions_of, live, runs, totals, mut workers) = i.read(|st, open| {
            let mut sum = st.evicted.clone();
            for c in &st.chunks {
                sum.merge(c.summary());
            }
            for (_, _, c) in open {
                if let Some(c) = c {
                    for r in c.records() {
                        sum.add(&r);
                    }
                }
            }
            let workers: BTreeMap<u32, WorkerStatus> = st
                .workers
                .iter()
                .map(|(id, w)| {
                    let last = w.last;
                    (
                        *id,
                        WorkerStatus {
                            id: *id,
                            name: w.name.clone(),
                            threads: w.threads,
                            cpu_percent: last.map(|s| s.cpu),
                            rss_bytes: last.and_then(|s| s.rss),
                            managed_bytes: last.and_then(|s| s.managed),
                            spilled_bytes: last.and_then(|s| s.spilled),
                            moved_bytes: last.and_then(|s| s.moved),
                            alive: w.lost.is_none(),
                            lost: w.lost.clone(),
                            ..WorkerStatus::default()
                        },
                    )
                })
                .collect();
            (
                sum,
                st.planned.clone(),
                st.functions.clone(),
                st.live.iter().cloned().collect::<Vec<Arc<LiveRun>>>(),
                st.runs.iter().cloned().collect(),
                (
                    st.bytes_moved,
                    st.transfers_seq,
                    st.dropped,
                    st.executor,
                    st.cache,
                ),
                workers,
            )
        });
        let (bytes_moved, transfers, dropped, executor, cache) = totals;
        let now_ns = i.ns(Instant::now());
        let mut tasks = StateCounts::default();
        let mut out = Vec::new();
        let mut functions: BTreeMap<String, FunctionStatus> = BTreeMap::new();
        let n = sum.prefix.len().max(planned.len()).max(started_p.len());
        for p in 0..n {
            let a = sum.prefix.get(p).copied().unwrap_or_default();
            let planned = planned.get(p).copied().unwrap_or(0);
            let started = started_p.get(p).copied().unwrap_or(0);
            let running = started.saturating_sub(a.ended());
            if planned == 0 && started == 0 && a.done + a.failed + a.skipped == 0 {
                continue;
            }
            let name = names.get(p).map_or_else(String::new, |s| s.to_string());
            let function = functions_of
                .get(p)
                .and_then(|f| f.as_ref())
                .map(|f| f.to_string());
            let fname = function.clone().unwrap_or_else(|| format!("{name}*"));
            let f = functions
                .entry(fname.clone())
                .or_insert_with(|| FunctionStatus {
                    name: fname,
                    ..FunctionStatus::default()
                });
            f.calls += a.done;
            f.failed += a.failed;
            f.busy_s += a.busy_ns as f64 / 1e9;
            tasks.running += running;
            tasks.done += a.done;
            tasks.failed += a.failed;
            tasks.skipped += a.skipped;
            out.push(PrefixStatus {
                name,
                planned,
                running,
                done: a.done,
                failed: a.failed + a.skipped,
                busy_s: a.busy_ns as f64 / 1e9,
                nbytes: a.nbytes,
                function,
            });
        }
        for l in &live {
            let mut c = StateCounts::default();
            l.count(&mut c);
            tasks.waiting += c.waiting;
            tasks.ready += c.ready;
        }
        out.sort_by(|a, b| b.busy_s.total_cmp(&a.busy_s));
        let mut functions: Vec<FunctionStatus> = functions.into_values().collect();
        functions.sort_by(|a, b| b.busy_s.total_cmp(&a.busy_s));
        let mut lane_ids: Vec<u32> = sum.worker.iter().map(|(w, _)| *w).collect();
        lane_ids.extend(started_w.keys().map(|&w| {
            if w == u16::MAX as u32 {
                WorkerId::CLIENT.0
            } else {
                w
            }
        }));
        lane_ids.sort_unstable();
        lane_ids.dedup();
        for id in lane_ids {
            let a: Agg = sum.worker(id);
            let started = started_w.get(&worker_slot(id)).copied().unwrap_or(0);
            let w = workers.entry(id).or_insert_with(|| WorkerStatus {
                id,
                name: if id == WorkerId::CLIENT.0 {
                    "this process".to_owned()
                } else if matches!(executor, "threads" | "sync") {
                    format!("thread {id}")
                } else {
                    format!("worker-{id}")
                },
                threads: 1,
                alive: true,
                ..WorkerStatus::default()
            });
            w.running = started.saturating_sub(a.ended());
            w.done = a.done + a.failed;
            w.busy_s = a.busy_ns as f64 / 1e9;
        }
        Status {
            now_ns,
            executor: executor.to_owned(),
            tasks,
            prefixes: out,
            functions,
            workers: workers.into_values().collect(),
            runs,
            bytes_moved,
            transfers,
            records_dropped: dropped,
            memory_bytes: self.memory_bytes() as u64,
            scheduler_latency_s: None,
            cache,
        }
    }

    fn stream(&self, cursor: &Cursor, limit: usize) -> StreamUpdate {
        let i = &self.inner;
        // Cursor layout: [samples, transfers, records of buffer 0, 1, ...].
        let seen = |k: usize| cursor.0.get(k).copied().unwrap_or(0);
        let seen_buf = |b: usize| seen(b + 2);
        let mut tasks = TaskColumns::default();
        let mut samples = SampleColumns::default();
        let mut transfers = TransferColumns::default();
        let mut missed = 0;
        let next = i.read(|st, open| {
            // Per buffer: the first record still held and the end seen.
            let mut held: HashMap<usize, (u64, u64)> = HashMap::new();
            let chunks = st.chunks.iter().map(|c| (c.buf, c)).chain(
                open.iter()
                    .filter_map(|(b, _, c)| c.as_ref().map(|c| (*b, c))),
            );
            for (buf, c) in chunks {
                let (first, n) = (c.first_seq, c.len());
                let skip = seen_buf(buf).saturating_sub(first) as usize;
                for r in c.range(skip, n) {
                    tasks.push(&r);
                }
                let e = held.entry(buf).or_insert((u64::MAX, 0));
                e.0 = e.0.min(first);
                e.1 = e.1.max(first + n as u64);
            }
            for (b, seq, c) in open {
                if c.is_none() {
                    let e = held.entry(*b).or_insert((*seq, *seq));
                    e.1 = e.1.max(*seq);
                }
            }
            let s_first = st.samples_seq - st.samples.len() as u64;
            for (k, s) in st.samples.iter().enumerate() {
                if s_first + k as u64 >= seen(0) {
                    let o = |v: Option<u64>| v.map_or(-1, |v| v.min(i64::MAX as u64) as i64);
                    samples.t.push(s.t_ns);
                    samples.worker.push(s.worker);
                    samples.cpu.push(s.cpu);
                    samples.rss.push(o(s.rss));
                    samples.managed.push(o(s.managed));
                    samples.spilled.push(o(s.spilled));
                    samples.moved.push(o(s.moved));
                }
            }
            let t_first = st.transfers_seq - st.transfers.len() as u64;
            for (k, t) in st.transfers.iter().enumerate() {
                if t_first + k as u64 >= seen(1) {
                    transfers.start.push(t.start);
                    transfers.dur.push(t.dur);
                    transfers.from.push(t.from);
                    transfers.to.push(t.to);
                    transfers.nbytes.push(t.nbytes);
                }
            }
            let mut next = vec![st.samples_seq, st.transfers_seq];
            for (&b, &(first, end)) in &held {
                if next.len() < b + 3 {
                    next.resize(b + 3, 0);
                }
                next[b + 2] = end;
                missed += first.min(end).saturating_sub(seen_buf(b));
            }
            next
        });
        if tasks.len() > limit {
            tasks.sort_by_start();
            missed += (tasks.len() - limit) as u64;
            tasks.keep_last(limit);
        }
        StreamUpdate {
            tasks,
            names: i.names.all().iter().map(|s| s.to_string()).collect(),
            samples,
            transfers,
            missed,
            cursor: Cursor(next),
        }
    }

    fn graph(&self) -> Option<GraphView> {
        let l = lock(&self.inner.store).live.back().cloned()?;
        Some(l.graph(&self.inner.names.all()))
    }

    fn explain(&self, key: &str) -> Result<TaskDetail, ExplainError> {
        let i = &self.inner;
        let (name, kind, index) = parse_key(key).ok_or_else(|| ExplainError::BadKey {
            key: key.to_owned(),
        })?;
        let live: Vec<Arc<LiveRun>> = lock(&i.store).live.iter().cloned().collect();
        let unknown = || ExplainError::UnknownKey {
            key: key.to_owned(),
            runs: live.len(),
            limit: i.opts.graph_limit,
        };
        let prefix = i.names.lookup(name).ok_or_else(unknown)?;
        let names = i.names.all();
        let now = i.ns(Instant::now());
        for l in live.iter().rev() {
            if let Some(t) = l.find(prefix, kind, index) {
                return Ok(l.explain(t, &names, now));
            }
        }
        Err(unknown())
    }
}
