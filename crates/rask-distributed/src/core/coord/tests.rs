//! The coordination state machine alone (unit tests of each primitive),
//! then a simulator: peers making random requests, sessions ending and
//! peers dying at random, time passing, every message encoded and decoded
//! as on the wire, the invariants checked after every step and the
//! promises (at most `permits` holders, FIFO grants, no queue item lost,
//! none acknowledged twice) checked against what the peers saw; the peers
//! also take lock `c0` for their caches (`CacheAcquire`), write its
//! variable with `SetHeld` and answer the recalls that ask about a try
//! (`Release` or `CacheBusy`). Kept leases have a simulator of their own,
//! with the workers' real caches (`tests/cache.rs`). Last, the same
//! through the scheduler's `Core` (`tests/through_core.rs`).
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use super::*;

mod cache;
mod combined;

/// Encodes and decodes, as the wire would.
fn wire<T: serde::Serialize + serde::de::DeserializeOwned>(m: &T) -> T {
    rask_core::format::from_slice(&rask_core::format::to_vec(m).unwrap()).unwrap()
}

#[derive(Default)]
struct Out(Vec<(Peer, CoordReply)>);

impl Replies for Out {
    fn reply(&mut self, to: Peer, reply: CoordReply) {
        self.0.push((to, wire(&reply)));
    }
}

impl Out {
    fn take(&mut self) -> Vec<(Peer, CoordReply)> {
        std::mem::take(&mut self.0)
    }
    /// The one answer to `req` of `p`, if any.
    fn answer(&mut self, p: Peer, req: u64) -> Option<Result<CoordAnswer, CoordFail>> {
        let i = self
            .0
            .iter()
            .position(|(to, r)| *to == p && r.req.0 == req)?;
        Some(self.0.remove(i).1.result)
    }
}

const A: Peer = Peer::Worker(0);
const B: Peer = Peer::Worker(1);
const C: Peer = Peer::Client(0);

struct T {
    c: Coord,
    out: Out,
    now: Instant,
}

impl T {
    fn new() -> T {
        T {
            c: Coord::new(),
            out: Out::default(),
            now: Instant::now(),
        }
    }
    fn req(&mut self, p: Peer, req: u64, session: u64, timeout_ms: Option<u64>, op: CoordOp) {
        let r = wire(&CoordRequest {
            req: ReqId(req),
            session: SessionId(session),
            timeout_ms,
            op,
        });
        self.c.request(p, r, self.now, &mut self.out);
        self.c.check().unwrap();
    }
    fn op(&mut self, p: Peer, req: u64, op: CoordOp) {
        self.req(p, req, 1, None, op);
    }
    fn answer(&mut self, p: Peer, req: u64) -> Option<Result<CoordAnswer, CoordFail>> {
        self.out.answer(p, req)
    }
    fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.c.tick(self.now, &mut self.out);
        self.c.check().unwrap();
    }
}

fn lock(name: &str) -> CoordOp {
    CoordOp::Acquire {
        name: name.into(),
        lock: true,
        permits: 1,
    }
}

fn sem(name: &str, permits: u32) -> CoordOp {
    CoordOp::Acquire {
        name: name.into(),
        lock: false,
        permits,
    }
}

const GRANTED: Option<Result<CoordAnswer, CoordFail>> = Some(Ok(CoordAnswer::Granted));

#[test]
fn a_lock_goes_to_waiters_in_order_and_a_dead_holder_frees_it() {
    let mut t = T::new();
    t.op(A, 1, lock("x"));
    assert_eq!(t.answer(A, 1), GRANTED);
    t.op(B, 1, lock("x"));
    t.op(C, 1, lock("x"));
    t.op(B, 2, lock("y")); // another lock: free
    assert_eq!(t.answer(B, 2), GRANTED);
    assert!(t.out.take().is_empty(), "B and C wait for x");
    t.op(A, 2, CoordOp::Release { req: ReqId(1) });
    assert_eq!(t.answer(B, 1), GRANTED);
    assert!(t.out.take().is_empty());
    // B dies holding x (and y): C gets x; y is forgotten.
    t.c.peer_gone(B, &mut t.out);
    t.c.check().unwrap();
    assert_eq!(t.answer(C, 1), GRANTED);
    t.op(C, 2, CoordOp::Release { req: ReqId(1) });
    assert_eq!(t.c.entries(), 0);
    assert!(t.c.sems.is_empty(), "idle locks are forgotten");
}

