//! Rask's errors as Python exceptions.
//!
//! - [`TaskError`]: a task failed, or did not run because a dependency
//!   failed. Its message names the task (and the chain of dependencies up
//!   to the one that raised); `key`, `root_key` and `kind` say the same as
//!   attributes. Its `__cause__` is the original exception when the task
//!   ran in this process, or a [`RemoteTraceback`] carrying the formatted
//!   traceback from the worker that ran it, so Python prints both.
//! - [`CancelledError`]: a `TaskError` for a cancelled task.
//! - [`RaskError`]: everything else (a graph refused before it ran, a client
//!   shut down, an executor that could not start); the base of the others.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use rask::core::{Error, TaskErrorKind};

use crate::call::{kept_failure, TRACEBACK_MARK};

create_exception!(
    rask,
    RaskError,
    PyException,
    "An error from Rask: a graph refused, a client shut down, a task failed."
);
create_exception!(
    rask,
    TaskError,
    RaskError,
    "A task failed, or did not run because a dependency failed (`key`, `root_key`, `kind`)."
);
create_exception!(
    rask,
    CancelledError,
    TaskError,
    "A task was cancelled, or depended on one that was."
);
create_exception!(
    rask,
    RemoteTraceback,
    PyException,
    "The traceback of an exception raised in another process (the `__cause__` of a TaskError)."
);

fn kind_name(k: &TaskErrorKind) -> &'static str {
    match k {
        TaskErrorKind::Panicked => "panicked",
        TaskErrorKind::Failed => "failed",
        TaskErrorKind::TypeMismatch { .. } => "type_mismatch",
        TaskErrorKind::TimedOut { .. } => "timed_out",
        TaskErrorKind::Cancelled => "cancelled",
        TaskErrorKind::WorkerDied { .. } => "worker_died",
        TaskErrorKind::NotRegistered => "not_registered",
        TaskErrorKind::DependencyFailed { .. } => "dependency_failed",
        _ => "other",
    }
}

/// The Python exception for a Rask error; see the module docs.
pub(crate) fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let Error::Task(t) = e else {
        return RaskError::new_err(e.to_string());
    };
    let root = t.root();
    let text = t.to_string();
    let (summary, traceback) = match text.split_once(TRACEBACK_MARK) {
        Some((s, tb)) => (s.to_owned(), Some(tb.to_owned())),
        None => (text, None),
    };
    let cancelled =
        matches!(root.kind, TaskErrorKind::Cancelled) || matches!(t.kind, TaskErrorKind::Cancelled);
    let err = if cancelled {
        CancelledError::new_err(summary)
    } else {
        TaskError::new_err(summary)
    };
    let value = err.value(py);
    let _ = value.setattr("key", t.key.to_string());
    let _ = value.setattr("root_key", root.key.to_string());
    let _ = value.setattr("kind", kind_name(&root.kind));
    let cause = kept_failure(py, &root.key).or_else(|| traceback.map(RemoteTraceback::new_err));
    if let Some(c) = cause {
        err.set_cause(py, Some(c));
    }
    err
}

/// Converts Rask results for `?` in functions that hold the GIL.
pub(crate) trait IntoPy<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, Error> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, e))
    }
}

/// Adds the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("RaskError", py.get_type::<RaskError>())?;
    m.add("TaskError", py.get_type::<TaskError>())?;
    m.add("CancelledError", py.get_type::<CancelledError>())?;
    m.add("RemoteTraceback", py.get_type::<RemoteTraceback>())?;
    Ok(())
}
