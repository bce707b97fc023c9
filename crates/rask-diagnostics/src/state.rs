//! "The cluster's state": what a live view (dashboard, `/metrics`,
//! `rask status`, `rask explain`) asks of whatever runs tasks.
//!
//! [`ClusterState`] is the one seam between a dashboard and an executor.
//! In-process clients implement it through their [`Recorder`](crate::Recorder),
//! which rebuilds the state from the event stream; a scheduler can implement
//! it from its own tables (it knows more: queued tasks, where each value
//! lives, its loop latency). Every method returns plain, serializable data
//! taken at one moment; none may block for long, since a dashboard calls
//! them from its request handlers.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::graph::GraphView;
use crate::recorder::Cursor;
use crate::TaskColumns;

/// What a live view can ask of a running system.
pub trait ClusterState: Send + Sync + 'static {
    /// Counts by state (in all and per key prefix), workers, runs.
    fn status(&self) -> Status;

    /// Task records, resource samples and transfers recorded after `cursor`
    /// (at most `limit` task records, the most recent ones), with the cursor
    /// to pass next time. [`Cursor::default`] starts from what is still held.
    fn stream(&self, cursor: &Cursor, limit: usize) -> StreamUpdate;

    /// The graph of the latest run (tasks coloured by state), if small
    /// enough to have been kept.
    fn graph(&self) -> Option<GraphView>;

    /// Where a task is and why: its state, the dependencies it still
    /// waits for and where they are, its worker, attempts and error.
    fn explain(&self, key: &str) -> Result<TaskDetail, ExplainError>;
}

/// A task's state as a live view shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Some dependency has not finished.
    Waiting,
    /// Every dependency has finished; waiting for a free thread.
    Ready,
    /// Running on a worker.
    Running,
    /// Finished with a value.
    Done,
    /// Failed.
    Failed,
    /// Did not run: a dependency failed.
    Skipped,
}

impl TaskState {
    /// Every state, in display order.
    pub const ALL: [TaskState; 6] = [
        TaskState::Waiting,
        TaskState::Ready,
        TaskState::Running,
        TaskState::Done,
        TaskState::Failed,
        TaskState::Skipped,
    ];

    /// The lower-case name (`"waiting"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Waiting => "waiting",
            TaskState::Ready => "ready",
            TaskState::Running => "running",
            TaskState::Done => "done",
            TaskState::Failed => "failed",
            TaskState::Skipped => "skipped",
        }
    }

    /// The colour pictures use for it.
    pub fn colour(self) -> &'static str {
        match self {
            TaskState::Waiting => "#d0d0d0",
            TaskState::Ready => "#9ecae1",
            TaskState::Running => "#fdae6b",
            TaskState::Done => "#74c476",
            TaskState::Failed => "#de2d26",
            TaskState::Skipped => "#969696",
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A snapshot of counts, workers and runs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Status {
    /// Nanoseconds since the recording (or the scheduler) started.
    pub now_ns: u64,
    /// The executor (`"threads"`, `"processes"`, `"distributed"`), if known.
    pub executor: String,
    /// Tasks by state over the runs still tracked (and eager tasks: running,
    /// done and failed only).
    pub tasks: StateCounts,
    /// Per key prefix, by most time spent.
    pub prefixes: Vec<PrefixStatus>,
    /// Per function (registered function, or the function an anonymous task
    /// wraps), by most time spent.
    pub functions: Vec<FunctionStatus>,
    /// Workers, by id.
    pub workers: Vec<WorkerStatus>,
    /// The most recent runs, oldest first.
    pub runs: Vec<RunInfo>,
    /// Bytes moved between workers (or to the client) so far.
    pub bytes_moved: u64,
    /// Transfers so far.
    pub transfers: u64,
    /// Task records dropped from the bounded task stream so far.
    pub records_dropped: u64,
    /// Bytes the recording holds.
    pub memory_bytes: u64,
    /// How long the scheduler's loop took to handle its last batch of
    /// messages (schedulers only).
    pub scheduler_latency_s: Option<f64>,
    /// The client's result cache, where it has one and a run used it.
    #[serde(default)]
    pub cache: Option<CacheStatus>,
}

/// A result cache's counters, as of the last run that used it.
pub type CacheStatus = rask_core::CacheStats;

/// Task counts by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCounts {
    /// Some dependency has not finished.
    pub waiting: u64,
    /// Waiting for a thread.
    pub ready: u64,
    /// Running.
    pub running: u64,
    /// Finished with a value.
    pub done: u64,
    /// Failed.
    pub failed: u64,
    /// Did not run.
    pub skipped: u64,
}

