//! The job task: what runs one job, wherever the executor puts it.
//!
//! [`run_job`] is a registered function (`#[rask::task]`), so the same code
//! runs on the driver's threads and on cluster workers (the `rask` binary
//! links this crate, so `rask worker` has it). Given the job and its
//! dependencies' outcomes it:
//! 1. stops if the run is cancelled, and skips if a dependency did not
//!    succeed (naming the failure at the root);
//! 2. computes the job's signature from its command and its inputs' hashes
//!    (dependencies' outputs come with their outcomes; sources were hashed
//!    by the driver) and, unless forced, compares it and the outputs' current
//!    hashes with the journal's record: equal means up to date;
//! 3. otherwise takes its resources (on the driver's threads), then runs the
//!    command up to `1 + retries` times, each attempt in its own process
//!    group with the job's time limit, stdout and stderr to its log files;
//! 4. on success, renames each temporary output into place, hashes the
//!    outputs, and only then appends `Done` to the journal (journal rule 1).
//!    On failure, the temporary files are removed and the old outputs left
//!    as they were, never recorded as this run's.
//!
//! Outputs the command names through `{output}`/`{outputs}` are written to a
//! temporary name in the same directory (`.rask-XXXX.NAME`) and renamed on
//! success, so a partial file never has the final name. Outputs it writes
//! under their own name are deleted before it starts, so a failed attempt
//! cannot leave a stale one that looks finished.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::command::{run_once, signal_name, Exit, Logs};
use crate::dag::{InputFrom, JobDef};
use crate::hash::{self, ContentHash, FileState, Signature, Signer};
use crate::journal::{self, JobRecord, PathKey, Record};
use crate::local::{self, Refused};
use crate::supervise::Cancel;

/// What every job of one run shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunCtx {
    /// The run's token (sortable: it grows with time).
    pub(crate) token: String,
    /// The workflow's directory (absolute).
    pub(crate) base: String,
    /// The state directory (absolute): `journal/`, `logs/`, cancel files.
    pub(crate) state: String,
    /// Jobs run in other processes: they also journal `Checked` records (for
    /// the driver's progress) and watch the cancellation file.
    pub(crate) remote: bool,
}

impl RunCtx {
    pub(crate) fn cancel_file(&self) -> PathBuf {
        cancel_file(Path::new(&self.state), &self.token)
    }
}

/// The file whose existence cancels run `token`.
pub(crate) fn cancel_file(state: &Path, token: &str) -> PathBuf {
    state.join(format!("cancel-{token}"))
}

/// A source input's hash, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum SourceHash {
    Hash(ContentHash),
    Missing(String),
}

/// One job as its task receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct JobSpec {
    pub(crate) ctx: RunCtx,
    /// The job's position in the workflow's order.
    pub(crate) index: u32,
    pub(crate) job: JobDef,
    /// Hashes of the job's source inputs, in the order they appear in `inputs`.
    pub(crate) sources: Vec<SourceHash>,
    /// The journal's record of its last success.
    pub(crate) prev: Option<JobRecord>,
    /// Run even if up to date.
    pub(crate) force: bool,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Status {
    /// Its command ran and succeeded.
    Ran,
    /// Nothing to do.
    UpToDate,
    /// It failed.
    Failed(Failure),
    /// Not run: the dependency chain failed at job `root`.
    Skipped { root: u32 },
    /// Not run or killed: the run was cancelled.
    Cancelled,
}

/// Why a job failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Failure {
    pub(crate) why: String,
    /// The exit code of the last attempt, if it exited.
    pub(crate) exit_code: Option<i32>,
    /// The last lines of its stderr.
    pub(crate) stderr_tail: String,
}

/// What a job task returns; its dependents get it as an argument.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct JobOutcome {
    pub(crate) index: u32,
    pub(crate) status: Status,
    /// Content hashes of the outputs (when `Ran` or `UpToDate`).
    pub(crate) outputs: Vec<ContentHash>,
    pub(crate) attempts: u32,
    pub(crate) elapsed_ms: u64,
}

