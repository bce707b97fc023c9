//! The compute threads (rules 2 to 4 of the module docs).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rask_core::{
    catch_panic, clock, with_task_context, Key, TaskContext, TaskErrorKind, TaskFailure,
};

use super::{lock, Job, Shared};
use crate::bytes::Bytes;
use crate::proto::{Failure, FromWorker, Gid};

/// A compute thread wakes the writer at least this often while it works.
const FLUSH_EVERY: Duration = Duration::from_millis(2);

pub(super) fn compute_loop(shared: &Arc<Shared>, thread: u32) {
    // Task times use the cheap clock (`rask_core::clock`): three reads a
    // task with `Instant::now()` were a quarter of a small task's cost.
    let mut last_flush = clock::stamp();
    loop {
        let job = {
            let mut q = lock(&shared.queue);
            loop {
                if shared.stopping.load(Ordering::SeqCst) {
                    return;
                }
                if shared.memory.paused() && !q.is_empty() {
                    // Over the pause threshold: no new task starts (the
                    // monitor wakes us on resuming; the timeout is a
                    // second line of defence).
                    shared.wake_writer.notify_one();
                    q = shared
                        .more
                        .wait_timeout(q, Duration::from_millis(50))
                        .map_or_else(|p| p.into_inner().0, |r| r.0);
                    continue;
                }
                if let Some(j) = q.pop_front() {
                    break j;
                }
                // Nothing left to do: what is batched goes out now.
                shared.wake_writer.notify_one();
                last_flush = clock::stamp();
                q = shared.more.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        };
        let mut job = job;
        shared.memory.fetch_done(job.fetched);
        if let Err(missing) = take_here(shared, &mut job) {
            shared.say(FromWorker::Missing {
                gid: job.gid,
                missing,
            });
            continue;
        }
        if let Some(b) = &shared.board {
            b.set(thread as usize, job.gid);
        }
        if job.report_start {
            shared.say(FromWorker::Started {
                gid: job.gid,
                thread,
            });
        }
        let msg = run(shared, &job, thread);
        if let Some(msg) = msg {
            shared.say(msg);
        }
        let now = clock::stamp();
        if now.saturating_duration_since(last_flush) >= FLUSH_EVERY {
            shared.wake_writer.notify_one();
            last_flush = now;
        }
    }
}

/// Fills a job's arguments held here from the store (read back from disk
/// if spilled); `Err` names one that is gone (or unreadable).
pub(super) fn take_here(shared: &Shared, job: &mut Job) -> Result<(), Gid> {
    for &(i, g) in &job.here {
        match shared.store.get(g, true) {
            Ok(Some(b)) => job.args[i] = b,
            Ok(None) => return Err(g),
            Err(e) => {
                tracing::error!(error = %e, "a spilled input could not be read back");
                return Err(g);
            }
        }
    }
    job.here.clear();
    Ok(())
}

/// Runs one job; `None` if its timer already reported it (rule 4).
#[allow(clippy::result_large_err)] // as `call_body`: the error is the rare path
pub(super) fn run(shared: &Arc<Shared>, job: &Job, thread: u32) -> Option<FromWorker> {
    let reported = (job.timeout_ms > 0).then(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let (f, gid, ms) = (flag.clone(), job.gid, job.timeout_ms);
        let timer_shared = shared.clone();
        shared.rt.spawn(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            if !f.swap(true, Ordering::AcqRel) {
                timer_shared.say_now(FromWorker::Erred {
                    gid,
                    failure: Failure::TimedOut(ms),
                });
            }
        });
        flag
    });
    let t0 = clock::stamp();
    let slices: Vec<&[u8]> = job.args.iter().map(Bytes::as_slice).collect();
    let key = Key::new(job.func.name);
    let ctx = TaskContext {
        worker: shared.name.clone(),
        thread,
        attempt: job.attempt,
    };
    // A session of its own: what it obtains from the scheduler's locks and
    // queues is released when the body returns (`coord.rs`).
    let link: Arc<dyn crate::coord::Link> = shared.coord.clone();
    let result = crate::coord::in_session(link, shared.coord.session(), || {
        with_task_context(ctx, || {
            catch_panic(&key, job.attempt, || {
                let v = (job.func.call)(&slices)?;
                encode_all(shared, job.func.output, &v, job.split.as_deref())
            })
        })
    });
    let micros = clock::stamp().saturating_duration_since(t0).as_micros() as u64;
    drop(slices);
    if let Some(flag) = reported {
        if flag.swap(true, Ordering::AcqRel) {
            return None;
        }
    }
    Some(report(shared, job.gid, thread, micros, result))
}

/// Where one encoded value goes: inline (`Ok`) or kept here (`Err`).
type Placed = Result<Vec<u8>, Bytes>;

/// A result ready to report: the whole value (`None`: not kept, only its
/// parts), and its parts (a multi-output task).
pub(super) struct Encoded {
    whole: Option<Placed>,
    parts: Option<Vec<(Gid, Placed)>>,
}

/// Encodes a result, and splits it when asked.
pub(super) fn encode_all(
    shared: &Shared,
    codec: &rask_core::Codec,
    v: &rask_core::Value,
    split: Option<&crate::proto::SplitInto>,
) -> Result<Encoded, TaskFailure> {
    let Some(split) = split else {
        return Ok(Encoded {
            whole: Some(encode(shared, codec, v)?),
            parts: None,
        });
    };
    let splitter = codec.split.ok_or_else(|| {
        TaskFailure::msg(format!(
            "its result, a `{}`, cannot be split into parts (a function registered with \
             #[rask::task] returning a `Vec` can)",
            (codec.type_name)()
        ))
    })?;
    let items = splitter(v).map_err(TaskFailure::msg)?;
    let mut parts = Vec::with_capacity(split.parts.len());
    for &(item, gid) in &split.parts {
        let bytes = items.get(item as usize).ok_or_else(|| {
            TaskFailure::msg(format!(
                "part {item} of a vector of {} items (split asked for more parts than it has)",
                items.len()
            ))
        })?;
        parts.push((gid, place(shared, bytes)?));
    }
    let whole = if split.keep_whole {
        Some(encode(shared, codec, v)?)
    } else {
        None
    };
    Ok(Encoded {
        whole,
        parts: Some(parts),
    })
}

