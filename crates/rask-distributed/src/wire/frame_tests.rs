//! Frame tests: round trips, limits, garbage, truncation, cancel safety.

use std::io::ErrorKind;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{duplex, AsyncWriteExt};
use tokio::time::timeout;

use super::*;

const T: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Msg {
    Submit {
        id: u64,
        deps: Vec<u64>,
        name: String,
    },
    Done(u64),
    Blob(Vec<u8>),
    Nothing,
}

/// A small deterministic generator (splitmix64).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn batch(rng: &mut Rng, n: usize) -> Vec<Msg> {
    (0..n)
        .map(|i| match rng.below(4) {
            0 => Msg::Submit {
                id: i as u64,
                deps: (0..rng.below(5)).collect(),
                name: format!("task-{i}"),
            },
            1 => Msg::Done(rng.next()),
            2 => {
                let n = rng.below(300) as usize;
                Msg::Blob(rng.bytes(n))
            }
            _ => Msg::Nothing,
        })
        .collect()
}

#[test]
fn same_bytes_as_the_format() {
    let msg = Msg::Submit {
        id: 7,
        deps: vec![1, 2],
        name: "x".into(),
    };
    let ours = encode(&msg).expect("encode");
    let theirs = rask_core::format::to_vec(&msg).expect("format");
    assert_eq!(ours, theirs);
    assert_eq!(decode::<Msg>(&theirs, 1 << 10).expect("decode"), msg);
    let e = decode::<Msg>(&theirs, theirs.len() - 1).expect_err("over the limit");
    assert!(matches!(e, WireError::Malformed(_)), "{e}");
}

#[tokio::test]
async fn round_trip_of_many_frames_and_batches() {
    // A small pipe forces partial reads and writes.
    let (a, b) = duplex(1000);
    let mut rng = Rng(1);
    let batches: Vec<Vec<Msg>> = (0..300).map(|i| batch(&mut rng, i % 50)).collect();
    let sent = batches.clone();
    let writer = tokio::spawn(async move {
        let mut w = FrameWriter::new(a, 1 << 20);
        for (i, b) in sent.iter().enumerate() {
            w.send(&b[..]).await?;
            if i % 7 == 0 {
                w.flush().await?;
            }
        }
        w.send(&Msg::Done(42)).await?;
        w.send(&Msg::Blob(vec![9; 200_000])).await?;
        w.send_bytes(&encode(&Msg::Nothing)?).await?;
        w.shutdown().await?;
        Ok::<_, WireError>(())
    });
    let mut r = FrameReader::new(b, 1 << 20);
    for want in &batches {
        let got: Vec<Msg> = timeout(T, r.recv())
            .await
            .expect("time")
            .expect("recv")
            .expect("a frame");
        assert_eq!(&got, want);
    }
    let one: Option<Msg> = r.recv().await.expect("recv");
    assert_eq!(one, Some(Msg::Done(42)));
    let big: Option<Msg> = r.recv().await.expect("recv");
    assert_eq!(big, Some(Msg::Blob(vec![9; 200_000])));
    let bytes = r
        .recv_bytes()
        .await
        .expect("recv")
        .expect("a frame")
        .to_vec();
    assert_eq!(decode::<Msg>(&bytes, 100).expect("decode"), Msg::Nothing);
    assert!(r.recv::<Msg>().await.expect("clean end").is_none());
    writer.await.expect("join").expect("writer");
}

#[tokio::test]
async fn borrowed_receive() {
    let (a, b) = duplex(1 << 16);
    let mut w = FrameWriter::new(a, 1 << 10);
    w.send(&("hello", 5u32)).await.expect("send");
    w.flush().await.expect("flush");
    let mut r = FrameReader::new(b, 1 << 10);
    let got: Option<(&str, u32)> = r.recv_borrowed().await.expect("recv");
    assert_eq!(got, Some(("hello", 5)));
}

