//! Shared memory for big values between local processes: anonymous
//! `memfd`s, mapped, passed by descriptor.
//!
//! A segment has no name in any file system, so nothing can leak into
//! `/dev/shm`: its memory is returned when the last process holding its
//! descriptor or a mapping lets go (including by dying). Every segment is
//! sealed against shrinking (`F_SEAL_SHRINK`) before it is shared, and a
//! receiver refuses one that is not: a peer cannot truncate it under our
//! mapping (which would make reads fault with SIGBUS).
//!
//! # Ownership and reuse
//! A value in shared memory is an `Arc<Shm>`. Rules:
//! 1. Only a segment's creator writes it, and only while no other process
//!    maps it: before its descriptor is first sent, and again once every
//!    reader has let go.
//! 2. A process that sends a segment to a reader (on a data connection)
//!    keeps a handle on it until the reader says `Unmapped` (or the
//!    connection closes); a reader says `Unmapped` when its last handle goes
//!    (its [`Shm`] drops, see `Back::Lender`).
//! 3. So when the last handle on a segment this process made goes (the
//!    store released the value and every reader let go), nobody maps it any
//!    more: it goes back to the process's pool ([`fill`] takes from there).
//!    Fresh shared memory costs a page fault and a page of zeroes per 4 KiB;
//!    reused memory costs nothing but the copy.

use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use super::channel::cvt;

/// A mapped memfd: `cap` bytes mapped, the first `len` of which hold the
/// current value.
#[derive(Debug)]
pub(crate) struct Segment {
    fd: OwnedFd,
    ptr: *mut u8,
    len: usize,
    cap: usize,
    /// Created (and mapped writable) by this process.
    own: bool,
}

// SAFETY: the mapping is written only by its creator while nobody else
// reads it (rule 1), through `&mut`; the pointer stays valid until drop.
unsafe impl Send for Segment {}
// SAFETY: as above; `&Segment` only gives read access.
unsafe impl Sync for Segment {}

impl Segment {
    /// A new, sealed segment of `len` bytes (not yet written).
    fn create(len: usize) -> io::Result<Segment> {
        let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
        // SAFETY: the name is a NUL-terminated literal.
        let raw = cvt(unsafe { libc::memfd_create(c"rask".as_ptr(), flags) })?;
        // SAFETY: memfd_create returned a fresh descriptor that we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: ftruncate on our descriptor.
        cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) })?;
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        // SAFETY: fcntl on our descriptor with an integer argument.
        cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) })?;
        let ptr = map(&fd, len, libc::PROT_READ | libc::PROT_WRITE, 0)?;
        Ok(Segment {
            fd,
            ptr,
            len,
            cap: len,
            own: true,
        })
    }

    /// The value's bytes, to write: only for a segment this process made,
    /// which nobody else reads now (rule 1; `&mut self` shows no other
    /// user in this process).
    fn writable(&mut self) -> &mut [u8] {
        if self.len == 0 || !self.own {
            return &mut [];
        }
        // SAFETY: our own read-write mapping of `cap >= len` bytes, unshared
        // (rule 1) and borrowed mutably through `self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// Maps a segment received from another process, checking that it is
    /// sealed against shrinking and holds at least `len` bytes.
    pub(crate) fn open(fd: OwnedFd, len: usize) -> io::Result<Segment> {
        // SAFETY: fcntl on a descriptor we own.
        let seals = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) })?;
        if seals & libc::F_SEAL_SHRINK == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a shared segment that is not sealed against shrinking was refused",
            ));
        }
        // SAFETY: an all-zero stat is valid; fstat fills it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat on a descriptor we own, into a live struct.
        cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
        if (st.st_size as u64) < len as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a shared segment of {} bytes was said to hold {len}",
                    st.st_size
                ),
            ));
        }
        // Populated: the pages exist already (the sender wrote them), and
        // mapping them in one call costs far less than a fault per page.
        let ptr = map(&fd, len, libc::PROT_READ, libc::MAP_POPULATE)?;
        Ok(Segment {
            fd,
            ptr,
            len,
            cap: len,
            own: false,
        })
    }

    /// The bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: the mapping holds `len` bytes for as long as `self` lives,
        // and nobody writes it once shared (rule 1).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

