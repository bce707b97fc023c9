//! `rask cancel ID...`: cancels submitted jobs (their drivers stop the
//! running tasks, as Ctrl-C does `rask run`).

use std::path::PathBuf;

use rask_workflow::submit::{JobId, JobStore};

/// `rask cancel`.
#[derive(clap::Args, Debug)]
pub(crate) struct CancelArgs {
    /// The jobs.
    #[arg(required = true)]
    ids: Vec<u64>,
    /// The job store (default: $RASK_JOBS_DIR or ~/.rask/jobs).
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
}

pub(crate) fn main(args: &CancelArgs) -> anyhow::Result<i32> {
    let store = JobStore::open(args.store.clone());
    let mut code = 0;
    for &id in &args.ids {
        if store.cancel(JobId(id))? {
            println!("job {id}: cancelling");
        } else {
            println!("job {id}: not running");
            code = 1;
        }
    }
    Ok(code)
}
