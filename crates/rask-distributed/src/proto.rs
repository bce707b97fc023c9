//! The messages of the worker runtime, the same whichever the transport
//! (TCP between machines, a Unix socket pair to a local worker process).
//! Each frame carries a batch (a `Vec` of one of these enums); nothing in a
//! message is code: a task names a registered function, defined once per
//! connection by name.
//!
//! Ids: a graph is numbered by its client (`GraphNo`, unique per client
//! connection), a task within a graph by its position in the graph
//! (`u32`, dependencies before dependents, lower runs first); the scheduler
//! gives every task a global id ([`Gid`]) that workers use to name values.
//!
//! Where values go:
//! - A result of at most `inline_max` bytes (the scheduler's setting, sent
//!   to each worker when it joins) travels inside the worker's `Finished`
//!   message; the scheduler keeps it and passes it to dependents as a
//!   literal, so small values never need a fetch (Ray does the same with
//!   small objects).
//! - Bigger results stay on the worker that made them; a dependent elsewhere
//!   fetches them from that worker's data port ([`DataRequest`]), and so does
//!   a client that wants an output. The scheduler never relays data.

use serde::{Deserialize, Serialize};

mod coord;
#[cfg(test)]
pub(crate) use coord::req;
pub use coord::{CoordAnswer, CoordFail, CoordOp, CoordReply, CoordRequest, ReqId, SessionId};

/// A task's global id, given by the scheduler; workers name values by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Gid(pub u64);

/// A client's number for one of its graphs.
pub type GraphNo = u64;

/// Marks a task that cannot run remotely (a closure): it fails with
/// `NotRegistered` where it would run.
pub const NO_FUNC: u32 = u32::MAX;

/// An argument of a task as the client describes it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ArgSpec {
    /// The result of task `n` of the same graph (an earlier one).
    Dep(u32),
    /// A constant, encoded.
    Lit(Vec<u8>),
    /// The result of task `task` of an earlier graph `graph` of the same
    /// client that it still holds (a persisted future).
    Ext { graph: GraphNo, task: u32 },
    /// A value held by the client itself (a constant too big to travel in
    /// the graph), fetched from its data port at `addr` under `gid`.
    At { gid: Gid, addr: String },
    /// A value that failed on the client's side (a future that erred): the
    /// task does not run, and the client derives its error.
    Failed(String),
}

/// Kinds of failure, as a bit set for [`TaskOpts::retry_on`].
pub mod fail_bits {
    /// The function panicked.
    pub const PANICKED: u8 = 1;
    /// The function returned an error (or its inputs did not decode).
    pub const FAILED: u8 = 2;
    /// The attempt ran past its timeout.
    pub const TIMED_OUT: u8 = 4;
    /// Every kind.
    pub const ALL: u8 = PANICKED | FAILED | TIMED_OUT;
}

/// A task's options, when any differs from the defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskOpts {
    /// Higher runs first among ready tasks (default 0).
    pub priority: i32,
    /// Attempts after the first, for failures in `retry_on`.
    pub retries: u32,
    /// Which failures are retried ([`fail_bits`]).
    pub retry_on: u8,
    /// An attempt running longer than this fails with `TimedOut` (0: none).
    pub timeout_ms: u64,
    /// Named resources it holds while it runs (`("gpu", 1.0)`).
    pub resources: Vec<(String, f64)>,
    /// If not empty, only workers with one of these names may run it.
    pub workers: Vec<String>,
}

/// One task of a submitted graph.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Index into the graph's function table; [`NO_FUNC`] for a task that
    /// cannot run remotely (and for a part).
    pub func: u32,
    /// Its arguments, in order.
    pub args: Vec<ArgSpec>,
    /// Its options (`None`: all defaults).
    pub opts: Option<Box<TaskOpts>>,
    /// A part: item `n` of its one argument's vector (a multi-output task),
    /// never run, but kept apart by the worker that makes the vector.
    pub part: Option<u32>,
}

