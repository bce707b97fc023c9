//! Waiting on many futures: `gather`, `wait`, `as_completed`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use rask_core::{Data, Error, Result};

use crate::cell::Cell;
use crate::future::{block_until, Future};

/// What `wait` waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitFor {
    /// Every future to complete.
    All,
    /// Any one future to complete.
    FirstCompleted,
}

/// What `wait` found: indices into the list it was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitResult {
    /// Futures that completed (finished, erred or cancelled).
    pub done: Vec<usize>,
    /// Futures still pending or running.
    pub not_done: Vec<usize>,
}

/// How `gather` treats failed futures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// Return the first error (in list order).
    Raise,
    /// Leave failed futures out of the result.
    Skip,
}

/// Waits for every future (one wake-up, not one per future) and returns
/// their values in order.
pub(crate) fn gather<T: Data>(futures: &[Future<T>], on_error: OnError) -> Result<Vec<T>> {
    let cells: Vec<Arc<Cell>> = futures.iter().map(|f| f.cell.clone()).collect();
    block_until(&cells, cells.len(), None)?;
    drop(cells);
    let mut out = Vec::with_capacity(futures.len());
    for f in futures {
        match f.result() {
            Ok(v) => out.push(v),
            Err(e) if on_error == OnError::Raise => return Err(e),
            Err(_) => {}
        }
    }
    Ok(out)
}

/// As [`gather`], awaiting.
pub(crate) async fn gather_async<T: Data>(
    futures: &[Future<T>],
    on_error: OnError,
) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(futures.len());
    for f in futures {
        match f.clone().await {
            Ok(v) => out.push(v),
            Err(e) if on_error == OnError::Raise => return Err(e),
            Err(_) => {}
        }
    }
    Ok(out)
}

fn split<T>(futures: &[Future<T>]) -> WaitResult {
    let (mut done, mut not_done) = (Vec::new(), Vec::new());
    for (i, f) in futures.iter().enumerate() {
        if f.is_done() {
            done.push(i)
        } else {
            not_done.push(i)
        }
    }
    WaitResult { done, not_done }
}

fn check_timeout(timeout: Option<Duration>) -> Result<Option<Instant>> {
    match timeout {
        Some(t) if t.is_zero() => Err(Error::InvalidArgument(
            "a wait timeout must be longer than zero".into(),
        )),
        Some(t) => Ok(Some(Instant::now() + t)),
        None => Ok(None),
    }
}

/// Waits until `mode` is satisfied or `timeout` passes.
pub(crate) fn wait<T>(
    futures: &[Future<T>],
    mode: WaitFor,
    timeout: Option<Duration>,
) -> Result<WaitResult> {
    let deadline = check_timeout(timeout)?;
    let cells: Vec<Arc<Cell>> = futures.iter().map(|f| f.cell.clone()).collect();
    let need = match mode {
        WaitFor::All => cells.len(),
        WaitFor::FirstCompleted => 1,
    };
    block_until(&cells, need, deadline)?;
    Ok(split(futures))
}

/// As [`wait`], awaiting.
pub(crate) async fn wait_async<T>(
    futures: &[Future<T>],
    mode: WaitFor,
    timeout: Option<Duration>,
) -> Result<WaitResult> {
    let deadline = check_timeout(timeout)?;
    let fut = std::future::poll_fn(|cx| {
        let done = futures.iter().filter(|f| f.is_done()).count();
        let satisfied = match mode {
            WaitFor::All => done == futures.len(),
            WaitFor::FirstCompleted => futures.is_empty() || done > 0,
        };
        if satisfied {
            return Poll::Ready(());
        }
        for f in futures {
            f.cell
                .add_waiter(crate::cell::Waiter::Waker(cx.waker().clone()));
        }
        Poll::Pending
    });
    match deadline {
        Some(d) => {
            let _ = tokio::time::timeout_at(d.into(), fut).await;
        }
        None => fut.await,
    }
    Ok(split(futures))
}

struct Queue<T> {
    ready: VecDeque<Future<T>>,
    waker: Option<Waker>,
    thread: Option<std::thread::Thread>,
    helpers: Option<Arc<rask_local::ThreadPool>>,
}