/// One job as [`execute`] sees it, borrowed from a [`JobSpec`] (cluster
/// runs) or from the driver's shared plan (runs on its threads).
#[derive(Debug, Clone, Copy)]
pub(crate) struct JobView<'a> {
    pub(crate) ctx: &'a RunCtx,
    pub(crate) index: u32,
    pub(crate) job: &'a JobDef,
    pub(crate) sources: Sources<'a>,
    pub(crate) prev: Option<&'a JobRecord>,
    pub(crate) force: bool,
}

/// Where a job's source hashes are.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sources<'a> {
    /// Every source of the workflow, indexed by `InputFrom::Source`.
    All(&'a [SourceHash]),
    /// The job's own, in the order of its inputs.
    Mine(&'a [SourceHash]),
}

impl JobSpec {
    fn view(&self) -> JobView<'_> {
        JobView {
            ctx: &self.ctx,
            index: self.index,
            job: &self.job,
            sources: Sources::Mine(&self.sources),
            prev: self.prev.as_ref(),
            force: self.force,
        }
    }
}

/// Runs one job on a worker (see the module docs): the registered form,
/// for executors in other processes.
#[rask::task]
pub(crate) fn run_job(spec: JobSpec, deps: Vec<JobOutcome>) -> JobOutcome {
    let local = local::get(&spec.ctx.token);
    run_view(spec.view(), &deps, local.as_deref())
}

/// Runs one job: catches panics, counts the outcome for the progress bar.
pub(crate) fn run_view(
    view: JobView<'_>,
    deps: &[JobOutcome],
    local: Option<&local::LocalRun>,
) -> JobOutcome {
    let start = Instant::now();
    let body = std::panic::AssertUnwindSafe(|| execute(view, deps, local));
    let (status, outputs, attempts) = std::panic::catch_unwind(body).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        (
            fail(
                format!("internal error in rask: {msg}"),
                None,
                String::new(),
            ),
            Vec::new(),
            0,
        )
    });
    if let Some(l) = local {
        let c = &l.counters;
        match status {
            Status::Ran => c.ran.fetch_add(1, Ordering::Relaxed),
            Status::UpToDate => c.up_to_date.fetch_add(1, Ordering::Relaxed),
            Status::Failed(_) => c.failed.fetch_add(1, Ordering::Relaxed),
            Status::Skipped { .. } | Status::Cancelled => c.skipped.fetch_add(1, Ordering::Relaxed),
        };
    }
    JobOutcome {
        index: view.index,
        status,
        outputs,
        attempts,
        elapsed_ms: start.elapsed().as_millis() as u64,
    }
}

fn fail(why: String, exit_code: Option<i32>, stderr_tail: String) -> Status {
    Status::Failed(Failure {
        why,
        exit_code,
        stderr_tail,
    })
}

type Done = (Status, Vec<ContentHash>, u32);

