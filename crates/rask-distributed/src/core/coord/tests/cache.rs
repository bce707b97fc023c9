//! Cached leases (`cache.rs` here, `crate::coord::cache` on the worker):
//! unit tests of the scheduler's side, then a simulator of workers with
//! real lease caches, whose tasks run read-modify-write sections on one
//! lock over links that deliver in order but late, while sessions end,
//! workers die and time passes: at most one task in a section at a time,
//! every section reads the value the section before it wrote, no write
//! lost but a dead worker's unsent ones, nobody left waiting at the end,
//! and the invariants after every step.

use std::collections::VecDeque;

use super::*;
use crate::coord::cache::{LeaseCache, Out as CacheOut, SLICE};

fn cache_acquire(name: &str, var: Option<&str>) -> CoordOp {
    CoordOp::CacheAcquire {
        name: name.into(),
        var: var.map(Into::into),
    }
}

fn recall(invalidate: bool) -> Option<Result<CoordAnswer, CoordFail>> {
    Some(Ok(CoordAnswer::Recall {
        invalidate,
        now: false,
    }))
}

#[test]
fn a_cached_lease_is_recalled_when_someone_waits_and_outlives_sessions() {
    let mut t = T::new();
    t.req(A, 1, 7, None, cache_acquire("x", Some("v")));
    assert_eq!(t.answer(A, 1), Some(Ok(CoordAnswer::GrantedValue(None))));
    // Not the session's: its end keeps the lease.
    t.req(A, 2, 7, None, CoordOp::EndSession);
    t.op(
        A,
        3,
        CoordOp::SetHeld {
            req: ReqId(1),
            var: "v".into(),
            value: vec![4],
        },
    );
    assert_eq!(
        t.c.var("v"),
        Some(&vec![4]),
        "a fenced write under the lease"
    );
    t.op(
        B,
        1,
        CoordOp::AcquireRead {
            name: "x".into(),
            lock: true,
            permits: 1,
            var: "v".into(),
        },
    );
    assert_eq!(t.answer(A, 1), recall(false));
    assert!(t.out.take().is_empty(), "one recall, one waiter");
    t.op(B, 2, lock("x"));
    assert!(t.out.take().is_empty(), "recalled once per grant");
    t.op(A, 4, CoordOp::Release { req: ReqId(1) });
    assert_eq!(
        t.answer(B, 1),
        Some(Ok(CoordAnswer::GrantedValue(Some(vec![4]))))
    );
    // A write under a lease given back is fenced out.
    t.op(
        A,
        5,
        CoordOp::SetHeld {
            req: ReqId(1),
            var: "v".into(),
            value: vec![9],
        },
    );
    assert_eq!(t.c.var("v"), Some(&vec![4]));
}

#[test]
fn a_grant_with_waiters_behind_comes_with_its_recall_and_clients_cache_nothing() {
    let mut t = T::new();
    t.op(B, 1, lock("x"));
    t.req(A, 1, 3, None, cache_acquire("x", None));
    t.op(C, 1, lock("x"));
    assert_eq!(t.answer(B, 1), Some(Ok(CoordAnswer::Granted)));
    assert!(t.out.take().is_empty());
    t.op(B, 2, CoordOp::Release { req: ReqId(1) });
    let got = t.out.take();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].1.result, Ok(CoordAnswer::Granted));
    assert_eq!(Some(got[1].1.result.clone()), recall(false));
    // The worker dies: its cached lease goes to the client.
    t.c.peer_gone(A, &mut t.out);
    assert_eq!(t.answer(C, 1), Some(Ok(CoordAnswer::Granted)));
    t.op(C, 2, cache_acquire("y", None));
    assert!(matches!(t.answer(C, 2), Some(Err(CoordFail::Conflict(_)))));
}

