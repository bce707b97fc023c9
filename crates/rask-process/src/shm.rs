//! Shared memory segments for big values: anonymous `memfd`s, mapped.
//!
//! A segment has no name in any file system, so nothing can leak into
//! `/dev/shm`: its memory is returned when the last process holding its
//! descriptor or a mapping lets go (including by dying). A segment is
//! written once, by its creator, before its descriptor is sent anywhere; after
//! that every process only reads it.

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

/// A mapped memfd.
#[derive(Debug)]
pub(crate) struct Segment {
    fd: OwnedFd,
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is written only before the segment is shared (module
// invariant) and read-only afterwards; the pointer stays valid until drop.
unsafe impl Send for Segment {}
// SAFETY: as above; `&Segment` only gives read access.
unsafe impl Sync for Segment {}

impl Segment {
    /// A new segment holding a copy of `bytes`.
    pub(crate) fn create(bytes: &[u8]) -> io::Result<Segment> {
        Self::create_with(bytes.len(), |dst| dst.copy_from_slice(bytes))
    }

    /// A new segment of `len` bytes, filled by `fill`.
    pub(crate) fn create_with(len: usize, fill: impl FnOnce(&mut [u8])) -> io::Result<Segment> {
        // SAFETY: the name is a NUL-terminated literal.
        let raw = cvt(unsafe { libc::memfd_create(c"rask".as_ptr(), libc::MFD_CLOEXEC) })?;
        // SAFETY: memfd_create returned a fresh descriptor that we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: ftruncate on our descriptor.
        cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) })?;
        let ptr = map(&fd, len, libc::PROT_READ | libc::PROT_WRITE)?;
        let seg = Segment { fd, ptr, len };
        if len > 0 {
            // SAFETY: the mapping is `len` writable bytes, not yet shared.
            fill(unsafe { std::slice::from_raw_parts_mut(seg.ptr, len) });
        }
        Ok(seg)
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
        let ptr = map(&fd, len, libc::PROT_READ)?;
        Ok(Segment { fd, ptr, len })
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
}

fn map(fd: &OwnedFd, len: usize, prot: libc::c_int) -> io::Result<*mut u8> {
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
            libc::MAP_SHARED,
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
        if self.len > 0 {
            // SAFETY: unmapping exactly the mapping we made.
            unsafe {
                libc::munmap(self.ptr as *mut libc::c_void, self.len);
            }
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
        let seg = Segment::create(&data).unwrap();
        let dup = seg.as_fd().try_clone_to_owned().unwrap();
        let again = Segment::open(dup, data.len()).unwrap();
        assert_eq!(again.as_slice(), &data[..]);
        let dup = seg.as_fd().try_clone_to_owned().unwrap();
        assert!(Segment::open(dup, data.len() + 1).is_err());
    }
}
