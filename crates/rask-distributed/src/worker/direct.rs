//! Direct IO (`O_DIRECT`) for big spill bodies: from a value's memory to
//! the disk and back, not through the page cache (`spill.rs` says why).
//!
//! Direct IO moves whole aligned blocks ([`ALIGN`] bytes, at aligned file
//! offsets, to and from aligned memory). A body is laid out so that most
//! of it can move straight from and into the value's own buffer: it starts
//! at a file offset with the same remainder modulo [`ALIGN`] as its
//! address. Rules:
//! 1. The file is `header, zeros, body`; the body starts at
//!    `ALIGN + address % ALIGN` (at most `2 * ALIGN`); the file ends where
//!    the body does (the padding of the last block is cut off).
//! 2. The unaligned head and tail of the body, and the header, go through
//!    a small aligned bounce buffer; the aligned middle does not. A read
//!    into a buffer whose alignment does not match the file's goes
//!    through the bounce buffer whole (a copy, still no page cache).
//! 3. If the file system refuses direct IO (`EINVAL` at open: tmpfs),
//!    it is not tried again in this directory and the caller uses
//!    ordinary IO; files stay readable either way.

use std::fs::{File, OpenOptions};
use std::io;
#[cfg(unix)]
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::lock;

/// Block size and alignment of direct IO (the largest logical block size
/// in common use; a multiple of every smaller one).
pub(super) const ALIGN: usize = 4096;
/// Bytes of a bounce buffer.
const BOUNCE: usize = 1 << 20;

/// The bytes a file for a body of `body` bytes takes at most (rule 1).
pub(super) fn file_len(body: usize) -> u64 {
    (2 * ALIGN + body) as u64
}

/// Direct IO in one spill directory.
#[derive(Debug)]
pub(super) struct Direct {
    /// Not refused by the file system yet (rule 3).
    on: AtomicBool,
    /// Bounce buffers (each `BOUNCE + ALIGN` bytes; the aligned part used).
    bounce: Mutex<Vec<Vec<u8>>>,
}

impl Direct {
    pub(super) fn new() -> Direct {
        Direct {
            on: AtomicBool::new(cfg!(target_os = "linux")),
            bounce: Mutex::new(Vec::new()),
        }
    }

