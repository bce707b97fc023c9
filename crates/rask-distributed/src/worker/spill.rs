//! The spill directory: values a worker moved out of memory, one file each.
//!
//! A file is a 32-byte header (magic, format, where the body starts, the
//! value's length, an xxHash3 checksum of the value) and the body: the
//! value, compressed with LZ4 when that pays (feature `lz4`): a sample of
//! the first 64 KiB is compressed first, and a value whose sample does not
//! shrink by a tenth is written as it is. Reading checks the length and the
//! checksum, so a value comes back bit-identical or not at all
//! ([`SpillError::Corrupt`]).
//!
//! Big bodies (at least [`DIRECT_MIN`]) move with direct IO (`O_DIRECT`,
//! `direct.rs`): from the value's memory to the disk and back, with no copy
//! through the kernel's page cache. On the 2-core development machine
//! (a virtual machine) buffered writes of 32 MiB files ran at 0.4 to
//! 1.2 GB/s and took a core doing it (the cache's fresh pages), direct
//! writes at 3 GB/s with almost no CPU. Where the file system refuses
//! direct IO (tmpfs), files are written and read through the cache.
//!
//! Rules:
//! 1. The directory belongs to one worker process: made at start (under
//!    the system's temporary directory unless configured), removed when the
//!    worker ends; directories left by workers that were killed are removed
//!    by the next worker that starts under the same parent, and by a local
//!    deployment's nanny when it has ended its workers.
//! 2. A file is written whole before its value leaves memory, and removed
//!    when the value is released or read back into memory.
//! 3. A write that does not fit (the disk or the configured quota is full)
//!    fails with [`SpillError::DiskFull`] and leaves no file behind; the
//!    value then stays in memory.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::bytes::Bytes;
use crate::proto::Gid;

const MAGIC: &[u8; 4] = b"RSPL";
const RAW: u8 = 0;
#[cfg(feature = "lz4")]
const LZ4: u8 = 1;
/// magic (4), format (1), 3 spare, body offset (8), length (8), checksum (8).
const HEADER: usize = 32;
pub(super) const HEADER_LEN: usize = HEADER;
/// Bodies at least this big are written and read with direct IO.
pub(crate) const DIRECT_MIN: usize = 1 << 20;
/// How much of a value is compressed to see whether compression pays.
#[cfg(feature = "lz4")]
const SAMPLE: usize = 64 * 1024;

/// Why a value could not be spilled or read back.
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    /// The disk, or the quota set for spilling, has no room for the value.
    #[error("no room to spill {needed} bytes in {dir}: {why}")]
    DiskFull {
        /// The spill directory.
        dir: PathBuf,
        /// The bytes that did not fit.
        needed: u64,
        /// The quota, or the operating system's error.
        why: String,
    },
    /// Reading or writing a spill file failed.
    #[error("spill file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A spill file does not hold what was written (wrong length or
    /// checksum): the value is not returned.
    #[error("spill file {path} is damaged: {why}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// Where a spilled value is: its file's size on disk.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OnDisk {
    pub(crate) file_len: u64,
}

/// A worker's spill directory.
#[derive(Debug)]
pub(crate) struct SpillDir {
    dir: PathBuf,
    compress: bool,
    /// Bytes the files may take in all (`None`: as many as the disk has).
    quota: Option<u64>,
    /// Bytes the files take now.
    used: AtomicU64,
    /// Files written and read since the start, and their bytes.
    traffic: Traffic,
    /// Direct IO for big bodies (off once the file system refuses it).
    direct: super::direct::Direct,
}

/// What a spill directory wrote and read since it was made.
#[derive(Debug, Default)]
struct Traffic {
    writes: AtomicU64,
    written: AtomicU64,
    reads: AtomicU64,
    read: AtomicU64,
}

/// A spill directory's traffic: files and bytes (on disk) written and read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SpillTraffic {
    pub(crate) writes: u64,
    pub(crate) written: u64,
    pub(crate) reads: u64,
    pub(crate) read: u64,
}