fn execute(spec: JobView<'_>, deps: &[JobOutcome], local: Option<&local::LocalRun>) -> Done {
    let job = spec.job;
    let ctx = spec.ctx;
    let cancel = match local {
        Some(l) => Cancel::Flag(l.cancel.clone()),
        None => Cancel::File(ctx.cancel_file()),
    };
    if cancel.is_set() {
        return (Status::Cancelled, Vec::new(), 0);
    }
    // 1. Dependencies.
    for d in deps {
        match &d.status {
            Status::Ran | Status::UpToDate => {}
            Status::Failed(_) => return (Status::Skipped { root: d.index }, Vec::new(), 0),
            Status::Skipped { root } => return (Status::Skipped { root: *root }, Vec::new(), 0),
            Status::Cancelled => return (Status::Cancelled, Vec::new(), 0),
        }
    }
    // 2. Inputs, signature, up-to-date check.
    let inputs = match input_hashes(spec, deps) {
        Ok(i) => i,
        Err(why) => {
            journal_failed(ctx, &job.name, &why);
            return (fail(why, None, String::new()), Vec::new(), 0);
        }
    };
    let base = Path::new(&ctx.base);
    let sig = signature(job, &inputs);
    if !spec.force {
        if let Some(prev) = spec.prev {
            if prev.sig == sig {
                if let Some((states, refreshed)) = outputs_unchanged(job, prev, &ctx.base) {
                    let hashes = states.iter().map(|s| s.hash).collect();
                    if refreshed {
                        append(ctx, &done_record(job, sig, &inputs, states));
                    } else if ctx.remote {
                        append(
                            ctx,
                            &Record::Checked {
                                job: job.name.clone(),
                            },
                        );
                    }
                    return (Status::UpToDate, hashes, 0);
                }
            }
        }
    }
    // 3. Resources, then attempts.
    let _held = match local {
        Some(l) => match l.slots.acquire(&job.resources, &l.cancel) {
            Ok(g) => Some(g),
            Err(Refused::Cancelled) => return (Status::Cancelled, Vec::new(), 0),
            Err(Refused::Never(why)) => {
                journal_failed(ctx, &job.name, &why);
                return (fail(why, None, String::new()), Vec::new(), 0);
            }
        },
        None => None,
    };
    let (out_log, err_log) = log_paths(Path::new(&ctx.state), &job.name);
    let cwd = match &job.cwd {
        Some(c) if c.starts_with('/') => PathBuf::from(c),
        Some(c) => base.join(c),
        None => base.to_owned(),
    };
    let mut env = job.env.clone();
    env.push(("RASK_JOB".into(), job.name.clone()));
    let timeout = job.timeout_ms.map(Duration::from_millis);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let result = attempt_once(
            job, base, &cwd, &env, timeout, &cancel, attempt, &out_log, &err_log,
        );
        let failure = match result {
            Ok(states) => {
                let hashes = states.iter().map(|s| s.hash).collect();
                append(ctx, &done_record(job, sig, &inputs, states));
                return (Status::Ran, hashes, attempt);
            }
            Err(AttemptError::Cancelled) => return (Status::Cancelled, Vec::new(), attempt),
            Err(AttemptError::Failed { why, code }) => (why, code),
        };
        if attempt > job.retries || cancel.is_set() {
            let tail = stderr_tail(&err_log);
            let why = if attempt > 1 {
                format!("{} (attempt {attempt} of {})", failure.0, job.retries + 1)
            } else {
                failure.0
            };
            journal_failed(ctx, &job.name, &why);
            return (fail(why, failure.1, tail), Vec::new(), attempt);
        }
        tracing::info!("job `{}` failed ({}); trying again", job.name, failure.0);
    }
}

fn append(ctx: &RunCtx, r: &Record) {
    let jdir = journal::dir(Path::new(&ctx.state));
    if let Err(e) = journal::append(&jdir, &ctx.token, r) {
        tracing::warn!(
            "{}: could not write the journal ({e}): a later run may redo this job",
            jdir.display()
        );
    }
}

fn journal_failed(ctx: &RunCtx, job: &str, why: &str) {
    append(
        ctx,
        &Record::Failed {
            job: job.to_owned(),
            why: why.to_owned(),
        },
    );
}

/// The journal's record of a success.
fn done_record(
    job: &JobDef,
    sig: Signature,
    inputs: &[(&str, ContentHash)],
    states: Vec<FileState>,
) -> Record {
    Record::Done {
        job: job.name.clone(),
        sig,
        cmd: job.cmd_sig,
        inputs: inputs.iter().map(|(p, h)| (PathKey::of(p), *h)).collect(),
        outputs: job
            .outputs
            .iter()
            .map(|o| PathKey::of(o))
            .zip(states)
            .collect(),
    }
}

