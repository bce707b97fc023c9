//! Supervising a worker started by hand: `rask worker --restart`, or
//! `RASK_WORKER_RESTART=1` for a program's own workers (what a Slurm job
//! runs). The rule is the local deployments' nanny's ([`CrashLoop`]).
//!
//! 1. The worker runs as a child process, which dies with its supervisor
//!    (`PR_SET_PDEATHSIG`).
//! 2. SIGTERM, SIGINT and SIGHUP sent to the supervisor (`scancel`,
//!    `systemctl stop`, Ctrl-C) go to the child; the supervisor waits for
//!    it and ends: a stop is not a crash.
//! 3. A child that exits with status 0 (its scheduler closed the link: it
//!    was retired, or the cluster shut down) is not started again.
//! 4. Any other end (a non-zero status, a signal: a crash, the kernel's
//!    out-of-memory killer) starts it again after [`PAUSE`], unless it died
//!    within a second of its start [`MAX_QUICK_DEATHS`] times in a row (a
//!    crash at start-up would loop for ever): then the supervisor gives up
//!    with the child's status, so the manager above (Slurm, systemd) sees
//!    a failure.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use crate::deploy::{describe, MAX_QUICK_DEATHS};

/// A worker living less than this after its start died quickly.
pub const QUICK: Duration = Duration::from_secs(1);

/// The pause before a crashed worker is started again.
pub const PAUSE: Duration = Duration::from_millis(200);

/// Counts a worker's quick deaths in a row (rule 4); the local
/// deployments' nanny and the supervisor share it.
#[derive(Clone, Copy, Debug, Default)]
pub struct CrashLoop {
    quick: u32,
}

impl CrashLoop {
    /// A worker died after living `lived`: whether to start it again.
    pub fn may_restart(&mut self, lived: Duration) -> bool {
        if lived < QUICK {
            self.quick += 1;
        } else {
            self.quick = 0;
        }
        self.quick < MAX_QUICK_DEATHS
    }

    /// Quick deaths in a row so far.
    pub fn quick_deaths(&self) -> u32 {
        self.quick
    }
}

/// The stop signal received (0: none); set by the handler.
static STOP: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_stop(sig: libc::c_int) {
    // Async-signal-safe: one atomic store.
    STOP.store(sig, Ordering::SeqCst);
}

fn catch_stops() -> io::Result<()> {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: an all-zero sigaction is valid; the handler only stores
        // to an atomic (async-signal-safe) and lives for the program.
        let r = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_stop as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Blocks until SIGTERM, SIGINT or SIGHUP arrives; returns it (for
/// deployments that run until stopped: `rask slurm`).
pub fn wait_for_stop() -> io::Result<i32> {
    catch_stops()?;
    loop {
        let sig = STOP.load(Ordering::SeqCst);
        if sig != 0 {
            return Ok(sig);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start(command: &mut Command) -> io::Result<Child> {
    // SAFETY: getpid is always safe.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs between fork and exec and only calls
    // async-signal-safe functions (prctl, getppid, _exit).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(0); // the supervisor died before we could ask
            }
            Ok(())
        });
    }
    command.spawn()
}

/// Runs the worker that `command` starts, under the rules of the module
/// docs, until it ends for good; returns the exit status to end with.
/// `name` is for the logs.
pub fn supervise(command: impl FnMut() -> Command, name: &str) -> io::Result<i32> {
    catch_stops()?;
    run(command, name)
}

/// [`supervise`] without taking over the stop signals.
fn run(mut command: impl FnMut() -> Command, name: &str) -> io::Result<i32> {
    let mut crashes = CrashLoop::default();
    loop {
        let mut child = start(&mut command())?;
        let started = Instant::now();
        tracing::info!(worker = %name, pid = child.id(), "worker started");
        let status = loop {
            let sig = STOP.load(Ordering::SeqCst);
            if sig != 0 {
                // Rule 2: pass it on, wait, end.
                // SAFETY: kill on our own child's pid (not yet reaped).
                unsafe { libc::kill(child.id() as libc::pid_t, sig) };
                let status = child.wait()?;
                tracing::info!(worker = %name, how = %describe(&status), "worker stopped");
                return Ok(128 + sig);
            }
            match child.try_wait()? {
                Some(s) => break s,
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        if status.success() {
            tracing::info!(worker = %name, "worker ended (its scheduler closed the link)");
            return Ok(0);
        }
        let how = describe(&status);
        if !crashes.may_restart(started.elapsed()) {
            tracing::error!(
                worker = %name, %how,
                "worker died {} times within a second of starting; not restarting it",
                crashes.quick_deaths()
            );
            return Ok(status.code().unwrap_or(1).max(1));
        }
        tracing::warn!(worker = %name, %how, "worker died; starting a new one");
        std::thread::sleep(PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_deaths_in_a_row_stop_the_restarts_and_a_long_life_resets_them() {
        let mut c = CrashLoop::default();
        let quick = Duration::from_millis(10);
        for _ in 1..MAX_QUICK_DEATHS {
            assert!(c.may_restart(quick));
        }
        assert!(c.may_restart(Duration::from_secs(5)), "a long life resets");
        assert_eq!(c.quick_deaths(), 0);
        for _ in 1..MAX_QUICK_DEATHS {
            assert!(c.may_restart(quick));
        }
        assert!(!c.may_restart(quick));
    }

    #[test]
    fn a_crashing_worker_is_restarted_until_the_limit_and_a_clean_exit_ends_it() {
        let dir = std::env::temp_dir().join(format!("rask-supervise-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let count = dir.join("starts");
        // Crashes at once, every time: started MAX_QUICK_DEATHS times.
        let script = format!("echo x >> {}; exit 3", count.display());
        let code = run(
            || {
                let mut c = Command::new("/bin/sh");
                c.args(["-c", &script]);
                c
            },
            "crashing",
        )
        .expect("supervise");
        assert_eq!(code, 3);
        let starts = std::fs::read_to_string(&count)
            .expect("the count")
            .lines()
            .count();
        assert_eq!(starts, MAX_QUICK_DEATHS as usize);
        // Fails twice, then exits 0: three starts, status 0.
        let _ = std::fs::remove_file(&count);
        let script = format!(
            "echo x >> {c}; test $(wc -l < {c}) -ge 3 && exit 0; kill -9 $$",
            c = count.display()
        );
        let code = run(
            || {
                let mut c = Command::new("/bin/sh");
                c.args(["-c", &script]);
                c
            },
            "flaky",
        )
        .expect("supervise");
        assert_eq!(code, 0);
        let starts = std::fs::read_to_string(&count)
            .expect("the count")
            .lines()
            .count();
        assert_eq!(starts, 3);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
