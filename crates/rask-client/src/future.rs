//! [`Future<T>`]: a handle to an eager task's result.
//!
//! A future can be waited on (`result()`), awaited (`.await`), passed as an
//! argument to another task (it becomes a dependency), cancelled, and turned
//! into a `Delayed` for later graphs. Its result lives as long as some handle
//! or some pending dependent holds it: dropping the last handle frees it.

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rask_core::{Data, Delayed, Error, Key, Result, Value};

use crate::cell::{Cell, Waiter, CANCELLED, ERRED, FINISHED, PENDING, QUEUED, RUNNING};
use crate::runtime::on_runtime_thread;

/// Where a future stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FutureState {
    /// Waiting for its dependencies.
    Pending,
    /// Ready and queued for a worker.
    Queued,
    /// Running (or, for a graph, being computed).
    Running,
    /// Finished with a value.
    Finished,
    /// Failed, or did not run because a dependency failed.
    Erred,
    /// Cancelled, or a dependency was.
    Cancelled,
}

impl FutureState {
    fn from_raw(s: u8) -> Self {
        match s {
            PENDING => FutureState::Pending,
            QUEUED => FutureState::Queued,
            RUNNING => FutureState::Running,
            FINISHED => FutureState::Finished,
            ERRED => FutureState::Erred,
            CANCELLED => FutureState::Cancelled,
            _ => FutureState::Erred,
        }
    }

    /// Whether the state is final.
    pub fn is_done(self) -> bool {
        matches!(
            self,
            FutureState::Finished | FutureState::Erred | FutureState::Cancelled
        )
    }
}

/// A handle to the result of a submitted task, of type `T`.
pub struct Future<T> {
    pub(crate) cell: Arc<Cell>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future::from_cell(self.cell.clone())
    }
}

impl<T> Drop for Future<T> {
    fn drop(&mut self) {
        self.cell.drop_user();
    }
}

impl<T> std::fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Future({}, {:?})",
            self.cell.key,
            FutureState::from_raw(self.cell.state())
        )
    }
}

impl<T> Future<T> {
    pub(crate) fn from_cell(cell: Arc<Cell>) -> Self {
        cell.add_user();
        Future {
            cell,
            _t: PhantomData,
        }
    }

    /// The task's key.
    pub fn key(&self) -> &Key {
        &self.cell.key
    }

    /// Where the task stands.
    pub fn state(&self) -> FutureState {
        FutureState::from_raw(self.cell.state())
    }

    /// Whether the task finished, failed or was cancelled.
    pub fn is_done(&self) -> bool {
        self.cell.is_done()
    }

    /// Cancels the task and, transitively, every task that depends on it.
    /// Returns `false` if it had already completed.
    pub fn cancel(&self) -> bool {
        self.cell.cancel()
    }

    /// The error, if the task failed or was cancelled.
    pub fn error(&self) -> Option<Error> {
        self.cell.result().and_then(Result::err)
    }

    /// Waits up to `timeout` for the task to complete; returns whether it has.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        if timeout.is_zero() {
            return Err(Error::InvalidArgument(
                "a wait timeout must be longer than zero".into(),
            ));
        }
        let cell = &self.cell;
        block_until(
            std::slice::from_ref(cell),
            1,
            Some(Instant::now() + timeout),
        )?;
        Ok(cell.is_done())
    }

    /// The same future without its type, e.g. to mix types in one list.
    pub fn erase(&self) -> AnyFuture {
        // A handle like any other: it counts as a user of the value.
        AnyFuture::from_cell(self.cell.clone())
    }
}

impl<T: Data> Future<T> {
    /// Waits for the value. On one of the client's pool threads the wait runs
    /// other tasks instead of blocking; on a thread of the client's async
    /// runtime it is refused (use `.await` there).
    pub fn result(&self) -> Result<T> {
        let cell = &self.cell;
        block_until(std::slice::from_ref(cell), 1, None)?;
        take_value(cell)
    }

    /// A delayed value backed by this future, for use in later graphs on
    /// any executor: a persisted output is used where it lives (on the
    /// same cluster connection), anything else is sent as a constant.
    pub fn as_delayed(&self) -> Delayed<T> {
        rask_core::external(self.key().clone(), Arc::new(FutureSource(self.erase())))
    }

    /// Like [`Future::as_delayed`], but with a fresh anonymous key, so that
    /// one graph can use the future and a task with the same key.
    pub fn as_anonymous_delayed(&self) -> Delayed<T> {
        rask_core::external(
            rask_core::Key::anonymous("future"),
            Arc::new(FutureSource(self.erase())),
        )
    }
}

/// A future as a graph's input (see [`Future::as_delayed`]).
struct FutureSource(AnyFuture);

impl rask_core::External for FutureSource {
    fn value(&self) -> std::result::Result<Value, Arc<rask_core::TaskError>> {
        let cell = &self.0.cell;
        block_until(std::slice::from_ref(cell), 1, None).map_err(|e| task_error(cell, e))?;
        raw_value(cell).map_err(|e| task_error(cell, e))
    }

    fn wait(&self) -> std::result::Result<(), Arc<rask_core::TaskError>> {
        let cell = &self.0.cell;
        block_until(std::slice::from_ref(cell), 1, None).map_err(|e| task_error(cell, e))?;
        match cell.result() {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(task_error(cell, e)),
            None => Err(task_error(
                cell,
                Error::ClientShutdown {
                    key: cell.key.clone(),
                },
            )),
        }
    }