#[tokio::test]
async fn a_frame_over_the_limit_is_refused_before_allocating() {
    let (mut a, b) = duplex(1 << 16);
    a.write_all(&u32::MAX.to_le_bytes()).await.expect("write");
    a.write_all(b"whatever").await.expect("write");
    let mut r = FrameReader::new(b, 1 << 20);
    let err = timeout(T, r.recv::<Msg>())
        .await
        .expect("time")
        .expect_err("too large");
    assert!(
        matches!(err, WireError::FrameTooLarge { len, max } if len == u32::MAX as usize && max == 1 << 20),
        "{err}"
    );
    assert_eq!(r.buf.capacity(), 0, "nothing allocated for the payload");
    // The stream is out of sync now: further reads fail, without panicking.
    assert!(matches!(r.recv::<Msg>().await, Err(WireError::Io(_))));
}

#[tokio::test]
async fn a_big_announced_frame_that_never_comes_costs_little() {
    let (mut a, b) = duplex(1 << 16);
    a.write_all(&(200u32 << 20).to_le_bytes())
        .await
        .expect("write");
    a.write_all(&[1; 10]).await.expect("write");
    drop(a);
    let mut r = FrameReader::new(b, super::super::DEFAULT_MAX_FRAME);
    let err = r.recv::<Msg>().await.expect_err("truncated");
    match err {
        WireError::Io(e) => assert_eq!(e.kind(), ErrorKind::UnexpectedEof),
        e => panic!("{e}"),
    }
    assert!(r.buf.capacity() <= 1 << 17, "grew to {}", r.buf.capacity());
}

#[tokio::test]
async fn sending_over_the_limit_is_refused_and_queues_nothing() {
    let (a, b) = duplex(1 << 16);
    let mut w = FrameWriter::new(a, 100);
    let err = w
        .send(&Msg::Blob(vec![0; 200]))
        .await
        .expect_err("too large");
    assert!(
        matches!(err, WireError::FrameTooLarge { max: 100, .. }),
        "{err}"
    );
    assert_eq!(w.queued(), 0);
    w.send(&Msg::Done(1)).await.expect("small is fine");
    w.shutdown().await.expect("shutdown");
    let mut r = FrameReader::new(b, 100);
    assert_eq!(r.recv::<Msg>().await.expect("recv"), Some(Msg::Done(1)));
    assert_eq!(r.recv::<Msg>().await.expect("recv"), None);
}

