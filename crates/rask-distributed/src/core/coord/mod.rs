//! Coordination primitives as a sans-IO state machine: locks and
//! semaphores, queues, events, variables, barriers and pub/sub topics,
//! named by strings, shared by every task and client of one scheduler. The
//! scheduler's [`Core`](super::Core) drives one [`Coord`]; the in-process
//! executors (`Client::threads()`, `sync`) drive another behind a mutex, so
//! the rules below hold on every executor. The messages and the exchange's
//! rules are in `proto/coord.rs`.
//!
//! Files: `mod.rs` (entries, sessions, deadlines, the entry points),
//! `sem.rs` (locks and semaphores), `queue.rs`, `signal.rs` (events,
//! variables, barriers), `topic.rs` (pub/sub), `check.rs` (the
//! invariants), `tests.rs` (a simulator).
//!
//! # Who owns what
//! Every request that waits or obtains something is an *entry*, keyed by
//! `(Peer, ReqId)` (a worker's or client's connection, and the request's
//! number on it), and belongs to a session (a task attempt on a worker):
//! - `Waiting(w)`: queued in exactly one object's wait list (`w` says
//!   which), with an optional deadline in the deadline heap;
//! - `Lease(k)`: one permit of semaphore `k`;
//! - `Item`: a queue item given out and not yet acknowledged (its bytes
//!   kept here, so it can go back);
//! - `Sub`: a subscription to a topic, with the messages not yet taken.
//!
//! Releasing an entry (`Release`, its session's end, its peer's death)
//! undoes it: a waiter leaves its list, a permit goes to the next waiter,
//! an item goes back to the *front* of its queue (so it is delivered at
//! least once: at-least-once delivery), a subscription is dropped.
//!
//! # Rules
//! 1. FIFO: permits, queue items and queue space go to waiters in the
//!    order their requests arrived; nobody jumps a waiter.
//! 2. A request is answered once: obtained, `TimedOut` (its deadline passed
//!    while it waited), or refused (`Conflict`, `Closed`). A released or
//!    abandoned request is not answered.
//! 3. Objects exist while they matter: a semaphore while a permit is held
//!    or awaited, a queue while it holds, lends or awaits anything, an
//!    event while set or awaited, a topic while subscribed. Variables and
//!    barriers (their generation count) are kept.
//!
//! # Invariants (checked by [`Coord::check`] in tests)
//! - A semaphore's `held` is the number of `Lease` entries naming it, at
//!   most its permits; it has waiters only when every permit is held.
//! - A queue with items has no waiting getter; one with waiting putters is
//!   full (at least its bound); its `out` counts the `Item` entries naming it.
//! - A set event and a set variable have no waiters; a barrier has fewer
//!   waiting parties than its size.
//! - Every `Waiting` entry is in the list its `Wait` names, once, and every
//!   list member is such an entry; a subscription with buffered messages
//!   has no waiting `Next`.

mod cache;
mod check;
mod queue;
mod sem;
mod signal;
mod topic;

pub use topic::SUB_BUFFER;

#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use crate::proto::{CoordAnswer, CoordFail, CoordOp, CoordReply, CoordRequest, ReqId, SessionId};

/// The connection a request came on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Peer {
    /// A worker (its tasks' requests).
    Worker(u32),
    /// A client (or the single requester of an in-process hub).
    Client(u32),
}

/// Where answers go.
pub trait Replies {
    /// Queues `reply` for `to`.
    fn reply(&mut self, to: Peer, reply: CoordReply);
}

/// An entry's key: the peer and its request's number.
type Key = (Peer, ReqId);

/// A semaphore's name in its namespace (locks have their own).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SemKey {
    lock: bool,
    name: String,
}

/// Which list a waiting entry is in.
#[derive(Clone, Debug)]
enum Wait {
    /// A permit; with the variable to read when it is granted
    /// (`AcquireRead`), whether it is for a worker's lease cache
    /// (`CacheAcquire`), and whether it only tries (a zero timeout waiting
    /// for a worker's cache to say whether the lock is free: `cache.rs`).
    Sem(SemKey, Option<String>, bool, bool),
    Get(String),
    Put(String),
    Event(String),
    Var(String),
    Barrier(String),
    /// A `Next` on this peer's subscription.
    Next(ReqId),
}

