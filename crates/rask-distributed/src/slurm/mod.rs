//! A Slurm deployment, as dask-jobqueue's `SLURMCluster`: a scheduler in
//! this process, and workers submitted as Slurm batch jobs, one worker
//! per job ([`SlurmCluster`]).
//!
//! 1. Start: a fresh secret in a file of mode 0600 under `dir` (by default
//!    `~/.rask/slurm/ID`: compute nodes must see it, as they see home
//!    directories), the scheduler on `listen`, the job script
//!    `dir/worker.sbatch` (`script.rs`), then `jobs` jobs.
//! 2. A job's worker is named `slurm-JOBID`: the scheduler's workers map
//!    to jobs. It runs supervised (`restart`): a crash restarts it inside
//!    its job, with the nanny's crash-loop limit (`supervise.rs`).
//! 3. [`SlurmCluster::scale`] submits jobs or drops them: jobs whose worker
//!    has not joined (pending, or starting) are cancelled first; then
//!    joined workers are retired (their values are copied to the others:
//!    nothing is computed again) and their jobs cancelled.
//! 4. [`SlurmCluster::adapt`] does the same by the work in hand
//!    (`crate::adaptive`), dropping idle workers only.
//! 5. A job that ends by itself (its walltime, a node failure) is noticed
//!    at the next look (`squeue`) and no longer counted; under `adapt` it
//!    is replaced.
//! 6. Dropping the deployment cancels every job it submitted, then stops
//!    the scheduler, and removes the secret file (the logs stay in `dir`).

mod cmd;
mod script;

