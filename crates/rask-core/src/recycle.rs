//! [`Recycle`]: a global-allocator wrapper that keeps a few freed big
//! blocks and hands them out again, so a process that keeps making and
//! dropping big buffers (a worker's chunks: generated, encoded, spilled,
//! read back, decoded) reuses memory it has already touched instead of
//! asking the kernel for fresh pages, each of which costs a fault and a
//! zeroing (on the 2-core development machine, a virtual machine, the
//! zeroing was 30 to 45% of a W9 worker's time before this).
//!
//! ```rust,ignore
//! #[global_allocator]
//! static A: rask::Recycle<std::alloc::System> = rask::Recycle::new(std::alloc::System);
//! ```
//!
//! Rules:
//! 1. Only blocks of at least [`RECYCLE_MIN`] bytes and alignment at most
//!    4 KiB take part; they are allocated from the wrapped allocator with
//!    their size rounded up to whole 2 MiB and an alignment of 4 KiB (so a
//!    block fits every request of its size class, is page-aligned for
//!    direct IO, and is in huge pages: `huge.rs`). Everything else goes
//!    straight to the wrapped allocator.
//! 2. At most 8 blocks and [`recycle_cap`] bytes are kept; a freed
//!    block beyond that goes back to the wrapped allocator. The bytes kept
//!    are resident but hold no value: [`recycled_bytes`] says how many, and
//!    a worker's memory monitor does not count them as used
//!    (`rask-distributed`'s `worker/memory.rs`).
//! 3. A block is handed out again only for a request of the same rounded
//!    size; zeroed requests get it zeroed.
//! 4. The slots are guarded by a spin lock held for a scan of [`SLOTS`]
//!    entries, never across a call into the wrapped allocator.

use std::alloc::{GlobalAlloc, Layout};
use std::hint::spin_loop;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Smallest block recycled.
pub const RECYCLE_MIN: usize = 4 << 20;
/// Most blocks kept.
const SLOTS: usize = 8;
const CLASS: usize = 2 << 20;
const MAX_ALIGN: usize = 4096;

static LOCK: AtomicBool = AtomicBool::new(false);
static PTR: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static SIZE: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static KEPT: AtomicUsize = AtomicUsize::new(0);
static CAP: AtomicUsize = AtomicUsize::new(256 << 20);
/// Set once a `Recycle` has served a big block: this process recycles.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Whether this process's global allocator is a [`Recycle`] (known once it
/// has served a big block): caches of big buffers of their own (rask-array's
/// scratch buffers) then leave them to it, where they are counted.
pub fn recycling() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Bytes of freed blocks kept for reuse now (rule 2).
pub fn recycled_bytes() -> usize {
    KEPT.load(Ordering::Relaxed)
}

/// The most bytes kept (default 256 MiB).
pub fn recycle_cap() -> usize {
    CAP.load(Ordering::Relaxed)
}

/// Sets the most bytes kept; blocks kept beyond it are given back to the
/// wrapped allocator at its next big allocation or free (not at once: this
/// function does not know the allocator).
pub fn set_recycle_cap(bytes: usize) {
    CAP.store(bytes, Ordering::Relaxed);
}

fn locked<R>(f: impl FnOnce() -> R) -> R {
    while LOCK
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        spin_loop();
    }
    let r = f();
    LOCK.store(false, Ordering::Release);
    r
}

/// The rounded size of a recycled request, or `None` (rule 1).
fn class(layout: Layout) -> Option<usize> {
    (layout.size() >= RECYCLE_MIN && layout.align() <= MAX_ALIGN)
        .then(|| layout.size().next_multiple_of(CLASS))
}

/// The layout a recycled block of `size` bytes has in the wrapped
/// allocator (rule 1).
fn inner(size: usize) -> Layout {
    // SAFETY: `size` is a non-zero multiple of 2 MiB (far below
    // `isize::MAX` for any request that got here) and MAX_ALIGN a power of
    // two.
    unsafe { Layout::from_size_align_unchecked(size, MAX_ALIGN) }
}

