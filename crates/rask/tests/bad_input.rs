//! The bad-input catalogue's rows that no other test asserts exactly (the
//! table in `docs/reliability.md` names the test of every row): each bad
//! input, on the executors it applies to, gets its exact error, in bounded
//! time, and everyone else keeps being served. Runs without the libtest
//! harness: the workers are this binary started again (`rask::init()` first
//! in `main`).

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask::core::TaskFailure;
use rask::distributed::proto::{ArgSpec, FromClient, TaskSpec, ToClient};
use rask::distributed::wire::{connect_tcp, Role, WireConfig, WireError};
use rask::prelude::*;
use rask::{GraphError, Inputs, LocalCluster, TaskErrorKind};

mod workers;
use workers::{inc, log_len, logs_since, ramp, total};

#[rask::task]
fn takes_u64(x: u64) -> u64 {
    x + 1
}

#[rask::task]
fn slow_inc(x: u64, ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    x + 1
}

#[rask::task]
fn sum_u64(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}

/// How long any one bad input may take to get its answer.
const BOUND: Duration = Duration::from_secs(20);

/// A task of a keyed `Graph` that counts its runs (none may run).
fn counting(
    ran: &Arc<AtomicUsize>,
) -> impl Fn(&mut Inputs<'_>) -> std::result::Result<u64, TaskFailure> + Send + Sync + 'static {
    let ran = ran.clone();
    move |inputs| {
        ran.fetch_add(1, Ordering::SeqCst);
        let mut s = 0u64;
        while inputs.remaining() > 0 {
            s += inputs.take::<u64>()?;
        }
        Ok(s + 1)
    }
}

/// Cycle, missing dependency and duplicate key of a keyed `Graph` on the
/// worker executors (`tests/refused.rs` has them on sync and threads): one
/// row each, the same exact error everywhere, nothing runs.
fn graph_errors_on_worker_executors() {
    let ran = Arc::new(AtomicUsize::new(0));
    let mut cycle = Graph::new();
    cycle.insert("load", Vec::<Key>::new(), counting(&ran));
    cycle.insert(("clean", 0u64), ["load", "total"], counting(&ran));
    cycle.insert("total", [("clean", 0u64)], counting(&ran));
    let mut missing = Graph::new();
    missing.insert("a", Vec::<Key>::new(), counting(&ran));
    missing.insert("b", ["a", "ghost"], counting(&ran));
    let mut dup = Graph::new();
    dup.insert(("x", 1u64), Vec::<Key>::new(), counting(&ran));
    dup.insert(("x", 1u64), Vec::<Key>::new(), counting(&ran));
    let table: [(&str, &Graph, Key, &str); 3] = [
        (
            "cycle",
            &cycle,
            "total".into(),
            "the graph has a cycle: `total` -> `clean[0]` -> `total`",
        ),
        (
            "missing dependency",
            &missing,
            "a".into(),
            "task `b` depends on `ghost`, which is not in the graph",
        ),
        (
            "duplicate key",
            &dup,
            ("x", 1u64).into(),
            "two tasks have the key `x[1]`",
        ),
    ];
    for (name, client) in [
        ("processes", Client::processes(1)),
        ("local cluster", Client::local_cluster(1, 1).unwrap()),
    ] {
        for (row, g, out, want) in &table {
            let t0 = Instant::now();
            let e = g.compute::<u64, _>(&client, out.clone()).unwrap_err();
            assert_eq!(e.to_string(), *want, "{row} on {name}");
            assert!(matches!(e, Error::Graph(_)), "{row} on {name}: {e:?}");
            assert!(t0.elapsed() < BOUND, "{row} on {name}");
        }
        // The typed forms.
        let e = cycle.compute::<u64, _>(&client, "total").unwrap_err();
        assert!(
            matches!(&e, Error::Graph(GraphError::Cycle { keys }) if keys.len() == 2),
            "{e:?}"
        );
        let e = dup.compute::<u64, _>(&client, ("x", 1u64)).unwrap_err();
        assert!(
            matches!(&e, Error::Graph(GraphError::DuplicateKey { .. })),
            "{e:?}"
        );
        // Still served.
        assert_eq!(inc::delayed(1).compute(&client).unwrap(), 2);
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0, "nothing ran");
}

/// A client that brings no secret to a scheduler that has one.
fn missing_secret() {
    let cluster = LocalCluster::new(1, 1).unwrap();
    let addr = cluster.addr().to_string();
    // The cluster's scheduler was given its secret, so it wrote no file.
    let e = rask::Connection::connect(&addr, WireConfig::default()).unwrap_err();
    match &e {
        rask::distributed::Error::Wire(WireError::NoSecret { addr: a, .. }) => {
            assert_eq!(a, &addr)
        }
        other => panic!("missing secret: {other:?}"),
    }
    let want = format!("no shared secret for the scheduler at {addr}: set RASK_SECRET");
    assert!(e.to_string().contains(&want), "{e}");
    let client = Client::connect_with(&addr, cluster.wire()).unwrap();
    assert_eq!(inc::delayed(1).compute(&client).unwrap(), 2);
}

/// Connects a raw socket to `addr`, writes `junk` and reads until the
/// scheduler hangs up; returns how long that took.
fn junk_to(addr: &str, junk: &[u8]) -> Duration {
    let t0 = Instant::now();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(BOUND)).unwrap();
    let _ = s.write_all(junk);
    let mut buf = Vec::new();
    // The scheduler's hello, maybe a rejection, then the end of the stream
    // (or a reset): never a read that times out.
    match s.read_to_end(&mut buf) {
        Ok(_) => {}
        Err(e) => assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "the scheduler kept a garbage connection open: {e}"
        ),
    }
    t0.elapsed()
}

