//! [`Queue`]: first in, first out, with at-least-once delivery. An item
//! taken with `get` is a [`Delivery`]: [`Delivery::ack`] consumes it; if
//! it is dropped unacknowledged (the task failed, panicked, or its worker
//! died) it goes back to the front of the queue and is delivered again,
//! marked by [`Delivery::redelivered`]. So a consumer that dies loses
//! nothing, and one that dies after its work but before its ack makes that
//! item be processed twice: make that work idempotent, or check
//! `redelivered`.

use std::marker::PhantomData;
use std::time::Duration;

use rask_distributed::proto::{CoordAnswer, CoordOp};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{backend, Backend, Bound, Error, ErrorKind, Held, Who};
use crate::Client;

/// A queue of `T`s shared by name, unbounded or bounded (`put` waits while
/// a bounded queue is full).
///
/// ```
/// use rask_client::coord::Queue;
/// let client = rask_client::Client::threads();
/// let q = Queue::<String>::new("work").on(&client);
/// q.put(&"a".to_owned())?;
/// let item = q.get()?;
/// assert_eq!(*item, "a");
/// item.ack()?;                  // consumed; dropped without an ack it would come back
/// assert_eq!(q.len()?, 0);
/// # Ok::<(), rask_client::coord::Error>(())
/// ```
#[derive(Serialize, Deserialize)]
pub struct Queue<T> {
    name: String,
    bound: u32,
    #[serde(skip)]
    on: Bound,
    #[serde(skip)]
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            name: self.name.clone(),
            bound: self.bound,
            on: self.on.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("name", &self.name)
            .field("bound", &self.bound)
            .finish()
    }
}

/// An item taken from a queue, not yet acknowledged.
#[must_use = "an item dropped without `ack` goes back to the queue"]
pub struct Delivery<T> {
    value: Option<T>,
    redelivered: u32,
    held: Held,
    who: (&'static str, String),
}

impl<T: std::fmt::Debug> std::fmt::Debug for Delivery<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("value", &self.value)
            .field("redelivered", &self.redelivered)
            .finish()
    }
}

impl<T> std::ops::Deref for Delivery<T> {
    type Target = T;
    fn deref(&self) -> &T {
        match &self.value {
            Some(v) => v,
            None => unreachable!("a delivery's value is taken only by `ack`"),
        }
    }
}

impl<T> Delivery<T> {
    /// Consumes the item: it will not come back. Returns the value.
    pub fn ack(mut self) -> Result<T, Error> {
        let v = self.value.take();
        self.held
            .tell(CoordOp::Ack { req: self.held.req })
            .map_err(|_| Error {
                what: self.who.0,
                name: self.who.1.clone(),
                kind: ErrorKind::Disconnected,
            })?;
        match v {
            Some(v) => Ok(v),
            None => unreachable!("a delivery's value is taken only by `ack`"),
        }
    }

    /// Puts the item back at the front of the queue now (as dropping it
    /// does).
    pub fn nack(self) {}

    /// How many times the item was delivered before and came back
    /// unacknowledged.
    pub fn redelivered(&self) -> u32 {
        self.redelivered
    }
}

