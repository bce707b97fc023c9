//! Ad hoc jobs on a running cluster: `rask submit`, `rask jobs`,
//! `rask wait`, `rask cancel`.
//!
//! The scheduler keeps no registry of jobs, and needs none: a submission is
//! a directory in the *job store* (`$RASK_JOBS_DIR`, default
//! `~/.rask/jobs`), driven by a detached process.
//!
//! - `rask submit` takes the next number `N` (by creating `STORE/N`),
//!   writes `submission.json` and the equivalent `workflow.toml` (one job,
//!   expanded over the `--array` range), and starts `rask drive STORE/N` in
//!   a new session, detached from the terminal. It returns once the driver
//!   holds the directory's lock (or has already written its result).
//! - The driver connects to the cluster as a client, runs the workflow
//!   through the same code as `rask run` (state, journal and logs in the
//!   job's directory), and writes `result.json` (written, then renamed).
//! - `rask jobs` and `rask wait` only read the store: a job is *finished*
//!   when `result.json` exists, *running* while a process holds its lock,
//!   and *lost* otherwise (its driver died: the journal keeps what
//!   finished). Progress comes from the journal's records.
//! - `rask cancel N` sends `SIGINT` to the driver, which cancels the run as
//!   Ctrl-C does `rask run`.
//!
//! Limits: the store is local to the machine that submitted (other
//! machines do not see its jobs); the driver must stay alive for the job to
//! progress (the cluster runs only what a connected client asked for, and
//! forgets a client's graph when it disconnects); workers must see the
//! working directory at the same path.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::journal::{self, Record, StateLock};
use crate::spec::{Each, EachValue, JobTemplate, ResourceValue, TimeoutValue, WorkflowFile};
use crate::{Summary, WorkflowError};

/// What `rask submit` was asked to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// The scheduler's address.
    pub cluster: String,
    /// The program and its arguments; `{}` is the task's index.
    pub command: Vec<String>,
    /// `--array A-B`: one task per index, both ends included.
    pub array: Option<(i64, i64)>,
    /// A name for the job (default: the program's name).
    pub name: String,
    /// Working directory of every task (absolute).
    pub cwd: PathBuf,
    /// Retries per task.
    pub retries: u32,
    /// Time limit per attempt (`"10m"`).
    pub timeout: Option<String>,
    /// Resources per task (`cpus`, `memory`, or any the workers declare).
    pub resources: Vec<(String, f64)>,
    /// When it was submitted (seconds since 1970).
    pub submitted_at: u64,
}

/// A job's number in its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JobId(pub u64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What the driver leaves when it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    /// The run's summary (absent if it could not run at all).
    pub summary: Option<Summary>,
    /// Why it could not run or complete (the cluster was not reachable...).
    pub error: Option<String>,
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    /// Its driver is running it: tasks finished (ran, checked or failed) so far.
    Running {
        /// Tasks done.
        done: u64,
        /// Of which failed.
        failed: u64,
    },
    /// It ended.
    Finished(JobResult),
    /// Its driver is gone without a result.
    Lost,
}

/// A job in the store.
#[derive(Debug, Clone)]
pub struct JobInfo {
    /// Its number.
    pub id: JobId,
    /// What was submitted.
    pub submission: Submission,
    /// Its state.
    pub state: JobState,
    /// Its directory.
    pub dir: PathBuf,
}

impl JobInfo {
    /// How many tasks the job has.
    pub fn tasks(&self) -> u64 {
        self.submission
            .array
            .map_or(1, |(a, b)| (b - a + 1).max(0) as u64)
    }

    /// Whether it is over (finished or lost).
    pub fn is_over(&self) -> bool {
        !matches!(self.state, JobState::Running { .. })
    }

    /// Whether it finished with every task done.
    pub fn succeeded(&self) -> bool {
        matches!(&self.state, JobState::Finished(JobResult { summary: Some(s), error: None }) if s.success())
    }

