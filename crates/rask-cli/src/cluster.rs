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
    /// Serve /metrics (Prometheus) and /health (for probes) here. /metrics
    /// asks for the token (`Authorization: Bearer`; `rask token`).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Serve /metrics to anyone (a trusted network only).
    #[arg(long, requires = "metrics")]
    metrics_no_auth: bool,
    /// Serve the live dashboard of every client's tasks here (a web page;
    /// `rask status` and `rask explain` read it). It asks for a token: the
    /// URL printed at start carries it (`?token=`; `rask token`).
    #[arg(long, value_name = "ADDR")]
    dashboard: Option<SocketAddr>,
    /// Serve the dashboard to anyone (a trusted network only).
    #[arg(long, requires = "dashboard")]
    dashboard_no_auth: bool,
    /// Adaptive scaling wants workers to finish the work in hand in about
    /// this many seconds.
    #[arg(long, default_value_t = 5.0)]
    target_duration: f64,
}

/// A worker's memory settings (`docs/memory.md`), for `rask worker` and
/// the workers `rask slurm` starts.
#[derive(clap::Args, Debug)]
pub(crate) struct MemoryArgs {
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
}

impl MemoryArgs {
    /// The settings given (a bad fraction is an error naming it).
    pub(crate) fn options(&self) -> anyhow::Result<rask::MemoryOptions> {
        let line = format!(
            "target={},spill={},pause={},terminate={},compression={}",
            self.memory_target,
            self.memory_spill,
            self.memory_pause,
            self.memory_terminate,
            !self.no_spill_compression
        );
        let mut o = rask::MemoryOptions::parse(&line).map_err(anyhow::Error::msg)?;
        o.spill_dir = self.spill_dir.clone();
        Ok(o)
    }
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
    #[command(flatten)]
    memory: MemoryArgs,
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
    /// Run the worker as a child process and start it again when it
    /// crashes (at most 5 quick deaths in a row); it is not restarted when
    /// it exits cleanly (retired, or its scheduler shut down).
    #[arg(long)]
    restart: bool,
    /// Keep trying to reach the scheduler this many seconds at start (it
    /// may start after the workers, or be restarting).
    #[arg(long, default_value_t = 60.0)]
    connect_timeout: f64,
}

pub(crate) fn scheduler(args: &SchedulerArgs) -> anyhow::Result<()> {
    let placement: Placement = args
        .placement
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    if args.heartbeat_timeout.is_nan() || args.heartbeat_timeout <= 0.0 {
        bail!("--heartbeat-timeout must be positive");
    }
    if !(args.target_duration > 0.0 && args.target_duration.is_finite()) {
        bail!("--target-duration must be positive");
    }
    let cfg = SchedulerConfig {
        listen: args.listen,
        wire: crate::tls::wire(&args.tls)?,
        core: CoreConfig {
            placement,
            stealing: !args.no_stealing,
            max_deaths: args.max_deaths.max(1),
            target_duration: Duration::from_secs_f64(args.target_duration),
            ..CoreConfig::default()
        },
        heartbeat_timeout: Duration::from_secs_f64(args.heartbeat_timeout),
        observer: None,
    };
    let wire = cfg.wire.clone();
    // The dashboard reads a recorder that the scheduler's task stream feeds.
    let recorder = args.dashboard.map(|_| rask::diagnostics::Recorder::new());
    let cfg = SchedulerConfig {
        observer: recorder
            .as_ref()
            .map(|r| rask::distributed::TaskStream(r.subscriber())),
        ..cfg
    };
    let s = Scheduler::start(cfg).context("starting the scheduler")?;
    // One line on stdout (scripts read the address from it); where the
    // secret went, if it made one, is in the log on stderr.
    println!("rask scheduler listening on {}", s.addr());
    let _dashboard = match (args.dashboard, recorder) {
        (Some(addr), Some(recorder)) => {
            let opts = rask::dashboard::DashboardOptions {
                access: Some(crate::metrics::http_access(
                    args.dashboard_no_auth,
                    s.http_token(),
                )?),
                ..rask::dashboard::DashboardOptions::default()
            };
            let d =
                rask::dashboard::Dashboard::serve_with(std::sync::Arc::new(recorder), addr, opts)
                    .context("starting the dashboard")?;
            println!("rask dashboard at {}", d.url());
            Some(d)
        }
        _ => None,
    };
    if let Some(m) = args.metrics {
        let access = crate::metrics::http_access(args.metrics_no_auth, s.http_token())?;
        crate::metrics::serve(m, s.addr().port(), wire, access)?;
    }
    exit_on_stop()?;
    s.wait();
    Ok(())
}

