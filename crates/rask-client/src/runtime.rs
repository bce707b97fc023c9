//! The tokio runtime that runs async tasks, and how its threads find their
//! client.
//!
//! The runtime is made on first use, owned by the client's core, and shut
//! down in the background when the core goes (never blocking, so a client can
//! even be dropped from inside an async task). Its threads only run async
//! task bodies and timers; compute tasks never run there, and a blocking wait
//! on a future from one of its threads is refused (it would stall every async
//! task behind it).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use rask_core::{
    catch_panic, failure_error, Error, Key, TaskError, TaskErrorKind, TaskFailure, Value, WorkerId,
};

use crate::cell::Cell;
use crate::client::Core;

thread_local! {
    static RUNTIME_CORE: RefCell<Option<Weak<Core>>> = const { RefCell::new(None) };
}

/// Whether the calling thread is one of a client runtime's threads.
pub(crate) fn on_runtime_thread() -> bool {
    RUNTIME_CORE.with(|c| c.borrow().is_some())
}

/// The client whose runtime runs the calling thread.
pub(crate) fn runtime_core() -> Option<Arc<Core>> {
    RUNTIME_CORE.with(|c| c.borrow().as_ref().and_then(Weak::upgrade))
}

/// A runtime that shuts down in the background when dropped.
pub(crate) struct Runtime(Option<tokio::runtime::Runtime>);

impl Runtime {
    pub(crate) fn new(core: Weak<Core>, threads: usize) -> std::io::Result<Runtime> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("rask-async")
            .enable_time()
            .on_thread_start(move || {
                let core = core.clone();
                RUNTIME_CORE.with(|c| *c.borrow_mut() = Some(core));
            })
            .build()?;
        Ok(Runtime(Some(rt)))
    }

    pub(crate) fn handle(&self) -> Option<&tokio::runtime::Handle> {
        self.0.as_ref().map(tokio::runtime::Runtime::handle)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// What an async task's body needs to start one attempt on the runtime.
pub(crate) struct Launch<'a> {
    pub(crate) handle: &'a tokio::runtime::Handle,
    pub(crate) cell: &'a Arc<Cell>,
    pub(crate) attempt: u32,
    pub(crate) timeout: Option<Duration>,
}

impl Launch<'_> {
    /// Spawns `body` as this attempt. The spawned task catches panics, times
    /// the attempt out, and ends it on the cell; if the runtime drops it
    /// unfinished (shutdown), the task fails with `ClientShutdown`.
    ///
    /// Generic over the body, so the body lives inline in tokio's task: one
    /// allocation per attempt, and the body stored once (an `async` block
    /// around it would keep a second, unpinned copy).
    pub(crate) fn spawn<F>(self, body: F) -> tokio::task::AbortHandle
    where
        F: Future<Output = Result<Value, TaskFailure>> + Send + 'static,
    {
        let attempt = Attempt {
            cell: Some(self.cell.clone()),
            attempt: self.attempt,
            timeout: self.timeout,
            timer: None,
            body,
        };
        self.handle.spawn(attempt).abort_handle()
    }
}

pin_project_lite::pin_project! {
    /// One attempt of an async task, as tokio runs it.
    ///
    /// Invariant: `cell` is `Some` until the attempt has ended on it; if the
    /// attempt is dropped before that (the runtime shut down), the task fails
    /// with `ClientShutdown`. An attempt aborted after a cancel finds its
    /// task complete already, and failing it again does nothing.
    struct Attempt<F> {
        cell: Option<Arc<Cell>>,
        attempt: u32,
        timeout: Option<Duration>,
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
        #[pin]
        body: F,
    }

    impl<F> PinnedDrop for Attempt<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(cell) = this.project().cell.take() {
                let key = cell.key.clone();
                cell.complete(Err(Error::ClientShutdown { key }));
            }
        }
    }
}

