//! The handshake that opens every connection: protocol version, then a mutual
//! challenge-response on the shared secret (HMAC-SHA256; the secret itself
//! never crosses the wire).
//!
//! The steps, each one frame (`rask_core::format`, as in [`super::frame`]):
//! 1. Server -> client: [`ServerHello`] `{ magic "RASK", version, server_nonce }`
//!    (32 random bytes from the OS).
//! 2. The client checks magic and version; on a mismatch it answers
//!    `ClientBody::Reject` (so the server logs the reason too) and fails with
//!    `Malformed` / `VersionMismatch`. Otherwise it answers `ClientBody::Hello
//!    { role, client_nonce, mac }` with
//!    `mac = HMAC(secret, "rask-client" || server_nonce || client_nonce || role)`
//!    (role as one byte: Client 0, Worker 1, Peer 2), or an empty `mac` when it
//!    has no secret.
//! 3. The server checks the version and the MAC (constant time). Either side
//!    with a secret while the other has none is `AuthFailed`, as is a wrong MAC.
//!    On failure it sends `ServerMsg::Reject { reason }` and closes, so the
//!    client's error names the reason, not "connection reset". On success it
//!    sends `ServerMsg::Accept { mac }` with
//!    `mac = HMAC(secret, "rask-server" || client_nonce || server_nonce)`.
//! 4. A client with a secret checks the server's MAC (constant time): a server
//!    that does not know the secret is `AuthFailed` too.
//!
//! Invariants:
//! - Both hello messages begin with `magic` (4 bytes) then the version (`u32`,
//!   little-endian, fixed width whatever the format does with integers), and
//!   are checked from those 8 bytes before anything else is decoded, so
//!   versions that change the rest (or the format) still report a version
//!   mismatch. (Version 1 spoke bincode 1; its hellos carry the version at
//!   the same bytes.)
//! - Frames are limited to [`HANDSHAKE_MAX_FRAME`] bytes until the handshake is
//!   done, so an unauthenticated peer cannot make us allocate more.
//! - The whole handshake runs under `WireConfig::handshake_timeout`.
//! - Every failure is one `tracing::warn!` line on each side, naming the peer
//!   address (when known) and the reason; success is a `debug!` line.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream, ToSocketAddrs};
use tokio::time::{timeout_at, Instant};

use super::error::{PeerAddr, PeerLabel, WireError};
use super::frame::{decode, FrameReader, FrameWriter};
use super::{check_bind, Role, Secret, WireConfig, PROTOCOL_VERSION};

/// The first four bytes a server sends.
pub const MAGIC: [u8; 4] = *b"RASK";
/// The frame limit while the peer is not yet authenticated.
pub const HANDSHAKE_MAX_FRAME: usize = 4 << 10;
const NONCE_LEN: usize = 32;
type Nonce = [u8; NONCE_LEN];
type HmacSha256 = Hmac<Sha256>;

/// The read side of a TCP (or TLS over TCP) connection.
pub type BoxRead = Pin<Box<dyn AsyncRead + Send>>;
/// The write side of a TCP (or TLS over TCP) connection.
pub type BoxWrite = Pin<Box<dyn AsyncWrite + Send>>;
/// Frames in from [`accept_tcp`] / [`connect_tcp`].
pub type TcpFrameReader = FrameReader<BoxRead>;
/// Frames out from [`accept_tcp`] / [`connect_tcp`].
pub type TcpFrameWriter = FrameWriter<BoxWrite>;

/// Step 1, server -> client.
#[derive(Debug, Serialize, Deserialize)]
struct ServerHello {
    magic: [u8; 4],
    #[serde(with = "rask_core::format::fixed_u32")]
    version: u32,
    nonce: Nonce,
}

/// Step 2, client -> server: magic and version first, as in the server's.
#[derive(Debug, Serialize, Deserialize)]
struct ClientMsg {
    magic: [u8; 4],
    #[serde(with = "rask_core::format::fixed_u32")]
    version: u32,
    body: ClientBody,
}

