//! The task stream's storage: chunks of 40-byte records, each filled by one
//! thread without locks or atomic read-modify-writes.
//!
//! # Protocol
//! 1. A chunk has one writer: the thread whose buffer opened it (see
//!    `lanes.rs`). It writes slot `i` and only then publishes `len = i + 1`
//!    with a release store. Slots are written once and never changed.
//! 2. Readers load `len` with acquire and read slots below it only, so they
//!    see complete records; they may run while the writer appends.
//! 3. A chunk is *sealed* when full (or when its thread exits): it moves to
//!    the store's ring and is never written again. A sealed chunk is reused
//!    for new records only once nothing else holds it (`Arc::try_unwrap`).
//!
//! Chunks hold 4,096 records (160 KiB). The per-chunk summary (counts and
//! time per prefix and per worker) is added up by the writer as it appends
//! (in memory it holds in cache) and handed over when the chunk is sealed;
//! a sealed chunk without one (none is made so today) would compute it from
//! its records the first time a reader or the ring's eviction asks. The
//! ring's eviction so never reads an old chunk's 160 KiB back from memory.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// Records per chunk.
pub(crate) const CHUNK: usize = 4096;

/// How many slots ahead a push asks for (about 640 ns of W1's tasks).
const AHEAD: usize = 8;

