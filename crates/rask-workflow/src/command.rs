//! Running one attempt of a command: its own process group, stdin from
//! `/dev/null`, stdout and stderr to the job's log files, a time limit and
//! cancellation enforced by the supervisor (`supervise.rs`).

use std::fs::File;
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

/// Runs `argv` once and waits for it.
pub(crate) fn run_once(
    argv: &[String],
    env: &[(String, String)],
    cwd: &Path,
    stdout: File,
    stderr: File,
    timeout: Option<Duration>,
    cancel: &Cancel,
) -> Exit {
    let Some((prog, args)) = argv.split_first() else {
        return Exit::Spawn(std::io::Error::other("an empty command"));
    };
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Exit::Spawn(e),
    };
    drop(cmd);
    let reg = supervise::register(child.id(), timeout, cancel.clone());
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
