//! A `SOCK_SEQPACKET` Unix socket: each send is one message (boundaries are
//! kept), and file descriptors travel with a message (`SCM_RIGHTS`).
//!
//! Invariants: a message is at most [`MAX_MESSAGE`] bytes (bigger values go
//! through shared memory, see `shm.rs`); a received message that was cut
//! short, or that carries more descriptors than [`MAX_FDS`], is an error, not
//! a partial read; every received descriptor is owned (closed on drop) and
//! close-on-exec.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The largest message, in bytes.
pub(crate) const MAX_MESSAGE: usize = 60 * 1024;
/// The most descriptors one message may carry.
pub(crate) const MAX_FDS: usize = 64;

/// One end of a socket pair.
#[derive(Debug)]
pub(crate) struct Channel {
    fd: OwnedFd,
}

/// A libc return value as a result: negative means `errno` says why.
pub(crate) fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Channel {
    /// A connected pair; both ends close on exec.
    #[cfg(test)]
    pub(crate) fn pair() -> io::Result<(Channel, Channel)> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: `fds` has room for the two descriptors socketpair writes.
        cvt(unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        })?;
        // SAFETY: socketpair succeeded, so both are fresh descriptors we own.
        let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    /// Takes ownership of an inherited descriptor.
    pub(crate) fn from_owned(fd: OwnedFd) -> Channel {
        Channel { fd }
    }

    /// Sends one message with `fds` attached.
    pub(crate) fn send(&self, data: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
        if data.len() > MAX_MESSAGE || fds.len() > MAX_FDS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a message of {} bytes and {} descriptors is over the limit",
                    data.len(),
                    fds.len()
                ),
            ));
        }
        let mut iov = libc::iovec {
            iov_base: data.as_ptr() as *mut libc::c_void,
            iov_len: data.len(),
        };
        let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        let fd_bytes = std::mem::size_of_val(raw.as_slice());
        let space = if raw.is_empty() {
            0
        } else {
            // SAFETY: CMSG_SPACE only computes a size.
            unsafe { libc::CMSG_SPACE(fd_bytes as u32) as usize }
        };
        let mut control = vec![0u64; space.div_ceil(8)];
        // SAFETY: an all-zero msghdr is valid; the fields set below point at
        // live buffers for the duration of the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !raw.is_empty() {
            msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
            msg.msg_controllen = space as _;
            // SAFETY: the control buffer has CMSG_SPACE(fd_bytes) bytes, so the
            // first header and its data fit; we write exactly fd_bytes of data.
            unsafe {
                let cmsg = libc::CMSG_FIRSTHDR(&msg);
                (*cmsg).cmsg_level = libc::SOL_SOCKET;
                (*cmsg).cmsg_type = libc::SCM_RIGHTS;
                (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes as u32) as _;
                std::ptr::copy_nonoverlapping(
                    raw.as_ptr() as *const u8,
                    libc::CMSG_DATA(cmsg),
                    fd_bytes,
                );
            }
        }
        loop {
            // SAFETY: `msg` is fully initialised and its buffers outlive the call.
            let r = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
            if r >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Receives one message into `buf` (replacing its contents) and its
    /// descriptors into `fds` (appended). `Ok(false)` means the peer closed.
    pub(crate) fn recv(&self, buf: &mut Vec<u8>, fds: &mut Vec<OwnedFd>) -> io::Result<bool> {
        buf.clear();
        buf.resize(MAX_MESSAGE + 1, 0);
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        // SAFETY: CMSG_SPACE only computes a size.
        let space =
            unsafe { libc::CMSG_SPACE((MAX_FDS * std::mem::size_of::<RawFd>()) as u32) as usize };
        let mut control = vec![0u64; space.div_ceil(8)];
        // SAFETY: as in `send`.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = space as _;
        let n = loop {
            // SAFETY: `msg` points at live buffers of the sizes it states.
            let r = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
            if r >= 0 {
                break r as usize;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                buf.clear();
                return Err(e);
            }
        };
        // Take ownership of every descriptor first, so that none leaks even
        // when the message is then refused.
        let before = fds.len();
        // SAFETY: the kernel filled `control` with `msg_controllen` bytes of
        // well-formed headers; we only read within each header's length.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(cmsg);
                    let len = (*cmsg).cmsg_len as usize - (data as usize - cmsg as usize);
                    let count = len / std::mem::size_of::<RawFd>();
                    for i in 0..count {
                        let fd = std::ptr::read_unaligned((data as *const RawFd).add(i));
                        fds.push(OwnedFd::from_raw_fd(fd));
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        buf.truncate(n);
        if msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 || n > MAX_MESSAGE {
            fds.truncate(before);
            buf.clear();
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a message over the limit of {MAX_MESSAGE} bytes and {MAX_FDS} descriptors"
                ),
            ));
        }
        if n == 0 && fds.len() == before {
            return Ok(false);
        }
        Ok(true)
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn messages_keep_their_boundaries_and_carry_descriptors() {
        let (a, b) = Channel::pair().unwrap();
        let (x, _y) = Channel::pair().unwrap();
        a.send(b"one", &[]).unwrap();
        a.send(b"two!", &[x.as_fd()]).unwrap();
        let (mut buf, mut fds) = (Vec::new(), Vec::new());
        assert!(b.recv(&mut buf, &mut fds).unwrap());
        assert_eq!(buf, b"one");
        assert!(fds.is_empty());
        assert!(b.recv(&mut buf, &mut fds).unwrap());
        assert_eq!(buf, b"two!");
        assert_eq!(fds.len(), 1);
        drop(a);
        assert!(!b.recv(&mut buf, &mut fds).unwrap());
    }

    #[test]
    fn oversized_messages_are_refused() {
        let (a, _b) = Channel::pair().unwrap();
        let big = vec![0u8; MAX_MESSAGE + 1];
        assert!(a.send(&big, &[]).is_err());
    }
}
