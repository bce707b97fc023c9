//! The ready queue: tasks whose inputs are all in memory, in the order they
//! should start.
//!
//! Entries are [`ReadyKey`]s, `Reverse((-priority, order, slot, gen))`, and
//! come out smallest tuple first, exactly as from a `BinaryHeap<ReadyKey>`
//! (the type this replaces): higher priority first, then smaller `order`
//! (the graph's sequence number, then the task's place in its graph), then
//! slot and generation.
//!
//! Rules:
//! 1. One heap per priority present, highest first; a level that empties is
//!    dropped. Almost every graph has one priority, so a pop looks at one
//!    level.
//! 2. Within a level an entry is 16 bytes, `(order, slot, gen)` packed into
//!    one `u128` whose integer order is the tuple's, in a 4-ary heap: a pop
//!    reads about half as many cache lines as a binary heap of 32-byte
//!    entries (the heap's `pop` was the scheduler's largest item in `perf`
//!    on W7, its compares waiting on memory).
//! 3. Entries may be stale (the task ran, failed or was freed since): the
//!    scheduler checks `(slot, gen)` and the task's state when it pops one,
//!    as before.

use std::cmp::Reverse;

use super::{ReadyKey, Slot};

/// Tasks ready to run, best first (see the module docs).
#[derive(Debug, Default)]
pub(super) struct ReadyQueue {
    /// `(-priority, heap)`, in increasing `-priority` (rule 1).
    levels: Vec<(i64, QuadHeap)>,
    len: usize,
}

impl ReadyQueue {
    /// Adds an entry.
    pub(super) fn push(&mut self, key: ReadyKey) {
        let Reverse((prio, order, slot, gen)) = key;
        let i = match self.levels.binary_search_by_key(&prio, |l| l.0) {
            Ok(i) => i,
            Err(i) => {
                self.levels.insert(i, (prio, QuadHeap::default()));
                i
            }
        };
        self.levels[i].1.push(pack(order, slot, gen));
        self.len += 1;
    }

    /// The best entry, if any.
    #[inline]
    pub(super) fn peek(&self) -> Option<ReadyKey> {
        let (prio, heap) = self.levels.first()?;
        heap.peek().map(|&e| unpack(*prio, e))
    }

    /// Takes the best entry out.
    pub(super) fn pop(&mut self) -> Option<ReadyKey> {
        let (prio, heap) = self.levels.first_mut()?;
        let prio = *prio;
        let e = heap.pop()?;
        if heap.is_empty() {
            self.levels.remove(0);
        }
        self.len -= 1;
        Some(unpack(prio, e))
    }

    /// Whether it holds nothing (stale entries count as something).
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every entry, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = ReadyKey> + '_ {
        self.levels
            .iter()
            .flat_map(|(p, h)| h.0.iter().map(move |&e| unpack(*p, e)))
    }
}

impl Extend<ReadyKey> for ReadyQueue {
    fn extend<I: IntoIterator<Item = ReadyKey>>(&mut self, iter: I) {
        for k in iter {
            self.push(k);
        }
    }
}

/// Rule 2: `(order, slot, gen)` as one integer with the tuple's order.
#[inline]
fn pack(order: u64, slot: Slot, gen: u32) -> u128 {
    (u128::from(order) << 64) | (u128::from(slot.0) << 32) | u128::from(gen)
}

#[inline]
fn unpack(prio: i64, e: u128) -> ReadyKey {
    Reverse((prio, (e >> 64) as u64, Slot((e >> 32) as u32), e as u32))
}

/// A 4-ary min-heap of `u128`s.
#[derive(Debug, Default)]
struct QuadHeap(Vec<u128>);

impl QuadHeap {
    #[inline]
    fn peek(&self) -> Option<&u128> {
        self.0.first()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn push(&mut self, x: u128) {
        let v = &mut self.0;
        let mut i = v.len();
        v.push(x);
        while i > 0 {
            let p = (i - 1) / 4;
            if v[p] <= x {
                break;
            }
            v[i] = v[p];
            i = p;
        }
        v[i] = x;
    }

    fn pop(&mut self) -> Option<u128> {
        let last = self.0.pop()?;
        let v = &mut self.0;
        let n = v.len();
        if n == 0 {
            return Some(last);
        }
        let top = v[0];
        // Sift `last` down from the root.
        let mut i = 0;
        loop {
            let c = 4 * i + 1;
            if c >= n {
                break;
            }
            let end = (c + 4).min(n);
            let mut m = c;
            for j in c + 1..end {
                if v[j] < v[m] {
                    m = j;
                }
            }
            if v[m] >= last {
                break;
            }
            v[i] = v[m];
            i = m;
        }
        v[i] = last;
        Some(top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BinaryHeap;

    /// A small deterministic generator (no test-only dependency).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    #[test]
    fn comes_out_in_the_order_a_binary_heap_gives() {
        for seed in 0..50 {
            let mut rng = Lcg(seed);
            let mut ours = ReadyQueue::default();
            let mut want: BinaryHeap<ReadyKey> = BinaryHeap::new();
            // Seeds below 25 use one priority (the usual case), the rest a few.
            let prios = if seed < 25 { 1 } else { 4 };
            for _ in 0..2_000 {
                if !rng.next().is_multiple_of(3) {
                    let k = Reverse((
                        -((rng.next() % prios) as i64),
                        ((rng.next() % 3) << 32) | (rng.next() % 500),
                        Slot((rng.next() % 300) as u32),
                        (rng.next() % 3) as u32,
                    ));
                    ours.push(k);
                    want.push(k);
                } else {
                    assert_eq!(ours.pop(), want.pop(), "seed {seed}");
                }
                assert_eq!(ours.peek(), want.peek().copied(), "seed {seed}");
                assert_eq!(ours.is_empty(), want.is_empty());
            }
            let mut all: Vec<_> = ours.iter().collect();
            let mut rest: Vec<_> = want.iter().copied().collect();
            all.sort();
            rest.sort();
            assert_eq!(all, rest);
            while let Some(k) = want.pop() {
                assert_eq!(ours.pop(), Some(k));
            }
            assert_eq!(ours.pop(), None);
            assert!(ours.is_empty() && ours.levels.is_empty());
        }
    }

    #[test]
    fn packing_keeps_the_tuple_order() {
        let a = pack(1, Slot(u32::MAX), u32::MAX);
        let b = pack(2, Slot(0), 0);
        assert!(a < b);
        assert!(pack(5, Slot(3), 9) < pack(5, Slot(4), 0));
        assert_eq!(
            unpack(-7, pack(u64::MAX, Slot(12), 34)),
            Reverse((-7, u64::MAX, Slot(12), 34))
        );
    }
}
