//! TLS end to end in a local cluster: scheduler, worker processes (their
//! data ports too: a big value moves worker to worker) and clients, all
//! over TLS with `LocalOptions::with_tls`; `Client::connect_with` with the
//! same settings; a client without TLS is refused. Needs the `tls` feature
//! (`cargo test -p rask --features tls --test tls`); runs without the
//! libtest harness (its workers are this binary, `rask::init()` first).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use rask::distributed::wire::{TlsFiles, WireConfig};
use rask::prelude::*;
use rask::{LocalOptions, Transport};

mod workers;
use workers::{inc, ramp, total, tree};

#[rask::task]
fn whoami(x: u64) -> (u64, u32) {
    (x, std::process::id())
}

fn files() -> TlsFiles {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rask-distributed/src/wire/testdata");
    TlsFiles {
        cert: Some(dir.join("cert.pem")),
        key: Some(dir.join("key.pem")),
        ca: Some(dir.join("ca.pem")),
        server_name: Some("localhost".to_owned()),
    }
}

fn a_local_cluster_runs_over_tls() {
    let opts = LocalOptions::new(2, 1, Transport::Tcp)
        .with_tls(&files())
        .unwrap();
    let client = Client::try_processes(opts).unwrap();
    let n = 200;
    let t = tree((0..n).map(inc::delayed).collect());
    assert_eq!(t.compute(&client).unwrap(), n * (n + 1) / 2);
    // Work on both workers, and a value too big to travel inline moves
    // between them (their data ports are under TLS too).
    let pids: Vec<Delayed<(u64, u32)>> = (0..32).map(whoami::delayed).collect();
    let mut seen: Vec<u32> = client.get(&pids).unwrap().iter().map(|p| p.1).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let m = 1u64 << 18;
    let v = ramp::delayed(m);
    let sums: Vec<Delayed<f64>> = (0..4).map(|_| total::delayed(&v)).collect();
    for s in client.get(&sums).unwrap() {
        assert_eq!(s, (m * (m - 1) / 2) as f64);
    }
    // Another client with the cluster's settings (secret and TLS).
    let cluster = client.deployment().unwrap();
    let addr = cluster.addr().to_string();
    let other = Client::connect_with(&addr, cluster.wire()).unwrap();
    assert_eq!(inc::delayed(41).compute(&other).unwrap(), 42);
    // The secret without TLS: refused at once (not after the handshake
    // timeout), with the fix named.
    let plain = WireConfig {
        secret: cluster.wire().secret,
        handshake_timeout: std::time::Duration::from_secs(5),
        ..WireConfig::default()
    };
    let start = std::time::Instant::now();
    let err = rask::Connection::connect(&addr, plain)
        .unwrap_err()
        .to_string();
    assert!(
        start.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(err.contains("speaks TLS and this side does not"), "{err}");
}

fn settings_from_pem_bytes_cannot_reach_worker_processes() {
    let f = files();
    let tls = rask::distributed::wire::TlsConfig::server_from_pem(
        &std::fs::read(f.cert.unwrap()).unwrap(),
        &std::fs::read(f.key.unwrap()).unwrap(),
    )
    .unwrap();
    let mut opts = LocalOptions::new(1, 1, Transport::Tcp);
    opts.scheduler.wire.tls = Some(std::sync::Arc::new(tls));
    match Client::try_processes(opts) {
        Err(e) => assert!(e.to_string().contains("must come from files"), "{e}"),
        Ok(_) => panic!("started"),
    }
}

fn main() {
    rask::init();
    let checks: &[(&str, fn())] = &[
        (
            "a_local_cluster_runs_over_tls",
            a_local_cluster_runs_over_tls,
        ),
        (
            "settings_from_pem_bytes_cannot_reach_worker_processes",
            settings_from_pem_bytes_cannot_reach_worker_processes,
        ),
    ];
    let (ran, failed) = workers::run_checks(checks, || None);
    workers::finish(ran, failed)
}
