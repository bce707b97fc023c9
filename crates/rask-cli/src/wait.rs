//! `rask wait [ID...]`: waits for submitted jobs (all running ones by
//! default) and prints how each ended; the status is 0 only if every task
//! of every one succeeded.

use std::path::PathBuf;
use std::time::Duration;

use rask_workflow::submit::{JobId, JobResult, JobState, JobStore};

/// `rask wait`.
#[derive(clap::Args, Debug)]
pub(crate) struct WaitArgs {
    /// The jobs (default: every running one).
    ids: Vec<u64>,
    /// Give up after this many seconds (status 2 if some are still running).
    #[arg(long)]
    timeout: Option<f64>,
    /// The job store (default: $RASK_JOBS_DIR or ~/.rask/jobs).
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
}

pub(crate) fn main(args: &WaitArgs) -> anyhow::Result<i32> {
    let store = JobStore::open(args.store.clone());
    let ids: Vec<JobId> = args.ids.iter().map(|&i| JobId(i)).collect();
    let timeout = args
        .timeout
        .filter(|t| t.is_finite() && *t >= 0.0)
        .map(Duration::from_secs_f64);
    let infos = store.wait(&ids, timeout)?;
    let mut code = 0;
    for j in &infos {
        println!("{}", j.line());
        match &j.state {
            JobState::Finished(JobResult {
                summary: Some(s), ..
            }) => {
                if !s.success() {
                    print!("{s}");
                    code = code.max(1);
                }
            }
            JobState::Finished(_) | JobState::Lost => code = code.max(1),
            JobState::Running { .. } => code = 2,
        }
    }
    Ok(code)
}