    fn open(&self, path: &Path, write: bool) -> Option<io::Result<File>> {
        if !self.on.load(Ordering::Relaxed) {
            return None;
        }
        let mut o = OpenOptions::new();
        if write {
            o.write(true).create(true).truncate(true);
        } else {
            o.read(true);
        }
        #[cfg(target_os = "linux")]
        o.custom_flags(libc::O_DIRECT);
        match o.open(path) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                self.on.store(false, Ordering::Relaxed);
                tracing::debug!(dir = %path.display(), "no direct IO here; spilling through the page cache");
                None
            }
            r => Some(r),
        }
    }

    fn with_bounce<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let mut buf = lock(&self.bounce)
            .pop()
            .unwrap_or_else(|| vec![0u8; BOUNCE + ALIGN]);
        let skip = (ALIGN - buf.as_ptr() as usize % ALIGN) % ALIGN;
        let r = f(&mut buf[skip..skip + BOUNCE]);
        let mut pool = lock(&self.bounce);
        if pool.len() < 2 {
            pool.push(buf);
        }
        r
    }

    /// Writes a file of `header(at)` and `body` (rule 1), or `None` if
    /// direct IO is off here (the caller writes it the ordinary way).
    pub(super) fn write(
        &self,
        path: &Path,
        body: &[u8],
        header: impl FnOnce(u64) -> [u8; super::spill::HEADER_LEN],
    ) -> Option<io::Result<()>> {
        let f = match self.open(path, true)? {
            Ok(f) => f,
            Err(e) => return Some(Err(e)),
        };
        let phase = body.as_ptr() as usize % ALIGN;
        let at = ALIGN + phase;
        let lead = ((ALIGN - phase) % ALIGN).min(body.len());
        let mid = (body.len() - lead) / ALIGN * ALIGN;
        let head = header(at as u64);
        let r = self.with_bounce(|b| -> io::Result<()> {
            // The header, zeros and the body's unaligned head.
            let first = (at + lead).next_multiple_of(ALIGN);
            b[..first].fill(0);
            b[..head.len()].copy_from_slice(&head);
            b[at..at + lead].copy_from_slice(&body[..lead]);
            f.write_all_at(&b[..first], 0)?;
            // The aligned middle, straight from the value's memory.
            f.write_all_at(&body[lead..lead + mid], (at + lead) as u64)?;
            // The tail, padded to a block, then cut (rule 1).
            let tail = &body[lead + mid..];
            if !tail.is_empty() {
                b[..ALIGN].fill(0);
                b[..tail.len()].copy_from_slice(tail);
                f.write_all_at(&b[..ALIGN], (at + lead + mid) as u64)?;
            }
            f.set_len((at + body.len()) as u64)
        });
        Some(r)
    }

    /// Reads the body that starts at `at` into `out`: `Ok(false)` if
    /// direct IO is off here (the caller reads the ordinary way).
    pub(super) fn read(&self, path: &Path, at: u64, out: &mut [u8]) -> io::Result<bool> {
        let f = match self.open(path, false) {
            None => return Ok(false),
            Some(f) => f?,
        };
        let at = at as usize;
        let short = || io::Error::new(io::ErrorKind::UnexpectedEof, "the file ends early");
        if out.as_ptr() as usize % ALIGN != at % ALIGN {
            // Alignments differ: all through the bounce buffer (rule 2).
            return self.with_bounce(|b| {
                let mut done = 0;
                while done < out.len() {
                    let pos = at + done;
                    let base = pos - pos % ALIGN;
                    let got = read_full_at(&f, b, base as u64)?;
                    let off = pos - base;
                    if got <= off {
                        return Err(short());
                    }
                    let n = (got - off).min(out.len() - done);
                    out[done..done + n].copy_from_slice(&b[off..off + n]);
                    done += n;
                }
                Ok(true)
            });
        }
        let lead = ((ALIGN - at % ALIGN) % ALIGN).min(out.len());
        let mid = (out.len() - lead) / ALIGN * ALIGN;
        self.with_bounce(|b| -> io::Result<()> {
            if lead > 0 {
                let base = at - at % ALIGN;
                let got = read_full_at(&f, &mut b[..ALIGN], base as u64)?;
                if got < at % ALIGN + lead {
                    return Err(short());
                }
                out[..lead].copy_from_slice(&b[at % ALIGN..at % ALIGN + lead]);
            }
            if read_full_at(&f, &mut out[lead..lead + mid], (at + lead) as u64)? < mid {
                return Err(short());
            }
            let tail = out.len() - lead - mid;
            if tail > 0 {
                let got = read_full_at(&f, &mut b[..ALIGN], (at + lead + mid) as u64)?;
                if got < tail {
                    return Err(short());
                }
                out[lead + mid..].copy_from_slice(&b[..tail]);
            }
            Ok(())
        })?;
        Ok(true)
    }
}

/// Reads into `buf` from `off` until it is full or the file ends; the
/// bytes read.
fn read_full_at(f: &File, buf: &mut [u8], off: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], off + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bodies_of_any_alignment_come_back_whole() {
        let dir = std::env::temp_dir().join(format!("rask-direct-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = Direct::new();
        let noise = crate::worker::spill::tests::noise(3 * ALIGN + 5000 + 7, 11);
        for (n, write_phase) in [
            (noise.len() - 7, 0),
            (noise.len() - 7, 3),
            (100, 5),
            (ALIGN, 1),
        ] {
            let body = &noise[write_phase..write_phase + n];
            let path = dir.join(format!("f{n}-{write_phase}"));
            let Some(written) = d.write(&path, body, |at| {
                let mut h = [0u8; super::super::spill::HEADER_LEN];
                h[..8].copy_from_slice(&at.to_le_bytes());
                h
            }) else {
                // The file system refuses direct IO: nothing to test here.
                assert!(!d.on.load(Ordering::Relaxed));
                return;
            };
            written.unwrap();
            let raw = std::fs::read(&path).unwrap();
            let at = u64::from_le_bytes(raw[..8].try_into().unwrap()) as usize;
            assert_eq!(at % ALIGN, body.as_ptr() as usize % ALIGN);
            assert_eq!(raw.len(), at + n, "the file ends where the body does");
            assert_eq!(&raw[at..], body);
            // Read into buffers of every kind of alignment.
            let mut space = vec![0u8; n + 2 * ALIGN];
            for read_phase in [0, 1, at % ALIGN, ALIGN - 1] {
                let base = (ALIGN - space.as_ptr() as usize % ALIGN) % ALIGN;
                let out = &mut space[base + read_phase..base + read_phase + n];
                out.fill(0);
                assert!(d.read(&path, at as u64, out).unwrap());
                assert!(out == body, "n {n}, phases {write_phase} / {read_phase}");
            }
            // A body that claims more than the file holds is an error.
            let mut long = vec![0u8; n + 1];
            assert!(d.read(&path, at as u64, &mut long).is_err());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
