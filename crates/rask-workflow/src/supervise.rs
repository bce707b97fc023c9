//! The supervisor: one thread per process that kills running commands when
//! their time is up or their run is cancelled.
//!
//! Every command runs as the leader of its own process group, so a kill
//! reaches everything it started (`kill(-pgid)`): first `SIGTERM`, then
//! `SIGKILL` after [`GRACE`] if the group is still there.
//!
//! Rules:
//! 1. A command is registered right after it is spawned and unregistered
//!    after it has exited but *before* it is reaped (`waitid` with
//!    `WNOWAIT`): while registered, its pid is a live process or a zombie,
//!    so the pgid cannot have been reused, and a kill can never reach an
//!    unrelated group.
//! 2. Kills happen only under the supervisor's lock, and unregistering
//!    takes it: a kill and an unregistration never interleave.
//! 3. A run is cancelled through its flag (runs driven by this process:
//!    Ctrl-C sets it and calls [`wake`]) or through a file that exists
//!    (runs driven from elsewhere, polled every [`POLL`] while such commands
//!    run).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a group has between `SIGTERM` and `SIGKILL`.
pub(crate) const GRACE: Duration = Duration::from_secs(2);
/// How often cancellation files are looked at.
pub(crate) const POLL: Duration = Duration::from_millis(200);

/// Why the supervisor stopped a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    TimedOut,
    Cancelled,
}

/// How a run is cancelled.
#[derive(Debug, Clone)]
pub(crate) enum Cancel {
    /// A flag set in this process.
    Flag(Arc<AtomicBool>),
    /// A file whose existence cancels (runs driven by another process).
    File(PathBuf),
}

impl Cancel {
    pub(crate) fn is_set(&self) -> bool {
        match self {
            Cancel::Flag(f) => f.load(Ordering::SeqCst),
            Cancel::File(p) => p.exists(),
        }
    }
}

struct Entry {
    pgid: i32,
    deadline: Option<Instant>,
    cancel: Cancel,
    stopped: Option<Stop>,
    /// When `SIGKILL` follows the `SIGTERM` already sent.
    kill_at: Option<Instant>,
}

struct Sup {
    entries: HashMap<u64, Entry>,
    next: u64,
    started: bool,
}

fn sup() -> &'static (Mutex<Sup>, Condvar) {
    static S: OnceLock<(Mutex<Sup>, Condvar)> = OnceLock::new();
    S.get_or_init(|| {
        (
            Mutex::new(Sup {
                entries: HashMap::new(),
                next: 1,
                started: false,
            }),
            Condvar::new(),
        )
    })
}

fn lock() -> std::sync::MutexGuard<'static, Sup> {
    sup().0.lock().unwrap_or_else(|p| p.into_inner())
}

/// A registered command; [`Registration::finish`] unregisters it.
#[derive(Debug)]
pub(crate) struct Registration {
    id: u64,
}

/// Registers the group led by `pid` (rule 1).
pub(crate) fn register(pid: u32, timeout: Option<Duration>, cancel: Cancel) -> Registration {
    let (_, cv) = sup();
    let mut s = lock();
    // The thread is needed only for deadlines and polled files; a flag
    // wakes it through `wake`.
    let needs_thread = timeout.is_some() || matches!(cancel, Cancel::File(_));
    if needs_thread {
        ensure_started(&mut s);
    }
    let id = s.next;
    s.next += 1;
    s.entries.insert(
        id,
        Entry {
            pgid: pid as i32,
            deadline: timeout.map(|t| Instant::now() + t),
            cancel,
            stopped: None,
            kill_at: None,
        },
    );
    drop(s);
    if needs_thread {
        cv.notify_all();
    }
    Registration { id }
}

fn ensure_started(s: &mut Sup) {
    if s.started {
        return;
    }
    s.started = std::thread::Builder::new()
        .name("rask-workflow-supervisor".into())
        .spawn(run)
        .is_ok();
    if !s.started {
        tracing::warn!("could not start the supervisor thread: timeouts and cancellation will not kill commands");
    }
}

impl Registration {
    /// Unregisters (the command has exited and is not reaped yet) and says
    /// whether the supervisor stopped it.
    pub(crate) fn finish(self) -> Option<Stop> {
        lock().entries.remove(&self.id).and_then(|e| e.stopped)
    }
}

/// Wakes the supervisor (a cancellation flag was set).
pub(crate) fn wake() {
    ensure_started(&mut lock());
    sup().1.notify_all();
}

/// Sends `SIGKILL` to every registered group now (a second Ctrl-C).
pub(crate) fn kill_all() {
    let s = lock();
    for e in s.entries.values() {
        signal_group(e.pgid, libc::SIGKILL);
    }
}

fn signal_group(pgid: i32, sig: i32) {
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill has no memory-safety preconditions; rule 1 makes sure
    // the group is ours (its leader is alive or a zombie we have not reaped).
    unsafe {
        libc::kill(-pgid, sig);
    }
}

fn run() {
    let (_, cv) = sup();
    let mut s = lock();
    loop {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut soonest = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        for e in s.entries.values_mut() {
            match e.stopped {
                None => {
                    let why = if e.deadline.is_some_and(|d| d <= now) {
                        Some(Stop::TimedOut)
                    } else if e.cancel.is_set() {
                        Some(Stop::Cancelled)
                    } else {
                        None
                    };
                    if let Some(why) = why {
                        e.stopped = Some(why);
                        signal_group(e.pgid, libc::SIGTERM);
                        e.kill_at = Some(now + GRACE);
                        soonest(now + GRACE);
                    } else {
                        if let Some(d) = e.deadline {
                            soonest(d);
                        }
                        if matches!(e.cancel, Cancel::File(_)) {
                            soonest(now + POLL);
                        }
                    }
                }
                Some(_) => match e.kill_at {
                    Some(k) if k <= now => {
                        signal_group(e.pgid, libc::SIGKILL);
                        e.kill_at = None;
                    }
                    Some(k) => soonest(k),
                    None => {}
                },
            }
        }
        s = match next {
            Some(t) => {
                let wait = t
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1));
                cv.wait_timeout(s, wait)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
            None => cv.wait(s).unwrap_or_else(|p| p.into_inner()),
        };
    }
}
