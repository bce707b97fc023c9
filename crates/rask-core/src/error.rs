//! Typed errors.
//!
//! Failures are data: a task that panics or returns an error becomes a
//! [`TaskError`] naming its key; a task whose dependency failed does not run
//! and gets a [`TaskError`] of kind [`TaskErrorKind::DependencyFailed`] that
//! names the dependency and carries the root cause. A graph that cannot run is
//! refused before anything runs with a [`GraphError`] naming the keys involved.

use std::fmt;
use std::sync::Arc;

use crate::Key;

/// What went wrong in a task.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskErrorKind {
    /// The task's function panicked.
    Panicked,
    /// The task's function returned an error.
    Failed,
    /// A dependency's value was not of the type the task expected (only possible
    /// with the untyped [`Graph`](crate::Graph) API).
    TypeMismatch {
        /// The dependency whose value had the wrong type.
        dependency: Key,
        /// The type the task asked for.
        expected: &'static str,
    },
    /// The task ran longer than its timeout (eager tasks).
    TimedOut {
        /// The timeout.
        after: std::time::Duration,
    },
    /// The task was cancelled, or did not run because a dependency was
    /// (then `cause` is the cancelled dependency).
    Cancelled,
    /// The worker process running the task died, on the last attempt allowed.
    WorkerDied {
        /// The worker's number in its pool.
        worker: u32,
        /// How it died (`was killed by signal 9 (SIGKILL)`, `exited with status 3`).
        how: String,
    },
    /// The task cannot run in a worker process: it is a closure or a function
    /// not registered with `#[rask::task]`.
    NotRegistered,
    /// The executor cannot do what the task asks (an option that does not
    /// cross processes, such as a `retry_if` closure on a cluster); the
    /// message says what and what to use instead.
    NotSupported,
    /// No worker could run the task for longer than the scheduler's
    /// no-workers timeout (none alive, or none with what it asks for).
    NoWorkers,
    /// The task did not run because a dependency failed.
    DependencyFailed {
        /// The (direct) dependency that failed; the first failed one in argument order.
        dependency: Key,
    },
}

/// A failed task: its key, what happened, the message and where.
///
/// For [`TaskErrorKind::DependencyFailed`], [`TaskError::cause`] is the root
/// failure that started the chain.
#[derive(Clone, Debug)]
pub struct TaskError {
    /// The task that failed or did not run.
    pub key: Key,
    /// What happened.
    pub kind: TaskErrorKind,
    /// The panic message or the error's text (with its `source()` chain).
    pub message: String,
    /// The backtrace captured at the panic, where one was captured.
    pub backtrace: Option<Arc<std::backtrace::Backtrace>>,
    /// Which attempt this was (1 for the first).
    pub attempt: u32,
    /// The root cause, for tasks that did not run because a dependency failed.
    pub cause: Option<Arc<TaskError>>,
}

