//! Per-thread buffers: how task events are recorded without locks.
//!
//! Every thread that delivers task events to a recorder gets its own
//! [`ThreadBuf`], found through a thread-local (one comparison when the
//! thread last used the same recorder). The thread is the buffer's only
//! *writer*: it interns prefixes in its own cache, appends records to its
//! open chunk (`chunk.rs`) and bumps its own counters of started attempts,
//! with plain stores. *Readers* (snapshots, the dashboard) see the open
//! chunk through `open` and read the counters with relaxed loads.
//!
//! Rules:
//! 1. `Writer` (behind `UnsafeCell`) is touched only by the thread that owns
//!    the buffer (the thread-local holds the only way to reach it for
//!    writing).
//! 2. `open` changes only when the writer seals a full chunk (once per
//!    4,096 records) or when the thread exits: holding `open`'s lock, the
//!    writer hands the old chunk to the store and puts the new one in.
//!    Readers hold every `open` lock while they read the store (see
//!    `Inner::read`), so they see each record exactly once.
//! 3. Counters are single-writer: `store(load + 1)`, no read-modify-write
//!    instruction; readers may see a value one behind.
//! 4. At thread exit the thread-local's destructor seals the open chunk
//!    and marks the buffer retired; the recorder then forgets it.

use rask_core::{Key, RunId, Stamp, TaskId};
use std::cell::{Cell, RefCell, UnsafeCell};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::chunk::{Chunk, Packed, Summary};
use super::live::LiveRun;
use super::names::{NameCache, NameId};
use super::Inner;

const SEG: usize = 256;
const SEGS: usize = 256;

/// Counters indexed by a dense id (< 65,536; larger ids share the last
/// one), allocated 256 at a time. Single writer (rule 3).
pub(crate) struct SegCounters {
    segs: [AtomicPtr<[AtomicU64; SEG]>; SEGS],
}

impl Default for SegCounters {
    fn default() -> Self {
        SegCounters {
            segs: [const { AtomicPtr::new(ptr::null_mut()) }; SEGS],
        }
    }
}

impl SegCounters {
    #[inline]
    fn slot(i: u32) -> (usize, usize) {
        let i = (i as usize).min(SEG * SEGS - 1);
        (i / SEG, i % SEG)
    }

