//! Locks and semaphores: a lock is a semaphore of one permit in a
//! namespace of its own. Permits go to waiters in arrival order (rule 1).
//!
//! The combined forms (`AcquireRead`, `SetRelease`) are the plain ones
//! with a variable's read or write in the same step: the read happens when
//! the permit is granted (at once, or when it is handed over), the write
//! just before the permit goes back, so the next holder's read sees it.
//! Every request is one step of this sequential machine, so a combined
//! request is linearizable exactly as the two separate ones would be with
//! nothing between them.

use std::collections::VecDeque;

use super::cache::Notice;
use super::{answer, Coord, Ctx, Entry, Held, Key, Replies, SemKey, Wait};
use crate::proto::{CoordAnswer, CoordFail};

#[derive(Debug)]
pub(super) struct Sem {
    pub(super) permits: u32,
    pub(super) held: u32,
    pub(super) waiters: VecDeque<Key>,
    /// The lease a worker's cache holds, if it is one (`cache.rs`).
    pub(super) cache: Option<super::cache::CacheLease>,
}

impl SemKey {
    fn kind(&self) -> &'static str {
        if self.lock {
            "lock"
        } else {
            "semaphore"
        }
    }
}

impl Coord {
    /// A permit of `k` for request `cx`; with `read`, that variable's
    /// value is read when it is granted; with `cache`, the permit is a
    /// worker's cached lease (`cache.rs`).
    pub(super) fn acquire(
        &mut self,
        cx: &Ctx,
        k: SemKey,
        permits: u32,
        read: Option<String>,
        cache: bool,
        out: &mut impl Replies,
    ) {
        if permits == 0 {
            let why = format!("{} `{}` needs at least one permit", k.kind(), k.name);
            return answer(out, cx, Err(CoordFail::Conflict(why)));
        }
        let s = self.sems.entry(k.clone()).or_insert_with(|| Sem {
            permits,
            held: 0,
            waiters: VecDeque::new(),
            cache: None,
        });
        if s.permits != permits {
            let why = format!(
                "{} `{}` has {} permits; this asks for one of {permits}",
                k.kind(),
                k.name,
                s.permits
            );
            return answer(out, cx, Err(CoordFail::Conflict(why)));
        }
        if s.waiters.is_empty() && s.held < s.permits {
            s.held += 1;
            self.entries.insert(
                cx.key(),
                Entry {
                    session: cx.session,
                    held: Held::Lease(k.clone()),
                },
            );
            let a = self.granted(read.as_deref());
            answer(out, cx, Ok(a));
            if cache {
                self.cache_granted(&k, cx.key(), read, out);
            }
            return;
        }
        if cx.timeout_ms == Some(0) && s.waiters.is_empty() && s.cache.is_some() {
            // Only a worker's cache knows whether its lease is free.
            let cx = Ctx {
                timeout_ms: None,
                ..*cx
            };
            self.park(&cx, Wait::Sem(k.clone(), read, cache, true), out);
            if let Some(s) = self.sems.get_mut(&k) {
                s.waiters.push_back(cx.key());
            }
            return self.recall(&k, Notice::Try, out);
        }
        if self.park(cx, Wait::Sem(k.clone(), read, cache, false), out) {
            if let Some(s) = self.sems.get_mut(&k) {
                s.waiters.push_back(cx.key());
            }
            self.recall(&k, Notice::Wanted, out);
        }
    }

    /// A permit of `k`, held by `key`, came back: it goes to the first
    /// waiter.
    pub(super) fn sem_release(&mut self, k: SemKey, key: Key, out: &mut impl Replies) {
        if let Some(s) = self.sems.get_mut(&k) {
            s.held = s.held.saturating_sub(1);
        }
        self.cache_released(&k, key);
        self.grant(k, out);
    }

    /// Gives free permits of `k` to waiters, first come first served; an
    /// idle semaphore is forgotten.
    pub(super) fn grant(&mut self, k: SemKey, out: &mut impl Replies) {
        loop {
            let Some(s) = self.sems.get_mut(&k) else {
                return;
            };
            if s.held >= s.permits {
                return;
            }
            let Some(w) = s.waiters.pop_front() else {
                if s.held == 0 {
                    self.sems.remove(&k);
                }
                return;
            };
            s.held += 1;
            let (read, cache) = match self.entries.get_mut(&w) {
                Some(Entry {
                    held: Held::Waiting(Wait::Sem(_, read, cache, _)),
                    ..
                }) => (read.take(), *cache),
                _ => (None, false),
            };
            let a = self.granted(read.as_deref());
            self.fulfil(w, Some(Held::Lease(k.clone())), a, out);
            if cache {
                self.cache_granted(&k, w, read, out);
            }
        }
    }

    /// The answer to a permit granted now: with the value of variable
    /// `read`, if the request asked for it.
    fn granted(&self, read: Option<&str>) -> CoordAnswer {
        match read {
            None => CoordAnswer::Granted,
            Some(var) => CoordAnswer::GrantedValue(self.var(var).cloned()),
        }
    }

    /// Writes variable `var` if `key` holds a permit (`SetHeld`): a fenced
    /// write.
    pub(super) fn set_held(
        &mut self,
        key: Key,
        var: String,
        value: Vec<u8>,
        out: &mut impl Replies,
    ) {
        if let Some(Entry {
            held: Held::Lease(k),
            ..
        }) = self.entries.get(&key)
        {
            let k = k.clone();
            self.write_var(var, value, Some(&k), out);
        }
    }

    /// Writes variable `var` if `key` holds a permit, then gives it back
    /// (`SetRelease`): the write lands before the next holder's grant.
    pub(super) fn set_release(
        &mut self,
        key: Key,
        var: String,
        value: Vec<u8>,
        out: &mut impl Replies,
    ) {
        self.set_held(key, var, value, out);
        self.release(key, out);
    }
}