/// What the client says in step 2.
#[derive(Debug, Serialize, Deserialize)]
enum ClientBody {
    Hello {
        role: Role,
        nonce: Nonce,
        mac: Vec<u8>,
    },
    Reject {
        reason: Rejection,
    },
}

impl ClientMsg {
    fn new(body: ClientBody) -> ClientMsg {
        ClientMsg {
            magic: MAGIC,
            version: PROTOCOL_VERSION,
            body,
        }
    }
}

/// Step 3, server -> client.
#[derive(Debug, Serialize, Deserialize)]
enum ServerMsg {
    Accept { mac: Vec<u8> },
    Reject { version: u32, reason: Rejection },
}

/// Why one side refuses the other, as told to the other.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Rejection {
    VersionMismatch,
    AuthFailed(String),
    Malformed(String),
}

/// A failure, and what (if anything) to tell the peer about it.
struct Fail {
    err: WireError,
    tell: Option<Rejection>,
}

impl From<WireError> for Fail {
    fn from(err: WireError) -> Fail {
        let tell = match &err {
            WireError::FrameTooLarge { len, max } => Some(Rejection::Malformed(format!(
                "handshake frame of {len} bytes is over the limit of {max}"
            ))),
            WireError::Malformed(m) => Some(Rejection::Malformed(m.clone())),
            _ => None,
        };
        Fail { err, tell }
    }
}

/// Binds a listener after [`check_bind`].
pub async fn listen(addr: SocketAddr, cfg: &WireConfig) -> Result<TcpListener, WireError> {
    check_bind(&addr, cfg)?;
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket.listen(LISTEN_BACKLOG)?)
}

/// The next connection on `listener`. Errors (out of descriptors, a
/// connection reset before it was accepted) are logged, at most once a
/// second, and retried after a pause, so a full descriptor table slows
/// accepting instead of spinning a core.
pub async fn accept_next(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    let mut logged_at: Option<Instant> = None;
    loop {
        match listener.accept().await {
            Ok(c) => return c,
            Err(e) => {
                if logged_at.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    tracing::warn!(error = %e, "rask wire: accept failed; retrying");
                    logged_at = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// The listen backlog asked for (the kernel caps it at
/// `net.core.somaxconn`, 4096 by default since Linux 5.4). A burst of
/// connections beyond it overflows the accept queue, and a connection
/// whose SYN was answered with a cookie then waits for a hello that never
/// comes (the server speaks first), so it is sized for bursts of clients
/// and workers, not for the default of 1024.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Server side of the handshake on an accepted stream of any kind (split with
/// `tokio::io::split`; for TCP prefer [`accept_tcp`], which splits without a lock).
pub async fn accept<S>(
    stream: S,
    cfg: &WireConfig,
) -> Result<(Role, FrameReader<ReadHalf<S>>, FrameWriter<WriteHalf<S>>), WireError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    accept_with_peer(stream, cfg, None).await
}

/// [`accept`], naming the peer's address in errors and logs.
pub async fn accept_with_peer<S>(
    stream: S,
    cfg: &WireConfig,
    peer: Option<SocketAddr>,
) -> Result<(Role, FrameReader<ReadHalf<S>>, FrameWriter<WriteHalf<S>>), WireError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (r, w) = tokio::io::split(stream);
    let mut reader = FrameReader::new(r, cfg.max_frame).with_peer(peer);
    let mut writer = FrameWriter::new(w, cfg.max_frame).with_peer(peer);
    let role = handshake_server(&mut reader, &mut writer, cfg).await?;
    Ok((role, reader, writer))
}

/// Client side of the handshake (a client, worker or peer connecting to a
/// server) on a stream of any kind.
pub async fn connect<S>(
    stream: S,
    cfg: &WireConfig,
    role: Role,
) -> Result<(FrameReader<ReadHalf<S>>, FrameWriter<WriteHalf<S>>), WireError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    connect_with_peer(stream, cfg, role, None).await
}

/// [`connect`], naming the server's address in errors and logs.
pub async fn connect_with_peer<S>(
    stream: S,
    cfg: &WireConfig,
    role: Role,
    peer: Option<SocketAddr>,
) -> Result<(FrameReader<ReadHalf<S>>, FrameWriter<WriteHalf<S>>), WireError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (r, w) = tokio::io::split(stream);
    let mut reader = FrameReader::new(r, cfg.max_frame).with_peer(peer);
    let mut writer = FrameWriter::new(w, cfg.max_frame).with_peer(peer);
    handshake_client(&mut reader, &mut writer, cfg, role).await?;
    Ok((reader, writer))
}

