//! [`Topic`]: publish/subscribe. A [`Subscription`] receives every message
//! published to its topic after it was made, in order; beyond
//! `SUB_BUFFER` (10,000) unread messages the oldest are dropped. A message
//! published while nobody subscribes goes nowhere. A subscription ends
//! when dropped (or when the task that made it ends, on workers).

use std::marker::PhantomData;
use std::time::Duration;

use rask_distributed::proto::{CoordAnswer, CoordOp};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{backend, Backend, Bound, Error, ErrorKind, Held, Who};
use crate::Client;

/// A topic of `T` messages shared by name.
///
/// ```
/// use rask_client::coord::Topic;
/// let client = rask_client::Client::threads();
/// let news = Topic::<u32>::new("news").on(&client);
/// let sub = news.subscribe()?;
/// news.publish(&1)?;
/// news.publish(&2)?;
/// assert_eq!(sub.next()?, 1);
/// assert_eq!(sub.try_next()?, Some(2));
/// assert_eq!(sub.try_next()?, None);
/// # Ok::<(), rask_client::coord::Error>(())
/// ```
#[derive(Serialize, Deserialize)]
pub struct Topic<T> {
    name: String,
    #[serde(skip)]
    on: Bound,
    #[serde(skip)]
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Topic<T> {
    fn clone(&self) -> Self {
        Topic {
            name: self.name.clone(),
            on: self.on.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Topic<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topic").field("name", &self.name).finish()
    }
}

/// A subscription to a topic; unsubscribes when dropped.
pub struct Subscription<T> {
    name: String,
    backend: Backend,
    held: Held,
    _t: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.name)
            .finish()
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        self.held.release();
    }
}

impl<T: Serialize + DeserializeOwned> Topic<T> {
    /// The topic named `name`.
    pub fn new(name: impl Into<String>) -> Topic<T> {
        Topic {
            name: name.into(),
            on: Bound::default(),
            _t: PhantomData,
        }
    }

    handle_methods!("topic");

    /// Sends `msg` to every subscription there is now.
    pub fn publish(&self, msg: &T) -> Result<(), Error> {
        let op = CoordOp::Publish {
            topic: self.name.clone(),
            msg: self.who().encode(msg)?,
        };
        backend(&self.on, self.who())?.tell(op, self.who())
    }

    /// Subscribes: messages published from now on are kept for it.
    pub fn subscribe(&self) -> Result<Subscription<T>, Error> {
        let b = backend(&self.on, self.who())?;
        let op = CoordOp::Subscribe {
            topic: self.name.clone(),
        };
        let (req, a) = b.call(op, None, self.who())?;
        let held = Held::new(&b, req);
        match a {
            CoordAnswer::Done => Ok(Subscription {
                name: self.name.clone(),
                backend: b,
                held,
                _t: PhantomData,
            }),
            other => {
                held.release();
                Err(self.who().unexpected(&other))
            }
        }
    }
}

impl<T: Serialize + DeserializeOwned> Subscription<T> {
    fn who(&self) -> Who<'_> {
        Who {
            what: "topic",
            name: &self.name,
        }
    }

    fn op(&self) -> CoordOp {
        CoordOp::Next { sub: self.held.req }
    }

    fn message(&self, a: CoordAnswer) -> Result<T, Error> {
        match a {
            CoordAnswer::Value(Some(b)) => self.who().decode(&b),
            other => Err(self.who().unexpected(&other)),
        }
    }

    /// The next message, waiting for one.
    pub fn next(&self) -> Result<T, Error> {
        let a = self.backend.call(self.op(), None, self.who())?.1;
        self.message(a)
    }

    /// As [`Subscription::next`], waiting at most `timeout`.
    pub fn next_timeout(&self, timeout: Duration) -> Result<T, Error> {
        let a = self.backend.call(self.op(), Some(timeout), self.who())?.1;
        self.message(a)
    }

    /// The next message if one is there now.
    pub fn try_next(&self) -> Result<Option<T>, Error> {
        match self.next_timeout(Duration::ZERO) {
            Ok(m) => Ok(Some(m)),
            Err(Error {
                kind: ErrorKind::TimedOut(_),
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// As [`Subscription::next`], awaiting.
    pub async fn next_async(&self) -> Result<T, Error> {
        let (_, a) = self
            .who()
            .outcome(self.backend.call_async(self.op(), None).await)?;
        self.message(a)
    }

    /// As [`Subscription::next_timeout`], awaiting.
    pub async fn next_timeout_async(&self, timeout: Duration) -> Result<T, Error> {
        let (_, a) = self
            .who()
            .outcome(self.backend.call_async(self.op(), Some(timeout)).await)?;
        self.message(a)
    }
}
