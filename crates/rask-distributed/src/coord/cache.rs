//! A worker's lease cache (sans IO): the worker's side of
//! `core/coord/cache.rs`. A worker keeps the lease of a lock its tasks use
//! (and the value of the variable read with it), so that a task that
//! takes the lock after another task of the same worker gave it back does
//! so here, without a round trip, until the scheduler recalls it.
//!
//! Rules:
//! 1. Only locks are cached (`Acquire`/`AcquireRead` of one permit in the
//!    lock namespace). A task's request for a lock this worker has no
//!    lease of goes to the scheduler as `CacheAcquire`, in the line with
//!    every other acquirer; its grant makes the lease the worker's, held
//!    first by that task. One lease (or request for one) per lock at a
//!    time: a task asking while another task of this worker holds it, or
//!    while the lease is being asked for, sends its request on unchanged
//!    (a lease of its own session, which recalls this worker's).
//! 2. A task's request is served here when the lease is here and nobody
//!    holds it, and, for `AcquireRead`, the lease holds that variable's
//!    value; and unless it was recalled and [`SLICE`] has passed since the
//!    lease came (then it is given back, and the request goes to the
//!    scheduler as in rule 1, behind those who wait).
//! 3. Writes: `SetRelease` under a lease held here updates the value kept
//!    here and sends a fenced `SetHeld` to the scheduler; it may ride with
//!    the worker's next message (the worker sends it within a few
//!    milliseconds in any case), always before the lease's return and
//!    before anything the task says afterwards, so whoever learns anything
//!    from this worker, or gets the lock next, sees the write.
//! 4. Recall: a recall notice makes the lease go back when nobody here
//!    holds it: at once, or at the holder's release if [`SLICE`] has passed
//!    since the lease came; a release within the slice keeps it for the
//!    rest of the slice (the next local acquire may use it) and asks for a
//!    [`LeaseCache::tick`] at the slice's end, which gives back an idle
//!    recalled lease. A notice with `invalidate` (someone else wrote the
//!    variable), or a task of this worker deleting it (`DelVar`), drops
//!    the value: the lease goes back at the next release. A task of this
//!    worker setting it (`SetVar`) updates the value kept here, and the
//!    write goes out at once as a `SetHeld` under the lease (a plain
//!    `SetVar` would make the scheduler take the copy for stale). A notice with `now` (someone tries the lock) is answered
//!    at once: the lease if nobody here holds it, else `CacheBusy`.
//! 5. A task's session end releases what it holds here (nothing written)
//!    and abandons its requests for a lease; an abandoned request, granted
//!    later, leaves the lease here idle (a `Release` sent for it could
//!    cross the grant and free a lease this worker then believes it
//!    holds). The worker's death releases everything at the scheduler.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::proto::{CoordAnswer, CoordOp, CoordReply, CoordRequest, ReqId, SessionId};

use super::Answer;

/// How long a lease stays for this worker's tasks after it came, even if
/// recalled (rule 4): the fairness bound a waiter on another worker sees,
/// besides one critical section and the hand-over.
pub const SLICE: Duration = Duration::from_micros(200);

/// What handling a request or a reply asks the worker to do.
#[derive(Debug, Default)]
pub struct Out {
    /// Messages for the scheduler, in this order; `true`: send now,
    /// `false`: may ride with the next message (rule 3).
    pub send: Vec<(CoordRequest, bool)>,
    /// The request's answer, given here (nothing was sent for it).
    pub answer: Option<Answer>,
    /// Call [`LeaseCache::tick`] at this time.
    pub tick_at: Option<Instant>,
}

impl Out {
    fn say(&mut self, op: CoordOp, now: bool) {
        let r = CoordRequest {
            req: ReqId(0),
            session: SessionId::CACHE,
            timeout_ms: None,
            op,
        };
        self.send.push((r, now));
    }
}

/// A lease held here.
#[derive(Debug)]
struct Lease {
    /// The `CacheAcquire` request's number: the lease's name at the
    /// scheduler.
    req: ReqId,
    var: Option<String>,
    /// The variable's value (`None` inside: unset); `None`: not held.
    value: Option<Option<Vec<u8>>>,
    /// The local request holding it, and its session.
    holder: Option<(SessionId, ReqId)>,
    recalled: bool,
    /// Go back at the next release, slice or not (the value is stale).
    done: bool,
    since: Instant,
}