impl<F> Future for Attempt<F>
where
    F: Future<Output = Result<Value, TaskFailure>>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let Some(cell) = this.cell.as_ref() else {
            return Poll::Ready(()); // ended already (invariant)
        };
        let attempt = *this.attempt;
        match poll_attempt(&cell.key, attempt, *this.timeout, this.timer, this.body, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                if let Some(cell) = this.cell.take() {
                    cell.finish_attempt_owned(attempt, r, WorkerId(u32::MAX));
                }
                Poll::Ready(())
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A user's future with its output turned into a task result. (An
    /// `async` block awaiting the future would store it twice: once as the
    /// captured value, once as the awaited one.)
    pub(crate) struct MapOutput<G, M> {
        #[pin]
        fut: G,
        map: M,
    }
}

impl<G, M> MapOutput<G, M> {
    pub(crate) fn new(fut: G, map: M) -> Self {
        MapOutput { fut, map }
    }
}

impl<G, M> Future for MapOutput<G, M>
where
    G: Future,
    M: FnMut(G::Output) -> Result<Value, TaskFailure>,
{
    type Output = Result<Value, TaskFailure>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.fut.poll(cx) {
            Poll::Ready(out) => Poll::Ready((this.map)(out)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Polls an attempt's body once, catching a panic, then its timeout (a timer
/// made at the first poll, on the runtime, since a timer needs its context).
fn poll_attempt<F>(
    key: &Key,
    attempt: u32,
    after: Option<Duration>,
    timer: &mut Option<Pin<Box<tokio::time::Sleep>>>,
    body: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<Result<Value, TaskError>>
where
    F: Future<Output = Result<Value, TaskFailure>>,
{
    match catch_panic(key, attempt, || body.poll(cx)) {
        Ok(Poll::Ready(Ok(v))) => return Poll::Ready(Ok(v)),
        Ok(Poll::Ready(Err(f))) => {
            return Poll::Ready(Err(failure_error(key, attempt, f, |_| key.clone())))
        }
        Err(e) => return Poll::Ready(Err(e)),
        Ok(Poll::Pending) => {}
    }
    if let Some(after) = after {
        let t = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(after)));
        if t.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(TaskError {
                key: key.clone(),
                kind: TaskErrorKind::TimedOut { after },
                message: String::new(),
                backtrace: None,
                attempt,
                cause: None,
            }));
        }
    }
    Poll::Pending
}

tokio::task_local! {
    /// The client of the task whose async body [`block_on`] runs (so
    /// `get_client()` and `rask::coord` work inside it).
    static ASYNC_CLIENT: crate::Client;
}

/// The client of the in-process task whose async body runs this future.
pub(crate) fn async_fn_client() -> Option<crate::Client> {
    ASYNC_CLIENT.try_with(crate::Client::clone).ok()
}

/// Runs `f` to completion on Rask's own async runtime (one thread, made on
/// first use) and waits for it on this thread: the in-process form of an
/// `async` registered function (`#[rask::task] async fn`). A panic in `f`
/// resumes here, so the task reports it as any body's panic. `f` runs with
/// the calling task's client (`get_client()`, `rask::coord`); a wait longer
/// than `LEND_AFTER` lends the calling pool thread's slot, as a blocked
/// coordination call does.
pub fn block_on<F>(f: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    static RT: std::sync::OnceLock<Option<tokio::runtime::Runtime>> = std::sync::OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("rask-async-fn")
            .enable_all()
            .build()
            .ok()
    });
    let Some(rt) = rt else {
        panic!("rask: could not start the runtime for async functions");
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let client = crate::get_client().ok();
    let f = {
        let client = client.clone();
        async move {
            match client {
                Some(c) => ASYNC_CLIENT.scope(c, f).await,
                None => f.await,
            }
        }
    };
    // Polled as a task body (a panic is caught, not printed), then resumed
    // here, where the task's own catching reports it.
    let key = rask_core::Key::new("async");
    let fut = rask_core::CatchUnwind::new(Box::pin(f), key, 1);
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    let got = match rx.recv_timeout(rask_distributed::coord::LEND_AFTER) {
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            let _lent = client.and_then(|c| c.coord_link().lend());
            rx.recv()
        }
        Ok(r) => Ok(r),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(std::sync::mpsc::RecvError),
    };
    match got {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => std::panic::resume_unwind(Box::new(e.message)),
        Err(_) => panic!("rask: the runtime for async functions stopped"),
    }
}
