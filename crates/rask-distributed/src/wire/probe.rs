//! Telling TLS from plain TCP at once, so that a client configured one way
//! and a server the other get a typed error naming the fix instead of
//! waiting out the handshake timeout (both would wait for the other to
//! speak: the rask handshake starts with the server, TLS with the client).
//!
//! A TLS server writes [`TLS_PREAMBLE`] in the clear as soon as it accepts,
//! then runs the TLS handshake. So the connecting side always has bytes to
//! read at once:
//! - a TLS client reads the preamble before its TLS handshake; the first
//!   byte that differs (a plain server's hello) is
//!   [`WireError::ServerSpeaksPlain`];
//! - a plain client peeks at the first bytes before its handshake; the
//!   preamble is [`WireError::ServerSpeaksTls`], anything else is left for
//!   the handshake to read.
//!
//! Invariant: the preamble cannot begin a plain hello. A plain hello starts
//! with its frame's length (4 bytes, little-endian, under the handshake's
//! frame limit of 4 KiB, so its third and fourth bytes are zero); the
//! preamble's third and fourth bytes are `S` and `K`.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use super::WireError;

/// What a TLS server sends before its TLS handshake.
pub(crate) const TLS_PREAMBLE: &[u8; 8] = b"RASK-TLS";

/// A plain client's check: the server's first bytes are not the preamble.
/// Reads nothing (peeks); returns as soon as the first bytes differ from it.
pub(crate) async fn refuse_tls_server(
    stream: &TcpStream,
    peer: Option<SocketAddr>,
) -> Result<(), WireError> {
    let mut buf = [0u8; TLS_PREAMBLE.len()];
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 || buf[..n] != TLS_PREAMBLE[..n] {
            // Closed (the handshake will say so), or not the preamble.
            return Ok(());
        }
        if n == TLS_PREAMBLE.len() {
            return Err(WireError::ServerSpeaksTls { peer });
        }
        // A prefix of it so far: wait for the rest (peek would return at once).
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A TLS client's check: reads the preamble, failing at its first byte
/// that differs.
#[cfg(feature = "tls")]
pub(crate) async fn expect_preamble(
    stream: &mut TcpStream,
    peer: Option<SocketAddr>,
) -> Result<(), WireError> {
    use tokio::io::AsyncReadExt;
    for &want in TLS_PREAMBLE {
        let got = match stream.read_u8().await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(WireError::Closed)
            }
            Err(e) => return Err(super::error::io_at(peer, e)),
        };
        if got != want {
            return Err(WireError::ServerSpeaksPlain { peer });
        }
    }
    Ok(())
}

/// A TLS server's first bytes.
#[cfg(feature = "tls")]
pub(crate) async fn send_preamble(
    stream: &mut TcpStream,
    peer: Option<SocketAddr>,
) -> Result<(), WireError> {
    use tokio::io::AsyncWriteExt;
    stream
        .write_all(TLS_PREAMBLE)
        .await
        .map_err(|e| super::error::io_at(peer, e))
}