/// Garbage bytes on the scheduler's port (an HTTP request, an announced
/// frame over the handshake's limit, random bytes): each connection is
/// refused with its reason logged, and the scheduler keeps serving.
fn garbage_on_the_scheduler_port() {
    let cluster = LocalCluster::new(1, 1).unwrap();
    let addr = cluster.addr().to_string();
    let before = log_len();
    for junk in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0xff, 0xff, 0xff, 0x7f, 1, 2, 3][..],
        &[7u8, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 0x42, 0x42, 0x42][..],
    ] {
        assert!(junk_to(&addr, junk) < BOUND);
    }
    std::thread::sleep(Duration::from_millis(100));
    let logs = logs_since(before);
    // "GET " read as a length prefix; 0x7fffffff; a hello too short.
    for want in [
        "reason=frame of 542393671 bytes is over the limit of 4096 bytes",
        "reason=frame of 2147483647 bytes is over the limit of 4096 bytes",
        "reason=malformed message: peer 127.0.0.1:",
        "client hello of 7 bytes is too short",
    ] {
        assert!(logs.contains(want), "no log line with {want:?}: {logs}");
    }
    assert_eq!(
        logs.matches("rask wire: refused connection").count(),
        3,
        "{logs}"
    );
    let client = Client::connect_with(&addr, cluster.wire()).unwrap();
    assert_eq!(inc::delayed(1).compute(&client).unwrap(), 2);
}

/// A frame over the scheduler's limit after a good handshake: refused from
/// its header, logged with both sizes, the connection dropped.
fn oversize_frame() {
    let mut cfg = rask::SchedulerConfig::default();
    cfg.wire.max_frame = 1 << 20;
    let cluster = LocalCluster::with_config(1, 1, cfg).unwrap();
    let addr = cluster.addr().to_string();
    let before = log_len();
    let mut big = cluster.wire();
    big.max_frame = 64 << 20;
    rt().block_on(async {
        let (mut r, mut w) = connect_tcp(addr.as_str(), &big, Role::Client)
            .await
            .unwrap();
        let huge = [FromClient::SetVar {
            name: "x".into(),
            value: vec![7; 2 << 20],
        }];
        if w.send(&huge[..]).await.is_ok() {
            let _ = w.flush().await;
        }
        // The scheduler hangs up.
        let end = tokio::time::timeout(BOUND, r.recv::<Vec<ToClient>>())
            .await
            .expect("the scheduler kept the connection");
        assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
    });
    std::thread::sleep(Duration::from_millis(100));
    let logs = logs_since(before);
    assert!(
        logs.contains("client connection failed")
            && logs.contains("error=frame of 2097160 bytes is over the limit of 1048576 bytes"),
        "no log line for the big frame: {logs}"
    );
    let client = Client::connect_with(&addr, cluster.wire()).unwrap();
    assert_eq!(inc::delayed(1).compute(&client).unwrap(), 2);
}

/// A registered function given an argument that does not decode as its
/// parameter's type (sent as raw bytes: the typed API cannot make this).
fn a_value_that_does_not_decode() {
    let cluster = LocalCluster::new(1, 1).unwrap();
    let addr = cluster.addr().to_string();
    // A string where a u64 is wanted (postcard: length 5, "hello").
    let failure = submit_raw(
        &cluster,
        takes_u64::REGISTERED.name,
        vec![vec![ArgSpec::Lit(b"\x05hello".to_vec())]],
        |m| match m {
            ToClient::Erred { failure, .. } => Some(Some(failure)),
            ToClient::GraphDone { .. } => Some(None),
            _ => None,
        },
    );
    match failure {
        Some(rask::distributed::proto::Failure::Failed(m)) => assert_eq!(
            m, "argument 1 is not a valid `u64`: 5 bytes left over after the value",
            "the worker's decode error"
        ),
        other => panic!("{other:?}"),
    }
    let client = Client::connect_with(&addr, cluster.wire()).unwrap();
    assert_eq!(takes_u64::delayed(1).compute(&client).unwrap(), 2);
}

