//! The wire: length-prefixed frames with a size limit, and the handshake that
//! opens every connection (protocol version, challenge-response on a shared
//! secret that never crosses the wire).
//!
//! Nothing on the wire is code: frames carry serde data only, and what a worker
//! runs is chosen by name among the functions compiled into it.
//!
//! How a connection goes:
//! 1. The server binds with [`listen`] (or checks with [`check_bind`]): a
//!    non-loopback address without a secret is refused ([`WireError::InsecureBind`]).
//!    The scheduler and the workers go further (secure by default): a scheduler
//!    given no secret makes one and writes it where only its user can read it
//!    ([`secret`] module docs); clients and workers given none read it from
//!    there ([`WireConfig::or_local_secret`]) or refuse to start
//!    ([`WireError::NoSecret`]), so every port they open asks for the secret,
//!    loopback included.
//! 2. Each accepted stream goes through [`accept_tcp`] (or [`accept`] for any
//!    stream); the other side calls [`connect_tcp`] (or [`connect`]). The
//!    handshake ([`handshake`] module docs) runs under `handshake_timeout`; a
//!    failure is a typed error on both sides and one `warn!` line (with the
//!    peer's address) on each side, and the server keeps serving others.
//! 3. Then both sides exchange frames ([`frame`] module docs): one frame is one
//!    message (`rask_core::format`), usually a batch (`send(&batch[..])`, `recv::<Vec<M>>()`).
//!    Peer faults after the handshake (`FrameTooLarge`, `Malformed`) are logged
//!    by the reader too; the caller only decides what to do with the connection.

pub mod error;
pub mod frame;
pub mod handshake;
mod probe;
pub mod secret;
#[cfg(feature = "tls")]
pub mod tls;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use error::WireError;
pub use frame::{decode, encode, FrameReader, FrameWriter};
pub use handshake::{
    accept, accept_next, accept_tcp, accept_with_peer, connect, connect_tcp, connect_with_peer,
    handshake_client, handshake_server, listen, BoxRead, BoxWrite, TcpFrameReader, TcpFrameWriter,
};
pub use secret::{runtime_dir, secret_file, Secret, RUNTIME_DIR_ENV, SECRET_ENV};
#[cfg(feature = "tls")]
pub use tls::{TlsConfig, TlsFiles};

/// The TLS variables of [`WireConfig::try_from_env`] (`TlsFiles::from_env`).
pub const TLS_VARS: [&str; 4] = [
    "RASK_TLS_CERT",
    "RASK_TLS_KEY",
    "RASK_TLS_CA",
    "RASK_TLS_SERVER_NAME",
];

/// The protocol version; both sides must have the same. Version 1 encoded
/// messages with bincode 1; version 2 with `rask_core::format` (postcard).
pub const PROTOCOL_VERSION: u32 = 2;
/// The default limit on one frame's payload, in bytes.
pub const DEFAULT_MAX_FRAME: usize = 256 << 20;
/// The default time a handshake may take.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Who connects (sent in the handshake, so the server can route the connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Client,
    Worker,
    Peer,
}

impl Role {
    /// The byte that stands for the role inside the handshake's MAC.
    pub(crate) fn mac_byte(self) -> u8 {
        match self {
            Role::Client => 0,
            Role::Worker => 1,
            Role::Peer => 2,
        }
    }
}

/// Settings of the wire, the same for servers and for those who connect.
///
/// Build it with `WireConfig { secret, ..Default::default() }` (more fields may
/// appear behind features).
#[derive(Clone, Debug)]
pub struct WireConfig {
    /// The shared secret; `None` only for loopback clusters.
    pub secret: Option<Arc<Secret>>,
    /// The largest payload of one frame, both ways.
    pub max_frame: usize,
    /// The time the whole handshake (and a TCP connect) may take.
    pub handshake_timeout: Duration,
    /// TLS around the TCP stream ([`accept_tcp`], [`connect_tcp`]); both sides
    /// must agree.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<TlsConfig>>,
}