#[tokio::test]
async fn truncated_frames_are_io_errors_and_clean_ends_are_none() {
    let full = {
        let mut v = Vec::new();
        let p = encode(&Msg::Submit {
            id: 1,
            deps: vec![2, 3],
            name: "n".into(),
        })
        .expect("encode");
        v.extend_from_slice(&(p.len() as u32).to_le_bytes());
        v.extend_from_slice(&p);
        v
    };
    for cut in 0..full.len() {
        let (mut a, b) = duplex(1 << 16);
        a.write_all(&full[..cut]).await.expect("write");
        drop(a);
        let mut r = FrameReader::new(b, 1 << 10);
        match timeout(T, r.recv::<Msg>()).await.expect("time") {
            Ok(None) => assert_eq!(cut, 0),
            Err(WireError::Io(e)) => assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "cut {cut}"),
            other => panic!("cut {cut}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn garbage_never_panics() {
    let mut rng = Rng(0xDEAD_BEEF);
    for round in 0..400 {
        let len = match round % 4 {
            0 => rng.below(8) as usize,
            1 => rng.below(64) as usize,
            2 => rng.below(4096) as usize,
            _ => 4 + rng.below(40_000) as usize,
        };
        let mut bytes = rng.bytes(len);
        if round % 3 == 0 && bytes.len() >= 4 {
            // A plausible length prefix, so the payload reaches the decoder.
            let n = (bytes.len() - 4) as u32;
            bytes[..4].copy_from_slice(&n.to_le_bytes());
        }
        let (mut a, b) = duplex(1 << 16);
        let feed = tokio::spawn(async move {
            let _ = a.write_all(&bytes).await;
        });
        let mut r = FrameReader::new(b, 1 << 20);
        r.set_log_errors(false);
        for _ in 0..1000 {
            match timeout(T, r.recv::<Vec<Msg>>()).await.expect("time") {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(WireError::Malformed(_)) => continue,
                Err(WireError::FrameTooLarge { .. } | WireError::Io(_)) => break,
                Err(e) => panic!("round {round}: unexpected {e}"),
            }
        }
        feed.await.expect("feeder");
    }
}

#[tokio::test]
async fn a_malformed_frame_leaves_the_stream_in_sync() {
    let (a, b) = duplex(1 << 16);
    let mut w = FrameWriter::new(a, 1 << 10);
    w.send_bytes(&[0xFF; 9]).await.expect("send");
    w.send(&Msg::Done(3)).await.expect("send");
    w.flush().await.expect("flush");
    let mut r = FrameReader::new(b, 1 << 10);
    assert!(matches!(
        r.recv::<Msg>().await,
        Err(WireError::Malformed(_))
    ));
    assert_eq!(r.recv::<Msg>().await.expect("next"), Some(Msg::Done(3)));
}

#[tokio::test]
async fn trailing_bytes_are_malformed() {
    let (a, b) = duplex(1 << 16);
    let mut w = FrameWriter::new(a, 1 << 10);
    w.send(&(1u64, 2u64)).await.expect("send");
    w.flush().await.expect("flush");
    let mut r = FrameReader::new(b, 1 << 10);
    let err = r.recv::<u64>().await.expect_err("trailing");
    assert!(matches!(err, WireError::Malformed(_)), "{err}");
}

#[tokio::test]
async fn recv_is_cancel_safe() {
    let (mut a, b) = duplex(1 << 16);
    let p = encode(&Msg::Done(77)).expect("encode");
    let mut frame = (p.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&p);
    let mut r = FrameReader::new(b, 1 << 10);
    // Feed one byte at a time, cancelling the receive between bytes.
    for &byte in &frame[..frame.len() - 1] {
        a.write_all(&[byte]).await.expect("write");
        let cancelled = timeout(Duration::from_millis(5), r.recv::<Msg>()).await;
        assert!(cancelled.is_err(), "no frame yet");
    }
    a.write_all(&frame[frame.len() - 1..]).await.expect("write");
    let got = timeout(T, r.recv::<Msg>())
        .await
        .expect("time")
        .expect("recv");
    assert_eq!(got, Some(Msg::Done(77)));
}

#[tokio::test]
async fn reader_buffer_is_reused_and_given_back() {
    let (a, b) = duplex(1 << 20);
    let sender = tokio::spawn(async move {
        let mut w = FrameWriter::new(a, 64 << 20);
        w.send(&Msg::Blob(vec![1; 20 << 20])).await?;
        w.send(&Msg::Done(1)).await?;
        w.shutdown().await
    });
    let mut r = FrameReader::new(b, 64 << 20);
    let _ = r.recv::<Msg>().await.expect("big");
    assert!(r.buf.len() >= 20 << 20);
    assert_eq!(r.recv::<Msg>().await.expect("small"), Some(Msg::Done(1)));
    assert!(r.buf.capacity() <= super::RETAIN);
    sender.await.expect("join").expect("send");
}

/// Throughput over loopback TCP: `cargo test --release -p rask-distributed
/// --lib wire::frame::tests::throughput -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn throughput() {
    use std::time::Instant;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (batches, per) = (2_000u64, 1_000u64);
    let sender = tokio::spawn(async move {
        let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        let (_, w) = s.into_split();
        let mut w = FrameWriter::new(w, 1 << 26);
        let mut batch = Vec::with_capacity(per as usize);
        for b in 0..batches {
            batch.clear();
            for i in 0..per {
                let id = b * per + i;
                batch.push(Msg::Submit {
                    id,
                    deps: vec![id.saturating_sub(1), id.saturating_sub(2)],
                    name: "load".to_string(),
                });
            }
            w.send(&batch[..]).await.expect("send");
            w.flush().await.expect("flush");
        }
        w.shutdown().await.expect("shutdown");
    });
    let (s, _) = listener.accept().await.expect("accept");
    let (r, _w) = s.into_split();
    let mut r = FrameReader::new(r, 1 << 26);
    let t = Instant::now();
    let mut n = 0u64;
    while let Some(batch) = r.recv::<Vec<Msg>>().await.expect("recv") {
        n += batch.len() as u64;
    }
    let dt = t.elapsed().as_secs_f64();
    sender.await.expect("join");
    assert_eq!(n, batches * per);
    println!("{n} messages in {dt:.3} s: {:.0} messages/s", n as f64 / dt);
}
