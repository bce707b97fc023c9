//! Targets on the wire (`rask_distributed::wire`): frame decoding and both
//! sides of the handshake, fed bytes through a reader that hands them out
//! in uneven pieces (so a frame arrives split across reads, as over TCP).
//!
//! Input layout: byte 0 picks the read sizes, byte 1 the settings (frame
//! limit, typed or raw reads, secret or not); the rest is what the peer
//! sends.

use std::io::ErrorKind;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rask_distributed::wire::{
    decode, encode, handshake_client, handshake_server, FrameReader, FrameWriter, Role, Secret,
    WireConfig, WireError,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Messages of the shapes the protocol uses (numbers, strings, bytes,
/// options, floats, nested lists), not recursive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Msg {
    /// A bare number.
    Ping(u64),
    /// A task as a scheduler sends it.
    Task {
        /// Its id.
        id: u64,
        /// The function's name.
        func: String,
        /// Dependencies.
        deps: Vec<u64>,
        /// Encoded arguments.
        args: Vec<Vec<u8>>,
        /// A resource and its amount.
        needs: Option<(String, f64)>,
    },
    /// A result.
    Done {
        /// The task.
        id: u64,
        /// Whether it is big.
        big: bool,
        /// Its bytes, if small.
        bytes: Option<Vec<u8>>,
    },
    /// An error with its chain.
    Failed(String, Vec<String>),
}

/// Reads from a slice in pieces of varying size (1 to 64 KiB).
struct Pieces<'a> {
    data: &'a [u8],
    state: u32,
}

impl AsyncRead for Pieces<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        // An LCG picks each piece: mostly small, sometimes large.
        self.state = self.state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let r = (self.state >> 16) as usize;
        let piece = if r.is_multiple_of(4) {
            1 + r % 65_536
        } else {
            1 + r % 13
        };
        let n = piece.min(self.data.len()).min(buf.remaining());
        let (now, rest) = self.data.split_at(n);
        buf.put_slice(now);
        self.data = rest;
        Poll::Ready(Ok(()))
    }
}

fn split(data: &[u8]) -> (u8, u8, &[u8]) {
    match data {
        [a, b, rest @ ..] => (*a, *b, rest),
        [a] => (*a, 0, &[]),
        [] => (0, 0, &[]),
    }
}

/// Frame limits the targets use: small ones reach `FrameTooLarge` often.
const LIMITS: [usize; 4] = [16, 300, 4 << 10, 1 << 20];

/// Frames of `Vec<Msg>`: every frame decodes, or is `Malformed` (and the
/// next one still reads), or ends the stream with `FrameTooLarge` or an
/// unexpected end of stream. Decoded messages re-encode to the same bytes.
pub fn frames(data: &[u8]) {
    let (pieces, settings, stream) = split(data);
    let max = LIMITS[usize::from(settings) % LIMITS.len()];
    let typed = settings & 4 != 0;
    let mut reader = FrameReader::new(
        Pieces {
            data: stream,
            state: u32::from(pieces),
        },
        max,
    );
    crate::block_on(async {
        for _ in 0..10_000 {
            let outcome = if typed {
                reader.recv::<Vec<Msg>>().await.map(|m| m.map(|_| ()))
            } else {
                match reader.recv_bytes().await {
                    Ok(Some(bytes)) => {
                        assert!(bytes.len() <= max, "a frame over the limit was read");
                        match decode::<Vec<Msg>>(bytes, max) {
                            Ok(msgs) => {
                                // Not byte for byte: the codec reads an
                                // overlong varint (`240 0` for 112) as its
                                // value and writes the short form. What is
                                // re-encoded is no longer, and decodes to
                                // itself.
                                let again = encode(&msgs).unwrap_or_default();
                                assert!(
                                    again.len() <= bytes.len(),
                                    "a decoded frame re-encodes longer"
                                );
                                let Ok(back) = decode::<Vec<Msg>>(&again, usize::MAX) else {
                                    panic!("a re-encoded frame does not decode");
                                };
                                assert_eq!(
                                    encode(&back).unwrap_or_default(),
                                    again,
                                    "a re-encoded frame does not decode to itself"
                                );
                                Ok(Some(()))
                            }
                            Err(e) => Err(e),
                        }
                    }
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                }
            };
            match outcome {
                Ok(Some(())) => {}
                Ok(None) => return,
                // Rule 4 of `frame.rs`: the frame was read whole, go on.
                Err(WireError::Malformed(_)) => {}
                Err(WireError::FrameTooLarge { len, max: m }) => {
                    assert!(len > m && m == max);
                    // Rule 1: the stream is out of sync and stays refused.
                    let next = reader.recv_bytes().await;
                    assert!(
                        matches!(next, Err(WireError::Io(_))),
                        "read after a bad length"
                    );
                    return;
                }
                Err(WireError::Io(e)) if e.kind() == ErrorKind::UnexpectedEof => return,
                Err(e) => panic!("a frame stream from a slice failed with {e:?}"),
            }
        }
    });
}

fn config(settings: u8) -> WireConfig {
    if settings & 8 != 0 {
        WireConfig::default().with_secret(Secret::new("fuzz-secret"))
    } else {
        WireConfig::default()
    }
}

/// The settings, a reader over what the peer sends, a writer to nowhere.
type Sides<'a> = (
    WireConfig,
    u8,
    FrameReader<Pieces<'a>>,
    FrameWriter<tokio::io::Sink>,
);