impl SpillDir {
    /// Makes `parent/rask-spill-NAME-PID` (after removing directories there
    /// left by dead workers, rule 1).
    pub(crate) fn create(
        parent: &Path,
        name: &str,
        compress: bool,
        quota: Option<u64>,
    ) -> io::Result<SpillDir> {
        std::fs::create_dir_all(parent)?;
        remove_orphans(parent);
        let safe: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let dir = parent.join(format!("rask-spill-{safe}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(SpillDir {
            dir,
            compress,
            quota,
            used: AtomicU64::new(0),
            traffic: Traffic::default(),
            direct: super::direct::Direct::new(),
        })
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    /// Bytes the spill files take on disk.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Files and bytes written and read so far.
    pub(crate) fn traffic(&self) -> SpillTraffic {
        let t = &self.traffic;
        SpillTraffic {
            writes: t.writes.load(Ordering::Relaxed),
            written: t.written.load(Ordering::Relaxed),
            reads: t.reads.load(Ordering::Relaxed),
            read: t.read.load(Ordering::Relaxed),
        }
    }

    fn file(&self, gid: Gid) -> PathBuf {
        self.dir.join(format!("{:016x}", gid.0))
    }

    /// Writes `value` to its file (rules 2 and 3).
    pub(crate) fn write(&self, gid: Gid, value: &[u8]) -> Result<OnDisk, SpillError> {
        let (format, body) = self.encode(value);
        let body: &[u8] = body.as_deref().unwrap_or(value);
        let file_len = if body.len() >= DIRECT_MIN {
            super::direct::file_len(body.len())
        } else {
            (HEADER + body.len()) as u64
        };
        if let Some(quota) = self.quota {
            let before = self.used.fetch_add(file_len, Ordering::Relaxed);
            if before + file_len > quota {
                self.used.fetch_sub(file_len, Ordering::Relaxed);
                return Err(SpillError::DiskFull {
                    dir: self.dir.clone(),
                    needed: file_len,
                    why: format!(
                        "the spill quota of {quota} bytes has {} left",
                        quota - before.min(quota)
                    ),
                });
            }
        } else {
            self.used.fetch_add(file_len, Ordering::Relaxed);
        }
        let path = self.file(gid);
        let written = if body.len() >= DIRECT_MIN {
            self.direct
                .write(&path, body, |at| header(format, at, value))
        } else {
            None
        };
        let written = written.unwrap_or_else(|| {
            let head = header(format, HEADER as u64, value);
            File::create(&path).and_then(|mut f| {
                f.write_all(&head)?;
                f.write_all(body)
            })
        });
        match written {
            Ok(()) => {
                self.traffic.writes.fetch_add(1, Ordering::Relaxed);
                self.traffic.written.fetch_add(file_len, Ordering::Relaxed);
                Ok(OnDisk { file_len })
            }
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                self.used.fetch_sub(file_len, Ordering::Relaxed);
                let full = matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT));
                Err(if full {
                    SpillError::DiskFull {
                        dir: self.dir.clone(),
                        needed: file_len,
                        why: e.to_string(),
                    }
                } else {
                    SpillError::Io { path, source: e }
                })
            }
        }
    }

    /// Reads the value of `gid` back (in shared memory when `shared` and it
    /// is big), checking its length and checksum.
    pub(crate) fn read(&self, gid: Gid, shared: bool) -> Result<Bytes, SpillError> {
        let path = self.file(gid);
        let io_err = |source| SpillError::Io {
            path: path.clone(),
            source,
        };
        let corrupt = |why: String| SpillError::Corrupt {
            path: path.clone(),
            why,
        };
        let mut f = File::open(&path).map_err(io_err)?;
        let file_len = f.metadata().map_err(io_err)?.len();
        let mut header = [0u8; HEADER];
        f.read_exact(&mut header).map_err(io_err)?;
        if &header[..4] != MAGIC {
            return Err(corrupt("not a spill file".to_owned()));
        }
        let format = header[4];
        let word = |i: usize| u64::from_le_bytes(header[i..i + 8].try_into().unwrap_or_default());
        let (at, len, sum) = (word(8), word(16), word(24));
        if len > crate::data::MAX_VALUE {
            return Err(corrupt(format!("it claims a value of {len} bytes")));
        }
        if at < HEADER as u64 || at > file_len {
            return Err(corrupt(format!(
                "its body starts at {at}, in {file_len} bytes"
            )));
        }
        let len = len as usize;
        let body_len = if format == RAW {
            len
        } else {
            (file_len - at) as usize
        };
        if at + body_len as u64 > file_len {
            return Err(corrupt(format!(
                "{} bytes stored for a body of {body_len}",
                file_len - at
            )));
        }
        // The body into `out`: straight from the disk when big, else
        // through the cache.
        let read_body = |f: &mut File, out: &mut [u8]| -> Result<(), String> {
            if out.len() >= DIRECT_MIN
                && self
                    .direct
                    .read(&path, at, out)
                    .map_err(|e| e.to_string())?
            {
                return Ok(());
            }
            f.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
            f.read_exact(out).map_err(|e| e.to_string())
        };
        let bytes = Bytes::write(len, shared, |out| match format {
            RAW => read_body(&mut f, out),
            #[cfg(feature = "lz4")]
            LZ4 => {
                let mut packed = rask_core::zeroed_bytes(body_len);
                read_body(&mut f, &mut packed)?;
                match lz4_flex::block::decompress_into(&packed, out) {
                    Ok(n) if n == out.len() => Ok(()),
                    Ok(n) => Err(format!("it unpacks to {n} bytes, not {}", out.len())),
                    Err(e) => Err(format!("it does not unpack: {e}")),
                }
            }
            other => Err(format!("unknown format {other}")),
        })
        .map_err(corrupt)?;
        if checksum(bytes.as_slice()) != sum {
            return Err(corrupt("its checksum does not match".to_owned()));
        }
        self.traffic.reads.fetch_add(1, Ordering::Relaxed);
        self.traffic.read.fetch_add(file_len, Ordering::Relaxed);
        Ok(bytes)
    }

    /// Removes the file of `gid` (its value was released or read back).
    pub(crate) fn remove(&self, gid: Gid, disk: OnDisk) {
        if std::fs::remove_file(self.file(gid)).is_ok() {
            self.used.fetch_sub(disk.file_len, Ordering::Relaxed);
        }
    }

    /// The value as it will be written: its format and, if compressed,
    /// the compressed bytes.
    #[cfg_attr(not(feature = "lz4"), allow(unused_variables))]
    fn encode(&self, value: &[u8]) -> (u8, Option<Vec<u8>>) {
        #[cfg(feature = "lz4")]
        if self.compress && value.len() >= 4096 {
            let sample = &value[..value.len().min(SAMPLE)];
            if pays(sample) {
                let mut out = vec![0u8; lz4_flex::block::get_maximum_output_size(value.len())];
                if let Ok(n) = lz4_flex::block::compress_into(value, &mut out) {
                    if n < value.len() - value.len() / 10 {
                        out.truncate(n);
                        return (LZ4, Some(out));
                    }
                }
            }
        }
        (RAW, None)
    }
}

