//! A graph of 1,000,000 tasks completes with bounded memory: every result is
//! freed as soon as its last consumer has taken it, and the priority order
//! finishes sub-trees before starting new roots, so only a few results are
//! alive at any moment.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use rask::prelude::*;

/// A 4 KiB payload that counts how many of its kind are alive.
struct Payload {
    sum: u64,
    _bytes: Vec<u8>,
    live: Arc<Live>,
}

#[derive(Default)]
struct Live {
    now: AtomicI64,
    peak: AtomicI64,
}

impl Payload {
    fn new(sum: u64, live: &Arc<Live>) -> Self {
        let n = live.now.fetch_add(1, Ordering::SeqCst) + 1;
        live.peak.fetch_max(n, Ordering::SeqCst);
        Payload {
            sum,
            _bytes: vec![1u8; 4096],
            live: live.clone(),
        }
    }
}

impl Clone for Payload {
    fn clone(&self) -> Self {
        Payload::new(self.sum, &self.live)
    }
}

impl Drop for Payload {
    fn drop(&mut self) {
        self.live.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// 500,000 leaves and a pairwise tree: 999,999 tasks, each holding 4 KiB
/// (about 4 GiB if nothing were freed).
fn tree(n: u64, live: &Arc<Live>) -> Delayed<Payload> {
    let mut xs: Vec<Delayed<Payload>> = (0..n)
        .map(|i| {
            let live = live.clone();
            delayed(move || Payload::new(i, &live), ())
        })
        .collect();
    while xs.len() > 1 {
        let mut next = Vec::with_capacity(xs.len() / 2 + 1);
        let mut it = xs.into_iter();
        while let Some(a) = it.next() {
            match it.next() {
                Some(b) => {
                    let live = live.clone();
                    next.push(delayed(
                        move |a: Payload, b: Payload| Payload::new(a.sum + b.sum, &live),
                        (a, b),
                    ))
                }
                None => next.push(a),
            }
        }
        xs = next;
    }
    xs.pop().expect("a root")
}

#[test]
fn a_million_tasks_in_bounded_memory() {
    let n = 500_000u64;
    for (client, bound) in [(Client::sync(), 64), (Client::threads_with(2), 256)] {
        let live = Arc::new(Live::default());
        let root = tree(n, &live);
        let plan = root.plan(rask::PlanOptions::default()).unwrap();
        assert_eq!(plan.len(), 2 * n as usize - 1);
        drop(plan);
        let out = root.compute(&client).unwrap();
        assert_eq!(out.sum, n * (n - 1) / 2);
        let peak = live.peak.load(Ordering::SeqCst);
        assert!(
            peak <= bound,
            "{} payloads alive at once (bound {bound})",
            peak
        );
        drop(out);
        assert_eq!(live.now.load(Ordering::SeqCst), 0, "every result was freed");
    }
}
