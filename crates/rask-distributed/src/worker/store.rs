//! The worker's values: in memory, or spilled to disk (`spill.rs`).
//!
//! Every value the worker keeps is an entry of one map, in one of three
//! states:
//! ```text
//!   insert ──> Mem ──(spilled: oldest use first)──> Spilling ──> Disk
//!               ^  └──(it has a file already: no write)────────────┘ │
//!               └──────────(read back by a task here)────────────────┘
//!   remove: from any state (a file being written is deleted after)
//! ```
//! Rules:
//! 1. `managed` is the sum of the lengths of the `Mem` and `Spilling`
//!    entries, `spilled` that of the `Disk` entries; both change only under
//!    the lock, with the entry.
//! 2. The lock is never held during disk IO: an entry is marked `Spilling`
//!    (still readable), written outside the lock, and becomes `Disk` only if
//!    it is still the same `Spilling` entry afterwards (not removed or
//!    replaced meanwhile); otherwise its file is deleted.
//! 3. A value that someone else holds too (a running task's argument, a
//!    value lent to a peer) is not spilled: its memory would not be freed.
//! 4. An insert that takes `managed` above the target plus a slack spills
//!    at once, on the inserting thread, the least recently used values
//!    until it is under the target again (as Dask's `SpillBuffer`), so the
//!    limit holds however fast tasks produce. Between the target and the
//!    slack, the worker's spiller thread (`memory.rs`) spills in the
//!    background instead, so a task makes its next value while the last
//!    one is written (W9's persist: generating and writing overlap). The
//!    memory monitor spills more when the process's resident memory is
//!    high.
//! 5. A value read by a task here comes back into memory and counts as
//!    used now (spilling the least recently used others if that takes
//!    `managed` above the target), and it keeps its file: values are never
//!    changed, so the file stays a true copy, and spilling the value again
//!    only drops it from memory. So **a value is written to disk at most
//!    once** however often it moves in and out: bringing a value back
//!    costs one read, and at most one write of a value never written
//!    before. The file goes when the value is released. A value read for a
//!    peer or a client is read from disk and not kept (as Dask does since
//!    2022: a fetch should not evict what tasks here are about to use).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::spill::{OnDisk, SpillDir, SpillError};
use crate::bytes::Bytes;
use crate::proto::Gid;

/// After a failed spill (a full disk), no other is tried for this long.
const RETRY_SPILL: Duration = Duration::from_secs(1);

enum Entry {
    /// In memory; `disk`: its file, when it was read back (rule 5).
    Mem {
        bytes: Bytes,
        tick: u64,
        disk: Option<OnDisk>,
    },
    Spilling {
        bytes: Bytes,
    },
    Disk {
        len: u64,
        disk: OnDisk,
    },
}

#[derive(Default)]
struct Inner {
    map: HashMap<Gid, Entry>,
    /// `Mem` entries by last use, oldest first.
    lru: BTreeMap<u64, Gid>,
    tick: u64,
    managed: u64,
    spilled: u64,
    /// No spill is tried before this (after a failure).
    blocked_until: Option<Instant>,
}

/// What the store holds, in bytes and values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Figures {
    pub(crate) managed: u64,
    pub(crate) spilled: u64,
    pub(crate) in_memory: usize,
    pub(crate) on_disk: usize,
}

/// The worker's values (see the module docs).
pub(crate) struct Store {
    inner: Mutex<Inner>,
    spill: Option<SpillDir>,
    /// Rule 4's target (`u64::MAX`: never spill on insert).
    target: u64,
    /// Rule 4's slack: above the target by at most this, the spiller
    /// thread spills (0: the inserting thread always does).
    slack: u64,
    /// Wakes the spiller thread.
    over: Condvar,
    /// Values read back live in shared memory when big (local transport).
    shared_mem: bool,
}

fn bytes_in_use(b: &Bytes) -> bool {
    match b {
        Bytes::Vec(v) => std::sync::Arc::strong_count(v) > 1,
        Bytes::Shm(s) => std::sync::Arc::strong_count(s) > 1,
    }
}

impl Store {
    /// A store that spills to `spill` (if any) above `target` managed bytes.
    pub(crate) fn new(spill: Option<SpillDir>, target: u64, shared_mem: bool) -> Store {
        Store {
            inner: Mutex::new(Inner::default()),
            spill,
            target,
            slack: 0,
            over: Condvar::new(),
            shared_mem,
        }
    }

    /// With rule 4's slack: a spiller thread calls [`Store::spill_in_background`].
    pub(crate) fn with_slack(mut self, slack: u64) -> Store {
        self.slack = slack;
        self
    }