/// The postcard bytes of a `u64` (a varint), for hand-made submissions.
fn lit(mut x: u64) -> ArgSpec {
    let mut b = Vec::new();
    while x >= 0x80 {
        b.push((x as u8) | 0x80);
        x >>= 7;
    }
    b.push(x as u8);
    ArgSpec::Lit(b)
}

/// A client process dies with its graph half run (its connection drops):
/// the scheduler frees the graph (its queued tasks are not run) and another
/// client is served at once.
fn a_client_leaving_mid_graph() {
    let cluster = LocalCluster::new(1, 1).unwrap();
    let addr = cluster.addr().to_string();
    let other = Client::connect_with(&addr, cluster.wire()).unwrap();
    assert_eq!(inc::delayed(1).compute(&other).unwrap(), 2);
    // 40 x 250 ms on the one worker thread: 10 s if it all ran. The
    // client leaves (its connection drops) at the first result.
    submit_raw(
        &cluster,
        slow_inc::REGISTERED.name,
        (0..40).map(|i| vec![lit(i), lit(250)]).collect(),
        |m| matches!(m, ToClient::Finished { .. } | ToClient::Erred { .. }).then_some(()),
    );
    let t0 = Instant::now();
    assert_eq!(slow_inc::delayed(1, 0).compute(&other).unwrap(), 2);
    let took = t0.elapsed();
    println!("  served after the other left in {took:.2?}");
    assert!(
        took < Duration::from_secs(4),
        "the leaving client's graph still ran: {took:?}"
    );
}