pub use cmd::{JobId, JobState, SlurmError};

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::adaptive::{AdaptOptions, Adaptive, Scale};
use crate::core::{ClusterReport, CoreConfig};
use crate::wire::{Secret, WireConfig};
use crate::{Connection, Error, Scheduler, SchedulerConfig};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Settings of a Slurm deployment (the names are dask-jobqueue's).
#[derive(Clone, Debug)]
pub struct SlurmOptions {
    /// The worker program: one whose `main` calls `rask::init()` first (the
    /// `rask` binary, or your own with its `#[rask::task]` functions), at a
    /// path the compute nodes see.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Cores per job (`--cpus-per-task`), and the worker's threads.
    pub cores: u32,
    /// Memory per job in bytes (`--mem`), and the worker's declared limit.
    pub memory: Option<u64>,
    /// The worker's memory thresholds, spill directory and compression
    /// (`docs/memory.md`), carried to it in the job script.
    pub memory_options: crate::MemoryOptions,
    /// Time limit per job (`--time`, `HH:MM:SS` or any form Slurm takes).
    pub walltime: Option<String>,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--job-name` (default `rask-worker`).
    pub job_name: String,
    /// More `#SBATCH` directives (`--gres=gpu:1`, `--constraint=avx2`).
    pub job_extra: Vec<String>,
    /// Shell lines run before the worker (`module load ...`).
    pub prologue: Vec<String>,
    /// Named resources each worker declares (`("gpu", 1.0)`).
    pub resources: Vec<(String, f64)>,
    /// Restart a worker that crashes, inside its job (default: yes).
    pub restart: bool,
    /// Where the scheduler listens (default: every interface, any port).
    pub listen: SocketAddr,
    /// The host name or address workers and clients reach the scheduler at
    /// (default: this machine's host name).
    pub address: Option<String>,
    /// The address a worker's data port binds on its node (default: the
    /// node's first address, `hostname -I`).
    pub worker_host: Option<IpAddr>,
    /// Where the secret, the job script and the job logs go (default
    /// `~/.rask/slurm/ID`).
    pub dir: Option<PathBuf>,
    /// Where `sbatch`, `squeue` and `scancel` are (default: `PATH`).
    pub slurm_bin: Option<PathBuf>,
    /// The scheduler's placement, stealing, failure limits.
    pub core: CoreConfig,
    /// Jobs to submit at start.
    pub jobs: usize,
    /// How long [`SlurmCluster::start`] waits for the first jobs' workers
    /// to join (`None`: it does not wait; a queue can be long).
    pub start_timeout: Option<Duration>,
}

impl SlurmOptions {
    /// Workers running `program`, one core each, no other limit.
    pub fn new(program: impl Into<PathBuf>) -> SlurmOptions {
        SlurmOptions {
            program: program.into(),
            args: Vec::new(),
            cores: 1,
            memory: None,
            memory_options: crate::MemoryOptions::default(),
            walltime: None,
            partition: None,
            account: None,
            job_name: "rask-worker".to_owned(),
            job_extra: Vec::new(),
            prologue: Vec::new(),
            resources: Vec::new(),
            restart: true,
            listen: SocketAddr::from(([0, 0, 0, 0], 0)),
            address: None,
            worker_host: None,
            dir: None,
            slurm_bin: None,
            core: CoreConfig::default(),
            jobs: 0,
            start_timeout: None,
        }
    }

    /// Workers running this executable (which must call `rask::init()`
    /// first).
    pub fn current_exe() -> std::io::Result<SlurmOptions> {
        Ok(Self::new(std::env::current_exe()?))
    }
}

/// A job this deployment submitted.
#[derive(Clone, Copy, Debug)]
struct Job {
    id: JobId,
    /// Being cancelled or retired: no longer counted.
    dropping: bool,
}

/// What the deployment and its adaptive thread share.
struct Inner {
    slurm: cmd::Slurm,
    script: PathBuf,
    jobs: Mutex<Vec<Job>>,
    conn: Connection,
    size: (u32, u64),
}

/// How long retiring workers may take before it is reported as failed.
const RETIRE_TIMEOUT: Duration = Duration::from_secs(300);

fn worker_name(id: JobId) -> String {
    format!("slurm-{id}")
}

impl Inner {
    /// Forgets the jobs Slurm no longer lists; the states of the others.
    fn refresh(&self) -> Result<Vec<(Job, JobState)>, Error> {
        let ids: Vec<JobId> = lock(&self.jobs).iter().map(|j| j.id).collect();
        let states = self.slurm.states(&ids)?;
        let mut jobs = lock(&self.jobs);
        jobs.retain(|j| states.contains_key(&j.id));
        Ok(jobs
            .iter()
            .filter_map(|j| states.get(&j.id).map(|s| (*j, s.clone())))
            .collect())
    }

    fn submit(&self, n: usize) -> Result<(), Error> {
        for _ in 0..n {
            let id = self.slurm.submit(&self.script)?;
            tracing::info!(job = %id, "submitted a worker job");
            lock(&self.jobs).push(Job {
                id,
                dropping: false,
            });
        }
        Ok(())
    }

    fn mark(&self, ids: &[JobId]) {
        for j in lock(&self.jobs).iter_mut() {
            if ids.contains(&j.id) {
                j.dropping = true;
            }
        }
    }

    /// Drops `n` jobs (rule 3): those without a joined worker first, then
    /// the workers named in `order`, retired.
    fn drop_jobs(&self, n: usize, order: &[String]) -> Result<(), Error> {
        let jobs = self.refresh()?;
        let report = self.conn.cluster_report()?;
        let joined = |id: JobId| report.workers.iter().any(|w| w.name == worker_name(id));
        let live: Vec<(Job, JobState)> = jobs.into_iter().filter(|(j, _)| !j.dropping).collect();
        let mut unjoined: Vec<&(Job, JobState)> =
            live.iter().filter(|(j, _)| !joined(j.id)).collect();
        // Pending ones first, newest first.
        unjoined.sort_by_key(|(j, s)| (!s.pending(), std::cmp::Reverse(j.id)));
        let cancel: Vec<JobId> = unjoined.iter().take(n).map(|(j, _)| j.id).collect();
        self.mark(&cancel);
        self.slurm.cancel(&cancel)?;
        let left = n - cancel.len();
        if left == 0 {
            return Ok(());
        }
        let retire: Vec<JobId> = order
            .iter()
            .filter_map(|name| {
                live.iter()
                    .map(|(j, _)| j.id)
                    .find(|&id| &worker_name(id) == name)
            })
            .take(left)
            .collect();
        if retire.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = retire.iter().map(|&id| worker_name(id)).collect();
        self.mark(&retire);
        let r = self.conn.retire_workers(&names, RETIRE_TIMEOUT);
        // Retired workers exit by themselves, ending their jobs; the cancel
        // makes sure (and ends those a failed retirement left running).
        self.slurm.cancel(&retire)?;
        r
    }
}

impl Scale for Inner {
    fn report(&self) -> Result<ClusterReport, Error> {
        self.conn.cluster_report()
    }
    fn requested(&self) -> usize {
        if let Err(e) = self.refresh() {
            tracing::warn!(error = %e, "cannot list the worker jobs");
        }
        lock(&self.jobs).iter().filter(|j| !j.dropping).count()
    }
    fn worker_size(&self) -> (u32, u64) {
        self.size
    }
    fn scale_up(&self, n: usize) -> Result<(), Error> {
        self.submit(n)
    }
    fn scale_down(&self, n: usize, idle: &[String]) -> Result<(), Error> {
        self.drop_jobs(n, idle)
    }
}

/// A scheduler here and workers in Slurm jobs (see the module docs).
pub struct SlurmCluster {
    // Field order is drop order; `Drop` cancels the jobs first.
    adaptive: Mutex<Option<Adaptive>>,
    inner: Arc<Inner>,
    scheduler: Option<Scheduler>,
    address: String,
    secret: String,
    dir: PathBuf,
    script_text: String,
}

impl std::fmt::Debug for SlurmCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlurmCluster")
            .field("address", &self.address)
            .field("dir", &self.dir)
            .finish()
    }
}

