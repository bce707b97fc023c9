//! Leases cached by workers (`CoordOp::CacheAcquire`; the worker's side is
//! `crate::coord::cache`). A worker asks for a lock for itself rather than
//! for one task attempt; its tasks then take and give back the lock
//! locally, without a round trip, until the scheduler recalls it.
//!
//! Rules:
//! 1. A cached lease is a lock's one permit held by the entry of the
//!    `CacheAcquire` request, in session [`SessionId::CACHE`]: no task's
//!    end releases it; the worker's `Release` or death does. It is granted
//!    in arrival order with every other acquirer (rule 1 of the module
//!    docs).
//! 2. Recall: while a cached lease is held and someone waits for its lock,
//!    the worker has been sent one `Recall { invalidate: false }` notice
//!    (when the waiter parked, or with the grant if waiters were already
//!    there).
//! 3. Ownership: a lease granted with a variable (`var`) makes the worker
//!    the holder of that variable's value: its tasks read it locally and
//!    write it with `SetHeld` (fenced by the lease). A write to that
//!    variable by anyone else (`SetVar`, `DelVar`, a write under another
//!    lease) sends the worker `Recall { invalidate: true }` (once per
//!    grant): its copy is stale, so it reads no more of it locally and
//!    gives the lease back.
//! 4. Trying: a request with a zero timeout for a lock whose cached lease
//!    is held, with nobody waiting, waits (without a deadline) for the
//!    worker to say whether one of its tasks holds it: `Recall { now:
//!    true }` asks, the lease coming back grants it, `CacheBusy` fails it
//!    (`TimedOut`), as it would have failed at once on a lock held by a
//!    task. So `try_acquire` fails only when a task holds the lock.
//! 5. Invariant (checked by [`Coord::check`]): a semaphore's `cache` names
//!    a `Lease` entry of that semaphore in session `CACHE`; a cached lease
//!    with waiters has been recalled; `owners` maps exactly the variables
//!    of the cached leases to their locks.

use super::{answer, Coord, Ctx, Entry, Held, Key, Peer, Replies, SemKey, Wait};
use crate::proto::{CoordAnswer, CoordFail, CoordReply, SessionId};

/// A cached lease (rule 1).
#[derive(Debug)]
pub(super) struct CacheLease {
    /// The entry holding it.
    pub(super) key: Key,
    /// The variable whose value the worker holds (rule 3).
    pub(super) var: Option<String>,
    /// Recall notices sent (rule 2), whether one invalidated the value
    /// (rule 3), and whether one asks about a try (rule 4).
    pub(super) recalled: bool,
    pub(super) invalidated: bool,
    pub(super) tried: bool,
}

/// Why a cached lease is recalled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Notice {
    /// Someone waits for it (rule 2).
    Wanted,
    /// Someone else wrote its variable (rule 3).
    Stale,
    /// Someone tries it (rule 4).
    Try,
}

impl Coord {
    /// `CacheAcquire`: a lock for a worker's cache (rule 1); refused to
    /// clients, which have no cache to recall.
    pub(super) fn cache_acquire(
        &mut self,
        cx: Ctx,
        name: String,
        var: Option<String>,
        out: &mut impl Replies,
    ) {
        if matches!(cx.from, Peer::Client(_)) {
            let why = format!("lock `{name}`: only a worker caches leases");
            return answer(out, &cx, Err(CoordFail::Conflict(why)));
        }
        let cx = Ctx {
            session: SessionId::CACHE,
            ..cx
        };
        self.acquire(&cx, SemKey { lock: true, name }, 1, var, true, out);
    }

    /// Entry `key` was just granted `k`'s permit as a cached lease, with
    /// variable `var`'s value: recalled at once if others wait (rule 2).
    pub(super) fn cache_granted(
        &mut self,
        k: &SemKey,
        key: Key,
        var: Option<String>,
        out: &mut impl Replies,
    ) {
        self.cache_grants += 1;
        if let Some(v) = &var {
            // A variable is held by one cached lease at a time: a lease of
            // another lock that held it gets a stale copy now.
            self.var_written(v, Some(k), out);
            self.owners.insert(v.clone(), k.clone());
        }
        if let Some(s) = self.sems.get_mut(k) {
            s.cache = Some(CacheLease {
                key,
                var,
                recalled: false,
                invalidated: false,
                tried: false,
            });
        }
        self.recall(k, Notice::Wanted, out);
    }

    /// The permit of `k` held by `key` came back: if it was the cached
    /// lease, the worker holds nothing of it any more.
    pub(super) fn cache_released(&mut self, k: &SemKey, key: Key) {
        let Some(s) = self.sems.get_mut(k) else {
            return;
        };
        if s.cache.as_ref().is_some_and(|c| c.key == key) {
            if let Some(v) = s.cache.take().and_then(|c| c.var) {
                if self.owners.get(&v) == Some(k) {
                    self.owners.remove(&v);
                }
            }
        }
    }

    /// Sends `k`'s cached lease a recall notice for `why`, once each
    /// (rules 2 to 4; `Wanted` only if someone waits).
    pub(super) fn recall(&mut self, k: &SemKey, why: Notice, out: &mut impl Replies) {
        let Some(s) = self.sems.get_mut(k) else {
            return;
        };
        let waiting = !s.waiters.is_empty();
        let Some(c) = s.cache.as_mut() else {
            return;
        };
        let send = match why {
            Notice::Wanted => waiting && !std::mem::replace(&mut c.recalled, true),
            Notice::Stale => !std::mem::replace(&mut c.invalidated, true),
            Notice::Try => {
                c.recalled = true;
                !std::mem::replace(&mut c.tried, true)
            }
        };
        if send {
            let key = c.key;
            let invalidate = why == Notice::Stale;
            let now = why == Notice::Try;
            out.reply(
                key.0,
                CoordReply {
                    req: key.1,
                    result: Ok(CoordAnswer::Recall { invalidate, now }),
                },
            );
        }
    }

    /// `CacheBusy` from the worker whose cached lease is `key`'s: those
    /// who only try the lock fail (rule 4).
    pub(super) fn cache_busy(&mut self, key: Key, out: &mut impl Replies) {
        let Some(Entry {
            held: Held::Lease(k),
            ..
        }) = self.entries.get(&key)
        else {
            return;
        };
        let k = k.clone();
        let Some(s) = self.sems.get_mut(&k) else {
            return;
        };
        if let Some(c) = s.cache.as_mut().filter(|c| c.key == key) {
            c.tried = false;
        }
        let tries: Vec<Key> = s
            .waiters
            .iter()
            .copied()
            .filter(|w| {
                matches!(
                    self.entries.get(w),
                    Some(Entry {
                        held: Held::Waiting(Wait::Sem(_, _, _, true)),
                        ..
                    })
                )
            })
            .collect();
        s.waiters.retain(|w| !tries.contains(w));
        for w in tries {
            self.entries.remove(&w);
            out.reply(
                w.0,
                CoordReply {
                    req: w.1,
                    result: Err(CoordFail::TimedOut),
                },
            );
        }
    }

    /// Variable `name` is written (under a lease of `by`, if any): a
    /// cached lease of another lock holding it is told its copy is stale
    /// (rule 3).
    pub(super) fn var_written(&mut self, name: &str, by: Option<&SemKey>, out: &mut impl Replies) {
        let Some(owner) = self.owners.get(name) else {
            return;
        };
        if by == Some(owner) {
            return;
        }
        let owner = owner.clone();
        self.owners.remove(name);
        self.recall(&owner, Notice::Stale, out);
    }
}
