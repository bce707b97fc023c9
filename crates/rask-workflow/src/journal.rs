//! The journal: what finished, so that a later run skips it.
//!
//! Layout under `STATE/journal/`:
//! - `state.bin`: a snapshot (magic, the encoding (`rask::core::format`) of
//!   every job's last success and
//!   every source's hash, a checksum), replaced whole: written to a
//!   temporary file, synced, renamed over the old one;
//! - `seg-TOKEN-PID-HOST.log`: append-only segments, one per run and
//!   process. Every process that runs jobs (the driver, or each cluster
//!   worker, over a shared file system) appends to its own, so no two
//!   writers share a file. A record is `u32 length, u64 checksum, encoding`,
//!   written with one `write`. The checksum is XXH3 seeded with the format's
//!   number (`FORMAT_SEED`), so a record of an older format reads as torn
//!   (rule 2) and its job simply runs again (rule 4).
//!
//! Rules:
//! 1. A `Done` record is appended only after the job's outputs are in
//!    place (renamed) and hashed: a record never claims what is not there.
//! 2. A process killed mid-write leaves at most a torn last record; readers
//!    stop at the first record whose length or checksum is wrong.
//! 3. Segments are merged into the snapshot when a run starts (what an
//!    interrupted run left) and when it ends, by the process holding
//!    `STATE/lock`, then deleted. Records are applied in segment-name order
//!    (run tokens grow with time), later ones replacing earlier ones.
//! 4. Losing a record (a crash of the machine before the page cache was
//!    written) only makes a finished job run again.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use rask::core::format;
use serde::{Deserialize, Serialize};
use twox_hash::XxHash3_64;

use crate::hash::{ContentHash, FileState, Signature};
use crate::WorkflowError;

const MAGIC: &[u8; 8] = b"RASKWF3\n";
/// Seeds the checksums: 3 for postcard (version 2's records, in bincode 1,
/// were checked with seed 0).
const FORMAT_SEED: u64 = 3;

fn checksum(body: &[u8]) -> u64 {
    XxHash3_64::oneshot_with_seed(FORMAT_SEED, body)
}

/// One journal entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Record {
    /// The job succeeded (or was found up to date with changed stats): its
    /// signature and its outputs' states.
    Done {
        job: String,
        sig: Signature,
        /// The part of `sig` that does not depend on the inputs.
        cmd: Signature,
        inputs: Vec<(PathKey, ContentHash)>,
        outputs: Vec<(PathKey, FileState)>,
    },
    /// The job failed; `why` is the summary line (for `rask jobs`).
    Failed { job: String, why: String },
    /// The job was found up to date (written on clusters, for progress).
    Checked { job: String },
    /// A source file's hash at a stat.
    Source { path: String, state: FileState },
}

/// A job's last success.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct JobRecord {
    pub(crate) sig: Signature,
    /// What the signature was made of, to say why it changed.
    pub(crate) cmd: Signature,
    pub(crate) inputs: Vec<(PathKey, ContentHash)>,
    pub(crate) outputs: Vec<(PathKey, FileState)>,
}

/// A path as the journal keeps it: a 64-bit hash of its text (records stay
/// small and decode without allocating a string per file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct PathKey(pub(crate) u64);

impl PathKey {
    pub(crate) fn of(path: &str) -> PathKey {
        PathKey(XxHash3_64::oneshot(path.as_bytes()))
    }
}

/// What the journal knows.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    pub(crate) jobs: HashMap<String, JobRecord>,
    pub(crate) sources: HashMap<String, FileState>,
}

impl Snapshot {
    pub(crate) fn apply(&mut self, r: Record) {
        match r {
            Record::Done {
                job,
                sig,
                cmd,
                inputs,
                outputs,
            } => {
                self.jobs.insert(
                    job,
                    JobRecord {
                        sig,
                        cmd,
                        inputs,
                        outputs,
                    },
                );
            }
            Record::Source { path, state } => {
                self.sources.insert(path, state);
            }
            Record::Failed { .. } | Record::Checked { .. } => {}
        }
    }
}

/// The journal directory of a state directory.
pub(crate) fn dir(state: &Path) -> PathBuf {
    state.join("journal")
}

