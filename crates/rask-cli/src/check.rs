//! `rask check --cluster ADDRESS`: the smoke test of a deployment
//! (`rask::smoke`): a graph, a value moved between workers and a chunked
//! array, computed on the cluster and checked against answers computed
//! here. Exits 1 with what was wrong.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rask::distributed::wire::WireConfig;
use rask::{Client, Connection};

/// `rask check`.
#[derive(clap::Args, Debug)]
pub(crate) struct CheckArgs {
    /// The scheduler's address (`host:port`; the secret comes from
    /// RASK_SECRET).
    #[arg(long, value_name = "ADDR")]
    cluster: String,
    /// First wait until this many workers have joined.
    #[arg(long, value_name = "N", default_value_t = 0)]
    wait_workers: usize,
    /// How long to wait for the scheduler and the workers, in seconds.
    #[arg(long, default_value_t = 120.0)]
    timeout: f64,
}

/// Waits for the scheduler to answer and `n` workers to have joined.
fn wait_for(args: &CheckArgs) -> anyhow::Result<()> {
    let limit = Duration::from_secs_f64(args.timeout.max(0.0));
    let t0 = Instant::now();
    let conn = loop {
        match Connection::connect(&args.cluster, WireConfig::from_env()) {
            Ok(c) => break c,
            Err(e) if t0.elapsed() > limit => {
                return Err(e).with_context(|| format!("connecting to {}", args.cluster))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    loop {
        let have = conn.cluster_report()?.active();
        if have >= args.wait_workers {
            return Ok(());
        }
        if t0.elapsed() > limit {
            bail!(
                "{have} of {} workers joined in {limit:?}",
                args.wait_workers
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub(crate) fn main(args: &CheckArgs) -> anyhow::Result<i32> {
    wait_for(args)?;
    let client = Client::connect(&args.cluster)
        .with_context(|| format!("connecting to the scheduler at {}", args.cluster))?;
    match rask::smoke::check(&client) {
        Ok(r) => {
            println!(
                "rask check: ok: {} tasks (a graph, {}, an array) on {} workers in {:.2} s",
                r.tasks,
                if r.moved {
                    "a value moved between workers"
                } else {
                    "a big value"
                },
                r.workers,
                r.seconds
            );
            Ok(0)
        }
        Err(e) => {
            eprintln!("rask check: FAILED: {e}");
            Ok(1)
        }
    }
}
