//! The driver of `rask run`: one workflow, one run, on any [`Client`].
//!
//! Steps:
//! 1. take the state directory's lock; read the journal, merging what an
//!    interrupted run left;
//! 2. hash the source files (reusing the journal's hashes while their stats
//!    are unchanged);
//! 3. build one graph: a [`run_job`] task per job whose arguments are the
//!    job's spec and its dependencies' outcomes, so Rask's engine runs every
//!    job once its dependencies are done, on whatever executor the client
//!    has (threads here; the workers of a cluster);
//! 4. compute every job's outcome, with a progress bar meanwhile;
//! 5. merge the journal's segments into its snapshot, and sum up.
//!
//! A job that fails makes its dependents skip (they get its outcome and do
//! not run); everything else runs. The graph itself never fails: the job
//! task catches everything, so an engine error means the executor failed
//! (a lost cluster), and is returned as such.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use std::collections::HashMap;

use rask::{delayed, Client, Delayed, Executor};

use crate::dag::{JobDef, Workflow};
use crate::hash::{self, FileState};
use crate::job::{
    self, run_job, run_view, JobOutcome, JobSpec, JobView, RunCtx, SourceHash, Sources, Status,
};
use crate::journal::{self, JobRecord, Snapshot, StateLock};
use crate::local::{self, LocalRun, Slots};
use crate::progress::{Feed, Progress};
use crate::report::{FailedJob, SkippedJob, Summary};
use crate::WorkflowError;

/// How to run a workflow.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Jobs at once on this machine (0: one per core). Also the `cpus` that
    /// jobs may take here.
    pub jobs: usize,
    /// Jobs to run even if up to date: names or glob patterns over names.
    pub force: Vec<String>,
    /// The state directory (default: `.rask` beside the workflow file).
    pub state_dir: Option<PathBuf>,
    /// Draw a progress bar on stderr (drawn only on a terminal).
    pub progress: bool,
    /// Other resources of this machine, for local runs: `("gpu", 2.0)`;
    /// `("memory", bytes)` overrides the machine's memory.
    pub resources: Vec<(String, f64)>,
}