#[derive(Debug)]
enum State {
    Asking(ReqId),
    Held(Lease),
}

/// A request for a lease, in flight.
#[derive(Debug)]
struct Asking {
    name: String,
    var: Option<String>,
    session: SessionId,
    /// Released or its session ended before the grant (rule 5).
    gone: bool,
}

/// The leases of one worker (module docs).
#[derive(Debug, Default)]
pub struct LeaseCache {
    locks: HashMap<String, State>,
    asking: HashMap<ReqId, Asking>,
    /// Lock names by lease number and by local holder.
    by_lease: HashMap<ReqId, String>,
    holders: HashMap<ReqId, String>,
}

impl LeaseCache {
    /// An empty cache.
    pub fn new() -> LeaseCache {
        LeaseCache::default()
    }

    /// Routes a task's request `r` made at `now`: answered here, or sent
    /// (as is, or as a `CacheAcquire`), with whatever else must go first.
    pub fn request(&mut self, r: CoordRequest, now: Instant, out: &mut Out) {
        match &r.op {
            CoordOp::Acquire {
                name,
                lock: true,
                permits: 1,
            } => {
                let name = name.clone();
                return self.acquire(r, name, None, now, out);
            }
            CoordOp::AcquireRead {
                name,
                lock: true,
                permits: 1,
                var,
            } => {
                let (name, var) = (name.clone(), Some(var.clone()));
                return self.acquire(r, name, var, now, out);
            }
            CoordOp::Release { req } | CoordOp::SetRelease { req, .. } if self.mine(*req) => {
                let req = *req;
                let write = match r.op {
                    CoordOp::SetRelease { var, value, .. } => Some((var, value)),
                    _ => None,
                };
                return self.release(req, write, now, out);
            }
            CoordOp::SetVar { name, .. } if self.holds_value(name) => {
                let CoordOp::SetVar { name, value } = r.op else {
                    return;
                };
                return self.write_held(name, value, out);
            }
            CoordOp::SetVar { name, .. } | CoordOp::DelVar { name } => self.stale(name),
            CoordOp::EndSession => self.end_session(r.session, now, out),
            _ => {}
        }
        out.send.push((r, true));
    }

    /// Rules 1 and 2.
    fn acquire(
        &mut self,
        r: CoordRequest,
        name: String,
        var: Option<String>,
        now: Instant,
        out: &mut Out,
    ) {
        match self.locks.get_mut(&name) {
            Some(State::Held(l)) if l.holder.is_none() => {
                let fits = var.is_none() || (l.var == var && l.value.is_some());
                let stays = !l.recalled || (!l.done && now < l.since + SLICE);
                if fits && stays {
                    l.holder = Some((r.session, r.req));
                    self.holders.insert(r.req, name);
                    out.answer = Some(Ok(match var {
                        None => CoordAnswer::Granted,
                        Some(_) => CoordAnswer::GrantedValue(l.value.clone().flatten()),
                    }));
                    return;
                }
                self.give_back(&name, out);
            }
            Some(_) => return out.send.push((r, true)),
            None => {}
        }
        self.locks.insert(name.clone(), State::Asking(r.req));
        let ask = CoordRequest {
            req: r.req,
            session: SessionId::CACHE,
            timeout_ms: r.timeout_ms,
            op: CoordOp::CacheAcquire {
                name: name.clone(),
                var: var.clone(),
            },
        };
        self.asking.insert(
            r.req,
            Asking {
                name,
                var,
                session: r.session,
                gone: false,
            },
        );
        out.send.push((ask, true));
    }

    /// Whether request `req` holds a lease here or asks for one.
    fn mine(&self, req: ReqId) -> bool {
        self.holders.contains_key(&req) || self.asking.contains_key(&req)
    }

