//! Typed errors of a workflow: reading the file, expanding its templates,
//! resolving dependencies, and the state directory. Each names what and
//! where: the file (and line, from the TOML parser), the job, the field.

use std::path::PathBuf;

/// Why a workflow could not be loaded, planned or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkflowError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or not a workflow (unknown or mistyped field).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (with the line and column).
        message: String,
    },
    /// A job's field has a value the format does not allow.
    #[error("job `{job}`, field `{field}`: {message}")]
    Invalid {
        /// The job (its name template for errors found before expansion).
        job: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Two jobs have the same name.
    #[error("two jobs are named `{0}` (names must be unique after expansion)")]
    DuplicateJob(String),
    /// Two jobs declare the same output.
    #[error("`{path}` is an output of both `{first}` and `{second}`")]
    DuplicateOutput {
        /// The output.
        path: String,
        /// One job.
        first: String,
        /// The other.
        second: String,
    },
    /// An input pattern matches neither a file nor any job's output.
    #[error("job `{job}`: input pattern `{pattern}` matches no file and no job's output")]
    NoMatch {
        /// The job.
        job: String,
        /// The pattern.
        pattern: String,
    },
    /// `after` names no job.
    #[error("job `{job}`: `after = \"{pattern}\"` names no job")]
    UnknownAfter {
        /// The job.
        job: String,
        /// The name or pattern.
        pattern: String,
    },
    /// `--force` (or a job query) names no job.
    #[error("no job is named `{0}` (give a name, or a pattern such as 'leaf*')")]
    NoSuchJob(String),
    /// The jobs depend on each other in a cycle.
    #[error("the jobs depend on each other in a cycle: {}", cycle_text(.0))]
    Cycle(Vec<String>),
    /// Another `rask run` holds the state directory.
    #[error("{0}: another `rask run` is using this state directory")]
    Busy(PathBuf),
    /// The executor failed as a whole (the cluster went away, a worker kept dying).
    #[error("the run could not complete: {0}")]
    Engine(String),
}

fn cycle_text(names: &[String]) -> String {
    let mut s = String::new();
    for n in names {
        s.push('`');
        s.push_str(n);
        s.push_str("` -> ");
    }
    if let Some(first) = names.first() {
        s.push('`');
        s.push_str(first);
        s.push('`');
    }
    s
}

impl WorkflowError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        WorkflowError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(job: &str, field: &'static str, message: impl Into<String>) -> Self {
        WorkflowError::Invalid {
            job: job.to_owned(),
            field,
            message: message.into(),
        }
    }
}