/// A `Client` dropped (it and its futures) while its graph runs, the
/// process going on: the client abandons the graph at once (`Release`),
/// the scheduler takes back its tasks not started and the workers go idle
/// after the ones running; another client's graph, running beside it, is
/// unaffected.
fn a_client_dropped_mid_graph() {
    let cluster = LocalCluster::new(2, 1).unwrap();
    cluster.wait_for_workers(2, BOUND).unwrap();
    let addr = cluster.addr().to_string();
    let observer = rask::Connection::connect(&addr, cluster.wire()).unwrap();
    let other = Client::connect_with(&addr, cluster.wire()).unwrap();
    let leaving = Client::connect_with(&addr, cluster.wire()).unwrap();
    // 40 x 250 ms on two worker threads: 5 s if it all ran.
    let long = sum_u64::delayed(
        (0..40)
            .map(|i| slow_inc::delayed(i, 250))
            .collect::<Vec<_>>(),
    );
    let f = leaving.compute(long);
    let beside = sum_u64::delayed(vec![slow_inc::delayed(1, 250), slow_inc::delayed(2, 250)]);
    let g = other.compute(beside);
    std::thread::sleep(Duration::from_millis(600));
    let before = observer.cluster_report().unwrap();
    let t0 = Instant::now();
    drop(f);
    drop(leaving);
    // Until the scheduler has no task left to run and no worker one in hand.
    let idle = loop {
        let r = observer.cluster_report().unwrap();
        let [waiting, ready, processing, ..] = r.tasks;
        if waiting + ready + processing == 0 && r.workers.iter().all(|w| w.in_flight == 0) {
            break t0.elapsed();
        }
        assert!(
            t0.elapsed() < BOUND,
            "still busy after the client left: {:?}",
            r.tasks
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    println!(
        "  tasks (waiting, ready, processing) before: {:?}; idle {idle:.2?} after the drop",
        &before.tasks[..3]
    );
    assert!(
        before.tasks[0] + before.tasks[1] + before.tasks[2] >= 30,
        "{:?}",
        before.tasks
    );
    // The tasks running then finish (250 ms), and the other client's; the
    // rest of the 40 (4.4 s of work left) never start.
    assert!(
        idle < Duration::from_millis(2_000),
        "the dropped client's graph still ran: idle after {idle:?}"
    );
    assert_eq!(g.result().unwrap(), 5);
    let t1 = Instant::now();
    assert_eq!(slow_inc::delayed(1, 0).compute(&other).unwrap(), 2);
    assert!(t1.elapsed() < Duration::from_secs(2), "{:?}", t1.elapsed());
}

/// The root of a failed computation's error chain.
fn root(e: &Error) -> rask::TaskError {
    e.as_task().expect("a task error").root().clone()
}

/// The scheduler dies under a client waiting for a result: the client gets
/// a typed error in bounded time, never hangs; so does every later graph.
fn the_scheduler_dying() {
    let cluster = LocalCluster::new(1, 1).unwrap();
    let addr = cluster.addr().to_string();
    let client = Client::connect_with(&addr, cluster.wire()).unwrap();
    let f = client.compute(slow_inc::delayed(1, 5_000));
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    drop(cluster);
    let e = f.result().unwrap_err();
    assert!(t0.elapsed() < BOUND, "{:?}", t0.elapsed());
    let r = root(&e);
    assert_eq!(r.kind, TaskErrorKind::Failed, "{e}");
    let want = format!("the connection to the scheduler at {addr} closed during the run");
    assert_eq!(r.message, want, "{e}");
    // A later graph fails at once.
    let t1 = Instant::now();
    let e = inc::delayed(1).compute(&client).unwrap_err();
    assert!(t1.elapsed() < BOUND);
    let r = root(&e);
    assert_eq!(r.kind, TaskErrorKind::Failed, "{e}");
    let want = format!("the connection to the scheduler at {addr} is closed");
    assert_eq!(r.message, want, "{e}");
}

/// The worker holding a 128 MiB value is killed while another worker
/// fetches it (at three moments around the transfer): the consumer gets the
/// right answer (the value is made again on a fresh worker) in bounded time.
fn a_worker_dying_mid_transfer() {
    let mut cluster = LocalCluster::new(1, 1).unwrap();
    cluster.add_worker_with(&[("src", 1.0)]).unwrap();
    cluster
        .wait_for_workers(2, Duration::from_secs(20))
        .unwrap();
    let client = Client::connect_with(&cluster.addr().to_string(), cluster.wire()).unwrap();
    let n = 1u64 << 24;
    let want = (n * (n - 1) / 2) as f64;
    for ms in [150u64, 300, 450] {
        // Made on the "src" worker, summed on local-0.
        let v = ramp::delayed(n).resources(&[("src", 1.0)]);
        let s = total::delayed(&v).workers(&["local-0"]);
        let f = client.compute(s);
        std::thread::sleep(Duration::from_millis(ms));
        // The src worker is the second alive in start order.
        cluster.kill_worker(1).unwrap();
        cluster.add_worker_with(&[("src", 1.0)]).unwrap();
        let t0 = Instant::now();
        let r = f.result();
        println!("  killed at {ms} ms: {r:?} in {:.2?}", t0.elapsed());
        assert_eq!(r.unwrap(), want, "killed at {ms} ms");
        assert!(t0.elapsed() < Duration::from_secs(60));
    }
}

/// Submits, as a client speaking the protocol by hand, one graph of tasks
/// of the registered function `func` (each with its arguments, all of them
/// outputs), and reads the scheduler's answers until `stop` returns
/// something; the connection drops on return.
fn submit_raw<T>(
    cluster: &LocalCluster,
    func: &str,
    tasks: Vec<Vec<ArgSpec>>,
    mut stop: impl FnMut(ToClient) -> Option<T>,
) -> T {
    let addr = cluster.addr().to_string();
    rt().block_on(async {
        let (mut r, mut w) = connect_tcp(addr.as_str(), &cluster.wire(), Role::Client)
            .await
            .unwrap();
        let n = tasks.len() as u32;
        let submit = FromClient::Submit {
            graph: 1,
            funcs: vec![func.into()],
            tasks: tasks
                .into_iter()
                .map(|args| TaskSpec {
                    func: 0,
                    args,
                    opts: None,
                    part: None,
                })
                .collect(),
            outputs: (0..n).collect(),
            events: true,
        };
        w.send(&[submit][..]).await.unwrap();
        w.flush().await.unwrap();
        let t0 = Instant::now();
        while t0.elapsed() < BOUND {
            let batch = tokio::time::timeout(BOUND, r.recv::<Vec<ToClient>>())
                .await
                .expect("no answer in time")
                .unwrap()
                .expect("the scheduler hung up");
            if let Some(t) = batch.into_iter().find_map(&mut stop) {
                return t;
            }
        }
        panic!("no answer in time");
    })
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn main() {
    rask::init();
    workers::capture_logs();
    let checks: &[(&str, fn())] = &[
        (
            "graph_errors_on_worker_executors",
            graph_errors_on_worker_executors,
        ),
        ("missing_secret", missing_secret),
        (
            "garbage_on_the_scheduler_port",
            garbage_on_the_scheduler_port,
        ),
        ("oversize_frame", oversize_frame),
        ("a_value_that_does_not_decode", a_value_that_does_not_decode),
        ("a_client_leaving_mid_graph", a_client_leaving_mid_graph),
        ("a_client_dropped_mid_graph", a_client_dropped_mid_graph),
        ("the_scheduler_dying", the_scheduler_dying),
        ("a_worker_dying_mid_transfer", a_worker_dying_mid_transfer),
    ];
    let (ran, failed) = workers::run_checks(checks, || None);
    workers::finish(ran, failed)
}
