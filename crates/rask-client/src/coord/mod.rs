//! Coordination across tasks, processes and machines: [`Lock`],
//! [`Semaphore`], [`Queue`], [`Event`], [`Variable`], [`Topic`]
//! (publish/subscribe) and [`Barrier`], named by strings.
//!
//! One API on every executor: a handle is a name (and a size where the
//! object has one); each call finds where its requests go:
//! 1. inside a task on a worker process (`Client::processes`, a cluster):
//!    the scheduler, through the worker's link; what the task obtains
//!    belongs to its attempt and is released when the attempt's body ends
//!    or its worker dies;
//! 2. inside a task of a client (`sync`, `threads`, `shuffled`): that
//!    client's in-process hub, the same state machine behind a mutex
//!    (`hub.rs`);
//! 3. a handle made with `.on(&client)`: that client's (a cluster client's
//!    goes to its scheduler, so the driver program reaches the objects its
//!    tasks use; what it obtains is released when it disconnects).
//!
//! A lock taken to read-modify-write a variable can carry the read and
//! the write ([`Lock::acquire_and_get`], [`LockedVar::set_and_release`]):
//! one round trip per critical section instead of two (`locked.rs`).
//!
//! Every wait has a blocking form, one with a timeout (`_timeout`: fails
//! with [`ErrorKind::TimedOut`], never after obtaining anything), and async
//! forms (`_async`; dropping the future gives back whatever it obtained).
//! Waiters are served first come, first served. A blocking wait lends its
//! compute slot after a few milliseconds (`rask_distributed::coord`), so a
//! pool or worker of one thread does not deadlock on a task waiting for
//! another. Values are serde types, encoded with `rask_core::format` (the same
//! encoding as `Connection::set_var`).

/// A handle's `on`, `name` and `who` (its identity in errors, as `$what`).
macro_rules! handle_methods {
    ($what:literal) => {
        /// The same handle, its requests going to `client` (the driver's
        /// side; inside tasks the handle finds its own way).
        pub fn on(mut self, client: &Client) -> Self {
            self.on = Bound::to(client);
            self
        }

        /// Its name.
        pub fn name(&self) -> &str {
            &self.name
        }

        pub(super) fn who(&self) -> Who<'_> {
            Who {
                what: $what,
                name: &self.name,
            }
        }
    };
}

mod hub;
mod lock;
mod locked;
mod queue;
mod signal;
mod topic;

pub(crate) use hub::Hub;
pub use lock::{Lease, Lock, Semaphore};
pub use locked::LockedVar;
pub use queue::{Delivery, Queue};
pub use signal::{Barrier, BarrierWait, Event, Variable};
pub use topic::{Subscription, Topic};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rask_distributed::coord::{Link, Ticket};
use rask_distributed::proto::{CoordAnswer, CoordFail, CoordOp, CoordRequest, ReqId, SessionId};

use crate::Client;

/// What went wrong with a coordination call: the object, its name, and
/// the [`ErrorKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} `{name}`: {kind}")]
pub struct Error {
    /// The kind of object (`lock`, `queue`, ...).
    pub what: &'static str,
    /// Its name.
    pub name: String,
    /// What happened.
    pub kind: ErrorKind,
}

/// Why a coordination call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The wait's timeout passed first (nothing was obtained).
    #[error("nothing within {0:?}")]
    TimedOut(Duration),
    /// The call disagrees with how the object was made (a semaphore's
    /// permits, a queue's bound, a barrier's parties).
    #[error("{0}")]
    Conflict(String),
    /// The subscription is gone (its task ended, or it was dropped).
    #[error("the subscription is closed")]
    Closed,
    /// The connection to the scheduler is gone.
    #[error("the connection to the scheduler is lost")]
    Disconnected,
    /// A value could not be encoded or decoded as the handle's type.
    #[error("{0}")]
    Codec(String),
    /// Used outside any task and without a client.
    #[error("used outside a task and without a client: bind the handle with `.on(&client)`")]
    NoContext,
    /// A blocking wait inside async code (a tokio runtime thread).
    #[error("a blocking wait inside an async task would stall its runtime: use the `_async` form")]
    WouldBlock,
    /// The answer does not fit the request (a scheduler of another
    /// version).
    #[error("unexpected answer {0}")]
    Protocol(String),
}

/// Where a handle's requests go, if bound with `.on(&client)`.
#[derive(Clone, Default)]
pub(crate) struct Bound(Option<Arc<dyn Link>>);

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "bound" } else { "context" })
    }
}

impl Bound {
    pub(crate) fn to(client: &Client) -> Bound {
        Bound(Some(client.coord_link()))
    }
}

/// A handle's identity, for errors.
#[derive(Clone, Copy)]
pub(crate) struct Who<'a> {
    pub(crate) what: &'static str,
    pub(crate) name: &'a str,
}

impl Who<'_> {
    pub(crate) fn err(self, kind: ErrorKind) -> Error {
        Error {
            what: self.what,
            name: self.name.to_owned(),
            kind,
        }
    }

    fn fail(self, f: CoordFail, timeout: Option<Duration>) -> Error {
        self.err(match f {
            CoordFail::TimedOut => ErrorKind::TimedOut(timeout.unwrap_or_default()),
            CoordFail::Conflict(why) => ErrorKind::Conflict(why),
            CoordFail::Closed => ErrorKind::Closed,
            CoordFail::Disconnected => ErrorKind::Disconnected,
        })
    }

    pub(crate) fn unexpected(self, a: &CoordAnswer) -> Error {
        self.err(ErrorKind::Protocol(format!("{a:?}")))
    }

    pub(crate) fn encode<T: serde::Serialize>(self, v: &T) -> Result<Vec<u8>, Error> {
        rask_core::format::to_vec(v)
            .map_err(|e| self.err(ErrorKind::Codec(format!("the value does not encode: {e}"))))
    }

    pub(crate) fn decode<T: serde::de::DeserializeOwned>(self, b: &[u8]) -> Result<T, Error> {
        rask_core::format::from_slice_nested(b).map_err(|e| {
            self.err(ErrorKind::Codec(format!(
                "a value does not decode as `{}`: {e}",
                std::any::type_name::<T>()
            )))
        })
    }
}