#[test]
fn lock_and_semaphore_namespaces_and_permits() {
    let mut t = T::new();
    t.op(A, 1, sem("s", 2));
    t.op(B, 1, sem("s", 2));
    t.op(C, 1, sem("s", 2));
    assert_eq!(t.answer(A, 1), GRANTED);
    assert_eq!(t.answer(B, 1), GRANTED);
    assert_eq!(t.answer(C, 1), None, "the third waits");
    // A lock of the same name is another object.
    t.op(C, 2, lock("s"));
    assert_eq!(t.answer(C, 2), GRANTED);
    // Another size of the same semaphore is refused, naming both.
    t.op(C, 3, sem("s", 3));
    match t.answer(C, 3) {
        Some(Err(CoordFail::Conflict(why))) => assert!(why.contains("has 2 permits"), "{why}"),
        other => panic!("{other:?}"),
    }
    t.op(C, 4, sem("z", 0));
    assert!(matches!(t.answer(C, 4), Some(Err(CoordFail::Conflict(_)))));
    t.op(A, 2, CoordOp::Release { req: ReqId(1) });
    assert_eq!(t.answer(C, 1), GRANTED);
}

#[test]
fn waits_time_out_exactly_once_and_zero_means_try() {
    let mut t = T::new();
    t.op(A, 1, lock("x"));
    t.answer(A, 1);
    t.req(B, 1, 1, Some(0), lock("x"));
    assert_eq!(t.answer(B, 1), Some(Err(CoordFail::TimedOut)));
    t.req(B, 2, 1, Some(50), lock("x"));
    t.req(C, 1, 1, Some(80), lock("x"));
    assert_eq!(t.c.next_deadline(), Some(t.now + Duration::from_millis(50)));
    t.advance(49);
    assert!(t.out.take().is_empty());
    t.advance(1);
    assert_eq!(t.answer(B, 2), Some(Err(CoordFail::TimedOut)));
    assert!(t.out.take().is_empty());
    // Granted before its deadline: no time-out later.
    t.op(A, 2, CoordOp::Release { req: ReqId(1) });
    assert_eq!(t.answer(C, 1), GRANTED);
    t.advance(100);
    assert!(t.out.take().is_empty());
}

#[test]
fn queue_items_come_back_unless_acknowledged() {
    let mut t = T::new();
    let put = |q: &str, v: u8| CoordOp::Put {
        queue: q.into(),
        item: vec![v],
        bound: 0,
    };
    let get = |q: &str| CoordOp::Get { queue: q.into() };
    t.op(C, 1, put("q", 1));
    t.op(C, 2, put("q", 2));
    assert_eq!(t.answer(C, 1), Some(Ok(CoordAnswer::Done)));
    t.op(A, 1, get("q"));
    let item = |v: u8, redelivered| {
        Some(Ok(CoordAnswer::Item {
            bytes: vec![v],
            redelivered,
        }))
    };
    assert_eq!(t.answer(A, 1), item(1, 0));
    // A gives it back: first in line again, marked.
    t.op(A, 2, CoordOp::Release { req: ReqId(1) });
    t.req(B, 1, 7, None, get("q"));
    assert_eq!(t.answer(B, 1), item(1, 1));
    // B's session ends without an ack: back again.
    t.req(B, 2, 7, None, CoordOp::EndSession);
    t.req(B, 3, 1, None, get("q"));
    assert_eq!(t.answer(B, 3), item(1, 2));
    t.op(B, 4, CoordOp::Ack { req: ReqId(3) });
    t.op(B, 5, get("q"));
    assert_eq!(t.answer(B, 5), item(2, 0));
    // B dies with item 2: a waiting getter gets it at once.
    t.op(A, 3, get("q"));
    assert_eq!(t.answer(A, 3), None);
    t.c.peer_gone(B, &mut t.out);
    assert_eq!(t.answer(A, 3), item(2, 1));
    t.op(A, 4, CoordOp::Ack { req: ReqId(3) });
    t.op(A, 5, CoordOp::Len { queue: "q".into() });
    assert_eq!(t.answer(A, 5), Some(Ok(CoordAnswer::Count(0))));
    assert!(t.c.queues.is_empty(), "an idle queue is forgotten");
}

