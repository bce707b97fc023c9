//! Local deployments: a scheduler in this process and worker processes
//! started from the current binary, supervised by a nanny; and [`init`],
//! which turns such a process into a worker.
//!
//! One deployment serves both local executors:
//! - [`Transport::Local`] (`Client::processes`): each worker's scheduler
//!   link is a Unix socket pair inherited on descriptor 3; big values move
//!   as shared memory; the client talks to the scheduler over channels.
//! - [`Transport::Tcp`] (`Client::local_cluster`, [`LocalCluster`]): a
//!   scheduler on loopback TCP with a fresh secret, workers connecting to
//!   it as on a real cluster.
//!
//! # The nanny
//! One thread owns every worker process: it starts them (so the parent-death
//! signal, which Linux ties to the *thread* that forked, fires only when
//! the deployment itself goes), reaps each one that ends (no zombies), tells
//! the scheduler how it ended (so a task's error says "was killed by signal
//! 6 (SIGABRT)"), and starts a replacement with the same name. A worker that
//! keeps dying within a second of starting is not restarted after
//! [`MAX_QUICK_DEATHS`] times in a row (a crash at start-up would otherwise
//! loop for ever); the scheduler's no-workers timeout then fails the tasks
//! that wait for it.
//!
//! A worker process is this executable started again with `RASK_WORKER` in
//! its environment; `rask::init()`, the first line of `main`, sees it, takes
//! the worker's settings out of the environment (so processes that its
//! tasks start do not inherit them) and runs the worker instead of
//! returning.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::local::board::Board;
use crate::scheduler::{Scheduler, SchedulerConfig};
use crate::wire::{Secret, WireConfig, SECRET_ENV};
use crate::worker::{Link, WorkerOptions};
use crate::{Connection, Error};

mod scale;