/// Where one call's requests go, and the session they belong to.
#[derive(Clone)]
pub(crate) struct Backend {
    pub(crate) link: Arc<dyn Link>,
    session: SessionId,
}

/// The backend of a call (the module docs' three cases).
pub(crate) fn backend(bound: &Bound, who: Who<'_>) -> Result<Backend, Error> {
    if let Some(link) = &bound.0 {
        return Ok(Backend {
            link: link.clone(),
            session: SessionId(0),
        });
    }
    if let Some((link, session)) = rask_distributed::coord::current() {
        return Ok(Backend { link, session });
    }
    match crate::get_client() {
        Ok(c) => Ok(Backend {
            link: c.coord_link(),
            session: SessionId(0),
        }),
        Err(_) => Err(who.err(ErrorKind::NoContext)),
    }
}

fn timeout_ms(t: Option<Duration>) -> Option<u64> {
    t.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Backend {
    fn request(&self, op: CoordOp, timeout: Option<Duration>) -> (ReqId, CoordRequest) {
        let req = self.link.next_req();
        let r = CoordRequest {
            req,
            session: self.session,
            timeout_ms: timeout_ms(timeout),
            op,
        };
        (req, r)
    }

    /// Sends a request that is not answered (a release, a set, ...).
    pub(crate) fn tell(&self, op: CoordOp, who: Who<'_>) -> Result<(), Error> {
        let (_, r) = self.request(op, None);
        self.link.send(r, None).map_err(|f| who.fail(f, None))
    }

    /// Sends a request and blocks for its answer.
    pub(crate) fn call(
        &self,
        op: CoordOp,
        timeout: Option<Duration>,
        who: Who<'_>,
    ) -> Result<(ReqId, CoordAnswer), Error> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(who.err(ErrorKind::WouldBlock));
        }
        let (req, r) = self.request(op, timeout);
        let ticket = Ticket::new();
        self.link
            .send(r, Some(ticket.clone()))
            .map_err(|f| who.fail(f, timeout))?;
        match ticket.wait(&*self.link) {
            Ok(a) => Ok((req, a)),
            Err(f) => Err(who.fail(f, timeout)),
        }
    }

    /// Sends a request; the future resolves to its answer. Dropped before
    /// that, it gives back whatever the request obtains.
    pub(crate) fn call_async(&self, op: CoordOp, timeout: Option<Duration>) -> Call {
        let (req, r) = self.request(op, timeout);
        let ticket = Ticket::new();
        let sent = self.link.send(r, Some(ticket.clone()));
        Call {
            link: self.link.clone(),
            req,
            ticket,
            timeout,
            state: match sent {
                Ok(()) => CallState::Waiting,
                Err(f) => CallState::Failed(Some(f)),
            },
        }
    }
}

enum CallState {
    Waiting,
    Failed(Option<CoordFail>),
    Done,
}

/// A request in flight, as a future of its answer.
pub(crate) struct Call {
    link: Arc<dyn Link>,
    req: ReqId,
    ticket: Arc<Ticket>,
    timeout: Option<Duration>,
    state: CallState,
}

/// A call's outcome: its request's number and the answer (the failure
/// still to be named).
pub(crate) type Outcome = Result<(ReqId, CoordAnswer), (CoordFail, Option<Duration>)>;

impl Future for Call {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let timeout = self.timeout;
        if let CallState::Failed(f) = &mut self.state {
            let f = f.take().unwrap_or(CoordFail::Disconnected);
            self.state = CallState::Done;
            return Poll::Ready(Err((f, timeout)));
        }
        match self.ticket.poll_answer(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(a) => {
                self.state = CallState::Done;
                Poll::Ready(match a {
                    Ok(a) => Ok((self.req, a)),
                    Err(f) => Err((f, timeout)),
                })
            }
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if matches!(self.state, CallState::Waiting) {
            let r = CoordRequest {
                req: self.link.next_req(),
                session: SessionId(0),
                timeout_ms: None,
                op: CoordOp::Release { req: self.req },
            };
            let _ = self.link.send(r, None);
        }
    }
}

impl Who<'_> {
    /// Names the failure of an async call.
    pub(crate) fn outcome(self, o: Outcome) -> Result<(ReqId, CoordAnswer), Error> {
        o.map_err(|(f, t)| self.fail(f, t))
    }
}

/// What a guard, a delivery or a subscription needs to give back what it
/// holds: the link it came on, and its request's number.
pub(crate) struct Held {
    pub(crate) link: Arc<dyn Link>,
    pub(crate) req: ReqId,
}

impl Held {
    pub(crate) fn new(b: &Backend, req: ReqId) -> Held {
        Held {
            link: b.link.clone(),
            req,
        }
    }

    /// Sends `op` about this request (a release, an ack).
    pub(crate) fn tell(&self, op: CoordOp) -> Result<(), CoordFail> {
        let r = CoordRequest {
            req: self.link.next_req(),
            session: SessionId(0),
            timeout_ms: None,
            op,
        };
        self.link.send(r, None)
    }

    pub(crate) fn release(&self) {
        let _ = self.tell(CoordOp::Release { req: self.req });
    }
}