/// Encoded bytes placed: inline when small, else kept (in shared memory
/// on a local link when big).
fn place(shared: &Shared, bytes: &[u8]) -> Result<Placed, TaskFailure> {
    let inline_max = shared.inline_max.load(Ordering::Relaxed) as usize;
    if bytes.len() <= inline_max {
        return Ok(Ok(bytes.to_vec()));
    }
    Bytes::write(bytes.len(), shared.shared_mem, |b| {
        rask_core::copy_bytes(b, bytes);
        Ok(())
    })
    .map(Err)
    .map_err(|e| TaskFailure::msg(format!("a part could not be kept: {e}")))
}

/// A result encoded where it will go ([`Bytes::encode`]), with this
/// worker's inline limit and transport.
pub(super) fn encode(
    shared: &Shared,
    codec: &rask_core::Codec,
    v: &rask_core::Value,
) -> Result<Result<Vec<u8>, Bytes>, TaskFailure> {
    let inline_max = shared.inline_max.load(Ordering::Relaxed) as usize;
    Bytes::encode(codec, v, inline_max, shared.shared_mem)
        .map_err(|e| TaskFailure::msg(format!("the result could not be encoded: {e}")))
}

/// What the scheduler is told about a task that ran: `Finished` (keeping
/// big results here) or `Erred`.
pub(super) fn report(
    shared: &Shared,
    gid: Gid,
    thread: u32,
    micros: u64,
    result: Result<Result<Encoded, TaskFailure>, rask_core::TaskError>,
) -> FromWorker {
    match result {
        Ok(Ok(enc)) => {
            let keep = |g: Gid, placed: Placed| match placed {
                Ok(inline) => (inline.len() as u64, Some(inline)),
                Err(kept) => {
                    let n = kept.len() as u64;
                    shared.store.insert(g, kept);
                    (n, None)
                }
            };
            let (nbytes, inline) = match enc.whole {
                Some(p) => keep(gid, p),
                None => (0, None),
            };
            let parts = enc.parts.map(|ps| {
                ps.into_iter()
                    .map(|(g, p)| {
                        let (nbytes, inline) = keep(g, p);
                        crate::proto::PartOut {
                            gid: g,
                            nbytes,
                            inline,
                        }
                    })
                    .collect()
            });
            FromWorker::Finished {
                gid,
                nbytes,
                micros,
                thread,
                inline,
                parts,
            }
        }
        Ok(Err(failure)) => FromWorker::Erred {
            gid,
            failure: Failure::Failed(failure.to_string()),
        },
        Err(e) => FromWorker::Erred {
            gid,
            failure: if e.kind == TaskErrorKind::Panicked {
                Failure::Panicked(e.message)
            } else {
                Failure::Failed(e.message)
            },
        },
    }
}

/// Runs the job of an `async` registered function on the worker's async
/// runtime (its arguments decoded first); it reports like a compute task,
/// with the thread number one past the compute threads.
pub(super) fn spawn_async(shared: &Arc<Shared>, mut job: Job, thread: u32) {
    let Some(make) = job.func.call_async else {
        return;
    };
    shared.memory.fetch_done(job.fetched);
    if let Err(missing) = take_here(shared, &mut job) {
        shared.say_now(FromWorker::Missing {
            gid: job.gid,
            missing,
        });
        return;
    }
    let shared = shared.clone();
    let rt = shared.rt.clone();
    rt.spawn(async move {
        if job.report_start {
            shared.say_now(FromWorker::Started {
                gid: job.gid,
                thread,
            });
        }
        let t0 = clock::stamp();
        let key = Key::new(job.func.name);
        let slices: Vec<&[u8]> = job.args.iter().map(Bytes::as_slice).collect();
        let fut = catch_panic(&key, job.attempt, || make(&slices));
        drop(slices);
        let result = match fut {
            Err(e) => Err(e),
            Ok(Err(failure)) => Ok(Err(failure)),
            Ok(Ok(fut)) => {
                // Polled as a task body: a panic is the task's error; in a
                // coordination session of its own (`coord.rs`).
                let fut = rask_core::CatchUnwind::new(fut, key.clone(), job.attempt);
                let link: Arc<dyn crate::coord::Link> = shared.coord.clone();
                let fut = crate::coord::in_session_async(link, shared.coord.session(), fut);
                let joined = if job.timeout_ms > 0 {
                    match tokio::time::timeout(Duration::from_millis(job.timeout_ms), fut).await {
                        Ok(j) => j,
                        Err(_) => {
                            shared.say_now(FromWorker::Erred {
                                gid: job.gid,
                                failure: Failure::TimedOut(job.timeout_ms),
                            });
                            return;
                        }
                    }
                } else {
                    fut.await
                };
                match joined {
                    Ok(Ok(v)) => Ok(encode_all(
                        &shared,
                        job.func.output,
                        &v,
                        job.split.as_deref(),
                    )),
                    Ok(Err(failure)) => Ok(Err(failure)),
                    Err(e) => Err(e),
                }
            }
        };
        let micros = clock::stamp().saturating_duration_since(t0).as_micros() as u64;
        let msg = report(&shared, job.gid, thread, micros, result);
        shared.say_now(msg);
    });
}