#[test]
fn a_bounded_queue_makes_putters_wait_in_order() {
    let mut t = T::new();
    let put = |v: u8, bound| CoordOp::Put {
        queue: "b".into(),
        item: vec![v],
        bound,
    };
    t.op(A, 1, put(1, 2));
    t.op(A, 2, put(2, 2));
    t.op(B, 1, put(3, 2));
    t.op(C, 1, put(4, 0)); // 0: whatever bound the queue has
    assert_eq!(t.answer(A, 2), Some(Ok(CoordAnswer::Done)));
    assert_eq!(t.answer(B, 1), None);
    t.op(C, 2, put(5, 3));
    assert!(matches!(t.answer(C, 2), Some(Err(CoordFail::Conflict(_)))));
    t.op(C, 3, CoordOp::Get { queue: "b".into() });
    t.op(C, 4, CoordOp::Ack { req: ReqId(3) });
    assert_eq!(t.answer(B, 1), Some(Ok(CoordAnswer::Done)));
    assert_eq!(t.answer(C, 1), None, "C's put still waits");
    t.c.peer_gone(C, &mut t.out);
    t.c.check().unwrap();
    let mut got = Vec::new();
    for r in 10..13 {
        t.op(A, r, CoordOp::Get { queue: "b".into() });
        if let Some(Ok(CoordAnswer::Item { bytes, .. })) = t.answer(A, r) {
            got.push(bytes[0]);
        }
        t.op(A, r + 100, CoordOp::Ack { req: ReqId(r) });
    }
    assert_eq!(got, [2, 3], "C's waiting put died with it");
}

#[test]
fn events_variables_barriers_and_topics() {
    let mut t = T::new();
    t.op(A, 1, CoordOp::WaitEvent { name: "e".into() });
    t.op(B, 1, CoordOp::IsSet { name: "e".into() });
    assert_eq!(t.answer(B, 1), Some(Ok(CoordAnswer::Flag(false))));
    t.op(C, 1, CoordOp::SetEvent { name: "e".into() });
    assert_eq!(t.answer(A, 1), Some(Ok(CoordAnswer::Done)));
    t.op(A, 2, CoordOp::WaitEvent { name: "e".into() });
    assert_eq!(t.answer(A, 2), Some(Ok(CoordAnswer::Done)));
    t.op(C, 2, CoordOp::ClearEvent { name: "e".into() });
    assert!(t.c.events.is_empty());

    t.op(A, 3, CoordOp::WaitVar { name: "v".into() });
    t.op(B, 2, CoordOp::GetVar { name: "v".into() });
    assert_eq!(t.answer(B, 2), Some(Ok(CoordAnswer::Value(None))));
    t.c.set_var("v".into(), vec![9], &mut t.out);
    assert_eq!(t.answer(A, 3), Some(Ok(CoordAnswer::Value(Some(vec![9])))));
    t.op(C, 3, CoordOp::DelVar { name: "v".into() });
    assert_eq!(t.c.var("v"), None);

    for (p, r) in [(A, 4), (B, 3)] {
        t.op(
            p,
            r,
            CoordOp::Arrive {
                name: "b".into(),
                parties: 3,
            },
        );
    }
    assert!(t.out.take().is_empty());
    t.op(
        C,
        4,
        CoordOp::Arrive {
            name: "b".into(),
            parties: 2,
        },
    );
    assert!(matches!(t.answer(C, 4), Some(Err(CoordFail::Conflict(_)))));
    t.op(
        C,
        5,
        CoordOp::Arrive {
            name: "b".into(),
            parties: 3,
        },
    );
    let passed = |leader| {
        Some(Ok(CoordAnswer::Passed {
            generation: 0,
            leader,
        }))
    };
    assert_eq!(t.answer(A, 4), passed(false));
    assert_eq!(t.answer(B, 3), passed(false));
    assert_eq!(t.answer(C, 5), passed(true));

    t.op(
        C,
        6,
        CoordOp::Publish {
            topic: "t".into(),
            msg: vec![0],
        },
    ); // nobody listens
    t.op(A, 5, CoordOp::Subscribe { topic: "t".into() });
    t.op(B, 4, CoordOp::Subscribe { topic: "t".into() });
    t.out.take();
    t.op(A, 6, CoordOp::Next { sub: ReqId(5) });
    t.op(
        C,
        7,
        CoordOp::Publish {
            topic: "t".into(),
            msg: vec![1],
        },
    );
    t.op(
        C,
        8,
        CoordOp::Publish {
            topic: "t".into(),
            msg: vec![2],
        },
    );
    assert_eq!(t.answer(A, 6), Some(Ok(CoordAnswer::Value(Some(vec![1])))));
    for (r, want) in [(5, 1), (6, 2)] {
        t.op(B, r, CoordOp::Next { sub: ReqId(4) });
        assert_eq!(
            t.answer(B, r),
            Some(Ok(CoordAnswer::Value(Some(vec![want]))))
        );
    }
    t.op(B, 7, CoordOp::Next { sub: ReqId(4) });
    t.op(B, 8, CoordOp::Release { req: ReqId(4) });
    assert_eq!(t.answer(B, 7), Some(Err(CoordFail::Closed)));
    t.op(B, 9, CoordOp::Next { sub: ReqId(4) });
    assert_eq!(t.answer(B, 9), Some(Err(CoordFail::Closed)));
    t.op(A, 7, CoordOp::Next { sub: ReqId(5) });
    assert_eq!(t.answer(A, 7), Some(Ok(CoordAnswer::Value(Some(vec![2])))));
}