/// Ends the process on SIGTERM, SIGINT or SIGHUP. As a container's first
/// process (PID 1) a program gets no default action for them: without
/// this, `podman stop` and Kubernetes wait out their grace period, then
/// SIGKILL.
fn exit_on_stop() -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("rask-stop".into())
        .spawn(|| {
            if let Ok(sig) = rask::distributed::supervise::wait_for_stop() {
                tracing::info!(signal = sig, "stopping");
                std::process::exit(128 + sig);
            }
        })?;
    Ok(())
}

pub(crate) fn worker(args: &WorkerArgs) -> anyhow::Result<()> {
    if args.restart {
        // This command again, without --restart, as a supervised child.
        let me = std::env::current_exe().context("finding this program")?;
        let argv: Vec<std::ffi::OsString> = std::env::args_os()
            .skip(1)
            .filter(|a| a != "--restart")
            .collect();
        let name = args.name.clone().unwrap_or_else(|| "worker".to_owned());
        let code = rask::distributed::supervise::supervise(
            || {
                let mut c = std::process::Command::new(&me);
                c.args(&argv);
                c
            },
            &name,
        )?;
        std::process::exit(code);
    }
    let mut opts = WorkerOptions::new(args.address.clone());
    if let Some(t) = args.threads {
        opts.threads = t.max(1);
    }
    if let Some(m) = &args.memory_limit {
        opts.memory = parse_bytes(m)?;
    }
    opts.memory_options = args.memory.options()?;
    for r in &args.resources {
        opts.resources.push(parse_resource(r)?);
    }
    opts.name = args.name.clone();
    opts.listen_host = args.host;
    opts.wire = crate::tls::wire(&args.tls)?;
    exit_on_stop()?;
    let limit = Duration::from_secs_f64(args.connect_timeout.max(0.0));
    let t0 = std::time::Instant::now();
    loop {
        let started = std::time::Instant::now();
        match rask::run_worker(opts.clone()) {
            // The scheduler is not there (yet): try again, for a while.
            Err(e) if unreachable(&e) && started.elapsed() < Duration::from_secs(5) => {
                if t0.elapsed() >= limit {
                    return Err(e).context(format!(
                        "worker: the scheduler at {} was not reachable for {limit:?}",
                        args.address
                    ));
                }
                tracing::info!(scheduler = %args.address, error = %e, "waiting for the scheduler");
                std::thread::sleep(Duration::from_millis(500));
            }
            r => {
                r.context("worker")?;
                return Ok(());
            }
        }
    }
}

/// A failure to reach the scheduler at all (nothing listening, no route,
/// no such host yet), as opposed to one after joining.
fn unreachable(e: &rask::distributed::Error) -> bool {
    use rask::distributed::wire::WireError;
    use std::io::ErrorKind as K;
    match e {
        rask::distributed::Error::Wire(WireError::Io(io)) => {
            matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::NotFound
                    | K::TimedOut
                    | K::HostUnreachable
                    | K::NetworkUnreachable
                    | K::AddrNotAvailable
            ) || io.raw_os_error().is_none()
        }
        rask::distributed::Error::Wire(WireError::Timeout(_)) => true,
        // A scheduler of this machine that has not written its secret yet.
        rask::distributed::Error::Wire(WireError::NoSecret { file: Some(f), .. }) => !f.exists(),
        _ => false,
    }
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
