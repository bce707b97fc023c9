//! The scheduler server: the [`Core`] behind connections.
//!
//! One thread runs a single-threaded tokio runtime: an accept loop (for a
//! scheduler on TCP), a reader and a writer task per connection, a ticker,
//! and the core loop. Readers turn frames into [`Event`]s on one channel;
//! the core loop takes every event that is waiting, feeds the core, and
//! hands each connection its messages as one batch (one frame).
//!
//! Connections come three ways, all served by the same code:
//! - TCP (`rask scheduler`, `LocalCluster`), after the handshake;
//! - a local worker's Unix socket pair ([`Scheduler::attach_worker`]): the
//!   pair is private to the two processes, so there is no handshake;
//! - a client in this process ([`Scheduler::local_client`]): messages go
//!   over channels as they are, never encoded.
//!
//! A scheduler on TCP always asks for a secret: given none, it makes one
//! and writes it to a file only its user can read
//! ([`crate::wire::secret_file`]), where clients and workers of that user
//! on this machine find it.
//!
//! Bursts: the listen backlog is [`crate::wire::handshake::LISTEN_BACKLOG`],
//! each accepted connection's handshake runs in a task of its own (the
//! accept loop never waits on one), and a scheduler on TCP raises its soft
//! limit on descriptors to the hard one. 1,000 clients connecting at once,
//! each with a graph, are all served (`crates/rask/tests/load.rs`).
//!
//! A worker that sends nothing (not even a heartbeat) for
//! `heartbeat_timeout` is dropped as if it had disconnected. A peer that
//! breaks the protocol (garbage, a frame over the limit, a message for a task
//! that does not exist, the wrong first message) is logged and disconnected;
//! everyone else keeps being served.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask_core::Subscriber;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::core::{ClientIx, Core, CoreConfig, Outbox, WorkerIx};
use crate::observe::Observer;
use crate::proto::{FromClient, FromWorker, Gid, ToClient, ToWorker, WorkerInfo};
use crate::wire::secret::SecretFile;
use crate::wire::{
    accept_next, accept_tcp, listen, BoxRead, BoxWrite, FrameReader, FrameWriter, Role, Secret,
    WireConfig,
};
use crate::Error;

/// Settings of a scheduler.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    /// Secret, frame limit, handshake timeout. Without a secret the
    /// scheduler makes one and writes it to [`crate::wire::secret_file`].
    pub wire: WireConfig,
    /// Placement, stealing, failure limits.
    pub core: CoreConfig,
    /// A worker silent this long is removed (workers heartbeat every
    /// second by default).
    pub heartbeat_timeout: Duration,
    /// Where the scheduler's task stream goes (every task of every client,
    /// `observe.rs`): `rask scheduler --dashboard` puts a recorder here.
    pub observer: Option<TaskStream>,
}

/// A subscriber for the scheduler's task stream ([`SchedulerConfig::observer`]).
#[derive(Clone)]
pub struct TaskStream(pub Arc<dyn Subscriber>);

impl std::fmt::Debug for TaskStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TaskStream(..)")
    }
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            wire: WireConfig::default(),
            core: CoreConfig::default(),
            heartbeat_timeout: Duration::from_secs(10),
            observer: None,
        }
    }
}

pub(crate) enum Event {
    Client(ClientIx, Vec<FromClient>),
    Worker(WorkerIx, Vec<FromWorker>),
    ClientJoined(mpsc::UnboundedSender<Vec<ToClient>>, Reply<ClientIx>),
    WorkerJoined(
        WorkerInfo,
        mpsc::UnboundedSender<Vec<ToWorker>>,
        oneshot::Sender<Result<WorkerIx, String>>,
    ),
    ClientGone(ClientIx),
    /// A worker's connection ended: why, and the tasks its started board
    /// shows (a local deployment's worker).
    WorkerGone(WorkerIx, String, Option<Vec<Gid>>),
    /// A local worker's end of a socket pair.
    Attach(std::os::unix::net::UnixStream),
    /// A worker process of this deployment ended (name, pid, how, the
    /// tasks its started board shows).
    Exited(String, u32, String, Vec<Gid>),
    Tick,
}

