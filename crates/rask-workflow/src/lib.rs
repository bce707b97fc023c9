//! # Workflows of shell commands on every core or a cluster (`rask run`)
//!
//! A workflow is a TOML file of jobs: a command, input and output files,
//! dependencies (found by matching inputs to other jobs' outputs, or given
//! with `after`), expansion over ranges, lists and globs, retries, a time
//! limit, environment, working directory and resources. The format is in
//! [`spec`]'s types, `docs/workflows.md` and `docs/workflow.schema.json`.
//!
//! ```no_run
//! use rask_workflow::{run_local, RunOptions, Workflow};
//!
//! let wf = Workflow::load("pipeline.toml".as_ref())?;
//! let summary = run_local(&wf, &RunOptions { jobs: 4, ..RunOptions::default() })?;
//! print!("{summary}");
//! # Ok::<(), rask_workflow::WorkflowError>(())
//! ```
//!
//! How it is built (each module's doc has its rules):
//! - [`spec`] reads the file, `expand.rs` expands templates, `dag.rs` finds
//!   dependencies and orders the jobs;
//! - `runner.rs` makes one Rask graph of `job::run_job` tasks (a registered
//!   function, so cluster workers run it too) and computes it on a
//!   [`rask::Client`];
//! - `job.rs` is the task: the up-to-date check by content hashes
//!   (`hash.rs`), the attempts with retries and a time limit
//!   (`command.rs`, `supervise.rs`), outputs written then renamed, the
//!   journal (`journal.rs`) that makes an interrupted run resumable;
//! - `submit.rs` keeps ad hoc jobs (`rask submit`, `rask jobs`, `rask wait`)
//!   in a directory, each driven by a detached process.

mod command;
mod dag;
mod dry;
mod error;
mod expand;
mod hash;
pub mod interrupt;
mod job;
mod journal;
mod local;
mod progress;
mod report;
mod runner;
pub mod spec;
pub mod submit;
mod supervise;
mod template;

pub use dag::Workflow;
pub use dry::{dry_run, DryRun, Plan};
pub use error::WorkflowError;
pub use hash::{ContentHash, Signature};
pub use report::{FailedJob, SkippedJob, Summary};
pub use runner::{run, run_local, state_dir, RunOptions};
pub use spec::WorkflowFile;
