//! [`Coord::check`]: the invariants of the module docs, verified (the
//! simulators call it after every step).

use std::collections::HashMap;

use super::{Coord, Entry, Held, Key, SemKey, Wait};
use crate::proto::SessionId;

impl Coord {
    /// Checks the invariants in the module docs; an error says which broke.
    pub fn check(&self) -> Result<(), String> {
        let mut leases: HashMap<&SemKey, u32> = HashMap::new();
        let mut out: HashMap<&str, u32> = HashMap::new();
        for (k, e) in &self.entries {
            match &e.held {
                Held::Lease(s) => *leases.entry(s).or_default() += 1,
                Held::Item { queue, .. } => *out.entry(queue.as_str()).or_default() += 1,
                Held::Waiting(w) => self.check_listed(*k, w)?,
                Held::Sub(s) => {
                    if !self
                        .topics
                        .get(&s.topic)
                        .is_some_and(|t| t.subs.contains(k))
                    {
                        return Err(format!("subscription {k:?} is not in topic `{}`", s.topic));
                    }
                    if let Some(g) = s.getter {
                        if !s.buf.is_empty() {
                            return Err(format!("subscription {k:?} has messages and a waiter"));
                        }
                        let waits = matches!(self.entries.get(&(k.0, g)),
                            Some(Entry { held: Held::Waiting(Wait::Next(x)), .. }) if *x == k.1);
                        if !waits {
                            return Err(format!("subscription {k:?}'s waiter is not waiting"));
                        }
                    }
                }
            }
        }
        for (k, s) in &self.sems {
            let held = leases.get(k).copied().unwrap_or(0);
            if s.held != held || held > s.permits {
                return Err(format!(
                    "semaphore `{}` counts {} held, {held} leases, {} permits",
                    k.name, s.held, s.permits
                ));
            }
            if !s.waiters.is_empty() && s.held < s.permits {
                return Err(format!(
                    "semaphore `{}` has waiters and a free permit",
                    k.name
                ));
            }
            if s.held == 0 && s.waiters.is_empty() {
                return Err(format!("semaphore `{}` is idle and kept", k.name));
            }
            self.check_waiters(
                s.waiters.iter(),
                |w| matches!(w, Wait::Sem(x, ..) if x == k),
            )?;
        }
        self.check_cached()?;
        if let Some(s) = leases.keys().find(|s| !self.sems.contains_key(*s)) {
            return Err(format!("a lease of `{}`, which does not exist", s.name));
        }
        for (name, q) in &self.queues {
            if !q.items.is_empty() && !q.getters.is_empty() {
                return Err(format!("queue `{name}` has items and waiting getters"));
            }
            if !q.putters.is_empty() && (q.bound == 0 || q.items.len() < q.bound as usize) {
                return Err(format!("queue `{name}` has room and waiting putters"));
            }
            let n = out.get(name.as_str()).copied().unwrap_or(0);
            if q.out != n {
                return Err(format!("queue `{name}` counts {} out, {n} entries", q.out));
            }
            self.check_waiters(q.getters.iter(), |w| matches!(w, Wait::Get(x) if x == name))?;
            self.check_waiters(
                q.putters.iter().map(|(k, _)| k),
                |w| matches!(w, Wait::Put(x) if x == name),
            )?;
        }
        for (name, e) in &self.events {
            if e.set && !e.waiters.is_empty() {
                return Err(format!("event `{name}` is set and has waiters"));
            }
            self.check_waiters(
                e.waiters.iter(),
                |w| matches!(w, Wait::Event(x) if x == name),
            )?;
        }
        for (name, v) in &self.vars {
            if v.value.is_some() && !v.waiters.is_empty() {
                return Err(format!("variable `{name}` is set and has waiters"));
            }
            self.check_waiters(v.waiters.iter(), |w| matches!(w, Wait::Var(x) if x == name))?;
        }
        for (name, b) in &self.barriers {
            if b.waiting.len() >= b.parties as usize {
                return Err(format!(
                    "barrier `{name}` of {} has {} waiting",
                    b.parties,
                    b.waiting.len()
                ));
            }
            self.check_waiters(
                b.waiting.iter(),
                |w| matches!(w, Wait::Barrier(x) if x == name),
            )?;
        }
        Ok(())
    }

    /// Every key of a list is a waiting entry for that list.
    fn check_waiters<'a>(
        &self,
        keys: impl Iterator<Item = &'a Key>,
        ours: impl Fn(&Wait) -> bool,
    ) -> Result<(), String> {
        for k in keys {
            match self.entries.get(k) {
                Some(Entry {
                    held: Held::Waiting(w),
                    ..
                }) if ours(w) => {}
                _ => return Err(format!("{k:?} is listed as waiting but is not")),
            }
        }
        Ok(())
    }

    /// Rule 4 of `cache.rs`: cached leases, their recalls and the
    /// variables they hold.
    fn check_cached(&self) -> Result<(), String> {
        let mut held = 0;
        for (k, s) in &self.sems {
            let Some(c) = &s.cache else { continue };
            let ok = matches!(self.entries.get(&c.key),
                Some(Entry { session, held: Held::Lease(x) }) if x == k && *session == SessionId::CACHE);
            if !ok {
                return Err(format!(
                    "lock `{}`'s cached lease {:?} is not held",
                    k.name, c.key
                ));
            }
            if !s.waiters.is_empty() && !c.recalled {
                return Err(format!(
                    "lock `{}` has waiters and was not recalled",
                    k.name
                ));
            }
            if let (Some(v), false) = (&c.var, c.invalidated) {
                held += 1;
                if self.owners.get(v) != Some(k) {
                    return Err(format!("variable `{v}` of lock `{}` has no owner", k.name));
                }
            }
        }
        if held != self.owners.len() {
            return Err(format!(
                "{} owned variables, {held} held",
                self.owners.len()
            ));
        }
        Ok(())
    }

    /// Waiting entry `k` is in the list `w` names, once.
    fn check_listed(&self, k: Key, w: &Wait) -> Result<(), String> {
        let n = match w {
            Wait::Sem(s, ..) => self
                .sems
                .get(s)
                .map_or(0, |s| s.waiters.iter().filter(|x| **x == k).count()),
            Wait::Get(q) => self
                .queues
                .get(q)
                .map_or(0, |q| q.getters.iter().filter(|x| **x == k).count()),
            Wait::Put(q) => self
                .queues
                .get(q)
                .map_or(0, |q| q.putters.iter().filter(|(x, _)| *x == k).count()),
            Wait::Event(e) => self
                .events
                .get(e)
                .map_or(0, |e| e.waiters.iter().filter(|x| **x == k).count()),
            Wait::Var(v) => self
                .vars
                .get(v)
                .map_or(0, |v| v.waiters.iter().filter(|x| **x == k).count()),
            Wait::Barrier(b) => self
                .barriers
                .get(b)
                .map_or(0, |b| b.waiting.iter().filter(|x| **x == k).count()),
            Wait::Next(sub) => match self.entries.get(&(k.0, *sub)) {
                Some(Entry {
                    held: Held::Sub(s), ..
                }) => usize::from(s.getter == Some(k.1)),
                _ => 0,
            },
        };
        if n == 1 {
            Ok(())
        } else {
            Err(format!("{k:?} waits ({w:?}) but is listed {n} times"))
        }
    }
}