    /// Adds one to counter `i` (the writer only; rule 3).
    #[inline]
    pub(crate) fn bump(&self, i: u32) {
        let (s, k) = Self::slot(i);
        let mut p = self.segs[s].load(Ordering::Acquire);
        if p.is_null() {
            let fresh: Box<[AtomicU64; SEG]> = Box::new([const { AtomicU64::new(0) }; SEG]);
            p = Box::into_raw(fresh);
            self.segs[s].store(p, Ordering::Release);
        }
        // SAFETY: `p` came from `Box::into_raw` and is freed only in `drop`.
        let c = unsafe { &(*p)[k] };
        c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Calls `f(i, value)` for every non-zero counter.
    pub(crate) fn for_each(&self, mut f: impl FnMut(u32, u64)) {
        for (s, seg) in self.segs.iter().enumerate() {
            let p = seg.load(Ordering::Acquire);
            if p.is_null() {
                continue;
            }
            // SAFETY: as in `bump`.
            let seg = unsafe { &*p };
            for (k, c) in seg.iter().enumerate() {
                let v = c.load(Ordering::Relaxed);
                if v > 0 {
                    f((s * SEG + k) as u32, v);
                }
            }
        }
    }
}

impl Drop for SegCounters {
    fn drop(&mut self) {
        for seg in &self.segs {
            let p = seg.load(Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: made by `Box::into_raw` in `bump`, freed once here.
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}

/// The worker id as a counter index (the client shares the last slot).
#[inline]
pub(crate) fn worker_slot(w: u32) -> u32 {
    w.min(u16::MAX as u32)
}

/// What only the owning thread touches (rule 1).
struct Writer {
    cache: NameCache,
    chunk: Option<Arc<Chunk>>,
    /// The open chunk's summary so far (`chunk.rs`).
    summary: Summary,
    seq: u64,
    last_start: Option<(RunId, TaskId, Stamp, NameId)>,
    run: Option<(RunId, Option<Arc<LiveRun>>)>,
}

/// One thread's buffer for one recorder. Aligned like a chunk: its writer
/// state changes per task and must not share a line with another thread's.
#[repr(align(128))]
pub(crate) struct ThreadBuf {
    /// Dense index (never reused), for cursors.
    pub(crate) index: usize,
    /// The open chunk, for readers (rule 2).
    pub(crate) open: Mutex<Option<Arc<Chunk>>>,
    /// Attempts started, per prefix.
    pub(crate) started_prefix: SegCounters,
    /// Attempts started, per worker ([`worker_slot`]).
    pub(crate) started_worker: SegCounters,
    /// Records appended before the open chunk (or in all, once there is
    /// none): readers use it only where `open` is `None`, so the writer
    /// stores it when it opens a chunk and when it retires, not per record.
    pub(crate) seq: AtomicU64,
    /// The thread has exited (rule 4).
    pub(crate) retired: AtomicBool,
    w: UnsafeCell<Writer>,
}

// SAFETY: `w` is accessed only by the owning thread (rule 1); every other
// field is a lock or atomics.
unsafe impl Sync for ThreadBuf {}
// SAFETY: as above; the buffer moves between threads only inside an `Arc`.
unsafe impl Send for ThreadBuf {}

impl ThreadBuf {
    pub(crate) fn new(index: usize) -> ThreadBuf {
        ThreadBuf {
            index,
            open: Mutex::new(None),
            started_prefix: SegCounters::default(),
            started_worker: SegCounters::default(),
            seq: AtomicU64::new(0),
            retired: AtomicBool::new(false),
            w: UnsafeCell::new(Writer {
                cache: NameCache::default(),
                chunk: None,
                summary: Summary::default(),
                seq: 0,
                last_start: None,
                run: None,
            }),
        }
    }

    /// The writer's state.
    ///
    /// # Safety
    /// Only the owning thread may call this (rule 1), and not while another
    /// borrow from it is alive.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    unsafe fn writer(&self) -> &mut Writer {
        // SAFETY: the caller is the owning thread (rule 1) with no other
        // borrow alive.
        unsafe { &mut *self.w.get() }
    }
}

/// What a thread does with its buffer (all called on the owning thread).
pub(crate) struct Lane<'a> {
    buf: &'a ThreadBuf,
    inner: &'a Inner,
}

impl Lane<'_> {
    // A `Lane` is the owning thread's only handle on its writer (rule 1).
    #[allow(clippy::mut_from_ref)]
    #[inline]
    fn w(&self) -> &mut Writer {
        // SAFETY: a `Lane` exists only inside `with_lane` on the owning
        // thread, and each method takes at most one borrow at a time.
        unsafe { self.buf.writer() }
    }

    #[inline]
    pub(crate) fn prefix(&self, key: &Key) -> NameId {
        self.w().cache.prefix(key, &self.inner.names)
    }

    #[inline]
    pub(crate) fn started(&self, run: RunId, task: TaskId, prefix: NameId, worker: u32, at: Stamp) {
        self.buf.started_prefix.bump(prefix.0);
        self.buf.started_worker.bump(worker_slot(worker));
        self.w().last_start = Some((run, task, at, prefix));
    }

    /// The prefix of `key`, looked up once per task: the one found when
    /// this thread started `task`, if it was the last one it started.
    #[inline]
    pub(crate) fn prefix_of(&self, run: RunId, task: TaskId, key: &Key) -> NameId {
        match self.w().last_start {
            Some((r, t, _, p)) if r == run && t == task => p,
            _ => self.prefix(key),
        }
    }

    /// The start of `task` if it was the last one started on this thread.
    #[inline]
    pub(crate) fn start_of(&self, run: RunId, task: TaskId) -> Option<Stamp> {
        match self.w().last_start {
            Some((r, t, s, _)) if r == run && t == task => Some(s),
            _ => None,
        }
    }

    /// Calls `f` with the kept graph of `run`, if any (cached per thread;
    /// borrowed, so that no reference count shared by the threads is
    /// touched per event).
    #[inline]
    pub(crate) fn with_live(&self, run: RunId, f: impl FnOnce(&LiveRun)) {
        let cached = matches!(&self.w().run, Some((r, _)) if *r == run);
        if !cached {
            self.cache_live(run);
        }
        if let Some((_, Some(l))) = &self.w().run {
            f(l);
        }
    }