/// Where an answer goes: a task of the scheduler's runtime, or a thread.
pub(crate) enum Reply<T> {
    Async(oneshot::Sender<T>),
    Blocking(std::sync::mpsc::Sender<T>),
}

impl<T> Reply<T> {
    fn send(self, v: T) {
        let _ = match self {
            Reply::Async(tx) => tx.send(v).map_err(|_| ()),
            Reply::Blocking(tx) => tx.send(v).map_err(|_| ()),
        };
    }
}

/// A client in the scheduler's process: its number, the way in, and the
/// way out.
pub(crate) struct LocalClient {
    pub(crate) ix: ClientIx,
    pub(crate) tx: mpsc::UnboundedSender<Event>,
    pub(crate) rx: mpsc::UnboundedReceiver<Vec<ToClient>>,
}

/// A running scheduler; stops when dropped.
#[derive(Debug)]
pub struct Scheduler {
    addr: Option<SocketAddr>,
    tx: mpsc::UnboundedSender<Event>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The file holding the secret it made (removed when it stops).
    secret_file: Option<SecretFile>,
    /// The token of its HTTP endpoints ([`Secret::http_token`]).
    http_token: Option<String>,
}

impl Scheduler {
    /// Binds `cfg.listen` and starts serving on a thread of its own.
    pub fn start(cfg: SchedulerConfig) -> Result<Scheduler, Error> {
        Self::spawn(cfg, true)
    }

    /// Starts a scheduler that listens on no port: only local workers
    /// ([`attach_worker`](Self::attach_worker)) and clients in this process
    /// reach it.
    pub fn start_local(cfg: SchedulerConfig) -> Result<Scheduler, Error> {
        Self::spawn(cfg, false)
    }