/// Each input's path and content hash.
fn input_hashes<'a>(
    spec: JobView<'a>,
    deps: &[JobOutcome],
) -> Result<Vec<(&'a str, ContentHash)>, String> {
    let mut out = Vec::with_capacity(spec.job.inputs.len());
    let mut mine = match spec.sources {
        Sources::Mine(m) => m.iter(),
        Sources::All(_) => [].iter(),
    };
    for i in &spec.job.inputs {
        let h = match i.from {
            InputFrom::Dep { dep, output } => deps
                .get(dep as usize)
                .and_then(|d| d.outputs.get(output as usize))
                .copied()
                .ok_or_else(|| format!("internal error: no hash for input `{}`", i.path))?,
            InputFrom::Source(k) => match match spec.sources {
                Sources::All(all) => all.get(k as usize),
                Sources::Mine(_) => mine.next(),
            } {
                Some(SourceHash::Hash(h)) => *h,
                Some(SourceHash::Missing(why)) => return Err(why.clone()),
                None => return Err(format!("internal error: no hash for input `{}`", i.path)),
            },
        };
        out.push((i.path.as_str(), h));
    }
    Ok(out)
}

/// The part of a job's signature that does not depend on its inputs: the
/// command (with the final output paths), environment, working directory,
/// outputs.
pub(crate) fn command_signature(job: &JobDef) -> Signature {
    let mut s = Signer::new();
    job.command.sign(&mut s, &job.outputs);
    s.tag(3);
    for (k, v) in &job.env {
        s.str(k).str(v);
    }
    s.tag(4).str(job.cwd.as_deref().unwrap_or(""));
    s.tag(5);
    for o in &job.outputs {
        s.str(o);
    }
    s.finish()
}

/// The job's signature: its command signature and each input's path and hash.
pub(crate) fn signature(job: &JobDef, inputs: &[(&str, ContentHash)]) -> Signature {
    let mut s = Signer::new();
    s.u128(job.cmd_sig.0).tag(6);
    for (p, h) in inputs {
        s.str(p).u128(h.0);
    }
    s.finish()
}

/// A path as the command sees it: absolute when the job has its own
/// working directory.
fn shown_path(job: &JobDef, base: &Path, p: &str) -> String {
    if job.cwd.is_some() && !p.starts_with('/') {
        base.join(p).to_string_lossy().into_owned()
    } else {
        p.to_owned()
    }
}

/// The outputs' states if each still has the hash the record has; the flag
/// says whether a stat changed (so the record is worth refreshing).
pub(crate) fn outputs_unchanged(
    job: &JobDef,
    prev: &JobRecord,
    base: &str,
) -> Option<(Vec<FileState>, bool)> {
    if prev.outputs.len() != job.outputs.len() {
        return None;
    }
    let mut states = Vec::with_capacity(job.outputs.len());
    let mut refreshed = false;
    for (o, (p, known)) in job.outputs.iter().zip(&prev.outputs) {
        if PathKey::of(o) != *p {
            return None;
        }
        let (now, read) = hash::current_under(base, o, known).ok()?;
        if now.hash != known.hash {
            return None;
        }
        refreshed |= read;
        states.push(now);
    }
    Some((states, refreshed))
}

enum AttemptError {
    Cancelled,
    Failed { why: String, code: Option<i32> },
}

