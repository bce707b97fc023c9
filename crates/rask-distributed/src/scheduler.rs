//! The scheduler server: the [`Core`] behind TCP.
//!
//! One thread runs a single-threaded tokio runtime: an accept loop, a reader
//! and a writer task per connection, and the core loop. Readers turn frames
//! into [`Event`]s on one channel; the core loop takes every event that is
//! waiting, feeds the core, and hands each connection its messages as one
//! batch (one frame). A worker that sends nothing (not even a heartbeat) for
//! `heartbeat_timeout` is dropped as if it had disconnected. A peer that
//! breaks the protocol (garbage, a frame over the limit, a message for a task
//! that does not exist, the wrong first message) is logged and disconnected;
//! everyone else keeps being served.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::core::{ClientIx, Core, CoreConfig, Outbox, WorkerIx};
use crate::proto::{FromClient, FromWorker, ToClient, ToWorker, WorkerInfo};
use crate::wire::{accept_tcp, listen, Role, TcpFrameReader, TcpFrameWriter, WireConfig};
use crate::Error;

/// Settings of a scheduler.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    /// Secret, frame limit, handshake timeout.
    pub wire: WireConfig,
    /// Placement, stealing, failure limits.
    pub core: CoreConfig,
    /// A worker silent this long is removed (workers heartbeat every
    /// second by default).
    pub heartbeat_timeout: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            wire: WireConfig::default(),
            core: CoreConfig::default(),
            heartbeat_timeout: Duration::from_secs(10),
        }
    }
}

enum Event {
    Client(ClientIx, Vec<FromClient>),
    Worker(WorkerIx, Vec<FromWorker>),
    ClientJoined(
        mpsc::UnboundedSender<Vec<ToClient>>,
        oneshot::Sender<ClientIx>,
    ),
    WorkerJoined(
        WorkerInfo,
        mpsc::UnboundedSender<Vec<ToWorker>>,
        oneshot::Sender<Result<WorkerIx, String>>,
    ),
    ClientGone(ClientIx),
    WorkerGone(WorkerIx, String),
}

/// A running scheduler; stops when dropped.
#[derive(Debug)]
pub struct Scheduler {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Scheduler {
    /// Binds and starts serving on a thread of its own.
    pub fn start(cfg: SchedulerConfig) -> Result<Scheduler, Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = rt.block_on(listen(cfg.listen, &cfg.wire))?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("rask-scheduler".into())
            .spawn(move || {
                rt.block_on(serve(listener, cfg, stop_rx));
            })?;
        tracing::info!(%addr, "scheduler listening");
        Ok(Scheduler {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
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

async fn serve(listener: TcpListener, cfg: SchedulerConfig, mut stop: oneshot::Receiver<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let cfg = Arc::new(cfg);
    let accept_cfg = cfg.clone();
    let accept_tx = tx.clone();
    let acceptor = tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let cfg = accept_cfg.clone();
            let tx = accept_tx.clone();
            tokio::spawn(async move {
                // On an error the wire layer has logged the reason.
                if let Ok((role, r, w)) = accept_tcp(stream, &cfg.wire).await {
                    connection(role, r, w, peer, cfg, tx).await;
                }
            });
        }
    });
    let mut core = Core::new(cfg.core.clone());
    let mut out = NetOut::default();
    loop {
        let ev = tokio::select! {
            ev = rx.recv() => ev,
            _ = &mut stop => None,
        };
        let Some(ev) = ev else { break };
        handle(&mut core, &mut out, ev);
        while let Ok(ev) = rx.try_recv() {
            handle(&mut core, &mut out, ev);
        }
        out.flush();
    }
    acceptor.abort();
}

fn handle(core: &mut Core, out: &mut NetOut, ev: Event) {
    match ev {
        Event::Client(c, msgs) => {
            for m in msgs {
                core.client_message(c, m, out);
            }
        }
        Event::Worker(w, msgs) => {
            for m in msgs {
                if let Err(why) = core.worker_message(w, m, out) {
                    tracing::warn!(worker = w.0, %why, "protocol error from a worker");
                }
            }
        }
        Event::ClientJoined(tx, reply) => {
            let c = core.client_joined();
            out.set_client(c, tx);
            let _ = reply.send(c);
        }
        Event::WorkerJoined(info, tx, reply) => {
            let name = info.name.clone();
            match core.worker_joined(info, out) {
                Ok(w) => {
                    out.set_worker(w, tx);
                    tracing::info!(worker = w.0, %name, "worker joined");
                    // Messages queued while joining go out now.
                    let _ = reply.send(Ok(w));
                }
                Err(why) => {
                    let _ = reply.send(Err(why));
                }
            }
        }
        Event::ClientGone(c) => {
            out.drop_client(c);
            core.client_gone(c, out);
        }
        Event::WorkerGone(w, why) => {
            tracing::warn!(worker = w.0, %why, "worker removed");
            out.drop_worker(w);
            core.worker_gone(w, &why, out);
        }
    }
}

/// A connection's writer and the messages waiting for it.
type Pending<M> = Option<(mpsc::UnboundedSender<Vec<M>>, Vec<M>)>;

/// Messages waiting for each connection until the core loop flushes.
#[derive(Default)]
struct NetOut {
    workers: Vec<Pending<ToWorker>>,
    clients: Vec<Pending<ToClient>>,
    /// Messages for a worker being registered (before `set_worker`).
    early: Vec<(WorkerIx, ToWorker)>,
}

impl NetOut {
    fn set_worker(&mut self, w: WorkerIx, tx: mpsc::UnboundedSender<Vec<ToWorker>>) {
        let i = w.0 as usize;
        if self.workers.len() <= i {
            self.workers.resize_with(i + 1, || None);
        }
        let early: Vec<ToWorker> = {
            let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.early)
                .into_iter()
                .partition(|(x, _)| *x == w);
            self.early = rest;
            mine.into_iter().map(|(_, m)| m).collect()
        };
        self.workers[i] = Some((tx, early));
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
        for (tx, q) in self.clients.iter_mut().flatten() {
            if !q.is_empty() {
                let _ = tx.send(std::mem::take(q));
            }
        }
    }
}

