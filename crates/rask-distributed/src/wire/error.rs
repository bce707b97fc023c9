//! The wire's one error type.
//!
//! Invariants:
//! 1. Every failure caused by a peer is one of these variants, never a panic.
//! 2. Messages name the peer's address where it is known (`Io`, `Malformed`,
//!    `AuthFailed` carry it in their text; the log line always carries it).
//! 3. `Closed` is only a clean end of stream *between* frames; a stream that ends
//!    inside a frame is `Io` with kind `UnexpectedEof`.

use std::net::SocketAddr;

/// What went wrong on the wire.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// An I/O error, including a connection reset and an end of stream inside a
    /// frame (`ErrorKind::UnexpectedEof`).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection cleanly between frames (during the
    /// handshake: before it finished).
    #[error("connection closed by the peer")]
    Closed,
    /// A frame announced (or, when sending, encoded to) more bytes than allowed.
    /// Detected from the length prefix, before anything is allocated.
    #[error("frame of {len} bytes is over the limit of {max} bytes")]
    FrameTooLarge { len: usize, max: usize },
    /// Bytes that do not decode as the expected message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The two sides speak different protocol versions.
    #[error("protocol version mismatch: ours {ours}, theirs {theirs}")]
    VersionMismatch { ours: u32, theirs: u32 },
    /// Wrong secret, or a secret on one side only, or a peer that did not prove
    /// it knows the secret.
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    /// The handshake (or the connection attempt) did not finish in time.
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// Refused to listen on a non-loopback address without a shared secret.
    #[error(
        "refusing to listen on {addr} without a shared secret: anyone who can reach \
         it could submit work; set a secret (RASK_SECRET) or bind a loopback address"
    )]
    InsecureBind { addr: SocketAddr },
    /// No secret to connect with: none was given (`RASK_SECRET`), and the
    /// scheduler is not on this machine or wrote no secret file for us.
    #[error(
        "no shared secret for the scheduler at {addr}: set RASK_SECRET{}",
        match file {
            Some(f) => format!(
                " (a scheduler on this machine started without one writes its own to {}, \
                 readable only by the user who started it; there is none there for us)",
                f.display()
            ),
            None => " (it is not on this machine, so there is no secret file to read)".to_owned(),
        }
    )]
    NoSecret {
        addr: String,
        file: Option<std::path::PathBuf>,
    },
    /// A message of ours could not be encoded (a `Serialize` impl failed, e.g. a
    /// sequence of unknown length). Never caused by the peer.
    #[error("cannot encode message: {0}")]
    Encode(String),
    /// TLS settings were given to a build without the `tls` feature.
    #[error(
        "TLS settings were given ({0}), but this build has no TLS (the `tls` feature of \
         rask-distributed, rask or rask-cli)"
    )]
    NoTls(String),
    /// This side connects without TLS to a server that speaks TLS (seen
    /// from its first bytes: `probe.rs`).
    #[error(
        "{} speaks TLS and this side does not: give it the server's CA \
         (--tls-ca or RASK_TLS_CA; in Rust WireConfig::tls)",
        server_label(*peer)
    )]
    ServerSpeaksTls { peer: Option<SocketAddr> },
    /// This side connects with TLS to a server that speaks plain TCP.
    #[error(
        "{} speaks plain TCP, not TLS, and this side asks for TLS: drop the CA \
         (--tls-ca, RASK_TLS_CA), or start the server with --tls-cert and --tls-key",
        server_label(*peer)
    )]
    ServerSpeaksPlain { peer: Option<SocketAddr> },
    /// TLS setup or TLS handshake failure.
    #[cfg(feature = "tls")]
    #[error("tls: {0}")]
    Tls(String),
}

impl WireError {
    /// True where the error came from what the peer sent or did (as opposed to
    /// our own configuration or encoding).
    pub fn is_peer_fault(&self) -> bool {
        !matches!(
            self,
            WireError::InsecureBind { .. }
                | WireError::Encode(_)
                | WireError::NoSecret { .. }
                | WireError::NoTls(_)
                | WireError::ServerSpeaksTls { .. }
                | WireError::ServerSpeaksPlain { .. }
        )
    }
}

fn server_label(peer: Option<SocketAddr>) -> String {
    match peer {
        Some(a) => format!("the server at {a}"),
        None => "the server".to_owned(),
    }
}

/// How a peer is named in messages: its address, or that it is unknown.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PeerLabel(pub(crate) Option<SocketAddr>);

impl std::fmt::Display for PeerLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(a) => write!(f, "peer {a}"),
            None => f.write_str("peer (address unknown)"),
        }
    }
}

/// A peer's address as a log field's value (`peer=127.0.0.1:5000`), where
/// [`PeerLabel`] is for a message's text (`peer 127.0.0.1:5000: ...`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PeerAddr(pub(crate) Option<SocketAddr>);

impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(a) => write!(f, "{a}"),
            None => f.write_str("unknown"),
        }
    }
}

/// An I/O error with the peer named in its text (same kind).
pub(crate) fn io_at(peer: Option<SocketAddr>, e: std::io::Error) -> WireError {
    if peer.is_none() {
        return WireError::Io(e);
    }
    WireError::Io(std::io::Error::new(
        e.kind(),
        format!("{}: {e}", PeerLabel(peer)),
    ))
}