#[allow(clippy::too_many_arguments)]
fn attempt_once(
    job: &JobDef,
    base: &Path,
    cwd: &Path,
    env: &[(String, String)],
    timeout: Option<Duration>,
    cancel: &Cancel,
    attempt: u32,
    out_log: &Path,
    err_log: &Path,
) -> Result<Vec<FileState>, AttemptError> {
    let failed = |why: String| AttemptError::Failed { why, code: None };
    // Outputs: directories, temporary names, stale in-place files removed.
    let mut temps: Vec<Option<PathBuf>> = Vec::with_capacity(job.outputs.len());
    let mut shown: Vec<String> = Vec::with_capacity(job.outputs.len());
    for (o, &via) in job.outputs.iter().zip(&job.via_temp) {
        let full = base.join(o);
        if let Some(dir) = full.parent() {
            if !dir.is_dir() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| failed(format!("could not make the directory of `{o}`: {e}")))?;
            }
        }
        if via {
            let tmp = temp_name(o);
            shown.push(shown_path(job, base, &tmp));
            temps.push(Some(base.join(tmp)));
        } else {
            match std::fs::remove_file(&full) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(failed(format!("could not remove the old `{o}`: {e}"))),
            }
            shown.push(shown_path(job, base, o));
            temps.push(None);
        }
    }
    let cleanup = |temps: &[Option<PathBuf>]| {
        for t in temps.iter().flatten() {
            let _ = std::fs::remove_file(t);
        }
    };
    let argv = job.command.argv(&shown);
    let logs = Logs {
        out: out_log,
        err: err_log,
        attempt,
    };
    let exit = run_once(&argv, env, cwd, logs, timeout, cancel);
    let why = match exit {
        Exit::Success => None,
        Exit::Code(c) => {
            cleanup(&temps);
            return Err(AttemptError::Failed {
                why: format!("exit code {c}"),
                code: Some(c),
            });
        }
        Exit::Signal(s) => Some(format!("killed by {}", signal_name(s))),
        Exit::TimedOut => Some(format!(
            "timed out after {} (its process group was killed)",
            show_duration(timeout.unwrap_or_default())
        )),
        Exit::Cancelled => {
            cleanup(&temps);
            return Err(AttemptError::Cancelled);
        }
        Exit::Spawn(e) => Some(format!(
            "could not start `{}`: {e}",
            argv.first().map_or("", String::as_str)
        )),
    };
    if let Some(why) = why {
        cleanup(&temps);
        return Err(failed(why));
    }
    // Success: rename, then hash.
    let mut states = Vec::with_capacity(job.outputs.len());
    for (k, o) in job.outputs.iter().enumerate() {
        let full = base.join(o);
        if let Some(tmp) = &temps[k] {
            if let Err(e) = std::fs::rename(tmp, &full) {
                cleanup(&temps);
                let why = if e.kind() == std::io::ErrorKind::NotFound {
                    format!("exited 0 but did not write its output `{o}` (the command's `{{output}}` path)")
                } else {
                    format!("could not move its output into `{o}`: {e}")
                };
                return Err(failed(why));
            }
        }
        match hash::hash_file(&full) {
            Ok(s) => states.push(s),
            Err(e) => {
                cleanup(&temps);
                return Err(failed(format!(
                    "exited 0 but its output `{o}` is missing ({e})"
                )));
            }
        }
    }
    Ok(states)
}

/// `dir/.rask-XXXXXXXX.name` beside `path`.
fn temp_name(path: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let tag = Signer::new()
        .u128(nanos)
        .u128(u128::from(std::process::id()))
        .u128(u128::from(n))
        .finish()
        .0 as u64;
    match path.rfind('/') {
        Some(i) => format!("{}/.rask-{tag:016x}.{}", &path[..i], &path[i + 1..]),
        None => format!(".rask-{tag:016x}.{path}"),
    }
}

/// The job's log files: `STATE/logs/NAME.out` and `.err`.
pub(crate) fn log_paths(state: &Path, name: &str) -> (PathBuf, PathBuf) {
    let mut safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._,=+@-[]".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe != name || safe.starts_with('.') || safe.len() > 200 {
        safe.truncate(180);
        safe.push_str(&format!(
            "-{:08x}",
            Signer::new().str(name).finish().0 as u32
        ));
    }
    let dir = state.join("logs");
    (
        dir.join(format!("{safe}.out")),
        dir.join(format!("{safe}.err")),
    )
}

/// The last few lines of a log file.
pub(crate) fn stderr_tail(path: &Path) -> String {
    const BYTES: u64 = 2048;
    const LINES: usize = 6;
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map_or(0, |m| m.len());
    if len > BYTES && f.seek(SeekFrom::Start(len - BYTES)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    if f.read_to_end(&mut buf).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(LINES)..].join("\n")
}

pub(crate) fn show_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{} ms", d.as_millis())
    } else if s < 120.0 {
        format!("{s:.1} s")
    } else {
        format!("{:.1} min", s / 60.0)
    }
}