/// Reads the snapshot and every segment (rule 3's order).
pub(crate) fn load(jdir: &Path) -> Result<(Snapshot, Vec<PathBuf>), WorkflowError> {
    let snap_path = jdir.join("state.bin");
    let mut snap = match std::fs::read(&snap_path) {
        Ok(bytes) => decode_snapshot(&bytes).unwrap_or_else(|why| {
            tracing::warn!(
                "{}: {why}; starting from an empty journal",
                snap_path.display()
            );
            Snapshot::default()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Snapshot::default(),
        Err(e) => return Err(WorkflowError::io(snap_path, e)),
    };
    let segs = segments(jdir)?;
    for s in &segs {
        for r in read_segment(s, 0)?.0 {
            snap.apply(r);
        }
    }
    Ok((snap, segs))
}

/// Segment files, sorted by name.
pub(crate) fn segments(jdir: &Path) -> Result<Vec<PathBuf>, WorkflowError> {
    let rd = match std::fs::read_dir(jdir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(WorkflowError::io(jdir, e)),
    };
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seg-") && n.ends_with(".log"))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The records of a segment from byte `from`, and the offset after the
/// last whole record (rule 2).
pub(crate) fn read_segment(path: &Path, from: u64) -> Result<(Vec<Record>, u64), WorkflowError> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            if from > 0 {
                use std::io::Seek;
                f.seek(std::io::SeekFrom::Start(from))
                    .map_err(|e| WorkflowError::io(path, e))?;
            }
            f.read_to_end(&mut bytes)
                .map_err(|e| WorkflowError::io(path, e))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), from)),
        Err(e) => return Err(WorkflowError::io(path, e)),
    }
    let mut out = Vec::new();
    let mut at = 0usize;
    while bytes.len() >= at + 12 {
        let len =
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let mut sum = [0u8; 8];
        sum.copy_from_slice(&bytes[at + 4..at + 12]);
        let Some(body) = bytes.get(at + 12..at + 12 + len) else {
            break;
        };
        if checksum(body) != u64::from_le_bytes(sum) {
            break;
        }
        match format::from_slice::<Record>(body) {
            Ok(r) => out.push(r),
            Err(_) => break,
        }
        at += 12 + len;
    }
    Ok((out, from + at as u64))
}

fn decode_snapshot(bytes: &[u8]) -> Result<Snapshot, String> {
    if bytes.len() < MAGIC.len() + 8 || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not a journal snapshot (or an older format)".into());
    }
    let (body, sum) = bytes[MAGIC.len()..].split_at(bytes.len() - MAGIC.len() - 8);
    let mut s = [0u8; 8];
    s.copy_from_slice(sum);
    if checksum(body) != u64::from_le_bytes(s) {
        return Err("the snapshot's checksum is wrong".into());
    }
    format::from_slice(body).map_err(|e| format!("the snapshot does not decode: {e}"))
}

/// Writes `snap` as the new snapshot (temporary file, sync, rename), then
/// deletes `merged` segments.
pub(crate) fn compact(
    jdir: &Path,
    snap: &Snapshot,
    merged: &[PathBuf],
) -> Result<(), WorkflowError> {
    std::fs::create_dir_all(jdir).map_err(|e| WorkflowError::io(jdir, e))?;
    let body =
        format::to_vec(snap).map_err(|e| WorkflowError::io(jdir, std::io::Error::other(e)))?;
    let mut bytes = Vec::with_capacity(body.len() + 16);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&body);
    bytes.extend_from_slice(&checksum(&body).to_le_bytes());
    let tmp = jdir.join(format!("state.bin.tmp-{}", std::process::id()));
    let done = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_data()?;
        std::fs::rename(&tmp, jdir.join("state.bin"))
    })();
    if let Err(e) = done {
        let _ = std::fs::remove_file(&tmp);
        return Err(WorkflowError::io(jdir.join("state.bin"), e));
    }
    forget(jdir);
    for s in merged {
        let _ = std::fs::remove_file(s);
    }
    Ok(())
}

/// Open segment of this process, per journal directory.
struct Open {
    token: String,
    file: File,
}

fn open_segments() -> &'static Mutex<HashMap<PathBuf, Open>> {
    static S: OnceLock<Mutex<HashMap<PathBuf, Open>>> = OnceLock::new();
    S.get_or_init(Mutex::default)
}

