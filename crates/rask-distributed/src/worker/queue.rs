//! The compute queue (rule 8 of the worker's module docs): jobs in the
//! scheduler's order (`rank`), equal ranks in arrival order.
//!
//! A binary heap keyed by `(rank, arrival number)`: a job that arrives
//! with a rank before many queued ones (a consumer of a result just made,
//! ranked between the roots queued earlier) costs `O(log n)`, where a
//! sorted `VecDeque` moved every job behind it (`memmove` was a tenth of a
//! worker's samples in W7, whose workers hold thousands of queued jobs).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// Items of type `T` with a rank, smallest rank out first.
#[derive(Debug)]
pub(super) struct RankQueue<T> {
    heap: BinaryHeap<Reverse<Entry<T>>>,
    arrivals: u64,
}

#[derive(Debug)]
struct Entry<T> {
    rank: (i64, u64),
    arrival: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.rank, self.arrival).cmp(&(other.rank, other.arrival))
    }
}

impl<T> Default for RankQueue<T> {
    fn default() -> Self {
        RankQueue {
            heap: BinaryHeap::new(),
            arrivals: 0,
        }
    }
}

impl<T> RankQueue<T> {
    /// Queues `item`, after the queued items of equal rank.
    pub(super) fn push(&mut self, rank: (i64, u64), item: T) {
        self.arrivals += 1;
        self.heap.push(Reverse(Entry {
            rank,
            arrival: self.arrivals,
            item,
        }));
    }

    /// Takes the first item out.
    pub(super) fn pop_front(&mut self) -> Option<T> {
        self.heap.pop().map(|Reverse(e)| e.item)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Keeps only the items `keep` says yes to.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.heap.retain(|Reverse(e)| keep(&e.item));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_keeps_the_schedulers_order() {
        // Roots 10, 20, 30 arrive first; 11 (a consumer of 10's result,
        // ready later) goes before 20 and 30; equal ranks keep arrival order.
        let mut q = RankQueue::default();
        for (r, c) in [
            (10, 'a'),
            (20, 'b'),
            (30, 'c'),
            (11, 'd'),
            (20, 'e'),
            (5, 'f'),
        ] {
            q.push((0, r), c);
        }
        q.retain(|&c| c != 'c');
        let mut order = String::new();
        while let Some(c) = q.pop_front() {
            order.push(c);
        }
        assert_eq!(order, "fadbe");
        assert!(q.is_empty());
    }
}
