//! Handshake tests: good peers, bad peers (wrong secret, one-sided secret,
//! other versions, garbage, oversized frames, silence), over `duplex` and TCP.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::timeout;

use super::super::frame::encode;
use super::*;

const T: Duration = Duration::from_secs(5);

fn cfg(secret: Option<&str>) -> WireConfig {
    WireConfig {
        secret: secret.map(|s| Arc::new(Secret::new(s))),
        handshake_timeout: Duration::from_secs(3),
        ..WireConfig::default()
    }
}

/// Runs both sides of a handshake over a pipe.
async fn pair(
    server: WireConfig,
    client: WireConfig,
    role: Role,
) -> (
    Result<
        (
            Role,
            FrameReader<ReadHalf<DuplexStream>>,
            FrameWriter<WriteHalf<DuplexStream>>,
        ),
        WireError,
    >,
    Result<
        (
            FrameReader<ReadHalf<DuplexStream>>,
            FrameWriter<WriteHalf<DuplexStream>>,
        ),
        WireError,
    >,
) {
    let (a, b) = duplex(1 << 16);
    let s = tokio::spawn(async move { accept(a, &server).await });
    let c = timeout(T, connect(b, &client, role))
        .await
        .expect("client in time");
    let s = timeout(T, s).await.expect("server in time").expect("join");
    (s, c)
}

fn auth_text(r: &WireError) -> String {
    match r {
        WireError::AuthFailed(m) => m.clone(),
        e => panic!("expected AuthFailed, got {e:?}"),
    }
}

#[tokio::test]
async fn good_handshakes_then_frames_both_ways() {
    for secret in [None, Some("s3cret")] {
        for role in [Role::Client, Role::Worker, Role::Peer] {
            let (s, c) = pair(cfg(secret), cfg(secret), role).await;
            let (got, mut sr, mut sw) = s.expect("server side");
            let (mut cr, mut cw) = c.expect("client side");
            assert_eq!(got, role);
            cw.send(&vec![1u64, 2, 3][..]).await.expect("send");
            cw.flush().await.expect("flush");
            assert_eq!(
                sr.recv::<Vec<u64>>().await.expect("recv"),
                Some(vec![1, 2, 3])
            );
            sw.send("pong").await.expect("send");
            sw.flush().await.expect("flush");
            assert_eq!(
                cr.recv::<String>().await.expect("recv").as_deref(),
                Some("pong")
            );
            // After the handshake the full frame limit applies again.
            assert_eq!(sr.max_frame(), super::super::DEFAULT_MAX_FRAME);
        }
    }
}

#[tokio::test]
async fn wrong_secret_fails_on_both_ends() {
    let (s, c) = pair(cfg(Some("right")), cfg(Some("wrong")), Role::Worker).await;
    let s = s.expect_err("server refuses");
    let c = c.expect_err("client is refused");
    assert!(auth_text(&s).contains("wrong secret"), "{s}");
    assert!(auth_text(&c).contains("wrong secret"), "{c}");
}

#[tokio::test]
async fn secret_on_one_side_only_fails_on_both_ends() {
    let (s, c) = pair(cfg(Some("x")), cfg(None), Role::Client).await;
    let (s, c) = (s.expect_err("server"), c.expect_err("client"));
    assert!(auth_text(&s).contains("client has no secret"), "{s}");
    assert!(auth_text(&c).contains("requires a shared secret"), "{c}");

    let (s, c) = pair(cfg(None), cfg(Some("x")), Role::Client).await;
    let (s, c) = (s.expect_err("server"), c.expect_err("client"));
    assert!(auth_text(&s).contains("server has none"), "{s}");
    assert!(auth_text(&c).contains("server has none"), "{c}");
}

/// Writes one frame by hand.
async fn raw_frame(w: &mut DuplexStream, payload: &[u8]) {
    w.write_all(&(payload.len() as u32).to_le_bytes())
        .await
        .expect("write");
    w.write_all(payload).await.expect("write");
}

/// Reads one frame by hand.
async fn raw_read(r: &mut DuplexStream) -> Vec<u8> {
    let mut len = [0; 4];
    r.read_exact(&mut len).await.expect("read");
    let mut p = vec![0; u32::from_le_bytes(len) as usize];
    r.read_exact(&mut p).await.expect("read");
    p
}

