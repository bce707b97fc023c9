//! The messages between the client and its worker processes.
//!
//! One socket message carries a batch (`Vec<ToWorker>` or `Vec<FromWorker>`,
//! bincode-encoded) and the descriptors of the shared segments it refers to,
//! in order of reference. Nothing in a message is code: a task names a
//! registered function, defined once per worker by name.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::channel::{Channel, MAX_FDS, MAX_MESSAGE};
use crate::shm::Segment;

/// An argument of a task, as the worker gets it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Arg {
    /// A result this worker holds (by object id).
    Held(u64),
    /// The encoded value.
    Bytes(Vec<u8>),
    /// The encoded value in the next shared segment of the message.
    Shared { len: u64 },
}

/// A value as a worker returns it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Out {
    /// Small: the encoded value itself.
    Bytes(Vec<u8>),
    /// Big: in the next shared segment of the message.
    Shared { len: u64 },
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    /// From now on, `func` means the registered function `name`.
    Define { func: u32, name: String },
    /// Run `func` on `args`; keep the result as object `id`.
    Run { id: u64, func: u32, args: Vec<Arg> },
    /// Forget object `id`.
    Release { id: u64 },
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromWorker {
    /// The worker is up.
    Hello { pid: u32 },
    /// Object `id` is computed.
    Done { id: u64, out: Out },
    /// Object `id` failed: the function panicked or returned an error.
    Failed {
        id: u64,
        panicked: bool,
        message: String,
    },
    /// A function name the client defined is not registered in this binary.
    Unknown { func: u32, name: String },
}

/// A batch being written: messages are encoded as they come (bincode's
/// encoding of a `Vec` is its length, then the items, so the length is
/// patched in at the end), and sent when the next would not fit.
#[derive(Debug)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    scratch: Vec<u8>,
    count: u64,
    segments: Vec<Arc<Segment>>,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            buf: vec![0; 8],
            scratch: Vec::new(),
            count: 0,
            segments: Vec::new(),
        }
    }
}

impl Outbox {
    /// Adds `msg` (and the segments it refers to, in order), sending the
    /// batch first if the message would not fit.
    pub(crate) fn push<T: Serialize>(
        &mut self,
        ch: &Channel,
        msg: &T,
        segments: Vec<Arc<Segment>>,
    ) -> io::Result<()> {
        self.scratch.clear();
        bincode::serialize_into(&mut self.scratch, msg)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        if 8 + self.scratch.len() > MAX_MESSAGE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "one message of {} bytes is over the limit",
                    self.scratch.len()
                ),
            ));
        }
        if segments.len() > MAX_FDS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "one message refers to {} segments, over the limit",
                    segments.len()
                ),
            ));
        }
        let fds = self.segments.len() + segments.len();
        if self.count > 0 && (self.buf.len() + self.scratch.len() > MAX_MESSAGE || fds > MAX_FDS) {
            self.flush(ch)?;
        }
        self.buf.extend_from_slice(&self.scratch);
        self.count += 1;
        self.segments.extend(segments);
        Ok(())
    }

    /// Sends what is batched, if anything.
    pub(crate) fn flush(&mut self, ch: &Channel) -> io::Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        self.buf[..8].copy_from_slice(&self.count.to_le_bytes());
        let fds: Vec<BorrowedFd<'_>> = self.segments.iter().map(|s| s.as_fd()).collect();
        let r = ch.send(&self.buf, &fds);
        drop(fds);
        self.buf.truncate(8);
        self.count = 0;
        self.segments.clear();
        r
    }
}

/// Encodes a batch into `buf` (replacing it).
#[cfg(test)]
pub(crate) fn encode_batch<T: Serialize>(batch: &[T], buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    bincode::serialize_into(&mut *buf, batch)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

/// Decodes a batch; bytes that are not one are an error naming why.
pub(crate) fn decode_batch<T: for<'de> Deserialize<'de>>(buf: &[u8]) -> io::Result<Vec<T>> {
    bincode::deserialize(buf).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a malformed message of {} bytes: {e}", buf.len()),
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn garbage_is_an_error() {
        let mut rng = 12345u64;
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (rng >> 33) as u8
                })
                .collect();
            // Must not panic or allocate without bound; either outcome is fine.
            let _ = decode_batch::<ToWorker>(&bytes);
            let _ = decode_batch::<FromWorker>(&bytes);
        }
        let (a, b) = Channel::pair().unwrap();
        let mut out = Outbox::default();
        for id in 0..10_000 {
            out.push(&a, &ToWorker::Release { id }, Vec::new()).unwrap();
        }
        out.flush(&a).unwrap();
        let (mut buf, mut fds, mut got) = (Vec::new(), Vec::new(), 0);
        while got < 10_000 {
            assert!(b.recv(&mut buf, &mut fds).unwrap());
            for m in decode_batch::<ToWorker>(&buf).unwrap() {
                assert!(matches!(m, ToWorker::Release { id } if id == got));
                got += 1;
            }
        }
        encode_batch(&[ToWorker::Release { id: 7 }], &mut buf).unwrap();
        assert!(matches!(
            decode_batch::<ToWorker>(&buf).unwrap()[..],
            [ToWorker::Release { id: 7 }]
        ));
        assert!(decode_batch::<ToWorker>(&buf[..buf.len() - 1]).is_err());
    }
}