/// Server side on an accepted TCP stream: sets `TCP_NODELAY`, adds TLS when
/// configured (feature `tls`), splits the stream without a lock and runs the
/// handshake, all under `handshake_timeout`.
pub async fn accept_tcp(
    stream: TcpStream,
    cfg: &WireConfig,
) -> Result<(Role, TcpFrameReader, TcpFrameWriter), WireError> {
    let peer = stream.peer_addr().ok();
    let deadline = Instant::now() + cfg.handshake_timeout;
    let (r, w) = match tcp_halves(stream, cfg, peer, deadline, true).await {
        Ok(h) => h,
        Err(e) => return Err(logged(e, peer, "refused connection")),
    };
    let mut reader = FrameReader::new(r, cfg.max_frame).with_peer(peer);
    let mut writer = FrameWriter::new(w, cfg.max_frame).with_peer(peer);
    let role = server_until(&mut reader, &mut writer, cfg, deadline).await?;
    Ok((role, reader, writer))
}

/// Client side over TCP: connects (under `handshake_timeout`), sets
/// `TCP_NODELAY`, adds TLS when configured, and runs the handshake.
///
/// A connection that cannot be made (refused, unreachable, a name that does
/// not resolve) is `WireError::Io` of the same kind, its text naming `addr`:
/// `cannot connect to 127.0.0.1:8786: Connection refused (os error 111)`.
pub async fn connect_tcp<A: ToSocketAddrs + std::fmt::Display>(
    addr: A,
    cfg: &WireConfig,
    role: Role,
) -> Result<(TcpFrameReader, TcpFrameWriter), WireError> {
    let deadline = Instant::now() + cfg.handshake_timeout;
    let named = addr.to_string();
    let stream = match timeout_at(deadline, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let e = std::io::Error::new(e.kind(), format!("cannot connect to {named}: {e}"));
            return Err(logged(WireError::Io(e), None, "cannot connect"));
        }
        Err(_) => {
            return Err(logged(
                WireError::Timeout("connect"),
                None,
                "cannot connect",
            ))
        }
    };
    let peer = stream.peer_addr().ok();
    let (r, w) = match tcp_halves(stream, cfg, peer, deadline, false).await {
        Ok(h) => h,
        Err(e) => return Err(logged(e, peer, "handshake with server failed")),
    };
    let mut reader = FrameReader::new(r, cfg.max_frame).with_peer(peer);
    let mut writer = FrameWriter::new(w, cfg.max_frame).with_peer(peer);
    client_until(&mut reader, &mut writer, cfg, role, deadline).await?;
    Ok((reader, writer))
}

/// The two halves of a TCP stream, through TLS when configured.
async fn tcp_halves(
    stream: TcpStream,
    cfg: &WireConfig,
    peer: Option<SocketAddr>,
    deadline: Instant,
    server: bool,
) -> Result<(BoxRead, BoxWrite), WireError> {
    // A failure here only costs latency.
    let _ = stream.set_nodelay(true);
    #[cfg(feature = "tls")]
    if let Some(tls) = &cfg.tls {
        let fut = super::tls::wrap(stream, tls, peer, server);
        return match timeout_at(deadline, fut).await {
            Ok(r) => r,
            Err(_) => Err(WireError::Timeout("tls handshake")),
        };
    }
    #[cfg(not(feature = "tls"))]
    let _ = cfg;
    if !server {
        // A TLS server announces itself at once (`probe.rs`).
        match timeout_at(deadline, super::probe::refuse_tls_server(&stream, peer)).await {
            Ok(r) => r?,
            Err(_) => return Err(WireError::Timeout("handshake")),
        }
    }
    let (r, w) = stream.into_split();
    Ok((Box::pin(r), Box::pin(w)))
}