/// Whether LZ4 shrinks `sample` by at least a tenth.
#[cfg(feature = "lz4")]
fn pays(sample: &[u8]) -> bool {
    let mut out = vec![0u8; lz4_flex::block::get_maximum_output_size(sample.len())];
    matches!(lz4_flex::block::compress_into(sample, &mut out), Ok(n) if n < sample.len() - sample.len() / 10)
}

/// A file's header: the body (in `format`) starts at byte `at`.
fn header(format: u8, at: u64, value: &[u8]) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..4].copy_from_slice(MAGIC);
    h[4] = format;
    h[8..16].copy_from_slice(&at.to_le_bytes());
    h[16..24].copy_from_slice(&(value.len() as u64).to_le_bytes());
    h[24..32].copy_from_slice(&checksum(value).to_le_bytes());
    h
}

fn checksum(b: &[u8]) -> u64 {
    twox_hash::XxHash3_64::oneshot(b)
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes `parent/rask-spill-*-PID` directories whose process is gone
/// (at a worker's start, and by the nanny once it has reaped its workers:
/// a worker that is killed cannot remove its own).
pub(crate) fn remove_orphans(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix("rask-spill-") else {
            continue;
        };
        let Some(pid) = rest.rsplit('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let gone = pid > 0
            && unsafe { libc::kill(pid, 0) } != 0
            && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn dir(quota: Option<u64>) -> (tempdir::Tmp, SpillDir) {
        let t = tempdir::Tmp::new();
        let d = SpillDir::create(&t.0, "w:1", true, quota).expect("spill dir");
        (t, d)
    }

    /// A small temporary directory, removed at the end of the test.
    mod tempdir {
        pub(super) struct Tmp(pub(super) std::path::PathBuf);
        impl Tmp {
            pub(super) fn new() -> Tmp {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let p = std::env::temp_dir()
                    .join(format!("rask-spill-test-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&p).expect("temp dir");
                Tmp(p)
            }
        }
        impl Drop for Tmp {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    /// `n` bytes of xorshift noise from `seed`.
    pub(crate) fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn values_come_back_bit_identical_compressed_or_not() {
        let (_t, d) = dir(None);
        let plain: Vec<u8> = (0..300_000u32).map(|i| (i % 7) as u8).collect();
        let random = noise(300_000, 7);
        for (i, v) in [&plain, &random, &vec![1u8; 10]].into_iter().enumerate() {
            let gid = Gid(i as u64);
            let disk = d.write(gid, v).expect("write");
            let back = d.read(gid, false).expect("read");
            assert_eq!(back.as_slice(), &v[..], "value {i}");
            let back = d.read(gid, true).expect("read into shared memory");
            assert_eq!(back.as_slice(), &v[..], "value {i} (shared)");
            if i == 0 && cfg!(feature = "lz4") {
                assert!(
                    disk.file_len < plain.len() as u64 / 4,
                    "repetitive data compresses"
                );
            }
            if i == 1 {
                assert_eq!(
                    disk.file_len,
                    (HEADER + random.len()) as u64,
                    "noise is stored raw"
                );
            }
            d.remove(gid, disk);
        }
        assert_eq!(d.used(), 0);
        assert_eq!(std::fs::read_dir(d.path()).expect("dir").count(), 0);
    }

    #[test]
    fn big_values_go_straight_to_disk_and_come_back() {
        let (_t, d) = dir(None);
        let v = noise(DIRECT_MIN * 3 + 4099, 9);
        for (i, body) in [&v[..], &v[1..], &v[4000..]].into_iter().enumerate() {
            let gid = Gid(i as u64);
            let disk = d.write(gid, body).expect("write");
            let on_disk = std::fs::metadata(d.file(gid)).expect("file").len();
            assert!(on_disk <= disk.file_len, "{on_disk} > {}", disk.file_len);
            for shared in [false, true] {
                let back = d.read(gid, shared).expect("read");
                assert!(back.as_slice() == body, "value {i} (shared: {shared})");
            }
            // A damaged body is refused, as with small files.
            let path = d.file(gid);
            let mut bytes = std::fs::read(&path).expect("file");
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x10;
            std::fs::write(&path, &bytes).expect("rewrite");
            assert!(matches!(
                d.read(gid, false),
                Err(SpillError::Corrupt { .. })
            ));
            d.remove(gid, disk);
        }
        assert_eq!(d.used(), 0);
    }

    #[test]
    fn a_full_quota_is_a_typed_error_and_leaves_nothing() {
        let (_t, d) = dir(Some(100_000));
        let v = noise(60_000, 3);
        let first = d.write(Gid(1), &v).expect("fits");
        match d.write(Gid(2), &v) {
            Err(SpillError::DiskFull { needed, .. }) => assert_eq!(needed, 60_032),
            other => panic!("expected DiskFull, got {other:?}"),
        }
        assert_eq!(d.used(), first.file_len);
        assert!(!d.file(Gid(2)).exists());
    }

    #[test]
    fn a_full_disk_is_a_typed_error() {
        // /dev/full answers every write with ENOSPC.
        if !Path::new("/dev/full").exists() {
            return;
        }
        let (_t, d) = dir(None);
        let link = d.file(Gid(9));
        std::os::unix::fs::symlink("/dev/full", &link).expect("symlink");
        match d.write(Gid(9), &noise(10_000, 1)) {
            Err(SpillError::DiskFull { needed, .. }) => assert_eq!(needed, 10_032),
            other => panic!("expected DiskFull, got {other:?}"),
        }
        assert_eq!(d.used(), 0);
    }

    #[test]
    fn a_damaged_file_is_refused() {
        let (_t, d) = dir(None);
        let v = noise(50_000, 5);
        d.write(Gid(3), &v).expect("write");
        let path = d.file(Gid(3));
        let mut bytes = std::fs::read(&path).expect("read file");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).expect("rewrite");
        assert!(matches!(
            d.read(Gid(3), false),
            Err(SpillError::Corrupt { .. })
        ));
        bytes.truncate(100);
        std::fs::write(&path, &bytes).expect("rewrite");
        assert!(matches!(
            d.read(Gid(3), false),
            Err(SpillError::Corrupt { .. })
        ));
    }

    #[test]
    fn directories_of_dead_workers_are_removed() {
        let t = tempdir::Tmp::new();
        // No process has pid 2^22 + 1 (above Linux's maximum).
        let orphan = t.0.join("rask-spill-old-4194305");
        std::fs::create_dir_all(&orphan).expect("orphan");
        let d = SpillDir::create(&t.0, "new", true, None).expect("spill dir");
        assert!(!orphan.exists());
        let mine = d.path().to_path_buf();
        assert!(mine.exists());
        drop(d);
        assert!(!mine.exists());
    }
}
