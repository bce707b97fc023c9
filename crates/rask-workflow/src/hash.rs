//! Content hashes of files and jobs.
//!
//! Up-to-date checks compare *contents*, not times: a file's identity is the
//! XXH3-128 hash of its bytes. Reading every file on every run would be slow,
//! so a hash is kept with the file's [`Stat`] (size, modification and change
//! times in nanoseconds, inode) when it was taken, and reused while the stat
//! is unchanged, as git's index does. A `touch` changes the times, so the
//! file is read and hashed again, the hash is unchanged, and nothing reruns;
//! the new stat is then remembered. What this misses: a change of content
//! that keeps the size, both times and the inode, which needs a deliberate
//! clock reset (and `make`, which compares times only, misses it too).
//!
//! A job's *signature* hashes everything that determines its outputs: its
//! command (with the final output paths), environment additions, working
//! directory, output paths, and each input's path and content hash. Equal
//! signatures and unchanged outputs mean the job is up to date.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use twox_hash::XxHash3_128;

/// The content hash of a file (XXH3-128 of its bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContentHash(pub u128);

/// A job's signature: what its outputs are a function of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signature(pub u128);

/// What the file system says about a file, to tell whether it may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stat {
    pub(crate) size: u64,
    pub(crate) mtime_ns: i64,
    pub(crate) ctime_ns: i64,
    pub(crate) ino: u64,
}

impl Stat {
    fn of(m: &std::fs::Metadata) -> Stat {
        Stat {
            size: m.len(),
            mtime_ns: m
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.mtime_nsec()),
            ctime_ns: m
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.ctime_nsec()),
            ino: m.ino(),
        }
    }
}

/// A file's stat and the hash of its content at that stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileState {
    pub(crate) stat: Stat,
    pub(crate) hash: ContentHash,
}

/// The stat of `path` (following links).
pub(crate) fn stat(path: &Path) -> std::io::Result<Stat> {
    Ok(Stat::of(&std::fs::metadata(path)?))
}

/// The stat of `rel` (a relative path) under the directory `base`, looked
/// up from a descriptor of `base` kept per thread: the kernel walks only
/// `rel`, not `base` again for every file.
pub(crate) fn stat_under(base: &str, rel: &str) -> std::io::Result<Stat> {
    use std::os::fd::{AsRawFd, OwnedFd};
    thread_local! {
        static DIR: std::cell::RefCell<Option<(String, OwnedFd)>> = const { std::cell::RefCell::new(None) };
    }
    if rel.starts_with('/') {
        return stat(Path::new(rel));
    }
    let c_rel = std::ffi::CString::new(rel).map_err(std::io::Error::other)?;
    DIR.with(|d| {
        let mut d = d.borrow_mut();
        if d.as_ref().is_none_or(|(b, _)| b != base) {
            let f = std::fs::File::open(base)?;
            *d = Some((base.to_owned(), OwnedFd::from(f)));
        }
        let fd = d.as_ref().map_or(-1, |(_, fd)| fd.as_raw_fd());
        // SAFETY: `st` is plain data that fstatat fills in; `c_rel` is a
        // NUL-terminated string and `fd` an open directory for the call.
        let st = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstatat(fd, c_rel.as_ptr(), &mut st, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            st
        };
        Ok(Stat {
            size: st.st_size as u64,
            mtime_ns: st
                .st_mtime
                .saturating_mul(1_000_000_000)
                .saturating_add(st.st_mtime_nsec),
            ctime_ns: st
                .st_ctime
                .saturating_mul(1_000_000_000)
                .saturating_add(st.st_ctime_nsec),
            ino: st.st_ino,
        })
    })
}

/// Reads and hashes `path`; the stat is taken from the open file.
pub(crate) fn hash_file(path: &Path) -> std::io::Result<FileState> {
    let mut f = std::fs::File::open(path)?;
    let meta = f.metadata()?;
    if meta.is_dir() {
        return Err(std::io::Error::other("is a directory, not a file"));
    }
    // Small files (most outputs) in one read and one call; big ones streamed.
    const WHOLE: u64 = 1 << 20;
    let hash = if meta.len() <= WHOLE {
        let mut buf = Vec::with_capacity(meta.len() as usize + 1);
        f.read_to_end(&mut buf)?;
        XxHash3_128::oneshot(&buf)
    } else {
        let mut h = XxHash3_128::with_seed(0);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            h.write(&buf[..n]);
        }
        h.finish_128()
    };
    Ok(FileState {
        stat: Stat::of(&meta),
        hash: ContentHash(hash),
    })
}

/// The state of `path` now, reusing `known`'s hash when the stat is the
/// same; the flag says whether the file was read.
pub(crate) fn current(
    path: &Path,
    known: Option<&FileState>,
) -> std::io::Result<(FileState, bool)> {
    if let Some(k) = known {
        let s = stat(path)?;
        if s == k.stat {
            return Ok((*k, false));
        }
    }
    hash_file(path).map(|f| (f, true))
}

/// As [`current`], for `rel` under the directory `base`.
pub(crate) fn current_under(
    base: &str,
    rel: &str,
    known: &FileState,
) -> std::io::Result<(FileState, bool)> {
    if stat_under(base, rel)? == known.stat {
        return Ok((*known, false));
    }
    hash_file(&Path::new(base).join(rel)).map(|f| (f, true))
}

/// Builds a [`Signature`] from a canonical, length-prefixed encoding
/// (gathered, then hashed in one call: the streaming hasher allocates and
/// copies its state, which costs more than these few hundred bytes).
pub(crate) struct Signer(Vec<u8>);

impl Signer {
    /// Version of the encoding: bump it when what is hashed changes.
    const VERSION: &'static [u8] = b"rask-workflow-signature-1";

    pub(crate) fn new() -> Signer {
        let mut v = Vec::with_capacity(256);
        v.extend_from_slice(Self::VERSION);
        Signer(v)
    }

    pub(crate) fn str(&mut self, s: &str) -> &mut Self {
        self.0.extend_from_slice(&(s.len() as u64).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
        self
    }

    pub(crate) fn u128(&mut self, v: u128) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub(crate) fn tag(&mut self, t: u8) -> &mut Self {
        self.0.push(t);
        self
    }

    pub(crate) fn finish(&self) -> Signature {
        Signature(XxHash3_128::oneshot(&self.0))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_touch_changes_the_stat_not_the_hash() {
        let dir = std::env::temp_dir().join(format!("rask-hash-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f.txt");
        std::fs::write(&p, b"hello").unwrap();
        let a = hash_file(&p).unwrap();
        let (same, read) = current(&p, Some(&a)).unwrap();
        assert!(!read && same == a);
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
            .unwrap();
        drop(f);
        let (b, read) = current(&p, Some(&a)).unwrap();
        assert!(read);
        assert_eq!(b.hash, a.hash);
        assert_ne!(b.stat, a.stat);
        std::fs::write(&p, b"hellp").unwrap();
        assert_ne!(hash_file(&p).unwrap().hash, a.hash);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stat_under_a_directory_is_the_stat() {
        let dir = std::env::temp_dir().join(format!("rask-hash-under-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/f.txt"), b"x").unwrap();
        let base = dir.to_str().unwrap();
        assert_eq!(
            stat_under(base, "sub/f.txt").unwrap(),
            stat(&dir.join("sub/f.txt")).unwrap()
        );
        assert!(stat_under(base, "sub/missing").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn signatures_separate_fields() {
        let a = Signer::new().str("ab").str("c").finish();
        let b = Signer::new().str("a").str("bc").finish();
        assert_ne!(a, b);
    }
}