/// Takes a kept block of `size` bytes, or 0.
fn take(size: usize) -> usize {
    locked(|| {
        for i in 0..SLOTS {
            if SIZE[i].load(Ordering::Relaxed) == size {
                let p = PTR[i].swap(0, Ordering::Relaxed);
                SIZE[i].store(0, Ordering::Relaxed);
                KEPT.fetch_sub(size, Ordering::Relaxed);
                return p;
            }
        }
        0
    })
}

/// Takes a kept block while more bytes are kept than the cap; 0 if none.
fn over_cap() -> (usize, usize) {
    locked(|| {
        if KEPT.load(Ordering::Relaxed) <= CAP.load(Ordering::Relaxed) {
            return (0, 0);
        }
        for i in 0..SLOTS {
            let size = SIZE[i].load(Ordering::Relaxed);
            if size != 0 {
                let p = PTR[i].swap(0, Ordering::Relaxed);
                SIZE[i].store(0, Ordering::Relaxed);
                KEPT.fetch_sub(size, Ordering::Relaxed);
                return (p, size);
            }
        }
        (0, 0)
    })
}

/// Keeps a freed block of `size` bytes if there is room (rule 2).
fn keep(ptr: usize, size: usize) -> bool {
    locked(|| {
        if KEPT.load(Ordering::Relaxed) + size > CAP.load(Ordering::Relaxed) {
            return false;
        }
        for i in 0..SLOTS {
            if SIZE[i].load(Ordering::Relaxed) == 0 {
                PTR[i].store(ptr, Ordering::Relaxed);
                SIZE[i].store(size, Ordering::Relaxed);
                KEPT.fetch_add(size, Ordering::Relaxed);
                return true;
            }
        }
        false
    })
}

/// Wraps a global allocator (see the module docs).
#[derive(Debug)]
pub struct Recycle<A>(A);

impl<A> Recycle<A> {
    /// `inner`, recycling big blocks.
    pub const fn new(inner: A) -> Self {
        Recycle(inner)
    }
}

impl<A: GlobalAlloc> Recycle<A> {
    /// Gives back kept blocks beyond the cap (after `set_recycle_cap`).
    fn trim(&self) {
        loop {
            let (p, size) = over_cap();
            if p == 0 {
                return;
            }
            // SAFETY: a kept block, allocated by the wrapped allocator with
            // `inner(size)` and owned by nobody else.
            unsafe { self.0.dealloc(p as *mut u8, inner(size)) }
        }
    }
}

