//! Ctrl-C (and `SIGTERM`) for a process that drives runs.
//!
//! The first signal cancels every run this process drives: running
//! commands get `SIGTERM` on their process groups (then `SIGKILL` after the
//! supervisor's grace period), jobs not started do not start, jobs on other
//! machines see the run's cancellation file. The run then ends normally:
//! finished jobs are in the journal, no output of an unfinished job has its
//! final name, and the summary says it was interrupted. A second signal
//! kills every group at once and exits with status 130. The first signal
//! is remembered: a run that starts after it starts cancelled (so a signal
//! that arrives while a run is being set up is not lost).
//!
//! The handler only writes a byte to a pipe (async-signal-safe); a thread
//! reading the pipe does the rest.

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::OnceLock;

static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
/// Signals seen since the last [`clear`].
static SEEN: AtomicU32 = AtomicU32::new(0);

/// Forgets earlier signals: runs started from now on are not cancelled, and
/// the next signal is a first one again (for programs that go on after an
/// interrupted run).
pub fn clear() {
    SEEN.store(0, Ordering::SeqCst);
    crate::local::clear_interrupted();
}

extern "C" fn on_signal(_sig: libc::c_int) {
    let fd = PIPE_WRITE.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = 1u8;
        // SAFETY: write is async-signal-safe; `b` lives across the call; the
        // descriptor is non-blocking, so a full pipe drops the byte instead
        // of blocking in a signal handler.
        unsafe {
            libc::write(fd, (&b as *const u8).cast(), 1);
        }
    }
}

/// Installs the handlers for `SIGINT` and `SIGTERM` (once per process).
pub fn install() -> std::io::Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| setup().map_err(|e| e.to_string()))
        .clone()
        .map_err(std::io::Error::other)
}

fn setup() -> std::io::Result<()> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let (read_fd, write_fd) = (fds[0], fds[1]);
    // The reading end blocks; only the handler's end must not.
    // SAFETY: `read_fd` is the descriptor just opened.
    unsafe {
        let flags = libc::fcntl(read_fd, libc::F_GETFL);
        libc::fcntl(read_fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
    }
    PIPE_WRITE.store(write_fd, Ordering::SeqCst);
    std::thread::Builder::new()
        .name("rask-workflow-signals".into())
        .spawn(move || watch(read_fd))?;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is a valid value to fill in; the
        // handler is an `extern "C" fn(c_int)` that only does
        // async-signal-safe work.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

fn watch(fd: i32) {
    loop {
        let mut b = 0u8;
        // SAFETY: `b` is a valid one-byte buffer for the duration of the call.
        let n = unsafe { libc::read(fd, (&mut b as *mut u8).cast(), 1) };
        if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if n <= 0 {
            return;
        }
        let seen = SEEN.fetch_add(1, Ordering::SeqCst) + 1;
        if seen == 1 {
            tracing::warn!(
                "interrupted: stopping the running jobs (press Ctrl-C again to kill them at once)"
            );
            crate::local::cancel_all();
        } else {
            crate::supervise::kill_all();
            std::process::exit(130);
        }
    }
}
