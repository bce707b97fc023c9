//! The compute threads (rules 2 to 4 of the module docs).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask_core::{catch_panic, with_task_context, Key, TaskContext, TaskErrorKind, TaskFailure};

use super::{lock, Job, Shared};
use crate::bytes::Bytes;
use crate::proto::{Failure, FromWorker};

/// A compute thread wakes the writer at least this often while it works.
const FLUSH_EVERY: Duration = Duration::from_millis(2);

pub(super) fn compute_loop(shared: &Arc<Shared>, thread: u32) {
    let mut last_flush = Instant::now();
    loop {
        let job = {
            let mut q = lock(&shared.queue);
            loop {
                if shared.stopping.load(Ordering::SeqCst) {
                    return;
                }
                if let Some(j) = q.pop_front() {
                    break j;
                }
                // Nothing left to do: what is batched goes out now.
                shared.wake_writer.notify_one();
                last_flush = Instant::now();
                q = shared.more.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        };
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
        if last_flush.elapsed() >= FLUSH_EVERY {
            shared.wake_writer.notify_one();
            last_flush = Instant::now();
        }
    }
}

/// Runs one job; `None` if its timer already reported it (rule 4).
fn run(shared: &Arc<Shared>, job: &Job, thread: u32) -> Option<FromWorker> {
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
    let t0 = Instant::now();
    let slices: Vec<&[u8]> = job.args.iter().map(Bytes::as_slice).collect();
    let key = Key::new(job.func.name);
    let codec = job.func.output;
    let inline_max = shared.inline_max.load(Ordering::Relaxed) as usize;
    let ctx = TaskContext {
        worker: shared.name.clone(),
        thread,
        attempt: job.attempt,
    };
    let result = with_task_context(ctx, || {
        catch_panic(
            &key,
            job.attempt,
            || -> Result<Result<Vec<u8>, Bytes>, TaskFailure> {
                let v = (job.func.call)(&slices)?;
                let unencodable =
                    |e: String| TaskFailure::msg(format!("the result could not be encoded: {e}"));
                // Known length (vectors of numbers): written straight to where it
                // will live.
                if let Some(len) = (codec.exact_len)(&v) {
                    if len > inline_max {
                        return Bytes::write(len, shared.shared_mem, |b| (codec.write)(&v, b))
                            .map(Err)
                            .map_err(unencodable);
                    }
                }
                let mut out = Vec::new();
                (codec.encode)(&v, &mut out).map_err(unencodable)?;
                if out.len() <= inline_max {
                    return Ok(Ok(out));
                }
                if shared.shared_mem && out.len() > crate::bytes::SHM_MIN {
                    return Bytes::write(out.len(), true, |b| {
                        rask_core::copy_bytes(b, &out);
                        Ok(())
                    })
                    .map(Err)
                    .map_err(unencodable);
                }
                Ok(Err(Bytes::from_vec(out)))
            },
        )
    });
    let micros = t0.elapsed().as_micros() as u64;
    drop(slices);
    if let Some(flag) = reported {
        if flag.swap(true, Ordering::AcqRel) {
            return None;
        }
    }
    Some(match result {
        Ok(Ok(Ok(inline))) => FromWorker::Finished {
            gid: job.gid,
            nbytes: inline.len() as u64,
            micros,
            thread,
            inline: Some(inline),
        },
        Ok(Ok(Err(kept))) => {
            let nbytes = kept.len() as u64;
            lock(&shared.store).insert(job.gid, kept);
            FromWorker::Finished {
                gid: job.gid,
                nbytes,
                micros,
                thread,
                inline: None,
            }
        }
        Ok(Err(failure)) => FromWorker::Erred {
            gid: job.gid,
            failure: Failure::Failed(failure.to_string()),
        },
        Err(e) => FromWorker::Erred {
            gid: job.gid,
            failure: if e.kind == TaskErrorKind::Panicked {
                Failure::Panicked(e.message)
            } else {
                Failure::Failed(e.message)
            },
        },
    })
}