#[tokio::test]
async fn other_version_of_server_fails_on_both_ends() {
    let (mut fake, b) = duplex(1 << 16);
    let client = tokio::spawn(async move { connect(b, &cfg(None), Role::Worker).await });
    let hello = encode(&ServerHello {
        magic: MAGIC,
        version: 3,
        nonce: [7; 32],
    })
    .expect("encode");
    raw_frame(&mut fake, &hello).await;
    let err = timeout(T, client)
        .await
        .expect("time")
        .expect("join")
        .expect_err("refused");
    assert!(
        matches!(err, WireError::VersionMismatch { ours: 2, theirs: 3 }),
        "{err}"
    );
    assert!(err.to_string().contains("ours 2, theirs 3"), "{err}");
    // The client told the fake server why.
    let told: ClientMsg = decode(&raw_read(&mut fake).await, 1 << 10).expect("decode");
    assert!(
        matches!(
            told,
            ClientMsg {
                magic: MAGIC,
                version: 2,
                body: ClientBody::Reject {
                    reason: Rejection::VersionMismatch
                }
            }
        ),
        "{told:?}"
    );
}

#[tokio::test]
async fn other_version_of_client_fails_on_both_ends() {
    let (a, mut fake) = duplex(1 << 16);
    let server = tokio::spawn(async move { accept(a, &cfg(None)).await });
    let hello: ServerHello = decode(&raw_read(&mut fake).await, 1 << 10).expect("hello");
    assert_eq!((hello.magic, hello.version), (MAGIC, PROTOCOL_VERSION));
    let answer = encode(&ClientMsg {
        magic: MAGIC,
        version: 3,
        body: ClientBody::Hello {
            role: Role::Worker,
            nonce: [1; 32],
            mac: vec![],
        },
    })
    .expect("encode");
    raw_frame(&mut fake, &answer).await;
    let err = timeout(T, server)
        .await
        .expect("time")
        .expect("join")
        .expect_err("refused");
    assert!(
        matches!(err, WireError::VersionMismatch { ours: 2, theirs: 3 }),
        "{err}"
    );
    let told: ServerMsg = decode(&raw_read(&mut fake).await, 1 << 10).expect("decode");
    assert!(
        matches!(
            told,
            ServerMsg::Reject {
                version: 2,
                reason: Rejection::VersionMismatch
            }
        ),
        "{told:?}"
    );
}

#[tokio::test]
async fn a_version_1_client_hears_of_the_version_not_of_garbage() {
    // Version 1's hello (bincode 1): variant 0, version 1, role, nonce, mac.
    let (a, mut fake) = duplex(1 << 16);
    let server = tokio::spawn(async move { accept(a, &cfg(Some("k"))).await });
    let _hello = raw_read(&mut fake).await;
    let mut v1 = vec![0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0];
    v1.extend_from_slice(&[9; 32]);
    v1.extend_from_slice(&[0; 8]);
    raw_frame(&mut fake, &v1).await;
    let err = timeout(T, server)
        .await
        .expect("time")
        .expect("join")
        .expect_err("refused");
    assert!(
        matches!(err, WireError::VersionMismatch { ours: 2, theirs: 1 }),
        "{err}"
    );
}

#[tokio::test]
async fn a_server_that_does_not_know_the_secret_is_refused() {
    for mac in [vec![], vec![0u8; 32]] {
        let (mut fake, b) = duplex(1 << 16);
        let client = tokio::spawn(async move { connect(b, &cfg(Some("k")), Role::Client).await });
        let hello = ServerHello {
            magic: MAGIC,
            version: PROTOCOL_VERSION,
            nonce: [3; 32],
        };
        raw_frame(&mut fake, &encode(&hello).expect("encode")).await;
        let _client_hello = raw_read(&mut fake).await;
        raw_frame(
            &mut fake,
            &encode(&ServerMsg::Accept { mac }).expect("encode"),
        )
        .await;
        let err = timeout(T, client)
            .await
            .expect("time")
            .expect("join")
            .expect_err("refused");
        assert!(matches!(err, WireError::AuthFailed(_)), "{err}");
    }
}

#[tokio::test]
async fn not_a_rask_server() {
    let (mut fake, b) = duplex(1 << 16);
    let client = tokio::spawn(async move { connect(b, &cfg(None), Role::Client).await });
    raw_frame(&mut fake, b"HTTP/1.1 200 OK\r\n").await;
    let err = timeout(T, client)
        .await
        .expect("time")
        .expect("join")
        .expect_err("refused");
    assert!(
        matches!(err, WireError::Malformed(ref m) if m.contains("not a rask server")),
        "{err}"
    );
}