    #[cold]
    fn cache_live(&self, run: RunId) {
        let l = if run == RunId(0) {
            None
        } else {
            self.inner.live_run(run)
        };
        self.w().run = Some((run, l));
    }

    /// Appends a record (a full chunk is sealed first).
    #[inline]
    pub(crate) fn push(&self, r: Packed) {
        if !self.try_push(r) {
            self.new_chunk();
            self.try_push(r);
        }
    }

    #[inline]
    fn try_push(&self, r: Packed) -> bool {
        let w = self.w();
        let Some(c) = &w.chunk else { return false };
        // SAFETY: this thread is the chunk's only writer (chunk rule 1); it
        // is not sealed (sealing takes it out of `w.chunk` first).
        if !unsafe { c.push(r) } {
            return false;
        }
        w.summary.add(&r);
        w.seq += 1;
        true
    }

    #[cold]
    fn new_chunk(&self) {
        let w = self.w();
        let fresh = Arc::new(self.inner.fresh_chunk(self.buf.index, w.seq));
        w.chunk = Some(fresh.clone());
        replace_open(self.buf, w, self.inner, Some(fresh));
    }
}

/// Puts `next` in as `buf`'s open chunk (its writer `w` already writes
/// there) and seals the old one with the summary `w` added up for it
/// (rule 2: under `open`, so that a reader sees the old chunk either open
/// or in the store, never in neither or both).
fn replace_open(buf: &ThreadBuf, w: &mut Writer, inner: &Inner, next: Option<Arc<Chunk>>) {
    buf.seq.store(w.seq, Ordering::Release);
    let summary = std::mem::take(&mut w.summary);
    let mut open = buf.open.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(old) = std::mem::replace(&mut *open, next) {
        if old.len() > 0 {
            old.set_summary(summary);
            inner.seal(old);
        }
    }
}

/// Seals the open chunk of `buf` and marks it retired (rule 4).
fn retire(buf: &ThreadBuf, inner: &Inner) {
    // SAFETY: called from the owning thread's thread-local destructor.
    let w = unsafe { buf.writer() };
    w.chunk = None;
    replace_open(buf, w, inner, None);
    buf.retired.store(true, Ordering::Release);
}

/// A thread's buffer for one recorder: (recorder id, buffer, recorder).
type Held = (u64, Arc<ThreadBuf>, Weak<Inner>);

struct Local {
    bufs: RefCell<Vec<Held>>,
    last: Cell<(u64, *const ThreadBuf)>,
}

impl Drop for Local {
    fn drop(&mut self) {
        for (_, buf, inner) in self.bufs.get_mut().drain(..) {
            if let Some(inner) = inner.upgrade() {
                retire(&buf, &inner);
            }
        }
    }
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            bufs: RefCell::new(Vec::new()),
            last: Cell::new((0, ptr::null())),
        }
    };
}

/// Runs `f` with this thread's buffer for `inner` (made on first use).
/// Does nothing while the thread is exiting.
#[inline]
pub(crate) fn with_lane(inner: &Arc<Inner>, f: impl FnOnce(&Lane<'_>)) {
    let _ = LOCAL.try_with(|l| {
        let (id, p) = l.last.get();
        let buf: &ThreadBuf = if id == inner.id && !p.is_null() {
            // SAFETY: `p` points into an `Arc<ThreadBuf>` held by `l.bufs`,
            // which this thread only drops at exit (after this call) or in
            // `slow` below, which also resets `last`.
            unsafe { &*p }
        } else {
            let b = slow(l, inner);
            // SAFETY: as above: `b` is held by `l.bufs`.
            unsafe { &*b }
        };
        f(&Lane { buf, inner });
    });
}

#[cold]
fn slow(l: &Local, inner: &Arc<Inner>) -> *const ThreadBuf {
    let mut bufs = l.bufs.borrow_mut();
    // Forget buffers of recorders that are gone.
    bufs.retain(|(_, _, w)| w.strong_count() > 0);
    let p = match bufs.iter().find(|(id, _, _)| *id == inner.id) {
        Some((_, b, _)) => Arc::as_ptr(b),
        None => {
            let b = inner.new_buf();
            let p = Arc::as_ptr(&b);
            bufs.push((inner.id, b, Arc::downgrade(inner)));
            p
        }
    };
    l.last.set((inner.id, p));
    p
}