#[test]
fn a_reused_request_number_is_refused() {
    let mut t = T::new();
    t.op(A, 1, lock("x"));
    t.answer(A, 1);
    t.op(A, 1, lock("y"));
    assert!(matches!(t.answer(A, 1), Some(Err(CoordFail::Conflict(_)))));
    assert!(!t.c.sems.contains_key(&SemKey {
        lock: true,
        name: "y".into()
    }));
}

// ----- the simulator --------------------------------------------------

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What one simulated peer knows.
#[derive(Default)]
struct SimPeer {
    next: u64,
    session: u64,
    /// Requests waiting: req -> (what, session).
    waiting: HashMap<u64, (String, u64)>,
    /// Permits held: req -> (semaphore, session).
    held: HashMap<u64, (String, u64)>,
    /// Items taken and not acknowledged: req -> (item, session).
    items: HashMap<u64, (u64, u64)>,
}

struct Sim {
    t: T,
    rng: Rng,
    peers: Vec<(Peer, SimPeer)>,
    permits: HashMap<String, u32>,
    /// Per semaphore, waiting requests in arrival order (for FIFO).
    order: HashMap<String, Vec<(Peer, u64)>>,
    put: BTreeSet<u64>,
    acked: HashSet<u64>,
    next_item: u64,
    /// The writes `SetRelease` made to variable `v` under `l0` (each adds
    /// one): what the next `GrantedValue` must read.
    l0_writes: u64,
    /// The same for variable `w` under lock `c0`, which workers cache
    /// (`CacheAcquire`; written with `SetHeld` too, and by anyone with
    /// `SetVar`), and the holders of `c0` asked about a try (`Recall`
    /// with `now`), who answer after the delivery.
    c0_writes: u64,
    tried: Vec<(usize, u64)>,
    /// Tries answered by a cache, for the test's own check.
    tries: u64,
}

/// The session a peer files its cached leases under (they outlive its
/// sessions).
const CACHED: u64 = u64::MAX;

const SEMS: [(&str, u32); 3] = [("l0", 1), ("s2", 2), ("s3", 3)];

impl Sim {
    fn new(seed: u64) -> Sim {
        Sim {
            t: T::new(),
            rng: Rng(seed | 1),
            peers: (0..4)
                .map(|i| (Peer::Worker(i), SimPeer::default()))
                .collect(),
            permits: SEMS
                .iter()
                .chain(&[("c0", 1)])
                .map(|(n, p)| ((*n).to_owned(), *p))
                .collect(),
            order: HashMap::new(),
            put: BTreeSet::new(),
            acked: HashSet::new(),
            next_item: 0,
            l0_writes: 0,
            c0_writes: 0,
            tried: Vec::new(),
            tries: 0,
        }
    }