impl TaskError {
    /// The error that started the chain: `self` unless a dependency failed.
    pub fn root(&self) -> &TaskError {
        match &self.cause {
            Some(c) => c.root(),
            None => self,
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TaskErrorKind::Panicked => write!(
                f,
                "task `{}` panicked{}: {}",
                self.key,
                OnAttempt(self.attempt),
                self.message
            ),
            TaskErrorKind::Failed => write!(
                f,
                "task `{}` failed{}: {}",
                self.key,
                OnAttempt(self.attempt),
                self.message
            ),
            TaskErrorKind::TypeMismatch {
                dependency,
                expected,
            } => write!(
                f,
                "task `{}` expected its dependency `{}` to be a `{}`{}: {}",
                self.key,
                dependency,
                expected,
                OnAttempt(self.attempt),
                self.message
            ),
            TaskErrorKind::TimedOut { after } => {
                write!(
                    f,
                    "task `{}` timed out after {:?} (attempt {})",
                    self.key, after, self.attempt
                )
            }
            TaskErrorKind::Cancelled => match &self.cause {
                Some(c) => write!(
                    f,
                    "task `{}` was cancelled because its dependency `{}` was",
                    self.key, c.key
                ),
                None => write!(f, "task `{}` was cancelled", self.key),
            },
            TaskErrorKind::WorkerDied { worker, how } => write!(
                f,
                "task `{}` was running on worker {} when it {} (attempt {}, the last allowed)",
                self.key, worker, how, self.attempt
            ),
            TaskErrorKind::NotRegistered => write!(
                f,
                "task `{}` cannot run in a worker process: {}",
                self.key, self.message
            ),
            TaskErrorKind::NotSupported => {
                write!(f, "task `{}` cannot run here: {}", self.key, self.message)
            }
            TaskErrorKind::NoWorkers => write!(
                f,
                "task `{}` found no worker to run it: {}",
                self.key, self.message
            ),
            TaskErrorKind::DependencyFailed { dependency } => {
                write!(
                    f,
                    "task `{}` did not run because its dependency `{}` failed",
                    self.key, dependency
                )?;
                if let Some(c) = &self.cause {
                    write!(f, ": {c}")?;
                }
                Ok(())
            }
        }
    }
}

/// ` on attempt N` for a task that ran more than once (a retried task's
/// error says which attempt failed); nothing for a first attempt.
struct OnAttempt(u32);

impl fmt::Display for OnAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 > 1 {
            write!(f, " on attempt {}", self.0)?;
        }
        Ok(())
    }
}

impl std::error::Error for TaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

/// A graph that cannot run, refused before any task runs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// The dependencies form a cycle; the keys are listed in dependency order,
    /// each depending on the next, and the last on the first.
    #[error("the graph has a cycle: {}", display_cycle(.keys))]
    Cycle {
        /// The tasks on the cycle.
        keys: Vec<Key>,
    },
    /// A task depends on a key that is not in the graph.
    #[error("task `{task}` depends on `{dependency}`, which is not in the graph")]
    MissingDependency {
        /// The task that names the dependency.
        task: Key,
        /// The key that is not in the graph.
        dependency: Key,
    },
    /// Two tasks have the same key.
    #[error("two tasks have the key `{key}`")]
    DuplicateKey {
        /// The duplicated key.
        key: Key,
    },
    /// An output was asked for that is not in the graph.
    #[error("the output `{key}` is not in the graph")]
    UnknownOutput {
        /// The key asked for.
        key: Key,
    },
    /// The graph has more tasks than a plan can index.
    #[error("the graph has {tasks} tasks, more than the {max} a plan can hold")]
    TooLarge {
        /// How many tasks.
        tasks: usize,
        /// The limit.
        max: usize,
    },
}

fn display_cycle(keys: &[Key]) -> String {
    let mut s: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    if let Some(first) = keys.first() {
        s.push(format!("`{first}`"));
    }
    s.join(" -> ")
}

/// Every error a computation can return.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The graph was refused before anything ran.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A requested task failed or did not run.
    #[error(transparent)]
    Task(Arc<TaskError>),
    /// An output's value was not of the type asked for (keyed graphs only).
    #[error("the output `{key}` is not a `{expected}`")]
    OutputType {
        /// The output.
        key: Key,
        /// The type asked for.
        expected: &'static str,
    },
    /// The client was shut down before the result was ready.
    #[error("the client was shut down before `{key}` finished")]
    ClientShutdown {
        /// The task whose result was asked for.
        key: Key,
    },
    /// An argument was out of range (a zero timeout, for example).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A blocking call was made where it would block an async runtime thread.
    #[error("{0}")]
    WouldBlock(String),
    /// The executor could not run the graph.
    #[error("executor error: {0}")]
    Executor(String),
}

impl Error {
    /// The task error, if this is one.
    pub fn as_task(&self) -> Option<&TaskError> {
        match self {
            Error::Task(t) => Some(t),
            _ => None,
        }
    }
}

/// `Result<T, rask::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