#[derive(Debug)]
enum Held {
    Waiting(Wait),
    Lease(SemKey),
    Item { queue: String, item: queue::Item },
    Sub(topic::Sub),
}

#[derive(Debug)]
struct Entry {
    session: SessionId,
    held: Held,
}

/// One request being handled: who asked, and how long it may wait.
#[derive(Clone, Copy)]
struct Ctx {
    from: Peer,
    req: ReqId,
    session: SessionId,
    timeout_ms: Option<u64>,
    now: Instant,
}

impl Ctx {
    fn key(&self) -> Key {
        (self.from, self.req)
    }
}

/// Stale deadlines are swept once the heap holds this many and twice the
/// entries.
const SWEEP_AT: usize = 4096;

/// The coordination state of one scheduler (or one in-process hub).
#[derive(Debug, Default)]
pub struct Coord {
    entries: BTreeMap<Key, Entry>,
    /// Deadlines of waiting entries (lazily cleaned: an entry may have been
    /// answered since).
    deadlines: BinaryHeap<Reverse<(Instant, Key)>>,
    sems: HashMap<SemKey, sem::Sem>,
    queues: HashMap<String, queue::Queue>,
    events: HashMap<String, signal::Event>,
    vars: HashMap<String, signal::Var>,
    barriers: HashMap<String, signal::Barrier>,
    topics: HashMap<String, topic::Topic>,
    /// Variables whose value a worker's cached lease holds, and that
    /// lock (`cache.rs`).
    owners: HashMap<String, SemKey>,
    /// Leases granted to workers' caches so far (`cache.rs`).
    cache_grants: u64,
}

impl Coord {
    /// An empty state.
    pub fn new() -> Coord {
        Coord::default()
    }

    /// Handles request `r` from `from`, received at `now`.
    pub fn request(&mut self, from: Peer, r: CoordRequest, now: Instant, out: &mut impl Replies) {
        let cx = Ctx {
            from,
            req: r.req,
            session: r.session,
            timeout_ms: r.timeout_ms,
            now,
        };
        if r.op.answered() && self.entries.contains_key(&cx.key()) {
            let why = format!("request {} was already made on this connection", r.req.0);
            return answer(out, &cx, Err(CoordFail::Conflict(why)));
        }
        match r.op {
            CoordOp::Acquire {
                name,
                lock,
                permits,
            } => self.acquire(&cx, SemKey { lock, name }, permits, None, false, out),
            CoordOp::AcquireRead {
                name,
                lock,
                permits,
                var,
            } => self.acquire(&cx, SemKey { lock, name }, permits, Some(var), false, out),
            CoordOp::CacheAcquire { name, var } => self.cache_acquire(cx, name, var, out),
            CoordOp::SetHeld { req, var, value } => self.set_held((from, req), var, value, out),
            CoordOp::CacheBusy { req } => self.cache_busy((from, req), out),
            CoordOp::Release { req } => self.release((from, req), out),
            CoordOp::SetRelease { req, var, value } => {
                self.set_release((from, req), var, value, out)
            }
            CoordOp::Put { queue, item, bound } => self.put(&cx, queue, item, bound, out),
            CoordOp::Get { queue } => self.get(&cx, queue, out),
            CoordOp::Ack { req } => self.ack((from, req)),
            CoordOp::Len { queue } => {
                let n = self.queues.get(&queue).map_or(0, |q| q.len());
                answer(out, &cx, Ok(CoordAnswer::Count(n as u64)));
            }
            CoordOp::SetEvent { name } => self.set_event(name, out),
            CoordOp::ClearEvent { name } => self.clear_event(&name),
            CoordOp::WaitEvent { name } => self.wait_event(&cx, name, out),
            CoordOp::IsSet { name } => {
                let set = self.events.get(&name).is_some_and(|e| e.set);
                answer(out, &cx, Ok(CoordAnswer::Flag(set)));
            }
            CoordOp::SetVar { name, value } => self.set_var(name, value, out),
            CoordOp::GetVar { name } => {
                let v = self.var(&name).cloned();
                answer(out, &cx, Ok(CoordAnswer::Value(v)));
            }
            CoordOp::WaitVar { name } => self.wait_var(&cx, name, out),
            CoordOp::DelVar { name } => self.del_var(&name, out),
            CoordOp::Subscribe { topic } => self.subscribe(&cx, topic, out),
            CoordOp::Publish { topic, msg } => self.publish(&topic, msg, out),
            CoordOp::Next { sub } => self.next(&cx, sub, out),
            CoordOp::Arrive { name, parties } => self.arrive(&cx, name, parties, out),
            CoordOp::EndSession => self.end_session(from, r.session, out),
        }
    }