/// Asks the CPU to bring the line at `p` in (a hint; nothing elsewhere).
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching never faults.
    unsafe {
        core::arch::x86_64::_mm_prefetch(p.cast::<i8>(), core::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Bytes per task record.
pub const RECORD_BYTES: usize = std::mem::size_of::<Packed>();

// `flags` bits 0-1: the kind of the key's index (see `live::index_parts`).
/// `flags`: the task failed (or did not run because a dependency failed).
pub(crate) const FAILED: u8 = 1 << 2;
/// `flags`: the attempt failed and the task will run again.
pub(crate) const RETRIED: u8 = 1 << 3;
/// `flags`: the task did not run (a dependency failed).
pub(crate) const SKIPPED: u8 = 1 << 4;

/// Durations below 2^31 ns are stored in ns; longer ones in ms with the top bit set.
const LONG: u32 = 1 << 31;

/// Encodes a duration in 32 bits: exact below 2.1 s, to the millisecond above.
#[inline]
pub(crate) fn encode_duration(ns: u64) -> u32 {
    if ns < LONG as u64 {
        ns as u32
    } else {
        LONG | (ns / 1_000_000).min((LONG - 1) as u64) as u32
    }
}

/// Decodes [`encode_duration`].
#[inline]
pub(crate) fn decode_duration(d: u32) -> u64 {
    if d & LONG == 0 {
        d as u64
    } else {
        (d & !LONG) as u64 * 1_000_000
    }
}

/// `nbytes` value for "not known".
pub(crate) const NO_BYTES: u64 = u64::MAX;

/// One task record as stored: 40 bytes.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(crate) struct Packed {
    /// Start, ns since the recording's start.
    pub(crate) start: u64,
    /// The key's index.
    pub(crate) index: u64,
    /// Result bytes ([`NO_BYTES`]: not known).
    pub(crate) nbytes: u64,
    /// Duration ([`encode_duration`]).
    pub(crate) dur: u32,
    /// Key prefix (interned).
    pub(crate) prefix: u32,
    /// Worker.
    pub(crate) worker: u32,
    /// Thread within the worker (saturated).
    pub(crate) thread: u16,
    /// Attempt (saturated).
    pub(crate) attempt: u8,
    /// Key kind and outcome bits.
    pub(crate) flags: u8,
}

const _: () = assert!(std::mem::size_of::<Packed>() == 40);

/// Writes `r` to `p` field by field. A whole-record copy is lowered to
/// 8-byte moves, and the one that spans `worker`..`flags` (4 + 2 + 1 + 1
/// bytes, just stored apart) cannot be forwarded from those stores: it
/// waited for them, a third of the recorder's time on W1.
///
/// # Safety
/// `p` is valid for writes and aligned.
#[inline(always)]
unsafe fn write_fields(p: *mut Packed, r: &Packed) {
    use std::ptr::{addr_of_mut, write_volatile as put};
    // SAFETY: the caller's promise, field by field. Volatile only so that
    // the compiler keeps the moves apart (it would merge neighbours into
    // one wide move again); on x86-64 these are plain stores.
    unsafe {
        put(addr_of_mut!((*p).start), r.start);
        put(addr_of_mut!((*p).index), r.index);
        put(addr_of_mut!((*p).nbytes), r.nbytes);
        put(addr_of_mut!((*p).dur), r.dur);
        put(addr_of_mut!((*p).prefix), r.prefix);
        put(addr_of_mut!((*p).worker), r.worker);
        put(addr_of_mut!((*p).thread), r.thread);
        put(addr_of_mut!((*p).attempt), r.attempt);
        put(addr_of_mut!((*p).flags), r.flags);
    }
}

/// A chunk of records (protocol in the module docs). Aligned to two cache
/// lines (the prefetcher's pair) so that the `len` one writer stores per
/// record never shares a line with another thread's chunk.
#[repr(align(128))]
pub(crate) struct Chunk {
    /// The buffer (thread) that filled it.
    pub(crate) buf: usize,
    /// That buffer's sequence number of the first record.
    pub(crate) first_seq: u64,
    len: AtomicUsize,
    slots: Box<[UnsafeCell<MaybeUninit<Packed>>]>,
    summary: OnceLock<Summary>,
}

// SAFETY: slots are written by one thread (rule 1) and read below the
// published length only (rule 2); a slot is never written after publication.
unsafe impl Sync for Chunk {}

impl Chunk {
    pub(crate) fn new(buf: usize, first_seq: u64) -> Chunk {
        Chunk {
            buf,
            first_seq,
            len: AtomicUsize::new(0),
            slots: (0..CHUNK)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
            summary: OnceLock::new(),
        }
    }

    /// A sealed chunk that nobody else holds, made ready for new records.
    pub(crate) fn recycle(mut self, buf: usize, first_seq: u64) -> Chunk {
        self.buf = buf;
        self.first_seq = first_seq;
        *self.len.get_mut() = 0;
        self.summary = OnceLock::new();
        self
    }

    /// Records published so far (rule 2).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Appends a record; `false` if the chunk is full.
    ///
    /// # Safety
    /// Only the chunk's writer may call this (rule 1), and not after the
    /// chunk was sealed.
    #[inline]
    pub(crate) unsafe fn push(&self, r: Packed) -> bool {
        let i = self.len.load(Ordering::Relaxed);
        if i >= CHUNK {
            return false;
        }
        // SAFETY: the caller is the only writer (rule 1); slot `i` is not
        // published yet, so no reader looks at it.
        unsafe { write_fields(self.slots[i].get().cast::<Packed>(), &r) };
        self.len.store(i + 1, Ordering::Release);
        // The ring is far bigger than any cache, so the slots ahead are in
        // memory: ask for them now, so that a later push does not wait.
        if let Some(ahead) = self.slots.get(i + AHEAD) {
            prefetch(ahead.get());
        }
        true
    }

    /// The published records (rule 2).
    pub(crate) fn records(&self) -> impl Iterator<Item = Packed> + '_ {
        self.range(0, self.len())
    }

    /// Records `from..to`, where `to` is at most a length read before.
    pub(crate) fn range(&self, from: usize, to: usize) -> impl Iterator<Item = Packed> + '_ {
        let to = to.min(self.len());
        // SAFETY: slots below the acquired length were written and published
        // (rule 2) and are never written again.
        (from.min(to)..to).map(move |i| unsafe { (*self.slots[i].get()).assume_init_read() })
    }

    /// Gives a sealed chunk the summary its writer added up (protocol
    /// rule 3: after the last record, before any reader asks).
    pub(crate) fn set_summary(&self, s: Summary) {
        let _ = self.summary.set(s);
    }

    /// Counts and time per prefix and worker (sealed chunks only).
    pub(crate) fn summary(&self) -> &Summary {
        self.summary.get_or_init(|| {
            let mut s = Summary::default();
            for r in self.records() {
                s.add(&r);
            }
            s
        })
    }

    /// Heap bytes of a chunk.
    pub(crate) const fn bytes() -> usize {
        CHUNK * RECORD_BYTES
    }
}