impl RunOptions {
    /// The number of jobs at once: `jobs`, or one per core.
    pub fn jobs_or_cores(&self) -> usize {
        if self.jobs > 0 {
            self.jobs
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }
}

/// The state directory of `wf` under `opts`.
pub fn state_dir(wf: &Workflow, opts: &RunOptions) -> PathBuf {
    match &opts.state_dir {
        Some(d) if d.is_absolute() => d.clone(),
        Some(d) => std::env::current_dir()
            .map(|c| c.join(d))
            .unwrap_or_else(|_| d.clone()),
        None => wf.base.join(".rask"),
    }
}

/// Runs `wf` on this machine's cores (`opts.jobs` at a time).
pub fn run_local(wf: &Workflow, opts: &RunOptions) -> Result<Summary, WorkflowError> {
    let n = opts.jobs_or_cores();
    let client = Client::try_threads(n)
        .map_err(|e| WorkflowError::Engine(format!("could not start {n} threads: {e}")))?;
    run(wf, &client, opts)
}

/// Runs `wf` on `client`'s executor: threads of this process, or a cluster.
pub fn run(wf: &Workflow, client: &Client, opts: &RunOptions) -> Result<Summary, WorkflowError> {
    let lock = StateLock::take(&state_dir(wf, opts))?;
    run_locked(wf, client, opts, lock)
}

/// [`run`] with the state directory's lock already taken.
pub(crate) fn run_locked(
    wf: &Workflow,
    client: &Client,
    opts: &RunOptions,
    _lock: StateLock,
) -> Result<Summary, WorkflowError> {
    let start = Instant::now();
    let state = state_dir(wf, opts);
    let jdir = journal::dir(&state);
    // 1. The journal.
    let (mut snap, segs) = journal::load(&jdir)?;
    if !segs.is_empty() {
        journal::compact(&jdir, &snap, &segs)?;
    }
    std::fs::create_dir_all(state.join("logs"))
        .map_err(|e| WorkflowError::io(state.join("logs"), e))?;
    // 2. Sources.
    let known_sources = snap.sources.clone();
    let sources = hash_sources(wf, &mut snap);
    let sources_changed = snap.sources != known_sources;
    // 3. The graph.
    let forced = forced_jobs(wf, &opts.force)?;
    let remote = !matches!(client.name(), "threads" | "sync");
    let token = new_token();
    let ctx = RunCtx {
        token: token.clone(),
        base: wf.base.to_string_lossy().into_owned(),
        state: state.to_string_lossy().into_owned(),
        remote,
    };
    let run = Arc::new(LocalRun {
        cancel: Arc::new(AtomicBool::new(false)),
        cancel_file: remote.then(|| ctx.cancel_file()),
        slots: Slots::new(local_capacity(opts)),
        counters: Default::default(),
    });
    let registered = local::register(&token, run.clone());
    // The records move to the tasks; the end of the run reads the journal again.
    let prev = Arc::new(std::mem::take(&mut snap.jobs));
    // On threads, each job also leaves its status in `ended`, and only the
    // jobs nothing depends on are the graph's outputs (the others' outcomes
    // move to their dependents instead of being copied out as well).
    let ended: Arc<[OnceLock<(Status, u32)>]> =
        (0..wf.jobs.len()).map(|_| OnceLock::new()).collect();
    let nodes = if remote {
        remote_graph(wf, &ctx, &sources, &prev, &forced)
    } else {
        local_graph(wf, &ctx, sources, prev, forced, run.clone(), ended.clone())
    };
    // 4. Run.
    let progress = opts.progress.then(|| {
        let feed = if remote {
            Feed::Journal {
                jdir: jdir.clone(),
                token: token.clone(),
            }
        } else {
            Feed::Local(run.clone())
        };
        Progress::start(wf.jobs.len(), feed)
    });
    let result = if remote {
        client.get(&nodes)
    } else {
        let mut sink = vec![true; nodes.len()];
        for d in wf.deps.iter().flatten() {
            sink[*d as usize] = false;
        }
        let sinks: Vec<Delayed<JobOutcome>> = nodes
            .iter()
            .zip(&sink)
            .filter(|(_, s)| **s)
            .map(|(n, _)| n.clone())
            .collect();
        let r = client.get(&sinks);
        free_later(sinks);
        r
    };
    // Tens of thousands of small allocations: freed off the caller's path.
    free_later(nodes);
    if let Some(p) = progress {
        p.finish();
    }
    drop(registered);
    let interrupted = run.cancel.load(Ordering::SeqCst);
    if let Some(f) = &run.cancel_file {
        let _ = std::fs::remove_file(f);
    }
    // 5. The journal, then the summary.
    let segs = journal::segments(&jdir)?;
    if !segs.is_empty() || sources_changed {
        let (mut merged, segs) = journal::load(&jdir)?;
        merged.sources.extend(snap.sources);
        journal::compact(&jdir, &merged, &segs)?;
    }
    let outcomes = result.map_err(|e| WorkflowError::Engine(e.to_string()))?;
    let mut summary = if remote {
        summarize(
            wf,
            &state,
            outcomes.iter().map(|o| (o.index, &o.status, o.attempts)),
        )
    } else {
        let missing = (
            Status::Failed(job::Failure {
                why: "internal error: the job left no outcome".into(),
                exit_code: None,
                stderr_tail: String::new(),
            }),
            0,
        );
        summarize(
            wf,
            &state,
            ended.iter().enumerate().map(|(i, e)| {
                let (st, at) = e.get().unwrap_or(&missing);
                (i as u32, st, *at)
            }),
        )
    };
    free_later((outcomes, ended));
    summary.interrupted = interrupted;
    summary.elapsed(start.elapsed());
    Ok(summary)
}

/// The graph for a cluster: each job a call of the registered [`run_job`]
/// with a self-contained spec, its resources as placement hints.
fn remote_graph(
    wf: &Workflow,
    ctx: &RunCtx,
    sources: &[SourceHash],
    prev: &HashMap<String, JobRecord>,
    forced: &[bool],
) -> Vec<Delayed<JobOutcome>> {
    let mut nodes: Vec<Delayed<JobOutcome>> = Vec::with_capacity(wf.jobs.len());
    for (i, def) in wf.jobs.iter().enumerate() {
        let deps: Vec<Delayed<JobOutcome>> = wf.deps[i]
            .iter()
            .map(|&d| nodes[d as usize].clone())
            .collect();
        let spec = JobSpec {
            ctx: ctx.clone(),
            index: i as u32,
            job: def.clone(),
            sources: job_sources(def, sources),
            prev: prev.get(&def.name).cloned(),
            force: forced[i],
        };
        let mut node = run_job::delayed(spec, deps);
        // `cpus = 1` is what every worker thread has; more must be declared.
        let hints: Vec<(&str, f64)> = def
            .resources
            .iter()
            .filter(|(r, q)| r != "cpus" || *q > 1.0)
            .map(|(r, q)| (r.as_str(), *q))
            .collect();
        if !hints.is_empty() {
            node = node.resources(&hints);
        }
        nodes.push(node);
    }
    nodes
}

/// What the jobs of a run on this process's threads share (one `Arc`,
/// nothing copied per job).
struct Shared {
    ctx: RunCtx,
    jobs: Arc<Vec<JobDef>>,
    sources: Vec<SourceHash>,
    prev: Arc<HashMap<String, JobRecord>>,
    forced: Vec<bool>,
    run: Arc<LocalRun>,
    /// Each job's status and attempts, for the summary.
    ended: Arc<[OnceLock<(Status, u32)>]>,
}

/// The graph for this process's threads: each job a task that runs the same
/// [`run_view`] as the registered form, reading its spec from [`Shared`].
fn local_graph(
    wf: &Workflow,
    ctx: &RunCtx,
    sources: Vec<SourceHash>,
    prev: Arc<HashMap<String, JobRecord>>,
    forced: Vec<bool>,
    run: Arc<LocalRun>,
    ended: Arc<[OnceLock<(Status, u32)>]>,
) -> Vec<Delayed<JobOutcome>> {
    let shared = Arc::new(Shared {
        ended,
        ctx: ctx.clone(),
        jobs: wf.jobs.clone(),
        sources,
        prev,
        forced,
        run,
    });
    let mut nodes: Vec<Delayed<JobOutcome>> = Vec::with_capacity(wf.jobs.len());
    for i in 0..wf.jobs.len() {
        let deps: Vec<Delayed<JobOutcome>> = wf.deps[i]
            .iter()
            .map(|&d| nodes[d as usize].clone())
            .collect();
        let sh = shared.clone();
        nodes.push(delayed(
            move |deps: Vec<JobOutcome>| {
                let job = &sh.jobs[i];
                let view = JobView {
                    ctx: &sh.ctx,
                    index: i as u32,
                    job,
                    sources: Sources::All(&sh.sources),
                    prev: sh.prev.get(&job.name),
                    force: sh.forced[i],
                };
                let out = run_view(view, &deps, Some(&sh.run));
                let _ = sh.ended[i].set((out.status.clone(), out.attempts));
                out
            },
            (deps,),
        ));
    }
    nodes
}

/// Drops `v` on a thread of its own (or here, if none can be started).
fn free_later<T: Send + 'static>(v: T) {
    let _ = std::thread::Builder::new()
        .name("rask-workflow-free".into())
        .spawn(move || drop(v));
}