/// The server's side of the handshake on framed halves (any transport). On
/// success the reader and writer are set to `cfg.max_frame`.
pub async fn handshake_server<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut FrameWriter<W>,
    cfg: &WireConfig,
) -> Result<Role, WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    server_until(reader, writer, cfg, Instant::now() + cfg.handshake_timeout).await
}

/// The connecting side of the handshake on framed halves (any transport).
pub async fn handshake_client<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut FrameWriter<W>,
    cfg: &WireConfig,
    role: Role,
) -> Result<(), WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    client_until(
        reader,
        writer,
        cfg,
        role,
        Instant::now() + cfg.handshake_timeout,
    )
    .await
}

async fn server_until<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut FrameWriter<W>,
    cfg: &WireConfig,
    deadline: Instant,
) -> Result<Role, WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let peer = reader.peer();
    limit(reader, writer, HANDSHAKE_MAX_FRAME, false);
    let r = match timeout_at(deadline, server_steps(reader, writer, cfg)).await {
        Ok(r) => r,
        Err(_) => Err(WireError::Timeout("handshake")),
    };
    limit(reader, writer, cfg.max_frame, true);
    match r {
        Ok(role) => {
            tracing::debug!(peer = %PeerAddr(peer), ?role, "rask wire: accepted connection");
            Ok(role)
        }
        Err(e) => Err(logged(e, peer, "refused connection")),
    }
}

async fn client_until<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut FrameWriter<W>,
    cfg: &WireConfig,
    role: Role,
    deadline: Instant,
) -> Result<(), WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let peer = reader.peer();
    limit(reader, writer, HANDSHAKE_MAX_FRAME, false);
    let r = match timeout_at(deadline, client_steps(reader, writer, cfg, role)).await {
        Ok(r) => r,
        Err(_) => Err(WireError::Timeout("handshake")),
    };
    limit(reader, writer, cfg.max_frame, true);
    match r {
        Ok(()) => {
            tracing::debug!(peer = %PeerAddr(peer), ?role, "rask wire: connected");
            Ok(())
        }
        Err(e) => Err(logged(e, peer, "handshake with server failed")),
    }
}

fn limit<R, W>(reader: &mut FrameReader<R>, writer: &mut FrameWriter<W>, max: usize, log: bool)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    reader.set_max_frame(max);
    reader.set_log_errors(log);
    writer.set_max_frame(max);
}

/// Logs the one line a failed handshake gets, and hands the error back.
fn logged(e: WireError, peer: Option<SocketAddr>, what: &'static str) -> WireError {
    tracing::warn!(peer = %PeerAddr(peer), reason = %e, "rask wire: {what}");
    e
}

async fn server_steps<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut FrameWriter<W>,
    cfg: &WireConfig,
) -> Result<Role, WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let server_nonce = nonce()?;
    let hello = ServerHello {
        magic: MAGIC,
        version: PROTOCOL_VERSION,
        nonce: server_nonce,
    };
    writer.send(&hello).await?;
    writer.flush().await?;
    match server_check(reader, cfg, &server_nonce).await {
        Ok((role, client_nonce)) => {
            let mac = match &cfg.secret {
                Some(s) => keyed(s, b"rask-server", &[&client_nonce, &server_nonce])?
                    .finalize()
                    .into_bytes()
                    .to_vec(),
                None => Vec::new(),
            };
            writer.send(&ServerMsg::Accept { mac }).await?;
            writer.flush().await?;
            Ok(role)
        }
        Err(Fail { err, tell }) => {
            if let Some(reason) = tell {
                let version = PROTOCOL_VERSION;
                reject(writer, &ServerMsg::Reject { version, reason }).await;
            }
            Err(err)
        }
    }
}