impl Default for WireConfig {
    fn default() -> WireConfig {
        WireConfig {
            secret: None,
            max_frame: DEFAULT_MAX_FRAME,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl WireConfig {
    /// The defaults, with the secret from `RASK_SECRET` if set (TLS
    /// settings in the environment are [`WireConfig::try_from_env`]'s).
    pub fn from_env() -> WireConfig {
        WireConfig {
            secret: Secret::from_env().map(Arc::new),
            ..WireConfig::default()
        }
    }

    /// [`WireConfig::from_env`], with TLS from `RASK_TLS_CERT`,
    /// `RASK_TLS_KEY`, `RASK_TLS_CA` and `RASK_TLS_SERVER_NAME`
    /// (`TlsFiles::from_env`). Files that do not load, or TLS settings in a
    /// build without the `tls` feature, are an error: never a silent
    /// connection without TLS.
    pub fn try_from_env() -> Result<WireConfig, WireError> {
        #[allow(unused_mut)]
        let mut w = WireConfig::from_env();
        #[cfg(feature = "tls")]
        if let Some(files) = TlsFiles::from_env() {
            w.tls = Some(Arc::new(files.load()?));
        }
        #[cfg(not(feature = "tls"))]
        if let Some(k) = TLS_VARS
            .iter()
            .find(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()))
        {
            return Err(WireError::NoTls(format!("{k} is set")));
        }
        Ok(w)
    }

    /// The same settings with this secret.
    pub fn with_secret(mut self, secret: Secret) -> WireConfig {
        self.secret = Some(Arc::new(secret));
        self
    }

    /// These settings to connect to the scheduler at `scheduler`
    /// (`host:port`): without a secret of their own, the one a scheduler
    /// on this machine wrote to [`secret_file`] for that port. Still none:
    /// [`WireError::NoSecret`], naming the address and the file.
    pub fn or_local_secret(mut self, scheduler: &str) -> Result<WireConfig, WireError> {
        if self.secret.is_some() {
            return Ok(self);
        }
        let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(scheduler)
            .map(Iterator::collect)
            .unwrap_or_default();
        let Some(addr) = addrs.iter().copied().find(|a| is_this_machine(a.ip())) else {
            return Err(WireError::NoSecret {
                addr: scheduler.to_owned(),
                file: None,
            });
        };
        let file = secret_file(addr.port());
        match Secret::from_file(&file) {
            Ok(Some(s)) => {
                self.secret = Some(Arc::new(s));
                Ok(self)
            }
            Ok(None) => Err(WireError::NoSecret {
                addr: scheduler.to_owned(),
                file: Some(file),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "rask wire: secret file not used");
                Err(WireError::NoSecret {
                    addr: scheduler.to_owned(),
                    file: Some(file),
                })
            }
        }
    }
}

/// An address of this machine: loopback, unspecified, or one a socket can
/// bind here.
fn is_this_machine(ip: IpAddr) -> bool {
    is_loopback(ip)
        || ip.is_unspecified()
        || std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// Refuses listening on a non-loopback address without a secret
/// ([`WireError::InsecureBind`]); anything else is fine.
pub fn check_bind(addr: &SocketAddr, cfg: &WireConfig) -> Result<(), WireError> {
    if cfg.secret.is_some() || is_loopback(addr.ip()) {
        Ok(())
    } else {
        Err(WireError::InsecureBind { addr: *addr })
    }
}

/// Loopback, counting IPv4-mapped IPv6 loopback (`::ffff:127.0.0.1`). The
/// unspecified address (`0.0.0.0`, `::`) is not loopback: it listens everywhere.
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_bind_refuses_open_addresses_without_a_secret() {
        let open = WireConfig::default();
        for a in [
            "0.0.0.0:7000",
            "[::]:7000",
            "10.1.2.3:7000",
            "[2001:db8::1]:7000",
        ] {
            let addr: SocketAddr = a.parse().expect("test address");
            let err = check_bind(&addr, &open).expect_err(a);
            assert!(matches!(err, WireError::InsecureBind { .. }), "{err}");
            assert!(err.to_string().contains("without a shared secret"), "{err}");
        }
        for a in [
            "127.0.0.1:7000",
            "127.8.9.1:0",
            "[::1]:7000",
            "[::ffff:127.0.0.1]:1",
        ] {
            let addr: SocketAddr = a.parse().expect("test address");
            check_bind(&addr, &open).expect(a);
        }
        let closed = WireConfig::default().with_secret(Secret::new("s"));
        let any: SocketAddr = "0.0.0.0:7000".parse().expect("test address");
        check_bind(&any, &closed).expect("a secret allows any address");
    }

    #[test]
    fn defaults() {
        let c = WireConfig::default();
        assert!(c.secret.is_none());
        assert_eq!(c.max_frame, DEFAULT_MAX_FRAME);
        assert_eq!(c.handshake_timeout, Duration::from_secs(10));
    }
}
