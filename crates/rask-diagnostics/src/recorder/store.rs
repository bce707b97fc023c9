//! What the recorder shares between threads, behind one lock: the ring of
//! sealed chunks, samples, transfers, workers, runs, kept graphs, the
//! per-prefix totals of plans, and the summary of evicted records.
//!
//! The ring holds at most `max_chunks` sealed chunks; sealing one more
//! evicts the oldest, whose summary is first added to `evicted` (so the
//! per-prefix and per-worker totals still count its tasks) and whose memory
//! is kept for reuse when nobody else holds it. Samples and transfers are
//! rings of their own; every ring counts what it ever received, which is
//! what a [`Cursor`](super::Cursor) remembers.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::chunk::{Chunk, Summary};
use super::live::LiveRun;
use super::sampler::Sample;
use crate::state::RunInfo;

/// A transfer as stored.
pub(crate) struct Transfer {
    pub(crate) start: u64,
    pub(crate) dur: u64,
    pub(crate) from: u32,
    pub(crate) to: u32,
    pub(crate) nbytes: u64,
}

/// A worker as stored.
pub(crate) struct WorkerRec {
    pub(crate) name: String,
    pub(crate) threads: u32,
    pub(crate) lost: Option<String>,
    pub(crate) last: Option<Sample>,
}

/// Chunks kept for reuse.
const SPARE_CHUNKS: usize = 4;
/// Runs remembered.
pub(crate) const KEPT_RUN_INFO: usize = 1_000;
/// Failures remembered for the report.
pub(crate) const KEPT_ERRORS: usize = 100;

#[derive(Default)]
pub(crate) struct Store {
    pub(crate) chunks: VecDeque<Arc<Chunk>>,
    pub(crate) max_chunks: usize,
    pub(crate) spare: Vec<Chunk>,
    /// Records evicted from the ring.
    pub(crate) dropped: u64,
    /// Their totals.
    pub(crate) evicted: Summary,
    pub(crate) samples: VecDeque<Sample>,
    pub(crate) samples_seq: u64,
    pub(crate) transfers: VecDeque<Transfer>,
    pub(crate) transfers_seq: u64,
    pub(crate) bytes_moved: u64,
    pub(crate) workers: BTreeMap<u32, WorkerRec>,
    pub(crate) runs: VecDeque<RunInfo>,
    pub(crate) live: VecDeque<Arc<LiveRun>>,
    /// Tasks per prefix in the plans seen.
    pub(crate) planned: Vec<u64>,
    /// The function of each prefix, where known.
    pub(crate) functions: Vec<Option<Arc<str>>>,
    pub(crate) executor: &'static str,
    /// The most recent failures: (key, error).
    pub(crate) errors: VecDeque<(String, String)>,
    /// The result cache's counters after the last run that used one.
    pub(crate) cache: Option<crate::state::CacheStatus>,
}

impl Store {
    /// Adds a sealed chunk, evicting the oldest beyond the limit.
    pub(crate) fn seal(&mut self, chunk: Arc<Chunk>) {
        while self.chunks.len() >= self.max_chunks.max(1) {
            let Some(old) = self.chunks.pop_front() else {
                break;
            };
            self.dropped += old.len() as u64;
            self.evicted.merge(old.summary());
            if self.spare.len() < SPARE_CHUNKS {
                if let Ok(c) = Arc::try_unwrap(old) {
                    self.spare.push(c);
                }
            }
        }
        self.chunks.push_back(chunk);
    }

    /// An empty chunk: a spare one if any, else a new one.
    pub(crate) fn fresh_chunk(&mut self, buf: usize, first_seq: u64) -> Chunk {
        match self.spare.pop() {
            Some(c) => c.recycle(buf, first_seq),
            None => Chunk::new(buf, first_seq),
        }
    }

    pub(crate) fn push_sample(&mut self, s: Sample, cap: usize) {
        self.samples_seq += 1;
        if self.samples.len() >= cap.max(1) {
            self.samples.pop_front();
        }
        self.samples.push_back(s);
    }

    pub(crate) fn push_transfer(&mut self, t: Transfer, cap: usize) {
        self.transfers_seq += 1;
        self.bytes_moved += t.nbytes;
        if self.transfers.len() >= cap.max(1) {
            self.transfers.pop_front();
        }
        self.transfers.push_back(t);
    }

    pub(crate) fn push_error(&mut self, key: String, error: String) {
        if self.errors.len() >= KEPT_ERRORS {
            self.errors.pop_front();
        }
        self.errors.push_back((key, error));
    }

    /// Bytes held by the ring, spares, samples, transfers and graphs.
    pub(crate) fn memory_bytes(&self) -> usize {
        (self.chunks.len() + self.spare.len()) * Chunk::bytes()
            + self.samples.len() * std::mem::size_of::<Sample>()
            + self.transfers.len() * std::mem::size_of::<Transfer>()
            + self.live.iter().map(|l| l.memory_bytes()).sum::<usize>()
            + (self.planned.len() + self.functions.len()) * 16
            + self.runs.len() * std::mem::size_of::<RunInfo>()
    }
}