/// Reads and checks the client's answer; returns its role and nonce.
async fn server_check<R: AsyncRead + Unpin>(
    reader: &mut FrameReader<R>,
    cfg: &WireConfig,
    server_nonce: &Nonce,
) -> Result<(Role, Nonce), Fail> {
    let peer = PeerLabel(reader.peer());
    let payload = reader.recv_bytes().await?.ok_or(WireError::Closed)?;
    let theirs = version_at_4(payload).ok_or_else(|| {
        Fail::from(WireError::Malformed(format!(
            "{peer}: client hello of {} bytes is too short",
            payload.len()
        )))
    })?;
    if theirs != PROTOCOL_VERSION {
        return Err(Fail {
            err: WireError::VersionMismatch {
                ours: PROTOCOL_VERSION,
                theirs,
            },
            tell: Some(Rejection::VersionMismatch),
        });
    }
    if payload[..4] != MAGIC {
        return Err(Fail::from(WireError::Malformed(format!(
            "{peer} is not a rask client (no \"RASK\" hello)"
        ))));
    }
    let msg: ClientMsg = decode(payload, HANDSHAKE_MAX_FRAME).map_err(|e| match e {
        WireError::Malformed(m) => WireError::Malformed(format!("{peer}: client hello: {m}")),
        e => e,
    })?;
    let (role, client_nonce, mac) = match msg.body {
        ClientBody::Hello { role, nonce, mac } => (role, nonce, mac),
        ClientBody::Reject { reason } => return Err(Fail::quiet(told(reason, peer, theirs))),
    };
    let refuse = |ours: String, tell: &str| Fail {
        err: WireError::AuthFailed(format!("{peer}: {ours}")),
        tell: Some(Rejection::AuthFailed(tell.to_string())),
    };
    match (&cfg.secret, mac.is_empty()) {
        (None, true) => {}
        (None, false) => {
            return Err(refuse(
                "the client has a secret but this server has none".into(),
                "the client has a secret but the server has none; give both the same secret",
            ))
        }
        (Some(_), true) => {
            return Err(refuse(
                "the client has no secret but this server requires one".into(),
                "the server requires a shared secret and the client has none (set RASK_SECRET)",
            ))
        }
        (Some(s), false) => {
            let ok = keyed(
                s,
                b"rask-client",
                &[server_nonce, &client_nonce, &[role.mac_byte()]],
            )?
            .verify_slice(&mac)
            .is_ok();
            if !ok {
                return Err(refuse(
                    format!("wrong secret (the {role:?}'s proof does not match)"),
                    "wrong secret",
                ));
            }
        }
    }
    Ok((role, client_nonce))
}

async fn client_steps<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut FrameWriter<W>,
    cfg: &WireConfig,
    role: Role,
) -> Result<(), WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let peer = PeerLabel(reader.peer());
    let hello = match reader.recv_bytes().await {
        Ok(Some(payload)) => check_server_hello(payload, peer),
        Ok(None) => return Err(WireError::Closed),
        Err(e) => Err(Fail::from(e)),
    };
    let server_nonce = match hello {
        Ok(h) => h.nonce,
        Err(Fail { err, tell }) => {
            if let Some(reason) = tell {
                reject(writer, &ClientMsg::new(ClientBody::Reject { reason })).await;
            }
            return Err(err);
        }
    };
    let client_nonce = nonce()?;
    let mac = match &cfg.secret {
        Some(s) => keyed(
            s,
            b"rask-client",
            &[&server_nonce, &client_nonce, &[role.mac_byte()]],
        )?
        .finalize()
        .into_bytes()
        .to_vec(),
        None => Vec::new(),
    };
    let hello = ClientMsg::new(ClientBody::Hello {
        role,
        nonce: client_nonce,
        mac,
    });
    writer.send(&hello).await?;
    writer.flush().await?;
    let answer: ServerMsg = reader.recv().await?.ok_or(WireError::Closed)?;
    let mac = match answer {
        ServerMsg::Accept { mac } => mac,
        ServerMsg::Reject { version, reason } => return Err(told(reason, peer, version)),
    };
    let fail = |what: &str| Err(WireError::AuthFailed(format!("{peer}: {what}")));
    match (&cfg.secret, mac.is_empty()) {
        (None, true) => Ok(()),
        (None, false) => fail("the server proves a secret but this side has none"),
        (Some(_), true) => fail("the server did not prove it knows the secret"),
        (Some(s), false) => {
            match keyed(s, b"rask-server", &[&client_nonce, &server_nonce])?.verify_slice(&mac) {
                Ok(()) => Ok(()),
                Err(_) => fail("wrong secret (the server's proof does not match)"),
            }
        }
    }
}

