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

use rask_core::{catch_panic, failure_error, Key, TaskError, TaskErrorKind, Value};

use crate::cell::BodyFuture;
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

/// An async task body with its attempt number, timeout and panic catching.
pub(crate) struct TaskFuture {
    key: Key,
    attempt: u32,
    /// Made at the first poll, on the runtime (a timer needs its context).
    timeout: Option<Pin<Box<tokio::time::Sleep>>>,
    after: Option<Duration>,
    body: BodyFuture,
}

impl TaskFuture {
    pub(crate) fn new(key: Key, attempt: u32, after: Option<Duration>, body: BodyFuture) -> Self {
        TaskFuture {
            key,
            attempt,
            timeout: None,
            after,
            body,
        }
    }
}

impl Future for TaskFuture {
    type Output = Result<Value, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (key, attempt) = (&this.key, this.attempt);
        match catch_panic(key, attempt, || this.body.as_mut().poll(cx)) {
            Ok(Poll::Ready(Ok(v))) => return Poll::Ready(Ok(v)),
            Ok(Poll::Ready(Err(f))) => {
                return Poll::Ready(Err(failure_error(key, attempt, f, |_| key.clone())))
            }
            Err(e) => return Poll::Ready(Err(e)),
            Ok(Poll::Pending) => {}
        }
        if let Some(after) = this.after {
            let t = this
                .timeout
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(after)));
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
}