impl StateCounts {
    /// The count of one state.
    pub fn get(&self, s: TaskState) -> u64 {
        match s {
            TaskState::Waiting => self.waiting,
            TaskState::Ready => self.ready,
            TaskState::Running => self.running,
            TaskState::Done => self.done,
            TaskState::Failed => self.failed,
            TaskState::Skipped => self.skipped,
        }
    }
}

/// Progress and time of one key prefix.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PrefixStatus {
    /// The prefix (`load` for `load[3]`).
    pub name: String,
    /// Tasks of this prefix in the plans of the runs so far (0 for eager tasks).
    pub planned: u64,
    /// Running now.
    pub running: u64,
    /// Finished with a value.
    pub done: u64,
    /// Failed or did not run.
    pub failed: u64,
    /// Time inside task bodies, in seconds.
    pub busy_s: f64,
    /// Bytes of results, where known.
    pub nbytes: u64,
    /// The function its tasks run, where known.
    pub function: Option<String>,
}

/// Time of one function.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FunctionStatus {
    /// Its name.
    pub name: String,
    /// Calls that finished.
    pub calls: u64,
    /// Calls that failed.
    pub failed: u64,
    /// Time inside it, in seconds.
    pub busy_s: f64,
}

/// One worker (or, in-process, one thread of the pool).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// Its id in the event stream.
    pub id: u32,
    /// Its name.
    pub name: String,
    /// Compute threads.
    pub threads: u32,
    /// Tasks running now.
    pub running: u64,
    /// Tasks finished (with a value or not).
    pub done: u64,
    /// Time inside task bodies, in seconds.
    pub busy_s: f64,
    /// CPU use at the last sample, in percent of one core.
    pub cpu_percent: Option<f32>,
    /// Resident memory at the last sample.
    pub rss_bytes: Option<u64>,
    /// Bytes of values held in memory (where reported).
    pub managed_bytes: Option<u64>,
    /// Bytes of values spilled to disk (where reported).
    pub spilled_bytes: Option<u64>,
    /// Bytes sent and received (where reported).
    pub moved_bytes: Option<u64>,
    /// Whether it is still there.
    pub alive: bool,
    /// Why it left, if it did.
    pub lost: Option<String>,
}

/// One run (one `compute`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunInfo {
    /// Its id.
    pub id: u64,
    /// The executor.
    pub executor: String,
    /// Tasks in its plan.
    pub tasks: u64,
    /// Workers it had.
    pub workers: u64,
    /// When it started (ns since the recording's start).
    pub start_ns: u64,
    /// When it finished, if it has.
    pub end_ns: Option<u64>,
    /// Tasks that failed or did not run.
    pub failed: u64,
}

/// What [`ClusterState::stream`] returns.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StreamUpdate {
    /// New task records (names in `names`).
    pub tasks: TaskColumns,
    /// Names that `tasks.prefix` indexes (all names so far).
    pub names: Vec<String>,
    /// New resource samples.
    pub samples: SampleColumns,
    /// New transfers.
    pub transfers: TransferColumns,
    /// Records that were dropped before they could be sent (the stream is
    /// bounded, or more than `limit` arrived).
    pub missed: u64,
    /// Pass this next time.
    pub cursor: Cursor,
}

/// Resource samples column by column (times in ns since the start).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SampleColumns {
    /// When.
    pub t: Vec<u64>,
    /// Which worker.
    pub worker: Vec<u32>,
    /// CPU, percent of one core.
    pub cpu: Vec<f32>,
    /// Resident memory, bytes (-1: not measured, e.g. a pool thread).
    pub rss: Vec<i64>,
    /// Bytes held in memory (-1: not reported).
    pub managed: Vec<i64>,
    /// Bytes spilled (-1: not reported).
    pub spilled: Vec<i64>,
    /// Bytes moved so far (-1: not reported).
    pub moved: Vec<i64>,
}

impl SampleColumns {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.t.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }
}

