//! `rask.Future`: a task started now, on any client.
//!
//! A future wraps a Rask future of a [`PyValue`]. Waiting (`result`,
//! `exception`, the client's `gather` and `wait`) detaches from the
//! interpreter and wakes every 100 ms to let Python handle signals, so
//! Ctrl-C interrupts a wait. `await future` works in asyncio code: a
//! completion callback (run on whichever thread completes the task, see
//! [`on_done`]) hands the outcome to the event loop with
//! `call_soon_threadsafe`; nothing blocks the loop.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyTimeoutError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use rask::FutureState;

use crate::errors::IntoPy;
use crate::gil;
use crate::value::PyValue;

/// How long a wait sleeps between looks at Python's signal handlers.
pub(crate) const SIGNAL_SLICE: Duration = Duration::from_millis(100);

/// A task started on a client; see the module docs.
#[pyclass(module = "rask", name = "Future", frozen, weakref)]
pub(crate) struct PyFuture {
    pub(crate) inner: rask::Future<PyValue>,
    /// The task's key when the Rask future is a graph's (`compute#N`).
    key: Option<rask::core::Key>,
}

impl PyFuture {
    pub(crate) fn new(inner: rask::Future<PyValue>) -> Self {
        PyFuture { inner, key: None }
    }

    /// A future of a one-task graph, shown with that task's key.
    pub(crate) fn keyed(inner: rask::Future<PyValue>, key: rask::core::Key) -> Self {
        PyFuture {
            inner,
            key: Some(key),
        }
    }

    fn shown_key(&self) -> &rask::core::Key {
        self.key.as_ref().unwrap_or_else(|| self.inner.key())
    }
}

/// Waits until `done()` or `deadline`, detached, checking signals between
/// slices; `Ok(false)` on timeout.
pub(crate) fn wait_until(
    py: Python<'_>,
    deadline: Option<Instant>,
    mut step: impl FnMut(Duration) -> rask::Result<bool> + Send,
) -> PyResult<bool> {
    loop {
        let slice = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(false);
                }
                left.min(SIGNAL_SLICE)
            }
            None => SIGNAL_SLICE,
        };
        if py.detach(|| step(slice)).py_err(py)? {
            return Ok(true);
        }
        py.check_signals()?;
    }
}

/// `timeout` in seconds (None: no limit) as a deadline.
pub(crate) fn deadline(timeout: Option<f64>) -> PyResult<Option<Instant>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_finite() && t >= 0.0 => {
            Ok(Some(Instant::now() + Duration::from_secs_f64(t)))
        }
        Some(t) => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "rask: a timeout is a number of seconds >= 0, not {t}"
        ))),
    }
}

/// Waits for `f`, detached; a timeout error if `deadline` passes.
pub(crate) fn wait_one(
    py: Python<'_>,
    f: &rask::Future<PyValue>,
    deadline: Option<Instant>,
) -> PyResult<()> {
    if f.is_done() {
        return Ok(());
    }
    if wait_until(py, deadline, |slice| f.wait_timeout(slice))? {
        Ok(())
    } else {
        Err(PyTimeoutError::new_err(format!(
            "rask: task `{}` did not finish in time",
            f.key()
        )))
    }
}

/// The value of a completed future, or its error as an exception.
pub(crate) fn value_of<'py>(
    py: Python<'py>,
    f: &rask::Future<PyValue>,
) -> PyResult<Bound<'py, PyAny>> {
    let v = f.result().py_err(py)?;
    v.to_object(py)
}

fn state_name(s: FutureState) -> &'static str {
    match s {
        FutureState::Pending | FutureState::Queued => "pending",
        FutureState::Running => "running",
        FutureState::Finished => "finished",
        FutureState::Erred => "error",
        FutureState::Cancelled => "cancelled",
    }
}

#[pymethods]
impl PyFuture {
    /// The task's key.
    #[getter]
    fn key(&self) -> String {
        self.shown_key().to_string()
    }

