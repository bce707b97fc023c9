//! Turning a task's panic or error into data: [`call_body`].
//!
//! A process-wide panic hook is installed once (chaining the previous hook).
//! While a thread runs a task body (`IN_TASK` is set), the hook records the
//! location and a backtrace in thread-local storage instead of printing;
//! [`catch_task`] then builds the message from the payload. Panics outside
//! task bodies go to the previous hook unchanged.

use std::any::Any;
use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Once};

use crate::node::{TaskFailure, Value};
use crate::{Key, TaskError, TaskErrorKind};

thread_local! {
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
    static CAPTURED: RefCell<Option<(String, Arc<Backtrace>)>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Installs the hook (idempotent, cheap after the first call).
pub(crate) fn install_hook() {
    HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_TASK.with(Cell::get) {
                let loc = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                let bt = Arc::new(Backtrace::force_capture());
                CAPTURED.with(|c| *c.borrow_mut() = Some((loc.unwrap_or_default(), bt)));
            } else {
                prev(info);
            }
        }));
    });
}

/// A caught panic: its message (with the location) and backtrace.
struct Caught {
    pub(crate) message: String,
    pub(crate) backtrace: Option<Arc<Backtrace>>,
}

/// Runs `f` as a task body, catching a panic.
#[inline]
fn catch_task<R>(f: impl FnOnce() -> R) -> Result<R, Caught> {
    let was = IN_TASK.with(|c| c.replace(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    IN_TASK.with(|c| c.set(was));
    r.map_err(|payload| {
        let (loc, bt) = CAPTURED
            .with(|c| c.borrow_mut().take())
            .map_or((String::new(), None), |(l, b)| (l, Some(b)));
        let mut message = payload_message(&*payload);
        if !loc.is_empty() {
            message.push_str(" (at ");
            message.push_str(&loc);
            message.push(')');
        }
        // The payload may itself panic on drop; never let that escape.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
        Caught {
            message,
            backtrace: bt,
        }
    })
}

fn payload_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// Runs a task body for the task `key` (attempt `attempt`), turning a panic or
/// a returned failure into a [`TaskError`]. `dep_key(p)` names the dependency
/// at argument position `p` (for type mismatches). Every executor runs task
/// bodies through this function, so errors read the same everywhere.
#[inline]
#[allow(clippy::result_large_err)] // the error is the rare path; boxing it costs every caller
pub fn call_body(
    key: &Key,
    attempt: u32,
    dep_key: impl FnOnce(usize) -> Key,
    f: impl FnOnce() -> Result<Value, TaskFailure>,
) -> Result<Value, TaskError> {
    match catch_panic(key, attempt, f) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(failure)) => Err(failure_error(key, attempt, failure, dep_key)),
        Err(e) => Err(e),
    }
}

/// Runs part of a task body (for example one `poll` of an async task),
/// turning a panic into a [`TaskError`] of kind `Panicked`.
#[inline]
#[allow(clippy::result_large_err)] // as `call_body`
pub fn catch_panic<R>(key: &Key, attempt: u32, f: impl FnOnce() -> R) -> Result<R, TaskError> {
    install_hook();
    catch_task(f).map_err(|c| TaskError {
        key: key.clone(),
        kind: TaskErrorKind::Panicked,
        message: c.message,
        backtrace: c.backtrace,
        attempt,
        cause: None,
    })
}

/// The [`TaskError`] for a body's returned failure.
pub fn failure_error(
    key: &Key,
    attempt: u32,
    failure: TaskFailure,
    dep_key: impl FnOnce(usize) -> Key,
) -> TaskError {
    let (kind, message) = match failure {
        TaskFailure::Error(m) => (TaskErrorKind::Failed, m),
        TaskFailure::TypeMismatch { position, expected } => (
            TaskErrorKind::TypeMismatch {
                dependency: dep_key(position),
                expected,
            },
            "the value has another type".to_owned(),
        ),
    };
    TaskError {
        key: key.clone(),
        kind,
        message,
        backtrace: None,
        attempt,
        cause: None,
    }
}

/// A boxed future polled as a task body: a panic in `poll` is caught (and
/// not printed) and becomes the task's `Panicked` error.
pub struct CatchUnwind<T> {
    inner: std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>,
    key: Key,
    attempt: u32,
}

impl<T> std::fmt::Debug for CatchUnwind<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CatchUnwind({})", self.key)
    }
}

impl<T> CatchUnwind<T> {
    /// Wraps `inner`, the body of attempt `attempt` of task `key`.
    pub fn new(
        inner: std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>,
        key: Key,
        attempt: u32,
    ) -> Self {
        CatchUnwind {
            inner,
            key,
            attempt,
        }
    }
}

impl<T> std::future::Future for CatchUnwind<T> {
    type Output = Result<T, TaskError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let (key, attempt) = (self.key.clone(), self.attempt);
        match catch_panic(&key, attempt, || self.inner.as_mut().poll(cx)) {
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(e) => std::task::Poll::Ready(Err(e)),
        }
    }
}