#[test]
fn a_write_by_anyone_else_invalidates_the_cached_value_once() {
    let mut t = T::new();
    t.req(A, 1, 3, None, cache_acquire("x", Some("v")));
    t.out.take();
    t.c.set_var("v".into(), vec![1], &mut t.out);
    assert_eq!(t.answer(A, 1), recall(true));
    t.op(C, 1, CoordOp::DelVar { name: "v".into() });
    assert!(t.out.take().is_empty(), "invalidated once");
    t.c.check().unwrap();
    // A second lock's cached lease taking the variable makes the first's
    // copy stale.
    t.op(A, 2, CoordOp::Release { req: ReqId(1) });
    t.req(A, 3, 3, None, cache_acquire("x", Some("v")));
    t.req(B, 1, 3, None, cache_acquire("z", Some("v")));
    let got = t.out.take();
    let stale = got
        .iter()
        .any(|(p, r)| *p == A && r.req == ReqId(3) && Some(r.result.clone()) == recall(true));
    assert!(stale, "{got:?}");
}

#[test]
fn a_try_asks_the_worker_whether_its_lease_is_free() {
    let mut t = T::new();
    t.req(A, 1, 3, None, cache_acquire("x", None));
    t.out.take();
    let try_notice = Some(Ok(CoordAnswer::Recall {
        invalidate: false,
        now: true,
    }));
    // Busy: the try fails.
    t.req(C, 1, 0, Some(0), lock("x"));
    assert_eq!(t.answer(A, 1), try_notice);
    assert!(t.out.take().is_empty(), "the try waits for the worker");
    t.op(A, 2, CoordOp::CacheBusy { req: ReqId(1) });
    assert_eq!(t.answer(C, 1), Some(Err(CoordFail::TimedOut)));
    // Free: the lease comes back and the try gets it; a waiter behind it
    // waits.
    t.req(C, 2, 0, Some(0), lock("x"));
    assert_eq!(
        t.answer(A, 1),
        try_notice,
        "asked again after the busy answer"
    );
    t.op(B, 1, lock("x"));
    t.op(A, 3, CoordOp::Release { req: ReqId(1) });
    assert_eq!(t.answer(C, 2), Some(Ok(CoordAnswer::Granted)));
    assert!(t.out.take().is_empty());
}

// ----- the simulator --------------------------------------------------

/// A task's state.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Task {
    Idle,
    /// Asked (request number), for the value or not.
    Asking(u64, bool),
    /// In its section (request number, the value read if it asked).
    In(u64, Option<u64>),
}

struct SimWorker {
    peer: Peer,
    cache: LeaseCache,
    up: VecDeque<CoordRequest>,
    down: VecDeque<CoordReply>,
    next: u64,
    /// Per task: its session and state.
    tasks: Vec<(u64, Task)>,
    tick_at: Option<Instant>,
}

struct CacheSim {
    c: Coord,
    rng: Rng,
    now: Instant,
    workers: Vec<SimWorker>,
    /// The value the last section wrote, and which worker wrote it.
    truth: u64,
    last_writer: Option<Peer>,
    born: u32,
    sections: u64,
    local: u64,
}

fn value_of(b: &Option<Vec<u8>>) -> u64 {
    b.as_ref()
        .map_or(0, |b| rask_core::format::from_slice(b).unwrap())
}

impl CacheSim {
    fn new(seed: u64) -> CacheSim {
        let mut s = CacheSim {
            c: Coord::new(),
            rng: Rng(seed | 1),
            now: Instant::now(),
            workers: Vec::new(),
            truth: 0,
            last_writer: None,
            born: 0,
            sections: 0,
            local: 0,
        };
        for _ in 0..3 {
            let w = s.worker();
            s.workers.push(w);
        }
        s
    }

    fn worker(&mut self) -> SimWorker {
        self.born += 1;
        SimWorker {
            peer: Peer::Worker(self.born),
            cache: LeaseCache::new(),
            up: VecDeque::new(),
            down: VecDeque::new(),
            next: 0,
            tasks: (0..2).map(|i| (i + 1, Task::Idle)).collect(),
            tick_at: None,
        }
    }

    /// What worker `i`'s cache decided.
    fn take(&mut self, i: usize, mut out: CacheOut) -> Option<Result<CoordAnswer, CoordFail>> {
        let w = &mut self.workers[i];
        for (r, _) in out.send.drain(..) {
            w.up.push_back(wire(&r));
        }
        if let Some(at) = out.tick_at {
            w.tick_at = Some(w.tick_at.map_or(at, |t: Instant| t.min(at)));
        }
        out.answer
    }

