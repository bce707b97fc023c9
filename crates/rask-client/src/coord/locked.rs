//! A lock taken together with a variable's value ([`Lock::acquire_and_get`])
//! and given back together with its new value
//! ([`LockedVar::set_and_release`]): the read-modify-write of a shared
//! value under a lock in one round trip to the scheduler instead of two,
//! and one message back.
//!
//! Rules (the state machine's, `rask_distributed::core::coord`):
//! 1. The value is read when the lock is granted, in the same step: what
//!    [`LockedVar::value`] holds is what [`Variable::get`] would return
//!    right after [`Lock::acquire`], with nothing in between.
//! 2. [`LockedVar::set_and_release`] writes the value and gives the lock
//!    back in one step, so the next holder reads the new value. The value
//!    is written only while the lease is held (the whole life of the task
//!    attempt that took it); a lease already taken back writes nothing.
//! 3. Everything else is [`Lock::acquire`]'s: one line of waiters shared
//!    with the plain form, first come first served; the lease belongs to the
//!    task attempt (or the bound client) and is given back if the attempt
//!    ends or fails, its worker dies, or the guard is dropped (then nothing
//!    is written); timeouts on every wait.
//!
//! Both combined requests are single steps of the scheduler's (or the
//! in-process hub's) sequential state machine, so they are linearizable,
//! exactly like the separate calls made back to back. A plain
//! [`Variable::get`] is not affected: it always asks the scheduler.

use std::time::Duration;

use rask_distributed::proto::{CoordAnswer, CoordOp};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Backend, Error, Held, Lock, Variable};

/// A held lock with the value its variable had when the lock was granted
/// ([`Lock::acquire_and_get`]). Dropped, it gives the lock back and
/// writes nothing.
#[must_use = "the lock is given back as soon as the guard is dropped"]
pub struct LockedVar<'a, T> {
    held: Option<Held>,
    lock: &'a Lock,
    var: &'a Variable<T>,
    value: Option<T>,
}

impl<T> std::fmt::Debug for LockedVar<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockedVar")
            .field("lock", &self.lock.name())
            .finish_non_exhaustive()
    }
}

impl<T: Serialize + DeserializeOwned> LockedVar<'_, T> {
    /// The variable's value when the lock was granted (`None`: not set).
    pub fn value(&self) -> Option<&T> {
        self.value.as_ref()
    }

    /// Writes `v` to the variable and gives the lock back, in one message
    /// that waits for no answer (rule 2): as [`Variable::set`] then
    /// dropping the lease. On an error nothing is written and the lock is
    /// given back.
    pub fn set_and_release(mut self, v: &T) -> Result<(), Error> {
        let value = self.var.who().encode(v)?;
        let Some(held) = self.held.take() else {
            return Ok(());
        };
        let op = CoordOp::SetRelease {
            req: held.req,
            var: self.var.name().to_owned(),
            value,
        };
        held.tell(op).map_err(|f| self.lock.sem().who.fail(f, None))
    }

    /// Gives the lock back without writing (as dropping it does).
    pub fn release(self) {}
}

impl<T> Drop for LockedVar<'_, T> {
    fn drop(&mut self) {
        if let Some(h) = self.held.take() {
            h.release();
        }
    }
}

impl Lock {
    /// Waits for the lock and reads `var` in the same request: one round
    /// trip instead of [`acquire`](Lock::acquire) then
    /// [`Variable::get`]'s two, and linearizable as they are (the module
    /// docs). The variable is the one of the scheduler (or client) this
    /// lock's requests go to.
    ///
    /// ```
    /// use rask_client::coord::{Lock, Variable};
    /// let client = rask_client::Client::threads();
    /// let (lock, count) = (Lock::new("n"), Variable::<u64>::new("n"));
    /// let (lock, count) = (lock.on(&client), count.on(&client));
    /// for _ in 0..3 {
    ///     let held = lock.acquire_and_get(&count)?;
    ///     let n = held.value().copied().unwrap_or(0);
    ///     held.set_and_release(&(n + 1))?;
    /// }
    /// assert_eq!(count.get()?, Some(3));
    /// # Ok::<(), rask_client::coord::Error>(())
    /// ```
    pub fn acquire_and_get<'a, T: Serialize + DeserializeOwned>(
        &'a self,
        var: &'a Variable<T>,
    ) -> Result<LockedVar<'a, T>, Error> {
        self.locked_var(var, None)
    }

    /// As [`acquire_and_get`](Lock::acquire_and_get), waiting at most
    /// `timeout` ([`ErrorKind::TimedOut`](super::ErrorKind::TimedOut)
    /// then, nothing held).
    pub fn acquire_and_get_timeout<'a, T: Serialize + DeserializeOwned>(
        &'a self,
        var: &'a Variable<T>,
        timeout: Duration,
    ) -> Result<LockedVar<'a, T>, Error> {
        self.locked_var(var, Some(timeout))
    }

    /// As [`acquire_and_get`](Lock::acquire_and_get), awaiting.
    pub async fn acquire_and_get_async<'a, T: Serialize + DeserializeOwned>(
        &'a self,
        var: &'a Variable<T>,
    ) -> Result<LockedVar<'a, T>, Error> {
        self.locked_var_async(var, None).await
    }

    /// As [`acquire_and_get_timeout`](Lock::acquire_and_get_timeout),
    /// awaiting.
    pub async fn acquire_and_get_timeout_async<'a, T: Serialize + DeserializeOwned>(
        &'a self,
        var: &'a Variable<T>,
        timeout: Duration,
    ) -> Result<LockedVar<'a, T>, Error> {
        self.locked_var_async(var, Some(timeout)).await
    }

    fn locked_var<'a, T: Serialize + DeserializeOwned>(
        &'a self,
        var: &'a Variable<T>,
        timeout: Option<Duration>,
    ) -> Result<LockedVar<'a, T>, Error> {
        let sem = self.sem();
        let (b, req, a) = sem.call(sem.op(Some(var.name())), timeout)?;
        self.guard(var, &b, req, a)
    }

    async fn locked_var_async<'a, T: Serialize + DeserializeOwned>(
        &'a self,
        var: &'a Variable<T>,
        timeout: Option<Duration>,
    ) -> Result<LockedVar<'a, T>, Error> {
        let sem = self.sem();
        let (b, req, a) = sem.call_async(sem.op(Some(var.name())), timeout).await?;
        self.guard(var, &b, req, a)
    }

    /// The guard of a granted request (given back if the answer does not
    /// fit or the value does not decode).
    fn guard<'a, T: Serialize + DeserializeOwned>(
        &'a self,
        var: &'a Variable<T>,
        b: &Backend,
        req: rask_distributed::proto::ReqId,
        a: CoordAnswer,
    ) -> Result<LockedVar<'a, T>, Error> {
        let mut g = LockedVar {
            held: Some(Held::new(b, req)),
            lock: self,
            var,
            value: None,
        };
        match a {
            CoordAnswer::GrantedValue(None) => {}
            CoordAnswer::GrantedValue(Some(bytes)) => g.value = Some(var.who().decode(&bytes)?),
            other => return Err(self.sem().who.unexpected(&other)),
        }
        Ok(g)
    }
}
