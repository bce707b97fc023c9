//! Running one attempt of a command: its own process group, stdin from
//! `/dev/null`, a time limit and cancellation enforced by the supervisor
//! (`supervise.rs`), stdout and stderr copied into the job's log files.
//!
//! Output goes through two pipes that the job's thread reads (with `poll`,
//! beside a pidfd that says when the command has exited); a log file is
//! made only when its stream has something to say. Making two files per job
//! whether or not it prints anything cost more than running many short
//! commands does (inode allocation), and most jobs print nothing.
//!
//! Rules:
//! 1. Attempt 1 removes the job's old log files first, so no log of an
//!    earlier run passes for this one's. Later attempts append, after a
//!    `--- rask: attempt N ---` line.
//! 2. Once the command itself has exited, what is in the pipes is drained
//!    and they are closed, even if a process it left in the background
//!    still holds them (that process gets `SIGPIPE` if it writes again).
//!    Without pidfds (Linux before 5.3) the pipes are read to their end.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::supervise::{self, Cancel, Stop};

/// How an attempt ended.
#[derive(Debug)]
pub(crate) enum Exit {
    /// Exit status 0.
    Success,
    /// A non-zero exit status.
    Code(i32),
    /// Killed by a signal it did not ask for.
    Signal(i32),
    /// Killed at its time limit.
    TimedOut,
    /// Killed because the run was cancelled.
    Cancelled,
    /// It could not be started.
    Spawn(std::io::Error),
}

/// Where an attempt's output goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Logs<'a> {
    pub(crate) out: &'a Path,
    pub(crate) err: &'a Path,
    pub(crate) attempt: u32,
}

/// Runs `argv` once and waits for it.
pub(crate) fn run_once(
    argv: &[String],
    env: &[(String, String)],
    cwd: &Path,
    logs: Logs<'_>,
    timeout: Option<Duration>,
    cancel: &Cancel,
) -> Exit {
    let Some((prog, args)) = argv.split_first() else {
        return Exit::Spawn(std::io::Error::other("an empty command"));
    };
    if logs.attempt == 1 {
        let _ = std::fs::remove_file(logs.out);
        let _ = std::fs::remove_file(logs.err);
    }
    let (out_r, out_w) = match pipe() {
        Ok(p) => p,
        Err(e) => return Exit::Spawn(e),
    };
    let (err_r, err_w) = match pipe() {
        Ok(p) => p,
        Err(e) => return Exit::Spawn(e),
    };
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::from(err_w));
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let spawned = cmd.spawn();
    // Our copies of the pipes' write ends go with `cmd`.
    drop(cmd);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return Exit::Spawn(e),
    };
    let reg = supervise::register(child.id(), timeout, cancel.clone());
    let mut sinks = [
        Sink::new(logs.out, logs.attempt),
        Sink::new(logs.err, logs.attempt),
    ];
    copy_output(child.id(), [out_r, err_r], &mut sinks);
    wait_unreaped(child.id());
    let stopped = reg.finish();
    let status = match child.wait() {
        Ok(s) => s,
        Err(e) => return Exit::Spawn(e),
    };
    match stopped {
        Some(Stop::TimedOut) => return Exit::TimedOut,
        Some(Stop::Cancelled) => return Exit::Cancelled,
        None => {}
    }
    if status.success() {
        return Exit::Success;
    }
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => Exit::Code(c),
        (None, Some(s)) => Exit::Signal(s),
        (None, None) => Exit::Code(-1),
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and ours alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A log file made on the first write (rule 1).
struct Sink<'a> {
    path: &'a Path,
    attempt: u32,
    file: Option<File>,
    broken: bool,
}

impl<'a> Sink<'a> {
    fn new(path: &'a Path, attempt: u32) -> Self {
        Sink {
            path,
            attempt,
            file: None,
            broken: false,
        }
    }

    fn write(&mut self, data: &[u8]) {
        if self.broken {
            return;
        }
        if self.file.is_none() {
            match self.open() {
                Ok(f) => self.file = Some(f),
                Err(e) => {
                    tracing::warn!("{}: {e}: this output is lost", self.path.display());
                    self.broken = true;
                    return;
                }
            }
        }
        if let Some(f) = &mut self.file {
            if let Err(e) = f.write_all(data) {
                tracing::warn!(
                    "{}: {e}: the rest of this output is lost",
                    self.path.display()
                );
                self.broken = true;
            }
        }
    }

    fn open(&self) -> std::io::Result<File> {
        let mut o = OpenOptions::new();
        o.append(true).create(true);
        let mut f = match o.open(self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(d) = self.path.parent() {
                    std::fs::create_dir_all(d)?;
                }
                o.open(self.path)?
            }
            r => r?,
        };
        if self.attempt > 1 {
            writeln!(f, "--- rask: attempt {} ---", self.attempt)?;
        }
        Ok(f)
    }
}

/// Copies both pipes into their sinks until the command has exited (rule 2).
fn copy_output(pid: u32, pipes: [OwnedFd; 2], sinks: &mut [Sink<'_>; 2]) {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // or -1; `pid` is our child, not reaped yet, so it names that child.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    let pidfd = (raw >= 0).then(|| {
        // SAFETY: the syscall returned a new descriptor that nothing else owns.
        unsafe { OwnedFd::from_raw_fd(raw as RawFd) }
    });
    let mut buf = [0u8; 16 * 1024];
    let mut open = [true, true];
    let mut exited = false;
    while open[0] || open[1] {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(3);
        for (k, p) in pipes.iter().enumerate() {
            fds.push(libc::pollfd {
                fd: if open[k] { p.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            });
        }
        if let (Some(p), false) = (&pidfd, exited) {
            fds.push(libc::pollfd {
                fd: p.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return;
        }
        for k in 0..2 {
            if open[k]
                && fds[k].revents != 0
                && !read_some(pipes[k].as_raw_fd(), &mut buf, &mut sinks[k])
            {
                open[k] = false;
            }
        }
        if fds.len() == 3 && fds[2].revents != 0 {
            // The command has exited: take what is left, then stop.
            exited = true;
            for k in 0..2 {
                if open[k] {
                    set_nonblocking(pipes[k].as_raw_fd());
                    while read_some(pipes[k].as_raw_fd(), &mut buf, &mut sinks[k]) {}
                    open[k] = false;
                }
            }
        }
    }
}

/// Reads once into the sink; false at the end of the stream (or nothing
/// more to read without blocking, or an error).
fn read_some(fd: RawFd, buf: &mut [u8], sink: &mut Sink<'_>) -> bool {
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            sink.write(&buf[..n as usize]);
            return true;
        }
        if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return false;
    }
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on a descriptor we own, with valid flags.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

/// Waits until `pid` has exited, leaving it a zombie (supervisor rule 1).
fn wait_unreaped(pid: u32) {
    loop {
        // SAFETY: siginfo_t is plain data; waitid writes it and we do not
        // read it. `pid` is our own child, not yet reaped.
        let rc = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 {
            return;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            // Not our child any more (cannot happen) or no such process:
            // `wait` below reports whatever is true.
            return;
        }
    }
}

/// A short text for a signal number.
pub(crate) fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {sig}"),
    };
    format!("signal {sig} ({name})")
}