/// Says a process is a worker: `local` (socket on descriptor 3) or
/// `tcp:ADDRESS`.
pub(crate) const WORKER_ENV: &str = "RASK_WORKER";
pub(crate) const NAME_ENV: &str = "RASK_WORKER_NAME";
pub(crate) const THREADS_ENV: &str = "RASK_WORKER_THREADS";
/// A worker's resources: `gpu=1,ssd=2`.
pub(crate) const RESOURCES_ENV: &str = "RASK_WORKER_RESOURCES";
/// The address a TCP worker's data port binds (default loopback).
pub(crate) const HOST_ENV: &str = "RASK_WORKER_HOST";
/// A worker's memory limit in bytes, declared to the scheduler.
pub(crate) const MEMORY_ENV: &str = "RASK_WORKER_MEMORY";
/// Set: the worker runs supervised, restarted when it crashes
/// (`supervise.rs`).
pub(crate) const RESTART_ENV: &str = "RASK_WORKER_RESTART";
/// The memory settings (`MemoryOptions::to_line`).
pub(crate) const MEMORY_OPTIONS_ENV: &str = "RASK_WORKER_MEMORY_OPTIONS";
/// mimalloc's delay before giving freed memory back (see `spawn`).
const MIMALLOC_PURGE_ENV: &str = "MIMALLOC_PURGE_DELAY";
/// The descriptor on which a local worker finds its scheduler link.
const LINK_FD: i32 = 3;
/// The descriptor on which a deployment's worker finds its started board.
const BOARD_FD: i32 = 4;
/// Set when the worker has a started board on [`BOARD_FD`].
const BOARD_ENV: &str = "RASK_WORKER_BOARD";
/// A worker restarted this many times in a row, each dying within a second
/// of its start, is not restarted again.
pub const MAX_QUICK_DEATHS: u32 = 5;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Call first in `main` (through `rask::init()`): in a worker process that
/// a local deployment started, runs the worker and exits; anywhere else
/// returns at once.
pub fn init() {
    let Some(kind) = std::env::var_os(WORKER_ENV) else {
        return;
    };
    let kind = kind.to_string_lossy().into_owned();
    if std::env::var_os(RESTART_ENV).is_some() {
        // The supervisor: this program again, without the variable, as
        // its child (which serves).
        std::env::remove_var(RESTART_ENV);
        let name = std::env::var(NAME_ENV).unwrap_or_else(|_| "worker".to_owned());
        let code = crate::supervise::supervise(
            || {
                let mut c = Command::new(
                    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe")),
                );
                c.args(std::env::args_os().skip(1));
                c
            },
            &name,
        );
        std::process::exit(code.unwrap_or_else(|e| {
            eprintln!("rask worker supervisor: {e}");
            71
        }));
    }
    let take = |k: &str| {
        let v = std::env::var(k).ok();
        std::env::remove_var(k);
        v
    };
    std::env::remove_var(WORKER_ENV);
    let mut opts = WorkerOptions::new(String::new());
    opts.name = take(NAME_ENV);
    if let Some(t) = take(THREADS_ENV).and_then(|t| t.parse().ok()) {
        opts.threads = t;
    }
    if let Some(r) = take(RESOURCES_ENV) {
        opts.resources = parse_resources(&r);
    }
    if let Some(h) = take(HOST_ENV).and_then(|h| h.parse().ok()) {
        opts.listen_host = h;
    }
    if let Some(m) = take(MEMORY_ENV).and_then(|m| m.parse().ok()) {
        opts.memory = m;
    }
    if let Some(line) = take(MEMORY_OPTIONS_ENV) {
        match crate::MemoryOptions::parse(&line) {
            Ok(o) => opts.memory_options = o,
            Err(e) => {
                eprintln!("rask worker: {MEMORY_OPTIONS_ENV}: {e}");
                std::process::exit(64);
            }
        }
    }
    let board = take(BOARD_ENV).and_then(|_| {
        // SAFETY: the deployment started us with the board on BOARD_FD
        // (see `spawn`); nothing else in this process owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(BOARD_FD) };
        crate::local::board::Board::open(fd, opts.threads.max(1)).ok()
    });
    let link = if kind == "local" {
        // SAFETY: the deployment started us with our end of the socket pair
        // on LINK_FD (see `spawn`); nothing else in this process owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(LINK_FD) };
        Link::Local(UnixStream::from(fd))
    } else if let Some(addr) = kind.strip_prefix("tcp:") {
        opts.scheduler = addr.to_owned();
        if let Some(s) = take(SECRET_ENV) {
            opts.wire = WireConfig::default().with_secret(Secret::new(s));
        }
        #[cfg(feature = "tls")]
        if let Some(files) = crate::wire::TlsFiles::from_env() {
            for k in crate::wire::TLS_VARS {
                std::env::remove_var(k);
            }
            match files.load() {
                Ok(t) => opts.wire.tls = Some(Arc::new(t)),
                Err(e) => {
                    eprintln!("rask worker {}: {e}", std::process::id());
                    std::process::exit(78);
                }
            }
        }
        Link::Tcp
    } else {
        eprintln!("rask worker: RASK_WORKER={kind} is neither `local` nor `tcp:ADDRESS`");
        std::process::exit(64);
    };
    let code = match crate::worker::run(opts, link, board) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rask worker {}: {e}", std::process::id());
            70
        }
    };
    std::process::exit(code);
}

/// The TLS files of a TCP deployment, as its workers' environment: a
/// setting made from PEM bytes cannot be handed to another process.
fn worker_tls_env(opts: &LocalOptions) -> Result<Vec<(&'static str, std::ffi::OsString)>, Error> {
    #[cfg(feature = "tls")]
    if let (Transport::Tcp, Some(tls)) = (opts.transport, &opts.scheduler.wire.tls) {
        let files = tls.files().ok_or_else(|| {
            Error::Config(
                "a local cluster's TLS setting must come from files (TlsFiles, \
                 TlsConfig::from_pem_files), so that its worker processes can read them"
                    .to_owned(),
            )
        })?;
        return Ok(files.env());
    }
    let _ = opts;
    Ok(Vec::new())
}

fn parse_resources(r: &str) -> Vec<(String, f64)> {
    r.split(',')
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k.trim().to_owned(), v.trim().parse().ok()?)))
        .collect()
}

/// How to start a worker: by default the current executable, with no
/// arguments (its `main` must call `rask::init()` first).
#[derive(Clone, Debug)]
pub struct WorkerCommand {
    /// The program.
    pub program: PathBuf,
    /// Its arguments (a test harness needs some, to reach `init`).
    pub args: Vec<OsString>,
}

