//! The task-graph core of Rask: ids, keys, graphs, delayed values, lowering
//! (cull, order, fuse), the per-run task state machine, errors and events.
//! No IO and no threads: executors live in `rask-local` and later crates.
//!
//! The flow: a user builds a graph lazily with [`delayed`] (or a keyed
//! [`Graph`]); `compute` *lowers* it into a [`Plan`] (dense [`TaskId`]s in
//! priority order, fused chains, dependents in CSR form), wraps it in a
//! [`Run`] (32 bytes of state per task) and hands the run to an
//! [`Executor`], which calls [`Run::execute`] on ready tasks until the run is
//! complete. See `docs/architecture.md` at the repository root.

mod args;
mod catch;
mod compute;
mod delayed;
mod depth;
mod error;
mod event;
mod graph;
mod id;
mod inputs;
mod key;
mod loom;
#[cfg(all(test, rask_loom))]
mod loom_tests;
mod lower;
mod node;
mod plan;
mod remote;
mod run;

pub use args::{Arg, Args, Fetch, Many, One, TaskFn};
pub use catch::{call_body, catch_panic, failure_error};
pub use compute::{compute, plan_outputs, run_plan, Executor, OutputReader, Outputs, SyncExecutor};
pub use delayed::{
    delayed, literal, registered_call, registered_try_call, task, try_delayed, value, Delayed,
    IntoInput, TaskBuilder,
};
pub use error::{Error, GraphError, Result, TaskError, TaskErrorKind};
pub use event::{Event, EventSink, Subscriber};
pub use graph::Graph;
pub use id::{RunId, TaskId, WorkerId};
pub use inputs::Inputs;
#[doc(hidden)]
pub use inventory;
pub use key::{Key, KeyIndex, Name};
#[cfg(rask_loom)]
#[doc(hidden)]
pub use loom::model as loom_model;
pub use node::{Data, Hints, NodeInner, NodeRef, TaskBody, TaskFailure, Value};
pub use plan::{Plan, PlanOptions};
pub use remote::{
    codec, copy_bytes, decode, decode_arg, encode, output_value, registered, Codec, Registered,
    Registration, Remote, Shim, GATHER,
};
pub use run::Run;
