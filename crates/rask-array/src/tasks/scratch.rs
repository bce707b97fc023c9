//! A small per-thread cache of big `f64` buffers.
//!
//! Kernels that finish with a chunk-sized buffer (the right operand of an
//! in-place operation, the chunk a fused reduction just reduced) give it
//! back here, and generators take from here before asking the allocator.
//! Fresh pages cost the kernel a page fault and a zeroing per 4 KiB (a
//! quarter of W2's time before this cache); a recycled buffer is already
//! mapped and warm. Rules: only buffers of at least [`MIN_LEN`] elements
//! are kept, at most [`KEEP`] per thread; a buffer is taken only when no one
//! else can see it (an `ArcArray` is recycled only if it is the last
//! reference). Under a global allocator that recycles big blocks
//! (`rask_core::Recycle`), buffers of `RECYCLE_MIN` or more are left to it:
//! a worker counts those against its limit, not these.

use std::cell::RefCell;

use ndarray::{ArcArray, IxDyn};

/// Smallest buffer worth keeping (256 KiB of `f64`s: a band).
const MIN_LEN: usize = 1 << 15;
/// Buffers kept per thread.
const KEEP: usize = 6;

thread_local! {
    static FREE: RefCell<Vec<Vec<f64>>> = const { RefCell::new(Vec::new()) };
}

/// An empty vector with room for at least `n` values.
pub(crate) fn take(n: usize) -> Vec<f64> {
    if n >= MIN_LEN {
        let hit = FREE.with(|f| {
            let mut f = f.borrow_mut();
            let i = f
                .iter()
                .position(|v| v.capacity() >= n && v.capacity() <= 2 * n)?;
            Some(f.swap_remove(i))
        });
        if let Some(mut v) = hit {
            v.clear();
            return v;
        }
    }
    rask_core::big_vec(n)
}

/// Keeps `v`'s buffer for a later [`take`] (a big one only if the global
/// allocator does not recycle big blocks itself: `rask_core::Recycle`
/// keeps them counted, under a worker's memory limit).
pub(crate) fn give(v: Vec<f64>) {
    if v.capacity() < MIN_LEN
        || (v.capacity() * 8 >= rask_core::RECYCLE_MIN && rask_core::recycling())
    {
        return;
    }
    FREE.with(|f| {
        let mut f = f.borrow_mut();
        if f.len() < KEEP {
            f.push(v);
        }
    });
}

/// Keeps `a`'s buffer if `a` holds the last reference to it.
pub(crate) fn give_array(a: ArcArray<f64, IxDyn>) {
    if let Ok(owned) = a.try_into_owned_nocopy() {
        give(owned.into_raw_vec_and_offset().0);
    }
}