    fn spawn(mut cfg: SchedulerConfig, tcp: bool) -> Result<Scheduler, Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let made = match (tcp, &cfg.wire.secret) {
            (true, None) => {
                let s = Secret::generate()?;
                cfg.wire = cfg.wire.with_secret(s.clone());
                Some(s)
            }
            _ => None,
        };
        let listener = if tcp {
            raise_descriptor_limit();
            Some(rt.block_on(listen(cfg.listen, &cfg.wire))?)
        } else {
            None
        };
        let addr = match &listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        let secret_file = match (made, addr) {
            (Some(s), Some(a)) => Some(SecretFile::write(&s, a.port()).map_err(|e| {
                Error::Config(format!(
                    "the scheduler on {a} has no secret (RASK_SECRET) and cannot keep the one \
                     it made in {}: {e}",
                    crate::wire::secret_file(a.port()).display()
                ))
            })?),
            (None, Some(a)) => {
                // This scheduler holds the port now, so a file for it was
                // left by one that died without removing it: a client
                // would read a secret that no longer opens anything.
                let stale = crate::wire::secret_file(a.port());
                if std::fs::remove_file(&stale).is_ok() {
                    tracing::info!(file = %stale.display(), "removed a secret file left by a scheduler that is gone");
                }
                None
            }
            _ => None,
        };
        if let Some(f) = &secret_file {
            tracing::info!(file = %f.0.display(), "no secret given: made one, readable only by this user there");
        }
        let http_token = cfg.wire.secret.as_ref().map(|s| s.http_token());
        let (tx, rx) = mpsc::unbounded_channel::<Event>();
        let (stop_tx, stop_rx) = oneshot::channel();
        let serve_tx = tx.clone();
        let thread = std::thread::Builder::new()
            .name("rask-scheduler".into())
            .spawn(move || {
                rt.block_on(serve(listener, cfg, serve_tx, rx, stop_rx));
            })?;
        if let Some(addr) = addr {
            tracing::info!(%addr, "scheduler listening");
        }
        Ok(Scheduler {
            addr,
            tx,
            stop: Some(stop_tx),
            thread: Some(thread),
            secret_file,
            http_token,
        })
    }

    /// The address it listens on (`127.0.0.1:0` for a local scheduler).
    pub fn addr(&self) -> SocketAddr {
        self.addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The file holding the secret this scheduler made (none when it was
    /// given one, or listens on no port).
    pub fn secret_file(&self) -> Option<&std::path::Path> {
        self.secret_file.as_ref().map(|f| f.0.as_path())
    }

    /// The token its dashboard and `/metrics` ask for, derived from its
    /// secret ([`Secret::http_token`]); none when it has no secret (a
    /// local scheduler given none).
    pub fn http_token(&self) -> Option<&str> {
        self.http_token.as_deref()
    }

    /// Serves a local worker whose end of a socket pair is `stream`'s peer.
    pub(crate) fn attach_worker(&self, stream: std::os::unix::net::UnixStream) {
        let _ = self.tx.send(Event::Attach(stream));
    }

    /// The worker `name` with process id `pid` ended as `how` says (its
    /// nanny saw it): it is gone, whatever its connection says later.
    pub(crate) fn worker_exited(&self, name: &str, pid: u32, how: &str, started: Vec<Gid>) {
        let _ = self
            .tx
            .send(Event::Exited(name.to_owned(), pid, how.to_owned(), started));
    }

    /// A client in this process.
    pub(crate) fn local_client(&self) -> Result<LocalClient, Error> {
        let (out_tx, rx) = mpsc::unbounded_channel();
        let (rtx, rrx) = std::sync::mpsc::channel();
        self.tx
            .send(Event::ClientJoined(out_tx, Reply::Blocking(rtx)))
            .map_err(|_| Error::Disconnected)?;
        let ix = rrx.recv().map_err(|_| Error::Disconnected)?;
        Ok(LocalClient {
            ix,
            tx: self.tx.clone(),
            rx,
        })
    }

    /// Serves until stopped (for `rask scheduler`).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    listener: Option<TcpListener>,
    cfg: SchedulerConfig,
    tx: mpsc::UnboundedSender<Event>,
    mut rx: mpsc::UnboundedReceiver<Event>,
    mut stop: oneshot::Receiver<()>,
) {
    let cfg = Arc::new(cfg);
    let acceptor = listener.map(|listener| {
        let accept_cfg = cfg.clone();
        let accept_tx = tx.clone();
        tokio::spawn(async move {
            loop {
                let (stream, peer) = accept_next(&listener).await;
                let cfg = accept_cfg.clone();
                let tx = accept_tx.clone();
                tokio::spawn(async move {
                    // On an error the wire layer has logged the reason.
                    if let Ok((role, r, w)) = accept_tcp(stream, &cfg.wire).await {
                        connection(role, r, w, Some(peer), None, cfg, tx).await;
                    }
                });
            }
        })
    });
    let ticker = {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(100));
            loop {
                every.tick().await;
                if tx.send(Event::Tick).is_err() {
                    return;
                }
            }
        })
    };
    let mut core = Core::new(cfg.core.clone());
    let mut out = NetOut {
        observer: cfg.observer.as_ref().map(|o| Observer::new(o.0.clone())),
        ..NetOut::default()
    };
    loop {
        // Woken at the next coordination deadline too (a wait timing out).
        let wake = core.next_deadline();
        let ev = tokio::select! {
            ev = rx.recv() => ev,
            _ = sleep_until(wake) => Some(Event::Tick),
            _ = &mut stop => None,
        };
        let Some(ev) = ev else { break };
        core.tick(Instant::now(), &mut out);
        handle(&mut core, &mut out, ev, &cfg, &tx);
        while let Ok(ev) = rx.try_recv() {
            handle(&mut core, &mut out, ev, &cfg, &tx);
        }
        out.flush();
    }
    ticker.abort();
    if let Some(a) = acceptor {
        a.abort();
    }
}