    /// One line: id, name, tasks, state.
    pub fn line(&self) -> String {
        let state = match &self.state {
            JobState::Running { done, failed } => {
                let f = if *failed > 0 {
                    format!(", {failed} failed")
                } else {
                    String::new()
                };
                format!("running ({done}/{} done{f})", self.tasks())
            }
            JobState::Finished(JobResult { error: Some(e), .. }) => format!("error: {e}"),
            JobState::Finished(JobResult {
                summary: Some(s), ..
            }) if s.success() => {
                format!("finished ({} tasks ok)", s.jobs)
            }
            JobState::Finished(JobResult {
                summary: Some(s), ..
            }) if s.interrupted => {
                format!(
                    "cancelled ({} ran, {} not run)",
                    s.ran.len() + s.up_to_date,
                    s.cancelled
                )
            }
            JobState::Finished(JobResult {
                summary: Some(s), ..
            }) => {
                format!(
                    "failed ({} of {} tasks failed)",
                    s.failed.len() + s.skipped.len(),
                    s.jobs
                )
            }
            JobState::Finished(_) => "finished".into(),
            JobState::Lost => "lost (its driver died; `rask submit` it again)".into(),
        };
        format!(
            "{:>5}  {:<20}  {:>6} tasks  {state}",
            self.id,
            self.submission.name,
            self.tasks()
        )
    }
}

/// A directory of submitted jobs.
#[derive(Debug, Clone)]
pub struct JobStore {
    root: PathBuf,
}

impl JobStore {
    /// The store at `root`, or `$RASK_JOBS_DIR`, or `~/.rask/jobs`.
    pub fn open(root: Option<PathBuf>) -> JobStore {
        let root = root
            .or_else(|| std::env::var_os("RASK_JOBS_DIR").map(PathBuf::from))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rask/jobs")))
            .unwrap_or_else(|| PathBuf::from(".rask/jobs"));
        JobStore { root }
    }