impl WorkerCommand {
    /// The current executable, no arguments.
    pub fn current_exe() -> io::Result<Self> {
        Ok(WorkerCommand {
            program: std::env::current_exe()?,
            args: Vec::new(),
        })
    }
}

/// How a local deployment's workers talk to its scheduler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// Unix socket pairs and shared memory (`Client::processes`).
    #[default]
    Local,
    /// Loopback TCP with a fresh secret, as a real cluster
    /// (`Client::local_cluster`).
    Tcp,
}

/// Settings of a local deployment.
#[derive(Clone, Debug)]
pub struct LocalOptions {
    /// Worker processes.
    pub workers: usize,
    /// Compute threads per worker.
    pub threads: usize,
    /// How they talk.
    pub transport: Transport,
    /// How to start one (default: this executable, no arguments).
    pub command: Option<WorkerCommand>,
    /// The scheduler's settings (placement, stealing, deaths, timeouts).
    /// Its `wire.tls` (feature `tls`), made from files, puts the whole TCP
    /// deployment under TLS: scheduler, workers' data ports, clients
    /// ([`LocalOptions::with_tls`]).
    pub scheduler: SchedulerConfig,
    /// Replace a worker that dies (default: yes).
    pub restart: bool,
    /// How long the workers may take to join at start (default 20 s).
    pub start_timeout: Duration,
    /// Each worker's memory limit in bytes (0, the default: none); see
    /// `docs/memory.md`.
    pub worker_memory: u64,
    /// The workers' memory thresholds, spill directory and compression.
    pub memory_options: crate::MemoryOptions,
}

impl LocalOptions {
    /// `workers` processes of `threads` threads over `transport`, every
    /// other setting at its default.
    pub fn new(workers: usize, threads: usize, transport: Transport) -> LocalOptions {
        LocalOptions {
            workers,
            threads: threads.max(1),
            transport,
            command: None,
            scheduler: SchedulerConfig::default(),
            restart: true,
            start_timeout: Duration::from_secs(20),
            worker_memory: 0,
            memory_options: crate::MemoryOptions::default(),
        }
    }

    /// The same options with TLS from `files` (which must name all four:
    /// the workers both serve and connect).
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, files: &crate::wire::TlsFiles) -> Result<LocalOptions, Error> {
        self.scheduler.wire.tls = Some(Arc::new(files.load()?));
        Ok(self)
    }
}

/// How each worker process ended, as the nanny saw it (read by the
/// scheduler's connection when a local worker's link closes).
static EXITS: Mutex<Vec<(u32, String)>> = Mutex::new(Vec::new());

/// The started boards of this process's workers: (name, pid, board).
static BOARDS: Mutex<Vec<(String, u32, Arc<Board>)>> = Mutex::new(Vec::new());

/// What the started board of worker `name` (process `pid`, one of this
/// process's) shows, if it has one.
pub(crate) fn board_of(name: &str, pid: u32) -> Option<Vec<crate::proto::Gid>> {
    lock(&BOARDS)
        .iter()
        .rev()
        .find(|(n, p, _)| *p == pid && n == name)
        .map(|(_, _, b)| b.started())
}

