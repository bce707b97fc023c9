//! `rask retire --cluster ADDRESS NAME...`: retires workers gracefully
//! before their machines go (the values only they hold are copied to the
//! other workers first, so nothing is computed again); waits until they
//! have left.

use std::time::Duration;

use anyhow::Context;
use rask::distributed::wire::WireConfig;
use rask::Connection;

/// `rask retire`.
#[derive(clap::Args, Debug)]
pub(crate) struct RetireArgs {
    /// The scheduler's address (`host:port`; the secret comes from
    /// RASK_SECRET).
    #[arg(long, value_name = "ADDR")]
    cluster: String,
    /// The workers' names (as `rask worker --name`, or `host:pid`).
    #[arg(required_unless_present = "worker_env")]
    workers: Vec<String>,
    /// Also the worker named by this environment variable (a Kubernetes
    /// preStop hook: `--worker-env POD_NAME`, as no shell expands it).
    #[arg(long, value_name = "VAR")]
    worker_env: Option<String>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300.0)]
    timeout: f64,
}

pub(crate) fn main(args: &RetireArgs) -> anyhow::Result<i32> {
    let conn = Connection::connect(&args.cluster, WireConfig::from_env())
        .with_context(|| format!("connecting to the scheduler at {}", args.cluster))?;
    let mut names = args.workers.clone();
    if let Some(var) = &args.worker_env {
        names.push(std::env::var(var).with_context(|| format!("--worker-env: ${var} is not set"))?);
    }
    let timeout = Duration::from_secs_f64(args.timeout.max(0.0));
    conn.retire_workers(&names, timeout)?;
    println!("rask retire: {} retired", names.join(", "));
    Ok(0)
}
