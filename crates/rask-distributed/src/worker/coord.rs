//! Coordination for the tasks a worker runs (`crate::coord`'s rules).
//!
//! 1. Each task body (compute or async) runs in a session of its own; a
//!    request goes to the scheduler at once (`say_direct`: written by the
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

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use super::{lock, Shared};
use crate::coord::{Lent, Link, Pending, Ticket};
use crate::proto::{CoordFail, CoordReply, CoordRequest, FromWorker, ReqId, SessionId};

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

    /// An answer from the scheduler.
    pub(super) fn answer(&self, reply: CoordReply) {
        self.pending.answer(reply);
    }

    /// The scheduler link closed (rule 3).
    pub(super) fn close(&self) {
        self.pending.close();
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
        if let Some(t) = ticket {
            self.pending.add(req.req, t)?;
        }
        shared.say_direct(FromWorker::Coord(req));
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
