//! Locks and semaphores: a lock is a semaphore of one permit in a
//! namespace of its own. Permits go to waiters in arrival order (rule 1).

use std::collections::VecDeque;

use super::{answer, Coord, Ctx, Entry, Held, Key, Replies, SemKey, Wait};
use crate::proto::{CoordAnswer, CoordFail};

#[derive(Debug)]
pub(super) struct Sem {
    pub(super) permits: u32,
    pub(super) held: u32,
    pub(super) waiters: VecDeque<Key>,
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
    pub(super) fn acquire(&mut self, cx: &Ctx, k: SemKey, permits: u32, out: &mut impl Replies) {
        if permits == 0 {
            let why = format!("{} `{}` needs at least one permit", k.kind(), k.name);
            return answer(out, cx, Err(CoordFail::Conflict(why)));
        }
        let s = self.sems.entry(k.clone()).or_insert_with(|| Sem {
            permits,
            held: 0,
            waiters: VecDeque::new(),
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
                    held: Held::Lease(k),
                },
            );
            return answer(out, cx, Ok(CoordAnswer::Granted));
        }
        if self.park(cx, Wait::Sem(k.clone()), out) {
            if let Some(s) = self.sems.get_mut(&k) {
                s.waiters.push_back(cx.key());
            }
        }
    }

    /// A permit of `k` came back: it goes to the first waiter.
    pub(super) fn sem_release(&mut self, k: SemKey, out: &mut impl Replies) {
        if let Some(s) = self.sems.get_mut(&k) {
            s.held = s.held.saturating_sub(1);
        }
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
            self.fulfil(w, Some(Held::Lease(k.clone())), CoordAnswer::Granted, out);
        }
    }
}