    /// A release (with a write, for `SetRelease`) of local request `req`.
    fn release(
        &mut self,
        req: ReqId,
        write: Option<(String, Vec<u8>)>,
        now: Instant,
        out: &mut Out,
    ) {
        if let Some(a) = self.asking.get_mut(&req) {
            a.gone = true;
            return;
        }
        let Some(name) = self.holders.remove(&req) else {
            return;
        };
        let Some(State::Held(l)) = self.locks.get_mut(&name) else {
            return;
        };
        l.holder = None;
        if let Some((var, value)) = write {
            if l.var.as_deref() == Some(var.as_str()) && l.value.is_some() {
                l.value = Some(Some(value.clone()));
            }
            out.say(
                CoordOp::SetHeld {
                    req: l.req,
                    var,
                    value,
                },
                false,
            );
        }
        self.after_release(&name, now, out);
    }

    /// Lease `name` has no holder now: it goes back if recalled and its
    /// slice is over (or its value is stale), else a tick is asked for at
    /// the slice's end (rule 4).
    fn after_release(&mut self, name: &str, now: Instant, out: &mut Out) {
        let Some(State::Held(l)) = self.locks.get(name) else {
            return;
        };
        if !l.recalled && !l.done {
            return;
        }
        let end = l.since + SLICE;
        if l.done || now >= end {
            self.give_back(name, out);
        } else {
            out.tick_at = Some(out.tick_at.map_or(end, |t| t.min(end)));
        }
    }

    /// Sends idle lease `name` back.
    fn give_back(&mut self, name: &str, out: &mut Out) {
        if let Some(State::Held(l)) = self.locks.remove(name) {
            self.by_lease.remove(&l.req);
            out.say(CoordOp::Release { req: l.req }, true);
        }
    }

    /// Whether a lease here holds variable `name`'s value.
    fn holds_value(&self, name: &str) -> bool {
        self.locks.values().any(
            |s| matches!(s, State::Held(l) if l.var.as_deref() == Some(name) && l.value.is_some()),
        )
    }

    /// A task of this worker sets variable `name`, whose value a lease
    /// here holds: the copy takes the value, and the write goes out at
    /// once under the lease (`SetHeld`), so the scheduler does not take
    /// the copy for stale (rule 3).
    fn write_held(&mut self, name: String, value: Vec<u8>, out: &mut Out) {
        for s in self.locks.values_mut() {
            if let State::Held(l) = s {
                if l.var.as_deref() == Some(name.as_str()) && l.value.is_some() {
                    l.value = Some(Some(value.clone()));
                    let op = CoordOp::SetHeld {
                        req: l.req,
                        var: name,
                        value,
                    };
                    return out.say(op, true);
                }
            }
        }
    }

    /// A task of this worker deletes variable `name` (or sets it while no
    /// lease holds its value): a value of it held here is stale (rule 4).
    fn stale(&mut self, name: &str) {
        for s in self.locks.values_mut() {
            if let State::Held(l) = s {
                if l.var.as_deref() == Some(name) {
                    l.value = None;
                    l.done = true;
                }
            }
        }
    }

    /// Session `session` ended (rule 5).
    fn end_session(&mut self, session: SessionId, now: Instant, out: &mut Out) {
        for a in self.asking.values_mut() {
            if a.session == session {
                a.gone = true;
            }
        }
        let mine: Vec<ReqId> = self
            .locks
            .values()
            .filter_map(|s| match s {
                State::Held(Lease {
                    holder: Some((s, req)),
                    ..
                }) if *s == session => Some(*req),
                _ => None,
            })
            .collect();
        for req in mine {
            self.release(req, None, now, out);
        }
        self.tick(now, out);
    }

    /// A reply from the scheduler: `true` if it goes on to the request's
    /// ticket (a recall notice does not). A grant is recorded before its
    /// ticket is filled, so the holder's release finds it.
    pub fn reply(&mut self, reply: &CoordReply, now: Instant, out: &mut Out) -> bool {
        if let Ok(CoordAnswer::Recall { invalidate, now }) = &reply.result {
            self.recalled(reply.req, *invalidate, *now, out);
            return false;
        }
        let Some(a) = self.asking.remove(&reply.req) else {
            return true;
        };
        let value = match &reply.result {
            Ok(CoordAnswer::Granted) => None,
            Ok(CoordAnswer::GrantedValue(v)) => Some(v.clone()),
            _ => {
                if matches!(self.locks.get(&a.name), Some(State::Asking(r)) if *r == reply.req) {
                    self.locks.remove(&a.name);
                }
                return true;
            }
        };
        let holder = (!a.gone).then_some((a.session, reply.req));
        if holder.is_some() {
            self.holders.insert(reply.req, a.name.clone());
        }
        self.by_lease.insert(reply.req, a.name.clone());
        let held = Lease {
            req: reply.req,
            value: if a.var.is_some() { value } else { None },
            var: a.var,
            holder,
            recalled: false,
            done: false,
            since: now,
        };
        self.locks.insert(a.name, State::Held(held));
        true
    }