// SAFETY: a recycled block was allocated by the wrapped allocator with the
// layout `inner(class)` (rounded size, 4 KiB alignment, which satisfies
// every alignment that takes part), and is freed to it with that same
// layout: `class` maps a request's layout to the same rounded size at
// allocation and at deallocation (rules 1 and 3). Blocks in the slots are owned by nobody else.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Recycle<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(size) = class(layout) else {
            // SAFETY: the caller's guarantees, forwarded.
            return unsafe { self.0.alloc(layout) };
        };
        ACTIVE.store(true, Ordering::Relaxed);
        self.trim();
        let p = take(size);
        if p != 0 {
            return p as *mut u8;
        }
        // SAFETY: a valid, non-zero layout (see `inner`).
        let p = unsafe { self.0.alloc(inner(size)) };
        crate::huge::advise_huge(p, size);
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let Some(size) = class(layout) else {
            // SAFETY: the caller's guarantees, forwarded.
            return unsafe { self.0.alloc_zeroed(layout) };
        };
        ACTIVE.store(true, Ordering::Relaxed);
        self.trim();
        let p = take(size);
        if p != 0 {
            // SAFETY: a kept block of `size >= layout.size()` bytes, ours.
            unsafe { std::ptr::write_bytes(p as *mut u8, 0, layout.size()) };
            return p as *mut u8;
        }
        // SAFETY: as in `alloc`.
        let p = unsafe { self.0.alloc_zeroed(inner(size)) };
        crate::huge::advise_huge(p, size);
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(size) = class(layout) else {
            // SAFETY: the caller's guarantees, forwarded.
            return unsafe { self.0.dealloc(ptr, layout) };
        };
        self.trim();
        if !keep(ptr as usize, size) {
            // SAFETY: allocated by the wrapped allocator with this layout
            // (the module's invariant).
            unsafe { self.0.dealloc(ptr, inner(size)) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `new_size` is non-zero and fits with the alignment (the
        // caller's guarantees).
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class(layout), class(new)) {
            // SAFETY: the caller's guarantees, forwarded.
            (None, None) => unsafe { self.0.realloc(ptr, layout, new_size) },
            // The block already has room.
            (Some(a), Some(b)) if a == b => ptr,
            _ => {
                // SAFETY: a fresh block from `alloc`, at least as big as the
                // bytes copied; `ptr` is freed with its own layout.
                unsafe {
                    let p = self.alloc(new);
                    if !p.is_null() {
                        std::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    p
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    #[test]
    fn big_blocks_are_reused_and_small_ones_pass_through() {
        // A private instance: the test binary's own allocator is System.
        let a = Recycle::new(System);
        let big = Layout::from_size_align(RECYCLE_MIN + 100, 8).unwrap();
        let before = recycled_bytes();
        // SAFETY: layouts are valid and non-zero; every block is freed
        // once, with the layout it was allocated with.
        unsafe {
            let p = a.alloc(big);
            assert!(!p.is_null());
            p.write_bytes(7, big.size());
            a.dealloc(p, big);
            assert!(recycled_bytes() >= before + RECYCLE_MIN);
            // The same class gets the same block back, zeroed on request.
            let q = a.alloc_zeroed(Layout::from_size_align(RECYCLE_MIN + 5000, 8).unwrap());
            assert_eq!(q, p);
            assert!(std::slice::from_raw_parts(q, RECYCLE_MIN + 5000)
                .iter()
                .all(|&b| b == 0));
            // Growing within the class keeps the block.
            let r = a.realloc(
                q,
                Layout::from_size_align(RECYCLE_MIN + 5000, 8).unwrap(),
                RECYCLE_MIN + 9000,
            );
            assert_eq!(r, q);
            a.dealloc(r, Layout::from_size_align(RECYCLE_MIN + 9000, 8).unwrap());
            // Small blocks are not kept.
            let kept = recycled_bytes();
            let s = a.alloc(Layout::from_size_align(64, 8).unwrap());
            a.dealloc(s, Layout::from_size_align(64, 8).unwrap());
            assert_eq!(recycled_bytes(), kept);
            // Past the cap, freed blocks go back, and so do those kept.
            let cap = recycle_cap();
            set_recycle_cap(0);
            let t = a.alloc(Layout::from_size_align(RECYCLE_MIN * 3, 8).unwrap());
            a.dealloc(t, Layout::from_size_align(RECYCLE_MIN * 3, 8).unwrap());
            assert_eq!(recycled_bytes(), 0);
            set_recycle_cap(cap);
            // Lowering the cap gives kept blocks back at the next big call.
            let u = a.alloc(Layout::from_size_align(RECYCLE_MIN + 1, 8).unwrap());
            a.dealloc(u, Layout::from_size_align(RECYCLE_MIN + 1, 8).unwrap());
            assert!(recycled_bytes() > 0);
            set_recycle_cap(0);
            let v = a.alloc(Layout::from_size_align(RECYCLE_MIN * 5, 8).unwrap());
            assert_eq!(recycled_bytes(), 0);
            a.dealloc(v, Layout::from_size_align(RECYCLE_MIN * 5, 8).unwrap());
            assert_eq!(recycled_bytes(), 0);
            set_recycle_cap(cap);
        }
    }
}
