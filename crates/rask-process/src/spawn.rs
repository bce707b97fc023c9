//! Starting a worker process and learning how one ended.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::channel::Channel;
use crate::worker::{WORKER_ENV, WORKER_FD};

/// How to start a worker: by default the current executable, with no
/// arguments (its `main` must call `rask::init()` first).
#[derive(Clone, Debug)]
pub struct WorkerCommand {
    /// The program.
    pub program: PathBuf,
    /// Its arguments (a test harness needs some, to reach `init`).
    pub args: Vec<OsString>,
}

impl WorkerCommand {
    /// The current executable, no arguments.
    pub fn current_exe() -> io::Result<Self> {
        Ok(WorkerCommand {
            program: std::env::current_exe()?,
            args: Vec::new(),
        })
    }
}

/// Starts worker `index`; returns the process and the client's end of its socket.
pub(crate) fn spawn(cmd: &WorkerCommand, index: usize) -> io::Result<(Child, Channel)> {
    let (ours, theirs) = Channel::pair()?;
    let their_fd = theirs.as_fd().as_raw_fd();
    // SAFETY: getpid is always safe.
    let parent = unsafe { libc::getpid() };
    let mut command = Command::new(&cmd.program);
    command
        .args(&cmd.args)
        .env(WORKER_ENV, index.to_string())
        .stdin(Stdio::null());
    // SAFETY: the closure runs in the child between fork and exec and only
    // calls async-signal-safe functions (dup2, fcntl, prctl, getppid, _exit).
    unsafe {
        command.pre_exec(move || {
            if their_fd == WORKER_FD {
                let flags = libc::fcntl(WORKER_FD, libc::F_GETFD);
                if flags < 0 || libc::fcntl(WORKER_FD, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0
                {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(their_fd, WORKER_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            // Die with the client, whatever kills it (Ctrl-C included).
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(0); // the client died before we could ask
            }
            Ok(())
        });
    }
    let child = command.spawn()?;
    drop(theirs);
    Ok((child, ours))
}

/// Waits up to `grace` for the process to end, then kills it; never leaves
/// a zombie. Returns how it ended.
pub(crate) fn reap(child: &mut Child, grace: Duration) -> io::Result<ExitStatus> {
    let deadline = Instant::now() + grace;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            return child.wait();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// "was killed by signal 9 (SIGKILL)", "exited with status 3".
pub(crate) fn describe(status: &ExitStatus) -> String {
    if let Some(sig) = status.signal() {
        let name = match sig {
            libc::SIGKILL => " (SIGKILL; out of memory, or killed)",
            libc::SIGSEGV => " (SIGSEGV)",
            libc::SIGABRT => " (SIGABRT)",
            libc::SIGBUS => " (SIGBUS)",
            libc::SIGTERM => " (SIGTERM)",
            libc::SIGINT => " (SIGINT)",
            libc::SIGILL => " (SIGILL)",
            libc::SIGFPE => " (SIGFPE)",
            _ => "",
        };
        format!("was killed by signal {sig}{name}")
    } else {
        match status.code() {
            Some(c) => format!("exited with status {c}"),
            None => "ended".to_owned(),
        }
    }
}