fn handle(
    core: &mut Core,
    out: &mut NetOut,
    ev: Event,
    cfg: &Arc<SchedulerConfig>,
    tx: &mpsc::UnboundedSender<Event>,
) {
    match ev {
        Event::Client(c, msgs) => {
            for mut m in msgs {
                if let Some(o) = out.observer.as_mut() {
                    o.submitted(c, &mut m, core.workers_alive());
                }
                core.client_message(c, m, out);
            }
        }
        Event::Worker(w, msgs) => {
            for m in msgs {
                if let (Some(o), FromWorker::Memory(sample)) = (&out.observer, &m) {
                    o.sample(w.0, sample);
                }
                if let Err(why) = core.worker_message(w, m, out) {
                    tracing::warn!(worker = w.0, %why, "protocol error from a worker");
                }
            }
        }
        Event::ClientJoined(tx, reply) => {
            let c = core.client_joined();
            out.set_client(c, tx);
            reply.send(c);
        }
        Event::WorkerJoined(info, tx, reply) => {
            let (name, threads) = (info.name.clone(), info.threads);
            // Registered first, so the core's first messages find it.
            let w = WorkerIx(core.workers_total() as u32);
            out.set_worker(w, tx);
            match core.worker_joined(info, out) {
                Ok(w) => {
                    tracing::info!(worker = w.0, %name, "worker joined");
                    if let Some(o) = &out.observer {
                        o.worker(w.0, &name, threads, None);
                        let i = w.0 as usize;
                        if out.names.len() <= i {
                            out.names.resize(i + 1, String::new());
                        }
                        out.names[i] = name.clone();
                    }
                    let _ = reply.send(Ok(w));
                }
                Err(why) => {
                    out.drop_worker(w);
                    let _ = reply.send(Err(why));
                }
            }
        }
        Event::ClientGone(c) => {
            out.drop_client(c);
            core.client_gone(c, out);
            if let Some(o) = out.observer.as_mut() {
                o.client_gone(c);
            }
        }
        Event::WorkerGone(w, why, started) => {
            tracing::warn!(worker = w.0, %why, "worker removed");
            out.worker_lost(w, &why);
            out.drop_worker(w);
            core.worker_gone(w, &why, started.as_deref(), out);
        }
        Event::Attach(stream) => {
            let tx = tx.clone();
            let cfg = cfg.clone();
            tokio::spawn(async move {
                let pid = peer_pid(&stream);
                let halves = stream
                    .set_nonblocking(true)
                    .and_then(|()| tokio::net::UnixStream::from_std(stream));
                match halves {
                    Ok(s) => {
                        let (rd, wr) = s.into_split();
                        let rd: BoxRead = Box::pin(rd);
                        let wr: BoxWrite = Box::pin(wr);
                        let r = FrameReader::new(rd, cfg.wire.max_frame);
                        let w = FrameWriter::new(wr, cfg.wire.max_frame);
                        connection(Role::Worker, r, w, None, pid, cfg, tx).await;
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot serve a local worker"),
                }
            });
        }
        Event::Exited(name, pid, how, started) => {
            if let Some(w) = core.find_worker(&name, pid) {
                tracing::warn!(worker = w.0, %name, %how, "worker removed");
                out.worker_lost(w, &how);
                out.drop_worker(w);
                core.worker_gone(w, &how, Some(&started), out);
            }
        }
        Event::Tick => {}
    }
}

/// Raises this process's soft limit on open descriptors to its hard limit
/// (as Go's runtime does): each client and worker holds a socket, and a
/// soft limit of 1024 would refuse a burst of a thousand.
fn raise_descriptor_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit with a live struct of the right type.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            let old = lim.rlim_cur;
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                tracing::debug!(from = old, to = lim.rlim_max, "raised the descriptor limit");
            }
        }
    }
}

/// Sleeps until `at` (for ever if `None`).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The process id at the other end of a Unix socket.
fn peer_pid(s: &std::os::unix::net::UnixStream) -> Option<u32> {
    use std::os::fd::AsRawFd;
    // SAFETY: an all-zero ucred is valid.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt into a live struct of the stated size.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (r == 0 && cred.pid > 0).then_some(cred.pid as u32)
}

