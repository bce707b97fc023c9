//! The benchmark's global allocator: mimalloc, or the system's (glibc) when
//! the environment says `RASK_BENCH_ALLOC=system`, so that both can be
//! measured with the same binary.
//!
//! Invariant: the choice is made once, at the first allocation, before any
//! memory exists, and never changes; so every block is freed by the
//! allocator that made it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

use mimalloc::MiMalloc;

/// Dispatches to mimalloc or the system allocator (see the module docs).
pub(crate) struct Switch;

const UNDECIDED: u8 = 0;
const MIMALLOC: u8 = 1;
const SYSTEM: u8 = 2;

static CHOICE: AtomicU8 = AtomicU8::new(UNDECIDED);

/// Which allocator this process uses: `"mimalloc"` or `"system"`.
pub(crate) fn name() -> &'static str {
    if choice() == SYSTEM {
        "system"
    } else {
        "mimalloc"
    }
}

fn choice() -> u8 {
    let c = CHOICE.load(Ordering::Relaxed);
    if c != UNDECIDED {
        return c;
    }
    // `getenv` does not allocate (std's `var_os` would, and recurse here).
    // SAFETY: the name is a NUL-terminated literal; the returned pointer is
    // only read while no thread changes the environment (none in this binary
    // does) and is checked for NULL before use.
    let system = unsafe {
        let v = libc::getenv(c"RASK_BENCH_ALLOC".as_ptr());
        !v.is_null() && std::ffi::CStr::from_ptr(v).to_bytes() == b"system"
    };
    let c = if system { SYSTEM } else { MIMALLOC };
    // The first allocation happens before `main` starts other threads, so
    // every caller sees the same choice.
    CHOICE.store(c, Ordering::Relaxed);
    c
}

// SAFETY: every method forwards to one of two correct allocators, always the
// same one for the life of the process (see the module invariant).
unsafe impl GlobalAlloc for Switch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe {
            if choice() == SYSTEM {
                System.alloc(layout)
            } else {
                MiMalloc.alloc(layout)
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        unsafe {
            if choice() == SYSTEM {
                System.alloc_zeroed(layout)
            } else {
                MiMalloc.alloc_zeroed(layout)
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from the same allocator (module invariant).
        unsafe {
            if choice() == SYSTEM {
                System.dealloc(ptr, layout)
            } else {
                MiMalloc.dealloc(ptr, layout)
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as `dealloc`.
        unsafe {
            if choice() == SYSTEM {
                System.realloc(ptr, layout, new_size)
            } else {
                MiMalloc.realloc(ptr, layout, new_size)
            }
        }
    }
}