    /// Everything session `session` of `from` holds or waits for is
    /// released (the task attempt ended).
    pub fn end_session(&mut self, from: Peer, session: SessionId, out: &mut impl Replies) {
        let mine: Vec<Key> = self
            .entries
            .range((from, ReqId(0))..=(from, ReqId(u64::MAX)))
            .filter(|(_, e)| e.session == session)
            .map(|(k, _)| *k)
            .collect();
        self.release_all(mine, out);
    }

    /// `peer` is gone (a worker died, a client disconnected): everything
    /// it held is released, its waits are dropped.
    pub fn peer_gone(&mut self, peer: Peer, out: &mut impl Replies) {
        let mine: Vec<Key> = self
            .entries
            .range((peer, ReqId(0))..=(peer, ReqId(u64::MAX)))
            .map(|(k, _)| *k)
            .collect();
        self.release_all(mine, out);
    }

    /// Releases `keys`: the waits first, so that what the holdings free
    /// goes to others, not to a request that is leaving too.
    fn release_all(&mut self, keys: Vec<Key>, out: &mut impl Replies) {
        let (waits, holds): (Vec<Key>, Vec<Key>) = keys.into_iter().partition(|k| {
            matches!(
                self.entries.get(k),
                Some(Entry {
                    held: Held::Waiting(_),
                    ..
                })
            )
        });
        for k in waits.into_iter().chain(holds) {
            self.release(k, out);
        }
    }

