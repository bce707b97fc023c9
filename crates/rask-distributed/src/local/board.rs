//! The started board: a page of shared memory, one slot per compute thread
//! of a local worker, where the thread writes the id of each task it starts
//! (`gid + 1`; 0 means none yet). A slot is never cleared, only
//! overwritten by the next start.
//!
//! When a worker process dies, its deployment reads the board: the tasks in
//! its slots that the scheduler still counts as processing there are the
//! ones whose function began and did not finish (or whose result was lost
//! with the process). So a task's attempt count and death count are exact
//! without a message per start. Workers without a board (a cluster's,
//! started by hand) fall back to counting the oldest tasks sent to them.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use super::channel::cvt;
use crate::proto::Gid;

/// One slot per compute thread, in shared memory.
#[derive(Debug)]
pub(crate) struct Board {
    fd: OwnedFd,
    ptr: *mut AtomicU64,
    slots: usize,
}

// SAFETY: the mapping is only accessed through atomics and lives until drop.
unsafe impl Send for Board {}
// SAFETY: as above.
unsafe impl Sync for Board {}

impl Board {
    /// A new board of `slots` slots (all 0).
    pub(crate) fn create(slots: usize) -> io::Result<Board> {
        // SAFETY: the name is a NUL-terminated literal.
        let raw = cvt(unsafe { libc::memfd_create(c"rask-board".as_ptr(), libc::MFD_CLOEXEC) })?;
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let len = slots.max(1) * 8;
        // SAFETY: ftruncate on our descriptor.
        cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) })?;
        Self::map(fd, slots)
    }

    /// The board on descriptor `fd` (a worker's, inherited), of `slots` slots.
    pub(crate) fn open(fd: OwnedFd, slots: usize) -> io::Result<Board> {
        // SAFETY: an all-zero stat is valid; fstat fills it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat on a descriptor we own, into a live struct.
        cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
        if (st.st_size as u64) < (slots.max(1) * 8) as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the started board is smaller than the worker's threads",
            ));
        }
        Self::map(fd, slots)
    }

    fn map(fd: OwnedFd, slots: usize) -> io::Result<Board> {
        let len = slots.max(1) * 8;
        // SAFETY: a fresh shared read-write mapping of our descriptor, of
        // the file's size (checked or set above).
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Board {
            fd,
            ptr: p.cast(),
            slots,
        })
    }

    fn slot(&self, i: usize) -> Option<&AtomicU64> {
        // SAFETY: `i < slots`, inside the mapping, 8-byte aligned (page
        // aligned base); only ever accessed atomically.
        (i < self.slots).then(|| unsafe { &*self.ptr.add(i) })
    }

    /// Compute thread `thread` starts task `gid`.
    pub(crate) fn set(&self, thread: usize, gid: Gid) {
        if let Some(s) = self.slot(thread) {
            s.store(gid.0.wrapping_add(1), Ordering::Release);
        }
    }

    /// The last task each thread started.
    pub(crate) fn started(&self) -> Vec<Gid> {
        (0..self.slots)
            .filter_map(|i| self.slot(i))
            .map(|s| s.load(Ordering::Acquire))
            .filter(|&v| v != 0)
            .map(|v| Gid(v - 1))
            .collect()
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping we made.
        unsafe {
            libc::munmap(self.ptr.cast(), self.slots.max(1) * 8);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_board_is_shared_through_its_descriptor() {
        let a = Board::create(3).unwrap();
        let b = Board::open(a.fd().try_clone_to_owned().unwrap(), 3).unwrap();
        assert!(a.started().is_empty());
        b.set(0, Gid(0));
        b.set(2, Gid(41));
        b.set(7, Gid(5)); // no such thread: ignored
        assert_eq!(a.started(), vec![Gid(0), Gid(41)]);
        assert!(Board::open(a.fd().try_clone_to_owned().unwrap(), 100).is_err());
    }
}