/// This machine's host name.
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the live buffer.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    if r == 0 && end > 0 {
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "localhost".to_owned()
    }
}

/// Writes `text` to `path` readable by its owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

impl SlurmCluster {
    /// Starts the scheduler, writes the secret and the job script, submits
    /// `opts.jobs` jobs and, with `opts.start_timeout`, waits for their
    /// workers.
    pub fn start(opts: SlurmOptions) -> Result<SlurmCluster, Error> {
        let mut raw = [0u8; 16];
        getrandom::getrandom(&mut raw).map_err(|e| Error::Config(e.to_string()))?;
        let secret: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let dir = match &opts.dir {
            Some(d) => d.clone(),
            None => {
                let home = std::env::var_os("HOME").ok_or_else(|| {
                    Error::Config("HOME is not set: give SlurmOptions::dir".to_owned())
                })?;
                PathBuf::from(home).join(".rask/slurm").join(format!(
                    "{}-{}",
                    std::process::id(),
                    &secret[..8]
                ))
            }
        };
        std::fs::create_dir_all(&dir)?;
        let secret_file = dir.join("secret");
        write_private(&secret_file, &secret)?;
        let wire = WireConfig::default().with_secret(Secret::new(secret.clone()));
        let scheduler = Scheduler::start(SchedulerConfig {
            listen: opts.listen,
            wire: wire.clone(),
            core: opts.core.clone(),
            ..SchedulerConfig::default()
        })?;
        let port = scheduler.addr().port();
        let host = opts.address.clone().unwrap_or_else(host_name);
        let address = format!("{host}:{port}");
        let script_text = script::job_script(&opts, &address, &secret_file, &dir);
        let script = dir.join("worker.sbatch");
        std::fs::write(&script, &script_text)?;
        // Our own connection goes to the port directly.
        let local = if scheduler.addr().ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], port))
        } else {
            scheduler.addr()
        };
        let conn = Connection::connect(&local.to_string(), wire)?;
        let inner = Arc::new(Inner {
            slurm: cmd::Slurm {
                bin: opts.slurm_bin.clone(),
            },
            script,
            jobs: Mutex::new(Vec::new()),
            conn,
            size: (opts.cores.max(1), opts.memory.unwrap_or(0)),
        });
        let c = SlurmCluster {
            adaptive: Mutex::new(None),
            inner,
            scheduler: Some(scheduler),
            address,
            secret,
            dir,
            script_text,
        };
        tracing::info!(address = %c.address, dir = %c.dir.display(), "slurm deployment started");
        c.inner.submit(opts.jobs)?;
        if let Some(limit) = opts.start_timeout {
            c.wait_for_workers(opts.jobs, limit)?;
        }
        Ok(c)
    }

    /// The scheduler's address for workers and clients (`host:port`).
    pub fn addr(&self) -> &str {
        &self.address
    }

    /// The wire settings a client needs (the secret).
    pub fn wire(&self) -> WireConfig {
        WireConfig::default().with_secret(Secret::new(self.secret.clone()))
    }

    /// The file holding the secret (for clients elsewhere:
    /// `RASK_SECRET=$(cat FILE)`).
    pub fn secret_file(&self) -> PathBuf {
        self.dir.join("secret")
    }

    /// Where the job script and the job logs are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The job script every worker job runs.
    pub fn job_script(&self) -> &str {
        &self.script_text
    }

    /// A new connection to the scheduler.
    pub fn connect(&self) -> Result<Connection, Error> {
        let port = self.scheduler.as_ref().map_or(0, |s| s.addr().port());
        Connection::connect(&format!("127.0.0.1:{port}"), self.wire())
    }

    /// What the scheduler reports: workers, work in hand, workers wanted.
    pub fn report(&self) -> Result<ClusterReport, Error> {
        self.inner.conn.cluster_report()
    }

    /// The jobs submitted and still listed by Slurm, not being dropped,
    /// with their states.
    pub fn jobs(&self) -> Result<Vec<(JobId, JobState)>, Error> {
        Ok(self
            .inner
            .refresh()?
            .into_iter()
            .filter(|(j, _)| !j.dropping)
            .map(|(j, s)| (j.id, s))
            .collect())
    }

    /// Submits or drops jobs until `n` are asked for (rule 3 of the module
    /// docs); waits for retirements, not for new jobs to start.
    pub fn scale(&self, n: usize) -> Result<(), Error> {
        crate::adaptive::scale_to(&*self.inner, n)
    }

    /// Adapts the number of jobs to the work in hand, between
    /// `opts.minimum` and `opts.maximum`, until
    /// [`SlurmCluster::stop_adapting`] or the deployment is dropped.
    pub fn adapt(&self, opts: AdaptOptions) -> Result<(), Error> {
        let a = Adaptive::start(self.inner.clone(), opts)?;
        *lock(&self.adaptive) = Some(a);
        Ok(())
    }

    /// Stops adaptive scaling (the jobs stay as they are).
    pub fn stop_adapting(&self) {
        lock(&self.adaptive).take();
    }

    /// Waits until `n` workers have joined.
    pub fn wait_for_workers(&self, n: usize, limit: Duration) -> Result<(), Error> {
        let t0 = Instant::now();
        loop {
            let r = self.report()?;
            if r.active() >= n {
                return Ok(());
            }
            if t0.elapsed() > limit {
                let jobs = self.jobs()?;
                let states: Vec<String> =
                    jobs.iter().map(|(j, s)| format!("{j}: {}", s.0)).collect();
                return Err(Error::Scale(format!(
                    "{} of {n} workers joined in {limit:?} (jobs: {}; logs in {})",
                    r.active(),
                    states.join(", "),
                    self.dir.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Cancels every job, stops the scheduler and removes the secret file;
    /// as dropping, with the errors.
    pub fn close(mut self) -> Result<(), Error> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), Error> {
        lock(&self.adaptive).take();
        let ids: Vec<JobId> = std::mem::take(&mut *lock(&self.inner.jobs))
            .into_iter()
            .map(|j| j.id)
            .collect();
        let r = self.inner.slurm.cancel(&ids);
        self.scheduler.take();
        let _ = std::fs::remove_file(self.secret_file());
        r.map_err(Error::from)
    }
}

impl Drop for SlurmCluster {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::warn!(error = %e, "cancelling the worker jobs");
        }
    }
}