/// The parts a worker keeps of a vector it computes (see `TaskSpec::part`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SplitInto {
    /// Item index and the id to keep it under.
    pub parts: Vec<(u32, Gid)>,
    /// Whether to keep the whole vector too (something else uses it).
    pub keep_whole: bool,
}

/// A part as the worker kept it: its id, length, and bytes when small.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PartOut {
    pub gid: Gid,
    pub nbytes: u64,
    pub inline: Option<Vec<u8>>,
}

/// A client to the scheduler.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromClient {
    /// Run a graph: `funcs` are the registered names the tasks refer to;
    /// `outputs` are the tasks whose values the client will fetch; with
    /// `events`, every task's start, end and failure is reported as it
    /// happens (for progress bars and the task stream).
    Submit {
        graph: GraphNo,
        funcs: Vec<String>,
        tasks: Vec<TaskSpec>,
        outputs: Vec<u32>,
        events: bool,
    },
    /// The client has what it wanted of `graph`: forget it.
    Release { graph: GraphNo },
    /// Set a shared variable (a small value kept by the scheduler).
    SetVar { name: String, value: Vec<u8> },
    /// Read a shared variable; answered with `ToClient::Var`. Built in:
    /// `rask:workers` (live workers, `u64`), `rask:counts` (tasks waiting,
    /// ready, processing, in memory, erred, released: `[u64; 6]`) and
    /// `rask:adapt` (a `core::ClusterReport`: the workers, the work in hand
    /// and how many workers it wants).
    GetVar { name: String },
    /// Tell this client when workers join and leave (`WorkerJoined`,
    /// `WorkerLost`), starting with the workers there now.
    WatchWorkers,
    /// Retire these workers (by name) gracefully: they get no new tasks,
    /// the values only they hold are copied to other workers first, then
    /// their connections are closed (`core/retire.rs`). Progress shows in
    /// the `rask:adapt` variable.
    Retire { workers: Vec<String> },
    /// A coordination request (locks, queues, events: `proto/coord.rs`);
    /// `SetVar`/`GetVar` above reach the same variables.
    Coord(CoordRequest),
}

/// Why a task failed, as the scheduler reports it to the client.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Failure {
    /// The function panicked.
    Panicked(String),
    /// The function returned an error, or its inputs could not be decoded.
    Failed(String),
    /// The attempt ran past its timeout (milliseconds).
    TimedOut(u64),
    /// The function is not registered in the workers' binary, or the task
    /// is a closure.
    NotRegistered(String),
    /// Workers died while running it, too many times.
    WorkersDied { deaths: u32, last: String },
    /// No worker could run it for longer than the scheduler's no-workers
    /// timeout (none alive, or none with its resources or name).
    NoWorkers(String),
    /// A value it needs is gone and cannot be made again (an input of a
    /// graph that was released).
    Lost(String),
}

impl Failure {
    /// The error a client reports for it, under `key`.
    pub fn to_task_error(&self, key: rask_core::Key, attempt: u32) -> rask_core::TaskError {
        use rask_core::TaskErrorKind;
        let (kind, message) = match self {
            Failure::Panicked(m) => (TaskErrorKind::Panicked, m.clone()),
            Failure::Failed(m) => (TaskErrorKind::Failed, m.clone()),
            Failure::TimedOut(ms) => (
                TaskErrorKind::TimedOut {
                    after: std::time::Duration::from_millis(*ms),
                },
                String::new(),
            ),
            Failure::NotRegistered(m) => (TaskErrorKind::NotRegistered, m.clone()),
            Failure::WorkersDied { deaths, last } => (
                TaskErrorKind::WorkerDied {
                    worker: u32::MAX,
                    how: last.clone(),
                },
                format!(
                    "{deaths} workers died while running it (the last: {last}); it is not tried again"
                ),
            ),
            Failure::NoWorkers(m) => (TaskErrorKind::NoWorkers, m.clone()),
            Failure::Lost(m) => (TaskErrorKind::Failed, m.clone()),
        };
        rask_core::TaskError {
            key,
            kind,
            message,
            backtrace: None,
            attempt,
            cause: None,
        }
    }

