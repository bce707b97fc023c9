//! `rask submit [--array A-B] -- CMD ARGS...`: runs a command (once, or
//! once per index with `{}` replaced by it) on a running cluster, in the
//! background; `rask drive DIR` is the detached process that drives it (see
//! `rask_workflow::submit`).

use std::path::PathBuf;

use anyhow::Context;
use rask_workflow::submit::{parse_array, JobStore, Submission};

/// `rask submit`.
#[derive(clap::Args, Debug)]
pub(crate) struct SubmitArgs {
    /// The scheduler's address (default: $RASK_CLUSTER).
    #[arg(long, value_name = "ADDR")]
    cluster: Option<String>,
    /// One task per index, `{}` in the command replaced by it: `1-1000`.
    #[arg(long, value_name = "A-B")]
    array: Option<String>,
    /// The job's name (default: the program's).
    #[arg(long)]
    name: Option<String>,
    /// Retries per task after a failure.
    #[arg(long, default_value_t = 0)]
    retries: u32,
    /// Time limit per attempt: `90s`, `10m`.
    #[arg(long)]
    timeout: Option<String>,
    /// Cpus per task (workers must declare `--resource cpus=N` for more than 1).
    #[arg(long)]
    cpus: Option<f64>,
    /// A resource per task, `NAME=AMOUNT` (repeatable).
    #[arg(long = "resource", value_name = "NAME=AMOUNT")]
    resources: Vec<String>,
    /// The job store (default: $RASK_JOBS_DIR or ~/.rask/jobs).
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

/// `rask drive DIR` (started by `rask submit`).
#[derive(clap::Args, Debug)]
pub(crate) struct DriveArgs {
    /// The job's directory.
    dir: PathBuf,
}

pub(crate) fn main(args: &SubmitArgs) -> anyhow::Result<i32> {
    let cluster = args
        .cluster
        .clone()
        .or_else(|| std::env::var("RASK_CLUSTER").ok())
        .context("give the scheduler's address with --cluster ADDR (or RASK_CLUSTER)")?;
    let array = args
        .array
        .as_deref()
        .map(parse_array)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let mut resources = Vec::new();
    if let Some(c) = args.cpus {
        resources.push(("cpus".to_owned(), c));
    }
    for r in &args.resources {
        resources.push(crate::cluster::parse_resource(r)?);
    }
    let name = args.name.clone().unwrap_or_else(|| {
        let prog = args.command.first().map_or("job", String::as_str);
        prog.rsplit('/').next().unwrap_or(prog).to_owned()
    });
    let sub = Submission {
        cluster,
        command: args.command.clone(),
        array,
        name,
        cwd: std::env::current_dir().context("the current directory")?,
        retries: args.retries,
        timeout: args.timeout.clone(),
        resources,
        submitted_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let store = JobStore::open(args.store.clone());
    let exe = std::env::current_exe().context("finding the rask binary")?;
    let id = store.submit(&sub, &exe)?;
    println!("{id}");
    eprintln!(
        "job {id} submitted ({} tasks): `rask jobs` shows it, `rask wait {id}` waits for it; logs in {}",
        array.map_or(1, |(a, b)| b - a + 1),
        store.root().join(id.to_string()).join("logs").display()
    );
    Ok(0)
}

pub(crate) fn drive(args: &DriveArgs) -> i32 {
    rask_workflow::submit::drive(&args.dir)
}
