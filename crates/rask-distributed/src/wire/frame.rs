//! Frames: a `u32` little-endian payload length, then the payload, which is one
//! message in Rask's format (`rask_core::format`; a batch of messages is one
//! message: a `Vec`/slice).
//!
//! Rules this module keeps:
//! 1. A length over `max_frame` is [`WireError::FrameTooLarge`], decided from the
//!    4-byte prefix *before* anything is allocated; the stream is then out of sync
//!    and the reader refuses further reads.
//! 2. A payload buffer grows as its bytes arrive (doubling from 64 KiB), so a peer
//!    that announces a big frame and sends nothing costs us nothing; the buffer
//!    is reused across frames (no allocation or zeroing in the steady state) and
//!    given back once frames are small again.
//! 3. Decoding is bounded by the frame (a slice reader, and collections that
//!    reserve no more than their bytes can fill): garbage cannot make it
//!    allocate much more than the frame's length, and bytes left over after
//!    the message are [`WireError::Malformed`].
//! 4. [`FrameReader::recv`] is cancel-safe: its progress lives in the reader, so
//!    it can sit in a `tokio::select!` next to timers. A `Malformed` frame was
//!    fully read, so the stream stays in sync and the next `recv` works.
//! 5. [`FrameWriter::send`] encodes into the writer's own buffer (one copy, no
//!    allocation in the steady state) and writes to the stream only when the
//!    buffer passes 64 KiB or on [`FrameWriter::flush`]. If a `send` or `flush`
//!    is cancelled, what was encoded stays queued and nothing is written twice.
//! 6. The encoding is `rask_core::format` (postcard), the same bytes as
//!    `rask_core::format::to_vec`.
//! 7. Raw bytes may follow a frame on the stream (a value of any size,
//!    streamed with back-pressure, not framed): [`FrameWriter::write_raw`]
//!    writes the queued frames first, then the bytes; the reader takes them
//!    with [`FrameReader::read_raw`], which is *not* cancel-safe (a cancelled
//!    read leaves the stream out of sync) and must follow the frame that
//!    announced their length.

use std::io::ErrorKind;
use std::net::SocketAddr;

use rask_core::format;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::error::{io_at, PeerAddr, WireError};

/// Bytes of the length prefix.
pub const HEADER_LEN: usize = 4;
/// The reader's stream buffer and the payload buffer's first size.
const CHUNK: usize = 64 << 10;
/// The writer writes to the stream once this much is queued.
const FLUSH_AT: usize = 64 << 10;
/// Buffers bigger than this are given back when frames are small again.
const RETAIN: usize = 16 << 20;

/// Encodes one message as a frame payload (no length prefix), e.g. to send the
/// same bytes to many peers with [`FrameWriter::send_bytes`].
pub fn encode<T: Serialize + ?Sized>(msg: &T) -> Result<Vec<u8>, WireError> {
    format::to_vec(msg).map_err(|e| WireError::Encode(e.to_string()))
}

/// Decodes one frame payload as `T`: the whole payload, of at most `max`
/// bytes.
pub fn decode<'a, T: Deserialize<'a>>(payload: &'a [u8], max: usize) -> Result<T, WireError> {
    let malformed = |e: &dyn std::fmt::Display| {
        WireError::Malformed(format!("{e} (frame of {} bytes)", payload.len()))
    };
    if payload.len() > max {
        return Err(malformed(&format_args!("over the limit of {max} bytes")));
    }
    format::from_slice(payload).map_err(|e| malformed(&e))
}

/// The largest payload a `u32` prefix can describe, and our limit if lower.
fn effective_max(max_frame: usize) -> usize {
    max_frame.min(u32::MAX as usize)
}

/// Reads frames from `R` (buffered). See the module rules.
pub struct FrameReader<R> {
    inner: BufReader<R>,
    /// Payload buffer; `buf.len()` bytes are initialized, the frame is a prefix.
    buf: Vec<u8>,
    hdr: [u8; HEADER_LEN],
    hdr_filled: usize,
    /// The payload length once the header is complete.
    body: Option<usize>,
    filled: usize,
    max_frame: usize,
    peer: Option<SocketAddr>,
    /// Log peer faults (`warn!`); off during the handshake, which logs its own.
    log_errors: bool,
    /// A framing error happened: the stream is out of sync.
    broken: bool,
}