    /// Its bit in [`fail_bits`] (0 for failures never retried).
    pub fn bit(&self) -> u8 {
        match self {
            Failure::Panicked(_) => fail_bits::PANICKED,
            Failure::Failed(_) => fail_bits::FAILED,
            Failure::TimedOut(_) => fail_bits::TIMED_OUT,
            _ => 0,
        }
    }
}

/// Where a computed value is, for the client that wants it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Located {
    /// Small: here it is.
    Inline(Vec<u8>),
    /// On the worker whose data address is `addr`, under `gid`.
    At { gid: Gid, addr: String },
}

/// The scheduler to a client.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToClient {
    /// Task `task` of `graph` started on `worker` (its compute `thread`),
    /// attempt `attempt` (only with `events`).
    Started {
        graph: GraphNo,
        task: u32,
        worker: u32,
        thread: u32,
        attempt: u32,
    },
    /// Task `task` finished: it ran for `micros` on `worker`'s `thread`, and
    /// its value is `nbytes` long; for an output, `value` says where it is
    /// (always sent for outputs; for other tasks only with `events`).
    Finished {
        graph: GraphNo,
        task: u32,
        worker: u32,
        thread: u32,
        attempt: u32,
        micros: u64,
        nbytes: u64,
        value: Option<Located>,
    },
    /// An attempt of task `task` failed and it will run again (only with
    /// `events`).
    Retrying {
        graph: GraphNo,
        task: u32,
        attempt: u32,
        failure: Failure,
    },
    /// Task `task` of `graph` failed on attempt `attempt` (its dependents
    /// will not run; the client derives their errors).
    Erred {
        graph: GraphNo,
        task: u32,
        attempt: u32,
        failure: Failure,
    },
    /// Every output of `graph` is computed or cannot be.
    GraphDone { graph: GraphNo },
    /// The graph was refused as a whole (it names a task that does not
    /// exist, a dependency after its dependent, ...).
    Refused { graph: GraphNo, why: String },
    /// A shared variable's value (`None`: not set).
    Var {
        name: String,
        value: Option<Vec<u8>>,
    },
    /// A worker joined (after `WatchWorkers`).
    WorkerJoined {
        worker: u32,
        name: String,
        threads: u32,
    },
    /// A worker left or died (after `WatchWorkers`).
    WorkerLost {
        worker: u32,
        name: String,
        why: String,
    },
    /// Output `task` of `graph`, announced `Finished` at a worker that is
    /// retiring, is now (also) held at `value` (fetch it there).
    Moved {
        graph: GraphNo,
        task: u32,
        value: Located,
    },
    /// The answer to a coordination request.
    Coord(CoordReply),
    /// A worker's memory and CPU (after `WatchWorkers`; about every half
    /// second, and when it pauses or resumes).
    WorkerSample { worker: u32, sample: MemorySample },
}

/// An argument as a worker gets it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ArgSource {
    /// A constant or a small value, encoded.
    Lit(Vec<u8>),
    /// A value this worker holds.
    Here(Gid),
    /// A value held by the worker whose data address is `addr`.
    There { gid: Gid, addr: String },
}

/// What a worker declares when it joins.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Its name (unique in the cluster; tasks may be restricted to names).
    pub name: String,
    /// Compute threads.
    pub threads: u32,
    /// Memory limit in bytes (0: none).
    pub memory: u64,
    /// Named resources (`gpu = 1`).
    pub resources: Vec<(String, f64)>,
    /// Where other workers and clients fetch its values (`host:port` for
    /// TCP, `unix:PATH` for a local worker).
    pub data_addr: String,
    /// Declared capacity for weighted placement (default: threads).
    pub weight: u32,
    /// Its process id (for logs and local supervision).
    pub pid: u32,
}

