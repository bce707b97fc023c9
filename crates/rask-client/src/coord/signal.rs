//! [`Event`] (a flag to wait on), [`Variable`] (a value shared by name:
//! the same variables as `Connection::set_var` / `get_var`) and
//! [`Barrier`] (wait until `parties` have arrived).

use std::marker::PhantomData;
use std::time::Duration;

use rask_distributed::proto::{CoordAnswer, CoordOp};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{backend, Bound, Error, Who};
use crate::Client;

/// An event shared by name: tasks wait until someone sets it.
///
/// ```
/// use rask_client::coord::Event;
/// let client = rask_client::Client::threads();
/// let ready = Event::new("model loaded").on(&client);
/// assert!(!ready.is_set()?);
/// ready.set()?;
/// ready.wait()?;                 // returns at once: it is set
/// # Ok::<(), rask_client::coord::Error>(())
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Event {
    name: String,
    #[serde(skip)]
    on: Bound,
}

/// A variable of type `T` shared by name.
#[derive(Serialize, Deserialize)]
pub struct Variable<T> {
    name: String,
    #[serde(skip)]
    on: Bound,
    #[serde(skip)]
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Variable<T> {
    fn clone(&self) -> Self {
        Variable {
            name: self.name.clone(),
            on: self.on.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Variable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Variable")
            .field("name", &self.name)
            .finish()
    }
}

/// A reusable barrier of `parties` shared by name: `wait` returns when
/// that many have arrived. A party that times out or whose task ends
/// leaves it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Barrier {
    name: String,
    parties: u32,
    #[serde(skip)]
    on: Bound,
}

/// What [`Barrier::wait`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarrierWait {
    /// How many times the barrier had filled before this time.
    pub generation: u64,
    /// Whether this party arrived last (exactly one per generation).
    pub leader: bool,
}

impl Event {
    /// The event named `name`.
    pub fn new(name: impl Into<String>) -> Event {
        Event {
            name: name.into(),
            on: Bound::default(),
        }
    }

    handle_methods!("event");

    /// Sets it, waking every waiter.
    pub fn set(&self) -> Result<(), Error> {
        let op = CoordOp::SetEvent {
            name: self.name.clone(),
        };
        backend(&self.on, self.who())?.tell(op, self.who())
    }

    /// Clears it.
    pub fn clear(&self) -> Result<(), Error> {
        let op = CoordOp::ClearEvent {
            name: self.name.clone(),
        };
        backend(&self.on, self.who())?.tell(op, self.who())
    }

    /// Whether it is set.
    pub fn is_set(&self) -> Result<bool, Error> {
        let op = CoordOp::IsSet {
            name: self.name.clone(),
        };
        match backend(&self.on, self.who())?.call(op, None, self.who())?.1 {
            CoordAnswer::Flag(f) => Ok(f),
            other => Err(self.who().unexpected(&other)),
        }
    }

    fn wait_op(&self) -> CoordOp {
        CoordOp::WaitEvent {
            name: self.name.clone(),
        }
    }

    fn done(&self, a: CoordAnswer) -> Result<(), Error> {
        match a {
            CoordAnswer::Done => Ok(()),
            other => Err(self.who().unexpected(&other)),
        }
    }

    /// Waits until it is set.
    pub fn wait(&self) -> Result<(), Error> {
        let b = backend(&self.on, self.who())?;
        self.done(b.call(self.wait_op(), None, self.who())?.1)
    }

    /// As [`Event::wait`], at most `timeout`.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), Error> {
        let b = backend(&self.on, self.who())?;
        self.done(b.call(self.wait_op(), Some(timeout), self.who())?.1)
    }

    /// As [`Event::wait`], awaiting.
    pub async fn wait_async(&self) -> Result<(), Error> {
        self.wait_opt_async(None).await
    }

    /// As [`Event::wait_timeout`], awaiting.
    pub async fn wait_timeout_async(&self, timeout: Duration) -> Result<(), Error> {
        self.wait_opt_async(Some(timeout)).await
    }

    async fn wait_opt_async(&self, timeout: Option<Duration>) -> Result<(), Error> {
        let b = backend(&self.on, self.who())?;
        let (_, a) = self
            .who()
            .outcome(b.call_async(self.wait_op(), timeout).await)?;
        self.done(a)
    }
}

impl<T: Serialize + DeserializeOwned> Variable<T> {
    /// The variable named `name`.
    pub fn new(name: impl Into<String>) -> Variable<T> {
        Variable {
            name: name.into(),
            on: Bound::default(),
            _t: PhantomData,
        }
    }

    handle_methods!("variable");

    /// Sets it. Requests made afterwards by the same task (or client) see
    /// the new value, and so does anyone who takes a lock this task
    /// releases afterwards.
    pub fn set(&self, v: &T) -> Result<(), Error> {
        let op = CoordOp::SetVar {
            name: self.name.clone(),
            value: self.who().encode(v)?,
        };
        backend(&self.on, self.who())?.tell(op, self.who())
    }