impl<R> std::fmt::Debug for FrameReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameReader")
            .field("peer", &self.peer)
            .field("max_frame", &self.max_frame)
            .field("buffered_payload", &self.buf.len())
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader of frames of at most `max_frame` payload bytes. Peer faults are
    /// logged with `tracing::warn!`.
    pub fn new(inner: R, max_frame: usize) -> FrameReader<R> {
        FrameReader {
            inner: BufReader::with_capacity(CHUNK, inner),
            buf: Vec::new(),
            hdr: [0; HEADER_LEN],
            hdr_filled: 0,
            body: None,
            filled: 0,
            max_frame: effective_max(max_frame),
            peer: None,
            log_errors: true,
            broken: false,
        }
    }

    /// Names the peer in errors and log lines.
    pub fn with_peer(mut self, peer: Option<SocketAddr>) -> FrameReader<R> {
        self.peer = peer;
        self
    }

    /// The peer's address, where known.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The largest payload accepted.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Changes the largest payload accepted (from the next frame on).
    pub fn set_max_frame(&mut self, max_frame: usize) {
        self.max_frame = effective_max(max_frame);
    }

    pub(crate) fn set_log_errors(&mut self, on: bool) {
        self.log_errors = on;
    }

    /// The next frame decoded as `T`; `Ok(None)` on a clean end of stream at a
    /// frame boundary. Cancel-safe.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>, WireError> {
        let Some(len) = self.read_frame().await? else {
            return Ok(None);
        };
        match decode(&self.buf[..len], self.max_frame) {
            Ok(v) => Ok(Some(v)),
            Err(e) => Err(self.noted(e)),
        }
    }

    /// Like [`recv`](Self::recv), but `T` may borrow from the reader's buffer
    /// (`&str`, `&[u8]` fields: no copy) until the next read.
    pub async fn recv_borrowed<'a, T: Deserialize<'a>>(
        &'a mut self,
    ) -> Result<Option<T>, WireError> {
        let Some(len) = self.read_frame().await? else {
            return Ok(None);
        };
        let this: &'a Self = self;
        match decode(&this.buf[..len], this.max_frame) {
            Ok(v) => Ok(Some(v)),
            Err(e) => Err(this.noted(e)),
        }
    }

    /// The next frame's payload, undecoded (valid until the next read).
    pub async fn recv_bytes(&mut self) -> Result<Option<&[u8]>, WireError> {
        match self.read_frame().await? {
            Some(len) => Ok(Some(&self.buf[..len])),
            None => Ok(None),
        }
    }

    /// Logs a peer fault (when logging is on) and hands the error back.
    fn noted(&self, e: WireError) -> WireError {
        if self.log_errors {
            tracing::warn!(peer = %PeerAddr(self.peer), error = %e, "rask wire: bad frame from peer");
        }
        e
    }

    /// Reads one whole frame into `buf[..len]`; returns `len`.
    async fn read_frame(&mut self) -> Result<Option<usize>, WireError> {
        if self.broken {
            return Err(io_at(
                self.peer,
                std::io::Error::new(
                    ErrorKind::InvalidData,
                    "frame stream out of sync after an earlier error",
                ),
            ));
        }
        match self.read_frame_inner().await {
            Ok(r) => Ok(r),
            Err(e) => {
                self.broken = true;
                Err(match e {
                    WireError::FrameTooLarge { .. } => self.noted(e),
                    e => e,
                })
            }
        }
    }

    async fn read_frame_inner(&mut self) -> Result<Option<usize>, WireError> {
        let len = match self.body {
            Some(len) => len,
            None => {
                while self.hdr_filled < HEADER_LEN {
                    let n = self
                        .inner
                        .read(&mut self.hdr[self.hdr_filled..])
                        .await
                        .map_err(|e| io_at(self.peer, e))?;
                    if n == 0 {
                        if self.hdr_filled == 0 {
                            return Ok(None);
                        }
                        return Err(self.eof(format!(
                            "stream ended inside a frame header ({} of {HEADER_LEN} bytes)",
                            self.hdr_filled
                        )));
                    }
                    self.hdr_filled += n;
                }
                self.hdr_filled = 0;
                let len = u32::from_le_bytes(self.hdr) as usize;
                if len > self.max_frame {
                    return Err(WireError::FrameTooLarge {
                        len,
                        max: self.max_frame,
                    });
                }
                if self.buf.len() > RETAIN && len <= RETAIN {
                    self.buf.truncate(RETAIN);
                    self.buf.shrink_to(RETAIN);
                }
                self.body = Some(len);
                self.filled = 0;
                len
            }
        };
        while self.filled < len {
            if self.filled == self.buf.len() {
                let grow_to = len.min(self.buf.len().saturating_mul(2).max(CHUNK));
                self.buf.resize(grow_to, 0);
            }
            let end = len.min(self.buf.len());
            let n = self
                .inner
                .read(&mut self.buf[self.filled..end])
                .await
                .map_err(|e| io_at(self.peer, e))?;
            if n == 0 {
                return Err(self.eof(format!(
                    "stream ended inside a frame ({} of {len} payload bytes)",
                    self.filled
                )));
            }
            self.filled += n;
        }
        self.body = None;
        Ok(Some(len))
    }

    /// Reads exactly `out.len()` raw bytes that follow the last frame (rule 7).
    pub async fn read_raw(&mut self, out: &mut [u8]) -> Result<(), WireError> {
        if self.broken || self.body.is_some() || self.hdr_filled != 0 {
            return Err(io_at(
                self.peer,
                std::io::Error::new(ErrorKind::InvalidData, "raw read inside a frame"),
            ));
        }
        match self.inner.read_exact(out).await {
            Ok(_) => Ok(()),
            Err(e) => {
                self.broken = true;
                Err(io_at(self.peer, e))
            }
        }
    }

    fn eof(&self, what: String) -> WireError {
        io_at(
            self.peer,
            std::io::Error::new(ErrorKind::UnexpectedEof, what),
        )
    }
}

