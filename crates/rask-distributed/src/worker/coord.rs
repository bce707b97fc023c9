//! Coordination for the tasks a worker runs (`crate::coord`'s rules).
//!
//! 1. Each task body (compute or async) runs in a session of its own; a
//!    request goes to the scheduler at once (`flush_direct`: written by the
//!    requesting thread when the link is idle, not batched with results), and its answer (`ToWorker::Coord`) fills the waiting
//!    task's ticket. A session's end is said before the task's result, on
//!    the same link, so the scheduler releases what the attempt held before
//!    it hears that the attempt ended.
//! 2. A compute thread blocked on an answer for longer than `LEND_AFTER`
//!    lends its slot: the worker starts an extra compute thread (at most
//!    [`MAX_EXTRA`] at once), which runs queued tasks while the wait lasts.
//!    Extra threads say `Started` for every task (they have no slot on the
//!    started board) and leave, between tasks, once there are more of them
//!    than blocked threads.
//! 3. When the scheduler link closes, every open ticket fails with
//!    `Disconnected`.
//! 4. Locks go through the worker's lease cache (`crate::coord::cache`):
//!    a request it answers costs no message; what it says to the
//!    scheduler is queued under the cache's lock, so messages leave in the
//!    order the cache decided them. A write that may wait rides with the
//!    next message, and is flushed within [`FLUSH_WRITES`] in any case; a
//!    timer on the network runtime gives back recalled leases at the end
//!    of their slice.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::{lock, Shared};
use crate::coord::cache::{LeaseCache, Out};
use crate::coord::{Lent, Link, Pending, Ticket};
use crate::proto::{CoordFail, CoordReply, CoordRequest, FromWorker, ReqId, SessionId};

/// A write made under a cached lease reaches the scheduler at the latest
/// this long after it was made (rule 4).
pub(crate) const FLUSH_WRITES: Duration = Duration::from_millis(2);

/// Extra compute threads a worker runs at most at once (rule 2).
pub(crate) const MAX_EXTRA: usize = 64;

/// A worker's coordination link.
#[derive(Default)]
pub(crate) struct WorkerLink {
    shared: OnceLock<Weak<Shared>>,
    pending: Pending,
    next_req: AtomicU64,
    next_session: AtomicU64,
    /// Compute threads blocked with their slot lent.
    blocked: AtomicUsize,
    /// Extra compute threads running.
    extras: AtomicUsize,
    /// Leases kept for this worker's tasks (rule 4).
    cache: Mutex<LeaseCache>,
    /// A flush of queued writes, or a tick of the cache, is due (rule 4).
    flush_armed: AtomicBool,
    tick_armed: AtomicBool,
}

impl WorkerLink {
    /// Ties the link to its worker (once, after `Shared` is made).
    pub(super) fn attach(&self, shared: &Arc<Shared>) {
        let _ = self.shared.set(Arc::downgrade(shared));
    }

    fn shared(&self) -> Option<Arc<Shared>> {
        self.shared.get().and_then(Weak::upgrade)
    }

