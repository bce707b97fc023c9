//! [`Lock`] and [`Semaphore`]: permits held as a [`Lease`], given back when
//! the lease is dropped (or the task attempt that took it ends, or its
//! worker dies).

use std::time::Duration;

use rask_distributed::proto::{CoordAnswer, CoordOp, ReqId};
use serde::{Deserialize, Serialize};

use super::{backend, Bound, Error, ErrorKind, Held, Who};
use crate::Client;

/// A lock shared by every task and client of a cluster (or of one
/// in-process client), by name. Waiters get it in the order they asked.
///
/// ```
/// use rask_client::coord::Lock;
/// let client = rask_client::Client::threads();
/// let lock = Lock::new("log file").on(&client);
/// {
///     let _held = lock.acquire()?;      // until `_held` is dropped
///     assert!(lock.try_acquire()?.is_none());
/// }
/// assert!(lock.try_acquire()?.is_some());
/// # Ok::<(), rask_client::coord::Error>(())
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Lock {
    name: String,
    #[serde(skip)]
    on: Bound,
}

/// A semaphore of `permits` permits, shared by name: at most that many
/// leases are held at once. Every user must agree on the number (a
/// different one is refused with [`ErrorKind::Conflict`] while the
/// semaphore is in use).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Semaphore {
    name: String,
    permits: u32,
    #[serde(skip)]
    on: Bound,
}

/// A held lock or semaphore permit; given back on drop.
#[must_use = "the permit is given back as soon as the lease is dropped"]
pub struct Lease {
    held: Held,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("req", &self.held.req)
            .finish()
    }
}

impl Lease {
    /// Gives the permit back now (as dropping it does).
    pub fn release(self) {}
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.held.release();
    }
}

/// The part both share.
pub(super) struct Sem<'a> {
    pub(super) who: Who<'a>,
    lock: bool,
    permits: u32,
    on: &'a Bound,
}

impl Sem<'_> {
    /// The request: a permit, and variable `read`'s value at the grant if
    /// given.
    pub(super) fn op(&self, read: Option<&str>) -> CoordOp {
        let name = self.who.name.to_owned();
        match read {
            None => CoordOp::Acquire {
                name,
                lock: self.lock,
                permits: self.permits,
            },
            Some(var) => CoordOp::AcquireRead {
                name,
                lock: self.lock,
                permits: self.permits,
                var: var.to_owned(),
            },
        }
    }

    /// Sends `op` and waits for its answer: the backend it went to, the
    /// request's number and the answer.
    pub(super) fn call(
        &self,
        op: CoordOp,
        timeout: Option<Duration>,
    ) -> Result<(super::Backend, ReqId, CoordAnswer), Error> {
        let b = backend(self.on, self.who)?;
        let (req, a) = b.call(op, timeout, self.who)?;
        Ok((b, req, a))
    }

    /// As [`Sem::call`], awaiting.
    pub(super) async fn call_async(
        &self,
        op: CoordOp,
        timeout: Option<Duration>,
    ) -> Result<(super::Backend, ReqId, CoordAnswer), Error> {
        let b = backend(self.on, self.who)?;
        let (req, a) = self.who.outcome(b.call_async(op, timeout).await)?;
        Ok((b, req, a))
    }

    fn acquire(&self, timeout: Option<Duration>) -> Result<Lease, Error> {
        let (b, req, a) = self.call(self.op(None), timeout)?;
        self.lease(&b, req, a)
    }

    fn try_acquire(&self) -> Result<Option<Lease>, Error> {
        match self.acquire(Some(Duration::ZERO)) {
            Ok(l) => Ok(Some(l)),
            Err(Error {
                kind: ErrorKind::TimedOut(_),
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn acquire_async(&self, timeout: Option<Duration>) -> Result<Lease, Error> {
        let (b, req, a) = self.call_async(self.op(None), timeout).await?;
        self.lease(&b, req, a)
    }

    fn lease(&self, b: &super::Backend, req: ReqId, a: CoordAnswer) -> Result<Lease, Error> {
        let held = Held::new(b, req);
        match a {
            CoordAnswer::Granted => Ok(Lease { held }),
            other => {
                held.release();
                Err(self.who.unexpected(&other))
            }
        }
    }
}

macro_rules! permit_methods {
    () => {
        /// Waits for the permit.
        pub fn acquire(&self) -> Result<Lease, Error> {
            self.sem().acquire(None)
        }

        /// Waits at most `timeout` ([`ErrorKind::TimedOut`] then).
        pub fn acquire_timeout(&self, timeout: Duration) -> Result<Lease, Error> {
            self.sem().acquire(Some(timeout))
        }

        /// The permit if it is free now.
        pub fn try_acquire(&self) -> Result<Option<Lease>, Error> {
            self.sem().try_acquire()
        }

        /// Awaits the permit.
        pub async fn acquire_async(&self) -> Result<Lease, Error> {
            self.sem().acquire_async(None).await
        }

        /// Awaits the permit at most `timeout`.
        pub async fn acquire_timeout_async(&self, timeout: Duration) -> Result<Lease, Error> {
            self.sem().acquire_async(Some(timeout)).await
        }

        /// Its name.
        pub fn name(&self) -> &str {
            &self.name
        }

        /// The same handle, its requests going to `client` (the driver's
        /// side; inside tasks the handle finds its own way).
        pub fn on(mut self, client: &Client) -> Self {
            self.on = Bound::to(client);
            self
        }
    };
}

impl Lock {
    /// The lock named `name`.
    pub fn new(name: impl Into<String>) -> Lock {
        Lock {
            name: name.into(),
            on: Bound::default(),
        }
    }

    pub(super) fn sem(&self) -> Sem<'_> {
        Sem {
            who: Who {
                what: "lock",
                name: &self.name,
            },
            lock: true,
            permits: 1,
            on: &self.on,
        }
    }

    permit_methods!();
}

impl Semaphore {
    /// The semaphore named `name`, of `permits` permits.
    pub fn new(name: impl Into<String>, permits: u32) -> Semaphore {
        Semaphore {
            name: name.into(),
            permits,
            on: Bound::default(),
        }
    }

    fn sem(&self) -> Sem<'_> {
        Sem {
            who: Who {
                what: "semaphore",
                name: &self.name,
            },
            lock: false,
            permits: self.permits,
            on: &self.on,
        }
    }

    /// Its number of permits.
    pub fn permits(&self) -> u32 {
        self.permits
    }

    permit_methods!();
}