/// A connection's writer and the messages waiting for it.
type Pending<M> = Option<(mpsc::UnboundedSender<Vec<M>>, Vec<M>)>;

/// Messages waiting for each connection until the core loop flushes.
#[derive(Default)]
struct NetOut {
    workers: Vec<Pending<ToWorker>>,
    clients: Vec<Pending<ToClient>>,
    /// Workers whose connections close at the next flush (retired).
    closing: Vec<WorkerIx>,
    /// The task stream's feed, when the scheduler has one.
    observer: Option<Observer>,
    /// Worker names, for the task stream's `WorkerLost`.
    names: Vec<String>,
}

impl NetOut {
    fn set_worker(&mut self, w: WorkerIx, tx: mpsc::UnboundedSender<Vec<ToWorker>>) {
        let i = w.0 as usize;
        if self.workers.len() <= i {
            self.workers.resize_with(i + 1, || None);
        }
        self.workers[i] = Some((tx, Vec::new()));
    }
    /// Tells the task stream that worker `w` (still connected) is gone.
    fn worker_lost(&mut self, w: WorkerIx, why: &str) {
        if let (Some(o), Some(Some(_))) = (&self.observer, self.workers.get(w.0 as usize)) {
            let name = self.names.get(w.0 as usize).map_or("", String::as_str);
            o.worker(w.0, name, 0, Some(why));
        }
    }
    fn set_client(&mut self, c: ClientIx, tx: mpsc::UnboundedSender<Vec<ToClient>>) {
        let i = c.0 as usize;
        if self.clients.len() <= i {
            self.clients.resize_with(i + 1, || None);
        }
        self.clients[i] = Some((tx, Vec::new()));
    }
    fn drop_worker(&mut self, w: WorkerIx) {
        if let Some(x) = self.workers.get_mut(w.0 as usize) {
            *x = None;
        }
    }
    fn drop_client(&mut self, c: ClientIx) {
        if let Some(x) = self.clients.get_mut(c.0 as usize) {
            *x = None;
        }
    }
    fn flush(&mut self) {
        for (tx, q) in self.workers.iter_mut().flatten() {
            if !q.is_empty() {
                let _ = tx.send(std::mem::take(q));
            }
        }
        // Dropping the sender ends the writer once it has written what was
        // sent: the worker reads the end of its link and exits.
        for w in std::mem::take(&mut self.closing) {
            self.drop_worker(w);
        }
        for (tx, q) in self.clients.iter_mut().flatten() {
            if !q.is_empty() {
                let _ = tx.send(std::mem::take(q));
            }
        }
    }
}

impl Outbox for NetOut {
    fn to_worker(&mut self, w: WorkerIx, msg: ToWorker) {
        if let Some(Some((_, q))) = self.workers.get_mut(w.0 as usize) {
            q.push(msg);
        }
    }
    fn to_client(&mut self, c: ClientIx, msg: ToClient) {
        if let Some(o) = self.observer.as_mut() {
            if !o.forward(c, &msg) {
                return;
            }
        }
        if let Some(Some((_, q))) = self.clients.get_mut(c.0 as usize) {
            q.push(msg);
        }
    }
    fn close_worker(&mut self, w: WorkerIx) {
        self.closing.push(w);
    }
}