    /// A new session (one task attempt's body).
    pub(super) fn session(&self) -> SessionId {
        SessionId(self.next_session.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// An answer (or a recall notice) from the scheduler.
    pub(super) fn answer(&self, reply: CoordReply) {
        let shared = self.shared();
        let (pass, flush) = {
            let mut cache = lock(&self.cache);
            let mut out = Out::default();
            let pass = cache.reply(&reply, Instant::now(), &mut out);
            let flush = shared.as_ref().is_some_and(|s| self.emit(s, out));
            (pass, flush)
        };
        if flush {
            // On the network thread: the writer takes it.
            if let Some(s) = &shared {
                s.wake_writer.notify_one();
            }
        }
        if pass {
            self.pending.answer(reply);
        }
    }

    /// The scheduler link closed (rule 3).
    pub(super) fn close(&self) {
        lock(&self.cache).clear();
        self.pending.close();
    }

    /// Queues what the cache decided, in order (called with its lock
    /// held, so messages leave in the order decided); `true` if some must
    /// go now: the caller then writes the outbox ([`Shared::flush_direct`])
    /// once it let the cache go (a write may wait for the network thread,
    /// which may be waiting for the cache). Writes that may wait are
    /// flushed by a timer if nothing else takes them first.
    fn emit(&self, shared: &Arc<Shared>, out: Out) -> bool {
        let mut now_ = false;
        let mut lazy = false;
        for (r, now) in out.send {
            if now {
                shared.say(FromWorker::Coord(r));
                now_ = true;
                lazy = false;
            } else {
                shared.say_write(r);
                lazy = true;
            }
        }
        if lazy && !self.flush_armed.swap(true, Ordering::AcqRel) {
            let s = shared.clone();
            shared.rt.spawn(async move {
                tokio::time::sleep(FLUSH_WRITES).await;
                s.coord.flush_armed.store(false, Ordering::Release);
                s.wake_writer.notify_one();
            });
        }
        if let Some(at) = out.tick_at {
            if !self.tick_armed.swap(true, Ordering::AcqRel) {
                let s = shared.clone();
                shared.rt.spawn(async move {
                    tokio::time::sleep_until(at.into()).await;
                    s.coord.tick_armed.store(false, Ordering::Release);
                    s.coord.tick(&s);
                });
            }
        }
        now_
    }

    /// The cache's timer (rule 4).
    fn tick(&self, shared: &Arc<Shared>) {
        let flush = {
            let mut cache = lock(&self.cache);
            let mut out = Out::default();
            cache.tick(Instant::now(), &mut out);
            self.emit(shared, out)
        };
        if flush {
            shared.wake_writer.notify_one();
        }
    }

    /// Starts extra compute threads while fewer run than are blocked.
    fn spawn_extras(&self, shared: &Arc<Shared>) {
        loop {
            let e = self.extras.load(Ordering::Acquire);
            if e >= self.blocked.load(Ordering::Acquire) || e >= MAX_EXTRA {
                return;
            }
            if self
                .extras
                .compare_exchange(e, e + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                continue;
            }
            let thread = shared.threads + 1 + e as u32;
            let s = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("rask-compute-x{e}"))
                .spawn(move || extra_loop(&s, thread));
            if let Err(err) = spawned {
                self.extras.fetch_sub(1, Ordering::AcqRel);
                tracing::warn!(error = %err, "could not start an extra compute thread");
                return;
            }
        }
    }

    /// Whether an extra thread should leave now (rule 2); if so, it is
    /// counted out.
    fn retire(&self) -> bool {
        loop {
            let e = self.extras.load(Ordering::Acquire);
            if e <= self.blocked.load(Ordering::Acquire) {
                return false;
            }
            if self
                .extras
                .compare_exchange(e, e - 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return true;
            }
        }
    }
}

impl Link for WorkerLink {
    fn next_req(&self) -> ReqId {
        ReqId(self.next_req.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn send(&self, req: CoordRequest, ticket: Option<Arc<Ticket>>) -> Result<(), CoordFail> {
        let Some(shared) = self.shared() else {
            return Err(CoordFail::Disconnected);
        };
        if shared.stopping.load(Ordering::SeqCst) {
            return Err(CoordFail::Disconnected);
        }
        let mut cache = lock(&self.cache);
        let mut out = Out::default();
        let id = req.req;
        cache.request(req, Instant::now(), &mut out);
        let answer = out.answer.take();
        if let (None, Some(t)) = (&answer, &ticket) {
            self.pending.add(id, t.clone())?;
        }
        let flush = self.emit(&shared, out);
        drop(cache);
        if flush {
            shared.flush_direct();
        }
        if let (Some(a), Some(t)) = (answer, ticket) {
            t.fulfil(a);
        }
        Ok(())
    }

    fn lend(&self) -> Option<Lent> {
        let shared = self.shared()?;
        self.blocked.fetch_add(1, Ordering::AcqRel);
        self.spawn_extras(&shared);
        Some(Lent::new(Unblock(shared)))
    }
}

/// A blocked compute thread's lent slot: given back on drop.
struct Unblock(Arc<Shared>);

impl Drop for Unblock {
    fn drop(&mut self) {
        self.0.coord.blocked.fetch_sub(1, Ordering::AcqRel);
        // Under the queue's lock, so an extra thread between its check and
        // its wait cannot miss this.
        let _q = lock(&self.0.queue);
        self.0.more.notify_all();
    }
}

/// An extra compute thread (rule 2): runs queued tasks until it is not
/// needed.
fn extra_loop(shared: &Arc<Shared>, thread: u32) {
    loop {
        let job = {
            let mut q = lock(&shared.queue);
            loop {
                if shared.stopping.load(Ordering::SeqCst) {
                    shared.coord.extras.fetch_sub(1, Ordering::AcqRel);
                    return;
                }
                if shared.coord.retire() {
                    // Whatever wake-up it took goes on to a thread that stays.
                    if !q.is_empty() {
                        shared.more.notify_one();
                    }
                    return;
                }
                if let Some(j) = q.pop_front() {
                    break j;
                }
                shared.wake_writer.notify_one();
                q = shared.more.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        };
        shared.say(FromWorker::Started {
            gid: job.gid,
            thread,
        });
        if let Some(msg) = super::compute::run(shared, &job, thread) {
            shared.say(msg);
        }
        shared.wake_writer.notify_one();
    }
}