#[tokio::test]
async fn an_oversized_handshake_frame_is_refused() {
    let (a, mut fake) = duplex(1 << 16);
    let server = tokio::spawn(async move { accept(a, &cfg(Some("k"))).await });
    let _hello = raw_read(&mut fake).await;
    fake.write_all(&(1u32 << 20).to_le_bytes())
        .await
        .expect("write");
    let err = timeout(T, server)
        .await
        .expect("time")
        .expect("join")
        .expect_err("refused");
    assert!(
        matches!(err, WireError::FrameTooLarge { len, max } if len == 1 << 20 && max == HANDSHAKE_MAX_FRAME),
        "{err}"
    );
    let told: ServerMsg = decode(&raw_read(&mut fake).await, 1 << 10).expect("decode");
    assert!(
        matches!(
            told,
            ServerMsg::Reject {
                reason: Rejection::Malformed(_),
                ..
            }
        ),
        "{told:?}"
    );
}

#[tokio::test]
async fn silent_peers_time_out() {
    let quick = WireConfig {
        handshake_timeout: Duration::from_millis(150),
        ..cfg(Some("k"))
    };
    // A client that says nothing.
    let (a, _silent) = duplex(1 << 16);
    let err = timeout(T, accept(a, &quick))
        .await
        .expect("time")
        .expect_err("timeout");
    assert!(matches!(err, WireError::Timeout("handshake")), "{err}");
    // A server that says nothing.
    let (b, _silent) = duplex(1 << 16);
    let err = timeout(T, connect(b, &quick, Role::Worker))
        .await
        .expect("time")
        .expect_err("timeout");
    assert!(matches!(err, WireError::Timeout("handshake")), "{err}");
}

#[tokio::test]
async fn garbage_to_either_side_never_panics() {
    let mut rng = super::super::frame::tests::Rng(42);
    for round in 0..200u64 {
        let n = match round % 3 {
            0 => rng.below(16),
            1 => rng.below(200),
            _ => rng.below(9000),
        } as usize;
        let mut bytes = rng.bytes(n);
        if round % 2 == 0 && bytes.len() >= 4 {
            let len = (bytes.len() - 4) as u32;
            bytes[..4].copy_from_slice(&len.to_le_bytes());
        }
        let (a, mut fake) = duplex(1 << 16);
        let quick = WireConfig {
            handshake_timeout: Duration::from_millis(500),
            ..cfg(if round % 4 == 0 { None } else { Some("k") })
        };
        let server_side = round % 2 == 0;
        let task = tokio::spawn(async move {
            if server_side {
                accept(a, &quick).await.map(|_| ())
            } else {
                connect(a, &quick, Role::Worker).await.map(|_| ())
            }
        });
        let _ = fake.write_all(&bytes).await;
        drop(fake);
        let r = timeout(T, task).await.expect("time").expect("no panic");
        match r {
            Err(
                WireError::Malformed(_)
                | WireError::FrameTooLarge { .. }
                | WireError::Closed
                | WireError::Io(_)
                | WireError::VersionMismatch { .. }
                | WireError::AuthFailed(_),
            ) => {}
            other => panic!("round {round}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn tcp_server_keeps_serving_good_peers_among_bad_ones() {
    let server_cfg = cfg(Some("cluster"));
    let listener = listen("127.0.0.1:0".parse().expect("addr"), &server_cfg)
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let refused = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = refused.clone();
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let cfg = server_cfg.clone();
            let log = log.clone();
            tokio::spawn(async move {
                match accept_tcp(stream, &cfg).await {
                    Ok((_role, mut r, mut w)) => {
                        // Echo batches of numbers, doubled.
                        while let Ok(Some(batch)) = r.recv::<Vec<u64>>().await {
                            let out: Vec<u64> = batch.iter().map(|x| x * 2).collect();
                            if w.send(&out[..]).await.is_err() || w.flush().await.is_err() {
                                break;
                            }
                        }
                    }
                    Err(e) => log.lock().expect("lock").push(e.to_string()),
                }
            });
        }
    });
    for i in 0..6u64 {
        // A bad peer of some kind ...
        match i % 3 {
            0 => {
                let e = connect_tcp(addr, &cfg(Some("nope")), Role::Worker)
                    .await
                    .expect_err("refused");
                assert!(matches!(e, WireError::AuthFailed(_)), "{e}");
            }
            1 => {
                let e = connect_tcp(addr, &cfg(None), Role::Client)
                    .await
                    .expect_err("refused");
                assert!(matches!(e, WireError::AuthFailed(_)), "{e}");
            }
            _ => {
                let mut s = tokio::net::TcpStream::connect(addr).await.expect("tcp");
                let _ = s.write_all(&[0xAB; 64]).await;
                let mut sink = Vec::new();
                let _ = timeout(T, s.read_to_end(&mut sink))
                    .await
                    .expect("server closes");
            }
        }
        // ... and a good one, served.
        let (mut r, mut w) = connect_tcp(addr, &cfg(Some("cluster")), Role::Worker)
            .await
            .expect("good peer");
        w.send(&[i, i + 1][..]).await.expect("send");
        w.flush().await.expect("flush");
        let got = timeout(T, r.recv::<Vec<u64>>())
            .await
            .expect("time")
            .expect("recv");
        assert_eq!(got, Some(vec![2 * i, 2 * i + 2]));
    }
    // Give the last refusals a moment to be recorded.
    for _ in 0..100 {
        if refused.lock().expect("lock").len() >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        refused.lock().expect("lock").len(),
        6,
        "{:?}",
        refused.lock().expect("lock")
    );
    server.abort();
}