/// The scheduler to a worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToWorker {
    /// The first message to a worker that joined: results of at most
    /// `inline_max` bytes go back inside `Finished`.
    Welcome { inline_max: u64 },
    /// From now on, function `func` is the registered function `name`.
    Define { func: u32, name: String },
    /// Compute `gid` with `func` on `args`; keep the result (unless it was
    /// sent back inline). `timeout_ms` (0: none) bounds the attempt, which
    /// is the task's `attempt`-th if it starts; with `report_start` the
    /// worker says `Started` (for a client that follows every task).
    /// `rank` is the task's place in the scheduler's order (smaller
    /// first): the worker starts its queued tasks in that order.
    Compute {
        gid: Gid,
        func: u32,
        rank: (i64, u64),
        args: Vec<ArgSource>,
        timeout_ms: u64,
        attempt: u32,
        report_start: bool,
        /// Keep these items of the result apart (a multi-output task).
        split: Option<Box<SplitInto>>,
    },
    /// Give back these tasks if they have not started (work stealing);
    /// answered with `FromWorker::Stolen`.
    Steal { gids: Vec<Gid> },
    /// Forget these values.
    Release { gids: Vec<Gid> },
    /// Fetch value `gid` from the worker whose data address is `addr` and
    /// keep it (a worker being retired hands its values over); answered
    /// with `FromWorker::Fetched` or `FromWorker::NotFetched`.
    Fetch { gid: Gid, addr: String },
    /// The answer to a coordination request of one of its tasks.
    Coord(CoordReply),
}

/// A worker to the scheduler.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromWorker {
    /// The first message: who it is.
    Join(WorkerInfo),
    /// `gid`'s function started running on compute thread `thread` (only
    /// when asked with `report_start`).
    Started { gid: Gid, thread: u32 },
    /// `gid` is computed; its encoding is `nbytes` long and is `inline`
    /// when small (then the worker keeps no copy), else held here. It ran
    /// for `micros`.
    Finished {
        gid: Gid,
        nbytes: u64,
        micros: u64,
        thread: u32,
        inline: Option<Vec<u8>>,
        /// The parts kept (of a `Compute` with `split`).
        parts: Option<Vec<PartOut>>,
    },
    /// `gid` failed.
    Erred { gid: Gid, failure: Failure },
    /// `gid` could not start: the value `missing` could not be fetched
    /// from its holder (it died or lost it).
    Missing { gid: Gid, missing: Gid },
    /// The tasks of a `Steal` it gave back (not started).
    Stolen { gids: Vec<Gid> },
    /// The value of a `Fetch` is here now, `nbytes` long.
    Fetched { gid: Gid, nbytes: u64 },
    /// The value of a `Fetch` could not be fetched.
    NotFetched { gid: Gid },
    /// Still alive.
    Heartbeat,
    /// A coordination request of one of its tasks (sent at once, not
    /// batched with results).
    Coord(CoordRequest),
    /// Its memory (about every half second, and at once when it pauses or
    /// resumes): while `paused`, it starts no task and the scheduler sends
    /// it none.
    Memory(MemorySample),
}

/// A worker's memory and CPU at one moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemorySample {
    /// Above its pause threshold: it starts no new task.
    pub paused: bool,
    /// Its memory limit (0: none).
    pub limit: u64,
    /// The process's resident memory.
    pub rss: u64,
    /// Bytes of values it holds in memory.
    pub managed: u64,
    /// Bytes of values it spilled to disk.
    pub spilled: u64,
    /// CPU use since the last sample, in percent of one core.
    pub cpu_percent: f32,
    /// Bytes it sent to peers and clients and fetched from peers since it
    /// started.
    pub moved: u64,
}

/// A request on a worker's data port (from a peer or a client).
#[derive(Debug, Serialize, Deserialize)]
pub enum DataRequest {
    /// The encodings of these values: answered with [`DataReply`], then
    /// (on TCP) each present value's bytes, raw, in order.
    Get { gids: Vec<Gid> },
}

/// The answer to a `Get`: per value, its length (`None`: not held here).
/// On TCP the bytes follow the frame on the stream, raw and in order; on a
/// local socket each present value comes as one shared-memory segment.
#[derive(Debug, Serialize, Deserialize)]
pub struct DataReply {
    pub sizes: Vec<Option<u64>>,
}
