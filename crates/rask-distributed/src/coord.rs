//! The requesting side of coordination (locks, queues, events...: the
//! state machine is `core/coord/`, the messages `proto/coord.rs`).
//!
//! A [`Link`] carries requests to a [`Coord`](crate::core::coord::Coord):
//! a worker's link to its scheduler (for the tasks it runs), a client's
//! [`Connection`](crate::Connection), or an in-process hub (`rask-client`).
//! An answered request has a [`Ticket`] that the answer fills; the caller
//! blocks on it ([`Ticket::wait`]) or polls it as a future.
//!
//! Rules:
//! 1. A ticket is filled once; a link that closes fills every ticket still
//!    open with `Disconnected`, and refuses new ones.
//! 2. A task body runs in a session ([`in_session`], [`in_session_async`]):
//!    its requests carry the session's id, and when the body returns or
//!    unwinds the link is told `EndSession` (only if it made a request), so
//!    nothing it obtained outlives it, whatever happens to its guards.
//! 3. A thread blocked on a ticket for longer than [`LEND_AFTER`] lends its
//!    compute slot ([`Link::lend`]): the worker (or thread pool) starts
//!    another thread to run other tasks until the wait ends. A short wait
//!    (a lock handed over quickly) costs no thread; a long one cannot keep
//!    the task that would end it from running.

pub mod cache;

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::proto::{CoordAnswer, CoordFail, CoordOp, CoordReply, CoordRequest, ReqId, SessionId};

/// How long a blocked thread waits before it lends its compute slot.
pub const LEND_AFTER: Duration = Duration::from_millis(5);

/// What a request resolved to.
pub type Answer = Result<CoordAnswer, CoordFail>;

/// Where coordination requests go.
pub trait Link: Send + Sync + 'static {
    /// A fresh request number on this link.
    fn next_req(&self) -> ReqId;
    /// Sends `req`; its answer (if the operation has one) fills `ticket`.
    /// `Err(Disconnected)` if the link is closed.
    fn send(&self, req: CoordRequest, ticket: Option<Arc<Ticket>>) -> Result<(), CoordFail>;
    /// Called by a thread about to block for a while: lends its compute
    /// slot until the result is dropped (rule 3). `None`: nothing to lend
    /// (not a compute thread, or the bound on extra threads is reached).
    fn lend(&self) -> Option<Lent> {
        None
    }
}

/// A lent compute slot: given back when dropped.
pub struct Lent(#[allow(dead_code)] Box<dyn Any>);

impl Lent {
    /// A lent slot that `guard`'s drop gives back.
    pub fn new(guard: impl Any) -> Lent {
        Lent(Box::new(guard))
    }
}

impl std::fmt::Debug for Lent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lent")
    }
}

enum State {
    Open(Option<Waker>),
    Done(Answer),
    Taken,
}