async fn connection(
    role: Role,
    mut r: FrameReader<BoxRead>,
    w: FrameWriter<BoxWrite>,
    peer: Option<SocketAddr>,
    local_pid: Option<u32>,
    cfg: Arc<SchedulerConfig>,
    tx: mpsc::UnboundedSender<Event>,
) {
    let peer_label = peer.map_or_else(|| "a local worker".to_owned(), |p| p.to_string());
    match role {
        Role::Client => {
            let (out_tx, out_rx) = mpsc::unbounded_channel();
            let (rtx, rrx) = oneshot::channel();
            if tx
                .send(Event::ClientJoined(out_tx, Reply::Async(rtx)))
                .is_err()
            {
                return;
            }
            let Ok(c) = rrx.await else { return };
            tokio::spawn(writer(w, out_rx));
            loop {
                match r.recv::<Vec<FromClient>>().await {
                    Ok(Some(msgs)) => {
                        if tx.send(Event::Client(c, msgs)).is_err() {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(peer = %peer_label, error = %e, "client connection failed");
                        break;
                    }
                }
            }
            let _ = tx.send(Event::ClientGone(c));
        }
        Role::Worker => {
            let first =
                tokio::time::timeout(cfg.heartbeat_timeout, r.recv::<Vec<FromWorker>>()).await;
            let (info, rest) = match first {
                Ok(Ok(Some(mut msgs))) if matches!(msgs.first(), Some(FromWorker::Join(_))) => {
                    match msgs.remove(0) {
                        FromWorker::Join(info) => (info, msgs),
                        _ => return,
                    }
                }
                other => {
                    let why = match other {
                        Ok(Err(e)) => e.to_string(),
                        Err(_) => "no join message in time".to_owned(),
                        _ => "its first message was not a join".to_owned(),
                    };
                    tracing::warn!(peer = %peer_label, %why, "worker refused");
                    return;
                }
            };
            let (name, pid) = (info.name.clone(), info.pid);
            let (out_tx, out_rx) = mpsc::unbounded_channel();
            let (rtx, rrx) = oneshot::channel();
            if tx.send(Event::WorkerJoined(info, out_tx, rtx)).is_err() {
                return;
            }
            let w_ix = match rrx.await {
                Ok(Ok(w_ix)) => w_ix,
                Ok(Err(why)) => {
                    tracing::warn!(peer = %peer_label, %why, "worker refused");
                    return;
                }
                Err(_) => return,
            };
            tokio::spawn(writer(w, out_rx));
            if !rest.is_empty() && tx.send(Event::Worker(w_ix, rest)).is_err() {
                return;
            }
            let why = loop {
                match tokio::time::timeout(cfg.heartbeat_timeout, r.recv::<Vec<FromWorker>>()).await
                {
                    Ok(Ok(Some(msgs))) => {
                        if tx.send(Event::Worker(w_ix, msgs)).is_err() {
                            return;
                        }
                    }
                    Ok(Ok(None)) => {
                        // A worker of this process's deployment: how it
                        // ended, from its nanny.
                        let ours =
                            local_pid == Some(pid) || crate::deploy::board_of(&name, pid).is_some();
                        break if ours {
                            crate::deploy::how_it_ended(pid).await
                        } else {
                            "disconnected".to_owned()
                        };
                    }
                    Ok(Err(e)) => break format!("broke the protocol: {e}"),
                    Err(_) => {
                        break format!(
                            "stopped answering (nothing for {:?})",
                            cfg.heartbeat_timeout
                        )
                    }
                }
            };
            tracing::debug!(worker = %name, %why, "worker connection ended");
            let started = crate::deploy::board_of(&name, pid);
            let _ = tx.send(Event::WorkerGone(w_ix, why, started));
        }
        Role::Peer => {
            tracing::warn!(peer = %peer_label, "a peer connection to the scheduler refused (peers talk to workers)");
        }
    }
}

/// Writes batches to a connection: one frame per batch, flushed when no
/// more are waiting.
async fn writer<M: serde::Serialize>(
    mut w: FrameWriter<BoxWrite>,
    mut rx: mpsc::UnboundedReceiver<Vec<M>>,
) {
    while let Some(batch) = rx.recv().await {
        if w.send(&batch[..]).await.is_err() {
            return;
        }
        while let Ok(batch) = rx.try_recv() {
            if w.send(&batch[..]).await.is_err() {
                return;
            }
        }
        if w.flush().await.is_err() {
            return;
        }
    }
    let _ = w.shutdown().await;
}
