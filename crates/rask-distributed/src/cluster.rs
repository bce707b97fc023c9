//! [`LocalCluster`]: a scheduler (in this process) and worker processes
//! started from the current binary, like `Client::processes` but over the
//! distributed runtime; and [`init`], which turns such a process into a
//! worker.
//!
//! A worker process is this executable started again with
//! `RASK_CLUSTER_WORKER=<scheduler address>` (and its name, threads and the
//! cluster's secret) in its environment; `rask::init()`, the first line of
//! `main`, sees that and runs the worker instead of returning. Dropping the
//! cluster kills and reaps its workers and stops the scheduler.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::scheduler::{Scheduler, SchedulerConfig};
use crate::wire::{Secret, WireConfig, SECRET_ENV};
use crate::worker::{run_worker, WorkerOptions};
use crate::{Connection, Error};

const WORKER_ENV: &str = "RASK_CLUSTER_WORKER";
const NAME_ENV: &str = "RASK_CLUSTER_NAME";
const THREADS_ENV: &str = "RASK_CLUSTER_THREADS";
/// The address a worker's data port binds (default loopback).
const HOST_ENV: &str = "RASK_CLUSTER_HOST";
/// A worker's resources: `gpu=1,ssd=2`.
const RESOURCES_ENV: &str = "RASK_CLUSTER_RESOURCES";

/// Call first in `main` (through `rask::init()`): in a worker process that
/// a [`LocalCluster`] started, runs the worker and exits; anywhere else
/// returns at once.
pub fn init() {
    let Some(addr) = std::env::var_os(WORKER_ENV) else {
        return;
    };
    let mut opts = WorkerOptions::new(addr.to_string_lossy().into_owned());
    opts.name = std::env::var(NAME_ENV).ok();
    if let Some(t) = std::env::var(THREADS_ENV).ok().and_then(|t| t.parse().ok()) {
        opts.threads = t;
    }
    if let Some(h) = std::env::var(HOST_ENV).ok().and_then(|h| h.parse().ok()) {
        opts.listen_host = h;
    }
    if let Ok(r) = std::env::var(RESOURCES_ENV) {
        opts.resources = r
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k.trim().to_owned(), v.trim().parse().ok()?)))
            .collect();
    }
    let code = match run_worker(opts) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rask worker {}: {e}", std::process::id());
            70
        }
    };
    std::process::exit(code);
}

/// A scheduler and `n` local worker processes.
#[derive(Debug)]
pub struct LocalCluster {
    scheduler: Option<Scheduler>,
    workers: Vec<Option<Child>>,
    secret: String,
    threads: usize,
    started: usize,
    /// The program and arguments that start a worker (default: this
    /// executable, no arguments).
    command: Option<(PathBuf, Vec<OsString>)>,
}

impl LocalCluster {
    /// Starts a scheduler on loopback and `workers` processes with
    /// `threads` compute threads each; waits until they have joined.
    pub fn new(workers: usize, threads: usize) -> Result<LocalCluster, Error> {
        Self::with_config(workers, threads, SchedulerConfig::default())
    }

    /// As [`LocalCluster::new`], with scheduler settings (its secret is
    /// replaced by a fresh random one shared with the workers).
    pub fn with_config(
        workers: usize,
        threads: usize,
        cfg: SchedulerConfig,
    ) -> Result<LocalCluster, Error> {
        Self::with_command(workers, threads, cfg, None)
    }

    /// As [`LocalCluster::with_config`], with workers started by `command`
    /// (a program and its arguments) instead of this executable: for an
    /// interpreter whose workers are a module (`python -m ...`). The
    /// command must reach `rask::init()`.
    pub fn with_command(
        workers: usize,
        threads: usize,
        mut cfg: SchedulerConfig,
        command: Option<(PathBuf, Vec<OsString>)>,
    ) -> Result<LocalCluster, Error> {
        let mut raw = [0u8; 16];
        getrandom::getrandom(&mut raw).map_err(|e| Error::Config(e.to_string()))?;
        let secret: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        cfg.wire = WireConfig {
            secret: Some(std::sync::Arc::new(Secret::new(secret.clone()))),
            ..cfg.wire
        };
        let scheduler = Scheduler::start(cfg)?;
        let mut c = LocalCluster {
            scheduler: Some(scheduler),
            workers: Vec::new(),
            secret,
            threads,
            started: 0,
            command,
        };
        for _ in 0..workers {
            c.add_worker()?;
        }
        c.wait_for_workers(workers, Duration::from_secs(20))?;
        Ok(c)
    }

    /// The scheduler's address.
    pub fn addr(&self) -> SocketAddr {
        self.scheduler
            .as_ref()
            .map_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)), |s| s.addr())
    }

    /// The wire settings a client of this cluster needs (its secret).
    pub fn wire(&self) -> WireConfig {
        WireConfig::default().with_secret(Secret::new(self.secret.clone()))
    }

    /// A connection to the cluster.
    pub fn connect(&self) -> Result<Connection, Error> {
        Connection::connect(&self.addr().to_string(), self.wire())
    }

    /// Starts one more worker process.
    pub fn add_worker(&mut self) -> Result<(), Error> {
        self.add_worker_with(&[])
    }

    /// Starts one more worker process declaring `resources`
    /// (`&[("gpu", 1.0)]`); it is named `local-N`, N counting from 0 in
    /// start order.
    pub fn add_worker_with(&mut self, resources: &[(&str, f64)]) -> Result<(), Error> {
        let (exe, args) = match &self.command {
            Some(c) => c.clone(),
            None => (std::env::current_exe()?, Vec::new()),
        };
        let res: Vec<String> = resources.iter().map(|(r, q)| format!("{r}={q}")).collect();
        let name = format!("local-{}", self.started);
        self.started += 1;
        let child = Command::new(exe)
            .args(args)
            .env(WORKER_ENV, self.addr().to_string())
            .env(NAME_ENV, &name)
            .env(THREADS_ENV, self.threads.to_string())
            .env(SECRET_ENV, &self.secret)
            .env(RESOURCES_ENV, res.join(","))
            .stdin(Stdio::null())
            .spawn()?;
        self.workers.push(Some(child));
        Ok(())
    }

    /// Process ids of the live workers, in start order.
    pub fn pids(&self) -> Vec<u32> {
        self.workers.iter().flatten().map(Child::id).collect()
    }

    /// Kills worker `i` (in start order among those alive) with SIGKILL and
    /// reaps it (for tests of failure).
    pub fn kill_worker(&mut self, i: usize) -> Result<(), Error> {
        let Some(slot) = self.workers.iter_mut().filter(|w| w.is_some()).nth(i) else {
            return Err(Error::Config(format!("no live worker {i}")));
        };
        if let Some(mut child) = slot.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        Ok(())
    }

    /// Waits until `n` workers have joined.
    pub fn wait_for_workers(&self, n: usize, limit: Duration) -> Result<(), Error> {
        let conn = self.connect()?;
        let t0 = Instant::now();
        loop {
            let joined: Option<u64> = conn.get_var("rask:workers")?;
            if joined.unwrap_or(0) as usize >= n {
                return Ok(());
            }
            if t0.elapsed() > limit {
                return Err(Error::Config(format!(
                    "{} of {n} workers joined in {limit:?}",
                    joined.unwrap_or(0)
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for w in self.workers.iter_mut() {
            if let Some(mut child) = w.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        self.scheduler.take();
    }
}