/// Writes frames to `W` through its own buffer. See the module rules.
pub struct FrameWriter<W> {
    inner: W,
    /// Encoded frames not yet written; `buf[..written]` already went out.
    buf: Vec<u8>,
    written: usize,
    max_frame: usize,
    peer: Option<SocketAddr>,
}

impl<W> std::fmt::Debug for FrameWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameWriter")
            .field("peer", &self.peer)
            .field("max_frame", &self.max_frame)
            .field("queued", &(self.buf.len() - self.written))
            .finish_non_exhaustive()
    }
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// A writer of frames of at most `max_frame` payload bytes.
    pub fn new(inner: W, max_frame: usize) -> FrameWriter<W> {
        FrameWriter {
            inner,
            buf: Vec::with_capacity(FLUSH_AT + CHUNK),
            written: 0,
            max_frame: effective_max(max_frame),
            peer: None,
        }
    }

    /// Names the peer in errors.
    pub fn with_peer(mut self, peer: Option<SocketAddr>) -> FrameWriter<W> {
        self.peer = peer;
        self
    }

    /// The peer's address, where known.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Changes the largest payload sent.
    pub fn set_max_frame(&mut self, max_frame: usize) {
        self.max_frame = effective_max(max_frame);
    }

    /// Bytes encoded but not yet written to the stream.
    pub fn queued(&self) -> usize {
        self.buf.len() - self.written
    }

    /// Encodes `msg` as one frame and queues it; writes to the stream when 64 KiB
    /// are queued. Call [`flush`](Self::flush) to send. A message that encodes
    /// to more than `max_frame` bytes is `FrameTooLarge` and nothing is queued.
    pub async fn send<T: Serialize + ?Sized>(&mut self, msg: &T) -> Result<(), WireError> {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; HEADER_LEN]);
        if let Err(e) = format::append(msg, &mut self.buf) {
            self.buf.truncate(start);
            return Err(WireError::Encode(e.to_string()));
        }
        self.seal(start)?;
        self.maybe_write().await
    }

    /// Queues an already encoded payload (from [`encode`]) as one frame.
    pub async fn send_bytes(&mut self, payload: &[u8]) -> Result<(), WireError> {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; HEADER_LEN]);
        self.buf.extend_from_slice(payload);
        self.seal(start)?;
        self.maybe_write().await
    }

    /// Writes everything queued and flushes the stream.
    pub async fn flush(&mut self) -> Result<(), WireError> {
        self.write_queued().await?;
        self.inner.flush().await.map_err(|e| io_at(self.peer, e))
    }

    /// Writes the queued frames, then `bytes` as they are (rule 7).
    pub async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        self.write_queued().await?;
        self.inner
            .write_all(bytes)
            .await
            .map_err(|e| io_at(self.peer, e))
    }

    /// Flushes, then shuts the stream's write side down (TCP FIN).
    pub async fn shutdown(&mut self) -> Result<(), WireError> {
        self.write_queued().await?;
        self.inner.shutdown().await.map_err(|e| io_at(self.peer, e))
    }

    /// Fills in the length prefix of the frame that starts at `start`.
    fn seal(&mut self, start: usize) -> Result<(), WireError> {
        let len = self.buf.len() - start - HEADER_LEN;
        if len > self.max_frame {
            self.buf.truncate(start);
            return Err(WireError::FrameTooLarge {
                len,
                max: self.max_frame,
            });
        }
        // `len <= max_frame <= u32::MAX`.
        let prefix = (len as u32).to_le_bytes();
        self.buf[start..start + HEADER_LEN].copy_from_slice(&prefix);
        Ok(())
    }

    async fn maybe_write(&mut self) -> Result<(), WireError> {
        if self.buf.len() >= FLUSH_AT {
            self.write_queued().await?;
        }
        Ok(())
    }

    async fn write_queued(&mut self) -> Result<(), WireError> {
        while self.written < self.buf.len() {
            let n = self
                .inner
                .write(&self.buf[self.written..])
                .await
                .map_err(|e| io_at(self.peer, e))?;
            if n == 0 {
                return Err(io_at(
                    self.peer,
                    std::io::Error::new(ErrorKind::WriteZero, "stream accepts no more bytes"),
                ));
            }
            self.written += n;
        }
        self.buf.clear();
        self.written = 0;
        if self.buf.capacity() > RETAIN {
            self.buf.shrink_to(FLUSH_AT + CHUNK);
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "frame_tests.rs"]
pub(crate) mod tests;