    /// `pending`, `running`, `finished`, `error` or `cancelled`.
    #[getter]
    fn status(&self) -> &'static str {
        state_name(self.inner.state())
    }

    /// Whether the task finished, failed or was cancelled.
    fn done(&self) -> bool {
        self.inner.is_done()
    }

    /// Whether the task was cancelled.
    fn cancelled(&self) -> bool {
        self.inner.state() == FutureState::Cancelled
    }

    /// Cancels the task and what depends on it; whether it was still running.
    fn cancel(&self) -> bool {
        self.inner.cancel()
    }

    /// Waits for the value (raises the task's error; `TimeoutError` after
    /// `timeout` seconds).
    #[pyo3(signature = (timeout = None))]
    fn result<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        wait_one(py, &self.inner, deadline(timeout)?)?;
        value_of(py, &self.inner)
    }

    /// Waits, then returns the task's exception, or None if it succeeded.
    #[pyo3(signature = (timeout = None))]
    fn exception(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Py<PyAny>>> {
        wait_one(py, &self.inner, deadline(timeout)?)?;
        Ok(self
            .inner
            .error()
            .map(|e| crate::errors::to_py(py, e).into_value(py).into_any()))
    }

    /// Calls `fn(future)` once the task completes (at once if it has), on
    /// the thread that completes it. An exception in `fn` is printed and
    /// ignored, as `concurrent.futures` does.
    fn add_done_callback(slf: &Bound<'_, Self>, callback: Py<PyAny>) {
        let me = slf.clone().unbind();
        on_done(&slf.get().inner, move || {
            gil::attach(|py| {
                if let Err(e) = callback.call1(py, (me,)) {
                    e.write_unraisable(py, Some(callback.bind(py)));
                }
            });
        });
    }

    /// `await future` in asyncio code: the value, or the task's error.
    fn __await__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let asyncio = py.import(intern!(py, "asyncio"))?;
        let event_loop = asyncio.call_method0(intern!(py, "get_running_loop"))?;
        let waiter = event_loop.call_method0(intern!(py, "create_future"))?;
        let settle = py
            .import(intern!(py, "rask._asyncio"))?
            .getattr(intern!(py, "settle"))?
            .unbind();
        let (lp, w, me) = (
            event_loop.unbind(),
            waiter.clone().unbind(),
            slf.clone().unbind(),
        );
        on_done(&slf.get().inner, move || {
            gil::attach(|py| {
                let args = PyTuple::new(
                    py,
                    [
                        settle.bind(py).clone(),
                        w.bind(py).clone(),
                        me.bind(py).clone().into_any(),
                    ],
                );
                let r = args.and_then(|a| {
                    lp.bind(py)
                        .call_method1(intern!(py, "call_soon_threadsafe"), a)
                });
                if let Err(e) = r {
                    // The loop is closed: nobody awaits any more.
                    e.write_unraisable(py, Some(lp.bind(py)));
                }
            });
        });
        waiter.call_method0(intern!(py, "__await__"))
    }

    fn __repr__(&self) -> String {
        format!(
            "<rask.Future: {}, key: {}>",
            state_name(self.inner.state()),
            self.shown_key()
        )
    }
}

/// Runs `f` once the future completes: at once if it has, else on the
/// thread that completes it (through the future's waker; the callback
/// runs after the task's lock is released, rask-client's rule 1).
pub(crate) fn on_done(fut: &rask::Future<PyValue>, f: impl FnOnce() + Send + 'static) {
    let cb = Arc::new(Callback(Mutex::new(Some(Box::new(f)))));
    let waker = Waker::from(cb.clone());
    let mut cx = Context::from_waker(&waker);
    let mut probe = fut.clone();
    if Pin::new(&mut probe).poll(&mut cx).is_ready() {
        cb.fire();
    }
}

type Boxed = Box<dyn FnOnce() + Send>;

struct Callback(Mutex<Option<Boxed>>);

impl Callback {
    fn fire(&self) {
        let f = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(f) = f {
            f();
        }
    }
}

impl Wake for Callback {
    fn wake(self: Arc<Self>) {
        self.fire();
    }
}