/// Counts and time per prefix and per worker over some records.
#[derive(Clone, Debug, Default)]
pub(crate) struct Summary {
    pub(crate) prefix: Vec<Agg>,
    /// Per worker, in order of first appearance (few workers: a list).
    pub(crate) worker: Vec<(u32, Agg)>,
}

/// Counts and time of a set of records.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Agg {
    /// Finished with a value.
    pub(crate) done: u64,
    /// Failed (not retried, not skipped).
    pub(crate) failed: u64,
    /// Did not run (a dependency failed).
    pub(crate) skipped: u64,
    /// Attempts that failed and were retried.
    pub(crate) retried: u64,
    /// Time inside bodies.
    pub(crate) busy_ns: u64,
    /// Result bytes, where known.
    pub(crate) nbytes: u64,
}

impl Agg {
    #[inline]
    fn add(&mut self, r: &Packed) {
        if r.flags & SKIPPED != 0 {
            self.skipped += 1;
            return;
        }
        if r.flags & RETRIED != 0 {
            self.retried += 1;
        } else if r.flags & FAILED != 0 {
            self.failed += 1;
        } else {
            self.done += 1;
        }
        self.busy_ns += decode_duration(r.dur);
        if r.nbytes != NO_BYTES {
            self.nbytes += r.nbytes;
        }
    }

    pub(crate) fn merge(&mut self, o: &Agg) {
        self.done += o.done;
        self.failed += o.failed;
        self.skipped += o.skipped;
        self.retried += o.retried;
        self.busy_ns += o.busy_ns;
        self.nbytes += o.nbytes;
    }

    /// Attempts that ended (for `running = started - ended`).
    pub(crate) fn ended(&self) -> u64 {
        self.done + self.failed + self.retried
    }
}

impl Summary {
    #[inline]
    pub(crate) fn add(&mut self, r: &Packed) {
        let p = r.prefix as usize;
        if p >= self.prefix.len() {
            self.prefix.resize(p + 1, Agg::default());
        }
        self.prefix[p].add(r);
        self.worker_mut(r.worker).add(r);
    }

    fn worker_mut(&mut self, w: u32) -> &mut Agg {
        let i = match self.worker.iter().position(|(x, _)| *x == w) {
            Some(i) => i,
            None => {
                self.worker.push((w, Agg::default()));
                self.worker.len() - 1
            }
        };
        &mut self.worker[i].1
    }

    /// The totals of worker `w`.
    pub(crate) fn worker(&self, w: u32) -> Agg {
        self.worker
            .iter()
            .find(|(x, _)| *x == w)
            .map_or_else(Agg::default, |(_, a)| *a)
    }

    pub(crate) fn merge(&mut self, o: &Summary) {
        if o.prefix.len() > self.prefix.len() {
            self.prefix.resize(o.prefix.len(), Agg::default());
        }
        for (a, b) in self.prefix.iter_mut().zip(&o.prefix) {
            a.merge(b);
        }
        for (w, a) in &o.worker {
            self.worker_mut(*w).merge(a);
        }
    }
}

/// Task records column by column, as the report and dashboard read them.
/// Times are nanoseconds since the recording's start.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TaskColumns {
    /// Start times.
    pub start: Vec<u64>,
    /// Durations.
    pub dur: Vec<u64>,
    /// Key prefixes, as indexes into the snapshot's `names`.
    pub prefix: Vec<u32>,
    /// The keys' indexes (see `flags`).
    pub index: Vec<u64>,
    /// Bits 0-1, how to show the key: 0 the prefix alone, 1 `prefix[index]`,
    /// 2 `prefix#index`; plus 4 when the task failed, 8 when the attempt
    /// will be retried, 16 when it did not run (a dependency failed).
    pub flags: Vec<u8>,
    /// Workers.
    pub worker: Vec<u32>,
    /// Threads within the workers.
    pub thread: Vec<u32>,
    /// Attempts.
    pub attempt: Vec<u32>,
    /// Result sizes in bytes (-1: not known).
    pub nbytes: Vec<i64>,
}

