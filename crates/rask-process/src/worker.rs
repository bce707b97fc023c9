//! The worker side: [`init`] and the loop that serves one client.
//!
//! A worker is the user's own binary, started again by the client with the
//! socket on descriptor 3 and `RASK_WORKER` in its environment; `init()`, the
//! first line of `main`, sees that and serves instead of returning. It runs
//! one task at a time, keeps results by object id until the client releases
//! them, and answers each batch it receives with one batch of results. It
//! exits when the client closes the socket (and, through the parent-death
//! signal set at spawn, when the client dies).

use std::collections::HashMap;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask_core::{catch_panic, copy_bytes, registered, Key, Registered, TaskErrorKind, TaskFailure};

use crate::channel::Channel;
use crate::proto::{decode_batch, Arg, FromWorker, Out, Outbox, ToWorker};
use crate::shm::{Bytes, Segment, SegmentPool};

/// Set in a worker's environment; its value is the worker's index.
pub(crate) const WORKER_ENV: &str = "RASK_WORKER";
/// The descriptor on which a worker finds its socket.
pub(crate) const WORKER_FD: i32 = 3;
/// A worker sends finished results at least this often while it works
/// through a batch.
const FLUSH_EVERY: Duration = Duration::from_millis(2);
/// Results up to this size travel inside messages; bigger ones in shared memory.
pub(crate) const INLINE_MAX: usize = 16 * 1024;

/// Call first in `main`. In a worker process started by a process executor
/// this serves tasks and never returns; anywhere else it returns at once.
pub fn init() {
    if std::env::var_os(WORKER_ENV).is_none() {
        return;
    }
    // SAFETY: the process executor started us with our end of the socket on
    // WORKER_FD (see `spawn.rs`); nothing else in this process owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(WORKER_FD) };
    let code = match serve(&Channel::from_owned(fd)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rask worker {}: {e}", std::process::id());
            70
        }
    };
    std::process::exit(code);
}

/// An argument resolved to bytes for the call.
enum Input<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
    Shared(Segment),
}

impl Input<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Input::Borrowed(b) => b,
            Input::Owned(b) => b,
            Input::Shared(s) => s.as_slice(),
        }
    }
}

fn serve(ch: &Channel) -> io::Result<()> {
    let mut held: HashMap<u64, Bytes> = HashMap::new();
    let mut funcs: Vec<Option<&'static Registered>> = Vec::new();
    let mut out = Outbox::default();
    let mut segs = SegmentPool::default();
    out.push(
        ch,
        &FromWorker::Hello {
            pid: std::process::id(),
        },
        Vec::new(),
    )?;
    out.flush(ch)?;
    let (mut buf, mut fds) = (Vec::new(), Vec::new());
    let mut result = Vec::new();
    let mut last_flush = Instant::now();
    loop {
        fds.clear();
        if !ch.recv(&mut buf, &mut fds)? {
            return Ok(()); // the client is gone
        }
        let batch: Vec<ToWorker> = decode_batch(&buf)?;
        let mut fds = std::mem::take(&mut fds).into_iter();
        for msg in batch {
            match msg {
                ToWorker::Define { func, name } => {
                    let i = func as usize;
                    if funcs.len() <= i {
                        funcs.resize(i + 1, None);
                    }
                    funcs[i] = registered(&name);
                    if funcs[i].is_none() {
                        out.push(ch, &FromWorker::Unknown { func, name }, Vec::new())?;
                    }
                }
                ToWorker::Release { id } => {
                    // The client and any worker it passed the segment to
                    // are done with it (the client releases an object only
                    // after every task that read it has replied).
                    if let Some(Bytes::Shared(seg)) = held.remove(&id) {
                        segs.give_arc(seg);
                    }
                }
                ToWorker::Run { id, func, args } => {
                    let reg = funcs.get(func as usize).copied().flatten();
                    let inputs = resolve_args(args, &held, &mut fds);
                    let reply = match (reg, inputs) {
                        (None, _) => Err(FromWorker::Failed {
                            id,
                            panicked: false,
                            message: format!("function #{func} is not defined in this worker"),
                        }),
                        (_, Err(message)) => Err(FromWorker::Failed {
                            id,
                            panicked: false,
                            message,
                        }),
                        (Some(reg), Ok(inputs)) => run(reg, &inputs, id, &mut result, &mut segs),
                    };
                    match reply {
                        Ok(Some(seg)) => {
                            let seg = Arc::new(seg);
                            held.insert(id, Bytes::Shared(seg.clone()));
                            let len = seg.len() as u64;
                            out.push(
                                ch,
                                &FromWorker::Done {
                                    id,
                                    out: Out::Shared { len },
                                },
                                vec![seg],
                            )?;
                        }
                        Ok(None) => {
                            held.insert(id, Bytes::Inline(result.clone()));
                            let bytes = std::mem::take(&mut result);
                            out.push(
                                ch,
                                &FromWorker::Done {
                                    id,
                                    out: Out::Bytes(bytes),
                                },
                                Vec::new(),
                            )?;
                        }
                        Err(failed) => out.push(ch, &failed, Vec::new())?,
                    }
                    // Long tasks: do not sit on finished results.
                    if last_flush.elapsed() > FLUSH_EVERY {
                        out.flush(ch)?;
                        last_flush = Instant::now();
                    }
                }
            }
        }
        out.flush(ch)?;
        last_flush = Instant::now();
    }
}

