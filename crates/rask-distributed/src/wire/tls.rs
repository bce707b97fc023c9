//! TLS (rustls with the `ring` provider) around the wire's TCP streams; cargo
//! feature `tls`. PEM is read by `rustls-pki-types` (`PemObject`), rustls's
//! own crate (`rustls-pemfile` is unmaintained).
//!
//! Invariants:
//! 1. TLS sits under the framing and the handshake: [`super::accept_tcp`] and
//!    [`super::connect_tcp`] wrap the TCP stream, then run the usual handshake
//!    (version, shared secret) over it, all under `handshake_timeout`. TLS adds
//!    confidentiality and server authentication; the shared secret still decides
//!    who may join.
//! 2. A server needs its certificate chain and key; a connecting side needs the
//!    CA that signed the server's certificate and the name in it. One
//!    [`TlsConfig`] may hold both, so a whole cluster can share one.
//! 3. The crypto provider is chosen here (ring), never taken from a process-wide
//!    default, so nothing panics for want of one.
//! 4. A setting made from files ([`TlsFiles`]) remembers them, so a local
//!    deployment hands the same files to its worker processes
//!    (`RASK_TLS_*`, [`TlsFiles::from_env`]); one made from PEM bytes cannot
//!    be handed on.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem;
use tokio_rustls::rustls::{
    self,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName},
    ClientConfig, RootCertStore, ServerConfig,
};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::error::{PeerLabel, WireError};
use super::handshake::{BoxRead, BoxWrite};

/// TLS settings: what a server presents, what a connecting side trusts.
#[derive(Clone)]
pub struct TlsConfig {
    server: Option<Arc<ServerConfig>>,
    client: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    files: Option<TlsFiles>,
}

/// TLS settings as PEM files: `cert` and `key` to serve (a scheduler, a
/// worker's data port), `ca` and `server_name` to connect (a client, a
/// worker). A worker needs all four; each pair is all or nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// The CA certificate(s) that signed the servers' certificates.
    pub ca: Option<PathBuf>,
    /// The name the servers' certificates carry (a DNS name or an IP).
    pub server_name: Option<String>,
}

impl TlsFiles {
    /// The files named by `RASK_TLS_CERT`, `RASK_TLS_KEY`, `RASK_TLS_CA` and
    /// `RASK_TLS_SERVER_NAME`; `None` when none is set.
    pub fn from_env() -> Option<TlsFiles> {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let f = TlsFiles {
            cert: var(super::TLS_VARS[0]).map(PathBuf::from),
            key: var(super::TLS_VARS[1]).map(PathBuf::from),
            ca: var(super::TLS_VARS[2]).map(PathBuf::from),
            server_name: var(super::TLS_VARS[3]).map(|v| v.to_string_lossy().into_owned()),
        };
        (f != TlsFiles::default()).then_some(f)
    }

    /// The environment variables that stand for these files.
    pub fn env(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        let parts = [
            self.cert.as_ref().map(|p| p.as_os_str().to_owned()),
            self.key.as_ref().map(|p| p.as_os_str().to_owned()),
            self.ca.as_ref().map(|p| p.as_os_str().to_owned()),
            self.server_name.as_ref().map(Into::into),
        ];
        super::TLS_VARS
            .into_iter()
            .zip(parts)
            .filter_map(|(k, v)| Some((k, v?)))
            .collect()
    }

    /// Reads the files.
    pub fn load(&self) -> Result<TlsConfig, WireError> {
        let server = match (&self.cert, &self.key) {
            (Some(c), Some(k)) => TlsConfig::server_from_pem(&read(c)?, &read(k)?)?.server,
            (None, None) => None,
            _ => {
                return Err(WireError::Tls(
                    "a certificate needs its key, and a key its certificate".into(),
                ))
            }
        };
        let client = match (&self.ca, &self.server_name) {
            (Some(ca), Some(name)) => TlsConfig::client_from_pem(&read(ca)?, name)?.client,
            (None, None) => None,
            _ => {
                return Err(WireError::Tls(
                    "a CA needs the server name to check, and a server name its CA".into(),
                ))
            }
        };
        if server.is_none() && client.is_none() {
            return Err(WireError::Tls("no TLS files given".into()));
        }
        Ok(TlsConfig {
            server,
            client,
            files: Some(self.clone()),
        })
    }
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("serves", &self.server.is_some())
            .field("server_name", &self.client.as_ref().map(|c| &c.1))
            .finish()
    }
}

fn tls_err(what: &str, e: impl std::fmt::Display) -> WireError {
    WireError::Tls(format!("{what}: {e}"))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, WireError> {
    std::fs::read(path).map_err(|e| tls_err(&format!("cannot read {}", path.display()), e))
}

fn certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, WireError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err(&format!("bad PEM in {what}"), e))?;
    if certs.is_empty() {
        return Err(WireError::Tls(format!("no certificate in {what}")));
    }
    Ok(certs)
}

