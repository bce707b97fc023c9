//! [`Inputs`]: a task body's view of its dependencies' values.
//!
//! Bodies read their inputs in argument order with [`Inputs::take`]. Inside a
//! [`Run`] the values come from the run's slots (moved out to the last
//! consumer, see `run.rs`); for eager tasks they come from a list of values
//! that the dependencies' futures still hold, so they are cloned unless the
//! task holds the only reference.

use crate::node::{Data, TaskFailure, Value};
use crate::run::{unwrap_value, Run};
use crate::TaskId;

enum Source<'a> {
    Run { run: &'a Run, deps: &'a [TaskId] },
    Values(&'a mut [Option<Value>]),
}

/// A task's view of its dependencies' values, read in argument order.
pub struct Inputs<'a> {
    src: Source<'a>,
    next: usize,
}

impl std::fmt::Debug for Inputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inputs")
            .field("len", &self.len())
            .field("next", &self.next)
            .finish()
    }
}

impl<'a> Inputs<'a> {
    pub(crate) fn from_run(run: &'a Run, deps: &'a [TaskId]) -> Self {
        Inputs {
            src: Source::Run { run, deps },
            next: 0,
        }
    }

    /// Inputs read from a list of values (for executors of eager tasks).
    /// Each value is taken out of its slot when read.
    pub fn from_values(values: &'a mut [Option<Value>]) -> Self {
        Inputs {
            src: Source::Values(values),
            next: 0,
        }
    }

    /// How many inputs have been read.
    pub fn position(&self) -> usize {
        self.next
    }

    /// Number of inputs.
    pub fn len(&self) -> usize {
        match &self.src {
            Source::Run { deps, .. } => deps.len(),
            Source::Values(v) => v.len(),
        }
    }

    /// Whether the task has no inputs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many inputs are left to read.
    pub fn remaining(&self) -> usize {
        self.len() - self.next
    }

    /// The next input's value as shared, never cloned (a consumer that
    /// needs only part of it).
    pub fn take_shared<T: Data>(&mut self) -> Result<std::sync::Arc<T>, TaskFailure> {
        let position = self.next;
        let value = self.next_value()?;
        value
            .downcast::<T>()
            .map_err(|_| TaskFailure::TypeMismatch {
                position,
                expected: std::any::type_name::<T>(),
            })
    }

    fn next_value(&mut self) -> Result<Value, TaskFailure> {
        let position = self.next;
        if position >= self.len() {
            return Err(TaskFailure::Error(format!(
                "the task read input {} but has only {}",
                position + 1,
                self.len()
            )));
        }
        self.next += 1;
        match &mut self.src {
            Source::Run { run, deps } => run
                .consume(deps[position])
                .map_err(|e| TaskFailure::Error(e.to_string())),
            Source::Values(v) => v[position].take().ok_or_else(|| {
                TaskFailure::Error(format!("input {} was already taken", position + 1))
            }),
        }
    }

    /// The next input's value, moved out when this is its last consumer and
    /// cloned otherwise. A type that does not match is an error naming both.
    #[inline]
    pub fn take<T: Data>(&mut self) -> Result<T, TaskFailure> {
        let position = self.next;
        if position >= self.len() {
            return Err(TaskFailure::Error(format!(
                "the task read input {} but has only {}",
                position + 1,
                self.len()
            )));
        }
        self.next += 1;
        let value = match &mut self.src {
            Source::Run { run, deps } => run
                .consume(deps[position])
                .map_err(|e| TaskFailure::Error(e.to_string()))?,
            Source::Values(v) => v[position].take().ok_or_else(|| {
                TaskFailure::Error(format!("input {} was already taken", position + 1))
            })?,
        };
        unwrap_value(value).map_err(|_| TaskFailure::TypeMismatch {
            position,
            expected: std::any::type_name::<T>(),
        })
    }
}