/// Appends `r` to this process's segment of run `token` in `jdir`.
pub(crate) fn append(jdir: &Path, token: &str, r: &Record) -> std::io::Result<()> {
    let body = format::to_vec(r).map_err(std::io::Error::other)?;
    let mut frame = Vec::with_capacity(body.len() + 12);
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&checksum(&body).to_le_bytes());
    frame.extend_from_slice(&body);
    let mut map = open_segments().lock().unwrap_or_else(|p| p.into_inner());
    let fresh = map.get(jdir).is_none_or(|o| o.token != token);
    if fresh {
        std::fs::create_dir_all(jdir)?;
        let host = hostname();
        let name = format!("seg-{token}-{}-{host}.log", std::process::id());
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(jdir.join(name))?;
        map.insert(
            jdir.to_owned(),
            Open {
                token: token.to_owned(),
                file,
            },
        );
    }
    match map.get_mut(jdir) {
        Some(o) => o.file.write_all(&frame),
        None => Err(std::io::Error::other("journal segment not open")),
    }
}

/// Closes this process's segment in `jdir`, if open.
pub(crate) fn forget(jdir: &Path) {
    open_segments()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(jdir);
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is valid for `buf.len()` bytes; gethostname writes at
    // most that many and we only read up to the first NUL within it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "host".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end])
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The exclusive lock on a state directory, held while it lives.
#[derive(Debug)]
pub(crate) struct StateLock {
    _file: File,
}

impl StateLock {
    /// Takes `STATE/lock` without waiting; `Busy` if another process holds it.
    pub(crate) fn take(state: &Path) -> Result<StateLock, WorkflowError> {
        std::fs::create_dir_all(state).map_err(|e| WorkflowError::io(state, e))?;
        let path = state.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| WorkflowError::io(&path, e))?;
        // SAFETY: the descriptor is open for the duration of the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(WorkflowError::Busy(state.to_owned()));
            }
            return Err(WorkflowError::io(&path, e));
        }
        Ok(StateLock { _file: file })
    }

    /// Whether some process holds the lock of `state` now.
    pub(crate) fn is_held(state: &Path) -> bool {
        let Ok(file) = File::open(state.join("lock")) else {
            return false;
        };
        // SAFETY: the descriptor is open for the duration of both calls.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
        rc != 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::hash::Stat;

    fn fs(h: u128) -> FileState {
        FileState {
            stat: Stat {
                size: 1,
                mtime_ns: 2,
                ctime_ns: 3,
                ino: 4,
            },
            hash: ContentHash(h),
        }
    }

    #[test]
    fn records_survive_a_torn_tail_and_compact() {
        let state = std::env::temp_dir().join(format!("rask-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        let j = dir(&state);
        let lock = StateLock::take(&state).unwrap();
        assert!(StateLock::is_held(&state));
        assert!(matches!(
            StateLock::take(&state),
            Err(WorkflowError::Busy(_))
        ));
        for i in 0..3u128 {
            let r = Record::Done {
                job: format!("j{i}"),
                sig: Signature(i),
                cmd: Signature(0),
                inputs: vec![],
                outputs: vec![(PathKey::of(&format!("o{i}")), fs(i))],
            };
            append(&j, "t1", &r).unwrap();
        }
        append(
            &j,
            "t1",
            &Record::Source {
                path: "s".into(),
                state: fs(9),
            },
        )
        .unwrap();
        // A torn record at the end: a length with too few bytes after it.
        let seg = segments(&j).unwrap().pop().unwrap();
        OpenOptions::new()
            .append(true)
            .open(&seg)
            .unwrap()
            .write_all(&[200, 0, 0, 0, 1, 2])
            .unwrap();
        let (snap, segs) = load(&j).unwrap();
        assert_eq!(snap.jobs.len(), 3);
        assert_eq!(snap.jobs["j2"].sig, Signature(2));
        assert_eq!(snap.sources["s"], fs(9));
        compact(&j, &snap, &segs).unwrap();
        assert!(segments(&j).unwrap().is_empty());
        let (again, _) = load(&j).unwrap();
        assert_eq!(again.jobs["j1"], snap.jobs["j1"]);
        // A later run's segment replaces an earlier record.
        append(
            &j,
            "t2",
            &Record::Done {
                job: "j1".into(),
                sig: Signature(7),
                cmd: Signature(0),
                inputs: vec![],
                outputs: vec![],
            },
        )
        .unwrap();
        let (later, _) = load(&j).unwrap();
        assert_eq!(later.jobs["j1"].sig, Signature(7));
        drop(lock);
        assert!(!StateLock::is_held(&state));
        std::fs::remove_dir_all(&state).unwrap();
    }
}