fn resolve_args<'a>(
    args: Vec<Arg>,
    held: &'a HashMap<u64, Bytes>,
    fds: &mut impl Iterator<Item = OwnedFd>,
) -> Result<Vec<Input<'a>>, String> {
    args.into_iter()
        .enumerate()
        .map(|(i, a)| match a {
            Arg::Held(obj) => held
                .get(&obj)
                .map(|h| Input::Borrowed(h.as_slice()))
                .ok_or_else(|| {
                    format!(
                        "argument {} (object {obj}) is not held by this worker",
                        i + 1
                    )
                }),
            Arg::Bytes(b) => Ok(Input::Owned(b)),
            Arg::Shared { len } => {
                let fd = fds
                    .next()
                    .ok_or_else(|| format!("argument {} has no shared segment", i + 1))?;
                Segment::open(fd, len as usize)
                    .map(Input::Shared)
                    .map_err(|e| format!("argument {}: {e}", i + 1))
            }
        })
        .collect()
}

/// Calls the function, catching a panic, and encodes its result: into
/// `result` when small, else into a shared segment (straight from the value
/// when its codec knows the length, as for vectors of numbers).
fn run(
    reg: &Registered,
    inputs: &[Input<'_>],
    id: u64,
    result: &mut Vec<u8>,
    segs: &mut SegmentPool,
) -> Result<Option<Segment>, FromWorker> {
    let slices: Vec<&[u8]> = inputs.iter().map(Input::bytes).collect();
    let key = Key::new(reg.name);
    let codec = reg.output;
    let call = || -> Result<Option<Segment>, TaskFailure> {
        let v = (reg.call)(&slices)?;
        let unencodable =
            |e: String| TaskFailure::msg(format!("the result could not be encoded: {e}"));
        result.clear();
        match (codec.exact_len)(&v) {
            Some(len) if len > INLINE_MAX => segs
                .fill(len, |b| (codec.write)(&v, b))
                .map(Some)
                .map_err(unencodable),
            _ => {
                (codec.encode)(&v, result).map_err(unencodable)?;
                if result.len() <= INLINE_MAX {
                    return Ok(None);
                }
                segs.fill(result.len(), |b| {
                    copy_bytes(b, result);
                    Ok(())
                })
                .map(Some)
                .map_err(unencodable)
            }
        }
    };
    match catch_panic(&key, 1, call) {
        Ok(Ok(seg)) => Ok(seg),
        Ok(Err(failure)) => Err(FromWorker::Failed {
            id,
            panicked: false,
            message: failure.to_string(),
        }),
        Err(e) => Err(FromWorker::Failed {
            id,
            panicked: e.kind == TaskErrorKind::Panicked,
            message: e.message,
        }),
    }
}
