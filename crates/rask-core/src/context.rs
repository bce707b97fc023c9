//! Where the running task runs: [`task_context`] (Dask's `get_worker()`).
//!
//! The workers of processes and clusters set it around each task body: the
//! worker's name, the compute thread, and the attempt (1 for the first run;
//! more after retries or deaths). In-process executors give each of their
//! threads a context once (`sync`, or `threads` and the thread's number)
//! and set the attempt around a retried body. Outside a task it is `None`.

use std::cell::RefCell;
use std::sync::Arc;

/// What a running task can know about where it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskContext {
    /// The worker's name (`local-0`, `host:pid`, or the name it was given).
    pub worker: Arc<str>,
    /// The compute thread within the worker.
    pub thread: u32,
    /// Which attempt of the task this is (1 for the first).
    pub attempt: u32,
}

thread_local! {
    static CURRENT: RefCell<Option<TaskContext>> = const { RefCell::new(None) };
    /// The context of every task this thread runs, unless `CURRENT` says
    /// otherwise (an executor's thread).
    static BASE: RefCell<Option<TaskContext>> = const { RefCell::new(None) };
}

/// The context of the task running on this thread, if any.
pub fn task_context() -> Option<TaskContext> {
    CURRENT
        .with(|c| c.borrow().clone())
        .or_else(|| BASE.with(|b| b.borrow().clone()))
}

/// Gives every task this thread runs the context `ctx` (for executors, at
/// a thread's start); returns the one it had.
pub fn set_thread_context(ctx: Option<TaskContext>) -> Option<TaskContext> {
    BASE.with(|b| b.replace(ctx))
}

/// Runs `f` as attempt `attempt` of a task, in this thread's context.
pub(crate) fn with_attempt<R>(attempt: u32, f: impl FnOnce() -> R) -> R {
    match task_context() {
        Some(mut ctx) if ctx.attempt != attempt => {
            ctx.attempt = attempt;
            with_task_context(ctx, f)
        }
        _ => f(),
    }
}

/// Runs `f` with `ctx` as the current task's context (for executors).
pub fn with_task_context<R>(ctx: TaskContext, f: impl FnOnce() -> R) -> R {
    struct Reset(Option<TaskContext>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let prev = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = prev);
        }
    }
    let prev = CURRENT.with(|c| c.replace(Some(ctx)));
    let _reset = Reset(prev);
    f()
}