fn map(fd: &OwnedFd, len: usize, prot: libc::c_int, flags: libc::c_int) -> io::Result<*mut u8> {
    if len == 0 {
        return Ok(std::ptr::NonNull::dangling().as_ptr());
    }
    // SAFETY: a fresh shared mapping of our descriptor; the file cannot
    // shrink under it (sealed, checked by `open`).
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            libc::MAP_SHARED | flags,
            fd.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p as *mut u8)
}

impl AsFd for Segment {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        if self.cap > 0 {
            // SAFETY: unmapping exactly the mapping we made.
            unsafe {
                libc::munmap(self.ptr as *mut libc::c_void, self.cap);
            }
        }
    }
}

/// Who is told when a value in shared memory is let go.
pub(crate) enum Back {
    /// This process made it: back to the pool (rule 3).
    Pool,
    /// Another process lent it: tell it (rule 2).
    Lender(Box<dyn FnOnce() + Send + Sync>),
}

impl std::fmt::Debug for Back {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Back::Pool => "Pool",
            Back::Lender(_) => "Lender",
        })
    }
}

/// A value in shared memory; see the module rules.
#[derive(Debug)]
pub(crate) struct Shm {
    seg: ManuallyDrop<Segment>,
    back: ManuallyDrop<Back>,
}

impl Shm {
    /// A segment received from another process, which `unmapped` tells when
    /// this process lets go of it.
    pub(crate) fn lent(seg: Segment, unmapped: Box<dyn FnOnce() + Send + Sync>) -> Shm {
        Shm {
            seg: ManuallyDrop::new(seg),
            back: ManuallyDrop::new(Back::Lender(unmapped)),
        }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        self.seg.as_slice()
    }

    pub(crate) fn len(&self) -> usize {
        self.seg.len()
    }

    /// The descriptor, to send (the caller keeps a handle until the reader
    /// says it let go: rule 2).
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.seg.as_fd()
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        // SAFETY: each field is taken exactly once, here, and never used again.
        let (seg, back) = unsafe {
            (
                ManuallyDrop::take(&mut self.seg),
                ManuallyDrop::take(&mut self.back),
            )
        };
        match back {
            Back::Pool => lock_pool().give(seg),
            Back::Lender(tell) => {
                drop(seg);
                tell();
            }
        }
    }
}

/// A value in shared memory of `len` bytes written by `write`: a pooled
/// segment that fits, or a new one.
pub(crate) fn fill(
    len: usize,
    write: impl FnOnce(&mut [u8]) -> Result<(), String>,
) -> Result<Arc<Shm>, String> {
    let reused = lock_pool().take(len);
    let mut seg = match reused {
        Some(s) => s,
        None => Segment::create(len).map_err(|e| format!("no shared memory: {e}"))?,
    };
    seg.len = len;
    write(seg.writable())?;
    Ok(Arc::new(Shm {
        seg: ManuallyDrop::new(seg),
        back: ManuallyDrop::new(Back::Pool),
    }))
}

/// The most idle shared memory this process keeps ([`set_pool_limit`]).
static POOL_MAX: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(SegmentPool::MAX_BYTES);

/// Keeps at most `bytes` of idle shared memory for reuse (a worker with a
/// memory limit keeps less than the default 1 GiB: idle segments are
/// resident).
pub(crate) fn set_pool_limit(bytes: usize) {
    POOL_MAX.store(
        bytes.min(SegmentPool::MAX_BYTES),
        std::sync::atomic::Ordering::Relaxed,
    );
}

static POOL: Mutex<SegmentPool> = Mutex::new(SegmentPool {
    free: Vec::new(),
    bytes: 0,
});

fn lock_pool() -> std::sync::MutexGuard<'static, SegmentPool> {
    POOL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Segments this process made and every reader has let go of, kept for
/// reuse: at most [`SegmentPool::MAX_BYTES`] in all, oldest dropped first.
#[derive(Debug)]
struct SegmentPool {
    free: Vec<Segment>,
    bytes: usize,
}

