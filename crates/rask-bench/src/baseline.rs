//! The W1 floor: the same 2N-1 tasks with no graph, no keys and no events.
//! Each task is a job spawned on a `rayon::scope`; each `add` is released by
//! an atomic counter of its pending children. This is what a dynamic
//! scheduler can approach, not beat.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const NONE: u32 = u32::MAX;

/// The tree: node `i < n` is `inc(i)`; the others are `add`s of two children.
pub(crate) struct Tree {
    n: usize,
    children: Vec<[u32; 2]>,
    parent: Vec<u32>,
    root: u32,
}

impl Tree {
    pub(crate) fn new(n: usize) -> Tree {
        let mut children = Vec::with_capacity(2 * n);
        let mut parent = vec![NONE; n];
        children.resize(n, [NONE, NONE]);
        let mut level: Vec<u32> = (0..n as u32).collect();
        while level.len() > 1 {
            let mut next = Vec::with_capacity(level.len() / 2 + 1);
            for pair in level.chunks(2) {
                if let [a, b] = *pair {
                    let id = children.len() as u32;
                    children.push([a, b]);
                    parent.push(NONE);
                    parent[a as usize] = id;
                    parent[b as usize] = id;
                    next.push(id);
                } else {
                    next.push(pair[0]);
                }
            }
            level = next;
        }
        Tree {
            n,
            children,
            parent,
            root: level.first().copied().unwrap_or(0),
        }
    }

    pub(crate) fn tasks(&self) -> usize {
        self.children.len()
    }

    /// Runs every task on the current rayon pool; returns the root's value.
    pub(crate) fn run(&self) -> u64 {
        let values: Vec<AtomicU64> = (0..self.tasks()).map(|_| AtomicU64::new(0)).collect();
        let pending: Vec<AtomicU32> = (0..self.tasks())
            .map(|i| AtomicU32::new(if i < self.n { 0 } else { 2 }))
            .collect();
        let (values, pending) = (&values, &pending);
        rayon::scope(|s| {
            for i in 0..self.n as u32 {
                s.spawn(move |s| self.job(s, i, values, pending));
            }
        });
        values[self.root as usize].load(Ordering::Relaxed)
    }

    fn job<'s>(
        &'s self,
        s: &rayon::Scope<'s>,
        i: u32,
        values: &'s [AtomicU64],
        pending: &'s [AtomicU32],
    ) {
        let v = if (i as usize) < self.n {
            u64::from(i) + 1
        } else {
            let [a, b] = self.children[i as usize];
            values[a as usize].load(Ordering::Relaxed) + values[b as usize].load(Ordering::Relaxed)
        };
        values[i as usize].store(v, Ordering::Relaxed);
        let p = self.parent[i as usize];
        if p != NONE && pending[p as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
            s.spawn(move |s| self.job(s, p, values, pending));
        }
    }
}