    /// Unsets it.
    pub fn delete(&self) -> Result<(), Error> {
        let op = CoordOp::DelVar {
            name: self.name.clone(),
        };
        backend(&self.on, self.who())?.tell(op, self.who())
    }

    /// Its value (`None`: not set).
    pub fn get(&self) -> Result<Option<T>, Error> {
        let op = CoordOp::GetVar {
            name: self.name.clone(),
        };
        let a = backend(&self.on, self.who())?.call(op, None, self.who())?.1;
        self.value(a)
    }

    fn value(&self, a: CoordAnswer) -> Result<Option<T>, Error> {
        match a {
            CoordAnswer::Value(None) => Ok(None),
            CoordAnswer::Value(Some(b)) => self.who().decode(&b).map(Some),
            other => Err(self.who().unexpected(&other)),
        }
    }

    fn set_value(&self, a: CoordAnswer) -> Result<T, Error> {
        match self.value(a)? {
            Some(v) => Ok(v),
            None => Err(self.who().unexpected(&CoordAnswer::Value(None))),
        }
    }

    fn wait_op(&self) -> CoordOp {
        CoordOp::WaitVar {
            name: self.name.clone(),
        }
    }

    /// Its value, waiting until it is set.
    pub fn wait(&self) -> Result<T, Error> {
        let b = backend(&self.on, self.who())?;
        self.set_value(b.call(self.wait_op(), None, self.who())?.1)
    }

    /// As [`Variable::wait`], at most `timeout`.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<T, Error> {
        let b = backend(&self.on, self.who())?;
        self.set_value(b.call(self.wait_op(), Some(timeout), self.who())?.1)
    }

    /// As [`Variable::get`], awaiting.
    pub async fn get_async(&self) -> Result<Option<T>, Error> {
        let b = backend(&self.on, self.who())?;
        let op = CoordOp::GetVar {
            name: self.name.clone(),
        };
        let (_, a) = self.who().outcome(b.call_async(op, None).await)?;
        self.value(a)
    }

    /// As [`Variable::wait`], awaiting.
    pub async fn wait_async(&self) -> Result<T, Error> {
        self.wait_opt_async(None).await
    }

    /// As [`Variable::wait_timeout`], awaiting.
    pub async fn wait_timeout_async(&self, timeout: Duration) -> Result<T, Error> {
        self.wait_opt_async(Some(timeout)).await
    }

    async fn wait_opt_async(&self, timeout: Option<Duration>) -> Result<T, Error> {
        let b = backend(&self.on, self.who())?;
        let (_, a) = self
            .who()
            .outcome(b.call_async(self.wait_op(), timeout).await)?;
        self.set_value(a)
    }
}

impl Barrier {
    /// The barrier named `name`, for `parties` parties.
    pub fn new(name: impl Into<String>, parties: u32) -> Barrier {
        Barrier {
            name: name.into(),
            parties,
            on: Bound::default(),
        }
    }

    handle_methods!("barrier");

    /// Its number of parties.
    pub fn parties(&self) -> u32 {
        self.parties
    }

    fn op(&self) -> CoordOp {
        CoordOp::Arrive {
            name: self.name.clone(),
            parties: self.parties,
        }
    }

    fn passed(&self, a: CoordAnswer) -> Result<BarrierWait, Error> {
        match a {
            CoordAnswer::Passed { generation, leader } => Ok(BarrierWait { generation, leader }),
            other => Err(self.who().unexpected(&other)),
        }
    }

    /// Arrives and waits for the others.
    pub fn wait(&self) -> Result<BarrierWait, Error> {
        let b = backend(&self.on, self.who())?;
        self.passed(b.call(self.op(), None, self.who())?.1)
    }

    /// As [`Barrier::wait`], at most `timeout` (then this party leaves).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<BarrierWait, Error> {
        let b = backend(&self.on, self.who())?;
        self.passed(b.call(self.op(), Some(timeout), self.who())?.1)
    }

    /// As [`Barrier::wait`], awaiting.
    pub async fn wait_async(&self) -> Result<BarrierWait, Error> {
        self.wait_opt_async(None).await
    }

    /// As [`Barrier::wait_timeout`], awaiting.
    pub async fn wait_timeout_async(&self, timeout: Duration) -> Result<BarrierWait, Error> {
        self.wait_opt_async(Some(timeout)).await
    }

    async fn wait_opt_async(&self, timeout: Option<Duration>) -> Result<BarrierWait, Error> {
        let b = backend(&self.on, self.who())?;
        let (_, a) = self.who().outcome(b.call_async(self.op(), timeout).await)?;
        self.passed(a)
    }
}