#[tokio::test]
async fn connecting_to_nothing_is_an_io_error() {
    // Bind then drop, so the port is (very likely) closed.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    let e = connect_tcp(addr, &cfg(None), Role::Client)
        .await
        .expect_err("refused");
    assert!(matches!(e, WireError::Io(_) | WireError::Timeout(_)), "{e}");
}

/// A `tracing` subscriber that keeps every event as one line of text.
struct Capture(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl tracing::field::Visit for Line {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = Line(event.metadata().level().to_string());
        event.record(&mut line);
        self.0.lock().expect("lock").push(line.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn refusals_are_logged_with_the_reason_and_the_peer() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let _guard = tracing::subscriber::set_default(Capture(lines.clone()));
    let (s, c) = pair(cfg(Some("a")), cfg(Some("b")), Role::Worker).await;
    assert!(s.is_err() && c.is_err());
    let logged = lines.lock().expect("lock").clone();
    let warns: Vec<_> = logged.iter().filter(|l| l.starts_with("WARN")).collect();
    assert_eq!(warns.len(), 2, "one line per side: {logged:?}");
    assert!(
        warns.iter().any(|l| l.contains("refused connection")
            && l.contains("wrong secret")
            && l.contains("peer")),
        "{logged:?}"
    );
    assert!(
        warns
            .iter()
            .any(|l| l.contains("handshake with server failed") && l.contains("wrong secret")),
        "{logged:?}"
    );
    // Over TCP the line names the peer's address.
    lines.lock().expect("lock").clear();
    let server_cfg = cfg(None);
    let listener = listen("127.0.0.1:0".parse().expect("addr"), &server_cfg)
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        accept_tcp(stream, &server_cfg).await.map(|_| ())
    });
    let c = connect_tcp(addr, &cfg(Some("x")), Role::Client).await;
    assert!(c.is_err());
    assert!(timeout(T, server)
        .await
        .expect("time")
        .expect("join")
        .is_err());
    let logged = lines.lock().expect("lock").clone();
    assert!(
        logged.iter().any(|l| l.starts_with("WARN")
            && l.contains("refused connection")
            && l.contains(" peer=127.0.0.1:")),
        "{logged:?}"
    );
    assert!(
        logged
            .iter()
            .any(|l| l.starts_with("WARN") && l.contains(&format!(" peer={addr}"))),
        "{logged:?}"
    );
    // The field holds the address alone, not `peer=peer 127.0.0.1:...`.
    assert!(
        logged.iter().all(|l| !l.contains("peer=peer")),
        "{logged:?}"
    );
}

#[tokio::test]
async fn a_refused_connection_names_the_address() {
    // A port nothing listens on: bind one, then close it.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let e = match connect_tcp(addr, &cfg(None), Role::Client).await {
        Err(e) => e,
        Ok(_) => panic!("connected to a closed port"),
    };
    let WireError::Io(io) = &e else {
        panic!("expected an i/o error, got {e:?}")
    };
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
    assert!(
        e.to_string()
            .contains(&format!("cannot connect to {addr}: ")),
        "{e}"
    );
    // The same through the string form the client and workers use.
    let Err(e) = connect_tcp(addr.to_string().as_str(), &cfg(None), Role::Worker).await else {
        panic!("connected to a closed port")
    };
    assert!(e.to_string().contains(&addr.to_string()), "{e}");
}

#[tokio::test]
async fn bad_frames_after_the_handshake_are_logged() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let _guard = tracing::subscriber::set_default(Capture(lines.clone()));
    let (s, c) = pair(cfg(None), cfg(None), Role::Client).await;
    let (_, mut sr, _sw) = s.expect("server");
    let (_cr, mut cw) = c.expect("client");
    cw.send_bytes(&[0xFF; 3]).await.expect("send");
    cw.flush().await.expect("flush");
    let e = sr.recv::<u64>().await.expect_err("malformed");
    assert!(matches!(e, WireError::Malformed(_)), "{e}");
    let lines = lines.lock().expect("lock").clone();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("WARN") && l.contains("bad frame") && l.contains("malformed")),
        "{lines:?}"
    );
}