/// A token that names this run (hex nanoseconds since 1970: sorts by time).
fn new_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:024x}")
}

/// What the driver's machine offers jobs that run here.
fn local_capacity(opts: &RunOptions) -> Vec<(String, f64)> {
    let mut cap = vec![("cpus".to_owned(), opts.jobs_or_cores() as f64)];
    if !opts.resources.iter().any(|(r, _)| r == "memory") {
        if let Some(m) = local::total_memory() {
            cap.push(("memory".into(), m));
        }
    }
    for (r, q) in &opts.resources {
        if r != "cpus" {
            cap.push((r.clone(), *q));
        }
    }
    cap
}

/// Hashes every source file (step 2); new stats go into `snap`.
pub(crate) fn hash_sources(wf: &Workflow, snap: &mut Snapshot) -> Vec<SourceHash> {
    wf.sources
        .iter()
        .map(|p| {
            let known: Option<&FileState> = snap.sources.get(p);
            match hash::current(&wf.base.join(p), known) {
                Ok((state, read)) => {
                    if read {
                        snap.sources.insert(p.clone(), state);
                    }
                    SourceHash::Hash(state.hash)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => SourceHash::Missing(format!(
                    "its input `{p}` does not exist, and no job makes it"
                )),
                Err(e) => SourceHash::Missing(format!("its input `{p}` cannot be read: {e}")),
            }
        })
        .collect()
}

/// The hashes of `def`'s source inputs, in order.
pub(crate) fn job_sources(def: &crate::dag::JobDef, all: &[SourceHash]) -> Vec<SourceHash> {
    def.inputs
        .iter()
        .filter_map(|i| match i.from {
            crate::dag::InputFrom::Source(s) => all.get(s as usize).cloned(),
            crate::dag::InputFrom::Dep { .. } => None,
        })
        .collect()
}

/// Which jobs `--force` names; an unknown name is an error.
pub(crate) fn forced_jobs(wf: &Workflow, patterns: &[String]) -> Result<Vec<bool>, WorkflowError> {
    let mut forced = vec![false; wf.jobs.len()];
    for p in patterns {
        let pat =
            glob::Pattern::new(p).map_err(|e| WorkflowError::NoSuchJob(format!("{p} ({e})")))?;
        let mut any = false;
        for (i, j) in wf.jobs.iter().enumerate() {
            if j.name == *p || pat.matches(&j.name) {
                forced[i] = true;
                any = true;
            }
        }
        if !any {
            return Err(WorkflowError::NoSuchJob(p.clone()));
        }
    }
    Ok(forced)
}

fn summarize<'a>(
    wf: &Workflow,
    state: &Path,
    outcomes: impl Iterator<Item = (u32, &'a Status, u32)>,
) -> Summary {
    let mut s = Summary {
        jobs: wf.jobs.len(),
        state_dir: state.to_owned(),
        ..Summary::default()
    };
    let name = |i: u32| {
        wf.jobs
            .get(i as usize)
            .map_or_else(|| format!("#{i}"), |j| j.name.clone())
    };
    for (index, status, attempts) in outcomes {
        match status {
            Status::Ran => s.ran.push(name(index)),
            Status::UpToDate => s.up_to_date += 1,
            Status::Failed(f) => s.failed.push(FailedJob {
                job: name(index),
                why: f.why.clone(),
                exit_code: f.exit_code,
                attempts,
                stderr_tail: f.stderr_tail.clone(),
                log: job::log_paths(state, &name(index)).1,
            }),
            Status::Skipped { root } => s.skipped.push(SkippedJob {
                job: name(index),
                because: name(*root),
            }),
            Status::Cancelled => s.cancelled += 1,
        }
    }
    s
}
