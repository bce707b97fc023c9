//! Events (a flag to wait on), variables (a value to read, or to wait
//! for) and barriers (wait until `parties` have arrived; reusable).

use super::{answer, Coord, Ctx, Key, Replies, Wait};
use crate::proto::{CoordAnswer, CoordFail};

#[derive(Debug, Default)]
pub(super) struct Event {
    pub(super) set: bool,
    pub(super) waiters: Vec<Key>,
}

#[derive(Debug, Default)]
pub(super) struct Var {
    pub(super) value: Option<Vec<u8>>,
    pub(super) waiters: Vec<Key>,
}

#[derive(Debug)]
pub(super) struct Barrier {
    pub(super) parties: u32,
    pub(super) waiting: Vec<Key>,
    /// Times it filled.
    pub(super) generation: u64,
}

impl Coord {
    pub(super) fn set_event(&mut self, name: String, out: &mut impl Replies) {
        let e = self.events.entry(name).or_default();
        e.set = true;
        for w in std::mem::take(&mut e.waiters) {
            self.fulfil(w, None, CoordAnswer::Done, out);
        }
    }

    pub(super) fn clear_event(&mut self, name: &str) {
        if let Some(e) = self.events.get_mut(name) {
            e.set = false;
        }
        self.tidy_event(name);
    }

    pub(super) fn wait_event(&mut self, cx: &Ctx, name: String, out: &mut impl Replies) {
        if self.events.get(&name).is_some_and(|e| e.set) {
            return answer(out, cx, Ok(CoordAnswer::Done));
        }
        if self.park(cx, Wait::Event(name.clone()), out) {
            self.events.entry(name).or_default().waiters.push(cx.key());
        }
    }

    pub(super) fn tidy_event(&mut self, name: &str) {
        if self
            .events
            .get(name)
            .is_some_and(|e| !e.set && e.waiters.is_empty())
        {
            self.events.remove(name);
        }
    }

    /// Sets variable `name`, answering whoever waits for it.
    pub fn set_var(&mut self, name: String, value: Vec<u8>, out: &mut impl Replies) {
        self.write_var(name, value, None, out);
    }

    /// Sets variable `name`, written under a lease of `by` (if any): a
    /// worker's cached copy of it is invalidated unless that lease is the
    /// cached one (`cache.rs`).
    pub(super) fn write_var(
        &mut self,
        name: String,
        value: Vec<u8>,
        by: Option<&super::SemKey>,
        out: &mut impl Replies,
    ) {
        self.var_written(&name, by, out);
        let v = self.vars.entry(name).or_default();
        let waiters = std::mem::take(&mut v.waiters);
        let copy = (!waiters.is_empty()).then(|| value.clone());
        v.value = Some(value);
        for w in waiters {
            self.fulfil(w, None, CoordAnswer::Value(copy.clone()), out);
        }
    }

    pub(super) fn wait_var(&mut self, cx: &Ctx, name: String, out: &mut impl Replies) {
        if let Some(v) = self.var(&name) {
            let v = v.clone();
            return answer(out, cx, Ok(CoordAnswer::Value(Some(v))));
        }
        if self.park(cx, Wait::Var(name.clone()), out) {
            self.vars.entry(name).or_default().waiters.push(cx.key());
        }
    }

    pub(super) fn del_var(&mut self, name: &str, out: &mut impl Replies) {
        self.var_written(name, None, out);
        if let Some(v) = self.vars.get_mut(name) {
            v.value = None;
            if v.waiters.is_empty() {
                self.vars.remove(name);
            }
        }
    }

    pub(super) fn arrive(&mut self, cx: &Ctx, name: String, parties: u32, out: &mut impl Replies) {
        if parties == 0 {
            let why = format!("barrier `{name}` needs at least one party");
            return answer(out, cx, Err(CoordFail::Conflict(why)));
        }
        let b = self
            .barriers
            .entry(name.clone())
            .or_insert_with(|| Barrier {
                parties,
                waiting: Vec::new(),
                generation: 0,
            });
        if b.parties != parties {
            if b.waiting.is_empty() {
                // Nobody is at it: it is made again with the new size.
                b.parties = parties;
            } else {
                let why = format!(
                    "barrier `{name}` is for {} parties; this arrives at one for {parties}",
                    b.parties
                );
                return answer(out, cx, Err(CoordFail::Conflict(why)));
            }
        }
        if b.waiting.len() + 1 >= b.parties as usize {
            let generation = b.generation;
            b.generation += 1;
            let others = std::mem::take(&mut b.waiting);
            for w in others {
                let a = CoordAnswer::Passed {
                    generation,
                    leader: false,
                };
                self.fulfil(w, None, a, out);
            }
            return answer(
                out,
                cx,
                Ok(CoordAnswer::Passed {
                    generation,
                    leader: true,
                }),
            );
        }
        if self.park(cx, Wait::Barrier(name.clone()), out) {
            if let Some(b) = self.barriers.get_mut(&name) {
                b.waiting.push(cx.key());
            }
        }
    }
}
