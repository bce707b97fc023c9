//! Values from outside a graph: a future used as a task ([`External`]).
//!
//! `Future::as_delayed` makes a node whose value is a future's. In-process
//! executors run it (it waits for the future). Executors that run tasks
//! elsewhere do not: they ask [`External::persisted`] whether the value is
//! already on their workers (a persisted output of the same cluster
//! connection, used where it lives), and otherwise take the value here and
//! send it like a constant.

use std::sync::Arc;

use crate::node::Value;
use crate::TaskError;

/// Where a persisted value lives: task `task` of graph `graph` of the
/// cluster connection `owner` (a process-wide number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Persisted {
    /// The connection that holds it.
    pub owner: u64,
    /// Its graph on that connection.
    pub graph: u64,
    /// The task within the graph.
    pub task: u32,
}

/// A value that comes from outside the graph (a future).
pub trait External: Send + Sync {
    /// Waits for the value and returns it (here, in this process).
    fn value(&self) -> Result<Value, Arc<TaskError>>;
    /// Waits for the value to exist, without moving it here.
    fn wait(&self) -> Result<(), Arc<TaskError>>;
    /// Where it lives if it stays on a cluster's workers.
    fn persisted(&self) -> Option<Persisted>;
}

/// A task's value that lives elsewhere (a persisted output): what a future
/// of such a task holds until its value is asked for.
#[derive(Clone)]
pub struct ExternalValue(pub Arc<dyn External>);

impl std::fmt::Debug for ExternalValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ExternalValue")
            .field(&self.0.persisted())
            .finish()
    }
}
