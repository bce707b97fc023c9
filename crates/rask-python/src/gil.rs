//! Attaching Rask's threads to the interpreter.
//!
//! A task body that runs Python code attaches its thread to the interpreter
//! (takes the GIL) for the call and detaches right after, so that Rust
//! kernels and the other workers run meanwhile.
//!
//! Rules:
//! 1. A thread the interpreter did not create (a pool worker, a worker
//!    process's compute thread) gets one thread state, made on its first
//!    attach and kept for the life of the thread (`pin`): CPython would
//!    otherwise make and destroy a thread state on every attach, which
//!    costs more than a small task. A pinned thread's state is not freed when
//!    the thread ends (a few hundred bytes per pool thread, once).
//! 2. No thread attaches once the interpreter is shutting down
//!    ([`shutting_down`], set by an `atexit` hook of the package): CPython
//!    ends a thread that attaches during finalization in ways Rust cannot
//!    unwind through, so tasks fail with an error instead.
//!    Shutting down then waits for the calls already running ([`ACTIVE`])
//!    to return, as `concurrent.futures` waits for its running tasks:
//!    CPython ends a thread that re-takes the GIL during finalization (in
//!    `time.sleep`, say) by unwinding it, which aborts through Rust frames.
//! 3. Every wait on Rask (compute, result, gather, wait) detaches first
//!    (`Python::detach`), so that the workers can attach.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use pyo3::ffi;
use pyo3::prelude::*;

thread_local! {
    /// Whether this thread holds a thread state for good (rule 1).
    static PINNED: Cell<bool> = const { Cell::new(false) };
}

static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);
/// Threads inside [`attach`] now (rule 2).
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// Marks the interpreter as shutting down, then waits (detached) for the
/// calls already running to return (rule 2).
pub(crate) fn set_shutting_down(py: Python<'_>) {
    SHUTTING_DOWN.store(true, Ordering::SeqCst);
    py.detach(|| {
        while ACTIVE.load(Ordering::SeqCst) > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// Counts a thread in [`ACTIVE`] while it lives.
struct Active;

impl Active {
    fn enter() -> Active {
        ACTIVE.fetch_add(1, Ordering::SeqCst);
        Active
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether the interpreter is shutting down (rule 2).
pub(crate) fn shutting_down() -> bool {
    SHUTTING_DOWN.load(Ordering::Relaxed)
}

/// Gives this thread a thread state of its own for good, if it has none
/// (rule 1). A thread with no thread state cannot be attached, so this
/// never runs on an attached thread.
fn pin() {
    if PINNED.with(Cell::get) {
        return;
    }
    PINNED.with(|p| p.set(true));
    // SAFETY: the interpreter is initialized (this code runs inside the
    // extension module it loaded, and not during finalization: rule 2).
    // `PyGILState_GetThisThreadState` only reads the thread's state.
    let has_state = unsafe { !ffi::PyGILState_GetThisThreadState().is_null() };
    if has_state {
        // A thread the interpreter knows (the main thread, a `threading`
        // thread) keeps its own state.
        return;
    }
    // SAFETY: a thread with no thread state is not attached, so
    // `PyGILState_Ensure` makes its thread state and attaches; the matching
    // release is never called, which keeps the state (rule 1).
    // `PyEval_SaveThread` then detaches, keeping the state current for the
    // next `PyGILState_Ensure` (which pyo3's `attach` calls).
    unsafe {
        let _ = ffi::PyGILState_Ensure();
        let _ = ffi::PyEval_SaveThread();
    }
}

/// Runs `f` attached to the interpreter; `None` if it is shutting down.
#[inline]
pub(crate) fn attach<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    let _active = Active::enter();
    if shutting_down() {
        return None;
    }
    pin();
    Some(Python::attach(f))
}

/// The error of a task that would have attached during shutdown (rule 2).
pub(crate) const SHUTTING_DOWN_MESSAGE: &str =
    "the Python interpreter is shutting down: no more Python tasks run";
