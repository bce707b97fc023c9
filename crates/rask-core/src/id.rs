//! Dense identifiers.
//!
//! Inside a lowered graph every task is a [`TaskId`]: an index into the plan's
//! arrays, assigned in a topological, memory-friendly order (see `plan.rs`).
//! Ids are only meaningful together with the plan that issued them; the user's
//! names for tasks are [`Key`](crate::Key)s.

use std::fmt;

/// The dense index of a task inside one lowered graph ([`Plan`](crate::Plan)).
///
/// Ids are assigned in priority order: a smaller id should run earlier. Every
/// dependency of a task has a smaller id than the task itself.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub u32);

impl TaskId {
    /// The id as an index into per-task arrays.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Identifies one execution of a graph (one `compute` call) in the event stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(pub u64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "run-{}", self.0)
    }
}

/// The index of the executor thread (or worker) that ran a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkerId(pub u32);

impl WorkerId {
    /// The client process itself (constants computed there, values fetched
    /// to it), on executors whose workers are other processes.
    pub const CLIENT: WorkerId = WorkerId(u32::MAX);
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker-{}", self.0)
    }
}