/// Transfers column by column.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TransferColumns {
    /// Start.
    pub start: Vec<u64>,
    /// Duration.
    pub dur: Vec<u64>,
    /// From which worker.
    pub from: Vec<u32>,
    /// To which worker (`u32::MAX`: the client).
    pub to: Vec<u32>,
    /// Bytes.
    pub nbytes: Vec<u64>,
}

impl TransferColumns {
    /// Number of transfers.
    pub fn len(&self) -> usize {
        self.start.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
    }
}

/// Where a task is and why.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskDetail {
    /// Its key.
    pub key: String,
    /// The run it belongs to.
    pub run: u64,
    /// Its state.
    pub state: TaskState,
    /// One sentence: why it is in that state.
    pub why: String,
    /// Its dependencies, in argument order.
    pub dependencies: Vec<DepDetail>,
    /// How many of them have not finished.
    pub missing: usize,
    /// Its dependents (the first few) and how many in all.
    pub dependents: Vec<String>,
    /// How many tasks depend on it.
    pub dependents_total: usize,
    /// The worker that runs or ran it.
    pub worker: Option<u32>,
    /// Attempts so far.
    pub attempts: u32,
    /// When it started (ns since the recording's start).
    pub started_ns: Option<u64>,
    /// How long it ran (or has been running).
    pub duration_ns: Option<u64>,
    /// Its error, if it failed.
    pub error: Option<String>,
}

/// One dependency of a task, for [`TaskDetail`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DepDetail {
    /// Its key.
    pub key: String,
    /// Its state.
    pub state: TaskState,
    /// Where its value is (or where it runs).
    pub location: Option<String>,
}

/// Why [`ClusterState::explain`] has no answer.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ExplainError {
    /// No tracked run has a task with that key.
    #[error("no task `{key}` in the runs still tracked (the {runs} most recent runs of at most {limit} tasks each)")]
    UnknownKey {
        /// The key asked for.
        key: String,
        /// Runs tracked.
        runs: usize,
        /// Their size limit.
        limit: usize,
    },
    /// The key could not be read.
    #[error("`{key}` is not a task key (expected `name`, `name[3]` or `name#17`)")]
    BadKey {
        /// The key asked for.
        key: String,
    },
}

impl fmt::Display for TaskDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} ({}, run {}): {}",
            self.key, self.state, self.run, self.why
        )?;
        if let Some(w) = self.worker {
            writeln!(f, "  worker: {w}")?;
        }
        writeln!(f, "  attempts: {}", self.attempts)?;
        if let Some(d) = self.duration_ns {
            writeln!(f, "  ran for: {:.6} s", d as f64 / 1e9)?;
        }
        if !self.dependencies.is_empty() {
            writeln!(f, "  dependencies ({} not finished):", self.missing)?;
            for d in &self.dependencies {
                match &d.location {
                    Some(l) => writeln!(f, "    {} {} ({l})", d.key, d.state)?,
                    None => writeln!(f, "    {} {}", d.key, d.state)?,
                }
            }
        }
        if self.dependents_total > 0 {
            writeln!(
                f,
                "  dependents: {} ({}{})",
                self.dependents_total,
                self.dependents.join(", "),
                if self.dependents_total > self.dependents.len() {
                    ", ..."
                } else {
                    ""
                }
            )?;
        }
        if let Some(e) = &self.error {
            writeln!(f, "  error: {e}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.tasks;
        writeln!(
            f,
            "{}: {} waiting, {} ready, {} running, {} done, {} failed, {} skipped",
            if self.executor.is_empty() {
                "tasks"
            } else {
                &self.executor
            },
            t.waiting,
            t.ready,
            t.running,
            t.done,
            t.failed,
            t.skipped
        )?;
        for w in &self.workers {
            write!(
                f,
                "  worker {} {}: {} running, {} done",
                w.id, w.name, w.running, w.done
            )?;
            if let Some(c) = w.cpu_percent {
                write!(f, ", cpu {c:.0}%")?;
            }
            if let Some(r) = w.rss_bytes {
                write!(f, ", rss {:.1} MiB", r as f64 / 1048576.0)?;
            }
            if let Some(l) = &w.lost {
                write!(f, " (lost: {l})")?;
            }
            writeln!(f)?;
        }
        for p in self.prefixes.iter().take(20) {
            writeln!(
                f,
                "  {}: {}/{} done, {} failed, {} running, {:.3} s",
                p.name, p.done, p.planned, p.failed, p.running, p.busy_s
            )?;
        }
        Ok(())
    }
}