fn sides(data: &[u8]) -> Sides<'_> {
    let (pieces, settings, stream) = split(data);
    let cfg = config(settings);
    let reader = FrameReader::new(
        Pieces {
            data: stream,
            state: u32::from(pieces),
        },
        cfg.max_frame,
    );
    let writer = FrameWriter::new(tokio::io::sink(), cfg.max_frame);
    (cfg, settings, reader, writer)
}

/// The server's side of the handshake, reading what a client sends.
/// Without the secret no input may pass when the server has one.
pub fn handshake_as_server(data: &[u8]) {
    let (cfg, _, mut reader, mut writer) = sides(data);
    match crate::block_on(handshake_server(&mut reader, &mut writer, &cfg)) {
        Ok(role) => assert!(
            cfg.secret.is_none(),
            "a client without the secret was accepted as {role:?}"
        ),
        Err(e) => check_handshake_error(&e),
    }
}

/// The client's side of the handshake, reading what a server sends.
pub fn handshake_as_client(data: &[u8]) {
    let (cfg, settings, mut reader, mut writer) = sides(data);
    let role = [Role::Client, Role::Worker, Role::Peer][usize::from(settings >> 4) % 3];
    match crate::block_on(handshake_client(&mut reader, &mut writer, &cfg, role)) {
        Ok(()) => assert!(
            cfg.secret.is_none(),
            "a server without the secret was trusted"
        ),
        Err(e) => check_handshake_error(&e),
    }
}

/// The errors a handshake over bytes that are all there may end with.
fn check_handshake_error(e: &WireError) {
    match e {
        WireError::Malformed(_)
        | WireError::VersionMismatch { .. }
        | WireError::AuthFailed(_)
        | WireError::FrameTooLarge { .. }
        | WireError::Closed => {}
        WireError::Io(io) if io.kind() == ErrorKind::UnexpectedEof => {}
        other => panic!("a handshake over a slice failed with {other:?}"),
    }
}

/// Valid streams for the seed corpus and the generator: frames of
/// messages, and the bytes of a real client's and server's handshake.
pub fn valid_inputs(target: &str) -> Vec<Vec<u8>> {
    let msgs = vec![
        Msg::Ping(7),
        Msg::Task {
            id: 1,
            func: "app::load".into(),
            deps: vec![0, 3],
            args: vec![vec![1, 2, 3], vec![]],
            needs: Some(("gpu".into(), 1.0)),
        },
        Msg::Done {
            id: 1,
            big: false,
            bytes: Some(vec![9; 40]),
        },
        Msg::Failed("boom".into(), vec!["cause".into()]),
    ];
    let frame = |m: &[Msg]| {
        let p = encode(&m.to_vec()).unwrap_or_default();
        let mut f = (p.len() as u32).to_le_bytes().to_vec();
        f.extend_from_slice(&p);
        f
    };
    match target {
        "wire_frames" => {
            let mut all = Vec::new();
            for (i, settings) in [2u8, 3, 6, 7].into_iter().enumerate() {
                let mut s = vec![i as u8 * 37, settings];
                s.extend(frame(&msgs));
                s.extend(frame(&msgs[1..2]));
                s.extend(frame(&[]));
                all.push(s);
            }
            all
        }
        "handshake_server" | "handshake_client" => {
            let (client, server) = recorded_handshake();
            let ours = if target == "handshake_server" {
                client
            } else {
                server
            };
            [0u8, 2, 8, 10, 16, 32]
                .into_iter()
                .map(|settings| {
                    let mut s = vec![settings.wrapping_mul(3), settings];
                    s.extend_from_slice(&ours);
                    s
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Copies what a side writes.
struct Tee<W> {
    inner: W,
    log: Arc<Mutex<Vec<u8>>>,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Tee<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            log.extend_from_slice(&buf[..*n]);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The bytes a real client and a real server (no secret) send each other.
fn recorded_handshake() -> (Vec<u8>, Vec<u8>) {
    let (c, s) = tokio::io::duplex(1 << 16);
    let (c_read, c_write) = tokio::io::split(c);
    let (s_read, s_write) = tokio::io::split(s);
    let (c_log, s_log) = (Arc::default(), Arc::default());
    let cfg = WireConfig::default();
    let (cr, sr) = crate::block_on(async {
        let client = async {
            let mut r = FrameReader::new(c_read, cfg.max_frame);
            let tee = Tee {
                inner: c_write,
                log: Arc::clone(&c_log),
            };
            let mut w = FrameWriter::new(tee, cfg.max_frame);
            handshake_client(&mut r, &mut w, &cfg, Role::Worker).await
        };
        let server = async {
            let mut r = FrameReader::new(s_read, cfg.max_frame);
            let tee = Tee {
                inner: s_write,
                log: Arc::clone(&s_log),
            };
            let mut w = FrameWriter::new(tee, cfg.max_frame);
            handshake_server(&mut r, &mut w, &cfg).await
        };
        tokio::join!(client, server)
    });
    assert!(cr.is_ok() && sr.is_ok(), "the recorded handshake failed");
    let take = |l: &Arc<Mutex<Vec<u8>>>| l.lock().unwrap_or_else(|p| p.into_inner()).clone();
    (take(&c_log), take(&s_log))
}