    /// Task `j` of worker `i` sends `op`; a request answered by the cache
    /// is handed back.
    fn send(
        &mut self,
        i: usize,
        j: usize,
        op: CoordOp,
        timeout_ms: Option<u64>,
    ) -> (u64, Option<Result<CoordAnswer, CoordFail>>) {
        let w = &mut self.workers[i];
        w.next += 1;
        let r = CoordRequest {
            req: ReqId(w.next),
            session: SessionId(w.tasks[j].0),
            timeout_ms,
            op,
        };
        let mut out = CacheOut::default();
        w.cache.request(r, self.now, &mut out);
        let req = w.next;
        (req, self.take(i, out))
    }

    /// Task `j` of worker `i` got answer `a` to request `req`.
    fn answered(&mut self, i: usize, j: usize, req: u64, a: Result<CoordAnswer, CoordFail>) {
        let Task::Asking(r, read) = self.workers[i].tasks[j].1 else {
            return;
        };
        if r != req {
            return;
        }
        self.workers[i].tasks[j].1 = match a {
            Ok(CoordAnswer::Granted) => {
                assert!(!read);
                Task::In(req, None)
            }
            Ok(CoordAnswer::GrantedValue(v)) => {
                let v = value_of(&v);
                assert_eq!(v, self.truth, "a section read a stale value");
                Task::In(req, Some(v))
            }
            Err(CoordFail::TimedOut) => Task::Idle,
            other => panic!("unexpected answer {other:?}"),
        };
        self.check_exclusion();
    }

    fn check_exclusion(&self) {
        let inside = self
            .workers
            .iter()
            .flat_map(|w| &w.tasks)
            .filter(|(_, t)| matches!(t, Task::In(..)))
            .count();
        assert!(inside <= 1, "{inside} tasks in their sections");
    }

    /// Task `j` of worker `i` makes its next move.
    fn task_step(&mut self, i: usize, j: usize) {
        match self.workers[i].tasks[j].1 {
            Task::Idle => {
                let read = self.rng.below(4) != 0;
                let op = if read {
                    CoordOp::AcquireRead {
                        name: "l".into(),
                        lock: true,
                        permits: 1,
                        var: "v".into(),
                    }
                } else {
                    lock("l")
                };
                let timeout = (self.rng.below(5) == 0).then(|| self.rng.below(3));
                let (req, a) = self.send(i, j, op, timeout);
                self.workers[i].tasks[j].1 = Task::Asking(req, read);
                if let Some(a) = a {
                    self.local += 1;
                    self.answered(i, j, req, a);
                }
            }
            Task::In(req, read) => {
                let op = match read {
                    Some(v) if self.rng.below(8) != 0 => {
                        self.truth = v + 1;
                        self.last_writer = Some(self.workers[i].peer);
                        self.sections += 1;
                        CoordOp::SetRelease {
                            req: ReqId(req),
                            var: "v".into(),
                            value: rask_core::format::to_vec(&(v + 1)).unwrap(),
                        }
                    }
                    _ => CoordOp::Release { req: ReqId(req) },
                };
                self.workers[i].tasks[j].1 = Task::Idle;
                self.send(i, j, op, None);
            }
            Task::Asking(..) => {}
        }
    }

    /// Delivers one message on worker `i`'s link, up or down.
    fn deliver(&mut self, i: usize, up: bool) {
        let w = &mut self.workers[i];
        let peer = w.peer;
        if up {
            if let Some(r) = w.up.pop_front() {
                let mut out = Out::default();
                self.c.request(peer, r, self.now, &mut out);
                self.route(out);
            }
        } else if let Some(reply) = w.down.pop_front() {
            let mut out = CacheOut::default();
            let pass = w.cache.reply(&reply, self.now, &mut out);
            self.take(i, out);
            if pass {
                let j = self.workers[i]
                    .tasks
                    .iter()
                    .position(|(_, t)| matches!(t, Task::Asking(r, _) if *r == reply.req.0));
                if let Some(j) = j {
                    self.answered(i, j, reply.req.0, reply.result);
                }
            }
        }
    }