    fn persisted(&self) -> Option<rask_core::Persisted> {
        self.0.cell.persisted()
    }
}

/// An error as the failure of the future's task.
fn task_error(cell: &Cell, e: Error) -> Arc<rask_core::TaskError> {
    match e {
        Error::Task(t) => t,
        other => Arc::new(rask_core::TaskError {
            key: cell.key.clone(),
            kind: rask_core::TaskErrorKind::Failed,
            message: other.to_string(),
            backtrace: None,
            attempt: 1,
            cause: None,
        }),
    }
}

/// The cell's value, fetched here if it lives elsewhere (a persisted output).
fn raw_value(cell: &Cell) -> Result<Value> {
    match cell.result() {
        Some(Ok(v)) => match v.downcast_ref::<rask_core::ExternalValue>() {
            Some(ext) => ext.0.value().map_err(Error::Task),
            None => Ok(v),
        },
        Some(Err(e)) => Err(e),
        None => Err(Error::ClientShutdown {
            key: cell.key.clone(),
        }),
    }
}

fn take_value<T: Data>(cell: &Cell) -> Result<T> {
    downcast(&cell.key, raw_value(cell)?)
}

fn downcast<T: Data>(key: &Key, v: Value) -> Result<T> {
    match v.downcast::<T>() {
        Ok(arc) => Ok(Arc::try_unwrap(arc).unwrap_or_else(|a| (*a).clone())),
        Err(_) => Err(Error::OutputType {
            key: key.clone(),
            expected: std::any::type_name::<T>(),
        }),
    }
}

impl<T: Data> std::future::Future for Future<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let cell = &self.cell;
        if cell.is_done() || !cell.add_waiter(Waiter::Waker(cx.waker().clone())) {
            return Poll::Ready(take_value(cell));
        }
        Poll::Pending
    }
}

/// A future whose value type is known only at run time.
pub struct AnyFuture {
    cell: Arc<Cell>,
}

impl AnyFuture {
    fn from_cell(cell: Arc<Cell>) -> Self {
        cell.add_user();
        AnyFuture { cell }
    }
}

impl Clone for AnyFuture {
    fn clone(&self) -> Self {
        AnyFuture::from_cell(self.cell.clone())
    }
}

impl Drop for AnyFuture {
    fn drop(&mut self) {
        self.cell.drop_user();
    }
}

impl std::fmt::Debug for AnyFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AnyFuture({})", self.cell.key)
    }
}

impl AnyFuture {
    /// The task's key.
    pub fn key(&self) -> &Key {
        &self.cell.key
    }

    /// Where the task stands.
    pub fn state(&self) -> FutureState {
        FutureState::from_raw(self.cell.state())
    }

    /// Waits for the value as a `T`; another type is an error naming both.
    pub fn result<T: Data>(&self) -> Result<T> {
        let cell = &self.cell;
        block_until(std::slice::from_ref(cell), 1, None)?;
        take_value(cell)
    }

    /// A typed handle (the type is checked when the value is read).
    pub fn typed<T>(&self) -> Future<T> {
        Future::from_cell(self.cell.clone())
    }
}

/// Counts completions down for one blocked waiter; wakes it at zero.
pub(crate) struct Latch {
    remaining: AtomicIsize,
    thread: std::thread::Thread,
    pool: Option<Arc<rask_local::ThreadPool>>,
}

impl Latch {
    pub(crate) fn count_down(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.thread.unpark();
            if let Some(p) = &self.pool {
                p.wake_helpers();
            }
        }
    }

    fn is_open(&self) -> bool {
        self.remaining.load(Ordering::Acquire) <= 0
    }
}

/// Blocks the calling thread until `need` of `cells` have completed, or
/// `deadline` passes. One latch serves every cell, so a thread waiting for
/// many futures is woken once, not once per future. On a pool worker thread
/// the wait runs other tasks; on a client runtime thread it is refused.
pub(crate) fn block_until(
    cells: &[Arc<Cell>],
    need: usize,
    deadline: Option<Instant>,
) -> Result<()> {
    let pending: Vec<&Arc<Cell>> = cells.iter().filter(|c| !c.is_done()).collect();
    let need = need.min(cells.len());
    if cells.len() - pending.len() >= need {
        return Ok(());
    }
    if on_runtime_thread() {
        return Err(Error::WouldBlock(
            "a blocking wait on a future inside an async task would stall the runtime: use `.await`"
                .into(),
        ));
    }
    let pool = cells
        .first()
        .and_then(|c| c.core())
        .and_then(|core| core.pool_if_worker());
    let latch = Arc::new(Latch {
        remaining: AtomicIsize::new((need - (cells.len() - pending.len())) as isize),
        thread: std::thread::current(),
        pool: pool.clone(),
    });
    for c in pending {
        if !c.add_waiter(Waiter::Latch(latch.clone())) {
            latch.count_down();
        }
    }
    let timed_out = || deadline.is_some_and(|d| Instant::now() >= d);
    if let Some(pool) = pool {
        pool.help_until(&|| latch.is_open() || timed_out());
        return Ok(());
    }
    while !latch.is_open() {
        match deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    break;
                }
                std::thread::park_timeout(d - now);
            }
            None => std::thread::park(),
        }
    }
    Ok(())
}