    fn send(&mut self, i: usize, timeout_ms: Option<u64>, op: CoordOp) -> u64 {
        let (p, sp) = &mut self.peers[i];
        sp.next += 1;
        let (req, session, p) = (sp.next, sp.session, *p);
        self.t.req(p, req, session, timeout_ms, op);
        req
    }

    fn step(&mut self) {
        let i = self.rng.below(self.peers.len() as u64) as usize;
        let timeout = match self.rng.below(4) {
            0 => None,
            1 => Some(0),
            _ => Some(1 + self.rng.below(40)),
        };
        match self.rng.below(12) {
            0..=3 if self.rng.below(4) == 0 => {
                // Lock `c0`, for the worker's cache or for the session.
                let cached = self.rng.below(3) != 0;
                let op = if cached {
                    CoordOp::CacheAcquire {
                        name: "c0".into(),
                        var: Some("w".into()),
                    }
                } else {
                    lock("c0")
                };
                let req = self.send(i, timeout, op);
                let p = self.peers[i].0;
                let s = if cached {
                    CACHED
                } else {
                    self.peers[i].1.session
                };
                self.peers[i].1.waiting.insert(req, ("c0".to_owned(), s));
                self.order
                    .entry("c0".to_owned())
                    .or_default()
                    .push((p, req));
            }
            0..=3 => {
                let (name, permits) = SEMS[self.rng.below(3) as usize];
                let op = if name == "l0" && self.rng.below(2) == 0 {
                    CoordOp::AcquireRead {
                        name: name.into(),
                        lock: false,
                        permits,
                        var: "v".into(),
                    }
                } else {
                    sem(name, permits)
                };
                let req = self.send(i, timeout, op);
                let p = self.peers[i].0;
                let s = self.peers[i].1.session;
                self.peers[i].1.waiting.insert(req, (name.to_owned(), s));
                self.order
                    .entry(name.to_owned())
                    .or_default()
                    .push((p, req));
            }
            4 | 5 => {
                let held: Vec<u64> = self.peers[i].1.held.keys().copied().collect();
                if let Some(&r) = held.get(self.rng.below(held.len() as u64 + 1) as usize) {
                    let (name, s) = self.peers[i].1.held.remove(&r).unwrap();
                    let op = if name == "c0" {
                        let w = self.rng.below(3);
                        if w < 2 {
                            self.c0_writes += 1;
                        }
                        let (var, value) = ("w".into(), self.c0_value());
                        match w {
                            0 => {
                                self.peers[i].1.held.insert(r, (name, s));
                                CoordOp::SetHeld {
                                    req: ReqId(r),
                                    var,
                                    value,
                                }
                            }
                            1 => CoordOp::SetRelease {
                                req: ReqId(r),
                                var,
                                value,
                            },
                            _ => CoordOp::Release { req: ReqId(r) },
                        }
                    } else if name == "l0" && self.rng.below(2) == 0 {
                        self.l0_writes += 1;
                        CoordOp::SetRelease {
                            req: ReqId(r),
                            var: "v".into(),
                            value: rask_core::format::to_vec(&self.l0_writes).unwrap(),
                        }
                    } else {
                        CoordOp::Release { req: ReqId(r) }
                    };
                    self.send(i, None, op);
                }
            }
            6 if self.rng.below(4) == 0 => {
                // Anyone writes `w`: a cached copy of it is stale.
                self.c0_writes += 1;
                let value = self.c0_value();
                self.send(
                    i,
                    None,
                    CoordOp::SetVar {
                        name: "w".into(),
                        value,
                    },
                );
            }
            6 => {
                let v = self.next_item;
                self.next_item += 1;
                let op = CoordOp::Put {
                    queue: "q".into(),
                    item: rask_core::format::to_vec(&v).unwrap(),
                    bound: 0,
                };
                let req = self.send(i, None, op);
                let p = self.peers[i].0;
                assert_eq!(self.t.answer(p, req), Some(Ok(CoordAnswer::Done)));
                self.put.insert(v);
            }
            7 => {
                let req = self.send(i, timeout, CoordOp::Get { queue: "q".into() });
                let s = self.peers[i].1.session;
                self.peers[i].1.waiting.insert(req, ("q".to_owned(), s));
            }
            8 => {
                let items: Vec<(u64, u64)> = self.peers[i]
                    .1
                    .items
                    .iter()
                    .map(|(r, (v, _))| (*r, *v))
                    .collect();
                if let Some(&(r, v)) = items.first() {
                    self.peers[i].1.items.remove(&r);
                    let op = if self.rng.below(4) == 0 {
                        CoordOp::Release { req: ReqId(r) }
                    } else {
                        assert!(self.acked.insert(v), "item {v} acknowledged twice");
                        CoordOp::Ack { req: ReqId(r) }
                    };
                    self.send(i, None, op);
                }
            }
            9 => {
                // The session (task attempt) ends: everything it had goes.
                self.send(i, None, CoordOp::EndSession);
                let sp = &mut self.peers[i].1;
                let s = sp.session;
                sp.waiting.retain(|_, (_, ss)| *ss != s);
                sp.held.retain(|_, (_, ss)| *ss != s);
                sp.items.retain(|_, (_, ss)| *ss != s);
                sp.session += 1;
            }
            10 => {
                if self.rng.below(6) == 0 {
                    // The peer dies; a new one takes its place.
                    let (p, _) = self.peers[i];
                    self.t.c.peer_gone(p, &mut self.t.out);
                    self.t.c.check().unwrap();
                    let fresh = match p {
                        Peer::Worker(w) => Peer::Worker(w + 100),
                        Peer::Client(c) => Peer::Client(c + 100),
                    };
                    self.peers[i] = (fresh, SimPeer::default());
                } else {
                    self.peers[i].1.session += 1;
                }
            }
            _ => self.t.advance(1 + self.rng.below(15)),
        }
        self.deliver();
        self.check_holders();
    }