/// The answer slot of one request (rule 1).
pub struct Ticket {
    state: Mutex<State>,
    cv: Condvar,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ticket {
    /// An open ticket.
    pub fn new() -> Arc<Ticket> {
        Arc::new(Ticket {
            state: Mutex::new(State::Open(None)),
            cv: Condvar::new(),
        })
    }

    /// Fills the ticket (the first answer wins) and wakes its waiter.
    pub fn fulfil(&self, a: Answer) {
        let waker = {
            let mut st = lock(&self.state);
            match &mut *st {
                State::Open(w) => {
                    let w = w.take();
                    *st = State::Done(a);
                    w
                }
                _ => return,
            }
        };
        self.cv.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Blocks until answered; after [`LEND_AFTER`] the thread's compute
    /// slot is lent through `link` (rule 3).
    pub fn wait(&self, link: &dyn Link) -> Answer {
        let t0 = Instant::now();
        let mut lent: Option<Option<Lent>> = None;
        let mut st = lock(&self.state);
        loop {
            if let State::Done(_) = &*st {
                if let State::Done(a) = std::mem::replace(&mut *st, State::Taken) {
                    drop(st);
                    drop(lent);
                    return a;
                }
            }
            if matches!(&*st, State::Taken) {
                return Err(CoordFail::Disconnected);
            }
            if lent.is_none() {
                let left = LEND_AFTER.saturating_sub(t0.elapsed());
                if left.is_zero() {
                    drop(st);
                    lent = Some(link.lend());
                    st = lock(&self.state);
                    continue;
                }
                st = self
                    .cv
                    .wait_timeout(st, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            } else {
                st = self.cv.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        }
    }

    /// The answer if it came, else registers `cx`'s waker.
    pub fn poll_answer(&self, cx: &mut Context<'_>) -> Poll<Answer> {
        let mut st = lock(&self.state);
        match &mut *st {
            State::Open(w) => {
                *w = Some(cx.waker().clone());
                Poll::Pending
            }
            State::Done(_) => match std::mem::replace(&mut *st, State::Taken) {
                State::Done(a) => Poll::Ready(a),
                _ => Poll::Ready(Err(CoordFail::Disconnected)),
            },
            State::Taken => Poll::Ready(Err(CoordFail::Disconnected)),
        }
    }
}

/// The tickets of a link's requests in flight, by number.
#[derive(Default)]
pub struct Pending {
    map: Mutex<HashMap<ReqId, Arc<Ticket>>>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("in_flight", &lock(&self.map).len())
            .finish()
    }
}

impl Pending {
    /// Registers `ticket` for `req`; refused once closed (rule 1).
    pub fn add(&self, req: ReqId, ticket: Arc<Ticket>) -> Result<(), CoordFail> {
        let mut map = lock(&self.map);
        if self.closed.load(Ordering::Acquire) {
            return Err(CoordFail::Disconnected);
        }
        map.insert(req, ticket);
        Ok(())
    }

    /// Forgets `req`'s ticket (its request could not be sent).
    pub fn remove(&self, req: ReqId) {
        lock(&self.map).remove(&req);
    }

    /// Fills the ticket `reply` answers (an answer for a request nobody
    /// waits for is dropped).
    pub fn answer(&self, reply: CoordReply) {
        let t = lock(&self.map).remove(&reply.req);
        if let Some(t) = t {
            t.fulfil(reply.result);
        }
    }

    /// The link closed: every open ticket is filled with `Disconnected`.
    pub fn close(&self) {
        let all: Vec<Arc<Ticket>> = {
            let mut map = lock(&self.map);
            self.closed.store(true, Ordering::Release);
            map.drain().map(|(_, t)| t).collect()
        };
        for t in all {
            t.fulfil(Err(CoordFail::Disconnected));
        }
    }

    /// Whether the link closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// Whether a session made a request (then its end is announced).
enum Used {
    Here(Cell<bool>),
    /// An async body's: read by a guard outside the task-local's scope.
    Shared(Arc<AtomicBool>),
}

impl Used {
    fn set(&self) {
        match self {
            Used::Here(c) => c.set(true),
            Used::Shared(a) => a.store(true, Ordering::Relaxed),
        }
    }
    fn get(&self) -> bool {
        match self {
            Used::Here(c) => c.get(),
            Used::Shared(a) => a.load(Ordering::Relaxed),
        }
    }
}

/// A task body's session (rule 2).
struct Session {
    link: Arc<dyn Link>,
    id: SessionId,
    used: Used,
}

impl Session {
    fn end(&self) {
        if self.used.get() {
            end_session(&*self.link, self.id);
        }
    }
}

fn end_session(link: &dyn Link, id: SessionId) {
    let end = CoordRequest {
        req: ReqId(0),
        session: id,
        timeout_ms: None,
        op: CoordOp::EndSession,
    };
    let _ = link.send(end, None);
}

thread_local! {
    static SESSION: RefCell<Option<Session>> = const { RefCell::new(None) };
}

tokio::task_local! {
    static ASYNC_SESSION: Session;
}

/// Runs the task body `f` as session `id` of `link` (rule 2).
pub fn in_session<R>(link: Arc<dyn Link>, id: SessionId, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Session>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            let mine = SESSION.with(|s| std::mem::replace(&mut *s.borrow_mut(), prev));
            if let Some(s) = mine {
                s.end();
            }
        }
    }
    let session = Session {
        link,
        id,
        used: Used::Here(Cell::new(false)),
    };
    let _restore = Restore(SESSION.with(|s| s.borrow_mut().replace(session)));
    f()
}

/// Runs the async task body `fut` as session `id` of `link` (rule 2); the
/// session ends when `fut` completes or is dropped.
pub async fn in_session_async<F: std::future::Future>(
    link: Arc<dyn Link>,
    id: SessionId,
    fut: F,
) -> F::Output {
    struct EndOnDrop(Arc<dyn Link>, SessionId, Arc<AtomicBool>);
    impl Drop for EndOnDrop {
        fn drop(&mut self) {
            if self.2.load(Ordering::Relaxed) {
                end_session(&*self.0, self.1);
            }
        }
    }
    let used = Arc::new(AtomicBool::new(false));
    let _end = EndOnDrop(link.clone(), id, used.clone());
    let session = Session {
        link,
        id,
        used: Used::Shared(used),
    };
    ASYNC_SESSION.scope(session, fut).await
}

/// The link and session of the task body running here (on a worker), if
/// any; the session is marked as having made a request.
pub fn current() -> Option<(Arc<dyn Link>, SessionId)> {
    let here = SESSION.with(|s| {
        s.borrow().as_ref().map(|s| {
            s.used.set();
            (s.link.clone(), s.id)
        })
    });
    here.or_else(|| {
        ASYNC_SESSION
            .try_with(|s| {
                s.used.set();
                (s.link.clone(), s.id)
            })
            .ok()
    })
}
