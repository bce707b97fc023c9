//! `rask scheduler` and `rask worker ADDRESS`: a cluster from the command
//! line. The shared secret comes from `RASK_SECRET` (never from the command
//! line, where other users could read it); without one, only loopback
//! addresses may be bound.
//!
//! A worker started by `rask worker` runs the functions registered in the
//! `rask` binary (the built-in ones, arrays and dataframes); a program with
//! its own `#[rask::task]` functions starts workers from itself with
//! `rask::run_worker` (or `Client::local_cluster`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Context};
use rask::distributed::core::{CoreConfig, Placement};
use rask::distributed::wire::WireConfig;
use rask::{Scheduler, SchedulerConfig, WorkerOptions};

/// `rask scheduler`.
#[derive(clap::Args, Debug)]
pub(crate) struct SchedulerArgs {
    /// Address to listen on (a non-loopback one needs RASK_SECRET).
    #[arg(long, default_value = "127.0.0.1:8786")]
    listen: SocketAddr,
    /// Placement: earliest-start, least-loaded, round-robin or weighted.
    #[arg(long, default_value = "earliest-start")]
    placement: String,
    /// Turn work stealing off.
    #[arg(long)]
    no_stealing: bool,
    /// Seconds of silence after which a worker is removed.
    #[arg(long, default_value_t = 10.0)]
    heartbeat_timeout: f64,
    /// Workers that may die under one task before it fails.
    #[arg(long, default_value_t = 3)]
    max_deaths: u32,
}

/// `rask worker ADDRESS`.
#[derive(clap::Args, Debug)]
pub(crate) struct WorkerArgs {
    /// The scheduler's address (`host:port`).
    address: String,
    /// Compute threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Memory limit (`4GiB`, `512MiB`, bytes): values spill to disk, tasks
    /// pause and the worker exits (status 75) at fractions of it.
    #[arg(long)]
    memory_limit: Option<String>,
    /// Fraction of the limit kept in memory before values spill (or `off`).
    #[arg(long, default_value = "0.6")]
    memory_target: String,
    /// Fraction of the limit in resident memory that spills more (or `off`).
    #[arg(long, default_value = "0.7")]
    memory_spill: String,
    /// Fraction of the limit in resident memory that pauses tasks (or `off`).
    #[arg(long, default_value = "0.8")]
    memory_pause: String,
    /// Fraction of the limit in resident memory that ends the worker (or `off`).
    #[arg(long, default_value = "0.95")]
    memory_terminate: String,
    /// Where spilled values go (default: the system's temporary directory).
    #[arg(long)]
    spill_dir: Option<std::path::PathBuf>,
    /// Do not compress spilled values.
    #[arg(long)]
    no_spill_compression: bool,
    /// A named resource, `NAME=AMOUNT` (repeatable): `--resource gpu=1`.
    #[arg(long = "resource")]
    resources: Vec<String>,
    /// The worker's name (default: host:pid).
    #[arg(long)]
    name: Option<String>,
    /// The address its data port binds (peers fetch values there).
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
}

pub(crate) fn scheduler(args: &SchedulerArgs) -> anyhow::Result<()> {
    let placement: Placement = args
        .placement
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    if args.heartbeat_timeout.is_nan() || args.heartbeat_timeout <= 0.0 {
        bail!("--heartbeat-timeout must be positive");
    }
    let cfg = SchedulerConfig {
        listen: args.listen,
        wire: WireConfig::from_env(),
        core: CoreConfig {
            placement,
            stealing: !args.no_stealing,
            max_deaths: args.max_deaths.max(1),
            ..CoreConfig::default()
        },
        heartbeat_timeout: Duration::from_secs_f64(args.heartbeat_timeout),
    };
    let s = Scheduler::start(cfg).context("starting the scheduler")?;
    println!("rask scheduler listening on {}", s.addr());
    s.wait();
    Ok(())
}

pub(crate) fn worker(args: &WorkerArgs) -> anyhow::Result<()> {
    let mut opts = WorkerOptions::new(args.address.clone());
    if let Some(t) = args.threads {
        opts.threads = t.max(1);
    }
    if let Some(m) = &args.memory_limit {
        opts.memory = parse_bytes(m)?;
    }
    let line = format!(
        "target={},spill={},pause={},terminate={},compression={}",
        args.memory_target,
        args.memory_spill,
        args.memory_pause,
        args.memory_terminate,
        !args.no_spill_compression
    );
    opts.memory_options = rask::MemoryOptions::parse(&line).map_err(anyhow::Error::msg)?;
    opts.memory_options.spill_dir = args.spill_dir.clone();
    for r in &args.resources {
        opts.resources.push(parse_resource(r)?);
    }
    opts.name = args.name.clone();
    opts.listen_host = args.host;
    rask::run_worker(opts).context("worker")?;
    Ok(())
}

/// `NAME=AMOUNT` (`--resource gpu=2`).
pub(crate) fn parse_resource(r: &str) -> anyhow::Result<(String, f64)> {
    let (name, amount) = r
        .split_once('=')
        .with_context(|| format!("--resource `{r}`: expected NAME=AMOUNT"))?;
    let amount: f64 = amount
        .parse()
        .with_context(|| format!("--resource `{r}`: `{amount}` is not a number"))?;
    Ok((name.to_owned(), amount))
}

/// `4GiB`, `512MiB`, `10GB`, `1000`: bytes.
pub(crate) fn parse_bytes(s: &str) -> anyhow::Result<u64> {
    Ok(rask_workflow::spec::parse_size(s).map_err(anyhow::Error::msg)? as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("4GiB").unwrap(), 4 << 30);
        assert_eq!(parse_bytes("512 MiB").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("3 parsecs").is_err());
    }
}