impl TaskColumns {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.start.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
    }

    pub(crate) fn push(&mut self, r: &Packed) {
        self.start.push(r.start);
        self.dur.push(decode_duration(r.dur));
        self.prefix.push(r.prefix);
        self.index.push(r.index);
        self.flags.push(r.flags);
        self.worker.push(r.worker);
        self.thread.push(r.thread as u32);
        self.attempt.push(r.attempt as u32);
        self.nbytes.push(if r.nbytes == NO_BYTES {
            -1
        } else {
            r.nbytes.min(i64::MAX as u64) as i64
        });
    }

    /// Sorts the records by start time.
    pub fn sort_by_start(&mut self) {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by_key(|&i| self.start[i]);
        fn apply<T: Copy>(v: &mut Vec<T>, order: &[usize]) {
            *v = order.iter().map(|&i| v[i]).collect();
        }
        apply(&mut self.start, &order);
        apply(&mut self.dur, &order);
        apply(&mut self.prefix, &order);
        apply(&mut self.index, &order);
        apply(&mut self.flags, &order);
        apply(&mut self.worker, &order);
        apply(&mut self.thread, &order);
        apply(&mut self.attempt, &order);
        apply(&mut self.nbytes, &order);
    }

    /// Keeps the last `n` records (by position).
    pub fn keep_last(&mut self, n: usize) {
        let cut = self.len().saturating_sub(n);
        if cut == 0 {
            return;
        }
        self.start.drain(..cut);
        self.dur.drain(..cut);
        self.prefix.drain(..cut);
        self.index.drain(..cut);
        self.flags.drain(..cut);
        self.worker.drain(..cut);
        self.thread.drain(..cut);
        self.attempt.drain(..cut);
        self.nbytes.drain(..cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_exact_below_two_seconds_and_to_the_millisecond_above() {
        for ns in [0, 1, 999, 2_147_483_647] {
            assert_eq!(decode_duration(encode_duration(ns)), ns);
        }
        let long = 3_600 * 1_000_000_000u64 + 123_456_789;
        assert_eq!(
            decode_duration(encode_duration(long)),
            long / 1_000_000 * 1_000_000
        );
        assert!(decode_duration(encode_duration(u64::MAX)) > 1_000_000_000_000_000);
    }

    #[test]
    fn a_chunk_gives_back_what_went_in_and_refuses_more_than_it_holds() {
        let c = Chunk::new(3, 10);
        let r = Packed {
            start: 5,
            dur: 7,
            prefix: 2,
            index: 42,
            worker: 1,
            thread: 9,
            attempt: 2,
            flags: 1 | FAILED,
            nbytes: 99,
        };
        for _ in 0..CHUNK {
            // SAFETY: this test is the chunk's only writer.
            assert!(unsafe { c.push(r) });
        }
        // SAFETY: as above.
        assert!(!unsafe { c.push(r) });
        assert_eq!(c.len(), CHUNK);
        let all: Vec<Packed> = c.records().collect();
        assert_eq!(all.len(), CHUNK);
        assert_eq!(
            (all[7].start, all[7].prefix, all[7].index, all[7].nbytes),
            (5, 2, 42, 99)
        );
        let s = c.summary();
        assert_eq!(s.prefix[2].failed, CHUNK as u64);
        assert_eq!(s.worker(1).busy_ns, 7 * CHUNK as u64);
        let mut cols = TaskColumns::default();
        cols.push(&Packed {
            nbytes: NO_BYTES,
            ..r
        });
        assert_eq!(cols.nbytes, vec![-1]);
        let c = c.recycle(4, 20);
        assert_eq!((c.len(), c.buf, c.first_seq), (0, 4, 20));
    }
}
