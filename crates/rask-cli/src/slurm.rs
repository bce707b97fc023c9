//! `rask slurm`: a scheduler on this machine (a login node) and workers
//! as Slurm jobs (`rask::SlurmCluster`, see `docs/deploy.md`), until
//! Ctrl-C or SIGTERM, which cancels the jobs. A fixed number of jobs
//! (`--jobs`), or adaptive between bounds (`--adapt MIN:MAX`). Clients
//! connect with the secret the deployment writes (`RASK_SECRET=$(cat
//! DIR/secret)`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use rask::{AdaptOptions, SlurmCluster, SlurmOptions};

/// `rask slurm`.
#[derive(clap::Args, Debug)]
pub(crate) struct SlurmArgs {
    /// Worker jobs to keep.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Adapt the number of jobs to the work in hand, `MIN:MAX` (instead of
    /// `--jobs`).
    #[arg(long, value_name = "MIN:MAX")]
    adapt: Option<String>,
    /// Cores per job (`--cpus-per-task`), the worker's threads.
    #[arg(long, default_value_t = 1)]
    cores: u32,
    /// Memory per job (`4GiB`): `--mem`, and the worker's declared limit.
    #[arg(long)]
    memory: Option<String>,
    /// The workers' memory thresholds, spill directory and compression.
    #[command(flatten)]
    memory_options: crate::cluster::MemoryArgs,
    /// Time limit per job (`--time`, e.g. `01:00:00`).
    #[arg(long)]
    walltime: Option<String>,
    /// `--partition`.
    #[arg(long)]
    partition: Option<String>,
    /// `--account`.
    #[arg(long)]
    account: Option<String>,
    /// `--job-name` of the worker jobs.
    #[arg(long, default_value = "rask-worker")]
    job_name: String,
    /// Another `#SBATCH` directive (repeatable): `--job-extra=--gres=gpu:1`.
    #[arg(
        long = "job-extra",
        value_name = "DIRECTIVE",
        allow_hyphen_values = true
    )]
    job_extra: Vec<String>,
    /// A shell line run before the worker (repeatable): `module load x`.
    #[arg(long = "prologue", value_name = "LINE")]
    prologue: Vec<String>,
    /// A named resource each worker declares (repeatable): `gpu=1`.
    #[arg(long = "resource")]
    resources: Vec<String>,
    /// Where the scheduler listens.
    #[arg(long, default_value = "0.0.0.0:0")]
    listen: SocketAddr,
    /// The host name workers and clients reach the scheduler at (default:
    /// this machine's).
    #[arg(long)]
    address: Option<String>,
    /// The address a worker's data port binds on its node (default: the
    /// node's first address).
    #[arg(long)]
    worker_host: Option<IpAddr>,
    /// Where the secret, the job script and the logs go (default
    /// ~/.rask/slurm/ID; the compute nodes must see it).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The worker program (default: this `rask` binary).
    #[arg(long)]
    program: Option<PathBuf>,
    /// Do not restart a worker that crashes inside its job.
    #[arg(long)]
    no_restart: bool,
    /// Serve /metrics and /health here. /metrics asks for the token
    /// (`Authorization: Bearer`; `rask token`).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Serve /metrics to anyone (a trusted network only).
    #[arg(long, requires = "metrics")]
    metrics_no_auth: bool,
    /// Wait until the first jobs' workers have joined (at most this many
    /// seconds), then print `rask slurm: ready`.
    #[arg(long, value_name = "SECS")]
    wait: Option<f64>,
}

fn parse_bounds(s: &str) -> anyhow::Result<(usize, usize)> {
    let (a, b) = s
        .split_once(':')
        .with_context(|| format!("--adapt `{s}`: expected MIN:MAX"))?;
    let (a, b): (usize, usize) = (
        a.trim()
            .parse()
            .with_context(|| format!("--adapt `{s}`: MIN"))?,
        b.trim()
            .parse()
            .with_context(|| format!("--adapt `{s}`: MAX"))?,
    );
    if a > b {
        bail!("--adapt `{s}`: MIN is above MAX");
    }
    Ok((a, b))
}

pub(crate) fn main(args: &SlurmArgs) -> anyhow::Result<i32> {
    let bounds = args.adapt.as_deref().map(parse_bounds).transpose()?;
    let program = match &args.program {
        Some(p) => p.clone(),
        None => std::env::current_exe().context("finding this program")?,
    };
    let mut o = SlurmOptions::new(program);
    o.cores = args.cores.max(1);
    o.memory = args
        .memory
        .as_deref()
        .map(crate::cluster::parse_bytes)
        .transpose()?;
    o.memory_options = args.memory_options.options()?;
    o.walltime = args.walltime.clone();
    o.partition = args.partition.clone();
    o.account = args.account.clone();
    o.job_name = args.job_name.clone();
    o.job_extra = args.job_extra.clone();
    o.prologue = args.prologue.clone();
    for r in &args.resources {
        o.resources.push(crate::cluster::parse_resource(r)?);
    }
    o.listen = args.listen;
    o.address = args.address.clone();
    o.worker_host = args.worker_host;
    o.dir = args.dir.clone();
    o.restart = !args.no_restart;
    o.jobs = match bounds {
        Some((min, _)) => min,
        None => args.jobs,
    };
    let cluster = SlurmCluster::start(o).context("starting the Slurm deployment")?;
    println!("rask slurm: scheduler at {}", cluster.addr());
    println!(
        "rask slurm: secret in {} (clients: RASK_SECRET=$(cat {}))",
        cluster.secret_file().display(),
        cluster.secret_file().display()
    );
    println!(
        "rask slurm: job script and logs in {}",
        cluster.dir().display()
    );
    if let Some(m) = args.metrics {
        let port = cluster
            .addr()
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(0);
        let wire = cluster.wire();
        let derived = wire.secret.as_ref().map(|s| s.http_token());
        let access = crate::metrics::http_access(args.metrics_no_auth, derived.as_deref())?;
        crate::metrics::serve(m, port, wire, access)?;
    }
    if let Some(secs) = args.wait {
        let n = bounds.map_or(args.jobs, |(min, _)| min);
        cluster.wait_for_workers(n, Duration::from_secs_f64(secs.max(0.0)))?;
        println!("rask slurm: ready: {n} workers joined");
    }
    if let Some((min, max)) = bounds {
        cluster.adapt(AdaptOptions::new(min, max))?;
        println!("rask slurm: adapting between {min} and {max} jobs");
    } else {
        println!("rask slurm: {} jobs submitted", args.jobs);
    }
    let sig = rask::distributed::supervise::wait_for_stop()?;
    println!("rask slurm: stopping (signal {sig}): cancelling the jobs");
    cluster.close()?;
    // Give the log a moment before the scheduler's thread is gone.
    std::thread::sleep(Duration::from_millis(10));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::parse_bounds;

    #[test]
    fn bounds_parse() {
        assert_eq!(parse_bounds("1:10").unwrap(), (1, 10));
        assert!(parse_bounds("3").is_err());
        assert!(parse_bounds("5:2").is_err());
    }
}
