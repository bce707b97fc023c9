//! Shared memory segments for big values: anonymous `memfd`s, mapped.
//!
//! A segment has no name in any file system, so nothing can leak into
//! `/dev/shm`: its memory is returned when the last process holding its
//! descriptor or a mapping lets go (including by dying).
//!
//! Invariant: only a segment's creator writes it, and only while no other
//! process reads it: before its descriptor is sent anywhere, and again after
//! every reader has let go, which the protocol says (a result's segment once
//! the client releases the object; an argument's once the task's reply
//! arrives, the worker having unmapped it before replying). Then the creator
//! may put it in its [`SegmentPool`] and fill it anew: fresh shared memory
//! costs a page fault and a page of zeroes per 4 KiB, reused memory costs
//! nothing but the copy.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::Arc;

use crate::channel::cvt;

/// An encoded value: small ones in memory, big ones in a segment.
#[derive(Debug)]
pub(crate) enum Bytes {
    Inline(Vec<u8>),
    Shared(Arc<Segment>),
}

impl Bytes {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Inline(b) => b,
            Bytes::Shared(s) => s.as_slice(),
        }
    }
}

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

// SAFETY: the mapping is written only before the segment is shared (module
// invariant) and read-only afterwards; the pointer stays valid until drop.
unsafe impl Send for Segment {}
// SAFETY: as above; `&Segment` only gives read access.
unsafe impl Sync for Segment {}

impl Segment {
    /// A new segment of `len` bytes, filled by `fill`.
    pub(crate) fn create_with(len: usize, fill: impl FnOnce(&mut [u8])) -> io::Result<Segment> {
        // SAFETY: the name is a NUL-terminated literal.
        let raw = cvt(unsafe { libc::memfd_create(c"rask".as_ptr(), libc::MFD_CLOEXEC) })?;
        // SAFETY: memfd_create returned a fresh descriptor that we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: ftruncate on our descriptor.
        cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) })?;
        let ptr = map(&fd, len, libc::PROT_READ | libc::PROT_WRITE, 0)?;
        let mut seg = Segment {
            fd,
            ptr,
            len,
            cap: len,
            own: true,
        };
        fill(seg.writable());
        Ok(seg)
    }

    /// The value's bytes, to write: only for a segment this process made,
    /// which nobody else reads now (module invariant; `&mut self` shows no
    /// other user in this process).
    fn writable(&mut self) -> &mut [u8] {
        if self.len == 0 || !self.own {
            return &mut [];
        }
        // SAFETY: our own read-write mapping of `cap >= len` bytes, unshared
        // (module invariant) and borrowed mutably through `self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// Maps a segment received from another process, checking that it
    /// holds at least `len` bytes.
    pub(crate) fn open(fd: OwnedFd, len: usize) -> io::Result<Segment> {
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
        // and nobody writes it once shared (module invariant).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Made by this process (so it may be reused here).
    pub(crate) fn own(&self) -> bool {
        self.own
    }
}

fn map(fd: &OwnedFd, len: usize, prot: libc::c_int, flags: libc::c_int) -> io::Result<*mut u8> {
    if len == 0 {
        return Ok(std::ptr::NonNull::dangling().as_ptr());
    }
    // SAFETY: a fresh shared mapping of our descriptor; the kernel checks
    // the length against the file when pages are touched.
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

/// Segments this process made and every reader has let go of, kept for
/// reuse (see the module docs): at most [`SegmentPool::MAX_BYTES`] in all,
/// oldest dropped first.
#[derive(Debug, Default)]
pub(crate) struct SegmentPool {
    free: Vec<Segment>,
    bytes: usize,
}

impl SegmentPool {
    /// The most idle shared memory one process keeps.
    pub(crate) const MAX_BYTES: usize = 1 << 30;

    /// A segment holding `len` bytes written by `fill`: a kept one whose
    /// size is between `len` and twice that, or a new one.
    pub(crate) fn fill(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<(), String>,
    ) -> Result<Segment, String> {
        let fit = self
            .free
            .iter()
            .enumerate()
            .filter(|(_, s)| s.cap >= len && s.cap <= len.saturating_mul(2))
            .min_by_key(|(_, s)| s.cap)
            .map(|(i, _)| i);
        let mut seg = match fit {
            Some(i) => {
                let mut s = self.free.remove(i);
                self.bytes -= s.cap;
                s.len = len;
                s
            }
            None => Segment::create_with(len, |_| ()).map_err(|e| e.to_string())?,
        };
        fill(seg.writable())?;
        Ok(seg)
    }

    /// Keeps `seg` for reuse if this process made it; the caller vouches
    /// that no other process reads it any more.
    pub(crate) fn give(&mut self, seg: Segment) {
        if !seg.own || seg.cap == 0 || seg.cap > Self::MAX_BYTES {
            return;
        }
        while self.bytes + seg.cap > Self::MAX_BYTES && !self.free.is_empty() {
            let old = self.free.remove(0);
            self.bytes -= old.cap;
        }
        self.bytes += seg.cap;
        self.free.push(seg);
    }

    /// Keeps the segment behind `seg` if this was the last handle on it.
    pub(crate) fn give_arc(&mut self, seg: Arc<Segment>) {
        if let Ok(s) = Arc::try_unwrap(seg) {
            self.give(s);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_segment_reopened_from_its_descriptor_reads_the_same_bytes() {
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let seg = Segment::create_with(data.len(), |b| b.copy_from_slice(&data)).unwrap();
        let dup = seg.as_fd().try_clone_to_owned().unwrap();
        let again = Segment::open(dup, data.len()).unwrap();
        assert_eq!(again.as_slice(), &data[..]);
        let dup = seg.as_fd().try_clone_to_owned().unwrap();
        assert!(Segment::open(dup, data.len() + 1).is_err());
    }

    #[test]
    fn a_pool_reuses_released_segments_that_fit() {
        let mut pool = SegmentPool::default();
        let a = pool
            .fill(100_000, |b| {
                b.fill(1);
                Ok(())
            })
            .unwrap();
        let fd = a.fd.as_raw_fd();
        pool.give(a);
        // Fits (between len and twice len): the same memfd, new contents.
        let b = pool
            .fill(60_000, |b| {
                b.fill(2);
                Ok(())
            })
            .unwrap();
        assert_eq!(b.fd.as_raw_fd(), fd);
        assert_eq!(b.as_slice().len(), 60_000);
        assert!(b.as_slice().iter().all(|&x| x == 2));
        pool.give(b);
        // Too big a segment for a small value: a new one.
        let c = pool
            .fill(1000, |b| {
                b.fill(3);
                Ok(())
            })
            .unwrap();
        assert_ne!(c.fd.as_raw_fd(), fd);
        // A segment received from elsewhere is never kept.
        let dup = c.as_fd().try_clone_to_owned().unwrap();
        pool.give(Segment::open(dup, 1000).unwrap());
        assert_eq!(pool.free.len(), 1);
        // A failed fill is an error.
        assert!(pool.fill(10, |_| Err("no".to_owned())).is_err());
    }
}