impl TlsConfig {
    /// A server side from PEM bytes: the certificate chain (leaf first) and its
    /// private key (PKCS#8, PKCS#1 or SEC1).
    pub fn server_from_pem(cert_chain: &[u8], key: &[u8]) -> Result<TlsConfig, WireError> {
        let chain = certs(cert_chain, "the certificate chain")?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| match e {
            pem::Error::NoItemsFound => WireError::Tls("no private key in the key PEM".into()),
            e => tls_err("bad PEM in the private key", e),
        })?;
        let cfg = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err("tls versions", e))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| tls_err("certificate and key", e))?;
        Ok(TlsConfig {
            server: Some(Arc::new(cfg)),
            client: None,
            files: None,
        })
    }

    /// A connecting side from PEM bytes: the CA certificate(s) to trust and the
    /// name the server's certificate must carry (a DNS name or an IP address).
    pub fn client_from_pem(ca: &[u8], server_name: &str) -> Result<TlsConfig, WireError> {
        let mut roots = RootCertStore::empty();
        for c in certs(ca, "the CA PEM")? {
            roots.add(c).map_err(|e| tls_err("CA certificate", e))?;
        }
        let cfg = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err("tls versions", e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(server_name.to_string())
            .map_err(|e| tls_err(&format!("server name {server_name:?}"), e))?;
        Ok(TlsConfig {
            server: None,
            client: Some((Arc::new(cfg), name)),
            files: None,
        })
    }

    /// Both sides from PEM files: this node's certificate chain and key (to
    /// serve), the CA (to connect) and the name in the servers' certificates.
    pub fn from_pem_files(
        cert_chain: &Path,
        key: &Path,
        ca: &Path,
        server_name: &str,
    ) -> Result<TlsConfig, WireError> {
        TlsFiles {
            cert: Some(cert_chain.to_owned()),
            key: Some(key.to_owned()),
            ca: Some(ca.to_owned()),
            server_name: Some(server_name.to_owned()),
        }
        .load()
    }

    /// The files this setting was read from (rule 4), if it was.
    pub fn files(&self) -> Option<&TlsFiles> {
        self.files.as_ref()
    }

    /// A server side from PEM files.
    pub fn server_from_pem_files(cert_chain: &Path, key: &Path) -> Result<TlsConfig, WireError> {
        TlsFiles {
            cert: Some(cert_chain.to_owned()),
            key: Some(key.to_owned()),
            ..TlsFiles::default()
        }
        .load()
    }

    /// A connecting side from a CA PEM file.
    pub fn client_from_pem_files(ca: &Path, server_name: &str) -> Result<TlsConfig, WireError> {
        TlsFiles {
            ca: Some(ca.to_owned()),
            server_name: Some(server_name.to_owned()),
            ..TlsFiles::default()
        }
        .load()
    }
}