    fn c0_value(&self) -> Vec<u8> {
        rask_core::format::to_vec(&self.c0_writes).unwrap()
    }

    /// Delivers the answers, then the answers of the holders of `c0`
    /// asked about a try (a `Release`, or `CacheBusy`), and theirs.
    fn deliver(&mut self) {
        self.deliver_answers();
        while !self.tried.is_empty() {
            for (i, lease) in std::mem::take(&mut self.tried) {
                self.tries += 1;
                let op = if self.rng.below(2) == 0 {
                    self.peers[i].1.held.remove(&lease);
                    CoordOp::Release { req: ReqId(lease) }
                } else {
                    CoordOp::CacheBusy { req: ReqId(lease) }
                };
                self.send(i, None, op);
            }
            self.deliver_answers();
        }
    }

    /// Hands each answer to its peer and checks it against FIFO.
    fn deliver_answers(&mut self) {
        let answers = self.t.out.take();
        // Requests that left without an answer (released with their
        // session or peer) leave the lines first.
        let mut live: HashSet<(Peer, u64)> = self
            .peers
            .iter()
            .flat_map(|(p, sp)| sp.waiting.keys().map(move |r| (*p, *r)))
            .collect();
        for line in self.order.values_mut() {
            line.retain(|x| live.contains(x));
        }
        for (to, r) in answers {
            let Some(ix) = self.peers.iter().position(|(p, _)| *p == to) else {
                panic!("an answer to a peer that died: {r:?}");
            };
            let sp = &mut self.peers[ix].1;
            if let Ok(CoordAnswer::Recall { now, .. }) = r.result {
                let held = sp.held.get(&r.req.0);
                assert!(
                    matches!(held, Some((n, CACHED)) if n == "c0"),
                    "{to:?} got a recall for {} it does not cache: {held:?}",
                    r.req.0
                );
                if now {
                    self.tried.push((ix, r.req.0));
                }
                continue;
            }
            let Some((what, session)) = sp.waiting.remove(&r.req.0) else {
                panic!(
                    "{to:?} got an answer to {} it was not waiting for: {r:?}",
                    r.req.0
                );
            };
            let line = self.order.get_mut(&what);
            if let Some(line) = line {
                let pos = line.iter().position(|x| *x == (to, r.req.0));
                let pos = pos.expect("a waiter in line");
                if matches!(
                    r.result,
                    Ok(CoordAnswer::Granted | CoordAnswer::GrantedValue(_))
                ) {
                    // Everyone before it in line had left (or been served).
                    assert_eq!(pos, 0, "`{what}` skipped a waiter: {line:?}");
                }
                line.remove(pos);
            }
            match r.result {
                Ok(CoordAnswer::Granted) => {
                    sp.held.insert(r.req.0, (what, session));
                }
                Ok(CoordAnswer::GrantedValue(v)) => {
                    // Read at the grant: every write made under the lock
                    // before it, none after.
                    let v: u64 = v.map_or(0, |b| rask_core::format::from_slice(&b).unwrap());
                    let want = if what == "c0" {
                        self.c0_writes
                    } else {
                        self.l0_writes
                    };
                    assert_eq!(v, want, "a stale or torn read under `{what}`");
                    sp.held.insert(r.req.0, (what, session));
                }
                Ok(CoordAnswer::Item { bytes, .. }) => {
                    let v: u64 = rask_core::format::from_slice(&bytes).unwrap();
                    assert!(!self.acked.contains(&v), "item {v} delivered after its ack");
                    sp.items.insert(r.req.0, (v, session));
                }
                Ok(other) => panic!("unexpected answer {other:?}"),
                Err(CoordFail::TimedOut) => {}
                Err(e) => panic!("unexpected failure {e:?}"),
            }
        }
        live = self
            .peers
            .iter()
            .flat_map(|(p, sp)| sp.waiting.keys().map(move |r| (*p, *r)))
            .collect();
        for line in self.order.values_mut() {
            line.retain(|x| live.contains(x));
        }
    }

