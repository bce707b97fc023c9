//! `rask scheduler` and `rask worker ADDRESS`: a cluster from the command
//! line. The shared secret comes from `RASK_SECRET` (never from the command
//! line, where other users could read it). Without one, `rask scheduler`
//! makes one and writes it to a file only its user can read (the path is
//! printed); `rask worker` and clients of that user on the same machine read
//! it from there, others need it in `RASK_SECRET`. TLS: `--tls-*` flags or
//! `RASK_TLS_*` (feature `tls`, `tls.rs`).
//!
//! A worker started by `rask worker` runs the functions registered in the
//! `rask` binary (the built-in ones, arrays and dataframes); a program with
//! its own `#[rask::task]` functions starts workers from itself with
//! `rask::run_worker` (or `Client::local_cluster`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Context};
use rask::distributed::core::{CoreConfig, Placement};
use rask::{Scheduler, SchedulerConfig, WorkerOptions};

/// `rask scheduler`.
#[derive(clap::Args, Debug)]
pub(crate) struct SchedulerArgs {
    /// Address to listen on.
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
    #[command(flatten)]
    tls: crate::tls::TlsArgs,
}

/// `rask worker ADDRESS`.
#[derive(clap::Args, Debug)]
pub(crate) struct WorkerArgs {
    /// The scheduler's address (`host:port`).
    address: String,
    /// Compute threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Memory limit, declared to the scheduler (`4GiB`, `512MiB`, bytes).
    #[arg(long)]
    memory_limit: Option<String>,
    /// A named resource, `NAME=AMOUNT` (repeatable): `--resource gpu=1`.
    #[arg(long = "resource")]
    resources: Vec<String>,
    /// The worker's name (default: host:pid).
    #[arg(long)]
    name: Option<String>,
    /// The address its data port binds (peers fetch values there).
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    #[command(flatten)]
    tls: crate::tls::TlsArgs,
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
        wire: crate::tls::wire(&args.tls)?,
        core: CoreConfig {
            placement,
            stealing: !args.no_stealing,
            max_deaths: args.max_deaths.max(1),
            ..CoreConfig::default()
        },
        heartbeat_timeout: Duration::from_secs_f64(args.heartbeat_timeout),
    };
    let s = Scheduler::start(cfg).context("starting the scheduler")?;
    // One line on stdout (scripts read the address from it); where the
    // secret went, if it made one, is in the log on stderr.
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
    for r in &args.resources {
        opts.resources.push(parse_resource(r)?);
    }
    opts.name = args.name.clone();
    opts.listen_host = args.host;
    opts.wire = crate::tls::wire(&args.tls)?;
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