/// Runs the TLS handshake on `stream`, after the preamble that tells a
/// plain client what it reached (`probe.rs`), and splits the result.
pub(crate) async fn wrap(
    mut stream: TcpStream,
    tls: &TlsConfig,
    peer: Option<SocketAddr>,
    server: bool,
) -> Result<(BoxRead, BoxWrite), WireError> {
    let at = PeerLabel(peer);
    if server {
        let cfg = tls.server.clone().ok_or_else(|| {
            WireError::Tls("no certificate and key configured to serve TLS".into())
        })?;
        super::probe::send_preamble(&mut stream, peer).await?;
        let s = TlsAcceptor::from(cfg)
            .accept(stream)
            .await
            .map_err(|e| tls_err(&format!("{at}: handshake"), e))?;
        let (r, w) = tokio::io::split(s);
        Ok((Box::pin(r), Box::pin(w)))
    } else {
        let (cfg, name) = tls
            .client
            .clone()
            .ok_or_else(|| WireError::Tls("no CA configured to connect with TLS".into()))?;
        super::probe::expect_preamble(&mut stream, peer).await?;
        let s = TlsConnector::from(cfg)
            .connect(name, stream)
            .await
            .map_err(|e| tls_err(&format!("{at}: handshake"), e))?;
        let (r, w) = tokio::io::split(s);
        Ok((Box::pin(r), Box::pin(w)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{accept_tcp, connect_tcp, listen, Role, Secret, WireConfig};
    use super::*;
    use std::time::Duration;

    const CA: &[u8] = include_bytes!("testdata/ca.pem");
    const CERT: &[u8] = include_bytes!("testdata/cert.pem");
    const KEY: &[u8] = include_bytes!("testdata/key.pem");

    fn both(name: &str) -> Arc<TlsConfig> {
        let s = TlsConfig::server_from_pem(CERT, KEY).expect("server tls");
        let c = TlsConfig::client_from_pem(CA, name).expect("client tls");
        Arc::new(TlsConfig {
            server: s.server,
            client: c.client,
            files: None,
        })
    }

    fn cfg(tls: Option<Arc<TlsConfig>>) -> WireConfig {
        WireConfig {
            tls,
            handshake_timeout: Duration::from_secs(3),
            ..WireConfig::default().with_secret(Secret::new("k"))
        }
    }

    /// Serves one connection; returns what `accept_tcp` said and, when it
    /// worked, the first message received.
    async fn serve_one(
        server: WireConfig,
    ) -> (
        SocketAddr,
        tokio::task::JoinHandle<Result<Option<String>, WireError>>,
    ) {
        let l = listen("127.0.0.1:0".parse().expect("addr"), &server)
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let h = tokio::spawn(async move {
            let (s, _) = l.accept().await?;
            let (_, mut r, mut w) = accept_tcp(s, &server).await?;
            let got = r.recv::<String>().await?;
            w.send("ok").await?;
            w.flush().await?;
            Ok(got)
        });
        (addr, h)
    }

    #[tokio::test]
    async fn tls_round_trip() {
        let tls = both("localhost");
        let (addr, h) = serve_one(cfg(Some(tls.clone()))).await;
        let (mut r, mut w) = connect_tcp(addr, &cfg(Some(tls)), Role::Worker)
            .await
            .expect("connect");
        w.send("hello").await.expect("send");
        w.flush().await.expect("flush");
        assert_eq!(
            r.recv::<String>().await.expect("recv").as_deref(),
            Some("ok")
        );
        assert_eq!(
            h.await.expect("join").expect("server").as_deref(),
            Some("hello")
        );
    }

    #[tokio::test]
    async fn wrong_server_name_is_a_tls_error() {
        let (addr, h) = serve_one(cfg(Some(both("localhost")))).await;
        let e = connect_tcp(addr, &cfg(Some(both("elsewhere.example"))), Role::Client)
            .await
            .expect_err("refused");
        assert!(matches!(e, WireError::Tls(_)), "{e}");
        assert!(h.await.expect("join").is_err());
    }

    /// A client with `client` TLS settings against a server with
    /// `server`'s: the client's error, told at once (the handshake timeout
    /// is 3 s), and the server's outcome, also at once.
    async fn mismatched(
        server: Option<Arc<TlsConfig>>,
        client: Option<Arc<TlsConfig>>,
    ) -> (SocketAddr, WireError) {
        let (addr, h) = serve_one(cfg(server)).await;
        let start = std::time::Instant::now();
        let e = connect_tcp(addr, &cfg(client), Role::Client)
            .await
            .expect_err("refused");
        let took = start.elapsed();
        assert!(took < Duration::from_secs(1), "{took:?}");
        let served = tokio::time::timeout(Duration::from_secs(1), h)
            .await
            .expect("the server is not left waiting");
        assert!(served.expect("join").is_err());
        (addr, e)
    }

    #[tokio::test]
    async fn plain_client_against_tls_server_fails_at_once() {
        let (addr, e) = mismatched(Some(both("localhost")), None).await;
        assert!(
            matches!(e, WireError::ServerSpeaksTls { peer: Some(a) } if a == addr),
            "{e}"
        );
        let text = e.to_string();
        assert!(
            text.contains(&format!("the server at {addr} speaks TLS")) && text.contains("--tls-ca"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn tls_client_against_plain_server_fails_at_once() {
        let (addr, e) = mismatched(None, Some(both("localhost"))).await;
        assert!(
            matches!(e, WireError::ServerSpeaksPlain { peer: Some(a) } if a == addr),
            "{e}"
        );
        assert!(e.to_string().contains("speaks plain TCP, not TLS"), "{e}");
    }

    #[test]
    fn bad_pem_is_a_typed_error() {
        assert!(matches!(
            TlsConfig::server_from_pem(b"junk", KEY),
            Err(WireError::Tls(_))
        ));
        assert!(matches!(
            TlsConfig::server_from_pem(CERT, b"junk"),
            Err(WireError::Tls(_))
        ));
        assert!(matches!(
            TlsConfig::client_from_pem(b"", "localhost"),
            Err(WireError::Tls(_))
        ));
        let missing = Path::new("/nonexistent/rask.pem");
        assert!(matches!(
            TlsConfig::client_from_pem_files(missing, "x"),
            Err(WireError::Tls(_))
        ));
    }
}
