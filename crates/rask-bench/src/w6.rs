//! W6: W1 on the distributed runtime. A scheduler (in this process) and
//! `workers` worker processes with one compute thread each, on loopback
//! TCP with a secret, started by the benchmark (not timed: `start_s`); the
//! graph of W7 (N registered `inc`s and a pairwise tree of `add`s) is
//! shipped to the scheduler, run on the workers (values move worker to
//! worker), and the result fetched. Median of `repeat` runs after a warm-up.
//!
//! `--scheduler-only`: the scheduler core alone with zero-cost workers: the
//! same graph submitted to a [`Core`], every message batch encoded and
//! decoded as on the wire, and fake workers that answer each `Compute` at
//! once. Reports `tasks_per_s`.

use std::time::Instant;

use anyhow::{bail, Context};
use rask::distributed::core::{ClientIx, Core, CoreConfig, Outbox, WorkerIx};
use rask::distributed::proto::{
    ArgSpec, FromClient, FromWorker, TaskSpec, ToClient, ToWorker, WorkerInfo,
};
use rask::{Client, LocalCluster};
use serde_json::json;

use crate::{median, peak_rss_mib, round};

pub(crate) fn run(n: u64, workers: usize, repeat: usize) -> anyhow::Result<serde_json::Value> {
    let t0 = Instant::now();
    let cluster = LocalCluster::new(workers, 1).context("starting the cluster")?;
    let client =
        Client::connect_with(&cluster.addr().to_string(), cluster.wire()).context("connecting")?;
    let start_s = t0.elapsed().as_secs_f64();
    let tasks = 2 * n - 1;
    let expected = n * (n + 1) / 2;
    let (build_s, compute_s) = crate::w7::time_w1(n, repeat, "W6", |g| g.compute(&client))?;
    Ok(json!({
        "workload": "W6",
        "system": "rask-distributed",
        "allocator": crate::alloc::name(),
        "n": n,
        "tasks": tasks,
        "workers": workers,
        "threads_per_worker": 1,
        "repeats": repeat,
        "start_s": round(start_s, 4),
        "build_s": round(build_s, 5),
        "compute_s": round(compute_s, 5),
        "build_us_per_task": round(1e6 * build_s / tasks as f64, 4),
        "us_per_task": round(1e6 * compute_s / tasks as f64, 4),
        "result": expected,
        "peak_rss_mib": peak_rss_mib(),
    }))
}

/// Messages as the wire carries them: a batch encoded and decoded.
fn wire<T: serde::Serialize + serde::de::DeserializeOwned>(batch: &[T]) -> anyhow::Result<Vec<T>> {
    let bytes = rask::core::format::to_vec(batch)?;
    Ok(rask::core::format::from_slice(&bytes)?)
}

#[derive(Default)]
struct Queues {
    to_workers: Vec<Vec<ToWorker>>,
    to_client: Vec<ToClient>,
}

impl Outbox for Queues {
    fn to_worker(&mut self, w: WorkerIx, msg: ToWorker) {
        let i = w.0 as usize;
        if self.to_workers.len() <= i {
            self.to_workers.resize_with(i + 1, Vec::new);
        }
        self.to_workers[i].push(msg);
    }
    fn to_client(&mut self, _: ClientIx, msg: ToClient) {
        self.to_client.push(msg);
    }
}

/// The W1 graph as a client would submit it.
fn w1_graph(n: u64) -> (Vec<TaskSpec>, u32) {
    let mut tasks = Vec::with_capacity(2 * n as usize);
    let spec = |func, args| TaskSpec {
        func,
        args,
        opts: None,
        part: None,
    };
    let mut xs: Vec<u32> = (0..n)
        .map(|i| {
            tasks.push(spec(0, vec![ArgSpec::Lit(i.to_le_bytes().to_vec())]));
            tasks.len() as u32 - 1
        })
        .collect();
    while xs.len() > 1 {
        let mut next = Vec::with_capacity(xs.len() / 2 + 1);
        for c in xs.chunks(2) {
            if let [a, b] = c {
                tasks.push(spec(1, vec![ArgSpec::Dep(*a), ArgSpec::Dep(*b)]));
                next.push(tasks.len() as u32 - 1);
            } else {
                next.push(c[0]);
            }
        }
        xs = next;
    }
    (tasks, xs[0])
}

pub(crate) fn run_scheduler_only(
    n: u64,
    workers: usize,
    repeat: usize,
) -> anyhow::Result<serde_json::Value> {
    let tasks = 2 * n - 1;
    let mut times = Vec::new();
    for i in 0..=repeat {
        let (specs, root) = w1_graph(n);
        let mut core = Core::new(CoreConfig::default());
        let mut q = Queues::default();
        let c = core.client_joined();
        let ws: Vec<WorkerIx> = (0..workers)
            .map(|k| {
                let info = WorkerInfo {
                    name: format!("zero-{k}"),
                    threads: 1,
                    memory: 0,
                    resources: Vec::new(),
                    data_addr: format!("zero-{k}:0"),
                    weight: 1,
                    pid: 0,
                };
                core.worker_joined(info, &mut q)
                    .map_err(|e| anyhow::anyhow!(e))
            })
            .collect::<anyhow::Result<_>>()?;
        let t0 = Instant::now();
        let submit = wire(&[FromClient::Submit {
            graph: 1,
            funcs: vec!["inc".into(), "add".into()],
            tasks: specs,
            outputs: vec![root],
            events: false,
        }])?;
        for m in submit {
            core.client_message(c, m, &mut q);
        }
        let mut finished = false;
        let mut computed = 0u64;
        while !finished {
            let mut any = false;
            for (k, &w) in ws.iter().enumerate() {
                let Some(batch) = q.to_workers.get_mut(k).filter(|b| !b.is_empty()) else {
                    continue;
                };
                any = true;
                let batch = wire(&std::mem::take(batch))?;
                // A zero-cost worker: every Compute finishes at once.
                let replies: Vec<FromWorker> = batch
                    .into_iter()
                    .filter_map(|m| match m {
                        ToWorker::Compute { gid, .. } => Some(FromWorker::Finished {
                            gid,
                            nbytes: 8,
                            micros: 0,
                            thread: 0,
                            inline: Some(gid.0.to_le_bytes().to_vec()),
                            parts: None,
                        }),
                        ToWorker::Steal { .. } => Some(FromWorker::Stolen { gids: Vec::new() }),
                        _ => None,
                    })
                    .collect();
                computed += replies.len() as u64;
                for m in wire(&replies)? {
                    core.worker_message(w, m, &mut q)
                        .map_err(|e| anyhow::anyhow!(e))?;
                }
            }
            for m in wire(&std::mem::take(&mut q.to_client))? {
                finished |= matches!(m, ToClient::GraphDone { .. });
            }
            if !any && !finished {
                bail!("the scheduler stalled: {:?}", core.counts());
            }
        }
        let dt = t0.elapsed().as_secs_f64();
        if computed < tasks {
            bail!("only {computed} of {tasks} tasks were computed");
        }
        if i > 0 {
            times.push(dt);
        }
    }
    let s = median(times);
    Ok(json!({
        "workload": "W6-scheduler",
        "system": "rask-scheduler-core",
        "allocator": crate::alloc::name(),
        "n": n,
        "tasks": tasks,
        "workers": workers,
        "repeats": repeat,
        "seconds": round(s, 5),
        "us_per_task": round(1e6 * s / tasks as f64, 4),
        "tasks_per_s": (tasks as f64 / s).round(),
        "peak_rss_mib": peak_rss_mib(),
    }))
}