    /// Its directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, id: JobId) -> PathBuf {
        self.root.join(id.0.to_string())
    }

    /// Records `sub` as a new job and starts its driver: `exe drive DIR`
    /// (`exe` is the `rask` binary).
    pub fn submit(&self, sub: &Submission, exe: &Path) -> Result<JobId, WorkflowError> {
        if sub.command.is_empty() {
            return Err(WorkflowError::invalid(
                "submit",
                "command",
                "nothing to run (give it after `--`)",
            ));
        }
        if let Some((a, b)) = sub.array {
            if b < a {
                return Err(WorkflowError::invalid(
                    "submit",
                    "array",
                    format!("{a}-{b} is empty"),
                ));
            }
        }
        std::fs::create_dir_all(&self.root).map_err(|e| WorkflowError::io(&self.root, e))?;
        let (id, dir) = self.new_dir()?;
        let json = serde_json::to_vec_pretty(sub)
            .map_err(|e| WorkflowError::io(&dir, std::io::Error::other(e)))?;
        write_atomic(&dir.join("submission.json"), &json)?;
        write_atomic(
            &dir.join("workflow.toml"),
            workflow_for(sub).to_toml().as_bytes(),
        )?;
        let log = File::create(dir.join("driver.log"))
            .map_err(|e| WorkflowError::io(dir.join("driver.log"), e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| WorkflowError::io(dir.join("driver.log"), e))?;
        let mut cmd = std::process::Command::new(exe);
        cmd.arg("drive")
            .arg(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log2);
        // SAFETY: setsid is async-signal-safe and touches no memory of ours;
        // it puts the driver in a session of its own, away from the
        // terminal's signals (Ctrl-C, hang-up).
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::setsid();
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| WorkflowError::io(exe, e))?;
        // Wait until it holds the lock or is done, so `rask jobs` never sees
        // a job that is neither.
        let t = Instant::now();
        loop {
            if StateLock::is_held(&dir) || dir.join("result.json").exists() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                if !dir.join("result.json").exists() {
                    let log = std::fs::read_to_string(dir.join("driver.log")).unwrap_or_default();
                    return Err(WorkflowError::Engine(format!(
                        "the job's driver exited ({status}): {}",
                        log.trim()
                    )));
                }
                break;
            }
            if t.elapsed() > Duration::from_secs(30) {
                return Err(WorkflowError::Engine(
                    "the job's driver did not start within 30 s".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // The driver lives on alone; nobody will wait for it but init.
        drop(child);
        Ok(id)
    }

    fn new_dir(&self) -> Result<(JobId, PathBuf), WorkflowError> {
        let mut next = self.ids()?.last().map_or(1, |i| i.0 + 1);
        loop {
            let dir = self.dir(JobId(next));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok((JobId(next), dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => next += 1,
                Err(e) => return Err(WorkflowError::io(dir, e)),
            }
        }
    }

    fn ids(&self) -> Result<Vec<JobId>, WorkflowError> {
        let rd = match std::fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(WorkflowError::io(&self.root, e)),
        };
        let mut ids: Vec<JobId> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .map(JobId)
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Every job, oldest first.
    pub fn list(&self) -> Result<Vec<JobInfo>, WorkflowError> {
        self.ids()?
            .into_iter()
            .filter_map(|id| self.info(id).transpose())
            .collect()
    }

    /// One job (`None` if there is no such job).
    pub fn info(&self, id: JobId) -> Result<Option<JobInfo>, WorkflowError> {
        let dir = self.dir(id);
        let sub = match std::fs::read(dir.join("submission.json")) {
            Ok(b) => {
                serde_json::from_slice::<Submission>(&b).map_err(|e| WorkflowError::Parse {
                    path: dir.join("submission.json"),
                    message: e.to_string(),
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(WorkflowError::io(dir.join("submission.json"), e)),
        };
        let state = self.state(&dir)?;
        Ok(Some(JobInfo {
            id,
            submission: sub,
            state,
            dir,
        }))
    }

    fn state(&self, dir: &Path) -> Result<JobState, WorkflowError> {
        let read_result = || -> Result<Option<JobResult>, WorkflowError> {
            match std::fs::read(dir.join("result.json")) {
                Ok(b) => serde_json::from_slice(&b)
                    .map(Some)
                    .map_err(|e| WorkflowError::Parse {
                        path: dir.join("result.json"),
                        message: e.to_string(),
                    }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(WorkflowError::io(dir.join("result.json"), e)),
            }
        };
        if let Some(r) = read_result()? {
            return Ok(JobState::Finished(r));
        }
        if !StateLock::is_held(dir) {
            // It may have finished between the two looks; and a driver
            // lets the lock go when its run ends, just before it writes its
            // result: while its process lives, it is finishing, not lost.
            if let Some(r) = read_result()? {
                return Ok(JobState::Finished(r));
            }
            if !driver_alive(dir) {
                return Ok(read_result()?.map_or(JobState::Lost, JobState::Finished));
            }
        }
        let (mut done, mut failed) = (0, 0);
        for s in journal::segments(&journal::dir(dir))? {
            for r in journal::read_segment(&s, 0)?.0 {
                match r {
                    Record::Done { .. } | Record::Checked { .. } => done += 1,
                    Record::Failed { .. } => {
                        done += 1;
                        failed += 1;
                    }
                    Record::Source { .. } => {}
                }
            }
        }
        Ok(JobState::Running { done, failed })
    }

    /// Waits until each of `ids` (every running job if empty) is over, or
    /// `timeout` passes; returns their final infos.
    pub fn wait(
        &self,
        ids: &[JobId],
        timeout: Option<Duration>,
    ) -> Result<Vec<JobInfo>, WorkflowError> {
        let ids: Vec<JobId> = if ids.is_empty() {
            self.list()?
                .into_iter()
                .filter(|j| !j.is_over())
                .map(|j| j.id)
                .collect()
        } else {
            ids.to_vec()
        };
        let start = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            let mut infos = Vec::with_capacity(ids.len());
            for &id in &ids {
                match self.info(id)? {
                    Some(i) => infos.push(i),
                    None => return Err(WorkflowError::NoSuchJob(id.to_string())),
                }
            }
            if infos.iter().all(JobInfo::is_over) || timeout.is_some_and(|t| start.elapsed() >= t) {
                return Ok(infos);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// Asks job `id`'s driver to cancel it (as Ctrl-C would); false if it
    /// was not running.
    pub fn cancel(&self, id: JobId) -> Result<bool, WorkflowError> {
        let dir = self.dir(id);
        if !StateLock::is_held(&dir) {
            return Ok(false);
        }
        let pid: i32 = std::fs::read_to_string(dir.join("driver.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| WorkflowError::Engine(format!("job {id}: no driver.pid")))?;
        // SAFETY: kill has no memory-safety preconditions. The lock is held,
        // so the driver that wrote this pid is alive and the pid is its.
        let rc = unsafe { libc::kill(pid, libc::SIGINT) };
        Ok(rc == 0)
    }
}

/// Whether the driver process whose pid `dir/driver.pid` holds still lives.
fn driver_alive(dir: &Path) -> bool {
    let Some(pid) = std::fs::read_to_string(dir.join("driver.pid"))
        .ok()
        .and_then(|s| s.trim().parse::<libc::pid_t>().ok())
    else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The body of `rask drive DIR`: runs the job in `dir` on its cluster and
/// writes its result. Returns the exit status.
pub fn drive(dir: &Path) -> i32 {
    let result = drive_inner(dir);
    let code = match &result {
        JobResult {
            summary: Some(s),
            error: None,
        } => s.exit_code(),
        _ => 1,
    };
    match serde_json::to_vec_pretty(&result) {
        Ok(b) => {
            if let Err(e) = write_atomic(&dir.join("result.json"), &b) {
                tracing::error!("{e}");
            }
        }
        Err(e) => tracing::error!("could not encode the result: {e}"),
    }
    code
}

fn drive_inner(dir: &Path) -> JobResult {
    let failed = |e: String| JobResult {
        summary: None,
        error: Some(e),
    };
    // Signals first, then the lock (which `rask submit` and `rask cancel`
    // wait for): a cancellation can never find the driver deaf.
    if let Err(e) = crate::interrupt::install() {
        return failed(format!("installing the signal handler: {e}"));
    }
    // The pid before the lock: whoever sees the lock held can signal it.
    if let Err(e) = std::fs::write(dir.join("driver.pid"), std::process::id().to_string()) {
        return failed(format!("{}: {e}", dir.join("driver.pid").display()));
    }
    let lock = match StateLock::take(dir) {
        Ok(l) => l,
        Err(e) => return failed(e.to_string()),
    };
    let sub: Submission = match std::fs::read(dir.join("submission.json"))
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => return failed(format!("submission.json: {e}")),
    };
    let wf = match crate::Workflow::load(&dir.join("workflow.toml")) {
        Ok(w) => w,
        Err(e) => return failed(e.to_string()),
    };
    let client = match rask::Client::connect(&sub.cluster) {
        Ok(c) => c,
        Err(e) => {
            return failed(format!(
                "connecting to the scheduler at {}: {e}",
                sub.cluster
            ))
        }
    };
    let opts = crate::RunOptions {
        state_dir: Some(dir.to_owned()),
        ..crate::RunOptions::default()
    };
    // The lock goes to the run: it is never free while the job lives.
    match crate::runner::run_locked(&wf, &client, &opts, lock) {
        Ok(s) => JobResult {
            summary: Some(s),
            error: None,
        },
        Err(e) => failed(e.to_string()),
    }
}

/// The workflow that runs a submission: one job, over the array if any.
pub fn workflow_for(sub: &Submission) -> WorkflowFile {
    let argv: Vec<String> = sub.command.iter().map(|a| escape_arg(a)).collect();
    let mut env = std::collections::BTreeMap::new();
    let mut each = Each::default();
    if let Some((a, b)) = sub.array {
        each.0
            .push(("task".into(), EachValue::Text(format!("{a}..={b}"))));
        env.insert("RASK_TASK_ID".into(), "{task}".into());
    }
    WorkflowFile {
        defaults: Default::default(),
        jobs: vec![JobTemplate {
            name: escape_arg(&sub.name),
            each,
            argv: Some(argv),
            env,
            cwd: Some(escape_arg(&sub.cwd.to_string_lossy())),
            retries: (sub.retries > 0).then_some(sub.retries),
            timeout: sub.timeout.clone().map(TimeoutValue::Text),
            resources: sub
                .resources
                .iter()
                .map(|(r, q)| (r.clone(), ResourceValue::Number(*q)))
                .collect(),
            ..JobTemplate::default()
        }],
    }
}

/// A command-line argument as a template: `{}` is the task index, other
/// braces are literal.
fn escape_arg(a: &str) -> String {
    let mut out = String::with_capacity(a.len());
    let mut rest = a;
    while let Some(i) = rest.find("{}") {
        out.push_str(&rest[..i].replace('{', "{{").replace('}', "}}"));
        out.push_str("{task}");
        rest = &rest[i + 2..];
    }
    out.push_str(&rest.replace('{', "{{").replace('}', "}}"));
    out
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WorkflowError> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            WorkflowError::io(path, e)
        })
}

/// `"1-1000"`, `"5"`: the array range (both ends included).
pub fn parse_array(text: &str) -> Result<(i64, i64), String> {
    let t = text.trim();
    let parse = |s: &str| {
        s.trim()
            .parse::<i64>()
            .map_err(|_| format!("`{text}` is not a range such as 1-1000"))
    };
    match t.split_once('-').filter(|(a, _)| !a.is_empty()) {
        Some((a, b)) => {
            let (a, b) = (parse(a)?, parse(b)?);
            if b < a {
                return Err(format!("`{text}` is empty"));
            }
            if b - a >= crate::expand::MAX_JOBS as i64 {
                return Err(format!(
                    "`{text}` has more than {} tasks",
                    crate::expand::MAX_JOBS
                ));
            }
            Ok((a, b))
        }
        None => parse(t).map(|a| (a, a)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn arrays_and_braces() {
        assert_eq!(parse_array("1-1000").unwrap(), (1, 1000));
        assert_eq!(parse_array("7").unwrap(), (7, 7));
        assert!(parse_array("9-3").is_err());
        assert!(parse_array("x").is_err());
        assert_eq!(escape_arg("in/{}.txt"), "in/{task}.txt");
        assert_eq!(escape_arg("awk '{print}' {}"), "awk '{{print}}' {task}");
    }

    #[test]
    fn a_submission_is_a_workflow() {
        let sub = Submission {
            cluster: "127.0.0.1:1".into(),
            command: vec!["sh".into(), "-c".into(), "echo {} > out/{}.txt".into()],
            array: Some((1, 3)),
            name: "echo".into(),
            cwd: "/tmp".into(),
            retries: 1,
            timeout: Some("1m".into()),
            resources: vec![],
            submitted_at: 0,
        };
        let wf = crate::Workflow::build(&workflow_for(&sub), Path::new("/tmp")).unwrap();
        let names: Vec<&str> = wf.job_names().collect();
        assert_eq!(names, ["echo[1]", "echo[2]", "echo[3]"]);
        assert_eq!(
            wf.jobs[1].command.argv(&[]),
            ["sh", "-c", "echo 2 > out/2.txt"]
        );
        assert!(wf.jobs[2]
            .env
            .contains(&("RASK_TASK_ID".into(), "3".into())));
    }
}