/// Futures in the order they complete; more can be added while iterating.
///
/// Iterate (blocking) or call [`AsCompleted::next_async`] (awaiting). Each
/// future comes out once, finished, erred or cancelled.
pub struct AsCompleted<T> {
    queue: Arc<Mutex<Queue<T>>>,
    core: Option<std::sync::Weak<crate::client::Core>>,
    outstanding: usize,
}

impl<T> std::fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsCompleted")
            .field("outstanding", &self.outstanding)
            .finish()
    }
}

impl<T: Send + 'static> AsCompleted<T> {
    /// Starts with `futures`.
    pub fn new(futures: impl IntoIterator<Item = Future<T>>) -> Self {
        let mut me = AsCompleted {
            queue: Arc::new(Mutex::new(Queue {
                ready: VecDeque::new(),
                waker: None,
                thread: None,
                helpers: None,
            })),
            core: None,
            outstanding: 0,
        };
        for f in futures {
            me.add(f);
        }
        me
    }

    /// Adds one more future.
    pub fn add(&mut self, future: Future<T>) {
        self.outstanding += 1;
        if self.core.is_none() {
            self.core = future.cell.core().map(|c| Arc::downgrade(&c));
        }
        let q = self.queue.clone();
        let cell = future.cell.clone();
        cell.on_done(move || {
            let mut g = q.lock().unwrap_or_else(|p| p.into_inner());
            g.ready.push_back(future);
            let (waker, thread, helpers) = (g.waker.take(), g.thread.take(), g.helpers.clone());
            drop(g);
            if let Some(w) = waker {
                w.wake();
            }
            if let Some(t) = thread {
                t.unpark();
            }
            if let Some(p) = helpers {
                p.wake_helpers();
            }
        });
    }

    /// How many futures have not come out yet.
    pub fn remaining(&self) -> usize {
        self.outstanding
    }

    fn pop(&mut self) -> Option<Future<T>> {
        let f = self
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ready
            .pop_front()?;
        self.outstanding -= 1;
        Some(f)
    }

    /// The next future to complete, awaiting.
    pub async fn next_async(&mut self) -> Option<Future<T>> {
        std::future::poll_fn(|cx| {
            if self.outstanding == 0 {
                return Poll::Ready(None);
            }
            if let Some(f) = self.pop() {
                return Poll::Ready(Some(f));
            }
            let mut g = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            if g.ready.is_empty() {
                g.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            drop(g);
            Poll::Ready(self.pop())
        })
        .await
    }

    /// The next future to complete, blocking; `Err` on a runtime thread.
    pub fn next_blocking(&mut self) -> Result<Option<Future<T>>> {
        if self.outstanding == 0 {
            return Ok(None);
        }
        if let Some(f) = self.pop() {
            return Ok(Some(f));
        }
        if crate::runtime::on_runtime_thread() {
            return Err(Error::WouldBlock(
                "as_completed would block the async runtime: use `next_async`".into(),
            ));
        }
        let q = self.queue.clone();
        let has = || !q.lock().unwrap_or_else(|p| p.into_inner()).ready.is_empty();
        let pool = self
            .core
            .as_ref()
            .and_then(std::sync::Weak::upgrade)
            .and_then(|c| c.pool_if_worker());
        if let Some(pool) = pool {
            q.lock().unwrap_or_else(|p| p.into_inner()).helpers = Some(pool.clone());
            pool.help_until(&has);
        } else {
            loop {
                let mut g = q.lock().unwrap_or_else(|p| p.into_inner());
                if !g.ready.is_empty() {
                    break;
                }
                g.thread = Some(std::thread::current());
                drop(g);
                std::thread::park();
            }
        }
        Ok(self.pop())
    }
}

impl<T: Send + 'static> Iterator for AsCompleted<T> {
    type Item = Future<T>;

    /// The next future to complete. Panics on a client runtime thread, where
    /// blocking is refused: use `next_async` there.
    fn next(&mut self) -> Option<Future<T>> {
        match self.next_blocking() {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        }
    }
}
