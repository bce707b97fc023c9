//! `rask check --cluster ADDRESS`: the smoke test of a deployment
//! (`rask::smoke`): a graph, a value moved between workers and a chunked
//! array, computed on the cluster and checked against answers computed
//! here. Exits 1 with what was wrong.

use anyhow::Context;
use rask::Client;

/// `rask check`.
#[derive(clap::Args, Debug)]
pub(crate) struct CheckArgs {
    /// The scheduler's address (`host:port`; the secret comes from
    /// RASK_SECRET).
    #[arg(long, value_name = "ADDR")]
    cluster: String,
}

pub(crate) fn main(args: &CheckArgs) -> anyhow::Result<i32> {
    let client = Client::connect(&args.cluster)
        .with_context(|| format!("connecting to the scheduler at {}", args.cluster))?;
    match rask::smoke::check(&client) {
        Ok(r) => {
            println!(
                "rask check: ok: {} tasks (a graph, a value moved between workers, an array) \
                 on {} worker processes in {:.2} s",
                r.tasks, r.workers, r.seconds
            );
            Ok(0)
        }
        Err(e) => {
            eprintln!("rask check: FAILED: {e}");
            Ok(1)
        }
    }
}