impl Outbox for NetOut {
    fn to_worker(&mut self, w: WorkerIx, msg: ToWorker) {
        match self.workers.get_mut(w.0 as usize) {
            Some(Some((_, q))) => q.push(msg),
            Some(None) => {}
            None => self.early.push((w, msg)),
        }
    }
    fn to_client(&mut self, c: ClientIx, msg: ToClient) {
        if let Some(Some((_, q))) = self.clients.get_mut(c.0 as usize) {
            q.push(msg);
        }
    }
}

async fn connection(
    role: Role,
    mut r: TcpFrameReader,
    w: TcpFrameWriter,
    peer: SocketAddr,
    cfg: Arc<SchedulerConfig>,
    tx: mpsc::UnboundedSender<Event>,
) {
    match role {
        Role::Client => {
            let (out_tx, out_rx) = mpsc::unbounded_channel();
            let (rtx, rrx) = oneshot::channel();
            if tx.send(Event::ClientJoined(out_tx, rtx)).is_err() {
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
                        tracing::warn!(%peer, error = %e, "client connection failed");
                        break;
                    }
                }
            }
            let _ = tx.send(Event::ClientGone(c));
        }
        Role::Worker => {
            let first =
                tokio::time::timeout(cfg.heartbeat_timeout, r.recv::<Vec<FromWorker>>()).await;
            let info = match first {
                Ok(Ok(Some(mut msgs))) if matches!(msgs.first(), Some(FromWorker::Join(_))) => {
                    match msgs.remove(0) {
                        FromWorker::Join(info) => info,
                        _ => return,
                    }
                }
                other => {
                    let why = match other {
                        Ok(Err(e)) => e.to_string(),
                        Err(_) => "no join message in time".to_owned(),
                        _ => "its first message was not a join".to_owned(),
                    };
                    tracing::warn!(%peer, %why, "worker refused");
                    return;
                }
            };
            let (out_tx, out_rx) = mpsc::unbounded_channel();
            let (rtx, rrx) = oneshot::channel();
            if tx.send(Event::WorkerJoined(info, out_tx, rtx)).is_err() {
                return;
            }
            let w_ix = match rrx.await {
                Ok(Ok(w_ix)) => w_ix,
                Ok(Err(why)) => {
                    tracing::warn!(%peer, %why, "worker refused");
                    return;
                }
                Err(_) => return,
            };
            tokio::spawn(writer(w, out_rx));
            let why = loop {
                match tokio::time::timeout(cfg.heartbeat_timeout, r.recv::<Vec<FromWorker>>()).await
                {
                    Ok(Ok(Some(msgs))) => {
                        if tx.send(Event::Worker(w_ix, msgs)).is_err() {
                            return;
                        }
                    }
                    Ok(Ok(None)) => break "disconnected".to_owned(),
                    Ok(Err(e)) => break format!("broke the protocol: {e}"),
                    Err(_) => {
                        break format!(
                            "stopped answering (nothing for {:?})",
                            cfg.heartbeat_timeout
                        )
                    }
                }
            };
            let _ = tx.send(Event::WorkerGone(w_ix, why));
        }
        Role::Peer => {
            tracing::warn!(%peer, "a peer connection to the scheduler refused (peers talk to workers)");
        }
    }
}

/// Writes batches to a connection: one frame per batch, flushed when no
/// more are waiting.
async fn writer<M: serde::Serialize>(
    mut w: TcpFrameWriter,
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