    /// The scheduler's replies go down their links.
    fn route(&mut self, out: Out) {
        for (p, reply) in out.0 {
            if let Some(w) = self.workers.iter_mut().find(|w| w.peer == p) {
                w.down.push_back(reply);
            }
        }
    }

    fn step(&mut self) {
        let i = self.rng.below(self.workers.len() as u64) as usize;
        match self.rng.below(20) {
            0..=7 => {
                let j = self.rng.below(2) as usize;
                self.task_step(i, j);
            }
            8..=11 => self.deliver(i, true),
            12..=15 => self.deliver(i, false),
            16 => {
                // A task's attempt ends: what it holds or asks for goes.
                let j = self.rng.below(2) as usize;
                let s = self.workers[i].tasks[j].0;
                self.send(i, j, CoordOp::EndSession, None);
                let w = &mut self.workers[i];
                w.tasks[j] = (s + 2, Task::Idle);
            }
            17 if self.rng.below(8) == 0 => {
                // The worker dies: what it did not send is lost.
                let fresh = self.worker();
                let dead = std::mem::replace(&mut self.workers[i], fresh);
                let mut out = Out::default();
                self.c.peer_gone(dead.peer, &mut out);
                self.route(out);
                if self.last_writer == Some(dead.peer) {
                    self.truth = value_of(&self.c.var("v").cloned());
                }
            }
            _ => self.advance(),
        }
        self.c.check().unwrap();
        self.check_exclusion();
    }

    /// Time passes: timeouts at the scheduler, ticks in the caches.
    fn advance(&mut self) {
        self.now += Duration::from_micros(50 + self.rng.below(500));
        let mut out = Out::default();
        self.c.tick(self.now, &mut out);
        self.route(out);
        for i in 0..self.workers.len() {
            if self.workers[i].tick_at.is_some_and(|t| t <= self.now) {
                self.workers[i].tick_at = None;
                let mut out = CacheOut::default();
                self.workers[i].cache.tick(self.now, &mut out);
                self.take(i, out);
            }
        }
    }

    /// Everyone finishes what it is in and stops asking; everything is
    /// delivered: nobody may be left waiting, and the value is the last
    /// section's.
    fn drain(mut self) {
        for _ in 0..100_000 {
            for i in 0..self.workers.len() {
                for j in 0..self.workers[i].tasks.len() {
                    if matches!(self.workers[i].tasks[j].1, Task::In(..)) {
                        self.task_step(i, j);
                    }
                }
                while !self.workers[i].up.is_empty() || !self.workers[i].down.is_empty() {
                    self.deliver(i, true);
                    self.deliver(i, false);
                }
            }
            self.now += SLICE;
            self.advance();
            let busy = self.workers.iter().any(|w| {
                !w.up.is_empty()
                    || !w.down.is_empty()
                    || w.tasks.iter().any(|(_, t)| *t != Task::Idle)
            });
            if !busy {
                break;
            }
        }
        for w in &self.workers {
            assert!(
                w.tasks.iter().all(|(_, t)| *t == Task::Idle),
                "left waiting: {:?}",
                w.tasks
            );
        }
        assert_eq!(
            value_of(&self.c.var("v").cloned()),
            self.truth,
            "a write was lost"
        );
        for w in std::mem::take(&mut self.workers) {
            let mut out = Out::default();
            self.c.peer_gone(w.peer, &mut out);
        }
        self.c.check().unwrap();
        assert_eq!(self.c.entries(), 0, "something outlived its peer");
    }
}

#[test]
fn simulated_workers_with_lease_caches() {
    let (mut sections, mut local) = (0, 0);
    for seed in 1..=300u64 {
        let mut s = CacheSim::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for _ in 0..2000 {
            s.step();
        }
        sections += s.sections;
        local += s.local;
        s.drain();
    }
    // The simulation exercises both paths.
    assert!(
        sections > 2_000 && local > 1_000,
        "{sections} sections, {local} local grants"
    );
}