/// Checks magic, then version, then decodes the server's hello.
fn check_server_hello(payload: &[u8], peer: PeerLabel) -> Result<ServerHello, Fail> {
    if payload.len() < 8 || payload[..4] != MAGIC {
        return Err(Fail::from(WireError::Malformed(format!(
            "{peer} is not a rask server (no \"RASK\" hello)"
        ))));
    }
    let theirs = version_at_4(payload).unwrap_or(0);
    if theirs != PROTOCOL_VERSION {
        return Err(Fail {
            err: WireError::VersionMismatch {
                ours: PROTOCOL_VERSION,
                theirs,
            },
            tell: Some(Rejection::VersionMismatch),
        });
    }
    decode::<ServerHello>(payload, HANDSHAKE_MAX_FRAME).map_err(|e| {
        Fail::from(match e {
            WireError::Malformed(m) => WireError::Malformed(format!("{peer}: server hello: {m}")),
            e => e,
        })
    })
}

/// The error that a rejection received from the peer stands for.
fn told(reason: Rejection, peer: PeerLabel, their_version: u32) -> WireError {
    match reason {
        Rejection::VersionMismatch => WireError::VersionMismatch {
            ours: PROTOCOL_VERSION,
            theirs: their_version,
        },
        Rejection::AuthFailed(m) => WireError::AuthFailed(format!("{peer} refused us: {m}")),
        Rejection::Malformed(m) => {
            WireError::Malformed(format!("{peer} refused our handshake: {m}"))
        }
    }
}

impl Fail {
    /// A failure the peer already knows about (it told us).
    fn quiet(err: WireError) -> Fail {
        Fail { err, tell: None }
    }
}

/// The little-endian `u32` at bytes 4..8 (the version in both hellos).
fn version_at_4(payload: &[u8]) -> Option<u32> {
    let b: [u8; 4] = payload.get(4..8)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

fn nonce() -> Result<Nonce, WireError> {
    let mut n = [0u8; NONCE_LEN];
    getrandom::getrandom(&mut n)
        .map_err(|e| WireError::Io(std::io::Error::other(format!("no randomness: {e}"))))?;
    Ok(n)
}

/// HMAC-SHA256 keyed with the secret, fed with `label` then `parts`.
fn keyed(secret: &Secret, label: &[u8], parts: &[&[u8]]) -> Result<HmacSha256, WireError> {
    let mut m = HmacSha256::new_from_slice(secret.bytes())
        .map_err(|e| WireError::AuthFailed(format!("unusable secret: {e}")))?;
    m.update(label);
    for p in parts {
        m.update(p);
    }
    Ok(m)
}

#[cfg(test)]
#[path = "handshake_tests.rs"]
mod tests;

/// Sends a rejection and closes; best effort, the peer may be gone already.
async fn reject<W: AsyncWrite + Unpin, M: Serialize>(writer: &mut FrameWriter<W>, msg: &M) {
    if writer.send(msg).await.is_ok() {
        let _ = writer.shutdown().await;
    }
}
