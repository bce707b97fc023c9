//! Export to the Chrome trace event format (`chrome://tracing`, Perfetto's
//! UI at ui.perfetto.dev opens it too).
//!
//! Each worker is a process (`pid` = worker id + 1; the client is pid 0),
//! each of its threads a thread; each task a complete event (`"ph": "X"`)
//! named by its key, with its prefix as category; transfers are complete
//! events on a `transfers` thread of the receiving worker; resource samples
//! are counter events (`"ph": "C"`). Times are microseconds since the
//! recording started.

use std::collections::BTreeSet;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::recorder::{key_text, Recorder, Snapshot, FAILED, RETRIED, SKIPPED};

/// The thread id of the transfers row in each worker process.
const TRANSFERS_TID: u64 = 1 << 20;

fn pid(worker: u32) -> u64 {
    if worker == u32::MAX {
        0
    } else {
        worker as u64 + 1
    }
}

fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"?\"".to_owned())
}

/// Writes `snap` as a Chrome trace to `out`.
pub fn write_trace(snap: &Snapshot, out: &mut impl Write) -> std::io::Result<()> {
    out.write_all(b"{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n")?;
    let mut first = true;
    let mut sep = |out: &mut dyn Write| -> std::io::Result<()> {
        if !first {
            out.write_all(b",\n")?;
        }
        first = false;
        Ok(())
    };
    let us = |ns: u64| ns as f64 / 1e3;
    // Names of processes and threads.
    let t = &snap.tasks;
    let mut lanes: BTreeSet<(u32, u32)> = BTreeSet::new();
    for i in 0..t.len() {
        lanes.insert((t.worker[i], t.thread[i]));
    }
    let mut procs: BTreeSet<u32> = lanes.iter().map(|l| l.0).collect();
    procs.extend(snap.samples.worker.iter().copied());
    procs.extend(snap.transfers.to.iter().copied());
    for w in &procs {
        let name = snap
            .status
            .workers
            .iter()
            .find(|x| x.id == *w)
            .map(|x| x.name.clone())
            .unwrap_or_else(|| {
                if *w == u32::MAX {
                    "client".into()
                } else {
                    format!("worker-{w}")
                }
            });
        sep(out)?;
        write!(
            out,
            "{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":{},\"args\":{{\"name\":{}}}}}",
            pid(*w),
            js(&name)
        )?;
        sep(out)?;
        write!(
            out,
            "{{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":{},\"args\":{{\"sort_index\":{}}}}}",
            pid(*w),
            pid(*w)
        )?;
    }
    for (w, th) in &lanes {
        sep(out)?;
        write!(
            out,
            "{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":{},\"tid\":{th},\"args\":{{\"name\":\"thread {th}\"}}}}",
            pid(*w)
        )?;
    }
    for i in 0..t.len() {
        let name = snap
            .names
            .get(t.prefix[i] as usize)
            .map_or("?", String::as_str);
        let key = key_text(name, t.flags[i], t.index[i]);
        sep(out)?;
        write!(
            out,
            "{{\"name\":{},\"cat\":{},\"ph\":\"X\",\"ts\":{:.3},\"dur\":{:.3},\"pid\":{},\"tid\":{},\"args\":{{\"attempt\":{}",
            js(&key),
            js(name),
            us(t.start[i]),
            us(t.dur[i]),
            pid(t.worker[i]),
            t.thread[i],
            t.attempt[i]
        )?;
        if t.nbytes[i] >= 0 {
            write!(out, ",\"nbytes\":{}", t.nbytes[i])?;
        }
        let f = t.flags[i];
        if f & SKIPPED != 0 {
            out.write_all(b",\"outcome\":\"skipped: a dependency failed\"")?;
        } else if f & RETRIED != 0 {
            out.write_all(b",\"outcome\":\"failed, retried\"")?;
        } else if f & FAILED != 0 {
            out.write_all(b",\"outcome\":\"failed\"")?;
        }
        out.write_all(b"}}")?;
    }
    let x = &snap.transfers;
    for i in 0..x.len() {
        sep(out)?;
        write!(
            out,
            "{{\"name\":\"transfer from {}\",\"cat\":\"transfer\",\"ph\":\"X\",\"ts\":{:.3},\"dur\":{:.3},\"pid\":{},\"tid\":{TRANSFERS_TID},\"args\":{{\"nbytes\":{}}}}}",
            if x.from[i] == u32::MAX { "client".to_owned() } else { format!("worker {}", x.from[i]) },
            us(x.start[i]),
            us(x.dur[i]),
            pid(x.to[i]),
            x.nbytes[i]
        )?;
    }
    let s = &snap.samples;
    for i in 0..s.len() {
        sep(out)?;
        write!(
            out,
            "{{\"name\":\"cpu\",\"ph\":\"C\",\"ts\":{:.3},\"pid\":{},\"args\":{{\"percent\":{:.1}}}}}",
            us(s.t[i]),
            pid(s.worker[i]),
            s.cpu[i]
        )?;
        if s.rss[i] >= 0 {
            sep(out)?;
            write!(
                out,
                "{{\"name\":\"memory\",\"ph\":\"C\",\"ts\":{:.3},\"pid\":{},\"args\":{{\"rss_mib\":{:.2}}}}}",
                us(s.t[i]),
                pid(s.worker[i]),
                s.rss[i] as f64 / 1048576.0
            )?;
        }
        if s.spilled[i] >= 0 {
            sep(out)?;
            write!(
                out,
                "{{\"name\":\"spilled\",\"ph\":\"C\",\"ts\":{:.3},\"pid\":{},\"args\":{{\"mib\":{:.2}}}}}",
                us(s.t[i]),
                pid(s.worker[i]),
                s.spilled[i] as f64 / 1048576.0
            )?;
        }
    }
    out.write_all(b"\n]}\n")?;
    Ok(())
}

impl Recorder {
    /// Writes everything held as a Chrome / Perfetto trace to `path`.
    pub fn write_trace(&self, path: impl AsRef<Path>) -> std::io::Result<PathBuf> {
        let path = path.as_ref().to_path_buf();
        let snap = self.snapshot(usize::MAX);
        let mut f = BufWriter::new(std::fs::File::create(&path)?);
        write_trace(&snap, &mut f)?;
        f.flush()?;
        Ok(path)
    }
}
