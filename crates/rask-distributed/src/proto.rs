//! The messages of the distributed runtime. Each frame on the wire carries a
//! batch (`Vec` of one of these enums); nothing in a message is code: a task
//! names a registered function, defined once per connection by name.
//!
//! Ids: a graph is numbered by its client (`GraphNo`, unique per client
//! connection), a task within a graph by its position in the graph
//! (`u32`, dependencies before dependents, lower runs first); the scheduler
//! gives every task a global id ([`Gid`]) that workers use to name values.

use serde::{Deserialize, Serialize};

/// A task's global id, given by the scheduler; workers name values by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Gid(pub u64);

/// A client's number for one of its graphs.
pub type GraphNo = u64;

/// An argument of a task as the client describes it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ArgSpec {
    /// The result of task `n` of the same graph (an earlier one).
    Dep(u32),
    /// A constant, encoded.
    Lit(Vec<u8>),
}

/// One task of a submitted graph.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Index into the graph's function table; `u32::MAX` for a task that
    /// cannot run remotely (a closure): it fails with `NotRegistered`.
    pub func: u32,
    /// Its arguments, in order.
    pub args: Vec<ArgSpec>,
    /// Named resources it needs while it runs (`("gpu", 1.0)`).
    pub resources: Vec<(String, f64)>,
    /// If not empty, only workers with one of these names may run it.
    pub workers: Vec<String>,
}

/// A client to the scheduler.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromClient {
    /// Run a graph: `funcs` are the registered names the tasks refer to;
    /// `outputs` are the tasks whose values the client will fetch.
    Submit {
        graph: GraphNo,
        funcs: Vec<String>,
        tasks: Vec<TaskSpec>,
        outputs: Vec<u32>,
    },
    /// The client has what it wanted of `graph`: forget it.
    Release { graph: GraphNo },
    /// Set a shared variable (a small value kept by the scheduler).
    SetVar { name: String, value: Vec<u8> },
    /// Read a shared variable; answered with `ToClient::Var`. Built in:
    /// `rask:workers` (live workers, `u64`) and `rask:counts` (tasks waiting,
    /// ready, processing, in memory, erred, released: `[u64; 6]`).
    GetVar { name: String },
}

/// Why a task failed, as the scheduler reports it to the client.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Failure {
    /// The function panicked.
    Panicked(String),
    /// The function returned an error, or its inputs could not be decoded.
    Failed(String),
    /// The function is not registered in the workers' binary, or the task
    /// is a closure.
    NotRegistered(String),
    /// Workers died while running it, too many times.
    WorkersDied { deaths: u32, last: String },
}

/// The scheduler to a client.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToClient {
    /// Output `task` of `graph` is computed: fetch it as `gid` from the
    /// worker whose data address is `addr`.
    Done {
        graph: GraphNo,
        task: u32,
        gid: Gid,
        addr: String,
    },
    /// Task `task` of `graph` failed (its dependents will not run).
    Erred {
        graph: GraphNo,
        task: u32,
        failure: Failure,
    },
    /// Every output of `graph` is computed or cannot be.
    Finished { graph: GraphNo },
    /// The graph was refused as a whole (it names a task that does not
    /// exist, a dependency after its dependent, ...).
    Refused { graph: GraphNo, why: String },
    /// A shared variable's value (`None`: not set).
    Var {
        name: String,
        value: Option<Vec<u8>>,
    },
}

/// An argument as a worker gets it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ArgSource {
    /// A constant, encoded.
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
    /// Where other workers and clients fetch its values.
    pub data_addr: String,
    /// Declared capacity for weighted placement (default: threads).
    pub weight: u32,
}

/// The scheduler to a worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToWorker {
    /// From now on, function `func` is the registered function `name`.
    Define { func: u32, name: String },
    /// Compute `gid` with `func` on `args`; keep the result.
    Compute {
        gid: Gid,
        func: u32,
        args: Vec<ArgSource>,
    },
    /// Give back these tasks if they have not started (work stealing);
    /// answered with `FromWorker::Stolen`.
    Steal { gids: Vec<Gid> },
    /// Forget these values.
    Release { gids: Vec<Gid> },
}

/// A worker to the scheduler.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromWorker {
    /// The first message: who it is.
    Join(WorkerInfo),
    /// `gid` is computed and held; its encoding is `nbytes` long.
    Finished { gid: Gid, nbytes: u64, micros: u64 },
    /// `gid` failed.
    Erred { gid: Gid, failure: Failure },
    /// `gid` could not start: the value `missing` could not be fetched
    /// from its holder (it died or lost it).
    Missing { gid: Gid, missing: Gid },
    /// The tasks of a `Steal` it gave back (not started).
    Stolen { gids: Vec<Gid> },
    /// Still alive.
    Heartbeat,
}

/// A request on a worker's data port (from a peer or a client).
#[derive(Debug, Serialize, Deserialize)]
pub enum DataRequest {
    /// The encodings of these values.
    Get { gids: Vec<Gid> },
}

/// The answer: each value's encoding, `None` for one it does not hold.
#[derive(Debug, Serialize, Deserialize)]
pub struct DataReply {
    pub values: Vec<Option<Vec<u8>>>,
}
