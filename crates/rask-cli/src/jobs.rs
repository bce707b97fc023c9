//! `rask jobs`: the jobs submitted with `rask submit`, and where each stands.

use std::path::PathBuf;

use rask_workflow::submit::JobStore;

/// `rask jobs`.
#[derive(clap::Args, Debug)]
pub(crate) struct JobsArgs {
    /// The job store (default: $RASK_JOBS_DIR or ~/.rask/jobs).
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
}

pub(crate) fn main(args: &JobsArgs) -> anyhow::Result<i32> {
    let store = JobStore::open(args.store.clone());
    let jobs = store.list()?;
    if jobs.is_empty() {
        eprintln!("no jobs in {}", store.root().display());
    }
    for j in jobs {
        println!("{}", j.line());
    }
    Ok(0)
}