impl<T> Drop for Delivery<T> {
    fn drop(&mut self) {
        if self.value.is_some() {
            self.held.release();
        }
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// The unbounded queue named `name` (or the queue of that name, with
    /// its bound, if another user made it bounded).
    pub fn new(name: impl Into<String>) -> Queue<T> {
        Queue {
            name: name.into(),
            bound: 0,
            on: Bound::default(),
            _t: PhantomData,
        }
    }

    /// The queue named `name`, holding at most `bound` items: `put` waits
    /// while it is full (items given back by failed consumers may exceed
    /// it). Users must agree on the bound.
    pub fn bounded(name: impl Into<String>, bound: u32) -> Queue<T> {
        Queue {
            bound,
            ..Queue::new(name)
        }
    }

    handle_methods!("queue");

    fn put_op(&self, v: &T) -> Result<CoordOp, Error> {
        Ok(CoordOp::Put {
            queue: self.name.clone(),
            item: self.who().encode(v)?,
            bound: self.bound,
        })
    }

    fn put_with(&self, v: &T, timeout: Option<Duration>) -> Result<(), Error> {
        let b = backend(&self.on, self.who())?;
        let (_, a) = b.call(self.put_op(v)?, timeout, self.who())?;
        self.done(a)
    }

    fn done(&self, a: CoordAnswer) -> Result<(), Error> {
        match a {
            CoordAnswer::Done => Ok(()),
            other => Err(self.who().unexpected(&other)),
        }
    }

    /// Appends `v` (waiting while a bounded queue is full).
    pub fn put(&self, v: &T) -> Result<(), Error> {
        self.put_with(v, None)
    }

    /// As [`Queue::put`], waiting at most `timeout` for room.
    pub fn put_timeout(&self, v: &T, timeout: Duration) -> Result<(), Error> {
        self.put_with(v, Some(timeout))
    }

    /// As [`Queue::put`], awaiting.
    pub async fn put_async(&self, v: &T) -> Result<(), Error> {
        self.put_opt_async(v, None).await
    }

    /// As [`Queue::put_timeout`], awaiting.
    pub async fn put_timeout_async(&self, v: &T, timeout: Duration) -> Result<(), Error> {
        self.put_opt_async(v, Some(timeout)).await
    }

    async fn put_opt_async(&self, v: &T, timeout: Option<Duration>) -> Result<(), Error> {
        let b = backend(&self.on, self.who())?;
        let op = self.put_op(v)?;
        let (_, a) = self.who().outcome(b.call_async(op, timeout).await)?;
        self.done(a)
    }

    fn get_with(&self, timeout: Option<Duration>) -> Result<Delivery<T>, Error> {
        let b = backend(&self.on, self.who())?;
        let op = CoordOp::Get {
            queue: self.name.clone(),
        };
        let (req, a) = b.call(op, timeout, self.who())?;
        self.delivery(&b, req, a)
    }

    fn delivery(
        &self,
        b: &Backend,
        req: rask_distributed::proto::ReqId,
        a: CoordAnswer,
    ) -> Result<Delivery<T>, Error> {
        let held = Held::new(b, req);
        let CoordAnswer::Item { bytes, redelivered } = a else {
            held.release();
            return Err(self.who().unexpected(&a));
        };
        match self.who().decode(&bytes) {
            Ok(v) => Ok(Delivery {
                value: Some(v),
                redelivered,
                held,
                who: ("queue", self.name.clone()),
            }),
            Err(e) => {
                // Back for a consumer of the right type.
                held.release();
                Err(e)
            }
        }
    }

    /// Takes the first item, waiting for one.
    pub fn get(&self) -> Result<Delivery<T>, Error> {
        self.get_with(None)
    }

    /// As [`Queue::get`], waiting at most `timeout`.
    pub fn get_timeout(&self, timeout: Duration) -> Result<Delivery<T>, Error> {
        self.get_with(Some(timeout))
    }

    /// The first item, if there is one now.
    pub fn try_get(&self) -> Result<Option<Delivery<T>>, Error> {
        match self.get_with(Some(Duration::ZERO)) {
            Ok(d) => Ok(Some(d)),
            Err(Error {
                kind: ErrorKind::TimedOut(_),
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// As [`Queue::get`], awaiting.
    pub async fn get_async(&self) -> Result<Delivery<T>, Error> {
        self.get_timeout_opt_async(None).await
    }

    /// As [`Queue::get_timeout`], awaiting.
    pub async fn get_timeout_async(&self, timeout: Duration) -> Result<Delivery<T>, Error> {
        self.get_timeout_opt_async(Some(timeout)).await
    }

    async fn get_timeout_opt_async(&self, timeout: Option<Duration>) -> Result<Delivery<T>, Error> {
        let b = backend(&self.on, self.who())?;
        let op = CoordOp::Get {
            queue: self.name.clone(),
        };
        let (req, a) = self.who().outcome(b.call_async(op, timeout).await)?;
        self.delivery(&b, req, a)
    }

    /// Items waiting in the queue (not counting those taken and not yet
    /// acknowledged).
    pub fn len(&self) -> Result<usize, Error> {
        let b = backend(&self.on, self.who())?;
        let op = CoordOp::Len {
            queue: self.name.clone(),
        };
        match b.call(op, None, self.who())?.1 {
            CoordAnswer::Count(n) => Ok(n as usize),
            other => Err(self.who().unexpected(&other)),
        }
    }

    /// Whether no item waits in the queue.
    pub fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.len()? == 0)
    }
}
