//! The in-process hub of a client (`sync`, `threads`, `shuffled`): the
//! scheduler's coordination state machine (`core::coord::Coord`) behind a
//! mutex, so the rules are the same as on a cluster. Rules:
//!
//! 1. A request is handled under the lock; the answers it causes (its own,
//!    and those of the waiters it serves) are matched to their tickets
//!    under the lock and delivered after it is released.
//! 2. Deadlines: a timer thread (started with the first request that has
//!    one) sleeps until the state machine's next deadline and ticks it; the
//!    hub wakes it when a request brings an earlier one. It holds the hub
//!    weakly and stops when the hub goes.
//! 3. A thread that blocks lends its slot through the client's pool
//!    ([`rask_local::ThreadPool::stand_in`]) when it is one of its workers.
//!    In-process, a lease is given back when its guard drops, which also
//!    happens when the task that holds it panics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use rask_distributed::coord::{Answer, Lent, Link, Ticket};
use rask_distributed::core::coord::{Coord, Peer, Replies};
use rask_distributed::proto::{CoordFail, CoordReply, CoordRequest, ReqId};

use crate::client::Core;

/// Every request of a hub comes from this one peer.
const HERE: Peer = Peer::Client(0);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct State {
    coord: Coord,
    tickets: HashMap<ReqId, Arc<Ticket>>,
}

/// Answers collected under the lock (rule 1).
#[derive(Default)]
struct Collected(Vec<CoordReply>);

impl Replies for Collected {
    fn reply(&mut self, _to: Peer, reply: CoordReply) {
        self.0.push(reply);
    }
}

#[derive(Default)]
struct TimerState {
    at: Option<Instant>,
    stop: bool,
    started: bool,
}

#[derive(Default)]
struct Timer {
    state: Mutex<TimerState>,
    cv: Condvar,
}

/// A client's in-process coordination hub.
pub(crate) struct Hub {
    state: Mutex<State>,
    timer: Arc<Timer>,
    next: AtomicU64,
    client: Weak<Core>,
    me: Weak<Hub>,
}

impl Hub {
    pub(crate) fn new(client: Weak<Core>) -> Arc<Hub> {
        Arc::new_cyclic(|me| Hub {
            state: Mutex::new(State {
                coord: Coord::new(),
                tickets: HashMap::new(),
            }),
            timer: Arc::default(),
            next: AtomicU64::new(1),
            client,
            me: me.clone(),
        })
    }

    /// Runs `f` on the state machine and delivers the answers (rule 1).
    fn with(
        &self,
        ticket: Option<(ReqId, Arc<Ticket>)>,
        f: impl FnOnce(&mut Coord, &mut Collected),
    ) {
        let mut out = Collected::default();
        let (ready, deadline) = {
            let mut st = lock(&self.state);
            if let Some((req, t)) = ticket {
                st.tickets.insert(req, t);
            }
            f(&mut st.coord, &mut out);
            let ready: Vec<(Arc<Ticket>, Answer)> = out
                .0
                .drain(..)
                .filter_map(|r| st.tickets.remove(&r.req).map(|t| (t, r.result)))
                .collect();
            (ready, st.coord.next_deadline())
        };
        for (t, a) in ready {
            t.fulfil(a);
        }
        self.wake_timer(deadline);
    }

    /// Tells the timer about the next deadline if it is earlier (rule 2).
    fn wake_timer(&self, deadline: Option<Instant>) {
        let Some(at) = deadline else {
            return;
        };
        let mut t = lock(&self.timer.state);
        if t.at.is_some_and(|x| x <= at) {
            return;
        }
        t.at = Some(at);
        if !t.started {
            t.started = true;
            let (timer, hub) = (self.timer.clone(), self.me.clone());
            let spawned = std::thread::Builder::new()
                .name("rask-coord-timer".into())
                .spawn(move || timer_loop(&timer, &hub));
            if let Err(e) = spawned {
                t.started = false;
                tracing::warn!(error = %e, "could not start the coordination timer");
            }
        }
        self.timer.cv.notify_all();
    }

    fn tick(&self) {
        self.with(None, |c, out| c.tick(Instant::now(), out));
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        lock(&self.timer.state).stop = true;
        self.timer.cv.notify_all();
        // Nothing can answer the tickets still open.
        let st = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        for (_, t) in st.tickets.drain() {
            t.fulfil(Err(CoordFail::Disconnected));
        }
    }
}

/// The timer thread (rule 2).
fn timer_loop(timer: &Timer, hub: &Weak<Hub>) {
    loop {
        {
            let mut st = lock(&timer.state);
            loop {
                if st.stop {
                    return;
                }
                match st.at {
                    Some(at) if at <= Instant::now() => {
                        st.at = None;
                        break;
                    }
                    Some(at) => {
                        let left = at.saturating_duration_since(Instant::now());
                        st = timer
                            .cv
                            .wait_timeout(st, left)
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                    }
                    None => {
                        st = timer
                            .cv
                            .wait_timeout(st, Duration::from_secs(1))
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                        if hub.strong_count() == 0 {
                            return;
                        }
                    }
                }
            }
        }
        match hub.upgrade() {
            Some(h) => h.tick(),
            None => return,
        }
    }
}

impl Link for Hub {
    fn next_req(&self) -> ReqId {
        ReqId(self.next.fetch_add(1, Ordering::Relaxed))
    }

    fn send(&self, req: CoordRequest, ticket: Option<Arc<Ticket>>) -> Result<(), CoordFail> {
        let t = ticket.map(|t| (req.req, t));
        self.with(t, |c, out| c.request(HERE, req, Instant::now(), out));
        Ok(())
    }

    fn lend(&self) -> Option<Lent> {
        let pool = self.client.upgrade()?.pool_if_worker()?;
        pool.stand_in().map(Lent::new)
    }
}