    fn check_holders(&self) {
        let mut n: HashMap<&str, u32> = HashMap::new();
        for (_, sp) in &self.peers {
            for (name, _) in sp.held.values() {
                *n.entry(name).or_default() += 1;
            }
        }
        for (name, k) in n {
            assert!(
                k <= self.permits[name],
                "{k} hold `{name}` of {}",
                self.permits[name]
            );
        }
    }

    /// Every item put was acknowledged or is still there: drained by a
    /// fresh peer after everyone else dies.
    fn drain(mut self) {
        let peers: Vec<Peer> = self.peers.iter().map(|(p, _)| *p).collect();
        for p in peers {
            self.t.c.peer_gone(p, &mut self.t.out);
        }
        self.t.c.check().unwrap();
        self.t.out.take();
        let d = Peer::Client(999);
        let mut seen = HashSet::new();
        for r in 1.. {
            self.t
                .req(d, r, 1, Some(0), CoordOp::Get { queue: "q".into() });
            match self.t.answer(d, r) {
                Some(Ok(CoordAnswer::Item { bytes, .. })) => {
                    let v: u64 = rask_core::format::from_slice(&bytes).unwrap();
                    assert!(seen.insert(v), "item {v} twice in the queue");
                    assert!(!self.acked.contains(&v), "acked item {v} still there");
                }
                Some(Err(CoordFail::TimedOut)) => break,
                other => panic!("{other:?}"),
            }
        }
        for v in &self.put {
            assert!(
                self.acked.contains(v) || seen.contains(v),
                "item {v} was lost"
            );
        }
        assert_eq!(
            self.t.c.entries(),
            seen.len(),
            "only the drainer's items remain"
        );
    }
}

#[test]
fn simulated_peers_sessions_deaths_and_time() {
    let (mut cached, mut tries) = (0, 0);
    for seed in 1..=25u64 {
        let mut sim = Sim::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        for _ in 0..2000 {
            sim.step();
        }
        cached += sim.t.c.cache_grants();
        tries += sim.tries;
        sim.drain();
    }
    // Cached leases were granted, and asked about tries.
    assert!(cached > 100 && tries > 10, "{cached} cached, {tries} tries");
}

// ----- through the scheduler's core -----------------------------------

mod through_core;