    /// A recall notice for lease `lease` (rule 4); with `now`, someone
    /// tries the lock: it is told at once if a task here holds it.
    fn recalled(&mut self, lease: ReqId, invalidate: bool, now: bool, out: &mut Out) {
        let Some(name) = self.by_lease.get(&lease).cloned() else {
            return;
        };
        let Some(State::Held(l)) = self.locks.get_mut(&name) else {
            return;
        };
        l.recalled = true;
        if invalidate {
            l.value = None;
            l.done = true;
        }
        if l.holder.is_none() {
            self.give_back(&name, out);
        } else if now {
            out.say(CoordOp::CacheBusy { req: l.req }, true);
        }
    }

    /// Gives back idle recalled leases whose slice is over; asks for the
    /// next tick if some are still in their slice.
    pub fn tick(&mut self, now: Instant, out: &mut Out) {
        let mut back = Vec::new();
        for (name, s) in &self.locks {
            let State::Held(l) = s else { continue };
            if !(l.recalled || l.done) || l.holder.is_some() {
                continue;
            }
            let end = l.since + SLICE;
            if l.done || now >= end {
                back.push(name.clone());
            } else {
                out.tick_at = Some(out.tick_at.map_or(end, |t| t.min(end)));
            }
        }
        for name in back {
            self.give_back(&name, out);
        }
    }

    /// The link closed: nothing is held any more.
    pub fn clear(&mut self) {
        *self = LeaseCache::default();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use crate::proto::req;

    fn acquire_read(r: u64, session: u64) -> CoordRequest {
        let op = CoordOp::AcquireRead {
            name: "l".into(),
            lock: true,
            permits: 1,
            var: "v".into(),
        };
        req(r, session, op)
    }

    #[test]
    fn a_tasks_set_of_the_held_variable_is_written_under_the_lease() {
        let (mut c, now) = (LeaseCache::new(), Instant::now());
        let mut out = Out::default();
        c.request(acquire_read(1, 1), now, &mut out);
        assert!(matches!(out.send[0].0.op, CoordOp::CacheAcquire { .. }));
        let grant = CoordReply {
            req: ReqId(1),
            result: Ok(CoordAnswer::GrantedValue(Some(vec![1]))),
        };
        assert!(c.reply(&grant, now, &mut Out::default()));
        // The holder sets the variable with a plain `set`, then releases.
        let mut out = Out::default();
        let set = CoordOp::SetVar {
            name: "v".into(),
            value: vec![2],
        };
        c.request(req(2, 1, set), now, &mut out);
        let sent: Vec<_> = out.send.iter().map(|(r, now)| (&r.op, *now)).collect();
        assert!(
            matches!(sent[..], [(CoordOp::SetHeld { req: ReqId(1), .. }, true)]),
            "{sent:?}"
        );
        c.request(
            req(3, 1, CoordOp::Release { req: ReqId(1) }),
            now,
            &mut Out::default(),
        );
        // The next section reads it here.
        let mut out = Out::default();
        c.request(acquire_read(4, 2), now, &mut out);
        assert!(out.send.is_empty());
        assert_eq!(
            out.answer,
            Some(Ok(CoordAnswer::GrantedValue(Some(vec![2]))))
        );
        // A delete makes the copy stale: the lease goes back at the release.
        let del = CoordOp::DelVar { name: "v".into() };
        c.request(req(5, 2, del), now, &mut Out::default());
        let mut out = Out::default();
        c.request(req(6, 2, CoordOp::Release { req: ReqId(4) }), now, &mut out);
        let sent: Vec<_> = out.send.iter().map(|(r, _)| &r.op).collect();
        assert!(
            matches!(sent[..], [CoordOp::Release { req: ReqId(1) }]),
            "{sent:?}"
        );
    }
}