/// How process `pid` (a worker of this process) ended, waiting a little
/// for the nanny to reap it; "disconnected" if it is not known.
pub(crate) async fn how_it_ended(pid: u32) -> String {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(500) {
        if let Some((_, how)) = lock(&EXITS).iter().rev().find(|(p, _)| *p == pid) {
            return how.clone();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    "disconnected".to_owned()
}

/// "was killed by signal 9 (SIGKILL)", "exited with status 3".
pub(crate) fn describe(status: &ExitStatus) -> String {
    if let Some(sig) = status.signal() {
        let name = match sig {
            libc::SIGKILL => " (SIGKILL; out of memory, or killed)",
            libc::SIGSEGV => " (SIGSEGV)",
            libc::SIGABRT => " (SIGABRT)",
            libc::SIGBUS => " (SIGBUS)",
            libc::SIGTERM => " (SIGTERM)",
            libc::SIGINT => " (SIGINT)",
            libc::SIGILL => " (SIGILL)",
            libc::SIGFPE => " (SIGFPE)",
            _ => "",
        };
        format!("was killed by signal {sig}{name}")
    } else {
        match status.code() {
            Some(crate::EXIT_MEMORY) => format!(
                "exited with status {} (its memory passed the terminate threshold)",
                crate::EXIT_MEMORY
            ),
            Some(c) => format!("exited with status {c}"),
            None => "ended".to_owned(),
        }
    }
}

/// What the nanny is asked to do.
enum Ask {
    Add(Vec<(String, f64)>, std_mpsc::Sender<io::Result<()>>),
    Kill(usize, std_mpsc::Sender<io::Result<()>>),
    /// These workers are being retired (or, `false`, no longer): when
    /// they end, they stay ended.
    Retire(Vec<String>, bool, std_mpsc::Sender<io::Result<()>>),
}

/// One worker position.
struct Proc {
    name: String,
    resources: Vec<(String, f64)>,
    child: Option<Child>,
    started: Instant,
    crashes: crate::supervise::CrashLoop,
    /// Killed or retired on request: not restarted.
    killed: bool,
}

/// What the nanny shares with the deployment.
#[derive(Default)]
struct Watch {
    pids: Mutex<Vec<u32>>,
    /// Workers running and not being retired.
    active: std::sync::atomic::AtomicUsize,
    restarts: std::sync::atomic::AtomicU64,
}

/// The thread that owns the worker processes (see the module docs).
struct Nanny {
    asks: std_mpsc::Sender<Ask>,
    stop: Arc<AtomicBool>,
    watch: Arc<Watch>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the nanny needs to start a worker.
struct Spawner {
    command: WorkerCommand,
    transport: Transport,
    threads: usize,
    /// `tcp:ADDRESS` workers need it.
    tcp: Option<(String, String)>,
    /// More environment for each worker (the TLS files).
    env: Vec<(&'static str, std::ffi::OsString)>,
    /// Local workers' links go to it.
    scheduler: Arc<Scheduler>,
    /// Each worker's memory limit and settings.
    memory: (u64, crate::MemoryOptions),
}

impl Spawner {
    fn spawn(&self, name: &str, resources: &[(String, f64)]) -> io::Result<Child> {
        let mut cmd = Command::new(&self.command.program);
        let res: Vec<String> = resources.iter().map(|(r, q)| format!("{r}={q}")).collect();
        cmd.args(&self.command.args)
            .env(NAME_ENV, name)
            .env(THREADS_ENV, self.threads.to_string())
            .env(RESOURCES_ENV, res.join(","))
            .env(MEMORY_ENV, self.memory.0.to_string())
            .env(MEMORY_OPTIONS_ENV, self.memory.1.to_line())
            .stdin(Stdio::null());
        if self.memory.0 > 0 && std::env::var_os(MIMALLOC_PURGE_ENV).is_none() {
            // Freed memory goes back at once (`worker/memory.rs`, rule 4).
            cmd.env(MIMALLOC_PURGE_ENV, "0");
        }
        // SAFETY: getpid is always safe.
        let parent = unsafe { libc::getpid() };
        let theirs = match self.transport {
            Transport::Local => {
                cmd.env(WORKER_ENV, "local");
                let (ours, theirs) = UnixStream::pair()?;
                Some((ours, theirs))
            }
            Transport::Tcp => {
                let (addr, secret) = self.tcp.clone().unwrap_or_default();
                cmd.env(WORKER_ENV, format!("tcp:{addr}"))
                    .env(SECRET_ENV, secret)
                    .envs(self.env.iter().cloned());
                None
            }
        };
        let their_fd = theirs.as_ref().map(|(_, t)| t.as_raw_fd());
        let board = Arc::new(Board::create(self.threads)?);
        let board_fd = board.fd().as_raw_fd();
        cmd.env(BOARD_ENV, "1");
        // SAFETY: the closure runs in the child between fork and exec and
        // only calls async-signal-safe functions (fcntl, dup2, prctl,
        // getppid, _exit).
        unsafe {
            cmd.pre_exec(move || {
                // Copies above the two targets first, so that neither
                // target clobbers the other's source; dup2 then clears
                // close-on-exec on the targets only.
                let link = match their_fd {
                    Some(fd) => {
                        let l = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10);
                        if l < 0 {
                            return Err(io::Error::last_os_error());
                        }
                        Some(l)
                    }
                    None => None,
                };
                let b = libc::fcntl(board_fd, libc::F_DUPFD_CLOEXEC, 10);
                if b < 0 {
                    return Err(io::Error::last_os_error());
                }
                if let Some(l) = link {
                    if libc::dup2(l, LINK_FD) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                if libc::dup2(b, BOARD_FD) < 0 {
                    return Err(io::Error::last_os_error());
                }
                // Die with the deployment, whatever ends it (Ctrl-C included):
                // the nanny thread forked us and lives as long as it does.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    libc::_exit(0); // the deployment died before we could ask
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        {
            let mut boards = lock(&BOARDS);
            if boards.len() > 4096 {
                boards.drain(..2048);
            }
            boards.push((name.to_owned(), child.id(), board));
        }
        if let Some((ours, theirs)) = theirs {
            drop(theirs);
            self.scheduler.attach_worker(ours);
        }
        Ok(child)
    }
}

impl Nanny {
    fn start(spawner: Spawner, names: Vec<String>, restart: bool) -> io::Result<Nanny> {
        let (asks, rx) = std_mpsc::channel::<Ask>();
        let stop = Arc::new(AtomicBool::new(false));
        let watch = Arc::new(Watch::default());
        let (ready_tx, ready_rx) = std_mpsc::channel::<io::Result<()>>();
        let (stop2, watch2) = (stop.clone(), watch.clone());
        let thread = std::thread::Builder::new()
            .name("rask-nanny".into())
            .spawn(move || {
                let mut procs: Vec<Proc> = Vec::new();
                let mut first = Ok(());
                for name in names {
                    match spawner.spawn(&name, &[]) {
                        Ok(child) => procs.push(Proc {
                            name,
                            resources: Vec::new(),
                            child: Some(child),
                            started: Instant::now(),
                            crashes: Default::default(),
                            killed: false,
                        }),
                        Err(e) => {
                            first = Err(e);
                            break;
                        }
                    }
                }
                let failed = first.is_err();
                let _ = ready_tx.send(first);
                if failed {
                    reap_all(&mut procs);
                    return;
                }
                nanny_loop(&spawner, &mut procs, &rx, &stop2, &watch2, restart);
                reap_all(&mut procs);
                // Killed workers leave their spill directories (GiBs).
                if spawner.memory.0 > 0 {
                    let parent = spawner.memory.1.spill_dir.clone();
                    crate::worker::spill::remove_orphans(
                        &parent.unwrap_or_else(std::env::temp_dir),
                    );
                }
                lock(&watch2.pids).clear();
            })?;
        let nanny = Nanny {
            asks,
            stop,
            watch,
            thread: Some(thread),
        };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(nanny),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other("the nanny thread ended at start")),
        }
    }

    fn ask(&self, make: impl FnOnce(std_mpsc::Sender<io::Result<()>>) -> Ask) -> io::Result<()> {
        let (tx, rx) = std_mpsc::channel();
        self.asks
            .send(make(tx))
            .map_err(|_| io::Error::other("the nanny is gone"))?;
        rx.recv()
            .unwrap_or_else(|_| Err(io::Error::other("the nanny is gone")))
    }
}

fn reap_all(procs: &mut [Proc]) {
    for p in procs.iter_mut() {
        if let Some(mut c) = p.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn nanny_loop(
    spawner: &Spawner,
    procs: &mut Vec<Proc>,
    asks: &std_mpsc::Receiver<Ask>,
    stop: &AtomicBool,
    watch: &Watch,
    restart: bool,
) {
    let mut names_used = procs.len();
    loop {
        *lock(&watch.pids) = procs
            .iter()
            .filter_map(|p| p.child.as_ref().map(Child::id))
            .collect();
        let active = procs
            .iter()
            .filter(|p| p.child.is_some() && !p.killed)
            .count();
        watch.active.store(active, Ordering::SeqCst);
        match asks.recv_timeout(Duration::from_millis(10)) {
            Ok(Ask::Add(resources, reply)) => {
                let name = format!("local-{names_used}");
                names_used += 1;
                let r = spawner.spawn(&name, &resources).map(|child| {
                    procs.push(Proc {
                        name,
                        resources,
                        child: Some(child),
                        started: Instant::now(),
                        crashes: Default::default(),
                        killed: false,
                    });
                });
                let _ = reply.send(r);
                continue;
            }
            Ok(Ask::Kill(i, reply)) => {
                let alive: Vec<usize> = (0..procs.len())
                    .filter(|&j| procs[j].child.is_some())
                    .collect();
                let r = match alive.get(i) {
                    Some(&j) => {
                        procs[j].killed = true;
                        if let Some(c) = procs[j].child.as_mut() {
                            let _ = c.kill();
                        }
                        Ok(())
                    }
                    None => Err(io::Error::other(format!("no live worker {i}"))),
                };
                let _ = reply.send(r);
            }
            Ok(Ask::Retire(names, retiring, reply)) => {
                for p in procs.iter_mut().filter(|p| names.contains(&p.name)) {
                    p.killed = retiring;
                }
                let _ = reply.send(Ok(()));
                continue;
            }
            Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
        }
        if stop.load(Ordering::SeqCst) {
            return;
        }
        for p in procs.iter_mut() {
            let Some(child) = p.child.as_mut() else {
                continue;
            };
            let status = match child.try_wait() {
                Ok(Some(s)) => s,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(worker = %p.name, error = %e, "cannot wait for a worker");
                    continue;
                }
            };
            let pid = child.id();
            let how = describe(&status);
            p.child = None;
            {
                let mut exits = lock(&EXITS);
                if exits.len() > 4096 {
                    exits.drain(..2048);
                }
                exits.push((pid, how.clone()));
            }
            // The scheduler forgets the dead worker before a new one, of
            // the same name, can join (events reach it in order).
            let started = board_of(&p.name, pid).unwrap_or_default();
            spawner.scheduler.worker_exited(&p.name, pid, &how, started);
            if p.killed || !restart || stop.load(Ordering::SeqCst) {
                tracing::info!(worker = %p.name, pid, %how, "worker ended");
                continue;
            }
            if !p.crashes.may_restart(p.started.elapsed()) {
                tracing::error!(
                    worker = %p.name, pid, %how,
                    "worker died {} times within a second of starting; not restarting it",
                    p.crashes.quick_deaths()
                );
                continue;
            }
            tracing::warn!(worker = %p.name, pid, %how, "worker died; starting a new one");
            match spawner.spawn(&p.name, &p.resources) {
                Ok(c) => {
                    p.child = Some(c);
                    p.started = Instant::now();
                    watch.restarts.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => tracing::error!(worker = %p.name, error = %e, "cannot restart a worker"),
            }
        }
    }
}

impl Drop for Nanny {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A scheduler in this process and local worker processes, supervised.
pub struct LocalCluster {
    // Field order is drop order: adaptive scaling and the client side
    // first, then the workers, then the scheduler.
    adaptive: Mutex<Option<crate::adaptive::Adaptive>>,
    nanny: Nanny,
    scheduler: Arc<Scheduler>,
    secret: Option<String>,
    opts: LocalOptions,
}

impl std::fmt::Debug for LocalCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCluster")
            .field("transport", &self.opts.transport)
            .field("workers", &self.opts.workers)
            .field("threads", &self.opts.threads)
            .finish()
    }
}

impl LocalCluster {
    /// Starts a scheduler on loopback TCP and `workers` processes with
    /// `threads` compute threads each; waits until they have joined.
    pub fn new(workers: usize, threads: usize) -> Result<LocalCluster, Error> {
        Self::start(LocalOptions::new(workers, threads, Transport::Tcp))
    }

    /// As [`LocalCluster::new`], with scheduler settings (its secret is
    /// replaced by a fresh random one shared with the workers).
    pub fn with_config(
        workers: usize,
        threads: usize,
        cfg: SchedulerConfig,
    ) -> Result<LocalCluster, Error> {
        let mut o = LocalOptions::new(workers, threads, Transport::Tcp);
        o.scheduler = cfg;
        Self::start(o)
    }

    /// Starts a deployment with any settings.
    pub fn start(opts: LocalOptions) -> Result<LocalCluster, Error> {
        if std::env::var_os(WORKER_ENV).is_some() {
            return Err(Error::Config(
                "this process is a rask worker, but its main did not call rask::init() first"
                    .to_owned(),
            ));
        }
        let command = match &opts.command {
            Some(c) => c.clone(),
            None => WorkerCommand::current_exe()?,
        };
        let mut cfg = opts.scheduler.clone();
        let (scheduler, secret) = match opts.transport {
            Transport::Tcp => {
                let secret = crate::wire::secret::random_hex(32)?;
                cfg.wire = WireConfig {
                    secret: Some(Arc::new(Secret::new(secret.clone()))),
                    ..cfg.wire
                };
                (Scheduler::start(cfg)?, Some(secret))
            }
            Transport::Local => (Scheduler::start_local(cfg)?, None),
        };
        let scheduler = Arc::new(scheduler);
        let env = worker_tls_env(&opts)?;
        let spawner = Spawner {
            env,
            command,
            transport: opts.transport,
            threads: opts.threads,
            tcp: secret.clone().map(|s| (scheduler.addr().to_string(), s)),
            scheduler: scheduler.clone(),
            memory: (opts.worker_memory, opts.memory_options.clone()),
        };
        let names = (0..opts.workers).map(|i| format!("local-{i}")).collect();
        let nanny = Nanny::start(spawner, names, opts.restart)?;
        let c = LocalCluster {
            adaptive: Mutex::new(None),
            nanny,
            scheduler,
            secret,
            opts,
        };
        c.wait_for_workers(c.opts.workers, c.opts.start_timeout)?;
        Ok(c)
    }

    /// The settings.
    pub fn options(&self) -> &LocalOptions {
        &self.opts
    }

    /// The scheduler's address (`127.0.0.1:0` for a local transport).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.scheduler.addr()
    }

    /// The wire settings a client of this cluster needs (its secret, and
    /// its TLS settings if it has any).
    pub fn wire(&self) -> WireConfig {
        let w = WireConfig {
            #[cfg(feature = "tls")]
            tls: self.opts.scheduler.wire.tls.clone(),
            ..WireConfig::default()
        };
        match &self.secret {
            Some(s) => w.with_secret(Secret::new(s.clone())),
            None => w,
        }
    }

    /// A connection to the cluster (over TCP for a TCP deployment, over
    /// channels for a local one).
    pub fn connect(&self) -> Result<Connection, Error> {
        match self.opts.transport {
            Transport::Tcp => Connection::connect(&self.addr().to_string(), self.wire()),
            Transport::Local => Connection::local(self.scheduler.local_client()?, self.wire()),
        }
    }

    /// Starts one more worker process.
    pub fn add_worker(&mut self) -> Result<(), Error> {
        self.add_worker_with(&[])
    }

    /// Starts one more worker process declaring `resources`
    /// (`&[("gpu", 1.0)]`); it is named `local-N`, N counting from 0 in
    /// start order.
    pub fn add_worker_with(&mut self, resources: &[(&str, f64)]) -> Result<(), Error> {
        let res = resources
            .iter()
            .map(|(r, q)| ((*r).to_owned(), *q))
            .collect();
        self.nanny.ask(|tx| Ask::Add(res, tx)).map_err(Error::Io)
    }

    /// Process ids of the live workers, in start order.
    pub fn pids(&self) -> Vec<u32> {
        lock(&self.nanny.watch.pids).clone()
    }

    /// How many times the nanny replaced a worker that died.
    pub fn restarts(&self) -> u64 {
        self.nanny.watch.restarts.load(Ordering::Relaxed)
    }

    /// Kills worker `i` (in start order among those alive) with SIGKILL; it
    /// is not replaced (for tests of failure).
    pub fn kill_worker(&mut self, i: usize) -> Result<(), Error> {
        self.nanny.ask(|tx| Ask::Kill(i, tx)).map_err(Error::Io)
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
                    "{} of {n} workers joined in {limit:?} (does main call rask::init() first?)",
                    joined.unwrap_or(0)
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