    /// Answers `TimedOut` to every wait whose deadline is `now` or earlier.
    pub fn tick(&mut self, now: Instant, out: &mut impl Replies) {
        while let Some(Reverse((at, key))) = self.deadlines.peek().cloned() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            if !matches!(
                self.entries.get(&key),
                Some(Entry {
                    held: Held::Waiting(_),
                    ..
                })
            ) {
                continue;
            }
            if let Some(Entry {
                held: Held::Waiting(w),
                ..
            }) = self.entries.remove(&key)
            {
                self.unpark(key, w, out);
                out.reply(
                    key.0,
                    CoordReply {
                        req: key.1,
                        result: Err(CoordFail::TimedOut),
                    },
                );
            }
        }
    }

    /// The earliest deadline of a waiting request (perhaps one answered
    /// since: a tick then finds nothing to do).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((at, _))| *at)
    }

    /// The value of variable `name` (shared with `FromClient::GetVar`).
    pub fn var(&self, name: &str) -> Option<&Vec<u8>> {
        self.vars.get(name).and_then(|v| v.value.as_ref())
    }

    /// Leases granted to workers' caches so far: how often a cached lock
    /// moved (the client reads it as variable `rask:leases`).
    pub fn cache_grants(&self) -> u64 {
        self.cache_grants
    }

    /// Requests waiting or holding something, for tests and metrics.
    pub fn entries(&self) -> usize {
        self.entries.len()
    }

    /// Undoes entry `key` (module docs): no answer is sent for it.
    fn release(&mut self, key: Key, out: &mut impl Replies) {
        let Some(e) = self.entries.remove(&key) else {
            return;
        };
        match e.held {
            Held::Waiting(w) => self.unpark(key, w, out),
            Held::Lease(k) => self.sem_release(k, key, out),
            Held::Item { queue, item } => self.requeue(queue, item, e.session, out),
            Held::Sub(sub) => self.unsubscribe(key, sub, out),
        }
    }

    /// Parks request `cx` as waiting in `w`'s list (the caller adds it
    /// there when this returns `true`); with a zero timeout it is answered
    /// `TimedOut` instead.
    fn park(&mut self, cx: &Ctx, w: Wait, out: &mut impl Replies) -> bool {
        let deadline = match cx.timeout_ms {
            Some(0) => {
                answer(out, cx, Err(CoordFail::TimedOut));
                return false;
            }
            Some(ms) => Some(cx.now + Duration::from_millis(ms)),
            None => None,
        };
        self.entries.insert(
            cx.key(),
            Entry {
                session: cx.session,
                held: Held::Waiting(w),
            },
        );
        if let Some(at) = deadline {
            self.deadlines.push(Reverse((at, cx.key())));
            if self.deadlines.len() > SWEEP_AT && self.deadlines.len() > 2 * self.entries.len() {
                let entries = &self.entries;
                self.deadlines.retain(|Reverse((_, k))| {
                    matches!(
                        entries.get(k),
                        Some(Entry {
                            held: Held::Waiting(_),
                            ..
                        })
                    )
                });
            }
        }
        true
    }

    /// Takes the waiting entry `w` out of its list (the entry is already
    /// removed or being replaced).
    fn unpark(&mut self, key: Key, w: Wait, out: &mut impl Replies) {
        match w {
            Wait::Sem(k, _, _, _) => {
                if let Some(s) = self.sems.get_mut(&k) {
                    s.waiters.retain(|x| *x != key);
                }
                // Nobody waits while a permit is free; but if this waiter
                // was first, the next may fit now (it cannot: kept simple
                // and safe by granting what fits).
                self.grant(k, out);
            }
            Wait::Get(q) => {
                if let Some(qu) = self.queues.get_mut(&q) {
                    qu.getters.retain(|x| *x != key);
                }
                self.tidy_queue(&q);
            }
            Wait::Put(q) => {
                if let Some(qu) = self.queues.get_mut(&q) {
                    qu.putters.retain(|(x, _)| *x != key);
                }
                self.tidy_queue(&q);
            }
            Wait::Event(n) => {
                if let Some(e) = self.events.get_mut(&n) {
                    e.waiters.retain(|x| *x != key);
                }
                self.tidy_event(&n);
            }
            Wait::Var(n) => {
                if let Some(v) = self.vars.get_mut(&n) {
                    v.waiters.retain(|x| *x != key);
                    if v.value.is_none() && v.waiters.is_empty() {
                        self.vars.remove(&n);
                    }
                }
            }
            Wait::Barrier(n) => {
                if let Some(b) = self.barriers.get_mut(&n) {
                    b.waiting.retain(|x| *x != key);
                }
            }
            Wait::Next(sub) => {
                if let Some(Entry {
                    held: Held::Sub(s), ..
                }) = self.entries.get_mut(&(key.0, sub))
                {
                    s.getter = None;
                }
            }
        }
    }

    /// Turns waiting entry `key` into `held` and answers it.
    fn fulfil(&mut self, key: Key, held: Option<Held>, a: CoordAnswer, out: &mut impl Replies) {
        match held {
            Some(h) => {
                if let Some(e) = self.entries.get_mut(&key) {
                    e.held = h;
                }
            }
            None => {
                self.entries.remove(&key);
            }
        }
        out.reply(
            key.0,
            CoordReply {
                req: key.1,
                result: Ok(a),
            },
        );
    }
}

/// Answers the request being handled.
fn answer(out: &mut impl Replies, cx: &Ctx, result: Result<CoordAnswer, CoordFail>) {
    out.reply(
        cx.from,
        CoordReply {
            req: cx.req,
            result,
        },
    );
}
