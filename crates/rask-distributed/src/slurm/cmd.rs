//! Slurm's commands, run as processes: `sbatch --parsable` (submit),
//! `squeue` (which of our jobs still exist, and their states), `scancel`.
//! Their failures become [`SlurmError`]s that name the command and carry
//! what it printed.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A Slurm job's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A Slurm command failed.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    /// The command could not be started.
    #[error("`{command}` could not be run: {source} (is Slurm installed and on PATH?)")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        source: io::Error,
    },
    /// The command ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// How it ended.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The command printed something this code does not understand.
    #[error("`{command}` printed `{output}`, not what was expected")]
    BadOutput {
        /// The command line.
        command: String,
        /// What it printed.
        output: String,
    },
}

/// A job's state as `squeue --format=%t` shows it (`PD`, `R`, `CG`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobState(pub String);

impl JobState {
    /// Waiting to start (`PD`: pending, `CF`: configuring).
    pub fn pending(&self) -> bool {
        matches!(self.0.as_str(), "PD" | "CF")
    }
}

/// Where Slurm's commands are (`None`: on `PATH`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Slurm {
    pub(crate) bin: Option<PathBuf>,
}

impl Slurm {
    fn command(&self, name: &str) -> Command {
        match &self.bin {
            Some(dir) => Command::new(dir.join(name)),
            None => Command::new(name),
        }
    }

    fn run(&self, mut cmd: Command) -> Result<(String, String), SlurmError> {
        let line = format!("{cmd:?}").replace('"', "");
        let out = cmd.output().map_err(|source| SlurmError::Spawn {
            command: line.clone(),
            source,
        })?;
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if !out.status.success() {
            return Err(SlurmError::Failed {
                command: line,
                status: crate::deploy::describe(&out.status),
                stderr,
            });
        }
        Ok((stdout, line))
    }

    /// Submits `script`; its job id.
    pub(crate) fn submit(&self, script: &Path) -> Result<JobId, SlurmError> {
        let mut c = self.command("sbatch");
        c.arg("--parsable").arg(script);
        let (out, line) = self.run(c)?;
        // `ID` or `ID;CLUSTER`.
        let id = out
            .lines()
            .last()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("");
        id.trim()
            .parse()
            .map(JobId)
            .map_err(|_| SlurmError::BadOutput {
                command: line,
                output: out.clone(),
            })
    }

    /// The states of those of `ids` that Slurm still lists.
    pub(crate) fn states(&self, ids: &[JobId]) -> Result<HashMap<JobId, JobState>, SlurmError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let list: Vec<String> = ids.iter().map(JobId::to_string).collect();
        let mut c = self.command("squeue");
        c.args(["--noheader", "--format=%i %t"])
            .arg(format!("--jobs={}", list.join(",")));
        let (out, line) = match self.run(c) {
            Ok(x) => x,
            // Every one of them is gone (and purged).
            Err(SlurmError::Failed { stderr, .. }) if stderr.contains("Invalid job id") => {
                return Ok(HashMap::new())
            }
            Err(e) => return Err(e),
        };
        let mut states = HashMap::new();
        for l in out.lines() {
            let mut f = l.split_whitespace();
            let (Some(id), Some(st)) = (f.next(), f.next()) else {
                continue;
            };
            let id: u64 = id.parse().map_err(|_| SlurmError::BadOutput {
                command: line.clone(),
                output: l.to_owned(),
            })?;
            states.insert(JobId(id), JobState(st.to_owned()));
        }
        Ok(states)
    }

    /// Cancels `ids` (jobs already gone are no error).
    pub(crate) fn cancel(&self, ids: &[JobId]) -> Result<(), SlurmError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut c = self.command("scancel");
        c.args(ids.iter().map(JobId::to_string));
        match self.run(c) {
            Ok(_) => Ok(()),
            Err(SlurmError::Failed { stderr, .. })
                if stderr.contains("Invalid job id") || stderr.contains("already completing") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