impl SegmentPool {
    /// The most idle shared memory one process keeps.
    const MAX_BYTES: usize = 1 << 30;

    /// A kept segment whose size is between `len` and twice that.
    fn take(&mut self, len: usize) -> Option<Segment> {
        let i = self
            .free
            .iter()
            .enumerate()
            .filter(|(_, s)| s.cap >= len && s.cap <= len.saturating_mul(2))
            .min_by_key(|(_, s)| s.cap)
            .map(|(i, _)| i)?;
        let s = self.free.remove(i);
        self.bytes -= s.cap;
        Some(s)
    }

    /// Keeps `seg` for reuse if this process made it.
    fn give(&mut self, seg: Segment) {
        let max = POOL_MAX.load(std::sync::atomic::Ordering::Relaxed);
        if !seg.own || seg.cap == 0 || seg.cap > max {
            return;
        }
        while self.bytes + seg.cap > max && !self.free.is_empty() {
            let old = self.free.remove(0);
            self.bytes -= old.cap;
        }
        self.bytes += seg.cap;
        self.free.push(seg);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_segment_reopened_from_its_descriptor_reads_the_same_bytes() {
        let data: Vec<u8> = (0..100_003u32).map(|i| i as u8).collect();
        // A fresh segment (a pooled one may be bigger than asked).
        let mut seg = Segment::create(data.len()).unwrap();
        seg.writable().copy_from_slice(&data);
        let shm = Shm {
            seg: ManuallyDrop::new(seg),
            back: ManuallyDrop::new(Back::Pool),
        };
        let dup = shm.fd().try_clone_to_owned().unwrap();
        let again = Segment::open(dup, data.len()).unwrap();
        assert_eq!(again.as_slice(), &data[..]);
        let dup = shm.fd().try_clone_to_owned().unwrap();
        // Truncated: smaller than the sender said.
        let e = Segment::open(dup, data.len() + 1).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let want = format!("bytes was said to hold {}", data.len() + 1);
        assert!(
            e.to_string().starts_with("a shared segment of ") && e.to_string().contains(&want),
            "{e}"
        );
        // Sealed: it cannot be truncated under a reader.
        let dup = shm.fd().try_clone_to_owned().unwrap();
        // SAFETY: ftruncate on a descriptor we own.
        let r = unsafe { libc::ftruncate(dup.as_raw_fd(), 10) };
        assert!(r < 0, "a sealed segment was shrunk");
    }

    #[test]
    fn an_unsealed_segment_is_refused() {
        // SAFETY: the name is a NUL-terminated literal.
        let raw = unsafe { libc::memfd_create(c"x".as_ptr(), libc::MFD_CLOEXEC) };
        assert!(raw >= 0);
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: ftruncate on our descriptor.
        assert_eq!(unsafe { libc::ftruncate(fd.as_raw_fd(), 4096) }, 0);
        let e = Segment::open(fd, 100).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            e.to_string(),
            "a shared segment that is not sealed against shrinking was refused"
        );
    }

    #[test]
    fn the_last_handle_gives_a_segment_back_to_the_pool() {
        // Sizes no other test uses: the pool is the process's.
        let a = fill(5_000_011, |b| {
            b.fill(1);
            Ok(())
        })
        .unwrap();
        let ptr = a.as_slice().as_ptr();
        drop(a);
        // Fits (between len and twice len): the same mapping, new contents.
        let b = fill(3_000_017, |b| {
            b.fill(2);
            Ok(())
        })
        .unwrap();
        assert_eq!(b.as_slice().as_ptr(), ptr);
        assert!(b.as_slice().iter().all(|&x| x == 2));
        assert_eq!(b.len(), 3_000_017);
        // A lent segment tells its lender instead.
        let told = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let dup = b.fd().try_clone_to_owned().unwrap();
        let t2 = told.clone();
        let lent = Shm::lent(
            Segment::open(dup, 3_000_017).unwrap(),
            Box::new(move || t2.store(true, std::sync::atomic::Ordering::SeqCst)),
        );
        drop(lent);
        assert!(told.load(std::sync::atomic::Ordering::SeqCst));
        assert!(fill(10, |_| Err("no".to_owned())).is_err());
    }
}
