//! The result cache: values of earlier runs, reused by later ones.
//!
//! A [`ResultCache`] is opt-in (an executor that has one returns it from
//! [`Executor::cache`](crate::Executor::cache)), bounded by bytes, and
//! evicts the least recently used value first. It maps a task's *identity*
//! to its value; the identity is a 128-bit hash of the task's key and the
//! identities of its inputs, in argument order (`plan.rs` in this module
//! computes them), so a task is "the same computation" when its key and
//! everything upstream of it are the same. Anonymous keys (`delayed(f, ..)`
//! without `task(..)`) carry a token unique to their node, so they name one
//! node object: computing the same `Delayed` again (or a bigger graph that
//! contains it) hits, a graph built again from scratch does not. A key the
//! user chose names the same computation in every graph that has the same
//! inputs (as in Dask, a key names one value): the user promises that what
//! the task captures is the same when its key is.
//!
//! Rules:
//! 1. Only successful results are stored; a failed task is never cached.
//! 2. A task marked [`uncached`](crate::Delayed::uncached), a future's value
//!    (an external node), and every task downstream of either, has no
//!    identity: it is neither looked up nor stored, so an impure task and
//!    what it feeds always run again.
//! 3. Constants (`value`, literal arguments) are not stored (they are held
//!    by their node) but their keys feed their dependents' identities.
//! 4. `bytes` is the sum of the stored values' estimated sizes
//!    ([`estimate_nbytes`]); an insert that takes it above the capacity
//!    evicts the least recently used entries until it fits; a value bigger
//!    than the whole capacity is not stored (counted in `rejected`).
//! 5. A lookup happens once per run, before it starts, for the tasks the
//!    outputs still need (`plan.rs`): a hit replaces its task and culls
//!    what only it needed, so a cached task's body never runs and its
//!    dependents get the cached value. Nothing is looked up while tasks run.
//! 6. With no cache, nothing here runs: the run carries `None` and pays one
//!    branch per finished task.

mod plan;
mod size;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub(crate) use plan::{prepare, RunCache};
pub(crate) use size::count_first_nbytes;
pub use size::{estimate_nbytes, NBytes, SizeOf};

use crate::node::Value;
use crate::Key;

/// A bounded, least-recently-used cache of task results (see the module
/// docs); clones share one cache.
#[derive(Clone)]
pub struct ResultCache {
    shared: Arc<Shared>,
}

struct Shared {
    capacity: u64,
    state: Mutex<State>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    inserts: AtomicU64,
    rejected: AtomicU64,
}

#[derive(Default)]
struct State {
    map: HashMap<u128, Entry>,
    /// Entries by last use, oldest first.
    lru: BTreeMap<u64, u128>,
    tick: u64,
    bytes: u64,
}

struct Entry {
    key: Key,
    value: Value,
    nbytes: u64,
    tick: u64,
}

/// A copy of a cache's counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheStats {
    /// Tasks served from the cache instead of running.
    pub hits: u64,
    /// Tasks looked up and not found (they ran).
    pub misses: u64,
    /// Entries removed to make room.
    pub evictions: u64,
    /// Values stored.
    pub inserts: u64,
    /// Values not stored because they alone exceed the capacity.
    pub rejected: u64,
    /// The estimated bytes of the values held.
    pub bytes: u64,
    /// Values held.
    pub entries: u64,
    /// The most bytes it holds.
    pub capacity: u64,
}

impl std::fmt::Debug for ResultCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultCache")
            .field("stats", &self.stats())
            .finish()
    }
}

impl ResultCache {
    /// A cache holding at most `capacity` bytes of results (by
    /// [`estimate_nbytes`]).
    pub fn new(capacity: u64) -> Self {
        ResultCache {
            shared: Arc::new(Shared {
                capacity,
                state: Mutex::new(State::default()),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                evictions: AtomicU64::new(0),
                inserts: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
            }),
        }
    }

    /// The most bytes it holds.
    pub fn capacity(&self) -> u64 {
        self.shared.capacity
    }

    /// The counters now.
    pub fn stats(&self) -> CacheStats {
        let s = &self.shared;
        let (bytes, entries) = {
            let st = self.state();
            (st.bytes, st.map.len() as u64)
        };
        CacheStats {
            hits: s.hits.load(Ordering::Relaxed),
            misses: s.misses.load(Ordering::Relaxed),
            evictions: s.evictions.load(Ordering::Relaxed),
            inserts: s.inserts.load(Ordering::Relaxed),
            rejected: s.rejected.load(Ordering::Relaxed),
            bytes,
            entries,
            capacity: s.capacity,
        }
    }

    /// Drops every value (the counters stay).
    pub fn clear(&self) {
        let mut st = self.state();
        st.map.clear();
        st.lru.clear();
        st.bytes = 0;
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value of identity `id` (whose task has key `key`), marked as
    /// just used; counts a hit or a miss.
    pub(crate) fn get(&self, id: u128, key: &Key) -> Option<Value> {
        let found = {
            let mut st = self.state();
            let tick = st.tick + 1;
            match st.map.get_mut(&id) {
                // The key is compared too, so that a hash collision between
                // two different tasks can never hand out a wrong value.
                Some(e) if e.key == *key => {
                    let old = std::mem::replace(&mut e.tick, tick);
                    let v = e.value.clone();
                    st.tick = tick;
                    st.lru.remove(&old);
                    st.lru.insert(tick, id);
                    Some(v)
                }
                _ => None,
            }
        };
        let counter = if found.is_some() {
            &self.shared.hits
        } else {
            &self.shared.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Stores `value` (of `nbytes`) as identity `id`, evicting the least
    /// recently used entries until it fits (rule 4).
    pub(crate) fn insert(&self, id: u128, key: &Key, value: &Value, nbytes: u64) {
        let s = &self.shared;
        if nbytes > s.capacity {
            s.rejected.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Evicted values are dropped after the lock is released.
        let mut evicted: Vec<Value> = Vec::new();
        {
            let mut st = self.state();
            st.tick += 1;
            let tick = st.tick;
            let entry = Entry {
                key: key.clone(),
                value: value.clone(),
                nbytes,
                tick,
            };
            if let Some(old) = st.map.insert(id, entry) {
                st.lru.remove(&old.tick);
                st.bytes -= old.nbytes;
                evicted.push(old.value);
            }
            st.lru.insert(tick, id);
            st.bytes += nbytes;
            while st.bytes > s.capacity {
                let Some((_, oldest)) = st.lru.pop_first() else {
                    break;
                };
                if let Some(e) = st.map.remove(&oldest) {
                    st.bytes -= e.nbytes;
                    evicted.push(e.value);
                    s.evictions.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        s.inserts.fetch_add(1, Ordering::Relaxed);
        drop(evicted);
    }
}

#[cfg(test)]
mod tests;
