//! What a run did: [`Summary`], printed at the end of `rask run` and kept
//! as `result.json` by submitted jobs.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A job that failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedJob {
    /// Its name.
    pub job: String,
    /// What happened: `exit code 2`, `timed out after 30.0 s ...`, ...
    pub why: String,
    /// The exit code of its last attempt, if it exited.
    pub exit_code: Option<i32>,
    /// How many times it ran.
    pub attempts: u32,
    /// The last lines of its stderr.
    pub stderr_tail: String,
    /// Its stderr log file.
    pub log: PathBuf,
}

/// A job that did not run because a job it depends on (directly or not) failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedJob {
    /// Its name.
    pub job: String,
    /// The failed job at the root of the chain.
    pub because: String,
}

/// The outcome of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Jobs in the workflow.
    pub jobs: usize,
    /// Jobs whose command ran and succeeded, in the workflow's order.
    pub ran: Vec<String>,
    /// Jobs that were up to date.
    pub up_to_date: usize,
    /// Jobs that failed.
    pub failed: Vec<FailedJob>,
    /// Jobs not run because of a failure.
    pub skipped: Vec<SkippedJob>,
    /// Jobs not run (or killed) because the run was interrupted.
    pub cancelled: usize,
    /// Whether the run was interrupted (Ctrl-C).
    pub interrupted: bool,
    /// Wall time of the run, in seconds.
    pub seconds: f64,
    /// Where the logs and the journal are.
    pub state_dir: PathBuf,
}

impl Summary {
    /// Whether every job ran or was up to date.
    pub fn success(&self) -> bool {
        self.failed.is_empty()
            && self.skipped.is_empty()
            && self.cancelled == 0
            && !self.interrupted
    }

    /// The exit status `rask run` ends with: 0 when every job succeeded,
    /// 130 when interrupted, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            130
        } else if self.success() {
            0
        } else {
            1
        }
    }

    pub(crate) fn elapsed(&mut self, d: Duration) {
        self.seconds = d.as_secs_f64();
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = vec![
            format!("{} ran", self.ran.len()),
            format!("{} up to date", self.up_to_date),
        ];
        if !self.failed.is_empty() {
            parts.push(format!("{} failed", self.failed.len()));
        }
        if !self.skipped.is_empty() {
            parts.push(format!(
                "{} not run (a dependency failed)",
                self.skipped.len()
            ));
        }
        if self.cancelled > 0 {
            parts.push(format!("{} cancelled", self.cancelled));
        }
        let head = if self.interrupted {
            "interrupted"
        } else if self.success() {
            "done"
        } else {
            "finished with failures"
        };
        writeln!(
            f,
            "rask run: {head}: {} jobs: {} in {:.2} s",
            self.jobs,
            parts.join(", "),
            self.seconds
        )?;
        for j in &self.failed {
            let tries = if j.attempts > 1 {
                format!(" after {} attempts", j.attempts)
            } else {
                String::new()
            };
            writeln!(f, "  FAILED {}: {}{tries}", j.job, j.why)?;
            for line in j.stderr_tail.lines() {
                writeln!(f, "    | {line}")?;
            }
            if j.attempts > 0 {
                writeln!(f, "    log: {}", j.log.display())?;
            }
        }
        const SHOWN: usize = 10;
        for s in self.skipped.iter().take(SHOWN) {
            writeln!(f, "  not run: {} (because `{}` failed)", s.job, s.because)?;
        }
        if self.skipped.len() > SHOWN {
            writeln!(f, "  ... and {} more not run", self.skipped.len() - SHOWN)?;
        }
        if self.interrupted {
            writeln!(f, "  finished jobs are in the journal: run again to resume")?;
        }
        Ok(())
    }
}