    /// After an insert or a read back: spills now if far over the target,
    /// else wakes the spiller if over it (rule 4).
    fn after_growth(&self, managed: u64) {
        if managed > self.target.saturating_add(self.slack) {
            self.spill_to(self.target);
        } else if managed > self.target {
            self.over.notify_one();
        }
    }

    /// The spiller thread's step: waits up to `wait` for the values in
    /// memory to pass the target, then spills down to it (rule 4).
    pub(crate) fn spill_in_background(&self, wait: std::time::Duration) {
        let g = self.lock();
        let g = if g.managed > self.target {
            g
        } else {
            self.over
                .wait_timeout(g, wait)
                .map_or_else(|p| p.into_inner().0, |(g, _)| g)
        };
        let over = g.managed > self.target;
        drop(g);
        if over {
            self.spill_to(self.target);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The spill directory, if values may be spilled.
    pub(crate) fn spill_dir(&self) -> Option<&SpillDir> {
        self.spill.as_ref()
    }

    /// Keeps `bytes` as `gid` (replacing any value of that id), then spills
    /// if over the target (rule 4).
    pub(crate) fn insert(&self, gid: Gid, bytes: Bytes) {
        let over = {
            let mut g = self.lock();
            let old = g.map.remove(&gid);
            if let Some(old) = old {
                g.forget(gid, old, self.spill.as_ref());
            }
            g.managed += bytes.len() as u64;
            g.keep(gid, bytes, None);
            g.managed
        };
        self.after_growth(over);
    }

    /// Whether `gid` is held (in memory or on disk).
    pub(crate) fn contains(&self, gid: Gid) -> bool {
        self.lock().map.contains_key(&gid)
    }

    /// The value of `gid`, read back from disk if spilled; with `keep` it
    /// comes back into memory (rule 5). `Ok(None)`: not held here.
    pub(crate) fn get(&self, gid: Gid, keep: bool) -> Result<Option<Bytes>, SpillError> {
        {
            let mut g = self.lock();
            let g = &mut *g;
            match g.map.get_mut(&gid) {
                None => return Ok(None),
                Some(Entry::Mem { bytes, tick, .. }) => {
                    let b = bytes.clone();
                    if keep {
                        g.lru.remove(tick);
                        g.tick += 1;
                        *tick = g.tick;
                        g.lru.insert(g.tick, gid);
                    }
                    return Ok(Some(b));
                }
                Some(Entry::Spilling { bytes }) => return Ok(Some(bytes.clone())),
                Some(Entry::Disk { .. }) => {}
            }
        }
        let Some(dir) = &self.spill else {
            return Ok(None);
        };
        let bytes = match dir.read(gid, self.shared_mem) {
            Ok(b) => b,
            // Released while we read it.
            Err(SpillError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && !self.contains(gid) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        if !keep {
            return Ok(Some(bytes));
        }
        let over = {
            let mut g = self.lock();
            let g = &mut *g;
            match g.map.get(&gid) {
                // Back in memory, keeping its file (rule 5).
                Some(&Entry::Disk { len, disk }) => {
                    g.spilled -= len;
                    g.managed += len;
                    g.keep(gid, bytes.clone(), Some(disk));
                    g.managed
                }
                _ => 0,
            }
        };
        self.after_growth(over);
        Ok(Some(bytes))
    }

    /// Forgets `gid` wherever it is (rule 2 for one being written).
    pub(crate) fn remove(&self, gid: Gid) {
        let mut g = self.lock();
        if let Some(old) = g.map.remove(&gid) {
            g.forget(gid, old, self.spill.as_ref());
        }
    }

    /// What the store holds.
    pub(crate) fn figures(&self) -> Figures {
        let g = self.lock();
        let on_disk = g
            .map
            .values()
            .filter(|e| matches!(e, Entry::Disk { .. }))
            .count();
        Figures {
            managed: g.managed,
            spilled: g.spilled,
            in_memory: g.map.len() - on_disk,
            on_disk,
        }
    }

    /// Spills least recently used values until at most `target` bytes are
    /// in memory, or nothing more can be (all in use, or a full disk);
    /// returns the bytes spilled.
    pub(crate) fn spill_to(&self, target: u64) -> u64 {
        let mut freed = 0;
        while self.lock().managed > target {
            match self.spill_one() {
                Ok(Some(n)) => freed += n,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot spill; keeping values in memory");
                    break;
                }
            }
        }
        freed
    }

    /// Spills the least recently used value that nobody else holds (rules
    /// 2 and 3): its length, or `None` if there is none (or no spill
    /// directory, or spilling failed less than a second ago).
    pub(crate) fn spill_one(&self) -> Result<Option<u64>, SpillError> {
        let Some(dir) = &self.spill else {
            return Ok(None);
        };
        let (gid, bytes) = {
            let mut g = self.lock();
            if g.blocked_until.is_some_and(|t| Instant::now() < t) {
                return Ok(None);
            }
            let victim = g
                .lru
                .iter()
                .find_map(|(&tick, &gid)| match g.map.get(&gid) {
                    Some(Entry::Mem { bytes, .. }) if !bytes_in_use(bytes) => Some((tick, gid)),
                    _ => None,
                });
            let Some((tick, gid)) = victim else {
                return Ok(None);
            };
            g.lru.remove(&tick);
            let Some(Entry::Mem { bytes, disk, .. }) = g.map.remove(&gid) else {
                return Ok(None);
            };
            let len = bytes.len() as u64;
            if let Some(disk) = disk {
                // Its file is a true copy: no write (rule 5).
                g.map.insert(gid, Entry::Disk { len, disk });
                g.managed -= len;
                g.spilled += len;
                return Ok(Some(len));
            }
            g.map.insert(
                gid,
                Entry::Spilling {
                    bytes: bytes.clone(),
                },
            );
            (gid, bytes)
        };
        let len = bytes.len() as u64;
        let written = dir.write(gid, bytes.as_slice());
        let mut g = self.lock();
        let g = &mut *g;
        let same =
            matches!(g.map.get(&gid), Some(Entry::Spilling { bytes: b }) if same_bytes(b, &bytes));
        match written {
            Ok(disk) if same => {
                g.map.insert(gid, Entry::Disk { len, disk });
                g.managed -= len;
                g.spilled += len;
                Ok(Some(len))
            }
            Ok(disk) => {
                // Removed or replaced while written: the file is not needed.
                dir.remove(gid, disk);
                Ok(Some(0))
            }
            Err(e) => {
                if same {
                    g.keep(gid, bytes, None);
                }
                g.blocked_until = Some(Instant::now() + RETRY_SPILL);
                Err(e)
            }
        }
    }
}

fn same_bytes(a: &Bytes, b: &Bytes) -> bool {
    match (a, b) {
        (Bytes::Vec(x), Bytes::Vec(y)) => std::sync::Arc::ptr_eq(x, y),
        (Bytes::Shm(x), Bytes::Shm(y)) => std::sync::Arc::ptr_eq(x, y),
        _ => false,
    }
}

impl Inner {
    /// Holds `bytes` in memory as `gid`, used now (its file, if it has
    /// one: rule 5). The caller counts it in `managed`.
    fn keep(&mut self, gid: Gid, bytes: Bytes, disk: Option<OnDisk>) {
        self.tick += 1;
        let tick = self.tick;
        self.lru.insert(tick, gid);
        self.map.insert(gid, Entry::Mem { bytes, tick, disk });
    }

    /// Takes a removed entry out of the figures (and its file off disk).
    fn forget(&mut self, gid: Gid, e: Entry, dir: Option<&SpillDir>) {
        match e {
            Entry::Mem { bytes, tick, disk } => {
                self.lru.remove(&tick);
                self.managed -= bytes.len() as u64;
                if let (Some(disk), Some(d)) = (disk, dir) {
                    d.remove(gid, disk);
                }
            }
            // Its writer sees it gone and deletes the file (rule 2).
            Entry::Spilling { bytes } => self.managed -= bytes.len() as u64,
            Entry::Disk { len, disk } => {
                self.spilled -= len;
                if let Some(d) = dir {
                    d.remove(gid, disk);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn store(target: u64, quota: Option<u64>) -> (std::path::PathBuf, Store) {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let parent =
            std::env::temp_dir().join(format!("rask-store-test-{}-{n}", std::process::id()));
        let dir = SpillDir::create(&parent, "t", true, quota).unwrap();
        (parent, Store::new(Some(dir), target, false))
    }

    /// `n` bytes of noise (LZ4 does not shrink it: files are as long as
    /// the values, which the quota test counts on).
    fn value(i: u64, n: usize) -> Bytes {
        Bytes::from_vec(super::super::spill::tests::noise(
            n,
            i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ))
    }

    fn on_disk(s: &Store, i: u64) -> bool {
        matches!(s.lock().map.get(&Gid(i)), Some(Entry::Disk { .. }))
    }

    #[test]
    fn inserts_over_the_target_spill_the_least_recently_used() {
        let (parent, s) = store(250_000, None);
        for i in 0..5 {
            s.insert(Gid(i), value(i, 100_000));
        }
        // 500,000 bytes inserted, at most 250,000 stay in memory.
        let f = s.figures();
        assert!(f.managed <= 250_000, "{f:?}");
        assert_eq!(f.managed + f.spilled, 500_000);
        assert_eq!(f.on_disk, 3);
        // The oldest went first.
        assert!(s.spill_dir().unwrap().used() > 0);
        // Every value comes back bit-identical, spilled or not.
        for i in 0..5 {
            let b = s.get(Gid(i), i % 2 == 0).unwrap().unwrap();
            assert_eq!(b.as_slice(), value(i, 100_000).as_slice(), "value {i}");
        }
        // Reading back with `keep` brings a value into memory, spilling the
        // least recently used others (rule 5).
        let back = (0..5).find(|&i| on_disk(&s, i)).unwrap();
        let held = s.get(Gid(back), true).unwrap().unwrap();
        assert!(!on_disk(&s, back));
        let f = s.figures();
        assert!(f.managed <= 250_000, "{f:?}");
        assert_eq!(f.managed + f.spilled, 500_000);
        drop(held);
        // It kept its file: spilled again, it is not written again, and no
        // value is ever written twice.
        let before = s.spill_dir().unwrap().traffic();
        s.spill_to(0);
        let after = s.spill_dir().unwrap().traffic();
        assert!(on_disk(&s, back));
        assert_eq!(after.writes, 5, "each value written once: {after:?}");
        assert!(after.writes - before.writes <= 4, "{before:?} {after:?}");
        for i in 0..5 {
            let b = s.get(Gid(i), i % 2 == 1).unwrap().unwrap();
            assert_eq!(b.as_slice(), value(i, 100_000).as_slice(), "value {i}");
        }
        s.spill_to(0);
        assert_eq!(s.spill_dir().unwrap().traffic().writes, 5);
        // Released values leave no file, in memory or not.
        s.get(Gid(back), true).unwrap().unwrap();
        for i in 0..5 {
            s.remove(Gid(i));
        }
        assert_eq!(s.figures(), Figures::default());
        assert_eq!(s.spill_dir().unwrap().used(), 0);
        assert!(s.get(Gid(1), true).unwrap().is_none());
        drop(s);
        let _ = std::fs::remove_dir_all(parent);
    }

    #[test]
    fn within_the_slack_the_spiller_spills_beyond_it_the_inserter() {
        let (parent, s) = store(250_000, None);
        let s = s.with_slack(150_000);
        for i in 0..3 {
            s.insert(Gid(i), value(i, 100_000));
        }
        // 300,000 in memory: over the target, within the slack: no write yet.
        assert_eq!(s.figures().managed, 300_000);
        assert_eq!(s.spill_dir().unwrap().traffic().writes, 0);
        // The spiller's step brings it under the target.
        s.spill_in_background(std::time::Duration::from_millis(1));
        assert!(s.figures().managed <= 250_000, "{:?}", s.figures());
        // Past target + slack, the inserting thread spills at once.
        for i in 3..7 {
            s.insert(Gid(i), value(i, 100_000));
        }
        assert!(s.figures().managed <= 400_000, "{:?}", s.figures());
        // A step with nothing to do returns (after its wait).
        s.spill_to(0);
        s.spill_in_background(std::time::Duration::from_millis(5));
        for i in 0..7 {
            let b = s.get(Gid(i), false).unwrap().unwrap();
            assert_eq!(b.as_slice(), value(i, 100_000).as_slice(), "value {i}");
        }
        drop(s);
        let _ = std::fs::remove_dir_all(parent);
    }

    #[test]
    fn values_in_use_are_not_spilled() {
        let (parent, s) = store(u64::MAX, None);
        s.insert(Gid(1), value(1, 50_000));
        let held = s.get(Gid(1), true).unwrap().unwrap();
        assert_eq!(s.spill_one().unwrap(), None);
        drop(held);
        assert_eq!(s.spill_one().unwrap(), Some(50_000));
        drop(s);
        let _ = std::fs::remove_dir_all(parent);
    }

    #[test]
    fn a_full_disk_keeps_values_in_memory_with_a_typed_error() {
        let (parent, s) = store(u64::MAX, Some(60_000));
        s.insert(Gid(1), value(1, 50_000));
        s.insert(Gid(2), value(2, 50_000));
        assert_eq!(s.spill_one().unwrap(), Some(50_000));
        match s.spill_one() {
            Err(SpillError::DiskFull { .. }) => {}
            other => panic!("expected DiskFull, got {other:?}"),
        }
        // The value stays, readable; no retry within the second.
        assert_eq!(s.figures().managed, 50_000);
        assert_eq!(s.spill_one().unwrap(), None);
        let b = s.get(Gid(2), false).unwrap().unwrap();
        assert_eq!(b.as_slice(), value(2, 50_000).as_slice());
        drop(s);
        let _ = std::fs::remove_dir_all(parent);
    }
}
