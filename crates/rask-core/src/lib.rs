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

#![warn(missing_docs)]

mod args;
mod cache;
mod catch;
pub mod clock;
mod compute;
mod context;
mod delayed;
mod depth;
mod error;
mod event;
mod external;
pub mod format;
mod graph;
mod huge;
mod id;
mod inputs;
mod key;
mod loom;
#[cfg(all(test, rask_loom))]
mod loom_tests;
mod lower;
mod node;
mod options;
mod plan;
mod recycle;
mod remote;
mod run;
mod unique;

pub use args::{Arg, Args, Fetch, Many, One, TaskFn};
pub use cache::{estimate_nbytes, CacheStats, NBytes, ResultCache, SizeOf};
pub use catch::{call_body, catch_panic, failure_error, CatchUnwind};
pub use clock::Stamp;
pub use compute::{
    compute, new_run, plan_outputs, run_plan, Executor, OutputReader, Outputs, Submit, SyncExecutor,
};
pub use context::{set_thread_context, task_context, with_task_context, TaskContext};
pub use delayed::{
    delayed, external, literal, registered_call, registered_try_call, task, try_delayed, value,
    Delayed, IntoInput, TaskBuilder,
};
pub use error::{Error, GraphError, Result, TaskError, TaskErrorKind};
pub use event::{Event, EventSink, Subscriber};
pub use external::{External, ExternalValue, Persisted};
pub use graph::Graph;
pub use huge::{advise_huge, big_vec, zeroed_bytes, HUGE_MIN};
pub use id::{RunId, TaskId, WorkerId};
pub use inputs::Inputs;
#[doc(hidden)]
pub use inventory;
pub use key::{Key, KeyIndex, KeyPart, Name};
#[cfg(rask_loom)]
#[doc(hidden)]
pub use loom::model as loom_model;
pub use node::{Data, NodeInner, NodeRef, TaskBody, TaskFailure, Value};
pub use options::{RetryIf, RetryOn, TaskOptions};
pub use plan::{Plan, PlanOptions};
pub use recycle::{recycle_cap, recycled_bytes, recycling, set_recycle_cap, Recycle, RECYCLE_MIN};
pub use remote::{
    codec, codec_for, codec_of, codec_of_type, copy_bytes, decode, decode_arg, encode,
    identity_registration, output_value, registered, vec_codec, AsyncShim, Codec, Registered,
    Registration, Remote, Shim, Splitter, TaskFuture, TypeCodec, GATHER, IDENTITY,
};
pub use run::Run;

/// What `#[rask::task]` expands to refers to these (through
/// `rask::__private`, or `rask_core::__private` for crates that register
/// functions without a client: `#[rask::task(crate = rask_core)]`, which has
/// no `async fn`s); not an API.
#[doc(hidden)]
pub mod __private {
    pub use crate::inventory;
    pub use crate::{
        codec, decode_arg, output_value, registered_call, registered_try_call, vec_codec, Codec,
        Delayed, IntoInput, Registered, Registration, Submit, TaskFailure, TaskFuture, TypeCodec,
        Value,
    };
}
